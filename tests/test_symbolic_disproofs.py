"""Every published slip is disproved symbolically, with an exact certificate, fast enough for CI."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from gradcheck import mutations, registry, symbolic
from gradcheck.symbolic import Status
from tests.test_symbolic_registry import TINY

PUBLISHED = [d.name for d in registry.derivations() if not d.expected_correct]
CORRECTED = sorted({registry.get(n).corrects for n in PUBLISHED} - {None})


def _wrong_params(d, problem) -> set[str]:
    """Parameters whose hand derivative differs from the exact one by more than 1e-6 (float64 evidence)."""
    exact = symbolic.derivation_gradient(d, problem).value
    hand = mutations.bind(d, problem).derivative(problem.params)
    scale = max(float(np.abs(v).max()) for v in exact.values())
    return {k for k in exact if float(np.abs(hand[k] - exact[k]).max()) > 1e-6 * scale}


def test_every_published_slip_is_covered() -> None:
    # the seed documents' slips, and a convention mixed up (symmetric.entries_convention): each
    # says what went wrong and which derivation corrects it
    assert len(PUBLISHED) >= 10 and all(registry.get(n).slip and registry.get(n).corrects for n in PUBLISHED)


@pytest.mark.parametrize("name", PUBLISHED)
def test_each_published_slip_is_disproved_with_an_interval_that_excludes_zero(name: str) -> None:
    d = registry.get(name)
    problem = d.problem(1, **TINY.get(name, {}))
    proof = symbolic.disprove_derivation(d, problem)
    assert proof.status == Status.DISPROVED, str(proof)
    disproved = {k for k, p in proof.params.items() if p.status == Status.DISPROVED}
    assert disproved == _wrong_params(d, problem)          # exactly the wrong parameters, no others
    exact = symbolic.derivation_gradient(d, problem).value
    hand = mutations.bind(d, problem).derivative(problem.params)
    for k in disproved:
        p = proof.params[k]
        assert p.index is not None and p.counterexample is not None and "not 0" in p.certificate
        lo, hi = p.interval
        assert lo > 0 or hi < 0                             # the exact difference is nonzero
        assert hi - lo <= mpmath.mpf(10) ** -40 * max(abs(lo), abs(hi))
        # the certified value is the float64 difference at that entry, to rounding
        diff = float(hand[k][p.index] - exact[k][p.index])
        assert abs(diff - float(lo)) <= 1e-9 * max(1.0, float(np.abs(exact[k]).max()))
    for k in set(proof.params) - disproved:
        assert proof.params[k].status == Status.NA and "not disproved" in proof.params[k].reason


@pytest.mark.parametrize("name", CORRECTED)
def test_the_corrected_derivations_are_never_disproved(name: str) -> None:
    d = registry.get(name)
    proof = symbolic.disprove_derivation(d, d.problem(1, **TINY.get(name, {})))
    # n/a either way: screened and found right at the point, or a backward pass that does not run on symbols
    assert all(p.status == Status.NA and ("not disproved" in p.reason or "does not run on symbols" in p.reason)
               for p in proof.params.values()), str(proof)


def test_a_slip_of_one_part_in_ten_million_in_one_entry_is_certified() -> None:
    rng = np.random.default_rng(0)
    A, b = rng.normal(size=(4, 3)), rng.normal(size=4)
    x = rng.normal(size=3)

    def grad(v):
        g = 2 * A.T @ (A @ v - b)
        return g * np.array([1.0, 1.0 + 1e-7, 1.0])         # entry 1 off by a relative 1e-7

    proof = symbolic.disprove(lambda v: np.sum((A @ v - b) ** 2), grad, x)
    p = proof.params["params"]
    assert p.status == Status.DISPROVED and p.index == (1,)
    lo, hi = p.interval
    g1 = (2 * A.T @ (A @ x - b))[1]
    assert (lo > 0 or hi < 0) and abs(float(lo) - 1e-7 * g1) <= 1e-12 * abs(g1)
    # the certificate is exact arithmetic: a float hand-gradient that is right to rounding is not disproved
    right = symbolic.disprove(lambda v: np.sum((A @ v - b) ** 2), lambda v: 2 * A.T @ (A @ v - b), x)
    assert right.params["params"].status == Status.NA


def test_prove_derivation_disproves_a_published_hessian_too() -> None:
    """Jacobian derivations were n/a; the hand Jacobian is now compared entry by entry in numerator layout."""
    d = registry.get("second_order.published_quadratic_2M")
    proof = symbolic.prove_derivation(d, d.problem(1, **TINY[d.name]))
    assert proof.status == Status.DISPROVED and proof.params["x"].interval is not None


def test_disprove_options_are_validated() -> None:
    from gradcheck.core._errors import InvalidArgumentError

    d = registry.get("least_squares.x")
    with pytest.raises(InvalidArgumentError, match="max_ops"):
        symbolic.disprove_derivation(d, max_ops=3)
    with pytest.raises(InvalidArgumentError, match="max_entries=0"):
        symbolic.disprove(lambda v: np.sum(v ** 2), lambda v: 2 * v, np.ones(2), max_entries=0)
    na = symbolic.disprove(lambda v: np.sum(v ** 2), lambda v: 2 * v, np.ones(5), max_entries=3)
    assert na.status == Status.NA and "max_entries=3" in na.params["params"].reason
