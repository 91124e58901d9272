"""The paper's procedure (Huber + L-BFGS-B + bootstrap) recovers the laws on near-noiseless data."""

from __future__ import annotations

import numpy as np

from bayes_distill.data.simulate import simulate_supervised
from bayes_distill.inference.paper_fit import paper_fit, paper_params
from bayes_distill.laws import PAPER, log_supervised_loss


def test_supervised_recovery_with_fast_options():
    runs = simulate_supervised(80, noise=1e-4, seed=2, N_range=(1e7, 3e10), M_range=(2.0, 2000.0))
    fit = paper_fit(runs, starts=200, bootstrap=24, seed=0)
    est = fit["estimate"].to_series()
    for name, rtol in (("E", 0.02), ("alpha", 0.05), ("beta", 0.05), ("gamma", 0.05), ("A", 0.5), ("B", 0.5)):
        assert abs(est[name] / getattr(PAPER, name) - 1) < rtol, (name, est[name])
    # predictions far outside the data (N = 1e11, D = 1e13) within 0.5%
    got = log_supervised_loss(1e11, 1e13, paper_params(fit))
    assert abs(got - log_supervised_loss(1e11, 1e13, PAPER)) < 5e-3
    assert np.all(fit["lower"] <= fit["estimate"] * (1 + 1e-9)) and np.all(fit["upper"] >= fit["estimate"] * (1 - 1e-9))
    assert fit["bootstrap_draws"].shape == (24, 6)
