"""The report's text and tables, written once from a posterior and its answers, as ``Section`` objects.

Numbers become text here (medians with 90% intervals, crossover budgets through ``format_budget``), so the
Markdown and HTML renderings cannot disagree. Figures are drawn elsewhere (``bayes_distill.report.figures``)
and placed into the sections by title.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

import numpy as np
import xarray as xr

from bayes_distill.inference.diagnostics import sampler_record
from bayes_distill.laws import SCENARIOS
from bayes_distill.posterior import format_budget
from bayes_distill.posterior.summaries import PLAN_COLUMNS, SUPERVISED_LAW_FIXED_CAUTION
from bayes_distill.report.answers import PlanningAnswers, PredictiveCheck
from bayes_distill.report.content import Figure, Report, Section, Table
from bayes_distill.report.figures import FIGURE_SECTION

TITLE = "Distillation scaling laws: posterior report"
def interval_cell(low: float, median: float, high: float, fmt: str = "{:.3g}") -> str:
    """``median [low, high]`` in one format."""
    return f"{fmt.format(median)} [{fmt.format(low)}, {fmt.format(high)}]"


def _quantile_cell(values: xr.DataArray, fmt: str) -> str:
    """The cell of a variable summarised over ``quantile`` = (0.05, 0.5, 0.95)."""
    return interval_cell(*(float(values.sel(quantile=q)) for q in (0.05, 0.5, 0.95)), fmt=fmt)


# -- header -------------------------------------------------------------------------------------------------
def runs_by_kind(runs: xr.Dataset) -> str:
    """``13 runs: 4 distilled, 9 supervised``."""
    kinds, counts = np.unique(runs["kind"].values.astype(str), return_counts=True)
    parts = ", ".join(f"{c} {k}" for k, c in zip(kinds, counts, strict=True))
    return f"{int(runs.sizes['run'])} runs: {parts}"


def _fit_description(posterior: Any) -> str:
    attrs = posterior.tree.attrs
    post = posterior.posterior
    draws = f"{post.sizes.get('chain', 1)} chains x {post.sizes.get('draw', 0)} draws"
    held = ", ".join(f"{k} = {v:.4g}" for k, v in posterior.fix.items()) or "none"
    return (f"{attrs.get('method', 'unknown method')} ({attrs.get('backend', 'unknown backend')}), {draws}; "
            f"Student-t noise with nu = {posterior.nu:g}; held fixed: {held}")


def header_table(posterior: Any, source: str | None, now: datetime.datetime | None = None) -> Table:
    """What the report is of: the posterior file, its runs, the architecture, the planning ranges, the date."""
    scale = posterior.scale
    arch = ", ".join(f"{k}={v}" for k, v in asdict(scale.architecture).items())
    ranges = (f"{scale.source}. Bounds on N_T, D_S, D_T: {scale.bounds[0]:.3g} to {scale.bounds[1]:.3g}; "
              f"budgets: {scale.compute_range[0]:.3g} to {scale.compute_range[1]:.3g} FLOPs")
    now = now or datetime.datetime.now().astimezone()
    rows = (
        ("Posterior file", source or "not given (a Posterior in memory)"),
        ("Runs", runs_by_kind(posterior.runs)),
        ("Fit", _fit_description(posterior)),
        ("Architecture", arch),
        ("Planning ranges", ranges),
        ("Date", now.isoformat(timespec="seconds")),
    )
    return Table(("", ""), rows)


# -- coefficients and diagnostics ---------------------------------------------------------------------------
def coefficient_table(summary: Any) -> Table:
    """The coefficients' summary (``Posterior.summary()``): mean, sd, 90% interval, R-hat, ESS."""
    headers = ("coefficient", "mean", "sd", "5%", "95%", "R-hat", "ESS bulk", "ESS tail")
    rows = tuple(
        (str(name), f"{r['mean']:.4g}", f"{r['sd']:.2g}", f"{r['eti90_lb']:.4g}", f"{r['eti90_ub']:.4g}",
         f"{r['r_hat']:.3f}", f"{r['ess_bulk']:.0f}", f"{r['ess_tail']:.0f}")
        for name, r in summary.iterrows()
    )
    return Table(headers, rows, "Posterior of the free coefficients (scales on their natural log) and the noise "
                                "scales: mean, sd, 90% equal-tailed interval, R-hat, bulk and tail ESS")


def divergence_text(tree: Any) -> str:
    """How many transitions diverged, per chain, or that the fit records none (not NUTS)."""
    if "sample_stats" not in tree.children or "diverging" not in tree["sample_stats"]:
        return "Divergences: not recorded (not a NUTS fit)."
    values = np.asarray(tree["sample_stats"]["diverging"].values, bool)
    per_chain = ", ".join(str(int(c)) for c in values.reshape(values.shape[0], -1).sum(axis=1))
    return f"Divergences: {int(values.sum())} of {values.size} transitions (per chain: {per_chain})."


def coefficients_section(posterior: Any, problems: list[str]) -> Section:
    """The coefficients with intervals, and the sampler's diagnostics: R-hat, ESS, divergences."""
    paragraphs = [divergence_text(posterior.tree),
                  *(f"The fit {step}." for step in sampler_record(posterior.tree))]
    if posterior.tree.attrs.get("method") == "svi":
        paragraphs.append("An SVI fit: its draws are independent, so R-hat and ESS say little; the Pareto k of the "
                          "guide's importance weights judges it.")
    if not problems:
        paragraphs.append("Diagnostics: all pass (R-hat <= 1.01, bulk and tail ESS >= 400, no divergences).")
    notes = tuple(f"Diagnostics: {p}" for p in problems)
    return Section("Coefficients and diagnostics", tuple(paragraphs), (coefficient_table(posterior.summary()),),
                   notes=notes)


# -- posterior predictive check -----------------------------------------------------------------------------
MAX_OUTLYING_RUNS = 25


def coverage_table(check: PredictiveCheck) -> Table:
    """Per kind of run, the share of observed losses inside the 50% and 90% predictive intervals."""
    kinds = check.runs["kind"].values.astype(str)
    in50, in90 = check.inside(0.25, 0.75).values, check.inside(0.05, 0.95).values
    rows = []
    for kind in [*np.unique(kinds), "all"]:
        mask = np.ones(kinds.size, bool) if kind == "all" else kinds == kind
        rows.append((kind, str(int(mask.sum())), f"{in50[mask].mean():.0%}", f"{in90[mask].mean():.0%}"))
    return Table(("runs", "count", "inside 50% interval", "inside 90% interval"), tuple(rows),
                 "Coverage of the posterior predictive intervals (expected: about 50% and 90%)")


def outlying_runs_table(check: PredictiveCheck) -> Table:
    """The runs outside their 90% predictive interval, farthest first (at most ``MAX_OUTLYING_RUNS``)."""
    distance = check.outside_distance().values
    order = [i for i in np.argsort(-distance) if distance[i] > 0][:MAX_OUTLYING_RUNS]
    runs = check.runs
    rows = tuple(
        (str(runs["run"].values[i]), str(runs["kind"].values[i]), f"{float(runs['N'][i]):.3g}",
         f"{float(runs['D'][i]):.3g}", f"{float(check.observed[i]):.4f}",
         _quantile_cell(check.predicted.isel(run=i), "{:.4f}"), f"{distance[i]:.2f}")
        for i in order
    )
    return Table(("run", "kind", "N", "D", "observed loss", "predicted [90%]", "outside by (widths)"), rows,
                 f"Runs outside their 90% predictive interval, farthest first (at most {MAX_OUTLYING_RUNS})")


def predictive_section(check: PredictiveCheck | None) -> Section:
    """The posterior predictive check: coverage of the predictive intervals, and the runs they miss."""
    title = "Posterior predictive check"
    if check is None:
        return Section(title, ("This posterior file holds no posterior predictive draws.",))
    intro = ("Each run's observed loss (nats/token) against the posterior predictive distribution of its loss, "
             "observation noise included.")
    outlying = outlying_runs_table(check)
    tables = (coverage_table(check), outlying) if outlying.rows else (coverage_table(check),)
    paragraphs = (intro,) if outlying.rows else (intro, "Every run lies inside its 90% predictive interval.")
    return Section(title, paragraphs, tables)


# -- planning ------------------------------------------------------------------------------------------------
def draws_text(answers: PlanningAnswers) -> str:
    """Which draws answered the planning queries."""
    if answers.draws_used == answers.draws_total:
        return f"Answers from all {answers.draws_total} posterior draws."
    return (f"Answers from {answers.draws_used} of the {answers.draws_total} posterior draws (every k-th draw of "
            "each chain, to bound the report's time).")


def scale_text(answers: PlanningAnswers, budgets: bool = True) -> str:
    """The student sizes (and budgets) the planning queries were asked at, and the draws that answered."""
    sizes = ", ".join(f"{n:.3g}" for n in answers.student_sizes)
    shown, total = len(answers.student_sizes), answers.sizes_total or len(answers.student_sizes)
    which = "those of the distilled runs" if shown == total else (
        f"{shown} of the distilled runs' {total} sizes, spread evenly in log from the smallest to the largest")
    text = f"At the runs' scale: student sizes N_S = {sizes} ({which})"
    if budgets:
        text += "; budgets C = " + ", ".join(f"{c:.3g}" for c in answers.budgets) + " FLOPs"
    return f"{text}. {draws_text(answers)}"


def plan_table(scenario: str, plan: xr.Dataset) -> Table:
    """One row per (student size, budget) of one scenario's compute-optimal plan."""
    rows = []
    for n in plan["student_size"].values:
        for c in plan["compute"].values:
            point = plan.sel(student_size=n, compute=c)
            cells = [_quantile_cell(point[var], fmt) for var, _, fmt in PLAN_COLUMNS]
            rows.append((f"{n:.3g}", f"{c:.3g}", *cells))
    headers = ("N_S", "C [FLOPs]", *(h for _, h, _ in PLAN_COLUMNS))
    return Table(headers, tuple(rows), f"Scenario {scenario} ({_scenario_text(scenario)})")


def _scenario_text(scenario: str) -> str:
    s = SCENARIOS[scenario]
    return f"delta_logits = {s.delta_logits:g}, delta_pretrain = {s.delta_pretrain:g}"


def plans_section(answers: PlanningAnswers) -> Section:
    """The compute-optimal plans (Eq. 10) in the four scenarios of Table 2."""
    intro = ("Compute-optimal distillation: the distillation tokens D_S and teacher (N_T, D_T) minimising the "
             "student's loss L_S at budget C, against the same student trained supervised on C / 3F(N_S) tokens. "
             + scale_text(answers) + " Cells: posterior median [90% equal-tailed interval].")
    tables = tuple(plan_table(s, answers.plans[s]) for s in SCENARIOS)
    return Section("Compute-optimal plans", (intro,), tables)


def crossover_table(answers: PlanningAnswers) -> Table:
    """Per scenario and student size: the shares of 'wins throughout' and 'never wins', and C*'s quantiles."""
    rows = []
    for scenario in SCENARIOS:
        summary = answers.crossovers[scenario]
        for n in summary["student_size"].values:
            point = summary.sel(student_size=n)
            budget = [format_budget(float(point["compute"].sel(quantile=q)), answers.compute_range)
                      for q in (0.5, 0.05, 0.95)]
            rows.append((scenario, f"{n:.3g}", f"{float(point['share_wins_throughout']):.0%}",
                         f"{float(point['share_never_wins']):.0%}", f"{float(point['share_crossover_in_range']):.0%}",
                         budget[0], f"[{budget[1]}, {budget[2]}]"))
    headers = ("scenario", "N_S", "wins throughout", "never wins", "crossover in range", "C* median",
               "C* 90% interval")
    return Table(headers, tuple(rows), "Crossover budget C* [FLOPs] per scenario and student size")


def crossover_section(answers: PlanningAnswers) -> Section:
    """The crossover: the budget above which supervised training matches distillation."""
    lower, upper = answers.compute_range
    intro = (f"The crossover budget C* above which supervised training matches or beats distillation, searched over "
             f"{lower:.3g} to {upper:.3g} FLOPs. 'Wins throughout' is the share of draws where distillation wins "
             f"over the whole range (C* above it, shown as '> {upper:.3g}'); 'never wins' the share where it never "
             f"does (C* below it, shown as '< {lower:.3g}'). Quantiles are draws' own values. "
             + scale_text(answers, budgets=False))
    return Section("Crossover", (intro,), (crossover_table(answers),))


def win_probability_table(answers: PlanningAnswers) -> Table:
    """P(distillation wins) per scenario and student size (rows) and budget (columns)."""
    rows = []
    for scenario in SCENARIOS:
        wins = answers.win_probability[scenario]
        for n in wins["student_size"].values:
            cells = [f"{float(wins.sel(student_size=n, compute=c)):.2f}" for c in wins["compute"].values]
            rows.append((scenario, f"{n:.3g}", *cells))
    headers = ("scenario", "N_S", *(f"C = {c:.3g}" for c in answers.budgets))
    return Table(headers, tuple(rows), "P(distillation wins) over student size and budget [FLOPs]")


def win_probability_section(answers: PlanningAnswers) -> Section:
    """The posterior probability that compute-optimal distillation beats supervised training."""
    intro = ("The posterior probability that compute-optimal distillation gives the student a lower loss than "
             "supervised training at the same budget (the share of draws where L_S < L_sup). "
             + scale_text(answers))
    return Section("P(distillation wins)", (intro,), (win_probability_table(answers),))


def planning_sections(answers: PlanningAnswers | None) -> list[Section]:
    """The plans, the crossover and P(distillation wins); one explanatory section for a supervised-only fit."""
    if answers is None:
        text = ("This posterior was fitted on supervised runs only: planning distillation needs distilled runs, so "
                "the report has no compute-optimal plans, crossover or win probabilities. Fit the supervised and "
                "distilled runs together (a sweep with distillation families, or a runs table with "
                "kind = distilled rows and their teacher_loss) to have them.")
        return [Section("Planning distillation", (text,))]
    sections = [plans_section(answers), crossover_section(answers), win_probability_section(answers)]
    if not answers.supervised_law_fixed:
        return sections
    caution = f"{SUPERVISED_LAW_FIXED_CAUTION[0].upper()}{SUPERVISED_LAW_FIXED_CAUTION[1:]}."
    return [replace(section, notes=(*section.notes, caution)) for section in sections]


# -- the report -----------------------------------------------------------------------------------------------
def laws_section() -> Section:
    """The fitted laws against the runs (figures only)."""
    return Section("Fitted laws", ("The fitted supervised and distillation laws against the runs, with posterior "
                                   "medians and 90% bands.",))


def place_figures(sections: list[Section], figures: Mapping[str, Figure]) -> list[Section]:
    """Each figure into its section (``FIGURE_SECTION``); a figure whose section is missing goes last."""
    by_title = {s.title: [] for s in sections}
    leftover = []
    for name, figure in figures.items():
        by_title.get(FIGURE_SECTION.get(name, ""), leftover).append(figure)
    placed = [replace(s, figures=s.figures + tuple(by_title[s.title])) for s in sections]
    return placed + ([Section("Other figures", figures=tuple(leftover))] if leftover else [])


def build_report(posterior: Any, source: str | None, problems: list[str], check: PredictiveCheck | None,
                 answers: PlanningAnswers | None, figures: Mapping[str, Figure],
                 next_runs: Section | None = None) -> Report:
    """The whole report's content from the posterior, its answers and its drawn figures; ``next_runs``, the section
    on what to train next, last when given."""
    sections = [coefficients_section(posterior, problems), predictive_section(check), laws_section(),
                *planning_sections(answers), *([next_runs] if next_runs else [])]
    failed = [f.failure_note for f in figures.values() if f.failed]
    placed = place_figures(sections, figures)
    if failed:
        placed.insert(0, Section("Figures that failed", notes=tuple(failed)))
    return Report(TITLE, header_table(posterior, source), tuple(placed))
