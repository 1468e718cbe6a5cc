"""Eigenvalues of a small symmetric matrix as opaque nodes with exact derivatives.

No closed form exists for the eigenvalues of a 5x5 matrix, but the derivative rule does:
for a simple eigenvalue ``lam_k`` of a symmetric ``A`` with unit eigenvector ``v``,
``d lam_k = v^T dA v``. ``np.linalg.eigvalsh`` reads one triangle only (``UPLO='L'`` by
default), so as a function of the entries it reads, ``d lam_k / d A[p, q]`` is ``v_p v_q``
on the diagonal and ``2 v_p v_q`` off it. An eigenvalue is therefore a node of the
expression DAG whose arguments are the triangle's entries, and its partials are nodes of
a second kind that evaluate ``v_p v_q``.

Both evaluate numerically only: in float64 by LAPACK over the program's columns, in
mpmath by ``mpmath.eigsy`` at the working precision plus 20 digits. That makes the exact
witness of a near-degenerate ``eigh`` (eigenvalues 1e-6 apart, where finite differences
cannot reach 1e-6) a 50-digit derivative like any other. At a degenerate eigenvalue the
eigenvector is not defined and neither is the derivative: the mpmath evaluation refuses
(the exact witness becomes n/a with that reason), never picks a vector.

sympy only: the nodes are ``sympy.Function`` subclasses with their own ``fdiff`` and
``_eval_evalf``; a run on the symengine backend that meets an eigenvalue is redone on sympy
(:class:`NeedsSympy`).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..core._errors import SymbolicUnsupportedError

__all__ = ["NeedsSympy", "eigenvalues", "float_function", "mpmath_function", "is_eigen_name"]

_PREFIXES = ("EigvalshN", "EigouterN")


class NeedsSympy(SymbolicUnsupportedError):
    """Raised by a symengine run that meets a construct only the sympy backend can hold."""


def is_eigen_name(name: str) -> bool:
    return name.startswith(_PREFIXES)


def _parse(name: str) -> tuple[str, int, int, int, int]:
    """``EigvalshN5K0`` -> ("val", 5, 0, 0, 0); ``EigouterN5K0P2Q1`` -> ("outer", 5, 0, 2, 1)."""
    kind = "val" if name.startswith("EigvalshN") else "outer"
    body = name[len("EigvalshN"):] if kind == "val" else name[len("EigouterN"):]
    n, rest = body.split("K")
    if kind == "val":
        return kind, int(n), int(rest), 0, 0
    k, rest = rest.split("P")
    p, q = rest.split("Q")
    return kind, int(n), int(k), int(p), int(q)


def _tri(n: int) -> list[tuple[int, int]]:
    """The (row, column) of each argument: the lower triangle, row by row."""
    return [(i, j) for i in range(n) for j in range(i + 1)]


@functools.cache
def _node_class(name: str) -> type:
    import sympy
    from mpmath.libmp import prec_to_dps

    kind, n, k, p, q = _parse(name)

    def fdiff(self: Any, argindex: int = 1) -> Any:
        if kind == "outer":
            raise SymbolicUnsupportedError(
                "second derivatives of numpy.linalg.eigvalsh/eigh (the derivative of an eigenvector) are not "
                "mapped in gradcheck.symbolic")
        i, j = _tri(n)[argindex - 1]
        d = _node_class(f"EigouterN{n}K{k}P{i}Q{j}")(*self.args)
        return d if i == j else 2 * d

    def _eval_evalf(self: Any, prec: int) -> Any:
        import mpmath

        if not all(a.is_number for a in self.args):
            return None
        with mpmath.workprec(prec):
            v = mpmath_function(name)(*[mpmath.mpf(sympy.Float(a, prec_to_dps(prec) + 5)._mpf_) for a in self.args])
        return sympy.Float(v, prec_to_dps(prec))

    return type(name, (sympy.Function,), {
        "nargs": n * (n + 1) // 2, "fdiff": fdiff, "_eval_evalf": _eval_evalf, "_eval_is_real": lambda self: True,
    })


def eigenvalues(be: Any, a: np.ndarray, uplo: str, what: str) -> np.ndarray:
    """The ascending eigenvalues of the symbolic symmetric matrix ``a`` as an object array of nodes."""
    if be.name != "sympy":
        raise NeedsSympy(f"numpy.{what} is held by the sympy backend only")
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise SymbolicUnsupportedError(f"numpy.{what} of an array of shape {a.shape}: gradcheck.symbolic maps "
                                       "one square matrix (a stack: call it per matrix)")
    if uplo not in ("L", "U"):
        raise SymbolicUnsupportedError(f"numpy.{what}(UPLO={uplo!r}): expected 'L' or 'U'")
    n = a.shape[0]
    src = a if uplo == "L" else a.T
    args = [src[i, j] for i, j in _tri(n)]
    out = np.empty(n, dtype=object)
    for k in range(n):
        out[k] = _node_class(f"EigvalshN{n}K{k}")(*args)
    return out


# --------------------------------------------------------------------------- numeric evaluation
def float_function(name: str) -> Any:
    """Vectorised float64 evaluation: every argument is a scalar or one value per column."""
    kind, n, k, p, q = _parse(name)
    tri = _tri(n)

    def run(*args: Any) -> np.ndarray:
        cols = np.broadcast_arrays(*[np.asarray(a, dtype=np.float64) for a in args])
        shape = cols[0].shape
        m = np.zeros(shape + (n, n))
        for (i, j), c in zip(tri, cols, strict=True):
            m[..., i, j] = c
            m[..., j, i] = c
        if kind == "val":
            return np.linalg.eigvalsh(m)[..., k]
        e, v = np.linalg.eigh(m)
        out = v[..., p, k] * v[..., q, k]
        # within rounding of a tie LAPACK's vector is one of many: no derivative to state (nan, never a value)
        others = np.delete(e, k, axis=-1)
        gap = np.min(np.abs(others - e[..., k : k + 1]), axis=-1, initial=np.inf)
        tied = gap <= 64 * np.finfo(np.float64).eps * np.max(np.abs(e), axis=-1)
        return np.where(tied, np.nan, out)

    return run


def mpmath_function(name: str) -> Any:
    """One point in mpmath, 20 digits above the caller's precision; a degenerate eigenvalue's
    eigenvector is refused (ArithmeticError), since its derivative does not exist."""
    import mpmath

    kind, n, k, p, q = _parse(name)
    tri = _tri(n)

    def run(*args: Any) -> Any:
        dps = mpmath.mp.dps
        with mpmath.workdps(dps + 20):
            m = mpmath.matrix(n, n)
            for (i, j), c in zip(tri, args, strict=True):
                m[i, j] = m[j, i] = mpmath.mpf(c)
            e, v = mpmath.eigsy(m)
            order = sorted(range(n), key=lambda t: e[t])
            lam = e[order[k]]
            if kind == "val":
                return +lam
            scale = max(abs(e[t]) for t in range(n)) or mpmath.mpf(1)
            gap = min((abs(e[order[t]] - lam) for t in range(n) if t != k), default=scale)
            if gap <= scale * mpmath.mpf(10) ** (-dps + 5):
                raise ArithmeticError(f"eigenvalue {k} of a {n}x{n} matrix is degenerate at this point: "
                                      "its eigenvector, and so its derivative, is not defined")
            col = order[k]
            return v[p, col] * v[q, col]

    return run
