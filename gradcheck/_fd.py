"""Finite-difference schemes, each giving an estimate *and* an error estimate per entry.

Every scheme works on a function with a flat output of size ``m`` (1 for a loss) and
returns, per parameter, arrays of shape ``(m, n)`` (output entry x parameter entry).

Error estimates have two parts:

* truncation, measured empirically from the same scheme at two or three step sizes
  (the gap between successive estimates bounds the error of the better one), and
* rounding, from the noise of the function values: each evaluation is taken to be
  accurate to ``NOISE_ULPS * eps * |f|`` or to ``NOISE_SIGMAS`` times the noise level
  *measured* at the base point (:func:`measure_noise`), whichever is larger; a loss that
  is a small difference of large terms, or is rounded on a coarser grid than its own
  (``log(1 + e)``), is noisier than its value suggests. The
  scheme's weights carry the noise into the derivative.

Entries whose truncation estimate is too large to resolve a relative ``resolve_rtol``
error are re-estimated with smaller steps (a stencil that straddles a kink converges
once the step is smaller than the distance to the kink). Where the jump between the
right and left slopes (measured by :func:`_jump`, to far better than either slope)
exceeds its error bar at two steps, the entry is a *kink*: the left and right slopes
are kept so the comparison can accept any subgradient between them. Elsewhere the jump
and its bar are kept too, since a kink below detection cannot be excluded.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._evaluator import DirectionalPerturbation, Evaluator, Perturbation

__all__ = [
    "SCHEMES",
    "RawEstimate",
    "estimate",
    "measure_noise",
    "default_base_step",
    "NOISE_ULPS",
    "ulps",
    "NOISE_SIGMAS",
    "REFINE_FACTOR",
    "MAX_REFINE",
]

SCHEMES = ("forward", "central", "richardson", "complex")

NOISE_ULPS = 4.0
"""A loss value is taken to be accurate to at least ``NOISE_ULPS * eps * |f|``. This is
only the floor under the *measured* noise (:func:`measure_noise`), which is what covers
sums over many terms and cancellation; a larger floor would hide small kinks (a slope
jump of 5e-8 at |f| ~ 0.5) behind invented rounding."""

NOISE_SIGMAS = 4.0
"""Rounding noise is bounded by this many measured standard deviations."""

_SUBNORMAL = {float(np.finfo(t).eps): float(np.finfo(t).smallest_subnormal) for t in (np.float16, np.float32, np.float64)}


def ulps(v: np.ndarray | float, eps: float) -> np.ndarray:
    """``NOISE_ULPS`` units in the last place of ``|v|``: ``eps |v|`` for normal values, and
    never less than the smallest subnormal of that precision. A subnormal keeps fewer
    digits than ``eps`` promises: a logistic loss of 2e-313 moves in steps of 5e-324, a
    relative 2e-11, and a model of ``eps |f|`` would call it exact to 1e-329."""
    return NOISE_ULPS * np.maximum(eps * np.abs(v), _SUBNORMAL.get(float(eps), 0.0))


NOISE_POINTS = 13
NOISE_STEP = 1e-10
NOISE_TRIES = 4
"""The noise probe: f at x + t * step * scale * u for t near -6..6 (|u| uniform in [0.5, 1]
per entry, random signs), step = 1e-10 first. So small a step crosses no kink the stencil does not
also cross, and leaves no smooth part in third differences; it grows by 100 (up to
1e-4) only while the probe cannot see f change at all."""

_GOLDEN = 0.6180339887498949
_NOISE_T = np.array([np.sign(k) * (abs(k) + 0.2 * ((abs(k) * _GOLDEN) % 1.0 - 0.5))
                     for k in range(-(NOISE_POINTS // 2), NOISE_POINTS // 2 + 1)])
"""Probe abscissae: -6..6, each but 0 moved by up to 0.1 (golden-ratio offsets). On equal
spacing a quantized loss that moves by a near-integer number of quanta per point rounds
the same way at every point, and its differences vanish (``log(1 + e)`` at e = 1e-7
moving 2.9 quanta per point measured 1e-23 for a rounding of 6e-17); uneven spacing
spreads the roundings."""

REFINE_FACTOR = 1.0 / 16.0
MAX_REFINE = 6


def default_base_step(method: str, eps: float) -> float:
    """Relative base step balancing truncation against rounding for each scheme's order."""
    return {
        "forward": eps ** 0.5,  # error ~ h + eps/h
        "central": eps ** (1 / 3),  # error ~ h^2 + eps/h
        "richardson": eps ** 0.2,  # 6th order after two extrapolations; rounding dominates below this
        "complex": 1e-20,  # no subtraction, no cancellation: any tiny step is exact to rounding
    }[method]


@dataclass
class RawEstimate:
    """Per-parameter estimate; arrays have shape ``(m, n)`` unless noted."""

    value: np.ndarray
    error: np.ndarray  # truncation + rounding
    truncation: np.ndarray
    rounding: np.ndarray
    left: np.ndarray  # one-sided slopes (NaN where the scheme has none)
    right: np.ndarray
    kink: np.ndarray  # bool
    side_error: np.ndarray  # error bar of the one-sided slopes (NaN where none)
    jump: np.ndarray  # right minus left slope (NaN where the scheme has none)
    jump_error: np.ndarray  # its error bar: a smaller jump cannot be told from none
    step: np.ndarray  # (n,) the base step finally used per coordinate
    refined: np.ndarray  # (n,) bool: coordinate re-estimated with smaller steps


SMOOTH, KINK, UNCLEAN = 0, 1, 2


@dataclass
class _Block:
    """Results of one stencil pass over a set of coordinates of one parameter."""

    value: np.ndarray
    truncation: np.ndarray
    rounding: np.ndarray
    left: np.ndarray
    right: np.ndarray
    state: np.ndarray  # SMOOTH, KINK (at x) or UNCLEAN (something inside the stencil)
    side_error: np.ndarray
    jump: np.ndarray
    jump_error: np.ndarray
    jump_noise: np.ndarray  # the rounding part of jump_error

    @property
    def kink(self) -> np.ndarray:
        return self.state == KINK


def _probe_direction(name: str, size: int) -> np.ndarray:
    """Entries of magnitude 0.5..1 with random signs, seeded by the parameter's name. Bounded
    away from 0 so that no entry moves by less than half the step: the lattice rule's
    threshold (``coarse`` below) is set by the entry that moves least."""
    rng = np.random.default_rng([0x6E6F6973, zlib.crc32(name.encode())])
    return rng.uniform(0.5, 1.0, size=size) * rng.choice([-1.0, 1.0], size=size)


def measure_noise(ev: Evaluator, f0: np.ndarray, scales: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Noise level (standard deviation) of each output at the base point, and where f never moved.

    Returns ``(sigma, flat)``, both of shape ``(m,)``; ``flat`` marks outputs that kept
    the same value to the last bit at every probe step: their noise is unknown.

    A simplified ECnoise (More & Wild, SIAM J. Sci. Comput. 33, 2011): the j-th divided
    differences of f along a random direction remove its smooth part; what is left is
    noise, each divided by the factor it multiplies noise by. Medians, not
    means, so that a kink at the base point (a ReLU input exactly at 0), which spoils
    at most j of the differences, is not mistaken for noise. If the probe moves f by
    less than an ulp (most values equal), the step grows by 100 and the probe repeats.

    A loss can be quantized far above ``eps * |f|``: a confident cross-entropy
    ``log(1 + 1e-9)`` moves in steps of eps, 1e-7 of itself, and along a line its
    differences can be exactly 0 or exactly linear, leaving nothing to a median. Where
    some neighbouring probe values are equal and others not, or where every move is a
    whole multiple of one step (:func:`_lattice`), f is a staircase, and its smallest
    step ``q`` bounds the rounding: sigma is at least ``q / sqrt(12)``.

    Each parameter's direction is seeded by its name, so the measurement, and with it
    the verdict, does not depend on the order of the parameters.
    """
    unit = {n: _probe_direction(n, sc.size) for n, sc in zip(ev.params.names, scales)}
    half = NOISE_POINTS // 2
    step = NOISE_STEP
    sigma = np.zeros(f0.size)
    stair = np.zeros(f0.size)
    for _ in range(NOISE_TRIES):
        direction = {n: (unit[n] * sc * step).reshape(ev.params.arrays[n].shape)
                     for n, sc in zip(ev.params.names, scales)}
        ts = [t for t in _NOISE_T if t != 0]
        vals = ev.evaluate([DirectionalPerturbation(direction, float(t), "measuring the loss's rounding noise") for t in ts])
        table = np.insert(vals, half, f0, axis=0)  # (NOISE_POINTS, m), rows ordered by t
        sigma = np.max([_robust_sigma(table, j) for j in (3, 4)], axis=0)
        gaps = np.abs(np.diff(table, axis=0))
        stairs = (gaps == 0).any(axis=0) & (gaps > 0).any(axis=0)
        q = np.where(gaps > 0, gaps, np.inf).min(axis=0)
        # x + t d is rounded to x's grid too: f's moves then sit on a lattice of about
        # |slope| ulp(x_i) / |d_i| even where f itself is exact. Only a coarser one is f's.
        coarse = max(float(np.max(np.spacing(np.abs(ev.params.arrays[n].ravel())).astype(np.float64)
                                  / np.maximum(np.abs(direction[n].ravel()), np.finfo(float).tiny)))
                     for n in ev.params.names)
        slope = np.abs(table[[0, -1]] - f0).max(axis=0) / abs(_NOISE_T[0])
        lattice = _lattice(table - f0)
        lattice = np.where(lattice > 4 * slope * coarse, lattice, 0.0)
        stair = np.maximum(stair, np.maximum(np.where(stairs, q, 0.0), lattice) / math.sqrt(12.0))
        distinct = np.array([np.unique(table[:, k]).size for k in range(table.shape[1])])
        if np.all(distinct > NOISE_POINTS // 2):
            break
        step *= 100.0
    return np.maximum(sigma, stair), distinct == 1


LATTICE_MAX = 1000.0
"""A lattice is believed only if the probe's largest move spans at most this many of its
steps: to fit every move within 5% of a whole multiple of a fine enough step is chance."""


def _lattice(moves: np.ndarray) -> np.ndarray:
    """Per column of ``moves`` (f(t) - f(0) at the probe points): the step q of which every
    move is a whole multiple, or 0 where there is none.

    The probe's points are unevenly spaced, so a smooth f's moves have irrational ratios
    and fit no coarse lattice; a quantized f's moves are whole multiples of its step
    whatever the spacing, and Euclid's algorithm (with a tolerance) finds that step.
    """
    out = np.zeros(moves.shape[1])
    for c in range(moves.shape[1]):
        m = np.abs(moves[:, c])
        m = m[m > 0]
        if m.size < 3:  # the staircase and flat rules cover f that (nearly) never moves
            continue
        top = float(m.max())
        tol = top / (20.0 * LATTICE_MAX)
        q = 0.0
        for v in m:
            a, b = (float(v), q) if v > q else (q, float(v))
            while b > tol:
                r = math.fmod(a, b)
                a, b = b, min(r, b - r)
            q = a
        if q >= top / LATTICE_MAX:
            r = moves[:, c] / q
            if np.max(np.abs(r - np.round(r))) <= 0.05:
                out[c] = q
    return out


def _difference_weights(t: np.ndarray, j: int) -> np.ndarray:
    """Rows: the j-th divided differences over consecutive points of ``t``, each divided by
    ``sqrt(sum of squared weights)``, the factor it multiplies independent noise by (on
    equal spacing, ECnoise's ``gamma_j`` normalisation)."""
    rows = np.zeros((t.size - j, t.size))
    for i in range(t.size - j):
        tt = t[i:i + j + 1]
        w = np.array([1.0 / np.prod([tt[a] - tt[b] for b in range(j + 1) if b != a]) for a in range(j + 1)])
        rows[i, i:i + j + 1] = w / np.sqrt(np.sum(w * w))
    return rows


_NOISE_W = {j: _difference_weights(_NOISE_T, j) for j in (3, 4)}


def _robust_sigma(table: np.ndarray, j: int) -> np.ndarray:
    """Noise standard deviation from the normalised j-th divided differences of ``table``."""
    return np.median(np.abs(_NOISE_W[j] @ table), axis=0) / 0.6745


def estimate(
    ev: Evaluator,
    f0: np.ndarray,
    floor: np.ndarray,
    method: str,
    steps: Sequence[np.ndarray],
    *,
    safety: float,
    resolve_rtol: float,
    refine: bool = True,
    widen_rtol: float | None = None,
) -> list[RawEstimate]:
    """Estimate the Jacobian of ``ev``'s function with ``method`` at base steps ``steps`` (one flat array per parameter).

    ``floor`` (shape ``(m,)``) is the absolute noise of each output besides the relative
    ``NOISE_ULPS * eps * |f|``: measured noise and the spread between repeated calls.
    """
    floor = np.asarray(floor, dtype=float).reshape(-1, 1)
    eps = ev.params.eps
    out: list[RawEstimate] = []
    for p, h0 in enumerate(steps):
        idx = np.arange(h0.size)
        block = _pass(ev, f0, floor, method, p, idx, h0, eps, safety)
        step = h0.copy()
        refined = np.zeros(h0.size, dtype=bool)
        if refine and method in ("central", "richardson"):
            _refine(ev, f0, floor, method, p, idx, h0, eps, safety, resolve_rtol, block, step, refined)
        if widen_rtol is not None and method == "richardson":
            _widen(ev, f0, floor, method, p, idx, eps, safety, widen_rtol, block, step, refined)
        out.append(
            RawEstimate(
                value=block.value,
                error=block.truncation + block.rounding,
                truncation=block.truncation,
                rounding=block.rounding,
                left=block.left,
                right=block.right,
                kink=block.kink,
                side_error=block.side_error,
                jump=block.jump,
                # With two steps the jump has only a first-order bar, ~|f''| h / 2: fine for
                # finding kinks, far too wide to widen every smooth entry's tolerance by.
                jump_error=block.jump_error if method == "richardson" else block.jump_noise,
                step=step,
                refined=refined,
            )
        )
    return out


def _refine(ev: Evaluator, f0: np.ndarray, floor: np.ndarray, method: str, p: int, idx: np.ndarray,
            h0: np.ndarray, eps: float, safety: float, resolve_rtol: float, block: _Block,
            step: np.ndarray, refined: np.ndarray) -> None:
    """Re-estimate, in place, coordinates whose stencil is unclean or too coarse, with steps 16x smaller.

    An unclean stencil (a kink inside it, not at x) always takes the smaller, more local
    look; it becomes clean once the step is below the distance to the kink. A kink must
    be confirmed: at x it shows the same jump at two smaller steps (or a smaller step is
    too noisy to see it); a kink merely near x changes its apparent jump and keeps
    refining. A confirmed kink takes the smaller step while that narrows its one-sided
    slopes' bars. A clean but imprecise estimate takes the new one only if its error is
    smaller, and stops otherwise.
    """
    h = h0.copy()
    active = np.ones(h0.size, dtype=bool)
    seen = np.zeros(h0.size, dtype=int)  # smaller steps that showed the kink's jump again
    for _ in range(MAX_REFINE):
        unclean = (block.state == UNCLEAN).any(axis=0)
        kink = block.kink.any(axis=0)
        coarse = _unresolved(block, resolve_rtol) & ~kink
        todo = active & (unclean | kink | coarse)
        if not todo.any():
            return
        h = h * REFINE_FACTOR
        cols = np.flatnonzero(todo)
        sub = _pass(ev, f0, floor, method, p, idx[cols], h[cols], eps, safety)
        old_err = (block.truncation[:, cols] + block.rounding[:, cols]).max(axis=0)
        new_err = (sub.truncation + sub.rounding).max(axis=0)
        at = block.kink[:, cols]
        # A kink at x shows the same jump at every step. The smaller step's jump is the
        # more exact one: its truncation (h^2, 256 times smaller) is no excuse for a
        # difference, only its rounding.
        same = np.abs(sub.jump - block.jump[:, cols]) <= safety * (block.jump_error[:, cols] + sub.jump_noise)
        # A smaller step has more rounding; if its rounding alone hides the old jump, it
        # cannot overrule it, and no smaller step will see better.
        blind = (sub.state == SMOOTH) & (safety * sub.jump_noise >= np.abs(block.jump[:, cols]))
        confirmed = kink[cols] & np.all(np.where(at, (sub.kink & same) | blind, True), axis=0)
        seen[cols[confirmed]] += 1
        new_unclean = (sub.state == UNCLEAN).any(axis=0)
        # A confirmed kink looks closer while that sharpens its one-sided slopes: their h^2
        # truncation falls 256-fold per refinement, their rounding grows only 16-fold.
        sharper = (confirmed & ~new_unclean & np.all(sub.kink == at, axis=0)
                   & np.all(np.where(sub.kink, same, True), axis=0)
                   & (np.nanmax(sub.side_error, axis=0) < np.nanmax(block.side_error[:, cols], axis=0)))
        # Two confirmations, at 16 and 256 times smaller steps: a cluster of kinks around
        # x, closer than the step, mimics one kink at x, but its apparent jump moves once
        # the step nears the cluster's width.
        settled = confirmed & ((seen[cols] >= 2) | np.any(at & blind, axis=0))
        accept = sharper | (~confirmed & (unclean[cols] | kink[cols] | new_unclean | (new_err <= old_err)))
        take = cols[accept]
        for name in ("value", "truncation", "rounding", "left", "right", "state", "side_error", "jump", "jump_error",
                     "jump_noise"):
            getattr(block, name)[:, take] = getattr(sub, name)[:, accept]
        step[take] = h[take]
        refined[take] = True
        seen[cols[~confirmed]] = 0
        active[cols[~accept & (~confirmed | settled)]] = False


WIDEN_FACTOR = 4.0
MAX_WIDEN = 2


def _widen(ev: Evaluator, f0: np.ndarray, floor: np.ndarray, method: str, p: int, idx: np.ndarray, eps: float,
           safety: float, widen_rtol: float, block: _Block, step: np.ndarray, refined: np.ndarray) -> None:
    """Re-estimate, in place, smooth coordinates whose error is mostly rounding, and above
    ``widen_rtol`` of the parameter's scale, with steps 4x larger (richardson only).

    A derivative far smaller than the loss (an early layer of a deep sigmoid net: 4e-6
    against a loss of 0.1) is resolved only to eps |f| / (h |g|), 3e-7 at the default
    step; truncation, of order h^6 after extrapolation, usually has room to spare (the
    base step eps^0.2 is chosen for the hardest curvature, not this one's). The
    wider look is taken only where it is clean (a kink it reaches makes it unclean when
    its jump stands above the bars; a smaller one is within its truncation estimate), its
    error is no larger in any output row and smaller in one, and it agrees with the
    narrower one within both error bars.
    """
    active = ~refined
    for _ in range(MAX_WIDEN):
        scale = np.abs(block.value).max(axis=1, keepdims=True)
        err = block.truncation + block.rounding
        todo = (active & (block.state == SMOOTH).all(axis=0)
                & (block.rounding > 4 * block.truncation).all(axis=0)
                & ((err > widen_rtol * scale) & (scale > 0)).any(axis=0))
        if not todo.any():
            return
        cols = np.flatnonzero(todo)
        h = _representable(ev, p, idx[cols], step[cols] * WIDEN_FACTOR)
        sub = _pass(ev, f0, floor, method, p, idx[cols], h, eps, safety)
        old_err, new_err = err[:, cols], sub.truncation + sub.rounding
        agree = np.abs(sub.value - block.value[:, cols]) <= safety * (old_err + new_err)
        # Per output row: a Jacobian's rows have scales of their own, and none may get worse.
        better = ((sub.state == SMOOTH).all(axis=0) & agree.all(axis=0)
                  & (new_err <= old_err).all(axis=0) & (new_err < old_err).any(axis=0))
        take = cols[better]
        for name in ("value", "truncation", "rounding", "left", "right", "state", "side_error", "jump", "jump_error",
                     "jump_noise"):
            getattr(block, name)[:, take] = getattr(sub, name)[:, better]
        step[take] = h[better]
        active[cols[~better]] = False


def _representable(ev: Evaluator, p: int, idx: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Steps ``h`` adjusted so that ``x + h`` is exact in float64, as the base steps are."""
    x = ev.params.arrays[ev.params.names[p]].astype(np.float64).ravel()[idx]
    return (x + h) - x


def _unresolved(block: _Block, resolve_rtol: float) -> np.ndarray:
    """Coordinates whose truncation error dominates and is too large for the target resolution."""
    scale = np.abs(block.value).max(axis=1, keepdims=True)  # per output row
    bad = (block.truncation > block.rounding) & (block.truncation > resolve_rtol * scale)
    return bad.any(axis=0)


def _noise(f: np.ndarray, floor: np.ndarray, eps: float) -> np.ndarray:
    """Noise bound of function values ``f`` (shape ``(m, k)``); ``floor`` has shape ``(m, 1)``."""
    return np.maximum(ulps(f, eps), floor)


def _pass(ev: Evaluator, f0: np.ndarray, floor: np.ndarray, method: str, p: int, idx: np.ndarray,
          h: np.ndarray, eps: float, safety: float) -> _Block:
    if method == "complex":
        return _complex(ev, p, idx, h, eps)
    levels = 2 if method in ("forward", "central") else 3
    hs = [h / 2.0**k for k in range(levels)]
    fp = [_column_values(ev, p, idx, hk) for hk in hs]  # each (m, len(idx))
    # Divide by the steps the parameter really moved: x + h/2 rounds wherever h/2 is no
    # multiple of x's ulp, an error of ulp(x) / h that reaches 1e-7 at steps of 1e-9.
    hp = [_applied(ev, p, idx, hk) for hk in hs]
    n0 = _noise(f0[:, None], floor, eps)
    if method == "forward":
        d = [(fp[k] - f0[:, None]) / hp[k] for k in range(levels)]
        r = [(_noise(fp[k], floor, eps) + n0) / hs[k] for k in range(levels)]
        nan = np.full_like(d[1], np.nan)
        return _Block(d[1], np.abs(d[0] - d[1]), r[1], nan, nan.copy(), np.zeros(d[1].shape, dtype=int), nan.copy(),
                      nan.copy(), nan.copy(), nan.copy())
    fm = [_column_values(ev, p, idx, -hk) for hk in hs]
    hm = [-_applied(ev, p, idx, -hk) for hk in hs]
    # The mean of the one-sided slopes: equal to (f+ - f-) / 2h when the steps are, and when
    # rounding makes them differ it stays exact at a kink (a plain quotient errs by jump x ulp/h).
    f0c = f0[:, None]
    d = [((fp[k] - f0c) / hp[k] + (f0c - fm[k]) / hm[k]) / 2 for k in range(levels)]
    r = [(_noise(fp[k], floor, eps) + _noise(fm[k], floor, eps)) / (2 * hs[k]) for k in range(levels)]
    if method == "central":
        # D(h/2) has error c h^2/4 and D(h) - D(h/2) = 3 c h^2/4.
        value, trunc, rnd = d[1], np.abs(d[0] - d[1]) / 3.0, r[1]
    else:
        b1 = (4 * d[1] - d[0]) / 3
        b2 = (4 * d[2] - d[1]) / 3
        value = (16 * b2 - b1) / 15  # = (64 D2 - 20 D1 + D0) / 45, O(h^6)
        trunc = np.abs(value - b2)  # error of the O(h^4) estimate bounds that of the O(h^6) one
        rnd = (64 * r[2] + 20 * r[1] + r[0]) / 45
    sides = _one_sided(f0, fp, fm, hs, hp, hm, n0, floor, eps, safety)
    jump, jump_err, jump_noise, jump_off = _jump(f0, fp, fm, hs, hp, hm, n0, floor, eps, safety)
    kink = ~sides.unclean & (np.abs(jump) > safety * jump_err)
    state = np.where(kink, KINK, SMOOTH)
    if levels == 3:
        # At a kink at x the central sequence converges at first order (the two sides'
        # curvatures differ: gaps halve); kinks near x, not at it, still add a 1/h term.
        noise_d = [2 * x for x in r]
        central_off = np.where(kink, _off_rate(d, noise_d, (1.5, 20.0), safety), _off_rate(d, noise_d, (3.0, 20.0), safety))
        # Smooth: the central value agrees with both sides. Kink at x: each central
        # difference is the average of the one-sided ones, so the value lies between the
        # slopes up to an O(h) term (refinement shrinks it); a cluster of kinks around x
        # can fake a steady jump, rarely this as well.
        lo, hi = np.fmin(sides.left, sides.right), np.fmax(sides.left, sides.right)
        margin = safety * (trunc + rnd + sides.err_l + sides.err_r)
        unclean = sides.unclean | central_off | np.where(
            kink, jump_off | (value < lo - margin) | (value > hi + margin),
            (np.abs(value - sides.right) > safety * (trunc + rnd + sides.err_r))
            | (np.abs(value - sides.left) > safety * (trunc + rnd + sides.err_l)))
        state = np.where(unclean, UNCLEAN, state)
        # An unclean stencil's own bars mean nothing: widen to the spread of everything seen.
        spread = np.max(np.abs(np.stack([d[0], d[1], d[2], sides.right, sides.left]) - value), axis=0)
        trunc = np.where(unclean, np.maximum(trunc, spread), trunc)
    # At a kink the valid slopes are the one-sided ones: the central sequence then has odd
    # powers of h too, which Richardson's even-power extrapolation neither removes nor sees
    # in its error bar. The jump serves to find kinks, not to bound them.
    return _Block(value, trunc, rnd, sides.left, sides.right, state, sides.err_l + sides.err_r, jump, jump_err,
                  jump_noise)


@dataclass
class _Sides:
    left: np.ndarray
    right: np.ndarray
    err_l: np.ndarray
    err_r: np.ndarray
    unclean: np.ndarray


def _one_sided(f0: np.ndarray, fp: list[np.ndarray], fm: list[np.ndarray], hs: list[np.ndarray],
               hp: list[np.ndarray], hm: list[np.ndarray], n0: np.ndarray, floor: np.ndarray, eps: float, safety: float) -> _Sides:
    """Extrapolated left and right slopes, their error bars, and unclean sides.

    ``R*(h) = 2 R(h/2) - R(h)`` is second-order. With three steps, a side is *clean* when
    the gaps between its one-sided differences shrink by about 2 per halving (or are
    lost in noise): the function is smooth on that side over the whole stencil. A kink
    inside the stencil, not at x, adds a 1/h term that inverts the ratio. The sides'
    bars are ``|R*(h/2) - R*(h)| / 3``; they serve to test that a smooth entry's central
    value lies between its sides. Whether there is a kink at x is :func:`_jump`'s question.
    With two steps (``central``) only first-order bars exist and cleanliness is not tested.
    """
    f0c = f0[:, None]
    right = [(fp[k] - f0c) / hp[k] for k in range(len(hs))]
    left = [(f0c - fm[k]) / hm[k] for k in range(len(hs))]
    noise_r = [2 * (_noise(fp[k], floor, eps) + n0) / hs[k] for k in range(len(hs))]
    noise_l = [2 * (_noise(fm[k], floor, eps) + n0) / hs[k] for k in range(len(hs))]
    if len(hs) >= 3:
        r_a, r_b = 2 * right[1] - right[0], 2 * right[2] - right[1]
        l_a, l_b = 2 * left[1] - left[0], 2 * left[2] - left[1]
        err_r = np.abs(r_b - r_a) / 3 + 3 * noise_r[2]
        err_l = np.abs(l_b - l_a) / 3 + 3 * noise_l[2]
        unclean = _off_rate(right, noise_r, (1.5, 5.0), safety) | _off_rate(left, noise_l, (1.5, 5.0), safety)
        r_star, l_star = r_b, l_b
    else:
        r_star, l_star = 2 * right[1] - right[0], 2 * left[1] - left[0]
        err_r = np.abs(right[1] - right[0]) + 3 * noise_r[1]
        err_l = np.abs(left[1] - left[0]) + 3 * noise_l[1]
        unclean = np.zeros(r_star.shape, dtype=bool)
    return _Sides(l_star, r_star, err_l, err_r, unclean)


def _jump(f0: np.ndarray, fp: list[np.ndarray], fm: list[np.ndarray], hs: list[np.ndarray],
          hp: list[np.ndarray], hm: list[np.ndarray], n0: np.ndarray, floor: np.ndarray, eps: float,
          safety: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Right minus left slope at x, its error bar, the rounding part of that bar, and
    where its sequence does not converge like a kink at x's.

    ``G(h) = (f(x+h) + f(x-h) - 2 f(x)) / h = R(h) - L(h)`` is ``J + (a2 + b2) h / 2 +
    (a3 - b3) h^2 / 6 + ...`` where ``ak``, ``bk`` are the k-th derivatives right and left
    of x and ``J = a1 - b1``. Where f is smooth, ``J = 0`` and only odd powers remain; the
    one-sided slopes' h^2 terms, which dominate their bars, cancel either way. One
    extrapolation ``2 G(h/2) - G(h)`` removes the h term; the bars assume the h^2 term
    left where the third derivatives differ (4 times smaller per halving; 8 where smooth).
    Of the two extrapolations three steps allow, the one with the smaller bar is kept: the
    coarser has about half the rounding, the finer a quarter of the truncation. Rounding
    is carried through the exact stencil weights. A cluster of kinks around x, not at it,
    adds a 1/h term to G, whose gaps then stop shrinking by 2 to 4.
    """
    f0c = f0[:, None]
    g = [(fp[k] - f0c) / hp[k] - (f0c - fm[k]) / hm[k] for k in range(len(hs))]
    nv = [_noise(fp[k], floor, eps) + _noise(fm[k], floor, eps) for k in range(len(hs))]

    def extrapolated(k: int) -> tuple[np.ndarray, np.ndarray]:
        """``2 G(h_{k+1}) - G(h_k)`` and the rounding it carries (sum of |weight| x noise)."""
        fine, coarse = hs[k + 1], hs[k]
        return 2 * g[k + 1] - g[k], 2 * nv[k + 1] / fine + nv[k] / coarse + np.abs(2 / coarse - 4 / fine) * n0

    j_a, noise_a = extrapolated(0)
    if len(hs) < 3:
        return j_a, np.abs(g[1] - g[0]) + noise_a, noise_a, np.zeros(j_a.shape, dtype=bool)
    j_b, noise_b = extrapolated(1)
    gap = np.abs(j_b - j_a)
    err_a, err_b = 4 * gap / 3 + noise_a, gap / 3 + noise_b
    coarse = err_a < err_b
    off = _off_rate(g, [2 * (nv[k] + 2 * n0) / hs[k] for k in range(len(hs))], (1.5, 5.0), safety)
    return np.where(coarse, j_a, j_b), np.fmin(err_a, err_b), np.where(coarse, noise_a, noise_b), off


def _off_rate(est: list[np.ndarray], noise: list[np.ndarray], window: tuple[float, float], safety: float) -> np.ndarray:
    """Where estimates at h, h/2, h/4 do not converge at their scheme's rate (gaps above noise only).

    A smooth function's gaps shrink per halving by 4 to 16 for central differences
    (h^2 and h^4 terms) and by 2 to 4 for one-sided ones (h and h^2 terms); ``window``
    adds a margin. A kink inside the stencil adds a 1/h term, which pushes the ratio
    below it or makes it negative.
    """
    g01, g12 = est[0] - est[1], est[1] - est[2]
    visible = (np.abs(g01) > safety * (noise[0] + noise[1])) | (np.abs(g12) > safety * (noise[1] + noise[2]))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = g01 / g12
    return visible & ~((ratio >= window[0]) & (ratio <= window[1]))


def _column_values(ev: Evaluator, p: int, idx: np.ndarray, h: np.ndarray) -> np.ndarray:
    vals = ev.evaluate([Perturbation(p, int(i), float(hi)) for i, hi in zip(idx, h)])
    return vals.T


def _applied(ev: Evaluator, p: int, idx: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The displacement entries ``idx`` really get when the Evaluator adds ``h`` (in their dtype)."""
    x = ev.params.arrays[ev.params.names[p]].ravel()[idx]
    moved = x + h.astype(x.dtype)  # as the Evaluator adds it: in x's dtype (NumPy 2 keeps float32 + float in float32)
    return moved.astype(np.float64) - x.astype(np.float64)


def _complex(ev: Evaluator, p: int, idx: np.ndarray, h: np.ndarray, eps: float) -> _Block:
    vals = ev.evaluate([Perturbation(p, int(i), complex(0.0, hi)) for i, hi in zip(idx, h)], real=False).T
    value = vals.imag / h
    # Truncation is h^2 f'''/6 with h ~ 1e-20: nil. Rounding is a few ulps of the imaginary
    # part, carried through the division by h: ulps of the result, except where f' h is
    # subnormal (f' ~ 1e-298 at h = 1e-20) and keeps only a few digits.
    rnd = ulps(vals.imag, eps) / h
    nan = np.full_like(value, np.nan)
    return _Block(value, np.zeros_like(value), rnd, nan, nan.copy(), np.zeros(value.shape, dtype=int), nan.copy(),
                  nan.copy(), nan.copy(), nan.copy())
