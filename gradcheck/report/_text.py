"""Labels and number formats shared by every renderer, so that all formats say the same thing."""

from __future__ import annotations

import math

from ._model import ParamRow, Report

__all__ = ["VERDICT_LABELS", "VERDICT_MEANING", "TABLE_HEADER", "num", "row_cells", "headline", "counts_line"]

VERDICT_LABELS = {
    "pass": "pass",
    "fail": "FAIL",
    "expected_fail": "expected fail",
    "unexpected_pass": "UNEXPECTED PASS",
    "mismatch": "mismatch",
    "inconclusive": "INCONCLUSIVE",
    "error": "ERROR",
    "skipped": "skipped",
}

VERDICT_MEANING = {
    "pass": "agrees with finite differences",
    "fail": "a gradient expected to be correct disagrees",
    "expected_fail": "a published slip disagrees, as it should",
    "unexpected_pass": "a published slip agrees: the slip may not show at this draw, or it is mislabelled",
    "mismatch": "disagrees (no expectation stated)",
    "inconclusive": "no mistake found, but the check could not resolve the error it was asked to see",
    "error": "the check raised an error",
    "skipped": "size variant refused by the derivation's factory",
}

TABLE_HEADER = ("derivation", "parameter", "verdict", "max abs err", "max rel err", "resolution", "tolerance", "kinks",
                "scheme")


def num(x: float | None) -> str:
    """Errors in three significant digits; exact zeros as 0."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if x == 0:
        return "0"
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 else f"{x:.2e}"


def row_cells(row: ParamRow, first: bool = True) -> tuple[str, ...]:
    """The summary-table cells of one parameter row (the derivation name only on its first row)."""
    return (
        row.subject if first else "",
        row.name,
        VERDICT_LABELS[row.verdict],
        num(row.max_abs_error),
        num(row.max_rel_error),
        "none" if math.isinf(row.resolution) else num(row.resolution),
        num(row.tolerance),
        str(row.n_kinks),
        ",".join(row.methods),
    )


def counts_line(report: Report) -> str:
    """e.g. '22 pass, 6 expected fail' over subjects, most severe first."""
    parts = [f"{n} {VERDICT_LABELS[v]}" for v, n in report.counts.items()]
    return ", ".join(parts) if parts else "nothing checked"


def headline(report: Report) -> str:
    """One sentence: did the run hold, under its --fail-on policy."""
    fail_on = str(report.options.get("fail_on", "mismatch"))
    failing = report.failing(fail_on)
    unexpected = [s for s in report.unexpected() if s not in failing]
    what = "derivations" if report.origin == "cli" else "checked functions"
    if failing:
        names = ", ".join(s.name for s in failing)
        text = f"FAILED: {len(failing)} of {len(report.subjects)} {what} did not hold ({names})"
    else:
        text = f"OK: all expected results held for {len(report.subjects)} {what} ({report.n_cases} checks)"
    if unexpected:
        text += f"; not failing the run under --fail-on={fail_on}: {', '.join(s.name for s in unexpected)}"
    return text
