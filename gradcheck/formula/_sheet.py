"""Formula sheets: TOML files of named formulas, each verified like ``gradcheck verify``.

    [sheet]
    title = "Least squares"

    [least_squares_x]
    loss = "sum((A@x - b)**2)"
    grads = { x = "2*A.T@(A@x - b)" }
    shapes = { A = "m,n", x = "n,1", b = "m,1" }
    notes = "001, gradient descent section"
    expect = "right"          # or "wrong": teaching material showing a slip

Every table other than ``[sheet]`` is one formula; its keys are :data:`ENTRY_KEYS`.
An outcome is ``pass`` (right, as expected), ``expected_fail`` (a slip shown wrong),
``fail`` (expected right, found wrong or inconclusive), ``unexpected_pass`` (a slip found
right), ``inconclusive`` (no oracle could settle it: neither confirmed nor refuted) or ``error``
(the formula could not be used). ``tex = "..."`` names the formula as a reader knows it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core._errors import FormulaError

__all__ = [
    "ENTRY_KEYS",
    "SheetEntry",
    "Sheet",
    "SheetOutcome",
    "load_sheet",
    "verify_sheet",
    "sheet_paths",
    "render_table",
    "render_markdown",
    "write_sheet_report",
    "OUTCOMES",
]

ENTRY_KEYS = (
    "loss",
    "grads",
    "shapes",
    "defs",
    "structure",
    "values",
    "layout",
    "order",
    "expect",
    "notes",
    "source",
    "points",
    "seed",
    "tex",
)
OUTCOMES = ("error", "fail", "unexpected_pass", "inconclusive", "expected_fail", "pass")
FAILING = frozenset({"error", "fail", "unexpected_pass", "inconclusive"})
"""Outcomes that are not as expected (an ``inconclusive`` formula is neither confirmed nor refuted)."""


@dataclass(frozen=True)
class SheetEntry:
    name: str
    loss: str
    grads: Mapping[str, str]
    shapes: Mapping[str, Any] = field(default_factory=dict)
    defs: Mapping[str, str] = field(default_factory=dict)
    structure: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)
    layout: str = "numerator"
    order: str | None = None
    expect: str = "right"
    notes: str = ""
    source: str = ""
    points: int | None = None
    seed: int | None = None
    line: int = 1
    tex: str = ""
    """The formula as a reader knows it in LaTeX, shown beside it in the outputs."""

    def run(self, *, seed: int | None = None, points: int | None = None, symbolic: bool = True) -> Any:
        from ._verify import verify

        return verify(
            loss=self.loss,
            grads=self.grads,
            shapes=self.shapes,
            defs=self.defs,
            structure=self.structure,
            values=self.values,
            layout=self.layout,
            order=self.order,
            seed=(self.seed or 0) if seed is None else seed,
            points=self.points or points or 3,
            symbolic=symbolic,
        )


@dataclass(frozen=True)
class Sheet:
    path: str
    title: str
    description: str
    entries: tuple[SheetEntry, ...]


@dataclass(frozen=True)
class SheetOutcome:
    entry: SheetEntry
    result: Any = None  # VerifyResult
    error: str | None = None

    @property
    def outcome(self) -> str:
        if self.result is None:
            return "error"
        if self.result.verdict == "inconclusive":
            return "inconclusive"
        right = self.result.verdict == "right"
        if self.entry.expect == "right":
            return "pass" if right else "fail"
        return "unexpected_pass" if right else "expected_fail"

    @property
    def as_expected(self) -> bool:
        return self.outcome in ("pass", "expected_fail")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.entry.name,
            "expect": self.entry.expect,
            "outcome": self.outcome,
            "notes": self.entry.notes,
            "source": self.entry.source,
            "tex": self.entry.tex,
            "error": self.error,
            "result": None if self.result is None else self.result.to_dict(),
        }


def _fail(path: str, what: str) -> FormulaError:
    return FormulaError(f"sheet {path}: {what}")


def _table(path: str, name: str, key: str, v: Any) -> dict[str, Any]:
    if not isinstance(v, Mapping):
        raise _fail(path, f'[{name}] {key} must be a table, e.g. {key} = {{ x = "..." }}')
    return dict(v)


MAX_SHEET_BYTES = 4 * 2**20
"""A sheet is a few KiB of formulas; more is not a sheet (and ``/dev/zero`` would be read until memory ran out)."""


def _read_text(p: Path) -> str:
    """The sheet's text: a regular UTF-8 file of at most :data:`MAX_SHEET_BYTES`, else a FormulaError saying which."""
    import stat

    try:
        with open(p, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise _fail(str(p), "is not a regular file (a device, pipe or directory); give a .toml file")
            data = f.read(MAX_SHEET_BYTES + 1)
    except OSError as exc:
        raise _fail(str(p), f"cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_SHEET_BYTES:
        raise _fail(str(p), f"is larger than {MAX_SHEET_BYTES // 2**20} MiB; a sheet is a few KiB of formulas")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(str(p), f"is not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start}); "
                            "save it as UTF-8") from None


def load_sheet(path: str | Path) -> Sheet:
    """Read and validate a sheet (every problem a FormulaError naming the file, formula and key)."""
    p = Path(path)
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser, as the package tomli
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise _fail(str(p), "reading a sheet needs Python 3.11+ or the tomli package (pip install tomli)") from None
    text = _read_text(p)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _fail(str(p), f"is not valid TOML ({exc})") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise _fail(str(p), "is nested too deeply to be a sheet") from None
    meta = data.pop("sheet", {})
    if not isinstance(meta, Mapping):
        raise _fail(str(p), "[sheet] must be a table (title, description)")
    entries = []
    for name, body in data.items():
        if not isinstance(body, Mapping):
            raise _fail(str(p), f"{name!r} must be a table of a formula ([{name}] with loss = ..., grads = ...)")
        unknown = sorted(set(body) - set(ENTRY_KEYS))
        if unknown:
            raise _fail(str(p), f"[{name}] has unknown key(s) {unknown}; known: {', '.join(ENTRY_KEYS)}")
        for key in ("loss", "grads"):
            if key not in body:
                raise _fail(str(p), f"[{name}] needs {key} = ...")
        expect = body.get("expect", "right")
        if expect not in ("right", "wrong"):
            raise _fail(str(p), f'[{name}] expect = {expect!r}: expected "right" or "wrong"')
        m = re.search(rf"^\[{re.escape(name)}\]|^\[\"{re.escape(name)}\"\]", text, re.MULTILINE)
        entries.append(
            SheetEntry(
                name=name,
                loss=body["loss"],
                grads=_table(str(p), name, "grads", body["grads"]),
                shapes=_table(str(p), name, "shapes", body.get("shapes", {})),
                defs=_table(str(p), name, "defs", body.get("defs", {})),
                structure=_table(str(p), name, "structure", body.get("structure", {})),
                values=_table(str(p), name, "values", body.get("values", {})),
                layout=body.get("layout", "numerator"),
                order=body.get("order"),
                expect=expect,
                notes=str(body.get("notes", "")),
                source=str(body.get("source", "")),
                points=body.get("points"),
                seed=body.get("seed"),
                tex=str(body.get("tex", "")),
                line=text[: m.start()].count("\n") + 1 if m else 1,
            )
        )
    if not entries:
        raise _fail(str(p), "contains no formula")
    return Sheet(
        path=str(p),
        title=str(meta.get("title", p.stem)),
        description=str(meta.get("description", "")),
        entries=tuple(entries),
    )


def verify_sheet(
    sheet: Sheet, *, seed: int | None = None, points: int | None = None, symbolic: bool = True
) -> list[SheetOutcome]:
    """Every formula of ``sheet``; a formula that cannot be used is an ``error`` outcome, not a crash."""
    out = []
    for e in sheet.entries:
        try:
            out.append(SheetOutcome(e, e.run(seed=seed, points=points, symbolic=symbolic)))
        except FormulaError as exc:
            out.append(SheetOutcome(e, error=str(exc)))
    return out


def sheet_paths() -> list[Path]:
    """The sheets shipped with gradcheck (``gradcheck/sheets/*.toml``)."""
    return sorted((Path(__file__).resolve().parent.parent / "sheets").glob("*.toml"))


# --------------------------------------------------------------------------- rendering
def _oracles(o: SheetOutcome) -> tuple[str, str, str]:
    r = o.result
    if r is None:
        return "-", "-", "-"
    fd = f"{sum(p.ok for p in r.points)}/{len(r.points)}"
    sym = r.symbolic.status if r.symbolic is not None else "-"
    mat = r.matrix.status if r.matrix is not None else "-"
    return fd, sym, mat


def _why(o: SheetOutcome) -> str:
    if o.result is None:
        return (o.error or "").splitlines()[0]
    r = o.result
    if r.verdict == "right":
        return ""
    return (r.diagnosis or (r.reasons[0] if r.reasons else "")).splitlines()[0][:140]


def render_table(sheet: Sheet, outcomes: Sequence[SheetOutcome]) -> str:
    """Plain-text table for the terminal."""
    rows = [("formula", "expect", "outcome", "fd", "symbolic", "matrix", "why")]
    for o in outcomes:
        rows.append(
            (
                o.entry.name + (f"  [{o.entry.tex}]" if o.entry.tex else ""),
                o.entry.expect,
                o.outcome.upper() if o.outcome in FAILING else o.outcome,
                *_oracles(o),
                _why(o),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    lines = [f"{sheet.title} ({sheet.path})"]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r[:6], widths, strict=False)) + ("  " + r[6] if r[6] else ""))
    counts = {k: sum(o.outcome == k for o in outcomes) for k in OUTCOMES}
    lines.append(", ".join(f"{n} {k}" for k, n in counts.items() if n) + f" of {len(outcomes)} formulas")
    return "\n".join(lines)


def render_markdown(sheet: Sheet, outcomes: Sequence[SheetOutcome]) -> str:
    esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = [
        f"# {sheet.title}",
        "",
        sheet.description,
        "",
        f"Sheet: `{sheet.path}`",
        "",
        "| formula | expect | outcome | finite differences | element-wise | matrix-level | why |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for o in outcomes:
        lines.append(
            "| " + " | ".join(esc(c) for c in (o.entry.name, o.entry.expect, o.outcome, *_oracles(o), _why(o))) + " |"
        )
    lines.append("")
    for o in outcomes:
        lines += [f"## {o.entry.name}", ""]
        if o.entry.tex:
            lines += [f"$${o.entry.tex}$$", ""]
        if o.entry.notes:
            lines += [o.entry.notes, ""]
        lines += ["```text", str(o.result) if o.result is not None else (o.error or ""), "```", ""]
    return "\n".join(lines)


def write_sheet_report(sheet: Sheet, outcomes: Sequence[SheetOutcome], out: str | Path) -> list[Path]:
    """``<out>/<sheet stem>.verify.{md,json}``, each written atomically."""
    from ..report import environment, timestamp, write_atomic

    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    stem = Path(sheet.path).stem
    data = {
        "schema": "gradcheck-sheet-report",
        "schema_version": 1,
        "generated_at": timestamp(),
        "environment": environment(),
        "sheet": sheet.path,
        "title": sheet.title,
        "ok": all(o.as_expected for o in outcomes),
        "counts": {k: sum(o.outcome == k for o in outcomes) for k in OUTCOMES},
        "formulas": [o.to_dict() for o in outcomes],
    }
    paths = [directory / f"{stem}.verify.md", directory / f"{stem}.verify.json"]
    write_atomic(paths[0], render_markdown(sheet, outcomes))
    write_atomic(paths[1], json.dumps(data, indent=1, allow_nan=False, default=_jsonable) + "\n")
    return paths


def _jsonable(v: Any) -> Any:
    import numpy as np

    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)
