"""Two-layer ReLU / softmax classifier, document 004 (``004_3e1a2435217e6d8b.txt``).

Forward, rows are samples: r = x W1 + b1, h = max(0, r), score = h W2 + b2,
y = softmax(score) row-wise; loss L = (1/n) sum_i -log y_{i, t_i} (the mean categorical
cross-entropy that 004's code differentiates: it divides dscore by n).

Backward (004): dscore = (y - onehot) / n; dW2 = h^T dscore; db2 = column sums of dscore;
dh = dscore W2^T; dr = dh o 1(h > 0); dW1 = x^T dr; db1 = column sums of dr.
004 writes db2 = dscore and db1 = dr for a single sample; for a batch the code sums
over rows, which is what we do (b1, b2 are (1, width) rows as in the code).

The softmax Jacobian d y_k / d score_j = y_k (delta_kj - y_j) is registered as a
Jacobian check (numerator layout: rows index y, columns index score).

Published slip kept as a variant: 004's gradient-descent section takes L = sum_i L_i
("batch-GD (where L = sum L_i)") but the code divides dscore by n, i.e. differentiates
the mean. Paired with the summed loss, that gradient is n times too small
(``relu_softmax.published_sum_loss``). Also noticed, not registered: the text swaps
"batch-GD (uses one sample)" and "SGD (uses all samples)"; the code's softmax has no
max-shift (overflows for scores above ~700; our loss uses a shifted log-softmax).
"""

from __future__ import annotations

import numpy as np

from gradcheck.ops import ArrayOps, numpy_ops
from gradcheck.registry import Problem, register

from ._common import clear_of_kinks

SOURCE = "004_3e1a2435217e6d8b.txt"


# -- forward and loss (float and sympy) ------------------------------------------------
def scores(params: dict, x: object, xp: ArrayOps = numpy_ops) -> object:
    """004: h = max(0, x W1 + b1); score = h W2 + b2."""
    h = xp.relu(x @ params["W1"] + params["b1"])
    return h @ params["W2"] + params["b2"]


def loss(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> object:
    """Mean categorical cross-entropy: -(1/n) sum_i log softmax(score_i)[t_i]."""
    logp = xp.log_softmax(scores(params, data["x"], xp), axis=1)
    return -xp.sum(data["onehot"] * logp) / data["onehot"].shape[0]


def loss_sum(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> object:
    """004's gradient-descent section: L = sum_i L_i (no 1/n)."""
    logp = xp.log_softmax(scores(params, data["x"], xp), axis=1)
    return -xp.sum(data["onehot"] * logp)


def predict(params: dict, x: np.ndarray) -> np.ndarray:
    return np.argmax(scores(params, x), axis=1)


# -- backward (004's dscore, dW2, db2, dh, dr, dW1, db1) --------------------------------
def grad(params: dict, data: dict) -> dict:
    x, onehot = data["x"], data["onehot"]
    n = x.shape[0]
    h = np.maximum(x @ params["W1"] + params["b1"], 0.0)
    y = numpy_ops.softmax(h @ params["W2"] + params["b2"], axis=1)
    dscore = (y - onehot) / n                    # d L / d score for the mean loss
    dW2 = h.T @ dscore                           # score_j = sum_k h_k W2_kj + b2_j
    db2 = np.sum(dscore, axis=0, keepdims=True)  # b2 is broadcast over the n rows
    dh = dscore @ params["W2"].T
    dr = dh * (h > 0)                            # ReLU mask, slope 0 taken at r = 0
    dW1 = x.T @ dr
    db1 = np.sum(dr, axis=0, keepdims=True)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


# -- softmax Jacobian ---------------------------------------------------------------------
def softmax_fn(params: dict, data: dict, xp: ArrayOps = numpy_ops) -> object:
    return xp.softmax(params["score"], axis=-1)


def softmax_jacobian(params: dict, data: dict) -> dict:
    """004: d y_k / d score_j = y_k (delta_kj - y_j), i.e. diag(y) - y y^T."""
    y = numpy_ops.softmax(params["score"], axis=-1)
    return {"score": np.diag(y) - np.outer(y, y)}


# -- factories -----------------------------------------------------------------------------
def _draw(rng: np.random.Generator, n: int, n_in: int, hidden: int, classes: int) -> Problem:
    def draw() -> tuple[dict, dict]:
        params = {
            "W1": rng.normal(size=(n_in, hidden)) / np.sqrt(n_in),
            "b1": 0.5 * rng.normal(size=(1, hidden)),
            "W2": rng.normal(size=(hidden, classes)) / np.sqrt(hidden),
            "b2": 0.5 * rng.normal(size=(1, classes)),
        }
        labels = rng.integers(0, classes, size=n)
        data = {"x": rng.normal(size=(n, n_in)), "labels": labels, "onehot": np.eye(classes)[labels]}
        return params, data

    params, data = clear_of_kinks(draw, lambda p, d: [d["x"] @ p["W1"] + p["b1"]])
    return Problem(params=params, data=data)


# --sizes large: 101,050 parameters (W1 50x1000, W2 1000x50), checked along directions. Four
# samples keep the 4000 ReLU pre-activations drawable clear of their kink.
LARGE = {"n": 4, "n_in": 50, "hidden": 1000, "classes": 50}


@register(
    name="relu_softmax.ce_mean",
    named_sizes={"symbolic": {"n": 3, "n_in": 2, "hidden": 3, "classes": 3},
                 "sympy_loss": {"n": 2, "n_in": 2, "hidden": 2, "classes": 2},
                 "other": {"n": 10, "n_in": 2, "hidden": 8, "classes": 3}},
    loss=loss,
    grad=grad,
    source=SOURCE,
    equations="h = max(0, xW1 + b1), y = softmax(hW2 + b2), L = mean_i -log y_{i,t_i}; dscore = (y - onehot)/n, "
    "dW2 = h^T dscore, dh = dscore W2^T, dr = dh o 1(h>0), dW1 = x^T dr",
    layout="row layout: samples are rows; W1 (N_x, N_h), W2 (N_h, N_y), b (1, width)",
    description="004's two-layer classifier. Default draws keep |x W1 + b1| >= 1e-3 (no kink nearby).",
    tags=("relu",),
    large_sizes=LARGE,
)
def make(rng: np.random.Generator, n: int = 6, n_in: int = 3, hidden: int = 5, classes: int = 4) -> Problem:
    return _draw(rng, n, n_in, hidden, classes)


@register(
    name="relu_softmax.published_sum_loss",
    named_sizes={"symbolic": {"n": 3, "n_in": 2, "hidden": 3, "classes": 3},
                 "sympy_loss": {"n": 2, "n_in": 2, "hidden": 2, "classes": 2},
                 "other": {"n": 3, "classes": 2}},
    loss=loss_sum,
    grad=grad,
    source=SOURCE,
    equations="L = sum_i L_i (gradient-descent section) with the code's dscore = (y - onehot)/n",
    layout="row layout as in 004's code",
    expected_correct=False,
    corrects="relu_softmax.ce_mean",
    slip="the loss is defined as the sum over samples but the code's gradient divides by n (the mean's "
    "gradient), so it is n times too small for the loss as defined.",
    tags=("relu",),
    large_sizes=LARGE,
)
def make_sum(rng: np.random.Generator, n: int = 6, n_in: int = 3, hidden: int = 5, classes: int = 4) -> Problem:
    return _draw(rng, n, n_in, hidden, classes)


@register(
    name="relu_softmax.softmax_jacobian",
    named_sizes={"symbolic": {"classes": 3},
                 "sympy_loss": {"classes": 3},
                 "other": {"classes": 2}},
    loss=softmax_fn,
    jacobian=softmax_jacobian,
    source=SOURCE,
    equations="d y_k / d score_j = y_k (delta_kj - y_j)",
    layout="numerator layout: J[k, j] = d y_k / d score_j",
    description="Jacobian of softmax for one score vector.",
)
def make_softmax(rng: np.random.Generator, classes: int = 5) -> Problem:
    return Problem(params={"score": 2.0 * rng.normal(size=classes)})
