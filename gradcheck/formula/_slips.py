"""Naming the slip behind a wrong claim, at formula level, from the size that tells most.

Each family below rewrites the problem the way a person slips (a factor held constant in a
product or quotient rule, a transpose missing in one occurrence, operands swapped, the wrong
axis, the other vec order or layout, a symmetric convention, a formula that holds only for a
symmetric matrix) and asks the core whether the claim then agrees with finite differences, at
the telling point and with the core's per-entry tolerance. A slip is named only when the
rewritten problem passes there and the claim as written did not: evidence, not a guess. A
1x1 size never names one (every wrong gradient is a multiple of the right one there).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..core._errors import FormulaError, GradcheckError
from ._eval import Env, NumpyBackend, evaluate
from ._parse import Binary, Call, Name, Node, Num, Transpose
from ._points import draw_point
from ._spec import Spec, infer_shapes
from ._witness import Compiled

__all__ = ["explain", "rewrite", "walk"]

MAX_PROBES = 40
"""Rewritten problems tried per wrong parameter: each is one finite-difference check at the
telling size (a few milliseconds at the sizes drawn)."""
MAX_ENTRIES = 400
"""Parameter entries above which no slip is probed (each probe is a full check)."""
FROZEN = "frozen_"
"""Prefix of the names standing for a factor held constant (the parser admits no such name in
a formula only because it is never typed: the value is supplied directly)."""


def rewrite(node: Node, fn: Any) -> Node:
    """``fn(node)`` returns a replacement or None; children are rewritten first."""
    changes = {}
    for f in dataclasses.fields(node):
        v = getattr(node, f.name)
        if isinstance(v, Node):
            changes[f.name] = rewrite(v, fn)
        elif isinstance(v, tuple) and v and all(isinstance(i, Node) for i in v):
            changes[f.name] = tuple(rewrite(i, fn) for i in v)
        elif isinstance(v, tuple) and v and all(isinstance(i, tuple) and len(i) == 2 and isinstance(i[1], Node)
                                                 for i in v):
            changes[f.name] = tuple((k, rewrite(i, fn)) for k, i in v)
    new = dataclasses.replace(node, **changes) if changes else node
    out = fn(new)
    return new if out is None else out


def _walk(node: Node) -> Iterator[tuple[Node, Node | None]]:
    """Every node with its parent, parents first."""
    stack: list[tuple[Node, Node | None]] = [(node, None)]
    while stack:
        n, parent = stack.pop()
        yield n, parent
        kids: list[Node] = []
        for f in dataclasses.fields(n):
            v = getattr(n, f.name)
            if isinstance(v, Node):
                kids.append(v)
            elif isinstance(v, tuple):
                kids += [i for i in v if isinstance(i, Node)]
                kids += [i[1] for i in v if isinstance(i, tuple) and len(i) == 2 and isinstance(i[1], Node)]
        stack.extend((k, n) for k in reversed(kids))


def walk(node: Node) -> Iterator[Node]:
    """Every node of a tree, parents first."""
    return (n for n, _ in _walk(node))


def _text(node: Node) -> str:
    """A node's text for a message, bracketed where an operator would bind it differently."""
    s = node.src
    return s if isinstance(node, (Name, Call, Num, Transpose)) or s.startswith("(") else f"({s})"


class Probe:
    """The telling point, and checks of rewritten problems there."""

    def __init__(self, spec: Spec, tell: Any, scalar: bool) -> None:
        self.spec, self.scalar = spec, scalar
        self.dims = dict(tell.sizes)
        self.shapes = spec.concrete(self.dims)
        point = dict(tell.point)
        if not point:  # a shape error: no point was drawn there
            point = draw_point(spec, self.shapes, np.random.default_rng(tell.seed))
        self.point = point
        self.probes = 0

    def env(self, extra: Mapping[str, Any] | None = None, spec: Spec | None = None) -> Env:
        s = spec or self.spec
        return Env({**self.point, **(extra or {})}, s.defs, self.dims)

    def value(self, node: Node, spec: Spec | None = None) -> np.ndarray | None:
        try:
            with np.errstate(all="ignore"):
                return np.asarray(evaluate(node, self.env(spec=spec), NumpyBackend()))
        except (FormulaError, ValueError, np.linalg.LinAlgError):
            return None

    def passes(self, name: str, spec: Spec, *, extra: Mapping[str, Any] | None = None,
               point: Mapping[str, np.ndarray] | None = None, structure: Mapping[str, str] | None = None) -> bool:
        """Whether the claim for ``name`` agrees with finite differences for the problem ``spec``."""
        from .. import check_grad, check_jacobian

        if self.probes >= MAX_PROBES:
            return False
        self.probes += 1
        pt = dict(point or self.point)
        if not extra:
            try:
                infer_shapes(spec, self.dims)  # a rewritten claim that does not fit is no explanation
            except FormulaError:
                return False
        data = {k: v for k, v in pt.items() if k not in spec.grads}
        data.update(extra or {})
        comp = Compiled(spec, self.dims, data, self.scalar)
        params = {k: pt[k] for k in spec.grads}
        try:
            if self.scalar:
                # finite differences alone: a probe only names a slip when they pass outright
                result = check_grad(comp.loss, comp.grads, params, structure=structure or None, mode="entries",
                                    oracle="fd")
            else:
                result = check_jacobian(comp.loss, comp.grads, params, layout=spec.layout, order=spec.order,
                                        oracle="fd")
        except (GradcheckError, FormulaError, ValueError, np.linalg.LinAlgError):
            return False
        p = result.params.get(name)
        return p is not None and p.verdict == "pass"


def explain(spec: Spec, runs: Sequence[Any], tell: Any, scalar: bool) -> list[str]:
    """One formula-level hint per wrong parameter where a slip explains the disagreement."""
    if tell is None:
        return []
    if tell.sizes and all(v == 1 for v in tell.sizes.values()):
        return []
    if sum(int(np.prod(s)) for s in spec.concrete(tell.sizes).values()) > MAX_ENTRIES * 4:
        return []
    if tell.status == "mismatch" and tell.result is not None:
        wrong = [q.name for q in tell.result.failures]
    elif tell.status == "shape":
        wrong = list(spec.grads)
    else:
        return []
    probe = Probe(spec, tell, scalar)
    hints = []
    for name in wrong:
        for family in (_dropped_terms, _claim_rewrites, _conventions, _vec_order, _symmetric_data):
            try:
                hint = family(probe, name)
            except (FormulaError, GradcheckError, ValueError, np.linalg.LinAlgError):
                hint = None
            if hint:
                hints.append(f"{name}: {hint}")
                break
    return hints


# --------------------------------------------------------------------------- families
def _conventions(probe: Probe, name: str) -> str | None:
    """A square parameter's gradient in a symmetric convention, whatever the point's symmetry:
    probed at the point made symmetric, with the core's structure of each convention."""
    spec = probe.spec
    shape = probe.shapes[name]
    if not probe.scalar or len(shape) != 2 or shape[0] != shape[1] or shape[0] < 2:
        return None
    if spec.structure.get(name) in ("symmetric-entries", "lower", "upper", "diagonal"):
        return None
    declared = spec.structure.get(name)
    x = np.asarray(probe.point[name], dtype=float)
    point = {**probe.point, name: (x + x.T) / 2}
    meaning = {
        "symmetric-entries": "the Matrix Cookbook's G + G^T - diag(G): the derivative with respect to the distinct "
                             "entries of a symmetric",
        "symmetric": "(G + G^T)/2: the gradient for symmetric perturbations of a symmetric",
    }
    for kind in ("symmetric-entries", "symmetric"):
        if declared in ("symmetric", "spd") and kind == "symmetric":
            continue
        if probe.passes(name, spec, point=point, structure={name: kind}):
            return (f"a symmetric convention: the claim is {meaning[kind]} {name} ({kind!r}); declare it with "
                    f"--structure {name}={kind} (structure={{{name!r}: {kind!r}}}) if {name} is symmetric")
    return None


def _depends(node: Node, name: str, spec: Spec, seen: frozenset[str] = frozenset()) -> bool:
    from ._parse import free_names

    for n in free_names(node):
        if n == name:
            return True
        if n in spec.defs and n not in seen and _depends(spec.defs[n], name, spec, seen | {n}):
            return True
    return False


def _dropped_terms(probe: Probe, name: str) -> str | None:
    """A product or quotient rule with a term missing: the claim is the derivative of the loss with
    one factor (or one occurrence of the parameter) held at its value."""
    spec = probe.spec
    trees = [("loss", spec.loss)] + [(k, v) for k, v in spec.defs.items() if _depends(v, name, spec)]
    candidates: list[tuple[str, Node, str]] = []
    for where, tree in trees:
        occurrences = [n for n, _ in _walk(tree) if isinstance(n, Name) and _depends(n, name, spec)]
        for n, _parent in _walk(tree):
            if isinstance(n, Binary) and n.op in ("*", "/", "@") and _depends(n.left, name, spec) \
                    and _depends(n.right, name, spec):
                rule = "quotient" if n.op == "/" else "product"
                candidates.append((where, n.right, f"the {rule} rule's term from differentiating "
                                   + ("the denominator " if n.op == "/" else "the factor ")
                                   + f"`{n.right.src}` of `{n.src}`"))
                candidates.append((where, n.left, f"the {rule} rule's term from differentiating "
                                   + ("the numerator " if n.op == "/" else "the factor ")
                                   + f"`{n.left.src}` of `{n.src}`"))
        if len(occurrences) >= 2:
            for occ in occurrences:
                candidates.append((where, occ, f"the term from the occurrence of {occ.id} at column {occ.col}"
                                   + ("" if where == "loss" else f" of the definition {where}")))
    seen = set()
    for i, (where, node, what) in enumerate(candidates):
        key = (where, node.col, node.src)
        if key in seen:
            continue
        seen.add(key)
        frozen = probe.value(node)
        if frozen is None:
            continue
        token = Name(node.col, node.src, f"{FROZEN}{i}")
        tree = spec.loss if where == "loss" else spec.defs[where]
        new = rewrite(tree, lambda n, node=node, token=token: token if n == node else None)
        changed = dataclasses.replace(spec, loss=new) if where == "loss" else \
            dataclasses.replace(spec, defs={**spec.defs, where: new})
        if probe.passes(name, changed, extra={token.id: frozen}):
            return (f"a dropped term: the claim is the derivative with `{node.src}` held constant"
                    f"{'' if where == 'loss' else f' in {where} = {spec.defs_text[where]}'}; {what} is missing")
    return None


def _claim_rewrites(probe: Probe, name: str) -> str | None:
    """One slip undone in the claim: a transpose missing or extra in one occurrence, the operands
    of one product swapped, a Kronecker product's factors swapped, the wrong axis."""
    spec = probe.spec
    claim = spec.grads[name]
    for what, variant in _variants(claim, probe):
        changed = dataclasses.replace(spec, grads={**spec.grads, name: variant})
        if probe.passes(name, changed):
            return what
    return None


def _variants(claim: Node, probe: Probe) -> Iterator[tuple[str, Node]]:
    nodes = [n for n, _ in _walk(claim)]
    # transposes: an occurrence missing its .T (square, so that both shapes fit), or one too many
    for n in reversed(nodes):  # leaves first: the smallest change that explains it
        if isinstance(n, Transpose):
            yield (f"transposed: the claim agrees with finite differences with {n.operand.src} in place of {n.src}",
                   rewrite(claim, lambda m, n=n: m.operand if m == n else None))
            continue
        if isinstance(n, Num):
            continue
        if isinstance(n, Name) and n.id in probe.shapes:  # a rectangle or a column too: the claim may then fit
            shape = probe.shapes[n.id]
            if len(shape) != 2 or max(shape) < 2:
                continue
        else:
            v = probe.value(n)
            if v is None or v.ndim != 2 or max(v.shape) < 2:
                continue
        t = Transpose(n.col, f"{_text(n)}.T", n)
        at = f" at column {n.col}" if isinstance(n, Name) else ""
        yield (f"transposed: the claim agrees with finite differences with {t.src} in place of {n.src}{at}",
               rewrite(claim, lambda m, n=n, t=t: t if m == n else None))
    # one square name transposed at every occurrence (inv(X) for inv(X).T twice is X for X.T)
    for name in dict.fromkeys(n.id for n in nodes if isinstance(n, Name)):
        shape = probe.shapes.get(name, ())
        if len(shape) == 2 and shape[0] == shape[1] > 1 and sum(isinstance(n, Name) and n.id == name
                                                                 for n in nodes) > 1:
            yield (f"transposed: the claim agrees with finite differences with {name}.T in place of {name} at every "
                   "occurrence", rewrite(claim, lambda m, name=name: Transpose(m.col, f"{name}.T", m)
                                         if isinstance(m, Name) and m.id == name else None))
    for n in nodes:
        if isinstance(n, Binary) and n.op == "@":
            s = Binary(n.col, f"{_text(n.right)}@{_text(n.left)}", "@", n.right, n.left)
            yield (f"operands in the wrong order: the claim agrees with finite differences with {s.src} in place "
                   f"of {n.src}", rewrite(claim, lambda m, n=n, s=s: s if m == n else None))
        if isinstance(n, Call) and n.func == "kron":
            a, b = n.args
            s = Call(n.col, f"kron({b.src}, {a.src})", "kron", (b, a), ())
            yield (f"the vec order: the claim agrees with finite differences with {s.src} in place of {n.src} "
                   "(the Kronecker factors of the other vec order)",
                   rewrite(claim, lambda m, n=n, s=s: s if m == n else None))
        if isinstance(n, Call) and n.func in ("softmax", "sum", "mean", "logsumexp", "norm", "max", "min"):
            v = probe.value(n.args[0])
            if v is None or v.ndim < 2:
                continue
            axis = n.kw("axis")
            current = axis.value if isinstance(axis, Num) else None
            others = [k for k in range(v.ndim) if k != current] + ([None] if current is not None else [])
            for k in others:
                rest = tuple((key, val) for key, val in n.kwargs if key != "axis")
                kw = rest if k is None else ((("axis", Num(n.col, str(k), k)),) + rest)
                args_text = ", ".join([n.args[0].src] + [f"{key}={val.src}" for key, val in kw])
                s = Call(n.col, f"{n.func}({args_text})", n.func, n.args, kw)
                yield (f"the wrong axis: the claim agrees with finite differences with {s.src} in place of {n.src}",
                       rewrite(claim, lambda m, n=n, s=s: s if m == n else None))


def _vec_order(probe: Probe, name: str) -> str | None:
    """A Jacobian written for the other vec order, or in the other layout."""
    spec = probe.spec
    if probe.scalar:
        return None
    if spec.order is not None:
        other = "C" if spec.order == "F" else "F"
        if probe.passes(name, dataclasses.replace(spec, order=other)):
            words = {"C": "row-major", "F": "column-major"}
            return (f"the vec order: the claim is the Jacobian with respect to vec taken in {other} order "
                    f"({words[other]}), not {spec.order} ({words[spec.order]}); with --order {spec.order} the "
                    f"factors of a Kronecker product swap")
    other_layout = "denominator" if spec.layout == "numerator" else "numerator"
    if probe.passes(name, dataclasses.replace(spec, layout=other_layout)):
        return f"the layout: the claim is the Jacobian in {other_layout} layout (--layout {other_layout})"
    return None


def _symmetric_data(probe: Probe, name: str) -> str | None:
    """A formula that holds only for a symmetric matrix (``2 A x`` for ``x^T A x``)."""
    spec = probe.spec
    for k, shape in probe.shapes.items():
        if k in spec.grads or k in spec.values or len(shape) != 2 or shape[0] != shape[1] or shape[0] < 2:
            continue
        if spec.structure.get(k) in ("symmetric", "spd"):
            continue
        x = np.asarray(probe.point[k], dtype=float)
        if probe.passes(name, spec, point={**probe.point, k: (x + x.T) / 2}):
            return (f"holds only for a symmetric {k}: the claim agrees with finite differences where {k} is "
                    f"symmetric, not for a general {k} (declare --symmetric {k} if it is; else {k} and {k}.T "
                    f"both belong, e.g. ({k} + {k}.T) in place of 2*{k})")
    return None
