"""Public entry points: check_grad, check_jacobian, assert_grad, assert_jacobian,
numerical_grad, numerical_jacobian.

The flow is one way: validate options (:class:`~gradcheck.core._options.Options`) and
parameters -> evaluate (one Evaluator) -> an oracle's estimates (finite differences by
default) -> judge (per-entry tolerances, kinks) -> diagnose -> result objects. Nothing
here formats reports; results render themselves.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..core import _recording
from ..core._errors import GradientMismatch, InvalidArgumentError, NonFiniteError, SymbolicUnsupportedError
from ..core._evaluator import Evaluator
from ..core._layout import to_numerator
from ..core._naming import display_name
from ..core._options import DEFAULT_SAFETY, METHODS, Layout, Options, check_options, resolution_for
from ..core._parallel import Workers
from ..core._params import ParamSet, format_index
from ..core._progress import Progress
from ..core._status import Status
from ..core._structure import STRUCTURES, Structure, structured
from ..judge._compare import Judgement, floor_rtol, judge
from ..judge._diagnose import diagnose
from ..judge._joint import joint_kinks
from ..judge._result import Entry, EntryArrays, Estimate, GradCheckResult, ParamResult, Tolerance
from ..judge._rounding import MODEL_ULPS, Rounding, measure
from ..oracles._fd_oracle import FiniteDifferences
from ..oracles._fd_oracle import scales as fd_scales
from ..oracles._seam import Context, Oracle, OracleEstimate, OracleRun
from ..oracles._symbolic import Symbolic, SymbolicUnavailable
from . import _cost
from ._witnesses import escalate, fd_witness_name
from .directional._engine import DIRECTIONAL_METHODS

if TYPE_CHECKING:
    from .directional._engine import DirectionalResult

__all__ = [
    "check_grad",
    "check_jacobian",
    "assert_grad",
    "assert_jacobian",
    "numerical_grad",
    "numerical_jacobian",
    "METHODS",
]

Kind = Literal["grad", "jacobian"]


def _name(fn: Callable[..., Any], given: str | None) -> str:
    return display_name(fn, given)


# --------------------------------------------------------------------------- the engine
def _start(kind: Kind, fn: Callable[[Any], Any], params: Any, opts: Options) -> Context:
    """Private copies of the parameters, the one evaluator, and the base value."""
    _callable(fn, "loss" if kind == "grad" else "fn")
    ps = ParamSet(params, single_name=ps_single_name(kind))
    opts.check_typical_keys(ps.names)
    opts = dataclasses.replace(opts, resolution=resolution_for(opts.resolution, ps.eps))
    ev = Evaluator(fn, ps, scalar=kind == "grad", fn_name=_name(fn, opts.name))
    f0, spread = ev.base()
    if opts.workers is not None and opts.oracle != "symbolic":
        ev.workers = Workers(opts.workers, fn=fn, params=ps.pack(ps.copies()), single_name=ps_single_name(kind),
                             scalar=ev.scalar, fn_name=ev.fn_name, out_shape=ev.out_shape)
    notes = [f"{n}: {ps.infos[n].note}" for n in ps.names if ps.infos[n].note]
    return Context(params=ps, evaluator=ev, f0=f0, spread=spread, options=opts, notes=notes)


def _reference(ctx: Context, kind: Kind) -> Context | str:
    """A float64 twin of a lower-precision check, or why there is none.

    A float32 loss differenced in float32 resolves no finer than about 1e-3 of a gradient, so
    a correct float32 gradient could never pass. The same loss run on upcast copies, where it
    follows its input's dtype (numpy code does unless it casts), is the float64 function the
    user's float32 gradient approximates; differences of it are the reference, and the float32
    gradient's own rounding is measured on its side (:mod:`gradcheck.judge._rounding`).
    """
    ps, ev = ctx.params, ctx.evaluator
    ps64 = ParamSet(ps.pack({n: ps.arrays[n].astype(np.float64) for n in ps.names}),
                    single_name=ps_single_name(kind))
    try:
        with np.errstate(all="ignore"):
            raw = ps64.call_on_copies(ev.fn, ev.fn_name)
        dt = np.asarray(raw).dtype
    except Exception as exc:  # the loss's failure on float64 copies: no reference, the check goes on
        return f"{ev.fn_name} raised {type(exc).__name__} on float64 copies"
    if dt.kind == "f" and dt != np.float64:
        return f"{ev.fn_name} returns {dt} for float64 input (it does not follow its input's dtype)"
    ref_ev = Evaluator(ev.fn, ps64, scalar=ev.scalar, fn_name=ev.fn_name)
    f0, spread = ref_ev.base()
    return Context(params=ps64, evaluator=ref_ev, f0=f0, spread=spread, options=ctx.options, notes=ctx.notes)


def ps_single_name(kind: Kind) -> str:
    """The name a bare array goes by: ``params`` for a loss, ``x`` for a vector function."""
    return "params" if kind == "grad" else "x"


def _callable(fn: Any, what: str) -> None:
    if not callable(fn):
        raise InvalidArgumentError(f"{what}={fn!r}: expected a function (a callable taking the parameters), "
                                   f"got a {type(fn).__name__}")


def _deriv_caller(deriv: Callable[[Any], Any], ctx: Context,
                  kind: Kind) -> Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]:
    """The hand-derived derivative as a function of private arrays: called on copies of them,
    checked for writes, brought to numerator layout (shape out + param)."""
    ps, opts = ctx.params, ctx.options
    deriv_name = _name(deriv, None)
    what = "gradient" if kind == "grad" else "Jacobian"
    out_shape = None if kind == "grad" else ctx.evaluator.out_shape

    def call(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        value = ps.call_on_copies(deriv, deriv_name, arrays)
        if out_shape is not None and (opts.layout == "denominator" or opts.order is not None):
            value = _convert_layout(value, ps, out_shape, opts, deriv_name)
        return ps.unpack_derivative(value, what=what, fn_name=deriv_name, out_shape=out_shape)

    return call


def _analytic(deriv: Callable[[Any], Any], ctx: Context, kind: Kind) -> dict[str, np.ndarray]:
    """Call the hand-derived derivative on copies and bring it to numerator layout, shape out + param."""
    return _deriv_caller(deriv, ctx, kind)(ctx.params.arrays)


def _measure_rounding(deriv: Callable[[Any], Any], ctx: Context, kind: Kind,
                      analytic: Mapping[str, np.ndarray]) -> Rounding:
    """The analytic side's rounding (see :mod:`gradcheck.judge._rounding`); none under a fixed tolerance."""
    ps = ctx.params
    if ctx.options.fixed:
        return Rounding({n: None for n in ps.names}, "the tolerance was fixed by rtol/atol")
    sc = dict(zip(ps.names, fd_scales(ps, ctx.options), strict=True))
    m = int(np.prod(ctx.evaluator.out_shape)) if kind == "jacobian" else 1
    shapes = {n: (m, ps.arrays[n].size) for n in ps.names}
    return measure(_deriv_caller(deriv, ctx, kind), ps.arrays, sc, analytic, shapes)


def _rounding_hi(deriv: Callable[[Any], Any], ctx: Context, kind: Kind,
                 analytic: Mapping[str, np.ndarray]) -> dict[str, np.ndarray] | None:
    """The analytic side's actual rounding error where it can be read off: the same derivative
    code run on ``np.longdouble`` copies (11 more bits on x86), per entry ``|g - g_long|``.

    The measurement by small moves (:mod:`gradcheck.judge._rounding`) cannot see a value on a
    lattice: a saturated ``1 - s`` does not move under a relative move of 1e-10, yet holds
    only 7 digits. An exact witness judges entries at a few ulps, so it needs the real error;
    a slip in the formula is in both evaluations and stays visible. None where the platform's
    long double is float64, a parameter is not float64, the derivative does not follow its
    input's dtype (linear algebra, an explicit cast) or the layout is converted.
    """
    ps = ctx.params
    if np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps or any(
            ps.arrays[n].dtype != np.float64 for n in ps.names):
        return None
    if kind == "jacobian" and (ctx.options.layout != "numerator" or ctx.options.order is not None):
        return None
    try:
        with np.errstate(all="ignore"):
            raw = ps.call_on_copies(deriv, "", {n: ps.arrays[n].astype(np.longdouble) for n in ps.names})
    except Exception:  # a derivative that cannot run in long double: no reading, not an error
        return None
    got = {ps.names[0]: raw} if ps.single and not isinstance(raw, Mapping) else raw
    if not isinstance(got, Mapping):
        return None
    out: dict[str, np.ndarray] = {}
    for n in ps.names:
        v = got.get(n)
        if not isinstance(v, np.ndarray) or v.dtype != np.longdouble or v.size != analytic[n].size:
            return None
        with np.errstate(all="ignore"):
            d = np.abs(v.reshape(-1).astype(np.longdouble) - analytic[n].reshape(-1).astype(np.longdouble))
        out[n] = d.astype(np.float64).reshape(analytic[n].shape)
    return out


def _all_units(ctx: Context, analytic: Mapping[str, np.ndarray],
               run: OracleRun) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per parameter, what the analytic side may hold where its rounding cannot be read off: each
    entry's least scale in the loss's units across every parameter (``L / t_i``, ``L = max |g_j| t_j``
    over all of them), and an allowance of 64 ulps of the largest output (at least 1) over ``t_i``.

    A bias gradient that is a sum of terms near 1 cancelling to 8e-11 carries the rounding of those
    terms; a softmax Jacobian entry of 9e-15 computed as ``1 - y0`` carries that of ``y0 = 1``. Neither
    moves under a small move (a lattice), and code that casts to float64 cannot be re-run in long
    double; what the values flowing through it may hold is ulps of the function's largest values."""
    ts = fd_scales(ctx.params, ctx.options)
    m = max(1, int(np.prod(ctx.evaluator.out_shape))) if not ctx.evaluator.scalar else 1
    big = np.zeros((m, 1))
    for name, t, est in zip(ctx.params.names, ts, run.estimates, strict=True):
        a = np.abs(np.nan_to_num(analytic[name].reshape(m, -1)))
        n = np.abs(np.nan_to_num(est.value.reshape(m, -1)))
        big = np.maximum(big, (np.maximum(a, n) * t.reshape(1, -1)).max(axis=1, keepdims=True))
    top = max(float(np.max(np.abs(ctx.f0))), 1.0)
    ulps = MODEL_ULPS * ctx.params.eps * top
    return {name: (big / t.reshape(1, -1), np.broadcast_to(ulps / t.reshape(1, -1), (m, t.size)))
            for name, t in zip(ctx.params.names, ts, strict=True)}


def _exact_kw(kw: Mapping[str, Any], hi: np.ndarray | None) -> dict[str, Any]:
    """What the judge needs to judge against an exact witness.

    With the analytic side's rounding read off in long double (twice it, uncapped, beside the
    measured bound: a bias gradient that is a sum of terms near 1 cancelling to 8e-11 holds 7.5e-17
    of rounding, 1e-6 of itself), each entry is judged on its row's own scale, not in the loss's units (which would
    make a small entry's sign immaterial); only entries the loss cannot see at all stay
    immaterial (a gradient of 1e-26 beside a loss flat in float64). Without that reading the
    measured bound can miss a value on a lattice (a softmax output of 1 - 3e-9, whose ``1 - y``
    keeps 8 digits, does not move under a move of 1e-10), so the entries stay in the loss's
    units as finite differences judge them: the witness's bar is finer, the allowance the same.
    """
    if hi is None or kw["rounding"] is None:
        # nothing read off: the unmeasured floor of finite differences' judge, floor_rtol of each entry's
        # scale in the loss's units, is what the analytic side may hold (a saturated sigmoid layer whose
        # input gradient sums terms of weights of 50 held 1e-11 of itself, past 64 ulps of the loss)
        floor, ulps, eps = kw["all_units"]
        mag = np.maximum(np.abs(np.nan_to_num(kw["analytic"])), np.abs(np.nan_to_num(kw["numeric"])))
        return {**kw, "exact": True, "scale_floor": floor,
                "read_rounding": np.maximum(ulps, floor_rtol(eps) * np.maximum(floor, mag))}
    res = np.asarray(kw["loss_resolution"], dtype=float)
    res = np.where(res > 0, res, MODEL_ULPS * np.finfo(np.float64).eps)
    return {**kw, "row_scale": True, "exact": True, "loss_resolution": res,
            "read_rounding": 2 * hi.reshape(kw["rounding"].shape)}


def _judge_kw(ctx: Context, rounding: Rounding | None) -> dict[str, dict[str, Any]]:
    """Per parameter, what the judge needs beyond the estimate: the measured rounding and
    the coordinates' scales."""
    ps = ctx.params
    sc = fd_scales(ps, ctx.options)
    # what the outputs resolve: 64 ulps of each (the noise of a noisy loss is in the oracle's bars)
    resolution = MODEL_ULPS * ps.eps * np.abs(np.asarray(ctx.f0, dtype=float)).reshape(-1, 1)
    return {n: {"rounding": rounding.get(n) if rounding is not None else None, "coord_scale": t,
                "loss_resolution": resolution, "unmeasured": rounding.reason if rounding is not None else None}
            for n, t in zip(ps.names, sc, strict=True)}


def _convert_layout(value: Any, ps: ParamSet, out_shape: tuple[int, ...], opts: Options, deriv_name: str) -> Any:
    def convert(name: str, arr: Any) -> Any:
        return to_numerator(arr, out_shape, ps.arrays[name].shape, layout=opts.layout, order=opts.order,
                            where=f"{deriv_name}: Jacobian for parameter {name!r}")

    if isinstance(value, Mapping) and not ps.single:
        return {k: (convert(k, v) if k in ps.arrays else v) for k, v in value.items()}
    if not isinstance(value, Mapping) and ps.single:
        return convert(ps.names[0], value)
    return value


Switch = Callable[[Context, _cost.Prediction], "DirectionalResult"]


def _run(kind: Kind, fn: Callable[[Any], Any], deriv: Callable[[Any], Any], params: Any, opts: Options,
         oracle: Oracle | None = None, switch: Switch | None = None) -> GradCheckResult | DirectionalResult:
    """The per-entry check; ``switch`` (``mode`` not given) hands it to directions where the
    prediction from the base point's evaluation time says so (:func:`gradcheck.checks._cost.choose`)."""
    _callable(deriv, "grad" if kind == "grad" else "jac")
    ctx = _start(kind, fn, params, opts)
    try:
        pred = _cost.predict(sum(ctx.params.sizes), len(ctx.params.names), opts.method, ctx.evaluator.eval_s,
                             opts.workers)
        if switch is not None and _cost.choose(pred) == "directional":
            if ctx.evaluator.workers is not None:
                ctx.evaluator.workers.close()
                ctx.evaluator.workers = None
            return switch(ctx, pred)
        if opts.oracle != "symbolic":
            _announce_entries(kind, ctx, pred)
        bar = _progress(ctx)
        try:
            return _checked(kind, ctx, deriv, ctx.options, oracle)
        finally:
            bar.close()
    finally:
        if ctx.evaluator.workers is not None:
            ctx.evaluator.workers.close()


def _announce_entries(kind: Kind, ctx: Context, pred: _cost.Prediction) -> None:
    """A per-entry check predicted over the budget says so on stderr, and in a note."""
    if pred.entries_s <= _cost.BUDGET_S:
        return
    faster = []
    if kind == "grad":
        faster.append(f"mode=\"directional\" (about {_cost.describe_s(pred.directional_s)}, a weaker promise: "
                      f"see check_grad_directional)")
    cores = os.cpu_count() or 1
    if pred.workers < cores:
        faster.append(f"workers={cores} (processes; this machine has {cores} cores)")
    else:
        faster.append("workers= an Executor of more machines")
    what = f"{'check_grad' if kind == 'grad' else 'check_jacobian'} of {ctx.evaluator.fn_name}"
    _cost.announce(what, pred.entries_s, pred.entries_detail(), " or ".join(faster))
    ctx.notes.append(f"predicted to take about {_cost.describe_s(pred.entries_s)} entry by entry "
                     f"({pred.entries_detail()}); faster: {' or '.join(faster)}")


def _progress(ctx: Context) -> Progress:
    """A bar on stderr over the loss evaluations, for checks that run longer than a couple of seconds."""
    bar = Progress(enabled=ctx.options.progress)
    if bar.enabled:
        n = sum(ctx.params.sizes)
        # refinement may add some evaluations; the bar then runs on to the end
        total = _cost.EVALS_PER_ENTRY.get(ctx.options.method, 6) * n + ctx.evaluator.n_evaluations
        label = f"evaluations of {ctx.evaluator.fn_name} ({n:,} entries, {ctx.options.method})"
        ctx.evaluator.progress = lambda done: bar.update(done, max(total, done), label)
    return bar


def _checked(kind: Kind, ctx: Context, deriv: Callable[[Any], Any], opts: Options,
             oracle: Oracle | None) -> GradCheckResult:
    analytic = _analytic(deriv, ctx, kind)
    kw_rounding = _measure_rounding(deriv, ctx, kind, analytic)
    kw = _judge_kw(ctx, kw_rounding)
    witness: OracleRun | str | None = None
    if oracle is None and opts.oracle == "symbolic":
        oracle = Symbolic()
    fd_ctx = ctx  # where finite differences run: the check's own precision, or a float64 twin
    if opts.oracle == "auto" and oracle is None and ctx.params.eps > np.finfo(np.float64).eps:
        ref = _reference(ctx, kind)
        if isinstance(ref, str):
            ctx.notes.append(f"no float64 reference: {ref}; judged by differences in its own precision")
        else:
            fd_ctx = ref
            low = sorted({ctx.params.infos[n].dtype for n in ctx.params.names} - {"float64"})
            ctx.notes.append(f"{'/'.join(low)} gradient judged against finite differences of the loss on float64 "
                             f"copies, with its own rounding measured; resolution asked: {opts.resolution:.2g}")
    if fd_ctx is not ctx:
        kw = _judge_kw(fd_ctx, kw_rounding)
    try:
        run = (oracle or FiniteDifferences()).run(fd_ctx)
    except SymbolicUnavailable as exc:
        raise SymbolicUnsupportedError(f"oracle='symbolic' cannot check {ctx.evaluator.fn_name}: {exc}") from exc
    if opts.oracle == "both":
        try:
            witness = Symbolic().run(ctx)
        except SymbolicUnavailable as exc:
            witness = f"n/a: {exc}"
    out_shape = ctx.evaluator.out_shape if kind == "jacobian" else ()
    first = run.method if opts.oracle != "symbolic" else None
    first_name = fd_witness_name(first) if first else run.method
    if fd_ctx is not ctx:
        first_name += " on float64 copies"
    results: dict[str, ParamResult] = {}
    for k, (pname, est) in enumerate(zip(ctx.params.names, run.estimates, strict=True)):
        a2 = analytic[pname].reshape(est.value.shape)
        results[pname] = _param_result(ctx, pname, a2, est, out_shape, kw[pname], own_fd=fd_ctx is ctx)
        results[pname] = dataclasses.replace(results[pname], witness=first_name)
        if witness is not None:
            results[pname] = _with_witness(ctx, results[pname], a2, witness, k, kw[pname])
    if opts.oracle == "auto" and oracle is None and opts.kinks and not opts.fixed:
        # rtol/atol or kinks=False ask for differences judged the caller's way: no other witness

        hi: dict[str, np.ndarray] | None | bool = False  # read once, when a witness first needs it

        units = _all_units(ctx, analytic, run)

        def build(pname: str, est: OracleEstimate, by: str) -> ParamResult:
            nonlocal hi
            if hi is False:
                hi = _rounding_hi(deriv, ctx, kind, analytic)
            a2 = analytic[pname].reshape(est.value.shape)
            own = _exact_kw({**kw[pname], "all_units": (*units[pname], ctx.params.eps), "analytic": a2,
                             "numeric": est.value}, hi.get(pname) if isinstance(hi, dict) else None)
            return _param_result(ctx, pname, a2, est, out_shape, own, by=by)

        results = escalate(fd_ctx, run, results, build)
        if fd_ctx is not ctx and any(p.verdict == "inconclusive" for p in results.values()):
            results = _formula_in_float64(kind, fd_ctx, deriv, run, results, analytic)
    ctx.evaluator.finish()
    if fd_ctx is not ctx:
        fd_ctx.evaluator.finish()
    notes = ctx.notes
    for pname, est in zip(ctx.params.names, run.estimates, strict=True):
        if not np.any(analytic[pname]) and not np.any(est.value):
            notes.append(
                f"{pname}: analytic and numerical derivatives are both identically zero here, so this point "
                f"cannot tell a right formula from a wrong one (dead ReLUs, a flat region?): check another point"
            )
    if opts.kinks and run.method in ("forward", "complex"):
        notes.append(f"method={run.method!r} has no one-sided pair of slopes: kinks are not detected")
    settled = sorted({p.witness for p in results.values()
                      if p.trail and p.verdict != "inconclusive" and p.witness and p.witness != first_name})
    method = run.method + (f" (settled by {', '.join(settled)} where it could not)" if settled else "")
    return GradCheckResult(
        ok=all(r.ok for r in results.values()),
        kind=kind,
        function=ctx.evaluator.fn_name,
        method=method,
        params=results,
        n_evaluations=ctx.evaluator.n_evaluations + (fd_ctx.evaluator.n_evaluations if fd_ctx is not ctx else 0),
        value=float(ctx.f0[0]) if kind == "grad" else None,
        out_shape=ctx.evaluator.out_shape,
        layout=opts.layout if kind == "jacobian" else "gradient (same shape as the parameter)",
        notes=tuple(notes),
    )


def _formula_in_float64(kind: Kind, ref: Context, deriv: Callable[[Any], Any], run: OracleRun,
                        results: dict[str, ParamResult], low: Mapping[str, np.ndarray]) -> dict[str, ParamResult]:
    """A lower-precision gradient still inconclusive against the float64 reference (its own
    rounding coarser than the resolution asked: sums of terms of 1e4 in float32) is settled by
    the same gradient code run on the float64 copies, where it follows its input's dtype: a slip
    in the formula is there too, and is judged at float64's resolution; the lower-precision
    gradient's distance from it, its rounding, is stated beside the verdict."""
    try:
        raw = ref.params.call_on_copies(deriv, _name(deriv, None))
    except Exception:  # not the check's business: the lower-precision verdict stands
        return results
    leaves = list(raw.values()) if isinstance(raw, Mapping) else [raw]
    if not all(isinstance(v, np.ndarray) and v.dtype == np.float64 for v in leaves):
        return results
    a64 = _analytic(deriv, ref, kind)
    kw64 = _judge_kw(ref, _measure_rounding(deriv, ref, kind, a64))
    out_shape = ref.evaluator.out_shape if kind == "jacobian" else ()
    out = dict(results)
    by = "the same gradient code on float64 copies"
    for k, name in enumerate(ref.params.names):
        p = results[name]
        if p.verdict != "inconclusive":
            continue
        est = run.estimates[k]
        a2 = a64[name].reshape(est.value.shape)
        q = _param_result(ref, name, a2, est, out_shape, kw64[name], by=by)
        if q.verdict == "inconclusive":
            out[name] = dataclasses.replace(p, inconclusive=f"{p.inconclusive} [also tried: {by}: {q.inconclusive}]")
            continue
        dev = np.abs(low[name].reshape(a2.shape).astype(np.float64) - a2)
        rel = float(dev.max() / max(float(np.abs(a2).max()), np.finfo(float).tiny))
        trail = (*p.trail, f"{p.dtype} gradient differs from {by} by up to {rel:.2g} of its largest entry "
                           "(its rounding)")
        out[name] = dataclasses.replace(q, witness=by, trail=trail, dtype=p.dtype, shape=p.shape)
    return out


def _with_witness(ctx: Context, p: ParamResult, analytic: np.ndarray, witness: OracleRun | str,
                  k: int, kw: Mapping[str, Any]) -> ParamResult:
    """The parameter's result with the symbolic oracle's verdict beside the finite differences'."""
    if isinstance(witness, str):
        return dataclasses.replace(p, symbolic=witness)
    est = witness.estimates[k]
    j = judge(analytic, est, eps=ctx.params.eps, options=ctx.options, rounding=kw["rounding"],
              coord_scale=kw["coord_scale"], loss_resolution=kw["loss_resolution"])
    if not j.wrong.any():
        return dataclasses.replace(p, symbolic=f"pass ({witness.method}, max rel err {float(j.rel_error.max()):.2g})")
    flat = int(np.argmax(np.where(j.wrong, j.ratio, -np.inf)))
    r, c = divmod(flat, analytic.shape[1])
    full = p.derivative_shape
    where = tuple(int(i) for i in np.unravel_index(flat, full)) if full else ()
    verdict = (f"FAIL: {int(j.wrong.sum())} of {analytic.size} entries differ from the exact derivative "
               f"({witness.method}); worst at {where}: analytic {analytic[r, c]:.10g}, exact {est.value[r, c]:.10g}")
    return dataclasses.replace(p, symbolic=verdict, ok=False)


def _tolerance(j: Judgement, opts: Options, eps: float, unmeasured: str | None = None) -> Tolerance:
    fixed = opts.fixed
    return Tolerance(
        mode="fixed" if fixed else "estimate",
        safety=None if fixed else opts.safety,
        floor_rtol=None if fixed else floor_rtol(eps),
        rtol=opts.rtol if fixed else None,
        atol=(opts.atol or 0.0) if fixed else None,
        eps=eps,
        max=float(j.tolerance.max()),
        median=float(np.median(j.tolerance)),
        rounding=None if fixed else ("measured" if j.measured else (unmeasured or "not available")),
    )


def _param_result(ctx: Context, pname: str, analytic: np.ndarray, est: OracleEstimate,
                  out_shape: tuple[int, ...], kw: Mapping[str, Any], *, by: str | None = None,
                  own_fd: bool = True) -> ParamResult:
    """The parameter judged against one witness's estimate (``by`` names a witness other than
    the finite differences the context ran; ``own_fd=False``: the estimate is not of the context's
    own evaluator, whose joint kink test then does not apply)."""
    ps, opts = ctx.params, ctx.options
    eps = ps.eps
    j = judge(analytic, est, eps=eps, options=opts, rounding=kw["rounding"], coord_scale=kw["coord_scale"],
              loss_resolution=kw["loss_resolution"], row_scale=kw.get("row_scale", False),
              exact=kw.get("exact", False), read_rounding=kw.get("read_rounding"),
              scale_floor=kw.get("scale_floor"))
    pshape = ps.arrays[pname].shape
    joint = joint_kinks(ctx, pname, analytic, est, j) if opts.kinks and not opts.fixed and by is None and own_fd else []
    for jk in joint:
        j.status[jk.row, list(jk.entries)] = Status.KINK_MISMATCH
        j.ratio[jk.row, list(jk.entries)] = np.maximum(j.ratio[jk.row, list(jk.entries)],
                                                        abs(jk.analytic - jk.slope) / jk.tolerance)
    full = out_shape + pshape
    left, right = est.sides()

    def entry(flat: int) -> Entry:
        r, c = divmod(flat, analytic.shape[1])
        st = Status(int(j.status[r, c]))
        return Entry(
            index=tuple(int(i) for i in np.unravel_index(flat, full)) if full else (),
            analytic=float(analytic[r, c]),
            numeric=float(est.value[r, c]),
            abs_error=float(j.abs_error[r, c]),
            rel_error=float(j.rel_error[r, c]),
            tolerance=float(j.tolerance[r, c]),
            error_estimate=float(est.error[r, c]),
            status=st.label,
            left=float(left[r, c]) if st.at_kink else None,
            right=float(right[r, c]) if st.at_kink else None,
        )

    order = np.argsort(-j.ratio.ravel(), kind="stable")
    bad = j.wrong
    bad_flat = [int(i) for i in order if bad.ravel()[i]][:opts.max_entries]
    kink_flat = np.flatnonzero((j.status == Status.KINK).ravel())[:opts.max_entries]
    if joint:
        diag = joint[0].describe(pshape)
    else:
        loss_value = float(ctx.f0[0]) if not out_shape else None
        diag = diagnose(analytic.reshape(full), est.value.reshape(full), j.tolerance.reshape(full),
                        bad.reshape(full), pshape, loss_value) if bad.any() else None
        if diag and "structure={name:" in diag:
            diag = diag.replace("structure={name:", f"structure={{{pname!r}:")
    arrays = None
    if opts.keeps_arrays(analytic.size):
        arrays = EntryArrays(analytic=analytic.reshape(full), numeric=est.value.reshape(full),
                             error_estimate=est.error.reshape(full), tolerances=j.tolerance.reshape(full),
                             abs_errors=j.abs_error.reshape(full), status=j.status.reshape(full))
    why = None if bad.any() else _why_inconclusive(ctx, pname, j, est, by)
    return ParamResult(
        name=pname,
        shape=pshape,
        derivative_shape=full,
        dtype=ps.infos[pname].dtype,
        ok=not bad.any() and why is None,
        n_checked=int(analytic.size),
        n_mismatched=int(bad.sum()),
        n_kinks=int(j.at_kink.sum()),
        n_refined=est.n_refined,
        max_abs_error=float(j.abs_error.max()),
        max_rel_error=float(j.rel_error.max()),
        resolution=j.resolution,
        worst=entry(int(order[0])),
        mismatches=tuple(entry(i) for i in bad_flat),
        kinks=tuple(entry(int(i)) for i in kink_flat),
        tolerance=_tolerance(j, opts, eps, kw.get("unmeasured")),
        step=float(np.median(est.step)) if est.step is not None else float("nan"),
        diagnosis=diag,
        note=ps.infos[pname].note,
        inconclusive=why,
        arrays=arrays,
    )


def _why_inconclusive(ctx: Context, pname: str, j: Judgement, est: OracleEstimate,
                      by: str | None = None) -> str | None:
    """Why this parameter cannot be called right (None when it can), and what would help."""
    ps, opts = ctx.params, ctx.options
    shape = ps.arrays[pname].shape
    if j.unresolved.any():
        flat = int(np.flatnonzero(j.unresolved.any(axis=0))[0])
        where = format_index(shape, flat)
        count = int(j.unresolved.any(axis=0).sum())
        if est.step is not None and est.step[flat] == 0:
            x = float(ps.arrays[pname].ravel()[flat])
            return (f"{count} entr{'y' if count == 1 else 'ies'} have no finite estimate: at index {where} the step "
                    f"rounds away (x + h == x at x = {x:.3g}); pass a larger step= or typical=, or leave the defaults")
        complex_hint = "method='complex' takes no real step, or " if _complex_untried(opts.method) else ""
        return (f"{count} entr{'y' if count == 1 else 'ies'} have no finite estimate (first at index {where}): "
                f"the loss "
                f"is not finite at x +- h for every step tried there (the edge of its domain?); {complex_hint}"
                f"pass a smaller typical=")
    if opts.fixed or opts.resolution is None or j.resolution <= opts.resolution:
        return None
    if by is not None:
        return f"resolution {j.resolution:.2g} is coarser than the {opts.resolution:.2g} asked for"
    return (f"resolution {j.resolution:.2g} is coarser than the {opts.resolution:.2g} asked for, so a mistake that "
            f"small could pass unseen; {_hints(ctx, pname)}")


def _complex_untried(method: str) -> bool:
    """Whether complex step is still a thing to suggest: not after ``"complex"``, nor after
    ``"auto"``, which tries it first and uses it wherever the loss takes complex input."""
    return method not in ("complex", "auto")


def _hints(ctx: Context, pname: str) -> str:
    """What would make a coarse check conclusive, most effective first: only what this check did
    not already try (the method it ran, the step it took, the dtype it had)."""
    opts, hints = ctx.options, []
    if ctx.params.arrays[pname].dtype == np.float32:
        hints.append("float64 parameters (float32 resolves no finer than about 3e-4 by differences)")
    if opts.step is not None:
        hints.append("the default step (step=None)")
    if opts.method in ("forward", "central"):
        hints.append("the default method='richardson'")
    if _complex_untried(opts.method) and opts.oracle != "auto":
        hints.append("method='complex' or 'auto' (complex step subtracts nothing: exact to rounding, where the loss "
                     "is complex-analytic)")
    if opts.oracle not in ("auto", "both", "symbolic"):
        hints.append("oracle='auto' (complex step and the exact symbolic derivative where finite differences "
                     "cannot settle)")
    hints.append("a point where the gradient is not tiny beside the loss")
    return "to make it conclusive: " + "; ".join(hints) + "; or accept it with resolution=None"


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
    resolution: float | str | None = "auto",
    keep_arrays: bool | None = None,
    structure: Mapping[str, str] | None = None,
    mode: str = "auto",
    directional: Mapping[str, Any] | None = None,
    oracle: str = "auto",
    workers: int | cf.Executor | None = None,
    progress: bool | None = None,
) -> GradCheckResult | DirectionalResult:
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
        copies. The gradient of float32 parameters is computed in float32 and judged (with
        ``oracle="auto"``) against differences of the loss on float64 copies, where the loss
        follows its input's dtype, with the float32 gradient's own rounding measured.
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
    resolution:
        The relative error the check must be able to see: ``"auto"`` (default) 1e-6, or 100 ulps
        of the parameters' precision where that is coarser (1.2e-5 in float32). A parameter whose
        stated resolution is coarser gets the verdict ``inconclusive``, which is not ``ok``;
        ``None`` accepts whatever resolution the check reaches. Ignored with ``rtol``/``atol``.
    keep_arrays:
        Keep every entry's values and tolerances in the result (``ParamResult.arrays``, for
        plots). Default: up to a million derivative entries; above, the result holds its
        summary and the named entries only.
    structure:
        Per parameter name, ``"symmetric"``, ``"symmetric-entries"``, ``"lower"``, ``"upper"``
        or ``"diagonal"``: the parameter moves only along its structure (symmetric pairs
        together) and the gradient is compared under that structure's convention (see
        :data:`gradcheck.STRUCTURES`; the result names it). Entries are the free coordinates,
        indexed ``(i, j)``.
    mode:
        ``"entries"`` checks every entry (4 to 6 evaluations each with richardson); ``"directional"`` compares
        along a few random sign directions and traces a disagreement to named entries by
        group testing (:func:`gradcheck.check_grad_directional`, a
        :class:`~gradcheck.DirectionalResult`); ``"auto"`` (default) checks entries unless they
        are more than :data:`AUTO_DIRECTIONAL_ABOVE` or the per-entry check is predicted (from
        the time of the base point's two evaluations) to take over
        :data:`gradcheck.checks._cost.BUDGET_S` seconds while directions are at least twice as fast;
        a result reached that way says so in its notes, with what its verdict does not promise.
        Any check predicted over that budget says so once on stderr.
    directional:
        Further options of :func:`gradcheck.check_grad_directional` (``directions=``,
        ``workers=``, ``budget_s=`` ...).
    oracle:
        ``"auto"`` (default): finite differences first; a parameter they leave inconclusive, or
        can judge only in the loss's units, is settled by the strongest witness that can: complex
        step (where the loss is complex-analytic and has no kink there), then the exact symbolic
        derivative (50-digit arithmetic; code that runs on symbols, up to 2000 entries). A witness
        decides only where it agrees with finite differences within both bars; each parameter
        names its witness (``ParamResult.witness``) and what was asked before it (``trail``).
        ``"fd"``: finite differences only; ``"symbolic"`` the exact derivative of the same
        loss code run on sympy symbols (numpy code or code written against ``gradcheck.ops``);
        ``"both"``: finite differences, and the exact derivative as a second witness whose
        verdict each parameter reports (``ParamResult.symbolic``: ``pass``, ``FAIL: ...`` or
        ``n/a: why``). A symbolic FAIL fails the check.
    workers:
        Spread the loss evaluations over processes: an int (a local pool; it forks where the
        platform can, so any loss works) or any ``concurrent.futures.Executor`` (a Dask or Ray
        cluster's; the loss must then be picklable). Only evaluations move: the result is the
        one a single process gives.
    progress:
        A bar on stderr for checks that take more than a couple of seconds: None (default) on a
        terminal and not in CI, True or False.

    Returns
    -------
    GradCheckResult
        ``result.verdict`` is ``"pass"``, ``"FAIL"`` or ``"inconclusive"`` (``result.ok`` is
        True for ``"pass"`` only); ``str(result)`` a readable summary.
    """
    opts = Options.validated(method=method, rtol=rtol, atol=atol, safety=safety, step=step, typical=typical,
                             kinks=kinks, max_entries=max_entries, name=name, resolution=resolution,
                             keep_arrays=keep_arrays, oracle=oracle, workers=workers, progress=progress)
    chosen = _directional_mode(mode, params, structure, directional)
    directions_fit = not (opts.fixed or step is not None or not kinks) and method in DIRECTIONAL_METHODS
    if oracle in ("auto", "fd") and chosen and (mode == "directional" or directions_fit):
        if not directions_fit:
            raise InvalidArgumentError(
                f"mode='directional' takes no rtol/atol/step/kinks=False and no method={method!r} (it takes "
                f"{', '.join(map(repr, DIRECTIONAL_METHODS))}): its tolerances come from each direction's own "
                f"error estimate")
        result = _directional(loss, grad, params, opts, directional)
        if mode == "auto":
            n = sum(int(np.size(a)) for a in (params.values() if isinstance(params, Mapping) else [params]))
            result = _with_choice(result, f"{n:,} parameter entries, above {AUTO_DIRECTIONAL_ABOVE:,}", None)
        return result
    switch: Switch | None = None
    if mode == "auto" and oracle in ("auto", "fd") and not structure and directions_fit:
        def switch(ctx: Context, pred: _cost.Prediction) -> DirectionalResult:
            why = (f"the per-entry check was predicted to take about {_cost.describe_s(pred.entries_s)} "
                   f"({pred.entries_detail()}), over the {_cost.BUDGET_S:g} s budget; along directions about "
                   f"{_cost.describe_s(pred.directional_s)}")
            _cost.announce(f"check_grad of {ctx.evaluator.fn_name} (mode chosen: 'directional', {why})",
                                  pred.directional_s, "directions, then entries where they disagree",
                                  "workers= (for the entries checked one by one) or fewer directions= "
                                  "(directional={'directions': k}, a weaker promise)")
            with _cost.quiet():  # the check inside is this one: it announces nothing more
                out = _directional(loss, grad, params, opts, directional)
            return _with_choice(out, why, pred)

    if structure:
        result = _run_structured(loss, grad, params, opts, structure)
    else:
        result = _run("grad", loss, grad, params, opts, switch=switch)
    if isinstance(result, GradCheckResult):
        _recording.emit(result)
    return result


def _directional(loss: Callable[[Any], Any], grad: Callable[[Any], Any], params: Any, opts: Options,
                 directional: Mapping[str, Any] | None) -> DirectionalResult:
    """check_grad's options passed on to the directional check, as they are: each was validated
    at check_grad's boundary (``resolution`` becomes ``target`` unchanged, None included)."""
    from .directional._engine import DirectionalOptions, run_directional

    # with the default witnesses, directions take complex step where the loss is complex-analytic: its
    # bars, some 1e-16 of a direction's sum, resolve a relative 1e-10 slip in one median entry of 1e5
    method = "auto" if opts.oracle == "auto" and opts.method == "richardson" else opts.method
    dopts = DirectionalOptions(method=method, typical=opts.typical, safety=opts.safety,
                               max_named=opts.max_entries, target=opts.resolution,
                               **{"workers": opts.workers, "progress": opts.progress, **dict(directional or {})})
    return run_directional(loss, grad, params, dopts, opts.name)


def _with_choice(result: DirectionalResult, why: str, pred: _cost.Prediction | None) -> DirectionalResult:
    """The directional result with notes saying that its mode was chosen, why, and what its
    verdict promises beside the per-entry check's."""
    entries = f" (predicted {_cost.describe_s(pred.entries_s)})" if pred is not None else ""
    to = f"to a relative {result.target:g} of its own value" if result.target is not None else "against its own value"
    notes = (
        f"mode='directional' was chosen (mode not given): {why}",
        f"this verdict keeps the per-entry promise (every entry {to}) only where an entry's |g_i s_i| is large "
        f"enough beside its parameter's largest: its resolution, {result.resolution:.2g}, is relative to that "
        f"largest term (the entries it cannot promise are counted in a note, where there are any), and an error "
        f"spread over many entries is missed with probability <= {result.miss_probability:.2g}; mode='entries' "
        f"checks every entry{entries}",
    )
    return dataclasses.replace(result, notes=tuple(result.notes) + notes)


AUTO_DIRECTIONAL_ABOVE = 100_000
"""``mode="auto"`` checks along directions above this many parameter entries whatever the
loss's speed (6e5 evaluations and arrays of that many entries per parameter; seconds along
directions at 1e6), and below it where the predicted time says so (:mod:`gradcheck.checks._cost`)."""


_SET_BY_CHECK_GRAD = ("loss", "grad", "params", "method", "typical", "safety", "max_named", "name", "target")
"""check_grad_directional's arguments that check_grad fills from its own (``directional=`` cannot
set them twice; ``workers``/``progress`` come from check_grad too but a directional value wins)."""


_OWN_ARGUMENT = {"max_named": "max_entries", "target": "resolution"}


def _directional_keys() -> tuple[str, ...]:
    """What ``directional=`` may hold: check_grad_directional's options check_grad does not set itself."""
    from .directional._engine import DirectionalOptions

    return tuple(f.name for f in dataclasses.fields(DirectionalOptions) if f.name not in _SET_BY_CHECK_GRAD)


def _directional_mode(mode: str, params: Any, structure: Mapping[str, str] | None,
                      directional: Mapping[str, Any] | None) -> bool:
    if mode not in ("auto", "entries", "directional"):
        raise InvalidArgumentError(f"mode={mode!r}: expected 'auto', 'entries' or 'directional'")
    if directional is not None and not isinstance(directional, Mapping):
        raise InvalidArgumentError(f"directional={directional!r}: expected a mapping of check_grad_directional options")
    if directional:
        valid = _directional_keys()
        for key in directional:
            if key not in valid:
                why = (f"check_grad sets it from its own {_OWN_ARGUMENT.get(key, key)}= argument"
                       if key in _SET_BY_CHECK_GRAD else "not an option of check_grad_directional")
                raise InvalidArgumentError(f"directional[{key!r}]: {why}; valid keys: {', '.join(valid)}")
        check_options(**directional)  # the values too, here at the boundary, with the messages of every entry
    if mode == "entries" or structure:
        return False
    if mode == "directional":
        return True
    arrays = params.values() if isinstance(params, Mapping) else [params]
    return sum(int(np.size(a)) for a in arrays) > AUTO_DIRECTIONAL_ABOVE


def _convention_slip(p: ParamResult, st: Structure) -> str | None:
    """A symmetric gradient written in the other convention: off-diagonal entries off by 2."""
    if not p.failed or p.arrays is None or not st.kind.startswith("symmetric"):
        return None
    a, n, tol = p.arrays.analytic, p.arrays.numeric, p.arrays.tolerances
    off = st.rows != st.cols
    if not off.any():
        return None
    other, factor = ("symmetric", 0.5) if st.kind == "symmetric-entries" else ("symmetric-entries", 2.0)
    if np.all(np.abs(a - np.where(off, factor * n, n)) <= tol * max(1.0, factor)):
        conv = "(G + G^T)/2" if other == "symmetric" else "G + G^T - diag(G)"
        return (f"the off-diagonal entries are {factor:g} x the numerical ones, the diagonal right: "
                f"the gradient follows "
                f"the {other!r} convention, {conv}; pass structure={{{p.name!r}: {other!r}}} if that is the one meant")
    return None


def _run_structured(loss: Callable[[Any], Any], grad: Callable[[Any], Any], params: Any, opts: Options,
                    structure: Mapping[str, str]) -> GradCheckResult:
    """The check over the free coordinates of the structured parameters, reported at their (i, j)."""
    _callable(loss, "loss")
    _callable(grad, "grad")
    free_loss, free_grad, free_params, kinds = structured(loss, grad, params, structure)
    opts = dataclasses.replace(opts, name=opts.name or _name(loss, None))
    result = _run("grad", free_loss, free_grad, free_params, opts)
    params_out = dict(result.params)
    notes = list(result.notes)
    for name, st in kinds.items():
        p = params_out[name]

        def at(e: Entry, st: Structure = st) -> Entry:
            return dataclasses.replace(e, index=st.index(e.index[0]))

        diagnosis = _convention_slip(p, st) or p.diagnosis
        if diagnosis and "(first at (" in diagnosis and p.mismatches:
            diagnosis = diagnosis.split("(first at")[0] + f"(first at {at(p.mismatches[0]).index})"
        params_out[name] = dataclasses.replace(
            p, shape=st.shape, worst=at(p.worst), mismatches=tuple(at(e) for e in p.mismatches),
            kinks=tuple(at(e) for e in p.kinks), diagnosis=diagnosis if p.failed else None)
        notes.append(f"{name}: structure {st.kind!r}, {STRUCTURES[st.kind]} ({len(st.rows)} free entries)")
    return dataclasses.replace(result, params=params_out, notes=tuple(notes))


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
    resolution: float | str | None = "auto",
    keep_arrays: bool | None = None,
    oracle: str = "auto",
    workers: int | cf.Executor | None = None,
    progress: bool | None = None,
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
    opts = Options.validated(method=method, rtol=rtol, atol=atol, safety=safety, step=step, typical=typical,
                             kinks=kinks, max_entries=max_entries, name=name, layout=layout, order=order,
                             resolution=resolution, keep_arrays=keep_arrays, oracle=oracle, workers=workers,
                             progress=progress)
    result = _run("jacobian", fn, jac, x, opts)
    _recording.emit(result)
    return result


def assert_grad(loss: Callable[[Any], Any], grad: Callable[[Any], Any], params: Any, **options: Any) -> GradCheckResult:
    """:func:`check_grad`, raising :class:`GradientMismatch` (an ``AssertionError``) unless it passes.

    An inconclusive check fails too, with the reason and what would make it conclusive
    (``resolution=None`` accepts a coarser check). The message names each wrong parameter,
    its worst entries (index, analytic, numeric,
    absolute and relative error, tolerance), the scheme and the tolerance rule.
    """
    __tracebackhide__ = True  # pytest shows the caller's line and the verdict, not this frame
    result = check_grad(loss, grad, params, **options)
    if not result.ok:
        from ..judge._headline import failure_message

        raise GradientMismatch(failure_message(result, options.get("max_entries", 5)), result)
    return result


def assert_jacobian(fn: Callable[[Any], Any], jac: Callable[[Any], Any], x: Any, **options: Any) -> GradCheckResult:
    """:func:`check_jacobian`, raising :class:`GradientMismatch` when it fails."""
    __tracebackhide__ = True
    result = check_jacobian(fn, jac, x, **options)
    if not result.ok:
        from ..judge._headline import failure_message

        raise GradientMismatch(failure_message(result, options.get("max_entries", 5)), result)
    return result


def _numerical(kind: Kind, fn: Callable[[Any], Any], params: Any, opts: Options) -> Estimate:
    ctx = _start(kind, fn, params, opts)
    run = FiniteDifferences().run(ctx)
    ctx.evaluator.finish()
    ps = ctx.params
    out_shape = ctx.evaluator.out_shape if kind == "jacobian" else ()

    def pack(values: list[np.ndarray]) -> Any:
        return ps.pack({n: v.reshape(out_shape + ps.arrays[n].shape) for n, v in zip(ps.names, values, strict=True)})

    ests = run.estimates
    for name, e in zip(ps.names, ests, strict=True):
        _finite_or_raise(ps, name, e)
    lefts, rights = zip(*(e.sides() for e in ests), strict=True)
    steps = ps.pack({n: e.step.reshape(ps.arrays[n].shape) for n, e in zip(ps.names, ests, strict=True)})
    return Estimate(value=pack([e.value for e in ests]), error=pack([e.error for e in ests]),
                    kink=pack([e.kink_mask() for e in ests]), left=pack(list(lefts)), right=pack(list(rights)),
                    method=run.method, n_evaluations=ctx.evaluator.n_evaluations, step=steps)


def _finite_or_raise(ps: ParamSet, name: str, est: OracleEstimate) -> None:
    """An estimate handed back as numbers must be numbers: say why one is not."""
    bad = ~(np.isfinite(est.value) & np.isfinite(est.error)).all(axis=0)
    if not bad.any():
        return
    flat = int(np.flatnonzero(bad)[0])
    where = format_index(ps.arrays[name].shape, flat)
    if est.step is not None and est.step[flat] == 0:
        cause = (f"the step rounds away (x + h == x at x = {float(ps.arrays[name].ravel()[flat]):.3g}): pass a larger "
                 f"step= or typical=, or leave the defaults")
    else:
        cause = "the function is not finite at x +- h for every step tried (the edge of its domain?)"
    raise NonFiniteError(f"the estimate for parameter {name!r} is not finite at {int(bad.sum())} entr"
                         f"{'y' if bad.sum() == 1 else 'ies'}, first at index {where}: {cause}")


def numerical_grad(loss: Callable[[Any], Any], params: Any, *, method: str = "richardson", step: float | None = None,
                   typical: float | Mapping[str, float] = 1.0, safety: float = DEFAULT_SAFETY,
                   refine: bool = True) -> Estimate:
    """Finite-difference gradient of a scalar ``loss`` with a per-entry error estimate.

    Returns an :class:`~gradcheck.Estimate` whose ``value`` and ``error`` have the structure
    of ``params``; ``kink`` marks entries where the one-sided slopes differ. ``refine=False``
    keeps the requested step everywhere (no re-estimation of unresolved entries with
    smaller steps), e.g. to study error against step size.
    """
    opts = Options.validated(method=method, step=step, typical=typical, safety=safety, refine=refine)
    return _numerical("grad", loss, params, opts)


def numerical_jacobian(fn: Callable[[Any], Any], x: Any, *, method: str = "richardson", step: float | None = None,
                       typical: float | Mapping[str, float] = 1.0, safety: float = DEFAULT_SAFETY,
                       refine: bool = True) -> Estimate:
    """Finite-difference Jacobian (numerator layout, ``out.shape + x.shape``) with error estimates."""
    opts = Options.validated(method=method, step=step, typical=typical, safety=safety, refine=refine)
    return _numerical("jacobian", fn, x, opts)
