"""The core install (numpy, sympy) runs every command and imports every module.

CI installs the test extras, so pytest, hypothesis and matplotlib are always importable there and a
stray top-level import of one of them goes unseen until a new user's first command fails. Each check
runs in a fresh interpreter whose import system refuses those packages, as a core-only install would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

EXTRAS = ("pytest", "_pytest", "hypothesis", "matplotlib", "xdist", "jsonschema", "symengine", "torch", "jax", "jaxlib")
"""Packages that come only with an extra (``test``, ``report``, ``symbolic``, ``strategies``, ``torch``, ``jax``)."""

NEEDS_AN_EXTRA = {
    "gradcheck.pytest_plugin": "pytest",  # a pytest plugin: pytest loads it, so pytest is there
    "gradcheck.formula._pytest": "pytest",  # the sheet collector, loaded through the plugin
    "gradcheck.strategies": "hypothesis",  # hypothesis strategies for the user's own property tests
    "gradcheck.torch": "torch",  # the bridge to torch rules
    "gradcheck.jax": "jax",  # the bridge to jax rules
}
"""Modules that exist for an extra's sake; each must say what to install, and nothing else may need one."""

_BLOCKER = f"""
import importlib.abc, sys
class _CoreOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {EXTRAS!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (core install)", name=name)
        return None
sys.meta_path.insert(0, _CoreOnly())
sys.path.insert(0, {str(ROOT)!r})
"""


def _run_core_only(code: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _BLOCKER + textwrap.dedent(code)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def _gradcheck(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """The console script's entry point, as ``gradcheck ARGS`` runs it, under the core-only import system."""
    return _run_core_only(f"import sys\nfrom gradcheck.cli import main\nsys.exit(main({list(args)!r}))", cwd=cwd)


def test_the_blocker_blocks() -> None:
    """Without this, every test below would pass whatever the package imports."""
    done = _run_core_only("import pytest")
    assert done.returncode != 0 and "(core install)" in done.stderr


def test_every_module_imports_without_the_extras() -> None:
    done = _run_core_only(
        """
        import importlib, json, pkgutil
        import gradcheck, reference_nets
        outcome = {}
        for package in (gradcheck, reference_nets):
            for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
                if info.name.endswith("__main__"):  # runs the CLI on import
                    continue
                try:
                    importlib.import_module(info.name)
                    outcome[info.name] = None
                except ImportError as exc:
                    outcome[info.name] = str(exc)
        print(json.dumps(outcome))
        """
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert len(outcome) > 40, "the walk found too few modules to mean anything"
    failed = {name: why for name, why in outcome.items() if why is not None}
    assert set(failed) == set(NEEDS_AN_EXTRA), failed
    for name, package in NEEDS_AN_EXTRA.items():
        assert package in failed[name]
    assert "pip install 'gradcheck[strategies]'" in failed["gradcheck.strategies"]
    assert "pip install 'gradcheck[torch]'" in failed["gradcheck.torch"]
    assert "pip install 'gradcheck[jax]'" in failed["gradcheck.jax"]


def test_public_names_resolve_without_the_extras() -> None:
    """``gradcheck``'s names load lazily: touch every one of them, and the formula package's."""
    done = _run_core_only(
        """
        import gradcheck, gradcheck.formula, gradcheck.report, gradcheck.symbolic
        for module in (gradcheck, gradcheck.formula, gradcheck.report, gradcheck.symbolic):
            for name in module.__all__:
                if module is gradcheck.formula and name == "pytest_collect_file":
                    continue  # the sheet collector: a pytest hook
                getattr(module, name)
        print("ok")
        """
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--help",), "report"),
        (("list",), "least_squares"),
        (("verify", "--loss", "sum((A@x - b)**2)", "--grad", "x=2*A.T@(A@x - b)", "--shape", "A=4,3",
          "--shape", "x=3,1", "--shape", "b=4,1"), "RIGHT"),
        (("verify", "--sheet", str(ROOT / "gradcheck" / "sheets" / "gradcheck_matrix_cookbook.toml")), "16 pass"),
    ],
    ids=["help", "list", "verify", "verify-sheet"],
)
def test_commands_run_without_the_extras(args: tuple[str, ...], expected: str) -> None:
    done = _gradcheck(*args)
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout
    assert "Traceback" not in done.stderr


def test_the_main_job_runs_without_the_extras(tmp_path: Path) -> None:
    """The README's first command, on one derivation: the report is written, its HTML saying why it has no plots."""
    done = _gradcheck("report", "--only", "least_squares.*", "--seeds", "1", "--sizes", "default", "--out",
                      str(tmp_path), "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "OK: all expected results held" in done.stdout
    html = (tmp_path / "gradcheck-report.html").read_text(encoding="utf-8")
    assert "pip install &#x27;gradcheck[report]&#x27;" in html
    assert json.loads((tmp_path / "gradcheck-report.json").read_text(encoding="utf-8"))["subjects"]
