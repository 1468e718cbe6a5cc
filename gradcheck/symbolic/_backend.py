"""The two computer-algebra backends, behind one small interface.

sympy is the reference (always available, prints to numpy and mpmath, simplifies for
proofs). symengine, when installed (``pip install 'gradcheck[symbolic]'``), builds and
compiles the same expressions in C++ and is used for speed. Everything above this
module sees only :class:`Backend`: constructors, a node classifier and a compiler.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["Backend", "get_backend", "symengine_available"]

# Node kinds the graph code dispatches on. Anything else with arguments is a "fn"
# (differentiated through the backend's own rule for that function).
_SYMPY_KINDS = {
    "Add": "Add", "Mul": "Mul", "Pow": "Pow", "exp": "exp", "log": "log", "tanh": "tanh",
    "Max": "Max", "Min": "Min", "Abs": "Abs", "Piecewise": "Piecewise",
    "sign": "step", "Heaviside": "step", "floor": "step", "ceiling": "step",
}


def symengine_available() -> bool:
    return importlib.util.find_spec("symengine") is not None


class Backend:
    """Constructors and introspection for one algebra system."""

    name = "base"
    Add: Callable[..., Any]
    Mul: Callable[..., Any]
    Pow: Callable[..., Any]
    exp: Callable[[Any], Any]
    log: Callable[[Any], Any]
    tanh: Callable[[Any], Any]
    sqrt: Callable[[Any], Any]
    Max: Callable[..., Any]
    Min: Callable[..., Any]
    Abs: Callable[[Any], Any]
    sign: Callable[[Any], Any]
    Piecewise: Callable[..., Any]
    And: Callable[..., Any]
    functions: dict[str, Callable[..., Any]]

    def symbol(self, name: str) -> Any:
        raise NotImplementedError

    def kind(self, node: Any) -> str:
        raise NotImplementedError

    def children(self, node: Any) -> tuple:
        """Arguments the derivative flows through (a Piecewise's conditions are not among them)."""
        raise NotImplementedError

    def piecewise_pairs(self, node: Any) -> list[tuple[Any, Any]]:
        raise NotImplementedError

    def fdiff(self, node: Any, i: int) -> Any:
        """Partial derivative of a function node with respect to its i-th argument."""
        raise NotImplementedError

    def exp_arg(self, node: Any) -> Any | None:
        """``a`` when ``node`` is exp(a), else None (symengine writes exp(a) as E**a)."""
        raise NotImplementedError

    def compile(self, inputs: Sequence[Any], outputs: Sequence[Any]) -> Callable[[np.ndarray], np.ndarray]:
        raise NotImplementedError

    def to_sympy(self, expr: Any) -> Any:
        return expr

    def from_foreign(self, expr: Any) -> Any:
        return expr

    def number(self, x: float) -> Any:
        raise NotImplementedError

    def is_true(self, cond: Any) -> bool:
        raise NotImplementedError


class SympyBackend(Backend):
    name = "sympy"

    def __init__(self) -> None:
        import sympy as sp

        self.sp = sp
        self.Add, self.Mul, self.Pow = sp.Add, sp.Mul, sp.Pow
        # exp/log/tanh unevaluated: their eval() queries the assumption system (pi*I
        # coefficients, signs) on every call, which was half of building a small sigmoid MLP.
        # (numbers still evaluate: exp(0) must be 1, or it hides 1 + exp(x) from the proofs)
        self.exp = lambda a: sp.exp(a, evaluate=not isinstance(a, sp.Basic) or a.is_Number)
        self.log = lambda a: sp.log(a, evaluate=not isinstance(a, sp.Basic) or a.is_Number)
        self.tanh = lambda a: sp.tanh(a, evaluate=not isinstance(a, sp.Basic) or a.is_Number)
        self.sqrt = sp.sqrt
        self.Max, self.Min, self.Abs, self.sign, self.Piecewise = sp.Max, sp.Min, sp.Abs, sp.sign, sp.Piecewise
        self.And = sp.And
        self.functions = {n: getattr(sp, n) for n in (
            "sin", "cos", "tan", "sinh", "cosh", "asin", "acos", "atan", "asinh", "atanh", "erf", "cbrt")}
        self._kinds: dict[type, str] = {}

    def symbol(self, name: str) -> Any:
        return self.sp.Symbol(name, real=True)

    def number(self, x: float) -> Any:
        return self.sp.Float(x) if not float(x).is_integer() else self.sp.Integer(int(x))

    def kind(self, node: Any) -> str:
        t = type(node)
        k = self._kinds.get(t)
        if k is None:
            if node.is_Symbol:
                k = "sym"
            elif not node.args:
                k = "num"
            else:
                k = _SYMPY_KINDS.get(t.__name__, "fn")
            self._kinds[t] = k
        return k

    def children(self, node: Any) -> tuple:
        if self.kind(node) == "Piecewise":
            return tuple(pair.expr for pair in node.args)
        return node.args

    def piecewise_pairs(self, node: Any) -> list[tuple[Any, Any]]:
        return [(pair.expr, pair.cond) for pair in node.args]

    def fdiff(self, node: Any, i: int) -> Any:
        return node.fdiff(i + 1)

    def exp_arg(self, node: Any) -> Any | None:
        return node.args[0] if isinstance(node, self.sp.exp) else None

    def is_true(self, cond: Any) -> bool:
        return cond is self.sp.true

    def compile(self, inputs: Sequence[Any], outputs: Sequence[Any]) -> Callable[[np.ndarray], np.ndarray]:
        fn = codegen(inputs, outputs, exact=False)

        def run(x: np.ndarray) -> np.ndarray:
            with np.errstate(all="ignore"):
                return np.asarray(fn(list(x)), dtype=np.float64).reshape(-1)

        return run


class SymengineBackend(Backend):
    name = "symengine"

    def __init__(self) -> None:
        import symengine as se

        self.se = se
        self.Add, self.Mul, self.Pow = se.Add, se.Mul, se.Pow
        self.exp, self.log, self.tanh, self.sqrt = se.exp, se.log, se.tanh, se.sqrt
        self.Max, self.Min, self.Abs, self.sign, self.Piecewise = se.Max, se.Min, se.Abs, se.sign, se.Piecewise
        self.And = se.And
        self.functions = {n: getattr(se, n) for n in (
            "sin", "cos", "tan", "sinh", "cosh", "asin", "acos", "atan", "asinh", "atanh", "erf", "cbrt")
            if hasattr(se, n)}
        self._E = se.E
        self._kinds: dict[type, str] = {}
        self._dummy = se.Symbol("_gradcheck_t")

    def symbol(self, name: str) -> Any:
        return self.se.Symbol(name)

    def number(self, x: float) -> Any:
        return self.se.Integer(int(x)) if float(x).is_integer() else self.se.RealDouble(float(x))

    def kind(self, node: Any) -> str:
        t = type(node)
        k = self._kinds.get(t)
        if k is None:
            name = t.__name__
            if name in ("Symbol", "Dummy"):
                k = "sym"
            elif not node.args:
                k = "num"
            else:
                k = {"Add": "Add", "Mul": "Mul", "Pow": "Pow", "log": "log", "tanh": "tanh", "Max": "Max",
                     "Min": "Min", "Abs": "Abs", "Piecewise": "Piecewise", "sign": "step",
                     "floor": "step", "ceiling": "step"}.get(name, "fn")
            self._kinds[t] = k
        if k == "Pow" and node.args[0] == self._E:
            return "exp"
        return k

    def children(self, node: Any) -> tuple:
        k = self.kind(node)
        if k == "Piecewise":
            return tuple(node.args[0::2])
        if k == "exp":
            return (node.args[1],)
        return tuple(node.args)

    def piecewise_pairs(self, node: Any) -> list[tuple[Any, Any]]:
        a = node.args
        return list(zip(a[0::2], a[1::2], strict=True))

    def fdiff(self, node: Any, i: int) -> Any:
        args = list(node.args)
        t = self._dummy
        original = args[i]
        args[i] = t
        return node.func(*args).diff(t).subs({t: original})

    def exp_arg(self, node: Any) -> Any | None:
        if type(node).__name__ == "Pow" and node.args[0] == self._E:
            return node.args[1]
        return None

    def is_true(self, cond: Any) -> bool:
        return cond == self.se.true

    def compile(self, inputs: Sequence[Any], outputs: Sequence[Any]) -> Callable[[np.ndarray], np.ndarray]:
        fn = self.se.Lambdify(list(inputs), list(outputs), cse=True, real=True)

        def run(x: np.ndarray) -> np.ndarray:
            with np.errstate(all="ignore"):
                return np.asarray(fn(np.asarray(x, dtype=np.float64)), dtype=np.float64).ravel()

        return run

    def to_sympy(self, expr: Any) -> Any:
        import sympy

        return sympy.sympify(expr)

    def from_foreign(self, expr: Any) -> Any:
        """A sympy expression (from code written against sympy) as a symengine one."""
        return self.se.sympify(expr)


_BACKENDS: dict[str, Backend] = {}


def get_backend(name: str = "auto") -> Backend:
    """``"sympy"``, ``"symengine"``, or ``"auto"`` (symengine when installed)."""
    from ..core._errors import InvalidArgumentError

    if name == "auto":
        name = "symengine" if symengine_available() else "sympy"
    if name not in ("sympy", "symengine"):
        raise InvalidArgumentError(f"backend={name!r}: expected 'auto', 'sympy' or 'symengine'")
    if name == "symengine" and not symengine_available():
        raise InvalidArgumentError("backend='symengine': symengine is not installed "
                                   "(pip install 'gradcheck[symbolic]' or pip install symengine)")
    if name not in _BACKENDS:
        _BACKENDS[name] = SympyBackend() if name == "sympy" else SymengineBackend()
    return _BACKENDS[name]


def codegen(inputs: Sequence[Any], outputs: Sequence[Any], *, exact: bool) -> Callable[[Sequence[Any]], list]:
    """Python source for ``outputs`` after common-subexpression elimination, compiled once.

    sympy's ``lambdify`` walks the expression as a *tree* before its own CSE (to collect
    implemented functions); reverse-mode derivatives share subexpressions so heavily that
    the tree is exponentially larger than the DAG (20 s of 27 for a 3-layer sigmoid MLP).
    ``sympy.cse`` walks the DAG; each reduced expression is then printed once. Floats print
    with ``repr`` (17 digits: the exact double), not sympy's 15; ``exact=True`` prints for
    mpmath, where floats become exact ``mpf`` tuples.
    """
    import sympy as sp
    from sympy.printing.numpy import NumPyPrinter
    from sympy.printing.pycode import MpmathPrinter, PythonCodePrinter

    names = {s: f"_x[{i}]" for i, s in enumerate(inputs)}

    class _Common:
        def _print_Symbol(self, expr: Any) -> str:  # noqa: N802 (sympy's printer protocol)
            return names.get(expr) or expr.name

        def _print_Piecewise(self, expr: Any) -> str:  # noqa: N802
            return PythonCodePrinter._print_Piecewise(self, expr)

        def _print_Relational(self, expr: Any) -> str:  # noqa: N802
            return PythonCodePrinter._print_Relational(self, expr)

        def _print_Max(self, expr: Any) -> str:  # noqa: N802
            return "max(" + ", ".join(self._print(a) for a in expr.args) + ")"

        def _print_Min(self, expr: Any) -> str:  # noqa: N802
            return "min(" + ", ".join(self._print(a) for a in expr.args) + ")"

    class _Float(_Common, NumPyPrinter):
        def _print_Float(self, expr: Any) -> str:  # noqa: N802
            return repr(float(expr))

        def _print_And(self, expr: Any) -> str:  # noqa: N802
            return "(" + " and ".join(self._print(a) for a in expr.args) + ")"

        def _print_Or(self, expr: Any) -> str:  # noqa: N802
            return "(" + " or ".join(self._print(a) for a in expr.args) + ")"

        def _print_Not(self, expr: Any) -> str:  # noqa: N802
            return "(not " + self._print(expr.args[0]) + ")"

        def _print_sign(self, expr: Any) -> str:  # noqa: N802
            return f"numpy.sign({self._print(expr.args[0])})"

        def _print_BooleanTrue(self, expr: Any) -> str:  # noqa: N802
            return "True"

    class _Exact(_Common, MpmathPrinter):
        def _print_And(self, expr: Any) -> str:  # noqa: N802
            return "(" + " and ".join(self._print(a) for a in expr.args) + ")"

        def _print_Or(self, expr: Any) -> str:  # noqa: N802
            return "(" + " or ".join(self._print(a) for a in expr.args) + ")"

    printer = (_Exact if exact else _Float)({"fully_qualified_modules": True, "allow_unknown_functions": False})
    outs = [sp.sympify(o) for o in outputs]
    reps, reduced = sp.cse(outs, symbols=sp.numbered_symbols("_c"), order="none", list=True)
    lines = ["def _generated(_x):"]
    for sym, expr in reps:
        lines.append(f"    {sym.name} = {printer.doprint(expr)}")
    lines.append("    return [" + ", ".join(printer.doprint(e) for e in reduced) + "]")
    import mpmath

    namespace: dict[str, Any] = {"numpy": np, "mpmath": mpmath, "math": __import__("math")}
    exec(compile("\n".join(lines), "<gradcheck.symbolic>", "exec"), namespace)  # noqa: S102 (our own printout)
    return namespace["_generated"]
