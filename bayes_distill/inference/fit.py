"""Fitting the joint law model: NUTS (default) or SVI with NumPyro, or NUTS with PyMC.

Robustness: the distillation law's coefficients trade off and a naive sampler finds distant modes of similar
fit. Every fit therefore starts from the best of a multi-start optimisation of the posterior (BFGS from
prior draws, vectorised), samples with a dense mass matrix, and then checks R-hat, ESS and divergences
across chains: trouble is reported, never hidden.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import xarray as xr
from jax.flatten_util import ravel_pytree
from numpyro.infer import MCMC, NUTS, SVI, Predictive, Trace_ELBO, autoguide, init_to_value
from numpyro.infer.util import initialize_model, log_likelihood
from scipy.optimize import minimize

from bayes_distill.data import load_runs
from bayes_distill.inference.diagnostics import FitWarning, diagnose
from bayes_distill.inference.model import RunArrays, law_model
from bayes_distill.inference.priors import Prior, resolve_prior
from bayes_distill.laws import COEFFICIENTS

BACKENDS = ("numpyro", "pymc")
METHODS = ("nuts", "svi")


def _checked_fix(fix: Mapping[str, float] | None) -> dict[str, float]:
    fix = dict(fix or {})
    unknown = set(fix) - set(COEFFICIENTS)
    if unknown:
        raise ValueError(f"fix has unknown coefficients {sorted(unknown)}; known: {list(COEFFICIENTS)}")
    for name, value in fix.items():
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"fix[{name!r}] must be finite and > 0; got {value!r}")
    return {k: float(v) for k, v in fix.items()}


def _unconstrained_prior_draws(model_kwargs: dict, template: dict, rng: np.random.Generator, n: int) -> dict:
    """``n`` draws of every site from its prior, mapped to the sampler's unconstrained space."""
    from numpyro.distributions import HalfNormal
    from numpyro.distributions.transforms import biject_to

    from bayes_distill.inference.priors import NOISE_SCALE

    prior = model_kwargs["prior"]
    sites = {p.site(name): p for name, p in prior.items()}
    draws = {}
    for site, value in template.items():
        if site in sites:
            distribution = sites[site].numpyro()
            x = sites[site].sample(rng, n)
            x = np.log(x) if sites[site].log else x
        elif site.startswith("sigma_"):
            distribution, x = HalfNormal(NOISE_SCALE), np.abs(rng.normal(0, NOISE_SCALE, n))
        else:  # standardised offsets and scales start at their centre
            draws[site] = jnp.zeros((n, *jnp.shape(value)))
            continue
        draws[site] = biject_to(distribution.support).inv(jnp.asarray(x))
    return draws


def multistart_map(model_kwargs: dict, seed: int, starts: int) -> tuple[dict[str, jax.Array], np.ndarray]:
    """The posterior mode from ``starts`` prior draws, each polished by L-BFGS in the unconstrained space
    (SciPy on the host, with the potential and its gradient compiled once by JAX).

    Returns the best point (unconstrained site values) and every start's final potential energy
    (negative log density), so that distant optima of similar fit can be reported.
    """
    info = initialize_model(jax.random.PRNGKey(seed), law_model, model_kwargs=model_kwargs)
    _, unravel = ravel_pytree(info.param_info.z)
    draws = _unconstrained_prior_draws(model_kwargs, info.param_info.z, np.random.default_rng(seed), starts)
    starts_flat = jax.vmap(lambda z: ravel_pytree(z)[0])(draws)

    energy_and_gradient = jax.jit(jax.value_and_grad(lambda x: info.potential_fn(unravel(x))))

    def energy(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = energy_and_gradient(jnp.asarray(x))
        if not np.isfinite(value):
            return 1e300, np.zeros_like(x)
        return float(value), np.asarray(gradient, dtype=float)

    results = [minimize(energy, np.asarray(x0, dtype=float), jac=True, method="L-BFGS-B",
                        options={"maxiter": 2000}) for x0 in starts_flat]
    energies = np.array([r.fun if np.isfinite(r.fun) else np.inf for r in results])
    best = int(np.argmin(energies))
    return unravel(jnp.asarray(results[best].x)), energies


def _to_tree(samples: dict, log_lik: dict, predictive: dict, stats: dict, runs: xr.Dataset, attrs: dict) -> Any:
    import arviz_base

    run_ids = runs["run"].values
    groups = np.unique(runs["group"].values.astype(str))
    data = {
        "posterior": {k: np.asarray(v) for k, v in samples.items()},
        "log_likelihood": {k: np.asarray(v) for k, v in log_lik.items()},
        "posterior_predictive": {k: np.asarray(v) for k, v in predictive.items()},
        "observed_data": {"log_loss": np.log(runs["loss"].values)},
        "sample_stats": {k: np.asarray(v) for k, v in stats.items()},
    }
    dims = {"log_loss": ["run"], "group_offset_raw": ["group"]}
    return arviz_base.from_dict(data, coords={"run": run_ids, "group": groups}, dims=dims, attrs=attrs)


class FitResult(NamedTuple):
    """What sampling produced: the ArviZ DataTree, the validated runs, the model's arguments, and the final
    potential energy of every multi-start optimisation."""

    tree: Any
    runs: xr.Dataset
    model_kwargs: dict
    multistart_energies: np.ndarray


def sample(
    runs: Any,
    backend: str = "numpyro",
    method: str = "nuts",
    prior: str | Mapping[str, Prior] = "default",
    fix: Mapping[str, float] | None = None,
    *,
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    seed: int = 0,
    nu: float = 4.0,
    group_effects: bool | str = "auto",
    starts: int = 16,
    svi_steps: int = 4000,
    guide: str = "full-rank",
) -> FitResult:
    """Fit the law model to ``runs`` (a path, DataFrame or ``load_runs`` Dataset); ``bayes_distill.fit`` wraps
    the result in a ``Posterior``.

    prior: "default" (weakly informative), "paper" (centred on Table 6) or a mapping of ``Prior`` per coefficient.
    fix: coefficients held at given values, e.g. {"gamma": 1.0} (Chinchilla form), or the six supervised ones
    (the paper's two-stage procedure). nu: Student-t degrees of freedom of the log-loss noise.
    group_effects: "auto" adds a per-group offset when some group holds more than one run.
    method="svi" fits a full-rank (or ``guide="low-rank"``) Gaussian guide and draws ``chains x draws`` from it.
    Warns with ``FitWarning`` when R-hat > 1.01, bulk ESS < 400 or any transition diverged.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if backend == "pymc" and method != "nuts":
        raise ValueError(f"method={method!r} is only available with backend='numpyro'")
    for name, value in (("chains", chains), ("draws", draws), ("warmup", warmup), ("starts", starts)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    runs = load_runs(runs)
    arrays = RunArrays.from_runs(runs)
    prior = resolve_prior(prior, float(runs["loss"].min()))
    fix = _checked_fix(fix)
    if group_effects == "auto":
        group_effects = bool(arrays.n_groups < arrays.log_loss.size)
    model_kwargs = {"runs": arrays, "prior": prior, "fix": fix, "nu": nu, "group_effects": bool(group_effects)}

    mode, energies = multistart_map(model_kwargs, seed, starts)
    key = jax.random.PRNGKey(seed + 1)
    attrs = {"backend": backend, "method": method, "nu": nu, "group_effects": int(bool(group_effects)),
             "fix": repr(fix), "prior": repr(prior), "multistart_best_potential": float(np.min(energies))}

    if backend == "pymc":
        from bayes_distill.inference.pymc_model import sample_pymc

        constrained = numpyro.infer.util.constrain_fn(law_model, (), model_kwargs, mode)
        tree = sample_pymc(arrays, prior, fix, nu=nu, group_effects=bool(group_effects), chains=chains, draws=draws,
                           warmup=warmup, seed=seed, initvals={k: float(v) for k, v in constrained.items()
                                                               if np.ndim(v) == 0})
        for message in diagnose(tree):
            warnings.warn(message, FitWarning, stacklevel=2)
        return FitResult(tree, runs, model_kwargs, energies)

    if method == "nuts":
        kernel = NUTS(law_model, dense_mass=True, target_accept_prob=0.9)
        chain_method = "parallel" if jax.local_device_count() >= chains else "vectorized"
        mcmc = MCMC(kernel, num_warmup=warmup, num_samples=draws, num_chains=chains, chain_method=chain_method,
                    progress_bar=False)
        jitter = jax.random.split(key, chains)
        init = jax.tree.map(lambda z: z + 0.01 * jax.random.normal(jitter[0], (chains, *jnp.shape(z))), mode)
        mcmc.run(key, init_params=init, extra_fields=("diverging", "num_steps", "energy"), **model_kwargs)
        samples = mcmc.get_samples(group_by_chain=True)
        extra = mcmc.get_extra_fields(group_by_chain=True)
        stats = {"diverging": extra["diverging"], "n_steps": extra["num_steps"], "energy": extra["energy"]}
    else:
        constrained = numpyro.infer.util.constrain_fn(law_model, (), model_kwargs, mode)
        make_guide = {"full-rank": autoguide.AutoMultivariateNormal,
                      "low-rank": autoguide.AutoLowRankMultivariateNormal}
        if guide not in make_guide:
            raise ValueError(f"guide must be one of {list(make_guide)}; got {guide!r}")
        q = make_guide[guide](law_model, init_loc_fn=init_to_value(values=constrained), init_scale=0.01)
        svi = SVI(law_model, q, numpyro.optim.ClippedAdam(5e-3), Trace_ELBO())
        result = svi.run(key, svi_steps, progress_bar=False, **model_kwargs)
        latent = q.sample_posterior(jax.random.PRNGKey(seed + 2), result.params, sample_shape=(chains * draws,))
        derived = Predictive(law_model, posterior_samples=latent, return_sites=list(
            {p.site(c): c for c, p in prior.items() if p.log}.values()))(jax.random.PRNGKey(seed + 2), **model_kwargs)
        flat = {**latent, **{k: v for k, v in derived.items() if k not in latent}}
        samples = {k: v.reshape(chains, draws, *v.shape[1:]) for k, v in flat.items() if k != "log_loss"}
        stats = {"elbo_loss": np.broadcast_to(np.asarray(result.losses[-1]), (chains, draws))}
        attrs["svi_final_elbo_loss"] = float(result.losses[-1])

    log_lik = log_likelihood(law_model, samples, batch_ndims=2, **model_kwargs)
    predictive = Predictive(law_model, posterior_samples=samples, batch_ndims=2)(
        jax.random.PRNGKey(seed + 3), **{**model_kwargs, "observe": False})
    tree = _to_tree(samples, log_lik, {"log_loss": predictive["log_loss"]}, stats, runs, attrs)
    if method == "nuts":
        for message in diagnose(tree):
            warnings.warn(message, FitWarning, stacklevel=2)
    return FitResult(tree, runs, model_kwargs, energies)
