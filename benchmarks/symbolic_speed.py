"""Speed of the symbolic oracle: build, differentiate, compile and evaluate an MLP's gradient.

A row-layout tanh MLP (batch of 4, squared loss) with about 50, 200, 1000 and 5000
parameters, with sympy and with symengine (``pip install symengine``; printed "not
installed" without it). Per size and backend it prints the seconds spent in each phase:
building the loss on symbols, differentiating (stabilising log-sum-exp forms, the reverse
walk and printing it as straight-line code), compiling (Python's compiler on that code),
and evaluating (float64, the point and three ulp-perturbed copies in one pass); then the
total, a second call at another point (cached), and the relative distance from the
hand-written backpropagation.

``--routes program,cse`` also times the earlier route (full gradient expressions, then
common-subexpression elimination and generated code: ``gradcheck.symbolic._oracle.
reference_values``) on the same nets, for a before/after table. A size whose predicted time
(from the measured growth between the two previous sizes of that backend and route) exceeds
``--budget`` seconds is skipped, saying so. ``--profile`` prints where the time goes at the
1000-parameter size (``--profile-backend``).

    python benchmarks/symbolic_speed.py
    python benchmarks/symbolic_speed.py --sizes 50,200,1000 --routes program,cse --budget 60
    python benchmarks/symbolic_speed.py --sizes 1000 --profile
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


PHASES = ("build", "differentiate", "compile", "evaluate")


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
            "cached": d2.cached, **{k: d.timings.get(k, 0.0) for k in PHASES}}


def run_cse(backend: str, n_params: int) -> dict:
    """The earlier route on the same net: gradient expressions, CSE, generated code (no cache)."""
    from gradcheck.symbolic._oracle import reference_values

    p, X, T = make(n_params)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    value = reference_values(mlp_loss(X, T), p, backend=backend, timings=timings)
    total = time.perf_counter() - t0
    hand = backprop(p, X, T)
    scale = max(np.abs(v).max() for v in hand.values())
    err = max(np.abs(value[k] - hand[k]).max() for k in hand) / scale
    return {"n": sum(v.size for v in p.values()), "total": total, "again": float("nan"), "err": err,
            **{k: timings.get(k, 0.0) for k in PHASES}}


def predicted(history: list[tuple[int, float]], n: int) -> tuple[float, float] | None:
    """Time predicted at ``n`` from the last two sizes (power law, at least linear), and the exponent."""
    if len(history) < 2:
        return None
    (n0, t0), (n1, t1) = history[-2:]
    growth = float(np.log(max(t1, 1e-3) / max(t0, 1e-3)) / np.log(n1 / n0))
    return t1 * (n / n1) ** max(growth, 1.0), growth


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="50,200,1000,5000")
    ap.add_argument("--routes", default="program", help="comma list of 'program' (the oracle) and 'cse' (before)")
    ap.add_argument("--budget", type=float, default=180.0, help="skip sizes predicted to exceed this (s)")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--profile-backend", default="sympy", choices=("sympy", "symengine"))
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    routes = [r.strip() for r in args.routes.split(",")]
    if set(routes) - {"program", "cse"}:
        ap.error(f"--routes {args.routes!r}: expected 'program' and/or 'cse'")
    print(f"{'backend':<10} {'route':<8} {'params':>7} {'build':>8} {'diff':>8} {'compile':>8} {'eval':>8} "
          f"{'total':>8} {'cached':>8} {'rel err':>9}")
    for backend in ("sympy", "symengine"):
        if backend == "symengine" and not symbolic.symengine_available():
            print(f"{'symengine':<10} not installed (pip install symengine)")
            continue
        # imports and first-use setup outside the table
        symbolic.gradient(lambda x: np.sum(np.tanh(x) ** 2), np.ones(2), backend=backend, cache=False)
        for route in routes:
            history: list[tuple[int, float]] = []
            for n in sizes:
                guess = predicted(history, n)
                if guess is not None and guess[0] > args.budget:
                    print(f"{backend:<10} {route:<8} {n:>7}  skipped: predicted {guess[0]:.0f} s > --budget "
                          f"{args.budget:.0f} s (time grows like n^{guess[1]:.2f})", flush=True)
                    continue
                r = (run if route == "program" else run_cse)(backend, n)
                history.append((r["n"], r["total"]))
                again = "-" if r["again"] != r["again"] else f"{r['again']:.3f}"
                print(f"{backend:<10} {route:<8} {r['n']:>7} {r['build']:>8.2f} {r['differentiate']:>8.2f} "
                      f"{r['compile']:>8.2f} {r['evaluate']:>8.3f} {r['total']:>8.2f} {again:>8} {r['err']:>9.1e}",
                      flush=True)
    if args.profile:
        p, X, T = make(1000)
        symbolic.clear_cache()
        prof = cProfile.Profile()
        prof.enable()
        symbolic.gradient(mlp_loss(X, T), p, backend=args.profile_backend, max_entries=10 ** 6)
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
        print(f"\n{args.profile_backend}, 1000 parameters: where the time goes (tottime)")
        print("\n".join(out.getvalue().splitlines()[:40]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
