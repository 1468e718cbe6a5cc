"""Terminal output: the summary table as plain text, and progress while checks run."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from ._model import Report
from ._text import (
    VERDICT_LABELS,
    counts_line,
    directional_cells,
    directional_header,
    evidence_line,
    has_settled,
    has_symbolic,
    headline,
    proof_line,
    row_cells,
    table_header,
)

__all__ = ["render_table", "render_summary", "ProgressPrinter", "interactive"]


def _aligned(rows: list[tuple[str, ...]], right: set[int]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]

    def line(cells: tuple[str, ...]) -> str:
        padded = (c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "  ".join(padded).rstrip()

    out = [line(rows[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows[1:]]
    return "\n".join(out)


def render_table(report: Report) -> str:
    """The summary table: one row per parameter of each subject, columns aligned; then the
    directional checks of large sizes, if any, in a table of their own."""
    header = table_header(report)
    symbolic, witness = has_symbolic(report), has_settled(report)
    rows: list[tuple[str, ...]] = [header]
    for s in report.subjects:
        for i, r in enumerate(s.params):
            rows.append(row_cells(r, first=i == 0, symbolic=symbolic, witness=witness))
        for _ in s.errors:
            rows.append((s.name if not s.params else "", "-", VERDICT_LABELS["error"], *("-",) * (len(header) - 3)))
    tables = [_aligned(rows, {3, 4, 5, 6})] if len(rows) > 1 else []
    large: list[tuple[str, ...]] = [directional_header(report)]
    for s in report.subjects:
        large += [directional_cells(s, c, first=i == 0, symbolic=symbolic) for i, c in enumerate(s.directional)]
    if len(large) > 1:
        tables.append("large sizes, checked along directions:\n" + _aligned(large, {3, 4, 5, 6, 8}))
    return "\n\n".join(tables) if tables else "nothing checked"


def render_summary(report: Report) -> str:
    """Table, then what did not pass and why, then the one-line verdict."""
    lines = [render_table(report), ""]
    for s in report.subjects:
        for r in s.params:
            if r.verdict != "pass" and r.diagnosis:
                lines.append(f"{s.name} {r.name}: {r.diagnosis}")
            symbolic = r.oracles.get("symbolic") or ""
            if symbolic.startswith("FAIL") and r.oracles.get("finite_differences") == "pass":  # seen by sympy alone
                lines.append(f"{s.name} {r.name}: symbolic {symbolic}")
        for c in s.directional:
            for name, text in c.directional.diagnosis.items():  # type: ignore[union-attr]
                lines.append(f"{s.name} {name} [{c.label}]: {text}")
        line = proof_line(s)
        if line and s.proof is not None and s.proof.status != "proved":  # a disproof, or why there is no proof
            lines.append(line)
        for c in s.errors:
            lines.append(f"{s.name} [{c.label}]: {c.error}")
    rule = next((r.tolerance_rule for r in report.rows), None)
    if rule:
        lines.append(f"tolerance: {rule}; 'tolerance' column: at the worst entry")
    lines.append(f"{counts_line(report)}")
    lines.append(evidence_line(report))
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
