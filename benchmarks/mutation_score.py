"""Mutation score of the checker: how often each kind of broken twin is flagged.

For every registered derivation and ``--cases`` drawn problems (sizes from
``gradcheck.strategies.size_ranges``, seeds from ``--seed``), every applicable mutation of
every parameter is checked. A cell reads ``flagged/material``: among mutants that move
some entry by at least a relative 1e-6 (``Mutant.changes``), how many the default check
flagged; ``-`` when the mutation never applies or never changes the gradient. Correct
derivations checked on the same problems give the false-alarm count; published slips
the fraction flagged.

A second, cheaper sweep (``--alarm-cases`` per derivation, one check each) looks only
for false alarms, at drawn sizes and at the drawn point scaled by 0.1 .. 10 (10x
saturates sigmoids and makes classifiers confident): per magnitude, the false alarms and
how often every parameter's stated resolution was fine enough to promise that a
relative 1e-6 slip is caught (resolution < 1e-6 / 3); where it was not, how many
checks ``method="auto"`` (complex step where the loss is complex-analytic) resolves
and passes, and how many it flags (complex step also sees the hand formula's rounding).

    python benchmarks/mutation_score.py --cases 20 --alarm-cases 200
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradcheck import InvalidArgumentError, mutations, registry
from gradcheck.registry import Derivation, Problem
from gradcheck.strategies import size_ranges


@dataclass
class Tally:
    flagged: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    material: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    unchanged_flagged: int = 0  # identical twins flagged: would be a false alarm
    missed: list[str] = field(default_factory=list)
    correct: int = 0
    false_alarms: list[str] = field(default_factory=list)


def draw_sizes(d: Derivation, rng: np.random.Generator) -> dict[str, int]:
    return {k: int(rng.integers(lo, hi + 1)) for k, (lo, hi) in size_ranges(d).items()}


def score(d: Derivation, cases: int, seed: int) -> Tally:
    t = Tally()
    rng = np.random.default_rng([seed, len(d.name)])
    for _ in range(cases):
        sizes, pseed = draw_sizes(d, rng), int(rng.integers(2**32))
        bound = mutations.bind(d, d.problem(pseed, **sizes))
        result = bound.check()
        t.correct += 1
        if result.failed:
            t.false_alarms.append(f"seed={pseed} sizes={sizes}")
            continue
        for twin in mutations.broken_twins(bound, seed=pseed):
            m = twin.mutant
            if m.relative_change == 0:
                if bound.check(twin.derivative).failed:
                    t.unchanged_flagged += 1
                continue
            if not m.changes:
                continue
            t.material[m.mutation] += 1
            if bound.check(twin.derivative).failed:
                t.flagged[m.mutation] += 1
            else:
                res = result.params[m.param].resolution
                t.missed.append(f"{m.mutation} of {m.param} (change {m.relative_change:.2g}, resolution {res:.2g}, "
                                f"seed={pseed} sizes={sizes})")
    return t


MAGNITUDES = (0.1, 0.5, 1.0, 2.0, 10.0)


def alarm_sweep(ds: list[Derivation], cases: int, seed: int) -> tuple[str, int]:
    """False alarms and promise rate per magnitude over ``cases`` drawn problems per derivation."""
    checks = {c: 0 for c in MAGNITUDES}
    promised = {c: 0 for c in MAGNITUDES}
    flagged = {c: 0 for c in MAGNITUDES}
    unsure = {c: 0 for c in MAGNITUDES}  # verdict inconclusive: resolution coarser than 1e-6
    # Where the default check cannot promise 1e-6: does method="auto" (complex step where
    # the loss allows) resolve it, and does it then flag the correct gradient?
    auto_fine = {c: 0 for c in MAGNITUDES}
    auto_flags = {c: 0 for c in MAGNITUDES}
    alarms: list[str] = []
    for d in ds:
        rng = np.random.default_rng([seed, len(d.name), 1])
        for case in range(cases):
            c = MAGNITUDES[case % len(MAGNITUDES)]
            sizes, pseed = draw_sizes(d, rng), int(rng.integers(2**32))
            drawn = d.problem(pseed, **sizes)
            problem = Problem(params={k: c * v for k, v in drawn.params.items()}, data=drawn.data)
            bound = mutations.bind(d, problem)
            result = bound.check()
            checks[c] += 1
            if result.failed:
                flagged[c] += 1
                alarms.append(f"{d.name}: seed={pseed} sizes={sizes} magnitude={c:g}")
            elif _promises(result):
                promised[c] += 1
            else:
                unsure[c] += result.verdict == "inconclusive"
                try:
                    auto = bound.check(method="auto")
                except InvalidArgumentError:
                    continue
                auto_flags[c] += auto.failed
                auto_fine[c] += auto.ok and _promises(auto)
    lines = [f"{'magnitude':>10}{'checks':>10}{'false alarms':>15}{'1e-6 promised':>16}"
             f"{'not promised':>15}{'inconclusive':>14}{'auto resolves':>15}{'auto flags':>12}"]
    for c in MAGNITUDES:
        rest = checks[c] - flagged[c] - promised[c]
        lines.append(f"{c:>10g}{checks[c]:>10}{flagged[c]:>15}{promised[c] / max(checks[c], 1):>16.3f}"
                     f"{rest:>15}{unsure[c]:>14}{auto_fine[c]:>15}{auto_flags[c]:>12}")
    lines.append(f"false alarms: {len(alarms)} of {sum(checks.values())} checks")
    lines += [f"  {a}" for a in alarms[:20]]
    return "\n".join(lines), len(alarms)


def _promises(result: Any) -> bool:
    """Every parameter's stated resolution is fine enough to catch a relative 1e-6 slip."""
    return max(p.resolution for p in result.params.values()) < mutations.MATERIAL / mutations.DETECT_FACTOR


def slip_score(d: Derivation, cases: int, seed: int) -> tuple[int, int]:
    flagged = sum(d.check(seed + i).failed for i in range(cases))
    return flagged, cases


def render(rows: dict[str, Tally], names: list[str]) -> str:
    width = max(len(n) for n in rows) + 2
    head = f"{'derivation':<{width}}" + "".join(f"{n:>15}" for n in names) + f"{'false alarms':>15}"
    lines = [head, "-" * len(head)]
    total = Tally()
    for dname, t in rows.items():
        cells = []
        for n in names:
            cells.append(f"{t.flagged[n]}/{t.material[n]}" if t.material[n] else "-")
            total.flagged[n] += t.flagged[n]
            total.material[n] += t.material[n]
        total.correct += t.correct
        total.false_alarms += t.false_alarms
        alarms = f"{len(t.false_alarms):>9}/{t.correct:<5}"
        lines.append(f"{dname:<{width}}" + "".join(f"{c:>15}" for c in cells) + alarms)
    lines.append("-" * len(head))
    frac = [f"{total.flagged[n] / total.material[n]:.3f}" if total.material[n] else "-" for n in names]
    lines.append(f"{'fraction flagged':<{width}}" + "".join(f"{c:>15}" for c in frac)
                 + f"{len(total.false_alarms):>9}/{total.correct:<5}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20, help="drawn problems per derivation (default 20)")
    parser.add_argument("--alarm-cases", type=int, default=100,
                        help="drawn problems per correct derivation in the false-alarm sweep (default 100; 0 skips it)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    parser.add_argument("--only", default="", help="only derivations whose name contains this")
    args = parser.parse_args(argv)
    if args.cases < 1:
        parser.error(f"--cases={args.cases}: expected an integer >= 1")
    if args.alarm_cases < 0:
        parser.error(f"--alarm-cases={args.alarm_cases}: expected an integer >= 0")
    start = time.perf_counter()
    ds = [d for d in registry.derivations() if args.only in d.name]
    rows = {d.name: score(d, args.cases, args.seed) for d in ds if d.expected_correct}
    names = mutations.mutation_names()
    print(f"mutation score: flagged/material per derivation and mutation, {args.cases} drawn cases each "
          f"(seed {args.seed}); material = some entry moved by >= {mutations.MATERIAL:g} of its scale\n")
    print(render(rows, names))
    slips = [(d.name, *slip_score(d, args.cases, args.seed)) for d in ds if not d.expected_correct]
    if slips:
        print("\npublished slips flagged (registered sizes, drawn seeds):")
        for name, k, n in slips:
            print(f"  {name:<42}{k}/{n}")
    alarms = [(n, a) for n, t in rows.items() for a in t.false_alarms]
    missed = [(n, a) for n, t in rows.items() for a in t.missed]
    unchanged = sum(t.unchanged_flagged for t in rows.values())
    print(f"\nfalse alarms on correct gradients: {len(alarms)} of {sum(t.correct for t in rows.values())} checks")
    for n, a in alarms[:20]:
        print(f"  {n}: {a}")
    print(f"identical twins flagged: {unchanged}")
    print(f"material mutants missed: {len(missed)}")
    for n, a in missed[:20]:
        print(f"  {n}: {a}")
    sweep_alarms = 0
    if args.alarm_cases:
        correct = [d for d in ds if d.expected_correct]
        print(f"\nfalse-alarm sweep: {args.alarm_cases} drawn problems per correct derivation, point scaled by "
              f"{', '.join(f'{c:g}' for c in MAGNITUDES)} in turn")
        table, sweep_alarms = alarm_sweep(correct, args.alarm_cases, args.seed)
        print(table)
    print(f"\n({time.perf_counter() - start:.0f} s)")
    return 1 if alarms or unchanged or sweep_alarms else 0


if __name__ == "__main__":
    sys.exit(main())
