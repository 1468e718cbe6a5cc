"""The analytic derivative's own rounding, measured rather than assumed.

A hand-derived gradient is computed in floating point too: a saturated ``s * (1 - s)``
keeps few digits, a residual that is a small difference of large terms carries their
rounding into every entry. The tolerance must allow for that, and nothing else: a fixed
floor (once 1e-7 of the largest entry) would also hide slips of relative size 1e-8.

The measurement is ECnoise-like. The derivative is evaluated at ``x + delta t u_k`` and
``x - 0.7 delta t u_k`` (:data:`BACK`) for three random sign vectors ``u_k`` (``t`` the
coordinates' scale, ``delta = 2**-33``): a relative move of about 1e-10 shifts every
float64 intermediate by some 1e5 ulps, so its rounding is drawn anew, while the smooth
change of the derivative, second order in ``delta``, is about 1e-20 of it and cancels in
the second differences ``0.7 (g(x + d) - g(x)) + (g(x - 0.7 d) - g(x))``. Each such
difference holds 1.7 times the base value's own rounding error, which is the error that
matters; their root mean square over the three directions, times :data:`SIGMAS`, bounds it.

What the measurement cannot see is bounded by a model: ``MODEL_ULPS`` units in the last
place of the entry's scale (a value on a lattice that a move of 1e-10 does not leave).
What it sees too much of is capped by the old floor, ``floor_rtol`` of the scale: a
derivative that jumps within 1e-10 (a ReLU input at 0) is not rounding, and its entries
are judged as before. A float32 round trip inside a float64 gradient stays on its float32
lattice under such a move, so it is not mistaken for rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

__all__ = ["DELTA", "SIGMAS", "MODEL_ULPS", "Rounding", "measure", "entry_scale", "delta_for"]

DELTA = 2.0 ** -33
"""Relative move of the base point: far above float64's rounding (1e-16), far below float32's (6e-8)."""

SIGMAS = 8.0
"""The base value's rounding is bounded by this many measured standard deviations. Each
second difference holds ``-1.7 e0`` (e0 the base value's error), so the measured standard
deviation is at least about ``0.8 |e0|`` unless the neighbours' errors cancel it in all three
directions at once."""

MODEL_ULPS = 64.0
"""Units in the last place of an entry's scale allowed where the measurement sees no
movement at all (a value on a lattice, a derivative constant near the point)."""

DIRECTIONS = 3

BACK = 0.7
"""The move back is 0.7 times the move forward, not the same. ``x + d`` and ``x - d`` are
rounded to mirror images (round to nearest is symmetric), and a derivative computed from
mirrored inputs can keep mirrored roundings: its second differences then vanish to the last
bit while its error stays. A saturated sigmoid layer's Hessian measured 0 in two of three
directions against an error of 300 ulps, and complex step flagged the correct formula; with
a move back of 0.7 d it measured 8 times the error. The smooth part still cancels in
``b (g(x + d) - g0) + (g(x - b d) - g0)``, to second order."""
_SEED = 20261202


class Rounding:
    """Per-parameter ``(m, n)`` bound on the analytic derivative's rounding, or None where
    it could not be measured (then the old floor applies and the result says so)."""

    def __init__(self, bounds: Mapping[str, np.ndarray | None], reason: str | None = None) -> None:
        self.bounds = dict(bounds)
        self.reason = reason

    def get(self, name: str) -> np.ndarray | None:
        return self.bounds.get(name)


def measure(call: Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray]],
            arrays: Mapping[str, np.ndarray], scales: Mapping[str, np.ndarray],
            base: Mapping[str, np.ndarray], shapes: Mapping[str, tuple[int, int]]) -> Rounding:
    """Measure the rounding of ``call`` (the analytic derivative on a dict of arrays) at ``arrays``.

    ``base`` is its value there, ``scales`` the per-coordinate magnitude ``max(|x|, typical)``
    (flat), ``shapes`` each parameter's ``(m, n)``. Parameters of lower precision are moved by
    :func:`delta_for` their precision (16 ulps): the same thousands of ulps, the
    smooth part still far below their rounding.
    """
    names = list(arrays)
    dtypes = {arrays[n].dtype for n in names}
    if any(dt.kind != "f" for dt in dtypes):
        return Rounding({n: None for n in names}, "parameters are not all floating point")
    delta = delta_for(max(float(np.finfo(dt).eps) for dt in dtypes))
    rng = np.random.default_rng(_SEED)
    sq = {n: np.zeros(shapes[n]) for n in names}
    for _ in range(DIRECTIONS):
        signs = {n: rng.choice((-1.0, 1.0), size=arrays[n].shape) for n in names}
        vals = []
        for sgn in (1.0, -BACK):
            moved = {n: (arrays[n] + sgn * delta * scales[n].reshape(arrays[n].shape) * signs[n])
                     .astype(arrays[n].dtype) for n in names}
            try:
                vals.append(call(moved))
            except Exception as exc:  # the derivative's failure away from the point is not the check's business
                return Rounding({n: None for n in names}, f"the derivative raised {type(exc).__name__} near the point")
        for n in names:
            g0 = base[n].reshape(shapes[n])
            with np.errstate(over="ignore", invalid="ignore"):
                d = BACK * (vals[0][n].reshape(shapes[n]) - g0) + (vals[1][n].reshape(shapes[n]) - g0)
                sq[n] += d * d
    out: dict[str, np.ndarray | None] = {}
    for n in names:
        # Var(b g+ + g- - (1 + b) g0) = (b^2 + 1 + (1 + b)^2) sigma^2 for independent rounding of spread sigma.
        sigma = np.sqrt(sq[n] / ((BACK**2 + 1.0 + (1.0 + BACK) ** 2) * DIRECTIONS))
        out[n] = SIGMAS * sigma if np.all(np.isfinite(sigma)) else None
    return Rounding(out)


def delta_for(eps: float) -> float:
    """The move for a precision of machine epsilon ``eps``: :data:`DELTA` in float64, else 16 ulps
    (2**-19 in float32). Enough to draw the rounding of every intermediate anew; small enough that
    its square, the smooth part left in the second differences, is far below an ulp, and that it
    crosses no kink 1e-5 away (a ReLU input that a move of 2**-15 crossed measured as 3e-4 of
    rounding, the cap)."""
    if eps <= float(np.finfo(np.float64).eps):
        return DELTA
    return 16.0 * eps


def entry_scale(analytic: np.ndarray, numeric: np.ndarray, coord_scale: np.ndarray | None) -> np.ndarray:
    """Each entry's scale in the loss's own units: ``max(|a_i|, |n_i|, L / t_i)``.

    ``L = max_j max(|a_j|, |n_j|) t_j`` is what the most sensitive coordinate moves in the
    output for a relative step of 1, and ``L / t_i`` the derivative at which coordinate
    ``i`` would move it as much. Measured against its own row's largest entry, the
    derivative of a coordinate of size 1e6 beside one of size 1e-6 would be drowned; in
    these units it is not. With every ``t_i`` equal this is the row's largest entry.
    """
    mag = np.maximum(np.abs(np.nan_to_num(analytic)), np.abs(np.nan_to_num(numeric)))
    if coord_scale is None:
        return np.broadcast_to(mag.max(axis=1, keepdims=True), mag.shape)
    t = np.asarray(coord_scale, dtype=float).reshape(1, -1)
    with np.errstate(over="ignore", invalid="ignore"):
        loss_units = (mag * t).max(axis=1, keepdims=True)
        return np.maximum(mag, loss_units / t)
