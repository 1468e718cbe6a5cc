"""``gradcheck verify``: a derivative typed as text, or a formula sheet (the CLI side of :mod:`gradcheck.formula`).

    gradcheck verify --loss "sum((A@x - b)**2)" --grad x="2*A.T@(A@x - b)" \\
                     --shape A=4,3 --shape x=3,1 --shape b=4,1
    gradcheck verify --sheet gradcheck_course.toml [--out reports]

Exit status: 0 right (every sheet formula as expected), 1 wrong (or a sheet formula not as
expected), 4 inconclusive (no oracle could settle the claim; with sheets: only inconclusive
formulas kept the run from passing), 2 usage or parse errors: among them a name given twice (``--shape A=2,2
--shape A=3,3``; the last used to win silently), two structures for one name, ``--out`` without
``--sheet``, and a sheet that is not a regular UTF-8 file of at most 4 MiB.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["add_parser", "run"]

EXIT_RIGHT, EXIT_WRONG, EXIT_USAGE, EXIT_INCONCLUSIVE = 0, 1, 2, 4
MAX_VALUE_DIMS = 4
"""Dimensions of a --value, as of a --shape."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``verify`` subcommand to an ``argparse`` subparsers object; its ``func`` is :func:`run`."""
    p = subparsers.add_parser(
        "verify",
        help="verify a derivative typed as text (or every formula of a TOML sheet)",
        description="Verify claimed derivatives of a formula by finite differences at random points, sympy's "
        "element-wise derivative, and (where sympy can) a matrix-level proof for all sizes.",
    )
    p.add_argument("--loss", metavar="FORMULA", help='the loss or function, e.g. "sum((A@x - b)**2)"')
    p.add_argument(
        "--grad",
        action="append",
        default=[],
        metavar="NAME=FORMULA",
        help='a claimed derivative, e.g. x="2*A.T@(A@x - b)"; repeatable',
    )
    p.add_argument(
        "--shape",
        action="append",
        default=[],
        metavar="NAME=DIMS",
        help="a shape: A=4,3 or A=m,n (dimension names are drawn, 1 included); x= for a scalar",
    )
    p.add_argument(
        "--def",
        dest="defs",
        action="append",
        default=[],
        metavar="NAME=FORMULA",
        help='an intermediate quantity usable in every formula, e.g. z="W@x + b"; repeatable',
    )
    p.add_argument(
        "--value",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="a fixed value as JSON numbers, e.g. b=[[1],[2]]; repeatable",
    )
    p.add_argument("--spd", action="append", default=[], metavar="NAME", help="draw NAME symmetric positive definite")
    p.add_argument("--symmetric", action="append", default=[], metavar="NAME", help="draw NAME symmetric")
    p.add_argument(
        "--structure",
        action="append",
        default=[],
        metavar="NAME=KIND",
        help="how NAME is drawn and, for a parameter, which derivative its claim is: symmetric, "
        "symmetric-entries, lower, upper, diagonal (the core's conventions), spd, positive, unit, sign, onehot",
    )
    p.add_argument(
        "--layout",
        default="numerator",
        choices=("numerator", "denominator"),
        help="Jacobian layout of array-valued formulas (default numerator: out.shape + param.shape)",
    )
    p.add_argument(
        "--order", choices=("C", "F"), default=None, help="claimed Jacobians are 2-D w.r.t. vec in this order"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the first random point (default 0)")
    p.add_argument("--points", type=int, default=3, help="random points (and drawn sizes) to check (default 3)")
    p.add_argument("--no-symbolic", action="store_true", help="finite differences only (no sympy)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--sheet", action="append", default=[], metavar="FILE.toml", help="verify every formula of a sheet")
    p.add_argument("--out", default=None, metavar="DIR", help="with --sheet: write <sheet>.verify.{md,json} to DIR")
    p.set_defaults(func=run)
    return p


def _pairs(option: str, values: Sequence[str]) -> dict[str, str]:
    """``NAME=VALUE`` options as a dict; a name given twice is an error (the last would silently win)."""
    out: dict[str, str] = {}
    for v in values:
        name, sep, rest = v.partition("=")
        name = name.strip()
        if not sep or not name:
            raise _Usage(f"{option} {_short(v)}: expected NAME=VALUE")
        if name in out:
            raise _Usage(f"{option} {name}= is given twice ({_short(out[name])} and {_short(rest.strip())}); "
                         "give each name once")
        out[name] = rest.strip()
    return out


def _short(text: str, limit: int = 60) -> str:
    """``repr`` of a value for a one-line message: a 40,000-character --value would flood the terminal."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text):,} characters)"


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value along its first elements (ragged arrays are the spec's to refuse)."""
    depth = 0
    while isinstance(value, list) and value:
        depth, value = depth + 1, value[0]
    return depth


def _structure(args: argparse.Namespace) -> dict[str, str]:
    """--spd, --symmetric and --structure as one mapping; two different kinds for one name is an error."""
    given = [*((n, "spd", "--spd") for n in args.spd), *((n, "symmetric", "--symmetric") for n in args.symmetric),
             *((n, k, "--structure") for n, k in _pairs("--structure", args.structure).items())]
    out: dict[str, tuple[str, str]] = {}
    for name, kind, option in given:
        name = name.strip()
        if name in out and out[name][0] != kind:
            first_kind, first_option = out[name]
            raise _Usage(f"{name!r} is given two structures: {first_option} ({first_kind}) and {option} ({kind})")
        out[name] = (kind, option)
    return {name: kind for name, (kind, _) in out.items()}


class _Usage(Exception):
    pass


def run(args: argparse.Namespace, argv: Sequence[str] | None = None) -> int:
    """Carry out ``gradcheck verify``; returns the exit status (0 right, 1 wrong, 4 inconclusive, 2 usage error)."""
    from .. import FormulaError

    try:
        if args.sheet:
            if args.loss or args.grad:
                raise _Usage("--sheet cannot be combined with --loss/--grad")
            return _run_sheets(args)
        if args.out is not None:  # ignored, it would let a user believe a report was written
            raise _Usage(f"--out={args.out!r} writes --sheet reports; a single formula's result is printed "
                         "(--json for JSON)")
        return _run_one(args)
    except _Usage as exc:
        print(f"gradcheck verify: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FormulaError as exc:
        print(f"gradcheck verify: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _run_one(args: argparse.Namespace) -> int:
    from ..formula import verify

    if not args.loss or not args.grad:
        raise _Usage("give --loss FORMULA and at least one --grad NAME=FORMULA (or --sheet FILE)")
    values = {}
    for k, v in _pairs("--value", args.value).items():
        try:
            values[k] = json.loads(v)
        except json.JSONDecodeError:
            raise _Usage(f"--value {k}={_short(v)}: expected JSON numbers, e.g. [[1, 2], [3, 4]]") from None
        except RecursionError:  # json's parser recurses once per bracket
            raise _Usage(f"--value {k}=...: nested too deeply to be an array ({len(v):,} characters)") from None
        if _depth(values[k]) > MAX_VALUE_DIMS:  # numpy fails on more than 32 dimensions with a RuntimeError
            raise _Usage(f"--value {k}=...: nested {_depth(values[k])} deep; a value has at most "
                         f"{MAX_VALUE_DIMS} dimensions")
    structure = _structure(args)
    result = verify(
        loss=args.loss,
        grads=_pairs("--grad", args.grad),
        shapes=_pairs("--shape", args.shape),
        defs=_pairs("--def", args.defs),
        values=values,
        structure=structure,
        layout=args.layout,
        order=args.order,
        seed=args.seed,
        points=args.points,
        symbolic=not args.no_symbolic,
    )
    print(json.dumps(result.to_dict(), indent=1, default=str) if args.json else result.summary())
    return {"right": EXIT_RIGHT, "inconclusive": EXIT_INCONCLUSIVE}.get(result.verdict, EXIT_WRONG)


def _run_sheets(args: argparse.Namespace) -> int:
    from ..formula import load_sheet, render_table, verify_sheet, write_sheet_report

    status = EXIT_RIGHT
    everything = []
    if args.out is not None:  # refused before minutes of formulas, not after
        from . import UsageError, _prepare_out

        try:
            _prepare_out(args.out)
        except UsageError as exc:
            raise _Usage(str(exc)) from None
    for path in args.sheet:
        sheet = load_sheet(path)
        outcomes = verify_sheet(sheet, seed=args.seed if args.seed else None, symbolic=not args.no_symbolic)
        everything.append({"sheet": sheet.path, "formulas": [o.to_dict() for o in outcomes]})
        if not args.json:
            print(render_table(sheet, outcomes))
        if args.out is not None:
            try:
                written = write_sheet_report(sheet, outcomes, args.out)
            except OSError as exc:  # e.g. the directory went away or the disk filled during the checks
                raise _Usage(f"--out={args.out!r}: cannot write the sheet report ({exc.strerror or exc})") from None
            for p in written:
                if not args.json:
                    print(f"wrote {p}")
        if any(not o.as_expected and o.outcome != "inconclusive" for o in outcomes):
            status = EXIT_WRONG
        elif status == EXIT_RIGHT and any(o.outcome == "inconclusive" for o in outcomes):
            status = EXIT_INCONCLUSIVE
    if args.json:
        print(json.dumps(everything, indent=1, default=str))
    return status
