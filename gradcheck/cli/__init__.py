"""The ``gradcheck`` command line.

    gradcheck report [--only PATTERN,...] [--seeds 0,1,2|N] [--sizes default,x2,large] [--format md,html,json]
                     [--out DIR] [--fail-on mismatch|unexpected|inconclusive|never] [--module pkg.mod] [--method NAME]
                     [--oracle both|fd] [--proof-budget SECONDS] [--proof-cache DIR|none] [--shard I/N]
    gradcheck report merge SHARD.json ... [--out DIR] [--format md,html,json] [--no-plots]
    gradcheck list   [--only PATTERN,...] [--module pkg.mod]
    gradcheck verify --loss EXPR --grad NAME=EXPR --shape NAME=D1,D2 ... | --sheet FILE.toml

Exit status of ``report`` and ``report merge``: 0 when every expected result held, 1 when the
``--fail-on`` policy is violated (default ``mismatch``: a derivation expected to be correct
mismatched or raised), 2 for usage errors (bad options or values, a malformed
``SOURCE_DATE_EPOCH``, unknown derivations, modules that cannot be imported or raise or call
``sys.exit`` on import, an ``--out`` that cannot be written; for ``merge``, files that are not
shards, shards that overlap, are missing or come from different runs), 130 when interrupted
(no report file is replaced then). ``--shard I/N`` writes only
``gradcheck-report.shard-I-of-N.json`` (the JSON of its slice of the checks); ``report merge``
turns all N into the report one process would have written. ``list``: 0, or 2. ``verify``: 0
right, 1 wrong or inconclusive, 2 a usage or parse error. Every usage error is one line on
stderr (a parse error adds ``see 'gradcheck CMD --help'``); ``--help`` of each command ends
with its exit statuses; ``gradcheck --version`` prints the version.

``--module`` names are imported with the current directory on ``sys.path``, under the
console script as under ``python -m gradcheck``, so ``--module mymod`` finds ``./mymod.py``.
"""

from __future__ import annotations

import argparse
import difflib
import os
import shlex
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["main", "build_parser", "parse_seeds", "parse_list"]

PROG = "gradcheck"


class UsageError(Exception):
    """A bad option value; reported with the option's name and exit status 2."""


class CommandLineError(UsageError):
    """A command line argparse could not parse; ``prog`` names the (sub)command for the message."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` for a command line users can trust.

    No abbreviations (``--seed 5`` must not quietly run as ``--seeds 5``), help text laid out
    as written (the exit-status epilogs), and errors raised rather than printed after the whole
    usage: :func:`main` prints them as one line and exits 2. Subparsers are of this class too.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:  # argparse's prints the whole usage, then exits
        raise CommandLineError(self.prog, message)

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> argparse.Namespace:  # type: ignore[override]
        """As argparse's, but an unknown option is named by the command it was given to, with a suggestion."""
        ns, extra = self.parse_known_args(args, namespace)
        if extra:
            target = _command_parser(self, ns)
            target.error(_unrecognized(extra, target))
        return ns


class _Formatter(argparse.HelpFormatter):
    """Wraps each line of a description or epilog on its own; indented lines (the exit-status
    tables) are kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        fill = argparse.HelpFormatter._fill_text  # super() does not reach into a generator expression
        return "\n".join(line if line.startswith(" ") or not line.strip() else fill(self, line, width, indent)
                         for line in text.splitlines())


def _command_parser(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> argparse.ArgumentParser:
    """The subcommand's parser that parsed ``ns`` (argparse reports its leftovers under the top-level name)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(getattr(ns, action.dest, None), parser)  # type: ignore[no-any-return]
    return parser


def _unrecognized(extra: Sequence[str], parser: argparse.ArgumentParser) -> str:
    options = [a.split("=", 1)[0] for a in extra if a.startswith("-") and a != "-"]
    if not options:
        if extra[0] == MERGE_WORDS[1] and parser.prog.endswith(MERGE_WORDS[0]):
            return "unexpected argument 'merge': write 'gradcheck report merge SHARD.json ...' (merge first)"
        return f"unexpected argument {extra[0]!r} (this command takes no positional arguments)"
    known = [s for a in parser._actions for s in a.option_strings if s.startswith("--")]
    close = difflib.get_close_matches(options[0], known, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"unrecognized argument{'s' if len(options) > 1 else ''} {' '.join(options)}{hint}"


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
    from ..report import SIZE_VARIANTS

    names = list(dict.fromkeys(parse_list([text])))
    bad = [n for n in names if n not in SIZE_VARIANTS]
    if bad or not names:
        raise UsageError(f"--sizes={text!r}: expected a comma-separated list of {', '.join(SIZE_VARIANTS)}")
    return names


EXIT_REPORT = """exit status:
  0    every expected result held (a published slip that fails is expected)
  1    the --fail-on policy is violated (default mismatch: a derivation
       expected correct mismatched or raised)
  2    usage error: a bad option or value, an unknown derivation, a --module
       that cannot be imported (or raises or calls sys.exit on import), an
       --out that cannot be written, a malformed SOURCE_DATE_EPOCH
  130  interrupted (Ctrl-C); no report file is replaced
  3    internal error: a bug in gradcheck (the traceback is printed; please
       report it)"""
EXIT_MERGE = """exit status:
  0    every expected result held in the merged report
  1    the --fail-on policy the shards ran with is violated
  2    usage error: a file that is not a shard's JSON, shards that overlap,
       are missing or come from different runs, an --out that cannot be
       written
  130  interrupted (Ctrl-C); no report file is replaced
  3    internal error: a bug in gradcheck (the traceback is printed; please
       report it)"""
EXIT_LIST = """exit status:
  0    the list was printed
  2    usage error: an --only that matches nothing, a --module that cannot
       be imported
  130  interrupted (Ctrl-C)
  3    internal error: a bug in gradcheck (the traceback is printed; please
       report it)"""
EXIT_VERIFY = """exit status:
  0    right (with --sheet: every formula as its sheet expects)
  1    wrong, with the evidence printed (with --sheet: a formula not as
       expected)
  4    inconclusive: no oracle could settle the claim (with --sheet: only
       inconclusive formulas kept the run from passing)
  2    usage or parse error: a bad option, formula, shape or sheet
  130  interrupted (Ctrl-C)
  3    internal error: a bug in gradcheck (the traceback is printed; please
       report it)"""
MERGE_WORDS = ("report", "merge")
"""``gradcheck report merge ...``: recognised as one command before argparse sees the rest, so that
a bad ``report`` option is not taken for a misspelt ``merge`` positional."""


def build_parser() -> argparse.ArgumentParser:
    """The ``gradcheck`` parser. ``report merge`` is its subcommand named ``"report merge"``: :func:`main`
    joins the two words, so ``report`` itself has no subcommand for a stray value to be mistaken for."""
    from .. import METHODS, __version__

    parser = Parser(prog=PROG, description="Check hand-derived gradients against finite differences.",
                    epilog="'gradcheck COMMAND --help' gives each command's options and exit statuses (2 for a "
                           "usage error everywhere, 130 when interrupted).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="print gradcheck's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, help="what to do:")
    rep = sub.add_parser("report", help="check every registered derivation and write Markdown/HTML/JSON reports",
                         description="Run every registered derivation (built-ins, entry points, --module) over several "
                                     "seeds and sizes; print a summary table and write reports.\n"
                                     "'gradcheck report merge SHARD.json ...' combines the shards written with "
                                     "--shard (see 'gradcheck report merge --help').",
                         epilog=EXIT_REPORT)
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
    rep.add_argument("--oracle", choices=("fd", "both"), default="both",
                     help="both (default): finite differences and the exact sympy derivative in every check, and one "
                          "proof per derivation at its default sizes; fd: finite differences only (where they are "
                          "inconclusive check_grad still asks complex step or the exact derivative)")
    rep.add_argument("--proof-budget", type=float, default=None, metavar="SECONDS",
                     help="with --oracle both: wall time one derivation's proof may take before it is reported n/a "
                          "(default 3; a proof cut by the clock depends on the machine's load, and is cached as n/a "
                          "for this budget)")
    rep.add_argument("--proof-cache", default=None, metavar="DIR|none",
                     help="where proofs are kept under a hash of the code they prove, so an unchanged derivation is "
                          "not proved again (default: $GRADCHECK_CACHE_DIR, else $XDG_CACHE_HOME/gradcheck, else "
                          "~/.cache/gradcheck; none: prove every time)")
    rep.add_argument("--shard", metavar="I/N", default=None,
                     help="run only the I-th of N stable slices of the checks and write its JSON "
                          "(gradcheck-report.shard-I-of-N.json); combine them with 'gradcheck report merge'")
    rep.add_argument("--no-plots", action="store_true", help="leave the plots out of the HTML report")
    rep.add_argument("--no-progress", action="store_true", help="no progress output")
    rep.add_argument("--quiet", "-q", action="store_true", help="print only the final verdict line")
    rep.set_defaults(func=_cmd_report)
    mrg = sub.add_parser(" ".join(MERGE_WORDS), prog=f"{PROG} report merge",
                         help="combine the JSON of every shard of 'report --shard I/N' into one report",
                         description="Combine the JSON files written by 'gradcheck report --shard I/N' (all N "
                                     "of them) into the report one process would have written.",
                         epilog=EXIT_MERGE)
    mrg.add_argument("shards", nargs="+", metavar="SHARD.json",
                     help="the JSON file of every shard (gradcheck-report.shard-I-of-N.json), in any order")
    mrg.add_argument("--out", default="reports", metavar="DIR", help="directory for gradcheck-report.* (default: "
                                                                      "reports)")
    mrg.add_argument("--format", default="md,html,json", metavar="FORMATS",
                     help="comma-separated report formats among md, html, json (or all); default: all three")
    mrg.add_argument("--no-plots", action="store_true", help="leave the plots out of the HTML report")
    mrg.add_argument("--quiet", "-q", action="store_true", help="print only the final verdict line")
    mrg.set_defaults(func=_cmd_merge)
    lst = sub.add_parser("list", help="list the registered derivations",
                         description="List the registered derivations (built-ins, entry points, --module): name, "
                                     "kind, and whether each is expected correct or a published slip.",
                         epilog=EXIT_LIST)
    lst.add_argument("--only", action="append", metavar="PATTERN[,PATTERN]",
                     help="derivation names or glob patterns (e.g. 'least_squares.*'); repeatable")
    lst.add_argument("--module", action="append", metavar="PKG.MOD",
                     help="import a module that registers more derivations; repeatable")
    lst.set_defaults(func=_cmd_list)
    from ._verify import add_parser as add_verify_parser

    add_verify_parser(sub).epilog = EXIT_VERIFY
    return parser


def parsers(parser: argparse.ArgumentParser | None = None) -> list[argparse.ArgumentParser]:
    """``parser`` (default: :func:`build_parser`'s) and every subcommand's parser, depth first."""
    parser = parser or build_parser()
    out = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for p in dict.fromkeys(action.choices.values()):
                out += parsers(p)
    return out


def _derivations(args: argparse.Namespace) -> list[Any]:
    """Load --module contributions, then select with --only (errors name the option)."""
    from .. import InvalidArgumentError, registry
    from ..report import select

    empty = [m for m in args.module or () if not m.strip()]
    if empty:  # an empty value from a CI variable left unset: a silent no-op would check nothing of it
        raise UsageError(f"--module={empty[0]!r}: expected a module name (pkg.mod, or mymod for ./mymod.py)")
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
    """Import a --module; whatever goes wrong in it (sys.exit included) is a usage error naming the module and
    where it broke. KeyboardInterrupt is not caught: Ctrl-C during a slow import still interrupts."""
    from .. import InvalidArgumentError, registry

    try:
        registry.load_module(module)
    except InvalidArgumentError as exc:
        raise UsageError(f"--module={module!r}: {str(exc).split(': ', 1)[-1]}") from None
    except SystemExit as exc:  # exit 0 here would be a green CI job that checked nothing
        raise UsageError(f"--module={module!r}: importing it called sys.exit({exc.code!r}){_where(exc)}; a module "
                         "given to --module must only register derivations") from None
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
    from .. import InvalidArgumentError
    from ..report import (
        FAIL_ON,
        PROOF_BUDGET_S,
        ProgressPrinter,
        ProofCache,
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
        raise UsageError(f"--proof-budget={args.proof_budget!r}: expected a positive number of seconds, e.g. 3")
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
    cache = None if (args.proof_cache or "").strip().lower() == "none" else ProofCache(args.proof_cache or None)
    subjects = run_derivations(derivations, seeds=seeds, size_variants=sizes, options=options, sweep=sweep,
                               progress=progress, oracle=args.oracle, units=mine, proof_budget_s=budget,
                               proof_cache=cache if args.oracle == "both" else None)
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

    from ..report import render_summary, shard_filename, shard_section, write_atomic

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
    from .. import InvalidArgumentError
    from ..report import headline, merge_shards, parse_formats, render_summary, write_report

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
    """Entry point of the ``gradcheck`` console script and ``python -m gradcheck``; returns the exit status.

    Every usage error is one line on stderr (two with a parse error's ``see '... --help'``) and exit status 2.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    words = [" ".join(MERGE_WORDS), *argv[2:]] if tuple(argv[:2]) == MERGE_WORDS else argv
    try:
        args = parser.parse_args(words)
    except CommandLineError as exc:
        print(f"{exc.prog}: error: {exc}\nsee '{exc.prog} --help'", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help, --version: argparse printed them
        return int(exc.code) if isinstance(exc.code, int) else 0
    try:
        return int(args.func(args, argv))
    except UsageError as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        kept = "; existing report files were left as they were" if getattr(args, "out", None) else ""
        print(f"\n{PROG} {args.command}: interrupted{kept}", file=sys.stderr)
        return 130
    except Exception:  # a bug, not a verdict: exit 1 would read as "a gradient is wrong" in CI
        traceback.print_exc()
        print(f"{PROG} {args.command}: internal error (exit 3): the traceback above is a bug in gradcheck, "
              "not a verdict on your gradients", file=sys.stderr)
        return 3
