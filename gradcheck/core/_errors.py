"""Exception classes. Every error gradcheck raises derives from :class:`GradcheckError`.

Input problems are also ``ValueError``/``TypeError`` subclasses so that callers who
catch the builtin categories keep working; a failed verdict from ``assert_*`` is an
``AssertionError`` so that pytest renders it as a test failure, not as an error.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

__all__ = [
    "GradcheckError",
    "InvalidArgumentError",
    "ParameterError",
    "ShapeMismatchError",
    "GradientStructureError",
    "LossError",
    "NonScalarLossError",
    "NonFiniteError",
    "MutatingFunctionError",
    "NondeterministicLossError",
    "LossRaisedError",
    "GradientMismatch",
    "FormulaError",
    "SymbolicUnsupportedError",
]


class GradcheckError(Exception):
    """Root of every exception raised by gradcheck."""


class InvalidArgumentError(GradcheckError, ValueError):
    """An option passed to a gradcheck function is invalid (names the option and the value)."""


class ParameterError(GradcheckError, TypeError):
    """A parameter array cannot be checked (wrong type, dtype, empty, non-finite entries)."""


class ShapeMismatchError(GradcheckError, ValueError):
    """An analytic gradient or Jacobian has the wrong shape for its parameter."""


class GradientStructureError(GradcheckError, ValueError):
    """``grad`` returned a structure that does not match ``params`` (missing or extra keys)."""


class LossError(GradcheckError):
    """The function under test misbehaved while being evaluated."""


class NonScalarLossError(LossError, ValueError):
    """``loss`` returned something that is not a real scalar."""


class NonFiniteError(LossError, ValueError):
    """NaN or Inf in a loss value, a function output, or an analytic gradient."""


class MutatingFunctionError(LossError):
    """``loss``, ``fn`` or ``grad`` modified the arrays it was given."""


class NondeterministicLossError(LossError):
    """Two evaluations at the same point gave different values."""


class LossRaisedError(LossError):
    """The function under test raised; the original exception is chained as ``__cause__``."""


class GradientMismatch(GradcheckError, AssertionError):
    """Raised by ``assert_grad``/``assert_jacobian`` when the analytic derivative is wrong.

    ``result`` holds the full :class:`~gradcheck.GradCheckResult` behind the message.
    """

    def __init__(self, message: str, result: object = None) -> None:
        super().__init__(message)
        self.result = result

    def __repr__(self) -> str:
        """The headline only: the message runs to a table of entries."""
        first = str(self.args[0]).split("\n", 1)[0] if self.args else ""
        return f"{type(self).__name__}({first!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles with its result (xdist and process pools pickle exceptions), whose read-only
        mappings the default pickler refuses."""
        state = {k: v for k, v in self.__dict__.items() if k != "result"}
        blob = None if self.result is None else _dump(self.result)
        return (_rebuild_mismatch, (type(self), self.args, blob), state)


def _proxy(mapping: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(mapping)


def _dump(obj: object) -> bytes:
    """``pickle.dumps`` that also takes the ``MappingProxyType`` the frozen results hold."""
    import copyreg
    import io
    import pickle

    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, MappingProxyType: lambda m: (_proxy, (dict(m),))}
    pickler.dump(obj)
    return buffer.getvalue()


def _rebuild_mismatch(cls: type[GradientMismatch], args: tuple[Any, ...], blob: bytes | None) -> GradientMismatch:
    import pickle

    exc = cls.__new__(cls)
    exc.args = args
    exc.result = None if blob is None else pickle.loads(blob)
    return exc


class FormulaError(GradcheckError, ValueError):
    """A formula typed as text cannot be used: a syntax error, a construct outside the
    whitelist (attributes other than ``.T``, unknown functions, lambdas ...), a limit
    exceeded (length, nesting, exponent, array size) or incompatible shapes.

    ``piece`` is the offending text, ``column`` its 1-based column in ``text`` (None when
    the error concerns the whole formula); the message ends with the formula and a caret line.
    """

    def __init__(self, message: str, *, text: str = "", piece: str = "", column: int | None = None) -> None:
        self.reason = message
        self.text = text
        self.piece = piece
        self.column = column
        if text and column is not None and "\n" not in text and len(text) <= 240:
            width = max(1, min(len(piece), len(text) - column + 1)) if piece else 1
            message = f"{message} (column {column})\n  {text}\n  {' ' * (column - 1)}{'^' * width}"
        elif column is not None:
            message = f"{message} (column {column})"
        super().__init__(message)


class SymbolicUnsupportedError(GradcheckError, TypeError):
    """The symbolic oracle cannot run this code on symbols.

    Raised by :mod:`gradcheck.symbolic` when a loss calls a numpy function that has no
    sympy mapping (the message names it and says how to write it instead), converts a
    symbolic value to a Python number in a way the derivative cannot follow, or uses an
    option of a mapped function that the symbolic array does not support.
    """


# Shown and pickled under the name users import them by (``gradcheck.GradientMismatch``, not
# ``gradcheck.core._errors.GradientMismatch``): pytest prints the class's module in a failure.
for _name in __all__:
    globals()[_name].__module__ = "gradcheck"
del _name
