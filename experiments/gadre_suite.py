"""The Gadre et al. benchmark's rows summarised: error, coverage and R^2 by method and level, and paired gaps (not CI).

Reads the rows ``bench_design.py --tasks gadre ... --out`` wrote (one or more files, e.g. runs of different methods
at the same levels, concatenated; one whole-pool row per task is kept) and prints, over the 24 tasks:
- each method's mean relative error on the target (%), the share of target runs its 90% interval covered, its
  median R^2 and on how many tasks its R^2 came within 0.02 of the whole pool's fit or above it (random: the mean of
  its seeds), at each level of the pool's cost;
- ``--method`` less each other method, paired by task (random: the mean of its seeds), by ``gaps_of``: mean +-
  standard error in points of relative error, the share of tasks where it was better, and Wilcoxon's signed-rank p.
Usage: python experiments/gadre_suite.py ROWS.csv [ROWS.csv ...] [--method ours-rounds]

Measured: printed by this script, not restated here (``bench_design.py``'s docstring and the results README hold the
numbers and the rows they came from).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_design  # noqa: E402 - the benchmark's tasks and paired gaps

R2_MARGIN = 0.02  # the goal: R^2 on the target within this of the whole pool's fit


def by_method(rows: pd.DataFrame) -> pd.DataFrame:
    """Per method (rows) and level: mean relative error (%), 90% coverage (%), median R^2, and the tasks (of those it
    ran) whose R^2 is within ``R2_MARGIN`` of the whole pool's or above (random: mean over seeds)."""
    whole = rows[rows["method"] == "whole pool"].groupby("task")["r2"].first()
    picked = rows[rows["method"] != "whole pool"].copy()
    picked["near_whole"] = picked["r2"] >= picked["task"].map(whole) - R2_MARGIN
    per_task = picked.groupby(["method", "level", "task"]).agg(
        rel_error=("rel_error", "mean"), cover90=("cover90", "mean"), r2=("r2", "median"),
        near_whole=("near_whole", "mean"))
    grouped = per_task.groupby(["method", "level"])
    return pd.DataFrame({"tasks": grouped.size(), "error_%": 100 * grouped["rel_error"].mean(),
                         "cover90_%": 100 * grouped["cover90"].mean(), "median_r2": grouped["r2"].median(),
                         "r2_near_whole": grouped["near_whole"].sum()}).round(2)


def one_whole_pool_row(rows: pd.DataFrame) -> pd.DataFrame:
    """Each task's whole-pool row, once: files run side by side each hold the same reference fit. Rows that disagree
    (a fit changed between the runs) are an error naming the task, not a silent pick of the first."""
    whole = rows[rows["method"] == "whole pool"]
    spread = whole.groupby("task")["r2"].agg(lambda r2: r2.max() - r2.min())
    if (spread > 1e-9).any():
        raise ValueError(f"whole-pool rows disagree across the files for task(s) {sorted(spread[spread > 1e-9].index)}")
    return whole.drop_duplicates("task")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rows", nargs="+", type=Path)
    ap.add_argument("--method", default="ours", help="whose gaps to the others to print (default ours)")
    args = ap.parse_args()
    rows = pd.concat([pd.read_csv(path) for path in args.rows], ignore_index=True)
    rows = rows[rows["task"].isin(list(bench_design.GADRE_TASKS))]
    rows = pd.concat([rows[rows["method"] != "whole pool"], one_whole_pool_row(rows)], ignore_index=True)
    whole = rows[rows["method"] == "whole pool"]
    print(f"tasks: {rows['task'].nunique()}; the whole pool: {100 * whole['rel_error'].mean():.2f}% mean relative "
          f"error, median R^2 {whole['r2'].median():.2f}")
    print(by_method(rows).to_string())
    mine = args.method
    gaps = bench_design.gaps_of(rows, mine, scale=100)
    print(f"\n{mine} less each method (paired by task, points of relative error; negative: {mine} better):")
    print(gaps.round(3).to_string())

if __name__ == "__main__":
    main()
