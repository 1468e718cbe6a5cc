"""Judging an analytic derivative against an oracle's estimate, entry by entry.

Each entry's tolerance comes from the oracle's own error estimate at that entry
(times a safety factor), plus the analytic derivative's own rounding as measured by
:mod:`gradcheck.judge._rounding` (or, where it was not measured, a floor), unless the caller
fixes ``rtol``/``atol``. Entries are scaled in the loss's units
(:func:`~gradcheck.judge._rounding.entry_scale`), not by their parameter's largest entry.
Kink entries are set apart: there any value between the left and right one-sided
slopes is a valid (sub)gradient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core._options import DEFAULT_SAFETY, Options, floor_rtol
from ..core._status import Status
from ..oracles._seam import OracleEstimate
from ._rounding import MODEL_ULPS, entry_scale

__all__ = ["Judgement", "judge", "analytic_allowance", "DEFAULT_SAFETY", "floor_rtol", "relative_error"]


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
    scale: np.ndarray  # (m, n) each entry's scale in the loss's units (entry_scale)
    resolution: float  # largest tolerance relative to scale: the smallest relative error sure to be caught
    measured: bool = False  # the analytic side's rounding was measured, not floored

    @property
    def entry_resolution(self) -> np.ndarray:
        """Per entry, the smallest relative error (of the entry's scale) sure to be caught."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.scale > 0, self.tolerance / np.where(self.scale > 0, self.scale, 1.0), 0.0)

    @property
    def wrong(self) -> np.ndarray:
        return (self.status == Status.MISMATCH) | (self.status == Status.KINK_MISMATCH)

    @property
    def unresolved(self) -> np.ndarray:
        return self.status == Status.UNRESOLVED

    @property
    def at_kink(self) -> np.ndarray:
        return (self.status == Status.KINK) | (self.status == Status.KINK_MISMATCH)


def analytic_allowance(rounding: np.ndarray | None, scale: np.ndarray, eps: float,
                       immaterial: np.ndarray | None = None) -> np.ndarray:
    """What the tolerance allows for the analytic side's rounding, per entry.

    The measured bound, never below ``MODEL_ULPS`` ulps of the row's scale (what a move of
    1e-10 cannot reveal) nor below ``immaterial`` (an error that moves the loss by less than
    its own resolution for a step of the coordinate's size: a saturated ``s (1 - s)`` whose
    every digit past the 8th is rounding, in a gradient of 1e-8 beside a loss of 1), and
    never above the old floor (a derivative that jumps within
    that move is no rounding, and is judged as it always was). Unmeasured: the floor.
    """
    cap = floor_rtol(eps) * scale
    if rounding is None:
        return cap
    # The model is ulps of the smallest scale in the row (the scale of the coordinates that move
    # the loss most; with every t_i equal, the row's largest derivative), not of each entry's:
    # 64 ulps of a loss-units scale of 1e6 would hide a sign flip of a derivative of 1e-8
    # that is rounded like the rest of its row.
    model = MODEL_ULPS * eps * scale.min(axis=1, keepdims=True)
    if immaterial is not None:
        model = np.maximum(model, immaterial)
    return np.minimum(cap, np.maximum(rounding, model))


def judge(analytic: np.ndarray, est: OracleEstimate, *, eps: float, options: Options,
          rounding: np.ndarray | None = None, coord_scale: np.ndarray | None = None,
          loss_resolution: np.ndarray | None = None, row_scale: bool = False, exact: bool = False,
          read_rounding: np.ndarray | None = None, scale_floor: np.ndarray | None = None) -> Judgement:
    """Per-entry verdict of ``analytic`` (shape ``(m, n)``) against the oracle's estimate.

    ``rounding`` is the measured bound on the analytic side's rounding (``(m, n)``, see
    :mod:`gradcheck.judge._rounding`); ``coord_scale`` the ``(n,)`` magnitudes ``max(|x|, typical)``
    that put every entry on the loss's own scale; ``loss_resolution`` the ``(m, 1)`` absolute
    resolution of the outputs, below which a derivative error (times ``coord_scale``) is
    immaterial. Without them the judge is the older one:
    a floor of ``floor_rtol`` of the row's largest entry. ``row_scale``: each entry on its row's
    scale rather than in the loss's units (for an exact witness, whose bars do not grow with the
    loss's units; ``coord_scale`` then only sets what is immaterial, and only with ``exact``).
    ``exact``: the estimate is an exact witness's, beside which only entries the loss cannot see
    are immaterial. ``read_rounding``: the analytic side's rounding read off at the point itself
    (the same code in higher precision), allowed uncapped: it is no jump within a move.
    ``scale_floor``: a least scale per entry, in the loss's units across every parameter.
    """
    safety, rtol, atol, kinks = options.safety, options.rtol, options.atol, options.kinks
    numeric = est.value
    scale = entry_scale(analytic, numeric, None if row_scale else coord_scale)
    if scale_floor is not None:
        scale = np.maximum(scale, scale_floor)
    immaterial = None
    if loss_resolution is not None and coord_scale is not None:
        immaterial = np.asarray(loss_resolution, float).reshape(-1, 1) / np.asarray(coord_scale, float).reshape(1, -1)
    allowance = analytic_allowance(rounding, scale, eps, None if row_scale else immaterial)
    if exact and immaterial is not None:
        # Beside an exact witness an entry the loss cannot see at all (its derivative times its
        # coordinate's scale below the loss's own resolution) is no verdict, however far off: the
        # bias gradient of a confident logistic net is 1 - 1 + 1e-43 in float64, 2.6e-56 against
        # 1.1e-43. Uncapped: the cap is a share of the entry, and the entry is what is invisible.
        mag = np.maximum(np.abs(np.nan_to_num(analytic)), np.abs(np.nan_to_num(numeric)))
        allowance = np.maximum(allowance, np.where(mag <= immaterial, immaterial, 0.0))
    if read_rounding is not None:
        allowance = np.maximum(allowance, read_rounding)
    if not options.fixed:
        bar = safety * est.error
        if kinks and est.jump is not None:
            # A jump below the detection threshold cannot be excluded: its one-sided slopes,
            # numeric -+ |jump| / 2, are as valid as the central value (a ReLU input at 0
            # reached through a weight of 1e-9). The larger of the two bars, not their sum:
            # on a smooth loss the jump is rounding, and the value's own bar already covers it.
            half = (np.abs(est.jump) + est.jump_error) / 2
            # A jump with no finite measure allows for nothing (it would allow for anything).
            bar = np.maximum(bar, np.where(np.isfinite(half), half, 0.0))
        tol = bar + allowance
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
            side_tol = safety * np.nan_to_num(side_error) + allowance
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
                     resolution=resolution, measured=rounding is not None)
