"""Planning answers against budget and student size: the optimal allocation, the crossover budget and the
probability that distillation wins, each with its posterior uncertainty."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bayes_distill.laws import scenario_of
from bayes_distill.planner.inputs import budget_range
from bayes_distill.plots._common import (
    BANDS,
    MEDIAN,
    band_key,
    draw_summary,
    log_edges,
    new_figure,
    quantile,
    sci,
    tidy_log_axes,
)
from bayes_distill.posterior import crossover_range, summarize_crossover, summarize_draws

DEFAULT_SCENARIOS = ("best-case", "teacher-inference", "teacher-pretraining")
ALLOCATION_BUDGETS, MAP_BUDGETS, SIZES_SPANNED = 12, 8, 6
"""Default counts: budgets along the allocation's x axis and the map's y axis; student sizes across the runs."""
RANGE_SLACK = 1e-9
"""Default budgets stay this far (relative) inside what the bounds allow, so that rounding never rejects them."""
OUTCOME_COLORS = {"share_wins_throughout": "tab:blue", "share_crossover_in_range": "0.75",
                  "share_never_wins": "tab:red"}
ALLOCATION_PANELS = {
    "tokens (tokens)": {"student_tokens": "$D_S$, distillation", "teacher_tokens": "$D_T$, teacher pretraining"},
    "teacher size $N_T$ (parameters)": {"teacher_params": "$N_T$"},
    "share of the budget": {"student_share": "student training", "teacher_logits_share": "teacher logits",
                            "teacher_pretraining_share": "teacher pretraining"},
}
"""The allocation's panels: y label, then each variable of ``Posterior.allocate`` drawn there with its label."""
OUTCOME_LABELS = {"share_wins_throughout": "distillation wins throughout the range",
                  "share_crossover_in_range": "crossover inside the range",
                  "share_never_wins": "distillation never wins"}


def spanned_sizes(posterior: Any, count: int = SIZES_SPANNED) -> np.ndarray:
    """``count`` student sizes (parameters) spaced evenly in log from the smallest to the largest N the posterior's
    runs trained (its planning scale's student sizes and the supervised sizes); one when they are all equal."""
    sizes = np.concatenate([posterior.scale.student_sizes, posterior.runs["N"].values]).astype(float)
    return np.unique(np.geomspace(sizes.min(), sizes.max(), count if sizes.max() > sizes.min() else 1))


def feasible_range(posterior: Any, sizes: Sequence[float], scenarios: Sequence[str]) -> tuple[float, float]:
    """The posterior's compute range (FLOPs), narrowed to the budgets every size can spend within its bounds in
    every scenario: outside them the planner has no allocation to solve for."""
    lo, hi = posterior.scale.compute_range
    for name in scenarios:
        smallest, largest = budget_range(np.asarray(sizes, float), scenario_of(name), posterior.scale.bounds,
                                         posterior.architecture)
        lo, hi = max(lo, np.max(smallest) * (1 + RANGE_SLACK)), min(hi, np.min(largest) * (1 - RANGE_SLACK))
    if not lo < hi:
        raise ValueError(f"no budget can be spent by every student size {list(sizes)} within the bounds "
                         f"{posterior.scale.bounds} in the scenarios {list(scenarios)}; pass fewer sizes")
    return float(lo), float(hi)


def _log_budget_axis(ax: Axes) -> None:
    ax.set(xscale="log", xlabel="compute budget $C$ (FLOPs)")


def allocation_vs_budget(posterior: Any, *, student_size: float | None = None, scenario: str = "teacher-inference",
                         budgets: Any = None) -> Figure:
    """The compute-optimal distillation of one student against the budget C (FLOPs), from ``posterior.allocate``.

    Three panels, medians with 50%/90% bands: tokens (D_S distillation, D_T teacher pretraining; tokens), teacher
    size N_T (parameters), and the shares of the budget (student training, teacher logits, teacher pretraining;
    they sum to 1). ``student_size`` (parameters) defaults to the middle of the planning scale's student sizes;
    ``budgets`` to 12 spread over its compute range, narrowed to those the student can spend within the bounds.
    """
    sizes = posterior.scale.student_sizes
    N_S = float(sizes[len(sizes) // 2] if student_size is None else student_size)
    if budgets is None:
        budgets = np.geomspace(*feasible_range(posterior, [N_S], [scenario]), ALLOCATION_BUDGETS)
    budgets = np.atleast_1d(np.asarray(budgets, float))
    plan = posterior.allocate(N_S, budgets, scenario).isel(student_size=0)
    summary = summarize_draws(plan[[v for names in ALLOCATION_PANELS.values() for v in names]])
    fig, axes = new_figure(3)
    for ax, (ylabel, names) in zip(axes, ALLOCATION_PANELS.items(), strict=True):
        for (name, label), color in zip(names.items(), ("tab:blue", "tab:orange", "tab:green"), strict=False):
            draw_summary(ax, budgets, summary[name], color, label=label)
        _log_budget_axis(ax)
        ax.set(ylabel=ylabel, yscale="linear" if "share" in ylabel else "log")
        ax.legend(fontsize="x-small")
    axes[2].set_ylim(-0.02, 1.02)
    fig.suptitle(f"compute-optimal distillation of a student of $N_S$={sci(N_S)} parameters, scenario "
                 f"'{plan.attrs.get('scenario', scenario)}'")
    band_key(fig, observed=False)
    tidy_log_axes(fig)
    return fig


def _draw_crossover(ax: Axes, sizes: np.ndarray, compute: Any, limits: tuple[float, float]) -> None:
    """C* median and bands against N_S; quantiles beyond the range (+-inf) are drawn at its edges and marked there
    with triangles (filled: the median itself lies beyond), so that no draw is dropped from view."""
    clipped = compute.clip(*limits)  # +-inf become the edges: a band reaching an edge runs beyond it
    draw_summary(ax, sizes, clipped, "tab:purple", label="crossover budget $C^*$")
    median = quantile(compute, MEDIAN)
    levels = [MEDIAN, *(q for pair in BANDS.values() for q in pair)]
    for sign, edge, marker, gid in ((1, limits[1], "^", "above-range"), (-1, limits[0], "v", "below-range")):
        beyond = np.any([quantile(compute, q) == sign * np.inf for q in levels], axis=0)
        filled = beyond & (median == sign * np.inf)
        for which, face in ((filled, "tab:purple"), (beyond & ~filled, "white")):
            ax.scatter(sizes[which], np.full(which.sum(), edge), marker=marker, s=90, facecolors=face,
                       edgecolors="tab:purple", zorder=5, gid=gid, clip_on=False)
        ax.axhline(edge, color="0.4", linestyle="--", linewidth=0.8)
    ax.set(xscale="log", yscale="log", xlabel="student size $N_S$ (parameters)",
           ylabel="crossover budget $C^*$ (FLOPs)", ylim=(limits[0] / 1.5, limits[1] * 1.5))
    ax.legend(handles=_crossover_key(), fontsize="x-small", loc="best")


def _crossover_key() -> list[Line2D]:
    """Legend entries of the crossover panel: the range's edges and the markers of quantiles beyond them."""
    marker = {"linestyle": "", "markeredgecolor": "tab:purple", "markersize": 8}
    return [Line2D([], [], color="tab:purple", label="crossover budget $C^*$"),
            Line2D([], [], color="0.4", linestyle="--", linewidth=0.8, label="edges of the range searched"),
            Line2D([], [], marker="^", markerfacecolor="tab:purple", label="median above the range", **marker),
            Line2D([], [], marker="^", markerfacecolor="white", label="a 50%/90% bound above the range", **marker),
            Line2D([], [], marker="v", markerfacecolor="white", label="a bound (or median) below the range",
                   **marker)]


def _draw_shares(ax: Axes, sizes: np.ndarray, summary: Any) -> None:
    """The shares of the three outcomes per student size, as stacked bars on a log axis."""
    edges = log_edges(sizes)
    gap = (edges[1:] / edges[:-1]) ** 0.12  # bars a little narrower than their cells
    left, right = edges[:-1] * gap, edges[1:] / gap
    bottom = np.zeros(sizes.size)
    for name, color in OUTCOME_COLORS.items():
        share = summary[name].values
        ax.bar(left, share, width=right - left, bottom=bottom, align="edge", color=color, label=OUTCOME_LABELS[name],
               gid=name)
        bottom = bottom + share
    ax.set(xscale="log", xlabel="student size $N_S$ (parameters)", ylabel="share of posterior draws", ylim=(0, 1))
    ax.legend(fontsize="x-small", loc="lower left")


def crossover_vs_student_size(posterior: Any, *, scenario: str = "teacher-inference",
                              student_sizes: Any = None) -> Figure:
    """The crossover budget C* (FLOPs) against student size N_S (parameters), from ``summarize_crossover``.

    Left: median and 50%/90% bands of C*; above C* supervised training of the student matches or beats
    distillation. Quantiles above the range searched (distillation wins throughout) or below it (it never wins) sit
    at the range's edges, marked by triangles. Right: the shares of draws where distillation wins throughout, where
    the crossover lies inside the range, and where distillation never wins. ``student_sizes`` default to 6 spanning
    the runs' sizes; the range searched is the posterior's compute range narrowed to budgets every size can spend.
    """
    sizes = np.unique(spanned_sizes(posterior) if student_sizes is None else np.asarray(student_sizes, float))
    answer = posterior.crossover(sizes, scenario, feasible_range(posterior, sizes, [scenario]))
    summary = summarize_crossover(answer)
    limits = crossover_range(answer) or posterior.scale.compute_range
    fig, (left, right) = new_figure(2)
    _draw_crossover(left, sizes, summary["compute"], limits)
    _draw_shares(right, sizes, summary)
    fig.suptitle(f"distillation against supervised training, scenario '{answer.attrs.get('scenario', scenario)}'")
    band_key(fig, observed=False)
    tidy_log_axes(fig)
    return fig


def _draw_map(ax: Axes, sizes: np.ndarray, budgets: np.ndarray, wins: np.ndarray) -> Any:
    """One scenario's P(distillation wins) as cells over (N_S, C), their values written in when few enough."""
    mesh = ax.pcolormesh(log_edges(sizes), log_edges(budgets), wins.T, vmin=0.0, vmax=1.0, cmap="RdBu_r",
                         gid="win-probability")
    if wins.size <= 100:
        for (i, j), p in np.ndenumerate(wins):
            ax.text(sizes[i], budgets[j], f"{p:.2f}", ha="center", va="center", fontsize="xx-small",
                    color="white" if abs(p - 0.5) > 0.3 else "black")
    ax.set(xscale="log", yscale="log", xlabel="student size $N_S$ (parameters)")
    return mesh


def win_probability_map(posterior: Any, *, student_sizes: Any = None, budgets: Any = None,
                        scenarios: Sequence[str] = DEFAULT_SCENARIOS) -> Figure:
    """P(distillation wins): the posterior probability that compute-optimal distillation of a student of N_S
    parameters reaches a lower loss than training it supervised at the same budget C (FLOPs).

    One panel per scenario, a cell per (N_S, C), one colour scale from 0 (blue: supervised) to 1 (red: distillation)
    with a shared colorbar. ``student_sizes`` default to 6 spanning the runs' sizes; ``budgets`` to 8 spread over the
    compute range, narrowed to those every size can spend within the bounds in every scenario.
    """
    sizes = np.unique(spanned_sizes(posterior) if student_sizes is None else np.asarray(student_sizes, float))
    if budgets is None:
        budgets = np.geomspace(*feasible_range(posterior, sizes, scenarios), MAP_BUDGETS)
    budgets = np.unique(np.asarray(budgets, float))
    fig, axes = new_figure(len(scenarios), width=4.2)
    for ax, scenario in zip(axes, scenarios, strict=True):
        wins = posterior.prob_distillation_wins(sizes, budgets, scenario)
        mesh = _draw_map(ax, sizes, budgets, wins.transpose("student_size", "compute").values)
        ax.set_title(f"scenario '{scenario}'")
    axes[0].set_ylabel("compute budget $C$ (FLOPs)")
    fig.colorbar(mesh, ax=axes, label="P(distillation wins)", shrink=0.9)
    tidy_log_axes(fig)
    return fig
