"""Checks of the fit itself: the posterior predictive and the sampler diagnostics, drawn by ArviZ (arviz_plots), and
each run's miss against tokens per parameter.

arviz_plots is imported when one of these is first called, not with this module: its import registers ArviZ's
styles and colormaps with matplotlib, a process-wide change the other plots do not need.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bayes_distill.plots._common import BANDS, OBSERVED_GID, colors, matches, new_figure, sci, tidy_log_axes

DIAGNOSTIC_KINDS = ("rank", "trace")
TICK_LABEL_LIMIT = 60
"""Up to this many runs, each run's tick says its kind (S supervised, D distilled); beyond, ticks would overlap."""
NOISE_SCALES = ("sigma_supervised", "sigma_distilled")


def _figure_of(plot_collection: Any) -> Figure:
    """The matplotlib Figure of an arviz_plots PlotCollection, released from pyplot's figure manager: like the
    other plots' figures it lives as long as the caller holds it (and a notebook shows it once, when returned)."""
    from matplotlib import pyplot

    fig = plot_collection.viz["figure"].item()
    pyplot.close(fig)
    return fig


def posterior_predictive(posterior: Any) -> Figure:
    """Posterior predictive check of the fit: for each run, the observed log loss (log nats/token, black) against
    the predictive's median and its 50% (dark) and 90% (light) equal-tailed intervals (ArviZ's ``plot_ppc_interval``
    on the fit's ``posterior_predictive`` group: the laws plus the Student-t noise).

    Runs are in the order of ``posterior.runs``; with at most 60 runs each tick says the run's kind.
    """
    import arviz_plots

    probs = sorted(upper - lower for lower, upper in BANDS.values())
    pc = arviz_plots.plot_ppc_interval(posterior.tree, var_names=["log_loss"], ci_kind="eti", ci_probs=probs,
                                       point_estimate="median", backend="matplotlib",
                                       figure_kwargs={"layout": "constrained", "figsize": (8.0, 4.0)})
    fig = _figure_of(pc)
    ax = fig.axes[0]
    kinds = posterior.runs["kind"].values.astype(str)
    if kinds.size <= TICK_LABEL_LIMIT:
        ax.set_xticks(range(kinds.size), labels=[k[0].upper() for k in kinds], fontsize="small")
    ax.set(xlabel="run (S supervised, D distilled; in the order of posterior.runs)",
           ylabel="log loss (log nats/token)",
           title="posterior predictive: observed (black) against predicted median, 50% and 90% intervals")
    return fig


def residuals(posterior: Any) -> Figure:
    """Each run's miss against tokens per parameter (D/N), one panel per kind: observed loss over the posterior
    predictive median, less 1 (%), with the predictive's 90% interval around that median as a bar, so a point
    beyond its bar is outside it. Runs of one student size share a colour and a line through their mean miss at each
    D/N: the law error moves a size's runs together, so a slope along a line is a miss along D the model cannot
    absorb (say, runs that stop inside their learning-rate warm-up)."""
    predictive = posterior.tree["posterior_predictive"]["log_loss"]
    low, median, high = (predictive.quantile(q, dim=("chain", "draw")).values for q in (0.05, 0.5, 0.95))
    observed = posterior.tree["observed_data"]["log_loss"].values
    runs = posterior.runs
    miss = ResidualTable(runs["kind"].values.astype(str), runs["N"].values.astype(float),
                         runs["D"].values.astype(float) / runs["N"].values.astype(float),
                         100 * np.expm1(observed - median), 100 * np.expm1(low - median),
                         100 * np.expm1(high - median))
    kinds = [k for k in ("supervised", "distilled") if k in miss.kind]
    fig, axes = new_figure(len(kinds), width=RESIDUAL_PANEL_WIDTH)
    sizes = np.unique(miss.N)
    palette = dict(zip(sizes, colors(sizes.size), strict=True))
    for ax, kind in zip(axes, kinds, strict=True):
        _draw_residuals(ax, miss.of_kind(kind), palette)
        ax.set(xscale="log", xlabel="tokens per parameter D/N", title=f"{kind} runs")
    axes[0].set_ylabel("observed / predicted median - 1 (%)")
    handles = [Line2D([], [], color=palette[n], marker="o", label=f"N = {sci(n)}") for n in sizes[:MAX_SIZE_KEYS]]
    if sizes.size > MAX_SIZE_KEYS:
        handles.append(Line2D([], [], linestyle="", label=f"... {sizes.size - MAX_SIZE_KEYS} more sizes"))
    fig.legend(handles=handles, loc="outside right center", frameon=False, fontsize="small", title="student size")
    fig.suptitle("each run's miss against the predictive median; bars: the predictive's 90% interval",
                 fontsize="medium")
    tidy_log_axes(fig)
    return fig


RESIDUAL_PANEL_WIDTH = 6.0
MAX_SIZE_KEYS = 12
"""At most this many student sizes are named in the residual plot's key; more would run off the figure."""


@dataclass(frozen=True)
class ResidualTable:
    """The runs' misses (%), with their kinds, sizes (parameters) and tokens per parameter."""

    kind: np.ndarray
    N: np.ndarray
    tokens_per_parameter: np.ndarray
    miss: np.ndarray  # observed / predictive median - 1, %
    low: np.ndarray  # the predictive's 5% quantile / its median - 1, %
    high: np.ndarray  # its 95% quantile / its median - 1, %

    def of_kind(self, kind: str) -> ResidualTable:
        keep = self.kind == kind
        return ResidualTable(*(getattr(self, f.name)[keep] for f in fields(self)))


def _draw_residuals(ax: Axes, miss: ResidualTable, palette: dict[float, Any]) -> None:
    """One kind's misses: bars of the 90% interval, points, and a line per size through its mean miss per D/N."""
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    ax.vlines(miss.tokens_per_parameter, miss.low, miss.high, color="0.75", linewidth=1.0, zorder=1, gid="interval")
    for size in np.unique(miss.N):
        at = matches(miss.N, size)
        ratios = np.unique(miss.tokens_per_parameter[at])
        means = [miss.miss[at][miss.tokens_per_parameter[at] == r].mean() for r in ratios]
        ax.plot(ratios, means, color=palette[size], linewidth=1.0, zorder=2)
        ax.scatter(miss.tokens_per_parameter[at], miss.miss[at], s=22, color=palette[size], edgecolors="black",
                   linewidths=0.5, zorder=3, gid=OBSERVED_GID)


def diagnostics(posterior: Any, kind: str = "rank") -> Figure:
    """Sampler diagnostics of every free coefficient and the noise scales, by ArviZ: ``kind="rank"`` the rank
    ECDF differences of the chains with their simultaneous envelope (``plot_rank``), ``kind="trace"`` the draws of
    each chain against draw number (``plot_trace``). Chains that mix cover each other and stay inside the envelope.
    """
    import arviz_plots

    if kind not in DIAGNOSTIC_KINDS:
        raise ValueError(f"kind must be one of {DIAGNOSTIC_KINDS}; got {kind!r}")
    names = posterior.free_coefficients + [v for v in NOISE_SCALES if v in posterior.posterior.data_vars]
    plot = arviz_plots.plot_rank if kind == "rank" else arviz_plots.plot_trace
    pc = plot(posterior.tree, var_names=names, backend="matplotlib", figure_kwargs={"layout": "constrained"})
    return _figure_of(pc)
