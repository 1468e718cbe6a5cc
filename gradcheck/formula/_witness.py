"""Pieces shared by the verdict, the slip finder and the text: the problem as numpy functions,
and which point tells most."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._eval import Env, NumpyBackend, evaluate
from ._spec import Spec

__all__ = ["Compiled", "degenerate", "telling_point"]


class Compiled:
    """The loss and claims as numpy functions of ``{param: array}``; data held fixed."""

    def __init__(self, spec: Spec, dims: Mapping[str, int], data: Mapping[str, np.ndarray], scalar: bool) -> None:
        self.spec, self.dims, self.data, self.scalar = spec, dict(dims), dict(data), scalar

    def _env(self, params: Mapping[str, np.ndarray]) -> Env:
        return Env({**self.data, **params}, self.spec.defs, self.dims)

    def loss(self, params: Mapping[str, np.ndarray]) -> Any:
        with np.errstate(all="ignore"):
            out = evaluate(self.spec.loss, self._env(params), NumpyBackend())
        out = np.asarray(out)
        return out.reshape(()) if self.scalar else out

    def grads(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        env = self._env(params)
        with np.errstate(all="ignore"):
            return {
                k: np.asarray(evaluate(node, env, NumpyBackend()), dtype=np.float64)
                for k, node in self.spec.grads.items()
            }


def degenerate(sizes: Mapping[str, int]) -> bool:
    """All-ones drawn sizes: an extra witness, never the only one."""
    return bool(sizes) and all(v == 1 for v in sizes.values())


def telling_point(runs: Sequence[Any]) -> Any:
    """The failing point that tells most: the largest size where the claim mismatched (a 1x1 size
    shows every wrong gradient as a multiple of the right one), else the largest shape error."""
    for kind in ("mismatch", "shape"):
        bad = [p for p in runs if p.status == kind]
        if bad:
            return max(bad, key=lambda p: (p.entries, -p.seed))
    return None
