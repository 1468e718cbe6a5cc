"""The report's data model: computed once from check results, then only rendered.

Three levels, each a frozen dataclass that derives its own summary in ``__post_init__``
so that no renderer ever has to compute a verdict, a maximum or a plot's data:

* :class:`Case` - one check run (one seed, one set of sizes) and its verdict against the
  expectation (a published slip is *expected* to fail);
* :class:`Subject` - everything about one derivation (or, in the pytest plugin, one
  function checked by one test): its cases, one :class:`ParamRow` per parameter
  aggregated over the cases, an optional :class:`StepSweep` for the step-size plot;
* :class:`Report` - the subjects, verdict counts and the options that produced them.

Each :class:`ParamRow` carries an ``oracles`` mapping (``finite_differences``, and
``symbolic`` when the report ran the exact derivative beside the differences) and the
core's ``diagnosis``; a :class:`Subject` may carry one :class:`ProofSummary` (the
derivation's gradient proved or disproved at its default sizes). Cases checked along
directions (large sizes) hold a :class:`DirectionalSummary` instead of entry-wise results.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from ..judge._result import float_or_nan, json_float

if TYPE_CHECKING:  # numpy and the result classes are only needed once checks have run
    import numpy as np

    from gradcheck import Entry, GradCheckResult

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "VERDICTS",
    "FAIL_ON",
    "Verdict",
    "Case",
    "DirectionalSummary",
    "ProofSummary",
    "ParamRow",
    "StepSweep",
    "Subject",
    "Report",
    "case_verdict",
    "worst_verdict",
    "symbolic_verdict",
    "READABLE_SCHEMA_VERSIONS",
]

REPORT_SCHEMA_VERSION = 3
"""3: each row's ``oracles.symbolic`` filled and its ``proof``, each subject's ``symbolic_proof``,
``options.oracle``, cases checked along directions (``result.kind == "directional"``), and
``shard`` (set only in the JSON of one shard). 2: the ``inconclusive`` verdict, each row's
``resolution``, core results of schema 2.

Version of the report JSON (``docs/report-schema.md``). Bump on any incompatible change;
adding optional fields is compatible."""

Verdict = Literal["error", "fail", "unexpected_pass", "mismatch", "inconclusive", "expected_fail", "pass", "skipped"]

VERDICTS: tuple[str, ...] = ("error", "fail", "unexpected_pass", "mismatch", "inconclusive", "expected_fail", "pass",
                             "skipped")
"""Every verdict, most severe first; a subject's verdict is the most severe of its cases'.

``pass``: the gradient agreed with finite differences. ``fail``: a gradient expected to be
correct mismatched. ``expected_fail``: a published slip mismatched, as it should.
``unexpected_pass``: a published slip agreed (the slip may not show at that draw, or the
derivation is mislabelled). ``mismatch``: disagreement with no stated expectation (pytest
``check_*`` calls). ``inconclusive``: the check could not resolve the relative error it was
asked to see (1e-6 by default), so it calls the gradient neither right nor wrong. ``error``: the check
itself raised. ``skipped``: a size variant the
derivation's factory refused."""

FAIL_ON: Mapping[str, frozenset[str]] = MappingProxyType({
    "mismatch": frozenset({"fail", "error"}),
    "unexpected": frozenset({"fail", "error", "unexpected_pass"}),
    "inconclusive": frozenset({"fail", "error", "unexpected_pass", "inconclusive"}),
    "never": frozenset(),
})
"""``--fail-on`` policies: which subject verdicts make the run fail (exit status 1)."""


def worst_verdict(verdicts: Sequence[str]) -> str:
    """The most severe of ``verdicts`` (``skipped`` when there are none)."""
    return min(verdicts, key=VERDICTS.index, default="skipped")


def case_verdict(ok: bool | None, expected_correct: bool | None, inconclusive: bool = False) -> str:
    """Verdict of one check: ``ok=None`` means the check raised; ``inconclusive`` that it
    found no mistake but could not resolve the error it was asked to see."""
    if ok is None:
        return "error"
    if inconclusive and not ok:
        return "inconclusive"
    if expected_correct is None:
        return "pass" if ok else "mismatch"
    if expected_correct:
        return "pass" if ok else "fail"
    return "unexpected_pass" if ok else "expected_fail"


def _param_verdict(ok: bool, expected_correct: bool | None, inconclusive: bool = False) -> str:
    """A slip is expected to break *some* parameters; its other parameters simply pass."""
    if ok:
        return "pass"
    if inconclusive:
        return "inconclusive"
    return {None: "mismatch", True: "fail", False: "expected_fail"}[expected_correct]


_fnum = json_float

READABLE_SCHEMA_VERSIONS: tuple[int, ...] = (2, 3)
"""Report JSON versions :meth:`Report.from_dict` reads (2 has no symbolic fields: they read as absent)."""


@dataclass(frozen=True)
class DirectionalSummary:
    """What one directional check stated (:class:`gradcheck.DirectionalResult`), kept as its JSON.

    Large sizes are checked along a few random sign directions, with disagreements traced to
    entries by group testing; the result has no per-entry arrays, so the report keeps the
    core's own ``to_dict`` and reads the figures it shows from it.
    """

    data: Mapping[str, Any]
    kind: str = field(default="directional", init=False)

    def __post_init__(self) -> None:
        if self.data.get("kind") != "directional":
            raise ValueError("a DirectionalSummary is made from DirectionalResult.to_dict()")
        object.__setattr__(self, "data", MappingProxyType(dict(self.data)))

    @classmethod
    def from_result(cls, result: Any) -> DirectionalSummary:
        return cls(result.to_dict())

    @property
    def ok(self) -> bool:
        return bool(self.data["ok"])

    @property
    def verdict(self) -> str:
        return str(self.data["verdict"])

    @property
    def method(self) -> str:
        return str(self.data["method"])

    @property
    def params(self) -> Mapping[str, Any]:
        """No entry-wise parameter results: rows of the summary table come from entry-wise checks only."""
        return MappingProxyType({})

    @property
    def n_entries(self) -> int:
        return int(self.data["n_entries"])

    @property
    def n_directions(self) -> int:
        return len(self.data["directions"])

    @property
    def n_random(self) -> int:
        return sum(str(d["label"]).startswith("random") for d in self.data["directions"])

    @property
    def n_agree(self) -> int:
        return sum(bool(d["agrees"]) for d in self.data["directions"])

    @property
    def n_localized(self) -> int:
        return int(self.data["n_localized"])

    @property
    def n_mismatched(self) -> int:
        return sum(int(v) for v in self.data["n_mismatched"].values())

    @property
    def miss_probability(self) -> float:
        return float_or_nan(self.data["miss_probability"])

    @property
    def miss_rtol(self) -> float:
        return float_or_nan(self.data["miss_rtol"])

    @property
    def resolution(self) -> float:
        return math.inf if self.data["resolution"] is None else float(self.data["resolution"])

    @property
    def diagnosis(self) -> Mapping[str, str]:
        return MappingProxyType(dict(self.data["diagnosis"]))

    @property
    def statement(self) -> str:
        """The directional check's claim in one sentence, as every renderer shows it."""
        d = self.data
        localised = f"{self.n_localized} entries localised by {d['n_group_tests']} group tests"
        if d["n_sampled"]:
            localised += f", {d['n_sampled']} sampled"
        wrong = f"; {self.n_mismatched} entries found wrong" if self.n_mismatched else ""
        return (f"{self.n_agree} of {self.n_directions} directions agree over {self.n_entries:,} entries; "
                f"{localised}{wrong}; an error whose largest entry is >= {self.miss_rtol:.2g} x max |g_i s_i| is "
                f"missed with probability <= {self.miss_probability:.2g} (2^-{self.n_random})")

    def to_dict(self, arrays: bool = False) -> dict[str, Any]:
        return dict(self.data)


@dataclass(frozen=True)
class ProofSummary:
    """A derivation's hand gradient proved or disproved by sympy at one size (once per derivation).

    ``text`` is what the report prints: ``proved at this size``, ``disproved: counterexample
    ...`` or ``n/a: why``; ``params`` the same per parameter; ``case`` the seed and sizes the
    proof ran at; ``scope`` what the proof covers (shapes; the activation pattern at the point
    where masks or max/abs were fixed there).
    """

    status: str  # "proved" | "disproved" | "n/a"
    text: str
    scope: str
    case: str
    params: Mapping[str, str]

    def __post_init__(self) -> None:
        if self.status not in ("proved", "disproved", "n/a"):
            raise ValueError(f"ProofSummary.status={self.status!r}: expected proved, disproved or n/a")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "text": self.text, "scope": self.scope, "case": self.case,
                "params": dict(self.params)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ProofSummary:
        return cls(status=d["status"], text=d["text"], scope=d["scope"], case=d["case"], params=d["params"])


@dataclass(frozen=True)
class Case:
    """One check run: what was drawn, the core's result (or the error it raised), the verdict."""

    label: str
    seed: int | None
    sizes: Mapping[str, int]
    size_variant: str
    expected_correct: bool | None
    result: GradCheckResult | DirectionalSummary | None = None
    error: str | None = None
    skipped: bool = False
    verdict: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", MappingProxyType(dict(self.sizes)))
        if self.result is None and self.error is None:
            raise ValueError("a Case needs a result, or an error message saying why there is none")
        from .. import DirectionalResult

        if isinstance(self.result, DirectionalResult):  # check_grad chose directions (a slow loss, 1e5 entries)
            object.__setattr__(self, "result", DirectionalSummary.from_result(self.result))
        ok = None if self.result is None else self.result.ok
        unsure = self.result is not None and self.result.verdict == "inconclusive"
        verdict = "skipped" if self.skipped else case_verdict(ok, self.expected_correct, unsure)
        object.__setattr__(self, "verdict", verdict)

    @property
    def directional(self) -> DirectionalSummary | None:
        """The directional check's summary, for a case checked along directions (large sizes)."""
        return self.result if isinstance(self.result, DirectionalSummary) else None

    @property
    def max_rel_error(self) -> float | None:
        if self.result is None or not self.result.params:
            return None
        return max(p.max_rel_error for p in self.result.params.values())

    def to_dict(self, arrays: bool = False) -> dict[str, Any]:
        """``arrays=True`` keeps every entry's values (a shard's JSON, so a merge can draw the plots)."""
        return {
            "label": self.label,
            "seed": self.seed,
            "sizes": dict(self.sizes),
            "size_variant": self.size_variant,
            "verdict": self.verdict,
            "error": self.error,
            "result": None if self.result is None else self.result.to_dict(arrays),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], expected_correct: bool | None) -> Case:
        """The case ``to_dict`` was made from (the verdict is derived again, not read)."""
        from .. import GradCheckResult

        r = d.get("result")
        result = None if r is None else (DirectionalSummary(r) if r.get("kind") == "directional"
                                         else GradCheckResult.from_dict(r))
        return cls(label=d["label"], seed=d["seed"], sizes=d["sizes"], size_variant=d["size_variant"],
                   expected_correct=expected_correct, result=result, error=d.get("error"),
                   skipped=d["verdict"] == "skipped")


@dataclass(frozen=True)
class ParamRow:
    """One parameter of one subject, aggregated over the subject's cases (one summary-table row).

    Errors are the maxima over cases; ``worst`` and ``tolerance`` come from the case whose
    worst entry was furthest outside (or least inside) its tolerance, so the row shows the
    closest call. ``heatmap`` (|analytic - numeric| / tolerance as a matrix, for matrix
    parameters and Jacobians) and ``log_rel_errors`` (every entry of every case) are the
    plots' data, computed here so that plots only draw.
    """

    subject: str
    name: str
    verdict: str
    shape: tuple[int, ...]
    n_cases: int
    n_checked: int
    n_mismatched: int
    n_kinks: int
    max_abs_error: float
    max_rel_error: float
    resolution: float  # the coarsest over the cases: the smallest relative error every case was sure to catch
    inconclusive: str | None
    tolerance: float
    tolerance_rule: str
    methods: tuple[str, ...]
    worst: Entry
    worst_case: str
    diagnosis: str | None
    diagnosis_case: str | None
    mismatches: tuple[Entry, ...]
    oracles: Mapping[str, str | None]
    proof: str | None = None  # the derivation's proof for this parameter (``--oracle both``)
    settled_by: tuple[str, ...] = ()  # the witnesses whose numbers the verdicts rest on, over the cases
    heatmap: np.ndarray | None = field(default=None, repr=False, compare=False)
    heatmap_axes: tuple[str, str] = ("row", "column")
    log_rel_errors: np.ndarray | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_cases(cls, subject: str, name: str, cases: Sequence[Case], expected_correct: bool | None,
                   proof: str | None = None) -> ParamRow:
        import numpy as np

        prs = [(c, c.result.params[name]) for c in cases if c.result is not None and name in c.result.params]
        case, worst = max(prs, key=lambda cp: _closeness(cp[1].worst))
        ok = all(p.ok for _, p in prs)
        unsure = not ok and not any(p.failed for _, p in prs)
        diag = next(((c, p) for c, p in prs if p.diagnosis), None)
        failing = next((p for _, p in prs if not p.ok), worst)
        kind = case.result.kind if case.result is not None else "grad"
        return cls(
            subject=subject,
            name=name,
            verdict=_param_verdict(ok, expected_correct, unsure),
            resolution=max(p.resolution for _, p in prs),
            inconclusive=next((p.inconclusive for _, p in prs if p.inconclusive), None) if unsure else None,
            shape=tuple(worst.shape),
            n_cases=len(prs),
            n_checked=sum(p.n_checked for _, p in prs),
            n_mismatched=sum(p.n_mismatched for _, p in prs),
            n_kinks=sum(p.n_kinks for _, p in prs),
            max_abs_error=max(p.max_abs_error for _, p in prs),
            max_rel_error=max(p.max_rel_error for _, p in prs),
            tolerance=worst.worst.tolerance,
            tolerance_rule=worst.tolerance.describe(),
            methods=tuple(sorted({c.result.method for c, _ in prs if c.result is not None})),
            worst=worst.worst,
            worst_case=case.label,
            diagnosis=diag[1].diagnosis if diag else None,
            diagnosis_case=diag[0].label if diag else None,
            mismatches=failing.mismatches,
            oracles=MappingProxyType({"finite_differences": _fd_verdict(prs, expected_correct),
                                      "symbolic": symbolic_verdict([(c.label, p.symbolic) for c, p in prs])}),
            proof=proof,
            settled_by=tuple(dict.fromkeys(w for _, p in prs if (w := getattr(p, "witness", None)))),
            heatmap=_heatmap(worst, kind),
            heatmap_axes=("output entry", "parameter entry (flattened)") if kind == "jacobian" else ("row", "column"),
            log_rel_errors=np.concatenate([_log_rel_errors(p) for _, p in prs if p.arrays is not None]
                                          or [np.zeros(0)]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": self.verdict,
            "shape": list(self.shape),
            "n_cases": self.n_cases,
            "n_checked": self.n_checked,
            "n_mismatched": self.n_mismatched,
            "n_kinks": self.n_kinks,
            "max_abs_error": _fnum(self.max_abs_error),
            "max_rel_error": _fnum(self.max_rel_error),
            "resolution": _fnum(self.resolution),
            "inconclusive": self.inconclusive,
            "tolerance": _fnum(self.tolerance),
            "tolerance_rule": self.tolerance_rule,
            "methods": list(self.methods),
            "worst": self.worst.to_dict(),
            "worst_case": self.worst_case,
            "diagnosis": self.diagnosis,
            "diagnosis_case": self.diagnosis_case,
            "oracles": dict(self.oracles),
            "proof": self.proof,
            "settled_by": list(self.settled_by),
        }


def _fd_verdict(prs: Sequence[tuple[Case, Any]], expected_correct: bool | None) -> str:
    """The finite differences' own verdict: a symbolic FAIL also makes ``ok`` false, so read the counts."""
    fd_ok = all(p.n_mismatched == 0 and not p.inconclusive for _, p in prs)
    unsure = not fd_ok and not any(p.n_mismatched for _, p in prs)
    return _param_verdict(fd_ok, expected_correct, unsure)


def symbolic_verdict(verdicts: Sequence[tuple[str, str | None]]) -> str | None:
    """One parameter's symbolic witness over its cases: ``FAIL`` if any case failed, ``pass``
    if some passed and none failed (saying where it was n/a), ``n/a: why`` if none could run;
    None when the symbolic oracle was not asked (``--oracle fd``).

    ``verdicts`` holds ``(case label, ParamResult.symbolic)`` pairs.
    """
    asked = [(label, v) for label, v in verdicts if v is not None]
    if not asked:
        return None
    fails = [(label, v) for label, v in asked if v.startswith("FAIL")]
    passes = [v for _, v in asked if v.startswith("pass")]
    nas = [v for _, v in asked if not v.startswith(("FAIL", "pass"))]
    n = len(asked)
    if fails:
        label, first = fails[0]
        return f"FAIL in {len(fails)} of {n} checks; at {label}: {first[len('FAIL: '):]}"
    if passes:
        where = f"; {nas[0]} in the other {len(nas)}" if nas else ""
        return f"pass in {len(passes)} of {n} checks{where}"
    return nas[0]


def _closeness(e: Entry) -> float:
    """How close the worst entry came to (or how far past) its tolerance: error / tolerance."""
    if e.tolerance > 0:
        return e.abs_error / e.tolerance
    return math.inf if e.abs_error > 0 else 0.0


def _heatmap(p: Any, kind: str) -> np.ndarray | None:
    """|analytic - numeric| / tolerance laid out as a matrix, or None for vectors and scalars.

    A gradient keeps its parameter's 2-D shape; a Jacobian becomes (outputs x parameter entries).
    """
    import numpy as np

    if p.arrays is None:  # a large check kept its summary only
        return None
    a = np.asarray(p.analytic, dtype=float)
    if kind == "jacobian":
        n = int(np.prod(p.shape)) if p.shape else 1
        a2 = a.reshape(-1, n)
    elif a.ndim == 2:
        a2 = a
    else:
        return None
    if min(a2.shape) < 2:
        return None
    # The errors as judged: 0 at a kink with a valid one-sided slope, the distance to the
    # slopes' interval at a kink mismatch.
    diff = np.asarray(p.abs_errors, dtype=float).reshape(a2.shape)
    tol = np.asarray(p.tolerances, dtype=float).reshape(a2.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tol > 0, diff / tol, np.where(diff > 0, np.inf, 0.0))


REL_ERROR_FLOOR = 1e-17
"""Relative errors below this (including exact zeros) are shown at this value on log axes."""


def _log_rel_errors(p: Any) -> np.ndarray:
    """log10 of each entry's relative error, as the core's comparison defines it."""
    import numpy as np

    from .. import relative_error

    rel = relative_error(np.asarray(p.abs_errors, dtype=float), np.asarray(p.analytic, dtype=float),
                         np.asarray(p.numeric, dtype=float), np.asarray(p.tolerances, dtype=float)).ravel()
    return np.log10(np.maximum(np.nan_to_num(rel, nan=1.0, posinf=1.0), REL_ERROR_FLOOR))


@dataclass(frozen=True)
class StepSweep:
    """Relative error of finite-difference estimates against the hand-derived derivative, by step.

    ``errors[scheme][k]`` is max |numeric - analytic| / max |analytic| over all entries at
    relative step ``steps[k]``. ``refined[scheme][k]`` is true where the checker shrank the
    step for some entries because truncation error dominated (the curve's right arm then
    flattens: that is the checker working, not the scheme). For a correct derivation the
    curve is V-shaped (rounding error left, truncation right); for a wrong one it is flat
    at the size of the mistake, whatever the step.
    """

    steps: tuple[float, ...]
    errors: Mapping[str, tuple[float, ...]]
    refined: Mapping[str, tuple[bool, ...]]
    default_steps: Mapping[str, float]
    reference: str

    @property
    def best(self) -> float:
        """The smallest error any scheme reaches at any step: far above rounding, the formula is wrong."""
        return min(min(v) for v in self.errors.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": list(self.steps),
            "errors": {k: [_fnum(v) for v in vs] for k, vs in self.errors.items()},
            "refined": {k: list(v) for k, v in self.refined.items()},
            "default_steps": dict(self.default_steps),
            "reference": self.reference,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StepSweep:
        return cls(steps=tuple(float(x) for x in d["steps"]),
                   errors={k: tuple(float_or_nan(v) for v in vs) for k, vs in d["errors"].items()},
                   refined={k: tuple(bool(v) for v in vs) for k, vs in d["refined"].items()},
                   default_steps={k: float(v) for k, v in d["default_steps"].items()}, reference=d["reference"])


@dataclass(frozen=True)
class Subject:
    """One derivation (or one function checked in one test): its cases and aggregated rows."""

    name: str
    kind: str
    expected_correct: bool | None
    cases: tuple[Case, ...]
    info: Mapping[str, Any] = field(default_factory=dict)
    sweep: StepSweep | None = None
    proof: ProofSummary | None = None
    verdict: str = field(init=False)
    params: tuple[ParamRow, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cases", tuple(self.cases))
        object.__setattr__(self, "info", MappingProxyType(dict(self.info)))
        object.__setattr__(self, "verdict", worst_verdict([c.verdict for c in self.cases]))
        names: list[str] = []
        for c in self.cases:
            for n in (c.result.params if c.result is not None else ()):
                if n not in names:
                    names.append(n)
        proofs = self.proof.params if self.proof is not None else {}
        rows = tuple(ParamRow.from_cases(self.name, n, self.cases, self.expected_correct, proofs.get(n))
                     for n in names)
        object.__setattr__(self, "params", rows)

    @property
    def directional(self) -> tuple[Case, ...]:
        """The cases checked along directions (large sizes)."""
        return tuple(c for c in self.cases if c.directional is not None)

    @property
    def errors(self) -> tuple[Case, ...]:
        return tuple(c for c in self.cases if c.verdict == "error")

    @property
    def counts(self) -> Mapping[str, int]:
        return {v: sum(c.verdict == v for c in self.cases) for v in VERDICTS if any(c.verdict == v for c in self.cases)}

    def to_dict(self, arrays: bool = False) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "expected_correct": self.expected_correct,
            "verdict": self.verdict,
            "info": dict(self.info),
            "symbolic_proof": None if self.proof is None else self.proof.to_dict(),
            "params": [p.to_dict() for p in self.params],
            "cases": [c.to_dict(arrays) for c in self.cases],
            "step_sweep": None if self.sweep is None else self.sweep.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Subject:
        """The subject ``to_dict`` was made from: cases, sweep and proof are read, rows derived again."""
        proof = d.get("symbolic_proof")
        sweep = d.get("step_sweep")
        return cls(name=d["name"], kind=d["kind"], expected_correct=d["expected_correct"],
                   cases=tuple(Case.from_dict(c, d["expected_correct"]) for c in d["cases"]), info=d["info"],
                   sweep=None if sweep is None else StepSweep.from_dict(sweep),
                   proof=None if proof is None else ProofSummary.from_dict(proof))


@dataclass(frozen=True)
class Report:
    """A whole report: subjects in a stable order, counts, and how it was produced.

    ``generated_at`` is the only field that changes between identical runs.
    """

    title: str
    origin: Literal["cli", "pytest"]
    command: str
    options: Mapping[str, Any]
    subjects: tuple[Subject, ...]
    generated_at: str
    environment: Mapping[str, str]
    counts: Mapping[str, int] = field(init=False)
    n_cases: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "subjects", tuple(self.subjects))
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        object.__setattr__(self, "environment", MappingProxyType(dict(self.environment)))
        counts = {v: sum(s.verdict == v for s in self.subjects) for v in VERDICTS}
        object.__setattr__(self, "counts", MappingProxyType({k: n for k, n in counts.items() if n}))
        object.__setattr__(self, "n_cases", sum(len(s.cases) for s in self.subjects))

    def failing(self, fail_on: str = "mismatch") -> tuple[Subject, ...]:
        """Subjects whose verdict fails the run under the ``fail_on`` policy (see :data:`FAIL_ON`)."""
        return tuple(s for s in self.subjects if s.verdict in FAIL_ON[fail_on])

    def unexpected(self) -> tuple[Subject, ...]:
        """Subjects whose outcome differs from what was expected, whatever the policy."""
        return self.failing("unexpected")

    @property
    def rows(self) -> tuple[ParamRow, ...]:
        return tuple(r for s in self.subjects for r in s.params)

    def to_dict(self, arrays: bool = False) -> dict[str, Any]:
        fail_on = str(self.options.get("fail_on", "mismatch"))
        return {
            "schema": "gradcheck-report",
            "schema_version": REPORT_SCHEMA_VERSION,
            "generated_at": self.generated_at,
            "title": self.title,
            "origin": self.origin,
            "command": self.command,
            "options": dict(self.options),
            "environment": dict(self.environment),
            "summary": {
                "ok": not self.failing(fail_on),
                "fail_on": fail_on,
                "n_subjects": len(self.subjects),
                "n_cases": self.n_cases,
                "counts": dict(self.counts),
                "failing": [s.name for s in self.failing(fail_on)],
                "unexpected": [s.name for s in self.unexpected()],
            },
            "subjects": [s.to_dict(arrays) for s in self.subjects],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Report:
        """The report ``to_dict`` was made from, for versions :data:`READABLE_SCHEMA_VERSIONS`.

        Verdicts, rows and counts are derived again from the cases, so a file edited by hand
        cannot claim a verdict its cases do not support. Plots need the per-entry arrays, which
        only a shard's JSON keeps; from a plain report the HTML page has tables but no heatmaps.
        """
        if d.get("schema") != "gradcheck-report":
            raise ValueError(f"not a gradcheck report (schema={d.get('schema')!r})")
        version = d.get("schema_version")
        if version not in READABLE_SCHEMA_VERSIONS:
            raise ValueError(f"report schema_version={version!r}; this gradcheck reads "
                             f"{', '.join(map(str, READABLE_SCHEMA_VERSIONS))}")
        return cls(title=d["title"], origin=d["origin"], command=d["command"], options=d["options"],
                   subjects=tuple(Subject.from_dict(s) for s in d["subjects"]), generated_at=d["generated_at"],
                   environment=d["environment"])
