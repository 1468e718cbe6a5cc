"""What a wrong derivative looks like: transposed, scaled, sign-flipped, reshaped, partly wrong.

Each test compares the whole analytic array with a transformation of the numerical one
and accepts it when the residual is within the per-entry tolerances of the check, so a
diagnosis is as strict as the verdict it explains.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np

__all__ = ["diagnose", "float32_rounding", "relative_error_across_the_board", "upper_triangle_lost"]


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


def _factor_name(c: float, fits: Callable[[float], bool], sizes: dict[int, str] | None = None) -> str:
    """Name the factor ``c``: the smallest-denominator fraction that is exact to 1e-9 or,
    for small denominators, fits the tolerances; else ``c`` itself. ``sizes`` maps the
    derivative's dimension sizes to what they are: a factor n or 1/n equal to one is named."""
    sizes = sizes or {}
    frac = None
    if 1e-6 <= abs(c) <= 1e6:
        for q in range(1, MAX_DENOMINATOR + 1):
            p = round(c * q)
            gap = abs(p / q - c)
            if p != 0 and (gap <= 1e-9 * abs(c)
                           or (q <= LOOSE_DENOMINATOR and gap <= LOOSE_RTOL * abs(c) and fits(p / q))):
                frac = Fraction(p, q)
                break
    if frac is None and 0 < abs(c) < 1:  # 1/n past MAX_DENOMINATOR: named when n is a size here
        n = round(1 / c)
        if abs(n) in sizes and abs(1 / c - n) <= 1e-9 * abs(1 / c):
            frac = Fraction(1, n)
    if frac == -1:
        return "sign flipped: analytic = -1 x numerical"
    if frac is not None and frac.denominator == 1:
        return f"off by a constant factor: analytic = {frac.numerator} x numerical{_size_hint(frac, sizes)}"
    if frac is not None:
        return (f"off by a constant factor: analytic = {frac.numerator}/{frac.denominator} x numerical"
                f"{_size_hint(frac, sizes)}")
    return f"off by a constant factor: analytic = {c:.10g} x numerical"


SIZE_NAMED_FROM = 5
"""A factor n is said to be one of the derivative's sizes only from 5 up: 2, 3 and 4 come from
powers (d x^2 = 2x) and the 1/2 of a squared norm as often as from a size of 2 to 4, so the
coincidence would mislead."""


def _size_hint(frac: Fraction, sizes: dict[int, str]) -> str:
    """``(a missing or extra 1/n?)`` for a factor n or 1/n alike: a mean's 1/n dropped leaves n, one
    applied twice 1/n. Said for n up to :data:`MAX_DENOMINATOR` (a size the loss may hide, a batch
    of 16), and for any n that is one of the derivative's sizes, which is then named."""
    if abs(frac.numerator) == 1 and frac.denominator > 1:
        n = frac.denominator
    elif frac.denominator == 1 and abs(frac.numerator) > 1:
        n = abs(frac.numerator)
    else:
        return ""
    if n in sizes and n >= SIZE_NAMED_FROM:
        return f" (a missing or extra 1/n? n = {n} is {sizes[n]})"
    return " (a missing or extra 1/n?)" if n <= MAX_DENOMINATOR else ""


def _sizes(shape: tuple[int, ...], param_shape: tuple[int, ...]) -> dict[int, str]:
    """The derivative's sizes greater than 1, each with what it is (the first such wins)."""
    out: dict[int, str] = {}
    lead = len(shape) - len(param_shape)
    for axis, n in enumerate(shape):
        where = f"the output's axis {axis}" if axis < lead else f"the parameter's axis {axis - lead}"
        out.setdefault(int(n), f"the size of {where}")
    if len(param_shape) > 1:
        out.setdefault(int(np.prod(param_shape)), "the parameter's number of entries")
    out.pop(1, None)
    out.pop(0, None)
    return out


NUMERICALLY_ZERO = 1e-10
"""An analytic derivative whose largest entry is below 1e-10 of the numerical one's is
called (numerically) zero: rounding left of a cancellation, not a factor worth naming."""


def diagnose(analytic: np.ndarray, numeric: np.ndarray, tol: np.ndarray, mismatch: np.ndarray,
             param_shape: tuple[int, ...], loss_value: float | None = None) -> str | None:
    """A one-line description of the mistake, or None when nothing simple fits.

    Arrays have the derivative's full shape (``out.shape + param.shape`` for Jacobians);
    ``param_shape`` tells which trailing axes belong to the parameter. ``loss_value`` lets
    a factor that depends on the point be named (twice the loss: a norm differentiated as
    if it were squared).
    """
    if not mismatch.any():
        return None
    if not np.any(analytic):
        return "analytic derivative is identically zero"
    top_a, top_n = float(np.max(np.abs(analytic))), float(np.max(np.abs(numeric)))
    if top_n > 0 and top_a <= NUMERICALLY_ZERO * top_n:
        return (f"the analytic derivative is (numerically) zero: its largest entry is {top_a:.3g} where the numerical "
                f"one reaches {top_n:.3g} (a cancellation, or a term that should not vanish?)")
    lead = numeric.shape[: numeric.ndim - len(param_shape)]
    if lead and lead == param_shape and _fits(analytic, _swap_out_and_x(numeric, len(lead)), tol):
        return ("analytic is the Jacobian with output and parameter axes swapped (denominator layout, x.shape + "
                "out.shape): pass layout='denominator'")
    lower = _lower_triangle_only(analytic, numeric, tol, param_shape) or upper_triangle_lost(
        analytic, numeric, tol, mismatch, param_shape)
    if lower:
        return lower
    tiny = float32_rounding(analytic, numeric, mismatch) or relative_error_across_the_board(analytic, numeric, mismatch)
    if tiny:
        return tiny
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
            return _point_factor(c, loss_value, fits) or _factor_name(c, fits, _sizes(analytic.shape, param_shape))
    elif np.any(analytic):
        return "numerical derivative is zero (the loss is flat here) but the analytic one is not"
    convention = _symmetric_convention(analytic, numeric, tol, param_shape)
    if convention:
        return convention
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
    partial = _partial(mismatch, param_shape)
    if partial.startswith("whole"):
        return partial + (" (the analytic value is 0 there)" if np.all(analytic[mismatch] == 0) else "")
    return _mask(analytic, numeric, tol, mismatch) or partial


def _swap_out_and_x(numeric: np.ndarray, n_out: int) -> np.ndarray:
    """A numerator-layout Jacobian with its output and parameter axes exchanged."""
    k = numeric.ndim - n_out
    return np.moveaxis(numeric, list(range(n_out, n_out + k)), list(range(k)))


def _point_factor(c: float, f: float | None, fits: Callable[[float], bool]) -> str | None:
    """Name a factor that is a simple function of the loss's value, where one fits exactly."""
    if f is None or not math.isfinite(f) or f == 0:
        return None
    candidates = {"2 x the loss": 2 * f, "the loss": f, "1 / the loss": 1 / f, "1 / (2 x the loss)": 1 / (2 * f)}
    if f > 0:
        candidates.update({"2 sqrt(loss)": 2 * math.sqrt(f), "sqrt(loss)": math.sqrt(f),
                           "1 / (2 sqrt(loss))": 1 / (2 * math.sqrt(f)), "1 / sqrt(loss)": 1 / math.sqrt(f)})
    for what, k in candidates.items():
        if abs(k - c) <= 1e-6 * abs(c) and abs(k - 1) > 1e-6 and fits(k):
            hint = ""
            if what in ("2 x the loss", "2 sqrt(loss)"):
                hint = ": a norm differentiated as if it were squared (d||r||^2 given for d||r||)?"
            elif what in ("1 / (2 x the loss)", "1 / (2 sqrt(loss))"):
                hint = ": a squared norm differentiated as if it were the norm?"
            return (f"off by a factor that depends on the point: analytic = {c:.6g} x numerical = {what} "
                    f"(the loss is {f:.6g}){hint}")
    return None


def _lower_triangle_only(analytic: np.ndarray, numeric: np.ndarray, tol: np.ndarray,
                         param_shape: tuple[int, ...]) -> str | None:
    """A loss that reads only the lower triangle of a square parameter (Cholesky, eigh):
    its numerical derivative is 0 above the diagonal. Name the convention the analytic
    gradient follows, if one of the usual ones fits."""
    if analytic.ndim != 2 or len(param_shape) != 2 or param_shape[0] != param_shape[1] or param_shape[0] < 2:
        return None
    upper = np.triu(np.ones(param_shape, dtype=bool), 1)
    if not np.all(np.abs(numeric[upper]) <= tol[upper]) or np.all(np.abs(analytic[upper]) <= tol[upper]):
        return None
    if not np.any(np.abs(numeric[~upper]) > tol[~upper]):
        return None
    n = np.tril(numeric)
    d = np.diag(np.diag(n))
    head = ("the loss reads only the lower triangle (its numerical derivative is 0 on the strict upper triangle, "
            "as with cholesky or eigh) while the analytic gradient is not")
    conventions = {
        "(G + G^T)/2, the symmetric gradient: check it with structure={name: 'symmetric'}": (n + n.T) / 2,
        "G + G^T - diag(G), the derivative w.r.t. distinct entries: check it with "
        "structure={name: 'symmetric-entries'}": n + n.T - d,
    }
    for what, conv in conventions.items():
        if _fits(analytic, conv, tol * 2):
            return f"{head}; it matches {what}"
    return f"{head}; pass structure={{name: 'lower'}} to compare the lower triangle only"


def upper_triangle_lost(analytic: np.ndarray, numeric: np.ndarray, tol: np.ndarray, mismatch: np.ndarray,
                        param_shape: tuple[int, ...]) -> str | None:
    """The analytic derivative is exactly 0 on the strict upper triangle of a square parameter,
    where the numerical one is not, and right everywhere else: the derivative of a loss that
    reads only the lower triangle (cholesky, eigh, tril), given for a loss that reads every entry.

    Arrays have the derivative's full shape (``out.shape + param.shape`` for a Jacobian).
    """
    if len(param_shape) != 2 or param_shape[0] != param_shape[1] or param_shape[0] < 2:
        return None
    upper = np.broadcast_to(np.triu(np.ones(param_shape, dtype=bool), 1), analytic.shape)
    if not mismatch[upper].any() or mismatch[~upper].any() or np.any(analytic[upper] != 0):
        return None
    hint = (" If only the lower triangle is free (a Cholesky factor), check it with structure={name: 'lower'}."
            if analytic.ndim == 2 else "")
    return (f"the analytic derivative is 0 on the strict upper triangle ({int(mismatch[upper].sum())} wrong entries "
            f"there) and right on the lower triangle: the derivative of a loss that reads only the lower triangle "
            f"(cholesky, eigh, tril) given for one that reads every entry?{hint}")


def _symmetric_convention(analytic: np.ndarray, numeric: np.ndarray, tol: np.ndarray,
                          param_shape: tuple[int, ...]) -> str | None:
    """A square parameter's gradient in a symmetric-matrix convention, checked as a general matrix."""
    if analytic.ndim != 2 or len(param_shape) != 2 or param_shape[0] != param_shape[1] or param_shape[0] < 2:
        return None
    d = np.diag(np.diag(numeric))
    if _fits(numeric, numeric.T, tol) and _fits(analytic, numeric + numeric.T - d, 2 * tol):
        return ("analytic = G + G^T - diag(G) of the numerical gradient G (off-diagonal entries doubled): the "
                "derivative with respect to the distinct entries of a symmetric matrix, the 'symmetric-entries' "
                "convention; if the parameter is symmetric, check it with structure={name: 'symmetric-entries'}")
    if not _fits(numeric, numeric.T, tol) and _fits(analytic, (numeric + numeric.T) / 2, tol):
        return ("analytic = (G + G^T)/2 of the numerical gradient G: the symmetric-gradient convention, for a "
                "symmetric parameter; if it is one, check it with structure={name: 'symmetric'}")
    return None


FLOAT32_REL = 2.0 ** -23
"""Float32 rounds to 24 bits: a round trip moves an entry by at most 2^-24 of its size; twice
that allows for the numerical derivative's own error."""


def float32_rounding(analytic: np.ndarray, numeric: np.ndarray, mismatch: np.ndarray) -> str | None:
    """Every analytic entry is exactly a float32 and the wrong ones are off by float32 rounding
    (at most 2^-23 of their size), while the numerical values are not float32s: an
    intermediate of the gradient's code passes through float32 (``astype``, a float32 constant
    or buffer). Meant for float64 parameters (a float32 check's tolerances are far coarser)."""
    a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    if not mismatch.any() or not np.all(np.isfinite(a)) or not np.any(a):
        return None
    with np.errstate(over="ignore"):
        if not np.array_equal(a.astype(np.float32).astype(np.float64), a):
            return None
        if np.array_equal(n.astype(np.float32).astype(np.float64), n):
            return None  # the numbers themselves are float32s: nothing to tell them apart
    bad = mismatch
    with np.errstate(over="ignore", invalid="ignore"):
        rel = np.abs(a[bad] - n[bad]) / np.maximum(np.abs(n[bad]), np.finfo(np.float64).tiny)
    if not np.all(rel <= 2 * FLOAT32_REL):
        return None
    return (f"the analytic values are all exactly representable in float32 and the wrong ones are off by float32 "
            f"rounding (relative up to {float(rel.max()):.1g}) while the parameters are float64: an intermediate "
            f"passes through float32 (an astype, a float32 constant or buffer)?")


ACROSS_LOW, ACROSS_HIGH = 1e-9, 3e-7
"""A relative error whose median lies in this range, on every entry that matters, is a slip of a
few 1e-8: below the promised 1e-6, above what rounding in a float64 formula leaves."""


def relative_error_across_the_board(analytic: np.ndarray, numeric: np.ndarray, mismatch: np.ndarray) -> str | None:
    """Every entry of at least 1e-3 of the scale is off by a relative amount between 1e-10 and
    1e-6, the median in [1e-9, 3e-7], and most of them are mismatches (so the errors are the
    analytic side's, not the numerical noise): one small relative error everywhere, as a stray
    epsilon (``v / (norm + 1e-8)``) or a constant rounded to 8 digits makes. Names the factor
    when the error is one factor."""
    a, n = np.asarray(analytic, dtype=np.float64).ravel(), np.asarray(numeric, dtype=np.float64).ravel()
    s = float(np.max(np.abs(n))) if n.size else 0.0
    if s == 0 or not np.all(np.isfinite(a)):
        return None
    big = np.abs(n) >= 1e-3 * s
    if np.asarray(mismatch).ravel()[big].mean() < 0.5:
        return None
    with np.errstate(over="ignore", invalid="ignore"):  # garbage of 1e308 over a numerical 0.5: no fit
        rel = (a[big] - n[big]) / n[big]
    mag = np.abs(rel)
    if not np.all(np.isfinite(mag)):
        return None
    med = float(np.median(mag))
    if not (ACROSS_LOW <= med <= ACROSS_HIGH and mag.min() >= 1e-10 and mag.max() <= 1e-6):
        return None
    same = np.all(np.sign(rel) == np.sign(rel[0])) and float(mag.max() - mag.min()) <= 0.1 * med
    what = f" (analytic = {1 + float(np.median(rel)):.10g} x numerical)" if same else ""
    return (f"relative error ~{med:.0e} across the board{what}, every entry off by {float(mag.min()):.1g} .. "
            f"{float(mag.max()):.1g} (a stray epsilon or a rounded constant?)")


def _mask(analytic: np.ndarray, numeric: np.ndarray, tol: np.ndarray, mismatch: np.ndarray) -> str | None:
    """Wrong only where one side is zero: a mask (ReLU, an indicator) applied to the wrong tensor, or missing."""
    bad = mismatch
    if bad.sum() == bad.size:
        return None
    if np.all(analytic[bad] == 0):
        return (f"the analytic derivative is 0 at every wrong entry ({int(bad.sum())}) while the numerical one is not: "
                f"a mask (ReLU, an indicator) applied where it should not be?")
    if np.all(np.abs(numeric[bad]) <= tol[bad]):
        return (f"wrong only where the numerical derivative is 0 ({int(bad.sum())} entries): a mask (ReLU, an "
                f"indicator) missing, or taken from the wrong tensor?")
    return None


def _reshape_order_swap(numeric: np.ndarray, lead: tuple[int, ...], shape: tuple[int, ...]) -> np.ndarray:
    """The numerical derivative flattened in C order and refilled in Fortran order."""
    rows = numeric.reshape((-1, int(np.prod(shape))))
    return np.stack([r.reshape(shape, order="F") for r in rows]).reshape(lead + shape)


def _partial(mismatch: np.ndarray, param_shape: tuple[int, ...]) -> str:
    k = len(param_shape)
    per_param = mismatch.reshape((-1,) + param_shape).any(axis=0)
    n_bad, n = int(per_param.sum()), per_param.size
    if mismatch.ndim > k:  # a Jacobian: count its own entries, not the parameter's
        total, wrong = mismatch.size, int(mismatch.sum())
        what = f"all {total} Jacobian entries" if wrong == total else f"{wrong} of {total} Jacobian entries"
        if wrong == total:
            return f"{what} wrong, with no simple pattern (factor, sign, transpose, layout, reshape)"
        first = tuple(int(i) for i in np.argwhere(mismatch)[0])
        return f"{what} wrong, the rest right (first at {first})"
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
