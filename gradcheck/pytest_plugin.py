"""pytest plugin for gradcheck (registered through the ``pytest11`` entry point).

* the ``gradcheck`` fixture: ``gradcheck.check_grad / assert_grad / check_jacobian /
  assert_jacobian`` run the core checks and record every result of the test;
* each check adds ``gradcheck.<i>.function``, ``.verdict`` and ``.max_rel_error``
  properties to the test (they appear in ``--junitxml`` output);
* ``--gradcheck-report=DIR`` writes the Markdown/HTML/JSON report of every check the
  session made (``--gradcheck-format`` picks formats); under pytest-xdist, workers send
  their records to the controller through ``workeroutput`` and the controller writes one
  merged report.

Kept cheap to import: numpy, gradcheck's core and matplotlib are imported only when a
check runs or a report is written, so installing gradcheck costs other test suites nothing.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest

__all__ = ["GradcheckFixture", "GradcheckSession"]

WORKEROUTPUT_KEY = "gradcheck_records"
PLUGIN_NAME = "gradcheck-session"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradcheck", "gradient checks (gradcheck)")
    group.addoption("--gradcheck-report", metavar="DIR", default=None,
                    help="write a report of every check made through the gradcheck fixture to DIR")
    group.addoption("--gradcheck-format", metavar="FORMATS", default="md,html,json",
                    help="comma-separated report formats among md, html, json (default: all three)")


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(GradcheckSession(config), PLUGIN_NAME)


class GradcheckSession:
    """Collects records during the session; writes (or, on an xdist worker, ships) them at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.records: list[dict[str, Any]] = []
        self.written: list[str] = []
        self.is_worker = hasattr(config, "workerinput")

    def add(self, record: dict[str, Any]) -> None:
        self.records.append(record)

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
        from .report import parse_formats, write_report
        from .report._session import session_report

        formats = parse_formats(self.config.getoption("gradcheck_format"))
        args = " ".join(str(a) for a in self.config.invocation_params.args)
        return write_report(session_report(self.records, f"pytest {args}".strip()), out, formats)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker or not self.records:
            return
        verdicts = [r["verdict"] for r in self.records]
        counts = ", ".join(f"{verdicts.count(v)} {v}" for v in sorted(set(verdicts)))
        tests = len({r["nodeid"] for r in self.records})
        line = f"gradcheck: {len(self.records)} checks in {tests} tests ({counts})"
        terminalreporter.write_sep("-", "gradcheck")
        terminalreporter.write_line(line)
        for path in self.written:
            terminalreporter.write_line(f"gradcheck: wrote {path}")


class GradcheckFixture:
    """The ``gradcheck`` fixture: the core's checks, with every result recorded for the test.

    ``check_*`` return the result (a mismatch is recorded, not raised: the test may be
    checking that a wrong gradient is caught); ``assert_*`` raise
    :class:`gradcheck.GradientMismatch` on a mismatch, like the core functions.
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
        index = len(self.results)
        function = options.get("name") or getattr(fn, "__name__", None) or type(fn).__name__
        try:
            result = check(fn, deriv, params, **options)
        except Exception as exc:
            self._record(index, call, function, expected, None, f"{type(exc).__name__}: {exc}")
            raise
        self.results.append(result)
        self._record(index, call, result.function, expected, result, None)
        if expected and not result.ok:
            raise gradcheck.GradientMismatch(result.summary(options.get("max_entries", 5)), result)
        return result

    def _record(self, index: int, call: str, function: str, expected: bool | None, result: Any, error: str | None) -> None:
        from .report import case_verdict

        verdict = case_verdict(None if result is None else result.ok, expected)
        max_rel = None if result is None else max(p.max_rel_error for p in result.params.values())
        self._session.add({
            "nodeid": self._node.nodeid, "index": index, "call": call, "function": function,
            "expected_correct": expected, "verdict": verdict, "error": error,
            "result": None if result is None else result.to_dict(arrays=True),
        })
        props = self._node.user_properties  # what record_property appends to; shows in --junitxml
        props.append((f"gradcheck.{index}.function", function))
        props.append((f"gradcheck.{index}.verdict", verdict))
        if max_rel is not None:
            props.append((f"gradcheck.{index}.max_rel_error", f"{max_rel:.3g}"))


@pytest.fixture
def gradcheck(request: pytest.FixtureRequest) -> GradcheckFixture:
    """Gradient checks that are recorded for ``--gradcheck-report`` and the JUnit XML."""
    session = request.config.pluginmanager.get_plugin(PLUGIN_NAME)
    return GradcheckFixture(request.node, session)  # type: ignore[arg-type]
