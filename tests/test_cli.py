"""The gradcheck command line: exit statuses, options, and clear messages for bad arguments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import gradcheck
from gradcheck import registry
from gradcheck.cli import main, parse_seeds

FAST = ["--seeds", "1", "--sizes", "default", "--no-progress", "--no-plots", "--oracle", "fd"]  # the symbolic default: tests/test_report_symbolic.py


@pytest.fixture
def restore_registry() -> Iterator[None]:
    """Derivations registered by a test's --module must not leak into other tests' registry listings."""
    registry.derivations()
    saved = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_registry: None, request: pytest.FixtureRequest) -> str:
    """A user module registering one wrong gradient expected correct, and one correct gradient labelled a slip."""
    name = f"user_derivs_{request.node.name.replace('[', '_').replace(']', '_').replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(f"""
        import numpy as np
        from gradcheck.registry import Problem, register

        def loss(p, d, xp=None):
            return (p["x"] ** 2).sum()

        def right(p, d):
            return {{"x": 2 * p["x"]}}

        def wrong(p, d):
            return {{"x": 2.001 * p["x"]}}

        def make(rng, n=3):
            return Problem(params={{"x": rng.normal(size=(n, 1))}})

        register(name="{name}.wrong", loss=loss, grad=wrong)(make)
        register(name="{name}.slip_that_is_right", loss=loss, grad=right, expected_correct=False,
                 slip="labelled a slip but correct", corrects="{name}.wrong")(make)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_report_on_one_derivation_writes_three_formats_and_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["report", "--only", "least_squares.x", "--out", str(tmp_path), *FAST], capsys)
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gradcheck-report.html", "gradcheck-report.json", "gradcheck-report.md"]
    header = out.splitlines()[0].split()
    assert header == ["derivation", "parameter", "verdict", "max", "abs", "err", "max", "rel", "err", "resolution", "tolerance",
                      "kinks", "scheme"]
    assert any(line.startswith("least_squares.x") and " pass " in line for line in out.splitlines())
    assert "OK: all expected results held for 1 derivations (1 checks)" in out


def test_published_slip_is_an_expected_failure_not_a_failed_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["report", "--only", "sigmoid_layer.published_dW_numerator", "--out", str(tmp_path), "--format", "json", *FAST]
    code, out, _ = run(args, capsys)
    assert code == 0
    assert "expected fail" in out and "transpose" in out
    assert json.loads((tmp_path / "gradcheck-report.json").read_text())["summary"]["counts"] == {"expected_fail": 1}
    code, _, _ = run([*args, "--fail-on", "unexpected"], capsys)
    assert code == 0


def test_mismatch_of_a_correct_expected_derivation_exits_1(user_module: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["report", "--module", user_module, "--only", f"{user_module}.wrong", "--out", str(tmp_path), "--format", "md", *FAST]
    code, out, _ = run(args, capsys)
    assert code == 1
    assert f"FAILED: 1 of 1 derivations did not hold ({user_module}.wrong)" in out
    assert "1.001" in out or "2001/2000" in out or "factor" in out  # the core's diagnosis reaches the table's notes
    assert run([*args, "--fail-on", "never"], capsys)[0] == 0


def test_unexpected_pass_is_reported_and_fails_only_under_fail_on_unexpected(user_module: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["report", "--module", user_module, "--only", f"{user_module}.slip*", "--out", str(tmp_path), "--format", "json", *FAST]
    code, out, _ = run(args, capsys)
    assert code == 0
    assert "UNEXPECTED PASS" in out and "not failing the run under --fail-on=mismatch" in out
    assert run([*args, "--fail-on", "unexpected"], capsys)[0] == 1


def test_only_accepts_globs_and_comma_lists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["report", "--only", "least_squares.*,kron_vec.row_major", "--out", str(tmp_path), "--format", "json", *FAST], capsys)
    assert code == 0
    names = [s["name"] for s in json.loads((tmp_path / "gradcheck-report.json").read_text())["subjects"]]
    assert names == ["kron_vec.row_major", "least_squares.A", "least_squares.x"]


def test_seeds_and_sizes_multiply_the_cases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["report", "--only", "least_squares.x", "--seeds", "0,4", "--sizes", "default,x2", "--out", str(tmp_path),
            "--format", "json", "--no-progress"]
    assert run(args, capsys)[0] == 0
    cases = json.loads((tmp_path / "gradcheck-report.json").read_text())["subjects"][0]["cases"]
    assert [(c["seed"], c["sizes"]) for c in cases] == [(0, {"m": 5, "n": 4}), (4, {"m": 5, "n": 4}),
                                                        (0, {"m": 10, "n": 8}), (4, {"m": 10, "n": 8})]


@pytest.mark.parametrize(("args", "message"), [
    (["--seeds", "abc"], "--seeds='abc': expected a count"),
    (["--seeds", "0"], "--seeds='0': a count must be at least 1"),
    (["--seeds", "1,-2"], "--seeds='1,-2'"),
    (["--format", "md,pdf"], "--format='md,pdf': unknown format 'pdf'"),
    (["--format", ","], "--format=',': no format given"),
    (["--sizes", "x3"], "--sizes='x3': expected a comma-separated list of default, x2"),
    (["--only", "least_sqares.x"], "did you mean 'least_squares.x'"),
    (["--only", "zzz*"], "--only='zzz*': no derivation matches"),
    (["--module", "no_such_module_for_gradcheck"], "--module='no_such_module_for_gradcheck': cannot import"),
    (["--method", "bogus"], "argument --method: invalid choice: 'bogus'"),
    (["--fail-on", "sometimes"], "argument --fail-on: invalid choice: 'sometimes'"),
    (["--no-such-option"], "unrecognized argument --no-such-option"),
    (["--seeds", "99999999999999999999"], "--seeds='99999999999999999999': a count must be at most 10000"),
    (["--seeds", "99999999999999999999,"], "seed 99999999999999999999 is out of range"),
    (["--seeds", "0,4294967296"], "seed 4294967296 is out of range"),
    (["--out", ""], "--out='': expected a directory (use --out . for the current directory)"),
])
def test_bad_arguments_exit_2_naming_the_option(args: list[str], message: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["report", "--out", str(tmp_path / "r"), *args], capsys)
    assert code == 2
    assert message in err
    assert not (tmp_path / "r" / "gradcheck-report.md").exists()


def test_out_that_is_a_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    code, _, err = run(["report", "--only", "least_squares.x", "--out", str(target), *FAST], capsys)
    assert code == 2 and "--out=" in err and "not a directory" in err


@pytest.mark.parametrize(("text", "seeds"), [("3", [0, 1, 2]), ("0,5,9", [0, 5, 9]), ("7,", [7]), ("2,2,1", [2, 1])])
def test_parse_seeds(text: str, seeds: list[int]) -> None:
    assert parse_seeds(text) == seeds


def test_reruns_give_identical_json_apart_from_the_timestamp(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts = []
    out = tmp_path / "same"
    for _ in range(2):
        assert run(["report", "--only", "least_squares.x,relu_softmax.published_sum_loss", "--out", str(out),
                    "--format", "json,md", *FAST], capsys)[0] == 0
        texts.append(((out / "gradcheck-report.json").read_text(), (out / "gradcheck-report.md").read_text()))
    (j0, m0), (j1, m1) = texts
    d0, d1 = json.loads(j0), json.loads(j1)
    d0.pop("generated_at"), d1.pop("generated_at")
    assert d0 == d1
    assert [line for line in m0.splitlines() if not line.startswith("Generated at")] == \
           [line for line in m1.splitlines() if not line.startswith("Generated at")]


def test_source_date_epoch_pins_the_timestamp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert run(["report", "--only", "least_squares.x", "--out", str(tmp_path), "--format", "json", *FAST], capsys)[0] == 0
    assert json.loads((tmp_path / "gradcheck-report.json").read_text())["generated_at"] == "2023-11-14T22:13:20Z"


def test_progress_is_plain_lines_in_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CI", "true")
    code, _, err = run(["report", "--only", "least_squares.*", "--seeds", "1", "--sizes", "default", "--out", str(tmp_path),
                        "--format", "json"], capsys)
    assert code == 0
    assert err.splitlines() == ["[1/2] least_squares.A seed=0 sizes=default (m=5, n=4): pass",
                                "[2/2] least_squares.x seed=0 sizes=default (m=5, n=4): pass"]


def test_list_and_python_dash_m(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "gradcheck", "list", "--only", "least_squares.*"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert [line.split()[0] for line in proc.stdout.splitlines()] == ["least_squares.A", "least_squares.x"]
    bad = subprocess.run([sys.executable, "-m", "gradcheck", "report", "--seeds", "x"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--seeds='x'" in bad.stderr


# --------------------------------------------------------------------------- --out that cannot be written
def _refuse_files_in(directory: Path, monkeypatch: pytest.MonkeyPatch, prefix: str = "") -> None:
    """Make creating files in ``directory`` fail with EACCES, as the OS does for an unwritable directory.

    Root ignores permission bits and a read-only bind mount needs privileges a test does not
    have, so the refusal is injected at the one call through which gradcheck creates files
    (``tempfile.mkstemp``, used by the write probe and by the atomic writer alike), which is
    where a real EACCES or EROFS surfaces. ``test_unwritable_out_directory_for_real`` checks
    the same with real permission bits wherever the tests do not run as root.
    """
    real = tempfile.mkstemp

    def mkstemp(*args: object, **kwargs: object) -> tuple[int, str]:
        where = kwargs.get("dir")
        if where is not None and Path(str(where)).resolve() == directory.resolve() \
                and str(kwargs.get("prefix", "")).startswith(prefix):
            raise PermissionError(13, "Permission denied", str(where))
        return real(*args, **kwargs)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


def test_unwritable_out_directory_fails_before_the_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "locked"
    out.mkdir()
    _refuse_files_in(out, monkeypatch)
    code, stdout, err = run(["report", "--only", "least_squares.x", "--out", str(out), *FAST], capsys)
    assert code == 2
    assert f"--out={str(out)!r}: cannot write files in the directory (Permission denied)" in err
    assert stdout == "" and "Traceback" not in err  # no check ran, nothing claimed OK
    assert list(out.iterdir()) == []


def test_out_directory_that_stops_being_writable_during_the_checks_is_an_error_not_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "later"
    out.mkdir()
    _refuse_files_in(out, monkeypatch, prefix=".gradcheck-report.")  # the probe passes, the report's files fail
    code, _, err = run(["report", "--only", "least_squares.x", "--out", str(out), *FAST], capsys)
    assert code == 2
    assert f"--out={str(out)!r}: cannot write the report" in err and "Permission denied" in err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes through permission bits")
def test_unwritable_out_directory_for_real(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "readonly"
    out.mkdir()
    out.chmod(0o555)
    try:
        code, stdout, err = run(["report", "--only", "least_squares.x", "--out", str(out), *FAST], capsys)
    finally:
        out.chmod(0o755)
    assert code == 2 and "cannot write files in the directory" in err and stdout == ""


def test_out_under_a_regular_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A path no user, root included, can create: its parent is a file."""
    (tmp_path / "file").write_text("x")
    code, stdout, err = run(["report", "--only", "least_squares.x", "--out", str(tmp_path / "file" / "sub"), *FAST],
                            capsys)
    assert code == 2 and "cannot create the directory" in err and stdout == ""


def test_empty_out_writes_nothing_in_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["report", "--only", "least_squares.x", "--out", "", *FAST], capsys)
    assert code == 2 and "--out=''" in err
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- SOURCE_DATE_EPOCH, --module
@pytest.mark.parametrize("value", ["99999999999999999", "253402300800", "1e9", "-1", "soon", "１２"])
def test_malformed_source_date_epoch_is_a_usage_error(value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    code, stdout, err = run(["report", "--only", "least_squares.x", "--out", str(tmp_path), *FAST], capsys)
    assert code == 2
    assert f"SOURCE_DATE_EPOCH={value!r}: expected whole seconds since 1970-01-01 UTC" in err
    assert stdout == "" and list(tmp_path.iterdir()) == []


def test_largest_source_date_epoch_is_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "253402300799")
    assert run(["report", "--only", "least_squares.x", "--out", str(tmp_path), "--format", "json", *FAST], capsys)[0] == 0
    assert json.loads((tmp_path / "gradcheck-report.json").read_text())["generated_at"] == "9999-12-31T23:59:59Z"


def test_module_that_raises_on_import_is_a_usage_error_naming_its_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_registry: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "raises_on_import_for_gradcheck.py").write_text("import math\n\nraise RuntimeError('broken on purpose')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for command in (["report", "--out", str(tmp_path / "r"), *FAST], ["list"]):
        code, stdout, err = run([*command, "--module", "raises_on_import_for_gradcheck"], capsys)
        assert code == 2
        assert ("--module='raises_on_import_for_gradcheck': importing it raised RuntimeError at "
                "raises_on_import_for_gradcheck.py:3: broken on purpose") in err
        assert stdout == "" and "Traceback" not in err


CONSOLE_SCRIPT = """\
import re
import sys
from gradcheck.cli import main
if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])
    sys.exit(main())
"""


def test_module_in_the_current_directory_works_under_the_console_script_as_under_python_dash_m(tmp_path: Path) -> None:
    """The console script's sys.path[0] is its bin/ directory, python -m's is the current directory."""
    project, bin_dir = tmp_path / "project", tmp_path / "bin"
    project.mkdir()
    bin_dir.mkdir()
    (bin_dir / "gradcheck").write_text(CONSOLE_SCRIPT)  # what pip writes for [project.scripts]
    (project / "mymod_for_gradcheck.py").write_text(textwrap.dedent("""
        from gradcheck.registry import Problem, register

        def make(rng, n=2):
            return Problem(params={"x": rng.normal(size=n)})

        register(name="mymod_for_gradcheck.square", loss=lambda p, d, xp=None: (p["x"] ** 2).sum(),
                 grad=lambda p, d: {"x": 2 * p["x"]})(make)
    """))
    root = str(Path(gradcheck.__file__).resolve().parents[1])  # this checkout, not an installed copy
    env = {**os.environ, "PYTHONPATH": root}
    outputs = []
    for launcher in ([sys.executable, str(bin_dir / "gradcheck")], [sys.executable, "-m", "gradcheck"]):
        proc = subprocess.run([*launcher, "list", "--module", "mymod_for_gradcheck", "--only", "mymod_for_gradcheck.*"],
                              cwd=project, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout)
    assert outputs[0] == outputs[1] and outputs[0].split()[0] == "mymod_for_gradcheck.square"
