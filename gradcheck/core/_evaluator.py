"""The one place where the function under test is evaluated.

Every evaluation the finite-difference schemes ask for is a :class:`Perturbation`
(parameter, flat index, step) sent to :meth:`Evaluator.evaluate`, so work can be spread
here without touching the schemes: with ``workers=`` a batch of single-entry steps is cut
into pieces evaluated by other processes (:mod:`gradcheck.core._parallel`), and the schemes get
the same values back.

Each call is watched: the output must be finite and of the expected shape, the
function must not modify its inputs, and the base value must be reproducible.

The function gets a private workspace, never the caller's arrays. A perturbation writes
one entry (or, along a direction, every entry) and is undone after the call, so a call
costs O(1) bookkeeping, not O(N). Whether the function wrote to its input is checked on
every one of the first calls, then at calls 16, 32, 64, ..., whenever it raises or
returns something invalid, and at :meth:`Evaluator.finish`; and the entry a step is
about to overwrite (or undo) is compared every time, so no write is ever erased before a
full comparison sees it. A check of a million parameters spends a few full comparisons,
not one per call.
"""

from __future__ import annotations

import cmath
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._errors import (
    GradcheckError,
    LossRaisedError,
    MutatingFunctionError,
    NondeterministicLossError,
    NonFiniteError,
    NonScalarLossError,
)
from ._params import ParamSet, format_index

__all__ = ["Perturbation", "DirectionalPerturbation", "Request", "Evaluator", "ComplexUnsupported"]

perf_counter = time.perf_counter
"""The clock that times the base point's evaluations (for the cost prediction); tests replace it."""


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


_REAL_SCALARS = (float, np.float64)
_COMPLEX_SCALARS = (complex, np.complex128)

GUARD_EVERY_CALL_UP_TO = 8
"""The mutation guard checks every one of the first 8 calls (a loss that writes to its input
usually does so on every call, so it is named at the call that did it), then calls whose
number is a power of two."""


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
        self._keep_nonfinite = False
        self._first: np.ndarray | None = None  # the base value, to see whether it stays put
        self._calls = 0  # calls made, including those that raised
        self._clean_through = 0  # the guard found the input intact after this many calls
        self.workers: Any = None  # a gradcheck.core._parallel.Workers: batches of single-entry steps go there
        self.progress: Callable[[int], None] | None = None  # told the evaluations made after each batch
        self.eval_s = math.nan  # seconds of one evaluation at the base point (set by base(); for predictions)

    # -- public --------------------------------------------------------------
    def base(self) -> tuple[np.ndarray, float]:
        """Flat output at the unperturbed point, and the spread between two evaluations there.

        A spread far above rounding level means the function is nondeterministic, and the
        derivative of a random function cannot be checked.
        """
        t0 = perf_counter()
        first = self._call(None, real=True, first=True)
        t1 = perf_counter()
        second = self._call(None, real=True)
        # The faster of the two: the first call may pay once for imports, caches, compilation.
        self.eval_s = max(min(t1 - t0, perf_counter() - t1), 0.0)
        self._reproducible(first, second, "on two calls in a row")
        spread = np.abs(first - second)
        self._first = first
        return first, float(spread.max(initial=0.0))

    def _reproducible(self, first: np.ndarray, later: np.ndarray, when: str) -> None:
        """Raise :class:`NondeterministicLossError` where two values at the base point differ past rounding."""
        spread = np.abs(first - later)
        scale = np.maximum(np.abs(first), np.abs(later))
        bad = spread > 1e3 * self.params.eps * np.maximum(scale, np.finfo(float).tiny)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            where = "" if self.scalar else f" (output entry {format_index(self.out_shape, j)})"
            raise NondeterministicLossError(
                f"{self.fn_name} returned {first[j]!r} and then {later[j]!r} at the same point{where} {when}; "
                f"a function whose value changes between calls (random sampling, dropout, a cache, a counter or "
                "other state kept between calls) cannot be differentiated numerically: fix its seed or remove the "
                "state"
            )

    def evaluate(self, requests: Sequence[Request], *, real: bool = True, keep_nonfinite: bool = False) -> np.ndarray:
        """Outputs at each perturbed point, shape ``(len(requests), out_size)``.

        ``keep_nonfinite``: a single-entry step that leaves the function's domain returns
        its NaN/Inf instead of raising, for the schemes to retry that entry with a smaller step.
        """
        if (self.workers is not None and self.workers.pieces(len(requests)) > 1
                and all(type(r) is Perturbation for r in requests)):
            out = self.workers.evaluate(
                np.fromiter((r.param for r in requests), dtype=np.int64, count=len(requests)),
                np.fromiter((r.flat for r in requests), dtype=np.int64, count=len(requests)),
                np.array([r.delta for r in requests], dtype=np.float64 if real else np.complex128),
                real=real, keep_nonfinite=keep_nonfinite)
            self.n_evaluations += len(requests)
        else:
            dtype = np.float64 if real else np.complex128
            out = np.empty((len(requests), max(int(np.prod(self.out_shape)), 1)), dtype=dtype)
            self._keep_nonfinite = keep_nonfinite
            try:
                for row, req in enumerate(requests):
                    out[row] = self._call(req, real=real)
            finally:
                self._keep_nonfinite = False
        if self.progress is not None:
            self.progress(self.n_evaluations)
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

    def _apply(self, req: Request | None, work: dict[str, np.ndarray]) -> None:
        """Write the perturbed point into ``work`` (which holds the base point between calls)."""
        ref = self.params.arrays
        if isinstance(req, DirectionalPerturbation):
            for name in self.params.names:
                work[name][...] = ref[name] + req.scale * req.direction[name]
        elif req is not None:
            name = self.params.names[req.param]
            if work[name].flat[req.flat] != ref[name].flat[req.flat]:
                self._guard(None, work, force=True, before=True)  # a write this entry's step would overwrite
            work[name].flat[req.flat] = ref[name].flat[req.flat] + req.delta

    def _expected(self, req: Request | None, name: str, work: np.ndarray) -> np.ndarray:
        """What ``work`` (parameter ``name``) must hold while ``req`` is applied, built as :meth:`_apply` builds it."""
        ref = self.params.arrays[name]
        if req is None:
            return ref
        expected = np.empty_like(work)
        if isinstance(req, DirectionalPerturbation):
            expected[...] = ref + req.scale * req.direction[name]
            return expected
        expected[...] = ref
        if self.params.names[req.param] == name:
            expected.flat[req.flat] = ref.flat[req.flat] + req.delta
        return expected

    def _due(self, req: Request | None) -> bool:
        """Whether this call is a checkpoint of the mutation guard: every one of the first
        :data:`GUARD_EVERY_CALL_UP_TO` calls, then calls 16, 32, 64, ...: O(N log calls) in all.
        A directional call is always one: undoing it rewrites every entry (which would hide
        a write), and it costs O(N) anyway."""
        c = self._calls
        return isinstance(req, DirectionalPerturbation) or c <= GUARD_EVERY_CALL_UP_TO or (c & (c - 1)) == 0

    def _guard(self, req: Request | None, work: dict[str, np.ndarray], *, force: bool = False,
               before: bool = False) -> None:
        """Raise :class:`MutatingFunctionError` if the function wrote to its input since the last clean check
        (``before``: checked before the current call, whose step is not applied yet)."""
        if not force and not self._due(req):
            return
        last = self._calls - 1 if before else self._calls
        for name in self.params.names:
            expected = self._expected(req, name, work[name])
            if not np.array_equal(work[name], expected):
                flat = int(np.flatnonzero((work[name] != expected).ravel())[0])
                shape = self.params.arrays[name].shape
                if self._clean_through == last - 1:
                    when = f"during the call {self._describe(req)}" if not before else f"during call {last}"
                else:
                    when = f"during one of calls {self._clean_through + 1} to {last} of this check"
                    when += "" if before else f" (the last {self._describe(req)})"
                raise MutatingFunctionError(
                    f"{self.fn_name} modified its input: parameter {name!r} changed at index "
                    f"{format_index(shape, flat)} "
                    f"{when}; a function under test must not write to its arguments "
                    f"(use out-of-place operations, e.g. x = x - y instead of x -= y)"
                )
        self._clean_through = last

    def finish(self) -> None:
        """Once the oracles are done: the guard's last checkpoint, and the base point evaluated
        once more, so that a value that drifted during the check (state, a cache, a counter)
        is named rather than measured as noise."""
        last = self._call(None, real=True) if self._first is not None else None
        for work in self._work.values():
            self._guard(None, work, force=True)
        if last is not None:
            self._reproducible(self._first, last, "at the start and at the end of the check")

    def _call(self, req: Request | None, *, real: bool, first: bool = False) -> np.ndarray:
        work = self._workspace(real)
        self._calls += 1
        self._apply(req, work)
        succeeded = False
        try:
            try:
                raw = self.fn(self.params.pack(work))
            except Exception as exc:
                self._guard(req, work, force=True)  # a write to the input may be why it raised
                raise self._raised(exc, req, real) from exc
            self.n_evaluations += 1
            self._guard(req, work)
            try:
                out = self._validate(raw, req, real=real, first=first)
            except GradcheckError:
                self._guard(req, work, force=True)
                raise
            succeeded = True
            return out
        finally:
            # After a failure the guard has had its say: undo the step without a second verdict.
            self._restore(work, req, check=succeeded)

    def _raised(self, exc: Exception, req: Request | None, real: bool) -> LossRaisedError:
        if isinstance(exc, np.exceptions.ComplexWarning):
            return LossRaisedError(
                f"{self.fn_name} drops the imaginary part of its input (float(), astype(float) or a "
                f"float buffer), so complex step cannot be used"
            )
        if not real and isinstance(exc, TypeError):
            return LossRaisedError(f"{self.fn_name} cannot take complex input: {exc}")
        return LossRaisedError(f"{self.fn_name} raised {type(exc).__name__} {self._describe(req)}: {exc}")

    def _restore(self, work: dict[str, np.ndarray], req: Request | None, *, check: bool = True) -> None:
        """Undo the perturbation: one entry, or every array for a directional one. Writes the
        function made elsewhere stay, for the guard's next checkpoint to find."""
        ref = self.params.arrays
        if isinstance(req, DirectionalPerturbation):
            for name in self.params.names:
                work[name][...] = ref[name]
        elif req is not None:
            name = self.params.names[req.param]
            if check and work[name].flat[req.flat] != ref[name].flat[req.flat] + req.delta:
                self._guard(req, work, force=True)  # a write that undoing the step would overwrite
            work[name].flat[req.flat] = ref[name].flat[req.flat]

    def _unmasked(self, raw: np.ma.MaskedArray, req: Request | None) -> Any:
        """A masked array's values, NaN where masked; a masked value is an error unless a step
        may leave the domain (then the scheme retries the entry with a smaller step, as for NaN).

        ``np.asarray(np.ma.masked)`` is 0.0: read that way a loss outside its domain (``np.ma.log``
        of a negative number) would look like a finite value and the gradient would be blamed.
        Raised as :class:`NonFiniteError`: a masked value is a missing one, as NaN is.
        """
        mask = np.ma.getmaskarray(raw)
        if not mask.any():
            return np.ma.getdata(raw)
        if self._keep_nonfinite and isinstance(req, Perturbation):
            return np.where(mask, np.nan, np.ma.getdata(raw))
        j = int(np.flatnonzero(mask.ravel())[0])
        where = "" if self.scalar or mask.ndim == 0 else f" at output entry {format_index(mask.shape, j)}"
        what = "np.ma.masked" if mask.ndim == 0 else f"a masked array with {int(mask.sum())} masked entries"
        raise NonFiniteError(
            f"{self.fn_name} returned {what}{where} {self._describe(req)}: a masked value is missing, not 0 "
            f"(np.ma functions mask where the plain ones give NaN: outside the function's domain?); return plain "
            f"numbers"
        )

    def _validate(self, raw: Any, req: Request | None, *, real: bool, first: bool) -> np.ndarray:
        # The common case, a real loss returning a finite Python or numpy float: a quarter of
        # the per-call bookkeeping went to the general path's asarray and isfinite.
        if self.scalar and not first:
            if real and type(raw) in _REAL_SCALARS and math.isfinite(raw):
                return np.array([raw], dtype=np.float64)
            if not real and type(raw) in _COMPLEX_SCALARS and cmath.isfinite(raw):
                return np.array([raw], dtype=np.complex128)
        if isinstance(raw, np.ma.MaskedArray):
            raw = self._unmasked(raw, req)
        try:
            out = np.asarray(raw)
        except Exception as exc:
            raise NonScalarLossError(
                f"{self.fn_name} returned {type(raw).__name__}, not a number or array ({exc})") from exc
        if out.dtype.kind not in "iufc":
            raise NonScalarLossError(
                f"{self.fn_name} returned {type(raw).__name__} of dtype {out.dtype}; expected real numbers")
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
                f"{self.fn_name} returned shape {out.shape} {self._describe(req)}, but {self.out_shape} at the base "
                "point"
            )
        if real and out.dtype.kind == "c":
            if np.any(out.imag != 0):
                raise NonScalarLossError(
                    f"{self.fn_name} returned a complex value {self._describe(req)}; expected real")
            out = out.real
        if not real and out.dtype.kind != "c":
            raise LossRaisedError(
                f"{self.fn_name} returned a real value for complex input: it drops the imaginary part "
                f"(np.real, abs, float() or a float buffer), so complex step cannot be used"
            )
        flat = out.reshape(-1)
        bad = ~np.isfinite(flat)
        if bad.any() and not (self._keep_nonfinite and isinstance(req, Perturbation)):
            j = int(np.flatnonzero(bad)[0])
            where = "" if self.scalar else f" at output entry {format_index(self.out_shape, j)}"
            hint = "" if req is None else "; if the step leaves the function's domain, pass a smaller step="
            raise NonFiniteError(f"{self.fn_name} returned {flat[j]}{where} {self._describe(req)}{hint}")
        return flat
