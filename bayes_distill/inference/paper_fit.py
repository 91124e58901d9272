"""The paper's own fitting procedure (App. F of Busbridge et al. 2025): the baseline the Bayesian fit must beat.

Objective: sum of Huber(delta = 1e-4) on log residuals (log predicted - log observed loss, log nats/token),
divided by delta (the minimiser is unchanged; L-BFGS-B's tolerances then see O(1) numbers). Optimiser: SciPy
L-BFGS-B with the laws' gradients from JAX, from the paper's grid of starts. The supervised law is fitted
first; the distillation law is then fitted with the supervised coefficients frozen at their estimate, on the
measured teacher losses. Uncertainty: bootstrap over runs (resampling with replacement), 90% percentile intervals.

Deviations, for speed (documented, selectable):
- ``starts="paper"`` runs the full grid (supervised 5*5*6*4*4*4 = 9600 starts; distillation
  5*5*3*3*3*4*4*4*5 = 216000, too many to run, so the distillation grid is always subsampled: ``starts`` as an
  int draws that many grid points at random, without replacement, for each law).
- The grid is screened in one vectorised JAX loop (1000 projected Adam steps from every start at once); the
  ``polish`` = 32 best end points are then polished by SciPy L-BFGS-B, as the paper ran it from each start.
- Each bootstrap resample is refitted by L-BFGS-B from the full-data estimate (and ``bootstrap_starts`` further
  grid points), not from the whole grid.
- Bounds keep the law defined: exponents in [0, 5], f1 >= 1e-3 (the grid's f1 = 0 is moved there), c0 in [0, 10],
  c1 in [0, 1e4], log E, log d1 in [-3, 3], log scales in [-10, 50].
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from scipy.optimize import minimize

from bayes_distill.data.runs import load_runs
from bayes_distill.jax_settings import configure_jax
from bayes_distill.laws import DISTILLATION_COEFFICIENTS, SUPERVISED_COEFFICIENTS, LawParams
from bayes_distill.laws.equations import log_distilled_loss, log_supervised_loss

HUBER_DELTA = 1e-4
"""Huber threshold on log residuals (App. F)."""

SUPERVISED_GRID = {
    "log_E": (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5), "log_A": (0.0, 5.0, 10.0, 15.0, 20.0),
    "log_B": (0.0, 5.0, 10.0, 15.0, 20.0), "alpha": (0.0, 0.5, 1.0, 1.5), "beta": (0.0, 0.5, 1.0, 1.5),
    "gamma": (0.0, 0.5, 1.0, 1.5),
}
"""The paper's supervised grid of starts, by fitted parameter (9600 points)."""
SUPERVISED_BOUNDS = {"log_E": (-3.0, 3.0), "log_A": (-10.0, 50.0), "log_B": (-10.0, 50.0), "alpha": (0.0, 5.0),
                     "beta": (0.0, 5.0), "gamma": (0.0, 5.0)}

DISTILLATION_GRID = {
    "log_A_prime": (0.0, 5.0, 10.0, 15.0, 20.0), "log_B_prime": (0.0, 5.0, 10.0, 15.0, 20.0),
    "alpha_prime": (0.0, 0.5, 1.0), "beta_prime": (0.0, 0.5, 1.0), "gamma_prime": (0.0, 0.5, 1.0),
    "c0": (0.0, 0.5, 1.0, 1.5), "c1": (0.0, 0.5, 1.0, 1.5), "f1": (0.0, 0.5, 1.0, 1.5),
    "log_d1": (-1.0, -0.5, 0.0, 0.5, 1.0),
}
"""The paper's distillation grid of starts (216000 points; always subsampled here)."""
DISTILLATION_BOUNDS = {"log_A_prime": (-10.0, 50.0), "log_B_prime": (-10.0, 50.0), "alpha_prime": (0.0, 5.0),
                       "beta_prime": (0.0, 5.0), "gamma_prime": (0.0, 5.0), "c0": (0.0, 10.0), "c1": (0.0, 1e4),
                       "f1": (1e-3, 5.0), "log_d1": (-3.0, 3.0)}
DEFAULT_DISTILLATION_STARTS = 256


def _to_coefficients(names: tuple[str, ...], theta: np.ndarray) -> dict[str, np.ndarray]:
    """Fitted parameters (log_ for scales) to coefficients in their own units; works on a trailing axis."""
    out = {}
    for i, name in enumerate(names):
        value = theta[..., i]
        out[name.removeprefix("log_")] = np.exp(value) if name.startswith("log_") else value
    return out


def _jax_coefficients(names: tuple[str, ...], theta: jax.Array) -> dict[str, jax.Array]:
    return {n.removeprefix("log_"): (jnp.exp(theta[i]) if n.startswith("log_") else theta[i])
            for i, n in enumerate(names)}


def _huber_over_delta(r: jax.Array, delta: float) -> jax.Array:
    a = jnp.abs(r)
    return jnp.where(a <= delta, 0.5 * r**2 / delta, a - 0.5 * delta)


def _objective(log_pred: Callable[[jax.Array], jax.Array], delta: float) -> Callable:
    """jit(value_and_grad) of sum_i w_i Huber(log_pred(theta)_i - log_obs_i) / delta."""

    def f(theta: jax.Array, log_obs: jax.Array, weights: jax.Array) -> jax.Array:
        r = log_pred(theta) - log_obs
        return jnp.sum(weights * jnp.where(jnp.isfinite(r), _huber_over_delta(r, delta), 1e6))

    return jax.jit(jax.value_and_grad(f))


def _grid(grid: dict[str, tuple[float, ...]], bounds: dict[str, tuple[float, float]], starts: str | int,
          rng: np.random.Generator) -> np.ndarray:
    axes = [grid[k] for k in grid]
    size = int(np.prod([len(a) for a in axes]))
    if starts == "paper":
        points = np.array(list(itertools.product(*axes)), dtype=float)
    else:
        if int(starts) != starts or starts < 1:
            raise ValueError(f"starts must be 'paper' or a positive integer; got {starts!r}")
        flat = rng.choice(size, size=min(int(starts), size), replace=False)
        points = np.stack(np.unravel_index(flat, [len(a) for a in axes]), axis=-1)
        points = np.array([[axes[j][i] for j, i in enumerate(row)] for row in points], dtype=float)
    lo, hi = np.array([bounds[k] for k in grid]).T
    return np.clip(points, lo, hi)


def _lbfgsb(fg: Callable, x0: np.ndarray, args: tuple, bounds: list[tuple[float, float]]) -> tuple[np.ndarray, float]:
    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        v, g = fg(jnp.asarray(x), *args)
        v, g = float(v), np.asarray(g, dtype=float)
        return (v, g) if np.isfinite(v) and np.all(np.isfinite(g)) else (1e12, np.zeros_like(x))

    res = minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": 2000, "ftol": 1e-12, "gtol": 1e-9})
    return res.x, float(res.fun)


def _screen(fg: Callable, x0: jax.Array, log_obs: jax.Array, lo: jax.Array, hi: jax.Array,
            steps: int = 1000, lr: float = 0.05) -> tuple[jax.Array, jax.Array]:
    """Projected Adam from every start at once (vmapped, one compiled loop); returns the end points and objectives."""
    weights = jnp.ones_like(log_obs)

    def one(x: jax.Array) -> tuple[jax.Array, jax.Array]:
        def step(carry: tuple, t: jax.Array) -> tuple[tuple, None]:
            x, m, v = carry
            _, g = fg(x, log_obs, weights)
            g = jnp.where(jnp.isfinite(g), g, 0.0)
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g**2
            m_hat, v_hat = m / (1.0 - 0.9 ** (t + 1)), v / (1.0 - 0.999 ** (t + 1))
            rate = lr * (1.0 - t / steps) + 1e-3
            x = jnp.clip(x - rate * m_hat / (jnp.sqrt(v_hat) + 1e-12), lo, hi)
            return (x, m, v), None

        (x, _, _), _ = jax.lax.scan(step, (x, jnp.zeros_like(x), jnp.zeros_like(x)), jnp.arange(steps, dtype=float))
        return x, fg(x, log_obs, weights)[0]

    return jax.jit(jax.vmap(one))(x0)


def _fit_law(names: tuple[str, ...], grid: dict, bounds: dict, log_pred: Callable, log_obs: np.ndarray,
             starts: str | int, bootstrap: int, bootstrap_starts: int, rng: np.random.Generator,
             delta: float, polish: int = 32) -> tuple[np.ndarray, np.ndarray, float]:
    """Best fit over the grid, then ``bootstrap`` refits on resampled runs. Returns (theta, draws, objective)."""
    fg = _objective(log_pred, delta)
    log_obs_j = jnp.asarray(log_obs)
    bnds = [bounds[k] for k in names]
    ones = jnp.ones_like(log_obs_j)
    grid_points = _grid(grid, bounds, starts, rng)
    lo, hi = (jnp.asarray(b) for b in np.array(bnds).T)
    screened, values = _screen(fg, jnp.asarray(grid_points), log_obs_j, lo, hi)
    order = np.argsort(np.where(np.isfinite(values), values, np.inf))[:polish]
    best_x, best_f = None, np.inf
    for x0 in np.asarray(screened)[order]:
        x, f = _lbfgsb(fg, x0, (log_obs_j, ones), bnds)
        if f < best_f:
            best_x, best_f = x, f
    draws = np.empty((bootstrap, len(names)))
    n = log_obs.size
    for b in range(bootstrap):
        weights = jnp.asarray(np.bincount(rng.integers(0, n, n), minlength=n).astype(float))
        candidates = [best_x, *(_grid(grid, bounds, bootstrap_starts, rng) if bootstrap_starts else [])]
        fits = [_lbfgsb(fg, x0, (log_obs_j, weights), bnds) for x0 in candidates]
        draws[b] = min(fits, key=lambda t: t[1])[0]
    return best_x, draws, best_f * delta


def paper_fit(
    runs: object,
    *,
    starts: str | int = "paper",
    distillation_starts: int = DEFAULT_DISTILLATION_STARTS,
    bootstrap: int = 4096,
    bootstrap_starts: int = 0,
    interval: float = 0.9,
    delta: float = HUBER_DELTA,
    seed: int = 0,
) -> xr.Dataset:
    """Fit the laws to ``runs`` (anything ``load_runs`` reads) the paper's way; see the module docstring.

    starts: "paper" (the full supervised grid, 9600 L-BFGS-B runs, about a minute) or a number of grid points
    drawn at random (e.g. 200 for tests). distillation_starts: grid points for the distillation law.
    bootstrap: resamples of the runs (4096 in the paper; 0 for point estimates only). interval: central
    probability of the percentile intervals.

    Returns a Dataset over ``coefficient`` (the supervised six, plus the distillation nine when there are
    distilled runs): ``estimate``, ``lower``, ``upper`` (coefficient units: losses nats/token, scales as in the
    laws), and ``bootstrap_draws`` over (``bootstrap``, ``coefficient``); attrs hold the final objectives.
    """
    configure_jax()
    runs = load_runs(runs)
    rng = np.random.default_rng(seed)
    kind = runs["kind"].values.astype(str)
    N, D, loss = (runs[v].values.astype(float) for v in ("N", "D", "loss"))
    sup, dis = kind == "supervised", kind == "distilled"
    if not sup.any():
        raise ValueError("paper_fit needs supervised runs: the supervised law is fitted first")

    sup_names = tuple(SUPERVISED_GRID)
    sup_pred = partial(_supervised_prediction, jnp.asarray(N[sup]), jnp.asarray(D[sup]), sup_names)
    theta_s, draws_s, obj_s = _fit_law(sup_names, SUPERVISED_GRID, SUPERVISED_BOUNDS, sup_pred, np.log(loss[sup]),
                                       starts, bootstrap, bootstrap_starts, rng, delta)
    estimate = _to_coefficients(sup_names, theta_s)
    draws = _to_coefficients(sup_names, draws_s)
    attrs = {"supervised_objective": obj_s, "huber_delta": delta, "starts": str(starts), "bootstrap": bootstrap}

    if dis.any():  # the distillation law, with the supervised law frozen at its estimate
        dis_names = tuple(DISTILLATION_GRID)
        frozen = {k: float(estimate[k]) for k in SUPERVISED_COEFFICIENTS}
        inputs = (jnp.asarray(x[dis]) for x in (N, D, runs["teacher_loss"].values.astype(float)))
        dis_pred = partial(_distilled_prediction, *inputs, frozen, dis_names)
        theta_d, draws_d, obj_d = _fit_law(dis_names, DISTILLATION_GRID, DISTILLATION_BOUNDS, dis_pred,
                                           np.log(loss[dis]), distillation_starts, bootstrap, bootstrap_starts,
                                           rng, delta)
        estimate |= _to_coefficients(dis_names, theta_d)
        draws |= _to_coefficients(dis_names, draws_d)
        attrs["distillation_objective"] = obj_d
    return _fit_dataset(estimate, draws, bootstrap, interval, attrs)


def _supervised_prediction(N: jax.Array, D: jax.Array, names: tuple[str, ...], theta: jax.Array) -> jax.Array:
    """log L(N, D) of Eq. 1 at the coefficients ``theta`` (in the grid's coordinates, named ``names``)."""
    return log_supervised_loss(N, D, LawParams(**_jax_coefficients(names, theta)))


def _distilled_prediction(N_S: jax.Array, D_S: jax.Array, L_T: jax.Array, frozen: dict[str, float],
                          names: tuple[str, ...], theta: jax.Array) -> jax.Array:
    """log L_S of Eq. 8 at the distillation coefficients ``theta`` and the supervised ones ``frozen``."""
    return log_distilled_loss(N_S, D_S, L_T, LawParams(**frozen, **_jax_coefficients(names, theta)))


def _fit_dataset(estimate: dict, draws: dict, bootstrap: int, interval: float, attrs: dict) -> xr.Dataset:
    """The estimates, percentile intervals and bootstrap draws over ``coefficient``, in the laws' order."""
    names = [c for c in SUPERVISED_COEFFICIENTS + DISTILLATION_COEFFICIENTS if c in estimate]
    est = np.array([float(estimate[c]) for c in names])
    boot = np.stack([draws[c] for c in names], axis=-1) if bootstrap else np.full((0, len(names)), np.nan)
    q = (1.0 - interval) / 2.0
    lower = np.quantile(boot, q, axis=0) if bootstrap else np.full(len(names), np.nan)
    upper = np.quantile(boot, 1.0 - q, axis=0) if bootstrap else np.full(len(names), np.nan)
    return xr.Dataset(
        {"estimate": ("coefficient", est), "lower": ("coefficient", lower), "upper": ("coefficient", upper),
         "bootstrap_draws": (("bootstrap", "coefficient"), boot)},
        coords={"coefficient": names}, attrs=attrs | {"interval": interval},
    )


def paper_params(fit: xr.Dataset) -> LawParams:
    """The point estimate of a ``paper_fit`` result as ``LawParams``."""
    return LawParams.from_mapping({c: float(fit["estimate"].sel(coefficient=c)) for c in fit["coefficient"].values})


__all__ = ["DISTILLATION_GRID", "HUBER_DELTA", "SUPERVISED_GRID", "paper_fit", "paper_params"]
