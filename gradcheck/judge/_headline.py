"""The one-line headline that opens a failed check's message.

pytest's short summary (``-ra``) and most CI logs show only the first line of an
exception, cut to the terminal's width: that line must say on its own what failed and
how (which parameter, how many entries, what it looks like), the details following on the
next lines. Duck-typed over the result classes (gradient/Jacobian, directional, Hessian,
Hessian-vector product) and standard library only, so :mod:`._errors` stays light.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["headline", "failure_message"]

_NAMES_SHOWN = 3
_RUN_COUNT = re.compile(r", [\d,]+ (?:evaluations|directions)")


def failure_message(result: Any, max_entries: int = 5) -> str:
    """The headline, then the result's full summary (the per-parameter table)."""
    summary = result.summary(max_entries) if hasattr(result, "summary") else str(result)
    return f"{headline(result)}\n{summary}"


def headline(result: Any) -> str:
    """``check_grad of loss: 'W' wrong in 12 of 12 entries, max rel err 0.5 (looks like: ...)``."""
    if hasattr(result, "params") and hasattr(result, "kind") and not hasattr(result, "blocks"):
        return _grad_headline(result)
    first = str(result.summary() if hasattr(result, "summary") else result).split("\n", 1)[0]
    first = _without_run_details(first)
    first_order = getattr(result, "first_order", None)
    if "not judged" in first and first_order is not None and hasattr(first_order, "params") and not first_order.ok:
        return f"{first}: {_grad_headline(first_order).split(': ', 1)[1]}"  # what is wrong in it
    parts = list(getattr(result, "blocks", {}).values()) or list(getattr(result, "vectors", ()))
    wrong = [b for b in parts if getattr(b, "n_mismatched", 0)]
    if wrong and hasattr(wrong[0], "rows"):  # a Hessian's blocks: name the worst one
        worst = max(wrong, key=lambda b: (b.n_mismatched / max(b.n_checked, 1), _wrong_rel(b)))
        which = "worst block" if len(wrong) > 1 else "block"
        first += (f"; {which} ({worst.rows!r}, {worst.cols!r}) in {worst.n_mismatched} of {worst.n_checked} "
                  f"entries, max rel err {_wrong_rel(worst):.2g}")
    diagnosis = getattr(result, "diagnosis", None)
    diagnosis = diagnosis[0] if isinstance(diagnosis, (list, tuple)) and diagnosis else None
    diagnosis = diagnosis or next((b.diagnosis for b in wrong if getattr(b, "diagnosis", None)), None)
    if diagnosis:
        first += f" (looks like: {_short(diagnosis)})"
    mismatches = getattr(result, "mismatches", None)
    if hasattr(mismatches, "keys") and mismatches:  # directional: the parameters with wrong entries
        first += f": wrong in {_names(list(mismatches.keys()))}"
    return first


def _wrong_rel(block: Any) -> float:
    """The largest relative error among a block's wrong entries. The block's own ``max_rel_error`` runs
    over every entry, each relative to itself, so an off-diagonal zero at rounding level reads 1 there
    (a Hessian 10% too large would head with "max rel err 1")."""
    return max((e.rel_error for e in getattr(block, "mismatches", ())), default=block.max_rel_error)


def _grad_headline(result: Any) -> str:
    what = "check_grad" if result.kind == "grad" else "check_jacobian"
    head = f"{what} of {result.function}: "
    params = list(result.params.values())
    wrong = [p for p in params if p.verdict == "FAIL"]
    unsure = [p for p in params if p.verdict == "inconclusive"]
    if wrong:
        worst = max(wrong, key=lambda p: (p.n_mismatched / max(p.n_checked, 1), p.max_rel_error))
        if len(wrong) == 1:
            text = f"{worst.name!r} wrong"
        else:
            names = _names([p.name for p in wrong])
            text = f"{len(wrong)} of {len(params)} parameters wrong ({names}); worst {worst.name!r}"
        if worst.n_mismatched:
            text += f" in {worst.n_mismatched} of {worst.n_checked} entries, max rel err {worst.max_rel_error:.2g}"
        else:
            text += " by the exact derivative"  # the symbolic witness disproved it, no entry past its tolerance
        by = getattr(worst, "witness", None)
        if by and getattr(worst, "trail", ()) and not by.startswith("finite differences"):
            text += f" by {by}"  # settled past the first witness: the reader should know by which
        if worst.diagnosis:
            text += f" (looks like: {_short(worst.diagnosis)})"
        if unsure:
            text += f"; {len(unsure)} inconclusive"
        return head + text
    if unsure:
        first = unsure[0]
        names = _names([p.name for p in unsure])
        return head + f"inconclusive for {names}: {_short_reason(first.inconclusive or 'no verdict reached')}"
    return head + "ok"


def _without_run_details(line: str) -> str:
    """A summary's first line without its trailing "(method, N evaluations; tolerance ...)": details,
    not headline. The method's own description may hold brackets: walk back to the opening one."""
    found = _RUN_COUNT.search(line)
    if found is None or not line.endswith(")"):
        return line
    depth = 0
    for i in range(found.start() - 1, -1, -1):
        if line[i] == ")":
            depth += 1
        elif line[i] == "(":
            if depth == 0:
                return line[:i].rstrip()
            depth -= 1
    return line


def _names(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:_NAMES_SHOWN])
    return shown + (f" and {len(names) - _NAMES_SHOWN} more" if len(names) > _NAMES_SHOWN else "")


def _short(diagnosis: str) -> str:
    """A diagnosis without its explanation in brackets (and without its formula if still long)."""
    text = diagnosis.split(" (", 1)[0]
    return text.split(": ", 1)[0] if len(text) > 60 else text


def _short_reason(reason: str) -> str:
    """Why a check is inconclusive, in its first clause: the remedy is in the details."""
    for cut in ("; ", ": ", ", so ", " ("):
        reason = reason.split(cut, 1)[0]
    return reason
