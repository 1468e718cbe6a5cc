"""From estimates to verdicts: the one judge, the diagnosis, and the results that carry them.

* ``_compare``: every entry of every mode judged against its oracle's error bar plus the
  analytic side's measured rounding (``_rounding``), in one relative-error definition;
* ``_joint``: kinks shared by entries (is the analytic vector a gradient of one piece?);
* ``_diagnose``: what a wrong derivative looks like (transposed, scaled, reshaped, masked);
* ``_result``: the typed, immutable results; ``_headline``: the one line a failure opens with.

Internal. May import :mod:`gradcheck.core` and :mod:`gradcheck.oracles`, never the checks.
"""
