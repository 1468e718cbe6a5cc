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
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core._errors import InvalidArgumentError
from ._array import Context, SymArray
from ._backend import get_backend
from ._graph import reverse, topo, walk_values
from ._oracle import _params, _refuse_frozen, _scalar_expr, call_on_symbols, symbolic_params
from ._oracle import _point as point_of
from ._result import MatrixDerivative, ParamProof, Proof, Status, SymbolicDerivative

__all__ = ["prove", "prove_derivation", "disprove", "disprove_derivation", "derivation_gradient",
           "matrix_derivative", "symbolic_activation", "DEFAULT_MAX_DISPROVE_ENTRIES"]

DEFAULT_MAX_DISPROVE_ENTRIES = 2000
"""Parameter entries above which disprove() answers n/a: building the exact derivative as sympy
expressions for the interval check is the cost, seconds at this size."""
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


MAX_SIMPLIFY_NODES = 200
"""Distinct subexpressions above which ``simplify()`` is not tried on what ``cancel`` left: on
larger expressions it took minutes."""


def _simplify_zero(d: Any, max_ops: int, *, max_tree: int | None = None, atoms: bool = True,
                   deadline: float | None = None) -> tuple[bool | None, Any, str]:
    """(True, 0, how) when d simplifies to 0; (False, simplified, how) when not; None: too large.

    The one zero test of both symbolic oracles. ``atoms`` (``prove``) first replaces each
    function application by a symbol (exp of a sum by a product of atoms) and expands, so that
    sigmoid identities cancel as rational functions. Without it (``gradcheck verify``, whose
    entries are sympy's own derivatives of a formula written out in full) ``cancel`` takes each
    exp(..) as one generator: on a 2-layer sigmoid net that proved 9 entries in 0.1 s where the
    atom route ran past 8 s per entry. ``max_tree`` bounds the expression written out as a tree,
    the size ``cancel`` works on; ``deadline`` (``time.monotonic()``) stops before ``simplify``.
    """
    import time

    import sympy as sp

    if d == 0:
        return True, d, "identical"
    if _dag_size(d) > max_ops:  # count_ops walks a tree: exponential on shared subexpressions
        return None, d, f"difference has more than max_ops={max_ops} distinct subexpressions"
    if max_tree is not None and _dag_size(d, tree=True) > max_tree:
        return None, d, f"difference written out has more than {max_tree} nodes"
    if not atoms:
        try:
            c = sp.cancel(sp.together(d))
            if c == 0:
                return True, c, "cancel(together(..))"
            if _dag_size(c) > MAX_SIMPLIFY_NODES or (deadline is not None and time.monotonic() > deadline):
                return False, c, "cancel(together(..))"
            s = sp.simplify(c)
        except Exception:  # sympy's simplifier raising is "not shown", never a verdict
            return False, d, "sympy raised"
        return s == 0, s, "simplify"
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
    if _dag_size(c) > MAX_SIMPLIFY_NODES:  # simplify() on large expressions takes minutes
        return False, c, "cancel(together(..))"
    s = sp.simplify(c)
    if s == 0:
        return True, s, "simplify"
    return False, s, "simplify"


def _dag_size(expr: Any, *, tree: bool = False) -> int:
    """Distinct subexpressions (the DAG's size), without walking shared ones twice; with ``tree``,
    the size of the expression written out (each occurrence counted, as ``preorder_traversal``
    would, but in time linear in the DAG)."""
    size: dict = {}
    stack = [expr]
    while stack:
        e = stack[-1]
        if e in size:
            stack.pop()
            continue
        args = getattr(e, "args", ())
        todo = [a for a in args if a not in size]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        size[e] = 1 + sum(size[a] for a in args)
    return size[expr] if tree else len(size)


def _entry_value(expr: Any, ctx: Context) -> float:
    try:
        return ctx.value(expr)
    except Exception:
        return float("nan")


def _values(be: Any, exprs: list, ctx: Context) -> list[float]:
    """Float values at the point of many expressions, each shared node evaluated once.

    ``ctx.value`` per entry substitutes into each expression as a tree (exponential in the
    sharing of a reverse-mode derivative); the DAG walk is linear. Code it cannot evaluate
    (an undefined activation ``f``) falls back to ``ctx.value``, NaN where that fails too.
    """
    try:
        graph = topo(be, exprs, set())
        val, _ = walk_values(be, graph, ctx.point)
        return [float(val[e]) if e in val else float(e) for e in exprs]
    except Exception:
        return [_entry_value(e, ctx) for e in exprs]


def _exact_number(x: Any) -> Any:
    """A hand-gradient entry as sympy: floats the hand code computed are taken as the exact binary value."""
    import sympy as sp

    if isinstance(x, np.ndarray):
        x = x.reshape(-1)[0] if x.size == 1 else x
    if isinstance(x, (bool, np.bool_)):
        return sp.Integer(int(x))
    if isinstance(x, (int, np.integer)):
        return sp.Integer(int(x))
    if isinstance(x, (float, np.floating)):
        return sp.Rational(float(x)) if np.isfinite(x) else sp.nan
    return sp.sympify(x)


def _enclose(be: Any, expr: Any, point: Mapping[Any, float], digits: int = 60) -> tuple[Any, Any] | None:
    """An interval (mpmath.iv, outward rounding) holding the exact value of ``expr`` at ``point``.

    The point's floats are exact binary fractions and the constants exact rationals, so an
    interval that excludes 0 proves the exact value nonzero. None when ``expr`` has a
    function interval arithmetic here does not cover.
    """
    import mpmath
    import sympy as sp

    iv = mpmath.iv
    saved = iv.prec
    iv.dps = digits
    try:
        graph = topo(be, [expr], set())
        val: dict = {}

        def num(x: Any) -> Any:
            x = sp.sympify(x)
            if x.is_Integer:
                return iv.mpf(int(x))
            if x.is_Rational:
                return iv.mpf(int(x.p)) / iv.mpf(int(x.q))
            if x.is_Float:
                return iv.mpf(mpmath.mpf(x))
            if x is sp.E:
                return iv.e
            if x is sp.pi:
                return iv.pi
            raise TypeError(x)

        def get(x: Any) -> Any:
            return val[x] if x in val else num(x)

        for node in graph.order:
            k = be.kind(node)
            ch = [get(c) for c in be.children(node)] if k not in ("sym", "num") else []
            if k == "sym":
                v = iv.mpf(point[node])
            elif k == "num":
                v = num(node)
            elif k == "Add":
                v = sum(ch[1:], ch[0])
            elif k == "Mul":
                v = ch[0]
                for c in ch[1:]:
                    v = v * c
            elif k == "Pow":
                e = node.args[1]
                if e.is_Integer:
                    v = ch[0] ** int(e)
                elif e == sp.Rational(1, 2):
                    v = iv.sqrt(ch[0])
                elif e == sp.Rational(-1, 2):
                    v = 1 / iv.sqrt(ch[0])
                else:
                    v = iv.exp(ch[1] * iv.log(ch[0]))
            elif k == "exp":
                v = iv.exp(ch[0])
            elif k == "log":
                v = iv.log(ch[0])
            elif k == "tanh":
                v = 1 - 2 / (iv.exp(2 * ch[0]) + 1)
            elif k == "Abs":
                v = abs(ch[0])
            else:
                return None
            val[node] = v
        out = get(expr)
        return mpmath.mpf(out.a), mpmath.mpf(out.b)
    except (TypeError, ValueError, KeyError, ZeroDivisionError):
        return None
    finally:
        iv.prec = saved


def _counterexample(d: Any, max_nodes: int = 40) -> Any:
    """The difference in a shorter form when it is small (cancel over its atoms), else as it is.

    No ``simplify()``: on a softmax difference it took 150 s of a 166 s disproof; and cancel()
    alone took 3 s on a 100-node sigmoid difference, so only small ones are cancelled.
    """
    import sympy as sp

    if _dag_size(d) > max_nodes:
        return d
    table: dict = {}
    c = sp.cancel(sp.together(_atoms_to_symbols(d, table)))
    back = {s: (sp.exp(a[1] * a[2]) if isinstance(a, tuple) else a) for a, s in table.items()}
    return c.xreplace(back)


# --------------------------------------------------------------------------- prove
DEFAULT_SCREEN_RTOL = 1e-9
"""An entry whose float64 difference exceeds 1e-9 x the largest exact entry is a disproof candidate
(then certified exactly): float evaluation of a correct formula differs by ~1e-16 of that scale."""


def prove(loss: Callable[..., Any], grad: Callable[..., Any], params: Any, *, max_ops: int = DEFAULT_MAX_OPS,
          max_entries: int = 400) -> Proof:
    """Prove (or disprove) that ``grad`` is the gradient of ``loss``, entry by entry.

    Both run on symbols (``params``: one array or a dict, as in :func:`gradient`; the values
    are the point where comparisons are decided and where a counterexample is evaluated).
    Per parameter: ``proved`` (every entry's difference simplified to 0), ``disproved``
    (``counterexample``: the difference at the worst entry, ``index``, and ``certificate``:
    an interval holding its exact value at the point that excludes 0), or ``n/a`` with the
    reason (too many entries, a difference too large to simplify, code that does not run on
    symbols). ``scope`` says what the proof covers: these shapes, and the activation pattern
    at the point when masks or max/abs were fixed there.
    """
    return _prove(loss, grad, params, max_ops=max_ops, max_entries=max_entries, disprove_only=False,
                  jacobian=None, what="prove")


def disprove(loss: Callable[..., Any], grad: Callable[..., Any], params: Any, *,
             max_entries: int = DEFAULT_MAX_DISPROVE_ENTRIES) -> Proof:
    """The counterexample half of :func:`prove`: look for an entry where ``grad`` is provably wrong.

    A parameter is ``disproved`` when some entry of hand - exact is nonzero at the point, shown
    by interval arithmetic on the exact difference (exact rational inputs and constants;
    ``certificate`` gives the interval); the worst entry is reported as in :func:`prove`.
    Parameters without such an entry are ``n/a`` ("not disproved"): no proof is attempted,
    which is what makes this fast enough for a test suite (a proof simplifies every entry).
    """
    return _prove(loss, grad, params, max_ops=DEFAULT_MAX_OPS, max_entries=max_entries, disprove_only=True,
                  jacobian=None, what="disprove")


def _na_proof(p: Mapping[str, np.ndarray], reason: str) -> Proof:
    return Proof({k: ParamProof(k, Status.NA, reason, entries=v.size) for k, v in p.items()}, "n/a")


def _prove(loss: Callable[..., Any], grad: Callable[..., Any], params: Any, *, max_ops: int, max_entries: int,
           disprove_only: bool, jacobian: Mapping[str, Any] | None, what: str) -> Proof:
    for opt, v in (("max_ops", max_ops), ("max_entries", max_entries)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise InvalidArgumentError(f"{what}: {opt}={v!r}; expected a positive integer")
    p, single = _params(params, what, "grad" if jacobian is None else "jacobian")
    be = get_backend("sympy")
    n = sum(v.size for v in p.values())
    if n > max_entries:
        return _na_proof(p, f"{n} entries > max_entries={max_entries}")
    syms = symbolic_params(p, be, single)
    ctx = Context(backend=be, point=point_of(syms, p), rational=True)
    arg = next(iter(syms.values())) if single else syms
    try:
        value = call_on_symbols(loss, arg, ctx, f"{what}: loss")
        if jacobian is None:
            roots, out_shape = [_scalar_expr(value, ctx, f"{what}: loss")], ()
        else:
            out = value.view(np.ndarray) if isinstance(value, np.ndarray) else np.asarray(value, dtype=object)
            roots, out_shape = list(out.reshape(-1)), out.shape
            _refuse_frozen(ctx, f"{what}: loss")
        ctx.floats.clear()  # the loss's own returned float(), recovered above
        hand_raw = call_on_symbols(grad, arg, ctx, f"{what}: grad")
        _refuse_frozen(ctx, f"{what}: grad")  # a frozen hand entry is a constant: no proof either way
    except Exception as exc:
        return _na_proof(p, f"does not run on symbols: {exc}")
    hand = {next(iter(p)): hand_raw} if single else hand_raw
    wrt = [s for arr in syms.values() for s in arr.view(np.ndarray).reshape(-1)]
    graph = topo(be, roots, set(wrt))
    adjs = [reverse(be, graph, r, wrt) for r in roots]
    notes: list[str] = []
    pattern = bool(ctx.comparisons) or bool(graph.kinks)
    job = _Job(be, ctx, adjs, tuple(out_shape), jacobian, max_ops, pattern, disprove_only)
    results = {name: _prove_param(job, name, arr, hand) for name, arr in syms.items()}
    shapes = ", ".join(f"{k} {v.shape}" for k, v in p.items())
    scope = f"at these shapes ({shapes})"
    if pattern:
        scope += ", on the activation pattern at the point"
    return Proof(results, scope, tuple(notes))


@dataclass(frozen=True)
class _Job:
    """What every parameter's proof shares."""

    be: Any
    ctx: Context
    adjs: list
    out_shape: tuple[int, ...]
    jacobian: Mapping[str, Any] | None
    max_ops: int
    pattern: bool
    disprove_only: bool


def _hand_array(job: _Job, name: str, h: Any, pshape: tuple[int, ...]) -> np.ndarray | str:
    """The hand derivative as an object array of shape out_shape + pshape, or why it is not one."""
    h = h.view(np.ndarray) if isinstance(h, np.ndarray) else np.asarray(h, dtype=object)
    want = job.out_shape + pshape
    if job.jacobian is not None:
        from ..core._errors import ShapeMismatchError
        from ..core._layout import to_numerator

        try:
            h = to_numerator(h, job.out_shape, pshape, layout=job.jacobian.get("layout", "numerator"),
                             order=job.jacobian.get("order"), where=f"Jacobian for parameter {name!r}")
        except ShapeMismatchError as exc:
            return str(exc)
    if h.shape != want:
        return f"hand derivative has shape {h.shape}, expected {want}"
    return h


def _prove_param(job: _Job, name: str, arr: SymArray, hand: Mapping[str, Any]) -> ParamProof:
    be, ctx = job.be, job.ctx
    syms = arr.view(np.ndarray)
    if not isinstance(hand, Mapping) or name not in hand:
        return ParamProof(name, Status.NA, "grad returned no entry for this parameter", entries=syms.size)
    h = _hand_array(job, name, hand[name], syms.shape)
    if isinstance(h, str):
        return ParamProof(name, Status.DISPROVED, h, entries=syms.size)
    k = len(job.out_shape)
    diffs, exact = {}, []
    for idx in np.ndindex(*h.shape):
        r = int(np.ravel_multi_index(idx[:k], job.out_shape)) if k else 0
        e = job.adjs[r].get(syms[idx[k:]], 0)
        diffs[idx] = _exact_number(h[idx]) - e
        exact.append(e)
    if job.pattern:
        dag = topo(be, list(diffs.values()), set())
        val, _ = walk_values(be, dag, ctx.point)
        fixed, _count = _fix_pattern(be, list(diffs.values()), val)
        diffs = dict(zip(diffs, fixed, strict=True))
    both = _values(be, list(diffs.values()) + exact, ctx)
    values = dict(zip(diffs, both[: len(diffs)], strict=True))
    scale = max([abs(v) for v in both[len(diffs):] if v == v] + [1e-300])
    finite = [i for i in values if values[i] == values[i]]
    worst = max(finite, key=lambda i: abs(values[i]), default=None)
    if worst is not None and abs(values[worst]) > DEFAULT_SCREEN_RTOL * scale:
        return _disproved(job, name, diffs[worst], values[worst], worst, len(diffs))
    if job.disprove_only:
        unknown = len(diffs) - len(finite)
        return ParamProof(name, Status.NA, f"not disproved: |hand - exact| <= {DEFAULT_SCREEN_RTOL:g} x max|exact| "
                          f"at every entry at the point" + (f" ({unknown} entries could not be evaluated)" if unknown
                                                            else "") + "; no proof attempted (use prove)",
                          entries=len(diffs))
    proved, how = 0, set()
    for idx, d in diffs.items():
        ok, simplified, method = _simplify_zero(d, job.max_ops)
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


def _disproved(job: _Job, name: str, d: Any, value: float, index: tuple[int, ...], entries: int) -> ParamProof:
    """A disproof at ``index``: the float difference, certified by an interval that excludes 0."""
    import mpmath

    box = _enclose(job.be, d, job.ctx.point)
    certificate = ""
    if box is not None and (box[0] > 0 or box[1] < 0):
        certificate = (f"hand - exact lies in [{mpmath.nstr(box[0], 12)}, {mpmath.nstr(box[1], 12)}] at the point "
                       "(its exact binary values; interval arithmetic at 60 digits): not 0")
    reason = f"hand - exact = {value:.6g} at {list(index)}" + ("" if certificate else
                                                               " (float64 evidence; no interval certificate)")
    return ParamProof(name, Status.DISPROVED, reason, counterexample=_counterexample(d), index=index,
                      entries=entries, certificate=certificate, interval=box if certificate else None)


# --------------------------------------------------------------------------- registry helpers
def derivation_gradient(derivation: Any, problem: Any = None, *, seed: int = 0, **options: Any) -> SymbolicDerivative:
    """The symbolic derivative of a registered derivation's loss at its problem's point."""
    from ._oracle import gradient, jacobian

    problem = derivation.problem(seed) if problem is None else problem
    f, _ = derivation.bind(problem)
    run = gradient if derivation.kind == "grad" else jacobian
    return run(f, problem.params, **options)


def prove_derivation(derivation: Any, problem: Any = None, *, seed: int = 0, **options: Any) -> Proof:
    """:func:`prove` on a registered derivation; a Jacobian derivation is compared entry by entry
    in numerator layout (its ``jacobian_options`` say the layout its hand Jacobian uses)."""
    return _on_derivation(derivation, problem, seed, disprove_only=False, options=options)


def disprove_derivation(derivation: Any, problem: Any = None, *, seed: int = 0, **options: Any) -> Proof:
    """:func:`disprove` on a registered derivation (gradients and Jacobians, as :func:`prove_derivation`)."""
    return _on_derivation(derivation, problem, seed, disprove_only=True, options=options)


def _on_derivation(derivation: Any, problem: Any, seed: int, *, disprove_only: bool, options: dict) -> Proof:
    problem = derivation.problem(seed) if problem is None else problem
    f, df = derivation.bind(problem)
    jac = None if derivation.kind == "grad" else dict(derivation.jacobian_options)
    what = "disprove" if disprove_only else "prove"
    unknown = set(options) - ({"max_entries"} if disprove_only else {"max_entries", "max_ops"})
    if unknown:
        raise InvalidArgumentError(f"{what}_derivation: unknown option(s) {sorted(unknown)}")
    return _prove(f, df, problem.params, max_ops=options.get("max_ops", DEFAULT_MAX_OPS),
                  max_entries=options.get("max_entries", DEFAULT_MAX_DISPROVE_ENTRIES if disprove_only else 400),
                  disprove_only=disprove_only, jacobian=jac, what=what)


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

    ``gradcheck verify`` (formula/) shares its differentiation (:func:`_matrix_diff`) and its
    zero test (:func:`_matrix_zero`), but checks sympy's answer at concrete sizes numerically
    against its own element-wise derivative (reused from its element-wise oracle), not by
    ``as_explicit``, which takes minutes on an inverse of symbols.
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

        return _scalar_form(builder(M, **dimvals)), made

    try:
        expr, made = run(build, dsyms)
        if wrt not in made:
            raise InvalidArgumentError(f"matrix_derivative: wrt={wrt!r} is not a matrix the builder made "
                                       f"({sorted(made)})")
        D = _matrix_diff(expr, made[wrt])
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
        ok, hok, why = _check_size(build, hand, run, wrt, D, dsyms, size)
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


def _scalar_form(e: Any) -> Any:
    """A scalar matrix expression as sympy differentiates it: x^T A x is a 1x1 matrix, and the
    derivative of its trace is a gradient where the 1x1 matrix's would be a 4-D array."""
    import sympy as sp

    return sp.Trace(e) if getattr(e, "shape", None) == (1, 1) else e


def _matrix_diff(expr: Any, X: Any) -> Any:
    """sympy's matrix-level derivative of a scalar expression by the ``MatrixSymbol`` (or
    scalar symbol) ``X``, evaluated (``doit``); not yet trusted: see :func:`matrix_derivative`."""
    D = _scalar_form(expr).diff(X)
    return D.doit() if hasattr(D, "doit") else D


def _matrix_zero(e: Any) -> bool:
    """Is a matrix-level expression (or a scalar one, such as a trace) zero for all sizes?

    ``expand`` after ``doit`` decides the polynomial identities of matrix products (most
    claims); ``simplify`` is tried only on what that leaves. Used by :func:`matrix_derivative`
    and by ``gradcheck verify``'s matrix-level oracle; sympy raising is "not shown", never a verdict.
    """
    import sympy as sp

    def zero(z: Any) -> bool:
        return bool(z == 0 or isinstance(z, sp.ZeroMatrix) or getattr(z, "is_ZeroMatrix", False))

    try:
        z = sp.expand(e.doit() if hasattr(e, "doit") else e)
        return zero(z) or zero(sp.simplify(z))
    except Exception:
        return False


def _explicit_scalar(e: Any) -> Any:
    """The scalar at a concrete size in matrix entries: traces and determinants made explicit."""
    import sympy as sp

    def explicit(m: Any) -> Any:
        return sp.Matrix(m.as_explicit())

    e = e.replace(lambda t: isinstance(t, sp.Trace), lambda t: explicit(t.arg).trace())
    e = e.replace(lambda t: isinstance(t, sp.Determinant), lambda t: explicit(t.arg).det())
    return sp.expand(e.doit())


def _check_size(build: MatrixBuilder, hand: MatrixBuilder | None, run: Callable[..., Any], wrt: str, D: Any,
                dsyms: dict, size: Mapping[str, int]) -> tuple[bool, bool | None, str]:
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
    if not _entries_zero(Dc - want):
        return False, None, "entries differ"
    hok = None
    if hand is not None:
        Hc, _ = run(hand, size)
        Hc = sp.Matrix(Hc.as_explicit()) if hasattr(Hc, "as_explicit") else sp.Matrix(Hc)
        if Hc.shape == (want.shape[1], want.shape[0]) and Hc.shape != want.shape:
            hok = False
        else:
            hok = Hc.shape == want.shape and _entries_zero(Hc - want)
    return True, hok, ""


def _entries_zero(M: Any) -> bool:
    """Every entry of an explicit matrix is 0: expand() first (polynomial entries, the common case,
    in milliseconds), simplify() only on what expand leaves (it was half of a 20 s check)."""
    import sympy as sp

    return all(sp.expand(e) == 0 or sp.simplify(e) == 0 for e in M)
