"""Fitting the joint law model: NUTS (default) or SVI with NumPyro, or NUTS with PyMC.

Robustness: the distillation law's coefficients trade off and a naive sampler finds distant modes of similar
fit. Every fit therefore starts from the best of a multi-start optimisation of the posterior (Levenberg-Marquardt
from prior draws, vectorised and compiled), samples with a dense mass matrix in coordinates that decorrelate the
power-law terms (see ``model``), and then checks R-hat, ESS and divergences across chains: trouble is reported,
never hidden.

Speed: compiling is most of a cold fit on a CPU. The programs of a fit (the optimiser, the sampler, and the
per-draw quantities) are traced up front and compiled one after another on a worker thread, in the order they are
needed, so the sampler compiles while the optimiser runs; each traces the model once (one loop over warm-up and
draws; Levenberg-Marquardt takes value, gradient and Hessian from one trace). The programs take the model's
numbers (``ModelArgs``: the runs' values, the prior's parameters) as arguments, so new data of the same design reuse
them (see ``programs.Program``).

The file reads in the order a fit runs: its arguments, the three methods (NumPyro NUTS, PyMC NUTS, SVI), the
per-draw quantities, and ``sample`` itself. Beside it: ``programs`` (the compiled-program cache), ``sites`` (the
model's sites in the sampler's space) and ``optimise`` (the multi-start optimiser every method starts from).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import xarray as xr
from jax.flatten_util import ravel_pytree
from numpyro import handlers
from numpyro.infer import SVI, Trace_ELBO, autoguide, init_to_value
from numpyro.infer.hmc import hmc
from numpyro.infer.util import log_likelihood

from bayes_distill.data import load_runs
from bayes_distill.inference.diagnostics import ESS_MIN, RHAT_MAX, FitWarning, diagnose, mixing
from bayes_distill.inference.model import ModelArgs, RunArrays, law_error_levels
from bayes_distill.inference.optimise import Multistart, best_start, multistart_program
from bayes_distill.inference.priors import Prior, resolve_prior
from bayes_distill.inference.programs import Program, batched, compiled, key_shape
from bayes_distill.inference.sites import (
    compiled_site_values,
    latent_prior_draws,
    latent_shapes,
    potential,
    site_values,
    unconstrained_sites,
)
from bayes_distill.jax_settings import configure_jax
from bayes_distill.laws import COEFFICIENTS

BACKENDS = ("numpyro", "pymc")
METHODS = ("nuts", "svi")
GUIDES = {"full-rank": autoguide.AutoMultivariateNormal, "low-rank": autoguide.AutoLowRankMultivariateNormal}

TARGET_ACCEPT = 0.9
CAREFUL_TARGETS = (0.99, 0.995)
"""With ``target_accept=None`` NUTS adapts its step size towards an acceptance of ``TARGET_ACCEPT`` and, while any
transition diverges (in a pass or in its continuations, ``EXTENSIONS``), samples again towards each of these in
turn: smaller steps, about twice the leapfrog steps per draw at 0.99. The divergences this avoids sit where the
posterior's curvature changes fastest: the tail of low E in a supervised fit, where the reducible loss must grow and
the exponents shrink to fit the same runs; the transition's ridge in a distillation fit (measurements:
experiments/README.md, experiments/sturdy_distillation.py)."""

CAREFUL_WARMUP = 0.25
"""The careful pass's warm-up, as a share of the first's: each chain starts where it ended, with a mass matrix from
the first pass's draws (``careful_mass_matrix``), so only the step size is left to adapt (NumPyro; PyMC's twin
samples again from the start)."""

EXTENSIONS = 3
"""With ``extend=True`` (the default), a NUTS fit (NumPyro) whose chains end without divergences but short of the
diagnostics' goal (R-hat <= 1.01, bulk and tail ESS >= 400) goes on: each chain continues from its last draw with
its step size and mass matrix, by half the draws at a time, at most this many times. Continuing a chain with a
fixed kernel lengthens one Markov chain, so the draws stay a valid sample; the posterior records it
(``draws_extended``). A continuation that diverges is its pass's divergence: under the target rule the fit samples
again at the next of ``CAREFUL_TARGETS``, from the continued draws."""

EXTEND_RHAT_MAX = 1.05
"""Chains whose R-hat exceeds this disagree about where the mass is (one chain in a tail the others rarely visit,
or a second mode): more draws with each chain's own kernel do not mend that, so such a fit is not continued but
adapted again (``READAPT``)."""

READAPT = True
"""With ``extend=True``, NumPyro NUTS chains that end without divergences, continued as far as more draws can
mend them (``EXTENSIONS``) and still short of the diagnostics' goal, sample once more as a careful pass at their
own target with a whole warm-up (``_readapted``): each from its last draw, all with one mass matrix pooled from
their draws (``careful_mass_matrix``), and are continued in their turn. A chain that adapted to a tail the others
missed then moves with the same kernel as they do; the earlier draws count as warm-up, so the draws stay a valid
sample. The posterior records it (``readapted``)."""

FUNNEL_DIVERGENCES = 0.01
"""Share of divergent draws in power-law term coordinates above which, in at least half the chains, ``fit``
samples again in the coefficients' own coordinates: a prior-dominated posterior can be a funnel there (its spread
scales with gamma) and every chain meets it. Divergences in one chain of an informative fit (a step size adapted
a little too large) are only reported: coefficient coordinates would cost that fit twice the leapfrog steps."""

STARTS = 16
"""Multi-start optimisations (prior draws) of a fit of supervised runs only."""

STARTS_DISTILLED = 64
"""Multi-start optimisations of a fit with distilled runs: the distillation law's transition (c0, c1, f1, d1) has
local optima of nearly the same fit (c0 near 0.7 against 3.2 on the sturdy design), whose basins a few prior draws
often miss, and chains started there adapt on their way to the best mode, which costs time and sometimes mixing
(measurements: experiments/sturdy_distillation.py)."""


# -- the model's arguments ------------------------------------------------------------------------------------
def _checked_fix(fix: Mapping[str, float] | None) -> dict[str, float]:
    fix = dict(fix or {})
    unknown = set(fix) - set(COEFFICIENTS)
    if unknown:
        raise ValueError(f"fix has unknown coefficients {sorted(unknown)}; known: {list(COEFFICIENTS)}")
    for name, value in fix.items():
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"fix[{name!r}] must be finite and > 0; got {value!r}")
    return {k: float(v) for k, v in fix.items()}


def _model_arguments(runs: Any, prior: str | Mapping[str, Prior], fix: Mapping[str, float] | None, nu: float,
                     group_effects: bool | str, law_error: bool | str = "auto") -> tuple[xr.Dataset, ModelArgs]:
    """The validated runs table and ``law_model``'s arguments (in power-law term coordinates)."""
    if not nu > 0:
        raise ValueError(f"nu must be > 0; got {nu!r}")
    if group_effects not in (True, False, "auto"):
        raise ValueError(f"group_effects must be True, False or 'auto'; got {group_effects!r}")
    if law_error not in (True, False, "auto"):
        raise ValueError(f"law_error must be True, False or 'auto'; got {law_error!r}")
    runs = load_runs(runs)
    arrays = RunArrays.from_runs(runs)
    if group_effects == "auto":
        group_effects = bool(arrays.n_groups < arrays.log_loss.size)
    learnable = bool(arrays.size_directions.shape[1] >= 1)  # some size's error can be told from noise
    if law_error == "auto":
        law_error = learnable
    if law_error and not learnable:
        raise ValueError("law_error=True needs runs that share a student size, so that the law's error at a size "
                         "can be told from the runs' noise: at least two sizes of one kind, each with runs of two or "
                         "more groups (training runs); no kind of these runs has two such sizes")
    prior = resolve_prior(prior, float(runs["loss"].min()))
    return runs, ModelArgs(arrays, prior, _checked_fix(fix), float(nu), bool(group_effects),
                           law_error=bool(law_error))


# -- the methods -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FitSettings:
    """How a fit samples: chains x draws after warmup (NUTS) or from the guide after ``svi_steps`` (SVI), from the
    best of ``starts`` optimisations; ``target_accept`` None follows the rule of ``TARGET_ACCEPT``."""

    chains: int
    draws: int
    warmup: int
    seed: int
    starts: int
    svi_steps: int
    guide: str
    target_accept: float | None

    def __post_init__(self) -> None:
        for name in ("chains", "draws", "warmup", "starts", "svi_steps"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if self.target_accept is not None and not 0.0 < self.target_accept < 1.0:
            raise ValueError(f"target_accept must be in (0, 1); got {self.target_accept!r}")
        if self.guide not in GUIDES:
            raise ValueError(f"guide must be one of {list(GUIDES)}; got {self.guide!r}")


@dataclass(frozen=True)
class _Kernel:
    """Where NUTS chains ended their adaptation: each chain's step size and inverse mass matrix, and the target
    acceptance they were adapted to."""

    step_sizes: np.ndarray
    inverse_mass_matrices: np.ndarray
    target_accept: float


class Draws(NamedTuple):
    """A method's draws: unconstrained site values by (chain, draw), the sampler's statistics by (chain, draw),
    the model's arguments in the coordinates they were drawn in, and (NUTS) the kernel that drew them."""

    unconstrained: dict[str, np.ndarray]
    stats: dict[str, np.ndarray]
    args: ModelArgs
    kernel: _Kernel | None = None


def _is_funnel(diverging: np.ndarray) -> bool:
    """Whether divergence flags by (chain, draw) show a funnel: more than ``FUNNEL_DIVERGENCES`` of the draws
    diverged in at least half the chains."""
    per_chain = np.mean(np.asarray(diverging), axis=1) > FUNNEL_DIVERGENCES
    return bool(2 * np.sum(per_chain) >= per_chain.size)


def _nuts_by_the_rules(sample_once: Callable[..., tuple[Any, np.ndarray]], target_accept: float | None,
                       attrs: dict) -> tuple[Any, bool]:
    """NUTS as every fit runs it, whichever the backend. ``sample_once(term_coordinates, target)`` samples once and
    returns (its result, divergence flags by chain and draw). A funnel in the power-law terms' coordinates sends the
    fit to the coefficients' own (see ``law_model``); with ``target_accept=None`` divergences make it sample again
    towards each of ``CAREFUL_TARGETS`` while they last, as ``sample_once(term_coordinates, target, previous
    result)``, so that a backend may go on from it. Records both in ``attrs``; returns the last result and its
    coordinates."""
    target = target_accept or TARGET_ACCEPT
    term_coordinates = True
    result, diverging = sample_once(term_coordinates, target)
    attrs["coordinates"] = "power-law terms"
    if _is_funnel(diverging):  # the prior dominates: sample again in the coefficients' coordinates
        term_coordinates, divergent = False, int(np.sum(diverging))
        attrs["coordinates"] = f"coefficients (in power-law term coordinates {divergent} transitions diverged)"
        result, diverging = sample_once(term_coordinates, target)
    raised = []
    for careful in CAREFUL_TARGETS if target_accept is None else ():
        if not np.any(diverging):
            break
        raised.append(f"from {target} after {int(np.sum(diverging))} divergent transitions")
        attrs["target_accept_raised"] = ", then ".join(raised)
        target = careful  # smaller steps
        result, diverging = sample_once(term_coordinates, target, result)
    attrs["target_accept"] = target
    return result, term_coordinates


@dataclass(frozen=True)
class _NutsSettings:
    warmup: int
    draws: int
    target_accept: float
    adapt_mass_matrix: bool = True
    adapt_step_size: bool = True


def _nuts_chain(settings: _NutsSettings, args: ModelArgs, z0: dict, key: jax.Array, inverse_mass_matrix: jax.Array,
                step_size: jax.Array) -> tuple[dict, dict, tuple[jax.Array, jax.Array]]:
    """One NUTS chain from ``z0``: its unconstrained draws; per-draw divergence flags, tree sizes and energies; and
    its final step size and inverse mass matrix. The step size (from ``step_size``) if ``settings.adapt_step_size``,
    and the dense mass matrix (from ``inverse_mass_matrix``) if ``settings.adapt_mass_matrix``, adapt over the
    warm-up towards the target acceptance (a constant of the program: as an argument it took longer to compile)."""
    init_kernel, sample_kernel = hmc(potential_fn=potential(args), algo="NUTS")
    state = init_kernel(z0, settings.warmup, step_size=step_size, inverse_mass_matrix=inverse_mass_matrix,
                        adapt_step_size=settings.adapt_step_size, adapt_mass_matrix=settings.adapt_mass_matrix,
                        dense_mass=True, target_accept_prob=settings.target_accept, rng_key=key)

    def transition(s: Any, _: None) -> tuple[Any, tuple[dict, dict]]:
        s = sample_kernel(s)  # adapts step size and mass matrix over the first ``warmup`` transitions
        return s, (s.z, {"diverging": s.diverging, "num_steps": s.num_steps, "energy": s.energy})

    # One loop over warm-up and draws, so the tree builder is compiled once, not twice.
    state, trace = jax.lax.scan(transition, state, None, length=settings.warmup + settings.draws)
    draws, stats = jax.tree.map(lambda v: v[settings.warmup:], trace)
    return draws, stats, (state.adapt_state.step_size, state.adapt_state.inverse_mass_matrix)


def _nuts_program(args: ModelArgs, shapes: dict, chains: int, settings: _NutsSettings) -> Callable[..., tuple]:
    """The NUTS sampler, compiling in the background: ``(initial points, keys, inverse mass matrices, step sizes)``,
    each by chain -> draws, statistics and final (step sizes, inverse mass matrices) by chain. Chains run in
    parallel over devices when there are enough, else vectorised on one."""
    parallel = jax.local_device_count() >= chains
    program = Program(_nuts_chain, settings, chains="shard" if parallel else "vmap", devices=chains if parallel else 1)
    keys = jax.eval_shape(lambda: jax.random.split(jax.random.PRNGKey(0), chains))
    size = sum(int(np.prod(s.shape)) for s in jax.tree.leaves(shapes))
    matrices = jax.ShapeDtypeStruct((chains, size, size), jnp.result_type(float))
    step_sizes = jax.ShapeDtypeStruct((chains,), jnp.result_type(float))
    return compiled(program, args, batched(shapes, chains), keys, matrices, step_sizes)


def _jittered_starts(mode: dict, seed: int, chains: int) -> dict:
    """``chains`` small jitters of ``mode`` (unconstrained site values), one per chain and site."""
    flat, unravel = ravel_pytree(mode)
    jitter = 0.01 * np.random.default_rng(seed).standard_normal((chains, flat.size))
    return jax.vmap(unravel)(flat + jitter)


@dataclass(frozen=True)
class _Pass:
    """Where a NUTS pass starts: each chain's unconstrained point, inverse mass matrix and step size (the first
    guess where the step size adapts), and the settings."""

    starts: dict
    inverse_mass_matrices: np.ndarray
    step_sizes: np.ndarray
    settings: _NutsSettings


def _first_pass(start: dict, fs: FitSettings, target: float) -> _Pass:
    """Jitters of ``start``, an identity mass matrix adapted over the whole warm-up."""
    size = ravel_pytree(start)[0].size
    identity = np.broadcast_to(np.eye(size), (fs.chains, size, size))
    settings = _NutsSettings(fs.warmup, fs.draws, target)
    return _Pass(_jittered_starts(start, fs.seed + 1, fs.chains), identity, np.ones(fs.chains), settings)


def careful_mass_matrix(draws: np.ndarray) -> np.ndarray:
    """The careful pass's inverse mass matrix from the first pass's flat unconstrained draws (chain, draw, site):
    the chains' covariances (each shrunk towards a small diagonal as Stan's adaptation does) averaged on the log
    scale (their log-Euclidean mean). A plain covariance of all draws takes in one chain's excursion along a
    direction the data hardly fix (the D_S term's log size) and shrinks every chain's steps to suit it; on the log
    scale that chain widens the matrix by a root of its excursion, the chains in agreement give their covariance."""
    chains, n, size = draws.shape
    logs = np.zeros((size, size))
    for chain in range(chains):
        spread = np.atleast_2d(np.cov(draws[chain], rowvar=False)) if n > 1 else np.zeros((size, size))
        covariance = n / (n + 5.0) * spread + 5e-3 / (n + 5.0) * np.eye(size)
        values, vectors = np.linalg.eigh(covariance)
        logs += (vectors * np.log(values)) @ vectors.T / chains
    values, vectors = np.linalg.eigh(logs)
    return (vectors * np.exp(values)) @ vectors.T


def _careful_pass(previous: Draws, fs: FitSettings, target: float) -> _Pass:
    """From the last draw of each chain of ``previous``, with ``careful_mass_matrix`` of its draws and each chain's
    step size as the first guess, and a warm-up of ``CAREFUL_WARMUP`` that adapts the step size to ``target``."""
    flat = np.asarray(jax.vmap(jax.vmap(lambda z: ravel_pytree(z)[0]))(previous.unconstrained))
    matrix = careful_mass_matrix(flat)
    warmup = max(1, int(round(CAREFUL_WARMUP * fs.warmup)))
    return _Pass(jax.tree.map(lambda v: v[:, -1], previous.unconstrained),
                 np.broadcast_to(matrix, (fs.chains, *matrix.shape)), previous.kernel.step_sizes,
                 _NutsSettings(warmup, fs.draws, target, adapt_mass_matrix=False))


def _continuation(previous: Draws, draws: int) -> _Pass:
    """``draws`` more of each chain of ``previous``: from its last draw, with its kernel as it was, no warm-up."""
    kernel = previous.kernel
    settings = _NutsSettings(0, draws, kernel.target_accept, adapt_mass_matrix=False, adapt_step_size=False)
    return _Pass(jax.tree.map(lambda v: v[:, -1], previous.unconstrained), kernel.inverse_mass_matrices,
                 kernel.step_sizes, settings)


def _run_pass(args: ModelArgs, where: _Pass, key: jax.Array, chains: int) -> Draws:
    """One NUTS pass of ``chains`` chains, as ``where`` says, with random stream ``key``."""
    sampler = _nuts_program(args, latent_shapes(args), chains, where.settings)
    unconstrained, extra, (step_sizes, matrices) = sampler(
        where.starts, jax.random.split(key, chains), where.inverse_mass_matrices, where.step_sizes)
    stats = {"diverging": extra["diverging"], "n_steps": extra["num_steps"], "energy": extra["energy"]}
    kernel = _Kernel(np.asarray(step_sizes), np.asarray(matrices), where.settings.target_accept)
    return Draws(unconstrained, stats, args, kernel)


def _pass_key(fs: FitSettings, target: float, careful: bool) -> jax.Array:
    """The random stream of a NUTS pass: the first pass's, or one of its own for each careful target."""
    key = jax.random.PRNGKey(fs.seed + 1)
    return jax.random.fold_in(key, int(round(target * 10_000))) if careful else key


def _numpyro_nuts(args: ModelArgs, mode: dict, fs: FitSettings, attrs: dict, runs: xr.Dataset,
                  extend: bool) -> tuple[Draws, Any]:
    """NumPyro's NUTS by the rules of ``_nuts_by_the_rules``, from jitters of the mode; a careful pass goes on from
    the pass before it (``_careful_pass``). With ``extend``, each pass's chains go on while short of the goal
    (``_go_on_while_short``), and a continuation that diverges counts as its pass's divergence, so the rule samples
    again at the next target. Returns the draws and their DataTree (None where they diverged: not built yet)."""
    def sample_once(term_coordinates: bool, target: float,
                    previous: tuple[Draws, Any] | None = None) -> tuple[tuple[Draws, Any], np.ndarray]:
        chosen = args if term_coordinates else args.in_coefficient_coordinates()
        key = _pass_key(fs, target, careful=previous is not None)
        if previous is not None:
            where = _careful_pass(previous[0], fs, target)
        else:
            start = mode if term_coordinates else unconstrained_sites(chosen, compiled_site_values(args, mode))
            where = _first_pass(start, fs, target)
        for record in ("draws_extended", "readapted"):  # a new pass: what an earlier one did no longer holds
            attrs.pop(record, None)
        result, tree = _run_pass(chosen, where, key, fs.chains), None
        if extend:
            result, tree = _go_on_while_short(result, runs, fs, attrs, key)
        return (result, tree), np.asarray(result.stats["diverging"])

    (draws, tree), _ = _nuts_by_the_rules(sample_once, fs.target_accept, attrs)
    return draws, tree


def _extended(previous: Draws, fs: FitSettings, times: int, key: jax.Array) -> Draws:
    """``previous`` with each chain continued by half ``fs.draws`` (``_continuation``): the ``times``-th time, on a
    stream from its pass's ``key``."""
    more = _run_pass(previous.args, _continuation(previous, _extension_draws(fs)), jax.random.fold_in(key, 1 + times),
                     fs.chains)
    joined = jax.tree.map(lambda a, b: np.concatenate([np.asarray(a), np.asarray(b)], axis=1),
                          (previous.unconstrained, previous.stats), (more.unconstrained, more.stats))
    return Draws(*joined, previous.args, more.kernel)


def _extension_draws(fs: FitSettings) -> int:
    return max(1, fs.draws // 2)


def _short_of_goal(tree: Any, fs: FitSettings) -> bool:
    """Whether continuing the chains can mend a NUTS fit's diagnostics: they fail, yet no transition diverged,
    every R-hat is at most ``EXTEND_RHAT_MAX``, and at the chains' efficiency so far the longest continuation
    reaches ESS_MIN (a fit far short of it needs more than draws: a reparameterisation, a fixed coefficient)."""
    if int(np.sum(tree["sample_stats"]["diverging"].values)):
        return False
    worst_rhat, lowest_ess = _worst_mixing(tree)
    drawn, longest = tree["posterior"].sizes["draw"], fs.draws + EXTENSIONS * _extension_draws(fs)
    return (not _meets_goal(worst_rhat, lowest_ess) and worst_rhat <= EXTEND_RHAT_MAX
            and lowest_ess * longest / drawn >= ESS_MIN)


def _worst_mixing(tree: Any) -> tuple[float, float]:
    """The worst R-hat and the lowest bulk or tail ESS over a DataTree's posterior variables."""
    rhat, ess = mixing(tree)
    return max(rhat.values()), min(ess.values())


def _meets_goal(worst_rhat: float, lowest_ess: float) -> bool:
    """The diagnostics' goal for mixing: every R-hat at most ``RHAT_MAX``, every ESS at least ``ESS_MIN``."""
    return worst_rhat <= RHAT_MAX and lowest_ess >= ESS_MIN


def _readapted(previous: Draws, fs: FitSettings, key: jax.Array) -> Draws:
    """``fs.draws`` new draws of each chain of ``previous`` after a careful pass at its own target (``READAPT``),
    on stream ``key``. Its step size adapts over a whole warm-up, not a careful pass's share: chains that disagree
    sit where different steps suit them, and a short adaptation can settle on one that none of them mixes with."""
    where = _careful_pass(previous, fs, previous.kernel.target_accept)
    where = replace(where, settings=replace(where.settings, warmup=fs.warmup))
    return _run_pass(previous.args, where, key, fs.chains)


def _continued(draws: Draws, tree: Any, runs: xr.Dataset, fs: FitSettings, attrs: dict,
               key: jax.Array) -> tuple[Draws, Any]:
    """``draws`` (and their ``tree``) with their chains continued up to ``EXTENSIONS`` times while
    ``_short_of_goal``; with no tree where a continuation diverged."""
    for times in range(EXTENSIONS):
        if not _short_of_goal(tree, fs):
            break
        draws = _extended(draws, fs, times, key)
        attrs["draws_extended"] = f"from {fs.draws} to {draws.stats['diverging'].shape[1]} per chain"
        if np.any(draws.stats["diverging"]):
            return draws, None
        tree = _draws_tree(draws, runs, fs, attrs)
    return draws, tree


def _go_on_while_short(draws: Draws, runs: xr.Dataset, fs: FitSettings, attrs: dict,
                       key: jax.Array) -> tuple[Draws, Any]:
    """``draws`` continued while more draws can mend them (``_continued``) and, if they still fail the
    diagnostics, adapted again once (``READAPT``) and continued in their turn; with their DataTree. Draws that
    diverged (before, when adapted again or in a continuation) are returned as they are, with no tree: the target
    rule's."""
    if np.any(draws.stats["diverging"]):
        return draws, None
    draws, tree = _continued(draws, _draws_tree(draws, runs, fs, attrs), runs, fs, attrs, key)
    if tree is None or not READAPT:
        return draws, tree
    worst_rhat, lowest_ess = _worst_mixing(tree)
    if _meets_goal(worst_rhat, lowest_ess):
        return draws, tree
    attrs["readapted"] = (f"after R-hat {worst_rhat:.3f} and ESS {lowest_ess:.0f} in "
                          f"{tree['posterior'].sizes['draw']} draws per chain")
    attrs.pop("draws_extended", None)
    key = jax.random.fold_in(key, 0)  # a stream of its own
    draws = _readapted(draws, fs, key)
    if np.any(draws.stats["diverging"]):
        return draws, None
    return _continued(draws, _draws_tree(draws, runs, fs, attrs), runs, fs, attrs, key)


def _pymc_nuts(args: ModelArgs, mode: dict, fs: FitSettings, attrs: dict,
               labels: dict[str, np.ndarray]) -> tuple[Any, ModelArgs]:
    """PyMC's NUTS on the model's twin, by the same rules as NumPyro's, started at the mode; its DataTree, labelled
    as NumPyro's (``tree_labels``)."""
    from bayes_distill.inference.pymc_model import sample_pymc

    start = compiled_site_values(args, mode)  # PyMC's twin has the same latent sites (and deterministics)

    def sample_once(term_coordinates: bool, target: float, _: Any = None) -> tuple[tuple[Any, ModelArgs], np.ndarray]:
        chosen = args if term_coordinates else args.in_coefficient_coordinates()  # from the start at every pass
        latent = latent_shapes(chosen)
        tree = sample_pymc(chosen.runs, chosen.prior, chosen.fix, nu=chosen.nu, group_effects=chosen.group_effects,
                           chains=fs.chains, draws=fs.draws, warmup=fs.warmup, seed=fs.seed, target_accept=target,
                           initvals={k: float(v) for k, v in start.items() if k in latent and np.ndim(v) == 0},
                           term_coordinates=term_coordinates, law_error=chosen.law_error,
                           slope_coordinates=chosen.slope_coordinates, labels=labels)
        return (tree, chosen), tree["sample_stats"]["diverging"].values

    (tree, chosen), _ = _nuts_by_the_rules(sample_once, fs.target_accept, attrs)
    return tree, chosen


def _svi(args: ModelArgs, mode: dict, fs: FitSettings, attrs: dict) -> Draws:
    """A Gaussian guide fitted by SVI from the mode, and ``chains x draws`` draws of it with their log importance
    weights; the Pareto k of those weights says whether the guide can stand for the posterior."""
    start = compiled_site_values(args, mode)
    # An autoguide maps each site through the support it saw once, at its prototype; in the term coordinates
    # alpha_gamma's support scales with gamma, so SVI fits in the coefficients' own, whose supports are fixed.
    chosen = args.in_coefficient_coordinates()
    attrs["coordinates"] = "coefficients"
    guide = GUIDES[fs.guide](chosen.model(), init_loc_fn=init_to_value(values=start), init_scale=0.01)
    svi = SVI(chosen.model(), guide, numpyro.optim.ClippedAdam(5e-3), Trace_ELBO())
    result = svi.run(jax.random.PRNGKey(fs.seed + 1), fs.svi_steps, progress_bar=False)
    latent, log_weights = _guide_draws(guide, result.params, chosen, jax.random.PRNGKey(fs.seed + 2),
                                       fs.chains * fs.draws)
    unconstrained = {k: v.reshape(fs.chains, fs.draws, *v.shape[1:]) for k, v in latent.items()}
    log_weights = xr.DataArray(log_weights.reshape(fs.chains, fs.draws), dims=("chain", "draw"))
    attrs["svi_final_elbo_loss"] = float(result.losses[-1])
    attrs["svi_pareto_k"] = float(log_weights.azstats.psislw(dim=("chain", "draw"))[1])
    stats = {"elbo_loss": np.broadcast_to(np.asarray(result.losses[-1]), (fs.chains, fs.draws)),
             "log_importance_weight": log_weights.values}
    return Draws(unconstrained, stats, chosen)


def _guide_draws(guide: Any, params: dict, args: ModelArgs, key: jax.Array, n: int) -> tuple[dict, np.ndarray]:
    """``n`` draws of an autoguide (unconstrained site values) and their log importance weights
    log p(z, data) - log q(z), in nats: how far the guide is from the posterior (Yao et al. 2018)."""
    flat_posterior = guide.get_posterior(params)  # a Gaussian over the flattened unconstrained sites
    flat = flat_posterior.sample(key, (n,))
    latent = guide._unpack_latent(flat)
    log_density = jax.jit(jax.vmap(lambda z: -potential(args)(z)))(latent)
    return latent, np.asarray(log_density - flat_posterior.log_prob(flat))


# -- per-draw quantities and the DataTree ------------------------------------------------------------------------
def _draw_quantities(_: None, args: ModelArgs, unconstrained: dict) -> tuple[dict, dict, jax.Array, jax.Array]:
    """Unconstrained draws by (chain, draw) -> every latent and deterministic site, each run's log likelihood, and
    the location and scale of each run's log loss."""
    def one(z: dict) -> tuple[dict, jax.Array, jax.Array]:
        sites = site_values(args, z)
        mu, sigma = handlers.substitute(args.location_scale, data=sites)()
        return sites, mu, sigma

    samples, mu, sigma = jax.vmap(jax.vmap(one))(unconstrained)
    log_lik = log_likelihood(args.model(), samples, batch_ndims=2, parallel=True)
    return samples, log_lik, mu, sigma


def _draw_quantities_program(args: ModelArgs, shapes: dict, chains: int,
                             draws: int) -> Callable[[dict], tuple[dict, dict, jax.Array, jax.Array]]:
    """``_draw_quantities`` compiling in the background for ``chains`` x ``draws`` draws."""
    return compiled(Program(_draw_quantities), args, batched(batched(shapes, draws), chains))


def _posterior_predictive(mu: jax.Array, sigma: jax.Array, nu: float, rng: np.random.Generator) -> np.ndarray:
    """Replicated log losses: each draw's location and scale with Student-t noise from NumPy (JAX's Student-t
    sampler is a rejection loop, some 40 times slower on a CPU)."""
    return np.asarray(mu) + np.asarray(sigma) * rng.standard_t(nu, size=np.shape(mu))


def tree_labels(runs: xr.Dataset) -> dict[str, np.ndarray]:
    """The coordinates of a fit's DataTree, either engine's: run ids, group names and the law error's levels."""
    return {"run": runs["run"].values, "group": np.unique(runs["group"].values.astype(str)),
            "size": law_error_levels(runs["kind"].values.astype(str), runs["N"].values, runs["group"].values)[0]}


def _to_tree(groups: dict[str, dict], runs: xr.Dataset, attrs: dict) -> Any:
    """An ArviZ DataTree of ``groups`` (each a mapping of (chain, draw, ...) arrays) and the observed log losses,
    with dimensions ``run``, ``group`` and ``size`` (the law error's levels: ``law_error_levels``)."""
    import arviz_base

    data = {name: {k: np.asarray(v) for k, v in group.items()} for name, group in groups.items()}
    data["observed_data"] = {"log_loss": np.log(runs["loss"].values)}
    coords = tree_labels(runs)
    dims = {"log_loss": ["run"], "group_offset_raw": ["group"], "law_error_raw": ["law_error_direction"],
            "law_error_offset": ["size"]}
    tree = arviz_base.from_dict(data, coords=coords, dims=dims)
    tree.attrs = {**tree.attrs, **attrs}  # from_dict reads its attrs= per group; these describe the whole fit
    return tree


def _quantities_in_blocks(args: ModelArgs, unconstrained: dict, block: int) -> tuple[dict, dict, Any, Any]:
    """``_draw_quantities`` of draws by (chain, draw), ``block`` draws at a time, so that one program serves a fit
    however far its chains were continued (the last block is padded with copies of the last draw, then cut)."""
    chains, total = jax.tree.leaves(unconstrained)[0].shape[:2]
    padded = -(-total // block) * block
    quantities = _draw_quantities_program(args, latent_shapes(args), chains, block)
    padded_draws = jax.tree.map(lambda v: np.concatenate([v, np.repeat(v[:, -1:], padded - total, axis=1)], axis=1),
                                jax.tree.map(np.asarray, unconstrained))
    parts = [quantities(jax.tree.map(lambda v, i=i: v[:, i:i + block], padded_draws)) for i in range(0, padded, block)]
    return jax.tree.map(lambda *v: np.concatenate(v, axis=1)[:, :total], *parts)


def _draws_tree(draws: Draws, runs: xr.Dataset, fs: FitSettings, attrs: dict) -> Any:
    """The DataTree of a NumPyro method's draws: posterior, log likelihood, posterior predictive, statistics."""
    samples, log_lik, mu, sigma = _quantities_in_blocks(draws.args, draws.unconstrained, _extension_draws(fs))
    predictive = {"log_loss": _posterior_predictive(mu, sigma, draws.args.nu, np.random.default_rng(fs.seed + 3))}
    return _to_tree({"posterior": samples, "log_likelihood": log_lik, "posterior_predictive": predictive,
                     "sample_stats": draws.stats}, runs, attrs)


def _prior_draws(draws: int, args: ModelArgs, key: jax.Array) -> dict[str, jax.Array]:
    return latent_prior_draws(args, key, draws)


# -- the entry points --------------------------------------------------------------------------------------------
def _trace_programs(args: ModelArgs, fs: FitSettings, backend: str, method: str) -> Multistart:
    """The programs a fit needs, traced now and compiled one after another in the background in the order they are
    needed, so that the sampler compiles while the optimiser runs; returns the optimiser's."""
    shapes = latent_shapes(args)
    multistart = multistart_program(args, shapes, fs.starts)
    if backend == "numpyro" and method == "nuts":
        _nuts_program(args, shapes, fs.chains, _NutsSettings(fs.warmup, fs.draws, fs.target_accept or TARGET_ACCEPT))
        _draw_quantities_program(args, shapes, fs.chains, _extension_draws(fs))
    return multistart


def _model_attrs(args: ModelArgs) -> dict[str, Any]:
    """The model a DataTree's draws come from, as its attributes."""
    return {"nu": args.nu, "group_effects": int(args.group_effects), "law_error": int(args.law_error),
            "fix": repr(args.fix), "prior": repr(args.prior)}


def prior_predictive(
    runs: Any,
    prior: str | Mapping[str, Prior] = "default",
    fix: Mapping[str, float] | None = None,
    *,
    draws: int = 1000,
    seed: int = 0,
    nu: float = 4.0,
    group_effects: bool | str = "auto",
    law_error: bool | str = "auto",
) -> Any:
    """Prior predictive draws for the runs of ``runs`` (their N, D and teacher losses; their losses are only shown
    as observed data): an ArviZ DataTree with groups ``prior`` (every coefficient and noise scale, by chain and
    draw, one chain), ``prior_predictive`` (``log_loss``: log nats/token by chain, draw and run) and
    ``observed_data``. Arguments as for ``sample``; the programs are the fit's own, so it is quick after a fit."""
    configure_jax()
    if int(draws) != draws or draws < 1:
        raise ValueError(f"draws must be a positive integer; got {draws!r}")
    runs, args = _model_arguments(runs, prior, fix, nu, group_effects, law_error)
    args = args.in_term_coordinates()  # drawn forward, their sites give the prior
    prior_draws = compiled(Program(_prior_draws, int(draws)), args, key_shape())
    quantities = _draw_quantities_program(args, latent_shapes(args), 1, draws)
    latent = prior_draws(jax.random.PRNGKey(seed))
    samples, _, mu, sigma = quantities(jax.tree.map(lambda v: np.asarray(v)[None], latent))
    predictive = {"log_loss": _posterior_predictive(mu, sigma, nu, np.random.default_rng(seed + 1))}
    return _to_tree({"prior": samples, "prior_predictive": predictive}, runs, _model_attrs(args))


class FitResult(NamedTuple):
    """What sampling produced: the ArviZ DataTree, the validated runs, the model's arguments (in the coordinates
    the draws were taken in), and the final potential energy of every multi-start optimisation."""

    tree: Any
    runs: xr.Dataset
    model_args: ModelArgs
    multistart_energies: np.ndarray


def _checked_method(backend: str, method: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if backend == "pymc" and method != "nuts":
        raise ValueError(f"method={method!r} is only available with backend='numpyro'")


def _numpyro_tree(args: ModelArgs, mode: dict, fs: FitSettings, attrs: dict, runs: xr.Dataset, method: str,
                  extend: bool) -> tuple[Any, ModelArgs]:
    """NumPyro's NUTS or SVI from the mode: the DataTree of its draws, and the model's arguments in the coordinates
    they were drawn in."""
    draws, tree = _numpyro_nuts(args, mode, fs, attrs, runs, extend) if method == "nuts" else (
        _svi(args, mode, fs, attrs), None)
    return (_draws_tree(draws, runs, fs, attrs) if tree is None else tree), draws.args


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
    law_error: bool | str = "auto",
    starts: int | None = None,
    svi_steps: int = 4000,
    guide: str = "full-rank",
    target_accept: float | None = None,
    extend: bool = True,
) -> FitResult:
    """Fit the law model to ``runs`` (path, DataFrame or Dataset); ``bayes_distill.fit`` wraps it in a ``Posterior``.

    prior: "default" (weakly informative), "paper" (centred on Table 6) or a mapping of ``Prior`` per coefficient.
    fix: coefficients held at given values, e.g. {"gamma": 1.0} (Chinchilla form), or the six supervised ones (the
    paper's two-stage fit, whose comparisons with supervised training say they leave that law's uncertainty out:
    ``Posterior.supervised_law_fixed``). nu: Student-t degrees of freedom of the log-loss noise.
    group_effects: "auto" adds a per-group offset when some group holds more than one run.
    starts: prior draws the optimiser polishes to find the mode every chain starts near; None: ``STARTS``, or
    ``STARTS_DISTILLED`` when there are distilled runs.
    law_error: model the law's own error, an offset on log loss shared by the runs of one kind and student size
    (``law_error`` its spread, learned), which predictions at a size the fit has not seen draw afresh: intervals
    that hold where the fit extrapolates (``Posterior.law_error``). "auto" (the default) models it where it can be
    learned: when runs of several groups share a student size of one kind, for at least two sizes; then every size
    of that kind has its error (``law_error_levels``).
    target_accept: NUTS's target acceptance probability. None (the default): 0.9, and while any transition diverges
    the fit samples again at 0.99, then 0.995 (``CAREFUL_TARGETS``; recorded in the posterior's ``target_accept``
    and ``target_accept_raised`` attributes); a number is used as given.
    extend: NumPyro NUTS chains that end without divergences but short of R-hat <= 1.01 and ESS >= 400, by a margin
    more draws can close, go on from where they ended by half the draws at a time, at most three times (recorded in the
    posterior's ``draws_extended`` attribute; a continuation that diverges counts for the target rule as its pass
    does); chains still short where more draws cannot mend them (R-hat above 1.05, say) sample once more with one
    pooled mass matrix, the earlier draws as warm-up (``READAPT``; recorded in ``readapted``); False keeps ``draws``.
    method="svi" fits a full-rank (or ``guide="low-rank"``) Gaussian guide and draws ``chains x draws`` from it.
    Warns (``FitWarning``) when R-hat > 1.01, bulk ESS < 400 or a transition diverged (NUTS), or Pareto k > 0.7 (SVI).
    """
    configure_jax()
    _checked_method(backend, method)
    runs, args = _model_arguments(runs, prior, fix, nu, group_effects, law_error)
    starts = starts if starts is not None else (STARTS_DISTILLED if args.runs.distilled.size else STARTS)
    fs = FitSettings(chains, draws, warmup, seed, starts, svi_steps, guide, target_accept)
    mode, energies = best_start(_trace_programs(args, fs, backend, method), seed)
    attrs = {"backend": backend, "method": method, **_model_attrs(args),
             "multistart_best_potential": float(np.min(energies)), "multistart_starts": fs.starts}

    tree, args = (_pymc_nuts(args, mode, fs, attrs, tree_labels(runs)) if backend == "pymc"
                  else _numpyro_tree(args, mode, fs, attrs, runs, method, extend))
    tree.attrs = {**tree.attrs, **attrs}  # the rules' record, completed after the tree was built
    for message in diagnose(tree):
        warnings.warn(message, FitWarning, stacklevel=2)
    return FitResult(tree, runs, args, energies)
