"""The symbolic oracle over every registered derivation, proofs, and matrix-level derivatives."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import mutations, registry, symbolic
from gradcheck.symbolic import Status

# Small sizes, each derivation's own ``named_sizes["symbolic"]``: sympy alone (CI may not have
# symengine) builds, differentiates and compiles each in well under a second, and every
# published slip still runs and still differs.
TINY = {d.name: d.named_sizes["symbolic"] for d in registry.derivations() if "symbolic" in d.named_sizes}
CORRECT = [d.name for d in registry.derivations() if d.expected_correct]
PUBLISHED = [d.name for d in registry.derivations() if not d.expected_correct]


def _sizes(name: str) -> dict:
    return TINY.get(name, {})


def _max_rel(a: dict, b: dict) -> float:
    scale = max(float(np.abs(v).max()) for v in a.values()) or 1.0
    return max(float(np.abs(a[k] - b[k]).max()) for k in a) / scale


def test_every_registered_derivation_has_a_tiny_size() -> None:
    assert set(CORRECT + PUBLISHED) <= set(TINY), 'register the new derivation with named_sizes={"symbolic": ...}'


@pytest.mark.parametrize("name", CORRECT)
def test_symbolic_matches_the_hand_derivative_of_every_correct_derivation(name: str) -> None:
    d = registry.get(name)
    problem = d.problem(1, **_sizes(name))
    exact = symbolic.derivation_gradient(d, problem)
    assert exact.ok, exact.reason
    hand = mutations.bind(d, problem).derivative(problem.params)   # numerator layout, full shape
    assert _max_rel(exact.value, hand) < 1e-10


@pytest.mark.parametrize("name", PUBLISHED)
def test_every_published_slip_differs_and_is_disproved(name: str) -> None:
    d = registry.get(name)
    problem = d.problem(1, **_sizes(name))
    exact = symbolic.derivation_gradient(d, problem)
    hand = mutations.bind(d, problem).derivative(problem.params)
    assert _max_rel(exact.value, hand) > 1e-3


FAST_DISPROOFS = ["relu_softmax.published_sum_loss"]
"""A slip wrong in every parameter, so prove_derivation has nothing to prove; the other slips' correct
parameters take minutes to prove with sympy alone, and tests/test_symbolic_disproofs.py disproves every
slip with disprove_derivation instead."""


@pytest.mark.parametrize("name", FAST_DISPROOFS)
def test_published_slips_are_disproved_with_a_counterexample(name: str) -> None:
    d = registry.get(name)
    problem = d.problem(1, **_sizes(name))
    proof = symbolic.prove_derivation(d, problem)
    assert proof.status == Status.DISPROVED, str(proof)
    bad = [p for p in proof.params.values() if p.status == Status.DISPROVED]
    assert bad and all(p.counterexample is not None and p.index is not None for p in bad)


PROVABLE = ["least_squares.x", "least_squares.A", "relu_softmax.ce_mean"]


@pytest.mark.parametrize("name", PROVABLE)
def test_prove_proves_correct_derivations_whose_backward_runs_on_symbols(name: str) -> None:
    d = registry.get(name)
    problem = d.problem(0, **{**_sizes(name), **({"n": 2} if "relu" in name else {})})
    proof = symbolic.prove_derivation(d, problem)
    assert proof.ok, str(proof)
    assert all(p.proved_entries == p.entries > 0 for p in proof.params.values())
    if "relu" in name:
        assert "activation pattern at the point" in proof.scope


def test_an_undefined_activation_proves_the_chain_rule_for_every_activation() -> None:
    f, df = symbolic.symbolic_activation("f")
    X = np.array([[0.5, -1.0], [2.0, 0.25]])
    T = np.array([[1.0], [0.0]])

    def loss(p: dict) -> object:
        h = f(X @ p["W1"] + p["b1"])
        return np.sum((h @ p["W2"] - T) ** 2) / 2

    def grad(p: dict, slip: bool = False) -> dict:
        z = X @ p["W1"] + p["b1"]
        r = f(z) @ p["W2"] - T
        dz = (r @ p["W2"].T) * (1 if slip else df(z))
        return {"W1": X.T @ dz, "b1": dz.sum(axis=0), "W2": f(z).T @ r}

    p = {"W1": np.array([[0.1, -0.2], [0.3, 0.4]]), "b1": np.array([0.1, -0.1]), "W2": np.array([[0.5], [-0.7]])}
    assert symbolic.prove(loss, grad, p).ok
    wrong = symbolic.prove(loss, lambda q: grad(q, slip=True), p)
    assert wrong.params["W1"].status != Status.PROVED and wrong.params["W2"].status == Status.PROVED


def test_prove_reports_code_that_does_not_run_on_symbols_as_na() -> None:
    proof = symbolic.prove(lambda x: np.sum(x ** 2), lambda x: 2 * np.sort(x), np.ones(2))
    assert proof.status == Status.NA and "symbols" in proof.params["params"].reason


# --------------------------------------------------------------------------- matrix level
def _M_ls(M, n, m):
    r = M("A", m, n) * M("x", n, 1) - M("b", m, 1)
    return r.T * r


SIZES = [{"n": 2, "m": 3}, {"n": 3, "m": 2}]


def test_least_squares_matrix_derivatives_are_proved_for_all_sizes() -> None:
    rx = symbolic.matrix_derivative(_M_ls, "x", dims=("n", "m"), sizes=SIZES,
                                    hand=lambda M, n, m: 2 * M("A", m, n).T * (M("A", m, n) * M("x", n, 1) - M("b", m, 1)))
    assert rx.status == Status.PROVED and rx.hand_matches and rx.scope.startswith("proved for all sizes")
    assert len(rx.checked_sizes) == 2
    rA = symbolic.matrix_derivative(_M_ls, "A", dims=("n", "m"), sizes=SIZES,
                                    hand=lambda M, n, m: 2 * (M("A", m, n) * M("x", n, 1) - M("b", m, 1)) * M("x", n, 1).T)
    assert rA.status == Status.PROVED and rA.hand_matches


def test_quadratic_form_and_linear_layer() -> None:
    import sympy as sp

    q = symbolic.matrix_derivative(lambda M, n: M("x", n, 1).T * M("A", n, n) * M("x", n, 1), "x", dims=("n",),
                                   sizes=[{"n": 2}, {"n": 3}], hand=lambda M, n: 2 * M("A", n, n) * M("x", n, 1))
    assert q.status == Status.DISPROVED and q.hand_matches is False    # 2Ax holds only for symmetric A
    lin = symbolic.matrix_derivative(lambda M, n, m: sp.Trace(M("C", m, 1).T * (M("W", m, n) * M("x", n, 1))), "W",
                                     dims=("n", "m"), sizes=SIZES, hand=lambda M, n, m: M("C", m, 1) * M("x", n, 1).T)
    assert lin.status == Status.PROVED and lin.hand_matches


def test_matrix_derivative_needs_two_sizes() -> None:
    from gradcheck.core._errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="two or more"):
        symbolic.matrix_derivative(_M_ls, "x", dims=("n", "m"), sizes=[{"n": 2, "m": 3}])
