"""Summaries of answers over posterior draws, honest where draws are infinite.

A crossover budget C* is +inf in draws where distillation wins over the whole range searched, and lies below
the range where it never wins. Interpolated quantiles across infinity are NaN, and quantiles that fold
"never wins" into the range's lower end read as a budget. So the crossover's summary gives the shares of
both outcomes and quantiles that are draws' own values (no interpolation), with the never-wins draws at -inf:
a quantile of +inf reads "above the range", -inf "below the range". The command line, the report, the plots and
the notebooks all summarise through this module.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from bayes_distill.planner.crossover import (
    OUTCOME_CROSSOVER,
    OUTCOME_DISTILLATION_THROUGHOUT,
    OUTCOME_SUPERVISED_THROUGHOUT,
)

SAMPLE_DIMS = ("chain", "draw")
SUPERVISED_LAW_FIXED_CAUTION = (
    "the supervised law's six coefficients were held fixed (a two-stage fit), so these intervals leave out its "
    "uncertainty, which every comparison of distillation with supervised training carries; a joint fit of the "
    "supervised and distilled runs keeps it")
"""Said beside an answer whose ``supervised_law_fixed`` attribute is set (``Posterior.supervised_law_fixed``)."""
INTERVAL_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
"""Median with the 50% and 90% equal-tailed intervals."""

PLAN_COLUMNS = (
    ("student_tokens", "D_S", "{:.3g}"),
    ("teacher_params", "N_T", "{:.3g}"),
    ("teacher_tokens", "D_T", "{:.3g}"),
    ("teacher_loss", "L_T", "{:.4f}"),
    ("student_loss", "L_S", "{:.4f}"),
    ("supervised_loss", "L_sup", "{:.4f}"),
    ("student_share", "student", "{:.1%}"),
    ("teacher_logits_share", "logits", "{:.1%}"),
    ("teacher_pretraining_share", "pretraining", "{:.1%}"),
)
"""The variables of a plan (``allocate``), their headers in the paper's symbols (L_sup: the same student trained
supervised on the budget; the last three: shares of the budget) and formats: one table layout for the command
line and the report."""


def _sample_dims(da: xr.DataArray | xr.Dataset) -> list[str]:
    dims = [d for d in SAMPLE_DIMS if d in da.dims]
    if not dims:
        raise ValueError(f"expected draws over {SAMPLE_DIMS}; got dimensions {tuple(da.dims)}")
    return dims


def summarize_draws(answer: xr.DataArray | xr.Dataset,
                    quantiles: Sequence[float] = INTERVAL_QUANTILES) -> xr.DataArray | xr.Dataset:
    """Quantiles over (chain, draw) of every variable, along a new dimension ``quantile``.

    Each quantile is a draw's own value (``inverted_cdf``), so an infinite draw never turns an interval into NaN.
    """
    dims = _sample_dims(answer)
    return answer.quantile(list(quantiles), dim=dims, method="inverted_cdf", keep_attrs=True)


def summarize_crossover(crossover: xr.Dataset,
                        quantiles: Sequence[float] = INTERVAL_QUANTILES) -> xr.Dataset:
    """The crossover's distribution per student size, from a ``Posterior.crossover`` answer.

    Returns a Dataset over (``student_size``[, ``quantile``]) with

    - ``share_wins_throughout``: share of draws where distillation wins over the whole compute range;
    - ``share_never_wins``: share where supervised training matches or beats it over the whole range;
    - ``share_crossover_in_range``: the rest, whose crossover lies inside the range;
    - ``compute``: quantiles of C* (FLOPs) over all draws, +inf above the range and -inf below it.
    """
    if "outcome" not in crossover or "compute" not in crossover:
        raise ValueError("summarize_crossover needs a crossover answer (variables 'compute' and 'outcome')")
    dims = _sample_dims(crossover)
    outcome = crossover["outcome"]
    share = {name: (outcome == code).mean(dims) for name, code in (
        ("share_wins_throughout", OUTCOME_DISTILLATION_THROUGHOUT),
        ("share_never_wins", OUTCOME_SUPERVISED_THROUGHOUT),
        ("share_crossover_in_range", OUTCOME_CROSSOVER),
    )}
    placed = crossover["compute"].where(outcome != OUTCOME_SUPERVISED_THROUGHOUT, -np.inf)
    compute = placed.quantile(list(quantiles), dim=dims, method="inverted_cdf")
    out = xr.Dataset({**{k: v.assign_attrs(units="1") for k, v in share.items()},
                      "compute": compute.assign_attrs(units="FLOPs", long_name="crossover budget C*; +inf above "
                                                      "the range, -inf below it")})
    return out.assign_attrs(crossover.attrs)


def format_budget(value: float, compute_range: tuple[float, float] | None = None) -> str:
    """A crossover budget as text: "> upper" above the range, "< lower" below it, else the number."""
    if np.isposinf(value):
        return f"> {compute_range[1]:.3g}" if compute_range else "> range"
    if np.isneginf(value):
        return f"< {compute_range[0]:.3g}" if compute_range else "< range"
    return f"{value:.3g}"


def crossover_range(answer: xr.Dataset) -> tuple[float, float] | None:
    """The compute range a crossover answer searched (from its attributes), if recorded."""
    attrs = answer.attrs
    if "compute_range_lower" in attrs and "compute_range_upper" in attrs:
        return float(attrs["compute_range_lower"]), float(attrs["compute_range_upper"])
    return None
