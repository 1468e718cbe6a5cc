"""A progress bar on stderr for checks that take more than a couple of seconds.

It stays silent for short checks (it appears only once ``delay_s`` has passed), and
entirely off when stderr is not a terminal or the ``CI`` environment variable is set:
logs then keep only the result, not hundreds of carriage returns.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

__all__ = ["Progress", "interactive"]

DELAY_S = 2.0
"""A bar that flashes for half a second is noise; checks shorter than this show none."""


def interactive(stream: TextIO) -> bool:
    """True when ``stream`` is a terminal and ``CI`` is unset (or '', '0', 'false', 'no')."""
    ci = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
    return bool(getattr(stream, "isatty", lambda: False)()) and not ci


class Progress:
    """``update(done, total, label)``; ``close()`` erases the bar. ``enabled=None`` decides from the stream."""

    def __init__(self, *, enabled: bool | None = None, stream: TextIO | None = None, delay_s: float = DELAY_S,
                 width: int = 30) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = interactive(self.stream) if enabled is None else bool(enabled)
        self.delay_s = delay_s
        self.width = width
        self.start = time.perf_counter()
        self.shown = False

    def update(self, done: int, total: int, label: str) -> None:
        if not self.enabled or time.perf_counter() - self.start < self.delay_s:
            return
        filled = self.width * min(done, total) // max(total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r[{bar}] {done}/{total} {label}"[:120].ljust(120))
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * 120 + "\r")
            self.stream.flush()
            self.shown = False
