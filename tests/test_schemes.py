"""The finite-difference schemes: convergence order, honest error estimates, kinks, refinement."""

from __future__ import annotations

import numpy as np
import pytest
from _losses import assert_no_false_alarm, class0_cross_entropy, class0_cross_entropy_grad

import gradcheck as gc
from gradcheck import mutations, registry
from gradcheck.core._evaluator import Evaluator
from gradcheck.core._params import ParamSet
from gradcheck.oracles import _fd
from gradcheck.registry import Problem

# Smooth functions with known derivatives, chosen so that no derivative vanishes at x0.
FUNCTIONS = {
    "exp_sin": (lambda x: np.exp(x) * np.sin(x), lambda x: np.exp(x) * (np.sin(x) + np.cos(x))),
    "log1p_sq": (lambda x: np.log1p(x**2), lambda x: 2 * x / (1 + x**2)),
    "rational": (lambda x: 1 / (2 + x), lambda x: -1 / (2 + x) ** 2),
}
ORDERS = {"forward": 1, "central": 2, "richardson": 6}


def _raw(fn, x: np.ndarray, method: str, step: float):
    """One pass of a scheme at a fixed step, without refinement (to see its pure order)."""
    ps = ParamSet(x, single_name="x")
    ev = Evaluator(lambda v: np.sum(fn(v)), ps, scalar=True, fn_name="f")
    f0, spread = ev.base()
    h = [np.full(x.size, step)]
    return _fd.estimate(ev, f0, spread, _fd.Plan(method, h, safety=10.0, resolve_rtol=1e-9, refine=False))[0]


@pytest.mark.parametrize("fname", sorted(FUNCTIONS))
@pytest.mark.parametrize("method", sorted(ORDERS))
def test_error_falls_with_the_scheme_order(method: str, fname: str) -> None:
    f, df = FUNCTIONS[fname]
    x = np.array([0.7])
    # Steps large enough that truncation, not rounding, dominates.
    steps = {"forward": [1e-2, 5e-3, 2.5e-3], "central": [1e-1, 5e-2, 2.5e-2], "richardson": [0.4, 0.2, 0.1]}[method]
    errors = [abs(_raw(f, x, method, s).value[0, 0] - df(x)[0]) for s in steps]
    slopes = np.diff(np.log(errors)) / np.diff(np.log(steps))
    assert np.all(np.abs(slopes - ORDERS[method]) < 0.6), (method, fname, errors, slopes)


@pytest.mark.parametrize("fname", sorted(FUNCTIONS))
@pytest.mark.parametrize("method", ["forward", "central", "richardson", "complex"])
def test_error_estimate_bounds_the_actual_error(method: str, fname: str) -> None:
    """At default steps the estimate's true error is within its stated error estimate."""
    f, df = FUNCTIONS[fname]
    x = np.linspace(-1.3, 2.1, 9)
    est = gc.numerical_grad(lambda v: np.sum(f(v)), x, method=method)
    actual = np.abs(est.value - df(x))
    assert np.all(actual <= est.error + 1e3 * np.finfo(float).eps * np.abs(df(x))), (actual / est.error)


@pytest.mark.parametrize("method", ["central", "richardson", "complex"])
def test_default_schemes_reach_near_machine_precision(method: str) -> None:
    f, df = FUNCTIONS["exp_sin"]
    x = np.linspace(-1, 1, 7)
    est = gc.numerical_grad(lambda v: np.sum(f(v)), x, method=method)
    rel = np.abs(est.value - df(x)) / np.abs(df(x))
    limit = {"central": 1e-9, "richardson": 1e-11, "complex": 1e-14}[method]
    assert rel.max() < limit


def test_evaluation_counts_per_scheme() -> None:
    x = np.ones(5)
    counts = {m: gc.numerical_grad(lambda v: np.sum(v**3), x, method=m).n_evaluations
              for m in ("forward", "central", "richardson", "complex")}
    # two base evaluations (reproducibility check), the noise probe (12), then the stencil, and the
    # base point once more at the end (the value must not have drifted); complex step skips the noise
    # probe and adds its analyticity probe (1 complex call, one complex directional derivative and
    # two central pairs along the same direction), then two imaginary steps per entry (their
    # difference is complex step's rounding)
    probe = _fd.NOISE_POINTS - 1
    assert counts["forward"] == 2 + probe + 2 * 5 + 1
    assert counts["central"] == 2 + probe + 4 * 5 + 1
    assert counts["richardson"] == 2 + probe + 6 * 5 + 1
    assert counts["complex"] == 2 + 6 + 2 * 5 + 1  # 5 entries: all of them sampled


def test_richardson_takes_a_third_step_only_where_two_show_truncation() -> None:
    """A loss quadratic in an entry (least squares, a last linear layer) has central differences
    exact to rounding: two steps settle it, 4 evaluations instead of 6, with its bars still true."""
    rng = np.random.default_rng(4)
    A, b = rng.normal(size=(8, 5)), rng.normal(size=8)
    x = rng.normal(size=5)
    probe = _fd.NOISE_POINTS - 1
    quadratic = gc.numerical_grad(lambda v: 0.5 * np.sum((A @ v - b) ** 2), x)
    assert quadratic.n_evaluations == 2 + probe + 4 * 5 + 1
    exact = A.T @ (A @ x - b)
    assert np.all(np.abs(quadratic.value - exact) <= quadratic.error)
    # x[0] enters cubed, the rest squared: only x[0] takes the third step
    mixed = gc.numerical_grad(lambda v: v[0] ** 3 + np.sum(v[1:] ** 2), x)
    assert mixed.n_evaluations == 2 + probe + 4 * 5 + 2 + 1
    assert np.all(np.abs(mixed.value - np.r_[3 * x[0] ** 2, 2 * x[1:]]) <= mixed.error)


@pytest.mark.parametrize("where", [1 / 3, 0.1, 0.6, 0.9])
def test_a_kink_inside_two_steps_never_leaks_into_the_estimate(where: float) -> None:
    """A kink at d = h/3 leaves the two-step jump at 0 (J (1 - 3 d/h)) but moves the central gap
    by J/6; at d in (h/2, h) only the wider step straddles it. Neither is settled at two steps,
    and the smaller steps that follow leave the kink outside: its slope jump of 1 never reaches
    the estimate."""
    x0 = 0.4
    h = _fd.default_base_step("richardson", np.finfo(float).eps) * max(abs(x0), 1.0)  # the entry's base step
    kink = x0 + where * h
    est = gc.numerical_grad(lambda v: float(v[0] ** 2 + max(v[0] - kink, 0.0)), np.array([x0]))
    assert abs(est.value[0] - 2 * x0) <= est.error[0] < 1e-8
    assert est.n_evaluations > 2 + _fd.NOISE_POINTS - 1 + 4 + 1  # more than two steps were needed


def test_complex_step_has_no_subtractive_cancellation() -> None:
    """Complex step stays exact where differences lose everything: f = x^2 at x = 1e8."""
    x = np.array([1e8])
    est = gc.numerical_grad(lambda v: np.sum(v**2), x, method="complex")
    assert est.value[0] == pytest.approx(2e8, rel=1e-15)


def test_step_is_scaled_to_each_coordinate() -> None:
    x = np.array([1e-6, 1.0, 1e6])
    est = gc.numerical_grad(lambda v: np.sum(v**2), x, method="central")
    base = _fd.default_base_step("central", np.finfo(float).eps)
    assert est.step[0] == pytest.approx(base, rel=1e-6)  # typical magnitude 1 floors small entries
    assert est.step[2] == pytest.approx(base * 1e6, rel=1e-6)


def test_kink_reports_both_one_sided_slopes() -> None:
    est = gc.numerical_grad(lambda v: np.sum(np.maximum(v, 0.0)), np.array([0.0, 2.0]))
    assert est.kink.tolist() == [True, False]
    assert est.left[0] == pytest.approx(0.0, abs=1e-9)
    assert est.right[0] == pytest.approx(1.0, abs=1e-9)


def test_abs_kink_has_opposite_slopes() -> None:
    est = gc.numerical_grad(lambda v: np.sum(np.abs(v - 0.25)), np.array([0.25]))
    assert est.kink[0]
    assert sorted([est.left[0], est.right[0]]) == pytest.approx([-1.0, 1.0], abs=1e-9)


def test_slopes_use_the_step_the_parameter_really_took() -> None:
    """0.25 + 5e-10 is not a float: dividing by the nominal step put the one-sided slopes of
    |v - 0.25| off by ulp(0.25) / h = 1e-7. Found when a refined kink reached such steps."""
    est = gc.numerical_grad(lambda v: np.sum(np.abs(v - 0.25)), np.array([0.25]), step=1e-9, refine=False)
    assert est.kink[0]
    assert sorted([est.left[0], est.right[0]]) == pytest.approx([-1.0, 1.0], abs=1e-13)


def test_a_staircase_loss_has_its_step_as_noise() -> None:
    """log(1 + 1e-9 e^v) moves in steps of eps (1e-7 of itself): its noise is its step."""
    ps = ParamSet(np.array([0.3]), single_name="v")
    ev = Evaluator(lambda v: float(np.log(1.0 + 1e-9 * np.exp(v[0]))), ps, scalar=True, fn_name="f")
    f0, _ = ev.base()
    sigma, _ = _fd.measure_noise(ev, f0, [np.ones(1)])
    eps = np.finfo(float).eps
    assert 0.1 * eps < sigma[0] < 2 * eps
    assert sigma[0] > 1e6 * eps * abs(f0[0])


def test_a_staircase_moving_whole_quanta_per_probe_point_is_not_called_exact() -> None:
    """log(1 + 1e-7 e^(a (v - 0.3))) moves by a*4e-3 quanta of eps per probe point. On equally
    spaced points a near-integer count rounds alike everywhere and the differences vanish
    (noise 0 where it is eps / sqrt(12)); the probe's uneven spacing must still see it."""
    eps = np.finfo(float).eps
    low = []
    for a in np.geomspace(1.0, 3000.0, 200):
        ps = ParamSet(np.array([0.3]), single_name="v")
        ev = Evaluator(lambda v, a=a: float(np.log(1.0 + 1e-7 * np.exp(a * (v[0] - 0.3)))), ps, scalar=True,
                       fn_name="f")
        f0, _ = ev.base()
        sigma, _ = _fd.measure_noise(ev, f0, [np.ones(1)])
        if sigma[0] < 0.01 * eps:  # true sigma 0.29 eps; NOISE_SIGMAS and safety absorb a few-fold scatter
            low.append((float(a), float(sigma[0] / eps)))
    assert not low, low


def test_a_staircase_is_seen_beside_a_large_parameter_the_loss_ignores() -> None:
    """The lattice rule ignores lattices that rounding x + t d to x's grid explains; that bound
    is set by the entry that moves least. With directions uniform in [-1, 1], one entry of
    a 5000-entry parameter moved by ~1e-4 of the step and hid the loss's own staircase
    (noise read 0.03 eps where it is 0.29 eps): directions now have |u| >= 0.5."""
    eps = np.finfo(float).eps
    for a in (707.4, 936.86):
        params = {"v": np.array([0.3]), "extra": np.linspace(-1.0, 1.0, 5000)}
        ps = ParamSet(params, single_name="params")
        ev = Evaluator(lambda p, a=a: float(np.log(1.0 + 1e-7 * np.exp(a * (p["v"][0] - 0.3)))), ps, scalar=True,
                       fn_name="f")
        f0, _ = ev.base()
        sigma, _ = _fd.measure_noise(ev, f0, [np.ones(1), np.ones(5000)])
        assert sigma[0] > 0.1 * eps, (a, sigma[0] / eps)


def test_stencil_straddling_a_kink_is_refined_not_called_a_kink() -> None:
    """A ReLU input at 1e-6 is inside the default stencil; smaller steps resolve it as smooth."""
    x = np.array([1e-6, -3e-6, 0.5])
    est = gc.numerical_grad(lambda v: np.sum(np.maximum(v, 0.0) + v**2), x)
    assert not est.kink.any()
    assert est.step[0] < 1e-6 < est.step[2]  # the first entry was refined below its distance to the kink
    np.testing.assert_allclose(est.value, (x > 0) + 2 * x, rtol=1e-8, atol=1e-9)


def test_error_estimate_covers_a_jump_in_the_second_derivative() -> None:
    """max(v, 0)^2 is C1 only: the stencil across v = 0 is less accurate, and says so."""
    x = np.array([1e-6, -3e-6])
    est = gc.numerical_grad(lambda v: np.sum(np.maximum(v, 0.0) ** 2 + v), x)
    actual = np.abs(est.value - (2 * np.maximum(x, 0) + 1))
    assert not est.kink.any()
    assert np.all(actual <= est.error)


def test_smooth_functions_have_no_kinks() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=50) * 3
    for f, _ in FUNCTIONS.values():
        est = gc.numerical_grad(lambda v, f=f: np.sum(f(v)), x)
        assert not est.kink.any()


def test_numerical_jacobian_layout_is_out_then_in() -> None:
    A = np.arange(6.0).reshape(2, 3)
    est = gc.numerical_jacobian(lambda x: A @ x, np.ones(3))
    assert est.value.shape == (2, 3)
    np.testing.assert_allclose(est.value, A, atol=1e-9)


def test_numerical_grad_keeps_the_params_structure() -> None:
    params = {"a": np.ones((2, 2)), "b": np.zeros(3)}
    est = gc.numerical_grad(lambda p: np.sum(p["a"] ** 2) + np.sum(p["b"]), params)
    assert set(est.value) == {"a", "b"}
    np.testing.assert_allclose(est.value["a"], 2 * np.ones((2, 2)), rtol=1e-10)
    np.testing.assert_allclose(est.value["b"], np.ones(3), rtol=1e-10)


# --------------------------------------------------------------------------- measured noise
def test_noise_of_a_small_difference_of_large_terms_is_measured() -> None:
    s = np.array([20.0, 0.3, -0.2, 0.1])
    ps = ParamSet(s, single_name="s")
    ev = Evaluator(class0_cross_entropy, ps, scalar=True, fn_name="ce")
    f0, _ = ev.base()
    sigma, _ = _fd.measure_noise(ev, f0, [np.maximum(np.abs(s), 1.0)])
    ulp20 = np.spacing(20.0)
    # the value is ~6.7e-9 but it is rounded on the grid of 20: noise of a fraction of ulp(20)
    assert 0.05 * ulp20 < sigma[0] < 2 * ulp20
    assert sigma[0] > 1e3 * np.finfo(float).eps * abs(f0[0])


def test_smooth_well_conditioned_loss_has_noise_near_its_ulp() -> None:
    x = np.linspace(-1, 1, 6)
    ps = ParamSet(x, single_name="x")
    ev = Evaluator(lambda v: float(np.sum(np.sin(v) + v**2)), ps, scalar=True, fn_name="f")
    f0, _ = ev.base()
    sigma, _ = _fd.measure_noise(ev, f0, [np.ones(6)])
    assert sigma[0] <= 4 * np.spacing(abs(f0[0]))


def test_a_kink_at_the_base_point_is_not_taken_for_noise() -> None:
    x = np.array([0.0, 0.0, 0.5, -0.7])  # two ReLU inputs exactly on the kink
    ps = ParamSet(x, single_name="x")
    ev = Evaluator(lambda v: float(np.sum(np.maximum(v, 0.0)) + np.sum(v**2)), ps, scalar=True, fn_name="f")
    f0, _ = ev.base()
    sigma, _ = _fd.measure_noise(ev, f0, [np.ones(4)])
    assert sigma[0] <= 4 * np.spacing(1.0)  # the kink's jump (~1e-6 per probe step) is ignored by the medians


def testclass0_cross_entropy_passes_and_a_one_percent_slip_fails() -> None:
    s = np.array([20.0, 0.3, -0.2, 0.1])
    grad = class0_cross_entropy_grad
    result = gc.check_grad(class0_cross_entropy, grad, s)
    assert_no_false_alarm(result)  # its noise, 1e6 times the ulps of its value, leaves ~1e-5 of resolution
    assert any("rounding noise" in n for n in result.notes)
    assert gc.check_grad(class0_cross_entropy, lambda v: grad(v) * 1.01, s).failed


def test_refine_false_keeps_the_requested_step() -> None:
    x = np.array([1e-6, 0.5])  # the first entry straddles the ReLU kink at the default step
    f = lambda v: np.sum(np.maximum(v, 0.0) + v**2)  # noqa: E731
    refined = gc.numerical_grad(f, x)
    raw = gc.numerical_grad(f, x, refine=False)
    assert refined.step[0] < raw.step[0] == pytest.approx(_fd.default_base_step("richardson", np.finfo(float).eps))
    assert abs(raw.value[0] - 1.0) > abs(refined.value[0] - 1.0)


# --------------------------------------------------------------------------- wider steps
def _small_slope_loss(v: np.ndarray) -> float:
    """A derivative 4e-5 of the loss: rounding, eps |f| / h, limits richardson at its base step."""
    return float(0.1 + 4e-6 * np.sum(np.sin(v)))


def test_rounding_limited_entries_take_a_wider_step_and_resolve_a_1e6_slip() -> None:
    x = np.array([0.3, -0.7, 1.1])
    grad = lambda v: 4e-6 * np.cos(v)  # noqa: E731
    fixed = gc.check_grad(_small_slope_loss, grad, x, step=_fd.default_base_step("richardson", np.finfo(float).eps),
                          oracle="fd")
    widened = gc.check_grad(_small_slope_loss, grad, x)
    assert fixed.verdict == "inconclusive" and widened.ok
    assert fixed.params["params"].resolution > 1e-6  # at the base step a 1e-6 slip cannot be told apart
    assert widened.params["params"].resolution < 5e-7
    assert gc.check_grad(_small_slope_loss, lambda v: grad(v) * (1 + 1e-6), x).failed
    est = gc.numerical_grad(_small_slope_loss, x)
    np.testing.assert_allclose(est.value, grad(x), rtol=1e-9)
    assert np.all(est.step > 4 * gc.numerical_grad(_small_slope_loss, x, refine=False).step)


def test_an_entry_settled_in_two_steps_can_still_take_the_wider_step_it_needs() -> None:
    """Two quiet steps settle an entry whose derivative is tiny beside the loss (the first layer of
    a 5-deep sigmoid net of width 1: a drawn check of the mutation benchmark's sweep), and their gap
    is rounding: booked as truncation, it kept the entry from the wider step that resolves it, and
    the check said inconclusive (1.3e-6) where it resolves 1.4e-7."""
    d = next(x for x in registry.derivations() if x.name == "row_mlp.sigmoid")
    drawn = d.problem(1506921549, n=6, n_in=4, width=1, n_out=4, depth=5)
    bound = mutations.bind(d, Problem(params={k: 0.5 * v for k, v in drawn.params.items()}, data=drawn.data))
    result = bound.check()
    assert result.ok and result.params["W1"].resolution < 3e-7, result.summary()


@pytest.mark.parametrize("offset", [1.5e-3, 3e-3, 6e-3, 1e-2, 2e-2])
def test_a_wider_step_that_would_reach_a_kink_is_not_taken_blindly(offset: float) -> None:
    """A kink just beyond the base stencil (0.3 + 7.4e-4) but inside a 4x or 16x wider one."""
    x = np.array([0.3, -0.7, 1.1])

    def loss(v: np.ndarray) -> float:
        return _small_slope_loss(v) + 4e-6 * max(v[0] - (0.3 + offset), 0.0)

    est = gc.numerical_grad(loss, x)
    assert est.step[0] < offset  # the stencil stayed on the kink's near side
    # Unbiased by the kink (which would add ~4e-6 x (h - offset) / 2h), to within a bar under 1e-6 of the slope.
    assert abs(est.value[0] - 4e-6 * np.cos(0.3)) <= est.error[0] < 1e-6 * 4e-6
    assert_no_false_alarm(gc.check_grad(loss, lambda v: 4e-6 * np.cos(v), x))


def test_a_parameter_the_loss_ignores_is_not_widened() -> None:
    """Its derivative is 0, so any error is 'above widen_rtol of its scale': widening it twice
    tripled the cost of the check and looked at nothing."""
    params = {"a": np.array([0.3, 1.2]), "extra": np.ones(50)}
    est = gc.numerical_grad(lambda p: float(np.sum(np.sin(p["a"]))), params)
    base = gc.numerical_grad(lambda p: float(np.sum(np.sin(p["a"]))), params, refine=False)
    np.testing.assert_array_equal(est.step["extra"], base.step["extra"])
    assert np.all(est.value["extra"] == 0.0)


def test_widening_a_jacobian_may_not_worsen_any_row() -> None:
    """Rows of a Jacobian have scales of their own: a wider step that helps the rounding-limited
    row must not be taken where it makes the curved, small row less precise."""
    x = np.array([0.3, -0.7])
    fn = lambda v: np.array([1.0 + 1e-6 * np.sum(np.sin(v)), 1e-3 * np.sum(np.sin(8 * v))])  # noqa: E731
    est = gc.numerical_jacobian(fn, x)
    raw = gc.numerical_jacobian(fn, x, refine=False)
    exact = np.stack([1e-6 * np.cos(x), 8e-3 * np.cos(8 * x)])
    assert np.all(est.error[1] <= raw.error[1])
    assert np.all(np.abs(est.value - exact) <= est.error)


@pytest.mark.parametrize("c", [1e-310, 1e-315])
@pytest.mark.parametrize("method", ["forward", "central", "richardson"])
def test_a_subnormal_loss_is_checked_with_its_real_precision(method: str, c: float) -> None:
    """Found by sweeping schemes over the reference nets at 10x their drawn point: a logistic loss
    of 2e-313 is subnormal, moves in steps of 5e-324 (a relative 2e-11), and its noise probe
    read 0. With eps |f| as the only floor, richardson flagged c sum(exp(x)) at c = 1e-315 and
    the diagnosis called the loss flat, its derivatives' squares having underflowed."""
    x = np.array([1.0, -2.0, 0.5])
    loss, grad = (lambda v: c * np.sum(np.exp(v))), (lambda v: c * np.exp(v))
    assert 0 < loss(x) < np.finfo(np.float64).smallest_normal  # the premise: subnormal
    ok = gc.check_grad(loss, grad, x, method=method)
    assert_no_false_alarm(ok)
    resolution = ok.params["params"].resolution
    if method == "richardson":
        assert resolution < 1e-3  # 5e-324 steps in a loss of 1e-315 still leave 4 digits of slope
    if resolution < 1 / 3:  # forward at 1e-315 resolves only 21x the scale, and says so
        slip = gc.check_grad(loss, lambda v: 2 * grad(v), x, method=method)
        assert slip.failed
        assert slip.params["params"].diagnosis.startswith("off by a constant factor: analytic = 2")


@pytest.mark.parametrize("c", [1e-300, 6.81e-299, 3.16e-298])
def test_complex_step_is_not_used_where_its_imaginary_part_underflows(c: float) -> None:
    """c e^x with c ~ 1e-298: f' h is ~1e-318 at h = 1e-20, a subnormal with 5 digits. The
    probe passed there, and auto's complex step flagged the correct gradient (4e-6 off)."""
    x = np.array([0.3, -0.7, 1.1, 2.0, -1.5])
    loss, grad = (lambda v: c * np.sum(np.exp(v))), (lambda v: c * np.exp(v))
    with pytest.raises(gc.InvalidArgumentError, match="underflows into subnormal"):
        gc.check_grad(loss, grad, x, method="complex")
    auto = gc.check_grad(loss, grad, x, method="auto")
    assert auto.ok and auto.method == "richardson"
    assert any("fell back to 'richardson'" in n for n in auto.notes)
