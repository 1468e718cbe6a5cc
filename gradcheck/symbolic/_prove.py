"""Proofs: the hand-derived gradient, run on symbols, minus the exact one simplifies to zero.

Element-wise (:func:`prove`): the loss and the hand ``grad`` both run on the same symbols;
each entry's difference is simplified after every function application (``exp(..)``,
``tanh(..)``, an undefined ``f(..)`` and its derivative) is replaced by a fresh symbol, so
that ``cancel(together(..))`` works on a rational function: sigmoid identities such as
``s (1 - s) = e / (1 + e)^2`` hold there, where ``expand`` stalls. Before any symbolic
work, the difference is evaluated at the point: a nonzero value disproves at once.

ReLU nets: comparisons in the hand code (masks) and max/abs in the loss are fixed to the
branch active at the point, so the proof holds on that activation pattern (and says so).

Matrix level (:func:`matrix_derivative`): sympy's ``MatrixSymbol`` derivative in symbolic
dimensions, trusted only after it matches the element-wise derivative at two or more
concrete sizes: sympy's matrix calculus has been wrong for element-wise functions
(issues 24725, 27406, 26585, 21062, 17972), so a formula it derives is a conjecture until
checked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .._errors import InvalidArgumentError
from ._array import Context, SymArray
from ._backend import get_backend
from ._graph import reverse, topo, walk_values
from ._oracle import _params, _scalar_expr, call_on_symbols, symbolic_params
from ._oracle import _point as point_of
from ._result import MatrixDerivative, ParamProof, Proof, Status, SymbolicDerivative

__all__ = ["prove", "prove_derivation", "derivation_gradient", "matrix_derivative", "symbolic_activation"]

DEFAULT_MAX_OPS = 4000
"""Operations in one entry's difference above which it is not simplified (n/a): cancel() on a
rational function grows fast with its size; 4000 keeps each entry to about a second."""


def symbolic_activation(name: str = "f") -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """An undefined activation ``f`` and its derivative ``f'``, elementwise on symbolic arrays.

    A derivation written against a pluggable activation, proved with these, is proved for
    every differentiable activation at once (the chain rule, not one function's identity).
    """
    import sympy

    f = sympy.Function(name, real=True)

    def act(z: Any) -> Any:
        return np.frompyfunc(lambda v: f(v), 1, 1)(z).view(SymArray) if isinstance(z, np.ndarray) else f(z)

    def slope(z: Any) -> Any:
        d = lambda v: f(v).fdiff(1)  # noqa: E731
        return np.frompyfunc(d, 1, 1)(z).view(SymArray) if isinstance(z, np.ndarray) else d(z)

    return act, slope


# --------------------------------------------------------------------------- helpers
def _fix_pattern(be: Any, exprs: list, val: dict) -> tuple[list, int]:
    """Replace max/min/abs/piecewise/sign by the branch active at the point (DAG rewrite)."""
    import sympy as sp

    new: dict = {}
    fixed = 0

    def v(x: Any) -> float:
        return val[x] if x in val else float(x)

    def rebuild(node: Any, args: list) -> Any:
        nonlocal fixed
        k = be.kind(node)
        if k in ("Max", "Min"):
            fixed += 1
            pick = max if k == "Max" else min
            i = pick(range(len(node.args)), key=lambda j: v(node.args[j]))
            return args[i]
        if k == "Abs":
            fixed += 1
            return args[0] if v(node.args[0]) >= 0 else -args[0]
        if k == "step":
            fixed += 1
            return sp.Float(v(node)) if node in val else node
        if k == "Piecewise":
            fixed += 1
            for (_expr, cond), a in zip(be.piecewise_pairs(node), args, strict=True):
                if _truth(cond, val):
                    return a.args[0] if hasattr(a, "expr") else a
            return node
        if any(a is not b for a, b in zip(args, node.args, strict=True)):
            return node.func(*args)
        return node

    out = []
    for root in exprs:
        stack = [(root, 0)]
        while stack:
            node, i = stack[-1]
            args = node.args if hasattr(node, "args") else ()
            if i < len(args):
                stack[-1] = (node, i + 1)
                c = args[i]
                if hasattr(c, "args") and c.args and c not in new:
                    stack.append((c, 0))
                continue
            stack.pop()
            if node not in new:
                new[node] = rebuild(node, [new.get(a, a) for a in args]) if args else node
        out.append(new.get(root, root))
    return out, fixed


def _truth(cond: Any, val: dict) -> bool:
    from ._graph import _cond

    return _cond(cond, val)


def _atoms_to_symbols(expr: Any, table: dict) -> Any:
    """Every applied function (and derivative/Subs) becomes a symbol, shared across entries."""
    import sympy as sp

    memo: dict = {}

    def exp_atom(arg: Any) -> Any:
        # exp(sum c_k m_k) = prod exp(|c_k| m_k)^sign(c_k): exp(u) exp(-u) then cancels as a
        # rational function, which a single symbol per exp(...) would hide.
        out = sp.Integer(1)
        for term in sp.Add.make_args(sp.expand(go(arg))):
            c, m = term.as_coeff_Mul()
            key = ("exp", abs(c), m)
            if key not in table:
                table[key] = sp.Symbol(f"_atom{len(table)}", positive=True)
            out *= table[key] ** (1 if c >= 0 else -1)
        return out

    def go(e: Any) -> Any:
        if e in memo:
            return memo[e]
        if isinstance(e, sp.exp):
            r = exp_atom(e.args[0])
        elif isinstance(e, (sp.Function, sp.Subs, sp.Derivative)) or (isinstance(e, sp.Pow) and e.base is sp.E):
            if e not in table:
                table[e] = sp.Symbol(f"_atom{len(table)}", real=True)
            r = table[e]
        elif e.args:
            args = [go(a) for a in e.args]
            r = e.func(*args) if any(a is not b for a, b in zip(args, e.args, strict=True)) else e
        else:
            r = e
        memo[e] = r
        return r

    return go(expr)


def _simplify_zero(d: Any, max_ops: int) -> tuple[bool | None, Any, str]:
    """(True, 0, how) when d simplifies to 0; (False, simplified, how) when not; None: too large."""
    import sympy as sp

    if d == 0:
        return True, d, "identical"
    if _dag_size(d) > max_ops:  # count_ops walks a tree: exponential on shared subexpressions
        return None, d, f"difference has more than max_ops={max_ops} distinct subexpressions"
    table: dict = {}
    r = _atoms_to_symbols(d, table)
    if _dag_size(r) > max_ops:
        return None, d, f"difference has more than max_ops={max_ops} operations"
    e = sp.expand(r)
    if e == 0:
        return True, e, "expand"
    c = sp.cancel(sp.together(e))
    back = {s: (sp.exp(a[1] * a[2]) if isinstance(a, tuple) else a) for a, s in table.items()}
    if c == 0:
        return True, c, "cancel(together(..))"
    c = c.xreplace(back)
    if _dag_size(c) > 200:  # simplify() on large expressions takes minutes
        return False, c, "cancel(together(..))"
    s = sp.simplify(c)
    if s == 0:
        return True, s, "simplify"
    return False, s, "simplify"


def _dag_size(expr: Any) -> int:
    """Distinct subexpressions (the DAG's size), without walking shared ones twice."""
    seen: set = set()
    stack = [expr]
    while stack:
        e = stack.pop()
        if e in seen:
            continue
        seen.add(e)
        stack.extend(a for a in getattr(e, "args", ()) if a not in seen)
    return len(seen)


def _entry_value(expr: Any, ctx: Context) -> float:
    try:
        return ctx.value(expr)
    except Exception:
        return float("nan")


# --------------------------------------------------------------------------- prove
def prove(loss: Callable[..., Any], grad: Callable[..., Any], params: Any, *, max_ops: int = DEFAULT_MAX_OPS,
          max_entries: int = 400) -> Proof:
    """Prove (or disprove) that ``grad`` is the gradient of ``loss``, entry by entry.

    Both run on symbols (``params``: one array or a dict, as in :func:`gradient`; the values
    are the point where comparisons are decided and where a counterexample is evaluated).
    Per parameter: ``proved`` (every entry's difference simplified to 0), ``disproved``
    (``counterexample``: the simplified difference at the worst entry, ``index``), or ``n/a``
    with the reason (too many entries, a difference too large to simplify, code that does not
    run on symbols). ``scope`` says what the proof covers: these shapes, and the activation
    pattern at the point when masks or max/abs were fixed there.
    """
    import sympy as sp

    p, single = _params(params, "prove")
    be = get_backend("sympy")
    n = sum(v.size for v in p.values())
    if n > max_entries:
        reason = f"{n} entries > max_entries={max_entries}"
        return Proof({k: ParamProof(k, Status.NA, reason, entries=v.size) for k, v in p.items()}, "n/a")
    syms = symbolic_params(p, be)
    ctx = Context(backend=be, point=point_of(syms, p), rational=True)
    arg = syms["x"] if single else syms
    try:
        root = _scalar_expr(call_on_symbols(loss, arg, ctx, "prove: loss"), ctx, "prove: loss")
        hand_raw = call_on_symbols(grad, arg, ctx, "prove: grad")
    except Exception as exc:
        reason = f"does not run on symbols: {exc}"
        return Proof({k: ParamProof(k, Status.NA, reason, entries=v.size) for k, v in p.items()}, "n/a")
    hand = {"x": hand_raw} if single else hand_raw
    wrt = [s for arr in syms.values() for s in arr.view(np.ndarray).reshape(-1)]
    graph = topo(be, [root], set(wrt))
    adj = reverse(be, graph, root, wrt)
    notes, results = [], {}
    pattern = bool(ctx.comparisons) or bool(graph.kinks)
    for name, arr in syms.items():
        results[name] = _prove_param(be, name, arr, hand, adj, ctx, max_ops, pattern, notes)
    shapes = ", ".join(f"{k} {v.shape}" for k, v in p.items())
    scope = f"at these shapes ({shapes})"
    if pattern:
        scope += ", on the activation pattern at the point"
    del sp
    return Proof(results, scope, tuple(notes))


def _prove_param(be: Any, name: str, arr: SymArray, hand: Mapping[str, Any], adj: dict, ctx: Context,
                 max_ops: int, pattern: bool, notes: list) -> ParamProof:
    import sympy as sp

    syms = arr.view(np.ndarray)
    if not isinstance(hand, Mapping) or name not in hand:
        return ParamProof(name, Status.NA, "grad returned no entry for this parameter", entries=syms.size)
    h = hand[name]
    h = h.view(np.ndarray) if isinstance(h, np.ndarray) else np.asarray(h, dtype=object)
    if h.shape != syms.shape:
        if h.size == syms.size:
            return ParamProof(name, Status.DISPROVED, f"hand gradient has shape {h.shape}, the parameter "
                              f"{syms.shape}", entries=syms.size)
        return ParamProof(name, Status.DISPROVED, f"hand gradient has shape {h.shape}, the parameter {syms.shape}",
                          entries=syms.size)
    diffs = {}
    for idx in np.ndindex(*syms.shape):
        he = h[idx]
        he = sp.sympify(he.view(np.ndarray)[()] if isinstance(he, np.ndarray) else he)
        diffs[idx] = he - adj.get(syms[idx], sp.Integer(0))
    if pattern:
        graph = topo(be, list(diffs.values()), set())
        val, _ = walk_values(be, graph, ctx.point)
        fixed, count = _fix_pattern(be, list(diffs.values()), val)
        diffs = dict(zip(diffs, fixed, strict=True))
    values = {idx: _entry_value(d, ctx) for idx, d in diffs.items()}
    scale = max([abs(_entry_value(adj.get(syms[i], 0), ctx)) for i in diffs] + [1e-300])
    worst = max(values, key=lambda i: abs(values[i]) if values[i] == values[i] else np.inf)
    if abs(values[worst]) > 1e-9 * scale or values[worst] != values[worst]:
        ok, simplified, _ = _simplify_zero(diffs[worst], min(max_ops, 300))  # a counterexample, kept cheap
        return ParamProof(name, Status.DISPROVED, f"hand - exact = {values[worst]:.6g} at {list(worst)}",
                          counterexample=simplified if ok is False else diffs[worst], index=worst,
                          entries=len(diffs))
    proved, how = 0, set()
    for idx, d in diffs.items():
        ok, simplified, method = _simplify_zero(d, max_ops)
        if ok is None:
            return ParamProof(name, Status.NA, f"entry {list(idx)}: {method}; the difference is "
                              f"{values[idx]:.3g} at the point", entries=len(diffs), proved_entries=proved)
        if ok is False:  # zero at the point, but no simplification shows it: not a disproof
            return ParamProof(name, Status.NA, f"entry {list(idx)} did not simplify to 0 by {method}, and it is "
                              f"{values[idx]:.3g} at the point: unresolved", counterexample=simplified, index=idx,
                              entries=len(diffs), proved_entries=proved)
        proved += 1
        how.add(method)
    return ParamProof(name, Status.PROVED, "by " + ", ".join(sorted(how)), entries=len(diffs),
                      proved_entries=proved)


# --------------------------------------------------------------------------- registry helpers
def derivation_gradient(derivation: Any, problem: Any = None, *, seed: int = 0, **options: Any) -> SymbolicDerivative:
    """The symbolic derivative of a registered derivation's loss at its problem's point."""
    from ._oracle import gradient, jacobian

    problem = derivation.problem(seed) if problem is None else problem
    f, _ = derivation.bind(problem)
    run = gradient if derivation.kind == "grad" else jacobian
    return run(f, problem.params, **options)


def prove_derivation(derivation: Any, problem: Any = None, *, seed: int = 0, **options: Any) -> Proof:
    """:func:`prove` on a registered derivation (``kind="grad"``; Jacobians are n/a)."""
    problem = derivation.problem(seed) if problem is None else problem
    if derivation.kind != "grad":
        return Proof({k: ParamProof(k, Status.NA, "Jacobian derivations: compare jacobian() element-wise",
                                    entries=np.size(v)) for k, v in problem.params.items()}, "n/a")
    f, df = derivation.bind(problem)
    return prove(f, df, problem.params, **options)


# --------------------------------------------------------------------------- matrix level
MatrixBuilder = Callable[..., Any]


def matrix_derivative(build: MatrixBuilder, wrt: str, *, dims: Sequence[str], sizes: Sequence[Mapping[str, int]],
                      hand: MatrixBuilder | None = None) -> MatrixDerivative:
    """Matrix-level derivative of a scalar matrix expression, validated at concrete sizes.

    ``build(M, **dims)`` returns a scalar sympy matrix expression (a 1x1 matrix is taken as
    its entry), where ``M(name, rows, cols)`` makes the ``MatrixSymbol`` (the same name gives
    the same symbol) and each dimension is a positive integer symbol, or an int at a concrete
    size. ``wrt`` names the matrix to differentiate by. ``hand`` (same signature), when given,
    is the matrix-level formula under test. Returns the derivative (shape of ``wrt``,
    gradient layout), ``status`` proved / disproved / n/a, and a ``scope`` that says
    "proved for all sizes" only when sympy derived it in symbolic dimensions and it equals the
    element-wise derivative at every one of at least two sizes.

    A formula parser calls it with ``build`` made from the parsed expression tree.
    """
    import sympy as sp

    if len(sizes) < 2 or len({tuple(sorted(s.items())) for s in sizes}) < 2:
        raise InvalidArgumentError(f"matrix_derivative: sizes={list(sizes)!r}; give two or more distinct sizes "
                                   "(a matrix-level derivative is trusted only after it matches at two)")
    for s in sizes:
        if set(s) != set(dims):
            raise InvalidArgumentError(f"matrix_derivative: size {dict(s)} does not give exactly dims={list(dims)}")
    dsyms = {d: sp.Symbol(d, integer=True, positive=True) for d in dims}

    def run(builder: MatrixBuilder, dimvals: Mapping[str, Any]) -> tuple[Any, dict]:
        made: dict = {}

        def M(name: str, rows: Any, cols: Any) -> Any:
            if name not in made:
                made[name] = sp.MatrixSymbol(name, rows, cols)
            return made[name]

        e = builder(M, **dimvals)
        if getattr(e, "shape", None) == (1, 1):  # x^T A x is a 1x1 matrix: its trace is the scalar
            e = sp.Trace(e)
        return e, made

    try:
        expr, made = run(build, dsyms)
        if wrt not in made:
            raise InvalidArgumentError(f"matrix_derivative: wrt={wrt!r} is not a matrix the builder made "
                                       f"({sorted(made)})")
        D = expr.diff(made[wrt])
        D = D.doit() if hasattr(D, "doit") else D
    except InvalidArgumentError:
        raise
    except Exception as exc:
        return MatrixDerivative(Status.NA, None, "n/a", (), f"sympy could not differentiate at matrix level: "
                                f"{type(exc).__name__}: {exc}")
    H = None
    if hand is not None:
        H, _ = run(hand, dsyms)
    checked, hand_ok = [], True
    for size in sizes:
        ok, hok, why = _check_size(build, hand, run, wrt, D, H, dsyms, size)
        if not ok:
            return MatrixDerivative(Status.DISPROVED, D, f"sympy's matrix-level derivative is wrong at {dict(size)}: "
                                    f"{why}", tuple(checked), why, None)
        checked.append(dict(size))
        hand_ok = hand_ok and bool(hok)
    if hand is not None and not hand_ok:
        return MatrixDerivative(Status.DISPROVED, D, "the hand formula differs from the derivative (element-wise) at "
                                f"{checked}", tuple(checked), "hand formula differs", False)
    scope = (f"proved for all sizes: derived by sympy in symbolic dimensions {', '.join(dims)} and matched "
             f"element-wise at {checked}")
    if hand is not None and not _matrix_zero(H - D):
        scope = (f"the derivative is {scope}; the hand formula equals it element-wise at {checked} only "
                 "(sympy did not reduce hand - derivative to zero at matrix level)")
        return MatrixDerivative(Status.PROVED, D, scope, tuple(checked), "", True)
    if hand is not None:
        scope += "; the hand formula equals it at matrix level"
    return MatrixDerivative(Status.PROVED, D, scope, tuple(checked), "", hand_ok if hand is not None else None)


def _matrix_zero(e: Any) -> bool:
    import sympy as sp

    try:
        z = sp.simplify(sp.expand(e.doit()))
    except Exception:
        return False
    return bool(z == 0 or isinstance(z, sp.ZeroMatrix) or getattr(z, "is_ZeroMatrix", False))


def _explicit_scalar(e: Any) -> Any:
    """The scalar at a concrete size in matrix entries: traces and determinants made explicit."""
    import sympy as sp

    def explicit(m: Any) -> Any:
        return sp.Matrix(m.as_explicit())

    e = e.replace(lambda t: isinstance(t, sp.Trace), lambda t: explicit(t.arg).trace())
    e = e.replace(lambda t: isinstance(t, sp.Determinant), lambda t: explicit(t.arg).det())
    return sp.expand(e.doit())


def _check_size(build: MatrixBuilder, hand: MatrixBuilder | None, run: Callable[..., Any], wrt: str, D: Any,
                H: Any, dsyms: dict, size: Mapping[str, int]) -> tuple[bool, bool | None, str]:
    import sympy as sp

    expr_c, made_c = run(build, size)
    X = made_c[wrt]
    scalar = _explicit_scalar(expr_c)
    sub = {dsyms[k]: v for k, v in size.items()}
    # at concrete dimensions MatrixSymbol('A', m, n) becomes the MatrixSymbol('A', 3, 2) made_c holds
    Dc = D.subs(sub).doit()
    Dc = sp.Matrix(Dc.as_explicit() if hasattr(Dc, "as_explicit") else Dc)
    want = sp.Matrix(X.shape[0], X.shape[1], lambda i, j: sp.diff(scalar, X[i, j]))
    if Dc.shape != want.shape:
        return False, None, f"shape {Dc.shape}, element-wise {want.shape}"
    delta = sp.simplify(Dc - want)
    if delta != sp.zeros(*want.shape):
        return False, None, "entries differ"
    hok = None
    if hand is not None:
        Hc, _ = run(hand, size)
        Hc = sp.Matrix(Hc.as_explicit()) if hasattr(Hc, "as_explicit") else sp.Matrix(Hc)
        if Hc.shape == (want.shape[1], want.shape[0]) and Hc.shape != want.shape:
            hok = False
        else:
            hok = Hc.shape == want.shape and sp.simplify(Hc - want) == sp.zeros(*want.shape)
    return True, hok, ""
