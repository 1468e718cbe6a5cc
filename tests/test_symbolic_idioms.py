"""A catalogue of one-line numpy idioms and what the symbolic witness makes of each.

The rule: a witness may be silent (n/a, naming the construct and the user's line), never
mistaken. Each idiom is either ``"supported"`` (the symbolic oracle alone passes the correct
gradient and FAILs a 1e-6 slip of it) or ``"n/a"`` with the construct its reason must name.
Whatever the outcome, ``oracle="both"`` never FAILs the correct gradient because of the symbolic
witness: a value frozen into a float is a constant whose derivative was lost, and a verdict on it
would be wrong by exactly that derivative.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import gradcheck as gc
from gradcheck import symbolic

X = np.array([0.5, -1.2, 0.8])
M = np.array([[2.0, 0.3, -0.1], [0.2, 1.5, 0.4], [-0.3, 0.1, 1.8]])
LAB = np.array([2, 0, 1])
ROWS = np.arange(3)
THIS = "test_symbolic_idioms.py:"


def _picked(m: np.ndarray) -> np.ndarray:
    """d/dM of sum(M[rows, LAB]**2): 2 M at the picked entries, 0 elsewhere."""
    g = np.zeros_like(m)
    g[ROWS, LAB] = 2 * m[ROWS, LAB]
    return g


def _inplace(x: np.ndarray) -> np.ndarray:
    y = x.copy()
    y[0] = x[1] ** 2
    return np.sum(y ** 2)


def _float_buffer(x: np.ndarray) -> np.ndarray:
    y = np.zeros(3)
    y[0] = x[1] ** 2
    return np.sum(y ** 2) + np.sum(x ** 2)


def _inv_t(m: np.ndarray) -> np.ndarray:
    return np.linalg.inv(m).T


def _top_vector_outer(m: np.ndarray) -> np.ndarray:
    """d/dm of the largest eigenvalue of m + m.T: v v^T reaches m through both m and m.T."""
    v = np.linalg.eigh(m + m.T)[1][:, -1]
    return 2 * np.outer(v, v)


def _rotated_trace(m: np.ndarray) -> object:
    """trace(V^T A V) = trace(A) for the orthogonal eigenvectors V of A = m + m.T."""
    a = m + m.T
    v = np.linalg.eigh(a)[1]
    return np.trace(v.T @ a @ v)


def _low_upper(m: np.ndarray) -> np.ndarray:
    """d/dm of the smallest eigenvalue of the matrix eigvalsh reads from m's upper triangle."""
    v = np.linalg.eigh(m, UPLO="U")[1][:, 0]
    return np.triu(2 * np.outer(v, v), 1) + np.diag(v * v)


@dataclass(frozen=True)
class Idiom:
    name: str
    loss: Callable[[np.ndarray], object]
    grad: Callable[[np.ndarray], np.ndarray]
    x: np.ndarray
    outcome: str  # "supported" or "n/a"
    construct: str = ""  # for "n/a": what the reason must name


CATALOGUE = [
    # conversions to Python/numpy floats: symbolic where the value stays an expression, else n/a
    Idiom("item", lambda x: x[0].item() ** 2 + np.sum(x[1:] ** 2), lambda x: 2 * x, X, "supported"),
    Idiom("float returned", lambda x: float(np.sum(x ** 2)), lambda x: 2 * x, X, "supported"),
    Idiom("tolist", lambda x: sum(v ** 2 for v in x.tolist()), lambda x: 2 * x, X, "supported"),
    Idiom("asarray float64", lambda x: np.sum(np.asarray(x, dtype=np.float64) ** 2), lambda x: 2 * x, X,
          "supported"),
    Idiom("astype float", lambda x: np.sum(x.astype(float) ** 2), lambda x: 2 * x, X, "supported"),
    Idiom("item in float sum", lambda x: x[0].item() ** 2 + float(np.sum(x[1:] ** 2)), lambda x: 2 * x, X,
          "n/a", "converted symbols to numbers"),
    Idiom("float normaliser", lambda x: np.sum(x ** 3) / float(np.sum(x ** 2)),
          lambda x: 3 * x ** 2 / np.sum(x ** 2) - 2 * x * np.sum(x ** 3) / np.sum(x ** 2) ** 2, X,
          "n/a", "float()"),
    Idiom("float max", lambda x: np.sum(x ** 2) / float(np.max(x)),
          lambda x: 2 * x / np.max(x) - np.sum(x ** 2) / np.max(x) ** 2 * (x == np.max(x)), X, "n/a", "float()"),
    Idiom("math.exp", lambda x: math.exp(x[0]) + np.sum(x ** 2),
          lambda x: 2 * x + np.array([math.exp(x[0]), 0, 0]), X, "n/a", "math.* functions"),
    Idiom("float buffer write", _float_buffer, lambda x: 2 * x + np.array([0, 4 * x[1] ** 3, 0]), X,
          "n/a", "y[0] = x[1] ** 2"),
    # elementwise, kinks decided at the point
    Idiom("clip", lambda x: np.sum(np.clip(x, -1.0, 0.6) ** 2),
          lambda x: 2 * np.clip(x, -1, 0.6) * ((x > -1) & (x < 0.6)), X, "supported"),
    Idiom("abs", lambda x: np.sum(np.abs(x) ** 3), lambda x: 3 * x * np.abs(x), X, "supported"),
    Idiom("maximum minimum", lambda x: np.sum(np.maximum(x, 0) ** 2 + np.minimum(x, 0) ** 3),
          lambda x: 2 * np.maximum(x, 0) + 3 * np.minimum(x, 0) ** 2, X, "supported"),
    Idiom("where", lambda x: np.sum(np.where(x > 0, x ** 2, -x)), lambda x: np.where(x > 0, 2 * x, -1.0), X,
          "supported"),
    Idiom("logaddexp", lambda x: np.sum(np.logaddexp(x, 2 * x)),
          lambda x: (np.exp(x) + 2 * np.exp(2 * x)) / (np.exp(x) + np.exp(2 * x)), X, "supported"),
    Idiom("log1p expm1", lambda x: np.sum(np.log1p(x ** 2) + np.expm1(x)),
          lambda x: 2 * x / (1 + x ** 2) + np.exp(x), X, "supported"),
    # linear algebra at 3x3
    Idiom("inv", lambda m: np.sum(np.linalg.inv(m)), lambda m: -(_inv_t(m) @ np.ones((3, 3)) @ _inv_t(m)), M,
          "supported"),
    Idiom("solve", lambda m: np.sum(np.linalg.solve(m, np.ones(3))),
          lambda m: -np.outer(_inv_t(m) @ np.ones(3), np.linalg.solve(m, np.ones(3))), M, "supported"),
    Idiom("slogdet", lambda m: np.linalg.slogdet(m)[1], _inv_t, M, "supported"),
    Idiom("det", lambda m: np.linalg.det(m), lambda m: np.linalg.det(m) * _inv_t(m), M, "supported"),
    Idiom("eigvalsh", lambda m: np.sum(np.linalg.eigvalsh(m + m.T) ** 2), lambda m: 4 * (m + m.T), M,
          "supported"),
    Idiom("eigh eigenvalues", lambda m: np.linalg.eigh(m + m.T)[0][-1], _top_vector_outer, M, "supported"),
    Idiom("eigvalsh upper", lambda m: np.linalg.eigvalsh(m, UPLO="U")[0], _low_upper, M, "supported"),
    Idiom("eigh eigenvectors", _rotated_trace, lambda m: 2 * np.eye(3), M, "n/a", "eigenvectors of numpy.linalg.eigh"),
    # indexing, contractions, reductions, writes
    Idiom("fancy labels", lambda m: np.sum(m[ROWS, LAB] ** 2), _picked, M, "supported"),
    Idiom("take_along_axis", lambda m: np.sum(np.take_along_axis(m, LAB[:, None], axis=1) ** 2), _picked, M,
          "supported"),
    Idiom("einsum", lambda m: np.einsum("ij,ij->", m, m), lambda m: 2 * m, M, "supported"),
    Idiom("axis keepdims", lambda m: np.sum((m - np.mean(m, axis=1, keepdims=True)) ** 2),
          lambda m: 2 * (m - m.mean(axis=1, keepdims=True)), M, "supported"),
    Idiom("in-place write", _inplace, lambda x: np.array([0.0, 2 * x[1] + 4 * x[1] ** 3, 2 * x[2]]), X,
          "supported"),
    Idiom("sort", lambda x: np.sum(np.sort(x) * np.arange(3.0)), lambda x: np.array([1.0, 0.0, 2.0]), X,
          "n/a", "sort"),
]


@pytest.mark.parametrize("idiom", CATALOGUE, ids=[i.name for i in CATALOGUE])
def test_the_symbolic_witness_is_never_mistaken_on_a_correct_gradient(idiom: Idiom) -> None:
    """The catalogue's outcome, and never a symbolic FAIL of the correct gradient."""
    both = gc.check_grad(idiom.loss, idiom.grad, idiom.x, oracle="both")
    sym = both.params["params"].symbolic
    assert not both.failed, sym
    if idiom.outcome == "supported":
        assert not sym.startswith("n/a"), sym
        right = gc.check_grad(idiom.loss, idiom.grad, idiom.x, oracle="symbolic")
        assert right.ok and right.method.startswith("symbolic")
        slip = gc.check_grad(idiom.loss, lambda v: idiom.grad(v) * (1 + 1e-6), idiom.x, oracle="symbolic")
        assert slip.failed
    else:
        assert sym.startswith("n/a:") and idiom.construct in sym, sym
        assert THIS in sym, f"the reason names no line of the loss: {sym}"
        with pytest.raises(gc.SymbolicUnsupportedError, match=THIS):
            gc.check_grad(idiom.loss, idiom.grad, idiom.x, oracle="symbolic")


def test_a_frozen_float_is_never_cached_into_another_point() -> None:
    """At a second point the same loss is n/a again, not a cached program holding the first point's constant."""
    loss = lambda x: x[0].item() ** 2 + float(np.sum(x[1:] ** 2))  # noqa: E731
    for x in (X, 2 * X):
        with pytest.raises(gc.SymbolicUnsupportedError, match="converted symbols to numbers at " + THIS):
            symbolic.gradient(loss, x)


def test_unsupported_numpy_names_the_function_and_the_line() -> None:
    """An exception inside numpy on symbols names the numpy function and the user's line, not only the error."""
    def loss(x: np.ndarray) -> object:
        return np.sum(np.digitize(x, [0.0, 1.0]) * x)

    with pytest.raises(gc.SymbolicUnsupportedError, match="np.digitize is not supported") as info:
        gc.check_grad(loss, lambda x: np.zeros(3), X, oracle="symbolic")
    assert THIS in str(info.value) and "return np.sum(np.digitize(x, [0.0, 1.0]) * x)" in str(info.value)
    with pytest.raises(gc.SymbolicUnsupportedError, match=r"numpy\.median has no symbolic mapping") as info:
        symbolic.gradient(lambda x: np.median(x), X)
    assert "numpy.numpy" not in str(info.value)


def test_if_on_a_symbolic_scalar_is_a_branch_decided_at_the_point() -> None:
    """``if s:`` is a comparison (counted, not cached), not a frozen float: the branch's derivative is exact."""
    def loss(x: np.ndarray) -> object:
        s = np.sum(x)
        if s:
            return np.sum(x ** 2)
        return s

    r = gc.check_grad(loss, lambda x: 2 * x, X, oracle="symbolic")
    assert r.ok
    d = symbolic.gradient(loss, X, cache=False)
    assert any("comparisons" in n for n in d.notes)


def test_numpy_constructors_are_numpy_s_own_outside_a_symbolic_run() -> None:
    """np.asarray & co. keep a SymArray only while a run is active; afterwards they are numpy's again."""
    before = (np.asarray, np.asanyarray, np.array, np.ascontiguousarray)
    seen = []

    def loss(x: np.ndarray) -> object:
        seen.append(np.asarray(np.ones(2), dtype=np.float32).dtype)  # other arguments: numpy's answer
        return np.sum(np.asarray(x, dtype=np.float64) ** 2)

    assert gc.check_grad(loss, lambda x: 2 * x, X, oracle="symbolic").ok
    assert (np.asarray, np.asanyarray, np.array, np.ascontiguousarray) == before
    assert seen and all(d == np.float32 for d in seen)


def test_prove_names_a_float_frozen_in_the_hand_gradient() -> None:
    """x * float(np.sum(x**2)) is right at every point but a constant times x to a prover: n/a, naming the line."""
    def grad(x: np.ndarray) -> np.ndarray:
        return x * float(np.sum(x ** 2))

    proof = symbolic.prove(lambda x: np.sum(x ** 2) ** 2 / 4, grad, X)
    assert str(proof).startswith("proof (n/a)") and THIS in str(proof) and "converted symbols" in str(proof)


def test_numpy_constructors_take_numpy_s_own_keywords_during_a_run() -> None:
    """While a run is active numpy is wrapped for every thread: its keyword spellings must still work."""
    seen = {}

    def loss(x):
        seen["array"] = np.array(object=[1.0, 2.0], dtype=float)
        seen["asarray"] = np.asarray(a=[3.0], dtype=np.float32)
        return np.sum(np.asarray(x, dtype=np.float64) ** 2)

    d = symbolic.gradient(loss, np.array([1.0, -2.0]))
    assert d.status == "ok" or str(d.status).endswith("OK")
    assert seen["array"].tolist() == [1.0, 2.0] and seen["asarray"].dtype == np.float32
    assert not getattr(np.asarray, "_gradcheck_cast", False)  # restored after the run


def test_a_wrapper_left_behind_is_not_wrapped_again() -> None:
    """An interrupted removal (Ctrl-C, a proof's time limit) leaves numpy wrapped; the next run unwraps it."""
    from gradcheck.symbolic import _array

    original = np.asarray
    np.asarray = _array._symbolic_cast("asarray", original)
    try:
        symbolic.gradient(lambda x: np.sum(x ** 2), np.array([1.0, 2.0]))
        assert np.asarray is original
    finally:
        np.asarray = original
