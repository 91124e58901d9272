"""The law's own error at student sizes a fit has not seen (``fit(..., law_error=True)``).

The model gives every fitted student size of a kind an offset on log loss, independent Normal(0, law_error), but
fits only the part of them the law cannot say (``law_error_directions``): their mean, trend and curvature in log N
went into the law's coefficients. At a new size the error is therefore the size's own offset less what the law
makes, out there, of the offsets it absorbed at the fitted sizes. This module computes that second part through the
law itself, linearised: how far the coefficients move to absorb offsets (the least-squares update weighted by their
posterior covariance) and how that move changes the loss at the new size. A power law extrapolates what it absorbed
gently (the move fades with N as the law's terms do), which a polynomial in log N would not.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from bayes_distill.inference.model import LAW_ERROR_POWERS, law_error_basis, law_error_basis_size, size_labels
from bayes_distill.jax_settings import configure_jax
from bayes_distill.laws import COEFFICIENTS, LawParams
from bayes_distill.laws.equations import log_distilled_loss, log_supervised_loss

_STEP = 1e-5  # the central differences' step, in the coefficients' coordinates (log where positive)


@dataclass(frozen=True)
class FittedSizes:
    """The runs of one kind at the student sizes its law error was fitted on."""

    kind: str
    N: np.ndarray  # the fitted sizes (parameters), sorted
    run_size: np.ndarray  # each run's index into N
    run_inputs: tuple[np.ndarray, ...]  # the law's inputs for each run: N, D (and L_T for distilled runs)

    @classmethod
    def of(cls, runs: xr.Dataset, levels: np.ndarray, kind: str) -> FittedSizes:
        """The runs of ``kind`` at the fit's law-error levels (``levels``: the posterior's ``size`` labels)."""
        kinds, sizes = runs["kind"].values.astype(str), runs["N"].values.astype(float)
        rows = np.flatnonzero(np.isin(size_labels(kinds, sizes), levels.astype(str)) & (kinds == kind))
        N, run_size = np.unique(sizes[rows], return_inverse=True)
        inputs = (sizes[rows], runs["D"].values[rows].astype(float))
        if kind == "distilled":
            inputs = (*inputs, runs["teacher_loss"].values[rows].astype(float))
        return cls(kind, N, run_size, inputs)

    def typical_inputs(self, N: np.ndarray) -> tuple[np.ndarray, ...]:
        """The law's inputs at sizes ``N`` for runs like the fitted ones: their geometric mean tokens per parameter
        and (distilled) median teacher loss. The law error is a function of size alone, so it is carried out at
        the fitted runs' typical ratio."""
        run_N, run_D = self.run_inputs[:2]
        inputs = (N, N * np.exp(np.mean(np.log(run_D / run_N))))
        return (*inputs, np.full(N.size, np.median(self.run_inputs[2]))) if self.kind == "distilled" else inputs


def moved_coefficients(params: xr.Dataset, names: list[str], move: np.ndarray) -> dict[str, np.ndarray]:
    """The coefficients ``names`` of every draw moved by ``move`` (chain, draw, coefficient; or one coefficient
    vector for all draws), each in its coordinate: its log when positive in every draw, else itself."""
    moved = {}
    for k, name in enumerate(names):
        values, shift = params[name].values, np.asarray(move)[..., k]
        moved[name] = values * np.exp(shift) if np.all(values > 0) else values + shift
    return moved


def _shifted(params: xr.Dataset, names: list[str], direction: np.ndarray, step: float) -> LawParams:
    """The coefficients of every draw moved by ``step`` times ``direction`` (``moved_coefficients``)."""
    values = {c: params[c].values for c in COEFFICIENTS}
    return LawParams(**{**values, **moved_coefficients(params, names, step * np.asarray(direction))})


def directional_derivative(kind: str, params: xr.Dataset, names: list[str], direction: np.ndarray,
                           inputs: tuple[np.ndarray, ...], compiled: bool = False) -> np.ndarray:
    """d log L along ``direction`` of the coefficients (in ``_shifted``'s coordinates) at ``inputs`` (the law's,
    per point), for every draw, by a central difference: two evaluations of the law whatever the number of
    coefficients; (chain, draw, point). ``compiled``: evaluate the law compiled by JAX (float64), worth its
    compilation for many points at one shape."""
    def law(step: float) -> np.ndarray:
        shifted = _shifted(params, names, direction, step)
        if compiled:
            return np.asarray(_compiled_log_loss(kind, tuple(jnp.asarray(x) for x in inputs),
                                                 LawParams(*(jnp.asarray(v) for v in shifted))))
        return (log_supervised_loss if kind == "supervised" else log_distilled_loss)(*inputs, shifted)

    return (law(_STEP) - law(-_STEP)) / (2 * _STEP)


@partial(jax.jit, static_argnums=0)
def _compiled_log_loss(kind: str, inputs: tuple[jax.Array, ...], law: LawParams) -> jax.Array:
    return (log_supervised_loss if kind == "supervised" else log_distilled_loss)(*inputs, law)


def log_loss_jacobian(kind: str, params: xr.Dataset, names: list[str], inputs: tuple[np.ndarray, ...]) -> np.ndarray:
    """d log L / d coefficient at ``inputs`` (the law's, per point) for every draw of ``params``, in each
    coefficient's coordinate (its log when positive in every draw); (chain, draw, point, coefficient). The law is
    compiled by JAX where float64 is on (a central difference needs it), else evaluated by NumPy."""
    configure_jax()
    compiled = bool(jax.config.jax_enable_x64)
    unit = np.eye(len(names))
    return np.stack([directional_derivative(kind, params, names, unit[k], inputs, compiled)
                     for k in range(len(names))], axis=-1)


def coefficient_covariance(params: xr.Dataset, names: list[str]) -> np.ndarray:
    """The posterior covariance of the coefficients, each in ``log_loss_jacobian``'s coordinate, over all draws."""
    columns = [params[n].values.ravel() for n in names]
    return np.atleast_2d(np.cov(np.stack([np.log(c) if np.all(c > 0) else c for c in columns])))


def absorbed_projector(N: np.ndarray) -> np.ndarray:
    """The projector, over sizes ``N`` (parameters), onto ``law_error_basis``: the part of the sizes' offsets that
    the law's coefficients take over; (size, size)."""
    q, _ = np.linalg.qr(law_error_basis(N, N))
    return q @ q.T


def absorbed_offsets(fitted: FittedSizes, unit_offsets: np.ndarray) -> np.ndarray:
    """The part of the fitted sizes' offsets (chain, draw, size) that the law's coefficients take over: their
    projection on ``law_error_basis``."""
    return unit_offsets @ absorbed_projector(fitted.N)


def absorbing_move(fitted: FittedSizes, params: xr.Dataset, names: list[str], run_precision: np.ndarray,
                   absorbed: np.ndarray) -> np.ndarray:
    """How far the coefficients move to take over offsets ``absorbed`` at the fitted sizes (chain, draw, size), per
    draw: the weighted least-squares fit of the offsets through the law's Jacobian J, (J^T W J + Cov^-1)^-1 J^T W
    delta (W the runs' precision (chain, draw); the posterior covariance keeps the move to what the posterior
    allows); (chain, draw, coefficient), in ``log_loss_jacobian``'s coordinates."""
    jacobian = log_loss_jacobian(fitted.kind, params, names, fitted.run_inputs)
    weighted = jacobian * run_precision[..., None, None]
    pull = np.einsum("cdrk,cdr->cdk", weighted, absorbed[..., fitted.run_size])
    covariance = coefficient_covariance(params, names)
    precision = weighted.swapaxes(-1, -2) @ jacobian + _solve(covariance, np.eye(len(names)))
    return _solve(precision, pull[..., None])[..., 0]


@dataclass(frozen=True)
class AbsorbedExtrapolation:
    """How the offsets the law absorbed at one kind's fitted sizes extrapolate, in units of law_error^2, per draw:
    the variance, over standard normal offsets, of what ``absorbing_move`` makes of them at a point, ||P E^T W J
    M^-1 j||^2 (M = J^T W J + Cov^-1, j = d log L / d coefficient at the point, P = ``absorbed_projector``, E maps
    runs to sizes). ``FreshLawError`` draws this part; here it is in closed form, so that a design can ask how it
    changes when runs join the fitted ones, as a refit's do, without Monte Carlo noise. P is B (B^T B)^-1 B^T for
    B the powers 0, 1, 2 of log N (the first ``law_error_basis`` keeps of them; a polynomial basis spans the same
    space about any centre), so it keeps M^-1, J^T W E B and B^T B, which a run joining updates by its own rank-one
    terms, whatever the number of sizes."""

    sizes: np.ndarray  # the fitted sizes (parameters), then any a joining run adds
    centre: float  # the log size (log parameters) B's powers are taken about: the fitted sizes' mean
    inverse: np.ndarray  # (sample, coefficient, coefficient): M^-1
    pull: np.ndarray  # (sample, coefficient, power): J^T W E B
    gram: np.ndarray  # (power, power): B^T B over the sizes
    precision: np.ndarray  # (sample,): a run's Fisher information on log loss

    @classmethod
    def of(cls, fitted: FittedSizes, params: xr.Dataset, names: list[str],
           run_precision: np.ndarray) -> AbsorbedExtrapolation:
        """For the fitted runs of ``fitted``, the draws of ``params`` and each draw's ``run_precision``."""
        jacobian = log_loss_jacobian(fitted.kind, params, names, fitted.run_inputs)
        jacobian = jacobian.reshape(-1, *jacobian.shape[2:])  # (sample, run, coefficient)
        precision = np.ravel(run_precision)
        weighted = (jacobian * precision[:, None, None]).swapaxes(-1, -2)
        moment = weighted @ jacobian + _solve(coefficient_covariance(params, names), np.eye(len(names)))
        inverse = _solve(moment, np.broadcast_to(np.eye(len(names)), moment.shape))
        centre = float(np.mean(np.log(fitted.N)))
        basis = _powers(fitted.N, centre)
        return cls(fitted.N, centre, inverse, weighted @ basis[fitted.run_size], basis.T @ basis, precision)

    def with_run(self, N: float, jacobian: np.ndarray) -> AbsorbedExtrapolation:
        """With a run at size ``N`` (parameters) whose d log L / d coefficient is ``jacobian`` (sample, coefficient)
        among the fitted ones: M^-1 by Sherman-Morrison, J^T W E B and B^T B by the run's rank-one terms."""
        inverse_row, gain = self._rank_one(jacobian)
        inverse = self.inverse - gain[:, None, None] * inverse_row[:, :, None] * inverse_row[:, None, :]
        sizes, gram = self._joined(N)
        return replace(self, sizes=sizes, inverse=inverse, pull=self._pulled(N, jacobian), gram=gram)

    def variance(self, at: np.ndarray) -> np.ndarray:
        """At points whose d log L / d coefficient is ``at`` (sample, point, coefficient); (sample, point)."""
        return _spread(self.inverse @ at.swapaxes(-1, -2), self.pull, self.gram, self.sizes.size)

    def variance_with_run(self, at: np.ndarray, N: float, jacobian: np.ndarray) -> np.ndarray:
        """``with_run(N, jacobian).variance(at)`` without the whole of M^-1: only M^-1 j_at, updated by the run's
        rank-one term (what a design asks of each of many candidates)."""
        towards = self.inverse @ at.swapaxes(-1, -2)  # M^-1 j_at: (sample, coefficient, point); M symmetric
        inverse_row, gain = self._rank_one(jacobian)
        along = np.einsum("sk,skp->sp", jacobian, towards)  # j^T M^-1 j_at
        towards = towards - (gain[:, None] * inverse_row)[..., None] * along[:, None]
        sizes, gram = self._joined(N)
        return _spread(towards, self._pulled(N, jacobian), gram, sizes.size)

    def _rank_one(self, jacobian: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sherman-Morrison's terms for a run whose d log L / d coefficient is ``jacobian`` (sample, coefficient):
        M^-1 j (M is symmetric) and its gain w / (1 + w j^T M^-1 j), w the run's precision."""
        inverse_row = np.einsum("skl,sl->sk", self.inverse, jacobian)
        return inverse_row, self.precision / (1 + self.precision * np.sum(jacobian * inverse_row, axis=-1))

    def _joined(self, N: float) -> tuple[np.ndarray, np.ndarray]:
        """The sizes and B^T B once a run at ``N`` has joined: a new size adds its row of B."""
        if N in self.sizes:
            return self.sizes, self.gram
        row = _powers(np.array([N]), self.centre)
        return np.append(self.sizes, N), self.gram + row.T @ row

    def _pulled(self, N: float, jacobian: np.ndarray) -> np.ndarray:
        """J^T W E B once a run at ``N`` has joined: its precision-weighted gradient along its size's row of B."""
        return self.pull + (self.precision[:, None] * jacobian)[..., None] * _powers(np.array([N]), self.centre)


def _powers(N: np.ndarray, centre: float) -> np.ndarray:
    """The powers 0, 1, 2 of log N (parameters) about ``centre``; (size, power)."""
    return (np.log(N) - centre)[:, None] ** np.arange(LAW_ERROR_POWERS)


def _spread(towards: np.ndarray, pull: np.ndarray, gram: np.ndarray, sizes: int) -> np.ndarray:
    """||P E^T W J t||^2 per draw and point for t = ``towards`` (sample, coefficient, point): y^T (B^T B)^-1 y
    with y = (J^T W E B)^T t, over the powers ``law_error_basis`` keeps for that many ``sizes``."""
    powers = law_error_basis_size(sizes)
    whiten = np.linalg.inv(np.linalg.cholesky(gram[:powers, :powers]))
    projected = np.einsum("ij,skj,skp->sip", whiten, pull[..., :powers], towards, optimize=True)
    return np.sum(projected ** 2, axis=1)


def noise_precision(posterior: xr.Dataset, kind: str, nu: float) -> np.ndarray:
    """A run's Fisher information on log loss under the Student-t noise, (nu + 1) / ((nu + 3) sigma^2) per draw."""
    return (nu + 1) / ((nu + 3) * posterior[f"sigma_{kind}"].values ** 2)


def _solve(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """matrix^-1 rhs over stacked matrices, or the least-squares answer (pseudo-inverse) where one is singular: a
    degenerate posterior (chains stuck, a noise scale near 0), which the fit's diagnostics already report, still
    gets its answers rather than an error."""
    try:
        return np.linalg.solve(matrix, rhs)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(matrix) @ rhs


@dataclass(frozen=True)
class FreshLawError:
    """The law error of one kind at sizes a fit has not seen, for one seed: law_error times (each size's own standard
    normal offset less what the law makes there of standard normal offsets at the fitted sizes, ``absorbing_move``).
    Built once per (kind, seed) and evaluated at any sizes, since the move does not depend on them."""

    kind: str
    seed: int
    scale: np.ndarray  # law_error over (chain, draw)
    params: xr.Dataset
    names: list[str]
    fitted: FittedSizes
    move: np.ndarray | None  # (chain, draw, coefficient); None when no size of this kind was fitted

    @classmethod
    def of(cls, runs: xr.Dataset, posterior: xr.Dataset, params: xr.Dataset, names: list[str], nu: float, kind: str,
           seed: int) -> FreshLawError:
        scale, fitted, move = posterior["law_error"].values, FittedSizes.of(runs, posterior["size"].values, kind), None
        if fitted.N.size:
            taken = np.random.default_rng([seed, zlib.crc32(kind.encode())]).standard_normal((*scale.shape,
                                                                                             fitted.N.size))
            move = absorbing_move(fitted, params, names, noise_precision(posterior, kind, nu),
                                  absorbed_offsets(fitted, taken))
        return cls(kind, seed, scale, params, names, fitted, move)

    def at(self, N: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """The error at sizes ``N`` (parameters) labelled ``labels``, over (chain, draw, size). Each size's stream is
        keyed by (seed, its label) (``own_offsets``), the fitted sizes' by (seed, kind), so one size gets one error
        in every answer."""
        own = own_law_error(self.scale, self.seed, labels)
        if self.move is None:
            return own
        return own - self.scale[..., None] * directional_derivative(self.kind, self.params, self.names, self.move,
                                                                    self.fitted.typical_inputs(np.asarray(N, float)))


def own_law_error(scale: np.ndarray, seed: int, labels: np.ndarray) -> np.ndarray:
    """The own part of the law error (log loss) at sizes labelled ``labels``: the draws' spread ``scale`` (chain,
    draw) times each size's ``own_offsets``; (chain, draw, size). The whole error at a size the fit has not seen
    less what the law extrapolates there from the fitted sizes."""
    return scale[..., None] * own_offsets(seed, labels, scale.shape)


def own_offsets(seed: int, labels: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal offsets of sizes labelled ``labels`` (``size_labels``), of ``shape`` each, from a stream
    keyed by (seed, label): a size's own part of the law error, the same in every answer; (*shape, size)."""
    if not np.size(labels):
        return np.zeros((*shape, 0))
    return np.stack([np.random.default_rng([seed, zlib.crc32(label.encode())]).standard_normal(shape)
                     for label in labels], axis=-1)
