"""symgraph.function: outputs, In/Out, givens, updates, unused inputs, downcasting, aliasing."""
import pickle
import warnings

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph import In, Out, function
from symgraph.compile.function import UnusedInputError

MODE = "py"


def fn(*args, **kwargs):
    kwargs.setdefault("mode", MODE)
    return function(*args, **kwargs)


# -- outputs ------------------------------------------------------------------------------

def test_single_output_returns_an_array():
    x, y = T.dscalars("x", "y")
    f = fn([x, y], x + y)
    r = f(2, 3)
    assert isinstance(r, np.ndarray) and r.dtype == np.float64 and r.shape == ()
    assert r == 5.0


@pytest.mark.parametrize("container", [list, tuple])
def test_list_of_outputs_returns_a_list(container):
    x = T.dvector("x")
    f = fn([x], container([x * 2, x - 1, T.exp(x)]))
    v = np.array([0.5, -1.0, 2.0])
    out = f(v)
    assert isinstance(out, list) and len(out) == 3
    np.testing.assert_allclose(out[0], v * 2)
    np.testing.assert_allclose(out[1], v - 1)
    np.testing.assert_allclose(out[2], np.exp(v))


def test_one_element_list_returns_a_list():
    x = T.dvector("x")
    out = fn([x], [x + 1])(np.zeros(2))
    assert isinstance(out, list) and len(out) == 1
    np.testing.assert_array_equal(out[0], [1.0, 1.0])


def test_dict_of_outputs_returns_a_dict_with_the_same_keys():
    x = T.dmatrix("x")
    f = fn([x], {"double": x * 2, "neg": -x, 3: x - 1})
    v = np.arange(6.0).reshape(2, 3)
    out = f(v)
    assert isinstance(out, dict) and list(out) == ["double", "neg", 3]
    np.testing.assert_array_equal(out["double"], v * 2)
    np.testing.assert_array_equal(out["neg"], -v)
    np.testing.assert_array_equal(out[3], v - 1)


def test_no_outputs_returns_an_empty_list():
    x = T.dscalar("x")
    s = symgraph.shared(0.0, name="s")
    f = fn([x], [], updates=[(s, s + x)])
    assert f(2.0) == []
    assert s.get_value() == 2.0


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "bool"])
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 0, 4), (2, 3)])
def test_identity_and_arithmetic_over_dtypes_and_shapes(dtype, shape):
    rng = np.random.default_rng(len(shape))
    x = T.tensor(dtype, shape=(None,) * len(shape), name="x")
    v = (rng.standard_normal(shape) * 5).astype(dtype)
    out = x * x if dtype != "bool" else T.and_(x, x)
    f = fn([x], [x, out])
    ident, sq = f(v)
    want = v * v if dtype != "bool" else v & v
    assert ident.dtype == v.dtype and ident.shape == v.shape
    np.testing.assert_array_equal(ident, v)
    assert sq.dtype == want.dtype == np.dtype(out.dtype) and sq.ndim == out.ndim
    np.testing.assert_array_equal(sq, want)


# -- In: defaults and names ---------------------------------------------------------------

def test_in_default_and_keyword_names():
    x, y, w = T.dscalars("x", "y", "w")
    z = (x + y) * w
    f = fn([x, In(y, value=1), In(w, value=2, name="w_by_name")], z)
    assert f(33) == 68.0
    assert f(33, 2) == 70.0
    assert f(33, 0, 1) == 33.0
    assert f(33, w_by_name=1) == 34.0
    assert f(33, w_by_name=1, y=0) == 33.0
    assert f(x=1, y=1, w_by_name=1) == 2.0


def test_in_default_zero_is_a_default():
    x, y = T.dscalars("x", "y")
    f = fn([x, In(y, value=0.0)], x + y)
    assert f(5.0) == 5.0


def test_missing_input_without_default_is_named():
    x, y = T.dscalars("x", "y")
    f = fn([x, In(y, value=1.0)], x + y)
    with pytest.raises(TypeError, match=r"missing input 0 \(x\)"):
        f()
    with pytest.raises(TypeError, match="has no input named 'q'"):
        f(1.0, q=2.0)
    with pytest.raises(TypeError, match="both by position and by name"):
        f(1.0, 2.0, y=3.0)
    with pytest.raises(TypeError, match="takes 2 inputs, got 3"):
        f(1.0, 2.0, 3.0)


def test_in_requires_a_variable():
    with pytest.raises(TypeError, match="symbolic variable"):
        In(3.0)


def test_inputs_must_be_a_list_and_not_constants_or_repeated():
    x = T.dscalar("x")
    with pytest.raises(TypeError, match="list"):
        fn(x, x + 1)
    with pytest.raises(TypeError, match="constant"):
        fn([T.constant(1.0)], x, on_unused_input="ignore")
    with pytest.raises(ValueError, match="given twice"):
        fn([x, x], x + 1)


def test_output_depending_on_a_missing_input_is_refused():
    x, y = T.dscalars("x", "y")
    with pytest.raises(Exception, match=r"depend on y .*not among the inputs"):
        fn([x], x + y)


# -- Out(borrow) and aliasing --------------------------------------------------------------

def test_output_that_is_an_input_is_a_copy():
    x = T.dvector("x")
    v = np.arange(3.0)
    r = fn([x], x)(v)
    assert r is not v and not np.shares_memory(r, v)
    r[0] = 100.0
    assert v[0] == 0.0


def test_out_borrow_may_return_the_input_itself():
    x = T.dvector("x")
    v = np.arange(3.0)
    r = fn([x], Out(x, borrow=True))(v)
    assert r is v


def test_output_never_aliases_a_constant():
    c = T.constant(np.arange(4.0))
    f = fn([], c)
    r1 = f()
    assert not np.shares_memory(r1, c.data)
    r1[:] = -1
    np.testing.assert_array_equal(f(), np.arange(4.0))
    np.testing.assert_array_equal(c.data, np.arange(4.0))


def test_the_same_variable_twice_gives_two_arrays():
    x = T.dvector("x")
    y = x * 2
    a, b = fn([x], [y, y])(np.ones(3))
    assert not np.shares_memory(a, b)
    a[0] = 7
    assert b[0] == 2.0


def test_output_that_is_a_shared_variable_is_a_copy():
    s = symgraph.shared(np.arange(3.0), name="s")
    r = fn([], s)()
    r[:] = 9.0
    np.testing.assert_array_equal(s.get_value(), np.arange(3.0))


def test_successive_calls_do_not_share_output_storage():
    x = T.dvector("x")
    f = fn([x], x + 1)
    a = f(np.zeros(2))
    b = f(np.ones(2))
    np.testing.assert_array_equal(a, [1.0, 1.0])
    np.testing.assert_array_equal(b, [2.0, 2.0])


def test_inputs_are_not_modified():
    x = T.dvector("x")
    v = np.array([1.0, 2.0, 3.0])
    keep = v.copy()
    f = fn([x], [x * 2, T.exp(x) + x, -x])
    f(v)
    np.testing.assert_array_equal(v, keep)


# -- givens ---------------------------------------------------------------------------------

def test_givens_replace_a_variable_by_an_expression():
    x, y = T.dscalars("x", "y")
    z = x * 2 + 1
    f = fn([y], z, givens={x: y ** 2})
    assert f(3.0) == 19.0
    # the original graph is untouched
    assert fn([x], z)(3.0) == 7.0


def test_givens_as_a_list_of_pairs_and_replacing_a_shared_variable():
    s = symgraph.shared(np.array(10.0), name="s")
    y = T.dscalar("y")
    f = fn([y], s * 2 + y, givens=[(s, y)])
    assert f(1.5) == 4.5
    assert s.get_value() == 10.0


def test_givens_with_a_different_type_is_refused():
    x = T.dvector("x")
    m = T.dmatrix("m")
    with pytest.raises(TypeError, match="cannot be replaced"):
        fn([m], x + 1, givens={x: m})


def test_givens_keys_must_be_variables():
    x = T.dscalar("x")
    with pytest.raises(TypeError, match="keys must be variables"):
        fn([x], x + 1, givens={3.0: x})


# -- updates -------------------------------------------------------------------------------

@pytest.mark.parametrize("as_dict", [False, True])
def test_updates_swap_two_shared_variables(as_dict):
    a = symgraph.shared(np.array([1.0, 2.0]), name="a")
    b = symgraph.shared(np.array([3.0, 4.0]), name="b")
    ups = {a: b, b: a} if as_dict else [(a, b), (b, a)]
    f = fn([], [a, b], updates=ups)
    before = f()
    np.testing.assert_array_equal(before[0], [1.0, 2.0])
    np.testing.assert_array_equal(before[1], [3.0, 4.0])
    np.testing.assert_array_equal(a.get_value(), [3.0, 4.0])
    np.testing.assert_array_equal(b.get_value(), [1.0, 2.0])
    f()
    np.testing.assert_array_equal(a.get_value(), [1.0, 2.0])
    np.testing.assert_array_equal(b.get_value(), [3.0, 4.0])


def test_updates_all_read_old_values():
    a = symgraph.shared(np.array(1.0), name="a")
    b = symgraph.shared(np.array(10.0), name="b")
    x = T.dscalar("x")
    f = fn([x], a + b, updates=[(a, a + x), (b, a * b)])
    out = f(5.0)
    assert out == 11.0  # outputs see the values before the call
    assert a.get_value() == 6.0
    assert b.get_value() == 10.0  # 1 * 10: the old a, not the new one


def test_update_output_is_the_old_value_and_a_copy():
    s = symgraph.shared(np.zeros(3), name="s")
    f = fn([], s, updates=[(s, s + 1)])
    r0 = f()
    r1 = f()
    np.testing.assert_array_equal(r0, np.zeros(3))
    np.testing.assert_array_equal(r1, np.ones(3))
    r1[:] = 50
    np.testing.assert_array_equal(s.get_value(), np.full(3, 2.0))


def test_update_to_itself_and_to_a_constant():
    s = symgraph.shared(np.arange(3.0), name="s")
    f = fn([], [], updates=[(s, s)])
    f()
    np.testing.assert_array_equal(s.get_value(), np.arange(3.0))
    t = symgraph.shared(np.arange(3.0), name="t")
    g = fn([], [], updates=[(t, T.constant(np.ones(3)))])
    g()
    v = t.get_value(borrow=True)
    v[0] = 5.0  # writing to the stored value must not change the graph's constant
    g()
    np.testing.assert_array_equal(t.get_value(), np.ones(3))


def test_updates_must_target_shared_variables_once_with_the_same_type():
    s = symgraph.shared(np.zeros(2), name="s")
    x = T.dvector("x")
    with pytest.raises(TypeError, match="only change shared variables"):
        fn([x], [], updates=[(x, x + 1)])
    with pytest.raises(ValueError, match="updated twice"):
        fn([], [], updates=[(s, s + 1), (s, s * 2)])
    with pytest.raises(TypeError, match=r"update of s has type .*float32"):
        fn([], [], updates=[(s, T.cast(s, "float32"))])
    with pytest.raises(TypeError, match="pair"):
        fn([], [], updates=[s])


def test_update_with_matching_dtype_and_more_precise_shape_is_accepted():
    s = symgraph.shared(np.zeros((2, 3)), name="s")
    row = T.tensor("float64", shape=(1, 3), name="row")
    f = fn([row], [], updates=[(s, s + row)])
    f(np.ones((1, 3)))
    np.testing.assert_array_equal(s.get_value(), np.ones((2, 3)))


def test_shared_variable_used_by_two_functions():
    s = symgraph.shared(np.array(0), name="s")
    inc = T.lscalar("inc")
    up = fn([inc], [], updates=[(s, s + inc)])
    read = fn([], s * 10)
    up(3)
    up(4)
    assert read() == 70


# -- unused inputs ---------------------------------------------------------------------------

def test_unused_input_raises_by_default():
    x, y = T.dscalars("x", "y")
    with pytest.raises(UnusedInputError, match=r"input 1 \(y\) is not part of the graph"):
        fn([x, y], x * 2)


def test_unused_input_warn_and_ignore():
    x, y = T.dscalars("x", "y")
    with pytest.warns(UserWarning, match=r"input 1 \(y\)"):
        f = fn([x, y], x * 2, on_unused_input="warn")
    assert f(2.0, 100.0) == 4.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = fn([x, y], x * 2, on_unused_input="ignore")
    assert g(2.0, 100.0) == 4.0
    with pytest.raises(TypeError, match="takes 2 inputs, got 1|missing input 1"):
        g(2.0)


def test_unused_input_policy_is_checked():
    x = T.dscalar("x")
    with pytest.raises(ValueError, match="on_unused_input"):
        fn([x], x, on_unused_input="sometimes")


def test_input_used_only_through_an_update_is_used():
    s = symgraph.shared(0.0, name="s")
    x = T.dscalar("x")
    f = fn([x], [], updates=[(s, x)])
    f(4.0)
    assert s.get_value() == 4.0


# -- input conversion ------------------------------------------------------------------------

def test_python_scalars_and_lists_as_inputs():
    x = T.dmatrix("x")
    n = T.iscalar("n")
    b = T.bvector("b")
    f = fn([x, n, b], [x * n, b + 1])
    out, bout = f([[1, 2], [3, 4]], 3, [1, -2, 3])
    np.testing.assert_array_equal(out, [[3.0, 6.0], [9.0, 12.0]])
    assert out.dtype == np.float64
    assert bout.dtype == np.int8
    np.testing.assert_array_equal(bout, [2, -1, 4])


def test_python_int_too_large_for_the_dtype_is_refused():
    b = T.bscalar("b")
    f = fn([b], b + 1)
    with pytest.raises(TypeError, match=r"input 0 \(b\)"):
        f(300)


def test_python_float_goes_to_floatx_but_not_to_an_int():
    x = T.fscalar("x")
    i = T.iscalar("i")
    f = fn([x, i], x * i)
    with pytest.raises(TypeError, match=r"input 0 \(x\).*allow_input_downcast"):
        f(0.1, 2)  # 0.1 is not exact in float32, and floatX is float64
    assert f(0.5, 2) == 1.0  # exact in float32
    with pytest.raises(TypeError, match=r"input 1 \(i\)"):
        f(0.5, 2.5)


def test_allow_input_downcast():
    x = T.fvector("x")
    i = T.ivector("i")
    f = fn([x, i], [x * 2, i * 2])
    with pytest.raises(TypeError, match=r"input 0 \(x\).*float64 would lose precision"):
        f(np.arange(3.0), np.arange(3, dtype=np.int32))
    with pytest.raises(TypeError, match=r"input 1 \(i\).*int64 would lose precision"):
        f(np.arange(3.0, dtype=np.float32), np.arange(3, dtype=np.int64))
    g = fn([x, i], [x * 2, i * 2], allow_input_downcast=True)
    xo, io = g(np.array([0.1, 1e10]), np.array([1, 2**40 + 3], dtype=np.int64))
    assert xo.dtype == np.float32 and io.dtype == np.int32
    np.testing.assert_array_equal(xo, np.array([0.1, 1e10], dtype=np.float32) * 2)
    np.testing.assert_array_equal(io, np.array([1, 2**40 + 3]).astype(np.int32) * 2)
    xo, _ = g([0.1, 0.2], [1.7, 2.2])
    assert xo.dtype == np.float32


def test_allow_downcast_per_input():
    x = T.fvector("x")
    y = T.fvector("y")
    f = fn([In(x, allow_downcast=True), y], x + y)
    out = f(np.array([0.5, 0.25]), np.array([1.0, 1.0], dtype=np.float32))
    assert out.dtype == np.float32
    with pytest.raises(TypeError, match=r"input 1 \(y\)"):
        f(np.zeros(2, np.float32), np.zeros(2))


def test_upcasting_inputs_is_always_allowed():
    x = T.dvector("x")
    f = fn([x], x * 2)
    for dt in ("float32", "int8", "int32", "uint16", "bool"):
        out = f(np.ones(2, dtype=dt))
        assert out.dtype == np.float64
        np.testing.assert_array_equal(out, [2.0, 2.0])


# -- eval, name, pickling, misc -----------------------------------------------------------------

def test_eval_with_and_without_inputs():
    x, y = T.dscalars("x", "y")
    z = x + y
    assert np.isclose(z.eval({x: 16.3, y: 12.1}), 28.4)
    assert (z * 0 + 3).eval({x: 1.0, y: 2.0}) == 3.0
    assert T.constant(np.arange(3)).eval().tolist() == [0, 1, 2]
    s = symgraph.shared(np.array([1.0, 2.0]), name="s")
    np.testing.assert_array_equal((s * 2).eval(), [2.0, 4.0])
    # the compiled function is reused for the same set of inputs
    assert z.eval({x: 1.0, y: 1.0}) == 2.0
    assert z.eval({y: 5.0, x: 1.0}) == 6.0


def test_eval_with_a_missing_input_names_it():
    x, y = T.dscalars("x", "y")
    with pytest.raises(Exception, match="y"):
        (x + y).eval({x: 1.0})


def test_function_name_appears_in_errors():
    x = T.dvector("x")
    f = fn([x], x + 1, name="my_step")
    with pytest.raises(TypeError, match="function 'my_step': input 0 \\(x\\)"):
        f(np.zeros((2, 2)))


def test_maker_fgraph_holds_inputs_and_outputs():
    x = T.dvector("x")
    s = symgraph.shared(np.zeros(2), name="s")
    f = fn([x], x + s, updates=[(s, s + x)])
    fg = f.maker.fgraph
    # a private copy of the graph: the copies of x and s are its inputs
    assert fg.memo[x] is fg.inputs[0] and fg.memo[s] is fg.inputs[1]
    assert fg.inputs[0].type == x.type and fg.inputs[0].name == "x"
    assert len(fg.outputs) == 2  # the output, then the update
    assert fg.outputs[0].owner.op == T.add


def test_pickled_function_runs_and_keeps_shared_state():
    x = T.dvector("x")
    s = symgraph.shared(np.array([1.0, 2.0]), name="s")
    f = fn([x], x * s, updates=[(s, s + 1)])
    f(np.ones(2))
    g = pickle.loads(pickle.dumps(f))
    np.testing.assert_array_equal(g(np.ones(2)), [2.0, 3.0])
    np.testing.assert_array_equal(f(np.ones(2)), [2.0, 3.0])


def test_modes_all_run():
    x = T.dvector("x")
    for mode in ("py", "FAST_COMPILE", "FAST_RUN", "DebugMode", symgraph.Mode("py"), None):
        f = function([x], T.exp(x) * 2, mode=mode)
        np.testing.assert_allclose(f([0.0, 1.0]), np.exp([0.0, 1.0]) * 2)
    with pytest.raises(ValueError, match="unknown mode"):
        function([x], x + 1, mode="FASTEST")


@pytest.mark.parametrize("mode", ["py", "FAST_COMPILE", "FAST_RUN", "DebugMode"])
def test_aliasing_and_updates_in_every_mode(mode):
    x = T.dvector("x")
    a = symgraph.shared(np.array([1.0, 2.0]), name="a")
    b = symgraph.shared(np.array([3.0, 4.0]), name="b")
    c = T.constant(np.array([5.0, 6.0]))
    f = function([x], [x, c, a, T.exp(x) * a], updates=[(a, b), (b, a + x)], mode=mode)
    v = np.array([0.5, -0.5])
    out_x, out_c, out_a, out_e = f(v)
    assert not np.shares_memory(out_x, v) and not np.shares_memory(out_c, c.data)
    np.testing.assert_array_equal(out_a, [1.0, 2.0])
    np.testing.assert_allclose(out_e, np.exp(v) * [1.0, 2.0], rtol=1e-15)
    np.testing.assert_array_equal(a.get_value(), [3.0, 4.0])
    np.testing.assert_array_equal(b.get_value(), [1.5, 1.5])
    out_a[:] = 0.0
    out_x[:] = 0.0
    np.testing.assert_array_equal(a.get_value(), [3.0, 4.0])
    np.testing.assert_array_equal(v, [0.5, -0.5])
