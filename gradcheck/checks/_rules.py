"""``check_vjp`` and ``check_jvp``: a rule (a vector-Jacobian or a Jacobian-vector product) judged by the one engine.

A rule is how most hand-derived derivatives are written today: not a full gradient but the product of the
Jacobian with a vector. No second engine is needed to judge one:

* a VJP with cotangent ``w`` is the gradient of the scalar ``<w, f(x)>``, so :func:`check_grad` judges it,
  entry by entry of every input, with its error bars, kinks and diagnosis;
* a JVP along ``v`` is the derivative of ``t -> f(x + t v)`` at 0, so :func:`check_jacobian` of that
  one-parameter function judges it, entry by entry of every output.

One product is one linear functional of the rule: a rule wrong only in a direction orthogonal to that one
cotangent would pass. Several random draws (seeded, so that a failure can be replayed) make that a
probability-zero event; the draws are Gaussian, with distinct entries, so that a transposed or permuted
product cannot match by symmetry as it can with a cotangent of ones. Tangents move one input at a time, so
that a wrong JVP names its input, and are scaled to that input's entries, so that the finite differences
move every entry by a comparable relative amount.

The checks inside are not recorded one by one (the pytest plugin would list the same rule four times): the
combined result is, once.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from ..core import _recording
from ..core._errors import (
    GradcheckError,
    GradientMismatch,
    GradientStructureError,
    InvalidArgumentError,
    LossRaisedError,
    MutatingFunctionError,
    ParameterError,
    ShapeMismatchError,
)
from ..core._naming import display_name
from ..core._params import ParamSet, format_index
from ..judge._result import VERDICT_ORDER, Entry, EntryArrays, GradCheckResult, ParamResult

__all__ = ["check_vjp", "check_jvp", "assert_vjp", "assert_jvp", "DEFAULT_DRAWS", "combine", "quiet", "draw_count",
           "scaled_tangent"]

DEFAULT_DRAWS = 3
"""Cotangents (or tangents per input) drawn by default: three independent Gaussian draws leave a rule that is
wrong anywhere no plausible way to pass them all, at three times the cost of one check."""

_FORBIDDEN = ("mode", "structure", "directional", "layout", "order")
"""check_grad/check_jacobian options that do not apply to a rule (a product is checked entry by entry, in the
rule's own layout)."""


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Checks made inside are not told to the listeners (the pytest plugin): the rule's combined result is,
    once, by its caller. Listeners subscribed meanwhile are kept.

    A write the rule made to its cotangent or tangent, or a product of the wrong shape, is found inside the
    engine's call of the product, which reports whatever that call raises as the derivative having raised;
    it is the rule's own error, named by this module, and is raised as itself."""
    with _recording._lock:
        saved = dict(_recording._listeners)
        _recording._listeners.clear()
    try:
        yield
    except LossRaisedError as exc:
        if isinstance(exc.__cause__, GradcheckError):
            raise exc.__cause__ from None
        raise
    finally:
        with _recording._lock:
            _recording._listeners.update(saved)


def draw_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidArgumentError(f"{name}={value!r}: expected an integer >= 1 (how many random products to check)")
    return int(value)


def _seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InvalidArgumentError(f"seed={value!r}: expected an integer >= 0 (the draws of cotangents or tangents)")
    return int(value)


def _options(options: Mapping[str, Any], what: str) -> dict[str, Any]:
    for key in options:
        if key in _FORBIDDEN:
            raise InvalidArgumentError(f"{key}={options[key]!r}: {what} checks every entry of the product in the "
                                       f"rule's own layout, so it takes no {key}=")
    return dict(options)


def _verdict_rank(p: ParamResult) -> tuple[int, float]:
    """Most severe first; among equal verdicts the coarsest resolution (the claim every draw supports)."""
    return VERDICT_ORDER.index(p.verdict), -p.resolution


def combine(results: list[GradCheckResult], function: str, labels: list[str],
            notes: list[str] | None = None) -> GradCheckResult:
    """One result from the checks of several products: per parameter the most severe of its verdicts (a rule
    is right only if every product is), with which draw it came from; every draw's verdict in the notes."""
    params: dict[str, ParamResult] = {}
    for name in results[0].params:
        k = min(range(len(results)), key=lambda i: _verdict_rank(results[i].params[name]))
        p = results[k].params[name]
        params[name] = dataclasses.replace(p, note="; ".join(filter(None, [p.note, f"worst of {len(results)}: "
                                                                                  f"{labels[k]}"])))
    draw_notes = [f"{label}: {r.verdict}" for label, r in zip(labels, results, strict=True)]
    inner = [n for r in results for n in r.notes]
    unique_inner = list(dict.fromkeys(inner))
    return GradCheckResult(
        ok=all(p.ok for p in params.values()), kind=results[0].kind, function=function, method=results[0].method,
        params=params, n_evaluations=sum(r.n_evaluations for r in results), value=results[0].value,
        out_shape=results[0].out_shape, layout=results[0].layout,
        notes=tuple([*(notes or []), *draw_notes, *unique_inner]))


def _outputs(value: Any, fn_name: str) -> ParamSet:
    """The outputs of ``f`` as private float copies (an array or a mapping of arrays, real)."""
    try:
        return ParamSet(value, single_name="out")
    except ParameterError as exc:
        raise ParameterError(f"{fn_name} returned outputs that cannot be differentiated: {exc}") from exc


def scaled_tangent(rng: np.random.Generator, x: np.ndarray, typical: float = 1.0) -> np.ndarray:
    """A Gaussian tangent scaled entry by entry to ``max(|x_i|, typical)``: a step along it moves each entry by
    a comparable relative amount, as the engine's own steps do."""
    return rng.standard_normal(x.shape) * np.maximum(np.abs(x.astype(float)), typical)


# --------------------------------------------------------------------------- check_vjp
def check_vjp(f: Callable[[Any], Any], vjp: Callable[[Any, Any], Any], x: Any, *, cotangents: int = DEFAULT_DRAWS,
              seed: int = 0, name: str | None = None, **options: Any) -> GradCheckResult:
    """Check a hand-derived vector-Jacobian product ``vjp(x, w)`` of ``f`` against finite differences.

    ``f(x)`` returns an array or a mapping name -> array (real); ``x`` is an array or a mapping name -> array.
    ``vjp(x, w)`` takes a cotangent ``w`` in the structure of ``f(x)`` and returns ``sum_i w_i d f_i / d x`` in
    the structure of ``x``. ``cotangents`` Gaussian draws of ``w`` (``np.random.default_rng(seed)``, output by
    output, in order) are judged at once, as the Jacobian of ``x -> (<w_1, f(x)>, ..., <w_k, f(x)>)`` whose
    row ``j`` is the product with ``w_j`` (:func:`gradcheck.check_jacobian`, whose options ``options`` are):
    every evaluation of ``f`` serves every draw. Per input, entry ``(j, i...)`` of the result is entry
    ``i...`` of the product with cotangent ``j``. ``vjp`` must not write to ``x`` nor to ``w``
    (:class:`MutatingFunctionError`).
    """
    opts = _options(options, "check_vjp")
    k_draws, seed = draw_count("cotangents", cotangents), _seed(seed)
    from ._first_order import _callable, check_jacobian

    _callable(f, "f")
    _callable(vjp, "vjp")
    f_name, vjp_name = display_name(f, name), display_name(vjp, None)
    inputs = ParamSet(x, single_name="x")
    outs = _outputs(f(inputs.pack(inputs.copies())), f_name)
    rng = np.random.default_rng(seed)
    ws = [{n: rng.standard_normal(outs.arrays[n].shape) for n in outs.names} for _ in range(k_draws)]
    fn, jac = _vjp_pair(f, vjp, inputs, outs, ws, vjp_name)
    with quiet():
        r = check_jacobian(fn, jac, {"x": x} if inputs.single else x, name=f"<w, {f_name}>", **opts)
    if r.failed:
        def once(w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return product_rows(vjp(inputs.pack(inputs.copies()), outs.pack({n: v.copy() for n, v in w.items()})),
                                inputs, vjp_name)

        r = dataclasses.replace(r, params=not_linear(r.params, once(ws[0]), once({n: 2 * v for n, v in
                                                                                   ws[0].items()}), vjp_name))
    result = dataclasses.replace(r, function=f"{vjp_name} (VJP of {f_name})", layout=vjp_layout(k_draws),
                                 notes=(f"cotangents: {k_draws} Gaussian draws of np.random.default_rng({seed})",
                                        *r.notes))
    _recording.emit(result)
    return result


def not_linear(params: Mapping[str, ParamResult], once: Mapping[str, np.ndarray], twice: Mapping[str, np.ndarray],
               who: str) -> dict[str, ParamResult]:
    """Each failed input whose product with ``2 w`` (``twice``) is not twice its product with ``w``
    (``once``), diagnosed as such: a VJP is linear in its cotangent, and a rule that leaves the cotangent
    out of a term (or adds one that does not depend on it) is not. Scaling by 2 is exact in binary floating
    point, so a linear rule passes this to its last bits; the 1e-2 margin is for rules that round in 16 bits."""
    out = dict(params)
    for n, p in params.items():
        a, b = np.asarray(once[n], float), np.asarray(twice[n], float)
        top = float(np.max(np.abs(2 * a))) if a.size else 0.0
        if p.failed and np.max(np.abs(b - 2 * a), initial=0.0) > 1e-2 * max(top, float(np.max(np.abs(b)))):
            out[n] = dataclasses.replace(p, diagnosis=(
                f"the product is not linear in the cotangent: {who}(x, 2 w) is not 2 x {who}(x, w) for input "
                f"{n!r} (the cotangent, grad_output, left out of a term, or a term added that does not depend "
                f"on it?)"))
    return out


def vjp_layout(k: int) -> str:
    return (f"VJP: row j of each input is its product with cotangent j (of {k}), entry (j, i...) its entry i..."
            if k > 1 else "VJP: row 0 of each input is its product with the cotangent")


def _vjp_pair(f: Callable[[Any], Any], vjp: Callable[[Any, Any], Any], inputs: ParamSet, outs: ParamSet,
              ws: list[dict[str, np.ndarray]], vjp_name: str) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """``x -> (<w_j, f(x)>)_j`` and the rule's products with every ``w_j`` stacked as its Jacobian (each
    on a copy of ``w_j``, checked for writes)."""
    def user(params: Any) -> Any:
        return params["x"] if inputs.single else params

    def fn(params: Any) -> np.ndarray:
        y = f(user(params))
        parts = y if isinstance(y, Mapping) and not outs.single else {outs.names[0]: y}
        return np.array([sum(np.vdot(w[n], np.asarray(parts[n], dtype=float)) for n in outs.names) for w in ws])

    def jac(params: Any) -> dict[str, np.ndarray]:
        rows = []
        for w in ws:
            mine = {n: v.copy() for n, v in w.items()}
            value = vjp(user(params), outs.pack(mine))
            for n in outs.names:
                if not np.array_equal(mine[n], w[n]):
                    flat = int(np.flatnonzero((mine[n] != w[n]).ravel())[0])
                    raise MutatingFunctionError(
                        f"{vjp_name} modified its cotangent: output {n!r} changed at index "
                        f"{format_index(w[n].shape, flat)} (a rule must not write to the vector it is given: "
                        f"in a graph that vector may be shared)")
            rows.append(product_rows(value, inputs, vjp_name))
        return {n: np.stack([row[n] for row in rows]) for n in inputs.names}

    return fn, jac


def product_rows(value: Any, inputs: ParamSet, who: str) -> dict[str, np.ndarray]:
    """A rule's product as one array per input, each of its input's shape (named errors otherwise)."""
    parts = {inputs.names[0]: value} if inputs.single else value
    if not isinstance(parts, Mapping):
        raise GradientStructureError(f"{who} returned {type(value).__name__}, expected a mapping with keys "
                                     f"{inputs.names}")
    missing = [n for n in inputs.names if n not in parts]
    if missing:
        raise GradientStructureError(f"{who} returned no product for input(s) {missing}")
    out = {}
    for n in inputs.names:
        arr = np.asarray(parts[n], dtype=float)
        want = inputs.arrays[n].shape
        if arr.shape != want:
            hint = " (the transpose's shape)" if len(want) == 2 and arr.shape == want[::-1] else ""
            raise ShapeMismatchError(f"{who}: the product for input {n!r} has shape {arr.shape}, expected "
                                     f"{want}{hint}")
        out[n] = arr
    return out


# --------------------------------------------------------------------------- check_jvp
def check_jvp(f: Callable[[Any], Any], jvp: Callable[[Any, Any], Any], x: Any, *, tangents: int = DEFAULT_DRAWS,
              seed: int = 0, name: str | None = None, **options: Any) -> GradCheckResult:
    """Check a hand-derived Jacobian-vector product ``jvp(x, v)`` of ``f`` against finite differences.

    ``jvp(x, v)`` takes a tangent ``v`` in the structure of ``x`` and returns ``d/dt f(x + t v)`` at 0 in the
    structure of ``f(x)``. For each input and each of ``tangents`` draws (seeded by ``seed``), ``v`` moves that
    input alone, along a Gaussian direction scaled to its entries; the product is judged entry by entry of
    the outputs by :func:`gradcheck.check_jacobian` of ``t -> f(x + t v)`` (``options`` are its options). The
    result has one parameter per input, indexed by the output entries (outputs of a mapping are concatenated
    in order; the notes give each one's range).
    """
    opts = _options(options, "check_jvp")
    k_draws, seed = draw_count("tangents", tangents), _seed(seed)
    from ._first_order import _callable, check_jacobian

    _callable(f, "f")
    _callable(jvp, "jvp")
    f_name, jvp_name = display_name(f, name), display_name(jvp, None)
    inputs = ParamSet(x, single_name="x")
    outs = _outputs(f(inputs.pack(inputs.copies())), f_name)
    typical = opts.get("typical", 1.0)
    rng = np.random.default_rng(seed)
    per_draw: list[GradCheckResult] = []
    labels = []
    for k in range(k_draws):
        params: dict[str, ParamResult] = {}
        inner: list[GradCheckResult] = []
        for p in inputs.names:
            t = typical.get(p, 1.0) if isinstance(typical, Mapping) else typical
            v = {q: (scaled_tangent(rng, inputs.arrays[q], t) if q == p else np.zeros_like(inputs.arrays[q]))
                 for q in inputs.names}
            fn_t, jac_t = _jvp_pair(f, jvp, inputs, outs, v, jvp_name)
            o = {key: val for key, val in opts.items() if key != "typical"}
            with quiet():
                r = check_jacobian(fn_t, jac_t, np.zeros(1), name=f"{f_name}(x + t v[{p}])", **o)
            inner.append(r)
            params[p] = along_tangent(r.params["x"], p, inputs.arrays[p].shape)
        first = inner[0]
        per_draw.append(GradCheckResult(
            ok=all(q.ok for q in params.values()), kind="jacobian", function=first.function, method=first.method,
            params=params, n_evaluations=sum(r.n_evaluations for r in inner), value=None, out_shape=first.out_shape,
            layout="JVP: d/dt f(x + t v) at t = 0, one input moved at a time",
            notes=tuple(n for r in inner for n in r.notes)))
        labels.append(f"tangent {k + 1} of {k_draws} (seed {seed})")
    result = combine(per_draw, f"{jvp_name} (JVP of {f_name})", labels, _output_ranges(outs))
    _recording.emit(result)
    return result


def _output_ranges(outs: ParamSet) -> list[str]:
    if outs.single:
        return []
    start, bits = 0, []
    for n in outs.names:
        size = outs.arrays[n].size
        bits.append(f"{n!r} {outs.arrays[n].shape} at [{start}, {start + size})")
        start += size
    return ["entries index the outputs flattened and concatenated: " + ", ".join(bits)]


def _flat(value: Any, outs: ParamSet, what: str) -> np.ndarray:
    parts = value if isinstance(value, Mapping) and not outs.single else {outs.names[0]: value}
    missing = [n for n in outs.names if n not in parts]
    if missing:
        raise GradientStructureError(f"{what} returned no output {missing}; f returns {outs.names}")
    chunks = []
    for n in outs.names:
        arr = np.asarray(parts[n], dtype=float)
        if arr.size != outs.arrays[n].size:
            raise ShapeMismatchError(f"{what}: output {n!r} has shape {arr.shape}, expected {outs.arrays[n].shape}")
        chunks.append(arr.ravel())
    return np.concatenate(chunks)


def _jvp_pair(f: Callable[[Any], Any], jvp: Callable[[Any, Any], Any], inputs: ParamSet, outs: ParamSet,
              v: dict[str, np.ndarray], jvp_name: str) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """``t -> f(x + t v)`` flattened, and the rule's product along ``v`` as its ``(m, 1)`` Jacobian."""
    def at(t: np.ndarray) -> Any:
        return inputs.pack({n: inputs.arrays[n] + float(t[0]) * v[n] for n in inputs.names})

    def fn(t: np.ndarray) -> np.ndarray:
        return _flat(f(at(t)), outs, "f")

    def jac(t: np.ndarray) -> np.ndarray:
        mine = {n: a.copy() for n, a in v.items()}
        value = jvp(at(t), inputs.pack(mine))
        for n in inputs.names:
            if not np.array_equal(mine[n], v[n]):
                flat = int(np.flatnonzero((mine[n] != v[n]).ravel())[0])
                raise MutatingFunctionError(f"{jvp_name} modified its tangent: input {n!r} changed at index "
                                            f"{format_index(v[n].shape, flat)}")
        return _flat(value, outs, jvp_name).reshape(-1, 1)

    return fn, jac


def along_tangent(p: ParamResult, name: str, shape: tuple[int, ...]) -> ParamResult:
    """A check_jacobian result over the one parameter ``t``, told as the JVP of input ``name``: entries are
    indexed by output entry alone (the trailing ``t`` axis dropped)."""
    def entry(e: Entry) -> Entry:
        return dataclasses.replace(e, index=e.index[:-1])

    full = p.derivative_shape[:-1]
    arrays = None
    if p.arrays is not None:
        a = p.arrays
        arrays = EntryArrays(*(np.asarray(getattr(a, f.name)).reshape(full) for f in dataclasses.fields(a)))
    diagnosis = p.diagnosis
    if diagnosis is not None:
        diagnosis = diagnosis.replace("(first at (", "(first at output (")
    return dataclasses.replace(p, name=name, shape=shape, derivative_shape=full, worst=entry(p.worst),
                               mismatches=tuple(entry(e) for e in p.mismatches), kinks=tuple(entry(e) for e in p.kinks),
                               arrays=arrays, diagnosis=diagnosis)


# --------------------------------------------------------------------------- assert_*
def _raise_unless_ok(result: GradCheckResult, max_entries: int) -> GradCheckResult:
    __tracebackhide__ = True
    if not result.ok:
        from ..judge._headline import failure_message

        raise GradientMismatch(failure_message(result, max_entries), result)
    return result


def assert_vjp(f: Callable[[Any], Any], vjp: Callable[[Any, Any], Any], x: Any, **options: Any) -> GradCheckResult:
    """:func:`check_vjp`, raising :class:`GradientMismatch` (an ``AssertionError``) unless it passes."""
    __tracebackhide__ = True
    return _raise_unless_ok(check_vjp(f, vjp, x, **options), options.get("max_entries", 5))


def assert_jvp(f: Callable[[Any], Any], jvp: Callable[[Any, Any], Any], x: Any, **options: Any) -> GradCheckResult:
    """:func:`check_jvp`, raising :class:`GradientMismatch` (an ``AssertionError``) unless it passes."""
    __tracebackhide__ = True
    return _raise_unless_ok(check_jvp(f, jvp, x, **options), options.get("max_entries", 5))
