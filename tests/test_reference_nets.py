"""The reference derivations: registry completeness, correct ones pass, published slips fail.

Every check here could fail: a correct gradient that the checker rejected, a published
slip that it accepted, a missing or extra registry entry, or a loss that does not run
on sympy arrays all make a test red.
"""

from __future__ import annotations

import numpy as np
import pytest

import reference_nets  # noqa: F401  (registers the derivations)
from gradcheck import registry
from gradcheck.ops import sympy_ops
from reference_nets import relu_logistic, relu_softmax, row_mlp, sigmoid_column

CORRECT = {
    "least_squares.x", "least_squares.A",
    "sigmoid_layer.column", "sigmoid_mlp.column", "xnor.sigmoid_2_3_1",
    "row_mlp.sigmoid", "row_mlp.tanh", "row_mlp.relu", "row_mlp.nobias_000", "row_mlp.l2norm",
    "relu_softmax.ce_mean", "relu_softmax.softmax_jacobian",
    "relu_logistic.kron", "relu_logistic.kron_math_layout", "relu_logistic.outer", "logistic.loss",
    "kron_vec.column_major", "kron_vec.row_major", "kron_vec.denominator_column_major",
    "matrix_calculus.xW_by_W", "matrix_calculus.xW_by_x", "matrix_calculus.XW_by_X",
    "second_order.least_squares", "second_order.logistic", "second_order.softmax_ce", "second_order.quadratic_form",
    "second_order.sigmoid_layer_gauss_newton", "second_order.sigmoid_layer_hessian",
    "symmetric.gaussian_nll", "symmetric.whitened_residual",
}
PUBLISHED = {
    "sigmoid_layer.published_dW_numerator", "sigmoid_mlp.published_dW_numerator",
    "row_mlp.published_dW1_first", "row_mlp.published_norm_as_squared", "row_mlp.published_dW2_from_db1",
    "relu_softmax.published_sum_loss",
    "second_order.published_least_squares_AtA", "second_order.published_quadratic_2M",
    "second_order.published_gn_as_hessian",
    "symmetric.entries_convention",  # a convention mixed up, not from the seed documents
}

SEEDS = (0, 1, 2)


def _ours() -> list[registry.Derivation]:
    return [d for d in registry.derivations(entry_points=False) if d.make.__module__.startswith("reference_nets")]


def test_registry_lists_exactly_the_expected_derivations() -> None:
    assert {d.name for d in _ours()} == CORRECT | PUBLISHED


@pytest.mark.parametrize("name", sorted(CORRECT | PUBLISHED))
def test_metadata_is_consistent(name: str) -> None:
    d = registry.get(name)
    # the seed documents' derivations cite their file; the symmetric-matrix ones cite the Matrix
    # Cookbook, which no seed covers
    assert (d.source.endswith(".txt") or (name.startswith("symmetric.") and "Cookbook" in d.source)) and d.equations
    assert d.expected_correct is (name in CORRECT)
    if not d.expected_correct:
        assert d.slip and d.corrects in CORRECT, "a slip names what is wrong and its corrected twin"
    uses_relu = "relu" in d.name or "kron" in d.name and "relu_logistic" in d.name
    assert ("relu" in d.tags) == (uses_relu and d.kind == "grad"), "ReLU derivations are tagged for kinks"
    assert set(d.named_sizes) == {"other", "symbolic", "sympy_loss"}, "the sizes the tests run each derivation at"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("sizes", ["default", "other"])  # other: a second size, non-square where it can be
@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_derivation_passes(name: str, sizes: str, seed: int) -> None:
    d = registry.get(name)
    result = d.check(seed=seed, sizes=d.sizes_for(sizes))
    assert result.ok, str(result)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("sizes", ["default", "other"])  # other: a second size, non-square where it can be
@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_slip_is_flagged_on_values(name: str, sizes: str, seed: int) -> None:
    # The check must *run* (no shape error) and reject the values: the slip is in the numbers.
    d = registry.get(name)
    result = d.check(seed=seed, sizes=d.sizes_for(sizes))
    assert not result.ok
    assert any(not p.ok for p in result.params.values())


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_slip_differs_from_its_correction(name: str) -> None:
    # A slip pairs a loss with a gradient; against its corrected twin either the loss differs
    # (004: sum vs mean) or, for the same loss on the same instance, the gradient values do.
    d = registry.get(name)
    twin = registry.get(d.corrects)
    if d.loss is not twin.loss:
        assert d.derivative is twin.derivative
        return
    problem = d.problem(seed=5)
    published = d.derivative(problem.params, problem.data)
    corrected = twin.derivative(problem.params, problem.data)
    assert any(not np.allclose(published[k], corrected[k]) for k in problem.params)


# -- the slips, quantified --------------------------------------------------------------
def test_003_norm_differentiated_as_squared_is_off_by_2_norm() -> None:
    problem = registry.get("row_mlp.published_norm_as_squared").problem(seed=3)
    p, d = problem.params, problem.data
    right = row_mlp.grad(p, d)
    wrong = row_mlp.grad_published_norm_as_squared(p, d)
    residual = row_mlp.forward(p, d)[0][-1] - d["T"]
    for k in p:
        np.testing.assert_allclose(wrong[k], 2 * np.linalg.norm(residual) * right[k], rtol=1e-12)


def test_004_mean_gradient_is_n_times_too_small_for_the_summed_loss() -> None:
    d = registry.get("relu_softmax.published_sum_loss")
    problem = d.problem(seed=1, n=7)
    from gradcheck import numerical_grad

    f, df = d.bind(problem)
    numeric = numerical_grad(f, problem.params).value
    for k, v in df(problem.params).items():
        np.testing.assert_allclose(7 * v, numeric[k], rtol=1e-6, atol=1e-9)


def test_001_published_dW_is_the_transpose_and_a_shape_error_when_not_square() -> None:
    from gradcheck import ShapeMismatchError, check_grad

    d = registry.get("sigmoid_layer.column")
    problem = d.problem(seed=0, n_in=3, n_out=5)
    f, _ = d.bind(problem)
    published = sigmoid_column.layer_grad_published(problem.params, problem.data)["W"]
    np.testing.assert_allclose(published, sigmoid_column.layer_grad(problem.params, problem.data)["W"].T)
    with pytest.raises(ShapeMismatchError):
        check_grad(f, lambda p: sigmoid_column.layer_grad_published(p, problem.data), problem.params)


def test_000_first_dW1_expression_is_a_shape_error_for_non_square_sizes() -> None:
    problem = registry.get("row_mlp.nobias_000").problem(seed=0)  # n=6, id=4, h1=5, h2=3
    with pytest.raises(ValueError):
        row_mlp.grad_published_dW1_first(problem.params, problem.data)


def test_003_dW2_from_db1_is_a_shape_error_unless_widths_agree() -> None:
    from gradcheck import ShapeMismatchError, check_grad

    d = registry.get("row_mlp.tanh")
    problem = d.problem(seed=0, depth=2, width=4, n_out=2)
    f, _ = d.bind(problem)
    assert row_mlp.grad_published_dW2_from_db1(problem.params, problem.data)["W2"].shape == (4, 4)
    with pytest.raises(ShapeMismatchError):
        check_grad(f, lambda p: row_mlp.grad_published_dW2_from_db1(p, problem.data), problem.params)


def test_002_kron_dimension_claim_is_a_shape_error() -> None:
    d, h = 3, 4
    claimed = relu_logistic.kron_as_claimed(np.arange(1.0, d + 1), h)
    assert claimed.shape == (d * h, h)  # not "hd x h" used as h x hd
    with pytest.raises(ValueError):
        np.diag(np.ones(h)) @ claimed
    # what numpy's kron of a 1-d X actually builds in 002's code: the row form, (h, d*h)
    assert np.kron(np.arange(1.0, d + 1), np.eye(h)).shape == (h, d * h)


def test_002_kron_code_outer_and_math_layout_agree() -> None:
    problem = registry.get("relu_logistic.kron").problem(seed=4, n=5, d=3, h=4)
    p, data = problem.params, problem.data
    kron, outer = relu_logistic.grad_kron(p, data), relu_logistic.grad_outer(p, data)
    math = relu_logistic.grad_kron_math_layout({**p, "Wi": p["Wi"].T}, data)
    for k in p:
        np.testing.assert_allclose(kron[k], outer[k], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(math["Wi"], kron["Wi"].T, rtol=1e-12, atol=1e-14)


# -- the checker on confusions these documents invite ------------------------------------
def test_kron_column_major_jacobian_is_rejected_as_row_major() -> None:
    from gradcheck import check_jacobian

    d = registry.get("kron_vec.column_major")
    problem = d.problem(seed=0)
    f, df = d.bind(problem)
    assert check_jacobian(f, df, problem.params, order="F").ok
    assert not check_jacobian(f, df, problem.params, order="C").ok


def test_softmax_jacobian_transposed_is_fine_only_because_it_is_symmetric() -> None:
    # diag(y) - y y^T is symmetric, so numerator and denominator layouts coincide; a wrong
    # sign on the outer product is not symmetric-safe and must fail.
    from gradcheck import check_jacobian

    d = registry.get("relu_softmax.softmax_jacobian")
    problem = d.problem(seed=1)
    f, df = d.bind(problem)
    assert check_jacobian(f, df, problem.params, layout="denominator").ok

    def wrong(p: dict) -> dict:
        y = relu_softmax.numpy_ops.softmax(p["score"])
        return {"score": np.diag(y) + np.outer(y, y)}

    assert not check_jacobian(f, wrong, problem.params).ok


def test_relu_default_draws_stay_clear_of_the_kink() -> None:
    for seed in range(5):
        p = registry.get("relu_softmax.ce_mean").problem(seed)
        assert np.min(np.abs(p.data["x"] @ p.params["W1"] + p.params["b1"])) >= 1e-3
        p = registry.get("row_mlp.relu").problem(seed)
        assert all(np.min(np.abs(z)) >= 1e-3 for z in row_mlp.forward(p.params, p.data)[1])


# -- one loss, two backends: each loss runs on sympy object arrays -----------------------
def _symbolic(params: dict) -> tuple[dict, dict]:
    import sympy

    sym, subs = {}, {}
    for name, value in params.items():
        arr = np.empty(value.shape, dtype=object)
        for idx in np.ndindex(value.shape):
            s = sympy.Symbol(f"{name}_{'_'.join(map(str, idx))}", real=True)
            arr[idx] = s
            subs[s] = float(value[idx])
        sym[name] = arr
    return sym, subs


@pytest.mark.parametrize("name", sorted(CORRECT | PUBLISHED))
def test_loss_runs_on_sympy_and_matches_the_float_value(name: str) -> None:
    import sympy

    d = registry.get(name)
    problem = d.problem(seed=0, **d.sizes_for("sympy_loss"))
    sym, subs = _symbolic(problem.params)
    expr = d.loss(sym, problem.data, sympy_ops())
    value = np.asarray(d.loss(problem.params, problem.data), dtype=np.float64)
    expr = np.asarray(expr, dtype=object)
    assert expr.shape == value.shape
    for idx in np.ndindex(value.shape):
        e = sympy.sympify(expr[idx])
        assert e.free_symbols, "the symbolic loss depends on the parameters"
        assert float(e.xreplace(subs).evalf(30)) == pytest.approx(float(value[idx]), rel=1e-12, abs=1e-13)


def test_relu_gradient_at_an_exact_kink_is_reported_as_a_kink_not_a_failure() -> None:
    from gradcheck import check_grad

    d = registry.get("relu_softmax.ce_mean")
    problem = d.problem(seed=0)
    params = {k: v.copy() for k, v in problem.params.items()}
    r = problem.data["x"] @ params["W1"] + params["b1"]
    params["b1"][0, 0] -= r[0, 0]  # sample 0, hidden unit 0 now sits exactly at max(0, .)'s kink
    f, df = d.bind(problem)
    result = check_grad(f, df, params)
    assert result.ok, str(result)
    assert result.params["b1"].n_kinks >= 1


def test_a_foreign_package_named_reference_nets_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    from gradcheck import InvalidArgumentError

    monkeypatch.setitem(sys.modules, "reference_nets", types.ModuleType("reference_nets"))
    monkeypatch.setattr(registry, "_loaded_builtin", False)
    with pytest.raises(InvalidArgumentError, match="is not gradcheck's built-in derivations"):
        registry.derivations()
