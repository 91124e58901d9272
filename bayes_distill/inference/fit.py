"""Fitting the joint law model: NUTS (default) or SVI with NumPyro, or NUTS with PyMC.

Robustness: the distillation law's coefficients trade off and a naive sampler finds distant modes of similar
fit. Every fit therefore starts from the best of a multi-start optimisation of the posterior (Levenberg-Marquardt
from prior draws, vectorised and compiled), samples with a dense mass matrix in coordinates that decorrelate the
power-law terms (see ``model``), and then checks R-hat, ESS and divergences across chains: trouble is reported,
never hidden.

Speed: compiling is most of a cold fit on a CPU. The three programs of a fit (the optimiser, the sampler, and the
per-draw quantities) are traced up front and compiled one after another on a worker thread, in the order they are
needed, so the sampler compiles while the optimiser runs; each traces the model once (one loop over warm-up and
draws; Levenberg-Marquardt takes value, gradient and Hessian from one trace). The programs take the runs' values
and the prior's numbers as arguments, so new data of the same design reuse them (see ``_compiled``).
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
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
from numpyro.infer.util import constrain_fn, log_likelihood, potential_energy, unconstrain_fn

from bayes_distill.data import load_runs
from bayes_distill.inference.diagnostics import FitWarning, diagnose
from bayes_distill.inference.model import RunArrays, law_model, log_loss_location_scale
from bayes_distill.inference.priors import Prior, resolve_prior
from bayes_distill.jax_settings import configure_jax
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


def _latent_prior_draws(model_kwargs: dict, key: jax.Array, n: int) -> dict[str, jax.Array]:
    """``n`` joint draws of every latent site from the prior, mapped to the sampler's unconstrained space
    (traceable; the model runs with ``observe=False`` so nothing is conditioned)."""
    kwargs = {**model_kwargs, "observe": False}

    def draw(k: jax.Array) -> dict[str, jax.Array]:
        trace = handlers.trace(handlers.seed(law_model, k)).get_trace(**kwargs)
        latent = {name: site["value"] for name, site in trace.items()
                  if site["type"] == "sample" and name != "log_loss"}
        return unconstrain_fn(law_model, (), model_kwargs, latent)

    return jax.vmap(draw)(jax.random.split(key, n))


def _potential(model_kwargs: dict) -> Any:
    """The negative log posterior density (nats) of unconstrained site values, Jacobians included."""
    return lambda z: potential_energy(law_model, (), model_kwargs, z)


def _sites(model_kwargs: dict, unconstrained: dict) -> dict[str, jax.Array]:
    """Every latent and deterministic site (the coefficients among them) of one point of the sampler's space."""
    sites = constrain_fn(law_model, (), model_kwargs, unconstrained, return_deterministic=True)
    return {k: v for k, v in sites.items() if k != "log_loss"}


def _constrained_sites(model_kwargs: dict, unconstrained: dict) -> dict[str, jax.Array]:
    """``_sites`` of one point, compiled (once per design, like the fit's other programs)."""
    return _compiled(("sites",), _sites, model_kwargs, jax.eval_shape(lambda: unconstrained))(unconstrained)


FUNNEL_DIVERGENCES = 0.01
"""Share of divergent draws in power-law term coordinates above which, in at least half the chains, ``fit``
samples again in the coefficients' own coordinates: a prior-dominated posterior can be a funnel there (its spread
scales with gamma) and every chain meets it. Divergences in one chain of an informative fit (a step size adapted
a little too large) are only reported: coefficient coordinates would cost that fit twice the leapfrog steps."""


def _is_funnel(diverging: np.ndarray) -> bool:
    """Whether divergence flags by (chain, draw) show a funnel: more than ``FUNNEL_DIVERGENCES`` of the draws
    diverged in at least half the chains."""
    per_chain = np.mean(np.asarray(diverging), axis=1) > FUNNEL_DIVERGENCES
    return bool(2 * np.sum(per_chain) >= per_chain.size)


def _nuts_by_the_rules(sample_once: Callable[[bool, float], tuple[Any, np.ndarray]], target_accept: float | None,
                       attrs: dict) -> tuple[Any, bool]:
    """NUTS as every fit runs it, whichever the backend. ``sample_once(term_coordinates, target)`` samples once and
    returns (its result, divergence flags by chain and draw). A funnel in the power-law terms' coordinates sends the
    fit to the coefficients' own (see ``law_model``); with ``target_accept=None`` divergences make it sample again
    towards ``CAREFUL_TARGET_ACCEPT``. Records both in ``attrs``; returns the last result and its coordinates."""
    target = target_accept or TARGET_ACCEPT
    term_coordinates = True
    result, diverging = sample_once(term_coordinates, target)
    attrs["coordinates"] = "power-law terms"
    if _is_funnel(diverging):  # the prior dominates: sample again in the coefficients' coordinates
        term_coordinates, divergent = False, int(np.sum(diverging))
        attrs["coordinates"] = f"coefficients (in power-law term coordinates {divergent} transitions diverged)"
        result, diverging = sample_once(term_coordinates, target)
    if target_accept is None and np.any(diverging):  # smaller steps
        attrs["target_accept_raised"] = f"from {TARGET_ACCEPT} after {int(np.sum(diverging))} divergent transitions"
        target = CAREFUL_TARGET_ACCEPT
        result, diverging = sample_once(term_coordinates, target)
    attrs["target_accept"] = target
    return result, term_coordinates


def _latent_shapes(model_kwargs: dict) -> dict[str, jax.ShapeDtypeStruct]:
    """Shape and dtype of every latent site in the sampler's space (traced, not run)."""
    batch = jax.eval_shape(lambda: _latent_prior_draws(model_kwargs, jax.random.PRNGKey(0), 1))
    return {k: jax.ShapeDtypeStruct(v.shape[1:], v.dtype) for k, v in batch.items()}


def _unconstrained_sites(model_kwargs: dict, constrained: dict) -> dict[str, jax.Array]:
    """The model's latent sites in the sampler's space, from constrained values of (at least) those sites."""
    names = _latent_shapes(model_kwargs)
    return unconstrain_fn(law_model, (), model_kwargs, {k: constrained[k] for k in names})


def _batched(shapes: Any, n: int) -> Any:
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct((n, *s.shape), s.dtype), shapes)


_COMPILER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bayes-distill-xla")
"""One worker: XLA already spreads one compilation over the cores, so two at once only slow the first."""

OPTIONS = ("group_effects", "term_coordinates")
"""The model arguments that shape a compiled program. The others (the runs table, the prior, fixed values, nu) are
its arguments, so one program, and the persistent cache's copy of it, serves every table and prior of one form."""


PROGRAMS_KEPT = 16
"""Compiled programs kept in memory, so that fitting new data of one design again skips tracing as well."""

_PROGRAMS: OrderedDict[tuple, Future] = OrderedDict()


def _compiled(name: tuple, fn: Callable[..., Any], model_kwargs: dict, *example_args: Any,
              transform: Callable[[Callable], Any] = jax.jit) -> Callable[..., Any]:
    """``fn(model_kwargs, *args)`` compiled with the model's data as an argument; returns ``run(*args)``, which
    waits for the compilation and runs it on this fit's data.

    ``name`` must tell apart everything ``fn`` closes over, and the ``transform`` (jit, or how chains are mapped
    over devices). A program of the same name, options, data structure
    and shapes compiled earlier in this process is reused; otherwise ``fn`` is traced now and compiled on the
    worker thread (XLA compiles without the GIL, so this thread goes on tracing and running). Tracing stays on the
    calling thread: NumPyro's effect handlers live on one global stack, which two tracing threads would mix."""
    data = {k: v for k, v in model_kwargs.items() if k not in OPTIONS}
    options = {k: v for k, v in model_kwargs.items() if k in OPTIONS}
    leaves, structure = jax.tree.flatten((data, example_args))
    key = (name, tuple(sorted(options.items())), structure,
           tuple((np.shape(x), str(getattr(x, "dtype", np.result_type(x)))) for x in leaves))
    if key in _PROGRAMS:
        _PROGRAMS.move_to_end(key)
    else:
        lowered = transform(lambda data, *args: fn({**data, **options}, *args)).lower(data, *example_args)
        _PROGRAMS[key] = _COMPILER.submit(lowered.compile)
        if len(_PROGRAMS) > PROGRAMS_KEPT:
            _PROGRAMS.popitem(last=False)
    program = _PROGRAMS[key]
    return lambda *args: program.result()(data, *args)


TARGET_ACCEPT = 0.9
CAREFUL_TARGET_ACCEPT = 0.99
"""With ``target_accept=None`` NUTS adapts its step size towards an acceptance of ``TARGET_ACCEPT`` and, if any
transition diverges, samples again towards ``CAREFUL_TARGET_ACCEPT``: smaller steps, about twice the leapfrog steps
per draw. Measured on 20 simulated supervised tables of 250 runs (4 x 1000 draws): 7 fits had divergences at 0.9
(1-6 each, and one chain with 109), 6 at 0.95 and none at 0.99 (R-hat <= 1.007, bulk ESS >= 609). The divergences
sit in the tail of low E, where the reducible loss must grow and the exponents shrink to fit the same runs."""


def _nuts_program(model_kwargs: dict, shapes: dict, chains: int, warmup: int, draws: int,
                  target_accept: float) -> Callable[..., tuple[dict, dict]]:
    """The NUTS sampler, compiling in the background: ``(initial points, keys)``, each by chain -> unconstrained
    draws by chain and per-draw divergence flags, tree sizes and energies. The dense mass matrix (from the identity)
    and the step size adapt over ``warmup`` towards an acceptance of ``target_accept`` (a constant of the program:
    as an argument it took 0.3-0.5 s more to compile); chains run in parallel over devices when there are enough,
    else vectorised on one."""

    def chain(kwargs: dict, z0: dict, key: jax.Array) -> tuple[dict, dict]:
        init_kernel, sample_kernel = hmc(potential_fn=_potential(kwargs), algo="NUTS")
        state = init_kernel(z0, warmup, dense_mass=True, target_accept_prob=target_accept, rng_key=key)

        def transition(s: Any, _: None) -> tuple[Any, tuple[dict, dict]]:
            s = sample_kernel(s)  # adapts step size and mass matrix over the first ``warmup`` transitions
            return s, (s.z, {"diverging": s.diverging, "num_steps": s.num_steps, "energy": s.energy})

        # One loop over warm-up and draws, so the tree builder is compiled once, not twice.
        _, trace = jax.lax.scan(transition, state, None, length=warmup + draws)
        return jax.tree.map(lambda v: v[warmup:], trace)

    by_chain = (None, 0, 0)  # the data are shared; starts and keys are per chain
    parallel = jax.local_device_count() >= chains
    if parallel:
        transform = partial(jax.pmap, in_axes=by_chain)
    else:
        def transform(f: Callable) -> Any:
            return jax.jit(jax.vmap(f, in_axes=by_chain))
    keys = jax.eval_shape(lambda: jax.random.split(jax.random.PRNGKey(0), chains))
    return _compiled(("nuts", chains, warmup, draws, target_accept, "pmap" if parallel else "vmap"), chain,
                     model_kwargs, _batched(shapes, chains), keys, transform=transform)


def _nuts(program: Callable[..., tuple[dict, dict]], mode: dict, seed: int, chains: int) -> tuple[dict, dict]:
    """Run a ``_nuts_program`` from ``chains`` small jitters of ``mode``: unconstrained draws by chain, and the
    sampler's per-draw statistics."""
    flat, unravel = ravel_pytree(mode)
    jitter = 0.01 * np.random.default_rng(seed).standard_normal((chains, flat.size))  # one per chain and site
    init = jax.vmap(unravel)(flat + jitter)
    return program(init, jax.random.split(jax.random.PRNGKey(seed), chains))


def _draw_quantities_program(model_kwargs: dict, shapes: dict, chains: int,
                             draws: int) -> Callable[[dict], tuple[dict, dict, jax.Array, jax.Array]]:
    """Compiling in the background: unconstrained draws by (chain, draw) -> every latent and deterministic site,
    each run's log likelihood, and the location and scale of each run's log loss."""

    def quantities(kwargs: dict, unconstrained: dict) -> tuple[dict, dict, jax.Array, jax.Array]:
        arguments = {k: v for k, v in kwargs.items() if k != "nu"}  # the likelihood's nu is not the law's

        def one(z: dict) -> tuple[dict, jax.Array, jax.Array]:
            sites = _sites(kwargs, z)
            mu, sigma = handlers.substitute(log_loss_location_scale, data=sites)(**arguments)
            return sites, mu, sigma

        samples, mu, sigma = jax.vmap(jax.vmap(one))(unconstrained)
        log_lik = log_likelihood(law_model, samples, batch_ndims=2, parallel=True, **kwargs)
        return samples, log_lik, mu, sigma

    return _compiled(("draw quantities",), quantities, model_kwargs, _batched(_batched(shapes, draws), chains))


def _posterior_predictive(mu: jax.Array, sigma: jax.Array, nu: float, rng: np.random.Generator) -> np.ndarray:
    """Replicated log losses: each draw's location and scale with Student-t noise from NumPy (JAX's Student-t
    sampler is a rejection loop, some 40 times slower on a CPU)."""
    return np.asarray(mu) + np.asarray(sigma) * rng.standard_t(nu, size=np.shape(mu))


NEWTON_STEPS = 400
"""Levenberg-Marquardt iterations per start: enough to converge from a prior draw (tens of dimensions)."""


def _levenberg_marquardt(energy: Any, x: jax.Array, steps: int) -> tuple[jax.Array, jax.Array]:
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


class _Multistart(NamedTuple):
    program: Callable[[jax.Array], tuple[jax.Array, jax.Array]]  # key -> (polished points, potential energies)
    unravel: Any  # flat point -> site values


def _multistart_program(model_kwargs: dict, shapes: dict, starts: int) -> _Multistart:
    """The multi-start optimiser as one program (compiling in the background): ``starts`` prior draws from a key,
    each polished by Levenberg-Marquardt in the unconstrained space, all at once."""
    _, unravel = ravel_pytree(jax.tree.map(jnp.zeros_like, shapes))

    def optimise(kwargs: dict, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        potential = _potential(kwargs)

        def energy(x: jax.Array) -> jax.Array:
            value = potential(unravel(x))
            return jnp.where(jnp.isfinite(value), value, 1e30)  # a start outside the support loses, never crashes

        x0 = jax.vmap(lambda z: ravel_pytree(z)[0])(_latent_prior_draws(kwargs, key, starts))
        return jax.vmap(lambda x: _levenberg_marquardt(energy, x, NEWTON_STEPS))(x0)

    key = jax.eval_shape(lambda: jax.random.PRNGKey(0))
    return _Multistart(_compiled(("multistart", starts, NEWTON_STEPS), optimise, model_kwargs, key), unravel)


def _best_start(multistart: _Multistart, seed: int) -> tuple[dict[str, jax.Array], np.ndarray]:
    """The best polished point (site values) and every start's energy."""
    x, energies = multistart.program(jax.random.PRNGKey(seed))
    energies = np.where(np.asarray(energies) < 1e30, np.asarray(energies), np.inf)
    return multistart.unravel(x[int(np.argmin(energies))]), energies


def multistart_map(model_kwargs: dict, seed: int, starts: int) -> tuple[dict[str, jax.Array], np.ndarray]:
    """The posterior mode from ``starts`` prior draws, each polished by Levenberg-Marquardt in the unconstrained space;
    all starts run at once, vectorised and compiled by JAX.

    Returns the best point (unconstrained site values) and every start's final potential energy
    (negative log density), so that distant optima of similar fit can be reported.
    """
    configure_jax()
    return _best_start(_multistart_program(model_kwargs, _latent_shapes(model_kwargs), starts), seed)


def _guide_draws(guide: Any, params: dict, model_kwargs: dict, key: jax.Array, n: int) -> tuple[dict, np.ndarray]:
    """``n`` draws of an autoguide (unconstrained site values) and their log importance weights
    log p(z, data) - log q(z), in nats: how far the guide is from the posterior (Yao et al. 2018)."""
    flat_posterior = guide.get_posterior(params)  # a Gaussian over the flattened unconstrained sites
    flat = flat_posterior.sample(key, (n,))
    latent = guide._unpack_latent(flat)
    log_density = jax.jit(jax.vmap(lambda z: -_potential(model_kwargs)(z)))(latent)
    return latent, np.asarray(log_density - flat_posterior.log_prob(flat))


def _to_tree(groups: dict[str, dict], runs: xr.Dataset, attrs: dict) -> Any:
    """An ArviZ DataTree of ``groups`` (each a mapping of (chain, draw, ...) arrays) and the observed log losses,
    with dimensions ``run`` and ``group``."""
    import arviz_base

    data = {name: {k: np.asarray(v) for k, v in group.items()} for name, group in groups.items()}
    data["observed_data"] = {"log_loss": np.log(runs["loss"].values)}
    coords = {"run": runs["run"].values, "group": np.unique(runs["group"].values.astype(str))}
    tree = arviz_base.from_dict(data, coords=coords, dims={"log_loss": ["run"], "group_offset_raw": ["group"]})
    tree.attrs = {**tree.attrs, **attrs}  # from_dict reads its attrs= per group; these describe the whole fit
    return tree


def _model_arguments(runs: Any, prior: str | Mapping[str, Prior], fix: Mapping[str, float] | None, nu: float,
                     group_effects: bool | str) -> tuple[xr.Dataset, dict]:
    """The validated runs table and ``law_model``'s arguments (in power-law term coordinates)."""
    if not nu > 0:
        raise ValueError(f"nu must be > 0; got {nu!r}")
    if group_effects not in (True, False, "auto"):
        raise ValueError(f"group_effects must be True, False or 'auto'; got {group_effects!r}")
    runs = load_runs(runs)
    arrays = RunArrays.from_runs(runs)
    if group_effects == "auto":
        group_effects = bool(arrays.n_groups < arrays.log_loss.size)
    return runs, {"runs": arrays, "prior": resolve_prior(prior, float(runs["loss"].min())), "fix": _checked_fix(fix),
                  "nu": nu, "group_effects": bool(group_effects), "term_coordinates": True}


def prior_predictive(
    runs: Any,
    prior: str | Mapping[str, Prior] = "default",
    fix: Mapping[str, float] | None = None,
    *,
    draws: int = 1000,
    seed: int = 0,
    nu: float = 4.0,
    group_effects: bool | str = "auto",
) -> Any:
    """Prior predictive draws for the runs of ``runs`` (their N, D and teacher losses; their losses are only shown
    as observed data): an ArviZ DataTree with groups ``prior`` (every coefficient and noise scale, by chain and
    draw, one chain), ``prior_predictive`` (``log_loss``: log nats/token by chain, draw and run) and
    ``observed_data``. Arguments as for ``sample``; the programs are the fit's own, so it is quick after a fit."""
    configure_jax()
    if int(draws) != draws or draws < 1:
        raise ValueError(f"draws must be a positive integer; got {draws!r}")
    runs, model_kwargs = _model_arguments(runs, prior, fix, nu, group_effects)
    shapes = _latent_shapes(model_kwargs)
    prior_draws = _compiled(("prior draws", draws), lambda kwargs, key: _latent_prior_draws(kwargs, key, draws),
                            model_kwargs, jax.eval_shape(lambda: jax.random.PRNGKey(0)))
    quantities = _draw_quantities_program(model_kwargs, shapes, 1, draws)
    latent = prior_draws(jax.random.PRNGKey(seed))
    samples, _, mu, sigma = quantities(jax.tree.map(lambda v: np.asarray(v)[None], latent))
    predictive = {"log_loss": _posterior_predictive(mu, sigma, nu, np.random.default_rng(seed + 1))}
    attrs = {"nu": nu, "group_effects": int(model_kwargs["group_effects"]), "fix": repr(model_kwargs["fix"]),
             "prior": repr(model_kwargs["prior"])}
    return _to_tree({"prior": samples, "prior_predictive": predictive}, runs, attrs)


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
    target_accept: float | None = None,
) -> FitResult:
    """Fit the law model to ``runs`` (a path, DataFrame or ``load_runs`` Dataset); ``bayes_distill.fit`` wraps
    the result in a ``Posterior``.

    prior: "default" (weakly informative), "paper" (centred on Table 6) or a mapping of ``Prior`` per coefficient.
    fix: coefficients held at given values, e.g. {"gamma": 1.0} (Chinchilla form), or the six supervised ones
    (the paper's two-stage procedure). nu: Student-t degrees of freedom of the log-loss noise.
    group_effects: "auto" adds a per-group offset when some group holds more than one run.
    target_accept: NUTS's target acceptance probability. None (the default): 0.9, and if any transition diverges the
    fit samples again at 0.99 (recorded in the posterior's ``target_accept`` attribute); a number is used as given.
    method="svi" fits a full-rank (or ``guide="low-rank"``) Gaussian guide and draws ``chains x draws`` from it.
    Warns with ``FitWarning`` when R-hat > 1.01, bulk ESS < 400 or any transition diverged (NUTS), or when the Pareto
    k of the guide's importance weights exceeds 0.7 (SVI).
    """
    configure_jax()
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if backend == "pymc" and method != "nuts":
        raise ValueError(f"method={method!r} is only available with backend='numpyro'")
    for name, value in (("chains", chains), ("draws", draws), ("warmup", warmup), ("starts", starts)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    if target_accept is not None and not 0.0 < target_accept < 1.0:
        raise ValueError(f"target_accept must be in (0, 1); got {target_accept!r}")
    runs, model_kwargs = _model_arguments(runs, prior, fix, nu, group_effects)
    arrays, prior, fix, group_effects = (model_kwargs[k] for k in ("runs", "prior", "fix", "group_effects"))

    # Traced here, compiled one after another in the background, in the order they are needed.
    shapes = _latent_shapes(model_kwargs)
    multistart = _multistart_program(model_kwargs, shapes, starts)
    if backend == "numpyro" and method == "nuts":  # traced now so that they compile while the optimiser runs
        _nuts_program(model_kwargs, shapes, chains, warmup, draws, target_accept or TARGET_ACCEPT)
        _draw_quantities_program(model_kwargs, shapes, chains, draws)
    mode, energies = _best_start(multistart, seed)
    key = jax.random.PRNGKey(seed + 1)
    attrs = {"backend": backend, "method": method, "nu": nu, "group_effects": int(bool(group_effects)),
             "fix": repr(fix), "prior": repr(prior), "multistart_best_potential": float(np.min(energies))}

    if backend == "pymc":
        from bayes_distill.inference.pymc_model import sample_pymc

        start = _constrained_sites(model_kwargs, mode)  # PyMC's twin has the same latent sites (and deterministics)

        def pymc_nuts(term_coordinates: bool, target: float) -> tuple[Any, np.ndarray]:
            latent = shapes if term_coordinates else _latent_shapes({**model_kwargs, "term_coordinates": False})
            tree = sample_pymc(arrays, prior, fix, nu=nu, group_effects=bool(group_effects), chains=chains,
                               draws=draws, warmup=warmup, seed=seed, target_accept=target,
                               initvals={k: float(v) for k, v in start.items() if k in latent and np.ndim(v) == 0},
                               term_coordinates=term_coordinates)
            return tree, tree["sample_stats"]["diverging"].values

        tree, term_coordinates = _nuts_by_the_rules(pymc_nuts, target_accept, attrs)
        tree.attrs = {**tree.attrs, **attrs}
        for message in diagnose(tree):
            warnings.warn(message, FitWarning, stacklevel=2)
        return FitResult(tree, runs, {**model_kwargs, "term_coordinates": term_coordinates}, energies)

    if method == "nuts":
        def numpyro_nuts(term_coordinates: bool, target: float) -> tuple[Any, np.ndarray]:
            kwargs = model_kwargs if term_coordinates else {**model_kwargs, "term_coordinates": False}
            latent = shapes if term_coordinates else _latent_shapes(kwargs)  # other sites in these coordinates
            start = mode if term_coordinates else _unconstrained_sites(kwargs, _constrained_sites(model_kwargs, mode))
            sampler = _nuts_program(kwargs, latent, chains, warmup, draws, target)  # compiled once per target
            unconstrained, extra = _nuts(sampler, start, seed + 1, chains)
            return (unconstrained, extra, kwargs, latent), extra["diverging"]

        (unconstrained, extra, model_kwargs, shapes), _ = _nuts_by_the_rules(numpyro_nuts, target_accept, attrs)
        draw_quantities = _draw_quantities_program(model_kwargs, shapes, chains, draws)
        stats = {"diverging": extra["diverging"], "n_steps": extra["num_steps"], "energy": extra["energy"]}
    else:
        make_guide = {"full-rank": autoguide.AutoMultivariateNormal,
                      "low-rank": autoguide.AutoLowRankMultivariateNormal}
        if guide not in make_guide:
            raise ValueError(f"guide must be one of {list(make_guide)}; got {guide!r}")
        start = _constrained_sites(model_kwargs, mode)
        # An autoguide maps each site through the support it saw once, at its prototype; in the term coordinates
        # alpha_gamma's support scales with gamma, so SVI fits in the coefficients' own, whose supports are fixed.
        model_kwargs = {**model_kwargs, "term_coordinates": False}
        shapes = _latent_shapes(model_kwargs)
        draw_quantities = _draw_quantities_program(model_kwargs, shapes, chains, draws)
        attrs["coordinates"] = "coefficients"
        q = make_guide[guide](law_model, init_loc_fn=init_to_value(values=start), init_scale=0.01)
        svi = SVI(law_model, q, numpyro.optim.ClippedAdam(5e-3), Trace_ELBO())
        result = svi.run(key, svi_steps, progress_bar=False, **model_kwargs)
        latent, log_weights = _guide_draws(q, result.params, model_kwargs, jax.random.PRNGKey(seed + 2),
                                           chains * draws)
        unconstrained = {k: v.reshape(chains, draws, *v.shape[1:]) for k, v in latent.items()}
        log_weights = xr.DataArray(log_weights.reshape(chains, draws), dims=("chain", "draw"))
        stats = {"elbo_loss": np.broadcast_to(np.asarray(result.losses[-1]), (chains, draws)),
                 "log_importance_weight": log_weights.values}
        attrs["svi_final_elbo_loss"] = float(result.losses[-1])
        attrs["svi_pareto_k"] = float(log_weights.azstats.psislw(dim=("chain", "draw"))[1])

    unconstrained = jax.tree.map(np.asarray, unconstrained)  # gathered from the chains' devices
    samples, log_lik, mu, sigma = draw_quantities(unconstrained)
    predictive = {"log_loss": _posterior_predictive(mu, sigma, nu, np.random.default_rng(seed + 3))}
    tree = _to_tree({"posterior": samples, "log_likelihood": log_lik, "posterior_predictive": predictive,
                     "sample_stats": stats}, runs, attrs)
    for message in diagnose(tree):
        warnings.warn(message, FitWarning, stacklevel=2)
    return FitResult(tree, runs, model_kwargs, energies)
