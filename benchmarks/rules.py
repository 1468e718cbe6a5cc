"""Framework rules, right and wrong, in float64, float32 and 16 bits: gradcheck beside torch's and jax's checks.

    PYTHONPATH=. python benchmarks/rules.py            # every rule, every dtype, every tool (a few minutes)
    PYTHONPATH=. python benchmarks/rules.py --quick    # one cotangent per check, no timing at 1e4 entries

Written for this benchmark: 44 ``torch.autograd.Function`` rules (22 right, 22 with a slip that bug reports
show: a transposed or unreduced broadcast gradient, a missing gradient for one input, the wrong reduction, a
factor, a sign, ``grad_output`` modified in place, a nondeterministic accumulation, the conjugate complex
convention, a float16 kernel whose backward loses a term) and 12 jax ``custom_vjp``/``custom_jvp`` rules
(6 right, 6 wrong). Each runs in float64, float32 and a 16-bit dtype (float16, or bfloat16 for a few). A
slip that exists only in the 16-bit kernel makes that row wrong and the other two right.

Tools, on the same rules in the same run: ``gradcheck.torch.check_vjp`` / ``gradcheck.jax.check_vjp``
(``check_jvp`` for a forward-mode rule) with their defaults; ``torch.autograd.gradcheck`` with its defaults
and with ``fast_mode=True``; ``jax.test_util.check_grads`` (order 1, the rule's mode). A row is *caught*
when the tool does not pass it (a failed verdict, an inconclusive one or a raised error, each counted); a
*false alarm* is a right rule not passed; *named* counts the wrong rows whose failing inputs are exactly the
wrong one (gradcheck: the failing parameters; torch: the ``input N`` its message names). Each framework
prints "not installed" without its package.

The last table times the two torch checks at 1e4 input entries (a right rule, float64).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import inspect
import re
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gradcheck  # noqa: E402

try:
    import torch
    from torch.autograd.gradcheck import GradcheckError as TorchGradcheckError
except ImportError:
    torch = None
try:
    import jax
    import jax.numpy as jnp
    from jax.test_util import check_grads
except ImportError:
    jax = None


@dataclass
class Rule:
    name: str
    fn: Callable[..., Any]
    make: Callable[[Any], tuple[Any, ...]]  # dtype -> inputs
    wrong_in: frozenset[str]  # the dtypes in which the rule is wrong ("all", or 16-bit names)
    bad_input: str | None  # the input whose gradient is wrong (None: several, or not an input's)
    slip: str
    low: str = "float16"  # its 16-bit dtype
    mode: str = "rev"

    def wrong(self, dtype: str) -> bool:
        return "all" in self.wrong_in or dtype in self.wrong_in


# --------------------------------------------------------------------------- torch rules
def _fn(name: str, forward: Callable[..., Any], backward: Callable[..., Any],
        jvp: Callable[..., Any] | None = None) -> Callable[..., Any]:
    """A torch.autograd.Function from a forward (saving its inputs and output) and a backward."""
    def fwd(ctx: Any, *args: Any) -> Any:
        out = forward(*args)
        ctx.save_for_backward(*args, out)
        return out

    def bwd(ctx: Any, g: Any) -> Any:
        *args, out = ctx.saved_tensors
        return backward(g, out, *args)

    # the forward's own argument names, so that every tool can name the input it finds wrong
    fwd.__signature__ = inspect.Signature([inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD),
                                           *inspect.signature(forward).parameters.values()])
    body: dict[str, Any] = {"forward": staticmethod(fwd), "backward": staticmethod(bwd)}
    return type(name, (torch.autograd.Function,), body).apply


def _g(seed: int) -> Any:
    return torch.Generator().manual_seed(seed)


def _rand(shape: tuple[int, ...], dtype: Any, seed: int, scale: float = 1.0, complex_: bool = False) -> Any:
    t = torch.randn(*shape, generator=_g(seed), dtype=torch.float64) * scale
    if complex_:
        t = torch.complex(t, torch.randn(*shape, generator=_g(seed + 1), dtype=torch.float64) * scale)
        return t.to(torch.complex64 if dtype in (torch.float32, torch.float16, torch.bfloat16) else torch.complex128)
    return t.to(dtype).requires_grad_()


def _low(y: Any) -> bool:
    return y.dtype in (torch.float16, torch.bfloat16)


def torch_rules() -> list[Rule]:
    """22 right rules and 22 slips."""
    def two(shape_a: tuple[int, ...], shape_b: tuple[int, ...], sb: float = 1.0) -> Callable[[Any], tuple[Any, ...]]:
        return lambda dt: (_rand(shape_a, dt, 1), _rand(shape_b, dt, 2, sb))

    def one(shape: tuple[int, ...], scale: float = 1.0) -> Callable[[Any], tuple[Any, ...]]:
        return lambda dt: (_rand(shape, dt, 3, scale),)

    sq = (4, 4)
    rules: list[Rule] = []

    def add(name: str, fwd: Callable[..., Any], right: Callable[..., Any], wrong: Callable[..., Any],
            make: Callable[[Any], tuple[Any, ...]], slip: str, bad: str | None, wrong_in: str = "all",
            low: str = "float16") -> None:
        rules.append(Rule(name, _fn(name, fwd, right), make, frozenset(), None, "right", low))
        rules.append(Rule(f"{name}/{slip.split(':')[0]}", _fn(name + "Slip", fwd, wrong), make,
                          frozenset({wrong_in}), bad, slip, low))

    add("Mul", lambda a, b: a * b, lambda g, y, a, b: (g * b, g * a), lambda g, y, a, b: (g * b, None),
        two(sq, sq), "missing: no gradient for b", "b")
    add("MatMul", lambda a, b: a @ b, lambda g, y, a, b: (g @ b.T, a.T @ g), lambda g, y, a, b: (g @ b.T, g.T @ a),
        two(sq, sq), "transposed: gradient of b transposed", "b")
    add("TanhMatMul", lambda a, b: torch.tanh(a @ b),
        lambda g, y, a, b: ((g * (1 - y * y)) @ b.T, a.T @ (g * (1 - y * y))),
        lambda g, y, a, b: ((g * (1 - y * y)) @ b, a.T @ (g * (1 - y * y))), two(sq, sq, 0.5),
        "transposed: b used untransposed in a's gradient", "a")
    add("AddBias", lambda x, b: x + b, lambda g, y, x, b: (g, g.sum(0)), lambda g, y, x, b: (g, g.sum(1)),
        two(sq, (4,)), "broadcast: bias gradient reduced over the wrong axis", "b")
    add("ScaleRows", lambda x, s: x * s, lambda g, y, x, s: (g * s, (g * x).sum(0)),
        lambda g, y, x, s: (g * s, (g * x)[0]), two(sq, (4,)), "broadcast: unreduced, one row taken", "s")
    add("Mean", lambda x: x.mean(0), lambda g, y, x: g.expand_as(x) / x.shape[0], lambda g, y, x: g.expand_as(x),
        one((5, 3)), "reduction: sum's gradient for a mean", "x")
    add("LogSumExp", lambda x: torch.logsumexp(x, 1), lambda g, y, x: g[:, None] * torch.exp(x - y[:, None]),
        lambda g, y, x: g[:, None] * torch.exp(x - y[:, None]) / x.shape[1], one((3, 5)),
        "reduction: softmax averaged", "x")
    add("SumSquares", lambda x: (x * x).sum(1), lambda g, y, x: 2 * g[:, None] * x, lambda g, y, x: g[:, None] * x,
        one((3, 4)), "factor: the 2 of d/dx x^2 dropped", "x")
    add("Softplus", lambda x: torch.nn.functional.softplus(x), lambda g, y, x: g * torch.sigmoid(x),
        lambda g, y, x: 0.5 * g * torch.sigmoid(x), one((12,)), "factor: a stray 1/2", "x")
    add("Cos", lambda x: torch.cos(x), lambda g, y, x: -g * torch.sin(x), lambda g, y, x: g * torch.sin(x), one((10,)),
        "sign: d cos = +sin", "x")
    add("Tanh", lambda x: torch.tanh(x), lambda g, y, x: g * (1 - y * y), lambda g, y, x: g * (1 - x * x),
        one((10,), 0.7), "saved tensor: input used for output", "x")
    add("Exp", lambda x: torch.exp(x), lambda g, y, x: g * y, lambda g, y, x: g.mul_(y), one((10,)),
        "grad_output modified in place", None)
    add("Swish", lambda x: x * torch.sigmoid(x),
        lambda g, y, x: g * (torch.sigmoid(x) * (1 + x * (1 - torch.sigmoid(x)))),
        lambda g, y, x: g.mul_(torch.sigmoid(x) * (1 + x * (1 - torch.sigmoid(x)))), one((10,)),
        "grad_output modified in place", None)

    def shuffled_gram(g: Any, y: Any, a: Any, b: Any) -> Any:
        order = np.random.default_rng().permutation(a.shape[0])  # the order of atomics, not torch's RNG
        gb = torch.zeros_like(b)
        for i in order:
            gb = gb + a[i][:, None] * g[i][None, :]
        return g @ b.T, gb

    add("Linear", lambda a, b: a @ b, lambda g, y, a, b: (g @ b.T, a.T @ g), shuffled_gram, two((16, 4), (4, 3)),
        "nondeterministic accumulation of b's gradient", "b")
    add("Sigmoid", lambda x: torch.sigmoid(x), lambda g, y, x: g * y * (1 - y),
        lambda g, y, x: g * y if _low(y) else g * y * (1 - y), one((4, 6), 2.0),
        "float16 kernel: -y^2 term lost", "x", wrong_in="float16")

    def softmax_bwd(g: Any, y: Any, x: Any, lose: bool = False) -> Any:
        if lose and _low(y):
            return y * g
        return y * (g - (g * y).sum(1, keepdim=True))

    add("Softmax", lambda x: torch.softmax(x, 1), softmax_bwd, lambda g, y, x: softmax_bwd(g, y, x, True),
        one((3, 6)), "bfloat16 kernel: the -y sum(g y) term lost", "x", wrong_in="bfloat16", low="bfloat16")

    def layernorm_bwd(g: Any, y: Any, x: Any, lose: bool = False) -> Any:
        sd = torch.sqrt(x.var(1, unbiased=False, keepdim=True) + 1e-5)
        proj = y * (g * y).mean(1, keepdim=True)
        if lose and _low(y):
            proj = 0 * proj
        return (g - g.mean(1, keepdim=True) - proj) / sd

    def layernorm(x: Any) -> Any:
        return (x - x.mean(1, keepdim=True)) / torch.sqrt(x.var(1, unbiased=False, keepdim=True) + 1e-5)

    add("LayerNorm", layernorm, layernorm_bwd, lambda g, y, x: layernorm_bwd(g, y, x, True), one((3, 8)),
        "float16 kernel: the projection term lost", "x", wrong_in="float16")

    def gelu(x: Any) -> Any:
        return 0.5 * x * (1 + torch.tanh(0.7978845608 * (x + 0.044715 * x**3)))

    def gelu_bwd(g: Any, y: Any, x: Any, lose: bool = False) -> Any:
        t = torch.tanh(0.7978845608 * (x + 0.044715 * x**3))
        dt = 0.5 * x * (1 - t * t) * 0.7978845608 * (1 + 3 * 0.044715 * x * x)
        if lose and _low(y):
            dt = 0 * dt
        return g * (0.5 * (1 + t) + dt)

    add("GELU", gelu, gelu_bwd, lambda g, y, x: gelu_bwd(g, y, x, True), one((12,)),
        "bfloat16 kernel: the tanh' term lost", "x", wrong_in="bfloat16", low="bfloat16")
    add("Normalize", lambda x: x / x.norm(), lambda g, y, x: (g - y * (g * y).sum()) / x.norm(),
        lambda g, y, x: g / x.norm(), one((8,)), "projection term lost (all dtypes)", "x")
    add("Bilinear", lambda x, a: (x @ a * x).sum(1), lambda g, y, x, a: (g[:, None] * (x @ (a + a.T)),
                                                                           x.T @ (g[:, None] * x)),
        lambda g, y, x, a: (g[:, None] * (x @ (2 * a)), x.T @ (g[:, None] * x)), two((3, 4), sq),
        "symmetric: A + A^T taken as 2A", "x")
    add("Abs2", lambda z: (z * z.conj()).real, lambda g, y, z: 2 * g * z, lambda g, y, z: 2 * g * z.conj(),
        lambda dt: (_rand((6,), dt, 5, complex_=True).requires_grad_(),), "complex: conjugate convention", "z.imag")

    def cmul_fwd(z: Any, w: Any) -> Any:
        return z * w

    add("CMul", cmul_fwd, lambda g, y, z, w: (g * w.conj(), g * z.conj()), lambda g, y, z, w: (g * w, g * z.conj()),
        lambda dt: (_rand((5,), dt, 6, complex_=True).requires_grad_(),
                    _rand((5,), dt, 8, complex_=True).requires_grad_()), "complex: unconjugated w", "z")
    for r in rules:
        if r.name in ("Abs2", "CMul") or r.name.startswith(("Abs2/", "CMul/")):
            r.low = "complex"  # one complex dtype only: complex64 stands for the low precision
    return rules


# --------------------------------------------------------------------------- jax rules
def jax_rules() -> list[Rule]:
    """6 right custom rules, 6 wrong."""
    rules: list[Rule] = []

    def vjp_rule(name: str, f: Callable[..., Any], bwd: Callable[..., Any]) -> Callable[..., Any]:
        g = jax.custom_vjp(f)
        g.defvjp(lambda *a: (f(*a), a), bwd)
        g.__name__ = name
        return g

    def jvp_rule(name: str, f: Callable[..., Any], tangent: Callable[..., Any]) -> Callable[..., Any]:
        g = jax.custom_jvp(f)
        g.defjvp(lambda p, t: (f(*p), tangent(*p, *t)))
        g.__name__ = name
        return g

    rng = np.random.default_rng(11)
    x6, w6, m = rng.standard_normal(6), rng.standard_normal(6), rng.standard_normal((3, 4))

    def add(name: str, make_fn: Callable[[bool], Callable[..., Any]], args: tuple[np.ndarray, ...], slip: str,
            bad: str | None, mode: str = "rev", wrong_in: str = "all", low: str = "bfloat16") -> None:
        rules.append(Rule(name, make_fn(False), lambda dt: tuple(a.astype(dt) for a in args), frozenset(), None,
                          "right", low, mode))
        rules.append(Rule(f"{name}/{slip.split(':')[0]}", make_fn(True), lambda dt: tuple(a.astype(dt) for a in args),
                          frozenset({wrong_in}), bad, slip, low, mode))

    add("softplus", lambda bad: vjp_rule("softplus", lambda x, w: jnp.log1p(jnp.exp(x * w)),
                                         lambda r, g: (g * jax.nn.sigmoid(r[0] * r[1]) * r[1],
                                                       g * jax.nn.sigmoid(r[0] * r[1]) * (1 if bad else r[0]))),
        (x6, w6), "missing factor: x dropped from w's gradient", "w")
    add("logsumexp", lambda bad: vjp_rule("logsumexp", lambda x: jax.nn.logsumexp(x, axis=1),
                                          lambda r, g: (g[:, None] * jax.nn.softmax(r[0], axis=1) * (
                                              0.5 if bad else 1.0),)), (m,), "factor: 1/2", "x")
    def normalize_bwd(bad: bool) -> Callable[..., Any]:
        def bwd(r: Any, g: Any) -> Any:
            n = jnp.linalg.norm(r[0])
            y = r[0] / n
            return ((g - (0 if bad else 1) * y * jnp.sum(g * y)) / n,)
        return bwd

    add("normalize", lambda bad: vjp_rule("normalize", lambda x: x / jnp.linalg.norm(x), normalize_bwd(bad)),
        (x6,), "projection lost", "x")
    add("matvec", lambda bad: vjp_rule("matvec", lambda a, x: a @ x,
                                       lambda r, g: (jnp.outer(g, r[1]),
                                                     jnp.zeros_like(r[1]) if bad else r[0].T @ g)),
        (m, rng.standard_normal(4)), "missing: zeros for x", "x")
    add("cube", lambda bad: jvp_rule("cube", lambda x: x**3, lambda x, v: (2 if bad else 3) * x**2 * v), (x6,),
        "factor: 2x^2", "x", mode="fwd")
    add("swish", lambda bad: jvp_rule("swish", lambda x: x * jax.nn.sigmoid(x),
                                      lambda x, v: v * jax.nn.sigmoid(x) * (1 + x * (1 - jax.nn.sigmoid(x)) * (
                                          -1 if bad else 1))), (x6,), "sign of a term", "x", mode="fwd")
    return rules


# --------------------------------------------------------------------------- running the tools
@dataclass
class Outcome:
    verdict: str  # pass, FAIL, inconclusive, error, n/a
    named: bool | None
    seconds: float
    detail: str = ""


def _torch_dtype(name: str) -> Any:
    return {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16,
            "bfloat16": torch.bfloat16, "complex": torch.float32}[name]


def run_gradcheck_torch(rule: Rule, dtype: str, cotangents: int) -> Outcome:
    import gradcheck.torch as gt

    t0 = time.perf_counter()
    try:
        r = gt.check_vjp(rule.fn, rule.make(_torch_dtype(dtype)), cotangents=cotangents)
    except gradcheck.GradcheckError as exc:
        return Outcome(f"raised {type(exc).__name__}", _named_in(str(exc), rule.bad_input), time.perf_counter() - t0)
    failed = {n.split(".")[0] for n, p in r.params.items() if p.verdict != "pass"}  # z.real, z.imag: input z
    return Outcome(r.verdict, failed == {rule.bad_input.split(".")[0]} if rule.bad_input else None,
                   time.perf_counter() - t0,
                   "; ".join(f"{n}: {p.diagnosis or p.inconclusive}" for n, p in r.params.items()
                             if p.verdict != "pass"))


def _named_in(message: str, bad: str | None) -> bool | None:
    return None if bad is None else f"'{bad.split('.')[0]}'" in message


def run_torch_gradcheck(rule: Rule, dtype: str, fast: bool) -> Outcome:
    inputs = rule.make(_torch_dtype(dtype))
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ok = torch.autograd.gradcheck(rule.fn, inputs, fast_mode=fast)
        verdict = "pass" if ok else "FAIL"
        named = None
        detail = ""
    except TorchGradcheckError as exc:
        verdict, detail = "FAIL", str(exc).split("\n")[0]
        found = re.search(r"respect to input (\d+)", str(exc))
        named = None
        if rule.bad_input is not None and found:
            names = _torch_names(rule, len(inputs))
            named = names[int(found.group(1))] == rule.bad_input.split(".")[0]
        elif rule.bad_input is not None:
            named = False
    except Exception as exc:  # a dtype it refuses, a shape torch's own validation refuses
        verdict, named, detail = "error", False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
    return Outcome(verdict, named, time.perf_counter() - t0, detail)


def _torch_names(rule: Rule, n: int) -> list[str]:
    return list(inspect.signature(rule.fn.__self__.forward).parameters)[1:n + 1]


def run_gradcheck_jax(rule: Rule, dtype: str, cotangents: int) -> Outcome:
    import gradcheck.jax as gj

    args = rule.make(_np_dtype(dtype))
    t0 = time.perf_counter()
    check = gj.check_jvp if rule.mode == "fwd" else gj.check_vjp
    try:
        r = check(rule.fn, args, **({"tangents": cotangents} if rule.mode == "fwd" else {"cotangents": cotangents}))
    except gradcheck.GradcheckError as exc:
        return Outcome(f"raised {type(exc).__name__}", _named_in(str(exc), rule.bad_input), time.perf_counter() - t0)
    failed = {n for n, p in r.params.items() if p.verdict != "pass"}
    return Outcome(r.verdict, failed == {rule.bad_input} if rule.bad_input else None, time.perf_counter() - t0)


def _np_dtype(name: str) -> Any:
    return {"float64": np.float64, "float32": np.float32, "float16": np.float16, "bfloat16": jnp.bfloat16}[name]


def run_check_grads(rule: Rule, dtype: str) -> Outcome:
    t0 = time.perf_counter()
    try:
        with jax.enable_x64(True):
            args = tuple(jnp.asarray(a) for a in rule.make(_np_dtype(dtype)))
            check_grads(rule.fn, args, order=1, modes=(rule.mode,))
        verdict = "pass"
    except AssertionError:
        verdict = "FAIL"
    except Exception as exc:
        verdict = f"error {type(exc).__name__}"
    return Outcome(verdict, None, time.perf_counter() - t0)


# --------------------------------------------------------------------------- tables
def tabulate(title: str, rules: list[Rule], tools: dict[str, Callable[[Rule, str], Outcome]]) -> None:
    print(f"\n## {title}: {sum(1 for r in rules if not r.wrong_in)} right and "
          f"{sum(1 for r in rules if r.wrong_in)} wrong rules, each in float64, float32 and a 16-bit dtype")
    rows = {tool: [] for tool in tools}
    for rule in rules:
        for dtype in ("float64", "float32", rule.low):
            if rule.low == "complex" and dtype == "complex":
                continue
            for tool, run in tools.items():
                out = run(rule, dtype)
                rows[tool].append((rule, dtype, out))
    print(f"{'tool':<36}{'dtype':<10}{'caught':>10}{'false alarms':>14}{'named':>9}{'errors':>8}{'time':>9}")
    for tool, found in rows.items():
        for group in ("float64", "float32", "16-bit", "all"):
            sel = [(r, d, o) for r, d, o in found
                   if group == "all" or d == group or (group == "16-bit" and d in ("float16", "bfloat16"))]
            if not sel:
                continue
            wrong = [(r, d, o) for r, d, o in sel if r.wrong(d)]
            right = [(r, d, o) for r, d, o in sel if not r.wrong(d)]
            caught = sum(o.verdict != "pass" for _, _, o in wrong)
            alarms = sum(o.verdict != "pass" for _, _, o in right)
            named_rows = [o.named for _, _, o in wrong if o.named is not None]
            errors = sum(o.verdict.startswith("error") for _, _, o in sel)
            seconds = sum(o.seconds for _, _, o in sel)
            named = f"{sum(named_rows)}/{len(named_rows)}" if named_rows else "-"
            print(f"{tool:<36}{group:<10}{f'{caught}/{len(wrong)}':>10}{f'{alarms}/{len(right)}':>14}{named:>9}"
                  f"{errors:>8}{seconds:>8.1f}s")
    for tool, found in rows.items():
        missed = [f"{r.name}[{d}]" for r, d, o in found if r.wrong(d) and o.verdict == "pass"]
        alarms = [f"{r.name}[{d}]: {o.verdict} {o.detail[:100]}" for r, d, o in found
                  if not r.wrong(d) and o.verdict != "pass"]
        unnamed = [f"{r.name}[{d}]" for r, d, o in found if r.wrong(d) and o.named is False]
        print(f"{tool}: missed {missed or 'none'}; false alarms {len(alarms)}: {alarms[:4] or 'none'}"
              f"{' ...' if len(alarms) > 4 else ''}; wrong input not named: {unnamed or 'none'}")


def timing(entries: int, cotangents: int) -> None:
    print(f"\n## time at {entries:.0e} input entries, a right rule in float64 (row sums of squares, 100 outputs)")

    class RowSq(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            ctx.save_for_backward(x)
            return (x * x).sum(1)

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            (x,) = ctx.saved_tensors
            return 2 * x * g[:, None]

    import gradcheck.torch as gt

    x = torch.randn(100, entries // 100, dtype=torch.float64, generator=_g(0), requires_grad=True)
    for label, run in (("torch.autograd.gradcheck", lambda: torch.autograd.gradcheck(RowSq.apply, (x,))),
                       ("torch.autograd.gradcheck fast_mode", lambda: torch.autograd.gradcheck(RowSq.apply, (x,),
                                                                                               fast_mode=True)),
                       (f"gradcheck.torch.check_vjp cotangents={cotangents}",
                        lambda: gt.check_vjp(RowSq.apply, (x,), cotangents=cotangents).ok),
                       ("gradcheck.torch.check_vjp cotangents=1", lambda: gt.check_vjp(RowSq.apply, (x,),
                                                                                       cotangents=1).ok)):
        t0 = time.perf_counter()
        ok = run()
        print(f"{label:<44}{'pass' if ok else 'FAIL':>6}{time.perf_counter() - t0:>9.2f}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one cotangent per check, no timing table")
    args = parser.parse_args(argv)
    draws = 1 if args.quick else 3
    if torch is None:
        print("torch: not installed (pip install 'gradcheck[torch]')")
    else:
        torch.set_num_threads(1)
        rules = torch_rules()
        tabulate("torch custom Functions", rules, {
            "gradcheck.torch.check_vjp": lambda r, d: run_gradcheck_torch(r, d, draws),
            "torch.autograd.gradcheck": lambda r, d: run_torch_gradcheck(r, d, False),
            "torch.autograd.gradcheck fast_mode": lambda r, d: run_torch_gradcheck(r, d, True),
        })
        if not args.quick:
            timing(10_000, draws)
    if jax is None:
        print("jax: not installed (pip install 'gradcheck[jax]')")
    else:
        tabulate("jax custom rules", jax_rules(), {
            "gradcheck.jax.check_vjp/check_jvp": lambda r, d: run_gradcheck_jax(r, d, draws),
            "jax.test_util.check_grads": run_check_grads,
        })
    return 0


if __name__ == "__main__":
    sys.exit(main())
