"""Structured parameters and the second pass of the diagnosis, on cases written the way
users write them: a symmetric-matrix gradient in each convention, a Cholesky-based loss with
the usual symmetrised gradient, a denominator-layout Jacobian of the same shape, the norm
differentiated as if squared at several points, a gradient that is rounding noise."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import gradcheck as gc

RNG = np.random.default_rng(7)
_A = RNG.normal(size=(4, 4))
S0 = _A @ _A.T + 4 * np.eye(4)  # symmetric positive definite
C = RNG.normal(size=(4, 4))  # not symmetric: <C, S> gives an unsymmetric general-matrix gradient


def trace_logdet(S: Any) -> float:
    """<C, S> + log det S, read through every entry of S."""
    return float(np.sum(C * S) + np.linalg.slogdet(S)[1])


def general(S: Any) -> Any:  # the general-matrix gradient G = C + S^-T
    return C + np.linalg.inv(S).T


def frobenius(S: Any) -> Any:  # (G + G^T)/2
    g = general(S)
    return (g + g.T) / 2


def entries(S: Any) -> Any:  # G + G^T - diag(G), the Matrix Cookbook's
    g = general(S)
    return g + g.T - np.diag(np.diag(g))


@pytest.mark.parametrize("structure,right,wrong", [("symmetric", frobenius, entries),
                                                   ("symmetric-entries", entries, frobenius)])
def test_each_symmetric_convention_passes_its_own_check_and_names_the_other(structure: str, right: Any,
                                                                           wrong: Any) -> None:
    r = gc.check_grad(trace_logdet, right, S0, structure={"params": structure})
    assert r.ok, str(r)
    assert any(f"structure {structure!r}" in n for n in r.notes)
    w = gc.check_grad(trace_logdet, wrong, S0, structure={"params": structure})
    assert w.failed
    other = "symmetric-entries" if structure == "symmetric" else "symmetric"
    assert f"follows the {other!r} convention" in w.params["params"].diagnosis
    assert all(i != j for i, j in (e.index for e in w.params["params"].mismatches))  # only off-diagonal pairs


def test_structured_entries_are_indexed_by_row_and_column() -> None:
    w = gc.check_grad(trace_logdet, lambda S: frobenius(S) + np.eye(4)[2:3].T @ np.eye(4)[0:1], S0,
                      structure={"params": "symmetric"})
    assert [e.index for e in w.params["params"].mismatches] == [(2, 0)]
    assert w.params["params"].shape == (4, 4)


def test_lower_and_diagonal_structures_compare_only_their_entries() -> None:
    L0 = np.linalg.cholesky(S0)

    def loss(L: Any) -> float:  # L is a Cholesky factor: only its lower triangle exists
        return float(np.sum((L @ L.T - S0) ** 2) + np.sum(np.tril(L) ** 3))

    def grad(L: Any) -> Any:
        E = L @ L.T - S0
        return np.tril(4 * E @ L + 3 * np.tril(L) ** 2) + 99.0 * np.triu(np.ones((4, 4)), 1)  # junk above
    assert gc.check_grad(loss, grad, L0, structure={"params": "lower"}).ok
    assert gc.check_grad(lambda D: float(np.sum(np.diag(D) ** 2)), lambda D: 2 * D, np.diag([1.0, 2.0, 3.0]),
                         structure={"params": "diagonal"}).ok


@pytest.mark.parametrize("bad,match", [({"params": "hermitian"}, "expected one of"),
                                       ({"nope": "symmetric"}, "not parameters"),
                                       ({"params": "symmetric"}, "not symmetric")])
def test_structure_errors_are_named(bad: dict[str, str], match: str) -> None:
    with pytest.raises(gc.InvalidArgumentError, match=match):
        gc.check_grad(trace_logdet, frobenius, S0 + np.triu(np.ones((4, 4)), 1), structure=bad)


def test_a_square_but_not_symmetric_shape_check_is_named() -> None:
    with pytest.raises(gc.InvalidArgumentError, match="needs a square matrix"):
        gc.check_grad(lambda v: float(np.sum(v)), np.ones_like, np.ones((2, 3)), structure={"params": "lower"})


# --------------------------------------------------------------------------- diagnosis without the option
def logdet_cholesky(S: Any) -> float:
    """log det S through its Cholesky factor: numpy reads only the lower triangle."""
    return float(2 * np.sum(np.log(np.diag(np.linalg.cholesky(S)))))


def test_a_loss_reading_only_the_lower_triangle_is_recognised_with_the_convention_named() -> None:
    r = gc.check_grad(logdet_cholesky, lambda S: np.linalg.inv(S), S0)  # the usual symmetric gradient
    d = r.params["params"].diagnosis
    assert r.failed and "reads only the lower triangle" in d and "(G + G^T)/2" in d and "'symmetric'" in d
    r = gc.check_grad(logdet_cholesky, lambda S: 2 * np.linalg.inv(S) - np.diag(np.diag(np.linalg.inv(S))), S0)
    assert "G + G^T - diag(G)" in r.params["params"].diagnosis
    assert gc.check_grad(logdet_cholesky, lambda S: np.linalg.inv(S), S0, structure={"params": "symmetric"}).ok


def test_a_denominator_layout_jacobian_of_the_same_shape_is_named() -> None:
    X = RNG.normal(size=(3, 3)) + 3 * np.eye(3)  # not symmetric: the two layouts differ

    def jac(X: Any) -> Any:
        Xi = np.linalg.inv(X)
        return -np.einsum("ik,lj->ijkl", Xi, Xi)

    denominator = lambda X: np.moveaxis(jac(X), [0, 1], [2, 3])  # noqa: E731
    r = gc.check_jacobian(np.linalg.inv, denominator, X)
    assert "pass layout='denominator'" in r.params["x"].diagnosis
    assert gc.check_jacobian(np.linalg.inv, denominator, X, layout="denominator").ok
    noisy = gc.check_jacobian(np.linalg.inv, lambda X: 1.3 * jac(X) + 0.1, X)
    assert noisy.params["x"].diagnosis.startswith("all 81 Jacobian entries wrong")


@pytest.mark.parametrize("seed", range(3))
def test_the_norm_differentiated_as_if_squared_is_named_at_every_point(seed: int) -> None:
    rng = np.random.default_rng(seed)
    B, b, x = rng.normal(size=(5, 3)), rng.normal(size=5), rng.normal(size=3) * (1 + seed)
    r = gc.check_grad(lambda v: float(np.linalg.norm(B @ v - b)), lambda v: 2 * B.T @ (B @ v - b), x)
    d = r.params["params"].diagnosis
    assert "2 x the loss" in d and "as if it were squared" in d
    factor = float(d.split("analytic = ")[1].split(" x")[0])
    assert factor == pytest.approx(2 * np.linalg.norm(B @ x - b), rel=1e-5)


def test_a_gradient_that_is_rounding_noise_is_called_zero_not_a_factor() -> None:
    r = gc.check_grad(lambda v: float(np.sum(v**2)), lambda v: 1e-17 * v, np.ones(3))
    d = r.params["params"].diagnosis
    assert d.startswith("the analytic derivative is (numerically) zero") and "factor" not in d


def test_a_mask_that_zeroes_entries_is_named() -> None:
    X = RNG.normal(size=(6, 3))
    loss = lambda W: float(np.sum(np.tanh(X @ W) ** 2))  # noqa: E731
    grad = lambda W: X.T @ (2 * np.tanh(X @ W) * (1 - np.tanh(X @ W) ** 2))  # noqa: E731
    W = RNG.normal(size=(3, 2))
    masked = lambda W: grad(W) * np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])  # noqa: E731
    assert "0 at every wrong entry" in gc.check_grad(loss, masked, W).params["params"].diagnosis
