"""JSON rendering: the model's own ``to_dict`` (``docs/report-schema.md``), strict JSON, stable layout."""

from __future__ import annotations

import json

from ._model import Report

__all__ = ["render_json"]


def render_json(report: Report) -> str:
    # allow_nan=False: the model turns NaN/Inf into null, and a stray one should fail loudly here
    # rather than produce a file that strict JSON parsers reject.
    # Compact separators: a third of the file was indentation and spaces after separators.
    return json.dumps(report.to_dict(), separators=(",", ":"), allow_nan=False, ensure_ascii=False) + "\n"
