"""The posterior's answers the report states, computed once: plans, crossovers, P(distillation wins), and the
posterior predictive check. Numbers here; their wording is in ``bayes_distill.report.sections``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from bayes_distill.laws import SCENARIOS
from bayes_distill.posterior import SAMPLE_DIMS, summarize_crossover, summarize_draws

INTERVAL = (0.05, 0.5, 0.95)
"""The report's intervals: median with the 90% equal-tailed interval."""
BUDGET_COUNT = 5
"""Budgets per student size in the plans and the win-probability table, evenly spaced in log over the range."""
STUDENT_SIZE_COUNT = 8
"""At most this many student sizes in the planning tables: a table per size of a sweep with many sizes is unread."""
PLANNING_DRAWS = 500
"""At most this many draws answer the planning queries (and draw the planning figures): every k-th draw of each
chain. Each query solves one optimisation per draw, student and budget, so the cpu grid's 10,000 draws would take
minutes; 500 give P(distillation wins) to within about 0.02 and 90% intervals from 25 draws in each tail."""


@dataclass(frozen=True)
class PlanningAnswers:
    """Plans, crossovers and win probabilities at the runs' scale, one of each per scenario (Table 2's names).

    plans: ``summarize_draws`` of ``Posterior.allocate`` over (quantile, student_size, compute);
    crossovers: ``summarize_crossover`` of ``Posterior.crossover`` over (student_size[, quantile]);
    win_probability: ``Posterior.prob_distillation_wins`` over (student_size, compute);
    draws_used, draws_total: the draws that answered (see ``PLANNING_DRAWS``) and the posterior's;
    supervised_law_fixed: the posterior held the six supervised coefficients fixed (``SUPERVISED_LAW_FIXED_CAUTION``);
    sizes_total: how many distinct student sizes the runs have (``student_sizes`` holds at most STUDENT_SIZE_COUNT).
    """

    student_sizes: tuple[float, ...]
    budgets: tuple[float, ...]
    compute_range: tuple[float, float]
    plans: dict[str, xr.Dataset]
    crossovers: dict[str, xr.Dataset]
    win_probability: dict[str, xr.DataArray]
    draws_used: int
    draws_total: int
    supervised_law_fixed: bool = False
    sizes_total: int | None = None  # None: as many as student_sizes


def planning_answers(posterior: Any, budget_count: int = BUDGET_COUNT,
                     max_draws: int | None = PLANNING_DRAWS) -> PlanningAnswers:
    """Every planning answer of the report, at the posterior's own scale (``posterior.scale``), from at most
    ``max_draws`` draws (``Posterior.thinned``)."""
    scale, total = posterior.scale, posterior.draw_count
    posterior = posterior.thinned(max_draws)
    sizes, budgets = list(spread_sizes(scale.student_sizes)), scale.budgets(budget_count)
    plans, crossovers, wins = {}, {}, {}
    for scenario in SCENARIOS:
        plan = posterior.allocate(sizes, budgets, scenario)
        plans[scenario] = summarize_draws(plan, INTERVAL)
        wins[scenario] = posterior.prob_distillation_wins(sizes, budgets, scenario)
        crossovers[scenario] = summarize_crossover(posterior.crossover(sizes, scenario), INTERVAL)
    return PlanningAnswers(tuple(sizes), tuple(map(float, budgets)), tuple(scale.compute_range), plans, crossovers,
                           wins, posterior.draw_count, total, posterior.supervised_law_fixed,
                           len(scale.student_sizes))


def spread_sizes(sizes: Sequence[float], count: int = STUDENT_SIZE_COUNT) -> np.ndarray:
    """At most ``count`` of ``sizes`` (parameters): all when there are no more, else the ones nearest ``count``
    points spaced evenly in log between the smallest and the largest, so that the table still spans the runs."""
    sizes = np.unique(np.asarray(sizes, float))
    if sizes.size <= count:
        return sizes
    points = np.log(np.geomspace(sizes[0], sizes[-1], count))
    return np.unique(sizes[np.abs(np.log(sizes)[None, :] - points[:, None]).argmin(axis=1)])


@dataclass(frozen=True)
class PredictiveCheck:
    """The runs' observed losses against the posterior predictive draws (with observation noise), per run.

    ``predicted`` holds the predictive loss quantiles (5%, 25%, 50%, 75%, 95%) over (quantile, run).
    """

    runs: xr.Dataset
    observed: xr.DataArray
    predicted: xr.DataArray

    def inside(self, lower: float, upper: float) -> xr.DataArray:
        """Per run, whether its observed loss lies within the predictive interval between two quantiles."""
        return (self.observed >= self.predicted.sel(quantile=lower)) & (
            self.observed <= self.predicted.sel(quantile=upper))

    def outside_distance(self) -> xr.DataArray:
        """How far each run lies outside its 90% interval, in widths of that interval (0 inside it)."""
        lo, hi = self.predicted.sel(quantile=0.05), self.predicted.sel(quantile=0.95)
        width = np.maximum(hi - lo, np.finfo(float).tiny)
        return np.maximum(np.maximum(lo - self.observed, self.observed - hi), 0.0) / width


def predictive_check(posterior: Any) -> PredictiveCheck | None:
    """The check from the fit's stored posterior predictive draws of log loss; None when the file has none."""
    tree = posterior.tree
    if "posterior_predictive" not in tree.children or "observed_data" not in tree.children:
        return None
    replicated = np.exp(tree["posterior_predictive"].to_dataset()["log_loss"])
    observed = np.exp(tree["observed_data"].to_dataset()["log_loss"])
    predicted = replicated.quantile([0.05, 0.25, 0.5, 0.75, 0.95], dim=list(SAMPLE_DIMS))
    runs = posterior.runs.sel(run=observed["run"].values)
    return PredictiveCheck(runs, observed, predicted)
