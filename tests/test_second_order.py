"""Second-order checks: Hessians, Hessian-vector products, Gauss-Newton matrices.

Every test could fail: a correct closed form rejected, a slip accepted or misnamed, a kink
flagged, a caller's array modified, or bad input let through without its named error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcheck import (
    GradientMismatch,
    GradientStructureError,
    InvalidArgumentError,
    LossRaisedError,
    MutatingFunctionError,
    NonFiniteError,
    NonScalarLossError,
    ShapeMismatchError,
    registry,
)
from gradcheck.checks.second import (
    GaussNewton,
    assert_hessian,
    assert_hvp,
    check_gauss_newton,
    check_hessian,
    check_hvp,
)
from gradcheck.judge._headline import headline

# Importing the module registers its derivations; keep them out of the registry the rest of
# the suite sees (it lists the built-ins exactly) unless they are built in already.
registry.derivations()
_saved = dict(registry._REGISTRY)
from reference_nets import second_order as so  # noqa: E402

SECOND = {k: v for k, v in registry._REGISTRY.items() if k.startswith("second_order.")}
registry._REGISTRY.clear()
registry._REGISTRY.update(_saved)

SEEDS = (0, 1, 2, 3)


# -- a smooth loss over a dict of parameters with a known Hessian ------------------------
class Smooth:
    """phi(z) = z^T S z / 2 + sum_k softplus(q_k^T z) over z = vec of the parameters:
    grad S z + Q^T sigma(Q z), Hessian S + Q^T diag(p (1 - p)) Q with p = sigma(Q z)."""

    def __init__(self, seed: int, shapes: dict[str, tuple[int, ...]]) -> None:
        rng = np.random.default_rng(seed)
        self.shapes = shapes
        self.names = list(shapes)
        self.sizes = [int(np.prod(s)) for s in shapes.values()]
        n = sum(self.sizes)
        R = rng.normal(size=(n, n))
        self.S = (R + R.T) / 2
        self.Q = rng.normal(size=(n + 1, n))
        self.params = {k: rng.normal(size=s) for k, s in shapes.items()}
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])

    def flat(self, p: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([np.ravel(p[k]) for k in self.names])

    def loss(self, p: dict[str, np.ndarray]) -> float:
        z = self.flat(p)
        return float(z @ self.S @ z / 2 + np.sum(np.logaddexp(0, self.Q @ z)))

    def grad(self, p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        z = self.flat(p)
        g = self.S @ z + self.Q.T @ (1 / (1 + np.exp(-self.Q @ z)))
        return {k: g[self.offsets[i]:self.offsets[i + 1]].reshape(self.shapes[k]) for i, k in enumerate(self.names)}

    def matrix(self, p: dict[str, np.ndarray]) -> np.ndarray:
        s = 1 / (1 + np.exp(-self.Q @ self.flat(p)))
        return self.S + self.Q.T @ ((s * (1 - s))[:, None] * self.Q)

    def blocks(self, H: np.ndarray) -> dict[tuple[str, str], np.ndarray]:
        out = {}
        for i, a in enumerate(self.names):
            for j, b in enumerate(self.names):
                blk = H[self.offsets[i]:self.offsets[i + 1], self.offsets[j]:self.offsets[j + 1]]
                out[(a, b)] = blk.reshape(self.shapes[a] + self.shapes[b])
        return out

    def hess(self, p: dict[str, np.ndarray]) -> dict[tuple[str, str], np.ndarray]:
        return self.blocks(self.matrix(p))


def _ls(seed: int, m: int = 6, n: int = 4) -> tuple[Any, ...]:
    rng = np.random.default_rng(seed)
    A, b, x = rng.normal(size=(m, n)), rng.normal(size=(m, 1)), rng.normal(size=(n, 1))
    return A, b, x


def _workloads(seed: int) -> list[tuple[str, Callable, Callable, Callable, np.ndarray]]:
    """(name, loss, grad, hess, x) for the closed forms of reference_nets.second_order."""
    rng = np.random.default_rng(100 + seed)
    A, b, x = _ls(seed)
    X, y = rng.normal(size=(8, 3)), rng.choice([-1.0, 1.0], size=8)
    label = int(rng.integers(5))
    M, c = rng.normal(size=(4, 4)), rng.normal(size=4)
    Wx, yl = rng.normal(size=3), rng.uniform(-1, 2, 2)
    return [
        ("least_squares", lambda v: so.ls_loss(v, A, b), lambda v: so.ls_grad(v, A, b),
         lambda v: so.ls_hessian(v, A, b), x),
        ("logistic", lambda w: float(so.logistic_loss(w, X, y)), lambda w: so.logistic_grad(w, X, y),
         lambda w: so.logistic_hessian(w, X, y), rng.normal(size=3)),
        ("softmax_ce", lambda z: float(so.softmax_ce_loss(z, label)), lambda z: so.softmax_ce_grad(z, label),
         lambda z: so.softmax_ce_hessian(z, label), rng.normal(size=5)),
        ("quadratic_form", lambda v: so.quadratic_loss(v, M, c), lambda v: so.quadratic_grad(v, M, c),
         lambda v: so.quadratic_hessian(v, M, c), rng.normal(size=4)),
        ("sigmoid_layer", lambda W: float(so.layer_loss(W, Wx, yl)), lambda W: so.layer_grad(W, Wx, yl),
         lambda W: so.layer_hessian(W, Wx, yl), rng.normal(size=(2, 3))),
    ]


# -- no false alarm on the reference derivations --------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("with_grad", [True, False], ids=["grad", "loss-only"])
def test_reference_hessians_pass(seed: int, with_grad: bool) -> None:
    for name, loss, grad, hess, x in _workloads(seed):
        r = check_hessian(loss, hess, x, grad=grad if with_grad else None)
        assert r.ok, f"{name}: {r}"
        assert r.tolerance is not None and all(b.resolution < 1e-5 for b in r.blocks.values()), name


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_dict_params_pass_both_ways(seed: int) -> None:
    sm = Smooth(seed, {"W": (2, 2), "c": (4,), "s": ()})
    for grad in (sm.grad, None):
        r = check_hessian(sm.loss, sm.hess, sm.params, grad=grad)
        assert r.ok, str(r)
        assert set(r.blocks) == {(a, b) for a in sm.names for b in sm.names}


def test_registered_second_order_derivations_hold_as_jacobians() -> None:
    # the report runs these through check_jacobian: correct ones pass, slips fail, at 3 seeds
    assert {n for n, d in SECOND.items() if d.expected_correct} == {
        "second_order.least_squares", "second_order.logistic", "second_order.softmax_ce",
        "second_order.quadratic_form", "second_order.sigmoid_layer_gauss_newton",
        "second_order.sigmoid_layer_hessian"}
    for d in SECOND.values():
        for seed in range(3):
            assert d.check(seed).ok is d.expected_correct, (d.name, seed)


def test_newton_reaches_least_squares_solution_in_one_step() -> None:
    for seed in SEEDS:
        A, b, x0 = _ls(seed, m=9, n=4)
        assert check_hessian(lambda v, A=A, b=b: so.ls_loss(v, A, b), lambda v, A=A, b=b: so.ls_hessian(v, A, b), x0,
                             grad=lambda v, A=A, b=b: so.ls_grad(v, A, b)).ok
        x1 = so.newton_step(x0, A, b)
        solution = np.linalg.lstsq(A, b, rcond=None)[0]
        np.testing.assert_allclose(x1, solution, rtol=1e-10, atol=1e-12)
        assert np.linalg.norm(so.ls_grad(x1, A, b)) < 1e-10 * np.linalg.norm(so.ls_grad(x0, A, b))


# -- diagnoses on real slips ----------------------------------------------------------
def _diag(r: Any) -> str:
    return " | ".join(list(r.diagnosis) + [b.diagnosis or "" for b in r.blocks.values()])


@pytest.mark.parametrize("with_grad", [True, False], ids=["grad", "loss-only"])
def test_missing_symmetrization_is_named(with_grad: bool) -> None:
    rng = np.random.default_rng(4)
    M, c, x = rng.normal(size=(4, 4)), rng.normal(size=4), rng.normal(size=4)
    r = check_hessian(lambda v: so.quadratic_loss(v, M, c), lambda v: so.published_quadratic_hessian(v, M, c), x,
                      grad=(lambda v: so.quadratic_grad(v, M, c)) if with_grad else None)
    assert not r.ok and r.status == "mismatch"
    assert "not symmetrized: (H + H^T)/2 missing" in r.diagnosis[0]
    assert r.asymmetry > 0.1


@pytest.mark.parametrize("with_grad", [True, False], ids=["grad", "loss-only"])
def test_gauss_newton_passed_as_hessian_is_named(with_grad: bool) -> None:
    rng = np.random.default_rng(5)
    W, x, y = rng.normal(size=(2, 3)), rng.normal(size=3), rng.uniform(-1, 2, 2)
    parts = GaussNewton(residual=lambda V: so.layer_residual(V, x, y), jac=lambda V: so.layer_jacobian(V, x, y),
                        out_hessian=np.eye(2), out_loss=lambda r: float(np.sum(r * r) / 2))
    loss = lambda V: float(so.layer_loss(V, x, y))
    r = check_hessian(loss, lambda V: so.layer_gauss_newton(V, x, y), W, gauss_newton=parts,
                      grad=(lambda V: so.layer_grad(V, x, y)) if with_grad else None)
    assert not r.ok
    assert any("Gauss-Newton matrix J^T H_out J, not the Hessian" in d for d in r.diagnosis), str(r)
    # the true Hessian with the same parts passes, and is not called a Gauss-Newton matrix
    ok = check_hessian(loss, lambda V: so.layer_hessian(V, x, y), W, gauss_newton=parts)
    assert ok.ok and not ok.diagnosis


def test_gauss_newton_is_not_named_where_the_residual_term_vanishes() -> None:
    rng = np.random.default_rng(6)
    W, x = rng.normal(size=(2, 3)), rng.normal(size=3)
    y = so.layer_residual(W, x, np.zeros(2))  # targets = outputs: r = 0, Hessian = GN exactly
    r = check_hessian(lambda V: float(so.layer_loss(V, x, y)), lambda V: so.layer_gauss_newton(V, x, y), W,
                      grad=lambda V: so.layer_grad(V, x, y))
    assert r.ok, str(r)


@pytest.mark.parametrize("factor, text", [(2.0, "factor 2: claimed = 2 x numerical (a missing 1/2?)"),
                                          (0.5, "factor 1/2: claimed = 1/2 x numerical (a missing factor 2?)"),
                                          (3.0, "off by a factor 3")])
def test_constant_factors_are_named(factor: float, text: str) -> None:
    A, b, x = _ls(7)
    r = check_hessian(lambda v: so.ls_loss(v, A, b), lambda v: factor * so.ls_hessian(v, A, b), x)
    assert not r.ok and any(text in d for d in r.diagnosis), str(r)


def test_dropped_factor_two_of_least_squares() -> None:
    A, b, x = _ls(8)
    r = check_hessian(lambda v: so.ls_loss(v, A, b), lambda v: (A.T @ A).reshape(x.shape * 2), x,
                      grad=lambda v: so.ls_grad(v, A, b))
    assert "missing factor 2" in r.diagnosis[0]


def test_transposed_block_is_named() -> None:
    sm = Smooth(9, {"W": (2, 2), "c": (4,)})
    H = sm.hess(sm.params)
    H[("W", "c")] = H[("W", "c")].reshape(4, 4).T.reshape(2, 2, 4)
    r = check_hessian(sm.loss, lambda p: H, sm.params, grad=sm.grad)
    assert not r.ok
    assert r.blocks[("W", "c")].diagnosis.startswith("only this block is wrong: transposed block ('W', 'c')")
    assert r.blocks[("c", "W")].ok and r.blocks[("W", "W")].ok


def test_transposed_parameter_layout_is_named() -> None:
    sm = Smooth(10, {"W": (3, 3), "c": (2,)})
    H = sm.hess(sm.params)
    H[("W", "c")] = H[("W", "c")].transpose(1, 0, 2)  # d2/dW^T dc
    r = check_hessian(sm.loss, lambda p: H, sm.params)
    assert "rows indexed by W^T" in r.blocks[("W", "c")].diagnosis


def test_wrong_gradient_stops_the_check() -> None:
    A, b, x = _ls(11)
    r = check_hessian(lambda v: so.ls_loss(v, A, b), lambda v: so.ls_hessian(v, A, b), x,
                      grad=lambda v: A.T @ (A @ v - b))
    assert not r.ok and r.status == "gradient_wrong" and not r.blocks
    assert "not judged: the gradient it is built on is wrong" in str(r)
    assert "off by a constant factor" in str(r)  # check_grad's own diagnosis is shown


# -- detection floor: one entry off by a relative 1e-5 ------------------------------------
@pytest.mark.parametrize("seed", SEEDS[:3])
@pytest.mark.parametrize("with_grad", [True, False], ids=["grad", "loss-only"])
def test_one_entry_off_by_1e_5_is_flagged(seed: int, with_grad: bool) -> None:
    for name, loss, grad, hess, x in _workloads(seed):
        H = np.asarray(hess(x))
        flat = H.reshape(x.size, x.size)
        # the largest entry of a random row (a tiny entry beside large ones is below any floor)
        i = seed % x.size
        j = int(np.argmax(np.abs(flat[i])))
        bad = flat.copy()
        bad[i, j] *= 1 + 1e-5
        r = check_hessian(loss, lambda v, bad=bad, H=H: bad.reshape(H.shape), x, grad=grad if with_grad else None)
        assert not r.ok, f"{name}: {r}"
        (block,) = r.blocks.values()
        hit = {e.index for e in block.mismatches}
        assert hit == {tuple(np.unravel_index(i, x.shape)) + tuple(np.unravel_index(j, x.shape))}, name


# -- kinks are reported, not flagged --------------------------------------------------------
def _relu_net(seed: int, distance: float) -> tuple[Callable, Callable, Callable, np.ndarray]:
    """softplus(v . relu(X w)) summed, with unit 0 at ``distance`` from its kink."""
    rng = np.random.default_rng(seed)
    X, v, w = rng.normal(size=(5, 3)), rng.normal(size=5), rng.normal(size=3)
    w[2] = (distance - X[0, :2] @ w[:2]) / X[0, 2]

    def loss(w: np.ndarray) -> float:
        return float(np.sum(np.logaddexp(0, v * np.maximum(X @ w, 0))))

    def grad(w: np.ndarray) -> np.ndarray:
        z = X @ w
        return X.T @ (v * (z > 0) / (1 + np.exp(-v * np.maximum(z, 0))))

    def hess(w: np.ndarray) -> np.ndarray:
        z = X @ w
        s = 1 / (1 + np.exp(-v * np.maximum(z, 0)))
        return X.T @ ((s * (1 - s) * v * v * (z > 0))[:, None] * X)

    return loss, grad, hess, w


@pytest.mark.parametrize("with_grad", [True, False], ids=["grad", "loss-only"])
def test_point_on_a_relu_kink_is_reported_not_flagged(with_grad: bool) -> None:
    for seed in range(3):
        loss, grad, hess, w = _relu_net(seed, 0.0)
        for claim in (hess, lambda u, hess=hess: 2 * hess(u)):  # whatever is claimed: no Hessian exists here
            r = check_hessian(loss, claim, w, grad=grad if with_grad else None)
            assert r.status != "mismatch", str(r)
            assert r.blocks[("params", "params")].n_kinks > 0
            assert any("Hessian does not exist at this point" in n for n in r.notes)


def test_near_a_kink_the_hessian_is_still_checked() -> None:
    loss, grad, hess, w = _relu_net(1, 1e-5)
    assert check_hessian(loss, hess, w, grad=grad).ok
    bad = hess(w)
    bad[0, 1] *= 1 + 1e-5
    assert check_hessian(loss, lambda u: bad, w, grad=grad).status == "mismatch"


def test_piecewise_linear_region_has_zero_hessian() -> None:
    rng = np.random.default_rng(2)
    X, v = rng.normal(size=(6, 3)), rng.normal(size=6)
    loss = lambda w: float(v @ np.maximum(X @ w, 0))
    w = rng.normal(size=3)
    assert np.min(np.abs(X @ w)) > 1e-2
    r = check_hessian(loss, lambda u: np.zeros((3, 3)), w)
    assert r.ok and any("identically zero" in n for n in r.notes)
    assert not check_hessian(loss, lambda u: np.eye(3) * 1e-3, w).ok


# -- Hessian-vector products -----------------------------------------------------------------
@pytest.mark.parametrize("with_grad", [True, False], ids=["grad", "loss-only"])
def test_hvp_correct_and_wrong(with_grad: bool) -> None:
    sm = Smooth(12, {"W": (3, 3), "c": (2,)})
    H = sm.matrix(sm.params)

    def hvp(p: Any, v: Any, transpose: bool = False, factor: float = 1.0) -> dict[str, np.ndarray]:
        v = dict(v, W=v["W"].T) if transpose else v
        hv = factor * H @ sm.flat(v)
        return {"W": hv[:9].reshape(3, 3), "c": hv[9:]}

    grad = sm.grad if with_grad else None
    r = check_hvp(sm.loss, hvp, sm.params, grad=grad, vectors=3)
    assert r.ok and len(r.vectors) == 3, str(r)
    half = check_hvp(sm.loss, lambda p, v: hvp(p, v, factor=0.5), sm.params, grad=grad)
    assert not half.ok and "missing factor 2" in half.diagnosis[0]
    t = check_hvp(sm.loss, lambda p, v: hvp(p, v, transpose=True), sm.params, grad=grad)
    assert not t.ok
    # only the non-symmetric draws can see V^T, and they name it
    assert any("used V^T for the square matrix parameter 'W'" in (v.diagnosis or "") for v in t.vectors), str(t)


def test_hvp_one_entry_off_by_1e_5() -> None:
    A, b, x = _ls(13)
    H = so.ls_hessian(x, A, b).reshape(4, 4)

    def hvp(p: np.ndarray, v: np.ndarray) -> np.ndarray:
        out = (H @ v.reshape(4)).reshape(4, 1)
        out[2] *= 1 + 1e-5
        return out

    for grad in (lambda v: so.ls_grad(v, A, b), None):
        r = check_hvp(lambda v: so.ls_loss(v, A, b), hvp, x, grad=grad)
        assert not r.ok and all(not v.ok for v in r.vectors if v.vector["params"][2, 0] != 0)


def test_hvp_at_a_kink_is_reported() -> None:
    loss, grad, hess, w = _relu_net(0, 0.0)
    for g in (grad, None):
        r = check_hvp(loss, lambda u, v: hess(u) @ v, w, grad=g)
        assert r.status != "mismatch" and all(v.n_kinks > 0 for v in r.vectors), str(r)


# -- Gauss-Newton matrices --------------------------------------------------------------------
def _softmax_gn(seed: int) -> tuple[Any, ...]:
    """Linear logits z = W x with cross-entropy: H_out = diag(p) - p p^T, J = I kron x^T."""
    rng = np.random.default_rng(seed)
    W, x = rng.normal(size=(3, 4)), rng.normal(size=4)
    residual = lambda V: V @ x
    jac = lambda V: np.eye(3)[:, :, None] * x[None, None, :]

    def out_hessian(z: np.ndarray) -> np.ndarray:
        p = np.exp(z - z.max()) / np.sum(np.exp(z - z.max()))
        return np.diag(p) - np.outer(p, p)

    def gn(V: np.ndarray) -> np.ndarray:
        J = jac(V).reshape(3, 12)
        return (J.T @ out_hessian(V @ x) @ J).reshape(3, 4, 3, 4)

    return W, residual, jac, out_hessian, gn


def test_check_gauss_newton() -> None:
    W, residual, jac, out_hessian, gn = _softmax_gn(14)
    out_loss = lambda z: float(np.log(np.sum(np.exp(z))) - z[1])
    r = check_gauss_newton(residual, jac, out_hessian, gn, W, out_loss=out_loss)
    assert r.ok and r.kind == "gauss_newton", str(r)
    J = jac(W).reshape(3, 12)
    no_hout = check_gauss_newton(residual, jac, out_hessian, lambda V: (J.T @ J).reshape(3, 4, 3, 4), W)
    assert not no_hout.ok
    wrong_jac = check_gauss_newton(residual, lambda V: 2 * jac(V), out_hessian, gn, W)
    assert wrong_jac.status == "jacobian_wrong" and "residual Jacobian" in str(wrong_jac)
    bad_hout = check_gauss_newton(residual, jac, lambda z: 2 * out_hessian(z), gn, W, out_loss=out_loss)
    # the Jacobian passed: out_hessian is named, not the Jacobian (it was "jacobian_wrong", above a passing check)
    assert bad_hout.status == "out_hessian_wrong" and "out_hessian is not the Hessian of out_loss" in str(bad_hout)
    assert bad_hout.first_order.ok and "residual Jacobian passed" in str(bad_hout).split("\n", 1)[0]
    assert "the out_hessian it is built on is wrong" in headline(bad_hout), headline(bad_hout)
    off = gn(W)
    off[0, 1, 0, 1] *= 1 + 1e-5
    assert not check_gauss_newton(residual, jac, out_hessian, lambda V: off, W).ok


def test_linear_logits_hessian_is_its_gauss_newton_matrix() -> None:
    # z = W x is linear, so the residual term vanishes and the GN matrix is the Hessian
    W, residual, _jac, _out_hessian, gn = _softmax_gn(15)
    loss = lambda V: float(np.log(np.sum(np.exp(residual(V)))) - residual(V)[0])
    assert check_hessian(loss, gn, W).ok


# -- results, messages, serialisation ----------------------------------------------------------
def test_assert_hessian_message_reads_like_assert_grad() -> None:
    sm = Smooth(16, {"W": (2, 2), "c": (3,)})
    H = sm.hess(sm.params)
    H[("c", "c")] = H[("c", "c")] * 1.001
    with pytest.raises(GradientMismatch) as info:
        assert_hessian(sm.loss, lambda p: H, sm.params, name="smooth", grad=sm.grad)
    msg = str(info.value)
    headline, details = msg.split("\n", 1)
    assert "('c', 'c')" in headline  # the one-line headline names the wrong block
    assert details.startswith("check_hessian of smooth: 1 of 4 blocks wrong (Jacobian of the gradient")
    assert "tolerance: 10 x per-entry error estimate + the gradient's measured rounding" in msg
    assert "block ('c', 'c') (3, 3): 9 of 9 entries mismatch" in msg
    assert "looks like: only this block is wrong: off by a factor 1.001" in msg
    assert "index" in msg and "claimed" in msg and "numeric" in msg
    assert info.value.result.status == "mismatch"
    assert assert_hessian(sm.loss, sm.hess, sm.params).ok


def test_assert_hvp_raises() -> None:
    A, b, x = _ls(17)
    with pytest.raises(GradientMismatch, match="check_hvp of .*wrong along"):
        assert_hvp(lambda v: so.ls_loss(v, A, b), lambda p, v: A.T @ A @ v, x)


def test_results_are_frozen_and_json_serialisable() -> None:
    sm = Smooth(18, {"W": (2, 2), "c": (3,)})
    H = sm.hess(sm.params)
    H[("W", "c")] = 0 * H[("W", "c")]
    r = check_hessian(sm.loss, lambda p: H, sm.params)
    d = json.loads(json.dumps(r.to_dict(arrays=True)))
    assert d["status"] == "mismatch" and len(d["blocks"]) == 4
    assert json.loads(r.to_json())["ok"] is False
    h = check_hvp(sm.loss, lambda p, v: sm.grad(v), sm.params)
    assert json.loads(h.to_json())["kind"] == "hvp"
    with pytest.raises(AttributeError):
        r.ok = True  # type: ignore[misc]
    with pytest.raises(TypeError):
        bool(r)


# -- bad input: named errors, arrays never modified ----------------------------------------------
A0, B0, X0 = _ls(19)
LOSS = lambda v: so.ls_loss(v, A0, B0)
HESS = lambda v: so.ls_hessian(v, A0, B0)
SM = Smooth(20, {"W": (2, 2), "c": (3,)})


def _drop(blocks: dict, key: tuple[str, str]) -> dict:
    return {k: v for k, v in blocks.items() if k != key}


BAD_CALLS = [
    ("non-callable hess", lambda: check_hessian(LOSS, np.eye(4), X0), InvalidArgumentError, "hess="),
    ("non-callable loss", lambda: check_hessian(None, HESS, X0), InvalidArgumentError, "loss="),
    ("non-callable grad", lambda: check_hessian(LOSS, HESS, X0, grad=3), InvalidArgumentError, "grad="),
    ("wrong hessian shape", lambda: check_hessian(LOSS, lambda v: np.eye(3), X0), ShapeMismatchError, "(4, 1, 4, 1)"),
    ("mapping for one array", lambda: check_hessian(LOSS, lambda v: {("x", "x"): HESS(v)}, X0),
     GradientStructureError, "single array"),
    ("missing block", lambda: check_hessian(SM.loss, lambda p: _drop(SM.hess(p), ("c", "W")), SM.params),
     GradientStructureError, "missing block(s) [('c', 'W')]"),
    ("unknown key", lambda: check_hessian(SM.loss, lambda p: {**SM.hess(p), ("W", "z"): 0}, SM.params),
     GradientStructureError, "unknown key(s)"),
    ("block of the mirror's shape", lambda: check_hessian(
        SM.loss, lambda p: {**SM.hess(p), ("W", "c"): SM.hess(p)[("c", "W")]}, SM.params),
     ShapeMismatchError, "transposed block?"),
    ("non-finite entry", lambda: check_hessian(LOSS, lambda v: HESS(v) * np.nan, X0), NonFiniteError, "index"),
    ("non-scalar loss", lambda: check_hessian(lambda v: v, HESS, X0), NonScalarLossError, "real scalar"),
    ("raising hess", lambda: check_hessian(LOSS, lambda v: 1 / 0, X0), LossRaisedError, "ZeroDivisionError"),
    ("mutating hess", lambda: check_hessian(LOSS, lambda v: (v.fill(0), HESS(v))[1], X0),
     MutatingFunctionError, "modified its input"),
    ("bad safety", lambda: check_hessian(LOSS, HESS, X0, safety=0.5), InvalidArgumentError, "safety="),
    ("bad step", lambda: check_hessian(LOSS, HESS, X0, step=2.0), InvalidArgumentError, "step="),
    ("gauss_newton not parts", lambda: check_hessian(LOSS, HESS, X0, gauss_newton=(1, 2)),
     InvalidArgumentError, "gauss_newton="),
    ("zero vectors", lambda: check_hvp(LOSS, lambda p, v: v, X0, vectors=0), InvalidArgumentError, "vectors="),
    ("hvp of wrong shape", lambda: check_hvp(LOSS, lambda p, v: v.ravel()[:3], X0), ShapeMismatchError,
     "Hessian-vector product"),
    ("given vector of wrong shape", lambda: check_hvp(LOSS, lambda p, v: v, X0, vectors=[np.ones(3)]),
     ShapeMismatchError, "vectors[0]"),
    ("non-callable gn", lambda: check_gauss_newton(lambda v: v, lambda v: v, np.eye(2), "gn", X0),
     InvalidArgumentError, "gn="),
]


@pytest.mark.parametrize("call, error, text", [pytest.param(c, e, t, id=i) for i, c, e, t in BAD_CALLS])
def test_bad_input_raises_named_errors(call: Callable[[], Any], error: type, text: str) -> None:
    with pytest.raises(error) as info:
        call()
    assert text in str(info.value)


def test_callers_arrays_are_never_modified() -> None:
    sm = Smooth(21, {"W": (2, 2), "c": (3,)})
    before = {k: v.copy() for k, v in sm.params.items()}

    def rude_loss(p: dict) -> float:
        value = sm.loss(p)
        return value

    check_hessian(rude_loss, sm.hess, sm.params, grad=sm.grad)
    check_hessian(rude_loss, sm.hess, sm.params)
    check_hvp(rude_loss, lambda p, v: sm.grad(v), sm.params, grad=sm.grad)
    for k, v in before.items():
        np.testing.assert_array_equal(sm.params[k], v)
    with pytest.raises(MutatingFunctionError):
        check_hessian(lambda p: (p["W"].fill(1.0), sm.loss(p))[1], sm.hess, sm.params)
    for k, v in before.items():
        np.testing.assert_array_equal(sm.params[k], v)


# -- property: mutants of Hessians are flagged, correct ones never --------------------------------
MUTANTS = ("none", "transpose_block", "double", "asymmetric", "one_block")


def _mutate(sm: Smooth, H: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray | None:
    """The mutant's flat matrix, or None when it would not change the Hessian."""
    C = H.copy()
    w, c = slice(0, 4), slice(4, 8)
    if kind == "transpose_block":  # transpose of a non-symmetric part: block (W, c) in place
        if np.allclose(H[w, c], H[w, c].T, rtol=1e-3):
            return None
        C[w, c] = H[w, c].T
    elif kind == "double":  # a missing 1/2
        C = 2 * H
    elif kind == "asymmetric":  # a missing symmetrization: only the symmetric part is right
        K = rng.normal(size=H.shape)
        C = H + (K - K.T) * 0.1 * np.abs(H).max()
    elif kind == "one_block":  # one block wrong by a relative 1e-4 (both it and its mirror)
        C[c, c] = H[c, c] * (1 + 1e-4)
    return C


@settings(max_examples=16, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), kind=st.sampled_from(MUTANTS), with_grad=st.booleans(),
       scale=st.sampled_from([0.1, 1.0, 10.0]))
def test_property_hessian_mutants_flagged_and_correct_never(seed: int, kind: str, with_grad: bool,
                                                            scale: float) -> None:
    sm = Smooth(seed, {"W": (2, 2), "c": (4,)})
    sm.params = {k: v * scale for k, v in sm.params.items()}
    H = sm.matrix(sm.params)
    C = _mutate(sm, H, kind, np.random.default_rng(seed))
    if C is None:
        return
    r = check_hessian(sm.loss, lambda p: sm.blocks(C), sm.params, grad=sm.grad if with_grad else None)
    if kind == "none":
        assert r.ok, str(r)
    else:
        assert r.status == "mismatch", str(r)
        if kind == "asymmetric":
            assert "not symmetrized" in r.diagnosis[0]
        if kind == "double":
            assert "missing 1/2" in r.diagnosis[0]


def test_hvp_along_given_vectors() -> None:
    sm = Smooth(22, {"W": (2, 2), "c": (3,)})
    H = sm.matrix(sm.params)

    def hvp(p: Any, v: Any) -> dict[str, np.ndarray]:
        hv = H @ sm.flat(v)
        return {"W": hv[:4].reshape(2, 2), "c": hv[4:]}

    vs = [{"W": np.eye(2), "c": np.zeros(3)}, {"W": np.zeros((2, 2)), "c": np.arange(3.0)}]
    r = check_hvp(sm.loss, hvp, sm.params, vectors=vs, grad=sm.grad)
    assert r.ok and [v.label for v in r.vectors] == ["vectors[0]", "vectors[1]"]
    wrong = check_hvp(sm.loss, lambda p, v: {k: x * 1.0001 for k, x in hvp(p, v).items()}, sm.params, vectors=vs)
    assert not wrong.ok and all("1.0001" in (v.diagnosis or "") for v in wrong.vectors)


@pytest.mark.parametrize("with_grad", [True, False], ids=["grad", "loss-only"])
def test_no_false_alarm_at_any_distance_from_a_kink(with_grad: bool) -> None:
    # a kink crossed by the wider stencils must never pass for a clean (and wrong) estimate
    for seed in range(3):
        for distance in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-9):
            loss, grad, hess, w = _relu_net(seed, distance)
            r = check_hessian(loss, hess, w, grad=grad if with_grad else None)
            assert r.status != "mismatch", f"seed={seed} distance={distance}\n{r}"


# -- second differences near kinks: a kink inside the stencil is reported, never a FAIL ----------
def _kink_case(model: str, seed: int, distance: float) -> Any:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from second_order_kinks import Case

    return Case(model, seed, distance)


# the cases that FAILed before the stencil's own points were searched for kinks (and the noise probe
# ran backwards past one, and a confirmed estimate kept a bar below its gap to the confirming look)
_KINK_FAILS = [
    ("relu_se", 1, 1e-6), ("relu_se", 0, 1e-7), ("relu_se", 2, 0.0), ("relu_ce", 1, 1e-6), ("relu_ce", 0, 0.0),
    ("relu_sq", 2, 1e-5), ("relu_sq", 0, 1e-8), ("huber", 0, 1e-7), ("huber", 1, 0.0),
]


@pytest.mark.parametrize(("model", "seed", "distance"), _KINK_FAILS)
def test_correct_piecewise_hessian_near_a_kink_is_never_failed(model: str, seed: int, distance: float) -> None:
    c = _kink_case(model, seed, distance)
    r = check_hessian(c.loss, c.claim(c.exact), c.params)
    assert r.status != "mismatch", str(r)
    assert not r.diagnosis and all(b.diagnosis is None for b in r.blocks.values()), str(r)
    assert sum(b.n_kinks for b in r.blocks.values()) > 0  # the kink is found and reported
    assert any("straddle a kink inside the second-difference stencil" in n for n in r.notes), r.notes


@pytest.mark.parametrize(("model", "seed", "distance"), [*_KINK_FAILS, ("relu_se", 0, 1e-8), ("relu_sq", 1, 1e-8)])
def test_correct_piecewise_hvp_near_a_kink_is_never_failed(model: str, seed: int, distance: float) -> None:
    c = _kink_case(model, seed, distance)
    r = check_hvp(c.loss, c.hvp(c.exact), c.params)
    assert r.status != "mismatch", str(r)


def test_one_sided_second_differences_are_set_beside_the_claim() -> None:
    # Huber at |r| = 1 + 1e-7 inside: the claim is the inside curvature, the left side's
    c = _kink_case("huber", 1, 1e-7)
    r = check_hessian(c.loss, c.claim(c.exact), c.params)
    (note,) = [n for n in r.notes if "one-sided second differences" in n]
    assert "matches the" in note and "claimed" in note


def test_slips_are_still_caught_beside_a_kink() -> None:
    for distance in (1e-5, 1e-8):
        c = _kink_case("relu_se", 0, distance)
        for name, H in c.slips().items():
            if name != "one entry 1e-3":  # that one may sit on a kink's row: not judged there
                r = check_hessian(c.loss, c.claim(H), c.params)
                assert r.status == "mismatch", f"{name} at {distance}\n{r}"


def test_noise_probe_is_not_the_kink_it_crosses() -> None:
    # a ReLU unit 1e-6 from its kink crossed by the probe's ray read as noise 1e6x the loss's
    from gradcheck.checks.second._fd import FlatLoss, measure_noise
    from gradcheck.core._params import ParamSet

    c = _kink_case("relu_ce", 1, 1e-6)
    ps = ParamSet(c.params, single_name="params")
    f = FlatLoss(c.loss, ps, "loss")
    f0 = f(f.x0)
    assert measure_noise(f, f0, np.random.default_rng(0), ps.eps) < 1e-13 * abs(f0)


def test_hvp_of_a_piecewise_linear_loss_with_a_zero_block_passes_like_the_hessian() -> None:
    # the zero part's own scale is rounding, so no bar was ever 1e-4 of it: inconclusive at every point
    rng = np.random.default_rng(2)
    X, v = rng.normal(size=(6, 3)), rng.normal(size=6)
    loss = lambda p: float(v @ np.maximum(X @ p["a"], 0) + 0.5 * np.sum(p["b"] ** 2))
    zero3 = np.zeros(3)
    hess = {("a", "a"): np.zeros((3, 3)), ("a", "b"): np.zeros((3, 2)), ("b", "a"): np.zeros((2, 3)),
            ("b", "b"): np.eye(2)}
    for seed in range(3):
        p = {"a": rng.normal(size=3), "b": rng.normal(size=2)}
        assert np.min(np.abs(X @ p["a"])) > 1e-2
        assert check_hessian(loss, lambda q: hess, p).ok
        r = check_hvp(loss, lambda q, d: {"a": zero3.copy(), "b": d["b"].copy()}, p, seed=seed)
        assert r.ok, str(r)
        # and a slip in the zero block is still caught there
        slip = check_hvp(loss, lambda q, d: {"a": 1e-3 * d["a"], "b": d["b"].copy()}, p, seed=seed)
        assert slip.status == "mismatch", str(slip)
    w = rng.normal(size=3)
    r = check_hvp(lambda u: float(v @ np.maximum(X @ u, 0)), lambda u, d: np.zeros(3), w)
    assert r.ok and any("zero along every vector" in n for n in r.notes), str(r)


@pytest.mark.parametrize("with_grad", [True, False], ids=["grad", "loss-only"])
def test_hvp_headline_names_both_parts_when_both_cross_blocks_are_wrong(with_grad: bool) -> None:
    rng = np.random.default_rng(3)
    A = rng.normal(size=(5, 5))
    H = A @ A.T + np.eye(5)
    p = {"a": rng.normal(size=3), "b": rng.normal(size=2)}
    flat = lambda q: np.concatenate([q["a"], q["b"]])
    loss = lambda q: float(0.5 * flat(q) @ H @ flat(q) + np.sum(np.cos(flat(q))))
    grad = lambda q: (lambda g: {"a": g[:3], "b": g[3:]})(H @ flat(q) - np.sin(flat(q)))

    def hvp(q: Any, d: Any) -> dict[str, np.ndarray]:
        Hx = H - np.diag(np.cos(flat(q)))
        Hx[:3, 3:] *= 1.5  # both cross blocks wrong
        Hx[3:, :3] *= 1.5
        out = Hx @ flat(d)
        return {"a": out[:3], "b": out[3:]}

    r = check_hvp(loss, hvp, p, grad=grad if with_grad else None, vectors=4)
    head = headline(r)
    assert r.status == "mismatch" and "'a' and 'b'" in head and "only" not in head, head
    assert "('b', 'a')" in r.diagnosis[0]  # the vector moving only 'a' pins that block
