"""Hypothesis profiles for the parser fuzzers, chosen with HYPOTHESIS_PROFILE.

`ci` (the default, used by `make test`) runs a few examples per target so the whole directory stays
well under a minute; `long` (`make fuzz`) runs many and replays the failures it found before
(kept in `.pytest_cache/hypothesis`).
Strategies bound every generated input, so no example can allocate without limit; the deadline is
off because a shared 2-core machine makes per-example timings meaningless. A hang is still caught:
pytest-timeout fails any test that runs past its limit.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

from s3.conftest import admin, make_pair  # noqa: F401
from swift.conftest import admin_session, make_user  # noqa: F401

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]

settings.register_profile("ci", max_examples=100, deadline=None, database=None,
                          suppress_health_check=_SLOW_OK, print_blob=True)
settings.register_profile("long", max_examples=4000, deadline=None, suppress_health_check=_SLOW_OK,
                          database=DirectoryBasedExampleDatabase(".pytest_cache/hypothesis"), print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
