"""Layering: the CLI and the report runner reach the core only through its public API.

Read from the source with ``ast`` rather than by importing, so a private import is found
even on a code path the other tests do not run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gradcheck

PACKAGE = Path(gradcheck.__file__).resolve().parent


def _imports(path: Path) -> list[tuple[str, str]]:
    """``(module, name)`` for every import in ``path``, modules resolved to dotted names under ``gradcheck``."""
    package = ".".join(("gradcheck", *path.relative_to(PACKAGE).parent.parts))
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            else:
                module = node.module or ""
            found += [(module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
    return found


def _private(module: str, name: str, own_package: str) -> bool:
    """A private module or name of gradcheck outside ``own_package``."""
    if not (module == "gradcheck" or module.startswith("gradcheck.")):
        return False
    if module.startswith(own_package + ".") or module == own_package:
        return False
    parts = module.split(".")[1:] + ([name] if name else [])
    return any(p.startswith("_") and not (p.startswith("__") and p.endswith("__")) for p in parts)


@pytest.mark.parametrize(("path", "own", "allowed"), [
    ("cli.py", "gradcheck.cli", set()),
    ("__main__.py", "gradcheck.__main__", set()),
    ("report/_run.py", "gradcheck.report", set()),
    # the plugin's hooks into the core are private by design: the listener the core emits to,
    # the naming rule the core itself uses, and the failure headline assert_* raises with
    ("pytest_plugin.py", "gradcheck.pytest_plugin", {"gradcheck._recording", "gradcheck._naming",
                                                      "gradcheck._headline"}),
])
def test_no_private_imports_from_the_core(path: str, own: str, allowed: set[str]) -> None:
    leaks = [f"{m}:{n}" for m, n in _imports(PACKAGE / path)
             if _private(m, n, own) and m not in allowed and f"{m}.{n}" not in allowed]
    assert leaks == []


def test_the_checker_finds_a_private_import(tmp_path: Path) -> None:
    """The test above can fail: the same rule flags the imports the runner and CLI used to make."""
    assert _private("gradcheck", "_fd", "gradcheck.report")
    assert _private("gradcheck.report._terminal", "render_summary", "gradcheck.cli")
    assert not _private("gradcheck.report._model", "Case", "gradcheck.report")
    assert not _private("gradcheck.report", "render_summary", "gradcheck.cli")
