"""Typed, immutable results of the second-order checks; they render themselves.

A Hessian is checked block by block: block ``(a, b)`` holds ``d^2 loss / da db`` with shape
``a.shape + b.shape`` and each entry's index is ``a_index + b_index``. Arrays ride along
for plots and are left out of ``to_dict`` unless asked for. May import gradcheck's ``_result``
only: the results know nothing of how they were judged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from ...judge._result import Entry, GradCheckResult, Tolerance
from ...judge._result import json_float as _num

__all__ = ["STATUSES", "BlockResult", "HVPCheckResult", "HessianCheckResult", "VectorResult"]

STATUSES = ("ok", "mismatch", "kink", "kink_mismatch", "inconclusive", "gradient_wrong", "jacobian_wrong",
            "out_hessian_wrong")
"""Overall statuses: ``ok``; ``mismatch`` (some entry wrong); ``inconclusive`` (no entry wrong
but some could not be resolved, so there is no evidence for ``ok``); ``gradient_wrong`` /
``jacobian_wrong`` (the first-order part given to build the reference is itself wrong, so
the second-order claim was not judged); ``out_hessian_wrong`` (check_gauss_newton: the residual
Jacobian passed, but ``out_hessian`` is not the Hessian of ``out_loss``, so G was not judged).
Per entry, the labels of :class:`gradcheck.core._status.Status` as for gradients: ``ok``,
``mismatch``, ``kink`` (the second derivative does not exist there: the one-sided first
derivatives differ), ``unresolved`` (no evidence either way)."""


def _entry_line(e: Entry) -> str:
    return (
        f"  {e.index!s:<18}{e.analytic:>16.8g}{e.numeric:>16.8g}{e.abs_error:>11.3g}"
        f"{e.rel_error:>11.3g}{e.tolerance:>11.3g}"
    )


_HEADER = f"  {'index':<18}{'claimed':>16}{'numeric':>16}{'abs err':>11}{'rel err':>11}{'tolerance':>11}"


@dataclass(frozen=True)
class BlockResult:
    """The verdict on one block ``(rows, cols)`` of a second-derivative matrix."""

    rows: str
    cols: str
    shape: tuple[int, ...]
    ok: bool
    n_checked: int
    n_mismatched: int
    n_kinks: int
    n_inconclusive: int
    max_abs_error: float
    max_rel_error: float
    resolution: float
    worst: Entry
    mismatches: tuple[Entry, ...]
    kinks: tuple[Entry, ...]
    asymmetry: float
    diagnosis: str | None = None
    analytic: np.ndarray = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    numeric: np.ndarray = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    error_estimate: np.ndarray = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    tolerances: np.ndarray = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    @property
    def key(self) -> tuple[str, str]:
        return (self.rows, self.cols)

    def to_dict(self, arrays: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "rows": self.rows,
            "cols": self.cols,
            "shape": list(self.shape),
            "ok": self.ok,
            "n_checked": self.n_checked,
            "n_mismatched": self.n_mismatched,
            "n_kinks": self.n_kinks,
            "n_inconclusive": self.n_inconclusive,
            "max_abs_error": _num(self.max_abs_error),
            "max_rel_error": _num(self.max_rel_error),
            "resolution": _num(self.resolution),
            "worst": self.worst.to_dict(),
            "mismatches": [e.to_dict() for e in self.mismatches],
            "kinks": [e.to_dict() for e in self.kinks],
            "asymmetry": _num(self.asymmetry),
            "diagnosis": self.diagnosis,
        }
        if arrays:
            for k in ("analytic", "numeric", "error_estimate", "tolerances"):
                d[k] = np.where(np.isfinite(getattr(self, k)), getattr(self, k), np.nan).tolist()
        return d

    def describe(self, max_entries: int = 5) -> str:
        head = f"block ({self.rows!r}, {self.cols!r}) {self.shape}"
        extra = (f", {self.n_kinks} at kinks (no second derivative there)" if self.n_kinks else "") + (
            f", {self.n_inconclusive} unresolved" if self.n_inconclusive else ""
        )
        if self.ok and not self.n_inconclusive:
            return (
                f"{head}: ok, {self.n_checked} entries, max abs err {self.max_abs_error:.3g}, "
                f"max rel err {self.max_rel_error:.3g}{extra}"
            )
        lines = [
            (
                f"{head}: {self.n_mismatched} of {self.n_checked} entries mismatch{extra}; "
                f"max abs err {self.max_abs_error:.3g}, max rel err {self.max_rel_error:.3g}"
            )
        ]
        if self.diagnosis:
            lines.append(f"  looks like: {self.diagnosis}")
        if self.mismatches:
            lines.append(_HEADER)
            lines += [_entry_line(e) for e in self.mismatches[:max_entries]]
            if self.n_mismatched > max_entries:
                lines.append(f"  ... and {self.n_mismatched - max_entries} more")
        return "\n".join(lines)


def _tolerance_text(t: Tolerance | None) -> str:
    return t.describe() if t is not None else "not judged"


@dataclass(frozen=True)
class HessianCheckResult:
    """Outcome of :func:`~gradcheck.check_hessian` or :func:`~gradcheck.check_gauss_newton`.

    ``blocks`` maps ``(a, b)`` to a :class:`BlockResult`; ``diagnosis`` holds what the whole
    claimed matrix looks like ("not symmetrized", "the Gauss-Newton matrix", "missing 1/2");
    ``asymmetry`` is ``max |C - C^T| / max |C|`` of the claimed matrix ``C``; ``first_order``
    is the check of the gradient (or residual Jacobian) the reference was built from.
    """

    ok: bool
    status: str
    kind: str  # "hessian" or "gauss_newton"
    function: str
    method: str
    blocks: Mapping[tuple[str, str], BlockResult]
    n_evaluations: int
    asymmetry: float
    tolerance: Tolerance | None
    diagnosis: tuple[str, ...] = ()
    first_order: GradCheckResult | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", MappingProxyType(dict(self.blocks)))

    def __bool__(self) -> bool:
        raise TypeError("a HessianCheckResult has no truth value: use result.ok (or gradcheck.assert_hessian to raise)")

    @property
    def failures(self) -> list[BlockResult]:
        return [b for b in self.blocks.values() if not b.ok]

    def summary(self, max_entries: int = 5) -> str:
        what = "check_hessian" if self.kind == "hessian" else "check_gauss_newton"
        if self.status == "out_hessian_wrong":  # the Jacobian passed: its summary would only mislead
            head = (f"{what} of {self.function}: not judged: the out_hessian it is built on is wrong "
                    f"(the residual Jacobian passed)")
            return "\n".join([head, *(f"note: {n}" for n in self.notes)])
        if self.status in ("gradient_wrong", "jacobian_wrong"):
            part = "gradient" if self.status == "gradient_wrong" else "residual Jacobian"
            head = f"{what} of {self.function}: not judged: the {part} it is built on is wrong"
            body = [self.first_order.summary(max_entries)] if self.first_order is not None else []
            return "\n".join([head, *body, *(f"note: {n}" for n in self.notes)])
        bad = self.failures
        n = len(self.blocks)
        verdict = {"ok": "ok", "inconclusive": "inconclusive (some entries could not be resolved)"}.get(
            self.status, f"{len(bad)} of {n} block{'s' if n != 1 else ''} wrong"
        )
        head = (
            f"{what} of {self.function}: {verdict} ({self.method}, {self.n_evaluations} evaluations; "
            f"tolerance: {_tolerance_text(self.tolerance)}; asymmetry of the claim {self.asymmetry:.3g})"
        )
        lines = [head]
        lines += [f"looks like: {d}" for d in self.diagnosis]
        lines += [b.describe(max_entries) for b in self.blocks.values()]
        lines += [f"note: {x}" for x in self.notes]
        return "\n".join(lines)

    __str__ = summary

    def to_dict(self, arrays: bool = False) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "status": self.status,
            "kind": self.kind,
            "function": self.function,
            "method": self.method,
            "n_evaluations": self.n_evaluations,
            "asymmetry": _num(self.asymmetry),
            "tolerance": self.tolerance.to_dict() if self.tolerance is not None else None,
            "diagnosis": list(self.diagnosis),
            "notes": list(self.notes),
            "first_order": self.first_order.to_dict() if self.first_order is not None else None,
            "blocks": [b.to_dict(arrays) for b in self.blocks.values()],
        }

    def to_json(self, arrays: bool = False, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(arrays), **kwargs)


@dataclass(frozen=True)
class VectorResult:
    """``hvp(params, v)`` against the directional derivative of the gradient along ``v``."""

    label: str  # how v was drawn ("gaussian", "upper-triangular", ...)
    ok: bool
    n_checked: int
    n_mismatched: int
    n_kinks: int
    max_abs_error: float
    max_rel_error: float
    worst: Entry
    mismatches: tuple[tuple[str, Entry], ...]  # (parameter, entry)
    diagnosis: str | None = None
    vector: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "ok": self.ok,
            "n_checked": self.n_checked,
            "n_mismatched": self.n_mismatched,
            "n_kinks": self.n_kinks,
            "max_abs_error": _num(self.max_abs_error),
            "max_rel_error": _num(self.max_rel_error),
            "worst": self.worst.to_dict(),
            "mismatches": [{"param": p, **e.to_dict()} for p, e in self.mismatches],
            "diagnosis": self.diagnosis,
        }

    def describe(self, max_entries: int = 5) -> str:
        head = f"v = {self.label}"
        kinks = f", {self.n_kinks} at kinks (no second derivative there)" if self.n_kinks else ""
        if self.ok:
            return (
                f"{head}: ok, {self.n_checked} entries, max abs err {self.max_abs_error:.3g}, "
                f"max rel err {self.max_rel_error:.3g}{kinks}"
            )
        lines = [
            (
                f"{head}: {self.n_mismatched} of {self.n_checked} entries of Hv mismatch{kinks}; "
                f"max abs err {self.max_abs_error:.3g}, max rel err {self.max_rel_error:.3g}"
            )
        ]
        if self.diagnosis:
            lines.append(f"  looks like: {self.diagnosis}")
        lines.append(_HEADER)
        for p, e in self.mismatches[:max_entries]:
            lines.append(_entry_line(Entry(**{**e.__dict__, "index": (p, *e.index)})))  # type: ignore[arg-type]
        if self.n_mismatched > max_entries:
            lines.append(f"  ... and {self.n_mismatched - max_entries} more")
        return "\n".join(lines)


@dataclass(frozen=True)
class HVPCheckResult:
    """Outcome of :func:`~gradcheck.check_hvp`: one :class:`VectorResult` per drawn vector."""

    ok: bool
    status: str
    function: str
    method: str
    vectors: tuple[VectorResult, ...]
    n_evaluations: int
    tolerance: Tolerance | None
    diagnosis: tuple[str, ...] = ()
    first_order: GradCheckResult | None = None
    notes: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        raise TypeError("an HVPCheckResult has no truth value: use result.ok (or gradcheck.assert_hvp to raise)")

    def summary(self, max_entries: int = 5) -> str:
        if self.status == "gradient_wrong":
            head = f"check_hvp of {self.function}: not judged: the gradient it is built on is wrong"
            body = [self.first_order.summary(max_entries)] if self.first_order is not None else []
            return "\n".join([head, *body, *(f"note: {n}" for n in self.notes)])
        bad = [v for v in self.vectors if not v.ok]
        verdict = (
            "ok"
            if self.ok
            else (
                self.status
                if self.status == "inconclusive"
                else f"wrong along {len(bad)} of {len(self.vectors)} vectors"
            )
        )
        head = (
            f"check_hvp of {self.function}: {verdict} ({self.method}, {self.n_evaluations} evaluations; "
            f"tolerance: {_tolerance_text(self.tolerance)})"
        )
        return "\n".join(
            [
                head,
                *(f"looks like: {d}" for d in self.diagnosis),
                *(v.describe(max_entries) for v in self.vectors),
                *(f"note: {n}" for n in self.notes),
            ]
        )

    __str__ = summary

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "status": self.status,
            "kind": "hvp",
            "function": self.function,
            "method": self.method,
            "n_evaluations": self.n_evaluations,
            "tolerance": self.tolerance.to_dict() if self.tolerance is not None else None,
            "diagnosis": list(self.diagnosis),
            "notes": list(self.notes),
            "first_order": self.first_order.to_dict() if self.first_order is not None else None,
            "vectors": [v.to_dict() for v in self.vectors],
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)
