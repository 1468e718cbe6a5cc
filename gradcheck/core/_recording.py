"""Listeners told of every finished check: how the pytest plugin sees checks made outside its fixture.

The core calls :func:`emit` with each result of ``check_grad``/``check_jacobian`` (and so
of ``assert_*``, which call them); whoever :func:`listen`\\ s gets it. With no listener,
:func:`emit` costs one empty-dict test, so checks made outside pytest pay nothing.

Standard library only, so that the pytest plugin can import it without numpy.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["listen", "unlisten", "emit"]

Listener = Callable[[Any], None]

_listeners: dict[int, Listener] = {}
_ids = itertools.count(1)
_lock = threading.Lock()


def listen(callback: Listener) -> int:
    """Call ``callback(result)`` after every check from now on; returns the handle for :func:`unlisten`."""
    if not callable(callback):
        raise TypeError(f"callback={callback!r}: expected a callable taking one check result")
    with _lock:
        handle = next(_ids)
        _listeners[handle] = callback
    return handle


def unlisten(handle: int) -> None:
    """Stop calling the listener ``handle``; a handle already removed is ignored (idempotent teardown)."""
    with _lock:
        _listeners.pop(handle, None)


def emit(result: Any) -> None:
    """Tell every listener, in the order they subscribed, of a finished check's ``result``.

    A listener's exception propagates: a recorder that cannot record must not hide it.
    """
    if not _listeners:
        return
    with _lock:
        callbacks = list(_listeners.values())
    for callback in callbacks:
        callback(result)
