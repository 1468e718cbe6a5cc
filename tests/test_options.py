"""One option, one check, one message, whatever entry point it is given to; ``resolution``
means the same in every mode; NaN becomes null in one place.

The invalid-call table runs each bad value of a shared option through every entry that takes it
(check_grad entry by entry, check_grad along directions, check_grad_directional, check_hessian,
check_hvp) and asserts they all refuse it with the very same message.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import fields
from typing import Any

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.checks.directional import _engine
from gradcheck.checks.directional._engine import DirectionalOptions, check_grad_directional
from gradcheck.checks.second import _result as second_result
from gradcheck.judge._result import json_float


def sq(x: Any) -> float:
    return float(np.sum(np.sin(x)) + 0.5 * np.sum(np.asarray(x) ** 2))


def dsq(x: Any) -> Any:
    return np.cos(x) + np.asarray(x, dtype=float)


def hsq(x: Any) -> Any:
    return np.diag(1 - np.sin(x))


def hvpsq(x: Any, v: Any) -> Any:
    return (1 - np.sin(x)) * v


X = np.linspace(-1.0, 1.0, 4)

ENTRIES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "check_grad": lambda kw: gc.check_grad(sq, dsq, X, **kw),
    "check_grad directional mode": lambda kw: gc.check_grad(sq, dsq, X, mode="directional", **kw),
    "check_grad directional={...}": lambda kw: gc.check_grad(sq, dsq, X, directional=kw),
    "check_grad_directional": lambda kw: check_grad_directional(sq, dsq, X, **kw),
    "check_hessian": lambda kw: gc.check_hessian(sq, hsq, X, **kw),
    "check_hvp": lambda kw: gc.check_hvp(sq, hvpsq, X, **kw),
}

CG, CGD_MODE, CG_DICT, CGD, HESS, HVP = ENTRIES
INVALID = [
    # option, bad value, the entries that take it
    ("method", "centered", [CG, CGD_MODE, CGD, HESS, HVP]),
    ("safety", 0.5, [CG, CGD_MODE, CGD, HESS, HVP]),
    ("safety", float("inf"), [CG, CGD_MODE, CGD, HESS, HVP]),
    ("safety", True, [CG, CGD_MODE, CGD, HESS, HVP]),
    ("step", 2.0, [CG, CGD_MODE, HESS, HVP]),
    ("typical", -1.0, [CG, CGD_MODE, CGD, HESS, HVP]),
    ("typical", 0, [CG, CGD_MODE, CGD, HESS, HVP]),
    ("max_entries", 0, [CG, CGD_MODE, HESS, HVP]),
    ("max_entries", 2.0, [CG, CGD_MODE, HESS, HVP]),
    ("seed", -1, [CG_DICT, CGD, HESS, HVP]),
    ("seed", 1.5, [CG_DICT, CGD, HESS, HVP]),
    ("workers", 0, [CG, CGD_MODE, CG_DICT, CGD]),
    ("progress", "on", [CG, CGD_MODE, CG_DICT, CGD]),
    ("resolution", 2.0, [CG, CGD_MODE]),
    ("resolution", 0.0, [CG, CGD_MODE]),
    ("directions", 0, [CG_DICT, CGD]),
    ("sample", -1, [CG_DICT, CGD]),
    ("budget_s", 0, [CG_DICT, CGD]),
]


def _message(entry: str, option: str, value: Any) -> str:
    with pytest.raises(gc.InvalidArgumentError) as info:
        ENTRIES[entry]({option: value})
    return str(info.value)


@pytest.mark.parametrize(("option", "value", "entries"), INVALID, ids=[f"{o}={v!r}" for o, v, _ in INVALID])
def test_a_bad_value_reads_the_same_from_every_entry(option: str, value: Any, entries: list[str]) -> None:
    messages = {entry: _message(entry, option, value) for entry in entries}
    first = messages[entries[0]]
    assert first.startswith(f"{option}={value!r}: expected "), first
    assert all(m == first for m in messages.values()), messages


def test_target_is_resolution_under_its_directional_name() -> None:
    """check_grad_directional's ``target`` is check_grad's ``resolution``: the same rule, the same words."""
    for bad in (2.0, 0.0, -1e-3, "fine"):
        by_resolution = _message(CG, "resolution", bad)
        by_target = _message(CGD, "target", bad)
        assert by_target == by_resolution.replace("resolution=", "target=", 1)


def test_directional_values_are_checked_at_check_grads_boundary_in_any_mode() -> None:
    """``directional={'directions': 0}`` is refused before any evaluation, even where the mode
    chosen is entry by entry and the directional check would never run."""
    calls = []

    def counted(x: Any) -> float:
        calls.append(1)
        return sq(x)

    with pytest.raises(gc.InvalidArgumentError, match=r"^directions=0: expected an integer >= 1"):
        gc.check_grad(counted, dsq, X, mode="entries", directional={"directions": 0})
    assert not calls


def test_a_directional_check_takes_only_its_methods() -> None:
    with pytest.raises(gc.InvalidArgumentError, match="method='forward': a directional check takes one of"):
        check_grad_directional(sq, dsq, X, method="forward")


def test_second_order_takes_one_typical_for_all() -> None:
    with pytest.raises(gc.InvalidArgumentError, match="second-order checks take one positive number"):
        gc.check_hessian(sq, hsq, X, typical={"params": 1.0})


def test_directional_options_and_check_grad_directional_agree_on_defaults() -> None:
    """The keyword defaults of the public function are those of the options it builds."""
    sig = inspect.signature(check_grad_directional).parameters
    for f in fields(DirectionalOptions):
        assert sig[f.name].default == f.default, f.name
    assert set(sig) - {f.name for f in fields(DirectionalOptions)} == {"loss", "grad", "params", "name"}


# --------------------------------------------------------------------------- resolution: one meaning
def _coarse_loss(x: Any) -> float:
    """A loss far above its derivative's size: the bars cannot resolve a relative 1e-6."""
    return 1e8 + 1e-4 * float(np.sum(np.asarray(x) ** 2))


def _coarse_grad(x: Any) -> Any:
    return 2e-4 * np.asarray(x, dtype=float)


COARSE_X = np.linspace(0.5, 1.5, 50)


@pytest.mark.parametrize("mode", ["entries", "directional"])
def test_resolution_none_accepts_whatever_the_check_reaches_in_every_mode(mode: str) -> None:
    strict = gc.check_grad(_coarse_loss, _coarse_grad, COARSE_X, mode=mode)
    assert strict.verdict == "inconclusive"
    loose = gc.check_grad(_coarse_loss, _coarse_grad, COARSE_X, mode=mode, resolution=None)
    assert loose.verdict == "pass", str(loose)


def test_directional_resolution_none_passes_through_as_target_none() -> None:
    r = gc.check_grad(_coarse_loss, _coarse_grad, COARSE_X, mode="directional", resolution=None)
    assert r.target is None and r.to_dict()["target"] is None
    assert check_grad_directional(_coarse_loss, _coarse_grad, COARSE_X, target=None).verdict == "pass"
    kept = gc.check_grad(_coarse_loss, _coarse_grad, COARSE_X, mode="directional", resolution=1e-6)
    assert kept.target == 1e-6 and kept.verdict == "inconclusive" and "cannot resolve" in kept.reason


def test_resolution_none_still_fails_a_wrong_gradient_along_directions() -> None:
    def slipped(x: Any) -> Any:
        g = dsq(x)
        g[2] *= 1.01
        return g

    r = gc.check_grad(sq, slipped, X, mode="directional", resolution=None)
    assert r.verdict == "FAIL" and [e.index for e in r.mismatches["params"]] == [(2,)]


@pytest.mark.parametrize("mode", ["entries", "directional"])
def test_resolution_one_is_accepted_by_every_mode(mode: str) -> None:
    assert gc.check_grad(sq, dsq, X, mode=mode, resolution=1).ok
    assert check_grad_directional(sq, dsq, X, target=1).ok


# --------------------------------------------------------------------------- NaN to null, once
def test_nan_to_null_is_one_function() -> None:
    assert _engine._num is json_float and second_result._num is json_float
    assert [json_float(v) for v in (np.nan, np.inf, -np.inf, None, np.float32(2.5), 3)] == [None, None, None, None,
                                                                                           2.5, 3.0]
