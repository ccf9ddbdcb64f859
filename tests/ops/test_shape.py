"""Shape and structure ops against numpy: values, dtypes, static types, infer_shape,
build-time and run-time errors, gradients."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symgraph
import symgraph.tensor as T
from symgraph.errors import ShapeError
from symgraph.ops import shape as S
from symgraph.ops import structure as ST

RNG = np.random.default_rng(1234)
DTYPES = ["float32", "float64", "int32", "int64", "bool"]
HERE = "test_shape.py"


def _data(shape, dtype="float64", low=-3, high=3):
    if dtype == "bool":
        return RNG.random(shape) > 0.5
    if np.dtype(dtype).kind in "iu":
        return RNG.integers(low, high + 1, size=shape).astype(dtype)
    return RNG.uniform(low, high, size=shape).astype(dtype)


def _var(a, static=False):
    a = np.asarray(a)
    return T.tensor(str(a.dtype), shape=a.shape if static else (None,) * a.ndim)


def _fn(inputs, outputs):
    return symgraph.function(inputs, outputs, mode="py", on_unused_input="ignore")


def _check(var, got, want):
    """`got` equals numpy's `want` (dtype included) and fits the static type of `var`."""
    want = np.asarray(want)
    assert got.dtype == want.dtype == np.dtype(var.dtype), (got.dtype, want.dtype, var.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert var.ndim == got.ndim
    assert all(s is None or s == g for s, g in zip(var.type.shape, got.shape)), \
        (var.type, got.shape)
    np.testing.assert_array_equal(got, want)


def _check_infer_shape(out, inputs, values):
    """The node's infer_shape, fed with the inputs' symbolic shapes, gives the real shapes."""
    node = out.owner
    in_shapes = [tuple(T.shape_i(i, d) for d in range(i.ndim)) for i in node.inputs]
    shapes = node.op.infer_shape(node, in_shapes)
    assert shapes is not None and len(shapes) == len(node.outputs)
    flat = [T.as_tensor_variable(s) for shp in shapes for s in shp]
    f = _fn(inputs, list(node.outputs) + flat)
    res = f(*values)
    outs, sizes = res[:len(node.outputs)], res[len(node.outputs):]
    k = 0
    for o in outs:
        assert tuple(int(s) for s in sizes[k:k + o.ndim]) == o.shape
        k += o.ndim


def _build_error(exc, fn, *words):
    with pytest.raises(exc) as info:
        fn()
    msg = str(info.value)
    for w in words + (HERE,):
        assert w in msg, msg
    return msg


def _run_error(f, args, *words):
    with pytest.raises(ValueError) as info:
        f(*args)
    for w in words:
        assert w in str(info.value), str(info.value)


# -- shape --------------------------------------------------------------------------------

@pytest.mark.parametrize("shp", [(), (0,), (4,), (2, 3), (2, 0, 5)])
def test_shape_and_shape_i(shp):
    a = _data(shp)
    x = _var(a)
    outs = [x.shape, T.shape(x)] + [x.shape[d] for d in range(a.ndim)] + \
        [x.shape[-d - 1] for d in range(a.ndim)]
    res = _fn([x], outs)(a)
    _check(outs[0], res[0], np.array(shp, dtype=np.int64))
    _check(outs[1], res[1], np.array(shp, dtype=np.int64))
    for d in range(a.ndim):
        _check(outs[2 + d], res[2 + d], np.int64(shp[d]))
        _check(outs[2 + a.ndim + d], res[2 + a.ndim + d], np.int64(shp[-d - 1]))
    assert outs[0].type.shape == (a.ndim,)


def test_shape_static_fold_and_unpack():
    x = T.tensor("float64", shape=(2, None, 3))
    a, b, c = x.shape
    assert isinstance(a.owner.op, S.Shape_i) and a.owner.op.i == 0
    assert S.static_value(a) == 2 and S.static_value(b) is None
    assert S.static_value(x.shape[0] * x.shape[2] + 1) == 7
    assert S.static_value(x.shape) is None
    assert list(S.static_value(T.shape(T.tensor("int8", shape=(4, 5))))) == [4, 5]
    with pytest.raises(IndexError):
        x.shape[3]
    _build_error(ShapeError, lambda: S.Shape_i(3)(x), "Shape_i")
    assert S.Shape()(x).owner.op.L_op([x], [], [None]) == [None]


def test_constant_value_helpers():
    x = T.tensor("float64", shape=(2, None))
    assert T.get_scalar_constant_value(x.shape[0] + 3) == 5
    assert T.get_scalar_constant_value(T.constant(np.array([7]))) == 7
    assert T.get_scalar_constant_value(2.5) == 2.5
    with pytest.raises(T.NotScalarConstantError):
        T.get_scalar_constant_value(x.shape[1])
    with pytest.raises(T.NotScalarConstantError):
        T.get_scalar_constant_value(T.constant(np.arange(3)))
    assert T.get_vector_length(x.shape) == 2
    assert T.get_vector_length(T.stack([x.shape[1], 1, 2])) == 3
    with pytest.raises(ValueError, match="not known"):
        T.get_vector_length(T.lvector())
    with pytest.raises(ValueError, match="not a vector"):
        T.get_vector_length(T.lscalar())


def test_shape_slice_goes_through_subtensor():
    x = T.tensor3()
    a = _data((2, 3, 4))
    out = x.shape[1:]
    _check(out, _fn([x], out)(a), np.array([3, 4], dtype=np.int64))


# -- reshape and flatten ------------------------------------------------------------------

RESHAPES = [((2, 3), (3, 2)), ((6,), (2, -1)), ((6,), (-1, 3, 1)), ((), (1, 1)),
            ((1,), ()), ((0, 3), (-1,)), ((0, 3), (3, 0)), ((2, 3, 4), (4, -1, 2)),
            ((2, 3), (6,)), ((4,), (2, 2))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("src,dst", RESHAPES)
def test_reshape_matches_numpy(src, dst, dtype):
    a = _data(src, dtype)
    x = _var(a)
    out = T.reshape(x, dst)
    assert out.ndim == len(dst)
    _check(out, _fn([x], out)(a), np.reshape(a, dst))
    # the same with static input types
    xs = _var(a, static=True)
    outs = xs.reshape(dst)
    assert outs.type.shape == np.reshape(a, dst).shape
    _check(outs, _fn([xs], outs)(a), np.reshape(a, dst))


def test_reshape_symbolic_shapes():
    a, b = _data((2, 3, 4)), _data((4, 6))
    x, y = T.tensor3(), T.matrix()
    outs = [T.reshape(x, (y.shape[0], -1)), T.reshape(x, y.shape), x.reshape(y.shape[1], 4),
            T.reshape(x, T.stack([x.shape[0] * x.shape[1], x.shape[2]])),
            x.reshape((-1,)), x.reshape(24)]
    res = _fn([x, y], outs)(a, b)
    for o, r, want in zip(outs, res, [a.reshape(4, -1), a.reshape(4, 6), a.reshape(6, 4),
                                      a.reshape(6, 4), a.ravel(), a.ravel()]):
        _check(o, r, want)
    n = T.lscalar()
    out = T.reshape(x, (n, 3, -1))
    assert out.type.shape == (None, 3, None)
    _check(out, _fn([x, n], out)(a, 2), a.reshape(2, 3, -1))
    _check_infer_shape(out, [x, n], [a, 2])
    v = T.lvector()
    out = T.reshape(x, v, ndim=2)
    _check(out, _fn([x, v], out)(a, np.array([-1, 8])), a.reshape(-1, 8))
    _check_infer_shape(out, [x, v], [a, np.array([-1, 8])])
    _check_infer_shape(out, [x, v], [a, np.array([12, 2])])


def test_reshape_static_inference():
    x = T.tensor("float64", shape=(2, 3, 4))
    assert T.reshape(x, (6, -1)).type.shape == (6, 4)
    assert T.reshape(x, (-1,)).type.shape == (24,)
    n = T.lscalar()
    assert T.reshape(x, (n, 12)).type.shape == (2, 12)      # the one unknown is solved
    assert T.reshape(x, (n, -1)).type.shape == (None, None)
    assert T.reshape(T.matrix(), (1, -1)).broadcastable == (True, False)
    y = T.tensor("float64", shape=(None, 3))
    assert T.reshape(y, (y.shape[0], 3, 1)).type.shape == (None, 3, 1)
    assert T.flatten(x, 2).type.shape == (2, 12)
    assert isinstance(T.reshape(x, (6, 4)).owner.op, S.Reshape)
    assert T.reshape(x, (6, 4)).owner.op.view_map == {0: [0]}


def test_reshape_returns_view_when_numpy_does():
    a = _data((3, 4))
    node = T.reshape(T.matrix(), (4, 3)).owner
    storage = [[None]]
    node.op.perform(node, [a, np.array([4, 3])], storage)
    assert np.shares_memory(storage[0][0], a)


def test_reshape_build_errors():
    x = T.tensor("float64", shape=(2, 3))
    _build_error(ShapeError, lambda: T.reshape(x, (4,)), "Reshape", "size 6")
    _build_error(ShapeError, lambda: T.reshape(x, (4, -1)), "Reshape")
    _build_error(ShapeError, lambda: T.reshape(x, (-1, -1)), "Reshape", "one -1")
    _build_error(ShapeError, lambda: T.reshape(x, (0, -1)), "Reshape")
    _build_error(ShapeError, lambda: T.reshape(x, (5, T.lscalar())), "Reshape")
    _build_error(TypeError, lambda: T.reshape(x, T.vector()), "reshape", "integer")
    _build_error(TypeError, lambda: S.Reshape(1)(x, T.vector()), "Reshape", "integer")
    _build_error(TypeError, lambda: T.reshape(x, (2, 3.0)), "reshape")
    _build_error(ShapeError, lambda: T.reshape(x, T.lvector()), "reshape", "ndim")
    _build_error(ShapeError, lambda: T.reshape(x, (6,), ndim=2), "reshape")


def test_reshape_run_errors():
    x = T.vector()
    f = _fn([x], T.reshape(x, (4, -1)))
    _run_error(f, [np.zeros(6)], "Reshape", "(6,)")
    v = T.lvector()
    g = _fn([x, v], T.reshape(x, v, ndim=2))
    _run_error(g, [np.zeros(6), np.array([6])], "Reshape", "entries")
    _run_error(g, [np.zeros(6), np.array([4, 2])], "Reshape")


@pytest.mark.parametrize("shp", [(), (0,), (5,), (2, 3), (2, 0, 4), (2, 3, 4, 5)])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_flatten_theano_semantics(shp, ndim):
    a = _data(shp, "int32")
    x = _var(a)
    if ndim > max(a.ndim, 1):
        _build_error(ShapeError, lambda: T.flatten(x, ndim), "flatten")
        return
    out = x.flatten(ndim)
    assert T.flatten(x, outdim=ndim).type == out.type
    want = a.reshape(shp[:ndim - 1] + (-1,)) if a.size else \
        np.zeros(shp[:ndim - 1] + (int(np.prod(shp[ndim - 1:])),), a.dtype)
    _check(out, _fn([x], out)(a), want)
    assert T.flatten(_var(a, static=True), ndim).type.shape == want.shape


# -- dimension patterns -------------------------------------------------------------------

@pytest.mark.parametrize("shp,axes", [((), None), ((3,), None), ((2, 3), None),
                                      ((2, 3, 4), (1, 0, 2)), ((2, 3, 4), (-1, 0, 1)),
                                      ((0, 3), (1, 0))])
def test_transpose(shp, axes):
    a = _data(shp, "int64")
    x = _var(a)
    out = T.transpose(x, axes)
    outs = [out, x.T, x.transpose(*axes) if axes else x.transpose()]
    res = _fn([x], outs)(a)
    for o, r in zip(outs[:1], res):
        _check(o, r, np.transpose(a, axes))
    _check(outs[1], res[1], a.T)
    _check(outs[2], res[2], np.transpose(a, axes))


def test_swapaxes():
    a = _data((2, 3, 4))
    x = T.tensor3()
    outs = [T.swapaxes(x, 0, 2), T.swapaxes(x, -1, 1), T.swapaxes(x, 1, 1)]
    for o, r, w in zip(outs, _fn([x], outs)(a), [np.swapaxes(a, 0, 2), np.swapaxes(a, -1, 1),
                                               a]):
        _check(o, r, w)
    _build_error(ShapeError, lambda: T.swapaxes(x, 0, 3), "swapaxes")


def test_transpose_errors():
    x = T.tensor3()
    _build_error(ShapeError, lambda: T.transpose(x, (0, 1)), "transpose", "permutation")
    _build_error(ShapeError, lambda: T.transpose(x, (0, 1, 3)), "transpose", "out of bounds")


@pytest.mark.parametrize("shp", [(), (3,), (2, 0)])
def test_padding(shp):
    a = _data(shp, "float32")
    x = _var(a)
    axes = range(-a.ndim - 1, a.ndim + 1)
    outs = [T.shape_padleft(x), T.shape_padleft(x, 2), T.shape_padright(x),
            T.shape_padright(x, 3)] + [T.shape_padaxis(x, k) for k in axes]
    wants = [a[None], a[None, None], a[..., None], a[..., None, None, None]] + \
        [np.expand_dims(a, k) for k in axes]
    for o, r, w in zip(outs, _fn([x], outs)(a), wants):
        _check(o, r, w)
    assert T.shape_padleft(x, 2).broadcastable[:2] == (True, True)
    assert T.shape_padright(x).broadcastable[-1]
    assert T.shape_padaxis(x, 0).broadcastable[0]
    _build_error(ShapeError, lambda: T.shape_padaxis(x, a.ndim + 2), "shape_padaxis")


def test_specify_shape():
    x = T.matrix()
    n = T.lscalar()
    y = T.specify_shape(x, (None, 3))
    z = T.specify_shape(x, (n, 3))
    assert y.type.shape == (None, 3) and z.type.shape == (None, 3)
    assert T.specify_shape(x, (2, 3)).type.shape == (2, 3)
    assert T.specify_shape(y, (None, 3)) is y
    assert T.specify_shape(x, (None, None)) is x
    a = _data((2, 3))
    f = _fn([x, n], [y, z])
    r = f(a, 2)
    _check(y, r[0], a)
    _check(z, r[1], a)
    _run_error(f, [_data((2, 4)), 2], "SpecifyShape", "(2, 4)")
    _run_error(f, [a, 5], "SpecifyShape")
    _check_infer_shape(z, [x, n], [a, 2])
    w = T.specify_shape(x, T.as_tensor_variable([2, 3]))
    assert w.type.shape == (2, 3)
    w = T.specify_shape(x, T.stack([n, n + 1]))
    _check(w, _fn([x, n], w)(a, 2), a)
    assert w.owner.op.view_map == {0: [0]}
    _build_error(ShapeError, lambda: T.specify_shape(T.tensor("float64", shape=(2, 3)),
                                                     (2, 4)), "SpecifyShape", "static size 3")
    _build_error(ShapeError, lambda: T.specify_shape(x, (2,)), "specify_shape")


def test_addbroadcast_unbroadcast_patternbroadcast():
    x = T.matrix()
    y = T.addbroadcast(x, 0)
    assert y.broadcastable == (True, False)
    assert T.addbroadcast(x, -1, 0).broadcastable == (True, True)
    assert T.addbroadcast(y, 0) is y
    a = _data((1, 3))
    f = _fn([x], y + T.ones((4, 3)))
    _check(f.maker.fgraph.outputs[0], f(a), a + np.ones((4, 3)))
    _run_error(_fn([x], y), [_data((2, 3))], "SpecifyShape")
    r = T.row()
    u = T.unbroadcast(r, 0)
    assert u.broadcastable == (False, False)
    assert T.unbroadcast(x, 0) is x
    _check(u, _fn([r], u)(a), a)
    assert u.owner.op.view_map == {0: [0]}
    _check_infer_shape(u, [r], [a])
    p = T.patternbroadcast(x, (True, False))
    assert p.broadcastable == (True, False)
    assert T.patternbroadcast(r, (False, False)).broadcastable == (False, False)
    _build_error(ShapeError, lambda: T.addbroadcast(T.tensor("float64", shape=(3, 2)), 0),
                 "addbroadcast", "static size 3")
    _build_error(ShapeError, lambda: T.addbroadcast(x, 2), "addbroadcast", "out of bounds")


def test_squeeze():
    a = _data((1, 3, 1, 1))
    x = T.tensor("float64", shape=(1, None, 1, None))
    outs = [T.squeeze(x), x.squeeze(axis=3), T.squeeze(x, (0, 2)), T.squeeze(x, -1)]
    wants = [a.reshape(3, 1), a.reshape(1, 3, 1), a.reshape(3, 1), a.reshape(1, 3, 1)]
    for o, r, w in zip(outs, _fn([x], outs)(a), wants):
        _check(o, r, w)
    assert outs[0].type.shape == (None, None)
    assert outs[1].type.shape == (1, None, 1)
    _run_error(_fn([x], outs[1]), [_data((1, 3, 1, 2))], "SpecifyShape")
    _build_error(ShapeError, lambda: T.squeeze(T.tensor("float64", shape=(2, 3)), 0),
                 "squeeze", "static size is 2")
    assert T.squeeze(T.matrix()).ndim == 2


# -- join, stack, split -------------------------------------------------------------------

CONCATS = [([(2, 3), (4, 3)], 0), ([(2, 3), (2, 0), (2, 5)], 1), ([(3,), (0,), (2,)], 0),
           ([(2, 3, 4)] * 3, -1), ([(0, 3), (0, 3)], 0), ([(1, 2), (3, 2)], 0),
           ([(2, 3)], 0)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes,axis", CONCATS)
def test_concatenate_and_join(shapes, axis, dtype):
    arrays = [_data(s, dtype) for s in shapes]
    xs = [_var(a) for a in arrays]
    outs = [T.concatenate(xs, axis=axis), T.join(axis, *xs)]
    want = np.concatenate(arrays, axis=axis)
    for o, r in zip(outs, _fn(xs, outs)(*arrays)):
        _check(o, r, want)
    static = T.concatenate([_var(a, static=True) for a in arrays], axis=axis)
    assert static.type.shape == want.shape
    if len(arrays) > 1:
        _check_infer_shape(outs[0], xs, arrays)


def test_concatenate_mixed_dtypes_and_static():
    a, b = _data((2, 3), "int32"), _data((1, 3), "float32")
    x, y = T.imatrix(), T.tensor("float32", shape=(1, 3))
    out = T.concatenate([x, y])
    assert out.type.shape == (None, 3)
    _check(out, _fn([x, y], out)(a, b), np.concatenate([a, b]))
    c = T.concatenate([x, np.ones((1, 3), dtype=np.int64)])
    _check(c, _fn([x], c)(a), np.concatenate([a, np.ones((1, 3), dtype=np.int64)]))
    v = T.vector()
    d = T.concatenate([v, v], axis=None)
    e = T.concatenate([T.matrix(), v.dimshuffle("x", 0)], axis=None)
    assert d.ndim == 1 and e.ndim == 1
    assert T.concatenate([v]) is v


def test_join_errors():
    x = T.tensor("float64", shape=(2, 3))
    y = T.tensor("float64", shape=(2, 4))
    _build_error(ShapeError, lambda: T.concatenate([x, y], axis=0), "Join", "dimension 1")
    _build_error(ShapeError, lambda: T.concatenate([x, T.vector()]), "Join", "dimensions")
    _build_error(ShapeError, lambda: T.concatenate([x, y], axis=2), "Join", "out of bounds")
    _build_error(ShapeError, lambda: T.join(0, T.scalar(), T.scalar()), "Join", "0-d")
    _build_error(TypeError, lambda: T.join(T.lscalar(), x, x), "join", "axis")
    with pytest.raises(TypeError, match="list or tuple"):
        T.concatenate(x)
    u, w = T.matrix(), T.matrix()
    f = _fn([u, w], T.concatenate([u, w]))
    _run_error(f, [_data((2, 3)), _data((2, 4))], "Join")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shp", [(), (0,), (3,), (2, 3)])
def test_stack(shp, dtype):
    arrays = [_data(shp, dtype) for _ in range(3)]
    xs = [_var(a) for a in arrays]
    outs = [T.stack(xs), T.stack(*xs)] + [T.stack(xs, axis=k)
                                         for k in range(-len(shp) - 1, len(shp) + 1)]
    wants = [np.stack(arrays), np.stack(arrays)] + \
        [np.stack(arrays, axis=k) for k in range(-len(shp) - 1, len(shp) + 1)]
    for o, r, w in zip(outs, _fn(xs, outs)(*arrays), wants):
        _check(o, r, w)
    statics = [_var(a, static=True) for a in arrays]
    assert T.stack(statics, axis=-1).type.shape == np.stack(arrays, axis=-1).shape
    assert T.stack(xs, axis=-1).type.shape[-1] == 3


def test_stack_scalars_and_python_numbers():
    a, b = T.dscalar(), T.iscalar()
    v = T.stack([a, b, 2])
    assert isinstance(v.owner.op, S.MakeVector) and v.type.shape == (3,)
    assert isinstance(v.owner.inputs[2], T.TensorConstant)
    _check(v, _fn([a, b], v)(1.5, 3), np.array([1.5, 3, 2]))
    f = T.fscalar()
    w = T.stack([f, 2])                 # Python numbers follow the variables' dtype
    assert w.dtype == "float32"
    i = T.as_tensor_variable([b, 1])
    assert i.dtype == "int32" and i.type.shape == (2,)
    _check(i, _fn([b], i)(4), np.array([4, 1], dtype=np.int32))
    m = T.as_tensor_variable([[a, 1.0], [2.0, a]])
    _check(m, _fn([a], m)(3.0), np.array([[3.0, 1.0], [2.0, 3.0]]))
    _check_infer_shape(v, [a, b], [1.5, 3])
    _build_error(ShapeError, lambda: T.stack([T.vector(), T.matrix()]), "stack")
    _build_error(ShapeError, lambda: T.stack([]), "stack")
    _build_error(ShapeError, lambda: T.stack([a, a], axis=1), "stack", "out of bounds")


@pytest.mark.parametrize("dtype", ["float32", "int64", "bool"])
@pytest.mark.parametrize("shp,sizes,axis", [((5,), [2, 3], 0), ((5,), [0, 5, 0], 0),
                                            ((3, 6), [1, 2, 3], 1), ((4, 2), [4], 0),
                                            ((0, 2), [0, 0], 0), ((2, 3, 4), [2, 2], -1)])
def test_split(shp, sizes, axis, dtype):
    a = _data(shp, dtype)
    x = _var(a)
    outs = T.split(x, sizes, len(sizes), axis=axis)
    assert isinstance(outs, list) and len(outs) == len(sizes)
    wants = np.split(a, np.cumsum(sizes)[:-1], axis=axis)
    for o, r, w in zip(outs, _fn([x], outs)(a), wants):
        _check(o, r, w)
        assert o.type.shape[axis] == w.shape[axis]
    _check_infer_shape(outs[0], [x], [a])
    assert outs[0].owner.op.view_map == {k: [0] for k in range(len(sizes))}


def test_split_symbolic_and_errors():
    x = T.matrix()
    s = T.lvector()
    a = _data((4, 3))
    outs = T.split(x, s, 2, axis=0)
    res = _fn([x, s], outs)(a, np.array([1, 3]))
    _check(outs[0], res[0], a[:1])
    _check(outs[1], res[1], a[1:])
    _run_error(_fn([x, s], outs), [a, np.array([1, 2])], "Split")
    _run_error(_fn([x, s], outs), [a, np.array([5, -1])], "Split")
    _run_error(_fn([x, s], outs), [a, np.array([1, 1, 2])], "Split")
    xs = T.tensor("float64", shape=(4, 3))
    _build_error(ShapeError, lambda: T.split(xs, [1, 2], 2), "Split", "sum to 3")
    _build_error(ShapeError, lambda: T.split(xs, [1, 2, 1], 2), "Split")
    _build_error(ShapeError, lambda: T.split(xs, [5, -1], 2), "Split", "negative")
    _build_error(TypeError, lambda: T.split(xs, T.vector(), 2), "Split", "integer")
    _build_error(ShapeError, lambda: T.split(xs, [4], 1, axis=2), "split", "out of bounds")


# -- repeat and tile ----------------------------------------------------------------------

REPEATS = [((3,), 2, None), ((2, 3), 2, None), ((2, 3), 3, 1), ((2, 3), [1, 0, 2], 1),
           ((2, 3), [2, 1], -2), ((), 3, None), ((0, 3), 2, 0), ((2, 3), 0, 0),
           ((2, 1), [3], 1), ((2, 3), [2], 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shp,reps,axis", REPEATS)
def test_repeat(shp, reps, axis, dtype):
    a = _data(shp, dtype)
    x = _var(a)
    out = T.repeat(x, reps, axis=axis)
    want = np.repeat(a, reps, axis=axis)
    _check(out, _fn([x], out)(a), want)
    xs = _var(a, static=True)
    assert T.repeat(xs, reps, axis=axis).type.shape == want.shape
    r = T.lvector() if isinstance(reps, list) else T.lscalar()
    out2 = x.repeat(r, axis=axis)
    _check(out2, _fn([x, r], out2)(a, np.asarray(reps)), want)
    _check_infer_shape(out2, [x, r], [a, np.asarray(reps)])


def test_repeat_errors():
    x = T.tensor("float64", shape=(2, 3))
    _build_error(ShapeError, lambda: T.repeat(x, [1, 2], axis=1), "Repeat", "static size 3")
    _build_error(ShapeError, lambda: T.repeat(x, -1, axis=1), "Repeat", "negative")
    _build_error(TypeError, lambda: T.repeat(x, T.vector(), axis=1), "Repeat", "integer")
    _build_error(ShapeError, lambda: T.repeat(x, 2, axis=2), "repeat", "out of bounds")
    _build_error(ShapeError, lambda: T.repeat(T.scalar(), 2, axis=0), "repeat")
    y, r = T.matrix(), T.lvector()
    _run_error(_fn([y, r], T.repeat(y, r, axis=1)), [_data((2, 3)), np.array([1, 2])],
               "Repeat")


TILES = [((3,), 2), ((3,), (2, 2)), ((2, 3), (2, 1)), ((2, 3), (3,)), ((2, 3), (1, 2, 2)),
         ((), (2, 3)), ((), ()), ((0, 2), (2, 3)), ((2, 3), (0, 2)), ((1, 2), (1, 1))]


@pytest.mark.parametrize("dtype", ["float64", "int32", "bool"])
@pytest.mark.parametrize("shp,reps", TILES)
def test_tile(shp, reps, dtype):
    a = _data(shp, dtype)
    x = _var(a)
    out = T.tile(x, reps)
    want = np.tile(a, reps)
    _check(out, _fn([x], out)(a), want)
    assert T.tile(_var(a, static=True), reps).type.shape == want.shape
    if isinstance(reps, tuple) and reps:
        rs = [T.lscalar() for _ in reps]
        out2 = T.tile(x, rs)
        _check(out2, _fn([x] + rs, out2)(a, *reps), want)


def test_tile_ndim_and_errors():
    a = _data((2, 3))
    x = T.matrix()
    out = T.tile(x, (2,), ndim=3)
    _check(out, _fn([x], out)(a), np.tile(a, (1, 1, 2)))
    _build_error(ShapeError, lambda: T.tile(x, (2, 2, 2), ndim=2), "tile")
    _build_error(ShapeError, lambda: T.tile(x, (-1, 2)), "tile", "negative")


# -- allocation ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [None] + DTYPES)
@pytest.mark.parametrize("shp", [(), 4, (0,), (2, 3), [1, 0, 2]])
def test_zeros_ones_full(shp, dtype):
    outs = [T.zeros(shp, dtype=dtype), T.ones(shp, dtype=dtype),
            T.full(shp, 7, dtype=dtype)]
    want_dtype = dtype or symgraph.config.floatX
    wants = [np.zeros(shp, want_dtype), np.ones(shp, want_dtype),
             np.full(shp, 7, dtype=dtype or np.int64)]
    for o, r, w in zip(outs, _fn([], outs)(), wants):
        _check(o, r, w)
        assert o.type.shape == w.shape


def test_alloc_symbolic_shapes_and_broadcasting():
    x = T.matrix()
    a = _data((2, 3))
    n = T.lscalar()
    outs = [T.zeros(x.shape), T.ones((n, x.shape[1]), dtype="int32"), T.alloc(x, 4, 2, 3),
            T.alloc(T.row(), n, 3), T.alloc(1.5, n), T.alloc(x, *x.shape), T.zeros(n),
            T.alloc(T.scalar(), 2, n), T.full((n, 3), x[0])]
    assert outs[2].type.shape == (4, 2, 3)
    assert outs[3].type.shape == (None, 3)
    assert outs[4].dtype == symgraph.config.floatX
    row, s = outs[3].owner.inputs[0], outs[7].owner.inputs[0]
    f = _fn([x, n, row, s], outs)
    rv = _data((1, 3))
    res = f(a, 3, rv, 2.5)
    wants = [np.zeros((2, 3)), np.ones((3, 3), np.int32), np.broadcast_to(a, (4, 2, 3)),
             np.broadcast_to(rv, (3, 3)), np.full(3, 1.5), a, np.zeros(3), np.full((2, 3), 2.5),
             np.broadcast_to(a[0], (3, 3))]
    for o, r, w in zip(outs, res, wants):
        _check(o, r, np.array(w))
        assert r.flags.writeable and r.flags.owndata
    _check_infer_shape(outs[3], [n, row], [3, rv])
    _check_infer_shape(outs[2], [x], [a])


def test_alloc_errors():
    x = T.matrix()
    _build_error(ShapeError, lambda: T.alloc(T.tensor("float64", shape=(2, 3)), 4, 2, 4),
                 "Alloc", "cannot fill")
    _build_error(ShapeError, lambda: T.alloc(x, 3), "Alloc", "more than")
    _build_error(ShapeError, lambda: T.zeros((2, -1)), "Alloc", "negative")
    _build_error(TypeError, lambda: T.alloc(x, 2.0, 3), "Alloc", "integer")
    _run_error(_fn([x], T.alloc(x, 4, 2, 3)), [_data((2, 1))], "Alloc", "broadcastable")
    _run_error(_fn([x], T.alloc(x, 4, 2, 3)), [_data((2, 4))], "Alloc")


@pytest.mark.parametrize("args,dtype", [((5,), None), ((2, 9, 3), None), ((5, 0, -1), None),
                                        ((3, 3), None), ((0.5, 4.0, 0.7), None),
                                        ((10,), "int32"), ((-2, 3), "float32"),
                                        ((4, 1, -2), None), ((1, 2, 0.25), None)])
def test_arange_constants(args, dtype):
    out = T.arange(*args, dtype=dtype)
    want_dtype = dtype or ("int64" if all(isinstance(a, int) for a in args)
                           else symgraph.config.floatX)
    want = np.arange(*args, dtype=want_dtype)
    _check(out, _fn([], out)(), want)
    assert out.type.shape == want.shape


@pytest.mark.parametrize("dtypes", [("int64", "int64", "int64"), ("int32", "int32", "int32"),
                                    ("int32", "int64", "int8"), ("float32", "float32", "int8"),
                                    ("float64", "float64", "float64")])
@pytest.mark.parametrize("vals", [(0, 7, 2), (7, 0, -3), (2, 2, 1), (-3, 4, 1)])
def test_arange_symbolic(dtypes, vals):
    xs = [T.tensor(d, shape=()) for d in dtypes]
    out = T.arange(*xs)
    args = [np.asarray(v, dtype=d) for v, d in zip(vals, dtypes)]
    _check(out, _fn(xs, out)(*args), np.arange(*args))     # numpy's dtype (floatX float64)
    _check_infer_shape(out, xs, args)


def test_arange_dtype_rule():
    n = T.lscalar()
    assert T.arange(n).dtype == T.arange(T.bscalar()).dtype == "int64"
    assert T.arange(n, 5.0).dtype == symgraph.config.floatX
    with symgraph.change_flags(floatX="float32"):
        assert T.arange(T.iscalar(), 5.5).dtype == "float32"
        assert T.arange(T.fscalar()).dtype == "float32"
        assert T.arange(T.dscalar()).dtype == "float64"
        assert T.arange(3, dtype="floatX").dtype == "float32"
        assert T.zeros(3, dtype="floatX").dtype == T.eye(2).dtype == "float32"
    assert T.arange(n, dtype="int32").dtype == "int32"


def test_arange_errors():
    _build_error(ShapeError, lambda: T.arange(0, 5, 0), "ARange", "zero")
    _build_error(TypeError, lambda: T.arange(T.vector()), "ARange", "scalar")
    n = T.lscalar()
    _run_error(_fn([n], T.arange(0, 5, n)), [0], "ARange", "zero")


@pytest.mark.parametrize("n,m,k", [(3, None, 0), (3, 4, 1), (4, 2, -1), (0, 3, 0), (3, 3, 5)])
@pytest.mark.parametrize("dtype", [None, "int32", "bool", "float32"])
def test_eye(n, m, k, dtype):
    out = T.eye(n, m, k, dtype=dtype)
    want = np.eye(n, m, k, dtype=dtype or symgraph.config.floatX)
    _check(out, _fn([], out)(), want)
    assert out.type.shape == want.shape
    ns = [T.lscalar() for _ in range(3)]
    out2 = T.eye(*ns, dtype=dtype)
    _check(out2, _fn(ns, out2)(n, n if m is None else m, k), want)
    _check_infer_shape(out2, ns, [n, n if m is None else m, k])


def test_identity_like():
    x = T.imatrix()
    out = T.identity_like(x)
    a = _data((3, 5), "int32")
    _check(out, _fn([x], out)(a), np.eye(3, 5, dtype=np.int32))
    assert T.identity_like(T.tensor("float32", shape=(2, 2))).type.shape == (2, 2)
    _build_error(TypeError, lambda: T.identity_like(T.vector()), "identity_like")


# -- diag ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shp", [(3,), (0,), (3, 3), (2, 4), (4, 2)])
@pytest.mark.parametrize("k", [0, 1, -2])
def test_diag(shp, k):
    a = _data(shp, "float32")
    x = _var(a)
    out = T.diag(x, k)
    want = np.diag(a, k)
    _check(out, _fn([x], out)(a), want)
    assert T.diag(_var(a, static=True), k).type.shape == want.shape
    _check_infer_shape(out, [x], [a])
    if a.ndim == 1:
        assert T.diag(x).owner.op == ST.AllocDiag(0)
    _build_error(ShapeError, lambda: T.diag(T.tensor3()), "diag")


@pytest.mark.parametrize("shp,k", [((3, 3), 0), ((2, 4), 1), ((4, 2), -1), ((3, 2), 0),
                                  ((2, 3), 5)])
def test_fill_diagonal(shp, k):
    a = _data(shp, "float32")
    x, v = T.fmatrix(), T.dscalar()
    outs = [T.fill_diagonal_offset(x, v, k), T.fill_diagonal_offset(x, 3, k)]
    want = a.copy()
    rows = np.arange(max(0, min(shp[0], shp[1] - k) if k >= 0 else min(shp[0] + k, shp[1])))
    rows = rows + max(-k, 0)
    want[rows, rows + k] = 2.5
    want3 = a.copy()
    want3[rows, rows + k] = 3
    res = _fn([x, v], outs)(a, 2.5)
    _check(outs[0], res[0], want)
    _check(outs[1], res[1], want3)
    if k == 0:
        w = a.copy()
        np.fill_diagonal(w, 2.5)
        o = T.fill_diagonal(x, v)
        _check(o, _fn([x, v], o)(a, 2.5), w)
    _build_error(TypeError, lambda: T.fill_diagonal(T.vector(), v), "fill_diagonal")
    node = outs[0].owner
    _check_infer_shape(outs[0], [x, v], [a, 2.5])
    assert isinstance(node.op, ST.SetDiagonal)


def test_set_diagonal_checks():
    x = T.tensor("float64", shape=(3, 3))
    _build_error(ShapeError, lambda: ST.SetDiagonal(0)(x, T.tensor("float64", shape=(2,))),
                 "SetDiagonal", "3 entries")
    v = T.vector()
    _run_error(_fn([x, v], ST.SetDiagonal(0)(x, v)), [np.zeros((3, 3)), np.zeros(1)],
               "SetDiagonal")


# -- sort, cumulative, roll, nonzero ------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shp,axis", [((5,), -1), ((3, 4), 0), ((3, 4), -1), ((3, 4), None),
                                      ((2, 0, 3), 1), ((), None), ((2, 3, 4), 1)])
def test_sort_argsort(shp, axis, dtype):
    a = _data(shp, dtype, -20, 20)
    x = _var(a)
    outs = [T.sort(x, axis=axis), T.argsort(x, axis=axis)]
    if axis is not None:
        outs += [x.sort(axis=axis), x.argsort(axis=axis)]
    wants = [np.sort(a, axis=axis), np.argsort(a, axis=axis).astype(np.int64)] * 2
    for o, r, w in zip(outs, _fn([x], outs)(a), wants):
        _check(o, r, w)
    _check_infer_shape(outs[0], [x], [a])
    if a.ndim == 0:
        _build_error(ShapeError, lambda: T.sort(x, axis=0), "sort")


@pytest.mark.parametrize("dtype", DTYPES + ["uint8", "float16"])
@pytest.mark.parametrize("shp,axis", [((5,), 0), ((3, 4), 0), ((3, 4), -1), ((3, 4), None),
                                      ((2, 0, 3), 2), ((), None)])
def test_cumsum_cumprod(shp, axis, dtype):
    a = _data(shp, dtype, -2, 2)
    x = _var(a)
    outs = [T.cumsum(x, axis=axis), T.cumprod(x, axis=axis), x.cumsum(axis), x.cumprod(axis)]
    wants = [np.cumsum(a, axis=axis), np.cumprod(a, axis=axis)] * 2
    for o, r, w in zip(outs, _fn([x], outs)(a), wants):
        if dtype == "float16":
            assert r.dtype == w.dtype == np.float16
            np.testing.assert_allclose(r, w, rtol=1e-2)
        else:
            _check(o, r, w)
    _check_infer_shape(outs[0], [x], [a])
    _build_error(ShapeError, lambda: T.cumsum(x, axis=a.ndim), "cumsum")


@pytest.mark.parametrize("shp,shift,axis", [((5,), 2, None), ((5,), -7, 0), ((3, 4), 1, None),
                                            ((3, 4), 5, 1), ((3, 4), (1, 2), (0, 1)),
                                            ((3, 4), 1, (0, 1)), ((0, 3), 1, 1), ((), 3, None)])
@pytest.mark.parametrize("dtype", ["float64", "int32", "bool"])
def test_roll(shp, shift, axis, dtype):
    a = _data(shp, dtype)
    x = _var(a)
    out = T.roll(x, shift, axis)
    want = np.roll(a, shift, axis)
    _check(out, _fn([x], out)(a), want)
    assert out.type == x.type
    if isinstance(shift, int):
        s = T.iscalar()
        out2 = T.roll(x, s, axis)
        _check(out2, _fn([x, s], out2)(a, shift), want)
        _check_infer_shape(out2, [x, s], [a, shift])


def test_roll_and_flip_errors():
    x = T.matrix()
    _build_error(ShapeError, lambda: T.roll(x, (1, 2, 3), (0, 1)), "roll")
    _build_error(ShapeError, lambda: T.roll(x, 1, 2), "roll", "out of bounds")
    _build_error(TypeError, lambda: T.roll(x, 1.5, 0), "Roll", "integer")
    _build_error(ShapeError, lambda: T.flip(x, 3), "flip")
    a = _data((2, 3))
    outs = [T.flip(x), T.flip(x, 0), T.flip(x, (-1,))]
    for o, r, w in zip(outs, _fn([x], outs)(a), [np.flip(a), np.flip(a, 0), np.flip(a, -1)]):
        _check(o, r, w)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shp", [(6,), (3, 4), (2, 0), (2, 3, 2)])
def test_nonzero(shp, dtype):
    a = _data(shp, dtype, -1, 1)
    x = _var(a)
    nz = T.nonzero(x)
    m = T.nonzero(x, return_matrix=True)
    flat = T.flatnonzero(x)
    assert isinstance(nz, tuple) and len(nz) == a.ndim
    res = _fn([x], list(nz) + [m, flat, x.nonzero()[0]])(a)
    wants = [i.astype(np.int64) for i in np.nonzero(a)]
    for o, r, w in zip(nz, res, wants):
        _check(o, r, w)
    _check(m, res[a.ndim], np.array(wants))
    _check(flat, res[a.ndim + 1], np.flatnonzero(a).astype(np.int64))
    _check(nz[0], res[a.ndim + 2], wants[0])


def test_nonzero_values():
    a = _data((3, 4), "int32", -1, 1)
    x = T.imatrix()
    out = T.nonzero_values(x)
    _check(out, _fn([x], out)(a), a.ravel()[np.flatnonzero(a)])


def test_nonzero_errors_and_flatnonzero_of_scalar():
    x = T.scalar()
    _build_error(ShapeError, lambda: T.nonzero(x), "Nonzero", "0-d")
    out = T.flatnonzero(x)
    _check(out, _fn([x], out)(3.0), np.flatnonzero(np.array(3.0)).astype(np.int64))


# -- gradients ----------------------------------------------------------------------------

def _verify(fun, shapes, dtype="float64", positive=False, **kw):
    from symgraph.gradient import verify_grad
    rng = np.random.default_rng(3)
    pts = [rng.uniform(0.5 if positive else -1, 1.5 if positive else 1, size=s).astype(dtype)
           for s in shapes]
    verify_grad(fun, pts, rng=rng, **kw)


def _needs_sum():
    return pytest.mark.skipif(not hasattr(T, "sum"), reason="T.sum (ops/reduce.py) missing")


GRADS = [
    ("reshape", lambda x: T.reshape(x, (3, -1)), [(2, 3)]),
    ("reshape_0d", lambda x: T.reshape(x, (1, 1)), [()]),
    ("flatten", lambda x: T.flatten(x, 2), [(2, 3, 2)]),
    ("transpose", lambda x: T.transpose(x, (2, 0, 1)), [(2, 3, 2)]),
    ("padleft", lambda x: T.shape_padleft(x, 2), [(3,)]),
    ("squeeze", lambda x: T.squeeze(x, 1), [(3, 1)]),
    ("specify_shape", lambda x: T.specify_shape(x, (None, 3)) * 2, [(2, 3)]),
    ("unbroadcast", lambda x: T.unbroadcast(x, 0), [(1, 3)]),
    ("concatenate", lambda x, y: T.concatenate([x, y, x], axis=1), [(2, 3), (2, 1)]),
    ("stack", lambda x, y: T.stack([x, y], axis=1), [(2, 3), (2, 3)]),
    ("stack_scalars", lambda x, y: T.stack([x, y, x * y]), [(), ()]),
    ("split", lambda x: T.split(x, [1, 3, 0], 3, axis=1)[1] * 2, [(2, 4)]),
    ("split_all", lambda x: T.concatenate(T.split(x, [2, 2], 2)[::-1]) ** 2, [(4, 2)]),
    ("repeat", lambda x: T.repeat(x, 3, axis=1), [(2, 3)]),
    ("repeat_vec", lambda x: T.repeat(x, [2, 0, 1], axis=0), [(3, 2)]),
    ("repeat_none", lambda x: T.repeat(x, 2), [(2, 2)]),
    ("sort", lambda x: T.sort(x, axis=0), [(4, 3)]),
    ("sort_none", lambda x: T.sort(x, axis=None), [(2, 3)]),
    ("cumsum", lambda x: T.cumsum(x, axis=1), [(3, 4)]),
    ("cumsum_none", lambda x: T.cumsum(x), [(3, 2)]),
    ("roll", lambda x: T.roll(x, 2, axis=1), [(2, 5)]),
    ("roll_none", lambda x: T.roll(x, -1), [(2, 3)]),
    ("flip", lambda x: T.flip(x, 1), [(2, 3)]),
    ("diag_vec", lambda x: T.diag(x, 1), [(3,)]),
    ("diag_mat", lambda x: T.diag(x, -1), [(4, 3)]),
    ("setdiag", lambda x, v: ST.SetDiagonal(1)(x, v), [(3, 4), (3,)]),
    ("fill_diagonal", lambda x, v: T.fill_diagonal_offset(x, v, -1), [(3, 4), ()]),
]


@pytest.mark.parametrize("name,fun,shapes", GRADS, ids=[g[0] for g in GRADS])
def test_gradients(name, fun, shapes):
    _verify(fun, shapes)


def test_cumprod_gradient():
    _verify(lambda x: T.cumprod(x, axis=0), [(4, 3)], positive=True)
    _verify(lambda x: T.cumprod(x), [(2, 3)], positive=True)


@_needs_sum()
@pytest.mark.parametrize("name,fun,shapes", [
    ("alloc", lambda x: T.alloc(x, 2, 3), [(3,)]),
    ("alloc_bcast", lambda x: T.alloc(x, 4, 2, 3), [(1, 3)]),
    ("alloc_row", lambda x: T.alloc(T.addbroadcast(x, 0), 4, 3), [(1, 3)]),
    ("full", lambda x: T.full((3, 2), x), [()]),
    ("tile", lambda x: T.tile(x, (2, 3)), [(2, 3)]),
    ("tile_pad", lambda x: T.tile(x, (2, 1, 2)), [(3,)]),
    ("repeat_sum", lambda x: T.repeat(x, 2).sum() * x, [(3,)]),
], ids=lambda v: v if isinstance(v, str) else "")
def test_gradients_needing_sum(name, fun, shapes):
    _verify(fun, shapes)


def test_gradients_float32_and_types():
    from symgraph.gradient import verify_grad
    _verify(lambda x: T.concatenate([x, T.sort(x)]), [(4,)], dtype="float32")
    a, b = _data((2,), "float32"), _data((3,), "float64")
    verify_grad(lambda x, y: T.join(0, x, y) ** 2, [a, b], rng=np.random.default_rng(0))
    x32, y64 = T.fvector(), T.dvector()
    gx, gy = symgraph.grad((T.join(0, x32, y64) ** 2).sum(), [x32, y64])
    assert gx.dtype == "float32" and gy.dtype == "float64"
    x = T.matrix()
    g = symgraph.grad(T.reshape(x, (-1,))[0], x)
    assert g.type == x.type or g.type.is_super(x.type) or x.type.is_super(g.type)
    y = T.tensor("float64", shape=(2, 3))
    gy = symgraph.grad(T.flatten(y)[0], y)
    assert gy.type.shape == (2, 3)


def test_no_gradient_ops_return_none():
    x = T.matrix()
    assert S.Shape().L_op([x], [S.Shape()(x)], [T.lvector()]) == [None]
    assert ST.ArgSort(0).L_op([x], [T.lmatrix()], [T.matrix()]) == [None]
    n = T.lscalar()
    node = T.arange(n).owner
    assert node.op.L_op(node.inputs, node.outputs, [T.vector()]) == [None] * 3
    node = T.eye(n).owner
    assert node.op.L_op(node.inputs, node.outputs, [T.matrix()]) == [None] * 3
    node = ST.Nonzero().make_node(x)
    assert node.op.L_op(node.inputs, node.outputs, [T.lvector()] * 2) == [None]
    i = T.imatrix()
    node = T.reshape(i, (-1,)).owner
    assert node.op.L_op(node.inputs, node.outputs, [T.vector()]) == [None, None]


def test_split_gradient_with_missing_output_grads():
    x = T.matrix()
    a, b = T.split(x, [1, 2], 2, axis=1)
    node = a.owner
    (gx, gs) = node.op.L_op(node.inputs, node.outputs, [None, T.ones_like(b)])
    assert gs is None
    r = _fn([x], gx)(_data((3, 3)))
    np.testing.assert_array_equal(r, np.concatenate([np.zeros((3, 1)), np.ones((3, 2))], 1))


def test_second_order_through_repeat_and_sort():
    x = T.vector()
    c = (T.repeat(x, [2, 1, 3]) ** 2).sum() + (T.sort(x) * T.arange(3)).sum() ** 2 \
        if hasattr(T, "sum") else None
    if c is None:
        pytest.skip("T.sum (ops/reduce.py) missing")
    g = symgraph.grad(c, x)
    h = symgraph.grad(g.sum(), x)
    a = np.array([0.3, -1.2, 2.0])
    got = _fn([x], [g, h])(a)
    srt = np.argsort(a)
    w = np.arange(3.0)
    s = np.sort(a) @ w
    g_want = 2 * a * np.array([2, 1, 3])
    g_want[srt] += 2 * s * w
    np.testing.assert_allclose(got[0], g_want)
    h_want = 2 * np.array([2, 1, 3.0])
    h_want[srt] += 2 * w * w.sum()
    np.testing.assert_allclose(got[1], h_want)


ROPS = [
    ("reshape", lambda x: T.reshape(x, (3, -1)), [(2, 3)]),
    ("concatenate", lambda x, y: T.concatenate([x, y], axis=1), [(2, 3), (2, 2)]),
    ("stack_scalars", lambda x, y: T.stack([x, y * 2]), [(), ()]),
    ("split", lambda x: T.split(x, [1, 3], 2, axis=1)[1], [(2, 4)]),
    ("alloc", lambda x: T.alloc(x, 2, 3), [(3,)]),
    ("specify_shape", lambda x: T.specify_shape(x, (2, None)), [(2, 3)]),
    ("unbroadcast", lambda x: T.unbroadcast(x, 0), [(1, 3)]),
    ("flip_roll", lambda x: T.roll(T.flip(x, 0), 1, 1), [(2, 3)]),
    ("diag", lambda x: T.diag(T.diag(x)), [(3, 3)]),
    ("sort_cumsum", lambda x: T.cumsum(T.sort(x)), [(5,)]),
    ("tile_repeat", lambda x: T.repeat(T.tile(x, (2, 1)), 2, axis=0), [(2, 2)]),
]


@pytest.mark.parametrize("name,fun,shapes", ROPS, ids=[r[0] for r in ROPS])
def test_rop_matches_finite_differences(name, fun, shapes):
    rng = np.random.default_rng(5)
    pts = [rng.uniform(-1, 1, size=s) for s in shapes]
    dirs = [rng.uniform(-1, 1, size=s) for s in shapes]
    xs = [T.tensor("float64", shape=tuple(1 if d == 1 else None for d in s)) for s in shapes]
    vs = [x.type() for x in xs]
    out = fun(*xs)
    jv = symgraph.Rop(out, xs, vs)
    f = _fn(xs + vs, [out, jv])
    eps = 1e-6
    up = f(*[p + eps * d for p, d in zip(pts, dirs)], *dirs)[0]
    down = f(*[p - eps * d for p, d in zip(pts, dirs)], *dirs)[0]
    got = f(*pts, *dirs)[1]
    np.testing.assert_allclose(got, (up - down) / (2 * eps), rtol=1e-5, atol=1e-7)


# -- random shapes (hypothesis) -----------------------------------------------------------

_dims = st.lists(st.integers(0, 4), min_size=0, max_size=4).map(tuple)


@settings(max_examples=40, deadline=None)
@given(shp=_dims, data=st.data())
def test_random_reshape_tile_repeat_concat(shp, data):
    a = np.arange(int(np.prod(shp)), dtype=np.int64).reshape(shp)
    # a target shape: the same size, one entry possibly -1
    size = a.size
    target = []
    rest = size
    for _ in range(data.draw(st.integers(0, 3))):
        f = data.draw(st.sampled_from([d for d in range(1, 5) if rest % d == 0] or [1]))
        target.append(f)
        rest //= f
    target.append(rest)
    if size and data.draw(st.booleans()):
        target[data.draw(st.integers(0, len(target) - 1))] = -1
    reps = tuple(data.draw(st.lists(st.integers(0, 3), max_size=3)))
    for static in (False, True):
        x = _var(a, static=static)
        outs = [T.reshape(x, target), T.tile(x, reps), T.repeat(x, 2, axis=None)]
        wants = [a.reshape(target), np.tile(a, reps), np.repeat(a, 2)]
        if a.ndim:
            ax = data.draw(st.integers(-a.ndim, a.ndim - 1))
            outs += [T.concatenate([x, x], axis=ax), T.stack([x, x], axis=ax)]
            wants += [np.concatenate([a, a], axis=ax), np.stack([a, a], axis=ax)]
        for o, r, w in zip(outs, _fn([x], outs)(a), wants):
            _check(o, r, w)
