"""gradcheck.jax: custom_vjp / custom_jvp rules judged against float64 evidence.

Skipped with the reason where jax is absent, except in CI (CI=true), which installs it.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import gradcheck

if os.environ.get("CI") == "true":
    import jax  # CI installs the jax extra (.ci/run): its absence is a failure, not a skip
else:
    jax = pytest.importorskip("jax", reason="gradcheck.jax needs jax: pip install 'gradcheck[jax]'")

import jax.numpy as jnp  # noqa: E402

import gradcheck.jax as gj  # noqa: E402


def test_ci_has_jax() -> None:
    assert jax.__version__


def _softplus(factor_w: float = 1.0):
    @jax.custom_vjp
    def softplus(x, w):
        return jnp.log1p(jnp.exp(x * w))

    def fwd(x, w):
        return softplus(x, w), (x, w)

    def bwd(res, g):
        x, w = res
        s = jax.nn.sigmoid(x * w)
        return g * s * w, factor_w * g * s * x

    softplus.defvjp(fwd, bwd)
    return softplus


RNG = np.random.default_rng(0)
X, W = RNG.standard_normal(6), RNG.standard_normal(6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, jnp.bfloat16], ids=lambda d: np.dtype(d).name)
def test_a_right_custom_vjp_passes_in_every_dtype(dtype) -> None:
    r = gj.check_vjp(_softplus(), (X.astype(dtype), W.astype(dtype)), cotangents=2)
    assert r.ok, str(r)
    assert set(r.params) == {"x", "w"}
    assert r.params["x"].dtype == np.dtype(dtype).name


@pytest.mark.parametrize("dtype", [np.float64, jnp.bfloat16], ids=lambda d: np.dtype(d).name)
def test_a_wrong_factor_is_caught_on_its_input(dtype) -> None:
    r = gj.check_vjp(_softplus(factor_w=2.0), (X.astype(dtype), W.astype(dtype)), cotangents=1)
    assert r.params["x"].ok and r.params["w"].failed


@jax.custom_jvp
def cube(x):
    return x**3


@cube.defjvp
def _cube_jvp(primals, tangents):
    (x,), (v,) = primals, tangents
    return x**3, 3 * x**2 * v


@jax.custom_jvp
def cube_wrong(x):
    return x**3


@cube_wrong.defjvp
def _cube_wrong_jvp(primals, tangents):
    (x,), (v,) = primals, tangents
    return x**3, 2 * x**2 * v


def test_custom_jvp_rules_and_x64_left_as_it_was() -> None:
    before = jax.config.jax_enable_x64
    assert gj.check_jvp(cube, (X,), tangents=1).ok
    r = gj.check_jvp(cube_wrong, (X,), tangents=1)
    assert r.params["x"].failed and "2/3" in r.params["x"].diagnosis
    assert gj.check_vjp(cube, (X.astype(np.float16),), cotangents=1).ok  # the custom_jvp rule, transposed
    assert jax.config.jax_enable_x64 == before


def test_assert_vjp_raises() -> None:
    with pytest.raises(gradcheck.GradientMismatch):
        gj.assert_vjp(_softplus(factor_w=0.5), (X, W), cotangents=1)


def test_a_rule_registered_as_a_derivation() -> None:
    d = gj.register(name="tests.jax.softplus_bad", fn=_softplus(factor_w=2.0),
                    make=lambda rng, n=5: (rng.standard_normal(n), rng.standard_normal(n)), replace=True)
    r = d.check(seed=0)
    assert r.params["x"].ok and r.params["w"].failed
