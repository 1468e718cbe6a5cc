"""The finite-difference kernel: steps, Richardson extrapolation, one-sided slopes, the
slope jump, the refinement factor and the kink test, in one place.

Every finite-difference caller (the per-entry oracle :mod:`gradcheck.oracles._fd`, the directional
line :mod:`gradcheck.checks.directional._line`, the second differences :mod:`gradcheck.checks.second._fd`,
the joint kink test :mod:`gradcheck.judge._joint`) decides *what* to evaluate and *when* to look
again; the arithmetic on the differences it got back is done here. The functions work
elementwise, on NumPy arrays (one column per coordinate) as on scalars (one line), except
:func:`off_rate_line` (scalars) and :func:`second_difference_jump` (one entry's three levels).
Each does exactly the floating-point operations, in exactly the order, its callers did before
they shared it, with one exception: the O(h^6) value, which the three callers wrote in three
forms rounding up to 2 ulps apart, is now the per-entry oracle's form for all (:func:`richardson`).
Where the directional line used a rule or a noise model of its own (not merely another rounding
of the same formula), that variant is kept under a name of its own, and its docstring says why
(:func:`off_rate_line`, :func:`jump_error_line`).

A stencil has levels at steps ``h, h/2, h/4`` (:func:`level_step`). A sequence ``D(h)`` with an
error series in ``h^2, h^4, h^6`` (central and second differences) is extrapolated twice
(:func:`extrapolate_h2`, :func:`richardson`); one with ``h, h^2`` terms (one-sided slopes,
the jump) once (:func:`extrapolate_h1`). Estimates at three levels must converge at their
scheme's rate (:data:`CENTRAL_RATE`, :data:`ONE_SIDED_RATE`, :func:`off_rate`): a kink
inside the stencil, not at x, breaks the rate; a kink at x shows a jump between the
one-sided slopes that stands above its bar (:func:`kink_at_x`). A stencil that is not clean
is looked at again with steps :data:`REFINE_FACTOR` times smaller (:func:`refine`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "LEVEL_RATIO",
    "REFINE_FACTOR",
    "RICHARDSON_WEIGHTS",
    "CENTRAL_RATE",
    "CENTRAL_RATE_AT_KINK",
    "ONE_SIDED_RATE",
    "level_step",
    "refine",
    "extrapolate_h1",
    "extrapolate_h2",
    "extrapolate_h2_rounding",
    "pair_truncation",
    "richardson",
    "richardson_truncation",
    "richardson_rounding",
    "one_sided",
    "one_sided_pair",
    "jump_extrapolations",
    "jump_rounding",
    "jump_bars",
    "jump_error_line",
    "kink_at_x",
    "off_rate",
    "off_rate_line",
    "Bars",
    "outside_slopes",
    "apart_from_slopes",
    "second_difference_jump",
]

# An array or a scalar: every function here is elementwise.
Num = Any

# --------------------------------------------------------------------------- steps
LEVEL_RATIO = 2.0
"""Successive levels of a stencil halve the step: h, h/2, h/4. The extrapolation weights below
are those of this ratio (4 = 2^2 removes an h^2 term, 16 = 2^4 an h^4 term); a power of two
also keeps every level's step exact in binary (h/2 and h/4 of a representable h are)."""

REFINE_FACTOR = 1.0 / 16.0
"""A stencil that is not clean, or not precise enough, is looked at again with steps 16 times
smaller: a kink at distance d from x leaves the stencil once the step is below d, and 16 gets
there fast (six looks reach 16^-6 = 6e-8 of the first step; a kink 1e-5 from x, under a first
step of 1e-3, is still inside it at the second look, 6.25e-5, and outside from the third, 3.9e-6), while a smooth
estimate's rounding, noise / h, grows only 16-fold per look and its h^2 truncation falls
256-fold (h^6 after two extrapolations: 1.7e7-fold). It is also four stencil halvings exactly,
so the refined stencil's h is the old one's h/16, a power of two apart, and exact."""


def level_step(h: Num, k: Num) -> Num:
    """The k-th level's step ``h / 2^k`` (k = 0, 1, 2 for h, h/2, h/4; a negative k widens:
    ``level_step(tau, -2) = 4 tau``). Exact for any representable h: 2^k scales only the exponent
    (``level_step(1e-3, 2)`` is 2.5e-4 to the last bit)."""
    return h / LEVEL_RATIO**k


def refine(h: Num) -> Num:
    """The step of the next, finer look: ``h * REFINE_FACTOR``, h / 16 exactly (0.001 ->
    6.25e-5). Multiplying by 1/16 and dividing by 16 are the same correctly rounded operation
    on the same real number, so callers that divided by 16.0 get the same bits."""
    return h * REFINE_FACTOR


# --------------------------------------------------------------------------- extrapolation
def extrapolate_h1(coarse: Num, fine: Num) -> Num:
    """``2 fine - coarse``: removes the h term of a sequence ``a + b h + c h^2`` at h and h/2,
    leaving ``-c h^2 / 2``. One-sided slopes ``R(h) = f'(x+) + f''/2 h + ...`` and the jump
    ``G(h) = R(h) - L(h)`` are such sequences: R(h) = 1.1, R(h/2) = 1.05 for f' = 1 gives 1.0."""
    return 2 * fine - coarse


def extrapolate_h2(coarse: Num, fine: Num) -> Num:
    """``(4 fine - coarse) / 3``: removes the h^2 term of a sequence ``a + b h^2 + c h^4`` at h
    and h/2 (central differences, second differences), leaving ``-c h^4 / 4``. D(h) = 1.04,
    D(h/2) = 1.01 for a = 1, b h^2 = 0.04 gives (4.04 - 1.04) / 3 = 1.0."""
    return (4 * fine - coarse) / 3


def extrapolate_h2_rounding(coarse: Num, fine: Num) -> Num:
    """The rounding :func:`extrapolate_h2` carries, from bounds ``coarse`` and ``fine`` of its
    inputs' rounding: ``(4 fine + coarse) / 3``, the weights' magnitudes (5/3 of the rounding
    when the two are equal; at h/2 it is twice that of h, so 3 times the rounding of D(h))."""
    return (4 * fine + coarse) / 3


def pair_truncation(d: Sequence[Num]) -> Num:
    """The truncation of ``D(h/2)`` from a pair of central differences ``d = [D(h), D(h/2)]``:
    ``|D(h) - D(h/2)| / 3``. With an error ``c h^2``, D(h/2) errs by c h^2 / 4 and the gap is
    3 c h^2 / 4: a gap of 3e-6 bounds the finer difference's error by 1e-6."""
    return np.abs(d[0] - d[1]) / 3


RICHARDSON_WEIGHTS = np.array([1.0, -20.0, 64.0]) / 45.0
"""Richardson's weights on ``D(h), D(h/2), D(h/4)`` for an O(h^6) value: (D0 - 20 D1 + 64 D2) / 45,
two h^2 eliminations (4, then 16) composed: (16 (4 D2 - D1)/3 - (4 D1 - D0)/3) / 15, the form
:func:`richardson` computes. They sum to 1 (a constant D is kept) and their magnitudes to
85/45 = 1.89: the rounding of the value is at most 1.89 times the largest level's, 64/45 of it
from the finest (:func:`richardson_rounding`)."""


def richardson(d: Sequence[Num]) -> Num:
    """O(h^6) value from ``d = [D(h), D(h/2), D(h/4)]`` as two nested extrapolations:
    ``b1, b2 = extrapolate_h2(D0, D1), extrapolate_h2(D1, D2)`` then ``(16 b2 - b1) / 15``.
    Exact on D(h) = 1 + h^2 + h^4 at h = 1 (D = 3, 1.3125, 1.06640625: b1 = 0.75, b2 = 0.984375,
    value 1.0), and ``b2`` is the O(h^4) estimate :func:`richardson_truncation` measures against.

    The one form for every caller. The directional line wrote ``(64 D2 - 20 D1 + D0) / 45`` and
    second differences ``RICHARDSON_WEIGHTS @ d``: the same number up to 2 ulps (at most 4.4e-16
    relative over 281 estimates of smooth, kinked, noisy and domain-limited losses), and
    benchmarks/fd_accuracy, second_order and scale print the same figures, verdicts and evaluation
    counts with either."""
    b1 = extrapolate_h2(d[0], d[1])
    b2 = extrapolate_h2(d[1], d[2])
    return (16 * b2 - b1) / 15


def richardson_truncation(value: Num, d: Sequence[Num]) -> Num:
    """Truncation bar of a Richardson value: ``|value - extrapolate_h2(D1, D2)|``, the distance to
    the O(h^4) estimate below it, whose error (``c h^4 / 64`` at h/4) bounds that of the O(h^6)
    one wherever the series converges. On D(h) = 1 + h^2 + h^4 at h = 1 the bar is 0.015625
    (= 1/64), the h^4 estimate's error; the value itself is exact."""
    return np.abs(value - extrapolate_h2(d[1], d[2]))


def richardson_rounding(r: Sequence[Num]) -> Num:
    """Rounding of a Richardson value from bounds ``r`` of each level's rounding: the weights'
    magnitudes, ``(64 r2 + 20 r1 + r0) / 45``. With r = noise / h_k (first differences:
    r = [1, 2, 4] x noise / h) that is (256 + 40 + 1) / 45 = 6.6 noise / h; with r = noise / h_k^2
    (second differences: [1, 4, 16] x noise / h^2), (1024 + 80 + 1) / 45 = 24.6 noise / h^2.
    (Second differences wrote ``|RICHARDSON_WEIGHTS| @ r``: equal up to rounding of the bar.)"""
    return (64 * r[2] + 20 * r[1] + r[0]) / 45


# --------------------------------------------------------------------------- one-sided slopes
def one_sided(seq: Sequence[Num], noise: Sequence[Num]) -> tuple[Num, Num]:
    """Extrapolated one-sided slope from three levels ``seq = [R(h), R(h/2), R(h/4)]`` and its bar.

    ``R*(h/2) = extrapolate_h1(R(h/2), R(h/4))`` is second order; its bar is
    ``|R*(h/2) - R*(h)| / 3 + 3 noise[2]``: the gap of the two extrapolations over 3 (their
    h^2 errors are 4 apart) plus three times the finest level's rounding (the weights 2, -1 and
    f(x)'s share). On R(h) = 1 + h + h^2 at h = 1 (3, 1.75, 1.3125; noise 0): slope 0.875, bar
    |0.875 - 0.5| / 3 = 0.125, the true error (f'(x+) = 1)."""
    a, b = extrapolate_h1(seq[0], seq[1]), extrapolate_h1(seq[1], seq[2])
    return b, np.abs(b - a) / 3 + 3 * noise[2]


def one_sided_pair(seq: Sequence[Num], noise: Sequence[Num]) -> tuple[Num, Num]:
    """One-sided slope from two levels ``[R(h), R(h/2)]``: ``extrapolate_h1`` of them, with the
    first-order bar ``|R(h/2) - R(h)| + 3 noise[1]`` (the gap is the h term's size at h/2: a
    bound on the extrapolation's error, not a measure of it). 0.5 and bar 0.75 on R = 2, 1.25."""
    return extrapolate_h1(seq[0], seq[1]), np.abs(seq[1] - seq[0]) + 3 * noise[1]


# --------------------------------------------------------------------------- the jump and kinks
def jump_extrapolations(g: Sequence[Num]) -> list[Num]:
    """``extrapolate_h1`` of each pair of successive levels of ``G(h) = R(h) - L(h)``, the slope
    jump from second differences: ``G(h) = J + (a2 + b2) h / 2 + ...`` (the one-sided slopes'
    h^2 terms, which dominate their own bars, cancel in it), so ``2 G(h/2) - G(h)`` is J up to
    an h^2 term. Two values from three levels. G = 1.5, 1.25 (J = 1, a2 + b2 = 1 at h = 1) gives 1.0."""
    return [extrapolate_h1(g[k], g[k + 1]) for k in range(len(g) - 1)]


def jump_rounding(nv_coarse: Num, nv_fine: Num, coarse: Num, fine: Num, n0: Num) -> Num:
    """Rounding of ``2 G(fine) - G(coarse)`` through its exact weights: ``2 nv_fine / fine +
    nv_coarse / coarse + |2 / coarse - 4 / fine| n0``, where ``nv`` bounds the rounding of
    ``f(x+h) + f(x-h)`` at a level and ``n0`` that of f(x), whose weight is -4 / fine + 2 / coarse
    (-3 / fine when coarse = 2 fine): with coarse = 2, fine = 1 and every bound 1, 2 + 0.5 + 3 = 5.5."""
    return 2 * nv_fine / fine + nv_coarse / coarse + np.abs(2 / coarse - 4 / fine) * n0


def jump_bars(j_a: Num, j_b: Num, noise_a: Num, noise_b: Num) -> tuple[Num, Num]:
    """Bars of the coarser and finer extrapolated jumps ``j_a``, ``j_b``: ``4 gap / 3 + noise_a``
    and ``gap / 3 + noise_b``, gap = |j_b - j_a|. Each has an h^2 term left where the third
    derivatives differ, 4 times smaller per halving: the finer's error is gap / 3, the coarser's
    4 gap / 3. (The coarser has about half the rounding, the caller keeps the smaller bar.)
    j_a = 1.04, j_b = 1.01: bars 0.04 and 0.01 plus noise."""
    gap = np.abs(j_b - j_a)
    return 4 * gap / 3 + noise_a, gap / 3 + noise_b


def jump_error_line(j_a: Num, j_b: Num, ng: Sequence[Num]) -> Num:
    """The directional line's bar of ``j_b``: ``|j_b - j_a| / 3 + 2 ng[2] + ng[1]``, where ``ng[k]``
    bounds the rounding of G at level k with f(x)'s noise counted at weight 2 per level. Looser
    than :func:`jump_rounding` (f(x) at 5 / t instead of 3 / t) and kept apart because the
    directional verdicts and evaluation counts were tuned with it. ng = [4, 2, 1], gap 0.03:
    0.01 + 2 + 2 = 4.01."""
    return np.abs(j_b - j_a) / 3 + 2 * ng[2] + ng[1]


def kink_at_x(jump: Num, jump_error: Num, safety: Num) -> Num:
    """The kink test: a slope jump standing above ``safety`` times its bar, ``|J| > safety x bar``.
    |x| at 0 has J = 2 with a bar of rounding only (1e-9 at h = 1e-3): a kink at any safety; a
    smooth f has J of its h^2 truncation, within its own bar. The caller also requires the
    one-sided sequences to converge (:func:`off_rate`): a kink inside the stencil, not at x,
    fakes a jump that changes with h."""
    return np.abs(jump) > safety * jump_error


CENTRAL_RATE = (3.0, 20.0)
"""Per halving of the step, a smooth central (or second) difference's gaps shrink by 4 (its h^2
term) to 16 (h^4, once h^2 cancels); the window leaves a margin on both sides."""

CENTRAL_RATE_AT_KINK = (1.5, 20.0)
"""At a kink at x the central sequence converges at first order (the curvatures on the
two sides differ): its gaps halve, so the lower end of the window drops to 1.5."""

ONE_SIDED_RATE = (1.5, 5.0)
"""One-sided differences (and the jump G(h) = R(h) - L(h)) have h and h^2 terms: gaps
shrink by 2 to 4 per halving. A kink inside the stencil, not at x, adds a 1/h term that
pushes the ratio below the window or makes it negative."""


def off_rate(est: Sequence[np.ndarray], noise: Sequence[np.ndarray], window: tuple[float, float],
             safety: float) -> np.ndarray:
    """Where estimates at h, h/2, h/4 do not converge at their scheme's rate (arrays): a gap
    standing above ``safety`` times its noise makes the ratio of successive gaps count, and it
    must lie in ``window`` (:data:`CENTRAL_RATE`, :data:`ONE_SIDED_RATE`). Gaps 0.4, 0.1 (ratio
    4) pass the central window; 0.1, 0.4 (a 1/h term: ratio 0.25) fail it.

    The per-entry oracle's rule: a finest gap lost in noise under a visible coarser one gives
    a huge ratio, and the sequence is off (:func:`off_rate_line` allows that)."""
    g01, g12 = est[0] - est[1], est[1] - est[2]
    visible = (np.abs(g01) > safety * (noise[0] + noise[1])) | (np.abs(g12) > safety * (noise[1] + noise[2]))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = g01 / g12
    return visible & ~((ratio >= window[0]) & (ratio <= window[1]))


def off_rate_line(seq: Sequence[float], noise: Sequence[float], lo: float, hi: float, safety: float) -> bool:
    """:func:`off_rate` for one line (scalars), the directional line's rule: as there, but a
    sequence that converged below noise at its finest step passes unless its coarser gap exceeds
    ``4 hi`` times the finest pair's noise bar (a large ratio into noise is convergence, not a
    1/h term). Noise 1e-12 per level at safety 10 (the finest pair's bar 2e-11), central window:
    a finest gap of 1e-15 under a coarser one of 1e-9 passes; of 1e-3 is off (> 20 x 2e-11 x 4).

    Kept apart from :func:`off_rate` because the per-entry oracle calls such a sequence off, and
    both callers' verdicts and evaluation counts were measured with their own rule."""
    g1, g2 = seq[0] - seq[1], seq[1] - seq[2]
    n1, n2 = noise[0] + noise[1], noise[1] + noise[2]
    if abs(g1) <= safety * n1 and abs(g2) <= safety * n2:
        return False
    if abs(g2) <= safety * n2:  # converged below noise at the finest step: allow a large ratio
        return abs(g1) > hi * safety * n2 * 4
    ratio = g1 / g2
    return not lo <= ratio <= hi


@dataclass(frozen=True)
class Bars:
    """One estimate at a kink test: the central ``value`` with its ``trunc``ation and ``rnd``
    (rounding) bars, and the one-sided slopes ``left``/``right`` with their bars ``err_l``/``err_r``
    (scalars for a line, arrays entry by entry)."""

    value: Num
    trunc: Num
    rnd: Num
    left: Num
    right: Num
    err_l: Num
    err_r: Num


def outside_slopes(b: Bars, safety: Num) -> Num:
    """At a kink: where the central value lies outside ``[min, max]`` of the one-sided slopes by
    more than ``safety x (trunc + rnd + err_l + err_r)``. Each central difference is the average
    of the one-sided ones, so at a kink at x it lies between them up to an O(h) term: |x| at 0
    gives slopes -1 and 1 and central 0, inside; 1.5 is outside unless the bars reach 0.5."""
    lo, hi = np.fmin(b.left, b.right), np.fmax(b.left, b.right)
    margin = safety * (b.trunc + b.rnd + b.err_l + b.err_r)
    return (b.value < lo - margin) | (b.value > hi + margin)


def apart_from_slopes(b: Bars, safety: Num) -> Num:
    """Where no kink was found: where the central value disagrees with either one-sided slope by
    more than ``safety`` times their bars (``trunc + rnd + err`` of that side). A smooth f's three
    estimates share one derivative; a kink below detection that moves one side makes it disagree.
    value 1, right 1.001, bars 1e-5 at safety 10: apart (1e-3 > 1e-4)."""
    return ((np.abs(b.value - b.right) > safety * (b.trunc + b.rnd + b.err_r))
            | (np.abs(b.value - b.left) > safety * (b.trunc + b.rnd + b.err_l)))


SECOND_JUMP_SPREAD = 0.25
"""Second differences name a kink only where ``D_k h_k`` agrees to within a quarter across the levels."""

SECOND_JUMP_NOISE = 100.0
"""... and the finest ``D h`` stands 100 times above its rounding, noise / h."""


def second_difference_jump(d: np.ndarray, h: float, noise: float) -> float | None:
    """The slope jump of a kink at x from second differences ``d`` at steps ``h, h/2, h/4``, or None.

    Across a kink, ``D(t) ~ J / (2 t)``: second differences grow like 1/t instead of converging,
    so the products ``D_k h_k`` agree (same sign, spread under :data:`SECOND_JUMP_SPREAD` of the
    finest) and stand above noise (:data:`SECOND_JUMP_NOISE`); the jump is ``2 D_2 h_2``. |x| at 0
    along u = w (D(t) = (|2t| - 0 + |-2t|) / (4 t^2) = 1 / t): D h = 1, 1, 1 and J = 2."""
    jumps = d * level_step(h, np.arange(3))
    if np.all(np.sign(jumps) == np.sign(jumps[2])) and abs(jumps[2]) > 0:
        spread = np.max(np.abs(jumps - jumps[2])) / abs(jumps[2])
        if spread < SECOND_JUMP_SPREAD and abs(jumps[2]) > SECOND_JUMP_NOISE * noise / level_step(h, 2):
            return float(2 * jumps[2])  # D(t) ~ J / (2t) for a slope jump J along the direction
    return None
