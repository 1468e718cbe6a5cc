"""The symbolic oracles of ``verify``: element-wise at one size, and matrix-level for all sizes.

Element-wise: every entry of every name (data too) is a real sympy symbol, the formula is
interpreted by :class:`~gradcheck.formula._eval.SympyBackend`, and sympy differentiates
it. The difference from the claimed derivative is first evaluated at a random point (a
wrong claim shows there at once, with the entry), then cancelled entry by entry: all
zero is a proof at that size for every value of the data.

Matrix-level: see :mod:`._matrix`; sympy's matrix derivative is compared with the
element-wise one at two concrete sizes before it is believed.

The zero tests, node count, matrix-level differentiation and the screen's tolerance are
``gradcheck.symbolic``'s (:mod:`gradcheck.symbolic._prove`), the layout conversion the
core's (:mod:`gradcheck._layout`): one engine for ``verify`` and ``symbolic.prove``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..core._errors import FormulaError, ShapeMismatchError
from ..core._layout import to_numerator
from ..core._options import Options
from ..core._status import Status
from ..judge._compare import judge
from ..oracles._seam import OracleEstimate
from ..symbolic._prove import (
    DEFAULT_MAX_OPS,
    DEFAULT_SCREEN_RTOL,
    _dag_size,
    _matrix_diff,
    _matrix_zero,
    _simplify_zero,
)
from ._eval import Env, SympyBackend, emap, evaluate, obj
from ._points import draw_point
from ._spec import MATRIX_STRUCTURES, Spec
from ._stage import stage

__all__ = ["SymbolicCheck", "MatrixCheck", "symbolic_check", "matrix_check", "elementwise", "MAX_SYMBOLS"]

MAX_SYMBOLS = 80
"""Entries (symbols) the element-wise oracle accepts: sympy's derivative of a 4x4 inverse
already takes seconds; beyond this size the oracle says it was skipped and why."""
MAX_SYMBOLIC_MATRIX = 4
"""Largest matrix the element-wise oracle inverts or takes a determinant of symbolically."""
MAX_PROOF_NODES = 2500
"""Largest difference (in expression-tree nodes) the exact proof attempts: the entries of a
2-3-1 XNOR net (up to 2,000 nodes) cancel in under a second each; a three-layer net's
exceed it, and ``cancel`` on them did not finish in minutes (they are left "agrees")."""
AGREE_RTOL = DEFAULT_SCREEN_RTOL
"""Numerical agreement of two exact expressions evaluated in float64: ``prove``'s screen, one
number for both oracles (anything above it is a real difference, not rounding)."""


@dataclass(frozen=True)
class SymbolicCheck:
    """Element-wise oracle: ``status`` is ``proved``, ``agrees`` (numerically, not proved),
    ``wrong`` or ``skipped``."""

    status: str
    sizes: Mapping[str, int]
    message: str
    derivative: Mapping[str, tuple[tuple[tuple[int, ...], str], ...]] = field(default_factory=dict)
    counterexample: Mapping[str, Any] | None = None
    seconds: float = 0.0
    elementwise: Any = field(
        default=None, repr=False, compare=False
    )  # the Elementwise built, reused by the matrix oracle

    @property
    def where(self) -> str:
        return ", ".join(f"{n}={v}" for n, v in self.sizes.items()) or "the given shapes"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "sizes": dict(self.sizes),
            "message": self.message,
            "derivative": {k: [[list(i), s] for i, s in v] for k, v in self.derivative.items()},
            "counterexample": None if self.counterexample is None else dict(self.counterexample),
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class MatrixCheck:
    """Matrix-level oracle: ``proved`` (for all sizes), ``agrees`` (sympy's derivative checked,
    the claim equal at the sizes tried but not reduced to it), ``wrong``, ``untrusted`` (sympy's
    matrix derivative disagreed with the element-wise one), ``unsupported``."""

    status: str
    message: str
    derivative: Mapping[str, str] = field(default_factory=dict)
    claim: Mapping[str, str] = field(default_factory=dict)
    sizes_checked: tuple[Mapping[str, int], ...] = ()
    dims: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "message": self.message,
            "derivative": dict(self.derivative),
            "claim": dict(self.claim),
            "sizes_checked": [dict(s) for s in self.sizes_checked],
            "dims": dict(self.dims),
        }


# --------------------------------------------------------------------------- element-wise
def symbol_array(name: str, shape: tuple[int, ...], structure: str | None, tie: bool) -> np.ndarray:
    """One real symbol per entry, named like ``A[0,1]``; ``tie`` makes a symmetric matrix share its symbols."""
    import sympy as sp

    assume = {"positive": True} if structure in ("positive", "unit") else {"real": True}
    if structure == "labels":  # discrete: the proof is for these labels, every other value symbolic
        return emap(lambda v: sp.Integer(int(v)), np.arange(int(np.prod(shape)), dtype=object).reshape(shape) * 5 % 7)
    if shape == ():
        return obj(sp.Symbol(name, **assume))
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(shape):
        key = tuple(sorted(idx)) if tie and structure in ("spd", "symmetric", "symmetric-entries") else idx
        out[idx] = sp.Integer(0) if tie and not _free(structure, *idx) else \
            sp.Symbol(f"{name}[{','.join(map(str, key))}]", **assume)
    return out


def _free(structure: str | None, i: int, j: int = 0) -> bool:
    """Whether entry (i, j) of a triangular or diagonal matrix is free (not held at 0)."""
    return not ((structure == "lower" and j > i) or (structure == "upper" and i > j)
                or (structure == "diagonal" and i != j))


def _free_indices(structure: str, n: int) -> list[tuple[int, int]]:
    kind = "lower" if structure in ("spd", "symmetric", "symmetric-entries") else structure
    return [(i, j) for i in range(n) for j in range(n) if _free(kind, i, j)]


def _free_coordinates(structure: str, d: np.ndarray, claim: bool) -> np.ndarray:
    """A structured parameter's derivative (``claim=False``: the unconstrained one, at the
    structured point) or claim, as the core compares them: per free coordinate (i >= j for the
    symmetric kinds), what moving that coordinate changes the loss by, or what the claim says it does."""
    n = d.shape[0]
    out = []
    for i in range(n):
        for j in range(n):
            if not _free(structure if structure not in ("spd", "symmetric", "symmetric-entries") else "lower", i, j):
                continue
            if structure in ("spd", "symmetric", "symmetric-entries") and i != j:
                both = d[i, j] + d[j, i]
                out.append(d[i, j] if claim and structure == "symmetric-entries" else both)
            else:
                out.append(d[i, j])
    arr = np.empty(len(out), dtype=object)
    arr[:] = out
    return arr


@dataclass
class Elementwise:
    """Derivatives and claims at one size, both in numerator layout (out.shape + param.shape)."""

    sizes: dict[str, int]
    symbols: dict[str, np.ndarray]
    derivative: dict[str, np.ndarray]
    claim: dict[str, np.ndarray | str]  # a string: the claim's shape error
    coordinates: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    """For a structured parameter, the (i, j) of each free coordinate its derivative is compared on."""


def _too_big(spec: Spec, shapes: Mapping[str, tuple[int, ...]]) -> str | None:
    n = sum(int(np.prod(s)) for s in shapes.values())
    if n > MAX_SYMBOLS:
        return f"{n} entries at sizes {dict(shapes)}, more than the {MAX_SYMBOLS} the element-wise oracle accepts"
    texts = [spec.loss_text, *spec.grads_text.values(), *spec.defs_text.values()]
    if any(f in t for t in texts for f in ("inv(", "det(", "logdet(")):
        biggest = max((max(s) for s in shapes.values() if len(s) == 2), default=0)
        if biggest > MAX_SYMBOLIC_MATRIX:
            return f"a symbolic inverse or determinant of size {biggest} (at most {MAX_SYMBOLIC_MATRIX})"
    return None


def _cost(spec: Spec, dims: Mapping[str, int]) -> tuple[int, bool, int]:
    """Symbolic inverses and determinants cost most, so keep square matrices small first; then
    prefer distinct sizes (rectangles stay rectangles), then fewer entries."""
    shapes = spec.concrete(dims)
    square = max((s[0] for s in shapes.values() if len(s) == 2 and s[0] == s[1]), default=0)
    return square, len(set(dims.values())) <= 1 and len(dims) > 1, sum(int(np.prod(s)) for s in shapes.values())


def elementwise(spec: Spec, dims: Mapping[str, int], kind: str) -> Elementwise:
    import sympy as sp

    from ._spec import infer_shapes

    shapes = spec.concrete(dims)
    infer_shapes(replace(spec, grads={}, grads_text={}), dims)  # the loss's shape errors are the caller's
    symbols = {k: symbol_array(k, s, spec.structure.get(k), tie=k not in spec.grads) for k, s in shapes.items()}
    env = Env(dict(symbols), spec.defs, dims, text=spec.loss_text)
    out = obj(evaluate(spec.loss, env, SympyBackend()))
    derivative: dict[str, np.ndarray] = {}
    claim: dict[str, np.ndarray | str] = {}
    coordinates: dict[str, list[tuple[int, int]]] = {}
    ties = _symmetric_ties(spec, symbols)
    for k in spec.grads:
        s = symbols[k]
        if kind == "grad":
            d = emap(lambda v, L=out.reshape(-1)[0]: sp.diff(L, v), s)  # noqa: B008 (binds the value now)
        else:
            d = np.empty(out.shape + s.shape, dtype=object)
            for o in np.ndindex(out.shape):
                for p in np.ndindex(s.shape):
                    d[o + p] = sp.diff(out[o], s[p])
        derivative[k] = emap(lambda e: e.xreplace(ties), d) if ties else d
        kind_k = spec.structure.get(k)
        structured = kind == "grad" and kind_k in MATRIX_STRUCTURES
        cenv = Env(dict(symbols), spec.defs, dims, text=spec.grads_text[k])
        try:
            infer_shapes(replace(spec, grads={k: spec.grads[k]}, grads_text={k: spec.grads_text[k]}), dims)
            c = obj(evaluate(spec.grads[k], cenv, SympyBackend()))
        except FormulaError as exc:
            if "no exact element-wise form" in exc.reason:
                raise  # the oracle stands aside: a claim it cannot write is not a wrong claim
            claim[k] = str(exc)
            continue
        c = emap(lambda e: sp.sympify(e).xreplace(ties), c) if ties else emap(sp.sympify, c)
        claim[k] = _claim_numerator(spec, c, out.shape, s.shape, kind)
        if structured and not isinstance(claim[k], str):
            coordinates[k] = _free_indices(kind_k, derivative[k].shape[0])
            derivative[k] = _free_coordinates(kind_k, derivative[k], claim=False)
            claim[k] = _free_coordinates(kind_k, claim[k], claim=True)
    return Elementwise(sizes=dict(dims), symbols=symbols, derivative=derivative, claim=claim, coordinates=coordinates)


def _symmetric_ties(spec: Spec, symbols: Mapping[str, np.ndarray]) -> dict[Any, Any]:
    """A symmetric *parameter* is differentiated entry by entry, then evaluated on the symmetric set."""
    ties: dict[Any, Any] = {}
    for k in spec.grads:
        kind = spec.structure.get(k)
        if kind in MATRIX_STRUCTURES:
            s = symbols[k]
            for i, j in np.ndindex(s.shape):
                if kind in ("spd", "symmetric", "symmetric-entries") and i > j:
                    ties[s[i, j]] = s[j, i]
                elif not _free(kind, i, j):
                    ties[s[i, j]] = 0
    return ties


def _claim_numerator(
    spec: Spec, c: np.ndarray, out: tuple[int, ...], par: tuple[int, ...], kind: str
) -> np.ndarray | str:
    """The claim in numerator layout, converted by the core's one rule (:func:`gradcheck._layout.to_numerator`),
    or why its shape does not fit."""
    if kind == "grad":
        return c if c.shape == par else f"claimed shape {c.shape}, derivative shape {par}"
    if spec.order is None:
        # to_numerator passes a wrongly shaped array through for its caller to report; here that
        # would let a numerator-shaped claim pass as denominator layout, so the shape is checked first
        want = par + out if spec.layout == "denominator" else out + par
        if c.shape != want:
            return f"claimed shape {c.shape}, {spec.layout}-layout shape {want}"
    try:
        return to_numerator(c, out, par, layout=spec.layout, order=spec.order, where="the claimed Jacobian")
    except ShapeMismatchError as exc:
        return str(exc)


def _numeric(exprs: Sequence[Any], symbols: Mapping[str, np.ndarray], point: Mapping[str, np.ndarray]) -> np.ndarray:
    """Exact expressions at a point, by ``gradcheck.symbolic``'s evaluation (:meth:`Context.value`:
    the point's floats substituted exactly); NaN where an entry has no real value there (a
    singular matrix drawn as a value, a complex result)."""
    import sympy as sp

    from ..symbolic._array import Context
    from ..symbolic._backend import get_backend

    at: dict[Any, float] = {}
    for k, arr in symbols.items():
        v = np.asarray(point[k], dtype=float)
        for idx in np.ndindex(arr.shape):
            at[arr[idx]] = float(v[idx])
    ctx = Context(backend=get_backend("sympy"), point=at)
    out = []
    for e in exprs:
        try:
            out.append(ctx.value(sp.sympify(e)))
        except Exception:  # no real value at this point: left to the exact proof
            out.append(np.nan)
    return np.asarray(out, dtype=float)


def _point(spec: Spec, dims: Mapping[str, int], seed: int) -> dict[str, np.ndarray]:
    shapes = spec.concrete(dims)
    p = draw_point(spec, shapes, np.random.default_rng(seed))
    return p


def _entry_text(e: Any, limit: int = 300) -> str:
    """An entry as text; printing a derivative of a deep net takes seconds, so large ones are summarised."""
    import sympy as sp

    if _dag_size(sp.sympify(e), tree=True) > limit + 1:
        return f"(an expression of more than {limit} nodes)"
    s = str(e)
    return s if len(s) <= 160 else s[:157] + "..."


def symbolic_check(
    spec: Spec, sizes: Sequence[Mapping[str, int]], kind: str, runs: Sequence[Any], deadline: float
) -> SymbolicCheck:
    """Element-wise oracle at small distinct sizes (2, 3, 2, 3, ... in the order the dimension names
    appear, so adjacent dimensions differ and a transposed rectangle is a shape error), else
    all 2; with concrete shapes, at those shapes."""
    start = time.monotonic()
    names = list(spec.dim_names)
    candidates = (
        [
            {d: (2, 3)[i % 2] for i, d in enumerate(names)},
            {d: (3, 2)[i % 2] for i, d in enumerate(names)},
            {d: 2 for d in names},
        ]
        if names
        else [{}]
    )
    candidates.sort(key=lambda c: _cost(spec, c))
    reason = None
    for dims in candidates:
        reason = _too_big(spec, spec.concrete(dims))
        if reason is None:
            break
    else:
        return SymbolicCheck("skipped", dict(candidates[0]), f"skipped: {reason}")
    stage(f"element-wise symbolic: sympy differentiating at {_where(dims)}")
    try:
        ew = elementwise(spec, dims, kind)
    except (FormulaError, ValueError, TypeError, ZeroDivisionError) as exc:
        return SymbolicCheck("skipped", dict(dims), f"skipped: sympy could not build the derivative ({exc})")
    return replace(_compare(spec, ew, runs, deadline, start), elementwise=ew)


def _screen(claim: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Entries where the claim and the exact derivative, both evaluated in float64 at the drawn
    point, differ by more than :data:`AGREE_RTOL` of the exact derivative's largest entry: the
    one judge with a fixed tolerance (two exact expressions carry only a few hundred ulps of
    evaluation rounding, no oracle error bar)."""
    scale = max(float(np.max(np.abs(exact), initial=0.0)), 1e-12)
    est = OracleEstimate(value=exact.reshape(1, -1), error=np.zeros((1, exact.size)))
    verdict = judge(claim.reshape(1, -1), est, eps=float(np.finfo(np.float64).eps),
                    options=Options.validated(atol=AGREE_RTOL * scale, rtol=0.0, kinks=False))
    return (verdict.status == Status.MISMATCH).reshape(exact.shape)


def _compare(spec: Spec, ew: Elementwise, runs: Sequence[Any], deadline: float, start: float) -> SymbolicCheck:
    shown = {
        k: tuple((tuple(int(i) for i in idx), _entry_text(d[idx])) for idx in list(np.ndindex(d.shape))[:6])
        for k, d in ew.derivative.items()
    }
    point = next((p.point for p in runs if dict(p.sizes) == ew.sizes and p.point), None) or _point(spec, ew.sizes, 0)
    for k, _d in ew.derivative.items():
        c = ew.claim[k]
        if isinstance(c, str):
            return SymbolicCheck("wrong", ew.sizes, f"{k!r}: {c}", shown, seconds=time.monotonic() - start)
    # 1. numerically, at the point finite differences used: a wrong claim shows here at once
    stage(f"element-wise symbolic: evaluating at the drawn point at {_where(ew.sizes)}")
    for k, d in ew.derivative.items():
        c = ew.claim[k]
        dv = _numeric(list(d.ravel()), ew.symbols, point)
        cv = _numeric(list(np.asarray(c).ravel()), ew.symbols, point)
        # entries that cannot be evaluated at this point (a singular matrix drawn as a value) are left to the proof
        both = np.isfinite(dv) & np.isfinite(cv)
        wrong = _screen(np.where(both, cv, 0.0), np.where(both, dv, 0.0))
        if np.any(wrong):
            gap = np.where(wrong, np.abs(dv - cv), 0.0)
            j = int(np.argmax(gap))
            idx = tuple(int(i) for i in np.unravel_index(j, d.shape))
            if k in ew.coordinates:  # a structured parameter's free coordinate, by its (i, j)
                idx, at = ew.coordinates[k][idx[0]], idx
            else:
                at = idx
            cex = {
                "param": k,
                "index": list(idx),
                "derivative": _entry_text(d[at]),
                "claimed": _entry_text(np.asarray(c)[at]),
                "derivative_value": float(dv[j]),
                "claimed_value": float(cv[j]),
                "point": {n: np.asarray(v).round(6).tolist() for n, v in point.items() if np.size(v) <= 16},
            }
            return SymbolicCheck(
                "wrong",
                ew.sizes,
                f"d/d{k}{list(idx)} is {dv[j]:.6g} but the claim gives {cv[j]:.6g} at the drawn point",
                shown,
                cex,
                seconds=time.monotonic() - start,
            )
    # 2. exactly: cancel each difference to zero
    import sympy as sp

    unproved = 0
    total = 0
    for k, d in ew.derivative.items():
        c = np.asarray(ew.claim[k])
        for idx in np.ndindex(d.shape):
            total += 1
            stage(f"element-wise symbolic: cancelling d/d{k}{list(idx)} to zero at {_where(ew.sizes)}")
            if time.monotonic() > deadline:
                unproved += 1
                continue
            ok, _, _ = _simplify_zero(sp.sympify(d[idx] - c[idx]), DEFAULT_MAX_OPS, max_tree=MAX_PROOF_NODES,
                                      atoms=False, deadline=deadline)
            if not ok:
                unproved += 1
    where = ", ".join(f"{n}={v}" for n, v in ew.sizes.items()) or "the given shapes"
    if unproved == 0:
        return SymbolicCheck(
            "proved",
            ew.sizes,
            f"equal to sympy's derivative in all {total} entries at {where}, for every value of the data",
            shown,
            seconds=time.monotonic() - start,
        )
    return SymbolicCheck(
        "agrees",
        ew.sizes,
        f"agrees with sympy's derivative at the drawn point; {unproved} of {total} "
        f"entries not reduced to 0 exactly at {where}",
        shown,
        seconds=time.monotonic() - start,
    )


# --------------------------------------------------------------------------- matrix level
def _generalise(spec: Spec) -> tuple[dict[str, tuple[Any, ...]], dict[str, str]]:
    """Shapes with dimension names: the given names, or one per distinct concrete size > 1."""
    names: dict[int, str] = {}
    letters = iter(["m", "n", "p", "q", "r", "s", "t", "u"])
    fixed = _literal_sizes(spec)  # eye(4) in the formula: a 4 there is not any size
    used = set(spec.shapes) | set(spec.defs)
    out: dict[str, tuple[Any, ...]] = {}
    for k, shape in spec.shapes.items():
        dims: list[Any] = []
        for d in shape:
            if isinstance(d, int) and d > 1 and d not in fixed:
                if d not in names:
                    name = next(c for c in letters if c not in used and c not in spec.dim_names)
                    names[d] = name
                dims.append(names[d])
            else:
                dims.append(d)
        out[k] = tuple(dims)
    return out, {v: str(k) for k, v in names.items()}


def chain_diff(expr: Any, X: Any) -> Any:
    """The derivative of a scalar matrix expression by ``X``, with the chain, product and quotient
    rules applied here over the scalar structure (sums, products, powers, functions, determinants)
    and sympy's matrix calculus only on the traces they reach: sympy's own derivative of
    ``Trace(x.T A x)/Trace(x.T x)`` drops the denominator's term, ``sqrt(Trace(...))`` raises, and
    ``log(Determinant(X))`` comes back 0."""
    import sympy as sp

    from ..symbolic._prove import _scalar_form

    e = _scalar_form(expr)
    if not isinstance(X, sp.MatrixSymbol):
        return _matrix_diff(e, X)
    zero = sp.ZeroMatrix(*X.shape)

    def d(e: Any) -> Any:
        if not e.has(X):
            return zero
        if isinstance(e, sp.MatrixExpr) and e.shape == (1, 1):
            e = sp.Trace(e)
        if e.is_Add:
            return sp.Add(*[d(a) for a in e.args])
        if e.is_Mul:
            args = list(e.args)
            return sp.Add(*[sp.Mul(*(args[:i] + args[i + 1:])) * d(a) for i, a in enumerate(args) if a.has(X)])
        if e.is_Pow:
            base, p = e.args
            if p.has(X):
                raise ValueError("a power with the parameter in its exponent")
            return p * base ** (p - 1) * d(base)
        if isinstance(e, sp.Function) and len(e.args) == 1 and not isinstance(e.args[0], sp.MatrixExpr):
            v = sp.Dummy("v")
            return e.func(v).diff(v).subs(v, e.args[0]) * d(e.args[0])
        if isinstance(e, sp.Determinant):  # d det M = det M tr(M^-1 dM): the chain through M by a frozen factor
            m = e.arg
            c = sp.MatrixSymbol(f"frozen{id(e) % 10**6}", *m.shape)
            return _matrix_diff(sp.Trace(c.T * m), X).doit().xreplace({c: e * sp.Inverse(m).T})
        return _matrix_diff(e, X)

    return d(e)


def _literal_sizes(spec: Spec) -> set[int]:
    """Integer literals the formulas use as sizes (``eye(4)``, ``reshape(x, 2, 3)``)."""
    from ._parse import Call, Num
    from ._slips import walk

    out: set[int] = set()
    for tree in [spec.loss, *spec.grads.values(), *spec.defs.values()]:
        for n in walk(tree):
            if isinstance(n, Call) and n.func in ("eye", "ones", "zeros", "reshape"):
                out |= {int(a.value) for m in n.args for a in walk(m) if isinstance(a, Num)}
    return out


def matrix_check(spec: Spec, kind: str, sym: SymbolicCheck | None, deadline: float) -> MatrixCheck:
    """sympy's matrix calculus, trusted after agreeing with the element-wise derivative at two sizes."""
    import sympy as sp

    from ._matrix import MatrixBackend, Unsupported, matrix_symbols, to_matrix

    structured = [k for k in spec.grads if spec.structure.get(k) in MATRIX_STRUCTURES]
    if structured:
        return MatrixCheck("unsupported", f"not attempted: {structured[0]!r} is a structured parameter, compared "
                           "element-wise under its convention")
    if kind != "grad":
        return MatrixCheck(
            "unsupported", "not attempted: Jacobians of array-valued formulas are checked element-wise only"
        )
    gen, from_sizes = _generalise(spec)
    dim_names = tuple(dict.fromkeys(d for s in gen.values() for d in s if isinstance(d, str)))
    dsyms = {d: sp.Symbol(d, integer=True, positive=True) for d in dim_names}
    try:
        msyms = matrix_symbols({k: tuple(dsyms.get(d, d) for d in s) for k, s in gen.items()})
        mb = MatrixBackend(msyms, dsyms)
        env = Env({}, spec.defs, {}, text=spec.loss_text)
        loss = to_matrix(spec.loss, env, mb)
        stage("matrix-level: sympy differentiating the matrix expression")
        derivs = {k: chain_diff(loss, msyms[k]) for k in spec.grads}
    except Unsupported as exc:
        return MatrixCheck("unsupported", f"not attempted: {exc}")
    except Exception as exc:  # sympy's matrix calculus raising means it cannot handle the formula
        return MatrixCheck("unsupported", f"not attempted: sympy's matrix calculus raised {type(exc).__name__}: {exc}")
    dtext = {k: str(v) for k, v in derivs.items()}
    if any(v.has(sp.Derivative) for v in derivs.values()):
        return MatrixCheck("unsupported", "sympy left a derivative unevaluated", dtext)
    general = replace(spec, shapes=gen, dim_names=dim_names, values={})
    checked = []
    reuse = sym.elementwise if sym is not None and sym.elementwise is not None and spec.dim_names else None
    for sizes in _guard_sizes(dim_names, reuse.sizes if reuse is not None else None):
        if time.monotonic() > deadline:
            return MatrixCheck("unsupported", "not trusted: time budget spent before the size checks", dtext)
        ew = reuse if reuse is not None and reuse.sizes == sizes else None
        stage(f"matrix-level: comparing sympy's derivative with the element-wise one at {_where(sizes)}")
        verdict = _agrees_at(general, sizes, derivs, msyms, dsyms, kind, ew)
        if verdict is not None:
            return MatrixCheck(
                "untrusted",
                f"sympy's matrix derivative is not trusted: {verdict}",
                dtext,
                sizes_checked=tuple(checked),
                dims=from_sizes,
            )
        checked.append(sizes)
    claims, proved = {}, True
    for k in spec.grads:
        try:
            g = to_matrix(spec.grads[k], Env({}, spec.defs, {}, text=spec.grads_text[k]), mb)
        except Unsupported as exc:
            return MatrixCheck(
                "agrees" if sym is None or sym.status != "wrong" else "wrong",
                f"derivative found and checked at {len(checked)} sizes; the claim for {k!r} has no matrix form ({exc})",
                dtext,
                sizes_checked=tuple(checked),
                dims=from_sizes,
            )
        claims[k] = str(g)
        stage(f"matrix-level: reducing the difference for {k!r} to zero")
        # data declared symmetric: A.T is A (the guard's points were drawn symmetric too)
        same = {msyms[n].T: msyms[n] for n, kind in spec.structure.items()
                if kind in ("spd", "symmetric") and n in msyms and n not in spec.grads and hasattr(msyms[n], "T")}
        if sym is not None and sym.status == "wrong":  # shown different already: no reduction to zero to wait on
            proved = False
            continue
        proved = proved and _matrix_zero((derivs[k] - g).xreplace(same) if same else derivs[k] - g)
    if proved:
        return MatrixCheck(
            "proved",
            "claim equals sympy's matrix derivative for all sizes" + _over(gen),
            dtext,
            claims,
            tuple(checked),
            from_sizes,
        )
    if sym is not None and sym.status == "wrong":
        return MatrixCheck(
            "wrong", "the claim differs from sympy's matrix derivative", dtext, claims, tuple(checked), from_sizes
        )
    return MatrixCheck(
        "agrees",
        "sympy's matrix derivative checked at "
        f"{len(checked)} sizes; the claim is not reduced to it as a matrix expression",
        dtext,
        claims,
        tuple(checked),
        from_sizes,
    )


def _where(sizes: Mapping[str, int]) -> str:
    return ", ".join(f"{n}={v}" for n, v in sizes.items()) or "the given shapes"


def _over(gen: Mapping[str, tuple[Any, ...]]) -> str:
    return " (" + ", ".join(f"{k} {tuple(v) if len(v) != 1 else v[0]}".replace("'", "") for k, v in gen.items()) + ")"


def _guard_sizes(dim_names: Sequence[str], done: Mapping[str, int] | None = None) -> list[dict[str, int]]:
    """Two distinct concrete sizes; the element-wise oracle's own size first when it has one (reused)."""
    if not dim_names:
        return [{}]
    options = [
        {d: 2 for d in dim_names},
        {d: (3, 2)[i % 2] for i, d in enumerate(dim_names)},
        {d: (2, 3)[i % 2] for i, d in enumerate(dim_names)},
    ]
    if done is not None and dict(done) in options:
        return [dict(done)] + [o for o in options if o != dict(done)][:1]
    return options[:2]


def _agrees_at(
    general: Spec,
    sizes: Mapping[str, int],
    derivs: Mapping[str, Any],
    msyms: Mapping[str, Any],
    dsyms: Mapping[str, Any],
    kind: str,
    ew: Elementwise | None = None,
) -> str | None:
    """None when sympy's matrix derivative equals the element-wise one at ``sizes``, else why not."""
    import sympy as sp

    try:
        if ew is None:
            ew = elementwise(replace(general, grads={k: general.grads[k] for k in derivs}), sizes, kind)
    except FormulaError as exc:
        return f"the formula cannot be evaluated at sizes {dict(sizes)} ({exc.reason})"
    sub = {dsyms[d]: v for d, v in sizes.items()}
    point = _point(general, sizes, 1)
    for k, d in derivs.items():
        want = ew.derivative[k]
        try:
            a = _matrix_value(d, sub, msyms, point)
        except Exception as exc:  # sympy failing to evaluate its own answer: not trusted
            return f"sympy could not evaluate its derivative at {dict(sizes)} ({type(exc).__name__})"
        if a.shape != want.shape:
            return f"at {dict(sizes)} it has shape {a.shape}, the element-wise one {want.shape}"
        b = _numeric(list(want.ravel()), ew.symbols, point).reshape(want.shape)
        scale = max(float(np.nanmax(np.abs(b), initial=0.0)), 1e-12)
        if np.any(np.isnan(a)) or np.any(np.abs(a - b) > AGREE_RTOL * scale):
            j = int(np.nanargmax(np.where(np.isnan(a), np.inf, np.abs(a - b)).ravel()))
            idx = tuple(int(i) for i in np.unravel_index(j, want.shape))
            return (
                f"at {dict(sizes)} it gives {a.ravel()[j]:.6g} where the element-wise derivative is "
                f"{b.ravel()[j]:.6g} (entry {idx}); sympy's d/d{k} = {sp.sstr(d)}"
            )
    return None


def _matrix_value(
    d: Any, sub: Mapping[Any, int], msyms: Mapping[str, Any], point: Mapping[str, np.ndarray]
) -> np.ndarray:
    """sympy's matrix derivative at concrete sizes and a numerical point, without expanding it symbolically
    (``as_explicit`` of an inverse of symbols takes minutes)."""
    import sympy as sp

    repl = {}
    for k, m in msyms.items():
        v = np.asarray(point[k], dtype=float)
        if isinstance(m, sp.MatrixSymbol):
            cm = m.subs(sub)
            repl[cm] = sp.ImmutableMatrix(v.reshape(int(cm.shape[0]), int(cm.shape[1])))
        else:
            repl[m] = sp.Float(float(v))
    val = d.subs(sub).xreplace(repl).doit()
    if isinstance(val, (sp.MatrixBase, sp.MatrixExpr)):
        return np.array(sp.Matrix(val).evalf().tolist(), dtype=float)
    return np.asarray(float(sp.sympify(val).evalf()))
