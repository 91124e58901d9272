"""A derivative-free bounded minimiser for one small problem, written to be ``vmap``-ed over thousands.

The planner's objectives have one or two variables, kinks at the bounds, infeasible regions (returned as
+inf or NaN) and, through the capacity gap, more than one local minimum. A dense grid finds the basin;
a shrinking stencil around the best point then refines it to ``spacing / 2**rounds``. Every problem in a
batch does the same fixed work, which is what vectorised hardware wants.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import jax
import jax.numpy as jnp


def _finite_or_inf(values: jax.Array) -> jax.Array:
    return jnp.where(jnp.isfinite(values), values, jnp.inf)


def grid_then_zoom(
    objective: Callable[[jax.Array], jax.Array],
    lower: jax.Array,
    upper: jax.Array,
    grid_points: int,
    rounds: int,
) -> tuple[jax.Array, jax.Array]:
    """Minimise ``objective`` over the box [lower, upper] (shape ``(k,)``); returns (argmin, min).

    Infeasible points must evaluate to +inf or NaN. If no grid point is feasible the minimum is +inf.
    """
    k = lower.shape[0]
    axes = [jnp.linspace(lower[i], upper[i], grid_points) for i in range(k)]
    grid = jnp.stack(jnp.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, k)
    values = _finite_or_inf(jax.vmap(objective)(grid))
    best = jnp.argmin(values)
    x, fx = grid[best], values[best]
    spacing = (upper - lower) / (grid_points - 1)
    # A 5-point stencil per axis at half the spacing covers the old cell; the spacing then halves.
    stencil = jnp.asarray(list(itertools.product((-1.0, -0.5, 0.0, 0.5, 1.0), repeat=k)))

    def refine(carry, _):
        x, fx, h = carry
        candidates = jnp.clip(x + stencil * h, lower, upper)
        values = _finite_or_inf(jax.vmap(objective)(candidates))
        j = jnp.argmin(values)
        better = values[j] < fx
        return (jnp.where(better, candidates[j], x), jnp.where(better, values[j], fx), h / 2), None

    (x, fx, _), _ = jax.lax.scan(refine, (x, fx, spacing), None, length=rounds)
    return x, fx
