"""``bayes-distill suggest``: which of your candidate runs to train next, from a fitted posterior.

For runs trained elsewhere (your own cluster, another team's code): the fitted posterior, a table of runs you could
train and a target say which batch within a budget narrows the target most. ``design`` is the same step in a loop
that also trains the runs with this package's runner.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayes_distill.cli.design import TARGET_HELP, is_wins, parse_target, target_label
from bayes_distill.cli.tables import format_table


def add_suggest_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("posterior", help="a posterior written by 'bayes-distill fit'")
    p.add_argument("--candidates", required=True,
                   help="the runs you could train (CSV/Parquet/netCDF): kind, N, D, and for a distilled run "
                        "teacher_loss, or teacher_N and teacher_D for a teacher still to train; optional run ids "
                        "and a cost column (FLOPs; by default the compute accounting at the posterior's architecture)")
    p.add_argument("--target", required=True, help=TARGET_HELP)
    p.add_argument("--budget", type=float, required=True, help="FLOPs to spend on the batch")
    p.add_argument("--out", help="write every candidate's cost, expected reduction, score and selection (CSV)")
    p.add_argument("--seed", type=int, default=0, help="seed of the law error's draws at new sizes")


def suggest_command(args: argparse.Namespace) -> int:
    """Rank the candidates, print the selected batch and what it is expected to do, and write the ranking."""
    from bayes_distill.atomic import atomic_path
    from bayes_distill.data.candidates import load_candidates
    from bayes_distill.inference import diagnose
    from bayes_distill.posterior.posterior import load_posterior

    post = load_posterior(args.posterior)
    for message in diagnose(post.tree):
        print(f"warning: the posterior's fit: {message}", file=sys.stderr)
    if not Path(args.candidates).is_file():
        raise ValueError(f"--candidates {args.candidates!r}: no such file")
    candidates = load_candidates(args.candidates)
    target = parse_target(args.target)
    ranked = post.suggest_runs(candidates, target, args.budget, seed=args.seed)
    table = ranking_table(candidates, ranked)
    label = (target_label(target) if isinstance(target, tuple) else
             f"ln L (L: nats/token) at the points of {args.target}")
    if is_wins(target):
        label += f"; now {ranked.attrs['target_mean']:.0%}"
    print(batch_summary(ranked, label))
    if ranked["selected"].any():
        print(selected_table(table[table["selected"]], ranked.attrs["target_variance"]))
    if args.out:
        with atomic_path(args.out) as temporary:
            table.to_csv(temporary, index=False)
        print(f"the ranking of all {len(table)} candidates is in {args.out}")
    return 0


def ranking_table(candidates: xr.Dataset, ranked: xr.Dataset) -> pd.DataFrame:
    """The candidates' own columns beside ``suggest_runs``' answer, best score first (one row per candidate)."""
    own = candidates[[v for v in ("kind", "N", "D", "teacher_loss", "teacher_N", "teacher_D")
                      if v in candidates]].to_dataframe()
    answer = ranked.to_dataframe()
    table = answer.join(own).reset_index().rename(columns={"candidate": "run"})
    first = ["run", "kind", "N", "D", *[c for c in ("teacher_loss", "teacher_N", "teacher_D") if c in table]]
    return table[[*first, "cost", "expected_reduction", "score", "selected"]]


def batch_summary(ranked: xr.Dataset, target: str) -> str:
    """What the selected batch costs and is expected to do to the target's spread, in words."""
    from bayes_distill.posterior.design import expected_cut

    selected = ranked["selected"].values
    budget, spent = ranked.attrs["budget"], ranked.attrs["batch_cost"]
    if not selected.any():
        return (f"no candidate fits the budget of {budget:.3g} FLOPs (the cheapest costs "
                f"{float(ranked['cost'].min()):.3g}); nothing selected")
    cut, linear = expected_cut(ranked), expected_cut(ranked, reweighted=False)
    return (f"target: {target}\n"
            f"selected {int(selected.sum())} of {selected.size} candidates, {spent:.3g} FLOPs "
            f"({spent / budget:.0%} of the budget)\n"
            f"expected to shrink the target's mean posterior variance by {cut:.0%} (its standard deviation by "
            f"{1 - np.sqrt(1 - cut):.0%})\n"
            f"(by the draws reweighted with simulated outcomes; the linear update the batch was picked by, a lower "
            f"bound, says {linear:.0%})")


def selected_table(selected: pd.DataFrame, target_variance: float) -> str:
    """The selected runs as printed, best score first: what each is, its cost, and the share of the target's mean
    variance its outcome alone would take off (together they take off less than the sum: they overlap)."""
    distilled = bool((selected["kind"] == "distilled").any())
    header = ["run", "kind", "N", "D", *(["teacher"] if distilled else []), "cost [FLOPs]", "variance cut alone"]
    rows = [[str(r.run), r.kind, f"{r.N:.3g}", f"{r.D:.3g}", *([_teacher(r)] if distilled else []), f"{r.cost:.3g}",
             f"{100 * r.expected_reduction / target_variance:.2g}%" if target_variance > 0 else "-"]
            for r in selected.itertuples()]
    return format_table(header, rows)


def _teacher(r: Any) -> str:
    """A candidate's teacher: its loss (nats/token), or the size and tokens of one still to train."""
    if r.kind == "supervised":
        return "-"
    if np.isfinite(getattr(r, "teacher_loss", np.nan)):
        return f"L_T {r.teacher_loss:.4g}"
    return f"train N_T {r.teacher_N:.3g}, D_T {r.teacher_D:.3g}"
