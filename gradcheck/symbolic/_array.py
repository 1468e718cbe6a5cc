"""An ndarray of symbols that plain numpy code runs on.

:class:`SymArray` is an object-dtype ``ndarray`` subclass. Structure (indexing, ``.T``,
reshape, broadcasting, concatenation, ``np.diag``, ``np.kron``) is numpy's own object
machinery; numerical functions reach :meth:`SymArray.__array_ufunc__` and
:meth:`SymArray.__array_function__`, which map them to the backend's functions.
Reductions build one n-ary ``Add`` (numpy's object loop would add pairwise, and sympy
re-flattens the growing sum at every step: quadratic in the length).

Comparisons (``z > 0`` for a ReLU mask, ``np.where``, ``argmax``) cannot stay symbolic:
they are decided at the point being evaluated, and the run records that it did so, so
the derivative is the one of the branch active at that point (and is not cached).
"""

from __future__ import annotations

import contextvars
import linecache
import math
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core._errors import SymbolicUnsupportedError
from ._backend import Backend

__all__ = ["SymArray", "symbolic_array", "Context", "active", "current_context"]

_CTX: contextvars.ContextVar[Context | None] = contextvars.ContextVar("gradcheck_symbolic", default=None)


@dataclass
class Context:
    """What a symbolic run needs to decide comparisons and recover float() conversions."""

    backend: Backend
    point: dict[Any, float] = field(default_factory=dict)
    comparisons: int = 0
    near_ties: int = 0
    floats: list[tuple[float, Any, str]] = field(default_factory=list)
    """Every symbolic value frozen into a Python float: (the float, its expression, the user's line).
    The run may only use the expression of a float it returns as is (``return float(loss)``);
    any other frozen float is a constant whose derivative was lost, so the run is n/a."""
    rational: bool = False
    """Turn float operands into exact rationals (proofs: float data must not round)."""
    _subs: dict | None = None

    def value(self, expr: Any) -> float:
        """Float value of ``expr`` at the point (exact float inputs, evaluated by the backend)."""
        if isinstance(expr, (int, float, np.number)):
            return float(expr)
        if self._subs is None:
            if self.backend.name == "sympy":
                import sympy

                self._subs = {s: sympy.Float(v, 30) for s, v in self.point.items()}
            else:
                self._subs = {s: self.backend.number(v) for s, v in self.point.items()}
        try:
            if self.backend.name == "sympy":
                out = expr.xreplace(self._subs)
                if not out.is_number:
                    raise TypeError
                return float(out.evalf(20))
            return float(expr.subs(self._subs))
        except (TypeError, ValueError) as exc:
            raise SymbolicUnsupportedError(
                f"cannot decide a comparison at the point: {_short(expr)} does not evaluate to a number "
                "(does it depend on a symbol without a value, such as an undefined function?)"
            ) from exc


def current_context() -> Context | None:
    return _CTX.get()


class active:
    """Context manager that makes ``ctx`` the one symbolic arrays consult."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._token: contextvars.Token | None = None

    def __enter__(self) -> Context:
        self._token = _CTX.set(self.ctx)
        _float_casts(+1)
        return self.ctx

    def __exit__(self, *exc: object) -> None:
        assert self._token is not None
        _float_casts(-1)
        _CTX.reset(self._token)


# np.asarray(z, dtype=np.float64) opens many a careful loss (a stable sigmoid). numpy casts an
# object array to float in C, calling float() on each symbol, with no hook a subclass can
# override; so while a symbolic run is active, numpy's array constructors are wrapped to keep a
# SymArray whose requested dtype is a float (the symbols already stand for float64 values).
# Any other argument goes to numpy unchanged. Counted, so nested or concurrent runs install once.
_CASTS_LOCK = threading.Lock()
_CASTS_DEPTH = 0
_CASTS_ORIGINAL: dict[str, Callable[..., Any]] = {}


def _keeps_symbols(dtype: Any) -> bool:
    return dtype is None or np.dtype(dtype).kind == "f" or np.dtype(dtype) == object


def _symbolic_cast(name: str, orig: Callable[..., Any]) -> Callable[..., Any]:
    copies = name == "array"
    # numpy's own parameter names: ``np.array(object=...)``, ``np.asarray(a=...)``
    first = "object" if name == "array" else "a"

    def cast(*args: Any, **kwargs: Any) -> Any:
        a = args[0] if args else kwargs.get(first)
        dtype = args[1] if len(args) > 1 else kwargs.get("dtype")
        rest = set(kwargs) - {first, "dtype"}
        if (isinstance(a, SymArray) and len(args) <= 2 and _CTX.get() is not None and _keeps_symbols(dtype)
                and rest <= {"copy", "order", "subok", "ndmin"} and not kwargs.get("ndmin")):
            return a.copy() if copies and kwargs.get("copy", True) else a
        return orig(*args, **kwargs)  # everything else exactly as numpy would take it

    cast.__wrapped__ = orig  # type: ignore[attr-defined]
    cast._gradcheck_cast = True  # type: ignore[attr-defined]
    cast.__name__ = cast.__qualname__ = name
    cast.__doc__ = orig.__doc__
    return cast


_CAST_NAMES = ("asarray", "asanyarray", "array", "ascontiguousarray")


def _float_casts(step: int) -> None:
    """Install (``step`` 1) or remove (-1) the wrappers, counted. Installing unwraps a wrapper left
    behind by an interrupted removal (Ctrl-C, a proof's time limit), so numpy is never wrapped twice;
    the count moves only after the installation, so an interrupted one is redone by the next run."""
    global _CASTS_DEPTH
    with _CASTS_LOCK:
        if step > 0:
            if _CASTS_DEPTH == 0:
                for name in _CAST_NAMES:
                    current = getattr(np, name)
                    orig = current.__wrapped__ if getattr(current, "_gradcheck_cast", False) else current
                    _CASTS_ORIGINAL[name] = orig
                    setattr(np, name, _symbolic_cast(name, orig))
            _CASTS_DEPTH += 1
        else:
            _CASTS_DEPTH = max(_CASTS_DEPTH - 1, 0)
            if _CASTS_DEPTH == 0:
                for name, orig in _CASTS_ORIGINAL.items():
                    setattr(np, name, orig)
                _CASTS_ORIGINAL.clear()


def _ctx() -> Context:
    ctx = _CTX.get()
    if ctx is None:
        raise SymbolicUnsupportedError(
            "a symbolic array was used outside gradcheck.symbolic.gradient/jacobian/prove "
            "(comparisons and float() need the point those set)"
        )
    return ctx


_OWN_DIRS = (os.path.dirname(os.path.abspath(np.__file__)) + os.sep,
             os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep)


def culprit(tb: Any) -> tuple[str, str]:
    """``(numpy function, user's line)`` where an exception raised while tracing left user code.

    The function is what numpy dispatched to SymArray (``func`` of ``__array_function__``,
    ``ufunc`` of ``__array_ufunc__``) or else the numpy frame just inside the user's innermost
    frame; either is "" when it cannot be told."""
    frames = []
    while tb is not None:
        frames.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    users = [i for i, (f, _) in enumerate(frames) if _is_user(f.f_code.co_filename)]
    if not users:
        return "", ""
    i = users[-1]
    line = _describe(frames[i][0].f_code.co_filename, frames[i][1])
    name = ""
    for f, _ in frames[i + 1:]:
        if f.f_code.co_name == "__array_function__" and "func" in f.f_locals:
            func = f.f_locals["func"]
            name = f"{getattr(func, '__module__', None) or 'numpy'}.{getattr(func, '__name__', func)}"
            break
        if f.f_code.co_name == "__array_ufunc__" and "ufunc" in f.f_locals:
            name = f"numpy.{f.f_locals['ufunc'].__name__}"
            break
    if not name and i + 1 < len(frames):
        f = frames[i + 1][0]
        mod = f.f_globals.get("__name__", "")
        if mod.startswith("numpy"):
            name = f"{mod}.{f.f_code.co_name}"
    if name.startswith("numpy."):
        sub = next((m for m in ("linalg.", "fft.", "random.") if name.startswith("numpy." + m)), "")
        name = "numpy." + sub + name.rsplit(".", 1)[1]
    return name.replace("numpy.", "np.", 1), line


def _is_user(filename: str) -> bool:
    path = os.path.abspath(filename)
    return not (path.startswith(_OWN_DIRS) or filename.startswith("<frozen") or filename.endswith(".pyx")
                or any(d in path for d in ("site-packages", "dist-packages")))


def _describe(filename: str, lineno: int | None) -> str:
    src = linecache.getline(filename, lineno or 0).strip()
    return f"{os.path.basename(filename)}:{lineno}" + (f": {src}" if src else "")


def user_line() -> str:
    """``file:line: source`` of the innermost calling frame outside gradcheck and numpy.

    Names a line so an n/a says *where* the code left the symbolic world, not just that it did."""
    f = sys._getframe(1)
    while f is not None:
        if _is_user(f.f_code.co_filename):
            return _describe(f.f_code.co_filename, f.f_lineno)
        f = f.f_back
    return ""


def _short(expr: Any, n: int = 80) -> str:
    s = str(expr)
    return s if len(s) <= n else s[: n - 3] + "..."


# --------------------------------------------------------------------------- construction
def symbolic_array(name: str, shape: tuple[int, ...], backend: Backend) -> SymArray:
    """An array of fresh real symbols ``name_i_j``, one per entry."""
    arr = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        arr[idx] = backend.symbol(name + "".join(f"_{i}" for i in idx) if idx else name)
    return arr.view(SymArray)


def _wrap(x: Any) -> Any:
    if isinstance(x, SymArray):
        return x
    if isinstance(x, np.ndarray):
        if x.dtype == object:
            return x.view(SymArray)
        return x
    if isinstance(x, (bool, np.bool_)):
        return x
    out = np.empty((), dtype=object)
    out[()] = x
    return out.view(SymArray)


def _raw(x: Any) -> np.ndarray:
    if isinstance(x, SymArray):
        return x.view(np.ndarray)
    a = np.asarray(x)
    if a.dtype.kind == "c":
        raise SymbolicUnsupportedError("complex values reached a symbolic loss; the symbolic oracle is real-valued")
    return a


def _obj(a: np.ndarray) -> np.ndarray:
    if a.dtype == object:
        return a
    if a.dtype == bool:  # a mask decided at the point: sympy multiplies ints, not bools
        a = a.astype(np.int64)
    ctx = _CTX.get()
    if ctx is not None and ctx.rational and a.dtype.kind in "fiub":
        import sympy

        out = np.empty(a.shape, dtype=object)
        for idx in np.ndindex(*a.shape):
            v = a[idx].item()
            out[idx] = sympy.Rational(v) if isinstance(v, float) else sympy.Integer(int(v))
        return out
    return a.astype(object)


def _exact_power(e: Any) -> Any:
    if isinstance(e, float) and e.is_integer():
        return int(e)
    return e


# --------------------------------------------------------------------------- elementwise map
def _elementwise(be: Backend) -> dict[str, Callable[..., Any]]:
    def logaddexp(a: Any, b: Any) -> Any:
        return be.log(be.exp(a) + be.exp(b))

    def logaddexp2(a: Any, b: Any) -> Any:
        return be.log(2 ** a + 2 ** b) / be.log(2)

    table: dict[str, Callable[..., Any]] = {
        "exp": be.exp, "log": be.log, "tanh": be.tanh, "sqrt": be.sqrt,
        "absolute": be.Abs, "fabs": be.Abs, "sign": be.sign,
        "maximum": lambda a, b: be.Max(a, b), "minimum": lambda a, b: be.Min(a, b),
        "fmax": lambda a, b: be.Max(a, b), "fmin": lambda a, b: be.Min(a, b),
        "logaddexp": logaddexp, "logaddexp2": logaddexp2,
        "log1p": lambda a: be.log(1 + a), "expm1": lambda a: be.exp(a) - 1,
        "log2": lambda a: be.log(a) / be.log(2), "log10": lambda a: be.log(a) / be.log(10),
        "exp2": lambda a: 2 ** a, "square": lambda a: a ** 2, "reciprocal": lambda a: 1 / a,
        "power": lambda a, b: a ** _exact_power(b), "float_power": lambda a, b: a ** _exact_power(b),
        "conjugate": lambda a: a, "positive": lambda a: a,
    }
    for np_name, fn_name in (("sin", "sin"), ("cos", "cos"), ("tan", "tan"), ("sinh", "sinh"),
                             ("cosh", "cosh"), ("arcsin", "asin"), ("arccos", "acos"), ("arctan", "atan"),
                             ("arcsinh", "asinh"), ("arctanh", "atanh"), ("cbrt", "cbrt")):
        if fn_name in be.functions:
            table[np_name] = be.functions[fn_name]
    return table


_ARITHMETIC = {"add", "subtract", "multiply", "true_divide", "divide", "negative"}
_COMPARE = {"greater", "greater_equal", "less", "less_equal", "equal", "not_equal"}
_NUMERIC = {"isfinite", "isnan", "isinf", "signbit"}
_TABLES: dict[str, dict[str, Callable[..., Any]]] = {}

_HINTS = {
    "floor": "it is piecewise constant: its derivative is 0 where it exists",
    "arctan2": "write np.arctan(y / x) on the branch you need",
    "hypot": "write np.sqrt(a**2 + b**2)",
    "heaviside": "write (z > 0) * 1.0 (decided at the point)",
}


def _unsupported(what: str, hint: str = "") -> SymbolicUnsupportedError:
    hint = hint or _HINTS.get(what, "")
    return SymbolicUnsupportedError(
        f"numpy.{what} has no symbolic mapping in gradcheck.symbolic"
        + (f"; {hint}" if hint else "; write it with the mapped functions (exp, log, tanh, sqrt, abs, "
           "maximum, minimum, logaddexp, +, -, *, /, **, @, sum, mean, max)")
    )


def _numeric(a: np.ndarray) -> np.ndarray:
    if a.dtype != object:
        return a
    ctx = _ctx()
    out = np.empty(a.shape, dtype=np.float64)
    for idx in np.ndindex(*a.shape):
        out[idx] = ctx.value(a[idx])
    return out


def _compare(ufunc: np.ufunc, args: list[np.ndarray]) -> np.ndarray:
    """Decide an elementwise comparison at the point and count it (and how close it was)."""
    ctx = _ctx()
    vals = [_numeric(a) for a in args]
    out = ufunc(*vals)
    ctx.comparisons += int(np.size(out))
    if len(vals) == 2:
        a, b = np.broadcast_arrays(*vals)
        close = np.abs(a - b) <= 64 * np.finfo(np.float64).eps * np.maximum(np.abs(a), np.abs(b))
        ctx.near_ties += int(np.count_nonzero(close))
    return out


# --------------------------------------------------------------------------- reductions, matmul
def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (int(axis),)
    return tuple(sorted(int(a) % ndim for a in axis)) if ndim else ()


def _reduce_with(fn: Callable[..., Any], a: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    axes = _axes(axis, a.ndim)
    rest = [i for i in range(a.ndim) if i not in axes]
    moved = np.transpose(a, rest + list(axes))
    lead = moved.shape[: len(rest)]
    flat = moved.reshape(lead + (-1,))
    out = np.empty(lead, dtype=object)
    for idx in np.ndindex(*lead):
        row = flat[idx]
        out[idx] = fn(*row.tolist()) if row.size else fn()
    if keepdims:
        out = out.reshape(tuple(1 if i in axes else n for i, n in enumerate(a.shape)))
    return out


def _reduce(be: Backend, ufunc: np.ufunc, a: np.ndarray, kwargs: dict) -> np.ndarray:
    axis = kwargs.pop("axis", 0)
    keepdims = kwargs.pop("keepdims", False)
    kwargs.pop("dtype", None)
    if kwargs.get("where", True) is not True or "initial" in kwargs and kwargs["initial"] is not np._NoValue:
        raise _unsupported(f"{ufunc.__name__}.reduce with where=/initial=",
                           "select the entries by indexing before reducing")
    fns: dict[str, Callable[..., Any]] = {
        "add": lambda *t: be.Add(*t) if t else 0,
        "multiply": lambda *t: be.Mul(*t) if t else 1,
        "maximum": lambda *t: be.Max(*t), "minimum": lambda *t: be.Min(*t),
        "fmax": lambda *t: be.Max(*t), "fmin": lambda *t: be.Min(*t),
        "logaddexp": lambda *t: be.log(be.Add(*[be.exp(v) for v in t])),
    }
    if ufunc.__name__ not in fns:
        raise _unsupported(f"{ufunc.__name__}.reduce")
    return _reduce_with(fns[ufunc.__name__], _obj(a), axis, keepdims)


def _matmul(be: Backend, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """numpy.matmul semantics, each entry one n-ary Add of products."""
    if a.ndim == 0 or b.ndim == 0:
        raise SymbolicUnsupportedError("matmul: scalar operands are not allowed (numpy raises too); use *")
    va, vb = a.ndim == 1, b.ndim == 1
    A = a[None, :] if va else a
    B = b[:, None] if vb else b
    if A.shape[-1] != B.shape[-2]:
        from ..core._errors import ShapeMismatchError

        raise ShapeMismatchError(f"matmul: shapes {a.shape} and {b.shape} do not align "
                                 f"({A.shape[-1]} != {B.shape[-2]})")
    batch = np.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    A = np.broadcast_to(_obj(A), batch + A.shape[-2:])
    B = np.broadcast_to(_obj(B), batch + B.shape[-2:])
    m, n = A.shape[-2], B.shape[-1]
    out = np.empty(batch + (m, n), dtype=object)
    for bidx in np.ndindex(*batch):
        Ab, Bb = A[bidx], B[bidx]
        cols = [Bb[:, j] for j in range(n)]
        for i in range(m):
            row = Ab[i]
            for j in range(n):
                out[bidx + (i, j)] = be.Add(*(row * cols[j]).tolist())
    if va:
        out = out[..., 0, :]
    if vb:
        out = out[..., 0]
    return out


# --------------------------------------------------------------------------- the array type
class SymArray(np.ndarray):
    """Object ndarray of symbolic expressions; numpy functions map to the active backend."""

    __gradcheck_symbolic__ = True
    __array_priority__ = 100.0

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        ctx = _ctx()
        be = ctx.backend
        out = kwargs.pop("out", None)
        args = [_raw(x) for x in inputs]
        name = ufunc.__name__
        if method == "__call__":
            result = self._call(be, ufunc, name, args, kwargs)
        elif method == "reduce":
            result = _reduce(be, ufunc, args[0], kwargs)
        elif method in ("accumulate", "outer") and name in _ARITHMETIC | {"power"}:
            result = getattr(ufunc, method)(*[_obj(a) for a in args], **kwargs)
        else:
            raise _unsupported(f"{name}.{method}")
        if out is not None:
            target = out[0] if isinstance(out, tuple) else out
            target[...] = result
            return target
        return _wrap(result)

    @staticmethod
    def _call(be: Backend, ufunc: np.ufunc, name: str, args: list[np.ndarray], kwargs: dict) -> Any:
        if kwargs.get("where", True) is not True:
            raise _unsupported(f"{name} with where=", "select the entries by indexing first")
        kwargs = {k: v for k, v in kwargs.items() if k not in ("dtype", "casting", "where")}
        if name == "matmul":
            return _matmul(be, args[0], args[1])
        if all(set(t.replace("->", "")) == {"O"} for t in ufunc.types):  # np.vectorize / np.frompyfunc
            out = ufunc(*[_obj(a) for a in args], **kwargs)
            if be.name != "sympy":
                out = np.frompyfunc(be.from_foreign, 1, 1)(out) if isinstance(out, np.ndarray) else \
                    be.from_foreign(out)
            return out
        if name in _ARITHMETIC:
            return ufunc(*[_obj(a) for a in args], **kwargs)
        if name in _COMPARE:
            return _compare(ufunc, args)
        if name in _NUMERIC:
            return ufunc(*[_numeric(a) for a in args])
        table = _TABLES.get(be.name)
        if table is None:
            table = _TABLES[be.name] = _elementwise(be)
        fn = table.get(name)
        if fn is None:
            raise _unsupported(name)
        vec = np.frompyfunc(fn, len(args), 1)
        return vec(*[_obj(a) for a in args])

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        handler = _FUNCTIONS.get(func)
        if handler is not None:
            return handler(*args, **kwargs)
        if func in _NUMERIC_FUNCTIONS:
            return func(*[_numeric(_raw(a)) if isinstance(a, SymArray) else a for a in args], **kwargs)
        if func.__module__.startswith("numpy.linalg") or func in _REFUSED:
            mod = func.__module__ or ""
            sub = mod.split(".", 1)[1] if mod.startswith("numpy.") and not mod.startswith("numpy._") else ""
            raise _unsupported(f"{sub}.{func.__name__}".lstrip("."))
        out = super().__array_function__(func, types, args, kwargs)
        # numpy's own implementation may have dropped the subclass (np.asarray inside)
        return _wrap(out) if isinstance(out, np.ndarray) and out.dtype == object else out

    # scalar access keeps the symbolic type, so np.exp(x[0]) still maps to the backend
    def __getitem__(self, key: Any) -> Any:
        return _wrap(super().__getitem__(key))

    def __setitem__(self, key: Any, value: Any) -> None:
        """``y[0] = expr``: store the expression, not a 0-d array nested inside the entry."""
        if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype == object:
            value = value.view(np.ndarray)[()]
        super().__setitem__(key, value)

    def clip(self, *args: Any, **kwargs: Any) -> Any:
        return _clip(self, *args, **kwargs)

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self[i]

    def __float__(self) -> float:
        """The value at the point, recorded with the user's line.

        The expression is recovered only when the loss returns this very float (``return
        float(loss)``); a float used further on is a frozen constant, and the run becomes n/a
        (see ``Context.floats``) rather than differentiate around it."""
        if self.size != 1:
            raise SymbolicUnsupportedError(f"float() of a symbolic array of shape {self.shape}")
        ctx = _ctx()
        expr = self.reshape(-1).view(np.ndarray)[0]
        v = ctx.value(expr)
        ctx.floats.append((v, expr, user_line()))
        return v

    def __int__(self) -> int:
        raise SymbolicUnsupportedError("int() of a symbolic value: the derivative cannot pass through it")

    def __index__(self) -> int:
        raise SymbolicUnsupportedError("a symbolic value used as an index: the derivative cannot pass through it")

    def __bool__(self) -> bool:
        """``if s:`` on a symbolic scalar is a branch decided at the point, counted like a comparison."""
        if self.size != 1:
            raise SymbolicUnsupportedError(
                f"the truth value of a symbolic array of shape {self.shape} (numpy raises too); use .any()/.all()")
        ctx = _ctx()
        ctx.comparisons += 1
        return ctx.value(self.reshape(-1).view(np.ndarray)[0]) != 0

    @property
    def real(self) -> SymArray:  # real symbols: the real part is the array itself
        return self

    def astype(self, dtype: Any, *args: Any, **kwargs: Any) -> Any:  # keep symbols through astype(float)
        if np.dtype(dtype).kind in "fc":
            return self.copy()
        if np.dtype(dtype) == object:
            return self.copy()
        raise SymbolicUnsupportedError(f"astype({np.dtype(dtype)}) of a symbolic array")

    def item(self, *args: Any) -> Any:
        return self.view(np.ndarray).item(*args)


def _like(value: int) -> Callable[..., np.ndarray]:
    def make(a: Any, dtype: Any = None, order: str = "K", subok: bool = True, shape: Any = None,
             **kwargs: Any) -> np.ndarray:
        shp = np.shape(a) if shape is None else shape
        out = np.empty(shp, dtype=object)
        out[...] = value
        return out.view(SymArray)

    return make


def _full_like(a: Any, fill_value: Any, dtype: Any = None, *args: Any, **kwargs: Any) -> np.ndarray:
    out = np.empty(np.shape(a), dtype=object)
    out[...] = fill_value
    return out.view(SymArray)


def _norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    be = _ctx().backend
    a = _obj(_raw(x))
    if ord in (None, "fro", 2) and (ord != 2 or a.ndim == 1 or axis is not None):
        sq = _reduce_with(lambda *t: be.Add(*t) if t else 0, a * a, axis, keepdims)
        return _wrap(np.frompyfunc(be.sqrt, 1, 1)(sq))
    if ord == 1 and (a.ndim == 1 or axis is not None):
        return _wrap(_reduce_with(lambda *t: be.Add(*t), np.frompyfunc(be.Abs, 1, 1)(a), axis, keepdims))
    if ord in (np.inf, float("inf")) and (a.ndim == 1 or axis is not None):
        return _wrap(_reduce_with(lambda *t: be.Max(*t), np.frompyfunc(be.Abs, 1, 1)(a), axis, keepdims))
    raise _unsupported(f"linalg.norm with ord={ord!r} on a {a.ndim}-d array",
                       "write np.sqrt(np.sum(x**2)) (Frobenius) or the norm you mean explicitly")


def _dot(a: Any, b: Any, out: Any = None) -> Any:
    ra, rb = _raw(a), _raw(b)
    if ra.ndim == 0 or rb.ndim == 0:
        return _wrap(_obj(ra) * _obj(rb))
    if ra.ndim <= 2 and rb.ndim <= 2:
        return _wrap(_matmul(_ctx().backend, ra, rb))
    return _wrap(np.dot(_obj(ra), _obj(rb)))


def _inv(a: Any) -> Any:
    be = _ctx().backend
    ra = _raw(a)
    if ra.ndim != 2:
        raise _unsupported("linalg.inv of a stacked array", "invert each matrix")
    if be.name == "sympy":
        import sympy

        m = sympy.Matrix(ra.tolist()).inv(method="LU")
    else:
        import symengine

        m = symengine.DenseMatrix(ra.tolist()).inv()
    return _wrap(np.array(m.tolist(), dtype=object).reshape(ra.shape))


def _solve(a: Any, b: Any) -> Any:
    return _dot(_inv(a), b)


def _det(a: Any) -> Any:
    be = _ctx().backend
    ra = _raw(a)
    if be.name == "sympy":
        import sympy

        return _wrap(sympy.Matrix(ra.tolist()).det(method="berkowitz"))
    import symengine

    return _wrap(symengine.DenseMatrix(ra.tolist()).det())


def _slogdet(a: Any) -> Any:
    """(sign, log|det|): the sign is decided at the point (a comparison), log|det| stays symbolic."""
    ctx = _ctx()
    d = _raw(_det(a))[()]
    v = ctx.value(d)
    ctx.comparisons += 1
    sign = float(np.sign(v))
    logabs = _wrap(ctx.backend.log(d if v > 0 else -d)) if v != 0 else -np.inf
    try:
        from numpy.linalg._linalg import SlogdetResult

        return SlogdetResult(sign, logabs)
    except ImportError:  # numpy < 2 returns a plain tuple
        return sign, logabs


def _eigvalsh(a: Any, UPLO: str = "L") -> Any:  # noqa: N803 (numpy's spelling)
    from ._eigen import eigenvalues

    return _wrap(eigenvalues(_ctx().backend, _obj(_raw(a)), UPLO, "linalg.eigvalsh"))


class _Unusable(np.ndarray):
    """The eigenvectors of a symbolic ``eigh``: returned so that ``w, v = eigh(A)`` runs, refused
    at their first use (their derivative is not mapped), naming the construct."""

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise SymbolicUnsupportedError(
            "the eigenvectors of numpy.linalg.eigh have no symbolic mapping in gradcheck.symbolic (its "
            "eigenvalues have: a loss of eigenvalues alone runs)")

    __array_ufunc__ = __array_function__ = __getitem__ = __iter__ = __float__ = _refuse
    __matmul__ = __rmatmul__ = __mul__ = __rmul__ = __add__ = __radd__ = __sub__ = __rsub__ = _refuse
    T = property(_refuse)


def _eigh(a: Any, UPLO: str = "L") -> Any:  # noqa: N803
    w = _eigvalsh(a, UPLO)
    v = np.empty(np.shape(_raw(a)), dtype=object).view(_Unusable)
    try:
        from numpy.linalg._linalg import EighResult

        return EighResult(w, v)
    except ImportError:  # numpy < 2 returns a plain tuple
        return w, v


_NO = getattr(np, "_NoValue", None)


def _clip(a: Any, a_min: Any = _NO, a_max: Any = _NO, out: Any = None, *, min: Any = _NO, max: Any = _NO,
          **kwargs: Any) -> Any:
    """np.clip as np.minimum(np.maximum(a, lo), hi): symbolic Max/Min, whose kinks the graph knows."""
    lo = a_min if a_min is not _NO else min
    hi = a_max if a_max is not _NO else max
    r = _wrap(_obj(_raw(a)))
    if lo is not _NO and lo is not None:
        r = np.maximum(r, lo)
    if hi is not _NO and hi is not None:
        r = np.minimum(r, hi)
    if out is not None:
        out[...] = r
        return out
    return r


def _outer(a: Any, b: Any, out: Any = None) -> Any:
    return _wrap(_obj(_raw(a)).ravel()[:, None] * _obj(_raw(b)).ravel()[None, :])


_FUNCTIONS: dict[Any, Callable[..., Any]] = {
    np.outer: _outer,
    np.zeros_like: _like(0), np.ones_like: _like(1), np.empty_like: _like(0), np.full_like: _full_like,
    np.linalg.norm: _norm, np.dot: _dot, np.linalg.inv: _inv, np.linalg.solve: _solve, np.linalg.det: _det,
    np.linalg.slogdet: _slogdet, np.clip: _clip, np.linalg.eigvalsh: _eigvalsh, np.linalg.eigh: _eigh,
}
_NUMERIC_FUNCTIONS = {np.argmax, np.argmin, np.argsort, np.isclose, np.allclose}
_REFUSED = {np.sort, np.median, np.percentile, np.quantile, np.unique, np.round, np.around, np.floor,
            np.ceil, np.histogram, np.interp, np.nan_to_num}


def as_expression(value: Any) -> Any:
    """The scalar expression inside a loss's return value (0-d SymArray, object array, expr)."""
    if isinstance(value, np.ndarray):
        if value.size != 1:
            return None
        return value.reshape(-1).view(np.ndarray)[0]
    return value


def is_finite_number(x: Any) -> bool:
    return isinstance(x, (float, int, np.floating, np.integer)) and math.isfinite(float(x))
