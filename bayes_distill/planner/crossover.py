"""The budget above which supervised training of a student matches or beats compute-optimal distillation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    scenario_of,
)
from bayes_distill.planner.allocate import DEFAULT_BOUNDS, solve
from bayes_distill.planner.inputs import check_budgets, checked_bounds, checked_sizes, params_with_dims, scenario_attrs

DEFAULT_COMPUTE_RANGE = (1e18, 1e25)
"""Budgets searched by default (FLOPs); every student size asked about must be trainable at both ends."""

OUTCOME_CROSSOVER, OUTCOME_DISTILLATION_THROUGHOUT, OUTCOME_SUPERVISED_THROUGHOUT = 0, 1, -1
_SCAN_POINTS = 16
_ROOT_STEPS = 10


def _advantage(out: dict[str, np.ndarray]) -> np.ndarray:
    """log L_S - log L_supervised: negative where distillation wins."""
    return np.log(out["student_loss"]) - np.log(out["supervised_loss"])


def crossover(
    N_S: Any,
    scenario: str | Scenario = "teacher-inference",
    params: LawParams | xr.Dataset = PAPER,
    compute_range: tuple[float, float] = DEFAULT_COMPUTE_RANGE,
    *,
    bounds: tuple[float, float] = DEFAULT_BOUNDS,
    arch: Architecture = PAPER_ARCHITECTURE,
    log_loss_offset: Any = 0.0,
) -> xr.Dataset:
    """The crossover budget of each student size and parameter draw.

    The budgets in ``compute_range`` (FLOPs) are scanned on a log grid of 16 points; the last budget at which
    distillation still wins is bracketed against the next one, and the sign change of
    log L_S - log L_supervised in log C is found by 10 steps of the Illinois method (the bracket's upper end
    is returned: supervised training matches or beats distillation there).
    Returns a Dataset over (sample dims..., ``student_size``):

    - ``compute``: the crossover budget C* in FLOPs; above it supervised training matches or beats
      distillation over the rest of the range. When distillation wins over the whole range, C* = +inf
      (the crossover lies above the range). When distillation never wins, C* = the lower end of the range.
    ``log_loss_offset``, broadcast over (sample dims..., ``student_size``), is added to log L_S - log L_supervised
    at every budget: the difference of the two laws' errors at the student's size, which does not depend on C.
    - ``outcome``: 0 crossover inside the range, 1 distillation wins throughout, -1 supervised wins throughout.
    - ``student_tokens``: distillation tokens D_S of the compute-optimal allocation at C* (NaN when C* = inf),
      and ``supervised_tokens`` = C* / 3F(N_S), what the supervised student trains on there.
    """
    configure_jax()
    s = scenario_of(scenario)
    N_S = checked_sizes("N_S", N_S)
    if np.size(compute_range) != 2:
        raise ValueError(f"compute_range must be (lower, upper) FLOPs; got {compute_range!r}")
    c_lo, c_hi = checked_sizes("compute_range", compute_range)
    if not c_lo < c_hi:
        raise ValueError(f"compute_range must be (lower, upper) FLOPs with lower < upper; got {compute_range!r}")
    bounds = checked_bounds(bounds)
    check_budgets(N_S, np.array([c_lo, c_hi]), s, bounds, arch, name="compute_range")
    law, dims, coords = params_with_dims(params)
    scan = np.geomspace(c_lo, c_hi, _SCAN_POINTS)
    offset = np.broadcast_to(np.asarray(log_loss_offset, float), (*np.shape(law.E), N_S.size))
    problem = _Problem(law, N_S, s, bounds, arch, offset)
    advantage, outcome, last_win = _scan(problem, scan)
    crossing = _refine(problem, scan, advantage, last_win)
    crossing = np.where(outcome == OUTCOME_CROSSOVER, crossing, c_lo)
    at_crossing = solve(problem.point_params, N_S, crossing, s, bounds, arch)
    crossing = np.where(outcome == OUTCOME_DISTILLATION_THROUGHOUT, np.inf, crossing)
    tokens = np.where(outcome == OUTCOME_DISTILLATION_THROUGHOUT, np.nan, at_crossing["student_tokens"])
    attrs = {**scenario_attrs(s, bounds), "compute_range_lower": c_lo, "compute_range_upper": c_hi}
    return _crossover_dataset(crossing, outcome, tokens, N_S, arch, dims, coords, attrs)


@dataclass(frozen=True)
class _Problem:
    """The crossover's problem: coefficient draws, student sizes, scenario, bounds and architecture."""

    law: LawParams
    N_S: np.ndarray
    scenario: Scenario
    bounds: tuple[float, float]
    arch: Architecture
    offset: np.ndarray  # added to the advantage, by (draw..., student)

    @property
    def point_params(self) -> LawParams:
        """The draws with a student axis: one budget per (draw, student)."""
        return LawParams(*(np.asarray(v)[(...,) + (None,)] for v in self.law))

    def advantage(self, compute: np.ndarray) -> np.ndarray:
        """log L_S - log L_supervised at one budget per (draw, student): negative where distillation wins."""
        return _advantage(solve(self.point_params, self.N_S, compute, self.scenario, self.bounds,
                                self.arch)) + self.offset


def _scan(problem: _Problem, scan: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The advantage over (draws..., student, budget) of the scan, each (draw, student)'s outcome, and the index of
    the last budget at which distillation still wins (-1 if none)."""
    grid_params = LawParams(*(np.asarray(v)[(...,) + (None, None)] for v in problem.law))
    advantage = _advantage(solve(grid_params, problem.N_S[:, None], scan, problem.scenario, problem.bounds,
                                 problem.arch)) + problem.offset[..., None]
    wins = advantage < 0
    last_win = np.where(wins.any(-1), _SCAN_POINTS - 1 - np.argmax(wins[..., ::-1], axis=-1), -1)
    outcome = np.select(
        [last_win < 0, last_win == _SCAN_POINTS - 1],
        [OUTCOME_SUPERVISED_THROUGHOUT, OUTCOME_DISTILLATION_THROUGHOUT],
        OUTCOME_CROSSOVER,
    ).astype(np.int8)
    return advantage, outcome, last_win


def _refine(problem: _Problem, scan: np.ndarray, advantage: np.ndarray, last_win: np.ndarray) -> np.ndarray:
    """The crossing in each bracket [scan[i], scan[i + 1]] after the last win, by the Illinois variant of regula
    falsi on g(log C) in a few solves: the bracket's upper end, where supervised training matches or beats
    distillation. Other outcomes are solved and ignored."""
    index = np.clip(last_win, 0, _SCAN_POINTS - 2)
    a, b = np.log(scan[index]), np.log(scan[index + 1])
    ga = np.take_along_axis(advantage, index[..., None], -1)[..., 0]
    gb = np.take_along_axis(advantage, index[..., None] + 1, -1)[..., 0]
    last_side = np.zeros(a.shape)
    for _ in range(_ROOT_STEPS):
        c = np.where(gb != ga, b - gb * (b - a) / np.where(gb != ga, gb - ga, 1.0), 0.5 * (a + b))
        c = np.clip(c, np.minimum(a, b), np.maximum(a, b))
        gc = problem.advantage(np.exp(c))
        left = gc < 0  # distillation still wins at c: the root lies in [c, b]
        # Illinois: halve the value kept at an end that survives twice, so both ends move.
        gb = np.where(left & (last_side == 1), 0.5 * gb, gb)
        ga = np.where(~left & (last_side == -1), 0.5 * ga, ga)
        a, ga = np.where(left, c, a), np.where(left, gc, ga)
        b, gb = np.where(left, b, c), np.where(left, gb, gc)
        last_side = np.where(left, 1, -1)
    return np.exp(b)


def _crossover_dataset(crossing: np.ndarray, outcome: np.ndarray, tokens: np.ndarray, N_S: np.ndarray,
                       arch: Architecture, dims: tuple[str, ...], coords: dict, attrs: dict) -> xr.Dataset:
    """The crossover's labelled answer over (sample dims..., ``student_size``)."""
    full_dims = (*dims, "student_size")
    data = {
        "compute": (full_dims, crossing, {"units": "FLOPs", "long_name": "crossover budget C*"}),
        "outcome": (full_dims, np.broadcast_to(outcome, crossing.shape), {
            "flag_values": "0 1 -1",
            "flag_meanings": "crossover_in_range distillation_wins_throughout supervised_wins_throughout",
        }),
        "student_tokens": (full_dims, tokens, {"units": "tokens", "long_name": "distillation tokens at C*"}),
        "supervised_tokens": (full_dims, crossing / (3.0 * forward_flops(N_S, arch)),
                              {"units": "tokens", "long_name": "supervised tokens C* / 3F(N_S)"}),
    }
    coords = {**coords, "student_size": ("student_size", N_S, {"units": "parameters"})}
    return xr.Dataset(data, coords=coords, attrs=attrs)
