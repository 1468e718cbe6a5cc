"""The default check settles what finite differences cannot, with a named witness, and is never
wrong doing it (oracle='auto', gradcheck.checks._witnesses).

Each case is one that finite differences alone leave inconclusive (or judge only in the loss's
units), written the way users write it; each asserts both the settled verdict and that a slip is
still caught, so a witness that passed everything would fail here.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.checks._witnesses import _disagreement, loss_units_only
from gradcheck.oracles._seam import OracleEstimate


def _saturated() -> tuple:
    """A sigmoid layer whose units are saturated (|z| ~ 20): derivatives of 1e-9 and less."""
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 4)) * 8
    x = rng.standard_normal(4)

    def loss(W):
        s = 1 / (1 + np.exp(-(W @ x)))
        return np.sum(s**2)

    def grad(W):
        s = 1 / (1 + np.exp(-(W @ x)))
        return np.outer(2 * s * s * (1 - s), x)

    return loss, grad, W


def test_a_saturated_layer_is_settled_by_a_named_witness_where_differences_cannot():
    loss, grad, W = _saturated()
    fd = gc.check_grad(loss, grad, W, oracle="fd")
    assert fd.verdict == "inconclusive"
    r = gc.check_grad(loss, grad, W)
    p = r.params["params"]
    assert r.verdict == "pass" and p.witness in ("complex step", "symbolic (exact)")
    assert p.trail and p.trail[0].startswith("finite differences (richardson): inconclusive")
    assert f"ok by {p.witness}" in str(r)


def test_a_relative_1e8_slip_beside_a_loss_of_1e8_is_caught():
    x = np.array([1.0, -2.0, 3.0])
    loss = lambda v: 1e8 + np.sum(v**2)  # noqa: E731
    assert gc.check_grad(loss, lambda v: 2 * v, x).verdict == "pass"
    assert gc.check_grad(loss, lambda v: 2 * v, x, oracle="fd").verdict == "inconclusive"
    slip = gc.check_grad(loss, lambda v: 2 * v * np.array([1, 1 + 1e-8, 1]), x)
    assert slip.verdict == "FAIL" and slip.params["params"].mismatches[0].index == (1,)


def test_complex_step_never_decides_beside_a_kink_of_abs():
    """np.abs within 1e-8 of its kink: complex step reads 0 there (|x + ih| is real); the analyticity
    probe refuses it, the exact derivative settles, and sign(x) is right."""
    x = np.array([1e-8, -2e-8, 0.5])
    loss = lambda v: np.sum(np.abs(v)) + np.sum(v**2)  # noqa: E731
    r = gc.check_grad(loss, lambda v: np.sign(v) + 2 * v, x)
    p = r.params["params"]
    assert r.verdict == "pass"
    assert p.witness != "complex step"
    assert gc.check_grad(loss, lambda v: -np.sign(v) + 2 * v, x).verdict == "FAIL"


def test_a_complex_step_fail_the_exact_derivative_refutes_is_not_the_verdict():
    """Cross-entropy written with log(1 - s) at saturated s: the real parts keep the cancellation,
    so complex step reads a correct gradient 3e-8 off; the exact derivative decides, and says so."""
    loss, grad, params = _saturated_bce()
    r = gc.check_grad(loss, grad, params)
    assert r.verdict != "FAIL"
    for p in r.params.values():
        if p.verdict == "pass" and p.witness == "symbolic (exact)":
            assert any("refuted" in t or "complex step" in t for t in p.trail)

    def slipped(p):
        g = grad(p)
        return {"W": g["W"], "b": g["b"] * (1 + 1e-6)}

    assert gc.check_grad(loss, slipped, params).params["b"].verdict == "FAIL"


def _badly_scaled(seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    x = np.concatenate([1e-6 * rng.normal(size=2), 1e6 * rng.normal(size=2)])
    A = rng.normal(size=(6, 4)) * np.array([1e-8, 1e-8, 1.0, 1.0])
    b = A @ x + rng.normal(size=6)
    small = np.arange(4) < 2

    def loss(v):
        r = A @ v - b
        return np.sum(r * r)

    def right(v):
        return 2.0 * A.T @ (A @ v - b)

    def flipped(v):
        return np.where(small, -right(v), right(v))

    return loss, right, flipped, x


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_entries_judged_only_in_loss_units_are_asked_of_an_exact_witness(seed):
    """Signs of gradient entries 1e-8 of the largest flipped: immaterial to the loss, so differences
    pass them; an exact witness judges each entry on the row's scale and catches the flip."""
    loss, right, flipped, x = _badly_scaled(seed)
    fd = gc.check_grad(loss, flipped, x, oracle="fd")
    assert fd.verdict == "pass" and loss_units_only(fd.params["params"], np.maximum(np.abs(x), 1.0)) >= 2
    wrong = gc.check_grad(loss, flipped, x)
    assert wrong.verdict == "FAIL"
    assert {e.index for e in wrong.params["params"].mismatches} <= {(0,), (1,)}
    assert gc.check_grad(loss, right, x).verdict == "pass"


def test_float32_is_judged_against_a_float64_reference():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((20, 5)).astype(np.float32)
    y = rng.standard_normal(20).astype(np.float32)
    w = rng.standard_normal(5).astype(np.float32)
    loss = lambda v: 0.5 * np.sum((X @ v - y) ** 2)  # noqa: E731
    grad = lambda v: X.T @ (X @ v - y)  # noqa: E731
    assert gc.check_grad(loss, grad, w, oracle="fd").verdict == "inconclusive"
    r = gc.check_grad(loss, grad, w)
    assert r.verdict == "pass" and r.params["params"].resolution <= 1.2e-5
    assert any("float64 copies" in n for n in r.notes)
    slip = lambda v: grad(v) * np.array([1, 1, 1 + 1e-3, 1, 1], dtype=np.float32)  # noqa: E731
    assert gc.check_grad(loss, slip, w).verdict == "FAIL"
    assert w.dtype == np.float32  # the caller's array is untouched


def test_a_loss_that_casts_to_float32_gets_no_reference_and_says_why():
    w = np.linspace(-1, 1, 4).astype(np.float32)
    loss = lambda v: np.float32(np.sum(np.asarray(v, dtype=np.float32) ** 2))  # noqa: E731
    r = gc.check_grad(loss, lambda v: 2 * v, w)
    assert any("no float64 reference" in n and "does not follow" in n for n in r.notes)
    assert r.verdict != "FAIL"


def test_float64_is_never_called_float32_and_a_fine_target_is_honoured():
    rng = np.random.default_rng(0)
    x = rng.normal(size=50)
    r = gc.check_grad_directional(lambda v: np.sum(np.sin(v)), np.cos, x, target=1e-12)
    assert not any("parameters in float32" in n or "raised to" in n for n in r.notes), r.notes
    assert r.target == 1e-12


def test_frozen_floats_never_reach_a_verdict():
    loss = lambda x: x[0].item() ** 2 + float(np.sum(x[1:] ** 2))  # noqa: E731
    r = gc.check_grad(loss, lambda x: 2 * x, np.array([0.5, -1.2, 0.8]))
    assert r.verdict == "pass"


def test_the_witness_and_its_trail_survive_json():
    loss, grad, W = _saturated()
    r = gc.check_grad(loss, grad, W)
    d = json.loads(r.to_json())
    assert d["schema_version"] == 3
    p = d["params"]["params"]
    assert p["witness"] == r.params["params"].witness and p["trail"] == list(r.params["params"].trail)
    back = type(r).from_dict(d)
    assert back.params["params"].witness == r.params["params"].witness
    assert back.params["params"].trail == r.params["params"].trail


def test_two_witnesses_that_differ_beyond_both_bars_disagree():
    fd = OracleEstimate(value=np.array([[1.0, 2.0]]), error=np.array([[1e-6, 1e-6]]))
    close = OracleEstimate(value=np.array([[1.0 + 1e-7, 2.0]]), error=np.zeros((1, 2)))
    far = OracleEstimate(value=np.array([[1.0, 2.01]]), error=np.zeros((1, 2)))
    none = np.zeros((1, 2), dtype=bool)
    assert _disagreement(fd, close, 10.0, none) is None
    assert "flat 1" in (_disagreement(fd, far, 10.0, none) or "")
    assert _disagreement(fd, far, 10.0, np.array([[False, True]])) is None  # a kink is not compared


def test_oracle_fd_keeps_finite_differences_alone():
    loss, grad, W = _saturated()
    r = gc.check_grad(loss, grad, W, oracle="fd")
    p = r.params["params"]
    assert p.trail == () and p.witness == "finite differences (richardson)"
    assert "oracle='auto'" in p.inconclusive


def _saturated_bce() -> tuple:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 3)) * 0.3
    T = (rng.uniform(size=(6, 4)) < 0.5).astype(float)
    params = {"W": rng.normal(size=(3, 4)) * 0.2, "b": np.array([20.0, -20.0, 0.3, 21.0])}

    def sig(z):
        with np.errstate(over="ignore"):
            return np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))

    def loss(p):
        s = sig(X @ p["W"] + p["b"])
        return -np.sum(T * np.log(s) + (1 - T) * np.log(1 - s))

    def grad(p):
        dz = sig(X @ p["W"] + p["b"]) - T
        return {"W": X.T @ dz, "b": dz.sum(axis=0)}

    return loss, grad, params


@pytest.mark.skipif(np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps, reason="long double is float64 here")
def test_without_the_exact_witness_complex_step_in_long_double_settles_a_cancelling_loss(monkeypatch):
    """Complex step alone reads this correct gradient 3e-8 off (the real parts of log(1 - s) cancel
    alike at every step): its FAIL is checked in long double, not trusted, and the long-double step
    settles the verdict; a 1e-6 slip is still caught by it."""
    from gradcheck.checks import _witnesses as w

    monkeypatch.setattr(w.escalate, "__defaults__", ((w.WITNESSES[0], w.WITNESSES[2]),))
    loss, grad, params = _saturated_bce()
    r = gc.check_grad(loss, grad, params)
    assert r.verdict == "pass", str(r)
    assert {p.witness for p in r.params.values()} == {"complex step in long double"}
    assert any("not trusted" in t for p in r.params.values() for t in p.trail)

    def slipped(p):
        g = grad(p)
        return {"W": g["W"], "b": g["b"] * (1 + 1e-6)}

    assert gc.check_grad(loss, slipped, params).params["b"].verdict == "FAIL"


def test_directions_take_complex_step_and_name_the_entries_they_cannot_promise():
    rng = np.random.default_rng(0)
    n = 20_000
    x, w = rng.normal(size=n), rng.normal(size=n)
    w[:10] *= 1e-9  # ten terms a billion times smaller: no direction can promise them 1e-6 of themselves
    loss = lambda v: np.sum(w * np.tanh(v))  # noqa: E731
    grad = lambda v: w * (1 - np.tanh(v) ** 2)  # noqa: E731
    g = grad(x)
    median = int(np.argsort(np.abs(g))[n // 2])

    def slip(v):
        out = grad(v).copy()
        out[median] *= 1 + 1e-6
        return out

    r = gc.check_grad(loss, grad, x, mode="directional")
    assert r.verdict == "pass" and r.method == "auto"  # complex step where the probe finds the loss analytic
    assert any(n.startswith("params: 10 of 20000 entries") and "not promised 1e-06" in n for n in r.notes), r.notes
    bad = gc.check_grad(loss, slip, x, mode="directional")
    assert bad.verdict == "FAIL" and (median,) in {e.index for e in bad.mismatches["params"]}


HARD = ["kron_lsq_f32", "kron_nearest_f32", "sigmoid_where_bce_f64", "sigmoid_tanh_bce_f64", "lsq_intercept_dict",
        "relu_where_1e-05_f32", "total_variation", "softmax_ce_oneliner_f32", "expm1_small_f64", "logistic_x1e4_f32",
        "eigh_min_gap1e-04", "eigh_min_gap1e-06_eigvalsh", "eigh_min_gap1e-05_sym"]


@pytest.fixture(scope="module")
def hard_cases_module():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import hard_cases

    return hard_cases


@pytest.mark.parametrize("name", HARD)
def test_hard_cases_settle_as_pass_and_their_slips_fail(name, hard_cases_module):
    """From benchmarks/hard_cases.py: the correct gradient passes (settled by a named witness where
    differences cannot), and its twin with one median entry slipped by 1e-6 (1e-3 in float32) FAILs;
    a witness that refuted a FAIL of differences on the wrong grounds once passed the float32 twins."""
    hc = hard_cases_module
    case = {c.name: c for c in hc.cases(0)}[name]
    with np.errstate(all="ignore"):
        right = gc.check_grad(case.loss, case.grad, case.params, **case.kwargs)
        assert right.verdict == "pass", str(right)
        twin = hc.slipped(case, 1e-3 if case.float32 else 1e-6)
        wrong = gc.check_grad(case.loss, twin, case.params, **case.kwargs)
    key, idx, _ = twin.slip
    assert wrong.verdict == "FAIL" and wrong.params[key].verdict == "FAIL", str(wrong)


def test_an_eigenvalue_is_exact_where_simple_and_refused_where_degenerate():
    """The smallest eigenvalue's derivative is v v^T only where it is simple. At a tie (two equal
    eigenvalues, exactly, in the matrix given) no vector is right, and the exact witness says n/a
    rather than pick one; 1e-6 away it is exact and settles what differences cannot."""
    from gradcheck import symbolic

    def loss(m):
        return np.linalg.eigvalsh((m + m.T) / 2)[0]

    def grad(m):
        v = np.linalg.eigh((m + m.T) / 2)[1][:, 0]
        return np.outer(v, v)

    tied = np.diag([1.0, 1.0, 2.0])
    d = symbolic.gradient(loss, tied, exact=True, cache=False)
    assert d.exact_value is None and any("degenerate" in n for n in d.notes), d.notes
    r = gc.check_grad(loss, grad, tied)
    assert r.params["params"].witness != "symbolic (exact)" and r.verdict != "FAIL", str(r)

    q, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(3, 3)))
    near = q @ np.diag([1.0, 1.0 + 1e-6, 2.0]) @ q.T
    near = (near + near.T) / 2
    fd = gc.check_grad(loss, grad, near, oracle="fd")
    assert fd.verdict == "inconclusive", str(fd)
    right = gc.check_grad(loss, grad, near)
    assert right.verdict == "pass" and right.params["params"].witness == "symbolic (exact)", str(right)
    wrong = gc.check_grad(loss, lambda m: grad(m) * (1 + 1e-6), near)
    assert wrong.verdict == "FAIL", str(wrong)



def test_a_pass_by_a_thin_margin_asks_a_stronger_witness():
    """A 5-layer sigmoid MLP of the registry, whose first layer differences resolve to 2e-8: they pass
    a relative 1e-8 slip there, at a sizeable share of their tolerance. That thin margin asks complex
    step, which sees the slip (confirmed by the exact derivative). The correct gradient's margin is
    far from thin and asks nothing further."""
    from gradcheck import registry

    d = next(d for d in registry.derivations() if d.name == "sigmoid_mlp.column")
    problem = d.problem(80724706, n_in=4, width=5, n_out=1, depth=5)
    loss, grad = d.bind(problem)  # the derivation's own code: it follows its input's dtype

    def slipped(p):
        return {**grad(p), "W0": grad(p)["W0"] * (1 + 1e-8)}

    right = gc.check_grad(loss, grad, problem.params)
    assert right.ok and not any("thin margin" in t for p in right.params.values() for t in p.trail), str(right)
    fd = gc.check_grad(loss, slipped, problem.params, oracle="fd")
    assert fd.ok and fd.params["W0"].resolution > 1e-8, str(fd)
    wrong = gc.check_grad(loss, slipped, problem.params)
    w0 = wrong.params["W0"]
    assert w0.verdict == "FAIL" and w0.witness != "finite differences (richardson)", str(wrong)
    assert "thin margin" in w0.trail[0], w0.trail
    assert all(p.verdict == "pass" for n, p in wrong.params.items() if n != "W0")
