"""Sharding a report over processes or machines, and merging the shards back into one report.

The work of a report is a list of units (:func:`._run.plan`): one per check ``(derivation,
size variant, seed)`` and, with ``--oracle both``, one proof per derivation. Shard ``i`` of
``n`` takes every ``n``-th unit of that list sorted by its text, starting at the ``i``-th: the
same slice for the same registry and options on every machine, and each derivation's checks
and proof spread over the shards (round robin over a sorted list balances costs that vary by
derivation). A shard writes the report JSON of its units with every entry's arrays (so the
merged HTML has its plots) and a ``shard`` section; :func:`merge_shards` checks that the
shards fit together and rebuilds the report the one-process run would have written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from ..core._errors import InvalidArgumentError
from ._model import REPORT_SCHEMA_VERSION, Report, Subject
from ._run import Unit, timestamp

__all__ = ["parse_shard", "shard_units", "shard_section", "shard_filename", "merge_shards", "read_shard", "Merged"]


class Merged(NamedTuple):
    """The merged report, and whether the shards computed the plots' data (not with ``--no-plots``)."""

    report: Report
    plots: bool


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/3"`` -> ``(2, 3)``: shard 2 of 3, counted from 1."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise InvalidArgumentError(f"--shard={text!r}: expected I/N, e.g. 1/4 for the first of four shards")
    i, n = int(m.group(1)), int(m.group(2))
    if not 1 <= i <= n:
        raise InvalidArgumentError(f"--shard={text!r}: I must be between 1 and N ({n})")
    return i, n


def _key(unit: Unit) -> str:
    return "\x1f".join(unit)


def shard_units(units: Sequence[Unit], index: int, count: int) -> list[Unit]:
    """Shard ``index`` (from 1) of ``count``: round robin over the units sorted by their text."""
    ordered = sorted(units, key=_key)
    return [u for k, u in enumerate(ordered) if k % count == index - 1]


def shard_section(units: Sequence[Unit], mine: Sequence[Unit], index: int, count: int, sweep: bool) -> dict[str, Any]:
    """The ``shard`` section of a shard's JSON: which slice of which plan it holds."""
    return {"index": index, "count": count, "sweep": sweep, "plan": [list(u) for u in units],
            "units": [list(u) for u in mine]}


def shard_filename(index: int, count: int) -> str:
    return f"gradcheck-report.shard-{index}-of-{count}.json"


def read_shard(path: str | Path) -> dict[str, Any]:
    """A shard's JSON, or :class:`~gradcheck.InvalidArgumentError` naming the file and what is wrong."""
    p = Path(path)
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidArgumentError(f"{p}: cannot read it ({exc.strerror or exc})") from None
    except ValueError as exc:  # UnicodeDecodeError included
        raise InvalidArgumentError(f"{p}: not JSON ({exc})") from None
    except RecursionError:  # json's parser recurses once per bracket: no shard is nested that deep
        raise InvalidArgumentError(f"{p}: not a shard (JSON nested too deeply)") from None
    if not isinstance(d, dict) or d.get("schema") != "gradcheck-report":
        raise InvalidArgumentError(f"{p}: not a gradcheck report JSON")
    if d.get("schema_version") != REPORT_SCHEMA_VERSION:
        raise InvalidArgumentError(f"{p}: report schema_version {d.get('schema_version')!r}, this gradcheck "
                                   f"merges version {REPORT_SCHEMA_VERSION}: re-run the shard with this version")
    if not isinstance(d.get("shard"), dict):
        raise InvalidArgumentError(f"{p}: a whole report, not a shard (write shards with gradcheck report "
                                   "--shard I/N)")
    return d


def _same(field: str, shards: Mapping[Path, Mapping[str, Any]], get: Any) -> None:
    """Every shard must agree on ``get(shard)``; the error names two files that differ."""
    items = list(shards.items())
    first_path, first = items[0]
    for path, d in items[1:]:
        if get(d) != get(first):
            detail = ""
            if isinstance(get(d), Mapping):
                keys = sorted(k for k in set(get(d)) | set(get(first)) if get(d).get(k) != get(first).get(k))
                detail = "; " + ", ".join(f"{k}: {get(first).get(k)!r} vs {get(d).get(k)!r}" for k in keys)
            raise InvalidArgumentError(f"{first_path} and {path} do not come from the same run: different "
                                       f"{field}{detail}")


def _check_fit(shards: Mapping[Path, Mapping[str, Any]]) -> None:
    _same("gradcheck versions", shards, lambda d: d["environment"].get("gradcheck"))
    _same("options", shards, lambda d: d["options"])
    _same("shard counts", shards, lambda d: d["shard"]["count"])
    _same("plans (registry, --only, --seeds or --sizes differ)", shards, lambda d: d["shard"]["plan"])
    _same("plot settings (--no-plots)", shards, lambda d: d["shard"]["sweep"])
    count = next(iter(shards.values()))["shard"]["count"]
    seen: dict[int, Path] = {}
    for path, d in shards.items():
        i = d["shard"]["index"]
        if i in seen:
            raise InvalidArgumentError(f"overlapping shards: {seen[i]} and {path} are both shard {i}/{count}")
        seen[i] = path
    missing = [i for i in range(1, count + 1) if i not in seen]
    if missing:
        given = ", ".join(f"{p} as {i}/{count}" for i, p in sorted(seen.items()))
        raise InvalidArgumentError(f"missing shard(s) {', '.join(f'{i}/{count}' for i in missing)} (given: {given})")
    plan = [tuple(u) for u in next(iter(shards.values()))["shard"]["plan"]]
    for path, d in shards.items():
        want = shard_units(plan, d["shard"]["index"], count)  # type: ignore[arg-type]
        if [tuple(u) for u in d["shard"]["units"]] != want:
            raise InvalidArgumentError(f"{path}: its units are not shard {d['shard']['index']}/{count} of its plan")


def _merge_subject(name: str, parts: Sequence[Mapping[str, Any]], plan: Sequence[Unit]) -> Subject:
    """One derivation's pieces from several shards, cases in the plan's order."""
    cases = {(c["size_variant"], str(c["seed"])): c for p in parts for c in p["cases"]}
    ordered = [cases[(v, s)] for n, v, s in plan if n == name and v != "proof"]
    first = parts[0]
    d = {**first, "cases": ordered,
         "step_sweep": next((p["step_sweep"] for p in parts if p.get("step_sweep") is not None), None),
         "symbolic_proof": next((p["symbolic_proof"] for p in parts if p.get("symbolic_proof") is not None), None)}
    return Subject.from_dict(d)


def merge_shards(paths: Sequence[str | Path]) -> Merged:
    """The report the one-process run would have made, from the JSON of all its shards.

    Errors (:class:`~gradcheck.InvalidArgumentError`, naming the files): a file that is not a
    shard of this schema version, shards of different runs (gradcheck version, options, plan,
    shard count, plot settings), two shards with the same index, a missing shard.
    """
    if not paths:
        raise InvalidArgumentError("merge: give the JSON files of every shard")
    shards: dict[Path, dict[str, Any]] = {}
    for p in paths:
        path = Path(p)
        if path in shards:
            raise InvalidArgumentError(f"overlapping shards: {path} is given twice")
        shards[path] = read_shard(path)
    try:
        return _merge(shards)
    except InvalidArgumentError:  # already names the files and what is wrong (and is a ValueError)
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:  # a shard edited or truncated by hand
        detail = f"missing {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise InvalidArgumentError(f"the shards are malformed ({detail}); write them again with gradcheck "
                                   "report --shard I/N") from None


def _merge(shards: Mapping[Path, Mapping[str, Any]]) -> Merged:
    _check_fit(shards)
    first = next(iter(shards.values()))
    plan = [tuple(u) for u in first["shard"]["plan"]]
    parts: dict[str, list[Mapping[str, Any]]] = {}
    for d in sorted(shards.values(), key=lambda d: d["shard"]["index"]):
        for s in d["subjects"]:
            parts.setdefault(s["name"], []).append(s)
    names = list(dict.fromkeys(u[0] for u in plan))
    subjects = [_merge_subject(n, parts[n], plan) for n in names]  # type: ignore[arg-type]
    report = Report(title=first["title"], origin=first["origin"], command=first["command"], options=first["options"],
                    subjects=tuple(subjects), generated_at=timestamp(), environment=first["environment"])
    return Merged(report, bool(first["shard"]["sweep"]))
