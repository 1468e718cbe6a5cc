"""pytest plugin for gradcheck (registered through the ``pytest11`` entry point).

* every check a test makes is recorded, whether through the ``gradcheck`` fixture or by
  calling ``gradcheck.check_grad / assert_grad / check_jacobian / assert_jacobian``
  directly (the core tells :mod:`gradcheck.core._recording` of each result, and the plugin
  listens while each test runs: setup, call and teardown);
* each check adds ``gradcheck.<i>.function``, ``.verdict`` and ``.max_rel_error``
  properties to the test (they appear in ``--junitxml`` output);
* ``--gradcheck-report=DIR`` writes the Markdown/HTML/JSON report of every check the
  session made (``--gradcheck-format`` picks formats); under pytest-xdist, workers send
  their records to the controller through ``workeroutput`` and the controller writes one
  merged report;
* the terminal footer counts the checks by verdict and, for each verdict but ``pass``, how
  many were made in tests that failed: mismatches a test expects (``pytest.raises``, tests
  of a checker) leave a green suite, and the footer says so. Each record carries its test's
  outcome, so the count holds under xdist too.

A plain ``assert_grad`` that fails raises :class:`gradcheck.GradientMismatch` carrying its
result; the plugin sees it in the test's outcome and records that check as an assertion
(verdict ``fail``), as the fixture's ``assert_grad`` would. A plain ``check_grad`` states no
expectation: a mismatch is recorded as ``mismatch``.

Kept cheap to import: this module imports pytest and two standard-library-only modules of
gradcheck (:mod:`._recording`, :mod:`._naming`); numpy and the core are imported
only when a check runs or a report is written, so installing gradcheck costs other test
suites nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import pytest

from .core import _recording
from .core._naming import display_name, shorten

__all__ = ["GradcheckFixture", "GradcheckSession"]

WORKEROUTPUT_KEY = "gradcheck_records"
PLUGIN_NAME = "gradcheck-session"
MAX_PROPERTY_CHECKS = 50
"""JUnit properties are written for this many checks per test (a hypothesis test can make
hundreds); ``gradcheck.checks`` then gives the total. The report records them all."""


def pytest_collect_file(file_path: Any, parent: Any) -> Any:
    """Formula sheets named ``gradcheck_*.toml`` are collected as tests, one per formula."""
    if not (file_path.name.startswith("gradcheck_") and file_path.suffix == ".toml"):
        return None
    from .formula import pytest_collect_file as collect

    return collect(file_path, parent)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradcheck", "gradient checks (gradcheck)")
    group.addoption("--gradcheck-report", metavar="DIR", default=None,
                    help="write a report of every gradient check the tests make to DIR")
    group.addoption("--gradcheck-format", metavar="FORMATS", default="md,html,json",
                    help="comma-separated report formats among md, html, json (default: all three)")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("gradcheck_report"):
        _validate_report_options(config)
    config.pluginmanager.register(GradcheckSession(config), PLUGIN_NAME)


def _validate_report_options(config: pytest.Config) -> None:
    """A bad format or SOURCE_DATE_EPOCH stops the session before the tests, not after them."""
    from . import InvalidArgumentError
    from .report import parse_formats, source_date_epoch

    try:
        parse_formats(config.getoption("gradcheck_format"))
        source_date_epoch()
    except InvalidArgumentError as exc:
        raise pytest.UsageError(f"--gradcheck-report: {exc}") from None


@dataclass
class _Check:
    """One check of one test: the core's result (None if it raised) and how it was asked for."""

    call: str
    function: str
    expected: bool | None
    result: Any = None
    error: str | None = None

    def verdict(self) -> str:
        from .report import case_verdict

        if self.result is None:
            return case_verdict(None, self.expected)
        return case_verdict(self.result.ok, self.expected, self.result.verdict == "inconclusive")

    def max_rel_error(self) -> float | None:
        params = getattr(self.result, "params", None)  # a check along directions has no entry-wise params
        if not params:
            return None
        return max((p.max_rel_error for p in params.values()), default=None)


class _TestChecks:
    """The checks one test made, in order; the listener the plugin subscribes for that test."""

    def __init__(self, item: pytest.Item) -> None:
        self.item = item
        self.checks: list[_Check] = []
        self.n_written = 0  # checks whose JUnit properties are already on the item
        self.test_failed = False  # a phase (setup, call, teardown) of the test failed

    def on_result(self, result: Any) -> None:
        """The core finished a check (fixture or not); the fixture annotates its own afterwards."""
        if not hasattr(result, "params") or not hasattr(result, "function"):
            return  # not a check result (someone else's use of the hook)
        call = "check_jacobian" if getattr(result, "kind", "grad") == "jacobian" else "check_grad"
        self.checks.append(_Check(call=call, function=shorten(str(result.function)), expected=None, result=result))

    def claim(self, result: Any, call: str, function: str, expected: bool | None) -> None:
        """The fixture made the check behind ``result``: record its call, name and expectation."""
        check = next((c for c in reversed(self.checks) if c.result is result), None)
        if check is None:  # a core that does not emit: record it here
            check = _Check(call=call, function=function, expected=expected, result=result)
            self.checks.append(check)
        check.call, check.function, check.expected = call, function, expected

    def note_outcome(self, exc: BaseException | None) -> None:
        """A GradientMismatch from a plain ``assert_*`` carries its result: that check was an assertion."""
        if exc is None or not self.checks:
            return
        from . import GradientMismatch

        seen: set[int] = set()
        while exc is not None and id(exc) not in seen:
            seen.add(id(exc))
            if isinstance(exc, GradientMismatch) and exc.result is not None:
                for c in self.checks:
                    if c.result is exc.result and c.expected is None:
                        c.expected = True
                        c.call = c.call.replace("check_", "assert_")
            exc = exc.__cause__ or exc.__context__

    def write_properties(self) -> None:
        """JUnit properties of the checks made since the last phase (junitxml reads them at teardown)."""
        props = self.item.user_properties  # what record_property appends to
        for index in range(self.n_written, len(self.checks)):
            if index < MAX_PROPERTY_CHECKS:
                check = self.checks[index]
                props.append((f"gradcheck.{index}.function", check.function))
                props.append((f"gradcheck.{index}.verdict", check.verdict()))
                max_rel = check.max_rel_error()
                if max_rel is not None:
                    props.append((f"gradcheck.{index}.max_rel_error", f"{max_rel:.3g}"))
        if len(self.checks) > MAX_PROPERTY_CHECKS:
            props[:] = [p for p in props if p[0] != "gradcheck.checks"]
            props.append(("gradcheck.checks", str(len(self.checks))))
        self.n_written = len(self.checks)

    def records(self, full: bool) -> list[dict[str, Any]]:
        """Plain-JSON records (``full``: with the whole result, which only a report needs)."""
        return [{
            "nodeid": self.item.nodeid, "index": i, "call": c.call, "function": c.function,
            "expected_correct": c.expected, "verdict": c.verdict(), "error": c.error,
            "in_failed_test": self.test_failed,
            "result": _result_dict(c.result) if full and c.result is not None else None,
        } for i, c in enumerate(self.checks)]


def _result_dict(result: Any) -> dict[str, Any]:
    """A result as JSON, with every entry where it has entries (a check along directions has none)."""
    from . import DirectionalResult  # the core is loaded: it made ``result``

    return result.to_dict() if isinstance(result, DirectionalResult) else result.to_dict(arrays=True)


class GradcheckSession:
    """Collects records during the session; writes (or, on an xdist worker, ships) them at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.records: list[dict[str, Any]] = []
        self.written: list[str] = []
        self.is_worker = hasattr(config, "workerinput")
        self.want_results = bool(config.getoption("gradcheck_report"))
        self.current: _TestChecks | None = None

    def add(self, record: dict[str, Any]) -> None:
        self.records.append(record)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, None]:
        """Listen to the core while the test runs (setup, call, teardown); keep its records afterwards."""
        checks = _TestChecks(item)
        self.current = checks
        handle = _recording.listen(checks.on_result)
        try:
            yield
        finally:
            _recording.unlisten(handle)
            self.current = None
            self.records.extend(checks.records(full=self.want_results))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
        checks = self.current
        if checks is not None and checks.item is item:
            checks.note_outcome(call.excinfo.value if call.excinfo is not None else None)
            checks.write_properties()  # before the phase's report copies item.user_properties
        outcome = yield
        report = outcome.get_result() if getattr(outcome, "excinfo", None) is None else None
        if checks is not None and checks.item is item and report is not None and report.failed:
            checks.test_failed = True  # records are made after teardown, so every phase counts

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """xdist controller: a worker finished; take its records."""
        payload = getattr(node, "workeroutput", {}).get(WORKEROUTPUT_KEY)
        if payload:
            self.records.extend(json.loads(payload))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.is_worker:
            self.config.workeroutput[WORKEROUTPUT_KEY] = json.dumps(self.records)  # type: ignore[attr-defined]
            return
        out = self.config.getoption("gradcheck_report")
        if out and self.records:
            self.written = [str(p) for p in self._write(out)]

    def _write(self, out: str) -> list[Any]:
        from .report import parse_formats, session_report, write_report

        formats = parse_formats(self.config.getoption("gradcheck_format"))
        args = " ".join(str(a) for a in self.config.invocation_params.args)
        return write_report(session_report(self.records, f"pytest {args}".strip()), out, formats)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker or not self.records:
            return
        line, alarming = footer(self.records)
        terminalreporter.write_sep("-", "gradcheck")
        terminalreporter.write_line(line, red=alarming)
        for path in self.written:
            terminalreporter.write_line(f"gradcheck: wrote {path}")


VERDICT_ORDER = ("pass", "fail", "mismatch", "error", "inconclusive", "expected_fail", "unexpected_pass")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def footer(records: list[dict[str, Any]]) -> tuple[str, bool]:
    """The session's line, and whether a check that did not pass sat in a failed test.

    A mismatch is often what a test asks for (``pytest.raises(GradientMismatch)``, a test
    of the checker): each verdict but ``pass`` says how many of its checks were in failed
    tests, so a green suite reads "(0 in failed tests)" rather than a bare count of failures.
    """
    counts: dict[str, list[int]] = {}
    for r in records:
        tally = counts.setdefault(r["verdict"], [0, 0])
        tally[0] += 1
        tally[1] += bool(r.get("in_failed_test"))
    order = sorted(counts, key=lambda v: (VERDICT_ORDER.index(v) if v in VERDICT_ORDER else len(VERDICT_ORDER), v))
    parts = []
    for verdict in order:
        n, in_failed = counts[verdict]
        word = "FAIL" if verdict == "fail" else verdict
        if verdict == "pass":
            parts.append(f"{n:,} {word}")
        else:
            parts.append(f"{n:,} {word} ({in_failed:,} in {'a failed test' if in_failed == 1 else 'failed tests'})")
    tests = len({r["nodeid"] for r in records})
    alarming = any(in_failed for v, (_, in_failed) in counts.items() if v != "pass")
    return f"gradcheck: {_count(len(records), 'check')} in {_count(tests, 'test')}: {', '.join(parts)}", alarming


class GradcheckFixture:
    """The ``gradcheck`` fixture: the core's checks, named and with their expectation recorded.

    ``check_*`` return the result (a mismatch is recorded, not raised: the test may be
    checking that a wrong gradient is caught); ``assert_*`` raise
    :class:`gradcheck.GradientMismatch` on a mismatch, like the core functions. Plain calls
    of the core are recorded too; the fixture adds the function's readable name (a lambda
    with its file and line), errors the check raised, and ``results``.
    """

    def __init__(self, node: pytest.Item, session: GradcheckSession) -> None:
        self._node = node
        self._session = session
        self.results: list[Any] = []

    def check_grad(self, loss: Callable[[Any], Any], grad: Callable[[Any], Any], params: Any, **options: Any) -> Any:
        __tracebackhide__ = True
        return self._run("check_grad", None, loss, grad, params, options)

    def assert_grad(self, loss: Callable[[Any], Any], grad: Callable[[Any], Any], params: Any, **options: Any) -> Any:
        __tracebackhide__ = True
        return self._run("assert_grad", True, loss, grad, params, options)

    def check_jacobian(self, fn: Callable[[Any], Any], jac: Callable[[Any], Any], x: Any, **options: Any) -> Any:
        __tracebackhide__ = True
        return self._run("check_jacobian", None, fn, jac, x, options)

    def assert_jacobian(self, fn: Callable[[Any], Any], jac: Callable[[Any], Any], x: Any, **options: Any) -> Any:
        __tracebackhide__ = True
        return self._run("assert_jacobian", True, fn, jac, x, options)

    def _run(self, call: str, expected: bool | None, fn: Callable[[Any], Any], deriv: Callable[[Any], Any],
             params: Any, options: dict[str, Any]) -> Any:
        __tracebackhide__ = True  # a failure points at the test's line, not at the plugin
        import gradcheck

        check = gradcheck.check_grad if call.endswith("grad") else gradcheck.check_jacobian
        checks = self._session.current
        detached = checks is None or checks.item is not self._node  # kept and called after its test ended
        if detached:
            checks = _TestChecks(self._node)
        assert checks is not None
        given = options.get("name")
        function = display_name(fn, given if isinstance(given, str) else None)
        try:
            try:
                result = check(fn, deriv, params, **options)
            except Exception as exc:
                checks.checks.append(_Check(call=call, function=function, expected=expected,
                                            error=f"{type(exc).__name__}: {exc}"))
                raise
            checks.claim(result, call, function, expected)
        finally:
            if detached:
                self._session.records.extend(checks.records(full=self._session.want_results))
        self.results.append(result)
        if expected and not result.ok:
            from .judge._headline import failure_message

            raise gradcheck.GradientMismatch(failure_message(result, options.get("max_entries", 5)), result)
        return result


@pytest.fixture
def gradcheck(request: pytest.FixtureRequest) -> GradcheckFixture:
    """Gradient checks recorded with their expectation for ``--gradcheck-report`` and the JUnit XML."""
    session = request.config.pluginmanager.get_plugin(PLUGIN_NAME)
    return GradcheckFixture(request.node, session)  # type: ignore[arg-type]
