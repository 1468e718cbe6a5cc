"""Bad input gives a named exception whose message names the parameter, index and cause;
the caller's arrays are never modified, whatever the function under test does."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import gradcheck as gc


def sq(x: Any) -> float:
    return float(np.sum(np.asarray(x) ** 2))


def dsq(x: Any) -> Any:
    return 2 * np.asarray(x, dtype=float)


# --------------------------------------------------------------------------- invalid calls, one table
INVALID_OPTIONS = [
    ({"method": "centered"}, "method='centered': expected one of"),
    ({"rtol": -1.0}, "rtol=-1.0: expected a finite number >= 0"),
    ({"atol": float("nan")}, "atol=nan"),
    ({"safety": 0.5}, "safety=0.5: expected a finite number >= 1"),
    ({"step": 2.0}, "step=2.0: expected a relative base step in"),
    ({"step": 0.0}, "step=0.0"),
    ({"typical": -1.0}, "typical=-1.0: expected a positive number"),
    ({"typical": {"nope": 1.0}}, "typical has key(s) ['nope'] that are not parameters"),
    ({"kinks": "yes"}, "kinks='yes': expected True or False"),
    ({"max_entries": 0}, "max_entries=0: expected an integer >= 1"),
]


@pytest.mark.parametrize(("options", "message"), INVALID_OPTIONS)
def test_invalid_options_are_named(options: dict[str, Any], message: str) -> None:
    with pytest.raises(gc.InvalidArgumentError) as info:
        gc.check_grad(sq, dsq, np.ones(3), **options)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, gc.GradcheckError)


@pytest.mark.parametrize(("options", "message"), [
    ({"layout": "row"}, "layout='row': expected 'numerator'"),
    ({"order": "K"}, "order='K': expected None"),
])
def test_invalid_jacobian_options_are_named(options: dict[str, Any], message: str) -> None:
    with pytest.raises(gc.InvalidArgumentError, match=message):
        gc.check_jacobian(lambda x: 2 * x, lambda x: 2 * np.eye(3), np.ones(3), **options)


INVALID_PARAMS = [
    ({}, gc.ParameterError, "empty mapping"),
    ({1: np.ones(2)}, gc.ParameterError, "key 1 of type int"),
    (np.ones(0), gc.ParameterError, "no entries"),
    (np.array([True, False]), gc.ParameterError, "boolean"),
    (np.array([1 + 1j]), gc.ParameterError, "complex"),
    (np.array(["a"]), gc.ParameterError, "dtype <U1"),
    ("abc", gc.ParameterError, "is a str"),
    (np.array([1.0, np.nan, 2.0]), gc.NonFiniteError, "parameter 'params' has a non-finite entry at index (1,) = nan"),
    ({"W": np.array([[1.0, np.inf]])}, gc.NonFiniteError, "parameter 'W' has a non-finite entry at index (0, 1) = inf"),
]


@pytest.mark.parametrize(("params", "exc", "message"), INVALID_PARAMS)
def test_invalid_params_are_named(params: Any, exc: type[Exception], message: str) -> None:
    def loss(p: Any) -> float:
        return sum(float(np.sum(v)) for v in p.values()) if isinstance(p, dict) else float(np.sum(p))

    with pytest.raises(exc) as info:
        gc.check_grad(loss, lambda p: p, params)
    assert message in str(info.value)


# --------------------------------------------------------------------------- misbehaving loss
def test_non_scalar_loss() -> None:
    with pytest.raises(gc.NonScalarLossError, match=r"returned an array of shape \(3,\) at the base point.*check_jacobian"):
        gc.check_grad(lambda x: x**2, dsq, np.ones(3))


def test_size_one_array_loss_is_accepted_as_scalar() -> None:
    x = np.ones((3, 1))
    assert gc.check_grad(lambda v: v.T @ v, lambda v: 2 * v, x).ok  # (1, 1) from column-vector algebra


def test_complex_loss_value_is_rejected() -> None:
    with pytest.raises(gc.NonScalarLossError, match="complex value"):
        gc.check_grad(lambda x: np.sum(x) + 1j, dsq, np.ones(2))


def test_string_loss_value_is_rejected() -> None:
    with pytest.raises(gc.NonScalarLossError, match="dtype"):
        gc.check_grad(lambda x: "loss", dsq, np.ones(2))


def test_nan_loss_at_the_base_point() -> None:
    with pytest.raises(gc.NonFiniteError, match="returned nan at the base point"):
        gc.check_grad(lambda x: float("nan"), dsq, np.ones(2))


@pytest.mark.filterwarnings("ignore:invalid value encountered in log")
def test_a_step_out_of_the_domain_is_cut_and_named() -> None:
    def loss(p: dict[str, np.ndarray]) -> float:
        return float(np.sum(np.log(p["w"])))  # w[1] = 1e-5 leaves the domain under a step of ~7e-4

    result = gc.check_grad(loss, lambda p: {"w": 1 / p["w"]}, {"w": np.array([1.0, 1e-5])})
    assert result.ok, result.summary()
    assert any("w: x +- h left the loss's domain at 1 entry (first at index (1,)" in n for n in result.notes)


def test_a_loss_undefined_at_every_step_names_parameter_and_index() -> None:
    def loss(p: dict[str, np.ndarray]) -> float:
        w = p["w"]
        # Finite within 5e-9 of the point only: the noise probe (steps of 1e-10) stays inside,
        # every stencil step (7e-4 cut by 16 four times: 1.1e-8 at the least) leaves.
        return float(np.sum(w**2) + (0.0 if abs(w[1] - 0.5) < 5e-9 else np.nan))

    result = gc.check_grad(loss, lambda p: {"w": 2 * p["w"]}, {"w": np.array([1.0, 0.5])}, oracle="fd")
    assert result.verdict == "inconclusive"
    assert "no finite estimate (first at index (1,))" in result.params["w"].inconclusive


def test_nan_in_the_analytic_gradient() -> None:
    with pytest.raises(gc.NonFiniteError, match=r"gradient for parameter 'W' has 1 non-finite entry; first at index \(1, 0\) = nan"):
        gc.check_grad(lambda p: sq(p["W"]), lambda p: {"W": np.array([[1.0, 2.0], [np.nan, 0.0]])},
                      {"W": np.ones((2, 2))})


def test_mutating_loss_is_caught_and_named() -> None:
    def loss(x: np.ndarray) -> float:
        x *= 2  # in-place: a classic slip
        return float(np.sum(x**2))

    user = np.array([1.0, 2.0, 3.0])
    with pytest.raises(gc.MutatingFunctionError, match=r"modified its input: parameter 'params' changed at index \(0,\)"):
        gc.check_grad(loss, dsq, user)
    np.testing.assert_array_equal(user, [1.0, 2.0, 3.0])


def test_mutating_grad_is_caught_and_named() -> None:
    def grad(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        p["b"][0] = 5.0
        return {"a": 2 * p["a"], "b": 2 * p["b"]}

    params = {"a": np.ones(2), "b": np.zeros(2)}
    with pytest.raises(gc.MutatingFunctionError, match="grad modified its input: parameter 'b' changed at index \\(0,\\)"):
        gc.check_grad(lambda p: sq(p["a"]) + sq(p["b"]), grad, params)
    np.testing.assert_array_equal(params["b"], [0.0, 0.0])


def test_nondeterministic_loss() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(gc.NondeterministicLossError, match="at the same point.*fix its seed"):
        gc.check_grad(lambda x: sq(x) + rng.normal(), dsq, np.ones(3))


def test_loss_that_raises_names_the_perturbation_and_chains_the_cause() -> None:
    calls = {"n": 0}

    def loss(x: np.ndarray) -> float:
        calls["n"] += 1
        if calls["n"] > 20:  # past the base point and the noise probe, inside the stencil
            raise RuntimeError("boom")
        return sq(x)

    with pytest.raises(gc.LossRaisedError, match="raised RuntimeError with parameter 'params' at index") as info:
        gc.check_grad(loss, dsq, np.ones(4))
    assert isinstance(info.value.__cause__, RuntimeError)


def test_loss_that_raises_during_the_noise_probe_says_so() -> None:
    calls = {"n": 0}

    def loss(x: np.ndarray) -> float:
        calls["n"] += 1
        if calls["n"] > 3:
            raise RuntimeError("boom")
        return sq(x)

    with pytest.raises(gc.LossRaisedError, match="random direction .measuring the loss's rounding noise.: boom"):
        gc.check_grad(loss, dsq, np.ones(4))


def test_grad_that_raises() -> None:
    with pytest.raises(gc.LossRaisedError, match="raised ZeroDivisionError"):
        gc.check_grad(sq, lambda x: 1 / 0, np.ones(2))


# --------------------------------------------------------------------------- wrong gradient structure
def test_missing_and_extra_keys() -> None:
    params = {"W": np.ones((2, 3)), "b": np.ones(3)}
    loss = lambda p: sq(p["W"]) + sq(p["b"])  # noqa: E731
    with pytest.raises(gc.GradientStructureError, match=r"missing key\(s\) \['b'\] and extra key\(s\) \['bias'\]"):
        gc.check_grad(loss, lambda p: {"W": 2 * p["W"], "bias": 2 * p["b"]}, params)


def test_mapping_returned_for_a_single_array() -> None:
    with pytest.raises(gc.GradientStructureError, match="params is a single array"):
        gc.check_grad(sq, lambda x: {"x": dsq(x)}, np.ones(2))


def test_array_returned_for_a_mapping() -> None:
    with pytest.raises(gc.GradientStructureError, match=r"expected a mapping with keys \['W'\]"):
        gc.check_grad(lambda p: sq(p["W"]), lambda p: dsq(p["W"]), {"W": np.ones(2)})


def test_transposed_shape_is_named_as_such() -> None:
    with pytest.raises(gc.ShapeMismatchError) as info:
        gc.check_grad(lambda p: sq(p["W"]), lambda p: {"W": dsq(p["W"]).T}, {"W": np.ones((2, 3))})
    msg = str(info.value)
    assert "parameter 'W' has shape (3, 2), expected (2, 3)" in msg and "shape of the transpose" in msg


def test_flattened_gradient_is_named_as_a_reshape() -> None:
    with pytest.raises(gc.ShapeMismatchError, match="same number of entries"):
        gc.check_grad(sq, lambda x: dsq(x).ravel(), np.ones((2, 3)))


def test_complex_gradient_is_rejected() -> None:
    with pytest.raises(gc.ParameterError, match="complex"):
        gc.check_grad(sq, lambda x: dsq(x) + 0j, np.ones(2))


def test_jacobian_flat_matrix_without_order_suggests_order() -> None:
    W = np.ones((2, 3))
    v = np.arange(3.0)
    with pytest.raises(gc.ShapeMismatchError, match="order='C' or order='F'"):
        gc.check_jacobian(lambda M: M @ v, lambda M: np.kron(np.eye(2), v[None, :]), W)


# --------------------------------------------------------------------------- the caller's data
def test_params_are_untouched_when_the_loss_raises_half_way() -> None:
    params = {"W": np.arange(6.0).reshape(2, 3), "b": np.array([0.5, -0.5])}
    before = {k: v.copy() for k, v in params.items()}
    calls = {"n": 0}

    def loss(p: dict[str, np.ndarray]) -> float:
        calls["n"] += 1
        if calls["n"] == 9:  # in the middle of perturbing W
            raise ValueError("half-way")
        return sq(p["W"]) + sq(p["b"])

    with pytest.raises(gc.LossRaisedError):
        gc.check_grad(loss, lambda p: {"W": 2 * p["W"], "b": 2 * p["b"]}, params)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])


def test_loss_never_receives_the_callers_arrays() -> None:
    user = np.array([1.0, 2.0])
    seen: list[np.ndarray] = []

    def loss(x: np.ndarray) -> float:
        seen.append(x)
        return sq(x)

    gc.check_grad(loss, dsq, user)
    assert all(not np.shares_memory(x, user) for x in seen)


def test_all_zero_gradients_are_flagged_as_vacuous() -> None:
    result = gc.check_grad(lambda x: float(np.sum(np.maximum(x, 0.0))), lambda x: (x > 0) * 1.0, -np.ones(3))
    assert result.ok
    assert any("identically zero" in n for n in result.notes)
