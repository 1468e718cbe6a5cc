"""No function of the package takes more than :data:`MAX_POSITIONAL` positional parameters.

Read from the source with ``ast`` (as :mod:`tests.test_layers` reads imports), so a private
helper counts as much as a public one. Past seven positional arguments a caller must remember an
order (``outside_slopes(value, trunc, rnd, left, right, err_l, err_r, safety)``): per-call state
belongs in a small frozen dataclass. ``self``/``cls`` are not counted; keyword-only parameters
are not positional. A function that must keep more is listed in :data:`ALLOWED` with why.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import gradcheck

PACKAGE = Path(gradcheck.__file__).resolve().parent
MAX_POSITIONAL = 7

ALLOWED: dict[str, str] = {}
"""``path::function`` -> why it keeps more than MAX_POSITIONAL positional parameters."""


def _counts(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """Each function's name and its positional parameters, ``self``/``cls`` aside."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args.posonlyargs + node.args.args
            yield node.name, sum(a.arg not in ("self", "cls") for a in args)


def _positional_counts() -> Iterator[tuple[str, int]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        for name, n in _counts(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            yield f"{path.relative_to(PACKAGE).as_posix()}::{name}", n


def test_no_function_takes_more_than_seven_positional_parameters() -> None:
    over = {where: n for where, n in _positional_counts() if n > MAX_POSITIONAL and where not in ALLOWED}
    assert not over, f"carry per-call state in a frozen dataclass (or add to ALLOWED with why): {over}"


def test_every_allowed_exception_is_still_needed() -> None:
    """An entry of :data:`ALLOWED` that no longer exceeds the limit is removed, so the list stays true."""
    counts = dict(_positional_counts())
    stale = [where for where in ALLOWED if counts.get(where, 0) <= MAX_POSITIONAL]
    assert not stale, f"no longer over {MAX_POSITIONAL} positional parameters (remove from ALLOWED): {stale}"


def test_the_scan_sees_what_it_must() -> None:
    """The scan counts positional parameters, not self and not keyword-only ones."""
    src = ("class A:\n    def m(self, a, b, /, c, *, d, e): ...\n    @classmethod\n    def k(cls, a): ...\n"
           "def f(a, b, c, d, e, f, g, h): ...\nasync def g(*args, **kw): ...\n")
    assert dict(_counts(ast.parse(src))) == {"m": 3, "k": 1, "f": 8, "g": 0}
