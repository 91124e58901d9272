"""``bayes-distill suggest``: which of your candidate runs to train next, from a fitted posterior.

For runs trained elsewhere (your own cluster, another team's code): the fitted posterior, a table of runs you could
train and a target say which batch within a budget narrows the target most. ``design`` is the same step in a loop
that also trains the runs with this package's runner.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bayes_distill.cli.design import TARGET_HELP, parse_target
from bayes_distill.cli.tables import format_table


def add_suggest_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("posterior", help="a posterior written by 'bayes-distill fit'")
    p.add_argument("--candidates", required=True,
                   help="the runs you could train (CSV/Parquet/netCDF): kind, N, D, and for a distilled run "
                        "teacher_loss, or teacher_N and teacher_D for a teacher still to train; optional run ids "
                        "and a cost column (FLOPs; by default the compute accounting at the posterior's architecture)")
    p.add_argument("--target", required=True, help=TARGET_HELP)
    p.add_argument("--budget", type=float,
                   help="FLOPs to spend on the batch (required without --compare; with it, by default the plan's cost)")
    p.add_argument("--compare", metavar="PLAN",
                   help="a plan of your own (a table in the candidates' schema, every run to be trained): say what "
                        "it is expected to cut and cost beside the suggested batch, and what each of its runs adds")
    p.add_argument("--out", help="write every candidate's cost, expected reduction, score, selection and place in "
                   "the order picked (CSV)")
    p.add_argument("--plot", help="draw each candidate's cost against the cut its outcome alone is expected to "
                                  "make, the batch filled (PNG)")
    p.add_argument("--seed", type=int, default=0, help="seed of the law error's draws at new sizes")
    p.add_argument("--skip-fitted", action="store_true",
                   help="leave out the candidates whose run ids are runs the posterior was fitted on (by default they "
                        "are an error), and say how many")


def suggest_command(args: argparse.Namespace) -> int:
    """Rank the candidates, print the selected batch and what it is expected to do, and write the ranking."""
    from bayes_distill.atomic import atomic_path
    from bayes_distill.data.candidates import load_candidates
    from bayes_distill.inference import diagnose
    from bayes_distill.posterior.posterior import load_posterior
    from bayes_distill.report.next_runs import PlanAssessed, batch_summary, candidate_rows, ranking_table

    post = load_posterior(args.posterior)
    for message in diagnose(post.tree):
        print(f"warning: the posterior's fit: {message}", file=sys.stderr)
    if not Path(args.candidates).is_file():
        raise ValueError(f"--candidates {args.candidates!r}: no such file")
    candidates = load_candidates(args.candidates)
    if args.skip_fitted:
        candidates = _without_fitted(post, candidates)
    target = parse_target(args.target)
    plan = PlanAssessed.of(post, args.compare, target, args.seed) if args.compare else None
    if args.budget is None and plan is None:
        raise ValueError("--budget is required (or --compare, whose plan's cost is then the budget)")
    budget = args.budget if args.budget is not None else plan.budget
    ranked = post.suggest_runs(candidates, target, budget, seed=args.seed)
    table = ranking_table(candidates, ranked)
    print(batch_summary(ranked, target))
    if ranked["selected"].any():
        print(format_table(*candidate_rows(table[table["selected"]], ranked.attrs["target_variance"], in_batch=True)))
    if plan is not None:
        _print_plan(plan, ranked)
    if args.out:
        with atomic_path(args.out) as temporary:
            table.to_csv(temporary, index=False)
        print(f"the ranking of all {len(table)} candidates is in {args.out}")
    if args.plot:
        from bayes_distill.plots import next_runs

        with atomic_path(args.plot) as temporary:
            next_runs(ranked, candidates["kind"]).savefig(temporary, format="png", dpi=120, bbox_inches="tight")
        print(f"the candidates' worth against their cost is drawn in {args.plot}")
    return 0


def _print_plan(plan: object, ranked: object) -> None:
    """The plan beside the suggested batch, and what each of the plan's runs adds given those before it."""
    from bayes_distill.report.next_runs import plan_summary

    print()
    print(plan_summary(plan.assessed, ranked, plan.name))
    print(format_table(*plan.rows()))


def _without_fitted(post: object, candidates: object) -> object:
    """The candidates less those the posterior was fitted on, their number said."""
    from bayes_distill.posterior.design import without_fitted

    kept, left_out = without_fitted(post, candidates)
    if left_out:
        total = left_out + kept.sizes["candidate"]
        print(f"left out {left_out} of {total} candidates: the posterior was fitted on them", file=sys.stderr)
    return kept
