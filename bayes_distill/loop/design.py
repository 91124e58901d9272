"""The closed loop: train, fit, ask the posterior which runs to train next, and again, until a question is decided.

A sweep spec's families define the candidate runs. Round 0 trains the cheapest runs that identify the law; every
later round plans the batch ``Posterior.suggest_runs`` picks for the target within all the budget left and trains
the head of that batch (its first picks) that fits a round's budget, by default 1/ROUNDS of the budget left after
round 0: a receding horizon, so that every round is picked from the refit of all the runs before it. Each round
is kept in ``out/rounds``: its plan (written before training), its posterior and its record (written after), each
file whole or absent, and the runner keeps each trained job; so a loop killed at any point resumes where it was,
retraining nothing.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_distill.atomic import atomic_path
from bayes_distill.data.candidates import load_candidates
from bayes_distill.laws import COEFFICIENTS, SUPERVISED_COEFFICIENTS, Architecture
from bayes_distill.posterior import load_posterior
from bayes_distill.posterior.design import (
    batch_head,
    candidate_cost,
    expected_cut,
    is_wins,
    picked_in_order,
    target_quantities,
)

RUNS_PER_COEFFICIENT = 2.5  # round 0: the cheapest runs, this many per coefficient of each law the spec trains
ROUNDS = 10  # by default a later round spends at most 1/ROUNDS of the budget left after round 0: a refit
# between small rounds lets what the last runs told steer the next (it scored better than one batch on the
# simulated crossover: benchmarks/bench_design.py)
INTERVAL = (0.05, 0.5, 0.95)


@dataclass(frozen=True)
class Round:
    """One round of the loop: the runs it trained (its plan and the teachers they needed), the FLOPs spent by
    then, the target's 90% interval after its fit (per target quantity, in the target's units: log loss,
    log10 FLOPs, or 1/0 for whether distillation wins) and its mean posterior variance (units^2), the share of the
    round before's variance that the batch was expected to take off (None for round 0, and for rounds recorded
    before it was kept), and the target's posterior mean (for a wins target, the probability that distillation
    wins; None for rounds recorded before it was kept)."""

    number: int
    trained: list[str]
    spent: float
    low: list[float]
    median: list[float]
    high: list[float]
    variance: float | None = None
    expected_cut: float | None = None
    mean: list[float] | None = None

    @property
    def width(self) -> float:
        """The widest of the target's 90% intervals."""
        return float(np.max(np.subtract(self.high, self.low)))

    def realised_cut(self, before: Round | None) -> float:
        """The share of the target's mean variance after round ``before`` that this round's refit took off; NaN
        without both variances."""
        if before is None or before.variance is None or self.variance is None:
            return float("nan")
        return 1 - self.variance / before.variance


@dataclass(frozen=True)
class Plan:
    """What a round trains (run ids), and for a suggested batch the share of the target's mean posterior variance
    its outcomes are expected to take off (``suggest_runs``); written before the round trains anything."""

    runs: list[str]
    expected_cut: float | None = None

    @classmethod
    def read(cls, path: Path) -> Plan:
        """A plan written before; a bare list of runs is a plan of a loop from before expectations were kept."""
        saved = json.loads(path.read_text())
        return cls(saved) if isinstance(saved, list) else cls(**saved)


@dataclass
class Design:
    """The loop over a sweep ``spec`` (TOML path) in folder ``out``, asking about ``target`` (as for
    ``Posterior.suggest_runs``) within ``budget`` FLOPs, until the target's widest 90% interval is under ``width``
    (its units) if given; for a wins target, whose interval is 0-1 or a point, ``width=1`` stops once
    P(distillation wins) leaves 5-95%. ``fit_options`` go to ``fit``; ``run_options`` to ``run_sweep`` (workers,
    scheduler);
    ``starting_runs``: how many runs of each kind round 0 trains (default: RUNS_PER_COEFFICIENT per coefficient
    of that kind's law). The budget counts round 0: a budget below its cost is refused (``ValueError``) before any
    run is trained. ``round_budget``: the FLOPs a later round spends at most (its runs and the teachers they need):
    of the batch suggested for all the budget left, the runs in the order they were picked as far as they fit, and
    always the first however dear (a receding horizon: plan for the whole budget, train the plan's head, refit,
    plan again); None (the default): 1/ROUNDS of the budget left after round 0; ``math.inf``: the whole batch in
    round 1. Smaller rounds pick from what the rounds before learned and give ``width`` the chance to stop the loop
    before the budget is spent, without shutting out a dear run; each costs a fit."""

    spec: str | os.PathLike[str]
    out: str | os.PathLike[str]
    target: Any
    budget: float
    width: float | None = None
    fit_options: dict[str, Any] = field(default_factory=dict)
    run_options: dict[str, Any] = field(default_factory=dict)
    starting_runs: int | None = None
    seed: int = 0
    round_budget: float | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.budget) or self.budget <= 0:
            raise ValueError(f"budget must be a finite number of FLOPs > 0; got {self.budget!r}")
        if self.width is not None and not self.width > 0:
            raise ValueError(f"width must be > 0; got {self.width!r}")
        if self.round_budget is not None and not self.round_budget > 0:  # NaN fails too
            raise ValueError(f"round_budget must be a number of FLOPs > 0 (math.inf: the whole batch at once) or None "
                             f"(1/{ROUNDS} of the budget left after round 0); got {self.round_budget!r}")
        self.out = Path(self.out)
        (self.out / "rounds").mkdir(parents=True, exist_ok=True)

    # -- state on disk ------------------------------------------------------------------------------------
    def rounds(self) -> list[Round]:
        """The rounds finished so far, in order."""
        records = sorted((self.out / "rounds").glob("round-*[0-9].json"))
        return [Round(**json.loads(path.read_text())) for path in records]

    def posterior(self, number: int | None = None) -> Any:
        """The posterior of round ``number`` (the last by default)."""
        number = self.rounds()[-1].number if number is None else number
        return load_posterior(self._path(number, ".nc"))

    def _path(self, number: int, suffix: str) -> Path:
        return self.out / "rounds" / f"round-{number:03d}{suffix}"

    def _write(self, path: Path, obj: Any) -> None:
        with atomic_path(path) as temporary:
            temporary.write_text(json.dumps(obj, indent=1))

    # -- the candidates ---------------------------------------------------------------------------------
    def architecture(self) -> Architecture:
        """The model family of the spec's runs, in which their costs (FLOPs) are counted."""
        from bayes_distill.runner.sweep import expand, load_spec, model_config

        spec = load_spec(self.spec)
        return model_config(spec, expand(spec)[0][0]["layers"]).architecture()

    def table(self) -> pd.DataFrame:
        """Every run of the spec: kind, N, D, its teacher's run, N, D and (once trained) loss, its status ("ok",
        "failed" or "not run"), loss, and cost (FLOPs: its training and its teacher's logits; a teacher's own
        training is the teacher's run)."""
        from bayes_distill.runner.sweep import expand, load_spec

        rows = expand(load_spec(self.spec))[0]
        results = self._results()
        teacher = [r["teacher"] or {} for r in rows]
        frame = pd.DataFrame({"run": [r["run"] for r in rows], "kind": [r["kind"] for r in rows],
                              "N": [r["N"] for r in rows], "D": [r["D"] for r in rows],
                              "teacher_run": [t.get("run", "") for t in teacher],
                              "teacher_N": [t.get("N", np.nan) for t in teacher],
                              "teacher_D": [t.get("D", np.nan) for t in teacher]})
        frame["status"] = [results.get(r, {}).get("status", "not run") for r in frame["run"]]
        frame["loss"] = [results[r].get("loss", np.nan) if s == "ok" else np.nan
                         for r, s in zip(frame["run"], frame["status"], strict=True)]
        frame["teacher_loss"] = frame["teacher_run"].map(frame.set_index("run")["loss"])
        as_known = frame.assign(teacher_loss=np.where(frame["kind"] == "distilled", 1.0, np.nan))  # logits only
        frame["cost"] = candidate_cost(load_candidates(as_known.drop(columns=["run", "loss"])), self.architecture())
        return frame

    def _results(self) -> dict[str, dict]:
        """The runner's result of every trained run, by run id."""
        folder = self.out / "sweep" / "results"
        return {row["run"]: row for path in (folder.glob("*.json") if folder.exists() else ())
                for row in json.loads(path.read_text())}

    def _spent(self, frame: pd.DataFrame) -> float:
        return float(frame.loc[frame["status"] != "not run", "cost"].sum())

    def _candidates(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The runs not yet trained, in ``suggest_runs``' schema; a student whose teacher is not trained yet pays
        for that teacher's training too."""
        left = frame[frame["status"] == "not run"].copy()
        teacher_cost = left["teacher_run"].map(frame.set_index("run")["cost"]).fillna(0.0)
        untrained_teacher = left["teacher_run"].map(frame.set_index("run")["status"]).eq("not run")
        left["cost"] = left["cost"] + np.where(untrained_teacher, teacher_cost, 0.0)
        return left[["run", "kind", "N", "D", "teacher_loss", "teacher_N", "teacher_D", "cost"]]

    def _cost_with_teachers(self, frame: pd.DataFrame, runs: list[str]) -> float:
        """What training ``runs`` costs (FLOPs): each of them, and each teacher they need that is not trained yet,
        once however many students share it."""
        chosen = frame[frame["run"].isin(runs)]
        needed = set(runs) | set(chosen.loc[chosen["teacher_run"] != "", "teacher_run"])
        return float(frame.loc[frame["run"].isin(needed) & (frame["status"] == "not run"), "cost"].sum())

    def _starting_runs(self, frame: pd.DataFrame) -> list[str]:
        """Round 0: of each kind the spec trains, the cheapest runs (``starting_runs``), and then the cheapest of the
        next smallest sizes until they span three sizes (a power law in N needs three)."""
        candidates, picked = self._candidates(frame), []
        for kind, coefficients in (("supervised", len(SUPERVISED_COEFFICIENTS)),
                                   ("distilled", len(COEFFICIENTS) - len(SUPERVISED_COEFFICIENTS))):
            rows = candidates[candidates["kind"] == kind].sort_values("cost", kind="stable")
            chosen = rows.iloc[:self.starting_runs or math.ceil(RUNS_PER_COEFFICIENT * coefficients)]
            for size in np.sort(rows["N"].unique()):
                if chosen["N"].nunique() >= 3:
                    break
                if size not in chosen["N"].values:
                    chosen = pd.concat([chosen, rows[rows["N"] == size].iloc[:1]])
            picked += chosen["run"].tolist()
        return picked

    # -- the loop -----------------------------------------------------------------------------------------
    def _plan(self, number: int, frame: pd.DataFrame) -> Plan:
        """What round ``number`` trains: read back if it was planned before a stop, else chosen and written
        before any is trained."""
        path = self._path(number, ".plan.json")
        if path.exists():
            return Plan.read(path)
        plan = self._choose(number, frame)
        self._write(path, asdict(plan))
        return plan

    def _choose(self, number: int, frame: pd.DataFrame) -> Plan:
        """Round ``number``'s runs: round 0's starting runs, within the budget; later, the batch the last round's
        posterior suggests within the budget left (none when nothing left fits)."""
        if number == 0:
            plan = Plan(self._starting_runs(frame))
            cost = self._cost_with_teachers(frame, plan.runs)
            if cost > self.budget:  # refused before training: the budget counts round 0 too
                raise ValueError(f"budget {self.budget:.3g} FLOPs is less than round 0 costs: its {len(plan.runs)} "
                                 f"runs (the cheapest that identify the law) and their teachers take {cost:.3g} "
                                 "FLOPs; give a budget of at least that, or fewer starting_runs")
            return plan
        left = self.budget - self._spent(frame)
        candidates = self._candidates(frame)
        affordable = candidates[candidates["cost"] <= left].drop(columns="cost")
        if affordable.empty:
            return Plan([])
        # Costs from the compute accounting at the spec's architecture (the table's), not given, so that the
        # students of one new teacher share its training in the batch.
        post = self.posterior(number - 1).with_architecture(self.architecture())
        out = post.suggest_runs(affordable, self.target, left, seed=self.seed)
        batch = picked_in_order(out)
        head = self._head(frame, batch)
        if len(head) == len(batch):
            return Plan(batch, expected_cut(out))
        part = post.assess_batch(affordable.set_index("run").loc[head].reset_index(), self.target, seed=self.seed)
        return Plan(head, expected_cut(part))

    def round_limit(self) -> float:
        """The FLOPs a round after round 0 spends at most: ``round_budget`` if given, else 1/ROUNDS of the budget
        left after round 0 (which must be finished)."""
        if self.round_budget is not None:
            return float(self.round_budget)
        rounds = self.rounds()
        if not rounds:
            raise ValueError("the default round budget is 1/ROUNDS of the budget left after round 0, which has not "
                             "run yet: step() first, or give round_budget")
        return (self.budget - rounds[0].spent) / ROUNDS

    def _head(self, frame: pd.DataFrame, batch: list[str]) -> list[str]:
        """The head of ``batch`` that fits a round's budget with the teachers it needs (``batch_head``)."""
        limit = self.round_limit()
        if math.isinf(limit):
            return batch
        return batch_head(batch, lambda runs: self._cost_with_teachers(frame, runs), limit)

    def preview(self) -> pd.DataFrame:
        """What the next round would train, with nothing trained or written: its runs (``role`` "planned") and the
        teachers they need that are not trained yet ("teacher"), with kind, N, D and cost (FLOPs); its plan as
        written before a stop if there is one; no rows once the loop is done. Attributes: ``round``, ``cost``
        (FLOPs, each teacher once), ``spent`` (FLOPs so far) and ``expected_cut`` (the share of the target's
        variance the batch is expected to take off; None for round 0)."""
        frame, number = self.table(), len(self.rounds())
        path = self._path(number, ".plan.json")
        plan = Plan.read(path) if path.exists() else Plan([]) if self.finished() else self._choose(number, frame)
        chosen = frame[frame["run"].isin(plan.runs)]
        teachers = set(chosen.loc[chosen["teacher_run"] != "", "teacher_run"]) - set(plan.runs)
        rows = frame[frame["run"].isin(set(plan.runs) | teachers) & (frame["status"] == "not run")]
        rows = rows.assign(role=np.where(rows["run"].isin(plan.runs), "planned", "teacher"))
        rows = rows[["run", "role", "kind", "N", "D", "teacher_run", "cost"]].reset_index(drop=True)
        rows.attrs = {"round": number, "cost": self._cost_with_teachers(frame, plan.runs),
                      "spent": self._spent(frame), "expected_cut": plan.expected_cut}
        return rows

    def stop_reason(self) -> str | None:
        """Why the loop is done, in words, or None while it is not: the target decided, every run of the spec
        trained, or none of the runs left fitting the FLOPs left."""
        rounds = self.rounds()
        if not rounds:
            return None
        last = rounds[-1]
        if self.width is not None and last.width < self.width and is_wins(self.target) and last.mean is not None:
            return f"the target is decided: P(distillation wins) is {last.mean[0]:.1%}, outside 5-95%"
        if self.width is not None and last.width < self.width:
            return f"the target is decided: its widest 90% interval is {last.width:.4g}, under {self.width:g}"
        candidates, left = self._candidates(self.table()), self.budget - last.spent
        if candidates.empty:
            return "every run of the spec is trained"
        if not (candidates["cost"] <= left).any():
            return (f"no run left fits the {left:.3g} FLOPs left of the budget (of {len(candidates)} left, the "
                    f"cheapest costs {candidates['cost'].min():.3g})")
        return None

    def finished(self) -> bool:
        """Whether the loop is done (``stop_reason``)."""
        return self.stop_reason() is not None

    def step(self) -> Round | None:
        """Run the next round (train its runs, fit, record) and return it; None when the loop is done."""
        from bayes_distill.posterior import fit
        from bayes_distill.runner.sweep import run_sweep

        if self.finished():
            return None
        rounds = self.rounds()
        plan = self._plan(len(rounds), self.table())
        if not plan.runs:
            return None
        runs = run_sweep(self.spec, self.out / "sweep", only=plan.runs, **{"progress": False, **self.run_options})
        post = fit(runs, **self.fit_options)
        post.save(self._path(len(rounds), ".nc"))
        target = target_quantities(post, self.target, self.seed)
        quantiles = target.quantile(INTERVAL, dim=("chain", "draw"))
        low, median, high = (quantiles.sel(quantile=q).values.tolist() for q in INTERVAL)
        table = self.table()
        before = {run for r in rounds for run in r.trained}  # this round's: its plan and the teachers it needed
        trained = [run for run in table.loc[table["status"] != "not run", "run"] if run not in before]
        record = Round(len(rounds), trained, self._spent(table), low, median, high,
                       float(target.var(("chain", "draw")).mean()), plan.expected_cut,
                       target.mean(("chain", "draw")).values.tolist())
        self._write(self._path(len(rounds), ".json"), asdict(record))
        return record

    def run(self) -> list[Round]:
        """Rounds until the budget is spent or the target decided; all the rounds, earlier ones included."""
        while self.step() is not None:
            pass
        return self.rounds()

    def history(self) -> pd.DataFrame:
        """The rounds as a table: FLOPs spent by each round's end, runs it trained, the target's median, 90%
        interval (``low``, ``high``: of its widest quantity; ``width``) and mean (of that quantity; for a wins target
        the probability that distillation wins; NaN where not recorded), and the share of the target's mean
        variance the round's batch was expected to take off (``expected_cut``) against the share its refit took off
        (``realised_cut``): how far the loop's expectations held (NaN for round 0)."""
        rows, before = [], None
        for r in self.rounds():
            widest = int(np.argmax(np.subtract(r.high, r.low)))
            rows.append({"round": r.number, "spent": r.spent, "trained": len(r.trained), "low": r.low[widest],
                         "median": r.median[widest], "high": r.high[widest], "width": r.width,
                         "mean": np.nan if r.mean is None else r.mean[widest],
                         "expected_cut": np.nan if r.expected_cut is None else r.expected_cut,
                         "realised_cut": r.realised_cut(before)})
            before = r
        return pd.DataFrame(rows, columns=["round", "spent", "trained", "low", "median", "high", "width", "mean",
                                           "expected_cut", "realised_cut"])
