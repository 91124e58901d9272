"""What to train next, drawn: the candidates' worth against their cost (``suggest_runs``), and the closed loop's
progress (the target's 90% interval against the FLOPs spent, round by round)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from bayes_distill.plots._common import HEIGHT, WIDTH_PER_PANEL, tidy_log_axes

CROWDED = 3  # more rounds than this are labelled by their numbers alone
DECIDED = (0.05, 0.95)  # a wins target is decided once its probability leaves this range (its 90% interval is 0 wide)


def design_progress(history: pd.DataFrame, target_label: str = "target", probability: bool = False,
                    budget: float | None = None) -> Figure:
    """The target's median and 90% interval (``low``, ``median``, ``high`` of ``Design.history()``, in the target's
    units) against the FLOPs spent by the end of each round, on a log axis; each round marked with its number,
    alternately above and below the points (a bare number beyond ``CROWDED`` rounds), so that the labels of rounds
    close in FLOPs do not print over each other. With ``probability`` (a wins target, whose interval is only ever
    0-1 or a point) the probability that distillation wins (``mean``) instead, beside the bands where the outcome
    counts as decided. ``target_label`` is the quantity and its units, then, after the first ", ", where it is taken
    (``posterior.design.target_label``): the quantity labels the y axis and the rest goes in the title, so that a
    long label is not cut off at the figure's edge. ``budget`` (FLOPs), if given, is drawn as a dashed line: how far
    the loop may still go."""
    fig = Figure(figsize=(WIDTH_PER_PANEL * 1.3, HEIGHT))
    ax = fig.add_subplot()
    value = history["mean"] if probability else history["median"]
    if probability:
        _probability(ax, history)
    else:
        below, above = history["median"] - history["low"], history["high"] - history["median"]
        ax.errorbar(history["spent"], history["median"], yerr=[below, above], fmt="o-", color="C0", capsize=5,
                    ecolor=(0.0, 0.0, 0.0, 0.5), label="median and 90% interval")
    if budget is not None:
        ax.axvline(budget, color="0.4", lw=1, ls="--", label=f"budget ({budget:.3g} FLOPs)")
    quantity, _, where = target_label.partition(", ")
    crowded = len(history) > CROWDED  # many rounds, often close in FLOPs: numbers only, which fit between them
    ax.set_ylabel("P(distillation wins)" if probability else quantity)
    for i, (spent, y, number) in enumerate(zip(history["spent"], value, history["round"], strict=True)):
        below = _label_below(i, y, probability)
        ax.annotate(f"{number}" if crowded else f"round {number}", (spent, y), textcoords="offset points",
                    xytext=(7, -4 if below else 4), va="top" if below else "baseline", fontsize=8)
    ax.set_xscale("log")
    low, high = ax.get_xlim()  # room right of the last point for its label, inside the axes
    room = (0.04 if crowded else 0.14) * np.log10(high / low)
    ax.set_xlim(low, max(high, float(history["spent"].max()) * 10 ** room))
    ax.set_xlabel("FLOPs spent (numbers: rounds)" if crowded else "FLOPs spent")
    if probability:
        ax.set_title(f"whether distillation wins, as the loop trains\n{where or quantity}", fontsize=10)
    else:
        ax.set_title("the target's interval as the loop trains" + (f"\n{where}" if where else ""), fontsize=10)
    ax.legend(loc="best", frameon=False)
    tidy_log_axes(fig)
    fig.tight_layout()
    return fig


def _label_below(i: int, y: float, probability: bool) -> bool:
    """Whether round ``i``'s label goes under its point: every other round's, so that rounds close in FLOPs do not
    print their labels over each other; for a probability, always under a point near the top (not over the axes'
    edge and the title) and never under one near the bottom."""
    if probability and (y > 0.9 or y < 0.1):
        return y > 0.9
    return i % 2 == 1


def _probability(ax: Axes, history: pd.DataFrame) -> None:
    """P(distillation wins) by round, on 0-1, with the decided bands shaded."""
    low, high = DECIDED
    ax.axhspan(0.0, low, color="C3", alpha=0.12, lw=0, label=f"decided: supervised wins (P < {low:g})")
    ax.axhspan(high, 1.0, color="C2", alpha=0.12, lw=0, label=f"decided: distillation wins (P > {high:g})")
    ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
    ax.plot(history["spent"], history["mean"], "o-", color="C0", label="P(distillation wins)")
    ax.set_ylim(0.0, 1.0)


def next_runs(ranked: xr.Dataset, kind: xr.DataArray | None = None) -> Figure:
    """The candidates of a ``suggest_runs`` answer ``ranked``: each one's cost (FLOPs) against the share of the
    target's mean posterior variance its outcome alone is expected to take off (percent), on log axes, the selected
    batch filled and the others hollow, and the budget as a dashed line, past which no run is bought. ``kind`` (over
    ``candidate``: the candidates' kinds) tells supervised and distilled runs apart by colour. A share under
    ``NEXT_TO_NOTHING`` is drawn on that floor: next to nothing on this scale (every share, for a target without
    spread)."""
    fig = Figure(figsize=(WIDTH_PER_PANEL * 1.3, HEIGHT))
    ax = fig.add_subplot()
    cost, variance = ranked["cost"].values, ranked.attrs["target_variance"]
    reduction = ranked["expected_reduction"].values
    share = 100 * np.maximum(reduction / variance if variance > 0 else np.zeros_like(reduction), NEXT_TO_NOTHING)
    selected = ranked["selected"].values.astype(bool)
    kinds = (kind.sel(candidate=ranked["candidate"]).values.astype(str) if kind is not None
             else np.full(cost.size, "candidate"))
    for k, color in zip(np.unique(kinds), ("C0", "C1", "C2"), strict=False):
        left, bought = (kinds == k) & ~selected, (kinds == k) & selected
        if left.any():
            ax.scatter(cost[left], share[left], s=30, facecolors="none", edgecolors=color, label=f"{k}: not selected")
        if bought.any():
            ax.scatter(cost[bought], share[bought], s=42, color=color, edgecolors="black", linewidths=0.8, zorder=3,
                       label=f"{k}: in the batch")
    budget = ranked.attrs["budget"]
    ax.axvline(budget, color="0.4", lw=1, ls="--", label=f"budget ({budget:.3g} FLOPs)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("cost (FLOPs)")
    ax.set_ylabel("the target's variance cut, alone")
    ax.set_title("what each candidate's outcome would cut, and its cost", fontsize=10)
    ax.legend(loc="best", frameon=False, fontsize=8)
    tidy_log_axes(fig)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.3g}%"))
    fig.tight_layout()
    return fig


NEXT_TO_NOTHING = 1e-4
"""The least share of the target's variance ``next_runs`` draws (1e-4: 0.01%): one worth less sits on this floor."""
