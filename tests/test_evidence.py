"""A verdict needs evidence: where a check cannot resolve what it is asked, it says
``inconclusive`` and why, never ``ok``. Each case here passed as ``ok`` on an earlier core."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import gradcheck as gc


def expsum(x: Any) -> float:
    return float(np.sum(np.exp(x)))


def wrong_by_2(x: Any) -> Any:
    return 2 * np.exp(x)


# --------------------------------------------------------------------------- steps that resolve nothing
@pytest.mark.parametrize("options", [{"step": 1e-17}, {"step": 1e-17, "rtol": 1e-3}, {"typical": 1e-320, "step": 1e-17},
                                     {"method": "central", "step": 1e-17}])
def test_a_step_that_rounds_away_is_inconclusive_not_ok(options: dict[str, Any]) -> None:
    r = gc.check_grad(expsum, wrong_by_2, np.ones(3), oracle="fd", **options)
    assert not r.ok and r.verdict == "inconclusive"
    assert "rounds away" in r.params["params"].inconclusive
    assert "INCONCLUSIVE" in str(r)


def test_a_step_rounded_away_in_check_jacobian_is_inconclusive() -> None:
    r = gc.check_jacobian(lambda x: np.exp(x), lambda x: np.diag(2 * np.exp(x)), np.ones(3), step=1e-17, oracle="fd")
    assert r.verdict == "inconclusive"
    # the default asks a witness that takes no step, and the slip (a factor 2) is caught
    assert gc.check_jacobian(lambda x: np.exp(x), lambda x: np.diag(2 * np.exp(x)), np.ones(3), step=1e-17).failed


def test_a_tiny_step_with_garbage_estimates_is_inconclusive() -> None:
    r = gc.check_grad(expsum, wrong_by_2, np.ones(3), step=1e-14)
    assert r.verdict in ("inconclusive", "FAIL") and not r.ok
    p = r.params["params"]
    assert p.verdict == "FAIL" or p.resolution > 1e-6


@pytest.mark.parametrize("method", ["complex", "richardson"])
def test_a_typical_magnitude_below_the_float_range_is_inconclusive(method: str) -> None:
    """At x = 0 the step is a fraction of ``typical``: 1e-320 leaves nothing to divide by."""
    r = gc.check_grad(lambda x: np.sum(np.exp(x)), wrong_by_2, np.zeros(3), method=method, typical=1e-320,
                      oracle="fd")
    assert r.verdict == "inconclusive", str(r)


def test_numerical_grad_raises_rather_than_return_nan() -> None:
    with pytest.raises(gc.NonFiniteError, match=r"parameter 'params' is not finite .* index \(0,\): the step rounds away"):
        gc.numerical_grad(expsum, np.ones(3), step=1e-17)


# --------------------------------------------------------------------------- coarse resolution
def test_float32_cannot_promise_1e6_and_says_what_would() -> None:
    x = np.linspace(0.2, 1.0, 5).astype(np.float32)
    r = gc.check_grad(lambda v: np.sum(np.sin(v)), lambda v: np.cos(v) * (1 + 1e-5), x, oracle="fd",
                      resolution=1e-6)
    p = r.params["params"]
    assert r.verdict == "inconclusive" and p.resolution > 1e-6
    assert "float64" in p.inconclusive and "resolution=None" in p.inconclusive
    assert f"resolution {p.resolution:.2g}" in str(r)
    assert gc.check_grad(lambda v: np.sum(np.sin(v)), lambda v: np.cos(v), x, resolution=1e-2).ok


def test_assert_grad_fails_on_inconclusive_unless_relaxed() -> None:
    x = np.linspace(0.2, 1.0, 5).astype(np.float32)
    with pytest.raises(gc.GradientMismatch, match="to make it conclusive"):
        gc.assert_grad(lambda v: np.sum(np.sin(v)), lambda v: np.cos(v), x, oracle="fd")
    gc.assert_grad(lambda v: np.sum(np.sin(v)), lambda v: np.cos(v), x, oracle="fd", resolution=None)
    gc.assert_grad(lambda v: np.sum(np.sin(v)), lambda v: np.cos(v), x)  # against the float64 reference


def test_a_large_loss_with_a_1e6_slip_is_not_ok() -> None:
    r = gc.check_grad(lambda x: 1e8 * expsum(x), lambda x: 1e8 * (1 + 1e-6) * np.exp(x), np.ones(3))
    assert not r.ok


def test_resolution_is_shown_per_parameter() -> None:
    r = gc.check_grad(expsum, np.exp, np.ones(3))
    assert r.ok and f"resolution {r.params['params'].resolution:.2g}" in str(r)
    with pytest.raises(gc.GradientMismatch, match="resolution"):
        gc.assert_grad(expsum, wrong_by_2, np.ones(3))


def test_resolution_option_is_validated() -> None:
    with pytest.raises(gc.InvalidArgumentError, match="resolution=0"):
        gc.check_grad(expsum, np.exp, np.ones(3), resolution=0)


# --------------------------------------------------------------------------- reproducibility
def test_a_loss_that_changes_after_a_few_calls_is_named_not_measured_as_noise() -> None:
    calls = {"n": 0}

    def drifting(x: Any) -> float:
        calls["n"] += 1
        return expsum(x) * (1.0 if calls["n"] <= 5 else 1.001)

    with pytest.raises(gc.NondeterministicLossError, match="at the start and at the end of the check"):
        gc.check_grad(drifting, wrong_by_2, np.ones(3))


# --------------------------------------------------------------------------- the loss's domain
@pytest.mark.parametrize("fn,dfn", [(np.sqrt, lambda v: 0.5 / np.sqrt(v)), (np.log, lambda v: 1 / v)])
def test_positive_parameters_near_zero_are_checked_inside_the_domain(fn: Any, dfn: Any) -> None:
    v = np.array([1e-4, 3e-4, 0.5])
    r = gc.check_grad(lambda p: float(np.sum(fn(p))), dfn, v)
    assert r.ok, str(r)
    assert any("left the loss's domain" in n and "typical" in n for n in r.notes)
    assert gc.check_grad(lambda p: float(np.sum(fn(p))), lambda p: 1.01 * dfn(p), v).failed


# --------------------------------------------------------------------------- kinks shared by entries
@pytest.mark.parametrize("g,verdict", [([1.0, 1.0, 0.0], "FAIL"), ([0.0, 0.0, 0.0], "FAIL"), ([1.0, 0.0, 0.0], "pass"),
                                       ([0.0, 1.0, 0.0], "pass"), ([0.5, 0.5, 0.0], "pass")])
def test_a_vector_that_is_no_subgradient_of_a_max_tie_is_flagged(g: list[float], verdict: str) -> None:
    r = gc.check_grad(lambda v: float(np.max(v)), lambda v: np.array(g), np.array([1.0, 1.0, 0.0]))
    assert r.verdict == verdict, str(r)
    if verdict == "FAIL":
        assert "no subgradient jointly" in r.params["params"].diagnosis


def test_relu_units_on_kinks_with_opposite_downstream_signs_pass_jointly() -> None:
    """Both units at z = 0 feeding the loss with weights +1 and -1: relu'(0) = 1 for both is
    the gradient of the piece z > 0, even though it lies outside [-f'(-d), f'(d)] along some d."""
    x = np.array([1.0, 2.0])
    W = np.array([[0.0, 0.0], [0.0, 0.0]])
    c = np.array([1.0, -1.0])

    def loss(W: Any) -> float:
        return float(c @ np.maximum(W @ x, 0.0) + 0.1 * np.sum(W**2))

    for relu_at_0 in (0.0, 1.0):
        grad = lambda W, s=relu_at_0: np.outer(c * s, x) + 0.2 * W  # noqa: E731
        r = gc.check_grad(loss, grad, W)
        assert r.ok, str(r)
    wrong = lambda W: np.outer(c * [1.0, 0.0], x) * [[1.0, 0.0], [1.0, 1.0]] + 0.2 * W  # noqa: E731
    assert not gc.check_grad(loss, wrong, W).ok


# --------------------------------------------------------------------------- smaller defects
def test_a_loss_returning_a_bool_is_named() -> None:
    with pytest.raises(gc.NonScalarLossError, match="returned bool"):
        gc.check_grad(lambda x: bool(x[0] > 0), lambda x: x, np.ones(2))


@pytest.mark.parametrize("which", ["loss", "grad"])
def test_non_callables_are_invalid_arguments(which: str) -> None:
    args = {"loss": expsum, "grad": np.exp}
    args[which] = 3.0
    with pytest.raises(gc.InvalidArgumentError, match=f"{which}=3.0: expected a function"):
        gc.check_grad(args["loss"], args["grad"], np.ones(2))


def test_the_noise_note_is_made_only_where_the_noise_matters() -> None:
    A, b = np.random.default_rng(0).normal(size=(5, 3)), np.ones((5, 1))
    r = gc.check_grad(lambda x: np.sum((A @ x - b) ** 2), lambda x: 2 * A.T @ (A @ x - b), np.zeros((3, 1)))
    assert r.ok and not any("rounding noise" in n for n in r.notes)
    s = np.array([30.0, 0.0, -5.0])
    ce = lambda v: float(np.logaddexp.reduce(v) - v[0])  # noqa: E731
    r = gc.check_grad(ce, lambda v: np.exp(v - np.logaddexp.reduce(v)) - np.eye(3)[0], s)
    assert any("rounding noise" in n for n in r.notes)
