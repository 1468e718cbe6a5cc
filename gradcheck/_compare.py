"""Judging an analytic derivative against an oracle's estimate, entry by entry.

Each entry's tolerance comes from the oracle's own error estimate at that entry
(times a safety factor), plus a floor for the analytic derivative's rounding, unless
the caller fixes ``rtol``/``atol``. Kink entries are set apart: there any value
between the left and right one-sided slopes is a valid (sub)gradient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._options import DEFAULT_SAFETY, Options
from ._oracle import OracleEstimate
from ._status import Status

__all__ = ["Judgement", "judge", "DEFAULT_SAFETY", "floor_rtol", "relative_error"]


def floor_rtol(eps: float) -> float:
    """Relative floor under every tolerance: ``max(sqrt(eps), 1e-7)`` of the derivative's scale.

    The contract is to flag a relative 1e-6 mistake; 1e-7 keeps a tenfold margin. Below it
    lives the analytic formula's own rounding, which is no mistake (``s * (1 - s)`` for a
    saturated sigmoid loses most of its digits, visible as soon as the oracle is exact, as
    complex step is). Kinks too small to detect are allowed for by the measured jump in
    :func:`judge`, not by this floor. In float32 ``sqrt(eps)`` (3.5e-4) is the larger.
    """
    return float(max(np.sqrt(eps), 1e-7))


def relative_error(diff: np.ndarray, analytic: np.ndarray, numeric: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """``|a - n| / max(|a|, |n|, tol)``: the tolerance in the denominator keeps entries that
    are both (nearly) zero from showing huge relative errors. 0 where all three are 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), tol)
        return np.where(denom > 0, diff / denom, 0.0)


@dataclass
class Judgement:
    status: np.ndarray  # (m, n) Status codes
    tolerance: np.ndarray
    abs_error: np.ndarray  # at kinks: distance to the interval of one-sided slopes
    rel_error: np.ndarray
    ratio: np.ndarray  # abs_error / tolerance: > 1 is a mismatch
    scale: np.ndarray  # (m, 1) derivative scale per output entry
    resolution: float  # largest tolerance relative to scale: the smallest relative error sure to be caught

    @property
    def wrong(self) -> np.ndarray:
        return (self.status == Status.MISMATCH) | (self.status == Status.KINK_MISMATCH)

    @property
    def unresolved(self) -> np.ndarray:
        return self.status == Status.UNRESOLVED

    @property
    def at_kink(self) -> np.ndarray:
        return (self.status == Status.KINK) | (self.status == Status.KINK_MISMATCH)


def judge(analytic: np.ndarray, est: OracleEstimate, *, eps: float, options: Options) -> Judgement:
    """Per-entry verdict of ``analytic`` (shape ``(m, n)``) against the oracle's estimate."""
    safety, rtol, atol, kinks = options.safety, options.rtol, options.atol, options.kinks
    numeric = est.value
    scale = np.maximum(np.abs(numeric).max(axis=1, keepdims=True), np.abs(analytic).max(axis=1, keepdims=True))
    if not options.fixed:
        bar = safety * est.error
        if kinks and est.jump is not None:
            # A jump below the detection threshold cannot be excluded: its one-sided slopes,
            # numeric -+ |jump| / 2, are as valid as the central value (a ReLU input at 0
            # reached through a weight of 1e-9). The larger of the two bars, not their sum:
            # on a smooth loss the jump is rounding, and the value's own bar already covers it.
            bar = np.maximum(bar, np.nan_to_num((np.abs(est.jump) + est.jump_error) / 2))
        tol = bar + floor_rtol(eps) * scale
    else:
        tol = (atol or 0.0) + (rtol or 0.0) * np.abs(numeric)
        tol = np.broadcast_to(tol, numeric.shape).astype(float)
    diff = np.abs(analytic - numeric)
    status = np.where(diff > tol, Status.MISMATCH, Status.OK)
    if kinks and est.kink is not None:
        at = est.kink
        left, right = est.sides()
        lo, hi = np.fmin(left, right), np.fmax(left, right)
        # At a kink the oracle is the pair of one-sided slopes, not the central value:
        # the tolerance comes from their own error bars.
        if not options.fixed:
            side_error = np.zeros(numeric.shape) if est.side_error is None else est.side_error
            side_tol = safety * np.nan_to_num(side_error) + floor_rtol(eps) * scale
        else:
            side_tol = (atol or 0.0) + (rtol or 0.0) * np.maximum(np.abs(lo), np.abs(hi))
        tol = np.where(at, side_tol, tol)
        inside = (analytic >= lo - side_tol) & (analytic <= hi + side_tol)
        status = np.where(at, np.where(inside, Status.KINK, Status.KINK_MISMATCH), status)
        # At a kink the error is the distance to the nearest valid slope.
        dist = np.where(inside, 0.0, np.fmin(np.abs(analytic - lo), np.abs(analytic - hi)))
        diff = np.where(at, dist, diff)
    # No finite estimate (a step rounded away, x + h outside the loss's domain): no verdict
    # either way, and nothing can be promised about such an entry.
    unresolved = ~np.isfinite(numeric) | ~np.isfinite(est.error)
    status = np.where(unresolved, Status.UNRESOLVED, status)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(tol > 0, diff / tol, np.where(diff > 0, np.inf, 0.0))
        safe_scale = np.where(scale > 0, scale, 1.0)
        resolution = float(np.max(np.where(scale > 0, tol / safe_scale, 0.0)))
    if unresolved.any() or not np.isfinite(resolution):
        resolution = math.inf
    rel = relative_error(diff, analytic, numeric, tol)
    return Judgement(status=status, tolerance=tol, abs_error=diff, rel_error=rel, ratio=ratio, scale=scale,
                     resolution=resolution)
