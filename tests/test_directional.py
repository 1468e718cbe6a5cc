"""The directional check: directions that see every mistake, group testing that names it, honest verdicts."""

from __future__ import annotations

import concurrent.futures as cf
import io
import json
import math

import numpy as np
import pytest

from gradcheck import InvalidArgumentError, NonFiniteError
from gradcheck.checks.directional._engine import check_grad_directional
from gradcheck.checks.directional._line import Line, taylor
from gradcheck.core._evaluator import Evaluator
from gradcheck.core._params import ParamSet
from gradcheck.core._progress import Progress


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class RowMLP:
    """Row-layout sigmoid MLP, X1 = s(X0 W1 + b1), X2 = s(X1 W2 + b2), X3 = X2 W3 + b3; E = 0.5 ||X3 - T||^2."""

    def __init__(self, width: int, *, n_in: int | None = None, n_out: int = 10, batch: int = 32, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        n_in = n_in or width
        self.X = rng.normal(size=(batch, n_in))
        self.T = rng.normal(size=(batch, n_out))
        self.params = {
            "W1": rng.normal(size=(n_in, width)) / np.sqrt(n_in), "b1": 0.1 * rng.normal(size=(1, width)),
            "W2": rng.normal(size=(width, width)) / np.sqrt(width), "b2": 0.1 * rng.normal(size=(1, width)),
            "W3": rng.normal(size=(width, n_out)) / np.sqrt(width), "b3": 0.1 * rng.normal(size=(1, n_out)),
        }

    def _forward(self, p):
        x1 = _sigmoid(self.X @ p["W1"] + p["b1"])
        x2 = _sigmoid(x1 @ p["W2"] + p["b2"])
        return x1, x2, x2 @ p["W3"] + p["b3"]

    def loss(self, p):
        return 0.5 * np.sum((self._forward(p)[2] - self.T) ** 2)

    def grad(self, p):
        x1, x2, x3 = self._forward(p)
        d3 = x3 - self.T                                   # dE/dX3
        d2 = (d3 @ p["W3"].T) * x2 * (1 - x2)              # through X2 = s(X1 W2 + b2)
        d1 = (d2 @ p["W2"].T) * x1 * (1 - x1)
        return {"W1": self.X.T @ d1, "b1": d1.sum(0, keepdims=True), "W2": x1.T @ d2, "b2": d2.sum(0, keepdims=True),
                "W3": x2.T @ d3, "b3": d3.sum(0, keepdims=True)}


class ReluNet:
    """h = relu(x W1 + b1), L = mean cross-entropy of softmax(h W2 + b2); ``on_kink`` units sit exactly at 0."""

    def __init__(self, n_in: int, hidden: int, *, classes: int = 10, batch: int = 32, on_kink: int = 6, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.x = rng.normal(size=(batch, n_in))
        self.x[0] = 0.0  # the first sample's pre-activations are b1: zero for the first on_kink units
        self.onehot = np.eye(classes)[rng.integers(0, classes, size=batch)]
        b1 = 0.5 * rng.normal(size=(1, hidden))
        b1[0, :on_kink] = 0.0
        self.params = {"W1": rng.normal(size=(n_in, hidden)) / np.sqrt(n_in), "b1": b1,
                       "W2": rng.normal(size=(hidden, classes)) / np.sqrt(hidden), "b2": np.zeros((1, classes))}

    def loss(self, p):
        r = self.x @ p["W1"] + p["b1"]
        h = r * (np.real(r) > 0)  # relu whose mask reads the real part: complex step works
        s = h @ p["W2"] + p["b2"]
        s = s - np.max(np.real(s), axis=1, keepdims=True)
        logp = s - np.log(np.sum(np.exp(s), axis=1, keepdims=True))
        return -np.sum(self.onehot * logp) / self.x.shape[0]

    def grad(self, p):
        r = self.x @ p["W1"] + p["b1"]
        h = np.maximum(r, 0.0)
        s = h @ p["W2"] + p["b2"]
        e = np.exp(s - s.max(axis=1, keepdims=True))
        dscore = (e / e.sum(axis=1, keepdims=True) - self.onehot) / self.x.shape[0]
        dr = (dscore @ p["W2"].T) * (r > 0)               # slope 0 taken at r = 0
        return {"W1": self.x.T @ dr, "b1": dr.sum(0, keepdims=True), "W2": h.T @ dscore,
                "b2": dscore.sum(0, keepdims=True)}


def _broken(grad, edits):
    """``grad`` with entries scaled: edits = [(name, index, factor), ...]."""
    def wrong(p):
        d = {k: v.copy() for k, v in grad(p).items()}
        for name, index, factor in edits:
            d[name][index] *= factor
        return d
    return wrong


def _median_index(arr):
    flat = int(np.argsort(np.abs(arr).ravel())[arr.size // 2])
    return tuple(int(i) for i in np.unravel_index(flat, arr.shape))


@pytest.fixture(scope="module")
def mlp_1e4():
    return RowMLP(66)  # 2 x 66^2 + 66 x 10 + 2 x 66 + 10 = 9,514 entries


# --------------------------------------------------------------------------- correct gradients pass
@pytest.mark.parametrize("method", ["richardson", "auto"])
def test_correct_mlp_passes_with_resolution_finer_than_target(mlp_1e4, method):
    net = mlp_1e4 if method == "richardson" else RowMLP(30)  # complex matmuls are slow on a shared runner
    r = check_grad_directional(net.loss, net.grad, net.params, method=method)
    assert r.verdict == "pass" and r.ok, r.summary()
    assert r.resolution < 1e-6 / 3
    assert all(d.agrees for d in r.directions)
    assert r.n_group_tests == 0 and not r.mismatches


@pytest.mark.parametrize("method", ["richardson", "auto"])
def test_relu_net_with_units_on_kinks_raises_no_false_alarm(method):
    net = ReluNet(40, 40, on_kink=8)
    r0 = net.x[0] @ net.params["W1"] + net.params["b1"][0]
    assert np.count_nonzero(r0 == 0.0) == 8
    r = check_grad_directional(net.loss, net.grad, net.params, method=method)
    assert r.ok, r.summary()
    if method == "richardson":
        # The units at 0 made the directions kinks: the 8 biases that move them were found,
        # checked one by one (valid one-sided slopes) and set apart; the rest judged smooth.
        assert r.n_at_kinks >= 8 and r.n_kinks >= 8
        assert all(d.state == "smooth" for d in r.directions)
        assert r.resolution < 1e-6 / 3


def test_relu_kinks_do_not_mask_a_wrong_entry():
    net = ReluNet(40, 40, on_kink=8)
    idx = _median_index(net.grad(net.params)["W1"])
    r = check_grad_directional(net.loss, _broken(net.grad, [("W1", idx, 1 + 1e-4)]), net.params)
    assert r.verdict == "FAIL"
    assert [e.index for e in r.mismatches["W1"]] == [idx]


# --------------------------------------------------------------------------- localization
def test_localization_names_the_wrong_entries_on_a_1e4_parameter_net(mlp_1e4):
    g = mlp_1e4.grad(mlp_1e4.params)
    wrong = [("W1", _median_index(g["W1"]), 1 + 1e-5), ("W2", (3, 17), 1.01), ("b3", (0, 4), -1.0)]
    r = check_grad_directional(mlp_1e4.loss, _broken(mlp_1e4.grad, wrong), mlp_1e4.params)
    assert r.verdict == "FAIL" and not r.ok
    named = {(name, e.index) for name, es in r.mismatches.items() for e in es}
    assert named == {(name, idx) for name, idx, _ in wrong}
    w1 = r.mismatches["W1"][0]
    true = g["W1"][wrong[0][1]]
    assert w1.analytic == pytest.approx(true * (1 + 1e-5), rel=1e-15)
    assert abs(w1.numeric - true) < 1e-8 * abs(true)
    # O(k log N): three wrong entries among 9,514 need far fewer than N probes.
    assert r.n_group_tests <= 2 * 3 * (math.ceil(math.log2(r.n_entries)) + 2)
    assert r.n_localized == 3 and r.n_sampled == 0


def test_localization_is_cheap_with_complex_step():
    net = RowMLP(30)  # complex matmuls are slow on a shared runner: 2,230 entries
    idx = _median_index(net.grad(net.params)["W2"])
    r = check_grad_directional(net.loss, _broken(net.grad, [("W2", idx, 1 + 1e-6)]), net.params, method="auto")
    assert r.method == "auto"
    assert [e.index for e in r.mismatches["W2"]] == [idx]
    assert r.n_evaluations < 300


# --------------------------------------------------------------------------- everywhere wrong: early stop and diagnosis
def test_factor_two_everywhere_stops_early_and_is_diagnosed():
    net = RowMLP(24, n_in=8, n_out=4)
    def doubled(p):
        return {k: 2 * v for k, v in net.grad(p).items()}
    r = check_grad_directional(net.loss, doubled, net.params, method="auto")
    assert r.verdict == "FAIL"
    assert r.n_sampled > 0 and r.n_group_tests < 120
    assert set(r.diagnosis) == set(net.params)
    assert all("analytic = 2 x numerical" in d for d in r.diagnosis.values())


def test_transposed_square_weight_is_diagnosed_from_sampled_pairs():
    net = RowMLP(24, n_in=8, n_out=4)
    def transposed(p):
        d = net.grad(p)
        d["W2"] = d["W2"].T.copy()
        return d
    r = check_grad_directional(net.loss, transposed, net.params, method="auto")
    assert r.verdict == "FAIL"
    assert set(r.mismatches) == {"W2"}
    assert "transposed" in r.diagnosis["W2"]


def test_sign_flip_of_one_parameter():
    net = RowMLP(16, n_in=8, n_out=4)
    r = check_grad_directional(net.loss, lambda p: {**net.grad(p), "W3": -net.grad(p)["W3"]}, net.params)
    assert r.verdict == "FAIL" and set(r.mismatches) == {"W3"}
    assert "sign flipped" in r.diagnosis["W3"]


# --------------------------------------------------------------------------- the random-projection blind spot
def test_mostly_zero_wrong_gradient_is_caught_by_a_single_direction():
    net = RowMLP(30, n_in=10, n_out=5)
    g = net.grad(net.params)
    keep = {k: np.zeros_like(v) for k, v in g.items()}
    big = np.unravel_index(np.argmax(np.abs(g["W2"])), g["W2"].shape)
    keep["W2"][big] = g["W2"][big]  # right where it is nonzero; zero everywhere else
    for seed in range(3):
        r = check_grad_directional(net.loss, lambda p: keep, net.params, directions=1, seed=seed)
        assert r.verdict == "FAIL", r.summary()
        assert not next(d for d in r.directions if d.label == "random 0").agrees  # the random one alone sees it


def test_one_wrong_entry_moves_every_sign_direction_by_its_full_size():
    net = RowMLP(20, n_in=6, n_out=3)
    g = net.grad(net.params)
    idx = _median_index(g["W2"])
    r = check_grad_directional(net.loss, _broken(net.grad, [("W2", idx, 1 + 1e-5)]), net.params, directions=6,
                               method="auto", localize=False)
    gaps = [abs(d.analytic - d.numeric) for d in r.directions if d.label.startswith("random")]
    # |u_i| = 1: the gap is |e_i s_i| whatever the signs, never a lucky small multiple.
    assert gaps == pytest.approx([1e-5 * abs(g["W2"][idx])] * 6, rel=1e-4)
    assert r.verdict == "inconclusive"  # directions disagree, nothing was localised


# --------------------------------------------------------------------------- honest verdicts
def test_inconclusive_where_the_bars_cannot_resolve_the_target():
    def loss(x):
        return 1e8 + 1e-4 * np.sum(x ** 2)
    def grad(x):
        return 2e-4 * x
    r = check_grad_directional(loss, grad, np.linspace(0.5, 1.5, 50))
    assert r.verdict == "inconclusive" and not r.ok
    assert "cannot resolve" in r.reason and r.resolution > 1e-6


def test_result_is_json_and_summary_states_what_was_checked(mlp_1e4):
    idx = _median_index(mlp_1e4.grad(mlp_1e4.params)["W1"])
    r = check_grad_directional(mlp_1e4.loss, _broken(mlp_1e4.grad, [("W1", idx, 1.001)]), mlp_1e4.params)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["verdict"] == "FAIL" and d["mismatches"]["W1"][0]["index"] == list(idx)
    text = str(r)
    assert "group tests" in text and "missed with probability" in text and str(idx) in text
    with pytest.raises(TypeError):
        bool(r)


def test_taylor_test_tells_first_from_second_order():
    net = RowMLP(8, n_in=4, n_out=2)
    ps = ParamSet(net.params, single_name="params")
    ev = Evaluator(net.loss, ps, scalar=True, fn_name="loss")
    f0, _ = ev.base()
    x = np.concatenate([ps.arrays[n].ravel() for n in ps.names])
    g = np.concatenate([net.grad(net.params)[n].ravel() for n in ps.names])
    offsets, a = [], 0
    for n in ps.names:
        offsets.append((n, a, a + ps.arrays[n].size))
        a += ps.arrays[n].size
    line = Line(ev, x, g, float(f0[0]), 1e-15, method="richardson", safety=10.0, offsets=offsets)
    w = np.random.default_rng(1).choice([-1.0, 1.0], size=x.size)
    right = float(g @ w)
    assert taylor(line, w, right).verdict == "second order"
    wrong = taylor(line, w, right * (1 + 1e-3))
    assert wrong.verdict == "first order" and wrong.error == pytest.approx(1e-3 * abs(right), rel=0.2)


def test_the_callers_arrays_are_untouched(mlp_1e4):
    before = {k: v.copy() for k, v in mlp_1e4.params.items()}
    check_grad_directional(mlp_1e4.loss, _broken(mlp_1e4.grad, [("b1", (0, 3), 2.0)]), mlp_1e4.params)
    assert all(np.array_equal(before[k], mlp_1e4.params[k]) for k in before)


# --------------------------------------------------------------------------- workers, budget, progress
def test_a_local_process_pool_checks_entries_for_the_directional_check():
    net = RowMLP(20, n_in=6, n_out=3)
    idx = _median_index(net.grad(net.params)["W1"])
    with cf.ProcessPoolExecutor(max_workers=2) as pool:
        r = check_grad_directional(net.loss, _broken(net.grad, [("W1", idx, 1 + 1e-5)]), net.params, method="auto",
                                   per_entry=40, workers=pool)
    assert [e.index for e in r.mismatches["W1"]] == [idx]
    assert r.n_subset == 40 and r.n_localized == 1
    assert r.n_evaluations > 40  # the workers' evaluations are counted


def test_budget_stops_entry_checks_and_says_so():
    net = RowMLP(20, n_in=6, n_out=3)
    r = check_grad_directional(net.loss, net.grad, net.params, per_entry=500, budget_s=1e-9)
    assert r.n_subset < 500 and any("budget_s ran out" in n for n in r.notes)


def test_workers_need_a_picklable_loss():
    net = RowMLP(8, n_in=4, n_out=2)
    with pytest.raises(InvalidArgumentError, match="cannot be pickled"):
        check_grad_directional(lambda p: net.loss(p), net.grad, net.params, workers=2)


def test_progress_bar_only_on_a_terminal_outside_ci(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True
    monkeypatch.delenv("CI", raising=False)
    assert Progress(stream=Tty()).enabled
    assert not Progress(stream=io.StringIO()).enabled
    monkeypatch.setenv("CI", "true")
    assert not Progress(stream=Tty()).enabled
    out = Tty()
    bar = Progress(enabled=True, stream=out, delay_s=0.0)
    bar.update(3, 10, "entries")
    bar.close()
    assert "3/10 entries" in out.getvalue()


# --------------------------------------------------------------------------- input validation
@pytest.mark.parametrize("option, value, match", [
    ("directions", 0, "directions=0"),
    ("directions", 2.5, "directions=2.5"),
    ("method", "forward", "method='forward'"),
    ("seed", -1, "seed=-1"),
    ("localize", "yes", "localize='yes'"),
    ("max_named", 0, "max_named=0"),
    ("typical", 0.0, "typical=0.0"),
    ("safety", 0.5, "safety=0.5"),
    ("target", 2.0, "target=2.0"),
    ("sample", -1, "sample=-1"),
    ("per_entry", -3, "per_entry=-3"),
    ("workers", 0, "workers=0"),
    ("budget_s", 0, "budget_s=0"),
    ("progress", "on", "progress='on'"),
])
def test_invalid_options_are_named(option, value, match):
    net = RowMLP(4, n_in=2, n_out=2)
    with pytest.raises(InvalidArgumentError, match=match):
        check_grad_directional(net.loss, net.grad, net.params, **{option: value})


def test_bad_gradient_and_parameters_are_named():
    net = RowMLP(4, n_in=2, n_out=2)
    with pytest.raises(NonFiniteError, match="'W2'"):
        check_grad_directional(net.loss, lambda p: {**net.grad(p), "W2": np.full((4, 4), np.nan)}, net.params)
    with pytest.raises(InvalidArgumentError, match="typical"):
        check_grad_directional(net.loss, net.grad, net.params, typical={"W9": 1.0})


def test_workers_as_a_process_count_and_a_bare_array_parameter():
    rng = np.random.default_rng(3)
    A, b = rng.normal(size=(12, 40)), rng.normal(size=12)
    r = check_grad_directional(_LeastSquares(A, b), _LeastSquaresGrad(A, b), rng.normal(size=40), per_entry=6,
                               workers=1)
    assert r.ok and r.n_subset == 6 and set(r.shapes) == {"params"}


class _LeastSquares:
    def __init__(self, A, b):
        self.A, self.b = A, b

    def __call__(self, x):
        return 0.5 * np.sum((self.A @ x - self.b) ** 2)


class _LeastSquaresGrad(_LeastSquares):
    def __call__(self, x):
        return self.A.T @ (self.A @ x - self.b)
