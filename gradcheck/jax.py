"""Check a jax rule: a ``custom_vjp`` or ``custom_jvp`` function's derivative, against float64 evidence.

    import gradcheck.jax as gj

    gj.assert_vjp(my_fn, (x, w))                                   # jax.vjp through the custom rule
    gj.assert_jvp(my_fn, (x, w))                                   # jax.jvp (a custom_jvp rule)
    gj.assert_vjp(my_fn, (x.astype(jnp.bfloat16), w.astype(jnp.bfloat16)))   # judged against float64

The floating arguments are the inputs (one verdict each, named after ``fn``'s own argument names). The
reference is ``fn`` run in float64 on upcast copies, with 64-bit types enabled for the check only
(``jax.enable_x64`` as a context: the caller's setting is left as it is), differentiated by finite
differences; in float64 the rule is judged by the engine as a numpy rule (:func:`gradcheck.check_vjp`), in
float32, float16 or bfloat16 against the float64 reference with a tolerance from a stated baseline
(``reference=`` a plain implementation in the same dtype, or the rule's own rounding measured). Both are
compiled once with ``jax.jit``: the finite differences call the forward thousands of times. Needs jax:
``pip install 'gradcheck[jax]'``.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

try:
    import jax
    import jax.numpy as jnp
except ImportError as exc:  # say what to install, not just which module is missing
    raise ImportError(
        "gradcheck.jax checks jax rules and needs jax, which the core install leaves out: "
        "pip install 'gradcheck[jax]' (or jax and jaxlib themselves)"
    ) from exc

from .checks._framework import (
    DEFAULT_MULTIPLIER,
    FLOOR_ULPS,
    Program,
    RuleOptions,
    derivation_parts,
    run_jvp,
    run_vjp,
)
from .checks._rules import DEFAULT_DRAWS
from .core._errors import GradientMismatch, InvalidArgumentError, ParameterError
from .core._naming import display_name
from .core._params import format_index
from .judge._result import GradCheckResult

__all__ = ["check_vjp", "check_jvp", "assert_vjp", "assert_jvp", "register"]


@contextlib.contextmanager
def _x64() -> Iterator[None]:
    """64-bit types for the check's own computations only."""
    with jax.enable_x64(True):
        yield


def _floating(a: Any) -> bool:
    if not hasattr(a, "dtype") or not hasattr(a, "shape"):
        return False
    return bool(jnp.issubdtype(a.dtype, jnp.floating) or jnp.issubdtype(a.dtype, jnp.complexfloating))


def _arg_names(fn: Any, count: int) -> list[str]:
    target = getattr(fn, "fun", fn)  # custom_vjp / custom_jvp keep the primal function as .fun
    try:
        params = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        return [f"input{i}" for i in range(count)]
    if any(p.kind == p.VAR_POSITIONAL for p in params) or len(params) < count:
        return [f"input{i}" for i in range(count)]
    return [p.name for p in params[:count]]


def _outputs(value: Any, fn_name: str) -> dict[str, Any]:
    if isinstance(value, (tuple, list)):
        return {f"out{i}": v for i, v in enumerate(value)}
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if hasattr(value, "shape"):
        return {"out": value}
    raise ParameterError(f"{fn_name} returned a {type(value).__name__}; expected an array, or a tuple, list or "
                         f"dict of arrays")


def _np64(a: Any) -> np.ndarray:
    return np.asarray(a).astype(np.float64)


def _program(fn: Any, primals: Any, name: str | None, reference: Any) -> Program:
    if not callable(fn):
        raise InvalidArgumentError(f"fn={fn!r}: expected a jax function (a custom_vjp or custom_jvp one)")
    args = tuple(primals) if isinstance(primals, (tuple, list)) else (primals,)
    fn_name = display_name(getattr(fn, "fun", fn), name)
    names = _arg_names(fn, len(args))
    positions = {names[i]: i for i, a in enumerate(args) if _floating(a)}
    if not positions:
        raise ParameterError(f"{fn_name}: no argument is a floating array, so there is nothing to check")
    with _x64():
        native = {n: jnp.asarray(args[i]) for n, i in positions.items()}
    for n, a in native.items():
        if jnp.issubdtype(a.dtype, jnp.complexfloating):
            raise ParameterError(f"input {n!r} is complex: gradcheck.jax checks real inputs (split a complex input "
                                 f"into its real and imaginary parts)")
        bad = ~np.isfinite(_np64(a))
        if bad.any():
            raise ParameterError(f"input {n!r} has a non-finite entry at index "
                                 f"{format_index(a.shape, int(np.flatnonzero(bad.ravel())[0]))}")
    order = list(positions)

    def bind(f: Any) -> Callable[..., Any]:
        def call(*diff: Any) -> Any:
            full = list(args)
            for n, d in zip(order, diff, strict=True):
                full[positions[n]] = d
            return f(*full)
        return call

    with _x64():
        y0 = _outputs(bind(fn)(*native.values()), fn_name)
    out_dtypes = {k: jnp.asarray(v).dtype for k, v in y0.items()}
    out_shapes = {k: tuple(jnp.shape(v)) for k, v in y0.items()}

    def widen(a: Any) -> Any:
        return a.astype(jnp.float64) if _floating(a) else a

    def wide_call(*diff: Any) -> Any:
        full = [widen(jnp.asarray(a)) if _floating(a) else a for a in args]
        for n, d in zip(order, diff, strict=True):
            full[positions[n]] = d
        return _outputs(fn(*full), fn_name)

    with _x64():
        forward = jax.jit(wide_call)

    def forward64(x: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        with _x64():
            out = forward(*(jnp.asarray(x[n], dtype=jnp.float64) for n in order))
            return {k: _np64(v) for k, v in out.items()}

    def make_vjp(f: Any) -> Callable[[Mapping[str, np.ndarray], Mapping[str, np.ndarray]], dict[str, Any]]:
        bound = bind(f)

        def pull(diff: tuple[Any, ...], cts: dict[str, Any]) -> tuple[Any, ...]:
            _, back = jax.vjp(lambda *d: _outputs(bound(*d), fn_name), *diff)
            return back(cts)

        with _x64():
            compiled = jax.jit(pull)

        def vjp(x: Mapping[str, np.ndarray], w: Mapping[str, np.ndarray]) -> dict[str, Any]:
            with _x64():
                diff = tuple(jnp.asarray(x[n]).astype(native[n].dtype) for n in order)
                cts = {k: jnp.asarray(w[k]).astype(out_dtypes[k]) for k in out_dtypes}
                grads = compiled(diff, cts)
                return {n: _np64(g) for n, g in zip(order, grads, strict=True)}
        return vjp

    def make_jvp(f: Any) -> Callable[[Mapping[str, np.ndarray], Mapping[str, np.ndarray]], dict[str, Any]]:
        bound = bind(f)

        def push(diff: tuple[Any, ...], tans: tuple[Any, ...]) -> Any:
            return jax.jvp(lambda *d: _outputs(bound(*d), fn_name), diff, tans)[1]

        with _x64():
            compiled = jax.jit(push)

        def jvp(x: Mapping[str, np.ndarray], v: Mapping[str, np.ndarray]) -> dict[str, Any]:
            with _x64():
                diff = tuple(jnp.asarray(x[n]).astype(native[n].dtype) for n in order)
                tans = tuple(jnp.asarray(v[n]).astype(native[n].dtype) for n in order)
                return {k: _np64(t) for k, t in compiled(diff, tans).items()}
        return jvp

    def round_to(dtypes: Mapping[str, Any], w: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        with _x64():
            return {k: _np64(jnp.asarray(v).astype(dtypes[k])) for k, v in w.items()}

    return Program(
        name=fn_name, inputs={n: _np64(native[n]) for n in order},
        dtypes={n: str(native[n].dtype) for n in order},
        eps={n: float(jnp.finfo(native[n].dtype).eps) for n in order}, outputs=out_shapes,
        forward64=forward64, vjp=make_vjp(fn), round_out=lambda w: round_to(out_dtypes, w),
        round_in=lambda v: round_to({n: native[n].dtype for n in order}, v), jvp=make_jvp(fn),
        reference_vjp=make_vjp(reference) if reference is not None else None,
        reference_jvp=make_jvp(reference) if reference is not None else None,
        convention="jax", notes=["float64 reference under jax.enable_x64, for the check only"])


def check_vjp(fn: Callable[..., Any], primals: Any, *, cotangents: int = DEFAULT_DRAWS, seed: int = 0,
              reference: Callable[..., Any] | None = None, multiplier: float = DEFAULT_MULTIPLIER,
              floor_ulps: float = FLOOR_ULPS, nondeterminism: float | None = None, resolution: Any = "auto",
              name: str | None = None, **options: Any) -> GradCheckResult:
    """Check ``jax.vjp`` of ``fn`` (its ``custom_vjp`` rule, or a ``custom_jvp`` rule transposed) at
    ``primals`` along random cotangents; options as :func:`gradcheck.torch.check_vjp`."""
    opts = RuleOptions(draws=cotangents, seed=seed, multiplier=multiplier, floor_ulps=floor_ulps,
                       nondeterminism=nondeterminism, resolution=resolution, engine=options).validated()
    return run_vjp(_program(fn, primals, name, reference), opts)


def check_jvp(fn: Callable[..., Any], primals: Any, *, tangents: int = DEFAULT_DRAWS, seed: int = 0,
              reference: Callable[..., Any] | None = None, multiplier: float = DEFAULT_MULTIPLIER,
              floor_ulps: float = FLOOR_ULPS, nondeterminism: float | None = None, resolution: Any = "auto",
              name: str | None = None, **options: Any) -> GradCheckResult:
    """Check ``jax.jvp`` of ``fn`` (its ``custom_jvp`` rule) along random tangents, one input at a time."""
    opts = RuleOptions(draws=tangents, seed=seed, multiplier=multiplier, floor_ulps=floor_ulps,
                       nondeterminism=nondeterminism, resolution=resolution, engine=options).validated()
    return run_jvp(_program(fn, primals, name, reference), opts)


def _raise_unless_ok(result: GradCheckResult, max_entries: int) -> GradCheckResult:
    __tracebackhide__ = True
    if not result.ok:
        from .judge._headline import failure_message

        raise GradientMismatch(failure_message(result, max_entries), result)
    return result


def assert_vjp(fn: Callable[..., Any], primals: Any, **options: Any) -> GradCheckResult:
    """:func:`check_vjp`, raising :class:`gradcheck.GradientMismatch` unless it passes."""
    __tracebackhide__ = True
    return _raise_unless_ok(check_vjp(fn, primals, **options), options.get("max_entries", 5))


def assert_jvp(fn: Callable[..., Any], primals: Any, **options: Any) -> GradCheckResult:
    """:func:`check_jvp`, raising :class:`gradcheck.GradientMismatch` unless it passes."""
    __tracebackhide__ = True
    return _raise_unless_ok(check_jvp(fn, primals, **options), options.get("max_entries", 5))


def register(*, name: str, fn: Callable[..., Any], make: Callable[..., Any], replace: bool = False,
             **metadata: Any) -> Any:
    """Register ``fn``'s VJP as a derivation of :mod:`gradcheck.registry` (see
    :func:`gradcheck.torch.register`): ``make(rng, **sizes)`` returns ``fn``'s arguments."""
    from . import registry

    factory, loss, grad = derivation_parts(lambda primals: _program(fn, primals, name, None), make)

    def problem(rng: Any, **sizes: Any) -> Any:
        params, data = factory(rng, **sizes)
        return registry.Problem(params=params, data=data)

    problem.__signature__ = factory.__signature__  # type: ignore[attr-defined]
    registry.register(name=name, loss=loss, grad=grad, replace=replace, **metadata)(problem)
    return registry.get(name)
