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
    newton_steps: int = 0,
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
    if k == 1:
        return _golden_section(objective, x, fx, jnp.maximum(x - spacing, lower), jnp.minimum(x + spacing, upper),
                               rounds)
    # A 3-point stencil per axis at half the spacing (and its diagonals); the spacing then halves.
    stencil = jnp.asarray(list(itertools.product((-0.5, 0.0, 0.5), repeat=k)))

    def refine(carry, _):
        x, fx, h = carry
        candidates = jnp.clip(x + stencil * h, lower, upper)
        values = _finite_or_inf(jax.vmap(objective)(candidates))
        j = jnp.argmin(values)
        better = values[j] < fx
        return (jnp.where(better, candidates[j], x), jnp.where(better, values[j], fx), h / 2), None

    (x, fx, _), _ = jax.lax.scan(refine, (x, fx, spacing), None, length=rounds)
    return _newton_polish(objective, x, fx, lower, upper, newton_steps)


def _newton_polish(objective, x, fx, lower, upper, steps):
    """Damped Newton steps from the refined point, kept only where they improve: the stencil crawls along
    narrow curved valleys, Newton crosses them in a step or two."""
    gradient, hessian = jax.grad(objective), jax.hessian(objective)
    dampings = jnp.asarray([1.0, 0.5, 0.25, 0.0625])

    def step(carry, _):
        x, fx = carry
        g, h = gradient(x), hessian(x)
        eigenvalues = jnp.linalg.eigvalsh(h)
        newton = -jnp.linalg.solve(h + 1e-12 * jnp.eye(x.shape[0]), g)
        direction = jnp.where(jnp.all(eigenvalues > 0) & jnp.all(jnp.isfinite(newton)), newton, jnp.zeros_like(x))
        candidates = jnp.clip(x + dampings[:, None] * direction, lower, upper)
        values = _finite_or_inf(jax.vmap(objective)(candidates))
        j = jnp.argmin(values)
        better = values[j] < fx
        return (jnp.where(better, candidates[j], x), jnp.where(better, values[j], fx)), None

    (x, fx), _ = jax.lax.scan(step, (x, fx), None, length=steps)
    return x, fx


_INVERSE_GOLDEN = 0.6180339887498949


def _golden_section(objective, x, fx, a, b, rounds):
    """Golden-section search on the grid cell [a, b] around the best grid point x; one evaluation a round.

    The bracket shrinks by 0.618 a round. The best point ever seen is returned, so the answer is never
    worse than the grid's.
    """
    f = lambda z: _finite_or_inf(objective(z))  # noqa: E731
    c, d = b - _INVERSE_GOLDEN * (b - a), a + _INVERSE_GOLDEN * (b - a)
    fc, fd = f(c), f(d)

    def step(carry, _):
        a, b, c, d, fc, fd, x, fx = carry
        left = fc <= fd  # the minimum lies in [a, d]
        a, b = jnp.where(left, a, c), jnp.where(left, d, b)
        new = jnp.where(left, b - _INVERSE_GOLDEN * (b - a), a + _INVERSE_GOLDEN * (b - a))
        fnew = f(new)
        c, d, fc, fd = (jnp.where(left, new, d), jnp.where(left, c, new),
                        jnp.where(left, fnew, fd), jnp.where(left, fc, fnew))
        better = fnew < fx
        return (a, b, c, d, fc, fd, jnp.where(better, new, x), jnp.where(better, fnew, fx)), None

    carry = (a, b, c, d, fc, fd, x, fx)
    for point, value in ((c, fc), (d, fd)):
        better = value < carry[7]
        carry = (*carry[:6], jnp.where(better, point, carry[6]), jnp.where(better, value, carry[7]))
    (*_, x, fx), _ = jax.lax.scan(step, carry, None, length=rounds)
    return x, fx
