"""NumPyro and PyMC sample the same posterior: the two backends' model code agrees.

Data: 60 simulated supervised runs over a wide design (N 1e7..3e10 parameters, 2..2000 tokens per parameter,
1% noise) with normal priors of sd 0.5 on log A and log B, so the posterior is well identified and both
samplers reach a bulk ESS of about 3000+ with 4 x 2000 draws. The Monte Carlo standard error of a difference
of means is then about sd * sqrt(1/3000 + 1/3000) = 0.026 sd, so the 0.1-sd tolerance is ~4 standard errors;
the relative error of an sd estimate is about 1/sqrt(2 ESS) ~ 1.3%, so 10% is ~5 standard errors of the difference.
"""

from __future__ import annotations

import pytest

import bayes_distill  # noqa: F401  (enables JAX float64)

pytest.importorskip("pymc")

import arviz_stats as azs  # noqa: E402

from bayes_distill.data.simulate import simulate_supervised  # noqa: E402
from bayes_distill.inference.fit import sample  # noqa: E402
from bayes_distill.inference.model import RunArrays  # noqa: E402
from bayes_distill.inference.priors import Prior, default_prior  # noqa: E402
from bayes_distill.inference.pymc_model import sample_pymc  # noqa: E402

SITES = ("E", "log_A", "log_B", "alpha", "beta", "gamma", "sigma_supervised")
INIT = {"E": 1.2, "log_A": 8.1, "log_B": 9.8, "alpha": 0.41, "beta": 0.43, "gamma": 0.45, "sigma_supervised": 0.01}
CHAINS, DRAWS, WARMUP = 4, 2000, 1000


@pytest.fixture(scope="module")
def posteriors():
    runs = simulate_supervised(60, seed=1, N_range=(1e7, 3e10), M_range=(2.0, 2000.0))
    arrays = RunArrays.from_runs(runs)
    prior = {**default_prior(float(runs["loss"].min())),
             "A": Prior("normal", 8.1, 0.5, log=True), "B": Prior("normal", 9.8, 0.5, log=True)}
    # NumPyro as fit() runs it (reparameterised power-law terms, multi-start MAP); PyMC's twin as written.
    numpyro_tree = sample(runs, prior=prior, chains=CHAINS, draws=DRAWS, warmup=WARMUP, seed=0).tree
    numpyro_draws = {k: v.values for k, v in numpyro_tree["posterior"].data_vars.items()}
    tree = sample_pymc(arrays, prior, {}, nu=4.0, group_effects=False, chains=CHAINS, draws=DRAWS, warmup=WARMUP,
                       seed=0, initvals=INIT, cores=2)
    return numpyro_draws, tree


def test_pymc_tree_has_numpyro_names(posteriors):
    numpyro_draws, tree = posteriors
    names = set(tree["posterior"].data_vars)
    assert names == set(SITES) | {"A", "B"}
    assert names <= set(numpyro_draws)  # NumPyro also keeps its sampling coordinates (alpha_gamma, log_A_term, ...)
    assert {"posterior", "sample_stats", "log_likelihood", "observed_data"} <= set(tree.children)
    assert tree["log_likelihood"]["log_loss"].shape == (CHAINS, DRAWS, 60)


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
