"""Compute-optimal distillation (Eq. 10) and the distillation-vs-supervised crossover, vectorised with JAX.

For a student of N_S parameters and a budget of C FLOPs, choose the distillation tokens D_S and the teacher
(N_T, D_T) that minimise the student's loss L_S subject to the budget of Eq. 9 for a scenario of Table 2:

- best case (teacher free): D_S = C / 3F(N_S); the best reachable L_T is found, then the supervised
  compute-optimal teacher that reaches it (the smallest 3 F(N_T) D_T with L(N_T, D_T) = L_T);
- delta_pretrain = 0 (teacher inference): the teacher's tokens cost nothing, so D_T sits at the upper bound
  and only N_T is free; D_S is what the budget leaves;
- delta_pretrain > 0: N_T and the teacher-pretraining share u of the budget are free; D_T and D_S follow.

Each case is one or two free variables in log space, solved by ``grid_then_zoom``; the budget holds by
construction. Thousands of problems (draws x students x budgets) are solved in one ``vmap``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from bayes_distill.jax_settings import configure_jax
from bayes_distill.laws import (
    PAPER,
    PAPER_ARCHITECTURE,
    Architecture,
    LawParams,
    Scenario,
    forward_flops,
    log_distilled_loss,
    log_supervised_loss,
    scenario_of,
)
from bayes_distill.planner.inputs import check_budgets, checked_bounds, checked_sizes, params_with_dims, scenario_attrs
from bayes_distill.planner.minimize import grid_then_zoom

DEFAULT_BOUNDS = (1e6, 1e17)
"""Bounds on N_T, D_S and D_T (parameters, tokens), as in the paper's SLSQP solution."""

OUTPUTS = (
    "student_tokens", "teacher_params", "teacher_tokens", "teacher_loss", "student_loss", "supervised_loss",
    "student_share", "teacher_logits_share", "teacher_pretraining_share",
)
_ATTRS = {
    "student_tokens": {"units": "tokens", "long_name": "distillation tokens D_S"},
    "teacher_params": {"units": "parameters", "long_name": "teacher non-embedding parameters N_T"},
    "teacher_tokens": {"units": "tokens", "long_name": "teacher pretraining tokens D_T"},
    "teacher_loss": {"units": "nats/token", "long_name": "teacher cross-entropy L_T = L(N_T, D_T)"},
    "student_loss": {"units": "nats/token", "long_name": "distilled student cross-entropy L_S"},
    "supervised_loss": {"units": "nats/token", "long_name": "same student trained supervised on C / 3F(N_S) tokens"},
    "student_share": {"units": "1", "long_name": "share of compute in student training, 3 F(N_S) D_S / C"},
    "teacher_logits_share": {"units": "1", "long_name": "share in teacher logits, delta_lgt F(N_T) D_S / C"},
    "teacher_pretraining_share": {
        "units": "1", "long_name": "share in teacher pretraining, 3 delta_pre F(N_T) D_T / C",
    },
}
# Grid and refinement sizes: 64 points in one variable (spacing 0.4 in log N_T) then 40 golden-section
# rounds (bracket 0.8 -> 3e-9), or 20 x 20 in two then 12 halvings of the spacing and 4 Newton steps:
# far below 1e-4 nats at the optimum.
_GRID_1D, _ROUNDS_1D = 64, 40
_GRID_2D, _ROUNDS_2D, _NEWTON_2D = 20, 12, 4
_SHARE_LOGIT_RANGE = 16.0


def _teacher_pretraining_share(t: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(u, 1 - u) for u = sigmoid(t), both accurate near 0 and 1."""
    return jax.nn.sigmoid(t), jax.nn.sigmoid(-t)


def _feasible(tokens: jax.Array, lo: jax.Array, hi: jax.Array) -> jax.Array:
    return (tokens >= lo * (1 - 1e-9)) & (tokens <= hi * (1 + 1e-9))


def _solve_best_case(p, N_S, C, delta_logits, delta_pretrain, lo, hi, arch):
    D_S = C / (3.0 * forward_flops(N_S, arch))
    log_lo, log_hi = jnp.log(lo), jnp.log(hi)
    # Only L_T matters; it ranges over what teachers within the bounds can reach.
    reachable = jnp.stack([log_supervised_loss(hi, hi, p), log_supervised_loss(lo, lo, p)])
    x, _ = grid_then_zoom(
        lambda x: log_distilled_loss(N_S, D_S, jnp.exp(x[0]), p), reachable[:1], reachable[1:], _GRID_1D, _ROUNDS_1D
    )
    teacher_loss = jnp.exp(x[0])
    # The cheapest teacher reaching it: D_T solves Eq. 1 for each N_T; minimise log F(N_T) + log D_T.
    reducible = jnp.exp(jnp.log(teacher_loss - p.E) / p.gamma)

    def log_teacher_tokens(v):
        rest = reducible - p.A * jnp.exp(-p.alpha * v)
        return (jnp.log(p.B) - jnp.log(rest)) / p.beta

    def teacher_cost(v):
        log_d = log_teacher_tokens(v[0])
        ok = (log_d <= log_hi + 1e-6) & (log_d >= log_lo - 1e-6)
        return jnp.where(ok, jnp.log(forward_flops(jnp.exp(v[0]), arch)) + log_d, jnp.inf)

    v, _ = grid_then_zoom(teacher_cost, log_lo[None], log_hi[None], _GRID_1D, _ROUNDS_1D)
    N_T = jnp.exp(v[0])
    D_T = jnp.clip(jnp.exp(log_teacher_tokens(v[0])), lo, hi)
    return D_S, N_T, D_T


def _solve_teacher_inference(p, N_S, C, delta_logits, delta_pretrain, lo, hi, arch):
    F_S = forward_flops(N_S, arch)

    def student_tokens(v):
        return C / (3.0 * F_S + delta_logits * forward_flops(jnp.exp(v), arch))

    def objective(x):
        D_S = student_tokens(x[0])
        L_T = jnp.exp(log_supervised_loss(jnp.exp(x[0]), hi, p))
        return jnp.where(_feasible(D_S, lo, hi), log_distilled_loss(N_S, D_S, L_T, p), jnp.inf)

    v, _ = grid_then_zoom(objective, jnp.log(lo)[None], jnp.log(hi)[None], _GRID_1D, _ROUNDS_1D)
    return student_tokens(v[0]), jnp.exp(v[0]), hi


def _general_allocation(x, N_S, C, delta_logits, delta_pretrain, arch):
    """(D_S, N_T, D_T) from x = (log N_T, logit of the teacher-pretraining share); the budget holds exactly."""
    N_T = jnp.exp(x[0])
    F_T = forward_flops(N_T, arch)
    share, rest = _teacher_pretraining_share(x[1])
    D_T = share * C / (3.0 * delta_pretrain * F_T)
    D_S = rest * C / (3.0 * forward_flops(N_S, arch) + delta_logits * F_T)
    return D_S, N_T, D_T


def _solve_general(p, N_S, C, delta_logits, delta_pretrain, lo, hi, arch):
    def objective(x):
        D_S, N_T, D_T = _general_allocation(x, N_S, C, delta_logits, delta_pretrain, arch)
        L_T = jnp.exp(log_supervised_loss(N_T, D_T, p))
        ok = _feasible(D_S, lo, hi) & _feasible(D_T, lo, hi)
        return jnp.where(ok, log_distilled_loss(N_S, D_S, L_T, p), jnp.inf)

    lower = jnp.stack([jnp.log(lo), -_SHARE_LOGIT_RANGE])
    upper = jnp.stack([jnp.log(hi), _SHARE_LOGIT_RANGE])
    x, _ = grid_then_zoom(objective, lower, upper, _GRID_2D, _ROUNDS_2D, _NEWTON_2D)
    return _general_allocation(x, N_S, C, delta_logits, delta_pretrain, arch)


_SOLVERS = {"best-case": _solve_best_case, "inference": _solve_teacher_inference, "general": _solve_general}


def _kind(s: Scenario) -> str:
    if s.delta_pretrain == 0 and s.delta_logits == 0:
        return "best-case"
    return "inference" if s.delta_pretrain == 0 else "general"


def evaluate_allocation(p, N_S, C, D_S, N_T, D_T, delta_logits, delta_pretrain, arch=PAPER_ARCHITECTURE):
    """Losses (nats/token) and compute shares of an allocation; works in any array namespace."""
    F_S, F_T = forward_flops(N_S, arch), forward_flops(N_T, arch)
    teacher_loss = jnp.exp(log_supervised_loss(N_T, D_T, p))
    return {
        "student_tokens": D_S,
        "teacher_params": N_T,
        "teacher_tokens": D_T,
        "teacher_loss": teacher_loss,
        "student_loss": jnp.exp(log_distilled_loss(N_S, D_S, teacher_loss, p)),
        "supervised_loss": jnp.exp(log_supervised_loss(N_S, C / (3.0 * F_S), p)),
        "student_share": 3.0 * F_S * D_S / C,
        "teacher_logits_share": delta_logits * F_T * D_S / C,
        "teacher_pretraining_share": delta_pretrain * 3.0 * F_T * D_T / C,
    }


@partial(jax.jit, static_argnames=("kind", "arch"))
def _solve_flat(params, N_S, C, delta_logits, delta_pretrain, lo, hi, kind, arch):
    def one(p, n, c):
        D_S, N_T, D_T = _SOLVERS[kind](p, n, c, delta_logits, delta_pretrain, lo, hi, arch)
        N_T, D_T = jnp.broadcast_to(N_T, D_S.shape), jnp.broadcast_to(D_T, D_S.shape)
        return evaluate_allocation(p, n, c, D_S, N_T, D_T, delta_logits, delta_pretrain, arch)

    return jax.vmap(one)(params, N_S, C)


def solve(params: LawParams, N_S, compute, s: Scenario, bounds, arch: Architecture) -> dict[str, np.ndarray]:
    """Solve Eq. 10 for broadcast arrays of coefficients, student sizes and budgets (no validation)."""
    shape = np.broadcast_shapes(np.shape(N_S), np.shape(compute), *(np.shape(v) for v in params))
    flat = lambda a: jnp.asarray(np.broadcast_to(np.asarray(a, float), shape).reshape(-1))  # noqa: E731
    out = _solve_flat(
        LawParams(*(flat(v) for v in params)), flat(N_S), flat(compute),
        s.delta_logits, s.delta_pretrain, bounds[0], bounds[1], _kind(s), arch,
    )
    return {k: np.asarray(v).reshape(shape) for k, v in out.items()}


def allocate(
    N_S: Any,
    compute: Any,
    scenario: str | Scenario = "teacher-inference",
    params: LawParams | xr.Dataset = PAPER,
    *,
    bounds: tuple[float, float] = DEFAULT_BOUNDS,
    arch: Architecture = PAPER_ARCHITECTURE,
) -> xr.Dataset:
    """Compute-optimal distillation of Eq. 10 for every student size, budget and parameter draw.

    N_S: student sizes (non-embedding parameters); compute: budgets (FLOPs); scenario: a Table 2 name or a
    ``Scenario`` with fractional deltas; bounds: (lower, upper) on N_T, D_S and D_T.
    Returns a Dataset over (sample dims of ``params``..., ``student_size``, ``compute``) with the variables of
    ``OUTPUTS``: tokens, teacher size, losses in nats per token, and the compute shares (which sum to 1).
    """
    configure_jax()
    s = scenario_of(scenario)
    N_S = checked_sizes("N_S", N_S)
    compute = checked_sizes("compute", compute)
    bounds = checked_bounds(bounds)
    check_budgets(N_S, compute, s, bounds, arch)
    law, dims, coords = params_with_dims(params)
    k = len(dims)
    expanded = LawParams(*(np.asarray(v)[(...,) + (None, None)] for v in law))
    out = solve(expanded, N_S[:, None], compute[None, :], s, bounds, arch)
    full_dims = (*dims, "student_size", "compute")
    shape = tuple(np.shape(law.E)) + (N_S.size, compute.size)
    data = {name: (full_dims, np.broadcast_to(out[name], shape), _ATTRS[name]) for name in OUTPUTS}
    coords = {**coords, "student_size": ("student_size", N_S, {"units": "parameters"}),
              "compute": ("compute", compute, {"units": "FLOPs"})}
    if len(shape) != k + 2:  # internal invariant: params_with_dims names every sample dimension of the coefficients
        raise RuntimeError(f"internal error: sample dimensions {dims} do not fit the output's shape {shape}")
    return xr.Dataset(data, coords=coords, attrs=scenario_attrs(s, bounds))
