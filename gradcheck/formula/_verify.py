"""``verify``: the verdict of three oracles on a derivative typed as text.

1. **Finite differences** (always): the parsed loss becomes a numpy function of a dict of
   arrays and goes through the public :func:`gradcheck.check_grad` /
   :func:`gradcheck.check_jacobian` at several random well-conditioned points (and, for
   symbolic shapes, several drawn sizes including all-ones and non-square ones). Its
   tolerance is the core's per-entry error estimate; its diagnosis ("transposed",
   "factor 2") is the core's.
2. **Element-wise symbolic** (at one small size): sympy differentiates the formula with
   one symbol per entry, data included, and the difference from the claimed derivative is
   evaluated at a point and then cancelled to zero (a proof at that size, for all data).
3. **Matrix level** (where sympy's matrix calculus handles the formula): the derivative
   as a matrix expression, proved equal to the claim for all sizes, trusted only after it
   agreed with the element-wise derivative at two concrete sizes.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core._errors import FormulaError, GradcheckError, ShapeMismatchError
from ._points import draw_point
from ._spec import CORE_STRUCTURE, Spec, infer_shapes, make_spec
from ._witness import Compiled, degenerate, telling_point

if TYPE_CHECKING:
    from ._symbolic import MatrixCheck, SymbolicCheck

__all__ = ["PointCheck", "VerifyResult", "verify", "VERDICTS"]

VERDICTS = ("right", "wrong", "inconclusive")
MAX_POINTS = 20
SYMBOLIC_SIZES = (2, 3, 4)
"""Sizes drawn for dimension names beyond the all-ones size: small, so the element-wise
oracle stays cheap, and distinct, so that a transposed non-square matrix is a shape error."""


@dataclass(frozen=True)
class PointCheck:
    """One finite-difference check: the sizes and point drawn, and the core's result or why there is none."""

    sizes: Mapping[str, int]
    shapes: Mapping[str, tuple[int, ...]]
    seed: int
    point: Mapping[str, np.ndarray] = field(repr=False)
    result: Any = None  # GradCheckResult (every entry checked)
    error: str | None = None
    error_kind: str | None = None  # "shape" (a claim of the wrong shape), "evaluation", or "directional" (a mismatch)
    directional: Any = None
    """The core's DirectionalResult where the parameters are too many to check entry by entry
    (``check_grad`` switches above 1e5 entries); ``result`` is None then. A mismatch found along
    directions also sets ``error``, so that code reading ``result`` entry by entry never sees it."""

    @property
    def ok(self) -> bool:
        if self.directional is not None:
            return bool(self.directional.ok)
        return self.result is not None and self.result.ok

    @property
    def mismatched(self) -> bool:
        """The claim disagreed with finite differences here: named entries outside their tolerance
        (not a shape or evaluation error, and not a check that could not resolve the entries)."""
        if self.directional is not None:
            return self.error_kind == "directional"
        return self.result is not None and self.result.failed

    @property
    def status(self) -> str:
        """``agree``, ``mismatch`` (evidence), ``inconclusive`` (the core could not resolve an entry:
        no evidence either way), ``shape`` (the claim cannot be evaluated here) or ``error``."""
        if self.error_kind == "shape":
            return "shape"
        if self.directional is not None:
            return {"pass": "agree", "inconclusive": "inconclusive"}.get(self.directional.verdict, "mismatch")
        if self.result is None:
            return "error"
        return {"pass": "agree", "FAIL": "mismatch"}.get(self.result.verdict, "inconclusive")

    @property
    def entries(self) -> int:
        """Parameter entries at this size: how much a point can tell (a 1x1 size tells least)."""
        return sum(int(np.prod(s)) for s in self.shapes.values())

    @property
    def why_inconclusive(self) -> str:
        if self.error:
            return self.error
        if self.result is None:
            return ""
        return "; ".join(f"{p.name}: {p.inconclusive}" for p in self.result.inconclusive if p.inconclusive)

    @property
    def diagnoses(self) -> dict[str, str]:
        if self.directional is not None:
            return dict(self.directional.diagnosis)
        if self.result is None:
            return {}
        return {k: p.diagnosis for k, p in self.result.params.items() if p.diagnosis}

    def label(self) -> str:
        shapes = ", ".join(f"{k} {v}" for k, v in self.shapes.items())
        return f"seed {self.seed}: {shapes}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "sizes": dict(self.sizes),
            "shapes": {k: list(v) for k, v in self.shapes.items()},
            "seed": self.seed,
            "ok": self.ok,
            "status": self.status,
            "error": self.error,
            "error_kind": self.error_kind,
            "diagnoses": self.diagnoses,
            "result": None if self.result is None else self.result.to_dict(),
            "directional": None if self.directional is None else self.directional.to_dict(),
            "point": {k: np.asarray(v).tolist() for k, v in self.point.items() if np.size(v) <= 64},
        }


@dataclass(frozen=True)
class VerifyResult:
    """The verdict of every oracle on one formula. ``ok`` is True only when the verdict is ``right``."""

    verdict: str
    loss: str
    grads: Mapping[str, str]
    defs: Mapping[str, str]
    shapes: Mapping[str, tuple[Any, ...]]
    kind: str
    layout: str
    order: str | None
    points: tuple[PointCheck, ...]
    symbolic: SymbolicCheck | None
    matrix: MatrixCheck | None
    reasons: tuple[str, ...]
    notes: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()
    diagnosis: str | None = None
    """The headline of a wrong claim: a formula-level slip where one explains the disagreement,
    else the core's diagnosis (or the shape error) at the size that tells most."""
    counterexample: Mapping[str, Any] | None = None
    """The smallest size and values where the claim fails: oracle, sizes, param, index, claimed,
    numeric (or exact) value, the point."""
    budget: Mapping[str, Any] = field(default_factory=dict)
    """What the symbolic oracles spent: seconds, the budget, and the oracle that ran out, if one did."""

    @property
    def ok(self) -> bool:
        return self.verdict == "right"

    def __bool__(self) -> bool:
        raise TypeError("a VerifyResult has no truth value: use result.ok or result.verdict")

    def summary(self, max_entries: int = 3) -> str:
        from ._render import render_summary

        return render_summary(self, max_entries)

    __str__ = summary

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "ok": self.ok,
            "loss": self.loss,
            "grads": dict(self.grads),
            "defs": dict(self.defs),
            "shapes": {k: list(v) for k, v in self.shapes.items()},
            "kind": self.kind,
            "layout": self.layout,
            "order": self.order,
            "diagnosis": self.diagnosis,
            "reasons": list(self.reasons),
            "hints": list(self.hints),
            "notes": list(self.notes),
            "counterexample": None if self.counterexample is None else dict(self.counterexample),
            "budget": dict(self.budget),
            "finite_differences": [p.to_dict() for p in self.points],
            "symbolic": None if self.symbolic is None else self.symbolic.to_dict(),
            "matrix": None if self.matrix is None else self.matrix.to_dict(),
        }


# --------------------------------------------------------------------------- drawing
def draw_sizes(spec: Spec, n: int, rng: np.random.Generator) -> list[dict[str, int]]:
    """``n`` distinct small sizes of at least 2 (rectangles stay rectangular), then all-ones as an
    extra size: where layouts and broadcasting coincide, and where many functions are degenerate
    (a Rayleigh quotient is constant at n = 1, a layer norm over one feature is flat), so that
    no verdict ever rests on it alone."""
    if not spec.dim_names:
        return [{}]
    k = len(spec.dim_names)
    pools = list(itertools.permutations(SYMBOLIC_SIZES, min(k, len(SYMBOLIC_SIZES))))
    order = list(rng.permutation(len(pools)))
    out = []
    for j in range(max(n, 1)):
        pick = list(pools[order[j % len(order)]]) + [int(rng.integers(2, 5)) for _ in range(k - len(pools[0]))]
        out.append(dict(zip(spec.dim_names, pick, strict=True)))
    out.append({d: 1 for d in spec.dim_names})
    return out


# --------------------------------------------------------------------------- numpy functions
def _fd_check(
    spec: Spec, dims: Mapping[str, int], shapes: Mapping[str, tuple[int, ...]], seed: int, scalar: bool, method: str
) -> PointCheck:
    from .. import check_grad, check_jacobian

    rng = np.random.default_rng(seed)
    point = draw_point(spec, shapes, rng)
    comp = Compiled(spec, dims, {k: v for k, v in point.items() if k not in spec.grads}, scalar)
    params = {k: point[k] for k in spec.grads}
    if not np.all(np.isfinite(comp.loss(params))):
        # log, sqrt of a drawn negative entry: retry where every free entry is positive
        point = draw_point(spec, shapes, np.random.default_rng(seed), positive=True)
        comp = Compiled(spec, dims, {k: v for k, v in point.items() if k not in spec.grads}, scalar)
        params = {k: point[k] for k in spec.grads}
    common: dict[str, Any] = dict(sizes=dims, shapes=shapes, seed=seed, point=point)
    try:
        claimed = comp.grads  # named so that the core's messages say "claimed derivative"

        def claimed_derivative(p: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            return claimed(p)

        claimed_derivative.__qualname__ = "claimed derivative"
        if scalar:
            structure = {k: CORE_STRUCTURE[v] for k, v in spec.structure.items() if k in params and v in CORE_STRUCTURE
                         and min(shapes[k]) > 1}
            result = check_grad(comp.loss, claimed_derivative, params, method=method, name=spec.loss_text,
                                structure=structure or None)
        else:
            result = check_jacobian(
                comp.loss,
                claimed_derivative,
                params,
                layout=spec.layout,
                order=spec.order,
                method=method,
                name=spec.loss_text,
            )
    except ShapeMismatchError as exc:
        return PointCheck(**common, error=str(exc), error_kind="shape")
    except (GradcheckError, np.linalg.LinAlgError) as exc:
        return PointCheck(**common, error=f"{type(exc).__name__}: {exc}", error_kind="evaluation")
    from .. import DirectionalResult

    if isinstance(result, DirectionalResult):
        return _directional_point(common, result)
    return PointCheck(**common, result=result)


def _directional_point(common: Mapping[str, Any], d: Any) -> PointCheck:
    """A point checked along directions: a FAIL is a mismatch, an inconclusive check an evaluation
    error (it says nothing either way), each with a one-line account in ``error``."""
    if d.verdict == "pass":
        return PointCheck(**common, directional=d)
    if d.verdict == "inconclusive":
        return PointCheck(**common, directional=d, error_kind="evaluation",
                          error=f"finite differences along directions were inconclusive: {d.reason}")
    agree = sum(x.agrees for x in d.directions)
    wrong = [f"{k} ({d.n_mismatched.get(k, len(v))} of {d.n_checked.get(k, len(v))} entries checked one by one wrong"
             + (f"; {d.diagnosis[k]}" if k in d.diagnosis else "") + ")" for k, v in d.mismatches.items()]
    wrong += [f"{k} ({text})" for k, text in d.diagnosis.items() if k not in d.mismatches]
    return PointCheck(**common, directional=d, error_kind="directional",
                      error=f"{len(d.directions) - agree} of {len(d.directions)} directions disagree"
                      + (f": {', '.join(wrong)}" if wrong else f" ({d.reason})" if d.reason else ""))


# --------------------------------------------------------------------------- verify
def verify(
    *,
    loss: str,
    grads: Mapping[str, str],
    shapes: Mapping[str, Any] | None = None,
    seed: int = 0,
    points: int = 3,
    values: Mapping[str, Any] | None = None,
    structure: Mapping[str, str] | None = None,
    layout: str = "numerator",
    order: str | None = None,
    defs: Mapping[str, str] | None = None,
    method: str = "richardson",
    symbolic: bool = True,
    time_budget: float = 20.0,
) -> VerifyResult:
    """Verify claimed derivatives of ``loss`` typed as text.

    Parameters
    ----------
    loss:
        The function, e.g. ``"sum((A@x - b)**2)"``. A scalar (or 1x1) value is a loss and
        ``grads`` are gradients (each of its parameter's shape); an array value is a
        function whose Jacobians are claimed, in ``layout`` (``numerator``: ``out.shape +
        param.shape``; ``denominator``: ``param.shape + out.shape``), or 2-D with respect
        to ``vec`` taken in ``order`` ``"C"``/``"F"``.
    grads:
        ``{name: formula}``: the claimed derivative w.r.t. each parameter. Names with a
        shape but no claim are data, held fixed (and symbols in the symbolic proof).
    shapes:
        ``{name: "4,3" | "m,n" | (4, 3) | "" (scalar)}``. Dimension names are drawn: ``points``
        distinct small sizes of at least 2, then all 1 as an extra size (never the only
        witness); a dimension name also stands for its size in formulas.
    seed, points:
        Seed of the first random point, and how many points (and drawn sizes) to check.
    values:
        Fixed values for names (their shapes follow); a parameter's value is its point.
    structure:
        ``{name: "spd" | "symmetric" | "symmetric-entries" | "lower" | "upper" | "diagonal" | "positive" |
        "onehot" | "sign" | "unit" | "labels"}``: how values are drawn; a structured matrix *parameter* moves only along
        its structure and its claim is compared under the core's convention of that name
        (:data:`gradcheck.formula.STRUCTURES`).
    defs:
        ``{name: formula}``: intermediate quantities (``z = W@x + b``) usable in every formula.
    method:
        Finite-difference scheme of the core (default ``richardson``).
    symbolic:
        Run the symbolic oracles (sympy); ``False`` runs finite differences only.
    time_budget:
        Seconds the symbolic oracles may spend; they run in a worker stopped when it is
        spent (where the platform can fork), and the result names the oracle that ran out.

    Returns
    -------
    VerifyResult
        ``verdict`` is ``right`` (every point that resolves agrees, with a witness beyond
        the all-ones size), ``wrong`` (on evidence: ``diagnosis`` names the slip,
        ``counterexample`` the smallest failing size) or ``inconclusive`` (nothing
        resolves); ``str(result)`` explains it.

    Raises
    ------
    FormulaError
        Unparsable or disallowed formulas, unknown names, bad shapes, shape errors in the
        loss or in a definition.
    """
    if not isinstance(points, int) or isinstance(points, bool) or not 1 <= points <= MAX_POINTS:
        raise FormulaError(f"points={points!r}: expected an integer from 1 to {MAX_POINTS}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise FormulaError(f"seed={seed!r}: expected an integer >= 0")
    spec = make_spec(
        loss=loss, grads=grads, shapes=shapes, defs=defs, structure=structure, values=values, layout=layout, order=order
    )
    rng = np.random.default_rng(seed)
    size_list = draw_sizes(spec, points, rng)
    runs: list[PointCheck] = []
    notes: list[str] = []
    scalar = _is_scalar(spec) and order is None  # a vec order asks for a 2-D Jacobian, even of a loss
    kind = "grad" if scalar else "jacobian"
    for i in range(points if len(size_list) == 1 else len(size_list)):
        dims = size_list[i % len(size_list)]
        shapes_c = spec.concrete(dims)
        bad = _claim_errors(spec, dims)
        if bad:
            runs.append(
                PointCheck(
                    sizes=dims,
                    shapes=shapes_c,
                    seed=seed + i,
                    point={},
                    error="; ".join(bad.values()),
                    error_kind="shape",
                )
            )
            continue
        runs.append(_fd_check(spec, dims, shapes_c, seed + i, scalar, method))
    for p in runs:  # the summary's "method"/"tolerance" describe entry-by-entry checks: say how these were made
        if p.directional is not None:
            d = p.directional
            notes.append(f"{d.n_entries:,} parameter entries: finite differences compared along "
                         f"{len(d.directions)} directions, then entry by entry where they disagree "
                         f"(method={d.method}; tolerance: {d.tolerance})")
    sym = mat = None
    account: dict[str, Any] = {}
    if symbolic:
        from ._budget import run_oracles

        sym, mat, account = run_oracles(spec, kind, runs, time_budget)
        if "ran_out" in account:
            notes.append(f"the symbolic oracles ran out of their {time_budget:g} s budget in: {account['ran_out']}")
    verdict, reasons = _decide(runs, sym, mat)
    hints: list[str] = []
    headline = None
    if verdict == "wrong":
        from ._slips import explain

        hints = explain(spec, runs, telling_point(runs), scalar)
        headline = hints[0] if hints else _core_headline(telling_point(runs), sym)
    return VerifyResult(
        verdict=verdict,
        loss=loss,
        grads=dict(grads),
        defs=dict(defs or {}),
        shapes=spec.shapes,
        kind=kind,
        layout=layout,
        order=order,
        points=tuple(runs),
        symbolic=sym,
        matrix=mat,
        reasons=tuple(reasons),
        notes=tuple(dict.fromkeys(notes)),
        hints=tuple(hints),
        diagnosis=headline,
        counterexample=counterexample(runs, sym) if verdict == "wrong" else None,
        budget=account,
    )


def _core_headline(p: PointCheck | None, sym: SymbolicCheck | None) -> str | None:
    """The core's diagnosis at the telling point, or its shape error, or the exact difference."""
    if p is not None:
        if p.status == "shape":
            return p.error
        for name, d in p.diagnoses.items():
            return f"{name}: {d}"
        if p.result is not None and p.result.failures:
            q = p.result.failures[0]
            return f"{q.name}: {q.n_mismatched} of {q.n_checked} entries wrong at {p.label()}"
        if p.error:
            return p.error
    if sym is not None and sym.status == "wrong":
        return f"element-wise symbolic: {sym.message}"
    return None


def _is_scalar(spec: Spec) -> bool:
    """A loss (scalar or 1x1) or an array-valued function, judged where every dimension is 2."""
    out = infer_shapes(_without_claims(spec), {d: 2 for d in spec.dim_names})["loss"]
    return all(d == 1 for d in out)


def _claim_errors(spec: Spec, dims: Mapping[str, int]) -> dict[str, str]:
    """Claims that cannot even be evaluated at ``dims`` (``2*A@(A@x - b)`` on a non-square A).

    An error in the loss or a definition is the caller's (a FormulaError propagates);
    an error in a claim is a wrong claim, reported with the shapes of both operands.
    """
    from dataclasses import replace

    infer_shapes(_without_claims(spec), dims)
    errors = {}
    for k, node in spec.grads.items():
        try:
            infer_shapes(replace(spec, grads={k: node}, grads_text={k: spec.grads_text[k]}), dims)
        except FormulaError as exc:
            errors[k] = (
                f"claimed derivative for {k!r} cannot be evaluated at {_shapes_text(spec.concrete(dims))}: {exc.reason}"
            )
    return errors


def _shapes_text(shapes: Mapping[str, tuple[int, ...]]) -> str:
    return ", ".join(f"{k} {v}" for k, v in shapes.items())


def _without_claims(spec: Spec) -> Spec:
    from dataclasses import replace

    return replace(spec, grads={}, grads_text={})


def counterexample(runs: Sequence[PointCheck], sym: SymbolicCheck | None) -> dict[str, Any] | None:
    """The smallest size and values where the claim fails, with the worst entry there: the
    finite-difference point, else the element-wise oracle's."""
    bad = [p for p in runs if p.status == "mismatch" and p.result is not None]
    if bad:
        p = min(bad, key=lambda p: (p.entries, p.seed))
        q = p.result.failures[0]
        e = q.mismatches[0] if q.mismatches else q.worst
        return {
            "oracle": "finite differences",
            "sizes": dict(p.sizes),
            "shapes": {k: list(v) for k, v in p.shapes.items()},
            "seed": p.seed,
            "param": q.name,
            "index": [int(i) for i in e.index],
            "claimed": float(e.analytic),
            "numeric": float(e.numeric),
            "tolerance": float(e.tolerance),
            "point": {k: np.asarray(v).tolist() if np.size(v) <= 64 else  # a large value by its range
                      f"{np.shape(v)} array, entries in [{np.min(v):.3g}, {np.max(v):.3g}]"
                      for k, v in p.point.items()},
        }
    shape = [p for p in runs if p.status == "shape"]
    if shape:
        p = min(shape, key=lambda p: (p.entries, p.seed))
        return {"oracle": "shapes", "sizes": dict(p.sizes), "shapes": {k: list(v) for k, v in p.shapes.items()},
                "error": p.error}
    if sym is not None and sym.status == "wrong" and sym.counterexample:
        c = sym.counterexample
        return {"oracle": "element-wise symbolic", "sizes": dict(sym.sizes), "param": c["param"],
                "index": c["index"], "claimed": c["claimed_value"], "exact": c["derivative_value"],
                "point": c["point"]}
    return None


def _decide(runs: Sequence[PointCheck], sym: SymbolicCheck | None, mat: MatrixCheck | None) -> tuple[str, list[str]]:
    """WRONG only on evidence (entries outside their tolerance, a claim that cannot be evaluated,
    an exact difference), RIGHT when every point that resolves agrees and some non-degenerate
    witness (a point, or a proof) exists, INCONCLUSIVE otherwise, each with its reasons."""
    reasons = []
    by = {k: [p for p in runs if p.status == k] for k in ("agree", "mismatch", "inconclusive", "shape", "error")}
    proved_at = dict(sym.sizes) if sym is not None and sym.status == "proved" else None
    # a mismatch at the very size where the claim is proved exactly for all data is a clash of oracles
    # (a kink, a branch of abs or logdet), not evidence on its own
    clash = [p for p in by["mismatch"] if proved_at is not None and dict(p.sizes) == proved_at]
    mismatched = [p for p in by["mismatch"] if p not in clash]
    if by["shape"]:
        p = max(by["shape"], key=lambda p: p.entries)
        reasons.append(f"shape error at {len(by['shape'])} of {len(runs)} points: {p.error}")
    if mismatched:
        p = max(mismatched, key=lambda p: (p.entries, -p.seed))
        if p.result is None:  # checked along directions: its error says what disagreed
            bad = p.error or ""
        else:
            bad = ", ".join(f"{q.name} ({q.n_mismatched} of {q.n_checked} entries outside tolerance"
                            + (f"; {q.diagnosis}" if q.diagnosis else "") + ")" for q in p.result.failures)
        reasons.append(f"finite differences disagree at {len(mismatched)} of {len(runs)} points; at {p.label()}: {bad}")
    if sym is not None and sym.status == "wrong":
        reasons.append(f"element-wise symbolic derivative differs at {sym.where}: {sym.message}")
    if mat is not None and mat.status == "wrong":
        reasons.append(f"matrix-level: {mat.message}")
    if reasons:
        return "wrong", reasons
    for p in clash:
        reasons.append(f"finite differences disagree at {p.label()} where the element-wise oracle proved the claim "
                       f"for all values: the oracles clash (a kink or branch at the drawn point?)")
    for p in by["inconclusive"]:
        reasons.append(f"finite differences inconclusive at {p.label()} (no evidence either way): {p.why_inconclusive}")
    for p in by["error"]:
        reasons.append(f"finite differences could not run at {p.label()}: {p.error}")
    witnesses = [p for p in by["agree"] if not degenerate(p.sizes)]
    proved = proved_at is not None and not degenerate(proved_at) or mat is not None and mat.status == "proved"
    proved = proved and not by["error"]  # a point that could not run at all (a singular value given) stays open
    if (witnesses or proved) and not clash:
        return "right", reasons
    if not reasons:
        reasons.append("only degenerate (all-ones) sizes agreed, and no proof holds at a larger size")
    elif by["agree"] and not witnesses:
        reasons.append("the points that agree are all-ones sizes only, where many wrong claims agree too")
    if len(by["error"]) == len(runs):
        reasons.insert(0, f"no finite-difference check could run: {by['error'][0].error}")
    return "inconclusive", reasons
