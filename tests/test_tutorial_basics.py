"""The first sections of Theano's tutorial, with `theano` renamed to `symgraph`.

"Baby steps - algebra" and "More examples" (logistic function, computing several things at
once, default values, shared variables, givens), written as the tutorial writes them, with
the values the tutorial prints. ("Using random numbers" is covered with the random streams.)
"""
import numpy
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph import In, function, pp, shared


# -- Baby steps: algebra ----------------------------------------------------------------------

def test_adding_two_scalars():
    x = T.dscalar("x")
    y = T.dscalar("y")
    z = x + y
    f = function([x, y], z)

    out = f(2, 3)
    assert isinstance(out, numpy.ndarray) and out.shape == () and out.dtype == numpy.float64
    assert out == numpy.array(5.0)
    assert numpy.allclose(f(16.3, 12.1), 28.4)
    assert numpy.allclose(z.eval({x: 16.3, y: 12.1}), 28.4)

    assert isinstance(x, T.TensorVariable)
    assert x.type == T.TensorType("float64", ())
    assert x.type == T.dscalar().type
    assert x.type.dtype == "float64" and x.type.broadcastable == ()
    assert pp(z) == "(x + y)"


def test_adding_two_matrices():
    x = T.dmatrix("x")
    y = T.dmatrix("y")
    z = x + y
    f = function([x, y], z)

    want = numpy.array([[11.0, 22.0], [33.0, 44.0]])
    out = f([[1, 2], [3, 4]], [[10, 20], [30, 40]])
    assert out.dtype == numpy.float64
    numpy.testing.assert_array_equal(out, want)
    out = f(numpy.array([[1, 2], [3, 4]]), numpy.array([[10, 20], [30, 40]]))
    numpy.testing.assert_array_equal(out, want)


def test_exercise_a_plus_a_to_the_tenth():
    a = theano.tensor.vector()  # declare variable
    out = a + a ** 10  # build symbolic expression
    f = theano.function([a], out)  # compile function
    numpy.testing.assert_array_equal(f([0, 1, 2]), [0.0, 2.0, 1026.0])


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32", "int64"])
def test_exercise_square_of_a_sum(dtype):
    # the exercise: modify the code above to compute a ** 2 + b ** 2 + 2 * a * b
    a = T.vector("a", dtype=dtype)
    b = T.vector("b", dtype=dtype)
    out = a ** 2 + b ** 2 + 2 * a * b
    f = theano.function([a, b], out)
    av = numpy.array([0, 1, 2, -3], dtype=dtype)
    bv = numpy.array([4, 5, -6, 7], dtype=dtype)
    got = f(av, bv)
    want = av ** 2 + bv ** 2 + 2 * av * bv
    assert got.dtype == want.dtype == numpy.dtype(out.dtype)
    numpy.testing.assert_array_equal(got, want)
    numpy.testing.assert_array_equal(got, (av + bv) ** 2)


# -- More examples: logistic function --------------------------------------------------------

LOGISTIC_IN = [[0, 1], [-1, -2]]
LOGISTIC_OUT = numpy.array([[0.5, 0.73105858], [0.26894142, 0.11920292]])


def test_logistic_function():
    x = T.dmatrix("x")
    s = 1 / (1 + T.exp(-x))
    logistic = theano.function([x], s)
    out = logistic(LOGISTIC_IN)
    numpy.testing.assert_allclose(out, LOGISTIC_OUT, rtol=1e-7)
    numpy.testing.assert_allclose(out, 1 / (1 + numpy.exp(-numpy.array(LOGISTIC_IN))),
                                  rtol=1e-15)


def test_logistic_function_with_tanh():
    x = T.dmatrix("x")
    s2 = (1 + T.tanh(x / 2)) / 2
    logistic2 = theano.function([x], s2)
    numpy.testing.assert_allclose(logistic2(LOGISTIC_IN), LOGISTIC_OUT, rtol=1e-7)
    s = 1 / (1 + T.exp(-x))
    logistic = theano.function([x], s)
    v = numpy.random.default_rng(0).standard_normal((5, 4)) * 4
    numpy.testing.assert_allclose(logistic2(v), logistic(v), rtol=1e-12)


# -- Computing more than one thing at the same time -------------------------------------------

def test_computing_several_things_at_once():
    a, b = T.dmatrices("a", "b")
    diff = a - b
    abs_diff = abs(diff)
    diff_squared = diff ** 2
    f = theano.function([a, b], [diff, abs_diff, diff_squared])
    out = f([[1, 1], [1, 1]], [[0, 1], [2, 3]])
    assert isinstance(out, list) and len(out) == 3
    numpy.testing.assert_array_equal(out[0], [[1.0, 0.0], [-1.0, -2.0]])
    numpy.testing.assert_array_equal(out[1], [[1.0, 0.0], [1.0, 2.0]])
    numpy.testing.assert_array_equal(out[2], [[1.0, 0.0], [1.0, 4.0]])
    assert all(o.dtype == numpy.float64 for o in out)


# -- Setting a default value for an argument --------------------------------------------------

def test_default_value():
    x, y = T.dscalars("x", "y")
    z = x + y
    f = function([x, In(y, value=1)], z)
    assert f(33) == numpy.array(34.0)
    assert f(33, 2) == numpy.array(35.0)


def test_default_values_and_names():
    x, y, w = T.dscalars("x", "y", "w")
    z = (x + y) * w
    f = function([x, In(y, value=1), In(w, value=2, name="w_by_name")], z)
    assert f(33) == numpy.array(68.0)
    assert f(33, 2) == numpy.array(70.0)
    assert f(33, 0, 1) == numpy.array(33.0)
    assert f(33, w_by_name=1) == numpy.array(34.0)
    assert f(33, w_by_name=1, y=0) == numpy.array(33.0)


# -- Using shared variables ----------------------------------------------------------------------

def test_shared_variables_accumulator_decrementor_and_givens():
    state = shared(0)
    inc = T.iscalar("inc")
    accumulator = function([inc], state, updates=[(state, state + inc)])

    assert state.get_value() == 0
    assert accumulator(1) == numpy.array(0)
    assert state.get_value() == 1
    assert accumulator(300) == numpy.array(1)
    assert state.get_value() == 301

    state.set_value(-1)
    assert accumulator(3) == numpy.array(-1)
    assert state.get_value() == 2

    decrementor = function([inc], state, updates=[(state, state - inc)])
    assert decrementor(2) == numpy.array(2)
    assert state.get_value() == 0

    fn_of_state = state * 2 + inc
    # The type of foo must match the shared variable we are replacing with the ``givens``
    foo = T.scalar(dtype=state.dtype)
    skip_shared = function([inc, foo], fn_of_state, givens=[(state, foo)])
    assert skip_shared(1, 3) == numpy.array(7)  # we're using 3 for the state, not state.value
    assert state.get_value() == 0  # old state still there, but we didn't use it

    assert state.dtype == "int64"
    out = accumulator(5)
    assert out.dtype == numpy.int64 and state.get_value().dtype == numpy.int64


def test_shared_variables_with_theano_namespace_names():
    # the same accumulator written through the module names a Theano script uses
    state = theano.shared(numpy.float64(0.0), name="state")
    inc = theano.tensor.dscalar("inc")
    acc = theano.function([inc], state, updates=[(state, state + inc)])
    for k in range(1, 5):
        acc(k)
    assert state.get_value() == 10.0
