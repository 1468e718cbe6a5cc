"""How the directional check scales: wall time and smallest flagged error at 1e3 .. 1e6 parameters.

    python benchmarks/scale.py            # all sizes (about 10 minutes on a shared 2-core machine)
    python benchmarks/scale.py --quick    # 1e3 and 1e4 only, a coarse error grid (under a minute)

Three losses, written here with their hand-derived gradients:

* ``mlp``: a row-layout sigmoid MLP, X1 = s(X0 W1 + b1), X2 = s(X1 W2 + b2), X3 = X2 W3 + b3,
  E = 0.5 ||X3 - T||^2, batch 32, 10 outputs;
* ``relu``: h = relu(x W1 + b1), mean cross-entropy of softmax(h W2 + b2), batch 32, 10 classes,
  with 6 hidden units exactly on their kink (the first sample is 0 and their biases are 0);
* ``lsq``: 0.5 ||A x - b||^2 with A of 64 rows.

For each size: the time to pass a correct gradient, and the smallest relative error d flagged
(on the grid 1e-4, 1e-5, 1e-6, 5e-7, 2e-7, 1.2e-7: a named entry
must be off by more than 1e-7 of itself plus 10 error estimates) when (a) every entry is scaled by 1 + d,
(b) only the largest
entry is, (c) only one median entry is, the entry named; and the time to find and name a
relative 1e-6 error in one median entry. torch.autograd.gradcheck (slow and fast mode) and
jax.test_util.check_grads run on the same functions where installed.

BLAS runs one thread per process (set before numpy loads): on a machine shared by several
jobs, threaded complex matrix products were 10x slower than single-threaded ones.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gradcheck._directional import check_grad_directional


def _sigmoid(z: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-z))


class MLP:
    """Row-layout sigmoid MLP; d3 = X3 - T, d2 = (d3 W3^T) o X2 o (1 - X2), d1 = (d2 W2^T) o X1 o (1 - X1)."""

    def __init__(self, width: int, seed: int = 0, batch: int = 32, n_out: int = 10) -> None:
        rng = np.random.default_rng(seed)
        self.X = rng.normal(size=(batch, width))
        self.T = rng.normal(size=(batch, n_out))
        self.params = {
            "W1": rng.normal(size=(width, width)) / np.sqrt(width),
            "b1": 0.1 * rng.normal(size=(1, width)),
            "W2": rng.normal(size=(width, width)) / np.sqrt(width),
            "b2": 0.1 * rng.normal(size=(1, width)),
            "W3": rng.normal(size=(width, n_out)) / np.sqrt(width),
            "b3": 0.1 * rng.normal(size=(1, n_out)),
        }

    def forward(self, p: dict) -> tuple:
        x1 = _sigmoid(self.X @ p["W1"] + p["b1"])
        x2 = _sigmoid(x1 @ p["W2"] + p["b2"])
        return x1, x2, x2 @ p["W3"] + p["b3"]

    def loss(self, p: dict) -> Any:
        return 0.5 * np.sum((self.forward(p)[2] - self.T) ** 2)

    def grad(self, p: dict) -> dict:
        x1, x2, x3 = self.forward(p)
        d3 = x3 - self.T
        d2 = (d3 @ p["W3"].T) * x2 * (1 - x2)
        d1 = (d2 @ p["W2"].T) * x1 * (1 - x1)
        return {
            "W1": self.X.T @ d1,
            "b1": d1.sum(0, keepdims=True),
            "W2": x1.T @ d2,
            "b2": d2.sum(0, keepdims=True),
            "W3": x2.T @ d3,
            "b3": d3.sum(0, keepdims=True),
        }


class Relu:
    """dscore = (softmax - onehot) / n; dW2 = h^T dscore; dr = (dscore W2^T) o 1(r > 0); dW1 = x^T dr."""

    def __init__(self, hidden: int, seed: int = 0, batch: int = 32, classes: int = 10, on_kink: int = 6) -> None:
        rng = np.random.default_rng(seed)
        self.x = rng.normal(size=(batch, hidden))
        self.x[0] = 0.0
        self.onehot = np.eye(classes)[rng.integers(0, classes, size=batch)]
        b1 = 0.5 * rng.normal(size=(1, hidden))
        b1[0, :on_kink] = 0.0  # these units sit exactly on their kink for the first sample
        self.params = {
            "W1": rng.normal(size=(hidden, hidden)) / np.sqrt(hidden),
            "b1": b1,
            "W2": rng.normal(size=(hidden, classes)) / np.sqrt(hidden),
            "b2": np.zeros((1, classes)),
        }

    def loss(self, p: dict) -> Any:
        r = self.x @ p["W1"] + p["b1"]
        h = r * (np.real(r) > 0)  # the mask reads the real part, so complex step works
        s = h @ p["W2"] + p["b2"]
        s = s - np.max(np.real(s), axis=1, keepdims=True)
        logp = s - np.log(np.sum(np.exp(s), axis=1, keepdims=True))
        return -np.sum(self.onehot * logp) / self.x.shape[0]

    def grad(self, p: dict) -> dict:
        r = self.x @ p["W1"] + p["b1"]
        h = np.maximum(r, 0.0)
        s = h @ p["W2"] + p["b2"]
        e = np.exp(s - s.max(axis=1, keepdims=True))
        dscore = (e / e.sum(axis=1, keepdims=True) - self.onehot) / self.x.shape[0]
        dr = (dscore @ p["W2"].T) * (r > 0)
        return {
            "W1": self.x.T @ dr,
            "b1": dr.sum(0, keepdims=True),
            "W2": h.T @ dscore,
            "b2": dscore.sum(0, keepdims=True),
        }


class LeastSquares:
    """E = 0.5 ||A x - b||^2, dE/dx = A^T (A x - b)."""

    def __init__(self, n: int, seed: int = 0, rows: int = 64) -> None:
        rng = np.random.default_rng(seed)
        self.A = rng.normal(size=(rows, n)) / np.sqrt(n)
        self.b = rng.normal(size=rows)
        self.params = {"x": rng.normal(size=n)}

    def loss(self, p: dict) -> Any:
        return 0.5 * np.sum((self.A @ p["x"] - self.b) ** 2)

    def grad(self, p: dict) -> dict:
        return {"x": self.A.T @ (self.A @ p["x"] - self.b)}


SIZES = {  # entries: mlp 2w^2 + 12w + 10, relu h^2 + 11h + 10
    "mlp": {"1e3": 20, "1e4": 68, "1e5": 221, "1e6": 704},
    "relu": {"1e3": 27, "1e4": 95, "1e5": 311, "1e6": 995},
    "lsq": {"1e3": 1000, "1e4": 10000},
}
FACTORY: dict[str, Callable[[int], Any]] = {"mlp": MLP, "relu": Relu, "lsq": LeastSquares}


def _edit(grad: Callable, how: str, d: float, where: tuple[str, tuple[int, ...]] | None) -> Callable:
    def wrong(p: dict) -> dict:
        g = {k: v.copy() for k, v in grad(p).items()}
        if how == "all":
            return {k: v * (1 + d) for k, v in g.items()}
        name, idx = where  # type: ignore[misc]
        g[name][idx] *= 1 + d
        return g

    return wrong


def _pick(net: Any, how: str) -> tuple[str, tuple[int, ...]]:
    """The largest entry of all, or a median entry (by magnitude) of the largest parameter."""
    g = net.grad(net.params)
    if how == "largest":
        name = max(g, key=lambda k: np.abs(g[k]).max())
        flat = int(np.argmax(np.abs(g[name])))
    else:
        name = max(g, key=lambda k: g[k].size)
        flat = int(np.argsort(np.abs(g[name]).ravel(), kind="stable")[g[name].size // 2])
    return name, tuple(int(i) for i in np.unravel_index(flat, g[name].shape))


def _flagged(result: Any, where: tuple[str, tuple[int, ...]] | None) -> bool:
    if result.verdict != "FAIL":
        return False
    if where is None:
        return True
    name, idx = where
    return any(e.index == idx for e in result.mismatches.get(name, ()))


def smallest_flagged(net: Any, how: str, grid: list[float], method: str) -> tuple[str, float]:
    where = None if how == "all" else _pick(net, how)
    best = "none"
    spent = 0.0
    for d in grid:
        t = time.perf_counter()
        r = check_grad_directional(net.loss, _edit(net.grad, how, d, where), net.params, method=method, progress=False)
        spent += time.perf_counter() - t
        if not _flagged(r, where):
            break
        best = f"{d:.2g}"
    label = "" if where is None else f" {where[0]}{list(where[1])}"
    return best + label, spent


def foreign(kind: str, net: Any) -> str:
    """torch/jax gradient checks of the same loss (their own autodiff against their differences)."""
    out = []
    try:
        import torch  # noqa: F401
    except ImportError:
        out.append("torch not installed")
    else:
        out.append(_torch(net))
    try:
        import jax  # noqa: F401
    except ImportError:
        out.append("jax not installed")
    else:
        out.append(_jax(net))
    return "; ".join(out)


def _torch(net: Any) -> str:
    import torch

    names = list(net.params)
    tensors = [torch.tensor(net.params[n], dtype=torch.float64, requires_grad=True) for n in names]

    def loss(*ts: Any) -> Any:
        p = dict(zip(names, ts, strict=False))
        if isinstance(net, MLP):
            X, T = torch.tensor(net.X), torch.tensor(net.T)
            x1 = torch.sigmoid(X @ p["W1"] + p["b1"])
            x2 = torch.sigmoid(x1 @ p["W2"] + p["b2"])
            return 0.5 * ((x2 @ p["W3"] + p["b3"] - T) ** 2).sum()
        if isinstance(net, Relu):
            x, oh = torch.tensor(net.x), torch.tensor(net.onehot)
            s = torch.relu(x @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
            return -(oh * torch.log_softmax(s, dim=1)).sum() / x.shape[0]
        A, b = torch.tensor(net.A), torch.tensor(net.b)
        return 0.5 * ((A @ p["x"] - b) ** 2).sum()

    bits = []
    for fast in (False, True):
        n = sum(t.numel() for t in tensors)
        if not fast and n > 20000:
            bits.append("torch slow: skipped (N evaluations)")
            continue
        t = time.perf_counter()
        torch.autograd.gradcheck(loss, tuple(tensors), fast_mode=fast, raise_exception=False)
        bits.append(f"torch {'fast' if fast else 'slow'} {time.perf_counter() - t:.2f} s")
    return ", ".join(bits)


def _jax(net: Any) -> str:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax.test_util import check_grads

    def loss(p: dict) -> Any:
        if isinstance(net, MLP):
            x1 = jax.nn.sigmoid(net.X @ p["W1"] + p["b1"])
            x2 = jax.nn.sigmoid(x1 @ p["W2"] + p["b2"])
            return 0.5 * jnp.sum((x2 @ p["W3"] + p["b3"] - net.T) ** 2)
        if isinstance(net, Relu):
            s = jax.nn.relu(net.x @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
            return -jnp.sum(net.onehot * jax.nn.log_softmax(s, axis=1)) / net.x.shape[0]
        return 0.5 * jnp.sum((net.A @ p["x"] - net.b) ** 2)

    p = {k: jnp.asarray(v) for k, v in net.params.items()}
    t = time.perf_counter()
    try:
        check_grads(loss, (p,), order=1, modes=("rev",))
        verdict = "ok"
    except AssertionError:
        verdict = "flagged"
    return f"jax check_grads {time.perf_counter() - t:.2f} s ({verdict})"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1e3 and 1e4 only, coarse grid")
    ap.add_argument("--sizes", default=None, help="comma list of 1e3,1e4,1e5,1e6")
    ap.add_argument("--method", default="richardson", help="directional method (richardson, auto, ...)")
    ap.add_argument("--nets", default="mlp,relu,lsq")
    ap.add_argument("--no-header", action="store_true", help="rows only (to append to an earlier run)")
    ap.add_argument("--no-grid", action="store_true", help="skip the smallest-flagged searches (timings only)")
    args = ap.parse_args(argv)
    sizes = args.sizes.split(",") if args.sizes else (["1e3", "1e4"] if args.quick else ["1e3", "1e4", "1e5", "1e6"])
    # Entries are judged against 1e-7 of themselves plus 10 error estimates: 1e-7 itself is never flagged.
    grid = [1e-4, 1e-6, 2e-7] if args.quick else [1e-4, 1e-5, 1e-6, 5e-7, 2e-7, 1.2e-7]
    if not args.no_header:
        print(
            f"method={args.method}; error grid {', '.join(f'{d:.2g}' for d in grid)} (1e-4, 1e-6, 2e-7 at 1e6); "
            f"BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}"
        )
    head = (
        "| net | entries | correct: verdict, time, evals | resolution | every entry x(1+d) | largest entry | "
        "median entry | median 1e-6: time, named | torch / jax |"
    )
    if not args.no_header:
        print(head)
        print("|" + " --- |" * 9)
    for kind in args.nets.split(","):
        for size in sizes:
            if size not in SIZES[kind]:
                continue
            net = FACTORY[kind](SIZES[kind][size])
            n = sum(v.size for v in net.params.values())
            t = time.perf_counter()
            ok = check_grad_directional(net.loss, net.grad, net.params, method=args.method, progress=False)
            t_ok = time.perf_counter() - t
            cells = [kind, f"{n:,}", f"{ok.verdict}, {t_ok:.2f} s, {ok.n_evaluations}", f"{ok.resolution:.1e}"]
            coarse = [d for d in grid if d in (1e-4, 1e-6, 2e-7)] if n > 500_000 else grid  # 1e6: 10-60 s a check
            for how in ("all", "largest", "median"):
                cells.append("-" if args.no_grid else smallest_flagged(net, how, coarse, args.method)[0])
            where = _pick(net, "median")
            t = time.perf_counter()
            r = check_grad_directional(
                net.loss, _edit(net.grad, "median", 1e-6, where), net.params, method=args.method, progress=False
            )
            cells.append(
                f"{time.perf_counter() - t:.2f} s, {'yes' if _flagged(r, where) else 'no (' + r.verdict + ')'}"
            )
            cells.append(foreign(kind, net))
            print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
