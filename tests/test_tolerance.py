"""Tolerances from what both sides can resolve: slips of relative size 1e-8 are caught, small
entries beside large ones are judged on their own scale, and correct gradients whose own
rounding is large are not flagged."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.judge._rounding import entry_scale, measure
from tests._losses import assert_no_false_alarm

RNG = np.random.default_rng(20261202)
A = RNG.standard_normal((7, 5))
B = RNG.standard_normal(7)
X = RNG.standard_normal(5)


def norm(x: np.ndarray) -> np.ndarray:
    r = A @ x - B
    return np.sqrt(r @ r)


def norm_grad(x: np.ndarray) -> np.ndarray:
    r = A @ x - B
    return A.T @ r / np.linalg.norm(r)


def lsq(x: np.ndarray) -> np.ndarray:
    r = A @ x - B
    return 0.5 * (r @ r)


def lsq_grad(x: np.ndarray) -> np.ndarray:
    return A.T @ (A @ x - B)


def _one_entry(x: np.ndarray) -> np.ndarray:
    g = lsq_grad(x).copy()
    g[2] *= 1 + 1e-8
    return g


SLIPS = {
    # the loss is ||r||; a guard against division by zero that changes the result by 1e-8 / ||r||
    "stray epsilon": (norm, lambda x: A.T @ (A @ x - B) / (np.linalg.norm(A @ x - B) + 1e-8)),
    # an intermediate that makes a float32 round trip inside a float64 gradient
    "float32 round trip": (lsq, lambda x: A.T @ (A @ x - B).astype(np.float32).astype(np.float64)),
    "constant with 8 digits": (lsq, lambda x: 1.0000000123 * lsq_grad(x)),
    "whole gradient x (1 + 1e-8)": (lsq, lambda x: (1 + 1e-8) * lsq_grad(x)),
    "one entry x (1 + 1e-8)": (lsq, _one_entry),
}


@pytest.mark.parametrize("method", ["richardson", "auto"])
@pytest.mark.parametrize("kind", list(SLIPS))
def test_slips_of_relative_size_1e8_are_caught(kind: str, method: str) -> None:
    loss, grad = SLIPS[kind]
    result = gc.check_grad(loss, grad, X, method=method)
    assert result.failed, result.summary()
    assert result.params["params"].resolution < 1e-8


@pytest.mark.parametrize("method", ["richardson", "central", "auto"])
def test_the_correct_gradients_of_those_losses_pass(method: str) -> None:
    for loss, grad in ((norm, norm_grad), (lsq, lsq_grad)):
        result = gc.check_grad(loss, grad, X, method=method)
        assert result.ok, result.summary()


def _badly_scaled() -> tuple[np.ndarray, object, object]:
    """Least squares with x mixing entries of 1e-6 and 1e6: its columns scaled so that the
    large coordinates' derivatives are about 1e-5 beside ones of 1e7."""
    rng = np.random.default_rng(1)
    x = np.array([1e-6, 1e6, 3e-6, 2e6, 0.5, 4e5])
    a = rng.standard_normal((8, 6)) / np.abs(x)
    b = rng.standard_normal(8)

    def loss(v: np.ndarray) -> np.ndarray:
        r = a @ v - b
        return 0.5 * (r @ r)

    def grad(v: np.ndarray) -> np.ndarray:
        return a.T @ (a @ v - b)

    return x, loss, grad


@pytest.mark.parametrize("method", ["richardson", "auto"])
def test_small_entries_beside_large_ones_are_judged_on_their_own_scale(method: str) -> None:
    x, loss, grad = _badly_scaled()
    g = grad(x)
    big = np.abs(x) > 1e3
    assert np.abs(g[big]).max() < 1e-3 < 1e6 < np.abs(g).max()  # the case is the one described

    def flipped(v: np.ndarray) -> np.ndarray:
        out = grad(v).copy()
        out[big] *= -1
        return out

    assert_no_false_alarm(gc.check_grad(loss, grad, x, method=method))
    wrong = gc.check_grad(loss, flipped, x, method=method)
    assert wrong.failed and wrong.params["params"].n_mismatched == int(big.sum()), wrong.summary()


def test_a_saturated_sigmoid_whose_formula_rounds_to_zero_is_no_mistake() -> None:
    """s (1 - s) at z = 70 is exactly 0 in float64 (the truth is 4e-31): immaterial beside
    the loss's resolution, with complex step as with differences."""
    w = np.array([70.0, 0.5, -1.0])

    def loss(v: np.ndarray) -> np.ndarray:
        return np.sum(1 / (1 + np.exp(-v)))

    def grad(v: np.ndarray) -> np.ndarray:
        s = 1 / (1 + np.exp(-v))
        return s * (1 - s)

    assert grad(w)[0] == 0.0
    for method in ("richardson", "complex"):
        assert_no_false_alarm(gc.check_grad(loss, grad, w, method=method))


def _near_solution() -> tuple[np.ndarray, object, object]:
    """Least squares at a point whose residual (1e-6) is a difference of terms of 1e3: the
    correct gradient A^T r (entries ~1e-5) carries rounding of ~1e-7 of itself."""
    rng = np.random.default_rng(3)
    a = 30 * rng.standard_normal((7, 5))
    x0 = 3 * rng.standard_normal(5)
    b = a @ x0 + 1e-6 * rng.standard_normal(7)

    def loss(v: np.ndarray) -> np.ndarray:
        r = a @ v - b
        return 0.5 * (r @ r)

    def grad(v: np.ndarray) -> np.ndarray:
        return a.T @ (a @ v - b)

    return x0, loss, grad


@pytest.mark.parametrize("method", ["richardson", "central", "complex"])
def test_a_gradient_made_of_cancelling_terms_is_not_flagged_for_its_rounding(method: str) -> None:
    x0, loss, grad = _near_solution()
    assert_no_false_alarm(gc.check_grad(loss, grad, x0, method=method))


def test_the_rounding_measurement_sees_cancellation_and_ignores_a_float32_lattice() -> None:
    x0, _, grad = _near_solution()
    scales = {"x": np.maximum(np.abs(x0), 1.0)}
    shapes = {"x": (1, 5)}

    def analytic(arrays: dict) -> dict:
        return {"x": grad(arrays["x"])}

    def lattice(arrays: dict) -> dict:
        return {"x": lsq_grad(arrays["x"]).astype(np.float32).astype(np.float64)}

    g0 = grad(x0)
    noisy = measure(analytic, {"x": x0}, scales, analytic({"x": x0}), shapes).get("x")
    # the residual's rounding, eps * 1e3 carried through A^T: about 1e-11, far above ulps of 1e-5
    assert noisy is not None and np.all(noisy > 1e3 * np.finfo(float).eps * np.abs(g0).max())
    scales = {"x": np.maximum(np.abs(X), 1.0)}
    flat = measure(lattice, {"x": X}, scales, lattice({"x": X}), shapes).get("x")
    # an O(1) value on the float32 lattice (spacing 1e-7) does not leave it under a move of
    # 1e-10: its float32 rounding is not credited as the gradient's own
    assert flat is not None and np.all(flat == 0.0)


def test_the_result_says_whether_the_rounding_was_measured() -> None:
    r64 = gc.check_grad(lsq, lsq_grad, X)
    assert r64.params["params"].tolerance.rounding == "measured"
    assert "measured rounding" in r64.params["params"].tolerance.describe()
    r32 = gc.check_grad(lambda v: np.sum(v**2), lambda v: 2 * v, X.astype(np.float32))
    assert r32.params["params"].tolerance.rounding == "measured"  # by 16-ulp moves in float32
    fixed = gc.check_grad(lsq, lsq_grad, X, rtol=1e-6)
    assert fixed.params["params"].tolerance.rounding is None


def test_entry_scale_is_the_loss_units_scale() -> None:
    a = np.array([[1e7, 5e-5]])
    t = np.array([1.0, 1e6])
    s = entry_scale(a, a, t)
    # the second coordinate moves the loss as much as the first when its derivative is 1e7 / 1e6
    np.testing.assert_allclose(s, [[1e7, 10.0]])
    np.testing.assert_allclose(entry_scale(a, a, None), [[1e7, 1e7]])


def test_a_user_derivative_that_fails_near_the_point_falls_back_to_the_floor() -> None:
    calls = {"n": 0}

    def grad(v: np.ndarray) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] > 1:
            raise FloatingPointError("only at the point")
        return lsq_grad(v)

    result = gc.check_grad(lsq, grad, X)
    assert result.ok
    assert "not measured" in result.params["params"].tolerance.describe()


def test_the_exact_oracle_sees_a_slip_of_1e10() -> None:
    """Beside finite differences (which resolve about 1e-10 here), the symbolic oracle's
    verdict is limited only by the two sides' rounding."""
    pytest.importorskip("sympy")
    slip = gc.check_grad(lsq, lambda x: lsq_grad(x) * (1 + 1e-10), X, oracle="both")
    assert slip.params["params"].symbolic.startswith("FAIL"), slip.summary()
    right = gc.check_grad(lsq, lsq_grad, X, oracle="both")
    assert right.ok and right.params["params"].symbolic.startswith("pass"), right.summary()


def test_a_saturated_unit_whose_digits_past_the_8th_are_rounding_is_no_mistake() -> None:
    """Found by the property suite (sigmoid_layer.column, complex step): at z = 18, 1 - s keeps 8
    digits, so every entry of the gradient is off by a relative 2e-8, uniformly, and a move of
    1e-10 leaves s on its lattice (nothing measured). Those entries are 1e-8 of a loss of 0.6:
    an error that moves the loss by less than its own resolution is immaterial."""
    x = np.array([1.0, 0.5, -0.3])

    def loss(w: np.ndarray) -> np.ndarray:
        return (1 / (1 + np.exp(-(w @ x))) - 0.2) ** 2

    def grad(w: np.ndarray) -> np.ndarray:
        s = 1 / (1 + np.exp(-(w @ x)))
        return 2 * (s - 0.2) * s * (1 - s) * x

    for k in range(0, 200, 10):
        w = np.array([18.0 + 0.01 * k, 0.3, 0.7])
        for method in ("complex", "richardson"):
            assert_no_false_alarm(gc.check_grad(loss, grad, w, method=method))


# A saturated sigmoid layer (s = 0.9984 in its first unit) at a point drawn by the thorough profile.
_W = np.array([[float.fromhex(v) for v in row] for row in [
    ["0x1.96cf347d50008p+2", "-0x1.3bb9cefd6d346p+1", "-0x1.5dbc3a93d82f7p+0", "-0x1.4e06d2bc1dd49p+1"],
    ["-0x1.94482dc078b20p-2", "0x1.6609ace7f351cp+0", "0x1.8add89282d355p+0", "-0x1.2591d0551166fp+1"],
    ["0x1.76ea3980c1630p-1", "0x1.c4ff34dfaddcep+0", "-0x1.5a70a35a2f4b3p+1", "-0x1.86f2b359a2d51p+1"],
    ["-0x1.b4730de22fab9p+0", "-0x1.8eeae8fa7c276p-4", "0x1.b25c5a6ead1c5p-1", "0x1.97cf7e8ccddc5p-3"]]])
_X = np.array([float.fromhex(v) for v in ["0x1.9f9b2dc2bd95bp-1", "0x1.208b62f9a8b31p-2", "0x1.2b096f5ae6debp-1",
                                            "-0x1.1066ef8304d23p+0"]])
_Y = np.array([float.fromhex(v) for v in ["0x1.455904fc5a604p+0", "0x1.a573c88899690p-2", "0x1.d92af715c90dcp-1",
                                            "0x1.90c5ffa7de1fap+0"]])


def test_rounding_that_mirrored_moves_hide_is_measured():
    """The hand Hessian of this layer is off by 3.2e-14 of itself (300 ulps) in its first unit's
    block: its own rounding. Moved to x + d and x - d, the inputs are mirror images and so were
    the roundings: two of three second differences were exactly 0, the allowance 5e-19 against
    an error of 1.6e-17, and complex step (exact here) flagged the correct formula. With the
    move back at 0.7 d the rounding is measured (1.3e-16 at the worst entry) and the formula passes."""
    from reference_nets.second_order import _layer_grad_fn, layer_hessian

    data = {"x": _X, "y": _Y}
    fn = lambda W: _layer_grad_fn({"W": W}, data)
    jac = lambda W: layer_hessian(W, _X, _Y)
    r = gc.check_jacobian(fn, jac, _W, method="complex")
    assert_no_false_alarm(r)
    # what it allowed for is the formula's real error, not a blanket floor: a slip of 1e-12 still fails
    assert gc.check_jacobian(fn, lambda W: jac(W) * (1 + 1e-12), _W, method="complex").failed
