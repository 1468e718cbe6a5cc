"""Running the checks a report shows: the only place in the report package that computes.

``run_derivations`` draws every selected derivation at each seed and size variant, runs
the core check on it, and wraps the outcomes into :mod:`._model` objects; a step sweep per
derivation feeds the step-size plot. With ``oracle="both"`` every entry-wise check also runs
the symbolic oracle, and each derivation's gradient is proved (or disproved) by sympy once,
at its default sizes and first seed. Each size variant's sizes are the derivation's own
(:meth:`gradcheck.registry.Derivation.sizes_for`); the ``large`` variant is checked along
directions. ``plan`` and ``shard`` split the work into stable slices (see :mod:`._shard`).
``make_report`` stamps the result with how it was made.
"""

from __future__ import annotations

import fnmatch
import os
import platform
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from .. import InvalidArgumentError
from ..registry import SIZE_VARIANTS
from ._model import Case, DirectionalSummary, Report, StepSweep, Subject
from ._proofs import PROOF_BUDGET_S, ProofCache, prove_summary

__all__ = [
    "DEFAULT_SEEDS",
    "SIZE_VARIANTS",
    "DEFAULT_SIZE_VARIANTS",
    "ORACLES",
    "PROOF_BUDGET_S",
    "prove_summary",
    "plan",
    "SWEEP_STEPS",
    "SWEEP_SCHEMES",
    "Progress",
    "select",
    "run_derivations",
    "step_sweep",
    "default_step",
    "make_report",
    "timestamp",
    "source_date_epoch",
    "environment",
]

DEFAULT_SEEDS: tuple[int, ...] = (0, 1, 2)
DEFAULT_SIZE_VARIANTS: tuple[str, ...] = ("default", "x2")
"""The variants a report runs unless told (``large`` only on request). ``SIZE_VARIANTS`` is
:data:`gradcheck.registry.SIZE_VARIANTS`, re-exported: derivations own their sizes, the report
only chooses which variants to run."""
ORACLES: tuple[str, ...] = ("fd", "both")
"""``fd``: finite differences only. ``both``: also the symbolic oracle in every entry-wise check
(``check_grad(..., oracle="both")``) and one proof per derivation (:func:`prove_summary`)."""
SWEEP_STEPS: tuple[float, ...] = tuple(10.0**k for k in range(-12, 0))  # 1e-12 .. 1e-1, one per decade
SWEEP_SCHEMES: tuple[str, ...] = ("central", "richardson")

Progress = Callable[[int, int, str, str], None]
"""``progress(done, total, label, verdict)``, called after each check."""


def select(patterns: Sequence[str], names: Sequence[str]) -> list[str]:
    """Names matching any of ``patterns`` (exact names or globs), in registry order.

    A pattern that matches nothing is an error naming the close matches, so a typo in
    ``--only`` is never a silently empty (and therefore passing) report.
    """
    if not patterns:
        return list(names)
    chosen: set[str] = set()
    for pattern in patterns:
        hits = fnmatch.filter(names, pattern)
        if not hits:
            raise InvalidArgumentError(f"--only={pattern!r}: no derivation matches{_suggest(pattern, names)}")
        chosen.update(hits)
    return [n for n in names if n in chosen]


def _suggest(pattern: str, names: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(pattern, names, n=3, cutoff=0.5)
    if not close:
        prefixes = sorted({n.split(".")[0] + ".*" for n in names})
        return f"; known families: {', '.join(prefixes)} (gradcheck list shows every name)"
    return f"; did you mean {', '.join(map(repr, close))}?"


def _sizes(derivation: Any, variant: str) -> dict[str, int]:
    return derivation.sizes_for(variant) or dict(derivation.sizes)


def _has_variant(derivation: Any, variant: str) -> bool:
    return derivation.sizes_for(variant) is not None


def _label(seed: int, variant: str, sizes: Mapping[str, int]) -> str:
    dims = ", ".join(f"{k}={v}" for k, v in sizes.items())
    return f"seed={seed} sizes={variant}" + (f" ({dims})" if dims else "")


def _run_case(derivation: Any, seed: int, variant: str, options: Mapping[str, Any], oracle: str = "fd") -> Case:
    """One check; a factory that refuses non-default sizes skips the variant, any other failure is an error."""
    sizes = _sizes(derivation, variant)
    common = dict(label=_label(seed, variant, sizes), seed=seed, sizes=sizes, size_variant=variant,
                  expected_correct=derivation.expected_correct)
    try:
        derivation.problem(seed, **sizes)
    except Exception as exc:
        message = f"drawing the problem raised {type(exc).__name__}: {exc}"
        return Case(**common, error=message, skipped=variant != "default")
    try:
        # name= so results say which derivation they are (the bound closure's __qualname__ does not)
        if variant == "large":
            return Case(**common, result=_directional(derivation, seed, sizes, options))
        extra = {"oracle": "both"} if oracle == "both" else {}
        # Entry by entry, whatever the base point's timing predicts: a report's rows must not depend on how
        # busy the machine was (the large variant above is the one checked along directions).
        mode = {"mode": "entries"} if derivation.kind == "grad" else {}  # Jacobians are checked entry by entry
        return Case(**common, result=derivation.check(seed, sizes, **{"name": derivation.name, **mode, **options,
                                                                      **extra}))
    except Exception as exc:  # reported as the case's verdict, not a crash of the whole run
        return Case(**common, error=f"{type(exc).__name__}: {exc}")


def _directional(derivation: Any, seed: int, sizes: Mapping[str, int], options: Mapping[str, Any]) -> Any:
    """A large case: ``check_grad(..., mode="directional")``; Jacobians have no directional check."""
    if derivation.kind != "grad":
        raise InvalidArgumentError(f"{derivation.name}: large sizes are checked along directions, which "
                                   "check_grad does for gradients only")
    method = options.get("method")
    directional_method = method if method in ("richardson", "central", "complex") else "richardson"
    # oracle="fd" said outright: under check_grad's default oracle="auto", mode="directional" runs entry by entry
    result = derivation.check(seed, sizes, name=derivation.name, mode="directional", method=directional_method,
                              oracle="fd")
    return DirectionalSummary.from_result(result)


def _info(derivation: Any) -> dict[str, Any]:
    return {
        "source": derivation.source,
        "code": {k: loc for k in ("loss", "derivative") if (loc := code_location(getattr(derivation, k)))},
        "equations": derivation.equations,
        "layout": derivation.layout,
        "description": derivation.description,
        "slip": derivation.slip,
        "corrects": derivation.corrects,
        "tags": list(derivation.tags),
        "module": getattr(derivation.make, "__module__", ""),
        "default_sizes": dict(derivation.sizes),
    }


def code_location(fn: Any) -> str | None:
    """``reference_nets/sigmoid_column.py:96``: a function's file, relative to the directory holding its
    top-level package (the same text on every machine), and first line; None where Python cannot tell."""
    import inspect
    from pathlib import Path

    try:
        fn = inspect.unwrap(fn)
        path = Path(inspect.getsourcefile(fn) or "")
        line = inspect.getsourcelines(fn)[1]
    except (TypeError, OSError):
        return None
    top = sys.modules.get((getattr(fn, "__module__", "") or "").split(".")[0])
    root = Path(getattr(top, "__file__", "") or path).resolve().parent
    if top is not None and Path(top.__file__ or "").name == "__init__.py":
        root = root.parent
    try:
        shown = path.resolve().relative_to(root).as_posix()
    except ValueError:
        shown = path.name
    return f"{shown}:{line}"


def step_sweep(derivation: Any, case: Case, steps: Sequence[float] = SWEEP_STEPS,
               schemes: Sequence[str] = SWEEP_SCHEMES) -> StepSweep | None:
    """Relative error of each scheme's estimate against the hand-derived derivative, per step.

    The hand derivative is taken from ``case``'s result (already in numerator layout,
    whatever layout the derivation returns), at that case's seed and sizes.
    """
    import numpy as np

    from .. import numerical_grad, numerical_jacobian

    if case.result is None or case.seed is None:
        return None
    try:
        problem = derivation.problem(case.seed, **case.sizes)
        f, _ = derivation.bind(problem)
        numerical = numerical_grad if derivation.kind == "grad" else numerical_jacobian
        hand = _flat({k: p.analytic for k, p in case.result.params.items()}, problem.params)
        x_scale = np.maximum(np.abs(_flat(problem.params, problem.params)), 1.0)
        scale = float(np.max(np.abs(hand))) or 1.0
        errors: dict[str, tuple[float, ...]] = {}
        refined: dict[str, tuple[bool, ...]] = {}
        for scheme in schemes:
            errs, refs = [], []
            for s in steps:
                est = numerical(f, problem.params, method=scheme, step=s)  # type: ignore[operator]
                errs.append(float(np.max(np.abs(_flat(est.value, problem.params) - hand))) / scale)
                refs.append(bool(np.any(_flat(est.step, problem.params) / x_scale < 0.99 * s)))
            errors[scheme], refined[scheme] = tuple(errs), tuple(refs)
    except Exception:  # the sweep illustrates; a failure here must not hide the check's verdict
        return None
    what = "gradient" if derivation.kind == "grad" else "Jacobian"
    return StepSweep(
        steps=tuple(steps),
        errors=errors,
        refined=refined,
        default_steps={s: default_step(s) for s in schemes},
        reference=f"hand-derived {what} ({case.label})",
    )


def default_step(method: str) -> float:
    """The relative step ``method`` takes by default in float64, as the public API reports it.

    Read from :func:`gradcheck.numerical_grad`'s ``Estimate.step`` at a coordinate of unit
    scale (``x = 0``, ``typical = 1``: the step is the base step itself) with refinement
    off, so the plot marks the step the checker really starts from, with no second copy
    of the rule that chooses it.
    """
    import numpy as np

    from .. import numerical_grad

    estimate = numerical_grad(np.sum, np.zeros(1), method=method, refine=False)
    return float(np.ravel(estimate.step)[0])


def _flat(value: Any, params: Mapping[str, Any]) -> Any:
    """All parameters' entries in one vector (a single array stands for the only parameter)."""
    import numpy as np

    return np.concatenate([np.ravel(np.asarray(value[k] if isinstance(value, Mapping) else value, dtype=float))
                           for k in params])


Unit = tuple[str, str, str]
"""One unit of work: ``(derivation, size variant, seed)`` for a check, ``(derivation, "proof", "")``
for a derivation's proof. Seeds are strings so that every unit sorts the same way everywhere."""


def plan(derivations: Iterable[Any], *, seeds: Sequence[int] = DEFAULT_SEEDS,
         size_variants: Sequence[str] = DEFAULT_SIZE_VARIANTS, oracle: str = "fd") -> list[Unit]:
    """Every unit a report runs, in the order its checks are reported."""
    units: list[Unit] = []
    for d in derivations:
        checks = [(d.name, v, str(s)) for v in size_variants if _has_variant(d, v) for s in seeds]
        units += checks
        if oracle == "both" and checks:
            units.append((d.name, "proof", ""))
    return units


def run_derivations(derivations: Iterable[Any], *, seeds: Sequence[int] = DEFAULT_SEEDS,
                    size_variants: Sequence[str] = DEFAULT_SIZE_VARIANTS, options: Mapping[str, Any] | None = None,
                    sweep: bool = True, progress: Progress | None = None, oracle: str = "fd",
                    units: Iterable[Unit] | None = None, proof_budget_s: float = PROOF_BUDGET_S,
                    proof_cache: ProofCache | None = None) -> list[Subject]:
    """Check every derivation at every seed and size variant; one :class:`Subject` each.

    ``oracle="both"`` adds the symbolic witness and one proof per derivation (each given up as
    n/a after ``proof_budget_s`` seconds of wall time; reused from ``proof_cache`` when the code
    has not changed, see :mod:`._proofs`). ``units``
    restricts the run to a slice of :func:`plan` (a shard); a derivation none of whose units
    is in the slice is left out, and its step sweep runs with the unit of its first check.
    """
    if oracle not in ORACLES:
        raise InvalidArgumentError(f"oracle={oracle!r}: expected one of {', '.join(ORACLES)}")
    if not proof_budget_s > 0:
        raise InvalidArgumentError(f"proof_budget_s={proof_budget_s!r}: expected a positive number of seconds")
    derivations = list(derivations)
    options = dict(options or {})
    everything = plan(derivations, seeds=seeds, size_variants=size_variants, oracle=oracle)
    chosen = set(everything if units is None else units)
    total = sum(u in chosen and u[1] != "proof" for u in everything)
    done = 0
    subjects = []
    for d in derivations:
        mine = [u for u in everything if u[0] == d.name]
        if not any(u in chosen for u in mine):
            continue
        cases = []
        for variant in size_variants:
            for seed in seeds:
                if (d.name, variant, str(seed)) not in chosen:
                    continue
                case = _run_case(d, seed, variant, options, oracle)
                cases.append(case)
                done += 1
                if progress is not None:
                    progress(done, total, f"{d.name} {case.label}", case.verdict)
        first = next((u for u in mine if u[1] != "proof"), None)
        owns_sweep = first in chosen and cases and cases[0].directional is None
        sw = step_sweep(d, cases[0]) if sweep and owns_sweep else None
        proof = (prove_summary(d, seeds[0], budget_s=proof_budget_s, cache=proof_cache)
                 if (d.name, "proof", "") in chosen else None)
        subjects.append(Subject(name=d.name, kind=d.kind, expected_correct=d.expected_correct, cases=tuple(cases),
                                info=_info(d), sweep=sw, proof=proof))
    return subjects


MAX_EPOCH = 253402300799
"""9999-12-31T23:59:59Z, the last second an ISO 8601 timestamp with four-digit years can write."""


def source_date_epoch() -> datetime | None:
    """The moment ``SOURCE_DATE_EPOCH`` pins (unset or empty: None).

    The reproducible-builds specification asks a tool to fail on a malformed value rather
    than silently use the clock: anything but an integer of seconds in
    ``0 .. 253402300799`` (year 9999) raises :class:`~gradcheck.InvalidArgumentError`.
    """
    text = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_EPOCH:
        raise InvalidArgumentError(
            f"SOURCE_DATE_EPOCH={text[:40]!r}: expected whole seconds since 1970-01-01 UTC, from 0 to {MAX_EPOCH} "
            f"(9999-12-31), e.g. $(git log -1 --format=%ct); unset it to stamp the current time")
    return datetime.fromtimestamp(int(text), timezone.utc)


def timestamp() -> str:
    """UTC time of the run; ``SOURCE_DATE_EPOCH`` (the reproducible-builds convention) pins it."""
    moment = source_date_epoch() or datetime.now(timezone.utc)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def environment() -> dict[str, str]:
    """Versions that change the numbers in the last digits; stable across runs on one machine."""
    import numpy as np

    from .. import __version__

    return {
        "gradcheck": __version__,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "numpy": np.__version__,
        "machine": platform.machine(),
    }


def make_report(subjects: Sequence[Subject], *, origin: str, command: str, options: Mapping[str, Any],
                title: str = "gradcheck report") -> Report:
    return Report(title=title, origin=origin, command=command, options=options,  # type: ignore[arg-type]
                  subjects=tuple(subjects), generated_at=timestamp(), environment=environment())
