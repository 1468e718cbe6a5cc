"""Rebuilding result objects from ``GradCheckResult.to_dict(arrays=True)``.

The pytest plugin ships check results between pytest-xdist workers and the controller
as plain JSON; the controller turns them back into result objects so that one report
model serves the command line and the plugin alike. The result classes own both
directions (``to_dict`` and ``from_dict``), so a field is written in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["result_from_dict"]


def result_from_dict(d: Mapping[str, Any]) -> Any:
    """A :class:`~gradcheck.GradCheckResult` equal to the one ``d`` was made from (arrays included if present)."""
    from .. import GradCheckResult

    return GradCheckResult.from_dict(d)
