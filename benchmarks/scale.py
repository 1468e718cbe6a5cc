"""How the directional check scales, beside torch's and jax's gradient checks on the same functions.

    python benchmarks/scale.py            # all sizes (about 10 minutes on a shared 2-core machine, gradcheck only)
    python benchmarks/scale.py --quick    # 1e3 and 1e4 only, a coarse error grid (under a minute)
    # the comparison, in a venv of its own with torch and jax (never dependencies of gradcheck):
    PYTHONPATH=. /work/venv-cmp/bin/python benchmarks/scale.py --method auto --torch-grid-max 2e3 --entries

Three losses, written here with their hand-derived gradients:

* ``mlp``: a row-layout sigmoid MLP, X1 = s(X0 W1 + b1), X2 = s(X1 W2 + b2), X3 = X2 W3 + b3,
  E = 0.5 ||X3 - T||^2, batch 32, 10 outputs;
* ``relu``: h = relu(x W1 + b1), mean cross-entropy of softmax(h W2 + b2), batch 32, 10 classes,
  with 6 hidden units exactly on their kink (the first sample is 0 and their biases are 0);
  ``relu0`` is the same net with no unit on its kink;
* ``lsq``: 0.5 ||A x - b||^2 with A of 64 rows.

For each size and tool: the time to pass a correct gradient (and its ratio to torch's full
gradcheck), and the smallest relative error d flagged on the grid 1e-1 .. 1.2e-7 (descending,
stopping at the first miss) when (a) every entry is scaled by 1 + d, (b) only the largest entry
is, (c) only one median entry is, with what the tool named; and the time to find a relative
1e-6 error in one median entry. gradcheck counts a slip only with its entry named (an entry is
off by more than 1e-7 of itself plus 10 error estimates: 1e-7 itself is never flagged).

The other tools check exactly what gradcheck checks: ``torch.autograd.gradcheck`` (full and
``fast_mode=True``) runs on a ``torch.autograd.Function`` whose forward is the numpy loss and
whose backward is the hand-derived gradient, ``jax.test_util.check_grads`` (reverse mode) on a
``jax.custom_vjp`` of the same two through ``pure_callback``. Each prints "not installed" without
its package. torch's full check costs two evaluations per entry: it runs up to
``--torch-full-max`` entries, its slips up to ``--torch-grid-max``. ``--entries`` adds the
per-entry check (``check_grad(mode="entries")``) at 1e4 entries beside torch's full check.

BLAS runs one thread per process (set before numpy loads; torch too): on a machine shared by
several jobs, threaded complex matrix products were 10x slower than single-threaded ones.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import math
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gradcheck import check_grad
from gradcheck.checks.directional._engine import check_grad_directional


def _sigmoid(z: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-z))


class MLP:
    """Row-layout sigmoid MLP; d3 = X3 - T, d2 = (d3 W3^T) o X2 o (1 - X2), d1 = (d2 W2^T) o X1 o (1 - X1)."""

    def __init__(self, width: int, seed: int = 0, batch: int = 32, n_out: int = 10) -> None:
        rng = np.random.default_rng(seed)
        self.X = rng.normal(size=(batch, width))
        self.T = rng.normal(size=(batch, n_out))
        self.params = {
            "W1": rng.normal(size=(width, width)) / np.sqrt(width),
            "b1": 0.1 * rng.normal(size=(1, width)),
            "W2": rng.normal(size=(width, width)) / np.sqrt(width),
            "b2": 0.1 * rng.normal(size=(1, width)),
            "W3": rng.normal(size=(width, n_out)) / np.sqrt(width),
            "b3": 0.1 * rng.normal(size=(1, n_out)),
        }

    def forward(self, p: dict) -> tuple:
        x1 = _sigmoid(self.X @ p["W1"] + p["b1"])
        x2 = _sigmoid(x1 @ p["W2"] + p["b2"])
        return x1, x2, x2 @ p["W3"] + p["b3"]

    def loss(self, p: dict) -> Any:
        return 0.5 * np.sum((self.forward(p)[2] - self.T) ** 2)

    def grad(self, p: dict) -> dict:
        x1, x2, x3 = self.forward(p)
        d3 = x3 - self.T
        d2 = (d3 @ p["W3"].T) * x2 * (1 - x2)
        d1 = (d2 @ p["W2"].T) * x1 * (1 - x1)
        return {
            "W1": self.X.T @ d1,
            "b1": d1.sum(0, keepdims=True),
            "W2": x1.T @ d2,
            "b2": d2.sum(0, keepdims=True),
            "W3": x2.T @ d3,
            "b3": d3.sum(0, keepdims=True),
        }


class Relu:
    """dscore = (softmax - onehot) / n; dW2 = h^T dscore; dr = (dscore W2^T) o 1(r > 0); dW1 = x^T dr."""

    def __init__(self, hidden: int, seed: int = 0, batch: int = 32, classes: int = 10, on_kink: int = 6) -> None:
        rng = np.random.default_rng(seed)
        self.x = rng.normal(size=(batch, hidden))
        self.x[0] = 0.0
        self.onehot = np.eye(classes)[rng.integers(0, classes, size=batch)]
        b1 = 0.5 * rng.normal(size=(1, hidden))
        b1[0, :on_kink] = 0.0  # these units sit exactly on their kink for the first sample
        self.params = {
            "W1": rng.normal(size=(hidden, hidden)) / np.sqrt(hidden),
            "b1": b1,
            "W2": rng.normal(size=(hidden, classes)) / np.sqrt(hidden),
            "b2": np.zeros((1, classes)),
        }

    def loss(self, p: dict) -> Any:
        r = self.x @ p["W1"] + p["b1"]
        h = r * (np.real(r) > 0)  # the mask reads the real part, so complex step works
        s = h @ p["W2"] + p["b2"]
        s = s - np.max(np.real(s), axis=1, keepdims=True)
        logp = s - np.log(np.sum(np.exp(s), axis=1, keepdims=True))
        return -np.sum(self.onehot * logp) / self.x.shape[0]

    def grad(self, p: dict) -> dict:
        r = self.x @ p["W1"] + p["b1"]
        h = np.maximum(r, 0.0)
        s = h @ p["W2"] + p["b2"]
        e = np.exp(s - s.max(axis=1, keepdims=True))
        dscore = (e / e.sum(axis=1, keepdims=True) - self.onehot) / self.x.shape[0]
        dr = (dscore @ p["W2"].T) * (r > 0)
        return {
            "W1": self.x.T @ dr,
            "b1": dr.sum(0, keepdims=True),
            "W2": h.T @ dscore,
            "b2": dscore.sum(0, keepdims=True),
        }


class LeastSquares:
    """E = 0.5 ||A x - b||^2, dE/dx = A^T (A x - b)."""

    def __init__(self, n: int, seed: int = 0, rows: int = 64) -> None:
        rng = np.random.default_rng(seed)
        self.A = rng.normal(size=(rows, n)) / np.sqrt(n)
        self.b = rng.normal(size=rows)
        self.params = {"x": rng.normal(size=n)}

    def loss(self, p: dict) -> Any:
        return 0.5 * np.sum((self.A @ p["x"] - self.b) ** 2)

    def grad(self, p: dict) -> dict:
        return {"x": self.A.T @ (self.A @ p["x"] - self.b)}


SIZES = {  # entries: mlp 2w^2 + 12w + 10, relu h^2 + 11h + 10
    "mlp": {"1e3": 20, "1e4": 68, "1e5": 221, "1e6": 704},
    "relu": {"1e3": 27, "1e4": 95, "1e5": 311, "1e6": 995},
    "relu0": {"1e3": 27, "1e4": 95},
    "lsq": {"1e3": 1000, "1e4": 10000},
}
FACTORY: dict[str, Callable[[int], Any]] = {
    "mlp": MLP,
    "relu": Relu,
    "relu0": lambda h: Relu(h, on_kink=0),  # no unit on its kink: the other tools' resolution on the same net
    "lsq": LeastSquares,
}


def _edit(grad: Callable, how: str, d: float, where: tuple[str, tuple[int, ...]] | None) -> Callable:
    def wrong(p: dict) -> dict:
        g = {k: v.copy() for k, v in grad(p).items()}
        if how == "all":
            return {k: v * (1 + d) for k, v in g.items()}
        name, idx = where  # type: ignore[misc]
        g[name][idx] *= 1 + d
        return g

    return wrong


def _pick(net: Any, how: str) -> tuple[str, tuple[int, ...]]:
    """The largest entry of all, or a median entry (by magnitude) of the largest parameter."""
    g = net.grad(net.params)
    if how == "largest":
        name = max(g, key=lambda k: np.abs(g[k]).max())
        flat = int(np.argmax(np.abs(g[name])))
    else:
        name = max(g, key=lambda k: g[k].size)
        flat = int(np.argsort(np.abs(g[name]).ravel(), kind="stable")[g[name].size // 2])
    return name, tuple(int(i) for i in np.unravel_index(flat, g[name].shape))


@dataclass(frozen=True)
class Outcome:
    """One tool's answer on one gradient: did it flag it, and what did it name."""

    flagged: bool
    seconds: float
    verdict: str
    entries: frozenset = frozenset()  # (parameter, index) pairs named wrong
    inputs: frozenset = frozenset()  # parameters named wrong without an entry (torch's message)


def _named(out: Outcome, where: tuple[str, tuple[int, ...]] | None) -> str | None:
    """None if ``out`` missed the slip, else how precisely it pointed at it."""
    if not out.flagged:
        return None
    if where is None:
        return ""
    if where in out.entries:
        return f"{where[0]}{list(where[1])}"
    if where[0] in out.inputs:
        return f"{where[0]} (no entry)"
    if out.inputs:
        return f"{', '.join(sorted(out.inputs))} named instead"
    return "wrong entry named" if out.entries else "nothing named"


class Tool:
    """A gradient checker run on a net's numpy loss and a (possibly edited) hand-derived gradient."""

    name = ""
    needs_entry = False  # a slip counts as found only with its entry named

    def missing(self) -> str | None:
        return None

    def check(self, net: Any, grad: Callable) -> Outcome:
        raise NotImplementedError


class Gradcheck(Tool):
    needs_entry = True

    def __init__(self, method: str, mode: str = "directional", workers: int | None = None) -> None:
        self.method, self.mode, self.workers = method, mode, workers
        self.name = "gradcheck" if mode == "directional" else f"gradcheck entries {method}"

    def check(self, net: Any, grad: Callable) -> Outcome:
        t = time.perf_counter()
        if self.mode == "directional":
            r = check_grad_directional(net.loss, grad, net.params, method=self.method, progress=False)
            named = frozenset((n, e.index) for n, es in r.mismatches.items() for e in es)
        else:
            r = check_grad(net.loss, grad, net.params, method=self.method, mode="entries", workers=self.workers)
            named = frozenset((n, e.index) for n, p in r.params.items() for e in p.mismatches)
        seconds = time.perf_counter() - t
        evals = f" ({r.n_evaluations:,} evals)"
        return Outcome(r.verdict == "FAIL", seconds, f"{r.verdict}{evals}", named)


class TorchGradcheck(Tool):
    """torch.autograd.gradcheck on a torch.autograd.Function whose forward is the numpy loss and
    whose backward is the hand-derived gradient: the check sees exactly what gradcheck sees."""

    def __init__(self, fast: bool, full_max: int, grid_max: int = 0) -> None:
        self.fast, self.full_max, self.grid_max = fast, full_max, grid_max
        self.name = "torch fast_mode" if fast else "torch full"

    def missing(self) -> str | None:
        try:
            import torch  # noqa: F401
        except ImportError:
            return "torch not installed"
        return None

    def too_big(self, n: int, *, grid: bool = False) -> bool:
        """Full checks take 2 evaluations per entry; a fast check that flags reruns the full one for its message."""
        if grid:
            return n > self.grid_max
        return not self.fast and n > self.full_max

    def check(self, net: Any, grad: Callable) -> Outcome:
        import torch
        from torch.autograd.gradcheck import GradcheckError

        torch.set_num_threads(1)
        names = list(net.params)

        def arrays(ts: tuple) -> dict:
            return {k: t.detach().numpy() for k, t in zip(names, ts, strict=True)}

        class NumpyLoss(torch.autograd.Function):
            @staticmethod
            def forward(ctx: Any, *ts: Any) -> Any:
                ctx.save_for_backward(*ts)
                return torch.tensor(float(net.loss(arrays(ts))), dtype=torch.float64)

            @staticmethod
            def backward(ctx: Any, out: Any) -> Any:
                g = grad(arrays(ctx.saved_tensors))
                return tuple(out * torch.from_numpy(np.ascontiguousarray(g[k], dtype=np.float64)) for k in names)

        inputs = tuple(torch.tensor(net.params[k], dtype=torch.float64, requires_grad=True) for k in names)
        t = time.perf_counter()
        try:
            torch.autograd.gradcheck(NumpyLoss.apply, inputs, fast_mode=self.fast)
        except GradcheckError as exc:
            seconds = time.perf_counter() - t
            hit = re.search(r"with respect to input (\d+)", str(exc))
            return Outcome(True, seconds, "flagged", inputs=frozenset([names[int(hit.group(1))]] if hit else []))
        return Outcome(False, time.perf_counter() - t, "ok")


class JaxCheckGrads(Tool):
    """jax.test_util.check_grads (reverse mode) on a custom_vjp whose primal is the numpy loss and
    whose cotangent rule is the hand-derived gradient, both through pure_callback."""

    name = "jax check_grads"

    def missing(self) -> str | None:
        try:
            import jax  # noqa: F401
        except ImportError:
            return "jax not installed"
        return None

    def check(self, net: Any, grad: Callable) -> Outcome:
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        from jax.test_util import check_grads

        shapes = {k: jax.ShapeDtypeStruct(v.shape, jnp.float64) for k, v in net.params.items()}
        scalar = jax.ShapeDtypeStruct((), jnp.float64)

        def host_loss(q: dict) -> Any:
            return np.float64(net.loss({k: np.asarray(v) for k, v in q.items()}))

        @jax.custom_vjp
        def loss(p: dict) -> Any:
            return jax.pure_callback(host_loss, scalar, p)

        def fwd(p: dict) -> tuple:
            return loss(p), p

        def bwd(p: dict, ct: Any) -> tuple:
            def host(q: dict) -> dict:
                g = grad({k: np.asarray(v) for k, v in q.items()})
                return {k: np.asarray(g[k], dtype=np.float64) for k in shapes}

            g = jax.pure_callback(host, shapes, p)
            return ({k: ct * v for k, v in g.items()},)

        loss.defvjp(fwd, bwd)
        p = {k: jnp.asarray(v) for k, v in net.params.items()}
        t = time.perf_counter()
        try:
            check_grads(loss, (p,), order=1, modes=("rev",))
        except AssertionError:
            return Outcome(True, time.perf_counter() - t, "flagged")
        return Outcome(False, time.perf_counter() - t, "ok")


def smallest_flagged(tool: Tool, net: Any, how: str, grid: list[float]) -> str:
    """The smallest d on ``grid`` (descending, stopping at the first miss) the tool flags, and what it named."""
    where = None if how == "all" else _pick(net, how)
    best, named = "none", ""
    for d in grid:
        got = _named(tool.check(net, _edit(net.grad, how, d, where)), where)
        if got is None or (tool.needs_entry and where is not None and got != f"{where[0]}{list(where[1])}"):
            break
        best, named = f"{d:.2g}", got
    return best + (f" {named}" if named else "")


def _tools(names: list[str], method: str, full_max: int, grid_max: int) -> list[Tool]:
    known: dict[str, Callable[[], Tool]] = {
        "gradcheck": lambda: Gradcheck(method),
        "torch": lambda: TorchGradcheck(False, full_max, grid_max),
        "torch-fast": lambda: TorchGradcheck(True, full_max, grid_max),
        "jax": lambda: JaxCheckGrads(),
    }
    return [known[n]() for n in names]


def _row(tool: Tool, kind: str, net: Any, grid: list[float], no_grid: bool, reference: dict) -> list[str]:
    n = sum(v.size for v in net.params.values())
    cells = [kind, f"{n:,}", tool.name]
    why = tool.missing()
    if why:
        return cells + [why] + ["-"] * 5
    if isinstance(tool, TorchGradcheck) and tool.too_big(n):
        est = reference.get("torch full per entry")
        guess = f" (about {est * n:.0f} s at its rate per entry one size down)" if est else ""
        return cells + [f"not run above {tool.full_max:,} entries{guess}"] + ["-"] * 5
    ok = tool.check(net, net.grad)
    if tool.name == "torch full":
        reference["torch full"] = ok.seconds
        reference["torch full per entry"] = ok.seconds / n
    cells.append(f"{ok.verdict}{' (false alarm)' if ok.flagged else ''}, {ok.seconds:.2f} s")
    full, rate = reference.get("torch full"), reference.get("torch full per entry")
    if tool.name == "torch full":
        cells.append("-")
    elif full:
        cells.append(f"{ok.seconds / full:.3g}")
    else:
        cells.append(f"{ok.seconds / (rate * n):.3g} (to the estimate)" if rate else "-")
    # Torch's full check costs 2 evaluations per entry (a minute at 1e5), and so does a fast check that flags:
    # their slips run at small sizes only.
    skip = "-" if isinstance(tool, TorchGradcheck) and tool.too_big(n, grid=True) else None
    if ok.flagged:
        skip = "n/a (flags the correct gradient)"
    if skip:
        cells += [skip] * 4
    else:
        for how in ("all", "largest", "median"):
            cells.append("-" if no_grid else smallest_flagged(tool, net, how, grid))
        where = _pick(net, "median")
        r = tool.check(net, _edit(net.grad, "median", 1e-6, where))
        got = _named(r, where)
        cells.append(f"{r.seconds:.2f} s, {'missed' if got is None else (got or 'flagged')}")
    return cells


def _loss_seconds(net: Any, dtype: type) -> float:
    """One evaluation of the loss alone at ``dtype`` (median of 5 runs of 100): what any checker pays per call."""
    p = {k: v.astype(dtype) for k, v in net.params.items()}
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(100):
            net.loss(p)
        runs.append((time.perf_counter() - t) / 100)
    return float(np.median(runs))


ENTRY_CHECKS = [("richardson", None), ("richardson", 2), ("central", None), ("complex", None), ("complex", 2)]


def entries_table(nets: list[str], full_max: int, repeat: int = 1) -> None:
    """Per-entry checks (check_grad mode='entries') at 1e4 entries beside torch's full gradcheck.

    Beside each time: the loss alone for that many evaluations (in one process), the floor any
    bookkeeping can come down to. torch's full check is two evaluations per entry. With
    ``repeat`` > 1 every row is the median over that many rounds, each round timing torch and
    every check afresh (wall times on a shared machine vary by a third from run to run).
    """
    torch_full = TorchGradcheck(False, full_max)
    print(f"\nper-entry checks at 1e4 entries (check_grad(mode='entries')), median of {repeat} round(s) (range of the "
          "ratio); 'loss alone' = evaluations x one evaluation of the loss (real, or complex for complex step), in one "
          "process:")
    print("| net | entries | check | verdict (evaluations) | time | / torch full | loss alone | / torch full |")
    print("|" + " --- |" * 8)
    for kind in nets:
        net = FACTORY[kind](SIZES[kind]["1e4"])
        n = sum(v.size for v in net.params.values())
        why = torch_full.missing()
        labels = ["torch full"] + [f"gradcheck {m}" + (f", workers={w}" if w else "") for m, w in ENTRY_CHECKS]
        runs: dict[str, list[tuple[str, float, float, float]]] = {k: [] for k in labels}  # verdict, s, ratio, alone
        for _ in range(repeat):
            real, cplx = _loss_seconds(net, float), _loss_seconds(net, complex)
            ref = None if why else torch_full.check(net, net.grad)
            if ref is not None:
                runs["torch full"].append((f"{ref.verdict} ({2 * n:,})", ref.seconds, 1.0, 2 * n * real))
            for label, (method, workers) in zip(labels[1:], ENTRY_CHECKS, strict=True):
                try:
                    r = Gradcheck(method, mode="entries", workers=workers).check(net, net.grad)
                except Exception as exc:  # complex step refused: the loss is not complex-analytic
                    runs[label].append((type(exc).__name__, math.nan, math.nan, math.nan))
                    continue
                evals = int(re.sub(r"[^0-9]", "", r.verdict.split("(")[1]))
                alone = evals * (cplx if method == "complex" else real)
                ratio = r.seconds / ref.seconds if ref is not None else math.nan
                runs[label].append((r.verdict, r.seconds, ratio, alone))
        for label in labels:
            rs = runs[label]
            if not rs:
                print(f"| {kind} | {n:,} | {label} | {why} | - | - | - | - |")
                continue
            if math.isnan(rs[0][1]):
                print(f"| {kind} | {n:,} | {label} | {rs[0][0]} | - | - | - | - |")
                continue
            t = float(np.median([x[1] for x in rs]))
            alone = float(np.median([x[3] for x in rs]))
            ref_t = float(np.median([x[1] for x in runs["torch full"]])) if runs["torch full"] else math.nan
            if math.isnan(ref_t):
                ratio_cell, alone_cell = "-", "-"
            elif label == "torch full":
                ratio_cell, alone_cell = "1", f"{alone / ref_t:.2f}"
            else:
                ratios = [x[2] for x in rs]
                ratio_cell = f"{float(np.median(ratios)):.2f}"
                if repeat > 1:
                    ratio_cell += f" ({min(ratios):.2f}-{max(ratios):.2f})"
                alone_cell = f"{alone / ref_t:.2f}"
            cells = [kind, f"{n:,}", label, rs[0][0], f"{t:.2f} s", ratio_cell, f"{alone:.2f} s", alone_cell]
            print("| " + " | ".join(cells) + " |", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1e3 and 1e4 only, coarse grid")
    ap.add_argument("--sizes", default=None, help="comma list of 1e3,1e4,1e5,1e6")
    ap.add_argument("--method", default="richardson", help="directional method (richardson, auto, ...)")
    ap.add_argument("--nets", default="mlp,relu,lsq")
    ap.add_argument("--tools", default="gradcheck,torch,torch-fast,jax", help="comma list; torch/jax where installed")
    ap.add_argument("--torch-full-max", type=float, default=2e5, help="largest size torch's full check runs at")
    ap.add_argument("--torch-grid-max", type=float, default=2e4, help="largest size torch runs slips at (both modes)")
    ap.add_argument("--entries", action="store_true", help="also the per-entry table at 1e4 entries")
    ap.add_argument("--only-entries", action="store_true", help="only the per-entry table")
    ap.add_argument("--repeat", type=int, default=1, help="rounds of the per-entry table (medians are printed)")
    ap.add_argument("--no-header", action="store_true", help="rows only (to append to an earlier run)")
    ap.add_argument("--no-grid", action="store_true", help="timings and the median 1e-6 only")
    args = ap.parse_args(argv)
    nets = args.nets.split(",")
    full_max = int(args.torch_full_max)
    if args.only_entries:
        entries_table(nets, full_max, args.repeat)
        return
    sizes = args.sizes.split(",") if args.sizes else (["1e3", "1e4"] if args.quick else ["1e3", "1e4", "1e5", "1e6"])
    # Entries are judged against 1e-7 of themselves plus 10 error estimates: 1e-7 itself is never flagged.
    # The grid starts at 1e-1 for the other tools' fixed tolerances (torch: atol 1e-5 + rtol 1e-3).
    grid = [1e-1, 1e-3, 1e-4, 1e-6, 2e-7] if args.quick else [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 5e-7, 2e-7, 1.2e-7]
    coarse = [1e-1, 1e-3, 1e-4, 1e-6, 2e-7]
    tools = _tools(args.tools.split(","), args.method, full_max, int(args.torch_grid_max))
    if not args.no_header:
        print(
            f"method={args.method}; error grid {', '.join(f'{d:.2g}' for d in grid)} ({', '.join(map(str, coarse))} "
            f"above 5e5 entries); BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}; a slip counts for gradcheck only "
            "with its entry named"
        )
        print(
            "| net | entries | tool | correct gradient: verdict, time | time / torch full | every entry x(1+d) | "
            "largest entry | median entry | median 1e-6: time, named |"
        )
        print("|" + " --- |" * 9)
    rates: dict[str, dict] = {}
    for kind in nets:
        for size in sizes:
            if size not in SIZES[kind]:
                continue
            net = FACTORY[kind](SIZES[kind][size])
            n = sum(v.size for v in net.params.values())
            reference = rates.setdefault(kind, {})  # torch full's rate per entry carries to the next size
            reference.pop("torch full", None)
            # torch full first: the others' ratios are to its time
            for tool in sorted(tools, key=lambda t: t.name != "torch full"):
                cells = _row(tool, kind, net, coarse if n > 500_000 else grid, args.no_grid, reference)
                print("| " + " | ".join(cells) + " |", flush=True)
    if args.entries:
        entries_table(nets, full_max, args.repeat)


if __name__ == "__main__":
    main()
