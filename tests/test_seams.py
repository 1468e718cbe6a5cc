"""The seams the oracles plug into: options validated once, named statuses, the oracle
interface the judge takes, results without dense arrays, and the evaluator's guard."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.checks import _first_order as _api
from gradcheck.core._evaluator import Evaluator, Perturbation
from gradcheck.core._options import Options
from gradcheck.core._params import ParamSet
from gradcheck.core._status import STATUS_NAMES, Status
from gradcheck.oracles._seam import Context, OracleEstimate, OracleRun
from gradcheck.report import _model

A = np.array([[2.0, -1.0, 0.5], [0.3, 1.5, -2.0], [1.0, 0.0, 1.0], [-0.7, 0.2, 0.4]])
B = np.array([[1.0], [-2.0], [0.5], [0.0]])


def ls_loss(x: Any) -> float:
    return float(np.sum((A @ x - B) ** 2))


def ls_grad(x: Any) -> Any:
    return 2 * A.T @ (A @ x - B)


X0 = np.array([[0.1], [-0.3], [0.7]])


# --------------------------------------------------------------------------- options
@pytest.mark.parametrize("value", [np.float64(1e-3), np.float32(1e-3), np.int64(1)])
def test_numpy_scalars_are_accepted_as_numbers(value: Any) -> None:
    assert gc.check_grad(ls_loss, ls_grad, X0, rtol=value).ok
    assert gc.check_grad(ls_loss, ls_grad, X0, safety=np.float32(10.0)).ok


@pytest.mark.parametrize("option", ["rtol", "atol", "safety", "step", "typical", "max_entries"])
def test_bools_are_not_numbers(option: str) -> None:
    with pytest.raises(gc.InvalidArgumentError, match=f"{option}=True"):
        gc.check_grad(ls_loss, ls_grad, X0, **{option: True})


def test_keep_arrays_must_be_a_bool_or_none() -> None:
    with pytest.raises(gc.InvalidArgumentError, match="keep_arrays=1"):
        gc.check_grad(ls_loss, ls_grad, X0, keep_arrays=1)


def test_options_know_whether_tolerances_are_fixed() -> None:
    assert not Options.validated().fixed
    assert Options.validated(atol=0.0).fixed and Options.validated(rtol=1e-3).fixed


# --------------------------------------------------------------------------- statuses
def test_status_labels_are_the_entry_labels() -> None:
    assert STATUS_NAMES == ("ok", "mismatch", "kink", "kink_mismatch", "unresolved")
    assert [s.label for s in Status] == list(STATUS_NAMES)
    # A kink mismatch: the analytic value of |x| at 0 outside [-1, 1].
    r = gc.check_grad(lambda v: float(np.sum(np.abs(v))), lambda v: np.array([2.0, 1.0]), np.array([0.0, 1.0]))
    p = r.params["params"]
    assert Status(int(p.status[0])) is Status.KINK_MISMATCH and p.mismatches[0].status == Status.KINK_MISMATCH.label
    assert Status(int(p.status[1])) is Status.OK


# --------------------------------------------------------------------------- the oracle seam
class ExactOracle:
    """An oracle with no finite differences at all: the true gradient, error 0."""

    name = "exact"

    def __init__(self, true_grad: Any) -> None:
        self.true_grad = true_grad

    def run(self, ctx: Context) -> OracleRun:
        value = np.asarray(self.true_grad(ctx.params.arrays["params"]), dtype=float).reshape(1, -1)
        return OracleRun("exact", [OracleEstimate(value=value, error=np.zeros_like(value))])


def test_an_oracle_without_finite_differences_reaches_the_judge() -> None:
    opts = Options.validated()
    right = _api._run("grad", ls_loss, ls_grad, X0, opts, oracle=ExactOracle(ls_grad))
    assert right.ok and right.method == "exact"
    assert right.params["params"].max_abs_error < 1e-12
    # Only the base point was evaluated: twice at the start, once at the end, for reproducibility.
    assert right.n_evaluations == 3
    wrong = _api._run("grad", ls_loss, lambda x: 2 * ls_grad(x), X0, opts, oracle=ExactOracle(ls_grad))
    assert not wrong.ok
    assert "factor" in (wrong.params["params"].diagnosis or "")


def test_a_directional_oracle_fits_the_same_judge() -> None:
    """m = number of directions: the analytic side projected, the oracle's projections beside it."""
    from gradcheck.judge._compare import judge

    rng = np.random.default_rng(0)
    u = rng.choice([-1.0, 1.0], size=(4, 3))
    g = ls_grad(X0).ravel()
    est = OracleEstimate(value=(u @ g).reshape(-1, 1), error=np.full((4, 1), 1e-12))
    opts = Options.validated()
    # a relative 1e-6 slip in one entry moves every projection by 1.5e-7, far above the bars
    assert judge((u @ (g * [1, 1, 1 + 1e-6])).reshape(-1, 1), est, eps=2.2e-16, options=opts).wrong.all()
    assert not judge((u @ g).reshape(-1, 1), est, eps=2.2e-16, options=opts).wrong.any()


# --------------------------------------------------------------------------- results that scale
def test_a_result_can_hold_a_summary_and_the_named_entries_only() -> None:
    full = gc.check_grad(ls_loss, lambda x: ls_grad(x) * [[1], [1], [1.5]], X0)
    slim = gc.check_grad(ls_loss, lambda x: ls_grad(x) * [[1], [1], [1.5]], X0, keep_arrays=False)
    p, q = full.params["params"], slim.params["params"]
    assert p.arrays is not None and q.arrays is None and q.analytic is None
    assert (q.ok, q.n_mismatched, q.mismatches, q.max_abs_error) == (p.ok, p.n_mismatched, p.mismatches, p.max_abs_error)
    assert "params" in slim.to_json(arrays=True)
    assert gc.GradCheckResult.from_dict(slim.to_dict(arrays=True)).params["params"].arrays is None


def test_results_round_trip_through_their_dicts() -> None:
    r = gc.check_grad(lambda v: float(np.sum(np.maximum(v, 0) * [1.0, 2.0, 3.0])),
                      lambda v: (v > 0) * np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, -1.0]))
    back = gc.GradCheckResult.from_dict(r.to_dict(arrays=True))
    assert back == r
    assert np.array_equal(back.params["params"].abs_errors, r.params["params"].abs_errors)
    assert np.array_equal(back.params["params"].status, r.params["params"].status)


def test_the_report_uses_the_cores_relative_error_at_kink_mismatches() -> None:
    r = gc.check_grad(lambda v: float(np.sum(np.abs(v))), lambda v: np.array([2.0, 1.0]), np.array([0.0, 1.0]))
    p = r.params["params"]
    logs = _model._log_rel_errors(p)
    assert logs[0] == pytest.approx(np.log10(p.mismatches[0].rel_error))


# --------------------------------------------------------------------------- the evaluator's guard
def test_a_write_to_the_input_on_a_late_call_is_still_caught() -> None:
    """Between checkpoints the guard does not compare; the next checkpoint or the end does."""
    calls = {"n": 0}

    def sneaky(v: np.ndarray) -> float:
        calls["n"] += 1
        # A single-entry call (of entry 0), no checkpoint (1..8, 16, 32, ...): found when call 22 steps entry 2.
        if calls["n"] == 20:
            v[2] += 1.0
        return float(np.sum(v**2))

    x = np.arange(5.0)
    with pytest.raises(gc.MutatingFunctionError, match=r"changed at index \(2,\) during one of calls 17 to 21 of this check"):
        gc.check_grad(sneaky, lambda v: 2 * v, x)
    assert np.array_equal(x, np.arange(5.0))


def test_a_write_during_a_directional_call_is_named_at_that_call() -> None:
    calls = {"n": 0}

    def sneaky(v: np.ndarray) -> float:
        calls["n"] += 1
        if calls["n"] == 11:  # inside the noise probe, which moves every entry at once
            v[4] = 0.0
        return float(np.sum(v**2))

    with pytest.raises(gc.MutatingFunctionError, match=r"index \(4,\) during the call at a point perturbed along"):
        gc.check_grad(sneaky, lambda v: 2 * v, np.arange(5.0))


def test_a_write_at_the_last_calls_is_caught_at_the_end() -> None:
    calls = {"n": 0}
    total = gc.check_grad(lambda v: float(np.sum(v**2)), lambda v: 2 * v, np.arange(3.0)).n_evaluations

    def late(v: np.ndarray) -> float:
        calls["n"] += 1
        if calls["n"] == total:
            v[0] = 7.0
        return float(np.sum(v**2))

    with pytest.raises(gc.MutatingFunctionError, match=r"changed at index \(0,\)"):
        gc.check_grad(late, lambda v: 2 * v, np.arange(3.0))


def test_a_write_that_makes_the_loss_raise_is_named_as_the_write() -> None:
    def writes_then_fails(v: np.ndarray) -> float:
        v[1] = np.nan
        raise ValueError("bad")

    with pytest.raises(gc.MutatingFunctionError) as info:
        gc.check_grad(writes_then_fails, lambda v: v, np.ones(3))
    assert isinstance(info.value.__context__, ValueError)


def test_single_entry_evaluations_leave_the_workspace_at_the_base_point() -> None:
    x = np.linspace(-1, 1, 7)
    seen = []
    ev = Evaluator(lambda v: seen.append(v.copy()) or float(v.sum()), ParamSet(x, single_name="x"),
                   scalar=True, fn_name="f")
    ev.base()
    ev.evaluate([Perturbation(0, 3, 0.5), Perturbation(0, 5, -0.25)])
    ev.finish()
    assert np.array_equal(seen[2] - x, np.eye(7)[3] * 0.5)
    assert np.array_equal(seen[3] - x, np.eye(7)[5] * -0.25)


def test_a_jump_with_no_finite_measure_allows_for_nothing() -> None:
    """An infinite jump bar once became a tolerance of 1.8e308 (nan_to_num), accepting anything."""
    from gradcheck.judge._compare import judge

    value = np.array([[1.0, 2.0]])
    est = OracleEstimate(value=value, error=np.full((1, 2), 1e-12), jump=np.array([[np.inf, 0.0]]),
                         jump_error=np.zeros((1, 2)))
    assert judge(value * [[3.0, 1.0]], est, eps=2.2e-16, options=Options.validated()).wrong[0, 0]
