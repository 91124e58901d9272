"""The main job's fit, at its settings, over fit seeds: on the cpu grid's runs table, does every seed come out
clean (R-hat <= 1.01, bulk and tail ESS >= 400, no divergences)?

Usage: python experiments/sturdy_demo_fit.py [runs/cpu/runs.nc] [--seeds 8] [--no-readapt]
``--no-readapt`` turns off the rule for chains that disagree without diverging (``fit.READAPT``), to compare.

Measured (2 cores, the cpu grid's 22 runs as ``make demo`` trains them; a clean clone's training reproduced every
loss bit for bit; 4 x 2500 draws after 2500 warm-up steps, E held at the source's floor), seeds 0-7:
- Without the rule (``--no-readapt``): 7 of 8 clean (28-65 s). Seed 0 is not: one chain of four wanders the tail
  of low beta (its mean 0.82, sd 0.25, against 0.94, sd 0.10-0.11 in the others; log likelihood 63.0 against
  66.1-66.7), R-hat 1.071 on law_error_offset, ESS 21, no divergences; an R-hat above ``EXTEND_RHAT_MAX`` stops a
  continuation, and ``make demo`` exited 3 on it.
- With the rule (as committed): 8 of 8 clean (29-71 s). Seed 0 adapted again after R-hat 1.071 and ESS 21, then
  R-hat 1.004, ESS 1217, in 64 s; seeds 1-7 did not need it and are unchanged, draw for draw.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import xarray as xr

from bayes_distill.cli.fitting import fit_and_diagnose
from bayes_distill.inference import fit as fit_module
from bayes_distill.inference.diagnostics import mixing


def one_fit(path: str, fix: dict[str, float], seed: int) -> str:
    start = time.perf_counter()
    posterior, problems = fit_and_diagnose(path, chains=4, draws=2500, warmup=2500, fix=fix, seed=seed)
    seconds = time.perf_counter() - start
    rhat, ess = mixing(posterior.tree)
    worst_rhat, lowest_ess = max(rhat, key=rhat.get), min(ess, key=ess.get)
    attrs = posterior.tree.attrs
    return (f"{seconds:4.0f} s  R-hat max {rhat[worst_rhat]:.3f} ({worst_rhat})  ESS min {ess[lowest_ess]:.0f} "
            f"({lowest_ess})  draws {posterior.posterior.sizes['draw']}  target {attrs.get('target_accept')}  "
            f"readapted {attrs.get('readapted', '-')}  clean {not problems}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="?", default="runs/cpu/runs.nc")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--no-readapt", action="store_true")
    args = ap.parse_args()
    if args.no_readapt:
        fit_module.READAPT = False
    floors = np.unique(xr.open_dataset(args.runs)["loss_floor"].values)
    fix = {"E": float(floors[0])} if floors.size == 1 and np.isfinite(floors[0]) else {}
    print(f"{args.runs}: E held at {fix.get('E', 'nothing')}; readapt {fit_module.READAPT}", flush=True)
    for seed in range(args.seeds):
        print(f"  seed {seed}: {one_fit(args.runs, fix, seed)}", flush=True)


if __name__ == "__main__":
    main()
