"""The symbolic oracle as an agreement oracle, and the honesty of finite differences' error bars.

``symbolic_oracle`` has the shape of the ``ORACLES`` entries of test_agreement.py (value, error,
kink): its error is the float64 evaluation's rounding bound, its kink mask the exact ties.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradcheck
from gradcheck import mutations, symbolic
from gradcheck.registry import Derivation, Problem

from ._support import by_name, examples
from .test_agreement import ORACLES, OracleEstimate, disagreements

SMALL = 400
"""Derivations with more entries than this are left to the benchmark: sympy alone must stay CI-fast."""


def symbolic_oracle(bound: mutations.Bound) -> OracleEstimate | None:
    run = symbolic.gradient if bound.kind == "grad" else symbolic.jacobian
    d = run(bound.loss, bound.problem.params, max_entries=SMALL)
    if not d.ok:
        return None
    return OracleEstimate(d.value, d.error, d.kink)


def _small(d: Derivation) -> bool:
    p = d.problem(0)
    return sum(np.size(v) for v in p.params.values()) <= 40


@examples(0.3)
@pytest.mark.parametrize("d", by_name(_small))
@given(seed=st.integers(0, 2**16), c=st.sampled_from([0.5, 1.0, 2.0]))
def test_symbolic_agrees_with_every_fd_scheme_within_their_errors(d: Derivation, seed: int, c: float) -> None:
    base = d.problem(seed)
    bound = mutations.bind(d, Problem({k: c * v for k, v in base.params.items()}, base.data))
    sym = symbolic_oracle(bound)
    assert sym is not None
    for name in ("richardson", "central"):
        est = ORACLES[name](bound)
        assert est is not None
        bad = disagreements(sym, est)
        assert not bad, f"symbolic vs {name}: " + "; ".join(bad)


@examples(0.3)
@pytest.mark.parametrize("name", ["least_squares.x", "sigmoid_layer.column", "logistic.loss", "relu_softmax.ce_mean"])
@given(seed=st.integers(0, 2**16), c=st.sampled_from([0.1, 1.0, 10.0]))
def test_stated_fd_error_bounds_the_true_error_for_nearly_all_entries(name: str, seed: int, c: float) -> None:
    """|richardson - exact| <= 10 x stated error (the verdict's tolerance) on at least 99% of entries."""
    from gradcheck import registry

    d = registry.get(name)
    base = d.problem(seed)
    problem = Problem({k: c * v for k, v in base.params.items()}, base.data)
    f, _ = d.bind(problem)
    exact = symbolic.gradient(f, problem.params)
    est = gradcheck.numerical_grad(f, problem.params)
    over, total = 0, 0
    for k, v in est.value.items():
        smooth = ~(est.kink[k] | exact.kink[k])
        true = np.abs(v - exact.value[k])[smooth]
        over += int(np.count_nonzero(true > 10 * est.error[k][smooth] + exact.error[k][smooth]))
        total += int(true.size)
    assert over <= max(1, total // 100), f"{over} of {total} entries beyond 10x their stated error"
