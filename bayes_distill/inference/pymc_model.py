"""The PyMC twin of ``law_model``: the same sites, deterministics, priors and likelihood, sampled with PyMC's NUTS.

Sites: the coefficients as ``law_coefficients`` makes them for both backends, in the same sampling coordinates
(``alpha_gamma``, ``log_A_term``, ``log_d1_onset``, ...; every coefficient a ``pm.Deterministic`` under its own name),
``sigma_supervised`` / ``sigma_distilled`` ~ NOISE_PRIOR (log-normal) on log loss, optional ``group_scale`` ~
HalfNormal(GROUP_SCALE) with non-centred ``group_offset_raw``, optional ``law_error`` ~ HalfNormal(LAW_ERROR_SCALE)
with non-centred ``law_error_raw`` over dimension ``size``, and the observed ``log_loss`` (Student-t with
``nu`` degrees of freedom on log nats/token) over dimension ``run``. Everything but the likelihood's own line is
NumPyro's ``log_loss_location_scale``, made with PyMC's sites and evaluated on PyTensor variables.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

from bayes_distill.inference.model import RunArrays, Sites, log_loss_location_scale
from bayes_distill.inference.priors import Prior

DETERMINISTIC_DIMS = {"law_error_offset": "size"}
"""The dimension of each vector the model records, as NumPyro's trace names it (PyMC would number it)."""


def _pymc_sites() -> Sites:
    """PyMC's way of making the model's sites (inside a ``pm.Model`` context with the dimensions they name)."""
    import pymc as pm
    import pytensor.tensor as pt

    return Sites(sample=lambda name, p: p.pymc(name),
                 deterministic=lambda name, value: pm.Deterministic(name, value, dims=DETERMINISTIC_DIMS.get(name)),
                 constant=lambda value: pt.as_tensor_variable(np.float64(value)),
                 zeros=lambda n: pt.zeros(n, dtype="float64"),
                 set_rows=lambda vector, rows, values: pt.set_subtensor(vector[rows], values),
                 standard_normals=lambda name, dim, n: pm.Normal(name, 0.0, 1.0, dims=dim),
                 log_prob=lambda p, value: pm.logp(p.pymc_dist(), value), factor=pm.Potential)


def build_pymc_model(runs: RunArrays, prior: Mapping[str, Prior], fix: Mapping[str, float], *, nu: float = 4.0,
                     group_effects: bool = False, term_coordinates: bool = True,
                     law_error: bool = False, slope_coordinates: bool = True,
                     labels: Mapping[str, np.ndarray] | None = None):  # noqa: ANN201 (pm.Model, lazy)
    """The PyMC model of ``law_model`` for ``runs``: the same location and scale of each run's log loss, made by
    ``log_loss_location_scale`` with PyMC's sites, and the same Student-t likelihood. ``labels``: the coordinates
    of ``run``, ``group`` and ``size`` (NumPyro's tree's); positions where not given."""
    import pymc as pm

    labels = labels or {}
    coords = {"run": labels.get("run", np.arange(runs.log_loss.shape[0]))}
    if group_effects:
        coords["group"] = labels.get("group", np.arange(runs.n_groups))
    if law_error:
        coords["size"] = labels.get("size", np.arange(runs.n_sizes))
        coords["law_error_direction"] = np.arange(runs.size_directions.shape[1])
    with pm.Model(coords=coords) as model:
        mu, sigma = log_loss_location_scale(runs, prior, fix, group_effects, term_coordinates, _pymc_sites(),
                                            law_error, slope_coordinates)
        pm.StudentT("log_loss", nu=nu, mu=mu, sigma=sigma, observed=runs.log_loss, dims="run")
    return model


def _initvals(model, prior: Mapping[str, Prior], initvals: Mapping[str, float]) -> dict[str, np.ndarray]:  # noqa: ANN001
    """Initial values by free-variable name; a coefficient sampled on its log may be given by name (moved to its
    ``log_`` site). A name that is no free variable, or a value that is not finite, is an error, not skipped."""
    free = {rv.name for rv in model.free_RVs}
    out, unknown = {}, []
    for key, value in initvals.items():
        p = prior.get(key)
        site, v = key, float(value)
        if key not in free and p is not None and p.log:
            site, v = p.site(key), float(np.log(value))
        if site not in free or not np.isfinite(v):
            unknown.append(f"{key}={value!r}")
            continue
        out[site] = np.asarray(v, dtype=float)
    if unknown:
        raise ValueError(f"initvals: {', '.join(unknown)} name no free variable of the model or are not finite; "
                         f"free variables: {sorted(free)}")
    return out


def sample_pymc(
    runs: RunArrays,
    prior: dict[str, Prior],
    fix: dict[str, float],
    *,
    nu: float,
    group_effects: bool,
    chains: int,
    draws: int,
    warmup: int,
    seed: int,
    initvals: dict[str, float] | None = None,
    cores: int = 1,
    progressbar: bool = False,
    target_accept: float = 0.9,
    term_coordinates: bool = True,
    law_error: bool = False,
    slope_coordinates: bool = True,
    labels: Mapping[str, np.ndarray] | None = None,
) -> xr.DataTree:
    """Sample the PyMC twin of ``law_model`` with PyMC's own NUTS (``target_accept``, dense mass matrix
    ``adapt_full``, as NumPyro's ``dense_mass=True``).

    ``initvals`` (sample-site or coefficient names, coefficient units) start every chain, e.g. at a multi-start
    MAP; otherwise a jittered start. ``cores``: processes for the chains. ``labels``: as for ``build_pymc_model``,
    so that the tree is labelled as NumPyro's. Returns the ArviZ DataTree of
    ``pm.sample`` (groups posterior, sample_stats, log_likelihood, posterior_predictive, observed_data), whose
    posterior holds the coefficient names, the ``log_*`` sites and ``sigma_*``, as NumPyro's does.
    """
    import pymc as pm

    model = build_pymc_model(runs, prior, fix, nu=nu, group_effects=group_effects, term_coordinates=term_coordinates,
                             law_error=law_error, slope_coordinates=slope_coordinates, labels=labels)
    start = _initvals(model, prior, initvals) if initvals else None
    with model:
        tree = pm.sample(
            draws=draws, tune=warmup, chains=chains, cores=cores, random_seed=seed, nuts_sampler="pymc",
            target_accept=target_accept, initvals=start, init="adapt_full" if start else "jitter+adapt_full",
            progressbar=progressbar, compute_convergence_checks=False,
        )
        tree = pm.compute_log_likelihood(tree, progressbar=False)
        # Replicated log losses from PyMC's own Student-t, as NumPyro's tree has them: the fit's checks need them.
        tree = pm.sample_posterior_predictive(tree, extend_inferencedata=True, random_seed=seed + 3,
                                              progressbar=False)
    if not isinstance(tree, xr.DataTree):  # PyMC 5 returned InferenceData
        from arviz_base import convert_to_datatree

        tree = convert_to_datatree(tree)
    return tree


__all__ = ["build_pymc_model", "sample_pymc"]
