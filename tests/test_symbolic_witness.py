"""check_grad(oracle=...): the exact derivative of the same loss code as the judge's oracle or as a second witness."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck as gc

A = np.random.default_rng(0).normal(size=(5, 3))
B = np.ones((5, 1))
X0 = np.array([[0.3], [-0.2], [0.5]])


def loss(x: np.ndarray) -> float:
    return np.sum((A @ x - B) ** 2)


def grad(x: np.ndarray) -> np.ndarray:
    return 2 * A.T @ (A @ x - B)


def test_both_oracles_agree_on_a_right_gradient_and_say_so() -> None:
    r = gc.check_grad(loss, grad, X0, oracle="both")
    assert r.ok and r.params["params"].symbolic.startswith("pass")
    assert "symbolic: pass" in str(r)


def test_the_exact_oracle_alone_catches_a_transpose_slip_with_three_evaluations() -> None:
    W = np.random.default_rng(1).normal(size=(3, 3))
    X = np.random.default_rng(2).normal(size=(4, 3))
    f = lambda W: float(np.sum(np.tanh(X @ W) ** 2))  # noqa: E731
    g = lambda W: X.T @ (2 * np.tanh(X @ W) * (1 - np.tanh(X @ W) ** 2))  # noqa: E731
    right = gc.check_grad(f, g, W, oracle="symbolic")
    assert right.ok and right.method.startswith("symbolic") and right.n_evaluations == 3
    wrong = gc.check_grad(f, lambda W: g(W).T, W, oracle="symbolic")
    assert wrong.failed and "transposed" in wrong.params["params"].diagnosis


def test_a_symbolic_fail_fails_the_check_even_where_differences_pass() -> None:
    """At a max tie the exact oracle's one-sided derivatives bound each entry; [2, 0, 0] is outside."""
    r = gc.check_grad(lambda v: float(np.max(v)), lambda v: np.array([2.0, 0.0, 0.0]), np.array([1.0, 1.0, 0.0]),
                      oracle="both")
    assert r.failed


def test_code_that_does_not_run_on_symbols_gets_na_with_the_reason() -> None:
    f = lambda x: float(np.sum(np.fft.fft(x).real))  # noqa: E731
    r = gc.check_grad(f, lambda x: np.array([3.0, 0.0, 0.0]), np.ones(3), oracle="both")
    assert r.params["params"].symbolic.startswith("n/a:") and "fft" in r.params["params"].symbolic
    with pytest.raises(gc.SymbolicUnsupportedError, match="oracle='symbolic' cannot check"):
        gc.check_grad(f, lambda x: np.array([3.0, 0.0, 0.0]), np.ones(3), oracle="symbolic")


def test_the_oracle_option_is_validated_and_survives_serialisation() -> None:
    with pytest.raises(gc.InvalidArgumentError, match="oracle='sympy'"):
        gc.check_grad(loss, grad, X0, oracle="sympy")
    r = gc.check_grad(loss, grad, X0, oracle="both")
    assert gc.GradCheckResult.from_dict(r.to_dict()).params["params"].symbolic == r.params["params"].symbolic
