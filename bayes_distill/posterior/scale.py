"""The scale a posterior plans at by default: its runs' architecture, token bounds and budgets.

A fit of runs at 1e4-1e6 parameters says nothing about 1e9-parameter students, and its runs' FLOPs per token are
not the paper's. So a posterior's queries default to the architecture its runs record and to ranges a decade
beyond what they trained; explicit arguments override, and every answer's attributes state what was used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from bayes_distill.data import runs_architecture
from bayes_distill.laws import PAPER_ARCHITECTURE, Architecture, forward_flops
from bayes_distill.planner import DEFAULT_BOUNDS, DEFAULT_COMPUTE_RANGE

BOUNDS_MARGIN = 100.0
"""The default token and teacher-size bounds reach this factor beyond the smallest and largest N and D run."""
COMPUTE_MARGIN = 10.0
"""The default budgets reach this factor beyond the smallest and largest training compute 3 F(N) D run."""


@dataclass(frozen=True)
class PlanningScale:
    """Where a posterior's planning queries look unless told otherwise.

    architecture: the model family whose FLOPs per token price the budget (Eq. 69).
    bounds: (lower, upper) on N_T (parameters), D_S and D_T (tokens).
    compute_range: (lower, upper) budgets in FLOPs, searched for the crossover.
    trained_compute: (smallest, largest) training compute 3 F(N) D of the runs, FLOPs (the paper's range when
        the runs record no architecture).
    student_sizes: the distinct student sizes (parameters) of the distilled runs; the supervised sizes when none.
    source: where these came from, in words (stored in the answers' attributes).
    """

    architecture: Architecture
    bounds: tuple[float, float]
    compute_range: tuple[float, float]
    trained_compute: tuple[float, float]
    student_sizes: tuple[float, ...]
    source: str

    def budgets(self, count: int = 5, *, trained: bool = False) -> np.ndarray:
        """``count`` budgets (FLOPs) spaced evenly in log over the compute range, or over the runs' own training
        compute when ``trained``."""
        return np.geomspace(*(self.trained_compute if trained else self.compute_range), count)


def planning_scale(runs: xr.Dataset, architecture: Architecture | None = None) -> PlanningScale:
    """The default planning scale of a fit of ``runs``.

    The architecture is ``architecture`` if given, else the runs' own (``runs_architecture``). With neither, the
    paper's architecture and ranges are used and the source says so: such a table cannot tell its own scale.
    """
    distilled = runs["kind"].values.astype(str) == "distilled"
    sizes = np.unique(runs["N"].values[distilled] if distilled.any() else runs["N"].values)
    recorded = runs_architecture(runs)
    arch = architecture or recorded
    if arch is None:
        return PlanningScale(PAPER_ARCHITECTURE, DEFAULT_BOUNDS, DEFAULT_COMPUTE_RANGE, DEFAULT_COMPUTE_RANGE,
                             tuple(map(float, sizes)),
                             "the paper's architecture and default ranges: the runs table records no architecture")
    N, D = runs["N"].values.astype(float), runs["D"].values.astype(float)
    extent = np.concatenate([N, D])
    bounds = (float(extent.min() / BOUNDS_MARGIN), float(extent.max() * BOUNDS_MARGIN))
    training = 3.0 * np.asarray(forward_flops(N, arch)) * D
    compute_range = (float(training.min() / COMPUTE_MARGIN), float(training.max() * COMPUTE_MARGIN))
    given = "the architecture given" if architecture is not None else "the runs' recorded architecture"
    source = (f"{given}; bounds {BOUNDS_MARGIN:g}x beyond the runs' N and D ({extent.min():.3g} to "
              f"{extent.max():.3g}); budgets {COMPUTE_MARGIN:g}x beyond their training compute 3F(N)D "
              f"({training.min():.3g} to {training.max():.3g} FLOPs)")
    trained = (float(training.min()), float(training.max()))
    return PlanningScale(arch, bounds, compute_range, trained, tuple(map(float, sizes)), source)
