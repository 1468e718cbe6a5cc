"""001: the 2-3-1 sigmoid net learns XNOR by batch gradient descent (lr 0.1, 10,000 steps).

As in 001, the four per-sample gradients are summed for each step, weights start
uniform on [0, 1), and the reported loss is the mean over the four samples of
||a_2 - y||^2. 001 reports 0.001 after 10,000 steps (for one unseeded run). With all
weights starting positive, some seeds sit on a plateau for a while, so we report
several seeds.
"""

from __future__ import annotations

import numpy as np

from gradcheck.registry import get
from reference_nets import sigmoid_column


def train(seed: int, steps: int = 10_000, lr: float = 0.1) -> tuple[dict, dict]:
    problem = get("xnor.sigmoid_2_3_1").problem(seed)
    params = {k: v.copy() for k, v in problem.params.items()}
    for _ in range(steps):
        g = sigmoid_column.grad(params, problem.data)
        params = {k: params[k] - lr * g[k] for k in params}
    return params, dict(problem.data)


def run(seeds: tuple[int, ...] = tuple(range(10)), steps: int = 10_000, lr: float = 0.1) -> dict:
    losses, correct = [], []
    for seed in seeds:
        params, data = train(seed, steps, lr)
        mean_loss = float(sigmoid_column.loss(params, data)) / 4  # loss sums 4 samples
        out = sigmoid_column.forward(params, data["X"])[-1]
        losses.append(mean_loss)
        correct.append(int(np.sum((out > 0.5) == (data["Y"] > 0.5))))
    return {"seeds": list(seeds), "steps": steps, "lr": lr, "mean_loss": losses, "n_correct_of_4": correct}


def main() -> None:
    r = run()
    print(f"XNOR, 2-3-1 sigmoid net, batch GD, lr {r['lr']}, {r['steps']} steps (001 reports loss 0.001)")
    for seed, loss, ok in zip(r["seeds"], r["mean_loss"], r["n_correct_of_4"], strict=True):
        print(f"  seed {seed}: mean loss {loss:.4f}, {ok}/4 outputs on the right side of 0.5")


if __name__ == "__main__":
    main()
