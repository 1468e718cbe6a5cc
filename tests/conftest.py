"""Shared test configuration: hypothesis profiles and the pytester fixture.

Profiles (``HYPOTHESIS_PROFILE=<name>``; ``CI=true`` selects ``ci`` when no profile is named):

* ``ci``: few examples, derandomized (the same examples on every run and machine, so a
  red build is reproducible and never flaky), no deadline (shared runners are slow),
  no example database. The whole suite must stay within ~10 minutes on 2 cores.
* ``dev``: the default while working; random examples, failures saved in the local
  database and replayed first on the next run.
* ``thorough``: many examples, for releases and after touching the core's tolerances.

Property tests scale their own example counts from the loaded profile (see
``tests/properties/_support.py``), so an expensive property runs fewer examples than a
cheap one under every profile.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["pytester"]

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile("ci", max_examples=10, derandomize=True, deadline=None, database=None,
                          suppress_health_check=_SLOW_OK, print_blob=True)
settings.register_profile("dev", max_examples=30, deadline=None, suppress_health_check=_SLOW_OK)
settings.register_profile("thorough", max_examples=300, deadline=None, suppress_health_check=_SLOW_OK,
                          print_blob=True)


def _profile() -> str:
    named = os.environ.get("HYPOTHESIS_PROFILE")
    if named:
        return named
    return "ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "dev"


settings.load_profile(_profile())
