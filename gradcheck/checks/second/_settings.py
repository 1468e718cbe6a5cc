"""What one second-order check was asked to do, validated once, and the names it reports.

Holds :class:`Settings` (the per-call options as one frozen value, so that no helper takes
them one by one), the default ``SAFETY`` and the argument checks shared by the entry points.
May import gradcheck's core modules (``_api``, ``_errors``, ``_options``) and nothing else of
this subpackage: every other module here imports it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...core._errors import InvalidArgumentError
from ...core._options import DEFAULT_SAFETY
from .._first_order import METHODS

__all__ = ["SAFETY", "Settings", "fn_name", "need_callable"]

SAFETY = DEFAULT_SAFETY
"""As for gradients: the tolerance is this many error estimates (plus the rounding floor)."""


@dataclass(frozen=True)
class Settings:
    """The options of one call: ``method`` and ``step`` (the first-order scheme and base step,
    or the relative base step of second differences), ``safety``, ``typical`` (the magnitude
    below which a coordinate's step stops shrinking), ``kinks`` (report entries at kinks apart),
    ``max_entries`` (entries listed per block), ``seed`` (draws noise probes and vectors)."""

    method: str = "richardson"
    safety: float = SAFETY
    step: float | None = None
    typical: float = 1.0
    kinks: bool = True
    max_entries: int = 5
    seed: int = 0

    def validated(self) -> Settings:
        """``self``, or :class:`InvalidArgumentError` naming the first bad option."""
        if self.method not in METHODS:
            raise InvalidArgumentError(f"method={self.method!r}: expected one of {', '.join(map(repr, METHODS))}")
        safety, step, typical, max_entries = self.safety, self.step, self.typical, self.max_entries
        if not isinstance(safety, (int, float)) or not math.isfinite(safety) or safety < 1:
            raise InvalidArgumentError(f"safety={safety!r}: expected a finite number >= 1 (default {SAFETY:g})")
        if step is not None and (not isinstance(step, (int, float)) or not 0 < step < 1):
            raise InvalidArgumentError(
                f"step={step!r}: expected a relative base step in (0, 1), or None for the default "
                f"(eps^(1/8) for second differences)"
            )
        if not isinstance(typical, (int, float)) or not math.isfinite(typical) or typical <= 0:
            raise InvalidArgumentError(f"typical={typical!r}: expected a positive number")
        if not isinstance(max_entries, int) or max_entries < 1:
            raise InvalidArgumentError(f"max_entries={max_entries!r}: expected an integer >= 1")
        return self


def need_callable(name: str, fn: Any, signature: str) -> None:
    if not callable(fn):
        raise InvalidArgumentError(f"{name}={fn!r}: expected a callable {signature}")


def fn_name(fn: Callable[..., Any], given: str | None) -> str:
    return given or getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
