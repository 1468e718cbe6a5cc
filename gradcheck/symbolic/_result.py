"""Result types of the symbolic oracle (frozen, like the rest of gradcheck's results)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

__all__ = ["SymbolicDerivative", "Status", "ParamProof", "Proof", "MatrixDerivative"]


class Status(str, Enum):
    """What the symbolic oracle could say."""

    OK = "ok"
    NA = "n/a"
    PROVED = "proved"
    DISPROVED = "disproved"


@dataclass(frozen=True)
class SymbolicDerivative:
    """The exact derivative of a loss (``kind="grad"``) or function (``"jacobian"``) at a point.

    Every mapping has the structure of ``params``; a single array is keyed by the name
    ``check_grad`` gives it, ``"params"`` for a gradient, and ``check_jacobian``'s ``"x"`` for a
    Jacobian (``single`` says so; :meth:`array` returns it bare). Shapes: ``param.shape`` for a gradient, ``out.shape +
    param.shape`` (numerator layout) for a Jacobian.

    ``value``: float64 derivative; at a kink it is the documented convention (ReLU slope 0 at
    0, first tied argument of a max, abs slope 0). ``error``: a bound on ``|value - exact|``
    (measured against ``exact_value`` when ``exact=True``; else a few ulps of ``|value|``, the
    rounding of one float64 evaluation). ``kink``: entries whose one-sided derivatives differ
    because a max/relu/abs sits exactly at its tie; ``left``/``right`` hold those one-sided
    derivatives there and NaN elsewhere. ``status`` is ``"n/a"`` (with ``reason``) when the
    oracle could not run at this size; every mapping is then empty.
    """

    status: Status
    kind: str
    value: Mapping[str, np.ndarray]
    error: Mapping[str, np.ndarray]
    kink: Mapping[str, np.ndarray]
    left: Mapping[str, np.ndarray]
    right: Mapping[str, np.ndarray]
    exact_value: Mapping[str, np.ndarray] | None = None
    reason: str = ""
    notes: tuple[str, ...] = ()
    backend: str = ""
    single: bool = False
    cached: bool = False
    timings: Mapping[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when a value was computed (the oracle ran), not a verdict on anyone's gradient."""
        return self.status == Status.OK

    def array(self, name: str | None = None) -> np.ndarray:
        """The value of one parameter (the only one when ``params`` was a single array)."""
        if name is None:
            (name,) = self.value
        return self.value[name]

    def __str__(self) -> str:
        if not self.ok:
            return f"symbolic {self.kind}: n/a ({self.reason})"
        parts = [f"{k} {v.shape}" + (f", {int(self.kink[k].sum())} kinks" if self.kink[k].any() else "")
                 for k, v in self.value.items()]
        return f"symbolic {self.kind} ({self.backend}): " + "; ".join(parts)


@dataclass(frozen=True)
class ParamProof:
    """The proof status of one parameter's hand-derived gradient."""

    name: str
    status: Status
    reason: str = ""
    counterexample: Any = None
    index: tuple[int, ...] | None = None
    entries: int = 0
    proved_entries: int = 0
    certificate: str = ""
    """For a disproof: says that ``interval`` holds hand - exact at ``index`` and excludes 0, so
    the disproof does not rest on float64; empty when no interval could be computed (the
    reason then says "float64 evidence")."""
    interval: tuple[Any, Any] | None = None
    """``(lo, hi)`` as ``mpmath.mpf``: encloses the exact hand - exact at ``index`` (exact binary
    inputs, exact rational constants, outward rounding at 60 digits)."""


@dataclass(frozen=True)
class Proof:
    """``hand - exact`` simplified entry by entry; ``ok`` when every parameter is proved."""

    params: Mapping[str, ParamProof]
    scope: str
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(p.status == Status.PROVED for p in self.params.values())

    @property
    def status(self) -> Status:
        statuses = {p.status for p in self.params.values()}
        if Status.DISPROVED in statuses:
            return Status.DISPROVED
        if statuses == {Status.PROVED}:
            return Status.PROVED
        return Status.NA

    def __str__(self) -> str:
        lines = [f"proof ({self.scope}): {self.status.value}"]
        for p in self.params.values():
            line = f"  {p.name}: {p.status.value}"
            if p.status == Status.DISPROVED:
                line += f" at {list(p.index or ())}: hand - exact = {p.counterexample}"
                if p.certificate:
                    line += f"\n    {p.certificate}"
            elif p.reason:
                line += f" ({p.reason})"
            lines.append(line)
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


@dataclass(frozen=True)
class MatrixDerivative:
    """A matrix-level derivative and how far it was validated.

    ``expr`` is the sympy expression of the derivative (a matrix expression in the symbols
    of ``wrt``'s shape). ``scope`` is ``"proved for all sizes"`` only when sympy's
    matrix-level result was derived symbolically in the dimension symbols *and* matched the
    element-wise derivative at every concrete size in ``checked_sizes`` (two or more);
    otherwise it says what was shown.
    """

    status: Status
    expr: Any
    scope: str
    checked_sizes: tuple[Mapping[str, int], ...] = ()
    reason: str = ""
    hand_matches: bool | None = None
