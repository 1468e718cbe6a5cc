"""Linear least squares, document 001 (``001_32fd1160338bb4a8.txt``).

F(x) = ||A x - b||_2^2 with column vectors. The document works in numerator layout,
obtains dF/dx = 2 (Ax - b)^T A (a row vector) and transposes it into the gradient
2 A^T (A x - b) (denominator layout), which is what gradient descent needs. Both the
gradient w.r.t. x and, by the same chain rule, w.r.t. A are checked here.
"""

from __future__ import annotations

import numpy as np

from gradcheck.ops import ArrayOps, numpy_ops
from gradcheck.registry import Problem, register

SOURCE = "001_32fd1160338bb4a8.txt"

# The 4x4 system the document solves by gradient descent (its solution is w,x,y,z = 1,2,3,4).
DOC_A = np.array([[1, 3, 2, -1], [5, 2, 1, -2], [0, 1, 2, 4], [1, 1, -1, -3]], dtype=np.float64)
DOC_b = np.array([[9], [4], [24], [-12]], dtype=np.float64)


def _residual(A: np.ndarray, x: np.ndarray, b: np.ndarray) -> np.ndarray:
    return A @ x - b


# -- loss: F = ||A x - b||^2 (001, "Linear Least Squares" objective) --------------
def loss_x(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> object:
    r = data["A"] @ params["x"] - data["b"]
    return xp.sum(r * r)


def loss_A(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> object:
    r = params["A"] @ data["x"] - data["b"]
    return xp.sum(r * r)


# -- gradients --------------------------------------------------------------------
def grad_x(params: dict, data: dict) -> dict:
    """001: grad F = 2 A^T (A x - b) (numerator-layout 2 (Ax-b)^T A, transposed)."""
    A = data["A"]
    return {"x": 2.0 * A.T @ _residual(A, params["x"], data["b"])}


def grad_A(params: dict, data: dict) -> dict:
    """dF/dA = 2 (A x - b) x^T: same chain rule, with dr_i/dA_ij = x_j (not written in 001)."""
    x = data["x"]
    return {"A": 2.0 * _residual(params["A"], x, data["b"]) @ x.T}


@register(
    name="least_squares.x",
    named_sizes={"symbolic": {"m": 3, "n": 2},
                 "sympy_loss": {"m": 2, "n": 2},
                 "other": {"m": 7, "n": 2}},
    loss=loss_x,
    grad=grad_x,
    source=SOURCE,
    equations="F(x) = ||Ax - b||_2^2;  grad F = 2 A^T (A x - b)",
    layout="column vectors; gradient in denominator layout (shape of x)",
    description="Gradient of the linear least-squares objective w.r.t. x.",
)
def make_x(rng: np.random.Generator, m: int = 5, n: int = 4) -> Problem:
    return Problem(
        params={"x": rng.normal(size=(n, 1))},
        data={"A": rng.normal(size=(m, n)), "b": rng.normal(size=(m, 1))},
    )


@register(
    name="least_squares.A",
    named_sizes={"symbolic": {"m": 3, "n": 2},
                 "sympy_loss": {"m": 2, "n": 2},
                 "other": {"m": 2, "n": 6}},
    loss=loss_A,
    grad=grad_A,
    source=SOURCE,
    equations="F(A) = ||Ax - b||_2^2;  dF/dA = 2 (A x - b) x^T",
    layout="column vectors; gradient has the shape of A",
    description="Gradient of the linear least-squares objective w.r.t. the matrix A.",
)
def make_A(rng: np.random.Generator, m: int = 5, n: int = 4) -> Problem:
    return Problem(
        params={"A": rng.normal(size=(m, n))},
        data={"x": rng.normal(size=(n, 1)), "b": rng.normal(size=(m, 1))},
    )
