"""002: the ReLU net with the logistic loss trained by SGD on 2-D points with labels in {-1, 1}.

002 gives no figures (it is an assignment skeleton); we report training accuracy on a
data set that no linear classifier can fit: label +1 inside a disc, -1 outside it.
Each SGD step uses one example and 002's Kronecker-form gradient.
"""

from __future__ import annotations

import numpy as np

from reference_nets import relu_logistic


def disc_points(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2.0, 2.0, size=(n, 2))
    y = np.where(np.sum(X * X, axis=1) < 1.6, 1.0, -1.0)  # about half the square's area
    return X, y


def run(n: int = 200, hidden: int = 10, epochs: int = 100, lr: float = 0.05, seed: int = 0) -> dict:
    X, y = disc_points(n, seed)
    rng = np.random.default_rng(seed + 1)
    params = {
        "Wi": rng.normal(size=(2, hidden)),
        "bi": rng.normal(size=hidden),
        "Wo": rng.normal(size=hidden) / np.sqrt(hidden),
        "bo": np.zeros(1),
    }
    data = {"X": X, "y": y}
    initial = float(relu_logistic.loss(params, data)) / n
    for _ in range(epochs):
        for i in rng.permutation(n):
            g = relu_logistic.grad_kron(params, {"X": X[i : i + 1], "y": y[i : i + 1]})
            params = {k: params[k] - lr * g[k] for k in params}
    accuracy = float(np.mean(relu_logistic.predict(params, X) == y))
    return {"n": n, "epochs": epochs, "initial_loss": initial,
            "final_loss": float(relu_logistic.loss(params, data)) / n, "train_accuracy": accuracy}


def main() -> None:
    r = run()
    print(f"disc vs. outside, {r['n']} 2-D points, 2-10-1 ReLU net, logistic loss, SGD, {r['epochs']} epochs")
    print(f"  mean logistic loss {r['initial_loss']:.4f} -> {r['final_loss']:.4f}")
    print(f"  training accuracy  {r['train_accuracy']:.3f}")


if __name__ == "__main__":
    main()
