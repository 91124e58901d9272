"""Sturdiness of the joint fit on distillation data of the paper's kind (issue 13; not CI).

The design: the distilled runs of the paper's families 2 and 3 (many teachers, few D_S per student: 475 runs,
students 143M-1.8B, D_S = 20-320 tokens per parameter) simulated from PAPER_RECOVERY with 1% noise, the six
supervised coefficients held at the truth, and the fit at its defaults (4 x 1000 draws, the target rule).
Prints per (table, seed): seconds, the worst R-hat and bulk ESS with their coefficients, divergences, and the
target the rule ended at.
Usage: python experiments/sturdy_distillation.py [--tables 3] [--seeds 8]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import bayes_distill as bd
from bayes_distill.data.simulate import PAPER_RECOVERY, simulate_paper_design
from bayes_distill.laws import SUPERVISED_COEFFICIENTS


def design(table_seed: int):  # noqa: ANN201 - an xarray Dataset
    """Families 2 and 3 of the paper's design (the runs named dist-f2-*, dist-f3-*)."""
    runs = simulate_paper_design(PAPER_RECOVERY, noise=0.01, seed=table_seed)
    names = runs["run"].values.astype(str)
    keep = np.char.startswith(names, "dist-f2") | np.char.startswith(names, "dist-f3")
    return runs.isel(run=np.flatnonzero(keep))


def one_fit(runs, seed: int) -> str:  # noqa: ANN001
    fix = {c: float(getattr(PAPER_RECOVERY, c)) for c in SUPERVISED_COEFFICIENTS}
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = bd.fit(runs, fix=fix, seed=seed)
    seconds = time.perf_counter() - start
    summary = post.summary()
    worst_rhat, worst_ess = summary["r_hat"].idxmax(), summary["ess_bulk"].idxmin()
    divergent = int(post.tree["sample_stats"]["diverging"].sum())
    return (f"{seconds:5.0f} s  R-hat max {summary['r_hat'].max():.3f} ({worst_rhat})  bulk ESS min "
            f"{summary['ess_bulk'].min():.0f} ({worst_ess})  divergent {divergent}  target "
            f"{post.tree.attrs.get('target_accept')}  clean {not bd.inference.diagnose(post.tree)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=8)
    args = ap.parse_args()
    for table in range(args.tables):
        runs = design(table)
        print(f"table {table}: {runs.sizes['run']} distilled runs", flush=True)
        for seed in range(args.seeds):
            print(f"  seed {seed}: {one_fit(runs, seed)}", flush=True)


if __name__ == "__main__":
    main()
