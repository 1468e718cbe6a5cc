"""Entry-by-entry checks for the directional check: suspects, samples, random subsets.

An entry is checked as the derivative along ``s_i e_i``, with the same schemes, error
bars and kink handling as a direction (:class:`~gradcheck.checks.directional._line.Line`), and
judged by the core's judge (:func:`gradcheck.judge._compare.judge`, the estimate on the oracle seam
with shape (1, 1)) against its own magnitude: it mismatches when ``|analytic - numeric| >
safety x error + floor_rtol x max(|analytic|, |numeric|)`` (1e-7 of the entry in float64),
so a relative 1e-6 error is flagged in an entry 1e4 times smaller than its parameter's
largest, which the full per-entry check's floor (1e-7 of the largest) forgives.

Work can be spread over processes (``workers=``): each task rebuilds the Evaluator from
the pickled loss and parameters and checks a chunk of entries.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core._evaluator import Evaluator
from ...core._options import Options
from ...core._parallel import ensure_picklable
from ...core._params import ParamSet
from ...core._progress import Progress
from ...judge._compare import judge
from ...judge._diagnose import _factor_name as factor_name
from ...judge._diagnose import _sizes as sizes_of
from ...oracles._seam import OracleEstimate
from ._line import KINK, Line, LineEstimate

__all__ = [
    "EntryJob",
    "EntryOutcome",
    "Judged",
    "as_oracle",
    "check_entries",
    "diagnose_sample",
    "ensure_picklable",
    "judge_entry",
    "judge_line",
    "line_tolerance",
]


@dataclass(frozen=True)
class Judged:
    agrees: bool
    tolerance: float
    distance: float  # |analytic - numeric|, or the distance to the one-sided slopes at a kink
    ratio: float


def as_oracle(est: LineEstimate) -> OracleEstimate:
    """One line's estimate on the oracle seam: shape (1, 1), the kink fields where it has them.

    A jump that was not measured (complex step, central) or is not finite is left out, as the
    line's own verdict always left it out: the judge would otherwise take an infinite jump as
    the largest finite float and accept anything.
    """

    def one(v: float) -> np.ndarray:
        return np.array([[v]], dtype=np.float64)

    has_jump = math.isfinite(est.jump)
    return OracleEstimate(
        value=one(est.value),
        error=one(est.error),
        left=one(est.left),
        right=one(est.right),
        kink=np.array([[est.state == KINK]]),
        side_error=one(est.side_error),
        jump=one(est.jump) if has_jump else None,
        jump_error=one(est.jump_error) if has_jump else None,
    )


def _judged(analytic: float, est: LineEstimate, eps: float, options: Options) -> Judged:
    j = judge(np.array([[analytic]]), as_oracle(est), eps=eps, options=options)
    # No finite estimate: no agreement either (the judge's "unresolved"; the directional check
    # has no such state, and an entry or direction it cannot read is never passed silently).
    agrees = not bool(j.wrong[0, 0] or j.unresolved[0, 0])
    return Judged(agrees, float(j.tolerance[0, 0]), float(j.abs_error[0, 0]), float(j.ratio[0, 0]))


def judge_entry(est: LineEstimate, eps: float, safety: float) -> Judged:
    """One entry (``est`` along ``s_i e_i``) judged by the core's judge with its own tolerance:
    ``safety x`` the bars (or half a measured slope jump, if larger) plus ``floor_rtol(eps)`` of the entry."""
    return _judged(est.analytic, est, eps, Options(safety=safety))


def line_tolerance(est: LineEstimate, floor: float, safety: float) -> float:
    """A direction's tolerance: ``safety x`` its bars (half a measured slope jump, if larger;
    the one-sided slopes' bar at a kink), plus ``floor``, the analytic side's rounding
    (:data:`~gradcheck.checks.directional._engine.ANALYTIC_ULPS` eps ``||g o w||_2``).

    The judge's own floor, ``floor_rtol(eps)`` of the derivative, does not fit a directional
    derivative: 1e-7 of ``g . w``, a sum over 1e6 entries, is 1e-4 of a median entry, far over
    the 1e-6 to resolve. Until the judge takes an absolute floor, the tolerance is built here and
    handed to it as a fixed one.
    """
    if est.state == KINK:
        return safety * est.side_error + floor
    bar = safety * est.error
    if math.isfinite(est.jump):
        # A kink too small to detect cannot be excluded: its one-sided slopes are valid too.
        bar = max(bar, (abs(est.jump) + est.jump_error) / 2)
    return bar + floor


def judge_line(est: LineEstimate, floor: float, safety: float, eps: float) -> Judged:
    """Does the analytic directional derivative agree with ``est``? The core's judge compares
    (distance, the interval of one-sided slopes at a kink, no finite estimate) against
    :func:`line_tolerance`."""
    tol = line_tolerance(est, floor, safety)
    return _judged(est.analytic, est, eps, Options(safety=safety, atol=tol, rtol=0.0))


@dataclass(frozen=True)
class EntryOutcome:
    """One entry checked alone (values per unit of the parameter, like the gradient)."""

    flat: int  # global flat index over all parameters
    analytic: float
    numeric: float
    error: float
    tolerance: float
    abs_error: float
    state: str
    ok: bool
    left: float
    right: float


@dataclass(frozen=True)
class EntryJob:
    """Everything a process needs to check entries: picklable when the loss is."""

    loss: Callable[[Any], Any]
    params: Any  # the parameters as the loss takes them (private copies)
    fn_name: str
    method: str  # "richardson", "central", "complex" or "auto" (complex, kinks confirmed by richardson)
    noise: float
    safety: float
    calibrated: float


def _measure_entry(line: Line, flat: int, g_i: float, s_i: float, job: EntryJob, eps: float) -> EntryOutcome:
    w = np.zeros(line.x.size)
    w[flat] = s_i
    first = "complex" if job.method in ("complex", "auto") else job.method
    est = line.estimate(w, "checking one entry", method=first)

    j = judge_entry(est, eps, job.safety)
    if not j.agrees and job.method == "auto":
        # Complex step takes one branch at a kink; richardson sees both sides.
        fd = line.estimate(w, "checking one entry at a possible kink", method="richardson", polish=False)
        jf = judge_entry(fd, eps, job.safety)
        if fd.state == KINK and jf.agrees:
            est, j = fd, jf
    move = est.analytic / g_i if g_i != 0 else s_i  # the move actually made per unit t
    move = move if move != 0 else s_i
    per = abs(move)
    numeric = est.value / move
    return EntryOutcome(
        flat=flat,
        analytic=g_i,
        numeric=float(numeric),
        error=est.error / per,
        tolerance=j.tolerance / per,
        abs_error=j.distance / per,
        state=est.state,
        ok=j.agrees,
        left=est.left / move,
        right=est.right / move,
    )


def _flat_vectors(ps: ParamSet) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    offsets, start = [], 0
    for n in ps.names:
        size = ps.arrays[n].size
        offsets.append((n, start, start + size))
        start += size
    x = np.concatenate([ps.arrays[n].astype(np.float64).ravel() for n in ps.names])
    return x, offsets


def _run_chunk(
    job: EntryJob, flats: Sequence[int], gs: Sequence[float], ss: Sequence[float]
) -> tuple[list[EntryOutcome], int]:
    """Worker entry point: check ``flats`` in a fresh Evaluator; returns outcomes and evaluations spent."""
    ps = ParamSet(job.params, single_name="params")
    ev = Evaluator(job.loss, ps, scalar=True, fn_name=job.fn_name)
    f0, _ = ev.base()
    x, offsets = _flat_vectors(ps)
    g = np.zeros(x.size)
    g[list(flats)] = gs
    line = Line(ev, x, g, float(f0[0]), job.noise, method="richardson", safety=job.safety, offsets=offsets)
    line.calibrated = job.calibrated
    out = [_measure_entry(line, int(i), float(gi), float(si), job, ps.eps)
           for i, gi, si in zip(flats, gs, ss, strict=False)]
    return out, ev.n_evaluations


def check_entries(
    line: Line,
    job: EntryJob,
    flats: Sequence[int],
    g: np.ndarray,
    s: np.ndarray,
    *,
    workers: int | cf.Executor | None,
    budget_s: float | None,
    progress: Progress,
    label: str,
) -> tuple[list[EntryOutcome], int]:
    """Check ``flats`` one by one, in this process or over ``workers``, until done or ``budget_s`` runs out.

    Returns the outcomes (in the order checked) and the evaluations spent in other processes.
    """
    flats = [int(i) for i in flats]
    start = time.perf_counter()
    out: list[EntryOutcome] = []
    if workers is None:
        for k, i in enumerate(flats):
            if budget_s is not None and time.perf_counter() - start > budget_s:
                break
            out.append(_measure_entry(line, i, float(g[i]), float(s[i]), job, line.eps))
            progress.update(k + 1, len(flats), label)
        return out, 0
    own = isinstance(workers, int)
    pool: cf.Executor = cf.ProcessPoolExecutor(max_workers=workers) if own else workers  # type: ignore[arg-type]
    n_jobs = workers if own else 4
    chunk = max(1, min(64, math.ceil(len(flats) / (4 * max(int(n_jobs), 1)))))
    pieces = [flats[a : a + chunk] for a in range(0, len(flats), chunk)]
    spent = 0
    try:
        pending: dict[cf.Future, int] = {}
        nxt = 0
        in_flight = 2 * max(int(n_jobs), 1)
        while nxt < len(pieces) or pending:
            while (
                nxt < len(pieces)
                and len(pending) < in_flight
                and (budget_s is None or time.perf_counter() - start <= budget_s)
            ):
                piece = pieces[nxt]
                fut = pool.submit(_run_chunk, job, piece, [float(g[i]) for i in piece], [float(s[i]) for i in piece])
                pending[fut] = nxt
                nxt += 1
            if not pending:
                break
            done, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
            for fut in done:
                pending.pop(fut)
                res, evals = fut.result()
                out.extend(res)
                spent += evals
                progress.update(len(out), len(flats), label)
    finally:
        if own:
            pool.shutdown(wait=True)
    return out, spent


# --------------------------------------------------------------------------- diagnosis from a sample
def _factor_name(c: float, shape: tuple[int, ...]) -> str:
    """The diagnosis's own naming of a factor, with the sample's 1e-6 agreement as the fit."""
    return factor_name(c, lambda k: abs(k - c) <= 1e-6 * abs(c), sizes_of(shape, shape))


def diagnose_sample(outcomes: Sequence[EntryOutcome], shape: tuple[int, ...], offset: int, size: int) -> str | None:
    """What the mistake in one parameter looks like, from the entries checked there (None when all agree).

    Every sampled entry must fit a pattern within its own tolerance for the pattern to be named:
    a factor ``a = c n``, a transpose ``a[i, j] = n[j, i]`` on sampled pairs, an identically zero
    analytic side; else the share of sampled entries wrong.
    """
    own = [o for o in outcomes if offset <= o.flat < offset + size]
    bad = [o for o in own if not o.ok]
    if not bad:
        return None
    a = np.array([o.analytic for o in own])
    n = np.array([o.numeric for o in own])
    tol = np.array([o.tolerance for o in own])
    if np.all(a[[not o.ok for o in own]] == 0):
        return (f"analytic is 0 on {len(bad)} sampled entries where the numerical derivative is not "
                f"(a missing term or mask?)")
    use = np.abs(n) > tol
    if use.sum() >= 2:
        c = float(np.median(a[use] / n[use]))
        if np.all(np.abs(a - c * n) <= tol + 1e-9 * np.abs(c * n)) and abs(c - 1) > 1e-12:
            return _factor_name(c, shape) + f" (on all {len(own)} sampled entries)"
    if len(shape) == 2 and shape[0] == shape[1]:
        by_index = {o.flat - offset: o for o in own}
        pairs = []
        for loc, o in by_index.items():
            i, j = divmod(loc, shape[1])
            partner = by_index.get(j * shape[1] + i)
            if partner is not None and i < j:
                pairs.append((o, partner))
        moved = [(p, q) for p, q in pairs if not (p.ok and q.ok)]
        if len(moved) >= 2 and all(
            abs(p.analytic - q.numeric) <= p.tolerance + q.tolerance
            and abs(q.analytic - p.numeric) <= p.tolerance + q.tolerance
            for p, q in pairs
        ):
            return f"transposed: analytic[i, j] = numerical[j, i] on all {len(pairs)} sampled pairs (i, j), (j, i)"
    share = len(bad) / len(own)
    return (
        f"{len(bad)} of {len(own)} sampled entries wrong (about {share * size:,.0f} of {size:,} entries if the "
        f"sample is typical); no factor, sign or transpose fits"
    )
