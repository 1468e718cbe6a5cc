"""ReLU hidden layer with the logistic loss, document 002 (``002_b756c5b1758d6ba4.txt``).

Math section (one example, column vectors): H = ReLU(W_i X + B_i), Ybar = W_o H + B_o,
s(Y, Ybar) = log(1 + exp(-Y Ybar)) with the label Y in {-1, 1} (002 uses Y for both the
network output in eq. 1 and the label in eq. 3; here the label is ``y`` and the output
``ybar``), ds/dYbar = -Y sigma(-Y Ybar), and over a data set L = sum_n s(Y^n, Ybar(X^n)).

The hidden-weight gradient goes through the Kronecker identity for the linear map
W -> W X. Three forms are checked, all correct:

* ``relu_logistic.kron`` -- 002's code: W_i stored (d, h), H = ReLU(X W_i + b_i);
  grad = g * (W_o diag(1(H > 0)) kron(X, I_h)).reshape(d, h) with g = -Y sigma(-Y Ybar).
  numpy's kron of a length-d vector and I_h is (h, d*h) (the vector is a row), column
  l + h*j holds X_j in row l; reshaping W_o diag(.) kron(X, I_h) to (d, h) row-major puts
  W_o[l] 1(H_l>0) X_j at [j, l], which is exactly ds/dW_i[j, l]. So the code is right for
  W_i stored (d, h), even though its comment calls the product "h x (h,d)".
* ``relu_logistic.kron_math_layout`` -- the math section's layout, W_i (h, d): with
  X^T kron I_h (h x hd, the Jacobian of W_i X w.r.t. the column-major vec of W_i),
  g W_o diag(1(.)) (X^T kron I_h) is a row of length hd that becomes the (h, d) gradient
  after a column-major (order="F") reshape.
* ``relu_logistic.outer`` -- the outer-product form, batched: dH = g W_o o 1(H > 0),
  dW_i = X^T dH (rows are samples).

The slip (a dimension claim, so it is demonstrated as a shape error, see
:func:`kron_as_claimed`): 002 says d(W_i X + B_i)/dW_i = X kron I_h is "hd x h" and then
forms diag(1(.)) (X kron I_h) "(h, h) x (h x hd)". For a column X (d x 1), X kron I_h is
(d h) x h -- the transposed (denominator-layout) Jacobian -- and diag(h x h) times it is
undefined for d > 1; the product the text needs is diag(.) (X^T kron I_h). The mask is
written 1(W_i X + B_i >= 0) in the math and H > 0 in the code; they differ only at the
kink, which default draws avoid (|pre-activation| >= 1e-3).
"""

from __future__ import annotations

import numpy as np

from gradcheck.ops import ArrayOps, numpy_ops
from gradcheck.registry import Problem, register

from ._common import clear_of_kinks, sigmoid

SOURCE = "002_b756c5b1758d6ba4.txt"


# -- forward and loss (float and sympy) -------------------------------------------------
def output(params: dict, X: object, xp: ArrayOps = numpy_ops) -> object:
    """002's code layout: H = ReLU(X W_i + b_i), Ybar = H W_o + b_o for rows X (n, d)."""
    H = xp.relu(X @ params["Wi"] + params["bi"])
    return H @ params["Wo"] + params["bo"]


def loss(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> object:
    """002 eq. (2)-(3): L = sum_n log(1 + exp(-y_n ybar_n)), via the stable softplus."""
    return xp.sum(xp.softplus(-data["y"] * output(params, data["X"], xp)))


def loss_math_layout(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> object:
    """Same loss with W_i (h, d) as in the math section: H = ReLU(W_i x + B_i) per column."""
    H = xp.relu(params["Wi"] @ data["X"].T + params["bi"][:, None])  # (h, n), columns are samples
    ybar = params["Wo"] @ H + params["bo"]
    return xp.sum(xp.softplus(-data["y"] * ybar))


def predict(params: dict, X: np.ndarray) -> np.ndarray:
    return np.where(output(params, X) >= 0, 1.0, -1.0)


# -- backward ----------------------------------------------------------------------------
def _dloss_dybar(y: np.ndarray, ybar: np.ndarray) -> np.ndarray:
    """002: ds/dYbar = -Y exp(-Y Ybar)/(1 + exp(-Y Ybar)) = -Y sigma(-Y Ybar)."""
    return -y * sigmoid(-y * ybar)


def grad_kron(params: dict, data: dict) -> dict:
    """002's code, one example at a time, summed over the data set (L = sum_n s)."""
    Wi, bi, Wo, bo = params["Wi"], params["bi"], params["Wo"], params["bo"]
    d, h = Wi.shape
    out = {"Wi": np.zeros_like(Wi), "bi": np.zeros_like(bi), "Wo": np.zeros_like(Wo), "bo": np.zeros_like(bo)}
    for x, y in zip(data["X"], data["y"], strict=True):
        H = np.maximum(x @ Wi + bi, 0.0)
        g = _dloss_dybar(y, Wo @ H + bo[0])
        mask = np.diag((H > 0).astype(np.float64))
        dH_dWi = mask @ np.kron(x, np.eye(h))  # (h, d*h): the row x kron I_h, masked
        out["Wi"] += g * (Wo @ dH_dWi).reshape(d, h)
        out["bi"] += g * Wo @ mask
        out["Wo"] += g * H
        out["bo"] += g
    return out


def grad_kron_math_layout(params: dict, data: dict) -> dict:
    """Math layout, W_i (h, d): g W_o diag(1(.)) (x^T kron I_h) = vec_F(dW_i)^T, reshaped order F."""
    Wi, bi, Wo, bo = params["Wi"], params["bi"], params["Wo"], params["bo"]
    h, d = Wi.shape
    out = {"Wi": np.zeros_like(Wi), "bi": np.zeros_like(bi), "Wo": np.zeros_like(Wo), "bo": np.zeros_like(bo)}
    for x, y in zip(data["X"], data["y"], strict=True):
        H = np.maximum(Wi @ x + bi, 0.0)
        g = _dloss_dybar(y, Wo @ H + bo[0])
        mask = np.diag((H > 0).astype(np.float64))
        row = g * Wo @ mask @ np.kron(x[None, :], np.eye(h))  # (h*d,), column-major vec of dW_i
        out["Wi"] += row.reshape(h, d, order="F")
        out["bi"] += g * Wo @ mask
        out["Wo"] += g * H
        out["bo"] += g
    return out


def grad_outer(params: dict, data: dict) -> dict:
    """Outer-product form for a batch of rows: dH = g W_o o 1(H>0), dW_i = X^T dH."""
    X, y = data["X"], data["y"]
    H = np.maximum(X @ params["Wi"] + params["bi"], 0.0)
    g = _dloss_dybar(y, H @ params["Wo"] + params["bo"])  # (n,)
    dH = np.outer(g, params["Wo"]) * (H > 0)
    return {"Wi": X.T @ dH, "bi": dH.sum(axis=0), "Wo": H.T @ g, "bo": np.array([g.sum()])}


def kron_as_claimed(x: np.ndarray, h: int) -> np.ndarray:
    """002's dimension claim taken literally: X kron I_h for a column X, shape (d*h, h).

    ``np.diag(mask) @ kron_as_claimed(x, h)`` raises for d > 1: the slip is a shape error.
    """
    return np.kron(np.asarray(x, dtype=np.float64).reshape(-1, 1), np.eye(h))


# -- factories -----------------------------------------------------------------------------
def _draw(rng: np.random.Generator, n: int, d: int, h: int, math_layout: bool) -> Problem:
    def draw() -> tuple[dict, dict]:
        shape = (h, d) if math_layout else (d, h)
        params = {
            "Wi": rng.normal(size=shape),
            "bi": 0.5 * rng.normal(size=h),
            "Wo": rng.normal(size=h),
            "bo": rng.normal(size=1),
        }
        data = {"X": rng.normal(size=(n, d)), "y": rng.choice([-1.0, 1.0], size=n)}
        return params, data

    def pre(p: dict, dt: dict) -> list:
        return [dt["X"] @ (p["Wi"].T if math_layout else p["Wi"]) + p["bi"]]

    params, data = clear_of_kinks(draw, pre)
    return Problem(params=params, data=data)


_COMMON = dict(source=SOURCE, tags=("relu",))


@register(
    name="relu_logistic.kron",
    named_sizes={"symbolic": {"n": 2, "d": 2, "h": 3},
                 "sympy_loss": {"n": 2, "d": 2, "h": 2},
                 "other": {"n": 2, "d": 4, "h": 3}},
    loss=loss,
    grad=grad_kron,
    equations="s = log(1 + exp(-Y Ybar)); ds/dW_i = -Y sigma(-Y Ybar) W_o diag(1(H>0)) (X kron I_h), "
    "reshaped (d, h)",
    layout="002's code: W_i (d, h), b_i (h,), W_o (h,), b_o (1,); examples are rows, L sums over them",
    description="002's Kronecker-product hidden-weight gradient exactly as its code computes it. "
    "Default draws keep |pre-activations| >= 1e-3.",
    **_COMMON,
)
def make_kron(rng: np.random.Generator, n: int = 4, d: int = 2, h: int = 5) -> Problem:
    return _draw(rng, n, d, h, math_layout=False)


@register(
    name="relu_logistic.kron_math_layout",
    named_sizes={"symbolic": {"n": 2, "d": 2, "h": 3},
                 "sympy_loss": {"n": 2, "d": 2, "h": 2},
                 "other": {"n": 3, "d": 2, "h": 4}},
    loss=loss_math_layout,
    grad=grad_kron_math_layout,
    equations="ds/dW_i = -Y sigma(-Y Ybar) W_o diag(1(H>0)) (X^T kron I_h), a row of length hd = vec_F(dW_i)^T",
    layout="002's math section: W_i (h, d); vec is column-major (order F)",
    description="The math section's formula with the Kronecker factor read as X^T kron I_h (h x hd).",
    **_COMMON,
)
def make_kron_math(rng: np.random.Generator, n: int = 4, d: int = 3, h: int = 5) -> Problem:
    return _draw(rng, n, d, h, math_layout=True)


@register(
    name="relu_logistic.outer",
    named_sizes={"symbolic": {"n": 3, "d": 2, "h": 3},
                 "sympy_loss": {"n": 2, "d": 2, "h": 2},
                 "other": {"n": 3, "d": 3, "h": 6}},
    loss=loss,
    grad=grad_outer,
    equations="dH = g W_o o 1(H>0), dW_i = X^T dH, db_i = sum dH, dW_o = H^T g, db_o = sum g; g = -Y sigma(-Y Ybar)",
    layout="002's code layout, batched: X (n, d), W_i (d, h)",
    description="The same gradient in outer-product form (no Kronecker product).",
    **_COMMON,
)
def make_outer(rng: np.random.Generator, n: int = 8, d: int = 2, h: int = 5) -> Problem:
    return _draw(rng, n, d, h, math_layout=False)


# -- the logistic loss on its own ----------------------------------------------------------
def logistic_loss(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> object:
    """002 eq. (3) summed: sum log(1 + exp(-y ybar)) = sum softplus(-y ybar)."""
    return xp.sum(xp.softplus(-data["y"] * params["ybar"]))


def logistic_grad(params: dict, data: dict) -> dict:
    return {"ybar": _dloss_dybar(data["y"], params["ybar"])}


@register(
    name="logistic.loss",
    named_sizes={"symbolic": {"n": 4},
                 "sympy_loss": {"n": 3},
                 "other": {"n": 3}},
    loss=logistic_loss,
    grad=logistic_grad,
    source=SOURCE,
    equations="s(Y, Ybar) = log(1 + exp(-Y Ybar)); ds/dYbar = -Y sigma(-Y Ybar)",
    layout="elementwise over a vector of outputs",
    description="Logistic loss and its derivative, evaluated stably (softplus, split sigmoid); "
    "default draws include margins up to about +-40 where the naive formula loses accuracy.",
)
def make_logistic(rng: np.random.Generator, n: int = 8) -> Problem:
    scale = np.where(np.arange(n) % 2 == 0, 1.0, 20.0)
    return Problem(params={"ybar": scale * rng.normal(size=n)}, data={"y": rng.choice([-1.0, 1.0], size=n)})
