"""Properties over every registered derivation: hand gradients agree with the oracles, the
oracles agree with each other within their own error estimates, and checking obeys the
metamorphic relations (sums, scaling, parameter order) without touching the caller's data.

Sizes (batch sizes included) and seeds are drawn by ``gradcheck.strategies``; parameter
magnitudes by a positive factor applied to the drawn point.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from _losses import assert_no_false_alarm, class0_cross_entropy, class0_cross_entropy_grad
from hypothesis import assume, given
from hypothesis import strategies as st

import gradcheck
from gradcheck import InvalidArgumentError, LossRaisedError, MutatingFunctionError, mutations, registry
from gradcheck import strategies as gst
from gradcheck.registry import Derivation, Problem

from ._support import by_name, copy_params, examples

SEEDS = st.integers(0, 2**32 - 1)
MAGNITUDES = st.sampled_from([1.0, 0.1, 0.5, 2.0, 10.0])
"""Factors on the drawn point. 10x pushes softmax classifiers so far into the confident
regime that the loss is flat in float64: see test_loss_flat_in_floating_point_is_not_flagged."""


def _scaled_problem(problem: Problem, c: float) -> Problem:
    """The same data at the point ``c * params``: a hand gradient is a formula valid at every point."""
    return Problem(params={k: c * v for k, v in problem.params.items()}, data=problem.data)


# --------------------------------------------------------------------------- hand vs oracle
@examples(1.0)
@pytest.mark.parametrize("d", by_name(lambda d: d.expected_correct))
@given(data=st.data(), c=MAGNITUDES)
def test_correct_derivations_pass(d: Derivation, data: st.DataObject, c: float) -> None:
    _, problem = data.draw(gst.derivation_params(d))
    result = mutations.bind(d, _scaled_problem(problem, c)).check()
    assert_no_false_alarm(result)


@examples(1.0)
@pytest.mark.parametrize("d", by_name(lambda d: d.expected_correct))
@given(data=st.data(), c=MAGNITUDES, method=st.sampled_from(["central", "forward", "complex"]))
def test_correct_derivations_pass_under_every_scheme(d: Derivation, data: st.DataObject, c: float,
                                                     method: str) -> None:
    """Each scheme's error estimate is honest enough for its own verdict, not only the default's.
    Complex step is held to points up to 2x: at 10x it resolves derivatives of 1e-29 exactly and
    so also sees the hand formula's own rounding (``s * (1 - s)`` is 0 where ``s`` rounds to 1)."""
    assume(not (method == "complex" and c > 2.0))
    _, problem = data.draw(gst.derivation_params(d))
    bound = mutations.bind(d, _scaled_problem(problem, c))
    try:
        result = bound.check(method=method)
    except InvalidArgumentError as exc:  # complex step refused, with its reason: never a verdict
        assert method == "complex", str(exc)
        return
    assert_no_false_alarm(result)


@examples(0.5)
@pytest.mark.parametrize("d", by_name(lambda d: not d.expected_correct))
@given(seed=SEEDS)
def test_published_slips_fail_at_their_registered_sizes(d: Derivation, seed: int) -> None:
    # At degenerate drawn sizes (1 x 1, batch of one) a slip can coincide with the right
    # formula, so slips are held to failing at the sizes they were published with.
    result = d.check(seed)
    assert result.failed, f"{d.name} (slip: {d.slip}) was not flagged at seed {seed}:\n{result.summary()}"


def _confident_cross_entropy() -> tuple[Any, Any, np.ndarray]:
    """Cross-entropy of a classifier 20 logits sure of class 0: the loss (6.7e-9) is the
    difference of O(20) terms, so its rounding noise is ~eps * 20, not ~eps * |loss|."""
    return class0_cross_entropy, class0_cross_entropy_grad, np.array([20.0, 0.3, -0.2, 0.1])


@pytest.mark.parametrize("case", ["standalone", "relu_softmax.ce_mean"])
def test_confident_cross_entropy_is_not_flagged(case: str) -> None:
    """Regression pin: a false alarm found by this suite (the noise model was 32 eps |f|,
    relative to the loss value, while a confident cross-entropy is a difference of O(20)
    terms whose noise is eps x |terms|); fixed in the core by measuring the noise."""
    if case == "standalone":
        loss, grad, s = _confident_cross_entropy()
        result = gradcheck.check_grad(loss, grad, s)
    else:  # found by test_correct_derivations_pass with the point scaled by 10 (thorough profile)
        d = registry.get(case)
        problem = d.problem(8, n=1, n_in=4, hidden=1, classes=4)
        result = mutations.bind(d, _scaled_problem(problem, 10.0)).check()
    assert_no_false_alarm(result)


def test_loss_quantized_far_above_its_ulp_is_not_flagged() -> None:
    """Regression pin, found by test_correct_derivations_pass (thorough profile, relu_softmax.ce_mean,
    one sample, the point scaled by 10): the loss log(1 + 1.25e-9) moves in steps of eps, 1.8e-7
    of itself, and along the noise probe its differences were exactly 0 or exactly linear, so the
    measured noise was 0 and numeric slopes of exactly 0 met tolerances of 1e-16. The probe now
    reads a staircase's step as its rounding."""
    d = registry.get("relu_softmax.ce_mean")
    params = {
        "W1": np.array([[0.34558419, 0.82161814, 0.33043708, -1.30315723, 0.90535587, 0.44637457, -0.53695324]]),
        "b1": np.array([[0.29055905, 0.1822862, 0.14706625, 0.01421112, 0.27335649, -0.36822704, -0.08145497]]),
        "W2": np.array([[-0.18222397, 0.22634259], [0.01501355, -0.11053826], [-0.29553362, -0.09720953],
                        [0.00307745, -0.10416811], [0.48911015, 0.38050603], [-1.0247231, -0.7139799],
                        [-0.06605764, -0.15957298]]),
        "b2": np.array([[0.1068215, 0.10866097]]),
    }
    data = {"x": np.array([[-1.11202076]]), "labels": np.array([0]), "onehot": np.array([[1.0, 0.0]])}
    problem = Problem(params={k: 10.0 * v for k, v in params.items()}, data=data)
    bound = mutations.bind(d, problem)
    assert 0 < bound.loss(problem.params) < 1e-8  # the premise: a confident, quantized loss
    result = bound.check()
    assert_no_false_alarm(result)


def test_refinement_into_a_frozen_quantized_loss_is_not_a_false_alarm() -> None:
    """Found by test_correct_derivations_pass (thorough profile, relu_softmax.ce_mean at 10x the
    drawn point, loss 1.1e-7) after the staircase noise fix: W2 entries came out exactly 0.
    The loss moved by ~2.9 quanta per equally spaced noise probe point, so its differences
    vanished and its noise measured 1e-23 for a true 6e-17; refinement then went on into
    steps where the loss did not move at all. The probe's points are now unevenly spaced."""
    d = registry.get("relu_softmax.ce_mean")
    params = {"W1": np.array([[-0.84903065, -0.24595653, -1.15657593]]),
              "b1": np.array([[0.34757517, 0.34708538, -0.64453684]]),
              "W2": np.array([[0.22196738, -0.60431961], [-0.8498168, 0.0438655], [-0.17567224, 0.41161805]]),
              "b2": np.array([[-0.07742137, 0.18920764]])}
    data = {"x": np.array([[-0.85588086]]), "labels": np.array([0]), "onehot": np.array([[1.0, 0.0]])}
    result = mutations.bind(d, Problem(params={k: 10.0 * v for k, v in params.items()}, data=data)).check()
    assert_no_false_alarm(result)


def test_loss_flat_in_floating_point_is_not_flagged() -> None:
    """Regression pin for a false alarm found by test_correct_derivations_pass (thorough profile,
    relu_softmax.ce_mean at 10x the drawn point: analytic 1e-22, numeric 0, tolerance 1.8e-30):
    a loss flat in float64 gave measured noise 0 and a tolerance of 1e-34. Fixed in the core."""
    loss, grad, s = _confident_cross_entropy()
    s = s.copy()
    s[0] = 60.0
    assert loss(s) == 0.0  # the premise: flat in float64
    result = gradcheck.check_grad(loss, grad, s)
    assert_no_false_alarm(result)


# --------------------------------------------------------------------------- oracle agreement
@dataclass(frozen=True)
class OracleEstimate:
    """Per-parameter derivative (numerator layout), error estimate, and where it saw a kink."""

    value: Mapping[str, np.ndarray]
    error: Mapping[str, np.ndarray]
    kink: Mapping[str, np.ndarray]


Oracle = Callable[[mutations.Bound], "OracleEstimate | None"]
"""An oracle maps a bound derivation to an estimate, or None where it does not apply."""


def finite_differences(method: str) -> Oracle:
    def oracle(bound: mutations.Bound) -> OracleEstimate | None:
        run = gradcheck.numerical_grad if bound.kind == "grad" else gradcheck.numerical_jacobian
        try:
            est = run(bound.loss, bound.problem.params, method=method)
        except InvalidArgumentError:  # complex step on a loss that is not complex-analytic (ReLU, abs)
            return None
        return OracleEstimate(est.value, est.error, est.kink)

    oracle.__name__ = f"fd_{method}"
    return oracle


ORACLES: dict[str, Oracle] = {
    "richardson": finite_differences("richardson"),
    "central": finite_differences("central"),
    "forward": finite_differences("forward"),
    "complex": finite_differences("complex"),
    # "sympy": symbolic_oracle,  <- the symbolic oracle slots in here (error 0, kink False)
}
AGREE_SAFETY = 10.0
AGREE_FLOOR = 1e-10
"""Relative to the parameter's derivative scale: the rounding of estimates near zero."""


def disagreements(a: OracleEstimate, b: OracleEstimate) -> list[str]:
    """Entries where two oracles differ by more than the sum of their error estimates (kinks set apart)."""
    out = []
    for name in a.value:
        va, vb = np.asarray(a.value[name]), np.asarray(b.value[name])
        ea, eb = np.asarray(a.error[name]), np.asarray(b.error[name])
        smooth = ~(np.asarray(a.kink[name], dtype=bool) | np.asarray(b.kink[name], dtype=bool))
        scale = max(float(np.abs(va).max()), float(np.abs(vb).max()))
        bad = smooth & (np.abs(va - vb) > AGREE_SAFETY * (ea + eb) + AGREE_FLOOR * scale)
        for idx in np.argwhere(bad)[:3]:
            i = tuple(int(k) for k in idx)
            out.append(f"{name}{list(i)}: {va[i]:.12g} vs {vb[i]:.12g} (errors {ea[i]:.3g}, {eb[i]:.3g})")
    return out


@examples(0.5)
@pytest.mark.parametrize("d", by_name())
@given(data=st.data())
def test_oracles_agree_within_their_error_estimates(d: Derivation, data: st.DataObject) -> None:
    _, problem = data.draw(gst.derivation_params(d))
    bound = mutations.bind(d, problem)
    estimates = {k: o(bound) for k, o in ORACLES.items()}
    present = {k: e for k, e in estimates.items() if e is not None}
    assert {"richardson", "central", "forward"} <= set(present)
    for (ka, a), (kb, b) in itertools.combinations(present.items(), 2):
        bad = disagreements(a, b)
        assert not bad, f"{ka} vs {kb}: " + "; ".join(bad)


# --------------------------------------------------------------------------- metamorphic
def _add(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], cb: float = 1.0) -> dict[str, np.ndarray]:
    return {k: a[k] + cb * b[k] for k in a}


@examples(0.5)
@pytest.mark.parametrize("d", by_name(lambda d: d.expected_correct))
@given(data=st.data(), seeds=st.tuples(SEEDS, SEEDS))
def test_gradient_of_a_sum_is_the_sum_of_gradients(d: Derivation, data: st.DataObject,
                                                    seeds: tuple[int, int]) -> None:
    sizes = data.draw(gst.derivation_sizes(d))
    problem, other = d.problem(seeds[0], **sizes), d.problem(seeds[1], **sizes)
    first = mutations.bind(d, problem)
    # Same sizes, other data; both evaluated at the first problem's point.
    second = mutations.bind(d, Problem(problem.params, other.data))

    def total(p: Any) -> Any:
        return np.asarray(first.loss(p)) + np.asarray(second.loss(p))

    result = first.check(lambda p: _add(first.derivative(p), second.derivative(p)), loss=total)
    assert_no_false_alarm(result)
    # The slip "forgot the second term" is caught wherever the second term is resolvable.
    lone = first.check(first.derivative, loss=total)
    g2 = second.derivative(problem.params)
    if any(np.any(np.abs(g2[k]) > 3 * result.params[k].tolerances) for k in g2):
        assert lone.failed


@examples(0.5)
@pytest.mark.parametrize("d", by_name(lambda d: d.expected_correct))
@given(data=st.data(), c=st.sampled_from([1e-8, -1e-3, 0.5, -1.0, 3.0, 1e4, 1e8]))
def test_scaling_the_loss_scales_the_gradient(d: Derivation, data: st.DataObject, c: float) -> None:
    _, problem = data.draw(gst.derivation_params(d))
    bound = mutations.bind(d, problem)
    scaled_grad = lambda p: {k: c * v for k, v in bound.derivative(p).items()}  # noqa: E731
    result = bound.check(scaled_grad, loss=lambda p: c * np.asarray(bound.loss(p)))
    assert_no_false_alarm(result)
    # The oracle is linear too: c * estimate(f) and estimate(c f) agree within their errors.
    base, scaled = ORACLES["richardson"](bound), ORACLES["richardson"](
        mutations.Bound(d, problem, lambda p: c * np.asarray(bound.loss(p)), scaled_grad, bound.out_shape, bound.options))
    assert base is not None and scaled is not None
    cbase = OracleEstimate({k: c * v for k, v in base.value.items()},
                           {k: abs(c) * v for k, v in base.error.items()}, base.kink)
    assert not disagreements(cbase, scaled)


@examples(0.5)
@pytest.mark.parametrize("d", by_name())
@given(data=st.data(), order_seed=st.integers(0, 1000))
def test_verdict_does_not_depend_on_parameter_order(d: Derivation, data: st.DataObject, order_seed: int) -> None:
    _, problem = data.draw(gst.derivation_params(d))
    bound = mutations.bind(d, problem)
    names = list(problem.params)
    shuffled = [names[i] for i in np.random.default_rng(order_seed).permutation(len(names))]
    reordered = {k: problem.params[k] for k in shuffled}
    a, b = bound.check(), bound.check(params=reordered)
    assert a.verdict == b.verdict
    assert list(b.params) == shuffled
    for k in names:
        pa, pb = a.params[k], b.params[k]
        assert (pa.verdict, pa.n_mismatched, pa.n_kinks, pa.diagnosis) == (pb.verdict, pb.n_mismatched, pb.n_kinks,
                                                                            pb.diagnosis)
        assert np.array_equal(pa.numeric, pb.numeric)


# --------------------------------------------------------------------------- the caller's data
class _Boom(RuntimeError):
    pass


@examples(0.5)
@pytest.mark.parametrize("d", by_name())
@given(data=st.data(), fail_after=st.integers(0, 40), method=st.sampled_from(["richardson", "central", "forward"]))
def test_checking_never_changes_the_parameters(d: Derivation, data: st.DataObject, fail_after: int,
                                               method: str) -> None:
    _, problem = data.draw(gst.derivation_params(d))
    bound = mutations.bind(d, problem)
    before = copy_params(problem.params)
    bound.check(method=method)
    _assert_same(before, problem.params)

    calls = 0

    def raises_half_way(p: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls > fail_after:
            for v in p.values():  # scribble over the arrays it was given, then raise
                v[...] = np.nan
            raise _Boom(f"call {calls}")
        return bound.loss(p)

    try:
        bound.check(loss=raises_half_way, method=method)
    except LossRaisedError as exc:
        assert isinstance(exc.__cause__, _Boom)
    except MutatingFunctionError as exc:  # the write is named first; the failure it caused is chained
        assert isinstance(exc.__context__, (_Boom, LossRaisedError))
    else:
        assert calls <= fail_after, "the loss raised but the check did not report it"
    _assert_same(before, problem.params)


def _assert_same(before: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray]) -> None:
    assert list(before) == list(after)
    for k in before:
        assert after[k].dtype == before[k].dtype and after[k].shape == before[k].shape
        assert np.array_equal(after[k], before[k]), f"parameter {k!r} changed"
