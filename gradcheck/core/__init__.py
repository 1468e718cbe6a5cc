"""The ground every check stands on: errors, options, parameters, and the one evaluator.

* ``_errors``: the exception classes (public as ``gradcheck.<Name>``); ``_status``: the
  per-entry status codes every mode speaks;
* ``_options``: the options of a check, validated once at the public boundary, and what a
  verdict promises (``DEFAULT_RESOLUTION``, ``floor_rtol``);
* ``_params``: the user's parameters as private float copies (the user's arrays are never
  written); ``_structure``: symmetric, triangular and diagonal parameters; ``_layout``:
  Jacobian layouts; ``_naming``: names as a person reads them;
* ``_evaluator``: the one place the function under test is called (mutation, nondeterminism
  and non-finite values caught there); ``_parallel``: its evaluations spread over processes;
  ``_progress`` and ``_recording``: a progress bar, and the listeners told of each check.

Internal: the public API is :mod:`gradcheck`'s top-level names. May import nothing else of
gradcheck (``tests/test_layers.py`` holds every room to its table).
"""
