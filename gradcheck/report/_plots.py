"""Plots for the HTML report, drawn with matplotlib's object API on the Agg canvas.

Imported only when a report with plots is rendered: matplotlib costs about half a second
to import and is an optional dependency (the ``report`` extra). ``pyplot`` is never used,
so rendering neither changes nor depends on the caller's backend. Everything drawn here
was computed by the model (:class:`~._model.StepSweep`, ``ParamRow.heatmap``,
``ParamRow.log_rel_errors``); this module only lays it out.
"""

from __future__ import annotations

import io
from typing import Any

from ._model import REL_ERROR_FLOOR, ParamRow, StepSweep, Subject

__all__ = ["subject_figure_png", "missing_dependency", "MAX_HEATMAPS", "EXTRA_HINT"]

MAX_HEATMAPS = 4
"""Heat maps per subject (the first matrix parameters, in the derivation's order)."""
COLORS = {"central": "#1f77b4", "richardson": "#d62728"}
DPI = 80
EXTRA_HINT = "plots need the `report` extra: pip install 'gradcheck[report]'"


def missing_dependency() -> str | None:
    """Why plots cannot be drawn here (matplotlib missing or broken), or None when they can.

    Asked before rendering, because this module imports matplotlib only inside the
    functions that draw: importing the module itself always succeeds.
    """
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError as exc:
        return f"matplotlib cannot be imported ({exc}); {EXTRA_HINT}"
    return None


def subject_figure_png(subject: Subject) -> bytes | None:
    """One PNG per subject: step sweep and error histogram on top, heat maps of matrix parameters below.

    The layout is fixed by hand (no constrained layout): it halves the rendering time and
    keeps every figure of a report the same size.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    maps = [r for r in subject.params if r.heatmap is not None][:MAX_HEATMAPS]
    if subject.sweep is None and not subject.params:
        return None
    height = 3.6 + (3.0 if maps else 0.0)
    fig = Figure(figsize=(10, height), dpi=DPI)
    FigureCanvasAgg(fig)
    top = fig.add_gridspec(1, 2, left=0.08, right=0.98, top=1 - 0.75 / height, bottom=1 - 3.1 / height, wspace=0.25)
    if subject.sweep is not None:
        _sweep(fig.add_subplot(top[0, 0]), subject.sweep)
    _histogram(fig.add_subplot(top[0, 1]), subject.params)
    if maps:
        low = fig.add_gridspec(1, MAX_HEATMAPS, left=0.08, right=0.9, top=2.55 / height, bottom=0.45 / height,
                               wspace=0.35)
        image = None
        for i, row in enumerate(maps):
            image = _heatmap(fig.add_subplot(low[0, i]), row)
        bar = fig.colorbar(image, cax=fig.add_axes((0.915, 0.45 / height, 0.015, 2.1 / height)))
        bar.ax.tick_params(labelsize=7)
        _plain_log(bar.ax.yaxis, 2)
        bar.set_label("|analytic - numeric| / tolerance", fontsize=7)
    fig.suptitle(subject.name, fontsize=12, fontweight="bold")
    return _png(fig)


def _png(fig: Any) -> bytes:
    """PNG bytes, reduced to a 256-colour palette (a third of the size; the plots use few colours)
    and without a version string, so identical runs give identical bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    try:
        from PIL import Image  # a matplotlib dependency
    except ImportError:
        return buf.getvalue()
    small = io.BytesIO()
    Image.open(io.BytesIO(buf.getvalue())).convert("RGB").quantize(colors=256).save(small, format="PNG")
    return small.getvalue()


def _plain_log(axis: Any, every: int = 1) -> None:
    """Decade ticks labelled '1e-8' in plain text: matplotlib's default mathtext labels cost
    most of a figure's rendering time."""
    import math

    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10.0 ** every, numticks=30))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"1e{round(math.log10(v))}" if v > 0 else ""))
    axis.set_minor_formatter(NullFormatter())


def _sweep(ax: Any, sweep: StepSweep) -> None:
    """The V: rounding error falls as the step grows, truncation error rises; the default step sits near the bottom."""
    for scheme, errors in sweep.errors.items():
        color = COLORS.get(scheme, "black")
        shown = [max(e, REL_ERROR_FLOOR) for e in errors]
        ax.plot(sweep.steps, shown, "-", color=color, label=scheme, lw=1.5)
        faces = ["white" if r else color for r in sweep.refined[scheme]]
        ax.scatter(sweep.steps, shown, s=16, c=faces, edgecolors=color, zorder=3)
        ax.axvline(sweep.default_steps[scheme], color=color, ls="--", lw=1,
                   label=f"{scheme} default step {sweep.default_steps[scheme]:.1e}")
    ax.plot([], [], "o", color="gray", mfc="white", ms=4, label="step refined by the checker")
    ax.set_xscale("log")
    ax.set_yscale("log")
    top = max(10.0, 3 * max(max(v) for v in sweep.errors.values()))
    _plain_log(ax.xaxis, 2)
    _plain_log(ax.yaxis, 3)
    ax.set_ylim(REL_ERROR_FLOOR / 3, top)  # the same 17+ decades everywhere: a flat line reads as flat
    ax.set_xlabel(f"relative step h (reference: {sweep.reference.split(' (')[0]})", fontsize=8)
    ax.set_ylabel("max |FD - hand| / max |hand|")
    ax.set_title(f"Finite-difference error against step size (best {sweep.best:.1e})", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="best")


def _histogram(ax: Any, rows: tuple[ParamRow, ...]) -> None:
    """Where entries' relative errors fall; a wrong formula shows as a second cluster near 1."""
    import numpy as np

    values = [r.log_rel_errors for r in rows if r.log_rel_errors is not None and r.log_rel_errors.size]
    if not values:
        ax.set_axis_off()
        return
    data = 10.0 ** np.concatenate(values)
    bins = np.logspace(np.log10(REL_ERROR_FLOOR), 1, 37)
    ax.hist(data, bins=bins, color="#4c72b0", edgecolor="white")
    ax.set_xscale("log")
    _plain_log(ax.xaxis, 3)
    ax.set_xlabel(f"relative error per entry (< {REL_ERROR_FLOOR:.0e} shown at {REL_ERROR_FLOOR:.0e})")
    ax.set_ylabel("entries")
    ax.set_title(f"Relative errors, {data.size} entries over all checks", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)


def _heatmap(ax: Any, row: ParamRow) -> Any:
    """Entry-wise |analytic - numeric| / tolerance on one shared log scale; above 1 (red) is a mismatch."""
    import numpy as np
    from matplotlib.colors import LogNorm

    ratio = np.clip(np.nan_to_num(row.heatmap, nan=1e6, posinf=1e6), 1e-6, 1e6)
    image = ax.imshow(ratio, cmap="RdYlGn_r", norm=LogNorm(vmin=1e-6, vmax=1e6), aspect="auto", interpolation="nearest")
    where = row.worst_case.split(" (")[0]
    ax.set_title(f"{row.name}: error/tolerance, >1 fails\n{row.verdict.replace('_', ' ')} at {where}", fontsize=8)
    ax.set_ylabel(row.heatmap_axes[0], fontsize=8)
    ax.set_xlabel(row.heatmap_axes[1], fontsize=8)
    ax.tick_params(labelsize=7)
    return image
