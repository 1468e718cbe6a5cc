"""Check a torch rule: the backward (and forward-mode rule) of any torch callable, against float64 evidence.

    import gradcheck.torch as gt

    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    gt.assert_vjp(MyFunction.apply, (x, w))                 # float64: the engine's per-entry verdict
    gt.assert_vjp(MyFunction.apply, (x.half(), w.half()))   # float16: judged against the float64 reference

``fn`` is an ``autograd.Function``'s ``apply``, an ``nn.Module`` (its parameters are inputs too), a custom op,
or any function of tensors. Its inputs that require grad are checked (every floating or complex tensor when
none does), one verdict per input, named after ``fn``'s own argument names. The reference is always the same
callable run in float64 on upcast copies of every floating input (and of a module's parameters and
buffers), differentiated by finite differences: where the rule runs in float64 too it is judged by the
engine exactly as a numpy rule (:func:`gradcheck.check_vjp`); in float32, float16 or bfloat16 it runs in
that dtype and is judged against the float64 reference with a tolerance from a stated baseline
(:mod:`gradcheck.checks._framework`). The rule is run twice at the point (a nondeterministic backward is
reported with its spread), every evaluation is made after ``torch.manual_seed(random_seed)`` inside
``torch.random.fork_rng`` (a dropout mask is the same in every evaluation, and the caller's random state is
left as it was), on one CPU thread (the caller's count is given back), and a write to an input or to
``grad_output`` is a :class:`gradcheck.MutatingFunctionError`.
The caller's tensors are never handed to ``fn``: it gets copies.

Complex inputs follow torch's convention (``d/dRe + i d/dIm`` of a real loss); a gradient in the conjugate
convention is named as such. This module needs torch: ``pip install 'gradcheck[torch]'``.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

try:
    import torch
    from torch.autograd import forward_ad
except ImportError as exc:  # say what to install, not just which module is missing
    raise ImportError(
        "gradcheck.torch checks torch rules and needs torch, which the core install leaves out: "
        "pip install 'gradcheck[torch]' (or torch itself)"
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
from .core._errors import GradientMismatch, InvalidArgumentError, MutatingFunctionError, ParameterError
from .core._naming import display_name
from .core._params import format_index
from .judge._result import GradCheckResult

__all__ = ["check_vjp", "check_jvp", "assert_vjp", "assert_jvp", "register"]

_WIDE = {torch.float16: torch.float64, torch.bfloat16: torch.float64, torch.float32: torch.float64,
         torch.float64: torch.float64, torch.complex64: torch.complex128, torch.complex128: torch.complex128}


def _reseed(seed: int, devices: list[Any]) -> None:
    """The generators the evaluation can draw from, reseeded. ``torch.manual_seed`` also reaches every
    accelerator backend, at a cost (milliseconds) that dominates a finite-difference evaluation; on the CPU
    alone the default generator is all there is."""
    if any(d.type != "cpu" for d in devices):
        torch.manual_seed(seed)
    else:
        torch.default_generator.manual_seed(seed)


def _fork(devices: list[Any]) -> Any:
    return torch.random.fork_rng(devices=[d for d in devices if d.type == "cuda"])


@contextlib.contextmanager
def _session(devices: list[Any]) -> Iterator[None]:
    """Around a whole check: the caller's random state restored once at the end, and one CPU thread. The
    finite differences call the callable thousands of times on small tensors, where waking threads costs
    more than the arithmetic: an 8 x 64 by 64 x 8 product took 31 ms on two threads of a busy two-core
    machine and 4 us on one. The caller's thread count is restored."""
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with _fork(devices):
            yield
    finally:
        torch.set_num_threads(threads)


def _differentiable(t: Any) -> bool:
    return isinstance(t, torch.Tensor) and (t.is_floating_point() or t.is_complex())


def _arg_names(fn: Any, count: int) -> list[str]:
    """``fn``'s own names for its positional arguments (a Function's ``forward`` without ``ctx``)."""
    target = fn
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, type) and issubclass(owner, torch.autograd.Function):
        target = owner.forward
    elif isinstance(fn, torch.nn.Module):
        target = fn.forward
    try:
        params = [p for p in inspect.signature(target).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params]
    if isinstance(owner, type) and issubclass(owner, torch.autograd.Function) and names[:1] == ["ctx"]:
        names = names[1:]
    if len(names) < count or any(p.kind == p.VAR_POSITIONAL for p in params):
        return [f"input{i}" for i in range(count)]
    return names[:count]


class _Callable:
    """``fn`` (or ``reference``) called on chosen tensors in place of its differentiable arguments."""

    def __init__(self, fn: Any, args: tuple[Any, ...], positions: dict[str, int], params: list[str],
                 random_seed: int) -> None:
        self.fn, self.args, self.positions, self.params, self.random_seed = fn, args, positions, params, random_seed
        self.devices = sorted({a.device for a in args if isinstance(a, torch.Tensor)}, key=str)
        self.module = fn if isinstance(fn, torch.nn.Module) else None
        self.wide: Any = None

    def widened(self) -> Any:
        """The module in float64 (a deep copy: the caller's module is left as it is), or the function."""
        if self.module is None:
            return self.fn
        if self.wide is None:
            self.wide = copy.deepcopy(self.module)
            for t in list(self.wide.parameters()) + list(self.wide.buffers()):
                if _differentiable(t):
                    t.data = t.data.to(_WIDE[t.dtype])
        return self.wide

    def __call__(self, values: Mapping[str, torch.Tensor], others: list[Any], wide: bool) -> Any:
        args = list(others)
        for name, i in self.positions.items():
            args[i] = values[name]
        _reseed(self.random_seed, self.devices)  # the caller's state is restored once, by the check's session
        if self.module is not None:
            module = self.widened() if wide else self.module
            own = dict(module.named_parameters())
            swap = {n: values[n] for n in self.params if n in own}
            return torch.func.functional_call(module, swap, tuple(args))
        return self.fn(*args)


def _outputs(value: Any, fn_name: str) -> dict[str, torch.Tensor]:
    if isinstance(value, torch.Tensor):
        found = {"out": value}
    elif isinstance(value, (tuple, list)):
        found = {f"out{i}": v for i, v in enumerate(value)}
    elif isinstance(value, Mapping):
        found = {str(k): v for k, v in value.items()}
    else:
        raise ParameterError(f"{fn_name} returned a {type(value).__name__}; expected a tensor, or a tuple, list or "
                             f"dict of tensors")
    out = {k: v for k, v in found.items() if _differentiable(v)}
    if not out:
        raise ParameterError(f"{fn_name} returned no floating or complex tensor: there is nothing to differentiate")
    return out


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    wide = _WIDE.get(t.dtype, torch.float64)
    return t.detach().to("cpu", wide).numpy().copy()


def _unchanged(before: torch.Tensor, after: torch.Tensor, what: str) -> None:
    same = torch.eq(before, after) | (torch.isnan(before) & torch.isnan(after))
    if not bool(same.all()):
        flat = int(torch.nonzero(~same.reshape(-1))[0])
        raise MutatingFunctionError(f"{what} at index {format_index(tuple(before.shape), flat)}")


def _program(fn: Any, inputs: Any, name: str | None, random_seed: int, reference: Any) -> Program:
    if not callable(fn):
        raise InvalidArgumentError(f"fn={fn!r}: expected a torch callable (a Function's apply, a module, a function)")
    args = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    owner = getattr(fn, "__self__", None)
    if name is None and isinstance(owner, type) and issubclass(owner, torch.autograd.Function):
        name = f"{owner.__qualname__}.apply"
    fn_name = display_name(fn, name)
    tensors = [i for i, a in enumerate(args) if _differentiable(a)]
    chosen = [i for i in tensors if args[i].requires_grad] or tensors
    names = _arg_names(fn, len(args))
    positions = {names[i]: i for i in chosen}
    params: dict[str, torch.Tensor] = {}
    if isinstance(fn, torch.nn.Module):
        params = {n: p for n, p in fn.named_parameters() if p.requires_grad and _differentiable(p)}
    if not positions and not params:
        raise ParameterError(f"{fn_name}: no input is a floating or complex tensor, so there is nothing to check")
    originals = {**{n: args[i] for n, i in positions.items()}, **params}
    dup = set(positions) & set(params)
    if dup:
        raise ParameterError(f"{fn_name}: argument and parameter names clash: {sorted(dup)}")
    for n, t in originals.items():
        if not bool(torch.isfinite(t.detach()).all()):
            flat = int(torch.nonzero(~torch.isfinite(t.detach()).reshape(-1))[0])
            raise ParameterError(f"input {n!r} has a non-finite entry at index {format_index(tuple(t.shape), flat)}")
    native = {n: t.detach().clone() for n, t in originals.items()}
    device = {n: t.device for n, t in originals.items()}
    # the arguments that are not checked (the checked ones are replaced in every call), as private copies
    others = [None if i in chosen else a.detach().clone() if isinstance(a, torch.Tensor) else a
              for i, a in enumerate(args)]
    wide_others = [a.to(_WIDE[a.dtype]) if _differentiable(a) else a for a in others]

    def fresh(rest: list[Any]) -> list[Any]:
        """Copies of the unchecked tensors for one call: a write to one cannot leak into the next call."""
        return [a.clone() if isinstance(a, torch.Tensor) else a for a in rest]
    call = _Callable(fn, args, positions, list(params), random_seed)
    ref = _Callable(reference, args, positions, list(params), random_seed) if reference is not None else None

    def forward64(x: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = {n: torch.from_numpy(np.asarray(x[n])).to(device[n]) for n in native}
        with torch.no_grad():
            out = _outputs(call(values, fresh(wide_others), True), fn_name)
        return {k: _to_numpy(v) for k, v in out.items()}

    with torch.no_grad(), _fork(call.devices):
        y_native = _outputs(call({n: t.clone() for n, t in native.items()}, fresh(others), False), fn_name)
    out_dtypes = {k: v.dtype for k, v in y_native.items()}
    out_shapes = {k: tuple(v.shape) for k, v in y_native.items()}

    def leaves(x: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return {n: torch.from_numpy(np.asarray(x[n])).to(device[n], native[n].dtype) for n in native}

    def product(caller: _Callable, x: Mapping[str, np.ndarray], w: Mapping[str, np.ndarray],
                who: str) -> dict[str, np.ndarray | None]:
        at = leaves(x)
        kept = {n: t.clone() for n, t in at.items()}
        mine = {n: t.clone().requires_grad_(True) for n, t in at.items()}
        rest = fresh(others)
        out = _outputs(caller(mine, rest, False), who)
        live = [k for k in out if out[k].requires_grad]
        cot = {k: torch.from_numpy(np.asarray(w[k])).to(out[k].device, out[k].dtype) for k in live}
        cot_kept = {k: c.clone() for k, c in cot.items()}
        grads: tuple[Any, ...] = (None,) * len(mine)
        if live:
            _reseed(random_seed, call.devices)
            grads = torch.autograd.grad([out[k] for k in live], list(mine.values()),
                                            grad_outputs=[cot[k] for k in live], allow_unused=True)
        for k in live:
            _unchanged(cot_kept[k], cot[k], f"{who}'s backward modified grad_output (the cotangent of output {k!r}) "
                                            f"in place (in a graph it may be shared with other branches)")
        for n in mine:
            _unchanged(kept[n], mine[n].detach(), f"{who} modified its input {n!r} in place")
        return {n: (None if g is None else _to_numpy(g)) for n, g in zip(mine, grads, strict=True)}

    def tangent(caller: _Callable, x: Mapping[str, np.ndarray], v: Mapping[str, np.ndarray],
                who: str) -> dict[str, np.ndarray]:
        at = leaves(x)
        kept = {n: t.clone() for n, t in at.items()}
        with forward_ad.dual_level():
            duals = {n: forward_ad.make_dual(t, torch.from_numpy(np.asarray(v[n])).to(t.device, t.dtype))
                     for n, t in at.items()}
            out = _outputs(caller(duals, fresh(others), False), who)
            res = {}
            for k, o in out.items():
                tan = forward_ad.unpack_dual(o).tangent
                res[k] = _to_numpy(tan) if tan is not None else np.zeros(tuple(o.shape))
        for n, t in at.items():
            _unchanged(kept[n], t, f"{who} modified its input {n!r} in place")
        return res

    def round_to(dtypes: Mapping[str, torch.dtype], w: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: _to_numpy(torch.from_numpy(np.asarray(v)).to(dtypes[k])) for k, v in w.items()}

    ref_name = display_name(reference, None) if reference is not None else ""
    return Program(
        name=fn_name, inputs={n: _to_numpy(t) for n, t in native.items()},
        dtypes={n: str(t.dtype).replace("torch.", "") for n, t in native.items()},
        eps={n: float(torch.finfo(t.dtype).eps) for n, t in native.items()}, outputs=out_shapes,
        forward64=forward64, vjp=lambda x, w: product(call, x, w, fn_name),
        round_out=lambda w: round_to(out_dtypes, w),
        round_in=lambda v: round_to({n: t.dtype for n, t in native.items()}, v),
        jvp=lambda x, v: tangent(call, x, v, fn_name),
        reference_vjp=(lambda x, w: product(ref, x, w, ref_name)) if ref is not None else None,
        reference_jvp=(lambda x, v: tangent(ref, x, v, ref_name)) if ref is not None else None,
        convention="torch", session=lambda: _session(call.devices),
        notes=[f"random ops: torch.manual_seed({random_seed}) before every evaluation"],
    )


def check_vjp(fn: Callable[..., Any], inputs: Any, *, cotangents: int = DEFAULT_DRAWS, seed: int = 0,
              reference: Callable[..., Any] | None = None, multiplier: float = DEFAULT_MULTIPLIER,
              floor_ulps: float = FLOOR_ULPS, nondeterminism: float | None = None, resolution: Any = "auto",
              random_seed: int = 0, name: str | None = None, **options: Any) -> GradCheckResult:
    """Check ``fn``'s backward at ``inputs`` (a tensor or a tuple of arguments) along random cotangents.

    Returns a :class:`gradcheck.GradCheckResult` with one parameter per differentiable input (and module
    parameter). ``cotangents`` Gaussian draws of ``grad_output`` (seeded by ``seed``) are each judged; the
    result keeps per input the most severe verdict and names its draw.

    In float64 the verdict is the engine's (``options``: ``method``, ``safety``, ``kinks``, ``max_entries``
    ... as :func:`gradcheck.check_grad`). In a lower dtype the product is judged against finite
    differences of ``fn`` in float64 with a tolerance of ``multiplier x`` a baseline's largest error ``+
    floor_ulps`` ulps of the dtype times the largest entry: the baseline is ``reference`` (a plain
    implementation taking the same arguments, differentiated by torch's autograd in the same dtype) or,
    without one, the rule's own rounding measured at the point. ``resolution="auto"`` asks the engine's
    default in float64 and 100 ulps in a lower dtype. ``nondeterminism``: the largest absolute difference
    between two runs of the backward accepted (None: any difference fails).
    """
    opts = RuleOptions(draws=cotangents, seed=seed, multiplier=multiplier, floor_ulps=floor_ulps,
                       nondeterminism=nondeterminism, resolution=resolution, engine=options).validated()
    return run_vjp(_program(fn, inputs, name, random_seed, reference), opts)


def check_jvp(fn: Callable[..., Any], inputs: Any, *, tangents: int = DEFAULT_DRAWS, seed: int = 0,
              reference: Callable[..., Any] | None = None, multiplier: float = DEFAULT_MULTIPLIER,
              floor_ulps: float = FLOOR_ULPS, nondeterminism: float | None = None, resolution: Any = "auto",
              random_seed: int = 0, name: str | None = None, **options: Any) -> GradCheckResult:
    """Check ``fn``'s forward-mode rule (a Function's ``jvp``, run through ``torch.autograd.forward_ad``) along
    random tangents, one input at a time; entries are the outputs'. Options as :func:`check_vjp`."""
    opts = RuleOptions(draws=tangents, seed=seed, multiplier=multiplier, floor_ulps=floor_ulps,
                       nondeterminism=nondeterminism, resolution=resolution, engine=options).validated()
    return run_jvp(_program(fn, inputs, name, random_seed, reference), opts)


def _raise_unless_ok(result: GradCheckResult, max_entries: int) -> GradCheckResult:
    __tracebackhide__ = True
    if not result.ok:
        from .judge._headline import failure_message

        raise GradientMismatch(failure_message(result, max_entries), result)
    return result


def assert_vjp(fn: Callable[..., Any], inputs: Any, **options: Any) -> GradCheckResult:
    """:func:`check_vjp`, raising :class:`gradcheck.GradientMismatch` (an ``AssertionError``) unless it passes."""
    __tracebackhide__ = True
    return _raise_unless_ok(check_vjp(fn, inputs, **options), options.get("max_entries", 5))


def assert_jvp(fn: Callable[..., Any], inputs: Any, **options: Any) -> GradCheckResult:
    """:func:`check_jvp`, raising :class:`gradcheck.GradientMismatch` unless it passes."""
    __tracebackhide__ = True
    return _raise_unless_ok(check_jvp(fn, inputs, **options), options.get("max_entries", 5))


def register(*, name: str, fn: Callable[..., Any], make: Callable[..., Any], random_seed: int = 0,
             replace: bool = False, **metadata: Any) -> Any:
    """Register ``fn``'s backward as a derivation of :mod:`gradcheck.registry`, so that ``gradcheck report``
    (``--module`` of the module that calls this) checks and reports it beside the others.

    ``make(rng, **sizes)`` returns ``fn``'s inputs drawn from ``rng`` (its keyword defaults are the
    derivation's sizes); each problem adds a cotangent drawn from the same ``rng``. The report checks the
    float64 rule (inputs upcast); ``metadata`` are :func:`gradcheck.registry.register`'s (``source=``,
    ``expected_correct=``, ``tags=`` ...). Returns the :class:`gradcheck.registry.Derivation`.
    """
    from . import registry

    def build(inputs: Any) -> Program:
        return _program(fn, inputs, name, random_seed, None)

    factory, loss, grad = derivation_parts(build, make)

    def problem(rng: Any, **sizes: Any) -> Any:
        params, data = factory(rng, **sizes)
        return registry.Problem(params=params, data=data)

    problem.__signature__ = factory.__signature__  # type: ignore[attr-defined]
    registry.register(name=name, loss=loss, grad=grad, replace=replace, **metadata)(problem)
    return registry.get(name)
