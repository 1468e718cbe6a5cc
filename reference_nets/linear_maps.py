"""Jacobians of linear maps: the vec/Kronecker identity and 000's vector-by-matrix derivatives.

Sources: ``002_b756c5b1758d6ba4.txt`` (d(W X)/dW through a Kronecker product) and
``000_0a14f30ed87b689a.txt`` (y = x W, Y = X W and the 3-d array F_{i,j,k} = dy_i/dW_{j,k}).

vec/Kronecker identity, for z = W x with W (m, n), x (n,):
* column-major vec (stack the columns of W): dz/dvec_F(W) = x^T kron I_m, (m, m n);
* row-major vec (stack the rows): dz/dvec_C(W) = I_m kron x^T, (m, m n);
* the same column-major Jacobian in denominator layout is its transpose x kron I_m
  ((m n, m)), which is the "X kron I_h in R^{hd x h}" that 002 writes -- correct as a
  denominator-layout object; 002's slip is to then use it as an (h x hd) numerator-layout
  factor (see ``relu_logistic``).

000 (row vectors): for y = x W, dy_i/dW_{j,k} = x_j if k = i else 0, i.e. the 3-d array
F[i, j, k] = x_j delta_{ik} (numerator layout: out.shape + W.shape). For Y = X W with rows
as samples, dY_{a,b}/dX_{c,d} = delta_{ac} W_{d,b}: rows do not mix, and each row block
is W^T in numerator layout (000: dY_{i,:}/dX_{i,:} = W^T). 000 also writes dy/dx = W for
y = x W; that holds in denominator layout (x.shape + y.shape), which is how it is checked.
"""

from __future__ import annotations

import numpy as np

from gradcheck.ops import ArrayOps, numpy_ops
from gradcheck.registry import Problem, register

SOURCE_002 = "002_b756c5b1758d6ba4.txt"
SOURCE_000 = "000_0a14f30ed87b689a.txt"


# -- z = W x (column vector x) ---------------------------------------------------------------
def Wx(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> object:
    return params["W"] @ data["x"]


def jac_column_major(params: dict, data: dict) -> dict:
    """dz/dvec_F(W) = x^T kron I_m: column j*m + i holds x_j in row i."""
    m = params["W"].shape[0]
    return {"W": np.kron(data["x"][None, :], np.eye(m))}


def jac_row_major(params: dict, data: dict) -> dict:
    """dz/dvec_C(W) = I_m kron x^T: column i*n + j holds x_j in row i."""
    m = params["W"].shape[0]
    return {"W": np.kron(np.eye(m), data["x"][None, :])}


def jac_denominator_column_major(params: dict, data: dict) -> dict:
    """The transpose, x kron I_m ((m n, m)): 002's 'X kron I_h' read in denominator layout."""
    m = params["W"].shape[0]
    return {"W": np.kron(data["x"][:, None], np.eye(m))}


def _make_Wx(rng: np.random.Generator, m: int, n: int) -> Problem:
    return Problem(params={"W": rng.normal(size=(m, n))}, data={"x": rng.normal(size=n)})


@register(
    name="kron_vec.column_major",
    named_sizes={"symbolic": {"m": 2, "n": 3},
                 "sympy_loss": {"m": 2, "n": 2},
                 "other": {"m": 4, "n": 2}},
    loss=Wx,
    jacobian=jac_column_major,
    source=SOURCE_002,
    equations="d(W x)/d vec(W) = x^T kron I_m (vec stacks columns)",
    layout="numerator layout, 2-D (m, m n) w.r.t. the column-major vec of W",
    jacobian_options={"order": "F"},
)
def make_column_major(rng: np.random.Generator, m: int = 3, n: int = 4) -> Problem:
    return _make_Wx(rng, m, n)


@register(
    name="kron_vec.row_major",
    named_sizes={"symbolic": {"m": 2, "n": 3},
                 "sympy_loss": {"m": 2, "n": 2},
                 "other": {"m": 2, "n": 5}},
    loss=Wx,
    jacobian=jac_row_major,
    source=SOURCE_002,
    equations="d(W x)/d vec_row(W) = I_m kron x^T (vec stacks rows)",
    layout="numerator layout, 2-D (m, m n) w.r.t. the row-major vec of W",
    jacobian_options={"order": "C"},
)
def make_row_major(rng: np.random.Generator, m: int = 3, n: int = 4) -> Problem:
    return _make_Wx(rng, m, n)


@register(
    name="kron_vec.denominator_column_major",
    named_sizes={"symbolic": {"m": 2, "n": 3},
                 "sympy_loss": {"m": 2, "n": 2},
                 "other": {"m": 5, "n": 2}},
    loss=Wx,
    jacobian=jac_denominator_column_major,
    source=SOURCE_002,
    equations="d(W x)/d vec(W) = x kron I_m in denominator layout ((m n) x m), 002's 'X kron I_h'",
    layout="denominator layout, 2-D (m n, m) w.r.t. the column-major vec of W",
    jacobian_options={"order": "F", "layout": "denominator"},
)
def make_denominator(rng: np.random.Generator, m: int = 3, n: int = 4) -> Problem:
    return _make_Wx(rng, m, n)


# -- 000: y = x W (row vector x), Y = X W --------------------------------------------------------
def xW(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> object:
    return data["x"] @ params["W"]


def jac_xW_by_W(params: dict, data: dict) -> dict:
    """000: F[i, j, k] = dy_i/dW_{j,k} = x_j if k == i, else 0."""
    D, C = params["W"].shape
    F = np.zeros((C, D, C))
    for i in range(C):
        F[i, :, i] = data["x"]
    return {"W": F}


def xW_by_x(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> object:
    return params["x"] @ data["W"]


def jac_xW_by_x_denominator(params: dict, data: dict) -> dict:
    """000: dy/dx = W for y = x W, in denominator layout (x.shape + y.shape)."""
    return {"x": data["W"].copy()}


def XW_by_X(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> object:
    return params["X"] @ data["W"]


def jac_XW_by_X(params: dict, data: dict) -> dict:
    """000: dY_{a,b}/dX_{c,d} = delta_ac W_{d,b}; each row block dY_{i,:}/dX_{i,:} = W^T."""
    n, D = params["X"].shape
    return {"X": np.einsum("ac,db->abcd", np.eye(n), data["W"])}


@register(
    name="matrix_calculus.xW_by_W",
    named_sizes={"symbolic": {"D": 2, "C": 3},
                 "sympy_loss": {"D": 2, "C": 2},
                 "other": {"D": 4, "C": 2}},
    loss=xW,
    jacobian=jac_xW_by_W,
    source=SOURCE_000,
    equations="y = x W; F_{i,j,k} = dy_i/dW_{j,k}; F_{i,j,i} = x_j, other entries 0",
    layout="numerator layout: out.shape + W.shape = (C, D, C); x a row vector (D,)",
)
def make_xW_by_W(rng: np.random.Generator, D: int = 3, C: int = 4) -> Problem:
    return Problem(params={"W": rng.normal(size=(D, C))}, data={"x": rng.normal(size=D)})


@register(
    name="matrix_calculus.xW_by_x",
    named_sizes={"symbolic": {"D": 2, "C": 3},
                 "sympy_loss": {"D": 2, "C": 2},
                 "other": {"D": 5, "C": 2}},
    loss=xW_by_x,
    jacobian=jac_xW_by_x_denominator,
    source=SOURCE_000,
    equations="y = x W; dy/dx = W",
    layout="denominator layout: x.shape + y.shape = (D, C)",
    jacobian_options={"layout": "denominator"},
)
def make_xW_by_x(rng: np.random.Generator, D: int = 3, C: int = 4) -> Problem:
    return Problem(params={"x": rng.normal(size=D)}, data={"W": rng.normal(size=(D, C))})


@register(
    name="matrix_calculus.XW_by_X",
    named_sizes={"symbolic": {"N": 2, "D": 2, "C": 3},
                 "sympy_loss": {"N": 2, "D": 2, "C": 2},
                 "other": {"N": 2, "D": 3, "C": 2}},
    loss=XW_by_X,
    jacobian=jac_XW_by_X,
    source=SOURCE_000,
    equations="Y = X W; dY_{a,b}/dX_{c,d} = 0 for a != c; dY_{i,:}/dX_{i,:} = W^T",
    layout="numerator layout: Y.shape + X.shape = (N, C, N, D)",
)
def make_XW_by_X(rng: np.random.Generator, N: int = 3, D: int = 2, C: int = 4) -> Problem:
    return Problem(params={"X": rng.normal(size=(N, D))}, data={"W": rng.normal(size=(D, C))})
