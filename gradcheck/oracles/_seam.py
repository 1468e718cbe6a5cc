"""The seam between oracles and the judge.

An *oracle* gives, for each parameter, an independent value of the derivative with an
error bar per entry, and, where it can tell, the one-sided slopes at kinks. The judge
(:func:`gradcheck.judge._compare.judge`) needs nothing else, so finite differences, an exact
symbolic derivative (error 0), projections along a few directions (``m`` = number of
directions, the analytic side projected the same way) or second differences (the
entries of a Hessian) all reach it through :class:`OracleEstimate`.

Arrays have shape ``(m, n)``: output entries (1 for a loss) by parameter entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from ..core._evaluator import Evaluator
    from ..core._options import Options
    from ..core._params import ParamSet

__all__ = ["OracleEstimate", "OracleRun", "Context", "Oracle"]


@dataclass(frozen=True)
class OracleEstimate:
    """One oracle's view of one parameter's derivative.

    ``value`` and ``error`` are required. The kink fields are None for an oracle that has
    no one-sided view (complex step, a symbolic derivative away from kinks); where they
    are given, ``kink`` marks entries at a kink of x, ``left``/``right`` the valid slopes
    there with ``side_error`` their bar, and ``jump``/``jump_error`` the measured
    right-minus-left slope and its bar elsewhere (a kink too small to detect cannot be
    excluded, so the judge allows for it).
    """

    value: np.ndarray
    error: np.ndarray
    left: np.ndarray | None = None
    right: np.ndarray | None = None
    kink: np.ndarray | None = None
    side_error: np.ndarray | None = None
    jump: np.ndarray | None = None
    jump_error: np.ndarray | None = None
    step: np.ndarray | None = None  # (n,) the step finally used per coordinate, where there is one
    refined: np.ndarray | None = None  # (n,) coordinates re-estimated with smaller steps
    domain_limited: np.ndarray | None = None  # (n,) coordinates whose step was cut to stay in the loss's domain

    @property
    def n_refined(self) -> int:
        return 0 if self.refined is None else int(np.sum(self.refined))

    def kink_mask(self) -> np.ndarray:
        return np.zeros(self.value.shape, dtype=bool) if self.kink is None else self.kink

    def sides(self) -> tuple[np.ndarray, np.ndarray]:
        """Left and right slopes, NaN where the oracle has none."""
        nan = np.full(self.value.shape, np.nan)
        return (nan if self.left is None else self.left), (nan if self.right is None else self.right)


@dataclass
class Context:
    """What every oracle may use: the parameters (private copies), the one evaluator, the
    base value and the spread between two calls there, the options, and the notes of the
    result (an oracle appends what the user should know)."""

    params: ParamSet
    evaluator: Evaluator
    f0: np.ndarray
    spread: float
    options: Options
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class OracleRun:
    """An oracle's answer: one estimate per parameter (in ``params.names`` order), and the
    name of the method it really used (``auto`` resolves to one)."""

    method: str
    estimates: Sequence[OracleEstimate]


class Oracle(Protocol):
    """Anything that can estimate the derivative of the function behind a :class:`Context`."""

    name: str

    def run(self, ctx: Context) -> OracleRun: ...
