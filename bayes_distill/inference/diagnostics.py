"""Convergence checks that say what to do."""

from __future__ import annotations

from typing import Any

import arviz_stats
import numpy as np

RHAT_MAX, ESS_MIN = 1.01, 400


class FitWarning(UserWarning):
    """A fit whose diagnostics say its draws should not be trusted as they are."""


PARETO_K_MAX = 0.7
NOISE_FLOOR = 1e-5
"""A log-loss noise scale whose posterior median is below this has collapsed: no run measures its loss to 0.001%.
The law then passes through the kind's runs (fewer runs than it has free coefficients, or nearly so) and the data
pull the noise toward 0; the log-normal noise prior (``NOISE_PRIOR``) holds it off on a handful of noisy runs, so a
collapse that remains means runs that lie on the law (simulated without noise, or the same run twice)."""


def sampler_record(tree: Any) -> list[str]:
    """What the fit's rules did to reach its draws, one sentence each (from the DataTree's attributes): sampled in
    the coefficients' own coordinates, raised the target acceptance, adapted the chains again, continued them.
    Empty when NUTS sampled once as set; said so that a user can tell a fit that needed help from one that did not."""
    attrs = tree.attrs
    record = []
    if str(attrs.get("coordinates", "power-law terms")) != "power-law terms":
        record.append(f"sampled in the {attrs['coordinates']}")
    if "target_accept_raised" in attrs:
        record.append(f"raised the target acceptance {attrs['target_accept_raised']} "
                      f"(to {float(attrs['target_accept']):g})")
    if "readapted" in attrs:
        record.append(f"adapted the chains again {attrs['readapted']}, from their last draws with one pooled "
                      "mass matrix (the earlier draws as warm-up)")
    if "draws_extended" in attrs:
        record.append(f"continued the chains {attrs['draws_extended']}")
    return record


def diagnose(tree: Any) -> list[str]:
    """Messages for what makes a fit's draws untrustworthy; empty when all is well. MCMC: R-hat > 1.01, bulk or
    tail ESS < 400, divergent transitions. SVI (independent draws of a guide, so R-hat and ESS say nothing): the
    Pareto k of the guide's importance weights above 0.7, where the guide misses the posterior's tails."""
    if tree.attrs.get("method") == "svi":
        k = float(tree.attrs["svi_pareto_k"])
        if k <= PARETO_K_MAX:
            return []
        estimate = f"is {k:.2f} > {PARETO_K_MAX}" if np.isfinite(k) else "cannot be estimated (non-finite weights)"
        return [f"Pareto k of the SVI guide's importance weights {estimate}: the guide does not represent the "
                "posterior (its intervals are too narrow or misplaced); fit with method='nuts'"]
    rhat, ess = mixing(tree)
    messages = collapsed_noise(tree)
    high_rhat = {k: v for k, v in rhat.items() if v > RHAT_MAX}
    if high_rhat:
        messages.append(f"R-hat above {RHAT_MAX} for {_fmt(high_rhat)}: chains disagree (a distant mode or too "
                        "short a run); run longer (more warmup and draws), fix weakly identified coefficients "
                        "(e.g. fix={'c1': ...}), or use prior='paper'")
    low_ess = {k: v for k, v in ess.items() if v < ESS_MIN}
    if low_ess:
        messages.append(f"bulk/tail ESS below {ESS_MIN} for {_fmt(low_ess, '.0f')}: draw more (draws=...) or "
                        "reparameterise; intervals from these draws are noisy")
    if "diverging" in tree["sample_stats"]:
        divergent = int(np.sum(tree["sample_stats"]["diverging"].values))
        if divergent:
            messages.append(f"{divergent} divergent transitions: the posterior has regions NUTS cannot follow; "
                            "raise target_accept (e.g. 0.99), tighten the prior or fix poorly identified coefficients")
    return messages


def collapsed_noise(tree: Any) -> list[str]:
    """A message for each kind whose log-loss noise scale (``sigma_<kind>``) has a posterior median below
    ``NOISE_FLOOR``, naming the median."""
    posterior = tree["posterior"]
    messages = []
    for name in sorted(v for v in posterior.data_vars if v.startswith("sigma_")):
        median = float(np.median(posterior[name].values))
        if median < NOISE_FLOOR:
            messages.append(f"{name} has collapsed (posterior median {median:.2g}): the law passes through the "
                            f"{name.removeprefix('sigma_')} runs (too few for its free coefficients) and the "
                            "intervals from it are too narrow; add runs of that kind or fix coefficients "
                            "(fix={...})")
    return messages


def mixing(tree: Any) -> tuple[dict[str, float], dict[str, float]]:
    """Each posterior variable's worst R-hat and its lowest bulk or tail ESS (over its elements), from an MCMC
    DataTree; the per-group offsets are left out (many, and each weakly identified by few runs). An element equal in
    every draw (a law error offset the law's coefficients take over wholly) has nothing to mix and is left out too;
    any other element whose R-hat or ESS cannot be computed (chains that never moved) counts as failing: R-hat
    infinite, ESS 0."""
    posterior = tree["posterior"].to_dataset()
    posterior = posterior[[v for v in posterior.data_vars if not v.startswith("group_offset")]]
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 for an element without variance in a chain
        rhat = arviz_stats.rhat(posterior)
        ess_bulk, ess_tail = (arviz_stats.ess(posterior, method=method) for method in ("bulk", "tail"))
    moving = posterior.max(("chain", "draw")) > posterior.min(("chain", "draw"))
    worst_rhat, lowest_ess = {}, {}
    for k in posterior.data_vars:
        keep = moving[k].values.astype(bool)
        if not keep.any():
            continue
        worst_rhat[k] = float(np.max(np.where(np.isnan(rhat[k].values), np.inf, rhat[k].values)[keep]))
        ess = np.minimum(ess_bulk[k].values, ess_tail[k].values)  # NaN where either is
        lowest_ess[k] = float(np.min(np.where(np.isnan(ess), 0.0, ess)[keep]))
    return worst_rhat, lowest_ess


def _fmt(values: dict[str, float], spec: str = ".3f") -> str:
    return ", ".join(f"{k}={v:{spec}}" for k, v in sorted(values.items()))
