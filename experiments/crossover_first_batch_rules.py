"""Which rule picks a better first crossover batch from 23 distilled runs? (issue 15; not CI)

At 2% of the pool's cost ours' first batch trails random picks on the crossover target (``bench_design.py``,
``--tasks sim-crossover``). The start's answer, log10 C* of the 2.7B student, is wide and two-moded, with mass
clipped at the searched range's top, and the linear update values runs by their covariance with it. For each
simulation this fits the start once (the benchmark's fit), picks a first batch by each rule, refits at the
benchmark's settings and scores the crossover as the benchmark does (CRPS in decades):
- ``linear``: ``suggest_runs`` as it is (the benchmark's ``pick_ours``);
- ``copula``: the same greedy on the target's normal scores (its ranks mapped to standard normal quantiles), a
  Gaussian copula: the update then values a run by how well its outcome orders the draws' answers, whatever the
  answer's scale, and its clipped ends and modes weigh no more than their ranks;
- ``per-flop``: the linear update's greedy by reduction per FLOP alone (no per-run or per-sqrt batch);
- ``gap``: the same greedy on the quantity whose zero C* is, unclipped: the log loss of compute-optimal distillation
  less supervised training's at ``GAP_POINTS`` budgets over the range searched (``loss_gap``), their mean variance;
- ``gap-scaled``: the same with each budget's gap divided by its spread over the draws, so that every budget counts
  alike (a correlation), not mostly the far end's, where the gap is widest;
- ``outcome``: the same greedy on whether each draw's C* lies below the range and whether above it (0 or 1), the sum
  of whose variances p (1 - p) stands in for the entropy of the answer's outcome, the issue's other measure;
- ``d-optimal``: the benchmark's D-optimal greedy on a linearisation at the best fit (not in its crossover rows),
  which spreads runs to pin down the law's coefficients whatever the question;
- ``information``: the library's greedy valuing runs by the information their outcomes bring about their own
  predicted log losses over the draws (``LawInformation``), a Bayesian D-optimal design blind to the question;
- ``pool``: ``suggest_runs`` with the candidates themselves as the target (their log losses' mean variance), as a
  user can ask today: learn the law where one could run, whatever the question;
- ``a+b`` (for example ``information+linear``): the budget in equal steps, the first picked by rule a, then a refit
  and the next by rule b (a hard split; the loop's rounds, ``Design.round_budget``, instead train the head of the
  batch planned for all the budget left: ``bench_design.py --methods ours-rounds``);
- beside them, the benchmark's rows for random picks (the mean of its seeds) at 2%.
Usage: python experiments/crossover_first_batch_rules.py ROWS.csv [--sims 0 1 2 3] [--rules linear copula gap outcome]
[--out table.csv]

Measured on 2 cores on ``benchmarks/results/design_sim_crossover.csv`` (simulations 0-11 in two halves side by side,
27 minutes): 89-94% of the start's draws (mean 92%) put the crossover above the range searched (distillation wins
throughout, up to 1e25 FLOPs) and 0.1-0.6% below it, while the truth is 10^21.8 FLOPs: the start's answer is a point
mass at the top with a thin tail inside the range, and its CRPS is 2.52-2.83 (``--rules`` with none gives these in
5 minutes). CRPS at 2% by simulation, linear / copula / per-flop / random:
1.58 / 2.12 / 1.55 / 0.91, 2.27 / 2.79 / 2.27 / 1.46, 2.35 / 2.11 / 2.35 / 2.77, 2.02 / 1.67 / 1.61 / 0.73,
1.29 / 1.47 / 1.29 / 1.44, 0.60 / 0.46 / 0.60 / 1.46, 0.52 / 0.23 / 1.06 / 0.94, 1.72 / 1.87 / 1.72 / 0.76,
2.30 / 2.41 / 2.30 / 1.21, 1.89 / 1.59 / 0.84 / 0.62, 0.58 / 0.61 / 0.67 / 0.62, 2.19 / 2.16 / 1.93 / 0.67.
Means 1.61 / 1.62 / 1.52 / 1.13 (linear reproduces the benchmark's rows exactly). Less linear: copula +0.01 +-
0.09 (better in 6 of 12, Wilcoxon p 1.0), per-flop -0.09 +- 0.11 (better in 4, p 0.56). Less random: linear +0.48
+- 0.23 (p 0.09), copula +0.49 +- 0.26 (p 0.06), per-flop +0.38 +- 0.19 (p 0.08). The 90% interval covered the
truth in 12, 11 and 12 of 12. Neither rule is better than the linear one beyond the noise, and none catches up with
random picks: the rank transform shows the answer's non-Gaussian scale is not what holds the first batch back, and
the per-run batch (13-19 dear runs, picked in 6 simulations) is no worse on the whole than per FLOP's 34-52.
After the linear rule's first batch (``--rules linear``, 9 minutes in two halves), 17-86% of the refit's draws (median
74%) lay above the range, by simulation 0.69, 0.84, 0.86, 0.79, 0.62, 0.17, 0.34, 0.73, 0.84, 0.76, 0.37, 0.82: ours'
second batches, picked from those refits, scored best at 5% in the benchmark (CRPS 1.03, random 1.28). Hence
``suggest``'s caution where nine in ten of the draws lie beyond the range (11 of the 12 starts here, whose shares
beyond it were 0.89-0.94; none of the refits).
The two gap rules (``--rules gap gap-scaled``, 2 x 13 minutes side by side with other work) by simulation, gap /
gap-scaled: 2.67 / 2.08, 1.28 / 1.48, 2.21 / 2.81, 0.66 / 0.57, 0.39 / 0.34, 1.65 / 3.09, 2.89 / 3.14, 0.72 / 0.76,
1.00 / 0.34, 0.33 / 0.20, 0.53 / 1.91, 2.30 / 2.29; means 1.39 / 1.58. Less random: gap +0.25 +- 0.28 (better in 8
of 12, p 0.97), gap-scaled +0.45 +- 0.31 (better in 5, p 0.23); less linear -0.22 +- 0.35 (better in 8, p 0.47)
and -0.03 +- 0.45 (6, p 0.85). Covered 10 and 9 of 12. Both spend the budget on 92-130 cheap runs (the per-FLOP
batch wins their greedy), where the linear rule bought 13-52. Not adopted.
The outcome rule (``--rules outcome``, 2 x 13 minutes side by side): 1.50, 1.50, 3.04, 0.70, 2.51, 1.20, 0.33, 1.31,
2.65, 1.14, 0.51, 0.90; mean 1.44. Less random +0.31 +- 0.16 (better in 4 of 12, p 0.13), less linear -0.17 +- 0.23
(better in 8, p 0.38); covered 10 of 12; 14-55 runs. Not adopted.
Rules blind to the question (``--rules d-optimal``, ``information``, ``pool``, each 2 x 6 simulations side by side,
9-12 minutes), by simulation d-optimal / information / pool: 1.44 / 2.88 / 2.97, 0.68 / 0.52 / 0.46, 1.83 / 0.68 /
2.85, 1.28 / 0.53 / 0.61, 0.40 / 1.05 / 0.26, 0.21 / 0.78 / 0.41, 1.17 / 2.57 / 1.92, 0.53 / 1.50 / 2.10, 1.23 /
0.42 / 1.24, 1.15 / 0.33 / 0.17, 2.02 / 0.64 / 0.51, 2.00 / 1.75 / 1.41; means 1.16 / 1.14 / 1.24. Less random:
+0.03 +- 0.26 (better in 5 of 12, p 0.91), +0.01 +- 0.34 (7, p 0.91), +0.11 +- 0.29 (6, p 1.0); less linear -0.45
+- 0.24 (better in 10, p 0.08), -0.47 +- 0.36 (8, p 0.18), -0.37 +- 0.32 (8, p 0.27). Covered 12, 11 and 10 of 12;
35-105, 137-158 and 97-117 runs. So every rule that values runs by the question (linear 1.61, copula 1.62,
per-flop 1.52, gap 1.39, gap-scaled 1.58, outcome 1.44) trails random picks from this start, and every rule blind to
it scores about as random picks do: ``suggest``'s caution names the candidates themselves as the target, which a user
can ask for as it is.
In two steps of 1% with a refit between them (``--rules linear+linear information+linear``, 2 x 6 simulations side by
side, 35 minutes; 4-8 minutes a simulation), by simulation linear+linear / information+linear: 3.05 / 1.84, 1.64 /
0.60, 3.17 / 1.85, 1.37 / 0.45, 0.78 / 0.43, 0.32 / 0.54, 0.41 / 1.37, 2.08 / 1.29, 0.92 / 1.18, 0.22 / 0.30, 1.55 /
1.31, 0.88 / 1.93; means 1.37 / 1.09. Less random: +0.23 +- 0.27 (better in 5 of 12, p 0.57), -0.04 +- 0.23 (7, p
0.91); less the linear rule in one step: -0.24 +- 0.29 (8, p 0.47), -0.52 +- 0.25 (9, p 0.06). Covered 10 and 12 of
12; 33-91 and 94-121 runs; after them 11-100% and 1-77% of the draws lay above the range. A refit halfway helps the
linear rule a little, not beyond the noise, and a question-blind first step then the linear rule has the lowest mean
of all the rules measured, but is level with random picks: no rule beats them here beyond the noise.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_design  # noqa: E402 - the benchmark's tasks and fit

from bayes_distill.posterior import design  # noqa: E402

LEVEL = 0.02
BENCHMARK_METHODS = {"linear": "ours", "d-optimal": "d-optimal"}  # rules that are the benchmark's own methods
GAP_POINTS = 15  # budgets at which the ``gap`` rule reads the loss gap


def normal_scores(values: np.ndarray) -> np.ndarray:
    """Each column's ranks (ties averaged) mapped to standard normal quantiles; (sample, quantity)."""
    ranks = stats.rankdata(values, axis=0)
    return stats.norm.ppf(ranks / (values.shape[0] + 1))


def loss_gap(post, question: tuple, points: int = GAP_POINTS) -> np.ndarray:  # noqa: ANN001
    """The log loss of compute-optimal distillation less supervised training's, for the crossover's student and
    scenario, at ``points`` budgets log-spaced over the range searched; (sample, budget). C* is where it crosses 0."""
    _, N_S, scenario = question
    lower, upper = post.scale.compute_range
    plan = post.allocate(N_S, np.logspace(np.log10(lower), np.log10(upper), points), scenario)
    gap = np.log(plan["student_loss"]) - np.log(plan["supervised_loss"])
    return gap.stack(sample=design.SAMPLE_DIMS).transpose("sample", ...).values.reshape(-1, points)


def outcome_indicators(post, log10_crossover: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """Whether each draw's crossover lies below the range searched and whether above it, as 0 or 1; (sample, 2).
    Their variances p (1 - p) sum to a second-order stand-in for the entropy of the answer's outcome."""
    lower, upper = np.log10(post.scale.compute_range)
    values = np.ravel(log10_crossover)
    return np.stack([values <= lower, values >= upper], axis=1).astype(float)


class LawInformation(design.Ensemble):
    """The ensemble valuing a run by what its outcome tells of the law, whatever the question: the information
    0.5 log(1 + Var f / noise variance) (nats) of its outcome about its predicted log loss, given the picks before
    it (a Bayesian D-optimal design on the draws: the batch's sum is half the log determinant it takes off)."""

    def reductions(self) -> np.ndarray:
        return 0.5 * np.log1p(self.variance / self.noise_variance)


def rule_target(post, question, task: bench_design.Task, rule: str) -> np.ndarray | None:  # noqa: ANN001
    """The draws (sample, quantity) whose mean variance ``rule``'s greedy takes off; None: the library's own."""
    if rule == "copula":
        return normal_scores(question.target)
    if rule == "gap":
        return loss_gap(post, task.question)
    if rule == "gap-scaled":
        gap = loss_gap(post, task.question)
        return gap / gap.std(0)
    if rule == "outcome":
        return outcome_indicators(post, question.whole)
    return None


def pick(post, left: pd.DataFrame, task: bench_design.Task, budget: float, rule: str,  # noqa: ANN001
         fitted: pd.DataFrame | None = None) -> list[str]:
    """A batch by ``rule`` (see the module's docstring), ``fitted`` the runs fitted (default: the start)."""
    if rule in BENCHMARK_METHODS:
        fitted = task.start if fitted is None else fitted
        return bench_design.METHODS[BENCHMARK_METHODS[rule]](post, fitted, left, task, budget, None)
    if rule == "pool":  # what a user gets by giving the candidates themselves as the target
        pool = left.drop(columns="loss")
        out = post.suggest_runs(pool, pool, budget, cost=task.cost[left["run"]].values)
        return [str(c) for c in out["candidate"].values[out["selected"].values]]
    question = design._question(post, left.drop(columns="loss"), task.question, task.cost[left["run"]].values, 0)
    ensemble, target = question.ensemble, rule_target(post, question, task, rule)
    if target is not None:
        noise = design.noise_variance(post, question.table["kind"].values)
        ensemble = design.Ensemble.of(target, question.predicted, noise)
    powers, cut = (1.0,) if rule == "per-flop" else design.COST_POWERS, question.cut
    if rule == "information":
        ensemble = LawInformation(ensemble.target_covariance, ensemble.candidate_covariance, ensemble.noise_variance)
        cut = None  # the information counts no extrapolated law error
    batch = design.greedy_batch(ensemble, question.flops, budget, question.teachers, powers, cut)
    return [str(c) for c in question.table["candidate"].values[batch.selected]]


def in_steps(post, left: pd.DataFrame, task: bench_design.Task, rule: str) -> tuple[list[str], object]:  # noqa: ANN001
    """The batch of ``rule`` and the refit on it. A rule ``a+b`` spends the budget in equal steps, a by a and then b
    by b, refitting between them (a budget a step leaves unspent passes to the next)."""
    steps, picked = rule.split("+"), []
    for step, name in enumerate(steps, start=1):
        budget = LEVEL * task.cost.sum() * step / len(steps) - task.cost[picked].sum()
        remaining, fitted = left[~left["run"].isin(picked)], task.pool[task.pool["run"].isin(picked)]
        picked += pick(post, remaining, task, budget, name, pd.concat([task.start, fitted])) if budget > 0 else []
        post = task.fit(pd.concat([task.start, task.pool[task.pool["run"].isin(picked)]]))
    return picked, post


def range_shares(post, task: bench_design.Task) -> tuple[float, float]:  # noqa: ANN001
    """The shares of the posterior's draws whose crossover sits below the searched range (distillation never wins)
    and above it (distillation wins throughout), as ``suggest_runs`` reports them."""
    return design.beyond_range(post, design.target_quantities(post, task.question).values)


def one_simulation(sim: int, rules: list[str], bench: pd.Series) -> dict:
    """Every rule's first batch of one simulation, scored."""
    task = bench_design.simulated_distilled_task(bench_design.CROSSOVER, seed=sim)
    post = task.fit(task.start)
    left = task.pool[~task.pool["run"].isin(task.start["run"])]
    below, above = range_shares(post, task)
    row = {"sim": sim, "start_crps": bench_design.question_scores(post, task)["crps"], "below_range": below,
           "above_range": above}
    for rule in rules:
        picked, refit = in_steps(post, left, task, rule)
        scored = bench_design.question_scores(refit, task)
        row |= {f"{rule}_runs": len(picked), f"{rule}_crps": scored["crps"], f"{rule}_cover90": scored["cover90"],
                f"{rule}_width90": scored["width90"], f"{rule}_above_range": range_shares(refit, task)[1]}
    return row | {"bench_ours_crps": bench.get("ours", np.nan), "random_crps": bench.get("random", np.nan)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rows", type=Path)
    ap.add_argument("--sims", nargs="+", type=int, default=list(range(12)))
    ap.add_argument("--rules", nargs="*", default=["linear", "copula", "per-flop"])
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    bench = bench_design.crossover_crps(args.rows, LEVEL)
    out = []
    for sim in args.sims:
        start = time.perf_counter()
        out.append(one_simulation(sim, args.rules, bench.loc[sim]))
        print(f"{pd.DataFrame(out[-1:]).round(3).to_string(index=False)}  ({time.perf_counter() - start:.0f} s)",
              flush=True)
        if args.out:
            pd.DataFrame(out).to_csv(args.out, index=False)
    summarise(pd.DataFrame(out), args.rules)


def summarise(table: pd.DataFrame, rules: list[str]) -> None:
    """Each rule's mean CRPS and its paired gap to random picks and to the linear rule."""
    print(table.round(3).to_string(index=False))
    for rule in rules:
        crps = table[f"{rule}_crps"]
        line = f"{rule}: CRPS {crps.mean():.2f}, covered {int(table[f'{rule}_cover90'].sum())} of {len(table)}"
        for other in ("random", "linear"):
            if other != rule and f"{other}_crps" in table:
                gap = crps - table[f"{other}_crps"]
                line += f"; less {other} {gap.mean():+.2f} +- {gap.sem():.2f} (better in {(gap < 0).sum()})"
        print(line)


if __name__ == "__main__":
    main()
