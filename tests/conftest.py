from hypothesis import HealthCheck, settings

import bayes_distill  # noqa: F401  (float64 and four host devices, before any test builds arrays)

settings.register_profile(
    "ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile("ci")
