"""Interpreting a parsed formula: one tree walk, three backends.

* :class:`ShapeBackend` infers every node's shape from the declared shapes alone, so shape
  errors ("A@x: (4, 3) @ (4, 1)") and size limits are found before any array exists;
* :class:`NumpyBackend` computes with float64 (or complex128, for complex-step probes)
  arrays, using numerically careful forms (stable sigmoid, shifted softmax);
* :class:`SympyBackend` computes with numpy object arrays of sympy expressions, one
  symbol per entry, so that sympy differentiates exactly the formula that finite
  differences probe.

Names resolve to (in order) the formula's definitions, the arrays given, and dimension
names (``n`` in ``A=m,n`` stands for its size, so ``sum(r**2)/n`` is allowed).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..core._errors import FormulaError
from ._parse import Binary, Call, Name, Node, Num, Str, Transpose, Tup, Unary

__all__ = ["MAX_ELEMENTS", "Shape", "Env", "evaluate", "ShapeBackend", "NumpyBackend", "SympyBackend", "int_value"]

MAX_ELEMENTS = 1_000_000
"""Largest array any node may produce: 8 MB of float64, far above what a formula check needs
and far below what would hurt a CI machine (``outer(x, x)`` of a 1e6-vector would be 8 TB)."""

Shape = tuple[int, ...]
ELEMENTWISE = ("exp", "log", "log1p", "sqrt", "tanh", "sigmoid", "relu", "step", "abs", "sin", "cos", "erf", "sign")
REDUCTIONS = ("sum", "mean", "norm", "logsumexp", "max", "min")
NO_EXACT_FORM = ("expm", "eigvalsh", "eigvecsh", "sqrtm", "argmax_mask")
"""Functions the element-wise oracle has no exact form for (it says so and stands aside;
finite differences still check them)."""


class Env:
    """What names mean: values of arrays, definitions (parsed, evaluated once), dimension sizes."""

    def __init__(
        self,
        values: Mapping[str, Any],
        defs: Mapping[str, Node] | None = None,
        dims: Mapping[str, int] | None = None,
        text: str = "",
    ) -> None:
        self.values = dict(values)
        self.defs = dict(defs or {})
        self.dims = dict(dims or {})
        self.text = text
        self._busy: set[str] = set()

    def error(self, node: Node, reason: str) -> FormulaError:
        return FormulaError(reason, text=self.text, piece=node.src, column=node.col if self.text else None)


def int_value(node: Node, env: Env) -> int | tuple[int, ...]:
    """An integer argument (axis, a size): literals, dimension names, and + - * of them."""
    if isinstance(node, Tup):
        items = [int_value(i, env) for i in node.items]
        if any(isinstance(i, tuple) for i in items):
            raise env.error(node, "nested tuples are not allowed here")
        return tuple(items)  # type: ignore[arg-type]
    if isinstance(node, Num) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, Name) and node.id in env.dims:
        return int(env.dims[node.id])
    if isinstance(node, Unary):
        v = int_value(node.operand, env)
        if isinstance(v, int):
            return -v if node.op == "-" else v
    if isinstance(node, Binary) and node.op in "+-*":
        a, b = int_value(node.left, env), int_value(node.right, env)
        if isinstance(a, int) and isinstance(b, int):
            return {"+": a + b, "-": a - b, "*": a * b}[node.op]
    raise env.error(node, f"{node.src!r} must be an integer (a literal or a dimension name)")


def evaluate(node: Node, env: Env, backend: Any) -> Any:
    """Walk ``node`` with ``backend``; definitions are evaluated once and memoised in ``env``."""
    if isinstance(node, Num):
        return backend.number(node.value)
    if isinstance(node, Name):
        return _lookup(node, env, backend)
    if isinstance(node, Unary):
        v = evaluate(node.operand, env, backend)
        return backend.neg(v) if node.op == "-" else v
    if isinstance(node, Transpose):
        return backend.transpose(evaluate(node.operand, env, backend), node, env)
    if isinstance(node, Binary):
        a = evaluate(node.left, env, backend)
        if node.op == "**":
            return backend.power(a, node.right.value, node, env)  # type: ignore[attr-defined]
        b = evaluate(node.right, env, backend)
        if node.op == "@":
            return backend.matmul(a, b, node, env)
        return backend.arith(node.op, a, b, node, env)
    if isinstance(node, Call):
        return _call(node, env, backend)
    if isinstance(node, (Tup, Str)):
        raise env.error(node, "a tuple or string is only allowed as a function's shape or keyword argument")
    raise env.error(node, f"unsupported expression {node.src!r}")  # pragma: no cover - parser admits no other node


def _lookup(node: Name, env: Env, backend: Any) -> Any:
    if node.id in env.values:
        return env.values[node.id]
    if node.id in env.defs:
        if node.id in env._busy:
            raise env.error(node, f"definition {node.id!r} refers to itself")
        env._busy.add(node.id)
        try:
            env.values[node.id] = evaluate(env.defs[node.id], env, backend)
        finally:
            env._busy.discard(node.id)
        return env.values[node.id]
    if node.id in env.dims:
        return backend.number(int(env.dims[node.id]))
    known = sorted(set(env.values) | set(env.defs) | set(env.dims))
    raise env.error(
        node,
        f"unknown name {node.id!r} (no shape, value or definition given for it; known: {', '.join(known) or 'none'})",
    )


def _call(node: Call, env: Env, backend: Any) -> Any:
    f = node.func
    opts: dict[str, Any] = {}
    for key, value in node.kwargs:
        if key == "axis":
            opts["axis"] = int_value(value, env)
        else:
            opts[key] = value.value  # type: ignore[attr-defined]  # keepdims: bool, order: "C"/"F"
    if f in ("eye", "ones", "zeros"):
        dims = [int_value(a, env) for a in node.args]
        shape = dims[0] if len(dims) == 1 and isinstance(dims[0], tuple) else tuple(dims)
        if any(isinstance(d, tuple) for d in shape):
            raise env.error(node, f"{f}() takes sizes, e.g. {f}(n) or {f}(m, n)")
        if f == "eye" and len(shape) == 1:
            shape = (shape[0], shape[0])
        if f == "eye" and len(shape) != 2:
            raise env.error(node, "eye() takes one or two sizes")
        _check_shape(tuple(shape), node, env)  # type: ignore[arg-type]
        return backend.constant(f, tuple(shape))
    if f == "onehot":
        k = int_value(node.args[1], env)
        if not isinstance(k, int) or k < 1:
            raise env.error(node, f"{node.src}: onehot(y, k) takes a number of classes k >= 1")
        return backend.function(f, [evaluate(node.args[0], env, backend)], {"k": k}, node, env)
    if f == "reshape":
        x = evaluate(node.args[0], env, backend)
        dims = [int_value(a, env) for a in node.args[1:]]
        shape = dims[0] if len(dims) == 1 and isinstance(dims[0], tuple) else tuple(dims)
        return backend.reshape(x, tuple(shape), opts.get("order", "C"), node, env)  # type: ignore[arg-type]
    args = [evaluate(a, env, backend) for a in node.args]
    return backend.function(f, args, opts, node, env)


def _check_shape(shape: Shape, node: Node, env: Env) -> Shape:
    if any(d < 0 for d in shape):
        raise env.error(node, f"{node.src}: negative size in shape {shape}")
    size = math.prod(shape)
    if size > MAX_ELEMENTS:
        raise env.error(
            node, f"{node.src}: result of shape {shape} has {size:.3g} entries; at most {MAX_ELEMENTS:,} are allowed"
        )
    return shape


def _axes(axis: int | tuple[int, ...] | None, ndim: int, node: Node, env: Env) -> tuple[int, ...] | None:
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < max(ndim, 1) or ndim == 0:
            raise env.error(node, f"{node.src}: axis {a} is out of range for an array with {ndim} dimension(s)")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise env.error(node, f"{node.src}: repeated axis in {axis}")
    return tuple(out)


# --------------------------------------------------------------------------- shapes
class ShapeBackend:
    """Values are shapes; every rule states numpy's, and every violation names both operands."""

    def number(self, v: Any) -> Shape:
        return ()

    def neg(self, a: Shape) -> Shape:
        return a

    def constant(self, f: str, shape: Shape) -> Shape:
        return shape

    def transpose(self, a: Shape, node: Node, env: Env) -> Shape:
        return tuple(reversed(a))

    def power(self, a: Shape, p: Any, node: Node, env: Env) -> Shape:
        return a

    def arith(self, op: str, a: Shape, b: Shape, node: Node, env: Env) -> Shape:
        try:
            return _check_shape(tuple(np.broadcast_shapes(a, b)), node, env)
        except ValueError:
            raise env.error(
                node,
                f"{node.src}: {a} {op} {b} do not broadcast (element-wise {op} needs equal "
                f"shapes, or sizes of 1 where they differ)",
            ) from None

    def matmul(self, a: Shape, b: Shape, node: Node, env: Env) -> Shape:
        what = f"{node.src}: {a} @ {b}"
        if not a or not b:
            raise env.error(node, f"{what}: @ needs arrays on both sides (use * to scale by a scalar)")
        if len(a) > 2 or len(b) > 2:
            raise env.error(node, f"{what}: @ of arrays with more than 2 dimensions is not supported")
        inner_a = a[-1]
        inner_b = b[0] if len(b) == 1 else b[-2]
        if inner_a != inner_b:
            raise env.error(node, f"{what}: inner sizes differ ({inner_a} vs {inner_b})")
        return a[:-1] + b[1:] if len(b) == 2 else a[:-1]

    def reshape(self, a: Shape, shape: Shape, order: str, node: Node, env: Env) -> Shape:
        size = math.prod(a)
        if sum(d == -1 for d in shape) > 1 or any(d < -1 for d in shape):
            raise env.error(node, f"{node.src}: a shape may contain one -1 at most, and no other negative size")
        if -1 in shape:
            rest = math.prod(d for d in shape if d != -1)
            if rest == 0 or size % rest:
                raise env.error(node, f"{node.src}: cannot reshape {a} ({size} entries) into {shape}")
            shape = tuple(size // rest if d == -1 else d for d in shape)
        if math.prod(shape) != size:
            raise env.error(node, f"{node.src}: cannot reshape {a} ({size} entries) into {shape}")
        return _check_shape(shape, node, env)

    def function(self, f: str, args: Sequence[Shape], opts: Mapping[str, Any], node: Node, env: Env) -> Shape:
        a = args[0]
        if f in ELEMENTWISE:
            return a
        if f == "norm" and opts.get("ord") in ("nuc", 2):
            if len(a) != 2 or opts.get("axis") is not None:
                raise env.error(node, f"{node.src}: ord={opts['ord']!r} is a matrix norm: give a 2-D array, no axis")
            return ()
        if f in REDUCTIONS:
            axes = _axes(opts.get("axis"), len(a), node, env)
            if opts.get("keepdims"):
                return tuple(1 if axes is None or i in axes else d for i, d in enumerate(a))
            return () if axes is None else tuple(d for i, d in enumerate(a) if i not in axes)
        if f in ("softmax", "argmax_mask"):
            _axes(opts.get("axis"), len(a), node, env)
            return a
        if f in ("clip", "where"):
            return self.arith(",", self.arith(",", a, args[1], node, env), args[2], node, env)
        if f in ("tril", "triu", "pinv"):
            if len(a) != 2:
                raise env.error(node, f"{node.src}: {f} needs a matrix, got shape {a}")
            return tuple(reversed(a)) if f == "pinv" else a
        if f in ("expm", "eigvalsh", "eigvecsh", "sqrtm"):
            if len(a) != 2 or a[0] != a[1]:
                raise env.error(node, f"{node.src}: {f} needs a square matrix, got shape {a}")
            return (a[0],) if f == "eigvalsh" else a
        if f == "onehot":
            if not (len(a) == 1 or (len(a) == 2 and a[1] == 1)):
                raise env.error(node, f"{node.src}: onehot(y, k) needs labels of shape (m,) or (m, 1), got {a}")
            return _check_shape((a[0], opts["k"]), node, env)
        if f == "pick":
            y = args[1]
            if len(a) != 2 or not (len(y) == 1 or (len(y) == 2 and y[1] == 1)) or y[0] != a[0]:
                raise env.error(node, f"{node.src}: pick(P, y) needs P of shape (m, k) and labels y of shape (m,) "
                                      f"or (m, 1); got {a} and {y}")
            return y
        if f == "maximum":
            return self.arith(",", a, args[1], node, env)
        if f == "transpose":
            return tuple(reversed(a))
        if f == "diag":
            if len(a) == 1 or (len(a) == 2 and 1 in a):
                n = max(a) if a else 1
                return _check_shape((n, n), node, env)
            if len(a) == 2:
                return (min(a),)
            raise env.error(node, f"{node.src}: diag needs a vector or a matrix, got shape {a}")
        if f == "trace":
            if len(a) != 2:
                raise env.error(node, f"{node.src}: trace needs a matrix, got shape {a}")
            return ()
        if f in ("inv", "det", "logdet"):
            if len(a) != 2 or a[0] != a[1]:
                raise env.error(node, f"{node.src}: {f} needs a square matrix, got shape {a}")
            return a if f == "inv" else ()
        if f == "kron":
            b = args[1]
            n = max(len(a), len(b))
            pa, pb = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
            return _check_shape(tuple(x * y for x, y in zip(pa, pb, strict=False)), node, env)
        if f == "outer":
            return _check_shape((math.prod(a), math.prod(args[1])), node, env)
        raise env.error(node, f"unsupported function {f}")  # pragma: no cover


# --------------------------------------------------------------------------- numpy
def _sigmoid(x: np.ndarray) -> np.ndarray:
    from ..ops import numpy_ops

    return np.asarray(numpy_ops.sigmoid(np.asarray(x)))


def _real(x: np.ndarray) -> np.ndarray:
    return x.real if np.iscomplexobj(x) else x


class NumpyBackend:
    """float64 arithmetic, complex128 when a complex-step probe feeds complex values.

    Each function is the numerically careful form where one exists; on complex input the
    branches (relu, step, maximum) follow the real part, which keeps them complex-analytic
    away from their kinks.
    """

    def number(self, v: Any) -> np.ndarray:
        return np.asarray(float(v))

    def neg(self, a: np.ndarray) -> np.ndarray:
        return -a

    def constant(self, f: str, shape: Shape) -> np.ndarray:
        return {"eye": lambda: np.eye(*shape), "ones": lambda: np.ones(shape), "zeros": lambda: np.zeros(shape)}[f]()

    def transpose(self, a: np.ndarray, node: Node, env: Env) -> np.ndarray:
        return np.asarray(a).T

    def power(self, a: np.ndarray, p: Any, node: Node, env: Env) -> np.ndarray:
        return np.asarray(a) ** p

    def arith(self, op: str, a: np.ndarray, b: np.ndarray, node: Node, env: Env) -> np.ndarray:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        return a / b

    def matmul(self, a: np.ndarray, b: np.ndarray, node: Node, env: Env) -> np.ndarray:
        return np.matmul(a, b)

    def reshape(self, a: np.ndarray, shape: Shape, order: str, node: Node, env: Env) -> np.ndarray:
        return np.reshape(a, shape, order=order)  # type: ignore[call-overload]

    def function(self, f: str, args: Sequence[np.ndarray], opts: Mapping[str, Any], node: Node, env: Env) -> np.ndarray:
        x = np.asarray(args[0])
        axis, keep = opts.get("axis"), bool(opts.get("keepdims", False))
        table: dict[str, Callable[[], Any]] = {
            "exp": lambda: np.exp(x),
            "log": lambda: np.log(x),
            "log1p": lambda: np.log1p(x),
            "sqrt": lambda: np.sqrt(x),
            "tanh": lambda: np.tanh(x),
            "sigmoid": lambda: _sigmoid(x),
            "relu": lambda: np.where(_real(x) > 0, x, 0.0),
            "step": lambda: (_real(x) > 0).astype(np.float64),
            "abs": lambda: np.abs(x),
            "sin": lambda: np.sin(x),
            "cos": lambda: np.cos(x),
            "erf": lambda: _erf(x),
            "sign": lambda: np.sign(_real(x)).astype(np.float64),
            "clip": lambda: np.where(_real(x) < _real(args[1]), args[1],
                                     np.where(_real(x) > _real(args[2]), args[2], x)),
            "where": lambda: np.where(_real(x) != 0, args[1], args[2]),
            "max": lambda: _extreme(x, axis, keep, np.argmax),
            "min": lambda: _extreme(x, axis, keep, np.argmin),
            "argmax_mask": lambda: _argmax_mask(x, axis),
            "tril": lambda: np.tril(x),
            "triu": lambda: np.triu(x),
            "expm": lambda: _expm(x),
            "eigvalsh": lambda: np.linalg.eigvalsh(x),
            "eigvecsh": lambda: _eigvecsh(x),
            "sqrtm": lambda: _sqrtm(x),
            "pinv": lambda: np.linalg.pinv(x),
            "pick": lambda: _pick(x, np.asarray(args[1])),
            "onehot": lambda: _onehot(x, opts["k"]),
            "sum": lambda: np.sum(x, axis=axis, keepdims=keep),
            "mean": lambda: np.mean(x, axis=axis, keepdims=keep),
            # sqrt(sum(x*x)) rather than np.linalg.norm, which takes |x| and so breaks complex step
            "norm": lambda: _norm(x, axis, keep, opts.get("ord")),
            "logsumexp": lambda: _logsumexp(x, axis, keep),
            "softmax": lambda: _softmax(x, axis),
            "maximum": lambda: np.where(_real(x) >= _real(np.asarray(args[1])), x, args[1]),
            "transpose": lambda: x.T,
            "diag": lambda: np.diag(x.ravel() if x.ndim == 2 and 1 in x.shape else x),
            "trace": lambda: np.trace(x),
            "inv": lambda: np.linalg.inv(x),
            "det": lambda: np.linalg.det(x),
            "logdet": lambda: _logdet(x),
            "kron": lambda: np.kron(x, args[1]),
            "outer": lambda: np.outer(x, args[1]),
        }
        return np.asarray(table[f]())


def _norm(x: np.ndarray, axis: Any, keep: bool, order: Any) -> np.ndarray:
    if order in ("nuc", 2):
        s = np.linalg.svd(_real(x), compute_uv=False)
        return np.asarray(s.sum() if order == "nuc" else s.max())
    # sqrt(sum(x*x)) rather than np.linalg.norm, which takes |x| and so breaks complex step
    return np.sqrt(np.sum(x * x, axis=axis, keepdims=keep))


def _erf(x: np.ndarray) -> np.ndarray:
    if np.iscomplexobj(x):
        from scipy.special import erf  # complex step only; scipy is optional

        return np.asarray(erf(x))
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _extreme(x: np.ndarray, axis: Any, keep: bool, arg: Any) -> np.ndarray:
    """max/min along ``axis`` chosen on the real part and taken from ``x`` (so complex step works)."""
    if axis is None:
        flat = x.reshape(-1)
        out = flat[arg(_real(flat))]
        return np.asarray(out).reshape((1,) * x.ndim) if keep else np.asarray(out)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if len(axes) != 1:
        return _extreme(np.moveaxis(x, axes, range(-len(axes), 0)).reshape(
            x.shape[:0] + tuple(d for i, d in enumerate(x.shape) if i not in axes) + (-1,)), -1, False, arg) \
            if not keep else np.expand_dims(_extreme(x, axis, False, arg), axes)
    idx = np.expand_dims(arg(_real(x), axis=axes[0]), axes[0])
    out = np.take_along_axis(x, idx, axis=axes[0])
    return out if keep else np.squeeze(out, axis=axes[0])


def _argmax_mask(x: np.ndarray, axis: Any) -> np.ndarray:
    """1 at the first maximum along ``axis`` (of all entries without one), else 0."""
    r = _real(np.asarray(x))
    out = np.zeros(r.shape)
    if axis is None:
        out.reshape(-1)[np.argmax(r)] = 1.0
        return out
    np.put_along_axis(out, np.expand_dims(np.argmax(r, axis=axis), axis), 1.0, axis=axis)
    return out


def _expm(x: np.ndarray) -> np.ndarray:
    """exp of a matrix by scaling and squaring a Taylor series (complex input too, for complex step)."""
    norm = float(np.max(np.sum(np.abs(x), axis=0), initial=0.0))
    s = max(0, int(np.ceil(np.log2(norm / 0.25))) if norm > 0.25 else 0)
    a = x / 2.0**s
    term = np.eye(x.shape[0], dtype=a.dtype)
    out = term.copy()
    for k in range(1, 20):
        term = term @ a / k
        out = out + term
    for _ in range(s):
        out = out @ out
    return out


def _pick(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``p[i, y[i]]`` for integer labels (taken modulo the number of columns), in the labels' shape."""
    labels = np.rint(_real(y)).astype(int).reshape(-1) % p.shape[1]
    return p[np.arange(p.shape[0]), labels].reshape(y.shape)


def _eigvecsh(x: np.ndarray) -> np.ndarray:
    """Eigenvectors of a symmetric matrix, each with its largest entry positive (a sign that
    does not flip between nearby points, so finite differences see a smooth function)."""
    v = np.linalg.eigh(x)[1]
    j = np.argmax(np.abs(v), axis=0)
    return v * np.sign(v[j, np.arange(v.shape[1])])


def _sqrtm(x: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(x)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _onehot(y: np.ndarray, k: int) -> np.ndarray:
    labels = np.rint(_real(y)).astype(int).reshape(-1) % k
    out = np.zeros((labels.size, k))
    out[np.arange(labels.size), labels] = 1.0
    return out


def _logsumexp(x: np.ndarray, axis: Any, keep: bool) -> np.ndarray:
    m = np.max(_real(x), axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keep else (np.squeeze(out, axis=axis) if axis is not None else out.reshape(()))


def _softmax(x: np.ndarray, axis: Any) -> np.ndarray:
    e = np.exp(x - np.max(_real(x), axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _logdet(x: np.ndarray) -> np.ndarray:
    """log |det x|: its gradient is inv(x)^T whatever the sign of the determinant."""
    if np.iscomplexobj(x):
        return np.log(np.linalg.det(x))
    return np.asarray(np.linalg.slogdet(x)[1])


# --------------------------------------------------------------------------- sympy
def obj(a: Any) -> np.ndarray:
    """A numpy object array (0-d for a scalar) of sympy expressions."""
    if isinstance(a, np.ndarray) and a.dtype == object:
        return a
    out = np.empty(np.shape(a), dtype=object)
    if out.ndim == 0:
        out[()] = a if not isinstance(a, np.ndarray) else a.item()
    else:
        out[...] = a
    return out


def emap(f: Callable[[Any], Any], a: np.ndarray) -> np.ndarray:
    """Apply ``f`` to each entry of an object array."""
    a = obj(a)
    out = np.empty(a.shape, dtype=object)
    for idx in np.ndindex(a.shape):
        out[idx] = f(a[idx])
    return out


class SympyBackend:
    """Entries are sympy expressions in real symbols; the textbook form of every function.

    An adapter onto ``gradcheck.symbolic``'s array machinery: its element-wise functions,
    n-ary sums, matmul and determinant. Kept here: the interpreter's calling convention,
    ``step`` as ``Heaviside`` (symbolic/ decides masks at the point, a proof here must not),
    and ``inv`` as adjugate / det: symbolic/'s LU inverse, tried on the cookbook sheet, printed
    entries of over 300 nodes, divided by a pivot ``X[0,0]`` (undefined where it is 0, which the
    adjugate is not), and its one run took 11 s against 5 s (on a shared machine).
    """

    def __init__(self) -> None:
        import sympy

        from ..symbolic._array import Context, _det, _elementwise, _matmul, _reduce_with, active
        from ..symbolic._backend import get_backend

        be = get_backend("sympy")
        self.sp = sympy
        self.numpy_functions = _elementwise(be)  # gradcheck.symbolic's, by numpy name
        # symbolic's reductions and matmul: one n-ary Add per entry (numpy's object loop adds
        # pairwise and sympy re-flattens the growing sum each step); the same expressions
        self._sum = lambda a, axis, keep: _reduce_with(lambda *t: be.Add(*t) if t else 0, obj(a), axis, keep)
        self._matmul = lambda a, b: _matmul(be, a, b)

        def det(a: np.ndarray) -> Any:
            with active(Context(backend=be)):  # symbolic's _det asks the active run for its backend
                return _det(obj(a)).item()

        self._det = det

    def number(self, v: Any) -> np.ndarray:
        sp = self.sp
        if isinstance(v, float) and not v.is_integer():
            return obj(sp.Rational(repr(v)))  # 0.5 -> 1/2, so that proofs cancel exactly
        return obj(sp.Integer(int(v)))

    def neg(self, a: np.ndarray) -> np.ndarray:
        return obj(-obj(a))

    def constant(self, f: str, shape: Shape) -> np.ndarray:
        sp = self.sp
        base = {"eye": lambda: np.eye(*shape), "ones": lambda: np.ones(shape), "zeros": lambda: np.zeros(shape)}[f]()
        return emap(lambda v: sp.Integer(int(v)), base.astype(object))

    def transpose(self, a: np.ndarray, node: Node, env: Env) -> np.ndarray:
        return obj(a).T

    def power(self, a: np.ndarray, p: Any, node: Node, env: Env) -> np.ndarray:
        e = self.number(p).item()
        return emap(lambda v: v**e, a)

    def arith(self, op: str, a: np.ndarray, b: np.ndarray, node: Node, env: Env) -> np.ndarray:
        a, b = obj(a), obj(b)
        return obj({"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide}[op](a, b))

    def matmul(self, a: np.ndarray, b: np.ndarray, node: Node, env: Env) -> np.ndarray:
        a, b = obj(a), obj(b)
        return obj(self._matmul(a, b))

    def reshape(self, a: np.ndarray, shape: Shape, order: str, node: Node, env: Env) -> np.ndarray:
        return obj(np.reshape(obj(a), shape, order=order))  # type: ignore[call-overload]

    def _matrix(self, a: np.ndarray) -> Any:
        return self.sp.Matrix(a.tolist())

    def function(self, f: str, args: Sequence[np.ndarray], opts: Mapping[str, Any], node: Node, env: Env) -> np.ndarray:
        sp = self.sp
        x = obj(args[0])
        axis, keep = opts.get("axis"), bool(opts.get("keepdims", False))
        np_fn = self.numpy_functions
        elementwise = {
            **{f: np_fn[f] for f in ("exp", "log", "log1p", "sqrt", "tanh")},
            "abs": np_fn["absolute"],
            "sigmoid": lambda v: 1 / (1 + np_fn["exp"](-v)),
            "relu": lambda v: np_fn["maximum"](v, 0),
            "step": lambda v: sp.Heaviside(v),  # symbolic/ decides masks at the point; a proof here keeps it exact
            "sin": sp.sin,
            "cos": sp.cos,
            "erf": sp.erf,
            "sign": sp.sign,
        }
        if f in elementwise:
            return emap(elementwise[f], x)
        if f in NO_EXACT_FORM or (f == "norm" and opts.get("ord") in ("nuc", 2)):
            raise env.error(node, f"{node.src}: {f} has no exact element-wise form here")
        if f in ("clip", "where"):
            a, b, c = np.broadcast_arrays(x, obj(args[1]), obj(args[2]))
            out = np.empty(a.shape, dtype=object)
            for idx in np.ndindex(a.shape):
                out[idx] = (sp.Min(sp.Max(a[idx], b[idx]), c[idx]) if f == "clip"
                            else sp.Piecewise((b[idx], sp.Ne(a[idx], 0)), (c[idx], True)))
            return out
        if f in ("max", "min"):
            from ..symbolic._array import _reduce_with

            return obj(_reduce_with(sp.Max if f == "max" else sp.Min, x, axis, keep))
        if f in ("tril", "triu"):
            return emap(lambda e: sp.Integer(0) if isinstance(e, int) else e, (np.tril if f == "tril" else np.triu)(x))
        if f == "pinv":
            m = self._matrix(x)
            pinv = (m.T * m).adjugate() / (m.T * m).det() * m.T if m.rows >= m.cols else \
                m.T * (m * m.T).adjugate() / (m * m.T).det()
            return obj(np.array(pinv.tolist(), dtype=object))
        if f == "onehot":
            labels = [e for e in x.reshape(-1)]
            if not all(getattr(e, "is_number", False) for e in labels):
                raise env.error(node, f"{node.src}: onehot needs integer labels (declare them labels or give a value)")
            out = np.array([[sp.Integer(int(int(e) % opts["k"] == j)) for j in range(opts["k"])] for e in labels],
                           dtype=object)
            return obj(out)
        if f == "pick":
            y = obj(args[1])
            labels = []
            for e in y.reshape(-1):
                if not getattr(e, "is_number", False):
                    raise env.error(node, f"{node.src}: pick needs integer labels (declare them labels, or a value)")
                labels.append(int(e) % x.shape[1])
            return obj(np.array([x[i, j] for i, j in enumerate(labels)], dtype=object).reshape(y.shape))
        if f == "sum":
            return obj(self._sum(x, axis, keep))
        if f == "mean":
            n = x.size if axis is None else math.prod(x.shape[i] for i in ((axis,) if isinstance(axis, int) else axis))
            return obj(obj(self._sum(x, axis, keep)) / sp.Integer(n))
        if f == "norm":
            return emap(np_fn["sqrt"], obj(self._sum(x * x, axis, keep)))
        if f == "logsumexp":
            return emap(np_fn["log"], obj(self._sum(emap(np_fn["exp"], x), axis, keep)))
        if f == "softmax":
            e = emap(np_fn["exp"], x)
            return obj(e / obj(self._sum(e, axis, True)))
        if f == "maximum":
            a, b = np.broadcast_arrays(x, obj(args[1]))
            out = np.empty(a.shape, dtype=object)
            for idx in np.ndindex(a.shape):
                out[idx] = np_fn["maximum"](a[idx], b[idx])
            return out
        if f == "transpose":
            return x.T
        if f == "diag":
            v = x.ravel() if x.ndim == 2 and 1 in x.shape else x
            out = np.diag(v)
            return emap(lambda e: sp.Integer(0) if isinstance(e, int) else e, out.astype(object))
        if f == "trace":
            return obj(np.trace(x))
        if f == "det":
            return obj(self._det(x))
        if f == "logdet":
            return obj(np_fn["log"](self._det(x)))
        if f == "inv":
            m = self._matrix(x)
            d = m.det(method="berkowitz")
            return obj(np.array((m.adjugate() / d).tolist(), dtype=object))
        if f == "kron":
            return obj(np.kron(x, obj(args[1])))
        if f == "outer":
            return obj(np.outer(x, obj(args[1])))
        raise env.error(node, f"unsupported function {f}")  # pragma: no cover
