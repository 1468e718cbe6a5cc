"""Building a report from the checks a pytest session made (the ``gradcheck`` fixture's records).

A record is plain JSON so that pytest-xdist workers can send it to the controller::

    {"nodeid": "tests/test_x.py::test_a", "index": 0, "call": "assert_grad", "function": "loss",
     "expected_correct": true, "result": GradCheckResult.to_dict(arrays=True) | null, "error": str | null}

Each (test, checked function) pair becomes one :class:`~._model.Subject`; each call one case.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._model import Case, DirectionalSummary, Report, Subject
from ._run import make_report
from ._serial import result_from_dict

__all__ = ["subjects_from_records", "session_report", "sort_records"]


def sort_records(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Test order, then call order: the same report whichever worker ran which test."""
    return sorted(records, key=lambda r: (str(r["nodeid"]), int(r["index"])))


def _case(rec: Mapping[str, Any]) -> Case:
    data = rec.get("result")
    if data is not None and data.get("kind") == "directional":  # check_grad chose directions for a slow loss
        result = DirectionalSummary(data)
    else:
        result = result_from_dict(data) if data is not None else None
    return Case(label=f"call {int(rec['index']) + 1}: {rec['call']}", seed=None, sizes={}, size_variant="-",
                expected_correct=rec.get("expected_correct"), result=result, error=rec.get("error"))


def subjects_from_records(records: Iterable[Mapping[str, Any]]) -> list[Subject]:
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for rec in sort_records(records):
        groups.setdefault((str(rec["nodeid"]), str(rec["function"])), []).append(rec)
    subjects = []
    for (nodeid, function), recs in groups.items():
        expectations = {r.get("expected_correct") for r in recs}
        kinds = {r["result"]["kind"] for r in recs if r.get("result") is not None} - {"directional"} or {"grad"}
        subjects.append(Subject(
            name=f"{nodeid} [{function}]", kind=sorted(kinds)[0],
            expected_correct=expectations.pop() if len(expectations) == 1 else None,
            cases=tuple(_case(r) for r in recs), info={"test": nodeid, "function": function},
        ))
    return subjects


def session_report(records: Sequence[Mapping[str, Any]], command: str) -> Report:
    return make_report(subjects_from_records(records), origin="pytest", command=command,
                       options={"fail_on": "mismatch"}, title="gradcheck report (pytest session)")
