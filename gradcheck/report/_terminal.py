"""Terminal output: the summary table as plain text, and progress while checks run."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from ._model import Report
from ._text import TABLE_HEADER, VERDICT_LABELS, counts_line, headline, row_cells

__all__ = ["render_table", "render_summary", "ProgressPrinter", "interactive"]


def render_table(report: Report) -> str:
    """The summary table: one row per parameter of each subject, columns aligned."""
    rows: list[tuple[str, ...]] = [TABLE_HEADER]
    for s in report.subjects:
        for i, r in enumerate(s.params):
            rows.append(row_cells(r, first=i == 0))
        for _ in s.errors:
            rows.append((s.name if not s.params else "", "-", VERDICT_LABELS["error"], "-", "-", "-", "-", "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(TABLE_HEADER))]
    right = {3, 4, 5, 6}

    def line(cells: tuple[str, ...]) -> str:
        padded = (c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "  ".join(padded).rstrip()

    out = [line(rows[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows[1:]]
    return "\n".join(out)


def render_summary(report: Report) -> str:
    """Table, then what did not pass and why, then the one-line verdict."""
    lines = [render_table(report), ""]
    for s in report.subjects:
        for r in s.params:
            if r.verdict != "pass" and r.diagnosis:
                lines.append(f"{s.name} {r.name}: {r.diagnosis}")
        for c in s.errors:
            lines.append(f"{s.name} [{c.label}]: {c.error}")
    rule = next((r.tolerance_rule for r in report.rows), None)
    if rule:
        lines.append(f"tolerance: {rule}; 'tolerance' column: at the worst entry")
    lines.append(f"{counts_line(report)}")
    lines.append(headline(report))
    return "\n".join(lines)


def interactive(stream: TextIO) -> bool:
    """A live progress bar only on a terminal outside CI; CI logs get one plain line per check."""
    ci = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
    return bool(getattr(stream, "isatty", lambda: False)()) and not ci


class ProgressPrinter:
    """``progress(done, total, label, verdict)`` callback: a bar on a terminal, plain lines in CI."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.live = interactive(self.stream) if live is None else live
        self.width = width

    def __call__(self, done: int, total: int, label: str, verdict: str) -> None:
        if self.live:
            filled = self.width * done // max(total, 1)
            bar = "#" * filled + "." * (self.width - filled)
            text = f"\r[{bar}] {done}/{total} {label}"[:200]
            self.stream.write(text.ljust(100))
            if done == total:
                self.stream.write("\r" + " " * 120 + "\r")
        else:
            self.stream.write(f"[{done}/{total}] {label}: {VERDICT_LABELS[verdict]}\n")
        self.stream.flush()
