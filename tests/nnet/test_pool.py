"""pool_2d against a naive numpy loop for every mode, stride, padding and border rule."""
import itertools

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.tensor.signal import pool

RNG = np.random.default_rng(5)


def naive_out_len(size, ws, st, pad, ignore_border):
    r = size + 2 * pad
    if ignore_border:
        return max(0, (r - ws) // st + 1)
    if st >= ws:
        return (r - 1) // st + 1
    return max(0, (r - 1 - ws + st) // st) + 1


def naive_pool(x, ws, ignore_border, stride, pad, mode):
    stride = stride or ws
    h, w = x.shape[-2:]
    oh = naive_out_len(h, ws[0], stride[0], pad[0], ignore_border)
    ow = naive_out_len(w, ws[1], stride[1], pad[1], ignore_border)
    out = np.zeros(x.shape[:-2] + (oh, ow))
    for idx in np.ndindex(*x.shape[:-2]):
        img = x[idx]
        for i, j in itertools.product(range(oh), range(ow)):
            # window in padded coordinates, clipped to the padded image
            r0, c0 = i * stride[0], j * stride[1]
            r1, c1 = min(r0 + ws[0], h + 2 * pad[0]), min(c0 + ws[1], w + 2 * pad[1])
            vals, n_inc = [], (r1 - r0) * (c1 - c0)
            for r, c in itertools.product(range(r0, r1), range(c0, c1)):
                rr, cc = r - pad[0], c - pad[1]
                if 0 <= rr < h and 0 <= cc < w:
                    vals.append(img[rr, cc])
            if mode == "max":
                out[idx + (i, j)] = max(vals)
            elif mode == "sum":
                out[idx + (i, j)] = sum(vals)
            elif mode == "average_exc_pad":
                out[idx + (i, j)] = sum(vals) / len(vals)
            else:
                out[idx + (i, j)] = sum(vals) / n_inc
    return out


MODES = ["max", "sum", "average_inc_pad", "average_exc_pad"]
CASES = ([(m, ws, True, st, pad) for m in MODES for ws in [(2, 2), (3, 2)]
          for st in [None, (1, 1), (2, 1)] for pad in [(0, 0), (1, 1)]]
         + [(m, ws, False, st, (0, 0)) for m in MODES for ws in [(2, 2), (3, 2)]
            for st in [None, (1, 2), (3, 3)]])


@pytest.mark.parametrize("mode,ws,ignore_border,stride,pad", CASES)
def test_pool_matches_naive(mode, ws, ignore_border, stride, pad):
    x = T.dtensor4("x")
    out = pool.pool_2d(x, ws=ws, ignore_border=ignore_border, stride=stride, pad=pad, mode=mode)
    xv = RNG.normal(size=(2, 3, 7, 6))
    got = symgraph.function([x], out, mode="py")(xv)
    want = naive_pool(xv, ws, ignore_border, stride, pad, mode)
    assert got.shape == want.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "int32", "int64"])
@pytest.mark.parametrize("mode", ["max", "sum"])
def test_pool_dtypes_and_static_shape(dtype, mode):
    x = T.tensor(dtype, (None, 5, 8), name="x")
    out = pool.pool_2d(x, ws=(2, 3), mode=mode)
    assert out.type.shape == (None, 2, 2) and out.dtype == dtype
    xv = (RNG.normal(size=(3, 5, 8)) * 10).astype(dtype)
    got = symgraph.function([x], out, mode="py")(xv)
    assert got.dtype == np.dtype(dtype) and got.shape == (3, 2, 2)
    np.testing.assert_allclose(got, naive_pool(xv, (2, 3), True, None, (0, 0), mode).astype(dtype),
                               rtol=1e-5)


def test_pool_empty_and_small_input():
    x = T.dtensor4("x")
    f = symgraph.function([x], pool.pool_2d(x, ws=(2, 2)), mode="py")
    assert f(np.zeros((0, 2, 4, 4))).shape == (0, 2, 2, 2)
    assert f(np.zeros((1, 1, 1, 3))).shape == (1, 1, 0, 1)


def test_pool_errors():
    with pytest.raises(ValueError) as e:
        pool.pool_2d(T.dvector("v"), ws=(2, 2))
    assert "Pool" in str(e.value) and "test_pool.py" in str(e.value)
    with pytest.raises(ValueError):
        pool.pool_2d(T.dtensor4(), ws=(2, 2), mode="median")
    with pytest.raises(ValueError):
        pool.pool_2d(T.dtensor4(), ws=(2, 2), pad=(2, 0))
    with pytest.raises(ValueError):
        pool.pool_2d(T.dtensor4(), ws=(2, 2), pad=(1, 0), ignore_border=False)


@pytest.mark.parametrize("mode,ws,ignore_border,stride,pad", [
    ("max", (2, 2), True, None, (0, 0)), ("max", (3, 2), False, (2, 1), (0, 0)),
    ("max", (2, 3), True, (1, 2), (1, 1)), ("sum", (2, 2), False, (1, 1), (0, 0)),
    ("average_inc_pad", (3, 3), True, (2, 2), (1, 2)),
    ("average_exc_pad", (3, 2), True, (1, 1), (1, 1))])
def test_pool_verify_grad(mode, ws, ignore_border, stride, pad):
    # distinct values keep the max unique (the max gradient goes to every tie)
    xv = RNG.permutation(2 * 6 * 5).reshape(2, 6, 5) / 7.0
    verify_grad(lambda a: pool.pool_2d(a, ws=ws, ignore_border=ignore_border, stride=stride,
                                       pad=pad, mode=mode), [xv], rng=RNG)


@pytest.mark.parametrize("mode", ["sum", "average_inc_pad", "average_exc_pad"])
def test_pool_grad_second_order(mode):
    from symgraph.gradient import Lop
    gv = RNG.normal(size=(2, 5, 5))

    def f(a):
        out = pool.pool_2d(a, ws=(2, 2), stride=(1, 1), pad=(1, 1), mode=mode)
        return Lop(out, a, T.constant(gv))
    # the gradient is linear in gout: check its own gradient through a squared cost
    verify_grad(lambda a: f(a) * f(a), [RNG.normal(size=(2, 4, 4))], rng=RNG)


def test_namespace():
    assert T.signal.pool.pool_2d is pool.pool_2d
