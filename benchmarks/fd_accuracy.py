"""Accuracy and cost of each finite-difference scheme, and verdict quality against fixed-tolerance rules.

Run:  python benchmarks/fd_accuracy.py [--seeds N]

Part 1: for each scheme on a least-squares loss and a small tanh/softmax MLP, the
median and maximum relative error of the numerical gradient against the exact one
(relative per entry: |numeric - exact| / max(|exact|, 1e-8 * max|exact|)), and the
number of loss evaluations, over N seeds.

Part 2: how often each verdict rule flags correct gradients (false alarms) and
relative-1e-6 mistakes (catches) over hard correct cases.

Part 3: the default verdict on ReLU nets with exact kinks and weights down to 1e-5,
where the default stencil straddles kinks. The fixed rules are
emulations of common defaults (central difference at a fixed step judged by a fixed
rtol/atol), not the other libraries themselves, which are not installed here.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import gradcheck as gc
from gradcheck.ops import numpy_ops as xp

Loss = Callable[[Any], float]


# --------------------------------------------------------------------------- problems
def least_squares(seed: int) -> tuple[Loss, Callable[[Any], Any], Any]:
    rng = np.random.default_rng(seed)
    A, b = rng.normal(size=(20, 10)), rng.normal(size=(20, 1))
    return (lambda x: np.sum((A @ x - b) ** 2)), (lambda x: 2 * A.T @ (A @ x - b)), rng.normal(size=(10, 1))


def mlp(seed: int) -> tuple[Loss, Callable[[Any], Any], Any]:
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(16, 5)), np.eye(3)[rng.integers(0, 3, 16)]

    def loss(p: dict[str, np.ndarray]) -> float:
        z = np.tanh(X @ p["W1"] + p["b1"]) @ p["W2"]
        return np.mean(np.sum(-Y * xp.log_softmax(z), axis=1))

    def grad(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        h = np.tanh(X @ p["W1"] + p["b1"])
        dz = (xp.softmax(h @ p["W2"]) - Y) / len(X)
        dh = dz @ p["W2"].T * (1 - h**2)
        return {"W1": X.T @ dh, "b1": dh.sum(0), "W2": h.T @ dz}

    params = {"W1": rng.normal(size=(5, 8)), "b1": rng.normal(size=8), "W2": rng.normal(size=(8, 3))}
    return loss, grad, params


def flat(g: Any) -> np.ndarray:
    return np.concatenate([np.ravel(v) for v in g.values()]) if isinstance(g, dict) else np.ravel(g)


def accuracy(seeds: int) -> None:
    print("Part 1: numerical gradient vs exact (float64)")
    print(f"{'problem':<14}{'scheme':<12}{'median rel err':>16}{'max rel err':>14}{'evals/entry':>13}{'evals':>8}")
    for pname, make in (("least_squares", least_squares), ("mlp", mlp)):
        for method in ("forward", "central", "richardson", "complex"):
            errs, evals, n = [], 0, 0
            for s in range(seeds):
                loss, grad, params = make(s)
                est = gc.numerical_grad(loss, params, method=method)
                exact, num = flat(grad(params)), flat(est.value)
                floor = 1e-8 * np.abs(exact).max()
                errs.append(np.abs(num - exact) / np.maximum(np.abs(exact), floor))
                evals += est.n_evaluations
                n += exact.size
            e = np.concatenate(errs)
            print(f"{pname:<14}{method:<12}{np.median(e):>16.2e}{e.max():>14.2e}{evals / n:>13.2f}{evals // seeds:>8}")


# --------------------------------------------------------------------------- verdict rules
def fixed_rule(step: float, rtol: float, atol: float) -> Callable[[Loss, Callable[[Any], Any], Any], bool]:
    """Central difference at a fixed absolute step, judged by allclose(analytic, numeric, rtol, atol)."""

    def flagged(loss: Loss, grad: Callable[[Any], Any], params: Any) -> bool:
        items = params.items() if isinstance(params, dict) else [("x", params)]
        g = grad(params)
        for name, v in items:
            ga = g[name] if isinstance(params, dict) else g
            num = np.zeros(v.shape)
            for i in range(v.size):
                pp = {k: a.copy() for k, a in items}
                pm = {k: a.copy() for k, a in items}
                pp[name].flat[i] += step
                pm[name].flat[i] -= step
                fp = loss(pp if isinstance(params, dict) else pp["x"])
                fm = loss(pm if isinstance(params, dict) else pm["x"])
                num.flat[i] = (fp - fm) / (2 * step)
            if not np.allclose(ga, num, rtol=rtol, atol=atol):
                return True
        return False

    return flagged


def gradcheck_rule(loss: Loss, grad: Callable[[Any], Any], params: Any) -> str:
    """The default verdict: "FAIL" (a flag), "pass", or "inconclusive" (neither a flag nor a pass)."""
    return gc.check_grad(loss, grad, params).verdict


def hard_cases(seed: int) -> list[tuple[str, Loss, Callable[[Any], Any], Any]]:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(8, 5))
    b = rng.normal(size=8)
    cases = []
    x = rng.normal(size=5) * np.array([1e-6, 1e6, 1.0, 1e-6, 1e6])
    cases.append(("badly scaled", lambda v: np.sum((A @ v - b) ** 2), lambda v: 2 * A.T @ (A @ v - b), x))
    w = rng.normal(size=5)
    cases.append(("loss ~1e8", lambda v: 1e8 * np.sum(np.sin(v) * w), lambda v: 1e8 * np.cos(v) * w,
                  rng.normal(size=5)))
    Xs, y = rng.normal(size=(10, 5)), rng.uniform(size=10)

    def sig_loss(v: np.ndarray) -> float:
        return np.sum((xp.sigmoid(Xs @ v) - y) ** 2)

    def sig_grad(v: np.ndarray) -> np.ndarray:
        s = xp.sigmoid(Xs @ v)
        return Xs.T @ (2 * (s - y) * s * (1 - s))

    cases.append(("saturated sigmoid", sig_loss, sig_grad, rng.normal(size=5) * 12))
    Xr = rng.normal(size=(12, 5))
    v0 = rng.normal(size=6)

    def relu_loss(W: np.ndarray) -> float:
        return np.sum((xp.relu(Xr @ W) @ v0) ** 2)

    def relu_grad(W: np.ndarray) -> np.ndarray:
        Z = Xr @ W
        out = np.maximum(Z, 0) @ v0
        return Xr.T @ (2 * out[:, None] * v0[None, :] * (Z > 0))

    cases.append(("relu near kinks", relu_loss, relu_grad, rng.normal(size=(5, 6)) * 1e-5))
    cases.append(("plain least squares", lambda v: np.sum((A @ v - b) ** 2), lambda v: 2 * A.T @ (A @ v - b),
                  rng.normal(size=5)))
    return cases


def verdicts(seeds: int) -> None:
    rules = {
        "gradcheck default": gradcheck_rule,
        "fixed h=1e-6, rtol=1e-3, atol=1e-5": fixed_rule(1e-6, 1e-3, 1e-5),
        "fixed h=1e-5, rtol=1e-7, atol=0": fixed_rule(1e-5, 1e-7, 0.0),
    }
    print("\nPart 2: verdicts on hard correct cases and on the same gradients scaled by (1 + 1e-6)")
    print("(a flag is a FAIL; 'inconclusive' counts checks of the slipped gradient that neither flagged nor passed it)")
    print(f"{'rule':<38}{'false alarms':>14}{'caught 1e-6':>14}{'inconclusive':>14}{'seconds':>9}")
    for name, rule in rules.items():
        t0 = time.perf_counter()
        fa = caught = unsure = total = 0
        per_case: dict[str, list[int]] = {}
        for s in range(seeds):
            for cname, loss, grad, params in hard_cases(s):
                total += 1
                bad = _verdict(rule(loss, grad, params)) == "FAIL"
                verdict = _verdict(rule(loss, lambda p, g=grad: g(p) * (1 + 1e-6), params))
                off, maybe = verdict == "FAIL", verdict == "inconclusive"
                fa += bad
                caught += off
                unsure += maybe
                per_case.setdefault(cname, [0, 0, 0])
                per_case[cname][0] += bad
                per_case[cname][1] += off
                per_case[cname][2] += maybe
        dt = time.perf_counter() - t0
        print(f"{name:<38}{f'{fa}/{total}':>14}{f'{caught}/{total}':>14}{f'{unsure}/{total}':>14}{dt:>9.2f}")
        for cname, (b, c, u) in per_case.items():
            print(f"    {cname:<34}{f'{b}/{seeds}':>14}{f'{c}/{seeds}':>14}{f'{u}/{seeds}':>14}")


def _verdict(flag: bool | str) -> str:
    """Fixed rules answer flagged or not; gradcheck's answers with its verdict."""
    if isinstance(flag, str):
        return flag
    return "FAIL" if flag else "pass"


def relu_sweep(seeds: int) -> None:
    """ReLU nets with units exactly on their kinks and weights from 1 down to 1e-5."""
    print("\nPart 3: ReLU nets, exact kinks and pre-activations inside the stencil")
    print(f"{'weight scale':<14}{'false alarms':>14}{'caught 1e-6':>14}{'mean evals':>12}{'kinks':>8}"
          f"{'median resolution':>19}")
    for scale in (1.0, 1e-2, 1e-3, 1e-5):
        fa = caught = evals = kinks = 0
        resolution = []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            X = rng.normal(size=(10, 3))
            X[0] = 0.0  # every unit of row 0 sits on its kink when b = 0 (a kink of zero jump: row 0's output is 0)
            p = {"W": rng.normal(size=(3, 5)) * scale, "b": rng.normal(size=5) * scale * (seed % 2),
                 "v": rng.normal(size=5)}
            if seed % 2:  # units 0 and 1 exactly on their kinks at sample 1, whose output is not 0: real jumps
                p["b"][:2] = -(X @ p["W"])[1, :2]

            def loss(q: dict[str, np.ndarray], X: np.ndarray = X) -> float:
                return np.sum((xp.relu(X @ q["W"] + q["b"]) @ q["v"]) ** 2)

            def grad(q: dict[str, np.ndarray], X: np.ndarray = X) -> dict[str, np.ndarray]:
                Z = X @ q["W"] + q["b"]
                H = np.maximum(Z, 0)
                dZ = 2 * (H @ q["v"])[:, None] * q["v"][None, :] * (Z > 0)
                return {"W": X.T @ dZ, "b": dZ.sum(0), "v": H.T @ (2 * (H @ q["v"]))}

            r = gc.check_grad(loss, grad, p)
            fa += r.failed
            evals += r.n_evaluations
            kinks += sum(q.n_kinks for q in r.params.values())
            resolution.append(max(q.resolution for q in r.params.values()))  # the check's weakest parameter
            caught += gc.check_grad(loss, lambda q, g=grad: {k: v * (1 + 1e-6) for k, v in g(q).items()}, p).failed
        print(f"{scale:<14g}{f'{fa}/{seeds}':>14}{f'{caught}/{seeds}':>14}{evals / seeds:>12.0f}{kinks:>8}"
              f"{np.median(resolution):>19.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="random instances per problem (default 10)")
    args = parser.parse_args()
    accuracy(args.seeds)
    verdicts(args.seeds)
    relu_sweep(max(args.seeds, 10) * 6)


if __name__ == "__main__":
    main()
