"""A small array-ops namespace, so one loss runs on floats *and* on sympy symbols.

A derivation's loss is written once against an ``xp`` argument (``xp.exp``, ``xp.relu``,
``a @ b``, ``xp.sum`` ...). With :data:`numpy_ops` it runs on float arrays for the
finite-difference oracle; with :func:`sympy_ops` it runs on numpy *object* arrays of
sympy expressions, so a symbolic oracle differentiates the very same code. Only the
hand-derived gradient is the thing under test, never the loss.

Everything here must work on both float and object arrays: matrix products use
``np.matmul`` (object-aware), reductions use ``np.sum`` (object-aware), and the
elementwise transcendental functions are the only place the two backends differ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["ArrayOps", "numpy_ops", "sympy_ops"]


def _symbolic(x: Any) -> bool:
    """True for :class:`gradcheck.symbolic.SymArray`, whose numpy functions map to sympy.

    The float methods below call ``np.asarray`` and assign into float buffers, which would
    drop the symbols; on a symbolic array they run the plain formula instead (which the
    symbolic oracle evaluates in its stable form). Float behaviour is unchanged.
    """
    return getattr(type(x), "__gradcheck_symbolic__", False)


class ArrayOps:
    """Elementwise functions and reductions used by reference losses.

    The float backend is numerically careful (stable sigmoid, ``logaddexp`` softplus,
    max-shifted softmax) because the finite-difference oracle probes it at saturated
    and large inputs; the symbolic backend writes the textbook formula.
    """

    name = "numpy"

    # -- elementwise ---------------------------------------------------------
    def exp(self, x: Any) -> Any:
        return np.exp(x)

    def log(self, x: Any) -> Any:
        return np.log(x)

    def tanh(self, x: Any) -> Any:
        return np.tanh(x)

    def sqrt(self, x: Any) -> Any:
        return np.sqrt(x)

    def sigmoid(self, x: Any) -> Any:
        if _symbolic(x):  # gradcheck.symbolic's array: the formula, on its own ufuncs
            return 1.0 / (1.0 + np.exp(-x))
        # 1/(1+exp(-x)) overflows for x << 0; split by sign to stay exact in float64.
        x = np.asarray(x)
        out = np.empty_like(x, dtype=np.result_type(x, np.float64))
        pos = x.real >= 0 if np.iscomplexobj(x) else x >= 0
        out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
        ex = np.exp(x[~pos])
        out[~pos] = ex / (1.0 + ex)
        return out

    def softplus(self, x: Any) -> Any:
        """log(1 + exp(x)), stable for large |x|."""
        if _symbolic(x):
            return np.logaddexp(0.0, x)
        x = np.asarray(x)
        if np.iscomplexobj(x):  # complex-step probes: logaddexp has no complex loop
            out = np.empty_like(x)
            pos = x.real > 0  # each side computes only the branch that cannot overflow
            out[pos] = x[pos] + np.log1p(np.exp(-x[pos]))
            out[~pos] = np.log1p(np.exp(x[~pos]))
            return out
        return np.logaddexp(0.0, x)

    def relu(self, x: Any) -> Any:
        if _symbolic(x):
            return np.maximum(x, 0.0)
        x = np.asarray(x)
        if np.iscomplexobj(x):  # keep the imaginary part where the unit is active
            return np.where(x.real > 0, x, 0.0)
        return np.maximum(x, 0.0)

    def abs(self, x: Any) -> Any:
        return np.abs(x)

    # -- reductions and structure ---------------------------------------------
    def sum(self, x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Any:
        return np.sum(x, axis=axis, keepdims=keepdims)

    def mean(self, x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
        x = np.asarray(x)
        n = x.size if axis is None else x.shape[axis]
        return np.sum(x, axis=axis, keepdims=keepdims) / n

    def max_const(self, x: Any, axis: int, keepdims: bool = True) -> Any:
        """Row max used only as a numerically stabilising shift (gradient-neutral)."""
        if _symbolic(x):  # the shift cancels exactly; the symbolic oracle shifts at evaluation
            return np.zeros_like(np.sum(x, axis=axis, keepdims=keepdims))
        return np.max(np.real(x), axis=axis, keepdims=keepdims)

    def softmax(self, z: Any, axis: int = -1) -> Any:
        e = self.exp(z - self.max_const(z, axis=axis))
        return e / self.sum(e, axis=axis, keepdims=True)

    def log_softmax(self, z: Any, axis: int = -1) -> Any:
        shifted = z - self.max_const(z, axis=axis)
        return shifted - self.log(self.sum(self.exp(shifted), axis=axis, keepdims=True))

    def kron(self, a: Any, b: Any) -> Any:
        return np.kron(a, b)


class _SympyOps(ArrayOps):
    """Elementwise functions mapped over object arrays of sympy expressions."""

    name = "sympy"

    def __init__(self) -> None:
        import sympy  # deferred: `import gradcheck` must stay cheap

        self._sp = sympy
        self._vec: dict[str, Callable[..., Any]] = {}

    def _map(self, fname: str, fn: Callable[[Any], Any], x: Any) -> Any:
        if fname not in self._vec:
            self._vec[fname] = np.vectorize(fn, otypes=[object])
        out = self._vec[fname](x)
        return out[()] if isinstance(out, np.ndarray) and out.ndim == 0 else out

    def exp(self, x: Any) -> Any:
        return self._map("exp", self._sp.exp, x)

    def log(self, x: Any) -> Any:
        return self._map("log", self._sp.log, x)

    def tanh(self, x: Any) -> Any:
        return self._map("tanh", self._sp.tanh, x)

    def sqrt(self, x: Any) -> Any:
        return self._map("sqrt", self._sp.sqrt, x)

    def sigmoid(self, x: Any) -> Any:
        return self._map("sigmoid", lambda v: 1 / (1 + self._sp.exp(-v)), x)

    def softplus(self, x: Any) -> Any:
        return self._map("softplus", lambda v: self._sp.log(1 + self._sp.exp(v)), x)

    def relu(self, x: Any) -> Any:
        return self._map("relu", lambda v: self._sp.Max(0, v), x)

    def abs(self, x: Any) -> Any:
        return self._map("abs", self._sp.Abs, x)

    def max_const(self, x: Any, axis: int, keepdims: bool = True) -> Any:
        # The shift cancels exactly in softmax; symbolically no shift is needed.
        shape = list(np.shape(x))
        shape[axis] = 1
        zeros = np.zeros(shape, dtype=object)
        return zeros if keepdims else np.squeeze(zeros, axis=axis)


numpy_ops = ArrayOps()
"""The float backend: what finite differences and users' numpy code run on."""

_sympy_ops: _SympyOps | None = None


def sympy_ops() -> ArrayOps:
    """The symbolic backend (created on first use so sympy is imported lazily)."""
    global _sympy_ops
    if _sympy_ops is None:
        _sympy_ops = _SympyOps()
    return _sympy_ops
