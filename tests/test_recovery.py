"""Supervised-only recovery: the 90% posterior intervals of ``fit`` contain the coefficients the data came from.

The joint-model recovery on the paper design (786 runs) takes 1-2 min on 2 idle cores, so it lives in
``experiments/recovery_joint.py`` (not CI).
"""

from __future__ import annotations

import warnings

import numpy as np

from bayes_distill import fit
from bayes_distill.data.simulate import simulate_supervised
from bayes_distill.laws import PAPER, SUPERVISED_COEFFICIENTS, LawParams, log_supervised_loss


def test_supervised_90_intervals_contain_truth():
    runs = simulate_supervised(100, noise=0.01, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = fit(runs, chains=2, draws=500, warmup=500, seed=0)
    assert post.tree.attrs["multistart_starts"] == 16  # the default without distilled runs (STARTS)
    params = post.params()
    for name in SUPERVISED_COEFFICIENTS:
        lo, hi = np.quantile(params[name].values, [0.05, 0.95])
        assert lo <= getattr(PAPER, name) <= hi, (name, lo, hi)
    # the loss surface itself is pinned far tighter than the coefficients: 90% band at a 7B, M = 20 model
    draws = log_supervised_loss(7e9, 1.4e11, LawParams.from_mapping({k: params[k].values.ravel() for k in params}))
    lo, hi = np.quantile(draws, [0.05, 0.95])
    truth = log_supervised_loss(7e9, 1.4e11, PAPER)
    assert lo <= truth <= hi and hi - lo < 0.02
