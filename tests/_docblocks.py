"""Parse the Markdown docs into runnable examples, compare outputs leniently, rewrite outputs in place.

The conventions are stated in tests/test_docs.py, which uses this module.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import os
import re
import tempfile
from dataclasses import dataclass

FENCE = re.compile(r"^(```+)\s*([\w+-]*)\s*$")
MARKER = re.compile(r"^<!--\s*doc-test:\s*(skip|file)\s*(.*?)\s*-->\s*$")
SHELL_LANGS = {"bash", "sh", "shell", "console"}
PROMPT = "$ "


@dataclass(frozen=True)
class Block:
    path: str
    ordinal: int  # the n-th fenced block of its file: stable when outputs are rewritten
    lang: str
    line: int  # 1-based line of the opening fence
    body: tuple[str, ...]
    marker: tuple[str, str] | None  # ("skip", reason) or ("file", name)


@dataclass(frozen=True)
class Example:
    """What one test runs: a python block with its output block, a shell session, a file, or a skip."""

    kind: str  # "python", "shell", "file", "skip", "orphan"
    block: Block
    output: Block | None = None  # the ```text block after a python block

    @property
    def id(self) -> str:
        return f"{os.path.basename(self.block.path)}:{self.block.line}-{self.kind}"


def parse_blocks(path: str, text: str | None = None) -> list[Block]:
    if text is None:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m.group(1), m.group(2).lower()
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            j += 1
        if j >= len(lines):
            raise ValueError(f"{path}:{i + 1}: unclosed code block")
        # A marker is the last non-blank line before the fence.
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        mk = MARKER.match(lines[k].strip()) if k >= 0 else None
        marker = None
        if mk:
            arg = mk.group(2)
            if mk.group(1) == "skip":
                arg = arg[1:-1] if arg.startswith("(") and arg.endswith(")") else arg
                if not arg:
                    raise ValueError(f"{path}:{k + 1}: a doc-test skip needs a reason in parentheses")
            marker = (mk.group(1), arg)
        blocks.append(Block(path, len(blocks), lang, i + 1, tuple(lines[i + 1 : j]), marker))
        i = j + 1
    return blocks


def is_session(block: Block) -> bool:
    first = next((ln for ln in block.body if ln.strip()), "")
    return block.lang in SHELL_LANGS or (block.lang == "text" and first.startswith(PROMPT))


def examples(path: str) -> list[Example]:
    blocks = parse_blocks(path)
    out: list[Example] = []
    i = 0
    while i < len(blocks):
        b = blocks[i]
        nxt = blocks[i + 1] if i + 1 < len(blocks) else None
        if b.marker and b.marker[0] == "skip":
            out.append(Example("skip", b))
            # a skipped python block's output is skipped with it
            i += 2 if (b.lang == "python" and nxt and nxt.lang == "text" and not nxt.marker and not is_session(nxt)) else 1
        elif b.marker and b.marker[0] == "file":
            out.append(Example("file", b))
            i += 1
        elif b.lang == "python":
            if nxt and nxt.lang == "text" and not nxt.marker and not is_session(nxt):
                out.append(Example("python", b, nxt))
                i += 2
            else:
                out.append(Example("python", b))
                i += 1
        elif is_session(b):
            out.append(Example("shell", b))
            i += 1
        else:
            out.append(Example("orphan", b))
            i += 1
    return out


# --- comparison -----------------------------------------------------------------------------------

NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?(?:[eE][-+]?\d+)?"
NUMBER_RE = re.compile(r"(?<![\w.])" + NUMBER + r"(?![\w.])")
ELLIPSIS = "..."
TINY = 1e-5  # below this a figure is an error bar or rounding noise: compared by order of magnitude
TINY_FACTOR = 100.0  # how far apart two tiny figures may be (BLAS, CPU, numpy build)
FLOOR = 1e-14  # below this any two tiny figures match (a rounding error that happens to be 0 here)
RTOL = 1e-2  # other non-integer figures: relative agreement


def _value(s: str) -> float:
    return float(s.replace(",", ""))


def numbers_match(expected: str, actual: str) -> bool:
    e, a = _value(expected), _value(actual)
    if not any(c in expected for c in ".eE"):  # an integer (a count, an index, a size): exact
        return e == a or (e == 0 and abs(a) < FLOOR * TINY_FACTOR)  # but a printed 0 may come out as 3e-17
    if abs(e) < TINY:
        if abs(a) >= TINY:
            return False
        if abs(e) < FLOOR or abs(a) < FLOOR:
            return abs(e) < FLOOR * TINY_FACTOR and abs(a) < FLOOR * TINY_FACTOR
        return abs(math.log10(abs(a) / abs(e))) <= math.log10(TINY_FACTOR)
    return math.copysign(1, e) == math.copysign(1, a) and abs(a - e) <= RTOL * abs(e)


_pattern_cache: dict[str, tuple[re.Pattern[str], list[str]]] = {}


def _line_pattern(expected: str) -> tuple[re.Pattern[str], list[str]]:
    """A regex for an expected line ('...' is any text, a number any number, whitespace any whitespace)
    and the expected numbers, in the order of the regex's groups."""
    hit = _pattern_cache.get(expected)
    if hit is None:
        parts, numbers = [], []
        pieces = [p for p in re.split(r"(\.\.\.|\s+|" + NUMBER_RE.pattern + ")", expected) if p]
        for k, piece in enumerate(pieces):
            if piece == ELLIPSIS:
                parts.append("(?:.*?)")
            elif piece.isspace():
                # numpy pads array entries to one width: '[ 0.5 ]' and '[-0.25]' are the same layout
                near_bracket = (k and pieces[k - 1][-1] in "[(") or (k + 1 < len(pieces) and pieces[k + 1][0] in ")]")
                parts.append(r"\s*" if near_bracket else r"\s+")
            elif NUMBER_RE.fullmatch(piece):
                parts.append("(" + NUMBER + ")")
                numbers.append(piece)
            else:
                parts.append(re.escape(piece).replace(r"\[", r"\[\s*").replace(r"\]", r"\s*\]"))
        hit = _pattern_cache[expected] = (re.compile("".join(parts)), numbers)
    return hit


def line_matches(expected: str, actual: str) -> bool:
    expected, actual = expected.rstrip(), actual.rstrip()
    if expected == actual:
        return True
    pattern, numbers = _line_pattern(expected)
    m = pattern.fullmatch(actual)
    return bool(m) and all(numbers_match(e, a) for e, a in zip(numbers, m.groups(), strict=True))


def align(expected: list[str], actual: list[str]) -> tuple[float, list[str]]:
    """Minimum-cost alignment where a line '...' absorbs any run of lines (but no shell prompt).

    Returns (cost, merged): cost 0 means the output matches; merged is the actual output written with
    the doc's own text wherever the doc already matched, so that its elisions and its rounding of numbers
    survive an update. Dropping a line of the doc costs more than replacing it, so that an update keeps
    showing what the doc showed (in its new form) instead of letting a '...' swallow it.
    """
    m, n = len(expected), len(actual)
    ADD, DROP = 1.0, 3.0
    inf = float("inf")
    cost = [[inf] * (n + 1) for _ in range(m + 1)]  # cost[i][j]: aligning expected[i:] with actual[j:]
    move = [[""] * (n + 1) for _ in range(m + 1)]
    cost[m][n] = 0.0
    for i in range(m, -1, -1):
        for j in range(n, -1, -1):
            if i == m and j == n:
                continue
            options = []
            if i < m and expected[i].strip() == ELLIPSIS:
                options.append((cost[i + 1][j], "end"))
                if j < n and not actual[j].startswith(PROMPT):
                    options.append((cost[i][j + 1], "eat"))
            elif i < m and j < n:
                if line_matches(expected[i], actual[j]):
                    options.append((cost[i + 1][j + 1], "same"))
                else:
                    ratio = difflib.SequenceMatcher(None, expected[i], actual[j]).ratio()
                    options.append((cost[i + 1][j + 1] + 1 + 2 * (1 - ratio), "replace"))
            if i < m:
                options.append((cost[i + 1][j] + DROP, "drop"))
            if j < n:
                options.append((cost[i][j + 1] + ADD, "add"))
            cost[i][j], move[i][j] = min(options, key=lambda o: o[0])
    merged: list[str] = []
    i = j = 0
    while i < m or j < n:
        how = move[i][j]
        if how in ("end", "same"):
            merged.append(expected[i])
        elif how in ("replace", "add"):
            merged.append(actual[j])
        i += how in ("end", "same", "replace", "drop")
        j += how in ("eat", "same", "replace", "add")
    return cost[0][0], merged


def diff(expected: list[str], merged: list[str], name: str) -> str:
    return "\n".join(
        difflib.unified_diff(expected, merged, f"{name} (expected, in the doc)", f"{name} (actual)", lineterm="")
    )


# --- rewriting an output block ----------------------------------------------------------------------


@contextlib.contextmanager
def _locked(path: str):
    """Serialise rewrites of one file across pytest-xdist workers."""
    try:
        import fcntl
    except ImportError:  # no fcntl: rewrites are not made concurrently-safe there
        yield
        return
    lock = os.path.join(tempfile.gettempdir(), "gradcheck-docs-" + re.sub(r"\W", "_", os.path.abspath(path)) + ".lock")
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def rewrite_block(block: Block, new_body: list[str]) -> None:
    """Replace the body of one fenced block, found again by ordinal, and nothing else in the file.

    Refuses when the block no longer holds what was compared (the file changed meanwhile).
    """
    with _locked(block.path):
        with open(block.path, encoding="utf-8", newline="") as fh:
            text = fh.read()
        newline = "\r\n" if "\r\n" in text else "\n"
        current = parse_blocks(block.path, text)[block.ordinal]
        if current.body != block.body or current.lang != block.lang:
            raise RuntimeError(f"{block.path}:{block.line}: the block changed since it was read; not rewritten")
        lines = text.splitlines(keepends=True)
        start = current.line  # index of the first body line (the fence is line current.line, 1-based)
        end = start + len(current.body)
        lines[start:end] = [ln + newline for ln in new_body]
        tmp = block.path + ".doc-test.tmp"
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write("".join(lines))
        os.replace(tmp, block.path)
