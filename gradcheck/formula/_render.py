"""Text of a :class:`~gradcheck.formula.VerifyResult`: the verdict, each oracle's, the counterexample."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["render_summary", "format_point"]

ORACLE_WORDS = {
    "proved": "proved",
    "agrees": "agrees (not proved)",
    "wrong": "WRONG",
    "skipped": "skipped",
    "unsupported": "not attempted",
    "untrusted": "not trusted",
    "timeout": "ran out of time",
}


def format_point(point: Any, limit: int = 12) -> list[str]:
    """Each name's value at a point, compactly; large arrays by shape only."""
    lines = []
    for k, v in point.items():
        a = np.asarray(v)
        if a.size <= limit:
            text = np.array2string(a, precision=4, suppress_small=True, max_line_width=100).replace("\n", "")
            lines.append(f"    {k} = {text}")
        else:
            lines.append(f"    {k}: {a.shape} array, entries in [{a.min():.3g}, {a.max():.3g}]")
    return lines


def render_summary(r: Any, max_entries: int = 3) -> str:
    head = {"right": "RIGHT", "wrong": "WRONG", "inconclusive": "INCONCLUSIVE"}[r.verdict]
    claims = "; ".join(f"d/d{k} = {v}" for k, v in r.grads.items())
    lines = [
        f"{head}: {claims}",
        f"  for {r.loss}"
        + (
            f" ({r.layout} layout" + (f", vec order {r.order}" if r.order else "") + ")" if r.kind == "jacobian" else ""
        ),
    ]
    if r.defs:
        lines.append("  where " + ", ".join(f"{k} = {v}" for k, v in r.defs.items()))
    lines.append("  shapes: " + ", ".join(f"{k} {tuple(v)}".replace("'", "") for k, v in r.shapes.items()))
    if r.diagnosis and r.verdict == "wrong":
        lines.append(f"  diagnosis: {r.diagnosis}")
    lines.append("oracles:")
    n_ok = sum(p.ok for p in r.points)
    n_unsure = sum(p.status == "inconclusive" for p in r.points)
    method = next((p.result.method for p in r.points if p.result is not None), "richardson")
    tol = next((p.result.tolerance.describe() for p in r.points if p.result is not None), None)
    lines.append(
        f"  finite differences: {n_ok} of {len(r.points)} points agree"
        + (f", {n_unsure} inconclusive" if n_unsure else "")
        + f" (method={method}"
        + (f"; tolerance {tol}" if tol else "")
        + ")"
    )
    for p in _shown_points(r):
        lines.extend(_point_lines(p, max_entries))
    if r.symbolic is not None:
        s = r.symbolic
        lines.append(f"  element-wise symbolic: {ORACLE_WORDS.get(s.status, s.status)}: {s.message}")
        if s.counterexample:
            c = s.counterexample
            lines.append(f"    sympy's d/d{c['param']}{c['index']} = {c['derivative']}")
            lines.append(f"    the claim's entry            = {c['claimed']}")
    if r.matrix is not None:
        m = r.matrix
        word = "" if m.status in ("unsupported", "untrusted") else f"{ORACLE_WORDS.get(m.status, m.status)}: "
        lines.append(f"  matrix-level: {word}{m.message}")
    derivative = _derivative_lines(r)
    if derivative:
        lines.append("sympy's derivative:")
        lines.extend(derivative)
    if r.counterexample:
        lines.extend(counterexample_lines(r.counterexample))
    for reason in r.reasons:
        if r.verdict != "right":
            lines.append(f"why: {reason}")
    lines.extend(f"note: {n}" for n in r.notes)
    return "\n".join(lines)


def _shown_points(r: Any) -> list[Any]:
    """The telling point (the largest failing size) and the smallest failing one; every point
    that is not ok when none failed (inconclusive, errors), each distinct error once."""
    from ._witness import telling_point

    bad = [p for p in r.points if p.status in ("mismatch", "shape")]
    if bad:
        tell = telling_point(r.points)
        small = min(bad, key=lambda p: (p.entries, p.seed))
        return [tell] if small is tell else [tell, small]
    out, seen = [], set()
    for p in r.points:
        if not p.ok and (p.error or p.why_inconclusive) not in seen:
            out.append(p)
            seen.add(p.error or p.why_inconclusive)
    return out


def counterexample_lines(c: Any) -> list[str]:
    """The smallest size and values where the claim fails."""
    sizes = ", ".join(f"{k}={v}" for k, v in c.get("sizes", {}).items()) or "the given shapes"
    if c["oracle"] == "shapes":
        return [f"counterexample (smallest size where the claim cannot be evaluated, {sizes}): {c['error']}"]
    other = (f"finite differences give {c['numeric']:.6g} (tolerance {c['tolerance']:.2g})" if "numeric" in c
             else f"the exact derivative is {c.get('exact', float('nan')):.6g}")
    out = [f"counterexample ({c['oracle']}, smallest failing size, {sizes}): d/d{c['param']}{c['index']} is claimed "
           f"{c['claimed']:.6g}; {other}", "  at:"]
    point = {k: v for k, v in c.get("point", {}).items() if not isinstance(v, str)}
    out.extend("  " + line for line in format_point(point, limit=16))
    out.extend(f"      {k}: {v}" for k, v in c.get("point", {}).items() if isinstance(v, str))
    return out


def _point_lines(p: Any, max_entries: int) -> list[str]:
    out = [f"  at {p.label()}:"]
    if p.status == "inconclusive" and p.result is not None:
        out.append(f"    inconclusive (no evidence either way): {p.why_inconclusive}")
        return out
    if p.error is not None:
        out.append(f"    {p.error_kind} error: {p.error}")
        return out
    for q in p.result.failures:
        out.extend("    " + line for line in q.describe(max_entries).splitlines())
    if p.point:
        out.append("    point (counterexample):")
        out.extend("  " + line for line in format_point(p.point))
    return out


def _derivative_lines(r: Any) -> list[str]:
    if r.matrix is not None and r.matrix.derivative and r.matrix.status in ("proved", "agrees", "wrong"):
        dims = r.matrix.dims
        where = f" (sizes named {', '.join(f'{v}={k}' for k, v in dims.items())})" if dims else ""
        return [f"  d/d{k} = {v}{where}" for k, v in r.matrix.derivative.items()]
    if r.symbolic is not None and r.symbolic.derivative:
        lines = []
        for k, entries in r.symbolic.derivative.items():
            for idx, text in entries[:4]:
                lines.append(f"  d/d{k}{list(idx)} = {text}")
            if len(entries) > 4:
                lines.append("  ...")
        return lines
    return []
