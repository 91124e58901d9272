"""``bayes-distill design``: the closed loop from a sweep spec, until the budget is spent or the target decided."""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path
from typing import Any

from bayes_distill.laws import SCENARIOS
from bayes_distill.loop.design import ROUNDS
from bayes_distill.posterior.design import is_wins, target_label

TARGET_HELP = ("what to be surer of: a table of points (CSV/Parquet/netCDF: kind, N, D, and teacher_loss or teacher_N "
               "and teacher_D) whose log losses' variance is to shrink; crossover:N_S[:SCENARIO] (log10 of the "
               "crossover budget); allocation:N_S:COMPUTE[:SCENARIO] (log of the compute-optimal student loss); "
               "teacher_size:N_S:COMPUTE[:SCENARIO] (log of its teacher's size, parameters); or "
               "wins:N_S:COMPUTE[:SCENARIO] (whether distillation beats supervised training of the student at that "
               "budget: 1 or 0, decided once its probability leaves 5-95%%, where its 90%% interval's width drops from "
               "1 to 0)")
TARGET_NUMBERS = {"crossover": "N_S", "allocation": "N_S:COMPUTE", "teacher_size": "N_S:COMPUTE",
                  "wins": "N_S:COMPUTE"}  # before the scenario


def parse_target(text: str) -> Any:
    """A ``--target``: a planner answer ``crossover:N_S[:SCENARIO]``, or ``KIND:N_S:COMPUTE[:SCENARIO]`` with KIND
    allocation, teacher_size or wins (scenario default teacher-inference), else the path of a table of points."""
    kind, _, rest = text.partition(":")
    if kind not in TARGET_NUMBERS:
        if not Path(text).is_file():
            raise ValueError(f"--target {text!r}: no such table of points, nor "
                             f"{' or '.join(f'{k}:{v}[:SCENARIO]' for k, v in TARGET_NUMBERS.items())}")
        return text
    form = f"{kind}:{TARGET_NUMBERS[kind]}[:SCENARIO]"
    parts = rest.split(":")
    numbers = TARGET_NUMBERS[kind].count(":") + 1
    scenario = parts[numbers] if len(parts) > numbers else "teacher-inference"
    try:
        values = [float(v) for v in parts[:numbers]]
    except ValueError:
        raise ValueError(f"--target {text!r}: expected {form}") from None
    if len(values) != numbers or len(parts) > numbers + 1 or scenario not in SCENARIOS:
        raise ValueError(f"--target {text!r}: expected {form}, SCENARIO one of {list(SCENARIOS)}")
    return (kind, *values, scenario)


def add_design_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="a sweep spec (TOML) whose families are the candidate runs")
    p.add_argument("--out", required=True, help="folder for the runs, every round's posterior and the plot")
    p.add_argument("--budget", type=float, required=True, help="FLOPs to spend in all, round 0 included (a budget "
                   "below round 0's cost is refused before anything is trained)")
    p.add_argument("--target", required=True, help=TARGET_HELP)
    p.add_argument("--round-budget", type=float, help="FLOPs a round after round 0 spends at most: the first picks "
                   "of the batch planned for all the budget left, as far as they fit, and always the first (default: "
                   f"1/{ROUNDS} of the budget left after round 0; inf: the whole batch in round 1); each round is "
                   "planned from a refit of the rounds before, and --width can stop the loop before the budget is "
                   "spent")
    p.add_argument("--width", type=float, help="stop once the target's 90%% interval is narrower (its units; 1 for a "
                                               "wins target: stop once decided)")
    p.add_argument("--starting-runs", type=int, help="runs of each kind in round 0 (default 2.5 per coefficient)")
    p.add_argument("--fix", nargs="*", default=[], metavar="NAME=VALUE", help="hold coefficients in every fit")
    p.add_argument("--chains", type=int, default=4, help="NUTS chains of every round's fit (default 4)")
    p.add_argument("--draws", type=int, default=1000, help="draws per chain of every round's fit (default 1000)")
    p.add_argument("--workers", type=int, help="local training processes (default: one per core)")
    p.add_argument("--scheduler", help="a Dask scheduler address to train on a cluster")
    p.add_argument("--seed", type=int, default=0, help="random seed of the fits and the suggestions (default 0)")
    p.add_argument("--accept-warnings", action="store_true",
                   help="exit 0 even when the last round's fit fails its diagnostics")
    p.add_argument("--dry-run", action="store_true",
                   help="print what the next round would train and its cost, and stop: nothing trained, no plan "
                        "written")


def design_command(args: argparse.Namespace) -> int:
    """Run the loop, printing each round; write the history (design.csv) and its plot (design.png)."""
    from bayes_distill.atomic import atomic_path
    from bayes_distill.cli.fitting import parse_fix
    from bayes_distill.inference import diagnose
    from bayes_distill.loop import Design
    from bayes_distill.plots import design_progress

    loop = Design(args.spec, args.out, parse_target(args.target), args.budget, width=args.width,
                  fit_options={"chains": args.chains, "draws": args.draws, "warmup": args.draws,
                               "fix": parse_fix(args.fix)},
                  run_options={"workers": args.workers, "scheduler": args.scheduler},
                  starting_runs=args.starting_runs, seed=args.seed, round_budget=args.round_budget)
    if args.dry_run:
        return _dry_run(loop)
    before, warned = None, set()
    for past in loop.rounds():
        print(_line(past, args.budget, before, loop.target) + " (done before)")
        before = past
    while (step := _step(loop)) is not None:
        print(_line(step, args.budget, before, loop.target), flush=True)
        before = step
        warned.add(step.number)
    history = loop.history()
    with atomic_path(loop.out / "design.csv") as temporary:
        history.to_csv(temporary, index=False)
    if len(history):
        with atomic_path(loop.out / "design.png") as temporary:
            figure = design_progress(history, target_label=target_label(loop.target),
                                     probability=is_wins(loop.target), budget=loop.budget)
            figure.savefig(temporary, format="png", dpi=120)
    reason = loop.stop_reason() or "no run left is expected to narrow the target"
    print(f"stopped: {reason}; history in {loop.out / 'design.csv'}, plot in {loop.out / 'design.png'}",
          file=sys.stderr)
    problems = diagnose(loop.posterior().tree) if len(history) else []
    if problems and before.number in warned:  # this run printed them as that round's
        print(f"the last round's fit is round {before.number}'s: see its warnings above", file=sys.stderr)
    else:
        for message in problems:
            print(f"warning: the last round's fit: {message}", file=sys.stderr)
    if problems and not args.accept_warnings:
        print("bayes-distill design: the last round's diagnostics failed (see above), so its interval is not to be "
              "trusted; rerun with more --draws, fix coefficients, or pass --accept-warnings", file=sys.stderr)
        return 3
    return 0


def _dry_run(loop: Any) -> int:
    """Print the rounds done and what the next would train (``Design.preview``), or why nothing."""
    from bayes_distill.cli.tables import format_table

    for past in loop.rounds():
        print(f"round {past.number}: done, {len(past.trained)} runs; {past.spent:.3g} FLOPs spent by its end")
    preview = loop.preview()
    attrs = preview.attrs
    if preview.empty:
        reason = loop.stop_reason() or "no run left is expected to narrow the target"
        print(f"round {attrs['round']} would train nothing: {reason}")
        return 0
    planned = int((preview["role"] == "planned").sum())
    teachers = len(preview) - planned
    line = (f"round {attrs['round']} would train {planned} run{'s' * (planned != 1)}"
            + (f" and {teachers} teacher{'s' * (teachers != 1)} they need" if teachers else "")
            + f": {attrs['cost']:.3g} FLOPs, {attrs['cost'] / loop.budget:.0%} of the budget "
            + f"({attrs['spent']:.3g} spent before it)")
    if attrs["expected_cut"] is not None:
        line += f"; expected to cut the target's variance by {attrs['expected_cut']:.0%}"
    print(line)
    rows = [[r.run, r.role, r.kind, f"{r.N:.3g}", f"{r.D:.3g}", r.teacher_run or "-", f"{r.cost:.3g}"]
            for r in preview.itertuples()]
    print(format_table(["run", "role", "kind", "N", "D", "teacher", "cost [FLOPs]"], rows))
    print("(a dry run: nothing trained, no plan written)")
    return 0


def _step(loop: Any) -> Any:
    """One round of ``loop``, its fit's warnings printed as the round's (not left to scroll by as Python's)."""
    from bayes_distill.inference import FitWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FitWarning)
        step = loop.step()
    for w in caught:
        if issubclass(w.category, FitWarning):
            print(f"warning: round {step.number}'s fit: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return step


def _line(r: Any, budget: float, before: Any, target: Any) -> str:
    """Round ``r`` in words: the target's widest 90% interval in its units, or for a wins target (a 1/0 outcome,
    whose interval says nothing) the probability that distillation wins; for a suggested batch, the share of the
    target's variance it was expected to take off against the share its refit took off (from round ``before``'s),
    or added, where the outcomes surprised the posterior."""
    line = (f"round {r.number}: trained {len(r.trained)} runs, spent {r.spent:.3g} FLOPs ({r.spent / budget:.0%} of "
            "the budget)")
    if is_wins(target):
        line += f"; P(distillation wins) {r.mean[0]:.0%}" if r.mean is not None else ""
    else:
        line += f"; target 90% interval widest {r.width:.4g} ({target_label(target).split(', ')[0]})"
    realised = r.realised_cut(before)
    if r.expected_cut is not None and not math.isnan(realised):
        refit = f"its refit cut {realised:.0%}" if realised >= 0 else f"its refit raised it by {-realised:.0%}"
        line += f"; the batch was expected to cut the target's variance by {r.expected_cut:.0%}, {refit}"
    return line
