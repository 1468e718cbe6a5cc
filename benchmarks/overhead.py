"""gradcheck's own bookkeeping per loss evaluation, by parameter count.

Every evaluation goes through the Evaluator, which perturbs a private workspace, calls
the loss and guards against writes to its input. This prints the time per single-entry
evaluation of a loss that costs almost nothing (it reads one entry), so what is left is
the bookkeeping itself.

    python benchmarks/overhead.py [--sizes 1e4,1e5,1e6] [--calls 400]
    python benchmarks/overhead.py --entries [--sizes 1e4]   # the whole per-entry check, per evaluation

``--entries`` runs ``check_grad(mode="entries")`` (richardson and complex) on ``x @ c``, a loss
of a few microseconds, and prints the CPU time per evaluation beside the loss's own: what is
left is the check's cost per evaluation (Evaluator, stencils, judging), the part a per-entry
check adds to every loss evaluation.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this tree's gradcheck, not an installed one

from gradcheck.core._evaluator import Evaluator, Perturbation
from gradcheck.core._params import ParamSet


def per_call(n: int, calls: int) -> float:
    """Seconds of bookkeeping per single-entry evaluation with ``n`` parameters."""
    x = np.random.default_rng(0).normal(size=n)
    ev = Evaluator(lambda v: float(v[0]), ParamSet(x, single_name="x"), scalar=True, fn_name="f")
    ev.base()
    rng = np.random.default_rng(1)
    requests = [Perturbation(0, int(i), 1e-6) for i in rng.integers(0, n, size=calls)]
    start = time.perf_counter()
    ev.evaluate(requests)
    if hasattr(ev, "finish"):
        ev.finish()
    return (time.perf_counter() - start) / calls


def whole_check(n: int, method: str) -> tuple[float, float, int]:
    """CPU seconds per evaluation of check_grad(mode='entries') and of the loss alone, and the evaluations."""
    from gradcheck import check_grad

    c = np.random.default_rng(0).normal(size=n)
    x = np.random.default_rng(1).normal(size=n)

    def loss(v: Any) -> Any:
        return v @ c

    start = time.process_time()
    r = check_grad(loss, lambda v: c, x, method=method, mode="entries")
    per_eval = (time.process_time() - start) / r.n_evaluations
    probe = x.astype(complex) if method == "complex" else x
    start = time.process_time()
    for _ in range(1000):
        loss(probe)
    return per_eval, (time.process_time() - start) / 1000, r.n_evaluations


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e4,1e5,1e6")
    ap.add_argument("--calls", type=int, default=400)
    ap.add_argument("--entries", action="store_true", help="the whole per-entry check instead of the Evaluator alone")
    args = ap.parse_args()
    if args.entries:
        print(f"{'parameters':>12} {'method':>11} {'evaluations':>12} {'us per evaluation':>18} {'loss alone':>11}")
        for n in (int(float(s)) for s in args.sizes.split(",")):
            for method in ("richardson", "complex"):
                per, alone, evals = whole_check(n, method)
                print(f"{n:>12} {method:>11} {evals:>12} {1e6 * per:>18.1f} {1e6 * alone:>11.1f}")
        return
    print(f"{'parameters':>12} {'us per evaluation':>18}")
    for n in (int(float(s)) for s in args.sizes.split(",")):
        print(f"{n:>12} {1e6 * per_call(n, args.calls):>18.1f}")


if __name__ == "__main__":
    main()
