"""An independent, per-problem solution of Eq. 10 with SciPy SLSQP from many starts, as the paper solved it.

Slow (one problem at a time, in Python); it exists to check ``allocate`` and as the benchmark's reference.
"""

from __future__ import annotations

import itertools

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


def slsqp_allocation(
    N_S: float,
    compute: float,
    scenario: str | Scenario,
    params: LawParams,
    bounds: tuple[float, float] = DEFAULT_BOUNDS,
    arch: Architecture = PAPER_ARCHITECTURE,
) -> dict[str, float]:
    """The best of SLSQP runs from a grid of starts over (log D_S, log N_T, log D_T) with the budget as an
    equality constraint in log FLOPs. Returns D_S, N_T, D_T and the student loss L_S (nats per token).

    Scenario semantics match ``allocate``: in the best case D_S = C / 3F(N_S) and only the teacher is free;
    with delta_pretrain = 0, D_T sits at the upper bound.
    """
    s = scenario_of(scenario)
    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    log_c = np.log(compute)
    fixed_tokens = compute / (3.0 * forward_flops(N_S, arch))

    def unpack(x):
        log_ds, log_nt, log_dt = x
        if s.delta_logits == 0 and s.delta_pretrain == 0:
            log_ds = np.log(fixed_tokens)
        if s.delta_pretrain == 0:
            log_dt = hi
        return np.exp(log_ds), np.exp(log_nt), np.exp(log_dt)

    def objective(x):
        D_S, N_T, D_T = unpack(x)
        L_T = np.exp(log_supervised_loss(N_T, D_T, params))
        return float(log_distilled_loss(N_S, D_S, L_T, params))

    def budget(x):
        D_S, N_T, D_T = unpack(x)
        return float(np.log(total_flops(N_S, D_S, N_T, D_T, s, arch)) - log_c)

    constraints = [] if (s.delta_logits == 0 and s.delta_pretrain == 0) else [{"type": "eq", "fun": budget}]
    best = None
    for n_t, d_t in itertools.product(_STARTS, _STARTS):
        # Start on the budget where possible: give the student what the teacher leaves.
        teacher_cost = forward_flops(n_t, arch) * (s.delta_pretrain * 3.0 * d_t)
        left = compute - teacher_cost
        if left <= 0:
            continue
        d_s = left / (3.0 * forward_flops(N_S, arch) + s.delta_logits * forward_flops(n_t, arch))
        x0 = np.clip(np.log([d_s, n_t, d_t]), lo, hi)
        result = minimize(
            objective, x0, method="SLSQP", bounds=[(lo, hi)] * 3, constraints=constraints,
            options={"ftol": 1e-14, "maxiter": 500},
        )
        if constraints and abs(budget(result.x)) > 1e-8:
            continue
        if best is None or result.fun < best.fun:
            best = result
    if best is None:
        raise RuntimeError(f"SLSQP found no feasible allocation for N_S={N_S:g}, compute={compute:g}")
    D_S, N_T, D_T = unpack(best.x)
    return {"student_tokens": D_S, "teacher_params": N_T, "teacher_tokens": D_T,
            "student_loss": float(np.exp(best.fun))}
