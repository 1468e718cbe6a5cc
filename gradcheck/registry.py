"""The registry of derivations that tests, reports and the CLI iterate.

A *derivation* is a loss (or vector function) written once against an array-ops
namespace, its hand-derived gradient (or Jacobian), and a factory that draws a
problem instance. Built-in derivations live in the top-level ``reference_nets``
package; users add their own with :func:`register` (a decorator on the factory) or
by exposing a module under the ``gradcheck.derivations`` entry-point group.

Example::

    from gradcheck.registry import Problem, register

    def loss(p, d, xp=numpy_ops):
        r = d["A"] @ p["x"] - d["b"]
        return xp.sum(r * r)

    def grad(p, d):
        return {"x": 2 * d["A"].T @ (d["A"] @ p["x"] - d["b"])}

    @register(name="my.least_squares", loss=loss, grad=grad, source="my notes, eq. 3")
    def make(rng, m=5, n=3):
        return Problem(params={"x": rng.normal(size=(n, 1))},
                       data={"A": rng.normal(size=(m, n)), "b": rng.normal(size=(m, 1))})
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .core._errors import InvalidArgumentError
from .ops import ArrayOps, numpy_ops

__all__ = [
    "Problem",
    "Derivation",
    "register",
    "add",
    "get",
    "names",
    "derivations",
    "load_module",
    "ENTRY_POINT_GROUP",
    "BUILTIN_MODULES",
    "SIZE_VARIANTS",
]

ENTRY_POINT_GROUP = "gradcheck.derivations"
BUILTIN_MODULES: tuple[str, ...] = ("reference_nets",)
"""The modules whose import registers the built-in derivations, loaded by name like ``--module``
and the entry points: the registry never imports them statically, so the nets depend on the
registry and not the other way round (``tests/test_layers.py`` holds it to that). Not an entry
point because an editable install made before one was added would silently lose the built-ins."""

SIZE_VARIANTS: Mapping[str, int] = {"default": 1, "x2": 2, "large": 0}
"""Size variants (see :meth:`Derivation.sizes_for`): every default size multiplied by this factor.
Doubling keeps square shapes square (some published slips only run on square matrices) while
changing every dimension, so a formula that only works at the default sizes shows up. ``large``
(0: no factor) takes the derivation's :attr:`Derivation.large_sizes`, checked along directions;
a derivation without them has no large variant."""

Params = dict[str, np.ndarray]
Kind = Literal["grad", "jacobian"]


@dataclass(frozen=True)
class Problem:
    """One drawn instance: ``params`` are differentiated, ``data`` is held fixed."""

    params: Params
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Derivation:
    """A registered derivation.

    ``loss(params, data, xp)`` returns a real scalar (``kind="grad"``) or an array
    (``kind="jacobian"``); ``derivative(params, data)`` returns the hand-derived
    gradient (same structure as ``params``) or Jacobian (``out.shape + param.shape``
    per parameter in numerator layout, or see ``jacobian_options``).

    Sizes are the integer keyword arguments of ``make`` (batch, widths, depth, classes...).
    ``sizes`` holds their defaults, read from ``make``'s signature by :func:`register`; the
    report's ``x2`` variant doubles every one of them. ``large_sizes`` (sizes not given keep
    their defaults) is the ``large`` variant: ~1e5 parameters, the scale of a small real
    network, where an entry-wise check would take hours and ``--sizes large`` checks along
    directions instead. Only a few gradients have one (``row_mlp.sigmoid``,
    ``relu_softmax.ce_mean`` and its slip): one per shape of network is enough to show the
    directional check at that scale. :meth:`sizes_for` turns a variant name into sizes.

    ``named_sizes`` are further sizes a test suite or benchmark asks for by name (sizes not
    given keep their defaults). The built-ins give three, each chosen per derivation: ``other``,
    a second size besides the defaults, non-square where the formula allows (``x2`` keeps square
    shapes square), so a formula that only holds at its own shapes shows up; ``symbolic``, the
    smallest at which every published slip still differs from its correction, so that sympy
    alone builds, differentiates and compiles the derivation in well under a second;
    ``sympy_loss``, small enough to evaluate the loss on sympy object arrays.
    """

    name: str
    make: Callable[..., Problem]
    loss: Callable[..., Any]
    derivative: Callable[..., Any]
    kind: Kind = "grad"
    source: str = ""
    equations: str = ""
    layout: str = ""
    expected_correct: bool = True
    corrects: str | None = None
    slip: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    sizes: Mapping[str, int] = field(default_factory=dict)
    jacobian_options: Mapping[str, Any] = field(default_factory=dict)
    large_sizes: Mapping[str, int] | None = None
    named_sizes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        clash = set(self.named_sizes) & set(SIZE_VARIANTS)
        if clash:
            raise InvalidArgumentError(f"derivation {self.name!r}: named_sizes may not use the size variants' names "
                                       f"{sorted(clash)}")
        named = {name: self._checked(f"named_sizes[{name!r}]", sizes) for name, sizes in self.named_sizes.items()}
        object.__setattr__(self, "named_sizes", named)
        if self.large_sizes is not None:
            object.__setattr__(self, "large_sizes", self._checked("large_sizes", self.large_sizes, empty=False))

    def _checked(self, what: str, sizes: Mapping[str, int], *, empty: bool = True) -> dict[str, int]:
        sizes = dict(sizes)
        bad = {k: v for k, v in sizes.items() if isinstance(v, bool) or not isinstance(v, int) or v < 1}
        if bad or not (sizes or empty):
            raise InvalidArgumentError(f"derivation {self.name!r}: {what} expects positive integer sizes, got "
                                       f"{bad or 'none'}")
        unknown = set(sizes) - set(self.sizes)
        if unknown:
            raise InvalidArgumentError(f"derivation {self.name!r}: {what} has unknown size(s) {sorted(unknown)}; "
                                       f"it takes {sorted(self.sizes)}")
        return sizes

    def sizes_for(self, variant: str) -> dict[str, int] | None:
        """The sizes of a :data:`SIZE_VARIANTS` variant or of one of the ``named_sizes``; None for
        ``large`` without ``large_sizes`` and for a name this derivation does not give."""
        if variant == "large":
            return None if self.large_sizes is None else {**self.sizes, **self.large_sizes}
        if variant in SIZE_VARIANTS:
            return {k: v * SIZE_VARIANTS[variant] for k, v in self.sizes.items()}
        if variant in self.named_sizes:
            return {**self.sizes, **self.named_sizes[variant]}
        return None

    def problem(self, seed: int = 0, **sizes: int) -> Problem:
        """Draw a problem instance with ``numpy.random.default_rng(seed)``."""
        unknown = set(sizes) - set(self.sizes)
        if unknown:
            raise InvalidArgumentError(
                f"derivation {self.name!r}: unknown size(s) {sorted(unknown)}; "
                f"it takes {sorted(self.sizes)}"
            )
        return self.make(np.random.default_rng(seed), **{**self.sizes, **sizes})

    def bind(self, problem: Problem, xp: ArrayOps = numpy_ops) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
        """Close ``loss`` and ``derivative`` over the problem's data: ``f(params)``, ``df(params)``."""
        data = problem.data

        def f(params: Any) -> Any:
            return self.loss(params, data, xp)

        def df(params: Any) -> Any:
            return self.derivative(params, data)

        f.__name__ = f.__qualname__ = f"{self.name}.loss"
        df.__name__ = df.__qualname__ = f"{self.name}.{'grad' if self.kind == 'grad' else 'jacobian'}"
        return f, df

    def check(self, seed: int = 0, sizes: Mapping[str, int] | None = None, **options: Any) -> Any:
        """Draw a problem and run ``check_grad``/``check_jacobian`` on it."""
        from . import check_grad, check_jacobian  # the public entry points, loaded on first use

        problem = self.problem(seed, **dict(sizes or {}))
        f, df = self.bind(problem)
        if self.kind == "grad":
            return check_grad(f, df, problem.params, **options)
        return check_jacobian(f, df, problem.params, **{**self.jacobian_options, **options})


_REGISTRY: dict[str, Derivation] = {}
_loaded_builtin = False
_loaded_entry_points = False


def add(derivation: Derivation, *, replace: bool = False) -> Derivation:
    """Add a :class:`Derivation`; a second one under the same name is an error unless ``replace``."""
    if not isinstance(derivation, Derivation):
        raise InvalidArgumentError(f"add(derivation={derivation!r}): expected a Derivation")
    if derivation.kind not in ("grad", "jacobian"):
        raise InvalidArgumentError(
            f"derivation {derivation.name!r}: kind={derivation.kind!r}, expected 'grad' or 'jacobian'"
        )
    old = _REGISTRY.get(derivation.name)
    if old is not None and not replace and old.make is not derivation.make:
        raise InvalidArgumentError(
            f"a derivation named {derivation.name!r} is already registered "
            f"(from {getattr(old.make, '__module__', '?')}); pass replace=True to override it"
        )
    _REGISTRY[derivation.name] = derivation
    return derivation


def register(
    *,
    name: str,
    loss: Callable[..., Any],
    grad: Callable[..., Any] | None = None,
    jacobian: Callable[..., Any] | None = None,
    replace: bool = False,
    **metadata: Any,
) -> Callable[[Callable[..., Problem]], Callable[..., Problem]]:
    """Decorator on a factory ``make(rng, **sizes) -> Problem`` that registers a derivation.

    Give exactly one of ``grad`` (a scalar loss's gradient) or ``jacobian``. Default
    sizes are read from the factory's keyword defaults. Other keywords are the
    :class:`Derivation` fields (``source``, ``equations``, ``layout``,
    ``expected_correct``, ``corrects``, ``slip``, ``description``, ``tags``,
    ``jacobian_options``, ``large_sizes``, ``named_sizes``).
    """
    if (grad is None) == (jacobian is None):
        raise InvalidArgumentError(f"register(name={name!r}): give exactly one of grad= or jacobian=")

    def decorate(make: Callable[..., Problem]) -> Callable[..., Problem]:
        sizes = {
            p.name: p.default
            for p in list(inspect.signature(make).parameters.values())[1:]
            if p.default is not inspect.Parameter.empty
        }
        add(
            Derivation(
                name=name,
                make=make,
                loss=loss,
                derivative=grad if grad is not None else jacobian,  # type: ignore[arg-type]
                kind="grad" if grad is not None else "jacobian",
                sizes=sizes,
                **metadata,
            ),
            replace=replace,
        )
        return make

    return decorate


def load_module(module: str) -> None:
    """Import ``module`` so that its ``@register`` calls run (``gradcheck report --module``)."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise InvalidArgumentError(f"module={module!r}: cannot import it ({exc})") from exc


def _load_builtin() -> None:
    """Import the :data:`BUILTIN_MODULES` by name. The built-ins ship as the top-level package
    ``reference_nets`` (the folder the derivations are read and run from: ``python -m
    reference_nets.examples.xnor``); a second name such as ``gradcheck.reference_nets`` would
    import each module twice and register every derivation twice. A foreign package of that
    name is refused by its missing ``__gradcheck_reference_nets__`` marker."""
    global _loaded_builtin
    if not _loaded_builtin:
        for name in BUILTIN_MODULES:
            module = importlib.import_module(name)
            if not getattr(module, "__gradcheck_reference_nets__", False):
                raise InvalidArgumentError(
                    f"the package {name!r} imported from {getattr(module, '__file__', '?')} is not gradcheck's "
                    f"built-in derivations (another package of that name shadows it); pass builtin=False or remove it")
        _loaded_builtin = True


def _load_entry_points() -> None:
    global _loaded_entry_points
    if _loaded_entry_points:
        return
    _loaded_entry_points = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as exc:  # a broken third-party plugin must not hide the others
            print(f"gradcheck: entry point {ep.name!r} ({ep.value}) failed to load: {exc}", file=sys.stderr)


def derivations(*, builtin: bool = True, entry_points: bool = True) -> list[Derivation]:
    """All registered derivations, sorted by name (loads built-ins and entry points first)."""
    if builtin:
        _load_builtin()
    if entry_points:
        _load_entry_points()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def names(**kwargs: bool) -> list[str]:
    return [d.name for d in derivations(**kwargs)]


def get(name: str) -> Derivation:
    """The derivation called ``name``; an unknown name lists the close ones."""
    if name not in _REGISTRY:
        derivations()
    try:
        return _REGISTRY[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise InvalidArgumentError(f"no derivation named {name!r}{hint}") from None

