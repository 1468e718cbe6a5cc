"""Kinks shared by several entries: is the analytic vector a gradient of one adjacent piece?

Judged entry by entry, every coordinate of ``[1, 1, 0]`` lies between its one-sided slopes
for ``max(v)`` at ``v = [1, 1, 0]``; yet moving ``v[0]`` and ``v[1]`` up together moves the
loss by ``h``, not ``2 h``: no piece of ``max`` has that gradient. The test here reads, for
each kink entry, the side whose slope the analytic value matches (right: +, left: -),
moves all such entries together that way (into the piece the analytic vector claims to
be the gradient of), and compares the loss's one-sided slope along that direction with
the analytic directional derivative. A valid choice of slopes passes however the loss
couples the entries (ReLU units feeding a common softmax, a max tie); an entry that sits
strictly between its slopes (a convex combination, 0.5 at a tie) names no side and is
left out, so such vectors are not judged jointly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core._evaluator import DirectionalPerturbation
from ..core._params import format_index
from ..core._status import Status
from ..oracles._fd import ulps
from ..oracles._seam import Context, OracleEstimate
from ..oracles._stencil import REFINE_FACTOR, extrapolate_h1, level_step
from ._compare import Judgement, floor_rtol

__all__ = ["JointKink", "joint_kinks"]


@dataclass(frozen=True)
class JointKink:
    """A set of kink entries whose analytic values are no gradient of any adjacent piece."""

    row: int
    entries: tuple[int, ...]  # flat parameter indices moved together
    analytic: float  # analytic directional derivative along the direction
    slope: float  # the loss's one-sided slope along it
    tolerance: float

    def describe(self, shape: tuple[int, ...]) -> str:
        names = ", ".join(format_index(shape, i) for i in self.entries[:4]) + (" ..." if len(self.entries) > 4 else "")
        return (f"no subgradient jointly: entries {names} each lie between their one-sided slopes, but moving them "
                f"together the way their values point, the loss changes at {self.slope:.6g} per unit step while the "
                f"analytic gradient says {self.analytic:.6g} (tolerance {self.tolerance:.2g}): no piece of the loss "
                f"meeting at this kink (a max tie?) has that gradient")


def joint_kinks(ctx: Context, pname: str, analytic: np.ndarray, est: OracleEstimate, j: Judgement) -> list[JointKink]:
    """The rows of ``analytic`` whose kink entries fail the joint test (see the module docstring)."""
    if est.left is None or est.right is None or est.step is None or est.side_error is None:
        return []
    found = []
    for row in range(analytic.shape[0]):
        at = np.flatnonzero(j.status[row] == Status.KINK)
        if at.size < 2:
            continue
        side = _sides(analytic[row, at], est.left[row, at], est.right[row, at], j.tolerance[row, at])
        moved = at[side != 0]
        if moved.size < 2:
            continue
        bad = _test(ctx, pname, row, analytic[row], est, moved, side[side != 0])
        if bad is not None:
            found.append(bad)
    return found


def _sides(a: np.ndarray, left: np.ndarray, right: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """+1 where ``a`` matches the right slope only, -1 the left only, 0 where neither or both."""
    near_r, near_l = np.abs(a - right) <= tol, np.abs(a - left) <= tol
    return np.where(near_r & ~near_l, 1, np.where(near_l & ~near_r, -1, 0))


def _test(ctx: Context, pname: str, row: int, a: np.ndarray, est: OracleEstimate, moved: np.ndarray,
          side: np.ndarray) -> JointKink | None:
    """One-sided slope along the direction at two step sizes (16x apart): flagged only where both disagree."""
    ps, safety = ctx.params, ctx.options.safety
    shape = ps.arrays[pname].shape
    d = np.zeros(ps.arrays[pname].size)
    d[moved] = side * est.step[moved]
    direction = {n: (d.reshape(shape) if n == pname else np.zeros(ps.arrays[n].shape)) for n in ps.names}
    analytic = float(a[moved] @ d[moved])
    verdicts = []
    for t in (1.0, REFINE_FACTOR):
        slope, bar = _one_sided_slope(ctx, direction, t, row)
        tol = safety * bar + floor_rtol(ps.eps) * float(np.abs(a[moved]) @ np.abs(d[moved]))
        verdicts.append((abs(analytic - slope) > tol, slope, tol))
    if all(v[0] for v in verdicts):
        _, slope, tol = verdicts[-1]
        unit = float(np.abs(d).max())  # per unit step of the entries that move most
        return JointKink(row, tuple(int(i) for i in moved), analytic / unit, slope / unit, tol / unit)
    return None


def _one_sided_slope(ctx: Context, direction: dict[str, np.ndarray], t: float, row: int) -> tuple[float, float]:
    """``f'(x; d)`` from f(x + s d) at s = t, t/2, t/4, extrapolated once, and its error bar."""
    ev, eps = ctx.evaluator, ctx.params.eps
    ss = [level_step(t, k) for k in range(3)]
    purpose = "testing a kink shared by several entries"
    f = ev.evaluate([DirectionalPerturbation(direction, s, purpose) for s in ss])[:, row]
    f0 = ctx.f0[row]
    noise = [float(ulps(v, eps)) + float(ulps(f0, eps)) + ctx.spread for v in f]
    r = [(fv - f0) / s for fv, s in zip(f, ss, strict=True)]
    r_a, r_b = extrapolate_h1(r[0], r[1]), extrapolate_h1(r[1], r[2])
    # stencil.one_sided's bar, but with 3 x 2 x noise / s multiplied in that order (it rounds
    # apart from 3 x (2 noise / s)): the joint verdicts were measured with this one.
    return r_b, abs(r_b - r_a) / 3 + 3 * 2 * noise[2] / ss[2]
