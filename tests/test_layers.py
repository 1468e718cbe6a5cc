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

CORE = "gradcheck"
"""The core unit: ``gradcheck/__init__.py``, the private modules ``gradcheck/_*.py`` and the
:data:`CORE_SUBPACKAGES`. Every other unit is ``reference_nets`` or a public module or
subpackage of ``gradcheck``."""
CORE_SUBPACKAGES = frozenset({"symbolic"})
"""The symbolic oracle is part of the engine (``_symbolic_oracle`` runs it, it uses the core's
layout rules), not a layer above it."""

MAY_IMPORT: dict[str, frozenset[str]] = {
    # the core and the public modules built on its internals (they may use its private modules)
    CORE: frozenset({"gradcheck.ops"}),
    "gradcheck.ops": frozenset(),  # the array namespaces the losses are written against: numpy and sympy only
    # never reference_nets: the registry loads them by name (registry.BUILTIN_MODULES), so the
    # nets depend on the registry and not the other way round
    "gradcheck.registry": frozenset({CORE, "gradcheck.ops"}),
    "gradcheck.mutations": frozenset({CORE, "gradcheck.registry"}),
    "gradcheck.strategies": frozenset({CORE, "gradcheck.registry"}),
    # the applications: public names only, private ones through PRIVATE_SEAMS
    "gradcheck.report": frozenset({CORE, "gradcheck.registry"}),
    "gradcheck.formula": frozenset({CORE, "gradcheck.ops", "gradcheck.report"}),
    "gradcheck.cli": frozenset({CORE, "gradcheck.registry", "gradcheck.report", "gradcheck.formula"}),
    "gradcheck.__main__": frozenset({"gradcheck.cli"}),
    "gradcheck.pytest_plugin": frozenset({CORE, "gradcheck.report", "gradcheck.formula"}),
    # derivations are data for the checker: never the report (a net that needs something of it
    # means the derivation does not own it yet)
    "reference_nets": frozenset({CORE, "gradcheck.ops", "gradcheck.registry"}),
}
"""Unit -> the other units it may import (a unit may always import itself)."""

INSIDE_THE_CORE = frozenset({CORE, "gradcheck.ops", "gradcheck.registry", "gradcheck.mutations",
                             "gradcheck.strategies"})
"""Units that may import the core's private modules freely; every other unit only its public
names and the :data:`PRIVATE_SEAMS`."""

PRIVATE_SEAMS: dict[str, dict[str, str]] = {
    "*": {"gradcheck._errors": "the exception classes (public as gradcheck.<Name>), importable without "
                               "loading the core"},
    "gradcheck.report": {"gradcheck._result": "json_float/float_or_nan: the core's JSON number convention, "
                                              "so a report reads back exactly what a result wrote"},
    "gradcheck.pytest_plugin": {"gradcheck._recording": "the listener the core emits each check to",
                                "gradcheck._naming": "the naming rule the core itself uses",
                                "gradcheck._headline": "the one-line failure headline assert_* raises with"},
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
    """The unit a dotted module (or private name) belongs to."""
    parts = module.split(".")
    if parts[0] == "reference_nets":
        return "reference_nets"
    if len(parts) == 1 or _private_part(parts[1]) or parts[1] in CORE_SUBPACKAGES:
        return CORE
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
    if private and mine not in INSIDE_THE_CORE and not any(target == s or target.startswith(s + ".") for s in seams):
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
    assert violation("gradcheck.report._model", "gradcheck._compare")  # a private core module
    assert violation("gradcheck.formula._sheet", "gradcheck.report._run")  # a private report module
    assert violation("gradcheck.cli", "gradcheck._fd")
    assert violation("gradcheck.ops", "gradcheck.report")
    assert violation("gradcheck.report._run", "gradcheck.report._model") is None
    assert violation("gradcheck.report._model", "gradcheck._result") is None
    assert violation("gradcheck.mutations", "gradcheck._api") is None
    assert violation("gradcheck.cli", "gradcheck.report") is None
    assert violation("gradcheck.report._run", "gradcheck.symbolic") is None
    assert violation("gradcheck.report._run", "gradcheck.symbolic._prove")
    assert unit("gradcheck.__main__") == "gradcheck.__main__" and unit("gradcheck._api") == CORE


def test_imports_are_resolved_to_modules_and_private_names() -> None:
    source = ROOTS["gradcheck"] / "registry.py"
    targets = _imports(source, "gradcheck")
    assert "gradcheck._api" in targets and "gradcheck._errors" in targets and "gradcheck.ops" in targets


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
