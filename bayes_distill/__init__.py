"""bayes_distill: distillation scaling laws (Busbridge et al., 2025) with their uncertainty.

JAX runs in float64 here: the laws span sizes and token counts from 1e3 to 1e20 and budgets past 1e25 FLOPs,
and the planner must meet a budget to 1e-6 relative.
"""

import jax

jax.config.update("jax_enable_x64", True)

from bayes_distill.data import load_runs  # noqa: E402
from bayes_distill.laws import (  # noqa: E402
    PAPER,
    PAPER_ARCHITECTURE,
    PAPER_INTERVALS,
    SCENARIOS,
    Architecture,
    LawParams,
    Scenario,
    distilled_loss,
    forward_flops,
    supervised_loss,
    total_flops,
)
from bayes_distill.planner import allocate, crossover  # noqa: E402
from bayes_distill.posterior import Posterior, fit, load_posterior  # noqa: E402

__all__ = [
    "PAPER", "PAPER_ARCHITECTURE", "PAPER_INTERVALS", "SCENARIOS", "Architecture", "LawParams", "Posterior",
    "Scenario", "allocate", "crossover", "distilled_loss", "fit", "forward_flops", "load_posterior", "load_runs",
    "supervised_loss", "total_flops",
]
__version__ = "0.1.0"
