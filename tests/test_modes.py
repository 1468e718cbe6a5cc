"""check_grad chooses per-entry or directional checking by size, or as told."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck as gc

W = np.random.default_rng(3).normal(size=(400, 300))  # 120,000 entries: above the per-entry limit


def loss(w: np.ndarray) -> float:
    return float(np.sum(np.sin(w)) + 0.5 * np.sum(w * w))


def grad(w: np.ndarray) -> np.ndarray:
    return np.cos(w) + w


def test_auto_checks_a_large_parameter_along_directions_and_names_a_wrong_entry() -> None:
    from gradcheck.checks._first_order import AUTO_DIRECTIONAL_ABOVE

    assert W.size > AUTO_DIRECTIONAL_ABOVE
    right = gc.check_grad(loss, grad, W, method="auto")
    assert isinstance(right, gc.DirectionalResult) and right.ok, str(right)

    def slipped(w: np.ndarray) -> np.ndarray:
        g = grad(w)
        g[123, 45] *= 1 + 1e-4
        return g

    wrong = gc.check_grad(loss, slipped, W, method="auto")
    assert wrong.verdict == "FAIL"
    assert [e.index for e in wrong.mismatches["params"]] == [(123, 45)]
    with pytest.raises(gc.GradientMismatch, match=r"\(123, 45\)"):
        gc.assert_grad(loss, slipped, W, method="auto")


def test_small_parameters_are_checked_entry_by_entry_unless_asked() -> None:
    x = np.linspace(-1, 1, 5)
    assert isinstance(gc.check_grad(loss, grad, x), gc.GradCheckResult)
    assert isinstance(gc.check_grad(loss, grad, x, mode="directional"), gc.DirectionalResult)


@pytest.mark.parametrize("options,match", [({"mode": "fast"}, "mode='fast'"),
                                           ({"mode": "directional", "rtol": 1e-3}, "takes no rtol"),
                                           ({"mode": "directional", "directional": 3}, "directional=3")])
def test_mode_errors_are_named(options: dict, match: str) -> None:
    with pytest.raises(gc.InvalidArgumentError, match=match):
        gc.check_grad(loss, grad, np.ones(3), **options)
