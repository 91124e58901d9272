"""Checks of the fit itself, drawn by ArviZ (arviz_plots): the posterior predictive and the sampler diagnostics.

arviz_plots is imported when one of these is first called, not with this module: its import registers ArviZ's
styles and colormaps with matplotlib, a process-wide change the other plots do not need.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from bayes_distill.plots._common import BANDS

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
