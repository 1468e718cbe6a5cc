"""How honest are the finite-difference error estimates? The exact symbolic gradient says.

For every registered derivation, sizes (registered and halved), seeds and point scales
(0.1x .. 10x), this compares ``gradcheck.numerical_grad`` / ``numerical_jacobian`` under each
scheme (richardson, central, forward, complex where the loss allows) with the exact symbolic
derivative (``gradcheck.symbolic``, float64 evaluation whose own error is bounded by a few
ulps, or measured against 50 digits with ``--exact``), and prints per scheme:

* ``over``: the fraction of entries where |estimate - exact| exceeds the stated ``error``
  (the estimate's claim "I am within error of the truth" failed);
* ``over10``: the same against 10 x error (the tolerance check_grad judges with);
* the median and 99th percentile of true / stated error over entries with a stated error > 0.

Kink entries (flagged by either side) are set apart, as a verdict sets them apart.

    python benchmarks/fd_honesty.py                 # registered sizes, 3 seeds, scales 0.1,1,10
    python benchmarks/fd_honesty.py --seeds 1 --scales 1 --only 'least_squares.*'
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gradcheck  # noqa: E402
from gradcheck import InvalidArgumentError, registry, symbolic  # noqa: E402
from gradcheck.registry import Problem  # noqa: E402

METHODS = ("richardson", "central", "forward", "complex")
WITNESSES = ("witness:complex", "witness:symbolic-f64")
"""Beyond the schemes, the witnesses check_grad asks where differences cannot settle, with the bars they
decide with: complex step widened by the loss's excess noise (``gradcheck.checks._witnesses``), and the
symbolic derivative's float64 program with its perturbation bar (the exact witness rounds a 50-digit value
once: its bar, half an ulp, is true by construction and is not measured here)."""


def _halved(d: registry.Derivation) -> dict[str, int]:
    return {k: max(1, v // 2) if k not in ("depth",) else v for k, v in d.sizes.items()}


def _witness(d: registry.Derivation, problem: Problem, method: str):
    """The witness's estimate with the bar it decides with, shaped like numerical_grad's."""
    from types import SimpleNamespace

    from gradcheck.checks._first_order import _start
    from gradcheck.checks._witnesses import WitnessUnavailable, _complex
    from gradcheck.core._options import Options
    from gradcheck.oracles._symbolic import Symbolic, SymbolicUnavailable

    f, _ = d.bind(problem)
    ctx = _start(d.kind, f, problem.params, Options.validated())
    try:
        run = _complex(ctx) if method == "witness:complex" else Symbolic(exact=False).run(ctx)
    except (WitnessUnavailable, SymbolicUnavailable):
        return None
    ps = ctx.params
    shape = ctx.evaluator.out_shape if d.kind != "grad" else ()

    def pack(attr: str) -> object:
        return ps.pack({n: getattr(e, attr).reshape(shape + ps.arrays[n].shape)
                        for n, e in zip(ps.names, run.estimates, strict=True)})

    kink = ps.pack({n: e.kink_mask().reshape(shape + ps.arrays[n].shape) for n, e in zip(ps.names, run.estimates,
                                                                                        strict=True)})
    return SimpleNamespace(value=pack("value"), error=pack("error"), kink=kink)


def _estimates(d: registry.Derivation, problem: Problem, method: str):
    if method.startswith("witness:"):
        return _witness(d, problem, method)
    f, _ = d.bind(problem)
    run = gradcheck.numerical_grad if d.kind == "grad" else gradcheck.numerical_jacobian
    try:
        return run(f, problem.params, method=method)
    except InvalidArgumentError:  # complex step refused (ReLU, abs): not a claim, not counted
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--scales", default="0.1,1,10")
    ap.add_argument("--sizes", default="default,half", help="comma list of 'default' and 'half'")
    ap.add_argument("--only", default="*")
    ap.add_argument("--exact", action="store_true", help="reference = 50-digit mpmath evaluation")
    args = ap.parse_args(argv)
    scales = [float(s) for s in args.scales.split(",")]
    t0 = time.perf_counter()
    stats: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    per_derivation: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    n_problems = 0
    for d in registry.derivations():
        if not fnmatch.fnmatch(d.name, args.only):
            continue
        for size_kind in args.sizes.split(","):
            sizes = {} if size_kind == "default" else _halved(d)
            for seed in range(args.seeds):
                try:
                    base = d.problem(seed, **sizes)
                except Exception as exc:  # a factory that cannot draw at halved sizes
                    print(f"skip {d.name} {size_kind}: {exc}", file=sys.stderr)
                    continue
                for c in scales:
                    problem = Problem({k: c * v for k, v in base.params.items()}, base.data)
                    exact = symbolic.derivation_gradient(d, problem, exact=args.exact)
                    if not exact.ok:
                        continue
                    n_problems += 1
                    for method in METHODS + WITNESSES:
                        est = _estimates(d, problem, method)
                        if est is None:
                            continue
                        _accumulate(stats[method], per_derivation, d.name, method, est, exact)
    _print(stats, per_derivation, n_problems, time.perf_counter() - t0, args)
    return 0


def _accumulate(s: dict, per: dict, name: str, method: str, est, exact) -> None:
    values = est.value if isinstance(est.value, dict) else {"x": est.value}
    errors = est.error if isinstance(est.error, dict) else {"x": est.error}
    kinks = est.kink if isinstance(est.kink, dict) else {"x": est.kink}
    for k, v in values.items():
        ref = exact.value[k]
        ref_err = exact.error[k]
        smooth = ~(np.asarray(kinks[k], bool) | exact.kink[k])
        true = np.abs(np.asarray(v) - ref)[smooth]
        stated = np.asarray(errors[k])[smooth] + ref_err[smooth]
        s["true"].append(true)
        s["stated"].append(stated)
        s["kinks"].append(int((~smooth).sum()))
        bad = int(np.count_nonzero(true > stated))
        per[(name, method)][0] += bad
        per[(name, method)][1] += int(true.size)


def _print(stats: dict, per: dict, n_problems: int, seconds: float, args: argparse.Namespace) -> None:
    print(f"fd honesty: {n_problems} problems (seeds={args.seeds}, scales={args.scales}, sizes={args.sizes}, "
          f"reference={'mpmath 50 digits' if args.exact else 'symbolic float64'}), {seconds:.0f} s")
    print(f"{'scheme':<21} {'entries':>8} {'over':>9} {'over10':>9} {'median true/stated':>19} {'p99':>9} "
          f"{'kinks':>6}")
    for method in METHODS + WITNESSES:
        s = stats.get(method)
        if not s:
            print(f"{method:<21} {'-':>8}")
            continue
        true, stated = np.concatenate(s["true"]), np.concatenate(s["stated"])
        pos = stated > 0
        ratio = true[pos] / stated[pos]
        over = np.mean(true > stated)
        over10 = np.mean(true > 10 * stated)
        med = np.median(ratio) if ratio.size else np.nan
        p99 = np.percentile(ratio, 99) if ratio.size else np.nan
        print(f"{method:<21} {true.size:>8} {over:>9.4f} {over10:>9.5f} {med:>19.3g} {p99:>9.3g} "
              f"{sum(s['kinks']):>6}")
    worst = sorted(((b / n, name, m) for (name, m), (b, n) in per.items() if n and b), reverse=True)[:8]
    if worst:
        print("most often over its stated error (derivation, scheme, fraction):")
        for frac, name, m in worst:
            print(f"  {name:<40} {m:<21} {frac:.3f}")


if __name__ == "__main__":
    raise SystemExit(main())
