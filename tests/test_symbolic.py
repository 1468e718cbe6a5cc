"""The symbolic oracle: exact derivatives of the same code, kinks, stable forms, cache, limits, errors."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck
from gradcheck import registry, symbolic
from gradcheck.core._errors import GradcheckError, InvalidArgumentError, ParameterError, SymbolicUnsupportedError
from gradcheck.ops import numpy_ops, sympy_ops

rng = np.random.default_rng(0)
A, B = rng.normal(size=(5, 3)), rng.normal(size=(5, 1))


# --------------------------------------------------------------------------- plain numpy losses
def test_least_squares_gradient_is_exact_to_the_last_digits() -> None:
    x = rng.normal(size=(3, 1))
    d = symbolic.gradient(lambda x: np.sum((A @ x - B) ** 2), x, exact=True)
    hand = 2 * A.T @ (A @ x - B)
    np.testing.assert_allclose(d.array(), hand, rtol=1e-13)
    exact = np.array([float(v) for v in d.exact_value["params"].ravel()]).reshape(x.shape)
    # the stated error bounds the float64 value's distance from the 50-digit one
    assert np.all(np.abs(d.array() - exact) <= d.error["params"])
    assert d.array().shape == x.shape and d.array().dtype == np.float64


def test_user_numpy_forms_all_map() -> None:
    """.T, @, mean, logaddexp, sum(axis=0), broadcasting, indexing, tanh, exp, log, maximum."""
    X = rng.normal(size=(6, 3))

    def loss(p: dict) -> object:
        h = np.tanh(X @ p["W"] + p["b"])                     # broadcasting a (4,) bias
        z = np.maximum(h, -0.5) + np.exp(-h ** 2) + np.log(1.5 + h)
        s = z.sum(axis=0)                                    # method form, axis
        return np.mean(np.logaddexp(0.0, s)) + z[1, 2] + (p["W"].T @ p["W"])[0, 0]

    p = {"W": 0.3 * rng.normal(size=(3, 4)), "b": 0.1 * rng.normal(size=4)}
    d = symbolic.gradient(loss, p)
    fd = gradcheck.numerical_grad(loss, p)
    for k in p:
        np.testing.assert_allclose(d.value[k], fd.value[k], rtol=1e-7, atol=1e-9)
        assert d.value[k].shape == p[k].shape


def test_caller_arrays_untouched_and_integer_params_accepted() -> None:
    x = np.arange(3)
    d = symbolic.gradient(lambda v: np.sum(v ** 3), x)
    assert x.dtype.kind == "i" and x.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(d.array(), 3.0 * np.arange(3) ** 2)


def test_a_loss_that_calls_float_still_works() -> None:
    loss = lambda x: float(np.sum((A @ x - B) ** 2))  # noqa: E731
    x = rng.normal(size=(3, 1))
    d = symbolic.gradient(loss, x, cache=False)
    np.testing.assert_allclose(d.array(), 2 * A.T @ (A @ x - B), rtol=1e-12)
    assert any("float()" in n for n in d.notes)


def test_math_functions_fail_with_a_named_error() -> None:
    import math

    with pytest.raises(SymbolicUnsupportedError, match=r"converted symbols to numbers.*math\.\*"):
        symbolic.gradient(lambda x: math.exp(float(np.sum(x))) + 0.0 * 1, np.ones(2), cache=False)


@pytest.mark.parametrize("fn, name", [
    (lambda x: np.sum(np.sort(x)), "sort"),
    (lambda x: np.sum(np.floor(x)), "floor"),
    (lambda x: np.sum(np.arctan2(x, 1.0)), "arctan2"),
    (lambda x: np.linalg.svd(np.outer(x, x), compute_uv=False).sum(), "svd"),
])
def test_unmapped_numpy_function_is_named(fn, name) -> None:
    with pytest.raises(SymbolicUnsupportedError, match=name) as info:
        symbolic.gradient(fn, np.ones(3), cache=False)
    assert isinstance(info.value, GradcheckError)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ParameterError, match=r"'params' has a non-finite entry at \(1,\)"):
        symbolic.gradient(lambda x: np.sum(x), np.array([1.0, np.nan]))
    with pytest.raises(InvalidArgumentError, match="max_entries"):
        symbolic.gradient(lambda x: np.sum(x), np.ones(2), max_entries=0)
    with pytest.raises(InvalidArgumentError, match="backend"):
        symbolic.gradient(lambda x: np.sum(x), np.ones(2), backend="maple")
    with pytest.raises(SymbolicUnsupportedError, match="not a scalar"):
        symbolic.gradient(lambda x: x * 2, np.ones(2), cache=False)


def test_too_large_is_na_with_the_reason_not_a_crash() -> None:
    d = symbolic.gradient(lambda x: np.sum(x ** 2), np.ones(50), max_entries=10)
    assert not d.ok and d.status == symbolic.Status.NA
    assert "too large for symbolic at this size" in d.reason and "50" in d.reason
    assert d.value == {}


# --------------------------------------------------------------------------- jacobians
def test_jacobian_is_numerator_layout() -> None:
    W = rng.normal(size=(3, 4))
    x = rng.normal(size=4)
    d = symbolic.jacobian(lambda x: np.tanh(W @ x), x)
    J = (1 - np.tanh(W @ x) ** 2)[:, None] * W
    assert d.array().shape == (3, 4)
    np.testing.assert_allclose(d.array(), J, rtol=1e-13)
    d2 = symbolic.jacobian(lambda p: p["M"] @ x, {"M": W})
    assert d2.value["M"].shape == (3, 3, 4)
    np.testing.assert_allclose(d2.value["M"], np.einsum("ij,k->ijk", np.eye(3), x))


# --------------------------------------------------------------------------- kinks
def test_relu_kink_reports_convention_and_one_sided_slopes() -> None:
    w = np.array([2.0, -1.0])
    z = np.array([1.0, 2.0])           # z @ w == 0: the ReLU sits exactly on its kink
    d = symbolic.gradient(lambda p: np.maximum(p["v"] @ w, 0.0) * 3.0, {"v": z})
    assert d.kink["v"].all()
    np.testing.assert_array_equal(d.value["v"], [0.0, 0.0])               # relu'(0) = 0
    np.testing.assert_array_equal(d.right["v"], [6.0, 0.0])               # right of the kink along +e_i
    np.testing.assert_array_equal(d.left["v"], [0.0, -3.0])
    away = symbolic.gradient(lambda p: np.maximum(p["v"] @ w, 0.0) * 3.0, {"v": z + [0.1, 0]})
    assert not away.kink["v"].any() and np.isnan(away.left["v"]).all()
    np.testing.assert_allclose(away.value["v"], [6.0, -3.0])


def test_kink_built_in_floats_is_found_and_abs_uses_zero() -> None:
    x = rng.normal(size=3)
    W = rng.normal(size=(3, 2))
    b = -(x @ W)                       # exactly 0 in the loss's float arithmetic, 1e-17 off exactly
    d = symbolic.gradient(lambda p: np.sum(np.abs(x @ p["W"] + b)), {"W": W})
    assert d.kink["W"].all()
    np.testing.assert_array_equal(d.value["W"], np.zeros_like(W))
    np.testing.assert_allclose(d.right["W"], np.abs(x)[:, None] * np.ones((1, 2)))
    np.testing.assert_allclose(d.left["W"], -np.abs(x)[:, None] * np.ones((1, 2)))


def test_relu_net_at_a_kink_agrees_with_finite_differences_on_the_sides() -> None:
    d = registry.get("relu_softmax.ce_mean")
    problem = d.problem(seed=0, n=3, n_in=2, hidden=3, classes=2)
    params = {k: v.copy() for k, v in problem.params.items()}
    r = problem.data["x"] @ params["W1"] + params["b1"]
    params["b1"][0, 0] -= r[0, 0]
    f, _ = d.bind(problem)
    s = symbolic.gradient(f, params)
    fd = gradcheck.numerical_grad(f, params)
    assert s.kink["b1"][0, 0] and fd.kink["b1"][0, 0]
    np.testing.assert_allclose([s.left["b1"][0, 0], s.right["b1"][0, 0]],
                               [fd.left["b1"][0, 0], fd.right["b1"][0, 0]], rtol=1e-6, atol=1e-9)


# --------------------------------------------------------------------------- stable forms
@pytest.mark.parametrize("scale", [800.0, -800.0])
def test_softmax_and_logsumexp_at_800_give_no_nan(scale: float) -> None:
    z = scale + np.array([0.0, 1.0, -2.0])
    d = symbolic.gradient(lambda z: np.log(np.sum(np.exp(z))), z)
    e = np.exp(z - z.max())
    np.testing.assert_allclose(d.array(), e / e.sum(), rtol=1e-14)
    J = symbolic.jacobian(lambda z: numpy_ops.softmax(z), z).array()
    y = e / e.sum()
    np.testing.assert_allclose(J, np.diag(y) - np.outer(y, y), rtol=1e-13, atol=1e-16)
    s = symbolic.gradient(lambda v: np.sum(np.log(1 + np.exp(v)) + 1 / (1 + np.exp(-v))), z)
    assert np.isfinite(s.array()).all()


# --------------------------------------------------------------------------- cache
def test_second_call_is_cached_and_right_at_another_point() -> None:
    M = rng.normal(size=(4, 4))
    loss = lambda x: np.sum(np.tanh(M @ x) ** 2)  # noqa: E731
    symbolic.clear_cache()
    x1, x2 = rng.normal(size=4), rng.normal(size=4)
    first = symbolic.gradient(loss, x1)
    second = symbolic.gradient(loss, x2)
    assert not first.cached and second.cached
    t = np.tanh(M @ x2)
    np.testing.assert_allclose(second.array(), M.T @ (2 * t * (1 - t ** 2)), rtol=1e-13)


def test_cache_is_keyed_on_the_data_the_loss_closes_over() -> None:
    def make(M: np.ndarray):
        return lambda x: np.sum((M @ x) ** 2)

    x = np.ones(2)
    a = symbolic.gradient(make(np.eye(2)), x)
    b = symbolic.gradient(make(2 * np.eye(2)), x)
    np.testing.assert_allclose(a.array(), [2.0, 2.0])
    np.testing.assert_allclose(b.array(), [8.0, 8.0])


def test_comparisons_are_decided_at_the_point_and_not_cached() -> None:
    loss = lambda x: np.sum(np.where(x > 0, x ** 2, -x))  # noqa: E731
    d1 = symbolic.gradient(loss, np.array([1.0, -1.0]))
    d2 = symbolic.gradient(loss, np.array([-1.0, 2.0]))
    np.testing.assert_array_equal(d1.array(), [2.0, -1.0])
    np.testing.assert_array_equal(d2.array(), [-1.0, 4.0])
    assert not d2.cached and any("comparisons" in n for n in d2.notes)


# --------------------------------------------------------------------------- xp namespaces and backends
def test_sympy_ops_namespace_and_numpy_ops_on_symbols_agree() -> None:
    d = registry.get("relu_logistic.outer")
    problem = d.problem(0, n=3, d=2, h=2)
    a = symbolic.gradient(lambda p: d.loss(p, problem.data, sympy_ops()), problem.params, backend="sympy")
    b = symbolic.gradient(lambda p: d.loss(p, problem.data, numpy_ops), problem.params, backend="sympy")
    for k in a.value:
        np.testing.assert_allclose(a.value[k], b.value[k], rtol=1e-13, atol=1e-15)


@pytest.mark.skipif(not symbolic.symengine_available(), reason="symengine not installed")
def test_symengine_gives_the_same_results_as_sympy() -> None:
    d = registry.get("sigmoid_mlp.column")
    problem = d.problem(0, n_in=2, width=3, n_out=2, depth=2)
    f, _ = d.bind(problem)
    a = symbolic.gradient(f, problem.params, backend="sympy")
    b = symbolic.gradient(f, problem.params, backend="symengine")
    assert a.backend == "sympy" and b.backend == "symengine"
    for k in a.value:
        np.testing.assert_allclose(a.value[k], b.value[k], rtol=1e-13, atol=1e-16)


def test_a_bare_array_is_keyed_by_the_name_check_grad_gives_it() -> None:
    """One name for a bare array everywhere: ``params`` for a gradient (as in check_grad's
    result.params), ``x`` for a Jacobian (as in check_jacobian's); ``array()`` returns it bare."""
    x = np.array([0.5, -1.0, 2.0])
    g = symbolic.gradient(lambda v: np.sum(v ** 3), x)
    checked = gradcheck.check_grad(lambda v: np.sum(v ** 3), lambda v: 3 * v ** 2, x)
    assert list(g.value) == list(checked.params) == ["params"]
    assert list(g.error) == list(g.kink) == ["params"]
    np.testing.assert_allclose(g.array(), 3 * x ** 2, rtol=1e-15)
    j = symbolic.jacobian(lambda v: v ** 2, x)
    jc = gradcheck.check_jacobian(lambda v: v ** 2, lambda v: np.diag(2 * v), x)
    assert list(j.value) == list(jc.params) == ["x"]
    proof = symbolic.disprove(lambda v: np.sum(v ** 3), lambda v: 3 * v ** 2, x)
    assert list(proof.params) == ["params"]
    named = symbolic.gradient(lambda p: np.sum(p["w"] ** 3), {"w": x})
    assert list(named.value) == ["w"]
