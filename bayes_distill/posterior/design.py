"""Which runs to train next: the expected reduction of a target's posterior variance per FLOP.

The method is a linear-Gaussian (Bayes linear, ensemble Kalman) update over the posterior's draws. Across the draws
the target's quantities g and the candidates' predicted log losses f are treated as jointly Gaussian with the draws'
covariance, and a candidate's outcome as f plus Gaussian noise of the fit's noise variance. Observing candidate c
then shrinks the variance of each target quantity by Cov(g, f_c)^2 / (Var f_c + noise_c), whatever the outcome.
A batch is picked greedily within the budget, conditioning the covariance on each pick, so that a run nearly the
same as one picked is worth little: by reduction per FLOP, per square root of FLOPs and per run, keeping the
batch worth most (a dear run can tell more than all the cheap ones the budget would buy instead). A run at a size
the fit has not seen is modelled as the refit that adds it would (``new_sizes``): its outcome is the law plus the
size's own level (the share the law does not absorb) plus noise, and joining the fitted sizes it takes part of the
target's extrapolated law error off whatever its outcome (``ExtrapolationCut``, in closed form, beside the update's
reduction). What it assumes: the posterior after the run is close to this linear update of the present one (true
where the run's outcome moves the coefficients a little, as one run among many does); it ignores that a run can
also change the noise or the law error's scale the fit learns, and that a kind's second to fourth fitted size adds a
direction the law must absorb. Under the model, the linear update's reduction is a lower bound on the expected
one: the error of the best linear prediction of g from an outcome is never below that of g's conditional mean.
Where the draws are far from jointly Gaussian (a fit of a handful of runs) the bound is loose, so the batch's
expected cut that ``suggest_runs`` reports is computed again by reweighting the draws with simulated outcomes
(``reweighted_reduction``: the model's own expectation, up to Monte Carlo error; too dear to rank every candidate
and batch by). ``Design`` keeps each batch's expected cut beside its refit's, so that what neither sees shows.
``assess_batch`` counts a plan of one's own the same way, so that a plan and a suggestion compare at their costs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from bayes_distill.data.candidates import load_candidates
from bayes_distill.jax_settings import configure_jax
from bayes_distill.laws import COEFFICIENTS, Architecture, LawParams, total_flops
from bayes_distill.laws.equations import log_distilled_loss
from bayes_distill.posterior.new_sizes import ExtrapolationCut, level_share, seen
from bayes_distill.posterior.summaries import SAMPLE_DIMS


def candidate_cost(candidates: xr.Dataset, arch: Architecture) -> np.ndarray:
    """Each candidate's FLOPs (Eq. 9): its ``cost`` where given, else its training (3 F(N) D) plus, when distilled,
    its teacher's logits over D (F(N_T) D) and, for a teacher still to train, that teacher's training
    (3 F(N_T) D_T)."""
    n = candidates.sizes["candidate"]
    given = candidates["cost"].values if "cost" in candidates else np.full(n, np.nan)
    kind, N, D, teacher_N, teacher_D, teacher_loss = (candidates[v].values for v in
                                                      ("kind", "N", "D", "teacher_N", "teacher_D", "teacher_loss"))
    distilled = kind == "distilled"
    new_teacher = distilled & np.isnan(teacher_loss)
    unsized = distilled & np.isnan(given) & np.isnan(teacher_N)
    if unsized.any():
        raise ValueError(f"distilled candidates {candidates['candidate'].values[unsized][:5].tolist()} need "
                         "'teacher_N' (their teacher's logits cost FLOPs) or a 'cost' column")
    teacher_N = np.where(np.isnan(teacher_N), 1.0, teacher_N)  # placeholders where a scenario charges no teacher
    teacher_D = np.where(new_teacher, teacher_D, 1.0)
    cost = np.full(n, np.nan)
    for rows, scenario in ((~distilled, "best-case"), (distilled & ~new_teacher, "teacher-inference"),
                           (new_teacher, "teacher-pretraining-inference")):
        cost = np.where(rows, total_flops(N, D, teacher_N, teacher_D, scenario, arch), cost)
    return np.where(np.isnan(given), cost, given)


@dataclass(frozen=True)
class NewTeachers:
    """The teachers still to train that distilled candidates name, told apart by (teacher_N, teacher_D): each
    candidate's teacher (an index; the last slot, which costs nothing, for none) and each teacher's training (FLOPs,
    3 F(N_T) D_T). Every such candidate's cost counts its teacher's training, but a batch pays it once. A supervised
    candidate of a teacher's N and D is that teacher's training run: its cost is the training, so once a student
    has paid for the teacher it comes free, and if it is picked first its students no longer pay for the teacher."""

    index: np.ndarray  # (candidate,)
    training: np.ndarray  # (teacher + 1,): the last slot is 0

    @classmethod
    def none(cls, n: int) -> NewTeachers:
        return cls(np.zeros(n, dtype=int), np.zeros(1))

    @classmethod
    def of(cls, candidates: xr.Dataset, arch: Architecture) -> NewTeachers:
        """The new teachers of ``candidates`` whose cost comes from the compute accounting (no ``cost`` given)."""
        n = candidates.sizes["candidate"]
        given = candidates["cost"].values if "cost" in candidates else np.full(n, np.nan)
        new = (candidates["kind"].values == "distilled") & np.isnan(candidates["teacher_loss"].values) & np.isnan(given)
        if not new.any():
            return cls.none(n)
        pairs = np.column_stack([candidates["teacher_N"].values[new], candidates["teacher_D"].values[new]])
        teachers, which = np.unique(pairs, axis=0, return_inverse=True)
        training = total_flops(teachers[:, 0], teachers[:, 1], 1.0, 1.0, "best-case", arch)  # a supervised run's
        index = np.full(n, teachers.shape[0])
        index[new] = which.ravel()
        for teacher, row in _teachers_own_runs(candidates, given, teachers).items():
            index[row] = teacher
        return cls(index, np.append(training, 0.0))


def _teachers_own_runs(candidates: xr.Dataset, given: np.ndarray, teachers: np.ndarray) -> dict[int, int]:
    """Teacher (a row of ``teachers``: N_T, D_T) -> the first supervised candidate without a given cost that trains
    it (same N and D); a second such candidate is a second training (another seed), so it keeps its own cost."""
    supervised = np.flatnonzero((candidates["kind"].values == "supervised") & np.isnan(given))
    runs = np.column_stack([candidates["N"].values[supervised], candidates["D"].values[supervised]])
    own = {}
    for teacher, pair in enumerate(teachers):
        rows = supervised[np.all(runs == pair, axis=1)]
        if rows.size:
            own[teacher] = int(rows[0])
    return own


def _teacher_losses(post: Any, candidates: xr.Dataset, seed: int) -> np.ndarray:
    """Each distilled candidate's teacher loss over the draws (nats/token): given, or the supervised law's (with
    its law error) for a teacher still to train; (chain, draw, candidate)."""
    given = candidates["teacher_loss"].values
    losses = np.broadcast_to(given, (*_sample_shape(post), given.size)).copy()
    new = np.isnan(given)
    if new.any():
        losses[..., new] = post.predict(candidates["teacher_N"].values[new], candidates["teacher_D"].values[new],
                                        seed=seed).values
    return losses


def _sample_shape(post: Any) -> tuple[int, int]:
    return post.posterior.sizes["chain"], post.posterior.sizes["draw"]


def predicted_log_loss(post: Any, candidates: xr.Dataset, seed: int = 0, *, extrapolated: bool = True,
                       as_run: bool = False) -> xr.DataArray:
    """The law's log loss (with its law error) for each candidate over the draws; (chain, draw, candidate).
    ``extrapolated=False`` leaves out, at sizes the fit has not seen, the law error's part extrapolated from the
    fitted sizes. ``as_run``: each candidate's outcome as a refit that adds it models it (``new_sizes``): at a new
    size, the share ``level_share`` of the size's own error, drawn from the stream the law error uses there (so a
    target at that size shares it), and nothing extrapolated."""
    kind, N, D = (candidates[v].values for v in ("kind", "N", "D"))
    out = np.empty((*_sample_shape(post), N.size))
    supervised = kind == "supervised"
    if supervised.any():
        out[..., supervised] = np.log(post.predict(N[supervised], D[supervised], law_error=False).values)
    distilled = ~supervised
    if distilled.any():
        teacher = _teacher_losses(post, candidates.isel(candidate=distilled), seed)
        out[..., distilled] = _log_distilled_per_draw(post, N[distilled], D[distilled], teacher)
    share = level_share(post, kind, N) if as_run else np.ones(N.size)
    for k in np.unique(kind):
        rows = kind == k
        error = post.law_error(str(k), N[rows], seed, extrapolated=extrapolated and not as_run).values
        out[..., rows] += error * np.sqrt(share[rows])
    return xr.DataArray(out, dims=(*SAMPLE_DIMS, "candidate"), coords={"candidate": candidates["candidate"].values},
                        name="log_loss", attrs={"units": "log nats/token"})


@jax.jit
def _log_distilled_by_draw(N: jax.Array, D: jax.Array, teacher_loss: jax.Array, law: LawParams) -> jax.Array:
    """log L_S of candidates (N, D) whose teacher loss differs between draws: the law mapped over the draws
    (coefficients and teacher losses (sample, candidate) go draw by draw); compiled once per shape."""
    return jax.vmap(lambda p, teacher: log_distilled_loss(N, D, teacher, p))(law, teacher_loss)


def _log_distilled_per_draw(post: Any, N: np.ndarray, D: np.ndarray, teacher_loss: np.ndarray) -> np.ndarray:
    """log L_S with a teacher loss that differs between draws (chain, draw, candidate), without the law error."""
    configure_jax()  # float64: the law's inputs reach 1e20
    params = post.params().stack(sample=SAMPLE_DIMS)
    law = LawParams(*(jnp.asarray(params[c].values) for c in COEFFICIENTS))
    values = _log_distilled_by_draw(jnp.asarray(N), jnp.asarray(D), jnp.asarray(teacher_loss.reshape(-1, N.size)), law)
    return np.asarray(values).reshape(teacher_loss.shape)


def target_quantities(post: Any, target: Any, seed: int = 0) -> xr.DataArray:
    """What to be surer of, over the draws, by (chain, draw, quantity): the log losses of a table of target points
    (the candidates' schema), or a planner answer: ``("crossover", N_S, scenario)`` the log10 crossover budget
    (FLOPs; at the searched range's end where distillation always or never wins there), ``("allocation", N_S,
    compute, scenario)`` the log of the compute-optimal student loss, ``("teacher_size", N_S, compute, scenario)``
    the log of its teacher's size N_T* (parameters), or ``("wins", N_S, compute, scenario)``
    whether compute-optimal distillation beats supervised training of the student at that budget (1 or 0; its
    variance p (1 - p), like the outcome's entropy, is largest at p = 1/2 and 0 once decided)."""
    if not isinstance(target, tuple):
        return predicted_log_loss(post, load_candidates(target), seed).rename(candidate="quantity").rename("log_loss")
    answer = PLANNER_TARGETS.get(target[0]) if target else None
    if answer is None or len(target) != answer.arity:
        raise ValueError("target must be a table of points, ('crossover', N_S, scenario), or (kind, N_S, compute, "
                         f"scenario) with kind 'allocation', 'teacher_size' or 'wins'; got {target!r}")
    values = answer.draws(post, *target[1:], seed=seed)
    return xr.DataArray(values.reshape(*_sample_shape(post), -1), dims=(*SAMPLE_DIMS, "quantity"), name=answer.name)


def is_crossover(target: Any) -> bool:
    """Whether ``target`` is ``("crossover", N_S, scenario)``."""
    return isinstance(target, tuple) and target[:1] == ("crossover",)


def beyond_range(post: Any, log10_crossover: np.ndarray) -> tuple[float, float]:
    """The shares of a crossover's draws (log10 C* in FLOPs, clipped to the range searched, as ``suggest_runs``
    takes it) that lie below the range (distillation never wins there) and above it (it wins throughout). Where
    most draws sit beyond the range, the answer's variance mostly counts how many do."""
    lower, upper = np.log10(post.scale.compute_range)
    return float(np.mean(log10_crossover <= lower)), float(np.mean(log10_crossover >= upper))


def is_wins(target: Any) -> bool:
    """Whether ``target`` is ``("wins", ...)``: an outcome, 1 or 0, whose mean is the probability that distillation
    wins."""
    return isinstance(target, tuple) and target[:1] == ("wins",)


def target_label(target: Any) -> str:
    """The label of a target (``suggest_runs``'): what is to be surer of and its units, then, after the first ", ",
    where it is taken (student size, budget, scenario); for a table of points, its widest (the loop's interval)."""
    if is_crossover(target):
        return f"log10 crossover budget (FLOPs), N_S = {target[1]:.3g}, {target[2]}"
    if isinstance(target, tuple) and target[0] == "teacher_size":
        return f"ln N_T* (parameters), N_S = {target[1]:.3g}, C = {target[2]:.3g} FLOPs, {target[3]}"
    if is_wins(target):
        return f"P(distillation wins), N_S = {target[1]:.3g}, C = {target[2]:.3g} FLOPs, {target[3]}"
    if isinstance(target, tuple):
        return f"ln L_S at the optimum (L_S: nats/token), N_S = {target[1]:.3g}, C = {target[2]:.3g} FLOPs, {target[3]}"
    return f"ln L (L: nats/token), widest point of {_table_name(target)}"


def question_label(target: Any) -> str:
    """What ``suggest_runs`` is asked to be surer of, for a reader: a planner target's label, or for a table of
    points the mean variance of their log losses."""
    if isinstance(target, tuple):
        return target_label(target)
    return f"ln L (L: nats/token) at the points of {_table_name(target)}"


def _table_name(target: Any) -> str:
    """A table target's file name, or a description of a table given in memory."""
    return Path(os.fspath(target)).name if isinstance(target, str | os.PathLike) else "the target table"


def _log10_crossover(post: Any, N_S: float, scenario: str, seed: int) -> np.ndarray:
    answer = post.crossover(N_S, scenario, seed=seed)
    bounds = answer.attrs["compute_range_lower"], answer.attrs["compute_range_upper"]
    return np.log10(np.clip(answer["compute"].transpose(*SAMPLE_DIMS, ...).values, *bounds))


def _plan(post: Any, N_S: float, compute: float, scenario: str, seed: int) -> xr.Dataset:
    """The compute-optimal plan of every draw, draws first."""
    return post.allocate(N_S, compute, scenario, seed=seed).transpose(*SAMPLE_DIMS, ...)


def _log_optimal_student_loss(post: Any, N_S: float, compute: float, scenario: str, seed: int) -> np.ndarray:
    return np.log(_plan(post, N_S, compute, scenario, seed)["student_loss"].values)


def _log_optimal_teacher_size(post: Any, N_S: float, compute: float, scenario: str, seed: int) -> np.ndarray:
    return np.log(_plan(post, N_S, compute, scenario, seed)["teacher_params"].values)


def _distillation_wins(post: Any, N_S: float, compute: float, scenario: str, seed: int) -> np.ndarray:
    plan = _plan(post, N_S, compute, scenario, seed)
    return (plan["student_loss"] < plan["supervised_loss"]).values.astype(float)  # as prob_distillation_wins counts


@dataclass(frozen=True)
class PlannerTarget:
    """A planner answer to be surer of: its name, the length of its tuple (name included), its value per draw, and
    the kind whose law error at the student's size it carries as it is (the optimal student loss: its log adds the
    distilled law's error there), if any."""

    name: str
    arity: int
    draws: Callable[..., np.ndarray]
    law_error_kind: str | None = None


PLANNER_TARGETS = {"crossover": PlannerTarget("log10_crossover_compute", 3, _log10_crossover),
                   "allocation": PlannerTarget("log_student_loss", 4, _log_optimal_student_loss, "distilled"),
                   "teacher_size": PlannerTarget("log_teacher_params", 4, _log_optimal_teacher_size),
                   "wins": PlannerTarget("distillation_wins", 4, _distillation_wins)}


def law_error_points(post: Any, target: Any) -> tuple[dict[str, np.ndarray], int]:
    """Where the target carries the law error extrapolated from the fitted sizes as it is: kind -> sizes
    (parameters) the fit has not seen, and the target's number of quantities. A table's points at new sizes; the
    optimal student loss at a new student size. The verdict and the crossover carry it through a comparison, so a
    change of its spread moves them little where they are unsure; they have none here."""
    if isinstance(target, tuple):
        kind = PLANNER_TARGETS[target[0]].law_error_kind
        if kind is None or seen(post, np.array([kind]), np.array([float(target[1])]))[0]:
            return {}, 1
        return {kind: np.array([float(target[1])])}, 1
    table = load_candidates(target)
    kind, N = table["kind"].values.astype(str), table["N"].values.astype(float)
    new = ~seen(post, kind, N)
    return {k: N[new & (kind == k)] for k in np.unique(kind)}, N.size


def size_beyond_fitted(post: Any, target: Any) -> float:
    """The target's largest student size over the largest fitted one (parameters over parameters): how far the
    answer extrapolates in N, where the law's own bias, which no variance counts, can outgrow what runs take off."""
    sizes = load_candidates(target)["N"].values if not isinstance(target, tuple) else np.array([float(target[1])])
    return float(np.max(sizes) / np.max(post.runs["N"].values))


def ensemble_target(post: Any, target: Any, whole: np.ndarray, seed: int = 0) -> np.ndarray:
    """The target's quantities over the draws as the linear update sees them, (sample, quantity): a table's log
    losses without the law error's part extrapolated from the fitted sizes (``ExtrapolationCut`` counts what runs
    do to it, in closed form); a planner answer as it is, ``whole`` (its draws, already computed)."""
    if isinstance(target, tuple):
        return whole
    table = predicted_log_loss(post, load_candidates(target), seed, extrapolated=False)
    return table.stack(sample=SAMPLE_DIMS).transpose("sample", ...).values


@dataclass
class Ensemble:
    """The joint covariance, over the draws, of the target's quantities g and the candidates' predicted log losses
    f, conditioned on the outcomes (f plus noise) of the runs picked so far. Cov(f, f) is kept as it was before any
    pick, less one rank-one factor per pick (Sigma_k = Sigma_0 - U^T U), so that a pick costs a pass over the
    candidates, not over every pair of them."""

    target_covariance: np.ndarray  # (quantity, candidate): Cov(g, f), conditioned
    candidate_covariance: np.ndarray  # (candidate, candidate): Cov(f, f) before any pick
    noise_variance: np.ndarray  # (candidate,): the variance of an outcome's noise about f
    factors: np.ndarray | None = None  # (pick, candidate): U, one row per pick; None for none
    variance: np.ndarray = field(init=False)  # (candidate,): Var f, conditioned; kept beside U, derived from it

    def __post_init__(self) -> None:
        if self.factors is None:
            self.factors = np.zeros((0, self.candidate_covariance.shape[0]))
        self.variance = np.diag(self.candidate_covariance) - np.sum(self.factors ** 2, axis=0)

    @classmethod
    def of(cls, target: np.ndarray, predicted: np.ndarray, noise_variance: np.ndarray) -> Ensemble:
        """From draws of the target (sample, quantity) and of the candidates' log losses (sample, candidate)."""
        g, f = target - target.mean(0), predicted - predicted.mean(0)
        n = target.shape[0] - 1
        return cls(g.T @ f / n, f.T @ f / n, np.asarray(noise_variance, float))

    def reductions(self) -> np.ndarray:
        """The expected reduction of the target's mean variance from each candidate's outcome (target units^2)."""
        return np.mean(self.target_covariance ** 2, axis=0) / (self.variance + self.noise_variance)

    def observe(self, c: int) -> None:
        """Condition on an outcome of candidate ``c`` (a Kalman update of the covariances)."""
        column = self.candidate_covariance[c] - self.factors[:, c] @ self.factors  # Cov(f_c, f), conditioned
        scale = np.sqrt(column[c] + self.noise_variance[c])
        factor = column / scale
        self.target_covariance = self.target_covariance - np.outer(self.target_covariance[:, c] / scale, factor)
        self.variance = self.variance - factor ** 2
        self.factors = np.vstack([self.factors, factor])


@dataclass(frozen=True)
class Batch:
    """A batch of runs: which candidates it holds (a boolean mask), what each pick adds to the expected reduction of
    the target's mean variance given the picks before it (target units^2, by candidate; 0 for the others), of their
    sum the part their sizes take off the extrapolated law error whatever the outcomes (``ExtrapolationCut``), what
    it costs (FLOPs; a new teacher paid once), and the candidates it holds in the order they were picked (the most
    worth first: a loop that trains part of the batch trains its head)."""

    selected: np.ndarray
    added: np.ndarray
    cost: float
    extrapolation: float = 0.0
    order: tuple[int, ...] = ()

    @property
    def reduction(self) -> float:
        """The expected reduction of the target's mean variance the batch's outcomes bring together."""
        return float(self.added.sum())


COST_POWERS = (1.0, 0.5, 0.0)  # the greedy batches tried: reduction per FLOP, per sqrt(FLOP), per run


@dataclass
class _Picking:
    """The greedy's state: the runs picked (and in what order), the teachers paid for, the FLOPs left, each
    candidate's extrapolation cut with whether it is up to date with the picks, what each pick added to the
    reduction, and of their sum the extrapolation's part."""

    selected: np.ndarray
    paid: np.ndarray
    left: float
    extrapolation: np.ndarray
    current: np.ndarray
    added: np.ndarray  # (candidate,): what each pick added to the reduction given the picks before it; 0 unpicked
    order: list[int] = field(default_factory=list)  # the runs picked, in the order picked
    extrapolated: float = 0.0


def _greedy(ensemble: Ensemble, cost: np.ndarray, budget: float, teachers: NewTeachers, cost_power: float,
            cut: ExtrapolationCut | None = None) -> Batch:
    """The runs picked one at a time by the reduction their outcome brings given those picked before, plus what their
    size takes off the extrapolated law error (``cut``), divided by their cost (FLOPs) to ``cost_power``, among those
    that still fit ``budget`` (FLOPs), conditioning ``ensemble`` on each pick. The cuts are kept as bounds and
    brought up to date only for the run about to be picked (lazy greedy: a cut only shrinks as runs join)."""
    n = cost.size
    state = _Picking(np.zeros(n, bool), np.zeros(teachers.training.size, bool), float(budget),
                     cut.alone.copy() if cut else np.zeros(n), np.ones(n, bool), np.zeros(n))
    while True:
        price = cost - np.where(state.paid, teachers.training, 0.0)[teachers.index]
        affordable = ~state.selected & (price <= state.left)
        if not affordable.any():
            break
        gain = ensemble.reductions()
        best, score = _best(gain, price, affordable, cost_power, state, cut)
        if score <= 0:
            break
        state.selected[best], state.left, state.paid[teachers.index[best]] = True, state.left - price[best], True
        state.order.append(best)
        state.added[best] = gain[best] + state.extrapolation[best]
        state.extrapolated += float(state.extrapolation[best])
        ensemble.observe(best)
        if cut is not None:
            state.current &= ~cut.changed_by(best)
    return Batch(state.selected, state.added, float(budget) - state.left, state.extrapolated, tuple(state.order))


def _best(gain: np.ndarray, price: np.ndarray, affordable: np.ndarray, cost_power: float, state: _Picking,
          cut: ExtrapolationCut | None) -> tuple[int, float]:
    """The affordable run worth most per cost^``cost_power``, its cut brought up to date first."""
    while True:
        with np.errstate(over="ignore"):  # a teacher's own run, once its students paid for it, is free
            worth = (gain + state.extrapolation) / np.maximum(price, np.finfo(float).tiny) ** cost_power
        score = np.where(affordable, worth, -np.inf)
        best = int(np.argmax(score))
        if state.current[best] or cut is None:
            return best, float(score[best])
        state.extrapolation[best] = cut.given(best, np.array(state.order, int))
        state.current[best] = True


def greedy_batch(ensemble: Ensemble, cost: np.ndarray, budget: float, teachers: NewTeachers | None = None,
                 cost_powers: tuple[float, ...] = COST_POWERS, cut: ExtrapolationCut | None = None) -> Batch:
    """The batch, within ``budget`` (FLOPs), whose outcomes shrink the target's variance most of a few greedy ones:
    runs picked one at a time by the reduction their outcome brings given those picked before, divided by their
    cost to each of ``cost_powers`` (1: per FLOP, 0: per run; ties go to the first). Per FLOP alone can spend the
    budget on cheap runs and miss a dear one worth more than all of them; the better of per FLOP and per run is
    within a constant factor of the best batch where the reduction is submodular (Krause and Guestrin 2005), and
    powers between them trade the two off. A new teacher (``teachers``) is paid for by the first of its students
    picked: the others' cost no longer counts its training. ``cut``: what runs at new sizes take off the target's
    extrapolated law error, counted beside what their outcomes tell."""
    teachers = teachers or NewTeachers.none(cost.size)
    batches = [_greedy(replace(ensemble), cost, budget, teachers, power, cut) for power in cost_powers]
    return max(batches, key=lambda batch: batch.reduction)


def planned_batch(ensemble: Ensemble, cost: np.ndarray, teachers: NewTeachers,
                  cut: ExtrapolationCut | None = None) -> Batch:
    """Every candidate, joined in their order, counted as ``_greedy`` counts its picks: what each adds to the
    expected reduction of the target's mean variance given those before it (target units^2), of their sum the
    extrapolated law error's part, and the FLOPs the batch costs (a new teacher paid once, by its first run)."""
    ensemble, n = replace(ensemble), cost.size
    added, paid, spent, extrapolated = np.zeros(n), np.zeros(teachers.training.size, bool), 0.0, 0.0
    for c in range(n):
        extrapolation = cut.given(c, np.arange(c)) if cut is not None else 0.0
        added[c] = ensemble.reductions()[c] + extrapolation
        extrapolated += extrapolation
        teacher = teachers.index[c]
        spent += cost[c] - (teachers.training[teacher] if paid[teacher] else 0.0)
        paid[teacher] = True
        ensemble.observe(c)
    return Batch(np.ones(n, bool), added, spent, extrapolated, tuple(range(n)))


def reweighted_reduction(target: np.ndarray, predicted: np.ndarray, noise_scale: np.ndarray, nu: float,
                         rng: np.random.Generator, outcomes: int = 256) -> float:
    """The expected reduction of the target's mean variance (target units^2) from the outcomes of a batch of runs, by
    reweighting the draws: each of ``outcomes`` outcomes is simulated from a draw (the runs' log losses ``predicted``
    (sample, run) plus Student-t noise of ``nu`` degrees of freedom and that draw's scale, ``noise_scale`` (sample,
    run)), every other draw is weighted by the outcome's likelihood under it, and the target's (sample, quantity)
    variance under those weights is averaged over the outcomes. The draw that made an outcome is left out of its
    weights: it fits its own outcome best, and would overstate what is learned. Unlike the linear update this sees
    what the outcomes tell of the noise, the law error and a posterior far from Gaussian; it is noisy where the
    outcomes leave weight on a handful of draws."""
    n = target.shape[0]
    source = rng.choice(n, size=outcomes, replace=outcomes > n)
    y = predicted[source] + noise_scale[source] * rng.standard_t(nu, size=(outcomes, predicted.shape[1]))
    after = np.empty(outcomes)
    for m in range(outcomes):  # one outcome at a time: (sample, run) at most in memory
        z = (y[m] - predicted) / noise_scale
        log_weight = -np.sum(np.log(noise_scale) + 0.5 * (nu + 1) * np.log1p(z * z / nu), axis=1)
        log_weight[source[m]] = -np.inf
        weight = np.exp(log_weight - log_weight.max())
        weight /= weight.sum()
        mean = weight @ target
        after[m] = float(np.mean(weight @ (target - mean) ** 2))
    return float(np.mean(np.var(target, axis=0)) - after.mean())


def expected_cut(answer: xr.Dataset, reweighted: bool = True) -> float:
    """The share of the target's mean posterior variance that ``suggest_runs``' selected batch is expected to take
    off (0 to 1; 0 for a target without spread): by reweighting the draws (``reweighted_reduction``), or with
    ``reweighted=False`` by the linear update the batch was picked by (a lower bound)."""
    variance = answer.attrs["target_variance"]
    reduction = answer.attrs["batch_reduction_reweighted" if reweighted else "batch_reduction"]
    return float(min(max(reduction / variance, 0.0), 1.0)) if variance > 0 else 0.0


def noise_scales(post: Any, kind: np.ndarray) -> np.ndarray:
    """Each draw's log-loss noise scale for runs of each ``kind``; (sample, run)."""
    kinds, index = np.unique(np.asarray(kind, str), return_inverse=True)
    scales = np.stack([post.posterior[f"sigma_{k}"].stack(sample=SAMPLE_DIMS).values for k in kinds], axis=-1)
    return scales[:, index.ravel()]


def noise_variance(post: Any, kind: np.ndarray) -> np.ndarray:
    """The variance of a new run's log-loss noise (posterior mean) for runs of each ``kind``: sigma^2 nu / (nu - 2)
    for the Student-t, sigma^2 when nu <= 2 (where its variance is not finite)."""
    inflation = post.nu / (post.nu - 2) if post.nu > 2 else 1.0
    return np.mean(noise_scales(post, kind) ** 2, axis=0) * inflation


def fitted_candidates(post: Any, candidates: xr.Dataset) -> np.ndarray:
    """Which candidates (``load_candidates``' table) carry the run id of a run the posterior was fitted on; (candidate,)
    bool. Row positions (a table without run ids) never match."""
    ids = candidates["candidate"].values
    if ids.dtype.kind not in "OUS":
        return np.zeros(ids.size, bool)
    return np.isin(ids.astype(str), post.runs["run"].values.astype(str))


def without_fitted(post: Any, candidates: xr.Dataset) -> tuple[xr.Dataset, int]:
    """The candidates less those the posterior was fitted on (``fitted_candidates``), and how many were left out;
    none left is an error (there is nothing to rank)."""
    fitted = fitted_candidates(post, candidates)
    if fitted.all():
        raise ValueError(f"column 'run': all {fitted.size} candidates are runs the posterior was fitted on: "
                         "nothing is left to rank")
    return candidates.isel(candidate=~fitted), int(fitted.sum())


def _check_not_fitted(post: Any, candidates: xr.Dataset) -> None:
    """A candidate with a fitted run's id is that run again, most often a table of every run one could have trained
    passed whole: refused, since scoring it as new would suggest training what is done. A repeat (another seed) is a
    run of its own, under an id of its own."""
    fitted = fitted_candidates(post, candidates)
    if fitted.any():
        ids = candidates["candidate"].values[fitted]
        shown = ", ".join(map(str, ids[:5])) + (", ..." if ids.size > 5 else "")
        raise ValueError(f"column 'run': {ids.size} candidate(s) are runs the posterior was fitted on ({shown}); "
                         "leave them out (the commands' --skip-fitted does), or give a repeat of a run an id of its "
                         "own")


@dataclass(frozen=True)
class _Question:
    """What scoring candidates against a target needs, computed once: the candidates' table and costs (FLOPs), the
    target's draws (sample, quantity) as asked and as the ensemble sees them (a planner answer solved once), the
    candidates' predicted log losses (sample, candidate), the ensemble, the extrapolated law error's cut and the
    teachers still to train."""

    table: xr.Dataset
    flops: np.ndarray
    whole: np.ndarray
    target: np.ndarray
    predicted: np.ndarray
    ensemble: Ensemble
    cut: ExtrapolationCut | None
    teachers: NewTeachers
    size_beyond_fitted: float
    supervised_law_fixed: bool  # a planner answer of a two-stage fit, whose spread leaves the supervised law out
    crossover: bool  # the target is a crossover budget


def _question(post: Any, candidates: Any, target: Any, cost: Any, seed: int) -> _Question:
    """The candidates (fitted runs refused) and the target, as ``suggest_runs`` and ``assess_batch`` score them; a
    target table is read once, not by each quantity drawn from it."""
    table = load_candidates(candidates)
    target = target if isinstance(target, tuple) else load_candidates(target)
    _check_not_fitted(post, table)
    flops = np.asarray(cost, float) if cost is not None else candidate_cost(table, post.architecture)
    if flops.shape != (table.sizes["candidate"],) or np.any(~np.isfinite(flops) | (flops <= 0)):
        raise ValueError(f"cost must give one finite FLOP count > 0 per candidate; got {cost!r}")
    whole = target_quantities(post, target, seed).stack(sample=SAMPLE_DIMS).transpose("sample", ...).values
    g = ensemble_target(post, target, whole, seed)
    f = predicted_log_loss(post, table, seed, as_run=True).stack(sample=SAMPLE_DIMS).transpose("sample", ...).values
    teachers = NewTeachers.of(table, post.architecture) if cost is None else NewTeachers.none(flops.size)
    return _Question(table, flops, whole, g, f, Ensemble.of(g, f, noise_variance(post, table["kind"].values)),
                     ExtrapolationCut.of(post, table, *law_error_points(post, target)), teachers,
                     size_beyond_fitted(post, target), isinstance(target, tuple) and post.supervised_law_fixed,
                     is_crossover(target))


def _scored(post: Any, question: _Question, batch: Batch, budget: float, seed: int) -> xr.Dataset:
    """Each candidate's cost, expected reduction alone and per FLOP, whether ``batch`` holds it and what it adds
    there, in the table's order; the batch's totals (by the linear update and by reweighting the draws, its runs
    taken by their mean predicted log loss so that one set of runs in any order gets one estimate), the target's
    mean and mean variance now and, for a crossover, its answer now (``_crossover_now``) in the attributes."""
    reduction = question.ensemble.reductions() + (question.cut.alone if question.cut else 0.0)
    out = xr.Dataset({"cost": ("candidate", question.flops, {"units": "FLOPs"}),
                      "expected_reduction": ("candidate", reduction, {"units": "target units^2"}),
                      "score": ("candidate", reduction / question.flops, {"units": "target units^2 per FLOP"}),
                      "selected": ("candidate", batch.selected),
                      "pick_order": ("candidate", _pick_order(batch), {"description": "0: picked first; -1: not"}),
                      "reduction_in_batch": ("candidate", batch.added, {"units": "target units^2"})},
                     coords={"candidate": question.table["candidate"].values})
    picked = np.flatnonzero(batch.selected)
    picked = picked[np.argsort(question.predicted[:, picked].mean(0), kind="stable")]  # one set, one estimate
    reweighted = (reweighted_reduction(question.target, question.predicted[:, picked],
                                       noise_scales(post, question.table["kind"].values[picked]), post.nu,
                                       np.random.default_rng(seed)) + batch.extrapolation) if picked.size else 0.0
    return out.assign_attrs(
        budget=float(budget), target_mean=float(np.mean(question.whole)),
        target_variance=float(np.mean(np.var(question.whole, 0))), batch_reduction=batch.reduction,
        batch_reduction_reweighted=reweighted, batch_cost=batch.cost, size_beyond_fitted=question.size_beyond_fitted,
        supervised_law_fixed=int(question.supervised_law_fixed), **_crossover_now(post, question))


def _pick_order(batch: Batch) -> np.ndarray:
    """Each candidate's place in the order ``batch`` picked it (0 first), -1 for those it does not hold."""
    order = np.full(batch.selected.size, -1)
    order[list(batch.order)] = np.arange(len(batch.order))
    return order


def picked_in_order(ranked: xr.Dataset) -> list[str]:
    """The ``candidate`` ids of a ``suggest_runs`` batch in the order they were picked (its ``pick_order``)."""
    order = ranked["pick_order"].values
    return [str(c) for c in ranked["candidate"].values[order >= 0][np.argsort(order[order >= 0])]]


def batch_head(batch: list[str], cost_of: Callable[[list[str]], float], budget: float) -> list[str]:
    """The first runs of ``batch`` (in the order picked) whose cost together, ``cost_of`` (FLOPs), fits ``budget``,
    and at least the first however dear: a round that trains part of a plan trains the plan's head."""
    size = 1
    while size < len(batch) and cost_of(batch[:size + 1]) <= budget:
        size += 1
    return batch[:size]


def _crossover_now(post: Any, question: _Question) -> dict[str, Any]:
    """A crossover target's answer now, for the attributes: C*'s 5%, 50% and 95% quantiles (FLOPs, draws' own values;
    +inf above the range searched, -inf below it, as ``summarize_crossover`` gives them), the range (FLOPs) and the
    shares of its draws below and above it; none for other targets."""
    if not question.crossover:
        return {}
    below, above = beyond_range(post, question.whole)
    lower, upper = np.log10(post.scale.compute_range)
    log10_compute = np.quantile(question.whole, [0.05, 0.5, 0.95], method="inverted_cdf")
    compute = np.where(log10_compute >= upper, np.inf, np.where(log10_compute <= lower, -np.inf, 10.0 ** log10_compute))
    return {"target_quantiles": compute,
            "compute_range": np.asarray(post.scale.compute_range, float),
            "target_share_below_range": below, "target_share_above_range": above}


def suggest_runs(post: Any, candidates: Any, target: Any, budget: float, *, cost: Any = None,
                 seed: int = 0) -> xr.Dataset:
    """``Posterior.suggest_runs``: the candidates scored by expected reduction of the target's variance per FLOP,
    sorted best first, with the batch that fits ``budget`` (FLOPs) picked jointly; the batch's cost, the target's
    mean (for a wins target, the probability that distillation wins) and mean variance now, and the batch's expected
    reduction of it (by the linear update the batch was picked by, and by reweighting the draws) in the attributes."""
    if not np.isfinite(budget) or budget <= 0:
        raise ValueError(f"budget must be a finite number of FLOPs > 0; got {budget!r}")
    question = _question(post, candidates, target, cost, seed)
    batch = greedy_batch(question.ensemble, question.flops, budget, question.teachers, cut=question.cut)
    out = _scored(post, question, batch, budget, seed)
    return out.isel(candidate=np.argsort(-out["score"].values, kind="stable")).assign_attrs(out.attrs)


def assess_batch(post: Any, runs: Any, target: Any, *, cost: Any = None, seed: int = 0) -> xr.Dataset:
    """``Posterior.assess_batch``: what training every one of ``runs`` (a plan of one's own, in the candidates'
    schema) is expected to take off the target's mean posterior variance, counted as ``suggest_runs`` counts its
    batch, so that the two compare: each run's reduction alone and what it adds given the runs before it in the
    table's order (``reduction_in_batch``; their sum, ``batch_reduction``, does not depend on the order), the
    batch's cost (FLOPs, a new teacher paid once; also its ``budget``) and its reduction by reweighting the draws.
    ``selected`` is true for every run."""
    question = _question(post, runs, target, cost, seed)
    batch = planned_batch(question.ensemble, question.flops, question.teachers, question.cut)
    return _scored(post, question, batch, batch.cost, seed)
