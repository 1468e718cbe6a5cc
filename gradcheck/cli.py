"""The ``gradcheck`` command line.

    gradcheck report [--only PATTERN,...] [--seeds 0,1,2|N] [--sizes default,x2] [--format md,html,json]
                     [--out DIR] [--fail-on mismatch|unexpected|never] [--module pkg.mod] [--method NAME]
    gradcheck list   [--only PATTERN,...] [--module pkg.mod]

Exit status of ``report``: 0 when every expected result held, 1 when the ``--fail-on``
policy is violated (default ``mismatch``: a derivation expected to be correct mismatched
or raised), 2 for usage errors (bad option values, unknown derivations, unimportable
modules), 130 when interrupted (no report file is replaced then).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any, Sequence

__all__ = ["main", "build_parser", "parse_seeds", "parse_list"]

PROG = "gradcheck"


class UsageError(Exception):
    """A bad option value; reported with the option's name and exit status 2."""


def parse_seeds(text: str) -> list[int]:
    """``"3"`` -> seeds 0, 1, 2 (a count); ``"0,5,9"`` -> those seeds; ``"7,"`` -> seed 7 alone."""
    hint = "expected a count (e.g. 3 for seeds 0,1,2) or a comma-separated list of seeds >= 0 (e.g. 0,5,9; 7, for seed 7 alone)"
    parts = [p.strip() for p in text.split(",")]
    try:
        if len(parts) == 1:
            count = int(parts[0])
            if count < 1:
                raise UsageError(f"--seeds={text!r}: a count must be at least 1; {hint}")
            return list(range(count))
        seeds = [int(p) for p in parts if p]
    except ValueError:
        raise UsageError(f"--seeds={text!r}: {hint}") from None
    if not seeds or any(s < 0 for s in seeds):
        raise UsageError(f"--seeds={text!r}: {hint}")
    return list(dict.fromkeys(seeds))


def parse_list(values: Sequence[str] | None) -> list[str]:
    """Repeated and comma-separated option values, flattened: ``--only a,b --only c``."""
    return [item.strip() for v in values or () for item in v.split(",") if item.strip()]


def _parse_sizes(text: str) -> list[str]:
    from .report import SIZE_VARIANTS

    names = parse_list([text])
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
                     help="size variants: default (registered sizes), x2 (every size doubled); default: default,x2")
    rep.add_argument("--format", default="md,html,json", metavar="FORMATS",
                     help="comma-separated report formats among md, html, json (or all); default: all three")
    rep.add_argument("--out", default="reports", metavar="DIR", help="directory for gradcheck-report.* (default: reports)")
    rep.add_argument("--fail-on", default="mismatch", choices=("mismatch", "unexpected", "never"),
                     help="exit 1 when: a derivation expected correct mismatches or errors (mismatch, default); that, "
                          "or a published slip unexpectedly passes (unexpected); never")
    rep.add_argument("--module", action="append", metavar="PKG.MOD",
                     help="import a module that registers more derivations; repeatable")
    rep.add_argument("--method", choices=METHODS, default=None, help="finite-difference scheme (default: richardson)")
    rep.add_argument("--no-plots", action="store_true", help="leave the plots (and matplotlib) out of the HTML report")
    rep.add_argument("--no-progress", action="store_true", help="no progress output")
    rep.add_argument("--quiet", "-q", action="store_true", help="print only the final verdict line")
    rep.set_defaults(func=_cmd_report)
    lst = sub.add_parser("list", help="list the registered derivations")
    lst.add_argument("--only", action="append", metavar="PATTERN[,PATTERN]")
    lst.add_argument("--module", action="append", metavar="PKG.MOD")
    lst.set_defaults(func=_cmd_list)
    return parser


def _derivations(args: argparse.Namespace) -> list[Any]:
    """Load --module contributions, then select with --only (errors name the option)."""
    from . import registry
    from ._errors import InvalidArgumentError
    from .report import select

    for module in parse_list(args.module):
        try:
            registry.load_module(module)
        except InvalidArgumentError as exc:
            raise UsageError(f"--module={module!r}: {str(exc).split(': ', 1)[-1]}") from None
    everything = registry.derivations()
    try:
        names = select(parse_list(args.only), [d.name for d in everything])
    except InvalidArgumentError as exc:
        raise UsageError(str(exc)) from None
    return [registry.get(n) for n in names]


def _prepare_out(out: str) -> Path:
    """Fail before minutes of checks, not after, when the report cannot be written."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out={out!r}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out={out!r}: cannot create the directory ({exc.strerror})") from None
    return path


def _cmd_report(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from ._errors import InvalidArgumentError
    from .report import FAIL_ON, make_report, parse_formats, run_derivations, write_report
    from .report._terminal import ProgressPrinter, render_summary
    from .report._text import headline

    seeds = parse_seeds(args.seeds)
    sizes = _parse_sizes(args.sizes)
    try:
        formats = parse_formats(args.format)
    except InvalidArgumentError as exc:
        raise UsageError(str(exc)) from None
    derivations = _derivations(args)
    out = _prepare_out(args.out)
    options = {"method": args.method} if args.method else {}
    progress = None if args.no_progress or args.quiet else ProgressPrinter(sys.stderr)
    subjects = run_derivations(derivations, seeds=seeds, size_variants=sizes, options=options,
                               sweep="html" in formats and not args.no_plots, progress=progress)
    report = make_report(subjects, origin="cli", command=shlex.join([PROG, *argv]), options={
        "only": parse_list(args.only), "seeds": seeds, "size_variants": sizes, "method": args.method or "richardson",
        "modules": parse_list(args.module), "fail_on": args.fail_on})
    print(headline(report) if args.quiet else render_summary(report))
    for path in write_report(report, out, formats, plots=not args.no_plots):
        if not args.quiet:
            print(f"wrote {path}")
    return 1 if any(s.verdict in FAIL_ON[args.fail_on] for s in report.subjects) else 0


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
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{PROG} {args.command}: interrupted; existing report files were left as they were", file=sys.stderr)
        return 130
