"""How well a posterior predicts runs it did not see: interval coverage, error, width and log predictive density
(shared by the extrapolation studies of issue 14)."""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from bayes_distill import Posterior


def heldout_scores(post: Posterior, N: np.ndarray, D: np.ndarray, loss: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Scores of supervised runs (N parameters, D tokens, loss in nats/token) held out from ``post``'s fit: the
    coverage of the central 50% and 90% posterior-predictive intervals, the median absolute relative error of the
    predictive median, the median 90% width relative to the loss, and the mean log predictive density of each run's
    log loss (its Student-t noise and, for a fit with it, the law error included; higher is better)."""
    predicted = post.predict(N=N, D=D, noise=True, seed=seed)
    q = predicted.quantile([0.05, 0.25, 0.5, 0.75, 0.95], dim=("chain", "draw")).values
    law = np.log(post.predict(N=N, D=D, seed=seed).values)  # (chain, draw, point): law and law error
    sigma = post.posterior["sigma_supervised"].values[..., None]
    log_density = stats.t.logpdf((np.log(loss) - law) / sigma, post.nu) - np.log(sigma)
    draws = log_density.shape[0] * log_density.shape[1]
    lpd = special.logsumexp(log_density.reshape(draws, -1), axis=0) - np.log(draws)
    return {"cover50": float(np.mean((q[1] <= loss) & (loss <= q[3]))),
            "cover90": float(np.mean((q[0] <= loss) & (loss <= q[4]))),
            "median_error": float(np.median(np.abs(q[2] - loss) / loss)),
            "width90": float(np.median((q[4] - q[0]) / loss)),
            "heldout_lpd": float(np.mean(lpd))}


def crps(draws: np.ndarray, truth: float) -> float:
    """The continuous ranked probability score of ``draws`` (any shape, one quantity) against ``truth``, in the
    draws' units (lower is better): E|X - truth| - E|X - X'| / 2. A proper score, so it rewards a posterior for mass
    near the truth even where its median sits in another mode."""
    x = np.sort(np.ravel(draws))
    m = x.size
    spread = 2 * np.sum((2 * np.arange(1, m + 1) - m - 1) * x) / m**2  # E|X - X'|, from the order statistics
    return float(np.mean(np.abs(x - truth)) - spread / 2)


def psis_loo(post: Posterior) -> float:
    """PSIS-LOO expected log predictive density of the fitted runs, per run (higher is better)."""
    import arviz_stats

    return float(arviz_stats.loo(post.tree).elpd) / post.runs.sizes["run"]
