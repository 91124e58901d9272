"""Drawing the report's figures with ``bayes_distill.plots``, each to PNG bytes, kept apart from the text.

A figure that fails to draw does not vanish: it comes back as a ``Figure`` holding its error, which the report
shows in the figure's place (and the ``report`` command then exits 1).
"""

from __future__ import annotations

import importlib
import io
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bayes_distill.report.answers import PLANNING_DRAWS
from bayes_distill.report.content import Figure

DPI = 110
"""Resolution of the PNGs: sharp on a screen, about 50-150 kB a figure."""


@dataclass(frozen=True)
class FigureSpec:
    """A figure of the report: the ``bayes_distill.plots`` function that draws it, its title and caption, the
    keyword arguments it is called with, whether it needs all draws (else it gets the thinned posterior that
    answers the planning queries, ``PLANNING_DRAWS``), and whether it needs the distillation law (it is left out
    of the report of a supervised-only fit, whose sections say why)."""

    name: str
    title: str
    caption: str
    kwargs: tuple[tuple[str, Any], ...] = ()
    all_draws: bool = False
    distillation: bool = False


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("diagnostics", "Rank plots of the chains",
               "Ranks of each coefficient's draws, per chain: chains that agree have uniform ranks.",
               (("kind", "rank"),), all_draws=True),
    FigureSpec("posterior_predictive", "Posterior predictive check",
               "Observed losses of the runs against the posterior predictive distribution (with observation noise).",
               all_draws=True),
    FigureSpec("residuals", "Misses by tokens per parameter",
               "Each run's loss over the posterior predictive median, against its tokens per parameter; a trend "
               "along one size's line is a miss along D that the law and its per-size error do not take up.",
               all_draws=True),
    FigureSpec("loss_vs_tokens", "Loss against tokens",
               "The runs' losses against their training tokens, with the fitted laws' posterior medians and bands."),
    FigureSpec("isoflop_profiles", "IsoFLOP profiles",
               "Loss against model size at fixed training compute, from the fitted supervised law."),
    FigureSpec("capacity_gap", "Capacity gap",
               "Student loss against teacher loss at fixed student: the distillation law's capacity gap.",
               distillation=True),
    FigureSpec("allocation_vs_budget", "Compute-optimal allocation against budget",
               "How the optimal plan (D_S, N_T, D_T and the shares of compute) changes with the budget.",
               distillation=True),
    FigureSpec("crossover_vs_student_size", "Crossover budget against student size",
               "The budget C* above which supervised training matches distillation, per student size.",
               distillation=True),
    FigureSpec("win_probability_map", "P(distillation wins)",
               "Posterior probability that distillation beats supervised training, over student size and budget.",
               distillation=True),
)
"""The report's figures, in the order they appear."""

FIGURE_SECTION = {
    "diagnostics": "Coefficients and diagnostics",
    "posterior_predictive": "Posterior predictive check",
    "residuals": "Posterior predictive check",
    "loss_vs_tokens": "Fitted laws",
    "isoflop_profiles": "Fitted laws",
    "capacity_gap": "Fitted laws",
    "allocation_vs_budget": "Compute-optimal plans",
    "crossover_vs_student_size": "Crossover",
    "win_probability_map": "P(distillation wins)",
}
"""The section (by title) each figure is shown in."""


def figure_png(figure: Any, dpi: int = DPI) -> bytes:
    """A matplotlib Figure as PNG bytes; the figure is closed afterwards so that many reports do not leak memory."""
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    finally:
        _close(figure)
    return buffer.getvalue()


def _close(figure: Any) -> None:
    """Release a figure pyplot may hold (``bayes_distill.plots`` makes its figures without pyplot, and pyplot is
    not imported here, since importing it selects a backend)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(figure)


def _plotter(name: str) -> Callable[..., Any]:
    """The drawing function ``bayes_distill.plots.<name>`` (its import error, if any, is the figure's error)."""
    plots = importlib.import_module("bayes_distill.plots")
    return getattr(plots, name)


def draw_figure(spec: FigureSpec, posterior: Any) -> Figure:
    """Draw one figure of ``FIGURES`` from ``posterior`` (``drawn``)."""
    return drawn(spec.name, spec.title, spec.caption, lambda: _plotter(spec.name)(posterior, **dict(spec.kwargs)))


def drawn(name: str, title: str, caption: str, draw: Callable[[], Any]) -> Figure:
    """The report's Figure of what ``draw()`` returns (a matplotlib Figure of ``bayes_distill.plots.<name>``); any
    exception it raises becomes the Figure's ``error``."""
    try:
        png = figure_png(draw())
    except Exception as error:  # noqa: BLE001 - a failed figure is reported in its place, never dropped
        return Figure(name, title, caption, error=f"{type(error).__name__}: {error}")
    return Figure(name, title, caption, png=png)


def draw_figures(posterior: Any, specs: Sequence[FigureSpec] | None = None,
                 max_draws: int | None = PLANNING_DRAWS) -> dict[str, Figure]:
    """Every figure of ``specs`` (default ``FIGURES``) drawn from ``posterior`` (thinned to ``max_draws`` unless
    the figure needs all draws), by name, in order; those of the distillation law only if it was fitted."""
    specs = FIGURES if specs is None else specs
    if not posterior.fits_distillation:
        specs = [s for s in specs if not s.distillation]
    few = posterior.thinned(max_draws)
    return {spec.name: draw_figure(spec, posterior if spec.all_draws else few) for spec in specs}
