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


ELEMENTWISE_SHARE = 0.6
"""Share of the budget the element-wise oracle may hold alone: when it has not answered by then,
it is stopped and the matrix-level oracle (often quick where the element-wise one is slow: a
determinant of an inverse of a 4x4 of symbols) gets the rest in a worker of its own."""


def _serve(conn: Any) -> None:
    """The worker: one job after another (``(spec, kind, points, deadline, phases)``), each
    answered with ``sym`` then ``mat`` (or ``error``), stages reported as they are entered."""
    from types import SimpleNamespace

    listen(lambda text: conn.send(("stage", text)))
    from ._symbolic import matrix_check, symbolic_check

    while True:
        try:
            spec, kind, points, deadline, phases = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        runs = [SimpleNamespace(sizes=s, point=p) for s, p in points]
        try:
            sym = None
            if "sym" in phases:
                stage("element-wise symbolic: choosing a size")
                sym = symbolic_check(spec, [], kind, runs, deadline)
                conn.send(("sym", replace(sym, elementwise=None)))
            stage("matrix-level: translating the formula")
            conn.send(("mat", matrix_check(spec, kind, sym, deadline)))
        except Exception as exc:  # reported, never raised in a worker the parent waits on
            conn.send(("error", f"{type(exc).__name__}: {exc}"[:300]))


def _can_fork() -> bool:
    return hasattr(os, "fork") and sys.platform != "darwin" and os.environ.get("GRADCHECK_VERIFY_INPROCESS") != "1"


_worker_state: dict[str, Any] = {}
"""The live worker of this process (``proc``, ``conn``, ``pid``): forked at the first formula and
kept for the next ones (its sympy caches warm, no fork per formula), replaced only when stopped."""


def _live_worker() -> tuple[Any, Any]:
    import gc
    import multiprocessing as mp

    w = _worker_state
    if w.get("pid") == os.getpid() and w["proc"].is_alive():
        return w["proc"], w["conn"]
    gc.freeze()  # the worker's collections then leave the parent's objects (and their pages) alone
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=True)
    proc = ctx.Process(target=_serve, args=(child,), daemon=True)
    proc.start()
    child.close()
    w.update(proc=proc, conn=parent, pid=os.getpid())
    return proc, parent


def _stop_worker() -> None:
    w = _worker_state
    if w.get("pid") == os.getpid():
        w["proc"].kill()
        w["proc"].join(1.0)
        w["conn"].close()
    w.clear()


def _worker(spec: Any, kind: str, runs: Sequence[Any], deadline: float, phases: str,
            sym_by: float | None = None) -> dict[str, Any]:
    """Run the oracles of ``phases`` in the worker until they answer or the time runs out
    (``sym_by`` for the element-wise answer, ``deadline`` + :data:`GRACE` for all); a worker that
    ran out is stopped."""
    proc, conn = _live_worker()
    points = [(dict(p.sizes), dict(p.point)) for p in runs if p.point]
    got: dict[str, Any] = {"stage": "element-wise symbolic: starting" if "sym" in phases else "matrix-level: starting"}
    finished = False
    try:
        conn.send((spec, kind, points, deadline, phases))
        while "mat" not in got and "error" not in got:
            until = deadline + GRACE if "sym" in got or sym_by is None else min(sym_by, deadline + GRACE)
            left = until - time.monotonic()
            if left <= 0 or not conn.poll(left):
                break
            try:
                tag, value = conn.recv()
            except (EOFError, OSError):
                got["error"] = "the worker ended without an answer"
                break
            got[tag] = value
        finished = "mat" in got
    finally:
        if not finished:  # ran out, failed or interrupted: the next formula gets a fresh worker
            _stop_worker()
    return got


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
    import sympy  # noqa: F401  (imported here once, so every forked worker inherits it)

    got = _worker(spec, kind, runs, deadline, "sym+mat", sym_by=start + ELEMENTWISE_SHARE * budget)
    ran_out = []
    sym = got.get("sym")
    if sym is None and "error" not in got:
        ran_out.append(got["stage"])
        sym = SymbolicCheck("timeout", {}, f"ran out of its share ({ELEMENTWISE_SHARE * budget:.3g} s) of the "
                            f"{budget:g} s budget ({got['stage']})", seconds=time.monotonic() - start)
        got = _worker(spec, kind, runs, deadline, "mat")
    mat = got.get("mat")
    if "error" in got:
        account["error"] = got["error"]
        if sym is None:
            sym = SymbolicCheck("skipped", {}, f"skipped: the symbolic worker failed ({got['error']})")
        if mat is None:
            mat = MatrixCheck("unsupported", f"not attempted: the symbolic worker failed ({got['error']})")
    if mat is None:
        ran_out.append(got["stage"])
        mat = MatrixCheck("timeout", f"ran out of the {budget:g} s budget ({got['stage']})")
    account["seconds"] = round(time.monotonic() - start, 3)
    if ran_out:
        account["ran_out"] = "; ".join(ran_out)
    return sym, mat, account
