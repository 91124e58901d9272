"""The crossover benchmark's rows summarised: CRPS and 90% coverage by method and level, and paired gaps (not CI).

Reads the rows ``bench_design.py --tasks sim-crossover ... --out`` wrote (one or more files, e.g. runs of different
``--first-sim-seed``, concatenated) and prints, for the 2.7B student's crossover budget:
- each method's mean CRPS of log10 C* (decades, lower is better) and how many of its runs' 90% intervals covered
  the truth, at each level of the pool's cost (random: every seed counted);
- ours (or ``--method``) less each other method, paired by simulation (random: the mean of its seeds), by
  ``gaps_of``: mean +- standard error, the share of simulations where it was better, and Wilcoxon's signed-rank p.
Usage: python experiments/crossover_suite.py ROWS.csv [ROWS.csv ...] [--method ours-rounds]

Measured (``benchmarks/results/design_sim_crossover.csv``, simulations 0-11; see ``bench_design.py``'s docstring
for the table): printed by this script, not restated here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_design  # noqa: E402 - the benchmark's paired gaps


def by_method(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean CRPS (decades) and '90% covered of runs' by method (rows) and level (columns)."""
    grouped = rows.groupby(["method", "level"])
    cell = grouped["crps"].mean().map("{:.2f}".format) + " / " + (
        grouped["cover90"].sum().astype(int).astype(str) + " of " + grouped.size().astype(str))
    return cell.unstack("level").fillna("")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rows", nargs="+", type=Path)
    ap.add_argument("--method", default="ours", help="whose gaps to the others to print (default ours; also "
                    "ours-rounds), on the simulations it ran")
    args = ap.parse_args()
    rows = pd.concat([pd.read_csv(path) for path in args.rows], ignore_index=True)
    rows = rows[rows["task"] == "sim-crossover"]
    print(f"simulations: {sorted(rows['sim_seed'].unique().tolist())}")
    print("CRPS of log10 C* (decades) / 90% interval covered the truth, by level of the pool's cost:")
    print(by_method(rows).to_string())
    mine = args.method
    rows = rows[rows["sim_seed"].isin(rows.loc[rows["method"] == mine, "sim_seed"])]  # the simulations it ran
    gaps = bench_design.gaps_of(rows, mine, score="crps")
    print(f"\n{mine} less each method (paired by simulation; negative: {mine} better):")
    print(gaps.round(3).to_string())

if __name__ == "__main__":
    main()
