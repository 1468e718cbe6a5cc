"""The pieces ``gradcheck verify`` (formula/) now takes from ``gradcheck.symbolic``: the node
count, the zero test on verify's route, the matrix-level zero test and differentiation."""

from __future__ import annotations

import pytest

sp = pytest.importorskip("sympy")

from gradcheck.symbolic._prove import _dag_size, _matrix_diff, _matrix_zero, _simplify_zero  # noqa: E402


def test_tree_size_counts_shared_subexpressions_as_often_as_they_occur() -> None:
    x, y = sp.symbols("x y", real=True)
    s = sp.exp(x * y) + 1
    e = s**2 * sp.log(s) + s
    assert _dag_size(e, tree=True) == sum(1 for _ in sp.preorder_traversal(e))
    assert _dag_size(e) < _dag_size(e, tree=True)  # s is shared: counted once in the DAG


def test_verify_route_proves_a_sigmoid_identity_and_refuses_large_trees() -> None:
    z = sp.Symbol("z", real=True)
    s = 1 / (1 + sp.exp(-z))
    d = s * (1 - s) - sp.exp(-z) / (1 + sp.exp(-z)) ** 2
    ok, _, how = _simplify_zero(d, 4000, atoms=False)
    assert ok is True and how == "cancel(together(..))"
    assert _simplify_zero(d, 4000, max_tree=5, atoms=False)[0] is None
    assert _simplify_zero(s - sp.exp(z) / (1 + sp.exp(z)) + z, 4000, atoms=False)[0] is False


def test_matrix_zero_and_the_trace_of_a_one_by_one_loss() -> None:
    m, n = sp.symbols("m n", integer=True, positive=True)
    A, x, b = sp.MatrixSymbol("A", m, n), sp.MatrixSymbol("x", n, 1), sp.MatrixSymbol("b", m, 1)
    r = A * x - b
    g = _matrix_diff(r.T * r, x)  # 1x1: differentiated as its trace, so a gradient of x's shape
    assert g.shape == (n, 1)
    assert _matrix_zero(g - 2 * A.T * (A * x - b))
    assert not _matrix_zero(g - A.T * (A * x - b))  # a missing factor 2
