"""check_vjp / check_jvp on numpy rules: each claimed property on a real case, right and wrong."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck
from gradcheck.core import _recording

RNG = np.random.default_rng(7)
A = RNG.standard_normal((4, 3))
X = {"a": np.array([0.1, -0.3, 0.5]), "b": np.array([1.0, 2.0, -1.0, 0.5])}


def f(x):
    return np.tanh(A @ x["a"]) * x["b"]


def vjp(x, w):
    t = np.tanh(A @ x["a"])
    return {"a": A.T @ (w * x["b"] * (1 - t**2)), "b": w * t}


def jvp(x, v):
    t = np.tanh(A @ x["a"])
    return x["b"] * (1 - t**2) * (A @ v["a"]) + t * v["b"]


def test_a_right_vjp_passes_with_its_draws_reported() -> None:
    r = gradcheck.check_vjp(f, vjp, X, seed=3)
    assert r.ok and set(r.params) == {"a", "b"}
    assert "3 Gaussian draws of np.random.default_rng(3)" in r.notes[0]
    assert r.params["a"].derivative_shape == (3, 3) and r.params["b"].derivative_shape == (3, 4)  # draw, entry
    assert all(p.resolution < 1e-6 for p in r.params.values())


def test_a_vjp_that_ignores_its_cotangent_is_caught_on_that_input() -> None:
    def bad(x, w):
        t = np.tanh(A @ x["a"])
        return {"a": A.T @ (w * x["b"] * (1 - t**2)), "b": t}  # the cotangent left out

    r = gradcheck.check_vjp(f, bad, X)
    assert not r.ok and r.params["a"].ok and r.params["b"].failed
    assert {e.index[0] for e in r.params["b"].mismatches} <= {0, 1, 2} and len(r.params["b"].mismatches[0].index) == 2


def test_a_transposed_vjp_is_caught_and_named() -> None:
    M = RNG.standard_normal((3, 3))

    def g(W):
        return np.sin(W) @ M

    def wrong(W, w):
        return (np.cos(W) * (w @ M.T)).T  # transposed

    r = gradcheck.check_vjp(g, wrong, RNG.standard_normal((3, 3)))
    assert r.failed and r.params["x"].n_mismatched > 0
    assert gradcheck.check_vjp(g, lambda W, w: np.cos(W) * (w @ M.T), RNG.standard_normal((3, 3))).ok


def test_a_product_of_the_wrong_shape_is_named() -> None:
    with pytest.raises(gradcheck.ShapeMismatchError, match=r"input 'x' has shape \(2, 3\), expected \(3, 2\) \(the transpose"):
        gradcheck.check_vjp(np.sin, lambda x, w: (np.cos(x) * w).T, np.ones((3, 2)))


def test_a_vjp_writing_to_its_cotangent_is_refused() -> None:
    def writes(x, w):
        w *= 2.0
        return vjp(x, w / 2.0)

    with pytest.raises(gradcheck.MutatingFunctionError, match=r"cotangent: output 'out' changed at index \(0,\)"):
        gradcheck.check_vjp(f, writes, X)


def test_a_vjp_writing_to_its_input_is_refused_and_the_callers_arrays_are_kept() -> None:
    x = {k: v.copy() for k, v in X.items()}

    def writes(p, w):
        p["a"][1] = 0.0
        return vjp(p, w)

    with pytest.raises(gradcheck.MutatingFunctionError, match="'a' changed at index"):
        gradcheck.check_vjp(f, writes, x)
    assert all(np.array_equal(x[k], X[k]) for k in X)


def test_the_draws_are_reproducible_from_the_seed() -> None:
    r1, r2 = gradcheck.check_vjp(f, vjp, X, seed=5), gradcheck.check_vjp(f, vjp, X, seed=5)
    r3 = gradcheck.check_vjp(f, vjp, X, seed=6)
    assert r1.params["a"].max_abs_error == r2.params["a"].max_abs_error
    assert r1.params["a"].worst.numeric != r3.params["a"].worst.numeric


def test_a_right_jvp_passes_and_a_wrong_one_names_its_input_and_factor() -> None:
    assert gradcheck.check_jvp(f, jvp, X).ok

    def bad(x, v):
        t = np.tanh(A @ x["a"])
        return x["b"] * (1 - t**2) * (A @ v["a"]) + 2 * t * v["b"]

    r = gradcheck.check_jvp(f, bad, X, tangents=2)
    assert r.params["a"].ok and r.params["b"].failed
    assert "2 x numerical" in r.params["b"].diagnosis
    assert r.params["b"].mismatches[0].index[0] in range(4)  # an output entry


def test_mapping_outputs_are_concatenated_and_said_so() -> None:
    def two(x):
        return {"y": np.sin(x), "z": np.cos(x[:2])}

    def two_jvp(x, v):
        return {"y": np.cos(x) * v, "z": -np.sin(x[:2]) * v[:2]}

    def two_vjp(x, w):
        g = np.cos(x) * w["y"]
        g[:2] -= np.sin(x[:2]) * w["z"]
        return g

    x = np.array([0.3, 0.7, -1.1])
    assert gradcheck.check_vjp(two, two_vjp, x).ok
    r = gradcheck.check_jvp(two, two_jvp, x)
    assert r.ok and any("'z' (2,) at [3, 5)" in n for n in r.notes)


def test_one_record_per_check() -> None:
    seen = []
    handle = _recording.listen(seen.append)
    try:
        gradcheck.check_vjp(f, vjp, X, cotangents=2)
        gradcheck.check_jvp(f, jvp, X, tangents=2)
    finally:
        _recording.unlisten(handle)
    assert [s.function for s in seen] == ["vjp (VJP of f)", "jvp (JVP of f)"]


@pytest.mark.parametrize(("kw", "match"), [({"cotangents": 0}, "cotangents=0"), ({"seed": -1}, "seed=-1"),
                                           ({"mode": "directional"}, "mode="), ({"safety": 0.5}, "safety=0.5")])
def test_bad_options_are_named(kw, match) -> None:
    with pytest.raises(gradcheck.InvalidArgumentError, match=match):
        gradcheck.check_vjp(f, vjp, X, **kw)


def test_assert_vjp_raises_with_the_result() -> None:
    with pytest.raises(gradcheck.GradientMismatch) as info:
        gradcheck.assert_vjp(f, lambda x, w: {"a": 0 * x["a"], "b": w}, X)
    assert info.value.result.failed


def test_a_vjp_that_ignores_its_cotangent_is_diagnosed_as_not_linear() -> None:
    r = gradcheck.check_vjp(np.sin, lambda x, w: np.cos(x), np.array([0.2, 0.4, 0.9]))
    assert r.failed and r.params["x"].diagnosis.startswith("the product is not linear in the cotangent")
    wrong_factor = gradcheck.check_vjp(np.sin, lambda x, w: 2 * np.cos(x) * w, np.array([0.2, 0.4, 0.9]))
    assert "not linear" not in wrong_factor.params["x"].diagnosis
