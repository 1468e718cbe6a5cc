"""The mutations that depend on more than the derivative (the output shape, the loss's value, the
parameter's structure), each applied to a registered derivation and diagnosed by name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import gradcheck as gc
from gradcheck import InvalidArgumentError, mutations, registry
from gradcheck.mutations import TINY, TINY_MUTATIONS, mutate


@pytest.fixture(scope="module")
def symmetric() -> Iterator[dict[str, registry.Derivation]]:
    """The symmetric-matrix derivations, without leaking them into other tests' registry listings
    (until ``reference_nets`` imports them itself)."""
    registry.derivations()
    saved = dict(registry._REGISTRY)
    import reference_nets.symmetric  # noqa: F401  (registers on first import)

    names = ["symmetric.gaussian_nll", "symmetric.entries_convention", "symmetric.whitened_residual"]
    found = {n: registry.get(n) for n in names}
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)
    yield found


def _twin(bound: mutations.Bound, kind: str, param: str, seed: int = 0) -> mutations.Twin:
    twins = [t for t in mutations.broken_twins(bound, seed=seed, mutations=[kind], params=[param])]
    assert len(twins) == 1, f"{kind} should apply to {param!r}"
    return twins[0]


def _diagnosis(bound: mutations.Bound, twin: mutations.Twin) -> str:
    result = bound.check(twin.derivative)
    assert result.failed, result.summary()
    return result.params[twin.mutant.param].diagnosis or ""


# --------------------------------------------------------------------------- layout swap
def test_layout_swap_applies_to_square_jacobians_only() -> None:
    J = np.arange(12.0).reshape(3, 4)
    m = mutations.MUTATIONS[[x.name for x in mutations.MUTATIONS].index("layout_swap")]
    assert m.applies((3,), out_shape=(3,)) and not m.applies((4,), out_shape=(3,)) and not m.applies((3,))
    with pytest.raises(InvalidArgumentError, match="layout_swap"):
        mutate(J, "layout_swap", param_shape=(4,))
    square = np.arange(16.0).reshape(2, 2, 2, 2)
    assert np.array_equal(mutate(square, "layout_swap", param_shape=(2, 2)).mutated, square.transpose(2, 3, 0, 1))


@pytest.mark.parametrize("seed", range(3))
def test_layout_swap_of_the_whitening_jacobian_is_named(symmetric: dict, seed: int) -> None:
    d = symmetric["symmetric.whitened_residual"]
    bound = mutations.bind(d, d.problem(seed))
    twin = _twin(bound, "layout_swap", "mu")
    assert twin.mutant.changes
    assert "layout='denominator'" in _diagnosis(bound, twin)
    assert bound.check(twin.derivative, layout="denominator").ok  # the swap is exactly the other layout


# --------------------------------------------------------------------------- twice the loss
def test_point_factor_needs_the_loss_value() -> None:
    g = np.array([1.0, -2.0, 3.0])
    with pytest.raises(InvalidArgumentError, match="loss_value=None"):
        mutate(g, "point_factor")
    assert np.array_equal(mutate(g, "point_factor", loss_value=1.5).mutated, 3.0 * g)
    with pytest.raises(InvalidArgumentError, match="point_factor"):  # a Jacobian has no scalar loss
        mutate(np.ones((2, 3)), "point_factor", param_shape=(3,), loss_value=1.5)


@pytest.mark.parametrize("name,param", [("least_squares.x", "x"), ("row_mlp.tanh", "W2"),
                                        ("symmetric.gaussian_nll", "S")])
def test_twice_the_loss_is_named_on_registered_gradients(symmetric: dict, name: str, param: str) -> None:
    d = symmetric.get(name) or registry.get(name)
    bound = mutations.bind(d, d.problem(4))
    twin = _twin(bound, "point_factor", param)
    f = bound.loss_value()
    assert f is not None and np.allclose(twin.mutant.mutated, 2 * f * twin.mutant.original)
    text = _diagnosis(bound, twin)
    assert "2 x the loss" in text and f"{f:.6g}" in text


# --------------------------------------------------------------------------- the lower triangle only
def test_upper_zeros_zeroes_the_strict_upper_triangle_row_by_row() -> None:
    J = np.arange(1.0, 1.0 + 2 * 9).reshape(2, 3, 3)  # two output rows of a (3, 3) parameter
    out = mutate(J, "upper_zeros", param_shape=(3, 3)).mutated
    assert np.array_equal(out, np.tril(J))
    with pytest.raises(InvalidArgumentError, match="upper_zeros"):  # a symmetric S moves in pairs: not this slip
        mutate(np.ones((3, 3)), "upper_zeros", structure="symmetric")


@pytest.mark.parametrize("name,param", [("sigmoid_mlp.column", "W1"), ("row_mlp.sigmoid", "W2")])
@pytest.mark.parametrize("seed", range(2))
def test_a_lost_upper_triangle_is_named(name: str, param: str, seed: int) -> None:
    d = registry.get(name)
    bound = mutations.bind(d, d.problem(seed))
    twin = _twin(bound, "upper_zeros", param)
    text = _diagnosis(bound, twin)
    assert "lower triangle" in text and "upper triangle" in text and f"{{'{param}': 'lower'}}" in text


# --------------------------------------------------------------------------- symmetric conventions
def test_convention_conversions_invert_each_other() -> None:
    rng = np.random.default_rng(3)
    A = rng.normal(size=(4, 4))
    D = A + A.T
    E = mutate(D, "symmetric_convention", structure="symmetric").mutated
    assert np.array_equal(np.diag(E), np.diag(D)) and np.allclose(E - np.diag(np.diag(E)), 2 * (D - np.diag(np.diag(D))))
    assert np.allclose(mutate(E, "symmetric_convention", structure="symmetric-entries").mutated, D)
    with pytest.raises(InvalidArgumentError, match="structure=None"):
        mutate(D, "symmetric_convention")


def test_the_structure_is_read_from_the_derivation_tags(symmetric: dict) -> None:
    d = symmetric["symmetric.gaussian_nll"]
    bound = mutations.bind(d, d.problem(0))
    assert bound.structure == {"S": "symmetric"} and bound.options["structure"] == {"S": "symmetric"}
    assert any("structure 'symmetric'" in n for n in bound.check().notes)
    broken = registry.Derivation(**{**d.__dict__, "tags": ("structure:S=hermitian",)})
    with pytest.raises(InvalidArgumentError, match="structure:S=hermitian"):
        mutations.bind(broken, d.problem(0))


def test_a_structured_check_holds_its_arrays_in_the_parameters_shape(symmetric: dict) -> None:
    """Tolerances and statuses line up with S (n, n), so a mutant of S can be judged detectable."""
    d = symmetric["symmetric.gaussian_nll"]
    bound = mutations.bind(d, d.problem(1))
    p = bound.check().params["S"]
    S = bound.problem.params["S"]
    assert p.tolerances.shape == S.shape and p.status.shape == S.shape and p.derivative_shape == S.shape
    assert np.array_equal(p.tolerances, p.tolerances.T)
    np.testing.assert_allclose(p.numeric, bound.derivative(bound.problem.params)["S"], rtol=1e-6, atol=1e-9)
    twin = _twin(bound, "perturb_large", "S", seed=2)
    assert twin.mutant.detectable(p.tolerances, p.status) and bound.check(twin.derivative).failed


@pytest.mark.parametrize("seed", range(3))
def test_the_other_convention_is_named_on_the_gaussian_likelihood(symmetric: dict, seed: int) -> None:
    d = symmetric["symmetric.gaussian_nll"]
    bound = mutations.bind(d, d.problem(seed))
    assert bound.check().ok
    twin = _twin(bound, "symmetric_convention", "S")
    assert "follows the 'symmetric-entries' convention" in _diagnosis(bound, twin)
    published = symmetric["symmetric.entries_convention"]
    assert mutations.bind(published, published.problem(seed)).check().failed
    assert published.check(seed).failed  # without the structure too: its off-diagonal entries are doubled


def test_conventions_are_named_without_the_structure_option(symmetric: dict) -> None:
    """A square gradient in a symmetric convention, checked as a general matrix."""
    d = symmetric["symmetric.gaussian_nll"]
    problem = d.problem(2)
    f, df = d.bind(problem)
    S0 = problem.params["S"]

    def loss(S: Any) -> Any:
        return f({**problem.params, "S": S})

    G = df(problem.params)["S"]
    entries = gc.check_grad(loss, lambda S: G + G.T - np.diag(np.diag(G)), S0)
    assert "'symmetric-entries' convention" in entries.params["params"].diagnosis
    C = np.random.default_rng(1).normal(size=S0.shape)  # <C, S>: an unsymmetric general gradient
    sym = gc.check_grad(lambda S: float(np.sum(C * S)), lambda S: (C + C.T) / 2, S0)
    assert "structure={'params': 'symmetric'}" in sym.params["params"].diagnosis


# --------------------------------------------------------------------------- slips of 1e-8
@pytest.mark.parametrize("kind,low,high", [("scale_1e-8", 1e-8, 1e-8), ("entry_1e-8", 1e-8, 1e-8),
                                           ("float32", 1e-10, 6e-8), ("stray_epsilon", 1e-8, 5e-8)])
def test_tiny_mutations_have_the_size_they_name(kind: str, low: float, high: float) -> None:
    g = np.random.default_rng(5).normal(size=(3, 4))
    sizes = [mutate(g, kind, seed=s).relative_change for s in range(10)]
    assert all(low * (1 - 1e-6) <= r <= high * (1 + 1e-6) for r in sizes), sizes
    assert kind in mutations.mutation_names(tiny=True) and kind not in mutations.mutation_names()
    assert TINY == 1e-8 and len(TINY_MUTATIONS) == 4
