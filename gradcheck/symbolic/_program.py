"""Straight-line code from the expression DAG: forward values, then reverse-mode adjoints.

The reverse walk over the DAG already shares every subexpression: each distinct node gets
one forward value and one adjoint. Printing that walk as one assignment per node, in
topological order, gives the gradient program directly. The older route built each
gradient entry as an expression and ran common-subexpression elimination on all of them to
rediscover that sharing; at 1000 parameters that search was 95% of the time (28 of 30 s
with symengine, benchmarks/symbolic_speed.py).

One source text serves two evaluations. With numpy it runs on float64 arrays whose
columns are points (the point and its ulp-perturbed copies in one pass); with mpmath it
runs on ``mpf`` scalars at 50 digits, every constant exact. Only the helpers bound in the
namespace differ (``_exp``, ``_where``, ...), and the arithmetic is Python's operators.

Kink conventions are those of :mod:`._graph`: a ``Max`` passes its adjoint to the first
argument attaining the maximum (ties go to the earlier one, so ReLU's slope is 0 at 0),
``Abs`` multiplies by ``sign`` (0 at 0), ``sign``/``floor`` pass nothing, a ``Piecewise``
passes it to the first branch whose condition holds. A log-sum-exp shift symbol (see
:func:`._graph.stabilize`) is computed in the program as the max of its arguments (0 where
that is not finite) and held fixed by the derivative.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core._errors import SymbolicUnsupportedError
from ._backend import Backend
from ._eigen import float_function, is_eigen_name, mpmath_function
from ._graph import Graph, Shift, _all_children, _is_node

__all__ = ["Program", "emit_program"]

# numpy / mpmath names of the functions a "fn" or "step" node may be
_NP_NAMES = {"asin": "arcsin", "acos": "arccos", "atan": "arctan", "asinh": "arcsinh", "acosh": "arccosh",
             "atanh": "arctanh", "ceiling": "ceil"}
_MP_NAMES = {"ceiling": "ceil"}
_OPS = {"StrictGreaterThan": ">", "GreaterThan": ">=", "StrictLessThan": "<", "LessThan": "<=",
        "Equality": "==", "Unequality": "!="}


@dataclass
class Program:
    """Python source of the gradient program and its float64 and mpmath evaluations.

    ``run(X)``: ``X`` is ``(n_inputs, k)`` float64 (k points as columns); returns the
    derivative entries ``(n_outputs, k)`` and the shift values ``(n_shifts, k)``.
    ``run_exact(x)``: one point as ``mpf`` values, under the caller's ``mpmath.workdps``.
    """

    source: str
    n_inputs: int
    n_outputs: int
    n_shifts: int
    constants: list
    functions: tuple[str, ...]
    to_sympy: Callable[[Any], Any]
    _float: Callable[..., None] | None = field(default=None, repr=False)
    _float_constants: list = field(default_factory=list, repr=False)
    _exact: Callable[..., None] | None = field(default=None, repr=False)

    def compile(self) -> None:
        """Compile the float64 evaluation (the mpmath one is compiled on first use)."""
        if self._float is None:
            self._float = _load(self.source, _numpy_namespace(self))
            self._float_constants = [_float_of(c) for c in self.constants]

    def run(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.compile()
        assert self._float is not None
        X = np.asarray(X, dtype=np.float64)
        out = np.zeros((self.n_outputs, X.shape[1]))
        sh = np.zeros((self.n_shifts, X.shape[1]))
        with np.errstate(all="ignore"):
            self._float(X, out, sh, self._float_constants)
        return out, sh

    def run_exact(self, x: Sequence[Any]) -> list:
        import mpmath

        if self._exact is None:
            self._exact = _load(self.source, _mpmath_namespace(self))
        out: list = [mpmath.mpf(0)] * self.n_outputs
        sh: list = [mpmath.mpf(0)] * self.n_shifts
        self._exact(list(x), out, sh, [_exact_of(c, self.to_sympy) for c in self.constants])
        return out


# --------------------------------------------------------------------------- emission
class _Emitter:
    """Assigns a variable to every node and prints its forward line (children first)."""

    def __init__(self, be: Backend, graph: Graph, inputs: Sequence[Any], shifts: Sequence[Shift]) -> None:
        self.be = be
        self.kinds = graph.kinds
        self.children = graph.children
        self.lines: list[str] = []
        self.ref: dict = {}
        self.constants: list = []
        self._const_index: dict = {}
        self.functions: set[str] = set()
        self.shifts = {s.symbol: (j, s) for j, s in enumerate(shifts)}
        for i, s in enumerate(inputs[: len(inputs) - len(shifts)]):
            self._assign(s, f"_x[{i}]")

    def _assign(self, node: Any, expr: str) -> str:
        name = f"v{len(self.ref)}"
        self.lines.append(f"    {name} = {expr}")
        self.ref[node] = name
        return name

    def const(self, x: Any) -> str:
        """A number as code: integers as literals, anything else from the constant table."""
        if isinstance(x, (int, np.integer)) or getattr(x, "is_Integer", False) or type(x).__name__ == "Integer":
            try:
                v = int(x)
            except (TypeError, ValueError):
                v = None
            if v is not None and abs(v) < 2**53:  # exact as a float too (numpy refuses ints past 1e308)
                return str(v) if v >= 0 else f"({v})"
        key = (type(x).__name__, str(x))
        i = self._const_index.get(key)
        if i is None:
            i = self._const_index[key] = len(self.constants)
            self.constants.append(x)
        return f"_k[{i}]"

    def kind(self, x: Any) -> str:
        k = self.kinds.get(x)
        return self.be.kind(x) if k is None else k

    def operand(self, x: Any) -> str:
        r = self.ref.get(x)
        if r is not None:
            return r
        if not _is_node(x) or self.kind(x) == "num":
            return self.const(x)
        raise KeyError(x)

    def emit(self, root: Any) -> str:
        """Emit ``root`` and whatever below it has no variable yet (iteratively: DAGs are deep)."""
        if not _is_node(root) or self.kind(root) == "num":
            return self.const(root)
        if root in self.ref:
            return self.ref[root]
        stack = [(root, _all_children(self.be, root), 0)]
        while stack:
            node, ch, i = stack[-1]
            if i < len(ch):
                stack[-1] = (node, ch, i + 1)
                c = ch[i]
                if _is_node(c) and c not in self.ref and self.kind(c) != "num":
                    stack.append((c, _all_children(self.be, c), 0))
                continue
            stack.pop()
            if node not in self.ref:
                self.forward(node)
        return self.ref[root]

    def forward(self, node: Any) -> None:
        """The line computing ``node`` from its children's variables (which must exist)."""
        be = self.be
        k = self.kind(node)
        if k == "sym":
            if node not in self.shifts:
                raise SymbolicUnsupportedError(f"the expression depends on the symbol {node}, which is not a "
                                               "parameter entry (a symbol made outside gradcheck.symbolic?)")
            j, s = self.shifts[node]
            args = [self.emit(a) for a in s.args]
            self._assign(node, f"_shift({', '.join(args)})")
            self.lines.append(f"    _sh[{j}] = {self.ref[node]}")
            return
        kids = self.children.get(node)
        ch = [self.operand(c) for c in (be.children(node) if kids is None else kids)]
        if k == "Add":
            expr = " + ".join(ch)
        elif k == "Mul":
            expr = " * ".join(ch)
        elif k == "Pow":
            expr = f"{ch[0]} ** {ch[1]}"
        elif k in ("exp", "log", "tanh"):
            expr = f"_{k}({ch[0]})"
        elif k in ("Max", "Min"):
            expr = f"_{k.lower()}({', '.join(ch)})"
        elif k == "Abs":
            expr = f"_abs({ch[0]})"
        elif k == "Piecewise":
            expr = "_nan"
            for (_, cond), e in reversed(list(zip(be.piecewise_pairs(node), ch, strict=True))):
                expr = f"_where({self.cond(cond)}, {e}, {expr})"
        else:
            name = type(node).__name__
            self.functions.add(name)
            expr = f"_f_{name}({', '.join(ch)})"
        self._assign(node, expr)

    def cond(self, cond: Any) -> str:
        name = type(cond).__name__
        if name in _OPS:
            a, b = (self.operand(s) for s in cond.args)
            return f"({a} {_OPS[name]} {b})"
        if name in ("And", "Or"):
            joint = " & " if name == "And" else " | "
            return "(" + joint.join(self.cond(c) for c in cond.args) + ")"
        if name == "Not":
            return f"_not({self.cond(cond.args[0])})"
        if self.be.is_true(cond):
            return "True"
        if cond == False:  # noqa: E712 (BooleanFalse / symengine false)
            return "False"
        raise SymbolicUnsupportedError(f"cannot print the condition {cond} of a Piecewise")


def emit_program(be: Backend, graph: Graph, roots: Sequence[Any], wrt: Sequence[Any], shifts: Sequence[Shift],
                 data: Sequence[Any] = ()) -> Program:
    """The program computing d roots[r] / d wrt[j] for every r, j (row-major), and the shifts.

    Its inputs are ``wrt``, then ``data`` (symbols the code's data arrays were traced as: read,
    never differentiated, so one program serves every draw of the data), then the shifts."""
    inputs = list(wrt) + list(data) + [s.symbol for s in shifts]
    em = _Emitter(be, graph, inputs, shifts)
    for s in sorted(shifts, key=lambda s: s.level):
        em.emit(s.symbol)
    kinds = graph.kinds
    for node in graph.order:  # a post-order: every child has its variable before its parent
        if kinds[node] != "num" and node not in em.ref:
            em.forward(node)
    column = {s: j for j, s in enumerate(wrt)}
    for r, root in enumerate(roots):
        _reverse(em, graph, root, column, r * len(wrt), prefix=f"g{r}_")
    source = "def _program(_x, _out, _sh, _k):\n" + "\n".join(em.lines) + "\n    return None\n"
    return Program(source, len(inputs), len(roots) * len(wrt), len(shifts), em.constants,
                   tuple(sorted(em.functions)), be.to_sympy)


def _reverse(em: _Emitter, graph: Graph, root: Any, column: dict, offset: int, prefix: str) -> None:
    """Adjoint lines for one root: each node's adjoint is the sum of its parents' terms."""
    if not _is_node(root) or not graph.dep.get(root, False):
        return
    dep, kinds, kids = graph.dep, graph.kinds, graph.children
    contrib: dict = {root: ["1"]}
    count = 0
    for node in reversed(graph.order):
        terms = contrib.pop(node, None)
        if terms is None:
            continue
        if len(terms) == 1 and terms[0].isidentifier():
            g = terms[0]
        else:
            g = f"{prefix}{count}"
            count += 1
            em.lines.append(f"    {g} = {' + '.join(terms)}")
        kind = kinds[node]
        if kind == "sym":
            if node in column:
                em.lines.append(f"    _out[{offset + column[node]}] = {g}")
            continue
        children = kids[node]
        for i, c in enumerate(children):
            if dep.get(c, False):
                term = _term(em, node, kind, i, children, g)
                if term is not None:
                    contrib.setdefault(c, []).append(term)


def _term(em: _Emitter, node: Any, kind: str, i: int, children: tuple, g: str) -> str | None:
    """``g`` times d node / d children[i], as code over the forward variables (None: no contribution)."""
    be = em.be
    n = em.ref.get(node)
    if kind == "Add":
        return g
    if kind == "Mul":
        others = [em.operand(c) for j, c in enumerate(children) if j != i]
        return " * ".join([g, *others])
    if kind == "Pow":
        base, e = children
        b = em.operand(base)
        if i == 1:
            return f"{g} * {n} * _log({b})"
        if not _is_node(e) or em.kind(e) == "num":
            if e == 2:
                return f"{g} * 2 * {b}"
            if e == -1:
                return f"-({g} * {n} * {n})"
            return f"{g} * {em.const(e)} * {b} ** {em.const(e - 1)}"
        x = em.operand(e)
        return f"{g} * {x} * {b} ** ({x} - 1)"
    if kind == "exp":
        return f"{g} * {n}"
    if kind == "log":
        return f"{g} / {em.operand(children[0])}"
    if kind == "tanh":
        return f"{g} * (1 - {n} * {n})"
    if kind in ("Max", "Min"):
        ops = [em.operand(c) for c in children]
        strict, loose = (">", ">=") if kind == "Max" else ("<", "<=")
        conds = [f"({ops[i]} {strict if j < i else loose} {ops[j]})" for j in range(len(ops)) if j != i]
        return f"_sel({' & '.join(conds)}, {g})"
    if kind == "Abs":
        return f"{g} * _sign({em.operand(children[0])})"
    if kind == "step":
        return None
    if kind == "Piecewise":
        conds = [em.cond(c) for _, c in be.piecewise_pairs(node)]
        first = " & ".join([*(f"_not({c})" for c in conds[:i]), conds[i]])
        return f"_sel({first}, {g})"
    p = be.fdiff(node, i)
    if p == 0:
        return None
    return f"{g} * {em.emit(p)}"


# --------------------------------------------------------------------------- namespaces
def _load(source: str, namespace: dict) -> Callable[..., None]:
    exec(compile(source, "<gradcheck.symbolic program>", "exec"), namespace)  # noqa: S102 (our own printout)
    return namespace["_program"]


def _np_shift(*args: Any) -> np.ndarray:
    m = functools.reduce(np.maximum, args)
    return np.where(np.isfinite(m), m, 0.0)


def _np_function(name: str) -> Callable[..., Any]:
    if is_eigen_name(name):
        return float_function(name)
    if name == "Heaviside":
        return lambda x, h0=0.5: np.heaviside(x, h0)
    if name == "erf":
        return np.vectorize(math.erf, otypes=[np.float64])
    fn = getattr(np, _NP_NAMES.get(name, name), None)
    if fn is None:
        raise SymbolicUnsupportedError(f"the function {name} has no float64 evaluation in gradcheck.symbolic")
    return fn


def _numpy_namespace(prog: Program) -> dict:
    ns: dict[str, Any] = {
        "_exp": np.exp, "_log": np.log, "_tanh": np.tanh, "_abs": np.abs, "_sign": np.sign,
        "_max": lambda *a: functools.reduce(np.maximum, a), "_min": lambda *a: functools.reduce(np.minimum, a),
        "_where": np.where, "_sel": lambda c, g: np.where(c, g, 0.0), "_not": np.logical_not,
        "_shift": _np_shift, "_nan": np.nan,
    }
    for name in prog.functions:
        ns[f"_f_{name}"] = _np_function(name)
    return ns


def _mpmath_namespace(prog: Program) -> dict:
    import mpmath

    def fn(name: str) -> Callable[..., Any]:
        if name == "Heaviside":
            def heaviside(x: Any, h0: Any = None) -> Any:
                at_zero = mpmath.mpf(1) / 2 if h0 is None else h0
                return mpmath.mpf(1) if x > 0 else (at_zero if x == 0 else mpmath.mpf(0))

            return heaviside
        if name == "sign":
            return mpmath.sign
        if is_eigen_name(name):
            return mpmath_function(name)
        f = getattr(mpmath, _MP_NAMES.get(name, name), None)
        if f is None:
            raise SymbolicUnsupportedError(f"the function {name} has no mpmath evaluation in gradcheck.symbolic")
        return f

    ns: dict[str, Any] = {
        "_exp": mpmath.exp, "_log": mpmath.log, "_tanh": mpmath.tanh, "_abs": abs, "_sign": mpmath.sign,
        "_max": max, "_min": min, "_where": lambda c, a, b: a if c else b,
        "_sel": lambda c, g: g if c else 0, "_not": lambda c: not c, "_shift": lambda *a: max(a),
        "_nan": mpmath.nan,
    }
    for name in prog.functions:
        ns[f"_f_{name}"] = fn(name)
    return ns


def _float_of(c: Any) -> float:
    try:
        return float(c)
    except (TypeError, ValueError):
        return math.nan


def _exact_of(c: Any, to_sympy: Callable[[Any], Any]) -> Any:
    """A constant as an exact mpmath number (Floats are exact binary fractions; rationals divide)."""
    import mpmath

    s = to_sympy(c)
    if getattr(s, "is_Integer", False):
        return int(s)
    if getattr(s, "is_Rational", False):
        return mpmath.mpf(int(s.p)) / int(s.q)
    if getattr(s, "is_Float", False):
        return mpmath.mpf(s)
    try:
        return mpmath.mpf(s.evalf(mpmath.mp.dps + 10))
    except (TypeError, ValueError, AttributeError):
        return mpmath.nan
