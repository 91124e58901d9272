"""Convergence checks that say what to do."""

from __future__ import annotations

from typing import Any

import arviz_stats
import numpy as np

RHAT_MAX, ESS_MIN = 1.01, 400


class FitWarning(UserWarning):
    """A fit whose diagnostics say its draws should not be trusted as they are."""


def diagnose(tree: Any) -> list[str]:
    """Messages for R-hat > 1.01, bulk or tail ESS < 400, and divergent transitions; empty when all is well."""
    posterior = tree["posterior"].to_dataset()
    names = [v for v in posterior.data_vars if not v.startswith("group_offset")]
    rhat = arviz_stats.rhat(posterior[names])
    ess_bulk = arviz_stats.ess(posterior[names], method="bulk")
    ess_tail = arviz_stats.ess(posterior[names], method="tail")
    messages = []
    worst_rhat = {k: float(rhat[k].max()) for k in names if float(rhat[k].max()) > RHAT_MAX}
    if worst_rhat:
        messages.append(f"R-hat above {RHAT_MAX} for {_fmt(worst_rhat)}: chains disagree (a distant mode or too "
                        "short a run); run longer (more warmup and draws), fix weakly identified coefficients "
                        "(e.g. fix={'c1': ...}), or use prior='paper'")
    low_ess = {k: min(float(ess_bulk[k].min()), float(ess_tail[k].min())) for k in names}
    low_ess = {k: v for k, v in low_ess.items() if v < ESS_MIN}
    if low_ess:
        messages.append(f"bulk/tail ESS below {ESS_MIN} for {_fmt(low_ess, '.0f')}: draw more (draws=...) or "
                        "reparameterise; intervals from these draws are noisy")
    if "diverging" in tree["sample_stats"]:
        divergent = int(np.sum(tree["sample_stats"]["diverging"].values))
        if divergent:
            messages.append(f"{divergent} divergent transitions: the posterior has regions NUTS cannot follow; "
                            "raise target_accept (e.g. 0.99), tighten the prior or fix poorly identified coefficients")
    return messages


def _fmt(values: dict[str, float], spec: str = ".3f") -> str:
    return ", ".join(f"{k}={v:{spec}}" for k, v in sorted(values.items()))
