"""Normalising the user's parameters into private float copies, and back.

The user's arrays are copied once here and never handed to the function under test:
whatever the loss does (mutate, raise half-way), the caller's data is untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._errors import (
    GradientStructureError,
    LossRaisedError,
    MutatingFunctionError,
    NonFiniteError,
    ParameterError,
    ShapeMismatchError,
)

__all__ = ["ParamSet", "ParamInfo", "format_index", "first_nonfinite", "no_masked_entries"]


def format_index(shape: tuple[int, ...], flat: int) -> str:
    """``(i, j)`` for an entry of an n-d array, ``()`` for a 0-d one."""
    return str(tuple(int(i) for i in np.unravel_index(flat, shape))) if shape else "()"


def first_nonfinite(arr: np.ndarray) -> tuple[int, str, float] | None:
    """``(count, index, value)`` of the non-finite entries of ``arr``, or None when all are finite."""
    bad = ~np.isfinite(arr)
    if not bad.any():
        return None
    flat = int(np.flatnonzero(bad.ravel())[0])
    return int(bad.sum()), format_index(arr.shape, flat), float(arr.ravel()[flat])


@dataclass(frozen=True)
class ParamInfo:
    name: str
    shape: tuple[int, ...]
    input_dtype: str
    dtype: str  # the dtype the check runs in
    note: str = ""


class ParamSet:
    """An ordered set of named float arrays (private copies) and how to hand them to a function.

    ``single`` is True when the user passed one bare array: functions then receive a bare
    array rather than a dict, exactly as the user wrote them.
    """

    def __init__(self, params: Any, *, single_name: str) -> None:
        if isinstance(params, Mapping):
            if not params:
                raise ParameterError("params is an empty mapping: there is nothing to check")
            items = list(params.items())
            for key, _ in items:
                if not isinstance(key, str):
                    raise ParameterError(f"params has key {key!r} of type {type(key).__name__}; keys must be str")
            self.single = False
        else:
            items = [(single_name, params)]
            self.single = True
        self.names: list[str] = [k for k, _ in items]
        self.arrays: dict[str, np.ndarray] = {}
        self.infos: dict[str, ParamInfo] = {}
        for name, value in items:
            arr, info = _as_float_copy(name, value)
            self.arrays[name] = arr
            self.infos[name] = info

    @property
    def sizes(self) -> list[int]:
        return [self.arrays[n].size for n in self.names]

    @property
    def eps(self) -> float:
        """Machine epsilon of the least precise parameter (the check is no finer than that)."""
        return max(float(np.finfo(self.arrays[n].dtype).eps) for n in self.names)

    def pack(self, arrays: Mapping[str, np.ndarray]) -> Any:
        return arrays[self.names[0]] if self.single else dict(arrays)

    def copies(self) -> dict[str, np.ndarray]:
        return {n: self.arrays[n].copy() for n in self.names}

    def call_on_copies(self, fn: Callable[[Any], Any], fn_name: str,
                       arrays: Mapping[str, np.ndarray] | None = None) -> Any:
        """``fn`` (a hand-derived derivative) called on fresh copies of ``arrays`` (default: the
        parameters), as the caller packs them: its exceptions are named, and a write to its
        input is an error rather than a silent change of the point."""
        ref = self.arrays if arrays is None else arrays
        copies = {n: np.array(ref[n], copy=True) for n in self.names}
        try:
            value = fn(self.pack(copies))
        except Exception as exc:
            raise LossRaisedError(f"{fn_name} raised {type(exc).__name__}: {exc}") from exc
        for n in self.names:
            if not np.array_equal(copies[n], ref[n]):
                flat = int(np.flatnonzero((copies[n] != ref[n]).ravel())[0])
                idx = tuple(int(i) for i in np.unravel_index(flat, self.arrays[n].shape))
                raise MutatingFunctionError(f"{fn_name} modified its input: parameter {n!r} changed at index {idx}")
        return value

    def unpack_derivative(self, value: Any, *, what: str, fn_name: str,
                          out_shape: tuple[int, ...] | None) -> dict[str, np.ndarray]:
        """Split a gradient/Jacobian returned by the user into arrays keyed like params.

        ``out_shape`` is None for gradients (expected shape = param shape) and the output
        shape for Jacobians (expected shape = out_shape + param shape).
        """
        if self.single:
            if isinstance(value, Mapping):
                raise GradientStructureError(
                    f"{fn_name} returned a mapping with keys {sorted(map(str, value))}, but params is a single array; "
                    f"return an array of shape {self.arrays[self.names[0]].shape}"
                )
            parts = {self.names[0]: value}
        else:
            if not isinstance(value, Mapping):
                raise GradientStructureError(
                    f"{fn_name} returned {type(value).__name__}, expected a mapping with keys {self.names}"
                )
            missing = [n for n in self.names if n not in value]
            extra = [k for k in value if k not in self.arrays]
            if missing or extra:
                bits = []
                if missing:
                    bits.append(f"missing key(s) {missing}")
                if extra:
                    bits.append(f"extra key(s) {sorted(map(str, extra))}")
                raise GradientStructureError(
                    f"{fn_name} returned a mapping with {' and '.join(bits)}; params has keys {self.names}")
            parts = {n: value[n] for n in self.names}
        return {n: self._check_derivative(n, parts[n], what=what, fn_name=fn_name, out_shape=out_shape)
                for n in self.names}

    def _check_derivative(self, name: str, value: Any, *, what: str, fn_name: str,
                          out_shape: tuple[int, ...] | None) -> np.ndarray:
        pshape = self.arrays[name].shape
        no_masked_entries(value, f"{fn_name}: {what} for parameter {name!r}")
        try:
            arr = np.asarray(value)
        except Exception as exc:  # ragged lists and the like
            raise ShapeMismatchError(f"{fn_name}: {what} for parameter {name!r} is not an array ({exc})") from exc
        if arr.dtype.kind not in "biuf":
            kind = "complex" if arr.dtype.kind == "c" else f"dtype {arr.dtype}"
            raise ParameterError(f"{fn_name}: {what} for parameter {name!r} has {kind}; expected real numbers")
        expected = pshape if out_shape is None else tuple(out_shape) + pshape
        if arr.shape != expected and arr.size == int(np.prod(expected)) and arr.ndim <= 1 and len(expected) <= 1:
            arr = arr.reshape(expected)  # () vs (1,) only
        if arr.shape != expected:
            raise ShapeMismatchError(_shape_message(fn_name, what, name, arr.shape, pshape, out_shape))
        arr = arr.astype(np.float64 if arr.dtype.kind in "biu" else arr.dtype, copy=True)
        found = first_nonfinite(arr)
        if found:
            count, index, value = found
            raise NonFiniteError(
                f"{fn_name}: {what} for parameter {name!r} has {count} non-finite entr"
                f"{'y' if count == 1 else 'ies'}; first at index {index} = {value}"
            )
        return arr


def no_masked_entries(value: Any, what: str) -> None:
    """Raise :class:`NonFiniteError` if ``value`` is a numpy masked array with masked entries.

    ``np.asarray`` drops the mask and keeps whatever lies under it (``np.ma.masked`` reads as
    0.0), so a masked entry would be judged as a number nobody computed. A masked entry is a
    missing value, as NaN is (``np.ma.log`` masks where ``np.log`` gives NaN), hence the same
    class as NaN.
    """
    if not isinstance(value, np.ma.MaskedArray):
        return
    mask = np.ma.getmaskarray(value)
    if not mask.any():
        return
    flat = int(np.flatnonzero(mask.ravel())[0])
    count = int(mask.sum())
    where = "" if mask.ndim == 0 else f"; first at index {format_index(mask.shape, flat)}"
    raise NonFiniteError(
        f"{what} is masked (np.ma.masked) at {count} entr{'y' if count == 1 else 'ies'}{where}: a masked value is "
        f"missing, not 0 (np.ma functions mask where the plain ones give NaN: the edge of the domain?); return "
        f"plain numbers, e.g. np.ma.filled(value, np.nan) to see where"
    )


def _shape_message(fn_name: str, what: str, name: str, got: tuple[int, ...], pshape: tuple[int, ...],
                   out_shape: tuple[int, ...] | None) -> str:
    expected = pshape if out_shape is None else tuple(out_shape) + pshape
    msg = f"{fn_name}: {what} for parameter {name!r} has shape {got}, expected {expected}"
    if out_shape is None:
        if len(pshape) == 2 and got == pshape[::-1]:
            msg += (" (it has the shape of the transpose: did you compute the gradient of the transposed parameter, "
                    "e.g. x @ delta.T instead of delta.T @ x?)")
        elif int(np.prod(got)) == int(np.prod(pshape)):
            msg += " (same number of entries: a reshape/ravel or column-vs-row layout slip?)"
    else:
        alt = pshape + tuple(out_shape)
        if got == alt and alt != expected:
            msg += " (that is the denominator layout x.shape + out.shape: pass layout='denominator')"
        elif len(got) == 2 and got == (int(np.prod(out_shape)), int(np.prod(pshape))):
            msg += " (a flattened (out.size, x.size) matrix: pass its vec order as order='C' or order='F')"
    return msg


def _as_float_copy(name: str, value: Any) -> tuple[np.ndarray, ParamInfo]:
    if not isinstance(value, (np.ndarray, np.generic, int, float, list, tuple)) or isinstance(value, bool):
        raise ParameterError(f"parameter {name!r} is a {type(value).__name__}; expected a numpy array of real numbers")
    no_masked_entries(value, f"parameter {name!r}")
    try:
        arr = np.array(value, copy=True)
    except Exception as exc:
        raise ParameterError(f"parameter {name!r} cannot be made into an array ({exc})") from exc
    kind = arr.dtype.kind
    note = ""
    if not arr.dtype.isnative:
        # '>f8' on a little-endian machine (data read from a file or the network): same values,
        # but a dtype that compares unequal to float64 would take the float32/other path below
        # and the check would lose its float64 tolerances. A native copy; the caller's array is
        # untouched (``arr`` is already a copy).
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if kind == "f":
        if arr.dtype.itemsize < 4 and arr.dtype != np.float16:
            note = f"{arr.dtype} array checked on a float32 copy"
            arr = arr.astype(np.float32)
        elif arr.dtype.itemsize > 8:
            note = f"{arr.dtype} array checked on a float64 copy"
            arr = arr.astype(np.float64)
        if arr.dtype in (np.float32, np.float16):
            note = note or f"{arr.dtype}: tolerances scaled to {arr.dtype} precision"
    elif kind in "iu":
        note = f"integer ({arr.dtype}) array checked on a float64 copy"
        arr = arr.astype(np.float64)
    elif kind == "b":
        raise ParameterError(f"parameter {name!r} is a boolean array; a gradient needs real-valued parameters")
    elif kind == "c":
        raise ParameterError(
            f"parameter {name!r} is complex; gradients with respect to complex parameters are not defined "
            f"for a real loss in this sense: pass real and imaginary parts as separate real parameters"
        )
    else:
        raise ParameterError(f"parameter {name!r} has dtype {arr.dtype}; expected real numbers")
    if arr.size == 0:
        raise ParameterError(f"parameter {name!r} has shape {arr.shape} with no entries: there is nothing to check")
    found = first_nonfinite(arr)
    if found:
        raise NonFiniteError(
            f"parameter {name!r} has a non-finite entry at index {found[1]} = {found[2]}; "
            f"a derivative cannot be checked there"
        )
    info = ParamInfo(name=name, shape=arr.shape, input_dtype=str(np.asarray(value).dtype), dtype=str(arr.dtype),
                     note=note)
    return arr, info
