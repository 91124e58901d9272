"""Layer 5: posterior queries (predictions, allocations, crossover, probability that distillation wins) and their
summaries."""

from bayes_distill.posterior.posterior import Posterior, fit, load_posterior
from bayes_distill.posterior.scale import PlanningScale, planning_scale
from bayes_distill.posterior.summaries import (
    INTERVAL_QUANTILES,
    SAMPLE_DIMS,
    SUPERVISED_LAW_FIXED_CAUTION,
    crossover_range,
    format_budget,
    summarize_crossover,
    summarize_draws,
)

__all__ = ["INTERVAL_QUANTILES", "SAMPLE_DIMS", "SUPERVISED_LAW_FIXED_CAUTION", "PlanningScale", "Posterior",
           "crossover_range", "fit", "format_budget", "load_posterior", "planning_scale", "summarize_crossover",
           "summarize_draws"]
