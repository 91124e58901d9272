"""The closed loop's progress: the target's 90% interval against the FLOPs spent, round by round."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from bayes_distill.plots._common import BAND_ALPHA, HEIGHT, WIDTH_PER_PANEL


def design_progress(history: pd.DataFrame, target_label: str = "target") -> Figure:
    """The target's median and 90% interval (``low``, ``median``, ``high`` of ``Design.history()``, in the target's
    units) against the FLOPs spent by the end of each round, on a log axis; each round marked with its number."""
    fig = Figure(figsize=(WIDTH_PER_PANEL * 1.3, HEIGHT))
    ax = fig.add_subplot()
    ax.fill_between(history["spent"], history["low"], history["high"], alpha=BAND_ALPHA["90%"], color="C0",
                    step="post", label="90% interval")
    ax.plot(history["spent"], history["median"], "o-", color="C0", drawstyle="steps-post", label="median")
    for spent, median, number in zip(history["spent"], history["median"], history["round"], strict=True):
        ax.annotate(str(number), (spent, median), textcoords="offset points", xytext=(0, 6), ha="center",
                    fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs spent")
    ax.set_ylabel(target_label)
    ax.set_title("the target's interval as the loop trains (round numbers)")
    ax.legend(loc="best", frameon=False)
    fig.tight_layout()
    return fig
