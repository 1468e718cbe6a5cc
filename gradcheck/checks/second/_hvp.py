"""Hessian-vector products: the vectors drawn, Hv numerically along each, and the verdict per vector.

A claimed ``hvp(params, v)`` is checked along drawn vectors (Gaussian; non-symmetric patterns
for matrix parameters, so ``V^T`` in place of ``V`` shows; one parameter at a time) or the
given ones. The reference is the directional derivative of the checked gradient (by the
public :func:`gradcheck.numerical_jacobian`), or mixed second differences of the loss
(:mod:`._fd`); each vector is judged by :func:`._judge.judge_vector`. May import gradcheck's
``_api``, ``_compare``, ``_errors``, ``_result``, ``_status`` and this subpackage's
``_settings``, ``_layout``, ``_fd``, ``_reference``, ``_judge``, ``_diagnose`` and ``_result``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core._errors import InvalidArgumentError
from ...core._params import ParamSet
from ...core._status import Status
from ...judge._compare import relative_error
from ...judge._result import Entry, GradCheckResult
from .._first_order import numerical_jacobian
from ._diagnose import diagnose_vector
from ._fd import FlatLoss, base_step, line_kink, measure_noise, mixed
from ._judge import RESOLVE, judge_vector, tolerance_record
from ._layout import Layout, call, flat_grad
from ._matrix_result import PLAIN
from ._reference import first_order, jumps_along
from ._result import HVPCheckResult, VectorResult
from ._settings import Settings, fn_name

__all__ = ["HvReference", "run_hvp", "vectors_given"]

Drawn = list[tuple[str, dict[str, np.ndarray]]]
"""(label, vector in the structure of params) per vector."""


def _draw_vectors(lay: Layout, count: int, seed: int) -> Drawn:
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
                # the upper triangle 16x the lower (3.2 against 0.2), so V and V^T differ in every
                # entry; a ramp over a tenfold range (0.2 to 2), so a permuted vector differs too
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
                a[rng.random(a.size) < 0.6] = 0.0  # about 40% of the entries kept: sparse, rarely empty
                a[rng.integers(a.size)] = 1.0
                v[only] = a.reshape(lay.shapes[only])
            out.append((f"only {only!r}" if len(lay.names) > 1 else "sparse", v))
    return out


def vectors_given(vectors: Any, lay: Layout, seed: int) -> Drawn:
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


@dataclass(frozen=True)
class HvReference:
    """Hv along a flat vector, numerically: from the flat gradient ``g`` when given, else from
    the loss ``f`` (value ``f0`` at x, measured ``noise``) by mixed second differences."""

    lay: Layout
    settings: Settings
    g: Callable[[Any], np.ndarray] | None = None
    f: FlatLoss | None = None
    f0: float = 0.0
    noise: float = 0.0

    def __call__(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Value, error, the reference's own status per entry (ok, kink, unresolved) and the
        gradient evaluations used (0 from the loss: the loss counts its own)."""
        return self._from_grad(v) if self.g is not None else self._from_loss(v)

    def _from_grad(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """d/dt grad(x + t v) at t = 0 by the public numerical_jacobian."""
        lay, s, g = self.lay, self.settings, self.g
        assert g is not None
        ps = lay.ps
        x0 = lay.flat(ps.arrays)
        c = max(float(np.abs(x0).max()), s.typical) / float(np.abs(v).max())
        d = v * c

        def phi(t: np.ndarray) -> np.ndarray:
            return g(ps.pack(lay.unflat(x0 + float(t[0]) * d)))

        est = numerical_jacobian(phi, np.zeros(1), method=s.method, safety=s.safety)
        # a jump of the gradient along v swamps the estimate's noise probe: look for it directly
        # (at 1e-6 of the step, as for the Hessian's coordinates)
        jumps = jumps_along(g, lay, x0, phi(np.zeros(1)), d * 1e-6)
        status = np.where(est.kink[:, 0] | jumps, Status.KINK, Status.OK)
        return est.value[:, 0] / c, est.error[:, 0] / c, status, est.n_evaluations + 5

    def _from_loss(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        lay, f, step, typical = self.lay, self.f, self.settings.step, self.settings.typical
        assert f is not None
        eps = lay.ps.eps
        s = (step or base_step(eps)) * np.maximum(np.abs(f.x0), typical)
        c = max(float(np.abs(f.x0).max()), typical) / float(np.abs(v).max())
        w = v * c * (step or base_step(eps))
        value, error, status = np.empty(lay.n), np.empty(lay.n), np.empty(lay.n, dtype=int)
        for i in range(lay.n):
            u = np.zeros(lay.n)
            u[i] = s[i]
            est = mixed(f, self.f0, u, w, h=1.0, noise=self.noise)
            unit = s[i] * c * (step or base_step(eps))
            value[i], error[i], status[i] = est.value / unit, est.error / unit, est.status
            # The stencil's own points miss a kink crossed weakly along v beside a third derivative
            # (a 1e-7 ReLU unit moved 4e-4 by v, with the cross term still jumping): measure a third
            # step along each line, out to the reach of the estimate's finest level (t = h / 4)
            # and twice it, the extent of its middle one.
            if est.status == Status.OK and any(line_kink(f, self.f0, d, est.h / 2, self.noise) for d in (u, w)):
                status[i] = Status.KINK
        return value, error, status, 0


@dataclass(frozen=True)
class JudgedVector:
    """One drawn vector ``v`` (labelled how it was drawn), the claimed and numerical Hv along
    it, and their judgement (tolerance and :class:`Status` per entry)."""

    label: str
    v: Mapping[str, np.ndarray]
    claim: np.ndarray
    value: np.ndarray
    error: np.ndarray
    tol: np.ndarray
    status: np.ndarray


def run_hvp(loss: Callable[[Any], Any], hvp: Callable[[Any, Any], Any], grad: Callable[[Any], Any] | None,
            ps: ParamSet, drawn: Drawn, settings: Settings, fname: str) -> HVPCheckResult:
    """:func:`gradcheck.check_hvp` once its arguments are validated."""
    lay, s = Layout(ps), settings
    hname = fn_name(hvp, None)
    first: GradCheckResult | None = None
    notes: list[str] = []
    n_eval = 0
    if grad is not None:
        first = first_order(loss, grad, ps, s, fname)
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
        reference = HvReference(lay, s, g=flat_grad(grad, lay))
        how = f"directional derivative of the gradient, method={s.method}"
    else:
        f = FlatLoss(loss, ps, fname)
        f0 = f(f.x0)
        reference = HvReference(lay, s, f=f, f0=f0, noise=measure_noise(f, f0, np.random.default_rng(s.seed), ps.eps))
        how = "mixed second differences of the loss (Richardson on h, h/2, h/4)"

    results, tols, unresolved = [], [], 0
    all_zero = True
    wrong_parts: list[tuple[str | None, set[str]]] = []  # per wrong vector: its only parameter (if one), parts wrong
    for label, v in drawn:
        vflat = lay.flat(v)
        if not np.any(vflat):
            raise InvalidArgumentError(f"vector {label!r} is zero: Hv = 0 says nothing")
        vpack = ps.pack({n: v[n].copy() for n in lay.names})
        claim = lay.flat(
            ps.unpack_derivative(
                call(hvp, ps, hname, vpack), what="Hessian-vector product", fn_name=hname, out_shape=None
            )
        )
        value, error, found, k_eval = reference(vflat)
        n_eval += k_eval
        tol, status = judge_vector(claim, value, error, found, lay, s.safety)
        unresolved += int((status == Status.UNRESOLVED).sum())
        bad_v = status == Status.MISMATCH
        if bad_v.any():
            moved = [n for n in lay.names if np.any(v[n])]
            wrong_parts.append((moved[0] if len(moved) == 1 else None,
                                {n for n in lay.names if bad_v[lay.slices[n]].any()}))
        all_zero = all_zero and not np.any(claim) and bool(np.all(np.abs(value) <= tol))
        diag = None
        if bad_v.any():
            judged_tol = np.where((status == Status.OK) | bad_v, tol, np.inf)
            diag = diagnose_vector(claim, value, judged_tol, bad_v, lay, vflat, _transposed_refs(reference, lay, v))
        judged = JudgedVector(label, v, claim, value, error, tol, status)
        results.append(_vector_result(judged, lay, s.max_entries, diag))
        tols.append(tol)
    if reference.f is not None:
        n_eval = reference.f.n_evaluations
        notes.append(f"loss noise measured at {reference.noise:.3g}")
    if unresolved:
        notes.append(
            f"{unresolved} entries of Hv could not be resolved to {RESOLVE:g} of their scale (no clean "
            f"difference at any step, a noisy loss or a kink nearby): not judged"
        )
    bad = [r for r in results if not r.ok]
    status_all = "mismatch" if bad else ("inconclusive" if unresolved else "ok")
    factors = {r.diagnosis for r in bad}
    # one diagnosis for the whole claim only when every vector is wrong and says the same (a vector
    # with none, both parts wrong, must not let an "only the part for 'b'" of another speak for it)
    whole = tuple(factors) if len(bad) == len(results) and len(factors) == 1 and None not in factors else ()
    if bad and not whole and len(lay.names) > 1:
        whole = (_parts_wrong(wrong_parts),)
    if all_zero and not bad:
        notes.append(
            "claimed and numerical Hv are zero along every vector (a piecewise-linear region of a ReLU "
            "net?): this point cannot tell a right formula from a wrong one"
        )
    alltol = np.concatenate(tols)
    return HVPCheckResult(
        ok=status_all == "ok",
        status=status_all,
        function=fname,
        method=how,
        vectors=tuple(results),
        n_evaluations=n_eval,
        tolerance=tolerance_record(alltol, s.safety, ps.eps),
        diagnosis=whole,
        first_order=first,
        notes=tuple(notes),
    )


def _parts_wrong(wrong: list[tuple[str | None, set[str]]]) -> str:
    """The parts of Hv found wrong over all vectors, and the cross blocks a vector moving one
    parameter pins down (moving only 'a', a wrong part for 'b' is block ('b', 'a'))."""
    parts = sorted({n for _, ps in wrong for n in ps})
    blocks = sorted({(n, only) for only, ps in wrong if only is not None for n in ps if n != only})
    text = f"the parts of Hv for {' and '.join(map(repr, parts))} are wrong"
    if blocks:  # after " (": the headline keeps the clause before it
        text += (f" (cross block{'s' if len(blocks) > 1 else ''} " + ", ".join(f"({a!r}, {b!r})" for a, b in blocks)
                 + " wrong along vectors that move one parameter)")
    return text


def _transposed_refs(
    reference: HvReference, lay: Layout, v: Mapping[str, np.ndarray]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """H vec(v with parameter a's square matrix transposed), per such a: does hvp use V^T?"""
    out = {}
    for a in lay.names:
        va = v[a]
        if va.ndim == 2 and va.shape[0] == va.shape[1] and not np.allclose(va, va.T):
            vt = {n: (x.T.copy() if n == a else x) for n, x in v.items()}
            out[a] = reference(lay.flat(vt))[:2]
    return out


def _vector_result(jv: JudgedVector, lay: Layout, max_entries: int, diagnosis: str | None) -> VectorResult:
    claim, value, tol, status = jv.claim, jv.value, jv.tol, jv.status
    err = np.abs(claim - value)
    rel = relative_error(err, claim, value, PLAIN)
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
            error_estimate=float(jv.error[i]),
            status=Status(int(status[i])).label,
        )

    # 1e-300: only keeps a zero tolerance from dividing by zero
    order = np.argsort(-np.where(judged, err / np.maximum(tol, 1e-300), -1.0), kind="stable")
    bad = [int(i) for i in order if status[i] == Status.MISMATCH]
    return VectorResult(
        label=jv.label,
        ok=not bad,
        n_checked=int(claim.size),
        n_mismatched=len(bad),
        n_kinks=int((status == Status.KINK).sum()),
        max_abs_error=float(np.where(judged, err, 0).max()),
        max_rel_error=float(np.where(judged, rel, 0).max()),
        worst=entry(int(order[0]))[1],
        mismatches=tuple(entry(i) for i in bad[:max_entries]),
        diagnosis=diagnosis,
        vector={n: x.copy() for n, x in jv.v.items()},
    )
