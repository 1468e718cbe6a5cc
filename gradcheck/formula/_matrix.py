"""Translating a formula to sympy matrix expressions (``MatrixSymbol``), for proofs at all sizes.

Only matrix products, transposes, sums and differences of equal shapes, scalar factors,
``trace``, ``inv``, ``det``, ``logdet`` and the Frobenius forms ``sum(E**2)``/``norm(E)``
translate; anything element-wise on matrices raises :class:`Unsupported`, and the
matrix-level oracle then says it was not attempted and why. sympy's matrix calculus is
not trusted on its own (``log(det(X)).diff(X)`` returns 0 in sympy 1.14): the caller
compares its answer with the element-wise derivative at concrete sizes first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._eval import Env, int_value
from ._parse import Binary, Call, Name, Node, Num, Transpose, Unary

__all__ = ["Unsupported", "MatrixBackend", "to_matrix", "matrix_symbols"]


class Unsupported(Exception):
    """The formula uses something sympy's matrix calculus does not handle."""


class MatrixBackend:
    def __init__(self, symbols: Mapping[str, Any], dims: Mapping[str, Any]) -> None:
        import sympy

        self.sp = sympy
        self.symbols = dict(symbols)
        self.dims = dict(dims)

    def is_matrix(self, v: Any) -> bool:
        return isinstance(v, self.sp.MatrixExpr)

    def scalar(self, v: Any, what: str) -> Any:
        if self.is_matrix(v):
            if v.shape == (1, 1):
                return v
            raise Unsupported(f"{what} of a matrix is element-wise")
        return v


def to_matrix(node: Node, env: Env, mb: MatrixBackend) -> Any:
    """The sympy matrix expression of ``node`` (raises :class:`Unsupported`)."""
    sp = mb.sp
    if isinstance(node, Num):
        v = node.value
        return sp.Rational(repr(float(v))) if isinstance(v, float) and not float(v).is_integer() else sp.Integer(int(v))
    if isinstance(node, Name):
        if node.id in env.defs:
            return to_matrix(env.defs[node.id], env, mb)
        if node.id in mb.symbols:
            return mb.symbols[node.id]
        if node.id in mb.dims:
            return mb.dims[node.id]
        raise Unsupported(f"name {node.id!r} has no matrix form")
    if isinstance(node, Unary):
        v = to_matrix(node.operand, env, mb)
        return -v if node.op == "-" else v
    if isinstance(node, Transpose):
        v = to_matrix(node.operand, env, mb)
        return v.T if mb.is_matrix(v) else v
    if isinstance(node, Binary):
        return _binary(node, env, mb)
    if isinstance(node, Call):
        return _call(node, env, mb)
    raise Unsupported(f"{node.src!r} has no matrix form")


def _binary(node: Binary, env: Env, mb: MatrixBackend) -> Any:
    sp = mb.sp
    a = to_matrix(node.left, env, mb)
    if node.op == "**":
        p = to_matrix(node.right, env, mb)
        if mb.is_matrix(a):
            raise Unsupported(f"{node.src}: element-wise power of a matrix")
        return a**p
    b = to_matrix(node.right, env, mb)
    ma, mb_ = mb.is_matrix(a), mb.is_matrix(b)
    try:
        if node.op == "@":
            if not (ma and mb_):
                raise Unsupported(f"{node.src}: @ with a scalar")
            return a * b
        if node.op in "+-":
            if ma != mb_:
                raise Unsupported(f"{node.src}: a scalar added to a matrix (broadcasting)")
            return a + b if node.op == "+" else a - b
        if node.op == "*":
            if ma and mb_:
                raise Unsupported(f"{node.src}: element-wise product of matrices")
            return a * b
        if node.op == "/":
            if mb_:
                raise Unsupported(f"{node.src}: division by a matrix")
            return a / b
    except sp.matrices.exceptions.ShapeError as exc:
        raise Unsupported(f"{node.src}: {exc}") from None
    raise Unsupported(f"{node.src}: operator {node.op}")  # pragma: no cover


def _frobenius_sq(arg: Node, env: Env, mb: MatrixBackend) -> Any | None:
    """``E**2`` inside sum(): the squared Frobenius norm trace(E^T E) when E is a matrix."""
    if isinstance(arg, Binary) and arg.op == "**" and isinstance(arg.right, Num) and arg.right.value == 2:
        e = to_matrix(arg.left, env, mb)
        if mb.is_matrix(e):
            return mb.sp.Trace(e.T * e)
    return None


def _call(node: Call, env: Env, mb: MatrixBackend) -> Any:
    sp = mb.sp
    f = node.func
    if node.kwargs:
        raise Unsupported(f"{node.src}: keyword arguments")
    if f in ("eye", "zeros", "ones"):
        dims = [_dim(a, env, mb) for a in node.args]
        if f == "eye":
            return sp.Identity(dims[0])
        r, c = (dims + [1])[:2] if len(dims) == 2 else (dims[0], 1)
        return sp.ZeroMatrix(r, c) if f == "zeros" else sp.OneMatrix(r, c)
    if f == "sum":
        fro = _frobenius_sq(node.args[0], env, mb)
        if fro is not None:
            return fro
        e = to_matrix(node.args[0], env, mb)
        if not mb.is_matrix(e):
            return e
        return sp.OneMatrix(1, e.shape[0]) * e * sp.OneMatrix(e.shape[1], 1)
    args = [to_matrix(a, env, mb) for a in node.args]
    x = args[0]
    if f == "norm":
        if not mb.is_matrix(x):
            raise Unsupported(f"{node.src}: norm of a scalar")
        return sp.sqrt(sp.Trace(x.T * x))
    if f == "transpose":
        return x.T if mb.is_matrix(x) else x
    if f in ("trace", "inv", "det", "logdet"):
        if not mb.is_matrix(x):
            raise Unsupported(f"{node.src}: {f} of a scalar")
        return {
            "trace": sp.Trace,
            "inv": sp.Inverse,
            "det": sp.Determinant,
            "logdet": lambda m: sp.log(sp.Determinant(m)),
        }[f](x)
    if f in ("exp", "log", "sqrt", "tanh", "log1p", "sin", "cos", "erf"):
        if mb.is_matrix(x):
            raise Unsupported(f"{node.src}: {f} of a matrix is element-wise")
        return {"exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt, "tanh": sp.tanh, "log1p": lambda v: sp.log(1 + v),
                "sin": sp.sin, "cos": sp.cos, "erf": sp.erf}[f](x)
    raise Unsupported(f"{node.src}: {f}() has no matrix-calculus form in sympy")


def _dim(node: Node, env: Env, mb: MatrixBackend) -> Any:
    if isinstance(node, Name) and node.id in mb.dims:
        return mb.dims[node.id]
    v = int_value(node, env)
    if isinstance(v, tuple):
        raise Unsupported(f"{node.src}: a tuple of sizes")
    return v


def matrix_symbols(shapes: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """A MatrixSymbol per 2-D name, a real Symbol per scalar; 1-D names are not translatable."""
    import sympy as sp

    out: dict[str, Any] = {}
    for name, shape in shapes.items():
        if len(shape) == 2:
            out[name] = sp.MatrixSymbol(name, *shape)
        elif len(shape) == 0:
            out[name] = sp.Symbol(name, real=True)
        else:
            raise Unsupported(
                f"{name} has shape {tuple(shape)}: matrix calculus needs 2-D shapes (write vectors as n,1)"
            )
    return out
