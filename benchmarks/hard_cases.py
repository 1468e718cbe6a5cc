"""Hard-but-correct gradients, checked as a user would check them: how many settle as pass.

Every case is a (loss, correct hand gradient, params) triple written in plain numpy the way users
write it, at a point that makes finite differences hard: a loss near 1e8 with gradients near 1,
saturated sigmoids (|z| ~ 20), ReLU and hinge units 1e-7..1e-4 from their kinks, inputs of scale 1e4,
badly scaled Kronecker factors, float32 losses computed in float32, inverses and solves at condition
1e6, a near-degenerate ``eigh``, ``abs``/``clip``/``maximum`` within 1e-7 of their kinks, softmax
cross-entropy with large logits, ``log1p``/``expm1``. Half the cases are float32 or near a kink.

Each case also has two slipped twins: one median-magnitude entry times (1 + 1e-8) (float64 only: float32
cannot hold that change) and times (1 + 1e-6) (float64) or (1 + 1e-3) (float32).

Printed per family and overall, for the default ``check_grad`` (and with ``--methods`` the other
``method=``/``oracle=`` values the installed package accepts, found by trying): pass / inconclusive /
FAIL on the correct cases, the slips flagged, the check's time, and every correct case not settled as
pass with its reason. ``--verify`` checks each hand gradient against an independent high-precision
derivative (``np.longdouble`` differences of the same code, or mpmath at 40 digits for the linear
algebra) and prints the worst relative error, so the set can be trusted.

    PYTHONPATH=. python benchmarks/hard_cases.py                      # the default check
    PYTHONPATH=. python benchmarks/hard_cases.py --methods auto,both  # beside method='auto', oracle='both'
    PYTHONPATH=. python benchmarks/hard_cases.py --methods all --json before.json
    PYTHONPATH=. python benchmarks/hard_cases.py --verify

Where it started (71 cases, seed 0, on the merge 5d58316): the default settles 20 as pass (28%), 49
inconclusive (69%), 2 FAIL (cross-entropy with log(1 - s) at saturated s); flags 27/71 slips of 1e-6 or
1e-3 and 13/52 of 1e-8; 0.02-0.05 s median per correct case, 2-4 s in all (on 2 shared cores).
``method="auto"``: 29 pass, 37 inconclusive, 5 FAIL. ``oracle="both"``: 20 pass, 47 inconclusive, 4 FAIL.

With the witnesses beyond differences (``oracle="auto"``, the default since issue 25), on an idle machine:
5db79d6 (before them) 20 pass / 51 inconclusive / 0 FAIL, slips 26/71 and 11/52, 1.55 s for the 71 correct
cases (median 0.017 s); f223c6b (the witness ladder) 67 / 4 (the near-degenerate ``eigh`` cases) / 0, slips
62/71 and 28/52; with eigenvalues in the exact witness and the thin-margin rule, 71 / 0 / 0, slips 64/71 and
30/52, every one the stated tolerance resolves, 1.73 s (median 0.014 s).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gradcheck  # noqa: E402

F64, F32, LD = np.float64, np.float32, np.longdouble


@dataclass
class Case:
    """One hard-but-correct gradient. ``make(dt)`` builds (loss, grad) computing in ``dt`` (the user's
    float64/float32, or longdouble for verification: the same code, so the check is of the derivation);
    ``mp_loss`` replaces it for linear algebra numpy cannot do in longdouble."""

    name: str
    family: str
    params: Any
    make: Callable[[Any], tuple[Callable, Callable]]
    float32: bool = False
    near_kink: bool = False
    kwargs: dict[str, Any] = field(default_factory=dict)  # check_grad options the user would pass
    vstep: float = 1e-3  # verification step, relative to max(|x_i|, 0.1 x rms of its parameter)
    vabs: bool = False  # vstep is absolute: set below every kink's distance
    mp_loss: Callable[[dict[str, np.ndarray]], Any] | None = None

    @property
    def dtype(self) -> Any:
        return F32 if self.float32 else F64

    @property
    def loss(self) -> Callable:
        return self._built()[0]

    @property
    def grad(self) -> Callable:
        return self._built()[1]

    def _built(self) -> tuple[Callable, Callable]:
        if not hasattr(self, "_fns"):
            self._fns = self.make(self.dtype)
        return self._fns


def _d(dt: Any, *arrays: np.ndarray) -> list[np.ndarray]:
    """Data as the case's precision holds it, then widened for verification: float32 cases' data
    are float32 values, so longdouble evaluates the same function."""
    return [np.asarray(a).astype(dt) for a in arrays]


def _f(a: np.ndarray, f32: bool) -> np.ndarray:
    return np.asarray(a, dtype=F32 if f32 else F64)


def _loguniform(rng: np.random.Generator, lo: float, hi: float, size: int) -> np.ndarray:
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size)) * rng.choice([-1.0, 1.0], size)


# ----------------------------------------------------------------------------- loss ~1e8, gradient ~1
def _big_loss(rng: np.random.Generator, k: int) -> Case:
    """Least squares whose residual has a 1e4 part orthogonal to the model's range: the loss is 1e8,
    the gradient O(1). Variants: array, dict with intercept, a constant offset, split blocks."""
    m, n = 8, 3
    X = rng.normal(size=(m, n))
    design = np.column_stack([X, np.ones(m)])
    q, _ = np.linalg.qr(np.column_stack([design, rng.normal(size=m)]))
    ortho = q[:, -1]  # orthogonal to every column of the design
    w0, w = rng.normal(size=n), rng.normal(size=n)
    y = X @ w0 + 0.7 + 1e4 * ortho

    if k == 0:
        def make(dt):
            A, b = _d(dt, X, y)
            return (lambda x: np.sum((A @ x - b) ** 2)), (lambda x: 2 * A.T @ (A @ x - b))
        return Case("lsq_orthogonal", "big_loss", w, make, vstep=0.1)
    if k == 1:
        def make(dt):
            A, b = _d(dt, X, y)

            def loss(p):
                return np.sum((A @ p["w"] + p["c"] - b) ** 2)

            def grad(p):
                r = A @ p["w"] + p["c"] - b
                return {"w": 2 * A.T @ r, "c": np.array([2 * r.sum()])}
            return loss, grad
        return Case("lsq_intercept_dict", "big_loss", {"w": w, "c": np.array([0.3])}, make, vstep=0.1)
    if k == 2:
        def make(dt):
            A, b = _d(dt, X, X @ w0)
            return (lambda x: 1e8 + 0.5 * np.sum((A @ x - b) ** 2)), (lambda x: A.T @ (A @ x - b))
        return Case("offset_1e8", "big_loss", w, make, vstep=0.1)
    if k == 3:
        def make(dt):
            A, b = _d(dt, X, y)

            def loss(p):
                return np.mean((A[:, :2] @ p["u"] + A[:, 2] * p["v"] - b) ** 2) * m

            def grad(p):
                r = A[:, :2] @ p["u"] + A[:, 2] * p["v"] - b
                return {"u": 2 * A[:, :2].T @ r, "v": 2 * A[:, 2:].T @ r}
            return loss, grad
        return Case("lsq_blocks_mean", "big_loss", {"u": w[:2], "v": w[2:]}, make, vstep=0.1)

    def make(dt):  # Gaussian NLL with a huge fixed precision term, gradient O(1)
        A, b, P = _d(dt, X, y, np.eye(m))

        def loss(x):
            r = A @ x - b
            return 0.5 * r @ P @ r

        def grad(x):
            return A.T @ (P @ (A @ x - b))
        return loss, grad
    return Case("nll_quadratic_form", "big_loss", w, make, vstep=0.1)


# ----------------------------------------------------------------------------- saturated sigmoid
def _sigmoid_fn(form: str, dt: Any) -> Callable:
    if form == "asarray":
        def sigmoid(z):
            z = np.asarray(z, dtype=dt)  # the common start of a "safe" sigmoid
            return 1.0 / (1.0 + np.exp(-z))
    elif form == "where":
        def sigmoid(z):
            with np.errstate(over="ignore"):
                return np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))
    else:
        def sigmoid(z):
            return 0.5 * (1 + np.tanh(0.5 * z))
    return sigmoid


def _sigmoid(rng: np.random.Generator, form: str, kind: str, f32: bool) -> Case:
    """A sigmoid layer with three of four units saturated (|z| ~ 20): their derivatives are ~1e-9
    beside ~0.1 of the live unit. ``kind`` 'mse' (squared error), 'bce' (cross-entropy written
    with log(s), log(1 - s), as users do) or 'logits' (cross-entropy by logaddexp)."""
    X = rng.normal(size=(6, 3)) * 0.3
    W = rng.normal(size=(3, 4)) * 0.2
    b = np.array([20.0, -20.0, 0.3, 21.0]) * rng.choice([-1, 1], 4)
    b[2] = 0.3
    Y = (rng.uniform(size=(6, 4)) < 0.5).astype(float)

    def make(dt):
        A, T = _d(dt, _f(X, f32), _f(Y, f32))
        sigmoid = _sigmoid_fn(form, dt)

        def loss(p):
            s = sigmoid(A @ p["W"] + p["b"])
            if kind == "mse":
                return 0.5 * np.sum((s - T) ** 2)
            if kind == "logits":  # float32 users' cross-entropy: log(1 - s) is log(0) once s rounds to 1
                z = A @ p["W"] + p["b"]
                return np.sum(np.logaddexp(0, z) - T * z)
            return -np.sum(T * np.log(s) + (1 - T) * np.log(1 - s))

        def grad(p):
            s = sigmoid(A @ p["W"] + p["b"])
            dz = (s - T) * s * (1 - s) if kind == "mse" else s - T  # both cross-entropies: s - T
            return {"W": A.T @ dz, "b": dz.sum(axis=0)}
        return loss, grad
    def mp_loss(p):
        # written apart from the numpy code, in mpmath: cross-entropy's log(1 - s) at s = 1 - 1e-9
        # keeps only 9 of longdouble's 19 digits, too few for differences
        import mpmath
        A, T = _f(X, f32).astype(F64), _f(Y, f32).astype(F64)
        Z = A @ p["W"] + p["b"]
        total = mpmath.mpf(0)
        for i in np.ndindex(Z.shape):
            s = 1 / (1 + mpmath.exp(-Z[i]))
            if kind == "mse":
                total += (s - T[i]) ** 2 / 2
            elif kind == "logits":
                total += mpmath.log(1 + mpmath.exp(Z[i])) - T[i] * Z[i]
            else:
                total += -(T[i] * mpmath.log(s) + (1 - T[i]) * mpmath.log(1 - s))
        return total
    tag = "f32" if f32 else "f64"
    return Case(f"sigmoid_{form}_{kind}_{tag}", "sigmoid_saturated", {"W": _f(W, f32), "b": _f(b, f32)}, make,
                float32=f32, vstep=1e-12, mp_loss=mp_loss)


# ----------------------------------------------------------------------------- ReLU near kinks
def _relu_fn(form: str) -> tuple[Callable, Callable]:
    if form == "maximum":
        return (lambda z: np.maximum(z, 0)), (lambda z: (z > 0).astype(z.dtype))
    if form == "mask":
        return (lambda z: z * (z > 0)), (lambda z: z > 0)
    return (lambda z: np.where(z > 0, z, 0)), (lambda z: np.where(z > 0, np.ones_like(z), 0))


def _relu_net(rng: np.random.Generator, form: str, f32: bool, lo: float, hi: float) -> Case:
    """A ReLU net, 3 -> 4 -> 1, squared error, with one pre-activation per unit placed lo..hi from 0
    (either side). float32 cases use 1e-5..1e-4: nearer, float32's own rounding of z (~1e-7) could put
    the computed z on the other side of the kink from the exact one."""
    X = _f(rng.normal(size=(5, 3)), f32).astype(F64)
    W1 = _f(rng.normal(size=(3, 4)), f32).astype(F64)
    z0 = X @ W1
    d = _loguniform(rng, lo, hi, 4)
    rows = rng.permutation(5)[:4]
    b1 = d - z0[rows, np.arange(4)]
    w2, y = rng.normal(size=4), rng.normal(size=5)
    relu, step = _relu_fn(form)

    def make(dt):
        A, t = _d(dt, _f(X, f32), _f(y, f32))

        def loss(p):
            h = relu(A @ p["W1"] + p["b1"])
            return 0.5 * np.sum((h @ p["w2"] - t) ** 2)

        def grad(p):
            z = A @ p["W1"] + p["b1"]
            h = relu(z)
            r = h @ p["w2"] - t
            dz = np.outer(r, p["w2"]) * step(z)
            return {"W1": A.T @ dz, "b1": dz.sum(axis=0), "w2": h.T @ r}
        return loss, grad
    params = {"W1": _f(W1, f32), "b1": _f(b1, f32), "w2": _f(w2, f32)}
    vstep = 0.02 * lo / (1 + np.abs(X).sum(axis=1).max())  # moves every pre-activation by < lo / 50
    tag = "f32" if f32 else "f64"
    return Case(f"relu_{form}_{lo:.0e}_{tag}", "relu_kink", params, make, float32=f32, near_kink=True, vstep=vstep,
                vabs=True)


def _hinge(rng: np.random.Generator, k: int) -> Case:
    """A linear SVM's hinge loss with margins 1e-7..1e-5 from 1 (either side), array parameter."""
    X = rng.normal(size=(6, 3))
    w = rng.normal(size=3)
    y = np.sign(rng.normal(size=6))
    # shift the labels' scale so y_i x_i.w = 1 +- d for every sample: margins at the kink
    d = _loguniform(rng, 1e-7, 1e-5, 6)
    scale = (1 + d) / (y * (X @ w))
    Xs = X * scale[:, None]
    lam = 0.1 * k

    def make(dt):
        A, t = _d(dt, Xs, y)

        def loss(v):
            return np.sum(np.maximum(0, 1 - t * (A @ v))) + 0.5 * lam * v @ v

        def grad(v):
            active = (1 - t * (A @ v)) > 0
            return -A.T @ (t * active) + lam * v
        return loss, grad
    vstep = 0.02 * 1e-7 / (1 + np.abs(Xs).sum(axis=1).max())
    return Case(f"hinge_{k}", "relu_kink", w, make, near_kink=True, vstep=vstep, vabs=True)


# ----------------------------------------------------------------------------- inputs of scale 1e4
def _scale(rng: np.random.Generator, k: int, f32: bool) -> Case:
    tag = "f32" if f32 else "f64"
    if k == 0:  # logistic regression on raw features of size 1e4, weights 1e-4
        X = _f(rng.normal(size=(8, 3)) * 1e4, f32)
        y = (rng.uniform(size=8) < 0.5).astype(float)
        w = _f(rng.normal(size=3) * 1e-4, f32)

        def make(dt):
            A, t = _d(dt, X, _f(y, f32))

            def loss(p):
                z = A @ p["w"] + p["c"]
                return np.sum(np.logaddexp(0, z) - t * z)

            def grad(p):
                r = 1 / (1 + np.exp(-(A @ p["w"] + p["c"]))) - t
                return {"w": A.T @ r, "c": np.array([r.sum()], dtype=r.dtype)}
            return loss, grad
        return Case(f"logistic_x1e4_{tag}", "scale_1e4", {"w": w, "c": _f(np.array([0.2]), f32)}, make,
                    float32=f32)
    if k == 1:  # Cauchy negative log-likelihood of positions near 1e4
        mu = rng.normal(size=5) * 1e4
        x = _f(mu + 100 * rng.normal(size=5), f32)

        def make(dt):
            m, s = _d(dt, _f(mu, f32), _f(np.array(150.0), f32))

            def loss(v):
                return np.sum(np.log1p(((v - m) / s) ** 2))

            def grad(v):
                u = (v - m) / s
                return 2 * u / (s * (1 + u**2))
            return loss, grad
        return Case(f"cauchy_positions_1e4_{tag}", "scale_1e4", x, make, float32=f32, vstep=1e-4)
    if k == 2:  # least squares with a 1e4 column beside an O(1) one
        X = rng.normal(size=(7, 2)) * np.array([1e4, 1.0])
        w = rng.normal(size=2) * np.array([1e-4, 1.0])
        y = rng.normal(size=7)

        def make(dt):
            A, b = _d(dt, X, y)
            return (lambda v: 0.5 * np.sum((A @ v - b) ** 2)), (lambda v: A.T @ (A @ v - b))
        return Case("lsq_mixed_columns_1e4", "scale_1e4", w, make)
    # softplus regression, dict: inputs of scale 1e4 and a bias
    X = rng.normal(size=(6, 2)) * 1e4
    y = rng.normal(size=6)

    def make(dt):
        A, t = _d(dt, X, y)

        def loss(p):
            return 0.5 * np.sum((np.log1p(np.exp(A @ p["w"] + p["b"])) - t) ** 2)

        def grad(p):
            z = A @ p["w"] + p["b"]
            r = np.log1p(np.exp(z)) - t
            dz = r / (1 + np.exp(-z))
            return {"w": A.T @ dz, "b": dz.sum(keepdims=True)}
        return loss, grad
    return Case("softplus_x1e4", "scale_1e4", {"w": rng.normal(size=2) * 1e-4, "b": np.array([0.1])}, make)


# ----------------------------------------------------------------------------- Kronecker factors
def _kron(rng: np.random.Generator, k: int, f32: bool) -> Case:
    """K = kron(A, B), A ~ 1e-3, B ~ 1e3: dL/dA ~ 1e3 beside dL/dB ~ 1e-3. dL/dA[i, j] sums the
    (i, j) block of dL/dK against B; dL/dB[k, l] sums every block's (k, l) entry against A."""
    A = _f(rng.normal(size=(2, 2)) * 1e-3, f32)
    B = _f(rng.normal(size=(3, 2)) * 1e3, f32)
    v, y = _f(rng.normal(size=4), f32), _f(rng.normal(size=6), f32)
    T = _f(rng.normal(size=(6, 4)), f32)

    def factors(G, a, b):
        G4 = G.reshape(a.shape[0], b.shape[0], a.shape[1], b.shape[1])
        return np.einsum("ikjl,kl->ij", G4, b), np.einsum("ikjl,ij->kl", G4, a)

    def make(dt):
        yy, TT = _d(dt, y, T)

        def loss(p):
            K = np.kron(p["A"], p["B"])
            vv = p.get("v", v.astype(dt))
            if k == 2:
                return np.sum(np.tanh(K @ vv) * yy)
            if k == 3:
                return 0.5 * np.sum((K - TT) ** 2)
            return 0.5 * np.sum((K @ vv - yy) ** 2)

        def grad(p):
            K = np.kron(p["A"], p["B"])
            vv = p.get("v", v.astype(dt))
            if k == 2:
                dout = yy * (1 - np.tanh(K @ vv) ** 2)
            elif k != 3:
                dout = K @ vv - yy
            G = K - TT if k == 3 else np.outer(dout, vv)
            gA, gB = factors(G, p["A"], p["B"])
            out = {"A": gA, "B": gB}
            if "v" in p:
                out["v"] = K.T @ dout
            return out
        return loss, grad
    params = {"A": A, "B": B} | ({"v": v} if k == 1 else {})
    tag = "f32" if f32 else "f64"
    return Case(f"kron_{['lsq', 'lsq_v', 'tanh', 'nearest'][k]}_{tag}", "kron_scaled", params, make, float32=f32)


# ----------------------------------------------------------------------------- inverses at cond 1e6
def _ill(rng: np.random.Generator, n: int, spd: bool = False) -> np.ndarray:
    U, _ = np.linalg.qr(rng.normal(size=(n, n)))
    V = U if spd else np.linalg.qr(rng.normal(size=(n, n)))[0]
    return U @ np.diag(np.logspace(0, -6, n)) @ V.T


def _mp(a: np.ndarray) -> Any:
    import mpmath
    a = np.atleast_2d(a) if a.ndim else a.reshape(1, 1)
    return mpmath.matrix([[a[i, j] for j in range(a.shape[1])] for i in range(a.shape[0])])


def _linalg(rng: np.random.Generator, k: int) -> Case:
    import mpmath
    n = 4
    if k == 0:  # c^T inv(A) d
        A, c, d = _ill(rng, n), rng.normal(size=n), rng.normal(size=n)

        def make(dt):
            return (lambda M: c @ np.linalg.inv(M) @ d), \
                   (lambda M: -np.outer(np.linalg.inv(M).T @ c, np.linalg.inv(M) @ d))

        def mp_loss(p):
            return (_mp(c) * mpmath.inverse(_mp(p["params"])) * _mp(d).T)[0]
        return Case("inv_bilinear_cond1e6", "linalg_cond1e6", A, make, vstep=1e-12, mp_loss=mp_loss)
    if k == 1:  # ||solve(A, b)||^2 in A and b
        A, b = _ill(rng, n), rng.normal(size=n)

        def make(dt):
            def loss(p):
                return np.sum(np.linalg.solve(p["A"], p["b"]) ** 2)

            def grad(p):
                x = np.linalg.solve(p["A"], p["b"])
                lam = np.linalg.solve(p["A"].T, 2 * x)
                return {"A": -np.outer(lam, x), "b": lam}
            return loss, grad

        def mp_loss(p):
            x = mpmath.lu_solve(_mp(p["A"]), _mp(p["b"]).T)
            return sum(x[i] ** 2 for i in range(n))
        return Case("solve_norm_cond1e6", "linalg_cond1e6", {"A": A, "b": b}, make, vstep=1e-12, mp_loss=mp_loss)
    if k == 2:  # trace(inv(A) C)
        A, C = _ill(rng, n), rng.normal(size=(n, n))

        def make(dt):
            return (lambda M: np.trace(np.linalg.inv(M) @ C)), \
                   (lambda M: -(np.linalg.inv(M) @ C @ np.linalg.inv(M)).T)

        def mp_loss(p):
            P = mpmath.inverse(_mp(p["params"])) * _mp(C)
            return sum(P[i, i] for i in range(n))
        return Case("inv_trace_cond1e6", "linalg_cond1e6", A, make, vstep=1e-12, mp_loss=mp_loss)
    if k == 3:  # log|det A| by slogdet
        A = _ill(rng, n)

        def make(dt):
            return (lambda M: np.linalg.slogdet(M)[1]), (lambda M: np.linalg.inv(M).T)

        def mp_loss(p):
            return mpmath.log(abs(mpmath.det(_mp(p["params"]))))
        return Case("slogdet_cond1e6", "linalg_cond1e6", A, make, vstep=1e-12, mp_loss=mp_loss)
    # 0.5 b^T inv(S) b for SPD S at condition 1e6, dict
    S, b = _ill(rng, n, spd=True), rng.normal(size=n)
    S = (S + S.T) / 2

    def make(dt):
        def loss(p):
            return 0.5 * p["b"] @ np.linalg.solve(p["S"], p["b"])

        def grad(p):
            u = np.linalg.solve(p["S"], p["b"])
            return {"S": -0.5 * np.outer(np.linalg.solve(p["S"].T, p["b"]), u), "b": 0.5 * (u + np.linalg.solve(
                p["S"].T, p["b"]))}
        return loss, grad

    def mp_loss(p):
        bb = _mp(p["b"]).T
        return 0.5 * (bb.T * mpmath.lu_solve(_mp(p["S"]), bb))[0]
    return Case("spd_quadratic_cond1e6", "linalg_cond1e6", {"S": S, "b": b}, make, vstep=1e-12, mp_loss=mp_loss)


# ----------------------------------------------------------------------------- near-degenerate eigh
def _eigh(rng: np.random.Generator, k: int) -> Case:
    """The smallest eigenvalue of a symmetric matrix whose next eigenvalue is ``gap`` above it;
    gradient v v^T. Two cases symmetrise inside the loss (every entry free), two pass
    structure={'params': 'symmetric'} and read S as given."""
    import mpmath
    n, gap = 5, [1e-4, 1e-6, 1e-5, 1e-5][k]
    Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    S = Q @ np.diag([1.0, 1.0 + gap, 2.0, 2.5, 3.0]) @ Q.T
    S = (S + S.T) / 2
    w = 0.5 if k == 3 else 0.0

    def make(dt):
        if k < 2:
            def loss(M):
                Ms = (M + M.T) / 2
                return np.linalg.eigvalsh(Ms)[0] if k else np.linalg.eigh(Ms)[0][0]
        else:
            def loss(M):
                return np.linalg.eigh(M)[0][0] + 0.5 * w * np.sum(M**2)

        def grad(M):
            v = np.linalg.eigh((M + M.T) / 2)[1][:, 0]
            return np.outer(v, v) + w * M
        return loss, grad

    def mp_loss(p):
        M = _mp(p["params"])
        E, _ = mpmath.eigsy((M + M.T) / 2)
        return min(E[i] for i in range(n)) + 0.5 * w * sum(M[i, j] ** 2 for i in range(n) for j in range(n))
    kwargs = {"structure": {"params": "symmetric"}} if k >= 2 else {}
    name = f"eigh_min_gap{gap:.0e}" + ["", "_eigvalsh", "_sym", "_sym_ridge"][k]
    return Case(name, "eigh_gap", S, make, kwargs=kwargs,
                vstep=1e-14, mp_loss=mp_loss)


# ----------------------------------------------------------------------------- abs / clip / maximum
def _kinky(rng: np.random.Generator, k: int, f32: bool) -> Case:
    """Piecewise-linear pieces within 1e-9..1e-7 (float64; float32 1e-5..1e-4, see _relu_net) of
    their kinks: L1 regression, lasso, clip, maximum, total variation, a max-pool."""
    lo, hi = (1e-5, 1e-4) if f32 else (1e-9, 1e-7)
    tag = "f32" if f32 else "f64"
    A = _f(rng.normal(size=(6, 3)), f32).astype(F64)
    x = _f(rng.normal(size=3), f32).astype(F64)
    d = _loguniform(rng, lo, hi, 6)
    vstep = 0.02 * lo / (1 + np.abs(A).sum(axis=1).max())
    if k == 0 or k == 1:  # L1 regression: residuals +-d
        b = _f(A @ x - d, f32)

        def make(dt):
            M, t = _d(dt, _f(A, f32), b)
            if k == 0:
                return (lambda v: np.sum(np.abs(M @ v - t))), (lambda v: M.T @ np.sign(M @ v - t))

            def loss(p):
                return np.sum(np.abs(M @ p["x"] - p["b"]))

            def grad(p):
                s = np.sign(M @ p["x"] - p["b"])
                return {"x": M.T @ s, "b": -s}
            return loss, grad
        params = _f(x, f32) if k == 0 else {"x": _f(x, f32), "b": b}
        return Case(f"l1_regression{'_dict' if k else ''}_{tag}", "abs_clip_kink", params, make, float32=f32,
                    near_kink=True, vstep=vstep, vabs=True)
    if k == 2:  # clip: entries +-d from the bounds, some inside
        xs = np.array([-1 + d[0], -1 - d[1], 1 + d[2], 1 - d[3], 0.3, -0.2])
        c = rng.normal(size=6)

        def make(dt):
            (cc,) = _d(dt, _f(c, f32))

            def loss(v):
                return np.sum(cc * np.clip(v, -1, 1) ** 2)

            def grad(v):
                return 2 * cc * np.clip(v, -1, 1) * ((v > -1) & (v < 1))
            return loss, grad
        return Case(f"clip_{tag}", "abs_clip_kink", _f(xs, f32), make, float32=f32, near_kink=True,
                    vstep=0.02 * lo, vabs=True)
    if k == 3:  # maximum(A x, t) with A x - t = +-d
        t, c = A @ x - d, rng.normal(size=6)

        def make(dt):
            M, tt, cc = _d(dt, A, t, c)
            return (lambda v: np.sum(cc * np.maximum(M @ v, tt))), (lambda v: M.T @ (cc * (M @ v > tt)))
        return Case("maximum_affine", "abs_clip_kink", x, make, near_kink=True, vstep=vstep, vabs=True)
    if k == 4:  # lasso: entries of x within d of 0
        xs = d[:3] * 1.0
        b = rng.normal(size=6)

        def make(dt):
            M, t = _d(dt, A, b)
            return (lambda v: 0.5 * np.sum((M @ v - t) ** 2) + 0.3 * np.sum(np.abs(v))), \
                   (lambda v: M.T @ (M @ v - t) + 0.3 * np.sign(v))
        return Case("lasso", "abs_clip_kink", xs, make, near_kink=True, vstep=0.02 * lo, vabs=True)
    if k == 5:  # clip of a pre-activation to [-1, 1] with some at +-1 +- d, dict
        W = rng.normal(size=(3, 2))
        z0 = A @ W
        bias = np.array([1 + d[0] - z0[0, 0], -1 - d[1] - z0[1, 1]])
        c = rng.normal(size=(6, 2))

        def make(dt):
            M, cc = _d(dt, A, c)

            def loss(p):
                return np.sum(cc * np.clip(M @ p["W"] + p["b"], -1, 1))

            def grad(p):
                z = M @ p["W"] + p["b"]
                g = cc * ((z > -1) & (z < 1))
                return {"W": M.T @ g, "b": g.sum(axis=0)}
            return loss, grad
        return Case("clip_layer_dict", "abs_clip_kink", {"W": W, "b": bias}, make, near_kink=True, vstep=vstep,
                    vabs=True)
    if k == 6:  # total variation: neighbours d apart
        y = rng.normal(size=6)
        xs = np.cumsum(np.concatenate([[0.4], d[:5]]))

        def make(dt):
            (yy,) = _d(dt, y)

            def loss(v):
                return np.sum(np.abs(np.diff(v))) + 0.5 * np.sum((v - yy) ** 2)

            def grad(v):
                s = np.sign(np.diff(v))
                g = v - yy
                g[1:] += s
                g[:-1] -= s
                return g
            return loss, grad
        return Case("total_variation", "abs_clip_kink", xs, make, near_kink=True, vstep=0.01 * lo, vabs=True)
    if k == 7:  # max-pool over pairs that differ by d
        base = rng.normal(size=4)
        xs = np.stack([base, base + d[:4]], axis=1).ravel()
        c = rng.normal(size=4)

        def make(dt):
            (cc,) = _d(dt, c)

            def loss(v):
                return np.sum(cc * np.max(v.reshape(-1, 2), axis=1) ** 2)

            def grad(v):
                P = v.reshape(-1, 2)
                first = P.argmax(axis=1)[:, None] == np.arange(2)  # the larger of each pair
                return ((2 * cc * P.max(axis=1))[:, None] * first).ravel()
            return loss, grad
        return Case("maxpool_pairs", "abs_clip_kink", xs, make, near_kink=True, vstep=0.01 * lo, vabs=True)
    # k == 8: a Huber-free robust loss sum(abs(r)) + maximum(r, 0) (pinball / quantile loss), residuals +-d
    b = A @ x - d
    tau = 0.3

    def make(dt):
        M, t = _d(dt, A, b)

        def loss(v):
            r = M @ v - t
            return np.sum(np.maximum(tau * r, (tau - 1) * r))

        def grad(v):
            r = M @ v - t
            return M.T @ np.where(r > 0, tau, tau - 1)
        return loss, grad
    return Case("pinball_quantile", "abs_clip_kink", x, make, near_kink=True, vstep=vstep, vabs=True)


# ----------------------------------------------------------------------------- softmax CE, large logits
def _softmax(rng: np.random.Generator, k: int, f32: bool) -> Case:
    """Softmax cross-entropy with logits of 50..500: the stable logsumexp, as users write it; the
    gradient P - onehot has entries e^-100 beside O(1)."""
    tag = "f32" if f32 else "f64"
    X = _f(rng.normal(size=(5, 3)), f32)
    W = _f(rng.normal(size=(3, 4)) * [60.0, 30.0, 100.0, 20.0][k], f32)
    yi = rng.integers(0, 4, size=5)
    T = 0.01 if k == 3 else 1.0
    Wt = _f(W / 100 if k == 3 else W, f32)

    def make(dt):
        (A,) = _d(dt, X)
        rows = np.arange(5)

        def lse(Z):
            m = Z.max(axis=1, keepdims=True)
            if k == 2:  # the scipy-free one-liner
                return (np.log(np.sum(np.exp(Z - m), axis=1, keepdims=True)) + m)[:, 0]
            return m[:, 0] + np.log(np.exp(Z - m).sum(axis=1))

        def logits(p):
            W_, b_ = (p["W"], p["b"]) if isinstance(p, dict) else (p, 0)
            return (A @ W_ + b_) / T

        def loss(p):
            Z = logits(p)
            return np.sum(lse(Z) - Z[rows, yi])

        def grad(p):
            Z = logits(p)
            P = np.exp(Z - lse(Z)[:, None])
            P[rows, yi] -= 1
            P /= T
            if isinstance(p, dict):
                return {"W": A.T @ P, "b": P.sum(axis=0)}
            return A.T @ P
        return loss, grad
    params = {"W": Wt, "b": _f(rng.normal(size=4) * 10, f32)} if k % 2 == 0 else Wt
    return Case(f"softmax_ce_{['dict', 'array', 'oneliner', 'temp0.01'][k]}_{tag}", "softmax_large_logits",
                params, make, float32=f32, vstep=1e-4)


# ----------------------------------------------------------------------------- log1p / expm1
def _log1p(rng: np.random.Generator, k: int, f32: bool) -> Case:
    tag = "f32" if f32 else "f64"
    if k == 0:  # softplus written with log1p, stable on both sides
        X, w = _f(rng.normal(size=(6, 3)) * 5, f32), _f(rng.normal(size=3), f32)

        def make(dt):
            (A,) = _d(dt, X)

            def loss(v):
                z = A @ v
                return np.sum(np.log1p(np.exp(-np.abs(z))) + np.maximum(z, 0))

            def grad(v):
                return A.T @ (1 / (1 + np.exp(-(A @ v))))
            return loss, grad
        return Case(f"softplus_log1p_{tag}", "log1p_expm1", w, make, float32=f32)
    if k == 1:  # expm1(x) - x at tiny x: the loss is x^2 / 2, the gradient expm1(x)
        x = _f(_loguniform(rng, 1e-8, 1e-3, 5) if not f32 else _loguniform(rng, 1e-3, 1e-1, 5), f32)

        def make(dt):
            return (lambda v: np.sum(np.expm1(v) - v)), (lambda v: np.expm1(v))
        return Case(f"expm1_small_{tag}", "log1p_expm1", x, make, float32=f32)
    # k == 2: a dict of log1p terms: log1p(x^2) and a Poisson-style log1p(rate)
    x = _f(rng.normal(size=4) * 1e-3, f32)
    r = _f(np.abs(rng.normal(size=3)) * 1e-6, f32)
    c = _f(rng.normal(size=3), f32)

    def make(dt):
        (cc,) = _d(dt, c)

        def loss(p):
            return np.sum(np.log1p(p["x"] ** 2)) + np.sum(cc * np.log1p(p["r"]))

        def grad(p):
            return {"x": 2 * p["x"] / (1 + p["x"] ** 2), "r": cc / (1 + p["r"])}
        return loss, grad
    return Case(f"log1p_dict_{tag}", "log1p_expm1", {"x": x, "r": r}, make, float32=f32)


def cases(seed: int = 0) -> list[Case]:
    """Every hard case, built for ``seed`` (deterministic)."""
    def rng(*key: int) -> np.random.Generator:
        return np.random.default_rng([seed, *key])
    out: list[Case] = [_big_loss(rng(1, k), k) for k in range(5)]
    forms = [("asarray", "mse", False), ("where", "mse", False), ("tanh", "mse", False),
             ("asarray", "bce", False), ("where", "bce", False), ("tanh", "bce", False),
             ("where", "mse", True), ("tanh", "logits", True), ("tanh", "mse", True)]
    out += [_sigmoid(rng(2, i), *f) for i, f in enumerate(forms)]
    relu = [("maximum", False, 1e-7, 1e-6), ("mask", False, 1e-6, 1e-5), ("where", False, 1e-5, 1e-4),
            ("maximum", False, 1e-5, 1e-4), ("mask", False, 1e-7, 1e-4), ("where", False, 1e-7, 1e-6),
            ("maximum", True, 1e-5, 1e-4), ("mask", True, 1e-5, 1e-4), ("where", True, 1e-5, 1e-4)]
    out += [_relu_net(rng(3, i), *r) for i, r in enumerate(relu)]
    out += [_hinge(rng(4, k), k) for k in range(2)]
    out += [_scale(rng(5, k), k, False) for k in range(4)] + [_scale(rng(5, 10 + k), k, True) for k in range(2)]
    out += [_kron(rng(6, k), k, False) for k in range(4)] + [_kron(rng(6, 10 + k), k, True) for k in (0, 3)]
    out += [_linalg(rng(7, k), k) for k in range(5)]
    out += [_eigh(rng(8, k), k) for k in range(4)]
    out += [_kinky(rng(9, k), k, False) for k in range(9)] + [_kinky(rng(9, 10 + k), k, True) for k in range(3)]
    out += [_softmax(rng(10, k), k, False) for k in range(4)] + [_softmax(rng(10, 10 + k), k, True)
                                                                 for k in range(3)]
    out += [_log1p(rng(11, k), k, False) for k in range(3)] + [_log1p(rng(11, 10 + k), k, True) for k in range(3)]
    for c in out if seed else ():  # names stay unique over --seeds
        c.name += f"@{seed}"
    return out


# ----------------------------------------------------------------------------- independent verification
def _as_dict(params: Any) -> dict[str, np.ndarray]:
    return dict(params) if isinstance(params, dict) else {"params": params}


def _unwrap(case: Case, p: dict[str, np.ndarray]) -> Any:
    return p if isinstance(case.params, dict) else p["params"]


def reference_grad(case: Case, exact: bool = False) -> dict[str, np.ndarray]:
    """The gradient by central differences at h, h/2, h/4, Richardson-combined (error O(h^6)), in
    high precision: the case's own code run in longdouble (eps 1e-19), or its mpmath form at 40 digits
    for linear algebra. Steps are below every kink's distance (``Case.vstep``), so each difference
    sees one smooth piece; ``exact`` runs the case's code on arrays of mpf (40 digits), for the
    piecewise-linear losses whose kinks force steps of 1e-12, where longdouble keeps too few digits."""
    if case.mp_loss is not None:
        import mpmath
        mpmath.mp.dps = 40
        base = {k: np.vectorize(mpmath.mpf, otypes=[object])(np.asarray(v, dtype=F64)) for k, v in
                _as_dict(case.params).items()}

        def f(p):
            return case.mp_loss(p)
    elif exact:  # piecewise-linear code run as is on arrays of mpf: exact at the tiny steps kinks need
        import mpmath
        mpmath.mp.dps = 40
        base = {k: np.vectorize(mpmath.mpf, otypes=[object])(np.asarray(v, dtype=F64)) for k, v in
                _as_dict(case.params).items()}
        loss = case.make(object)[0]

        def f(p):
            return loss(_unwrap(case, p))
    else:
        base = {k: np.asarray(v).astype(LD) for k, v in _as_dict(case.params).items()}
        loss = case.make(LD)[0]

        def f(p):
            return loss(_unwrap(case, p))
    out = {}
    for name, x in base.items():
        g = np.zeros(x.shape, dtype=object if case.mp_loss else LD)
        typ = 0.1 * float(np.sqrt(np.mean(np.asarray(x, dtype=F64) ** 2))) or 1.0
        for i in np.ndindex(x.shape):
            h0 = case.vstep if case.vabs else case.vstep * max(abs(float(x[i])), typ)
            d = []
            for h in (h0, h0 / 2, h0 / 4):
                hp = type(x[i])(h) if case.mp_loss is None else h
                up, dn = {**base, name: x.copy()}, {**base, name: x.copy()}
                up[name][i] += hp
                dn[name][i] -= hp
                d.append((f(up) - f(dn)) / (2 * hp))
            r1 = [(4 * d[1] - d[0]) / 3, (4 * d[2] - d[1]) / 3]  # h^2 cancelled
            g[i] = (16 * r1[1] - r1[0]) / 15  # h^4 cancelled
        out[name] = g.astype(F64) if case.mp_loss or exact else g
    return out


def verify(case: Case) -> float:
    """Worst error of the hand gradient against ``reference_grad``, relative to each parameter's
    largest reference entry."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        ref = None
        if case.near_kink:
            try:
                ref = reference_grad(case, exact=True)
            except (TypeError, AttributeError):  # exp/log on mpf arrays: longdouble instead
                ref = None
        ref = ref or reference_grad(case)
        hand = _as_dict(case.grad(case.params))
    worst = 0.0
    for name, r in ref.items():
        r = np.asarray(r, dtype=LD)
        scale = np.max(np.abs(r))
        diff = np.abs(np.asarray(hand[name], dtype=LD) - r)
        worst = max(worst, float(np.max(diff) / scale) if scale > 0 else float(np.max(diff)))
    return worst


VERIFY_LIMIT = {False: 1e-7, True: 1e-4}
"""Largest verified error per float32 flag: float64 gradients hold ~1e-15 of their scale (1e-7 leaves
room for the loss-1e8 cases' longdouble differences); float32 ones ~1e-6."""


# ----------------------------------------------------------------------------- slipped twins
def slipped(case: Case, rel: float) -> Callable:
    """The hand gradient with its median-magnitude entry (over every parameter's nonzero entries)
    times (1 + rel)."""
    g0 = _as_dict(case.grad(case.params))
    flat = [(abs(float(v[i])), k, i) for k, v in g0.items() for i in np.ndindex(v.shape) if v[i] != 0]
    flat.sort(key=lambda t: t[0])
    _, key, idx = flat[len(flat) // 2]

    def twin(p):
        g = {k: np.array(v, copy=True) for k, v in _as_dict(case.grad(p)).items()}
        g[key][idx] *= g[key].dtype.type(1 + rel)
        return g if isinstance(case.params, dict) else g["params"]
    twin.slipped_param = key  # type: ignore[attr-defined]
    twin.slip = (key, idx, abs(float(g0[key][idx])) * rel)  # type: ignore[attr-defined]
    return twin


def slips(case: Case) -> dict[str, float]:
    """Twin name -> relative slip: 1e-8 (float64 only) and 1e-6 (float64) or 1e-3 (float32)."""
    return {"slip_big": 1e-3} if case.float32 else {"slip_1e-8": 1e-8, "slip_big": 1e-6}


# ----------------------------------------------------------------------------- schemes on offer
def _named(error: Exception) -> list[str]:
    return re.findall(r"'([A-Za-z_]\w*)'", str(error).split("expected", 1)[-1])


def accepted_schemes() -> dict[str, dict[str, Any]]:
    """Label -> check_grad keywords for every method= and oracle= value the installed package takes:
    the names come from gradcheck.METHODS, a list of known ones and the message that refuses a bad
    value, and each is tried on a tiny probe, so a new option is picked up without editing this file."""
    def probe(**kw):
        return gradcheck.check_grad(lambda x: np.sum(x**2), lambda x: 2 * x, np.ones(2), **kw)
    names: dict[str, list[str]] = {"method": ["richardson", "central", "forward", "complex", "auto"],
                                   "oracle": ["fd", "symbolic", "both", "auto"]}
    names["method"] += list(getattr(gradcheck, "METHODS", ()))
    for kw in names:
        try:
            probe(**{kw: "?not-a-value"})
        except Exception as exc:  # noqa: BLE001 - any refusal names what it expects
            names[kw] += _named(exc)
    out: dict[str, dict[str, Any]] = {"default": {}}
    for kw, values in names.items():
        for v in dict.fromkeys(values):
            if v in ("richardson", "fd"):
                continue  # the defaults
            try:
                probe(**{kw: v})
            except gradcheck.InvalidArgumentError:
                continue
            except Exception:  # noqa: BLE001 - accepted but unable on the probe: still an option
                pass
            out[f"{kw}={v}"] = {kw: v}
    return out


def _select(spec: str, offered: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    if spec == "all":
        return offered
    chosen = {}
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        label = item if item in offered else next(
            (lab for lab in (f"method={item}", f"oracle={item}") if lab in offered), None)
        if label is None:
            raise SystemExit(f"--methods: {item!r} is not offered; offered: {', '.join(offered)}")
        chosen[label] = offered[label]
    return chosen


# ----------------------------------------------------------------------------- running
def _reason(result: Any) -> str:
    for name, p in result.params.items():
        if p.verdict == "FAIL":  # the finite differences' diagnosis, else the symbolic witness's word
            symbolic = p.symbolic if (p.symbolic or "").startswith("FAIL") else None
            why = (p.diagnosis if p.n_mismatched else None) or symbolic or str(p).splitlines()[0]
            return f"{name}: {why}".replace("\n", " ")[:220]
    for name, p in result.params.items():
        if p.verdict != "pass":
            return f"{name}: {p.inconclusive or str(p).splitlines()[0]}".replace("\n", " ")[:220]
    return str(result).splitlines()[0][:220]


def _tolerance_at(case: Case, key: str, idx: tuple, tol: np.ndarray | None) -> float | None:
    """The tolerance applied where the slip is. A structured (symmetric) parameter keeps arrays over
    its free entries: the slip at S[i, j] moves the free entry of the pair {i, j} by the same amount."""
    if tol is None:
        return None
    if tol.ndim == len(idx):
        return float(tol[idx])
    kind = (case.kwargs.get("structure") or {}).get(key)
    if kind is None or len(idx) != 2:
        return None
    from gradcheck.core._structure import Structure

    value = case.params if not isinstance(case.params, dict) else case.params[key]
    st = Structure.make(key, kind, np.asarray(value, dtype=float))
    pair = {int(idx[0]), int(idx[1])}
    k = next((k for k in range(st.rows.size) if {int(st.rows[k]), int(st.cols[k])} == pair), None)
    return None if k is None or tol.shape != st.rows.shape else float(tol[k])


def run_one(case: Case, grad: Callable, kwargs: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            r = gradcheck.check_grad(case.loss, grad, case.params, **case.kwargs, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a scheme that refuses the case is a figure, not a crash
        return {"verdict": "error", "reason": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
                "time": time.perf_counter() - t0}
    out = {"verdict": r.verdict, "time": time.perf_counter() - t0,
           "resolution": {k: float(p.resolution) for k, p in r.params.items()}}
    slip = getattr(grad, "slip", None)
    if slip is not None:  # the tolerance the check applied where the slip is: above it, it must be seen
        key, idx, size = slip
        tol = r.params[key].tolerances
        out["slip_abs"] = size
        out["tolerance_at_slip"] = _tolerance_at(case, key, idx, tol)
    if r.verdict != "pass":
        out["reason"] = _reason(r)
    return out


def run(all_cases: list[Case], schemes: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in schemes}
    for case in all_cases:
        twins = {name: slipped(case, rel) for name, rel in slips(case).items()}
        for label, kw in schemes.items():
            row = {"case": case.name, "family": case.family, "float32": case.float32, "correct": run_one(
                case, case.grad, kw)}
            for name, twin in twins.items():
                row[name] = run_one(case, twin, kw) | {"param": twin.slipped_param}
            rows[label].append(row)
    return rows


def _rel(row: dict[str, Any], twin: str) -> float:
    return 1e-8 if twin == "slip_1e-8" else 1e-3 if row["float32"] else 1e-6


def _resolvable(row: dict[str, Any], twin: str, rel: float) -> bool:
    """The slip exceeds the tolerance this check applied at its entry (or, where the check kept no
    per-entry arrays, its parameter's stated resolution is finer than the slip)."""
    t = row.get(twin)
    if not t or "resolution" not in t:
        return False
    if t.get("tolerance_at_slip") is not None:
        return t["slip_abs"] > t["tolerance_at_slip"]
    return t["resolution"].get(t["param"], np.inf) < rel


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    verdicts = [r["correct"]["verdict"] for r in rows]
    n = len(rows)
    times = [r["correct"]["time"] for r in rows]
    all_times = times + [r[t]["time"] for r in rows for t in ("slip_1e-8", "slip_big") if t in r]
    out: dict[str, Any] = {
        "cases": n, "pass": verdicts.count("pass"), "inconclusive": verdicts.count("inconclusive"),
        "FAIL": verdicts.count("FAIL"), "error": verdicts.count("error"),
        "pass_share": verdicts.count("pass") / n if n else 0.0,
        "inconclusive_share": verdicts.count("inconclusive") / n if n else 0.0,
        "time_median_correct": statistics.median(times) if times else 0.0,
        "time_total_correct": sum(times), "time_total_all": sum(all_times),
    }
    for twin in ("slip_big", "slip_1e-8"):
        tw = [r for r in rows if twin in r]
        res = [r for r in tw if _resolvable(r, twin, _rel(r, twin))]
        out |= {f"{twin}_twins": len(tw), f"{twin}_flagged": sum(r[twin]["verdict"] == "FAIL" for r in tw),
                f"{twin}_resolvable": len(res),
                f"{twin}_flagged_resolvable": sum(r[twin]["verdict"] == "FAIL" for r in res)}
    return out


def report(label: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    fams = list(dict.fromkeys(r["family"] for r in rows))
    figures = {f: summarise([r for r in rows if r["family"] == f]) for f in fams}
    figures["overall"] = summarise(rows)
    print(f"\n== {label}: verdicts on the correct cases; slips flagged/twins (flagged/resolvable: the slip "
          "above the tolerance applied at its entry); seconds per correct case")
    print(f"{'family':<22}{'n':>4}{'pass':>5}{'inc':>5}{'FAIL':>5}{'err':>4}{'pass%':>7}{'inc%':>7}"
          f"{'slip 1e-6|1e-3':>17}{'slip 1e-8':>17}{'median s':>10}{'total s':>9}")
    for f, s in figures.items():
        big = f"{s['slip_big_flagged']}/{s['slip_big_twins']} ({s['slip_big_flagged_resolvable']}/" \
              f"{s['slip_big_resolvable']})"
        tiny = f"{s['slip_1e-8_flagged']}/{s['slip_1e-8_twins']} ({s['slip_1e-8_flagged_resolvable']}/" \
               f"{s['slip_1e-8_resolvable']})"
        print(f"{f:<22}{s['cases']:>4}{s['pass']:>5}{s['inconclusive']:>5}{s['FAIL']:>5}{s['error']:>4}"
              f"{100 * s['pass_share']:>6.1f}%{100 * s['inconclusive_share']:>6.1f}%{big:>17}{tiny:>17}"
              f"{s['time_median_correct']:>10.3f}{s['time_total_correct']:>9.2f}")
    unsettled = [{"case": r["case"], "family": r["family"], "verdict": r["correct"]["verdict"],
                  "reason": r["correct"].get("reason", "")} for r in rows if r["correct"]["verdict"] != "pass"]
    missed = [f"{r['case']} ({t})" for r in rows for t in ("slip_big", "slip_1e-8")
              if t in r and r[t]["verdict"] != "FAIL" and _resolvable(r, t, _rel(r, t))]
    print(f"time of every check (correct + twins): {figures['overall']['time_total_all']:.2f} s")
    if missed:
        print(f"slips above their entry's tolerance yet not flagged: {', '.join(missed)}")
    print(f"correct cases not settled as pass ({len(unsettled)}):")
    for u in unsettled:  # the reason's first clause (the JSON keeps it whole)
        print(f"  {u['verdict']:<12} {u['case']:<30} {u['reason'].split(', so a mistake')[0][:150]}")
    return {"figures": figures, "unsettled": unsettled, "rows": rows}


def any_witness(rows: dict[str, list[dict[str, Any]]]) -> None:
    """1e-8 slips some scheme run here could resolve, and how many the default flagged."""
    if len(rows) < 2 or "default" not in rows:
        return
    cases = [r["case"] for r in rows["default"]]
    res = [i for i, c in enumerate(cases) if "slip_1e-8" in rows["default"][i]
           and any(_resolvable(rs[i], "slip_1e-8", 1e-8) for rs in rows.values())]
    flagged = sum(rows["default"][i]["slip_1e-8"]["verdict"] == "FAIL" for i in res)
    print(f"\n1e-8 slips some witness run here resolves: {len(res)}; flagged by the default: {flagged}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 (default 1)")
    ap.add_argument("--only", default=None, help="one family (substring of its name)")
    ap.add_argument("--methods", default="default",
                    help="comma list of schemes: default, auto (method=auto), both (oracle=both), method=X, "
                         "oracle=X, or 'all' for every value the package accepts")
    ap.add_argument("--json", default=None, help="save the figures here, for before/after comparison")
    ap.add_argument("--verify", action="store_true", help="check every hand gradient independently, then stop")
    args = ap.parse_args(argv)
    all_cases = [c for s in range(args.seeds) for c in cases(s) if not args.only or args.only in c.family]
    n32 = sum(c.float32 for c in all_cases)
    hard = sum(c.float32 or c.near_kink for c in all_cases)
    print(f"{len(all_cases)} cases in {len(set(c.family for c in all_cases))} families; float32 {n32}, "
          f"float32 or near a kink {hard}")
    if args.verify:
        bad, worst = 0, {False: 0.0, True: 0.0}
        for c in all_cases:
            e = verify(c)
            ok = e <= VERIFY_LIMIT[c.float32]
            bad += not ok
            worst[c.float32] = max(worst[c.float32], e)
            print(f"  {'ok ' if ok else 'BAD'} {c.family:<22}{c.name:<34}{e:.2e}")
        print(f"worst relative error: float64 {worst[False]:.2e} (limit {VERIFY_LIMIT[False]:.0e}), "
              f"float32 {worst[True]:.2e} (limit {VERIFY_LIMIT[True]:.0e}); {bad} case(s) over the limit")
        return 1 if bad else 0
    offered = accepted_schemes()
    schemes = _select(args.methods, offered)
    print(f"schemes offered: {', '.join(offered)}; running: {', '.join(schemes)}")
    rows = run(all_cases, schemes)
    saved = {label: report(label, r) for label, r in rows.items()}
    any_witness(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(saved, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
