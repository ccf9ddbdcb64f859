"""The rewrite phases, in the order they run, and the phases each mode runs.

The order is written once, here. A rule names the phase(s) it belongs to when it is
registered (``opt/rules/*.py``); ``Mode(excluding=[...])`` can turn off a rule, a tag or a
whole phase by name.
"""

PHASES = ("merge", "canonicalize", "stabilize", "specialize", "fuse", "inplace")

#: Numerical stability never depends on the mode: FAST_COMPILE still stabilizes.
MODES = {
    "FAST_RUN": PHASES,
    "FAST_COMPILE": ("merge", "stabilize", "fuse"),
    "DebugMode": PHASES,
    "py": (),
}

#: Phases whose work list starts at the outputs: fusion grows each Composite from the node
#: nearest the outputs, so one rewrite swallows a whole elementwise tree.
BACKWARD = frozenset({"fuse"})
