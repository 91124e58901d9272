"""The simulated paper design: sizes, schema and the laws it was drawn from."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from bayes_distill.data import load_runs
from bayes_distill.data.simulate import PAPER_RECOVERY, simulate_paper_design, simulate_supervised
from bayes_distill.laws import PAPER, distilled_loss, log_distilled_loss, log_supervised_loss, supervised_loss


def test_paper_design_sizes_and_schema():
    runs = simulate_paper_design(PAPER_RECOVERY, noise=0.01, seed=0)
    kind = runs["kind"].values
    assert (kind == "supervised").sum() == 71
    assert (kind == "distilled").sum() == 715
    # Round-trips through validation unchanged: same runs, same variables, same values, nothing excluded.
    again = load_runs(runs)
    assert dict(again.sizes) == {"run": 786}
    assert set(again.data_vars) == {"kind", "N", "D", "loss", "teacher_loss", "teacher_N", "teacher_D", "group"}
    xr.testing.assert_identical(again, runs)
    assert again.attrs["excluded_failed_runs"] == 0
    d = runs.where(runs["kind"] == "distilled", drop=True)
    assert np.all(d["teacher_loss"] > 0) and np.all(np.isnan(runs["teacher_loss"].values[kind == "supervised"]))
    assert float(runs["N"].min()) >= 1.4e8 and float(runs["N"].max()) <= 1.3e10
    assert float(d["N"].max()) < 8e9  # students up to 7.75B
    assert PAPER_RECOVERY.B_prime == 2e6 and PAPER_RECOVERY.A == PAPER.A


def test_paper_design_noise_level():
    # Noise is log-normal with sd 0.01 around the laws, a student's at its teacher's *measured* loss. The sd of the
    # sample sd over 715 distilled runs is 0.01 / sqrt(2 * 714) = 2.6e-4 and of the mean 0.01 / sqrt(715) = 3.7e-4;
    # over the 71 supervised runs 8.4e-4 and 1.2e-3: bounds of 3 to 4 of those. A student drawn at the teacher's
    # noiseless loss instead would show an sd near 0.0114 against the law at the measured one (checked by hand).
    runs = simulate_paper_design(PAPER_RECOVERY, noise=0.01, seed=0)
    d = runs.where(runs["kind"] == "distilled", drop=True)
    resid = np.log(d["loss"].values) - log_distilled_loss(d["N"].values, d["D"].values, d["teacher_loss"].values,
                                                          PAPER_RECOVERY)
    assert resid.size == 715
    assert abs(resid.std(ddof=1) - 0.01) < 8e-4 and abs(resid.mean()) < 1.5e-3
    s = runs.where(runs["kind"] == "supervised", drop=True)
    resid = np.log(s["loss"].values) - log_supervised_loss(s["N"].values, s["D"].values, PAPER_RECOVERY)
    assert abs(resid.std(ddof=1) - 0.01) < 3.5e-3 and abs(resid.mean()) < 5e-3


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


def _residuals(runs: xr.Dataset, params) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """Each kind's log loss less the law's (the distilled at the measured teacher loss): supervised, distilled."""
    s = runs.where(runs["kind"] == "supervised", drop=True)
    d = runs.where(runs["kind"] == "distilled", drop=True)
    return (np.log(s["loss"].values) - log_supervised_loss(s["N"].values, s["D"].values, params),
            np.log(d["loss"].values) - log_distilled_loss(d["N"].values, d["D"].values, d["teacher_loss"].values,
                                                          params))


def test_law_error_is_one_offset_per_size_on_top_of_the_same_noise():
    plain = simulate_paper_design(PAPER_RECOVERY, noise=0.01, seed=3)
    erred = simulate_paper_design(PAPER_RECOVERY, noise=0.01, seed=3, law_error=0.02)
    for kind, before, after in zip(("supervised", "distilled"), _residuals(plain, PAPER_RECOVERY),
                                   _residuals(erred, PAPER_RECOVERY), strict=True):
        sizes = erred["N"].values[erred["kind"].values == kind]
        offset = after - before  # the noise is the same draw in both, so what is left is the size's offset
        per_size = {n: np.unique(np.round(offset[sizes == n], 12)) for n in np.unique(sizes)}
        assert all(values.size == 1 for values in per_size.values()), kind
        spread = np.array([values[0] for values in per_size.values()])
        assert len(spread) == (11 if kind == "supervised" else 10)
        assert 0.005 < spread.std() < 0.04 and np.all(np.abs(spread) < 0.1)


def test_law_error_must_be_a_spread():
    with pytest.raises(ValueError, match="law_error.*-0.01"):
        simulate_paper_design(law_error=-0.01)
