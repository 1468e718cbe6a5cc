"""Jacobian layouts, converted in one place.

gradcheck compares Jacobians in numerator layout, ``out.shape + x.shape``. A user's (or
a derivation's) Jacobian may come in denominator layout, ``x.shape + out.shape``, or as a
2-D matrix with respect to ``vec()`` taken row-major (``order="C"``) or column-major
(``order="F"``), as in Kronecker identities.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._errors import ShapeMismatchError

__all__ = ["to_numerator"]


def to_numerator(arr: Any, out_shape: tuple[int, ...], pshape: tuple[int, ...], *, layout: str, order: str | None,
                 where: str) -> np.ndarray:
    """``arr`` in numerator layout. A full-shape array of the wrong shape is returned as it
    is, for the caller's shape check to report against the numerator shape; a 2-D ``vec``
    matrix of the wrong shape raises :class:`ShapeMismatchError` here (``where`` names the
    function and parameter in the message)."""
    arr = np.asarray(arr)
    if order is not None:
        m, n = int(np.prod(out_shape)), int(np.prod(pshape))
        want = (n, m) if layout == "denominator" else (m, n)
        if arr.shape != want:
            raise ShapeMismatchError(
                f"{where} has shape {arr.shape}; with order={order!r} and layout={layout!r} expected the 2-D matrix "
                f"{want} (out.size={m}, x.size={n})"
            )
        if layout == "denominator":
            arr = arr.T
        return arr.reshape(out_shape + pshape, order=order)  # type: ignore[call-overload]
    if layout == "denominator":
        k = len(pshape)
        if arr.shape == pshape + out_shape:
            return np.moveaxis(arr, list(range(k)), list(range(len(out_shape), len(out_shape) + k)))
    return arr
