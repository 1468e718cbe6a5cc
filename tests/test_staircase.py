"""Losses that round on a grid coarser than their own (a staircase) the noise probe does not see.

The probe moves every parameter by 1e-10 of its scale. One term of a sum rounded on a coarse grid
(``log(1 - s)`` at a saturated s moves in stairs of 1.5e-7 at z = 20) does not move at all there,
while the other terms do, so the loss looks smooth and exact. Its stencil then looked unclean, the
step was cut by 16 until the loss no longer moved, and the estimate 0 came with a bar of 3e-6
against a true slope of 0.14..0.42: check_grad called a correct gradient wrong (benchmarks/
hard_cases.py, ``sigmoid_asarray_bce_f64`` and ``sigmoid_where_bce_f64``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import gradcheck as gc


def _saturated_bce(form: str) -> tuple[Callable, Callable, dict[str, np.ndarray]]:
    """hard_cases' saturated sigmoid layer with cross-entropy written with log(s) and log(1 - s),
    seed 0 (draws [0, 2, 3] for ``asarray``, [0, 2, 4] for ``where``): three of four units at
    |z| ~ 20, the hand gradient verified there against mpmath."""
    rng = np.random.default_rng([0, 2, {"asarray": 3, "where": 4}[form]])
    X = rng.normal(size=(6, 3)) * 0.3
    W = rng.normal(size=(3, 4)) * 0.2
    b = np.array([20.0, -20.0, 0.3, 21.0]) * rng.choice([-1, 1], 4)
    b[2] = 0.3
    Y = (rng.uniform(size=(6, 4)) < 0.5).astype(float)

    if form == "asarray":
        def sigmoid(z):
            return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))
    else:
        def sigmoid(z):
            with np.errstate(over="ignore"):
                return np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))

    def loss(p):
        s = sigmoid(X @ p["W"] + p["b"])
        return -np.sum(Y * np.log(s) + (1 - Y) * np.log(1 - s))

    def grad(p):
        dz = sigmoid(X @ p["W"] + p["b"]) - Y
        return {"W": X.T @ dz, "b": dz.sum(axis=0)}
    return loss, grad, {"W": W, "b": b}


@pytest.mark.parametrize("form", ["asarray", "where"])
def test_a_saturated_cross_entropy_is_never_called_wrong(form: str) -> None:
    loss, grad, params = _saturated_bce(form)
    assert not gc.check_grad(loss, grad, params).failed  # whatever witness settles it
    result = gc.check_grad(loss, grad, params, oracle="fd")  # the differences' own bars, below
    assert not result.failed, result.summary()
    for p in result.inconclusive:
        assert p.inconclusive, p.name
    true = grad(params)
    for name, p in result.params.items():
        err = np.abs(p.arrays.numeric - true[name])
        # every estimate within its own bar: the 0 of a frozen stencil was 0.42 off with a bar of 3e-6
        assert np.all(err <= p.arrays.error_estimate), (name, err / p.arrays.error_estimate)


@pytest.mark.parametrize("form", ["asarray", "where"])
def test_a_slip_of_1e3_where_resolved_is_still_caught_alone(form: str) -> None:
    loss, grad, params = _saturated_bce(form)
    arrays = gc.check_grad(loss, grad, params).params["W"].arrays
    true = grad(params)["W"]
    # the entry the check resolves best, relative to its value: a slip of 1e-3 there is 10 tolerances or more
    rel = arrays.tolerances / np.abs(true)
    at = np.unravel_index(int(np.argmin(rel)), true.shape)
    assert rel[at] < 1e-4

    def slipped(p: dict[str, np.ndarray]) -> dict[str, Any]:
        g = grad(p)
        g["W"] = g["W"].copy()
        g["W"][at] *= 1 + 1e-3
        return g
    result = gc.check_grad(loss, slipped, params)
    assert result.failed, result.summary()
    # the slip and nothing else: before, the saturated column's zeros were wrong beside it
    assert [e.index for e in result.params["W"].mismatches] == [tuple(int(i) for i in at)], result.summary()
    assert not result.params["b"].mismatches, result.summary()


_A = np.random.default_rng(7).normal(size=(6, 3)) * 0.3


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _log_one_minus_sigmoid(z0: float) -> tuple[Callable, Callable, Any]:
    """Six ``log(1 - sigmoid(z))`` terms at z ~ z0, rounded in stairs of eps / e^-z0 (1.5e-7 at
    20, 1.2e-3 at 30), beside cos terms of other parameters that keep the noise probe moving."""
    def loss(p):
        return -np.sum(np.log(1 - _sigmoid(_A @ p["w"] + z0))) + np.sum(np.cos(p["v"]))

    def grad(p):
        return {"w": _A.T @ _sigmoid(_A @ p["w"] + z0), "v": -np.sin(p["v"])}
    return loss, grad, {"w": np.array([0.2, -0.4, 0.1]), "v": np.array([0.3, 0.7])}


def _log1p_tiny() -> tuple[Callable, Callable, Any]:
    """``log(1 + 1e-7 x)`` moves in stairs of eps, 1e-9 of its slope's share, beside a smooth term."""
    def loss(x):
        return np.sum(np.log(1 + 1e-7 * x)) + 0.5 * np.sum(x[:2] ** 2)

    def grad(x):
        return 1e-7 / (1 + 1e-7 * x) + np.r_[x[:2], 0.0, 0.0]
    return loss, grad, np.array([0.5, -1.3, 2.0, 3.7])


def _float32_loss() -> tuple[Callable, Callable, Any]:
    """A loss computed in float32 from float64 parameters: stairs of 9.5e-7 at |f| ~ 10."""
    def loss(x):
        return float(np.float32(np.sum(np.sin(x)) + 10.0))

    def grad(x):
        return np.cos(x)
    return loss, grad, np.array([0.4, -1.1, 2.3])


def _float32_beside_float64() -> tuple[Callable, Callable, Any]:
    """The float32 loss plus a float64 term in the same parameters, which keeps every stencil moving."""
    def loss(x):
        return float(np.float32(np.sum(np.sin(x)) + 10.0)) + 1e-3 * np.sum(x ** 2)

    def grad(x):
        return np.cos(x) + 2e-3 * x
    return loss, grad, np.array([0.4, -1.1, 2.3])


STAIRCASES = {**{f"log1m_sigmoid_z{z}": (lambda z=z: _log_one_minus_sigmoid(z)) for z in (15, 20, 25, 30)},
              "log1p_1e-7x": _log1p_tiny, "float32_loss": _float32_loss}


def _worst_ratio(make: Callable[[], tuple[Callable, Callable, Any]]) -> float:
    loss, grad, x = make()
    est = gc.numerical_grad(loss, x)
    true = grad(x)
    names = list(x) if isinstance(x, dict) else [None]

    def pick(a: Any, n: str | None) -> np.ndarray:
        return np.asarray(a if n is None else a[n], dtype=float)
    return max(float(np.max(np.abs(pick(est.value, n) - pick(true, n)) / pick(est.error, n))) for n in names)


@pytest.mark.parametrize("name", list(STAIRCASES))
def test_no_staircase_estimate_is_off_by_more_than_ten_of_its_bars(name: str) -> None:
    # before: 2e4 bars off at z = 20, 4e6 at 25, 3e8 at 30 (the estimate 0, a slope of 0.2..0.6)
    assert _worst_ratio(STAIRCASES[name]) <= 10.0


@pytest.mark.xfail(strict=True, reason="a staircase beside a float64 term in the same parameter never freezes a "
                                       "stencil; refinement still lands on a stair (the estimate is the float64 "
                                       "term's slope alone), a known gap")
def test_a_float32_staircase_beside_a_float64_term() -> None:
    assert _worst_ratio(_float32_beside_float64) <= 10.0
