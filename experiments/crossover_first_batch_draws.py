"""Does ours' first crossover batch do better when picked from the fit's default 4,000 draws? (issue 15; not CI)

``bench_design.py`` fits at 2 x 500 draws to keep its hours down, so ``suggest_runs`` reads the covariance of the
candidates' losses with the crossover from 1,000 draws; a user's ``fit`` gives 4 x 1,000. The greedy takes the
largest of many estimated covariances, and at 1,000 draws of a two-moded answer some are large by chance. For each
simulation of ``--tasks sim-crossover`` this fits the start (23 distilled runs with the 71 supervised) at the
defaults, picks ours' first batch (2% of the pool's cost) from it, refits at the benchmark's settings and scores the
2.7B student's crossover as the benchmark does; beside it, the benchmark's rows for ours (picked from 1,000 draws)
and random (the mean of its seeds) at 2%.
Usage: python experiments/crossover_first_batch_draws.py ROWS.csv [--sims 0 1 2 3]

Measured on 2 cores on ``benchmarks/results/design_sim_crossover.csv`` (simulations 0-11, 24 minutes beside a test
run): CRPS at 2%, picked from 4,000 draws / from 1,000 / random, by simulation: 1.89 / 1.58 / 0.91, 1.65 / 2.27 / 1.46,
3.13 / 2.35 / 2.77, 0.66 / 2.02 / 0.73, 1.97 / 1.29 / 1.44, 0.69 / 0.60 / 1.46, 0.25 / 0.52 / 0.94, 0.96 / 1.72 /
0.76, 2.91 / 2.30 / 1.21, 0.87 / 1.89 / 0.62, 0.56 / 0.58 / 0.62, 0.57 / 2.19 / 0.67; means 1.34 / 1.61 / 1.13.
4,000 draws less 1,000: -0.27 +- 0.23 (better in 7 of 12); less random: +0.21 +- 0.19 (better in 5 of 12); the 90%
interval covered the truth in 10 of 12. More draws pick a first batch no worse, perhaps better, but not ahead of
random picks: the draws' number is not what holds the first batch back.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_design  # noqa: E402 - the benchmark's tasks and fit

import bayes_distill as bd  # noqa: E402

LEVEL = 0.02


def first_batch_at_defaults(task: bench_design.Task) -> list[str]:
    """Ours' first batch (the benchmark's ``pick_ours``) picked from the start's fit at the defaults (4 x 1,000
    draws)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = bd.fit(pd.concat([task.given, task.start]), seed=0)
    left = task.pool[~task.pool["run"].isin(task.start["run"])]
    return bench_design.pick_ours(post, task.start, left, task, LEVEL * task.cost.sum(), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rows", type=Path)
    ap.add_argument("--sims", nargs="+", type=int, default=list(range(12)))
    args = ap.parse_args()
    bench = bench_design.crossover_crps(args.rows, LEVEL)
    out = []
    for sim in args.sims:
        start = time.perf_counter()
        task = bench_design.simulated_distilled_task(bench_design.CROSSOVER, seed=sim)
        picked = first_batch_at_defaults(task)
        refit = task.fit(pd.concat([task.start, task.pool[task.pool["run"].isin(picked)]]))
        scored = bench_design.question_scores(refit, task)
        out.append({"sim": sim, "runs": len(picked), "crps_4000": scored["crps"], "cover90_4000": scored["cover90"],
                    "crps_1000": bench.loc[sim, "ours"], "crps_random": bench.loc[sim, "random"]})
        print(f"{pd.DataFrame(out[-1:]).round(3).to_string(index=False)}  ({time.perf_counter() - start:.0f} s)",
              flush=True)
    table = pd.DataFrame(out)
    print(table.round(3).to_string(index=False))
    gap = table["crps_4000"] - table["crps_1000"]
    vs_random = table["crps_4000"] - table["crps_random"]
    print(f"mean CRPS: 4,000 draws {table['crps_4000'].mean():.2f}, 1,000 draws {table['crps_1000'].mean():.2f}, "
          f"random {table['crps_random'].mean():.2f}; 4,000 less 1,000: {gap.mean():+.2f} +- {gap.sem():.2f} "
          f"(better in {(gap < 0).sum()} of {gap.size}); less random: {vs_random.mean():+.2f} +- "
          f"{vs_random.sem():.2f} (better in {(vs_random < 0).sum()})")


if __name__ == "__main__":
    main()
