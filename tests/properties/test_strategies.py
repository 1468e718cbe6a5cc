"""The public strategies draw what they promise, and reject bad options at the boundary."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcheck import InvalidArgumentError
from gradcheck import strategies as gst

from ._support import all_derivations, examples


@given(st.data(), st.sampled_from(["any", "square", "one_wide", "tall", "wide"]))
def test_matrix_shapes_have_their_kind(data: st.DataObject, kind: gst.ShapeKind) -> None:
    r, c = data.draw(gst.matrix_shapes(kind=kind, max_side=5))
    assert 1 <= r <= 5 and 1 <= c <= 5
    assert {"square": r == c, "one_wide": 1 in (r, c), "tall": r > c, "wide": r < c, "any": True}[kind]


@given(st.data(), gst.matrix_shapes(max_side=4),
       st.sampled_from([(1e-6, 1e6), (1e-3, 1e3), (0.0, 1.0), (2.0, 2.0)]), st.booleans())
def test_arrays_respect_magnitudes(data: st.DataObject, shape: tuple[int, int], bounds: tuple[float, float],
                                   signed: bool) -> None:
    lo, hi = bounds
    x = data.draw(gst.arrays(shape, min_magnitude=lo, max_magnitude=hi, signed=signed))
    assert x.shape == shape and x.dtype == np.float64 and np.all(np.isfinite(x))
    mags = np.abs(x)
    assert np.all(mags <= hi)
    assert np.all((mags >= lo) | ((lo == 0) & (mags == 0)))
    if not signed:
        assert np.all(x >= 0)


def _mean_distinct_fraction(strategy: st.SearchStrategy[Any], of: Callable[[Any], np.ndarray], n: int = 30) -> float:
    """Mean over ``n`` draws (derandomized: the same draws everywhere) of distinct values / entries."""
    fractions: list[float] = []

    @settings(max_examples=n, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value: Any) -> None:
        a = of(value)
        fractions.append(len(np.unique(a)) / a.size)

    collect()
    return float(np.mean(fractions))


@pytest.mark.parametrize(("name", "strategy", "of"), [
    ("arrays", gst.arrays((6, 6), min_magnitude=1e-3, max_magnitude=1e3), np.abs),
    ("arrays from 0", gst.arrays((6, 6), min_magnitude=0.0, max_magnitude=1.0), np.abs),
    ("relu X and W", gst.relu_layers(n=6, d=6, h=6, margin=None), lambda layer: np.stack([layer.X, layer.W])),
], ids=["arrays", "arrays from 0", "relu X and W"])
def test_every_entry_is_drawn_not_filled_with_one_value(name: str, strategy: st.SearchStrategy[Any],
                                                        of: Callable[[Any], np.ndarray]) -> None:
    """hypothesis' default fill repeats one value over most of an array: 12% distinct magnitudes in 6x6
    draws, so 'magnitudes from 1e-3 to 1e3' meant a handful of values. Drawn entry by entry, most differ
    (about 0.65-0.9 of them; hypothesis still tries some all-equal arrays, a fair edge case)."""
    assert _mean_distinct_fraction(strategy, of) > 0.5


@given(st.data(), gst.matrix_shapes(max_side=5), st.sampled_from([1.0, 10.0, 1e4]), st.sampled_from([1e-3, 1.0, 1e3]))
def test_well_conditioned_matrices_bound_the_condition_number(data: st.DataObject, shape: tuple[int, int],
                                                              cond: float, scale: float) -> None:
    a = data.draw(gst.well_conditioned_matrices(shape, max_condition=cond, scale=scale))
    s = np.linalg.svd(a, compute_uv=False)
    assert a.shape == shape
    assert s.min() >= scale * (1 - 1e-9)
    assert s.max() <= scale * cond * (1 + 1e-9)


@examples(2.0)
@given(st.data(), st.sampled_from(all_derivations()))
def test_derivation_params_draw_sizes_in_range(data: st.DataObject, d: Any) -> None:
    drawn, problem = data.draw(gst.derivation_params(d.name))
    assert drawn is d
    f, df = d.bind(problem)
    assert set(df(problem.params)) == set(problem.params)
    assert np.all(np.isfinite(np.asarray(f(problem.params), dtype=float)))


@pytest.mark.parametrize("d", [pytest.param(d, id=d.name) for d in all_derivations()[:3]])
def test_derivation_params_with_everything_pinned_is_the_registry_draw(d: Any) -> None:
    @given(gst.derivation_params(d, sizes=dict(d.sizes), seeds=st.just(7)))
    def inner(pair: Any) -> None:
        ref = d.problem(7)
        assert all(np.array_equal(ref.params[k], pair[1].params[k]) for k in ref.params)

    inner()


@given(gst.relu_layers(n=st.integers(1, 6), d=st.integers(1, 4), h=st.integers(1, 6), margin=1e-3))
def test_relu_layers_keep_preactivations_off_the_kink(layer: gst.ReluLayer) -> None:
    z = layer.X @ layer.W + layer.b
    assert np.array_equal(z, layer.z)
    assert np.abs(z).min() >= 1e-3


@given(st.integers(1, 3), gst.relu_layers(n=st.integers(1, 6), d=st.integers(1, 4), h=st.integers(3, 6),
                                         margin=None, on_kink=3))
def test_relu_layers_put_preactivations_exactly_on_the_kink(_: int, layer: gst.ReluLayer) -> None:
    z = layer.X @ layer.W + layer.b
    assert np.sum(z == 0.0, axis=0).astype(bool).sum() >= 3  # one exact zero in each of 3 columns


# --------------------------------------------------------------------------- invalid calls
INVALID: list[tuple[str, Callable[[], Any], str]] = [
    ("shape kind", lambda: gst.matrix_shapes(kind="diagonal"), "kind='diagonal'"),
    ("min_side 0", lambda: gst.matrix_shapes(min_side=0), "min_side=0"),
    ("max < min", lambda: gst.matrix_shapes(min_side=4, max_side=2), "max_side=2"),
    ("tall, one size", lambda: gst.matrix_shapes(kind="tall", min_side=3, max_side=3), "kind='tall'"),
    ("one_wide, min 2", lambda: gst.matrix_shapes(kind="one_wide", min_side=2), "min_side=2"),
    ("side not int", lambda: gst.matrix_shapes(max_side=2.5), "max_side=2.5"),
    ("bad shape", lambda: gst.arrays((3, 0)), "shape=(3, 0)"),
    ("shape list", lambda: gst.arrays([3, 2]), "shape=[3, 2]"),
    ("negative magnitude", lambda: gst.arrays(3, min_magnitude=-1.0), "min_magnitude=-1.0"),
    ("nan magnitude", lambda: gst.arrays(3, max_magnitude=float("nan")), "max_magnitude=nan"),
    ("swapped magnitudes", lambda: gst.arrays(3, min_magnitude=10.0, max_magnitude=1.0), "max_magnitude=1.0"),
    ("int dtype", lambda: gst.arrays(3, dtype=np.int64), "dtype="),
    ("float32 overflow", lambda: gst.arrays(3, max_magnitude=1e300, dtype=np.float32), "max_magnitude=1e+300"),
    ("signed not bool", lambda: gst.arrays(3, signed="yes"), "signed='yes'"),
    ("condition < 1", lambda: gst.well_conditioned_matrices(3, max_condition=0.5), "max_condition=0.5"),
    ("condition inf", lambda: gst.well_conditioned_matrices(3, max_condition=float("inf")), "max_condition=inf"),
    ("matrix 3-d", lambda: gst.well_conditioned_matrices((2, 2, 2)), "shape=(2, 2, 2)"),
    ("scale 0", lambda: gst.well_conditioned_matrices(3, scale=0.0), "scale=0.0"),
    ("unknown derivation", lambda: gst.derivation_params("least_squares.xx"), "least_squares.xx"),
    ("name not str", lambda: gst.derivation_params(3), "name=3"),
    ("unknown size", lambda: gst.derivation_params("least_squares.x", sizes={"k": 2}), "sizes="),
    ("size 0", lambda: gst.derivation_params("least_squares.x", sizes={"m": 0}), "sizes['m']=0"),
    ("seeds not strategy", lambda: gst.derivation_params("least_squares.x", seeds=3), "seeds=3"),
    ("max_size < min_size", lambda: gst.derivation_params("least_squares.x", min_size=3, max_size=2), "max_size=2"),
    ("relu margin 0", lambda: gst.relu_layers(margin=0.0), "margin=0.0"),
    ("relu on_kink -1", lambda: gst.relu_layers(on_kink=-1), "on_kink=-1"),
    ("relu n 0", lambda: gst.relu_layers(n=0), "n=0"),
    ("relu d bool", lambda: gst.relu_layers(d=True), "d=True"),
]


@pytest.mark.parametrize("call, fragment", [pytest.param(c, f, id=i) for i, c, f in INVALID])
def test_invalid_arguments_are_rejected_when_the_strategy_is_built(call: Callable[[], Any], fragment: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        call()
    assert fragment in str(info.value)
    assert ":" in str(info.value), "the message says what was expected after the name=value"


def test_importing_gradcheck_does_not_import_hypothesis() -> None:
    code = "import sys, gradcheck, gradcheck.registry; print('hypothesis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
