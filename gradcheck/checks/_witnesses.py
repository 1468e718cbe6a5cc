"""Witnesses stronger than finite differences, asked only where finite differences cannot settle.

Finite differences are the first witness: they run on any code, but their bars grow with the
loss's rounding, so a loss of 1e8 with gradients near 1, a saturated layer or a coordinate of
scale 1e-6 beside one of 1e6 can leave a parameter ``inconclusive`` (or judged only in the loss's
units). For those parameters only, :func:`escalate` asks, cheapest first:

1. **complex step** (one evaluation per entry, exact to rounding) where the loss takes complex
   input and passes the analyticity probe; never at an entry where finite differences found a kink
   (its derivative there is the analytic continuation of one branch, not a slope);
2. **the exact symbolic derivative** of the same code, evaluated in 50-digit arithmetic and rounded
   once (bar: half an ulp), where the code runs on symbols within its size budget.

A stronger witness decides only if it agrees with finite differences wherever those resolved an
entry (within both bars): two conclusive witnesses that disagree mean one of them is wrong (a loss
that is not complex-analytic, frozen floats, a nondeterministic loss), and the parameter stays
``inconclusive`` with both values named, never silently settled either way.

A witness is judged per entry on its own scale, the row's largest derivative, not in the loss's
units: that is what it adds (a sign flip of entries that move the loss by 1e-14 of itself is no
longer immaterial when the witness is exact).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..core._errors import InvalidArgumentError, LossRaisedError, NonFiniteError
from ..judge._result import ParamResult
from ..oracles import _fd
from ..oracles._fd_oracle import NOTABLE_NOISE, FiniteDifferences, scales
from ..oracles._seam import Context, OracleEstimate, OracleRun
from ..oracles._symbolic import Symbolic, SymbolicUnavailable

__all__ = ["Witness", "WITNESSES", "escalate", "loss_units_only", "fd_witness_name"]

NOISE_TO_SLOPE = 4.0
"""A loss whose values carry rounding noise ``sigma`` (beyond its ulps) gives complex-step slopes
off by up to about ``sigma / t`` per coordinate of scale ``t`` (the same cancelled terms, read
through their imaginary parts): measured 1.3 times that on a saturated cross-entropy, whose
bias gradient sums six such terms; four times it is the bar."""

AGREEMENT_ULPS = 64.0
"""Ulps of an entry's magnitude two witnesses may differ by beyond their bars before they disagree."""


@dataclass(frozen=True)
class Witness:
    """A witness beyond finite differences: its name in results, and how to run it on a context."""

    name: str
    run: Callable[[Context], OracleRun]
    kinks: bool  # whether it has a view at kinks (one-sided derivatives)


class WitnessUnavailable(Exception):
    """Internal: the witness cannot run here (the reason is args[0])."""


def _complex(ctx: Context) -> OracleRun:
    """Complex step, its bars widened by the loss's excess rounding noise.

    Complex step's own bar (two imaginary steps) sees the rounding of the imaginary parts only.
    Where the loss is a small difference of large terms (``log(1 - s)`` at ``s = 1 - 1e-9``), the
    real parts carry that cancellation into the derivative unchanged at both steps: a correct
    gradient read 3e-8 off. The loss's measured noise beyond its ulps, over each coordinate's
    scale, bounds that error (a noise of 1.6e-7 at |f| = 250 against an error of 1e-7)."""
    opts = dataclasses.replace(ctx.options, method="complex")
    sub = dataclasses.replace(ctx, options=opts, notes=[])
    try:
        run = FiniteDifferences().run(sub)
        sc = scales(ctx.params, ctx.options)
        sigma, _ = _fd.measure_noise(ctx.evaluator, ctx.f0, sc)
    except (InvalidArgumentError, LossRaisedError, NonFiniteError) as exc:
        msg = str(exc).split(": ", 1)[-1] if isinstance(exc, InvalidArgumentError) else str(exc)
        raise WitnessUnavailable(msg) from exc
    noise = _fd.NOISE_SIGMAS * sigma + ctx.spread
    excess = NOISE_TO_SLOPE * np.maximum(noise - NOTABLE_NOISE * _fd.ulps(ctx.f0, ctx.params.eps), 0.0).reshape(-1, 1)
    if not excess.any():
        return run
    widened = [dataclasses.replace(e, error=e.error + excess / t.reshape(1, -1))
               for e, t in zip(run.estimates, sc, strict=True)]
    return OracleRun(method=run.method, estimates=widened)


def _symbolic(ctx: Context) -> OracleRun:
    try:
        return Symbolic(exact=True).run(ctx)
    except SymbolicUnavailable as exc:
        raise WitnessUnavailable(str(exc)) from exc


WITNESSES: tuple[Witness, ...] = (
    Witness("complex step", _complex, kinks=False),
    Witness("symbolic (exact)", _symbolic, kinks=True),
)
"""Asked in this order, cheapest first."""


def fd_witness_name(method: str) -> str:
    return f"finite differences ({method})"


def loss_units_only(p: ParamResult, resolution: float | None) -> int:
    """How many entries of a passing parameter finite differences could judge only in the loss's
    units: their tolerance, against the row's largest derivative, is coarser than ``resolution``
    (coordinates of very different scales). 0 when nothing was asked or the arrays were not kept."""
    if resolution is None or p.arrays is None or p.verdict != "pass":
        return 0
    a, n, tol = p.arrays.analytic, p.arrays.numeric, p.arrays.tolerances
    m = max(1, int(np.prod(a.shape[: a.ndim - len(p.shape)])))
    mag = np.maximum(np.abs(a), np.abs(n)).reshape(m, -1)
    row = mag.max(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(row > 0, tol.reshape(m, -1) / row, 0.0)
    return int(np.sum(rel > resolution))


def _disagreement(fd: OracleEstimate, w: OracleEstimate, safety: float, skip: np.ndarray) -> str | None:
    """Where the two estimates differ beyond both bars (entries finite differences resolved and
    found smooth), the first such entry; None where they agree."""
    v, e = fd.value, fd.error
    bar = safety * (e + w.error) + AGREEMENT_ULPS * np.spacing(np.maximum(np.abs(v), np.abs(w.value)))
    if fd.jump is not None:
        half = (np.abs(fd.jump) + np.nan_to_num(fd.jump_error)) / 2
        bar = np.maximum(bar, safety * e + np.where(np.isfinite(half), half, 0.0))
    judged = np.isfinite(v) & np.isfinite(e) & ~skip & np.isfinite(w.value)
    off = judged & (np.abs(v - w.value) > bar)
    if not off.any():
        return None
    r, c = np.argwhere(off)[0]
    return (f"{int(off.sum())} entr{'y' if off.sum() == 1 else 'ies'} differ from finite differences beyond both "
            f"bars (first at flat {int(c)}: {w.value[r, c]:.10g} against {v[r, c]:.10g} +- {e[r, c]:.2g})")


Build = Callable[[str, OracleEstimate, str], ParamResult]
"""(parameter name, witness estimate, witness name) -> the parameter's result judged against it."""


def escalate(ctx: Context, fd_run: OracleRun, results: Mapping[str, ParamResult], build: Build,
             witnesses: tuple[Witness, ...] = WITNESSES) -> dict[str, ParamResult]:
    """Parameters finite differences left inconclusive (or judged in loss units only) settled by
    the strongest witness that can; each result names its witness and what was tried."""
    out = dict(results)
    resolution = ctx.options.resolution
    need: dict[str, list[str]] = {}
    for name in ctx.params.names:
        p = out[name]
        fd_name = p.witness or fd_witness_name(fd_run.method)
        if p.verdict == "inconclusive":
            need[name] = [f"{fd_name}: inconclusive"]
        elif (count := loss_units_only(p, resolution)):
            need[name] = [f"{fd_name}: pass in the loss's units; {count} entr{'y' if count == 1 else 'ies'} "
                          f"coarser than {resolution:g} of the row's largest derivative"]
    if not need:
        return out
    index = {n: k for k, n in enumerate(ctx.params.names)}
    found: dict[str, ParamResult] = {}  # a FAIL awaiting confirmation by the next witness
    for w in witnesses:
        if not need:
            break
        if fd_run.method == "complex" and w.name == "complex step":
            continue
        try:
            run = w.run(ctx)
        except WitnessUnavailable as exc:
            for trail in need.values():
                trail.append(f"{w.name}: n/a ({exc})")
            continue
        for name in list(need):
            k = index[name]
            fd_est, est = fd_run.estimates[k], run.estimates[k]
            fd_kinks = fd_est.kink_mask()
            if not w.kinks and fd_kinks.any():
                need[name].append(f"{w.name}: n/a (finite differences found {int(fd_kinks.sum())} kink(s), where "
                                  f"it has no one-sided view)")
                continue
            skip = fd_kinks | est.kink_mask()
            clash = _disagreement(fd_est, est, ctx.options.safety, skip)
            if clash:
                need[name].append(f"{w.name}: disagrees with finite differences: {clash}")
                continue
            p = build(name, est, w.name)
            if p.verdict == "inconclusive":
                need[name].append(f"{w.name}: inconclusive ({p.inconclusive})")
                continue
            held = found.get(name)
            if held is not None and held.verdict != p.verdict:
                # a FAIL the more precise witness does not share: it decides, and the result says so
                need[name].append(f"{held.witness}: FAIL refuted by {w.name}, which is more precise here (its "
                                  f"bar did not cover this loss's rounding)")
            elif p.verdict == "FAIL" and held is None and w is not witnesses[-1]:
                # a mistake finite differences could not see is confirmed where a further witness can
                found[name] = dataclasses.replace(p, witness=w.name, trail=tuple(need[name]))
                need[name].append(f"{w.name}: FAIL ({p.n_mismatched} of {p.n_checked} entries), to be confirmed")
                continue
            out[name] = dataclasses.replace(p, witness=w.name, trail=tuple(need.pop(name)))
            found.pop(name, None)
    for name, held in found.items():  # no further witness could confirm or refute: the FAIL stands
        out[name] = held
        need.pop(name, None)
    for name, trail in need.items():
        p = out[name]
        clash = [t for t in trail if ": disagrees with " in t]
        if p.verdict == "pass":  # judged in loss units and no stronger witness could say more
            out[name] = dataclasses.replace(p, trail=tuple(trail))
            continue
        why = p.inconclusive or ""
        if clash:
            why = (f"witnesses disagree ({'; '.join(clash)}): one of them is wrong here (a loss that is not "
                   f"complex-analytic, a float frozen in the code, a nondeterministic loss?); {why}")
        tried = "; ".join(t for t in trail[1:] if t not in clash)
        out[name] = dataclasses.replace(p, inconclusive=why + (f" [also tried: {tried}]" if tried else ""),
                                        trail=tuple(trail))
    return out


def witness_counts(results: Mapping[str, ParamResult]) -> dict[str, int]:
    """How many parameters each witness settled (for notes and benchmarks)."""
    out: dict[str, int] = {}
    for p in results.values():
        if p.verdict != "inconclusive" and p.witness:
            out[p.witness] = out.get(p.witness, 0) + 1
    return out

