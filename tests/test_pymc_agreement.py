"""NumPyro and PyMC sample the same posterior: the two backends' model code agrees.

Data: 60 simulated supervised runs over a wide design (N 1e7..3e10 parameters, 2..2000 tokens per parameter,
1% noise) with the default prior; both backends sample in the same coordinates (``law_coefficients``) from the
same multi-start MAP and reach a bulk ESS of 3000-10000 with 4 x 2000 draws. The Monte Carlo standard error of a
difference of means is then at most about sd * sqrt(2 / 3000) = 0.026 sd, so the 0.1-sd tolerance is ~4 standard
errors. The posterior of log A is heavy-tailed, so its sd estimate varies more than 1/sqrt(2 ESS): about 4% between
seeds of one backend (0.81-0.85 for NumPyro and PyMC alike), so the 10% tolerance on sds is ~2.5 of those.
"""

from __future__ import annotations

import arviz_stats as azs
import pytest

from bayes_distill.data.simulate import simulate_supervised
from bayes_distill.inference.fit import sample
from bayes_distill.inference.priors import default_prior

SITES = ("E", "log_A", "log_B", "alpha", "beta", "gamma", "sigma_supervised")
CHAINS, DRAWS, WARMUP = 4, 2000, 1000


@pytest.fixture(scope="module")
def posteriors():
    runs = simulate_supervised(60, seed=1, N_range=(1e7, 3e10), M_range=(2.0, 2000.0))
    prior = default_prior(float(runs["loss"].min()))
    # Both as fit() runs them: the same sampling coordinates, started from the same multi-start MAP.
    numpyro_tree = sample(runs, prior=prior, chains=CHAINS, draws=DRAWS, warmup=WARMUP, seed=0).tree
    numpyro_draws = {k: v.values for k, v in numpyro_tree["posterior"].data_vars.items()}
    numpyro_draws["predictive_median"] = numpyro_tree["posterior_predictive"]["log_loss"].median(("chain", "draw"))
    tree = sample(runs, backend="pymc", prior=prior, chains=CHAINS, draws=DRAWS, warmup=WARMUP, seed=0).tree
    return numpyro_draws, tree


def test_pymc_tree_has_numpyro_names(posteriors):
    numpyro_draws, tree = posteriors
    names = set(tree["posterior"].data_vars)
    # the same sampling coordinates and the coefficients under their own names
    coefficients = {"A", "B", "alpha_gamma", "beta_gamma", "log_A_term", "log_B_term"}
    assert names == set(numpyro_draws) - {"predictive_median"} == set(SITES) | coefficients
    groups = {"posterior", "sample_stats", "log_likelihood", "posterior_predictive", "observed_data"}
    assert groups <= set(tree.children)
    shape = (CHAINS, DRAWS, 60)
    assert tree["log_likelihood"]["log_loss"].shape == tree["posterior_predictive"]["log_loss"].shape == shape


def test_pymc_replicates_the_runs_as_numpyro_does(posteriors):
    # Each engine draws its own replicated log losses (the fit's checks and plots read them): their medians per run
    # agree to a tenth of the noise scale, the Monte Carlo error of a median of 8,000 Student-t draws being ~2%.
    numpyro_draws, tree = posteriors
    pymc_median = tree["posterior_predictive"]["log_loss"].median(("chain", "draw")).values
    sigma = float(tree["posterior"]["sigma_supervised"].median())
    assert abs(pymc_median - numpyro_draws["predictive_median"].values).max() < 0.1 * sigma


def test_means_and_sds_agree(posteriors):
    numpyro_draws, tree = posteriors
    ess_pymc = azs.ess(tree, var_names=list(SITES))
    for name in SITES:
        a, b = numpyro_draws[name], tree["posterior"][name].values
        sd = a.std()
        ess_a = float(azs.ess(a))
        ess_b = float(ess_pymc[name])
        assert min(ess_a, ess_b) > 1500, (name, ess_a, ess_b)  # the tolerances below are >= ~3.5 MC errors
        assert abs(a.mean() - b.mean()) < 0.1 * sd, (name, a.mean(), b.mean(), sd)
        assert abs(b.std() / sd - 1.0) < 0.10, (name, sd, b.std())
