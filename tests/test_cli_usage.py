"""Usage errors of every command: one line on stderr (two with the help hint), exit status 2, no traceback;
and every command's help: an argument's help text, its exit statuses, --version."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import gradcheck
from gradcheck import registry
from gradcheck.cli import build_parser, main, parsers

LS = ["--loss", "sum(A*A)", "--grad", "A=2*A", "--shape", "A=2,2"]
OK_SHEET = '[a]\nloss = "sum(x*x)"\ngrads = { x = "2*x" }\nshapes = { x = "3,1" }\n'


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The bad inputs of the table, in a fresh current directory (nothing lands in the checkout)."""
    (tmp_path / "latin1.toml").write_bytes(OK_SHEET.encode() + "# caf\xe9\n".encode("latin-1"))
    (tmp_path / "ok.toml").write_text(OK_SHEET)
    (tmp_path / "deep.toml").write_text("a = " + "[" * 40_000 + "]" * 40_000 + "\n")
    with open(tmp_path / "huge.toml", "wb") as f:  # sparse: no 5 MiB written
        f.truncate(5 * 2**20)
    (tmp_path / "a_file").write_text("")
    (tmp_path / "deep.json").write_text("[" * 40_000 + "]" * 40_000)
    (tmp_path / "hand.json").write_text(json.dumps({"schema": "gradcheck-report", "schema_version":
                                                    _schema_version(), "shard": {}}))
    (tmp_path / "exits_zero_for_gradcheck.py").write_text("import sys\n\nsys.exit(0)\n")
    (tmp_path / "exits_text_for_gradcheck.py").write_text("import sys\nsys.exit('no GPU here')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    registry.derivations()  # loaded before the snapshot: restoring an unloaded (empty) one would empty it for good
    saved = dict(registry._REGISTRY)
    yield tmp_path
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)


def _schema_version() -> int:
    from gradcheck.report import REPORT_SCHEMA_VERSION

    return REPORT_SCHEMA_VERSION


def _deep(n: int) -> str:
    return "[" * n + "1" + "]" * n


USAGE_ERRORS = [
    # the parser: subcommands, unknown options (with a suggestion), no abbreviations
    (["report", "--seedz", "3"], "gradcheck report: error: unrecognized argument --seedz; did you mean --seeds?"),
    (["report", "--seed", "5"], "unrecognized argument --seed; did you mean --seeds?"),
    (["report", "--no-plot"], "unrecognized argument --no-plot; did you mean --no-plots?"),
    (["report", "--seeds=3", "--bogus=1"], "unrecognized argument --bogus"),
    (["report", "merge", "--seedz", "3", "x.json"], "gradcheck report merge: error: unrecognized argument --seedz"),
    (["report", "merge"], "gradcheck report merge: error: the following arguments are required: SHARD.json"),
    (["list", "--onl", "least_squares.*"], "gradcheck list: error: unrecognized argument --onl; did you mean --only?"),
    (["list", "stray"], "gradcheck list: error: unexpected argument 'stray'"),
    (["verify", *LS, "--sed", "1"], "gradcheck verify: error: unrecognized argument --sed; did you mean --seed?"),
    (["verify", *LS, "--point", "1"], "unrecognized argument --point"),
    ([], "gradcheck: error: the following arguments are required: COMMAND"),
    (["bogus"], "invalid choice: 'bogus'"),
    (["report", "--method", "bogus"], "argument --method: invalid choice: 'bogus'"),
    (["verify", *LS, "--points", "x"], "argument --points: invalid int value: 'x'"),
    # option values
    (["report", "--seeds", "x"], "gradcheck report: error: --seeds='x': expected a count"),
    (["list", "--only", "zzz*"], "gradcheck list: error: --only='zzz*': no derivation matches"),
    # --module that exits on import: exit 0 there was a green CI job that checked nothing
    (["report", "--module", "exits_zero_for_gradcheck"],
     "--module='exits_zero_for_gradcheck': importing it called sys.exit(0) at exits_zero_for_gradcheck.py:3"),
    (["list", "--module", "exits_text_for_gradcheck"], "importing it called sys.exit('no GPU here')"),
    (["list", "--module", ""], "--module='': expected a module name"),
    (["report", "--module", " "], "--module=' ': expected a module name"),
    # verify: duplicates (the last one silently won) and conflicting structures
    (["verify", *LS, "--shape", "A=3,3"], "--shape A= is given twice ('2,2' and '3,3')"),
    (["verify", *LS, "--grad", "A=3*A"], "--grad A= is given twice ('2*A' and '3*A')"),
    (["verify", *LS, "--value", "A=[[1,0],[0,1]]", "--value", "A=[[2,0],[0,2]]"], "--value A= is given twice"),
    (["verify", *LS, "--def", "z=A", "--def", "z=2*A"], "--def z= is given twice"),
    (["verify", *LS, "--structure", "A=positive", "--structure", "A=unit"], "--structure A= is given twice"),
    (["verify", *LS, "--spd", "A", "--symmetric", "A"], "'A' is given two structures: --spd (spd) and --symmetric"),
    (["verify", *LS, "--spd", "A", "--structure", "A=positive"], "'A' is given two structures"),
    # verify: input that used to raise
    (["verify", *LS, "--value", "b=" + _deep(40_000)], "--value b=...: nested too deeply to be an array"),
    (["verify", *LS, "--value", "b=" + _deep(60)], "--value b=...: nested 60 deep; a value has at most 4"),
    (["verify", "--sheet", "latin1.toml"], "sheet latin1.toml: is not UTF-8 text (byte 0xe9 at offset"),
    (["verify", "--sheet", "deep.toml"], "sheet deep.toml: is nested too deeply to be a sheet"),
    (["verify", "--sheet", "huge.toml"], "sheet huge.toml: is larger than 4 MiB"),
    (["verify", "--sheet", "ok.toml", "--out", "a_file"], "--out='a_file': exists and is not a directory"),
    (["verify", *LS, "--out", "somewhere"], "--out='somewhere' writes --sheet reports"),
    # report merge: shards that are not
    (["report", "merge", "deep.json"], "deep.json: not a shard (JSON nested too deeply)"),
    (["report", "merge", "hand.json"], "the shards are malformed (missing 'count')"),
]


@pytest.mark.parametrize(("argv", "message"), USAGE_ERRORS, ids=lambda v: " ".join(v)[:60] if isinstance(v, list) else None)
def test_usage_error_is_one_line_and_exit_2(argv: list[str], message: str, files: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, err
    assert message in err
    lines = err.splitlines()
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("see 'gradcheck")), err
    assert "Traceback" not in err and out == ""


def test_usage_errors_through_python_dash_m_have_no_usage_dump(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "gradcheck", "report", "--seedz", "3"], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, env={**os.environ, "PYTHONPATH": _checkout()})
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == ["gradcheck report: error: unrecognized argument --seedz; did you mean --seeds?",
                                        "see 'gradcheck report --help'"]


@pytest.mark.skipif(not os.path.exists("/dev/zero") or sys.platform == "win32", reason="needs /dev/zero and rlimits")
def test_a_device_sheet_is_refused_not_read(tmp_path: Path) -> None:
    """In a child process whose memory is capped: a regression reads /dev/zero until MemoryError, not the machine's."""
    import resource

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))

    proc = subprocess.run([sys.executable, "-m", "gradcheck", "verify", "--sheet", "/dev/zero"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, env={**os.environ, "PYTHONPATH": _checkout()},
                          preexec_fn=cap)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "gradcheck verify: sheet /dev/zero: is not a regular file (a device, pipe or directory); " \
                          "give a .toml file\n"


def _checkout() -> str:
    return str(Path(gradcheck.__file__).resolve().parents[1])


def test_keyboard_interrupt_in_a_module_still_interrupts(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (files / "interrupts_for_gradcheck.py").write_text("raise KeyboardInterrupt\n")
    assert main(["list", "--module", "interrupts_for_gradcheck"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"gradcheck {gradcheck.__version__}\n"


def test_report_merge_is_its_own_command(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Parsed as a command, not as a positional of report: report's options are not merge's."""
    assert main(["report", "merge", "x.json", "--seeds", "3"]) == 2
    assert "gradcheck report merge: error: unrecognized argument --seeds" in capsys.readouterr().err
    assert main(["report", "--out", "r", "merge", "x.json"]) == 2  # merge after report's options is a stray value
    assert "gradcheck report: error: unexpected argument 'merge': write 'gradcheck report merge" in capsys.readouterr().err


def test_a_right_formula_over_1e5_entries_says_right_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["verify", "--loss", "sum(A*A)", "--grad", "A=2*A", "--shape", "A=400,300", "--points", "1",
                 "--no-symbolic"])
    out, err = capsys.readouterr()
    assert code == 0 and out.startswith("RIGHT: d/dA = 2*A") and err == ""


# --------------------------------------------------------------------------- help
def _missing_help(parser: argparse.ArgumentParser) -> list[str]:
    """Arguments (and subcommands) of ``parser`` without help text."""
    missing = []
    for action in parser._actions:
        if not action.help or action.help == argparse.SUPPRESS:
            missing.append(f"{parser.prog}: {'/'.join(action.option_strings) or action.dest}")
        if isinstance(action, argparse._SubParsersAction):
            missing += [f"{parser.prog} {c.dest}" for c in action._choices_actions if not c.help]
    return missing


def test_every_argument_of_every_command_has_help() -> None:
    all_parsers = parsers()
    assert {p.prog for p in all_parsers} == {"gradcheck", "gradcheck report", "gradcheck report merge",
                                              "gradcheck list", "gradcheck verify"}
    assert [m for p in all_parsers for m in _missing_help(p)] == []


def test_the_help_checker_finds_an_argument_without_help() -> None:
    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("--documented", help="yes")
    parser.add_argument("--bare")
    assert _missing_help(parser) == ["x: --bare"]


@pytest.mark.parametrize(("command", "codes"), [
    (["report"], ["0", "1", "2", "130", "3"]),
    (["report", "merge"], ["0", "1", "2", "130", "3"]),
    (["list"], ["0", "2", "130", "3"]),
    (["verify"], ["0", "1", "4", "2", "130", "3"]),
])
def test_every_command_help_ends_with_its_exit_statuses(command: list[str], codes: list[str],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    table = out.rsplit("exit status:\n", 1)[1]
    assert [line.split()[0] for line in table.splitlines() if line.startswith("  ") and line.split()[0].isdigit()] \
        == codes


def test_no_parser_accepts_abbreviations() -> None:
    assert all(not p.allow_abbrev for p in parsers(build_parser()))


def test_a_bug_exits_3_not_1(monkeypatch, capsys) -> None:
    """1 means "a gradient is wrong" to a CI job; a crash of gradcheck itself must not read so."""
    import gradcheck.cli as cli

    def broken(args, argv):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "_cmd_list", broken)
    assert cli.main(["list"]) == 3
    err = capsys.readouterr().err
    assert "RuntimeError: boom" in err and "internal error (exit 3)" in err
