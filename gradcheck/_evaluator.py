"""The one place where the function under test is evaluated.

Every evaluation the finite-difference schemes ask for is a :class:`Perturbation`
(parameter, flat index, step) sent to :meth:`Evaluator.evaluate`. Batching, coordinate
sampling or parallel runs can be added here without touching the schemes.

Each call is watched: the output must be finite and of the expected shape, the
function must not modify its inputs, and the base value must be reproducible.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ._errors import (
    LossRaisedError,
    MutatingFunctionError,
    NondeterministicLossError,
    NonFiniteError,
    NonScalarLossError,
)
from ._params import ParamSet, format_index

__all__ = ["Perturbation", "DirectionalPerturbation", "Request", "Evaluator", "ComplexUnsupported"]


@dataclass(frozen=True)
class Perturbation:
    """Add ``delta`` to one entry (``flat``) of one parameter (``param``, index into ParamSet.names)."""

    param: int
    flat: int
    delta: complex | float  # imaginary for complex step


@dataclass(frozen=True, eq=False)
class DirectionalPerturbation:
    """Add ``scale * direction[name]`` to every parameter at once (directional derivatives)."""

    direction: dict[str, np.ndarray]
    scale: complex | float
    purpose: str = "a directional probe"  # named in error messages


Request = Perturbation | DirectionalPerturbation


class ComplexUnsupported(Exception):
    """Internal: the function cannot be evaluated at complex points (reason in args[0])."""


class Evaluator:
    """Evaluates ``fn`` at perturbed copies of the parameters and validates every result.

    ``scalar=True`` demands a real scalar (a loss); otherwise any real array whose shape
    matches the base output (a vector function for Jacobians).
    """

    def __init__(self, fn: Callable[[Any], Any], params: ParamSet, *, scalar: bool, fn_name: str) -> None:
        self.fn = fn
        self.params = params
        self.scalar = scalar
        self.fn_name = fn_name
        self.n_evaluations = 0
        self.out_shape: tuple[int, ...] = ()
        self._work: dict[str, dict[str, np.ndarray]] = {}

    # -- public --------------------------------------------------------------
    def base(self) -> tuple[np.ndarray, float]:
        """Flat output at the unperturbed point, and the spread between two evaluations there.

        A spread far above rounding level means the function is nondeterministic, and the
        derivative of a random function cannot be checked.
        """
        first = self._call(None, real=True, first=True)
        second = self._call(None, real=True)
        spread = np.abs(first - second)
        scale = np.maximum(np.abs(first), np.abs(second))
        eps = self.params.eps
        bad = spread > 1e3 * eps * np.maximum(scale, np.finfo(float).tiny)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            where = "" if self.scalar else f" (output entry {format_index(self.out_shape, j)})"
            raise NondeterministicLossError(
                f"{self.fn_name} returned {first[j]!r} and then {second[j]!r} at the same point{where}; "
                f"a nondeterministic function (random sampling, dropout, state kept between calls) cannot be "
                f"differentiated numerically: fix its seed or remove the randomness"
            )
        return first, float(spread.max(initial=0.0))

    def evaluate(self, requests: Sequence[Request], *, real: bool = True) -> np.ndarray:
        """Outputs at each perturbed point, shape ``(len(requests), out_size)``."""
        dtype = np.float64 if real else np.complex128
        out = np.empty((len(requests), max(int(np.prod(self.out_shape)), 1)), dtype=dtype)
        for row, req in enumerate(requests):
            out[row] = self._call(req, real=real)
        return out

    def probe_complex(self) -> None:
        """Raise :class:`ComplexUnsupported` unless ``fn`` maps complex inputs to complex outputs."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", np.exceptions.ComplexWarning)
                self._call(Perturbation(0, 0, 1e-30j), real=False)
        except (LossRaisedError, NonScalarLossError, MutatingFunctionError, NonFiniteError) as exc:
            raise ComplexUnsupported(str(exc)) from exc

    # -- internals -----------------------------------------------------------
    def _workspace(self, real: bool) -> dict[str, np.ndarray]:
        key = "real" if real else "complex"
        if key not in self._work:
            dtype = None if real else np.complex128
            self._work[key] = {n: self.params.arrays[n].astype(dtype or self.params.arrays[n].dtype, copy=True)
                               for n in self.params.names}
        return self._work[key]

    def _describe(self, req: Request | None) -> str:
        if req is None:
            return "at the base point"
        if isinstance(req, DirectionalPerturbation):
            return f"at a point perturbed along a random direction ({req.purpose})"
        name = self.params.names[req.param]
        shape = self.params.arrays[name].shape
        return f"with parameter {name!r} at index {format_index(shape, req.flat)} perturbed by {req.delta:.3g}"

    def _expected(self, req: Request | None, work: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Write the perturbed point into ``work``; return what each array must still hold after the call."""
        ref = self.params.arrays
        if req is None:
            return ref
        if isinstance(req, DirectionalPerturbation):
            for name in self.params.names:
                work[name][...] = ref[name] + req.scale * req.direction[name]
            return {n: work[n].copy() for n in self.params.names}
        name = self.params.names[req.param]
        work[name].flat[req.flat] = ref[name].flat[req.flat] + req.delta
        expected = dict(ref)
        expected[name] = work[name].copy()
        return expected

    def _call(self, req: Request | None, *, real: bool, first: bool = False) -> np.ndarray:
        work = self._workspace(real)
        try:
            expected = self._expected(req, work)
            try:
                raw = self.fn(self.params.pack(work))
            except Exception as exc:
                if isinstance(exc, np.exceptions.ComplexWarning):
                    raise LossRaisedError(
                        f"{self.fn_name} drops the imaginary part of its input (float(), astype(float) or a "
                        f"float buffer), so complex step cannot be used"
                    ) from exc
                if not real and isinstance(exc, TypeError):
                    raise LossRaisedError(f"{self.fn_name} cannot take complex input: {exc}") from exc
                raise LossRaisedError(f"{self.fn_name} raised {type(exc).__name__} {self._describe(req)}: {exc}") from exc
            self.n_evaluations += 1
            self._check_unmodified(work, expected, req)
            return self._validate(raw, req, real=real, first=first)
        finally:
            self._restore(work, req)

    def _check_unmodified(self, work: dict[str, np.ndarray], expected: dict[str, np.ndarray], req: Request | None) -> None:
        for name in self.params.names:
            if not np.array_equal(work[name], expected[name]):
                flat = int(np.flatnonzero((work[name] != expected[name]).ravel())[0])
                shape = self.params.arrays[name].shape
                raise MutatingFunctionError(
                    f"{self.fn_name} modified its input: parameter {name!r} changed at index {format_index(shape, flat)} "
                    f"during the call {self._describe(req)}; a function under test must not write to its arguments "
                    f"(use out-of-place operations, e.g. x = x - y instead of x -= y)"
                )

    def _restore(self, work: dict[str, np.ndarray], req: Request | None) -> None:
        # A full copy back, not an undo of the step: the function may have written anywhere.
        for name in self.params.names:
            work[name][...] = self.params.arrays[name]

    def _validate(self, raw: Any, req: Request | None, *, real: bool, first: bool) -> np.ndarray:
        try:
            out = np.asarray(raw)
        except Exception as exc:
            raise NonScalarLossError(f"{self.fn_name} returned {type(raw).__name__}, not a number or array ({exc})") from exc
        if out.dtype.kind not in "biufc":
            raise NonScalarLossError(f"{self.fn_name} returned {type(raw).__name__} of dtype {out.dtype}; expected real numbers")
        if self.scalar and out.size != 1:
            raise NonScalarLossError(
                f"{self.fn_name} returned an array of shape {out.shape} {self._describe(req)}; a loss must return a "
                f"scalar (sum or average it, or use check_jacobian for a vector-valued function)"
            )
        if first:
            self.out_shape = () if self.scalar else out.shape
            if not self.scalar and out.size == 0:
                raise NonScalarLossError(f"{self.fn_name} returned an empty array; there is nothing to differentiate")
        elif not self.scalar and out.shape != self.out_shape:
            raise NonScalarLossError(
                f"{self.fn_name} returned shape {out.shape} {self._describe(req)}, but {self.out_shape} at the base point"
            )
        if real and out.dtype.kind == "c":
            if np.any(out.imag != 0):
                raise NonScalarLossError(f"{self.fn_name} returned a complex value {self._describe(req)}; expected real")
            out = out.real
        if not real and out.dtype.kind != "c":
            raise LossRaisedError(
                f"{self.fn_name} returned a real value for complex input: it drops the imaginary part "
                f"(np.real, abs, float() or a float buffer), so complex step cannot be used"
            )
        flat = out.reshape(-1)
        bad = ~np.isfinite(flat)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            where = "" if self.scalar else f" at output entry {format_index(self.out_shape, j)}"
            hint = "" if req is None else "; if the step leaves the function's domain, pass a smaller step="
            raise NonFiniteError(f"{self.fn_name} returned {flat[j]}{where} {self._describe(req)}{hint}")
        return flat
