"""Planner speed: allocate and crossover over 4,000 parameter draws, against per-draw SciPy SLSQP.

Times are measured in this run only and reported as ratios; compile time is printed separately.
Run: .venv/bin/python benchmarks/bench_planner.py [--draws 4000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bayes_distill import PAPER, PAPER_INTERVALS, LawParams, allocate, crossover
from bayes_distill.planner.reference import slsqp_allocation


def draws_around_the_paper(n: int, seed: int = 0) -> LawParams:
    """Draws spread like Table 6's 90% intervals (normal, sd = width / 3.29), B' at its effective 2e6."""
    rng = np.random.default_rng(seed)
    values = {}
    for name, (lo, hi) in PAPER_INTERVALS.items():
        sd = max((hi - lo) / 3.29, 1e-3 * abs(getattr(PAPER, name)))
        values[name] = rng.normal(getattr(PAPER, name), sd, n)
    values["B_prime"] = 2e6 * np.exp(rng.normal(0, 0.05, n))
    return LawParams(**values)


def timed(fn, repeats: int = 3) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--draws", type=int, default=4000)
    parser.add_argument("--slsqp-draws", type=int, default=8)
    args = parser.parse_args()
    draws = draws_around_the_paper(args.draws)
    N_S, C = 1e9, 1e22
    print(f"{args.draws} parameter draws, N_S = {N_S:g}, C = {C:g} FLOPs")
    print(f"{'scenario':32s} {'compile s':>9s} {'allocate s':>10s} {'per draw us':>11s} {'SLSQP s/draw':>12s} "
          f"{'speed-up':>9s}")
    for scenario in ("best-case", "teacher-inference", "teacher-pretraining", "teacher-pretraining-inference"):
        start = time.perf_counter()
        allocate(N_S, C, scenario, draws)
        first = time.perf_counter() - start
        run = timed(lambda s=scenario: allocate(N_S, C, s, draws))
        sample = [LawParams(*(np.asarray(v)[i] for v in draws)) for i in range(args.slsqp_draws)]
        start = time.perf_counter()
        for p in sample:
            slsqp_allocation(N_S, C, scenario, p)
        slsqp = (time.perf_counter() - start) / len(sample)
        per_draw = run / args.draws
        print(f"{scenario:32s} {first - run:9.2f} {run:10.3f} {per_draw * 1e6:11.1f} {slsqp:12.3f} "
              f"{slsqp / per_draw:9.0f}x")
    print("\ncrossover over the default range (1e18-1e25 FLOPs), one student size")
    for scenario in ("teacher-inference", "teacher-pretraining-inference"):
        start = time.perf_counter()
        result = crossover(N_S, scenario, draws)
        first = time.perf_counter() - start
        run = timed(lambda s=scenario: crossover(N_S, s, draws), repeats=2)
        c = result["compute"].values.ravel()
        finite = c[np.isfinite(c)]
        summary = f"median C* {np.median(finite):.3g}" if finite.size else "no crossover in range"
        print(f"{scenario:32s} compile {first - run:6.2f} s  run {run:6.3f} s  ({summary})")


if __name__ == "__main__":
    main()
