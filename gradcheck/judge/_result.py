"""Typed, immutable result objects. Reports and messages render these; they never recompute.

Arrays (analytic, numeric, per-entry tolerance ...) ride along for plots but are left
out of :meth:`GradCheckResult.to_dict` unless asked for, so JSON stays small.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from dataclasses import field as dataclass_field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from ..core._status import STATUS_NAMES

__all__ = ["Entry", "Tolerance", "EntryArrays", "ParamResult", "GradCheckResult", "Estimate", "STATUS_NAMES",
           "SCHEMA_VERSION", "json_float", "float_or_nan"]

SCHEMA_VERSION = 3
"""2: per-parameter ``verdict`` and ``inconclusive``, entry status ``unresolved``, arrays ``abs_errors``.
3: per-parameter ``witness`` (what settled the verdict) and ``trail`` (each witness asked, in order)."""

Verdict = Literal["pass", "FAIL", "inconclusive"]
VERDICT_ORDER = ("FAIL", "inconclusive", "pass")
"""Most severe first: a check's verdict is the most severe of its parameters'."""


def json_float(x: float | None) -> float | None:
    """JSON has no NaN/Inf; they become null (and :func:`float_or_nan` reads null back as NaN)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def float_or_nan(x: Any) -> float:
    return math.nan if x is None else float(x)


def _opt_float(x: Any) -> float | None:
    return None if x is None else float(x)


_num = json_float


@dataclass(frozen=True)
class Entry:
    """One entry of a derivative: where it is, both values, and the verdict there."""

    index: tuple[int, ...]
    analytic: float
    numeric: float
    abs_error: float
    rel_error: float
    tolerance: float
    error_estimate: float
    status: str
    left: float | None = None  # one-sided slopes, reported at kinks
    right: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": list(self.index),
            "analytic": _num(self.analytic),
            "numeric": _num(self.numeric),
            "abs_error": _num(self.abs_error),
            "rel_error": _num(self.rel_error),
            "tolerance": _num(self.tolerance),
            "error_estimate": _num(self.error_estimate),
            "status": self.status,
            "left": _num(self.left),
            "right": _num(self.right),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Entry:
        return cls(index=tuple(d["index"]), status=d["status"], left=_opt_float(d.get("left")),
                   right=_opt_float(d.get("right")),
                   **{k: float_or_nan(d[k]) for k in ("analytic", "numeric", "abs_error", "rel_error", "tolerance",
                                                      "error_estimate")})


@dataclass(frozen=True)
class Tolerance:
    """How the verdict was reached.

    ``mode="estimate"``: an entry mismatches when ``|analytic - numeric| > safety *
    error_estimate + rounding``, where ``rounding`` is the analytic derivative's own
    rounding as measured at the point (``rounding="measured"``, see
    :mod:`gradcheck.judge._rounding`: never below 64 ulps of the entry's scale nor above
    ``floor_rtol`` of it), or ``floor_rtol`` of the entry's scale where it could not be
    measured (``rounding`` then says why). An entry's scale is in the loss's units,
    ``max(|a_i|, |n_i|, L / t_i)`` (see :func:`gradcheck.judge._rounding.entry_scale`), and
     (with ``kinks=True`` and no kink found) ``safety * error_estimate`` is raised to
    half the measured slope jump plus half its error bar if that is larger: a kink too
    small to detect cannot be excluded, and its one-sided slopes are valid too. The
    per-entry ``tolerances`` include it.
    ``mode="fixed"``: when ``|analytic - numeric| > atol + rtol * |numeric|``.
    """

    mode: Literal["estimate", "fixed"]
    safety: float | None
    floor_rtol: float | None
    rtol: float | None
    atol: float | None
    eps: float
    max: float
    median: float
    rounding: str | None = None

    def describe(self) -> str:
        if self.mode == "fixed":
            return f"fixed atol={self.atol:g}, rtol={self.rtol:g}"
        if self.rounding == "measured":
            return (f"{self.safety:g} x per-entry error estimate + the gradient's measured rounding "
                    f"(at most {self.floor_rtol:.2g} x the entry's scale)")
        if self.rounding is None:  # a check that never measures (second order): its row's largest entry
            return f"{self.safety:g} x per-entry error estimate + {self.floor_rtol:.2g} x scale"
        return (f"{self.safety:g} x per-entry error estimate + {self.floor_rtol:.2g} x the entry's scale "
                f"(rounding not measured: {self.rounding})")

    def to_dict(self) -> dict[str, Any]:
        return {k: (_num(v) if isinstance(v, float) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Tolerance:
        """Field by field, so that dicts written with fewer or more fields still load."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class EntryArrays:
    """Per-entry arrays of one parameter's check, in the derivative's shape (for plots and
    heat maps). A large check may leave them out and keep only its summary and named entries."""

    analytic: np.ndarray
    numeric: np.ndarray
    error_estimate: np.ndarray
    tolerances: np.ndarray
    abs_errors: np.ndarray  # as judged: at kinks, the distance to the interval of one-sided slopes
    status: np.ndarray  # Status codes

    FLOAT_FIELDS = ("analytic", "numeric", "error_estimate", "tolerances", "abs_errors")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {k: np.where(np.isfinite(getattr(self, k)), getattr(self, k), np.nan).tolist()
                             for k in self.FLOAT_FIELDS}
        d["status"] = np.asarray(self.status).tolist()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], shape: tuple[int, ...]) -> EntryArrays | None:
        if any(k not in d for k in ("analytic", "numeric", "tolerances", "status")):
            return None
        def arr(k: str, dtype: Any = float) -> np.ndarray:
            return np.asarray(d[k], dtype=dtype).reshape(shape)

        analytic, numeric, tol = arr("analytic"), arr("numeric"), arr("tolerances")
        abs_errors = arr("abs_errors") if "abs_errors" in d else np.abs(analytic - numeric)
        error = arr("error_estimate") if "error_estimate" in d else np.full(shape, np.nan)
        return cls(analytic, numeric, error, tol, abs_errors, arr("status", int))


@dataclass(frozen=True)
class ParamResult:
    """The verdict for one parameter (for a Jacobian: all output entries w.r.t. this parameter)."""

    name: str
    shape: tuple[int, ...]
    derivative_shape: tuple[int, ...]
    dtype: str
    ok: bool
    n_checked: int
    n_mismatched: int
    n_kinks: int
    n_refined: int
    max_abs_error: float
    max_rel_error: float
    resolution: float
    worst: Entry
    mismatches: tuple[Entry, ...]
    kinks: tuple[Entry, ...]
    tolerance: Tolerance
    step: float
    diagnosis: str | None = None
    note: str = ""
    inconclusive: str | None = None  # why no verdict could be reached, with what would reach one
    symbolic: str | None = None  # the symbolic witness: "pass", "FAIL: ...", "n/a: ..." (None: not asked)
    witness: str | None = None  # what the verdict's numbers come from: "finite differences (richardson)", ...
    trail: tuple[str, ...] = ()  # the witnesses asked before it (or in vain), each with its outcome
    arrays: EntryArrays | None = dataclass_field(default=None, repr=False, compare=False)

    @property
    def verdict(self) -> Verdict:
        """``FAIL`` on evidence of a mistake; ``inconclusive`` where the check could not
        resolve what it was asked (``inconclusive`` says why); else ``pass``."""
        if self.n_mismatched or (self.symbolic or "").startswith("FAIL"):
            return "FAIL"
        return "inconclusive" if self.inconclusive else "pass"

    @property
    def failed(self) -> bool:
        return self.verdict == "FAIL"

    # The per-entry arrays, or None where the check kept only its summary.
    @property
    def analytic(self) -> np.ndarray | None:
        return None if self.arrays is None else self.arrays.analytic

    @property
    def numeric(self) -> np.ndarray | None:
        return None if self.arrays is None else self.arrays.numeric

    @property
    def error_estimate(self) -> np.ndarray | None:
        return None if self.arrays is None else self.arrays.error_estimate

    @property
    def tolerances(self) -> np.ndarray | None:
        return None if self.arrays is None else self.arrays.tolerances

    @property
    def abs_errors(self) -> np.ndarray | None:
        return None if self.arrays is None else self.arrays.abs_errors

    @property
    def status(self) -> np.ndarray | None:
        return None if self.arrays is None else self.arrays.status

    def to_dict(self, arrays: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "shape": list(self.shape),
            "derivative_shape": list(self.derivative_shape),
            "dtype": self.dtype,
            "ok": self.ok,
            "n_checked": self.n_checked,
            "n_mismatched": self.n_mismatched,
            "n_kinks": self.n_kinks,
            "n_refined": self.n_refined,
            "max_abs_error": _num(self.max_abs_error),
            "max_rel_error": _num(self.max_rel_error),
            "resolution": _num(self.resolution),
            "step": _num(self.step),
            "worst": self.worst.to_dict(),
            "mismatches": [e.to_dict() for e in self.mismatches],
            "kinks": [e.to_dict() for e in self.kinks],
            "tolerance": self.tolerance.to_dict(),
            "diagnosis": self.diagnosis,
            "note": self.note,
            "verdict": self.verdict,
            "inconclusive": self.inconclusive,
            "symbolic": self.symbolic,
            "witness": self.witness,
            "trail": list(self.trail),
        }
        if arrays and self.arrays is not None:
            d.update(self.arrays.to_dict())
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ParamResult:
        """The result ``to_dict`` was made from (arrays included where present)."""
        full = tuple(d["derivative_shape"])
        return cls(
            name=d["name"], shape=tuple(d["shape"]), derivative_shape=full, dtype=d["dtype"], ok=d["ok"],
            n_checked=d["n_checked"], n_mismatched=d["n_mismatched"], n_kinks=d["n_kinks"],
            n_refined=d["n_refined"], max_abs_error=float_or_nan(d["max_abs_error"]),
            max_rel_error=float_or_nan(d["max_rel_error"]),
            resolution=math.inf if d["resolution"] is None else float(d["resolution"]),
            worst=Entry.from_dict(d["worst"]), mismatches=tuple(Entry.from_dict(e) for e in d["mismatches"]),
            kinks=tuple(Entry.from_dict(e) for e in d["kinks"]), tolerance=Tolerance.from_dict(d["tolerance"]),
            step=float_or_nan(d["step"]), diagnosis=d.get("diagnosis"), note=d.get("note", ""),
            inconclusive=d.get("inconclusive"), symbolic=d.get("symbolic"), witness=d.get("witness"),
            trail=tuple(d.get("trail", ())), arrays=EntryArrays.from_dict(d, full),
        )

    def describe(self, max_entries: int = 5) -> str:
        """Human-readable lines for this parameter: the verdict, the errors, the resolution."""
        head = f"parameter {self.name!r} {self.shape}"
        errors = (f"max abs err {self.max_abs_error:.3g}, max rel err {self.max_rel_error:.3g}, "
                  f"resolution {self.resolution:.2g}")
        kinks = f", {self.n_kinks} at kinks (valid one-sided slopes)" if self.n_kinks else ""
        witness = f"\n  symbolic: {self.symbolic}" if self.symbolic else ""
        # a verdict settled past the first witness says by which, and what was asked before it
        first = (self.witness or "").startswith("finite differences")
        by = f" by {self.witness}" if self.witness and self.trail and not first else ""
        before = "".join(f"\n  {'' if t.startswith('its FAIL') else 'asked first: '}{t}"
                         for t in self.trail) if self.trail and self.verdict != "inconclusive" else ""
        if self.verdict == "pass":
            return f"{head}: ok{by}, {self.n_checked} entries, {errors}{kinks}{before}{witness}"
        if not self.n_mismatched and self.symbolic and self.symbolic.startswith("FAIL"):
            return f"{head}: wrong by the exact derivative, {self.n_checked} entries, {errors}{kinks}{witness}"
        if self.verdict == "inconclusive":
            return (f"{head}: INCONCLUSIVE, {self.n_checked} entries, {errors}{kinks}\n  why: {self.inconclusive}"
                    f"{witness}")
        lines = [
            f"{head}: {self.n_mismatched} of {self.n_checked} entries mismatch{by}"
            + (f", {self.n_kinks} at kinks" if self.n_kinks else "") + f"; {errors}{before}"
        ]
        if self.diagnosis:
            lines.append(f"  looks like: {self.diagnosis}")
        if self.symbolic:
            lines.append(f"  symbolic: {self.symbolic}")
        lines.append(f"  {'index':<14}{'analytic':>16}{'numeric':>16}{'abs err':>11}{'rel err':>11}{'tolerance':>11}")
        for e in self.mismatches[:max_entries]:
            extra = f"  kink: one-sided slopes {e.left:.6g} / {e.right:.6g}" if e.status == "kink_mismatch" else ""
            lines.append(
                f"  {str(e.index):<14}{e.analytic:>16.8g}{e.numeric:>16.8g}{e.abs_error:>11.3g}"
                f"{e.rel_error:>11.3g}{e.tolerance:>11.3g}{extra}"
            )
        if self.n_mismatched > max_entries:
            lines.append(f"  ... and {self.n_mismatched - max_entries} more")
        return "\n".join(lines)


@dataclass(frozen=True)
class GradCheckResult:
    """Outcome of :func:`~gradcheck.check_grad` or :func:`~gradcheck.check_jacobian`.

    ``ok`` is the verdict; ``params`` maps each parameter name to its :class:`ParamResult`.
    ``bool(result)`` is deliberately not defined: write ``result.ok``.
    """

    ok: bool
    kind: Literal["grad", "jacobian"]
    function: str
    method: str
    params: Mapping[str, ParamResult]
    n_evaluations: int
    value: Any  # loss value (float) or function output shape for jacobians
    out_shape: tuple[int, ...]
    layout: str
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def __bool__(self) -> bool:
        raise TypeError("a GradCheckResult has no truth value: use result.ok (or gradcheck.assert_grad to raise)")

    @property
    def verdict(self) -> Verdict:
        """``FAIL`` if any parameter failed, else ``inconclusive`` if any was, else ``pass``."""
        return min((p.verdict for p in self.params.values()), key=VERDICT_ORDER.index, default="pass")

    @property
    def failed(self) -> bool:
        """Evidence of a mistake (an inconclusive check is neither ok nor failed)."""
        return self.verdict == "FAIL"

    @property
    def failures(self) -> list[ParamResult]:
        return [p for p in self.params.values() if p.failed]

    @property
    def inconclusive(self) -> list[ParamResult]:
        return [p for p in self.params.values() if p.verdict == "inconclusive"]

    @property
    def tolerance(self) -> Tolerance:
        return next(iter(self.params.values())).tolerance

    def summary(self, max_entries: int = 5) -> str:
        what = "check_grad" if self.kind == "grad" else "check_jacobian"
        bad, unsure, n = self.failures, self.inconclusive, len(self.params)
        of = f"of {n} parameter{'s' if n != 1 else ''}"
        if bad:
            verdict = f"{len(bad)} {of} wrong" + (f", {len(unsure)} inconclusive" if unsure else "")
        elif unsure:
            verdict = f"INCONCLUSIVE ({len(unsure)} {of} could not be resolved)"
        else:
            verdict = "ok"
        head = (
            f"{what} of {self.function}: {verdict} "
            f"(method={self.method}, {self.n_evaluations} evaluations; tolerance: {self.tolerance.describe()})"
        )
        body = [p.describe(max_entries) for p in self.params.values()]
        return "\n".join([head, *body, *(f"note: {n}" for n in self.notes)])

    __str__ = summary

    def to_dict(self, arrays: bool = False) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "ok": self.ok,
            "verdict": self.verdict,
            "kind": self.kind,
            "function": self.function,
            "method": self.method,
            "n_evaluations": self.n_evaluations,
            "value": _num(self.value) if isinstance(self.value, (int, float)) else None,
            "out_shape": list(self.out_shape),
            "layout": self.layout,
            "notes": list(self.notes),
            "params": {k: v.to_dict(arrays) for k, v in self.params.items()},
        }

    def to_json(self, arrays: bool = False, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(arrays), **kwargs)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GradCheckResult:
        """The result ``to_dict`` was made from (arrays included where present)."""
        return cls(
            ok=d["ok"], kind=d["kind"], function=d["function"], method=d["method"],
            params={k: ParamResult.from_dict(v) for k, v in d["params"].items()}, n_evaluations=d["n_evaluations"],
            value=d.get("value"), out_shape=tuple(d["out_shape"]), layout=d["layout"],
            notes=tuple(d.get("notes", ())),
        )


@dataclass(frozen=True)
class Estimate:
    """A numerical derivative with its per-entry error estimate.

    ``value``, ``error`` and ``kink`` have the structure of the parameters (one array, or a
    dict of arrays); for a Jacobian each array has shape ``out.shape + param.shape``.
    ``left``/``right`` hold the one-sided slopes (NaN where the scheme has none).
    """

    value: Any
    error: Any
    kink: Any
    left: Any
    right: Any
    method: str
    n_evaluations: int
    step: Any
