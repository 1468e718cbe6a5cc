"""The witnesses: each hands the judge an estimate of the derivative with an error bar.

* ``_seam``: the interface every oracle implements (a value, an error bar, one-sided slopes
  where it has them);
* ``_stencil``: the finite-difference arithmetic, written once (steps, Richardson weights,
  one-sided slopes, jumps, the refine factor, kink tests) for every caller;
* ``_fd``: the schemes (forward, central, richardson, complex step) entry by entry, with the
  loss's measured noise; ``_fd_oracle``: finite differences as an oracle (method, noise,
  steps, then the schemes);
* ``_symbolic``: the exact derivative of the same loss code, through :mod:`gradcheck.symbolic`.

Internal. May import :mod:`gradcheck.core` and :mod:`gradcheck.symbolic`, never the judge or the checks.
"""
