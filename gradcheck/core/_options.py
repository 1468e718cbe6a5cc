"""The options of a check: validated once, at the public boundary, then passed down whole.

Every entry point builds one :class:`Options` from its keyword arguments; the oracles,
the judge and the result builders read what they need from it. A bad value is reported
with the option's name, the value given and what would be accepted.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np

from ._errors import InvalidArgumentError

__all__ = ["Options", "check_option", "check_options", "RULES", "METHODS", "DEFAULT_SAFETY", "DEFAULT_RESOLUTION",
           "resolution_for", "Layout", "floor_rtol"]

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

ORACLES = ("auto", "fd", "symbolic", "both")
"""``auto`` (default): finite differences, and for the parameters they cannot settle the
strongest witness that can (complex step, the exact symbolic derivative; see
:mod:`gradcheck.checks._witnesses`). ``fd``: finite differences only (any code). ``symbolic``:
the exact derivative of the same loss code run on sympy symbols. ``both``: finite differences
for the verdict's numbers, and the exact derivative as a second witness whose verdict is reported per parameter."""

DEFAULT_RESOLUTION = 1e-6
"""The relative error a check must be able to see to call a gradient right: a parameter
whose stated resolution is coarser gets the verdict ``inconclusive``, not ``pass``."""

RESOLUTION_ULPS = 100.0
"""``resolution="auto"`` (the default) asks for :data:`DEFAULT_RESOLUTION`, or this many ulps of
the parameters' precision where that is coarser (1.2e-5 in float32): a float32 gradient is
rounded to some 1e-7 per operation, so 1e-6 is out of its reach however exact the reference."""


def resolution_for(resolution: float | str | None, eps: float) -> float | None:
    """The resolution a check at machine epsilon ``eps`` asks for (``"auto"`` resolved)."""
    if resolution == "auto":
        return max(DEFAULT_RESOLUTION, RESOLUTION_ULPS * eps)
    return resolution  # type: ignore[return-value]

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


def _integer(value: Any, low: int) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low


def _positive(value: Any) -> bool:
    return _real(value) and math.isfinite(value) and value > 0


def _typical(value: Any) -> bool:
    return all(_positive(v) for v in (value.values() if isinstance(value, Mapping) else [value]))


def _workers(value: Any) -> bool:
    return value is None or isinstance(value, cf.Executor) or _integer(value, 1)


@dataclass(frozen=True)
class Rule:
    """What one option accepts: a test of the value and the words that say it."""

    ok: Callable[[Any], bool]
    accepts: str


RULES: dict[str, Rule] = {
    "method": Rule(lambda v: v in METHODS, f"one of {', '.join(map(repr, METHODS))}"),
    "rtol": Rule(lambda v: v is None or (_real(v) and math.isfinite(v) and v >= 0),
                 "a finite number >= 0, or None for error-estimate tolerances"),
    "safety": Rule(lambda v: _real(v) and math.isfinite(v) and v >= 1,
                   f"a finite number >= 1 (default {DEFAULT_SAFETY:g})"),
    "step": Rule(lambda v: v is None or (_real(v) and 0 < v < 1),
                 "a relative base step in (0, 1), or None for the scheme's default"),
    "typical": Rule(_typical, "a positive number (or a mapping name -> positive number)"),
    "flag": Rule(lambda v: isinstance(v, bool), "True or False"),
    "automatic flag": Rule(lambda v: v is None or isinstance(v, bool), "True, False or None (automatic)"),
    "resolution": Rule(lambda v: v is None or v == "auto" or (_real(v) and 0 < v <= 1),
                       f"the relative error the check must resolve, in (0, 1]; 'auto' (default: "
                       f"{DEFAULT_RESOLUTION:g}, or {RESOLUTION_ULPS:g} ulps of a lower precision), "
                       "or None to accept whatever resolution the check reaches"),
    "oracle": Rule(lambda v: v in ORACLES, f"one of {', '.join(map(repr, ORACLES))}"),
    "workers": Rule(_workers, "None, an integer >= 1 (processes) or a concurrent.futures.Executor"),
    "count": Rule(lambda v: _integer(v, 1), "an integer >= 1"),
    "count from 0": Rule(lambda v: _integer(v, 0), "an integer >= 0"),
    "optional count from 0": Rule(lambda v: v is None or _integer(v, 0), "an integer >= 0, or None"),
    "seconds": Rule(lambda v: v is None or _positive(v), "a positive number of seconds, or None"),
    "name": Rule(lambda v: v is None or isinstance(v, str), "a string, or None for the function's own name"),
    "layout": Rule(lambda v: v in ("numerator", "denominator"),
                   "'numerator' (out.shape + x.shape) or 'denominator' (x.shape + out.shape)"),
    "order": Rule(lambda v: v in (None, "C", "F"),
                  "None (full-shape Jacobian), 'C' (row-major vec) or 'F' (column-major vec)"),
}
"""Rule name -> rule. An option is checked by the rule of its own name, or by the kind named
in :data:`KIND` (``max_entries`` and ``max_named`` are both counts)."""

KIND: dict[str, str] = {
    "atol": "rtol", "target": "resolution", "kinks": "flag", "refine": "flag", "localize": "flag",
    "keep_arrays": "automatic flag", "progress": "automatic flag", "max_entries": "count", "max_named": "count",
    "directions": "count", "seed": "count from 0", "sample": "count from 0", "per_entry": "optional count from 0",
    "budget_s": "seconds",
}
"""Option -> the rule it shares with others (an option not here has a rule of its own name)."""


def check_option(name: str, value: Any) -> None:
    """The one check of an option, for every entry point: :class:`InvalidArgumentError` naming
    the option, the value and what is accepted, so a bad value reads the same wherever it is given."""
    rule = RULES[KIND.get(name, name)]
    if not rule.ok(value):
        raise InvalidArgumentError(f"{name}={value!r}: expected {rule.accepts}")


def check_options(**given: Any) -> None:
    """:func:`check_option` for each keyword, in the order given."""
    for name, value in given.items():
        check_option(name, value)


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
    resolution: float | str | None = "auto"
    oracle: str = "auto"
    workers: Any = None  # None, an int (local processes) or a concurrent.futures.Executor
    progress: bool | None = None  # a bar on stderr: None = on a terminal and not in CI

    @classmethod
    def validated(cls, **given: Any) -> Options:
        """Options from keyword arguments, each checked (numbers are kept as given: ints and numpy scalars pass)."""
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
        check_options(**{f.name: getattr(self, f.name) for f in fields(self)})

    def check_typical_keys(self, names: list[str]) -> None:
        """``typical`` given per parameter must name parameters that exist."""
        if isinstance(self.typical, Mapping):
            unknown = set(self.typical) - set(names)
            if unknown:
                raise InvalidArgumentError(f"typical has key(s) {sorted(unknown)} that are not parameters {names}")
