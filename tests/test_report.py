"""The report: model verdicts, golden Markdown structure, JSON against its schema, self-contained HTML, plots, atomic writes."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from gradcheck import check_grad, registry
from gradcheck.registry import Derivation, Problem
from gradcheck.report import (
    FAIL_ON,
    REPORT_SCHEMA_VERSION,
    Report,
    case_verdict,
    default_step,
    make_report,
    render,
    run_derivations,
    schema_path,
    worst_verdict,
    write_atomic,
    write_report,
)
from gradcheck.report._serial import result_from_dict
from gradcheck.report._terminal import ProgressPrinter, render_table


@pytest.fixture(autouse=True, scope="module")
def _own_proof_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Proofs cached in a directory of this module's own, never the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADCHECK_CACHE_DIR", str(tmp_path_factory.mktemp("proof-cache")))
        yield


GOLDEN = ("least_squares.x", "sigmoid_layer.published_dW_numerator")


@pytest.fixture(scope="module")
def report() -> Report:
    subjects = run_derivations([registry.get(n) for n in GOLDEN], seeds=(0,), size_variants=("default",))
    return make_report(subjects, origin="cli", command="gradcheck report --only ... --seeds 0,",
                       options={"seeds": [0], "size_variants": ["default"], "fail_on": "mismatch"})


@pytest.mark.parametrize(("ok", "expected", "verdict"), [
    (True, True, "pass"), (False, True, "fail"), (False, False, "expected_fail"), (True, False, "unexpected_pass"),
    (False, None, "mismatch"), (True, None, "pass"), (None, True, "error"), (None, False, "error"),
])
def test_case_verdicts(ok: bool | None, expected: bool | None, verdict: str) -> None:
    assert case_verdict(ok, expected) == verdict


def test_worst_verdict_and_policies() -> None:
    assert worst_verdict(["pass", "expected_fail", "unexpected_pass"]) == "unexpected_pass"
    assert worst_verdict(["pass", "error", "fail"]) == "error"
    assert "unexpected_pass" not in FAIL_ON["mismatch"] and "unexpected_pass" in FAIL_ON["unexpected"]
    assert not FAIL_ON["never"]


def test_model_verdicts_and_rows(report: Report) -> None:
    assert [s.verdict for s in report.subjects] == ["pass", "expected_fail"]
    assert dict(report.counts) == {"expected_fail": 1, "pass": 1}
    slip = report.subjects[1]
    assert [(r.name, r.verdict) for r in slip.params] == [("W", "expected_fail"), ("b", "pass"), ("x", "pass")]
    w = slip.params[0]
    assert w.diagnosis is not None and "transpose" in w.diagnosis
    assert w.oracles == {"finite_differences": "expected_fail", "symbolic": None}
    assert not report.failing("mismatch") and not report.failing("unexpected")


def test_heatmap_shows_the_transpose_pattern(report: Report) -> None:
    w = report.subjects[1].params[0]
    assert w.heatmap is not None and w.heatmap.shape == (3, 3)
    assert np.all(np.diag(w.heatmap) <= 1)  # a transpose is right on the diagonal
    assert np.all(w.heatmap[~np.eye(3, dtype=bool)] > 1)
    assert report.subjects[0].params[0].heatmap is None  # x is a column vector: no heat map


def test_step_sweep_is_v_shaped_for_a_right_gradient_and_flat_for_a_wrong_one() -> None:
    right, wrong = run_derivations([registry.get("sigmoid_layer.column"), registry.get("sigmoid_layer.published_dW_numerator")],
                                   seeds=(0,), size_variants=("default",))
    assert right.sweep is not None and wrong.sweep is not None
    central = right.sweep.errors["central"]
    k = int(np.argmin(central))
    assert 0 < k < len(central) - 1 and central[0] > 1e3 * central[k]  # rounding arm on the left, minimum inside
    assert right.sweep.best < 1e-8
    assert wrong.sweep.best > 0.1  # no step brings the estimate near the wrong formula
    assert right.sweep.steps[0] == pytest.approx(1e-12) and right.sweep.steps[-1] == pytest.approx(1e-1)


def test_markdown_golden_structure(report: Report) -> None:
    md = render(report, ["md"])["md"]
    lines = md.splitlines()
    assert lines[0] == "# gradcheck report"
    assert lines[2] == "✅ **OK: all expected results held for 2 derivations (2 checks)**"
    table = lines.index("| derivation | parameter | verdict | max abs err | max rel err | resolution | tolerance | kinks | scheme |")
    assert lines[table + 1] == "|---|---|---|---|---|---|---|---|---|"
    assert lines[table + 2].startswith("| `least_squares.x` | `x` | ✅ pass | ")
    assert lines[table + 3].startswith("| `sigmoid_layer.published_dW_numerator` | `W` | ☑️ expected fail | ")
    assert lines[table + 4].startswith("|  | `b` | ✅ pass | ")
    assert "### `sigmoid_layer.published_dW_numerator` — ☑️ expected fail" in lines
    assert any("looks like:" in line and "transpose" in line for line in lines)
    assert sum(line.startswith("Generated at ") for line in lines) == 1


def test_markdown_table_cells_escape_pipes() -> None:
    from gradcheck.report._markdown import _table

    assert _table(("eq",), [("||Ax - b||",)])[2] == "| \\|\\|Ax - b\\|\\| |"


def test_terminal_table_aligns_columns(report: Report) -> None:
    lines = render_table(report).splitlines()
    col = lines[0].index("verdict")
    assert lines[2][col:col + 4] == "pass" and lines[3][col:col + 13] == "expected fail"
    assert lines[1].startswith("-----")
    assert lines[2].startswith("least_squares.x") and "richardson" in lines[2]
    assert lines[3].split()[:4] == ["sigmoid_layer.published_dW_numerator", "W", "expected", "fail"]


def test_json_validates_against_the_schema(report: Report) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    data = json.loads(render(report, ["json"])["json"])
    jsonschema.validate(data, json.loads(Path(schema_path()).read_text()))
    assert data["schema"] == "gradcheck-report" and data["schema_version"] == REPORT_SCHEMA_VERSION
    assert data["summary"] == {"ok": True, "fail_on": "mismatch", "n_subjects": 2, "n_cases": 2,
                               "counts": {"expected_fail": 1, "pass": 1}, "failing": [], "unexpected": []}
    x = data["subjects"][0]
    assert x["name"] == "least_squares.x" and x["cases"][0]["result"]["function"] == "least_squares.x"
    assert x["info"]["default_sizes"] == {"m": 5, "n": 4}
    assert x["step_sweep"]["default_steps"]["central"] == pytest.approx(np.finfo(float).eps ** (1 / 3))


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.srcs: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        d = dict(attrs)
        if tag == "img":
            self.srcs.append(d.get("src") or "")
        if "href" in d:
            self.hrefs.append(d["href"] or "")


def test_html_is_self_contained_with_inline_svg_plots(report: Report) -> None:
    html = render(report, ["html"])["html"]
    parser = _Collector()
    parser.feed(html)
    parser.close()
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    # each derivation: the step sweep and the histogram; the slip's W also a heat map
    assert parser.tags.count("svg") == 5
    # only in-page links and embedded data (the heat maps' pixels): nothing fetched
    assert all(h.startswith(("#", "data:image/png;base64,")) for h in parser.hrefs)
    assert sum(h.startswith("data:") for h in parser.hrefs) == 1
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html
    assert '<div class="scroll tall"><table>' in html  # the full table scrolls inside its box on a phone


def test_html_without_plots_says_so(report: Report) -> None:
    html = render(report, ["html"], plots=False)["html"]
    assert "<svg" not in html and "Plots left out" in html


def test_plots_are_deterministic_and_small(report: Report) -> None:
    first, second = render(report, ["html"])["html"], render(report, ["html"])["html"]
    assert first == second and len(first) < 120_000


FAILING = Derivation(name="t.wrong_but_expected_right", make=lambda rng, n=3: Problem(params={"W": rng.normal(size=(n, 3))}),
                     loss=lambda p, d, xp=None: np.sum(p["W"] ** 3), derivative=lambda p, d: {"W": 3 * p["W"] ** 2 + 0.5},
                     sizes={"n": 3})


@pytest.fixture(scope="module")
def failing() -> Report:
    ds = [registry.get("least_squares.x"), FAILING, registry.get("sigmoid_layer.published_dW_numerator")]
    subjects = run_derivations(ds, seeds=(0,), size_variants=("default",))
    return make_report(subjects, origin="cli", command="t", options={"seeds": [0], "fail_on": "mismatch"})


def test_html_opens_with_what_needs_attention_then_the_slips_then_the_full_table(failing: Report) -> None:
    html = render(failing, ["html"])["html"]
    attention, card = html.index('id="attention"'), html.index('id="s-t-wrong-but-expected-right"')
    slips, slip_card = html.index('id="slips"'), html.index('id="s-sigmoid-layer-published-dW-numerator"')
    table = html.index('id="all"')
    assert attention < card < slips < slip_card < table
    # the failing card carries its diagnosis, the evidence side by side and its worst entries, all before the table
    failing_card = html[card:slips]
    assert "Looks like:" in failing_card and "finite differences" in failing_card and "worst entries" in failing_card
    assert html.index("<h1>") < html.index('href="#attention"') < attention  # the first screen links to it
    assert html.index("<b>Evidence:</b> 5 parameters: finite differences 3 pass, 1 FAIL, 1 expected fail") < attention
    assert '<a href="#only-fail">' in html and "#only-fail:target~.scroll tr.r:not(.r-fail){display:none}" in html


def test_markdown_follows_the_same_order(failing: Report) -> None:
    md = render(failing, ["md"])["md"]
    assert md.index("## Needs attention (1)") < md.index("### `t.wrong_but_expected_right` — ❌ FAIL") \
        < md.index("## Published slips caught (1)") < md.index("### `sigmoid_layer.published_dW_numerator`") \
        < md.index("## All results") < md.index("| derivation | parameter |")


def test_nothing_needs_attention_says_so(report: Report) -> None:
    html, md = render(report, ["html", "md"]).values()
    assert "Needs attention (0)" in html and "Nothing: every derivation expected to be correct passed" in html
    assert "## Needs attention (0)" in md


def _overlaps(a: tuple[str, float, float, float, float], b: tuple[str, float, float, float, float]) -> bool:
    return a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]


def test_no_text_of_a_plot_overlaps_another_or_leaves_the_figure(failing: Report) -> None:
    """Every text of every figure (titles are the HTML captions; ticks, axis labels, colour-bar labels, legends),
    with a generous width per character, against every other one: heat maps of every shape included."""
    import re

    from gradcheck.report._plots import W, heatmap_svg, text_boxes

    html = render(failing, ["html"])["html"]
    svgs = re.findall(r"<svg .*?</svg>", html)
    for shape in [(2, 2), (3, 3), (4, 60), (60, 4), (25, 25), (1000, 3)]:  # heat maps of other shapes too
        row = failing.subjects[1].params[0]
        svgs.append(heatmap_svg(dataclasses.replace(row, heatmap=np.full(shape, 2.0))) or "")
    assert len(svgs) > 8
    for svg in svgs:
        height = float(re.search(r'viewBox="0 0 \d+ ([\d.]+)"', svg).group(1))
        boxes = text_boxes(svg)
        assert boxes
        for i, a in enumerate(boxes):
            assert a[1] >= -0.5 and a[3] <= W + 0.5 and a[2] >= -0.5 and a[4] <= height + 0.5, a
            for b in boxes[i + 1:]:
                assert not _overlaps(a, b), (a, b)
    # each heat map is a figure of its own, with its own caption: no two titles share a line
    assert html.count("|analytic - numeric| / tolerance per entry") == 2


def test_index_axes_have_integer_ticks_and_the_colour_bar_sits_beside_the_map(failing: Report) -> None:
    from gradcheck.report._plots import heatmap_svg, text_boxes

    row = next(r for r in failing.subjects[1].params if r.heatmap is not None)
    boxes = text_boxes(heatmap_svg(row) or "")
    bar = [b for b in boxes if b[0] in ("1e-6", "1e6")]
    assert len(bar) == 2
    ticks = [b for b in boxes if b[3] < bar[0][1] and any(ch.isdigit() for ch in b[0])]
    assert len(ticks) == 6 and all(t[0] in "012" for t in ticks)  # rows and columns 0, 1, 2: never -0.5 or 0.5
    assert all(0 < b[1] - max(t[3] for t in ticks) < 60 for b in bar)  # the bar's labels right beside the map


def test_source_is_the_code_file_and_line(report: Report) -> None:
    slip = report.subjects[1]
    assert slip.info["code"]["loss"].startswith("reference_nets/sigmoid_column.py:")
    html = render(report, ["html"])["html"]
    assert "reference_nets/sigmoid_column.py:" in html


def test_write_is_atomic_when_interrupted(report: Report, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_report(report, tmp_path, ["md"], plots=False)
    good = (tmp_path / "gradcheck-report.md").read_text()

    def interrupted(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("gradcheck.report._write.os.replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "gradcheck-report.md", "half a report")
    assert (tmp_path / "gradcheck-report.md").read_text() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gradcheck-report.md"]  # no temp file left behind


def test_a_renderer_error_writes_nothing(report: Report, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_: Report) -> str:
        raise RuntimeError("renderer broke")

    monkeypatch.setattr("gradcheck.report._json.render_json", broken)
    with pytest.raises(RuntimeError):
        write_report(report, tmp_path, ["md", "json"], plots=False)
    assert list(tmp_path.iterdir()) == []


def test_written_files_are_readable_by_others(report: Report, tmp_path: Path) -> None:
    (path,) = write_report(report, tmp_path, ["md"])
    assert path.stat().st_mode & 0o044  # mkstemp's 0600 would hide a CI artefact from other users


def test_results_round_trip_through_json() -> None:
    result = registry.get("relu_softmax.published_sum_loss").check(0)
    back = result_from_dict(json.loads(json.dumps(result.to_dict(arrays=True))))
    assert back.to_dict(arrays=True) == result.to_dict(arrays=True)
    assert back.summary() == result.summary()


def test_progress_bar_on_a_terminal() -> None:
    import io

    stream = io.StringIO()
    progress = ProgressPrinter(stream, live=True, width=10)
    progress(1, 2, "a", "pass")
    assert stream.getvalue().startswith("\r[#####.....] 1/2 a")
    progress(2, 2, "b", "pass")
    assert stream.getvalue().endswith("\r")  # the bar is cleared before the table prints


# --------------------------------------------------------------------------- without matplotlib
def test_plots_need_no_optional_package(report: Report, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plots are SVG written by gradcheck: matplotlib (once the ``report`` extra's) is never imported."""
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    html = render(report, ["html"])["html"]
    assert "<svg" in html and "Plots left out" not in html


# --------------------------------------------------------------------------- file modes and links
@pytest.fixture
def umask_022() -> object:
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits and symbolic links")
@pytest.mark.parametrize("target_mode", [0o777, 0o600])
def test_a_report_path_that_is_a_symlink_is_replaced_not_followed(report: Report, tmp_path: Path, umask_022: None,
                                                                  target_mode: int) -> None:
    target = tmp_path / "someone-elses-file"
    target.write_text("not a report\n")
    target.chmod(target_mode)
    out = tmp_path / "out"
    out.mkdir()
    (out / "gradcheck-report.md").symlink_to(target)
    (path,) = write_report(report, out, ["md"])
    assert not path.is_symlink() and path.read_text().startswith("# gradcheck report")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # the umask's default, not the target's mode
    assert target.read_text() == "not a report\n" and stat.S_IMODE(target.stat().st_mode) == target_mode


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_rewriting_a_report_keeps_its_own_mode(report: Report, tmp_path: Path, umask_022: None) -> None:
    (path,) = write_report(report, tmp_path, ["md"])
    path.chmod(0o640)
    write_report(report, tmp_path, ["md"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


# --------------------------------------------------------------------------- the sweep's default steps
@pytest.mark.parametrize("method", ["central", "richardson"])
def test_default_step_is_the_step_a_check_takes_at_unit_scale(method: str) -> None:
    result = check_grad(lambda x: float(np.sum(x**2)), lambda x: 2 * x, np.zeros(3), method=method)
    assert default_step(method) == pytest.approx(result.params["params"].step, rel=1e-12)


def test_sweep_marks_the_default_steps(report: Report) -> None:
    sweep = report.subjects[0].sweep
    assert sweep is not None
    assert dict(sweep.default_steps) == {m: default_step(m) for m in ("central", "richardson")}
