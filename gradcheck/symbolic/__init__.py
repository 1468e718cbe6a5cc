"""The symbolic oracle: exact derivatives of the very code finite differences probe, and proofs.

    >>> import numpy as np
    >>> from gradcheck import symbolic
    >>> A, b = np.eye(2), np.ones(2)
    >>> d = symbolic.gradient(lambda x: np.sum((A @ x - b) ** 2), np.zeros(2))
    >>> d.array().tolist()
    [-2.0, -2.0]

sympy (and symengine, when installed) are imported on first use, never by ``import gradcheck``.
See docs/symbolic.md for the kink convention, stable forms, caching and the proof scopes.
"""

from ._array import SymArray, symbolic_array
from ._backend import symengine_available
from ._oracle import DEFAULT_MAX_ENTRIES, DEFAULT_MAX_EXACT_ENTRIES, clear_cache, fingerprint, gradient, jacobian
from ._prove import (
    derivation_gradient,
    disprove,
    disprove_derivation,
    matrix_derivative,
    prove,
    prove_derivation,
    symbolic_activation,
)
from ._result import MatrixDerivative, ParamProof, Proof, Status, SymbolicDerivative

__all__ = [
    "gradient",
    "jacobian",
    "prove",
    "prove_derivation",
    "disprove",
    "disprove_derivation",
    "derivation_gradient",
    "matrix_derivative",
    "symbolic_activation",
    "SymbolicDerivative",
    "Proof",
    "ParamProof",
    "MatrixDerivative",
    "Status",
    "SymArray",
    "symbolic_array",
    "clear_cache",
    "fingerprint",
    "symengine_available",
    "DEFAULT_MAX_ENTRIES",
    "DEFAULT_MAX_EXACT_ENTRIES",
]
