"""Second order: Hessians, Hessian-vector products and Gauss-Newton matrices, checked like gradients.

Layout of a claimed Hessian (``hess(params)``):

* one array parameter ``x``: an array of shape ``x.shape + x.shape`` with
  ``H[i..., j...] = d^2 loss / dx[i...] dx[j...]`` (a 2-D ``(x.size, x.size)`` matrix over the
  row-major ``vec(x)`` is accepted too);
* a dict of parameters: a dict ``{(a, b): block}`` over every ordered pair of names, block
  ``(a, b)`` of shape ``a.shape + b.shape`` (or ``(a.size, b.size)``) holding
  ``d^2 loss / da db``. Both ``(a, b)`` and ``(b, a)`` are required: a claim is checked as
  written, and a transposed block is a slip worth catching.

Two references. With ``grad=`` (checked first with :func:`gradcheck.check_grad`; a wrong
gradient stops the check) the Hessian is the Jacobian of the gradient and is checked with
:func:`gradcheck.check_jacobian`: first differences of the gradient, accurate and cheap
(6 gradient evaluations per column). Without it, second differences of the loss
(:mod:`._second_fd`), 12 loss evaluations per entry of the upper triangle, with their own
truncation and rounding estimates. Either way an entry mismatches when
``|claimed - numeric| > 10 x error estimate + 1e-7 x scale`` (scale: the largest magnitude in
that row of the block).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ._api import METHODS, check_grad, check_jacobian, numerical_jacobian
from ._compare import Judgement, floor_rtol, judge, relative_error
from ._errors import (
    GradientMismatch,
    GradientStructureError,
    InvalidArgumentError,
    LossRaisedError,
    MutatingFunctionError,
    NonFiniteError,
    ParameterError,
    ShapeMismatchError,
)
from ._options import DEFAULT_SAFETY, Options
from ._oracle import OracleEstimate
from ._params import ParamSet, first_nonfinite
from ._result import Entry, GradCheckResult, Tolerance
from ._second_diagnose import diagnose_blocks, diagnose_matrix, diagnose_vector
from ._second_fd import FlatLoss, base_step, measure_noise, mixed
from ._status import Status
from ._second_result import (
    BlockResult,
    HessianCheckResult,
    HVPCheckResult,
    VectorResult,
)

__all__ = [
    "GaussNewton",
    "assert_gauss_newton",
    "assert_hessian",
    "assert_hvp",
    "check_gauss_newton",
    "check_hessian",
    "check_hvp",
]

SAFETY = DEFAULT_SAFETY
RESOLVE = 1e-4
"""An entry whose tolerance is wider than this fraction of its scale cannot show a 1e-5 slip
(the target) with margin; it is reported inconclusive rather than ok."""


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


# --------------------------------------------------------------------------- layout
class _Layout:
    """Names, shapes and flat offsets of the parameters; blocks of an (N, N) matrix."""

    def __init__(self, ps: ParamSet) -> None:
        self.ps = ps
        self.names = list(ps.names)
        self.shapes = {n: ps.arrays[n].shape for n in self.names}
        sizes = ps.sizes
        offs = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.slices = {n: slice(int(offs[k]), int(offs[k + 1])) for k, n in enumerate(self.names)}
        self.n = int(offs[-1])

    def pairs(self) -> list[tuple[str, str]]:
        return [(a, b) for a in self.names for b in self.names]

    def block(self, m: np.ndarray, a: str, b: str) -> np.ndarray:
        return m[self.slices[a], self.slices[b]]

    def flat(self, value: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([np.asarray(value[n], dtype=np.float64).ravel() for n in self.names])

    def unflat(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return {n: x[self.slices[n]].reshape(self.shapes[n]).copy() for n in self.names}


def _need_callable(name: str, fn: Any, signature: str) -> None:
    if not callable(fn):
        raise InvalidArgumentError(f"{name}={fn!r}: expected a callable {signature}")


def _name(fn: Callable[..., Any], given: str | None) -> str:
    return given or getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__


def _options(safety: float, step: float | None, typical: float, max_entries: int, method: str = "richardson") -> None:
    if method not in METHODS:
        raise InvalidArgumentError(f"method={method!r}: expected one of {', '.join(map(repr, METHODS))}")
    if not isinstance(safety, (int, float)) or not math.isfinite(safety) or safety < 1:
        raise InvalidArgumentError(f"safety={safety!r}: expected a finite number >= 1 (default {SAFETY:g})")
    if step is not None and (not isinstance(step, (int, float)) or not 0 < step < 1):
        raise InvalidArgumentError(
            f"step={step!r}: expected a relative base step in (0, 1), or None for the default "
            f"(eps^(1/8) for second differences)"
        )
    if not isinstance(typical, (int, float)) or not math.isfinite(typical) or typical <= 0:
        raise InvalidArgumentError(f"typical={typical!r}: expected a positive number")
    if not isinstance(max_entries, int) or max_entries < 1:
        raise InvalidArgumentError(f"max_entries={max_entries!r}: expected an integer >= 1")


def _call(fn: Callable[..., Any], ps: ParamSet, fname: str, *extra: Any) -> Any:
    """Call a hand-derived function on private copies; raising or mutating is named."""
    copies = ps.copies()
    try:
        value = fn(ps.pack(copies), *extra)
    except Exception as exc:
        raise LossRaisedError(f"{fname} raised {type(exc).__name__}: {exc}") from exc
    for n in ps.names:
        if not np.array_equal(copies[n], ps.arrays[n]):
            raise MutatingFunctionError(f"{fname} modified its input: parameter {n!r} changed")
    return value


def _as_block(value: Any, shape: tuple[int, ...], two_d: tuple[int, int], what: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except Exception as exc:
        raise ShapeMismatchError(f"{what} is not an array ({exc})") from exc
    if arr.dtype.kind not in "biuf":
        raise ParameterError(f"{what} has dtype {arr.dtype}; expected real numbers")
    if arr.shape != shape and arr.shape != two_d:
        raise ShapeMismatchError(f"{what} has shape {arr.shape}, expected {shape} (or the 2-D {two_d})")
    found = first_nonfinite(np.asarray(arr, dtype=np.float64))
    if found:
        raise NonFiniteError(
            f"{what} has {found[0]} non-finite entr{'y' if found[0] == 1 else 'ies'}; "
            f"first at index {found[1]} = {found[2]}"
        )
    return np.array(arr, dtype=np.float64).reshape(two_d)


def _claimed_matrix(value: Any, lay: _Layout, fname: str) -> np.ndarray:
    """The claimed Hessian (or Gauss-Newton matrix) as one (N, N) matrix over vec(params)."""
    ps = lay.ps
    if ps.single:
        x = lay.names[0]
        if isinstance(value, Mapping):
            raise GradientStructureError(
                f"{fname} returned a mapping, but params is a single array: return "
                f"an array of shape {lay.shapes[x] * 2} (x.shape + x.shape)"
            )
        size = ps.arrays[x].size
        return _as_block(value, lay.shapes[x] * 2, (size, size), f"{fname}: the Hessian")
    if not isinstance(value, Mapping):
        raise GradientStructureError(
            f"{fname} returned {type(value).__name__}; expected a dict {{(a, b): block}} over the pairs of {lay.names}"
        )
    want = lay.pairs()
    bad_keys = [k for k in value if k not in want]
    missing = [k for k in want if k not in value]
    if bad_keys or missing:
        bits = ([f"missing block(s) {missing}"] if missing else []) + (
            [f"unknown key(s) {bad_keys}"] if bad_keys else []
        )
        raise GradientStructureError(
            f"{fname} returned blocks with {' and '.join(bits)}; expected every ordered "
            f"pair (a, b) of {lay.names} (both (a, b) and (b, a))"
        )
    out = np.empty((lay.n, lay.n))
    for a, b in want:
        na, nb = ps.arrays[a].size, ps.arrays[b].size
        what = f"{fname}: block ({a!r}, {b!r})"
        arr = np.asarray(value[(a, b)])
        if arr.shape == lay.shapes[b] + lay.shapes[a] and arr.shape != lay.shapes[a] + lay.shapes[b]:
            raise ShapeMismatchError(
                f"{what} has shape {arr.shape}, expected {lay.shapes[a] + lay.shapes[b]} "
                f"(a.shape + b.shape); that is the shape of block ({b!r}, {a!r}): transposed "
                "block?"
            )
        out[lay.slices[a], lay.slices[b]] = _as_block(arr, lay.shapes[a] + lay.shapes[b], (na, nb), what)
    return out


def _scale_rows(m: np.ndarray, c: np.ndarray, lay: _Layout) -> np.ndarray:
    """Per entry: the largest magnitude of claimed and numeric in its row of its block."""
    s = np.empty_like(m)
    mag = np.where(np.isfinite(m), np.abs(m), 0.0)  # an unresolved entry (NaN) sets no scale
    for a, b in lay.pairs():
        rs, cs = lay.slices[a], lay.slices[b]
        s[rs, cs] = np.maximum(mag[rs, cs].max(axis=1, keepdims=True), np.abs(c[rs, cs]).max(axis=1, keepdims=True))
    return s


def _first_order(loss: Callable[[Any], Any], grad: Callable[[Any], Any], ps: ParamSet, *, method: str,
                 safety: float, typical: Any, max_entries: int, name: str, kinks: bool = True) -> GradCheckResult:
    """The hand gradient checked first, on copies: a wrong gradient makes its Jacobian moot."""
    return check_grad(loss, grad, ps.pack(ps.copies()), method=method, safety=safety, typical=typical, kinks=kinks,
                      max_entries=max_entries, name=name)


def _tolerance(t: np.ndarray, safety: float, eps: float) -> Tolerance:
    return Tolerance(
        mode="estimate",
        safety=safety,
        floor_rtol=floor_rtol(eps),
        rtol=None,
        atol=None,
        eps=eps,
        max=float(t.max()),
        median=float(np.median(t)),
    )


# --------------------------------------------------------------------------- references
@dataclass
class _Reference:
    """A numerical second-derivative matrix with per-entry error, tolerance and status."""

    value: np.ndarray
    error: np.ndarray
    tol: np.ndarray
    status: np.ndarray
    n_evaluations: int
    method: str
    tolerance: Tolerance | None
    notes: list[str]


def _param(res: GradCheckResult, lay: _Layout, name: str) -> Any:
    """The core names a single array parameter itself; ours is called 'params'."""
    return next(iter(res.params.values())) if lay.ps.single else res.params[name]


def _flat_grad(grad: Callable[[Any], Any], lay: _Layout) -> Callable[[Any], np.ndarray]:
    def g(p: Any) -> np.ndarray:
        value = grad(p)
        parts = {lay.names[0]: value} if lay.ps.single else value
        return np.concatenate([np.asarray(parts[n], dtype=np.float64).ravel() for n in lay.names])

    g.__qualname__ = _name(grad, None)
    return g


def _from_grad(
    grad: Callable[[Any], Any],
    lay: _Layout,
    claimed: np.ndarray,
    *,
    method: str,
    safety: float,
    step: float | None,
    typical: float,
    kinks: bool,
) -> tuple[_Reference, GradCheckResult]:
    """Jacobian of the gradient by the public check_jacobian, regathered into (N, N) blocks."""
    ps = lay.ps
    g = _flat_grad(grad, lay)
    if ps.single:
        x = lay.names[0]
        fn: Callable[[Any], Any] = lambda p: g(p).reshape(lay.shapes[x])  # noqa: E731
        jac: Callable[[Any], Any] = lambda p: claimed.reshape(lay.shapes[x] * 2)  # noqa: E731
    else:
        fn = g
        jac = lambda p: {b: claimed[:, lay.slices[b]].reshape((lay.n,) + lay.shapes[b]) for b in lay.names}  # noqa: E731
    fn.__qualname__ = f"{_name(grad, None)} (flattened)"
    jac.__qualname__ = "claimed Hessian"
    res = check_jacobian(
        fn,
        jac,
        ps.pack(ps.copies()),
        method=method,
        safety=safety,
        step=step,
        typical=typical,
        kinks=kinks,
        max_entries=1,
    )
    n = lay.n
    shape = {k: np.empty((n, n)) for k in ("value", "error", "tol")}
    status = np.zeros((n, n), dtype=int)
    for b in lay.names:
        p = _param(res, lay, b)
        cs = lay.slices[b]
        shape["value"][:, cs] = p.numeric.reshape(n, -1)
        shape["error"][:, cs] = p.error_estimate.reshape(n, -1)
        shape["tol"][:, cs] = p.tolerances.reshape(n, -1)
        st = p.status.reshape(n, -1)
        # No Hessian exists at a kink: a claim outside the one-sided slopes is just wrong there.
        # An unresolved entry stays unresolved (inconclusive), never ok.
        status[:, cs] = np.where(st == Status.KINK_MISMATCH, Status.MISMATCH, st)
    tol = next(iter(res.params.values())).tolerance
    notes = list(res.notes)
    unresolved = int((status == Status.UNRESOLVED).sum())
    if unresolved:
        notes.append(
            f"{unresolved} entr{'y' if unresolved == 1 else 'ies'} of the gradient's Jacobian had no finite "
            "estimate (a step rounded away, or x + h outside the loss's domain): not judged"
        )
    ref = _Reference(
        shape["value"],
        shape["error"],
        shape["tol"],
        status,
        res.n_evaluations,
        f"Jacobian of the gradient, method={res.method}",
        tol,
        notes,
    )
    return ref, res


def _jumps_along(
    g: Callable[[Any], np.ndarray], lay: _Layout, x0: np.ndarray, g0: np.ndarray, d: np.ndarray
) -> np.ndarray:
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


def _gradient_jumps(grad: Callable[[Any], Any], lay: _Layout, typical: float) -> np.ndarray:
    """(N, N) mask: entry (i, j) where gradient entry i jumps along e_j: no Hessian exists there."""
    g = _flat_grad(grad, lay)
    x0 = lay.flat(lay.ps.arrays)
    g0 = g(lay.ps.pack(lay.unflat(x0)))
    out = np.zeros((lay.n, lay.n), dtype=bool)
    for j in range(lay.n):
        e = np.zeros(lay.n)
        e[j] = 1e-6 * max(abs(x0[j]), typical)
        out[:, j] = _jumps_along(g, lay, x0, g0, e)
    return out


def _from_loss(
    f: FlatLoss, f0: float, lay: _Layout, *, safety: float, step: float | None, typical: float, seed: int
) -> _Reference:
    """Second differences of the loss, entry by entry over the upper triangle."""
    eps = lay.ps.eps
    noise = measure_noise(f, f0, np.random.default_rng(seed), eps)
    s = (step or base_step(eps)) * np.maximum(np.abs(f.x0), typical)
    n = lay.n
    value, error = np.zeros((n, n)), np.zeros((n, n))
    status = np.zeros((n, n), dtype=int)
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
    notes = [f"loss noise measured at {noise:.3g} ({noise / max(abs(f0), 1e-300):.2g} of the loss value)"]
    return _Reference(
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


def _judged(claimed: np.ndarray, value: np.ndarray, error: np.ndarray, safety: float, eps: float) -> Judgement:
    """The one judge (:func:`gradcheck._compare.judge`) on an ``(m, n)`` piece whose rows share a
    scale: ``|claimed - value| > safety x error + floor_rtol x scale`` is a mismatch, a value or
    bar that is not finite is unresolved. Its kink rule (one-sided slopes as the oracle) is off:
    at a kink of the gradient no second derivative exists, so the caller marks it, unjudged."""
    return judge(claimed, OracleEstimate(value=value, error=error), eps=eps,
                 options=Options(safety=safety, kinks=False))


def _judge(claimed: np.ndarray, ref: _Reference, lay: _Layout, safety: float) -> None:
    """Fill ``ref.tol`` and the statuses of the entries the reference left ok, block by block
    (a block's rows are the scale of its entries)."""
    eps = lay.ps.eps
    tol, status = np.empty_like(ref.value), np.empty_like(ref.status)
    for a, b in lay.pairs():
        rs, cs = lay.slices[a], lay.slices[b]
        j = _judged(claimed[rs, cs], ref.value[rs, cs], ref.error[rs, cs], safety, eps)
        tol[rs, cs], status[rs, cs] = j.tolerance, j.status
    ref.tol = tol
    # the reference's own findings (a kink, no clean difference at any step) stand
    ref.status = np.where(ref.status == Status.OK, status, ref.status)
    ref.tolerance = _tolerance(ref.tol, safety, eps)


# --------------------------------------------------------------------------- results
def _entry(claimed: np.ndarray, ref: _Reference, r: int, c: int, index: tuple[int, ...]) -> Entry:
    a, n = float(claimed[r, c]), float(ref.value[r, c])
    err = abs(a - n)
    return Entry(
        index=index,
        analytic=a,
        numeric=n,
        abs_error=err,
        rel_error=float(relative_error(np.float64(err), a, n, 0.0)),
        tolerance=float(ref.tol[r, c]),
        error_estimate=float(ref.error[r, c]),
        status=Status(int(ref.status[r, c])).label,
    )


def _block_result(
    claimed: np.ndarray, ref: _Reference, lay: _Layout, a: str, b: str, max_entries: int, diagnosis: str | None
) -> BlockResult:
    rs, cs = lay.slices[a], lay.slices[b]
    c, v, t, st = claimed[rs, cs], ref.value[rs, cs], ref.tol[rs, cs], ref.status[rs, cs]
    sa, sb = lay.shapes[a], lay.shapes[b]

    def entry(flat: int) -> Entry:
        r, k = divmod(flat, c.shape[1])
        index = tuple(int(i) for i in np.unravel_index(r, sa)) + tuple(int(i) for i in np.unravel_index(k, sb))
        return _entry(claimed, ref, rs.start + r, cs.start + k, index)

    err = np.abs(c - v)
    judged = st == Status.OK
    judged |= st == Status.MISMATCH
    ratio = np.where(judged, err / np.maximum(t, 1e-300), -1.0).ravel()
    order = np.argsort(-ratio, kind="stable")
    bad = [int(i) for i in order if st.ravel()[i] == Status.MISMATCH]
    kinks = np.flatnonzero(st.ravel() == Status.KINK)[:max_entries]
    scale = max(float(np.abs(np.where(np.isfinite(v), v, 0.0)).max()), float(np.abs(c).max()), 1e-300)
    mirror = lay.block(claimed, b, a).T
    return BlockResult(
        rows=a,
        cols=b,
        shape=sa + sb,
        ok=not bad,
        n_checked=int(c.size),
        n_mismatched=len(bad),
        n_kinks=int((st == Status.KINK).sum()),
        n_inconclusive=int((st == Status.UNRESOLVED).sum()),
        max_abs_error=float(np.where(judged, err, 0).max()),
        max_rel_error=float(np.where(judged, relative_error(err, c, v, 0.0), 0).max()),
        resolution=float(np.where(judged, t, 0).max()) / scale,
        worst=entry(int(order[0])),
        mismatches=tuple(entry(i) for i in bad[:max_entries]),
        kinks=tuple(entry(int(i)) for i in kinks),
        asymmetry=float(np.abs(c - mirror).max()) / scale,
        diagnosis=diagnosis,
        analytic=c.reshape(sa + sb),
        numeric=v.reshape(sa + sb),
        error_estimate=ref.error[rs, cs].reshape(sa + sb),
        tolerances=t.reshape(sa + sb),
    )


def _asymmetry(c: np.ndarray) -> float:
    return float(np.abs(c - c.T).max() / max(float(np.abs(c).max()), 1e-300))


def _result(
    kind: str,
    fname: str,
    claimed: np.ndarray,
    ref: _Reference,
    lay: _Layout,
    *,
    max_entries: int,
    n_evaluations: int,
    first_order: GradCheckResult | None,
    gn: np.ndarray | None = None,
    notes: Sequence[str] = (),
) -> HessianCheckResult:
    bad = ref.status == Status.MISMATCH
    judged_tol = np.where((ref.status == Status.OK) | bad, ref.tol, np.inf)
    whole = diagnose_matrix(claimed, ref.value, judged_tol, bad, lay, gn=gn) if bad.any() else []
    per_block = diagnose_blocks(claimed, ref.value, judged_tol, bad, lay) if bad.any() else {}
    blocks = {
        (a, b): _block_result(claimed, ref, lay, a, b, max_entries, per_block.get((a, b))) for a, b in lay.pairs()
    }
    kinks = int((ref.status == Status.KINK).sum())
    all_notes = list(ref.notes) + list(notes)
    if kinks:
        all_notes.append(
            f"{kinks} entr{'y' if kinks == 1 else 'ies'} at kinks: the one-sided first derivatives of the "
            f"gradient differ there, so the Hessian does not exist at this point; not judged"
        )
    zero_numeric = np.all(np.abs(ref.value[ref.status == Status.OK]) <= ref.tol[ref.status == Status.OK])
    if not bad.any() and not np.any(claimed) and zero_numeric:
        all_notes.append(
            "claimed and numerical second derivatives are identically zero here (a piecewise-linear "
            "region of a ReLU net?): this point cannot tell a right formula from a wrong one"
        )
    judged_any = bool(((ref.status == Status.OK) | bad).any())
    if not judged_any:
        all_notes.append("no entry could be judged at this point: check another point for evidence")
    status = (
        "mismatch" if bad.any() else ("inconclusive" if (ref.status == Status.UNRESOLVED).any() or not judged_any else "ok")
    )
    return HessianCheckResult(
        ok=status == "ok",
        status=status,
        kind=kind,
        function=fname,
        method=ref.method,
        blocks=blocks,
        n_evaluations=n_evaluations,
        asymmetry=_asymmetry(claimed),
        tolerance=ref.tolerance,
        diagnosis=tuple(whole),
        first_order=first_order,
        notes=tuple(all_notes),
    )


def _not_judged(
    kind: str, status: str, fname: str, first: GradCheckResult, n_eval: int, note: str
) -> HessianCheckResult:
    return HessianCheckResult(
        ok=False,
        status=status,
        kind=kind,
        function=fname,
        method="not run",
        blocks={},
        n_evaluations=n_eval,
        asymmetry=float("nan"),
        tolerance=None,
        first_order=first,
        notes=(note,),
    )


# --------------------------------------------------------------------------- Gauss-Newton reference
def _gn_parts(
    parts: GaussNewton, lay: _Layout, *, method: str, safety: float, step: float | None, typical: float
) -> tuple[np.ndarray | None, np.ndarray | None, GradCheckResult, list[str]]:
    """``J^T H_out J`` from the analytic Jacobian once check_jacobian has passed it, with a
    rounding bound; (None, None, result, notes) when the Jacobian or H_out is wrong."""
    ps = lay.ps
    res = check_jacobian(
        parts.residual,
        parts.jac,
        ps.pack(ps.copies()),
        method=method,
        safety=safety,
        step=step,
        typical=typical,
        max_entries=3,
        name=_name(parts.residual, None),
    )
    if not res.ok:
        return None, None, res, [f"the residual Jacobian {_name(parts.jac, None)} is wrong (see below)"]
    r = np.asarray(_call(parts.residual, ps, _name(parts.residual, None)), dtype=np.float64)
    m = r.size
    J = np.concatenate([_param(res, lay, n).analytic.reshape(m, -1) for n in lay.names], axis=1)
    H_value = parts.out_hessian(r.copy()) if callable(parts.out_hessian) else parts.out_hessian
    H = _as_block(H_value, r.shape * 2, (m, m), "out_hessian")
    notes = []
    if parts.out_loss is not None:
        _need_callable("out_loss", parts.out_loss, "out_loss(r) -> scalar")
        hres = check_hessian(parts.out_loss, lambda _r: H.reshape(r.shape * 2), r.copy(), safety=safety)
        if hres.status == "mismatch":
            return None, None, res, [f"out_hessian is not the Hessian of out_loss at r:\n{hres.summary(3)}"]
        notes.append(
            "out_hessian checked against second differences of out_loss"
            if hres.ok
            else f"out_hessian only partly verified against out_loss ({hres.status}: no entry wrong)"
        )
    if _asymmetry(H) > 1e-10:
        notes.append(f"out_hessian is not symmetric (asymmetry {_asymmetry(H):.2g}); J^T H_out J inherits it")
    G = J.T @ H @ J
    # rounding of the two products: each entry is a sum of m^2 terms, each good to a few ulp
    bound = 4.0 * m * ps.eps * (np.abs(J).T @ np.abs(H) @ np.abs(J))
    return G, bound, res, notes


# --------------------------------------------------------------------------- public API
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
    """Check a hand-derived Hessian ``hess(params)`` entry by entry (layout: see the module doc).

    ``grad``: the hand gradient; checked first, then the Hessian is checked as its Jacobian
    (``method`` and ``step`` are check_jacobian's scheme and base step). Without it, second
    differences of ``loss`` (``step`` is their relative base step, default eps^(1/8); N(N+1)/2
    entries at 12 evaluations each, so for N up to a few hundred). ``gauss_newton``: the parts
    of ``J^T H_out J``; a mismatching claim that equals it is named the Gauss-Newton matrix.
    Entries where the gradient jumps (ReLU kinks) are reported as kinks, not judged.
    ``seed`` draws the direction of the noise measurement. Returns a
    :class:`HessianCheckResult`; ``str(result)`` reads like ``check_grad``'s.
    """
    _need_callable("loss", loss, "loss(params) -> scalar")
    _need_callable("hess", hess, "hess(params) -> Hessian")
    if grad is not None:
        _need_callable("grad", grad, "grad(params) -> gradient")
    if gauss_newton is not None and not isinstance(gauss_newton, GaussNewton):
        raise InvalidArgumentError(
            f"gauss_newton={gauss_newton!r}: expected a gradcheck.GaussNewton(residual, jac, out_hessian)"
        )
    _options(safety, step, typical, max_entries, method)
    ps = ParamSet(params, single_name="params")
    lay = _Layout(ps)
    fname, hname = _name(loss, name), _name(hess, None)
    claimed = _claimed_matrix(_call(hess, ps, hname), lay, hname)
    notes: list[str] = []
    first: GradCheckResult | None = None
    if grad is not None:
        first = _first_order(loss, grad, ps, method=method, safety=safety, typical=typical, kinks=kinks,
                             max_entries=max_entries, name=fname)
        if first.failed:  # an inconclusive gradient check still lets its Jacobian be judged
            return _not_judged(
                "hessian",
                "gradient_wrong",
                fname,
                first,
                first.n_evaluations,
                "the gradient is wrong, so the Hessian was not checked against its Jacobian: "
                "fix the gradient first (or omit grad= to use second differences of the loss)",
            )
        ref, _ = _from_grad(grad, lay, claimed, method=method, safety=safety, step=step, typical=typical, kinks=kinks)
        n_eval = first.n_evaluations + ref.n_evaluations
        if kinks:
            n_eval += _reclassify_jumps(grad, lay, ref, typical)
        _unresolved(ref, claimed, lay)
    else:
        f = FlatLoss(loss, ps, fname)
        f0 = f(f.x0)
        ref = _from_loss(f, f0, lay, safety=safety, step=step, typical=typical, seed=seed)
        _judge(claimed, ref, lay, safety)
        _unresolved(ref, claimed, lay)
        if not kinks:
            ref.status = np.where(ref.status == Status.KINK, Status.MISMATCH, ref.status)
        n_eval = f.n_evaluations
    gn = None
    if gauss_newton is not None and (ref.status == Status.MISMATCH).any():
        gn, _bound, _jres, gn_notes = _gn_parts(
            gauss_newton, lay, method=method, safety=safety, step=step, typical=typical
        )
        notes += gn_notes
        if gn is not None:
            residual = float(np.abs(ref.value - gn).max() / max(float(np.abs(ref.value).max()), 1e-300))
            notes.append(f"the residual term (Hessian - J^T H_out J) is {residual:.3g} of the Hessian's scale here")
    result = _result(
        "hessian",
        fname,
        claimed,
        ref,
        lay,
        max_entries=max_entries,
        n_evaluations=n_eval,
        first_order=first,
        gn=gn,
        notes=notes,
    )
    if any("Gauss-Newton" in d for d in result.diagnosis):  # the diagnosis already gives the residual's size
        result = replace(result, notes=tuple(n for n in result.notes if not n.startswith("the residual term")))
    return result


def _reclassify_jumps(grad: Callable[[Any], Any], lay: _Layout, ref: _Reference, typical: float) -> int:
    """Entries along which the gradient jumps are kinks, whatever the Jacobian check made of
    them (a jump inside its noise probe inflates every error bar). Returns evaluations used."""
    jumps = _gradient_jumps(grad, lay, typical)
    jumps |= jumps.T
    if jumps.any():
        ref.status = np.where(jumps, Status.KINK, ref.status)
        ref.notes.append(
            "the gradient jumps at this point (a ReLU kink?): error bars of the entries around it are "
            "swamped; check a point off the kink for evidence on them"
        )
    return 4 * lay.n + 1


def _unresolved(ref: _Reference, claimed: np.ndarray, lay: _Layout) -> None:
    """An entry whose tolerance exceeds RESOLVE x its row's scale is no evidence: inconclusive."""
    # a row of zeros beside non-zero rows is resolved against the matrix's scale; an all-zero
    # matrix is left to the "identically zero" note
    significant = (ref.status == Status.OK) & (np.abs(ref.value) > ref.tol)  # rounding-level values are zeros
    overall = max(float(np.abs(ref.value[significant]).max(initial=0.0)), float(np.abs(claimed).max()))
    scale = np.maximum(_scale_rows(ref.value, claimed, lay), 1e-3 * overall)
    wide = (ref.tol > RESOLVE * scale) & (ref.status == Status.OK) & (overall > 0)
    if wide.any():
        ref.status = np.where(wide, Status.UNRESOLVED, ref.status)
        ref.notes.append(
            f"{int(wide.sum())} entries have tolerances above {RESOLVE:g} of their scale "
            f"(a noisy loss or a kink nearby): inconclusive there"
        )


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
        _need_callable(nm, fn, sig)
    _options(safety, step, typical, max_entries)
    ps = ParamSet(params, single_name="params")
    lay = _Layout(ps)
    fname, gname = _name(residual, name), _name(gn, None)
    claimed = _claimed_matrix(_call(gn, ps, gname), lay, gname)
    G, bound, jres, notes = _gn_parts(
        GaussNewton(residual, jac, out_hessian, out_loss), lay, method=method, safety=safety, step=step, typical=typical
    )
    if G is None or bound is None:
        return _not_judged("gauss_newton", "jacobian_wrong", fname, jres, jres.n_evaluations, notes[0])
    n = lay.n
    ref = _Reference(
        G,
        bound,
        np.zeros((n, n)),
        np.zeros((n, n), dtype=int),
        jres.n_evaluations,
        "J^T H_out J from the checked residual Jacobian",
        None,
        notes,
    )
    _judge(claimed, ref, lay, safety)
    return _result(
        "gauss_newton",
        fname,
        claimed,
        ref,
        lay,
        max_entries=max_entries,
        n_evaluations=jres.n_evaluations,
        first_order=jres,
    )


def assert_hessian(
    loss: Callable[[Any], Any], hess: Callable[[Any], Any], params: Any, **options: Any
) -> HessianCheckResult:
    """:func:`check_hessian`, raising :class:`GradientMismatch` (an ``AssertionError``) unless ok.

    The message names each wrong block, its worst entries (index, claimed, numeric,
    errors, tolerance), what the mistake looks like, the reference and the tolerance rule.
    """
    result = check_hessian(loss, hess, params, **options)
    if not result.ok:
        raise GradientMismatch(result.summary(options.get("max_entries", 5)), result)
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
    result = check_gauss_newton(residual, jac, out_hessian, gn, params, **options)
    if not result.ok:
        raise GradientMismatch(result.summary(options.get("max_entries", 5)), result)
    return result


# --------------------------------------------------------------------------- Hessian-vector products
def _draw_vectors(lay: _Layout, count: int, seed: int) -> list[tuple[str, dict[str, np.ndarray]]]:
    """Gaussian; non-symmetric (upper-triangular-heavy matrices, ramped vectors), so an hvp
    that uses V^T or only V's symmetric part shows; one parameter at a time."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        kind = k % 3
        v = {n: rng.standard_normal(lay.shapes[n]) for n in lay.names}
        if kind == 0:
            out.append(("gaussian", v))
        elif kind == 1:
            for n, a in v.items():
                if a.ndim == 2:
                    v[n] = 3.0 * np.triu(a) + 0.2 * a
                else:
                    v[n] = a * np.linspace(0.2, 2.0, a.size).reshape(a.shape)
            out.append(("non-symmetric (upper-triangular for matrices, ramped otherwise)", v))
        else:
            only = lay.names[(k // 3) % len(lay.names)]
            v = {n: (a if n == only else np.zeros_like(a)) for n, a in v.items()}
            if len(lay.names) == 1:  # a single parameter: a sparse vector instead
                a = v[only].ravel()
                a[rng.random(a.size) < 0.6] = 0.0
                a[rng.integers(a.size)] = 1.0
                v[only] = a.reshape(lay.shapes[only])
            out.append((f"only {only!r}" if len(lay.names) > 1 else "sparse", v))
    return out


def _vectors_given(vectors: Any, lay: _Layout, seed: int) -> list[tuple[str, dict[str, np.ndarray]]]:
    if isinstance(vectors, bool) or not isinstance(vectors, (int, Sequence)):
        raise InvalidArgumentError(
            f"vectors={vectors!r}: expected a count >= 1 or a list of vectors shaped like params"
        )
    if isinstance(vectors, int):
        if vectors < 1:
            raise InvalidArgumentError(f"vectors={vectors!r}: expected a count >= 1")
        return _draw_vectors(lay, vectors, seed)
    out = []
    for k, v in enumerate(vectors):
        parts = lay.ps.unpack_derivative(v, what=f"vectors[{k}]", fn_name="check_hvp", out_shape=None)
        out.append((f"vectors[{k}]", parts))
    if not out:
        raise InvalidArgumentError("vectors=[]: give at least one vector")
    return out


def _hv_reference_grad(
    g: Callable[[Any], np.ndarray], lay: _Layout, v: np.ndarray, *, method: str, safety: float, typical: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """d/dt grad(x + t v) at t = 0 by the public numerical_jacobian: value, error, kink, evaluations."""
    ps = lay.ps
    x0 = lay.flat(ps.arrays)
    c = max(float(np.abs(x0).max()), typical) / float(np.abs(v).max())
    d = v * c

    def phi(t: np.ndarray) -> np.ndarray:
        return g(ps.pack(lay.unflat(x0 + float(t[0]) * d)))

    est = numerical_jacobian(phi, np.zeros(1), method=method, safety=safety)
    # a jump of the gradient along v swamps the estimate's noise probe: look for it directly
    jumps = _jumps_along(g, lay, x0, phi(np.zeros(1)), d * 1e-6)
    return est.value[:, 0] / c, est.error[:, 0] / c, est.kink[:, 0] | jumps, est.n_evaluations + 5


def _hv_reference_loss(
    f: FlatLoss, f0: float, lay: _Layout, v: np.ndarray, noise: float, step: float | None, typical: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    eps = lay.ps.eps
    s = (step or base_step(eps)) * np.maximum(np.abs(f.x0), typical)
    c = max(float(np.abs(f.x0).max()), typical) / float(np.abs(v).max())
    w = v * c * (step or base_step(eps))
    value, error, status = np.empty(lay.n), np.empty(lay.n), np.empty(lay.n, dtype=int)
    for i in range(lay.n):
        u = np.zeros(lay.n)
        u[i] = s[i]
        est = mixed(f, f0, u, w, h=1.0, noise=noise)
        unit = s[i] * c * (step or base_step(eps))
        value[i], error[i], status[i] = est.value / unit, est.error / unit, est.status
    return value, error, status


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
    _need_callable("loss", loss, "loss(params) -> scalar")
    _need_callable("hvp", hvp, "hvp(params, v) -> Hessian times v")
    if grad is not None:
        _need_callable("grad", grad, "grad(params) -> gradient")
    _options(safety, step, typical, max_entries, method)
    ps = ParamSet(params, single_name="params")
    lay = _Layout(ps)
    fname, hname = _name(loss, name), _name(hvp, None)
    drawn = _vectors_given(vectors, lay, seed)
    eps = ps.eps
    first: GradCheckResult | None = None
    notes: list[str] = []
    n_eval, f0, noise = 0, 0.0, 0.0
    f: FlatLoss | None = None
    g: Callable[[Any], np.ndarray] | None = None
    if grad is not None:
        first = _first_order(loss, grad, ps, method=method, safety=safety, typical=typical,
                             max_entries=max_entries, name=fname)
        n_eval += first.n_evaluations
        if first.failed:  # an inconclusive gradient check still lets its Jacobian be judged
            return HVPCheckResult(
                ok=False,
                status="gradient_wrong",
                function=fname,
                method="not run",
                vectors=(),
                n_evaluations=n_eval,
                tolerance=None,
                first_order=first,
                notes=(
                    (
                        "the gradient is wrong, so Hv was not checked against its directional "
                        "derivative: fix the gradient first"
                    ),
                ),
            )
        g = _flat_grad(grad, lay)
        how = f"directional derivative of the gradient, method={method}"
    else:
        f = FlatLoss(loss, ps, fname)
        f0 = f(f.x0)
        noise = measure_noise(f, f0, np.random.default_rng(seed), eps)
        how = "mixed second differences of the loss (Richardson on h, h/2, h/4)"

    def reference(vv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if grad is not None:
            value, error, _, _ = _hv_reference_grad(g, lay, vv, method=method, safety=safety, typical=typical)
            return value, error
        value, error, _ = _hv_reference_loss(f, f0, lay, vv, noise, step, typical)
        return value, error

    results, tols, unresolved = [], [], 0
    for label, v in drawn:
        vflat = lay.flat(v)
        if not np.any(vflat):
            raise InvalidArgumentError(f"vector {label!r} is zero: Hv = 0 says nothing")
        vpack = ps.pack({n: v[n].copy() for n in lay.names})
        claim = lay.flat(
            ps.unpack_derivative(
                _call(hvp, ps, hname, vpack), what="Hessian-vector product", fn_name=hname, out_shape=None
            )
        )
        if grad is not None:
            value, error, kink, k_eval = _hv_reference_grad(
                g, lay, vflat, method=method, safety=safety, typical=typical
            )
            n_eval += k_eval
            status = np.where(kink, Status.KINK, Status.OK)
        else:
            value, error, status = _hv_reference_loss(f, f0, lay, vflat, noise, step, typical)
        tol, status = _judge_vector(claim, value, error, status, lay, safety)
        unresolved += int((status == Status.UNRESOLVED).sum())
        bad_v = status == Status.MISMATCH
        diag = None
        if bad_v.any():
            judged_tol = np.where((status == Status.OK) | bad_v, tol, np.inf)
            diag = diagnose_vector(claim, value, judged_tol, bad_v, lay, vflat, _transposed_refs(reference, lay, v))
        results.append(_vector_result(label, claim, value, error, tol, status, lay, v, max_entries, diag))
        tols.append(tol)
    if grad is None:
        n_eval = f.n_evaluations
        notes.append(f"loss noise measured at {noise:.3g}")
    if unresolved:
        notes.append(
            f"{unresolved} entries of Hv could not be resolved to {RESOLVE:g} of their scale (no clean "
            f"difference at any step, a noisy loss or a kink nearby): not judged"
        )
    bad = [r for r in results if not r.ok]
    status_all = "mismatch" if bad else ("inconclusive" if unresolved else "ok")
    factors = {r.diagnosis for r in bad if r.diagnosis}
    whole = tuple(sorted(factors)) if len(bad) == len(results) and len(factors) == 1 else ()
    alltol = np.concatenate(tols)
    return HVPCheckResult(
        ok=status_all == "ok",
        status=status_all,
        function=fname,
        method=how,
        vectors=tuple(results),
        n_evaluations=n_eval,
        tolerance=_tolerance(alltol, safety, eps),
        diagnosis=whole,
        first_order=first,
        notes=tuple(notes),
    )


def _transposed_refs(
    reference: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], lay: _Layout, v: Mapping[str, np.ndarray]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """H vec(v with parameter a's square matrix transposed), per such a: does hvp use V^T?"""
    out = {}
    for a in lay.names:
        va = v[a]
        if va.ndim == 2 and va.shape[0] == va.shape[1] and not np.allclose(va, va.T):
            vt = {n: (x.T.copy() if n == a else x) for n, x in v.items()}
            out[a] = reference(lay.flat(vt))
    return out


def _judge_vector(claim: np.ndarray, value: np.ndarray, error: np.ndarray, found: np.ndarray, lay: _Layout,
                  safety: float) -> tuple[np.ndarray, np.ndarray]:
    """Tolerances and statuses of one Hv, parameter by parameter (a parameter's part of Hv is the
    scale of its entries). Where the reference found a kink or nothing clean, that stands; an
    entry whose tolerance exceeds RESOLVE x its scale is unresolved even if it mismatches (the
    bar, not the claim, is what is wide)."""
    tol, status = np.empty_like(value), np.empty(value.shape, dtype=int)
    for n in lay.names:
        sl = lay.slices[n]
        j = _judged(claim[sl].reshape(1, -1), value[sl].reshape(1, -1), error[sl].reshape(1, -1), safety, lay.ps.eps)
        wide = j.tolerance[0] > RESOLVE * j.scale[0]
        tol[sl] = j.tolerance[0]
        status[sl] = np.where(found[sl] != Status.OK, found[sl], np.where(wide, Status.UNRESOLVED, j.status[0]))
    return tol, status


def _vector_result(
    label: str,
    claim: np.ndarray,
    value: np.ndarray,
    error: np.ndarray,
    tol: np.ndarray,
    status: np.ndarray,
    lay: _Layout,
    v: Mapping[str, np.ndarray],
    max_entries: int,
    diagnosis: str | None,
) -> VectorResult:
    err = np.abs(claim - value)
    rel = relative_error(err, claim, value, 0.0)
    judged = (status == Status.OK) | (status == Status.MISMATCH)

    def entry(i: int) -> tuple[str, Entry]:
        n = next(nm for nm in lay.names if lay.slices[nm].start <= i < lay.slices[nm].stop)
        idx = tuple(int(k) for k in np.unravel_index(i - lay.slices[n].start, lay.shapes[n])) if lay.shapes[n] else ()
        return n, Entry(
            index=idx,
            analytic=float(claim[i]),
            numeric=float(value[i]),
            abs_error=float(err[i]),
            rel_error=float(rel[i]),
            tolerance=float(tol[i]),
            error_estimate=float(error[i]),
            status=Status(int(status[i])).label,
        )

    order = np.argsort(-np.where(judged, err / np.maximum(tol, 1e-300), -1.0), kind="stable")
    bad = [int(i) for i in order if status[i] == Status.MISMATCH]
    return VectorResult(
        label=label,
        ok=not bad,
        n_checked=int(claim.size),
        n_mismatched=len(bad),
        n_kinks=int((status == Status.KINK).sum()),
        max_abs_error=float(np.where(judged, err, 0).max()),
        max_rel_error=float(np.where(judged, rel, 0).max()),
        worst=entry(int(order[0]))[1],
        mismatches=tuple(entry(i) for i in bad[:max_entries]),
        diagnosis=diagnosis,
        vector={n: x.copy() for n, x in v.items()},
    )


def assert_hvp(
    loss: Callable[[Any], Any], hvp: Callable[[Any, Any], Any], params: Any, **options: Any
) -> HVPCheckResult:
    """:func:`check_hvp`, raising :class:`GradientMismatch` unless ok."""
    result = check_hvp(loss, hvp, params, **options)
    if not result.ok:
        raise GradientMismatch(result.summary(options.get("max_entries", 5)), result)
    return result
