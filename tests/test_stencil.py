"""The finite-difference kernel (gradcheck.oracles._stencil): its arithmetic, its kink test, the
consequences of its refine factor, and that its numbers live in it alone."""

from __future__ import annotations

import ast
import io
import math
import tokenize
from pathlib import Path

import numpy as np
import pytest

import gradcheck
from gradcheck.checks.directional import _line as _directional_line
from gradcheck.checks.second import _fd as _second_fd
from gradcheck.oracles import _fd
from gradcheck.oracles import _stencil as st

PACKAGE = Path(gradcheck.__file__).resolve().parent


# --------------------------------------------------------------------------- Richardson
def test_richardson_is_exact_to_h4_and_leaves_h6_over_64() -> None:
    """D(h) = a + b h^2 + c h^4 comes back as a exactly (dyadic numbers: no rounding at all);
    an h^6 term is cut to h^6 / 64, the O(h^6) the weights promise, not removed."""
    hs = st.level_step(1.0, np.arange(3))
    for a, b, c in [(1.0, 1.0, 1.0), (-3.0, 5.0, -7.0), (0.5, 0.0, 2.0)]:
        d = a + b * hs**2 + c * hs**4
        assert st.richardson(d) == a
    assert st.richardson(hs**6) == 1.0 / 64.0
    assert st.richardson_truncation(1.0, [3.0, 1.3125, 1.06640625]) == 1.0 / 64.0


def test_richardson_is_the_weights_to_rounding() -> None:
    """The nested form computes RICHARDSON_WEIGHTS @ d (the forms the line and second differences
    used to write): within a few ulps of the largest level on random data."""
    rng = np.random.default_rng(7)
    d = rng.normal(size=(3, 10_000))
    flat = (64 * d[2] - 20 * d[1] + d[0]) / 45
    dot = st.RICHARDSON_WEIGHTS @ d
    scale = np.abs(d).max(axis=0)
    assert np.all(np.abs(st.richardson(d) - flat) <= 16 * np.finfo(float).eps * scale)
    assert np.all(np.abs(st.richardson(d) - dot) <= 16 * np.finfo(float).eps * scale)


def test_weights_follow_from_the_level_ratio() -> None:
    """The weights kill the h^2 and h^4 terms of levels LEVEL_RATIO apart and keep a constant."""
    powers = st.LEVEL_RATIO ** -np.arange(3)
    assert st.RICHARDSON_WEIGHTS @ np.ones(3) == pytest.approx(1.0, abs=1e-15)
    assert st.RICHARDSON_WEIGHTS @ powers**2 == pytest.approx(0.0, abs=1e-15)
    assert st.RICHARDSON_WEIGHTS @ powers**4 == pytest.approx(0.0, abs=1e-15)
    assert st.richardson_rounding([1.0, 1.0, 1.0]) == pytest.approx(np.abs(st.RICHARDSON_WEIGHTS).sum())


def test_richardson_converges_at_sixth_order_on_exp() -> None:
    """Central differences of exp at 0: halving h cuts the Richardson value's error ~64-fold,
    and the truncation bar covers the error."""
    def central(h: float) -> float:
        return (math.exp(h) - math.exp(-h)) / (2 * h)

    errs = []
    for h in (0.4, 0.2):
        d = [central(st.level_step(h, k)) for k in range(3)]
        value = st.richardson(d)
        errs.append(abs(value - 1.0))
        assert abs(value - 1.0) <= st.richardson_truncation(value, d)
        # the h^4 estimate below it is worse: the bar measures a real difference
        assert abs(st.extrapolate_h2(d[1], d[2]) - 1.0) > errs[-1]
    assert 40 < errs[0] / errs[1] < 90


def test_extrapolations_remove_their_terms() -> None:
    assert st.extrapolate_h1(1.0 + 0.5, 1.0 + 0.25) == 1.0  # a + b h at h = 0.5, 0.25
    assert st.extrapolate_h2(1.0 + 0.25, 1.0 + 0.0625) == 1.0  # a + b h^2
    assert st.pair_truncation([1.25, 1.0625]) == pytest.approx(0.0625)  # the error of D(h/2)
    assert st.extrapolate_h2_rounding(1.0, 2.0) == 3.0


def test_one_sided_slope_and_its_bar() -> None:
    """R(h) = 1 + h + h^2 at h = 1, 1/2, 1/4: slope 0.875, bar 0.125 = its true error; a slope
    linear in h is exact with a bar of its noise alone."""
    slope, bar = st.one_sided([3.0, 1.75, 1.3125], [0.0, 0.0, 0.0])
    assert (slope, bar) == (0.875, 0.125)
    slope, bar = st.one_sided([2.0, 1.5, 1.25], [0.0, 0.0, 1e-3])
    assert slope == 1.0 and bar == 3e-3
    assert st.one_sided_pair([2.0, 1.25], [0.0, 0.0]) == (0.5, 0.75)


# --------------------------------------------------------------------------- kinks
def _slopes(f, x: float, h: float) -> tuple[list[float], list[float], float]:
    hs = [st.level_step(h, k) for k in range(3)]
    right = [(f(x + t) - f(x)) / t for t in hs]
    left = [(f(x) - f(x - t)) / t for t in hs]
    return right, left, hs


def _jump(f, x: float, h: float) -> tuple[float, float, np.ndarray, np.ndarray]:
    right, left, hs = _slopes(f, x, h)
    eps = np.finfo(float).eps
    n = [4 * eps * max(abs(f(x + t)), abs(f(x - t)), abs(f(x))) for t in hs]
    g = [r - lft for r, lft in zip(right, left, strict=True)]
    js = st.jump_extrapolations(g)
    noises = [st.jump_rounding(2 * n[k], 2 * n[k + 1], hs[k], hs[k + 1], n[0]) for k in range(2)]
    err_a, err_b = st.jump_bars(js[0], js[1], noises[0], noises[1])
    return js[1], err_b, np.array(right), np.array(left)


def test_the_kink_test_fires_on_abs_at_zero() -> None:
    jump, err, right, left = _jump(abs, 0.0, 1e-3)
    assert jump == 2.0
    assert st.kink_at_x(jump, err, 10.0)
    noise = [np.array(0.0)] * 3
    assert not st.off_rate(list(right), noise, st.ONE_SIDED_RATE, 10.0)
    assert not st.off_rate(list(left), noise, st.ONE_SIDED_RATE, 10.0)
    # the central value 0 lies between the slopes -1 and 1
    assert not st.outside_slopes(st.Bars(0.0, 0.0, 0.0, left[2], right[2], 0.0, 0.0), 10.0)
    assert st.outside_slopes(st.Bars(1.5, 0.0, 0.0, left[2], right[2], 0.0, 0.0), 10.0)


@pytest.mark.parametrize(("f", "x"), [(math.sin, 0.7), (math.exp, -0.3), (lambda v: v**3 - v, 2.0)])
def test_the_kink_test_is_quiet_on_smooth_functions(f, x: float) -> None:
    jump, err, right, left = _jump(f, x, 1e-3)
    assert abs(jump) < 1e-8
    assert not st.kink_at_x(jump, err, 10.0)


def test_a_kink_inside_the_stencil_breaks_the_one_sided_rate() -> None:
    """|x - d| at x = 0 with d = 0.3 h: the right slopes 0.4, -0.2, -1 do not converge (gap ratio
    0.75); the left ones, smooth over the stencil, do. The entry is unclean, not a kink at x."""
    d = 0.3e-3
    right, left, _ = _slopes(lambda v: abs(v - d), 0.0, 1e-3)
    noise = [np.array(1e-15)] * 3
    assert st.off_rate([np.array(v) for v in right], noise, st.ONE_SIDED_RATE, 10.0)
    assert not st.off_rate([np.array(v) for v in left], noise, st.ONE_SIDED_RATE, 10.0)
    assert st.off_rate_line(right, [1e-15] * 3, *st.ONE_SIDED_RATE, 10.0)
    assert not st.off_rate_line(left, [1e-15] * 3, *st.ONE_SIDED_RATE, 10.0)


def test_the_line_rule_accepts_convergence_into_noise_the_array_rule_does_not() -> None:
    """The one difference between the two rate tests (see off_rate_line)."""
    seq, noise = [1.0 + 1e-9, 1.0, 1.0], [1e-12] * 3
    assert not st.off_rate_line(seq, noise, *st.CENTRAL_RATE, 10.0)
    assert st.off_rate([np.array(v) for v in seq], [np.array(v) for v in noise], st.CENTRAL_RATE, 10.0)
    assert st.off_rate_line([1.0 + 1e-3, 1.0, 1.0], noise, *st.CENTRAL_RATE, 10.0)


def test_second_differences_name_the_jump_of_abs() -> None:
    """|x| at 0 along u = w = 1: D(t) = 1 / t, so D h = 1 at every level and J = 2; a smooth
    curvature (D = 2 at every level) names none."""
    h = 1e-2
    d = np.array([1 / st.level_step(h, k) for k in range(3)])
    assert st.second_difference_jump(d, h, 1e-16) == pytest.approx(2.0)
    assert st.second_difference_jump(np.full(3, 2.0), h, 1e-16) is None
    # the same growth drowned in noise is not a kink
    assert st.second_difference_jump(d, h, 1.0) is None


# --------------------------------------------------------------------------- the refine factor
def test_refine_is_an_exact_sixteenth() -> None:
    rng = np.random.default_rng(3)
    h = np.concatenate([10.0 ** rng.uniform(-300, 3, 1000), [5e-324 * 16, 1e-310, 1.0]])
    assert np.array_equal(st.refine(h), h / 16.0)
    normal = h > np.finfo(float).smallest_normal * 16  # a subnormal h / 16 has lost digits
    assert np.array_equal(st.level_step(st.refine(h[normal]), -4), h[normal])  # four stencil halvings apart


def test_the_refine_factor_reaches_what_the_callers_promise() -> None:
    """What each caller's docstring says its looks reach, with this factor and its own count."""
    f = st.REFINE_FACTOR
    # per-entry oracle: six looks, "a step 1.7e7 times smaller"
    assert 1 / f**_fd.MAX_REFINE == pytest.approx(1.7e7, rel=0.02)
    # directional line: "the finest stencil is 16^5 ~ 1e6 times narrower than the first"
    assert 1 / f ** (_directional_line.MAX_LEVELS - 1) == pytest.approx(1e6, rel=0.05)
    # second differences: three shrinks clear "a ReLU kink at 1e-4 relative distance" (the widest
    # point of the finest stencil is 2h from x)
    assert 2 * _second_fd.base_step(np.finfo(float).eps) * f**_second_fd._RETRIES < 1e-4
    # a smooth estimate: rounding grows 16-fold per look while the O(h^6) truncation falls 1.7e7-fold
    assert (1 / f) ** 6 == pytest.approx(1.68e7, rel=0.01)


# --------------------------------------------------------------------------- one home for the numbers
def _stencil_literals(source: str) -> list[str]:
    """Richardson weights and refine-factor literals in ``source`` (code only: comments and
    docstrings are free to explain them): a division by 45 or 16 (``/ 45``, ``/ 16.0``,
    ``/= 16``), 1/16 written out (0.0625), a constant set to 16 (``_SHRINK = 16.0``), and 64 with
    -20 on one line."""
    found = []
    toks = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t.type in (tokenize.OP, tokenize.NUMBER, tokenize.NEWLINE, tokenize.NAME)]
    line_numbers: list[float] = []
    for before, prev, tok in zip([None, None, *toks], [None, *toks], toks, strict=False):
        if tok.type == tokenize.NEWLINE:
            if 64.0 in line_numbers and 20.0 in line_numbers:
                found.append(f"{tok.start[0]}: 64 and 20")
            line_numbers = []
            continue
        if tok.type != tokenize.NUMBER:
            continue
        literal = ast.literal_eval(tok.string)
        value = float(literal) if not isinstance(literal, complex) else math.nan
        line_numbers.append(value)
        if prev is not None and prev.string in ("/", "/=") and value in (16.0, 45.0):
            found.append(f"{tok.start[0]}: / {tok.string}")
        if value == 0.0625:
            found.append(f"{tok.start[0]}: {tok.string}")
        if (value == 16.0 and prev is not None and prev.string == "=" and before is not None
                and before.type == tokenize.NAME and before.string.isupper()):
            found.append(f"{tok.start[0]}: {before.string} = {tok.string}")
    return found


def test_the_literal_finder_can_fail() -> None:
    assert _stencil_literals("value = (64 * c[2] - 20 * c[1] + c[0]) / 45\n")
    assert _stencil_literals("finer = est.step / 16.0\n")
    assert _stencil_literals("h /= 16\n")
    assert _stencil_literals("_W = np.array([1.0, -20.0, 64.0])\n")
    assert _stencil_literals("REFINE = 0.0625\n")
    assert _stencil_literals("_SHRINK = 16.0\n")
    assert not _stencil_literals("ax.scatter(x, y, s=16)\n")
    assert not _stencil_literals("err = 16 * eps * abs(value)  # / 45 in a comment\n")
    assert not _stencil_literals('"""(64 D2 - 20 D1 + D0) / 45"""\n')


def test_richardson_weights_and_refine_factor_live_in_one_module() -> None:
    """A second copy of the weights (64, -20, 1)/45 or of the refine-by-16 factor anywhere in the
    package is caught: callers take them from gradcheck.oracles._stencil."""
    where = {str(p.relative_to(PACKAGE)): hits for p in sorted(PACKAGE.rglob("*.py"))
             if (hits := _stencil_literals(p.read_text()))}
    assert set(where) == {"oracles/_stencil.py"}, where
