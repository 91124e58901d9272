from hypothesis import HealthCheck, settings

from bayes_distill.jax_settings import configure_jax

# Several tests call the package's JAX functions directly (the optimisers, the model), not through the entry points
# that make the settings: float64 and four host devices, before any test builds arrays.
configure_jax()

settings.register_profile(
    "ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile("ci")
