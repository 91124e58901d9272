"""Plain-text tables of planner answers for the terminal."""

from __future__ import annotations

import numpy as np
import xarray as xr

_COLUMNS = (
    ("student_size", "N_S", "{:.3g}"),
    ("compute", "C [FLOPs]", "{:.3g}"),
    ("student_tokens", "D_S", "{:.3g}"),
    ("teacher_params", "N_T", "{:.3g}"),
    ("teacher_tokens", "D_T", "{:.3g}"),
    ("teacher_loss", "L_T", "{:.4f}"),
    ("student_loss", "L_S", "{:.4f}"),
    ("supervised_loss", "L_sup", "{:.4f}"),
    ("student_share", "student", "{:.1%}"),
    ("teacher_logits_share", "logits", "{:.1%}"),
    ("teacher_pretraining_share", "pretrain", "{:.1%}"),
)


def _median_interval(values: np.ndarray) -> np.ndarray:
    """5%, 50% and 95% quantiles of draws; no interpolation, so a crossover of inf (distillation wins throughout)
    stays inf instead of turning the interval into NaN."""
    return np.quantile(np.ravel(values), [0.05, 0.5, 0.95], method="inverted_cdf")


def format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def allocation_table(plan: xr.Dataset, sample_dims: tuple[str, ...] = ()) -> str:
    """One row per (student size, budget). With sample dimensions, each cell is 'median [5%, 95%]'."""
    rows = []
    for n in plan["student_size"].values:
        for c in plan["compute"].values:
            point = plan.sel(student_size=n, compute=c)
            row = []
            for var, _, fmt in _COLUMNS:
                if var in ("student_size", "compute"):
                    row.append(fmt.format(float(point[var])))
                    continue
                values = point[var]
                if sample_dims:
                    lo, mid, hi = _median_interval(values.values)
                    row.append(f"{fmt.format(mid)} [{fmt.format(lo)}, {fmt.format(hi)}]")
                else:
                    row.append(fmt.format(float(values)))
            rows.append(row)
    return format_table([h for _, h, _ in _COLUMNS], rows)


def crossover_table(result: xr.Dataset, sample_dims: tuple[str, ...] = ()) -> str:
    """One row per student size: the crossover budget and what it means."""
    meanings = {0: "crossover in range", 1: "distillation wins throughout", -1: "supervised wins throughout"}
    rows = []
    for n in result["student_size"].values:
        point = result.sel(student_size=n)
        if sample_dims:
            c = point["compute"].values.ravel()
            lo, mid, hi = _median_interval(c)
            outcome = point["outcome"].values.ravel()
            share = {k: np.mean(outcome == k) for k in meanings}
            rows.append([f"{n:.3g}", f"{mid:.3g} [{lo:.3g}, {hi:.3g}]",
                         ", ".join(f"{meanings[k]} {v:.0%}" for k, v in share.items() if v > 0)])
        else:
            rows.append([f"{n:.3g}", f"{float(point['compute']):.4g}", meanings[int(point['outcome'])]])
    return format_table(["N_S", "C* [FLOPs]", "outcome"], rows)
