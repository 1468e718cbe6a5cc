"""The second-order subpackage keeps its shape: imports go one way, no long positional lists."""

from __future__ import annotations

import ast
from pathlib import Path

import gradcheck

SECOND = Path(gradcheck.__file__).resolve().parent / "checks" / "second"

ORDER = ("_settings", "_fd", "_result", "_diagnose", "_layout", "_reference", "_judge", "_matrix_result", "_gn",
         "_hvp", "_checks")
"""Each module may import only those before it (``__init__`` only ``_checks``, ``_gn`` and ``_result``)."""


def _siblings(path: Path) -> set[str]:
    """The modules of the subpackage that ``path`` imports (``from ._x import ...``)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            out.add(node.module or "")
    return out


def test_every_module_is_placed() -> None:
    assert {p.stem for p in SECOND.glob("*.py")} == {*ORDER, "__init__"}


def test_imports_go_one_way() -> None:
    for k, name in enumerate(ORDER):
        later = _siblings(SECOND / f"{name}.py") - set(ORDER[:k])
        assert not later, f"{name} imports {sorted(later)}, which come after it"
    assert _siblings(SECOND / "__init__.py") == {"_checks", "_gn", "_result"}


def test_the_checker_sees_a_backward_import(tmp_path: Path) -> None:
    bad = tmp_path / "m.py"
    bad.write_text("from ._checks import check_hessian\nfrom .. import _status\n")
    assert _siblings(bad) == {"_checks"}


def test_no_function_takes_more_than_seven_positional_parameters() -> None:
    long = [
        f"{p.name}:{node.name}"
        for p in SECOND.glob("*.py")
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.FunctionDef) and len(node.args.posonlyargs) + len(node.args.args) > 7
    ]
    assert long == []


def test_the_public_names_resolve_lazily_to_the_subpackage() -> None:
    for name in ("check_hessian", "check_hvp", "check_gauss_newton", "assert_hessian", "assert_hvp",
                 "assert_gauss_newton", "GaussNewton", "HessianCheckResult", "BlockResult", "HVPCheckResult",
                 "VectorResult"):
        assert getattr(gradcheck, name).__module__.startswith("gradcheck.checks.second."), name
