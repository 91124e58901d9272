"""Plain-text tables of planner answers for the terminal."""

from __future__ import annotations

import xarray as xr

from bayes_distill.posterior.summaries import (
    PLAN_COLUMNS,
    crossover_range,
    format_budget,
    summarize_crossover,
    summarize_draws,
)

_COLUMNS = (("student_size", "N_S", "{:.3g}"), ("compute", "C [FLOPs]", "{:.3g}"), *PLAN_COLUMNS)


_MEANINGS = {0: "crossover in range", 1: "distillation wins throughout", -1: "supervised wins throughout"}


def format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def allocation_table(plan: xr.Dataset, sample_dims: tuple[str, ...] = ()) -> str:
    """One row per (student size, budget). With sample dimensions, each cell is 'median [5%, 95%]'."""
    summary = summarize_draws(plan[[v for v, _, _ in _COLUMNS if v in plan.data_vars]], (0.05, 0.5, 0.95)) \
        if sample_dims else plan
    rows = []
    for n in plan["student_size"].values:
        for c in plan["compute"].values:
            point = summary.sel(student_size=n, compute=c)
            row = [f"{n:.3g}", f"{c:.3g}"]
            for var, _, fmt in _COLUMNS[2:]:
                if sample_dims:
                    lo, mid, hi = (fmt.format(float(v)) for v in point[var].values)
                    row.append(f"{mid} [{lo}, {hi}]")
                else:
                    row.append(fmt.format(float(point[var])))
            rows.append(row)
    return format_table([h for _, h, _ in _COLUMNS], rows)


def crossover_table(result: xr.Dataset, sample_dims: tuple[str, ...] = ()) -> str:
    """One row per student size: the crossover budget and what it means. Over draws: the median [5%, 95%] of
    C* ("> upper" where distillation still wins at the range's top, "< lower" where it never wins) and the shares
    of draws by outcome."""
    span = crossover_range(result)
    if not sample_dims:
        rows = [[f"{n:.3g}", f"{float(result['compute'].sel(student_size=n)):.4g}",
                 _MEANINGS[int(result["outcome"].sel(student_size=n))]] for n in result["student_size"].values]
        return format_table(["N_S", "C* [FLOPs]", "outcome"], rows)
    summary = summarize_crossover(result, (0.05, 0.5, 0.95))
    rows = []
    for n in result["student_size"].values:
        point = summary.sel(student_size=n)
        lo, mid, hi = (format_budget(float(v), span) for v in point["compute"].values)
        rows.append([f"{n:.3g}", f"{mid} [{lo}, {hi}]", f"{float(point['share_wins_throughout']):.0%}",
                     f"{float(point['share_crossover_in_range']):.0%}", f"{float(point['share_never_wins']):.0%}"])
    return format_table(["N_S", "C* [FLOPs]", "wins throughout", "crossover in range", "never wins"], rows)
