"""How long a check will take, predicted from the loss's own evaluation time, and what follows.

``check_grad`` evaluates the loss twice at the base point before anything else (to see
that it is reproducible); the evaluator times those two calls (:func:`perf_counter`, the
one clock of the prediction, which tests replace). From that time, the number of entries
and the method, :func:`predict` gives the per-entry check's and the directional check's
predicted time; with ``mode`` left to check_grad, :func:`choose` takes directions when the
per-entry check would exceed :data:`BUDGET_S` and directions are much cheaper. A check
predicted to exceed the budget, whichever its mode, says so once on stderr
(:func:`announce`): a run of minutes with no output looks like a hang.

No evaluation is made for the prediction: small checks evaluate exactly what they did
before, and their results are unchanged.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import contextvars
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["BUDGET_S", "Prediction", "predict", "choose", "announce", "quiet", "describe_s"]

BUDGET_S = 30.0
"""A check predicted to take longer than 30 s is said to on stderr, and with ``mode`` not
given it is made along directions when those are much cheaper. 30 s: a unit test that
checks a gradient is expected to take seconds; past half a minute with no output it reads
as hung (CI systems commonly flag a silent step after a minute or so), and the directional
check of any size costs a few hundred evaluations, seconds for a loss that takes ms."""

DIRECTIONAL_MUST_SAVE = 2.0
"""Directions replace entries only where predicted at least 2 times faster: near parity the
per-entry check's stronger promise (every entry to a relative 1e-6 of itself) is worth the
time, and the prediction is no finer than a factor of 2."""

EVALS_PER_ENTRY = {"forward": 2, "central": 4, "richardson": 6, "complex": 1, "auto": 1}
"""Loss evaluations per entry, measured on smooth losses: 2, 4, 6 for forward, central, richardson
(refinement adds a few percent), 1.02 for complex step, and ``auto``'s complex step where the loss
allows it. The progress bar counts these; the prediction weighs them (:func:`real_evaluations`)."""

COMPLEX_EVALUATION_COST = 4.0
"""A complex evaluation costs about 4 real ones (four real multiplications per complex one)."""


def real_evaluations(method: str) -> float:
    """Per entry, in units of one real evaluation: complex step's one evaluation weighs 4; ``auto``
    counts as richardson, which it falls back to where complex step is unusable (an upper bound)."""
    if method == "auto":
        return float(EVALS_PER_ENTRY["richardson"])
    per = float(EVALS_PER_ENTRY.get(method, EVALS_PER_ENTRY["richardson"]))
    return per * COMPLEX_EVALUATION_COST if method == "complex" else per


OVERHEAD_PER_EVAL_S = 10e-6
"""The per-entry schemes' own bookkeeping per evaluation beyond the loss (the perturbation, the
mutation guard, the differences and their error estimates): ``benchmarks/overhead.py``
measures 3.2 us at 1e4 entries and 5.9 us at 1e5; 10 us allows for a loaded machine. It
matters only for the cheapest losses, whose own time is of that order."""

DIRECTIONAL_EVALS_PER_LINE = 12.0
DIRECTIONAL_FIXED_EVALS = 24.0
DIRECTIONAL_FIXED_S = 0.5
DIRECTIONAL_S_PER_ENTRY_EVAL = 2e-7
"""The directional check evaluates along 8 random directions, one per parameter and the
gradient's own, about 12 evaluations each with richardson (122 in all for one parameter,
measured at 2e3 and 2e5 entries alike), plus the noise probe (12 to 48); each of those
evaluations writes and checks every entry (156 ns per entry measured at 2e5 entries), and
the analysis costs a fixed few tenths of a second."""


@dataclass(frozen=True)
class Prediction:
    """Predicted seconds of the per-entry and the directional check, from one evaluation's time."""

    n_entries: int
    method: str
    eval_s: float
    workers: int
    entries_s: float
    directional_s: float

    def entries_detail(self) -> str:
        per = real_evaluations(self.method)
        spread = f" / {self.workers} workers" if self.workers > 1 else ""
        return (f"{self.n_entries:,} entries x {per:g} evaluations ({self.method}) x {describe_s(self.eval_s)}"
                f"{spread}")


def describe_s(s: float) -> str:
    """``2.2 s``, ``7.4 min``, ``1.3 h``, ``850 us``: a duration as a person reads it."""
    if not math.isfinite(s):
        return "unknown"
    if s < 1e-3:
        return f"{s * 1e6:.0f} us"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def worker_count(workers: int | cf.Executor | None) -> int:
    """How many evaluations run at once: an int pool is capped by the cores; an Executor says
    (``_max_workers``) or counts as 1 (a cluster's size is not known here)."""
    if workers is None:
        return 1
    if isinstance(workers, int):
        return max(1, min(workers, os.cpu_count() or 1))
    return max(1, int(getattr(workers, "_max_workers", 1) or 1))


def predict(n_entries: int, n_params: int, method: str, eval_s: float,
            workers: int | cf.Executor | None = None, directions: int = 8) -> Prediction:
    """The per-entry and the directional check's predicted seconds, given one evaluation's.

    Per entry: ``entries x evaluations per entry (method) x (eval_s + bookkeeping) / workers``.
    Directional: ``(lines x 12 + 24) x (eval_s + 2e-7 s x entries) + 0.5 s`` with one line per
    random direction (``directions``, 8 by default), per parameter and the gradient's own; workers do not shorten it.
    """
    k = worker_count(workers)
    per = real_evaluations(method)
    entries_s = n_entries * per * (eval_s + OVERHEAD_PER_EVAL_S) / k
    lines = directions + n_params + 1
    evals = lines * DIRECTIONAL_EVALS_PER_LINE + DIRECTIONAL_FIXED_EVALS
    directional_s = evals * (eval_s + DIRECTIONAL_S_PER_ENTRY_EVAL * n_entries) + DIRECTIONAL_FIXED_S
    return Prediction(n_entries=n_entries, method=method, eval_s=eval_s, workers=k, entries_s=entries_s,
                      directional_s=directional_s)


def choose(p: Prediction, budget_s: float = BUDGET_S) -> str:
    """``"directional"`` where the per-entry check is predicted over the budget and directions
    at least :data:`DIRECTIONAL_MUST_SAVE` times faster; else ``"entries"``."""
    if p.entries_s > budget_s and p.directional_s * DIRECTIONAL_MUST_SAVE < p.entries_s:
        return "directional"
    return "entries"


_QUIET: contextvars.ContextVar[bool] = contextvars.ContextVar("gradcheck_cost_quiet", default=False)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Within: no announcement (the caller has made the one for this check)."""
    token = _QUIET.set(True)
    try:
        yield
    finally:
        _QUIET.reset(token)


def announce(what: str, predicted_s: float, detail: str, faster: str, budget_s: float = BUDGET_S) -> bool:
    """One line on stderr when ``predicted_s`` exceeds the budget; returns whether it was said.

    A plain line, not a warning: the warnings filter shows a warning once per code location
    and ``-W error`` would turn a slow check into a failing one; not the progress bar either,
    which stays off where stderr is not a terminal (CI logs, pytest). Written to the current
    ``sys.stderr``, which pytest shows with a failing test's output (or with ``-s``).
    """
    if predicted_s <= budget_s or _QUIET.get():
        return False
    stream: Any = sys.stderr
    stream.write(f"gradcheck: {what} is predicted to take about {describe_s(predicted_s)} ({detail}); "
                 f"faster: {faster}\n")
    with contextlib.suppress(Exception):
        stream.flush()
    return True
