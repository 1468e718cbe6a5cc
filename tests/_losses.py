"""Losses shared by several test modules (pytest puts ``tests/`` on the path)."""

from __future__ import annotations

import numpy as np


def class0_cross_entropy(s: np.ndarray) -> float:
    """-log softmax(s)[0], max-shifted: for s[0] far above the rest, a tiny result of O(s[0]) terms,
    whose rounding is ~eps * s[0], not ~eps * |loss| (and 0.0 exactly once s[0] - max(rest) > ~37)."""
    m = s.max()
    return float(m + np.log(np.sum(np.exp(s - m))) - s[0])


def class0_cross_entropy_grad(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max())
    return e / e.sum() - np.eye(len(s))[0]


def assert_no_false_alarm(result: object, resolution: float = 1e-6) -> None:
    """A correct gradient is never flagged. Where the check cannot resolve ``resolution``
    it says ``inconclusive`` instead of ``ok``, and it must say why."""
    assert not result.failed, result.summary()  # type: ignore[attr-defined]
    for p in result.params.values():  # type: ignore[attr-defined]
        if p.verdict == "inconclusive":
            assert p.inconclusive, result.summary()  # type: ignore[attr-defined]
            assert p.resolution > resolution or "no finite estimate" in p.inconclusive, result.summary()  # type: ignore[attr-defined]
        else:
            assert p.verdict == "pass" and p.resolution <= resolution
