"""Names of checked functions as a person reads them in messages and reports.

``__qualname__`` says where a function was *defined*, which for the functions a test
builds is noise: ``slip_cases.<locals>._blk.<locals>.<lambda>``. What identifies the
function to its author is the part after the last ``<locals>`` (``loss``, ``Net.loss``),
and for a lambda, which has no name at all, where it was written: ``<lambda> (test_x.py:12)``.

Imports nothing beyond the standard library: the pytest plugin and the core both use it.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from ._errors import InvalidArgumentError

__all__ = ["display_name", "shorten"]

_LOCALS = "<locals>."
_ANONYMOUS = ("<lambda>", "<genexpr>", "<listcomp>", "<dictcomp>", "<setcomp>")


def shorten(qualname: str) -> str:
    """The part of a qualified name after its last ``<locals>.``: ``make.<locals>.loss`` -> ``loss``.

    Names without ``<locals>.`` are returned unchanged (``Net.loss``, ``tests.loss``,
    a name the caller chose, or ``<lambda> (t.py:3)`` already shortened), so applying it
    twice changes nothing.
    """
    return qualname.rsplit(_LOCALS, 1)[-1]


def display_name(fn: Any, given: str | None = None) -> str:
    """The name of ``fn`` in messages and reports; ``given`` (the caller's ``name=``) wins when set.

    * a function or method: its qualified name after the last ``<locals>``
      (``Net.loss``; ``make_loss.<locals>.loss`` -> ``loss``);
    * a lambda: ``<lambda> (file.py:line)``, the only thing that tells two lambdas apart;
    * ``functools.partial(f, ...)``: ``partial(<name of f>)``;
    * another callable object: its class name.
    """
    if given is not None:
        if not isinstance(given, str):
            raise InvalidArgumentError(f"name={given!r}: expected a string naming the function, or None")
        if given:
            return given
    if isinstance(fn, functools.partial):
        return f"partial({display_name(fn.func)})"
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if not isinstance(qualname, str) or not qualname:
        return type(fn).__name__
    short = shorten(qualname)
    if short.rsplit(".", 1)[-1] in _ANONYMOUS:
        where = _location(fn)
        return f"{short} ({where})" if where else short
    return short


def _location(fn: Any) -> str | None:
    """``file.py:line`` where ``fn``'s code starts (bound methods and decorators expose ``__code__`` too)."""
    code = getattr(fn, "__code__", None) or getattr(getattr(fn, "__func__", None), "__code__", None)
    if code is None:
        return None
    return f"{os.path.basename(code.co_filename)}:{code.co_firstlineno}"
