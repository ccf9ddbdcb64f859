"""The CProgram's straight-line Python (values in locals, Elemwise kernels inline), its loop
of closures for long schedules, and Function's fast path: same results and errors as the numpy executor, for inputs that take
the fast path and for those that do not (lists, strided views, broadcasting, wrong
shapes)."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.codegen import cbackend

RNG = np.random.default_rng(9)


@pytest.mark.parametrize("straight", [True, False])
def test_straight_line_program_matches_py_on_fast_and_general_paths(compiledir, monkeypatch,
                                                                    straight):
    if not straight:     # a long schedule: the loop over one closure per step
        monkeypatch.setattr(cbackend, "STRAIGHT_LINE_MAX", 0)
    x, y, r = T.dmatrix("x"), T.dvector("y"), T.drow("r")
    z = T.dscalar("z")
    outs = [T.exp(x) * y + 1.0, T.sum(x * r, axis=1), T.max(x) + z, x, T.constant(3.0),
            T.nnet.softmax(x + r) * 2.0]
    fc = symgraph.function([x, y, r, z], outs)
    fp = symgraph.function([x, y, r, z], outs, mode="py")
    src = fc.program.run_source
    if straight:
        assert src.startswith("def run_values(") and "for " not in src
    else:
        assert src is None
    a, b, c = RNG.normal(size=(4, 5)), RNG.normal(size=5), RNG.normal(size=(1, 5))
    cases = [(a, b, c, np.asarray(0.5)),                       # fast path
             (a.T.copy().T, b[::-1], c, 0.5),                   # strided, Python float
             (a.tolist(), list(b), c.tolist(), np.float64(2))]  # converted inputs
    for vals in cases:
        for k, (got, want) in enumerate(zip(fc(*vals), fp(*vals))):
            assert got.dtype == want.dtype and got.shape == want.shape, k
            np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15, err_msg=str(k))
    # an output that is an input is copied, not aliased
    assert not np.shares_memory(fc(*cases[0])[3], a)


def test_errors_name_the_op_and_the_users_line(compiledir):
    x, y = T.dvector("x"), T.dvector("y")
    f = symgraph.function([x, y], T.exp(x) * y)
    with pytest.raises(ValueError, match=r"(?s)mul.*test_program_c\.py"):
        f(np.ones(3), np.ones(4))
    with pytest.raises(TypeError, match="1-d"):
        f(np.ones((3, 1)), np.ones(3))
    g = symgraph.function([x], T.argmax(x))
    with pytest.raises(ValueError, match=r"(?s)Argmax.*test_program_c\.py"):
        g(np.zeros(0))


def test_shared_variables_and_updates_take_the_general_path(compiledir):
    w = symgraph.shared(np.zeros(3), name="w")
    x = T.dvector("x")
    f = symgraph.function([x], w + x, updates=[(w, w + 2 * x)])
    assert f._fast is None
    out = [f(np.ones(3)) for _ in range(3)]
    np.testing.assert_allclose(out[-1], np.full(3, 5.0))
    np.testing.assert_allclose(w.get_value(), np.full(3, 6.0))
