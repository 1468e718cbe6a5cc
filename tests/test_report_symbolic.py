"""The symbolic column of ``gradcheck report --oracle both``: a witness per check, a proof per derivation."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest

from gradcheck import registry
from gradcheck.registry import Derivation, Problem
from gradcheck.report import Report, make_report, prove_summary, render_summary, run_derivations
from gradcheck.report._markdown import render_markdown


@pytest.fixture(autouse=True, scope="module")
def _own_proof_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Proofs cached in a directory of this module's own, never the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADCHECK_CACHE_DIR", str(tmp_path_factory.mktemp("proof-cache")))
        yield


A = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]])


def quad(p: dict, d: dict, xp: object = None) -> object:
    return np.sum(p["x"] * (A @ p["x"]))


def make(rng: np.random.Generator, n: int = 3) -> Problem:
    return Problem(params={"x": rng.normal(size=n)})


def not_on_symbols(p: dict, d: dict, xp: object = None) -> object:
    # float() of an entry: fine on numbers, raises on a sympy symbol
    return sum(float(v) ** 2 for v in p["x"])


def _derivation(name: str, grad: object, loss: object = quad, expected_correct: bool = True) -> Derivation:
    return Derivation(name=name, make=make, loss=loss, derivative=grad, sizes={"n": 3},  # type: ignore[arg-type]
                      expected_correct=expected_correct)


RIGHT = _derivation("t.right", lambda p, d: {"x": (A + A.T) @ p["x"]})
# the gradient of x^T A x is (A + A^T) x; A x drops half of it (a factor 2 for this symmetric A)
WRONG = _derivation("t.wrong", lambda p, d: {"x": A @ p["x"]}, expected_correct=False)
OPAQUE = _derivation("t.opaque", lambda p, d: {"x": 2 * p["x"]}, loss=not_on_symbols)


@pytest.fixture(scope="module")
def both() -> Report:
    subjects = run_derivations([RIGHT, WRONG, OPAQUE], seeds=(0, 1), size_variants=("default",), oracle="both",
                               sweep=False)
    return make_report(subjects, origin="cli", command="test", options={"oracle": "both", "fail_on": "mismatch"})


def _row(report: Report, name: str):  # type: ignore[no-untyped-def]
    return next(r for r in report.rows if r.subject == name)


def test_a_right_gradient_passes_the_witness_and_is_proved(both: Report) -> None:
    row = _row(both, "t.right")
    assert row.oracles["symbolic"].startswith("pass in 2 of 2 checks")
    assert row.proof == "proved at this size"
    subject = next(s for s in both.subjects if s.name == "t.right")
    assert subject.proof is not None and subject.proof.status == "proved"
    assert "x (3,)" in subject.proof.scope


def test_a_wrong_gradient_fails_the_witness_and_is_disproved_with_a_counterexample(both: Report) -> None:
    row = _row(both, "t.wrong")
    assert row.verdict == "expected_fail"
    assert row.oracles["symbolic"].startswith("FAIL in 2 of 2 checks")
    subject = next(s for s in both.subjects if s.name == "t.wrong")
    assert subject.proof is not None and subject.proof.status == "disproved"
    assert subject.proof.text.startswith("disproved: counterexample at x[")
    # hand - exact = A x - 2 A x = -A x: the counterexample is a linear form in the symbols
    assert "x_" in subject.proof.text


def test_code_that_does_not_run_on_symbols_says_why(both: Report) -> None:
    row = _row(both, "t.opaque")
    assert row.verdict == "pass"  # finite differences still judge it
    assert row.oracles["symbolic"].startswith("n/a: ") and "symbols" in row.oracles["symbolic"]
    assert row.proof is not None and row.proof.startswith("n/a: ") and "symbols" in row.proof


def test_a_size_above_the_symbolic_limit_is_na_too_large() -> None:
    from gradcheck.oracles._symbolic import SYMBOLIC_MAX_ENTRIES

    n = SYMBOLIC_MAX_ENTRIES + 1
    big = Derivation(name="t.big", make=lambda rng, n=n: Problem(params={"x": rng.normal(size=n)}),
                     loss=lambda p, d, xp=None: np.sum(p["x"] ** 2), derivative=lambda p, d: {"x": 2 * p["x"]},
                     sizes={"n": n})
    (subject,) = run_derivations([big], seeds=(0,), size_variants=("default",), oracle="both", sweep=False,
                                 units=[("t.big", "default", "0")])
    assert subject.params[0].oracles["symbolic"].startswith("n/a: too large for symbolic at this size")


def test_the_published_sum_loss_slip_fails_the_symbolic_witness() -> None:
    d = registry.get("relu_softmax.published_sum_loss")
    (subject,) = run_derivations([d], seeds=(0,), size_variants=("default",), oracle="both", sweep=False,
                                 units=[(d.name, "default", "0")])  # the proof takes tens of seconds: not here
    for row in subject.params:
        assert row.oracles["finite_differences"] == "expected_fail"
        assert row.oracles["symbolic"].startswith("FAIL in 1 of 1 checks"), row.oracles["symbolic"]
    assert subject.proof is None


def test_a_proof_over_its_time_budget_is_na_and_says_so() -> None:
    summary = prove_summary(registry.get("relu_softmax.ce_mean"), budget_s=0.05)
    assert summary.status == "n/a"
    assert summary.text.startswith("n/a: the proof took more than 0.05 s")


def test_a_published_slip_is_disproved_before_any_simplification() -> None:
    """The disproof screens every entry first: the slip whose proof ran past 120 s is disproved in seconds."""
    import time

    start = time.perf_counter()
    summary = prove_summary(registry.get("sigmoid_layer.published_dW_numerator"), budget_s=60)
    assert summary.status == "disproved" and summary.text.startswith("disproved: counterexample at W[")
    assert time.perf_counter() - start < 30


def test_proofs_are_reused_from_the_cache_while_the_code_is_the_same(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gradcheck.report import ProofCache, proof_key

    cache = ProofCache(tmp_path)
    first = prove_summary(RIGHT, cache=cache)
    assert first.status == "proved" and cache.hits == 0 and len(list((tmp_path / "proofs").iterdir())) == 1
    again = prove_summary(RIGHT, cache=cache)
    assert again == first and cache.hits == 1
    # other code (or another budget) is another key: never a stale proof
    assert proof_key(WRONG) != proof_key(RIGHT) != proof_key(RIGHT, budget_s=30.0)
    assert prove_summary(WRONG, cache=cache).status == "disproved" and cache.hits == 1


def test_jacobian_derivations_are_proved_too() -> None:
    """prove_derivation takes Jacobians in numerator layout: the softmax Jacobian is proved."""
    summary = prove_summary(registry.get("relu_softmax.softmax_jacobian"))
    assert summary.status == "proved", summary.text


def test_renderers_show_the_symbolic_columns_and_proofs(both: Report) -> None:
    md = render_markdown(both)
    assert "| symbolic | proof |" in md
    assert "t.wrong`: disproved: counterexample at x[" in md
    table = render_summary(both)
    assert table.splitlines()[0].split()[-2:] == ["symbolic", "proof"]
    assert "t.wrong: symbolic proof at seed=0 sizes=default (n=3): disproved" in table


def test_without_the_symbolic_oracle_the_table_keeps_its_columns() -> None:
    subjects = run_derivations([RIGHT], seeds=(0,), size_variants=("default",), sweep=False)
    report = make_report(subjects, origin="cli", command="t", options={"oracle": "fd"})
    row = report.rows[0]
    assert row.oracles["symbolic"] is None and row.proof is None
    assert "symbolic" not in render_summary(report).splitlines()[0]
    assert "| symbolic |" not in render_markdown(report)


def test_json_round_trips_and_reads_version_2(both: Report) -> None:
    d = json.loads(json.dumps(both.to_dict()))
    assert d["schema_version"] == 3
    assert Report.from_dict(d).to_dict() == d
    # a version-2 file: no symbolic fields at all
    v2 = json.loads(json.dumps(d))
    v2["schema_version"] = 2
    for s in v2["subjects"]:
        del s["symbolic_proof"]
        for r in s["params"]:
            del r["proof"]
            r["oracles"]["symbolic"] = None
        for c in s["cases"]:
            for p in c["result"]["params"].values():
                p["symbolic"] = None
    old = Report.from_dict(v2)
    assert all(r.proof is None and r.oracles["symbolic"] is None for r in old.rows)
    assert [r.verdict for r in old.rows] == ["pass", "expected_fail", "pass"]
    v1 = {**d, "schema_version": 1}
    with pytest.raises(ValueError, match="schema_version=1"):
        Report.from_dict(v1)


def test_cli_records_the_proof_budget_and_rejects_a_bad_one(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from gradcheck.cli import main

    fast = ["report", "--only", "least_squares.x", "--seeds", "1", "--sizes", "default", "--no-progress", "-q",
            "--format", "json", "--out", str(tmp_path)]
    assert main([*fast, "--oracle", "both", "--proof-budget", "-1"]) == 2
    assert "--proof-budget=-1.0: expected a positive number of seconds" in capsys.readouterr().err
    assert main([*fast, "--oracle", "both", "--proof-budget", "30"]) == 0
    data = json.loads((tmp_path / "gradcheck-report.json").read_text())
    assert data["options"]["oracle"] == "both" and data["options"]["proof_budget_s"] == 30.0
    assert data["subjects"][0]["symbolic_proof"]["text"] == "proved at this size"
    assert main([*fast, "--oracle", "fd"]) == 0
    data = json.loads((tmp_path / "gradcheck-report.json").read_text())
    assert data["options"]["oracle"] == "fd" and "proof_budget_s" not in data["options"]
    assert data["subjects"][0]["symbolic_proof"] is None
    assert main(fast) == 0  # the default: the symbolic witness and the proof
    data = json.loads((tmp_path / "gradcheck-report.json").read_text())
    assert data["options"]["oracle"] == "both" and data["options"]["proof_budget_s"] == 3.0
    assert data["subjects"][0]["symbolic_proof"]["text"] == "proved at this size"


def test_proof_keys_are_the_same_in_every_process() -> None:
    """The cache is on disk: a key that held a memory address (the repr of a lambda's code) would never hit."""
    import subprocess
    import sys

    code = ("from gradcheck import registry; from gradcheck.report import proof_key; "
            "print([proof_key(registry.get(n)) for n in ('row_mlp.sigmoid', 'relu_softmax.ce_mean')])")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)}
    assert len(runs) == 1 and "None" not in runs.pop()
