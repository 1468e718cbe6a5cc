"""The pytest plugin, driven through pytester: fixture, report option, JUnit properties, xdist merge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import gradcheck
from gradcheck import check_grad  # noqa: F401

# Importing check_grad loads the core here, before pytester's in-process runs: each run
# restores sys.modules afterwards, and a core first imported inside one run would be
# imported again in the next, its classes no longer those the package already handed out.

PACKAGE = str(Path(gradcheck.__file__).resolve().parent)

TESTS = """
import numpy as np
import pytest

A = np.arange(6.0).reshape(3, 2) + 1


def loss(x):
    return float(np.sum((A @ x) ** 2))


def grad(x):
    return 2 * A.T @ (A @ x)


def scaled(x):
    return 2.002 * A.T @ (A @ x)


def f(x):
    return A @ x


def jac(x):
    return A


def test_right(gradcheck):
    result = gradcheck.assert_grad(loss, grad, np.ones(2))
    assert result.ok and len(gradcheck.results) == 1


def test_wrong_is_caught(gradcheck):
    assert not gradcheck.check_grad(loss, scaled, np.ones(2)).ok


def test_wrong_fails(gradcheck):
    gradcheck.assert_grad(loss, scaled, np.ones(2))


def test_jacobian(gradcheck):
    gradcheck.assert_jacobian(f, jac, np.ones(2))
    gradcheck.check_jacobian(f, jac, np.ones(2), name="linear map")
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_grads=TESTS)
    return pytester


def test_fixture_records_and_writes_the_report(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--gradcheck-report=out", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*GradientMismatch*", "*off by a constant factor*",
                                 "gradcheck: 5 checks in 4 tests: 3 pass, 1 FAIL (1 in a failed test), 1 mismatch (0 in failed tests)",
                                 "gradcheck: wrote out*gradcheck-report.md"])
    out = suite.path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["gradcheck-report.html", "gradcheck-report.json", "gradcheck-report.md"]
    data = json.loads((out / "gradcheck-report.json").read_text())
    assert data["origin"] == "pytest"
    assert [(s["name"], s["verdict"]) for s in data["subjects"]] == [
        ("test_grads.py::test_jacobian [f]", "pass"),
        ("test_grads.py::test_jacobian [linear map]", "pass"),
        ("test_grads.py::test_right [loss]", "pass"),
        ("test_grads.py::test_wrong_fails [loss]", "fail"),
        ("test_grads.py::test_wrong_is_caught [loss]", "mismatch"),
    ]
    md = (out / "gradcheck-report.md").read_text()
    assert "test_wrong_fails" in md and "❌ FAIL" in md


def test_no_report_without_the_option(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-p", "no:cacheprovider", "-k", "right")
    result.assert_outcomes(passed=1, deselected=3)
    assert not (suite.path / "out").exists()
    result.stdout.fnmatch_lines(["gradcheck: 1 check in 1 test: 1 pass"])


def test_junit_xml_carries_per_check_properties(suite: pytest.Pytester) -> None:
    suite.runpytest("--junitxml=junit.xml", "-p", "no:cacheprovider")
    root = ET.parse(suite.path / "junit.xml").getroot()
    props = {case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")} for case in root.iter("testcase")}
    assert props["test_wrong_fails"]["gradcheck.0.verdict"] == "fail"
    assert props["test_wrong_is_caught"]["gradcheck.0.verdict"] == "mismatch"
    assert float(props["test_wrong_is_caught"]["gradcheck.0.max_rel_error"]) == pytest.approx(0.001, rel=0.05)
    assert props["test_jacobian"]["gradcheck.1.function"] == "linear map"


def test_bad_report_format_is_an_error(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--gradcheck-report=out", "--gradcheck-format=pdf", "-p", "no:cacheprovider", "-k", "right")
    assert "--format='pdf': unknown format 'pdf'" in result.stdout.str() + result.stderr.str()


def test_xdist_workers_records_are_merged(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("xdist")
    # The subprocess runs in a temporary directory: a relative PYTHONPATH=. would test another copy.
    here = str(Path(PACKAGE).parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")])))
    result = suite.runpytest_subprocess("-n", "2", "--gradcheck-report=out", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    data = json.loads((suite.path / "out" / "gradcheck-report.json").read_text())
    assert data["summary"]["n_cases"] == 5
    assert data["summary"]["counts"] == {"fail": 1, "mismatch": 1, "pass": 3}


def test_plugin_module_imports_nothing_heavy() -> None:
    code = ("import sys; import gradcheck.pytest_plugin; "
            "print(sorted(m for m in ('matplotlib', 'sympy', 'jinja2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "[]"


# --------------------------------------------------------------------------- checks made without the fixture
PLAIN = """
import numpy as np
import gradcheck

X = np.random.default_rng(1).normal(size=(8, 3))


def loss(p):                                   # the README's pytest example, as written there
    return np.mean(np.tanh(X @ p["W"] + p["b"]) ** 2)


def grad(p):
    a = np.tanh(X @ p["W"] + p["b"])
    d = 2 * a * (1 - a**2) / a.size
    return {"W": X.T @ d, "b": d.sum(axis=0)}


def doubled(p):
    return {k: 2 * v for k, v in grad(p).items()}


def build():
    return lambda x: float(np.sum(x ** 2))


def test_tanh_layer_gradient():
    params = {"W": np.ones((3, 4)), "b": np.zeros(4)}
    gradcheck.assert_grad(loss, grad, params)


def test_plain_assert_that_fails():
    gradcheck.assert_grad(loss, doubled, {"W": np.ones((3, 4)), "b": np.zeros(4)})


def test_plain_check_of_a_nested_lambda():
    assert gradcheck.check_grad(build(), lambda x: 2 * x, np.ones(3)).ok


def test_fixture_names_a_lambda_by_its_line(gradcheck):
    gradcheck.assert_grad(build(), lambda x: 2 * x, np.ones(3))
"""


def test_checks_made_without_the_fixture_are_recorded_and_reported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain=PLAIN)
    result = pytester.runpytest("--gradcheck-report=out", "--gradcheck-format=json", "--junitxml=junit.xml",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["gradcheck: 4 checks in 4 tests: 3 pass, 1 FAIL (1 in a failed test)", "gradcheck: wrote out*"])
    data = json.loads((pytester.path / "out" / "gradcheck-report.json").read_text())
    names = {s["name"]: s["verdict"] for s in data["subjects"]}
    line = (pytester.path / "test_plain.py").read_text().splitlines().index("def build():") + 2
    assert names.pop("test_plain.py::test_tanh_layer_gradient [loss]") == "pass"
    assert names.pop("test_plain.py::test_plain_assert_that_fails [loss]") == "fail"  # assert_grad, not a mismatch
    assert names.pop(f"test_plain.py::test_fixture_names_a_lambda_by_its_line [<lambda> (test_plain.py:{line})]") == "pass"
    ((lambda_subject, verdict),) = names.items()  # the plain check of the lambda: short, whatever the core calls it
    assert lambda_subject.startswith("test_plain.py::test_plain_check_of_a_nested_lambda [<lambda>")
    assert "<locals>" not in lambda_subject and verdict == "pass"
    root = ET.parse(pytester.path / "junit.xml").getroot()
    props = {case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")} for case in root.iter("testcase")}
    assert props["test_tanh_layer_gradient"] == {"gradcheck.0.function": "loss", "gradcheck.0.verdict": "pass",
                                                 "gradcheck.0.max_rel_error": props["test_tanh_layer_gradient"]["gradcheck.0.max_rel_error"]}
    assert props["test_plain_assert_that_fails"]["gradcheck.0.verdict"] == "fail"
    assert float(props["test_plain_assert_that_fails"]["gradcheck.0.max_rel_error"]) == pytest.approx(0.5, rel=0.01)


def test_fixture_checks_are_recorded_once(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-p", "no:cacheprovider", "-k", "jacobian", "--junitxml=junit.xml")
    result.stdout.fnmatch_lines(["gradcheck: 2 checks in 1 test: 2 pass"])
    root = ET.parse(suite.path / "junit.xml").getroot()
    names = [p.get("name") for p in root.iter("property")]
    assert names == ["gradcheck.0.function", "gradcheck.0.verdict", "gradcheck.0.max_rel_error",
                     "gradcheck.1.function", "gradcheck.1.verdict", "gradcheck.1.max_rel_error"]


def test_checks_in_fixture_teardown_count_for_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_teardown="""
        import numpy as np
        import pytest
        import gradcheck

        @pytest.fixture
        def checked_after():
            yield
            gradcheck.assert_grad(lambda x: float(np.sum(x ** 2)), lambda x: 2 * x, np.ones(2))

        def test_uses_it(checked_after):
            pass
    """)
    result = pytester.runpytest("-p", "no:cacheprovider", "--junitxml=junit.xml")
    result.stdout.fnmatch_lines(["gradcheck: 1 check in 1 test: 1 pass"])
    props = [p.get("name") for p in ET.parse(pytester.path / "junit.xml").getroot().iter("property")]
    assert "gradcheck.0.verdict" in props


# --------------------------------------------------------------------------- import cost
def _modules_after(code: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> list[str]:
    probe = "; print(sorted(m for m in ('numpy', 'gradcheck.checks._first_order', 'gradcheck.report', 'matplotlib', 'sympy') " \
            "if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", "import sys; " + code + probe], capture_output=True, text=True,
                         timeout=120, env=env, cwd=cwd)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1].replace("'", '"'))


def test_importing_the_plugin_does_not_import_numpy() -> None:
    assert _modules_after("import gradcheck.pytest_plugin") == []


def test_the_plugin_loads_nothing_heavy_through_a_whole_session(tmp_path: Path) -> None:
    """The plugin's own code, apart from gradcheck/__init__.py: import, configure, run a test, summarise."""
    (tmp_path / "test_unrelated.py").write_text("def test_nothing():\n    assert True\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    code = (f"import types; pkg = types.ModuleType('gradcheck'); pkg.__path__ = [{PACKAGE!r}]; "
            "sys.modules['gradcheck'] = pkg; import pytest; "
            "assert pytest.main(['-q', '-p', 'gradcheck.pytest_plugin', '-p', 'no:cacheprovider']) == 0")
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    assert _modules_after(code, env=env, cwd=tmp_path) == []


def test_malformed_source_date_epoch_stops_the_session_before_the_tests(suite: pytest.Pytester,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "tomorrow")
    result = suite.runpytest("--gradcheck-report=out", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--gradcheck-report: SOURCE_DATE_EPOCH='tomorrow': expected whole seconds" in result.stderr.str()
    assert not (suite.path / "out").exists()


def test_junit_properties_stop_at_a_cap_and_give_the_total(pytester: pytest.Pytester) -> None:
    from gradcheck.pytest_plugin import MAX_PROPERTY_CHECKS

    n = MAX_PROPERTY_CHECKS + 3
    pytester.makepyfile(test_many=f"""
        import numpy as np
        import gradcheck

        def test_many_checks():
            for _ in range({n}):
                gradcheck.check_grad(lambda x: float(x @ x), lambda x: 2 * x, np.ones(1), method="forward",
                                     resolution=None)
    """)
    result = pytester.runpytest("-p", "no:cacheprovider", "--junitxml=junit.xml")
    result.stdout.fnmatch_lines([f"gradcheck: {n} checks in 1 test: {n} pass"])
    props = {p.get("name"): p.get("value") for p in ET.parse(pytester.path / "junit.xml").getroot().iter("property")}
    assert f"gradcheck.{MAX_PROPERTY_CHECKS - 1}.verdict" in props and f"gradcheck.{MAX_PROPERTY_CHECKS}.verdict" not in props
    assert props["gradcheck.checks"] == str(n)
