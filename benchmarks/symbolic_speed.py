"""Speed of the symbolic oracle: build, differentiate, compile and evaluate an MLP's gradient.

A row-layout tanh MLP (batch of 4, squared loss) with about 50, 200, 1000 and 5000
parameters, with sympy and with symengine (``pip install symengine``; printed "not
installed" without it). Per size and backend it prints the seconds spent building the loss
on symbols, differentiating (reverse mode), compiling (CSE and code generation), and
evaluating, plus a second call at another point (cached), and checks that the result equals
the hand-written backpropagation to 1e-10.

sympy alone is bounded: a size whose predicted time (from the measured growth between the
two previous sizes) exceeds ``--budget`` seconds is skipped, saying so. ``--profile`` prints
where sympy's time goes at the 200-parameter size.

    python benchmarks/symbolic_speed.py
    python benchmarks/symbolic_speed.py --sizes 50,200 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gradcheck import symbolic  # noqa: E402

BATCH = 4


def widths_for(n_params: int) -> list[int]:
    """Input 4, two hidden layers of width w, output 2: 4w + w + w*w + w + 2w + 2 parameters."""
    w = 1
    while (4 * w + w + w * w + w + 2 * w + 2) < n_params:
        w += 1
    return [4, w, w, 2]


def make(n_params: int, seed: int = 0) -> tuple[dict, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ws = widths_for(n_params)
    p = {}
    for k, (a, b) in enumerate(zip(ws[:-1], ws[1:], strict=False), start=1):
        p[f"W{k}"] = rng.normal(size=(a, b)) / np.sqrt(a)
        p[f"b{k}"] = 0.1 * rng.normal(size=b)
    return p, rng.normal(size=(BATCH, ws[0])), rng.normal(size=(BATCH, ws[-1]))


def mlp_loss(X: np.ndarray, T: np.ndarray):
    def loss(p: dict) -> object:
        h = X
        L = sum(1 for k in p if k.startswith("W"))
        for k in range(1, L + 1):
            h = h @ p[f"W{k}"] + p[f"b{k}"]
            if k < L:
                h = np.tanh(h)
        return 0.5 * np.sum((h - T) ** 2)

    return loss


def backprop(p: dict, X: np.ndarray, T: np.ndarray) -> dict:
    L = sum(1 for k in p if k.startswith("W"))
    hs, zs = [X], []
    for k in range(1, L + 1):
        zs.append(hs[-1] @ p[f"W{k}"] + p[f"b{k}"])
        hs.append(np.tanh(zs[-1]) if k < L else zs[-1])
    delta = hs[-1] - T
    g = {}
    for k in range(L, 0, -1):
        g[f"W{k}"] = hs[k - 1].T @ delta
        g[f"b{k}"] = delta.sum(axis=0)
        if k > 1:
            delta = (delta @ p[f"W{k}"].T) * (1 - np.tanh(zs[k - 2]) ** 2)
    return g


def run(backend: str, n_params: int) -> dict:
    p, X, T = make(n_params)
    loss = mlp_loss(X, T)
    symbolic.clear_cache()
    t0 = time.perf_counter()
    d = symbolic.gradient(loss, p, backend=backend, max_entries=10 ** 6)
    total = time.perf_counter() - t0
    hand = backprop(p, X, T)
    scale = max(np.abs(v).max() for v in hand.values())
    err = max(np.abs(d.value[k] - hand[k]).max() for k in hand) / scale
    p2 = {k: 1.1 * v for k, v in p.items()}
    t1 = time.perf_counter()
    d2 = symbolic.gradient(loss, p2, backend=backend, max_entries=10 ** 6)
    again = time.perf_counter() - t1
    hand2 = backprop(p2, X, T)
    err = max(err, max(np.abs(d2.value[k] - hand2[k]).max() for k in hand2) / scale)
    return {"n": sum(v.size for v in p.values()), "total": total, "again": again, "err": err,
            "cached": d2.cached,
            **{k: d.timings.get(k, 0.0) for k in ("build", "differentiate", "compile", "evaluate")}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="50,200,1000,5000")
    ap.add_argument("--budget", type=float, default=180.0, help="skip sympy sizes predicted to exceed this (s)")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'backend':<10} {'params':>7} {'build':>8} {'diff':>8} {'compile':>8} {'eval':>8} {'total':>8} "
          f"{'cached':>8} {'rel err':>9}")
    for backend in ("sympy", "symengine"):
        if backend == "symengine" and not symbolic.symengine_available():
            print(f"{'symengine':<10} not installed (pip install symengine)")
            continue
        history: list[tuple[int, float]] = []
        for n in sizes:
            if backend == "sympy" and len(history) >= 2:
                (n0, t0), (n1, t1) = history[-2:]
                growth = np.log(max(t1, 1e-3) / max(t0, 1e-3)) / np.log(n1 / n0)
                predicted = t1 * (n / n1) ** max(growth, 1.0)
                if predicted > args.budget:
                    print(f"{backend:<10} {n:>7}  skipped: predicted {predicted:.0f} s > --budget {args.budget:.0f} s "
                          f"(time grows like n^{growth:.2f})")
                    continue
            r = run(backend, n)
            history.append((r["n"], r["total"]))
            print(f"{backend:<10} {r['n']:>7} {r['build']:>8.2f} {r['differentiate']:>8.2f} {r['compile']:>8.2f} "
                  f"{r['evaluate']:>8.3f} {r['total']:>8.2f} {r['again']:>8.3f} {r['err']:>9.1e}", flush=True)
    if args.profile:
        p, X, T = make(200)
        symbolic.clear_cache()
        prof = cProfile.Profile()
        prof.enable()
        symbolic.gradient(mlp_loss(X, T), p, backend="sympy")
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
        print("\nsympy, 200 parameters: where the time goes (tottime)")
        print("\n".join(out.getvalue().splitlines()[:40]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
