"""An independent, per-problem solution of Eq. 10 with SciPy SLSQP from many starts, as the paper solved it.

Slow (one problem at a time, in Python); it exists to check ``allocate`` and as the benchmark's reference.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from bayes_distill.laws import (
    PAPER_ARCHITECTURE,
    Architecture,
    LawParams,
    Scenario,
    forward_flops,
    log_distilled_loss,
    log_supervised_loss,
    scenario_of,
    total_flops,
)
from bayes_distill.planner.allocate import DEFAULT_BOUNDS

_STARTS = (1e7, 1e9, 1e11, 1e13, 1e15)
# SLSQP stops when a step changes log L_S by less than this: far below the 1e-4 nats the planner is held to; a
# tighter one takes several times the iterations for the same loss (experiments/slsqp_tolerance.py).
SLSQP_FTOL = 1e-10


@dataclass(frozen=True)
class _Problem:
    """One allocation problem (Eq. 10) in the optimiser's coordinates x = (log D_S, log N_T, log D_T): the student's
    size N_S (parameters), the budget (FLOPs), the scenario, the law, the token and size bounds and the
    architecture. Coordinates the scenario fixes are overridden: D_S = C / 3F(N_S) when the student pays for
    everything (best case), D_T at the upper bound when the teacher's training is free."""

    N_S: float
    compute: float
    scenario: Scenario
    params: LawParams
    bounds: tuple[float, float]
    arch: Architecture

    @property
    def student_only(self) -> bool:
        """The best case: no teacher cost, so the budget fixes D_S and only the teacher is free."""
        return self.scenario.delta_logits == 0 and self.scenario.delta_pretrain == 0

    def unpack(self, x: np.ndarray) -> tuple[float, float, float]:
        """(D_S, N_T, D_T) in tokens, parameters, tokens."""
        log_ds, log_nt, log_dt = x
        if self.student_only:
            log_ds = np.log(self.compute / (3.0 * forward_flops(self.N_S, self.arch)))
        if self.scenario.delta_pretrain == 0:
            log_dt = np.log(self.bounds[1])
        return np.exp(log_ds), np.exp(log_nt), np.exp(log_dt)

    def objective(self, x: np.ndarray) -> float:
        """log L_S (log nats per token)."""
        D_S, N_T, D_T = self.unpack(x)
        L_T = np.exp(log_supervised_loss(N_T, D_T, self.params))
        return float(log_distilled_loss(self.N_S, D_S, L_T, self.params))

    def budget_gap(self, x: np.ndarray) -> float:
        """log of the allocation's FLOPs less log of the budget: 0 on the budget."""
        D_S, N_T, D_T = self.unpack(x)
        return float(np.log(total_flops(self.N_S, D_S, N_T, D_T, self.scenario, self.arch)) - np.log(self.compute))

    def start(self, N_T: float, D_T: float) -> np.ndarray | None:
        """A start on the budget where possible: the student gets what the teacher (N_T, D_T) leaves; None where
        the teacher alone costs the budget."""
        left = self.compute - forward_flops(N_T, self.arch) * (self.scenario.delta_pretrain * 3.0 * D_T)
        if left <= 0:
            return None
        per_token = 3.0 * forward_flops(self.N_S, self.arch)  # the student's training and the teacher's logits
        per_token += self.scenario.delta_logits * forward_flops(N_T, self.arch)
        return np.clip(np.log([left / per_token, N_T, D_T]), *np.log(self.bounds))


def slsqp_allocation(
    N_S: float,
    compute: float,
    scenario: str | Scenario,
    params: LawParams,
    bounds: tuple[float, float] = DEFAULT_BOUNDS,
    arch: Architecture = PAPER_ARCHITECTURE,
    ftol: float = SLSQP_FTOL,
) -> dict[str, float]:
    """The best of SLSQP runs from a grid of starts over (log D_S, log N_T, log D_T) with the budget as an
    equality constraint in log FLOPs, each stopped when a step changes log L_S by less than ``ftol``. Returns D_S,
    N_T, D_T and the student loss L_S (nats per token).

    Scenario semantics match ``allocate``: in the best case D_S = C / 3F(N_S) and only the teacher is free;
    with delta_pretrain = 0, D_T sits at the upper bound.
    """
    if not np.isfinite(ftol) or ftol <= 0:
        raise ValueError(f"ftol must be a finite tolerance > 0 (log nats per token); got {ftol!r}")
    problem = _Problem(N_S, compute, scenario_of(scenario), params, bounds, arch)
    constraints = [] if problem.student_only else [{"type": "eq", "fun": problem.budget_gap}]
    best = None
    starts = (problem.start(N_T, D_T) for N_T, D_T in itertools.product(_STARTS, _STARTS))
    for x0 in (x for x in starts if x is not None):
        result = minimize(problem.objective, x0, method="SLSQP", bounds=[tuple(np.log(bounds))] * 3,
                          constraints=constraints, options={"ftol": ftol, "maxiter": 500})
        if constraints and abs(problem.budget_gap(result.x)) > 1e-8:
            continue
        if best is None or result.fun < best.fun:
            best = result
    if best is None:
        raise RuntimeError(f"SLSQP found no feasible allocation for N_S={N_S:g}, compute={compute:g}")
    D_S, N_T, D_T = problem.unpack(best.x)
    return {"student_tokens": D_S, "teacher_params": N_T, "teacher_tokens": D_T,
            "student_loss": float(np.exp(best.fun))}
