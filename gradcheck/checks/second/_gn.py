"""Gauss-Newton matrices ``G = J^T H_out J``: the parts, the reference built from them, its rounding bound.

Holds :class:`GaussNewton` (the parts a user hands over) and :func:`gn_parts`, which checks
the residual Jacobian with the public :func:`gradcheck.check_jacobian` (and ``out_hessian``
against ``out_loss`` when given) before multiplying them. The product is exact to rounding, so
it serves both as the reference of :func:`~gradcheck.check_gauss_newton` and as the
"this is the Gauss-Newton matrix" diagnosis of a wrong Hessian. May import gradcheck's
``_api`` and this subpackage's ``_settings``, ``_layout`` and ``_result``; the Hessian
check of ``out_hessian`` is passed in, so that this module need not import the entry points.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...judge._result import GradCheckResult
from .._first_order import check_jacobian
from ._layout import Layout, as_block, asymmetry, call, param_of
from ._result import HessianCheckResult
from ._settings import Settings, fn_name, need_callable

__all__ = ["GaussNewton", "GNParts", "gn_parts"]


@dataclass(frozen=True)
class GaussNewton:
    """The parts of a Gauss-Newton matrix ``G = J^T H_out J`` for ``loss = l(r(params))``.

    ``residual(params) -> r`` (an array), ``jac(params)`` its Jacobian in numerator layout
    (``r.shape + p.shape``, a dict per parameter for dict params), ``out_hessian`` the
    Hessian of ``l`` w.r.t. ``r`` (shape ``r.shape + r.shape`` or ``(r.size, r.size)``), as an
    array or as a callable ``out_hessian(r)``. ``out_loss(r)``, when given, lets the check
    verify ``out_hessian`` too (second differences of ``l``).
    """

    residual: Callable[[Any], Any]
    jac: Callable[[Any], Any]
    out_hessian: Any
    out_loss: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class GNParts:
    """``J^T H_out J`` and its rounding bound (None when a part is wrong), the check of the
    residual Jacobian, and what the user should know."""

    matrix: np.ndarray | None
    bound: np.ndarray | None
    jacobian: GradCheckResult
    notes: tuple[str, ...]
    wrong: str | None = None  # with no matrix: the part found wrong, "jac" or "out_hessian"


def gn_parts(parts: GaussNewton, lay: Layout, settings: Settings,
             check_hessian: Callable[..., HessianCheckResult]) -> GNParts:
    """``J^T H_out J`` from the analytic Jacobian once check_jacobian has passed it, with a
    rounding bound; no matrix when the Jacobian or H_out is wrong. ``check_hessian`` checks
    ``out_hessian`` against second differences of ``out_loss``."""
    ps, s = lay.ps, settings
    res = check_jacobian(parts.residual, parts.jac, ps.pack(ps.copies()), method=s.method, safety=s.safety,
                         step=s.step, typical=s.typical, max_entries=3, name=fn_name(parts.residual, None))
    if not res.ok:
        return GNParts(None, None, res, (f"the residual Jacobian {fn_name(parts.jac, None)} is wrong (see below)",),
                       "jac")
    r = np.asarray(call(parts.residual, ps, fn_name(parts.residual, None)), dtype=np.float64)
    m = r.size
    J = np.concatenate([param_of(res, lay, n).analytic.reshape(m, -1) for n in lay.names], axis=1)
    H_value = parts.out_hessian(r.copy()) if callable(parts.out_hessian) else parts.out_hessian
    H = as_block(H_value, r.shape * 2, (m, m), "out_hessian")
    notes = []
    if parts.out_loss is not None:
        need_callable("out_loss", parts.out_loss, "out_loss(r) -> scalar")
        hres = check_hessian(parts.out_loss, lambda _r: H.reshape(r.shape * 2), r.copy(), safety=s.safety)
        if hres.status == "mismatch":
            return GNParts(None, None, res, (f"out_hessian is not the Hessian of out_loss at r:\n{hres.summary(3)}",),
                           "out_hessian")
        notes.append(
            "out_hessian checked against second differences of out_loss"
            if hres.ok
            else f"out_hessian only partly verified against out_loss ({hres.status}: no entry wrong)"
        )
    # 1e-10: far above the rounding of a symmetric matrix built by hand, far below a real asymmetry
    if asymmetry(H) > 1e-10:
        notes.append(f"out_hessian is not symmetric (asymmetry {asymmetry(H):.2g}); J^T H_out J inherits it")
    G = J.T @ H @ J
    # rounding of the two products: each entry is a sum of m^2 terms, each good to a few ulp
    bound = 4.0 * m * ps.eps * (np.abs(J).T @ np.abs(H) @ np.abs(J))
    return GNParts(G, bound, res, tuple(notes))
