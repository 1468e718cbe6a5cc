"""workers= on a real Dask cluster (distributed.LocalCluster, two worker processes): value for value the
single-process result, and a lambda or closure travels, as Dask ships cloudpickle.

Skipped with the reason where distributed is absent, except in CI (CI=true), whose test extra installs it.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from gradcheck import check_grad, check_jacobian

if os.environ.get("CI") == "true":
    import distributed  # the test extra brings it: its absence in CI is a failure, not a skip
else:
    distributed = pytest.importorskip("distributed", reason="a Dask cluster needs distributed: pip install distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture
def executor(cluster):
    """The cluster's executor; the test fails unless the check really sent work to it."""
    with distributed.get_task_stream(cluster) as stream:
        yield cluster.get_executor()
    assert len(stream.data) > 0, "no evaluation ran on the cluster"


N = 256  # a batch (one side of every entry) of 256 evaluations is cut into pieces of 64 at least for the workers
RNG = np.random.default_rng(3)
A = RNG.normal(size=(40, N)) / 12
B = RNG.normal(size=40)


def _same(one, two):
    assert one.verdict == two.verdict and set(one.params) == set(two.params)
    for name, p in one.params.items():
        q = two.params[name]
        assert np.array_equal(p.numeric, q.numeric) and np.array_equal(p.error_estimate, q.error_estimate)
        assert np.array_equal(p.tolerances, q.tolerances)


def test_a_closure_is_checked_on_a_dask_cluster_value_for_value(executor) -> None:
    import pickle

    from gradcheck.core._parallel import serializer

    def loss(p):  # a closure over A and B: the standard pickle refuses it
        r = np.tanh(A @ p["x"]) - B
        return float(r @ r)

    with pytest.raises(Exception):  # noqa: B017 - whichever error this Python's pickle raises for a local object
        pickle.dumps(loss)
    assert serializer(executor).__module__.startswith("cloudpickle")

    def grad(p):
        t = np.tanh(A @ p["x"])
        return {"x": A.T @ (2 * (t - B) * (1 - t * t))}

    params = {"x": RNG.normal(size=N) / 3}
    one = check_grad(loss, grad, params, mode="entries", keep_arrays=True)
    two = check_grad(loss, grad, params, mode="entries", keep_arrays=True, workers=executor)
    assert one.ok
    _same(one, two)


def test_a_wrong_gradient_fails_the_same_way_there(executor) -> None:
    params = {"x": RNG.normal(size=N) / 3}
    one = check_grad(lambda p: float(np.sum(np.sin(A @ p["x"]))), lambda p: {"x": A.T @ np.cos(A @ p["x"]) * 1.001},
                     params, mode="entries", keep_arrays=True)
    two = check_grad(lambda p: float(np.sum(np.sin(A @ p["x"]))), lambda p: {"x": A.T @ np.cos(A @ p["x"]) * 1.001},
                     params, mode="entries", keep_arrays=True, workers=executor)
    assert one.failed
    _same(one, two)
    assert one.params["x"].n_mismatched == two.params["x"].n_mismatched


def test_a_jacobian_spreads_on_the_cluster(executor) -> None:
    x = RNG.normal(size=N)
    one = check_jacobian(lambda v: np.tanh(A @ v), lambda v: (1 - np.tanh(A @ v) ** 2)[:, None] * A, x,
                         keep_arrays=True)
    two = check_jacobian(lambda v: np.tanh(A @ v), lambda v: (1 - np.tanh(A @ v) ** 2)[:, None] * A, x,
                         keep_arrays=True, workers=executor)
    assert one.ok
    _same(one, two)
