"""Markdown rendering, sized for a CI job summary (GitHub's ``$GITHUB_STEP_SUMMARY``).

GitHub-flavoured tables, ``<details>`` for the long parts, no images (a job summary
cannot embed local files; the HTML report has the plots).
"""

from __future__ import annotations

from ._model import ParamRow, Report, Subject
from ._text import (
    ATTENTION,
    DIRECTIONAL_NOTE,
    SYMBOLIC_NOTE,
    VERDICT_LABELS,
    VERDICT_MEANING,
    code_location,
    counts_line,
    directional_cells,
    directional_header,
    evidence_line,
    has_settled,
    has_symbolic,
    headline,
    needs_attention,
    num,
    row_cells,
    slips_caught,
    table_header,
)

__all__ = ["render_markdown", "ICONS"]

ICONS = {
    "pass": "✅",
    "fail": "❌",
    "expected_fail": "☑️",
    "unexpected_pass": "⚠️",
    "mismatch": "❔",
    "inconclusive": "❓",
    "error": "💥",
    "skipped": "⏭️",
}


def _cell(text: str) -> str:
    """A table cell: pipes escaped, newlines flattened."""
    return text.replace("|", "\\|").replace("\n", " ")


def _verdict(v: str) -> str:
    return f"{ICONS[v]} {VERDICT_LABELS[v]}"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return out


def _summary_rows(report: Report) -> list[tuple[str, ...]]:
    rows = []
    symbolic, witness = has_symbolic(report), has_settled(report)
    width = len(table_header(report))
    for s in report.subjects:
        for i, r in enumerate(s.params):
            cells = list(row_cells(r, first=i == 0, symbolic=symbolic, witness=witness))
            cells[0] = f"`{cells[0]}`" if cells[0] else ""
            cells[1] = f"`{cells[1]}`"
            cells[2] = _verdict(r.verdict)
            rows.append(tuple(cells))
        if s.errors and not s.params and not s.directional:
            rows.append((f"`{s.name}`", "-", _verdict("error"), *("-",) * (width - 3)))
    return rows


def _directional_rows(report: Report) -> list[tuple[str, ...]]:
    rows = []
    for s in report.subjects:
        for i, c in enumerate(s.directional):
            cells = list(directional_cells(s, c, first=i == 0, symbolic=has_symbolic(report)))
            cells[0] = f"`{cells[0]}`" if cells[0] else ""
            cells[2] = _verdict(c.verdict)
            rows.append(tuple(cells))
    return rows


def _meta(report: Report) -> str:
    o, env = report.options, report.environment
    bits = []
    if report.origin == "cli":
        bits.append(f"seeds {', '.join(map(str, o.get('seeds', ())))}")
        bits.append(f"sizes {', '.join(o.get('size_variants', ()))}")
        bits.append(f"method {o.get('method') or 'richardson'}")
        bits.append(f"oracle {o.get('oracle', 'fd')}")
        bits.append(f"`--fail-on {o.get('fail_on', 'mismatch')}`")
    versions = f"numpy {env.get('numpy', '?')}, Python {env.get('python', '?')}"
    bits.append(f"gradcheck {env.get('gradcheck', '?')}, {versions}")
    return " · ".join(bits)


def _entries(row: ParamRow) -> list[str]:
    header = ("index", "analytic", "numeric", "abs err", "rel err", "tolerance", "status")
    rows = [(str(list(e.index)), f"{e.analytic:.8g}", f"{e.numeric:.8g}", num(e.abs_error), num(e.rel_error),
             num(e.tolerance), e.status) for e in row.mismatches]
    return _table(header, rows)


def _subject_section(s: Subject) -> list[str]:
    info = s.info
    head = _verdict(s.verdict) if s.verdict in ICONS else s.verdict
    if s.verdict not in ATTENTION and s.expected_correct and s.proof is not None and s.proof.status == "disproved":
        head = "❌ DISPROVED: every check passed, but the symbolic proof disagrees"
    out = [f"### `{s.name}` — {head}", ""]
    facts = [("Equations", info.get("equations")), ("Slip", info.get("slip")),
             ("Corrected in", f"`{info['corrects']}`" if info.get("corrects") else None),
             ("Code", code_location(s)), ("Document", info.get("source"))]
    if s.proof is not None:
        facts.append(("Symbolic proof", f"{s.proof.text} ({s.proof.case})"))
    out += [f"- **{k}:** {v}" for k, v in facts if v]
    for c in s.directional:
        d = c.directional
        assert d is not None
        out.append(f"- {_verdict(c.verdict)} along directions at {c.label}: {d.statement}")
        out += [f"  - `{name}` looks like: {text}" for name, text in d.diagnosis.items()]
    for r in s.params:
        if r.verdict == "pass":
            continue
        if r.verdict == "inconclusive":
            out.append(f"- **`{r.name}`** {_verdict(r.verdict)} over {r.n_cases} checks, resolution "
                       f"{num(r.resolution)}: {r.inconclusive}")
            continue
        out.append(f"- **`{r.name}`** {_verdict(r.verdict)}: {r.n_mismatched} of {r.n_checked} entries mismatch "
                   f"over {r.n_cases} checks; max rel err {num(r.max_rel_error)}")
        if r.diagnosis:
            out.append(f"  - looks like: {r.diagnosis} ({r.diagnosis_case})")
        if r.oracles.get("symbolic"):
            out.append(f"  - symbolic: {r.oracles['symbolic']}")
        if r.proof:
            out.append(f"  - proof: {r.proof}")
        if r.mismatches:
            out += ["", "  <details><summary>worst entries</summary>", ""]
            out += ["  " + line for line in _entries(r)]
            out += ["", "  </details>", ""]
    for c in s.cases:
        if c.verdict in ("error", "unexpected_pass", "skipped"):
            out.append(f"- {_verdict(c.verdict)} at {c.label}" + (f": {c.error}" if c.error else ""))
    out.append("")
    return out


def render_markdown(report: Report) -> str:
    """The whole report as GitHub-flavoured Markdown: what needs attention first, then the published
    slips caught, then the full table (the same order as the HTML page)."""
    icon = "❌" if report.failing(str(report.options.get("fail_on", "mismatch"))) else "✅"
    out = [f"# {report.title}", "", f"{icon} **{headline(report)}**", "",
           f"{counts_line(report)} · {_meta(report)}", "", f"Evidence: {evidence_line(report)}", ""]
    attention, slips = needs_attention(report), slips_caught(report)
    out += [f"## Needs attention ({len(attention)})", ""]
    if attention:
        for s in attention:
            out += _subject_section(s)
    else:
        out += ["Nothing: every derivation expected to be correct passed, every published slip was caught, and no "
                "check was inconclusive or raised.", ""]
    if slips:
        out += [f"## Published slips caught ({len(slips)})", "",
                "<details><summary>formulas as a document printed them, failing as they should, with their "
                "diagnoses</summary>", ""]
        for s in slips:
            out += _subject_section(s)
        out += ["</details>", ""]
    out += ["## All results", ""]
    out += _table(table_header(report), _summary_rows(report))
    rule = next((r.tolerance_rule for r in report.rows), None)
    out += ["", "Errors are maxima over every seed and size; *tolerance* is the tolerance at the worst entry"
            + (f" (rule: {rule})" if rule else "") + "; *resolution* is the smallest relative error every check was "
            "sure to catch; *kinks* counts entries where the one-sided slopes differ.", ""]
    if has_symbolic(report):
        out += [SYMBOLIC_NOTE, ""]
        proofs = [s for s in report.subjects if s.proof is not None]
        if proofs:
            out += ["<details><summary>symbolic proofs, one per derivation</summary>", ""]
            out += [f"- `{s.name}`: {_cell(s.proof.text)} ({s.proof.case})" for s in proofs]  # type: ignore[union-attr]
            out += ["", "</details>", ""]
    large = _directional_rows(report)
    if large:
        out += ["## Large sizes, checked along directions", ""]
        out += _table(directional_header(report), large)
        out += ["", DIRECTIONAL_NOTE, ""]
    used = [v for v in ICONS if any(s.verdict == v for s in report.subjects)]
    out += [" · ".join(f"{_verdict(v)}: {VERDICT_MEANING[v]}" for v in used), ""]
    out += ["## How this report was made", "", f"```\n{report.command}\n```", "",
            f"Generated at {report.generated_at}.", ""]
    return "\n".join(out)

