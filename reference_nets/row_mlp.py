"""Row-layout deep MLPs, documents 000 (``000_0a14f30ed87b689a.txt``) and 003 (``003_10244aaefd11c7a8.txt``).

Forward, rows are samples: X_0 = input (n, d_0); Z_k = X_{k-1} W_k (+ b_k in 003);
X_k = f_k(Z_k), k = 1..L. 000 uses no biases and E = 1/2 ||X_L - T||^2; 003 adds row
biases b_k (1, d_k) broadcast over the batch and, as written, the loss ||X_L - T||_2.

Backward (000's delta recursion, 003's code): delta_L = dE/dX_L o f_L'(Z_L);
delta_{k} = (delta_{k+1} W_{k+1}^T) o f_k'(Z_k); dE/dW_k = X_{k-1}^T delta_k;
dE/db_k = sum over rows of delta_k.

Published slips kept as variants (each checked to fail):

* 000, first line of dE/dW_1: [W_2^T delta_2 o f_1'(X_0 W_1)] X_0^T. Read literally
  (W_2^T times delta_2, then the mask, then X_0^T on the right) the products are defined
  only when n = id = h1 = h2, so for any other sizes it is a shape error, not a gradient.
  The dE/dW_2 step of the same document multiplies in the other order (delta_3 W_3^T, and
  X^T on the left). We register the literal reading at the square sizes where it runs
  (``row_mlp.published_dW1_first``): there it is wrong in value. The document's second
  line, X_0^T delta_1, is the correct formula and is what the other entries use.
* 003 defines f_5 = ||f_4 - Y||_2 (the norm, not squared) but differentiates it as if it
  were squared, 2 (Yhat - Y). The gradient of the norm is (Yhat - Y) / ||Yhat - Y||; the
  printed one is off by the factor 2 ||Yhat - Y|| (``row_mlp.published_norm_as_squared``).
* 003 writes d f_5/d W_2 = d f_5/d b_1 a(f_1); the factor must be d f_5/d b_2 (its next
  line, dL/dW_n = dL/db_n a(z_{n-1}), has it right). Read literally in row layout,
  X_1^T delta_1 has shape (h1, h1), so it is registered with h1 = output width
  (``row_mlp.published_dW2_from_db1``).

Noticed, not registered: 000 names its objective "E[T - Y]" though it is no expectation
of a difference but 1/2 ||X_3 - T||^2 summed over the batch (no mean); its dE/dW_2 line
switches from T to a lower-case t. We implement the sum, as the formula says.
"""

from __future__ import annotations

import numpy as np

from gradcheck.ops import ArrayOps, numpy_ops
from gradcheck.registry import Problem, register

from ._common import activation, activation_slope, clear_of_kinks

SOURCE_000 = "000_0a14f30ed87b689a.txt"
SOURCE_003 = "003_10244aaefd11c7a8.txt"
_LOSS_KINDS = ("half_squared", "norm")


def _depth(params: dict) -> int:
    return sum(1 for k in params if k.startswith("W"))


# -- forward and loss (float and sympy) -------------------------------------------------
def forward(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> tuple[list, list]:
    """Returns ([X_0 .. X_L], [Z_1 .. Z_L]) for X_k = f(X_{k-1} W_k + b_k)."""
    f = activation(data["activation"], xp)
    xs, zs = [data["X"]], []
    for k in range(1, _depth(params) + 1):
        z = xs[-1] @ params[f"W{k}"]
        if f"b{k}" in params:
            z = z + params[f"b{k}"]
        zs.append(z)
        xs.append(f(z))
    return xs, zs


def loss(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> object:
    """000: E = 1/2 ||X_L - T||^2;  003 as defined: f_5 = ||X_L - T||_2 (Frobenius over the batch)."""
    xs, _ = forward(params, data, xp)
    r = xs[-1] - data["T"]
    sq = xp.sum(r * r)
    return sq / 2 if data["loss"] == "half_squared" else xp.sqrt(sq)


# -- backward ------------------------------------------------------------------------------
def _output_slope(r: np.ndarray, kind: str) -> np.ndarray:
    """dE/dX_L for the loss actually defined."""
    if kind == "half_squared":
        return r  # d/dX 1/2||X - T||^2
    return r / np.linalg.norm(r)  # d/dX ||X - T||_2


def _deltas(params: dict, data: dict, dE_dXL: np.ndarray | None = None) -> tuple[list, list]:
    """delta_L = dE/dX_L o f'(Z_L); delta_k = (delta_{k+1} W_{k+1}^T) o f'(Z_k). Index 0 is delta_1."""
    act = data["activation"]
    xs, zs = forward(params, data)
    if dE_dXL is None:
        dE_dXL = _output_slope(xs[-1] - data["T"], data["loss"])
    L = _depth(params)
    deltas = [dE_dXL * activation_slope(act, zs[-1])]
    for k in range(L - 1, 0, -1):  # delta_k from delta_{k+1}
        deltas.insert(0, (deltas[0] @ params[f"W{k + 1}"].T) * activation_slope(act, zs[k - 1]))
    return deltas, xs


def _weight_and_bias_grads(params: dict, deltas: list, xs: list) -> dict:
    """dE/dW_k = X_{k-1}^T delta_k; dE/db_k = sum over the batch rows of delta_k."""
    out = {}
    for k in range(1, len(deltas) + 1):
        out[f"W{k}"] = xs[k - 1].T @ deltas[k - 1]
        if f"b{k}" in params:
            out[f"b{k}"] = np.sum(deltas[k - 1], axis=0, keepdims=True)
    return out


def grad(params: dict, data: dict) -> dict:
    """000/003 delta recursion with the derivative of the loss actually defined."""
    deltas, xs = _deltas(params, data)
    return _weight_and_bias_grads(params, deltas, xs)


def grad_published_dW1_first(params: dict, data: dict) -> dict:
    """000 as printed: dE/dW_1 = [W_2^T delta_2 o f_1'(X_0 W_1)] X_0^T (literal product order)."""
    out = grad(params, data)
    deltas, xs = _deltas(params, data)
    _, zs = forward(params, data)
    inner = (params["W2"].T @ deltas[1]) * activation_slope(data["activation"], zs[0])
    out["W1"] = inner @ xs[0].T
    return out


def grad_published_norm_as_squared(params: dict, data: dict) -> dict:
    """003 as printed: the output derivative 2 (Yhat - Y) used for the loss ||Yhat - Y||_2."""
    xs, _ = forward(params, data)
    deltas, xs = _deltas(params, data, dE_dXL=2.0 * (xs[-1] - data["T"]))
    return _weight_and_bias_grads(params, deltas, xs)


def grad_published_dW2_from_db1(params: dict, data: dict) -> dict:
    """003 as printed: d f_5/d W_2 = (d f_5/d b_1) a(f_1), i.e. X_1^T delta_1 in row layout."""
    out = grad(params, data)
    deltas, xs = _deltas(params, data)
    out["W2"] = xs[1].T @ deltas[0]
    return out


# -- factories ---------------------------------------------------------------------------------
def _draw(
    rng: np.random.Generator,
    widths: list[int],
    n: int,
    act: str,
    loss_kind: str,
    bias: bool = True,
) -> Problem:
    """Weights ~ N(0, 1/fan_in) so deep nets do not saturate; ReLU draws are kept off the kink."""

    def draw() -> tuple[dict, dict]:
        params: dict = {}
        for k, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True), start=1):
            params[f"W{k}"] = rng.normal(size=(a, b)) / np.sqrt(a)
            if bias:
                params[f"b{k}"] = 0.5 * rng.normal(size=(1, b))
        target = rng.uniform(size=(n, widths[-1])) if act == "sigmoid" else rng.normal(size=(n, widths[-1]))
        data = {"X": rng.normal(size=(n, widths[0])), "T": target, "activation": act, "loss": loss_kind}
        return params, data

    if act == "relu":
        params, data = clear_of_kinks(draw, lambda p, d: forward(p, d)[1])
    else:
        params, data = draw()
    return Problem(params=params, data=data)


def _widths(n_in: int, width: int, n_out: int, depth: int) -> list[int]:
    return [n_in] + [width] * (depth - 1) + [n_out]


# --sizes large for the sigmoid net: 108,630 parameters (W1 30x300, W2 300x300, W3 300x30),
# checked along directions.
LARGE = {"n": 16, "n_in": 30, "width": 300, "n_out": 30}
NAMED_SIZES = {
    "sigmoid": {"symbolic": {"n": 2, "n_in": 2, "width": 2, "n_out": 1, "depth": 2},
                "sympy_loss": {"n": 2, "n_in": 2, "width": 2, "n_out": 1, "depth": 2},
                "other": {"n": 2, "n_in": 4, "width": 3, "n_out": 1, "depth": 4}},
    "tanh": {"symbolic": {"n": 2, "n_in": 2, "width": 2, "n_out": 1, "depth": 2},
             "sympy_loss": {"n": 2, "n_in": 2, "width": 2, "n_out": 1, "depth": 2},
             "other": {"n": 7, "n_in": 2, "width": 5, "n_out": 3, "depth": 1}},
    "relu": {"symbolic": {"n": 2, "n_in": 2, "width": 3, "n_out": 1, "depth": 2},
             "sympy_loss": {"n": 2, "n_in": 2, "width": 2, "n_out": 1, "depth": 2},
             "other": {"n": 8, "n_in": 3, "width": 6, "n_out": 2, "depth": 4}},
}


def _register_activation(act: str, tags: tuple[str, ...] = ()) -> None:
    @register(
        name=f"row_mlp.{act}",
        loss=loss,
        grad=grad,
        source=SOURCE_003,
        equations="X_k = f(X_{k-1} W_k + b_k), E = 1/2||X_L - T||^2; delta_k = (delta_{k+1} W_{k+1}^T) o f'(Z_k), "
        "dE/dW_k = X_{k-1}^T delta_k, dE/db_k = sum_rows delta_k",
        layout="row layout: samples are rows, W_k (d_{k-1}, d_k), b_k (1, d_k)",
        description=f"Deep row-layout MLP, {act} at every layer, loss of 000 with the biases of 003."
        + (" Default draws keep |Z| >= 1e-3 so no kink is near." if act == "relu" else ""),
        tags=tags,
        large_sizes=LARGE if act == "sigmoid" else None,
        named_sizes=NAMED_SIZES[act],
    )
    def make(
        rng: np.random.Generator, n: int = 5, n_in: int = 3, width: int = 4, n_out: int = 2, depth: int = 3
    ) -> Problem:
        return _draw(rng, _widths(n_in, width, n_out, depth), n, act, "half_squared")


for _act, _tags in (("sigmoid", ()), ("tanh", ()), ("relu", ("relu",))):
    _register_activation(_act, _tags)

@register(
    name="row_mlp.nobias_000",
    named_sizes={"symbolic": {"n": 2, "n_in": 2, "h1": 2, "h2": 2, "n_out": 1},
                 "sympy_loss": {"n": 2, "n_in": 2, "h1": 2, "h2": 2, "n_out": 1},
                 "other": {"n": 3, "n_in": 2, "h1": 4, "h2": 5, "n_out": 3}},
    loss=loss,
    grad=grad,
    source=SOURCE_000,
    equations="X_k = f_k(X_{k-1} W_k), k = 1..3; E = 1/2||X_3 - T||^2; dE/dW_3 = X_2^T delta_3, "
    "dE/dW_2 = X_1^T delta_2, dE/dW_1 = X_0^T delta_1",
    layout="row layout: samples are rows, W_k (d_{k-1}, d_k), no biases",
    description="000's three-layer net exactly (sigmoid f_k; 000 leaves f_k generic).",
)
def make_nobias(rng: np.random.Generator, n: int = 6, n_in: int = 4, h1: int = 5, h2: int = 3,
                n_out: int = 2) -> Problem:
    return _draw(rng, [n_in, h1, h2, n_out], n, "sigmoid", "half_squared", bias=False)


@register(
    name="row_mlp.published_dW1_first",
    named_sizes={"symbolic": {"size": 2, "n_out": 1},
                 "sympy_loss": {"size": 2, "n_out": 1},
                 "other": {"size": 4, "n_out": 3}},
    loss=loss,
    grad=grad_published_dW1_first,
    source=SOURCE_000,
    equations="dE/dW_1 = [W_2^T delta_2 o f_1'(X_0 W_1)] X_0^T (first line, read literally)",
    layout="row layout; the printed products are defined only for n = id = h1 = h2 (= size)",
    expected_correct=False,
    corrects="row_mlp.nobias_000",
    slip="the product order is reversed relative to 000's own dE/dW_2 step (W_2^T delta_2 for delta_2 W_2^T, "
    "X_0^T on the right): a shape error unless n = id = h1 = h2, and wrong in value where it runs.",
)
def make_published_dW1(rng: np.random.Generator, size: int = 3, n_out: int = 2) -> Problem:
    return _draw(rng, [size, size, size, n_out], size, "sigmoid", "half_squared", bias=False)


@register(
    name="row_mlp.l2norm",
    named_sizes={"symbolic": {"n": 2, "n_in": 2, "width": 2, "n_out": 2, "depth": 2},
                 "sympy_loss": {"n": 2, "n_in": 2, "width": 2, "n_out": 1},
                 "other": {"n": 3, "depth": 3}},
    loss=loss,
    grad=grad,
    source=SOURCE_003,
    equations="f_1 = f_0 W_1 + b_1, f_2 = a(f_1), f_3 = f_2 W_2 + b_2, f_4 = a(f_3), f_5 = ||f_4 - Y||_2; "
    "d f_5 / d f_4 = (f_4 - Y) / ||f_4 - Y||",
    layout="row layout as in 003's code (np.dot(input, w) + b); the norm is over the whole batch",
    description="003's network with its loss as defined (the norm) and the corrected output derivative.",
)
def make_l2norm(rng: np.random.Generator, n: int = 5, n_in: int = 3, width: int = 4, n_out: int = 2,
                depth: int = 2) -> Problem:
    return _draw(rng, _widths(n_in, width, n_out, depth), n, "tanh", "norm")


@register(
    name="row_mlp.published_norm_as_squared",
    named_sizes={"symbolic": {"n": 2, "n_in": 2, "width": 2, "n_out": 2, "depth": 2},
                 "sympy_loss": {"n": 2, "n_in": 2, "width": 2, "n_out": 1},
                 "other": {"n": 7, "depth": 3}},
    loss=loss,
    grad=grad_published_norm_as_squared,
    source=SOURCE_003,
    equations="f_5 = ||f_4 - Y||_2 but d f_5 / d f_4 = 2 (Yhat - Y)",
    layout="row layout as in 003's code",
    expected_correct=False,
    corrects="row_mlp.l2norm",
    slip="the loss is the norm ||Yhat - Y||_2 but is differentiated as the squared norm: the gradient is "
    "too large by the factor 2 ||Yhat - Y||.",
)
def make_norm_as_squared(
    rng: np.random.Generator, n: int = 5, n_in: int = 3, width: int = 4, n_out: int = 2, depth: int = 2
) -> Problem:
    return _draw(rng, _widths(n_in, width, n_out, depth), n, "tanh", "norm")


@register(
    name="row_mlp.published_dW2_from_db1",
    named_sizes={"symbolic": {"n": 2, "n_in": 2, "width": 2},
                 "sympy_loss": {"n": 2, "n_in": 2, "width": 2},
                 "other": {"n": 4, "n_in": 2, "width": 4}},
    loss=loss,
    grad=grad_published_dW2_from_db1,
    source=SOURCE_003,
    equations="d f_5 / d W_2 = (d f_5 / d b_1) a(f_1)",
    layout="row layout; X_1^T delta_1 is (h1, h1), so registered with h1 = n_out",
    expected_correct=False,
    corrects="row_mlp.tanh",
    slip="dW_2 is built from the first layer's bias gradient d f_5/d b_1 instead of d f_5/d b_2 "
    "(a shape error unless the hidden and output widths agree).",
)
def make_dW2_from_db1(rng: np.random.Generator, n: int = 5, n_in: int = 3, width: int = 3) -> Problem:
    return _draw(rng, [n_in, width, width], n, "tanh", "half_squared")
