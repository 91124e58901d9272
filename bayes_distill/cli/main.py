"""``bayes-distill``: plan, crossover, fit, run, and demo (the main job)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bayes_distill.cli.tables import allocation_table, crossover_table, format_table
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bayes-distill", description=__doc__)
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
    fit.add_argument("runs", help="runs table in the schema of load_runs")
    fit.add_argument("--out", required=True, help="where to write the posterior (netCDF)")
    fit.add_argument("--backend", default="numpyro", choices=["numpyro", "pymc"])
    fit.add_argument("--method", default="nuts", choices=["nuts", "svi"])
    fit.add_argument("--prior", default="default", choices=["default", "paper"])
    fit.add_argument("--fix", nargs="*", default=[], metavar="NAME=VALUE", help="hold coefficients, e.g. gamma=1")
    fit.add_argument("--chains", type=int, default=4)
    fit.add_argument("--draws", type=int, default=1000)
    fit.add_argument("--warmup", type=int, default=1000)
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--target-accept", type=float, default=None,
                     help="NUTS target acceptance probability (default: 0.9, and 0.99 if a transition diverges)")
    fit.add_argument("--accept-warnings", action="store_true",
                     help="exit 0 even when the diagnostics say the draws are not trustworthy (NUTS: R-hat, ESS, "
                          "divergences; SVI: the Pareto k of the guide's importance weights)")

    from bayes_distill.runner import add_run_arguments  # the same arguments as python -m bayes_distill.runner

    run = sub.add_parser("run", help="run (or finish) a sweep of teacher, supervised and distilled trainings")
    add_run_arguments(run)

    demo = sub.add_parser("demo", help="the main job: train the cpu grid, fit the laws to it, plan")
    demo.add_argument("--spec", default="experiments/cpu.toml", help="the sweep to train")
    demo.add_argument("--out", default="runs/cpu", help="output folder (runs table, checkpoints, posterior)")
    demo.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    demo.add_argument("--chains", type=int, default=4)
    # The cpu grid identifies the distillation law weakly, so its chains need more draws than the fit's defaults
    # to reach R-hat <= 1.01 (the measurements are in experiments/README.md).
    demo.add_argument("--draws", type=int, default=2500, help="draws per chain")
    demo.add_argument("--warmup", type=int, default=2500, help="warm-up steps per chain")
    demo.add_argument("--target-accept", type=float, default=None,
                      help="NUTS target acceptance probability (default: the fit's rule, 0.9 and 0.99 if a "
                           "transition diverges)")
    return parser


def _paper_plans() -> str:
    students, budgets = [3e8, 1e9, 3e9], [1e21, 1e23]
    parts = ["Compute-optimal distillation with the paper's coefficients (Busbridge et al. 2025, Table 6)."]
    for scenario in ("best-case", "teacher-inference", "teacher-pretraining"):
        parts += [f"\nscenario: {scenario}", allocation_table(allocate(students, budgets, scenario, PAPER))]
    parts += ["\nCrossover (teacher-inference): budget above which supervised training wins",
              crossover_table(crossover(students, "teacher-inference", PAPER))]
    return "\n".join(parts)


def _runs_report(table: Any) -> str:
    """What the sweep measured: teacher losses by size, and distilled against supervised students of equal N, D."""
    from bayes_distill.data import supervised_twin_loss

    floor = float(np.nanmin(table["entropy_rate"].values)) if "entropy_rate" in table else float("nan")
    lines = [f"{table.sizes['run']} runs; the source's exact entropy rate (the floor E) is {floor:.3f} nats/token; "
             f"lowest loss measured {float(table['loss'].min()):.3f}"]
    twins = supervised_twin_loss(table)
    students = table.sel(run=twins["run"])
    rows = []
    for i in range(twins.sizes["run"]):
        twin = float(twins[i])
        rows.append([f"{float(students['N'][i]):.3g}", f"{float(students['D'][i]):.3g}",
                     f"{float(students['teacher_N'][i]):.3g}", f"{float(students['teacher_loss'][i]):.3f}",
                     f"{float(students['loss'][i]):.3f}", f"{twin:.3f}" if np.isfinite(twin) else "-"])
    lines.append(format_table(["N_S", "D_S", "N_T", "L_T", "L_S distilled", "L supervised"], rows))
    return "\n".join(lines)


def _fit_and_diagnose(runs: Any, **kwargs: Any) -> tuple[Any, list[str]]:
    """Fit, and return the posterior with the messages of the FitWarnings its diagnostics raised (the commands
    print them and exit 3 rather than let a warning scroll by)."""
    import warnings

    from bayes_distill.inference import FitWarning
    from bayes_distill.posterior import fit

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FitWarning)
        posterior = fit(runs, **kwargs)
    return posterior, [str(w.message) for w in caught if issubclass(w.category, FitWarning)]


def _demo(args: argparse.Namespace) -> int:
    """The main job: run the sweep (resuming what is done), fit both laws to it, report, then plan with the paper's
    coefficients at the scale where they were measured."""
    from bayes_distill.runner import report_failed_runs, run_sweep

    out = Path(args.out)
    print(f"1. training the sweep {args.spec} into {out}/ (finished runs are kept)", flush=True)
    table = run_sweep(args.spec, out, workers=args.workers)
    failed = report_failed_runs(table)  # the fit goes on with the runs that finished
    print(_runs_report(table))
    # A synthetic source knows its floor exactly (the entropy rate, raised by the short context at a window's
    # start): E is then data, not a coefficient to fit. Runs far above the floor cannot pin E down themselves.
    floors = np.unique(table["loss_floor"].values) if "loss_floor" in table else np.array([np.nan])
    fix = {"E": float(floors[0])} if floors.size == 1 and np.isfinite(floors[0]) else {}
    held = f"; E held at the source's exact loss floor {fix['E']:.4f}" if fix else ""
    print(f"\n2. fitting the joint Bayesian model (NumPyro NUTS, {args.chains} x {args.draws} draws after "
          f"{args.warmup} warm-up{held})", flush=True)
    posterior, problems = _fit_and_diagnose(out / "runs.nc", chains=args.chains, draws=args.draws,
                                            warmup=args.warmup, target_accept=args.target_accept, fix=fix)
    posterior.save(out / "posterior.nc")
    print(posterior.summary().to_string())
    for message in problems:
        print(f"diagnostics: {message}")
    if not problems:
        print("diagnostics: R-hat <= 1.01, ESS >= 400, no divergences")
    print(f"posterior written to {out / 'posterior.nc'}; query it with bayes-distill plan --posterior ...")
    print("\n3. " + _paper_plans())
    if failed:
        print(f"bayes-distill demo: {failed} runs failed (see above); the fit used the others", file=sys.stderr)
        return 1
    if problems:
        print("bayes-distill demo: the fit's diagnostics failed (see above); rerun with more --draws and --warmup",
              file=sys.stderr)
        return 3
    return 0


def _fit(args: argparse.Namespace) -> int:
    fix = {}
    for item in args.fix:
        name, _, value = item.partition("=")
        try:
            fix[name] = float(value)
        except ValueError:
            raise ValueError(f"--fix expects NAME=VALUE; got {item!r}") from None
    posterior, problems = _fit_and_diagnose(args.runs, backend=args.backend, method=args.method, prior=args.prior,
                                            fix=fix, chains=args.chains, draws=args.draws, warmup=args.warmup,
                                            seed=args.seed, target_accept=args.target_accept)
    posterior.save(args.out)
    print(posterior.summary().to_string())
    print(f"posterior written to {args.out}")
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
        from bayes_distill.posterior.posterior import SAMPLE_DIMS, load_posterior

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
        elif args.command == "demo":
            return _demo(args)
    except ValueError as error:
        print(f"bayes-distill {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
