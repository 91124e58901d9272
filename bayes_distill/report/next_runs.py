"""Which runs to train next, as text: the batch ``Posterior.suggest_runs`` picks, for the report's section and for
``bayes-distill suggest``, which print the same words."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayes_distill.data.candidates import load_candidates
from bayes_distill.plots.design import next_runs as next_runs_figure
from bayes_distill.posterior import SUPERVISED_LAW_FIXED_CAUTION
from bayes_distill.posterior.design import expected_cut, is_wins, question_label, without_fitted
from bayes_distill.posterior.summaries import format_budget
from bayes_distill.report.content import Section, Table
from bayes_distill.report.figures import drawn

RANKED_ROWS = 10  # the report lists the best-scored candidates, this many at most


@dataclass(frozen=True)
class NextRuns:
    """A question for the report: of the ``candidates`` (a table in the runs schema without the loss, or its path),
    which batch within ``budget`` (FLOPs) narrows the ``target`` most (both as for ``Posterior.suggest_runs``);
    ``seed``: of the law error's draws at new sizes; ``skip_fitted``: leave out the candidates the posterior was
    fitted on."""

    candidates: Any
    target: Any
    budget: float | None
    seed: int = 0
    skip_fitted: bool = False
    plan: Any = None

    def section(self, posterior: Any) -> Section:
        """The report's section answering the question from ``posterior``; with ``skip_fitted``, the candidates
        the posterior was fitted on left out (and counted in the section), else refused as ``suggest_runs`` does;
        with a ``plan`` (a table or its path), that plan weighed beside the batch (``assess_batch``)."""
        table, left_out = load_candidates(self.candidates), 0
        if self.skip_fitted:
            table, left_out = without_fitted(posterior, table)
        plan = PlanAssessed.of(posterior, self.plan, self.target, self.seed) if self.plan is not None else None
        ranked = posterior.suggest_runs(table, self.target, self.budget if self.budget is not None else plan.budget,
                                        seed=self.seed)
        return next_runs_section(ranking_table(table, ranked), ranked, self.target, left_out, plan)


PLAN_COST_ROUNDING = 1e-9  # a plan's cost as a budget, widened by this share: its runs' costs summed in any order fit


@dataclass(frozen=True)
class PlanAssessed:
    """A plan of one's own (``name``: its file's, or "your plan"), its table, and ``assess_batch``' answer."""

    name: str
    table: pd.DataFrame
    assessed: xr.Dataset

    @classmethod
    def of(cls, posterior: Any, plan: Any, target: Any, seed: int = 0) -> PlanAssessed:
        """``plan`` (a table in the candidates' schema, or its path) weighed by ``posterior.assess_batch`` for
        ``target``; a path that is no file is an error naming it."""
        named = isinstance(plan, (str, Path))
        if named and not Path(plan).is_file():
            raise ValueError(f"plan (--compare) {str(plan)!r}: no such file")
        runs = load_candidates(plan)
        assessed = posterior.assess_batch(runs, target, seed=seed)
        return cls(Path(plan).name if named else "your plan", ranking_table(runs, assessed), assessed)

    @property
    def budget(self) -> float:
        """The plan's cost as the suggestion's budget (FLOPs), so that the two compare at one cost."""
        return self.assessed.attrs["batch_cost"] * (1 + PLAN_COST_ROUNDING)

    def rows(self) -> tuple[list[str], list[list[str]]]:
        """The plan's runs in its order, with what each adds given those before it."""
        return candidate_rows(self.table, self.assessed.attrs["target_variance"], in_batch=True,
                              added="cut in the plan")


def ranking_table(candidates: xr.Dataset, ranked: xr.Dataset) -> pd.DataFrame:
    """The candidates' own columns beside ``suggest_runs``' answer, best score first (one row per candidate)."""
    own = candidates[[v for v in ("kind", "N", "D", "teacher_loss", "teacher_N", "teacher_D")
                      if v in candidates]].to_dataframe()
    answer = ranked.to_dataframe()
    table = answer.join(own).reset_index().rename(columns={"candidate": "run"})
    first = ["run", "kind", "N", "D", *[c for c in ("teacher_loss", "teacher_N", "teacher_D") if c in table]]
    return table[[*first, "cost", "expected_reduction", "score", "selected", "pick_order", "reduction_in_batch"]]


def batch_summary(ranked: xr.Dataset, target: Any) -> str:
    """What the selected batch costs and is expected to do to the target's spread, in words, one line each."""
    selected = ranked["selected"].values
    budget, spent = ranked.attrs["budget"], ranked.attrs["batch_cost"]
    if not selected.any():
        return (f"no candidate fits the budget of {budget:.3g} FLOPs (the cheapest costs "
                f"{float(ranked['cost'].min()):.3g}); nothing selected")
    now = f"; now {ranked.attrs['target_mean']:.0%}" if is_wins(target) else _crossover_now(ranked.attrs)
    cut, linear = expected_cut(ranked), expected_cut(ranked, reweighted=False)
    return (f"target: {question_label(target)}{now}\n"
            f"selected {int(selected.sum())} of {selected.size} candidates, {spent:.3g} FLOPs "
            f"({spent / budget:.0%} of the budget)\n"
            f"expected to shrink the target's mean posterior variance by {share_text(cut, 1.0)} (its standard "
            f"deviation by {share_text(1 - np.sqrt(1 - cut), 1.0)})\n"
            f"(by the draws reweighted with simulated outcomes; the linear update the batch was picked by, a lower "
            f"bound, says {share_text(linear, 1.0)})" + _bias_caution(ranked.attrs["size_beyond_fitted"])
            + _beyond_range_caution(ranked.attrs)
            + (f"\ncaution: {SUPERVISED_LAW_FIXED_CAUTION}" if ranked.attrs["supervised_law_fixed"] else ""))


def _crossover_now(attrs: dict) -> str:
    """A crossover target's answer now (``suggest_runs``' attributes): C*'s median and 90% interval (FLOPs; "> upper"
    and "< lower" beyond the range searched) and the shares of the draws beyond the range; "" for other targets."""
    if "target_share_above_range" not in attrs:
        return ""
    low, median, high = (format_budget(q, tuple(attrs["compute_range"])) for q in attrs["target_quantiles"])
    above, below = attrs["target_share_above_range"], attrs["target_share_below_range"]
    return (f"; now C* {median} [{low}, {high}] FLOPs, distillation winning throughout the range searched in "
            f"{share_text(above, 1.0)} of the draws and never in {share_text(below, 1.0)}")


NEARLY_ALL_BEYOND_RANGE = 0.9  # a crossover with this share of its draws beyond the range searched gets the caution


def _beyond_range_caution(attrs: dict) -> str:
    """A line for a crossover whose draws nearly all lie beyond the range searched: its variance then mostly counts
    the few inside, and in simulations of such an answer (experiments/crossover_first_batch_rules.py,
    crossover_valuation.py) the expected cut foretold little of the refit and a batch picked by it did worse than
    random picks and than batches blind to the question (the candidates' own log losses as the target, D-optimal),
    while from answers with more of their draws inside its batches did best."""
    beyond = attrs.get("target_share_above_range", 0.0) + attrs.get("target_share_below_range", 0.0)
    if beyond < NEARLY_ALL_BEYOND_RANGE:
        return ""
    return (f"\ncaution: {beyond:.0%} of the draws put the crossover beyond the range searched, so its variance mostly "
            "counts the few inside; from such an answer, in simulations, the expected cut foretold little of what the "
            "refit did, and random picks or a batch for the candidates themselves as the target did better: spread "
            "the first spend")


FAR_BEYOND_FITTED = 2.0  # a target student this many times the largest fitted size gets the caution below


def _bias_caution(beyond: float) -> str:
    """A line for a target far beyond the fitted sizes: the cut is of the posterior's variance, and on real runs
    (experiments/largest_first_valued.py) the law's bias there decided the error, where training the largest
    affordable runs did as well as the suggestion."""
    if beyond < FAR_BEYOND_FITTED:
        return ""
    return (f"\ncaution: the target's largest model is {beyond:.2g}x the largest fitted one (parameters); the cut "
            "counts the posterior's variance there, not the law's own bias beyond the fitted sizes, which on real runs "
            "can outweigh it (training the largest runs the budget allows hedges against it)")


def plan_summary(assessed: xr.Dataset, ranked: xr.Dataset, name: str) -> str:
    """A plan of one's own (``assess_batch``) beside the suggested batch (``suggest_runs``): what each costs and is
    expected to cut of the target's mean posterior variance, one line each, and which of the two is worth more per
    FLOP (or that they hold the same runs, by run ids; row positions never match)."""
    plan_cost, plan_cut = assessed.attrs["batch_cost"], expected_cut(assessed)
    lines = [f"your plan ({name}): {assessed.sizes['candidate']} runs, {plan_cost:.3g} FLOPs, expected to shrink the "
             f"target's mean posterior variance by {share_text(plan_cut, 1.0)}"]
    if not ranked["selected"].any():
        return lines[0]
    batch_cost, batch_cut = ranked.attrs["batch_cost"], expected_cut(ranked)
    lines.append(f"the suggested batch: {int(ranked['selected'].sum())} runs, {batch_cost:.3g} FLOPs "
                 f"({batch_cost / plan_cost:.2g}x the plan's), expected to shrink it by {share_text(batch_cut, 1.0)}")
    chosen, planned = ranked["candidate"].values[ranked["selected"].values], assessed["candidate"].values
    if chosen.dtype.kind in "OUS" and planned.dtype.kind in "OUS" and set(chosen) == set(planned):
        lines.append("the suggested batch is the plan's runs")
    elif plan_cut > 0 and batch_cut > 0:
        ratio = (batch_cut / batch_cost) / (plan_cut / plan_cost)
        lines.append(f"per FLOP the suggested batch is worth {ratio:.2g}x the plan" if ratio >= 1 else
                     f"per FLOP the plan is worth {1 / ratio:.2g}x the suggested batch")
    return "\n".join(lines)


def candidate_rows(table: pd.DataFrame, target_variance: float, in_batch: bool = False,
                   added: str = "cut in the batch") -> tuple[list[str], list[list[str]]]:
    """Candidates as text, in ``table``'s order: what each is, its cost, and the share of the target's mean variance
    its outcome alone would take off; with ``in_batch``, beside it the share it adds to its batch given the runs
    picked before it (these sum to the batch's cut: runs that overlap add less than alone, runs that free another's
    coefficients more; headed ``added``), else whether the batch holds it; the header and rows."""
    distilled = bool((table["kind"] == "distilled").any())
    header = ["run", "kind", "N", "D", *(["teacher"] if distilled else []), "cost [FLOPs]", "variance cut alone",
              added if in_batch else "selected"]
    rows = [[str(r.run), r.kind, f"{r.N:.3g}", f"{r.D:.3g}", *([_teacher(r)] if distilled else []), f"{r.cost:.3g}",
             share_text(r.expected_reduction, target_variance),
             share_text(r.reduction_in_batch, target_variance) if in_batch else "yes" if r.selected else ""]
            for r in table.itertuples()]
    return header, rows


def share_text(reduction: float, target_variance: float) -> str:
    """A reduction of the target's mean variance as a percentage of it, two digits; under 0.01%, said so (a run
    worth 1e-5 of the variance reads as next to nothing, not as 1e-05%)."""
    if not target_variance > 0:
        return "-"
    percent = 100 * reduction / target_variance
    return "<0.01%" if 0 < percent < 0.01 else f"{percent:.2g}%"


def _teacher(r: Any) -> str:
    """A candidate's teacher: its loss (nats/token), or the size and tokens of one still to train."""
    if r.kind == "supervised":
        return "-"
    if np.isfinite(getattr(r, "teacher_loss", np.nan)):
        return f"L_T {r.teacher_loss:.4g}"
    return f"train N_T {r.teacher_N:.3g}, D_T {r.teacher_D:.3g}"


def next_runs_section(table: pd.DataFrame, ranked: xr.Dataset, target: Any, left_out: int = 0,
                      plan: PlanAssessed | None = None) -> Section:
    """The report's "What to train next": the method in a sentence, the batch in words (and how many candidates were
    ``left_out`` as runs the posterior was fitted on), the batch's runs and the best-scored candidates, and a
    ``plan`` of one's own beside the batch."""
    intro = ("Of the candidate runs given, the batch within the budget whose outcomes are expected to narrow the "
             "target most. Each candidate's expected reduction of the target's posterior variance is the posterior's "
             "own (a linear-Gaussian update over its draws, which counts the law's error at sizes not fitted); the "
             "batch is picked greedily, each pick conditioning the next, so that two near-identical runs are not "
             "worth twice one, and its expected cut is computed again by reweighting the draws with simulated "
             "outcomes. The batch spends the budget even on runs the update values at next to nothing: the update is "
             "a lower bound that leaves out what runs tell of the noise and of the law error's scale.")
    variance = ranked.attrs["target_variance"]
    tables = []
    if ranked["selected"].any():
        header, rows = candidate_rows(table[table["selected"]], variance, in_batch=True)
        tables.append(Table(tuple(header), tuple(map(tuple, rows)), caption="The batch, best score first."))
    header, rows = candidate_rows(table.head(RANKED_ROWS), variance)
    caption = f"The {min(RANKED_ROWS, len(table))} best-scored of {len(table)} candidates (score: reduction per FLOP)."
    tables.append(Table(tuple(header), tuple(map(tuple, rows)), caption=caption))
    figure = drawn("next_runs", "The candidates' worth and cost",
                   "What each candidate's outcome alone is expected to cut of the target's variance, against its cost; "
                   "the batch filled, the budget dashed.", lambda: _candidates_figure(table, ranked))
    summary = _sentences(batch_summary(ranked, target))
    if left_out:
        summary += f" {left_out} of the candidates given were left out: the posterior was fitted on them."
    paragraphs = (intro, summary)
    if plan is not None:
        paragraphs += (_sentences(plan_summary(plan.assessed, ranked, plan.name)),)
        header, rows = plan.rows()
        tables.append(Table(tuple(header), tuple(map(tuple, rows)),
                            caption=f"{plan.name}, in its order: what each run adds given those before it."))
    return Section("What to train next", paragraphs, tuple(tables), (figure,))


def _candidates_figure(table: pd.DataFrame, ranked: xr.Dataset) -> Any:
    """``plots.next_runs`` of ``ranked``, its candidates coloured by their kinds in ``table``."""
    kind = xr.DataArray(table["kind"].to_numpy(dtype=str), dims="candidate",
                        coords={"candidate": table["run"].to_numpy()})
    return next_runs_figure(ranked, kind)


def _sentences(lines: str) -> str:
    """``batch_summary``'s lines, as printed, run together as one paragraph of sentences."""
    return " ".join(f"{line[0].upper()}{line[1:]}." for line in lines.replace(")\n(", "; ").split("\n"))
