"""Helpers of the rewrite tests: compile in several modes, look at the rewritten graph."""
import numpy as np

import symgraph
from symgraph.ops.elemwise import Elemwise

RNG = np.random.default_rng(1234)


def compile_modes(inputs, outputs, modes=("FAST_RUN", "FAST_COMPILE", "py"), **kw):
    kw.setdefault("on_unused_input", "ignore")
    return {m: symgraph.function(inputs, outputs, mode=m, **kw) for m in modes}


def op_names(fn_or_fgraph):
    """Names of the ops of the rewritten graph (the scalar op's for Elemwise, inner ones of
    Composites included)."""
    fg = getattr(getattr(fn_or_fgraph, "maker", None), "fgraph", fn_or_fgraph)
    names = []
    for node in fg.toposort():
        op = node.op
        if isinstance(op, Elemwise):
            sop = op.scalar_op
            if type(sop).__name__ == "Composite":
                names.append("Composite")
                names += [type(s).__name__ for s, _, _ in sop.steps]
            else:
                names.append(type(sop).__name__)
        else:
            names.append(type(op).__name__)
    return names


def reasons(fn):
    return [c.reason for c in fn.maker.fgraph.history]


def n_nodes(fn):
    return len(fn.maker.fgraph.apply_nodes)


def assert_same(got, want, rtol=1e-7, atol=0.0):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    if got.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)


def check_against_py(inputs, outputs, values, modes=("FAST_RUN", "FAST_COMPILE"),
                     rtol=1e-7, atol=0.0, **kw):
    """Compile in `modes` and in 'py' and compare the results on `values`; returns the
    compiled functions by mode."""
    fns = compile_modes(inputs, outputs, tuple(modes) + ("py",), **kw)
    want = fns["py"](*values)
    for m in modes:
        got = fns[m](*values)
        if isinstance(want, list):
            for g, w in zip(got, want):
                assert_same(g, w, rtol, atol)
        else:
            assert_same(got, want, rtol, atol)
    return fns
