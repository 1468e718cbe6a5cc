"""Second-order checks: accuracy of the numerical Hessians, cost, and what they catch.

    python benchmarks/second_order.py [--seeds 5]

On least squares, logistic regression, softmax cross-entropy and a small sigmoid MLP, in
float64, with the gradient given (Hessian = Jacobian of the gradient) and without it (second
differences of the loss):

1. accuracy of the estimates against closed-form Hessians (for the MLP: complex step on the
   hand gradient, checked first, exact to rounding), relative to each row's scale;
2. loss/gradient evaluations per Hessian entry;
3. false alarms (a correct Hessian called a mismatch) and inconclusive verdicts (an entry the
   reference cannot resolve to 1e-4 of its row's scale), and the detection floor: the smallest
   relative error flagged (status "mismatch") at every seed when the whole matrix is scaled by
   (1 + d), and when one entry (the largest of a drawn row) is;
4. numdifftools' Hessian and torch.autograd.gradgradcheck where installed.

The goal: one-entry errors of relative 1e-5 flagged with 0 false alarms.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gradcheck import check_grad
from gradcheck.checks.second import check_hessian
from reference_nets import second_order as so

DELTAS = (1e-3, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6, 1e-7, 1e-8)


class Workload:
    """loss, grad and exact Hessian (flat, over vec of the parameters) at one point."""

    def __init__(
        self,
        name: str,
        loss: Callable,
        grad: Callable,
        exact: np.ndarray,
        params: Any,
        to_claim: Callable[[np.ndarray], Any],
    ) -> None:
        self.name, self.loss, self.grad, self.exact, self.params, self.to_claim = (
            name,
            loss,
            grad,
            exact,
            params,
            to_claim,
        )


def _single(H: np.ndarray, x: np.ndarray) -> Any:
    return H.reshape(x.shape * 2)


def least_squares(seed: int) -> Workload:
    rng = np.random.default_rng(seed)
    A, b, x = rng.normal(size=(10, 6)), rng.normal(size=(10, 1)), rng.normal(size=(6, 1))
    return Workload(
        "least squares",
        lambda v: so.ls_loss(v, A, b),
        lambda v: so.ls_grad(v, A, b),
        so.ls_hessian(x, A, b).reshape(6, 6),
        x,
        lambda H: _single(H, x),
    )


def logistic(seed: int) -> Workload:
    rng = np.random.default_rng(seed)
    X, y, w = rng.normal(size=(20, 4)), rng.choice([-1.0, 1.0], 20), rng.normal(size=4)
    return Workload(
        "logistic",
        lambda v: float(so.logistic_loss(v, X, y)),
        lambda v: so.logistic_grad(v, X, y),
        so.logistic_hessian(w, X, y),
        w,
        lambda H: H,
    )


def softmax_ce(seed: int) -> Workload:
    rng = np.random.default_rng(seed)
    z, label = rng.normal(size=6) * 2, int(rng.integers(6))
    return Workload(
        "softmax CE",
        lambda v: float(so.softmax_ce_loss(v, label)),
        lambda v: so.softmax_ce_grad(v, label),
        so.softmax_ce_hessian(z, label),
        z,
        lambda H: H,
    )


class _MLP:
    """Two sigmoid layers, column samples: c = ||sigma(W2 sigma(W1 X + b1)) - Y||^2 / 2."""

    shapes: ClassVar[dict[str, tuple[int, int]]] = {"W1": (4, 3), "b1": (4, 1), "W2": (2, 4)}

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.X, self.Y = rng.normal(size=(3, 5)), rng.uniform(0, 1, (2, 5))
        self.params = {k: rng.normal(size=s) for k, s in self.shapes.items()}
        self.sizes = [int(np.prod(s)) for s in self.shapes.values()]

    def loss(self, p: dict) -> float:
        a1 = 1 / (1 + np.exp(-(p["W1"] @ self.X + p["b1"])))
        a2 = 1 / (1 + np.exp(-(p["W2"] @ a1)))
        return float(np.sum((a2 - self.Y) ** 2) / 2)

    def grad(self, p: dict) -> dict:  # complex-safe: the exact Hessian is its complex step
        a1 = 1 / (1 + np.exp(-(p["W1"] @ self.X + p["b1"])))
        a2 = 1 / (1 + np.exp(-(p["W2"] @ a1)))
        d2 = (a2 - self.Y) * a2 * (1 - a2)
        d1 = (p["W2"].T @ d2) * a1 * (1 - a1)
        return {"W1": d1 @ self.X.T, "b1": d1.sum(axis=1, keepdims=True), "W2": d2 @ a1.T}

    def flat(self, p: dict) -> np.ndarray:
        return np.concatenate([np.ravel(p[k]) for k in self.shapes])

    def unflat(self, z: np.ndarray) -> dict:
        out, o = {}, 0
        for k, s in self.shapes.items():
            n = int(np.prod(s))
            out[k] = z[o : o + n].reshape(s)
            o += n
        return out

    def exact(self) -> np.ndarray:
        z0 = self.flat(self.params).astype(complex)
        n, h = z0.size, 1e-30
        H = np.empty((n, n))
        for j in range(n):
            z = z0.copy()
            z[j] += 1j * h
            H[:, j] = np.imag(self.flat(self.grad(self.unflat(z)))) / h
        return H

    def blocks(self, H: np.ndarray) -> dict:
        offs = np.concatenate([[0], np.cumsum(self.sizes)])
        names = list(self.shapes)
        return {
            (a, b): H[offs[i] : offs[i + 1], offs[j] : offs[j + 1]].reshape(self.shapes[a] + self.shapes[b])
            for i, a in enumerate(names)
            for j, b in enumerate(names)
        }


def mlp(seed: int) -> Workload:
    net = _MLP(seed)
    assert check_grad(net.loss, net.grad, net.params).ok, "the MLP's hand gradient must hold first"
    return Workload("sigmoid MLP", net.loss, net.grad, net.exact(), net.params, net.blocks)


WORKLOADS = (least_squares, logistic, softmax_ce, mlp)


def _numeric(result: Any, w: Workload) -> np.ndarray:
    """The numerical matrix of a result's blocks, reassembled as (N, N) over vec(params)."""
    sizes = {k: v.size for k, v in w.params.items()} if isinstance(w.params, dict) else {"params": w.params.size}
    return np.block([[result.blocks[(a, b)].numeric.reshape(sizes[a], sizes[b]) for b in sizes] for a in sizes])


def _check(w: Workload, H: np.ndarray, with_grad: bool) -> Any:
    return check_hessian(w.loss, lambda p: w.to_claim(H), w.params, grad=w.grad if with_grad else None)


def accuracy_and_cost(seeds: int) -> None:
    print("1-2. accuracy of the numerical Hessian (|numeric - exact| / row scale) and cost")
    print(
        f"{'workload':<15}{'reference':<12}{'N':>4}{'median rel':>12}{'max rel':>11}{'evals/entry':>13}"
        f"{'false alarms':>14}{'inconclusive':>14}"
    )
    for make in WORKLOADS:
        for with_grad in (True, False):
            errs, evals, alarms, unsure, n = [], [], 0, 0, 0
            for seed in range(seeds):
                w = make(seed)
                n = w.exact.shape[0]
                r = _check(w, w.exact, with_grad)
                alarms += r.status == "mismatch"
                unsure += r.status == "inconclusive"
                num = _numeric(r, w)
                scale = np.abs(w.exact).max(axis=1, keepdims=True)
                errs.append((np.abs(num - w.exact) / scale).ravel())
                evals.append(r.n_evaluations / n**2)
            e = np.concatenate(errs)
            print(
                f"{w.name:<15}{'grad' if with_grad else 'loss only':<12}{n:>4}{np.median(e):>12.2g}{e.max():>11.2g}"
                f"{np.mean(evals):>13.1f}{f'{alarms}/{seeds}':>14}{f'{unsure}/{seeds}':>14}"
            )


def detection_floor(seeds: int) -> None:
    print("\n3. detection floor: smallest relative error flagged at every seed (and the rate at 1e-5)")
    print(f"{'workload':<15}{'reference':<12}{'whole matrix':>14}{'one entry':>11}{'one entry @1e-5':>17}")
    for make in WORKLOADS:
        for with_grad in (True, False):
            whole, entry, at_target, trials = {}, {}, 0, 0
            for seed in range(seeds):
                w = make(seed)
                rng = np.random.default_rng(1000 + seed)
                n = w.exact.shape[0]
                rows = rng.choice(n, size=min(3, n), replace=False)
                for d in DELTAS:
                    whole.setdefault(d, True)
                    whole[d] &= _check(w, w.exact * (1 + d), with_grad).status == "mismatch"
                    for i in rows:
                        j = int(np.argmax(np.abs(w.exact[i])))
                        bad = w.exact.copy()
                        bad[i, j] *= 1 + d
                        flagged = _check(w, bad, with_grad).status == "mismatch"
                        entry.setdefault(d, True)
                        entry[d] &= flagged
                        if d == 1e-5:
                            at_target += flagged
                            trials += 1
            floor_w = min((d for d in DELTAS if whole[d]), default=float("nan"))
            floor_e = min((d for d in DELTAS if entry[d]), default=float("nan"))
            print(
                f"{w.name:<15}{'grad' if with_grad else 'loss only':<12}{floor_w:>14.0e}{floor_e:>11.0e}"
                f"{f'{at_target}/{trials}':>17}"
            )


def others(seeds: int) -> None:
    print("\n4. other tools on the same workloads")
    try:
        import numdifftools as nd
    except ImportError:
        print("numdifftools: not installed")
    else:
        print(f"{'workload':<15}{'numdifftools Hessian: max rel':>31}{'evals/entry':>13}{'seconds':>9}")
        for make in WORKLOADS:
            errs, evals, secs = [], [], 0.0
            for seed in range(seeds):
                w = make(seed)
                z0 = (
                    np.concatenate([np.ravel(v) for v in w.params.values()])
                    if isinstance(w.params, dict)
                    else np.ravel(w.params)
                )
                count = [0]

                def f(z: np.ndarray, w: Workload = w, count: list = count) -> float:
                    count[0] += 1
                    if isinstance(w.params, dict):
                        p, o = {}, 0
                        for k, v in w.params.items():
                            p[k] = z[o : o + v.size].reshape(v.shape)
                            o += v.size
                        return w.loss(p)
                    return w.loss(z.reshape(np.shape(w.params)))

                t = time.perf_counter()
                H = nd.Hessian(f)(z0)
                secs += time.perf_counter() - t
                errs.append(np.max(np.abs(H - w.exact) / np.abs(w.exact).max(axis=1, keepdims=True)))
                evals.append(count[0] / z0.size**2)
            print(f"{w.name:<15}{max(errs):>31.2g}{np.mean(evals):>13.1f}{secs / seeds:>9.3f}")
        print("  (numdifftools estimates; it does not judge a claimed Hessian, so it has no verdict to score)")
    try:
        import torch
    except ImportError:
        print("torch.autograd.gradgradcheck: not installed")
    else:
        net = _MLP(0)
        X, Y = torch.tensor(net.X), torch.tensor(net.Y)
        params = [torch.tensor(net.params[k], requires_grad=True) for k in net.shapes]

        def loss(W1: Any, b1: Any, W2: Any) -> Any:
            return ((torch.sigmoid(W2 @ torch.sigmoid(W1 @ X + b1)) - Y) ** 2).sum() / 2

        t = time.perf_counter()
        ok = torch.autograd.gradgradcheck(loss, params)
        print(
            f"torch.autograd.gradgradcheck on the MLP: {ok} in {time.perf_counter() - t:.3f} s "
            f"(checks autograd's own double backward; a hand Hessian needs a custom Function to be checked)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    t = time.perf_counter()
    accuracy_and_cost(args.seeds)
    detection_floor(args.seeds)
    others(args.seeds)
    print(f"\n{time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
