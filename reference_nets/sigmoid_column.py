"""Sigmoid layers in column layout, document 001 (``001_32fd1160338bb4a8.txt``).

Forward (001, "Deep Neural Network Layer"): z = W x + b, a = sigma(z),
c = (1/n) ||a - y||_2^2 with n the number of outputs. For the L-layer net
(001, multi-layer case): a_0 = x, z_i = W_{i-1} a_{i-1} + b_{i-1}, a_i = sigma(z_i).
The 2-3-1 XNOR net is the L = 2 case trained on the four XNOR points.

Layout. 001 works in numerator layout: dc/db and dc/dx come out as row vectors and
dc/dW = (2/n) x (a - y)^T diag(sigma'(z)) has shape (in, out), the transpose of W
(W is (out, in) because z = W x). Read as the gradient of W -- the array one subtracts
from W -- it is W's gradient transposed: for a non-square layer it does not even have
W's shape, for a square one the checker sees the transpose. The document's own code
transposes it before the update (its ``dw = dcdw.T``), so the slip is in the formula
as printed, not in the code. We keep the printed formula as ``*.published_dW_numerator``
(registered at square sizes, where it runs and is wrong in value) and use the
corrected dc/dW = delta x^T with delta = (2/n)(a - y) o sigma'(z).

Also noticed (not registered): the document's 4-input example writes
z_1 = w_11 x_1 + w_21 x_2 + ..., i.e. z = W^T x, while every later formula uses
z = W x. We implement z = W x.
"""

from __future__ import annotations

import numpy as np

from gradcheck.ops import ArrayOps, numpy_ops
from gradcheck.registry import Problem, register

from ._common import activation_slope, sigmoid

SOURCE = "001_32fd1160338bb4a8.txt"
XNOR_X = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])  # one column per sample
XNOR_Y = np.array([[1.0, 0.0, 0.0, 1.0]])


def _n_layers(params: dict) -> int:
    return sum(1 for k in params if k.startswith("W"))


# -- forward and loss (runs on floats and on sympy object arrays) -------------------
def forward(params: dict, X: object, xp: ArrayOps = numpy_ops) -> list:
    """a_0 = X; z_i = W_{i-1} a_{i-1} + b_{i-1}; a_i = sigma(z_i). Columns are samples."""
    acts = [X]
    for i in range(_n_layers(params)):
        acts.append(xp.sigmoid(params[f"W{i}"] @ acts[-1] + params[f"b{i}"]))
    return acts


def loss(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> object:
    """c = scale * sum ||a_L - y||^2; scale = 1/n (mean over outputs) or 1 (XNOR batch sum)."""
    r = forward(params, data["X"], xp)[-1] - data["Y"]
    return data["scale"] * xp.sum(r * r)


# -- backward ------------------------------------------------------------------------
def _deltas(params: dict, data: dict) -> tuple[list, list]:
    """delta_L = 2 scale (a_L - y) o sigma'(z_L); delta_i = W_i^T delta_{i+1} o sigma'(z_i).

    This is 001's chain (2/n)(a_L - y)^T diag(sigma'(z_L)) W_{L-1} ... diag(sigma'(z_i)),
    transposed into a column and with diag(v) u written as v o u.
    """
    L = _n_layers(params)
    acts, zs = [data["X"]], []
    for i in range(L):
        zs.append(params[f"W{i}"] @ acts[-1] + params[f"b{i}"])
        acts.append(sigmoid(zs[-1]))
    delta = 2.0 * data["scale"] * (acts[-1] - data["Y"]) * activation_slope("sigmoid", zs[-1])
    deltas = [delta]
    for i in range(L - 1, 0, -1):
        delta = (params[f"W{i}"].T @ delta) * activation_slope("sigmoid", zs[i - 1])
        deltas.insert(0, delta)
    return deltas, acts


def grad(params: dict, data: dict) -> dict:
    """Corrected 001: dc/dW_{i-1} = delta_i a_{i-1}^T, dc/db_{i-1} = sum over samples of delta_i."""
    deltas, acts = _deltas(params, data)
    out = {}
    for i, delta in enumerate(deltas):
        out[f"W{i}"] = delta @ acts[i].T
        out[f"b{i}"] = np.sum(delta, axis=1, keepdims=True)
    return out


def grad_published_numerator(params: dict, data: dict) -> dict:
    """001 as printed: dc/dW_{i-1} = (2/n) a_{i-1} (a_L - y)^T diag(...) ... = a_{i-1} delta_i^T."""
    out = grad(params, data)
    deltas, acts = _deltas(params, data)
    for i, delta in enumerate(deltas):
        out[f"W{i}"] = acts[i] @ delta.T
    return out


def layer_loss(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> object:
    """Single layer with the input x as a parameter too: c = (1/n)||sigma(W x + b) - y||^2."""
    r = xp.sigmoid(params["W"] @ params["x"] + params["b"]) - data["y"]
    return xp.sum(r * r) / data["y"].shape[0]


def layer_grad(params: dict, data: dict) -> dict:
    """001: dc/db, dc/dx, dc/dW via diag(sigma'(z)), transposed into gradients.

    dc/db = (2/n)(a-y)^T diag(sigma'(z))      -> delta = (2/n)(a-y) o sigma'(z)
    dc/dx = (2/n)(a-y)^T diag(sigma'(z)) W    -> W^T delta
    dc/dW (corrected, W's shape)              -> delta x^T
    """
    W, b, x, y = params["W"], params["b"], params["x"], data["y"]
    z = W @ x + b
    delta = (2.0 / y.shape[0]) * (sigmoid(z) - y) * activation_slope("sigmoid", z)
    return {"W": delta @ x.T, "b": delta, "x": W.T @ delta}


def layer_grad_published(params: dict, data: dict) -> dict:
    """001 as printed for dc/dW: (2/n) x (a-y)^T diag(sigma'(z)) = x delta^T, shape (in, out)."""
    out = layer_grad(params, data)
    z = params["W"] @ params["x"] + params["b"]
    delta = (2.0 / data["y"].shape[0]) * (sigmoid(z) - data["y"]) * activation_slope("sigmoid", z)
    out["W"] = params["x"] @ delta.T
    return out


# -- factories -------------------------------------------------------------------------
def _layer_problem(rng: np.random.Generator, n_in: int, n_out: int) -> Problem:
    return Problem(
        params={
            "W": rng.normal(size=(n_out, n_in)),
            "b": rng.normal(size=(n_out, 1)),
            "x": rng.normal(size=(n_in, 1)),
        },
        data={"y": rng.uniform(size=(n_out, 1))},
    )


def _mlp_params(rng: np.random.Generator, widths: list[int]) -> dict:
    params = {}
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        params[f"W{i}"] = rng.normal(size=(b, a))
        params[f"b{i}"] = rng.normal(size=(b, 1))
    return params


@register(
    name="sigmoid_layer.column",
    named_sizes={"symbolic": {"n_in": 2, "n_out": 3},
                 "sympy_loss": {"n_in": 2, "n_out": 2},
                 "other": {"n_in": 5, "n_out": 2}},
    loss=layer_loss,
    grad=layer_grad,
    source=SOURCE,
    equations="z = Wx + b, a = sigma(z), c = (1/n)||a - y||^2; dc/db, dc/dx, dc/dW = delta x^T",
    layout="column vectors, W (out, in); gradients transposed from 001's numerator layout",
    description="One sigmoid layer; gradient w.r.t. W, b and the input x.",
)
def make_layer(rng: np.random.Generator, n_in: int = 3, n_out: int = 4) -> Problem:
    return _layer_problem(rng, n_in, n_out)


@register(
    name="sigmoid_layer.published_dW_numerator",
    named_sizes={"symbolic": {"n_in": 2, "n_out": 2},
                 "sympy_loss": {"n_in": 2, "n_out": 2},
                 "other": {"n_in": 4, "n_out": 4}},
    loss=layer_loss,
    grad=layer_grad_published,
    source=SOURCE,
    equations="dc/dW = (2/n) x (a - y)^T diag(sigma'(z))",
    layout="as printed: numerator layout, shape (in, out) for W of shape (out, in)",
    expected_correct=False,
    corrects="sigmoid_layer.column",
    slip="dc/dW is printed in numerator layout, (in, out), so used as W's gradient it is the transpose "
    "(a shape error unless the layer is square; registered square so the values are compared).",
)
def make_layer_published(rng: np.random.Generator, n_in: int = 3, n_out: int = 3) -> Problem:
    return _layer_problem(rng, n_in, n_out)


def _mlp_problem(rng: np.random.Generator, widths: list[int]) -> Problem:
    return Problem(
        params=_mlp_params(rng, widths),
        data={
            "X": rng.normal(size=(widths[0], 1)),
            "Y": rng.uniform(size=(widths[-1], 1)),
            "scale": 1.0 / widths[-1],
        },
    )


@register(
    name="sigmoid_mlp.column",
    named_sizes={"symbolic": {"n_in": 2, "width": 2, "n_out": 1, "depth": 2},
                 "sympy_loss": {"n_in": 2, "width": 2, "n_out": 1, "depth": 2},
                 "other": {"n_in": 2, "width": 3, "n_out": 4, "depth": 5}},
    loss=loss,
    grad=grad,
    source=SOURCE,
    equations="a_0 = x, z_i = W_{i-1} a_{i-1} + b_{i-1}, a_i = sigma(z_i), c = (1/n)||a_L - y||^2",
    layout="column vectors, W_i (out, in); gradients transposed from 001's numerator layout",
    description="L-layer sigmoid MLP by 001's chain of diag(sigma'(z_i)) W_{i-1} factors.",
)
def make_mlp(rng: np.random.Generator, n_in: int = 3, width: int = 4, n_out: int = 2, depth: int = 3) -> Problem:
    return _mlp_problem(rng, [n_in] + [width] * (depth - 1) + [n_out])


@register(
    name="sigmoid_mlp.published_dW_numerator",
    named_sizes={"symbolic": {"width": 2, "depth": 2},
                 "sympy_loss": {"width": 2, "depth": 2},
                 "other": {"width": 4, "depth": 2}},
    loss=loss,
    grad=grad_published_numerator,
    source=SOURCE,
    equations="dc/dW_{i-1} = (2/n) a_{i-1} (a_L - y)^T diag(sigma'(z_L)) W_{L-1} ... diag(sigma'(z_i))",
    layout="as printed: numerator layout, each dc/dW_{i-1} has W_{i-1}'s transposed shape",
    expected_correct=False,
    corrects="sigmoid_mlp.column",
    slip="each dc/dW_{i-1} is printed as a_{i-1} times a row vector, the transpose of W_{i-1}'s gradient "
    "(registered with all widths equal so it runs).",
)
def make_mlp_published(rng: np.random.Generator, width: int = 3, depth: int = 3) -> Problem:
    return _mlp_problem(rng, [width] * (depth + 1))


@register(
    name="xnor.sigmoid_2_3_1",
    named_sizes={"symbolic": {},
                 "sympy_loss": {},
                 "other": {}},
    loss=loss,
    grad=grad,
    source=SOURCE,
    equations="2-3-1 sigmoid net, c = sum over the 4 XNOR samples of ||a_2 - y||^2 (batch sum, as trained)",
    layout="column vectors, samples as columns; W0 (3, 2), b0 (3, 1), W1 (1, 3), b1 (1, 1)",
    description="001's XNOR network; weights drawn uniform on [0, 1) like the document's initialisation.",
)
def make_xnor(rng: np.random.Generator) -> Problem:
    params = {
        "W0": rng.uniform(size=(3, 2)),
        "b0": rng.uniform(size=(3, 1)),
        "W1": rng.uniform(size=(1, 3)),
        "b1": rng.uniform(size=(1, 1)),
    }
    return Problem(params=params, data={"X": XNOR_X.copy(), "Y": XNOR_Y.copy(), "scale": 1.0})
