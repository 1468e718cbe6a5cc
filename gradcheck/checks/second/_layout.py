"""The layout of a claimed second-derivative matrix over ``vec(params)``, and calls to the hand functions.

Layout of a claimed Hessian (``hess(params)``):

* one array parameter ``x``: an array of shape ``x.shape + x.shape`` with
  ``H[i..., j...] = d^2 loss / dx[i...] dx[j...]`` (a 2-D ``(x.size, x.size)`` matrix over the
  row-major ``vec(x)`` is accepted too);
* a dict of parameters: a dict ``{(a, b): block}`` over every ordered pair of names, block
  ``(a, b)`` of shape ``a.shape + b.shape`` (or ``(a.size, b.size)``) holding
  ``d^2 loss / da db``. Both ``(a, b)`` and ``(b, a)`` are required: a claim is checked as
  written, and a transposed block is a slip worth catching.

Holds :class:`Layout` (names, shapes, flat slices), :class:`Claim` (a claimed matrix with its
layout), the parsing of claims and the guarded calls to the user's functions. May import
gradcheck's core modules (``_errors``, ``_params``, ``_result``) and ``._settings``; nothing
that judges.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core._errors import (
    GradientStructureError,
    LossRaisedError,
    MutatingFunctionError,
    NonFiniteError,
    ParameterError,
    ShapeMismatchError,
)
from ...core._params import ParamSet, first_nonfinite
from ...judge._result import GradCheckResult
from ._settings import fn_name

__all__ = ["Claim", "Layout", "as_block", "asymmetry", "call", "claimed_matrix", "flat_grad", "param_of"]


class Layout:
    """Names, shapes and flat offsets of the parameters; blocks of an (N, N) matrix."""

    def __init__(self, ps: ParamSet) -> None:
        self.ps = ps
        self.names = list(ps.names)
        self.shapes = {n: ps.arrays[n].shape for n in self.names}
        sizes = ps.sizes
        offs = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.slices = {n: slice(int(offs[k]), int(offs[k + 1])) for k, n in enumerate(self.names)}
        self.n = int(offs[-1])

    def pairs(self) -> list[tuple[str, str]]:
        return [(a, b) for a in self.names for b in self.names]

    def block(self, m: np.ndarray, a: str, b: str) -> np.ndarray:
        return m[self.slices[a], self.slices[b]]

    def flat(self, value: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([np.asarray(value[n], dtype=np.float64).ravel() for n in self.names])

    def unflat(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return {n: x[self.slices[n]].reshape(self.shapes[n]).copy() for n in self.names}


@dataclass(frozen=True)
class Claim:
    """A claimed matrix (Hessian or Gauss-Newton) as one ``(N, N)`` array over ``vec(params)``,
    with its layout and the name of the function it is claimed for."""

    lay: Layout
    matrix: np.ndarray
    function: str


def call(fn: Callable[..., Any], ps: ParamSet, fname: str, *extra: Any) -> Any:
    """Call a hand-derived function on private copies; raising or mutating is named."""
    copies = ps.copies()
    try:
        value = fn(ps.pack(copies), *extra)
    except Exception as exc:
        raise LossRaisedError(f"{fname} raised {type(exc).__name__}: {exc}") from exc
    for n in ps.names:
        if not np.array_equal(copies[n], ps.arrays[n]):
            raise MutatingFunctionError(f"{fname} modified its input: parameter {n!r} changed")
    return value


def as_block(value: Any, shape: tuple[int, ...], two_d: tuple[int, int], what: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except Exception as exc:
        raise ShapeMismatchError(f"{what} is not an array ({exc})") from exc
    if arr.dtype.kind not in "biuf":
        raise ParameterError(f"{what} has dtype {arr.dtype}; expected real numbers")
    if arr.shape != shape and arr.shape != two_d:
        raise ShapeMismatchError(f"{what} has shape {arr.shape}, expected {shape} (or the 2-D {two_d})")
    found = first_nonfinite(np.asarray(arr, dtype=np.float64))
    if found:
        raise NonFiniteError(
            f"{what} has {found[0]} non-finite entr{'y' if found[0] == 1 else 'ies'}; "
            f"first at index {found[1]} = {found[2]}"
        )
    return np.array(arr, dtype=np.float64).reshape(two_d)


def claimed_matrix(value: Any, lay: Layout, fname: str) -> np.ndarray:
    """The claimed Hessian (or Gauss-Newton matrix) as one (N, N) matrix over vec(params)."""
    ps = lay.ps
    if ps.single:
        x = lay.names[0]
        if isinstance(value, Mapping):
            raise GradientStructureError(
                f"{fname} returned a mapping, but params is a single array: return "
                f"an array of shape {lay.shapes[x] * 2} (x.shape + x.shape)"
            )
        size = ps.arrays[x].size
        return as_block(value, lay.shapes[x] * 2, (size, size), f"{fname}: the Hessian")
    if not isinstance(value, Mapping):
        raise GradientStructureError(
            f"{fname} returned {type(value).__name__}; expected a dict {{(a, b): block}} over the pairs of {lay.names}"
        )
    want = lay.pairs()
    bad_keys = [k for k in value if k not in want]
    missing = [k for k in want if k not in value]
    if bad_keys or missing:
        bits = ([f"missing block(s) {missing}"] if missing else []) + (
            [f"unknown key(s) {bad_keys}"] if bad_keys else []
        )
        raise GradientStructureError(
            f"{fname} returned blocks with {' and '.join(bits)}; expected every ordered "
            f"pair (a, b) of {lay.names} (both (a, b) and (b, a))"
        )
    out = np.empty((lay.n, lay.n))
    for a, b in want:
        na, nb = ps.arrays[a].size, ps.arrays[b].size
        what = f"{fname}: block ({a!r}, {b!r})"
        arr = np.asarray(value[(a, b)])
        if arr.shape == lay.shapes[b] + lay.shapes[a] and arr.shape != lay.shapes[a] + lay.shapes[b]:
            raise ShapeMismatchError(
                f"{what} has shape {arr.shape}, expected {lay.shapes[a] + lay.shapes[b]} "
                f"(a.shape + b.shape); that is the shape of block ({b!r}, {a!r}): transposed "
                "block?"
            )
        out[lay.slices[a], lay.slices[b]] = as_block(arr, lay.shapes[a] + lay.shapes[b], (na, nb), what)
    return out


def param_of(res: GradCheckResult, lay: Layout, name: str) -> Any:
    """The core names a single array parameter itself; ours is called 'params'."""
    return next(iter(res.params.values())) if lay.ps.single else res.params[name]


def flat_grad(grad: Callable[[Any], Any], lay: Layout) -> Callable[[Any], np.ndarray]:
    def g(p: Any) -> np.ndarray:
        value = grad(p)
        parts = {lay.names[0]: value} if lay.ps.single else value
        return np.concatenate([np.asarray(parts[n], dtype=np.float64).ravel() for n in lay.names])

    g.__qualname__ = fn_name(grad, None)
    return g



def asymmetry(c: np.ndarray) -> float:
    """``max |C - C^T| / max |C|``; 1e-300 only keeps an all-zero matrix from dividing by zero."""
    return float(np.abs(c - c.T).max() / max(float(np.abs(c).max()), 1e-300))
