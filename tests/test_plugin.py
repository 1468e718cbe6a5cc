"""The pytest plugin, driven through pytester: fixture, report option, JUnit properties, xdist merge."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

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
                                 "gradcheck: 5 checks in 4 tests (1 fail, 1 mismatch, 3 pass)",
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
    result.stdout.fnmatch_lines(["gradcheck: 1 checks in 1 tests (1 pass)"])


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


def test_xdist_workers_records_are_merged(suite: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
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
