"""``workers=``: a per-entry check spread over processes gives the single-process result, value for value."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os

import numpy as np
import pytest
from test_directional import ReluNet, RowMLP

import gradcheck.checks._first_order as api
from gradcheck import (
    InvalidArgumentError,
    LossRaisedError,
    MutatingFunctionError,
    check_grad,
    check_jacobian,
)
from gradcheck.core._progress import Progress

FORK = "fork" in mp.get_all_start_methods()


def _same(a, b) -> None:
    """Two results agree in every number the verdict was made of."""
    assert a.verdict == b.verdict and a.n_evaluations == b.n_evaluations
    for name, pa in a.params.items():
        pb = b.params[name]
        assert pa.verdict == pb.verdict and pa.resolution == pb.resolution, name
        np.testing.assert_array_equal(pa.arrays.numeric, pb.arrays.numeric)
        np.testing.assert_array_equal(pa.arrays.tolerances, pb.arrays.tolerances)
        assert [e.index for e in pa.mismatches] == [e.index for e in pb.mismatches]
        assert [e.index for e in pa.kinks] == [e.index for e in pb.kinks]


@pytest.fixture(scope="module")
def mlp():
    return RowMLP(20, n_in=10, n_out=4)  # W1 200, W2 400 entries: their batches are split


@pytest.mark.parametrize("method", ["richardson", "complex", "central"])
def test_workers_give_the_single_process_result(mlp, method):
    one = check_grad(mlp.loss, mlp.grad, mlp.params, method=method, mode="entries", keep_arrays=True)
    two = check_grad(mlp.loss, mlp.grad, mlp.params, method=method, mode="entries", keep_arrays=True, workers=2)
    assert one.ok
    _same(one, two)


def test_workers_at_kinks_refine_as_a_single_process_does():
    net = ReluNet(8, 140, on_kink=6)  # b1's 140 entries are split; 6 sit exactly on their kink
    one = check_grad(net.loss, net.grad, net.params, mode="entries", keep_arrays=True)
    two = check_grad(net.loss, net.grad, net.params, mode="entries", keep_arrays=True, workers=2)
    assert not one.failed and len(one.params["b1"].kinks) > 0
    _same(one, two)


def test_workers_name_the_same_wrong_entry(mlp):
    def slipped(p):
        g = mlp.grad(p)
        g["W2"] = g["W2"].copy()
        g["W2"][3, 7] *= 1 + 1e-5
        return g

    one = check_grad(mlp.loss, slipped, mlp.params, mode="entries", keep_arrays=True)
    two = check_grad(mlp.loss, slipped, mlp.params, mode="entries", keep_arrays=True, workers=2)
    assert one.failed and [e.index for e in one.params["W2"].mismatches] == [(3, 7)]
    _same(one, two)


@pytest.mark.skipif(not FORK, reason="a local pool inherits the loss only where processes fork")
def test_a_local_pool_takes_a_lambda(mlp):
    r = check_grad(lambda p: mlp.loss(p), mlp.grad, mlp.params, mode="entries", workers=2)
    assert r.ok


def test_an_executor_spreads_the_check_and_stays_open(mlp):
    one = check_grad(mlp.loss, mlp.grad, mlp.params, mode="entries", keep_arrays=True)
    with cf.ThreadPoolExecutor(max_workers=2) as ex:  # stands in for a Dask or Ray cluster's executor
        two = check_grad(mlp.loss, mlp.grad, mlp.params, mode="entries", keep_arrays=True, workers=ex)
        assert ex.submit(int, "7").result() == 7  # the caller's executor is not shut down
    _same(one, two)


def test_separate_processes_get_the_job_once_each(mlp):
    """A spawned pool shares no memory with this process, as a cluster's workers do not."""
    one = check_grad(mlp.loss, mlp.grad, mlp.params, mode="entries", keep_arrays=True)
    with cf.ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn")) as ex:
        two = check_grad(mlp.loss, mlp.grad, mlp.params, mode="entries", keep_arrays=True, workers=ex)
    _same(one, two)


def test_an_executor_needs_a_picklable_loss(mlp):
    with cf.ThreadPoolExecutor(max_workers=2) as ex, pytest.raises(InvalidArgumentError, match="cannot be pickled"):
        check_grad(lambda p: mlp.loss(p), mlp.grad, mlp.params, mode="entries", workers=ex)


def test_jacobians_spread_too():
    rng = np.random.default_rng(5)
    A = rng.normal(size=(3, 200)) / 30  # tanh away from saturation
    x = rng.normal(size=200)
    one = check_jacobian(_Tanh(A), _TanhJac(A), x, keep_arrays=True)
    two = check_jacobian(_Tanh(A), _TanhJac(A), x, keep_arrays=True, workers=2)
    assert one.ok
    _same(one, two)


class _Tanh:
    def __init__(self, A):
        self.A = A

    def __call__(self, x):
        return np.tanh(self.A @ x)


class _TanhJac(_Tanh):
    def __call__(self, x):
        return (1 - np.tanh(self.A @ x) ** 2)[:, None] * self.A


# --------------------------------------------------------------------------- failures in a worker
class _RaisesAt:
    """The MLP's loss, failing where entry ``(3, 4)`` of W2 alone is moved (the noise probe moves
    every entry): in a worker, never in the process that runs the test."""

    def __init__(self, net, how):
        self.net, self.how, self.w = net, how, net.params["W2"].copy()
        self.parent = os.getpid()

    def __call__(self, p):
        if p["W2"][3, 4] != self.w[3, 4] and p["W2"][0, 0] == self.w[0, 0] and os.getpid() != self.parent:
            if self.how == "raise":
                raise ValueError("the solver diverged")
            if self.how == "write":
                p["W1"][0, 0] = 7.0
            if self.how == "die":
                os._exit(3)
        return self.net.loss(p)


@pytest.mark.parametrize("how, error, match", [
    ("raise", LossRaisedError, r"raised ValueError with parameter 'W2' at index \(3, 4\).*the solver diverged"),
    ("write", MutatingFunctionError, r"parameter 'W1' changed at index \(0, 0\)"),
    ("die", LossRaisedError, "a worker process died"),
])
def test_a_failure_in_a_worker_is_named_and_the_arrays_are_untouched(mlp, how, error, match):
    before = {k: v.copy() for k, v in mlp.params.items()}
    with pytest.raises(error, match=match):
        check_grad(_RaisesAt(mlp, how), mlp.grad, mlp.params, mode="entries", workers=2)
    for k, v in before.items():
        np.testing.assert_array_equal(mlp.params[k], v)


@pytest.mark.parametrize("value", [0, -2, True, 2.0, "2"])
def test_invalid_workers_are_named(mlp, value):
    with pytest.raises(InvalidArgumentError, match="workers="):
        check_grad(mlp.loss, mlp.grad, mlp.params, workers=value)


def test_progress_bar_over_the_evaluations(mlp, monkeypatch, capsys):
    monkeypatch.setattr(api, "Progress", lambda **kw: Progress(delay_s=0.0, **kw))
    check_grad(mlp.loss, mlp.grad, mlp.params, mode="entries", progress=True)
    err = capsys.readouterr().err
    assert "evaluations of" in err and "richardson" in err
    check_grad(mlp.loss, mlp.grad, mlp.params, mode="entries", progress=False)
    assert capsys.readouterr().err == ""
    with pytest.raises(InvalidArgumentError, match="progress="):
        check_grad(mlp.loss, mlp.grad, mlp.params, progress="yes")


def test_directional_mode_takes_workers_from_check_grad(mlp):
    r = check_grad(mlp.loss, mlp.grad, mlp.params, mode="directional", workers=2, directional={"per_entry": 20})
    assert r.ok and r.n_subset == 20
