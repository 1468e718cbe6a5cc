"""The symbolic oracle behind ``check_grad(..., oracle="symbolic" | "both")``.

It runs the very loss the finite differences probe on arrays of sympy symbols
(:mod:`gradcheck.symbolic`), and hands the judge the exact derivative with an error bar of a
few ulps (the rounding of one float64 evaluation of the compiled expression), and at kinks the
one-sided derivatives, so the judge accepts any valid subgradient as it does for differences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core._errors import GradcheckError
from ._seam import Context, OracleEstimate, OracleRun

__all__ = ["Symbolic", "SymbolicUnavailable", "SYMBOLIC_MAX_ENTRIES"]

SYMBOLIC_MAX_ENTRIES = 2_000
"""Derivative entries above which a check's symbolic verdict is n/a: the exact gradient of a
1000-parameter MLP takes about 1.3 s with symengine and 1.8 s with sympy alone, of 5000 about
4 s / 10 s (benchmarks/symbolic_speed.py); a check beside a finite-difference one should
not cost more than that."""


class SymbolicUnavailable(Exception):
    """Internal: the symbolic oracle has no answer here (the reason is args[0])."""


@dataclass(frozen=True)
class Symbolic:
    """``exact=True`` (default): the derivative evaluated in 50-digit mpmath and rounded once to
    float64, so its bar is half an ulp however much the float64 evaluation of the expression
    would cancel (a cross-entropy's ``log(1 - s)`` at saturated ``s`` read a correct gradient
    3e-7 off with the float64 program's bar of a few ulps). ``False``: the float64 program alone."""

    name: str = "symbolic"
    max_entries: int = SYMBOLIC_MAX_ENTRIES
    exact: bool = True

    def run(self, ctx: Context) -> OracleRun:
        from .. import symbolic

        ps, ev = ctx.params, ctx.evaluator
        point = ps.pack(ps.copies())
        run = symbolic.gradient if ev.scalar else symbolic.jacobian
        try:
            d = run(ev.fn, point, max_entries=self.max_entries, exact=self.exact)
        except GradcheckError as exc:
            raise SymbolicUnavailable(str(exc)) from exc
        except Exception as exc:  # code that does not run on symbols: no verdict, with the reason
            raise SymbolicUnavailable(f"the loss does not run on symbols ({type(exc).__name__}: {exc})") from exc
        if not d.ok:
            raise SymbolicUnavailable(d.reason)
        tie = next((n for n in d.notes if "of a tie" in n), None)
        if tie is not None:
            # a comparison (a mask, np.where, Python's max) decided at its tie picks one branch, whose
            # derivative is one valid slope of a kink the symbolic walk does not see as one
            raise SymbolicUnavailable(f"a comparison in the code was decided at its tie ({tie.split('; ')[-1]}): "
                                      f"the derivative there is one branch's, not the kink's")
        m = max(int(np.prod(ev.out_shape)), 1)
        estimates = []
        for name in ps.names:
            key = next(iter(d.value)) if ps.single else name

            def flat(mapping: object, key: str = key) -> np.ndarray:
                return np.asarray(mapping[key], dtype=float).reshape(m, -1)  # type: ignore[index]

            value, error, kink = flat(d.value), flat(d.error), flat(d.kink).astype(bool)
            if d.exact_value is not None:
                # the exact value rounded once: half an ulp, not the float64 program's own rounding
                value = np.where(kink, value, flat(d.exact_value))
                error = np.where(kink, error, np.spacing(np.abs(value)) / 2)
            if not np.all(np.isfinite(value)):
                # an entry the witness cannot state (overflow, a derivative undefined there): silent, not a value
                why = next((n for n in d.notes if "not finite" in n), "derivative entries not finite at this point")
                raise SymbolicUnavailable(why)
            estimates.append(OracleEstimate(value=value, error=error, left=flat(d.left), right=flat(d.right),
                                            kink=kink, side_error=np.where(kink, error, 0.0)))
        return OracleRun(method=f"symbolic ({d.backend})" if d.backend else "symbolic", estimates=estimates)
