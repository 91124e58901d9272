"""What the runs of a good batch have in common, on the Gadre et al. (2024) tasks of ``bench_design.py`` (issue 15;
not CI; reads the benchmark's CSVs, fits nothing).

For each task, method and random seed, the runs fitted by the 5% level (the start and the batches bought at 1%, 2%
and 5%) are described by a few features: how many runs, how many at the largest fitted size, how many at high
(> 100) and low (< 12) tokens per parameter M, and their mean distance in log M from the target's (geometric mean)
M. Each feature's correlation with the target's error is taken within tasks (both demeaned by task), so that it
says which batches of one task extrapolate better, not which tasks are easy. The headroom is the best of the random
seeds' errors on each task, averaged, beside ours, V-optimal and the whole pool.

Measured (the paired CSVs of the benchmark's docstring; mean relative error at 5%; 3 s):
- all runs (``--tasks gadre``; ours and V-optimal, random 5 seeds): ours 3.91%, V-optimal 3.94%, random 4.42% on
  average and 2.29% at the best of its 5 seeds (their standard deviation 1.92 points), the whole pool 2.37%.
  Within-task correlation with the error: the distance in log M from the target's M +0.31, runs at the largest size
  -0.22, number of runs -0.18, runs at M > 100 +0.13, runs at M < 12 +0.05.
- without the runs that stop inside their warm-up (``--finished-warmup``; random 3 seeds): ours 4.23%, V-optimal
  4.05%, random 5.43% and 3.22% at the best of its seeds (standard deviation 2.13 points), the whole pool 2.33%. The
  distance -0.08, runs at the largest size +0.34, number of runs +0.05, runs at M > 100 +0.28, at M < 12 -0.30.
So some batches within 5% of the pool's cost do as well as the whole pool, but one batch's error spreads by about 2
points over random seeds, and what sets the good batches apart changes sign between the two suites (the distance
in log M +0.31 and -0.08, runs at the largest size -0.22 and +0.34): no feature here would have told a design
which batch to buy, and the best of a few random batches is that spread, not a batch a design could aim at.

Ours and V-optimal buy different batches, yet tie: the Jaccard index of the runs each bought (beyond the start) is
0.53 / 0.70 / 0.51 / 0.57 on average at 1% / 2% / 5% / 10% (the same runs on 10 / 9 / 1 / 1 of the 24 tasks; at 5%
ours bought 5.2 runs, V-optimal 7.3); without the warm-up runs 0.67 / 0.70 / 0.68 / 0.59 (16 / 14 / 12 / 7 tasks).
Both rank runs by how much they are expected to shrink the target's posterior variance (ours over the draws and
with the law error's part, V-optimal on the linearisation at the median). Which of two such batches extrapolates
better is then mostly how far its runs' losses happen to sit off the law: the spread over random batches above,
which neither criterion can see before the losses are in.

Usage: python experiments/batch_features.py [--finished-warmup] [--level 0.05] [--main OURS_AND_V.csv]
       [--random RANDOM.csv] (default: the benchmark's rows in benchmarks/results of the suite asked for)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_design  # noqa: E402 - the benchmark's tasks

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"  # the benchmark's rows, kept
FEATURES = ("runs", "at_largest_size", "high_M", "low_M", "distance_to_target_M")


def task_of(name: str, finished_warmup: bool) -> bench_design.Task:
    """The benchmark's task ``<training set>[/<validation set>]``, without the warm-up runs if asked."""
    task = bench_design.GADRE_TASKS[name](0, 0.0)  # a Gadre et al. task has one seed and no added law error
    return bench_design.finished_warmup(task) if finished_warmup else task


def fitted_runs(task: bench_design.Task, rows: pd.DataFrame, level: float) -> pd.DataFrame:
    """The runs a method's fit at ``level`` saw: the start and every batch bought up to that level."""
    picked = " ".join(rows.loc[rows["level"] <= level, "picked"].fillna("").astype(str)).split()
    return pd.concat([task.start, task.pool[task.pool["run"].isin(picked)]])


def features(runs: pd.DataFrame, target: pd.DataFrame) -> dict[str, float]:
    """The batch's features (see the module docstring)."""
    tokens_per_parameter = runs["D"] / runs["N"]
    target_M = np.exp(np.mean(np.log(target["D"] / target["N"])))
    return {"runs": len(runs), "at_largest_size": int((runs["N"] == runs["N"].max()).sum()),
            "high_M": int((tokens_per_parameter > 100).sum()), "low_M": int((tokens_per_parameter < 12).sum()),
            "distance_to_target_M": float(np.mean(np.abs(np.log(tokens_per_parameter / target_M))))}


def batches(table: pd.DataFrame, level: float, finished_warmup: bool) -> pd.DataFrame:
    """One row per task, method and seed: its error at ``level`` (%) and its batch's features."""
    tasks, rows = {}, []
    for (name, method, seed), group in table.groupby(["task", "method", "seed"]):
        task = tasks.setdefault(name, task_of(name, finished_warmup))
        error = group.loc[group["level"] == level, "rel_error"]
        if error.empty:
            continue
        runs = fitted_runs(task, group, level)
        rows.append({"task": name, "method": method, "seed": seed, "error": 100 * float(error.iloc[0]),
                     **features(runs, task.target)})
    return pd.DataFrame(rows)


def within_task_correlation(frame: pd.DataFrame, column: str) -> float:
    """The correlation of ``column`` with the error, both less their task's mean."""
    error = frame["error"] - frame.groupby("task")["error"].transform("mean")
    value = frame[column] - frame.groupby("task")[column].transform("mean")
    return float(np.corrcoef(error, value)[0, 1]) if value.std() > 0 else float("nan")


def pick_overlap(table: pd.DataFrame, finished_warmup: bool) -> pd.DataFrame:
    """Per level: how alike ours' and V-optimal's bought runs are (Jaccard index of the runs bought up to that level,
    mean and median over tasks; tasks where the two bought the same runs), and how many runs each bought."""
    rows = []
    for name, group in table.groupby("task"):
        task = task_of(name, finished_warmup)
        start = set(task.start["run"])
        for level in sorted(group["level"].unique()):
            bought = {m: set(fitted_runs(task, group[group["method"] == m], level)["run"]) - start
                      for m in ("ours", "v-optimal")}
            union = bought["ours"] | bought["v-optimal"]
            rows.append({"level": level, "jaccard": len(bought["ours"] & bought["v-optimal"]) / max(len(union), 1),
                         "same": bought["ours"] == bought["v-optimal"], "ours_runs": len(bought["ours"]),
                         "v_runs": len(bought["v-optimal"])})
    frame = pd.DataFrame(rows).groupby("level")
    return pd.DataFrame({"jaccard_mean": frame["jaccard"].mean(), "jaccard_median": frame["jaccard"].median(),
                         "same_tasks": frame["same"].sum(), "ours_runs": frame["ours_runs"].mean(),
                         "v_runs": frame["v_runs"].mean()})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--main", type=Path, help="bench_design.py --out CSV with ours and v-optimal")
    ap.add_argument("--random", type=Path, help="bench_design.py --out CSV with random's seeds")
    ap.add_argument("--finished-warmup", action="store_true", help="the CSVs are of the --finished-warmup suite")
    ap.add_argument("--level", type=float, default=0.05)
    args = ap.parse_args()
    suite = "design_gadre_finished_warmup" if args.finished_warmup else "design_gadre"
    first = pd.read_csv(args.main or RESULTS / f"{suite}_ours_v.csv")
    random = pd.read_csv(args.random or RESULTS / f"{suite}_random.csv")
    whole = 100 * first.loc[first["method"] == "whole pool", "rel_error"].mean()
    table = pd.concat([first[first["method"].isin(["ours", "v-optimal"])], random[random["method"] == "random"]])
    frame = batches(table, args.level, args.finished_warmup)
    per_method = frame.groupby("method")[["error", *FEATURES]].mean()
    print(f"mean error and features at {args.level:.0%} of the pool's cost:\n{per_method.round(2).to_string()}")
    seeds = frame[frame["method"] == "random"].groupby("task")["error"]
    print(f"random: best of its {seeds.size().max()} seeds {seeds.min().mean():.2f}% (spread over its seeds, "
          f"standard deviation {seeds.std().mean():.2f} points); the whole pool {whole:.2f}%")
    print("within-task correlation with the error, over every batch:")
    for column in FEATURES:
        print(f"  {column}: {within_task_correlation(frame, column):+.2f}")
    levels = first[first["method"].isin(["ours", "v-optimal"]) & (first["level"] < 1)]
    print("ours' and V-optimal's bought runs, by level:")
    print(pick_overlap(levels, args.finished_warmup).round(2).to_string())


if __name__ == "__main__":
    main()
