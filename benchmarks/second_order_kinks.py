"""Second differences near kinks: correct piecewise Hessians and slips, without ``grad=``.

    python benchmarks/second_order_kinks.py [--seeds 3]

Four small losses whose second derivative is piecewise, each with two (2, 2) parameters so
that the cross block ``(W1, W2)`` is square and not symmetric (a transposed block shows):

* ``relu_se``:   0.5 ||relu(X W1) W2 - Y||^2, a ReLU layer under squared error (the gradient jumps);
* ``relu_ce``:   softmax cross-entropy of relu(X W1) W2 (the gradient jumps);
* ``relu_sq``:   0.5 sum relu(X1 W1 + X2 W2)^2 (C1: the second derivative jumps 1 -> 0);
* ``huber``:     sum huber_1(X1 W1 + X2 W2 - Y) (C1: the second derivative jumps 1 -> 0 at |r| = 1).

One pre-activation (or residual) is put at relative distance 1e-4 ... 1e-8 from its kink, and
exactly on it (inputs on a 2^-8 grid, so the kink is hit to the bit); its side alternates with
the seed. The claimed Hessian is exact on the side where the point is (on the kink: the side
``relu'(0) = 0``, ``|r| <= delta``): the gradient with its masks frozen, differentiated by the
complex step. ``check_hessian`` and ``check_hvp`` are run without ``grad=`` (second
differences of the loss) and with it. Counts: for the correct claims pass / inconclusive /
kink-reported (not a mismatch, some entry a kink) / FAIL; for the slips (one entry off by 1e-3
relative, the cross block transposed, the whole matrix doubled) how many are caught.

Measured (3 seeds, 72 correct claims per check; pass / inconclusive / kink / FAIL):

    loss only, before:  check_hessian 0 / 34 / 1 / 37   check_hvp 0 / 45 / 3 / 24
                        slips caught: one entry 1e-3 69/72, transposed block 72/72, factor 2 72/72
    loss only, after:   check_hessian 0 / 3 / 69 / 0    check_hvp 0 / 2 / 70 / 0
                        slips caught: one entry 1e-3 61/72, transposed block 72/72, factor 2 72/72
    grad= (unchanged):  check_hessian 47 / 5 / 20 / 0   check_hvp 48 / 3 / 21 / 0
                        slips caught: one entry 1e-3 70/72, transposed block 72/72, factor 2 72/72

Before, every FAIL was invented (a transposed layout, "1 entry wrong", "only the part for 'W2'"):
straddled at every level, the stencil agrees on the mean of the two sides. After, the one-entry
slips missed are those on an entry whose stencil straddles the kink (a kink, not judged).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gradcheck.checks.second import check_hessian, check_hvp  # noqa: E402

DISTANCES = (1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 0.0)
MODELS = ("relu_se", "relu_ce", "relu_sq", "huber")
NAMES = ("W1", "W2")
GRID = 2.0**-8  # inputs on a dyadic grid: products and sums of a few of them are exact, so a kink is hit exactly


def _q(a: np.ndarray) -> np.ndarray:
    return np.round(a / GRID) * GRID


def _flat(p: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([np.asarray(p[n]).ravel() for n in NAMES])


def _unflat(x: np.ndarray) -> dict[str, np.ndarray]:
    return {"W1": x[:4].reshape(2, 2), "W2": x[4:].reshape(2, 2)}


class Case:
    """One loss at one point: ``loss(params)``, ``grad(params)`` (the true piecewise gradient)
    and the exact Hessian on the point's side (8 x 8 over vec(W1), vec(W2))."""

    def __init__(self, model: str, seed: int, distance: float) -> None:
        self.model, self.seed, self.distance = model, seed, distance
        rng = np.random.default_rng(1000 * MODELS.index(model) + seed)
        side = 1.0 if seed % 2 == 0 else -1.0
        n = 5
        self.X1, self.X2 = _q(rng.normal(size=(n, 2))), _q(rng.normal(size=(n, 2)))
        self.Y = _q(rng.normal(size=(n, 2)))
        W1, W2 = _q(rng.normal(size=(2, 2))), _q(rng.normal(size=(2, 2)))
        W1[1, 0] = 1.0  # z[0, 0] = X[0, 0] W1[0, 0] + X[0, 1]: set through X[0, 1], exactly
        self.labels = rng.integers(0, 2, size=n)
        if model == "huber":
            # r[0, 0] = 1 + side * distance (|r| = 1 is the kink), through Y: P - Y is then exact
            p00 = self.X1[0] @ W1[:, 0] + self.X2[0] @ W2[:, 0]
            self.Y[0, 0] = p00 - (1.0 + side * distance)
        else:
            other = self.X2[0] @ W2[:, 0] if model == "relu_sq" else 0.0
            self.X1[0, 1] = side * distance - self.X1[0, 0] * W1[0, 0] - other
        self.params = {"W1": W1, "W2": W2}
        self.frozen = self._masks(self.params)
        self.exact = self._hessian()

    # -- the pieces -------------------------------------------------------------------------
    def _z(self, p: dict[str, Any]) -> Any:
        if self.model in ("relu_se", "relu_ce"):
            return self.X1 @ p["W1"]
        return self.X1 @ p["W1"] + self.X2 @ p["W2"] - (self.Y if self.model == "huber" else 0.0)

    def _masks(self, p: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        z = np.real(self._z(p))
        if self.model == "huber":
            return (np.abs(z) <= 1.0).astype(float), np.sign(z)
        return (z > 0).astype(float), np.sign(z)

    def loss(self, p: dict[str, np.ndarray]) -> float:
        z = self._z(p)
        if self.model == "huber":
            a = np.abs(z)
            return float(np.sum(np.where(a <= 1.0, 0.5 * z * z, a - 0.5)))
        if self.model == "relu_sq":
            return float(0.5 * np.sum(np.maximum(z, 0.0) ** 2))
        logits = np.maximum(z, 0.0) @ p["W2"]
        if self.model == "relu_se":
            return float(0.5 * np.sum((logits - self.Y) ** 2))
        m = logits.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
        return float(np.mean(lse - logits[np.arange(len(self.labels)), self.labels]))

    def _grad_with(self, p: dict[str, Any], masks: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
        """The gradient on the branch the masks select (complex-safe, for the complex step)."""
        m, s = masks
        z = self._z(p)
        if self.model == "huber":
            dz = m * z + (1 - m) * s
            return {"W1": self.X1.T @ dz, "W2": self.X2.T @ dz}
        if self.model == "relu_sq":
            dz = m * z
            return {"W1": self.X1.T @ dz, "W2": self.X2.T @ dz}
        a = m * z
        out = a @ p["W2"]
        if self.model == "relu_se":
            dout = out - self.Y
        else:
            e = np.exp(out - np.real(out).max(axis=1, keepdims=True))
            dout = e / e.sum(axis=1, keepdims=True)
            dout[np.arange(len(self.labels)), self.labels] -= 1.0
            dout = dout / len(self.labels)
        return {"W1": self.X1.T @ (m * (dout @ p["W2"].T)), "W2": a.T @ dout}

    def grad(self, p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._grad_with(p, self._masks(p))

    def _hessian(self) -> np.ndarray:
        x0 = _flat(self.params)
        h = 1e-30  # the complex step: exact to rounding whatever h, as long as h^2 |g'''| underflows
        cols = []
        for j in range(x0.size):
            x = x0.astype(complex)
            x[j] += 1j * h
            cols.append(np.imag(_flat(self._grad_with(_unflat(x), self.frozen))) / h)
        H = np.array(cols).T
        return (H + H.T) / 2  # exact up to rounding; symmetrized so that only the slips are asymmetric

    # -- claims -----------------------------------------------------------------------------
    def claim(self, H: np.ndarray) -> Callable[[Any], dict[tuple[str, str], np.ndarray]]:
        sl = {"W1": slice(0, 4), "W2": slice(4, 8)}
        blocks = {(a, b): H[sl[a], sl[b]].reshape(2, 2, 2, 2).copy() for a in NAMES for b in NAMES}
        return lambda p: blocks

    def hvp(self, H: np.ndarray) -> Callable[[Any, Any], dict[str, np.ndarray]]:
        return lambda p, v: _unflat(H @ _flat(v))

    def slips(self) -> dict[str, np.ndarray]:
        H = self.exact
        one = H.copy()
        i, j = np.unravel_index(int(np.argmax(np.abs(H))), H.shape)
        one[i, j] *= 1 + 1e-3
        t = H.copy()
        t[0:4, 4:8] = H[0:4, 4:8].T
        return {"one entry 1e-3": one, "transposed block": t, "factor 2": 2 * H}


def verdict(r: Any) -> str:
    """pass / inconclusive / kink (reported, not a mismatch) / FAIL."""
    if r.status == "mismatch":
        return "FAIL"
    kinks = sum(b.n_kinks for b in r.blocks.values()) if hasattr(r, "blocks") else sum(v.n_kinks for v in r.vectors)
    if kinks:
        return "kink"
    return "pass" if r.ok else "inconclusive"


def cases(seeds: int) -> list[Case]:
    return [Case(m, s, d) for m in MODELS for d in DISTANCES for s in range(seeds)]


def run(seeds: int, with_grad: bool, verbose: bool) -> dict[str, Any]:
    counts = {k: {"pass": 0, "inconclusive": 0, "kink": 0, "FAIL": 0} for k in ("hessian", "hvp")}
    caught: dict[str, list[int]] = {}
    fails = []
    for c in cases(seeds):
        g = c.grad if with_grad else None
        rh = check_hessian(c.loss, c.claim(c.exact), c.params, grad=g)
        rv = check_hvp(c.loss, c.hvp(c.exact), c.params, grad=g)
        for kind, r in (("hessian", rh), ("hvp", rv)):
            v = verdict(r)
            counts[kind][v] += 1
            if v == "FAIL":
                fails.append((kind, c.model, c.seed, c.distance, r))
        for name, H in c.slips().items():
            r = check_hessian(c.loss, c.claim(H), c.params, grad=g)
            hit = caught.setdefault(name, [0, 0])
            hit[0] += r.status == "mismatch"
            hit[1] += 1
    if verbose:
        for kind, m, s, d, r in fails:
            print(f"--- FAIL {kind} {m} seed={s} distance={d:g}\n{r}\n")
    return {"counts": counts, "caught": caught, "n": len(cases(seeds))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--verbose", action="store_true", help="print every false FAIL")
    ap.add_argument("--reference", choices=("both", "loss", "grad"), default="both")
    args = ap.parse_args()
    for with_grad in {"both": (False, True), "loss": (False,), "grad": (True,)}[args.reference]:
        t0 = time.perf_counter()
        out = run(args.seeds, with_grad, args.verbose)
        ref = "grad=" if with_grad else "loss only"
        print(f"{ref}: {out['n']} correct claims ({len(MODELS)} losses x {len(DISTANCES)} distances x "
              f"{args.seeds} seeds), {time.perf_counter() - t0:.0f} s")
        for kind, cnt in out["counts"].items():
            print(f"  check_{kind:<8} " + "  ".join(f"{k} {v:>3}" for k, v in cnt.items()))
        print("  slips caught by check_hessian: "
              + ", ".join(f"{k} {a}/{b}" for k, (a, b) in out["caught"].items()))


if __name__ == "__main__":
    main()
