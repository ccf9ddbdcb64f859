"""numpy references for special functions numpy lacks (erf, gamma, digamma, ...).

scipy.special would load scipy's own OpenBLAS next to numpy's (two thread pools in one
process, the 3-100x trap of MEASUREMENTS.md), so the references are written here: libm's
functions through `math`, and erfinv / digamma by series and Newton steps.
"""
from __future__ import annotations

import math

import numpy as np


def _lift(fn):
    uf = np.frompyfunc(fn, 1, 1)

    def apply(x):
        x = np.asarray(x)
        out_dtype = x.dtype if x.dtype.kind in "fc" else np.float64
        return np.asarray(uf(x.astype(np.float64)), dtype=np.float64).astype(out_dtype)
    return apply


def _safe_gamma(v):
    try:
        return math.gamma(v)
    except (ValueError, OverflowError):
        if v == math.floor(v) and v <= 0:
            return math.nan
        return math.inf if v > 0 else math.nan


def _safe_lgamma(v):
    try:
        return math.lgamma(v)
    except (ValueError, OverflowError):
        return math.inf


erf = _lift(math.erf)
erfc = _lift(math.erfc)
gamma = _lift(_safe_gamma)
gammaln = _lift(_safe_lgamma)


def erfinv(y):
    """Inverse error function: a rational first guess refined by Newton steps on erf."""
    y = np.asarray(y)
    dtype = y.dtype if y.dtype.kind == "f" else np.float64
    y = y.astype(np.float64)
    with np.errstate(all="ignore"):
        w = -np.log((1.0 - y) * (1.0 + y))
        x = np.where(
            w < 5.0,
            _poly(w - 2.5, (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                            0.00021858087, -0.00125372503, -0.00417768164, 0.246640727,
                            1.50140941)),
            _poly(np.sqrt(np.maximum(w, 5.0)) - 3.0,
                  (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
                   0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682))) * y
        for _ in range(3):
            err = erf(x) - y
            x = x - err / (2.0 / math.sqrt(math.pi) * np.exp(-x * x))
        x = np.where(y == 1, np.inf, np.where(y == -1, -np.inf, x))
        x = np.where(np.abs(y) > 1, np.nan, x)
    return x.astype(dtype)


def _poly(t, coefs):
    acc = np.full_like(t, coefs[0])
    for c in coefs[1:]:
        acc = acc * t + c
    return acc


def psi(x):
    """Digamma: the recurrence psi(x) = psi(x+1) - 1/x up to x >= 6, then the asymptotic
    series; the reflection formula for negative arguments."""
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.float64
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        neg = x < 0
        xr = np.where(neg, 1.0 - x, x)
        acc = np.zeros_like(xr)
        z = xr.copy()
        for _ in range(6):
            small = z < 6.0
            acc = acc - np.where(small, 1.0 / z, 0.0)
            z = np.where(small, z + 1.0, z)
        inv = 1.0 / z
        inv2 = inv * inv
        series = (np.log(z) - 0.5 * inv
                  - inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (
                      1 / 240 - inv2 * (1 / 132))))))
        out = acc + series
        out = np.where(neg, out - np.pi / np.tan(np.pi * x), out)
        out = np.where((x <= 0) & (x == np.floor(x)), np.nan, out)
    return out.astype(dtype)


def polygamma1(x):
    """Trigamma (derivative of digamma), used by psi's gradient."""
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.float64
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        acc = np.zeros_like(x)
        z = x.copy()
        for _ in range(8):
            small = z < 8.0
            acc = acc + np.where(small, 1.0 / (z * z), 0.0)
            z = np.where(small, z + 1.0, z)
        inv = 1.0 / z
        inv2 = inv * inv
        series = inv + 0.5 * inv2 + inv * inv2 * (1 / 6 - inv2 * (1 / 30 - inv2 * (
            1 / 42 - inv2 * (1 / 30))))
        out = acc + series
        out = np.where((x <= 0) & (x == np.floor(x)), np.nan, out)
    return out.astype(dtype)
