"""The mode chosen by predicted cost, and the one line a slow check says on stderr.

No test here takes time: the clock the evaluator times the base point with
(``gradcheck.core._evaluator.perf_counter``) is replaced by one on which every evaluation takes
as long as the test says.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import gradcheck
from gradcheck.checks import _cost
from gradcheck.checks.directional._engine import DirectionalResult
from gradcheck.core import _evaluator
from gradcheck.judge._result import GradCheckResult


def _sq(x):
    return np.sum(x ** 2)


def _sq_grad(x):
    return 2 * x


def _slow_clock(monkeypatch: pytest.MonkeyPatch, eval_s: float) -> None:
    """Every timed evaluation now lasts ``eval_s`` on the predictor's clock (calls come as start, end)."""
    ticks = itertools.count(0.0, eval_s)
    monkeypatch.setattr(_evaluator, "perf_counter", lambda: next(ticks))


# --------------------------------------------------------------------------- the decision
@pytest.mark.parametrize("n, method, eval_s, mode", [
    (3, "richardson", 1e-6, "entries"),            # a test's loss: never slow
    (10_000, "richardson", 1e-5, "entries"),       # 0.6 s
    (99_918, "richardson", 1e-3, "directional"),   # the MLP: 10 min entry by entry
    (33_000, "auto", 2e-3, "directional"),         # the 443 s auto check
    (10, "richardson", 10.0, "entries"),           # slow loss, few entries: directions cost more
    (2_000, "richardson", 5e-3, "directional"),    # 60 s entry by entry, 2 s along directions
    (2_000, "richardson", 1e-3, "entries"),        # 12.5 s: within the budget
])
def test_the_mode_follows_the_predicted_cost(n: int, method: str, eval_s: float, mode: str) -> None:
    assert _cost.choose(_cost.predict(n, 1, method, eval_s)) == mode


def test_workers_shorten_the_per_entry_prediction() -> None:
    one = _cost.predict(2_000, 1, "richardson", 5e-3)
    two = _cost.predict(2_000, 1, "richardson", 5e-3, workers=2)
    assert two.entries_s < one.entries_s and two.workers == min(2, _cost.worker_count(2))


# --------------------------------------------------------------------------- check_grad, slow clock
def test_a_slow_loss_is_checked_along_directions_and_the_result_says_why(monkeypatch, capsys) -> None:
    _slow_clock(monkeypatch, 5e-3)  # 2,000 entries x 6 x (5 ms + 10 us) = 60.1 s entry by entry
    r = gradcheck.check_grad(_sq, _sq_grad, np.linspace(-1.0, 1.0, 2_000))
    assert isinstance(r, DirectionalResult) and r.verdict == "pass"
    choice, promise = r.notes[-2:]
    assert choice.startswith("mode='directional' was chosen (mode not given)") and "60.1 s" in choice
    assert "keeps the per-entry promise (every entry" in promise and "mode='entries'" in promise
    assert capsys.readouterr().err == ""  # along directions it is predicted fast: nothing to say


def test_a_slow_per_entry_check_says_so_once_on_stderr(monkeypatch, capsys) -> None:
    _slow_clock(monkeypatch, 5e-3)
    r = gradcheck.check_grad(_sq, _sq_grad, np.linspace(-1.0, 1.0, 2_000), mode="entries")
    assert isinstance(r, GradCheckResult) and r.verdict == "pass"
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    line = err[0]
    assert line.startswith("gradcheck: check_grad of _sq is predicted to take about 60.1 s")
    assert 'mode="directional"' in line and "workers=" in line
    assert any("predicted to take about 60.1 s" in n for n in r.notes)


def test_a_check_that_cannot_go_directional_still_says_it_is_slow(monkeypatch, capsys) -> None:
    _slow_clock(monkeypatch, 5e-3)
    r = gradcheck.check_grad(_sq, _sq_grad, np.linspace(-1.0, 1.0, 2_000), method="central", step=1e-5)
    assert isinstance(r, GradCheckResult)  # a fixed step= has no directional counterpart
    assert capsys.readouterr().err.count("gradcheck: check_grad of _sq is predicted") == 1


def test_a_slow_jacobian_says_so_too(monkeypatch, capsys) -> None:
    _slow_clock(monkeypatch, 0.5)
    gradcheck.check_jacobian(lambda x: x ** 2, lambda x: np.diag(2 * x), np.linspace(1.0, 2.0, 20))
    err = capsys.readouterr().err
    assert err.count("gradcheck: check_jacobian of") == 1 and "workers=" in err


def test_a_slow_directional_check_says_so_once(monkeypatch, capsys) -> None:
    _slow_clock(monkeypatch, 1.0)
    gradcheck.check_grad(_sq, _sq_grad, np.linspace(-1.0, 1.0, 50), mode="directional", directional={"directions": 2})
    err = capsys.readouterr().err
    assert err.count("gradcheck: ") == 1 and "check_grad_directional of _sq is predicted" in err


def test_a_small_check_is_unchanged_by_the_prediction() -> None:
    x = np.array([0.3, -1.2, 2.0])
    auto = gradcheck.check_grad(_sq, _sq_grad, x)
    entries = gradcheck.check_grad(_sq, _sq_grad, x, mode="entries")
    assert isinstance(auto, GradCheckResult) and auto.to_dict() == entries.to_dict()
    assert not any("predicted" in n or "mode=" in n for n in auto.notes)


# --------------------------------------------------------------------------- callers that expect entries
def test_the_report_checks_entry_by_entry_whatever_the_clock_predicts(monkeypatch, tmp_path) -> None:
    """A report's rows must not depend on the machine's load: a loss predicted slow stays per entry there."""
    import json

    from gradcheck.cli import main

    _slow_clock(monkeypatch, 60.0)
    assert main(["report", "--only", "least_squares.*", "--seeds", "1", "--sizes", "default", "--format", "json",
                 "--out", str(tmp_path), "--no-progress", "-q"]) == 0
    report = json.loads((tmp_path / "gradcheck-report.json").read_text(encoding="utf-8"))
    cases = [c for s in report["subjects"] for c in s["cases"]]
    assert cases and all(c["verdict"] == "pass" and "directional" not in (c.get("result") or {}) for c in cases)


def test_a_report_case_takes_a_check_made_along_directions(monkeypatch) -> None:
    """Where a caller's check did go directional (the pytest session's report), the report shows it as such."""
    from gradcheck.report import Case

    _slow_clock(monkeypatch, 60.0)
    result = gradcheck.check_grad(_sq, _sq_grad, np.linspace(1.0, 2.0, 2_000))
    assert isinstance(result, DirectionalResult)
    case = Case(label="slow", seed=0, sizes={}, size_variant="default", expected_correct=True, result=result)
    assert case.verdict == "pass" and case.directional is not None and case.max_rel_error is None


def test_the_pytest_fixture_records_a_check_made_along_directions(pytester) -> None:
    pytester.makeconftest(
        "import itertools\n"
        "import pytest\n"
        "from gradcheck.core import _evaluator\n"
        "@pytest.fixture(autouse=True)\n"
        "def slow(monkeypatch):\n"
        "    ticks = itertools.count(0.0, 60.0)\n"
        "    monkeypatch.setattr(_evaluator, 'perf_counter', lambda: next(ticks))\n")
    pytester.makepyfile(
        "import numpy as np\n"
        "def test_slow(gradcheck):\n"
        "    gradcheck.assert_grad(lambda x: np.sum(x**2), lambda x: 2*x, np.linspace(1.0, 2.0, 2_000))\n")
    result = pytester.runpytest_subprocess("--gradcheck-report=out", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert '"kind": "directional"' in (pytester.path / "out" / "gradcheck-report.json").read_text(encoding="utf-8")
