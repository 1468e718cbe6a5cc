"""gradcheck.formula.verify, the verify command, formula sheets and their pytest collection."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from gradcheck.cli._verify import add_parser
from gradcheck.formula import FormulaError, load_sheet, sheet_paths, verify, verify_sheet

LS = dict(loss="sum((A@x - b)**2)", shapes={"A": "4,3", "x": "3,1", "b": "4,1"})
SQUARE = {"A": "4,4", "x": "4,1", "b": "4,1"}


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="gradcheck")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["verify", *argv])
    return args.func(args)


def test_right_least_squares_is_proved_by_every_oracle() -> None:
    r = verify(grads={"x": "2*A.T@(A@x - b)"}, **LS)
    assert r.ok and r.verdict == "right" and len(r.points) == 3 and all(p.ok for p in r.points)
    assert r.symbolic.status == "proved" and r.matrix.status == "proved"
    assert r.matrix.derivative["x"] == "2*A.T*(A*x - b)"
    assert "RIGHT" in str(r) and json.loads(json.dumps(r.to_dict()))["verdict"] == "right"


def test_transposed_matrix_on_square_A_is_named() -> None:
    r = verify(loss=LS["loss"], grads={"x": "2*A@(A@x - b)"}, shapes=SQUARE)
    assert r.verdict == "wrong" and not r.ok
    assert "transposed" in r.diagnosis and "A.T in place of A" in r.diagnosis
    assert r.symbolic.status == "wrong" and r.symbolic.counterexample["param"] == "x"


def test_transposed_matrix_on_non_square_A_is_a_shape_error() -> None:
    r = verify(grads={"x": "2*A@(A@x - b)"}, **LS)
    assert r.verdict == "wrong"
    assert all(p.error_kind == "shape" for p in r.points)
    assert "(4, 3) @ (4, 1)" in r.reasons[0] and "(4, 3) @ (4, 1)" in r.counterexample["error"]
    assert "A.T in place of A" in r.diagnosis  # the slip named, though the claim cannot even be evaluated


def test_claim_of_the_wrong_shape_is_reported_from_the_core() -> None:
    r = verify(grads={"x": "2*(A@x - b).T@A"}, **LS)  # numerator layout read as a gradient
    assert r.verdict == "wrong" and r.points[0].error_kind == "shape"
    assert "shape (1, 3)" in r.points[0].error and "(3, 1)" in r.points[0].error


def test_factor_two_is_diagnosed_and_the_counterexample_printed() -> None:
    r = verify(grads={"x": "A.T@(A@x - b)"}, **LS)
    assert r.verdict == "wrong" and "1/2" in r.diagnosis
    text = str(r)
    assert "point (counterexample)" in text and "x = [[" in text


def test_symbolic_shapes_run_at_ones_and_non_square_sizes() -> None:
    r = verify(loss="sum((A@x - b)**2)", grads={"x": "2*A.T@(A@x - b)"}, shapes={"A": "m,n", "x": "n,1", "b": "m,1"},
               points=3)
    sizes = [dict(p.sizes) for p in r.points]
    assert len(sizes) == 4 and sizes[-1] == {"m": 1, "n": 1}  # all-ones is an extra size, drawn last
    assert all(s["m"] > 1 and s["n"] > 1 for s in sizes[:-1]) and any(s["m"] != s["n"] for s in sizes)
    assert r.ok and r.matrix.status == "proved"
    # at m = n = 1 the slip A for A.T is invisible; the drawn rectangular sizes expose it
    wrong = verify(loss="sum((A@x - b)**2)", grads={"x": "2*A@(A@x - b)"}, shapes={"A": "m,n", "x": "n,1", "b": "m,1"})
    assert wrong.points[-1].ok and not all(p.ok for p in wrong.points) and wrong.verdict == "wrong"


def test_sympy_matrix_calculus_is_not_trusted_where_it_disagrees(monkeypatch: pytest.MonkeyPatch) -> None:
    # sympy 1.14 alone says d log det X / dX = 0; the chain rule through the determinant gets X^-T
    r = verify(loss="logdet(X)", grads={"X": "inv(X).T"}, shapes={"X": "n,n"})
    assert r.ok and r.symbolic.status == "proved" and r.matrix.status == "proved"
    import sympy as sp

    import gradcheck.formula._symbolic as symbolic

    monkeypatch.setenv("GRADCHECK_VERIFY_INPROCESS", "1")  # the patch must reach the oracle
    monkeypatch.setattr(symbolic, "chain_diff", lambda e, X: sp.ZeroMatrix(*X.shape))  # what sympy alone said
    r = verify(loss="logdet(X)", grads={"X": "inv(X).T"}, shapes={"X": "n,n"})
    assert r.ok and r.matrix.status == "untrusted" and "element-wise" in r.matrix.message


def test_matrix_level_proofs_reach_quotients_norms_and_symmetric_data() -> None:
    for problem in (
        dict(loss="(x.T@A@x)/(x.T@x)", grads={"x": "2*(A@x - ((x.T@A@x)/(x.T@x))*x)/(x.T@x)"},
             shapes={"A": "n,n", "x": "n,1"}, structure={"A": "symmetric"}),  # sympy alone drops a term here
        dict(loss="norm(x - a)", grads={"x": "(x - a)/norm(x - a)"}, shapes={"x": "n,1", "a": "n,1"}),
        dict(loss="det(A@X@B)", grads={"X": "det(A@X@B)*(B@inv(A@X@B)@A).T"},
             shapes={"A": "n,n", "X": "n,n", "B": "n,n"}),
    ):
        r = verify(**problem)
        assert r.ok and r.matrix.status == "proved", (problem["loss"], r.matrix.message)


def test_structure_spd_changes_the_answer() -> None:
    spd = verify(loss="logdet(S)", grads={"S": "inv(S)"}, shapes={"S": "3,3"}, structure={"S": "spd"})
    general = verify(loss="logdet(S)", grads={"S": "inv(S)"}, shapes={"S": "3,3"})
    assert spd.ok and general.verdict == "wrong" and "transposed" in general.diagnosis


def test_several_parameters_with_definitions_one_wrong() -> None:
    common = dict(loss="sum((a - y)**2)/o", defs={"a": "sigmoid(W@x + b)", "d": "2/o*(a - y)*a*(1 - a)"},
                  shapes={"W": "o,i", "x": "i,1", "b": "o,1", "y": "o,1"}, structure={"y": "unit"}, points=2)
    right = verify(grads={"W": "d@x.T", "b": "d", "x": "W.T@d"}, **common)
    assert right.ok
    wrong = verify(grads={"W": "d@x.T", "b": "d", "x": "W.T@d*2"}, **common)
    assert wrong.verdict == "wrong" and wrong.diagnosis.startswith("x") and "2" in wrong.diagnosis


def test_jacobians_with_layout_and_vec_order() -> None:
    shapes = {"W": "m,n", "x": "n,1"}
    assert verify(loss="W@x", grads={"W": "kron(x.T, eye(m))"}, shapes=shapes, order="F").ok
    assert verify(loss="W@x", grads={"W": "kron(x.T, eye(m))"}, shapes=shapes, order="C").verdict == "wrong"
    assert verify(loss="x@W", grads={"x": "W"}, shapes={"x": "3", "W": "3,2"}, layout="denominator").ok
    assert verify(loss="x@W", grads={"x": "W"}, shapes={"x": "3", "W": "3,2"}).verdict == "wrong"


def test_values_are_used_and_never_modified() -> None:
    A = np.arange(12.0).reshape(4, 3)
    keep = A.copy()
    r = verify(loss="sum((A@x - b)**2)", grads={"x": "2*A.T@(A@x - b)"}, shapes={"x": "3,1", "b": "4,1"},
               values={"A": A}, points=1)
    assert r.ok and np.array_equal(A, keep)
    np.testing.assert_array_equal(r.points[0].point["A"], A)


@pytest.mark.parametrize("kwargs, match", [
    (dict(loss="sum(x", grads={"x": "1"}, shapes={"x": "3"}), "syntax error"),
    (dict(loss="sum(x)", grads={"x": "ones(3)"}, shapes={}), "no shape for"),
    (dict(loss="sum(q)", grads={"x": "q"}, shapes={"x": "3"}), "'q'"),
    (dict(loss="sum(A@x)", grads={"x": "A.T"}, shapes={"A": "2,3", "x": "2,1"}), r"\(2, 3\) @ \(2, 1\)"),
    (dict(loss="sum(x)", grads={"x": "x"}, shapes={"x": "3"}, structure={"x": "spd"}), "not square"),
    (dict(loss="sum(x)", grads={"x": "x"}, shapes={"x": "3"}, points=0), "points=0"),
    (dict(loss="sum(x)", grads={"x": "x"}, shapes={"x": "3,a b"}), "shape of 'x'"),
])
def test_bad_input_raises_formula_error(kwargs: dict, match: str) -> None:
    with pytest.raises(FormulaError, match=match):
        verify(**kwargs)


# --------------------------------------------------------------------------- command line
def test_cli_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--loss", "sum((A@x - b)**2)", "--shape", "x=3,1", "--shape", "b=4,1"]
    assert cli(*base, "--shape", "A=4,3", "--grad", "x=2*A.T@(A@x - b)") == 0
    assert "RIGHT" in capsys.readouterr().out
    assert cli("--loss", "sum((A@x - b)**2)", "--grad", "x=2*A@(A@x - b)", "--shape", "A=4,4", "--shape", "x=4,1",
               "--shape", "b=4,1") == 1
    assert "transposed" in capsys.readouterr().out
    assert cli(*base, "--shape", "A=4,3", "--grad", "x=2*A@(A@x - b)") == 1
    assert "(4, 3) @ (4, 1)" in capsys.readouterr().out
    assert cli(*base, "--shape", "A=4,3", "--grad", "x=__import__('os')") == 2
    assert "column" in capsys.readouterr().err
    assert cli("--loss", "sum(x)") == 2
    assert cli(*base, "--shape", "A=4,3", "--grad", "x=2*A.T@(A@x - b)", "--json", "--points", "1") == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "right"


def test_cli_spd_and_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("--loss", "logdet(S)", "--grad", "S=inv(S)", "--shape", "S=3,3", "--spd", "S") == 0
    assert cli("--loss", "sum(b*x)", "--grad", "x=b", "--shape", "x=2,1", "--value", "b=[[1],[2]]") == 0
    assert cli("--loss", "sum(b*x)", "--grad", "x=b", "--shape", "x=2,1", "--value", "b=[[1],[2]") == 2


# --------------------------------------------------------------------------- sheets
SHEET = '''
[sheet]
title = "course"

[least_squares]
loss = "sum((A@x - b)**2)"
grads = { x = "2*A.T@(A@x - b)" }
shapes = { A = "m,n", x = "n,1", b = "m,1" }

[slip_missing_two]
loss = "sum((A@x - b)**2)"
grads = { x = "A.T@(A@x - b)" }
shapes = { A = "m,n", x = "n,1", b = "m,1" }
expect = "wrong"

[labelled_right_but_wrong]
loss = "trace(A@X)"
grads = { X = "A" }
shapes = { A = "n,n", X = "n,n" }
'''


def test_sheet_outcomes_table_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gradcheck_course.toml"
    path.write_text(SHEET)
    outcomes = verify_sheet(load_sheet(path))
    assert [o.outcome for o in outcomes] == ["pass", "expected_fail", "fail"]
    assert cli("--sheet", str(path), "--out", str(tmp_path / "out")) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "expected_fail" in out
    data = json.loads((tmp_path / "out" / "gradcheck_course.verify.json").read_text())
    assert data["counts"] == {"error": 0, "fail": 1, "unexpected_pass": 0, "inconclusive": 0, "expected_fail": 1,
                              "pass": 1}
    assert "## labelled_right_but_wrong" in (tmp_path / "out" / "gradcheck_course.verify.md").read_text()


@pytest.mark.parametrize("body, match", [
    ("[f]\nloss = 'sum(x)'\n", "needs grads"),
    ("[f]\nloss = 'sum(x)'\ngrads = { x = '1' }\nshape = {}\n", "unknown key"),
    ("[f]\nloss = 'sum(x)'\ngrads = { x = '1' }\nexpect = 'maybe'\n", "expect"),
    ("[f\n", "not valid TOML"),
])
def test_malformed_sheets(tmp_path: Path, body: str, match: str) -> None:
    path = tmp_path / "gradcheck_bad.toml"
    path.write_text(body)
    with pytest.raises(FormulaError, match=match):
        load_sheet(path)


def test_pytest_collects_sheet_formulas(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", gradcheck_course=SHEET)
    pytester.makefile(".toml", other=SHEET)  # not gradcheck_*: not collected
    result = pytester.runpytest("-p", "no:cacheprovider", "-v")  # the gradcheck plugin collects sheets
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*gradcheck_course.toml::least_squares PASSED*",
                                 "*gradcheck_course.toml::slip_missing_two PASSED*",
                                 "*gradcheck_course.toml::labelled_right_but_wrong FAILED*",
                                 "*expected right, verified wrong*"])


def test_shipped_cookbook_sheet_holds() -> None:
    (path,) = [p for p in sheet_paths() if p.name == "gradcheck_matrix_cookbook.toml"]
    outcomes = verify_sheet(load_sheet(path))
    assert all(o.as_expected for o in outcomes), [(o.entry.name, o.outcome) for o in outcomes if not o.as_expected]
    assert sum(o.outcome == "expected_fail" for o in outcomes) >= 3
    assert sum(o.result.symbolic.status == "proved" for o in outcomes if o.result is not None) >= 15


def test_shipped_source_documents_sheet_holds() -> None:
    """Finite differences on every formula (the symbolic oracle on the deep nets takes minutes;
    the cookbook test and the tests above exercise it)."""
    (path,) = [p for p in sheet_paths() if p.name == "gradcheck_source_documents.toml"]
    sheet = load_sheet(path)
    outcomes = verify_sheet(sheet, symbolic=False)
    assert all(o.as_expected for o in outcomes), [(o.entry.name, o.outcome, o.result and o.result.reasons)
                                                  for o in outcomes if not o.as_expected]
    slips = {o.entry.name for o in outcomes if o.outcome == "expected_fail"}
    assert {"sigmoid_layer_published_dW", "relu_softmax_published_sum_loss",
            "row_mlp_003_published_norm_as_squared"} <= slips
    by_name = {o.entry.name: o for o in outcomes}
    assert "1/" in by_name["relu_softmax_published_sum_loss"].result.diagnosis
    assert "transpose" in by_name["sigmoid_layer_published_dW"].result.diagnosis


def test_enormous_declared_shapes_are_refused() -> None:
    with pytest.raises(FormulaError, match="at most 1,000,000"):
        verify(loss="sum(x)", grads={"x": "ones(1000000, 1000000)"}, shapes={"x": "1000000,1000000"})


def test_singular_value_makes_the_verdict_inconclusive_not_wrong() -> None:
    r = verify(loss="logdet(X)", grads={"X": "inv(X).T"}, shapes={"X": "2,2"}, values={"X": [[1, 1], [1, 1]]})
    assert r.verdict == "inconclusive" and not r.ok and "NonFiniteError" in r.reasons[0]


def test_log_domain_is_redrawn_positive_and_complex_step_works() -> None:
    assert verify(loss="sum(log(x))", grads={"x": "1/x"}, shapes={"x": "3,1"}).ok
    r = verify(loss="sum(sigmoid(A@x))", grads={"x": "A.T@(sigmoid(A@x)*(1 - sigmoid(A@x)))"},
               shapes={"A": "3,2", "x": "2,1"}, method="complex")
    assert r.ok and r.points[0].result.method == "complex"


@pytest.mark.parametrize("claim, verdict", [("2*A", "right"), ("3*A", "wrong")])
def test_parameters_over_1e5_entries_are_checked_along_directions(claim: str, verdict: str) -> None:
    # check_grad answers with a DirectionalResult above 1e5 entries: verify used to read its .params and crash
    r = verify(loss="sum(A*A)", grads={"A": claim}, shapes={"A": "400,300"}, points=1, symbolic=False)
    assert r.verdict == verdict
    p = r.points[0]
    assert p.result is None and p.directional is not None and p.ok is (verdict == "right")
    assert "120,000 parameter entries" in " ".join(r.notes) and verdict.upper() in str(r)
    d = json.loads(json.dumps(r.to_dict(), default=str))
    assert d["finite_differences"][0]["directional"]["verdict"] == ("pass" if verdict == "right" else "FAIL")
    if verdict == "wrong":
        assert "constant factor" in r.diagnosis and "directions disagree" in r.reasons[0]


def test_an_inconclusive_directional_check_makes_the_verdict_inconclusive_not_wrong() -> None:
    from types import SimpleNamespace

    from gradcheck.formula._verify import _decide, _directional_point

    d = SimpleNamespace(verdict="inconclusive", ok=False, reason="rounding swamps the differences", diagnosis={})
    p = _directional_point(dict(sizes={}, shapes={"A": (400, 300)}, seed=0, point={}), d)
    assert not p.ok and not p.mismatched and p.error_kind == "evaluation" and "rounding swamps" in p.error
    assert _decide([p], None, None)[0] == "inconclusive"


# --------------------------------------------------------------------------- issue 27: no WRONG without evidence
def test_right_formulas_flat_at_the_degenerate_size_are_not_called_wrong() -> None:
    # a Rayleigh quotient is constant at n = 1 and a layer norm over one feature is flat: finite
    # differences are inconclusive there (no entry outside its tolerance), which is no evidence
    rayleigh = verify(loss="(x.T@A@x)/(x.T@x)", grads={"x": "2*(A@x - ((x.T@A@x)/(x.T@x))*x)/(x.T@x)"},
                      shapes={"A": "n,n", "x": "n,1"}, structure={"A": "symmetric"})
    assert rayleigh.verdict == "right", rayleigh.reasons
    # finite differences cannot resolve n = 1 (a witness of the core may settle it): never a mismatch there
    assert [p.status for p in rayleigh.points if p.sizes == {"n": 1}] in (["inconclusive"], ["agree"])
    layer_norm = verify(loss="sum(g*xh)", grads={"x": "(g - mean(g) - xh*mean(g*xh))/s"},
                        defs={"s": "sqrt(mean((x - mean(x))**2) + eps)", "xh": "(x - mean(x))/s"},
                        shapes={"x": "n,1", "g": "n,1", "eps": ""}, values={"eps": 0.1})
    assert layer_norm.verdict == "right", layer_norm.reasons


def test_agreement_at_the_degenerate_size_alone_is_inconclusive() -> None:
    from types import SimpleNamespace

    from gradcheck.formula._verify import PointCheck, _decide

    ones = PointCheck(sizes={"n": 1}, shapes={"x": (1, 1)}, seed=0, point={},
                      result=SimpleNamespace(verdict="pass", ok=True, failed=False))
    assert ones.status == "agree"
    verdict, reasons = _decide([ones], None, None)
    assert verdict == "inconclusive" and "all-ones" in reasons[-1]


def test_all_ones_is_an_extra_size_never_the_only_one() -> None:
    r = verify(loss="sum(x**2)", grads={"x": "2*x"}, shapes={"x": "n,1"}, points=1)
    assert [dict(p.sizes)["n"] > 1 for p in r.points] == [True, False]


def test_inconclusive_exits_4_and_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("--loss", "logdet(X)", "--grad", "X=inv(X).T", "--shape", "X=2,2", "--value", "X=[[1, 1], [1, 1]]",
               "--points", "1") == 4
    out = capsys.readouterr().out
    assert out.startswith("INCONCLUSIVE") and "why: no finite-difference check could run" in out


# --------------------------------------------------------------------------- issue 27: the slip named
@pytest.mark.parametrize("problem, words", [
    (dict(loss="sum((A@x)*(B@x))", grads={"x": "A.T@(B@x)"}, shapes={"A": "m,n", "B": "m,n", "x": "n,1"}),
     ["dropped term", "product rule", "B@x"]),
    (dict(loss="(x.T@A@x)/(x.T@x)", grads={"x": "2*A@x/(x.T@x)"}, shapes={"A": "n,n", "x": "n,1"},
          structure={"A": "symmetric"}), ["dropped term", "quotient rule", "denominator `x.T@x`"]),
    (dict(loss="trace(A@X@B)", grads={"X": "B.T@A.T"}, shapes={"A": "n,n", "X": "n,n", "B": "n,n"}),
     ["wrong order", "A.T@B.T in place of B.T@A.T"]),
    (dict(loss="-sum(Y*log(softmax(X@W, axis=1)))", grads={"W": "X.T@(softmax(X@W, axis=0) - Y)"},
          shapes={"X": "m,d", "W": "d,k", "Y": "m,k"}, structure={"Y": "onehot"}),
     ["wrong axis", "softmax(X@W, axis=1) in place of softmax(X@W, axis=0)"]),
    (dict(loss="A@X@B", grads={"X": "kron(A, B.T)"}, shapes={"A": "p,m", "X": "m,n", "B": "n,q"}, order="F"),
     ["vec order", "kron(B.T, A)"]),
    (dict(loss="trace(inv(X)@A@inv(X))", grads={"X": "-(inv(X)@A@inv(X)@inv(X)).T - inv(X)@inv(X)@A@inv(X)"},
          shapes={"X": "n,n", "A": "n,n"}), ["transposed", "(inv(X)@inv(X)@A@inv(X)).T in place of"]),
    (dict(loss="trace(S@A)", grads={"S": "A + A.T - diag(diag(A))"}, shapes={"S": "n,n", "A": "n,n"}),
     ["symmetric-entries", "--structure S=symmetric-entries"]),
    (dict(loss="x.T@A@x", grads={"x": "2*A@x"}, shapes={"A": "n,n", "x": "n,1"}), ["only for a symmetric A"]),
])
def test_the_slip_is_named_from_the_telling_size(problem: dict, words: list[str]) -> None:
    r = verify(**problem)
    assert r.verdict == "wrong"
    assert all(w in r.diagnosis for w in words), r.diagnosis
    assert "1/2" not in r.diagnosis and "constant factor" not in r.diagnosis  # not the 1x1 size's reading


def test_the_counterexample_is_the_smallest_failing_size_printed_and_in_json() -> None:
    r = verify(loss="sum((A@x)*(B@x))", grads={"x": "A.T@(B@x)"}, shapes={"A": "m,n", "B": "m,n", "x": "n,1"})
    c = r.counterexample
    failing = [p for p in r.points if p.status == "mismatch"]
    assert c["oracle"] == "finite differences" and c["sizes"] == dict(min(failing, key=lambda p: p.entries).sizes)
    assert abs(c["claimed"] - c["numeric"]) > c["tolerance"] and set(c["point"]) == {"A", "B", "x"}
    assert "counterexample (finite differences, smallest failing size" in str(r)
    assert json.loads(json.dumps(r.to_dict(), default=str))["counterexample"]["param"] == "x"


# --------------------------------------------------------------------------- issue 27: structure, budget, language
@pytest.mark.parametrize("structure, claim", [
    ("symmetric-entries", "A + A.T - diag(diag(A))"), ("symmetric", "(A + A.T)/2"), ("symmetric", "A.T"),
    ("lower", "A.T"), ("upper", "A.T"), ("diagonal", "diag(diag(A))"),
])
def test_structures_take_the_core_conventions(structure: str, claim: str) -> None:
    r = verify(loss="trace(S@A)", grads={"S": claim}, shapes={"S": "n,n", "A": "n,n"}, structure={"S": structure})
    assert r.verdict == "right" and r.symbolic.status == "proved", r.reasons


def test_structure_conventions_refuse_the_other_convention() -> None:
    r = verify(loss="trace(S@A)", grads={"S": "A.T"}, shapes={"S": "n,n", "A": "n,n"},
               structure={"S": "symmetric-entries"})
    assert r.verdict == "wrong" and r.symbolic.status == "wrong"


def test_cli_structure_accepts_what_the_diagnosis_advises(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--loss", "trace(S@A)", "--grad", "S=A + A.T - diag(diag(A))", "--shape", "S=3,3", "--shape", "A=3,3"]
    assert cli(*args) == 1
    assert "--structure S=symmetric-entries" in capsys.readouterr().out
    assert cli(*args, "--structure", "S=symmetric-entries") == 0
    assert cli("--loss", "logdet(L@L.T)", "--grad", "L=2*inv(L).T", "--shape", "L=3,3", "--structure", "L=lower") == 0


def test_the_symbolic_budget_holds_and_names_the_oracle_that_ran_out() -> None:
    import time

    start = time.monotonic()
    r = verify(loss="det(inv(A@A.T + eye(4)))", grads={"A": "-2*det(inv(A@A.T + eye(4)))*inv(A@A.T + eye(4))@A"},
               shapes={"A": "4,4"}, points=1, time_budget=1.0)
    assert r.budget["seconds"] <= 1.0 + 1.0 and time.monotonic() - start < 30  # was > 600 s
    assert r.symbolic.status == "timeout" and "sympy differentiating" in r.symbolic.message
    assert "element-wise symbolic" in r.budget["ran_out"] and r.verdict == "right"


@pytest.mark.parametrize("loss, grads, shapes, structure", [
    ("sum(sin(x))", {"x": "cos(x)"}, {"x": "n,1"}, {}),
    ("sum(cos(X@w))", {"w": "-X.T@sin(X@w)"}, {"X": "m,d", "w": "d,1"}, {}),
    ("sum(x*erf(x))", {"x": "erf(x) + 1.1283791670955126*x*exp(-x**2)"}, {"x": "n,1"}, {}),
    ("sum(abs(x))", {"x": "sign(x)"}, {"x": "n,1"}, {}),
    ("sum(tril(X)**2)", {"X": "2*tril(X)"}, {"X": "n,n"}, {}),
    ("trace(expm(X))", {"X": "expm(X).T"}, {"X": "n,n"}, {}),
    ("sum(max(X, axis=1))", {"X": "argmax_mask(X, axis=1)"}, {"X": "m,n"}, {}),
    ("sum(where(step(x), x**2, -x))", {"x": "where(step(x), 2*x, -1)"}, {"x": "n,1"}, {}),
    ("max(eigvalsh(S))", {"S": "eigvecsh(S)@diag(argmax_mask(eigvalsh(S)))@eigvecsh(S).T"}, {"S": "n,n"},
     {"S": "symmetric"}),
    ("norm(X, ord='nuc')", {"X": "X@inv(sqrtm(X.T@X))"}, {"X": "4,3"}, {}),
    ("sum(pinv(A)@b)", {"b": "pinv(A).T@ones(n, 1)"}, {"A": "m,n", "b": "m,1"}, {}),
    ("-sum(log(pick(softmax(Z, axis=1), y)))", {"Z": "softmax(Z, axis=1) - onehot(y, k)"}, {"Z": "m,k", "y": "m,1"},
     {"y": "labels"}),
])
def test_the_wider_language_verifies(loss: str, grads: dict, shapes: dict, structure: dict) -> None:
    r = verify(loss=loss, grads=grads, shapes=shapes, structure=structure)
    assert r.verdict == "right", r.reasons


def test_the_wider_language_catches_slips() -> None:
    r = verify(loss="trace(expm(X))", grads={"X": "expm(X)"}, shapes={"X": "n,n"})
    assert r.verdict == "wrong" and "transposed" in r.diagnosis and r.symbolic.status == "skipped"
    r = verify(loss="sum(clip(x, -1, 1)**2)", grads={"x": "2*x"}, shapes={"x": "2,1"}, values={"x": [[3.0], [0.5]]})
    assert r.verdict == "wrong"


def test_sheets_show_tex_and_count_inconclusive(tmp_path: Path) -> None:
    path = tmp_path / "gradcheck_tex.toml"
    path.write_text('[ls]\nloss = "sum((A@x - b)**2)"\ngrads = { x = "2*A.T@(A@x - b)" }\n'
                    'shapes = { A = "m,n", x = "n,1", b = "m,1" }\ntex = "\\\\nabla_x \\\\|Ax - b\\\\|^2"\n'
                    '[singular]\nloss = "logdet(X)"\ngrads = { X = "inv(X).T" }\nvalues = { X = [[1, 1], [1, 1]] }\n')
    sheet = load_sheet(path)
    outcomes = verify_sheet(sheet, points=1)
    assert [o.outcome for o in outcomes] == ["pass", "inconclusive"]
    assert "\\nabla_x" in sheet.entries[0].tex and outcomes[0].to_dict()["tex"] == sheet.entries[0].tex
    from gradcheck.formula._sheet import render_markdown

    assert "$$\\nabla_x" in render_markdown(sheet, outcomes) and "[\\nabla_x" in __import__(
        "gradcheck.formula", fromlist=["render_table"]).render_table(sheet, outcomes)
    assert cli("--sheet", str(path)) == 4


@pytest.mark.parametrize("problem, words", [
    (dict(loss="a.T@inv(X)@b", grads={"X": "-inv(X)@a@b.T@inv(X)"}, shapes={"a": "n,1", "X": "n,n", "b": "n,1"}),
     "X.T in place of X at every occurrence"),
    (dict(loss="sum((U@V.T - R)**2)", grads={"U": "2*(U@V.T - R)@V", "V": "2*(U@V.T - R)@U"},
          shapes={"U": "m,k", "V": "n,k", "R": "m,n"}), "(U@V.T - R).T in place of U@V.T - R"),
    (dict(loss="sum(relu(W@x)*g)", grads={"W": "(g*step(W@x))@x"}, shapes={"W": "o,i", "x": "i,1", "g": "o,1"}),
     "x.T in place of x"),
])
def test_transposes_are_named_where_the_claim_cannot_even_be_evaluated(problem: dict, words: str) -> None:
    r = verify(**problem, symbolic=False)
    assert r.verdict == "wrong" and words in r.diagnosis, r.diagnosis


def test_a_onehot_column_holds_one_label() -> None:
    # drawn row by row, a (k, 1) column was all ones (k rows of width 1), and softmax(z) - y then wrong
    r = verify(loss="-sum(y*log(softmax(z)))", grads={"z": "softmax(z) - y"}, shapes={"z": "k,1", "y": "k,1"},
               structure={"y": "onehot"})
    assert r.verdict == "right" and all(np.asarray(p.point["y"]).sum() == 1 for p in r.points)
