import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, settings

import bayes_distill as bd
from bayes_distill.jax_settings import configure_jax
from bayes_distill.laws import PAPER

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


TRUTH = PAPER.replace(B_prime=2e6)


def simulated_runs(n_supervised=60, n_distilled=0, noise=0.005, seed=0):
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(3e7), np.log(3e9), n_supervised))
    D = N * np.exp(rng.uniform(np.log(5), np.log(300), n_supervised))
    rows = {"kind": ["supervised"] * n_supervised, "N": N, "D": D,
            "loss": bd.supervised_loss(N, D, TRUTH) * np.exp(rng.normal(0, noise, n_supervised)),
            "teacher_loss": np.full(n_supervised, np.nan)}
    frame = pd.DataFrame(rows)
    if n_distilled:
        N_S = np.exp(rng.uniform(np.log(1e8), np.log(3e9), n_distilled))
        D_S = N_S * np.exp(rng.uniform(np.log(10), np.log(300), n_distilled))
        L_T = rng.uniform(1.9, 2.8, n_distilled)
        distilled = pd.DataFrame({"kind": "distilled", "N": N_S, "D": D_S, "teacher_loss": L_T,
                                  "loss": bd.distilled_loss(N_S, D_S, L_T, TRUTH)
                                  * np.exp(rng.normal(0, noise, n_distilled))})
        frame = pd.concat([frame, distilled], ignore_index=True)
    frame["run"] = [f"r{i}" for i in range(len(frame))]
    return frame


@pytest.fixture(scope="session")
def joint_posterior():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bd.inference.FitWarning)  # short chains; the answers are what is tested
        return bd.fit(simulated_runs(40, 80), chains=2, draws=300, warmup=300, seed=3, target_accept=0.95)
