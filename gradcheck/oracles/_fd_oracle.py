"""Finite differences as an oracle: method choice, the loss's noise, steps, then the schemes.

:class:`FiniteDifferences` turns a :class:`~gradcheck.oracles._seam.Context` into one
:class:`~gradcheck.oracles._seam.OracleEstimate` per parameter. The arithmetic lives in
:mod:`gradcheck.oracles._fd`; this module decides what to ask it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core._errors import InvalidArgumentError, LossRaisedError, NonFiniteError
from ..core._evaluator import ComplexUnsupported, DirectionalPerturbation, Evaluator
from ..core._options import Options, floor_rtol
from ..core._params import ParamSet, format_index
from . import _fd
from ._seam import Context, OracleEstimate, OracleRun
from ._stencil import level_step, pair_truncation

__all__ = ["FiniteDifferences", "scales", "steps"]

COMPLEX_PROBE_STEP = 1e-20
"""The complex step of the analyticity probe: small enough that its truncation is nil."""


NOTABLE_NOISE = 64.0
"""The note on a loss's measured noise is made only where it exceeds 64 times the ulps
model (256 units in the last place): a few ulps of noise at |f| = 5 is every sum's lot and
changes no verdict; a cross-entropy that is a 1e-9 difference of terms of size 20 is
noisier by 1e6, and that is worth knowing."""


@dataclass(frozen=True)
class FiniteDifferences:
    """The finite-difference oracle (every scheme of :data:`gradcheck.METHODS`)."""

    name: str = "finite differences"

    def run(self, ctx: Context) -> OracleRun:
        opts, ps, ev = ctx.options, ctx.params, ctx.evaluator
        used = resolve_method(ctx)
        sc = scales(ps, opts)
        floor = noise_floor(ev, ctx.f0, ctx.spread, used, sc, ctx.notes)
        plan = _fd.Plan(
            method=used,
            steps=steps(ps, used, opts.step, sc),
            safety=opts.safety,
            resolve_rtol=_fd.resolve_rtol(ps.eps),
            refine=opts.refine,
            widen_rtol=_widen_rtol(ps, opts.safety, opts.step, opts.refine),
        )
        estimates = _fd.estimate(ev, ctx.f0, floor, plan)
        for name, est in zip(ps.names, estimates, strict=True):
            if est.domain_limited is not None and est.domain_limited.any():
                ctx.notes.append(_domain_note(ps, name, est, opts.typical_for(name)))
        return OracleRun(method=used, estimates=estimates)


def _domain_note(ps: ParamSet, name: str, est: OracleEstimate, typical: float) -> str:
    limited = est.domain_limited
    flat = int(np.flatnonzero(limited)[0])
    x = float(ps.arrays[name].ravel()[flat])
    return (
        f"{name}: x +- h left the loss's domain at {int(limited.sum())} entr{'y' if limited.sum() == 1 else 'ies'} "
        f"(first at index {format_index(ps.arrays[name].shape, flat)}, x = {x:.3g}), so their steps were cut "
        f"(to {est.step[flat]:.2g} there); steps scale with max(|x|, typical={typical:g}): a typical= near the "
        f"parameters' own magnitude, or method='complex', avoids this"
    )


def scales(ps: ParamSet, opts: Options) -> list[np.ndarray]:
    """Per-coordinate magnitude ``max(|x_i|, typical)``: steps are fractions of it."""
    opts.check_typical_keys(ps.names)
    return [np.maximum(np.abs(ps.arrays[n].astype(np.float64).ravel()), opts.typical_for(n))
            for n in ps.names]


def steps(ps: ParamSet, method: str, step: float | None, scales: list[np.ndarray]) -> list[np.ndarray]:
    """Per-coordinate steps: base * max(|x_i|, typical), so each entry moves by a fixed fraction of its own size."""
    base = step if step is not None else _fd.default_base_step(method, ps.eps)
    out = []
    for name, scale in zip(ps.names, scales, strict=True):
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


def noise_floor(ev: Evaluator, f0: np.ndarray, spread: float, method: str, scales: list[np.ndarray],
                notes: list[str]) -> np.ndarray:
    """Absolute noise of each output: measured (unless complex step, which subtracts nothing) plus spread."""
    if method == "complex":
        return np.full(f0.size, spread)
    sigma, flat = _fd.measure_noise(ev, f0, scales, notes)
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
    if np.any(floor > NOTABLE_NOISE * model):
        j = int(np.argmax(floor / np.maximum(model, np.finfo(float).tiny)))
        notes.append(
            f"{ev.fn_name} values carry rounding noise of {floor[j]:.2g} at |f| = {abs(f0[j]):.2g} "
            "(a small difference of large terms, or a value rounded on a coarser grid?): error estimates use the "
            "measured noise"
        )
    return floor


def resolve_method(ctx: Context) -> str:
    """The scheme to run: ``complex`` and ``auto`` depend on whether the loss is complex-analytic."""
    method = ctx.options.method
    if method not in ("complex", "auto"):
        return method
    reason = complex_step_unsuitable(ctx.evaluator, ctx.f0, ctx.spread, ctx.options.safety)
    if reason is None:
        return "complex"
    if method == "complex":
        raise InvalidArgumentError(f"method='complex' cannot be used with {ctx.evaluator.fn_name}: {reason}")
    ctx.notes.append(f"method='auto' fell back to 'richardson': {reason}")
    return "richardson"


def complex_step_unsuitable(ev: Evaluator, f0: np.ndarray, spread: float, safety: float) -> str | None:
    """None if complex step is trustworthy for this function, else the reason it is not.

    Beyond accepting complex input, the function must be complex-analytic: abs(), maximum
    on magnitudes, .real or conj() give wrong complex-step derivatives silently. One random
    direction compared with a central difference catches that.
    """
    try:
        ev.probe_complex()
    except ComplexUnsupported as exc:
        return str(exc)
    eps = ev.params.eps
    t = eps ** (1 / 3)
    direction = _probe_direction(ev.params)
    try:
        zc, d = _complex_and_central(ev, direction, t)
    except LossRaisedError as exc:
        return str(exc)
    except NonFiniteError:
        # The central differences left the loss's domain (sqrt at x = 1e-12): the same probe along
        # a direction that moves each entry by at most a quarter of itself (entries at 0 not at all).
        x = {n: np.abs(ev.params.arrays[n].astype(np.float64)) for n in ev.params.names}
        inside = {n: np.clip(v, -x[n] / (4 * t), x[n] / (4 * t)) for n, v in direction.items()}
        if not any(np.any(v) for v in inside.values()):
            raise
        try:
            zc, d = _complex_and_central(ev, inside, t)
        except LossRaisedError as exc:
            return str(exc)
    hc = COMPLEX_PROBE_STEP
    err = pair_truncation(d) + (_fd.ulps(f0, eps) + _fd.NOISE_ULPS * spread) / level_step(t, 1)
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


def _complex_and_central(ev: Evaluator, direction: dict[str, np.ndarray], t: float) -> tuple[np.ndarray, list]:
    """The complex-step derivative along ``direction`` and central differences at steps t and t/2."""
    hc = COMPLEX_PROBE_STEP
    probe = DirectionalPerturbation(direction, complex(0.0, hc), "complex-step probe")
    zc = ev.evaluate([probe], real=False)[0].imag / hc
    d = []
    for tk in (t, level_step(t, 1)):
        fp, fm = ev.evaluate([DirectionalPerturbation(direction, tk, "complex-step probe"),
                              DirectionalPerturbation(direction, -tk, "complex-step probe")])
        d.append((fp - fm) / (2 * tk))
    return zc, d


def _probe_direction(ps: ParamSet) -> dict[str, np.ndarray]:
    """A fixed-seed direction scaled to each coordinate, its largest entry 1."""
    rng = np.random.default_rng(20240611)
    direction = {}
    for name in ps.names:
        x = ps.arrays[name]
        direction[name] = rng.standard_normal(x.shape) * np.maximum(np.abs(x), 1.0)
    norm = max(float(np.abs(v).max()) for v in direction.values())
    return {k: v / norm for k, v in direction.items()}
