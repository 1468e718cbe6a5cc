"""What one second-order check was asked to do, validated once, and the names it reports.

Holds :class:`Settings` (the per-call options as one frozen value, so that no helper takes
them one by one), the default ``SAFETY`` and the argument checks shared by the entry points.
May import gradcheck's core modules (``_api``, ``_errors``, ``_options``) and nothing else of
this subpackage: every other module here imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from ...core._errors import InvalidArgumentError
from ...core._options import DEFAULT_SAFETY, check_options

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
        """``self``, or :class:`InvalidArgumentError` naming the first bad option, by the rules
        every entry point shares (:func:`gradcheck.core._options.check_option`)."""
        check_options(**{f.name: getattr(self, f.name) for f in fields(self)})
        if isinstance(self.typical, Mapping):
            raise InvalidArgumentError(
                f"typical={self.typical!r}: second-order checks take one positive number for all parameters"
            )
        return self


def need_callable(name: str, fn: Any, signature: str) -> None:
    if not callable(fn):
        raise InvalidArgumentError(f"{name}={fn!r}: expected a callable {signature}")


def fn_name(fn: Callable[..., Any], given: str | None) -> str:
    return given or getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
