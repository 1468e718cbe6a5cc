"""Hypothesis strategies for testing gradients: shapes, arrays, matrices, registered problems, ReLU inputs.

Usable in your own tests::

    from hypothesis import given
    from gradcheck import check_grad, strategies as gst

    @given(gst.arrays((3, 3), min_magnitude=1e-3, max_magnitude=1e3))
    def test_my_grad(x):
        assert check_grad(my_loss, my_grad, x).ok

This module imports hypothesis at the top; ``import gradcheck`` does not import it, so
only code that asks for strategies pays for (and needs) hypothesis.

Every option is keyword-only and validated when the strategy is *built*, raising
:class:`gradcheck.InvalidArgumentError` with a ``name=value`` message, so a wrong call
fails at collection time with a hint, not deep inside a draw.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as exc:  # say what to install, not just which module is missing
    raise ImportError(
        "gradcheck.strategies builds hypothesis strategies and needs hypothesis, which the core install "
        "leaves out: pip install 'gradcheck[strategies]' (or hypothesis itself)"
    ) from exc

from .core._errors import InvalidArgumentError
from .registry import Derivation, Problem, get

__all__ = [
    "ShapeKind",
    "matrix_shapes",
    "arrays",
    "well_conditioned_matrices",
    "size_ranges",
    "derivation_sizes",
    "derivation_params",
    "relu_layers",
    "ReluLayer",
]

ShapeKind = Literal["any", "square", "one_wide", "tall", "wide"]
_SHAPE_KINDS = ("any", "square", "one_wide", "tall", "wide")


# --------------------------------------------------------------------------- validation
def _check_int(name: str, value: Any, *, low: int, hint: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InvalidArgumentError(f"{name}={value!r}: expected an integer >= {low}{hint}")
    return int(value)


def _check_positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidArgumentError(f"{name}={value!r}: expected a finite number {bound}")
    return float(value)


def _check_shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    if not isinstance(shape, tuple) or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                                               and s >= 1 for s in shape):
        raise InvalidArgumentError(f"shape={shape!r}: expected a tuple of integers >= 1, e.g. (3, 2) (or one int)")
    return tuple(int(s) for s in shape)


# --------------------------------------------------------------------------- shapes
def matrix_shapes(*, kind: ShapeKind = "any", min_side: int = 1,
                  max_side: int = 6) -> st.SearchStrategy[tuple[int, int]]:
    """2-D shapes ``(rows, cols)`` for matrix calculus.

    ``kind``: ``"square"`` (rows == cols: transposes are well defined, the slip most worth
    catching), ``"one_wide"`` (one side is 1: row and column vectors, where a transpose slip
    is a reshape and many formulas degenerate), ``"tall"`` (rows > cols), ``"wide"``
    (rows < cols) or ``"any"``. Non-square shapes make a transposed gradient a shape error.
    """
    if kind not in _SHAPE_KINDS:
        raise InvalidArgumentError(f"kind={kind!r}: expected one of {', '.join(map(repr, _SHAPE_KINDS))}")
    lo = _check_int("min_side", min_side, low=1)
    hi = _check_int("max_side", max_side, low=1)
    if hi < lo:
        raise InvalidArgumentError(f"max_side={max_side!r} < min_side={min_side!r}: make max_side >= min_side")
    if kind in ("tall", "wide") and hi == lo:
        raise InvalidArgumentError(f"kind={kind!r} with min_side == max_side == {lo}: a {kind} shape needs "
                                   f"two different sides; widen the range")
    if kind == "one_wide" and lo > 1:
        raise InvalidArgumentError(f"kind='one_wide' with min_side={min_side!r}: one side is 1, so min_side must be 1")
    side = st.integers(lo, hi)
    if kind == "square":
        return side.map(lambda n: (n, n))
    if kind == "one_wide":
        return st.tuples(side, st.booleans()).map(lambda t: (t[0], 1) if t[1] else (1, t[0]))
    pairs = st.tuples(side, side)
    if kind == "tall":
        return pairs.filter(lambda t: t[0] != t[1]).map(lambda t: (max(t), min(t)))
    if kind == "wide":
        return pairs.filter(lambda t: t[0] != t[1]).map(lambda t: (min(t), max(t)))
    return pairs


# --------------------------------------------------------------------------- arrays
def arrays(
    shape: int | tuple[int, ...],
    *,
    min_magnitude: float = 1e-3,
    max_magnitude: float = 1e3,
    signed: bool = True,
    dtype: Any = np.float64,
) -> st.SearchStrategy[np.ndarray]:
    """Finite float arrays whose nonzero entries have magnitudes in ``[min_magnitude, max_magnitude]``.

    Magnitudes are drawn on a log scale (``10**u``, ``u`` uniform in the exponent range), so
    ``min_magnitude=1e-6, max_magnitude=1e6`` really mixes tiny and huge entries in one
    array, the case where one fixed finite-difference step is wrong for most entries.
    ``min_magnitude=0`` also allows exact zeros (and draws magnitudes in ``[0, max]``).
    ``signed=False`` gives non-negative entries.
    """
    shape_t = _check_shape(shape)
    lo = _check_positive("min_magnitude", min_magnitude, allow_zero=True)
    hi = _check_positive("max_magnitude", max_magnitude)
    if hi < lo:
        raise InvalidArgumentError(
            f"max_magnitude={max_magnitude!r} < min_magnitude={min_magnitude!r}: swap them or widen the range")
    if not isinstance(signed, bool):
        raise InvalidArgumentError(f"signed={signed!r}: expected True or False")
    dt = np.dtype(dtype) if _is_dtype(dtype) else None
    if dt is None or dt.kind != "f":
        raise InvalidArgumentError(f"dtype={dtype!r}: expected a float dtype such as numpy.float64 or numpy.float32")
    if hi > float(np.finfo(dt).max) or (lo > 0 and lo < float(np.finfo(dt).smallest_normal)):
        raise InvalidArgumentError(f"min_magnitude={min_magnitude!r}, max_magnitude={max_magnitude!r}: outside the "
                                   f"normal range of {dt.name}; choose magnitudes it can represent")
    # fill=st.nothing(): every entry drawn on its own. hypothesis' default fills most of an
    # array with one repeated value (13% distinct magnitudes in 6x6 draws), which hides
    # exactly the mixed scales this strategy promises.
    if lo == 0:
        mags = _independent(shape_t, st.floats(0.0, hi, allow_subnormal=False))
    else:
        exps = _independent(shape_t, st.floats(math.log10(lo), math.log10(hi)))
        mags = exps.map(lambda e: np.clip(10.0 ** e, lo, hi))
    signs = _independent(shape_t, st.booleans(), np.bool_) if signed else st.just(np.zeros(shape_t, dtype=bool))
    return st.tuples(mags, signs).map(lambda t: np.where(t[1], -t[0], t[0]).astype(dt))


def _independent(shape: tuple[int, ...], elements: st.SearchStrategy[Any], dtype: Any = np.float64,
                 ) -> st.SearchStrategy[np.ndarray]:
    """An array whose every entry is drawn from ``elements`` (no background fill value)."""
    return hnp.arrays(dtype, shape, elements=elements, fill=st.nothing())


def _is_dtype(dtype: Any) -> bool:
    try:
        np.dtype(dtype)
    except TypeError:
        return False
    return True


def well_conditioned_matrices(
    shape: int | tuple[int, int],
    *,
    max_condition: float = 100.0,
    scale: float = 1.0,
) -> st.SearchStrategy[np.ndarray]:
    """Matrices ``U diag(s) V^T`` with singular values in ``[scale, scale * max_condition]``.

    Inverses, solves and least-squares gradients are only meaningful to check where the
    matrix is well conditioned: otherwise the *loss* itself is noise and every oracle is
    unreliable. ``U``, ``V`` come from QR factorisations of drawn arrays (always
    orthonormal, even when hypothesis draws zeros). ``shape`` may be rectangular; an int
    means a square matrix.
    """
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape), int(shape))
    shape_t = _check_shape(shape)
    if len(shape_t) != 2:
        raise InvalidArgumentError(f"shape={shape!r}: expected a matrix shape (rows, cols) or one int for square")
    cond = _check_positive("max_condition", max_condition)
    if cond < 1:
        raise InvalidArgumentError(f"max_condition={max_condition!r}: a condition number is >= 1; pass 1 for "
                                   f"orthogonal matrices (times scale)")
    sc = _check_positive("scale", scale)
    m, n = shape_t
    k = min(m, n)
    gauss = st.floats(-1.0, 1.0)
    u = _independent((m, m), gauss)
    v = _independent((n, n), gauss)
    s = _independent((k,), st.floats(0.0, math.log(cond)) if cond > 1 else st.just(0.0))
    return st.tuples(u, v, s).map(lambda t: _compose(t[0], t[1], t[2], k, sc))


def _compose(u: np.ndarray, v: np.ndarray, log_s: np.ndarray, k: int, scale: float) -> np.ndarray:
    qu, _ = np.linalg.qr(u)
    qv, _ = np.linalg.qr(v)
    s = scale * np.exp(log_s - log_s.min(initial=0.0))  # smallest singular value exactly `scale`
    return (qu[:, :k] * s) @ qv[:, :k].T


# --------------------------------------------------------------------------- registered problems
def size_ranges(derivation: Derivation, *, min_size: int = 1,
                max_size: int | None = None) -> dict[str, tuple[int, int]]:
    """The range each size of ``derivation`` is drawn from: ``[min_size, max(default, max_size)]``.

    Without ``max_size`` the upper bound is the default plus 2, so drawn problems stay
    about as cheap as the default one while covering 1-wide and non-square cases.
    Shared by :func:`derivation_params` and non-hypothesis drivers (benchmarks).
    """
    lo = _check_int("min_size", min_size, low=1)
    if max_size is not None:
        _check_int("max_size", max_size, low=lo, hint=f" (and >= min_size={lo})")
    out = {}
    for key, default in derivation.sizes.items():
        hi = max(int(default), lo) + 2 if max_size is None else max_size
        out[key] = (lo, max(hi, lo))
    return out


@st.composite
def _sizes(draw: st.DrawFn, ranges: Mapping[str, tuple[int, int]], fixed: Mapping[str, int]) -> dict[str, int]:
    sizes = {k: draw(st.integers(*ranges[k]), label=k) for k in sorted(ranges) if k not in fixed}
    sizes.update(fixed)
    return sizes


@st.composite
def _derivation_problem(draw: st.DrawFn, d: Derivation, sizes: st.SearchStrategy[dict[str, int]],
                        seeds: st.SearchStrategy[int]) -> tuple[Derivation, Problem]:
    drawn = draw(sizes)
    seed = draw(seeds, label="seed")
    return d, d.problem(seed, **drawn)


def derivation_sizes(
    name: str | Derivation,
    *,
    sizes: Mapping[str, int] | None = None,
    min_size: int = 1,
    max_size: int | None = None,
) -> st.SearchStrategy[dict[str, int]]:
    """The sizes ``{name: int}`` of a registered derivation, drawn as in :func:`derivation_params`.

    Useful when a test needs two problems of the same sizes (e.g. two data sets at one point).
    """
    d = name if isinstance(name, Derivation) else _get(name)
    fixed = dict(sizes or {})
    unknown = set(fixed) - set(d.sizes)
    if unknown:
        raise InvalidArgumentError(f"sizes={fixed!r}: {d.name!r} has no size(s) {sorted(unknown)}; it takes "
                                   f"{sorted(d.sizes) or 'none'}")
    for key, value in fixed.items():
        _check_int(f"sizes[{key!r}]", value, low=1)
    return _sizes(size_ranges(d, min_size=min_size, max_size=max_size), fixed)


def derivation_params(
    name: str | Derivation,
    *,
    sizes: Mapping[str, int] | None = None,
    min_size: int = 1,
    max_size: int | None = None,
    seeds: st.SearchStrategy[int] | None = None,
) -> st.SearchStrategy[tuple[Derivation, Problem]]:
    """``(derivation, problem)`` for a registered derivation with drawn sizes and seed.

    Every size the derivation's factory takes (batch size included) is drawn from
    :func:`size_ranges` unless pinned in ``sizes``; the seed from ``seeds`` (default:
    ``0 .. 2**32 - 1``). Sizes shrink towards ``min_size`` and the seed towards 0, so a
    failure is reported at the smallest problem that shows it.
    """
    d = name if isinstance(name, Derivation) else _get(name)
    size_strategy = derivation_sizes(d, sizes=sizes, min_size=min_size, max_size=max_size)
    if seeds is None:
        seeds = st.integers(0, 2**32 - 1)
    elif not isinstance(seeds, st.SearchStrategy):
        raise InvalidArgumentError(f"seeds={seeds!r}: expected a strategy of integers, e.g. st.integers(0, 100)")
    return _derivation_problem(d, size_strategy, seeds)


def _get(name: Any) -> Derivation:
    if not isinstance(name, str):
        raise InvalidArgumentError(f"name={name!r}: expected a registered derivation's name or a Derivation")
    try:
        return get(name)
    except InvalidArgumentError as exc:  # re-raise in this module's name=value form, keeping the close matches
        raise InvalidArgumentError(f"name={name!r}: {exc}") from None


# --------------------------------------------------------------------------- ReLU inputs
@dataclass(frozen=True)
class ReluLayer:
    """``X`` (n, d), ``W`` (d, h), ``b`` (h,) and the pre-activations ``z = X @ W + b`` as a loss computes them."""

    X: np.ndarray
    W: np.ndarray
    b: np.ndarray
    z: np.ndarray


def relu_layers(
    *,
    n: int | st.SearchStrategy[int] = 4,
    d: int | st.SearchStrategy[int] = 3,
    h: int | st.SearchStrategy[int] = 5,
    margin: float | None = 1e-3,
    on_kink: int = 0,
) -> st.SearchStrategy[ReluLayer]:
    """Inputs of a layer ``ReLU(X W + b)`` whose pre-activations avoid, or sit exactly on, the kink.

    ``margin``: every pre-activation ends at least this far from 0 (``None``: no
    constraint). Only ``b`` is adjusted: in each column the shift puts 0 in the middle of
    a gap of width ``>= 2 margin`` between sorted pre-activations, preferring a gap that
    leaves some units active, else below the smallest one (all active), so ``X`` and ``W``
    stay as drawn.

    ``on_kink``: afterwards, that many columns get ``b_j = -(X @ W)[i, j]`` for one drawn
    row ``i``, which makes ``z[i, j]`` exactly 0.0 (the product is computed the same way
    as ``X @ W + b`` in a loss). Other entries of those columns move and may come close to
    0, or sit on 0 too when rows tie (``W[:, j] = 0``); only the ``margin`` of untouched
    columns is guaranteed. Filter on ``layer.z`` when a test needs one kink per unit:
    where several samples share a unit's kink, ``relu'(0) = 0`` need not be a subgradient.
    """
    sizes = {key: _size_strategy(key, v) for key, v in (("n", n), ("d", d), ("h", h))}
    if margin is not None:
        margin = _check_positive("margin", margin)
    kinks = _check_int("on_kink", on_kink, low=0)
    return _relu_layer(sizes["n"], sizes["d"], sizes["h"], margin, kinks)


def _size_strategy(name: str, value: Any) -> st.SearchStrategy[int]:
    if isinstance(value, st.SearchStrategy):
        return value
    return st.just(_check_int(name, value, low=1))


@st.composite
def _relu_layer(draw: st.DrawFn, ns: st.SearchStrategy[int], ds: st.SearchStrategy[int],
                hs: st.SearchStrategy[int], margin: float | None, on_kink: int) -> ReluLayer:
    n, d, h = draw(ns, label="n"), draw(ds, label="d"), draw(hs, label="h")
    el = st.floats(-2.0, 2.0, allow_subnormal=False)
    X = draw(_independent((n, d), el), label="X")
    W = draw(_independent((d, h), el), label="W")
    b = draw(_independent((h,), el), label="b")
    XW = X @ W
    if margin is not None:
        b = np.array([_clear_shift(XW[:, j], b[j], margin) for j in range(h)])
    if on_kink:
        cols = draw(st.lists(st.integers(0, h - 1), min_size=min(on_kink, h), max_size=min(on_kink, h),
                             unique=True), label="kink columns")
        for j in cols:
            i = draw(st.integers(0, n - 1), label=f"kink row of column {j}")
            b[j] = -XW[i, j]
    return ReluLayer(X=X, W=W, b=b, z=X @ W + b)


def _clear_shift(col: np.ndarray, b: float, margin: float) -> float:
    """The bias closest to ``b`` that keeps every ``col + bias`` at least ``margin`` from 0."""
    z = np.sort(-(col))  # bias values at which some entry is exactly 0
    if np.all(np.abs(col + b) >= margin):
        return float(b)
    # Candidate biases: midpoints of gaps wider than 2 margin, and just beyond both ends.
    pad = margin * 1.001  # rounding of col + c must not undo the margin
    cands = [z[0] - pad, z[-1] + pad]
    gaps = np.diff(z)
    cands += [float((z[i] + z[i + 1]) / 2) for i in np.flatnonzero(gaps >= 2 * margin + 1e-12)]
    cands = [c for c in cands if np.all(np.abs(col + c) >= margin)]
    # Prefer biases that leave at least one unit active (col + c > 0 somewhere).
    alive = [c for c in cands if np.any(col + c > 0)]
    pool = alive or cands
    return float(min(pool, key=lambda c: abs(c - b)))
