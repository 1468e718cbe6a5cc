"""Second-order claims judged by the one judge, :func:`gradcheck.judge._compare.judge`.

An entry mismatches when ``|claimed - numeric| > safety x error estimate + floor_rtol x scale``,
the scale being the largest magnitude (claimed or numeric) in the entry's row of its block of
the matrix, or in its parameter's part of Hv; an entry with no finite estimate or bar is
unresolved. Second order adds one rule of its own: an entry whose tolerance is wider than
``RESOLVE`` of its scale is no evidence, and is unresolved too. The judge's kink rule (the
one-sided slopes are the oracle) does not apply: at a kink of the gradient no second
derivative exists, and the references mark such entries themselves. May import
gradcheck's ``_compare``, ``_seam``, ``_options``, ``_result``, ``_status`` and this
subpackage's ``_layout`` and ``_reference``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...core._options import Options
from ...core._status import Status
from ...judge._compare import Judgement, floor_rtol, judge
from ...judge._result import Tolerance
from ...oracles._seam import OracleEstimate
from ._layout import Claim, Layout
from ._reference import Reference

__all__ = ["RESOLVE", "judge_matrix", "judge_vector", "tolerance_record", "unresolved_wide"]

RESOLVE = 1e-4
"""An entry whose tolerance is wider than this fraction of its scale cannot show a 1e-5 slip
(the target) with margin; it is reported inconclusive rather than ok."""


def _judged(claimed: np.ndarray, value: np.ndarray, error: np.ndarray, safety: float, eps: float) -> Judgement:
    """The one judge on an ``(m, n)`` piece whose rows are the entries' scales, with no rounding
    measured (the floor) and its kink rule off (see the module doc)."""
    return judge(claimed, OracleEstimate(value=value, error=error), eps=eps,
                 options=Options(safety=safety, kinks=False))


def tolerance_record(t: np.ndarray, safety: float, eps: float) -> Tolerance:
    return Tolerance(
        mode="estimate",
        safety=safety,
        floor_rtol=floor_rtol(eps),
        rtol=None,
        atol=None,
        eps=eps,
        max=float(t.max()),
        median=float(np.median(t)),
    )


def judge_matrix(claim: Claim, ref: Reference, safety: float) -> Reference:
    """``ref`` with tolerances and the statuses of the entries it left ok, block by block (a
    block's rows are the scale of its entries); its own findings (a kink, no clean difference
    at any step) stand."""
    lay, eps = claim.lay, claim.lay.ps.eps
    tol, status = np.empty_like(ref.value), np.empty_like(ref.status)
    for a, b in lay.pairs():
        rs, cs = lay.slices[a], lay.slices[b]
        j = _judged(claim.matrix[rs, cs], ref.value[rs, cs], ref.error[rs, cs], safety, eps)
        tol[rs, cs], status[rs, cs] = j.tolerance, j.status
    return replace(ref, tol=tol, status=np.where(ref.status == Status.OK, status, ref.status),
                   tolerance=tolerance_record(tol, safety, eps))


def _scale_rows(m: np.ndarray, c: np.ndarray, lay: Layout) -> np.ndarray:
    """Per entry: the largest magnitude of claimed and numeric in its row of its block."""
    s = np.empty_like(m)
    mag = np.where(np.isfinite(m), np.abs(m), 0.0)  # an unresolved entry (NaN) sets no scale
    for a, b in lay.pairs():
        rs, cs = lay.slices[a], lay.slices[b]
        s[rs, cs] = np.maximum(mag[rs, cs].max(axis=1, keepdims=True), np.abs(c[rs, cs]).max(axis=1, keepdims=True))
    return s


def unresolved_wide(ref: Reference, claim: Claim) -> Reference:
    """An ok entry whose tolerance exceeds RESOLVE x its row's scale is no evidence: unresolved."""
    claimed = claim.matrix
    # A row of zeros beside non-zero rows is resolved against the matrix's scale: a row below
    # 1e-3 of it is held to RESOLVE x 1e-3 = 1e-7 of the matrix's scale (the floor's own size),
    # no finer. An all-zero matrix is left to the "identically zero" note.
    significant = (ref.status == Status.OK) & (np.abs(ref.value) > ref.tol)  # rounding-level values are zeros
    overall = max(float(np.abs(ref.value[significant]).max(initial=0.0)), float(np.abs(claimed).max()))
    scale = np.maximum(_scale_rows(ref.value, claimed, claim.lay), 1e-3 * overall)
    wide = (ref.tol > RESOLVE * scale) & (ref.status == Status.OK) & (overall > 0)
    if not wide.any():
        return ref
    return replace(ref, status=np.where(wide, Status.UNRESOLVED, ref.status)).noted(
        f"{int(wide.sum())} entries have tolerances above {RESOLVE:g} of their scale "
        f"(a noisy loss or a kink nearby): inconclusive there"
    )


def judge_vector(claim: np.ndarray, value: np.ndarray, error: np.ndarray, found: np.ndarray, lay: Layout,
                 safety: float) -> tuple[np.ndarray, np.ndarray]:
    """Tolerances and statuses of one Hv, parameter by parameter (a parameter's part of Hv is
    the scale of its entries). Where the reference ``found`` a kink or nothing clean, that
    stands; an entry whose tolerance exceeds RESOLVE x its scale is unresolved even if it
    mismatches (the bar, not the claim, is what is wide). As for the matrix (:func:`unresolved_wide`),
    a part of zeros is held to 1e-3 of the whole Hv's scale, no finer, and an Hv that is zero
    throughout (a piecewise-linear loss) is left to its rounding: its own scale is rounding,
    so no bar could ever be 1e-4 of it."""
    tol, status, scale = np.empty_like(value), np.empty(value.shape, dtype=int), np.empty_like(value)
    judged = {}
    for n in lay.names:
        sl = lay.slices[n]
        j = _judged(claim[sl].reshape(1, -1), value[sl].reshape(1, -1), error[sl].reshape(1, -1), safety, lay.ps.eps)
        judged[n] = j
        tol[sl], scale[sl] = j.tolerance[0], j.scale[0]
    significant = (found == Status.OK) & (np.abs(value) > tol)  # rounding-level values are zeros
    overall = max(float(np.abs(value[significant]).max(initial=0.0)), float(np.abs(claim).max()))
    for n in lay.names:
        sl = lay.slices[n]
        wide = (tol[sl] > RESOLVE * np.maximum(scale[sl], 1e-3 * overall)) & (overall > 0)
        status[sl] = np.where(found[sl] != Status.OK, found[sl], np.where(wide, Status.UNRESOLVED, judged[n].status[0]))
    return tol, status
