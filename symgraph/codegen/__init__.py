"""Executors and code generation backends."""


def make_program(fgraph, mode):
    """The callable that runs `fgraph`: ``program(list_of_input_values) -> output values``.

    Only the numpy reference executor exists so far; the C backend plugs in here.
    """
    from .executor import PyProgram
    return PyProgram(fgraph, nan_guard=mode.nan_guard)
