"""Benchmark of ``Posterior.suggest_runs`` against the baselines of budget-efficient scaling-law fitting (not CI).

The protocol of Li et al. (2026, "Spend Less, Fit Better"): a pool of runs whose losses are hidden until a method
picks them, a target of larger runs to predict, every method starting from the cheapest runs (about 2.5 per
coefficient: 15 for the supervised law) and spending 1%, 2%, 5% and 10% of the pool's cost on top (FLOPs, the
compute accounting's 3 F(N) D). At each level a method picks a batch worth the budget left, the law is refitted
(the defaults but 2 x 500 draws) and the target scored: R^2 and mean relative error of the predictive median, the
90% interval's coverage and median width (relative to the loss).
Methods: ``ours`` (``suggest_runs``, target: the target runs' points), ``random`` (5 seeds: random order, each run
taken if it fits), ``cheapest`` (cheapest first), and ``d-optimal`` / ``v-optimal``: greedy per FLOP on the
linearisation at the current fit's posterior median (the Fisher information of the fitted runs; D: log det, V: the
target's mean variance).
Tasks: the Gadre et al. (2024) runs of each training set (pool: models up to 411.6M parameters, target: 1.44B and
6.89B) and the paper's simulated supervised design (71 runs, 1% noise; pool: up to 1.2B parameters, target: larger).
Also the fit of the whole pool (the reference R^2), and with ``--speed`` the seconds to rank 1,000 candidates
against a 4,000-draw posterior.
Usage: python benchmarks/bench_design.py [--tasks rpj sim-supervised ...] [--levels 0.01 0.02 0.05 0.1] [--speed]

Measured on 2 cores (one process per task: about 100 fits of differing sizes in one process exhausted LLVM's
mapped sections, vm.max_map_count 65530). Mean relative error on the target at 1% / 2% / 5% / 10% of the pool
(random: mean of 5 seeds); the 90% interval covered every target run for every method, task and level:
| task | method | 1% | 2% | 5% | 10% |
|---|---|---|---|---|---|
| rpj (3 targets) | ours | 5.3% | 2.2% | 3.4% | 1.0% |
| rpj (3 targets) | random | 4.2% | 4.1% | 1.0% | 1.2% |
| rpj (3 targets) | cheapest | 5.3% | 6.3% | 1.6% | 1.2% |
| rpj (3 targets) | D-optimal | 8.3% | 0.6% | 1.6% | 1.1% |
| rpj (3 targets) | V-optimal | 5.3% | 2.2% | 3.4% | 1.0% |
| rpj (3 targets) | whole pool | 1.5% | | | |
| c4_original (3) | ours | 4.7% | 4.7% | 2.3% | 3.7% |
| c4_original (3) | random | 2.6% | 4.8% | 2.6% | 2.9% |
| c4_original (3) | cheapest | 4.7% | 4.7% | 2.3% | 3.8% |
| c4_original (3) | D-optimal | 4.7% | 7.1% | 2.4% | 3.3% |
| c4_original (3) | V-optimal | 4.7% | 4.7% | 2.3% | 3.7% |
| c4_original (3) | whole pool | 2.4% | | | |
| sim-supervised (29) | ours | 1.3% | 1.3% | 1.0% | 1.0% |
| sim-supervised (29) | random | 1.2% | 1.1% | 1.0% | 1.0% |
| sim-supervised (29) | cheapest | 2.1% | 1.3% | 1.2% | 1.0% |
| sim-supervised (29) | D-optimal | 1.1% | 1.3% | 1.0% | 1.0% |
| sim-supervised (29) | V-optimal | 1.2% | 1.4% | 1.0% | 1.0% |
| sim-supervised (29) | whole pool | 1.1% | | | |
Ranking 1,000 candidates against 4,000 draws (``--speed``): 31.7 s, 3x the 10.2 s of predicting their supervised
losses, while a test run shared the cores.
R^2 at 10% against the whole pool's: rpj 0.945 vs 0.919, sim-supervised 0.994 vs 0.992, c4_original 0.147 vs 0.544
(three target runs: R^2 swings with one run). With 32 Gadre runs per pool the start (15 runs) is half the pool
and each level adds one to three runs, so the methods' picks often coincide; ours and V-optimal picked the same
runs on both Gadre tasks.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

import bayes_distill as bd
from bayes_distill.data.candidates import load_candidates
from bayes_distill.data.simulate import simulate_paper_design
from bayes_distill.laws import PAPER_ARCHITECTURE
from bayes_distill.posterior.design import candidate_cost
from bayes_distill.posterior.law_error import log_loss_jacobian

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
from gadre_check import C4, CSV  # noqa: E402 - the Gadre et al. table beside the repository

STARTING_RUNS = 15  # about 2.5 per coefficient of the supervised law
DRAWS = 500


@dataclass(frozen=True)
class Task:
    """A pool of runs (losses revealed when picked) and the target runs to predict."""

    name: str
    pool: pd.DataFrame
    target: pd.DataFrame

    @property
    def cost(self) -> pd.Series:
        return pd.Series(candidate_cost(load_candidates(self.pool.drop(columns="loss")), PAPER_ARCHITECTURE),
                         index=self.pool["run"].values)


def gadre_task(dataset: str) -> Task:
    rows = pd.read_csv(CSV)
    rows = rows[rows["dataset"] == dataset]
    runs = pd.DataFrame({"run": rows["name"].values, "kind": "supervised", "N": rows["params_no_embed"].values,
                         "D": rows["tokens"].values, "loss": rows[C4].values})
    small = runs["N"] <= 4.2e8
    return Task(dataset, runs[small].reset_index(drop=True), runs[~small].reset_index(drop=True))


def simulated_supervised_task() -> Task:
    runs = simulate_paper_design(noise=0.01, seed=0).to_dataframe().reset_index()
    runs = runs[runs["kind"] == "supervised"][["run", "kind", "N", "D", "loss"]]
    small = runs["N"] <= 1.3e9
    return Task("sim-supervised", runs[small].reset_index(drop=True), runs[~small].reset_index(drop=True))


def quiet_fit(runs: pd.DataFrame) -> bd.Posterior:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bd.fit(runs, chains=2, draws=DRAWS, warmup=DRAWS, seed=0)


def scores(post: bd.Posterior, target: pd.DataFrame) -> dict[str, float]:
    """R^2, mean relative error, 90% coverage and median 90% width of the target's predictive."""
    predicted = post.predict(target["N"].values, target["D"].values, noise=True)
    low, median, high = predicted.quantile([0.05, 0.5, 0.95], dim=("chain", "draw")).values
    loss = target["loss"].values
    return {"r2": 1 - np.sum((median - loss) ** 2) / np.sum((loss - loss.mean()) ** 2),
            "rel_error": float(np.mean(np.abs(median - loss) / loss)),
            "cover90": float(np.mean((low <= loss) & (loss <= high))),
            "width90": float(np.median((high - low) / loss))}


def within_budget(order: list[str], cost: pd.Series, budget: float) -> list[str]:
    """The runs of ``order`` taken one by one while each fits what is left of ``budget`` (FLOPs)."""
    picked, left = [], budget
    for run in order:
        if cost[run] <= left:
            picked.append(run)
            left -= cost[run]
    return picked


def point_estimate(post: bd.Posterior) -> xr.Dataset:
    """The posterior median of every coefficient, as a single draw (chain 1, draw 1)."""
    return post.params().median(("chain", "draw")).expand_dims(chain=1, draw=1)


def linearised_greedy(post: bd.Posterior, fitted: pd.DataFrame, left: pd.DataFrame, target: pd.DataFrame,
                      cost: pd.Series, budget: float, criterion: str) -> list[str]:
    """D- or V-optimal picks per FLOP on the linearisation at the posterior median: information J^T J / sigma^2 of
    the fitted runs (plus a small ridge), updated by each pick."""
    params, names = point_estimate(post), post.free_coefficients
    jac = {k: log_loss_jacobian("supervised", params, names, (t["N"].values, t["D"].values))[0, 0]
           for k, t in (("fitted", fitted), ("left", left), ("target", target))}
    noise = float(post.posterior["sigma_supervised"].median()) ** 2
    covariance = np.linalg.inv(jac["fitted"].T @ jac["fitted"] / noise + 1e-6 * np.eye(len(names)))
    picked, spent, runs = [], 0.0, left["run"].values
    while True:
        j = jac["left"]
        variance = np.einsum("ck,kl,cl->c", j, covariance, j)
        if criterion == "d":
            gain = np.log1p(variance / noise)
        else:
            gain = np.mean((jac["target"] @ covariance @ j.T) ** 2, axis=0) / (variance + noise)
        score = np.where([r not in picked and spent + cost[r] <= budget for r in runs], gain / cost[runs].values, -1)
        best = int(np.argmax(score))
        if score[best] <= 0:
            return picked
        picked.append(runs[best])
        spent += cost[runs[best]]
        row = covariance @ j[best]
        covariance = covariance - np.outer(row, row) / (variance[best] + noise)


Method = Callable[[bd.Posterior, pd.DataFrame, pd.DataFrame, Task, float, np.random.Generator], list[str]]


def pick_ours(post, fitted, left, task, budget, rng):  # noqa: ANN001, ANN201, ARG001 - one signature for all
    out = post.suggest_runs(left.drop(columns="loss"), task.target.drop(columns="loss"), budget,
                            cost=task.cost[left["run"]].values)
    return [str(c) for c in out["candidate"].values[out["selected"].values]]


def pick_random(post, fitted, left, task, budget, rng):  # noqa: ANN001, ANN201, ARG001
    return within_budget(list(rng.permutation(left["run"].values)), task.cost, budget)


def pick_cheapest(post, fitted, left, task, budget, rng):  # noqa: ANN001, ANN201, ARG001
    return within_budget(list(task.cost[left["run"]].sort_values().index), task.cost, budget)


def pick_d(post, fitted, left, task, budget, rng):  # noqa: ANN001, ANN201, ARG001
    return linearised_greedy(post, fitted, left, task.target, task.cost, budget, "d")


def pick_v(post, fitted, left, task, budget, rng):  # noqa: ANN001, ANN201, ARG001
    return linearised_greedy(post, fitted, left, task.target, task.cost, budget, "v")


METHODS: dict[str, Method] = {"ours": pick_ours, "random": pick_random, "cheapest": pick_cheapest,
                              "d-optimal": pick_d, "v-optimal": pick_v}


def run_method(task: Task, method: str, levels: list[float], seed: int) -> list[dict]:
    """One method on one task: the start, then each level's batch, refit and scores."""
    rng = np.random.default_rng(seed)
    cost = task.cost
    fitted = task.pool[task.pool["run"].isin(cost.sort_values().index[:STARTING_RUNS])]
    start_cost = float(cost[fitted["run"]].sum())
    post, rows = quiet_fit(fitted), []
    for level in levels:
        left = task.pool[~task.pool["run"].isin(fitted["run"])]
        budget = start_cost + level * cost.sum() - float(cost[fitted["run"]].sum())
        picked = METHODS[method](post, fitted, left, task, budget, rng) if budget > 0 and len(left) else []
        fitted = pd.concat([fitted, left[left["run"].isin(picked)]])
        post = quiet_fit(fitted)
        rows.append({"task": task.name, "method": method, "seed": seed, "level": level, "runs": len(fitted),
                     "spent": float(cost[fitted["run"]].sum() - start_cost) / cost.sum(), **scores(post, task.target)})
    return rows


def whole_pool(task: Task) -> dict:
    """The reference: the fit of the whole pool, scored on the target."""
    fitted = task.pool
    return {"task": task.name, "method": "whole pool", "seed": 0, "level": 1.0, "runs": len(fitted), "spent": 1.0,
            **scores(quiet_fit(fitted), task.target)}


def ranking_speed(candidates: int = 1000) -> None:
    """Seconds to rank ``candidates`` supervised and distilled candidates (half with a teacher still to train)
    against a 4,000-draw joint posterior, against the seconds of predicting their losses (the same run's
    reference)."""
    runs = simulate_paper_design(noise=0.01, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = bd.fit(runs, chains=4, draws=1000, warmup=500, seed=0)
    rng = np.random.default_rng(0)
    N = np.exp(rng.uniform(np.log(1e8), np.log(5e9), candidates))
    kind = np.where(np.arange(candidates) % 2 == 0, "supervised", "distilled")
    table = pd.DataFrame({"kind": kind, "N": N, "D": N * np.exp(rng.uniform(np.log(10), np.log(300), candidates)),
                          "teacher_loss": np.where(np.arange(candidates) % 4 == 1, 2.2, np.nan),
                          "teacher_N": 7e9, "teacher_D": 1.4e11})
    target = pd.DataFrame({"kind": "supervised", "N": [1e10, 3e10], "D": [2e11, 6e11]})
    start = time.perf_counter()
    post.predict(table["N"].values, table["D"].values)
    reference = time.perf_counter() - start
    start = time.perf_counter()
    post.suggest_runs(table, target, budget=1e22)
    ranking = time.perf_counter() - start
    print(f"ranking {candidates} candidates against {post.draw_count} draws: {ranking:.2f} s "
          f"({ranking / reference:.0f}x predicting their supervised losses, {reference:.3f} s)")


TASKS = {"rpj": lambda: gadre_task("rpj"), "rw_original": lambda: gadre_task("rw_original"),
         "c4_original": lambda: gadre_task("c4_original"), "sim-supervised": simulated_supervised_task}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--levels", nargs="+", type=float, default=[0.01, 0.02, 0.05, 0.1])
    ap.add_argument("--random-seeds", type=int, default=5)
    ap.add_argument("--out", type=Path, help="a CSV to write every row to")
    ap.add_argument("--speed", action="store_true", help="only time the ranking of 1,000 candidates")
    args = ap.parse_args()
    if args.speed:
        ranking_speed()
        return
    rows = []
    for name in args.tasks:
        task = TASKS[name]()
        print(f"{name}: pool {len(task.pool)} runs ({task.cost.sum():.2e} FLOPs), target {len(task.target)} runs",
              flush=True)
        rows.append(whole_pool(task))
        for method in METHODS:
            for seed in range(args.random_seeds if method == "random" else 1):
                start = time.perf_counter()
                rows += run_method(task, method, args.levels, seed)
                print(f"  {method} seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)
                if args.out:  # after every method, so that a stopped benchmark keeps what it measured
                    pd.DataFrame(rows).to_csv(args.out, index=False)
    table = pd.DataFrame(rows)
    summary = table.groupby(["task", "level", "method"])[["runs", "spent", "r2", "rel_error", "cover90", "width90"]]
    print(summary.mean().round(4).to_string())


if __name__ == "__main__":
    main()
