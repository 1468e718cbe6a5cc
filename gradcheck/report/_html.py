"""A self-contained HTML page: inline CSS, plots embedded as base64 PNG data URIs, no scripts, no network.

Built from escaped strings rather than a template engine so that the page needs nothing
beyond the standard library (matplotlib only for the plots, which are left out with a
note when it is missing).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from html import escape

from ._model import Case, ParamRow, Report, Subject
from ._text import (
    DIRECTIONAL_NOTE,
    SYMBOLIC_NOTE,
    VERDICT_LABELS,
    VERDICT_MEANING,
    counts_line,
    directional_cells,
    directional_header,
    has_symbolic,
    headline,
    num,
    row_cells,
    table_header,
)

__all__ = ["render_html"]

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:72em;color:#222;padding:0 1em}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums;font-family:ui-monospace,monospace}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.95em}
.v{font-weight:600;white-space:nowrap;border-radius:3px;padding:0 .3em}
.v-pass{color:#1a7f37}.v-fail,.v-error{color:#fff;background:#cf222e}.v-expected_fail{color:#6e5400;background:#fff8c5}
.v-unexpected_pass{color:#fff;background:#bc4c00}.v-mismatch{color:#8250df}.v-skipped{color:#777}
.banner{padding:.6em 1em;border-radius:6px;font-weight:600}.ok{background:#dafbe1}.bad{background:#ffebe9}
.meta{color:#555;font-size:.9em}section.subject{margin:1.5em 0;padding-top:.5em;border-top:1px dashed #ccc}
img.plot{max-width:100%;height:auto;border:1px solid #eee}dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}
dt{font-weight:600;color:#555}dd{margin:0}
"""


def _v(verdict: str) -> str:
    return f'<span class="v v-{verdict}">{escape(VERDICT_LABELS[verdict])}</span>'


def _table(header: tuple[str, ...], rows: list[list[str]], numeric: set[int]) -> str:
    """``rows`` hold already-escaped HTML cells."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _md_emphasis(text: str) -> str:
    """The shared notes mark terms with *...*; in HTML they become <i>...</i>."""
    parts = escape(text).split("*")
    return "".join(f"<i>{p}</i>" if i % 2 else p for i, p in enumerate(parts))


def _directional(report: Report) -> str:
    rows = []
    for s in report.subjects:
        for i, c in enumerate(s.directional):
            cells = [escape(x) for x in directional_cells(s, c, first=i == 0, symbolic=has_symbolic(report))]
            if cells[0]:
                cells[0] = f'<a href="#{_anchor(s.name)}"><code>{cells[0]}</code></a>'
            cells[2] = _v(c.verdict)
            rows.append(cells)
    if not rows:
        return ""
    return ("<h2>Large sizes, checked along directions</h2>" + _table(directional_header(report), rows, {3, 4, 5, 6, 8})
            + f"<p class=meta>{_md_emphasis(DIRECTIONAL_NOTE)}</p>")


def _summary(report: Report) -> str:
    rows = []
    symbolic = has_symbolic(report)
    header = table_header(report)
    for s in report.subjects:
        for i, r in enumerate(s.params):
            cells = [escape(c) for c in row_cells(r, first=i == 0, symbolic=symbolic)]
            if i == 0:
                cells[0] = f'<a href="#{_anchor(s.name)}"><code>{cells[0]}</code></a>'
            cells[1] = f"<code>{cells[1]}</code>"
            cells[2] = _v(r.verdict)
            rows.append(cells)
        if s.errors and not s.params and not s.directional:
            rows.append([f'<a href="#{_anchor(s.name)}"><code>{escape(s.name)}</code></a>', "-", _v("error")]
                        + ["-"] * (len(header) - 3))
    return _table(header, rows, {3, 4, 5, 6, 7})


def _anchor(name: str) -> str:
    return "s-" + "".join(ch if ch.isalnum() else "-" for ch in name)


def _info(s: Subject) -> str:
    info = s.info
    facts = [("kind", s.kind), ("expected", {True: "correct", False: "a published slip: expected to fail", None: "-"}[s.expected_correct]),
             ("equations", info.get("equations")), ("layout", info.get("layout")), ("description", info.get("description")),
             ("slip", info.get("slip")), ("corrected in", info.get("corrects")), ("source", info.get("source")),
             ("module", info.get("module"))]
    if s.proof is not None:
        facts.append(("symbolic proof", f"{s.proof.text} ({s.proof.case}"
                      + (f"; {s.proof.scope})" if s.proof.scope else ")")))
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in facts if v)
    return f"<dl>{items}</dl>"


def _cases(cases: tuple[Case, ...]) -> str:
    rows = [[escape(c.label), _v(c.verdict), escape(c.result.method if c.result is not None else "-"),
             escape(num(c.max_rel_error)), escape(c.error or (c.directional.statement if c.directional else ""))]
            for c in cases]
    return _table(("check", "verdict", "scheme", "max rel err", "error / what the check states"), rows, {3})


def _param_detail(r: ParamRow) -> str:
    parts = [f"<h4><code>{escape(r.name)}</code> {escape(str(r.shape))} {_v(r.verdict)}</h4>",
             f"<p>{r.n_mismatched} of {r.n_checked} entries mismatch over {r.n_cases} checks; "
             f"max rel err {escape(num(r.max_rel_error))}; tolerance rule: {escape(r.tolerance_rule)}.</p>"]
    if r.oracles.get("symbolic"):
        parts.append(f"<p><b>Symbolic:</b> {escape(str(r.oracles['symbolic']))}</p>")
    if r.proof:
        parts.append(f"<p><b>Proof:</b> {escape(r.proof)}</p>")
    if r.diagnosis:
        parts.append(f"<p><b>Looks like:</b> {escape(r.diagnosis)} <span class=meta>({escape(r.diagnosis_case or '')})</span></p>")
    if r.mismatches:
        rows = [[escape(str(list(e.index))), f"{e.analytic:.8g}", f"{e.numeric:.8g}", escape(num(e.abs_error)),
                 escape(num(e.rel_error)), escape(num(e.tolerance)), escape(e.status)] for e in r.mismatches]
        parts.append(_table(("index", "analytic", "numeric", "abs err", "rel err", "tolerance", "status"), rows, {1, 2, 3, 4, 5}))
    return "".join(parts)


def _subject(s: Subject, plot: Callable[[Subject], bytes | None] | None) -> str:
    parts = [f'<section class="subject" id="{_anchor(s.name)}"><h3><code>{escape(s.name)}</code> {_v(s.verdict)}</h3>', _info(s)]
    parts += [_param_detail(r) for r in s.params if r.verdict != "pass"]
    for c in s.directional:
        d = c.directional
        assert d is not None
        diag = "".join(f"<li><code>{escape(k)}</code> looks like: {escape(v)}</li>" for k, v in d.diagnosis.items())
        parts.append(f"<p>{_v(c.verdict)} along directions at {escape(c.label)}: {escape(d.statement)}</p>"
                     + (f"<ul>{diag}</ul>" if diag else ""))
    parts.append(f"<details><summary>{len(s.cases)} checks</summary>{_cases(s.cases)}</details>")
    png = plot(s) if plot is not None else None
    if png:
        data = base64.b64encode(png).decode("ascii")
        parts.append(f'<img class="plot" alt="plots for {escape(s.name)}" src="data:image/png;base64,{data}">')
    parts.append("</section>")
    return "".join(parts)


def _plotter() -> tuple[Callable[[Subject], bytes | None] | None, str]:
    """The plot function, or None and the note saying why the page has no plots (matplotlib is optional)."""
    from ._plots import missing_dependency, subject_figure_png

    reason = missing_dependency()
    if reason is not None:
        return None, f"Plots left out: {reason}."
    return subject_figure_png, ""


def render_html(report: Report, plots: bool = True) -> str:
    """The whole report as one HTML document."""
    plot, note = _plotter() if plots else (None, "Plots left out (--no-plots).")
    failing = report.failing(str(report.options.get("fail_on", "mismatch")))
    env = ", ".join(f"{k} {v}" for k, v in report.environment.items())
    legend = "".join(f"<li>{_v(v)} {escape(VERDICT_MEANING[v])}</li>" for v in VERDICT_LABELS
                     if any(s.verdict == v for s in report.subjects))
    body = [
        f"<h1>{escape(report.title)}</h1>",
        f'<p class="banner {"bad" if failing else "ok"}">{escape(headline(report))}</p>',
        f'<p class="meta">{escape(counts_line(report))} &middot; {escape(env)} &middot; generated at {escape(report.generated_at)}</p>',
        f"<p class=meta>Command: <code>{escape(report.command)}</code></p>",
        "<h2>Summary</h2>", _summary(report),
        "<p class=meta>Errors are maxima over every check of a parameter; <i>tolerance</i> is the tolerance at the worst "
        "entry; <i>kinks</i> counts entries where the one-sided slopes differ. Plots: finite-difference error against "
        "step size (V-shaped when the hand derivative is right, flat when it is wrong), relative error per entry, and "
        "|analytic - numeric| / tolerance for matrix parameters.</p>",
        f"<ul class=meta>{legend}</ul>",
        f"<p class=meta>{_md_emphasis(SYMBOLIC_NOTE)}</p>" if has_symbolic(report) else "",
        _directional(report),
        "<h2>Details</h2>", f"<p class=meta>{escape(note)}</p>" if note else "",
    ]
    body += [_subject(s, plot) for s in report.subjects]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{escape(report.title)}</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
