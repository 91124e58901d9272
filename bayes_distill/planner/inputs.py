"""The planner's inputs, checked and shaped once for ``allocate`` and ``crossover`` alike.

Parameter draws with named sample dimensions, student sizes, budgets and bounds; and the attributes that record
the scenario and bounds on both functions' outputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from bayes_distill.laws import Architecture, LawParams, Scenario, forward_flops
from bayes_distill.laws.validation import check_positive_finite


def params_with_dims(params: LawParams | xr.Dataset | Any) -> tuple[LawParams, tuple[str, ...], dict]:
    """Coefficients as NumPy arrays with their sample dimensions and coordinates.

    ``params`` is a ``LawParams`` of scalars or arrays (a 1-D array is a ``draw`` dimension) or an
    ``xarray.Dataset`` (e.g. a posterior group) whose coefficient variables share dimensions like (chain, draw).
    """
    if isinstance(params, xr.Dataset):
        law = LawParams.from_mapping(params)
        first = params["E"]
        dims, coords = first.dims, {d: params[d].values for d in first.dims if d in params.coords}
        arrays = LawParams(*(np.broadcast_to(np.asarray(getattr(law, c), float), first.shape) for c in law._fields))
        return arrays, tuple(dims), coords
    if not isinstance(params, LawParams):
        raise ValueError(f"params must be a LawParams or an xarray.Dataset; got {type(params).__name__}")
    arrays = [np.asarray(v, float) for v in params]
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    dims = ("draw",) if len(shape) == 1 else tuple(f"sample_{i}" for i in range(len(shape)))
    return LawParams(*(np.broadcast_to(a, shape) for a in arrays)), dims, {}


def checked_sizes(name: str, values: Any) -> np.ndarray:
    """``values`` as a 1-D float array of positive finite numbers (a scalar becomes one element); else ValueError
    naming ``name``, so that a bad argument is reported as the caller's, not as a solver failure."""
    arr = np.atleast_1d(np.asarray(values, dtype=float))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a scalar or a 1-D sequence; got shape {arr.shape}")
    check_positive_finite(name, arr)
    return arr


def checked_bounds(bounds: tuple[float, float]) -> tuple[float, float]:
    """(lower, upper) as floats, positive, finite and lower < upper; else ValueError: the solvers search between
    them in log space."""
    lo, hi = (float(b) for b in bounds)
    check_positive_finite("bounds", np.array([lo, hi]))
    if not lo < hi:
        raise ValueError(f"bounds must be (lower, upper) with lower < upper; got {bounds!r}")
    return lo, hi


def budget_range(N_S: np.ndarray, s: Scenario, bounds: tuple[float, float], arch: Architecture) -> tuple:
    """The smallest and largest budgets (FLOPs) that the bounds allow for each student size."""
    lo, hi = bounds
    F_S, F_lo, F_hi = forward_flops(N_S, arch), forward_flops(lo, arch), forward_flops(hi, arch)
    smallest = 3.0 * F_S * lo + F_lo * (s.delta_logits * lo + 3.0 * s.delta_pretrain * lo)
    largest = 3.0 * F_S * hi + F_hi * (s.delta_logits * hi + 3.0 * s.delta_pretrain * hi)
    return smallest, largest


def check_budgets(
    N_S: np.ndarray,
    compute: np.ndarray,
    s: Scenario,
    bounds: tuple[float, float],
    arch: Architecture,
    name: str = "compute",
) -> None:
    """ValueError unless every budget lies in ``budget_range`` of every student size (to 1e-12 relative): outside
    it no allocation within the bounds spends the budget exactly, so there is nothing to solve for."""
    smallest, largest = budget_range(N_S, s, bounds, arch)
    for n, c_min, c_max in zip(N_S, smallest, largest, strict=True):
        too_small = compute < c_min * (1 - 1e-12)
        if np.any(too_small):
            raise ValueError(
                f"{name}={compute[too_small][0]:.4g} FLOPs is too small to train a student of N_S={n:.4g} "
                f"parameters on the lower bound of {bounds[0]:.3g} tokens in scenario {s.name!r} "
                f"(needs at least {c_min:.4g} FLOPs)"
            )
        too_large = compute > c_max * (1 + 1e-12)
        if np.any(too_large):
            raise ValueError(
                f"{name}={compute[too_large][0]:.4g} FLOPs cannot be spent within bounds={bounds} by a student "
                f"of N_S={n:.4g} in scenario {s.name!r} (at most {c_max:.4g} FLOPs); raise the upper bound"
            )


def scenario_attrs(s: Scenario, bounds: tuple[float, float]) -> dict:
    """The scenario's name and deltas and the bounds, as Dataset attributes: an output records what it answers."""
    return {"scenario": s.name, "delta_logits": s.delta_logits, "delta_pretrain": s.delta_pretrain,
            "lower_bound": bounds[0], "upper_bound": bounds[1]}
