"""Benchmark of the compiled-program cache (not CI): a cold fit against an in-process refit of new data of the same
design (250 simulated supervised runs, 4 chains x 1000 draws), and the refit's ratio to the cold fit.

Run it with BAYES_DISTILL_JAX_CACHE= (empty) so the cold fit compiles everything. The refit should skip compiling
(its own program key, new numbers as arguments): its time is the sampling alone.
Usage: BAYES_DISTILL_JAX_CACHE= python benchmarks/bench_refit.py
"""

from __future__ import annotations

import time
import warnings

from bayes_distill import fit
from bayes_distill.data.simulate import simulate_supervised


def timed(runs: object) -> float:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit(runs, chains=4, draws=1000, warmup=1000, seed=0)
    return time.perf_counter() - start


def main() -> None:
    cold = timed(simulate_supervised(250, seed=1))
    refit = timed(simulate_supervised(250, seed=2))
    print(f"cold fit {cold:.1f} s; refit of new data, same design {refit:.1f} s; refit / cold = {refit / cold:.2f}")


if __name__ == "__main__":
    main()
