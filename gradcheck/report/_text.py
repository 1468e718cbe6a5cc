"""Labels and number formats shared by every renderer, so that all formats say the same thing."""

from __future__ import annotations

import math

from ._model import Case, ParamRow, Report, Subject

__all__ = [
    "VERDICT_LABELS", "VERDICT_MEANING", "TABLE_HEADER", "SYMBOLIC_HEADER", "DIRECTIONAL_HEADER",
    "DIRECTIONAL_SYMBOLIC", "SYMBOLIC_NOTE", "DIRECTIONAL_NOTE", "num", "row_cells", "directional_header",
    "directional_cells", "headline", "counts_line", "has_symbolic", "table_header", "short", "proof_line",
    "ATTENTION", "needs_attention", "slips_caught", "attention_reason", "settled", "code_location", "evidence_line",
]

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


SYMBOLIC_HEADER = ("symbolic", "proof")
SETTLED_HEADER = "settled by"
"""Column shown when some row was settled past finite differences (``check_grad``'s ``oracle="auto"``)."""
"""Columns added when the report ran ``--oracle both``: the symbolic witness over the checks,
and the derivation's proof for that parameter at its default sizes."""

DIRECTIONAL_HEADER = ("derivation", "check", "verdict", "entries", "directions agree", "localised", "wrong",
                      "miss probability", "resolution", "scheme")

SYMBOLIC_NOTE = ("*symbolic*: the exact derivative of the same loss code (sympy) as a second witness in every "
                 "check, pass/FAIL/n/a; *proof*: hand - exact simplified to 0 entry by entry at the default sizes "
                 "(proved), a nonzero entry (disproved, with the counterexample), or n/a with the reason.")

DIRECTIONAL_NOTE = ("Large sizes are checked along random sign directions, not entry by entry: *localised* counts "
                    "entries reached by group testing and checked one by one; *miss probability* bounds the chance "
                    "that every direction missed an error whose largest entry is at least the stated fraction of "
                    "max |g_i s_i|; *resolution* is the relative error of one entry every direction was sure to "
                    "flag.")


def has_symbolic(report: Report) -> bool:
    """Whether the report ran the symbolic oracle (then the table has the symbolic columns)."""
    return report.options.get("oracle") == "both" or any(
        r.oracles.get("symbolic") is not None or r.proof is not None for r in report.rows)


def table_header(report: Report) -> tuple[str, ...]:
    return TABLE_HEADER + (SYMBOLIC_HEADER if has_symbolic(report) else ()) + \
        ((SETTLED_HEADER,) if has_settled(report) else ())


def has_settled(report: Report) -> bool:
    """Whether some row's verdict rests on a witness other than plain finite differences."""
    return any(not all(w.startswith("finite differences") for w in r.settled_by) for r in report.rows)


def settled(row: ParamRow) -> str:
    """The witnesses a row's verdict rests on, shortened for a cell (``finite differences``, ``complex step``...)."""
    names = list(dict.fromkeys(w.split(" (")[0] for w in row.settled_by))
    return ", ".join(names) if names else "-"


ATTENTION: tuple[str, ...] = ("fail", "error", "unexpected_pass", "inconclusive", "mismatch")
"""Subject verdicts a reader must look at, in the order the report shows them."""


def attention_reason(subject: Subject) -> str | None:
    """Why a subject needs attention (its verdict, or a proof that contradicts a passing check), or None."""
    if subject.verdict in ATTENTION:
        return subject.verdict
    if subject.expected_correct and subject.proof is not None and subject.proof.status == "disproved":
        return "disproved"
    return None


def needs_attention(report: Report) -> list[Subject]:
    """Subjects that need attention, most severe verdict first (registry order within a verdict)."""
    order = (*ATTENTION, "disproved")
    flagged = [(order.index(r), i, s) for i, s in enumerate(report.subjects) if (r := attention_reason(s))]
    return [s for _, _, s in sorted(flagged, key=lambda t: (t[0], t[1]))]


def slips_caught(report: Report) -> list[Subject]:
    """Published slips that failed as they should: the report's teaching material."""
    return [s for s in report.subjects if s.verdict == "expected_fail"]


def code_location(subject: Subject) -> str | None:
    """``reference_nets/x.py:12 (loss), :30 (gradient)``: where the derivation's code lives, or None."""
    code = subject.info.get("code") or {}
    loss, grad = code.get("loss"), code.get("derivative")
    if not loss and not grad:
        return None
    if loss and grad and loss.split(":")[0] == grad.split(":")[0]:
        return f"{loss} (loss), :{grad.rsplit(':', 1)[1]} (derivative)"
    return ", ".join(f"{v} ({k})" for k, v in (("loss", loss), ("derivative", grad)) if v)


def short(text: str | None) -> str:
    """A verdict text's first word for a table cell: pass, FAIL, n/a, proved, disproved (or -)."""
    if not text:
        return "-"
    return text.split(":")[0].split(" ")[0]


def num(x: float | None) -> str:
    """Errors in three significant digits; exact zeros as 0."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if x == 0:
        return "0"
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 else f"{x:.2e}"


def row_cells(row: ParamRow, first: bool = True, symbolic: bool = False, witness: bool = False) -> tuple[str, ...]:
    """The summary-table cells of one parameter row (the derivation name only on its first row);
    ``symbolic`` adds the symbolic and proof cells, ``witness`` the settling witness's."""
    extra = (short(row.oracles.get("symbolic")), short(row.proof)) if symbolic else ()
    extra += (settled(row),) if witness else ()
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
        *extra,
    )


DIRECTIONAL_SYMBOLIC = "n/a: too large for symbolic at this size"
"""The symbolic cell of a directional check: the exact derivative of 1e5 entries is out of reach."""


def directional_header(report: Report) -> tuple[str, ...]:
    return DIRECTIONAL_HEADER + (("symbolic",) if has_symbolic(report) else ())


def directional_cells(subject: Subject, case: Case, first: bool = True, symbolic: bool = False) -> tuple[str, ...]:
    """One directional check's row: what it states (directions, entries localised, miss probability)."""
    d = case.directional
    assert d is not None
    return (
        subject.name if first else "",
        case.label,
        VERDICT_LABELS[case.verdict],
        f"{d.n_entries:,}",
        f"{d.n_agree}/{d.n_directions}",
        str(d.n_localized) + (f" (+{d.data['n_sampled']} sampled)" if d.data["n_sampled"] else ""),
        str(d.n_mismatched),
        f"<= {d.miss_probability:.2g} at {d.miss_rtol:.2g}",
        "none" if math.isinf(d.resolution) else num(d.resolution),
        d.method,
        *((DIRECTIONAL_SYMBOLIC,) if symbolic else ()),
    )


def proof_line(subject: Subject) -> str | None:
    """``name: symbolic proof at seed=0 sizes=default (...): proved at this size`` (None without a proof)."""
    p = subject.proof
    if p is None:
        return None
    scope = f"; scope: {p.scope}" if p.scope and p.status != "n/a" else ""
    return f"{subject.name}: symbolic proof at {p.case}: {p.text}{scope}"


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


def evidence_line(report: Report) -> str:
    """The three witnesses in one line, over every parameter row and derivation, e.g. 'parameters: finite
    differences 130 pass, 25 expected fail; symbolic 115 pass, 25 FAIL; proofs: 18 proved, 10 disproved, 12 n/a'."""
    def tally(values: list[str]) -> str:
        counts: dict[str, int] = {}
        for v in values:
            counts[v] = counts.get(v, 0) + 1
        return ", ".join(f"{n} {k}" for k, n in counts.items())

    rows = report.rows
    fd = [VERDICT_LABELS[str(r.oracles.get("finite_differences") or r.verdict)] for r in rows]
    parts = [f"finite differences {tally(fd)}"]
    symbolic = [short(r.oracles.get("symbolic")) for r in rows if r.oracles.get("symbolic")]
    if symbolic:
        parts.append(f"symbolic {tally(symbolic)}")
    text = f"{len(rows)} parameters: " + "; ".join(parts)
    proofs = [s.proof.status for s in report.subjects if s.proof is not None]
    if proofs:
        order = {"proved": 0, "disproved": 1, "n/a": 2}
        text += f"; {len(proofs)} proofs: {tally(sorted(proofs, key=order.__getitem__))}"
    return text
