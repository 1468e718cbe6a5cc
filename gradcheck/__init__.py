"""gradcheck: tells, with evidence, whether a hand-derived gradient is right.

    >>> import numpy as np, gradcheck
    >>> A, b = np.eye(3), np.ones(3)
    >>> loss = lambda x: float(np.sum((A @ x - b) ** 2))
    >>> grad = lambda x: 2 * A.T @ (A @ x - b)
    >>> gradcheck.check_grad(loss, grad, np.zeros(3)).ok
    True

The public surface is what ``__all__`` lists; modules with a leading underscore are internal.
"""

from ._api import (
    METHODS,
    assert_grad,
    assert_jacobian,
    check_grad,
    check_jacobian,
    numerical_grad,
    numerical_jacobian,
)
from ._errors import (
    GradcheckError,
    GradientMismatch,
    GradientStructureError,
    InvalidArgumentError,
    LossError,
    LossRaisedError,
    MutatingFunctionError,
    NondeterministicLossError,
    NonFiniteError,
    NonScalarLossError,
    ParameterError,
    ShapeMismatchError,
)
from ._result import Entry, Estimate, GradCheckResult, ParamResult, Tolerance
from ._structure import STRUCTURES

__version__ = "0.1.0"

__all__ = [
    "check_grad",
    "check_jacobian",
    "assert_grad",
    "assert_jacobian",
    "numerical_grad",
    "numerical_jacobian",
    "METHODS",
    "STRUCTURES",
    "GradCheckResult",
    "ParamResult",
    "Entry",
    "Tolerance",
    "Estimate",
    "GradcheckError",
    "InvalidArgumentError",
    "ParameterError",
    "ShapeMismatchError",
    "GradientStructureError",
    "LossError",
    "NonScalarLossError",
    "NonFiniteError",
    "MutatingFunctionError",
    "NondeterministicLossError",
    "LossRaisedError",
    "GradientMismatch",
    "__version__",
]
