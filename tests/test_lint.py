"""The code keeps the lint configuration in pyproject.toml (ruff, 120 columns): run with the suite,
so that the README's test command enforces it in CI."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("ruff") is None and subprocess.run([sys.executable, "-m", "ruff", "--version"],
                                                                   capture_output=True).returncode != 0,
                    reason="ruff is in the 'test' extra: pip install -e '.[test]'")
def test_the_tree_passes_ruff() -> None:
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "gradcheck", "reference_nets", "tests",
                          "benchmarks"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
