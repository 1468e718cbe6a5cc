"""pytest collection of formula sheets: every ``gradcheck_*.toml`` file is collected, one item per formula.

A formula expected right passes when verified right; one marked ``expect = "wrong"`` (a slip
kept as teaching material) passes when verified wrong and fails when found right. Register
with ``-p gradcheck.formula._pytest`` (or from the gradcheck plugin's own ``pytest_collect_file``).
Cheap to import: sympy and the verifier load when the first item runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["pytest_collect_file", "SheetFile", "FormulaItem", "FormulaCheckFailed"]


class FormulaCheckFailed(Exception):
    """A sheet formula's outcome was not the expected one; the message is the full verification."""


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".toml" and file_path.name.startswith("gradcheck_"):
        return SheetFile.from_parent(parent, path=file_path)
    return None


class SheetFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from ._sheet import load_sheet

        sheet = load_sheet(self.path)  # a malformed sheet is a collection error naming file, formula and key
        for entry in sheet.entries:
            yield FormulaItem.from_parent(self, name=entry.name, entry=entry)


class FormulaItem(pytest.Item):
    def __init__(self, *, entry: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entry = entry
        self.outcome: Any = None

    def runtest(self) -> None:
        from ..core._errors import FormulaError
        from ._sheet import SheetOutcome

        try:
            self.outcome = SheetOutcome(self.entry, self.entry.run())
        except FormulaError as exc:
            raise FormulaCheckFailed(f"formula {self.entry.name!r} cannot be used:\n{exc}") from None
        if not self.outcome.as_expected:
            expected = "right" if self.entry.expect == "right" else "wrong (a slip kept as teaching material)"
            raise FormulaCheckFailed(
                f"expected {expected}, verified {self.outcome.result.verdict}:\n{self.outcome.result.summary()}"
            )
        self.user_properties.append(("gradcheck_verdict", self.outcome.result.verdict))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, FormulaCheckFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.entry.line - 1, f"formula {self.entry.name} (expect {self.entry.expect})"
