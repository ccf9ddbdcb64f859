"""The Theano tutorial "Derivatives in Theano", with the imports renamed
(theano -> symgraph, theano.tensor -> symgraph.tensor) and the tutorial's printed values.

The tutorial builds its Jacobian and Hessian with scan over T.grad(y[i], x); it names
theano.gradient.jacobian() and hessian() as the ready-made alternatives, used here.
"""
import numpy
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph import pp


def test_gradient_of_x_squared():
    x = T.dscalar('x')
    y = x ** 2
    gy = T.grad(y, x)
    assert "x" in pp(gy)  # the tutorial prints the unoptimized gradient graph
    f = theano.function([x], gy)
    assert f(4) == numpy.array(8.0)
    assert numpy.allclose(f(94.2), 188.4)


def test_logistic_gradient():
    x = T.dmatrix('x')
    s = T.sum(1 / (1 + T.exp(-x)))
    gs = T.grad(s, x)
    dlogistic = theano.function([x], gs)
    out = dlogistic([[0, 1], [-1, -2]])
    numpy.testing.assert_allclose(out, [[0.25, 0.19661193],
                                        [0.19661193, 0.10499359]], rtol=1e-7)


def test_jacobian():
    x = T.dvector('x')
    y = x ** 2
    J = theano.gradient.jacobian(y, x)
    f = theano.function([x], J)
    numpy.testing.assert_array_equal(f([4, 4]), [[8., 0.], [0., 8.]])


def test_hessian():
    x = T.dvector('x')
    y = x ** 2
    cost = y.sum()
    H = theano.gradient.hessian(cost, x)
    f = theano.function([x], H)
    numpy.testing.assert_array_equal(f([4, 4]), [[2., 0.], [0., 2.]])


def test_r_operator():
    W = T.dmatrix('W')
    V = T.dmatrix('V')
    x = T.dvector('x')
    y = T.dot(x, W)
    JV = T.Rop(y, W, V)
    f = theano.function([W, V, x], JV)
    numpy.testing.assert_array_equal(f([[1, 1], [1, 1]], [[2, 2], [2, 2]], [0, 1]), [2., 2.])


def test_l_operator():
    W = T.dmatrix('W')
    v = T.dvector('v')
    x = T.dvector('x')
    y = T.dot(x, W)
    VJ = T.Lop(y, W, v)
    f = theano.function([v, x], VJ)
    numpy.testing.assert_array_equal(f([2, 2], [0, 1]), [[0., 0.], [2., 2.]])


@pytest.mark.parametrize("way", ["grad", "Rop"])
def test_hessian_times_vector(way):
    x = T.dvector('x')
    v = T.dvector('v')
    y = T.sum(x ** 2)
    gy = T.grad(y, x)
    if way == "grad":
        vH = T.grad(T.sum(gy * v), x)
    else:
        vH = T.Rop(gy, x, v)
    f = theano.function([x, v], vH)
    numpy.testing.assert_array_equal(f([4, 4], [2, 2]), [4., 4.])
