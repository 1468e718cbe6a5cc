"""The directional check's verdicts come from the core's judge: a line's estimate on the oracle seam."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradcheck.checks.directional._entries import as_oracle, judge_entry, judge_line, line_tolerance
from gradcheck.checks.directional._line import KINK, SMOOTH, LineEstimate
from gradcheck.judge._compare import floor_rtol

EPS = float(np.finfo(np.float64).eps)
NAN = math.nan


def est(value: float, error: float, analytic: float, *, state: str = SMOOTH, left: float = NAN, right: float = NAN,
        side_error: float = NAN, jump: float = NAN, jump_error: float = NAN) -> LineEstimate:
    return LineEstimate(value, error, analytic, left, right, side_error, jump, jump_error, state, 2.0**-10, "test")


def test_a_smooth_direction_is_judged_against_its_bars_plus_the_absolute_floor() -> None:
    e = est(1.0, 1e-10, 1.0 + 5e-9)
    assert line_tolerance(e, 1e-12, 10.0) == pytest.approx(1e-9 + 1e-12)
    j = judge_line(e, 1e-12, 10.0, EPS)
    assert not j.agrees and j.distance == pytest.approx(5e-9) and j.ratio == pytest.approx(5e-9 / (1e-9 + 1e-12))
    assert judge_line(est(1.0, 1e-9, 1.0 + 5e-9), 1e-12, 10.0, EPS).agrees


def test_a_direction_has_no_floor_relative_to_its_own_size() -> None:
    """A directional derivative is a sum over all entries: 1e-7 of it would hide a 1e-6 slip in a small entry."""
    e = est(1e4, 1e-9, 1e4 + 1e-6)  # off by 1e-10 of itself, ten times its tolerance
    assert floor_rtol(EPS) * 1e4 > 1e-6  # the judge's per-entry floor would accept it
    assert not judge_line(e, 1e-12, 10.0, EPS).agrees


def test_an_entry_keeps_the_relative_floor_of_itself() -> None:
    tiny = est(1.0, 0.0, 1.0 + 0.5e-7)
    assert judge_entry(tiny, EPS, 10.0).agrees
    j = judge_entry(est(1.0, 0.0, 1.0 + 2e-7), EPS, 10.0)
    assert not j.agrees and j.tolerance == pytest.approx(floor_rtol(EPS) * (1.0 + 2e-7))


def test_at_a_kink_any_value_between_the_one_sided_slopes_agrees() -> None:
    k = dict(state=KINK, left=0.0, right=2.0, side_error=1e-10)
    assert judge_line(est(1.0, 1.0, 0.3, **k), 1e-12, 10.0, EPS).agrees
    out = judge_line(est(1.0, 1.0, 2.5, **k), 1e-12, 10.0, EPS)
    assert not out.agrees and out.distance == pytest.approx(0.5)
    assert judge_entry(est(1.0, 1.0, -0.25, **k), EPS, 10.0).distance == pytest.approx(0.25)


def test_a_small_measured_jump_widens_the_bar_and_an_infinite_one_does_not_accept_everything() -> None:
    near = est(1.0, 1e-12, 1.0 + 4e-6, jump=1e-5, jump_error=0.0)
    assert judge_line(near, 0.0, 10.0, EPS).agrees  # within half the jump
    assert as_oracle(est(1.0, 1e-12, 3.0, jump=math.inf, jump_error=0.0)).jump is None
    assert not judge_line(est(1.0, 1e-12, 3.0, jump=math.inf, jump_error=0.0), 0.0, 10.0, EPS).agrees


@pytest.mark.parametrize("value,error", [(NAN, NAN), (1.0, math.inf)])
def test_a_line_without_a_finite_estimate_never_agrees(value: float, error: float) -> None:
    assert not judge_line(est(value, error, 1.0), 1e-12, 10.0, EPS).agrees
    assert not judge_entry(est(value, error, 1.0), EPS, 10.0).agrees
