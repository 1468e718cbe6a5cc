"""The listener hook through which the pytest plugin sees every check, fixture or not."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gradcheck
from gradcheck.core import _recording

PACKAGE = str(Path(gradcheck.__file__).resolve().parent)


@pytest.fixture
def heard() -> Iterator[list[Any]]:
    results: list[Any] = []
    handle = _recording.listen(results.append)
    yield results
    _recording.unlisten(handle)


def test_listeners_hear_in_order_until_they_unlisten() -> None:
    log: list[tuple[str, Any]] = []
    a = _recording.listen(lambda r: log.append(("a", r)))
    b = _recording.listen(lambda r: log.append(("b", r)))
    _recording.emit(1)
    _recording.unlisten(a)
    _recording.unlisten(a)  # idempotent
    _recording.emit(2)
    _recording.unlisten(b)
    _recording.emit(3)
    assert log == [("a", 1), ("b", 1), ("b", 2)]


def test_listen_rejects_what_it_cannot_call() -> None:
    with pytest.raises(TypeError, match="callback=3"):
        _recording.listen(3)  # type: ignore[arg-type]


def test_every_check_is_emitted_once(heard: list[Any]) -> None:
    a = np.arange(6.0).reshape(3, 2)
    r1 = gradcheck.check_grad(lambda x: float(np.sum(x**2)), lambda x: 2 * x, np.ones(2))
    r2 = gradcheck.assert_grad(lambda x: float(np.sum(x**2)), lambda x: 2 * x, np.ones(2))
    r3 = gradcheck.check_jacobian(lambda x: a @ x, lambda x: a, np.ones(2))
    with pytest.raises(gradcheck.GradientMismatch) as info:
        gradcheck.assert_grad(lambda x: float(np.sum(x**2)), lambda x: 3 * x, np.ones(2))
    gradcheck.numerical_grad(lambda x: float(np.sum(x**2)), np.ones(2))  # an estimate, not a check
    assert [id(r) for r in heard] == [id(r1), id(r2), id(r3), id(info.value.result)]


def test_the_recording_module_imports_nothing_but_the_standard_library() -> None:
    """Imported without gradcheck's __init__ (which loads the core), it must not pull numpy in."""
    code = (f"import sys, types; pkg = types.ModuleType('gradcheck'); pkg.__path__ = [{PACKAGE!r}]; "
            "sys.modules['gradcheck'] = pkg; import gradcheck.core._recording, gradcheck.core._naming; "
            "print(sorted(m for m in ('numpy', 'gradcheck.checks._first_order', 'hypothesis') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
