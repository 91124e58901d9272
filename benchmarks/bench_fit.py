"""Benchmark of the fits (not CI): wall time including compilation, R-hat, bulk ESS and ESS/s.

1. NumPyro NUTS, supervised law, 250 simulated runs, 4 chains x 1000 draws (1000 warm-up).
2. The same data with the PyMC backend (PyMC's own NUTS).
3. The paper's procedure (``paper_fit``: full supervised grid, 4096 bootstrap resamples) on the same data.
4. NumPyro NUTS, joint model on the paper design (71 + 715 runs, truth PAPER with B' = 2e6), target_accept 0.99,
   4 chains x 1500 draws (1000 warm-up): at 1000 draws the tail ESS of E (about 340) falls short of 400.
5. With ``--law-error``: (1) on 250 runs that share 25 sizes, and (4), each without and with the model of the law's
   error (``law_error=False`` / ``True``; the default, "auto", has it on for both); the supervised one with it
   twice, compiling and compiled.
Prints each (with whether ``diagnose`` finds it clean) and the ratios against (1) (and of 5 against 1 and 4).
Usage: python benchmarks/bench_fit.py [--draws 1000] [--joint-draws 1500] [--skip-joint] [--skip-reference]
    [--law-error]
Wall times include compilation; bayes_distill keeps a persistent JAX compilation cache, so run with
BAYES_DISTILL_JAX_CACHE= (empty) for cold numbers, or twice for warm ones.
Measured (2 cores, warm cache, ``--skip-joint``, jax 0.12.1, PyMC's fit with its replicated log losses as
NumPyro's has them): NumPyro 7.5 s (min bulk ESS 1962), PyMC 30.4 s (1035; it sampled twice: its first pass diverged,
so the target rule sampled again), paper_fit 124.8 s: PyMC's wall x4.06 and ESS/s x0.13 of NumPyro's, paper_fit's wall
x16.6.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import bayes_distill as bd
from bayes_distill import fit
from bayes_distill.data.simulate import PAPER_RECOVERY, simulate_paper_design, simulate_supervised
from bayes_distill.inference.diagnostics import diagnose
from bayes_distill.inference.paper_fit import paper_fit


def timed_fit(label: str, runs: object, **kwargs: object) -> dict[str, float]:
    t = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = fit(runs, **kwargs)
    wall = time.time() - t
    s = post.summary()
    out = {"wall_s": wall, "max_rhat": float(s["r_hat"].astype(float).max()),
           "min_ess_bulk": float(s["ess_bulk"].astype(float).min()),
           "min_ess_tail": float(s["ess_tail"].astype(float).min())}
    stats = post.tree["sample_stats"]
    divergences = int(stats["diverging"].values.sum()) if "diverging" in stats else 0
    out["ess_per_s"] = out["min_ess_bulk"] / wall
    verdict = "clean" if not diagnose(post.tree) else "warns"
    print(f"{label:<28} wall {wall:7.1f} s  max R-hat {out['max_rhat']:.3f}  min bulk ESS {out['min_ess_bulk']:7.0f}"
          f"  min tail ESS {out['min_ess_tail']:6.0f}  ESS/s {out['ess_per_s']:6.2f}  divergences {divergences}"
          f"  diagnostics {verdict}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--joint-draws", type=int, default=1500)
    ap.add_argument("--bootstrap", type=int, default=4096)
    ap.add_argument("--skip-joint", action="store_true")
    ap.add_argument("--skip-reference", action="store_true", help="NumPyro only: no PyMC, no paper_fit")
    ap.add_argument("--law-error", action="store_true", help="also time the fits with law_error=True")
    args = ap.parse_args()
    runs = simulate_supervised(250, noise=0.01, seed=0)
    kw = {"chains": 4, "draws": args.draws, "warmup": args.draws, "seed": 0}
    numpyro_sup = timed_fit("numpyro supervised (250)", runs, **kw)
    if not args.skip_reference:
        pymc_sup = timed_fit("pymc supervised (250)", runs, backend="pymc", **kw)
        t = time.time()
        paper_fit(runs, starts="paper", bootstrap=args.bootstrap)
        paper_wall = time.time() - t
        print(f"{'paper_fit (9600 starts)':<28} wall {paper_wall:7.1f} s  ({args.bootstrap} bootstrap resamples)")
        print(f"ratios vs numpyro: pymc wall x{pymc_sup['wall_s'] / numpyro_sup['wall_s']:.2f}, "
              f"pymc ESS/s x{pymc_sup['ess_per_s'] / numpyro_sup['ess_per_s']:.2f}, "
              f"paper_fit wall x{paper_wall / numpyro_sup['wall_s']:.2f}")
    if args.law_error:
        N = np.resize(np.sort(runs["N"].values)[::10], runs.sizes["run"])  # 25 sizes, 10 runs each
        D = runs["D"].values
        loss = bd.supervised_loss(N, D, PAPER_RECOVERY) * np.exp(np.random.default_rng(1).normal(0.0, 0.01, N.size))
        shared = pd.DataFrame({"run": runs["run"].values, "kind": "supervised", "N": N, "D": D, "loss": loss})
        plain_shared = timed_fit("numpyro supervised (25 sizes)", shared, law_error=False, **kw)  # compiled by (1)
        cold = timed_fit("  with law error (compiles)", shared, law_error=True, **kw)
        warm = timed_fit("  with law error (compiled)", shared, law_error=True, **kw)
        print(f"law error / without, supervised wall: compiled x{warm['wall_s'] / plain_shared['wall_s']:.2f}, "
              f"compiling x{cold['wall_s'] / numpyro_sup['wall_s']:.2f}")
    if not args.skip_joint:
        paper_design = simulate_paper_design(PAPER_RECOVERY, noise=0.01, seed=0)
        joint_kw = {"chains": 4, "draws": args.joint_draws, "warmup": 1000, "seed": 0, "target_accept": 0.99}
        joint = timed_fit("numpyro joint (786)", paper_design, **joint_kw)  # the default: with the law error
        print(f"joint / supervised wall x{joint['wall_s'] / numpyro_sup['wall_s']:.2f}")
        if args.law_error:
            plain_joint = timed_fit("numpyro joint, no law error", paper_design, law_error=False, **joint_kw)
            print(f"law error / without, joint wall x{joint['wall_s'] / plain_joint['wall_s']:.2f}")


if __name__ == "__main__":
    main()
