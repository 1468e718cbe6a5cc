"""001: solve the 4x4 system A x = b by gradient descent on ||Ax - b||^2 (lr 0.01, 5000 steps).

001 reports that A x after descent prints as b = [9, 4, 24, -12]; the exact solution is
(w, x, y, z) = (1, 2, 3, 4). The step 0.01 is stable because 2 * 0.01 * lambda_max(A^T A)
= 0.98 < 2; the slowest mode contracts by 1 - 0.02 * lambda_min = 0.9944 per step.
"""

from __future__ import annotations

import numpy as np

from reference_nets.least_squares import DOC_A, DOC_b, grad_x, loss_x


def run(steps: int = 5000, lr: float = 0.01, seed: int = 0) -> dict:
    data = {"A": DOC_A, "b": DOC_b}
    x = np.random.default_rng(seed).random((4, 1))  # 001 starts from np.random.rand(4, 1)
    for _ in range(steps):
        x = x - lr * grad_x({"x": x}, data)["x"]
    exact = np.linalg.solve(DOC_A, DOC_b)
    return {
        "steps": steps,
        "x_gd": x.ravel(),
        "x_solve": exact.ravel(),
        "max_abs_diff": float(np.max(np.abs(x - exact))),
        "Ax": (DOC_A @ x).ravel(),
        "final_loss": float(loss_x({"x": x}, data)),
    }


def main() -> None:
    r = run()
    np.set_printoptions(precision=10, suppress=True)
    print(f"gradient descent, lr 0.01, {r['steps']} steps")
    print("x (descent)      :", r["x_gd"])
    print("x (linalg.solve) :", r["x_solve"])
    print(f"max |difference| : {r['max_abs_diff']:.3e}")
    print("A x              :", r["Ax"], " (001 reports [9, 4, 24, -12])")
    print(f"||Ax - b||^2     : {r['final_loss']:.3e}")


if __name__ == "__main__":
    main()
