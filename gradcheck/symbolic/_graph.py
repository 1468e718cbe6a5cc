"""Differentiation on the expression DAG: reverse mode, stable forms, one-sided slopes.

Reverse mode (symbolic backpropagation) walks the expression once from the output and
accumulates, for every node, the sum of (parent's adjoint x local partial); the adjoint
of each parameter symbol is its exact derivative. Calling ``diff`` once per parameter
would walk the whole expression once per parameter (quadratic in the net's size) and
repeat shared subexpressions; this walks each distinct node once.

Local partials (the kink convention, documented in docs/symbolic.md):

* ``Max(a_0, ..., a_k)``: 1 for the first argument (in the node's order) that attains the
  maximum, 0 for the others. The backend orders constants first, so ``Max(0, z)``, the
  ReLU, has slope 0 at ``z = 0``, like the hand-written mask ``(z > 0)``. ``Min`` alike.
* ``Abs(a)``: ``sign(a)``, 0 at ``a = 0``. ``sign``, ``Heaviside``, ``floor``: 0.
* ``Piecewise``: the derivative of the branch that is active (conditions are constant).

No ``Heaviside``/``DiracDelta`` appears, so nothing evaluates to sympy's 1/2 at a tie.
Where an argument sits on its tie at the point, :func:`one_sided` gives the right and left
derivatives by forward mode with the directional rules (``max(0, dz)`` at ``z = 0``).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._backend import Backend

__all__ = ["Graph", "topo", "reverse", "stabilize", "Shift", "walk_values", "one_sided", "AtTies", "KINK_KINDS"]

KINK_KINDS = ("Max", "Min", "Abs", "Piecewise")
_EPS = 2.0**-52


def _is_node(x: Any) -> bool:
    # on the type: symengine builds a fresh tuple for every .args access (hasattr(x, "args") does it too)
    t = type(x)
    node = _NODE_TYPES.get(t)
    if node is None:
        node = _NODE_TYPES[t] = hasattr(t, "args") and not issubclass(t, (int, float))
    return node


_NODE_TYPES: dict[type, bool] = {}


def _all_children(be: Backend, node: Any) -> tuple:
    """Children whose values matter: a Piecewise's branches and its conditions' sides."""
    if be.kind(node) != "Piecewise":
        return be.children(node)
    out: list = []
    for expr, cond in be.piecewise_pairs(node):
        out.append(expr)
        out.extend(_relational_sides(cond))
    return tuple(out)


def _relational_sides(cond: Any) -> list:
    name = type(cond).__name__
    if name in _RELATIONALS:
        return list(cond.args)
    if name in ("And", "Or", "Not"):
        return [s for c in cond.args for s in _relational_sides(c)]
    return []


_RELATIONALS = {
    "StrictGreaterThan": operator.gt,
    "GreaterThan": operator.ge,
    "StrictLessThan": operator.lt,
    "LessThan": operator.le,
    "Equality": operator.eq,
    "Unequality": operator.ne,
}


@dataclass
class Graph:
    """Post-order of the distinct nodes below some roots, and which depend on ``wrt``."""

    order: list
    dep: dict
    kinks: list = field(default_factory=list)
    kinds: dict = field(default_factory=dict)
    """node -> ``be.kind(node)``, and node -> ``be.children(node)``: computed once here, reused by
    every later walk (symengine builds a fresh ``args`` tuple on each access)."""
    children: dict = field(default_factory=dict)


def topo(be: Backend, roots: Iterable[Any], wrt: set) -> Graph:
    dep: dict = {}
    order: list = []
    kinks: list = []
    kinds: dict = {}
    children: dict = {}
    for root in roots:
        if not _is_node(root) or root in dep:
            continue
        stack = [(root, _all_children(be, root), 0)]
        while stack:
            node, ch, i = stack[-1]
            if i < len(ch):
                stack[-1] = (node, ch, i + 1)
                c = ch[i]
                if _is_node(c) and c not in dep:
                    stack.append((c, _all_children(be, c), 0))
                continue
            stack.pop()
            if node in dep:
                continue
            k = kinds[node] = be.kind(node)
            children[node] = ch if k != "Piecewise" else be.children(node)
            if k == "sym":
                d = node in wrt
            elif k == "num":
                d = False
            else:
                d = any(dep.get(c, False) for c in ch)
                if d and k in KINK_KINDS:
                    kinks.append(node)
            dep[node] = d
            order.append(node)
    return Graph(order, dep, kinks, kinds, children)


# --------------------------------------------------------------------------- reverse mode
def _first_attains(be: Backend, args: Sequence[Any], i: int, greater: Any) -> Any:
    """Condition: argument i attains the max (min) and no earlier argument does."""
    parts = []
    for j, a in enumerate(args):
        if j == i:
            continue
        parts.append(greater(args[i], a, strict=j < i))
    return parts[0] if len(parts) == 1 else be.And(*parts)


def _gt(a: Any, b: Any, strict: bool) -> Any:
    return a > b if strict else a >= b


def _lt(a: Any, b: Any, strict: bool) -> Any:
    return a < b if strict else a <= b


def partial(be: Backend, node: Any, kind: str, i: int, children: tuple) -> Any:
    """d node / d children[i] as an expression (None: identically 1; 0: no contribution)."""
    if kind == "Add":
        return None
    if kind == "Mul":
        return be.Mul(*(c for j, c in enumerate(children) if j != i))
    if kind == "Pow":
        base, e = children
        return e * base ** (e - 1) if i == 0 else node * be.log(base)
    if kind == "exp":
        return node
    if kind == "log":
        return 1 / children[0]
    if kind == "tanh":
        return 1 - node**2
    if kind in ("Max", "Min"):
        cond = _first_attains(be, children, i, _gt if kind == "Max" else _lt)
        return be.Piecewise((1, cond), (0, True))
    if kind == "Abs":
        return be.sign(children[0])
    if kind == "step":
        return 0
    if kind == "Piecewise":
        pairs = be.piecewise_pairs(node)
        pieces = [(1 if j == i else 0, cond) for j, (_, cond) in enumerate(pairs)]
        if not be.is_true(pairs[-1][1]):
            pieces.append((0, True))
        return be.Piecewise(*pieces)
    return be.fdiff(node, i)


def reverse(be: Backend, graph: Graph, root: Any, wrt: Sequence[Any]) -> dict:
    """Adjoint of every ``wrt`` symbol under ``root`` (symbols not reached are absent)."""
    out: dict = {}
    if not _is_node(root) or not graph.dep.get(root, False):
        return out
    contrib: dict = {root: [1]}
    wanted = set(wrt)
    for node in reversed(graph.order):
        terms = contrib.pop(node, None)
        if terms is None:
            continue
        adj = terms[0] if len(terms) == 1 else be.Add(*terms)
        kind = be.kind(node)
        if kind == "sym":
            if node in wanted:
                out[node] = adj
            continue
        children = be.children(node)
        for i, c in enumerate(children):
            if not graph.dep.get(c, False):
                continue
            p = partial(be, node, kind, i, children)
            if p is None:
                term = adj
            elif p == 0:
                continue
            else:
                term = adj * p
            contrib.setdefault(c, []).append(term)
    return out


# --------------------------------------------------------------------------- stable forms
@dataclass(frozen=True)
class Shift:
    """A log-sum-exp shift symbol: at evaluation it takes max(args) (the derivative ignores it)."""

    symbol: Any
    args: tuple
    level: int


def _exp_like(be: Backend, term: Any) -> Any | None:
    """``a`` with term = exp(a) (or c exp(a), or c > 0 as exp(log c)); None otherwise."""
    a = be.exp_arg(term)
    if a is not None:
        return a
    if be.kind(term) == "num":
        try:
            v = float(term)
        except (TypeError, ValueError):
            return None
        return be.log(term) if v > 0 else None
    if be.kind(term) == "Mul":
        nums = [c for c in term.args if be.kind(c) == "num"]
        exps = [c for c in term.args if be.exp_arg(c) is not None]
        if len(nums) == 1 and len(exps) == 1 and len(term.args) == 2 and float(nums[0]) > 0:
            return be.exp_arg(exps[0]) + be.log(nums[0])
    return None


def stabilize(be: Backend, roots: Sequence[Any]) -> tuple[list, list[Shift]]:
    """Rewrite log(sum exp) and (sum exp)^-n with a max shift, so +-800 gives no inf/inf.

    ``log(sum_i exp(a_i))`` becomes ``m + log(sum_i exp(a_i - m))`` and ``(sum exp)^n``
    (n < 0) becomes ``exp(n m) (sum exp(a_i - m))^n``, with a fresh symbol ``m`` that takes
    the value max(a_i) at evaluation. The identity holds for every m, so the derivative
    with m held fixed is exact. Products of exponentials merge into one, so softmax's
    ``exp(z_k) exp(-m)`` is evaluated as ``exp(z_k - m)``.
    """
    shifts: list[Shift] = []
    levels: dict = {}
    new: dict = {}

    def lse_parts(S: Any) -> tuple[Any, Any] | None:
        if be.kind(S) != "Add":
            return None
        args = [_exp_like(be, t) for t in S.args]
        if any(a is None for a in args) or not any(be.exp_arg(t) is not None for t in S.args):
            return None
        m = be.symbol(f"_gradcheck_shift{len(shifts)}")
        lvl = 1 + max((levels[s] for a in args for s in getattr(a, "free_symbols", ()) if s in levels), default=0)
        levels[m] = lvl
        shifts.append(Shift(m, tuple(args), lvl))
        return m, be.Add(*[be.exp(a - m) for a in args])

    def rebuild(node: Any, old: tuple) -> Any:
        args = [new.get(a, a) for a in old]  # ``new`` holds only the nodes that changed
        changed = any(a is not b for a, b in zip(args, old, strict=True))
        out = node.func(*args) if changed else node
        k = be.kind(out) if _is_node(out) else "num"
        if k == "log":
            parts = lse_parts(out.args[0])
            if parts is not None:
                return parts[0] + be.log(parts[1])
        elif k == "Pow" and be.kind(out.args[1]) == "num" and be.exp_arg(out) is None:
            try:
                n = float(out.args[1])
            except (TypeError, ValueError):
                n = 0.0
            if n < 0:
                parts = lse_parts(out.args[0])
                if parts is not None:
                    return be.exp(out.args[1] * parts[0]) * parts[1] ** out.args[1]
        elif k == "Mul" and be.name == "sympy":
            exps = [a for a in out.args if be.exp_arg(a) is not None]
            if len(exps) >= 2:
                rest = [a for a in out.args if be.exp_arg(a) is None]
                return be.Mul(*rest, be.exp(be.Add(*[be.exp_arg(e) for e in exps])))
        return out

    done: set = set()
    for root in roots:
        if not _is_node(root) or root in done:
            continue
        stack = [(root, root.args, 0)]  # args kept: symengine rebuilds the tuple on every access
        while stack:
            node, args, i = stack[-1]
            if i < len(args):
                stack[-1] = (node, args, i + 1)
                c = args[i]
                if _is_node(c) and c not in done:
                    cargs = c.args
                    if cargs:
                        stack.append((c, cargs, 0))
                continue
            stack.pop()
            if node not in done:
                done.add(node)
                out = rebuild(node, args)
                if out is not node:
                    new[node] = out
    return [new.get(r, r) for r in roots], shifts


# --------------------------------------------------------------------------- numeric walks
def _safe(f: Any, *a: float) -> float:
    try:
        return f(*a)
    except OverflowError:
        return math.inf
    except (ValueError, ZeroDivisionError):
        return math.nan


def _cond(cond: Any, val: dict) -> bool:
    name = type(cond).__name__
    if name in _RELATIONALS:
        lhs, rhs = (val[a] if _is_node(a) and a in val else float(a) for a in cond.args)
        return bool(_RELATIONALS[name](lhs, rhs))
    if name == "And":
        return all(_cond(c, val) for c in cond.args)
    if name == "Or":
        return any(_cond(c, val) for c in cond.args)
    if name == "Not":
        return not _cond(cond.args[0], val)
    return bool(cond == True)  # noqa: E712 (BooleanTrue / symengine true)


def _num(be: Backend, node: Any) -> float:
    try:
        return float(node)
    except (TypeError, ValueError):
        return float(be.to_sympy(node).evalf())


def walk_values(be: Backend, graph: Graph, point: dict) -> tuple[dict, dict]:
    """Float value and magnitude (sum of |terms|, product of |factors|) of every node."""
    val: dict = {}
    mag: dict = {}
    for node in graph.order:
        k = be.kind(node)
        ch = be.children(node)
        if k == "sym":
            v = point[node]
            val[node], mag[node] = v, abs(v)
            continue
        if k == "num":
            v = _num(be, node)
            val[node], mag[node] = v, abs(v)
            continue
        cv = [val[c] if _is_node(c) else float(c) for c in ch]
        cm = [mag[c] if _is_node(c) else abs(float(c)) for c in ch]
        if k == "Add":
            v, m = math.fsum(cv), sum(cm)
        elif k == "Mul":
            v, m = math.prod(cv), math.prod(cm)
        elif k == "Pow":
            v = _safe(operator.pow, cv[0], cv[1])
            m = abs(v) if isinstance(v, float) else math.nan
        elif k == "exp":
            v = _safe(math.exp, cv[0])
            m = abs(v)
        elif k == "log":
            v = _safe(math.log, cv[0])
            m = abs(v)
        elif k == "tanh":
            v = math.tanh(cv[0])
            m = abs(v)
        elif k == "Max":
            v = max(cv)
            m = max(cm)
        elif k == "Min":
            v = min(cv)
            m = max(cm)
        elif k == "Abs":
            v = abs(cv[0])
            m = cm[0]
        elif k == "Piecewise":
            v, m = math.nan, math.nan
            for expr, cond in be.piecewise_pairs(node):
                if _cond(cond, val):
                    v = val[expr] if _is_node(expr) else float(expr)
                    m = mag.get(expr, abs(v))
                    break
        else:
            sub = node.func(*[be.number(x) for x in cv])
            v = _num(be, sub)
            m = abs(v)
        if isinstance(v, complex):
            v = math.nan
        val[node], mag[node] = v, m
    return val, mag


def _tied(be: Backend, node: Any, val: dict, mag: dict, rtol: float) -> list[int] | None:
    """Indices of the arguments tied at a kink node, or None when it is not at a kink."""
    k = be.kind(node)
    ch = be.children(node)

    def v(c: Any) -> float:
        return val[c] if _is_node(c) else float(c)

    def m(c: Any) -> float:
        return mag[c] if _is_node(c) else abs(float(c))

    if k in ("Max", "Min"):
        best = max(v(c) for c in ch) if k == "Max" else min(v(c) for c in ch)
        scale = max(m(c) for c in ch)
        idx = [i for i, c in enumerate(ch) if abs(v(c) - best) <= rtol * scale]
        return idx if len(idx) > 1 else None
    if k == "Abs":
        return [0] if abs(v(ch[0])) <= rtol * m(ch[0]) else None
    if k == "Piecewise":
        for _, cond in be.piecewise_pairs(node):
            sides = _relational_sides(cond)
            for a, b in zip(sides[0::2], sides[1::2], strict=True):
                if abs(v(a) - v(b)) <= rtol * max(m(a), m(b)):
                    return []
    return None


def tied_nodes(be: Backend, graph: Graph, val: dict, mag: dict, rtol: float) -> dict:
    out = {}
    for node in graph.kinks:
        t = _tied(be, node, val, mag, rtol)
        if t is not None:
            out[node] = t
    return out


@dataclass(frozen=True)
class AtTies:
    """The graph at one point: its node values ``val`` and the nodes sitting on a tie
    (:func:`tied_nodes`), which every one-sided derivative at that point reads."""

    be: Backend
    graph: Graph
    val: dict
    ties: dict


def one_sided(at: AtTies, root: Any, sym: Any, sign: float, convention: bool) -> float:
    """Forward-mode derivative of ``root`` along ``sign * e_sym`` with one-sided rules at ties.

    ``convention=True`` uses the documented slopes at ties instead (Max: the first tied
    argument; Abs: 0), which is what the compiled gradient means at a kink.
    """
    be, graph, val, ties = at.be, at.graph, at.val, at.ties
    d: dict = {}
    for node in graph.order:
        if not graph.dep.get(node, False):
            d[node] = 0.0
            continue
        k = be.kind(node)
        ch = be.children(node)
        if k == "sym":
            d[node] = sign if node == sym else 0.0
            continue
        cd = [d.get(c, 0.0) if _is_node(c) else 0.0 for c in ch]
        cv = [val[c] if _is_node(c) else float(c) for c in ch]
        if k == "Add":
            r = math.fsum(cd)
        elif k == "Mul":
            r = math.fsum(cd[i] * math.prod(cv[:i] + cv[i + 1 :]) for i in range(len(ch)) if cd[i])
        elif k == "Pow":
            b, e = cv
            r = 0.0
            if cd[0]:
                r += e * _safe(operator.pow, b, e - 1) * cd[0]
            if cd[1]:
                r += val[node] * _safe(math.log, b) * cd[1]
        elif k == "exp":
            r = val[node] * cd[0]
        elif k == "log":
            r = cd[0] / cv[0] if cd[0] else 0.0
        elif k == "tanh":
            r = (1 - val[node] ** 2) * cd[0]
        elif k in ("Max", "Min"):
            tie = ties.get(node)
            if tie is None:
                best = (max if k == "Max" else min)(range(len(cv)), key=lambda i: cv[i])
                r = cd[best]
            elif convention:
                r = cd[tie[0]]
            else:
                r = (max if k == "Max" else min)(cd[i] for i in tie)
        elif k == "Abs":
            if node in ties:
                r = 0.0 if convention else abs(cd[0])
            else:
                r = math.copysign(1.0, cv[0]) * cd[0] if cv[0] else 0.0
        elif k == "step":
            r = 0.0
        elif k == "Piecewise":
            r = 0.0
            for expr, cond in be.piecewise_pairs(node):
                if _cond(cond, val):
                    r = d.get(expr, 0.0) if _is_node(expr) else 0.0
                    break
        else:
            r = 0.0
            for i in range(len(ch)):
                if cd[i]:
                    p = be.fdiff(node, i)
                    sub = (
                        p.subs({c: be.number(x) for c, x in zip(ch, cv, strict=True) if _is_node(c)})
                        if hasattr(p, "subs")
                        else p
                    )
                    r += _num(be, sub) * cd[i]
        d[node] = r
    return d.get(root, 0.0) if _is_node(root) else 0.0
