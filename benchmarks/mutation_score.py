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

Per kind, the first sweep also counts the flagged mutants whose diagnosis
(``ParamResult.diagnosis``) names the mistake: ``DIAGNOSED`` says, per kind, what the text must
contain (transpose -> "transposed", point factor -> "2 x the loss", layout swap ->
"layout='denominator'" ...); a cell reads ``diagnosed/material``.

A section on slips of relative size 1e-8 (``--tiny``: only it; it also runs by default,
``--tiny-cases 0`` skips it) measures ``mutations.TINY_MUTATIONS`` (whole gradient x (1 + 1e-8),
one entry x (1 + 1e-8), a float32 round trip, a stray epsilon 1 / (1 + k 1e-8)) and two built
cases: a norm whose gradient divides by ``||r|| + 1e-8``, and a badly scaled least squares (x mixing 1e-6 and 1e6, the
weak columns' gradient entries 1e-8 of the scale, their signs flipped). Per kind and scheme
(default, ``method="auto"``, ``method="complex"`` where the loss allows): flagged/material
(material: some entry moved by >= 5e-9 of its scale), the stated resolution where not flagged,
and the fraction flagged among checks whose stated resolution is below 1e-8. ``--tiny-rtol 1e-9``
adds complex step with that fixed tolerance, which flags such slips today, to score their diagnoses.

    PYTHONPATH=. python benchmarks/mutation_score.py --cases 20 --alarm-cases 200
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's gradcheck, not an installed one

from gradcheck import InvalidArgumentError, check_grad, mutations, registry  # noqa: E402
from gradcheck.registry import Derivation, Problem  # noqa: E402
from gradcheck.strategies import size_ranges  # noqa: E402

Diagnosed = Callable[[str, mutations.Mutant], bool]


def _has(*fragments: str) -> Diagnosed:
    return lambda text, m: any(f in text for f in fragments)


def _one_entry(text: str, m: mutations.Mutant) -> bool:
    """One wrong entry named as such: "1 of N entries", the one row or column of a vector-like
    parameter, the one entry where the numerical derivative is 0 (a missing mask is the likely
    reading there), or a 1-entry parameter's lone entry read as a factor."""
    vector_like = len(m.param_shape) == 2 and 1 in m.param_shape
    return bool(re.search(r"\b1 of \d+ (Jacobian )?entries wrong", text)
                or (vector_like and re.search(r"whole (row|column)\(s\) \[\d+\] wrong", text))
                or "derivative is 0 (1 entries)" in text
                or (int(np.prod(m.param_shape)) == 1 and ("factor" in text or "x numerical" in text)))


def _lost(axis: str) -> Diagnosed:
    """A zeroed row (column): named as such, or as zeros where the numerical derivative is not."""
    return _has(axis, "0 at every wrong entry", "analytic value is 0", "identically zero")


def _reorder(text: str, m: mutations.Mutant) -> bool:
    """C vs F order; on a square parameter the refill is exactly the transpose."""
    square = len(m.param_shape) == 2 and m.param_shape[0] == m.param_shape[1]
    return "reshape order" in text or (square and "transpose" in text)


def _masked(text: str, m: mutations.Mutant) -> bool:
    """A mask over units: named as a mask, as the units' columns zeroed, or (every unit masked) as zero."""
    return "mask" in text or ("column" in text and "is 0" in text) or "identically zero" in text


def _convention(text: str, m: mutations.Mutant) -> bool:
    return "convention" in text and ("'symmetric-entries'" in text or "'symmetric'" in text)


NEW_KINDS = ("layout_swap", "point_factor", "upper_zeros", "symmetric_convention")

DIAGNOSED: dict[str, Diagnosed] = {
    "transpose": _has("transpose"),
    "scale_2": _has("= 2 x numerical"),
    "scale_half": _has("= 1/2 x numerical"),
    "negate": _has("sign flipped"),
    "scale_1e-6": _has("= 1.000001 x numerical"),
    "perturb_small": _one_entry,
    "perturb_large": _one_entry,
    "zero_row": _lost("row"),
    "zero_column": _lost("column"),
    "relu_mask": _masked,
    "reshape_order": _reorder,
    "layout_swap": _has("layout='denominator'"),
    "point_factor": _has("2 x the loss"),
    "upper_zeros": _has("lower triangle"),
    "symmetric_convention": _convention,
    "scale_1e-8": _has("across the board"),
    "entry_1e-8": _one_entry,
    "float32": _has("passes through float32"),
    "stray_epsilon": _has("across the board"),
    "norm_epsilon": _has("across the board"),
    "badly_scaled_flip": _has("entries wrong", "sign"),
}
"""What a correct diagnosis of each kind must say (a substring of ``ParamResult.diagnosis``)."""


def load_symmetric() -> None:
    """The symmetric-matrix derivations, also before ``reference_nets`` imports them itself."""
    if importlib.util.find_spec("reference_nets.symmetric") is not None:
        registry.load_module("reference_nets.symmetric")


@dataclass
class Tally:
    flagged: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    material: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    diagnosed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    misdiagnosed: list[str] = field(default_factory=list)
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
            checked = bound.check(twin.derivative)
            if checked.failed:
                t.flagged[m.mutation] += 1
                text = checked.params[m.param].diagnosis or ""
                if DIAGNOSED[m.mutation](text, m):
                    t.diagnosed[m.mutation] += 1
                else:
                    t.misdiagnosed.append(f"{m.mutation} of {m.param} (seed={pseed} sizes={sizes}): {text!r}")
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


# --------------------------------------------------------------------------- slips of relative size 1e-8
SCHEMES: tuple[tuple[str, dict[str, Any]], ...] = (("default", {}), ("auto", {"method": "auto"}),
                                                  ("complex", {"method": "complex"}))
TINY_MATERIAL = mutations.TINY / 2
"""A 1e-8 mutant counts where it moves some entry by at least 5e-9 of its row's scale (a float32
round trip moves the largest entry by anything up to 6e-8 of it, sometimes by less than 1e-8)."""


@dataclass
class TinyCell:
    material: int = 0
    flagged: int = 0
    diagnosed: int = 0
    unflagged_resolution: list[float] = field(default_factory=list)
    fine: int = 0  # mutant checks whose stated resolution was below 1e-8
    fine_flagged: int = 0
    not_applicable: int = 0  # the scheme does not apply (no complex step for this loss)
    false_alarms: int = 0  # the correct gradient flagged by this scheme

    def add(self, result: Any, param: str, name: str, mutant: mutations.Mutant | None) -> None:
        self.material += 1
        p = result.params[param]
        fine = p.resolution < mutations.TINY
        self.fine += fine
        if result.failed:
            self.flagged += 1
            self.fine_flagged += fine
            self.diagnosed += bool(mutant is not None and DIAGNOSED[name](p.diagnosis or "", mutant))
        else:
            self.unflagged_resolution.append(float(p.resolution))


Cells = dict[tuple[str, str], TinyCell]


def tiny_sweep(ds: list[Derivation], cases: int, seed: int, cells: Cells,
               schemes: tuple[tuple[str, dict[str, Any]], ...] = SCHEMES) -> None:
    """Every 1e-8 mutation of every parameter of ``cases`` drawn problems per derivation, per scheme."""
    for d in ds:
        rng = np.random.default_rng([seed, len(d.name), 2])
        for _ in range(cases):
            sizes, pseed = draw_sizes(d, rng), int(rng.integers(2**32))
            bound = mutations.bind(d, d.problem(pseed, **sizes))
            twins = [t for t in mutations.broken_twins(bound, seed=pseed, mutations=mutations.TINY_MUTATIONS)
                     if t.mutant.moves_by(TINY_MATERIAL)]
            for scheme, opts in schemes:
                try:
                    correct = bound.check(**opts)
                except InvalidArgumentError:
                    for t in twins:
                        cells[(t.mutant.mutation, scheme)].not_applicable += 1
                    continue
                if correct.failed:
                    cells[("(correct)", scheme)].false_alarms += 1
                    continue
                for t in twins:
                    m = t.mutant
                    cells[(m.mutation, scheme)].add(bound.check(t.derivative, **opts), m.param, m.mutation, m)


def _norm_case(rng: np.random.Generator) -> tuple[Any, Any, Any, dict[str, np.ndarray]]:
    """f(x) = ||A x - b|| at a point where ||r|| = 1; the gradient A^T r / (||r|| + 1e-8) is off by 1e-8."""
    m, n = int(rng.integers(3, 8)), int(rng.integers(2, 5))
    A, x, u = rng.normal(size=(m, n)), rng.normal(size=n), rng.normal(size=m)
    b = A @ x - u / np.linalg.norm(u)

    def loss(v: Any) -> Any:
        r = A @ v - b
        return np.sqrt(np.sum(r * r))

    def right(v: Any) -> Any:
        r = A @ v - b
        return A.T @ r / np.sqrt(np.sum(r * r))

    def wrong(v: Any) -> Any:
        r = A @ v - b
        return A.T @ r / (np.sqrt(np.sum(r * r)) + mutations.TINY)
    return loss, right, wrong, {"params": x}


def _badly_scaled_case(rng: np.random.Generator) -> tuple[Any, Any, Any, dict[str, np.ndarray]]:
    """Least squares r = A x - b with x mixing entries of 1e-6 and 1e6 and A's columns for the small
    entries weighted by 1e-8: their gradient entries are 1e-8 of the scale; the mutant flips their signs."""
    k = int(rng.integers(1, 3))
    n = k + int(rng.integers(1, 3))
    m = n + int(rng.integers(1, 4))
    x = np.concatenate([1e-6 * rng.normal(size=k), 1e6 * rng.normal(size=n - k)])
    c = np.concatenate([np.full(k, 1e-8), np.ones(n - k)])
    A = rng.normal(size=(m, n)) * c
    b = A @ x + rng.normal(size=m)  # an O(1) residual
    small = np.arange(n) < k

    def loss(v: Any) -> Any:
        r = A @ v - b
        return np.sum(r * r)

    def right(v: Any) -> Any:
        return 2.0 * A.T @ (A @ v - b)

    def wrong(v: Any) -> Any:
        g = right(v)
        return np.where(small, -g, g)
    return loss, right, wrong, {"params": x}


BUILT = {"norm_epsilon": _norm_case, "badly_scaled_flip": _badly_scaled_case}


def built_sweep(cases: int, seed: int, cells: Cells,
                schemes: tuple[tuple[str, dict[str, Any]], ...] = SCHEMES) -> None:
    for j, (name, make) in enumerate(BUILT.items()):
        rng = np.random.default_rng([seed, 3, j])
        for _ in range(cases):
            loss, right, wrong, params = make(rng)
            x = params["params"]
            g, w = right(x), wrong(x)
            rel = float(np.max(np.abs(w - g)) / np.max(np.abs(g)))
            mutant = mutations.Mutant(name, "params", g, w, x.shape)
            for scheme, opts in schemes:
                if check_grad(loss, right, x, **opts).failed:
                    cells[("(correct)", scheme)].false_alarms += 1
                    continue
                if rel < TINY_MATERIAL:
                    continue
                cells[(name, scheme)].add(check_grad(loss, wrong, x, **opts), "params", name, mutant)


def render_tiny(cells: Cells, schemes: tuple[tuple[str, dict[str, Any]], ...] = SCHEMES) -> str:
    names = mutations.mutation_names(tiny=True) + list(BUILT)
    lines = [f"{'mutation':<19}{'scheme':<9}{'flagged':>10}{'diagnosed':>11}{'n/a':>6}"
             f"{'unflagged resolution (median, min)':>36}{'flagged where res < 1e-8':>27}"]
    for n in names:
        for scheme, _ in schemes:
            c = cells.get((n, scheme), TinyCell())
            res = c.unflagged_resolution
            rtext = f"{np.median(res):.2g}, {min(res):.2g}" if res else "-"
            fine = f"{c.fine_flagged}/{c.fine}" if c.fine else "-"
            lines.append(f"{n:<19}{scheme:<9}{f'{c.flagged}/{c.material}':>10}{f'{c.diagnosed}/{c.flagged}':>11}"
                         f"{c.not_applicable:>6}{rtext:>36}{fine:>27}")
    alarms = {scheme: cells.get(("(correct)", scheme), TinyCell()).false_alarms for scheme, _ in schemes}
    lines.append("false alarms on the correct gradients: " + ", ".join(f"{k} {v}" for k, v in alarms.items()))
    return "\n".join(lines)


def _promises(result: Any) -> bool:
    """Every parameter's stated resolution is fine enough to catch a relative 1e-6 slip."""
    return max(p.resolution for p in result.params.values()) < mutations.MATERIAL / mutations.DETECT_FACTOR


def slip_score(d: Derivation, cases: int, seed: int) -> tuple[int, int]:
    flagged = sum(d.check(seed + i).failed for i in range(cases))
    return flagged, cases


def render_diagnosis(rows: dict[str, Tally], names: list[str]) -> str:
    """Per kind, over every derivation: flagged/material and diagnosed correctly/material."""
    lines = [f"{'mutation':<22}{'flagged':>16}{'diagnosed':>16}{'fraction':>10}  a correct diagnosis says"]
    for n in names:
        mat = sum(t.material[n] for t in rows.values())
        flg = sum(t.flagged[n] for t in rows.values())
        dia = sum(t.diagnosed[n] for t in rows.values())
        frac = f"{dia / mat:.3f}" if mat else "-"
        lines.append(f"{n:<22}{f'{flg}/{mat}':>16}{f'{dia}/{mat}':>16}{frac:>10}  {_says(n)}")
    return "\n".join(lines)


def _says(name: str) -> str:
    f = DIAGNOSED[name]
    own = {_one_entry: "one entry named", _convention: "the other convention by name",
           _reorder: "'reshape order' ('transpose' if square)",
           _masked: "'mask', its units' columns zeroed, or 'identically zero'"}
    if f in own:
        return own[f]
    fragments = f.__closure__[0].cell_contents if f.__closure__ else ()  # type: ignore[attr-defined]
    return " or ".join(repr(x) for x in fragments)


def render(rows: dict[str, Tally], names: list[str]) -> str:
    width = max(len(n) for n in rows) + 2
    col = max(15, max(len(n) for n in names) + 2)
    head = f"{'derivation':<{width}}" + "".join(f"{n:>{col}}" for n in names) + f"{'false alarms':>15}"
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
        lines.append(f"{dname:<{width}}" + "".join(f"{c:>{col}}" for c in cells) + alarms)
    lines.append("-" * len(head))
    frac = [f"{total.flagged[n] / total.material[n]:.3f}" if total.material[n] else "-" for n in names]
    lines.append(f"{'fraction flagged':<{width}}" + "".join(f"{c:>{col}}" for c in frac)
                 + f"{len(total.false_alarms):>9}/{total.correct:<5}")
    return "\n".join(lines)


def tiny_section(ds: list[Derivation], cases: int, seed: int, rtol: float | None = None) -> str:
    """The 1e-8 section; ``rtol`` adds complex step with that fixed relative tolerance (atol 0), a
    check tight enough to flag such slips today, to score their diagnoses."""
    schemes = SCHEMES + ((f"cx rtol={rtol:g}", {"method": "complex", "rtol": rtol, "atol": 0.0}),) if rtol else SCHEMES
    cells: Cells = defaultdict(TinyCell)
    tiny_sweep([d for d in ds if d.expected_correct], cases, seed, cells, schemes)
    built_sweep(max(cases, 3), seed, cells, schemes)
    head = (f"slips of relative size 1e-8: {cases} drawn problem(s) per correct derivation, every parameter, and "
            f"{max(cases, 3)} of each built case; material = some entry moved by >= {TINY_MATERIAL:g} of its scale; "
            f"n/a = the scheme does not apply to the loss; diagnosed = of the flagged, how many name the slip")
    return head + "\n" + render_tiny(cells, schemes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20, help="drawn problems per derivation (default 20)")
    parser.add_argument("--alarm-cases", type=int, default=100,
                        help="drawn problems per correct derivation in the false-alarm sweep (default 100; 0 skips it)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    parser.add_argument("--only", default="", help="only derivations whose name contains this")
    parser.add_argument("--tiny", action="store_true", help="only the section of 1e-8 slips (skip the others)")
    parser.add_argument("--tiny-cases", type=int, default=1,
                        help="drawn problems per derivation in the 1e-8 section (default 1; 0 skips it)")
    parser.add_argument("--tiny-rtol", type=float, default=None,
                        help="also check the 1e-8 slips by complex step with this fixed rtol (e.g. 1e-9), to score "
                             "their diagnoses where a check flags them")
    args = parser.parse_args(argv)
    if args.cases < 1:
        parser.error(f"--cases={args.cases}: expected an integer >= 1")
    if args.alarm_cases < 0:
        parser.error(f"--alarm-cases={args.alarm_cases}: expected an integer >= 0")
    if args.tiny_cases < 0 or (args.tiny and args.tiny_cases == 0):
        parser.error(f"--tiny-cases={args.tiny_cases}: expected an integer >= 0 (>= 1 with --tiny)")
    start = time.perf_counter()
    load_symmetric()
    ds = [d for d in registry.derivations() if args.only in d.name]
    if args.tiny:
        print(tiny_section(ds, args.tiny_cases, args.seed, args.tiny_rtol))
        print(f"\n({time.perf_counter() - start:.0f} s)")
        return 0
    rows = {d.name: score(d, args.cases, args.seed) for d in ds if d.expected_correct}
    names = mutations.mutation_names()
    print(f"mutation score: flagged/material per derivation and mutation, {args.cases} drawn cases each "
          f"(seed {args.seed}); material = some entry moved by >= {mutations.MATERIAL:g} of its scale\n")
    print(render(rows, names))
    print("\ndiagnosis per kind, all derivations (diagnosed = flagged and the diagnosis names the mistake):")
    print(render_diagnosis(rows, names))
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
    wrong = [(n, a) for n, t in rows.items() for a in t.misdiagnosed]
    new = [(n, a) for n, a in wrong if a.startswith(NEW_KINDS)]
    print(f"flagged mutants misdiagnosed: {len(wrong)} ({len(new)} of the kinds {', '.join(NEW_KINDS)}, all listed)")
    for n, a in (new + [w for w in wrong if w not in new])[:max(20, len(new))]:
        print(f"  {n}: {a}")
    sweep_alarms = 0
    if args.alarm_cases:
        correct = [d for d in ds if d.expected_correct]
        print(f"\nfalse-alarm sweep: {args.alarm_cases} drawn problems per correct derivation, point scaled by "
              f"{', '.join(f'{c:g}' for c in MAGNITUDES)} in turn")
        table, sweep_alarms = alarm_sweep(correct, args.alarm_cases, args.seed)
        print(table)
    if args.tiny_cases:
        print("\n" + tiny_section(ds, args.tiny_cases, args.seed, args.tiny_rtol))
    print(f"\n({time.perf_counter() - start:.0f} s)")
    return 1 if alarms or unchanged or sweep_alarms else 0


if __name__ == "__main__":
    sys.exit(main())
