"""The closed loop's progress: the target's 90% interval against the FLOPs spent, round by round."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from bayes_distill.plots._common import HEIGHT, WIDTH_PER_PANEL, tidy_log_axes


def design_progress(history: pd.DataFrame, target_label: str = "target") -> Figure:
    """The target's median and 90% interval (``low``, ``median``, ``high`` of ``Design.history()``, in the target's
    units) against the FLOPs spent by the end of each round, on a log axis; each round marked with its number."""
    fig = Figure(figsize=(WIDTH_PER_PANEL * 1.3, HEIGHT))
    ax = fig.add_subplot()
    below, above = history["median"] - history["low"], history["high"] - history["median"]
    ax.errorbar(history["spent"], history["median"], yerr=[below, above], fmt="o-", color="C0", capsize=5,
                ecolor=(0.0, 0.0, 0.0, 0.5), label="median and 90% interval")
    for spent, median, number in zip(history["spent"], history["median"], history["round"], strict=True):
        ax.annotate(f"round {number}", (spent, median), textcoords="offset points", xytext=(7, 4), ha="left",
                    fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs spent")
    ax.set_ylabel(target_label)
    ax.set_title("the target's interval as the loop trains")
    ax.legend(loc="best", frameon=False)
    tidy_log_axes(fig)
    fig.tight_layout()
    return fig
