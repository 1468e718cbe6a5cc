"""The formula language: whitelist, limits, errors with columns, and a fuzzed parser."""

from __future__ import annotations

import string

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck import GradcheckError
from gradcheck.formula import FUNCTIONS, FormulaError, parse
from gradcheck.formula._eval import Env, NumpyBackend, ShapeBackend, evaluate
from gradcheck.formula._parse import Binary, Call, Name, Node, Num, Str, Transpose, Tup, Unary

HOSTILE = [
    "__import__('os').system('touch {p}')",
    "().__class__.__mro__[1].__subclasses__()",
    "x.__class__",
    "x.real.imag",
    "open('{p}', 'w')",
    "9**9**9",
    "x**1000",
    "(" * 10000 + "x" + ")" * 10000,
    "-" * 5000 + "x",
    "f'{{x}}'",
    "(y := x)",
    "sum(*x)",
    "sum(**x)",
    "lambda: 1",
    "[i for i in x]",
    "x[0]",
    "x if x else x",
    "x < 1",
    "exec('1')",
    "eval('1')",
    "getattr(x, 'T')",
    "_x + 1",
    "x; import os",
    "x\nimport os",
    "'abc'",
    "1j * x",
    "x // 2",
    "x ^ 2",
    "sum(x, axis=lambda: 0)",
    "sum(x, dtype=1)",
    "x" * 2001,
]


@pytest.mark.parametrize("text", HOSTILE, ids=[f"hostile{i}" for i in range(len(HOSTILE))])
def test_hostile_input_is_rejected_without_side_effects(text: str, tmp_path) -> None:
    target = tmp_path / "pwned"
    with pytest.raises(FormulaError) as info:
        node = parse(text.format(p=target))
        evaluate(node, Env({"x": (3, 1)}, text=text), ShapeBackend())
    assert isinstance(info.value, GradcheckError) and isinstance(info.value, ValueError)
    assert not target.exists()


def test_errors_name_the_piece_and_column_with_a_caret() -> None:
    with pytest.raises(FormulaError) as info:
        parse("sum(x) + foo(x)")
    err = info.value
    assert err.column == 10 and err.piece == "foo"
    assert str(err).splitlines()[-1] == " " * 11 + "^^^"
    with pytest.raises(FormulaError, match=r"attribute \.real is not allowed"):
        parse("2*x.real")


def test_shape_errors_name_both_operands() -> None:
    node = parse("2*A.T@(A@x - b)")
    env = Env({"A": (4, 3), "x": (4, 1), "b": (4, 1)}, text="2*A.T@(A@x - b)")
    with pytest.raises(FormulaError, match=r"A@x: \(4, 3\) @ \(4, 1\)") as info:
        evaluate(node, env, ShapeBackend())
    assert info.value.column == 8


def test_enormous_shapes_are_refused_before_any_array_exists() -> None:
    with pytest.raises(FormulaError, match="at most 1,000,000"):
        evaluate(parse("outer(x, x)"), Env({"x": (100_000, 1)}, text="outer(x, x)"), ShapeBackend())
    with pytest.raises(FormulaError, match="at most 1,000,000"):
        evaluate(parse("eye(n)"), Env({}, dims={"n": 10**7}, text="eye(n)"), ShapeBackend())


def test_numpy_translation_matches_hand_numpy() -> None:
    rng = np.random.default_rng(0)
    A, x, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 1)), rng.normal(size=(4, 1))
    env = Env({"A": A, "x": x, "b": b})
    got = evaluate(parse("sum((A@x - b)**2) + logsumexp(x) - mean(sigmoid(b), axis=0)"), env, NumpyBackend())
    want = np.sum((A @ x - b) ** 2) + np.log(np.sum(np.exp(x))) - np.mean(1 / (1 + np.exp(-b)), axis=0)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    S = A.T @ A + np.eye(3)
    env = Env({"S": S})
    np.testing.assert_allclose(evaluate(parse("logdet(S) - log(det(S))"), env, NumpyBackend()), 0, atol=1e-12)
    np.testing.assert_allclose(evaluate(parse("kron(eye(2), S)"), env, NumpyBackend()), np.kron(np.eye(2), S))
    np.testing.assert_allclose(evaluate(parse("reshape(S, 9, 1, order=\"F\")"), env, NumpyBackend()),
                               S.reshape(9, 1, order="F"))


# --------------------------------------------------------------------------- fuzzing
ALLOWED_NODES = (Num, Str, Name, Unary, Binary, Transpose, Call, Tup)


def _walk(n: Node) -> None:
    assert isinstance(n, ALLOWED_NODES), type(n)
    if isinstance(n, Call):
        assert n.func in FUNCTIONS
        for c in n.args:
            _walk(c)
        for _, c in n.kwargs:
            _walk(c)
    elif isinstance(n, (Unary, Transpose)):
        _walk(n.operand)
    elif isinstance(n, Binary):
        assert n.op in ("+", "-", "*", "/", "**", "@")
        _walk(n.left)
        _walk(n.right)
    elif isinstance(n, Tup):
        for c in n.items:
            _walk(c)
    elif isinstance(n, Name):
        assert not n.id.startswith("_")


def _parses_or_formula_error(text: str) -> None:
    try:
        node = parse(text)
    except FormulaError:
        return
    _walk(node)


ATOMS = st.sampled_from(["x", "A", "b", "2", "0.5", "n", "__class__", "os", "1e400", "True", "'s'"])


def _grammar(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, st.sampled_from(["+", "-", "*", "/", "**", "@", "//", "%", "<", " and ", "."]), children)
        .map(lambda t: f"({t[0]}{t[1]}{t[2]})"),
        st.tuples(st.sampled_from(sorted(FUNCTIONS) + ["eval", "getattr", "__import__"]), st.lists(children, max_size=3))
        .map(lambda t: f"{t[0]}({', '.join(t[1])})"),
        children.map(lambda c: f"{c}.T"),
        children.map(lambda c: f"-{c}"),
        children.map(lambda c: f"{c}[0]"),
        children.map(lambda c: f"sum({c}, axis=0)"),
        children.map(lambda c: f"lambda: {c}"),
    )


@settings(deadline=None)
@given(st.recursive(ATOMS, _grammar, max_leaves=12))
def test_fuzz_grammar_shaped_strings(text: str) -> None:
    _parses_or_formula_error(text)


@settings(deadline=None)
@given(st.text(alphabet=string.printable, max_size=60))
def test_fuzz_random_text(text: str) -> None:
    _parses_or_formula_error(text)
