"""Indexing against numpy: basic and advanced reads, set/inc_subtensor, take, static types,
errors and gradients.

Each index expression of the tables is applied to a numpy array and to a symbolic one, in
three forms: as written (ints and arrays become constants), with every int and slice bound
a symbolic scalar, and with every array a symbolic tensor.
"""
import pickle

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.gradient import Rop, grad, verify_grad
from symgraph.ops.subtensor import (AdvancedIncSubtensor, AdvancedSubtensor, IncSubtensor,
                                    Slice, Subtensor, _slice_len)

RNG = np.random.default_rng(7)
DTYPES = ["float32", "float64", "int32", "int64", "bool"]
SHAPE = (5, 6, 7)
HERE = "test_subtensor.py"


def _data(shape, dtype):
    if dtype == "bool":
        return RNG.random(shape) > 0.5
    if dtype.startswith("int"):
        return RNG.integers(-50, 50, size=shape).astype(dtype)
    return RNG.uniform(-3, 3, size=shape).astype(dtype)


def _fn(inputs, out, **kwargs):
    return symgraph.function(inputs, out, mode="py", **kwargs)


def _check(var, got, want, exact_shape=False):
    """Value, dtype, ndim and the known static dims of `var` against numpy's `want`."""
    want = np.asarray(want)
    assert isinstance(got, np.ndarray), type(got)
    assert got.dtype == want.dtype == np.dtype(var.dtype), (got.dtype, want.dtype, var.dtype)
    assert got.ndim == var.ndim
    assert got.shape == want.shape, (got.shape, want.shape)
    assert all(s is None or s == g for s, g in zip(var.type.shape, got.shape)), \
        (var.type.shape, got.shape)
    if exact_shape:
        assert var.type.shape == want.shape, (var.type.shape, want.shape)
    np.testing.assert_array_equal(got, want)


def _symbolize(idx, ints=True, arrays=True):
    """(symbolic index, its inputs, their values): ints and slice bounds become symbolic
    scalars (alternating int64 and int32), arrays symbolic tensors of unknown shape."""
    idx = idx if isinstance(idx, tuple) else (idx,)
    inputs, values = [], []

    def scalar(k):
        if not ints or k is None:
            return k
        v = T.tensor("int64" if len(inputs) % 2 == 0 else "int32", shape=())
        inputs.append(v)
        values.append(k)
        return v

    out = []
    for e in idx:
        if isinstance(e, slice):
            out.append(slice(scalar(e.start), scalar(e.stop), scalar(e.step)))
        elif isinstance(e, (int, np.integer)) and not isinstance(e, (bool, np.bool_)):
            out.append(scalar(int(e)))
        elif isinstance(e, np.ndarray) and arrays:
            v = T.tensor(e.dtype, shape=(None,) * e.ndim)
            inputs.append(v)
            values.append(e)
            out.append(v)
        else:
            out.append(e)
    return tuple(out), inputs, values


# -- basic indexing -------------------------------------------------------------------------

BASIC = [
    np.s_[1], np.s_[-1], np.s_[1:3], np.s_[::2], np.s_[::-1], np.s_[4:1:-2], np.s_[-2:],
    np.s_[:, 2], np.s_[:, -6:-1:3], np.s_[1, 2, 3], np.s_[-5, -6, -7], np.s_[None],
    np.s_[:, None, 1], np.s_[..., 0], np.s_[1, ...], np.s_[..., None], np.s_[None, ..., None, 2],
    np.s_[...], np.s_[:], np.s_[3:3], np.s_[10:], np.s_[:-10], np.s_[::-1, ::-1, ::-1],
    np.s_[1:4, None, ::3, -1], np.s_[np.int64(2)], np.s_[100:-100:-1], np.s_[-2::-3, 1:],
    (), np.s_[2, None, None, -1, 0:0],
]


@pytest.mark.parametrize("idx", BASIC, ids=repr)
@pytest.mark.parametrize("static", [False, True], ids=["unknown", "static"])
def test_basic_matches_numpy(idx, static):
    for dtype in DTYPES:
        a = _data(SHAPE, dtype)
        x = T.tensor(dtype, shape=SHAPE if static else (None,) * 3)
        y = x[idx]
        assert isinstance(y.owner.op, Subtensor) and y.owner.op.view_map == {0: [0]}
        _check(y, _fn([x], y)(a), a[idx], exact_shape=static)


@pytest.mark.parametrize("idx", [i for i in BASIC if not (isinstance(i, tuple) and not i)], ids=repr)
def test_basic_symbolic_bounds_match_numpy(idx):
    a = _data(SHAPE, "float64")
    sym, inputs, values = _symbolize(idx)
    for static in (False, True):
        x = T.tensor("float64", shape=SHAPE if static else (None,) * 3)
        y = x[sym]
        assert isinstance(y.owner.op, Subtensor)
        assert len(y.owner.inputs) == 1 + len(inputs)
        _check(y, _fn([x, *inputs], y)(a, *values), a[idx])


SYMBOLIC_VALUES = [
    (lambda i: np.s_[i], [(0,), (-1,), (4,), (-5,)]),
    (lambda i, j: np.s_[i:j], [(1, 3), (-4, -1), (3, 1), (-100, 100), (7, 9)]),
    (lambda k: np.s_[::k], [(1,), (2,), (-1,), (-3,), (100,)]),
    (lambda i, j, k: np.s_[i:j:k], [(4, 0, -2), (0, 5, 3), (-1, -6, -1), (9, -9, -4)]),
    (lambda i, j: np.s_[:, i, j:], [(0, 2), (-1, -3), (5, 0)]),
    (lambda i, j: np.s_[None, i, ..., j], [(0, 0), (-5, -7), (2, 6)]),
]


@pytest.mark.parametrize("make, values", SYMBOLIC_VALUES)
def test_symbolic_scalars_many_values(make, values):
    n = len(values[0])
    scalars = [T.lscalar() if k % 2 == 0 else T.iscalar() for k in range(n)]
    x = T.tensor3()
    y = x[make(*scalars)]
    f = _fn([x, *scalars], y)
    for dtype in ("float64", "int32"):
        a = _data(SHAPE, dtype)
        f = _fn([x, *scalars], T.cast(x, dtype)[make(*scalars)])
        for v in values:
            got = f(a, *v)
            np.testing.assert_array_equal(got, a[make(*v)])
            assert got.dtype == a.dtype


def test_zero_d_input_and_results():
    s = T.dscalar()
    for idx in [(), ..., None, (None, None), (..., None)]:
        y = s[idx]
        _check(y, _fn([s], y)(np.float64(2.5)), np.asarray(2.5)[idx], exact_shape=True)
    v = T.lvector()
    y = v[-2]
    got = _fn([v], y)(np.arange(5))
    _check(y, got, np.asarray(3))
    assert got.ndim == 0 and isinstance(got, np.ndarray)


def test_index_forms_equivalent_to_int():
    x = T.matrix()
    a = _data((4, 3), "float64")
    for k in [2, np.int32(2), np.array(2), T.constant(2), np.uint8(2)]:
        y = x[k]
        assert y.owner.op == Subtensor((2,))   # constants go into the op's props
        assert len(y.owner.inputs) == 1
        np.testing.assert_array_equal(_fn([x], y)(a), a[2])


def test_props_are_canonical():
    x = T.tensor3()
    assert x[1, :, :].owner.op == x[1].owner.op == x[1, ...].owner.op
    assert x[1:3].owner.op == Subtensor([slice(1, 3)])
    assert hash(x[::2].owner.op) == hash(Subtensor((Slice(None, None, 2),)))
    assert x[1:3].owner.op != x[1:4].owner.op
    assert str(x[1:3, ::-1, None].owner.op) == "Subtensor{1:3, ::-1, newaxis}"
    i = T.lscalar()
    assert str(x[i:, 2].owner.op) == "Subtensor{?:, 2}"
    for op in [x[i:, None, -1].owner.op, x[[0, 1], ::2].owner.op,
               T.inc_subtensor(x[[1]], 1.0, ignore_duplicates=True).owner.op]:
        back = pickle.loads(pickle.dumps(op))
        assert back == op and hash(back) == hash(op) and str(back) == str(op)


def test_static_slice_length_is_exact_or_unknown():
    bounds = [None, -9, -6, -3, -1, 0, 1, 2, 4, 6, 9]
    proven_unknown = 0
    for start in bounds:
        for stop in bounds:
            for step in [None, 1, 2, 3, -1, -2, -4]:
                s = Slice(start, stop, step)
                for n in range(0, 9):
                    assert _slice_len(n, s) == len(range(n)[start:stop:step]), (s, n)
                u = _slice_len(None, s)
                if u is not None:
                    proven_unknown += 1
                    for n in range(0, 25):
                        assert len(range(n)[start:stop:step]) == u, (s, n)
    assert proven_unknown > 50   # the empty ranges with bounds on the same side


def test_static_shapes_with_unknown_and_broadcastable_dims():
    k = T.lscalar()
    assert T.vector()[3:1].type.shape == (0,)
    assert T.vector()[-1:-3].type.shape == (0,)
    assert T.vector()[1:3].type.shape == (None,)
    assert T.row()[::k].type.shape == (1, None)
    assert T.row()[:, ::k].type.shape == (1, None)
    assert T.row()[0].type.shape == (None,)
    assert T.tensor("float64", shape=(0, 3))[k:, 1:].type.shape == (0, 2)
    assert T.tensor("float64", shape=(4, 3))[k].type.shape == (3,)


# -- advanced indexing ----------------------------------------------------------------------

M0 = np.array([True, False, True, True, False])
M2 = RNG.random((5, 6)) > 0.5
M3 = RNG.random(SHAPE) > 0.5
M7 = np.array([False, True, False, False, True, True, False])
M2_3 = np.array([[True, False, True], [False, False, True]])  # three True

ADVANCED = [
    np.s_[np.array([0, 2, 2, -1])], np.s_[[0, 4, 1]], np.s_[np.array([[0, 1], [4, 3]])],
    np.s_[:, np.array([5, 0, 0])], np.s_[..., np.array([6, 0])],
    np.s_[np.array([0, 1]), np.array([2, 3])], np.s_[np.array([0, 1]), :, np.array([2, 3])],
    np.s_[1, :, np.array([2, 3])], np.s_[:, 1, np.array([2, 3])],
    np.s_[np.array([[0], [1]]), np.array([2, 3, 4])], np.s_[None, np.array([0, 1])],
    np.s_[np.array([0, 1]), None, np.array([0, 1])], np.s_[1:4, np.array([0, 1]), ::-1],
    np.s_[np.array([], dtype=np.int64)], np.s_[[]], np.s_[M0], np.s_[M2], np.s_[M3],
    np.s_[:, M2[0]], np.s_[..., M7], np.s_[M0, 2], np.s_[M0, :, np.array([1, 2, 3])],
    np.s_[True], np.s_[False], np.s_[:, True, np.array([0, 1])],
    np.s_[[True, False, True, True, False]], np.s_[np.array(True)],
    np.s_[np.array([3, 1]).astype(np.uint64)], np.s_[np.array([-1, 0], dtype=np.int8), ::2],
    np.s_[np.array([[1, 2, 3]]), ::-1, np.array([[0], [6]])],
]


@pytest.mark.parametrize("idx", ADVANCED, ids=repr)
@pytest.mark.parametrize("static", [False, True], ids=["unknown", "static"])
def test_advanced_matches_numpy(idx, static):
    for dtype in DTYPES:
        a = _data(SHAPE, dtype)
        x = T.tensor(dtype, shape=SHAPE if static else (None,) * 3)
        y = x[idx]
        assert isinstance(y.owner.op, AdvancedSubtensor)
        # constant indices on a static array: the output shape is known exactly
        _check(y, _fn([x], y)(a), a[idx], exact_shape=static)


@pytest.mark.parametrize("idx", ADVANCED, ids=repr)
def test_advanced_symbolic_indices_match_numpy(idx):
    a = _data(SHAPE, "float64")
    for ints, arrays in [(True, True), (False, True), (True, False)]:
        sym, inputs, values = _symbolize(idx, ints=ints, arrays=arrays)
        for static in (False, True):
            x = T.tensor("float64", shape=SHAPE if static else (None,) * 3)
            y = x[sym]
            _check(y, _fn([x, *inputs], y)(a, *values), a[idx])


def test_advanced_static_shapes():
    x = T.tensor("float64", shape=(5, None, 7))
    i3 = T.tensor("int64", shape=(3,))
    j = T.tensor("int64", shape=(None,))
    col = T.tensor("int64", shape=(None, 1))
    m = T.tensor("bool", shape=(5, None))
    assert x[i3].type.shape == (3, None, 7)
    assert x[:, :, i3].type.shape == (5, None, 3)
    assert x[i3, :, j].type.shape == (3, None)       # non-adjacent: advanced dims first
    assert x[:, i3, j].type.shape == (5, 3)          # adjacent: in place
    assert x[col, :, j].type.shape == (None, None, None)
    assert x[col, :, i3].type.shape == (None, 3, None)
    assert x[m].type.shape == (None, 7)
    assert x[[0, 1], None, [2, 3]].type.shape == (2, 1, 7)
    assert x[M0, 0, 0].type.shape == (3,)            # a constant mask: its count is known
    assert x[:, T.tensor("bool", shape=(0,))].type.shape == (5, 0, 7)
    assert x[True].type.shape == (1, 5, None, 7)
    assert x[T.bscalar() > 0].type.shape == (None, 5, None, 7)


def test_arange_and_vector_pick():
    p = T.matrix()
    y = T.lvector()
    out = p[T.arange(y.shape[0]), y]
    a = _data((4, 3), "float64")
    labels = np.array([2, 0, 1, 2])
    np.testing.assert_array_equal(_fn([p, y], out)(a, labels), a[np.arange(4), labels])


def test_mask_from_comparison():
    x = T.matrix()
    a = _data((4, 3), "float64")
    y = x[x > 0]
    assert isinstance(y.owner.op, AdvancedSubtensor) and y.type.shape == (None,)
    _check(y, _fn([x], y)(a), a[a > 0])
    z = x[T.gt(x[:, 0], 0)]
    _check(z, _fn([x], z)(a), a[a[:, 0] > 0])


def test_list_of_symbolic_scalars_is_an_index_array():
    x = T.vector()
    i, j = T.lscalars("i", "j")
    y = x[[i, j, i]]
    a = _data((6,), "float64")
    np.testing.assert_array_equal(_fn([x, i, j], y)(a, 4, -1), a[[4, -1, 4]])


@pytest.mark.parametrize("idx", BASIC + ADVANCED, ids=repr)
def test_infer_shape_matches_run_time_shape(idx):
    """The symbolic shape the op reports, from symbolic input shapes, equals numpy's."""
    a = _data(SHAPE, "float64")
    for static in (False, True):
        sym, inputs, values = _symbolize(idx)
        x = T.tensor("float64", shape=SHAPE if static else (None,) * 3)
        y = x[sym]
        node = y.owner
        operands = [x, *node.inputs[1:]]
        dims = [[T.lscalar() for _ in range(v.ndim)] for v in operands]
        (shape,) = node.op.infer_shape(node, [tuple(d) for d in dims])
        assert len(shape) == y.ndim and all(s.dtype == "int64" for s in shape)
        known = [s for s in shape if isinstance(s, T.TensorConstant)]
        assert len(known) >= sum(s is not None for s in y.type.shape)
        vals = dict(zip(inputs, values))
        sizes = []
        for var, ds in zip(operands, dims):
            value = a if var is x else vals.get(var, getattr(var, "data", None))
            sizes.extend(np.shape(value))
        flat = [d for ds in dims for d in ds]
        f = _fn([*flat, *inputs], list(shape), on_unused_input="ignore")
        got = f(*sizes, *values)
        assert tuple(int(g) for g in got) == a[idx].shape


# -- set_subtensor / inc_subtensor ----------------------------------------------------------

UPDATE_INDICES = [
    np.s_[1], np.s_[1:3], np.s_[::-2], np.s_[:, None, 1], np.s_[1, 2, 3], np.s_[3:3],
    np.s_[..., ::3], np.s_[-2::-3, 1:], (),
    np.s_[np.array([0, 2, 2, -1])], np.s_[[1, 1, 1]], np.s_[:, np.array([5, 0, 0])],
    np.s_[np.array([0, 1, 1]), :, np.array([2, 3, 3])], np.s_[1, :, np.array([2, 2])],
    np.s_[np.array([[0], [0]]), np.array([2, 3, 2])], np.s_[M0], np.s_[M2],
    np.s_[M0, :, np.array([1, 1, 3])], np.s_[True], np.s_[:, True, np.array([0, 0])],
    np.s_[np.array([], dtype=np.int64)], np.s_[None, np.array([4, 4])],
]


def _np_update(a, idx, v, set_):
    out = a.copy()
    if set_:
        out[idx] = v
    else:
        np.add.at(out, idx, v)
    return out


@pytest.mark.parametrize("idx", UPDATE_INDICES, ids=repr)
@pytest.mark.parametrize("set_", [True, False], ids=["set", "inc"])
def test_updates_match_numpy(idx, set_):
    update = T.set_subtensor if set_ else T.inc_subtensor
    for dtype in ["float32", "float64", "int32", "int64"] + (["bool"] if set_ else []):
        a = _data(SHAPE, dtype)
        target = a[idx].shape
        for vshape in [target, target[1:], ()]:
            v = _data(vshape, dtype)
            sym, inputs, values = _symbolize(idx)
            x = T.tensor(dtype, shape=(None,) * 3)
            vv = T.tensor(dtype, shape=(None,) * len(vshape))
            y = update(x[sym], vv)
            adv = isinstance(x[sym].owner.op, AdvancedSubtensor)
            assert isinstance(y.owner.op, AdvancedIncSubtensor if adv else IncSubtensor)
            assert y.owner.op.set_instead_of_inc == set_ and not y.owner.op.destroy_map
            keep = a.copy()
            got = _fn([x, vv, *inputs], y)(a, v, *values)
            _check(y, got, _np_update(a, idx, v, set_))
            np.testing.assert_array_equal(a, keep)    # the input array is untouched


def test_repeated_indices_accumulate_for_inc_and_last_write_for_set():
    x = T.dvector()
    v = T.dvector()
    idx = [0, 0, 3, 0]
    vals = np.array([1.0, 2.0, 3.0, 4.0])
    inc = _fn([x, v], T.inc_subtensor(x[idx], v))(np.zeros(5), vals)
    np.testing.assert_array_equal(inc, [7.0, 0.0, 0.0, 3.0, 0.0])
    st = _fn([x, v], T.set_subtensor(x[idx], v))(np.zeros(5), vals)
    np.testing.assert_array_equal(st, [4.0, 0.0, 0.0, 3.0, 0.0])
    # ignore_duplicates: numpy's buffered `a[idx] += v`, each position written once
    fast = _fn([x, v], T.inc_subtensor(x[idx], v, ignore_duplicates=True))(np.zeros(5), vals)
    np.testing.assert_array_equal(fast, [4.0, 0.0, 0.0, 3.0, 0.0])
    # 2-d, pairs of indices, a scalar broadcast to every picked element
    m = T.lmatrix()
    r, c = T.lvectors("r", "c")
    out = _fn([m, r, c], T.inc_subtensor(m[r, c], 10))(
        np.zeros((2, 3), dtype=np.int64), np.array([1, 1, 0, 1]), np.array([2, 2, 0, 2]))
    np.testing.assert_array_equal(out, [[10, 0, 0], [0, 0, 30]])


def test_keyword_compatibility():
    x = T.dmatrix()
    a = _data((3, 4), "float64")
    y = T.inc_subtensor(x[0], 1.0, set_instead_of_inc=True)
    assert y.owner.op == IncSubtensor((0,), set_instead_of_inc=True)
    want = a.copy()
    want[0] = 1.0
    np.testing.assert_array_equal(_fn([x], y)(a), want)
    z = T.set_subtensor(x[[0, 2]], 5.0, inplace=True, tolerate_inplace_aliasing=True)
    assert not z.owner.op.destroy_map      # the user's `inplace` never overwrites inputs
    assert str(z.owner.op) == "AdvancedSetSubtensor{?}"
    assert str(T.inc_subtensor(x[1:], 2.0).owner.op) == "IncSubtensor{1:}"


def test_update_value_broadcasting_and_types():
    x = T.tensor("float64", shape=(None, 4))
    row = T.tensor("float64", shape=(1, 4))
    a = _data((5, 4), "float64")
    r = _data((1, 4), "float64")
    y = T.set_subtensor(x[1:4], row)
    assert y.type == x.type
    _check(y, _fn([x, row], y)(a, r), _np_update(a, np.s_[1:4], r, True))
    # Python numbers take x's dtype; a float32 value goes into a float64 array
    f32 = T.fvector()
    z = T.inc_subtensor(x[:, 0], f32)
    v = _data((5,), "float32")
    _check(z, _fn([x, f32], z)(a, v), _np_update(a, np.s_[:, 0], v, False))
    iz = T.set_subtensor(T.lvector()[0], 3.0)
    assert iz.owner.inputs[1].dtype == "int64"


def test_inplace_variant_overwrites_its_input():
    x = T.dvector()
    v = T.dvector()
    op = IncSubtensor((Slice(1, 3),), inplace=True)
    assert op.destroy_map == {0: [0]} and str(op) == "IncSubtensor{inplace}{1:3}"
    node = op.make_node(x, v)
    a = np.zeros(4)
    out = [[None]]
    op.perform(node, [a, np.ones(2)], out)
    assert out[0][0] is a
    np.testing.assert_array_equal(a, [0, 1, 1, 0])
    aop = AdvancedIncSubtensor(("?",), inplace=True)
    i = T.lvector()
    node = aop.make_node(x, v, i)
    aop.perform(node, [a, np.ones(3), np.array([0, 0, 3])], out)
    np.testing.assert_array_equal(a, [2, 1, 1, 1])


# -- take -----------------------------------------------------------------------------------

def test_take_along_an_axis():
    x = T.tensor3()
    a = _data(SHAPE, "float64")
    i = T.lvector()
    m = T.lmatrix()
    cases = [((x, [0, 2, -1], 1), (a, [0, 2, -1], 1)), ((x, 3, -1), (a, 3, -1)),
             ((x, i, 0), (a, np.array([4, 4, 0]), 0)),
             ((x, m, 2), (a, np.array([[0, 6], [1, 1]]), 2))]
    for (xs, isym, ax), (xa, ival, _) in cases:
        y = T.take(xs, isym, axis=ax)
        inputs = [x] + ([isym] if not isinstance(isym, (int, list)) else [])
        values = [xa] + ([ival] if not isinstance(isym, (int, list)) else [])
        _check(y, _fn(inputs, y)(*values), np.take(xa, ival, axis=ax))


def test_take_flat_and_modes():
    x = T.matrix()
    a = _data((3, 4), "float64")
    for mode in ("raise", "wrap", "clip"):
        idx = [0, 5, 11] if mode == "raise" else [-13, 5, 40]
        y = T.take(x, idx, mode=mode)
        _check(y, _fn([x], y)(a), np.take(a, idx, mode=mode))
        z = T.take(x, idx, axis=1, mode=mode) if mode != "raise" else T.take(x, [1], axis=1)
        _check(z, _fn([x], z)(a), np.take(a, idx if mode != "raise" else [1], axis=1,
                                          mode=mode))


# -- errors ---------------------------------------------------------------------------------

def _build_error(cls, fn):
    with pytest.raises(cls) as info:
        fn()
    return str(info.value)


BUILD_ERRORS = [
    (IndexError, "Subtensor", lambda: T.tensor("float64", shape=(3, 4))[3]),
    (IndexError, "Subtensor", lambda: T.tensor("float64", shape=(3, 4))[:, -5]),
    (IndexError, "too many indices", lambda: T.vector()[1, 2]),
    (IndexError, "too many indices", lambda: T.vector()[M2]),
    (IndexError, "Subtensor", lambda: T.vector()[1.5]),
    (IndexError, "Subtensor", lambda: T.vector()[T.dscalar()]),
    (IndexError, "Subtensor", lambda: T.vector()[np.array([1.0])]),
    (IndexError, "Subtensor", lambda: T.vector()["a"]),
    (TypeError, "Subtensor", lambda: T.vector()[1.5:]),
    (TypeError, "Subtensor", lambda: T.vector()[:T.dscalar()]),
    (IndexError, "single ellipsis", lambda: T.matrix()[..., 1, ...]),
    (ValueError, "Subtensor", lambda: T.vector()[::0]),
    (IndexError, "AdvancedSubtensor",
     lambda: T.tensor("float64", shape=(3,))[np.array([True, False])]),
    (IndexError, "AdvancedSubtensor", lambda: T.matrix()[np.array([0, 1]), np.array([0, 1, 2])]),
    (IndexError, "AdvancedSubtensor", lambda: T.tensor("float64", shape=(3,))[[0, 3]]),
    (IndexError, "AdvancedSubtensor", lambda: T.tensor("float64", shape=(3,))[[-4]]),
    (TypeError, "set_subtensor", lambda: T.set_subtensor(T.vector() + 1, 0.0)),
    (TypeError, "inc_subtensor", lambda: T.inc_subtensor(T.vector(), 0.0)),
    (ValueError, "IncSubtensor", lambda: T.inc_subtensor(T.vector()[0], T.vector())),
    (ValueError, "SetSubtensor",
     lambda: T.set_subtensor(T.tensor("float64", shape=(5,))[1:3], T.tensor("float64", (3,)))),
    (ValueError, "AdvancedIncSubtensor",
     lambda: T.inc_subtensor(T.matrix()[[0, 1]], T.tensor("float64", shape=(3, 1, 1)))),
    (TypeError, "SetSubtensor", lambda: T.set_subtensor(T.lvector()[0], T.dscalar())),
    (TypeError, "SetSubtensor", lambda: T.set_subtensor(T.lvector()[0], 2.5)),
    (TypeError, "AdvancedIncSubtensor", lambda: T.inc_subtensor(T.bvector()[[0]], 300)),
]


@pytest.mark.parametrize("cls, name, make", BUILD_ERRORS)
def test_build_errors_name_the_op_and_the_user_line(cls, name, make):
    msg = _build_error(cls, make)
    assert name in msg
    assert HERE in msg, msg


def test_run_errors_name_the_op_and_the_user_line():
    x = T.vector()
    i, k = T.lscalars("i", "k")
    b = T.tensor("bool", shape=(None,))
    cases = [
        (IndexError, "Subtensor", [x], x[5], [np.zeros(3)]),
        (IndexError, "Subtensor", [x, i], x[i], [np.zeros(3), -4]),
        (ValueError, "Subtensor", [x, k], x[::k], [np.zeros(3), 0]),
        (IndexError, "AdvancedSubtensor", [x], x[[0, 3]], [np.zeros(3)]),
        (IndexError, "AdvancedSubtensor", [x, b], x[b], [np.zeros(3), np.ones(2, bool)]),
        (IndexError, "AdvancedIncSubtensor", [x], T.inc_subtensor(x[[0, 7]], 1.0),
         [np.zeros(3)]),
        (IndexError, "IncSubtensor", [x], T.inc_subtensor(x[7], 1.0), [np.zeros(3)]),
        (ValueError, "SetSubtensor", [x, i], T.set_subtensor(x[:i], x[:2]),
         [np.zeros(5), 3]),
    ]
    for cls, name, inputs, out, values in cases:
        f = _fn(inputs, out)
        with pytest.raises(cls) as info:
            f(*values)
        assert name in str(info.value) and HERE in str(info.value), str(info.value)


def test_size_one_value_must_be_declared_broadcastable():
    x = T.matrix()
    v = T.matrix()          # dims not declared broadcastable
    f = _fn([x, v], T.inc_subtensor(x[1:3], v))
    with pytest.raises(ValueError) as info:
        f(np.zeros((4, 3)), np.ones((1, 3)))
    assert "IncSubtensor" in str(info.value) and "broadcast" in str(info.value)
    # a size-1 value on a size-1 target is fine
    np.testing.assert_array_equal(f(np.zeros((4, 3)), np.ones((2, 3)))[1:3], np.ones((2, 3)))
    g = _fn([x, v], T.set_subtensor(x[1:2], v))
    np.testing.assert_array_equal(g(np.zeros((4, 3)), np.ones((1, 3)))[1], np.ones(3))


# -- gradients ------------------------------------------------------------------------------

def _run_lop(op_out, wrt_values, g_value):
    """The L_op of `op_out`'s node evaluated at the node's inputs and output gradient g."""
    node = op_out.owner
    g = T.tensor(str(g_value.dtype), shape=(None,) * g_value.ndim)
    grads = node.op.L_op(node.inputs, node.outputs, [g])
    data = [i for i in node.inputs if i.owner is None and not isinstance(i, T.TensorConstant)]
    kept = [k for k, gr in enumerate(grads) if gr is not None]
    f = _fn(data + [g], [grads[k] for k in kept], on_unused_input="ignore")
    return dict(zip(kept, f(*wrt_values, g_value))), grads


def test_subtensor_lop_scatters_into_zeros():
    x = T.dmatrix()
    a = _data((4, 3), "float64")
    for idx in [np.s_[1:3, ::-1], np.s_[None, -1], np.s_[2, 1], np.s_[[0, 0, 3]],
                np.s_[[0, 0, 1], [2, 2, 0]], np.s_[M2[:4, :3]], np.s_[:, [1, 1]]]:
        y = x[idx]
        gv = _data(a[idx].shape, "float64")
        got, grads = _run_lop(y, [a], gv)
        want = np.zeros_like(a)
        np.add.at(want, idx, gv)
        np.testing.assert_allclose(got[0], want)
        assert all(g is None for g in grads[1:])


def test_inc_and_set_lop():
    x, v = T.dmatrix(), T.dvector()
    a, b = _data((4, 3), "float64"), _data((3,), "float64")
    g = _data((4, 3), "float64")
    for idx in [np.s_[2], np.s_[[1, 1, 3], [0, 0, 2]]]:
        for set_ in (False, True):
            update = T.set_subtensor if set_ else T.inc_subtensor
            y = update(x[idx], v)
            got, grads = _run_lop(y, [a, b], g)
            want_x = g.copy()
            if set_:
                want_x[idx] = 0
            np.testing.assert_allclose(got[0], want_x)
            np.testing.assert_allclose(got[1], g[idx])
            assert all(gr is None for gr in grads[2:])


def test_no_gradient_for_integer_arrays():
    x = T.lmatrix()
    y = x[1:]
    assert y.owner.op.L_op(y.owner.inputs, [y], [T.lmatrix()]) == [None]
    z = T.inc_subtensor(x[[0]], T.lmatrix())
    assert z.owner.op.L_op(z.owner.inputs, [z], [T.lmatrix()]) == [None, None, None]


GRAD_CASES = [
    ("basic", lambda x: x[1:3, ::-1], [(4, 3)]),
    ("newaxis and int", lambda x: x[None, -1, ..., ::2], [(4, 3)]),
    ("0-d result", lambda x: x[2, 1], [(4, 3)]),
    ("repeated rows", lambda x: x[[0, 0, 2]], [(4, 3)]),
    ("pairs", lambda x: x[[0, 0, 1], [1, 1, 2]], [(4, 3)]),
    ("mask", lambda x: x[M2[:4, :3]], [(4, 3)]),
    ("mixed", lambda x: x[::-1, [2, 0, 2]], [(4, 3)]),
    ("inc basic", lambda x, v: T.inc_subtensor(x[1, :], v), [(4, 3), (3,)]),
    ("set basic", lambda x, v: T.set_subtensor(x[1:3], v), [(4, 3), (2, 3)]),
    ("inc repeated", lambda x, v: T.inc_subtensor(x[[0, 3, 0]], v), [(4, 3), (3, 3)]),
    ("set advanced", lambda x, v: T.set_subtensor(x[[0, 1], [2, 0]], v), [(4, 3), (2,)]),
    ("inc mask", lambda x, v: T.inc_subtensor(x[M2[:4, :3]], v),
     [(4, 3), (int(M2[:4, :3].sum()),)]),
]


@pytest.mark.parametrize("name, fun, shapes", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_verify_grad(name, fun, shapes):
    pt = [RNG.uniform(-1, 1, size=s) for s in shapes]
    verify_grad(fun, pt, rng=np.random.default_rng(1))


@pytest.mark.parametrize("set_", [False, True], ids=["inc", "set"])
def test_verify_grad_broadcast_value(set_):
    update = T.set_subtensor if set_ else T.inc_subtensor
    verify_grad(lambda x, v: update(x[1:3], v), [RNG.random((4, 3)), RNG.random((1, 3))],
                rng=np.random.default_rng(2))
    # repeated indices for inc only: with set the last write wins, and the gradient of v
    # (g[idx], as Theano's) does not know which write that was
    idx = [0, 2, 1] if set_ else [0, 2, 2]
    verify_grad(lambda x, v: update(x[idx], v), [RNG.random((4, 3)), RNG.random(3)],
                rng=np.random.default_rng(3))
    verify_grad(lambda x, v: update(x[:, 0], v), [RNG.random((4, 3)), RNG.random(())],
                rng=np.random.default_rng(4))


def test_grad_with_symbolic_index():
    x = T.dvector()
    i = T.lscalar()
    g = grad(x[i] * 3.0, x)
    np.testing.assert_array_equal(_fn([x, i], g)(np.ones(4), -1), [0, 0, 0, 3.0])
    idx = T.lvector()
    picked = x[idx]
    g2 = grad(picked[0] * 2.0 + picked[2] * picked[1], x)   # x[1] * 2 + x[3] * x[1]
    got = _fn([x, idx], g2)(np.arange(4.0), np.array([1, 1, 3]))
    np.testing.assert_array_equal(got, [0, 2.0 + 3.0, 0, 1.0])


def test_rop():
    x, ex = T.dmatrix(), T.dmatrix()
    v, ev = T.dvector(), T.dvector()
    a, ea = _data((4, 3), "float64"), _data((4, 3), "float64")
    b, eb = _data((3,), "float64"), _data((3,), "float64")
    r = Rop(x[::-2, [0, 2, 0]], x, ex)
    np.testing.assert_allclose(_fn([x, ex], r, on_unused_input="ignore")(a, ea), ea[::-2, [0, 2, 0]])
    y = T.inc_subtensor(x[[1, 1]], v)
    r2 = Rop(y, [x, v], [ex, ev])
    want = ea.copy()
    np.add.at(want, [1, 1], eb)
    np.testing.assert_allclose(_fn([x, v, ex, ev], r2, on_unused_input="ignore")(a, b, ea, eb), want)


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "FAST_RUN"])
def test_other_modes_agree_with_numpy(mode):
    x = T.matrix()
    i = T.lvector()
    k = T.lscalar()
    y = T.inc_subtensor(x[i], T.exp(x[1:k, ::-1][0])) * 2 + x[x > 0].sum()
    f = symgraph.function([x, i, k], [y, T.set_subtensor(x[:, None, 1], 0.5)], mode=mode)
    a = _data((4, 3), symgraph.config.floatX)
    idx = np.array([0, 0, 2])
    want = a.copy()
    np.add.at(want, idx, np.exp(a[1:3, ::-1][0]))
    want = want * 2 + a[a > 0].sum()
    got, got2 = f(a, idx, 3)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    want2 = a.copy()
    want2[:, None, 1] = 0.5
    np.testing.assert_array_equal(got2, want2)
