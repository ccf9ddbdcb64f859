"""The in-place Gemm update of a shared weight (rule 'gemm_inplace_update') in each
program: the C kernel through numpy's BLAS, its perform when BLAS is not found, and the
fallback to a copy when the shared value cannot be written (read-only, Fortran-ordered,
strided); each against numpy, with the schedule's ordering inputs in place."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.codegen import blas
from symgraph.ops.blas import Gemm

RNG = np.random.default_rng(21)


def _layouts(w0):
    ro = w0.copy()
    ro.flags.writeable = False
    big = np.zeros((w0.shape[0] * 2, w0.shape[1]))
    big[::2] = w0
    return {"C": w0.copy(), "fortran": np.asfortranarray(w0), "read-only": ro,
            "strided": big[::2]}


def _step(w):
    """An update of w whose Gemm waits for a backward product reading w's old value."""
    h, g = T.dmatrix("h"), T.dmatrix("g")
    back = T.dot(g, w.T)                    # read by an output only: free to run last
    return symgraph.function([h, g], [back, T.tanh(back).sum()],
                             updates=[(w, w - 0.25 * T.dot(h.T, g))])


@pytest.mark.parametrize("with_blas", [True, False])
@pytest.mark.parametrize("layout", ["C", "fortran", "read-only", "strided"])
def test_update_in_place_or_copied_matches_numpy(fresh_compiledir, monkeypatch, with_blas,
                                                 layout):
    if not with_blas:
        monkeypatch.setattr(blas, "_found", [None])
    elif blas.provider() is None:
        pytest.skip("numpy's BLAS was not found")
    w0 = RNG.normal(size=(5, 4))
    w = symgraph.shared(np.zeros((5, 4)), name="w")
    w.set_value(_layouts(w0)[layout], borrow=True)
    f = _step(w)
    (node,) = [n for n in f.maker.fgraph.apply_nodes if isinstance(n.op, Gemm)]
    assert node.op.inplace and len(node.inputs) == 6
    assert f.maker.fgraph.placement[node] == ("c" if with_blas else "py")
    ref = w0.copy()
    for _ in range(3):
        hv, gv = RNG.normal(size=(3, 5)), RNG.normal(size=(3, 4))
        back, s = f(hv, gv)
        np.testing.assert_allclose(back, gv @ ref.T, rtol=1e-13)
        np.testing.assert_allclose(s, np.tanh(gv @ ref.T).sum(), rtol=1e-13)
        ref = ref - 0.25 * hv.T @ gv
        np.testing.assert_allclose(w.get_value(), ref, rtol=1e-13, atol=1e-15)


def test_c_contiguous_value_is_updated_without_a_new_array(compiledir):
    if blas.provider() is None:
        pytest.skip("numpy's BLAS was not found")
    w = symgraph.shared(RNG.normal(size=(6, 3)), name="w")
    buf = w.get_value(borrow=True)
    f = _step(w)
    f(RNG.normal(size=(2, 6)), RNG.normal(size=(2, 3)))
    assert w.get_value(borrow=True) is buf
