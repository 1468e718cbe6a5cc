"""A framework's rule judged against float64 evidence: the engine half of ``gradcheck.torch`` and ``gradcheck.jax``.

A bridge turns a framework callable into a :class:`Program`: numpy functions that run it in float64 on
upcast copies (the reference, differentiated by finite differences) and run its rule (backward, forward
mode) in the inputs' own dtype. From there everything is framework-free:

* inputs all float64 (or complex128): the rule's product is judged by :func:`check_grad` /
  :func:`check_jacobian` exactly as a numpy rule is (:mod:`._rules`);
* any input in a lower precision (float32, float16, bfloat16, complex64): the rule runs in that dtype and
  its product is judged against finite differences of the float64 run, with a tolerance from a *baseline*:
  ``multiplier x`` the largest error of the baseline, plus ``floor`` ulps of the input's dtype times the
  largest entry, plus the float64 estimate's own error bars. The baseline is a ``reference=`` implementation
  run in the same dtype (its error against the same float64 evidence: what an honest kernel in that dtype
  achieves), or, without one, the rule's own rounding measured at the point: the rule is run again at
  points moved by a few ulps of the inputs' dtype, which redraws every rounding in it while the smooth
  change of the product cancels in second differences (as :mod:`gradcheck.judge._rounding` does in float64
  with a move of 1e-10). A kernel that loses a term loses it at every nearby point, so its error stays while
  its measured rounding does not grow: it fails.

Every product is computed twice at the base point: a rule whose second run differs (atomics, a reduction
in a thread-dependent order) fails with the spread named, unless ``nondeterminism=`` accepts a spread that
small, which is then added to the tolerance and reported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core import _recording
from ..core._errors import InvalidArgumentError, LossRaisedError
from ..core._status import Status
from ..judge._compare import relative_error
from ..judge._diagnose import diagnose
from ..judge._result import Entry, EntryArrays, GradCheckResult, ParamResult, Tolerance
from ..judge._rounding import SIGMAS
from ._rules import DEFAULT_DRAWS, along_tangent, combine, draw_count, quiet

__all__ = ["Program", "BaselineTolerance", "run_vjp", "run_jvp", "RuleOptions", "DEFAULT_MULTIPLIER",
           "FLOOR_ULPS", "LOW_RESOLUTION_ULPS"]

Arrays = dict[str, np.ndarray]

DEFAULT_MULTIPLIER = 2.0
"""A low-precision product may be this many times as far from the float64 evidence as its baseline is. With a
``reference=`` kernel it is the factor kernel libraries use (2 to 4; 2 keeps a lost term of a few ulps
visible); with the measured rounding, itself a bound of :data:`SIGMAS` standard deviations, 2 covers a
rounding pattern that a move of a few ulps redraws only in part."""

FLOOR_ULPS = 4.0
"""Ulps of the input's dtype times the product's largest entry, always allowed: the last rounding of the result
into that dtype (half an ulp), with room for a product the moves cannot see rounding in (an exact one)."""

LOW_RESOLUTION_ULPS = 100.0
"""Default resolution a low-precision product must reach: this many ulps of its dtype (1.2e-5 in float32, 0.1
in float16); coarser is ``inconclusive``."""

MOVE_ULPS = (3.0, -2.0)
"""The moves, in ulps of each entry (of ``max(|x_i|, rms(x))``, so that zeros move too): forward 3, back 2.
Unequal, so that mirrored inputs cannot round to mirrored results (see :data:`gradcheck.judge._rounding.BACK`);
``b = 2/3`` cancels the first-order change in ``b (g+ - g0) + (g- - g0)``."""

MOVES = 3
"""Random sign patterns moved along (as in float64)."""

_SEED = 20261207


@dataclass
class Program:
    """A framework callable as numpy functions; built by a bridge, read by :func:`run_vjp` / :func:`run_jvp`.

    ``inputs`` are the differentiable inputs upcast (exactly) to float64 or complex128; ``dtypes`` their own
    dtype names and ``eps`` those dtypes' machine epsilon. ``forward64(x)`` runs the callable in float64 at
    ``x`` (a dict like ``inputs``) and returns its outputs as a dict of float64/complex128 arrays; ``outputs``
    names them with their shapes. ``vjp(x, w)`` runs the rule in the inputs' own dtypes (``x`` rounded to
    them) with cotangents ``w`` (a dict per output) and returns per input its product in the framework's
    convention, or None where the rule gives no gradient; ``jvp(x, v)`` the forward-mode product per output.
    ``round_out(w)`` rounds cotangents to the outputs' dtypes, so that both sides use the same numbers.
    """

    name: str
    inputs: Arrays
    dtypes: dict[str, str]
    eps: dict[str, float]
    outputs: dict[str, tuple[int, ...]]
    forward64: Callable[[Arrays], Arrays]
    vjp: Callable[[Arrays, Arrays], dict[str, np.ndarray | None]]
    round_out: Callable[[Arrays], Arrays]
    jvp: Callable[[Arrays, Arrays], Arrays] | None = None
    reference_vjp: Callable[[Arrays, Arrays], dict[str, np.ndarray | None]] | None = None
    reference_jvp: Callable[[Arrays, Arrays], Arrays] | None = None
    round_in: Callable[[Arrays], Arrays] | None = None
    convention: str = "torch"  # complex gradients: d/dRe + i d/dIm ("torch") or its conjugate ("jax")
    notes: list[str] = field(default_factory=list)
    session: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext
    """Entered around the whole check: a framework's global state the evaluations change (torch's random
    generators, reseeded before each evaluation) is restored once, at the end."""

    @property
    def low(self) -> bool:
        """Whether any input runs below float64: then the verdict is against the float64 reference."""
        return any(d not in ("float64", "complex128") for d in self.dtypes.values())


@dataclass(frozen=True)
class RuleOptions:
    """What a bridge check was asked, beyond the engine's options (``engine``, passed to check_grad)."""

    draws: int = DEFAULT_DRAWS
    seed: int = 0
    multiplier: float = DEFAULT_MULTIPLIER
    floor_ulps: float = FLOOR_ULPS
    nondeterminism: float | None = None
    resolution: Any = "auto"
    engine: Mapping[str, Any] = field(default_factory=dict)

    def validated(self) -> RuleOptions:
        draw_count("cotangents", self.draws)
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise InvalidArgumentError(f"seed={self.seed!r}: expected an integer >= 0")
        for name in ("multiplier", "floor_ulps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < (
                    1 if name == "multiplier" else 0):
                raise InvalidArgumentError(f"{name}={v!r}: expected a finite number >= "
                                           f"{1 if name == 'multiplier' else 0}")
        nd = self.nondeterminism
        if nd is not None and (isinstance(nd, bool) or not isinstance(nd, (int, float)) or not nd >= 0):
            raise InvalidArgumentError(f"nondeterminism={nd!r}: expected None (any difference between two runs of "
                                       f"the rule fails) or the largest absolute difference accepted, >= 0")
        r = self.resolution
        if not (r is None or r == "auto" or (isinstance(r, (int, float)) and not isinstance(r, bool) and 0 < r <= 1)):
            raise InvalidArgumentError(f"resolution={r!r}: expected 'auto' (the engine's default in float64, "
                                       f"{LOW_RESOLUTION_ULPS:g} ulps of a lower dtype), a number in (0, 1], or None")
        for key in ("mode", "structure", "directional", "layout", "order", "keep_arrays", "name", "resolution"):
            if key in self.engine:
                raise InvalidArgumentError(f"{key}= is not an option of a rule check")
        return self


@dataclass(frozen=True)
class BaselineTolerance(Tolerance):
    """The tolerance of a low-precision product: ``multiplier x baseline_error + floor_ulps x eps x max|n| +
    safety x`` the float64 reference's error estimate (``+`` the accepted nondeterminism)."""

    baseline: str = ""  # what the baseline is: a reference kernel in the same dtype, or the measured rounding
    multiplier: float = DEFAULT_MULTIPLIER
    baseline_error: float = math.nan
    floor_ulps: float = FLOOR_ULPS
    dtype: str = ""
    reference: str = "finite differences of the callable in float64 on upcast copies"

    def describe(self) -> str:
        return (f"{self.multiplier:g} x the baseline's largest error ({self.baseline}: {self.baseline_error:.2g}) "
                f"+ {self.floor_ulps:g} ulps of {self.dtype} x the largest entry + {self.safety:g} x the float64 "
                f"reference's error estimate; reference: {self.reference}")


# --------------------------------------------------------------------------- complex inputs as pairs of reals
def _split(x: Mapping[str, np.ndarray]) -> Arrays:
    out: Arrays = {}
    for n, a in x.items():
        if np.iscomplexobj(a):
            out[f"{n}.real"], out[f"{n}.imag"] = np.ascontiguousarray(a.real), np.ascontiguousarray(a.imag)
        else:
            out[n] = a
    return out


def _join(params: Mapping[str, np.ndarray], prog: Program) -> Arrays:
    return {n: (params[f"{n}.real"] + 1j * params[f"{n}.imag"]) if np.iscomplexobj(a) else params[n]
            for n, a in prog.inputs.items()}


def _split_product(g: Mapping[str, np.ndarray | None], prog: Program, missing: set[str]) -> Arrays:
    """The rule's product as real arrays in the engine's convention (d/dRe + i d/dIm), zeros where it gave
    none (``missing`` learns which)."""
    out: Arrays = {}
    for n, a in prog.inputs.items():
        v = g.get(n)
        if v is None:
            missing.add(n)
            v = np.zeros_like(a)
        v = np.asarray(v).reshape(a.shape)
        if np.iscomplexobj(a):
            v = v.astype(complex)
            if prog.convention == "jax":
                v = np.conj(v)
            out[f"{n}.real"], out[f"{n}.imag"] = v.real.copy(), v.imag.copy()
        else:
            out[n] = np.asarray(v.real if np.iscomplexobj(v) else v, dtype=float)
    return out


def _inner(w: Mapping[str, np.ndarray], y: Mapping[str, np.ndarray]) -> float:
    """``<w, y>`` over every output, complex ones as pairs of reals (``Re w Re y + Im w Im y``)."""
    total = 0.0
    for n, wn in w.items():
        yn = np.asarray(y[n])
        if np.iscomplexobj(wn) or np.iscomplexobj(yn):
            total += float(np.sum(np.real(wn) * np.real(yn) + np.imag(wn) * np.imag(yn)))
        else:
            total += float(np.sum(wn * yn))
    return total


def _draw_cotangent(rng: np.random.Generator, prog: Program, complex_out: Mapping[str, bool]) -> Arrays:
    w = {}
    for n, shape in prog.outputs.items():
        w[n] = rng.standard_normal(shape)
        if complex_out[n]:
            w[n] = w[n] + 1j * rng.standard_normal(shape)
    return prog.round_out(w)


# --------------------------------------------------------------------------- the VJP
def run_vjp(prog: Program, opts: RuleOptions) -> GradCheckResult:
    """Check ``prog``'s VJP along ``opts.draws`` cotangents at once (row ``j`` of each input's Jacobian is its
    product with cotangent ``j``: every evaluation of the callable serves every draw); emit the result."""
    with prog.session():
        result = _run_vjp(prog, opts)
    _recording.emit(result)
    return result


def _run_vjp(prog: Program, opts: RuleOptions) -> GradCheckResult:
    from ._first_order import check_jacobian

    rng = np.random.default_rng(opts.seed)
    y0 = float64_outputs(prog)
    complex_out = {n: bool(np.iscomplexobj(y0[n])) for n in prog.outputs}
    ws = [_draw_cotangent(rng, prog, complex_out) for _ in range(opts.draws)]
    missing: set[str] = set()

    def fn(params: Mapping[str, np.ndarray]) -> np.ndarray:
        y = prog.forward64(_join(params, prog))
        return np.array([_inner(w, y) for w in ws])

    def jac(params: Mapping[str, np.ndarray]) -> Arrays:
        return _stacked(prog.vjp(_join(params, prog), w) for w in ws)

    def _stacked(products: Any) -> Arrays:
        rows = [_split_product(g, prog, missing) for g in products]
        return {n: np.stack([row[n] for row in rows]) for n in rows[0]}

    x = _split(prog.inputs)
    j1, j2 = jac(x), jac(x)
    label = f"<w, {prog.name}>"
    if not prog.low:
        with quiet():
            r = check_jacobian(fn, jac, x, keep_arrays=True, name=label, **_engine(opts))
        r = dataclasses.replace(r, params={n: _nondeterminism(p, j1[n], j2[n], opts.nondeterminism)
                                           for n, p in r.params.items()})
    else:
        reference = None
        if prog.reference_vjp is not None:
            reference = _stacked(prog.reference_vjp(dict(prog.inputs), w) for w in ws)
        r = _low_vjp(prog, opts, label, (fn, jac), (j1, j2), reference)
    if r.failed:
        from ._rules import not_linear

        base = dict(prog.inputs)
        once = _split_product(prog.vjp(base, ws[0]), prog, set())
        twice = _split_product(prog.vjp(base, {n: 2 * v for n, v in ws[0].items()}), prog, set())
        r = dataclasses.replace(r, params=not_linear(r.params, once, twice, "the backward"))
    r = _named_slips(r, prog, missing)
    notes = [*prog.notes, *_precision_note(prog), f"cotangents: {opts.draws} Gaussian draws of "
             f"np.random.default_rng({opts.seed}), rounded to the outputs' dtypes", *r.notes]
    from ._rules import vjp_layout

    return dataclasses.replace(r, function=f"backward of {prog.name}", layout=vjp_layout(opts.draws),
                               notes=tuple(dict.fromkeys(notes)), ok=all(p.ok for p in r.params.values()))


def float64_outputs(prog: Program) -> Arrays:
    """The callable's outputs in float64 at the upcast inputs: the reference's first evaluation, where a
    callable that cannot run in float64 (a kernel written for one dtype) says so rather than fail later."""
    try:
        return prog.forward64(dict(prog.inputs))
    except Exception as exc:
        raise LossRaisedError(
            f"{prog.name} cannot run in float64 on upcast copies of its inputs ({type(exc).__name__}: {exc}); "
            f"the reference is finite differences of that float64 run, so this check needs it (a kernel with a "
            f"float64 path, or its plain implementation checked in float64)") from exc


def _engine(opts: RuleOptions) -> dict[str, Any]:
    out = dict(opts.engine)
    if opts.resolution != "auto":
        out["resolution"] = opts.resolution
    return out


def _precision_note(prog: Program) -> list[str]:
    if not prog.low:
        return []
    low = sorted({f"{n} ({d})" for n, d in prog.dtypes.items() if d not in ("float64", "complex128")})
    return [f"low precision: the rule ran in its inputs' dtypes ({', '.join(low)}); the reference is finite "
            f"differences of the callable run in float64 on upcast copies"]


def _low_vjp(prog: Program, opts: RuleOptions, label: str, pair: tuple[Callable[[Any], Any], Callable[[Any], Any]],
             runs: tuple[Arrays, Arrays], reference: Arrays | None) -> GradCheckResult:
    """The low-precision VJPs against the float64 estimate of the same stacked Jacobian, with the baseline
    tolerance."""
    from ._first_order import numerical_jacobian

    fn, jac = pair
    x = _split(prog.inputs)
    est = numerical_jacobian(fn, x, **{k: v for k, v in opts.engine.items() if k in ("method", "step", "typical",
                                                                                   "safety")})
    g1, g2 = runs
    k = opts.draws
    rounding = _measured_rounding(prog, lambda points: jac(_split(points)), g1)
    params = {}
    safety = float(opts.engine.get("safety", 10.0))
    for n in x:
        if reference is not None:
            baseline = ("the reference= kernel in the same dtype", float(np.max(np.abs(reference[n] - est.value[n]))))
        else:
            baseline = ("the rule's own rounding, measured", float(np.max(rounding[n])))
        dtype, eps = _param_dtype(prog, n)
        shape = x[n].shape

        def rows(a: Any, shape: tuple[int, ...] = shape) -> np.ndarray:
            return np.asarray(a, float).reshape(k, -1)

        params[n] = judge_low(n, shape, (k, *shape), dtype, eps, runs=(rows(g1[n]), rows(g2[n])),
                              reference=(rows(est.value[n]), rows(est.error[n])),
                              sides=(rows(est.left[n]), rows(est.right[n]), rows(est.kink[n]).astype(bool)),
                              baseline=baseline, opts=opts, safety=safety)
    return GradCheckResult(ok=all(p.ok for p in params.values()), kind="jacobian", function=label,
                           method=est.method, params=params, n_evaluations=est.n_evaluations, value=None,
                           out_shape=(k,), layout="")


def _param_dtype(prog: Program, pname: str) -> tuple[str, float]:
    base = pname.rsplit(".", 1)[0] if pname not in prog.dtypes else pname
    return prog.dtypes[base], prog.eps[base]


def _measured_rounding(prog: Program, at: Callable[[Arrays], Arrays], g0: Arrays) -> Arrays:
    """Per entry, a bound on the rule's rounding in its own dtype: second differences of the product at points
    moved by a few ulps along random signs (see the module docstring); 0 where nothing moved."""
    rng = np.random.default_rng(_SEED)
    b = -MOVE_ULPS[1] / MOVE_ULPS[0]
    sq = {n: np.zeros_like(v, dtype=float) for n, v in g0.items()}
    for _ in range(MOVES):
        signs = {n: rng.choice((-1.0, 1.0), size=a.shape) for n, a in prog.inputs.items()}
        vals = []
        for k in MOVE_ULPS:
            vals.append(at({n: a + k * signs[n] * _ulp(a, prog.eps[n]) for n, a in prog.inputs.items()}))
        for n in sq:
            with np.errstate(over="ignore", invalid="ignore"):
                d = b * (vals[0][n] - g0[n]) + (vals[1][n] - g0[n])
            sq[n] += np.nan_to_num(d * d, nan=np.inf)
    return {n: SIGMAS * np.sqrt(s / ((b * b + 1.0 + (1.0 + b) ** 2) * MOVES)) for n, s in sq.items()}


def _ulp(a: np.ndarray, eps: float) -> np.ndarray:
    """One ulp of each entry in a dtype of machine epsilon ``eps`` (entries below the rms move as the rms)."""
    mag = np.abs(a)
    rms = float(np.sqrt(np.mean(mag**2))) or 1.0
    m = np.maximum(mag, rms)
    return eps * np.exp2(np.floor(np.log2(m)))


def judge_low(pname: str, shape: tuple[int, ...], full: tuple[int, ...], dtype: str, eps: float, *,
              runs: tuple[np.ndarray, np.ndarray], reference: tuple[np.ndarray, np.ndarray],
              sides: tuple[Any, Any, Any], baseline: tuple[str, float], opts: RuleOptions,
              safety: float = 10.0) -> ParamResult:
    """The per-entry verdict of a low-precision product ``runs[0]`` (``(1, k)``) against the float64 estimate
    ``reference = (value, error)``; ``sides`` the one-sided slopes and kink mask; ``full`` the entries' shape."""
    a, a2 = runs
    n, err = reference
    left, right, kink = (None if s is None else np.asarray(s).reshape(a.shape) for s in sides)
    what, base_err = baseline
    top = float(np.max(np.abs(np.nan_to_num(n)))) if n.size else 0.0
    floor = opts.floor_ulps * eps * top
    spread = np.abs(a - a2)
    nd = opts.nondeterminism
    notes = []
    tol = opts.multiplier * base_err + floor + safety * np.nan_to_num(err, nan=np.inf)
    if nd is not None and spread.any():
        tol = tol + np.minimum(spread, nd)
        notes.append(f"nondeterministic: two runs at the same point differ by up to {float(spread.max()):.3g} "
                     f"(accepted up to nondeterminism={nd:g}, and added to the tolerance)")
    tol = np.broadcast_to(tol, a.shape).astype(float)
    diff = np.abs(a - n)
    status = np.where(diff > tol, Status.MISMATCH, Status.OK)
    if kink is not None and kink.any() and opts.engine.get("kinks", True):
        lo, hi = np.fmin(left, right), np.fmax(left, right)
        inside = (a >= lo - tol) & (a <= hi + tol)
        status = np.where(kink, np.where(inside, Status.KINK, Status.KINK_MISMATCH), status)
        diff = np.where(kink, np.where(inside, 0.0, np.fmin(np.abs(a - lo), np.abs(a - hi))), diff)
    unresolved = ~np.isfinite(n) | ~np.isfinite(err)
    status = np.where(unresolved, Status.UNRESOLVED, status)
    nondet_bad = spread > (nd if nd is not None else 0.0)
    status = np.where(nondet_bad & (status == Status.OK), Status.MISMATCH, status)
    wrong = (status == Status.MISMATCH) | (status == Status.KINK_MISMATCH)
    rel = relative_error(diff, a, n, tol)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(tol > 0, diff / tol, np.where(diff > 0, np.inf, 0.0))
    ratio = np.where(nondet_bad, np.inf, ratio)
    resolution = float(np.max(tol) / top) if top > 0 else math.inf
    if unresolved.any():
        resolution = math.inf

    def entry(flat: int) -> Entry:
        st = Status(int(status.ravel()[flat]))
        at_kink = st in (Status.KINK, Status.KINK_MISMATCH)
        return Entry(index=tuple(int(i) for i in np.unravel_index(flat, full)) if full else (),
                     analytic=float(a.ravel()[flat]), numeric=float(n.ravel()[flat]),
                     abs_error=float(diff.ravel()[flat]), rel_error=float(rel.ravel()[flat]),
                     tolerance=float(tol.ravel()[flat]), error_estimate=float(err.ravel()[flat]), status=st.label,
                     left=float(left.ravel()[flat]) if at_kink and left is not None else None,
                     right=float(right.ravel()[flat]) if at_kink and right is not None else None)

    order = np.argsort(-ratio.ravel(), kind="stable")
    max_entries = int(opts.engine.get("max_entries", 5))
    bad_flat = [int(i) for i in order if wrong.ravel()[i]][:max_entries]
    if nondet_bad.any():
        flat = int(np.flatnonzero(nondet_bad.ravel())[0])
        where = tuple(int(i) for i in np.unravel_index(flat, full)) if full else ()
        diag = (f"nondeterministic: a second run at the same point differs at {int(nondet_bad.sum())} entr"
                f"{'y' if nondet_bad.sum() == 1 else 'ies'}, by up to {float(spread.max()):.3g} (first at {where}); "
                f"pass nondeterminism= to accept a spread that small")
    elif wrong.any():
        diag = diagnose(a.reshape(full), n.reshape(full), tol.reshape(full), wrong.reshape(full), full, None)
    else:
        diag = None
    requested = opts.resolution if opts.resolution != "auto" else LOW_RESOLUTION_ULPS * eps
    why = None
    if not wrong.any():
        if unresolved.any():
            why = (f"{int(unresolved.sum())} entries have no finite float64 estimate (the edge of the callable's "
                   f"domain?)")
        elif requested is not None and resolution > requested:
            why = (f"resolution {resolution:.2g} is coarser than the {requested:.2g} asked for ({dtype}); to make it "
                   f"conclusive: a reference= kernel in the same dtype, or the check in float64; or accept it with "
                   f"resolution=None")
    tolerance = BaselineTolerance(mode="estimate", safety=safety, floor_rtol=opts.floor_ulps * eps, rtol=None,
                                  atol=None, eps=eps, max=float(tol.max()), median=float(np.median(tol)),
                                  rounding=what, baseline=what, multiplier=opts.multiplier,
                                  baseline_error=base_err, floor_ulps=opts.floor_ulps, dtype=dtype)
    # A report reads the tolerance back as the engine's own Tolerance (its fields only): ``rounding`` carries
    # the whole rule, so that what the report prints after "rounding not measured:" is this rule.
    tolerance = dataclasses.replace(tolerance, rounding=f"{dtype} against float64: {tolerance.describe()}")
    arrays = EntryArrays(analytic=a.reshape(full), numeric=n.reshape(full), error_estimate=err.reshape(full),
                         tolerances=tol.reshape(full), abs_errors=diff.reshape(full), status=status.reshape(full))
    return ParamResult(
        name=pname, shape=shape, derivative_shape=full, dtype=dtype, ok=not wrong.any() and why is None,
        n_checked=int(a.size), n_mismatched=int(wrong.sum()), n_kinks=int(np.isin(status, (2, 3)).sum()),
        n_refined=0, max_abs_error=float(diff.max()), max_rel_error=float(rel.max()), resolution=resolution,
        worst=entry(int(order[0])), mismatches=tuple(entry(i) for i in bad_flat),
        kinks=tuple(entry(int(i)) for i in np.flatnonzero(np.isin(status.ravel(), (2,)))[:max_entries]),
        tolerance=tolerance, step=math.nan, diagnosis=diag, note="; ".join(notes), inconclusive=why, arrays=arrays)


def _nondeterminism(p: ParamResult, g1: np.ndarray, g2: np.ndarray, allowed: float | None) -> ParamResult:
    """A float64 result told of a second run of the rule at the same point: a spread beyond ``allowed`` fails."""
    spread = np.abs(np.asarray(g1, float) - np.asarray(g2, float)).reshape(-1)
    if not spread.any():
        return p
    limit = 0.0 if allowed is None else allowed
    bad = spread > limit
    if not bad.any():
        return dataclasses.replace(p, note="; ".join(filter(None, [
            p.note, f"nondeterministic: two runs at the same point differ by up to {float(spread.max()):.3g} "
                    f"(accepted: nondeterminism={allowed:g})"])))
    shape = p.derivative_shape
    numeric = p.numeric.reshape(-1) if p.numeric is not None else np.full(spread.shape, math.nan)
    entries = []
    for flat in np.argsort(-spread, kind="stable")[: 5]:
        if not bad[flat]:
            break
        entries.append(Entry(index=tuple(int(i) for i in np.unravel_index(int(flat), shape)),
                             analytic=float(np.asarray(g1).reshape(-1)[flat]), numeric=float(numeric[flat]),
                             abs_error=float(spread[flat]), rel_error=math.nan, tolerance=limit,
                             error_estimate=math.nan, status=Status.MISMATCH.label))
    first = tuple(int(i) for i in np.unravel_index(int(np.flatnonzero(bad)[0]), shape))
    diag = (f"nondeterministic: a second run at the same point differs at {int(bad.sum())} entr"
            f"{'y' if bad.sum() == 1 else 'ies'}, by up to {float(spread.max()):.3g} (first at {first}); pass "
            f"nondeterminism= to accept a spread that small")
    return dataclasses.replace(p, ok=False, n_mismatched=max(p.n_mismatched, int(bad.sum())),
                               mismatches=tuple(entries) + tuple(p.mismatches), diagnosis=diag)


def _named_slips(r: GradCheckResult, prog: Program, missing: set[str]) -> GradCheckResult:
    """Diagnoses only a rule can have: no gradient returned for an input, a complex gradient in the other
    framework's convention."""
    params = dict(r.params)
    for n in missing:
        for key in ([n] if n in params else [f"{n}.real", f"{n}.imag"]):
            p = params[key]
            if p.failed:
                params[key] = dataclasses.replace(p, diagnosis=f"the rule returns no gradient for input {n!r} "
                                                                f"(None, read as zeros)")
    for n, a in prog.inputs.items():
        if not np.iscomplexobj(a):
            continue
        im = params[f"{n}.imag"]
        if im.failed and im.arrays is not None:
            ar = im.arrays
            if np.all(np.abs(ar.analytic + ar.numeric) <= ar.tolerances):
                other = "jax's (d/dRe - i d/dIm)" if prog.convention == "torch" else "torch's (d/dRe + i d/dIm)"
                mine = "torch's (d/dRe + i d/dIm)" if prog.convention == "torch" else "jax's (d/dRe - i d/dIm)"
                params[f"{n}.imag"] = dataclasses.replace(
                    im, diagnosis=f"the imaginary part has the opposite sign: the gradient is in {other} "
                                  f"convention, the conjugate of {mine} that this framework expects (return "
                                  f"its conj())")
    return dataclasses.replace(r, params=params, ok=all(p.ok for p in params.values()))


# --------------------------------------------------------------------------- the JVP
def run_jvp(prog: Program, opts: RuleOptions) -> GradCheckResult:
    """Check ``prog``'s forward-mode rule along ``opts.draws`` tangents per input; emit and return the result."""
    with prog.session():
        result = _run_jvp(prog, opts)
    _recording.emit(result)
    return result


def _run_jvp(prog: Program, opts: RuleOptions) -> GradCheckResult:
    from ._first_order import check_jacobian, numerical_jacobian

    if prog.jvp is None:
        raise InvalidArgumentError(f"{prog.name} has no forward-mode rule to check")
    float64_outputs(prog)
    rng = np.random.default_rng(opts.seed)
    per_draw, labels = [], []
    for k in range(opts.draws):
        params: dict[str, ParamResult] = {}
        n_evals = 0
        for p, xp in prog.inputs.items():
            if np.iscomplexobj(xp):
                raise InvalidArgumentError(f"input {p!r} is complex: forward-mode checks take real inputs")
            v = {q: (_round_tangent(prog, q, rng.standard_normal(a.shape) * np.maximum(np.abs(a), 1.0))
                     if q == p else np.zeros_like(a)) for q, a in prog.inputs.items()}

            def fn(t: np.ndarray, v: Arrays = v) -> np.ndarray:
                return _flat_out(prog.forward64({q: a + float(t[0]) * v[q] for q, a in prog.inputs.items()}))

            def jac(t: np.ndarray, v: Arrays = v) -> np.ndarray:
                return _flat_out(prog.jvp({q: a + float(t[0]) * v[q] for q, a in prog.inputs.items()}, v)).reshape(
                    -1, 1)

            label = f"{prog.name}(x + t v[{p}])"
            if not prog.low:
                with quiet():
                    r = check_jacobian(fn, jac, np.zeros(1), keep_arrays=True, name=label, **_engine(opts))
                one = along_tangent(r.params["x"], p, xp.shape)
                j1, j2 = jac(np.zeros(1)), jac(np.zeros(1))
                params[p] = _nondeterminism(one, j1, j2, opts.nondeterminism)
                n_evals += r.n_evaluations
            else:
                est = numerical_jacobian(fn, np.zeros(1), **{key: val for key, val in opts.engine.items()
                                                             if key in ("method", "step", "safety")})
                j1, j2 = jac(np.zeros(1)).reshape(-1), jac(np.zeros(1)).reshape(-1)

                def at(points: Arrays, v: Arrays = v) -> Arrays:
                    return {"out": _flat_out(prog.jvp(points, v))}

                rounding = _measured_rounding(prog, at, {"out": j1})["out"]
                if prog.reference_jvp is not None:
                    ref = _flat_out(prog.reference_jvp(dict(prog.inputs), v))
                    baseline = ("the reference= kernel in the same dtype",
                                float(np.max(np.abs(ref - est.value.reshape(-1)))))
                else:
                    baseline = ("the rule's own rounding, measured", float(np.max(rounding)))
                dtype, eps = prog.dtypes[p], prog.eps[p]
                m = j1.size
                sides = (est.left.reshape(-1), est.right.reshape(-1), est.kink.reshape(-1))
                one = judge_low(p, xp.shape, (m,), dtype, eps, runs=(j1.reshape(1, -1), j2.reshape(1, -1)),
                                reference=(est.value.reshape(1, -1), est.error.reshape(1, -1)), sides=sides,
                                baseline=baseline, opts=opts, safety=float(opts.engine.get("safety", 10.0)))
                params[p] = one
                n_evals += est.n_evaluations
        per_draw.append(GradCheckResult(
            ok=all(q.ok for q in params.values()), kind="jacobian", function=prog.name, method="richardson",
            params=params, n_evaluations=n_evals, value=None, out_shape=(sum(int(np.prod(s)) for s in
                                                                              prog.outputs.values()),),
            layout="JVP: d/dt f(x + t v) at t = 0, one input moved at a time"))
        labels.append(f"tangent {k + 1} of {opts.draws} (seed {opts.seed})")
    outs = [f"{n!r} {s}" for n, s in prog.outputs.items()]
    notes = list(prog.notes) + _precision_note(prog)
    if len(outs) > 1:
        notes.append("entries index the outputs flattened and concatenated in order: " + ", ".join(outs))
    return combine(per_draw, f"forward-mode rule of {prog.name}", labels, notes)


def _round_tangent(prog: Program, name: str, v: np.ndarray) -> np.ndarray:
    if prog.round_in is None:
        return v
    return prog.round_in({name: v})[name]


def _flat_out(y: Mapping[str, np.ndarray]) -> np.ndarray:
    parts = []
    for a in y.values():
        a = np.asarray(a)
        if np.iscomplexobj(a):
            parts += [a.real.ravel(), a.imag.ravel()]
        else:
            parts.append(a.astype(float).ravel())
    return np.concatenate(parts) if parts else np.zeros(0)


# --------------------------------------------------------------------------- as a registered derivation
def derivation_parts(build: Callable[..., Program],
                     make: Callable[..., Any]) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """``(factory, loss, grad)`` for :func:`gradcheck.registry.register`: a rule as a derivation, so that
    ``gradcheck report`` and the registry's other users check it like any other. The factory draws the
    callable's inputs with ``make(rng, **sizes)`` (its sizes are the derivation's) and a cotangent from the
    same generator; the loss is ``<w, f(x)>`` run in float64, the gradient the rule's product with ``w``
    (the float64 check: a report has no low-precision row)."""
    import inspect

    def factory(rng: np.random.Generator, **sizes: Any) -> tuple[Arrays, dict[str, Any]]:
        prog = build(make(rng, **sizes))
        y0 = prog.forward64(dict(prog.inputs))
        w = {n: rng.standard_normal(np.shape(y0[n])) + (1j * rng.standard_normal(np.shape(y0[n]))
                                                         if np.iscomplexobj(y0[n]) else 0.0) for n in y0}
        return _split(prog.inputs), {"program": prog, "w": prog.round_out(w)}

    factory.__signature__ = inspect.signature(make)  # type: ignore[attr-defined]  # the sizes are make's

    def loss(params: Mapping[str, np.ndarray], data: Mapping[str, Any], xp: Any = None) -> float:
        prog = data["program"]
        return _inner(data["w"], prog.forward64(_join(params, prog)))

    def grad(params: Mapping[str, np.ndarray], data: Mapping[str, Any]) -> Arrays:
        prog = data["program"]
        return _split_product(prog.vjp(_join(params, prog), data["w"]), prog, set())

    return factory, loss, grad
