"""gradcheck: tells, with evidence, whether a hand-derived gradient is right.

    >>> import numpy as np, gradcheck
    >>> A, b = np.eye(3), np.ones(3)
    >>> loss = lambda x: float(np.sum((A @ x - b) ** 2))
    >>> grad = lambda x: 2 * A.T @ (A @ x - b)
    >>> gradcheck.check_grad(loss, grad, np.zeros(3)).ok
    True

The public surface is what ``__all__`` lists; modules with a leading underscore are internal.
The core (and numpy) is imported on first use of one of its names, so that importing a
light submodule (the pytest plugin, the errors) costs no numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .core._errors import (
    FormulaError,
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
    SymbolicUnsupportedError,
)

if TYPE_CHECKING:
    from .checks._first_order import (
        METHODS,
        assert_grad,
        assert_jacobian,
        check_grad,
        check_jacobian,
        numerical_grad,
        numerical_jacobian,
    )
    from .checks._rules import assert_jvp, assert_vjp, check_jvp, check_vjp
    from .checks.directional._engine import DirectionalResult, DirectionCheck, check_grad_directional
    from .checks.second import (
        BlockResult,
        GaussNewton,
        HessianCheckResult,
        HVPCheckResult,
        VectorResult,
        assert_gauss_newton,
        assert_hessian,
        assert_hvp,
        check_gauss_newton,
        check_hessian,
        check_hvp,
    )
    from .core._structure import STRUCTURES
    from .judge._compare import relative_error
    from .judge._result import Entry, Estimate, GradCheckResult, ParamResult, Tolerance

__version__ = "0.1.0"

_LAZY = {
    **dict.fromkeys(("METHODS", "assert_grad", "assert_jacobian", "check_grad", "check_jacobian",
                     "numerical_grad", "numerical_jacobian"), ".checks._first_order"),
    **dict.fromkeys(("Entry", "Estimate", "GradCheckResult", "ParamResult", "Tolerance"), ".judge._result"),
    **dict.fromkeys(("check_vjp", "check_jvp", "assert_vjp", "assert_jvp"), ".checks._rules"),
    "STRUCTURES": ".core._structure",
    "relative_error": ".judge._compare",
    **dict.fromkeys(("GaussNewton", "assert_gauss_newton", "assert_hessian", "assert_hvp", "check_gauss_newton",
                     "check_hessian", "check_hvp", "BlockResult", "HessianCheckResult", "HVPCheckResult",
                     "VectorResult"), ".checks.second"),
    **dict.fromkeys(("check_grad_directional", "DirectionalResult", "DirectionCheck"), ".checks.directional._engine"),
}


def __getattr__(name: str) -> Any:
    """Load the core on first use of one of its names (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "check_grad",
    "check_jacobian",
    "assert_grad",
    "assert_jacobian",
    "numerical_grad",
    "numerical_jacobian",
    "check_vjp",
    "check_jvp",
    "assert_vjp",
    "assert_jvp",
    "check_grad_directional",
    "check_hessian",
    "check_hvp",
    "check_gauss_newton",
    "assert_hessian",
    "assert_hvp",
    "assert_gauss_newton",
    "GaussNewton",
    "HessianCheckResult",
    "BlockResult",
    "HVPCheckResult",
    "VectorResult",
    "DirectionalResult",
    "DirectionCheck",
    "METHODS",
    "STRUCTURES",
    "relative_error",
    "GradCheckResult",
    "ParamResult",
    "Entry",
    "Tolerance",
    "Estimate",
    "GradcheckError",
    "FormulaError",
    "SymbolicUnsupportedError",
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
