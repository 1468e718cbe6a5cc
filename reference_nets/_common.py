"""Helpers shared by the reference derivations: float activations and their slopes,
and drawing instances whose ReLU pre-activations stay clear of the kink.

The *losses* never use these float helpers: they call ``xp.*`` so the same code runs
on sympy object arrays. Only the hand-derived backward passes (plain numpy) do.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gradcheck.ops import ArrayOps, numpy_ops

# Default distance that every ReLU pre-activation of a *default* instance keeps from 0.
# Finite differences with steps around 1e-6..1e-5 never cross a kink this far away, so
# default instances are smooth; the checker's kink handling is exercised elsewhere.
KINK_MARGIN = 1e-3


def activation(name: str, xp: ArrayOps = numpy_ops) -> Callable[[object], object]:
    """The elementwise activation called ``name`` in the backend ``xp``."""
    table = {"sigmoid": xp.sigmoid, "tanh": xp.tanh, "relu": xp.relu}
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"activation={name!r}: expected one of {sorted(table)}") from None


def activation_slope(name: str, z: np.ndarray) -> np.ndarray:
    """f'(z) for the float activations; ReLU uses the slope 0 at exactly 0 (h > 0 mask)."""
    if name == "sigmoid":
        s = numpy_ops.sigmoid(z)
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if name == "relu":
        return (z > 0).astype(np.float64)
    raise ValueError(f"activation={name!r}: expected 'sigmoid', 'tanh' or 'relu'")


def sigmoid(z: np.ndarray) -> np.ndarray:
    return numpy_ops.sigmoid(z)


def clear_of_kinks(
    draw: Callable[[], tuple[dict, dict]],
    preactivations: Callable[[dict, dict], list[np.ndarray]],
    margin: float = KINK_MARGIN,
    attempts: int = 500,
    min_active: float = 0.25,
) -> tuple[dict, dict]:
    """Redraw ``(params, data)`` until every ReLU pre-activation is at least ``margin`` from 0.

    Redrawing (rather than nudging) keeps the instance distributed like the plain draw,
    conditioned on being smooth. Each layer must also have at least ``min_active`` of its
    units active, so that the gradient checked is not trivially zero (a dead layer
    makes every gradient below it vanish and any wrong formula would pass).
    """
    for _ in range(attempts):
        params, data = draw()
        zs = [np.asarray(z) for z in preactivations(params, data)]
        clear = all(np.min(np.abs(z)) >= margin for z in zs if z.size)
        alive = all(np.mean(z > 0) >= min_active for z in zs if z.size)
        if clear and alive:
            return params, data
    raise RuntimeError(f"could not draw an instance with pre-activations {margin} away from 0")
