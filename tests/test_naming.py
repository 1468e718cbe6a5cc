"""Names of checked functions as a person reads them: no ``<locals>`` chains, lambdas located."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

from gradcheck import InvalidArgumentError
from gradcheck.core._naming import display_name, shorten


def _nested() -> dict[str, Any]:
    def loss(x: Any) -> float:
        return float(np.sum(x))

    class Net:
        def loss(self, x: Any) -> float:
            return float(np.sum(x))

    class Scaled:
        def __call__(self, x: Any) -> float:
            return float(np.sum(x))

    def block() -> Any:
        return lambda x: x  # the shape of slip_cases.<locals>._blk.<locals>.<lambda>

    return {"loss": loss, "method": Net().loss, "instance": Scaled(), "lambda": block(),
            "partial": functools.partial(loss)}


FNS = _nested()
LAMBDA_LINE = FNS["lambda"].__code__.co_firstlineno


@pytest.mark.parametrize(("key", "name"), [
    ("loss", "loss"),
    ("method", "Net.loss"),
    ("instance", "Scaled"),
    ("lambda", f"<lambda> (test_naming.py:{LAMBDA_LINE})"),
    ("partial", "partial(loss)"),
])
def test_display_names_drop_where_a_function_was_defined(key: str, name: str) -> None:
    got = display_name(FNS[key])
    assert got == name and "<locals>" not in got


def test_the_raw_qualname_was_what_reports_showed() -> None:
    assert FNS["lambda"].__qualname__ == "_nested.<locals>.block.<locals>.<lambda>"


def test_two_lambdas_are_told_apart() -> None:
    first = lambda x: x  # noqa: E731
    second = lambda x: x  # noqa: E731
    assert display_name(first) != display_name(second)


def test_module_level_and_builtin_names() -> None:
    assert display_name(display_name) == "display_name"
    assert display_name(np.sum) == "sum"


@pytest.mark.parametrize(("given", "name"), [("my loss", "my loss"), ("", "loss"), (None, "loss")])
def test_a_given_name_wins_and_an_empty_one_falls_back(given: str | None, name: str) -> None:
    assert display_name(FNS["loss"], given) == name


def test_a_given_name_that_is_not_a_string_is_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match=r"name=3: expected a string"):
        display_name(FNS["loss"], 3)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "short"), [
    ("slip_cases.<locals>._blk.<locals>.<lambda>", "<lambda>"),
    ("make.<locals>.Net.loss", "Net.loss"),
    ("Net.loss", "Net.loss"),
    ("<lambda> (test_x.py:3)", "<lambda> (test_x.py:3)"),
])
def test_shorten_is_idempotent(text: str, short: str) -> None:
    assert shorten(text) == short and shorten(short) == short
