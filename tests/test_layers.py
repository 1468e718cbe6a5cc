"""Layering, written once as data: which part of the code base may import which.

Read from the source with ``ast`` rather than by importing, so an import is found even on a
code path the other tests do not run (imports inside functions count). Every module of
``gradcheck`` and ``reference_nets`` is checked against :data:`MAY_IMPORT` and
:data:`PRIVATE_SEAMS`; a new module belongs to a unit already in the table or fails
:func:`test_every_unit_is_in_the_table` until it is added.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import gradcheck
import reference_nets
from gradcheck import registry

PACKAGE = Path(gradcheck.__file__).resolve().parent
ROOTS = {"gradcheck": PACKAGE, "reference_nets": Path(reference_nets.__file__).resolve().parent}

ROOT_UNIT = "gradcheck"
"""``gradcheck/__init__.py``: the public names, loaded lazily from the rooms below it."""

MAY_IMPORT: dict[str, frozenset[str]] = {
    # the engine, bottom up: each room may import the rooms listed, never one above it
    "gradcheck.core": frozenset(),  # errors, options, parameters, the evaluator: what every check stands on
    "gradcheck.ops": frozenset(),  # the array namespaces the losses are written against: numpy and sympy only
    "gradcheck.symbolic": frozenset({"gradcheck.core"}),  # the same loss code traced on symbols
    "gradcheck.oracles": frozenset({"gradcheck.core", "gradcheck.symbolic"}),  # witnesses: estimates with bars
    "gradcheck.judge": frozenset({"gradcheck.core", "gradcheck.oracles"}),  # verdicts, diagnosis, results
    "gradcheck.checks": frozenset({"gradcheck.core", "gradcheck.oracles", "gradcheck.judge"}),  # the modes
    ROOT_UNIT: frozenset({"gradcheck.core", "gradcheck.judge", "gradcheck.checks"}),
    # the public modules built on the engine's internals (they may use its private modules);
    # never reference_nets: the registry loads them by name (registry.BUILTIN_MODULES), so the
    # nets depend on the registry and not the other way round
    "gradcheck.registry": frozenset({ROOT_UNIT, "gradcheck.core", "gradcheck.ops"}),
    "gradcheck.mutations": frozenset({ROOT_UNIT, "gradcheck.core", "gradcheck.registry"}),
    "gradcheck.strategies": frozenset({"gradcheck.core", "gradcheck.registry"}),
    # the framework bridges (optional extras): a torch or jax callable turned into the engine's Program
    "gradcheck.torch": frozenset({"gradcheck.core", "gradcheck.judge", "gradcheck.checks", "gradcheck.registry"}),
    "gradcheck.jax": frozenset({"gradcheck.core", "gradcheck.judge", "gradcheck.checks", "gradcheck.registry"}),
    # the applications: public names only, private ones through PRIVATE_SEAMS
    "gradcheck.report": frozenset({ROOT_UNIT, "gradcheck.core", "gradcheck.judge", "gradcheck.registry",
                                   "gradcheck.symbolic"}),
    "gradcheck.formula": frozenset({ROOT_UNIT, "gradcheck.core", "gradcheck.ops", "gradcheck.symbolic",
                                    "gradcheck.oracles", "gradcheck.judge", "gradcheck.report"}),
    "gradcheck.cli": frozenset({ROOT_UNIT, "gradcheck.registry", "gradcheck.report", "gradcheck.formula"}),  # verify too
    "gradcheck.__main__": frozenset({"gradcheck.cli"}),
    "gradcheck.formula.__main__": frozenset({"gradcheck.cli"}),
    "gradcheck.pytest_plugin": frozenset({ROOT_UNIT, "gradcheck.core", "gradcheck.judge", "gradcheck.report",
                                          "gradcheck.formula"}),
    # derivations are data for the checker: never the report (a net that needs something of it
    # means the derivation does not own it yet)
    "reference_nets": frozenset({"gradcheck.ops", "gradcheck.registry"}),
}
"""Unit -> the other units it may import (a unit may always import itself)."""

INSIDE_THE_ENGINE = frozenset({ROOT_UNIT, "gradcheck.core", "gradcheck.ops", "gradcheck.symbolic",
                               "gradcheck.oracles", "gradcheck.judge", "gradcheck.checks", "gradcheck.registry",
                               "gradcheck.mutations", "gradcheck.strategies", "gradcheck.torch", "gradcheck.jax"})
"""Units that may import the private modules of the units below them; every other unit only their
public names and the :data:`PRIVATE_SEAMS`."""

PRIVATE_SEAMS: dict[str, dict[str, str]] = {
    "*": {"gradcheck.core._errors": "the exception classes (public as gradcheck.<Name>), importable without "
                                    "loading the engine"},
    "gradcheck.report": {"gradcheck.judge._result": "json_float/float_or_nan: the engine's JSON number "
                                                    "convention, so a report reads back exactly what a result "
                                                    "wrote"},
    "gradcheck.formula": {"gradcheck.symbolic._prove": "verify proves with the one prover: its zero test, node "
                                                       "count, matrix-zero test and matrix derivative",
                          "gradcheck.symbolic._array": "verify's interpreter takes the element-wise table, sums, "
                                                       "matmul and determinant of symbolic's arrays",
                          "gradcheck.symbolic._backend": "the sympy backend both translations run on",
                          "gradcheck.core._layout": "the one Jacobian layout conversion",
                          "gradcheck.judge._compare": "verify's symbolic screen is judged by the one judge",
                          "gradcheck.oracles._seam": "the exact derivative handed to the judge as an estimate",
                          "gradcheck.core._options": "the judge's fixed tolerance, as an Options",
                          "gradcheck.core._status": "the judge's status codes"},
    "gradcheck.pytest_plugin": {"gradcheck.core._recording": "the listener the engine emits each check to",
                                "gradcheck.core._naming": "the naming rule the engine itself uses",
                                "gradcheck.judge._headline": "the one-line failure headline assert_* raises with"},
}
"""Importer unit -> private modules of other units it may import, each with why (``*``: any unit)."""


def _module_name(path: Path, root: str) -> str:
    parts = [root, *path.relative_to(ROOTS[root]).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str) -> bool:
    root, *rest = dotted.split(".")
    if root not in ROOTS:
        return False
    base = ROOTS[root].joinpath(*rest)
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _imports(path: Path, root: str) -> list[str]:
    """The dotted target of every import in ``path``: ``from a import b`` is ``a.b`` when ``b`` is a
    module or a private name (so ``from gradcheck import _api`` is private), else ``a``."""
    me = _module_name(path, root)
    package = me.split(".") if path.name == "__init__.py" else me.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.append(sub if _is_module(sub) or _private_part(alias.name) else module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return [t for t in found if t.split(".")[0] in ROOTS]


def _private_part(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def unit(module: str) -> str:
    """The unit a dotted module (or private name) belongs to: a room of ``gradcheck`` (its first
    two parts), the package's own ``__init__``, or ``reference_nets``."""
    parts = module.split(".")
    if parts[0] == "reference_nets":
        return "reference_nets"
    if parts[-1] == "__main__":  # ``python -m``: an entrance of its own, whatever package it sits in
        return module
    return ".".join(parts[:2])


def violation(importer: str, target: str) -> str | None:
    """Why ``importer`` (a module) may not import ``target``, or None when it may."""
    mine, theirs = unit(importer), unit(target)
    if mine == theirs:
        return None
    if theirs not in MAY_IMPORT.get(mine, frozenset()):
        return f"{importer} imports {target}: {mine} may not import {theirs}"
    private = any(_private_part(p) for p in target.split(".")[1:])
    seams = {**PRIVATE_SEAMS["*"], **PRIVATE_SEAMS.get(mine, {})}
    if private and mine not in INSIDE_THE_ENGINE and not any(target == s or target.startswith(s + ".") for s in seams):
        return f"{importer} imports {target}: private to {theirs} and not in PRIVATE_SEAMS[{mine!r}]"
    return None


def _modules() -> Iterator[tuple[str, Path]]:
    for root, directory in ROOTS.items():
        for path in sorted(directory.rglob("*.py")):
            yield root, path


def test_every_unit_is_in_the_table() -> None:
    units = {unit(_module_name(path, root)) for root, path in _modules()}
    assert units - set(MAY_IMPORT) == set(), "add the new unit to MAY_IMPORT"


def test_every_import_follows_the_table() -> None:
    problems = [v for root, path in _modules() for target in _imports(path, root)
                if (v := violation(_module_name(path, root), target)) is not None]
    assert problems == []


def test_the_table_has_no_cycle() -> None:
    """Units form layers: no unit reaches itself through the units it may import."""
    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in MAY_IMPORT.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    assert [u for u in MAY_IMPORT if u in reach(u)] == []


def test_the_rules_can_fail() -> None:
    """Each rule flags the import it is there to forbid, including the ones the code used to make."""
    assert violation("reference_nets.row_mlp", "gradcheck.report")  # a net registering its large sizes
    assert violation("gradcheck.registry", "reference_nets")  # a static import of the built-ins
    assert violation("gradcheck.report._model", "gradcheck.judge._compare")  # a private engine module
    assert violation("gradcheck.formula._sheet", "gradcheck.report._run")  # a private report module
    assert violation("gradcheck.cli", "gradcheck.oracles._fd")
    assert violation("gradcheck.ops", "gradcheck.report")
    assert violation("gradcheck.report._run", "gradcheck.report._model") is None
    assert violation("gradcheck.report._model", "gradcheck.judge._result") is None
    assert violation("gradcheck.mutations", "gradcheck.checks._first_order")  # through the public names
    assert violation("gradcheck.core._evaluator", "gradcheck.checks._cost")  # a room above
    assert violation("gradcheck.oracles._fd_oracle", "gradcheck.judge._compare")  # the judge reads oracles
    assert violation("gradcheck.judge._compare", "gradcheck.oracles._seam") is None
    assert violation("gradcheck.cli", "gradcheck.report") is None
    assert violation("gradcheck.report._run", "gradcheck.symbolic") is None
    assert violation("gradcheck.report._run", "gradcheck.symbolic._prove")
    assert unit("gradcheck.__main__") == "gradcheck.__main__" and unit("gradcheck") == ROOT_UNIT
    assert unit("gradcheck.checks.second._fd") == "gradcheck.checks"


def test_imports_are_resolved_to_modules_and_private_names() -> None:
    source = ROOTS["gradcheck"] / "registry.py"
    targets = _imports(source, "gradcheck")
    assert "gradcheck" in targets and "gradcheck.core._errors" in targets and "gradcheck.ops" in targets


def test_the_registry_names_the_built_ins_only_as_data() -> None:
    """No static import (above), and the one place the name appears is BUILTIN_MODULES."""
    tree = ast.parse((ROOTS["gradcheck"] / "registry.py").read_text())
    literals = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value == "reference_nets"]
    assert len(literals) == 1 and registry.BUILTIN_MODULES == ("reference_nets",)


def test_importing_the_registry_does_not_import_the_nets() -> None:
    code = ("import sys, gradcheck.registry as r; assert 'reference_nets' not in sys.modules; "
            "r.derivations(entry_points=False); assert 'reference_nets' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE.parent)


@pytest.mark.parametrize("seam", sorted({s for seams in PRIVATE_SEAMS.values() for s in seams}))
def test_every_private_seam_exists(seam: str) -> None:
    assert _is_module(seam), f"PRIVATE_SEAMS names {seam}, which is not a module: drop it"


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


PACKAGES = sorted(p.parent for p in PACKAGE.rglob("__init__.py"))


@pytest.mark.parametrize("package_dir", PACKAGES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_no_package_has_an_import_cycle(package_dir: Path) -> None:
    """Within each package, counting imports inside functions: no module reaches itself."""
    package = ".".join(package_dir.relative_to(PACKAGE.parent).parts)
    assert _cycle(_module_imports(package_dir, package)) == []


def test_the_import_graph_is_really_read() -> None:
    graph = _module_imports(PACKAGE / "formula", "gradcheck.formula")
    assert "gradcheck.formula._points" in graph["gradcheck.formula._symbolic"]


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
