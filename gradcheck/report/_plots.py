"""Plots for the HTML report, written as SVG text: one small figure per plot.

Why SVG by hand and not matplotlib: a report draws about four figures per derivation, and
matplotlib took 0.1-0.4 s for each (the whole plotting was 31 of a 40 s run, and all of a
``report merge``); these take about a millisecond, need no optional dependency, and scale
with the page (crisp text at 390 px and at 1400 px; a heat map's entries are one tiny embedded PNG, pixel per entry).
Each figure is laid out on a fixed grid (:data:`W` x its height, in CSS pixels at full size)
so that no two texts overlap; its title is the HTML caption around it, so a long title
wraps instead of running into its neighbour's. Everything drawn was computed by the model
(:class:`~._model.StepSweep`, ``ParamRow.heatmap``, ``ParamRow.log_rel_errors``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from ._model import REL_ERROR_FLOOR, ParamRow, StepSweep

__all__ = ["sweep_svg", "histogram_svg", "heatmap_svg", "text_boxes", "missing_dependency", "COLORS", "MAX_HEATMAPS",
           "W"]

MAX_HEATMAPS = 4
"""Heat maps per derivation (its first matrix parameters, in the derivation's order)."""
COLORS = {"central": "#1f77b4", "richardson": "#d62728"}
W = 340
"""Width of every figure in SVG units (CSS pixels at full size); the page scales it to its column."""
FONT = 12
CHAR_W = 0.62
"""Width of one character in font sizes, an upper bound for the digits and letters the plots write
(used to lay texts out and, in the tests, to prove that none overlaps another)."""
LEFT, RIGHT, TOP = 60, 12, 10
RATIO_DECADES = (-6, 6)
"""The heat maps' shared scale: |analytic - numeric| / tolerance from 1e-6 to 1e6, 1 in the middle."""


def _f(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, s: str, anchor: str = "middle", size: int = FONT, extra: str = "") -> str:
    return (f'<text x="{_f(x)}" y="{_f(y)}" font-size="{size}" text-anchor="{anchor}"{extra}>'
            f"{escape(s)}</text>")


def _svg(height: float, body: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {_f(height)}" role="img" '
            f'aria-label="{escape(label)}" font-family="system-ui,sans-serif" fill="#222">' + "".join(body) + "</svg>")


def _decade(k: int) -> str:
    return "1" if k == 0 else f"1e{k}"


class _LogAxes:
    """A plot area with log10 axes (or a linear y axis) and the rule from data to SVG units."""

    def __init__(self, x: tuple[float, float], y: tuple[float, float], height: float, bottom: float,
                 log_y: bool = True) -> None:
        self.x0, self.x1 = x
        self.y0, self.y1 = y
        self.log_y = log_y
        self.left, self.right = LEFT, W - RIGHT
        self.top, self.bottom = TOP, height - bottom

    def px(self, lx: float) -> float:
        return self.left + (lx - self.x0) / (self.x1 - self.x0) * (self.right - self.left)

    def py(self, ly: float) -> float:
        return self.bottom - (ly - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)

    def frame(self, xticks: Sequence[int], yticks: Sequence[float], xlabel: str, ylabel: str) -> list[str]:
        out = [f'<rect x="{self.left}" y="{self.top}" width="{self.right - self.left}" '
               f'height="{_f(self.bottom - self.top)}" fill="none" stroke="#888"/>']
        for k in xticks:
            x = self.px(k)
            out.append(f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{self.top}" y2="{_f(self.bottom)}" stroke="#ddd"/>')
            out.append(_text(x, self.bottom + FONT + 3, _decade(k)))
        for v in yticks:
            y = self.py(v)
            out.append(f'<line x1="{self.left}" x2="{self.right}" y1="{_f(y)}" y2="{_f(y)}" stroke="#ddd"/>')
            label = _decade(int(v)) if self.log_y else f"{v:g}"
            out.append(_text(self.left - 4, y + FONT / 3, label, anchor="end"))
        out.append(_text((self.left + self.right) / 2, self.bottom + 2 * FONT + 8, xlabel))
        mid = (self.top + self.bottom) / 2
        out.append(_text(12, mid, ylabel, extra=f' transform="rotate(-90 12 {_f(mid)})"'))
        return out


def _ticks(lo: int, hi: int, most: int) -> list[int]:
    step = max(1, math.ceil((hi - lo) / most))
    return list(range(lo, hi + 1, step))


def sweep_svg(sweep: StepSweep) -> str:
    """The V: rounding error falls as the step grows, truncation error rises; the default step sits
    near the bottom. A wrong formula is a flat line at the size of the mistake. Hollow markers: the
    checker shrank the step for some entries there."""
    legend_rows = len(sweep.errors) + 1
    height = 250 + 14 * legend_rows
    lx = [math.log10(s) for s in sweep.steps]
    ymax = max(1, math.ceil(math.log10(max(10.0, 3 * max(max(v) for v in sweep.errors.values())))))
    ax = _LogAxes((min(lx) - 0.3, max(lx) + 0.3), (math.log10(REL_ERROR_FLOOR) - 0.5, ymax), height,
                  bottom=height - 200)
    body = ax.frame(_ticks(math.ceil(min(lx)), math.floor(max(lx)), 4), _ticks(-16, ymax, 5)[::1],
                    "relative step h", "max|FD - hand| / max|hand|")
    legend_y = ax.bottom + 2 * FONT + 26
    for i, (scheme, errors) in enumerate(sweep.errors.items()):
        color = COLORS.get(scheme, "#333")
        pts = [(ax.px(x), ax.py(math.log10(max(e, REL_ERROR_FLOOR)))) for x, e in zip(lx, errors, strict=True)]
        d = math.log10(sweep.default_steps[scheme])
        body.append(f'<line x1="{_f(ax.px(d))}" x2="{_f(ax.px(d))}" y1="{ax.top}" y2="{_f(ax.bottom)}" '
                    f'stroke="{color}" stroke-dasharray="4 3"/>')
        body.append(f'<polyline points="{" ".join(f"{_f(x)},{_f(y)}" for x, y in pts)}" fill="none" '
                    f'stroke="{color}" stroke-width="1.5"/>')
        for (x, y), refined in zip(pts, sweep.refined[scheme], strict=True):
            body.append(f'<circle cx="{_f(x)}" cy="{_f(y)}" r="2.6" fill="{"#fff" if refined else color}" '
                        f'stroke="{color}"/>')
        y = legend_y + 14 * i
        body.append(f'<line x1="10" x2="28" y1="{_f(y - 4)}" y2="{_f(y - 4)}" stroke="{color}" stroke-width="1.5"/>')
        body.append(_text(34, y, f"{scheme}: default h {sweep.default_steps[scheme]:.1e} (dashed)", anchor="start",
                          size=11))
    y = legend_y + 14 * len(sweep.errors)
    body.append(f'<circle cx="19" cy="{_f(y - 4)}" r="2.6" fill="#fff" stroke="#666"/>')
    body.append(_text(34, y, "hollow: step refined by the checker", anchor="start", size=11))
    return _svg(height, body, f"finite-difference error against step size, best {sweep.best:.1e}")


HIST_BINS = 36


def histogram_svg(log_rel_errors: Sequence[float]) -> str | None:
    """Where entries' relative errors fall (log10, one bin per half decade); a wrong formula shows as
    a second cluster near 1. None without entries."""
    values = [float(v) for v in log_rel_errors]
    if not values:
        return None
    lo, hi = math.log10(REL_ERROR_FLOOR), 1.0
    width = (hi - lo) / HIST_BINS
    counts = [0] * HIST_BINS
    for v in values:
        counts[min(HIST_BINS - 1, max(0, int((v - lo) / width)))] += 1
    top = max(counts)
    height = 230
    ax = _LogAxes((lo, hi), (0, top * 1.08), height, bottom=height - 180, log_y=False)
    yticks = [t for t in _nice(top) if t <= top * 1.08]
    body = ax.frame(_ticks(-16, 0, 4), yticks, f"relative error (< {REL_ERROR_FLOOR:.0e} at left)",
                    "entries")
    for i, c in enumerate(counts):
        if c:
            x0, x1 = ax.px(lo + i * width), ax.px(lo + (i + 1) * width)
            body.append(f'<rect x="{_f(x0)}" y="{_f(ax.py(c))}" width="{_f(max(x1 - x0 - 0.8, 0.5))}" '
                        f'height="{_f(ax.bottom - ax.py(c))}" fill="#4c72b0"><title>{c} entries</title></rect>')
    return _svg(height, body, f"histogram of relative errors, {len(values)} entries")


def _nice(top: float) -> list[float]:
    """About four round tick values from 0 to ``top``."""
    if top <= 0:
        return [0.0]
    raw = top / 4
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    return [k * step for k in range(int(top // step) + 1)]


# RdYlGn reversed at nine anchors: green (far inside the tolerance) .. yellow (1) .. red (far outside)
_ANCHORS = ("#006837", "#1a9850", "#66bd63", "#d9ef8b", "#ffffbf", "#fee08b", "#f46d43", "#d73027", "#a50026")


def _color(t: float) -> str:
    """Colour at ``t`` in [0, 1] along :data:`_ANCHORS`, linearly between anchors."""
    t = min(1.0, max(0.0, t)) * (len(_ANCHORS) - 1)
    i = min(int(t), len(_ANCHORS) - 2)
    a, b = _ANCHORS[i], _ANCHORS[i + 1]
    u = t - i
    rgb = [round(int(a[k:k + 2], 16) * (1 - u) + int(b[k:k + 2], 16) * u) for k in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in rgb)


def _ratio_t(r: float) -> float:
    lo, hi = RATIO_DECADES
    if math.isnan(r) or r == math.inf:
        return 1.0
    return (math.log10(min(max(r, 10.0**lo), 10.0**hi)) - lo) / (hi - lo)


def heatmap_svg(row: ParamRow) -> str | None:
    """|analytic - numeric| / tolerance per entry on one log scale shared by every heat map (above 1,
    red, is a mismatch), with its colour bar beside it and integer row/column ticks."""
    m = row.heatmap
    if m is None:
        return None
    n_rows, n_cols = m.shape
    bar_w, gap = 10, 8
    plot_w = W - LEFT - RIGHT - bar_w - gap - 36
    cell = min(plot_w / n_cols, 230 / n_rows, 56)
    gw, gh = cell * n_cols, cell * n_rows
    height = TOP + gh + 2 * FONT + 14
    x0, y0 = LEFT, TOP
    pixels = [[_color(_ratio_t(float(m[i, j]))) for j in range(n_cols)] for i in range(n_rows)]
    body = [f'<image x="{x0}" y="{y0}" width="{_f(gw)}" height="{_f(gh)}" preserveAspectRatio="none" '
            f'style="image-rendering:pixelated" href="data:image/png;base64,{_png(pixels)}"/>']
    body.append(f'<rect x="{x0}" y="{y0}" width="{_f(gw)}" height="{_f(gh)}" fill="none" stroke="#888"/>')
    for j in _index_ticks(n_cols, gw / (FONT * CHAR_W * 3 + 4)):
        body.append(_text(x0 + (j + 0.5) * cell, y0 + gh + FONT + 2, str(j)))
    for i in _index_ticks(n_rows, gh / (FONT + 3)):
        body.append(_text(x0 - 4, y0 + (i + 0.5) * cell + FONT / 3, str(i), anchor="end"))
    body.append(_text(x0 + gw / 2, y0 + gh + 2 * FONT + 8, row.heatmap_axes[1]))
    mid = y0 + gh / 2
    body.append(_text(12, mid, row.heatmap_axes[0], extra=f' transform="rotate(-90 12 {_f(mid)})"'))
    # the colour bar, right beside the map, as tall as the map (at least 100 units, for its labels)
    bx = x0 + gw + gap
    bh = max(gh, 100.0)
    height = max(height, TOP + bh + 8)
    steps = 24
    for k in range(steps):
        body.append(f'<rect x="{_f(bx)}" y="{_f(y0 + bh * (1 - (k + 1) / steps))}" width="{bar_w}" '
                    f'height="{_f(bh / steps + 0.3)}" fill="{_color((k + 0.5) / steps)}"/>')
    lo, hi = RATIO_DECADES
    for dec in range(lo, hi + 1, 3):
        y = y0 + bh * (1 - (dec - lo) / (hi - lo))
        body.append(_text(bx + bar_w + 3, y + FONT / 3, _decade(dec), anchor="start", size=11))
    return _svg(height, body, f"heat map of error / tolerance for {row.name}")


def _png(pixels: list[list[str]]) -> str:
    """A tiny RGB PNG, one pixel per matrix entry, base64: the page scales it up without smoothing.
    About 1 KB for a 20 x 20 map where one SVG rectangle per entry took 40 KB."""
    import base64
    import struct
    import zlib

    raw = b"".join(b"\x00" + bytes.fromhex("".join(c[1:] for c in row)) for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    head = struct.pack(">IIBBBBB", len(pixels[0]), len(pixels), 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    return base64.b64encode(png).decode("ascii")


def _index_ticks(n: int, room: float) -> list[int]:
    """Integer positions 0 .. n-1, every k-th so that at most ``room`` labels fit."""
    k = max(1, math.ceil(n / max(room, 1)))
    return list(range(0, n, k))


def text_boxes(svg: str) -> list[tuple[str, float, float, float, float]]:
    """Every ``<text>`` of an SVG this module wrote, as (text, x0, y0, x1, y1) with a generous width
    (:data:`CHAR_W`); rotated labels as their rotated box. Used to show that no two texts overlap."""
    import re
    from html import unescape

    out = []
    for m in re.finditer(r'<text x="([-\d.]+)" y="([-\d.]+)" font-size="(\d+)" text-anchor="(\w+)"([^>]*)>(.*?)</text>',
                         svg):
        x, y, size = float(m.group(1)), float(m.group(2)), float(m.group(3))
        text = unescape(m.group(6))
        w = CHAR_W * size * len(text)
        x0 = {"start": x, "middle": x - w / 2, "end": x - w}[m.group(4)]
        if "rotate(-90" in m.group(5):
            out.append((text, x - size * 0.8, y - w / 2, x + size * 0.25, y + w / 2))
        else:
            out.append((text, x0, y - size * 0.8, x0 + w, y + size * 0.25))
    return out


def missing_dependency() -> str | None:
    """Why plots cannot be drawn here, or None. Always None: the plots are SVG written by this module
    with the standard library (kept so that callers written for the matplotlib plots still work)."""
    return None
