"""Executors and code generation backends."""
import warnings

_warned = []


def make_program(fgraph, mode, plan=None):
    """The callable that runs `fgraph`: ``program(list_of_input_values) -> output values``.

    ``FAST_RUN`` builds C kernels (`cbackend`) for the nodes that have one and runs the others'
    numpy `perform` in the same schedule; ``fgraph.placement`` (``fn.maker.fgraph.placement``)
    maps each node to ``'c'`` or ``'py'``. ``DebugMode`` (``Mode(debug=True)``) checks each
    node's kernel against its `perform` (`symgraph.compile.debugmode`). Other modes run the
    numpy reference executor. With no working C compiler, FAST_RUN warns once and runs the
    numpy executor. `plan`: what an earlier FAST_RUN build of this graph recorded
    (``program.plan``, kept by the graph cache), to load its kernels without rendering.
    """
    from .executor import PyProgram
    fgraph.mode = mode  # ops with inner graphs (ifelse, scan) compile them in this mode
    from ..config import config
    if config.device == "cuda":        # the CUDA backend (codegen/cuda.py)
        from .cuda import build_program as build_cuda
        return build_cuda(fgraph, mode)
    if mode.name == "DebugMode":
        from ..compile.debugmode import build_debug_program
        return build_debug_program(fgraph, mode)
    if mode.name == "FAST_RUN":
        from ..errors import CompileError
        try:
            from .cbackend import build_program
            return build_program(fgraph, mode, plan=plan)
        except (CompileError, ImportError) as e:
            if not _warned:
                _warned.append(e)
                warnings.warn(f"symgraph: no C backend ({e}); functions run with the numpy "
                              f"executor", RuntimeWarning, stacklevel=4)
    fgraph.placement = {node: "py" for node in fgraph.toposort()}
    return PyProgram(fgraph, nan_guard=mode.nan_guard)
