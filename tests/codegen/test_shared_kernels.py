"""Composites differing only in constants share one C kernel (codegen/shared_kernels.py),
with the very results of one kernel per Composite."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.codegen import cbackend
from symgraph.codegen.shared_kernels import lift_constants


def _chain(h, W, n=6):
    for k in range(n):
        h = T.tanh(T.dot(h, W)) * 0.5 + h * (0.1 + 0.01 * k)
    return h


def _n_kernels(fn):
    return fn.program.source.count("static int k")


def _compile(build, share, **kw):
    saved = cbackend.SHARE_CONSTANT_KERNELS
    cbackend.SHARE_CONSTANT_KERNELS = share
    try:
        return build(**kw)
    finally:
        cbackend.SHARE_CONSTANT_KERNELS = saved


def test_chain_shares_one_elemwise_kernel_with_equal_results(compiledir):
    h, W = T.dvector("h"), T.dmatrix("W")
    y = _chain(h, W)
    rng = np.random.default_rng(0)
    hv, Wv = rng.standard_normal(16), rng.standard_normal((16, 16)) / 4
    shared = _compile(lambda: symgraph.function([h, W], y), True)
    alone = _compile(lambda: symgraph.function([h, W], y), False)
    ref = symgraph.function([h, W], y, mode="py")
    assert _n_kernels(shared) == 2                 # the Dot and one Composite
    assert _n_kernels(alone) == 7
    got = shared(hv, Wv)
    np.testing.assert_array_equal(got, alone(hv, Wv))
    np.testing.assert_allclose(got, ref(hv, Wv), rtol=1e-13)
    # the general path (non-contiguous inputs) passes the constants too
    Wt = np.asfortranarray(Wv)
    hs = np.repeat(hv, 2)[::2]
    np.testing.assert_array_equal(shared(hs, Wt), alone(hs, Wt))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "uint8"])
def test_lifted_constants_keep_dtypes_and_casts(compiledir, dtype):
    x = T.tensor(dtype, (None, None), "x")
    outs = [x * 3 + 2, x * 5 + 7, T.maximum(x, 1) - 4, T.minimum(x * 2, 9)]
    rng = np.random.default_rng(1)
    xv = (rng.standard_normal((5, 7)) * 10).astype(dtype)
    shared = _compile(lambda: symgraph.function([x], outs), True)
    alone = _compile(lambda: symgraph.function([x], outs), False)
    ref = symgraph.function([x], outs, mode="py")
    for a, b, r in zip(shared(xv), alone(xv), ref(xv)):
        assert a.dtype == r.dtype
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, r, rtol=1e-6)
    # strided and broadcast inputs go through the general path
    xs = xv[:, ::2]
    for a, r in zip(shared(xs), ref(xs)):
        np.testing.assert_allclose(a, r, rtol=1e-6)


def test_a_lone_composite_keeps_its_literals(compiledir):
    x = T.dvector("x")
    f = symgraph.function([x], T.exp(x) * 4.25 + 1)
    g = symgraph.function([x], T.exp(x) * 4.5 + 1)
    assert "4.25" in f.program.source and "4.5" in g.program.source
    assert f.program.cache_info["key"] != g.program.cache_info["key"]


def test_pow_exponent_stays_a_literal():
    x = T.dvector("x")
    y = (x + 1.5) ** 2.5
    fn = symgraph.function([x], y)
    comps = [n for n in fn.maker.fgraph.toposort() if "Composite" in str(n.op)]
    assert comps
    lifted, consts = lift_constants(comps[0])
    comp = lifted.op.scalar_op
    for sop, refs, _ in comp.steps:
        if type(sop).__name__ == "Pow":
            assert refs[1][0] == "c"            # the exponent: still a literal
        if type(sop).__name__ == "Add":
            assert all(kind == "i" for kind, _ in refs)
    assert [c.item() for c in consts] == [1.5]
    xv = np.linspace(0, 3, 11)
    np.testing.assert_allclose(fn(xv), (xv + 1.5) ** 2.5, rtol=1e-15)


def test_errors_still_name_the_original_node(compiledir):
    x, y = T.dmatrix("x"), T.dmatrix("y")
    fn = symgraph.function([x, y], x * 0.5 + y * 0.25)
    with pytest.raises(ValueError) as e:
        fn(np.ones((2, 3)), np.ones((3, 2)))
    assert "Composite" in str(e.value) or "shape" in str(e.value).lower()
