"""The model's sites in the sampler's space: prior draws, the potential energy, and the way between the
unconstrained values the optimiser and NUTS move in and the constrained ones the posterior reports."""

from __future__ import annotations

from collections.abc import Callable

import jax
from numpyro import handlers
from numpyro.infer.util import constrain_fn, potential_energy, unconstrain_fn

from bayes_distill.inference.model import ModelArgs
from bayes_distill.inference.programs import Program, compiled


def latent_prior_draws(args: ModelArgs, key: jax.Array, n: int) -> dict[str, jax.Array]:
    """``n`` joint draws of every latent site from the prior, mapped to the sampler's unconstrained space
    (traceable; the model runs with ``observe=False`` so nothing is conditioned)."""
    def draw(k: jax.Array) -> dict[str, jax.Array]:
        trace = handlers.trace(handlers.seed(args.model(observe=False), k)).get_trace()
        latent = {name: site["value"] for name, site in trace.items()
                  if site["type"] == "sample" and not site["is_observed"] and name != "log_loss"}
        return unconstrain_fn(args.model(), (), {}, latent)

    return jax.vmap(draw)(jax.random.split(key, n))


def potential(args: ModelArgs) -> Callable[[dict], jax.Array]:
    """The negative log posterior density (nats) of unconstrained site values, Jacobians included."""
    return lambda z: potential_energy(args.model(), (), {}, z)


def site_values(args: ModelArgs, unconstrained: dict) -> dict[str, jax.Array]:
    """Every latent and deterministic site (the coefficients among them) of one point of the sampler's space."""
    sites = constrain_fn(args.model(), (), {}, unconstrained, return_deterministic=True)
    return {k: v for k, v in sites.items() if k != "log_loss"}


def _site_values_settings(_: None, args: ModelArgs, unconstrained: dict) -> dict[str, jax.Array]:
    return site_values(args, unconstrained)


def compiled_site_values(args: ModelArgs, unconstrained: dict) -> dict[str, jax.Array]:
    """``site_values`` of one point, compiled (once per design, like the fit's other programs)."""
    return compiled(Program(_site_values_settings), args, jax.eval_shape(lambda: unconstrained))(unconstrained)


def latent_shapes(args: ModelArgs) -> dict[str, jax.ShapeDtypeStruct]:
    """Shape and dtype of every latent site in the sampler's space (traced, not run)."""
    batch = jax.eval_shape(lambda: latent_prior_draws(args, jax.random.PRNGKey(0), 1))
    return {k: jax.ShapeDtypeStruct(v.shape[1:], v.dtype) for k, v in batch.items()}


def unconstrained_sites(args: ModelArgs, constrained: dict) -> dict[str, jax.Array]:
    """The model's latent sites in the sampler's space, from constrained values of (at least) those sites."""
    names = latent_shapes(args)
    return unconstrain_fn(args.model(), (), {}, {k: constrained[k] for k in names})
