"""Random points for the oracles: well-conditioned values of each name's structure.

Below both ``_verify`` (finite differences) and ``_symbolic`` (the point where a claim is
first evaluated), so neither has to import the other.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._spec import Spec

__all__ = ["draw_value", "draw_point"]


def draw_value(shape: tuple[int, ...], structure: str | None, rng: np.random.Generator) -> np.ndarray:
    """A well-conditioned random value: matrices as U diag(s) V^T with singular values in [0.5, 2]."""
    if structure == "positive":
        return rng.uniform(0.5, 2.0, size=shape)
    if structure == "labels":
        return rng.integers(0, 12, size=shape).astype(np.float64)
    if structure == "unit":
        return rng.uniform(0.1, 0.9, size=shape)
    if structure == "sign":
        return rng.choice([-1.0, 1.0], size=shape)
    if structure == "onehot":
        out = np.zeros(shape)
        if out.ndim == 0:
            return np.asarray(1.0)
        if out.ndim == 2 and shape[1] == 1:  # a column (k, 1) is one label's indicator, not k rows of width 1
            out[rng.integers(0, shape[0]), 0] = 1.0
            return out
        rows = out.reshape(-1, shape[-1])
        rows[np.arange(rows.shape[0]), rng.integers(0, shape[-1], size=rows.shape[0])] = 1.0
        return rows.reshape(shape)
    if structure in ("lower", "upper", "diagonal"):
        n = shape[0]
        d = np.diag(rng.uniform(0.5, 2.0, size=n))
        if structure == "diagonal":
            return d
        low = np.tril(rng.normal(scale=0.5, size=(n, n)), -1) + d
        return low if structure == "lower" else low.T
    if structure in ("spd", "symmetric", "symmetric-entries"):
        n = shape[0]
        q, _ = np.linalg.qr(rng.normal(size=(n, n)))
        lam = rng.uniform(0.5, 2.0, size=n)
        if structure != "spd":
            lam = lam * rng.choice([-1.0, 1.0], size=n)
        m = (q * lam) @ q.T
        return (m + m.T) / 2  # exactly symmetric: the core refuses a structured point off its structure
    if len(shape) == 2 and min(shape) > 1:
        m, n = shape
        u, _ = np.linalg.qr(rng.normal(size=(m, m)))
        v, _ = np.linalg.qr(rng.normal(size=(n, n)))
        s = rng.uniform(0.5, 2.0, size=min(m, n)) * rng.choice([-1.0, 1.0], size=min(m, n))
        return (u[:, : len(s)] * s) @ v[:, : len(s)].T
    return rng.normal(size=shape)


def draw_point(
    spec: Spec, shapes: Mapping[str, tuple[int, ...]], rng: np.random.Generator, positive: bool = False
) -> dict[str, np.ndarray]:
    out = {}
    for name, shape in shapes.items():
        if name in spec.values:
            out[name] = spec.values[name].copy()
            continue
        kind = spec.structure.get(name) or ("positive" if positive else None)
        out[name] = draw_value(shape, kind, rng)
    return out
