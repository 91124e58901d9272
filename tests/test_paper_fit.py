"""The paper's procedure (Huber + L-BFGS-B + bootstrap) recovers the laws on near-noiseless data."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from bayes_distill.data.simulate import PAPER_RECOVERY, simulate_paper_design, simulate_supervised
from bayes_distill.inference.paper_fit import paper_fit, paper_params
from bayes_distill.laws import (
    DISTILLATION_COEFFICIENTS,
    PAPER,
    SUPERVISED_COEFFICIENTS,
    distilled_loss,
    log_supervised_loss,
)


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


# --- the distillation half: supervised law frozen, then the nine distillation coefficients ---------------------

DISTILLATION_FAST = {"starts": 8, "distillation_starts": 8, "bootstrap": 4, "seed": 0}
"""Fast options: 8 grid points per law (so 8 L-BFGS-B polishes each, not 32) and 4 bootstrap refits."""


def _one_blas_thread():
    """SciPy's L-BFGS-B (``setulb``, 3 ms a call against 0.4 ms for the JAX objective) runs about 8x slower with
    OpenBLAS's default threads on a loaded 2-core machine; with one BLAS thread the fits below take 8-19 s."""
    try:
        from threadpoolctl import threadpool_limits  # a dependency of pymc
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(1, "blas")


@pytest.fixture(scope="module")
def design_fit():
    runs = simulate_paper_design(PAPER_RECOVERY, noise=1e-4, seed=0)  # 71 supervised + 715 distilled runs
    with _one_blas_thread():
        fit = paper_fit(runs, **DISTILLATION_FAST)
        supervised_only = paper_fit(runs.isel(run=runs["kind"].values == "supervised"), **DISTILLATION_FAST)
    return runs, fit, supervised_only


def _huber_objective(runs, params) -> float:
    """Independent oracle of the distillation objective: sum of Huber(1e-4) on log residuals of the distilled runs,
    in NumPy through ``distilled_loss`` (the fit's own code uses JAX through ``log_distilled_loss``)."""
    dis = runs["kind"].values == "distilled"
    N, D, LT, loss = (runs[v].values[dis].astype(float) for v in ("N", "D", "teacher_loss", "loss"))
    r = np.log(np.asarray(distilled_loss(N, D, LT, params), dtype=float)) - np.log(loss)
    a, delta = np.abs(r), 1e-4
    return float(np.sum(np.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta))))


def test_distillation_fit_returns_fifteen_coefficients_and_its_objective(design_fit):
    runs, fit, _ = design_fit
    assert list(fit["coefficient"].values) == list(SUPERVISED_COEFFICIENTS + DISTILLATION_COEFFICIENTS)
    assert np.all(np.isfinite(fit["estimate"].values))
    assert fit["bootstrap_draws"].shape == (4, 15)
    # the attribute is the Huber objective over the 715 distilled runs at the estimate (measured: equal to 1e-14)
    assert "distillation_objective" in fit.attrs
    assert fit.attrs["distillation_objective"] == pytest.approx(_huber_objective(runs, paper_params(fit)), rel=1e-6)
    # and the optimiser did at least as well as the truth's distillation coefficients with the frozen supervised six
    # (measured 3.043e-6 against 3.073e-6; a fit stopped early or on the wrong runs is worse)
    at_truth = PAPER_RECOVERY.replace(**{c: float(fit["estimate"].sel(coefficient=c)) for c in SUPERVISED_COEFFICIENTS})
    assert fit.attrs["distillation_objective"] <= _huber_objective(runs, at_truth)


def test_distillation_fit_freezes_the_supervised_stage(design_fit):
    """The supervised six are the first stage's estimate: a supervised-only fit of the supervised runs with the same
    seed and options draws the same grid and resamples (the distillation stage uses the generator only afterwards)."""
    _, fit, supervised_only = design_fit
    assert list(supervised_only["coefficient"].values) == list(SUPERVISED_COEFFICIENTS)
    assert "distillation_objective" not in supervised_only.attrs
    sup = list(SUPERVISED_COEFFICIENTS)
    np.testing.assert_allclose(fit["estimate"].sel(coefficient=sup), supervised_only["estimate"], rtol=1e-9)
    np.testing.assert_allclose(fit["bootstrap_draws"].sel(coefficient=sup), supervised_only["bootstrap_draws"],
                               rtol=1e-9)
    assert fit.attrs["supervised_objective"] == pytest.approx(supervised_only.attrs["supervised_objective"], rel=1e-9)


# relative tolerances, about 3x the worst relative error measured over data seeds 0-2 and grid seeds 0-2
# (seed 0, the one tested: alpha' 5.5e-4, beta' 6.3e-4, gamma' 3.1e-3, c0 2.9e-3, f1 3.2e-3, A' 3.5e-3,
# B' 7.4e-3, d1 1.0e-2, c1 9.7e-2; worst over the other seeds: 2.1e-3, 2.7e-3, 3.2e-3, 3.1e-3, 3.5e-3, 1.5e-2,
# 3.1e-2, 1.2e-2, 1.1e-1). c1 is weakly identified (the break is sharp, so only runs near it inform c1); it is
# checked only for having left the grid (starts c1 <= 1.5, truth 522.6).
DISTILLATION_RTOL = {"alpha_prime": 0.005, "beta_prime": 0.005, "gamma_prime": 0.01, "c0": 0.01, "f1": 0.01,
                     "A_prime": 0.03, "B_prime": 0.05, "d1": 0.03, "c1": 0.25}


def test_distillation_coefficients_recover_the_truth(design_fit):
    _, fit, _ = design_fit
    est = fit["estimate"].to_series()
    for name, rtol in DISTILLATION_RTOL.items():
        assert abs(est[name] / getattr(PAPER_RECOVERY, name) - 1) < rtol, (name, est[name])


# held out: students larger than the design's (7.75e9), most on more tokens (design: up to 8.7e11) and teachers
# stronger (design L_T >= 1.93); the truth's excess L_S - L_T there is 0.0096 to 0.066 nats
HELD_OUT = ((1.26e10, 2.5e11, 2.0), (1.26e10, 1e12, 1.8), (1.26e10, 2e12, 1.9), (1.26e10, 5e12, 1.75),
            (2e10, 2e12, 1.85), (3e10, 3e12, 1.8), (5e10, 1e13, 1.7))


def test_distilled_predictions_at_held_out_points(design_fit):
    """Measured: loss relative error <= 1.2e-5 (<= 6.8e-5 over other seeds), excess relative error <= 1.6e-3
    (<= 5.2e-3). Tolerances 1e-4 and 1%: the excess is what the distillation law adds to L_T, so 1% of it is a far
    tighter check than 1e-4 of the loss; a 0.5% loss tolerance would pass with the excess wrong by 100%."""
    _, fit, _ = design_fit
    params = paper_params(fit)
    for N_S, D_S, L_T in HELD_OUT:
        got = float(distilled_loss(N_S, D_S, L_T, params))
        truth = float(distilled_loss(N_S, D_S, L_T, PAPER_RECOVERY))
        assert abs(got / truth - 1) < 1e-4, (N_S, D_S, L_T, got, truth)
        assert abs((got - L_T) / (truth - L_T) - 1) < 0.01, (N_S, D_S, L_T, got, truth)


def test_distillation_bootstrap(design_fit):
    """Percentile intervals of the refits. Not asserted: lower <= estimate <= upper, which percentile intervals do not
    promise (measured: grid seed 1 puts B' and beta' just outside theirs with 4 resamples)."""
    _, fit, _ = design_fit
    dist = list(DISTILLATION_COEFFICIENTS)
    draws = fit["bootstrap_draws"].sel(coefficient=dist).values
    assert draws.shape == (4, 9) and np.all(np.isfinite(draws))
    np.testing.assert_allclose(fit["lower"].sel(coefficient=dist), np.quantile(draws, 0.05, axis=0), rtol=1e-12)
    np.testing.assert_allclose(fit["upper"].sel(coefficient=dist), np.quantile(draws, 0.95, axis=0), rtol=1e-12)
    est = fit["estimate"].sel(coefficient=dist).values
    # resampling moves the well-identified coefficients (weights reach the objective), but only a little:
    # measured relative spread of the draws about the estimate 0.44% (A'), <= 0.21% for the exponents and c0
    for name in ("alpha_prime", "beta_prime", "gamma_prime", "c0", "A_prime"):
        col = draws[:, dist.index(name)]
        assert np.ptp(col) > 0, name
        assert np.max(np.abs(col / est[dist.index(name)] - 1)) < 0.03, (name, col)
