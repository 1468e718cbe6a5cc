"""Second order judged by the one judge: an unresolved entry is inconclusive, never a crash or a pass."""

from __future__ import annotations

import warnings

import numpy as np

from gradcheck._second import check_hessian


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
    assert r.status == "inconclusive" and not r.ok, str(r)
    block = r.blocks[("params", "params")]
    assert block.n_inconclusive > 0 and block.n_mismatched == 0
    assert any("no finite estimate" in n for n in r.notes), r.notes
    # every entry that was not judged says so, and none of them passes as "ok"
    judged = block.n_checked - block.n_inconclusive - block.n_kinks
    assert judged < block.n_checked
