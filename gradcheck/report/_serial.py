"""Rebuilding result objects from ``GradCheckResult.to_dict(arrays=True)``.

The pytest plugin ships check results between pytest-xdist workers and the controller
as plain JSON; the controller turns them back into result objects so that one report
model serves the command line and the plugin alike.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

__all__ = ["result_from_dict"]


def _f(x: Any) -> float:
    """The core writes NaN/Inf as null; read null back as NaN."""
    return math.nan if x is None else float(x)


def _opt(x: Any) -> float | None:
    return None if x is None else float(x)


def _entry(d: Mapping[str, Any]) -> Any:
    from .. import Entry

    return Entry(index=tuple(d["index"]), analytic=_f(d["analytic"]), numeric=_f(d["numeric"]),
                 abs_error=_f(d["abs_error"]), rel_error=_f(d["rel_error"]), tolerance=_f(d["tolerance"]),
                 error_estimate=_f(d["error_estimate"]), status=d["status"], left=_opt(d.get("left")),
                 right=_opt(d.get("right")))


def _tolerance(d: Mapping[str, Any]) -> Any:
    """Field by field from the dict, so that fields the core adds later pass through unchanged."""
    import dataclasses

    from .. import Tolerance

    names = {f.name for f in dataclasses.fields(Tolerance)}
    return Tolerance(**{k: v for k, v in d.items() if k in names})


def _array(values: Any, shape: list[int], dtype: Any = float) -> Any:
    import numpy as np

    return np.asarray(values, dtype=dtype).reshape(shape)


def _param(d: Mapping[str, Any]) -> Any:
    from .. import ParamResult

    full = d["derivative_shape"]
    arrays = {k: _array(d[k], full) for k in ("analytic", "numeric", "error_estimate", "tolerances") if k in d}
    if "status" in d:
        arrays["status"] = _array(d["status"], full, int)
    return ParamResult(
        name=d["name"], shape=tuple(d["shape"]), derivative_shape=tuple(full), dtype=d["dtype"], ok=d["ok"],
        n_checked=d["n_checked"], n_mismatched=d["n_mismatched"], n_kinks=d["n_kinks"], n_refined=d["n_refined"],
        max_abs_error=_f(d["max_abs_error"]), max_rel_error=_f(d["max_rel_error"]), resolution=_f(d["resolution"]),
        worst=_entry(d["worst"]), mismatches=tuple(_entry(e) for e in d["mismatches"]),
        kinks=tuple(_entry(e) for e in d["kinks"]), tolerance=_tolerance(d["tolerance"]), step=_f(d["step"]),
        diagnosis=d.get("diagnosis"), note=d.get("note", ""), **arrays,
    )


def result_from_dict(d: Mapping[str, Any]) -> Any:
    """A :class:`~gradcheck.GradCheckResult` equal to the one ``d`` was made from (arrays included if present)."""
    from .. import GradCheckResult

    return GradCheckResult(
        ok=d["ok"], kind=d["kind"], function=d["function"], method=d["method"],
        params={k: _param(v) for k, v in d["params"].items()}, n_evaluations=d["n_evaluations"],
        value=d.get("value"), out_shape=tuple(d["out_shape"]), layout=d["layout"], notes=tuple(d.get("notes", ())),
    )
