"""transpose_after_elemwise: elemwise(X.T, r) read only by matrix products becomes
elemwise(X, r.T).T (the kernel reads X in order, BLAS takes the transpose as a flag); equal
to mode 'py' on several shapes, and left alone where a reader would pay for the transpose."""
import pytest

import symgraph.tensor as T
from symgraph.ops.elemwise import DimShuffle, Elemwise
from rewrite_helpers import RNG, check_against_py, reasons


def elemwise_inputs(f):
    """The inputs of the (fused) elementwise nodes of the compiled graph."""
    return [i for n in f.maker.fgraph.apply_nodes if isinstance(n.op, Elemwise)
            for i in n.inputs]


def is_transpose(v):
    return v.owner is not None and isinstance(v.owner.op, DimShuffle) and \
        tuple(v.owner.op.new_order) == (1, 0)


@pytest.mark.parametrize("shape", [(3, 4), (5, 5), (1, 6), (6, 1)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_scaled_transpose_into_a_product(shape, dtype):
    X = T.tensor(dtype, shape=(None, None), name="X")
    Y = T.tensor(dtype, shape=(None, None), name="Y")
    r = T.tensor(dtype, shape=(None,), name="r")
    m, n = shape
    # (X.T * r) is n x m: rows of X.T scaled by r (length m)
    out = T.dot(X.T * T.exp(r), Y)
    vals = [RNG.normal(size=(m, n)).astype(dtype), RNG.normal(size=(m, 3)).astype(dtype),
            RNG.normal(size=m).astype(dtype)]
    fns = check_against_py([X, Y, r], out, vals, rtol=1e-5 if dtype == "float32" else 1e-12)
    f = fns["FAST_RUN"]
    assert "transpose_after_elemwise" in reasons(f)
    # the elementwise kernel reads X, not its transpose
    assert not any(is_transpose(i) and i.owner.inputs[0].name == "X"
                   for i in elemwise_inputs(f))


def test_gemm_and_right_operand():
    X, Y, Z = T.dmatrix("X"), T.dmatrix("Y"), T.dmatrix("Z")
    c = T.tensor("float64", shape=(None, 1), name="c")      # a column, broadcast
    out = Z + T.dot(Y, X.T * c * 2.0)
    vals = [RNG.normal(size=(4, 3)), RNG.normal(size=(2, 3)), RNG.normal(size=(2, 4)),
            RNG.normal(size=(3, 1))]
    fns = check_against_py([X, Y, Z, c], out, vals, rtol=1e-12)
    assert "transpose_after_elemwise" in reasons(fns["FAST_RUN"])


def test_left_alone_when_it_would_not_pay():
    X, Y, Z = T.dmatrix("X"), T.dmatrix("Y"), T.dmatrix("Z")
    r = T.dvector("r")
    vals = [RNG.normal(size=(3, 3)) for _ in range(3)] + [RNG.normal(size=3)]
    cases = [
        T.exp(X.T * r),                         # the result is an output
        T.dot(X.T * r, Y) + T.sum(X.T * r),     # also read by a reduction
        T.dot(X.T * Z, Y),                      # Z would be read transposed instead
    ]
    for out in cases:
        fns = check_against_py([X, Y, Z, r], out, vals, rtol=1e-12)
        assert "transpose_after_elemwise" not in reasons(fns["FAST_RUN"])


def test_transposes_of_both_full_operands():
    X, Z, Y = T.dmatrix("X"), T.dmatrix("Z"), T.dmatrix("Y")
    out = T.dot(X.T * Z.T, Y)
    vals = [RNG.normal(size=(3, 5)), RNG.normal(size=(3, 5)), RNG.normal(size=(3, 2))]
    fns = check_against_py([X, Z, Y], out, vals, rtol=1e-12)
    assert "transpose_after_elemwise" in reasons(fns["FAST_RUN"])


def test_transposed_dimshuffles_are_one_step():
    """The transpose of a DimShuffle operand (a padded row, a transpose) is one DimShuffle of
    its input, not a chain: each is one more step to run."""
    X, Y = T.dmatrix("X"), T.dmatrix("Y")
    r = T.dvector("r")
    out = T.dot(X.T * T.exp(r).dimshuffle("x", 0) * 3.0, Y)
    vals = [RNG.normal(size=(4, 3)), RNG.normal(size=(4, 2)), RNG.normal(size=4)]
    fns = check_against_py([X, Y, r], out, vals, rtol=1e-12)
    f = fns["FAST_RUN"]
    assert "transpose_after_elemwise" in reasons(f)
    for n in f.maker.fgraph.apply_nodes:
        if isinstance(n.op, DimShuffle):
            src = n.inputs[0].owner
            assert src is None or not isinstance(src.op, DimShuffle), str(n.op)
