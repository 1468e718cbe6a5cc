"""The options of a check: validated once, at the public boundary, then passed down whole.

Every entry point builds one :class:`Options` from its keyword arguments; the oracles,
the judge and the result builders read what they need from it. A bad value is reported
with the option's name, the value given and what would be accepted.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ._errors import InvalidArgumentError
from ._parallel import validate_workers

__all__ = ["Options", "METHODS", "DEFAULT_SAFETY", "DEFAULT_RESOLUTION", "Layout", "floor_rtol"]

METHODS = ("richardson", "central", "forward", "complex", "auto")
"""``richardson`` (default): central differences at h, h/2, h/4 extrapolated to 6th order,
6 evaluations per entry (4 where h and h/2 agree to rounding with no kink), kinks detected.
``central``: h and h/2, 4 per entry, kinks detected. ``forward``: h and h/2, 2 per entry,
no kink detection. ``complex``: complex step, about 1 per entry, exact to rounding, needs a
complex-analytic loss, no kink detection. ``auto``: complex step when a probe shows the loss
is complex-analytic, else richardson."""

DEFAULT_SAFETY = 10.0
"""Error estimates are measured, not bounds; a factor of 10 absorbs their scatter while
staying far below a relative 1e-6 error (estimates are near 1e-11 relative in float64)."""

KEEP_ARRAYS_UP_TO = 1_000_000
"""By default a result keeps its per-entry arrays (for plots and heat maps) up to this many
derivative entries; a larger check keeps its summary and the named entries only."""

ORACLES = ("fd", "symbolic", "both")
"""``fd``: finite differences (any code). ``symbolic``: the exact derivative of the same loss
code run on sympy symbols. ``both``: finite differences for the verdict's numbers, and the
exact derivative as a second witness whose verdict is reported per parameter."""

DEFAULT_RESOLUTION = 1e-6
"""The relative error a check must be able to see to call a gradient right: a parameter
whose stated resolution is coarser gets the verdict ``inconclusive``, not ``pass``."""

def floor_rtol(eps: float) -> float:
    """Relative floor for the analytic side's rounding where it is not measured: ``max(sqrt(eps), 1e-7)``
    of the entry's scale, and the cap on what a measurement may credit.

    The contract is to flag a relative 1e-6 mistake; 1e-7 keeps a tenfold margin. Below it
    lives the analytic formula's own rounding, which is no mistake (``s * (1 - s)`` for a
    saturated sigmoid loses most of its digits, visible as soon as the oracle is exact, as
    complex step is). Kinks too small to detect are allowed for by the measured jump in
    :func:`judge`, not by this floor. In float32 ``sqrt(eps)`` (3.5e-4) is the larger.
    """
    return float(max(np.sqrt(eps), 1e-7))


Layout = Literal["numerator", "denominator"]


def _real(value: Any) -> bool:
    """A real number, numpy scalars included; ``True`` is not 1 here."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and type(value).__name__ != "bool_"


@dataclass(frozen=True)
class Options:
    """Everything a check was asked to do. Build it with :meth:`validated`."""

    method: str = "richardson"
    rtol: float | None = None
    atol: float | None = None
    safety: float = DEFAULT_SAFETY
    step: float | None = None
    typical: float | Mapping[str, float] = 1.0
    kinks: bool = True
    max_entries: int = 5
    name: str | None = None
    layout: Layout = "numerator"
    order: str | None = None
    refine: bool = True
    keep_arrays: bool | None = None
    resolution: float | None = DEFAULT_RESOLUTION
    oracle: str = "fd"
    workers: Any = None  # None, an int (local processes) or a concurrent.futures.Executor
    progress: bool | None = None  # a bar on stderr: None = on a terminal and not in CI

    @classmethod
    def validated(cls, **given: Any) -> Options:
        """Options from keyword arguments, each checked, numbers normalised to float."""
        opts = cls(**given)
        opts._check()
        return opts

    # -- what the options mean -------------------------------------------------
    @property
    def fixed(self) -> bool:
        """True when the caller fixed ``rtol``/``atol``: error estimates then play no part."""
        return self.rtol is not None or self.atol is not None

    def typical_for(self, name: str) -> float:
        if isinstance(self.typical, Mapping):
            return float(self.typical.get(name, 1.0))
        return float(self.typical)

    def keeps_arrays(self, n_entries: int) -> bool:
        return self.keep_arrays if self.keep_arrays is not None else n_entries <= KEEP_ARRAYS_UP_TO

    # -- validation --------------------------------------------------------------
    def _check(self) -> None:
        if self.method not in METHODS:
            raise InvalidArgumentError(f"method={self.method!r}: expected one of {', '.join(map(repr, METHODS))}")
        for name in ("rtol", "atol"):
            value = getattr(self, name)
            if value is not None and (not _real(value) or not math.isfinite(value) or value < 0):
                raise InvalidArgumentError(
                    f"{name}={value!r}: expected a finite number >= 0, or None for error-estimate tolerances")
        if not _real(self.safety) or not math.isfinite(self.safety) or self.safety < 1:
            raise InvalidArgumentError(
                f"safety={self.safety!r}: expected a finite number >= 1 (default {DEFAULT_SAFETY:g})")
        if self.step is not None and (not _real(self.step) or not 0 < self.step < 1):
            raise InvalidArgumentError(
                f"step={self.step!r}: expected a relative base step in (0, 1), or None for the scheme's default")
        values = self.typical.values() if isinstance(self.typical, Mapping) else [self.typical]
        for v in values:
            if not _real(v) or not math.isfinite(v) or v <= 0:
                raise InvalidArgumentError(
                    f"typical={self.typical!r}: expected a positive number (or a mapping name -> positive number)")
        for name in ("kinks", "refine"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidArgumentError(f"{name}={getattr(self, name)!r}: expected True or False")
        if self.resolution is not None and (not _real(self.resolution) or not 0 < self.resolution <= 1):
            raise InvalidArgumentError(
                f"resolution={self.resolution!r}: expected the relative error the check must resolve, in (0, 1] "
                f"(default {DEFAULT_RESOLUTION:g}), or None to accept whatever resolution the check reaches")
        if self.oracle not in ORACLES:
            raise InvalidArgumentError(f"oracle={self.oracle!r}: expected one of {', '.join(map(repr, ORACLES))}")
        if self.keep_arrays is not None and not isinstance(self.keep_arrays, bool):
            raise InvalidArgumentError(f"keep_arrays={self.keep_arrays!r}: expected True, False or None (automatic)")
        validate_workers(self.workers)
        if self.progress is not None and not isinstance(self.progress, bool):
            raise InvalidArgumentError(f"progress={self.progress!r}: expected True, False or None (automatic)")
        n = self.max_entries
        if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
            raise InvalidArgumentError(f"max_entries={self.max_entries!r}: expected an integer >= 1")
        if self.name is not None and not isinstance(self.name, str):
            raise InvalidArgumentError(f"name={self.name!r}: expected a string, or None for the function's own name")
        if self.layout not in ("numerator", "denominator"):
            raise InvalidArgumentError(
                f"layout={self.layout!r}: expected 'numerator' (out.shape + x.shape) or 'denominator' (x.shape + "
                "out.shape)")
        if self.order not in (None, "C", "F"):
            raise InvalidArgumentError(
                f"order={self.order!r}: expected None (full-shape Jacobian), 'C' (row-major vec) or 'F' (column-major "
                "vec)")

    def check_typical_keys(self, names: list[str]) -> None:
        """``typical`` given per parameter must name parameters that exist."""
        if isinstance(self.typical, Mapping):
            unknown = set(self.typical) - set(names)
            if unknown:
                raise InvalidArgumentError(f"typical has key(s) {sorted(unknown)} that are not parameters {names}")
