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

Refinement can also be led astray by rounding the noise probe missed: one term of a sum
rounded on a coarse grid (``log(1 - s)`` at a saturated s) looks like a kink to a stencil
that does not know its noise, and ever smaller steps land on one stair, where f does not
move and the estimate is 0. Such an entry's noise is measured along it alone, its floor
raised, and it is estimated again at its base step (:func:`_frozen`, :func:`_frozen_base`).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import numpy as np

from ..core._errors import NonFiniteError
from ..core._evaluator import DirectionalPerturbation, Evaluator, Perturbation
from ..core._status import Stencil
from ._seam import OracleEstimate
from ._stencil import (
    CENTRAL_RATE,
    CENTRAL_RATE_AT_KINK,
    ONE_SIDED_RATE,
    REFINE_FACTOR,
    Bars,
    apart_from_slopes,
    extrapolate_h2,
    extrapolate_h2_rounding,
    jump_bars,
    jump_extrapolations,
    jump_rounding,
    kink_at_x,
    level_step,
    off_rate,
    one_sided,
    one_sided_pair,
    outside_slopes,
    pair_truncation,
    refine,
    richardson,
    richardson_rounding,
    richardson_truncation,
)

__all__ = [
    "Plan",
    "estimate",
    "resolve_rtol",
    "measure_noise",
    "default_base_step",
    "NOISE_ULPS",
    "ulps",
    "NOISE_SIGMAS",
    "REFINE_FACTOR",
    "MAX_REFINE",
]

NOISE_ULPS = 4.0
"""A loss value is taken to be accurate to at least ``NOISE_ULPS * eps * |f|``. This is
only the floor under the *measured* noise (:func:`measure_noise`), which is what covers
sums over many terms and cancellation; a larger floor would hide small kinks (a slope
jump of 5e-8 at |f| ~ 0.5) behind invented rounding."""

NOISE_SIGMAS = 4.0
"""Rounding noise is bounded by this many measured standard deviations."""

_SUBNORMAL = {float(np.finfo(t).eps): float(np.finfo(t).smallest_subnormal)
              for t in (np.float16, np.float32, np.float64)}


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

MAX_REFINE = 6
"""Refinement divides the step by 16 (:data:`gradcheck.oracles._stencil.REFINE_FACTOR`: kinks closer
than the step come out of the stencil fast; rounding grows only 16-fold per look), at most 6
times (a step 1.7e7 times smaller)."""

RESOLVE_EXPONENT = 0.6


def resolve_rtol(eps: float) -> float:
    """Truncation error, relative to a row's scale, above which an entry is re-estimated with
    a smaller step: ``eps ** 0.6``, 4e-10 in float64 (250 times under the tolerance floor of
    1e-7, so truncation never decides a verdict) and 7e-5 in float32 (5 times under its
    floor of 3.5e-4), yet above what rounding leaves after a 16 times smaller step."""
    return float(eps**RESOLVE_EXPONENT)


def default_base_step(method: str, eps: float) -> float:
    """Relative base step balancing truncation against rounding for each scheme's order."""
    return {
        "forward": eps ** 0.5,  # error ~ h + eps/h
        "central": eps ** (1 / 3),  # error ~ h^2 + eps/h
        "richardson": eps ** 0.2,  # 6th order after two extrapolations; rounding dominates below this
        "complex": 1e-20,  # no subtraction, no cancellation: any tiny step is exact to rounding
    }[method]


def _probe_direction(name: str, size: int) -> np.ndarray:
    """Entries of magnitude 0.5..1 with random signs, seeded by the parameter's name. Bounded
    away from 0 so that no entry moves by less than half the step: the lattice rule's
    threshold (``coarse`` below) is set by the entry that moves least."""
    rng = np.random.default_rng([0x6E6F6973, zlib.crc32(name.encode())])
    return rng.uniform(0.5, 1.0, size=size) * rng.choice([-1.0, 1.0], size=size)


def measure_noise(ev: Evaluator, f0: np.ndarray, scales: Sequence[np.ndarray],
                  notes: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
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

    The probe moves every entry by up to ``6 step`` of its scale ``max(|x_i|, typical)``, which
    can leave the loss's domain where the entries' own steps, cut by the domain logic, do not
    (``sqrt`` at x_i = 1e-12). Where it meets a non-finite value it stays inside
    (:func:`_probe_values`): each entry moves by at most that fraction of itself (entries at 0
    not at all), then the whole step is cut; a note says so.
    """
    unit = {n: _probe_direction(n, sc.size) for n, sc in zip(ev.params.names, scales, strict=True)}
    half = NOISE_POINTS // 2
    step = NOISE_STEP
    sigma = np.zeros(f0.size)
    stair = np.zeros(f0.size)
    probe = _Probe(ev, list(scales), notes)
    for _ in range(NOISE_TRIES):
        vals, direction = probe.values(unit, step)
        table = np.insert(vals, half, f0, axis=0)  # (NOISE_POINTS, m), rows ordered by t
        sigma = np.max([_robust_sigma(table, j) for j in (3, 4)], axis=0)
        gaps = np.abs(np.diff(table, axis=0))
        stairs = (gaps == 0).any(axis=0) & (gaps > 0).any(axis=0)
        q = np.where(gaps > 0, gaps, np.inf).min(axis=0)
        # x + t d is rounded to x's grid too: f's moves then sit on a lattice of about
        # |slope| ulp(x_i) / |d_i| even where f itself is exact. Only a coarser one is f's.
        # (an entry the probe holds still, at 0 inside a domain, puts nothing on the lattice)
        coarse = max(float(np.max(np.where(direction[n].ravel() != 0,
                                           np.spacing(np.abs(ev.params.arrays[n].ravel())).astype(np.float64)
                                           / np.maximum(np.abs(direction[n].ravel()), np.finfo(float).tiny), 0.0)))
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


class _Probe:
    """The noise probe's evaluations along ``unit * scale * step``, kept inside the loss's domain."""

    def __init__(self, ev: Evaluator, scales: list[np.ndarray], notes: list[str] | None) -> None:
        self.ev, self.scales, self.notes = ev, scales, notes
        self.restricted = False
        self.cuts = 0

    def values(self, unit: dict[str, np.ndarray], step: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """f at the probe points (rows ordered by t, 0 left out) and the direction used.

        On a non-finite value: first each entry's scale becomes ``min(scale, |x_i|)`` (a move of
        at most 6e-10 of itself at the first step cannot cross a domain boundary at 0, the usual
        one: sqrt, log, a division), then the step is cut by :data:`REFINE_FACTOR`, at most
        :data:`MAX_DOMAIN_CUTS` times, as the entries' steps are; only then is the error raised.
        """
        ev = self.ev
        ts = [t for t in _NOISE_T if t != 0]
        purpose = "measuring the loss's rounding noise"
        while True:
            h = step * REFINE_FACTOR ** self.cuts
            direction = {n: (unit[n] * sc * h).reshape(ev.params.arrays[n].shape)
                         for n, sc in zip(ev.params.names, self.scales, strict=True)}
            try:
                return ev.evaluate([DirectionalPerturbation(direction, float(t), purpose) for t in ts]), direction
            except NonFiniteError:
                if not self.restricted:
                    self.restricted = True
                    self.scales = [np.minimum(sc, np.abs(ev.params.arrays[n].astype(np.float64).ravel()))
                                   for n, sc in zip(ev.params.names, self.scales, strict=True)]
                    if self.notes is not None:
                        self.notes.append(
                            f"the noise probe along a random direction left {ev.fn_name}'s domain: it was measured "
                            f"moving each entry by a fraction of itself (entries at 0 held still)")
                elif self.cuts < MAX_DOMAIN_CUTS:
                    self.cuts += 1
                else:
                    raise


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


# --------------------------------------------------------------------------- widening
# The convergence windows (CENTRAL_RATE, CENTRAL_RATE_AT_KINK, ONE_SIDED_RATE) are the kernel's:
# gradcheck.oracles._stencil.
WIDEN_FACTOR = 4.0
MAX_WIDEN = 2
"""A rounding-limited entry may take a step 4 times wider, twice at most (16 times the
base step): richardson's h^6 truncation has room for that on the losses where it helps."""

ROUNDING_DOMINATES = 4.0
"""An entry is rounding-limited when its rounding bar is more than 4 times its truncation bar."""


@dataclass(frozen=True)
class Plan:
    """How to run the schemes: which one, the base step per coordinate (one flat array per
    parameter), the safety factor, and the refinement and widening thresholds."""

    method: str
    steps: Sequence[np.ndarray]
    safety: float
    resolve_rtol: float
    refine: bool = True
    widen_rtol: float | None = None


@dataclass
class _Block:
    """One stencil pass over some coordinates of one parameter: arrays ``(m, k)``."""

    value: np.ndarray
    truncation: np.ndarray
    rounding: np.ndarray
    left: np.ndarray  # extrapolated one-sided slopes (NaN where the scheme has none)
    right: np.ndarray
    state: np.ndarray  # Stencil codes
    side_error: np.ndarray  # bar of the one-sided slopes
    jump: np.ndarray  # right minus left slope
    jump_error: np.ndarray  # its bar: a smaller jump cannot be told from none
    jump_noise: np.ndarray  # the rounding part of jump_error
    moved_left: np.ndarray  # some value left of x differs from f(x) (:func:`_moved`)
    moved_right: np.ndarray  # and right of it

    @property
    def kink(self) -> np.ndarray:
        return self.state == Stencil.KINK

    @property
    def error(self) -> np.ndarray:
        return self.truncation + self.rounding

    def take(self, cols: np.ndarray, sub: _Block, accept: np.ndarray) -> np.ndarray:
        """Overwrite columns ``cols[accept]`` with ``sub``'s accepted columns; return those columns."""
        chosen = cols[accept]
        for f in fields(self):
            getattr(self, f.name)[:, chosen] = getattr(sub, f.name)[:, accept]
        return chosen

    @classmethod
    def without_sides(cls, value: np.ndarray, truncation: np.ndarray, rounding: np.ndarray) -> _Block:
        """A scheme with no one-sided pair of slopes (forward, complex step): no kink detection."""
        def nan() -> np.ndarray:
            return np.full_like(value, np.nan)

        state = np.zeros(value.shape, dtype=int)
        return cls(value, truncation, rounding, nan(), nan(), state, nan(), nan(), nan(), nan(),
                   np.ones(value.shape, dtype=bool), np.ones(value.shape, dtype=bool))


@dataclass(frozen=True)
class _Site:
    """Where passes evaluate: one parameter of the evaluator's function, its base value and noise."""

    ev: Evaluator
    f0: np.ndarray  # (m, 1)
    floor: np.ndarray  # (m, k) absolute noise besides ulps of f, per output row and coordinate
    param: int
    eps: float
    safety: float

    def at(self, cols: np.ndarray) -> _Site:
        """The site seen by columns ``cols`` of ``floor`` only (a pass over some coordinates)."""
        return replace(self, floor=self.floor[:, cols])

    def noise(self, f: np.ndarray) -> np.ndarray:
        """Noise bound of function values ``f`` (shape ``(m, k)``)."""
        return np.maximum(ulps(f, self.eps), self.floor)

    def values(self, idx: np.ndarray, h: np.ndarray) -> np.ndarray:
        """f with entry ``idx[j]`` moved by ``h[j]``: shape ``(m, len(idx))``."""
        requests = [Perturbation(self.param, int(i), float(hi)) for i, hi in zip(idx, h, strict=True)]
        return self.ev.evaluate(requests, keep_nonfinite=True).T

    def applied(self, idx: np.ndarray, h: np.ndarray) -> np.ndarray:
        """The displacement entries ``idx`` really get when the Evaluator adds ``h`` (in their dtype).

        x + h/2 rounds wherever h/2 is no multiple of x's ulp, an error of ulp(x) / h that
        reaches 1e-7 at steps of 1e-9: slopes divide by the step really taken.
        """
        x = self.ev.params.arrays[self.ev.params.names[self.param]].ravel()[idx]
        # In x's dtype, as the Evaluator adds it (NumPy 2 keeps float32 + float in float32).
        moved = x + h.astype(x.dtype)
        return moved.astype(np.float64) - x.astype(np.float64)

    def representable(self, idx: np.ndarray, h: np.ndarray) -> np.ndarray:
        """Steps ``h`` adjusted so that ``x + h`` is exact in float64, as the base steps are."""
        x = self.ev.params.arrays[self.ev.params.names[self.param]].astype(np.float64).ravel()[idx]
        return (x + h) - x


@dataclass(frozen=True)
class _Level:
    """f at x + h (and x - h) for one step of the stencil, with the displacements really
    applied (``h_minus`` is positive: the point is x - h_minus) and the noise of each value."""

    h: np.ndarray
    f_plus: np.ndarray
    h_plus: np.ndarray
    noise_plus: np.ndarray
    f_minus: np.ndarray | None = None
    h_minus: np.ndarray | None = None
    noise_minus: np.ndarray | None = None

    @classmethod
    def forward(cls, site: _Site, idx: np.ndarray, h: np.ndarray) -> _Level:
        f = site.values(idx, h)
        return cls(h, f, site.applied(idx, h), site.noise(f))

    def with_minus(self, site: _Site, idx: np.ndarray) -> _Level:
        f = site.values(idx, -self.h)
        return _Level(self.h, self.f_plus, self.h_plus, self.noise_plus, f, -site.applied(idx, -self.h), site.noise(f))

    def columns(self, cols: np.ndarray) -> _Level:
        """The same level at coordinates ``cols`` only."""
        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[..., cols]

        return _Level(self.h[cols], self.f_plus[:, cols], self.h_plus[cols], self.noise_plus[:, cols],
                      pick(self.f_minus), pick(self.h_minus), pick(self.noise_minus))

    def right(self, f0: np.ndarray) -> np.ndarray:
        return (self.f_plus - f0) / self.h_plus

    def left(self, f0: np.ndarray) -> np.ndarray:
        return (f0 - self.f_minus) / self.h_minus


@dataclass
class _Coords:
    """The coordinates of one parameter, and per coordinate the step finally used and
    whether refinement changed it."""

    idx: np.ndarray
    step: np.ndarray
    refined: np.ndarray


# --------------------------------------------------------------------------- driver
def estimate(ev: Evaluator, f0: np.ndarray, floor: np.ndarray | float, plan: Plan) -> list[OracleEstimate]:
    """Estimate the Jacobian of ``ev``'s function by ``plan`` (one estimate per parameter).

    ``floor`` (shape ``(m,)``) is the absolute noise of each output besides the relative
    ``NOISE_ULPS * eps * |f|``: measured noise and the spread between repeated calls.
    """
    floor = np.asarray(floor, dtype=float).reshape(-1, 1)
    eps = ev.params.eps
    out: list[OracleEstimate] = []
    for p, h0 in enumerate(plan.steps):
        # One column per coordinate: a staircase found at one entry raises that entry's floor alone.
        site = _Site(ev, f0[:, None], np.repeat(floor, h0.size, axis=1), p, eps, plan.safety)
        coords = _Coords(np.arange(h0.size), h0.copy(), np.zeros(h0.size, dtype=bool))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            block = _pass(site, plan.method, coords.idx, h0)
            domain = _into_domain(site, plan.method, block, coords)
            out.append(_refined(site, plan, block, coords, domain))
    return out


def _refined(site: _Site, plan: Plan, block: _Block, coords: _Coords, domain: np.ndarray) -> OracleEstimate:
    """Refine and widen ``block`` as the plan says; the estimate the judge gets."""
    if plan.refine and plan.method in ("central", "richardson"):
        _frozen_base(site, plan.method, block, coords)
        _refine(site, plan.method, block, coords, plan.resolve_rtol)
    if plan.widen_rtol is not None and plan.method == "richardson":
        _widen(site, block, coords, plan.widen_rtol)
    return OracleEstimate(
        value=block.value,
        error=block.error,
        left=block.left,
        right=block.right,
        kink=block.kink,
        side_error=block.side_error,
        jump=block.jump,
        # With two steps the jump has only a first-order bar, ~|f''| h / 2: fine for
        # finding kinks, far too wide to widen every smooth entry's tolerance by.
        jump_error=block.jump_error if plan.method == "richardson" else block.jump_noise,
        step=coords.step,
        refined=coords.refined,
        domain_limited=domain,
    )


MAX_DOMAIN_CUTS = 4
"""A step whose stencil leaves the loss's domain (a variance of 1e-4 under sqrt, stepped by
7e-4) is cut by 16, up to 4 times (65536 times smaller), before the entry is given up as
unresolved."""


def _into_domain(site: _Site, method: str, block: _Block, coords: _Coords) -> np.ndarray:
    """Re-estimate, in place, entries whose stencil met a non-finite value, with smaller steps;
    returns where that happened."""
    limited = np.zeros(coords.idx.size, dtype=bool)
    for _ in range(MAX_DOMAIN_CUTS):
        todo = ~(np.isfinite(block.value) & np.isfinite(block.error)).all(axis=0) & (coords.step != 0)
        if not todo.any():
            break
        cols = np.flatnonzero(todo)
        h = refine(coords.step[cols])
        if method != "complex":
            h = site.representable(coords.idx[cols], h)
        sub = _pass(site, method, coords.idx[cols], h)
        taken = block.take(cols, sub, np.ones(cols.size, dtype=bool))
        coords.step[taken] = h
        coords.refined[taken] = True
        limited[taken] = True
    return limited


def _refine(site: _Site, method: str, block: _Block, coords: _Coords, resolve_rtol: float) -> None:
    """Re-estimate, in place, coordinates whose stencil is unclean or too coarse, with steps 16x smaller.

    An unclean stencil (a kink inside it, not at x) always takes the smaller, more local
    look; it becomes clean once the step is below the distance to the kink. A kink must
    be confirmed: at x it shows the same jump at two smaller steps (or a smaller step is
    too noisy to see it); a kink merely near x changes its apparent jump and keeps
    refining. A confirmed kink takes the smaller step while that narrows its one-sided
    slopes' bars. A clean but imprecise estimate takes the new one only if its error is
    smaller, and stops otherwise.
    """
    h = coords.step.copy()
    h0, refined0 = h.copy(), coords.refined.copy()
    active = np.ones(h.size, dtype=bool)
    seen = np.zeros(h.size, dtype=int)  # smaller steps that showed the kink's jump again
    probed = np.zeros(h.size, dtype=bool)
    for _ in range(MAX_REFINE):
        unclean = (block.state == Stencil.UNCLEAN).any(axis=0)
        kink = block.kink.any(axis=0)
        coarse = _unresolved(block, resolve_rtol) & ~kink
        todo = active & (unclean | kink | coarse)
        if not todo.any():
            return
        h = refine(h)
        cols = np.flatnonzero(todo)
        sub = _pass(site, method, coords.idx[cols], h[cols])
        # Each entry's noise is probed once: rounding it missed is found the first time it misleads.
        stairy = np.zeros(cols.size, dtype=bool)
        frozen = _frozen(block, sub, cols)
        suspect = frozen.any(axis=0) & ~probed[cols]
        if suspect.any():
            probed[cols[suspect]] = True
            stairy[suspect] = _back_to_base(site, method, block, coords,
                                            _Frozen(cols[suspect], frozen[:, suspect],
                                                    FROZEN_REACH * h0[cols[suspect]], h0, refined0))
        old_err = block.error[:, cols].max(axis=0)
        new_err = sub.error.max(axis=0)
        at = block.kink[:, cols]
        # A kink at x shows the same jump at every step. The smaller step's jump is the
        # more exact one: its truncation (h^2, 256 times smaller) is no excuse for a
        # difference, only its rounding.
        same = np.abs(sub.jump - block.jump[:, cols]) <= site.safety * (block.jump_error[:, cols] + sub.jump_noise)
        # A smaller step has more rounding; if its rounding alone hides the old jump, it
        # cannot overrule it, and no smaller step will see better.
        blind = (sub.state == Stencil.SMOOTH) & (site.safety * sub.jump_noise >= np.abs(block.jump[:, cols]))
        confirmed = kink[cols] & np.all(np.where(at, (sub.kink & same) | blind, True), axis=0)
        seen[cols[confirmed]] += 1
        new_unclean = (sub.state == Stencil.UNCLEAN).any(axis=0)
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
        # A smaller step never trades a finite estimate for a non-finite one.
        accept &= np.isfinite(sub.value).all(axis=0) | ~np.isfinite(block.value[:, cols]).all(axis=0)
        # A stencil on a staircase is noise: a smaller step only sees fewer, relatively taller stairs.
        accept &= ~stairy
        taken = block.take(cols, sub, accept)
        coords.step[taken] = h[taken]
        coords.refined[taken] = True
        seen[cols[~confirmed]] = 0
        active[cols[~accept & (~confirmed | settled)]] = False
        active[cols[stairy]] = False


FROZEN_REACH = 20.0
"""Where a stencil never moved f, f is looked at up to 20 base steps either side of x: ``log(1 -
s)`` at z = 30 moves in stairs of 1.2e-3 in z, ~4e-3 in w, which the base step of 7.4e-4 never
leaves; 20 steps cross about four, with a point or two on each. An f flat wider still is taken as
flat (its slope then below its noise / (20 h0))."""


def _frozen(block: _Block, sub: _Block, cols: np.ndarray) -> np.ndarray:
    """Rows and columns of ``sub`` (a pass at smaller steps over columns ``cols`` of ``block``) where f did
    not move at any of its points though the coarser stencil moved it: a stair of rounding
    around x, where the estimate 0 is wrong whatever the slope (``log(1 - s)`` at s = 1 - 7.6e-10,
    stairs 1.5e-7 wide in z: frozen at h = 1.8e-7, moving at 2.9e-6), or a region where f is
    flat (a dead ReLU), where 0 is right. :func:`_back_to_base` tells them apart.
    """
    return ~sub.moved_left & ~sub.moved_right & (block.moved_left[:, cols] | block.moved_right[:, cols])


def _stairs_at(site: _Site, idx: np.ndarray, rows: np.ndarray, reach: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per coordinate ``idx``: whether f, along it alone, is far noisier than the noise assumed
    there (:data:`STAIR_MARGIN`) in one of ``rows`` (``(m, k)``, the outputs that froze), and
    that noise bound there (``NOISE_SIGMAS`` deviations, shape ``(m, k)``; 0 in other rows).

    :func:`_entry_probe` at two spacings, ``reach / 6`` (:data:`FROZEN_REACH`) and 4 times less,
    and the smaller reading. Rounding reads alike at both (a saturated ``log(1 - s)`` at z = 25:
    1.3e-5 and 3.6e-6, its stairs 1e-5 wide in z crossed 70 and 17 times between points, against
    an assumed 1e-14); what kinks leave in the differences shrinks with the spacing (a slope jump
    J crossed adds about J times it), and a smooth part's share with its cube. Stairs apart from
    x count at either spacing.
    """
    wide = reach / abs(_NOISE_T[0])
    sig_w, q_w = _entry_probe(site, idx, wide)
    sig_n, q_n = _entry_probe(site, idx, wide / 4)
    sigma = np.fmin(sig_w, sig_n)
    noise = np.where(rows, NOISE_SIGMAS * np.fmax(sigma, np.fmax(q_w, q_n) / math.sqrt(12.0)), 0.0)
    return (noise > STAIR_MARGIN * site.at(idx).noise(site.f0)).any(axis=0), noise


STAIR_MARGIN = 4.0
"""Noise along an entry counts as a staircase the probe missed above 4 times the noise assumed:
those are orders of magnitude apart (``log(1 - s)`` at z = 20: 1e-7 against 1e-14), while the
same rounding read along one entry and along a random direction differs by less than 2 (13
points each); below, raising the floor would only loosen the bars of an entry that froze
honestly (a structural zero of a Jacobian, a dead unit) by what the probe already saw."""

ENTRY_QUANTILE = 0.3
"""The entry probe reads noise from the 30% quantile of its normalised differences, not the
median: a cluster of kinks near x (a ReLU net whose pre-activations are 1e-5, all 12 kinks of a
unit within 6e-5 of x) spoils the j + 1 differences whose points straddle it, 5 of the 9 fourth
differences, and so the median; it leaves the lowest 4 alone. Of a normal deviate's modulus the
30% quantile is 0.385 sigma."""

_QUANTILE_SCALE = 0.3853


def _entry_probe(site: _Site, idx: np.ndarray, step: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """f along each coordinate ``idx`` alone at ``x + t step``, for :func:`measure_noise`'s offsets t
    in -6..6: the deviation its third and fourth differences measure, and the height of a stair
    seen apart from x (0 where there is none), both of shape ``(m, k)``.

    Where the points cross many stairs the differences measure them (:data:`ENTRY_QUANTILE`:
    kinks near x spoil some); where they cross few the
    differences are mostly 0, but f is flat, jumps, and is flat again, and does so twice or more:
    such a jump between ties is a stair. One flat stretch apart from x (every ReLU input of a
    unit dead there) makes at most one; so does f flat around x, between two kinks.
    """
    ts = np.array([t for t in _NOISE_T if t != 0])
    k = idx.size
    vals = site.values(np.tile(idx, ts.size), np.repeat(ts, k) * np.tile(step, ts.size))
    table = vals.reshape(vals.shape[0], ts.size, k).transpose(1, 0, 2)
    table = np.insert(table, NOISE_POINTS // 2, np.broadcast_to(site.f0, table.shape[1:]), axis=0)
    flat = table.reshape(NOISE_POINTS, -1)
    sigma = np.max([np.quantile(np.abs(_NOISE_W[j] @ flat), ENTRY_QUANTILE, axis=0) / _QUANTILE_SCALE
                    for j in (3, 4)], axis=0)
    sigma = np.nan_to_num(sigma.reshape(table.shape[1:]), nan=0.0)  # a probe that left the domain says nothing
    gaps = np.abs(np.diff(table, axis=0))
    tie = gaps == 0
    jump = np.zeros_like(tie)
    jump[1:-1] = (gaps[1:-1] > 0) & tie[:-2] & tie[2:]
    q = np.where(jump, gaps, np.inf).min(axis=0)
    return sigma, np.where(jump.sum(axis=0) >= 2, q, 0.0)


@dataclass(frozen=True)
class _Frozen:
    """Entries whose stencil froze: their columns, the output rows that froze, how far to look for
    the loss moving, and the steps (and refinement flags) refinement started from."""

    cols: np.ndarray
    rows: np.ndarray
    reach: np.ndarray
    h0: np.ndarray
    refined0: np.ndarray


def _back_to_base(site: _Site, method: str, block: _Block, coords: _Coords, frozen: _Frozen) -> np.ndarray:
    """Measure the noise along columns ``cols`` in ``rows`` (:func:`_stairs_at`); where it is far
    above the noise assumed, re-estimate them at the step refinement started from with their floor raised to it,
    and keep that, for good, where it comes out clean. Returns the columns kept (a mask).

    Refinement took the stencil's irregularity for a kink nearby; if it was a staircase, whose
    rounding the noise probe had missed (at its step of 1e-10 a stair 1.5e-7 wide never moves,
    and the other terms of the sum keep the probe's values distinct), the base stencil is clean
    once its bars carry that rounding, ``noise / h``: 16 times less per coarser step, where each
    finer one divided fewer stairs by a smaller step. Where it is not clean a kink is there after
    all (a ReLU net's loss of 5e-9 rounds at 1e-21, above its 4 ulps, 5e-24: noise, but not what
    made the stencil unclean), and refinement goes on as before.
    """
    cols, h0, refined0 = frozen.cols, frozen.h0, frozen.refined0
    kept = np.zeros(cols.size, dtype=bool)
    noisy, noise = _stairs_at(site, coords.idx[cols], frozen.rows, frozen.reach)
    if not noisy.any():
        return kept
    cols, noise = cols[noisy], noise[:, noisy]
    idx = coords.idx[cols]
    before = site.floor[:, idx].copy()
    site.floor[:, idx] = np.maximum(before, noise)
    redo = _pass(site, method, idx, h0[cols])
    clean = (redo.state == Stencil.SMOOTH).all(axis=0)
    site.floor[:, idx[~clean]] = before[:, ~clean]
    taken = block.take(cols, redo, clean)
    coords.step[taken] = h0[taken]
    coords.refined[taken] = refined0[taken]
    kept[np.flatnonzero(noisy)[clean]] = True
    return kept


def _frozen_base(site: _Site, method: str, block: _Block, coords: _Coords) -> None:
    """Re-estimate, in place, entries whose base stencil never moved f, where f is a staircase
    wider than the stencil (``log(1 - s)`` at z = 30: stairs 4e-3 wide in w, the base step 7.4e-4;
    the estimate 0 had a bar of 7e-10 against a slope of 0.19).

    f at ``x +- FROZEN_REACH h0`` first (2 evaluations): an unused parameter or a dead unit stays
    frozen there too and costs nothing more; where f moved, :func:`_stairs_at` decides.
    """
    frozen = ~block.moved_left & ~block.moved_right & (coords.step != 0)
    cols = np.flatnonzero(frozen.any(axis=0))
    if not cols.size:
        return
    idx, h = coords.idx[cols], FROZEN_REACH * coords.step[cols]
    far = site.values(np.concatenate([idx, idx]), np.concatenate([h, -h]))
    moved = (far != site.f0).reshape(far.shape[0], 2, -1).any(axis=1)  # per row, at either end
    rows = frozen[:, cols] & moved
    keep = rows.any(axis=0)
    if keep.any():
        _back_to_base(site, method, block, coords,
                      _Frozen(cols[keep], rows[:, keep], FROZEN_REACH * coords.step[cols[keep]], coords.step.copy(),
                              coords.refined.copy()))


def _widen(site: _Site, block: _Block, coords: _Coords, widen_rtol: float) -> None:
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
    active = ~coords.refined
    for _ in range(MAX_WIDEN):
        scale = np.abs(block.value).max(axis=1, keepdims=True)
        err = block.error
        todo = (active & (block.state == Stencil.SMOOTH).all(axis=0)
                & (block.rounding > ROUNDING_DOMINATES * block.truncation).all(axis=0)
                & ((err > widen_rtol * scale) & (scale > 0)).any(axis=0))
        if not todo.any():
            return
        cols = np.flatnonzero(todo)
        h = site.representable(coords.idx[cols], coords.step[cols] * WIDEN_FACTOR)
        sub = _pass(site, "richardson", coords.idx[cols], h)
        old_err, new_err = err[:, cols], sub.error
        agree = np.abs(sub.value - block.value[:, cols]) <= site.safety * (old_err + new_err)
        # Per output row: a Jacobian's rows have scales of their own, and none may get worse.
        better = ((sub.state == Stencil.SMOOTH).all(axis=0) & agree.all(axis=0)
                  & (new_err <= old_err).all(axis=0) & (new_err < old_err).any(axis=0))
        taken = block.take(cols, sub, better)
        coords.step[taken] = h[better]
        active[cols[~better]] = False


def _unresolved(block: _Block, resolve_rtol: float) -> np.ndarray:
    """Coordinates whose truncation error dominates and is too large for the target resolution."""
    scale = np.abs(block.value).max(axis=1, keepdims=True)  # per output row
    bad = (block.truncation > block.rounding) & (block.truncation > resolve_rtol * scale)
    return bad.any(axis=0)


# --------------------------------------------------------------------------- one pass
def _pass(site: _Site, method: str, idx: np.ndarray, h: np.ndarray) -> _Block:
    """One stencil over coordinates ``idx`` at steps ``h``: h and h/2 (forward, central) or
    h, h/2 and h/4 (richardson: the third step only where the first two show truncation or a
    kink, :func:`_settled`); complex step at h."""
    site = site.at(idx)
    if method == "complex":
        return _complex(site, idx, h)
    levels = [_Level.forward(site, idx, level_step(h, k)) for k in range(2)]
    if method == "forward":
        return _forward(site, levels)
    levels = [lv.with_minus(site, idx) for lv in levels]
    two = _central(site, levels)
    if method == "central":
        return two
    settled = _settled(site, levels, two)
    if settled.all():
        return two
    cols = np.flatnonzero(~settled)
    some = site.at(cols)
    third = _Level.forward(some, idx[cols], level_step(h[cols], 2)).with_minus(some, idx[cols])
    three = _central(some, [lv.columns(cols) for lv in levels] + [third])
    two.take(cols, three, np.ones(cols.size, dtype=bool))
    return two


def _settled(site: _Site, levels: list[_Level], two: _Block) -> np.ndarray:
    """Columns where two steps of richardson's stencil leave nothing for a third to do, and the
    block ``two`` is made their estimate, in place (the others are to be overwritten).

    Where the central differences at h and h/2 agree within the bound of their rounding, and the
    extrapolated slope jump is within its own, no truncation is visible for a third step to
    measure (a loss quadratic in the coordinate: least squares, a last linear layer under a
    squared error): ``(4 D(h/2) - D(h)) / 3`` is the estimate, its bar a third of the gap (the
    error of D(h/2), which bounds the extrapolation's) plus less rounding than the three-step
    extrapolation's (3 against 6.6 times the rounding of D(h)).

    A kink in the stencil cannot hide there: at x or within h/2 of it, the extrapolated jump
    shows it (J (1 - 3 d/h) for a kink at distance d); between h/2 and h, the gap does
    (J (h - d) / 2h); only kinks too small to move either by their noise pass, and those are
    immaterial. The jump's bar is its size plus its rounding, of the rounding's order, not the
    first-order ``|G(h/2) - G(h)|`` a two-step jump has elsewhere.
    """
    d, r = _central_differences(site.f0, levels)
    # Within the rounding's bound itself, not ``safety`` times it: a gap of 10 roundings is an h^2 term
    # large enough for its h^4 successor to matter, which only a third step can bound.
    quiet_gap = np.abs(d[0] - d[1]) <= 2 * (r[0] + r[1])
    quiet_jump = np.abs(two.jump) <= two.jump_noise
    ok = (quiet_gap & quiet_jump & np.isfinite(two.value) & np.isfinite(two.error)).all(axis=0)
    ok &= (two.state == Stencil.SMOOTH).all(axis=0)
    cols = np.flatnonzero(ok)
    # (4 D(h/2) - D(h)) / 3 removes what h^2 term a quiet gap may still hold (D(h/2) alone kept up to
    # twice D(h)'s rounding of it: 8e-9 -> 4e-8 at the worst entry of fd_accuracy's MLP).
    two.value[:, cols] = extrapolate_h2(d[0][:, cols], d[1][:, cols])
    # A quiet gap is rounding, and is booked as such: a truncation bar made of noise would keep a
    # rounding-limited entry (an early layer of a deep sigmoid net) from the wider step it needs.
    two.rounding[:, cols] = extrapolate_h2_rounding(r[0][:, cols], r[1][:, cols]) + two.truncation[:, cols]
    two.truncation[:, cols] = 0.0
    two.jump_error[:, cols] = np.abs(two.jump[:, cols]) + two.jump_noise[:, cols]
    return ok


def _central_differences(f0: np.ndarray, levels: list[_Level]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per level, the central difference and the bound of its rounding.

    The mean of the one-sided slopes: equal to (f+ - f-) / 2h when the steps are, and when
    rounding makes them differ it stays exact at a kink (a plain quotient errs by jump x ulp/h).
    """
    d = [(lv.right(f0) + lv.left(f0)) / 2 for lv in levels]
    r = [(lv.noise_plus + lv.noise_minus) / (2 * lv.h) for lv in levels]
    return d, r


def _forward(site: _Site, levels: list[_Level]) -> _Block:
    f0, n0 = site.f0, site.noise(site.f0)
    d = [lv.right(f0) for lv in levels]
    r = [(lv.noise_plus + n0) / lv.h for lv in levels]
    return _Block.without_sides(d[1], np.abs(d[0] - d[1]), r[1])


def _central(site: _Site, levels: list[_Level]) -> _Block:
    """Central differences (two levels) or their Richardson extrapolation (three), with the
    one-sided slopes, the jump between them, and whether the stencil is clean."""
    f0, safety = site.f0, site.safety
    rights = [lv.right(f0) for lv in levels]
    lefts = [lv.left(f0) for lv in levels]
    d, r = _central_differences(f0, levels)
    if len(levels) == 2:
        # D(h/2) has error c h^2/4 and D(h) - D(h/2) = 3 c h^2/4.
        value, trunc, rnd = d[1], pair_truncation(d), r[1]
    else:
        value = richardson(d)  # O(h^6)
        trunc = richardson_truncation(value, d)  # error of the O(h^4) estimate bounds that of the O(h^6) one
        rnd = richardson_rounding(r)
    sides = _one_sided(site, levels, rights, lefts)
    jump = _jump(site, levels, rights, lefts)
    kink = ~sides.unclean & kink_at_x(jump.value, jump.error, safety)
    state = np.where(kink, Stencil.KINK, Stencil.SMOOTH)
    if len(levels) == 3:
        unclean = _unclean(site, _Central(d, r, value, trunc, rnd), sides, jump, kink)
        state = np.where(unclean, Stencil.UNCLEAN, state)
        # An unclean stencil's own bars mean nothing: widen to the spread of everything seen.
        spread = np.max(np.abs(np.stack([d[0], d[1], d[2], sides.right, sides.left]) - value), axis=0)
        trunc = np.where(unclean, np.maximum(trunc, spread), trunc)
    # At a kink the valid slopes are the one-sided ones: the central sequence then has odd
    # powers of h too, which Richardson's even-power extrapolation neither removes nor sees
    # in its error bar. The jump serves to find kinks, not to bound them.
    return _Block(value, trunc, rnd, sides.left, sides.right, state, sides.err_l + sides.err_r, jump.value,
                  jump.error, jump.noise, *_moved(f0, levels))


def _moved(f0: np.ndarray, levels: list[_Level]) -> tuple[np.ndarray, np.ndarray]:
    """Per entry, whether f moved on the stencil's left side (any value differs from f0 to the
    bit) and on its right side.

    A stencil that does not move at all, where a coarser one moved, or whose base step never
    moved f where a wider look does, may stand on a stair (:func:`_frozen`, :func:`_frozen_base`).
    """
    left = np.any([lv.f_minus != f0 for lv in levels], axis=0)
    right = np.any([lv.f_plus != f0 for lv in levels], axis=0)
    return left, right


@dataclass
class _Central:
    """The central differences at each level with their rounding, and the estimate made of them."""

    d: list[np.ndarray]
    r: list[np.ndarray]
    value: np.ndarray
    trunc: np.ndarray
    rnd: np.ndarray


def _unclean(site: _Site, c: _Central, sides: _Sides, jump: _Jump, kink: np.ndarray) -> np.ndarray:
    """Where a three-level stencil is not to be trusted as it stands.

    Smooth: the central sequence converges at its rate and the value agrees with both
    sides. Kink at x: each central difference is the average of the one-sided ones, so
    the value lies between the slopes up to an O(h) term (refinement shrinks it), and the
    jump converges like a kink's; a cluster of kinks around x can fake a steady jump,
    rarely all of this as well.
    """
    safety, value, trunc, rnd = site.safety, c.value, c.trunc, c.rnd
    noise_d = [2 * x for x in c.r]
    central_off = np.where(kink, off_rate(c.d, noise_d, CENTRAL_RATE_AT_KINK, safety),
                           off_rate(c.d, noise_d, CENTRAL_RATE, safety))
    bars = Bars(value, trunc, rnd, sides.left, sides.right, sides.err_l, sides.err_r)
    return sides.unclean | central_off | np.where(kink, jump.off | outside_slopes(bars, safety),
                                                  apart_from_slopes(bars, safety))


@dataclass
class _Sides:
    left: np.ndarray
    right: np.ndarray
    err_l: np.ndarray
    err_r: np.ndarray
    unclean: np.ndarray


def _one_sided(site: _Site, levels: list[_Level], right: list[np.ndarray], left: list[np.ndarray]) -> _Sides:
    """Extrapolated left and right slopes, their error bars, and unclean sides.

    ``R*(h) = 2 R(h/2) - R(h)`` is second-order. With three steps, a side is *clean* when
    the gaps between its one-sided differences shrink by about 2 per halving (or are
    lost in noise): the function is smooth on that side over the whole stencil. A kink
    inside the stencil, not at x, adds a 1/h term that inverts the ratio. The sides'
    bars are ``|R*(h/2) - R*(h)| / 3``; they serve to test that a smooth entry's central
    value lies between its sides. Whether there is a kink at x is :func:`_jump`'s question.
    With two steps (``central``) only first-order bars exist and cleanliness is not tested.
    """
    n0 = site.noise(site.f0)
    noise_r = [2 * (lv.noise_plus + n0) / lv.h for lv in levels]
    noise_l = [2 * (lv.noise_minus + n0) / lv.h for lv in levels]
    if len(levels) >= 3:
        r_b, err_r = one_sided(right, noise_r)
        l_b, err_l = one_sided(left, noise_l)
        unclean = (off_rate(right, noise_r, ONE_SIDED_RATE, site.safety)
                   | off_rate(left, noise_l, ONE_SIDED_RATE, site.safety))
        return _Sides(l_b, r_b, err_l, err_r, unclean)
    r_star, err_r = one_sided_pair(right, noise_r)
    l_star, err_l = one_sided_pair(left, noise_l)
    return _Sides(l_star, r_star, err_l, err_r, np.zeros(r_star.shape, dtype=bool))


@dataclass
class _Jump:
    value: np.ndarray  # right minus left slope at x
    error: np.ndarray  # its bar
    noise: np.ndarray  # the rounding part of the bar
    off: np.ndarray  # where its sequence does not converge like a kink at x's


def _jump(site: _Site, levels: list[_Level], right: list[np.ndarray], left: list[np.ndarray]) -> _Jump:
    """Right minus left slope at x, from second differences.

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
    n0 = site.noise(site.f0)
    g = [rk - lk for rk, lk in zip(right, left, strict=True)]
    nv = [lv.noise_plus + lv.noise_minus for lv in levels]
    js = jump_extrapolations(g)  # 2 G(h_{k+1}) - G(h_k)
    # and the rounding each carries (sum of |weight| x noise)
    noises = [jump_rounding(nv[k], nv[k + 1], levels[k].h, levels[k + 1].h, n0) for k in range(len(js))]
    j_a, noise_a = js[0], noises[0]
    if len(levels) < 3:
        return _Jump(j_a, np.abs(g[1] - g[0]) + noise_a, noise_a, np.zeros(j_a.shape, dtype=bool))
    j_b, noise_b = js[1], noises[1]
    err_a, err_b = jump_bars(j_a, j_b, noise_a, noise_b)
    coarse = err_a < err_b
    off = off_rate(g, [2 * (nv[k] + 2 * n0) / lv.h for k, lv in enumerate(levels)], ONE_SIDED_RATE, site.safety)
    return _Jump(np.where(coarse, j_a, j_b), np.fmin(err_a, err_b), np.where(coarse, noise_a, noise_b), off)


COMPLEX_SECOND = 0.7
"""Ratio of complex step's second imaginary step to its first: not a power of two, so every
imaginary part is rounded afresh (a power of two would scale them exactly)."""

COMPLEX_SIGMAS = 4.0
"""The rounding of a complex-step derivative is bounded by this many times what its two
steps disagree by (at the entry, where it was taken twice, or the largest such disagreement
over the parameter's sampled entries, whichever is larger)."""

COMPLEX_SAMPLE = 32
"""Entries per parameter and pass taken at the second imaginary step: enough to read the
parameter's level of rounding, few enough that complex step stays near one evaluation per entry."""


def _complex(site: _Site, idx: np.ndarray, h: np.ndarray) -> _Block:
    """Complex step at ``h``, and again at ``0.7 h`` for a sample of the entries.

    Truncation is ``h^2 f'''(x) / 6`` with ``h ~ 1e-20``: nil. Rounding is not merely a few
    ulps of the result: the imaginary parts are summed inside the loss like any other value,
    and a small entry made of large terms keeps their rounding (measured against the exact
    derivative, four ulps of the value understated it in 3% of entries, up to 7e3 times).
    The second step rounds every imaginary part afresh; what the two disagree by is that
    rounding: per entry where both were taken, and the sample's largest as the parameter's
    level everywhere (a single reading may be small by chance). Where ``f'(x) h`` is
    subnormal only a few digits are kept, which the ulps of the imaginary part also say.
    """
    ev = site.ev
    k = idx.size
    twice = np.unique(np.linspace(0, k - 1, min(k, COMPLEX_SAMPLE)).round().astype(int)) if k else idx[:0]
    h2 = h[twice] * COMPLEX_SECOND
    requests = [Perturbation(site.param, int(i), complex(0.0, hi)) for i, hi in zip(idx, h, strict=True)]
    requests += [Perturbation(site.param, int(i), complex(0.0, hi)) for i, hi in zip(idx[twice], h2, strict=True)]
    vals = ev.evaluate(requests, real=False).T
    value = vals[:, :k].imag / h
    spread = np.zeros_like(value)
    if twice.size:
        again = vals[:, k:].imag / h2
        spread[:, twice] = np.abs(value[:, twice] - again)
        value[:, twice] = 0.5 * (value[:, twice] + again)
    level = spread[:, twice].max(axis=1, keepdims=True) if twice.size else spread
    rnd = ulps(vals[:, :k].imag, site.eps) / h + COMPLEX_SIGMAS * np.maximum(spread, level)
    return _Block.without_sides(value, np.zeros_like(value), rnd)
