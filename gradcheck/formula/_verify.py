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
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core._errors import FormulaError, GradcheckError, ShapeMismatchError
from ._eval import Env, NumpyBackend, evaluate
from ._parse import Name, Node, Transpose
from ._points import draw_point
from ._spec import Spec, infer_shapes, make_spec
from ._symbolic import MatrixCheck, SymbolicCheck, matrix_check, symbolic_check

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
        """The claim disagreed with finite differences here (not a shape or evaluation error)."""
        if self.directional is not None:
            return self.error_kind == "directional"
        return self.result is not None and not self.result.ok

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

    @property
    def ok(self) -> bool:
        return self.verdict == "right"

    def __bool__(self) -> bool:
        raise TypeError("a VerifyResult has no truth value: use result.ok or result.verdict")

    @property
    def diagnosis(self) -> str | None:
        """A formula-level hint ("transposed: ... A.T in place of A"), else the first
        finite-difference diagnosis, or the shape error, of a wrong claim."""
        if self.hints:
            return self.hints[0]
        for p in self.points:
            if p.error_kind == "shape":
                return p.error
            for name, d in p.diagnoses.items():
                return f"{name}: {d}"
        return None

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
            "finite_differences": [p.to_dict() for p in self.points],
            "symbolic": None if self.symbolic is None else self.symbolic.to_dict(),
            "matrix": None if self.matrix is None else self.matrix.to_dict(),
        }


# --------------------------------------------------------------------------- drawing
def draw_sizes(spec: Spec, n: int, rng: np.random.Generator) -> list[dict[str, int]]:
    """All-ones first (the size where layouts and broadcasting coincide), then distinct small
    sizes so that rectangular stays rectangular."""
    if not spec.dim_names:
        return [{}]
    out = [{d: 1 for d in spec.dim_names}]
    k = len(spec.dim_names)
    pools = list(itertools.permutations(SYMBOLIC_SIZES, min(k, len(SYMBOLIC_SIZES))))
    for i in rng.permutation(len(pools))[: max(n - 1, 1)]:
        pick = list(pools[i]) + [int(rng.integers(2, 5)) for _ in range(k - len(pools[i]))]
        out.append(dict(zip(spec.dim_names, pick, strict=True)))
    return out


# --------------------------------------------------------------------------- numpy functions
class Compiled:
    """The loss and claims as numpy functions of ``{param: array}``; data held fixed."""

    def __init__(self, spec: Spec, dims: Mapping[str, int], data: Mapping[str, np.ndarray], scalar: bool) -> None:
        self.spec, self.dims, self.data, self.scalar = spec, dict(dims), dict(data), scalar

    def _env(self, params: Mapping[str, np.ndarray]) -> Env:
        return Env({**self.data, **params}, self.spec.defs, self.dims)

    def loss(self, params: Mapping[str, np.ndarray]) -> Any:
        with np.errstate(all="ignore"):
            out = evaluate(self.spec.loss, self._env(params), NumpyBackend())
        out = np.asarray(out)
        return out.reshape(()) if self.scalar else out

    def grads(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        env = self._env(params)
        with np.errstate(all="ignore"):
            return {
                k: np.asarray(evaluate(node, env, NumpyBackend()), dtype=np.float64)
                for k, node in self.spec.grads.items()
            }


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
            result = check_grad(comp.loss, claimed_derivative, params, method=method, name=spec.loss_text)
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
        ``{name: "4,3" | "m,n" | (4, 3) | "" (scalar)}``. Dimension names are drawn: first
        all 1, then distinct small sizes; a dimension name also stands for its size in
        formulas.
    seed, points:
        Seed of the first random point, and how many points (and drawn sizes) to check.
    values:
        Fixed values for names (their shapes follow); a parameter's value is its point.
    structure:
        ``{name: "spd" | "symmetric" | "positive" | "onehot" | "sign" | "unit"}``: how values are drawn.
    defs:
        ``{name: formula}``: intermediate quantities (``z = W@x + b``) usable in every formula.
    method:
        Finite-difference scheme of the core (default ``richardson``).
    symbolic:
        Run the symbolic oracles (sympy); ``False`` runs finite differences only.
    time_budget:
        Seconds the symbolic oracles may spend on proofs before saying "not proved".

    Returns
    -------
    VerifyResult
        ``verdict`` is ``right``, ``wrong`` or ``inconclusive``; ``str(result)`` explains it.

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
    for i in range(max(points, len(size_list))):
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
    if symbolic:
        deadline = time.monotonic() + time_budget
        sym = symbolic_check(spec, _symbolic_sizes(size_list), kind, runs, deadline)
        mat = matrix_check(spec, kind, sym, deadline)
    verdict, reasons = _decide(runs, sym, mat)
    hints = _hints(spec, runs) if verdict == "wrong" else []
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
    )


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


def _symbolic_sizes(size_list: Sequence[Mapping[str, int]]) -> list[dict[str, int]]:
    """Smallest sizes first: the element-wise oracle's cost grows fast with the size."""
    return sorted((dict(s) for s in size_list), key=lambda s: sum(s.values()) if s else 0)


def _decide(runs: Sequence[PointCheck], sym: SymbolicCheck | None, mat: MatrixCheck | None) -> tuple[str, list[str]]:
    reasons = []
    wrong = [p for p in runs if p.error_kind == "shape" or p.mismatched]
    errors = [p for p in runs if p.error_kind == "evaluation"]
    shape_errors = [p for p in wrong if p.error_kind == "shape"]
    if shape_errors:
        reasons.append(f"shape error at {len(shape_errors)} of {len(runs)} points: {shape_errors[0].error}")
    mismatched = [p for p in wrong if p.error_kind != "shape"]
    if mismatched:
        p = mismatched[0]
        if p.result is None:  # checked along directions: its error says what disagreed
            bad = p.error or ""
        else:
            bad = ", ".join(f"{q.name} ({q.diagnosis})" if q.diagnosis else q.name for q in p.result.failures)
        reasons.append(f"finite differences disagree at {len(mismatched)} of {len(runs)} points; at {p.label()}: {bad}")
    if sym is not None and sym.status == "wrong":
        reasons.append(f"element-wise symbolic derivative differs at {sym.where}: {sym.message}")
    if mat is not None and mat.status == "wrong":
        reasons.append(f"matrix-level: {mat.message}")
    if reasons:
        return "wrong", reasons
    if errors and len(errors) == len(runs):
        return "inconclusive", [f"no finite-difference check could run: {errors[0].error}"]
    for p in errors:
        reasons.append(f"finite differences could not run at {p.label()}: {p.error}")
    if sym is not None and sym.status == "proved" and not errors:
        return "right", reasons
    ok_runs = [p for p in runs if p.ok]
    if ok_runs:
        return "right", reasons
    return "inconclusive", reasons


# --------------------------------------------------------------------------- formula-level hints
def _rewrite(node: Node, fn: Any) -> Node:
    """``fn(node)`` returns a replacement or None; children are rewritten first."""
    from dataclasses import fields, replace

    changes = {}
    for f in fields(node):
        v = getattr(node, f.name)
        if isinstance(v, Node):
            changes[f.name] = _rewrite(v, fn)
        elif isinstance(v, tuple) and v and all(isinstance(i, Node) for i in v):
            changes[f.name] = tuple(_rewrite(i, fn) for i in v)
        elif (
            isinstance(v, tuple)
            and v
            and all(isinstance(i, tuple) and len(i) == 2 and isinstance(i[1], Node) for i in v)
        ):
            changes[f.name] = tuple((k, _rewrite(i, fn)) for k, i in v)
    new = replace(node, **changes) if changes else node
    out = fn(new)
    return new if out is None else out


def _variants(claim: Node, shapes: Mapping[str, tuple[int, ...]]) -> list[tuple[str, Node]]:
    """Claims with one transpose slip undone: a square name transposed everywhere, or one ``.T`` dropped."""
    out: list[tuple[str, Node]] = []
    names: list[Name] = []
    _rewrite(claim, lambda n: names.append(n) if isinstance(n, Name) else None)
    for occ in names:
        shape = shapes.get(occ.id, ())
        if len(shape) == 2 and shape[0] == shape[1] > 1:

            def swap(n: Node, occ: Name = occ) -> Node | None:
                return Transpose(n.col, n.src + ".T", n) if n is occ or n == occ else None

            out.append((f"{occ.id}.T in place of {occ.id} at column {occ.col}", _rewrite(claim, swap)))
    cols = []
    _rewrite(claim, lambda n: cols.append(n) if isinstance(n, Transpose) else None)
    for t in cols:
        out.append(
            (f"{t.operand.src} in place of {t.src}", _rewrite(claim, lambda n, t=t: n.operand if n == t else None))
        )
    return out


def _hints(spec: Spec, runs: Sequence[PointCheck]) -> list[str]:
    """Say which one-symbol slip explains the disagreement, where one does (checked against the
    finite-difference estimate and its per-entry tolerance at the first failing point)."""
    run = next((p for p in runs if p.result is not None and not p.result.ok), None)
    if run is None:
        return []
    hints = []
    env_values = dict(run.point)
    for q in run.result.failures:
        claim = spec.grads.get(q.name)
        if claim is None:
            continue
        for what, variant in _variants(claim, run.shapes):
            try:
                with np.errstate(all="ignore"):
                    v = np.asarray(
                        evaluate(variant, Env(dict(env_values), spec.defs, run.sizes), NumpyBackend()), dtype=float
                    )
            except (FormulaError, ValueError, np.linalg.LinAlgError):
                continue
            numeric, tol = np.asarray(q.numeric), np.asarray(q.tolerances)
            if spec.layout == "denominator" or spec.order is not None or v.shape != numeric.shape:
                continue
            if np.all(np.abs(v - numeric) <= tol):
                hints.append(f"{q.name}: transposed: the claim agrees with finite differences with {what}")
                break
    return hints
