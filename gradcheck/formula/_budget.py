"""The symbolic oracles under a budget that holds: in a worker process that is stopped when it is spent.

One sympy call (``diff`` of a 4x4 determinant of an inverse, ``cancel`` of a large difference)
can run for many minutes without returning to any check between steps, so checks between
steps alone cannot keep a budget. Where the platform can fork, the element-wise and
matrix-level oracles run in a forked child that reports each stage it enters on a pipe;
the parent waits until the budget is spent (plus :data:`GRACE` seconds), stops the child,
and names the oracle and the stage that ran out. The fork inherits the parent's imports
(sympy is imported once per process, not once per formula), so a sheet of many formulas
pays the process start in milliseconds. Elsewhere the oracles run in-process with their
checks between steps.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ._stage import listen, stage

__all__ = ["GRACE", "run_oracles"]

GRACE = 0.5
"""Seconds past the budget before the worker is stopped: the oracles check the clock between
steps and usually return on their own; this bounds the step that does not."""

def _oracles(spec: Any, kind: str, runs: Sequence[Any], deadline: float) -> tuple[Any, Any]:
    from ._symbolic import matrix_check, symbolic_check

    stage("element-wise symbolic: choosing a size")
    sym = symbolic_check(spec, [], kind, runs, deadline)
    stage("matrix-level: translating the formula")
    mat = matrix_check(spec, kind, sym, deadline)
    return sym, mat


def _child(conn: Any, spec: Any, kind: str, runs: Sequence[Any], deadline: float) -> None:
    listen(lambda text: conn.send(("stage", text)))
    try:
        from ._symbolic import matrix_check, symbolic_check

        stage("element-wise symbolic: choosing a size")
        sym = symbolic_check(spec, [], kind, runs, deadline)
        conn.send(("sym", replace(sym, elementwise=None)))
        stage("matrix-level: translating the formula")
        mat = matrix_check(spec, kind, sym, deadline)
        conn.send(("mat", mat))
    except BaseException as exc:  # reported, never raised in a child the parent waits on
        conn.send(("error", f"{type(exc).__name__}: {exc}"[:300]))
    finally:
        conn.close()
        os._exit(0)


def _can_fork() -> bool:
    return hasattr(os, "fork") and sys.platform != "darwin" and os.environ.get("GRADCHECK_VERIFY_INPROCESS") != "1"


def run_oracles(spec: Any, kind: str, runs: Sequence[Any], budget: float) -> tuple[Any, Any, dict[str, Any]]:
    """``(element-wise check, matrix check, account)``; the account holds the seconds spent, the
    budget, and ``ran_out`` (the oracle and stage the budget ran out in) when it did."""
    from ._symbolic import MatrixCheck, SymbolicCheck

    start = time.monotonic()
    deadline = start + budget
    account: dict[str, Any] = {"budget_s": budget}
    if not _can_fork():
        sym, mat = _oracles(spec, kind, runs, deadline)
        account["seconds"] = round(time.monotonic() - start, 3)
        return replace(sym, elementwise=None), mat, account
    import multiprocessing as mp

    import sympy  # noqa: F401  (imported here once, so every forked worker inherits it)

    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, spec, kind, runs, deadline), daemon=True)
    proc.start()
    child.close()
    sym = mat = None
    where = "element-wise symbolic: starting"
    failure = None
    try:
        while mat is None and failure is None:
            left = deadline + GRACE - time.monotonic()
            if left <= 0 or not parent.poll(left):
                break
            try:
                tag, value = parent.recv()
            except EOFError:
                failure = "the worker ended without an answer"
                break
            if tag == "stage":
                where = value
            elif tag == "sym":
                sym = value
            elif tag == "mat":
                mat = value
            else:
                failure = value
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(1.0)
        parent.close()
    seconds = time.monotonic() - start
    account["seconds"] = round(seconds, 3)
    if failure is not None:
        account["error"] = failure
    elif mat is None:
        account["ran_out"] = where
    oracle = where.split(":")[0]
    if sym is None:
        why = (f"ran out of its {budget:g} s budget ({where})" if failure is None
               else f"skipped: the symbolic worker failed ({failure})")
        sym = SymbolicCheck("timeout" if failure is None else "skipped", {}, why, seconds=seconds)
    if mat is None:
        if failure is not None:
            why = f"not attempted: the symbolic worker failed ({failure})"
        elif oracle == "matrix-level":
            why = f"ran out of the {budget:g} s budget ({where})"
        else:
            why = "not attempted: the element-wise oracle spent the budget"
        mat = MatrixCheck("timeout" if failure is None and oracle == "matrix-level" else "unsupported", why)
    return sym, mat, account
