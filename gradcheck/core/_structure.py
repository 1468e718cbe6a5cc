"""Structured parameters: symmetric matrices, triangles, diagonals.

A symmetric ``S`` has only its lower triangle free: a finite difference must move ``S[i, j]``
and ``S[j, i]`` together, and what the analytic gradient means depends on a convention that
textbooks disagree on. Each structure here names its free coordinates, how a point is
built from them, and how a claimed gradient ``D`` (of ``S``'s shape) becomes the derivative
with respect to those coordinates, so the ordinary check runs on the free coordinates:

* ``"symmetric"``: ``D`` is the gradient for the Frobenius inner product on symmetric
  matrices, ``dL = <D, dS>`` for every symmetric ``dS`` (``(G + G^T) / 2`` for an
  unconstrained gradient ``G``); moving ``S[i, j]`` and ``S[j, i]`` together by ``h`` moves
  the loss by ``(D[i, j] + D[j, i]) h``.
* ``"symmetric-entries"``: ``D[i, j]`` is the derivative with respect to the distinct entry
  ``S[i, j] = S[j, i]`` (the Matrix Cookbook's ``G + G^T - G o I``); the lower triangle of ``D``
  is compared.
* ``"lower"`` / ``"upper"``: a triangular parameter; only that triangle moves and is compared
  (the rest of ``D`` is ignored, the rest of ``S`` stays as given).
* ``"diagonal"``: only the diagonal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._errors import InvalidArgumentError

__all__ = ["STRUCTURES", "STRUCTURE_TAG", "Structure", "structure_from_tags", "structured"]

STRUCTURES = {
    "symmetric": "moved as symmetric pairs; the analytic gradient D is taken with dL = <D, dS> for symmetric dS "
                 "((G + G^T)/2): S[i, j] and S[j, i] moved together must change the loss by D[i, j] + D[j, i]",
    "symmetric-entries": "moved as symmetric pairs; D[i, j] is the derivative with respect to the distinct entry "
                         "S[i, j] = S[j, i] (G + G^T - diag(G)): its lower triangle is compared",
    "lower": "only the lower triangle (with the diagonal) moves and is compared",
    "upper": "only the upper triangle (with the diagonal) moves and is compared",
    "diagonal": "only the diagonal moves and is compared",
}


STRUCTURE_TAG = "structure:"
"""A registered derivation declares a structured parameter with a tag ``"structure:S=symmetric"``:
the checks that bind it (:func:`gradcheck.mutations.bind`) pass ``structure={"S": "symmetric"}``."""


def structure_from_tags(tags: Any, *, where: str = "tags") -> dict[str, str]:
    """The ``structure=`` mapping declared by ``"structure:NAME=KIND"`` tags (other tags ignored)."""
    out: dict[str, str] = {}
    for tag in tags or ():
        if not (isinstance(tag, str) and tag.startswith(STRUCTURE_TAG)):
            continue
        name, eq, kind = tag[len(STRUCTURE_TAG):].partition("=")
        if not eq or not name or kind not in STRUCTURES:
            known = ", ".join(map(repr, STRUCTURES))
            raise InvalidArgumentError(f"{where}: tag {tag!r}: expected 'structure:NAME=KIND' with KIND one of {known}")
        out[name] = kind
    return out


@dataclass(frozen=True)
class Structure:
    """One parameter's structure: its free coordinates ``(rows, cols)`` and the convention."""

    kind: str
    shape: tuple[int, int]
    rows: np.ndarray
    cols: np.ndarray

    @classmethod
    def make(cls, name: str, kind: str, value: np.ndarray) -> Structure:
        if kind not in STRUCTURES:
            known = ", ".join(map(repr, STRUCTURES))
            raise InvalidArgumentError(f"structure[{name!r}]={kind!r}: expected one of {known}")
        if value.ndim != 2 or value.shape[0] != value.shape[1]:
            raise InvalidArgumentError(f"structure[{name!r}]={kind!r}: parameter {name!r} has shape {value.shape}; "
                                       f"a {kind} structure needs a square matrix")
        n = value.shape[0]
        if kind == "diagonal":
            rows = cols = np.arange(n)
        elif kind == "upper":
            rows, cols = np.triu_indices(n)
        else:
            rows, cols = np.tril_indices(n)
        if kind.startswith("symmetric") and not np.array_equal(value, value.T):
            i, j = (int(k) for k in np.argwhere(value != value.T)[0])
            raise InvalidArgumentError(f"structure[{name!r}]={kind!r}: parameter {name!r} is not symmetric "
                                       f"(S[{i}, {j}] = {value[i, j]!r} but S[{j}, {i}] = {value[j, i]!r})")
        return cls(kind, (n, n), rows, cols)

    def free(self, S: np.ndarray) -> np.ndarray:
        return S[self.rows, self.cols].copy()

    def embed(self, v: np.ndarray, base: np.ndarray) -> np.ndarray:
        """The matrix at free coordinates ``v`` (entries outside the structure as in ``base``)."""
        S = np.array(base, dtype=np.result_type(base, v), copy=True)
        S[self.rows, self.cols] = v
        if self.kind.startswith("symmetric"):
            S[self.cols, self.rows] = v
        if isinstance(v, np.ndarray) and type(v) is not np.ndarray:
            S = S.view(type(v))  # a subclass the coordinates came in (the symbolic tracer's) reaches the loss
        return S

    def project(self, D: Any) -> Any:
        """A claimed gradient of ``S``'s shape as the derivative with respect to the free coordinates.
        Anything else is passed through, for the shape check to name it."""
        D = np.asarray(D)
        if D.shape != self.shape:
            return D
        if self.kind == "symmetric":
            off = self.rows != self.cols
            return np.where(off, D[self.rows, self.cols] + D[self.cols, self.rows], D[self.rows, self.cols])
        return D[self.rows, self.cols]

    def index(self, k: int) -> tuple[int, int]:
        return int(self.rows[k]), int(self.cols[k])

    def expand(self, v: np.ndarray, *, per_entry: bool = True) -> np.ndarray | None:
        """Free-coordinate values of a symmetric structure as a matrix of ``S``'s shape, in the
        convention's own terms: the pair's value at both ``(i, j)`` and ``(j, i)``, halved off the
        diagonal for ``"symmetric"`` (whose free derivative is ``D[i, j] + D[j, i]``) when
        ``per_entry``. ``per_entry=False`` copies without halving (statuses; tolerances, where the
        pair's whole tolerance at each entry is the conservative reading). ``None`` for the
        triangular and diagonal structures, whose other entries have no value."""
        v = np.asarray(v)
        if not self.kind.startswith("symmetric") or v.shape != self.rows.shape:
            return None
        if per_entry and self.kind == "symmetric":
            v = np.where(self.rows != self.cols, v / 2, v)
        out = np.zeros(self.shape, dtype=v.dtype)
        out[self.rows, self.cols] = v
        out[self.cols, self.rows] = v
        return out


Fn = Callable[[Any], Any]


def structured(loss: Fn, grad: Fn, params: Any,
               structure: Mapping[str, str]) -> tuple[Fn, Fn, Any, dict[str, Structure]]:
    """``loss``, ``grad`` and ``params`` over the free coordinates of the structured parameters."""
    single = not isinstance(params, Mapping)
    named = {"params": params} if single else dict(params)
    if not isinstance(structure, Mapping):
        raise InvalidArgumentError(f"structure={structure!r}: expected a mapping parameter name -> structure")
    unknown = set(structure) - set(named)
    if unknown:
        raise InvalidArgumentError(f"structure has key(s) {sorted(unknown)} that are not parameters {list(named)}")
    base = {k: np.array(v, dtype=float) for k, v in named.items()}
    kinds = {k: Structure.make(k, s, base[k]) for k, s in structure.items()}

    def full(p: Mapping[str, np.ndarray]) -> Any:
        out = {k: (kinds[k].embed(v, base[k]) if k in kinds else v) for k, v in p.items()}
        return out["params"] if single else out

    def free_loss(p: Mapping[str, np.ndarray]) -> Any:
        return loss(full(p))

    def free_grad(p: Mapping[str, np.ndarray]) -> Any:
        g = grad(full(p))
        if single:
            g = {"params": g}
        if not isinstance(g, Mapping):
            return g  # the structure check names it
        return {k: (kinds[k].project(v) if k in kinds else v) for k, v in g.items()}

    free_params = {k: (kinds[k].free(base[k]) if k in kinds else named[k]) for k in named}
    return free_loss, free_grad, free_params, kinds
