"""The numerical second-derivative matrices a claimed Hessian is judged against.

Two references. With ``grad=`` (checked first with :func:`gradcheck.check_grad`; a wrong
gradient stops the check) the Hessian is the Jacobian of the gradient, by the public
:func:`gradcheck.check_jacobian`: first differences of the gradient, accurate and cheap (6
gradient evaluations per column), already judged entry by entry by the one judge. Without
it, second differences of the loss (:mod:`._fd`), 12 loss evaluations per entry of the upper
triangle, with their own truncation and rounding estimates, judged in :mod:`._judge`. Where
the gradient jumps along a coordinate (a ReLU kink) no Hessian exists: those entries are
kinks. May import gradcheck's public checks (``_api``), ``_status``, ``_result`` and this
subpackage's ``_settings``, ``_layout`` and ``_fd``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ...core._params import ParamSet
from ...core._status import Status
from ...judge._result import GradCheckResult, Tolerance
from .._first_order import check_grad, check_jacobian
from ._fd import FlatLoss, base_step, measure_noise, mixed
from ._layout import Claim, Layout, flat_grad, param_of
from ._settings import Settings, fn_name

__all__ = ["Reference", "first_order", "from_grad", "from_loss", "jumps_along", "with_jumps"]


@dataclass(frozen=True)
class Reference:
    """A numerical second-derivative matrix with per-entry error, tolerance and status
    (a :class:`Status` per entry; ``tol`` and ``tolerance`` are set once it is judged)."""

    value: np.ndarray
    error: np.ndarray
    tol: np.ndarray
    status: np.ndarray
    n_evaluations: int
    method: str
    tolerance: Tolerance | None
    notes: tuple[str, ...]

    def noted(self, note: str) -> Reference:
        return replace(self, notes=(*self.notes, note))


def first_order(loss: Callable[[Any], Any], grad: Callable[[Any], Any], ps: ParamSet, settings: Settings,
                name: str) -> GradCheckResult:
    """The hand gradient checked first, on copies: a wrong gradient makes its Jacobian moot."""
    s = settings
    return check_grad(loss, grad, ps.pack(ps.copies()), method=s.method, safety=s.safety, typical=s.typical,
                      kinks=s.kinks, max_entries=s.max_entries, name=name)


def from_grad(grad: Callable[[Any], Any], claim: Claim, settings: Settings) -> Reference:
    """Jacobian of the gradient by the public check_jacobian, regathered into (N, N) blocks."""
    lay, claimed = claim.lay, claim.matrix
    ps = lay.ps
    g = flat_grad(grad, lay)
    if ps.single:
        x = lay.names[0]
        fn: Callable[[Any], Any] = lambda p: g(p).reshape(lay.shapes[x])  # noqa: E731
        jac: Callable[[Any], Any] = lambda p: claimed.reshape(lay.shapes[x] * 2)  # noqa: E731
    else:
        fn = g
        jac = lambda p: {b: claimed[:, lay.slices[b]].reshape((lay.n,) + lay.shapes[b]) for b in lay.names}  # noqa: E731
    fn.__qualname__ = f"{fn_name(grad, None)} (flattened)"
    jac.__qualname__ = "claimed Hessian"
    s = settings
    res = check_jacobian(fn, jac, ps.pack(ps.copies()), method=s.method, safety=s.safety, step=s.step,
                         typical=s.typical, kinks=s.kinks, max_entries=1)
    n = lay.n
    value, error, tol = np.empty((n, n)), np.empty((n, n)), np.empty((n, n))
    status = np.zeros((n, n), dtype=int)
    for b in lay.names:
        p = param_of(res, lay, b)
        cs = lay.slices[b]
        value[:, cs] = p.numeric.reshape(n, -1)
        error[:, cs] = p.error_estimate.reshape(n, -1)
        tol[:, cs] = p.tolerances.reshape(n, -1)
        st = p.status.reshape(n, -1)
        # No Hessian exists at a kink: a claim outside the one-sided slopes is just wrong there.
        # An unresolved entry stays unresolved (inconclusive), never ok.
        status[:, cs] = np.where(st == Status.KINK_MISMATCH, Status.MISMATCH, st)
    notes = list(res.notes)
    unresolved = int((status == Status.UNRESOLVED).sum())
    if unresolved:
        notes.append(
            f"{unresolved} entr{'y' if unresolved == 1 else 'ies'} of the gradient's Jacobian had no finite "
            "estimate (a step rounded away, or x + h outside the loss's domain): not judged"
        )
    return Reference(value, error, tol, status, res.n_evaluations, f"Jacobian of the gradient, method={res.method}",
                     next(iter(res.params.values())).tolerance, tuple(notes))


def jumps_along(g: Callable[[Any], np.ndarray], lay: Layout, x0: np.ndarray, g0: np.ndarray,
                d: np.ndarray) -> np.ndarray:
    """Entries of the gradient that jump along the direction ``d`` (a step of 1e-6 relative):
    a derivative's one-sided differences shrink 64x with the step, a jump's stay put.
    4 gradient evaluations."""
    ps = lay.ps
    # Far above the gradient's rounding (and the noise of a gradient summed from large terms):
    # a ReLU unit's jump is of the gradient's own size; one below 1e-9 of it is left to the
    # Jacobian check, whose noise probe then widens the tolerances (and says so).
    floor = max(1e3 * ps.eps, 1e-9) * max(float(np.abs(g0).max()), 1e-300)
    gaps = [np.abs(g(ps.pack(lay.unflat(x0 + sign * t * d))) - g0) for t in (1.0, 1 / 64) for sign in (1, -1)]
    right, left, right_s, left_s = gaps
    return ((right_s > right / 4) & (right_s > floor)) | ((left_s > left / 4) & (left_s > floor))


def _gradient_jumps(grad: Callable[[Any], Any], lay: Layout, typical: float) -> np.ndarray:
    """(N, N) mask: entry (i, j) where gradient entry i jumps along e_j: no Hessian exists there."""
    g = flat_grad(grad, lay)
    x0 = lay.flat(lay.ps.arrays)
    g0 = g(lay.ps.pack(lay.unflat(x0)))
    out = np.zeros((lay.n, lay.n), dtype=bool)
    for j in range(lay.n):
        e = np.zeros(lay.n)
        e[j] = 1e-6 * max(abs(x0[j]), typical)
        out[:, j] = jumps_along(g, lay, x0, g0, e)
    return out


def with_jumps(grad: Callable[[Any], Any], lay: Layout, ref: Reference, typical: float) -> tuple[Reference, int]:
    """Entries along which the gradient jumps are kinks, whatever the Jacobian check made of
    them (a jump inside its noise probe inflates every error bar). Returns the reference and
    the evaluations used."""
    jumps = _gradient_jumps(grad, lay, typical)
    jumps |= jumps.T
    if jumps.any():
        ref = replace(ref, status=np.where(jumps, Status.KINK, ref.status)).noted(
            "the gradient jumps at this point (a ReLU kink?): error bars of the entries around it are "
            "swamped; check a point off the kink for evidence on them"
        )
    return ref, 4 * lay.n + 1


def _label(lay: Layout, i: int, j: int) -> str:
    """Entry (i, j) of the flat matrix as its block and the index within it."""
    def where(k: int) -> tuple[str, tuple[int, ...]]:
        n = next(nm for nm in lay.names if lay.slices[nm].start <= k < lay.slices[nm].stop)
        return n, tuple(int(x) for x in np.unravel_index(k - lay.slices[n].start, lay.shapes[n]))

    (a, ia), (b, ib) = where(i), where(j)
    return f"({a!r}, {b!r}) {ia + ib}" if len(lay.names) > 1 else str(ia + ib)


SIDE_MATCH = 1e-2
"""A claim within this fraction of a one-sided second difference is said to match that side: the
differences are taken at half the base step (5e-3 of the coordinate's scale), so they carry an
error of about that much of the scale times the third derivative. They inform; they do not judge."""


def _straddle_note(lay: Layout, kinks: list[tuple[int, int, tuple[float, float] | None]],
                   claimed: np.ndarray | None, shown: int = 3) -> str:
    """Which entries' stencils straddled a kink, and the claim beside the one-sided second
    differences where the line has them (diagonal entries)."""
    names = ", ".join(_label(lay, i, j) for i, j, _ in kinks[:shown]) + (", ..." if len(kinks) > shown else "")
    text = (f"{len(kinks)} entr{'y' if len(kinks) == 1 else 'ies'} of the upper triangle straddle a kink inside "
            f"the second-difference stencil ({names}): the first or second derivative jumps there, the "
            "central differences mix its two sides, so they are kinks, not judged")
    sided = [(i, j, sd) for i, j, sd in kinks if sd is not None]
    if claimed is not None and sided:
        parts = []
        for i, j, (left, right) in sided[:shown]:
            c = float(claimed[i, j])
            near = [n for n, v in (("left", left), ("right", right))
                    if abs(c - v) <= SIDE_MATCH * max(abs(left), abs(right), abs(c))]
            how = f"matches the {' and '.join(near)} side" if near else (
                "between them" if min(left, right) <= c <= max(left, right) else "outside both")
            parts.append(f"{_label(lay, i, j)} claimed {c:.6g}, one-sided {left:.6g} (left) / {right:.6g} "
                         f"(right): {how}")
        text += "; the claim against the one-sided second differences: " + "; ".join(parts)
    return text


def from_loss(f: FlatLoss, f0: float, lay: Layout, settings: Settings, claimed: np.ndarray | None = None) -> Reference:
    """Second differences of the loss, entry by entry over the upper triangle; statuses are
    the stencil's (ok, kink, unresolved), tolerances are left to the judge. An entry whose
    stencil straddles a kink is one; the note names them and, on the diagonal, sets the
    ``claimed`` value beside the one-sided second differences."""
    eps = lay.ps.eps
    noise = measure_noise(f, f0, np.random.default_rng(settings.seed), eps)
    step = settings.step
    s = (step or base_step(eps)) * np.maximum(np.abs(f.x0), settings.typical)
    n = lay.n
    value, error = np.zeros((n, n)), np.zeros((n, n))
    status = np.zeros((n, n), dtype=int)
    straddling: list[tuple[int, int, tuple[float, float] | None]] = []
    for i in range(n):
        ui = np.zeros(n)
        ui[i] = s[i]
        for j in range(i, n):
            uj = np.zeros(n)
            uj[j] = s[j]
            est = mixed(f, f0, ui, uj, h=1.0, noise=noise, same=i == j)
            value[i, j] = value[j, i] = est.value / (s[i] * s[j])
            error[i, j] = error[j, i] = est.error / (s[i] * s[j])
            status[i, j] = status[j, i] = est.status
            if est.status == Status.KINK and est.jump == 0.0:  # a kink inside the stencil, not one at x
                sides = None if est.sides is None else (est.sides[0] / s[i] ** 2, est.sides[1] / s[i] ** 2)
                straddling.append((i, j, sides))
    # 1e-300: only keeps a loss of exactly 0 from dividing by zero in the note
    notes = (f"loss noise measured at {noise:.3g} ({noise / max(abs(f0), 1e-300):.2g} of the loss value)",)
    if straddling:
        notes += (_straddle_note(lay, straddling, claimed),)
    return Reference(
        value,
        error,
        np.zeros((n, n)),
        status,
        0,
        "second differences of the loss (Richardson on h, h/2, h/4, base step "
        f"{step or base_step(eps):.2g} x max(|x|, typical))",
        None,
        notes,
    )
