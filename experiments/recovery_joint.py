"""Joint-model recovery on the paper design (71 supervised + 715 distilled runs, truth PAPER with B' = 2e6,
1% noise): do the 90% posterior intervals of all 15 coefficients contain the truth, and do the planner's answers
(compute-optimal student loss under teacher inference, crossover budget) computed over the posterior contain the
answers computed with the true coefficients? Prints the fit's diagnostics too. Not CI (1-2 min on 2 idle cores).
Usage: python experiments/recovery_joint.py [--draws 1000] [--chains 4] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from bayes_distill import allocate, crossover, fit
from bayes_distill.data.simulate import PAPER_RECOVERY, simulate_paper_design
from bayes_distill.laws import COEFFICIENTS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=0, help="default: as many as --draws")
    ap.add_argument("--target-accept", type=float, default=0.99,
                    help="0.99: the paper design diverges at 0.9, so the fit would sample twice")
    args = ap.parse_args()
    runs = simulate_paper_design(PAPER_RECOVERY, noise=0.01, seed=args.seed)
    t = time.time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        post = fit(runs, chains=args.chains, draws=args.draws, warmup=args.warmup or args.draws, seed=args.seed,
                   target_accept=args.target_accept)
    print(f"joint fit on {runs.sizes['run']} runs, {args.chains} x {args.draws} draws: {time.time() - t:.0f} s")
    summary = post.summary()
    divergences = int(post.tree["sample_stats"]["diverging"].values.sum())
    messages = [str(w.message)[:80] for w in caught if "attrs" not in str(w.message)]
    print(f"max R-hat {summary['r_hat'].astype(float).max():.3f}, "
          f"min bulk ESS {summary['ess_bulk'].astype(float).min():.0f}, divergences {divergences}; warnings {messages}")
    params = post.params()
    covered = 0
    for k in COEFFICIENTS:
        lo, med, hi = np.quantile(params[k].values, [0.05, 0.5, 0.95])
        inside = lo <= getattr(PAPER_RECOVERY, k) <= hi
        covered += inside
        truth = getattr(PAPER_RECOVERY, k)
        print(f"{k:>12} truth {truth:10.4g}  median {med:10.4g}  90% [{lo:10.4g}, {hi:10.4g}]  {inside}")
    print(f"{covered}/{len(COEFFICIENTS)} coefficients inside their 90% interval")

    students, budgets = [3e8, 1e9, 3e9], [1e21, 1e22, 1e23]
    planned = post.allocate(students, budgets, "teacher-inference")["student_loss"]
    true_plan = allocate(students, budgets, "teacher-inference", PAPER_RECOVERY)["student_loss"]
    lo, hi = planned.quantile([0.05, 0.95], dim=("chain", "draw"))
    inside = int(((lo <= true_plan) & (true_plan <= hi)).sum())
    print(f"compute-optimal student loss (teacher inference): {inside}/{true_plan.size} (N_S, C) cells inside 90%")
    for n in students:
        c = post.crossover([n], "teacher-inference")["compute"]
        c_true = float(crossover([n], "teacher-inference", PAPER_RECOVERY)["compute"].squeeze())
        q = np.quantile(np.log10(c.values), [0.05, 0.5, 0.95], method="inverted_cdf")  # inf: wins throughout
        print(f"crossover N_S={n:.0e}: truth 10^{np.log10(c_true):.2f} FLOPs, posterior median 10^{q[1]:.2f}, "
              f"90% [10^{q[0]:.2f}, 10^{q[2]:.2f}]  {q[0] <= np.log10(c_true) <= q[2]}")


if __name__ == "__main__":
    main()
