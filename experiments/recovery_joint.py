"""Joint-model recovery on the paper design (71 supervised + 715 distilled runs, truth PAPER with B' = 2e6,
1% noise): do the 90% posterior intervals of all 15 coefficients contain the truth? Not CI (minutes on 2 cores).
Usage: python experiments/recovery_joint.py [--draws 500] [--chains 2]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from bayes_distill import fit
from bayes_distill.data.simulate import PAPER_RECOVERY, simulate_paper_design
from bayes_distill.laws import COEFFICIENTS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--chains", type=int, default=2)
    args = ap.parse_args()
    runs = simulate_paper_design(PAPER_RECOVERY, noise=0.01, seed=0)
    t = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = fit(runs, chains=args.chains, draws=args.draws, warmup=args.draws, seed=0)
    print(f"joint fit on {runs.sizes['run']} runs: {time.time() - t:.0f} s")
    params = post.params()
    covered = 0
    for k in COEFFICIENTS:
        lo, med, hi = np.quantile(params[k].values, [0.05, 0.5, 0.95])
        inside = lo <= getattr(PAPER_RECOVERY, k) <= hi
        covered += inside
        truth = getattr(PAPER_RECOVERY, k)
        print(f"{k:>12} truth {truth:10.4g}  median {med:10.4g}  90% [{lo:10.4g}, {hi:10.4g}]  {inside}")
    print(f"{covered}/{len(COEFFICIENTS)} coefficients inside their 90% interval")


if __name__ == "__main__":
    main()
