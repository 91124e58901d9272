"""Layer 5: a fitted posterior and the questions it answers, each with its uncertainty.

Every answer is a labelled ``xarray`` object that keeps the ``chain`` and ``draw`` dimensions of the draws it
came from, so a user can summarise it as they like; summaries are one call away.
"""

from __future__ import annotations

import inspect
import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from bayes_distill.atomic import atomic_path
from bayes_distill.data import load_runs
from bayes_distill.inference import FitResult, sample
from bayes_distill.inference.model import size_labels
from bayes_distill.laws import COEFFICIENTS, DISTILLATION_COEFFICIENTS, SUPERVISED_COEFFICIENTS, Architecture, LawParams
from bayes_distill.laws.equations import log_distilled_loss, log_supervised_loss
from bayes_distill.planner import allocate as plan_allocation
from bayes_distill.planner import crossover as plan_crossover
from bayes_distill.posterior.design import assess_batch, suggest_runs
from bayes_distill.posterior.law_error import FreshLawError, own_law_error
from bayes_distill.posterior.scale import PlanningScale, planning_scale
from bayes_distill.posterior.summaries import SAMPLE_DIMS


class Posterior:
    """Posterior draws of the laws' coefficients (an ArviZ DataTree in ``.tree``) and the queries over them.

    ``architecture`` is the model family of the runs; when None it is read from the runs table (the runner
    records it), and planning queries default to it and to ranges around the runs (``scale``).
    """

    def __init__(self, tree: Any, runs: xr.Dataset, fix: Mapping[str, float], nu: float,
                 architecture: Architecture | None = None) -> None:
        self.tree = tree
        self.runs = runs
        self.fix = {k: float(v) for k, v in fix.items()}
        self.nu = float(nu)
        self.scale: PlanningScale = planning_scale(runs, architecture)
        self._architecture_given = architecture is not None
        self._fresh_law_errors: dict[tuple[str, int], FreshLawError] = {}  # by (kind, seed); the draws never change

    @classmethod
    def from_fit(cls, result: FitResult, architecture: Architecture | None = None) -> Posterior:
        return cls(result.tree, result.runs, result.model_args.fix, result.model_args.nu, architecture)

    def with_architecture(self, architecture: Architecture) -> Posterior:
        """This posterior planning for ``architecture`` (for runs whose table records none, or another family);
        the default ranges follow from it and the runs (``planning_scale``), and ``save`` keeps it."""
        return Posterior(self.tree, self.runs, self.fix, self.nu, architecture)

    @property
    def architecture(self) -> Architecture:
        """The architecture whose FLOPs per token the planning queries use by default."""
        return self.scale.architecture

    @property
    def draw_count(self) -> int:
        """The number of posterior draws, all chains together."""
        sizes = self.posterior.sizes
        return int(sizes.get("chain", 1) * sizes.get("draw", 1))

    def thinned(self, max_draws: int | None) -> Posterior:
        """This posterior with every k-th draw of each chain in all its groups, k the smallest step that leaves at
        most ``max_draws`` draws; itself when it has no more (or ``max_draws`` is None). Planning solves one
        optimisation per draw, student and budget, so a few hundred draws answer much faster than ten thousand."""
        if max_draws is None or self.draw_count <= max_draws:
            return self
        if int(max_draws) != max_draws or max_draws < 1:
            raise ValueError(f"max_draws must be a positive integer; got {max_draws!r}")
        step = math.ceil(self.draw_count / max_draws)
        tree = self.tree.map_over_datasets(lambda ds: ds.isel(draw=slice(None, None, step), missing_dims="ignore"))
        return Posterior(tree, self.runs, self.fix, self.nu,
                         self.architecture if self._architecture_given else None)

    # -- coefficients -------------------------------------------------------------------------------------
    @property
    def posterior(self) -> xr.Dataset:
        return self.tree["posterior"].to_dataset()

    @property
    def free_coefficients(self) -> list[str]:
        return [c for c in COEFFICIENTS if c in self.posterior.data_vars and c not in self.fix]

    def params(self) -> xr.Dataset:
        """All 15 coefficients over (chain, draw): sampled, fixed (broadcast) or NaN when not fitted."""
        post = self.posterior
        template = xr.zeros_like(post[self.free_coefficients[0]], dtype=float)
        out = {}
        for name in COEFFICIENTS:
            if name in self.fix:
                out[name] = template + self.fix[name]
            elif name in post.data_vars:
                out[name] = post[name].astype(float)
            else:
                out[name] = template + np.nan
        return xr.Dataset(out)

    def _law(self) -> LawParams:
        """The coefficients' draws as NumPy arrays over (chain, draw), for the laws."""
        ds = self.params()
        return LawParams(*(ds[c].values for c in COEFFICIENTS))

    def summary(self) -> Any:
        """Coefficients, noise scales and the law error's spread with mean, sd, 90% equal-tailed interval, R-hat and
        bulk/tail ESS (a DataFrame). Scales sampled on their log (A, B, A', B', c1, d1) are listed as their log
        (``log_A``): a weakly identified scale spans many orders of magnitude, where its mean and sd say nothing
        (and can overflow), while its log's do; R-hat and ESS are rank-based, so the same either way."""
        import arviz_stats

        coefficients = [f"log_{c}" if f"log_{c}" in self.posterior.data_vars else c for c in self.free_coefficients]
        names = coefficients + [v for v in ("sigma_supervised", "sigma_distilled", "law_error")
                                if v in self.posterior.data_vars]
        return arviz_stats.summary(self.tree, var_names=names, ci_prob=0.9, ci_kind="eti")

    # -- predictions --------------------------------------------------------------------------------------
    @property
    def models_law_error(self) -> bool:
        """Whether the fit modelled the law's own error (``fit(..., law_error=True)``)."""
        return "law_error" in self.posterior.data_vars

    def law_error(self, kind: str, N: Any, seed: int = 0, *, extrapolated: bool = True) -> xr.DataArray:
        """The law's error on log loss at student sizes ``N`` (parameters) of ``kind`` ("supervised" or
        "distilled"), over (chain, draw, point). At a size the fit has seen (a level of
        ``inference.model.law_error_levels``): that size's fitted error. At any other: a draw of the error the model
        implies there given the fitted sizes' (``_fresh_law_error``), which grows with the distance from them. The
        same for a given seed, kind and size in every answer, so that a prediction and a plan at one size agree.
        Zero for a fit that did not model it. Every answer that carries the law error (``predict``, ``allocate``,
        ``crossover``, ``prob_distillation_wins``) adds this, and only this. ``extrapolated=False`` leaves out, at
        the sizes not seen, the part extrapolated from the fitted sizes (a design computes it in closed form)."""
        if kind not in ("supervised", "distilled"):
            raise ValueError(f"kind must be 'supervised' or 'distilled'; got {kind!r}")
        N = np.atleast_1d(np.asarray(N, float))
        post = self.posterior
        values = np.zeros((post.sizes["chain"], post.sizes["draw"], N.size))
        if self.models_law_error:
            fitted = {label: i for i, label in enumerate(post["size"].values.astype(str))}
            labels = size_labels(np.full(N.size, kind), N)
            seen = np.array([label in fitted for label in labels], dtype=bool)
            offsets = post["law_error_offset"].values
            values[..., seen] = offsets[..., [fitted[label] for label in labels[seen]]]
            if extrapolated:
                values[..., ~seen] = self._fresh_law_error(kind, seed).at(N[~seen], labels[~seen])
            else:
                values[..., ~seen] = own_law_error(post["law_error"].values, seed, labels[~seen])
        return xr.DataArray(values, dims=(*SAMPLE_DIMS, "point"), coords={"N": ("point", N)}, name="law_error",
                            attrs={"units": "log nats/token", "law": kind})

    def _fresh_law_error(self, kind: str, seed: int) -> FreshLawError:
        """The law error at sizes the fit has not seen (``law_error.FreshLawError``): each size's own offset less
        what the law makes there of the offsets it absorbed at the fitted sizes. Kept per (kind, seed), since its
        costly part (the coefficients' move) is the same at every size."""
        if (kind, seed) not in self._fresh_law_errors:
            self._fresh_law_errors[kind, seed] = FreshLawError.of(self.runs, self.posterior, self.params(),
                                                                  self.free_coefficients, self.nu, kind, seed)
        return self._fresh_law_errors[kind, seed]

    def predict(
        self,
        N: Any = None,
        D: Any = None,
        *,
        N_S: Any = None,
        D_S: Any = None,
        L_T: Any = None,
        noise: bool = False,
        seed: int = 0,
        law_error: bool = True,
    ) -> xr.DataArray:
        """Predicted loss (nats/token) over (chain, draw, point).

        ``predict(N, D)``: the supervised law; ``predict(N_S=, D_S=, L_T=)``: the distillation law. With
        ``noise=True`` the posterior's Student-t observation noise is added (a posterior predictive). A fit with
        ``law_error=True`` adds the law's error at each student size (``law_error``) unless ``law_error=False``.
        """
        law = self._law()
        if N_S is not None or D_S is not None or L_T is not None:
            if N is not None or D is not None:
                raise ValueError("predict takes either (N, D) or (N_S=, D_S=, L_T=), not both")
            if any(v is None for v in (N_S, D_S, L_T)):
                raise ValueError("predict for a distilled student needs N_S, D_S and L_T")
            self._require_distillation()
            inputs = {"N_S": N_S, "D_S": D_S, "L_T": L_T}
            kind = "distilled"
        else:
            if N is None or D is None:
                raise ValueError("predict needs N and D (supervised) or N_S, D_S and L_T (distilled)")
            inputs = {"N": N, "D": D}
            kind = "supervised"
        arrays = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, float)) for v in inputs.values()))
        for name, values in zip(inputs, arrays, strict=True):
            if values.ndim != 1 or np.any(~np.isfinite(values) | (values <= 0)):
                raise ValueError(f"{name} must be finite, > 0 and at most 1-D; got {inputs[name]!r}")
        log_loss = (log_supervised_loss(*arrays, law) if kind == "supervised"
                    else log_distilled_loss(*arrays, law))
        if law_error:
            log_loss = log_loss + self.law_error(kind, arrays[0], seed).values
        if noise:
            sigma = self.posterior[f"sigma_{kind}"].values[..., None]
            rng = np.random.default_rng(seed)
            log_loss = log_loss + sigma * rng.standard_t(self.nu, size=log_loss.shape)
        coords = {"point": np.arange(arrays[0].size)} | {k: ("point", v) for k, v in zip(inputs, arrays, strict=True)}
        return xr.DataArray(np.exp(log_loss), dims=(*SAMPLE_DIMS, "point"), coords=coords, name="loss",
                            attrs={"units": "nats/token", "law": kind, "observation_noise": int(noise),
                                   "law_error": int(law_error and self.models_law_error)})

    # -- planning -----------------------------------------------------------------------------------------
    @property
    def fits_distillation(self) -> bool:
        """Whether this posterior can predict and plan distillation: it was fitted on distilled runs, or the
        distillation coefficients were held fixed."""
        return all(c in self.posterior.data_vars or c in self.fix for c in DISTILLATION_COEFFICIENTS)

    @property
    def supervised_law_fixed(self) -> bool:
        """Whether all six supervised coefficients were held fixed (the paper's two-stage fit). An answer that
        compares distillation with supervised training then leaves out the supervised law's uncertainty, which it
        carries twice: in the supervised side and in the student's supervised loss the distillation law reads."""
        return all(c in self.fix for c in SUPERVISED_COEFFICIENTS)

    def _require_distillation(self) -> None:
        if not self.fits_distillation:
            raise ValueError("this posterior was fitted on supervised runs only: predicting or planning distillation "
                             "needs distilled runs (or fix= the distillation coefficients)")

    def _planning_arguments(self, bounds: tuple[float, float] | None, arch: Architecture | None,
                            defaulted: bool = False) -> tuple[dict[str, Any], dict[str, str]]:
        """The planner's ``bounds`` and ``arch``: the caller's, else this posterior's scale; and the attributes
        that record the architecture used and, where a default was taken, where the defaults came from."""
        attrs = {"architecture": _architecture_json(arch or self.scale.architecture)}
        if self.supervised_law_fixed:
            attrs["supervised_law_fixed"] = 1  # read by SUPERVISED_LAW_FIXED_CAUTION's users
        if defaulted or arch is None or bounds is None:
            attrs["defaults_source"] = self.scale.source
        kwargs = {"arch": arch or self.scale.architecture, "bounds": tuple(bounds or self.scale.bounds)}
        return kwargs, attrs

    def _student_law_errors(self, N_S: Any, seed: int) -> tuple[xr.DataArray, xr.DataArray]:
        """The law errors of a distilled and a supervised student of sizes ``N_S``, over (chain, draw,
        student_size)."""
        errors = (self.law_error(kind, N_S, seed) for kind in ("distilled", "supervised"))
        return tuple(e.rename(point="student_size").drop_vars("N") for e in errors)

    def allocate(self, N_S: Any, compute: Any, scenario: str = "teacher-inference", *,
                 bounds: tuple[float, float] | None = None, arch: Architecture | None = None,
                 seed: int = 0) -> xr.Dataset:
        """The compute-optimal allocation of ``bayes_distill.allocate`` for every posterior draw.

        ``bounds`` (parameters, tokens) and ``arch`` default to this posterior's ``scale`` (its runs'). A fit with
        ``law_error=True`` carries the law's error at each student size (``law_error``, drawn with ``seed``) into
        ``student_loss`` and ``supervised_loss``; the allocation itself does not depend on it.
        """
        self._require_distillation()
        kwargs, attrs = self._planning_arguments(bounds, arch)
        plan = plan_allocation(N_S, compute, scenario, self.params(), **kwargs).assign_attrs(attrs)
        if not self.models_law_error:
            return plan
        distilled, supervised = self._student_law_errors(plan["student_size"].values, seed)
        return plan.assign(student_loss=plan["student_loss"] * np.exp(distilled),
                           supervised_loss=plan["supervised_loss"] * np.exp(supervised)).assign_attrs(law_error=1)

    def crossover(self, N_S: Any, scenario: str = "teacher-inference",
                  compute_range: tuple[float, float] | None = None, *,
                  bounds: tuple[float, float] | None = None, arch: Architecture | None = None,
                  seed: int = 0) -> xr.Dataset:
        """The crossover budget of ``bayes_distill.crossover`` for every posterior draw.

        ``compute_range`` (FLOPs), ``bounds`` and ``arch`` default to this posterior's ``scale``. Summarise it
        with ``summarize_crossover``: draws where distillation wins throughout have C* = inf. A fit with
        ``law_error=True`` compares the two laws each with its error at the student's size (``law_error``).
        """
        self._require_distillation()
        kwargs, attrs = self._planning_arguments(bounds, arch, defaulted=compute_range is None)
        compute_range = self.scale.compute_range if compute_range is None else tuple(compute_range)
        if self.models_law_error:
            distilled, supervised = self._student_law_errors(N_S, seed)
            kwargs["log_loss_offset"] = (distilled - supervised).values
            attrs["law_error"] = 1
        return plan_crossover(N_S, scenario, self.params(), compute_range, **kwargs).assign_attrs(attrs)

    def prob_distillation_wins(self, N_S: Any, compute: Any, scenario: str = "teacher-inference", *,
                               bounds: tuple[float, float] | None = None,
                               arch: Architecture | None = None, seed: int = 0) -> xr.DataArray:
        """Posterior probability that compute-optimal distillation gives a lower loss than supervised training
        of the same student at the same budget, over (student_size, compute) (with the laws' errors, as
        ``allocate``)."""
        plan = self.allocate(N_S, compute, scenario, bounds=bounds, arch=arch, seed=seed)
        wins = (plan["student_loss"] < plan["supervised_loss"]).mean(SAMPLE_DIMS)
        return wins.rename("prob_distillation_wins").assign_attrs(plan.attrs, units="1")

    # -- what to run next ----------------------------------------------------------------------------------
    def suggest_runs(self, candidates: Any, target: Any, budget: float, *, cost: Any = None,
                     seed: int = 0) -> xr.Dataset:
        """Which candidate runs to train next: each scored by the expected reduction of the target's posterior variance
        per FLOP, sorted best first, and a batch that fits ``budget`` (FLOPs) chosen jointly: the best of greedy picks
        per FLOP, per square root of FLOPs and per run (``bayes_distill.posterior.design``, which says what it assumes).
        ``candidates``: a table in the runs' schema without the loss (``load_candidates``): kind, N, D, and for
        distilled runs teacher_loss, or teacher_N and teacher_D for a teacher still to train; optional ``run`` ids (one
        of a run this posterior was fitted on is an error: that run is done) and ``cost`` (FLOPs). ``target``: a table
        of points in that schema (their log losses' mean variance), or ``("crossover", N_S, scenario)`` (log10 C*),
        ``("allocation", N_S, compute, scenario)`` (log of the optimal student loss), ``("teacher_size", N_S, compute,
        scenario)`` (log N_T*) or ``("wins", N_S, compute, scenario)`` (whether distillation beats supervised training
        there, 1 or 0: its variance p (1 - p)). ``cost``: FLOPs per candidate, overriding the table's and the compute
        accounting's (the runs' architecture). Returns a Dataset over ``candidate`` with ``cost``,
        ``expected_reduction``, ``score`` (reduction per FLOP), ``selected``, ``pick_order`` (0 for the batch's first
        pick, worth most given none before it; -1 outside the batch: who cannot train the whole batch at once trains its
        head) and ``reduction_in_batch`` (what each selected run adds given those picked before it; they sum to
        ``batch_reduction``, and a run can add far more or less than it would alone). Each candidate's ``cost`` counts a
        new teacher's training; in ``selected`` the students of one new teacher pay for it once (where the accounting,
        not ``cost``, gave their costs). Its attributes: ``budget``, ``batch_cost`` (FLOPs the batch spends),
        ``target_variance`` (the target's mean posterior variance now), ``batch_reduction`` (how much the batch's
        outcomes are expected to take off it by the linear update the batch was picked by; target units^2) and
        ``batch_reduction_reweighted`` (the same by reweighting the draws, which sees what the linear update misses;
        ``posterior.design.expected_cut`` makes it a share)."""
        return suggest_runs(self, candidates, target, budget, cost=cost, seed=seed)

    def assess_batch(self, runs: Any, target: Any, *, cost: Any = None, seed: int = 0) -> xr.Dataset:
        """What training every one of ``runs`` (a plan of one's own: a table in the candidates' schema, as for
        ``suggest_runs``) is expected to take off the target's mean posterior variance, counted as
        ``suggest_runs`` counts its batch, so that a plan and a suggestion compare at their costs: the same variables
        (``selected`` true for every run; ``reduction_in_batch`` what each run adds given those before it in the
        table) and attributes (``budget`` and ``batch_cost``: the plan's FLOPs, a new teacher paid once)."""
        return assess_batch(self, runs, target, cost=cost, seed=seed)

    # -- model comparison and storage ---------------------------------------------------------------------
    def compare(self, other: Posterior, names: tuple[str, str] = ("this", "other")) -> Any:
        """PSIS-LOO comparison of two fits of the same runs (e.g. gamma free against gamma = 1); a DataFrame."""
        import arviz_stats

        if not np.array_equal(self.runs["run"].values, other.runs["run"].values):
            raise ValueError("compare needs two fits of the same runs")
        return arviz_stats.compare({names[0]: self.tree, names[1]: other.tree})

    def save(self, path: str | os.PathLike) -> Path:
        """Write the posterior, its runs and its settings to one netCDF file (atomically)."""
        path = Path(path)
        tree = self.tree.copy()
        tree["constant_data"] = xr.DataTree(self.runs.drop_vars([v for v in self.runs.data_vars
                                                                 if self.runs[v].dtype == object]))
        tree.attrs = {**tree.attrs, "bayes_distill_fix": json.dumps(self.fix), "bayes_distill_nu": self.nu}
        if self._architecture_given:
            tree.attrs["bayes_distill_architecture"] = _architecture_json(self.architecture)
        with atomic_path(path) as temporary:
            tree.to_netcdf(temporary, engine="h5netcdf")
        return path


def _architecture_json(arch: Architecture) -> str:
    return json.dumps(asdict(arch), sort_keys=True)


def load_posterior(path: str | os.PathLike) -> Posterior:
    """Read a posterior written by ``Posterior.save``; every query answers as before."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"posterior file {str(path)!r} does not exist")
    tree = xr.open_datatree(path, engine="h5netcdf").load()
    if "bayes_distill_fix" not in tree.attrs:
        raise ValueError(f"{str(path)!r} is not a bayes_distill posterior (no bayes_distill_fix attribute)")
    runs = load_runs(tree["constant_data"].to_dataset())
    fix = json.loads(tree.attrs["bayes_distill_fix"])
    nu = float(tree.attrs["bayes_distill_nu"])
    given = tree.attrs.get("bayes_distill_architecture")
    architecture = Architecture(**json.loads(given)) if given else None
    del tree["constant_data"]
    return Posterior(tree, runs, fix, nu, architecture)


def fit(runs: Any, *args: Any, **kwargs: Any) -> Posterior:
    """Fit the joint law model to ``runs`` and return its ``Posterior``. The arguments are those of
    ``bayes_distill.inference.sample``, whose signature this function shows (help(), completion)."""
    return Posterior.from_fit(sample(runs, *args, **kwargs))


# One list of arguments, sample's: fit shows it as its own rather than a second copy that could drift.
fit.__signature__ = inspect.signature(sample).replace(return_annotation=Posterior)
fit.__doc__ = f"{fit.__doc__}\n\n{sample.__doc__}"


__all__ = ["SAMPLE_DIMS", "Posterior", "fit", "load_posterior", "SUPERVISED_COEFFICIENTS"]
