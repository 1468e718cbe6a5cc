"""A self-contained HTML page: inline CSS and SVG plots, no scripts, no network.

Ordered for a reader who opens it to learn what is wrong: first what needs attention (FAIL,
ERROR, UNEXPECTED PASS, INCONCLUSIVE, each with its diagnosis, evidence and worst entries),
then the published slips caught (teaching material), then the full table, which scrolls
inside its own box on a narrow screen and filters by verdict with in-page links (CSS
``:target``, no script). Built from escaped strings rather than a template engine so that the
page needs nothing beyond the standard library.
"""

from __future__ import annotations

from html import escape

from ._model import Case, ParamRow, Report, Subject
from ._plots import MAX_HEATMAPS, heatmap_svg, histogram_svg, sweep_svg
from ._text import (
    ATTENTION,
    DIRECTIONAL_NOTE,
    SYMBOLIC_NOTE,
    VERDICT_LABELS,
    VERDICT_MEANING,
    attention_reason,
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
    settled,
    slips_caught,
    table_header,
)

__all__ = ["render_html", "FIRST_FAILING_ID", "FULL_TABLE_ID"]

FIRST_FAILING_ID = "attention"
FULL_TABLE_ID = "all"

CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1em auto;max-width:110em;color:#222;padding:0 .8em;line-height:1.4}
h1{margin:.2em 0}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}h3{margin:.2em 0 .4em}
table{border-collapse:collapse;margin:.4em 0;font-size:.88em}
th,td{border:1px solid #ddd;padding:.2em .5em;text-align:left;vertical-align:top;overflow-wrap:normal;word-break:normal}
td{min-width:3em}td.wide{min-width:11em}th{white-space:nowrap}td code,td .v{white-space:nowrap}
th{background:#f4f4f4;position:sticky;top:0}td.num{text-align:right;font-variant-numeric:tabular-nums;font-family:ui-monospace,monospace;white-space:nowrap}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.95em;overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%;-webkit-overflow-scrolling:touch}
.scroll.tall{max-height:80vh;overflow-y:auto;border:1px solid #eee}
.v{font-weight:600;white-space:nowrap;border-radius:3px;padding:0 .3em}
.v-pass{color:#1a7f37}.v-fail,.v-error,.v-disproved{color:#fff;background:#cf222e}.v-expected_fail{color:#6e5400;background:#fff8c5}
.v-unexpected_pass{color:#fff;background:#bc4c00}.v-mismatch{color:#8250df}.v-inconclusive{color:#fff;background:#6e40c9}.v-skipped{color:#777}
.banner{padding:.6em 1em;border-radius:6px;font-weight:600}.ok{background:#dafbe1}.bad{background:#ffebe9}
.meta{color:#555;font-size:.9em}nav.jump a{display:inline-block;margin:.15em .3em .15em 0;text-decoration:none}
.card{border:1px solid #ddd;border-left:5px solid #999;border-radius:6px;padding:.5em .7em;margin:1em 0}
.card p,.card dd{overflow-wrap:anywhere}
.card.c-fail,.card.c-error,.card.c-disproved{border-left-color:#cf222e}.card.c-unexpected_pass{border-left-color:#bc4c00}
.card.c-inconclusive,.card.c-mismatch{border-left-color:#6e40c9}.card.c-expected_fail{border-left-color:#d4a72c}
.finding{font-size:1.02em;margin:.3em 0}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,330px),1fr));gap:.8em;margin:.6em 0}
figure{margin:0;border:1px solid #eee;padding:.3em}figure svg{width:100%;height:auto;display:block}
figcaption{font-size:.85em;color:#444;margin-bottom:.2em}
dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.15em 1em;margin:.4em 0}
dt{font-weight:600;color:#555}dd{margin:0;min-width:0}
details{margin:.4em 0}summary{cursor:pointer}
span.f{display:block;scroll-margin-top:.5em}
@media (max-width:600px){body{padding:0 .4em}.card{padding:.4em .5em}dl{grid-template-columns:1fr}dt{margin-top:.3em}}
"""
_FILTERS = ("fail", "error", "unexpected_pass", "inconclusive", "mismatch", "expected_fail", "pass")


def _filter_css() -> str:
    """``#only-fail:target ~ .scroll tr.r:not(.r-fail){display:none}`` for each verdict: the filter links."""
    return "".join(f"#only-{v}:target~.scroll tr.r:not(.r-{v}){{display:none}}" for v in _FILTERS)


def _v(verdict: str) -> str:
    label = "DISPROVED" if verdict == "disproved" else VERDICT_LABELS[verdict]
    return f'<span class="v v-{verdict}">{escape(label)}</span>'


def _table(header: tuple[str, ...], rows: list[list[str]], numeric: set[int], row_class: list[str] | None = None,
           wide: frozenset[int] = frozenset()) -> str:
    """``rows`` hold already-escaped HTML cells; the table sits in a box that scrolls sideways."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        (f'<tr class="{row_class[k]}">' if row_class else "<tr>")
        + "".join(f'<td class="num">{c}</td>' if i in numeric else f'<td class="wide">{c}</td>' if i in wide
                  else f"<td>{c}</td>" for i, c in enumerate(r)) + "</tr>"
        for k, r in enumerate(rows)
    )
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _md_emphasis(text: str) -> str:
    """The shared notes mark terms with *...*; in HTML they become <i>...</i>."""
    parts = escape(text).split("*")
    return "".join(f"<i>{p}</i>" if i % 2 else p for i, p in enumerate(parts))


def _anchor(name: str) -> str:
    return "s-" + "".join(ch if ch.isalnum() else "-" for ch in name)


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
    rows, classes = [], []
    symbolic, witness = has_symbolic(report), has_settled(report)
    header = table_header(report)
    for s in report.subjects:
        for i, r in enumerate(s.params):
            cells = [escape(c) for c in row_cells(r, first=True, symbolic=symbolic, witness=witness)]
            name = f'<a href="#{_anchor(s.name)}"><code>{cells[0]}</code></a>'
            cells[0] = name if i == 0 else f'<span class="meta" aria-hidden="true">{cells[0]}</span>'
            cells[1] = f"<code>{cells[1]}</code>"
            cells[2] = _v(r.verdict)
            rows.append(cells)
            classes.append(f"r r-{s.verdict}")
        if s.errors and not s.params and not s.directional:
            rows.append([f'<a href="#{_anchor(s.name)}"><code>{escape(s.name)}</code></a>', "-", _v("error")]
                        + ["-"] * (len(header) - 3))
            classes.append(f"r r-{s.verdict}")
    return _table(header, rows, {3, 4, 5, 6, 7}, classes).replace('class="scroll"', 'class="scroll tall"', 1)


def _facts(s: Subject) -> str:
    info = s.info
    expected = {True: "correct", False: "a published slip: expected to fail", None: "-"}[s.expected_correct]
    facts = [("expected", expected), ("slip", info.get("slip")), ("equations", info.get("equations")),
             ("layout", info.get("layout")), ("description", info.get("description")),
             ("corrected in", info.get("corrects")), ("code", code_location(s)),
             ("document", info.get("source"))]
    if s.proof is not None:
        facts.append(("symbolic proof", f"{s.proof.text} ({s.proof.case}"
                      + (f"; {s.proof.scope})" if s.proof.scope and s.proof.status != "n/a" else ")")))
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in facts if v)
    return f"<dl>{items}</dl>"


def _evidence(s: Subject) -> str:
    """Per parameter, the witnesses side by side: finite differences, the symbolic derivative, the proof."""
    if not s.params:
        return ""
    witness = any(r.settled_by for r in s.params)
    header = ("parameter", "verdict", "finite differences", "symbolic derivative", "proof")
    header += ("settled by",) if witness else ()
    rows = []
    for r in s.params:
        fd = r.oracles.get("finite_differences") or r.verdict
        cells = [f"<code>{escape(r.name)}</code> <span class=meta>{escape(str(r.shape))}</span>", _v(r.verdict),
                 _v(fd) + f" <span class=meta>max rel err {escape(num(r.max_rel_error))}</span>",
                 escape(r.oracles.get("symbolic") or "not run (--oracle fd)"),
                 escape(r.proof or (s.proof.text if s.proof is not None else "not run (--oracle fd)"))]
        if witness:
            cells.append(escape(settled(r)))
        rows.append(cells)
    return _table(header, rows, set(), wide=frozenset({3, 4}))


def _worst(r: ParamRow) -> str:
    rows = [[escape(str(list(e.index))), f"{e.analytic:.8g}", f"{e.numeric:.8g}", escape(num(e.abs_error)),
             escape(num(e.rel_error)), escape(num(e.tolerance)), escape(e.status)] for e in r.mismatches]
    return _table(("index", "analytic", "numeric", "abs err", "rel err", "tolerance", "status"), rows, {1, 2, 3, 4, 5})


def _param_finding(r: ParamRow) -> str:
    parts = [f'<p class="finding"><code>{escape(r.name)}</code> {_v(r.verdict)} ']
    if r.verdict == "inconclusive":
        parts.append(f"over {r.n_cases} checks, resolution {escape(num(r.resolution))}: {escape(r.inconclusive or '')}")
    else:
        parts.append(f"{r.n_mismatched} of {r.n_checked} entries mismatch over {r.n_cases} checks; max rel err "
                     f"{escape(num(r.max_rel_error))}")
    parts.append("</p>")
    if r.diagnosis:
        parts.append(f"<p><b>Looks like:</b> {escape(r.diagnosis)} <span class=meta>({escape(r.diagnosis_case or '')})"
                     "</span></p>")
    return "".join(parts)


def _worst_entries(r: ParamRow) -> str:
    if not r.mismatches:
        return ""
    return f"<details open><summary>worst entries of <code>{escape(r.name)}</code></summary>{_worst(r)}</details>"


def _cases(cases: tuple[Case, ...]) -> str:
    rows = [[escape(c.label), _v(c.verdict), escape(c.result.method if c.result is not None else "-"),
             escape(num(c.max_rel_error)), escape(c.error or (c.directional.statement if c.directional else ""))]
            for c in cases]
    return _table(("check", "verdict", "scheme", "max rel err", "error / what the check states"), rows, {3})


def _plots(s: Subject) -> str:
    figures = []
    if s.sweep is not None:
        figures.append((f"Finite-difference error against step size (best {s.sweep.best:.1e}; reference: "
                        f"{s.sweep.reference})", sweep_svg(s.sweep)))
    values = [v for r in s.params if r.log_rel_errors is not None for v in r.log_rel_errors.tolist()]
    hist = histogram_svg(values)
    if hist:
        figures.append((f"Relative error per entry, {len(values)} entries over all checks", hist))
    for r in [r for r in s.params if r.heatmap is not None][:MAX_HEATMAPS]:
        where = r.worst_case.split(" (")[0]
        svg = heatmap_svg(r)
        if svg:
            figures.append((f"{r.name}: |analytic - numeric| / tolerance per entry, above 1 fails "
                            f"({VERDICT_LABELS[r.verdict]} at {where})", svg))
    if not figures:
        return ""
    return '<div class="plots">' + "".join(
        f"<figure><figcaption>{escape(cap)}</figcaption>{svg}</figure>" for cap, svg in figures) + "</div>"


def _card(s: Subject, plots: bool, open_details: bool = True) -> str:
    """Everything about one derivation: the finding first, then evidence, entries, facts and plots;
    folded (``open_details=False``) for the derivations that need nothing from the reader."""
    reason = attention_reason(s) or s.verdict
    parts = []
    if reason == "disproved" and s.proof is not None:
        parts.append(f'<p class="finding">Every check passed, but the symbolic proof says: {escape(s.proof.text)}</p>')
    parts += [_param_finding(r) for r in s.params if r.verdict != "pass"]
    for c in s.cases:
        if c.verdict == "error" or (c.verdict == "skipped" and c.error):
            parts.append(f'<p class="finding">{_v(c.verdict)} at {escape(c.label)}: {escape(c.error or "")}</p>')
    for c in s.directional:
        d = c.directional
        assert d is not None
        diag = "".join(f"<li><code>{escape(k)}</code> looks like: {escape(v)}</li>" for k, v in d.diagnosis.items())
        parts.append(f"<p>{_v(c.verdict)} along directions at {escape(c.label)}: {escape(d.statement)}</p>"
                     + (f"<ul>{diag}</ul>" if diag else ""))
    parts.append(_evidence(s))
    parts += [_worst_entries(r) for r in s.params if r.verdict != "pass"]
    parts.append(_facts(s))
    if plots:
        parts.append(_plots(s))
    parts.append(f"<details><summary>{len(s.cases)} checks</summary>{_cases(s.cases)}</details>")
    title = f"<code>{escape(s.name)}</code> {_v(reason)}"
    if open_details:
        return f'<section class="card c-{reason}" id="{_anchor(s.name)}"><h3>{title}</h3>{"".join(parts)}</section>'
    return f'<details class="card c-{reason}" id="{_anchor(s.name)}"><summary>{title}</summary>{"".join(parts)}</details>'


def _nav(report: Report, attention: list[Subject], slips: list[Subject]) -> str:
    links = []
    if attention:
        links.append(f'<a href="#{FIRST_FAILING_ID}"><b>Needs attention ({len(attention)})</b></a>')
    if slips:
        links.append(f'<a href="#slips">Published slips caught ({len(slips)})</a>')
    links.append(f'<a href="#{FULL_TABLE_ID}">All results</a>')
    links.append('<a href="#details">Every derivation</a>')
    return '<nav class="jump">' + " &middot; ".join(links) + "</nav>"


def render_html(report: Report, plots: bool = True) -> str:
    """The whole report as one HTML document."""
    failing = report.failing(str(report.options.get("fail_on", "mismatch")))
    env = ", ".join(f"{k} {v}" for k, v in report.environment.items())
    attention, slips = needs_attention(report), slips_caught(report)
    shown = {s.name for s in attention} | {s.name for s in slips}
    legend = "".join(f"<li>{_v(v)} {escape(VERDICT_MEANING[v])}</li>" for v in VERDICT_LABELS
                     if any(s.verdict == v for s in report.subjects))
    body = [
        f"<h1>{escape(report.title)}</h1>",
        f'<p class="banner {"bad" if failing else "ok"}">{escape(headline(report))}</p>',
        f'<p class="meta"><b>Evidence:</b> {escape(evidence_line(report))}</p>',
        _nav(report, attention, slips),
        f'<p class="meta">{escape(counts_line(report))} &middot; {escape(env)} &middot; generated at '
        f"{escape(report.generated_at)} &middot; <code>{escape(report.command)}</code></p>",
        f'<h2 id="{FIRST_FAILING_ID}">Needs attention ({len(attention)})</h2>',
    ]
    if attention:
        for verdict in (*ATTENTION, "disproved"):
            group = [s for s in attention if attention_reason(s) == verdict]
            if group:
                body.append(f'<p id="v-{verdict}" class="meta">{_v(verdict)} {len(group)}: '
                            f"{escape(VERDICT_MEANING.get(verdict, 'a proof contradicts the checks'))}</p>")
                body += [_card(s, plots) for s in group]
    else:
        body.append('<p class="banner ok">Nothing: every derivation expected to be correct passed, every published '
                    "slip was caught, and no check was inconclusive or raised.</p>")
    if slips:
        body.append(f'<h2 id="slips">Published slips caught ({len(slips)})</h2><p class=meta>Formulas as a document '
                    "printed them, failing as they should: what each mistake looks like in the numbers.</p>")
        body += [_card(s, plots) for s in slips]
    filters = " ".join(f'<a href="#only-{v}">{_v(v)} {sum(s.verdict == v for s in report.subjects)}</a>'
                       for v in _FILTERS if any(s.verdict == v for s in report.subjects))
    body += [
        f'<h2 id="{FULL_TABLE_ID}">All results</h2>',
        f'<p class="meta">Show derivations that are: {filters} <a href="#{FULL_TABLE_ID}">all</a></p>',
        "".join(f'<span class="f" id="only-{v}"></span>' for v in _FILTERS),
        _summary(report),
        "<p class=meta>Errors are maxima over every check of a parameter; <i>tolerance</i> is the tolerance at the "
        "worst entry; <i>kinks</i> counts entries where the one-sided slopes differ.</p>",
        f"<ul class=meta>{legend}</ul>",
        f"<p class=meta>{_md_emphasis(SYMBOLIC_NOTE)}</p>" if has_symbolic(report) else "",
        _directional(report),
        '<h2 id="details">Every derivation</h2>',
        "" if plots else "<p class=meta>Plots left out (--no-plots).</p>",
    ]
    body += [_card(s, plots, open_details=False) for s in report.subjects if s.name not in shown]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{escape(report.title)}</title>"
            f"<style>{CSS}{_filter_css()}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
