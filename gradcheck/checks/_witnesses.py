"""Witnesses stronger than finite differences, asked only where finite differences cannot settle.

Finite differences are the first witness: they run on any code, but their bars grow with the
loss's rounding, so a loss of 1e8 with gradients near 1, a saturated layer or a coordinate of
scale 1e-6 beside one of 1e6 can leave a parameter ``inconclusive`` (or judged only in the loss's
units). For those parameters only, :func:`escalate` asks, cheapest first:

1. **complex step** (one evaluation per entry, exact to rounding) where the loss takes complex
   input and passes the analyticity probe; never at an entry where finite differences found a kink
   (its derivative there is the analytic continuation of one branch, not a slope);
2. **the exact symbolic derivative** of the same code, evaluated in 50-digit arithmetic and rounded
   once (bar: half an ulp), where the code runs on symbols within its size budget;
3. **complex step in long double**, where the float64 complex step's bar fell short (a loss whose real
   parts cancel: ``log(1 - s)`` at saturated ``s``) and the loss follows its input's dtype.

A FAIL of finite differences is confirmed by the first witness that can judge its worst entry; a
complex-step FAIL is checked against the same step in long double at its wrong entries, and by the
next witness where there is one.

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
from ..core._status import Status
from ..judge._result import ParamResult
from ..oracles import _fd
from ..oracles._fd_oracle import NOTABLE_NOISE, FiniteDifferences, scales
from ..oracles._seam import Context, OracleEstimate, OracleRun
from ..oracles._symbolic import Symbolic, SymbolicUnavailable

__all__ = ["Witness", "WITNESSES", "escalate", "loss_units_only", "thin_margin", "fd_witness_name"]

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


LONG_DOUBLE_GAIN = 2.0 ** -11
"""x86's long double keeps 11 more bits than float64: the error of a long-double complex step is
about this times that of the float64 one, which their difference measures."""


def _complex_long_double(ctx: Context) -> OracleRun:
    """Complex step in ``np.clongdouble``, where the loss follows its input's dtype: the loss's own
    cancellation, which complex step reads unchanged at every step, shrinks by 2**-11; the bar is
    four times that share of its distance from the float64 complex step (which measures the
    float64 one's error), plus a few long-double ulps of the value."""
    if np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps:
        raise WitnessUnavailable("this platform's long double is float64")
    base = _complex(ctx)
    ps, ev = ctx.params, ctx.evaluator
    sc = scales(ps, ctx.options)
    ld_eps = float(np.finfo(np.longdouble).eps)
    estimates = []
    for name, t, e in zip(ps.names, sc, base.estimates, strict=True):
        value = np.empty_like(e.value)
        for j in range(ps.arrays[name].size):
            arrays = {n: ps.arrays[n].astype(np.clongdouble) for n in ps.names}
            h = np.longdouble(1e-20) * np.longdouble(t[j])
            arrays[name].reshape(-1)[j] += np.clongdouble(1j) * h
            try:
                with np.errstate(all="ignore"):
                    out = np.asarray(ev.fn(ps.pack(arrays)))
            except Exception as exc:
                raise WitnessUnavailable(f"{ev.fn_name} cannot run in long double ({type(exc).__name__})") from exc
            if out.dtype != np.clongdouble:
                raise WitnessUnavailable(f"{ev.fn_name} returns {out.dtype} for complex long double input")
            value[:, j] = (np.imag(out.reshape(-1)) / h).astype(np.float64)
        error = (4 * LONG_DOUBLE_GAIN * np.abs(value - e.value) + 16 * ld_eps * np.abs(value)
                 + LONG_DOUBLE_GAIN * e.error)
        estimates.append(OracleEstimate(value=value, error=error))
    return OracleRun(method="complex step in long double", estimates=estimates)


WITNESSES: tuple[Witness, ...] = (
    Witness("complex step", _complex, kinks=False),
    Witness("symbolic (exact)", _symbolic, kinks=True),
    Witness("complex step in long double", _complex_long_double, kinks=False),
)
"""Asked in this order, cheapest first."""


def fd_witness_name(method: str) -> str:
    return f"finite differences ({method})"


SCALE_SPREAD = 1e3
"""Coordinates whose scales ``max(|x|, typical)`` differ by more than this within a parameter are
judged in the loss's units: the small ones' entries are measured against what the large ones move."""


def loss_units_only(p: ParamResult, coord_scale: np.ndarray) -> int:
    """How many entries of a passing parameter finite differences could judge only in the loss's
    units: among coordinates of scales spread over more than :data:`SCALE_SPREAD`, nonzero entries
    whose tolerance exceeds half their own size, so that even their sign went unjudged (the
    gradient of entries of 1e-6 beside entries of 1e6 flipped in sign passes by differences). 0
    when the scales are even or the arrays were not kept."""
    t = np.asarray(coord_scale, dtype=float).reshape(-1)
    if p.arrays is None or p.verdict != "pass" or t.max() <= SCALE_SPREAD * t.min():
        return 0
    a, n, tol = p.arrays.analytic, p.arrays.numeric, p.arrays.tolerances
    mag = np.maximum(np.abs(a), np.abs(n))
    return int(np.sum((mag > 0) & (tol > mag / 2)))


THIN_MARGIN = 0.3
"""A pass of finite differences where some smooth entry sits further than this share of its
tolerance from the numerical value (three times its own error estimate, at the default safety of
10) is asked of a stronger witness. Correct gradients sat below 0.03 of it in every drawn problem of
the registry at five magnitudes, and below 0.25 in ReLU nets' biases beside their kinks (0.2 asked
complex step in 9 of 60 such nets); gradients slipped by a relative 1e-8, which differences resolve
to 1e-8..2e-8, sit at 0.1..0.9. So the cost falls on the checks with something to find."""


def thin_margin(p: ParamResult) -> str | None:
    """Why a passing parameter's margin is thin (the entry and its share of the tolerance), or None."""
    if p.arrays is None or p.verdict != "pass" or p.n_kinks:
        return None
    err, tol, st = p.arrays.abs_errors, p.arrays.tolerances, p.arrays.status
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where((st == Status.OK) & (tol > 0) & np.isfinite(tol), err / tol, 0.0)
    share = np.nan_to_num(share, nan=0.0)
    k = int(np.argmax(share))
    if share.flat[k] <= THIN_MARGIN:
        return None
    at = tuple(int(i) for i in np.unravel_index(k, share.shape))
    return f"{share.flat[k]:.2g} of its tolerance at {at}"


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
    need: dict[str, list[str]] = {}
    thin_pass: dict[str, float] = {}  # passes asked further for a thin margin: their resolution to beat
    for name, t in zip(ctx.params.names, scales(ctx.params, ctx.options), strict=True):
        p = out[name]
        fd_name = p.witness or fd_witness_name(fd_run.method)
        if p.verdict == "inconclusive":
            need[name] = [f"{fd_name}: inconclusive"]
        elif (count := loss_units_only(p, t)):
            need[name] = [f"{fd_name}: pass in the loss's units only; {count} entr{'y' if count == 1 else 'ies'} "
                          f"of coordinates far smaller than the others unjudged even in sign"]
        elif (thin := thin_margin(p)):
            need[name] = [f"{fd_name}: pass by a thin margin ({thin}): a slip finer than they resolve would "
                          f"sit there"]
            thin_pass[name] = p.resolution
    # a FAIL of finite differences is confirmed where a stronger witness can: their bars rest on
    # a model of the loss's rounding, and a loss that is a staircase of its own rounding (log(1 - s)
    # at s = 1 - 1e-9) has fooled it once, reading a correct entry 5% off beside a bar of 2e-6
    # (not where they found kinks: their one-sided slopes and the joint test of several kinks are the
    # evidence there, which a witness that judges entry by entry cannot overrule)
    confirm = {n: p for n, p in out.items() if p.verdict == "FAIL" and not p.symbolic and not p.n_kinks}
    if not need and not confirm:
        return out
    index = {n: k for k, n in enumerate(ctx.params.names)}
    found: dict[str, ParamResult] = {}  # a FAIL awaiting confirmation by the next witness
    refuted: dict[str, ParamResult] = {}  # a FAIL of finite differences a witness read otherwise
    for w in witnesses:
        if not need and not confirm:
            break
        if fd_run.method == "complex" and w.name == "complex step":
            continue
        if w.name == "complex step in long double" and not any(
                "complex step: its FAIL not trusted" in t or "complex step: inconclusive" in t
                for t in need.values() for t in t):
            continue  # asked only where the float64 complex step ran and its bar fell short
        try:
            run = w.run(ctx)
        except WitnessUnavailable as exc:
            for trail in need.values():
                trail.append(f"{w.name}: n/a ({exc})")
            continue
        for name in list(confirm):
            k = index[name]
            if not w.kinks and (run.estimates[k].kink_mask().any() or fd_run.estimates[k].kink_mask().any()):
                continue
            p = build(name, run.estimates[k], w.name)
            held = confirm.pop(name)
            worst = held.mismatches[0] if held.mismatches else held.worst
            seen = _wrong_at(p, worst.index)
            if seen is None:
                confirm[name] = held  # this witness cannot tell: the next one may
                continue
            w_val = _at(run.estimates[k], p, worst.index)
            w_err = _at(run.estimates[k], p, worst.index, error=True)
            same = abs(w_val - worst.numeric) <= ctx.options.safety * (worst.error_estimate + w_err) + \
                AGREEMENT_ULPS * float(np.spacing(max(abs(w_val), abs(worst.numeric))))
            if same:
                # the witness reads what finite differences read there: their judgement stands, at their
                # tolerance (a witness whose value differs is asked on its own, below, and confirmed in turn)
                confirmed = f"its FAIL confirmed by {w.name} at {worst.index}"
                out[name] = dataclasses.replace(held, trail=(*held.trail, confirmed))
                continue
            # refuted: finite differences misread the entry; the parameter is settled as they could not
            # settle it, never by them (the witness's own FAIL, if any, confirmed like any other)
            refuted[name] = held
            need[name] = [f"{held.witness}: FAIL at {worst.index} refuted by {w.name}, which reads {w_val:.10g} "
                          f"there against their {worst.numeric:.10g} +- {worst.error_estimate:.2g} (a loss that is a "
                          f"staircase of its own rounding?)"]
        for name in list(need):
            k = index[name]
            fd_est, est = fd_run.estimates[k], run.estimates[k]
            fd_kinks = fd_est.kink_mask()
            if not w.kinks and fd_kinks.any():
                need[name].append(f"{w.name}: n/a (finite differences found {int(fd_kinks.sum())} kink(s), where "
                                  f"it has no one-sided view)")
                continue
            skip = fd_kinks | est.kink_mask()
            clash = None if name in refuted else _disagreement(fd_est, est, ctx.options.safety, skip)
            if clash:
                need[name].append(f"{w.name}: disagrees with finite differences: {clash}")
                continue
            p = build(name, est, w.name)
            if p.verdict == "FAIL" and (kinky := _maybe_kink(fd_est, p)):
                need[name].append(f"{w.name}: inconclusive ({kinky})")
                continue
            if p.verdict == "inconclusive":
                need[name].append(f"{w.name}: inconclusive ({p.inconclusive})")
                continue
            if p.verdict == "pass" and name in thin_pass and not p.resolution < thin_pass[name]:
                # a pass that resolves no finer than differences did adds nothing to theirs
                need[name].append(f"{w.name}: pass, resolution {p.resolution:.2g}, no finer")
                continue
            if p.verdict == "FAIL" and w.name == "complex step" and (doubt := _complex_in_long_double(ctx, p)):
                need[name].append(f"{w.name}: its FAIL not trusted ({doubt})")
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
        if name in refuted:  # no witness settled what finite differences were refuted on
            out[name] = dataclasses.replace(p, ok=False, n_mismatched=0, mismatches=(), diagnosis=None,
                                            inconclusive=f"witnesses disagree: {'; '.join(trail)}", trail=tuple(trail))
            continue
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


def _complex_in_long_double(ctx: Context, p: ParamResult) -> str | None:
    """Why a complex-step FAIL no other witness could check may be the loss's own rounding, or None.

    Complex step's bar sees the rounding of the imaginary parts only; a loss that is a small
    difference of large terms in its real parts carries that cancellation into the derivative at
    every step alike. The same step in extended precision (``np.clongdouble``, where the loss
    follows its input's dtype) shows it: at the wrong entries the two must agree far better than
    the analytic value is off. The wrong entries only: a few evaluations."""
    if np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps or not p.mismatches:
        return None
    ps, ev = ctx.params, ctx.evaluator
    k = len(p.derivative_shape) - len(p.shape)  # a Jacobian's index leads with the output's
    for e in p.mismatches[:3]:
        pidx, oidx = e.index[k:], e.index[:k]
        flat = int(np.ravel_multi_index(pidx, ps.arrays[p.name].shape)) if pidx else 0
        row = int(np.ravel_multi_index(oidx, p.derivative_shape[:k])) if oidx else 0
        arrays = {n: ps.arrays[n].astype(np.clongdouble) for n in ps.names}
        scale = max(abs(float(ps.arrays[p.name].reshape(-1)[flat])), ctx.options.typical_for(p.name))
        h = 1e-20 * scale
        arrays[p.name].reshape(-1)[flat] += np.clongdouble(1j) * np.longdouble(h)
        try:
            with np.errstate(all="ignore"):
                out = ev.fn(ps.pack(arrays))
        except Exception:  # a loss that cannot run in extended precision: no reading
            return None
        out = np.asarray(out)
        if out.dtype != np.clongdouble or out.size <= row:
            return None
        slope = float(np.imag(out.reshape(-1)[row]) / np.longdouble(h))
        if abs(slope - e.numeric) * 2 > abs(e.analytic - e.numeric):
            return (f"the same complex step in long double reads {slope:.12g} at {e.index} against "
                    f"{e.numeric:.12g}: the loss's own rounding moves it as much as the analytic value is off")
    return None


def _maybe_kink(fd: OracleEstimate, p: ParamResult) -> str | None:
    """Why a witness's FAIL may be no mistake: at its wrong entries finite differences could not
    exclude a kink as large as the discrepancy (a ReLU input at 0 behind a weight of 1e-9), where
    the analytic value may be the other one-sided slope while the witness reads one branch."""
    if fd.jump is None or p.arrays is None:
        return None
    a = p.arrays.analytic.reshape(fd.value.shape)
    w = p.arrays.numeric.reshape(fd.value.shape)
    bad = np.isin(p.arrays.status.reshape(fd.value.shape), (Status.MISMATCH, Status.KINK_MISMATCH))
    err = np.nan_to_num(fd.jump_error, nan=np.inf)
    room = np.abs(fd.jump) + err
    # only a jump that was measured (above its own bar), or a parameter with kinks found: on a smooth
    # loss the jump's bar is the differences' own coarseness, which a witness is asked to go beyond
    seen = (np.abs(fd.jump) > err) | fd.kink_mask().any()
    hidden = bad & seen & (np.abs(a - w) <= room)
    if not hidden.any():
        return None
    return (f"{int(hidden.sum())} of its wrong entries lie within a kink finite differences could not exclude "
            f"(one-sided slopes may differ by up to {float(room[hidden].max()):.2g} there)")


def _wrong_at(p: ParamResult, index: tuple[int, ...]) -> bool | None:
    """Whether the witness's judgement ``p`` finds the entry at ``index`` wrong (None: it cannot
    tell, being inconclusive there or having kept no arrays)."""
    if p.arrays is None:
        return None if p.verdict != "FAIL" else True
    st = Status(int(p.arrays.status[index]))
    if st in (Status.MISMATCH, Status.KINK_MISMATCH):
        return True
    if st == Status.UNRESOLVED or p.verdict == "inconclusive":
        return None
    return False


def _at(est: OracleEstimate, p: ParamResult, index: tuple[int, ...], error: bool = False) -> float:
    """The witness's value (or its bar) at a full derivative index."""
    flat = int(np.ravel_multi_index(index, p.derivative_shape)) if index else 0
    return float((est.error if error else est.value).reshape(-1)[flat])


def witness_counts(results: Mapping[str, ParamResult]) -> dict[str, int]:
    """How many parameters each witness settled (for notes and benchmarks)."""
    out: dict[str, int] = {}
    for p in results.values():
        if p.verdict != "inconclusive" and p.witness:
            out[p.witness] = out.get(p.witness, 0) + 1
    return out

