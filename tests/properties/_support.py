"""Helpers shared by the property tests: example budgets and the derivations to iterate."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import settings

from gradcheck import registry
from gradcheck.registry import Derivation


def examples(fraction: float, *, minimum: int = 2) -> settings:
    """Settings running ``fraction`` of the loaded profile's examples (at least ``minimum``).

    Expensive properties (dozens of checks per example) take a fraction, cheap ones the
    whole profile; the ratio between them is the same under ci, dev and thorough.
    """
    n = max(minimum, int(round(settings.default.max_examples * fraction)))
    return settings(max_examples=n)


def all_derivations() -> list[Derivation]:
    """Every registered derivation (built-in and entry points), iterated at collection time."""
    return registry.derivations()


def by_name(predicate: Any = None) -> list[Any]:
    """``pytest.param`` per derivation with its name as id, optionally filtered."""
    return [pytest.param(d, id=d.name) for d in all_derivations() if predicate is None or predicate(d)]


def copy_params(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.array(v, copy=True) for k, v in params.items()}
