"""check_grad / check_jacobian / assert_*: the checker tested on broken twins and hard correct cases."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from _losses import assert_no_false_alarm, class0_cross_entropy, class0_cross_entropy_grad

import gradcheck as gc
from gradcheck.ops import numpy_ops as xp

# --------------------------------------------------------------------------- losses under test
rng0 = np.random.default_rng(0)
A = rng0.normal(size=(6, 4))
B = rng0.normal(size=(6, 1))
X = rng0.normal(size=(7, 4))
T = rng0.normal(size=(7, 4))
Y = np.eye(3)[rng0.integers(0, 3, size=7)]


def ls_loss(x: np.ndarray) -> float:
    return float(np.sum((A @ x - B) ** 2))


def ls_grad(x: np.ndarray) -> np.ndarray:
    return 2 * A.T @ (A @ x - B)


def linear_loss(W: np.ndarray) -> float:
    """0.5 ||X W - T||^2 with a square W (4x4), so a transposed gradient still has the right shape."""
    return 0.5 * float(np.sum((X @ W - T) ** 2))


def linear_grad(W: np.ndarray) -> np.ndarray:
    return X.T @ (X @ W - T)


def mlp_loss(p: dict[str, np.ndarray]) -> float:
    h = np.tanh(X @ p["W1"] + p["b1"])
    z = h @ p["W2"]
    return float(np.mean(np.sum(-Y * xp.log_softmax(z), axis=1)))


def mlp_grad(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    h = np.tanh(X @ p["W1"] + p["b1"])
    z = h @ p["W2"]
    dz = (xp.softmax(z) - Y) / X.shape[0]
    dh = dz @ p["W2"].T * (1 - h**2)
    return {"W1": X.T @ dh, "b1": dh.sum(axis=0), "W2": h.T @ dz}


def mlp_params(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"W1": rng.normal(size=(4, 5)), "b1": rng.normal(size=5), "W2": rng.normal(size=(5, 3))}


CASES: dict[str, tuple[Callable[[Any], float], Callable[[Any], Any], Callable[[int], Any]]] = {
    "least_squares": (ls_loss, ls_grad, lambda s: np.random.default_rng(s).normal(size=(4, 1))),
    "linear_square": (linear_loss, linear_grad, lambda s: np.random.default_rng(s).normal(size=(4, 4))),
    "tanh_softmax_mlp": (mlp_loss, mlp_grad, mlp_params),
}


def _map(g: Any, f: Callable[[str, np.ndarray], np.ndarray]) -> Any:
    return {k: f(k, v) for k, v in g.items()} if isinstance(g, dict) else f("params", g)


def _scale(g: np.ndarray) -> float:
    return float(np.abs(g).max())


def one_entry_off(rel: float) -> Callable[[str, np.ndarray], np.ndarray]:
    def mutate(name: str, g: np.ndarray) -> np.ndarray:
        g = g.copy()
        g.flat[g.size // 2] += rel * _scale(g)
        return g

    return mutate


MUTANTS: dict[str, Callable[[str, np.ndarray], np.ndarray]] = {
    "factor_2": lambda k, g: 2 * g,
    "factor_half": lambda k, g: 0.5 * g,
    "sign_flip": lambda k, g: -g,
    "scaled_1e-6": lambda k, g: g * (1 + 1e-6),
    "one_entry_off_1e-6": one_entry_off(1e-6),
    "one_entry_off_large": one_entry_off(0.3),
}


# --------------------------------------------------------------------------- correct ones pass
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("method", ["richardson", "central"])
def test_correct_gradients_pass(case: str, seed: int, method: str) -> None:
    loss, grad, make = CASES[case]
    result = gc.check_grad(loss, grad, make(seed), method=method)
    assert result.ok, result.summary()


# --------------------------------------------------------------------------- broken twins are flagged
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("mutant", sorted(MUTANTS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_twins_are_flagged(case: str, mutant: str, seed: int) -> None:
    loss, grad, make = CASES[case]
    mutate = MUTANTS[mutant]
    result = gc.check_grad(loss, lambda p: _map(grad(p), mutate), make(seed))
    assert not result.ok
    assert all(not r.ok for r in result.params.values())  # every parameter was mutated


@pytest.mark.parametrize("seed", range(3))
def test_transposed_square_gradient_is_flagged_and_diagnosed(seed: int) -> None:
    loss, grad, make = CASES["linear_square"]
    result = gc.check_grad(loss, lambda W: grad(W).T, make(seed))
    assert not result.ok
    assert "transposed" in result.params["params"].diagnosis


@pytest.mark.parametrize(("mutant", "expected"), [
    ("factor_2", "analytic = 2 x numerical"),
    ("factor_half", "analytic = 1/2 x numerical"),
    ("sign_flip", "sign flipped"),
    ("scaled_1e-6", "analytic = 1.000001 x numerical"),
    ("one_entry_off_large", "1 of 16 entries wrong"),
])
def test_diagnosis_names_the_mistake(mutant: str, expected: str) -> None:
    loss, grad, make = CASES["linear_square"]
    result = gc.check_grad(loss, lambda W: MUTANTS[mutant]("params", grad(W)), make(1))
    assert expected in result.params["params"].diagnosis


@pytest.mark.parametrize(("c", "expected"), [
    (2.0, "analytic = 2 x numerical"),
    (1 / 3, "analytic = 1/3 x numerical"),
    (-1.0, "sign flipped"),
    (np.pi, "analytic = 3.14"),        # float32 tolerances also fit 22/7 and 201/64: name neither
    (1.2345, "analytic = 1.234"),
])
def test_float32_factors_are_named_as_fractions_only_when_close(c: float, expected: str) -> None:
    x = np.array([0.3, 0.5, 1.0], dtype=np.float32)
    result = gc.check_grad(lambda v: float(np.sum(np.sin(v))), lambda v: c * np.cos(v), x)
    assert expected in result.params["params"].diagnosis


@pytest.mark.parametrize("garbage", [1e300, 1e308])
def test_huge_analytic_values_are_diagnosed_without_overflow(garbage: float) -> None:
    """Left-over np.empty memory: Fraction(inf) raised, and k * numeric overflowed with a warning."""
    x = np.array([0.3, 0.5, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = gc.check_grad(lambda v: float(np.sum(np.sin(v))), lambda v: np.full(v.shape, garbage), x)
    assert not result.ok and result.params["params"].diagnosis


def test_zeroed_row_is_diagnosed_as_a_row() -> None:
    loss, grad, make = CASES["linear_square"]

    def zero_row(W: np.ndarray) -> np.ndarray:
        g = grad(W).copy()
        g[2] = 0.0
        return g

    result = gc.check_grad(loss, zero_row, make(0))
    assert "row(s) [2]" in result.params["params"].diagnosis


def test_only_the_wrong_parameter_is_flagged() -> None:
    def grad(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        g = mlp_grad(p)
        return {**g, "b1": g["b1"] * 2}

    result = gc.check_grad(mlp_loss, grad, mlp_params(0))
    assert not result.ok
    assert [r.name for r in result.failures] == ["b1"]


# --------------------------------------------------------------------------- hard correct cases
def test_badly_scaled_parameters_pass_and_a_1e6_slip_is_still_caught() -> None:
    x = np.array([[1e-6], [1e6], [-3e-6], [2e6]])
    assert_no_false_alarm(gc.check_grad(ls_loss, ls_grad, x))
    assert gc.check_grad(ls_loss, lambda v: ls_grad(v) * (1 + 1e-6), x).failed


def test_badly_scaled_nonlinear_loss_passes() -> None:
    w = np.array([0.3, -1.2, 2.0, 0.7])
    x = np.array([1e-6, 1e6, -3e-6, 0.5])
    result = gc.check_grad(lambda v: np.sum(w * np.log1p(v**2)), lambda v: w * 2 * v / (1 + v**2), x)
    assert result.ok, result.summary()


@pytest.mark.parametrize("seed", range(5))
def test_loss_of_magnitude_1e8_passes(seed: int) -> None:
    x = np.random.default_rng(seed).normal(size=(3, 3))
    offset = gc.check_grad(lambda v: 1e8 + np.sum(np.sin(v)), np.cos, x, oracle="fd")
    assert_no_false_alarm(offset)
    assert offset.verdict == "inconclusive"  # a gradient near 1 beside a loss of 1e8: see the next test
    settled = gc.check_grad(lambda v: 1e8 + np.sum(np.sin(v)), np.cos, x)  # a stronger witness settles it
    assert settled.verdict == "pass" and settled.params["params"].witness != "finite differences (richardson)"
    assert gc.check_grad(lambda v: 1e8 * np.sum(v**2 * np.cos(v)),
                         lambda v: 1e8 * (2 * v * np.cos(v) - v**2 * np.sin(v)), x).ok


def test_offset_1e8_reports_that_it_cannot_resolve_1e6() -> None:
    """With |f| = 1e8 and a gradient near 1, rounding hides a relative 1e-6 slip; the result says so."""
    x = np.random.default_rng(0).normal(size=4)
    result = gc.check_grad(lambda v: 1e8 + np.sum(np.sin(v)), np.cos, x, oracle="fd")
    assert result.params["params"].resolution > 1e-6
    assert result.verdict == "inconclusive" and "method='complex'" in result.params["params"].inconclusive
    assert "oracle='auto'" in result.params["params"].inconclusive


@pytest.mark.parametrize("w0", [30.0, 40.0, -45.0])
def test_saturated_sigmoid_passes(w0: float) -> None:
    Xs = np.random.default_rng(1).normal(size=(10, 3))
    y = np.random.default_rng(2).uniform(size=10)

    def loss(w: np.ndarray) -> float:
        return np.sum((xp.sigmoid(Xs @ w) - y) ** 2)  # no float(): complex step needs the imaginary part

    def grad(w: np.ndarray) -> np.ndarray:
        s = xp.sigmoid(Xs @ w)
        return Xs.T @ (2 * (s - y) * s * (1 - s))

    w = np.array([w0, -w0, w0 / 2])
    assert_no_false_alarm(gc.check_grad(loss, grad, w))
    off = gc.check_grad(loss, lambda v: grad(v) * (1 + 1e-6), w)
    # |f| ~ 1 but |grad| ~ 1e-5: differences cannot resolve 1e-6 of it, and the result must say so.
    assert off.failed or off.verdict == "inconclusive"
    # Complex step has no cancellation and resolves it.
    assert gc.check_grad(loss, grad, w, method="complex").ok
    assert not gc.check_grad(loss, lambda v: grad(v) * (1 + 1e-6), w, method="complex").ok


def test_exactly_flat_coordinates_pass_and_nonzero_there_fails() -> None:
    x = np.array([0.3, -1.1, 2.0, 5.0])
    loss = lambda v: float(np.sum(v[:2] ** 2))  # noqa: E731
    assert gc.check_grad(loss, lambda v: np.r_[2 * v[:2], 0.0, 0.0], x).ok
    result = gc.check_grad(loss, lambda v: np.r_[2 * v[:2], 0.0, 1e-6], x)
    assert not result.ok
    assert result.params["params"].worst.index == (3,)


# --------------------------------------------------------------------------- kinks
def relu_net_loss(p: dict[str, np.ndarray], Xr: np.ndarray) -> float:
    return float(np.sum((xp.relu(Xr @ p["W"]) @ p["v"]) ** 2))


def relu_net_grad(p: dict[str, np.ndarray], Xr: np.ndarray, mask_at_zero: float = 0.0) -> dict[str, np.ndarray]:
    Z = Xr @ p["W"]
    H = np.maximum(Z, 0)
    out = H @ p["v"]
    mask = (Z > 0) + mask_at_zero * (Z == 0)
    dZ = 2 * out[:, None] * p["v"][None, :] * mask
    return {"W": Xr.T @ dZ, "v": H.T @ (2 * out)}


@pytest.mark.parametrize("mask_at_zero", [0.0, 1.0, 0.5])
def test_relu_exactly_at_the_kink_accepts_any_subgradient(mask_at_zero: float) -> None:
    rng = np.random.default_rng(4)
    Xr = rng.normal(size=(6, 3))
    Xr[0, :] = 0.0  # every pre-activation of row 0 is exactly at the kink
    Xr[0, 0] = 1.0
    W = rng.normal(size=(3, 4))
    W[0, :] = [0.0, 0.0, 0.7, -0.2]  # hence Z[0, :2] == 0
    p = {"W": W, "v": rng.normal(size=4)}
    result = gc.check_grad(lambda q: relu_net_loss(q, Xr), lambda q: relu_net_grad(q, Xr, mask_at_zero), p)
    assert result.ok, result.summary()
    assert result.params["W"].n_kinks >= 2
    kink = result.params["W"].kinks[0]
    assert kink.status == "kink" and kink.left is not None and kink.right is not None


@pytest.mark.parametrize("jump", [1e-12, 1e-10, 1e-9, 3e-9, 1e-8, 1e-6, 1e-3, 1.0])
def test_kinks_of_every_size_accept_either_one_sided_slope(jump: float) -> None:
    """A kink at x of slope jump ``jump`` beside gradients of 5e-4, in a loss of 5 (so
    rounding, not truncation, limits the one-sided slopes): from below detection to
    plain, either one-sided slope is right. Jumps of 1e-9..3e-9 used to hide behind the
    one-sided slopes' bars while the central value, their average, was 1e-6..3e-6 of the
    scale away from both."""
    w = np.array([0.0, 0.7, -1.3])
    loss = lambda v: float(5.0 + 1e-3 * np.sum(np.logaddexp(0.0, v)) + max(jump * v[0], 0.0))  # noqa: E731
    for side in (0.0, 1.0):
        grad = lambda v, side=side: 1e-3 / (1 + np.exp(-v)) + np.array([side * jump, 0.0, 0.0])  # noqa: E731
        # Rounding of a loss of 5 limits the one-sided slopes to a few 1e-6 of 5e-4: the check may
        # say inconclusive, never FAIL.
        assert_no_false_alarm(gc.check_grad(loss, grad, w))


@pytest.mark.parametrize("jump", [1e-9, 1e-6, 1e-3, 1.0])
def test_a_value_just_beyond_a_kinks_slopes_is_caught(jump: float) -> None:
    w = np.array([0.0, 0.7, -1.3])
    loss = lambda v: float(np.sum(np.logaddexp(0.0, v)) + max(jump * v[0], 0.0))  # noqa: E731
    too_big = lambda v: (1 / (1 + np.exp(-v)) + np.array([jump, 0.0, 0.0])) * np.array([1 + 1e-6, 1.0, 1.0])  # noqa: E731
    result = gc.check_grad(loss, too_big, w)
    assert result.params["params"].n_kinks == 1
    assert not result.ok and [e.index for e in result.params["params"].mismatches] == [(0,)]


def test_relu_kink_with_a_value_outside_the_one_sided_slopes_fails() -> None:
    loss = lambda v: float(np.sum(np.maximum(v, 0.0)))  # noqa: E731
    result = gc.check_grad(loss, lambda v: (v > 0) + 3.0 * (v == 0), np.array([0.0, 1.0]))
    assert not result.ok
    worst = result.params["params"].mismatches[0]
    assert worst.status == "kink_mismatch"
    assert "one-sided slopes" in result.summary()


def test_kinks_false_judges_kink_entries_like_others() -> None:
    loss = lambda v: float(np.sum(np.maximum(v, 0.0)))  # noqa: E731
    grad = lambda v: (v > 0) * 1.0  # noqa: E731
    assert gc.check_grad(loss, grad, np.array([0.0, 1.0])).ok
    assert not gc.check_grad(loss, grad, np.array([0.0, 1.0]), kinks=False).ok


@pytest.mark.parametrize("scale", [1e-3, 1e-5])
@pytest.mark.parametrize("seed", range(10))
def test_relu_net_near_kinks_never_false_alarms(seed: int, scale: float) -> None:
    # Pre-activations ~scale: inside the stencil (1e-3), and dense enough around the base point
    # that a coarse noise probe would cross kinks and mistake them for noise (1e-5).
    rng = np.random.default_rng(seed)
    Xr = rng.normal(size=(12, 3))
    p = {"W": rng.normal(size=(3, 6)) * scale, "v": rng.normal(size=6)}
    result = gc.check_grad(lambda q: relu_net_loss(q, Xr), lambda q: relu_net_grad(q, Xr), p)
    assert result.ok, result.summary()


def test_a_cluster_of_kinks_around_x_is_not_taken_for_one_kink_at_x() -> None:
    """Weights of 1e-5 put a dozen ReLU kinks within 1e-4 of W[2, 4], none at it: at steps
    far wider than the cluster it looks like one kink at x (clean sides, a steady jump),
    and it once passed as one, with one-sided bars of 30% of the scale. Its apparent jump
    moves as the step nears the cluster's width, so it is refined until smooth."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(10, 3))
    X[0] = 0.0
    p = {"W": rng.normal(size=(3, 5)) * 1e-5, "b": rng.normal(size=5) * 1e-5, "v": rng.normal(size=5)}
    assert np.all(X @ p["W"] + p["b"] != 0.0)  # the premise: no kink at x

    def loss(q: dict[str, np.ndarray]) -> float:
        return float(np.sum((xp.relu(X @ q["W"] + q["b"]) @ q["v"]) ** 2))

    def grad(q: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        Z = X @ q["W"] + q["b"]
        H = np.maximum(Z, 0)
        dZ = 2 * (H @ q["v"])[:, None] * q["v"][None, :] * (Z > 0)
        return {"W": X.T @ dZ, "b": dZ.sum(0), "v": H.T @ (2 * (H @ q["v"]))}

    result = gc.check_grad(loss, grad, p)
    assert result.ok, result.summary()
    assert result.params["W"].n_kinks == 0
    assert result.params["W"].resolution < 1e-5


def test_relu_mask_from_the_wrong_tensor_is_flagged() -> None:
    rng = np.random.default_rng(5)
    Xr = rng.normal(size=(12, 3))
    p = {"W": rng.normal(size=(3, 6)), "v": rng.normal(size=6)}

    def wrong_mask(q: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        Z = Xr @ q["W"]
        H = np.maximum(Z, 0)
        out = H @ q["v"]
        dZ = 2 * out[:, None] * q["v"][None, :] * (q["v"][None, :] > 0)  # mask of the wrong tensor
        return {"W": Xr.T @ dZ, "v": H.T @ (2 * out)}

    result = gc.check_grad(lambda q: relu_net_loss(q, Xr), wrong_mask, p)
    assert [r.name for r in result.failures] == ["W"]


# --------------------------------------------------------------------------- dtypes
def test_float32_parameters_are_checked_in_float32_and_say_so() -> None:
    x = np.random.default_rng(0).normal(size=(4, 1)).astype(np.float32)
    A32, B32 = A.astype(np.float32), B.astype(np.float32)
    result = gc.check_grad(lambda v: np.sum((A32 @ v - B32) ** 2), lambda v: 2 * A32.T @ (A32 @ v - B32), x,
                           oracle="fd", resolution=1e-6)
    assert result.verdict == "inconclusive" and "float64" in result.params["params"].inconclusive  # 1e-6 is beyond float32
    # by default: against differences of the loss on float64 copies, at float32's own resolution
    settled = gc.check_grad(lambda v: np.sum((A32 @ v - B32) ** 2), lambda v: 2 * A32.T @ (A32 @ v - B32), x)
    assert settled.ok and any("float64 copies" in n for n in settled.notes)
    assert gc.check_grad(lambda v: np.sum((A32 @ v - B32) ** 2), lambda v: 2 * A32.T @ (A32 @ v - B32), x,
                         resolution=1e-2).ok
    assert result.params["params"].dtype == "float32"
    assert result.tolerance.eps == pytest.approx(np.finfo(np.float32).eps)
    assert any("float32" in n for n in result.notes)
    assert gc.check_grad(lambda v: np.sum((A32 @ v - B32) ** 2), lambda v: 2.1 * A32.T @ (A32 @ v - B32), x).failed


def test_integer_parameters_are_checked_on_float64_copies() -> None:
    x = np.array([[1], [2], [-1], [0]])
    result = gc.check_grad(ls_loss, ls_grad, x)
    assert result.ok
    assert result.params["params"].dtype == "float64"
    assert "integer" in result.params["params"].note
    assert x.dtype.kind == "i"


# --------------------------------------------------------------------------- methods
def test_complex_step_checks_an_analytic_loss() -> None:
    loss = lambda v: np.sum(np.exp(v) * np.sin(v))  # noqa: E731
    grad = lambda v: np.exp(v) * (np.sin(v) + np.cos(v))  # noqa: E731
    x = np.linspace(-1, 1, 5)
    result = gc.check_grad(loss, grad, x, method="complex")
    assert result.ok and result.method == "complex"
    assert not gc.check_grad(loss, lambda v: grad(v) * (1 + 1e-6), x, method="complex").ok


def test_auto_uses_complex_step_when_possible_and_falls_back_otherwise() -> None:
    x = np.linspace(-1, 1, 4)
    analytic = gc.check_grad(lambda v: np.sum(v**3), lambda v: 3 * v**2, x, method="auto")
    assert analytic.method == "complex"
    non_analytic = gc.check_grad(lambda v: np.sum(np.abs(v) ** 3), lambda v: 3 * v * np.abs(v), x, method="auto")
    assert non_analytic.method == "richardson" and non_analytic.ok
    assert any("fell back" in n for n in non_analytic.notes)


def test_complex_requested_on_a_non_analytic_loss_is_refused() -> None:
    # abs() keeps a complex dtype here (v * 0 is complex) but discards the imaginary direction.
    with pytest.raises(gc.InvalidArgumentError, match="method='complex'.*not complex-analytic"):
        gc.check_grad(lambda v: np.sum(np.abs(v) ** 3 + 0 * v), lambda v: 3 * v * np.abs(v),
                      np.array([0.5, -0.2]), method="complex")


def test_complex_requested_on_a_loss_that_drops_the_imaginary_part_is_refused() -> None:
    with pytest.raises(gc.InvalidArgumentError, match="method='complex'.*drops the imaginary part"):
        gc.check_grad(lambda v: float(np.sum(v**2)), lambda v: 2 * v, np.array([0.5, -0.2]), method="complex")


def test_fixed_tolerances_override_the_error_estimates() -> None:
    x = np.random.default_rng(0).normal(size=(4, 1))
    off = lambda v: ls_grad(v) * (1 + 1e-6)  # noqa: E731
    assert not gc.check_grad(ls_loss, off, x).ok
    loose = gc.check_grad(ls_loss, off, x, rtol=1e-5)
    assert loose.ok and loose.tolerance.mode == "fixed" and loose.tolerance.rtol == 1e-5
    assert "rtol=1e-05" in loose.summary()


# --------------------------------------------------------------------------- Jacobians
def test_jacobian_numerator_and_denominator_layouts() -> None:
    M = np.random.default_rng(0).normal(size=(3, 5))
    fn = lambda x: np.tanh(M @ x)  # noqa: E731
    jac = lambda x: (1 - np.tanh(M @ x) ** 2)[:, None] * M  # noqa: E731
    x = np.random.default_rng(1).normal(size=5)
    assert gc.check_jacobian(fn, jac, x).ok
    assert gc.check_jacobian(fn, lambda v: jac(v).T, x, layout="denominator").ok
    with pytest.raises(gc.ShapeMismatchError, match="denominator layout"):
        gc.check_jacobian(fn, lambda v: jac(v).T, x)


def test_kronecker_vec_identity_in_both_orders() -> None:
    rng = np.random.default_rng(2)
    W, v = rng.normal(size=(3, 4)), rng.normal(size=4)
    fn = lambda M: M @ v  # noqa: E731
    col_major = lambda M: np.kron(v[None, :], np.eye(3))  # noqa: E731  d vec(Wv)/d vec(W), column-major
    row_major = lambda M: np.kron(np.eye(3), v[None, :])  # noqa: E731
    assert gc.check_jacobian(fn, col_major, W, order="F").ok
    assert gc.check_jacobian(fn, row_major, W, order="C").ok
    wrong = gc.check_jacobian(fn, row_major, W, order="F")
    assert not wrong.ok and "reshape order" in wrong.params["x"].diagnosis


def test_jacobian_of_a_mapping_of_parameters() -> None:
    rng = np.random.default_rng(3)
    p = {"W": rng.normal(size=(2, 3)), "b": rng.normal(size=2)}
    x = rng.normal(size=3)
    fn = lambda q: q["W"] @ x + q["b"]  # noqa: E731
    jac = lambda q: {"W": np.einsum("ij,k->ijk", np.eye(2), x), "b": np.eye(2)}  # noqa: E731
    result = gc.check_jacobian(fn, jac, p)
    assert result.ok and set(result.params) == {"W", "b"}
    bad = gc.check_jacobian(fn, lambda q: {**jac(q), "b": 2 * np.eye(2)}, p)
    assert [r.name for r in bad.failures] == ["b"]


def test_softmax_jacobian() -> None:
    z = np.random.default_rng(0).normal(size=4)
    jac = lambda v: np.diag(xp.softmax(v)) - np.outer(xp.softmax(v), xp.softmax(v))  # noqa: E731
    assert gc.check_jacobian(xp.softmax, jac, z).ok
    assert not gc.check_jacobian(xp.softmax, lambda v: np.diag(xp.softmax(v)), z).ok


# --------------------------------------------------------------------------- results and messages
def test_result_is_json_serialisable_and_complete() -> None:
    result = gc.check_grad(mlp_loss, lambda p: {**mlp_grad(p), "b1": 2 * mlp_grad(p)["b1"]}, mlp_params(0))
    data = json.loads(result.to_json())
    assert data["schema_version"] == 3 and data["ok"] is False and data["verdict"] == "FAIL"
    b1 = data["params"]["b1"]
    for key in ("max_abs_error", "max_rel_error", "worst", "tolerance", "n_checked", "n_mismatched", "n_kinks"):
        assert key in b1
    assert b1["worst"]["analytic"] == pytest.approx(2 * b1["worst"]["numeric"], rel=1e-6)
    full = json.loads(result.to_json(arrays=True))
    assert np.asarray(full["params"]["W1"]["analytic"]).shape == (4, 5)


def test_result_has_no_truth_value() -> None:
    result = gc.check_grad(ls_loss, ls_grad, np.zeros((4, 1)))
    with pytest.raises(TypeError, match="result.ok"):
        bool(result)


def test_assert_grad_message_names_parameter_entries_tolerance_and_scheme() -> None:
    with pytest.raises(gc.GradientMismatch) as info:
        gc.assert_grad(mlp_loss, lambda p: {**mlp_grad(p), "W2": mlp_grad(p)["W2"] * 2}, mlp_params(0),
                       name="tiny_mlp")
    msg = str(info.value)
    assert isinstance(info.value, AssertionError)
    assert "check_grad of tiny_mlp" in msg
    assert "parameter 'W2' (5, 3): 15 of 15 entries mismatch" in msg
    assert "analytic = 2 x numerical" in msg
    assert "method=richardson" in msg and "x per-entry error estimate" in msg
    for column in ("index", "analytic", "numeric", "abs err", "rel err", "tolerance"):
        assert column in msg
    assert "parameter 'W1' (4, 5): ok" in msg
    assert info.value.result.failures[0].name == "W2"


def test_assert_grad_returns_the_result_when_right() -> None:
    result = gc.assert_grad(ls_loss, ls_grad, np.ones((4, 1)))
    assert result.ok


def test_assert_jacobian_raises_on_a_wrong_jacobian() -> None:
    M = np.arange(6.0).reshape(2, 3)
    gc.assert_jacobian(lambda x: M @ x, lambda x: M, np.ones(3))
    with pytest.raises(gc.GradientMismatch, match="parameter 'x'"):
        gc.assert_jacobian(lambda x: M @ x, lambda x: 2 * M, np.ones(3))


# --------------------------------------------------------------------------- found by the property suite
def test_loss_flat_in_floating_point_passes_with_a_note() -> None:
    """Logits 60 apart: 60 + log(1 + 3e-26) - 60 == 0.0 exactly; the true gradient is ~1e-26."""
    loss, grad = class0_cross_entropy, class0_cross_entropy_grad
    s = np.array([60.0, 0.3, -0.2, 0.1])
    assert loss(s) == 0.0
    result = gc.check_grad(loss, grad, s)
    # A gradient of 1e-26 cannot be resolved where the loss does not move: no false alarm, and no "ok".
    assert_no_false_alarm(result)
    assert result.verdict == "inconclusive"
    assert any("flat in floating point" in n for n in result.notes)
    assert gc.check_grad(loss, lambda v: grad(v) + 1e-3, s).failed  # a visible slope would have shown


def test_small_kink_is_detected_and_its_left_slope_accepted() -> None:
    """A slope jump of 5e-8 at |f| ~ 0.55: rounding must not be overstated enough to hide it."""
    x = 1.1920929e-07

    def loss(w: np.ndarray) -> float:
        return float(np.logaddexp(0.0, -(np.maximum(x * w, 0.0) + 0.3)).sum())

    def grad(w: np.ndarray) -> np.ndarray:
        return -x * (x * w > 0) / (1.0 + np.exp(np.maximum(x * w, 0.0) + 0.3))

    result = gc.check_grad(loss, grad, np.zeros(1))
    assert_no_false_alarm(result)
    assert result.params["params"].n_kinks == 1


def test_complex_step_through_a_saturated_softplus_raises_no_warning() -> None:
    """The complex branch of ops.softplus evaluated exp(-x) and exp(x) for every entry and
    overflowed on the side np.where then discarded, warning the user on every probe."""
    z = np.array([800.0, -800.0, 0.3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = gc.check_grad(lambda v: xp.sum(xp.softplus(v)), lambda v: xp.sigmoid(v), z, method="complex")
    assert result.ok and result.method == "complex", result.summary()
