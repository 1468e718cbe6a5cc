"""Derivatives of the loss along one direction, each with an error bar and a kink verdict.

A direction is a flat vector ``w`` over all parameters (concatenated in ParamSet order);
the loss is probed at ``x + t w``. Three schemes:

* ``richardson``: central differences at t = 4 tau, 2 tau, tau extrapolated to 6th
  order, one-sided slopes extrapolated to 3rd, and the slope jump from second
  differences, as the per-entry check does for one coordinate. A stencil that straddles
  a kink (a ReLU input crossing 0 somewhere along the line) converges irregularly and is
  retried with a 16x smaller step; a jump that stands at two steps is a kink at x, and
  any value between the one-sided slopes is then a valid directional subgradient.
* ``central``: t = 2 tau, tau; no cleanliness test, no kink detection.
* ``complex``: ``Im f(x + i t w) / t``, exact to rounding; no kinks seen.

Steps are powers of two and the direction is rounded so that ``x + t w`` is exact at every
step of a stencil: the derivative compared is then the one along the move really made,
which at t = 1e-6 differs from ``s o u`` by a relative 1e-10 per entry.

The Taylor test (:func:`taylor`) is the scale-free second opinion: with the right
directional derivative A, ``|f(x + h w) - f(x) - h A|`` shrinks like h^2; with a wrong one,
like h.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...core._evaluator import DirectionalPerturbation, Evaluator
from ...oracles._fd import default_base_step, ulps
from ...oracles._stencil import (
    CENTRAL_RATE,
    CENTRAL_RATE_AT_KINK,
    ONE_SIDED_RATE,
    Bars,
    apart_from_slopes,
    extrapolate_h1,
    jump_error_line,
    kink_at_x,
    level_step,
    off_rate_line,
    one_sided,
    outside_slopes,
    pair_truncation,
    refine,
    richardson,
    richardson_rounding,
    richardson_truncation,
)

__all__ = ["COMPLEX_STEP", "KINK", "MAX_LEVELS", "SMOOTH", "UNCLEAN", "Line", "LineEstimate", "taylor"]

SMOOTH, KINK, UNCLEAN = "smooth", "kink", "unclean"

COMPLEX_STEP = 2.0**-66
"""About 1e-20: so small a step leaves a truncation of t^2 f'''/6, nil, and no subtraction."""

MAX_LEVELS = 6
"""Refinements by 16: the finest stencil is 16^5 ~ 1e6 times narrower than the first. In a
ReLU net with 1e4 units on a batch the nearest kink along a random line is ~1e-5 away."""


def first_step(method: str, eps: float) -> float:
    """The power of two nearest the per-entry check's base step: eps^0.2 for richardson (2^-10 in
    float64, 2^-5 in float32), eps^(1/3) for central (2^-17 in float64)."""
    return 2.0 ** round(math.log2(default_base_step(method, eps)))


@dataclass(frozen=True)
class LineEstimate:
    """The derivative along a direction and the evidence behind it."""

    value: float  # numerical directional derivative
    error: float  # its error estimate (truncation + rounding)
    analytic: float  # g . w for the move actually made
    left: float  # one-sided slopes (NaN for complex / central)
    right: float
    side_error: float
    jump: float
    jump_error: float
    state: str  # SMOOTH, KINK or UNCLEAN
    step: float  # tau of the level used
    scheme: str
    truncation: float = 0.0  # the truncation part of ``error``


class Line:
    """Probes the loss of one Evaluator along directions; ``noise`` bounds one loss value's rounding."""

    def __init__(
        self,
        ev: Evaluator,
        x: np.ndarray,
        g: np.ndarray,
        f0: float,
        noise: float,
        *,
        method: str,
        safety: float,
        offsets: list[tuple[str, int, int]],
    ) -> None:
        self.ev, self.x, self.g, self.f0 = ev, x, g, f0
        self.noise = noise
        self.method = method
        self.safety = safety
        self.offsets = offsets
        self.eps = ev.params.eps
        self.calibrated = 0.0  # complex step's measured rounding per unit ||g o w||_2

    # -- building directions --------------------------------------------------------------
    def as_dict(self, w: np.ndarray) -> dict[str, np.ndarray]:
        shapes = {n: self.ev.params.arrays[n].shape for n in self.ev.params.names}
        return {name: w[a:b].reshape(shapes[name]) for name, a, b in self.offsets}

    def _exact(self, w: np.ndarray, tau: float) -> np.ndarray:
        """``w`` rounded so that ``x + k tau w`` is exact for k = 1, 2, 4 (tau a power of two)."""
        out = self.x + tau * w  # entries where w is 0 come back as exactly 0
        for name, a, b in self.offsets:
            dtype = self.ev.params.arrays[name].dtype
            if dtype != np.float64:  # the Evaluator stores x + t w in the parameter's own precision
                out[a:b] = out[a:b].astype(dtype)
        out -= self.x
        out /= tau
        return out

    def _f(self, d: dict[str, np.ndarray], ts: list[float], purpose: str) -> np.ndarray:
        return self.ev.evaluate([DirectionalPerturbation(d, t, purpose) for t in ts])[:, 0]

    def _bound(self, f: np.ndarray | float) -> np.ndarray:
        return np.maximum(ulps(np.asarray(f, dtype=float), self.eps), self.noise)

    # -- schemes ---------------------------------------------------------------------------
    def estimate(self, w: np.ndarray, purpose: str, *, method: str | None = None, polish: bool = True) -> LineEstimate:
        method = method or self.method
        if method == "complex":
            return self.complex_step(w, purpose)
        return self.differences(w, purpose, method, polish=polish)

    def complex_step(self, w: np.ndarray, purpose: str) -> LineEstimate:
        t = COMPLEX_STEP
        d = self.as_dict(w)
        z = self.ev.evaluate([DirectionalPerturbation(d, complex(0.0, t), purpose)], real=False)[0, 0]
        value = float(z.imag / t)
        gw = self.g * w
        # Rounding of the imaginary part: a few ulps of the terms it sums, of which ||g o w||_2
        # is the random-sign estimate; ``calibrated`` (measured by linearity) raises it.
        l2 = float(np.sqrt(np.dot(gw, gw)))
        err = 16 * self.eps * (abs(value) + l2) + self.calibrated * l2
        nan = math.nan
        return LineEstimate(value, err, float(gw.sum()), nan, nan, nan, nan, nan, SMOOTH, t, "complex")

    def calibrate_complex(self, w: np.ndarray) -> None:
        """Measure complex step's rounding: D(w) = D(w1) + D(w2) exactly for halves w1, w2 of w."""
        n = w.size
        w1 = w.copy()
        w1[n // 2 :] = 0.0
        w2 = w - w1
        whole = self.complex_step(w, "calibrating complex-step rounding").value
        parts = [self.complex_step(v, "calibrating complex-step rounding").value for v in (w1, w2)]
        gw = self.g * w
        l2 = float(np.sqrt(np.dot(gw, gw)))
        if l2 > 0:
            self.calibrated = 4.0 * abs(whole - parts[0] - parts[1]) / l2

    def differences(self, w: np.ndarray, purpose: str, method: str, *, polish: bool = True) -> LineEstimate:
        """Central differences, refined by 16 while the stencil straddles a kink (up to MAX_LEVELS).

        A kink must stand at two successive steps with the same jump to be taken as a kink at
        x; a kink seen at one step only was a kink nearby, and refinement goes on.
        ``polish=False`` returns the first smooth level as it is (enough to tell a kink from none).
        """
        tau = first_step(method, self.eps)
        levels = MAX_LEVELS if method == "richardson" else 1
        est = self._level(w, tau, purpose, method)
        best = est
        for level in range(1, levels + 1):
            if est.state == SMOOTH:
                return self._polish(est, w, purpose, method, room=level < levels) if polish else est
            if level == levels:
                break
            finer = self._level(w, refine(est.step), purpose, method)
            if (
                est.state == KINK
                and finer.state == KINK
                and abs(finer.jump - est.jump) <= self.safety * (finer.jump_error + est.jump_error)
            ):
                return finer if finer.side_error < est.side_error else est
            best = min(best, finer, key=lambda e: e.error) if finer.state == UNCLEAN else best
            est = finer
        return est if est.state != UNCLEAN else best

    def _polish(self, est: LineEstimate, w: np.ndarray, purpose: str, method: str, *, room: bool) -> LineEstimate:
        """A smooth estimate whose truncation dominates takes steps 4x smaller (twice at most) while
        that lowers its error; a jump allowance above the value's bar is measured at 16x smaller."""
        if method != "richardson" or not room:
            return est
        for _ in range(2):
            if est.truncation <= est.error - est.truncation:
                break
            finer = self._level(w, est.step / 4.0, purpose, method)
            if finer.state != SMOOTH or finer.error >= est.error:
                break
            est = finer
        if self._hidden_kink(est) > self.safety * est.error:
            est = self._sharpen(est, w, purpose, method)
        return est

    @staticmethod
    def _hidden_kink(est: LineEstimate) -> float:
        """The allowance for a kink too small to detect: half the jump plus half its bar."""
        return (abs(est.jump) + est.jump_error) / 2 if math.isfinite(est.jump) else 0.0

    def _sharpen(self, est: LineEstimate, w: np.ndarray, purpose: str, method: str) -> LineEstimate:
        """Measure the jump again at a 16x smaller step, where its truncation (t^3 on a smooth
        line: 1.6e-5 at t = 1e-3 in a 2,000-entry MLP) is 4096x smaller and rounding 16x larger."""
        finer = self._level(w, refine(est.step), purpose, method)
        if finer.state == KINK:
            return finer
        if finer.state == UNCLEAN or finer.jump_error >= est.jump_error:
            return est
        return LineEstimate(
            est.value,
            est.error,
            est.analytic,
            est.left,
            est.right,
            est.side_error,
            finer.jump,
            finer.jump_error,
            est.state,
            est.step,
            est.scheme,
            est.truncation,
        )

    def _level(self, w: np.ndarray, tau: float, purpose: str, method: str) -> LineEstimate:
        d_flat = self._exact(w, tau)
        analytic = float(np.dot(self.g, d_flat))
        d = self.as_dict(d_flat)
        k = 3 if method == "richardson" else 2
        ts = [level_step(tau, j - (k - 1)) for j in range(k)]  # largest first: 4 tau, 2 tau, tau
        f = self._f(d, ts + [-t for t in ts], purpose)
        fp, fm = f[:k], f[k:]
        e0 = float(self._bound(self.f0))
        ep, em = self._bound(fp), self._bound(fm)
        c = [(fp[j] - fm[j]) / (2 * ts[j]) for j in range(k)]
        rc = [(ep[j] + em[j]) / (2 * ts[j]) for j in range(k)]
        r = [(fp[j] - self.f0) / ts[j] for j in range(k)]
        lft = [(self.f0 - fm[j]) / ts[j] for j in range(k)]
        nr = [(ep[j] + e0) / ts[j] for j in range(k)]
        nl = [(em[j] + e0) / ts[j] for j in range(k)]
        gj = [r[j] - lft[j] for j in range(k)]
        ng = [(ep[j] + em[j] + 2 * e0) / ts[j] for j in range(k)]
        if method == "central":
            nan = math.nan
            return LineEstimate(
                float(c[1]),
                float(pair_truncation(c) + rc[1]),
                analytic,
                nan,
                nan,
                nan,
                nan,
                nan,
                SMOOTH,
                tau,
                "central",
            )
        value = richardson(c)
        trunc = richardson_truncation(value, c)
        rnd = richardson_rounding(rc)
        right, err_r = one_sided(r, nr)
        left, err_l = one_sided(lft, nl)
        jump_a, jump_b = extrapolate_h1(gj[0], gj[1]), extrapolate_h1(gj[1], gj[2])
        jump_err = jump_error_line(jump_a, jump_b, ng)
        s = self.safety
        sides_off = off_rate_line(r, nr, *ONE_SIDED_RATE, s) or off_rate_line(lft, nl, *ONE_SIDED_RATE, s)
        kink = not sides_off and bool(kink_at_x(jump_b, jump_err, s))
        central_off = off_rate_line(c, [2 * x for x in rc], *(CENTRAL_RATE_AT_KINK if kink else CENTRAL_RATE), s)
        bars = Bars(value, trunc, rnd, left, right, err_l, err_r)
        if kink:
            unclean = central_off or bool(outside_slopes(bars, s))
        else:
            unclean = sides_off or central_off or bool(apart_from_slopes(bars, s))
        state = UNCLEAN if unclean else (KINK if kink else SMOOTH)
        if unclean:  # its own bars mean nothing: widen to the spread of everything seen
            trunc = max(trunc, max(abs(v - value) for v in (*c, right, left)))
        return LineEstimate(
            float(value),
            float(trunc + rnd),
            analytic,
            float(left),
            float(right),
            float(err_l + err_r),
            float(jump_b),
            float(jump_err),
            state,
            tau,
            "richardson",
            float(trunc),
        )


@dataclass(frozen=True)
class TaylorResult:
    orders: tuple[float, ...]  # observed convergence orders of the residual, largest steps first
    verdict: str  # "second order" | "first order" | "undetermined"
    error: float  # first order: estimated |A - A*|; else NaN


def taylor(line: Line, w: np.ndarray, analytic: float, *, first: float = 2.0**-2, count: int = 24) -> TaylorResult:
    """Residuals ``|f(x + h w) - f(x) - h A|`` at h = first, first/2, ...: their order says whether A is right.

    Only residuals above ``safety`` x the noise of a difference of two values count; the
    verdict reads the last two orders (smallest steps), where curvature no longer hides a
    first-order term and a kink farther than h no longer interferes. Steps run from 1/4 to
    3e-8: a relative error d in A shows once h < d |A| / |f''|, 1e-4 for d = 1e-3 in a small MLP.
    """
    hs = [first / 2.0**j for j in range(count)]
    d = line.as_dict(w)
    f = line._f(d, hs, "Taylor test")
    res = np.abs(f - line.f0 - np.array(hs) * analytic)
    noise = line._bound(f) + float(line._bound(line.f0))
    usable = res > line.safety * noise
    orders = []
    for j in range(count - 1):
        if usable[j] and usable[j + 1]:
            orders.append(float(math.log2(res[j] / res[j + 1])))
    if len(orders) < 2:
        return TaylorResult(tuple(orders), "undetermined", math.nan)
    tail = orders[-2:]
    if min(tail) >= 1.6:
        return TaylorResult(tuple(orders), "second order", math.nan)
    if max(tail) <= 1.4:
        j = max(i for i in range(count) if usable[i])
        return TaylorResult(tuple(orders), "first order", float(res[j] / hs[j]))
    return TaylorResult(tuple(orders), "undetermined", math.nan)
