"""Broken twins of correct gradients: the mistakes people make, applied on purpose.

A checker is only as good as the wrong gradients it rejects. This module derives, from
any correct gradient or Jacobian, the slips seen in hand derivations (transposed, off by
2 or 1/2, sign flipped, off by a relative 1e-6, one entry wrong, a row or column lost,
the ReLU mask of the wrong tensor, the other reshape order, a Jacobian in the other layout,
a factor of twice the loss, an upper triangle lost, the other symmetric-matrix convention)
and says for each one
whether, and by how much, it really changes the derivative at the point, so a test can
assert "every mutant that changes the gradient is flagged" without false expectations
(transposing a symmetric gradient, or zeroing a row that is already 0, changes nothing).

Mutations act on a derivative array ``D`` of shape ``lead + param_shape``: ``lead`` is
``()`` for a gradient and the output shape for a numerator-layout Jacobian; a mutation
touches only the parameter axes, output row by output row where it picks entries.

The ReLU-mask mutation is *emulated*: no registered derivation exposes its masks, so
``relu_mask`` multiplies the derivative by a different 0/1 mask over the last axis
(the units of a ``(fan_in, units)`` weight or a ``(units,)`` bias), i.e. it zeroes the
entries where the wrong mask is 0 and the right one was not. That is what a mask taken
from a tensor with a different sign pattern does to the units it disagrees on; the
additive part of the real slip (units wrongly let through) is not emulated.

Some mistakes depend on more than the derivative: a :class:`Site` carries what they may
read (the output shape, the loss's value at the point, the parameter's structure), and
:meth:`Mutation.applies` says where each can be made. ``point_factor`` needs the loss value
(gradients only), ``layout_swap`` a Jacobian whose output has the parameter's shape, and
``symmetric_convention`` a parameter checked with ``structure="symmetric"`` or
``"symmetric-entries"`` (a derivation declares it with the tag ``"structure:S=symmetric"``).

:data:`TINY_MUTATIONS` are slips of relative size about 1e-8 (below :data:`MATERIAL`, so not
in :data:`MUTATIONS`): what a stray epsilon, a rounded constant or a float32 intermediate does.

Example::

    from gradcheck import mutations, registry
    d = registry.get("least_squares.A")
    bound = mutations.bind(d, d.problem(seed=1))
    for twin in mutations.broken_twins(bound, seed=1):
        if twin.mutant.changes:
            assert not bound.check(twin.derivative).ok
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .core._errors import InvalidArgumentError
from .core._layout import to_numerator
from .core._status import Status
from .core._structure import Structure, structure_from_tags
from .registry import Derivation, Problem

__all__ = [
    "MATERIAL",
    "TINY",
    "DETECT_FACTOR",
    "Site",
    "Mutation",
    "MUTATIONS",
    "TINY_MUTATIONS",
    "mutation_names",
    "Mutant",
    "mutate",
    "Bound",
    "bind",
    "Twin",
    "broken_twins",
]

MATERIAL = 1e-6
"""A mutant *changes* the derivative when some entry moves by at least this fraction of
the derivative's scale (the largest magnitude in that output row): the size of error the
default verdict promises to catch in float64."""

TINY = 1e-8
"""The size of the slips in :data:`TINY_MUTATIONS`: a relative 1e-8, what float64 finite
differences can resolve on a well-scaled loss but a fixed 1e-7 tolerance floor hides."""

DETECT_FACTOR = 3.0
"""A mutant is *detectable* at a point when some smooth entry moves by more than this
many tolerances of the correct derivative's check: the correct value sits within one
tolerance of the oracle, and a mutant's own tolerance is at most twice as large (its
scale can double), so such a move always lands outside."""

@dataclass(frozen=True)
class Site:
    """Where a mistake is made: one parameter's block of a derivative, and what a mistake
    may depend on besides its values."""

    param_shape: tuple[int, ...]
    out_shape: tuple[int, ...] = ()
    """``()`` for a gradient; the function's output shape for a Jacobian."""
    relu: bool = False
    """The model has ReLU masks."""
    loss_value: float | None = None
    """The loss at the point (gradients only): a factor that depends on the point needs it."""
    structure: str | None = None
    """The parameter's ``structure=`` in the check (``"symmetric"``, ``"symmetric-entries"`` ...)."""


Op = Callable[[np.ndarray, Site, np.random.Generator], np.ndarray]
Applies = Callable[[Site], bool]


# --------------------------------------------------------------------------- the mutations
@dataclass(frozen=True)
class Mutation:
    """One kind of mistake. ``op(D, site, rng)`` returns a new array (``D`` untouched)."""

    name: str
    description: str
    op: Op = field(repr=False)
    applies_to: Applies = field(repr=False)

    def applies(self, param_shape: tuple[int, ...], *, relu: bool = False, out_shape: tuple[int, ...] = (),
                loss_value: float | None = None, structure: str | None = None) -> bool:
        """Whether this mistake can be made on a parameter of this shape, in this setting
        (``relu``: the model has ReLU masks; ``out_shape``: a Jacobian's output shape;
        ``loss_value``: the loss at the point; ``structure``: the parameter's structure)."""
        return self.applies_at(Site(tuple(param_shape), tuple(out_shape), relu, loss_value, structure))

    def applies_at(self, site: Site) -> bool:
        return bool(self.applies_to(site))


def _rows(D: np.ndarray, pshape: tuple[int, ...]) -> np.ndarray:
    """A copy of ``D`` as ``(n_out, *param_shape)``: one row per output entry."""
    return np.array(D, dtype=np.float64).reshape((-1,) + pshape)


def _scale(rows: np.ndarray) -> np.ndarray:
    return np.abs(rows.reshape(rows.shape[0], -1)).max(axis=1)


def _scaled(c: float) -> Op:
    return lambda D, site, rng: np.asarray(D, dtype=np.float64) * c


def _transpose(D: np.ndarray, site: Site, rng: np.random.Generator) -> np.ndarray:
    return np.swapaxes(np.array(D, dtype=np.float64), -1, -2)


def _perturb(fraction: float) -> Op:
    def op(D: np.ndarray, site: Site, rng: np.random.Generator) -> np.ndarray:
        pshape = site.param_shape
        rows = _rows(D, pshape)
        scale = _scale(rows)
        live = np.flatnonzero(scale > 0)
        r = int(rng.choice(live)) if live.size else int(rng.integers(rows.shape[0]))
        flat = rows[r].reshape(-1)
        i = int(rng.integers(flat.size))
        # A whole-zero derivative has no scale: move the entry by the fraction of 1.
        flat[i] += fraction * (scale[r] if scale[r] > 0 else 1.0)
        rows[r] = flat.reshape(pshape)
        return rows.reshape(np.shape(D))
    return op


def _zero_along(axis: int) -> Op:
    def op(D: np.ndarray, site: Site, rng: np.random.Generator) -> np.ndarray:
        pshape = site.param_shape
        rows = _rows(D, pshape)
        ax = 1 + (axis % len(pshape))
        k = int(rng.integers(pshape[ax - 1]))
        index: list[Any] = [slice(None)] * rows.ndim
        index[ax] = k
        rows[tuple(index)] = 0.0
        return rows.reshape(np.shape(D))
    return op


def _relu_mask(D: np.ndarray, site: Site, rng: np.random.Generator) -> np.ndarray:
    rows = _rows(D, site.param_shape)
    units = site.param_shape[-1]
    mask = rng.random(units) < 0.5
    if mask.all():
        mask[int(rng.integers(units))] = False
    return (rows * mask).reshape(np.shape(D))


def _reshape_order(D: np.ndarray, site: Site, rng: np.random.Generator) -> np.ndarray:
    pshape = site.param_shape
    rows = _rows(D, pshape)
    swapped = np.stack([r.reshape(-1, order="C").reshape(pshape, order="F") for r in rows])
    return swapped.reshape(np.shape(D))


def _layout_swap(D: np.ndarray, site: Site, rng: np.random.Generator) -> np.ndarray:
    """The Jacobian returned as ``x.shape + out.shape`` (denominator layout), which has the same shape here."""
    n_out = len(site.out_shape)
    D = np.array(D, dtype=np.float64)
    k = D.ndim - n_out
    return np.moveaxis(D, list(range(n_out, n_out + k)), list(range(k)))


def _point_factor(D: np.ndarray, site: Site, rng: np.random.Generator) -> np.ndarray:
    """d||r||^2 = 2 ||r|| d||r||: the gradient of the squared norm given for the norm's is 2 f(x) times too big."""
    assert site.loss_value is not None  # applies() requires it
    return np.asarray(D, dtype=np.float64) * (2.0 * site.loss_value)


def _upper_zeros(D: np.ndarray, site: Site, rng: np.random.Generator) -> np.ndarray:
    """What a loss reading only the lower triangle (cholesky, eigh, tril) gives: 0 above the diagonal."""
    rows = _rows(D, site.param_shape)
    rows[:, np.triu(np.ones(site.param_shape, dtype=bool), 1)] = 0.0
    return rows.reshape(np.shape(D))


def _symmetric_convention(D: np.ndarray, site: Site, rng: np.random.Generator) -> np.ndarray:
    """The gradient rewritten in the other symmetric-matrix convention.

    ``"symmetric"`` (``(G + G^T)/2``) becomes ``G + G^T - diag(G)`` (the distinct entries'
    derivative, the Matrix Cookbook's): off-diagonal entries doubled; and back (halved).
    The general ``G`` is no third mistake here: under ``"symmetric"`` it maps to the same
    free-coordinate derivative as ``(G + G^T)/2``, and under ``"symmetric-entries"`` a
    symmetric ``G`` is the halved form."""
    rows = _rows(D, site.param_shape)
    diag = np.eye(site.param_shape[0], dtype=bool)
    if site.structure == "symmetric":
        out = np.where(diag, rows, rows + np.swapaxes(rows, -1, -2))  # G + G^T - diag(G) with G = D
    else:
        out = np.where(diag, rows, rows / 2)  # E = G + G^T - diag(G) off the diagonal is 2 (G + G^T)/2
    return out.reshape(np.shape(D))


def _entry_scaled(c: float) -> Op:
    """The largest entry of one output row scaled by ``c``: a change of ``c - 1`` of that row's scale."""
    def op(D: np.ndarray, site: Site, rng: np.random.Generator) -> np.ndarray:
        rows = _rows(D, site.param_shape)
        scale = _scale(rows)
        live = np.flatnonzero(scale > 0)
        r = int(rng.choice(live)) if live.size else 0
        flat = rows[r].reshape(-1)
        flat[int(np.argmax(np.abs(flat)))] *= c
        rows[r] = flat.reshape(site.param_shape)
        return rows.reshape(np.shape(D))
    return op


def _float32(D: np.ndarray, site: Site, rng: np.random.Generator) -> np.ndarray:
    """An intermediate in float32: every entry rounded to 24 bits (relative <= 6e-8, about 3e-8 on average)."""
    return np.asarray(D, dtype=np.float64).astype(np.float32).astype(np.float64)


def _stray_epsilon(D: np.ndarray, site: Site, rng: np.random.Generator) -> np.ndarray:
    """Divided by (1 + k 1e-8), k in 1..5: a denominator ``norm + eps`` with ``eps`` a few 1e-8 of the norm."""
    return np.asarray(D, dtype=np.float64) / (1.0 + TINY * int(rng.integers(1, 6)))


def _always(site: Site) -> bool:
    return True


def _square(site: Site) -> bool:
    shape = site.param_shape
    return len(shape) == 2 and shape[0] == shape[1]


def _matrix(site: Site) -> bool:
    return len(site.param_shape) >= 2


def _relu_units(site: Site) -> bool:
    return site.relu and len(site.param_shape) >= 1


def _square_jacobian(site: Site) -> bool:
    return bool(site.out_shape) and site.out_shape == site.param_shape


def _has_loss_value(site: Site) -> bool:
    f = site.loss_value
    return not site.out_shape and f is not None and np.isfinite(f) and f != 0


def _free_square(site: Site) -> bool:
    """A square matrix of at least 2 x 2 without a symmetric structure (whose check moves pairs together)."""
    return _square(site) and site.param_shape[0] >= 2 and not (site.structure or "").startswith("symmetric")


def _symmetric(site: Site) -> bool:
    return _square(site) and site.structure in ("symmetric", "symmetric-entries")


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("transpose", "analytic transposed (square parameters only): x.T @ d for d.T @ x", _transpose, _square),
    Mutation("scale_2", "off by a factor 2 (a dropped 1/2, or d(x^2) taken twice)", _scaled(2.0), _always),
    Mutation("scale_half", "off by a factor 1/2", _scaled(0.5), _always),
    Mutation("negate", "sign flipped (gradient ascent for descent, r = b - Ax)", _scaled(-1.0), _always),
    Mutation("scale_1e-6", "off by a relative 1e-6 everywhere (the promised resolution)", _scaled(1.0 + 1e-6), _always),
    Mutation("perturb_small", "one entry off by 1e-6 of the derivative's scale", _perturb(1e-6), _always),
    Mutation("perturb_large", "one entry off by half the derivative's scale", _perturb(0.5), _always),
    Mutation("zero_row", "one row of the parameter's gradient zeroed (a lost sample or unit)", _zero_along(0), _matrix),
    Mutation("zero_column", "one column zeroed", _zero_along(-1), _matrix),
    Mutation("relu_mask", "ReLU mask from the wrong tensor (emulated: units zeroed where a different mask is 0)",
             _relu_mask, _relu_units),
    Mutation("reshape_order", "same entries refilled in the other reshape order (C vs F)", _reshape_order, _matrix),
    Mutation("layout_swap", "Jacobian with the output and parameter axes swapped (denominator layout), where "
             "out.shape == x.shape", _layout_swap, _square_jacobian),
    Mutation("point_factor", "gradient times 2 f(x): the norm ||r|| differentiated as if it were ||r||^2",
             _point_factor, _has_loss_value),
    Mutation("upper_zeros", "strict upper triangle of a square parameter's gradient zeroed (the gradient of a "
             "loss that reads only the lower triangle)", _upper_zeros, _free_square),
    Mutation("symmetric_convention", "a symmetric parameter's gradient in the other convention ((G + G^T)/2 vs "
             "G + G^T - diag(G))", _symmetric_convention, _symmetric),
)

TINY_MUTATIONS: tuple[Mutation, ...] = (
    Mutation("scale_1e-8", "off by a relative 1e-8 everywhere (a rounded constant)", _scaled(1.0 + TINY), _always),
    Mutation("entry_1e-8", "the largest entry of one output row scaled by 1 + 1e-8", _entry_scaled(1.0 + TINY),
             _always),
    Mutation("float32", "every entry rounded to float32 (an intermediate in single precision)", _float32, _always),
    Mutation("stray_epsilon", "divided by 1 + k 1e-8, k in 1..5 (a stray epsilon in a denominator)",
             _stray_epsilon, _always),
)


def mutation_names(*, tiny: bool = False) -> list[str]:
    """The names of :data:`MUTATIONS` (``tiny``: of :data:`TINY_MUTATIONS`)."""
    return [m.name for m in (TINY_MUTATIONS if tiny else MUTATIONS)]


def _lookup(name: str | Mutation) -> Mutation:
    if isinstance(name, Mutation):
        return name
    for m in MUTATIONS + TINY_MUTATIONS:
        if m.name == name:
            return m
    known = ", ".join(map(repr, mutation_names() + mutation_names(tiny=True)))
    raise InvalidArgumentError(f"mutation={name!r}: expected one of {known}")


# --------------------------------------------------------------------------- mutants
@dataclass(frozen=True)
class Mutant:
    """A mutated derivative for one parameter, with how much it differs from the original."""

    mutation: str
    param: str
    original: np.ndarray = field(repr=False)
    mutated: np.ndarray = field(repr=False)
    param_shape: tuple[int, ...]

    @property
    def delta(self) -> np.ndarray:
        return self.mutated - self.original

    @property
    def relative_change(self) -> float:
        """Largest change relative to the scale of its output row (``inf`` for a change of a zero row)."""
        rows = self.original.reshape((-1,) + self.param_shape)
        moved = np.abs(self.delta.reshape(rows.shape[0], -1)).max(axis=1)
        scale = _scale(rows)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(scale > 0, moved / np.where(scale > 0, scale, 1.0), np.where(moved > 0, np.inf, 0.0))
        return float(rel.max(initial=0.0))

    @property
    def changes(self) -> bool:
        """True when some entry moved by at least :data:`MATERIAL` of its row's scale."""
        return self.moves_by(MATERIAL)

    def moves_by(self, fraction: float) -> bool:
        """True when some entry moved by at least ``fraction`` of its row's scale (the move's own rounding allowed)."""
        return self.relative_change >= fraction * (1 - 1e-6)

    def detectable(self, tolerances: np.ndarray, status: np.ndarray | None = None) -> bool:
        """Whether some smooth entry moved by more than :data:`DETECT_FACTOR` tolerances.

        ``tolerances``/``status`` are the correct derivative's ``ParamResult.tolerances`` and
        ``.status`` at the same point; kink entries (``Status.KINK``, ``KINK_MISMATCH``) are left out, where any
        value between the one-sided slopes is right.
        """
        tol = np.asarray(tolerances).reshape(self.original.shape)
        smooth = (np.ones(tol.shape, dtype=bool) if status is None
                  else ~np.isin(np.asarray(status).reshape(tol.shape), [Status.KINK, Status.KINK_MISMATCH]))
        return bool(np.any(smooth & (np.abs(self.delta) > DETECT_FACTOR * tol)))


def mutate(derivative: np.ndarray, mutation: str | Mutation, *, param_shape: tuple[int, ...] | None = None,
           param: str = "params", seed: int = 0, loss_value: float | None = None,
           structure: str | None = None) -> Mutant:
    """Apply one mutation to a derivative array (gradient, or Jacobian ``lead + param_shape``).

    ``seed`` picks the entry, row, column or mask where the mutation chooses one;
    ``loss_value`` (the loss at the point) and ``structure`` (the parameter's ``structure=``)
    are what ``point_factor`` and ``symmetric_convention`` need. A mutation that does not apply
    raises :class:`~gradcheck.InvalidArgumentError` naming why.
    """
    m = _lookup(mutation)
    D = np.asarray(derivative, dtype=np.float64)
    pshape = tuple(D.shape) if param_shape is None else tuple(param_shape)
    if D.shape[D.ndim - len(pshape):] != pshape or D.size == 0:
        raise InvalidArgumentError(f"param_shape={param_shape!r}: the derivative has shape {D.shape}; expected it "
                                   f"to end with the (non-empty) parameter shape")
    site = Site(pshape, tuple(D.shape[: D.ndim - len(pshape)]), True, loss_value, structure)
    if not m.applies_at(site):
        raise InvalidArgumentError(
            f"mutation={m.name!r} does not apply to parameter {param!r} of shape {pshape} (output shape "
            f"{site.out_shape}, loss_value={loss_value!r}, structure={structure!r}): {m.description}")
    rng = np.random.default_rng(seed)
    return Mutant(m.name, param, D.copy(), np.asarray(m.op(D, site, rng), dtype=np.float64), pshape)


# --------------------------------------------------------------------------- derivations
@dataclass(frozen=True)
class Bound:
    """A derivation bound to one problem, its derivative normalised to numerator layout.

    ``derivative(params)`` returns a dict name -> array of shape ``param.shape`` (gradient)
    or ``out.shape + param.shape`` (Jacobian), whatever ``layout``/``order`` the
    derivation's own derivative uses, so mutations see every parameter the same way.
    """

    derivation: Derivation
    problem: Problem
    loss: Callable[[Any], Any]
    derivative: Callable[[Any], dict[str, np.ndarray]]
    out_shape: tuple[int, ...]
    options: Mapping[str, Any]

    @property
    def kind(self) -> str:
        return self.derivation.kind

    @property
    def relu(self) -> bool:
        return "relu" in self.derivation.tags

    @property
    def structure(self) -> dict[str, str]:
        """The structured parameters declared by the derivation's ``"structure:NAME=KIND"`` tags."""
        return structure_from_tags(self.derivation.tags, where=f"derivation {self.derivation.name!r}")

    def loss_value(self) -> float | None:
        """The loss at the bound point (``None`` for a Jacobian, or a loss that is not a finite real)."""
        if self.kind != "grad":
            return None
        try:
            f = float(np.real_if_close(np.asarray(self.loss({k: v.copy() for k, v in self.problem.params.items()}))))
        except (TypeError, ValueError):
            return None
        return f if np.isfinite(f) else None

    def site(self, param: str, *, loss_value: float | None = None) -> Site:
        """The setting of a mistake in ``param``: its shape, the output shape, ReLU, structure (and the
        loss value given, :meth:`loss_value` computes it)."""
        return Site(tuple(np.shape(self.problem.params[param])), self.out_shape, self.relu, loss_value,
                    self.structure.get(param))

    def check(self, derivative: Callable[[Any], Any] | None = None, params: Mapping[str, np.ndarray] | None = None,
              loss: Callable[[Any], Any] | None = None, **options: Any) -> Any:
        """``check_grad``/``check_jacobian`` of ``loss`` (default: the derivation's) against ``derivative``."""
        from . import check_grad, check_jacobian  # the public entry points, loaded on first use

        run = check_grad if self.kind == "grad" else check_jacobian
        opts = {**self.options, **options}
        result = run(loss or self.loss, derivative or self.derivative,
                     self.problem.params if params is None else params, **opts)
        return _in_param_shape(result, opts.get("structure"), self.problem.params if params is None else params)


def _in_param_shape(result: Any, structure: Mapping[str, str] | None, params: Mapping[str, np.ndarray]) -> Any:
    """A structured check's per-entry arrays, kept over the free coordinates, in each symmetric
    parameter's own shape (see :meth:`Structure.expand`), so tolerances and statuses line up
    with the derivative the mutations and the tests hold."""
    if not structure or not hasattr(result, "params"):
        return result
    out = dict(result.params)
    for name, kind in structure.items():
        p = out.get(name)
        if p is None or p.arrays is None:
            continue
        st = Structure.make(name, kind, np.asarray(params[name], dtype=float))
        a = p.arrays
        fields = {k: st.expand(getattr(a, k)) for k in ("analytic", "numeric", "error_estimate", "abs_errors")}
        fields.update(tolerances=st.expand(a.tolerances, per_entry=False), status=st.expand(a.status, per_entry=False))
        if any(v is None for v in fields.values()):
            continue
        out[name] = dataclasses.replace(p, derivative_shape=st.shape, arrays=dataclasses.replace(a, **fields))
    return dataclasses.replace(result, params=out)


def bind(derivation: Derivation, problem: Problem) -> Bound:
    """Bind ``derivation`` to ``problem`` with a numerator-layout, full-shape derivative."""
    f, df = derivation.bind(problem)
    shapes = {k: np.shape(v) for k, v in problem.params.items()}
    if derivation.kind == "grad":
        def grad(params: Any) -> dict[str, np.ndarray]:
            g = df(params)
            return {k: np.asarray(g[k], dtype=np.float64).reshape(shapes[k]) for k in shapes}

        structure = structure_from_tags(derivation.tags, where=f"derivation {derivation.name!r}")
        return Bound(derivation, problem, f, grad, (), {"structure": structure} if structure else {})
    out_shape = tuple(np.shape(f(problem.params)))
    opts = dict(derivation.jacobian_options)
    layout, order = opts.pop("layout", "numerator"), opts.pop("order", None)

    def jac(params: Any) -> dict[str, np.ndarray]:
        J = df(params)
        return {k: to_numerator(np.asarray(J[k], dtype=np.float64), out_shape, shapes[k], layout=layout, order=order,
                                where=f"{derivation.name}: Jacobian for parameter {k!r}").reshape(out_shape + shapes[k])
                for k in shapes}

    return Bound(derivation, problem, f, jac, out_shape, opts)


@dataclass(frozen=True)
class Twin:
    """A broken twin: the correct derivative with one parameter's block mutated.

    ``derivative(params)`` returns the mutated value computed at the bound problem's
    point; it is meant for a check at that point.
    """

    mutant: Mutant
    values: Mapping[str, np.ndarray] = field(repr=False)

    def derivative(self, params: Any) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.values.items()}


def broken_twins(bound: Bound, *, seed: int = 0, mutations: Iterable[str | Mutation] | None = None,
                 params: Iterable[str] | None = None) -> list[Twin]:
    """Every applicable mutation of every parameter (or those named) at the bound problem's point."""
    chosen = [_lookup(m) for m in (MUTATIONS if mutations is None else mutations)]
    correct = bound.derivative({k: v.copy() for k, v in bound.problem.params.items()})
    names = list(correct) if params is None else list(params)
    unknown = set(names) - set(correct)
    if unknown:
        raise InvalidArgumentError(f"params={sorted(names)!r}: {sorted(unknown)} are not parameters of "
                                   f"{bound.derivation.name!r} ({sorted(correct)})")
    twins = []
    loss_value = bound.loss_value()
    for i, name in enumerate(names):
        site = bound.site(name, loss_value=loss_value)
        for j, m in enumerate(chosen):
            if not m.applies_at(site):
                continue
            rng = np.random.default_rng(_mix(seed, i, j))
            D = correct[name]
            mutant = Mutant(m.name, name, D.copy(), np.asarray(m.op(D, site, rng), dtype=np.float64), site.param_shape)
            twins.append(Twin(mutant, {**correct, name: mutant.mutated}))
    return twins


def _mix(seed: int, *parts: int) -> int:
    """A per-(parameter, mutation) seed, so adding a mutation does not reshuffle the others."""
    return int(np.random.SeedSequence([int(seed) % 2**63, *parts]).generate_state(1)[0])
