"""Formulas typed as text: parse safely, verify a claimed derivative, check formula sheets.

    >>> from gradcheck.formula import verify                                    # doctest: +SKIP
    >>> r = verify(loss="sum((A@x - b)**2)", grads={"x": "2*A.T@(A@x - b)"},
    ...            shapes={"A": "4,3", "x": "3,1", "b": "4,1"})
    >>> r.verdict
    'right'

The language: names, numbers, ``+ - * / ** @``, unary minus, ``.T`` and the functions in
:data:`FUNCTIONS` (``*`` is element-wise, as in numpy). Text is parsed with ``ast`` against
a whitelist and interpreted; it is never ``eval``'d. Errors are :class:`~gradcheck.FormulaError`.
"""

from ..core._errors import FormulaError
from ._parse import FUNCTIONS, MAX_DEPTH, MAX_EXPONENT, MAX_LENGTH, free_names, parse
from ._sheet import (
    Sheet,
    SheetEntry,
    SheetOutcome,
    load_sheet,
    render_table,
    sheet_paths,
    verify_sheet,
    write_sheet_report,
)
from ._spec import STRUCTURES
from ._verify import PointCheck, VerifyResult, verify

__all__ = [
    "pytest_collect_file",
    "verify",
    "VerifyResult",
    "PointCheck",
    "parse",
    "free_names",
    "FUNCTIONS",
    "STRUCTURES",
    "MAX_LENGTH",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "FormulaError",
    "Sheet",
    "SheetEntry",
    "SheetOutcome",
    "load_sheet",
    "verify_sheet",
    "sheet_paths",
    "render_table",
    "write_sheet_report",
]


def __getattr__(name: str) -> object:
    # The sheet collector is a pytest hook and imports pytest; loading it only when asked for keeps
    # every command and ``import gradcheck.formula`` working where pytest is not installed.
    if name == "pytest_collect_file":
        from ._pytest import pytest_collect_file

        return pytest_collect_file
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
