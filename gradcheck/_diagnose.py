"""What a wrong derivative looks like: transposed, scaled, sign-flipped, reshaped, partly wrong.

Each test compares the whole analytic array with a transformation of the numerical one
and accepts it when the residual is within the per-entry tolerances of the check, so a
diagnosis is as strict as the verdict it explains.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Callable

import numpy as np

__all__ = ["diagnose"]


def _fits(a: np.ndarray, b: np.ndarray, tol: np.ndarray) -> bool:
    return bool(np.all(np.abs(a - b) <= tol))


MAX_DENOMINATOR = 64
"""Factors are named as fractions p/q with q up to this (a 1/n for a batch of up to 64)."""

LOOSE_DENOMINATOR = 8
LOOSE_RTOL = 1e-4
"""Up to q = 8, a fraction within a relative 1e-4 of the fitted factor is named wherever
it fits the tolerances too: a subnormal loss leaves numeric values good to 1e-9, which
gives 1.999999997 for a slip of 2, and float32 gives 2.00013. Larger denominators or
distances would let float32's loose tolerances name 201/64 or 22/7 for pi."""


def _factor_name(c: float, fits: Callable[[float], bool]) -> str:
    """Name the factor ``c``: the smallest-denominator fraction that is exact to 1e-9 or,
    for small denominators, fits the tolerances; else ``c`` itself."""
    frac = None
    if 1e-6 <= abs(c) <= 1e6:
        for q in range(1, MAX_DENOMINATOR + 1):
            p = round(c * q)
            gap = abs(p / q - c)
            if p != 0 and (gap <= 1e-9 * abs(c)
                           or (q <= LOOSE_DENOMINATOR and gap <= LOOSE_RTOL * abs(c) and fits(p / q))):
                frac = Fraction(p, q)
                break
    if frac == -1:
        return "sign flipped: analytic = -1 x numerical"
    if frac is not None and frac.denominator == 1:
        return f"off by a constant factor: analytic = {frac.numerator} x numerical"
    if frac is not None:
        return f"off by a constant factor: analytic = {frac.numerator}/{frac.denominator} x numerical (a missing or extra 1/n?)"
    return f"off by a constant factor: analytic = {c:.10g} x numerical"


def diagnose(analytic: np.ndarray, numeric: np.ndarray, tol: np.ndarray, mismatch: np.ndarray,
             param_shape: tuple[int, ...]) -> str | None:
    """A one-line description of the mistake, or None when nothing simple fits.

    Arrays have the derivative's full shape (``out.shape + param.shape`` for Jacobians);
    ``param_shape`` tells which trailing axes belong to the parameter.
    """
    if not mismatch.any():
        return None
    if not np.any(analytic):
        return "analytic derivative is identically zero"
    # Least-squares factor on arrays divided by their scale: squares of derivatives near
    # 1e-200 (a saturated net, a subnormal loss) underflow to 0 and would read as "flat".
    s = float(np.max(np.abs(numeric))) if numeric.size else 0.0
    if s > 0:
        un = numeric / s
        c = float(np.vdot(analytic / s, un)) / float(np.vdot(un, un))

        def fits(k: float) -> bool:
            with np.errstate(over="ignore", invalid="ignore"):  # k * numeric may overflow: no fit
                return _fits(analytic, k * numeric, tol * max(1.0, abs(k)))

        if math.isfinite(c) and abs(c - 1) > 1e-12 and fits(c):
            return _factor_name(c, fits)
    elif np.any(analytic):
        return "numerical derivative is zero (the loss is flat here) but the analytic one is not"
    k = len(param_shape)
    if k >= 2 and param_shape[-1] == param_shape[-2]:
        swapped = np.swapaxes(numeric, -1, -2)
        if _fits(analytic, swapped, tol):
            return "analytic equals the numerical derivative transposed (a transpose slip, e.g. x.T @ d vs d.T @ x)"
        for c in (2.0, 0.5, -1.0):
            if _fits(analytic, c * swapped, tol):
                return f"analytic equals {c:g} x the numerical derivative transposed"
    if k >= 2:
        lead = numeric.shape[: numeric.ndim - k]
        alt = _reshape_order_swap(numeric, lead, param_shape)
        if _fits(analytic, alt, tol):
            return "same entries in the other reshape order (C vs Fortran / row- vs column-major vec)"
    return _partial(mismatch, param_shape)


def _reshape_order_swap(numeric: np.ndarray, lead: tuple[int, ...], shape: tuple[int, ...]) -> np.ndarray:
    """The numerical derivative flattened in C order and refilled in Fortran order."""
    rows = numeric.reshape((-1, int(np.prod(shape))))
    return np.stack([r.reshape(shape, order="F") for r in rows]).reshape(lead + shape)


def _partial(mismatch: np.ndarray, param_shape: tuple[int, ...]) -> str:
    k = len(param_shape)
    per_param = mismatch.reshape((-1,) + param_shape).any(axis=0)
    n_bad, n = int(per_param.sum()), per_param.size
    if n_bad == n:
        return f"all {n} entries wrong, with no simple pattern (factor, sign, transpose, reshape)"
    if k == 2:
        rows = np.flatnonzero(per_param.any(axis=1))
        cols = np.flatnonzero(per_param.any(axis=0))
        if per_param[rows].all() and len(rows) < param_shape[0]:
            return f"whole row(s) {rows.tolist()[:8]} wrong, the rest right"
        if per_param[:, cols].all() and len(cols) < param_shape[1]:
            return f"whole column(s) {cols.tolist()[:8]} wrong, the rest right"
    first = tuple(int(i) for i in np.argwhere(per_param)[0]) if per_param.ndim else ()
    return f"{n_bad} of {n} entries wrong, the rest right (first at {first})"
