"""The joint Bayesian model of supervised and distilled runs, as a NumPyro model.

Supervised runs follow Eq. 1; distilled runs follow Eq. 8, whose L~_S is computed from the same supervised
coefficients, so their uncertainty reaches every distilled prediction. The likelihood is a Student-t on
log loss (the Bayesian counterpart of the paper's Huber loss) with one noise scale per kind of run, and an
optional non-centred offset per ``group`` for correlated checkpoints of one training run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import xarray as xr

from bayes_distill.inference.priors import NOISE_SCALE, Prior
from bayes_distill.laws import DISTILLATION_COEFFICIENTS, SUPERVISED_COEFFICIENTS, LawParams
from bayes_distill.laws.equations import log_distilled_loss, log_supervised_loss

GROUP_SCALE = 0.02
"""Half-normal scale of the per-group offsets on log loss."""


class RunArrays(NamedTuple):
    """The runs table as arrays for the model: supervised and distilled rows by index into ``run``."""

    N: np.ndarray
    D: np.ndarray
    log_loss: np.ndarray
    teacher_loss: np.ndarray
    supervised: np.ndarray  # row indices of supervised runs
    distilled: np.ndarray  # row indices of distilled runs
    group: np.ndarray  # group index of each run
    n_groups: int

    @classmethod
    def from_runs(cls, runs: xr.Dataset) -> RunArrays:
        kind = runs["kind"].values.astype(str)
        _, group = np.unique(runs["group"].values.astype(str), return_inverse=True)
        return cls(
            N=runs["N"].values.astype(float), D=runs["D"].values.astype(float),
            log_loss=np.log(runs["loss"].values.astype(float)),
            teacher_loss=np.where(kind == "distilled", runs["teacher_loss"].values.astype(float), 1.0),
            supervised=np.flatnonzero(kind == "supervised"), distilled=np.flatnonzero(kind == "distilled"),
            group=group, n_groups=int(group.max()) + 1 if group.size else 0,
        )


def coefficients_to_fit(runs: RunArrays) -> tuple[str, ...]:
    """Supervised coefficients always; distillation coefficients when there are distilled runs."""
    return SUPERVISED_COEFFICIENTS + (DISTILLATION_COEFFICIENTS if runs.distilled.size else ())


def law_model(
    runs: RunArrays,
    prior: Mapping[str, Prior],
    fix: Mapping[str, float],
    nu: float = 4.0,
    group_effects: bool = False,
    observe: bool = True,
) -> None:
    """Sample sites: each free coefficient (or ``log_<name>`` for scale coefficients, with the coefficient as
    a deterministic site), ``sigma_supervised``, ``sigma_distilled``, ``group_scale`` and
    ``group_offset_raw``, and the observed ``log_loss`` over the ``run`` plate."""
    values = {}
    for name in coefficients_to_fit(runs):
        if name in fix:
            values[name] = jnp.asarray(fix[name], dtype=float)
            continue
        p = prior[name]
        x = numpyro.sample(p.site(name), p.numpyro())
        values[name] = numpyro.deterministic(name, jnp.exp(x)) if p.log else x
    params = LawParams(**values)

    mu = jnp.zeros(runs.log_loss.shape[0])
    sigma = jnp.zeros(runs.log_loss.shape[0])
    if runs.supervised.size:
        i = runs.supervised
        mu = mu.at[i].set(log_supervised_loss(runs.N[i], runs.D[i], params))
        sigma = sigma.at[i].set(numpyro.sample("sigma_supervised", dist.HalfNormal(NOISE_SCALE)))
    if runs.distilled.size:
        i = runs.distilled
        mu = mu.at[i].set(log_distilled_loss(runs.N[i], runs.D[i], runs.teacher_loss[i], params))
        sigma = sigma.at[i].set(numpyro.sample("sigma_distilled", dist.HalfNormal(NOISE_SCALE)))
    if group_effects:
        scale = numpyro.sample("group_scale", dist.HalfNormal(GROUP_SCALE))
        with numpyro.plate("group", runs.n_groups):
            raw = numpyro.sample("group_offset_raw", dist.Normal(0.0, 1.0))
        mu = mu + scale * raw[runs.group]
    with numpyro.plate("run", runs.log_loss.shape[0]):
        numpyro.sample("log_loss", dist.StudentT(nu, mu, sigma), obs=runs.log_loss if observe else None)
