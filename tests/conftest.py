from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from bayes_distill.jax_settings import configure_jax

# Several tests call the package's JAX functions directly (the optimisers, the model), not through the entry points
# that make the settings: float64 and four host devices, before any test builds arrays.
configure_jax()

settings.register_profile(
    "ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile("ci")


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory) -> Path:
    """The smoke grid trained once for the session (about 20-40 s on 2 cores): its folder, with runs.nc."""
    from bayes_distill.runner import run_sweep

    out = tmp_path_factory.mktemp("smoke")
    run_sweep(Path(__file__).resolve().parents[1] / "experiments" / "smoke.toml", out, progress=False)
    return out


@pytest.fixture(scope="session")
def smoke_posterior(smoke_runs):
    """A quick fit of the smoke grid (2 chains x 200 draws, E at the source's loss floor), as a user's first
    notebook would make it; its diagnostics are not the point, so their warnings are silenced."""
    import warnings

    import xarray as xr

    import bayes_distill as bd
    from bayes_distill.inference import FitWarning

    with xr.open_dataset(smoke_runs / "runs.nc") as table:
        floor = float(table["loss_floor"].values[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        return bd.fit(smoke_runs / "runs.nc", chains=2, draws=200, warmup=200, fix={"E": floor})
