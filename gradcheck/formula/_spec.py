"""A formula problem as typed: the loss, claimed derivatives, definitions, shapes, structure, values.

:func:`make_spec` validates everything at the boundary (every error a
:class:`~gradcheck.FormulaError` naming the option and the name), parses each formula once,
and checks every shape rule at every drawn size before any number is computed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core._errors import FormulaError
from ._eval import MAX_ELEMENTS, Env, ShapeBackend, evaluate
from ._parse import Node, free_names, parse

__all__ = ["STRUCTURES", "MATRIX_STRUCTURES", "CORE_STRUCTURE", "LAYOUTS", "Spec", "make_spec", "parse_shape", "Dim"]

STRUCTURES = ("spd", "symmetric", "symmetric-entries", "lower", "upper", "diagonal", "positive", "onehot", "sign",
              "unit", "labels")
"""How a name's values are drawn and, for a parameter, which derivative its claim is.
``spd``: symmetric positive definite, eigenvalues in [0.5, 2]; ``symmetric``;
``symmetric-entries``; ``lower``/``upper``: triangular, diagonal in [0.5, 2]; ``diagonal``;
``positive``: entries in [0.5, 2] (for log, sqrt); ``onehot``: one 1 per row (class labels,
rows are samples; a column (k, 1) holds one 1); ``sign``: entries +-1 (labels of a logistic loss); ``unit``: entries in
(0, 1) (targets of a sigmoid); ``labels``: integer class labels (for ``pick``; taken modulo the number
of classes), held as numbers by the element-wise oracle too. A parameter declared ``symmetric`` (or ``spd``),
``symmetric-entries``, ``lower``, ``upper`` or ``diagonal`` moves only along that structure
and its claim is compared under the core's convention of that name
(:data:`gradcheck.STRUCTURES`): ``symmetric`` is ``(G + G^T)/2``, ``symmetric-entries`` the
Matrix Cookbook's ``G + G^T - diag(G)``, a triangle or diagonal only where it is free."""

MATRIX_STRUCTURES = frozenset({"spd", "symmetric", "symmetric-entries", "lower", "upper", "diagonal"})
"""Structures of square matrices."""
CORE_STRUCTURE = {"spd": "symmetric", "symmetric": "symmetric", "symmetric-entries": "symmetric-entries",
                  "lower": "lower", "upper": "upper", "diagonal": "diagonal"}
"""The core's ``structure=`` kind a parameter of each structure is checked under."""

LAYOUTS = ("numerator", "denominator")
Dim = int | str
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def parse_shape(name: str, value: Any) -> tuple[Dim, ...]:
    """``"4,3"`` -> (4, 3); ``"m,n"`` -> ("m", "n"); ``""``/``"()"``/``"scalar"`` -> (); lists too."""
    if isinstance(value, str):
        text = value.strip().strip("()[]").strip()
        if text in ("", "scalar"):
            return ()
        parts: Sequence[Any] = [p.strip() for p in text.split(",") if p.strip()]
    elif isinstance(value, int) and not isinstance(value, bool):
        parts = [value]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        raise FormulaError(f"shape of {name!r}: expected e.g. '4,3', 'm,n' or [4, 3], got {value!r}")
    dims: list[Dim] = []
    for p in parts:
        if isinstance(p, bool):
            raise FormulaError(f"shape of {name!r}: {p!r} is not a size")
        if isinstance(p, int) or (isinstance(p, str) and p.isdigit()):
            n = int(p)
            if not 1 <= n <= MAX_ELEMENTS:
                raise FormulaError(f"shape of {name!r}: size {n} must be between 1 and {MAX_ELEMENTS:,}")
            dims.append(n)
        elif isinstance(p, str) and _IDENT.match(p):
            dims.append(p)
        else:
            raise FormulaError(f"shape of {name!r}: {p!r} is neither a size nor a dimension name")
    if len(dims) > 4:
        raise FormulaError(f"shape of {name!r}: at most 4 dimensions, got {len(dims)}")
    fixed = int(np.prod([d for d in dims if isinstance(d, int)], dtype=object)) if dims else 1
    if fixed > MAX_ELEMENTS:
        raise FormulaError(
            f"shape of {name!r}: {tuple(dims)} has {fixed:.3g} entries; at most {MAX_ELEMENTS:,} are allowed"
        )
    return tuple(dims)


@dataclass(frozen=True)
class Spec:
    """Everything a verification needs, validated; shapes may name dimensions (``m``, ``n``)."""

    loss_text: str
    loss: Node
    grads_text: Mapping[str, str]
    grads: Mapping[str, Node]
    defs_text: Mapping[str, str]
    defs: Mapping[str, Node]
    shapes: Mapping[str, tuple[Dim, ...]]
    structure: Mapping[str, str]
    values: Mapping[str, np.ndarray]
    layout: str
    order: str | None
    dim_names: tuple[str, ...] = field(default=())

    def concrete(self, dims: Mapping[str, int]) -> dict[str, tuple[int, ...]]:
        return {k: tuple(dims[d] if isinstance(d, str) else d for d in s) for k, s in self.shapes.items()}

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(self.grads)

    @property
    def data(self) -> tuple[str, ...]:
        return tuple(k for k in self.shapes if k not in self.grads)


def _parse_named(kind: str, name: str, text: Any) -> Node:
    if not isinstance(text, str):
        raise FormulaError(f"{kind} {name!r}: expected a formula as a string, got {type(text).__name__}")
    try:
        return parse(text)
    except FormulaError as exc:
        label = kind if kind == name else f"{kind} {name!r}"
        raise FormulaError(f"{label}: {exc.reason}", text=exc.text, piece=exc.piece, column=exc.column) from None


def make_spec(
    *,
    loss: str,
    grads: Mapping[str, str],
    shapes: Mapping[str, Any] | None = None,
    defs: Mapping[str, str] | None = None,
    structure: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    layout: str = "numerator",
    order: str | None = None,
) -> Spec:
    """Parse and validate; see :func:`gradcheck.formula.verify` for the meaning of each argument."""
    if not isinstance(grads, Mapping) or not grads:
        raise FormulaError("grads: give at least one claimed derivative, e.g. grads={'x': '2*A.T@(A@x - b)'}")
    if layout not in LAYOUTS:
        raise FormulaError(f"layout={layout!r}: expected 'numerator' or 'denominator'")
    if order not in (None, "C", "F"):
        raise FormulaError(f"order={order!r}: expected None, 'C' (row-major vec) or 'F' (column-major vec)")
    loss_node = _parse_named("loss", "loss", loss)
    grad_nodes = {k: _parse_named("gradient", k, v) for k, v in grads.items()}
    defs = dict(defs or {})
    def_nodes = {k: _parse_named("definition", k, v) for k, v in defs.items()}
    vals = {k: _as_array(k, v) for k, v in (values or {}).items()}
    shp = {k: parse_shape(k, v) for k, v in (shapes or {}).items()}
    for k, v in vals.items():
        if k in shp and any(isinstance(d, int) for d in shp[k]) and shp[k] != v.shape:
            raise FormulaError(f"value of {k!r} has shape {v.shape} but its shape is given as {shp[k]}")
        shp.setdefault(k, v.shape)
    struct = dict(structure or {})
    for k, s in struct.items():
        if s not in STRUCTURES:
            raise FormulaError(f"structure of {k!r}: {s!r} is not one of {', '.join(STRUCTURES)}")
    for k in list(grads) + list(defs) + list(shp) + list(struct):
        if not _IDENT.match(k) or k.startswith("_"):
            raise FormulaError(f"{k!r} is not a usable name (letters, digits and _, starting with a letter)")
    clash = set(defs) & set(shp)
    if clash:
        raise FormulaError(f"{sorted(clash)} have both a definition and a shape: a name is either data or defined")
    dim_names = tuple(dict.fromkeys(d for s in shp.values() for d in s if isinstance(d, str)))
    clash = set(dim_names) & (set(shp) | set(defs))
    if clash:
        raise FormulaError(f"{sorted(clash)} are used as dimension names and as arrays")
    missing = [k for k in grads if k not in shp]
    if missing:
        raise FormulaError(f"no shape for {missing}: give --shape {missing[0]}=... (e.g. 3,1) or a value")
    for k in struct:
        if k not in shp:
            raise FormulaError(f"structure given for {k!r}, which has no shape")
        if struct[k] in MATRIX_STRUCTURES and (len(shp[k]) != 2 or shp[k][0] != shp[k][1]):
            raise FormulaError(f"{k!r} is declared {struct[k]} but its shape {shp[k]} is not square")
    known = set(shp) | set(defs) | set(dim_names)
    for what, node in [
        ("loss", loss_node),
        *[(f"gradient {k!r}", n) for k, n in grad_nodes.items()],
        *[(f"definition {k!r}", n) for k, n in def_nodes.items()],
    ]:
        unknown = [n for n in free_names(node) if n not in known]
        if unknown:
            raise FormulaError(
                f"{what} uses {unknown[0]!r}, which has no shape, value or definition "
                f"(give --shape {unknown[0]}=... or --value {unknown[0]}=...)"
            )
    return Spec(
        loss_text=loss,
        loss=loss_node,
        grads_text=dict(grads),
        grads=grad_nodes,
        defs_text=defs,
        defs=def_nodes,
        shapes=shp,
        structure=struct,
        values=vals,
        layout=layout,
        order=order,
        dim_names=dim_names,
    )


def _as_array(name: str, v: Any) -> np.ndarray:
    try:
        a = np.array(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise FormulaError(f"value of {name!r}: expected numbers (nested lists), got {v!r}"[:200]) from None
    if a.size > MAX_ELEMENTS or not np.all(np.isfinite(a)):
        raise FormulaError(f"value of {name!r}: must be finite, with at most {MAX_ELEMENTS:,} entries")
    return a


def infer_shapes(
    spec: Spec, dims: Mapping[str, int], text_of: Mapping[str, str] | None = None
) -> dict[str, tuple[int, ...]]:
    """Shape of the loss and of every claimed derivative at ``dims`` (raises on any shape error)."""
    shapes = spec.concrete(dims)
    env = Env(shapes, spec.defs, dims, text=spec.loss_text)
    for name, node in spec.defs.items():  # a definition's error points into its own text
        if name not in env.values:
            env.text = spec.defs_text[name]
            env.values[name] = evaluate(node, env, ShapeBackend())
    out = {}
    env.text = spec.loss_text
    out["loss"] = evaluate(spec.loss, env, ShapeBackend())
    for k, node in spec.grads.items():
        env.text = spec.grads_text[k]
        out[k] = evaluate(node, env, ShapeBackend())
    return out
