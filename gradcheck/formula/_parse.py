"""Parsing formulas typed as text into a small, closed expression tree.

The text goes through ``ast.parse(mode="eval")`` and the resulting tree is *walked* against
a whitelist: every node type, function name, keyword and exponent is checked, and the
accepted ones are copied into the frozen node classes below. Nothing is ever ``eval``'d
or ``exec``'d: backends interpret these nodes, so a formula can only ever call the
functions listed in :data:`FUNCTIONS`, whatever the text says.

Limits (each violation is a :class:`~gradcheck.FormulaError` naming the piece and column):
:data:`MAX_LENGTH` characters, :data:`MAX_DEPTH` levels of nesting, :data:`MAX_NODES`
nodes, exponents that are number literals of magnitude at most :data:`MAX_EXPONENT`.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from dataclasses import dataclass

from ..core._errors import FormulaError

__all__ = [
    "MAX_LENGTH",
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_EXPONENT",
    "FUNCTIONS",
    "KEYWORDS",
    "Node",
    "Num",
    "Name",
    "Str",
    "Unary",
    "Binary",
    "Transpose",
    "Call",
    "Tup",
    "parse",
    "free_names",
]

MAX_LENGTH = 2000
"""Characters in one formula: a page of algebra, far more than any derivation needs."""
MAX_DEPTH = 60
"""Nesting levels (brackets, operators, calls). CPython's own parser gives up near 200
brackets; 60 leaves a deep chain-rule product readable while keeping every walk shallow."""
MAX_NODES = 2000
MAX_EXPONENT = 64
"""Largest |exponent| literal: ``x**64`` is already 1e19 at x = 2; beyond that a formula is
a float overflow waiting to happen, and ``9**9**9`` must never be computed."""

FUNCTIONS: Mapping[str, tuple[int, int, frozenset[str]]] = {
    # name: (min positional args, max positional args, keyword arguments allowed)
    "sum": (1, 1, frozenset({"axis", "keepdims"})),
    "mean": (1, 1, frozenset({"axis", "keepdims"})),
    "exp": (1, 1, frozenset()),
    "log": (1, 1, frozenset()),
    "log1p": (1, 1, frozenset()),
    "sqrt": (1, 1, frozenset()),
    "tanh": (1, 1, frozenset()),
    "sigmoid": (1, 1, frozenset()),
    "relu": (1, 1, frozenset()),
    "step": (1, 1, frozenset()),
    "softmax": (1, 1, frozenset({"axis"})),
    "logsumexp": (1, 1, frozenset({"axis", "keepdims"})),
    "maximum": (2, 2, frozenset()),
    "abs": (1, 1, frozenset()),
    "diag": (1, 1, frozenset()),
    "trace": (1, 1, frozenset()),
    "inv": (1, 1, frozenset()),
    "det": (1, 1, frozenset()),
    "logdet": (1, 1, frozenset()),
    "kron": (2, 2, frozenset()),
    "outer": (2, 2, frozenset()),
    "eye": (1, 2, frozenset()),
    "ones": (1, 2, frozenset()),
    "zeros": (1, 2, frozenset()),
    "norm": (1, 1, frozenset({"axis", "keepdims", "ord"})),
    "sin": (1, 1, frozenset()),
    "cos": (1, 1, frozenset()),
    "erf": (1, 1, frozenset()),
    "sign": (1, 1, frozenset()),
    "clip": (3, 3, frozenset()),
    "where": (3, 3, frozenset()),
    "max": (1, 1, frozenset({"axis", "keepdims"})),
    "min": (1, 1, frozenset({"axis", "keepdims"})),
    "argmax_mask": (1, 1, frozenset({"axis"})),
    "tril": (1, 1, frozenset()),
    "triu": (1, 1, frozenset()),
    "expm": (1, 1, frozenset()),
    "eigvalsh": (1, 1, frozenset()),
    "eigvecsh": (1, 1, frozenset()),
    "sqrtm": (1, 1, frozenset()),
    "pinv": (1, 1, frozenset()),
    "pick": (2, 2, frozenset()),
    "onehot": (2, 2, frozenset()),
    "transpose": (1, 1, frozenset()),
    "reshape": (2, 3, frozenset({"order"})),
}
"""Every callable name. ``step(x)`` (1 where x > 0, else 0) is the ReLU's derivative, which
hand-derived backward passes write as ``1(H > 0)``; there are no comparisons in the language:
``where(c, a, b)`` takes ``a`` where ``c`` is nonzero (``where(step(z), ...)``), and
``argmax_mask(x, axis=)`` is 1 at each maximum (the first of ties), the derivative of ``max``.
``pick(P, y)`` is ``P[i, y[i]]`` for integer labels ``y`` (one per row of ``P``), ``onehot(y, k)``
their (m, k) indicator;
``norm(X, ord="nuc")`` and ``norm(X, ord=2)`` are the nuclear and spectral norms; ``eigvalsh(S)``
and ``eigvecsh(S)`` the ascending eigenvalues and the eigenvectors (columns) of a symmetric matrix
(its lower triangle read, as numpy's ``eigh``), ``sqrtm(S)`` the square root of a symmetric
positive semidefinite one."""

KEYWORDS = frozenset(k for _, _, ks in FUNCTIONS.values() for k in ks)


# --------------------------------------------------------------------------- nodes
@dataclass(frozen=True)
class Node:
    """Base of the tree: ``col`` is the 1-based column in the formula, ``src`` the node's own text."""

    col: int
    src: str


@dataclass(frozen=True)
class Num(Node):
    value: float | int | bool


@dataclass(frozen=True)
class Str(Node):
    """Only as the value of ``order="C"``/``"F"`` in reshape."""

    value: str


@dataclass(frozen=True)
class Name(Node):
    id: str


@dataclass(frozen=True)
class Unary(Node):
    op: str  # "-" or "+"
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str  # one of + - * / ** @
    left: Node
    right: Node


@dataclass(frozen=True)
class Transpose(Node):
    operand: Node


@dataclass(frozen=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]
    kwargs: tuple[tuple[str, Node], ...]

    def kw(self, name: str) -> Node | None:
        return next((v for k, v in self.kwargs if k == name), None)


@dataclass(frozen=True)
class Tup(Node):
    """A tuple of integers, only as ``axis=(0, 1)`` or a shape."""

    items: tuple[Node, ...]


_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.MatMult: "@"}
_DESCRIBE = {
    ast.Attribute: "attribute access (only .T is allowed)",
    ast.Subscript: "subscripts",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.NamedExpr: "assignment expressions (:=)",
    ast.JoinedStr: "f-strings",
    ast.FormattedValue: "f-strings",
    ast.Starred: "starred arguments",
    ast.Compare: "comparisons",
    ast.BoolOp: "and/or",
    ast.IfExp: "conditional expressions",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Dict: "dict literals",
    ast.Set: "set literals",
    ast.List: "list literals",
}


def _fail(text: str, reason: str, node: ast.AST | None = None, piece: str | None = None) -> FormulaError:
    col = getattr(node, "col_offset", None)
    if node is not None and piece is None:
        piece = ast.get_source_segment(text, node) or ""
    return FormulaError(reason, text=text, piece=piece or "", column=None if col is None else col + 1)


def _precheck(text: str) -> None:
    """Limits checked on the raw text, before Python's parser sees it (so a 10,000-deep
    nesting never reaches a recursive parser)."""
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(
            f"formula is {len(text)} characters long; at most {MAX_LENGTH} are accepted",
            text=text[:60] + "...",
            column=None,
        )
    if not text.strip():
        raise FormulaError("empty formula")
    depth = worst = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise FormulaError(f"brackets nested more than {MAX_DEPTH} deep", text=text, piece=ch, column=i + 1)
        elif ch in ")]}":
            depth -= 1
        worst = max(worst, depth)
    bad = next((i for i, ch in enumerate(text) if ch in "\n\r\x00;\\" or (ord(ch) < 32 and ch != "\t")), None)
    if bad is not None:
        raise FormulaError(
            f"character {text[bad]!r} is not allowed in a formula",
            text=text.replace("\n", " "),
            piece=text[bad],
            column=bad + 1,
        )


def parse(text: str) -> Node:
    """Parse one formula into a :class:`Node` tree, or raise :class:`~gradcheck.FormulaError`.

    >>> parse("2*A.T@(A@x - b)").op
    '@'
    """
    _precheck(text)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        col = exc.offset if exc.offset and exc.lineno == 1 else None
        raise FormulaError(
            f"syntax error: {exc.msg}", text=text.strip(), piece=text.strip()[col - 1 : col] if col else "", column=col
        ) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise FormulaError(f"formula cannot be parsed ({type(exc).__name__}): too deeply nested?") from None
    walker = _Walker(text.strip())
    try:
        return walker.node(tree.body, 1)
    except RecursionError:
        raise FormulaError(f"formula nested more than {MAX_DEPTH} deep") from None


class _Walker:
    """Copies a whitelisted ``ast`` tree into :class:`Node` objects, rejecting everything else."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.count = 0

    def fail(self, reason: str, node: ast.AST, piece: str | None = None) -> FormulaError:
        return _fail(self.text, reason, node, piece)

    def where(self, node: ast.AST) -> tuple[int, str]:
        return node.col_offset + 1, ast.get_source_segment(self.text, node) or ""

    def node(self, node: ast.AST, depth: int) -> Node:
        self.count += 1
        if depth > MAX_DEPTH:
            raise self.fail(f"formula nested more than {MAX_DEPTH} deep", node)
        if self.count > MAX_NODES:
            raise self.fail(f"formula has more than {MAX_NODES} parts", node)
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            what = _DESCRIBE.get(type(node), f"{type(node).__name__} expressions")
            raise self.fail(
                f"{what} are not allowed in a formula"
                if not what.endswith("allowed)")
                else f"{what} is not allowed in a formula",
                node,
            )
        return method(node, depth + 1)

    def _Constant(self, node: ast.Constant, depth: int) -> Node:
        v = node.value
        if isinstance(v, (bool, str)):
            # True/False and strings only make sense as keyword values; the Call handler admits them there.
            raise self.fail(f"the constant {v!r} is only allowed as a keyword argument's value", node)
        if isinstance(v, int):
            if abs(v) > 10**15:
                raise self.fail(f"integer literal {str(v)[:20]} is too large (at most 1e15)", node)
            return Num(*self.where(node), value=v)
        if isinstance(v, float):
            if not math.isfinite(v):
                raise self.fail("number literal is not finite", node)
            return Num(*self.where(node), value=v)
        raise self.fail(f"{type(v).__name__} literals are not allowed (numbers only)", node)

    def _Name(self, node: ast.Name, depth: int) -> Node:
        if node.id.startswith("_"):
            raise self.fail(f"name {node.id!r}: names may not start with an underscore", node)
        if node.id in FUNCTIONS:
            raise self.fail(f"{node.id!r} is a function: call it, e.g. {node.id}(x)", node)
        return Name(*self.where(node), id=node.id)

    def _UnaryOp(self, node: ast.UnaryOp, depth: int) -> Node:
        ops = {ast.USub: "-", ast.UAdd: "+"}
        if type(node.op) not in ops:
            raise self.fail(f"operator {type(node.op).__name__} is not allowed (only unary - and +)", node)
        return Unary(*self.where(node), op=ops[type(node.op)], operand=self.node(node.operand, depth))

    def _BinOp(self, node: ast.BinOp, depth: int) -> Node:
        op = _BINOPS.get(type(node.op))
        if op is None:
            sym = {
                ast.FloorDiv: "//",
                ast.Mod: "%",
                ast.BitXor: "^",
                ast.BitAnd: "&",
                ast.BitOr: "|",
                ast.LShift: "<<",
                ast.RShift: ">>",
            }.get(type(node.op), type(node.op).__name__)
            hint = " (write ** for powers)" if sym == "^" else ""
            raise self.fail(f"operator {sym} is not allowed{hint}; use + - * / ** @", node)
        left = self.node(node.left, depth)
        if op == "**":
            return Binary(*self.where(node), op=op, left=left, right=self._exponent(node.right))
        return Binary(*self.where(node), op=op, left=left, right=self.node(node.right, depth))

    def _exponent(self, node: ast.AST) -> Num:
        """An exponent must be a (signed) number literal of bounded size: no ``9**9**9``."""
        sign, inner = 1.0, node
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            sign, inner = (-1.0 if isinstance(node.op, ast.USub) else 1.0), node.operand
        if not (
            isinstance(inner, ast.Constant)
            and isinstance(inner.value, (int, float))
            and not isinstance(inner.value, bool)
        ):
            raise self.fail("an exponent must be a number literal (e.g. x**2, x**-1, x**0.5)", node)
        value = sign * inner.value
        if not math.isfinite(value) or abs(value) > MAX_EXPONENT:
            raise self.fail(
                f"exponent {ast.get_source_segment(self.text, node)} is too large (|exponent| <= {MAX_EXPONENT})", node
            )
        v: float | int = int(value) if float(value).is_integer() else float(value)
        return Num(*self.where(node), value=v)

    def _Attribute(self, node: ast.Attribute, depth: int) -> Node:
        if node.attr != "T":
            raise self.fail(
                f"attribute .{node.attr} is not allowed (only .T, the transpose)",
                node,
                piece=ast.get_source_segment(self.text, node),
            )
        return Transpose(*self.where(node), operand=self.node(node.value, depth))

    def _Tuple(self, node: ast.Tuple, depth: int) -> Node:
        return Tup(*self.where(node), items=tuple(self.node(e, depth) for e in node.elts))

    def _Call(self, node: ast.Call, depth: int) -> Node:
        if not isinstance(node.func, ast.Name):
            raise self.fail("only the listed functions can be called, by name (e.g. sum(x))", node.func)
        name = node.func.id
        if name not in FUNCTIONS:
            raise self.fail(f"unknown function {name!r}; allowed: {', '.join(FUNCTIONS)}", node.func)
        lo, hi, allowed = FUNCTIONS[name]
        for a in node.args:
            if isinstance(a, ast.Starred):
                raise self.fail("starred arguments are not allowed in a formula", a)
        if not lo <= len(node.args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise self.fail(
                f"{name}() takes {want} positional argument{'s' if hi != 1 else ''}, got {len(node.args)}", node
            )
        kwargs = []
        for kw in node.keywords:
            if kw.arg is None:
                raise self.fail("**keyword unpacking is not allowed in a formula", kw.value)
            if kw.arg not in allowed:
                ok = ", ".join(sorted(allowed)) or "none"
                raise self.fail(f"{name}() has no keyword {kw.arg!r} (allowed: {ok})", kw.value, piece=kw.arg)
            kwargs.append((kw.arg, self._kwvalue(name, kw.arg, kw.value, depth)))
        args = tuple(self.node(a, depth) for a in node.args)
        return Call(*self.where(node), func=name, args=args, kwargs=tuple(kwargs))

    def _kwvalue(self, func: str, key: str, value: ast.AST, depth: int) -> Node:
        if key == "keepdims":
            if not (isinstance(value, ast.Constant) and isinstance(value.value, bool)):
                raise self.fail("keepdims must be True or False", value)
            return Num(*self.where(value), value=value.value)
        if key == "ord":
            if not (isinstance(value, ast.Constant) and value.value in ("fro", "nuc", 2)
                    and not isinstance(value.value, bool)):
                raise self.fail('ord must be "fro", "nuc" or 2', value)
            if isinstance(value.value, str):
                return Str(*self.where(value), value=value.value)
            return Num(*self.where(value), value=value.value)
        if key == "order":
            if not (isinstance(value, ast.Constant) and value.value in ("C", "F")):
                raise self.fail('order must be "C" (row-major) or "F" (column-major)', value)
            return Str(*self.where(value), value=value.value)
        return self.node(value, depth)  # axis: an integer expression, checked by the evaluator


def free_names(node: Node) -> list[str]:
    """Every name the formula uses, in order of first appearance."""
    out: list[str] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Name) and n.id not in out:
            out.append(n.id)
        stack.extend(reversed(list(_children(n))))
    return out


def _children(n: Node) -> tuple[Node, ...]:
    if isinstance(n, (Unary, Transpose)):
        return (n.operand,)
    if isinstance(n, Binary):
        return (n.left, n.right)
    if isinstance(n, Call):
        return n.args + tuple(v for _, v in n.kwargs)
    if isinstance(n, Tup):
        return n.items
    return ()
