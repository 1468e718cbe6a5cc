"""The checker proven on broken twins: every mutant that changes the gradient is flagged,
every correct derivation is not, including at kinks and in badly scaled corners."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from _losses import assert_no_false_alarm
from hypothesis import assume, example, given, note
from hypothesis import strategies as st

import gradcheck
from gradcheck import InvalidArgumentError, mutations, registry
from gradcheck import strategies as gst
from gradcheck.mutations import MATERIAL, MUTATIONS, TINY_MUTATIONS, mutate
from gradcheck.registry import Derivation, Problem

from ._support import by_name, examples

SEEDS = st.integers(0, 2**32 - 1)


# --------------------------------------------------------------------------- the mutation layer itself
@given(gst.arrays((3, 3), min_magnitude=0.1, max_magnitude=10.0), st.sampled_from(MUTATIONS + TINY_MUTATIONS), SEEDS)
def test_mutations_never_touch_their_input(g: np.ndarray, m: mutations.Mutation, seed: int) -> None:
    before = g.copy()
    # Each kind where it applies: a square Jacobian for the layout swap, a symmetric S for the convention.
    mutant = mutate(g, m, seed=seed, loss_value=1.5, param_shape=(3,) if m.name == "layout_swap" else None,
                    structure="symmetric" if m.name == "symmetric_convention" else None)
    assert np.array_equal(g, before)
    assert mutant.mutated.shape == g.shape
    assert np.array_equal(mutant.delta, mutant.mutated - mutant.original)


@given(gst.arrays((4, 4), min_magnitude=0.1, max_magnitude=10.0))
def test_transposing_a_symmetric_gradient_changes_nothing(a: np.ndarray) -> None:
    sym = a + a.T
    assert not mutate(sym, "transpose").changes
    assert mutate(sym, "transpose").relative_change == 0.0
    a[0, 1] = a[1, 0] + 1.0  # entries >= 0.1 of a scale <= 21: a material asymmetry
    assert mutate(a, "transpose").changes


@given(gst.arrays((3, 4), min_magnitude=0.1, max_magnitude=10.0), SEEDS)
def test_zeroing_a_zero_row_changes_nothing(g: np.ndarray, seed: int) -> None:
    zero = np.zeros_like(g)
    assert not mutate(zero, "zero_row", seed=seed).changes
    assert not mutate(zero, "zero_column", seed=seed).changes
    assert mutate(g, "zero_row", seed=seed).changes  # entries >= 0.1 of a scale <= 10: a material change


@given(gst.arrays((2, 5), min_magnitude=1e-3, max_magnitude=1e3), SEEDS)
def test_change_sizes_are_as_named(g: np.ndarray, seed: int) -> None:
    assert mutate(g, "perturb_small", seed=seed).relative_change == pytest.approx(1e-6, rel=1e-6)
    assert mutate(g, "perturb_small", seed=seed).changes
    assert mutate(g, "scale_1e-6").relative_change == pytest.approx(1e-6, rel=1e-6)
    assert mutate(g, "scale_2").relative_change == pytest.approx(1.0)
    assert mutate(g, "negate").relative_change == pytest.approx(2.0)
    assert mutate(g, "perturb_large", seed=seed).relative_change == pytest.approx(0.5)


@given(st.sampled_from([(1, 4), (4, 1), (1, 1)]))
def test_reshape_order_of_a_vector_changes_nothing(shape: tuple[int, int]) -> None:
    g = np.arange(1.0, 1.0 + np.prod(shape)).reshape(shape)
    assert not mutate(g, "reshape_order").changes


@pytest.mark.parametrize("call, fragment", [
    pytest.param(lambda: mutate(np.ones((2, 3)), "transpose"), "mutation='transpose'", id="transpose non-square"),
    pytest.param(lambda: mutate(np.ones(3), "zero_row"), "mutation='zero_row'", id="zero_row of a vector"),
    pytest.param(lambda: mutate(np.ones(3), "flip"), "mutation='flip'", id="unknown mutation"),
    pytest.param(lambda: mutate(np.ones((2, 3)), "scale_2", param_shape=(3, 2)), "param_shape=(3, 2)", id="shape"),
])
def test_invalid_mutations_are_rejected(call: Callable[[], Any], fragment: str) -> None:
    with pytest.raises(InvalidArgumentError, match=None) as info:
        call()
    assert fragment in str(info.value)


# --------------------------------------------------------------------------- every registered derivation
def _assert_twins_judged(bound: mutations.Bound, *, seed: int, promise: bool,
                         params: list[str] | None = None) -> None:
    """The correct derivative passes, every detectable mutant fails, an identical one passes.

    *Detectable* (some smooth entry moved by more than 3 tolerances of the correct check)
    is what the checker can honestly promise at this point; a material but undetectable
    mutant therefore implies the check reported a resolution coarser than the change.
    ``promise``: the point is well scaled, so also every material (>= 1e-6) mutant fails.
    """
    correct = bound.check()
    assert_no_false_alarm(correct)
    for twin in mutations.broken_twins(bound, seed=seed, params=params):
        m = twin.mutant
        pr = correct.params[m.param]
        if m.relative_change > 0 and not (m.detectable(pr.tolerances, pr.status) or (promise and m.changes)):
            continue
        result = bound.check(twin.derivative)
        label = f"{m.mutation} of {m.param!r} (relative change {m.relative_change:.3g})"
        note(label)
        if m.relative_change == 0:
            assert not result.failed, f"{label} changes nothing yet was flagged:\n{result.summary()}"
        else:
            assert result.failed, f"{label} was not flagged:\n{result.summary()}"
            assert result.params[m.param].failed, f"{label}: flagged, but on the wrong parameter"


@examples(0.3)
@pytest.mark.parametrize("d", by_name(lambda d: d.expected_correct))
@given(data=st.data(), seed=SEEDS)
def test_every_detectable_mutant_is_flagged(d: Derivation, data: st.DataObject, seed: int) -> None:
    """Drawn sizes (down to 1 x 1, batch of one) and seeds; one drawn parameter mutated every way."""
    _, problem = data.draw(gst.derivation_params(d))
    param = data.draw(st.sampled_from(sorted(problem.params)), label="mutated parameter")
    _assert_twins_judged(mutations.bind(d, problem), seed=seed, promise=False, params=[param])


@examples(0.3)
@pytest.mark.parametrize("d", by_name(lambda d: d.expected_correct))
@given(data=st.data(), seed=SEEDS)
def test_every_material_mutant_is_flagged_at_registered_sizes(d: Derivation, data: st.DataObject,
                                                              seed: int) -> None:
    """The design's promise, made without exception at the sizes a derivation is registered
    with: the check resolves a relative 1e-6 / 3 on every parameter, and every mutant that
    moves an entry by a relative 1e-6 is flagged. (At drawn sizes and scaled points, a deep
    saturated net can honestly state a coarser resolution; the benchmark counts how often.)"""
    _, problem = data.draw(gst.derivation_params(d, sizes=dict(d.sizes)))
    param = data.draw(st.sampled_from(sorted(problem.params)), label="mutated parameter")
    bound = mutations.bind(d, problem)
    resolution = bound.check().params[param].resolution
    assert resolution < MATERIAL / mutations.DETECT_FACTOR, f"{param!r} resolves only {resolution:.3g}"
    _assert_twins_judged(bound, seed=seed, promise=True, params=[param])


# --------------------------------------------------------------------------- hard correct cases
def _relu_problem(layer: gst.ReluLayer, wo: np.ndarray, y: np.ndarray) -> Problem:
    return Problem(params={"Wi": layer.W, "bi": layer.b, "Wo": wo, "bo": np.array([0.3])},
                   data={"X": layer.X, "y": y})


@st.composite
def relu_logistic_problems(draw: st.DrawFn, *, margin: float | None, on_kink: int) -> Problem:
    layer = draw(gst.relu_layers(n=st.integers(1, 5), d=st.integers(1, 3), h=st.integers(2, 5),
                                 margin=margin, on_kink=on_kink))
    h, n = layer.W.shape[1], layer.X.shape[0]
    wo = draw(gst.arrays(h, min_magnitude=0.1, max_magnitude=2.0))
    y = np.where(draw(gst.arrays(n, min_magnitude=1.0, max_magnitude=1.0)) > 0, 1.0, -1.0)
    return _relu_problem(layer, wo, y)


RELU = ["relu_logistic.outer", "relu_logistic.kron"]

_T_SMALL = 5.960464477539063e-08
SMALL_KINK_BESIDE_SMOOTH = Problem(
    params={"Wi": np.ones((2, 2)), "bi": np.full(2, -1.0000000596046448), "Wo": np.ones(2), "bo": np.array([0.3])},
    data={"X": np.array([[1.0, _T_SMALL], [_T_SMALL, 2.0]]), "y": np.array([1.0, 1.0])})
"""Once a false alarm (thorough profile): sample 0 sits exactly on both units' kinks, and
along Wi[1, j] its slope jump is 6e-8 of the slope while sample 1 adds a smooth -0.18; the
jump is below the core's 1e-7 floor, so it must be allowed for, not missed."""

_T_TINY = 1.671271839570899e-09
TINY_KINK = Problem(
    params={"Wi": np.array([[0.0, 0.0, 0.0, 0.0, 1.0], [-1.0, -2.0, 0.0, 0.0, 0.0]]),
            "bi": np.array([_T_TINY, 1.0, 1.0, 1.0, -1.0]), "Wo": np.ones(5), "bo": np.array([0.3])},
    data={"X": np.array([[1.0, -2.0], [0.0, _T_TINY]]), "y": np.array([1.0, 1.0])})
"""Once a false alarm (found by hypothesis.find over this property's strategy): the slope
jump, 6e-11 at an input weight of 1.7e-9, lay far below the one-sided slopes' error bars,
so the entry was judged smooth and the central value, the average of the two slopes,
missed the valid one by 1.6e-7 of the scale. The jump is now measured from second
differences, whose h^2 terms cancel, and the kink is found."""


def _one_clear_kink_per_unit(problem: Problem) -> bool:
    """At most one sample exactly on each unit's kink, every other pre-activation 1e-6 clear of it."""
    z = problem.data["X"] @ problem.params["Wi"] + problem.params["bi"]
    return bool(all(np.sum(z[:, j] == 0.0) <= 1 for j in range(z.shape[1]))
                and np.all((z == 0.0) | (np.abs(z) >= 1e-6)) and np.any(z == 0.0))


@pytest.mark.parametrize("pin", [SMALL_KINK_BESIDE_SMOOTH, TINY_KINK], ids=["small_kink_beside_smooth", "tiny_kink"])
def test_pinned_kink_examples_meet_the_premise(pin: Problem) -> None:
    # hypothesis skips an explicit example that fails assume(): this keeps the pins below live.
    assert _one_clear_kink_per_unit(pin)


@examples(0.3)
@pytest.mark.parametrize("name", RELU)
@given(problem=relu_logistic_problems(margin=None, on_kink=2), seed=SEEDS)
@example(problem=SMALL_KINK_BESIDE_SMOOTH, seed=0)
@example(problem=TINY_KINK, seed=0)
def test_relu_gradient_on_the_kink_passes_and_twins_fail(name: str, problem: Problem, seed: int) -> None:
    # One sample per kinked unit, the others resolvably off it: then the mask convention
    # relu'(0) = 0 gives a one-sided slope. Where several samples sit on one unit's kink
    # (or 1e-197 from it, which no finite step can tell apart), see the test below.
    assume(_one_clear_kink_per_unit(problem))
    bound = mutations.bind(registry.get(name), problem)
    correct = bound.check()
    assert_no_false_alarm(correct)
    assert sum(p.n_kinks for p in correct.params.values()) > 0, "a pre-activation at exactly 0 is a kink"
    _assert_twins_judged(bound, seed=seed, promise=False)


def test_coinciding_kinks_make_the_mask_convention_wrong() -> None:
    """Found by the property above: W = 0, b = 0 and samples x = -1, +1 put both samples on
    the kink of both units. Along W[0, j] one sample turns on to the right, the other to
    the left: the one-sided slopes are 0.4256 and 0.5744, and the hand gradient with
    relu'(0) = 0 gives 0, which is no subgradient. The checker is right to flag it."""
    problem = Problem(params={"Wi": np.zeros((1, 2)), "bi": np.zeros(2), "Wo": np.ones(2), "bo": np.array([0.3])},
                      data={"X": np.array([[-1.0], [1.0]]), "y": np.array([1.0, -1.0])})
    result = mutations.bind(registry.get("relu_logistic.outer"), problem).check()
    wi, bi = result.params["Wi"], result.params["bi"]
    assert wi.failed and wi.n_kinks == 2 and {e.status for e in wi.mismatches} == {"kink_mismatch"}
    assert not bi.failed and bi.n_kinks == 2  # along b both samples turn on together: 0 is the left slope


def test_small_kink_is_detected() -> None:
    """Regression pin for a false alarm found by test_relu_gradient_on_the_kink_passes_and_twins_fail
    (thorough profile, relu_logistic.kron with X = [[1.19e-7]], W = 0, b = 0): a slope jump of 5e-8
    was below the kink-detection threshold but above the central tolerance. Fixed in the core."""
    x = 1.1920929e-07

    def loss(w: np.ndarray) -> float:
        return float(np.logaddexp(0.0, -(np.maximum(x * w, 0.0) + 0.3)).sum())

    def grad(w: np.ndarray) -> np.ndarray:  # relu'(0) = 0: the left slope, a valid one
        return -x * (x * w > 0) / (1.0 + np.exp(np.maximum(x * w, 0.0) + 0.3))

    result = gradcheck.check_grad(loss, grad, np.zeros(1))
    assert_no_false_alarm(result)


@examples(0.3)
@pytest.mark.parametrize("margin", [1e-9, 1e-6, 1e-4])
@given(data=st.data(), seed=SEEDS)
def test_relu_gradient_near_the_kink_passes_and_twins_fail(margin: float, data: st.DataObject, seed: int) -> None:
    problem = data.draw(relu_logistic_problems(margin=margin, on_kink=0))
    bound = mutations.bind(registry.get("relu_logistic.outer"), problem)
    _assert_twins_judged(bound, seed=seed, promise=False)


def _with(problem: Problem, params: dict[str, np.ndarray] | None = None, data: dict[str, Any] | None = None) -> Problem:
    return Problem(params={**problem.params, **(params or {})}, data={**problem.data, **(data or {})})


@examples(0.3)
@given(data=st.data(), seed=SEEDS)
def test_badly_scaled_parameters(data: st.DataObject, seed: int) -> None:
    """Entries of 1e-6 and 1e6 in one array: one relative step cannot suit all of them."""
    d, problem = data.draw(gst.derivation_params("least_squares.x"))
    x = data.draw(gst.arrays(problem.params["x"].shape, min_magnitude=1e-6, max_magnitude=1e6))
    _assert_twins_judged(mutations.bind(d, _with(problem, {"x": x})), seed=seed, promise=False)


@examples(0.3)
@given(data=st.data(), seed=SEEDS)
def test_losses_of_magnitude_1e8(data: st.DataObject, seed: int) -> None:
    d, problem = data.draw(gst.derivation_params("least_squares.A"))
    big = _with(problem, data={"b": 2e4 * (np.abs(problem.data["b"]) + 1.0)})
    bound = mutations.bind(d, big)
    assert abs(bound.loss(big.params)) >= 1e8
    _assert_twins_judged(bound, seed=seed, promise=False)


@examples(0.3)
@given(data=st.data(), gain=st.sampled_from([20.0, 50.0, 200.0]), seed=SEEDS)
def test_saturated_sigmoids(data: st.DataObject, gain: float, seed: int) -> None:
    d, problem = data.draw(gst.derivation_params("sigmoid_layer.column"))
    hot = _with(problem, {"W": gain * problem.params["W"]})
    _assert_twins_judged(mutations.bind(d, hot), seed=seed, promise=False)


@examples(0.3)
@given(data=st.data(), seed=SEEDS)
def test_exactly_flat_coordinates(data: st.DataObject, seed: int) -> None:
    """A column of A that is zero makes the loss exactly flat in that entry of x."""
    d, problem = data.draw(gst.derivation_params("least_squares.x", min_size=2))
    A = problem.data["A"].copy()
    j = data.draw(st.integers(0, A.shape[1] - 1))
    A[:, j] = 0.0
    flat = _with(problem, data={"A": A})
    bound = mutations.bind(d, flat)
    assert bound.derivative(flat.params)["x"][j] == 0.0
    _assert_twins_judged(bound, seed=seed, promise=True)


@examples(0.3)
@given(problem=relu_logistic_problems(margin=1e-3, on_kink=0), seed=SEEDS)
def test_dead_relu_unit_is_flat(problem: Problem, seed: int) -> None:
    """A unit whose pre-activations are all negative: its input weights have gradient exactly 0."""
    layer_b = problem.params["bi"].copy()
    layer_b[0] = -1e3
    dead = _with(problem, {"bi": layer_b})
    bound = mutations.bind(registry.get("relu_logistic.outer"), dead)
    assert np.all(bound.derivative(dead.params)["Wi"][:, 0] == 0.0)
    _assert_twins_judged(bound, seed=seed, promise=False)
