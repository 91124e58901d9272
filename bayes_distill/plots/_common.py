"""What every plot shares: figures outside pyplot, the 50%/90% bands, observed runs, grids and defaults.

Figures are ``matplotlib.figure.Figure`` objects made directly, never through pyplot, and nothing here sets a
backend or rcParams: importing or calling a plot changes no process-wide state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import Formatter, LogLocator, MaxNLocator, NullFormatter

from bayes_distill.posterior import INTERVAL_QUANTILES, summarize_draws

BANDS = {"90%": (0.05, 0.95), "50%": (0.25, 0.75)}
"""The equal-tailed intervals drawn around every median, by name: (lower, upper) quantile levels."""
BAND_ALPHA = {"90%": 0.18, "50%": 0.38}
MEDIAN = 0.5
BAND_GID = {name: f"band-{name[:-1]}" for name in BANDS}
"""Artist ids of the band collections ("band-90", "band-50"): a figure's bands can be found by id."""
OBSERVED_GID = "observed"
GRID_POINTS = 60
"""Points per predicted curve: smooth on a log axis at the figure sizes used."""
DATA_MARGIN = 3.0
"""Curves reach this factor beyond the smallest and largest observed value of their x variable."""
LOSS_LABEL = "loss L (nats/token)"
WIDTH_PER_PANEL, HEIGHT = 4.6, 3.8
NARROW_LOG_SPAN = 2.0
"""Log axes spanning fewer decades than this get ticks at 1, 2 and 5 x 10^k: minor labels would overlap."""

# Every band is read from the summaries' quantiles: a change there must fail loudly here, not drop a band.
if not {MEDIAN, *(q for pair in BANDS.values() for q in pair)} <= set(INTERVAL_QUANTILES):
    raise ImportError(f"the plots' bands {BANDS} need the quantiles {INTERVAL_QUANTILES} to include them")


def new_figure(panels: int, *, rows: int = 1, width: float = WIDTH_PER_PANEL,
               height: float = HEIGHT, **subplot_kw: Any) -> tuple[Figure, list[Axes]]:
    """A constrained-layout Figure (not registered with pyplot) with ``panels`` axes in ``rows`` rows."""
    cols = -(-panels // rows)
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = list(fig.subplots(rows, cols, squeeze=False, **subplot_kw).ravel())
    for extra in axes[panels:]:
        fig.delaxes(extra)
    return fig, axes[:panels]


def tidy_log_axes(fig: Figure) -> None:
    """Readable ticks on narrow log axes: labelled major ticks at 1, 2, 5 x 10^k and unlabelled minor ones (the
    default labels every minor tick of an axis under a decade or so, and they run into each other); on an axis too
    narrow to hold two of those, a few evenly spaced ticks (Matplotlib's own fallback there puts up to ten)."""
    for ax in fig.axes:
        for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            if axis.get_scale() != "log" or np.log10(max(limits) / min(limits)) >= NARROW_LOG_SPAN:
                continue
            wide_enough = _one_two_five_within(*sorted(limits)) >= 2
            axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)) if wide_enough else MaxNLocator(nbins=4))
            axis.set_major_formatter(PowerOfTen())
            axis.set_minor_formatter(NullFormatter())


def _one_two_five_within(low: float, high: float) -> int:
    """How many of 1, 2, 5 x 10^k lie in [low, high] (both > 0)."""
    exponents = np.arange(np.floor(np.log10(low)), np.ceil(np.log10(high)) + 1)
    values = np.outer(10.0**exponents, [1.0, 2.0, 5.0]).ravel()
    return int(np.sum((values >= low) & (values <= high)))


class PowerOfTen(Formatter):
    """Tick labels m x 10^k in mathtext (10^k when m = 1), every major tick labelled whatever the span, with as many
    decimals in m as it takes to tell the axis' ticks apart (3.18 and 3.24 x 10^12 both read 3.2 at one)."""

    def __call__(self, value: float, pos: Any = None) -> str:
        return power_of_ten(value, self._decimals())

    def _decimals(self) -> int:
        """The fewest decimals (1 to 4) at which the ticks' labels differ."""
        ticks = [v for v in self.locs if v > 0]
        for decimals in range(1, 4):
            if len({power_of_ten(v, decimals) for v in ticks}) == len(ticks):
                return decimals
        return 4


def power_of_ten(value: float, decimals: int = 1) -> str:
    """``value`` as m x 10^k in mathtext, m rounded to ``decimals`` (10^k when m = 1); empty for a value <= 0."""
    if not value > 0:
        return ""
    exponent = int(np.floor(np.log10(value) + 1e-9))
    mantissa = round(value / 10.0**exponent, decimals)
    power = f"10^{{{exponent}}}"
    return f"${power}$" if mantissa == 1 else f"${mantissa:g}\\times {power}$"


def colors(count: int, name: str = "viridis") -> list[Any]:
    """``count`` distinct colours along a perceptually uniform colormap (its bright yellow end left out)."""
    cmap = colormaps[name]
    return [cmap(v) for v in np.linspace(0.0, 0.85, max(count, 1))][:count]


def quantile(summary: xr.DataArray, level: float) -> np.ndarray:
    """The values of one quantile level of a ``summarize_draws`` summary."""
    return np.asarray(summary.sel(quantile=level).values, float)


def draw_bands(ax: Axes, x: Any, draws: xr.DataArray, color: Any, label: str | None = None) -> xr.DataArray:
    """Median line with 50% and 90% equal-tailed bands of ``draws`` (over chain, draw and one other dim) against
    ``x``; returns the summary drawn (``summarize_draws``)."""
    summary = summarize_draws(draws)
    return draw_summary(ax, x, summary, color, label)


def draw_summary(ax: Axes, x: Any, summary: xr.DataArray, color: Any, label: str | None = None) -> xr.DataArray:
    """Median line and 50%/90% bands of a summary already over ``quantile``."""
    for name, (lower, upper) in BANDS.items():
        ax.fill_between(x, quantile(summary, lower), quantile(summary, upper), color=color, alpha=BAND_ALPHA[name],
                        linewidth=0, gid=BAND_GID[name])
    ax.plot(x, quantile(summary, MEDIAN), color=color, label=label, gid="median")
    return summary


def draw_observed(ax: Axes, x: Any, y: Any, color: Any, label: str | None = None) -> None:
    """Observed runs as points edged in black, above the bands."""
    ax.scatter(x, y, s=36, color=color, edgecolors="black", linewidths=0.8, zorder=4, gid=OBSERVED_GID, label=label)


def band_key(fig: Figure, observed: bool = True) -> None:
    """A figure-level legend saying what the line, the bands and the points are."""
    handles = [Line2D([], [], color="0.3", label="posterior median"),
               Patch(color="0.3", alpha=BAND_ALPHA["50%"] + BAND_ALPHA["90%"], label="50% interval"),
               Patch(color="0.3", alpha=BAND_ALPHA["90%"], label="90% interval")]
    if observed:
        handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor="0.6", markeredgecolor="black",
                              label="observed runs"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False, fontsize="small")


def log_grid(values: Any, margin: float = DATA_MARGIN, points: int = GRID_POINTS,
             limits: tuple[float, float] | None = None) -> np.ndarray:
    """A log-spaced grid from min(values) / margin to max(values) * margin, clipped to ``limits``."""
    values = np.asarray(values, float)
    lo, hi = values.min() / margin, values.max() * margin
    if limits is not None:
        lo, hi = max(lo, limits[0]), min(hi, limits[1])
    return np.geomspace(lo, hi, points)


def log_edges(centres: Sequence[float]) -> np.ndarray:
    """Cell edges around log-spaced centres (geometric midpoints; the end cells are symmetric in log)."""
    logs = np.log(np.asarray(centres, float))
    if logs.size == 1:
        return np.exp(logs + np.array([-0.5, 0.5]))
    mids = (logs[1:] + logs[:-1]) / 2
    return np.exp(np.concatenate([[2 * logs[0] - mids[0]], mids, [2 * logs[-1] - mids[-1]]]))


def runs_of_kind(posterior: Any, kind: str) -> xr.Dataset:
    """The runs of one kind ("supervised" or "distilled") of the posterior's runs table."""
    return posterior.runs.isel(run=np.flatnonzero(posterior.runs["kind"].values.astype(str) == kind))


def chosen(values: Any, given: Any) -> np.ndarray:
    """``given`` as a 1-D float array, or the distinct ``values`` when it is None."""
    return np.unique(np.asarray(values, float)) if given is None else np.atleast_1d(np.asarray(given, float))


def matches(values: Any, target: float) -> np.ndarray:
    """Which of ``values`` equal ``target`` (to 1e-9 relative: the same run value read back)."""
    return np.isclose(np.asarray(values, float), target, rtol=1e-9, atol=0.0)


def sci(value: float) -> str:
    """A number in short scientific form for labels, e.g. 1.2e+04."""
    return f"{value:.3g}"
