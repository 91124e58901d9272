"""Layer 6: figures of a fitted ``Posterior``: the laws against the runs, the planning answers and the fit's checks.

Every function takes a ``Posterior`` first and returns a ``matplotlib.figure.Figure`` made without pyplot; the
bands are the 50% and 90% equal-tailed intervals of ``bayes_distill.posterior.summarize_draws`` around the
median, and observed runs are drawn on the curve they belong to. Importing this package selects no backend and
changes no rcParams. To show a figure in a notebook, return it from a cell (with ``%matplotlib inline``) or save
it with ``fig.savefig(path)``.
"""

from bayes_distill.plots.design import design_progress, next_runs
from bayes_distill.plots.fit import diagnostics, posterior_predictive, residuals
from bayes_distill.plots.laws import capacity_gap, isoflop_profiles, loss_vs_tokens
from bayes_distill.plots.planning import allocation_vs_budget, crossover_vs_student_size, win_probability_map

__all__ = ["allocation_vs_budget", "capacity_gap", "crossover_vs_student_size", "design_progress", "diagnostics",
           "isoflop_profiles", "loss_vs_tokens", "next_runs", "posterior_predictive", "residuals",
           "win_probability_map"]
