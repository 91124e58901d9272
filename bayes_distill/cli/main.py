"""``bayes-distill``: plan, crossover, fit, run, report, suggest (what to train next), design (the closed loop), and
demo (the main job)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from bayes_distill.cli.demo import add_demo_arguments, demo
from bayes_distill.cli.design import add_design_arguments, design_command
from bayes_distill.cli.fitting import fit_and_diagnose, fit_cautions, parse_fix, print_sampler_record
from bayes_distill.cli.suggest import add_suggest_arguments, suggest_command
from bayes_distill.cli.tables import allocation_table, crossover_table
from bayes_distill.laws import PAPER, SCENARIOS
from bayes_distill.planner import DEFAULT_BOUNDS, DEFAULT_COMPUTE_RANGE, allocate, crossover


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (np.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be finite and > 0; got {text!r}")
    return value


def _add_planner_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--student", type=_positive_float, nargs="+", required=True,
                   help="student sizes N_S (non-embedding parameters), e.g. 1e9 3e9")
    p.add_argument("--scenario", default="teacher-inference", choices=list(SCENARIOS),
                   help="how the teacher's cost is charged (Table 2 of the paper)")
    p.add_argument("--bounds", type=_positive_float, nargs=2, metavar=("LOWER", "UPPER"),
                   help="bounds on N_T, D_S and D_T (default: 1e6 1e17 with the paper's coefficients; with "
                        "--posterior, 100x beyond the N and D of its runs)")


def _add_fit_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", help="runs table in the schema of load_runs")
    p.add_argument("--out", required=True, help="where to write the posterior (netCDF)")
    p.add_argument("--backend", default="numpyro", choices=["numpyro", "pymc"],
                   help="the sampler's engine (default numpyro; pymc: the independent second engine, NUTS only)")
    p.add_argument("--method", default="nuts", choices=["nuts", "svi"],
                   help="nuts (default): Markov chain draws from the posterior; svi: draws from a fitted Gaussian "
                        "approximation of it, faster and rougher")
    p.add_argument("--prior", default="default", choices=["default", "paper"],
                   help="default: weakly informative; paper: centred on the paper's Table 6 coefficients, "
                        "their intervals widened three times")
    p.add_argument("--fix", nargs="*", default=[], metavar="NAME=VALUE", help="hold coefficients, e.g. gamma=1")
    p.add_argument("--chains", type=int, default=4, help="NUTS chains (default 4)")
    p.add_argument("--draws", type=int, default=1000, help="draws per chain after warm-up (default 1000)")
    p.add_argument("--warmup", type=int, default=1000, help="warm-up steps per chain (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the fit (default 0)")
    p.add_argument("--target-accept", type=float, default=None,
                   help="NUTS target acceptance probability (default: 0.9, and 0.99 if a transition diverges)")
    p.add_argument("--no-extend", dest="extend", action="store_false",
                   help="keep exactly --draws per chain (by default NumPyro NUTS chains that end a little short of "
                        "R-hat <= 1.01 and ESS >= 400 go on, by half the draws at a time, at most three times)")
    p.add_argument("--law-error", action=argparse.BooleanOptionalAction, default=None,
                   help="model the law's own error at each student size, so that intervals widen where the fit "
                        "extrapolates to sizes it has not seen (default: where runs of several groups share two "
                        "or more student sizes of a kind)")
    p.add_argument("--accept-warnings", action="store_true",
                   help="exit 0 even when the diagnostics say the draws are not trustworthy (NUTS: R-hat, ESS, "
                        "divergences; SVI: the Pareto k of the guide's importance weights)")


def build_parser() -> argparse.ArgumentParser:
    # The module docstring, less its reST quotes, which a terminal would show as they are.
    parser = argparse.ArgumentParser(prog="bayes-distill", description=__doc__.replace("``", ""))
    sub = parser.add_subparsers(dest="command", required=True)

    plan = sub.add_parser("plan", help="compute-optimal distillation for students and budgets")
    _add_planner_arguments(plan)
    plan.add_argument("--posterior", help="a posterior written by 'bayes-distill fit' (default: paper coefficients)")
    plan.add_argument("--compute", type=_positive_float, nargs="+", required=True, help="budgets in FLOPs")

    cross = sub.add_parser("crossover", help="budget above which supervised training matches distillation")
    _add_planner_arguments(cross)
    cross.add_argument("--range", type=_positive_float, nargs=2, metavar=("LOWER", "UPPER"),
                       help="budgets searched, FLOPs (default: 1e18 1e25 with the paper's coefficients; with "
                            "--posterior, 10x beyond the training compute of its runs)")
    cross.add_argument("--posterior", help="a posterior written by 'bayes-distill fit'")

    fit = sub.add_parser("fit", help="fit the laws to a runs table (CSV, Parquet or netCDF)")
    _add_fit_arguments(fit)

    from bayes_distill.runner import add_run_arguments  # the same arguments as python -m bayes_distill.runner

    run = sub.add_parser("run", help="run (or finish) a sweep of teacher, supervised and distilled trainings")
    add_run_arguments(run)

    from bayes_distill.cli.report import add_report_arguments

    report = sub.add_parser("report", help="write an HTML and a Markdown report of a posterior, with its figures")
    add_report_arguments(report)

    suggest = sub.add_parser("suggest", help="which candidate runs to train next for a target, within a budget, "
                                             "from a posterior written by 'fit'")
    add_suggest_arguments(suggest)

    design = sub.add_parser("design", help="the closed loop: train the cheapest runs of a sweep, fit, train what the "
                                           "posterior suggests for a target, refit, until the budget is spent")
    add_design_arguments(design)

    demo = sub.add_parser("demo", help="the main job: train the cpu grid, fit the laws to it, answer from the "
                                       "posterior, write the report")
    add_demo_arguments(demo)
    return parser


def _fit(args: argparse.Namespace) -> int:
    fix = parse_fix(args.fix)
    posterior, problems = fit_and_diagnose(args.runs, backend=args.backend, method=args.method, prior=args.prior,
                                            fix=fix, chains=args.chains, draws=args.draws, warmup=args.warmup,
                                            seed=args.seed, target_accept=args.target_accept,
                                            extend=args.extend,
                                            **({} if args.law_error is None else {"law_error": args.law_error}))
    posterior.save(args.out)
    print(posterior.summary().to_string())
    print_sampler_record(posterior)
    print(f"posterior written to {args.out}")
    for caution in fit_cautions(posterior):
        print(f"caution: {caution}")
    for message in problems:
        print(f"warning: {message}", file=sys.stderr)
    if problems and not args.accept_warnings:
        print("bayes-distill fit: the diagnostics failed (see above); rerun as advised or pass --accept-warnings",
              file=sys.stderr)
        return 3
    return 0


def _plan(args: argparse.Namespace) -> int:
    """``plan`` and ``crossover``: from the paper's coefficients, or through a fitted ``Posterior``, whose queries
    refuse what its runs cannot answer (a fit of supervised runs only cannot plan distillation)."""
    bounds = tuple(args.bounds) if args.bounds else None
    compute_range = tuple(args.range) if getattr(args, "range", None) else None
    if args.posterior:
        from bayes_distill.posterior import SAMPLE_DIMS, SUPERVISED_LAW_FIXED_CAUTION, load_posterior

        posterior, source, dims = load_posterior(args.posterior), args.posterior, SAMPLE_DIMS
        if args.command == "plan":
            result = posterior.allocate(args.student, args.compute, args.scenario, bounds=bounds)
        else:
            result = posterior.crossover(args.student, args.scenario, compute_range, bounds=bounds)
        source += f" (architecture and defaults: {posterior.scale.source})"
    else:
        source, dims = "paper (Table 6)", ()
        bounds = bounds or DEFAULT_BOUNDS
        if args.command == "plan":
            result = allocate(args.student, args.compute, args.scenario, PAPER, bounds=bounds)
        else:
            result = crossover(args.student, args.scenario, PAPER, compute_range or DEFAULT_COMPUTE_RANGE,
                               bounds=bounds)
    print(f"scenario: {args.scenario}; coefficients: {source}" + ("; cells: median [5%, 95%]" if dims else ""))
    print(allocation_table(result, dims) if args.command == "plan" else crossover_table(result, dims))
    if args.posterior and result.attrs.get("supervised_law_fixed"):
        print(f"caution: {SUPERVISED_LAW_FIXED_CAUTION}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("plan", "crossover"):
            return _plan(args)
        elif args.command == "fit":
            return _fit(args)
        elif args.command == "run":
            from bayes_distill.runner import run_command

            return run_command(args)
        elif args.command == "report":
            from bayes_distill.cli.report import report_command

            return report_command(args)
        elif args.command == "suggest":
            return suggest_command(args)
        elif args.command == "design":
            return design_command(args)
        elif args.command == "demo":
            return demo(args)
    except ValueError as error:
        print(f"bayes-distill {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
