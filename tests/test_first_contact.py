"""Defects found by hostile probes ("First contact"): each test failed on the code before its fix."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck
from gradcheck.core._errors import InvalidArgumentError, NonFiniteError


def _sq(x):
    return np.sum(x ** 2)


def _sq_grad(x):
    return 2 * x


# --------------------------------------------------------------------------- directional= keys
def test_unknown_directional_key_is_named_with_the_valid_ones() -> None:
    with pytest.raises(InvalidArgumentError, match=r"directional\['bogus'\].*valid keys: directions, seed"):
        gradcheck.check_grad(_sq, _sq_grad, np.ones(3), mode="directional", directional={"bogus": 1})
    with pytest.raises(InvalidArgumentError, match=r"directional\['method'\]: check_grad sets it from its own method="):
        gradcheck.check_grad(_sq, _sq_grad, np.ones(3), mode="directional", directional={"method": "central"})


def test_valid_directional_keys_still_pass_through() -> None:
    r = gradcheck.check_grad(_sq, _sq_grad, np.ones(3), mode="directional", directional={"directions": 3, "seed": 1})
    assert r.verdict == "pass"


# --------------------------------------------------------------------------- byte order
def test_big_endian_float64_gets_the_native_verdict_and_resolution() -> None:
    x = np.array([1.0, 2.0, 3.0], dtype=">f8")
    before = x.copy()
    slip = lambda v: 2 * v * (1 + 1e-8)  # noqa: E731  a 1e-8 slip float64 resolves
    big = gradcheck.check_grad(_sq, slip, x)
    native = gradcheck.check_grad(_sq, slip, x.astype("<f8"))
    assert big.verdict == native.verdict == "FAIL"
    assert big.params["params"].resolution == native.params["params"].resolution
    assert big.params["params"].dtype == "float64"
    assert x.dtype == np.dtype(">f8") and np.array_equal(x, before)  # the caller's array untouched


# --------------------------------------------------------------------------- masked values
@pytest.mark.parametrize("loss, what", [
    (lambda x: np.ma.masked, r"returned np\.ma\.masked at the base point"),
    (lambda x: np.ma.array([np.sum(x ** 2)], mask=[True]), r"returned a masked array with 1 masked entries"),
])
def test_a_masked_loss_value_is_an_error_not_zero(loss, what) -> None:
    with pytest.raises(NonFiniteError, match=what + ".*missing, not 0"):
        gradcheck.check_grad(loss, _sq_grad, np.ones(2))


def test_masked_gradient_entries_are_named() -> None:
    grad = lambda x: np.ma.array(2 * x, mask=[False, True])  # noqa: E731
    with pytest.raises(NonFiniteError, match=r"gradient for parameter 'params' is masked .* first at index \(1,\)"):
        gradcheck.check_grad(_sq, grad, np.array([1.0, 2.0]))


def test_a_masked_array_without_masked_entries_is_its_values() -> None:
    r = gradcheck.check_grad(lambda x: np.ma.sum(np.ma.array(x ** 2)), lambda x: np.ma.array(2 * x), np.ones(3))
    assert r.verdict == "pass"


# --------------------------------------------------------------------------- inconclusive advice
@pytest.mark.parametrize("method", gradcheck.METHODS)
def test_inconclusive_advice_lists_only_what_was_not_tried(method: str) -> None:
    x = np.linspace(0.5, 1.5, 4).astype(np.float32)  # float32: no method resolves 1e-6
    why = gradcheck.check_grad(lambda v: np.sum(v ** 3), lambda v: 3 * v ** 2, x, method=method, oracle="fd",
                               resolution=1e-6).params["params"]
    assert why.inconclusive is not None
    text = why.inconclusive
    assert "float64 parameters" in text
    assert ("method='complex'" in text) is (method in ("forward", "central", "richardson"))
    assert ("the default method='richardson'" in text) is (method in ("forward", "central"))


def test_float64_parameters_are_not_advised_to_float64_checks() -> None:
    x = np.linspace(0.5, 1.5, 4)
    r = gradcheck.check_grad(lambda v: 1e12 + np.sum(v ** 2), lambda v: 2 * v, x, oracle="fd")
    assert r.verdict == "inconclusive"
    assert "float64 parameters" not in r.params["params"].inconclusive
    assert "method='complex' or 'auto'" in r.params["params"].inconclusive


# --------------------------------------------------------------------------- the 1/n hint, both ways
_D = np.random.default_rng(3).normal(size=(16, 3))  # a batch of 16 rows, hidden inside the loss
_Y = np.random.default_rng(4).normal(size=16)


def _mse(x):
    return np.mean((_D @ x - _Y) ** 2)


@pytest.mark.parametrize("factor, named", [(16.0, "16 x numerical"), (1 / 16, "1/16 x numerical")])
def test_a_batch_size_factor_gets_the_1_over_n_hint_both_ways(factor: float, named: str) -> None:
    grad = lambda x: factor * 2 * _D.T @ (_D @ x - _Y) / 16  # noqa: E731  (16: forgot the mean; 1/16: twice)
    d = gradcheck.check_grad(_mse, grad, np.array([0.3, -0.2, 0.5])).params["params"].diagnosis
    assert named in d and "(a missing or extra 1/n?)" in d


@pytest.mark.parametrize("factor, named", [(20.0, "20 x numerical"), (1 / 100, "1/100 x numerical")])
def test_a_factor_equal_to_a_parameter_size_is_named_as_that_size(factor: float, named: str) -> None:
    x = np.linspace(0.1, 1.0, 100).reshape(20, 5) if factor == 20.0 else np.linspace(0.1, 1.0, 100)
    d = gradcheck.check_grad(_sq, lambda v: factor * 2 * v, x).params["params"].diagnosis
    n = 20 if factor == 20.0 else 100
    assert named in d and f"n = {n} is the size of the parameter's axis 0" in d


def test_no_size_hint_for_a_fraction_that_is_neither_n_nor_1_over_n() -> None:
    d = gradcheck.check_grad(_sq, lambda v: 2 / 3 * 2 * v, np.array([0.5, 1.0, 2.0])).params["params"].diagnosis
    assert "2/3 x numerical" in d and "1/n" not in d


# --------------------------------------------------------------------------- the noise probe stays in the domain
_SQRT_AT_EDGE = np.array([1e-12, 1.0, 2.0])  # the probe's step of 6e-10 x max(|x|, 1) would cross 0 at x = 1e-12


def _sqrt_loss(x):
    return np.sum(np.sqrt(x))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("method", ["richardson", "central", "complex", "auto"])
def test_the_noise_and_complex_probes_stay_inside_the_domain(method: str) -> None:
    right = gradcheck.check_grad(_sqrt_loss, lambda x: 0.5 / np.sqrt(x), _SQRT_AT_EDGE, method=method)
    assert right.verdict != "FAIL"
    wrong = gradcheck.check_grad(_sqrt_loss, lambda x: 0.5 / np.sqrt(x) * np.array([1.0, 1.0, 2.0]), _SQRT_AT_EDGE,
                                 method=method)
    assert wrong.verdict == "FAIL" and wrong.params["params"].mismatches[0].index == (2,)
    if method not in ("complex", "auto"):  # complex step measures no noise
        assert any("noise probe" in n and "domain" in n for n in right.notes)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_complex_step_at_the_domain_edge_is_exact() -> None:
    r = gradcheck.check_grad(_sqrt_loss, lambda x: 0.5 / np.sqrt(x), _SQRT_AT_EDGE, method="complex")
    assert r.verdict == "pass" and r.method == "complex"


def test_masked_parameter_entries_are_named() -> None:
    x = np.ma.array([1.0, 2.0, 3.0], mask=[False, False, True])
    with pytest.raises(NonFiniteError, match=r"parameter 'params' is masked .* first at index \(2,\)"):
        gradcheck.check_grad(_sq, _sq_grad, x)
