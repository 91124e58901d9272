"""What a refit does with a run at a size the fit has not seen, as the design (``posterior.design``) models it.

A fit with a law error (``fit(..., law_error=True)``) gives every fitted size of a kind an offset on log loss, of
which the law's coefficients absorb the part on ``law_error_basis`` (a constant, a trend and a curvature in log N).
A refit that adds a run at a new size changes that model in two ways an update of the present posterior does not
see:
- the size gets an offset of its own, and the law absorbs only part of it: the outcome tells the law through
  noise of law_error^2 (1 - the size's leverage) beside the run's own (``level_share``). The present posterior would
  instead say the outcome tells the part of the size's error it extrapolates from the fitted sizes, which the target
  shares, and credit the run with telling the target's error; a refit draws that part anew.
- the offsets absorbed at the fitted sizes, one size more now, extrapolate to the target differently whatever the
  outcome (``ExtrapolationCut``): a run beyond the fitted sizes anchors the law error of larger sizes.
Still not seen: a kind's second, third or fourth fitted size adds a direction to the basis (the trend, the
curvature), which the law's coefficients must then take over from the fitted offsets and the new size's own. A
refit can move the answer there by more than either part expects, whatever the outcome: it is a change of model,
not of what is known, so it is not counted (``experiments/basis_change_check.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import xarray as xr

from bayes_distill.inference.model import size_labels
from bayes_distill.posterior.law_error import (
    AbsorbedExtrapolation,
    FittedSizes,
    absorbed_projector,
    log_loss_jacobian,
    noise_precision,
)

MAX_DRAWS = 1000  # the cut is a mean over the draws of a heavy-tailed quantity: a few hundred leave it noisy


def seen(post: Any, kind: np.ndarray, N: np.ndarray) -> np.ndarray:
    """Whether each (kind, size) has a fitted law-error level; all False for a fit without a law error."""
    if not post.models_law_error:
        return np.zeros(np.size(N), bool)
    return np.isin(size_labels(kind, N), post.posterior["size"].values.astype(str))


def fitted_sizes(post: Any, kind: str) -> FittedSizes:
    """The runs of ``kind`` at its fitted law-error levels."""
    return FittedSizes.of(post.runs, post.posterior["size"].values, kind)


def level_share(post: Any, kind: np.ndarray, N: np.ndarray) -> np.ndarray:
    """For a run at each (kind, size): the share of its law error that a refit adding it leaves to the size's own
    level, 1 - its leverage among the kind's fitted sizes and it (the rest the law absorbs); 1 at a fitted size,
    where the fitted level is the run's error."""
    share = np.ones(np.size(N))
    if not post.models_law_error:
        return share
    known = seen(post, kind, N)
    fitted = {str(k): fitted_sizes(post, str(k)).N for k in np.unique(kind)}
    for c in np.flatnonzero(~known):
        sizes = np.unique(np.append(fitted[str(kind[c])], N[c]))
        here = int(np.searchsorted(sizes, N[c]))
        share[c] = 1.0 - absorbed_projector(sizes)[here, here]
    return share


@dataclass(frozen=True)
class ExtrapolationCut:
    """How much of the target's law error, extrapolated from the fitted sizes, runs at new sizes take off by joining
    the fitted ones, whatever their outcomes (target units^2: law_error^2 times the drop of
    ``AbsorbedExtrapolation.variance``, averaged over the target's quantities). Only the target's points at sizes
    the fit has not seen carry such a part, and only runs of their kind change it."""

    kind: np.ndarray  # (candidate,)
    N: np.ndarray  # (candidate,): parameters
    new: np.ndarray  # (candidate,): at a size its kind's fit has not seen, of a kind the target extrapolates
    slot: np.ndarray  # (candidate,): a new candidate's row of ``jacobian``
    jacobian: np.ndarray  # (sample, new candidate, coefficient): d log L / d coefficient at each new candidate
    fitted: dict[str, AbsorbedExtrapolation]  # by kind
    target: dict[str, np.ndarray]  # by kind: d log L / d coefficient at the target's points (sample, point, coef.)
    target_sizes: dict[str, np.ndarray]  # by kind: the target's points' sizes (parameters)
    weight: float  # each target point's weight in the target's mean variance: 1 / its number of quantities
    scale2: np.ndarray  # (sample,): law_error^2
    _joined: dict = field(default_factory=dict, compare=False, repr=False)  # picks -> their extrapolation
    _given: dict = field(default_factory=dict, compare=False, repr=False)  # (candidate, picks) -> its cut

    @classmethod
    def of(cls, post: Any, candidates: xr.Dataset, points: dict[str, np.ndarray],
           quantities: int) -> ExtrapolationCut | None:
        """For ``candidates`` and the target's law-error ``points`` (kind -> sizes, parameters, not seen by the
        fit) among its ``quantities``; None where nothing would change (no law error, no such point)."""
        kind, N = candidates["kind"].values.astype(str), candidates["N"].values.astype(float)
        points = {k: v for k, v in points.items() if v.size and post.models_law_error and fitted_sizes(post, k).N.size}
        if not points:
            return None
        thin = post.thinned(MAX_DRAWS)
        params, names = thin.params(), post.free_coefficients
        new = np.isin(kind, list(points)) & ~seen(post, kind, N)
        slot = np.cumsum(new) - 1  # each new candidate's row of ``jacobian``
        jacobian = np.zeros((thin.draw_count, int(new.sum()), len(names)))
        fitted, target = {}, {}
        for k, sizes in points.items():
            runs = fitted_sizes(post, k)
            fitted[k] = AbsorbedExtrapolation.of(runs, params, names, noise_precision(thin.posterior, k, post.nu))
            target[k] = _flat(log_loss_jacobian(k, params, names, runs.typical_inputs(sizes)))
            rows = np.flatnonzero(new & (kind == k))
            if rows.size:
                jacobian[:, slot[rows]] = _flat(log_loss_jacobian(k, params, names, _inputs(post, candidates, rows)))
        return cls(kind, N, new, slot, jacobian, fitted, target, points, 1.0 / quantities,
                   thin.posterior["law_error"].values.ravel() ** 2)

    def given(self, c: int, picked: np.ndarray) -> float:
        """Candidate ``c``'s cut once the runs ``picked`` (indices, in the order picked) have joined the fitted
        ones."""
        if not self.new[c]:
            return 0.0
        k = self.kind[c]
        joined = tuple(int(p) for p in picked if self.new[p] and self.kind[p] == k)
        if (c, joined) not in self._given:  # greedy batches by different costs share their first picks
            self._given[c, joined] = self._cut(c, *self._joining(k, joined))
        return self._given[c, joined]

    def _joining(self, kind: str, joined: tuple[int, ...]) -> tuple[AbsorbedExtrapolation, np.ndarray]:
        """The extrapolation once runs ``joined`` have joined, and its variance at the target: from the one
        before the last pick, kept, so that each pick costs one run's update."""
        if (kind, joined) not in self._joined:
            before = self._joining(kind, joined[:-1])[0] if joined else self.fitted[kind]
            after = before.with_run(self.N[joined[-1]], self.jacobian[:, self.slot[joined[-1]]]) if joined else before
            self._joined[kind, joined] = after, self._variance(kind, after)
        return self._joined[kind, joined]

    @cached_property
    def alone(self) -> np.ndarray:
        """Each candidate's cut on its own (target units^2); computed once."""
        now = {k: self._variance(k, fitted) for k, fitted in self.fitted.items()}
        return np.array([self._cut(c, self.fitted[self.kind[c]], now[self.kind[c]]) if self.new[c] else 0.0
                         for c in range(self.N.size)])

    def _cut(self, c: int, before: AbsorbedExtrapolation, now: np.ndarray) -> float:
        k = self.kind[c]
        after = before.variance_with_run(self.target[k], self.N[c], self.jacobian[:, self.slot[c]])
        drop = now - self._unfitted(k, after, np.append(before.sizes, self.N[c]))
        return float(self.weight * np.sum(np.mean(self.scale2[:, None] * drop, axis=0)))

    def _variance(self, kind: str, fitted: AbsorbedExtrapolation) -> np.ndarray:
        """The extrapolated part's variance at the target's points of ``kind``."""
        return self._unfitted(kind, fitted.variance(self.target[kind]), fitted.sizes)

    def _unfitted(self, kind: str, variance: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        """None at a target point whose size has joined the fitted ones: the refit fits that size's error itself."""
        return np.where(np.isin(self.target_sizes[kind], sizes), 0.0, variance)

    def changed_by(self, c: int) -> np.ndarray:
        """The candidates whose cut changes once ``c`` has joined the fitted runs: new ones of its kind."""
        return self.new & (self.kind == self.kind[c]) if self.new[c] else np.zeros(self.N.size, bool)


def _flat(per_draw: np.ndarray) -> np.ndarray:
    return per_draw.reshape(-1, *per_draw.shape[2:])


def _inputs(post: Any, candidates: xr.Dataset, rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """The law's inputs for candidates ``rows`` (one kind): N, D and, for students, the teacher's loss (its law's
    median over the draws for a teacher still to train)."""
    N, D = candidates["N"].values[rows].astype(float), candidates["D"].values[rows].astype(float)
    if candidates["kind"].values[rows[0]] == "supervised":
        return N, D
    teacher = candidates["teacher_loss"].values[rows].astype(float)
    new = np.isnan(teacher)
    if new.any():
        predicted = post.predict(candidates["teacher_N"].values[rows][new], candidates["teacher_D"].values[rows][new],
                                 law_error=False)
        teacher[new] = predicted.median(("chain", "draw")).values
    return N, D, teacher
