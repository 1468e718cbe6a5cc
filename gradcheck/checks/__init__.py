"""The checks users call, one room per mode; each asks the oracles and hands their estimates to the judge.

* ``_first_order``: ``check_grad``, ``check_jacobian``, ``numerical_grad`` and ``assert_*``,
  entry by entry, and the choice of mode; ``_cost``: that choice's predicted cost;
* ``directional``: large models along random directions, with group testing to name entries;
* ``second``: Hessians, Hessian-vector products and Gauss-Newton matrices.

Internal: :mod:`gradcheck` re-exports the public names. May import :mod:`gradcheck.core`,
:mod:`gradcheck.oracles` and :mod:`gradcheck.judge`.
"""
