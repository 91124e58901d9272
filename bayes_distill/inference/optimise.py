"""The posterior's mode from many starts: prior draws, each polished by Levenberg-Marquardt, all at once.

Every fit starts its chains near the best of these: the distillation law's coefficients trade off, and a sampler
started from one prior draw can adapt in a distant optimum of similar fit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from bayes_distill.inference.model import ModelArgs
from bayes_distill.inference.programs import Program, compiled, key_shape
from bayes_distill.inference.sites import latent_prior_draws, latent_shapes, potential
from bayes_distill.jax_settings import configure_jax

NEWTON_STEPS = 400
"""Levenberg-Marquardt iterations per start: enough to converge from a prior draw (tens of dimensions)."""


def levenberg_marquardt(energy: Any, x: jax.Array, steps: int) -> tuple[jax.Array, jax.Array]:
    """Minimise ``energy`` from ``x`` by damped Newton steps (H + lambda I) dx = -g: a step that lowers the
    energy is kept and the damping relaxed, one that does not is refused and the damping raised, so far from
    the mode it walks downhill like gradient descent and near it converges like Newton. Returns the point and its
    energy."""
    def gradient(x: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        value, g = jax.value_and_grad(energy)(x)
        return g, (value, g)

    curvature = jax.jacfwd(gradient, has_aux=True)  # Hessian, value and gradient from one trace of the model
    identity = jnp.eye(x.size)

    def step(carry: tuple, _: None) -> tuple[tuple, None]:
        x, value, g, hessian, damping = carry
        trial = x - jnp.linalg.solve(hessian + damping * identity, g)
        trial_hessian, (trial_value, trial_g) = curvature(trial)
        better = jnp.isfinite(trial_value) & (trial_value < value)
        new = [jnp.where(better, a, b) for a, b in ((trial, x), (trial_value, value), (trial_g, g),
                                                      (trial_hessian, hessian))]
        return (*new, jnp.where(better, damping / 3.0, damping * 4.0)), None

    # The first step "moves" to x itself (zero gradient, infinite energy), so the model is traced once, in the loop
    # (which halves the compile time).
    start = (x, jnp.asarray(jnp.inf, x.dtype), jnp.zeros_like(x), identity, jnp.asarray(3.0, x.dtype))
    (x, value, *_), _ = jax.lax.scan(step, start, None, length=steps + 1)
    return x, value


@dataclass(frozen=True)
class _MultistartSettings:
    starts: int
    newton_steps: int


def _optimise(settings: _MultistartSettings, args: ModelArgs, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``starts`` prior draws from ``key``, each polished by Levenberg-Marquardt in the unconstrained space, all at
    once: the polished flat points and their potential energies."""
    energy_of = potential(args)
    latent = latent_prior_draws(args, key, settings.starts)
    _, unravel = ravel_pytree(jax.tree.map(lambda v: v[0], latent))

    def energy(x: jax.Array) -> jax.Array:
        value = energy_of(unravel(x))
        return jnp.where(jnp.isfinite(value), value, 1e30)  # a start outside the support loses, never crashes

    x0 = jax.vmap(lambda z: ravel_pytree(z)[0])(latent)
    return jax.vmap(lambda x: levenberg_marquardt(energy, x, settings.newton_steps))(x0)


class Multistart(NamedTuple):
    program: Callable[[jax.Array], tuple[jax.Array, jax.Array]]  # key -> (polished points, potential energies)
    unravel: Any  # flat point -> site values


def multistart_program(args: ModelArgs, shapes: dict, starts: int) -> Multistart:
    """The multi-start optimiser as one program, compiling in the background."""
    _, unravel = ravel_pytree(jax.tree.map(jnp.zeros_like, shapes))
    program = Program(_optimise, _MultistartSettings(starts, NEWTON_STEPS))
    return Multistart(compiled(program, args, key_shape()), unravel)


def best_start(multistart: Multistart, seed: int) -> tuple[dict[str, jax.Array], np.ndarray]:
    """The best polished point (site values) and every start's energy."""
    x, energies = multistart.program(jax.random.PRNGKey(seed))
    energies = np.where(np.asarray(energies) < 1e30, np.asarray(energies), np.inf)
    return multistart.unravel(x[int(np.argmin(energies))]), energies


def multistart_map(args: ModelArgs, seed: int, starts: int) -> tuple[dict[str, jax.Array], np.ndarray]:
    """The posterior mode from ``starts`` prior draws, each polished by Levenberg-Marquardt in the unconstrained
    space; all starts run at once, vectorised and compiled by JAX.

    Returns the best point (unconstrained site values) and every start's final potential energy (negative log
    density), so that distant optima of similar fit can be reported.
    """
    configure_jax()
    return best_start(multistart_program(args, latent_shapes(args), starts), seed)
