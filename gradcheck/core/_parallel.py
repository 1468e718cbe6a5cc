"""Spreading an Evaluator's single-entry evaluations over processes (``workers=``).

What is spread is evaluations, not schemes: the parent sends batches of (parameter, flat
index, step) and gets back the function's values at exactly those points. Every scheme,
refinement, error bar and verdict is computed in the parent from the same numbers a
sequential run computes, so a check with ``workers=`` gives the sequential result, value
for value, only sooner.

Each worker holds its own :class:`~gradcheck.core._evaluator.Evaluator` on its own copies of the
parameters, with the same validation and mutation guard as the parent's. ``workers=k``
starts a local pool that forks where the platform can (the loss and parameters are then
inherited, not pickled: a lambda or closure works); elsewhere, and for a caller's
``concurrent.futures.Executor`` (a Dask or Ray cluster's), the loss and parameters are
pickled once, and sent to a worker the first time it meets the check (it asks for them), so
the loss must be picklable, which is checked first and named when it is not. A Dask or Ray
executor's jobs are pickled with cloudpickle, which those clusters ship to every worker: a
lambda or a closure travels there too.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import pickle
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._errors import GradcheckError, InvalidArgumentError, LossRaisedError
from ._options import check_option

__all__ = ["Workers", "validate_workers", "ensure_picklable", "serializer", "MIN_BATCH", "CLOUDPICKLE_EXECUTORS"]

MIN_BATCH = 64
"""A batch is split only where each worker gets at least this many evaluations: a round trip
costs about a millisecond, a loss evaluation of a net worth spreading tens of microseconds."""

CHUNKS_PER_WORKER = 2
"""Pieces per worker and batch: two let a fast worker take up a slow one's slack."""


def validate_workers(workers: Any) -> None:
    """Raise :class:`InvalidArgumentError` unless ``workers`` is None, an int >= 1 or an Executor."""
    check_option("workers", workers)


CLOUDPICKLE_EXECUTORS = ("distributed", "ray")
"""Top-level packages whose executors ship cloudpickle to every worker (Dask's ``distributed``, Ray): their
jobs are pickled with it, which carries a lambda or a closure by value. Elsewhere the standard pickle, whose
limits are named when a loss meets them: a worker of an unknown executor may not have cloudpickle to read
its output."""


def serializer(workers: Any) -> Callable[[Any], bytes]:
    """``dumps`` for the jobs sent to ``workers``: cloudpickle for the executors that ship it, else pickle."""
    if type(workers).__module__.split(".")[0] in CLOUDPICKLE_EXECUTORS:
        try:
            import cloudpickle
        except ImportError:  # such an executor brings it; without it, the standard pickle's limits hold
            return pickle.dumps
        return cloudpickle.dumps
    return pickle.dumps


def ensure_picklable(loss: Callable[[Any], Any], fn_name: str, dumps: Callable[[Any], bytes] = pickle.dumps) -> None:
    try:
        dumps(loss)
    except Exception as exc:
        raise InvalidArgumentError(
            f"workers=: the loss {fn_name} cannot be sent to other processes because it cannot be pickled "
            f"({type(exc).__name__}: {exc}); define it at module level (a function or a class instance, not a lambda "
            f"or a closure), or use workers=None (a Dask or Ray executor carries lambdas and closures)"
        ) from exc


@dataclass(frozen=True)
class _Job:
    """What a worker needs to rebuild the parent's Evaluator."""

    token: str
    fn: Callable[[Any], Any]
    params: Any  # packed as the function takes them
    single_name: str
    scalar: bool
    fn_name: str
    out_shape: tuple[int, ...]


_PENDING: dict[str, _Job] = {}
"""In the parent while a local pool forks: token -> the job its processes inherit."""

_EVALUATORS: dict[tuple[str, int], Any] = {}
"""In a worker: (token, thread) -> its Evaluator. Per thread, since an executor of threads
runs pieces side by side in one process, and an Evaluator's workspace is one point at a time."""


def _install(job: _Job) -> Any:
    from ._evaluator import Evaluator
    from ._params import ParamSet

    ev = Evaluator(job.fn, ParamSet(job.params, single_name=job.single_name), scalar=job.scalar,
                   fn_name=job.fn_name)
    ev.out_shape = job.out_shape
    me = threading.get_ident()
    for key in [k for k in _EVALUATORS if k[1] == me]:  # a thread serves one check at a time: drop older ones
        del _EVALUATORS[key]
    _EVALUATORS[job.token, me] = ev
    return ev


def _init_forked(token: str) -> None:
    """Pool initializer after a fork: the job is in the inherited memory."""
    _install(_PENDING[token])


NEED_JOB = "gradcheck: send the job"
"""A worker's answer to a piece it cannot evaluate yet. The job (the pickled loss and parameters,
megabytes where the loss holds its data) goes only to workers that ask, once each, not with every piece."""


def _evaluate(token: str, blob: bytes | None, param: np.ndarray, flat: np.ndarray, delta: np.ndarray,
              real: bool, keep_nonfinite: bool) -> np.ndarray:
    """Worker side: the function's values at one piece of a batch."""
    from ._evaluator import Perturbation

    ev = _EVALUATORS.get((token, threading.get_ident()))
    if ev is None:
        if blob is None:
            return NEED_JOB  # this worker has not seen the check yet: the parent resends with the job
        ev = _install(pickle.loads(blob))
    cast = float if real else complex
    requests = [Perturbation(int(p), int(i), cast(d)) for p, i, d in zip(param, flat, delta, strict=True)]
    return ev.evaluate(requests, real=real, keep_nonfinite=keep_nonfinite)


class Workers:
    """A pool the Evaluator hands batches to; ``close()`` shuts down a pool it started."""

    def __init__(self, workers: int | cf.Executor, *, fn: Callable[[Any], Any], params: Any, single_name: str,
                 scalar: bool, fn_name: str, out_shape: tuple[int, ...]) -> None:
        token = uuid.uuid4().hex
        job = _Job(token, fn, params, single_name, scalar, fn_name, tuple(out_shape))
        self.token = token
        self.fn_name = fn_name
        self.blob: bytes | None = None
        self.own = isinstance(workers, int)
        if self.own and "fork" in mp.get_all_start_methods():
            _PENDING[token] = job
            try:
                self.pool: cf.Executor = cf.ProcessPoolExecutor(
                    max_workers=workers, mp_context=mp.get_context("fork"), initializer=_init_forked,
                    initargs=(token,))
                self.size = int(workers)
                # Start the processes now, while the job is in this process's memory to inherit.
                list(self.pool.map(_noop, range(self.size)))
            finally:
                _PENDING.pop(token, None)
            return
        dumps = serializer(workers)
        ensure_picklable(fn, fn_name, dumps)
        self.blob = dumps(job)
        if self.own:
            self.pool = cf.ProcessPoolExecutor(max_workers=workers)
            self.size = int(workers)
        else:
            self.pool = workers  # type: ignore[assignment]
            # The standard executors keep their size in _max_workers; a cluster's may not say (4 then).
            self.size = max(int(getattr(workers, "_max_workers", 0) or 4), 1)

    def pieces(self, n: int) -> int:
        """How many pieces a batch of ``n`` evaluations is cut into (1: evaluate here)."""
        return max(1, min(CHUNKS_PER_WORKER * self.size, n // MIN_BATCH))

    def evaluate(self, param: np.ndarray, flat: np.ndarray, delta: np.ndarray, *, real: bool,
                 keep_nonfinite: bool) -> np.ndarray:
        """Values at every request of a batch, in order; a worker's error is raised as it was raised there."""
        k = self.pieces(param.size)
        bounds = [round(i * param.size / k) for i in range(k + 1)]
        spans = list(zip(bounds, bounds[1:], strict=False))

        def submit(a: int, b: int, blob: bytes | None) -> cf.Future:
            return self.pool.submit(_evaluate, self.token, blob, param[a:b], flat[a:b], delta[a:b], real,
                                    keep_nonfinite)

        futures = [submit(a, b, None) for a, b in spans]
        try:
            values = []
            for (a, b), fut in zip(spans, futures[:len(spans)], strict=True):
                got = fut.result()
                if isinstance(got, str) and got == NEED_JOB:
                    if self.blob is None:
                        raise LossRaisedError(f"a worker lost the check of {self.fn_name}: run with workers=None")
                    futures.append(submit(a, b, self.blob))
                    got = futures[-1].result()
                values.append(got)
            return np.concatenate(values, axis=0)
        except GradcheckError:
            raise
        except cf.BrokenExecutor as exc:
            raise LossRaisedError(f"a worker process died while evaluating {self.fn_name} ({exc}): run with "
                                  "workers=None to see the failure in this process") from exc
        except Exception as exc:  # the job could not be rebuilt there (a module the worker cannot import, ...)
            raise LossRaisedError(f"a worker could not evaluate {self.fn_name}: {type(exc).__name__}: {exc}") from exc
        finally:
            for f in futures:
                f.cancel()

    def close(self) -> None:
        if self.own:
            self.pool.shutdown(wait=True, cancel_futures=True)


def _noop(_: int) -> None:
    return None
