"""Derivations with respect to a symmetric matrix: a Gaussian's covariance.

The Gaussian negative log-likelihood of samples ``x_k`` (rows of ``X``, ``m`` of them) with mean
``mu`` and covariance ``S`` (symmetric positive definite), up to its constant:

    L(S, mu) = m/2 log det S + 1/2 sum_k r_k^T S^{-1} r_k,    r_k = x_k - mu.

With ``S`` treated as a general matrix, ``G = dL/dS = m/2 S^{-T} - 1/2 S^{-T} R^T R S^{-T}`` (``R`` the
residual rows); at a symmetric ``S`` it is symmetric, so the symmetric-gradient convention
``(G + G^T)/2`` (``dL = <D, dS>`` for symmetric ``dS``) is ``G`` itself:

    dL/dS = 1/2 S^{-1} (m S - R^T R) S^{-1}      (convention "symmetric")
    dL/dmu = -S^{-1} sum_k r_k

The derivation declares ``S`` symmetric (tag ``"structure:S=symmetric"``), so the checks that bind it
(``gradcheck.mutations.bind``) move ``S[i, j]`` and ``S[j, i]`` together. The loss reads every entry of
``S`` (it eliminates on the whole matrix), so a check without the structure passes too.

``entries_convention`` gives ``dL/dS`` in the distinct-entries convention
``G + G^T - diag(G)`` (the Matrix Cookbook's, for ``S[i, j] = S[j, i]`` as one variable) while the
derivation's convention is the symmetric gradient: every off-diagonal entry is twice too big.

``whitened_residual`` is the Jacobian of the whitened residual ``z(mu) = L^{-1} (x - mu)``, ``S = L L^T``:
``dz/dmu = -L^{-1}``, square (``z`` has ``mu``'s shape) and triangular, so unlike a Hessian it is not
symmetric and the two Jacobian layouts differ.

The losses use only arithmetic and ``xp.log`` (Gaussian elimination without pivoting, which a
positive definite ``S`` never needs), so they run on floats, on complex numbers (complex step)
and on sympy symbols.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradcheck.ops import ArrayOps, numpy_ops
from gradcheck.registry import Problem, register

__all__ = ["nll_loss", "nll_grad", "nll_grad_entries", "whiten", "whiten_jacobian", "make_gaussian"]

SOURCE = "The Matrix Cookbook (Petersen & Pedersen, 2012), eqs. (57), (61); conventions as in docs/symmetric.md"


def _eliminate(S: Any, B: Any) -> tuple[Any, Any]:
    """Pivots of ``S`` and ``S^{-1} B`` by Gaussian elimination without pivoting. Written with
    arithmetic on the given arrays (no ``np.array``/``concatenate``, which would turn the symbolic
    oracle's arrays into plain ones), so it runs on floats, complex numbers and symbols."""
    n = S.shape[0]
    U, W = S * 1, B * 1  # copies of the caller's type
    for k in range(n):
        for i in range(k + 1, n):
            f = U[i, k] / U[k, k]
            U[i, :] = U[i, :] - f * U[k, :]
            W[i, :] = W[i, :] - f * W[k, :]
    for k in range(n - 1, -1, -1):
        for j in range(k + 1, n):
            W[k, :] = W[k, :] - U[k, j] * W[j, :]
        W[k, :] = W[k, :] / U[k, k]
    diag = np.arange(n)
    return U[diag, diag], W


def nll_loss(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> Any:
    S, mu, X = params["S"], params["mu"], data["X"]
    R = X - mu  # (m, n) residual rows
    pivots, SinvRt = _eliminate(S, R.T)
    m = X.shape[0]
    return 0.5 * m * xp.sum(xp.log(pivots)) + 0.5 * xp.sum(R.T * SinvRt)


def _general(params: dict, data: dict) -> tuple[np.ndarray, np.ndarray]:
    S, mu, X = params["S"], params["mu"], data["X"]
    R = X - mu
    Si = np.linalg.inv(S)
    G = 0.5 * Si @ (X.shape[0] * S - R.T @ R) @ Si
    return G, -Si @ R.sum(axis=0)


def nll_grad(params: dict, data: dict) -> dict:
    """dL/dS in the symmetric-gradient convention (here G itself), and dL/dmu."""
    G, gmu = _general(params, data)
    return {"S": (G + G.T) / 2, "mu": gmu}


def nll_grad_entries(params: dict, data: dict) -> dict:
    """dL/dS in the distinct-entries convention G + G^T - diag(G): a slip for this derivation."""
    G, gmu = _general(params, data)
    return {"S": G + G.T - np.diag(np.diag(G)), "mu": gmu}


@register(name="symmetric.gaussian_nll", loss=nll_loss, grad=nll_grad, source=SOURCE,
          named_sizes={"symbolic": {"n": 2, "m": 3},
                       "sympy_loss": {"n": 2, "m": 3},
                       "other": {"n": 4, "m": 3}},
          equations="L = m/2 logdet S + 1/2 sum_k r_k^T S^-1 r_k;  dL/dS = 1/2 S^-1 (m S - R^T R) S^-1 "
                    "(symmetric gradient);  dL/dmu = -S^-1 sum_k r_k",
          layout="S symmetric: dL = <D, dS> for symmetric dS ((G + G^T)/2)",
          tags=("structure:S=symmetric",),
          description="Gaussian negative log-likelihood in the covariance, a symmetric-matrix parameter.")
def make_gaussian(rng: np.random.Generator, n: int = 3, m: int = 6) -> Problem:
    A = rng.normal(size=(n, n))
    S = A @ A.T / n + np.eye(n)
    S = (S + S.T) / 2  # exactly symmetric: the structured check requires S == S.T
    return Problem(params={"S": S, "mu": rng.normal(size=n)}, data={"X": rng.normal(size=(m, n)) * 1.5})


@register(name="symmetric.entries_convention", loss=nll_loss, grad=nll_grad_entries, source=SOURCE,
          named_sizes={"symbolic": {"n": 2, "m": 3},
                       "sympy_loss": {"n": 2, "m": 3},
                       "other": {"n": 2, "m": 5}},
          expected_correct=False, corrects="symmetric.gaussian_nll",
          slip="dL/dS in the distinct-entries convention G + G^T - diag(G) where the symmetric gradient is "
               "meant: off-diagonal entries doubled",
          equations="dL/dS = G + G^T - diag(G), G = 1/2 S^-1 (m S - R^T R) S^-1",
          layout="S symmetric: dL = <D, dS> for symmetric dS", tags=("structure:S=symmetric",),
          description="A symmetric gradient written in the other convention.")
def make_gaussian_published(rng: np.random.Generator, n: int = 3, m: int = 6) -> Problem:
    return make_gaussian(rng, n=n, m=m)


def whiten(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> Any:
    """z = L^{-1} (x - mu) by forward substitution (arithmetic on the given array, as in ``_eliminate``)."""
    L = data["L"]
    z = (data["x"] - params["mu"]) * 1
    for i in range(L.shape[0]):  # slices, not scalars: an entry of a symbolic array is itself an array
        for j in range(i):
            z[i:i + 1] = z[i:i + 1] - L[i, j] * z[j:j + 1]
        z[i:i + 1] = z[i:i + 1] / L[i, i]
    return z


def whiten_jacobian(params: dict, data: dict) -> dict:
    return {"mu": -np.linalg.inv(data["L"])}


@register(name="symmetric.whitened_residual", loss=whiten, jacobian=whiten_jacobian, source=SOURCE,
          named_sizes={"symbolic": {"n": 2},
                       "sympy_loss": {"n": 2},
                       "other": {"n": 2}},
          equations="z = L^-1 (x - mu), S = L L^T;  dz/dmu = -L^-1 (lower triangular, not symmetric)",
          layout="numerator: z.shape + mu.shape (the same shape as its transpose)",
          description="Jacobian of a Gaussian's whitened residual: square and not symmetric.")
def make_whitened(rng: np.random.Generator, n: int = 4) -> Problem:
    A = rng.normal(size=(n, n))
    L = np.linalg.cholesky(A @ A.T / n + np.eye(n))
    return Problem(params={"mu": rng.normal(size=n)}, data={"L": L, "x": rng.normal(size=n)})
