"""One symbolic proof per derivation: disproof first, then the proof within a budget, cached by hash.

A proof of a derivation at its default sizes and first seed depends on nothing but the code
(loss, hand derivative, the data they close over) and the prover: so it is stored under a
hash of those (:func:`proof_key`) and a later run with the same code reuses it instead of
spending seconds to minutes in sympy again. The order of work is what answers fastest:

1. :func:`gradcheck.symbolic.disprove_derivation` screens every entry at the point and
   certifies a nonzero one by interval arithmetic (a fraction of a second): a published slip
   is ``disproved`` with its counterexample without simplifying anything;
2. :func:`gradcheck.symbolic.prove_derivation` simplifies every entry's difference to 0
   (``proved``), or says why not (``n/a: ...``), within the rest of the budget;
3. past the budget the cell is ``n/a: the proof took more than B s`` followed by what the
   disproof established (no entry differs at the point: evidence, not a proof).

The cache is a directory of small JSON files (``$GRADCHECK_CACHE_DIR``, else
``$XDG_CACHE_HOME/gradcheck``, else ``~/.cache/gradcheck``; ``proofs/<key>.json``); a file
that cannot be read is ignored, one that cannot be written is skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._model import ProofSummary

__all__ = ["PROOF_BUDGET_S", "prove_summary", "proof_key", "ProofCache", "default_cache_dir", "COUNTEREXAMPLE_CHARS"]

PROOF_BUDGET_S = 3.0
"""Wall time one derivation's proof may take before it is reported n/a (and cached as such, with
the budget in the key, so that re-runs agree and a larger budget tries again). Measured on the
built-in derivations: the proofs that finish take 0.01-2.5 s on a quiet machine, those that do not
ran past 120 s; 3 s and 10 s gave the same 18 proved, 10 disproved, 12 n/a, and a cold default report
(no cached proof) took 1.7x the wall time of ``--oracle fd`` (3.1x its CPU time) with 3 s, 2.4x (5.4x)
with 10 s. With the proofs cached, 1.1x (1.25x)."""
COUNTEREXAMPLE_CHARS = 160
"""A simplified difference longer than this is cut: the entry and its value say what is wrong."""


class _ProofTimeout(BaseException):
    """Raised in the proving thread by the alarm; a BaseException so sympy's ``except Exception`` lets it pass."""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """SIGALRM after ``seconds`` where there is one and this is the main thread; else no limit."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum: int, frame: Any) -> None:
        raise _ProofTimeout

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


_PROVER: list[str] = []


def _prover_version() -> str:
    """The prover's own code (every module of gradcheck.symbolic) and sympy's version: a change to
    either makes every cached proof stale."""
    if not _PROVER:
        import sympy

        from .. import symbolic

        h = hashlib.sha1(sympy.__version__.encode())
        for path in sorted(Path(symbolic.__file__).parent.glob("*.py")):
            h.update(path.read_bytes())
        _PROVER.append(h.hexdigest())
    return _PROVER[0]


def proof_key(derivation: Any, seed: int = 0, budget_s: float = PROOF_BUDGET_S) -> str | None:
    """The hash a proof of ``derivation`` at its default sizes and ``seed`` is cached under, or None
    when its code cannot be fingerprinted (then it is proved every time)."""
    from ..symbolic import fingerprint

    try:
        problem = derivation.problem(seed)
        f, df = derivation.bind(problem)
    except Exception:
        return None
    code = fingerprint(f, df)
    if code is None:
        return None
    what = [code, derivation.kind, sorted((k, repr(v)) for k, v in derivation.jacobian_options.items()),
            sorted(derivation.sizes.items()), seed, budget_s, _prover_version()]
    return hashlib.sha1(repr(what).encode()).hexdigest()


def default_cache_dir() -> Path:
    explicit = os.environ.get("GRADCHECK_CACHE_DIR", "").strip()
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".cache") / "gradcheck"


class ProofCache:
    """``proofs/<key>.json`` under ``root``; reads and writes never fail a report."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.dir = Path(root if root is not None else default_cache_dir()) / "proofs"
        self.hits = 0

    def get(self, key: str | None) -> ProofSummary | None:
        if key is None:
            return None
        try:
            summary = ProofSummary.from_dict(json.loads((self.dir / f"{key}.json").read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        self.hits += 1
        return summary

    def put(self, key: str | None, summary: ProofSummary) -> None:
        if key is None:
            return
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = self.dir / f".{key}.{os.getpid()}.tmp"
            tmp.write_text(json.dumps(summary.to_dict()), encoding="utf-8")
            os.replace(tmp, self.dir / f"{key}.json")
        except OSError:
            pass


def _label(seed: int, sizes: Any) -> str:
    dims = ", ".join(f"{k}={v}" for k, v in sizes.items())
    return f"seed={seed} sizes=default" + (f" ({dims})" if dims else "")


def prove_summary(derivation: Any, seed: int = 0, *, budget_s: float = PROOF_BUDGET_S,
                  cache: ProofCache | None = None) -> ProofSummary:
    """The derivation's proof at its default sizes, as the report states it (cached under :func:`proof_key`).

    ``proved at this size``; ``disproved: counterexample ...`` (the entry, hand - exact there,
    and the simplified difference, shortened); ``n/a: why`` (Jacobians the prover cannot take,
    code that does not run on symbols, too many entries, a difference too large to simplify, the
    time budget spent: then with what the disproof showed).
    """
    key = proof_key(derivation, seed, budget_s) if cache is not None else None
    hit = cache.get(key) if cache is not None else None
    if hit is not None:
        return hit
    summary = _prove(derivation, seed, budget_s)
    if cache is not None:
        cache.put(key, summary)
    return summary


def _prove(derivation: Any, seed: int, budget_s: float) -> ProofSummary:
    from ..symbolic import disprove_derivation, prove_derivation

    label = _label(seed, derivation.sizes)
    screen = None
    try:
        with _time_limit(budget_s):
            screen = disprove_derivation(derivation, seed=seed)
            if screen.status.value == "disproved":
                return _summary(screen, label)
            proof = prove_derivation(derivation, seed=seed)
    except _ProofTimeout:
        why = f"n/a: the proof took more than {budget_s:g} s"
        if screen is not None:
            if all(p.status.value == "n/a" and p.reason.startswith("not disproved") for p in screen.params.values()):
                why += "; no entry of hand - exact differs from 0 at the point (evidence, not a proof)"
            return ProofSummary("n/a", why, "", label, {name: why for name in screen.params})
        return ProofSummary("n/a", why, "", label, {})
    except Exception as exc:  # a proof illustrates; its failure must not hide the checks' verdicts
        return ProofSummary("n/a", f"n/a: the proof raised {type(exc).__name__}: {exc}", "", label, {})
    return _summary(proof, label)


def _summary(proof: Any, label: str) -> ProofSummary:
    params = {name: _param_text(p) for name, p in proof.params.items()}
    status = proof.status.value
    if status == "proved":
        text = "proved at this size"
    elif status == "disproved":
        text = "disproved: " + next(t for t in params.values() if t.startswith("disproved")).split(": ", 1)[1]
    else:
        reasons = list(dict.fromkeys(t for t in params.values() if t.startswith("n/a")))
        text = reasons[0] if reasons else "n/a"
    return ProofSummary(status, text, proof.scope, label, params)


def _param_text(p: Any) -> str:
    status = p.status.value
    if status == "proved":
        return "proved at this size"
    if status == "disproved":
        expr = " ".join(str(p.counterexample).split())
        if len(expr) > COUNTEREXAMPLE_CHARS:
            expr = expr[:COUNTEREXAMPLE_CHARS] + " ..."
        where = f"{p.name}{list(p.index)}" if p.index is not None else p.name
        value = p.reason.split(" at [")[0]  # "hand - exact = -1.61 at [2, 2]": the index is said once, by name
        return f"disproved: counterexample at {where}: {value}; simplified, hand - exact = {expr}"
    if p.reason.startswith("not disproved") and "no proof attempted" in p.reason:  # the screen of a disproved one
        return "n/a: not disproved (no entry differs at the point); no proof attempted once another parameter was"
    return f"n/a: {p.reason}" if p.reason else "n/a"
