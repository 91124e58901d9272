import os

from hypothesis import HealthCheck, settings

import bayes_distill  # noqa: F401  (enables JAX float64 before any test builds arrays)

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
settings.register_profile(
    "ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile("ci")
