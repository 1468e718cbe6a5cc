"""The ``gradcheck`` command line.

    gradcheck report [--only PATTERN,...] [--seeds 0,1,2|N] [--sizes default,x2,large] [--format md,html,json]
                     [--out DIR] [--fail-on mismatch|unexpected|inconclusive|never] [--module pkg.mod] [--method NAME]
                     [--oracle fd|both] [--proof-budget SECONDS] [--shard I/N]
    gradcheck report merge SHARD.json ... [--out DIR] [--format md,html,json] [--no-plots]
    gradcheck list   [--only PATTERN,...] [--module pkg.mod]
    gradcheck verify --loss EXPR --grad NAME=EXPR --shape NAME=D1,D2 ... | --sheet FILE.toml

Exit status of ``report``: 0 when every expected result held, 1 when the ``--fail-on``
policy is violated (default ``mismatch``: a derivation expected to be correct mismatched
or raised), 2 for usage errors (bad option values, a malformed ``SOURCE_DATE_EPOCH``,
unknown derivations, modules that cannot be imported or raise on import, an ``--out``
that cannot be written; for ``merge``, shards that overlap, are missing or come from
different runs), 130 when interrupted (no report file is replaced then). ``--shard I/N``
writes only ``gradcheck-report.shard-I-of-N.json`` (the JSON of its slice of the checks);
``report merge`` turns all N into the report one process would have written. Exit status
of ``verify``: 0 right, 1 wrong or inconclusive, 2 a usage or parse error.

``--module`` names are imported with the current directory on ``sys.path``, under the
console script as under ``python -m gradcheck``, so ``--module mymod`` finds ``./mymod.py``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "build_parser", "parse_seeds", "parse_list"]

PROG = "gradcheck"


class UsageError(Exception):
    """A bad option value; reported with the option's name and exit status 2."""


MAX_SEED = 2**32 - 1
"""Seeds are drawn from 0 .. 2**32 - 1, the range ``gradcheck.strategies`` draws them from."""
MAX_SEED_COUNT = 10_000
"""A count beyond this is a typo, not a run (each seed checks every derivation at every size)."""


def parse_seeds(text: str) -> list[int]:
    """``"3"`` -> seeds 0, 1, 2 (a count); ``"0,5,9"`` -> those seeds; ``"7,"`` -> seed 7 alone."""
    hint = ("expected a count (e.g. 3 for seeds 0,1,2) or a comma-separated list of seeds "
            f"0 .. {MAX_SEED} (e.g. 0,5,9; 7, for seed 7 alone)")
    parts = [p.strip() for p in text.split(",")]
    try:
        if len(parts) == 1:
            count = int(parts[0])
            if count < 1:
                raise UsageError(f"--seeds={text!r}: a count must be at least 1; {hint}")
            if count > MAX_SEED_COUNT:
                alone = f"; for seed {count} alone write '{count},'" if count <= MAX_SEED else f"; {hint}"
                raise UsageError(f"--seeds={text!r}: a count must be at most {MAX_SEED_COUNT}{alone}")
            return list(range(count))
        seeds = [int(p) for p in parts if p]
    except ValueError:
        raise UsageError(f"--seeds={text!r}: {hint}") from None
    bad = [s for s in seeds if not 0 <= s <= MAX_SEED]
    if not seeds or bad:
        what = f"seed {bad[0]} is out of range; " if bad else ""
        raise UsageError(f"--seeds={text!r}: {what}{hint}")
    return list(dict.fromkeys(seeds))


def parse_list(values: Sequence[str] | None) -> list[str]:
    """Repeated and comma-separated option values, flattened: ``--only a,b --only c``."""
    return [item.strip() for v in values or () for item in v.split(",") if item.strip()]


def _parse_sizes(text: str) -> list[str]:
    from .report import SIZE_VARIANTS

    names = list(dict.fromkeys(parse_list([text])))
    bad = [n for n in names if n not in SIZE_VARIANTS]
    if bad or not names:
        raise UsageError(f"--sizes={text!r}: expected a comma-separated list of {', '.join(SIZE_VARIANTS)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    from . import METHODS

    parser = argparse.ArgumentParser(prog=PROG, description="Check hand-derived gradients against finite differences.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    rep = sub.add_parser("report", help="check every registered derivation and write Markdown/HTML/JSON reports",
                         description="Run every registered derivation (built-ins, entry points, --module) over several "
                                     "seeds and sizes; print a summary table and write reports.")
    rep.add_argument("--only", action="append", metavar="PATTERN[,PATTERN]",
                     help="derivation names or glob patterns (e.g. 'least_squares.*'); repeatable")
    rep.add_argument("--seeds", default="3", metavar="N|S1,S2,...",
                     help="a count (3: seeds 0,1,2; the default) or a list of seeds (0,5,9; '7,' for seed 7 alone)")
    rep.add_argument("--sizes", default="default,x2", metavar="VARIANTS",
                     help="size variants: default (registered sizes), x2 (every size doubled), large (the large sizes "
                          "some derivations register, about 1e5 parameters, checked along directions); default: "
                          "default,x2")
    rep.add_argument("--format", default="md,html,json", metavar="FORMATS",
                     help="comma-separated report formats among md, html, json (or all); default: all three")
    rep.add_argument("--out", default="reports", metavar="DIR",
                     help="directory for gradcheck-report.* (default: reports)")
    rep.add_argument("--fail-on", default="mismatch", choices=("mismatch", "unexpected", "inconclusive", "never"),
                     help="exit 1 when: a derivation expected correct mismatches or errors (mismatch, default); that, "
                          "or a published slip unexpectedly passes (unexpected); that, or a check could not resolve "
                          "1e-6 (inconclusive); never")
    rep.add_argument("--module", action="append", metavar="PKG.MOD",
                     help="import a module that registers more derivations; repeatable")
    rep.add_argument("--method", choices=METHODS, default=None, help="finite-difference scheme (default: richardson)")
    rep.add_argument("--oracle", choices=("fd", "both"), default="fd",
                     help="fd: finite differences (default); both: also the exact sympy derivative in every check and "
                          "one proof per derivation at its default sizes (minutes more)")
    rep.add_argument("--proof-budget", type=float, default=None, metavar="SECONDS",
                     help="with --oracle both: wall time one derivation's proof may take before it is reported n/a "
                          "(default 120; a proof cut by the clock depends on the machine's load)")
    rep.add_argument("--shard", metavar="I/N", default=None,
                     help="run only the I-th of N stable slices of the checks and write its JSON "
                          "(gradcheck-report.shard-I-of-N.json); combine them with 'gradcheck report merge'")
    rep.add_argument("--no-plots", action="store_true", help="leave the plots (and matplotlib) out of the HTML report")
    rep.add_argument("--no-progress", action="store_true", help="no progress output")
    rep.add_argument("--quiet", "-q", action="store_true", help="print only the final verdict line")
    rep.set_defaults(func=_cmd_report)
    rep_sub = rep.add_subparsers(dest="report_command", metavar="merge", required=False)
    mrg = rep_sub.add_parser("merge", help="combine the JSON of every shard into one report",
                             description="Combine the JSON files written by 'gradcheck report --shard I/N' (all N "
                                         "of them) into the report one process would have written.")
    mrg.add_argument("shards", nargs="+", metavar="SHARD.json")
    mrg.add_argument("--out", default="reports", metavar="DIR", help="directory for gradcheck-report.* (default: "
                                                                      "reports)")
    mrg.add_argument("--format", default="md,html,json", metavar="FORMATS",
                     help="comma-separated report formats among md, html, json (or all); default: all three")
    mrg.add_argument("--no-plots", action="store_true", help="leave the plots out of the HTML report")
    mrg.add_argument("--quiet", "-q", action="store_true", help="print only the final verdict line")
    mrg.set_defaults(func=_cmd_merge)
    lst = sub.add_parser("list", help="list the registered derivations")
    lst.add_argument("--only", action="append", metavar="PATTERN[,PATTERN]")
    lst.add_argument("--module", action="append", metavar="PKG.MOD")
    lst.set_defaults(func=_cmd_list)
    from .formula import add_parser as add_verify_parser

    add_verify_parser(sub)
    return parser


def _derivations(args: argparse.Namespace) -> list[Any]:
    """Load --module contributions, then select with --only (errors name the option)."""
    from . import InvalidArgumentError, registry
    from .report import select

    modules = parse_list(args.module)
    if modules:
        _cwd_on_path()
    for module in modules:
        _load_module(module)
    everything = registry.derivations()
    try:
        names = select(parse_list(args.only), [d.name for d in everything])
    except InvalidArgumentError as exc:
        raise UsageError(str(exc)) from None
    return [registry.get(n) for n in names]


def _cwd_on_path() -> None:
    """``python -m`` puts the current directory first on ``sys.path``; the console script puts its own
    ``bin/`` there instead. Adding the current directory makes ``--module`` mean the same under both."""
    if not any(os.path.abspath(p or os.curdir) == os.getcwd() for p in sys.path):
        sys.path.insert(0, os.getcwd())


def _load_module(module: str) -> None:
    """Import a --module; whatever goes wrong in it is a usage error naming the module and where it broke."""
    from . import InvalidArgumentError, registry

    try:
        registry.load_module(module)
    except InvalidArgumentError as exc:
        raise UsageError(f"--module={module!r}: {str(exc).split(': ', 1)[-1]}") from None
    except Exception as exc:  # the module's own code raised: its error, with its location, not our traceback
        where = "" if isinstance(exc, SyntaxError) else _where(exc)  # a SyntaxError names its line itself
        raise UsageError(f"--module={module!r}: importing it raised {type(exc).__name__}{where}: {exc}") from None


def _where(exc: BaseException) -> str:
    """`` at file.py:line`` of the innermost frame that is not the import machinery."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<")]
    return f" at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno}" if frames else ""


def _prepare_out(out: str) -> Path:
    """Fail before minutes of checks, not after, when the report cannot be written.

    Creating (and removing) a file is the only reliable test: permission bits say nothing
    to root, to ACLs or to a read-only mount, and ``os.access`` answers for the real uid.
    """
    if not out.strip():
        raise UsageError(f"--out={out!r}: expected a directory (use --out . for the current directory)")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out={out!r}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out={out!r}: cannot create the directory ({exc.strerror or exc})") from None
    try:
        fd, probe = tempfile.mkstemp(dir=path, prefix=".gradcheck-write-test-")
    except OSError as exc:
        raise UsageError(f"--out={out!r}: cannot write files in the directory ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)
    return path


def _cmd_report(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from . import InvalidArgumentError
    from .report import (
        FAIL_ON,
        PROOF_BUDGET_S,
        ProgressPrinter,
        headline,
        make_report,
        parse_formats,
        parse_shard,
        plan,
        plots_unavailable,
        render_summary,
        run_derivations,
        shard_units,
        source_date_epoch,
        write_report,
    )

    seeds = parse_seeds(args.seeds)
    sizes = _parse_sizes(args.sizes)
    budget = PROOF_BUDGET_S if args.proof_budget is None else args.proof_budget
    if not 0 < budget < float("inf"):
        raise UsageError(f"--proof-budget={args.proof_budget!r}: expected a positive number of seconds, e.g. 120")
    try:
        formats = parse_formats(args.format)
        source_date_epoch()  # a malformed value fails now, not after the checks
        shard = parse_shard(args.shard) if args.shard is not None else None
    except InvalidArgumentError as exc:
        raise UsageError(str(exc)) from None
    derivations = _derivations(args)
    out = _prepare_out(args.out)
    sweep = ("html" in formats or shard is not None) and not args.no_plots  # a shard may be merged into HTML
    if sweep:
        reason = plots_unavailable()
        if reason is not None:
            print(f"{PROG} report: note: the HTML report will have no plots: {reason}", file=sys.stderr)
    options = {"method": args.method} if args.method else {}
    progress = None if args.no_progress or args.quiet else ProgressPrinter(sys.stderr)
    units = plan(derivations, seeds=seeds, size_variants=sizes, oracle=args.oracle)
    mine = shard_units(units, *shard) if shard is not None else None
    subjects = run_derivations(derivations, seeds=seeds, size_variants=sizes, options=options, sweep=sweep,
                               progress=progress, oracle=args.oracle, units=mine, proof_budget_s=budget)
    report = make_report(subjects, origin="cli", command=shlex.join([PROG, *_without_shard(argv)]), options={
        "only": parse_list(args.only), "seeds": seeds, "size_variants": sizes, "method": args.method or "richardson",
        "modules": parse_list(args.module), "fail_on": args.fail_on, "oracle": args.oracle,
        **({"proof_budget_s": budget} if args.oracle == "both" else {})})
    if shard is not None:
        return _write_shard(report, out, units, mine or [], shard, sweep, args)
    print(headline(report) if args.quiet else render_summary(report))
    try:
        written = write_report(report, out, formats, plots=not args.no_plots)
    except OSError as exc:  # e.g. the directory became unwritable, or the disk filled, during the checks
        raise UsageError(f"--out={args.out!r}: cannot write the report ({exc})") from None
    for path in written:
        if not args.quiet:
            print(f"wrote {path}")
    return 1 if any(s.verdict in FAIL_ON[args.fail_on] for s in report.subjects) else 0


def _without_shard(argv: Sequence[str]) -> list[str]:
    """The command line minus ``--shard I/N``: what every shard and the merged report share."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--shard":
            skip = True
        elif not a.startswith("--shard="):
            out.append(a)
    return out


def _write_shard(report: Any, out: Path, units: Any, mine: Any, shard: tuple[int, int], sweep: bool,
                 args: argparse.Namespace) -> int:
    """A shard's JSON: its slice of the report, with every entry's arrays, and which slice it is."""
    import json

    from .report import render_summary, shard_filename, shard_section, write_atomic

    d = {**report.to_dict(arrays=True), "shard": shard_section(units, mine, *shard, sweep=sweep)}
    path = out / shard_filename(*shard)
    try:
        write_atomic(path, json.dumps(d, indent=None, allow_nan=False, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise UsageError(f"--out={args.out!r}: cannot write the shard ({exc})") from None
    if not args.quiet:
        print(render_summary(report))
        print(f"wrote {path} (shard {shard[0]}/{shard[1]}: {len(mine)} of {len(units)} units; merge every shard with "
              f"'{PROG} report merge')")
    return 0


def _cmd_merge(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from . import InvalidArgumentError
    from .report import headline, merge_shards, parse_formats, render_summary, write_report

    try:
        formats = parse_formats(args.format)
        report, shard_plots = merge_shards(args.shards)
    except InvalidArgumentError as exc:
        raise UsageError(str(exc)) from None
    out = _prepare_out(args.out)
    print(headline(report) if args.quiet else render_summary(report))
    try:  # shards run with --no-plots computed no plot data: the page then says plots were left out
        written = write_report(report, out, formats, plots=shard_plots and not args.no_plots)
    except OSError as exc:
        raise UsageError(f"--out={args.out!r}: cannot write the report ({exc})") from None
    for path in written:
        if not args.quiet:
            print(f"wrote {path}")
    fail_on = str(report.options.get("fail_on", "mismatch"))
    return 1 if report.failing(fail_on) else 0


def _cmd_list(args: argparse.Namespace, argv: Sequence[str]) -> int:
    for d in _derivations(args):
        expected = "correct" if d.expected_correct else f"published slip (corrected in {d.corrects})"
        print(f"{d.name:<42} {d.kind:<9} {expected}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gradcheck`` console script and ``python -m gradcheck``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage and the message
        return int(exc.code) if isinstance(exc.code, int) else 2
    try:
        return int(args.func(args, argv))
    except UsageError as exc:
        command = args.command + (f" {args.report_command}" if getattr(args, "report_command", None) else "")
        print(f"{PROG} {command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{PROG} {args.command}: interrupted; existing report files were left as they were", file=sys.stderr)
        return 130
