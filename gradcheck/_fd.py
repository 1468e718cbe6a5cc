"""Finite-difference schemes, each giving an estimate *and* an error estimate per entry.

Every scheme works on a function with a flat output of size ``m`` (1 for a loss) and
returns, per parameter, arrays of shape ``(m, n)`` (output entry x parameter entry).

Error estimates have two parts:

* truncation, measured empirically from the same scheme at two or three step sizes
  (the gap between successive estimates bounds the error of the better one), and
* rounding, from the magnitude of the function values: each evaluation is assumed
  accurate to ``NOISE_ULPS * eps * |f|`` plus any spread seen between two evaluations
  at the base point; the scheme's weights carry it into the derivative.

Entries whose truncation estimate is too large to resolve a relative ``resolve_rtol``
error are re-estimated with smaller steps (a stencil that straddles a kink converges
once the step is smaller than the distance to the kink). Where the right and left
one-sided slopes still differ beyond their own errors at the final step, the entry is
a *kink*: the left and right slopes are kept so the comparison can accept any
subgradient between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._evaluator import Evaluator, Perturbation

__all__ = ["SCHEMES", "RawEstimate", "estimate", "default_base_step", "NOISE_ULPS", "REFINE_FACTOR", "MAX_REFINE"]

SCHEMES = ("forward", "central", "richardson", "complex")

NOISE_ULPS = 32.0
"""A loss value is taken to be accurate to ``NOISE_ULPS * eps * |f|``: sums over many
terms lose a few ulps, and a conservative figure keeps correct gradients from being
flagged at no cost in sensitivity (rounding error of the difference quotient stays near
1e-11 relative in float64 at the chosen steps)."""

REFINE_FACTOR = 1.0 / 16.0
MAX_REFINE = 4


def default_base_step(method: str, eps: float) -> float:
    """Relative base step balancing truncation against rounding for each scheme's order."""
    return {
        "forward": eps ** 0.5,  # error ~ h + eps/h
        "central": eps ** (1 / 3),  # error ~ h^2 + eps/h
        "richardson": eps ** 0.2,  # 6th order after two extrapolations; rounding dominates below this
        "complex": 1e-20,  # no subtraction, no cancellation: any tiny step is exact to rounding
    }[method]


@dataclass
class RawEstimate:
    """Per-parameter estimate; arrays have shape ``(m, n)`` unless noted."""

    value: np.ndarray
    error: np.ndarray  # truncation + rounding
    truncation: np.ndarray
    rounding: np.ndarray
    left: np.ndarray  # one-sided slopes (NaN where the scheme has none)
    right: np.ndarray
    kink: np.ndarray  # bool
    side_error: np.ndarray  # error bar of the one-sided slopes (NaN where none)
    step: np.ndarray  # (n,) the base step finally used per coordinate
    refined: np.ndarray  # (n,) bool: coordinate re-estimated with smaller steps


@dataclass
class _Block:
    """Results of one stencil pass over a set of coordinates of one parameter."""

    value: np.ndarray
    truncation: np.ndarray
    rounding: np.ndarray
    left: np.ndarray
    right: np.ndarray
    kink: np.ndarray
    side_error: np.ndarray


def estimate(
    ev: Evaluator,
    f0: np.ndarray,
    spread: float,
    method: str,
    steps: Sequence[np.ndarray],
    *,
    safety: float,
    resolve_rtol: float,
    refine: bool = True,
) -> list[RawEstimate]:
    """Estimate the Jacobian of ``ev``'s function with ``method`` at base steps ``steps`` (one flat array per parameter)."""
    eps = ev.params.eps
    out: list[RawEstimate] = []
    for p, h0 in enumerate(steps):
        idx = np.arange(h0.size)
        block = _pass(ev, f0, spread, method, p, idx, h0, eps, safety)
        step = h0.copy()
        refined = np.zeros(h0.size, dtype=bool)
        if refine and method in ("central", "richardson"):
            h = h0.copy()
            for _ in range(MAX_REFINE):
                todo = _unresolved(block, resolve_rtol)
                if not todo.any():
                    break
                h = h * REFINE_FACTOR
                sub = _pass(ev, f0, spread, method, p, idx[todo], h[todo], eps, safety)
                better = (sub.truncation + sub.rounding).max(axis=0) <= (block.truncation[:, todo] + block.rounding[:, todo]).max(axis=0)
                cols = np.flatnonzero(todo)[better]
                for name in ("value", "truncation", "rounding", "left", "right", "kink", "side_error"):
                    getattr(block, name)[:, cols] = getattr(sub, name)[:, better]
                step[cols] = h[cols]
                refined[cols] = True
        out.append(
            RawEstimate(
                value=block.value,
                error=block.truncation + block.rounding,
                truncation=block.truncation,
                rounding=block.rounding,
                left=block.left,
                right=block.right,
                kink=block.kink,
                side_error=block.side_error,
                step=step,
                refined=refined,
            )
        )
    return out


def _unresolved(block: _Block, resolve_rtol: float) -> np.ndarray:
    """Coordinates whose truncation error dominates and is too large for the target resolution."""
    scale = np.abs(block.value).max(axis=1, keepdims=True)  # per output row
    bad = (block.truncation > block.rounding) & (block.truncation > resolve_rtol * scale)
    return bad.any(axis=0)


def _noise(f: np.ndarray, spread: float, eps: float) -> np.ndarray:
    return NOISE_ULPS * eps * np.abs(f) + spread


def _pass(ev: Evaluator, f0: np.ndarray, spread: float, method: str, p: int, idx: np.ndarray,
          h: np.ndarray, eps: float, safety: float) -> _Block:
    if method == "complex":
        return _complex(ev, p, idx, h, eps)
    levels = 2 if method in ("forward", "central") else 3
    hs = [h / 2.0**k for k in range(levels)]
    fp = [_column_values(ev, p, idx, hk) for hk in hs]  # each (m, len(idx))
    n0 = _noise(f0, spread, eps)[:, None]
    if method == "forward":
        d = [(fp[k] - f0[:, None]) / hs[k] for k in range(levels)]
        r = [(_noise(fp[k], spread, eps) + n0) / hs[k] for k in range(levels)]
        nan = np.full_like(d[1], np.nan)
        return _Block(d[1], np.abs(d[0] - d[1]), r[1], nan, nan.copy(), np.zeros(d[1].shape, dtype=bool), nan.copy())
    fm = [_column_values(ev, p, idx, -hk) for hk in hs]
    d = [(fp[k] - fm[k]) / (2 * hs[k]) for k in range(levels)]
    r = [(_noise(fp[k], spread, eps) + _noise(fm[k], spread, eps)) / (2 * hs[k]) for k in range(levels)]
    if method == "central":
        # D(h/2) has error c h^2/4 and D(h) - D(h/2) = 3 c h^2/4.
        value, trunc, rnd = d[1], np.abs(d[0] - d[1]) / 3.0, r[1]
    else:
        b1 = (4 * d[1] - d[0]) / 3
        b2 = (4 * d[2] - d[1]) / 3
        value = (16 * b2 - b1) / 15  # = (64 D2 - 20 D1 + D0) / 45, O(h^6)
        trunc = np.abs(value - b2)  # error of the O(h^4) estimate bounds that of the O(h^6) one
        rnd = (64 * r[2] + 20 * r[1] + r[0]) / 45
    left, right, kink, side = _one_sided(f0, fp[-2:], fm[-2:], hs[-2:], n0, spread, eps, safety)
    return _Block(value, trunc, rnd, left, right, kink, side)


def _one_sided(f0: np.ndarray, fp: list[np.ndarray], fm: list[np.ndarray], hs: list[np.ndarray],
               n0: np.ndarray, spread: float, eps: float, safety: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Second-order one-sided slopes from the two smallest steps, and where they disagree (a kink).

    For a smooth function the right and left extrapolated slopes agree to O(h^3) while
    their error bars are O(h); at a kink they differ by the jump at every step.
    """
    big, small = hs
    r_big, r_small = (fp[0] - f0[:, None]) / big, (fp[1] - f0[:, None]) / small
    l_big, l_small = (f0[:, None] - fm[0]) / big, (f0[:, None] - fm[1]) / small
    right, left = 2 * r_small - r_big, 2 * l_small - l_big
    round_r = 3 * (_noise(fp[1], spread, eps) + n0) / small
    round_l = 3 * (_noise(fm[1], spread, eps) + n0) / small
    err = np.abs(r_small - r_big) + np.abs(l_small - l_big) + round_r + round_l
    kink = np.abs(right - left) > safety * err
    return left, right, kink, err


def _column_values(ev: Evaluator, p: int, idx: np.ndarray, h: np.ndarray) -> np.ndarray:
    vals = ev.evaluate([Perturbation(p, int(i), float(hi)) for i, hi in zip(idx, h)])
    return vals.T


def _complex(ev: Evaluator, p: int, idx: np.ndarray, h: np.ndarray, eps: float) -> _Block:
    vals = ev.evaluate([Perturbation(p, int(i), complex(0.0, hi)) for i, hi in zip(idx, h)], real=False).T
    value = vals.imag / h
    # Truncation is h^2 f'''/6 with h ~ 1e-20: nil. Rounding is that of any derivative
    # computed in floating point, a few ulps of the result.
    rnd = NOISE_ULPS * eps * np.abs(value)
    nan = np.full_like(value, np.nan)
    return _Block(value, np.zeros_like(value), rnd, nan, nan.copy(), np.zeros(value.shape, dtype=bool), nan.copy())
