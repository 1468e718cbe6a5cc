"""004: the ReLU/softmax net trained on a 2-D spiral. 004's text gives no figure (it points
to a notebook), so the training accuracy printed here is our own result.

The spiral is generated here: K arms of N points, radius growing linearly, angle
advancing 4 radians per arm with Gaussian jitter. Full-batch gradient descent on the
mean cross-entropy, with 004's hand-derived gradients (no regularisation, as in 004).
"""

from __future__ import annotations

import numpy as np

from reference_nets import relu_softmax


def spiral(points_per_class: int = 100, classes: int = 3, noise: float = 0.2, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    xs, labels = [], []
    for k in range(classes):
        r = np.linspace(0.0, 1.0, points_per_class)
        t = np.linspace(4.0 * k, 4.0 * (k + 1), points_per_class) + noise * rng.normal(size=points_per_class)
        xs.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
        labels.append(np.full(points_per_class, k))
    return np.vstack(xs), np.concatenate(labels)


def run(
    points_per_class: int = 100, classes: int = 3, hidden: int = 100, steps: int = 5000, lr: float = 1.0, seed: int = 0
) -> dict:
    x, labels = spiral(points_per_class, classes, seed=seed)
    rng = np.random.default_rng(seed + 1)
    params = {
        "W1": 0.01 * rng.normal(size=(2, hidden)),
        "b1": np.zeros((1, hidden)),
        "W2": 0.01 * rng.normal(size=(hidden, classes)),
        "b2": np.zeros((1, classes)),
    }
    data = {"x": x, "onehot": np.eye(classes)[labels]}
    initial = float(relu_softmax.loss(params, data))
    for _ in range(steps):
        g = relu_softmax.grad(params, data)
        params = {k: params[k] - lr * g[k] for k in params}
    accuracy = float(np.mean(relu_softmax.predict(params, x) == labels))
    return {"steps": steps, "initial_loss": initial, "final_loss": float(relu_softmax.loss(params, data)),
            "train_accuracy": accuracy, "n": x.shape[0]}


def main() -> None:
    r = run()
    print(f"spiral, {r['n']} points, 2-100-3 ReLU/softmax net, GD lr 1.0, {r['steps']} steps")
    print(f"  mean cross-entropy {r['initial_loss']:.4f} -> {r['final_loss']:.4f}")
    print(f"  training accuracy  {r['train_accuracy']:.3f}")


if __name__ == "__main__":
    main()
