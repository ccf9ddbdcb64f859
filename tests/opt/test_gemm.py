"""The BLAS specializations (opt/rules/blas.py): rule 'gemm' turns a dot added to or
subtracted from a value into one Gemm, rule 'gemm_inplace' lets a Gemm write into an
intermediate z. Checked: where they fire, where they must not, results against mode='py',
the Gemm op itself (types, errors, verify_grad) and the MLP training step."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.ops.blas import Gemm, gemm_no_inplace
from rewrite_helpers import RNG, check_against_py, op_names, reasons

NO_INPLACE = symgraph.Mode("FAST_RUN", excluding=["inplace"])


def gemms(f):
    return [n for n in f.maker.fgraph.apply_nodes if isinstance(n.op, Gemm)]


def rand(shape, dtype="float64"):
    return RNG.normal(size=shape).astype(dtype)


def _tol(dtype):
    return 2e-5 if dtype == "float32" else 1e-12


# -- where it fires -------------------------------------------------------------------------

PATTERNS = {
    "z + dot": lambda z, x, y, a: z + T.dot(x, y),
    "dot + z": lambda z, x, y, a: T.dot(x, y) + z,
    "z + a*dot": lambda z, x, y, a: z + a * T.dot(x, y),
    "z + dot*2.5": lambda z, x, y, a: z + T.dot(x, y) * 2.5,
    "z - a*dot": lambda z, x, y, a: z - a * T.dot(x, y),
    "z - dot": lambda z, x, y, a: z - T.dot(x, y),
    "dot - z": lambda z, x, y, a: T.dot(x, y) - z,
    "z + a*3*dot": lambda z, x, y, a: z + a * 3 * T.dot(x, y),
}


@pytest.mark.parametrize("name", sorted(PATTERNS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_rule_fires_on_each_pattern(name, dtype):
    z, x, y = (T.tensor(dtype, shape=(None, None), name=n) for n in "zxy")
    a = T.scalar("a", dtype=dtype)
    out = PATTERNS[name](z, x, y, a)
    vals = [rand((3, 5), dtype), rand((3, 4), dtype), rand((4, 5), dtype),
            np.asarray(0.7, dtype)]
    fns = check_against_py([z, x, y, a], out, vals, rtol=_tol(dtype),
                           modes=("FAST_RUN",))
    f = fns["FAST_RUN"]
    assert len(gemms(f)) == 1 and "Dot" not in op_names(f), op_names(f)
    assert "gemm" in reasons(f)
    assert f.maker.fgraph.outputs[0].type == out.type


def test_sgd_update_of_a_matrix_becomes_a_gemm():
    w = symgraph.shared(rand((6, 4)), name="w")
    h, g = T.dmatrix("h"), T.dmatrix("g")
    lr = T.dscalar("lr")
    f = symgraph.function([h, g, lr], [], updates=[(w, w - lr * T.dot(h.T, g))])
    (node,) = gemms(f)
    assert node.inputs[0].name == "w"
    assert node.op.inplace                      # gemm_inplace_update: into w's own buffer
    hv, gv, w0 = rand((8, 6)), rand((8, 4)), w.get_value()
    f(hv, gv, 0.1)
    np.testing.assert_allclose(w.get_value(), w0 - 0.1 * hv.T @ gv, rtol=1e-12)


@pytest.mark.parametrize("xs,ys", [
    ((3, 4), (4, 5)), ((1, 4), (4, 5)), ((3, 4), (4, 1)), ((3, 1), (1, 5)),
    ((1, 1), (1, 1)), ((3, 4), (4,)), ((4,), (4, 5)), ((1, 4), (4,)), ((4,), (4, 1)),
    ((0, 4), (4, 5)), ((3, 0), (0, 5)), ((3, 4), (4, 0)), ((0,), (0, 3)),
    ((30, 17), (17, 9)),
])
@pytest.mark.parametrize("static", [False, True])
def test_numbers_equal_py_on_random_and_degenerate_shapes(xs, ys, static):
    zs = xs[:-1] + ys[1:]
    st = (lambda s: s) if static else (lambda s: (None,) * len(s))
    x = T.tensor("float64", shape=st(xs), name="x")
    y = T.tensor("float64", shape=st(ys), name="y")
    z = T.tensor("float64", shape=st(zs), name="z")
    a = T.dscalar("a")
    out = z - a * T.dot(x, y)
    vals = [rand(zs), rand(xs), rand(ys), np.float64(0.3)]
    fns = check_against_py([z, x, y, a], out, vals, rtol=1e-12, atol=1e-14)
    f = fns["FAST_RUN"]
    assert len(gemms(f)) == 1
    got = f(*vals)
    assert got.shape == zs and got.dtype == np.float64
    out_t = f.maker.fgraph.outputs[0].type
    assert all(s is None or s == g for s, g in zip(out_t.shape, got.shape))


def test_gemv_of_a_vector_z():
    A, v, z = T.dmatrix("A"), T.dvector("v"), T.dvector("z")
    fns = check_against_py([z, A, v], z + 2.0 * T.dot(A, v),
                           [rand(3), rand((3, 5)), rand(5)], rtol=1e-12)
    (node,) = gemms(fns["FAST_RUN"])
    assert node.inputs[2].ndim == 2 and node.inputs[3].ndim == 1


def test_z_that_is_a_sum_of_other_terms():
    z1, z2, x, y = (T.dmatrix(n) for n in ("z1", "z2", "x", "y"))
    fns = check_against_py([z1, z2, x, y], z1 + T.dot(x, y) + z2,
                           [rand((2, 3)), rand((2, 3)), rand((2, 4)), rand((4, 3))],
                           rtol=1e-12)
    assert len(gemms(fns["FAST_RUN"])) == 1


# -- where it must not fire -----------------------------------------------------------------

def _not_fired(inputs, out, vals, mode="FAST_RUN"):
    fns = check_against_py(inputs, out, vals, modes=(mode,), rtol=1e-6)
    assert not gemms(fns[mode]), op_names(fns[mode])
    return fns[mode]


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_not_for_integers(dtype):
    z, x, y = (T.tensor(dtype, shape=(None, None), name=n) for n in "zxy")
    vals = [RNG.integers(-5, 5, (3, 5)).astype(dtype), RNG.integers(-5, 5, (3, 4)).astype(dtype),
            RNG.integers(-5, 5, (4, 5)).astype(dtype)]
    _not_fired([z, x, y], z + 3 * T.dot(x, y), vals)
    _not_fired([z, x, y], z - T.dot(x, y), vals)


def test_not_when_z_broadcasts_against_the_product():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    b = T.dvector("b")
    row = T.tensor("float64", shape=(1, None), name="row")
    vals = [rand((3, 4)), rand((4, 5))]
    _not_fired([x, y, b], T.dot(x, y) + b, vals + [rand(5)])
    _not_fired([x, y, row], row - 0.5 * T.dot(x, y), vals + [rand((1, 5))])
    s = T.dscalar("s")
    _not_fired([x, y, s], T.dot(x, y) + s, vals + [np.float64(2.0)])


def test_not_when_the_product_broadcasts_against_z():
    x = T.tensor("float64", shape=(1, None), name="x")
    y, z = T.dmatrix("y"), T.dmatrix("z")
    _not_fired([x, y, z], z + T.dot(x, y), [rand((1, 4)), rand((4, 5)), rand((3, 5))])


def test_not_for_mixed_dtypes():
    z, x, y = T.fmatrix("z"), T.dmatrix("x"), T.dmatrix("y")
    _not_fired([z, x, y], z + T.dot(x, y), [rand((3, 5), "float32"), rand((3, 4)),
                                           rand((4, 5))])
    z, x, y = T.dmatrix("z"), T.fmatrix("x"), T.fmatrix("y")
    a = T.dscalar("a")      # a float32 dot scaled by a float64 scalar: a float64 mul
    _not_fired([z, x, y, a], z + a * T.dot(x, y), [rand((3, 5)), rand((3, 4), "float32"),
                                                   rand((4, 5), "float32"), np.float64(2)])


def test_not_when_the_dot_or_its_scaling_is_read_elsewhere():
    z, x, y = T.dmatrix("z"), T.dmatrix("x"), T.dmatrix("y")
    vals = [rand((3, 5)), rand((3, 4)), rand((4, 5))]
    d = T.dot(x, y)
    f = _not_fired([z, x, y], [z + d, T.exp(d)], vals, mode=NO_INPLACE)
    assert op_names(f).count("Dot") == 1
    m = 0.5 * T.dot(x, y)
    _not_fired([z, x, y], [z - m, m], vals, mode=NO_INPLACE)


def test_not_when_the_factor_is_not_a_scalar():
    z, x, y, s = (T.dmatrix(n) for n in ("z", "x", "y", "s"))
    _not_fired([z, x, y, s], z + s * T.dot(x, y),
               [rand((3, 5)), rand((3, 4)), rand((4, 5)), rand((3, 5))])


def test_not_for_a_vector_dot_vector():
    z, u, v = T.dscalar("z"), T.dvector("u"), T.dvector("v")
    _not_fired([z, u, v], z + T.dot(u, v), [np.float64(1.0), rand(4), rand(4)])


def test_excluding_the_rule_by_name_or_tag():
    z, x, y = T.dmatrix("z"), T.dmatrix("x"), T.dmatrix("y")
    for tag in ("gemm", "blas"):
        f = symgraph.function([z, x, y], z + T.dot(x, y),
                              mode=symgraph.Mode("FAST_RUN", excluding=[tag]))
        assert not gemms(f)


# -- in place -------------------------------------------------------------------------------

def test_gemm_inplace_writes_into_an_intermediate_z():
    a, x, y = T.dmatrix("a"), T.dmatrix("x"), T.dmatrix("y")
    out = T.exp(a) - 0.5 * T.dot(x, y)
    vals = [rand((3, 5)), rand((3, 4)), rand((4, 5))]
    f = check_against_py([a, x, y], out, vals, modes=("FAST_RUN",), rtol=1e-12)["FAST_RUN"]
    (node,) = gemms(f)
    assert node.op.inplace and node.op.destroy_map == {0: [0]}
    assert "gemm_inplace" in reasons(f)
    a0 = vals[0].copy()
    f(*vals)
    np.testing.assert_array_equal(vals[0], a0)      # the user's input is untouched


def test_gemm_not_inplace_when_z_has_other_clients():
    a, x, y = T.dmatrix("a"), T.dmatrix("x"), T.dmatrix("y")
    vals = [rand((3, 5)), rand((3, 4)), rand((4, 5))]
    e = T.exp(a)
    for outs in ([e + T.dot(x, y), e.sum()], [e + T.dot(x, y), e]):
        f = check_against_py([a, x, y], outs, vals, modes=("FAST_RUN",),
                             rtol=1e-12)["FAST_RUN"]
        (node,) = gemms(f)
        assert not node.op.inplace
    z = T.dmatrix("z")                  # an input: never destroyed
    f = symgraph.function([z, x, y], z + T.dot(x, y))
    (node,) = gemms(f)
    assert not node.op.inplace
    zv = rand((3, 5))
    z0 = zv.copy()
    f(zv, vals[1], vals[2])
    np.testing.assert_array_equal(zv, z0)


# -- the op ---------------------------------------------------------------------------------

def test_gemm_op_types_and_perform():
    z, x, y = T.fmatrix("z"), T.tensor("float32", shape=(3, None)), T.fmatrix("y")
    a, b = T.fscalar("a"), T.fscalar("b")
    out = gemm_no_inplace(z, a, x, y, b)
    assert out.type.dtype == "float32" and out.type.shape == (3, None)
    f = symgraph.function([z, a, x, y, b], out, mode="py")
    zv, xv, yv = rand((3, 2), "float32"), rand((3, 4), "float32"), rand((4, 2), "float32")
    z0 = zv.copy()
    got = f(zv, np.float32(0.5), xv, yv, np.float32(-2))
    assert got.dtype == np.float32 and got.shape == (3, 2)
    np.testing.assert_allclose(got, -2 * zv + 0.5 * xv @ yv, rtol=1e-5)
    np.testing.assert_array_equal(zv, z0)           # the out-of-place op copies z


def test_gemm_op_errors_name_the_op_and_the_user_line():
    z, x, y, a = T.dmatrix("z"), T.dmatrix("x"), T.dmatrix("y"), T.dscalar("a")
    cases = [
        (lambda: gemm_no_inplace(T.imatrix("zi"), a, x, y, a), TypeError),
        (lambda: gemm_no_inplace(z, T.dvector("v"), x, y, a), TypeError),
        (lambda: gemm_no_inplace(z, a, T.dvector("u"), T.dvector("w"), a), TypeError),
        (lambda: gemm_no_inplace(T.dvector("zv"), a, x, y, a), TypeError),
        (lambda: gemm_no_inplace(T.tensor("float64", shape=(2, 3)), a,
                                 T.tensor("float64", shape=(4, None)), y, a), ValueError),
        (lambda: gemm_no_inplace(z, a, T.tensor("float64", shape=(None, 3)),
                                 T.tensor("float64", shape=(4, None)), a), ValueError),
    ]
    for build, cls in cases:
        with pytest.raises(cls) as err:
            build()
        assert "Gemm" in str(err.value) and "test_gemm.py" in str(err.value)


def test_gemm_op_shape_error_at_run_time():
    z, x, y = T.dmatrix("z"), T.dmatrix("x"), T.dmatrix("y")
    f = symgraph.function([z, x, y], z + T.dot(x, y))
    assert gemms(f)
    with pytest.raises(ValueError):
        f(rand((2, 5)), rand((3, 4)), rand((4, 5)))


@pytest.mark.parametrize("xs,ys", [((3, 4), (4, 2)), ((3, 4), (4,)), ((4,), (4, 2)),
                                   ((1, 3), (3, 1))])
def test_verify_grad_of_gemm(xs, ys):
    zs = xs[:-1] + ys[1:]
    rng = np.random.default_rng(7)
    verify_grad(lambda z, a, x, y, b: gemm_no_inplace(z, a, x, y, b),
                [rng.normal(size=zs), np.asarray(0.7), rng.normal(size=xs),
                 rng.normal(size=ys), np.asarray(-1.3)], rng=rng)


@pytest.mark.parametrize("xs,ys", [((3, 4), (4, 5)), ((3, 4), (4,)), ((4,), (4, 2)),
                                   ((0, 4), (4, 1))])
def test_infer_shape_of_gemm(xs, ys):
    zs = xs[:-1] + ys[1:]
    z, x, y = (T.tensor("float64", shape=(None,) * len(s)) for s in (zs, xs, ys))
    a = T.dscalar("a")
    node = gemm_no_inplace(z, a, x, y, a).owner
    dims = [[T.lscalar() for _ in range(v.ndim)] for v in node.inputs]
    (shape,) = node.op.infer_shape(node, [tuple(d) for d in dims])
    shape = [T.as_tensor_variable(s) for s in shape]
    flat = [d for ds in dims for d in ds]
    sizes = [n for s in (zs, (), xs, ys, ()) for n in s]
    got = symgraph.function(flat, shape, mode="py", on_unused_input="ignore")(*sizes)
    assert tuple(int(g) for g in got) == zs


# -- the MLP training step ------------------------------------------------------------------

def _mlp(mode, sizes=(784, 512, 10)):
    rng = np.random.default_rng(0)
    X, y = T.dmatrix("X"), T.ivector("y")
    W1 = symgraph.shared(rng.normal(size=sizes[:2]) * 0.05, name="W1")
    b1 = symgraph.shared(np.zeros(sizes[1]), name="b1")
    W2 = symgraph.shared(rng.normal(size=sizes[1:]) * 0.05, name="W2")
    b2 = symgraph.shared(np.zeros(sizes[2]), name="b2")
    h = T.tanh(T.dot(X, W1) + b1)
    p = T.nnet.softmax(T.dot(h, W2) + b2)
    cost = T.nnet.categorical_crossentropy(p, y).mean()
    params = [W1, b1, W2, b2]
    gs = symgraph.grad(cost, params)
    f = symgraph.function([X, y], cost, mode=mode,
                          updates=[(w, w - 0.1 * g) for w, g in zip(params, gs)])
    return f, params


def test_mlp_training_step_uses_gemm_and_matches_py():
    f, params = _mlp("FAST_RUN")
    fp, params_py = _mlp("py")
    nodes = gemms(f)
    assert len(nodes) == 2                      # the updates of W1 and W2
    assert {n.inputs[0].name for n in nodes} == {"W1", "W2"}
    rng = np.random.default_rng(1)
    for _ in range(3):
        X = rng.normal(size=(32, 784))
        y = rng.integers(0, 10, 32).astype("int32")
        np.testing.assert_allclose(f(X, y), fp(X, y), rtol=1e-10)
    for p, q in zip(params, params_py):
        np.testing.assert_allclose(p.get_value(), q.get_value(), rtol=1e-9, atol=1e-13)
