"""Every code block of README.md and docs/*.md runs here, one test per block.

Conventions (the README's "Docs that run" section says the same for writers):

* A ```python block runs. The blocks of one file share one namespace and run in order, top to bottom, as a
  reader would run them; a test for a block whose predecessors did not run in this process (`-k`, or another
  pytest-xdist worker) first runs the python and file blocks before it, not the shell sessions.
* A ```text block right after a python block is what that block prints, and is compared with it. A python
  block with no such block must print nothing: every output a doc shows is produced beside it.
* A ```bash / ```console block, or a ```text block whose first line starts with `$ `, is a shell session:
  each `$ gradcheck ...` line runs (in this process, through the console script's entry point
  `gradcheck.cli.main`), and the lines under it are its output (stdout and stderr). `$ echo $?` prints the
  previous command's exit status. `pip install` commands are not run (CI installed the package already);
  any other command is an error.
  Commands of one file run in a temporary directory of that file's own, where python blocks run too, and
  where `gradcheck/sheets/` holds the shipped sheets, as in a checkout.
* `<!-- doc-test: file NAME -->` just before a block writes its text to NAME in that directory (a sheet that a
  later command reads). `<!-- doc-test: skip (reason) -->` just before a block skips it (and the output block
  of a python block) with that reason: only for what cannot run in CI.
* Any other block fails its test: a block that nothing runs would drift.

Outputs are compared line by line, leniently where machines legitimately differ:

* `...` alone on a line stands for any number of lines (never a `$ ` command line); `...` within a line for
  any text (like doctest's ELLIPSIS). Runs of spaces match any run of spaces (columns shift with widths),
  and may vanish next to a bracket (numpy pads array entries: `[ 0.5 ]`, `[-0.25]`).
* Integers (counts, indices, sizes) must be equal (a printed 0 may also come out as noise below 1e-12).
  Figures below 1e-5 in magnitude are error bars and rounding errors, which vary with BLAS, CPU and numpy
  build: they must be below 1e-5 too and within a factor of 100 (one below 1e-14 matches any below 1e-12).
  Other figures agree to a relative 1e-2 with the same sign. Times, and evaluation counts (which follow
  rounding-dependent decisions), are written as `...` in the doc.

When an output differs, the failure shows a unified diff of the doc's block against the actual output, with
the doc's own text kept wherever it already matched (its `...` and its rounding). With
GRADCHECK_DOCS_UPDATE=1 that actual output replaces the block in the Markdown file (that block's lines only,
nothing else) and the test still fails, so that the rewrite is seen; review it with `git diff`.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import shlex
import shutil
import tempfile
from pathlib import Path

import _docblocks as db
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
UPDATE = os.environ.get("GRADCHECK_DOCS_UPDATE", "") not in ("", "0")


def _collect():
    params = []
    for path in DOCS:
        for index, ex in enumerate(db.examples(str(path))):
            params.append(pytest.param(str(path), index, id=ex.id))
    return params


class FileRun:
    """One Markdown file read top to bottom in this process: its namespace, its directory, how far it got."""

    def __init__(self, path: str):
        self.path = path
        self.examples = db.examples(path)
        self.namespace: dict = {"__name__": "__doc_example__"}
        self.dir = tempfile.mkdtemp(prefix="gradcheck-docs-")
        atexit.register(shutil.rmtree, self.dir, True)
        # The shipped sheets at the path a reader in a checkout uses (a directory without __init__.py: the
        # package itself still comes from the path).
        sheets = Path(self.dir, "gradcheck", "sheets")
        sheets.parent.mkdir()
        try:
            sheets.symlink_to(ROOT / "gradcheck" / "sheets")
        except OSError:  # no symlinks here (Windows without the privilege)
            shutil.copytree(ROOT / "gradcheck" / "sheets", sheets)
        self.next = 0
        self.last_status = 0
        self.broken: str | None = None  # an earlier block that raised: later ones cannot run

    def run_python(self, ex: db.Example) -> list[str]:
        # Compiled at the block's own line numbers, so a traceback points into the Markdown file.
        code = compile("\n" * ex.block.line + "\n".join(ex.block.body), self.path, "exec")
        out = io.StringIO()
        with _cwd(self.dir), contextlib.redirect_stdout(out):
            exec(code, self.namespace)
        return out.getvalue().splitlines()

    def run_shell(self, ex: db.Example) -> list[str]:
        transcript: list[str] = []
        for prompt_lines, command in _commands(ex.block.body):
            transcript += prompt_lines
            transcript += self._run_command(command)
        return transcript

    def _run_command(self, command: str) -> list[str]:
        output: list[str] = []
        for part in _split_and(shlex.split(command)):
            if part[:2] == ["pip", "install"]:
                continue  # CI installed the package; a doc's install line is not run
            if part == ["echo", "$?"]:
                output.append(str(self.last_status))
                continue
            if part[0] != "gradcheck":
                raise ValueError(f"a doc shell block may run only gradcheck commands, not {part[0]!r}")
            self.last_status = _gradcheck_main(part[1:], self.dir, output)
            if self.last_status:
                break  # `a && b` stops at a failing a
        return output

    def write_file(self, ex: db.Example) -> None:
        name = ex.block.marker[1]
        if not name or os.path.isabs(name) or ".." in Path(name).parts:
            raise ValueError(f"doc-test file needs a relative name inside the example directory, not {name!r}")
        target = Path(self.dir, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(ex.block.body) + "\n", encoding="utf-8")

    def run(self, ex: db.Example) -> tuple[db.Block | None, list[str]]:
        """Run one example; return the block holding its expected output (None: it must print nothing) and
        what it printed."""
        if ex.kind == "file":
            self.write_file(ex)
        elif ex.kind == "python":
            return ex.output, self.run_python(ex)
        elif ex.kind == "shell":
            return ex.block, self.run_shell(ex)
        return None, []


_runs: dict[str, FileRun] = {}


def _file_run(path: str, index: int) -> FileRun:
    """The file's run, advanced to just before example `index` (replayed from the top if it went past)."""
    run = _runs.get(path)
    if run is None or run.next > index:
        run = _runs[path] = FileRun(path)
    while run.next < index and run.broken is None:
        ex = run.examples[run.next]
        run.next += 1
        if ex.kind in ("skip", "orphan", "shell"):
            continue  # shell sessions are not replayed: a command's effects are for its own block only
        try:
            run.run(ex)  # its own test compares its output; here it only sets up the namespace and files
        except Exception as exc:
            run.broken = f"{ex.id} raised {type(exc).__name__}: {exc}"
    return run


@pytest.mark.parametrize(("path", "index"), _collect())
def test_doc_block(path: str, index: int) -> None:
    run = _file_run(path, index)
    ex = run.examples[index]
    run.next = index + 1
    if ex.kind == "skip":
        pytest.skip(f"{ex.id}: {ex.block.marker[1]}")
    if ex.kind == "orphan":
        pytest.fail(
            f"{ex.id}: a ```{ex.block.lang or '(no language)'} block that nothing runs; make it runnable, an "
            "output block right after a python block, or mark it <!-- doc-test: file NAME --> or "
            "<!-- doc-test: skip (reason) -->", pytrace=False,
        )
    if run.broken:
        pytest.fail(f"an earlier block of this file failed, so this one cannot run: {run.broken}", pytrace=False)
    try:
        block, actual = run.run(ex)
    except Exception:
        run.broken = f"{ex.id} raised"
        raise
    actual = _trim(actual)
    if block is None:
        if actual:
            pytest.fail(
                f"{ex.id}: the block prints output the doc does not show; add a ```text block after it with that "
                "output:\n" + "\n".join(actual), pytrace=False,
            )
        return
    expected = _trim(list(block.body))
    edits, merged = db.align(expected, actual)
    if edits == 0:
        return
    message = (
        f"{ex.id}: the output differs from the doc's block at line {block.line}:\n"
        + db.diff(expected, merged, os.path.relpath(path, ROOT))
    )
    if UPDATE:
        db.rewrite_block(block, merged)
        pytest.fail(message + "\n\nGRADCHECK_DOCS_UPDATE: the block was rewritten with the actual output.", pytrace=False)
    pytest.fail(message + "\n\n(GRADCHECK_DOCS_UPDATE=1 rewrites the block with the actual output.)", pytrace=False)


def _gradcheck_main(args: list[str], cwd: str, output: list[str]) -> int:
    """Run the console script's entry point in this process (a new interpreter per command would spend
    about a second importing numpy and sympy again), stdout and stderr interleaved as on a terminal."""
    from gradcheck.cli import main

    buf = io.StringIO()
    with _cwd(cwd), contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            status = main(args)
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    output += buf.getvalue().splitlines()
    return int(status or 0)


def _trim(lines: list[str]) -> list[str]:
    lines = [ln.rstrip() for ln in lines]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _commands(body):
    """Yield (the prompt lines as written, the command) for each `$ ` command of a session block.

    A block without any prompt (a plain ```bash block) is one command per line, with no output shown.
    """
    lines = list(body)
    prompted = any(ln.startswith(db.PROMPT) for ln in lines)
    i = 0
    while i < len(lines):
        line = lines[i]
        if prompted and not line.startswith(db.PROMPT):
            i += 1  # an output line: compared, not run
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            i += 1
            continue
        shown = [line]
        command = line[len(db.PROMPT):] if prompted else line
        while command.endswith("\\") and i + 1 < len(lines):
            i += 1
            shown.append(lines[i])
            command = command[:-1] + " " + lines[i].strip()
        i += 1
        yield shown, command


def _split_and(tokens: list[str]) -> list[list[str]]:
    parts, current = [], []
    for tok in tokens:
        if tok == "&&":
            parts.append(current)
            current = []
        else:
            current.append(tok)
    parts.append(current)
    return [p for p in parts if p]


@contextlib.contextmanager
def _cwd(path: str):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


# --- the comparison and the rewrite themselves --------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "actual", "same"),
    [
        ("max abs err 0.433, max rel err 0.5", "max abs err 0.4331, max rel err 0.5", True),
        ("max abs err 0.433, max rel err 0.5", "max abs err 0.443, max rel err 0.5", False),  # 2% off
        ("analytic -0.86506576", "analytic 0.86506576", False),  # sign
        ("max abs err 1.67e-12, resolution 5.4e-10", "max abs err 9e-14, resolution 2e-9", True),  # rounding
        ("resolution 5.4e-10", "resolution 2e-7", False),  # 370x coarser
        ("resolution 5.4e-10", "resolution 0.02", False),
        ("abs err 0", "abs err 3e-17", True),
        ("12 of 12 entries mismatch", "11 of 12 entries mismatch", False),  # counts are exact
        ("7,114 entries", "7114 entries", True),
        ("(17, 4)  12.6", "(17, 5)  12.6", False),
        ("check_grad of <lambda> (...): ok", "check_grad of <lambda> (/x/README.md:31): ok", True),
        ("  ... and 10 more", "  ... and 7 more", False),
        ("ok [-0.39904859 -0.58990077  0.54549318] [1. 2.]", "ok [-0.399 -0.5899  0.5455 ] [1. 2.]", True),
        ("a  b", "a b", True),
        ("a b", "ab", False),
        ("float32: tolerances", "float64: tolerances", False),  # digits inside words are text
    ],
)
def test_line_matching(expected: str, actual: str, same: bool) -> None:
    assert db.line_matches(expected, actual) is same


def test_ellipsis_lines_absorb_runs_but_not_commands() -> None:
    assert db.align(["a", "...", "z"], ["a", "b", "c", "z"])[0] == 0
    assert db.align(["a", "...", "z"], ["a", "z"])[0] == 0
    assert db.align(["$ gradcheck x", "...", "$ echo $?"], ["$ gradcheck x", "out", "$ gradcheck y", "$ echo $?"])[0] > 0
    assert db.align(["a", "b"], ["a", "b", "c"])[0] > 0  # a line the doc does not show, and no '...' for it


def test_update_keeps_the_docs_elisions_and_rounding() -> None:
    expected = ["head 1.0 ok", "...", "row 0.433", "tail 5 entries"]
    actual = ["head 1.0001 ok", "x", "y", "row 0.433", "tail 6 entries", "new line"]
    cost, merged = db.align(expected, actual)
    assert cost > 0
    assert merged == ["head 1.0 ok", "...", "row 0.433", "tail 6 entries", "new line"]


def test_rewrite_replaces_that_block_only(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# t\n\n```python\nprint(1)\n```\n\n```text\n2\n```\n\nprose ```text\n\n```text\n$ gradcheck x\nold\n```\n",
        encoding="utf-8",
    )
    before = doc.read_text(encoding="utf-8")
    ex = db.examples(str(doc))
    assert [e.kind for e in ex] == ["python", "shell"]
    db.rewrite_block(ex[0].output, ["1", "and more"])
    after = doc.read_text(encoding="utf-8")
    assert after == before.replace("```text\n2\n```", "```text\n1\nand more\n```")
    # the shell block, found again by its ordinal although its line moved
    db.rewrite_block(ex[1].block, ["$ gradcheck x", "new"])
    assert doc.read_text(encoding="utf-8") == after.replace("old\n", "new\n")
    with pytest.raises(RuntimeError, match="changed since it was read"):
        db.rewrite_block(ex[1].block, ["$ gradcheck x"])  # the doc no longer holds what was compared


def test_markers(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "<!-- doc-test: skip (too long here) -->\n```python\nprint(1)\n```\n```text\n1\n```\n\n"
        "<!-- doc-test: file a.toml -->\n\n```toml\nx = 1\n```\n\n```toml\ny = 2\n```\n",
        encoding="utf-8",
    )
    ex = db.examples(str(doc))
    assert [(e.kind, e.block.marker) for e in ex] == [
        ("skip", ("skip", "too long here")),
        ("file", ("file", "a.toml")),
        ("orphan", None),
    ]
