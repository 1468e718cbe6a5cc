"""The straight-line gradient program equals the CSE route it replaced, to rounding, in float64 and at 50 digits."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from gradcheck import registry, symbolic
from gradcheck.symbolic._oracle import reference_values
from tests.test_symbolic_registry import TINY

BACKENDS = ["sympy"] + (["symengine"] if symbolic.symengine_available() else [])
ALL = [d.name for d in registry.derivations()]
rng = np.random.default_rng(3)


def _close(a: dict, b: dict, rtol: float = 1e-12) -> None:
    scale = max(float(np.abs(v).max()) for v in b.values()) or 1.0
    for k in b:
        assert a[k].shape == b[k].shape
        err = float(np.abs(a[k] - b[k]).max())
        assert err <= rtol * scale, f"{k}: max |program - reference| = {err:.3g}, scale {scale:.3g}"


@pytest.mark.parametrize("name", ALL)
def test_every_registered_derivation_matches_the_cse_route(name: str) -> None:
    d = registry.get(name)
    problem = d.problem(2, **TINY.get(name, {}))
    f, _ = d.bind(problem)
    kind = "grad" if d.kind == "grad" else "jacobian"
    be = BACKENDS[-1]
    new = symbolic.derivation_gradient(d, problem, backend=be, cache=False)
    assert new.ok, new.reason
    _close(new.value, reference_values(f, problem.params, kind=kind, backend=be))


X = rng.normal(size=(5, 3))
T = rng.normal(size=(5, 2))


def _mlp(p: dict) -> object:
    h = np.tanh(X @ p["W1"] + p["b1"])
    return 0.5 * np.sum((h @ p["W2"] - T) ** 2) + 1e-3 * np.sum(p["W1"] ** 2)


def _softmax_ce(p: dict) -> object:
    z = X @ p["W1"][:, :2] * 300.0                        # logits of a few hundred: the shift matters
    return np.sum(np.log(np.sum(np.exp(z), axis=1)) - z[:, 0])


def _odd_forms(p: dict) -> object:
    w = p["W1"].ravel()
    return (np.sum(np.sqrt(1.5 + w ** 2)) + np.sum(1 / (2 + w)) + np.prod(1 + w[:4] / 10) + np.sum(np.abs(w))
            + np.sum(np.maximum(w, 0.1 * w)) + np.sum(np.sin(w) * np.cos(w)) + np.sum(2.0 ** w) + np.sum(w ** w ** 2))


def _params() -> dict:
    return {"W1": rng.normal(size=(3, 4)), "b1": rng.normal(size=4), "W2": rng.normal(size=(4, 2))}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("loss", [_mlp, _softmax_ce, _odd_forms], ids=["mlp", "softmax_ce", "odd_forms"])
def test_plain_numpy_losses_match_the_cse_route(loss, backend: str) -> None:
    p = _params()
    p["W1"] = np.abs(p["W1"]) + 0.1 if loss is _odd_forms else p["W1"]      # w ** w ** 2 needs w > 0
    new = symbolic.gradient(loss, p, backend=backend, cache=False)
    _close(new.value, reference_values(loss, p, backend=backend))
    assert all(np.isfinite(v).all() for v in new.value.values())


def test_the_exact_route_runs_the_same_program_at_50_digits() -> None:
    p = _params()
    d = symbolic.gradient(_softmax_ce, p, exact=True, cache=False)
    for k in ("W1",):
        ex = d.exact_value[k]
        as_float = np.vectorize(float)(ex)
        np.testing.assert_allclose(d.value[k], as_float, rtol=1e-12, atol=1e-300)
        assert np.all(np.abs(d.value[k] - as_float) <= d.error[k])      # the measured error bounds the distance
        assert all(isinstance(v, mpmath.mpf) for v in ex.ravel())
    # 50 digits means the constants are exact: the gradient of sum(x / 3) is 1/3 to 50 digits, not to 17
    with mpmath.workdps(50):
        third = symbolic.gradient(lambda x: np.sum(x / 3), np.ones(2), exact=True, cache=False).exact_value["params"][0]
        assert abs(third - mpmath.mpf(1) / 3) < mpmath.mpf(10) ** -45


@pytest.mark.parametrize("backend", BACKENDS)
def test_kink_conventions_survive_the_program(backend: str) -> None:
    """ReLU slope 0 at 0, the first tied argument of a max, abs slope 0: as the CSE route printed them."""
    x = np.array([0.0, 1.0, -1.0, 2.0])
    f = lambda v: np.sum(np.maximum(v, 0.0)) + np.max(np.stack([v[3], 2 * v[1]])) + np.abs(v[0])  # noqa: E731
    d = symbolic.gradient(f, x, backend=backend, cache=False)
    np.testing.assert_array_equal(d.array(), reference_values(f, x, backend=backend)["params"])
    np.testing.assert_array_equal(d.array(), [0.0, 1.0, 0.0, 2.0])
    assert d.kink["params"][[0, 1, 3]].all() and not d.kink["params"][2]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_cache_reruns_the_program_at_a_new_point(backend: str) -> None:
    symbolic.clear_cache()
    p = _params()
    first = symbolic.gradient(_mlp, p, backend=backend)
    q = {k: v * 0.7 for k, v in p.items()}
    second = symbolic.gradient(_mlp, q, backend=backend)
    assert not first.cached and second.cached
    _close(second.value, reference_values(_mlp, q, backend=backend))


def test_a_point_where_mpmath_raises_is_a_note_not_a_crash() -> None:
    """float64 gives -inf for d(1/x) at 0; mpmath divides by zero: the result says so and keeps the float value."""
    d = symbolic.gradient(lambda x: np.sum(1 / x), np.array([0.0, 2.0]), exact=True, cache=False)
    assert d.exact_value is None and any("exact evaluation failed" in n for n in d.notes)
    assert d.array()[1] == -0.25 and d.array()[0] == -np.inf
