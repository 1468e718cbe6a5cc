"""Public entry points: check_grad, check_jacobian, assert_grad, assert_jacobian,
numerical_grad, numerical_jacobian.

The flow is one way: validate options and parameters -> evaluate (one Evaluator) ->
estimate (finite differences) -> judge (per-entry tolerances, kinks) -> diagnose ->
result objects. Nothing here formats reports; results render themselves.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Literal, Mapping

import numpy as np

from . import _fd, _recording
from ._compare import DEFAULT_SAFETY, KINK, KINK_MISMATCH, MISMATCH, floor_rtol, judge
from ._diagnose import diagnose
from ._errors import GradientMismatch, InvalidArgumentError, LossRaisedError, MutatingFunctionError
from ._evaluator import ComplexUnsupported, DirectionalPerturbation, Evaluator
from ._params import ParamSet
from ._result import STATUS_NAMES, Entry, Estimate, GradCheckResult, ParamResult, Tolerance

__all__ = [
    "check_grad",
    "check_jacobian",
    "assert_grad",
    "assert_jacobian",
    "numerical_grad",
    "numerical_jacobian",
    "METHODS",
]

METHODS = ("richardson", "central", "forward", "complex", "auto")
"""``richardson`` (default): central differences at h, h/2, h/4 extrapolated to 6th order,
6 evaluations per entry, kinks detected. ``central``: h and h/2, 4 per entry, kinks
detected. ``forward``: h and h/2, 2 per entry, no kink detection. ``complex``: complex
step, 1 per entry, exact to rounding, needs a complex-analytic loss, no kink detection.
``auto``: complex step when a probe shows the loss is complex-analytic, else richardson."""

Layout = Literal["numerator", "denominator"]


# --------------------------------------------------------------------------- options
def _options(method: str, rtol: float | None, atol: float | None, safety: float, step: float | None,
             typical: float | Mapping[str, float], kinks: bool, max_entries: int) -> None:
    if method not in METHODS:
        raise InvalidArgumentError(f"method={method!r}: expected one of {', '.join(map(repr, METHODS))}")
    for name, value in (("rtol", rtol), ("atol", atol)):
        if value is not None and (not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0):
            raise InvalidArgumentError(f"{name}={value!r}: expected a finite number >= 0, or None for error-estimate tolerances")
    if not isinstance(safety, (int, float)) or not math.isfinite(safety) or safety < 1:
        raise InvalidArgumentError(f"safety={safety!r}: expected a finite number >= 1 (default {DEFAULT_SAFETY:g})")
    if step is not None and (not isinstance(step, (int, float)) or not 0 < step < 1):
        raise InvalidArgumentError(f"step={step!r}: expected a relative base step in (0, 1), or None for the scheme's default")
    values = typical.values() if isinstance(typical, Mapping) else [typical]
    for v in values:
        if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise InvalidArgumentError(f"typical={typical!r}: expected a positive number (or a mapping name -> positive number)")
    if not isinstance(kinks, bool):
        raise InvalidArgumentError(f"kinks={kinks!r}: expected True or False")
    if not isinstance(max_entries, int) or max_entries < 1:
        raise InvalidArgumentError(f"max_entries={max_entries!r}: expected an integer >= 1")


def _name(fn: Callable[..., Any], given: str | None) -> str:
    return given or getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__


def _typical_for(typical: float | Mapping[str, float], name: str) -> float:
    if isinstance(typical, Mapping):
        return float(typical.get(name, 1.0))
    return float(typical)


def _scales(ps: ParamSet, typical: float | Mapping[str, float]) -> list[np.ndarray]:
    """Per-coordinate magnitude ``max(|x_i|, typical)``: steps are fractions of it."""
    if isinstance(typical, Mapping):
        unknown = set(typical) - set(ps.names)
        if unknown:
            raise InvalidArgumentError(f"typical has key(s) {sorted(unknown)} that are not parameters {ps.names}")
    return [np.maximum(np.abs(ps.arrays[n].astype(np.float64).ravel()), _typical_for(typical, n)) for n in ps.names]


def _steps(ps: ParamSet, method: str, step: float | None, scales: list[np.ndarray]) -> list[np.ndarray]:
    """Per-coordinate steps: base * max(|x_i|, typical), so each entry moves by a fixed fraction of its own size."""
    base = step if step is not None else _fd.default_base_step(method, ps.eps)
    out = []
    for name, scale in zip(ps.names, scales):
        h = base * scale
        if method != "complex":
            # Make x + h exactly representable so that the step taken is the step divided by.
            x = ps.arrays[name].astype(np.float64).ravel()
            h = (x + h) - x
        out.append(h)
    return out


def _widen_rtol(ps: ParamSet, safety: float, step: float | None, refine: bool) -> float | None:
    """Error (relative to a parameter's scale) above which a rounding-limited entry takes a
    wider step: where ``safety x error`` would exceed the tolerance's floor. None when the
    caller fixed the step or turned refinement off."""
    if step is not None or not refine:
        return None
    return floor_rtol(ps.eps) / safety


def _noise_floor(ev: Evaluator, f0: np.ndarray, spread: float, method: str, scales: list[np.ndarray],
                 notes: list[str]) -> np.ndarray:
    """Absolute noise of each output: measured (unless complex step, which subtracts nothing) plus spread."""
    if method == "complex":
        return np.full(f0.size, spread)
    sigma, flat = _fd.measure_noise(ev, f0, scales)
    eps = ev.params.eps
    floor = _fd.NOISE_SIGMAS * sigma + spread
    if flat.any():
        # f did not move at all: its resolution is unknown, so assume the customary
        # typical magnitude max(|f|, 1) rather than pretend it is exact.
        floor = np.where(flat, np.maximum(floor, _fd.NOISE_SIGMAS * eps * np.maximum(np.abs(f0), 1.0)), floor)
        j = int(np.flatnonzero(flat)[0])
        notes.append(
            f"{ev.fn_name} did not change at all (to the last bit) within a relative step of "
            f"{6 * _fd.NOISE_STEP * 100.0 ** (_fd.NOISE_TRIES - 1):.0e} around this point (value {f0[j]:.3g}): it is "
            f"flat in floating point there, and its resolution was taken as eps x max(|f|, 1)"
        )
        return floor
    model = _fd.ulps(f0, eps)
    if np.any(floor > model):
        j = int(np.argmax(floor / np.maximum(model, np.finfo(float).tiny)))
        notes.append(
            f"{ev.fn_name} values carry rounding noise of {floor[j]:.2g} at |f| = {abs(f0[j]):.2g} "
            f"(a small difference of large terms, or a value rounded on a coarser grid?): error estimates use the measured noise"
        )
    return floor


# --------------------------------------------------------------------------- method choice
def _complex_ok(ev: Evaluator, f0: np.ndarray, spread: float, safety: float) -> str | None:
    """None if complex step is trustworthy for this function, else the reason it is not.

    Beyond accepting complex input, the function must be complex-analytic: abs(), maximum
    on magnitudes, .real or conj() give wrong complex-step derivatives silently. One random
    direction compared with a central difference catches that.
    """
    try:
        ev.probe_complex()
    except ComplexUnsupported as exc:
        return str(exc)
    rng = np.random.default_rng(20240611)
    direction = {}
    for name in ev.params.names:
        x = ev.params.arrays[name]
        direction[name] = rng.standard_normal(x.shape) * np.maximum(np.abs(x), 1.0)
    norm = max(float(np.abs(v).max()) for v in direction.values())
    direction = {k: v / norm for k, v in direction.items()}
    hc = 1e-20
    try:
        zc = ev.evaluate([DirectionalPerturbation(direction, complex(0.0, hc), "complex-step probe")], real=False)[0].imag / hc
    except LossRaisedError as exc:
        return str(exc)
    eps = ev.params.eps
    t = eps ** (1 / 3)
    d = []
    for tk in (t, t / 2):
        fp, fm = ev.evaluate([DirectionalPerturbation(direction, tk, "complex-step probe"),
                              DirectionalPerturbation(direction, -tk, "complex-step probe")])
        d.append((fp - fm) / (2 * tk))
    err = np.abs(d[0] - d[1]) / 3 + (_fd.ulps(f0, eps) + _fd.NOISE_ULPS * spread) / (t / 2)
    bad = np.abs(zc - d[1]) > safety * err + floor_rtol(eps) * np.abs(d[1])
    # Where f' h is within 1/eps of the subnormal range the imaginary part has lost digits:
    # complex step would then resolve less than richardson, whatever the probe says.
    underflow = (d[1] != 0) & (np.abs(d[1]) * hc < np.finfo(np.float64).smallest_normal / eps)
    if underflow.any():
        return (
            f"the loss's derivative along a random direction ({d[1][underflow][0]:.3g}) is so small that the "
            f"complex step's imaginary part (that derivative x {hc:g}) underflows into subnormal numbers, "
            f"which keep too few digits (method='richardson' has no such limit)"
        )
    if bad.any():
        return (
            f"the complex-step derivative along a random direction ({zc[bad][0]:.6g}) disagrees with the central "
            f"difference ({d[1][bad][0]:.6g}): the function is not complex-analytic (abs, np.maximum, comparisons "
            f"on complex values, .real or conj?)"
        )
    return None


def _resolve_method(ev: Evaluator, method: str, f0: np.ndarray, spread: float, safety: float, notes: list[str]) -> str:
    if method not in ("complex", "auto"):
        return method
    reason = _complex_ok(ev, f0, spread, safety)
    if reason is None:
        return "complex"
    if method == "complex":
        raise InvalidArgumentError(f"method='complex' cannot be used with {ev.fn_name}: {reason}")
    notes.append(f"method='auto' fell back to 'richardson': {reason}")
    return "richardson"


# --------------------------------------------------------------------------- the engine
def _analytic(deriv: Callable[[Any], Any], ps: ParamSet, deriv_name: str, *, what: str,
              out_shape: tuple[int, ...] | None, layout: Layout, order: str | None) -> dict[str, np.ndarray]:
    """Call the hand-derived derivative on copies and bring it to numerator layout, shape out + param."""
    copies = ps.copies()
    try:
        value = deriv(ps.pack(copies))
    except Exception as exc:
        raise LossRaisedError(f"{deriv_name} raised {type(exc).__name__}: {exc}") from exc
    for name in ps.names:
        if not np.array_equal(copies[name], ps.arrays[name]):
            flat = int(np.flatnonzero((copies[name] != ps.arrays[name]).ravel())[0])
            idx = tuple(int(i) for i in np.unravel_index(flat, ps.arrays[name].shape))
            raise MutatingFunctionError(f"{deriv_name} modified its input: parameter {name!r} changed at index {idx}")
    if out_shape is not None and (layout == "denominator" or order is not None):
        value = _to_numerator(value, ps, out_shape, layout, order, deriv_name)
    return ps.unpack_derivative(value, what=what, fn_name=deriv_name, out_shape=out_shape)


def _to_numerator(value: Any, ps: ParamSet, out_shape: tuple[int, ...], layout: Layout, order: str | None,
                  deriv_name: str) -> Any:
    def convert(name: str, arr: Any) -> Any:
        arr = np.asarray(arr)
        pshape = ps.arrays[name].shape
        m, n = int(np.prod(out_shape)), int(np.prod(pshape))
        if order is not None:
            want = (n, m) if layout == "denominator" else (m, n)
            if arr.shape != want:
                from ._errors import ShapeMismatchError

                raise ShapeMismatchError(
                    f"{deriv_name}: Jacobian for parameter {name!r} has shape {arr.shape}; with order={order!r} and "
                    f"layout={layout!r} expected the 2-D matrix {want} (out.size={m}, x.size={n})"
                )
            if layout == "denominator":
                arr = arr.T
            return arr.reshape(out_shape + pshape, order=order)  # type: ignore[call-overload]
        # denominator layout, full shape x.shape + out.shape
        k = len(pshape)
        if arr.ndim == k + len(out_shape) and arr.shape == pshape + out_shape:
            return np.moveaxis(arr, list(range(k)), list(range(len(out_shape), len(out_shape) + k)))
        return arr  # wrong shape: unpack_derivative reports it against the numerator shape

    if isinstance(value, Mapping) and not ps.single:
        return {k: (convert(k, v) if k in ps.arrays else v) for k, v in value.items()}
    if not isinstance(value, Mapping) and ps.single:
        return convert(ps.names[0], value)
    return value


def _run(kind: Literal["grad", "jacobian"], fn: Callable[[Any], Any], deriv: Callable[[Any], Any], params: Any, *,
         method: str, rtol: float | None, atol: float | None, safety: float, step: float | None,
         typical: float | Mapping[str, float], kinks: bool, max_entries: int, name: str | None,
         layout: Layout = "numerator", order: str | None = None) -> GradCheckResult:
    _options(method, rtol, atol, safety, step, typical, kinks, max_entries)
    ps = ParamSet(params, single_name="params" if kind == "grad" else "x")
    fn_name = _name(fn, name)
    ev = Evaluator(fn, ps, scalar=kind == "grad", fn_name=fn_name)
    f0, spread = ev.base()
    out_shape = ev.out_shape
    deriv_name = _name(deriv, None)
    what = "gradient" if kind == "grad" else "Jacobian"
    analytic = _analytic(deriv, ps, deriv_name, what=what, out_shape=None if kind == "grad" else out_shape,
                         layout=layout, order=order)
    notes: list[str] = [ps.infos[n].note and f"{n}: {ps.infos[n].note}" for n in ps.names]
    notes = [n for n in notes if n]
    used = _resolve_method(ev, method, f0, spread, safety, notes)
    scales = _scales(ps, typical)
    floor = _noise_floor(ev, f0, spread, used, scales, notes)
    raws = _fd.estimate(ev, f0, floor, used, _steps(ps, used, step, scales), safety=safety,
                        resolve_rtol=ps.eps ** 0.6,
                        widen_rtol=_widen_rtol(ps, safety, step, True))
    results = {}
    for pname, raw in zip(ps.names, raws):
        pshape = ps.arrays[pname].shape
        a2 = analytic[pname].reshape(raw.value.shape)
        results[pname] = _param_result(pname, ps, a2, raw, out_shape if kind == "jacobian" else (), used,
                                       rtol=rtol, atol=atol, safety=safety, kinks=kinks, max_entries=max_entries,
                                       pshape=pshape)
    for r in results.values():
        if not np.any(r.analytic) and not np.any(r.numeric):
            notes.append(
                f"{r.name}: analytic and numerical derivatives are both identically zero here, so this point "
                f"cannot tell a right formula from a wrong one (dead ReLUs, a flat region?): check another point"
            )
    if kinks and used in ("forward", "complex"):
        notes.append(f"method={used!r} has no one-sided pair of slopes: kinks are not detected")
    return GradCheckResult(
        ok=all(r.ok for r in results.values()),
        kind=kind,
        function=fn_name,
        method=used,
        params=results,
        n_evaluations=ev.n_evaluations,
        value=float(f0[0]) if kind == "grad" else None,
        out_shape=out_shape,
        layout=layout if kind == "jacobian" else "gradient (same shape as the parameter)",
        notes=tuple(notes),
    )


def _param_result(pname: str, ps: ParamSet, analytic: np.ndarray, raw: _fd.RawEstimate, out_shape: tuple[int, ...],
                  method: str, *, rtol: float | None, atol: float | None, safety: float, kinks: bool,
                  max_entries: int, pshape: tuple[int, ...]) -> ParamResult:
    eps = ps.eps
    j = judge(analytic, raw, eps=eps, safety=safety, rtol=rtol, atol=atol, kinks=kinks)
    full = out_shape + pshape

    def entry(flat: int) -> Entry:
        r, c = divmod(flat, analytic.shape[1])
        st = int(j.status[r, c])
        at_kink = st in (KINK, KINK_MISMATCH)
        return Entry(
            index=tuple(int(i) for i in np.unravel_index(flat, full)) if full else (),
            analytic=float(analytic[r, c]),
            numeric=float(raw.value[r, c]),
            abs_error=float(j.abs_error[r, c]),
            rel_error=float(j.rel_error[r, c]),
            tolerance=float(j.tolerance[r, c]),
            error_estimate=float(raw.error[r, c]),
            status=STATUS_NAMES[st],
            left=float(raw.left[r, c]) if at_kink else None,
            right=float(raw.right[r, c]) if at_kink else None,
        )

    order = np.argsort(-j.ratio.ravel(), kind="stable")
    bad = (j.status == MISMATCH) | (j.status == KINK_MISMATCH)
    bad_flat = [int(i) for i in order if bad.ravel()[i]][:max_entries]
    kink_flat = np.flatnonzero((j.status == KINK).ravel())[:max_entries]
    tol_obj = Tolerance(
        mode="estimate" if rtol is None and atol is None else "fixed",
        safety=safety if rtol is None and atol is None else None,
        floor_rtol=floor_rtol(eps) if rtol is None and atol is None else None,
        rtol=rtol if rtol is not None or atol is not None else None,
        atol=(atol or 0.0) if rtol is not None or atol is not None else None,
        eps=eps,
        max=float(j.tolerance.max()),
        median=float(np.median(j.tolerance)),
    )
    diag = diagnose(analytic.reshape(full), raw.value.reshape(full), j.tolerance.reshape(full),
                    bad.reshape(full), pshape) if bad.any() else None
    return ParamResult(
        name=pname,
        shape=pshape,
        derivative_shape=full,
        dtype=ps.infos[pname].dtype,
        ok=not bad.any(),
        n_checked=int(analytic.size),
        n_mismatched=int(bad.sum()),
        n_kinks=int(((j.status == KINK) | (j.status == KINK_MISMATCH)).sum()),
        n_refined=int(raw.refined.sum()),
        max_abs_error=float(j.abs_error.max()),
        max_rel_error=float(j.rel_error.max()),
        resolution=j.resolution,
        worst=entry(int(order[0])),
        mismatches=tuple(entry(i) for i in bad_flat),
        kinks=tuple(entry(int(i)) for i in kink_flat),
        tolerance=tol_obj,
        step=float(np.median(raw.step)),
        diagnosis=diag,
        note=ps.infos[pname].note,
        analytic=analytic.reshape(full),
        numeric=raw.value.reshape(full),
        error_estimate=raw.error.reshape(full),
        tolerances=j.tolerance.reshape(full),
        status=j.status.reshape(full),
    )


# --------------------------------------------------------------------------- public API
def check_grad(
    loss: Callable[[Any], Any],
    grad: Callable[[Any], Any],
    params: Any,
    *,
    method: str = "richardson",
    rtol: float | None = None,
    atol: float | None = None,
    safety: float = DEFAULT_SAFETY,
    step: float | None = None,
    typical: float | Mapping[str, float] = 1.0,
    kinks: bool = True,
    max_entries: int = 5,
    name: str | None = None,
) -> GradCheckResult:
    """Check a hand-derived gradient against finite differences, entry by entry.

    Parameters
    ----------
    loss:
        ``loss(params) -> real scalar``. Receives private copies; never the caller's arrays.
    grad:
        ``grad(params)`` returning the gradient in the structure of ``params`` (an array of
        the parameter's shape, or a dict with the same keys).
    params:
        One array, or a mapping name -> array. Integer arrays are checked on float64
        copies; float32 arrays in float32 with float32-sized tolerances (noted in the result).
    method:
        Finite-difference scheme, one of :data:`METHODS` (default ``"richardson"``).
    rtol, atol:
        Fixed tolerances ``|a - n| <= atol + rtol |n|`` replacing the error-estimate ones.
    safety:
        Multiplier on each entry's error estimate (default 10).
    step:
        Relative base step; the step for entry ``i`` is ``step * max(|x_i|, typical)``.
    typical:
        Typical magnitude of the parameters (a number, or per parameter name): the step floor
        for entries near zero.
    kinks:
        Treat entries where the one-sided slopes differ as kinks (accept any value between
        them). ``False`` judges them like any other entry.
    max_entries:
        How many worst entries the result lists per parameter.
    name:
        Name of the loss in messages (default: its ``__qualname__``).

    Returns
    -------
    GradCheckResult
        ``result.ok`` is the verdict; ``str(result)`` a readable summary.
    """
    result = _run("grad", loss, grad, params, method=method, rtol=rtol, atol=atol, safety=safety, step=step,
                  typical=typical, kinks=kinks, max_entries=max_entries, name=name)
    _recording.emit(result)
    return result


def check_jacobian(
    fn: Callable[[Any], Any],
    jac: Callable[[Any], Any],
    x: Any,
    *,
    layout: Layout = "numerator",
    order: str | None = None,
    method: str = "richardson",
    rtol: float | None = None,
    atol: float | None = None,
    safety: float = DEFAULT_SAFETY,
    step: float | None = None,
    typical: float | Mapping[str, float] = 1.0,
    kinks: bool = True,
    max_entries: int = 5,
    name: str | None = None,
) -> GradCheckResult:
    """Check a hand-derived Jacobian of an array-valued ``fn`` against finite differences.

    Layout: by default (``layout="numerator"``) ``jac(x)`` has shape ``out.shape + x.shape``
    with ``J[i..., j...] = d out[i...] / d x[j...]``. ``layout="denominator"`` accepts
    ``x.shape + out.shape`` (the transpose convention). ``order="C"`` or ``"F"`` accepts a
    2-D matrix ``(out.size, x.size)`` (``(x.size, out.size)`` with denominator layout)
    with respect to ``vec()`` taken row-major (C) or column-major (F), as in Kronecker
    identities such as ``d vec(W x) / d vec(W) = x^T kron I`` (column-major).

    ``x`` may be one array or a mapping name -> array; ``jac`` then returns a mapping of
    Jacobians. Other options as in :func:`check_grad`.
    """
    if layout not in ("numerator", "denominator"):
        raise InvalidArgumentError(f"layout={layout!r}: expected 'numerator' (out.shape + x.shape) or 'denominator' (x.shape + out.shape)")
    if order not in (None, "C", "F"):
        raise InvalidArgumentError(f"order={order!r}: expected None (full-shape Jacobian), 'C' (row-major vec) or 'F' (column-major vec)")
    result = _run("jacobian", fn, jac, x, method=method, rtol=rtol, atol=atol, safety=safety, step=step,
                  typical=typical, kinks=kinks, max_entries=max_entries, name=name, layout=layout, order=order)
    _recording.emit(result)
    return result


def assert_grad(loss: Callable[[Any], Any], grad: Callable[[Any], Any], params: Any, **options: Any) -> GradCheckResult:
    """:func:`check_grad`, raising :class:`GradientMismatch` (an ``AssertionError``) when it fails.

    The message names each wrong parameter, its worst entries (index, analytic, numeric,
    absolute and relative error, tolerance), the scheme and the tolerance rule.
    """
    result = check_grad(loss, grad, params, **options)
    if not result.ok:
        raise GradientMismatch(result.summary(options.get("max_entries", 5)), result)
    return result


def assert_jacobian(fn: Callable[[Any], Any], jac: Callable[[Any], Any], x: Any, **options: Any) -> GradCheckResult:
    """:func:`check_jacobian`, raising :class:`GradientMismatch` when it fails."""
    result = check_jacobian(fn, jac, x, **options)
    if not result.ok:
        raise GradientMismatch(result.summary(options.get("max_entries", 5)), result)
    return result


def _numerical(kind: Literal["grad", "jacobian"], fn: Callable[[Any], Any], params: Any, *, method: str,
               step: float | None, typical: float | Mapping[str, float], safety: float, refine: bool) -> Estimate:
    _options(method, None, None, safety, step, typical, True, 1)
    if not isinstance(refine, bool):
        raise InvalidArgumentError(f"refine={refine!r}: expected True or False")
    ps = ParamSet(params, single_name="params" if kind == "grad" else "x")
    ev = Evaluator(fn, ps, scalar=kind == "grad", fn_name=_name(fn, None))
    f0, spread = ev.base()
    used = _resolve_method(ev, method, f0, spread, safety, [])
    scales = _scales(ps, typical)
    floor = _noise_floor(ev, f0, spread, used, scales, [])
    raws = _fd.estimate(ev, f0, floor, used, _steps(ps, used, step, scales), safety=safety,
                        resolve_rtol=ps.eps ** 0.6, refine=refine,
                        widen_rtol=_widen_rtol(ps, safety, step, refine))
    out_shape = ev.out_shape if kind == "jacobian" else ()

    def pack(attr: str) -> Any:
        arrays = {n: getattr(r, attr).reshape(out_shape + ps.arrays[n].shape) for n, r in zip(ps.names, raws)}
        return ps.pack(arrays)

    steps = ps.pack({n: r.step.reshape(ps.arrays[n].shape) for n, r in zip(ps.names, raws)})
    return Estimate(value=pack("value"), error=pack("error"), kink=pack("kink"), left=pack("left"),
                    right=pack("right"), method=used, n_evaluations=ev.n_evaluations, step=steps)


def numerical_grad(loss: Callable[[Any], Any], params: Any, *, method: str = "richardson", step: float | None = None,
                   typical: float | Mapping[str, float] = 1.0, safety: float = DEFAULT_SAFETY,
                   refine: bool = True) -> Estimate:
    """Finite-difference gradient of a scalar ``loss`` with a per-entry error estimate.

    Returns an :class:`~gradcheck.Estimate` whose ``value`` and ``error`` have the structure
    of ``params``; ``kink`` marks entries where the one-sided slopes differ. ``refine=False``
    keeps the requested step everywhere (no re-estimation of unresolved entries with
    smaller steps), e.g. to study error against step size.
    """
    return _numerical("grad", loss, params, method=method, step=step, typical=typical, safety=safety, refine=refine)


def numerical_jacobian(fn: Callable[[Any], Any], x: Any, *, method: str = "richardson", step: float | None = None,
                       typical: float | Mapping[str, float] = 1.0, safety: float = DEFAULT_SAFETY,
                       refine: bool = True) -> Estimate:
    """Finite-difference Jacobian (numerator layout, ``out.shape + x.shape``) with error estimates."""
    return _numerical("jacobian", fn, x, method=method, step=step, typical=typical, safety=safety, refine=refine)
