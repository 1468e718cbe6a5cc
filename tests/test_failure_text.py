"""What a user reads when a gradient check fails under pytest: the traceback, the short
summary line and the session footer; and the headline that opens every failure message."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gradcheck
from gradcheck import check_grad  # noqa: F401  (check_grad loads the core before pytester's runs)
from gradcheck.core import _errors

SUITE = """
import numpy as np
import pytest
import gradcheck

X = np.random.default_rng(1).normal(size=(8, 3))


def loss(p):
    return np.mean(np.tanh(X @ p["W"] + p["b"]) ** 2)


def grad(p):
    a = np.tanh(X @ p["W"] + p["b"])
    d = 2 * a * (1 - a**2) / a.size
    return {"W": X.T @ d, "b": d.sum(axis=0)}


def half_w(p):
    g = grad(p)
    return {"W": g["W"] / 2, "b": g["b"]}


def test_expected_mismatch():
    with pytest.raises(gradcheck.GradientMismatch):
        gradcheck.assert_grad(loss, half_w, {"W": np.ones((3, 4)), "b": np.zeros(4)})


def test_real_failure():
    params = {"W": np.ones((3, 4)), "b": np.zeros(4)}
    gradcheck.assert_grad(loss, half_w, params)  # the user's line
"""

USER_LINE = "gradcheck.assert_grad(loss, half_w, params)  # the user's line"
HEADLINE = "check_grad of loss: 'W' wrong in 12 of 12 entries, max rel err 0.5 (looks like: off by a constant factor*"


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("COLUMNS", "250")  # a wide terminal: the short summary's line is not cut
    for ci in ("CI", "BUILD_NUMBER"):  # on CI pytest prints the whole message, uncut
        monkeypatch.delenv(ci, raising=False)
    pytester.makepyfile(test_user=SUITE)
    return pytester


@pytest.mark.parametrize("tb", ["long", "short"])
def test_traceback_shows_the_users_line_and_the_verdict_not_gradchecks_source(suite: pytest.Pytester, tb: str) -> None:
    result = suite.runpytest("-p", "no:cacheprovider", f"--tb={tb}")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert USER_LINE in out
    result.stdout.fnmatch_lines([f"E   *gradcheck.GradientMismatch: {HEADLINE}"])
    for internal in ("def assert_grad", "result = check_grad(", "raise GradientMismatch", "_api.py", "options = {}"):
        assert internal not in out, internal


def test_exception_is_named_by_its_public_module(suite: pytest.Pytester) -> None:
    out = suite.runpytest("-p", "no:cacheprovider").stdout.str()
    assert "gradcheck.GradientMismatch: check_grad of loss" in out
    assert "gradcheck.core._errors" not in out


def test_short_summary_line_names_the_parameter_and_the_verdict(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-p", "no:cacheprovider", "-ra", "--tb=no")
    result.stdout.fnmatch_lines([f"FAILED test_user.py::test_real_failure - gradcheck.GradientMismatch: {HEADLINE})"])


FOOTER = "gradcheck: 2 checks in 2 tests: 1 FAIL (1 in a failed test), 1 mismatch (0 in failed tests)"


def test_footer_counts_only_the_real_failure_as_in_a_failed_test(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-p", "no:cacheprovider", "--tb=no")
    result.stdout.fnmatch_lines([FOOTER])


def test_footer_counts_failed_tests_across_xdist_workers(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("xdist")
    # The subprocess runs in a temporary directory: a relative PYTHONPATH=. would not find this copy.
    here = str(Path(gradcheck.__file__).resolve().parent.parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")])))
    result = suite.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", "--tb=no")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([FOOTER])


def test_footer_counts_a_check_in_a_test_failing_for_another_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_other="""
        import numpy as np

        def test_fails_after_its_check(gradcheck):
            gradcheck.check_grad(lambda x: float(x @ x), lambda x: 3 * x, np.ones(2))
            assert False, "unrelated"
    """)
    result = pytester.runpytest("-p", "no:cacheprovider", "--tb=no")
    result.stdout.fnmatch_lines(["gradcheck: 1 check in 1 test: 1 mismatch (1 in a failed test)"])


def test_footer_groups_thousands_and_orders_verdicts() -> None:
    from gradcheck.pytest_plugin import footer

    records = ([{"nodeid": f"t{i % 900}", "verdict": "pass"} for i in range(6185)]
               + [{"nodeid": "t1", "verdict": "mismatch"}] * 1200
               + [{"nodeid": "t2", "verdict": "inconclusive", "in_failed_test": True}] * 2)
    line, alarming = footer(records)
    assert line == ("gradcheck: 7,387 checks in 900 tests: 6,185 pass, 1,200 mismatch (0 in failed tests), "
                    "2 inconclusive (2 in failed tests)")
    assert alarming
    assert footer(records[:-2]) == (line.replace("7,387", "7,385").replace(", 2 inconclusive (2 in failed tests)", ""),
                                    False)


# --------------------------------------------------------------------------- the headline itself
A = np.arange(6.0).reshape(3, 2) + 1


def _first_line(exc: pytest.ExceptionInfo[Any]) -> str:
    return str(exc.value).split("\n", 1)[0]


def test_headline_then_the_table() -> None:
    with pytest.raises(gradcheck.GradientMismatch) as info:
        gradcheck.assert_grad(lambda p: float(np.sum(p["w"] ** 2) + np.sum(p["b"])),
                              lambda p: {"w": -2 * p["w"], "b": np.ones(2)}, {"w": np.ones(3), "b": np.zeros(2)})
    head, details = str(info.value).split("\n", 1)
    assert head.startswith("check_grad of <lambda> (") and head.endswith(
        ": 'w' wrong in 3 of 3 entries, max rel err 2 (looks like: sign flipped: analytic = -1 x numerical)")
    assert "parameter 'w' (3,): 3 of 3 entries mismatch" in details and "parameter 'b'" in details
    assert repr(info.value) == f"GradientMismatch({head!r})"


def test_headline_of_several_wrong_parameters_names_them_and_the_worst() -> None:
    with pytest.raises(gradcheck.GradientMismatch) as info:
        gradcheck.assert_grad(lambda p: float(np.sum(p["a"] ** 2) + np.sum(p["b"] ** 2)),
                              lambda p: {"a": 2.5 * p["a"], "b": 3 * p["b"]}, {"a": np.ones(2), "b": np.ones(2)},
                              name="loss")
    assert _first_line(info).startswith("check_grad of loss: 2 of 2 parameters wrong ('a', 'b'); worst 'b' in 2 of 2")


def test_headline_of_an_inconclusive_check_says_why_in_short() -> None:
    def loss(p: dict[str, np.ndarray]) -> float:  # finite only within 5e-9 of the point: no step gives an estimate
        w = p["w"]
        return float(np.sum(w**2) + (0.0 if abs(w[1] - 0.5) < 5e-9 else np.nan))

    with pytest.raises(gradcheck.GradientMismatch) as info:
        gradcheck.assert_grad(loss, lambda p: {"w": 2 * p["w"]}, {"w": np.array([1.0, 0.5])}, name="edge",
                              oracle="fd")
    assert _first_line(info) == "check_grad of edge: inconclusive for 'w': 1 entry have no finite estimate"


def test_headline_of_a_jacobian() -> None:
    with pytest.raises(gradcheck.GradientMismatch) as info:
        gradcheck.assert_jacobian(lambda x: A @ x, lambda x: 2 * A, np.ones(2), name="f")
    assert _first_line(info).startswith("check_jacobian of f: 'x' wrong in 6 of 6 entries, max rel err 0.5")


def test_headline_of_a_hessian_drops_the_run_details() -> None:
    with pytest.raises(gradcheck.GradientMismatch) as info:
        gradcheck.assert_hessian(lambda x: float(np.sum(x**3)), lambda x: np.diag(3 * x), np.ones(2) + 0.5, name="cube")
    head = _first_line(info)
    assert head.startswith("check_hessian of cube: 1 of 1 block wrong; block ('params', 'params') in 2 of 4 entries")
    assert "evaluations" not in head and "tolerance" not in head


# --------------------------------------------------------------------------- public exception classes
def _instance(cls: type[BaseException]) -> BaseException:
    if cls is gradcheck.FormulaError:
        return cls("unknown function 'foo'", text="foo(x)", piece="foo", column=1)
    if cls is gradcheck.GradientMismatch:
        result = gradcheck.check_grad(lambda x: float(x @ x), lambda x: 3 * x, np.ones(2))
        return cls("headline\ndetails", result)
    return cls("parameter 'W' is wrong")


@pytest.mark.parametrize("name", _errors.__all__)
def test_public_exceptions_are_named_by_the_package_and_survive_pickling(name: str) -> None:
    cls = getattr(gradcheck, name)
    assert cls is getattr(_errors, name) and cls.__module__ == "gradcheck"
    exc = _instance(cls)
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is cls and back.args == exc.args and str(back) == str(exc)
    assert {k: v for k, v in vars(back).items() if k != "result"} == {k: v for k, v in vars(exc).items() if k != "result"}
    if cls is gradcheck.GradientMismatch:
        assert back.result == exc.result and back.result.params["params"].max_rel_error == pytest.approx(1 / 3)
        bare = pickle.loads(pickle.dumps(cls("no result")))
        assert bare.result is None and str(bare) == "no result"
    assert repr(back).startswith(f"{name}(")


def test_headline_of_a_hessian_on_a_wrong_gradient_says_what_is_wrong_in_it() -> None:
    with pytest.raises(gradcheck.GradientMismatch) as info:
        gradcheck.assert_hessian(lambda x: float(np.sum(x**3)), lambda x: np.diag(6 * x), np.ones(2) + 0.5,
                                 name="cube", grad=lambda x: 2 * x**2)
    assert _first_line(info).startswith("check_hessian of cube: not judged: the gradient it is built on is wrong: "
                                        "'params' wrong in 2 of 2 entries")


def test_a_hessian_headline_quotes_the_wrong_entries_error() -> None:
    """A Hessian 10% too large is off by 1/11 in its wrong entries, not by 1: its zeros are claimed
    exactly while second differences put rounding there, which is 100% of nothing."""
    M = np.diag([2.0, 3.0, 1.5, 0.5])

    def loss(x):
        return 0.5 * x @ M @ x + np.sum(np.cos(x))

    with pytest.raises(gradcheck.GradientMismatch) as info:
        gradcheck.assert_hessian(loss, lambda x: 1.1 * (M - np.diag(np.cos(x))), np.array([0.3, -0.7, 0.2, 1.1]))
    headline = str(info.value).split("\n", 1)[0]
    assert "4 of 16 entries" in headline and "max rel err 0.091" in headline, headline
