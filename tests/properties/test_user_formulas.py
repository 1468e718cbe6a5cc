"""The public strategies used as a user would: hand formulas written here, not taken from
the registry, checked over the shapes and conditioning that break matrix calculus.

Each property pairs a correct formula with the slip people make in it, and asserts both
verdicts, so "catches transposes" is shown on every shape kind where a transpose exists.
"""

from __future__ import annotations

import numpy as np
import pytest
from _losses import assert_no_false_alarm
from hypothesis import given
from hypothesis import strategies as st

import gradcheck
from gradcheck import ShapeMismatchError
from gradcheck import strategies as gst

from ._support import examples


def _quadratic_in_W(X: np.ndarray, T: np.ndarray):
    """E(W) = 1/2 ||X W - T||_F^2, dE/dW = X^T (X W - T): the row-layout linear layer."""
    def loss(W: np.ndarray) -> float:
        return 0.5 * float(np.sum((X @ W - T) ** 2))

    def grad(W: np.ndarray) -> np.ndarray:
        return X.T @ (X @ W - T)

    def grad_transposed(W: np.ndarray) -> np.ndarray:  # the slip: (X W - T)^T X
        return (X @ W - T).T @ X

    return loss, grad, grad_transposed


@examples(0.5)
@given(data=st.data(), shape=gst.matrix_shapes(kind="square", max_side=5))
def test_a_transposed_gradient_is_caught_on_square_weights(data: st.DataObject, shape: tuple[int, int]) -> None:
    n, k = data.draw(st.integers(1, 6), label="batch"), shape[0]
    X = data.draw(gst.arrays((n, k), min_magnitude=0.1, max_magnitude=3.0), label="X")
    T = data.draw(gst.arrays((n, k), min_magnitude=0.1, max_magnitude=3.0), label="T")
    W = data.draw(gst.arrays(shape, min_magnitude=0.1, max_magnitude=3.0), label="W")
    loss, grad, slip = _quadratic_in_W(X, T)
    right = gradcheck.check_grad(loss, grad, W)
    assert_no_false_alarm(right)
    g = grad(W)
    wrong = gradcheck.check_grad(loss, slip, W)
    # Transposing changes nothing where the gradient is symmetric (a 1 x 1 weight, say).
    tol = right.params["params"].tolerances
    if np.any(np.abs(g - g.T) > 3 * tol):
        assert wrong.failed
        assert "transposed" in (wrong.params["params"].diagnosis or ""), wrong.summary()


@examples(0.5)
@given(data=st.data(), shape=st.one_of(gst.matrix_shapes(kind="tall", max_side=5),
                                        gst.matrix_shapes(kind="wide", max_side=5)))
def test_a_transposed_gradient_of_a_rectangular_weight_is_named_a_shape_error(data: st.DataObject,
                                                                               shape: tuple[int, int]) -> None:
    n = data.draw(st.integers(1, 6), label="batch")
    X = data.draw(gst.arrays((n, shape[0]), min_magnitude=0.1, max_magnitude=3.0), label="X")
    T = data.draw(gst.arrays((n, shape[1]), min_magnitude=0.1, max_magnitude=3.0), label="T")
    W = data.draw(gst.arrays(shape, min_magnitude=0.1, max_magnitude=3.0), label="W")
    loss, grad, slip = _quadratic_in_W(X, T)
    assert_no_false_alarm(gradcheck.check_grad(loss, grad, W))
    with pytest.raises(ShapeMismatchError, match="shape of the transpose"):
        gradcheck.check_grad(loss, slip, W)


@examples(0.5)
@given(data=st.data(), shape=gst.matrix_shapes(kind="tall", max_side=6),
       cond=st.sampled_from([1.0, 1e2, 1e4]), scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_least_squares_with_conditioned_matrices(data: st.DataObject, shape: tuple[int, int], cond: float,
                                                 scale: float) -> None:
    """F(x) = ||A x - b||^2, dF/dx = 2 A^T (A x - b), for A of condition up to 1e4 and singular
    values from 1e-3 to 1e7: right passes, and forgetting the 2 (a common slip) is caught."""
    A = data.draw(gst.well_conditioned_matrices(shape, max_condition=cond, scale=scale), label="A")
    b = data.draw(gst.arrays((shape[0], 1), min_magnitude=1e-2, max_magnitude=1e2), label="b")
    x = data.draw(gst.arrays((shape[1], 1), min_magnitude=1e-2, max_magnitude=1e2), label="x")

    def loss(v: np.ndarray) -> float:
        return float(np.sum((A @ v - b) ** 2))

    right = gradcheck.check_grad(loss, lambda v: 2 * A.T @ (A @ v - b), x)
    assert_no_false_alarm(right)
    wrong = gradcheck.check_grad(loss, lambda v: A.T @ (A @ v - b), x)
    # The slip moves each entry by half the gradient: caught wherever that is resolvable
    # (not at a point where A^T (A x - b) = 0, such as A = [[1], [0]], b = [1, 1], x = 1).
    g = 2 * A.T @ (A @ x - b)
    if np.any(np.abs(g) / 2 > 3 * right.params["params"].tolerances):
        assert wrong.failed
        assert wrong.params["params"].diagnosis == "off by a constant factor: analytic = 1/2 x numerical (a missing or extra 1/n?)"
