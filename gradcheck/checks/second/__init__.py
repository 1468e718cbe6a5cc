"""Second order: Hessians, Hessian-vector products and Gauss-Newton matrices, checked like gradients.

The public names (re-exported by :mod:`gradcheck`) and where each concept lives:

* ``_checks``: the entry points ``check_hessian``, ``check_gauss_newton``, ``check_hvp`` and
  ``assert_hessian``, ``assert_gauss_newton``, ``assert_hvp``;
* ``_settings``: the per-call options as one frozen value; ``_layout``: the layout of a
  claimed matrix over ``vec(params)`` and the guarded calls to the user's functions;
* ``_reference``: the numerical Hessian (Jacobian of the gradient, or second differences of
  the loss by the stencil of ``_fd``); ``_gn``: ``J^T H_out J`` from checked parts;
  ``_hvp``: Hessian-vector products along drawn vectors;
* ``_judge``: every verdict through the one judge, :func:`gradcheck.judge._compare.judge`, in the
  :class:`gradcheck.core._status.Status` vocabulary; ``_matrix_result``, ``_result``,
  ``_diagnose``: what the verdicts are reported as, and what a wrong claim looks like.

Imports go one way, down that list (``_checks`` at the top); this file imports only the
public names.
"""

from __future__ import annotations

from ._checks import assert_gauss_newton, assert_hessian, assert_hvp, check_gauss_newton, check_hessian, check_hvp
from ._gn import GaussNewton
from ._result import BlockResult, HessianCheckResult, HVPCheckResult, VectorResult

__all__ = [
    "BlockResult",
    "GaussNewton",
    "HVPCheckResult",
    "HessianCheckResult",
    "VectorResult",
    "assert_gauss_newton",
    "assert_hessian",
    "assert_hvp",
    "check_gauss_newton",
    "check_hessian",
    "check_hvp",
]
