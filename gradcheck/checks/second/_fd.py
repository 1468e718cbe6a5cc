"""Second differences of a scalar loss with per-entry error estimates.

One stencil serves Hessian entries and Hessian-vector products: for two directions
``u`` and ``w`` (coordinate steps, or a drawn vector),

    D(h) = [f(x + hu + hw) - f(x + hu - hw) - f(x - hu + hw) + f(x - hu - hw)] / (4 h^2)

estimates ``u^T H w`` with an O(h^2) error; for ``u = w`` it is the plain second difference
at step 2h. Three levels h, h/2, h/4 are extrapolated twice (Richardson), leaving O(h^6).
The error estimate is the gap between the last two extrapolations (truncation) plus a
bound on rounding, which grows like noise / h^2: that is why the base step is eps^(1/8)
(0.011 in float64, where the O(h^6) value's truncation meets the rounding), far wider than
the eps^(1/3) of first differences. Where the levels are not clean (a curvature scale below
the step, a kink crossed) the step shrinks 16x, three times at most, and the best clean
estimate is kept; the truncation estimate is measured, so a wide step cannot hide its error.

Holds :class:`FlatLoss` (the loss over one flat vector), the noise probe and the stencil;
outcomes are :class:`gradcheck.core._status.Status` codes. May import gradcheck's ``_errors``,
``_params``, ``_status`` and the finite-difference kernel ``oracles._stencil``; nothing of this subpackage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...core._errors import GradcheckError, LossRaisedError, MutatingFunctionError, NonFiniteError, NonScalarLossError
from ...core._params import ParamSet
from ...core._status import Status
from ...oracles._stencil import (
    CENTRAL_RATE,
    REFINE_FACTOR,
    extrapolate_h2,
    level_step,
    refine,
    richardson,
    richardson_rounding,
    richardson_truncation,
    second_difference_jump,
)

__all__ = ["FlatLoss", "Mixed", "base_step", "line_kink", "measure_noise", "mixed", "straddled"]

# The Richardson weights for D(h), D(h/2), D(h/4) and the refine factor (16) are the kernel's
# (gradcheck.oracles._stencil). |4 f-coefficients| per level: the rounding of D_k is at most
# 4 noise / (4 h_k^2) = noise / h_k^2.
_RETRIES = 3  # shrink by 16 at most three times (a ReLU kink at 1e-4 relative distance is then cleared)


def base_step(eps: float) -> float:
    """Relative base step eps^(1/8): 0.011 in float64, 0.14 in float32.

    At eps^(1/6) (2.4e-3) rounding, 25 noise / h^2, limited entries 1e-5 of the loss's scale
    (softmax cross-entropy at logits of -5) to a resolution of 2e-5; at 0.011 the same
    entries resolve to 5e-7 and smooth workloads gain 20x in accuracy (benchmarks/second_order.py).
    """
    return float(eps ** (1.0 / 8.0))


class FlatLoss:
    """The loss as a function of one flat vector: validated, counted, on private copies."""

    def __init__(self, loss: Callable[[Any], Any], ps: ParamSet, name: str) -> None:
        self.loss, self.ps, self.name = loss, ps, name
        self.shapes = [ps.arrays[n].shape for n in ps.names]
        self.sizes = ps.sizes
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int)
        self.dtype = np.result_type(*[ps.arrays[n].dtype for n in ps.names])
        self.x0 = np.concatenate([ps.arrays[n].ravel() for n in ps.names]).astype(self.dtype)
        self.n_evaluations = 0
        self.line_kinks: dict[tuple[bytes, float], bool] = {}  # line_kink's answers, per line and reach

    def unflatten(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return {
            n: np.array(x[self.offsets[k] : self.offsets[k + 1]], dtype=self.ps.arrays[n].dtype).reshape(self.shapes[k])
            for k, n in enumerate(self.ps.names)
        }

    def __call__(self, x: np.ndarray) -> float:
        arrays = self.unflatten(x)
        kept = {n: a.copy() for n, a in arrays.items()}
        try:
            value = self.loss(self.ps.pack(arrays))
        except GradcheckError:
            raise
        except Exception as exc:
            raise LossRaisedError(f"{self.name} raised {type(exc).__name__}: {exc}") from exc
        for n in self.ps.names:
            if not np.array_equal(arrays[n], kept[n]):
                raise MutatingFunctionError(f"{self.name} modified its input: parameter {n!r} changed")
        self.n_evaluations += 1
        arr = np.asarray(value)
        if arr.size != 1 or arr.dtype.kind not in "biuf":
            raise NonScalarLossError(
                f"{self.name} returned {type(value).__name__} of shape {arr.shape} "
                f"and dtype {arr.dtype}; expected a real scalar"
            )
        out = float(arr.reshape(()))
        if not np.isfinite(out):
            raise NonFiniteError(
                f"{self.name} returned {out} at a point {np.max(np.abs(x - self.x0)):.3g} "
                f"(max-norm) from the parameters being checked"
            )
        return out


def measure_noise(f: FlatLoss, f0: float, rng: np.random.Generator, eps: float) -> float:
    """Noise of the loss near x0: high-order differences along a random direction (after
    More & Wild's ECnoise), never below 2 ulp of |f(x0)|. 8 evaluations; 7 more when the
    first ray looks noisy (see :func:`_ray_noise`)."""
    x0 = f.x0
    d = rng.standard_normal(x0.size) * np.maximum(np.abs(x0), 1.0) * 1e-6
    floor = max(2.0 * eps * abs(f0), np.finfo(np.float64).tiny)
    ahead = _ray_noise(f, f0, d)
    if ahead <= _KINKED_RAY * floor:
        return max(ahead, floor)
    # A kink within 7e-6 of x crossed by the ray makes its differences the kink's, not rounding
    # (a ReLU unit 1e-6 from its kink read as noise 1e6x the loss's), and every bar and threshold
    # built on it then swamps the entries. A hyperplane crossed ahead is not crossed behind: the
    # ray backwards measures again, and it counts where the two disagree by far more than two
    # reads of one noise do.
    behind = _ray_noise(f, f0, -d)
    return max(behind if behind * _KINKED_RAY < ahead else ahead, floor)


_KINKED_RAY = 10.0  # two measurements of one noise agree within a few x; a kink's differences stand far apart


def _ray_noise(f: FlatLoss, f0: float, d: np.ndarray) -> float:
    """ECnoise along ``x0 + k d``, k = 0..7: the median over orders 3..6 of the scaled differences."""
    values = np.array([f0] + [f(f.x0 + k * d) for k in range(1, 8)])
    levels = []
    diff = values
    for k in range(1, 7):
        diff = np.diff(diff)
        if k >= 3:
            gamma = np.prod(np.arange(k + 1, 2 * k + 1)) / np.prod(np.arange(1, k + 1))  # C(2k, k)
            levels.append(float(np.sqrt(np.mean(diff**2) / gamma)))
    return float(np.median(levels))


@dataclass(frozen=True)
class Mixed:
    """An estimate of ``u^T H w`` (in the units of u and w) with its error bound."""

    value: float
    error: float
    status: Status  # Status.OK: a clean estimate; Status.KINK: the one-sided first derivatives differ, so no
    # second derivative exists at x; Status.UNRESOLVED: no clean estimate at any step
    jump: float  # at a kink: the gradient's jump along the stencil's direction (else 0)
    h: float  # the base step actually used (relative to u, w)
    sides: tuple[float, float] | None = None  # a kink inside the stencil, u == w: the one-sided second
    # differences (left, right) along u, in the units of u (None where they do not exist or were not taken)


@dataclass(frozen=True)
class _Stencil:
    """What stays fixed while the step shrinks: the loss, the point and its value, the two
    directions (``same`` when they are one), and the loss's measured noise."""

    f: FlatLoss
    x0: np.ndarray
    f0: float
    u: np.ndarray
    w: np.ndarray
    same: bool
    noise: float
    lines: dict[float, list[np.ndarray]] = field(default_factory=dict)  # per base step: the loss along
    # each line the stencil samples, at (+p_k, -p_k) for its three levels k (see :func:`straddled`)

    def levels(self, h: float) -> np.ndarray:
        """D(h), D(h/2), D(h/4); the values along the lines sampled are kept in ``lines[h]``."""
        f, x0, f0, u, w = self.f, self.x0, self.f0, self.u, self.w
        out = np.empty(3)
        if self.same:  # one line, u, at +-2t
            along = [np.empty((3, 2))]
        else:  # two lines, u + w and u - w, at +-t
            along = [np.empty((3, 2)), np.empty((3, 2))]
        for k in range(3):
            t = level_step(h, k)
            if self.same:  # u == w: f(x + 2tu) - 2 f(x) + f(x - 2tu), no redundant evaluations
                along[0][k] = f(x0 + 2 * t * u), f(x0 - 2 * t * u)
                out[k] = (along[0][k, 0] - 2 * f0 + along[0][k, 1]) / (4 * t * t)
            else:
                along[0][k] = f(x0 + t * (u + w)), f(x0 - t * (u + w))
                along[1][k] = f(x0 + t * (u - w)), f(x0 - t * (u - w))
                # the original order: neighbours subtracted first, as before the lines were kept
                (pp, mm), (pm, mp) = along[0][k], along[1][k]
                out[k] = (pp - pm - mp + mm) / (4 * t * t)
        self.lines[h] = along
        return out


# A kink inside the finest level makes the three levels agree (the stencil straddles it at every
# step: across a jump of the second derivative the second difference is the mean of the one-sided
# ones, constant in t; the mixed difference across a ReLU is half its one-sided value), so it
# passes for a clean estimate. The points each line was sampled at tell, at no extra cost: the gap
# between the right and left second differences, g(s) = D_r(s) - D_l(s), is 2 s f3 + O(s^3) on a
# smooth line (f3 its third derivative), so E = 2 g(s) - g(2 s) is O(s^3) and, on a line whose f3
# vanishes, of the sign opposite to g(s) (-6 c s^3 against c s^3). Across a kink within 2 s, E is
# the jump of the second derivative (or grows like 1/s: a jump of the first), of the sign of g(s).
_STRADDLE_SHARE = 0.5  # |E| >= this x |g(s)|: the gap is mostly the kink's (1 for a kink alone, 0 for a smooth f3)
_STRADDLE_ROUNDING = 13.5  # |coefficients| of E times s^2: 2 x 6 for g(s), 6 / 4 for g(2 s) (f(x) cancels)
_STRADDLE_SAFETY = 10.0  # E must stand this far above its rounding bound (the judge's own safety)


def straddled(values: np.ndarray, p2: float, f0: float, noise: float) -> tuple[float, float] | None:
    """The one-sided second differences (left, right) at step ``p2`` along one line sampled at
    ``+-p_k`` (p_k = 4 p2, 2 p2, p2; ``values`` of shape (3, 2)) if a kink lies within 2 p2 of
    x on it, else None. Units: those of the line's direction."""
    (r0, l0), (r1, l1), (r2, l2) = values

    def gap(a: float, b: float, far_r: float, far_l: float, s: float) -> tuple[float, float]:
        return (far_l - 2 * b + f0) / s**2, (far_r - 2 * a + f0) / s**2

    left_s, right_s = gap(r2, l2, r1, l1, p2)  # points 0, p2, 2 p2
    left_2s, right_2s = gap(r1, l1, r0, l0, 2 * p2)  # points 0, 2 p2, 4 p2
    g1, g0 = right_s - left_s, right_2s - left_2s
    e = 2 * g1 - g0
    if (
        np.sign(e) == np.sign(g1)
        and abs(e) >= _STRADDLE_SHARE * abs(g1)
        and abs(e) > _STRADDLE_SAFETY * _STRADDLE_ROUNDING * noise / p2**2
    ):
        return float(left_s), float(right_s)
    return None


def _assess(d: np.ndarray, h: float, noise: float) -> tuple[float, float, float, bool, float | None]:
    """Value, truncation and rounding bounds, clean?, kink jump (or None) from the levels at step h."""
    value = float(richardson(d))
    rounding = float(richardson_rounding(noise / level_step(h, np.arange(3)) ** 2))
    # |R2 - RR|, the error of the h^4 level below it: a bound on the O(h^6) value's error.
    truncation = richardson_truncation(value, d)
    g1, g2 = abs(d[0] - d[1]), abs(d[1] - d[2])
    lvl_noise = noise * (1 / level_step(h, 1) ** 2 + 1 / level_step(h, 2) ** 2)
    r1, r2 = extrapolate_h2(d[0], d[1]), extrapolate_h2(d[1], d[2])
    lo, hi = CENTRAL_RATE
    if g2 <= 2 * lvl_noise:  # the finest gap is rounding: the coarser one may only be a little above it
        clean = g1 <= hi * lvl_noise
    else:
        # an h^2 error shrinks the gap 4x per halving (3-20x allowed) and leaves the extrapolations
        # far closer than the gaps; a kink crossed by the wider stencils breaks one or the other
        clean = lo * g2 <= g1 <= hi * g2 and abs(r1 - r2) <= 0.25 * g2 + 2 * lvl_noise
    # A kink at x: D_k grows like jump / (h_k); the products D_k h_k agree and stand above noise.
    jump = None if clean else second_difference_jump(d, h, noise)
    return value, truncation, rounding, clean, jump


_LINE_SHARE = 0.5  # E at T/4 over E at T/2: 1/8 on a smooth line (O(t^3)), 1 or more across a kink
_LINE_ROUNDING = 13.5  # |coefficients| of E(t) = 2 g(t) - g(2t) times t^2: 2 x 6 + 6 / 4 (f(x) cancels)


def line_kink(f: FlatLoss, f0: float, d: np.ndarray, reach: float, noise: float) -> bool:
    """A kink of the loss along ``x + t d`` within ``|t| <= reach``? 8 evaluations, cached.

    The one-sided gap g(t) = D_r(t) - D_l(t) is 2 t f3 + O(t^3) on a smooth line, so
    E(t) = 2 g(t) - g(2t) is O(t^3): 8x smaller at half the step. Across a kink within 2t,
    E(t) is the jump of the second derivative (or grows like 1/t), so it does not shrink. Taken
    at t = reach / 2 and reach (points at +-reach / 2 ... +-4 reach); E(reach / 2) must also
    stand 10x above its rounding. Where :func:`straddled` (no cost) can only guess from two
    steps (a third derivative beside a weak kink fools it), this measures a third."""
    key = (d.tobytes(), float(reach))
    if key not in f.line_kinks:
        at = {k: (f(f.x0 + k * reach * d), f(f.x0 - k * reach * d)) for k in (0.5, 1.0, 2.0, 4.0)}

        def gap(t: float) -> float:  # D_r(t) - D_l(t), t in units of reach: points 0, t, 2t
            (r1, l1), (r2, l2) = at[t], at[2 * t]
            return ((r2 - 2 * r1) - (l2 - 2 * l1)) / (t * reach) ** 2

        fine, coarse = 2 * gap(0.5) - gap(1.0), 2 * gap(1.0) - gap(2.0)
        t = 0.5 * reach
        f.line_kinks[key] = bool(
            abs(fine) >= _LINE_SHARE * abs(coarse) and abs(fine) > _STRADDLE_SAFETY * _LINE_ROUNDING * noise / t**2
        )
    return f.line_kinks[key]


def _confirmed(stencil: _Stencil, h: float, value: float, error: float) -> Mixed:
    """The estimate (``value``, ``error``) at base step h if the levels at h/4 are clean too and
    agree within 10x the two error bars (the better of the two is kept); else unresolved.
    One of the two is wrong by at least half their gap, whatever its own bar says (a kink
    crossed by the wider levels can leave a clean-looking value 2e-3 off with a bar of 6e-5,
    the confirming look's wide bar letting them "agree"): the bar kept is never below the gap.
    12 evaluations."""
    d = stencil.levels(h / 4)
    value2, truncation2, rounding2, clean2, _ = _assess(d, h / 4, stencil.noise)
    error2 = truncation2 + rounding2
    gap = abs(value - value2)
    if not clean2 or gap > 10 * (error + error2):
        return Mixed(float("nan"), float("inf"), Status.UNRESOLVED, 0.0, h)
    if error <= error2:
        return Mixed(value, max(error, gap), Status.OK, 0.0, h)
    return Mixed(value2, max(error2, gap), Status.OK, 0.0, h / 4)


def mixed(f: FlatLoss, f0: float, u: np.ndarray, w: np.ndarray, *, h: float, noise: float, same: bool = False) -> Mixed:
    """``u^T H w`` by the Richardson-extrapolated stencil (:func:`_search`), then a look for a kink
    inside the stencil of the estimate kept (or of the last one tried), on the points already
    evaluated (:func:`straddled`: along u, or along u + w and u - w). A kink there makes the
    entry a kink, whatever the levels looked like: straddled at every level, they agree on the
    mean of the two sides, a clean-looking wrong value. For u == w the one-sided second
    differences ride along (``sides``)."""
    stencil = _Stencil(f, f.x0, f0, u, w, same, noise)
    est = _search(stencil, h)
    if est.status == Status.KINK or est.h not in stencil.lines:
        return est
    # the lines are sampled at +-2t (u == w) or +-t (u +- w), t = h, h/2, h/4: the finest p is h/2 or h/4
    p2 = level_step(est.h, 1 if same else 2)
    found = [straddled(v, p2, f0, noise) for v in stencil.lines[est.h]]
    if not any(x is not None for x in found):
        return est
    return Mixed(est.value, est.error, Status.KINK, 0.0, est.h, found[0] if same else None)


def _search(stencil: _Stencil, h: float) -> Mixed:
    """``u^T H w`` by the Richardson-extrapolated stencil, shrinking the step by 16 (three
    times at most) while the levels are not clean. A kink at x is named when the same jump
    still shows at the two smallest steps (16x apart; the last stencil reaches 1.3e-6 of the
    coordinate's scale in float64): a kink merely inside a wider stencil is stepped over."""
    noise = stencil.noise
    best: Mixed | None = None
    last_jump: float | None = None
    seen_unclean = False
    for k in range(_RETRIES + 1):
        d = stencil.levels(h)
        value, truncation, rounding, clean, jump = _assess(d, h, noise)
        error = truncation + rounding
        if clean and k > 0 and seen_unclean:
            # Below a wider look that was not clean (a kink crossed?), the levels can mimic an h^2
            # convergence while the two coarser ones still straddle it: confirm at a 4x smaller step.
            est = _confirmed(stencil, h, value, error)
            if est.status != Status.OK:  # keep a clean look from above the unclean one, if there was one
                return est if best is None else best
            if best is None or est.error < best.error:
                best = est
            break
        if clean:
            est = Mixed(value, error, Status.OK, 0.0, h)
            if best is None or est.error < best.error:
                best = est
            if truncation <= rounding or truncation <= 1e-10 * abs(value):
                break  # a smaller step would only add rounding
        elif k == _RETRIES and jump is not None and last_jump is not None and abs(jump - last_jump) <= 0.25 * abs(jump):
            return Mixed(value, error, Status.KINK, jump, h)
        last_jump = None if clean else jump
        seen_unclean = seen_unclean or not clean
        h = refine(h)
    if best is None:  # h was refined once past the last stencil tried: report that one's step
        return Mixed(float("nan"), float("inf"), Status.UNRESOLVED, 0.0, h / REFINE_FACTOR)
    return best
