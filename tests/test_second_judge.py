"""Second order judged by the one judge: an unresolved entry is inconclusive, never a crash or a pass."""

from __future__ import annotations

import warnings

import numpy as np

from gradcheck.checks.second import check_hessian


def _sqrt_at_the_domain_edge(step: float) -> object:
    """``sum(sqrt(x))`` at x = 1e-9: a relative step of 1e-17 rounds away beside 1 and 2, and
    the gradient's Jacobian has entries with no finite estimate."""
    x = np.array([1e-9, 1.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # sqrt of a negative probe point: NaN, on purpose
        return check_hessian(
            lambda v: float(np.sum(np.sqrt(v))),
            lambda v: np.diag(-0.25 * v**-1.5),
            x,
            grad=lambda v: 0.5 / np.sqrt(v),
            step=step,
        )


def test_an_unresolved_jacobian_entry_makes_the_hessian_inconclusive_not_a_crash() -> None:
    # Before: the status map had no entry for Status.UNRESOLVED and this raised TypeError.
    r = _sqrt_at_the_domain_edge(1e-17)
    block = r.blocks[("params", "params")]
    assert block.n_mismatched == 0, str(r)
    # the step rounds away: inconclusive, unless a witness that takes no step settles the entry
    assert (r.status == "inconclusive" and not r.ok and block.n_inconclusive > 0) or r.ok, str(r)
    if r.ok:  # settled by a witness that takes no step (the exact derivative of the gradient code)
        assert "settled by" in str(r)
        return
    assert any("no finite estimate" in n for n in r.notes), r.notes
    # every entry that was not judged says so, and none of them passes as "ok"
    judged = block.n_checked - block.n_inconclusive - block.n_kinks
    assert judged < block.n_checked


def test_an_unresolved_hv_entry_does_not_blind_its_neighbours() -> None:
    """One entry of Hv with no estimate (NaN, an infinite bar) sets no scale: the wrong entry
    beside it is still a mismatch (a NaN scale made every tolerance NaN, and NaN > NaN is False)."""
    from gradcheck.checks.second._judge import judge_vector
    from gradcheck.checks.second._layout import Layout
    from gradcheck.core._params import ParamSet
    from gradcheck.core._status import Status

    lay = Layout(ParamSet(np.zeros(3), single_name="params"))
    value = np.array([np.nan, 1.0, 2.0])
    error = np.array([np.inf, 1e-12, 1e-12])
    claim = np.array([0.0, 1.0, 2.5])  # the last entry is 25% off
    found = np.array([Status.UNRESOLVED, Status.OK, Status.OK])
    tol, status = judge_vector(claim, value, error, found, lay, safety=10.0)
    assert [Status(int(s)) for s in status] == [Status.UNRESOLVED, Status.OK, Status.MISMATCH]
    assert np.all(np.isfinite(tol[1:])) and tol[2] < 0.5


def test_second_order_entries_speak_the_status_vocabulary() -> None:
    """Per-entry labels are Status labels, as for gradients; the stencil's outcomes are Status members."""
    from gradcheck.checks.second._fd import FlatLoss, mixed
    from gradcheck.core._params import ParamSet
    from gradcheck.core._status import STATUS_NAMES, Status

    f = FlatLoss(lambda v: float(np.sum(v**2)), ParamSet(np.ones(2), single_name="params"), "q")
    est = mixed(f, f(f.x0), np.array([0.01, 0.0]), np.array([0.0, 0.01]), h=1.0, noise=1e-16)
    assert isinstance(est.status, Status) and est.status is Status.OK
    r = _sqrt_at_the_domain_edge(1e-17)
    block = r.blocks[("params", "params")]
    assert block.worst.status in STATUS_NAMES
    d = r.to_dict()
    assert {e["status"] for b in d["blocks"] for e in [b["worst"], *b["mismatches"], *b["kinks"]]} <= set(STATUS_NAMES)


def test_a_wide_tolerance_is_inconclusive_even_where_the_claim_is_off() -> None:
    """Hv: an entry whose bar is wider than RESOLVE of its scale is unresolved, whatever the claim."""
    from gradcheck.checks.second._judge import RESOLVE, judge_vector
    from gradcheck.checks.second._layout import Layout
    from gradcheck.core._params import ParamSet
    from gradcheck.core._status import Status

    lay = Layout(ParamSet(np.zeros(2), single_name="params"))
    value, claim = np.array([1.0, 1.0]), np.array([1.0, 3.0])
    error = np.array([1e-12, RESOLVE])  # 10 x RESOLVE of the scale: too wide to tell
    _, status = judge_vector(claim, value, error, np.array([Status.OK, Status.OK]), lay, safety=10.0)
    assert [Status(int(s)) for s in status] == [Status.OK, Status.UNRESOLVED]
