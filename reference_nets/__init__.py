"""Reference derivations from the five source documents (``/work/shared/seeds``).

Importing this package registers every derivation with :mod:`gradcheck.registry`.
"""
from . import least_squares, linear_maps, relu_logistic, relu_softmax, row_mlp, second_order, sigmoid_column  # noqa: F401
