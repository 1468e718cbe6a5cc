"""Second derivatives of the source documents' losses: Hessians and a Gauss-Newton matrix.

A Hessian is the Jacobian of the gradient, so each derivation here is registered with
``kind="jacobian"``: its "function" is the hand gradient (itself checked elsewhere in the
suite, or below in the tests) and its derivative the hand Hessian, of shape
``grad.shape + param.shape`` (numerator layout). ``gradcheck report`` then checks them with
no change to the report; ``gradcheck.check_hessian`` checks the same formulas with
second-order diagnoses ("not symmetrized", "the Gauss-Newton matrix", "missing 1/2").

* least squares (001): F(x) = ||Ax - b||^2, grad 2 A^T (Ax - b), Hessian 2 A^T A; Newton's
  step x - H^{-1} grad lands on the least-squares solution from any x (F is quadratic).
* logistic regression (002's logistic loss, linear model): L(w) = sum_i log(1 + exp(-y_i x_i^T w)),
  y in {-1, 1}; grad = -X^T (y o sigma(-y o Xw)); Hessian X^T diag(p (1 - p)) X, p = sigma(Xw)
  (sigma(-m)(1 - sigma(-m)) is the same for y = +-1).
* softmax cross-entropy w.r.t. the logits (004): L(z) = logsumexp(z) - z_y, grad p - e_y,
  Hessian diag(p) - p p^T.
* a sigmoid layer's Gauss-Newton matrix (001's layer, c = ||sigma(Wx) - y||^2 / 2):
  r = sigma(Wx) - y, J = dr/dvec(W) = diag(sigma'(z)) (I kron x^T), G = J^T J. The Hessian adds
  sum_k r_k Hess(r_k), which vanishes only where the residual does.

Published-style slips, registered as expected failures:
* ``published_quadratic_2M``: the Hessian of x^T M x written 2M, right only for symmetric M
  (H = M + M^T: the symmetrization is missing);
* ``published_gn_as_hessian``: the sigmoid layer's J^T J offered as its Hessian;
* ``published_least_squares_AtA``: A^T A for ||Ax - b||^2 (the factor 2 dropped).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradcheck.ops import ArrayOps, numpy_ops
from gradcheck.registry import Problem, register

from ._common import sigmoid

__all__ = [
    "layer_gauss_newton",
    "layer_grad",
    "layer_hessian",
    "layer_jacobian",
    "layer_loss",
    "layer_residual",
    "logistic_grad",
    "logistic_hessian",
    "logistic_loss",
    "ls_grad",
    "ls_hessian",
    "ls_loss",
    "newton_step",
    "published_quadratic_hessian",
    "quadratic_grad",
    "quadratic_hessian",
    "quadratic_loss",
    "softmax_ce_grad",
    "softmax_ce_hessian",
    "softmax_ce_loss",
]


def _as_jacobian(h: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """An (n, n) matrix over vec(x) (row-major) as the numerator-layout x.shape + x.shape array."""
    return h.reshape(shape + shape)


# -- least squares (001) ------------------------------------------------------------
def ls_loss(x: np.ndarray, A: np.ndarray, b: np.ndarray) -> float:
    r = A @ x - b
    return float(np.sum(r * r))


def ls_grad(x: np.ndarray, A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """001: grad F = 2 A^T (A x - b)."""
    return 2.0 * A.T @ (A @ x - b)


def ls_hessian(x: np.ndarray, A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """d/dx of 2 A^T (A x - b) = 2 A^T A, constant in x (shape (n, 1, n, 1) for a column x)."""
    return _as_jacobian(2.0 * A.T @ A, x.shape)


def newton_step(x: np.ndarray, A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x - H^{-1} grad F(x): for a quadratic F, the minimiser in one step."""
    n = x.size
    H = ls_hessian(x, A, b).reshape(n, n)
    return x - np.linalg.solve(H, ls_grad(x, A, b).reshape(n)).reshape(x.shape)


def _ls_grad_fn(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> Any:
    A = data["A"]
    return 2.0 * (A.T @ (A @ params["x"] - data["b"]))


def _ls_hessian(params: dict, data: dict) -> dict:
    return {"x": ls_hessian(params["x"], data["A"], data["b"])}


def _ls_hessian_published(params: dict, data: dict) -> dict:
    A, x = data["A"], params["x"]
    return {"x": _as_jacobian(A.T @ A, x.shape)}  # the 2 of ||.||^2 dropped


@register(name="second_order.least_squares", loss=_ls_grad_fn, jacobian=_ls_hessian,
          named_sizes={"symbolic": {"m": 3, "n": 2},
                       "sympy_loss": {"m": 3, "n": 5},
                       "other": {"m": 3, "n": 5}},
          source="001_32fd1160338bb4a8.txt",
          equations="grad F = 2 A^T (A x - b);  Hess F = d grad F / dx = 2 A^T A",
          layout="Hessian as the Jacobian of the gradient: x.shape + x.shape",
          description="Hessian of the least-squares objective, checked as the Jacobian of its gradient.")
def make_ls(rng: np.random.Generator, m: int = 6, n: int = 4) -> Problem:
    return Problem(params={"x": rng.normal(size=(n, 1))},
                   data={"A": rng.normal(size=(m, n)), "b": rng.normal(size=(m, 1))})


@register(name="second_order.published_least_squares_AtA", loss=_ls_grad_fn, jacobian=_ls_hessian_published,
          named_sizes={"symbolic": {"m": 3, "n": 2},
                       "sympy_loss": {"m": 7, "n": 2},
                       "other": {"m": 7, "n": 2}},
          source="001_32fd1160338bb4a8.txt", expected_correct=False, corrects="second_order.least_squares",
          slip="Hessian of ||Ax - b||^2 written A^T A: the factor 2 dropped",
          equations="Hess F = A^T A (should be 2 A^T A)",
          layout="x.shape + x.shape", description="A missing factor 2 in a least-squares Hessian.")
def make_ls_published(rng: np.random.Generator, m: int = 6, n: int = 4) -> Problem:
    return make_ls(rng, m, n)


# -- logistic regression (002's logistic loss on a linear model) ---------------------
def logistic_loss(w: np.ndarray, X: np.ndarray, y: np.ndarray, xp: ArrayOps = numpy_ops) -> Any:
    """L(w) = sum_i log(1 + exp(-y_i x_i^T w)), y in {-1, 1}."""
    return xp.sum(xp.softplus(-y * (X @ w)))


def logistic_grad(w: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dL/dw = -X^T (y o sigma(-y o X w))."""
    return -X.T @ (y * sigmoid(-y * (X @ w)))


def logistic_hessian(w: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """X^T diag(p (1 - p)) X with p = sigma(X w): y^2 = 1 and sigma'(m) is even in m.

    ``1 - p`` is computed as ``sigma(-X w)``: where p rounds to 1 (|X w| > 37), ``1 - p`` is
    rounding, and a Hessian of 1e-16 came out 13% off."""
    z = X @ w
    return _as_jacobian(X.T @ ((sigmoid(z) * sigmoid(-z))[:, None] * X), w.shape)


def _logistic_grad_fn(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> Any:
    """logistic_grad in the backend xp, so the symbolic oracle differentiates the same code."""
    X, y = data["X"], data["y"]
    return -(X.T @ (y * xp.sigmoid(-y * (X @ params["w"]))))


@register(name="second_order.logistic", loss=_logistic_grad_fn,
          named_sizes={"symbolic": {"n": 3, "d": 2},
                       "sympy_loss": {"n": 3, "d": 5},
                       "other": {"n": 3, "d": 5}},
          jacobian=lambda p, d: {"w": logistic_hessian(p["w"], d["X"], d["y"])},
          source="002_b756c5b1758d6ba4.txt",
          equations="grad L = -X^T (y o sigma(-y o X w));  Hess L = X^T diag(p(1-p)) X, p = sigma(X w)",
          layout="w a vector (d,); Hessian (d, d)",
          description="Hessian of logistic regression, checked as the Jacobian of its gradient.")
def make_logistic(rng: np.random.Generator, n: int = 8, d: int = 3) -> Problem:
    return Problem(params={"w": rng.normal(size=d)},
                   data={"X": rng.normal(size=(n, d)), "y": rng.choice([-1.0, 1.0], size=n)})


# -- softmax cross-entropy w.r.t. the logits (004) ------------------------------------
def softmax_ce_loss(z: np.ndarray, label: int, xp: ArrayOps = numpy_ops) -> Any:
    """L(z) = -log softmax(z)_label."""
    return -xp.log_softmax(z)[label]


def softmax_ce_grad(z: np.ndarray, label: int) -> np.ndarray:
    """dL/dz = p - e_label."""
    p = numpy_ops.softmax(z)
    return p - np.eye(z.size)[label]


def softmax_ce_hessian(z: np.ndarray, label: int) -> np.ndarray:
    """d(p - e_y)/dz = diag(p) - p p^T (independent of the label)."""
    p = numpy_ops.softmax(z)
    return np.diag(p) - np.outer(p, p)


def _softmax_ce_grad_fn(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> Any:
    z = params["z"]
    return xp.softmax(z) - np.eye(z.shape[0])[data["label"]]


@register(name="second_order.softmax_ce", loss=_softmax_ce_grad_fn,
          named_sizes={"symbolic": {"classes": 3},
                       "sympy_loss": {"classes": 2},
                       "other": {"classes": 2}},
          jacobian=lambda p, d: {"z": softmax_ce_hessian(p["z"], d["label"])},
          source="004_3e1a2435217e6d8b.txt",
          equations="grad L = p - e_y;  Hess L = diag(p) - p p^T",
          layout="z the logits (K,); Hessian (K, K)",
          description="Hessian of softmax cross-entropy w.r.t. the logits.")
def make_softmax(rng: np.random.Generator, classes: int = 5) -> Problem:
    return Problem(params={"z": rng.normal(size=classes)}, data={"label": int(rng.integers(classes))})


# -- a quadratic form and its published 2M --------------------------------------------
def quadratic_loss(x: np.ndarray, M: np.ndarray, c: np.ndarray) -> float:
    return float(x @ M @ x + c @ x)


def quadratic_grad(x: np.ndarray, M: np.ndarray, c: np.ndarray) -> np.ndarray:
    return (M + M.T) @ x + c


def quadratic_hessian(x: np.ndarray, M: np.ndarray, c: np.ndarray) -> np.ndarray:
    return M + M.T


def published_quadratic_hessian(x: np.ndarray, M: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The textbook 2M, derived for symmetric M and applied to any M."""
    return 2.0 * M


def _quadratic_grad_fn(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> Any:
    return quadratic_grad(params["x"], data["M"], data["c"])


def _make_quadratic(rng: np.random.Generator, n: int) -> Problem:
    return Problem(params={"x": rng.normal(size=n)}, data={"M": rng.normal(size=(n, n)), "c": rng.normal(size=n)})


@register(name="second_order.quadratic_form", loss=_quadratic_grad_fn,
          named_sizes={"symbolic": {"n": 2},
                       "sympy_loss": {"n": 3},
                       "other": {"n": 3}},
          jacobian=lambda p, d: {"x": quadratic_hessian(p["x"], d["M"], d["c"])},
          source="000_0a14f30ed87b689a.txt",
          equations="f = x^T M x + c^T x;  grad f = (M + M^T) x + c;  Hess f = M + M^T",
          layout="x a vector (n,); Hessian (n, n)", description="Hessian of a quadratic form with non-symmetric M.")
def make_quadratic(rng: np.random.Generator, n: int = 4) -> Problem:
    return _make_quadratic(rng, n)


@register(name="second_order.published_quadratic_2M", loss=_quadratic_grad_fn,
          named_sizes={"symbolic": {"n": 2},
                       "sympy_loss": {"n": 5},
                       "other": {"n": 5}},
          jacobian=lambda p, d: {"x": published_quadratic_hessian(p["x"], d["M"], d["c"])},
          source="000_0a14f30ed87b689a.txt", expected_correct=False, corrects="second_order.quadratic_form",
          slip="Hess (x^T M x) = 2M, right only for symmetric M: the symmetrization (M + M^T) is missing",
          equations="Hess f = 2M (should be M + M^T)", layout="(n, n)",
          description="A missing symmetrization.")
def make_quadratic_published(rng: np.random.Generator, n: int = 4) -> Problem:
    return _make_quadratic(rng, n)


# -- a sigmoid layer's Gauss-Newton matrix (001's layer, c = ||sigma(Wx) - y||^2 / 2) ----
def layer_residual(W: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """r = sigma(W x) - y, W of shape (out, in), x (in,), y (out,)."""
    return sigmoid(W @ x) - y


def layer_jacobian(W: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dr_k / dW_ij = sigma'(z_k) [k = i] x_j: shape (out, out, in)."""
    s = sigmoid(W @ x)
    out = W.shape[0]
    return (s * (1 - s))[:, None, None] * np.eye(out)[:, :, None] * x[None, None, :]


def layer_loss(W: np.ndarray, x: np.ndarray, y: np.ndarray, xp: ArrayOps = numpy_ops) -> Any:
    r = xp.sigmoid(W @ x) - y
    return xp.sum(r * r) / 2


def layer_grad(W: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dc/dW = delta x^T, delta = r o sigma'(z)."""
    s = sigmoid(W @ x)
    return np.outer((s - y) * s * (1 - s), x)


def layer_gauss_newton(W: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """G = J^T J over vec(W): G[(i,j),(k,l)] = [i = k] sigma'(z_i)^2 x_j x_l, shape W.shape * 2."""
    J = layer_jacobian(W, x, y).reshape(W.shape[0], W.size)
    return (J.T @ J).reshape(W.shape * 2)


def layer_hessian(W: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """G + sum_k r_k Hess(r_k): Hess(r_k)[(k,j),(k,l)] = sigma''(z_k) x_j x_l, sigma'' = s'(1 - 2s)."""
    s = sigmoid(W @ x)
    r = s - y
    second = s * (1 - s) * (1 - 2 * s)
    out = W.shape[0]
    extra = np.zeros(W.shape * 2)
    for k in range(out):
        extra[k, :, k, :] = r[k] * second[k] * np.outer(x, x)
    return layer_gauss_newton(W, x, y) + extra


def _linearised_grad(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> Any:
    """J(W0)^T r(W): its Jacobian at W = W0 is J^T J, the Gauss-Newton matrix (W0 in data)."""
    W0, x, y = data["W0"], data["x"], data["y"]
    J = layer_jacobian(W0, x, y).reshape(W0.shape[0], W0.size)
    return (J.T @ (xp.sigmoid(params["W"] @ x) - y)).reshape(W0.shape)


def _layer_grad_fn(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> Any:
    """layer_grad in the backend xp: delta x^T with delta = r o s (1 - s)."""
    x, y = data["x"], data["y"]
    s = xp.sigmoid(params["W"] @ x)
    delta = (s - y) * s * (1 - s)
    return delta.reshape(-1, 1) * x.reshape(1, -1)


def _linearised_gn(params: dict, data: dict) -> dict:
    """d[J(W0)^T r(W)]/dW = J(W0)^T J(W): at W = W0 (the drawn point) the Gauss-Newton matrix."""
    W0, W, x, y = data["W0"], params["W"], data["x"], data["y"]
    J0 = layer_jacobian(W0, x, y).reshape(W0.shape[0], W0.size)
    J = layer_jacobian(W, x, y).reshape(W.shape[0], W.size)
    return {"W": (J0.T @ J).reshape(W.shape * 2)}


def _make_layer(rng: np.random.Generator, n_in: int, n_out: int) -> Problem:
    W = rng.normal(size=(n_out, n_in))
    # targets far from the outputs, so the residual term is not negligible
    return Problem(params={"W": W}, data={"W0": W.copy(), "x": rng.normal(size=n_in), "y": rng.uniform(-1, 2, n_out)})


@register(name="second_order.sigmoid_layer_gauss_newton", loss=_linearised_grad, jacobian=_linearised_gn,
          named_sizes={"symbolic": {"n_in": 2, "n_out": 2},
                       "sympy_loss": {"n_in": 1, "n_out": 4},
                       "other": {"n_in": 1, "n_out": 4}},
          source="001_32fd1160338bb4a8.txt",
          equations="r = sigma(Wx) - y;  J = diag(sigma'(z)) (I kron x^T);  G = J^T J = d[J(W0)^T r(W)]/dW at W0",
          layout="W (out, in); G of shape W.shape + W.shape",
          description="Gauss-Newton matrix of a sigmoid layer, as the Jacobian of the linearised gradient.")
def make_layer_gn(rng: np.random.Generator, n_in: int = 3, n_out: int = 2) -> Problem:
    return _make_layer(rng, n_in, n_out)


@register(name="second_order.sigmoid_layer_hessian", loss=_layer_grad_fn,
          named_sizes={"symbolic": {"n_in": 2, "n_out": 2},
                       "sympy_loss": {"n_in": 4, "n_out": 3},
                       "other": {"n_in": 4, "n_out": 3}},
          jacobian=lambda p, d: {"W": layer_hessian(p["W"], d["x"], d["y"])},
          source="001_32fd1160338bb4a8.txt",
          equations="Hess c = J^T J + sum_k r_k sigma''(z_k) (e_k e_k^T kron x x^T)",
          layout="W (out, in); Hessian of shape W.shape + W.shape",
          description="Full Hessian of a sigmoid layer's squared error.")
def make_layer_hessian(rng: np.random.Generator, n_in: int = 3, n_out: int = 2) -> Problem:
    return _make_layer(rng, n_in, n_out)


@register(name="second_order.published_gn_as_hessian", loss=_layer_grad_fn,
          named_sizes={"symbolic": {"n_in": 2, "n_out": 2},
                       "sympy_loss": {"n_in": 2, "n_out": 5},
                       "other": {"n_in": 2, "n_out": 5}},
          jacobian=lambda p, d: {"W": layer_gauss_newton(p["W"], d["x"], d["y"])},
          source="001_32fd1160338bb4a8.txt", expected_correct=False, corrects="second_order.sigmoid_layer_hessian",
          slip="the Gauss-Newton matrix J^T J offered as the Hessian: the residual term sum_k r_k Hess(r_k) dropped",
          equations="Hess c = J^T J (should add sum_k r_k sigma''(z_k) (e_k e_k^T kron x x^T))",
          layout="W (out, in); W.shape + W.shape", description="A Gauss-Newton matrix passed as the Hessian.")
def make_layer_published(rng: np.random.Generator, n_in: int = 3, n_out: int = 2) -> Problem:
    return _make_layer(rng, n_in, n_out)
