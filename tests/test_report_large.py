"""``gradcheck report --sizes large``: a derivation's own large sizes, checked along directions."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest

from gradcheck import InvalidArgumentError, registry
from gradcheck.cli import main
from gradcheck.registry import Derivation, Problem
from gradcheck.report import (
    DEFAULT_SIZE_VARIANTS,
    Report,
    make_report,
    plan,
    render_summary,
    run_derivations,
)
from gradcheck.report._markdown import render_markdown


@pytest.fixture(autouse=True, scope="module")
def _own_proof_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Proofs cached in a directory of this module's own, never the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADCHECK_CACHE_DIR", str(tmp_path_factory.mktemp("proof-cache")))
        yield



def loss(p: dict, d: dict, xp: object = None) -> object:
    return np.sum(d["c"] * np.tanh(p["w"]))


def right(p: dict, d: dict) -> dict:
    return {"w": d["c"] * (1 - np.tanh(p["w"]) ** 2)}


def slip(p: dict, d: dict) -> dict:
    g = right(p, d)["w"].copy()
    g[-1] *= 1.001  # one entry of hundreds off by a relative 1e-3
    return {"w": g}


def make(rng: np.random.Generator, n: int = 4) -> Problem:
    return Problem(params={"w": rng.normal(size=n)}, data={"c": rng.normal(size=n)})


# n=600: small enough for a unit test, checked the large way all the same
RIGHT = Derivation(name="big.right", make=make, loss=loss, derivative=right, sizes={"n": 4}, large_sizes={"n": 600})
SLIP = Derivation(name="big.slip", make=make, loss=loss, derivative=slip, sizes={"n": 4}, expected_correct=False,
                  large_sizes={"n": 600})


@pytest.fixture
def report() -> Report:
    subjects = run_derivations([RIGHT, SLIP], seeds=(0,), size_variants=("default", "large"), sweep=False)
    return make_report(subjects, origin="cli", command="t", options={"size_variants": ["default", "large"]})


def test_large_cases_are_directional_and_state_what_they_checked(report: Report) -> None:
    right_s, slip_s = report.subjects
    (big,) = right_s.directional
    d = big.directional
    assert d is not None and big.verdict == "pass" and big.sizes["n"] == 600
    assert d.n_entries == 600 and d.n_agree == d.n_directions > 0
    assert 0 < d.miss_probability <= 2.0 ** -d.n_random
    (bad,) = slip_s.directional
    assert bad.verdict == "expected_fail"
    wrong = bad.directional
    assert wrong is not None and wrong.n_localized >= 1
    assert [e["index"] for e in wrong.data["mismatches"]["w"]] == [[599]]  # group testing names the entry
    # rows of the entry-wise table come from the entry-wise checks only
    assert [r.n_cases for r in report.rows] == [1, 1]


def test_renderers_show_a_table_of_directional_checks(report: Report) -> None:
    md = render_markdown(report)
    assert "## Large sizes, checked along directions" in md
    assert "| `big.slip` | seed=0 sizes=large (n=600) | ☑️ expected fail | 600 |" in md
    assert "miss probability" in md
    text = render_summary(report)
    assert "large sizes, checked along directions:" in text
    assert "big.slip" in text.split("large sizes")[1]


def test_directional_cases_round_trip_through_json(report: Report) -> None:
    d = json.loads(json.dumps(report.to_dict()))
    again = Report.from_dict(d)
    assert again.to_dict() == d
    assert again.subjects[1].directional[0].directional.n_localized == report.subjects[1].directional[0].directional.n_localized  # type: ignore[union-attr]


def test_the_default_report_has_no_large_cases() -> None:
    units = plan([RIGHT, SLIP], seeds=(0, 1, 2), size_variants=DEFAULT_SIZE_VARIANTS)
    assert {u[1] for u in units} == {"default", "x2"}
    only_large = plan([RIGHT, SLIP, registry.get("least_squares.x")], seeds=(0,), size_variants=("large",))
    assert [u[0] for u in only_large] == ["big.right", "big.slip"]  # no large sizes registered: no case


@pytest.mark.parametrize("name", ["relu_softmax.ce_mean", "relu_softmax.published_sum_loss", "row_mlp.sigmoid"])
def test_reference_nets_register_about_1e5_parameters(name: str) -> None:
    d = registry.get(name)
    sizes = d.sizes_for("large")
    assert sizes is not None
    problem = d.problem(0, **sizes)
    n = sum(np.size(v) for v in problem.params.values())
    assert 1e5 <= n <= 1.2e5


def test_large_sizes_are_validated_when_the_derivation_is_made() -> None:
    for bad in ({"n": 0}, {}, {"n": True}, {"n": 2.5}):
        with pytest.raises(InvalidArgumentError, match="positive integer sizes"):
            Derivation(name="x.y", make=make, loss=loss, derivative=right, sizes={"n": 4}, large_sizes=bad)
    with pytest.raises(InvalidArgumentError, match=r"unknown size\(s\) \['m'\]"):
        Derivation(name="x.y", make=make, loss=loss, derivative=right, sizes={"n": 4}, large_sizes={"m": 9})


def test_only_the_three_1e5_nets_have_large_sizes() -> None:
    """Adding one makes ``--sizes large`` run longer: a deliberate choice, so this test names them."""
    big = {d.name for d in registry.derivations(entry_points=False) if d.large_sizes is not None}
    assert big == {"relu_softmax.ce_mean", "relu_softmax.published_sum_loss", "row_mlp.sigmoid"}


def test_size_variants_are_the_derivations_own() -> None:
    d = registry.get("row_mlp.sigmoid")
    assert d.sizes_for("default") == dict(d.sizes) == {"n": 5, "n_in": 3, "width": 4, "n_out": 2, "depth": 3}
    assert d.sizes_for("x2") == {"n": 10, "n_in": 6, "width": 8, "n_out": 4, "depth": 6}
    assert d.sizes_for("large") == {"n": 16, "n_in": 30, "width": 300, "n_out": 30, "depth": 3}
    assert d.sizes_for("other") == {"n": 2, "n_in": 4, "width": 3, "n_out": 1, "depth": 4}
    assert registry.get("least_squares.x").sizes_for("large") is None and d.sizes_for("x3") is None


def test_named_sizes_are_validated_and_keep_the_variants_names_free() -> None:
    with pytest.raises(InvalidArgumentError, match=r"named_sizes\['tiny'\] has unknown size"):
        Derivation(name="x.y", make=make, loss=loss, derivative=right, sizes={"n": 4}, named_sizes={"tiny": {"m": 1}})
    with pytest.raises(InvalidArgumentError, match="size variants' names"):
        Derivation(name="x.y", make=make, loss=loss, derivative=right, sizes={"n": 4}, named_sizes={"x2": {"n": 3}})


def test_cli_accepts_large_and_rejects_unknown_sizes(capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    assert main(["report", "--sizes", "huge", "--out", str(tmp_path)]) == 2
    assert "--sizes='huge'" in capsys.readouterr().err
    # least_squares.x has no large sizes: the run is empty but valid
    assert main(["report", "--only", "least_squares.x", "--sizes", "large", "--out", str(tmp_path), "--no-progress",
                 "--format", "json"]) == 0
    data = json.loads((tmp_path / "gradcheck-report.json").read_text())  # type: ignore[operator]
    assert data["options"]["size_variants"] == ["large"] and data["subjects"] == []
