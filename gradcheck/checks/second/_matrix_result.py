"""A judged second-derivative matrix turned into a :class:`HessianCheckResult`.

Holds the per-block results (worst entries, mismatches, kinks, resolution, asymmetry), the
overall status (``mismatch`` if any entry is wrong, else ``inconclusive`` if any is unresolved
or none was judged, else ``ok``) and the notes that say why. May import gradcheck's
``_compare``, ``_result``, ``_status`` and this subpackage's ``_layout``, ``_reference``,
``_diagnose``, ``_result`` and ``_settings``; it judges nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...core._status import Status
from ...judge._compare import relative_error
from ...judge._result import Entry, GradCheckResult
from ._diagnose import diagnose_blocks, diagnose_matrix
from ._layout import Claim, asymmetry
from ._reference import Reference
from ._result import BlockResult, HessianCheckResult

__all__ = ["hessian_result", "not_judged"]

PLAIN = 0.0
"""The floor the tables give :func:`relative_error`: none. They print the plain ``|a - n| /
max(|a|, |n|)`` beside the tolerance (first order floors it at the tolerance instead)."""


def _entry(claim: Claim, ref: Reference, r: int, c: int, index: tuple[int, ...]) -> Entry:
    a, n = float(claim.matrix[r, c]), float(ref.value[r, c])
    err = abs(a - n)
    return Entry(
        index=index,
        analytic=a,
        numeric=n,
        abs_error=err,
        rel_error=float(relative_error(np.float64(err), a, n, PLAIN)),
        tolerance=float(ref.tol[r, c]),
        error_estimate=float(ref.error[r, c]),
        status=Status(int(ref.status[r, c])).label,
    )


def _block_result(claim: Claim, ref: Reference, pair: tuple[str, str], max_entries: int,
                  diagnosis: str | None) -> BlockResult:
    lay, (a, b) = claim.lay, pair
    rs, cs = lay.slices[a], lay.slices[b]
    c, v, t, st = claim.matrix[rs, cs], ref.value[rs, cs], ref.tol[rs, cs], ref.status[rs, cs]
    sa, sb = lay.shapes[a], lay.shapes[b]

    def entry(flat: int) -> Entry:
        r, k = divmod(flat, c.shape[1])
        index = tuple(int(i) for i in np.unravel_index(r, sa)) + tuple(int(i) for i in np.unravel_index(k, sb))
        return _entry(claim, ref, rs.start + r, cs.start + k, index)

    err = np.abs(c - v)
    judged = (st == Status.OK) | (st == Status.MISMATCH)
    # 1e-300 here and below: only keeps a zero tolerance or an all-zero block from dividing by zero
    ratio = np.where(judged, err / np.maximum(t, 1e-300), -1.0).ravel()
    order = np.argsort(-ratio, kind="stable")
    bad = [int(i) for i in order if st.ravel()[i] == Status.MISMATCH]
    kinks = np.flatnonzero(st.ravel() == Status.KINK)[:max_entries]
    scale = max(float(np.abs(np.where(np.isfinite(v), v, 0.0)).max()), float(np.abs(c).max()), 1e-300)
    mirror = lay.block(claim.matrix, b, a).T
    return BlockResult(
        rows=a,
        cols=b,
        shape=sa + sb,
        ok=not bad,
        n_checked=int(c.size),
        n_mismatched=len(bad),
        n_kinks=int((st == Status.KINK).sum()),
        n_inconclusive=int((st == Status.UNRESOLVED).sum()),
        max_abs_error=float(np.where(judged, err, 0).max()),
        max_rel_error=float(np.where(judged, relative_error(err, c, v, PLAIN), 0).max()),
        resolution=float(np.where(judged, t, 0).max()) / scale,
        worst=entry(int(order[0])),
        mismatches=tuple(entry(i) for i in bad[:max_entries]),
        kinks=tuple(entry(int(i)) for i in kinks),
        asymmetry=float(np.abs(c - mirror).max()) / scale,
        diagnosis=diagnosis,
        analytic=c.reshape(sa + sb),
        numeric=v.reshape(sa + sb),
        error_estimate=ref.error[rs, cs].reshape(sa + sb),
        tolerances=t.reshape(sa + sb),
    )


def hessian_result(kind: str, claim: Claim, ref: Reference, max_entries: int, *, n_evaluations: int,
                   first_order: GradCheckResult | None, gn: np.ndarray | None = None,
                   notes: Sequence[str] = ()) -> HessianCheckResult:
    """The result of ``kind`` ("hessian" or "gauss_newton") from the judged ``ref``; ``gn``, the
    Gauss-Newton matrix where known, lets a diagnosis name it."""
    lay, claimed, status = claim.lay, claim.matrix, ref.status
    bad = status == Status.MISMATCH
    judged_tol = np.where((status == Status.OK) | bad, ref.tol, np.inf)
    whole = diagnose_matrix(claimed, ref.value, judged_tol, bad, lay, gn=gn) if bad.any() else []
    per_block = diagnose_blocks(claimed, ref.value, judged_tol, bad, lay) if bad.any() else {}
    blocks = {(a, b): _block_result(claim, ref, (a, b), max_entries, per_block.get((a, b))) for a, b in lay.pairs()}
    kinks = int((status == Status.KINK).sum())
    all_notes = list(ref.notes) + list(notes)
    if kinks:
        all_notes.append(
            f"{kinks} entr{'y' if kinks == 1 else 'ies'} at kinks: the one-sided first derivatives of the "
            f"gradient differ there (or a kink lies inside the second-difference stencil), so the Hessian does "
            f"not exist at this point or cannot be resolved from both sides of it; not judged"
        )
    ok = status == Status.OK
    zero_numeric = np.all(np.abs(ref.value[ok]) <= ref.tol[ok])
    if not bad.any() and not np.any(claimed) and zero_numeric:
        all_notes.append(
            "claimed and numerical second derivatives are identically zero here (a piecewise-linear "
            "region of a ReLU net?): this point cannot tell a right formula from a wrong one"
        )
    judged_any = bool((ok | bad).any())
    if not judged_any:
        all_notes.append("no entry could be judged at this point: check another point for evidence")
    overall = (
        "mismatch" if bad.any() else ("inconclusive" if (status == Status.UNRESOLVED).any() or not judged_any else "ok")
    )
    return HessianCheckResult(
        ok=overall == "ok",
        status=overall,
        kind=kind,
        function=claim.function,
        method=ref.method,
        blocks=blocks,
        n_evaluations=n_evaluations,
        asymmetry=asymmetry(claimed),
        tolerance=ref.tolerance,
        diagnosis=tuple(whole),
        first_order=first_order,
        notes=tuple(all_notes),
    )


def not_judged(kind: str, status: str, fname: str, first: GradCheckResult, note: str) -> HessianCheckResult:
    """The claim not judged: the first-order part its reference is built on is wrong."""
    return HessianCheckResult(
        ok=False,
        status=status,
        kind=kind,
        function=fname,
        method="not run",
        blocks={},
        n_evaluations=first.n_evaluations,
        asymmetry=float("nan"),
        tolerance=None,
        first_order=first,
        notes=(note,),
    )
