"""How tight need the SLSQP reference's stopping tolerance be? (the planner's tests and benchmark; not CI)

``slsqp_allocation`` solves each allocation problem from 25 starts. For ftol 1e-14 and 1e-10 this solves the 12
problems of ``tests/test_planner.py`` (3 student sizes x 4 budgets) in every scenario, at the paper's coefficients
and at the effective B' = 2e6, and prints the time, the largest difference of the best log L_S and log N_T found
with the two tolerances, and the share of SLSQP runs that stopped at the iteration cap.
Usage: python experiments/slsqp_tolerance.py

Measured on 2 cores: 1e-14 took 2-24 s per scenario and set, 1e-10 took 1-3 s (the test's 8 cases: 153 s against
30 s in the suite); the best log L_S agreed to 1.2e-11 at most (log N_T to 4e-4 where the optimum is flat in N_T,
teacher pretraining). A run took 37-101 iterations on average at 1e-14 where a teacher is chosen, 13-33 at 1e-10,
and 1-4% of runs at 1e-14 stopped at the 500-iteration cap (none at 1e-10): the steps past 1e-10 move the loss by
no more than its rounding. Hence ``SLSQP_FTOL = 1e-10``.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import scipy.optimize

from bayes_distill import PAPER, SCENARIOS
from bayes_distill.planner import reference

STUDENTS, BUDGETS = (1e8, 1e9, 3e10), (1e19, 1e21, 1e23, 1e25)  # parameters, FLOPs: the planner tests' grid
MAXITER = 500


def solve_all(scenario: str, params, ftol: float) -> tuple[float, list[dict], float, float]:  # noqa: ANN001
    """Every problem of the grid solved: seconds taken, the answers, the SLSQP runs' mean iterations and the share
    of them stopped at the cap."""
    iterations = []

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003
        result = scipy.optimize.minimize(*args, **kwargs)
        iterations.append(result.nit)
        return result

    reference.minimize = counted
    try:
        start = time.perf_counter()
        answers = [reference.slsqp_allocation(n, c, scenario, params, ftol=ftol)
                   for n, c in itertools.product(STUDENTS, BUDGETS)]
        took = time.perf_counter() - start
    finally:
        reference.minimize = scipy.optimize.minimize
    return took, answers, float(np.mean(iterations)), float(np.mean(np.array(iterations) >= MAXITER))


def largest_log_gap(a: list[dict], b: list[dict], key: str) -> float:
    return max(abs(np.log(x[key]) - np.log(y[key])) for x, y in zip(a, b, strict=True))


def main() -> None:
    print(f"{'scenario':30s} {'set':6s} {'1e-14 s':>8s} {'1e-10 s':>8s} {'log L_S':>9s} {'log N_T':>9s} "
          f"{'iterations':>10s} {'capped 1e-14':>12s}")
    for scenario in SCENARIOS:
        for name, params in (("paper", PAPER), ("B'=2e6", PAPER.replace(B_prime=2e6))):
            tight, loose = solve_all(scenario, params, 1e-14), solve_all(scenario, params, 1e-10)
            print(f"{scenario:30s} {name:6s} {tight[0]:8.1f} {loose[0]:8.1f} "
                  f"{largest_log_gap(tight[1], loose[1], 'student_loss'):9.1e} "
                  f"{largest_log_gap(tight[1], loose[1], 'teacher_params'):9.1e} {tight[2]:4.0f} /{loose[2]:4.0f} "
                  f"{tight[3]:12.0%}",
                  flush=True)


if __name__ == "__main__":
    main()
