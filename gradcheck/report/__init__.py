"""Reports of gradient checks: compute once (``run_derivations``), render many times.

    >>> from gradcheck.report import run_derivations, make_report, write_report   # doctest: +SKIP
    >>> from gradcheck import registry
    >>> subjects = run_derivations(registry.derivations(), seeds=(0,))
    >>> report = make_report(subjects, origin="cli", command="example", options={})
    >>> write_report(report, "reports", ["md", "json"])

Renderers (Markdown, HTML, JSON, terminal) take a :class:`Report` and only format it;
every number they show was computed when the report was built. The JSON layout is
documented in ``docs/report-schema.md`` and ``schema.json`` next to this file.
"""

from ._model import (
    FAIL_ON,
    READABLE_SCHEMA_VERSIONS,
    REPORT_SCHEMA_VERSION,
    VERDICTS,
    Case,
    DirectionalSummary,
    ParamRow,
    ProofSummary,
    Report,
    StepSweep,
    Subject,
    case_verdict,
    worst_verdict,
)
from ._plots import missing_dependency as plots_unavailable
from ._proofs import ProofCache, proof_key
from ._run import (
    DEFAULT_SEEDS,
    DEFAULT_SIZE_VARIANTS,
    ORACLES,
    PROOF_BUDGET_S,
    SIZE_VARIANTS,
    default_step,
    environment,
    make_report,
    plan,
    prove_summary,
    run_derivations,
    select,
    source_date_epoch,
    step_sweep,
    timestamp,
)
from ._session import session_report
from ._shard import Merged, merge_shards, parse_shard, read_shard, shard_filename, shard_section, shard_units
from ._terminal import ProgressPrinter, render_summary, render_table
from ._text import headline
from ._write import BASENAME, FORMATS, parse_formats, render, write_atomic, write_report

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "READABLE_SCHEMA_VERSIONS",
    "VERDICTS",
    "FAIL_ON",
    "Case",
    "ParamRow",
    "DirectionalSummary",
    "ProofSummary",
    "StepSweep",
    "Subject",
    "Report",
    "case_verdict",
    "worst_verdict",
    "DEFAULT_SEEDS",
    "DEFAULT_SIZE_VARIANTS",
    "SIZE_VARIANTS",
    "run_derivations",
    "ORACLES",
    "PROOF_BUDGET_S",
    "plan",
    "prove_summary",
    "ProofCache",
    "proof_key",
    "merge_shards",
    "Merged",
    "parse_shard",
    "read_shard",
    "shard_filename",
    "shard_section",
    "shard_units",
    "step_sweep",
    "default_step",
    "select",
    "make_report",
    "source_date_epoch",
    "timestamp",
    "environment",
    "session_report",
    "FORMATS",
    "BASENAME",
    "parse_formats",
    "render",
    "write_atomic",
    "write_report",
    "plots_unavailable",
    "ProgressPrinter",
    "render_summary",
    "render_table",
    "headline",
    "schema_path",
]


def schema_path() -> str:
    """Path of the machine-readable JSON Schema of the report (draft 2020-12)."""
    from pathlib import Path

    return str(Path(__file__).with_name("schema.json"))
