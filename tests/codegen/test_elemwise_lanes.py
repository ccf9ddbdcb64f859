"""An Elemwise C kernel computes every element with the same function variant: equal inputs
give bitwise-equal outputs whatever their position (the vectorised blocks, the tail, strided
rows), so comparisons of a value with itself hold as in numpy (fuzz seed 10028 lost the ties of
``eq(cos(x), min(cos(x)))``: libmvec's cos in the vector lanes, libm's in the remainder)."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T

FUNCS = {"cos": T.cos, "exp": T.exp, "log1p": T.log1p, "tanh": T.tanh, "sin": T.sin}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(FUNCS))
def test_equal_inputs_equal_outputs_at_every_position(compiledir, name, dtype):
    x = T.vector("x", dtype=dtype)
    f = symgraph.function([x], FUNCS[name](x) * 1, mode="FAST_RUN")
    assert f.maker.fgraph.placement and set(f.maker.fgraph.placement.values()) == {"c"}
    rng = np.random.default_rng(3)
    for n in list(range(1, 40)) + [1000, 1001]:
        v = rng.uniform(0.1, 0.9, size=5).astype(dtype)
        xs = np.resize(v, n)                       # each of 5 values at many positions
        out = f(xs)
        for k in range(min(n, 5)):
            got = out[xs == v[k]]
            assert (got == got[0]).all(), (name, dtype, n, k, got)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_strided_and_contiguous_paths_agree_bitwise(compiledir, dtype):
    X = T.matrix("X", dtype=dtype)
    fc = symgraph.function([X], T.cos(X) + 0, mode="FAST_RUN")
    ft = symgraph.function([X], T.cos(X.T) + 0, mode="FAST_RUN")
    fp = symgraph.function([X], T.cos(X) + 0, mode="py")
    a = np.random.default_rng(4).standard_normal((37, 19)).astype(dtype)
    np.testing.assert_array_equal(ft(a), fc(a).T)
    np.testing.assert_array_equal(fc(a[::2, ::-3]), fc(np.ascontiguousarray(a[::2, ::-3])))
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(fc(a), fp(a), rtol=8 * eps, atol=8 * eps)


def test_tie_mask_of_min_keeps_every_tie(compiledir):
    # fuzz seed 10028, reduced: the gradient of min over three copies of one value
    x0 = T.dscalar("x0")
    v = T.cos(x0.reshape((1, 1))[[-1, -1, -1]]).flatten()
    g = symgraph.grad(T.min(v, axis=0, keepdims=True).sum(), x0)
    want = -3 * np.sin(0.7)                        # all three ties get the gradient
    for mode in ("py", "FAST_RUN"):
        np.testing.assert_allclose(symgraph.function([x0], g, mode=mode)(0.7), want,
                                   rtol=1e-12)
