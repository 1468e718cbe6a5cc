"""gradient() and jacobian(): run the code on symbols, differentiate, compile, evaluate."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
import types
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core._errors import InvalidArgumentError, ParameterError, SymbolicUnsupportedError
from ._array import Context, SymArray, active, as_expression, culprit, symbolic_array
from ._backend import Backend, get_backend
from ._eigen import NeedsSympy
from ._graph import AtTies, Graph, Shift, one_sided, reverse, stabilize, tied_nodes, topo, walk_values
from ._program import Program, emit_program
from ._result import Status, SymbolicDerivative

__all__ = ["gradient", "jacobian", "clear_cache", "DEFAULT_MAX_ENTRIES", "DEFAULT_MAX_EXACT_ENTRIES",
           "symbolic_params", "call_on_symbols", "reference_values", "fingerprint"]

DEFAULT_MAX_ENTRIES = 20_000
"""Derivative entries (parameters x outputs) above which the oracle answers n/a. A 5000-parameter
MLP takes about 10 s with sympy alone and 4 s with symengine (benchmarks/symbolic_speed.py);
20k entries bounds one call to about a minute, not hours."""
DEFAULT_MAX_EXACT_ENTRIES = 2_000
"""50-digit mpmath evaluation runs in Python, ~100x slower than the float64 code: kept small."""
KINK_RTOL = 64 * 2.0 ** -52
"""An argument of max/abs within 64 ulps of its operands' magnitude is at its tie: the loss's
float64 arithmetic puts a ReLU input that was built as ``b = -(x @ W)`` exactly on 0 while the
exact sum of the same floats is 1e-17 away."""
_ULPS = 4.0
_CACHE: OrderedDict[Any, _Compiled] = OrderedDict()
_CACHE_SIZE = 64


def clear_cache() -> None:
    """Forget every compiled derivative."""
    _CACHE.clear()


# --------------------------------------------------------------------------- parameters
def single_name(kind: str) -> str:
    """The key of a bare array's entry in the result's mappings: the name ``check_grad`` gives a
    bare array (``params``) for a gradient, the one ``check_jacobian`` gives (``x``) for a
    Jacobian, so ``result.params[k]`` and ``derivative.value[k]`` use the same ``k``."""
    return "params" if kind == "grad" else "x"


def _params(params: Any, what: str, kind: str = "grad") -> tuple[dict[str, np.ndarray], bool]:
    single = not isinstance(params, Mapping)
    items = {single_name(kind): params} if single else dict(params)
    if not items:
        raise ParameterError(f"{what}: params is empty")
    out = {}
    for name, v in items.items():
        if not isinstance(name, str):
            raise ParameterError(f"{what}: parameter names must be strings, got {name!r}")
        a = np.asarray(v)
        if a.dtype.kind not in "biuf":
            raise ParameterError(f"{what}: parameter {name!r} has dtype {a.dtype}; the symbolic oracle "
                                 "takes real arrays")
        a = a.astype(np.float64, copy=True)
        bad = np.argwhere(~np.isfinite(a))
        if bad.size:
            raise ParameterError(f"{what}: parameter {name!r} has a non-finite entry at "
                                 f"{tuple(int(i) for i in bad[0])}")
        out[name] = a
    return out, single


def symbolic_params(params: Mapping[str, np.ndarray], be: Backend, single: bool = False) -> dict[str, SymArray]:
    """Arrays of symbols named after their parameters; a bare array's symbols are ``x_...``
    whatever its key: symengine orders a max's tied arguments by symbol name, so the kink
    convention (the first tied argument) must not move with the key."""
    return {name: symbolic_array("x" if single else name, v.shape, be) for name, v in params.items()}


def _point(sym: Mapping[str, SymArray], params: Mapping[str, np.ndarray]) -> dict:
    pt = {}
    for name, arr in sym.items():
        for idx in np.ndindex(*arr.shape):
            pt[arr.view(np.ndarray)[idx]] = float(params[name][idx])
    return pt


def call_on_symbols(fn: Callable[..., Any], arg: Any, ctx: Context, what: str) -> Any:
    """Call user code on symbolic arrays; every failure becomes a named error.

    The reason names the numpy function and the user's line where tracing stopped, so an n/a
    says what to rewrite (``np.clip is not supported (loss.py:12: y = np.clip(z, 0, 1))``)."""
    with active(ctx):
        try:
            out = fn(arg)
        except SymbolicUnsupportedError as exc:
            func, line = culprit(exc.__traceback__)
            if line and line not in str(exc):
                raise type(exc)(f"{exc} (at {line})") from exc
            raise
        except Exception as exc:
            func, line = culprit(exc.__traceback__)
            where = f" ({line})" if line else ""
            msg = str(exc)
            if isinstance(exc, TypeError) and ("convert" in msg and ("float" in msg or "complex" in msg
                                                                     or "int" in msg) or "no callable" in msg) \
                    or isinstance(exc, RuntimeError) and "cannot be evaluated" in msg:  # symengine's float()
                raise SymbolicUnsupportedError(
                    f"{what} turned a symbolic value into a number{where} ({msg}). Typical causes: float() or "
                    "np.float64() of an intermediate, math.exp/math.log (use np.exp/np.log), np.array with "
                    "arguments beyond dtype/copy/order (ndmin=...), or writing symbols into a float array "
                    "(create it with np.zeros_like(x))"
                ) from exc
            head = f"{func} is not supported on symbols" if func else f"{what} raised on symbolic input"
            raise SymbolicUnsupportedError(f"{head}{where}: {type(exc).__name__}: {msg}") from exc
    return out


def _scalar_expr(value: Any, ctx: Context, what: str) -> Any:
    """The loss's expression; n/a when a value was frozen into a float on the way.

    ``return float(loss)`` is recovered: the very float object returned is the last one
    recorded, and it is the only one. Any other frozen float may sit in the expression as a
    constant whose derivative is lost, and a verdict on that would be mistaken."""
    floats = ctx.floats
    if isinstance(value, (float, np.floating)) and not isinstance(value, SymArray):
        if len(floats) == 1 and value is floats[0][0]:
            return floats[0][1]
        if not floats:
            raise SymbolicUnsupportedError(
                f"{what} returned the number {float(value)!r}, not an expression: it converted symbols to "
                "numbers on the way (math.* functions, float() of an intermediate). Return the numpy value")
    _refuse_frozen(ctx, what)
    expr = as_expression(value)
    if expr is None:
        raise SymbolicUnsupportedError(f"{what} returned an array of shape {np.shape(value)}, not a scalar; "
                                       "use jacobian() for array-valued functions")
    return expr


def _refuse_frozen(ctx: Context, what: str) -> None:
    if ctx.floats:
        line = ctx.floats[0][2]
        raise SymbolicUnsupportedError(
            f"{what} converted symbols to numbers{' at ' + line if line else ''}: a symbolic value became a "
            "float constant whose derivative is lost (float(), math.* functions, or a write into a float "
            "array such as np.zeros(n)). Keep it an array: np.sum(...) rather than float(np.sum(...)), np.exp "
            "rather than math.exp, np.zeros_like(x) for a buffer")


# --------------------------------------------------------------------------- fingerprints (cache keys)
def _digest(obj: Any, h: Any, seen: set, depth: int = 0) -> None:
    """Hash what a function's result can depend on: its code, closure, defaults, and globals."""
    if depth > 12:
        raise TypeError("too deep to fingerprint")
    if isinstance(obj, np.ndarray):
        h.update(f"nd{obj.shape}{obj.dtype}".encode())
        h.update(obj.tobytes() if obj.dtype != object else repr(obj.tolist()).encode())
    elif isinstance(obj, (int, float, complex, str, bytes, bool, type(None), np.generic)):
        h.update(repr((type(obj).__name__, obj)).encode())
    elif isinstance(obj, Mapping):
        for k in sorted(obj, key=repr):
            h.update(repr(k).encode())
            _digest(obj[k], h, seen, depth + 1)
    elif isinstance(obj, (list, tuple)):
        h.update(f"seq{len(obj)}".encode())
        for x in obj:
            _digest(x, h, seen, depth + 1)
    elif isinstance(obj, types.FunctionType):
        _digest_function(obj, h, seen, depth + 1)
    elif isinstance(obj, types.MethodType):
        _digest_function(obj.__func__, h, seen, depth + 1)
        _digest(obj.__self__, h, seen, depth + 1)
    elif isinstance(obj, (types.ModuleType, types.BuiltinFunctionType, type, np.ufunc)):
        h.update(f"named{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', obj.__name__)}".encode())
    elif hasattr(obj, "__dict__"):
        if id(obj) in seen:
            h.update(b"seen")
            return
        seen.add(id(obj))
        h.update(f"obj{type(obj).__module__}.{type(obj).__qualname__}".encode())
        _digest(vars(obj), h, seen, depth + 1)
    else:  # no content to read: never reuse a compiled derivative for it
        raise TypeError(f"cannot fingerprint {type(obj).__qualname__}")


def _digest_function(fn: types.FunctionType, h: Any, seen: set, depth: int) -> None:
    code = fn.__code__
    h.update(f"fn{fn.__module__}:{code.co_filename}:{code.co_firstlineno}:{code.co_name}".encode())
    if id(fn) in seen:
        return
    seen.add(id(fn))
    _digest_code(code, h)
    for cell in fn.__closure__ or ():
        try:
            contents = cell.cell_contents
        except ValueError:  # an empty cell
            h.update(b"empty")
            continue
        _digest(contents, h, seen, depth)
    _digest(fn.__defaults__ or (), h, seen, depth)
    if (fn.__module__ or "").startswith("gradcheck."):
        return  # the library's own helpers: their module state is not the user's data
    g = fn.__globals__
    for name in code.co_names:
        if name in g:
            h.update(name.encode())
            _digest(g[name], h, seen, depth)


def fingerprint(*objs: Any) -> str | None:
    """A hash of what the result of calling ``objs`` can depend on (their code, closures, defaults,
    globals, arrays by value), or None for something it cannot read. Two equal fingerprints mean
    the same code on the same data: the key under which a derivative, or a proof, may be reused."""
    return _fingerprint(objs[0] if len(objs) == 1 else tuple(objs))


def _digest_code(code: types.CodeType, h: Any) -> None:
    """Bytecode, names and constants; nested code (lambdas, comprehensions) by its content, never by
    its repr, which holds a memory address: the fingerprint must be the same in every process, since
    proofs are cached on disk under it."""
    h.update(code.co_code)
    h.update(repr(code.co_names).encode())
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            h.update(f"code {c.co_name}".encode())
            _digest_code(c, h)
        else:
            h.update(repr(c).encode())


def _fingerprint(fn: Any) -> str | None:
    h = hashlib.sha1()
    try:
        _digest(fn, h, set())
    except Exception:  # an exotic callable: run uncached rather than guess
        return None
    return h.hexdigest()


@dataclass(frozen=True)
class _Lifted:
    """A function whose float data arrays (reached through its closure: cells, dicts, lists, tuples,
    nested functions) are taken out: ``fingerprint`` hashes everything else, ``arrays`` are the data
    in a fixed order, ``rebuild(new)`` is the same function closing over ``new`` instead.

    A loss bound to one draw of its data (``Derivation.bind``) and to another have the same
    fingerprint: the derivative program built with the data as symbols serves both, so a report
    builds each derivation's derivative once per size, not once per seed."""

    fingerprint: str
    arrays: tuple[np.ndarray, ...]
    rebuild: Callable[[list], Any]


def _lift(fn: Any) -> _Lifted | None:
    """``fn`` with its data arrays lifted out, or None (no closure, no float array in it, or
    something that cannot be fingerprinted)."""
    if not isinstance(fn, types.FunctionType) or not fn.__closure__:
        return None
    h = hashlib.sha1(b"lifted")
    arrays: list[np.ndarray] = []
    seen: set = set()

    def walk(obj: Any, depth: int) -> Callable[[list], Any] | None:
        """Hash ``obj``; a rebuilder when a data array is inside (None: reuse ``obj`` as it is)."""
        if depth > 12:
            raise TypeError("too deep to fingerprint")
        if type(obj) is np.ndarray and obj.dtype.kind == "f" and obj.size:
            h.update(f"data{obj.shape}{obj.dtype}".encode())
            k = len(arrays)
            arrays.append(obj)
            return lambda new: new[k]
        if type(obj) is dict and all(isinstance(key, str) for key in obj):
            h.update(f"dict{len(obj)}".encode())
            parts = {}
            for key in sorted(obj):
                h.update(repr(key).encode())
                parts[key] = walk(obj[key], depth + 1)
            if not any(parts.values()):
                return None
            return lambda new: {key: (parts[key](new) if parts[key] else v) for key, v in obj.items()}
        if type(obj) in (list, tuple):
            h.update(f"{type(obj).__name__}{len(obj)}".encode())
            items = [walk(x, depth + 1) for x in obj]
            if not any(items):
                return None
            return lambda new: type(obj)(f(new) if f else x for f, x in zip(items, obj, strict=True))
        if isinstance(obj, types.FunctionType) and obj.__closure__ and id(obj) not in seen:
            return function(obj, depth)
        _digest(obj, h, seen, depth)
        return None

    def function(f: types.FunctionType, depth: int) -> Callable[[list], Any] | None:
        seen.add(id(f))
        code = f.__code__
        h.update(f"fn{f.__module__}:{code.co_filename}:{code.co_firstlineno}:{code.co_name}".encode())
        _digest_code(code, h)
        cells = []
        for cell in f.__closure__ or ():
            try:
                cells.append(walk(cell.cell_contents, depth + 1))
            except ValueError:  # an empty cell
                h.update(b"empty")
                cells.append(None)
        _digest(f.__defaults__ or (), h, seen, depth)
        if not (f.__module__ or "").startswith("gradcheck."):
            for name in code.co_names:
                if name in f.__globals__:
                    h.update(name.encode())
                    _digest(f.__globals__[name], h, seen, depth)
        if not any(cells):
            return None

        def rebuild(new: list) -> types.FunctionType:
            closure = tuple(types.CellType(c(new)) if c else cell
                            for c, cell in zip(cells, f.__closure__ or (), strict=True))
            g = types.FunctionType(code, f.__globals__, f.__name__, f.__defaults__, closure)
            g.__kwdefaults__, g.__qualname__, g.__dict__ = f.__kwdefaults__, f.__qualname__, dict(f.__dict__)
            return g

        return rebuild

    try:
        rebuild = function(fn, 0)
    except Exception:  # an exotic closure: the unlifted route decides
        return None
    if rebuild is None:
        return None
    return _Lifted(h.hexdigest(), tuple(arrays), rebuild)


# --------------------------------------------------------------------------- compiled form
@dataclass
class _Compiled:
    be: Backend
    syms: dict[str, SymArray]
    inputs: list
    roots: list
    out_shape: tuple[int, ...]
    n_out: int
    shifts: list[Shift]
    graph: Graph | None
    program: Program | None
    notes: tuple[str, ...]
    timings: dict[str, float]
    n_data: int = 0  # inputs after the parameters' entries that are the data's (see _Lifted)


def _run_on_symbols(fn: Callable[..., Any], params: dict[str, np.ndarray], single: bool, kind: str, be: Backend,
                    what: str, extra_point: Mapping[Any, float] | None = None
                    ) -> tuple[dict[str, SymArray], list, tuple[int, ...], Context]:
    syms = symbolic_params(params, be, single)
    ctx = Context(backend=be, point={**_point(syms, params), **(extra_point or {})})
    value = call_on_symbols(fn, next(iter(syms.values())) if single else syms, ctx, what)
    if kind == "grad":
        return syms, [_scalar_expr(value, ctx, what)], (), ctx
    _refuse_frozen(ctx, what)
    arr = value.view(np.ndarray) if isinstance(value, np.ndarray) else np.asarray(value, dtype=object)
    return syms, list(arr.reshape(-1)), arr.shape, ctx


def _build(fn: Callable[..., Any], params: dict[str, np.ndarray], single: bool, kind: str,
           be: Backend, what: str, max_entries: int, *, lifted: _Lifted | None = None) -> tuple[_Compiled, Context]:
    """Run the code on symbols, then print its reverse-mode program (unless it is too large).

    With ``lifted``, the code's data arrays are symbols too (inputs of the program after the
    parameters), so the program is that of every draw of the data of these shapes."""
    t0 = time.perf_counter()
    data_syms: list = []
    extra: dict = {}
    if lifted is not None:
        arrays = [symbolic_array(f"_d{k}", a.shape, be) for k, a in enumerate(lifted.arrays)]
        for arr, a in zip(arrays, lifted.arrays, strict=True):
            flat = list(arr.view(np.ndarray).reshape(-1))
            data_syms += flat
            extra.update(zip(flat, (float(v) for v in np.asarray(a, dtype=np.float64).reshape(-1)), strict=True))
        fn = lifted.rebuild(arrays)
    syms, roots, out_shape, ctx = _run_on_symbols(fn, params, single, kind, be, what, extra)
    wrt = [s for arr in syms.values() for s in arr.view(np.ndarray).reshape(-1)]
    n_out = len(roots) * len(wrt)
    t1 = time.perf_counter()
    graph, program, shifts = None, None, []
    if n_out <= max_entries:
        roots, shifts = stabilize(be, roots)
        graph = topo(be, roots, set(wrt))
        program = emit_program(be, graph, roots, wrt, shifts, data_syms)
    t2 = time.perf_counter()
    if program is not None:
        program.compile()
    t3 = time.perf_counter()
    notes = []
    if ctx.comparisons:
        notes.append(f"{ctx.comparisons} comparisons were decided at the point (masks, np.where): the derivative "
                     "is that of the branches active there" + (f"; {ctx.near_ties} were within 64 ulps of a tie"
                                                               if ctx.near_ties else ""))
    if ctx.floats:
        notes.append("the code called float() on a symbolic value; its expression was recovered")
    if shifts:
        notes.append(f"{len(shifts)} log-sum-exp forms evaluated with a max shift")
    inputs = wrt + data_syms + [s.symbol for s in shifts]
    comp = _Compiled(be, syms, inputs, roots, out_shape, n_out, shifts, graph, program, tuple(notes),
                     {"build": t1 - t0, "differentiate": t2 - t1, "compile": t3 - t2}, len(data_syms))
    return comp, ctx


# --------------------------------------------------------------------------- exact evaluation
def _exact(comp: _Compiled, x: np.ndarray, digits: int) -> np.ndarray:
    """The same program in mpmath at ``digits`` digits: inputs and constants exact."""
    import mpmath

    assert comp.program is not None
    with mpmath.workdps(digits):
        res = comp.program.run_exact([mpmath.mpf(float(v)) for v in x])
        return np.array([mpmath.mpf(r) for r in res], dtype=object)


# --------------------------------------------------------------------------- the reference route
def reference_values(fn: Callable[..., Any], params: Any, *, kind: str = "grad", backend: str = "auto",
                     timings: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """float64 derivative by the earlier route: full gradient expressions, CSE, generated code.

    Kept as the independent reference the straight-line program is tested against (and timed
    against in benchmarks/symbolic_speed.py, which passes ``timings`` to get the phases); no
    kinks, no rounding bound, no cache.
    """
    t0 = time.perf_counter()
    p, single = _params(params, "reference_values", kind)
    be = get_backend(backend)
    syms, roots, out_shape, _ = _run_on_symbols(fn, p, single, kind, be, "reference_values")
    t1 = time.perf_counter()
    roots, shifts = stabilize(be, roots)
    wrt = [s for arr in syms.values() for s in arr.view(np.ndarray).reshape(-1)]
    graph = topo(be, roots, set(wrt))
    outputs = []
    for r in roots:
        adj = reverse(be, graph, r, wrt)
        outputs.extend(adj.get(s, 0) for s in wrt)
    t2 = time.perf_counter()
    inputs = wrt + [s.symbol for s in shifts]
    run = be.compile(inputs, outputs)
    levels = [[s for s in shifts if s.level == level] for level in sorted({s.level for s in shifts})]
    shift_runs = [be.compile(inputs, [a for s in group for a in s.args]) for group in levels]
    t3 = time.perf_counter()
    x = np.concatenate([v.reshape(-1) for v in p.values()])
    full = np.concatenate([x, np.zeros(len(shifts))])
    for group, shift_run in zip(levels, shift_runs, strict=True):
        vals = shift_run(full)
        k = 0
        for s in group:
            m = max(vals[k:k + len(s.args)])
            k += len(s.args)
            full[len(x) + shifts.index(s)] = m if (m == m and abs(float(m)) != math.inf) else 0.0
    flat = run(full).reshape(len(roots), len(wrt))
    if timings is not None:
        timings.update({"build": t1 - t0, "differentiate": t2 - t1, "compile": t3 - t2,
                        "evaluate": time.perf_counter() - t3})
    return _splitter(p, out_shape)(flat)


# --------------------------------------------------------------------------- the public functions
@dataclass(frozen=True)
class _Request:
    """What one call of :func:`gradient`/:func:`jacobian` asked for, checked by :meth:`checked`
    and read whole by the stages after it."""

    kind: str
    exact: bool
    max_entries: int
    backend: str
    cache: bool
    kink_rtol: float
    digits: int
    max_exact_entries: int
    what: str

    def checked(self) -> _Request:
        """``self``, or :class:`InvalidArgumentError` naming the first bad option."""
        for opt in ("max_entries", "max_exact_entries", "digits"):
            v = getattr(self, opt)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise InvalidArgumentError(f"{self.what}: {opt}={v!r}; expected a positive integer")
        if not (isinstance(self.kink_rtol, (int, float)) and self.kink_rtol >= 0):
            raise InvalidArgumentError(f"{self.what}: kink_rtol={self.kink_rtol!r}; expected a number >= 0")
        return self


def _derivative(fn: Callable[..., Any], params: Any, req: _Request) -> SymbolicDerivative:
    try:
        return _derivative_on(fn, params, req)
    except NeedsSympy:
        if req.backend != "auto":
            raise
        return _derivative_on(fn, params, dataclasses.replace(req, backend="sympy"))


def _derivative_on(fn: Callable[..., Any], params: Any, req: _Request) -> SymbolicDerivative:
    kind, max_entries, what = req.kind, req.max_entries, req.what
    if not callable(fn):
        raise InvalidArgumentError(f"{what}: expected a callable, got {type(fn).__name__}")
    req.checked()
    p, single = _params(params, what, kind)
    be = get_backend(req.backend)
    n_params = sum(v.size for v in p.values())
    if n_params > max_entries:
        return _na(kind, single, be, f"too large for symbolic at this size: {n_params} parameter entries > "
                   f"max_entries={max_entries}")
    shapes = tuple((k, v.shape) for k, v in p.items())
    lifted = _lift(fn) if req.cache else None
    if lifted is not None:  # one program for every draw of the data: built at the first, evaluated at each
        try:
            found = _compiled(("lifted", lifted.fingerprint, kind, be.name, shapes, single),
                              lambda: _build(fn, p, single, kind, be, what, max_entries, lifted=lifted))
        except Exception:  # data the code needs as numbers (indices, shapes): the route below, data as constants
            found = None
        if found is not None:
            return _answer(found, p, single, req, np.concatenate([a.reshape(-1) for a in lifted.arrays]))
    fp = _fingerprint(fn) if req.cache else None
    key = None if fp is None else (fp, kind, be.name, shapes, single)
    found = _compiled(key, lambda: _build(fn, p, single, kind, be, what, max_entries))
    assert found is not None
    return _answer(found, p, single, req, np.zeros(0))


def _compiled(key: Any, build: Callable[[], tuple[_Compiled, Context]]) -> tuple[_Compiled, bool] | None:
    """The compiled derivative under ``key`` and whether it came from the cache, building it on a miss.

    Not cached when comparisons were decided at the point (masks, np.where): the program holds the
    branches taken there, which another point may not take."""
    comp = _CACHE.get(key) if key is not None else None
    if comp is not None:
        _CACHE.move_to_end(key)
        return comp, True
    comp, ctx = build()
    if key is not None and not ctx.comparisons and comp.program is not None:
        _CACHE[key] = comp
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return comp, False


def _answer(found: tuple[_Compiled, bool], p: dict[str, np.ndarray], single: bool, req: _Request,
            data: np.ndarray) -> SymbolicDerivative:
    comp, cached = found
    n_out = comp.n_out
    if n_out > req.max_entries or comp.program is None:
        be = comp.be
        return _na(req.kind, single, be, f"too large for symbolic at this size: {n_out} derivative entries > "
                   f"max_entries={req.max_entries}")
    return _evaluate(comp, p, single, req, cached, data)


def _na(kind: str, single: bool, be: Backend, reason: str) -> SymbolicDerivative:
    return SymbolicDerivative(Status.NA, kind, {}, {}, {}, {}, {}, None, reason, (), be.name, single)


def _evaluate(comp: _Compiled, p: dict[str, np.ndarray], single: bool, req: _Request,
              cached: bool, data: np.ndarray) -> SymbolicDerivative:
    """The compiled derivative at the parameters ``p`` (and, for a lifted program, the data values
    ``data``, which the rounding probe leaves unperturbed: they are inputs of the question, not of it)."""
    kind, exact, digits, max_exact_entries = req.kind, req.exact, req.digits, req.max_exact_entries
    assert comp.program is not None and data.size == comp.n_data
    t0 = time.perf_counter()
    x = np.concatenate([v.reshape(-1) for v in p.values()])
    out, sh = comp.program.run(np.stack([np.concatenate([y, data]) for y in (x, *_perturbed(x))], axis=1))
    n_in, n_roots = len(x), len(comp.roots)
    vals = out[:, 0].reshape(n_roots, n_in).copy()
    kink = np.zeros_like(vals, dtype=bool)
    left = np.full_like(vals, np.nan)
    right = np.full_like(vals, np.nan)
    notes = list(comp.notes)
    if comp.graph is not None and comp.graph.kinks:
        _kinks(comp, np.concatenate([x, data, sh[:, 0]]), _Slopes(vals, kink, left, right), req.kink_rtol, notes)
    t1 = time.perf_counter()
    exact_vals = None
    err = _rounding(out, vals, kink)
    if exact:
        if vals.size > max_exact_entries:
            notes.append(f"exact evaluation skipped: {vals.size} entries > max_exact_entries={max_exact_entries}")
        else:
            try:
                ex = _exact(comp, np.concatenate([x, data]), digits).reshape(n_roots, n_in)
            except (ArithmeticError, ValueError, TypeError) as exc:  # mpmath raises where float64 gives inf
                notes.append(f"exact evaluation failed at this point ({type(exc).__name__}: {exc}); the error "
                             "bound is the float64 one")
            else:
                ex = np.where(kink, vals.astype(object), ex)
                exact_vals = ex
                diff = np.array([[abs(float(vals[i, j]) - float(ex[i, j])) if math.isfinite(vals[i, j])
                                  else math.inf for j in range(n_in)] for i in range(n_roots)]).reshape(vals.shape)
                err = np.nextafter(diff, np.inf) * (diff > 0)
    bad = ~np.isfinite(vals)
    if bad.any():
        idx = np.argwhere(bad)[0]
        notes.append(f"{int(bad.sum())} derivative entries are not finite in float64 (first at flat index "
                     f"{tuple(int(i) for i in idx)}): the expression overflows at this point, or its derivative is not "
                     "defined there (a degenerate eigenvalue's)")
    t2 = time.perf_counter()
    split = _splitter(p, comp.out_shape)
    timings = dict(comp.timings) if not cached else {}
    timings.update({"evaluate": t1 - t0, "exact": t2 - t1})
    return SymbolicDerivative(
        status=Status.OK, kind=kind, value=split(vals), error=split(err), kink=split(kink), left=split(left),
        right=split(right), exact_value=split(exact_vals) if exact_vals is not None else None,
        notes=tuple(notes), backend=comp.be.name, single=single, cached=cached, timings=timings)


def _perturbed(x: np.ndarray) -> list[np.ndarray]:
    """Three copies of the point, each entry moved by one ulp in a random direction (fixed seed)."""
    eps = np.finfo(np.float64).eps
    rng = np.random.default_rng(0)
    return [x * (1 + eps * rng.choice([-1.0, 1.0], size=x.shape)) for _ in range(3)]


def _rounding(out: np.ndarray, vals: np.ndarray, kink: np.ndarray) -> np.ndarray:
    """Rounding bound of the float64 evaluation, from its sensitivity to 1-ulp input perturbations.

    A few ulps of |value| is not enough: a gradient entry of 2e-3 that is a sum of terms of
    size 1 carries their absolute rounding (1e-16, 100 ulps of it). The program's other
    columns hold the derivative at the point with the inputs moved by an ulp in random
    directions, which shows that cancellation (a backward-stable evaluation is exact for
    inputs that close); three draws, times 2, plus 4 ulps of the value.
    """
    eps = np.finfo(np.float64).eps
    with np.errstate(all="ignore"):
        spread = np.max(np.abs(out[:, 1:] - out[:, :1]), axis=1).reshape(vals.shape)
        err = _ULPS * eps * np.abs(vals) + 2 * spread
    return np.where(kink | ~np.isfinite(err), _ULPS * eps * np.abs(vals), err)


def _splitter(p: dict[str, np.ndarray], out_shape: tuple[int, ...]) -> Callable[[np.ndarray], dict]:
    def split(a: np.ndarray) -> dict:
        out, k = {}, 0
        for name, v in p.items():
            out[name] = np.ascontiguousarray(a[:, k:k + v.size]).reshape(out_shape + v.shape)
            k += v.size
        return out

    return split


@dataclass(frozen=True)
class _Slopes:
    """The derivative entries being built (``roots x inputs``), which :func:`_kinks` fills in
    place where an entry sits at a kink: its convention value, the flag and the one-sided slopes."""

    vals: np.ndarray
    kink: np.ndarray
    left: np.ndarray
    right: np.ndarray


def _kinks(comp: _Compiled, full: np.ndarray, out: _Slopes, rtol: float, notes: list) -> None:
    be, graph = comp.be, comp.graph
    point = dict(zip(comp.inputs, (float(v) for v in full), strict=True))
    val, mag = walk_values(be, graph, point)
    ties = tied_nodes(be, graph, val, mag, rtol)
    if not ties:
        return
    at = AtTies(be, graph, val, ties)
    vals, kink, left, right = out.vals, out.kink, out.left, out.right
    index = {s: i for i, s in enumerate(comp.inputs[: vals.shape[1]])}
    touched: set = set()
    for node in ties:
        touched |= {s for s in node.free_symbols if s in index}
    for r, root in enumerate(comp.roots):
        for s in touched:
            j = index[s]
            rgt = one_sided(at, root, s, 1.0, False)
            lft = -one_sided(at, root, s, -1.0, False)
            if abs(rgt - lft) > 1e-12 * max(abs(rgt), abs(lft)) and abs(rgt - lft) > 1e-300:
                kink[r, j] = True
                left[r, j], right[r, j] = lft, rgt
                vals[r, j] = one_sided(at, root, s, 1.0, True)
            else:
                vals[r, j] = rgt
    notes.append(f"{len(ties)} max/abs nodes sit at their tie; {int(kink.sum())} derivative entries are kinks "
                 "(value = convention, left/right = one-sided derivatives)")


def gradient(loss: Callable[..., Any], params: Any, *, exact: bool = False, max_entries: int = DEFAULT_MAX_ENTRIES,
             backend: str = "auto", cache: bool = True, kink_rtol: float = KINK_RTOL, digits: int = 50,
             max_exact_entries: int = DEFAULT_MAX_EXACT_ENTRIES) -> SymbolicDerivative:
    """Exact gradient of the scalar ``loss(params)`` at ``params`` (one array or a dict of arrays).

    The loss runs on arrays of symbols (numpy code through :class:`SymArray`, or code written
    against ``gradcheck.ops`` with any namespace); its reverse-mode walk over the expression DAG
    is printed as straight-line code (one assignment per node) and evaluated in float64.
    ``exact=True`` also runs that code with mpmath at ``digits`` digits, constants exact (at most
    ``max_exact_entries`` entries), and measures each float64 entry's error against it.
    ``backend``: ``"auto"`` (symengine when installed),
    ``"sympy"`` or ``"symengine"``. Compiled derivatives are cached per (code and the data it
    closes over, shapes); ``cache=False`` rebuilds. Above ``max_entries`` parameter or derivative
    entries the result is ``status="n/a"`` with the reason.
    """
    return _derivative(loss, params, _Request("grad", exact, max_entries, backend, cache, kink_rtol, digits,
                                              max_exact_entries, f"gradient of {getattr(loss, '__name__', 'loss')}"))


def jacobian(fn: Callable[..., Any], x: Any, *, exact: bool = False, max_entries: int = DEFAULT_MAX_ENTRIES,
             backend: str = "auto", cache: bool = True, kink_rtol: float = KINK_RTOL, digits: int = 50,
             max_exact_entries: int = DEFAULT_MAX_EXACT_ENTRIES) -> SymbolicDerivative:
    """Exact Jacobian of ``fn(x)`` in numerator layout: ``out.shape + param.shape`` per parameter.

    Options as in :func:`gradient`.
    """
    return _derivative(fn, x, _Request("jacobian", exact, max_entries, backend, cache, kink_rtol, digits,
                                       max_exact_entries, f"jacobian of {getattr(fn, '__name__', 'fn')}"))
