"""The joint Bayesian model of supervised and distilled runs, as a NumPyro model.

Supervised runs follow Eq. 1; distilled runs follow Eq. 8, whose L~_S is computed from the same supervised
coefficients, so their uncertainty reaches every distilled prediction. The likelihood is a Student-t on
log loss (the Bayesian counterpart of the paper's Huber loss) with one noise scale per kind of run, an
optional non-centred offset per ``group`` for correlated checkpoints of one training run, and an optional law error
(``law_error``): an offset on log loss shared by the runs of one kind and student size, the law's own error there,
which a new size draws afresh (``Posterior.law_error``), so that intervals away from the fitted sizes say what the
law does not know. A kind's sizes have offsets once runs of several groups share two or more of its sizes, so that
the spread can be told from the noise; a run alone at its size then carries its size's offset too, rather than
being taken for the law itself.

Geometry: in the coefficients' own coordinates the posterior of (log A, alpha, gamma) is a narrow banana (the
data fix A^gamma N^(-alpha gamma) near the runs, not A, alpha and gamma one by one), which costs NUTS 60-80
leapfrog steps per draw. Each power-law term (A, alpha) of a law with curvature gamma is therefore sampled as
the exponent the data see, ``alpha_gamma`` = alpha * gamma, and the term's log size at the runs' central
size, ``log_A_term`` = gamma * log(A / N_ref^alpha). Both are affine in (log A, alpha) given gamma, so their
priors are the coefficients' priors pushed through that map (Jacobian included): the posterior is the same
distribution, only easier to sample. The coefficients stay in the trace as deterministic sites.
The exponent's map keeps its prior's bounds (alpha * gamma lies in (gamma a, gamma b) for alpha in (a, b)), so
the sampler never leaves the prior's support. When the data are weak the prior dominates, and the prior,
independent in (log A, alpha), is a funnel in the term coordinates (its spread scales with gamma); should NUTS
diverge there, ``fit`` samples again in the coefficients' own coordinates (``term_coordinates=False``).
The same holds for the distillation law's break: runs below it fix the log size of the transition term there,
log c1 + log f1 - log(d1) / f1, not c1 and d1 one by one, so d1 is sampled as f1 times that sum
(``log_d1_onset``): on the paper's design this halves the leapfrog steps of a joint fit (210 to 114 per draw).
The distillation law's terms differ in what their priors are on (``TERM_PRIORS``): the data identify its
curvature gamma' only through the D_S term, which is weak on the paper's design, while they fix the terms'
exponents and log sizes. Independent priors on alpha', log A' and gamma' then leave, in the coordinates the data
fix, a prior density of 1/gamma'^2: a second mode of degenerate laws (gamma' near 0.2, c0 and alpha' gamma' near
0, no D_S term) that chains visit for 1% to 15% of their draws, so R-hat fails. The priors of those coefficients are
therefore on the terms as the data see them (alpha' gamma', and gamma' log(A' / N_0^alpha') at a reference size),
independent of gamma' and of the exponent: a prior on log B' independent of beta' says the D_S term vanishes at
the data for most exponents, and left an arm of laws without a D_S term (log B' term down to -40, c0 low) that
chains entered and left slowly (``TERM_REFERENCE``).
Where those priors are on bounded exponents (the default's), the distillation law's terms go one step further, to
the coordinates its runs fix (``_distillation_slopes``): the reducible term's log size at the runs' centre and its
slopes in log N and log D, with the D_S term's share as the one coordinate along the ridge that remains. On the
paper's design D_S grows with N_S over a narrow range of tokens per parameter, so the runs fix each exponent times its
term's share, not both: in the term coordinates that ridge is bent (a large, flat D_S term with a small, steep N_S
term, or the reverse), and NUTS crossed its bend slowly, with divergences. The prior is carried in a factor with
the map's Jacobian; drawn forward, these sites are not the prior, so prior draws take the term coordinates
(``ModelArgs.in_term_coordinates``).
``law_coefficients`` makes these coordinates for both backends (``Sites``: NumPyro's here, PyMC's in its twin),
each map a ``Prior.affine`` of the coefficient's prior.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import xarray as xr

from bayes_distill.inference.priors import NOISE_LOG_SPREAD, NOISE_MEDIAN, TERM_PRIORS, Prior, log_term_reference
from bayes_distill.laws import DISTILLATION_COEFFICIENTS, SUPERVISED_COEFFICIENTS, LawParams
from bayes_distill.laws._namespace import namespace
from bayes_distill.laws.equations import log_distilled_loss, log_supervised_loss

GROUP_SCALE = 0.02
"""Half-normal scale of the per-group offsets on log loss."""

LAW_ERROR_SCALE = 0.02
"""Half-normal scale of the law error's spread on log loss (a 2% error of the law at a size is plausible a priori:
the paper's fits miss held-out sizes by 1-3%)."""

LAW_ERROR_POWERS = 3
"""The most directions of the sizes' offsets the law's coefficients absorb: a constant, a trend and a curvature in
log N."""


def size_labels(kind: np.ndarray, N: np.ndarray) -> np.ndarray:
    """The law error's level of each run: its kind and exact student size (parameters), as a label."""
    return np.array([f"{k} N={float(n)!r}" for k, n in zip(np.asarray(kind, str), np.asarray(N, float), strict=True)])


def law_error_levels(kind: np.ndarray, N: np.ndarray, group: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The law error's levels in a runs table, sorted, and each run's index among them (-1 for none): every size of
    a kind that has runs of two or more groups (independent trainings; each run is its own group when ``group`` is
    None) at two or more of its sizes. There the error's spread can be told from the runs' noise, and then every
    size of the kind has its own error, whether one run or many trained there: a run alone at its size is not the
    law's exact value. Checkpoints of one training run count as one group: they share their group's offset, so
    they cannot tell the law's error at their size from it."""
    labels, kind = size_labels(kind, N), np.asarray(kind, str)
    group = np.arange(labels.size).astype(str) if group is None else np.asarray(group, str)
    unique, index = np.unique(labels, return_inverse=True)
    groups = np.array([np.unique(group[index == i]).size for i in range(unique.size)], dtype=int)
    level_kind = np.array([kind[index == i][0] for i in range(unique.size)], dtype=str)
    learnable = [k for k in np.unique(kind) if np.sum((level_kind == k) & (groups >= 2)) >= 2]
    levels = unique[np.isin(level_kind, learnable)]
    return levels, np.where(np.isin(labels, levels), np.searchsorted(levels, labels), -1)


def law_error_basis(fitted_N: np.ndarray, N: np.ndarray) -> np.ndarray:
    """The directions of the sizes' offsets that the law's coefficients take over, evaluated at sizes ``N``
    (parameters), for a kind whose fitted sizes are ``fitted_N``: a constant, and the trend and curvature in log N
    about the fitted sizes' mean, as many as leave at least one direction to the law error (1 for up to two sizes,
    2 for three, 3 beyond); by (size, direction)."""
    log_fitted = np.log(np.asarray(fitted_N, float))
    x = np.log(np.asarray(N, float)) - log_fitted.mean()
    return x[:, None] ** np.arange(law_error_basis_size(log_fitted.size))


def law_error_basis_size(sizes: int) -> int:
    """How many directions ``law_error_basis`` has for a kind with ``sizes`` fitted sizes: 1 for up to two, 2 for
    three, ``LAW_ERROR_POWERS`` beyond (each leaves at least one direction to the law error)."""
    return max(1, min(sizes - 1, LAW_ERROR_POWERS))


def law_error_directions(kind: np.ndarray, N: np.ndarray) -> np.ndarray:
    """An orthonormal basis, by (size, direction), of the sizes' offsets (one per level, kinds and sizes
    (parameters) given in ``size_labels``' order) that the law cannot say: within each kind, the complement of
    ``law_error_basis``. The law's coefficients already move the loss of every size together and tilt and bend it
    along log N, so offsets left free there would trade places with them (a ridge NUTS mixes slowly along). What the
    law took over still counts where it extrapolates (``Posterior.law_error``)."""
    kind, N = np.asarray(kind, str), np.asarray(N, float)
    blocks = []
    for k in np.unique(kind):
        rows = np.flatnonzero(kind == k)
        basis = law_error_basis(N[rows], N[rows])
        q, _ = np.linalg.qr(basis, mode="complete")
        block = np.zeros((kind.size, rows.size - basis.shape[1]))
        block[rows] = q[:, basis.shape[1]:]
        blocks.append(block)
    return np.concatenate(blocks, axis=1) if blocks else np.zeros((0, 0))


@dataclass(frozen=True)
class RunArrays:
    """The runs table as arrays for the model: supervised and distilled rows by index into ``run``.

    A JAX pytree: its values (N, D, losses, the reference sizes) are leaves, its design (the row indices of each
    kind, the groups) is structure."""

    N: np.ndarray
    D: np.ndarray
    log_loss: np.ndarray
    teacher_loss: np.ndarray
    supervised: np.ndarray  # row indices of supervised runs
    distilled: np.ndarray  # row indices of distilled runs
    group: np.ndarray  # group index of each run
    n_groups: int
    size: np.ndarray  # index of each run's level of the law error, -1 if none: see ``law_error_levels``
    n_sizes: int
    size_directions: np.ndarray  # (size, direction): see ``law_error_directions``
    log_reference_size: float  # mean log N of the runs: the centre of the power-law terms' reparameterisation
    log_reference_tokens: float  # mean log D of the runs

    @classmethod
    def from_runs(cls, runs: xr.Dataset) -> RunArrays:
        kind = runs["kind"].values.astype(str)
        _, group = np.unique(runs["group"].values.astype(str), return_inverse=True)
        levels, size = law_error_levels(kind, runs["N"].values, runs["group"].values)
        first = np.array([np.flatnonzero(size == i)[0] for i in range(levels.size)], dtype=np.int64)
        directions = law_error_directions(kind[first], runs["N"].values[first])
        return cls(
            N=runs["N"].values.astype(float), D=runs["D"].values.astype(float),
            log_loss=np.log(runs["loss"].values.astype(float)),
            teacher_loss=np.where(kind == "distilled", runs["teacher_loss"].values.astype(float), 1.0),
            supervised=np.flatnonzero(kind == "supervised"), distilled=np.flatnonzero(kind == "distilled"),
            group=group, n_groups=int(group.max()) + 1 if group.size else 0,
            size=size, n_sizes=levels.size, size_directions=directions,
            log_reference_size=float(np.mean(np.log(runs["N"].values.astype(float)))),
            log_reference_tokens=float(np.mean(np.log(runs["D"].values.astype(float)))),
        )

    def _flatten(self) -> tuple[tuple, tuple]:
        values = (self.N, self.D, self.log_loss, self.teacher_loss, self.log_reference_size,
                  self.log_reference_tokens, self.size_directions)
        design = (tuple(self.supervised.tolist()), tuple(self.distilled.tolist()), tuple(self.group.tolist()),
                  self.n_groups, tuple(self.size.tolist()), self.n_sizes)
        return values, design

    @classmethod
    def _unflatten(cls, design: tuple, values: tuple) -> RunArrays:
        N, D, log_loss, teacher_loss, log_reference_size, log_reference_tokens, size_directions = values  # noqa: N806
        supervised, distilled, group = (np.asarray(rows, dtype=np.int64) for rows in design[:3])
        size = np.asarray(design[4], dtype=np.int64)
        return cls(N, D, log_loss, teacher_loss, supervised, distilled, group, design[3], size, design[5],
                   size_directions, log_reference_size, log_reference_tokens)


# The values are leaves and the design (which rows are of which kind and group) is structure: a compiled fit takes
# the values as arguments and serves every table of the same design, while the design's row indices stay
# constants that XLA compiles into slices rather than a scatter (a fifth of the compile time).
jax.tree_util.register_pytree_node(RunArrays, RunArrays._flatten, RunArrays._unflatten)


def coefficients_to_fit(runs: RunArrays) -> tuple[str, ...]:
    """Supervised coefficients always; distillation coefficients when there are distilled runs."""
    return SUPERVISED_COEFFICIENTS + (DISTILLATION_COEFFICIENTS if runs.distilled.size else ())


POWER_LAW_TERMS = {"gamma": (("A", "alpha", "N"), ("B", "beta", "D")),
                   "gamma_prime": (("A_prime", "alpha_prime", "N"), ("B_prime", "beta_prime", "D"))}
"""Each law's curvature and its (scale, exponent, input) power-law terms, sampled in the term coordinates."""


@dataclass(frozen=True)
class Sites:
    """How a backend makes the model's sites, so that the coefficients' coordinates are written once for NumPyro and
    PyMC: ``sample(name, prior)`` draws a latent site from a ``Prior``, ``deterministic(name, value)`` records a
    derived quantity in the trace, ``constant(value)`` holds a fixed coefficient."""

    sample: Callable[[str, Prior], Any]
    deterministic: Callable[[str, Any], Any]
    constant: Callable[[float], Any]
    zeros: Callable[[int], Any]  # a vector of n zeros
    set_rows: Callable[[Any, Any, Any], Any]  # (vector, rows, values) -> the vector with those rows set
    standard_normals: Callable[[str, str, int], Any]  # (name, dimension, n) -> n standard normal latent sites
    log_prob: Callable[[Prior, Any], Any]  # (prior, value) -> the prior's log density at value
    factor: Callable[[str, Any], Any]  # (name, log density) -> adds it to the model's


def _numpyro_standard_normals(name: str, dim: str, n: int) -> Any:
    with numpyro.plate(dim, n):
        return numpyro.sample(name, dist.Normal(0.0, 1.0))


NUMPYRO_SITES = Sites(sample=lambda name, p: numpyro.sample(name, p.numpyro()), deterministic=numpyro.deterministic,
                      constant=lambda value: jnp.asarray(value, dtype=float), zeros=jnp.zeros,
                      set_rows=lambda vector, rows, values: vector.at[rows].set(values),
                      standard_normals=_numpyro_standard_normals,
                      log_prob=lambda p, value: p.numpyro().log_prob(value), factor=numpyro.factor)
NOISE_PRIOR = Prior("lognormal", float(np.log(NOISE_MEDIAN)), NOISE_LOG_SPREAD)
"""Prior of each kind's noise scale on log loss: log-normal, so that its density vanishes at 0 faster than any
power. A law that can pass through its runs (a handful of them, or as many as its free coefficients) has a
likelihood that grows as the noise shrinks; with a prior that stays finite at 0 (half-normal) the posterior then
piles up at no noise, or is improper, and every interval from it is too narrow."""
GROUP_PRIOR = Prior("halfnormal", GROUP_SCALE)
"""Prior of the spread of the per-group offsets on log loss."""
LAW_ERROR_PRIOR = Prior("halfnormal", LAW_ERROR_SCALE)
"""Prior of the law error's spread on log loss."""


def _coefficient(name: str, prior: Mapping[str, Prior], fix: Mapping[str, float], sites: Sites) -> Any:
    """A coefficient held fixed, or sampled from its prior (on its log with a deterministic site, if ``log``)."""
    if name in fix:
        return sites.constant(fix[name])
    return _sampled(name, prior[name], prior[name], sites)


def _sampled(name: str, p: Prior, site_prior: Prior, sites: Sites) -> Any:
    """The coefficient ``name`` of prior ``p``, its site (on log ``name`` if ``p.log``) drawn from ``site_prior``."""
    x = sites.sample(p.site(name), site_prior)
    return sites.deterministic(name, namespace(x).exp(x)) if p.log else x


def _log_prior_reference(scale: str, prior: Mapping[str, Prior]) -> float:
    """log N_0 (or log D_0) where the prior of the log of the scale ``scale`` is stated (``TERM_REFERENCE``), else 0."""
    return log_term_reference(scale) if prior[scale].log else 0.0


def _own_coordinates(name: str, curvature: Any, prior: Mapping[str, Prior], fix: Mapping[str, float],
                     sites: Sites, exponent: Any = 0.0) -> Any:
    """A power-law term's coefficient sampled in its own coordinates: from its prior, or for ``TERM_PRIORS`` from
    its prior divided by the curvature (that prior is on curvature times the coefficient, or its log), a log scale
    moved by its term's ``exponent`` times its prior's reference (``TERM_REFERENCE``)."""
    if name in fix or name not in TERM_PRIORS:
        return _coefficient(name, prior, fix, sites)
    shift = exponent * _log_prior_reference(name, prior)
    return _sampled(name, prior[name], prior[name].affine(shift, 1.0 / curvature), sites)


def _power_law_term(scale: str, exponent: str, curvature: Any, log_ref: float, prior: Mapping[str, Prior],
                    fix: Mapping[str, float], sites: Sites, term_coordinates: bool) -> tuple[Any, Any]:
    """(scale, exponent) of one term X / x^exponent, sampled as exponent * curvature and
    curvature * log(X / ref^exponent) (see the module docstring); in the coefficients' own coordinates when
    ``term_coordinates`` is False, X is fixed or its prior is not on log X. The priors are on the coefficients,
    or on the term as the data see it for ``TERM_PRIORS`` (mapped with scale 1 rather than the curvature, from the
    prior's reference to the runs')."""
    prior_scale = 1.0 if scale in TERM_PRIORS else curvature
    if not term_coordinates or scale in fix or not prior[scale].log:
        value = _own_coordinates(exponent, curvature, prior, fix, sites)
        return _own_coordinates(scale, curvature, prior, fix, sites, exponent=value), value
    if exponent in fix:
        effective = curvature * fix[exponent]
        value = sites.constant(fix[exponent])
    else:  # the map keeps the prior's bounds: alpha * gamma lies in (gamma a, gamma b)
        effective = sites.sample(f"{exponent}_gamma", prior[exponent].affine(0.0, prior_scale))
        value = sites.deterministic(exponent, effective / curvature)
    move = log_ref - _log_prior_reference(scale, prior)  # the reference is 0 unless in TERM_REFERENCE
    term = sites.sample(f"log_{scale}_term", prior[scale].affine(-effective * move, prior_scale))
    return _scale_of_term(scale, term, effective, curvature, log_ref, sites), value


def _scale_of_term(scale: str, term: Any, effective: Any, curvature: Any, log_ref: float, sites: Sites) -> Any:
    """The scale X of a term X / x^exponent (and its log, as deterministic sites) from the term's log size ``term``
    = curvature * log(X / ref^exponent) at log ``ref`` and its exponent as the data see it, ``effective``."""
    log_scale = sites.deterministic(f"log_{scale}", (term + effective * log_ref) / curvature)
    return sites.deterministic(scale, namespace(log_scale).exp(log_scale))


UNIT = Prior("uniform", 0.0, 1.0)
"""Prior of the slope coordinates' three sites in (0, 1): each is a share of an interval (``_distillation_slopes``)."""

SLOPE_START = Prior("normal", 0.0, 3.0)
"""The site of the distillation law's reducible log size at the runs' centre is drawn from this, for the multi-start
only: its density is taken out again, since the change of coordinates carries the prior (``_distillation_slopes``)."""


def slope_coordinates_apply(prior: Mapping[str, Prior], fix: Mapping[str, float]) -> bool:
    """Whether the distillation law's terms can be sampled in ``_distillation_slopes``' coordinates: none of A',
    alpha', B', beta' fixed, the scales' priors on their logs, the exponents' with finite bounds."""
    free = not {"A_prime", "alpha_prime", "B_prime", "beta_prime"} & set(fix)
    exponents_bounded = all(prior[name].bounds() is not None for name in ("alpha_prime", "beta_prime"))
    return free and prior["A_prime"].log and prior["B_prime"].log and exponents_bounded


def _distillation_slopes(curvature: Any, runs: RunArrays, prior: Mapping[str, Prior], sites: Sites) -> dict[str, Any]:
    """A', alpha', B', beta' of the distillation law, sampled in the coordinates its data fix.

    With T_N and T_D the terms A'/N^alpha' and B'/D^beta' at the runs' central N and D, and s = T_D / (T_N + T_D)
    the D_S term's share, the runs fix the reducible term's log size there, gamma' log(T_N + T_D)
    (``log_reducible_prime_term``), and its slopes in log N and log D: the exponents as the data see them (p =
    alpha' gamma', q = beta' gamma', each in its prior's bounds (lo, hi)) weighted by the shares, n = (1 - s)(p -
    lo_p)/(hi_p - lo_p) and m = s (q - lo_q)/(hi_q - lo_q); not the share itself. In the term coordinates the
    trade between them (a large, flat D_S term or a small, steep one) is a bent ridge that NUTS crosses slowly; here
    it is one coordinate. Sites: ``slopes_prime`` = m + n and ``slope_split_prime`` = m / (m + n) in (0, 1), and
    ``share_place_prime`` in (0, 1), where the log-odds of s lies in the interval (logit m, -logit n) that keeps
    both exponents in their bounds. The priors stay the coefficients' (``TERM_PRIORS``), carried with the map's
    Jacobian in a factor (``slope_coordinates``), so the posterior is the same distribution."""
    xp = namespace(curvature)
    (lo_p, hi_p), (lo_q, hi_q) = prior["alpha_prime"].bounds(), prior["beta_prime"].bounds()
    total = sites.sample("log_reducible_prime_term", SLOPE_START)
    slopes, split = sites.sample("slopes_prime", UNIT), sites.sample("slope_split_prime", UNIT)
    place = sites.sample("share_place_prime", UNIT)
    m, n = slopes * split, slopes * (1.0 - split)
    low, high = xp.log(m) - xp.log(1.0 - m), xp.log(1.0 - n) - xp.log(n)  # logit m, -logit n
    odds = low + (high - low) * place  # log(T_D / T_N)
    # 1 / s = exp(softplus(-odds)), 1 / (1 - s) = exp(softplus(odds))
    q = sites.deterministic("beta_prime_gamma", lo_q + (hi_q - lo_q) * m * xp.exp(xp.softplus(-odds)))
    p = sites.deterministic("alpha_prime_gamma", lo_p + (hi_p - lo_p) * n * xp.exp(xp.softplus(odds)))
    term_N = sites.deterministic("log_A_prime_term", total - curvature * xp.softplus(odds))
    term_D = sites.deterministic("log_B_prime_term", term_N + curvature * odds)
    move_N = runs.log_reference_size - log_term_reference("A_prime")
    move_D = runs.log_reference_tokens - log_term_reference("B_prime")
    log_prior = (sites.log_prob(prior["alpha_prime"], p) + sites.log_prob(prior["beta_prime"], q)
                 + sites.log_prob(prior["A_prime"].affine(-p * move_N, 1.0), term_N)
                 + sites.log_prob(prior["B_prime"].affine(-q * move_D, 1.0), term_D))
    log_jacobian = (xp.log(slopes) + xp.log(high - low) + xp.softplus(-odds) + xp.softplus(odds)
                    + xp.log(curvature * (hi_p - lo_p) * (hi_q - lo_q)))
    sites.factor("slope_coordinates", log_prior + log_jacobian - sites.log_prob(SLOPE_START, total))
    return {"A_prime": _scale_of_term("A_prime", term_N, p, curvature, runs.log_reference_size, sites),
            "alpha_prime": sites.deterministic("alpha_prime", p / curvature),
            "B_prime": _scale_of_term("B_prime", term_D, q, curvature, runs.log_reference_tokens, sites),
            "beta_prime": sites.deterministic("beta_prime", q / curvature)}


def _transition_break(c1: Any, f1: Any, prior: Mapping[str, Prior], fix: Mapping[str, float], sites: Sites) -> Any:
    """d1, the teacher-to-student loss ratio at the distillation law's break, sampled as ``log_d1_onset`` =
    f1 (log c1 + log f1) - log d1. Below the break the transition term c1 f1 softplus((log(L_T / L~_S) - log d1) /
    f1) is about exp(log c1 + log f1 + (log(L_T / L~_S) - log d1) / f1), so runs there fix f1 times its log, which is
    this coordinate plus log(L_T / L~_S), not c1 and d1 one by one (in the coefficients' own coordinates log c1 and
    log d1 correlate at 0.99 on the paper's design). Scaled by f1 rather than divided by it, so that a weakly
    identified f1 leaves no funnel. A shift of log d1 given (c1, f1): its prior is d1's, moved."""
    if "d1" in fix or not prior["d1"].log:
        return _coefficient("d1", prior, fix, sites)
    xp = namespace(c1, f1)
    loc = f1 * (xp.log(c1) + xp.log(f1))
    onset = sites.sample("log_d1_onset", prior["d1"].affine(loc, 1.0, negate=True))
    log_d1 = sites.deterministic("log_d1", loc - onset)
    return sites.deterministic("d1", xp.exp(log_d1))


def law_coefficients(runs: RunArrays, prior: Mapping[str, Prior], fix: Mapping[str, float], sites: Sites,
                     term_coordinates: bool = True, slope_coordinates: bool = True) -> LawParams:
    """The laws' coefficients for ``runs`` as ``sites`` makes them (NumPyro's or PyMC's): fixed ones as constants,
    the others sampled, in the power-law terms' coordinates unless ``term_coordinates=False``, the distillation
    law's in its slopes' (``_distillation_slopes``) where ``slope_coordinates`` and they apply (see the module
    docstring), with every coefficient in the trace under its own name."""
    names = coefficients_to_fit(runs)
    values = {}
    for curvature, terms in POWER_LAW_TERMS.items():  # a curvature first: its terms' coordinates depend on it
        if curvature in names:
            values[curvature] = _coefficient(curvature, prior, fix, sites)
            if (curvature == "gamma_prime" and term_coordinates and slope_coordinates
                    and slope_coordinates_apply(prior, fix)):
                values.update(_distillation_slopes(values[curvature], runs, prior, sites))
                continue
            for scale, exponent, size in terms:
                log_ref = runs.log_reference_size if size == "N" else runs.log_reference_tokens
                values[scale], values[exponent] = _power_law_term(scale, exponent, values[curvature], log_ref,
                                                                  prior, fix, sites, term_coordinates)
    for name in names:
        if name not in values:
            if name == "d1" and term_coordinates:  # after c1 and f1 (the coefficients' order), whose values it needs
                values[name] = _transition_break(values["c1"], values["f1"], prior, fix, sites)
            else:
                values[name] = _coefficient(name, prior, fix, sites)
    return LawParams(**values)


def _row_index(rows: np.ndarray) -> np.ndarray | slice:
    """An index for the runs ``rows``: a slice when they are contiguous (always, for a table of one kind), so that
    XLA slices the runs' values rather than gathering them, which takes a fifth off a supervised fit's compile."""
    if rows.size and np.all(np.diff(rows) == 1):
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


def log_loss_location_scale(
    runs: RunArrays,
    prior: Mapping[str, Prior],
    fix: Mapping[str, float],
    group_effects: bool = False,
    term_coordinates: bool = True,
    sites: Sites = NUMPYRO_SITES,
    law_error: bool = False,
    slope_coordinates: bool = True,
) -> tuple[Any, Any]:
    """Every latent site of the model, and the location and scale of each run's log loss (log nats/token): the
    law's value (plus the run's group offset and the law error at its size) and its kind's noise scale; written once
    for both backends (``sites``: NumPyro's or PyMC's). ``term_coordinates=False`` samples every coefficient in its
    own coordinates (better when the prior dominates: see the module docstring)."""
    params = law_coefficients(runs, prior, fix, sites, term_coordinates, slope_coordinates)
    n = runs.log_loss.shape[0]
    mu, sigma = sites.zeros(n), sites.zeros(n)
    if runs.supervised.size:
        i = _row_index(runs.supervised)
        mu = sites.set_rows(mu, i, log_supervised_loss(runs.N[i], runs.D[i], params))
        sigma = sites.set_rows(sigma, i, sites.sample("sigma_supervised", NOISE_PRIOR))
    if runs.distilled.size:
        i = _row_index(runs.distilled)
        mu = sites.set_rows(mu, i, log_distilled_loss(runs.N[i], runs.D[i], runs.teacher_loss[i], params))
        sigma = sites.set_rows(sigma, i, sites.sample("sigma_distilled", NOISE_PRIOR))
    if group_effects:
        scale = sites.sample("group_scale", GROUP_PRIOR)
        mu = mu + scale * sites.standard_normals("group_offset_raw", "group", runs.n_groups)[runs.group]
    if law_error:  # non-centred: a centred offset's density peaks as law_error goes to 0, where the fit starts
        raw = sites.standard_normals("law_error_raw", "law_error_direction", runs.size_directions.shape[1])
        offset = sites.sample("law_error", LAW_ERROR_PRIOR) * (raw @ runs.size_directions.T)
        mu = mu + sites.deterministic("law_error_offset", offset)[np.maximum(runs.size, 0)] * (runs.size >= 0)
    return mu, sigma


def law_model(
    runs: RunArrays,
    prior: Mapping[str, Prior],
    fix: Mapping[str, float],
    nu: float = 4.0,
    group_effects: bool = False,
    observe: bool = True,
    term_coordinates: bool = True,
    law_error: bool = False,
    slope_coordinates: bool = True,
) -> None:
    """Sample sites: ``E``; per law its curvature (``gamma``, ``gamma_prime``) and, per power-law term,
    ``<exponent>_gamma`` and ``log_<scale>_term`` (coefficients as deterministic sites), or for the distillation
    law in its slopes' coordinates ``log_reducible_prime_term``, ``slopes_prime``, ``slope_split_prime`` and
    ``share_place_prime`` with the factor ``slope_coordinates`` (see ``_distillation_slopes``); the other distillation
    coefficients (``log_c1`` on the log scale, and the break as ``log_d1_onset``: see ``_transition_break``);
    ``sigma_supervised``, ``sigma_distilled``, ``group_scale`` and ``group_offset_raw`` (over the ``group`` plate),
    ``law_error``, ``law_error_raw`` (over the ``law_error_direction`` plate: see ``law_error_directions``) and
    ``law_error_offset`` (over the ``size`` plate); and the observed ``log_loss`` (Student-t with
    ``nu`` degrees of freedom) over the ``run`` plate."""
    mu, sigma = log_loss_location_scale(runs, prior, fix, group_effects, term_coordinates, law_error=law_error,
                                        slope_coordinates=slope_coordinates)
    with numpyro.plate("run", runs.log_loss.shape[0]):
        numpyro.sample("log_loss", dist.StudentT(nu, mu, sigma), obs=runs.log_loss if observe else None)


@dataclass(frozen=True)
class ModelArgs:
    """Everything ``law_model`` is given, in one typed object: the runs, the prior per coefficient, the coefficients
    held fixed, the Student-t degrees of freedom ``nu`` of the log-loss noise, and the model's design (group offsets,
    the law error, and the coordinates the sampler sees).

    A JAX pytree: the numbers (runs' values, prior parameters, fixed values, nu) are leaves, so a compiled program
    takes them as arguments; the design (which coefficients are fixed or have which prior family, the runs' kinds,
    groups and sizes, ``group_effects``, ``law_error``, ``term_coordinates``) is structure, so it is part of a
    program's identity."""

    runs: RunArrays
    prior: Mapping[str, Prior]
    fix: Mapping[str, float]
    nu: float
    group_effects: bool
    term_coordinates: bool = True
    law_error: bool = False
    slope_coordinates: bool = True

    def in_coefficient_coordinates(self) -> ModelArgs:
        """The same model sampled in the coefficients' own coordinates (see the module docstring)."""
        return replace(self, term_coordinates=False)

    def in_term_coordinates(self) -> ModelArgs:
        """The same model with the distillation law in its terms' coordinates, not its slopes': drawn forward (with
        ``observe=False``), its sites give the prior, where the slope coordinates carry theirs in a factor."""
        return replace(self, slope_coordinates=False)

    def model(self, **extra: Any) -> Any:
        """``law_model`` with these arguments (``extra`` as ``observe=False``), as a plain callable of none."""
        return lambda: law_model(self.runs, self.prior, self.fix, self.nu, self.group_effects,
                                 term_coordinates=self.term_coordinates, law_error=self.law_error,
                                 slope_coordinates=self.slope_coordinates, **extra)

    def location_scale(self) -> tuple[jnp.ndarray, jnp.ndarray]:
        """``log_loss_location_scale`` of these arguments (the likelihood's nu plays no part)."""
        return log_loss_location_scale(self.runs, self.prior, self.fix, self.group_effects, self.term_coordinates,
                                       law_error=self.law_error, slope_coordinates=self.slope_coordinates)


jax.tree_util.register_dataclass(ModelArgs, data_fields=["runs", "prior", "fix", "nu"],
                                 meta_fields=["group_effects", "term_coordinates", "law_error", "slope_coordinates"])

