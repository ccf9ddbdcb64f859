"""fill_beside_its_shape: f(fill(x, c), x) -> f(c, x) (x, read by f, gives the shape: the
gradient of x**2 is fill(x, 2) * x); left alone when only another input of the same static
shape is there (it may differ at run time, where f must fail)."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from rewrite_helpers import RNG, check_against_py, op_names, reasons


@pytest.mark.parametrize("shape", [(4,), (2, 3), (1, 5)])
def test_fill_next_to_its_shape_is_the_constant(shape):
    x = T.tensor("float64", shape=(None,) * len(shape), name="x")
    out = T.second(x, 2.0) * x + (T.second(x, np.float64(1.5)) - x)
    fns = check_against_py([x], out, [RNG.normal(size=shape)], rtol=1e-12)
    f = fns["FAST_RUN"]
    assert "fill_beside_its_shape" in reasons(f)
    assert "Second" not in op_names(f)


def test_gradient_of_a_square():
    x = T.dvector("x")
    g = symgraph.gradient.grad(T.sum(T.tanh(x) ** 2), x)
    fns = check_against_py([x], g, [RNG.normal(size=6)], rtol=1e-12)
    assert "Second" not in op_names(fns["FAST_RUN"])


def test_left_alone_without_the_shape_giving_input():
    x, y = T.dvector("x"), T.dvector("y")
    f = symgraph.function([x, y], T.second(x, 2.0) * y)
    assert "fill_beside_its_shape" not in reasons(f)
    # the lengths differ: an error, as in mode 'py'
    for mode in ("py", "FAST_RUN"):
        g = symgraph.function([x, y], T.second(x, 2.0) * y, mode=mode)
        with pytest.raises(ValueError):
            g(np.ones(3), np.ones(4))


def test_dtypes_follow_the_fill():
    x = T.fvector("x")
    out = T.second(x, np.float64(3.0)) * x      # fill gives float64: the product is float64
    fns = check_against_py([x], out, [RNG.normal(size=4).astype("float32")], rtol=1e-6)
    assert fns["FAST_RUN"](np.ones(4, "float32")).dtype == np.float64
