"""Reference derivations from the five source documents (``/work/shared/seeds``).

Importing this package registers every derivation with :mod:`gradcheck.registry`, which
imports it by name (``registry.BUILTIN_MODULES``) on first use: the nets depend on the
registry, never the registry on the nets. Each derivation registers its own sizes
(defaults from its factory, ``large_sizes``, ``named_sizes``); none imports the report.
"""
__gradcheck_reference_nets__ = True  # gradcheck.registry checks that this package is the built-in one

from . import least_squares, linear_maps, relu_logistic, relu_softmax, row_mlp, second_order, sigmoid_column, symmetric  # noqa: F401
