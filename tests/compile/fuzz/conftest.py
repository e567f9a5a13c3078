"""Fuzz settings. `make test` runs a small, derandomized sample (a few seconds);
`DAGSPEC_FUZZ_EXAMPLES=10000` (`make fuzz`) runs the long, random one."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("DAGSPEC_FUZZ_EXAMPLES", "120"))

settings.register_profile(
    "dagspec-fuzz",
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="DAGSPEC_FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
settings.load_profile("dagspec-fuzz")
