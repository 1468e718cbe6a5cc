"""Diagnoses of slips of relative size 1e-8: a float32 intermediate, one small relative error everywhere.

They can fire only where a check flags a 1e-8 slip: here complex step (exact to rounding) with a
fixed relative tolerance of 1e-9 does, on a loss that allows it; the functions are also tested
directly on arrays, where their conditions can be set one at a time."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.judge._diagnose import float32_rounding, relative_error_across_the_board

RNG = np.random.default_rng(11)
A, B = RNG.normal(size=(6, 4)), RNG.normal(size=6)


def loss(v: Any) -> Any:
    return np.sum(np.tanh(A @ v - B) ** 2)


def grad(v: Any) -> Any:
    t = np.tanh(A @ v - B)
    return A.T @ (2 * t * (1 - t * t))


def _tight(g: Any, x: np.ndarray) -> gc.GradCheckResult:
    return gc.check_grad(loss, g, x, method="complex", rtol=1e-9, atol=0.0)


@pytest.mark.parametrize("seed", range(3))
def test_a_float32_intermediate_is_named_on_a_real_check(seed: int) -> None:
    x = np.random.default_rng(seed).normal(size=4)
    assert _tight(grad, x).ok
    r = _tight(lambda v: grad(v).astype(np.float32).astype(np.float64), x)
    assert r.failed
    assert "an intermediate passes through float32" in r.params["params"].diagnosis


@pytest.mark.parametrize("k", [1, 3, 10])
def test_a_stray_epsilon_is_named_on_a_real_check(k: int) -> None:
    x = np.random.default_rng(k).normal(size=4)
    r = _tight(lambda v: grad(v) / (1 + k * 1e-8), x)
    d = r.params["params"].diagnosis
    assert r.failed and "across the board" in d and d.endswith("(a stray epsilon or a rounded constant?)")
    assert f"~{k * 1e-8:.0e}" in d and f"analytic = {1 / (1 + k * 1e-8):.10g} x numerical" in d


def test_a_norm_divided_by_norm_plus_epsilon_is_named() -> None:
    x = np.random.default_rng(4).normal(size=4)
    b = A @ x - np.ones(6) / np.sqrt(6)  # ||r|| = 1 here: the epsilon is a relative 1e-8

    def norm(v: Any) -> Any:
        r = A @ v - b
        return np.sqrt(np.sum(r * r))

    def eps_grad(v: Any) -> Any:
        r = A @ v - b
        return A.T @ r / (np.sqrt(np.sum(r * r)) + 1e-8)
    r = gc.check_grad(norm, eps_grad, x, method="complex", rtol=1e-9, atol=0.0)
    assert "~1e-08 across the board" in r.params["params"].diagnosis


# --------------------------------------------------------------------------- the functions on arrays
def _arrays(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    n = np.random.default_rng(seed).normal(size=(3, 4))
    return n, np.ones(n.shape, dtype=bool)


def test_float32_rounding_needs_every_analytic_value_a_float32() -> None:
    n, bad = _arrays()
    a = n.astype(np.float32).astype(np.float64)
    assert "passes through float32" in float32_rounding(a, n, bad)
    a2 = a.copy()
    a2[0, 0] = n[0, 0] * (1 + 1e-8)  # one float64 value among them: not a float32 intermediate
    assert float32_rounding(a2, n, bad) is None
    assert float32_rounding(a, n, np.zeros_like(bad)) is None  # nothing wrong: nothing to explain


def test_float32_rounding_is_not_claimed_for_a_wrong_value_that_happens_to_be_a_float32() -> None:
    n, bad = _arrays(1)
    assert float32_rounding(np.round(1.5 * n), n, bad) is None  # integers are float32s, but 50% off
    n32 = n.astype(np.float32).astype(np.float64)
    assert float32_rounding(n32 * 2, n32, bad) is None  # the numbers themselves are float32s


def test_across_the_board_names_one_factor_or_a_spread() -> None:
    n, bad = _arrays(2)
    one = relative_error_across_the_board(n * (1 + 2e-8), n, bad)
    assert "~2e-08 across the board (analytic = 1.00000002 x numerical)" in one
    spread = relative_error_across_the_board(n * (1 + 1e-8 * np.random.default_rng(3).uniform(1, 5, n.shape)), n, bad)
    assert "across the board," in spread and "x numerical" not in spread


def test_across_the_board_is_not_claimed_for_large_or_local_errors() -> None:
    n, bad = _arrays(4)
    assert relative_error_across_the_board(n * (1 + 1e-6), n, bad) is None  # the promised 1e-6: a factor
    local = n.copy()
    local[0, 0] *= 1 + 1e-8  # one entry: the rest exact
    assert relative_error_across_the_board(local, n, bad) is None
    few = np.zeros_like(bad)
    few[0, 0] = True  # noise of 1e-8 everywhere, but only one entry judged wrong: the numerical side's noise
    assert relative_error_across_the_board(n * (1 + 1e-8), n, few) is None
