"""``gradcheck report --shard I/N`` and ``gradcheck report merge``: the merged report is the one-process one."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gradcheck import InvalidArgumentError, registry
from gradcheck.cli import main
from gradcheck.report import parse_shard, plan, shard_filename, shard_units


@pytest.fixture(autouse=True, scope="module")
def _own_proof_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Proofs cached in a directory of this module's own, never the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADCHECK_CACHE_DIR", str(tmp_path_factory.mktemp("proof-cache")))
        yield


ONLY = ["--only", "least_squares.x,logistic.loss", "--sizes", "default", "--no-progress", "--no-plots", "-q"]
"""Two derivations whose proofs take a fraction of a second, so the symbolic units are sharded too."""


def _strip(d: Any) -> Any:
    """Everything but the timings and the time of the run."""
    if isinstance(d, dict):
        return {k: _strip(v) for k, v in d.items() if k not in ("generated_at", "elapsed_s")}
    if isinstance(d, list):
        return [_strip(x) for x in d]
    return d


def test_shards_partition_the_plan_stably_and_evenly() -> None:
    units = plan(registry.derivations(), seeds=(0, 1, 2), size_variants=("default", "x2"), oracle="both")
    for n in (1, 2, 3, 7):
        slices = [shard_units(units, i, n) for i in range(1, n + 1)]
        flat = [u for s in slices for u in s]
        assert sorted(flat) == sorted(units) and len(flat) == len(set(flat))
        assert max(map(len, slices)) - min(map(len, slices)) <= 1
        shuffled = list(units)
        random.Random(n).shuffle(shuffled)
        assert [shard_units(shuffled, i, n) for i in range(1, n + 1)] == slices  # order of the input is irrelevant
    # round robin over sorted units spreads one derivation's checks over the shards
    first, second = shard_units(units, 1, 2), shard_units(units, 2, 2)
    name = "relu_softmax.ce_mean"
    assert any(u[0] == name for u in first) and any(u[0] == name for u in second)


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0", ""])
def test_bad_shard_specs_are_rejected(text: str) -> None:
    with pytest.raises(InvalidArgumentError, match="--shard"):
        parse_shard(text)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One-process and two-shard runs of the same command, each in its own directory (same --out text)."""
    import os

    root = tmp_path_factory.mktemp("shards")
    old = Path.cwd()
    env = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = "1700000000"
    try:
        for where, extra in (("one", []), ("s1", ["--shard", "1/2"]), ("s2", ["--shard=2/2"])):
            (root / where).mkdir()
            os.chdir(root / where)
            assert main(["report", *ONLY, "--seeds", "2", "--oracle", "both", "--out", "r", *extra]) == 0
        (root / "s1seeds").mkdir()
        os.chdir(root / "s1seeds")
        assert main(["report", *ONLY, "--seeds", "1", "--oracle", "both", "--out", "r", "--shard", "2/2"]) == 0
    finally:
        os.chdir(old)
        if env is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = env
    return {"root": root, "one": root / "one" / "r", "s1": root / "s1" / "r" / shard_filename(1, 2),
            "s2": root / "s2" / "r" / shard_filename(2, 2), "other": root / "s1seeds" / "r" / shard_filename(2, 2)}


def test_a_shard_writes_only_its_json(runs: dict[str, Path]) -> None:
    assert sorted(p.name for p in runs["s1"].parent.iterdir()) == [shard_filename(1, 2)]
    d = json.loads(runs["s1"].read_text())
    assert d["shard"]["index"] == 1 and d["shard"]["count"] == 2
    assert "--shard" not in d["command"]


def test_merged_report_equals_the_one_process_report(runs: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    monkeypatch.chdir(runs["root"])
    assert main(["report", "merge", str(runs["s2"]), str(runs["s1"]), "--out", "merged", "-q"]) == 0
    merged = json.loads((runs["root"] / "merged" / "gradcheck-report.json").read_text())
    whole = json.loads((runs["one"] / "gradcheck-report.json").read_text())
    assert _strip(merged) == _strip(whole)
    assert merged["summary"]["n_cases"] == 4 and all(s["symbolic_proof"] for s in merged["subjects"])
    for ext in ("md", "html"):
        assert (runs["root"] / "merged" / f"gradcheck-report.{ext}").read_text() == \
            (runs["one"] / f"gradcheck-report.{ext}").read_text()


def _merge_error(paths: list[Path], capsys: pytest.CaptureFixture[str], out: Path) -> str:
    assert main(["report", "merge", *map(str, paths), "--out", str(out)]) == 2
    return capsys.readouterr().err


def test_a_missing_shard_is_an_error(runs: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    err = _merge_error([runs["s1"]], capsys, tmp_path)
    assert "gradcheck report merge: error: missing shard(s) 2/2" in err and str(runs["s1"]) in err
    assert not (tmp_path / "gradcheck-report.json").exists()


def test_overlapping_shards_are_an_error(runs: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    copy = tmp_path / "copy.json"
    copy.write_text(runs["s1"].read_text())
    err = _merge_error([runs["s1"], copy, runs["s2"]], capsys, tmp_path)
    assert "overlapping shards" in err and str(copy) in err and "both shard 1/2" in err
    assert "given twice" in _merge_error([runs["s1"], runs["s1"]], capsys, tmp_path)


def test_shards_of_different_runs_are_an_error(runs: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    err = _merge_error([runs["s1"], runs["other"]], capsys, tmp_path)
    assert "do not come from the same run: different options" in err
    assert str(runs["s1"]) in err and str(runs["other"]) in err and "seeds" in err


def test_other_versions_and_whole_reports_are_errors(runs: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_text(json.dumps({**json.loads(runs["s2"].read_text()), "schema_version": 2}))
    err = _merge_error([runs["s1"], old], capsys, tmp_path)
    assert f"{old}: report schema_version 2" in err
    whole = runs["one"] / "gradcheck-report.json"
    assert "a whole report, not a shard" in _merge_error([whole], capsys, tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert f"{bad}: not JSON" in _merge_error([bad], capsys, tmp_path)
    assert "cannot read" in _merge_error([tmp_path / "absent.json"], capsys, tmp_path)


def test_merge_recomputes_nothing(runs: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A merge reads what the shards computed (results with their arrays, step sweeps, proofs) and only draws:
    no check, sweep, proof or symbolic derivative runs again, so it costs a small part of a run."""
    import gradcheck.report._proofs as proofs
    import gradcheck.report._run as run

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the merge recomputed something")

    monkeypatch.setattr(registry.Derivation, "check", refuse)
    monkeypatch.setattr(run, "step_sweep", refuse)
    monkeypatch.setattr(proofs, "_prove", refuse)
    monkeypatch.setattr("gradcheck.symbolic.gradient", refuse)
    assert main(["report", "merge", str(runs["s1"]), str(runs["s2"]), "--out", str(tmp_path), "-q"]) == 0
    assert "<svg" not in (tmp_path / "gradcheck-report.html").read_text()  # the runs were made with --no-plots
