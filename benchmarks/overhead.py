"""gradcheck's own bookkeeping per loss evaluation, by parameter count.

Every evaluation goes through the Evaluator, which perturbs a private workspace, calls
the loss and guards against writes to its input. This prints the time per single-entry
evaluation of a loss that costs almost nothing (it reads one entry), so what is left is
the bookkeeping itself.

    python benchmarks/overhead.py [--sizes 1e4,1e5,1e6] [--calls 400]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from gradcheck._evaluator import Evaluator, Perturbation
from gradcheck._params import ParamSet


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e4,1e5,1e6")
    ap.add_argument("--calls", type=int, default=400)
    args = ap.parse_args()
    print(f"{'parameters':>12} {'us per evaluation':>18}")
    for n in (int(float(s)) for s in args.sizes.split(",")):
        print(f"{n:>12} {1e6 * per_call(n, args.calls):>18.1f}")


if __name__ == "__main__":
    main()
