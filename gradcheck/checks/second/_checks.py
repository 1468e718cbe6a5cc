"""The public entry points of second order: ``check_hessian``, ``check_gauss_newton``, ``check_hvp``
and their ``assert_*`` forms.

Each validates its arguments, reads the claim in the layout of :mod:`._layout`, builds the
reference (:mod:`._reference`, :mod:`._gn`, :mod:`._hvp`), has it judged by the one judge
(:mod:`._judge`) and returns a result of :mod:`._result`. May import every module of this
subpackage and gradcheck's ``_errors``, ``_params``, ``_result`` and ``_status``; nothing in
the subpackage imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ...core._errors import GradientMismatch, InvalidArgumentError
from ...core._params import ParamSet
from ...core._status import Status
from ...judge._result import GradCheckResult
from ._fd import FlatLoss
from ._gn import GaussNewton, gn_parts
from ._hvp import run_hvp, vectors_given
from ._judge import judge_matrix, unresolved_wide
from ._layout import Claim, Layout, call, claimed_matrix
from ._matrix_result import hessian_result, not_judged
from ._reference import Reference, first_order, from_grad, from_loss, with_jumps
from ._result import HessianCheckResult, HVPCheckResult
from ._settings import SAFETY, Settings, fn_name, need_callable

__all__ = [
    "assert_gauss_newton",
    "assert_hessian",
    "assert_hvp",
    "check_gauss_newton",
    "check_hessian",
    "check_hvp",
]


def check_hessian(
    loss: Callable[[Any], Any],
    hess: Callable[[Any], Any],
    params: Any,
    *,
    grad: Callable[[Any], Any] | None = None,
    gauss_newton: GaussNewton | None = None,
    method: str = "richardson",
    safety: float = SAFETY,
    step: float | None = None,
    typical: float = 1.0,
    kinks: bool = True,
    max_entries: int = 5,
    seed: int = 0,
    name: str | None = None,
) -> HessianCheckResult:
    """Check a hand-derived Hessian ``hess(params)`` entry by entry (layout: see :mod:`._layout`).

    ``grad``: the hand gradient; checked first, then the Hessian is checked as its Jacobian
    (``method`` and ``step`` are check_jacobian's scheme and base step). Without it, second
    differences of ``loss`` (``step`` is their relative base step, default eps^(1/8); N(N+1)/2
    entries at 12 evaluations each, so for N up to a few hundred). ``gauss_newton``: the parts
    of ``J^T H_out J``; a mismatching claim that equals it is named the Gauss-Newton matrix.
    Entries where the gradient jumps (ReLU kinks) are reported as kinks, not judged.
    ``seed`` draws the direction of the noise measurement. Returns a
    :class:`HessianCheckResult`; ``str(result)`` reads like ``check_grad``'s.
    """
    need_callable("loss", loss, "loss(params) -> scalar")
    need_callable("hess", hess, "hess(params) -> Hessian")
    if grad is not None:
        need_callable("grad", grad, "grad(params) -> gradient")
    if gauss_newton is not None and not isinstance(gauss_newton, GaussNewton):
        raise InvalidArgumentError(
            f"gauss_newton={gauss_newton!r}: expected a gradcheck.GaussNewton(residual, jac, out_hessian)"
        )
    s = Settings(method, safety, step, typical, kinks, max_entries, seed).validated()
    ps = ParamSet(params, single_name="params")
    lay = Layout(ps)
    fname, hname = fn_name(loss, name), fn_name(hess, None)
    claim = Claim(lay, claimed_matrix(call(hess, ps, hname), lay, hname), fname)
    notes: list[str] = []
    first: GradCheckResult | None = None
    ref: Reference
    if grad is not None:
        first = first_order(loss, grad, ps, s, fname)
        if first.failed:  # an inconclusive gradient check still lets its Jacobian be judged
            return not_judged(
                "hessian",
                "gradient_wrong",
                fname,
                first,
                "the gradient is wrong, so the Hessian was not checked against its Jacobian: "
                "fix the gradient first (or omit grad= to use second differences of the loss)",
            )
        ref = from_grad(grad, claim, s)  # judged already, by check_jacobian
        n_eval = first.n_evaluations + ref.n_evaluations
        if kinks:
            ref, used = with_jumps(grad, lay, ref, typical)
            n_eval += used
        ref = unresolved_wide(ref, claim)
    else:
        f = FlatLoss(loss, ps, fname)
        f0 = f(f.x0)
        ref = unresolved_wide(judge_matrix(claim, from_loss(f, f0, lay, s, claim.matrix), safety), claim)
        if not kinks:
            ref = replace(ref, status=np.where(ref.status == Status.KINK, Status.MISMATCH, ref.status))
        n_eval = f.n_evaluations
    gn = None
    if gauss_newton is not None and (ref.status == Status.MISMATCH).any():
        parts = gn_parts(gauss_newton, lay, s, check_hessian)
        notes += parts.notes
        gn = parts.matrix
        if gn is not None:
            # 1e-300: only keeps an all-zero Hessian from dividing by zero
            residual = float(np.abs(ref.value - gn).max() / max(float(np.abs(ref.value).max()), 1e-300))
            notes.append(f"the residual term (Hessian - J^T H_out J) is {residual:.3g} of the Hessian's scale here")
    result = hessian_result("hessian", claim, ref, max_entries, n_evaluations=n_eval, first_order=first, gn=gn,
                            notes=notes)
    if any("Gauss-Newton" in d for d in result.diagnosis):  # the diagnosis already gives the residual's size
        result = replace(result, notes=tuple(n for n in result.notes if not n.startswith("the residual term")))
    return result


def check_gauss_newton(
    residual: Callable[[Any], Any],
    jac: Callable[[Any], Any],
    out_hessian: Any,
    gn: Callable[[Any], Any],
    params: Any,
    *,
    out_loss: Callable[[Any], Any] | None = None,
    method: str = "richardson",
    safety: float = SAFETY,
    step: float | None = None,
    typical: float = 1.0,
    max_entries: int = 5,
    name: str | None = None,
) -> HessianCheckResult:
    """Check a claimed Gauss-Newton matrix ``gn(params)`` (Hessian layout) against
    ``J^T H_out J`` built from checked parts: ``jac`` is checked against finite differences
    of ``residual`` first (a wrong Jacobian stops the check), ``out_hessian`` against
    ``out_loss`` when that is given. The product is exact to rounding, so the tolerance is
    its rounding bound (times ``safety``) plus 1e-7 x scale."""
    for nm, fn, sig in (
        ("residual", residual, "residual(params) -> array"),
        ("jac", jac, "jac(params) -> Jacobian"),
        ("gn", gn, "gn(params) -> matrix"),
    ):
        need_callable(nm, fn, sig)
    s = Settings(method, safety, step, typical, max_entries=max_entries).validated()
    ps = ParamSet(params, single_name="params")
    lay = Layout(ps)
    fname, gname = fn_name(residual, name), fn_name(gn, None)
    claim = Claim(lay, claimed_matrix(call(gn, ps, gname), lay, gname), fname)
    parts = gn_parts(GaussNewton(residual, jac, out_hessian, out_loss), lay, s, check_hessian)
    jres = parts.jacobian
    if parts.matrix is None or parts.bound is None:
        # name the part really wrong: a wrong out_hessian beside a Jacobian that passed is no Jacobian's fault
        status = "out_hessian_wrong" if parts.wrong == "out_hessian" else "jacobian_wrong"
        return not_judged("gauss_newton", status, fname, jres, parts.notes[0])
    n = lay.n
    # the product is exact to rounding: its error estimate is the rounding bound, every entry ok so far
    ref = Reference(parts.matrix, parts.bound, np.zeros((n, n)), np.full((n, n), int(Status.OK)),
                    jres.n_evaluations, "J^T H_out J from the checked residual Jacobian", None, parts.notes)
    ref = judge_matrix(claim, ref, safety)
    return hessian_result("gauss_newton", claim, ref, max_entries, n_evaluations=jres.n_evaluations,
                          first_order=jres)


def assert_hessian(
    loss: Callable[[Any], Any], hess: Callable[[Any], Any], params: Any, **options: Any
) -> HessianCheckResult:
    """:func:`check_hessian`, raising :class:`GradientMismatch` (an ``AssertionError``) unless ok.

    The message names each wrong block, its worst entries (index, claimed, numeric,
    errors, tolerance), what the mistake looks like, the reference and the tolerance rule.
    """
    __tracebackhide__ = True
    result = check_hessian(loss, hess, params, **options)
    if not result.ok:
        from ...judge._headline import failure_message

        raise GradientMismatch(failure_message(result, options.get("max_entries", 5)), result)
    return result


def assert_gauss_newton(
    residual: Callable[[Any], Any],
    jac: Callable[[Any], Any],
    out_hessian: Any,
    gn: Callable[[Any], Any],
    params: Any,
    **options: Any,
) -> HessianCheckResult:
    """:func:`check_gauss_newton`, raising :class:`GradientMismatch` unless ok."""
    __tracebackhide__ = True
    result = check_gauss_newton(residual, jac, out_hessian, gn, params, **options)
    if not result.ok:
        from ...judge._headline import failure_message

        raise GradientMismatch(failure_message(result, options.get("max_entries", 5)), result)
    return result


# --------------------------------------------------------------------------- Hessian-vector products
def check_hvp(
    loss: Callable[[Any], Any],
    hvp: Callable[[Any, Any], Any],
    params: Any,
    *,
    grad: Callable[[Any], Any] | None = None,
    vectors: int | Sequence[Any] = 3,
    seed: int = 0,
    method: str = "richardson",
    safety: float = SAFETY,
    step: float | None = None,
    typical: float = 1.0,
    max_entries: int = 5,
    name: str | None = None,
) -> HVPCheckResult:
    """Check ``hvp(params, v)`` (the Hessian times ``v``, in the structure of params) along
    drawn vectors: Gaussian, non-symmetric patterns for matrix parameters (so ``V^T`` in
    place of ``V`` shows), one parameter at a time; or along the given ``vectors``.

    With ``grad`` (checked first): the directional derivative of the gradient, by
    :func:`gradcheck.numerical_jacobian` along ``t -> grad(x + t v)``. Without: mixed second
    differences of the loss (12 evaluations per entry per vector).
    """
    need_callable("loss", loss, "loss(params) -> scalar")
    need_callable("hvp", hvp, "hvp(params, v) -> Hessian times v")
    if grad is not None:
        need_callable("grad", grad, "grad(params) -> gradient")
    s = Settings(method, safety, step, typical, max_entries=max_entries, seed=seed).validated()
    ps = ParamSet(params, single_name="params")
    drawn = vectors_given(vectors, Layout(ps), seed)
    return run_hvp(loss, hvp, grad, ps, drawn, s, fn_name(loss, name))


def assert_hvp(
    loss: Callable[[Any], Any], hvp: Callable[[Any, Any], Any], params: Any, **options: Any
) -> HVPCheckResult:
    """:func:`check_hvp`, raising :class:`GradientMismatch` unless ok."""
    __tracebackhide__ = True
    result = check_hvp(loss, hvp, params, **options)
    if not result.ok:
        from ...judge._headline import failure_message

        raise GradientMismatch(failure_message(result, options.get("max_entries", 5)), result)
    return result
