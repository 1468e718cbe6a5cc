"""What a wrong second-derivative claim looks like.

Each test transforms the numerical matrix (or the claim) and accepts a diagnosis only when
every judged entry then lies within its own tolerance, so a diagnosis is as strict as the
verdict it explains. Entries at kinks or unresolved carry an infinite tolerance here. May
import numpy only: it sees arrays and a layout (duck-typed), never a result or a judge.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = ["diagnose_blocks", "diagnose_matrix", "diagnose_vector", "factor_name"]


def _fits(a: np.ndarray, b: np.ndarray, tol: np.ndarray) -> bool:
    return bool(np.all(np.abs(a - b) <= tol))


def _factor(c: np.ndarray, n: np.ndarray) -> float | None:
    nn = float(np.sum(n * n))
    return float(np.sum(c * n) / nn) if nn > 0 else None


def factor_name(c: float) -> str:
    """ "2", "1/2", "-1", or the value itself: fractions with denominators up to 16 exact to 1e-6."""
    frac = Fraction(c).limit_denominator(16)
    if frac != 0 and abs(float(frac) - c) <= 1e-6 * abs(c):
        return str(frac)
    return f"{c:.7g}"


def _scaled(c: np.ndarray, n: np.ndarray, tol: np.ndarray) -> str | None:
    """``c = k n`` for a constant k != 1 within the tolerances: named, with its usual cause."""
    k = _factor(c, n)
    if k is None or abs(k - 1) < 1e-12 or not _fits(c, k * n, tol * max(1.0, abs(k))):
        return None
    name = factor_name(k)
    cause = {"2": " (a missing 1/2?)", "1/2": " (a missing factor 2?)", "-1": " (sign flipped)"}.get(name, "")
    return f"off by a factor {name}: claimed = {name} x numerical{cause}"


def _asym(c: np.ndarray) -> float:
    return float(np.abs(c - c.T).max() / max(float(np.abs(c).max()), 1e-300))


def diagnose_matrix(
    c: np.ndarray, n: np.ndarray, tol: np.ndarray, bad: np.ndarray, lay: Any, gn: np.ndarray | None = None
) -> list[str]:
    """Diagnoses of the whole claimed matrix ``c`` against the numerical ``n``."""
    out: list[str] = []
    asym = _asym(c)
    sym = (c + c.T) / 2
    if asym > 1e-9:
        if _fits(sym, n, tol):
            out.append(
                f"not symmetrized: (H + H^T)/2 missing; the claim's symmetric part matches the Hessian "
                f"(asymmetry of the claim {asym:.3g})"
            )
        else:
            scaled = _scaled(sym, n, tol)
            if scaled:
                out.append(f"not symmetrized, and its symmetric part is {scaled}")
    if not out:
        scaled = _scaled(c, n, tol)
        if scaled:
            out.append(scaled)
    if gn is not None and _fits(c, gn, tol):
        gap = float(np.abs(n - gn).max() / max(float(np.abs(n).max()), 1e-300))
        out.append(
            f"this is the Gauss-Newton matrix J^T H_out J, not the Hessian: the residual term "
            f"sum_k (dl/dr_k) Hess(r_k) is missing, {gap:.3g} of the Hessian's scale here"
        )
    if not out and not np.any(c[bad]):
        out.append("the claimed entries are zero where the Hessian is not")
    return out


def _transposed_layouts(
    cb: np.ndarray, nb: np.ndarray, tb: np.ndarray, sa: tuple[int, ...], sb: tuple[int, ...], a: str, b: str
) -> str | None:
    """Block entries indexed by the transpose of a square matrix parameter (W^T layout)."""
    ct, nt, tt = cb.reshape(sa + sb), nb.reshape(sa + sb), tb.reshape(sa + sb)
    k = len(sa)
    options = []
    if len(sa) == 2 and sa[0] == sa[1]:
        options.append(((1, 0) + tuple(range(2, 2 + len(sb))), f"rows indexed by {a}^T"))
    if len(sb) == 2 and sb[0] == sb[1]:
        options.append((tuple(range(k)) + (k + 1, k), f"columns indexed by {b}^T"))
    if len(options) == 2:
        options.append(((1, 0, k + 1, k) if k == 2 else (), f"rows and columns indexed by {a}^T and {b}^T"))
    for perm, text in options:
        if perm and _fits(ct, np.transpose(nt, perm), np.maximum(tt, np.transpose(tt, perm))):
            return f"transposed parameter layout in block ({a!r}, {b!r}): {text}"
    return None


def diagnose_blocks(
    c: np.ndarray, n: np.ndarray, tol: np.ndarray, bad: np.ndarray, lay: Any
) -> dict[tuple[str, str], str]:
    """One diagnosis per wrong block: transposed, transposed layout, scaled, zero, few entries."""
    wrong = [(a, b) for a, b in lay.pairs() if lay.block(bad, a, b).any()]
    out = {}
    for a, b in wrong:
        cb, nb, tb, bb = (lay.block(m, a, b) for m in (c, n, tol, bad))
        text = None
        if cb.shape[0] == cb.shape[1] and cb.shape[0] > 1 and _fits(cb, nb.T, np.maximum(tb, tb.T)):
            text = (
                f"transposed block ({a!r}, {b!r}): its ({cb.shape[0]} x {cb.shape[1]}) matrix is the transpose "
                f"of the true one (d2/d{b} d{a} laid out as ({a}, {b})?)"
            )
        text = text or _transposed_layouts(cb, nb, tb, lay.shapes[a], lay.shapes[b], a, b)
        text = text or _scaled(cb, nb, tb)
        if text is None and not np.any(cb[bb]):
            text = "claimed zero where the Hessian is not"
        if text is None and bb.sum() <= 3:
            idx = [
                tuple(int(i) for i in np.unravel_index(r, lay.shapes[a]) + np.unravel_index(k, lay.shapes[b]))
                for r, k in zip(*np.nonzero(bb), strict=False)
            ]
            text = f"{int(bb.sum())} entr{'y' if bb.sum() == 1 else 'ies'} wrong, at {', '.join(map(str, idx))}"
        others = [p for p in wrong if p not in ((a, b), (b, a))]
        if not others and len(lay.names) > 1:
            text = (
                "only this block"
                + (" and its mirror" if (b, a) in wrong and a != b else "")
                + " is wrong"
                + (f": {text}" if text else "")
            )
        if text:
            out[(a, b)] = text
    return out


def diagnose_vector(
    claim: np.ndarray,
    value: np.ndarray,
    tol: np.ndarray,
    bad: np.ndarray,
    lay: Any,
    v: np.ndarray,
    transposed: Mapping[str, tuple[np.ndarray, np.ndarray]],
) -> str | None:
    """What a wrong Hessian-vector product looks like: a factor, a transposed direction, one part."""
    scaled = _scaled(claim, value, tol)
    if scaled:
        return scaled
    for a, (val_t, err_t) in transposed.items():
        if _fits(claim, val_t, tol + 10 * err_t):
            return f"hvp used V^T for the square matrix parameter {a!r} (H vec(V^T) instead of H vec(V))"
    if not np.any(claim[bad]):
        return "claimed zero where Hv is not"
    parts = [nm for nm in lay.names if bad[lay.slices[nm]].any()]
    if len(lay.names) > 1 and len(parts) == 1:
        return f"only the part for parameter {parts[0]!r} is wrong"
    return None
