"""Writing report files atomically: a reader never sees half a report, and an interrupted run
leaves the previous good report in place."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..core._errors import InvalidArgumentError
from ._model import Report

__all__ = ["FORMATS", "BASENAME", "render", "write_atomic", "write_report", "parse_formats"]

BASENAME = "gradcheck-report"
FORMATS: tuple[str, ...] = ("md", "html", "json")


def _renderers(plots: bool) -> Mapping[str, Callable[[Report], str]]:
    from ._html import render_html
    from ._json import render_json
    from ._markdown import render_markdown

    return {"md": render_markdown, "html": lambda r: render_html(r, plots=plots), "json": render_json}


def parse_formats(text: str) -> list[str]:
    """``"md,html"`` -> ``["md", "html"]``; ``"all"`` for every format; unknown names are an error."""
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    if names == ["all"]:
        return list(FORMATS)
    bad = [n for n in names if n not in FORMATS]
    if bad or not names:
        raise InvalidArgumentError(
            f"--format={text!r}: {'unknown format ' + ', '.join(map(repr, bad)) if bad else 'no format given'}; "
            f"expected a comma-separated list of {', '.join(FORMATS)} (or all)")
    return list(dict.fromkeys(names))


def render(report: Report, formats: Sequence[str], plots: bool = True) -> dict[str, str]:
    """Every requested format rendered in memory first, so a rendering error writes nothing."""
    table = _renderers(plots)
    return {fmt: table[fmt](report) for fmt in formats}


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file in the same directory, fsync, then ``os.replace`` over ``path``.

    Where ``path`` is a symbolic link, the link itself is replaced by the new file: the
    file it pointed to is neither written nor has its permissions copied.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, _file_mode(path))  # mkstemp makes 0600 files; a report is meant to be read
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _file_mode(path: Path) -> int:
    """The mode of the regular file being replaced, else 0666 minus the umask (what open() would give).

    ``lstat``, not ``stat``: a link's target is someone else's file, and its mode (0777 on
    a shared script, 0600 on a secret) says nothing about who should read a report.
    """
    try:
        info = os.lstat(path)
    except OSError:
        info = None
    if info is not None and stat.S_ISREG(info.st_mode):
        return stat.S_IMODE(info.st_mode) & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_report(report: Report, out: str | os.PathLike[str], formats: Sequence[str] = FORMATS,
                 plots: bool = True) -> list[Path]:
    """Render ``formats`` and write ``<out>/gradcheck-report.<ext>``; returns the paths written."""
    directory = Path(out)
    texts = render(report, formats, plots=plots)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt, text in texts.items():
        path = directory / f"{BASENAME}.{fmt}"
        write_atomic(path, text)
        paths.append(path)
    return paths
