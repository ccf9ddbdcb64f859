"""The gemm rewrite leaves z + dot(x, y) alone when the product broadcasts against z (found
by the C fuzz campaign, seed 5298: a (1,) product added to a (2,) vector made a Gemm whose
build failed, a RewriteWarning)."""
import warnings

import numpy as np

import symgraph
import symgraph.tensor as T
from symgraph.ops.blas import Gemm
from symgraph.opt.engine import RewriteWarning
from symgraph.types import TensorType


def test_broadcasting_product_is_no_gemm_and_no_warning():
    x = TensorType("float64", (1, 1))("x")
    y = T.dvector("y")
    z = TensorType("float64", (2,))("z")
    out = z + 2.0 * T.dot(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RewriteWarning)
        f = symgraph.function([x, y, z], out, mode="FAST_RUN")
    assert not any(isinstance(n.op, Gemm) for n in f.maker.fgraph.apply_nodes)
    vx, vy, vz = np.array([[1.5]]), np.array([2.0]), np.array([3.0, -1.0])
    np.testing.assert_allclose(f(vx, vy, vz), vz + 2.0 * (vx @ vy))


def test_same_pattern_still_becomes_gemm():
    x, z = T.dmatrix("x"), T.dmatrix("z")
    y = T.dmatrix("y")
    f = symgraph.function([x, y, z], z + 2.0 * T.dot(x, y), mode="FAST_RUN")
    assert any(isinstance(n.op, Gemm) for n in f.maker.fgraph.apply_nodes)
    rng = np.random.default_rng(0)
    a, b, c = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal((3, 5))
    np.testing.assert_allclose(f(a, b, c), c + 2.0 * a @ b, rtol=1e-12)
