"""A directional gradient check for 1e5-1e7 parameters: a few directions, then group testing.

The per-entry check spends ~6 loss evaluations per entry. Here the analytic directional
derivative ``g . w`` is compared with the loss's derivative along a few directions ``w = s o u``
(``s_i = max(|x_i|, typical)``, the per-entry check's step scale), each with its own error
bar (see :mod:`gradcheck.checks.directional._line`). The directions are

* ``directions`` Rademacher sign vectors over all entries. With signs, a single wrong entry
  moves ``g . w`` by exactly ``|e_i s_i|`` in *every* direction: no entry can hide behind a
  small ``u_i``, and an analytic gradient that is zero but for a few entries is as visible
  as any other mistake. For any error vector ``e``, one direction misses it (``|sum e_i s_i
  u_i| < tau``) with probability at most 1/2 whenever ``max |e_i s_i| >= tau`` (flip the
  largest entry's sign: at most one of the two sums is small), so K directions miss it
  with probability at most ``2^-K``.
* one per parameter (the first sign vector restricted to it): a parameter with small
  derivatives gets bars of its own size, not those of the largest parameter.
* the analytic gradient itself, ``w = s o s o g``: every term of ``g . w`` is positive, the
  best case for a factor or sign mistake; blind where g is zero, which the others are not.

When a direction disagrees, the disagreement is traced by group testing: the direction is
restricted to each parameter, then halves, quarters ... of the disagreeing ranges, at
about 2 k log2(N) probes for k wrong entries (k log2(N) under complex step, which is linear
in the direction: each right half is its parent minus its left half), and the entries
reached are checked one by one. Where a direction crosses a kink at x (a ReLU input at 0),
the entries that move units at their kink are found the same way, on the slope jump, checked
one by one and left out of the directions (see docs/large-models.md). When the disagreeing ranges multiply
past ``4 max_named`` (a factor of 2, a transpose:
the error is everywhere), splitting stops and a random sample of those ranges is checked
entry by entry, with the transposed partner of each sampled entry of a square matrix, and
the mistake is diagnosed from the sample. Memory is O(N): no N x N anything.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

import numpy as np

from ...core._errors import InvalidArgumentError, LossRaisedError
from ...core._evaluator import ComplexUnsupported, Evaluator
from ...core._options import check_options, resolution_for
from ...core._parallel import serializer
from ...core._params import ParamSet
from ...core._progress import Progress
from ...judge._compare import DEFAULT_SAFETY, floor_rtol
from ...judge._result import SCHEMA_VERSION, Entry, Verdict
from ...judge._result import json_float as _num
from ...oracles import _fd
from .. import _cost
from ._entries import EntryJob, EntryOutcome, check_entries, diagnose_sample, ensure_picklable, judge_line
from ._line import KINK, SMOOTH, UNCLEAN, Line, LineEstimate, taylor

__all__ = ["DIRECTIONAL_METHODS", "DirectionCheck", "DirectionalOptions", "run_directional", "DirectionalResult",
           "check_grad_directional"]

DIRECTIONAL_METHODS = ("richardson", "central", "complex", "auto")

ANALYTIC_ULPS = 64.0
"""A directional tolerance's floor is ``ANALYTIC_ULPS x eps x ||g o w||_2``: each analytic
entry taken accurate to a few ulps, their errors adding with random signs (the dot product's
own rounding is smaller). At 1e6 entries that is 1e-11 of a median entry's size x sqrt(N), far
under the 1e-6 asked for; the analytic formula's larger rounding (saturated sigmoids) is
left to the entry-by-entry check, whose floor is relative to each entry."""


MAX_GROUPS_PER_NAMED = 4
"""Group testing stops splitting when more than ``MAX_GROUPS_PER_NAMED x max_named``
ranges (at least 16) disagree at once: the error is then spread, and a sample says more
than 2 x that many probes per level would."""


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class DirectionCheck:
    """The comparison along one direction."""

    label: str  # "random 3", "parameter 'W1'", "gradient", or a group "W1[0:512]" in localization
    analytic: float  # g . w
    numeric: float
    error_estimate: float
    tolerance: float
    ratio: float  # |analytic - numeric| / tolerance (distance to the one-sided slopes at a kink)
    agrees: bool
    state: str  # "smooth", "kink" (one-sided slopes differ at x) or "unclean" (bars widened)
    scheme: str
    step: float
    left: float | None = None
    right: float | None = None
    taylor: str | None = None  # the Taylor test's verdict where the bars were unsure

    def describe(self) -> str:
        diff = abs(self.analytic - self.numeric)
        kink = (
            f", kink: one-sided slopes {self.left:.10g} / {self.right:.10g}"
            if self.state == "kink" and self.left is not None
            else ""
        )
        extra = f", Taylor test: {self.taylor}" if self.taylor else ""
        return (
            f"{self.label}: analytic {self.analytic:.10g}, numeric {self.numeric:.10g}, |diff| {diff:.3g}, "
            f"tolerance {self.tolerance:.3g} ({'agrees' if self.agrees else 'DISAGREES'}, "
            f"{self.scheme}{kink}{extra})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: (_num(v) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class DirectionalResult:
    """Outcome of :func:`check_grad_directional`. ``bool(result)`` is not defined: read ``result.ok``.

    ``mismatches`` maps a parameter name to its wrong entries (as :class:`~gradcheck.Entry`,
    at most ``max_named`` each, worst first); ``n_mismatched`` counts all found. ``resolution``
    is the smallest relative error (to its parameter's largest ``|g_i s_i|``) in any single
    entry that every direction covering it was certain to flag; ``miss_rtol``/``miss_probability``:
    an error whose largest entry is at least ``miss_rtol x max |g_i s_i|`` goes unseen by all
    random directions with probability at most ``miss_probability``.
    """

    ok: bool
    verdict: Verdict
    function: str
    method: str
    shapes: Mapping[str, tuple[int, ...]]
    n_entries: int
    n_evaluations: int
    elapsed_s: float
    value: float
    directions: tuple[DirectionCheck, ...]
    mismatches: Mapping[str, tuple[Entry, ...]]
    n_mismatched: Mapping[str, int]
    diagnosis: Mapping[str, str]
    n_group_tests: int
    n_localized: int  # entries reached by group testing and checked one by one
    n_sampled: int  # entries checked one by one from spread-out disagreements
    n_subset: int  # entries of the requested random subset checked (per_entry=)
    n_kinks: int  # entries checked one by one that sit at a kink (valid one-sided slopes)
    resolution: float
    miss_rtol: float
    miss_probability: float
    target: float | None  # None: the caller accepted whatever resolution the check reached
    tolerance: str
    reason: str
    notes: tuple[str, ...] = ()
    n_at_kinks: int = 0  # entries moving units at a kink: set apart from the directions, checked one by one
    n_checked: Mapping[str, int] = field(default_factory=dict)  # entries checked one by one, per parameter
    resolution_by_param: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("shapes", "mismatches", "n_mismatched", "diagnosis", "resolution_by_param", "n_checked"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    def __bool__(self) -> bool:
        raise TypeError("a DirectionalResult has no truth value: use result.ok (or result.verdict)")

    def summary(self, max_entries: int = 5) -> str:
        n_dir = len(self.directions)
        agree = sum(d.agrees for d in self.directions)
        head = (
            f"check_grad_directional of {self.function}: {self.verdict} (method={self.method}, {n_dir} directions, "
            f"{self.n_entries:,} entries, {self.n_evaluations:,} evaluations, {self.elapsed_s:.2f} s; "
            f"tolerance: {self.tolerance})"
        )
        lines = [head, f"directions: {agree} of {n_dir} agree"]
        worst = max(self.directions, key=lambda d: d.ratio)
        lines.append(f"  worst {worst.describe()}")
        checked = []
        if self.n_group_tests:
            checked.append(
                f"{self.n_group_tests} group tests, {self.n_localized} "
                f"entr{'y' if self.n_localized == 1 else 'ies'} localised"
            )
        if self.n_sampled:
            checked.append(f"{self.n_sampled} entries sampled")
        if self.n_at_kinks:
            checked.append(f"{self.n_at_kinks} entries at kinks set apart")
        if self.n_subset:
            checked.append(f"{self.n_subset} entries of a random subset")
        if checked:
            lines.append(
                "checked one by one: "
                + ", ".join(checked)
                + (f" ({self.n_kinks} at kinks, valid one-sided slopes)" if self.n_kinks else "")
            )
        for name, entries in self.mismatches.items():
            count = self.n_mismatched.get(name, len(entries))
            seen = self.n_checked.get(name, count)
            lines.append(
                f"parameter {name!r} {self.shapes[name]}: {count} of {seen} entr{'y' if seen == 1 else 'ies'} "
                f"checked one by one {'is' if count == 1 else 'are'} wrong"
            )
            if name in self.diagnosis:
                lines.append(f"  looks like: {self.diagnosis[name]}")
            lines.append(
                f"  {'index':<14}{'analytic':>18}{'numeric':>18}{'abs err':>11}{'rel err':>11}{'tolerance':>11}"
            )
            for e in entries[:max_entries]:
                lines.append(
                    f"  {e.index!s:<14}{e.analytic:>18.10g}{e.numeric:>18.10g}{e.abs_error:>11.3g}"
                    f"{e.rel_error:>11.3g}{e.tolerance:>11.3g}"
                )
            if count > min(len(entries), max_entries):
                lines.append(f"  ... and {count - min(len(entries), max_entries)} more")
        for name, text in self.diagnosis.items():
            if name not in self.mismatches:
                lines.append(f"parameter {name!r}: {text}")
        k = sum(d.label.startswith("random") for d in self.directions)
        lines.append(
            f"resolution: a single entry off by a relative {self.resolution:.2g} (of its parameter's largest |g_i "
            "s_i|) "
            f"is flagged by every direction; an error whose largest entry is >= {self.miss_rtol:.2g} x max |g_i s_i| "
            f"would be missed with probability <= {self.miss_probability:.2g} (2^-{k})"
        )
        if self.reason:
            lines.append(f"{'why' if self.verdict != 'pass' else 'note'}: {self.reason}")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    __str__ = summary

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "directional",
            "ok": self.ok,
            "verdict": self.verdict,
            "function": self.function,
            "method": self.method,
            "shapes": {k: list(v) for k, v in self.shapes.items()},
            "n_entries": self.n_entries,
            "n_evaluations": self.n_evaluations,
            "elapsed_s": _num(self.elapsed_s),
            "value": _num(self.value),
            "directions": [d.to_dict() for d in self.directions],
            "mismatches": {k: [e.to_dict() for e in v] for k, v in self.mismatches.items()},
            "n_mismatched": dict(self.n_mismatched),
            "n_checked": dict(self.n_checked),
            "diagnosis": dict(self.diagnosis),
            "n_group_tests": self.n_group_tests,
            "n_localized": self.n_localized,
            "n_sampled": self.n_sampled,
            "n_subset": self.n_subset,
            "n_kinks": self.n_kinks,
            "n_at_kinks": self.n_at_kinks,
            "resolution": _num(self.resolution),
            "resolution_by_param": {k: _num(v) for k, v in self.resolution_by_param.items()},
            "miss_rtol": _num(self.miss_rtol),
            "miss_probability": _num(self.miss_probability),
            "target": _num(self.target),
            "tolerance": self.tolerance,
            "reason": self.reason,
            "notes": list(self.notes),
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)


# --------------------------------------------------------------------------- options
@dataclass(frozen=True)
class DirectionalOptions:
    """What one directional check was asked to do (see :func:`check_grad_directional`), built
    by :meth:`validated` with the rules every entry point shares
    (:func:`gradcheck.core._options.check_option`), so a bad ``safety`` reads the same here as
    in ``check_grad``. ``target`` is ``check_grad``'s ``resolution``: None accepts whatever
    resolution the directions reach."""

    directions: int = 8
    method: str = "richardson"
    seed: int = 0
    localize: bool = True
    max_named: int = 5
    typical: float | Mapping[str, float] = 1.0
    safety: float = DEFAULT_SAFETY
    target: float | str | None = "auto"
    sample: int = 32
    per_entry: int | None = None
    workers: Any = None  # None, an int (local processes) or a concurrent.futures.Executor
    budget_s: float | None = None
    progress: bool | None = None

    @classmethod
    def validated(cls, **given: Any) -> DirectionalOptions:
        """Options from keyword arguments, each checked; ``method`` also among :data:`DIRECTIONAL_METHODS`."""
        opts = cls(**given)
        check_options(**{f.name: getattr(opts, f.name) for f in fields(opts)})
        if opts.method not in DIRECTIONAL_METHODS:
            raise InvalidArgumentError(
                f"method={opts.method!r}: a directional check takes one of {', '.join(map(repr, DIRECTIONAL_METHODS))}"
            )
        return opts


def _analytic(grad: Callable[[Any], Any], ps: ParamSet, name: str) -> dict[str, np.ndarray]:
    value = ps.call_on_copies(grad, name)
    return ps.unpack_derivative(value, what="gradient", fn_name=name, out_shape=None)


def _scales(ps: ParamSet, typical: float | Mapping[str, float]) -> np.ndarray:
    if isinstance(typical, Mapping):
        unknown = set(typical) - set(ps.names)
        if unknown:
            raise InvalidArgumentError(f"typical has key(s) {sorted(unknown)} that are not parameters {ps.names}")
    parts = []
    for n in ps.names:
        t = float(typical.get(n, 1.0)) if isinstance(typical, Mapping) else float(typical)
        parts.append(np.maximum(np.abs(ps.arrays[n].astype(np.float64).ravel()), t))
    return np.concatenate(parts)


def _signs(seed: int, k: int, n: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 0x5DEECE66D, k])
    return rng.integers(0, 2, size=n, dtype=np.int8).astype(np.float64) * 2.0 - 1.0


# --------------------------------------------------------------------------- the engine
class _Check:
    """State of one directional check: the probes, the group tests, the entries checked."""

    def __init__(
        self,
        line: Line,
        g: np.ndarray,
        s: np.ndarray,
        offsets: list[tuple[str, int, int]],
        *,
        method: str,
        safety: float,
        job: EntryJob,
        workers: Any,
        budget_s: float | None,
        progress: Progress,
    ) -> None:
        self.line, self.g, self.s, self.offsets = line, g, s, offsets
        self.shapes = {name: line.ev.params.arrays[name].shape for name, _, _ in offsets}
        self.method, self.safety, self.job = method, safety, job
        self.workers, self.budget_s, self.progress = workers, budget_s, progress
        self.group_tests = 0
        self.remote_evaluations = 0
        self.kink_branch: bool | None = None  # under auto: was a complex-step disagreement a kink's?
        self.notes: list[str] = []

    def floor(self, w: np.ndarray) -> float:
        gw = self.g * w
        return ANALYTIC_ULPS * self.line.eps * float(np.sqrt(np.dot(gw, gw)))

    def probe(self, w: np.ndarray, label: str, *, confirm: bool = True) -> DirectionCheck:
        """Compare along ``w``; under ``auto`` a complex-step disagreement is re-examined by richardson for a kink."""
        first = "complex" if self.method == "auto" else self.method
        est = self.line.estimate(w, f"direction {label}", method=first)
        judged = judge_line(est, self.floor(w), self.safety, self.line.eps)
        if not judged.agrees and self.method == "auto" and confirm and self.kink_branch is None:
            # Complex step takes one branch at a kink: richardson re-examines the first disagreement.
            # If it was a kink's, the entries at the kink are set apart and every direction is
            # probed again without them; if not, the others are the same wrong entries seen again.
            fd = self.line.estimate(w, f"direction {label} at a possible kink", method="richardson", polish=False)
            jf = judge_line(fd, self.floor(w), self.safety, self.line.eps)
            self.kink_branch = fd.state == KINK and jf.agrees
            if self.kink_branch:
                est, judged = fd, jf
        verdict = None
        agrees = judged.agrees
        if est.state == UNCLEAN:
            # The stencil never converged cleanly: its widened bars are unsure; ask the Taylor test.
            tt = taylor(self.line, w, est.analytic)
            verdict = tt.verdict + (f" (|error| ~ {tt.error:.3g})" if tt.verdict == "first order" else "")
            if tt.verdict == "first order":
                agrees = False
        return _direction(label, est, judged, agrees, verdict)

    def restricted(self, w: np.ndarray, a: int, b: int) -> np.ndarray:
        out = np.zeros_like(w)
        out[a:b] = w[a:b]
        return out

    def group_label(self, a: int, b: int) -> str:
        for name, lo, hi in self.offsets:
            if lo <= a < hi:
                return f"{name}[{a - lo}:{b - lo}]" if (a, b) != (lo, hi) else f"parameter {name!r}"
        return f"[{a}:{b}]"

    def localize(
        self, w: np.ndarray, max_groups: int, whole: DirectionCheck | None = None
    ) -> tuple[list[int], list[tuple[int, int]] | None, bool]:
        """Group testing along ``w`` (whose own comparison is ``whole``). Returns (entries reached,
        ranges still disagreeing when the error proved spread out, or None, whether a disagreement
        vanished at a kink on splitting)."""
        n = w.size
        roots = [(a, b) for _, a, b in self.offsets] if len(self.offsets) > 1 else [(0, n)]
        active: list[tuple[int, int, DirectionCheck | None]] = []
        tested = [(a, b, self._test(w, a, b)) for a, b in roots] if len(roots) > 1 else [(0, n, whole)]
        active = [t for t in tested if t[2] is None or not t[2].agrees]
        kink_vanished = False
        if not active:
            active = [max(tested, key=lambda t: t[2].ratio)]  # type: ignore[union-attr]
        leaves: list[int] = []
        while active:
            nxt: list[tuple[int, int, DirectionCheck | None]] = []
            for a, b, parent in active:
                if b - a == 1:
                    leaves.append(a)
                    continue
                mid = (a + b) // 2
                left = self._test(w, a, mid)
                if parent is not None and parent.scheme.startswith("complex") and left.scheme == "complex":
                    right = self._inferred(parent, left, self.restricted(w, mid, b), self.group_label(mid, b))
                else:
                    right = self._test(w, mid, b)
                kids = [(a, mid, left), (mid, b, right)]
                bad = [k for k in kids if not k[2].agrees]
                if not bad:
                    if parent is not None and parent.state == "kink":
                        kink_vanished = True  # one-sided slopes of a sum of kinks do not bound each part
                        continue
                    best = max(kids, key=lambda k: k[2].ratio)
                    if best[2].ratio > 0.1:
                        bad = [best]
                nxt.extend(bad)
            if len(nxt) > max_groups:
                return leaves, [(a, b) for a, b, _ in nxt], kink_vanished
            active = nxt
            self.progress.update(len(leaves), max(len(leaves) + len(active), 1), "group testing")
        return leaves, None, kink_vanished

    def kink_ranges(self, w: np.ndarray, tau: float, max_groups: int) -> list[tuple[int, int]]:
        """The entries whose moves along ``w`` cross the kink at x: group testing on the slope jump.

        A restricted direction keeps a kink (a clean jump, or a stencil spoiled by one) only if
        it moves a unit sitting at its kink. Stops at ``max_groups`` ranges, returned whole.
        """

        def kinked(a: int, b: int) -> bool:
            self.group_tests += 1
            est = self.line._level(self.restricted(w, a, b), tau, "finding the entries at a kink", "richardson")
            return est.state != "smooth"

        roots = [(a, b) for _, a, b in self.offsets]
        active = [r for r in roots if kinked(*r)] if len(roots) > 1 else roots
        found: list[tuple[int, int]] = []
        while active:
            nxt = []
            for a, b in active:
                if b - a == 1:
                    found.append((a, b))
                    continue
                mid = (a + b) // 2
                nxt.extend(r for r in ((a, mid), (mid, b)) if kinked(*r))
            if len(nxt) + len(found) > max_groups:
                return found + nxt
            active = nxt
        return found

    def _inferred(
        self, parent: DirectionCheck, left: DirectionCheck, w_right: np.ndarray, label: str
    ) -> DirectionCheck:
        """The right half's comparison without evaluating it: complex step is linear in the direction
        to rounding, so D(right) = D(parent) - D(left), with the two error bars added."""
        nan = math.nan
        est = LineEstimate(
            value=parent.numeric - left.numeric,
            error=parent.error_estimate + left.error_estimate,
            analytic=parent.analytic - left.analytic,
            left=nan,
            right=nan,
            side_error=nan,
            jump=nan,
            jump_error=nan,
            state=SMOOTH,
            step=parent.step,
            scheme="complex (inferred)",
        )
        judged = judge_line(est, self.floor(w_right), self.safety, self.line.eps)
        return _direction(label, est, judged, judged.agrees, None)

    def _test(self, w: np.ndarray, a: int, b: int) -> DirectionCheck:
        self.group_tests += 1
        return self.probe(self.restricted(w, a, b), self.group_label(a, b), confirm=False)

    def entries(self, flats: list[int], label: str) -> list[EntryOutcome]:
        out, spent = check_entries(
            self.line,
            self.job,
            flats,
            self.g,
            self.s,
            workers=self.workers,
            budget_s=self.budget_s,
            progress=self.progress,
            label=label,
        )
        self.remote_evaluations += spent
        return out


def _direction(label: str, est: LineEstimate, judged: Any, agrees: bool, taylor_verdict: str | None) -> DirectionCheck:
    kink = est.state == KINK
    return DirectionCheck(
        label=label,
        analytic=est.analytic,
        numeric=est.value,
        error_estimate=est.error,
        tolerance=judged.tolerance,
        ratio=judged.ratio,
        agrees=agrees,
        state=est.state,
        scheme=est.scheme,
        step=est.step,
        left=est.left if kink else None,
        right=est.right if kink else None,
        taylor=taylor_verdict,
    )


PROBE_PARAMS = 6
"""Where the full probe direction sits at a kink, the largest parameters are probed one at a time."""


def _complex_disagrees(line: Line, w0: np.ndarray, check_floor: float, safety: float) -> str | None:
    """None if complex step agrees with richardson along ``w0``, else why not.

    At a kink (a ReLU input at 0) richardson's one-sided slopes need not bound the complex
    step's branch when several kinks add up, so the comparison is made along ``w0``
    restricted to single parameters instead, on those whose line is smooth.
    """
    candidates = [w0]
    sizes = sorted(line.offsets, key=lambda o: o[1] - o[2])[:PROBE_PARAMS] if len(line.offsets) > 1 else []
    for _, a, b in sizes:
        part = np.zeros_like(w0)
        part[a:b] = w0[a:b]
        candidates.append(part)
    judged = 0
    for w in candidates:
        fd = line.differences(w, "complex-step probe", "richardson", polish=False)
        if fd.state != "smooth":
            continue
        zc = line.complex_step(w, "complex-step probe")
        gw = line.g * w
        bar = safety * (fd.error + zc.error) + check_floor * float(np.linalg.norm(gw)) / max(
            float(np.linalg.norm(line.g * w0)), 1e-300
        )
        if abs(zc.value - fd.value) > bar:
            return (
                f"the complex-step derivative along a random direction ({zc.value:.10g}) disagrees with "
                f"richardson's ({fd.value:.10g} +- {fd.error:.2g}): the loss is not complex-analytic (abs, "
                f"np.maximum, comparisons on complex values, .real or conj?)"
            )
        judged += 1
        if w is w0 or judged == 2:  # the whole line, or two parameters' lines, vouch for every path
            break
    if not judged:
        return "every probe direction sits at a kink, where complex step cannot be compared with differences"
    return None


def _resolve_method(
    line: Line, ev: Evaluator, method: str, w0: np.ndarray, check_floor: float, safety: float, notes: list[str]
) -> str:
    """'auto' and 'complex' need a complex-analytic loss: probed along the first direction."""
    if method not in ("complex", "auto"):
        return method
    reason = None
    try:
        ev.probe_complex()
    except ComplexUnsupported as exc:
        reason = str(exc)
    if reason is None:
        try:
            line.complex_step(w0, "complex-step probe")
        except LossRaisedError as exc:
            reason = str(exc)
    if reason is None:
        reason = _complex_disagrees(line, w0, check_floor, safety)
    if reason is None:
        line.calibrate_complex(w0)
        return "auto" if method == "auto" else "complex"
    if method == "complex":
        raise InvalidArgumentError(f"method='complex' cannot be used with {ev.fn_name}: {reason}")
    notes.append(f"method='auto' fell back to 'richardson': {reason}")
    return "richardson"


def _entry(
    o: EntryOutcome, offsets: list[tuple[str, int, int]], shapes: Mapping[str, tuple[int, ...]]
) -> tuple[str, Entry]:
    for name, a, b in offsets:
        if a <= o.flat < b:
            shape = shapes[name]
            index = tuple(int(i) for i in np.unravel_index(o.flat - a, shape)) if shape else ()
            denom = max(abs(o.analytic), abs(o.numeric), o.tolerance)
            status = ("kink" if o.ok else "kink_mismatch") if o.state == KINK else ("ok" if o.ok else "mismatch")
            at = o.state == KINK
            return name, Entry(
                index=index,
                analytic=o.analytic,
                numeric=o.numeric,
                abs_error=o.abs_error,
                rel_error=o.abs_error / denom if denom > 0 else 0.0,
                tolerance=o.tolerance,
                error_estimate=o.error,
                status=status,
                left=o.left if at else None,
                right=o.right if at else None,
            )
    raise AssertionError(o.flat)


def _sample(
    rng: np.random.Generator,
    ranges: list[tuple[int, int]],
    count: int,
    offsets: list[tuple[str, int, int]],
    shapes: Mapping[str, tuple[int, ...]],
    suspect_params: set[str],
) -> list[int]:
    """About ``count`` entries, shared between the parameters with disagreeing ranges or directions
    (drawn from those ranges, else from the whole parameter), each with its transposed partner
    in a square matrix: a diagnosis per parameter needs entries of every parameter."""
    per_param: dict[str, list[tuple[int, int]]] = {}
    for name, lo, hi in offsets:
        own = [(a, b) for a, b in ranges if lo <= a < hi]
        if own or name in suspect_params:
            per_param[name] = own or [(lo, hi)]
    picks = set()
    share = max(2, math.ceil(count / max(len(per_param), 1)))
    for rs in per_param.values():
        sizes = np.array([b - a for a, b in rs], dtype=float)
        for r in rng.choice(len(rs), size=min(share, int(sizes.sum())), p=sizes / sizes.sum()):
            a, b = rs[int(r)]
            picks.add(int(rng.integers(a, b)))
    out = set(picks)
    for flat in picks:
        for name, a, b in offsets:
            shape = shapes[name]
            if a <= flat < b and len(shape) == 2 and shape[0] == shape[1]:
                i, j = divmod(flat - a, shape[1])
                out.add(a + j * shape[1] + i)
    return sorted(out)


# --------------------------------------------------------------------------- public API
def check_grad_directional(
    loss: Callable[[Any], Any],
    grad: Callable[[Any], Any],
    params: Any,
    *,
    directions: int = 8,
    method: str = "richardson",
    seed: int = 0,
    localize: bool = True,
    max_named: int = 5,
    typical: float | Mapping[str, float] = 1.0,
    safety: float = DEFAULT_SAFETY,
    target: float | str | None = "auto",
    sample: int = 32,
    per_entry: int | None = None,
    workers: int | cf.Executor | None = None,
    budget_s: float | None = None,
    progress: bool | None = None,
    name: str | None = None,
) -> DirectionalResult:
    """Check a hand-derived gradient along a few directions; trace disagreements to named entries.

    Parameters
    ----------
    loss, grad, params:
        As in :func:`~gradcheck.check_grad`.
    directions:
        Random sign directions over all entries (default 8: a spread-out error is missed with
        probability <= 2^-8); one direction per parameter and the gradient's own are added.
    method:
        ``"richardson"`` (default; kinks handled), ``"central"`` (cheaper, no kink handling),
        ``"complex"`` (complex step, exact to rounding, needs a complex-analytic loss) or
        ``"auto"`` (complex step where a probe shows it works, a disagreement re-examined by
        richardson for a kink; else richardson).
    seed:
        Seed of the random directions and samples.
    localize:
        Trace disagreements to entries by group testing (default True). False only reports
        which directions disagree.
    max_named:
        Wrong entries kept per parameter in the result.
    typical:
        Step floor for entries near zero, per parameter or for all: ``s_i = max(|x_i|, typical)``.
    safety:
        Multiplier on every error estimate (default 10).
    target:
        The relative error the verdict must resolve, in (0, 1]; ``"auto"`` (default) 1e-6, or 100
        ulps of a lower precision (1.2e-5 in float32); coarser bars make it ``inconclusive``. None
        accepts whatever resolution the directions reach (as
        ``check_grad``'s ``resolution=None``): the directions and their bars do not depend on
        it, only whether a coarse result may pass.
    sample:
        Entries checked one by one when the error is spread out (plus transposed partners).
    per_entry:
        Also check this many random entries one by one (none by default), within ``budget_s``.
    workers:
        Spread entry-by-entry checks over processes: an int (a local process pool) or any
        ``concurrent.futures.Executor``. The loss must be picklable.
    budget_s:
        Stop entry-by-entry checks after this many seconds; the result says how many were checked.
    progress:
        A bar on stderr for checks over ~2 s: None (on a terminal, not in CI), True or False.
    name:
        Name of the loss in messages.
    """
    opts = DirectionalOptions.validated(
        directions=directions, method=method, seed=seed, localize=localize, max_named=max_named, typical=typical,
        safety=safety, target=target, sample=sample, per_entry=per_entry, workers=workers, budget_s=budget_s,
        progress=progress,
    )
    return run_directional(loss, grad, params, opts, name)


def run_directional(
    loss: Callable[[Any], Any], grad: Callable[[Any], Any], params: Any, opts: DirectionalOptions, name: str | None
) -> DirectionalResult:
    """:func:`check_grad_directional` once its options are validated (``check_grad`` enters here)."""
    t_start = time.perf_counter()
    directions, method, seed, typical, safety, target = (
        opts.directions, opts.method, opts.seed, opts.typical, opts.safety, opts.target
    )
    workers, budget_s, progress = opts.workers, opts.budget_s, opts.progress
    ps = ParamSet(params, single_name="params")
    fn_name = name or getattr(loss, "__qualname__", None) or type(loss).__name__
    if workers is not None:
        ensure_picklable(loss, fn_name, serializer(workers))  # Dask and Ray ship cloudpickle: lambdas travel
    ev = Evaluator(loss, ps, scalar=True, fn_name=fn_name)
    f0, spread = ev.base()
    n_entries = sum(ps.sizes)
    pred = _cost.predict(n_entries, len(ps.names), method, ev.eval_s, workers, directions)
    _cost.announce(f"check_grad_directional of {fn_name}", pred.directional_s,
                   f"{directions + len(ps.names) + 1} directions over {n_entries:,} entries, one evaluation "
                   f"{_cost.describe_s(ev.eval_s)}", "fewer directions= (a weaker promise), or workers= for the "
                   "entries checked one by one")
    grad_name = getattr(grad, "__qualname__", None) or type(grad).__name__
    analytic = _analytic(grad, ps, grad_name)
    notes = [f"{n}: {ps.infos[n].note}" for n in ps.names if ps.infos[n].note]
    # "auto" follows the parameters' precision; a number is honoured as given, finer or coarser
    # than the precision allows (a target out of reach ends inconclusive, saying so)
    target = resolution_for(target, ps.eps)
    offsets, start = [], 0
    for n in ps.names:
        offsets.append((n, start, start + ps.arrays[n].size))
        start += ps.arrays[n].size
    x = np.concatenate([ps.arrays[n].astype(np.float64).ravel() for n in ps.names])
    g = np.concatenate([analytic[n].astype(np.float64).ravel() for n in ps.names])
    s = _scales(ps, typical)
    n_total = x.size

    sigma, flat = _fd.measure_noise(ev, f0, [s[a:b] for _, a, b in offsets], notes)
    noise = float(_fd.NOISE_SIGMAS * sigma[0] + spread)
    if flat[0]:
        noise = max(noise, _fd.NOISE_SIGMAS * ps.eps * max(abs(float(f0[0])), 1.0))
        notes.append(
            f"{fn_name} did not change at all along the noise probe: its resolution was taken as eps x max(|f|, 1)"
        )
    elif noise > float(_fd.ulps(f0[0], ps.eps)):
        notes.append(
            f"{fn_name} values carry rounding noise of {noise:.2g} at |f| = {abs(float(f0[0])):.2g}: "
            f"error estimates use the measured noise"
        )
    line = Line(ev, x, g, float(f0[0]), noise, method="richardson", safety=safety, offsets=offsets)
    w0 = s * _signs(seed, 0, n_total)
    used = _resolve_method(line, ev, method, w0, ANALYTIC_ULPS * ps.eps * float(np.linalg.norm(g * w0)), safety, notes)
    line.method = "complex" if used in ("complex", "auto") else used
    job = EntryJob(
        loss=loss,
        params=ps.pack(ps.copies()),
        fn_name=fn_name,
        method=used,
        noise=noise,
        safety=safety,
        calibrated=line.calibrated,
    )
    bar = Progress(enabled=progress)
    chk = _Check(
        line, g, s, offsets, method=used, safety=safety, job=job, workers=workers, budget_s=budget_s, progress=bar
    )
    plan = _Plan(directions, seed, opts.localize, opts.max_named, target, opts.sample, opts.per_entry)
    try:
        return _finish(chk, ps, plan, f0, fn_name, notes, t_start)
    finally:
        bar.close()


@dataclass(frozen=True)
class _Plan:
    """What the caller asked of the stages after the setup."""

    n_dirs: int
    seed: int
    localize: bool
    max_named: int
    target: float | None  # None: whatever resolution the directions reach is accepted
    sample: int
    per_entry: int | None

    @property
    def max_groups(self) -> int:
        return max(16, MAX_GROUPS_PER_NAMED * self.max_named)


class _Directions:
    """The labels of the directions and their vectors, rebuilt when needed rather than stored
    (15 of them at 1e7 entries would be 1.2 GB); ``keep`` masks entries set apart at kinks."""

    def __init__(self, chk: _Check, plan: _Plan) -> None:
        self.s, self.g, self.offsets, self.seed = chk.s, chk.g, chk.offsets, plan.seed
        self.top = float(np.max(np.abs(self.s * self.g)))
        self.keep: np.ndarray | None = None
        self.labels = [f"random {k}" for k in range(plan.n_dirs)]
        if len(self.offsets) > 1:
            self.labels += [f"parameter {name!r}" for name, _, _ in self.offsets]
        if self.top > 0:
            self.labels.append("gradient")

    def vector(self, label: str) -> np.ndarray:
        n_total, s = self.g.size, self.s
        if label.startswith("random"):
            w = s * _signs(self.seed, int(label.split()[1]), n_total)
        elif label == "gradient":
            w = s * s * self.g / self.top  # |w_i| <= s_i, like the sign directions
        else:
            name = label.split("'")[1]
            a, b = next((lo, hi) for n, lo, hi in self.offsets if n == name)
            w = np.zeros(n_total)
            w[a:b] = s[a:b] * _signs(self.seed, 0, n_total)[a:b]
        return w if self.keep is None else w * self.keep


@dataclass
class _Tally:
    """What the stages found: entries checked one by one, counts, and what the verdict must say."""

    rng: np.random.Generator
    notes: list[str]
    outcomes: dict[int, EntryOutcome] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: {"localized": 0, "sampled": 0, "subset": 0, "kink": 0})
    caveats: list[str] = field(default_factory=list)  # what leaves entries unchecked: a pass becomes inconclusive
    reason_bits: list[str] = field(default_factory=list)
    kink_vanished: bool = False

    def add(self, outcomes: list[EntryOutcome]) -> None:
        for o in outcomes:
            self.outcomes[o.flat] = o


def _probe_all(chk: _Check, dirs: _Directions, *, show: bool = True) -> list[DirectionCheck]:
    checks = []
    for k, label in enumerate(dirs.labels):
        w = dirs.vector(label)
        if dirs.keep is not None and not np.any(w):
            continue  # a direction whose entries were all set apart has nothing left to see
        checks.append(chk.probe(w, label))
        if show:
            chk.progress.update(k + 1, len(dirs.labels), "directions")
    return checks


def _set_kinks_apart(
    chk: _Check, dirs: _Directions, checks: list[DirectionCheck], plan: _Plan, tally: _Tally
) -> list[DirectionCheck]:
    """Units at their kink make every direction through them a kink, whose one-sided slopes
    bound the sum of subgradients only when all such terms share a sign. The entries that
    move them are set apart, checked one by one, and the directions judged again without them."""
    kinked = [c for c in checks if c.state == KINK]
    if not kinked:
        return checks
    first = kinked[0]
    ranges = chk.kink_ranges(dirs.vector(first.label), first.step, plan.max_groups)
    flats = [i for a, b in ranges for i in range(a, b)]
    cap = 4 * max(plan.sample, 1)
    if len(flats) > cap:
        flats = sorted(int(i) for i in tally.rng.choice(flats, size=cap, replace=False))
        tally.caveats.append(
            f"{sum(b - a for a, b in ranges):,} entries move units sitting at a kink and were left "
            f"out of the directions; only {len(flats)} of them were checked one by one"
        )
    tally.add(chk.entries(flats, "entries at kinks"))
    tally.counts["kink"] = len(flats)
    keep = np.ones(chk.g.size, dtype=bool)
    for a, b in ranges:
        keep[a:b] = False
    dirs.keep = keep
    tally.notes.append(
        f"{len(kinked)} directions crossed a kink at x; {len(flats)} entries that move units at "
        f"their kink were set apart, checked one by one, and left out of the directions"
    )
    return _probe_all(chk, dirs, show=False)


def _trace(chk: _Check, dirs: _Directions, checks: list[DirectionCheck], plan: _Plan, tally: _Tally) -> None:
    """Group testing from the worst disagreeing direction (random ones first) to entries checked
    one by one; where the disagreement is spread out, a sample of its ranges instead."""
    unexplained = [c for c in checks if not c.agrees]
    if not unexplained or not plan.localize:
        return
    randoms = [c for c in unexplained if c.label.startswith("random")] or unexplained
    worst = max(randoms, key=lambda c: c.ratio)
    leaves, spread, tally.kink_vanished = chk.localize(dirs.vector(worst.label), plan.max_groups, worst)
    tally.add(chk.entries(leaves, "entries localised"))
    tally.counts["localized"] = len(leaves)
    if spread is not None:
        offsets, shapes = chk.offsets, chk.shapes
        suspects = {
            name for name, _, _ in offsets if any(c.label == f"parameter {name!r}" and not c.agrees for c in checks)
        }
        picked = [f for f in _sample(tally.rng, spread, plan.sample, offsets, shapes, suspects)
                  if f not in tally.outcomes]
        tally.add(chk.entries(picked, "sampled entries"))
        tally.counts["sampled"] = len(picked)
        tally.reason_bits.append(
            f"the disagreement of {worst.label} spread over more than {plan.max_groups} ranges: "
            f"splitting stopped and {len(picked)} entries were sampled from them"
        )
    if tally.kink_vanished:
        tally.notes.append(
            f"{worst.label} sits at a kink along it, and its disagreement vanished on splitting: the "
            f"one-sided slopes of a sum of kinks need not bound a sum of subgradients"
        )


def _random_subset(chk: _Check, plan: _Plan, tally: _Tally) -> None:
    """``per_entry`` random entries not checked yet, one by one, within ``budget_s``."""
    if not plan.per_entry:
        return
    done = np.fromiter(tally.outcomes, dtype=np.int64, count=len(tally.outcomes))
    pool = np.setdiff1d(np.arange(chk.g.size), done)
    picked = tally.rng.choice(pool, size=min(plan.per_entry, pool.size), replace=False) if pool.size else []
    got = chk.entries([int(i) for i in np.sort(picked)], "random entries")
    tally.add(got)
    tally.counts["subset"] = len(got)
    if len(got) < len(picked):
        tally.notes.append(f"budget_s ran out after {len(got)} of {len(picked)} requested random entries")


def _diagnoses(chk: _Check, tally: _Tally) -> dict[str, str]:
    """A diagnosis per parameter, from a sample only: a few localised entries say nothing of a pattern."""
    if not tally.counts["sampled"]:
        return {}
    shapes = chk.shapes
    found = {name: diagnose_sample(list(tally.outcomes.values()), shapes[name], a, b - a)
             for name, a, b in chk.offsets}
    return {name: text for name, text in found.items() if text}


def _conclude(
    checks: list[DirectionCheck],
    mismatches: Mapping[str, Any],
    plan: _Plan,
    tally: _Tally,
    resolution: float,
    res_by: Mapping[str, float],
) -> tuple[Verdict, str]:
    verdict, reason = _verdict(checks, mismatches, plan, tally, resolution, res_by)
    if verdict == "pass" and tally.caveats:
        return "inconclusive", "; ".join(tally.caveats)
    kinks = sum(o.state == KINK for o in tally.outcomes.values())
    if verdict == "pass" and kinks:
        at = f"{kinks} entries checked one by one sit at kinks (valid one-sided slopes)"
        reason = f"{reason}; {at}" if reason else at
    return verdict, reason


def _finish(
    chk: _Check, ps: ParamSet, plan: _Plan, f0: np.ndarray, fn_name: str, notes: list[str], t_start: float
) -> DirectionalResult:
    """Probe every direction, set kink entries apart, trace disagreements, check the random subset, conclude."""
    dirs = _Directions(chk, plan)
    tally = _Tally(rng=np.random.default_rng([plan.seed, 0x53414D50]), notes=notes)
    checks = _probe_all(chk, dirs)
    checks = _set_kinks_apart(chk, dirs, checks, plan, tally)
    _trace(chk, dirs, checks, plan, tally)
    _random_subset(chk, plan, tally)
    offsets, shapes = chk.offsets, chk.shapes
    mismatches, n_bad = _named(tally.outcomes, offsets, shapes, plan.max_named)
    res_by, resolution, miss_rtol = _resolution(checks, chk.g, chk.s, offsets, plan.n_dirs)
    verdict, reason = _conclude(checks, mismatches, plan, tally, resolution, res_by)
    tally.notes.extend(_unpromised(chk.g, chk.s, offsets, res_by, plan.target))
    return DirectionalResult(
        ok=verdict == "pass",
        verdict=verdict,
        function=fn_name,
        method=chk.method,
        shapes=shapes,
        n_entries=chk.g.size,
        n_evaluations=chk.line.ev.n_evaluations + chk.remote_evaluations,
        elapsed_s=time.perf_counter() - t_start,
        value=float(f0[0]),
        directions=tuple(checks),
        mismatches=mismatches,
        n_mismatched=n_bad,
        diagnosis=_diagnoses(chk, tally),
        n_group_tests=chk.group_tests,
        n_localized=tally.counts["localized"],
        n_sampled=tally.counts["sampled"],
        n_subset=tally.counts["subset"],
        n_kinks=sum(o.state == KINK for o in tally.outcomes.values()),
        n_at_kinks=tally.counts["kink"],
        resolution=resolution,
        miss_rtol=miss_rtol,
        miss_probability=2.0**-plan.n_dirs,
        target=plan.target,
        tolerance=f"{chk.safety:g} x error estimate + {ANALYTIC_ULPS:g} eps ||g o w||_2 per direction; "
        f"per entry + {floor_rtol(ps.eps):.2g} x the entry",
        reason=reason,
        notes=tuple(tally.notes + chk.notes),
        resolution_by_param=res_by,
        n_checked={
            name: sum(a <= f < b for f in tally.outcomes)
            for name, a, b in offsets
            if any(a <= f < b for f in tally.outcomes)
        },
    )


def _named(
    outcomes: dict[int, EntryOutcome],
    offsets: list[tuple[str, int, int]],
    shapes: Mapping[str, tuple[int, ...]],
    max_named: int,
) -> tuple[dict[str, tuple[Entry, ...]], dict[str, int]]:
    per: dict[str, list[tuple[float, Entry]]] = {}
    for o in outcomes.values():
        if not o.ok:
            name, e = _entry(o, offsets, shapes)
            per.setdefault(name, []).append((o.abs_error / o.tolerance if o.tolerance > 0 else math.inf, e))
    mism = {n: tuple(e for _, e in sorted(v, key=lambda t: -t[0])[:max_named]) for n, v in per.items()}
    return mism, {n: len(v) for n, v in per.items()}


def _effective_tol(c: DirectionCheck) -> float:
    """What an error must exceed to be seen along ``c``: its tolerance, plus the kink's interval."""
    width = abs(c.right - c.left) if c.state == "kink" and c.left is not None and c.right is not None else 0.0
    return c.tolerance + width


def _unpromised(g: np.ndarray, s: np.ndarray, offsets: list[tuple[str, int, int]], res_by: Mapping[str, float],
                target: float | None) -> list[str]:
    """Per parameter, the entries whose own value the directions cannot promise to ``target``.

    A parameter's resolution is relative to its largest ``|g_i s_i|``: an entry whose term is a
    thousandth of that is resolved to a thousand times less of its own value. The per-entry check
    promises every entry; here the result says which entries are not promised, and why."""
    if target is None:
        return []
    out = []
    gs = np.abs(g * s)
    for name, a, b in offsets:
        top, res = float(gs[a:b].max(initial=0.0)), res_by.get(name, math.inf)
        if top == 0 or not math.isfinite(res):
            continue
        own = gs[a:b]
        weak = (own > 0) & (res * top > target * own)
        k = int(weak.sum())
        if k:
            out.append(f"{name}: {k} of {b - a} entries ({100 * k / (b - a):.2g}%) are not promised {target:g} of "
                       f"their own value: their |g_i s_i| is below {res / target:.2g} of the largest (resolution "
                       f"{res:.2g} of it); a relative error of {target:g} there may pass (mode='entries' checks each)")
    return out


def _resolution(
    checks: list[DirectionCheck], g: np.ndarray, s: np.ndarray, offsets: list[tuple[str, int, int]], n_dirs: int
) -> tuple[dict[str, float], float, float]:
    randoms = [_effective_tol(c) for c in checks if c.label.startswith("random")] or [math.inf]
    by_label = {c.label: c for c in checks}
    gs = np.abs(g * s)
    top = float(gs.max()) if gs.size else 0.0
    res_by: dict[str, float] = {}
    for name, a, b in offsets:
        scale = float(gs[a:b].max())
        own = by_label.get(f"parameter {name!r}")
        tol = min(randoms + ([_effective_tol(own)] if own else []))
        res_by[name] = tol / scale if scale > 0 else math.inf
    miss = max(randoms) / top if top > 0 else math.inf
    return res_by, max(res_by.values()), miss


def _verdict(
    checks: list[DirectionCheck],
    mismatches: Mapping[str, Any],
    plan: _Plan,
    tally: _Tally,
    resolution: float,
    res_by: Mapping[str, float],
) -> tuple[Verdict, str]:
    """The verdict before caveats. With ``plan.target`` None a coarse (or infinite: a zero
    gradient) resolution passes, as ``resolution=None`` does entry by entry; a direction that
    disagrees still fails or is inconclusive, whatever the target."""
    outcomes, localize, target = tally.outcomes, plan.localize, plan.target
    bits, kink_vanished = tally.reason_bits, tally.kink_vanished
    bad = [c for c in checks if not c.agrees]
    if mismatches:
        count = sum(1 for o in outcomes.values() if not o.ok)
        what = "1 entry checked one by one disagrees" if count == 1 else f"{count} entries checked one by one disagree"
        return "FAIL", "; ".join([f"{what} with the loss", *bits])
    if bad:
        reached_kinks = any(o.state == KINK for o in outcomes.values())
        if localize and (kink_vanished or reached_kinks) and not bits:
            pass  # the disagreement is a kink's: the entries it leads to are valid one-sided slopes
        else:
            where = ", ".join(c.label for c in bad[:4])
            why = (
                "localization was off"
                if not localize
                else "group testing traced it to no entry that disagrees when checked alone"
            )
            return "inconclusive", "; ".join([f"{len(bad)} direction(s) disagree ({where}) but {why}", *bits])
    if target is not None and (not math.isfinite(resolution) or resolution > target):
        worst = max(res_by, key=lambda k: res_by[k])
        zero = not math.isfinite(res_by[worst])
        detail = (
            "its analytic gradient is zero here, so no relative error can be stated (dead units, a flat region?)"
            if zero
            else f"the bars resolve only a relative {res_by[worst]:.2g}"
        )
        return "inconclusive", f"cannot resolve the requested {target:g} in parameter {worst!r}: {detail}"
    if bad:
        return (
            "pass",
            f"{len(bad)} direction(s) disagreed at a kink; the entries they lead to are valid one-sided slopes",
        )
    return "pass", ""
