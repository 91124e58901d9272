"""The simulated paper design: sizes, schema and the laws it was drawn from."""

from __future__ import annotations

import numpy as np

from bayes_distill.data import load_runs
from bayes_distill.data.simulate import PAPER_RECOVERY, simulate_paper_design, simulate_supervised
from bayes_distill.laws import PAPER, distilled_loss, supervised_loss


def test_paper_design_sizes_and_schema():
    runs = simulate_paper_design(PAPER_RECOVERY, noise=0.01, seed=0)
    kind = runs["kind"].values
    assert (kind == "supervised").sum() == 71
    assert (kind == "distilled").sum() == 715
    load_runs(runs)  # round-trips through validation
    d = runs.where(runs["kind"] == "distilled", drop=True)
    assert np.all(d["teacher_loss"] > 0) and np.all(d["loss"] > d["teacher_loss"] * 0.95)
    assert float(runs["N"].min()) >= 1.4e8 and float(runs["N"].max()) <= 1.3e10
    assert float(d["N"].max()) < 8e9  # students up to 7.75B
    assert PAPER_RECOVERY.B_prime == 2e6 and PAPER_RECOVERY.A == PAPER.A


def test_noiseless_design_follows_the_laws():
    runs = simulate_paper_design(PAPER, noise=0.0, seed=0)
    s = runs.where(runs["kind"] == "supervised", drop=True)
    np.testing.assert_allclose(s["loss"], supervised_loss(s["N"].values, s["D"].values, PAPER), rtol=1e-12)
    d = runs.where(runs["kind"] == "distilled", drop=True)
    expected = distilled_loss(d["N"].values, d["D"].values, d["teacher_loss"].values, PAPER)
    np.testing.assert_allclose(d["loss"], expected, rtol=1e-12)
    # teachers of family 3 are M = 20 models
    np.testing.assert_allclose(d["teacher_D"].values[-1] / d["teacher_N"].values[-1], 20.0)


def test_supervised_noise_level():
    runs = simulate_supervised(2000, noise=0.01, seed=1)
    resid = np.log(runs["loss"].values) - np.log(supervised_loss(runs["N"].values, runs["D"].values, PAPER))
    assert runs.sizes["run"] == 2000
    assert abs(resid.std() - 0.01) < 0.001 and abs(resid.mean()) < 0.001
