"""Translating a formula to sympy matrix expressions (``MatrixSymbol``), for proofs at all sizes.

Matrix products, transposes, sums and differences of equal shapes, scalar factors and
denominators (a 1x1 matrix such as ``x.T@x`` is the scalar it is), element-wise products and
squares of equal shapes (Hadamard products), ``kron``, ``trace``, ``inv``, ``det``, ``logdet``,
``sum``/``mean`` (whole, or along an axis with ``keepdims=True``) and the Frobenius forms
``sum(E**2)``/``norm(E)`` translate; anything else raises :class:`Unsupported`, and the
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


def _as_scalar(v: Any, mb: MatrixBackend) -> Any:
    """A 1x1 matrix (``x.T@x``, a quadratic form) as the scalar it is: its trace."""
    return mb.sp.Trace(v) if mb.is_matrix(v) and v.shape == (1, 1) else v


def _binary(node: Binary, env: Env, mb: MatrixBackend) -> Any:
    sp = mb.sp
    a = to_matrix(node.left, env, mb)
    if node.op == "**":
        p = to_matrix(node.right, env, mb)
        a = _as_scalar(a, mb)
        if mb.is_matrix(a):
            if p == 2:  # element-wise square: the Hadamard product with itself
                return sp.hadamard_product(a, a)
            raise Unsupported(f"{node.src}: element-wise power of a matrix")
        return a**p
    b = to_matrix(node.right, env, mb)
    if node.op != "@":  # a 1x1 matrix beside a scalar or a larger matrix broadcasts as a scalar
        a, b = _as_scalar(a, mb), _as_scalar(b, mb)
    ma, mb_ = mb.is_matrix(a), mb.is_matrix(b)
    try:
        if node.op == "@":
            if not (ma and mb_):
                raise Unsupported(f"{node.src}: @ with a scalar")
            return a * b
        if node.op in "+-":
            if ma != mb_:  # a scalar beside a matrix: that scalar in every entry
                a, b = (a, b * sp.OneMatrix(*a.shape)) if ma else (a * sp.OneMatrix(*b.shape), b)
            return a + b if node.op == "+" else a - b
        if node.op == "*":
            if ma and mb_:
                if a.shape != b.shape:
                    raise Unsupported(f"{node.src}: element-wise product with broadcasting")
                return sp.hadamard_product(a, b)
            return a * b
        if node.op == "/":
            if mb_:
                raise Unsupported(f"{node.src}: element-wise division by a matrix")
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
    if node.kwargs and not (f in ("sum", "mean") and _axis_sum(node, env, mb) is not None):
        raise Unsupported(f"{node.src}: keyword arguments")
    if node.kwargs:
        return _axis_sum(node, env, mb)
    if f in ("eye", "zeros", "ones"):
        dims = [_dim(a, env, mb) for a in node.args]
        if f == "eye":
            return sp.Identity(dims[0])
        r, c = (dims + [1])[:2] if len(dims) == 2 else (dims[0], 1)
        return sp.ZeroMatrix(r, c) if f == "zeros" else sp.OneMatrix(r, c)
    if f == "mean":
        e = to_matrix(node.args[0], env, mb)
        if not mb.is_matrix(e):
            return e
        return _as_scalar(sp.OneMatrix(1, e.shape[0]) * e * sp.OneMatrix(e.shape[1], 1), mb) / (e.shape[0] * e.shape[1])
    if f == "sum":
        fro = _frobenius_sq(node.args[0], env, mb)
        if fro is not None:
            return fro
        e = to_matrix(node.args[0], env, mb)
        if not mb.is_matrix(e):
            return e
        return _as_scalar(sp.OneMatrix(1, e.shape[0]) * e * sp.OneMatrix(e.shape[1], 1), mb)
    if f == "kron":
        from sympy.matrices.expressions.kronecker import KroneckerProduct

        a, b = (to_matrix(x, env, mb) for x in node.args)
        if not (mb.is_matrix(a) and mb.is_matrix(b)):
            raise Unsupported(f"{node.src}: kron of a scalar")
        return KroneckerProduct(a, b)
    args = [to_matrix(a, env, mb) for a in node.args]
    x = args[0]
    if f == "norm":
        x = _as_scalar(x, mb) if mb.is_matrix(x) and x.shape == (1, 1) else x
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
        x = _as_scalar(x, mb)
        if mb.is_matrix(x):
            raise Unsupported(f"{node.src}: {f} of a matrix is element-wise")
        return {"exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt, "tanh": sp.tanh, "log1p": lambda v: sp.log(1 + v),
                "sin": sp.sin, "cos": sp.cos, "erf": sp.erf}[f](x)
    raise Unsupported(f"{node.src}: {f}() has no matrix-calculus form in sympy")


def _axis_sum(node: Call, env: Env, mb: MatrixBackend) -> Any | None:
    """``sum(E, axis=0, keepdims=True)`` (a row of column sums) and ``axis=1`` (a column of row sums),
    and their means: the forms that stay matrices. None for any other keyword use."""
    sp = mb.sp
    opts = dict(node.kwargs)
    if set(opts) - {"axis", "keepdims"} or "axis" not in opts:
        return None
    keep = opts.get("keepdims")
    try:
        axis = int_value(opts["axis"], env)
    except Exception:
        return None
    if axis not in (0, 1) or not (isinstance(keep, Num) and keep.value is True):
        return None
    e = to_matrix(node.args[0], env, mb)
    if not mb.is_matrix(e) or len(e.shape) != 2:
        return None
    out = sp.OneMatrix(1, e.shape[0]) * e if axis == 0 else e * sp.OneMatrix(e.shape[1], 1)
    return out / e.shape[axis] if node.func == "mean" else out


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
