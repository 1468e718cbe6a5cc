"""Reference derivations from the five source documents (``/work/shared/seeds``).

Importing this package registers every derivation with :mod:`gradcheck.registry`.
"""
__gradcheck_reference_nets__ = True  # gradcheck.registry checks that this package is the built-in one

from . import least_squares, linear_maps, relu_logistic, relu_softmax, row_mlp, second_order, sigmoid_column, symmetric  # noqa: F401
