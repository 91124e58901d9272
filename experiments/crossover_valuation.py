"""Does the posterior's own valuation of a batch predict what the batch did to the crossover? (issue 15; not CI)

On the crossover benchmark (``bench_design.py --tasks sim-crossover``), every method's first batch (2% of the pool's
cost) is picked from one posterior: the fit of the 23 cheapest distilled runs with the 71 supervised ones. For each
simulation this refits that start (the benchmark's fit, so the same draws) and values each method's first batch, as
stored in the rows' ``picked``, by ``assess_batch``: the expected share of the target's variance it takes off, by the
linear update (what ``suggest_runs`` picks by) and by reweighting the draws. Beside it, what the batch did: the
refit's CRPS of log10 C* (decades) and its 90% width over the start's. Printed: the rows, and per simulation the
Spearman correlation over the batches between the expected cut and the realised narrowing, and between the expected
cut and the CRPS (negative: the batches valued most scored best).
Usage: python experiments/crossover_valuation.py ROWS.csv [ROWS.csv ...] [--sims 0 1 2 3]

Measured on 2 cores on ``benchmarks/results/design_sim_crossover.csv`` (simulations 0-11; 3 minutes per 8): the
Spearman correlation over a simulation's five first batches (ours, largest-first, cheapest, random's 2 seeds) between
the expected cut by the linear update and the realised narrowing was -0.2, 0.9, -0.5, 0.1, 0.7, -0.7, 0.0, -0.1, 0.3,
0.5, 0.2, 0.5 (mean +0.14), and with the CRPS -0.6, 0.4, 0.1, 0.3, 0.6, -0.8, -0.4, -0.1, -0.1, 0.1, -0.9, 0.1 (mean
-0.11). Ours' first batch is expected to take the most off in each simulation (a share of 0.53-0.69 by the linear
update, the others' 0.28-0.60; by reweighting all 0.76-1.00, the weights collapsing on a few draws for a batch of
many runs). Yet the refit's 90% interval widened after 6 of ours' 12 first batches (mean width ratio 0.98), 7 of
largest-first's, 6 of cheapest-first's (0.93) and 15 of random's 24 (1.06): from 23 distilled runs the crossover's
posterior is wide and two-moded, and what a first batch does to it is the luck of its outcomes more than the
expected cut the linear update reads off the draws.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import pandas as pd
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_design  # noqa: E402 - the benchmark's tasks and fit

from bayes_distill.posterior.design import expected_cut  # noqa: E402


def valued(task: bench_design.Task, rows: pd.DataFrame) -> pd.DataFrame:
    """Each first batch (a row at the lowest level) valued by the start's posterior, beside what it did."""
    post = task.fit(task.start)
    start = bench_design.question_scores(post, task)
    left = task.pool[~task.pool["run"].isin(task.start["run"])].set_index("run", drop=False)
    out = []
    for row in rows.itertuples():
        picked = str(row.picked).split() if isinstance(row.picked, str) else []
        if not picked:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            answer = post.assess_batch(left.loc[picked].drop(columns="loss"), task.question,
                                       cost=task.cost[picked].values)
        out.append({"method": row.method, "seed": row.seed, "runs": len(picked),
                    "expected_linear": expected_cut(answer, reweighted=False), "expected_reweighted":
                    expected_cut(answer), "width_ratio": row.width90 / start["width90"], "crps": row.crps,
                    "start_crps": start["crps"]})
    return pd.DataFrame(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rows", nargs="+", type=Path)
    ap.add_argument("--sims", nargs="+", type=int, help="simulations to value (default: all in the rows)")
    args = ap.parse_args()
    rows = pd.concat([pd.read_csv(path) for path in args.rows], ignore_index=True)
    rows = rows[(rows["task"] == "sim-crossover") & (rows["method"] != "whole pool")]
    rows = rows[rows["level"] == rows["level"].min()]
    correlations = []
    for sim in args.sims or sorted(rows["sim_seed"].unique()):
        task = bench_design.simulated_distilled_task(bench_design.CROSSOVER, seed=int(sim))
        table = valued(task, rows[rows["sim_seed"] == sim])
        print(f"simulation {sim}:\n{table.round(3).to_string(index=False)}", flush=True)
        correlations.append({"sim": sim, "cut_vs_narrowing": spearmanr(table["expected_linear"],
                                                                       -table["width_ratio"]).statistic,
                             "cut_vs_crps": spearmanr(table["expected_linear"], table["crps"]).statistic})
    summary = pd.DataFrame(correlations)
    print(summary.round(2).to_string(index=False))
    print(f"mean: {summary[['cut_vs_narrowing', 'cut_vs_crps']].mean().round(2).to_dict()}")


if __name__ == "__main__":
    main()
