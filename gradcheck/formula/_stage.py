"""Where the symbolic oracles are: each names the stage it enters, so that a budget that runs
out can say which oracle was waiting on what (:mod:`._budget` listens in its worker)."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["stage", "listen"]

_listener: Callable[[str], None] | None = None


def stage(text: str) -> None:
    """Say which oracle is doing what (sent to the parent from the worker; elsewhere nothing)."""
    if _listener is not None:
        _listener(text)


def listen(fn: Callable[[str], None] | None) -> None:
    global _listener
    _listener = fn
