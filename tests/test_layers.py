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
    # the plugin's two hooks into the core are private by design: the listener the core
    # emits to, and the naming rule the core itself uses
    ("pytest_plugin.py", "gradcheck.pytest_plugin", {"gradcheck._recording", "gradcheck._naming"}),
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


# --------------------------------------------------------------------------- one engine
def _module_imports(package_dir: Path, package: str) -> dict[str, set[str]]:
    """Module -> the sibling modules of ``package`` it imports, at any depth (a function-level
    import closes a cycle as surely as a top-level one)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(package_dir.glob("*.py")):
        name = f"{package}.{path.stem}" if path.stem != "__init__" else package
        graph[name] = set()
        for module, alias in _imports_under(path, package_dir, package):
            for target in (module, f"{module}.{alias}"):
                if target != name and target.startswith(package + ".") and target.count(".") == package.count(".") + 1:
                    graph[name].add(target)
    return graph


def _imports_under(path: Path, package_dir: Path, package: str) -> list[tuple[str, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            else:
                module = node.module or ""
            found += [(module, alias.name) for alias in node.names]
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as a path of modules, or [] when there is none."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str]:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        state[m] = 2
        stack.pop()
        return []

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return []


def test_formula_has_no_import_cycle() -> None:
    graph = _module_imports(PACKAGE / "formula", "gradcheck.formula")
    assert "gradcheck.formula._points" in graph["gradcheck.formula._symbolic"]  # the graph is really read
    assert _cycle(graph) == []


def test_the_cycle_finder_finds_a_cycle(tmp_path: Path) -> None:
    """The test above can fail: the function-level import _symbolic -> _verify that existed is a cycle."""
    (tmp_path / "_verify.py").write_text("from ._symbolic import matrix_check\n")
    (tmp_path / "_symbolic.py").write_text("def _point():\n    from ._verify import draw_point\n")
    graph = _module_imports(tmp_path, "pkg")
    assert _cycle(graph) in (["pkg._symbolic", "pkg._verify", "pkg._symbolic"],
                             ["pkg._verify", "pkg._symbolic", "pkg._verify"])


ONE_DEFINITION = {
    "zero test": {"_is_zero", "_simplify_zero"},
    "node count": {"_nodes", "_dag_size"},
    "matrix zero": {"_matrix_zero"},
    "layout conversion": {"_to_numerator", "to_numerator"},  # formula/ keeps only a shape check before it
}
"""Each piece of the symbolic engine under every name it has had: ``verify`` (formula/) and
``gradcheck.symbolic`` once had one each; the issue "One engine, one house" asks for one."""


def _definitions(root: Path) -> dict[str, list[str]]:
    """Function name -> the files (relative to ``root``) that define it, at any depth."""
    out: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out.setdefault(node.name, []).append(str(path.relative_to(root)))
    return out


@pytest.mark.parametrize("piece", sorted(ONE_DEFINITION))
def test_each_piece_of_the_engine_is_defined_once(piece: str) -> None:
    defs = _definitions(PACKAGE)
    where = [f for name in sorted(ONE_DEFINITION[piece]) for f in defs.get(name, [])]
    assert len(where) == 1, f"{piece}: defined in {where}"


def test_the_definition_count_sees_a_duplicate(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("def _nodes(e, cap):\n    return 0\n")
    (tmp_path / "b.py").write_text("class K:\n    def _dag_size(self, e):\n        return 0\n")
    defs = _definitions(tmp_path)
    assert [f for n in ONE_DEFINITION["node count"] for f in defs.get(n, [])] in (["a.py", "b.py"], ["b.py", "a.py"])
