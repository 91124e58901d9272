"""The main job: train a sweep, fit the laws to it, answer from the posterior at the sweep's own scale, write a
report, and show the paper's plans for comparison."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bayes_distill.cli.fitting import fit_and_diagnose, print_sampler_record
from bayes_distill.cli.tables import allocation_table, crossover_table, format_table
from bayes_distill.laws import PAPER, SCENARIOS

DEMO_STUDENTS_PAPER = [3e8, 1e9, 3e9]
"""Paper-scale student sizes (parameters) of the plans from Table 6's coefficients."""
DEMO_BUDGETS_PAPER = [1e21, 1e23]
"""Paper-scale budgets (FLOPs)."""
ALLOCATION_BUDGETS = 3
"""Budgets across the runs' own training compute at which the demo prints allocations."""
WIN_MAP_BUDGETS = 6
"""Budgets across the posterior's compute range of the table of P(distillation wins)."""


def add_demo_arguments(demo: argparse.ArgumentParser) -> None:
    demo.add_argument("--spec", default="experiments/cpu.toml", help="the sweep to train")
    demo.add_argument("--out", default="runs/cpu", help="output folder (runs table, posterior, report)")
    demo.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    demo.add_argument("--chains", type=int, default=4, help="NUTS chains (default 4)")
    # The cpu grid identifies the distillation law weakly, so its chains need more draws than the fit's defaults
    # to reach R-hat <= 1.01 (the measurements are in experiments/README.md).
    demo.add_argument("--draws", type=int, default=2500, help="draws per chain")
    demo.add_argument("--warmup", type=int, default=2500, help="warm-up steps per chain")
    demo.add_argument("--target-accept", type=float, default=None,
                      help="NUTS target acceptance probability (default: the fit's rule, 0.9 and 0.99 if a "
                           "transition diverges)")


def _stage(number: int, text: str, started: float) -> None:
    print(f"\n{number}. {text}  [{time.perf_counter() - started:.0f} s]", flush=True)


def _loss_floor(table: Any) -> dict[str, float]:
    """``fix`` for the fit: E at the synthetic source's exact loss floor, when the table records one."""
    floors = np.unique(table["loss_floor"].values) if "loss_floor" in table else np.array([np.nan])
    return {"E": float(floors[0])} if floors.size == 1 and np.isfinite(floors[0]) else {}


def runs_report(table: Any) -> str:
    """What the sweep measured: its floor, and distilled against supervised students of equal N, D."""
    from bayes_distill.data import supervised_twin_loss

    lines = [f"{table.sizes['run']} runs; lowest loss measured {float(table['loss'].min()):.3f} nats/token"]
    if "entropy_rate" in table and "loss_floor" in table:
        lines.append(f"the source's entropy rate is {float(np.nanmin(table['entropy_rate'])):.4f} nats/token; a "
                     f"model seeing at most the context length sees less at a window's start, so its loss floor "
                     f"is {float(np.nanmin(table['loss_floor'])):.4f} (the law's E)")
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


def win_probability_table(posterior: Any, scenario: str = "teacher-inference") -> str:
    """P(distillation wins) over (student size, budget) at the posterior's scale, as a text table."""
    students, budgets = posterior.scale.student_sizes, posterior.scale.budgets(WIN_MAP_BUDGETS)
    wins = posterior.prob_distillation_wins(students, budgets, scenario)
    rows = [[f"{n:.3g}", *(f"{float(wins.sel(student_size=n, compute=c)):.2f}" for c in budgets)]
            for n in students]
    return format_table(["N_S \\ C [FLOPs]", *(f"{c:.2g}" for c in budgets)], rows)


def posterior_plans(posterior: Any) -> str:
    """The questions the toolkit exists for, answered from ``posterior`` at its runs' scale."""
    from bayes_distill.posterior import SAMPLE_DIMS
    from bayes_distill.report.answers import PLANNING_DRAWS

    scale, total = posterior.scale, posterior.draw_count
    posterior = posterior.thinned(PLANNING_DRAWS)
    students, budgets = list(scale.student_sizes), scale.budgets(ALLOCATION_BUDGETS, trained=True)
    parts = [f"At the runs' scale ({scale.source}); answers from {posterior.draw_count} of the {total} draws "
             "(every k-th of each chain).",
             "Compute-optimal allocation: median [5%, 95%] over the draws."]
    for scenario in SCENARIOS:
        plan = posterior.allocate(students, budgets, scenario)
        parts += [f"\nscenario: {scenario}", allocation_table(plan, SAMPLE_DIMS)]
    lower, upper = scale.compute_range
    parts += [f"\nCrossover (teacher-inference), searched over {lower:.3g} to {upper:.3g} FLOPs: the budget above "
              "which supervised training matches or beats distillation, and the shares of draws by outcome",
              crossover_table(posterior.crossover(students), SAMPLE_DIMS),
              "\nP(distillation wins), teacher-inference: compute-optimal distillation against the same student "
              "trained supervised on the same budget", win_probability_table(posterior)]
    return "\n".join(parts)


def paper_plans() -> str:
    """Plans from the paper's coefficients at the paper's scale, labelled as such."""
    from bayes_distill.planner import allocate, crossover

    students, budgets = DEMO_STUDENTS_PAPER, DEMO_BUDGETS_PAPER
    parts = ["For comparison, the paper's own fit (Busbridge et al. 2025, Table 6 coefficients, paper architecture) "
             "at the paper's scale; not this posterior."]
    for scenario in ("best-case", "teacher-inference", "teacher-pretraining"):
        parts += [f"\nscenario: {scenario}", allocation_table(allocate(students, budgets, scenario, PAPER))]
    parts += ["\nCrossover (teacher-inference): budget above which supervised training wins",
              crossover_table(crossover(students, "teacher-inference", PAPER))]
    return "\n".join(parts)


def demo(args: argparse.Namespace) -> int:
    """Train (resuming), fit, answer from the posterior, write the report, show the paper's plans; exit 1 if a run
    failed, 3 if the fit's diagnostics failed, after writing everything."""
    from bayes_distill.report import write_report
    from bayes_distill.runner import report_failed_runs, run_sweep

    started, out = time.perf_counter(), Path(args.out)
    _stage(1, f"training the sweep {args.spec} into {out}/ (finished runs are kept)", started)
    table = run_sweep(args.spec, out, workers=args.workers)
    failed = report_failed_runs(table)  # the fit goes on with the runs that finished
    print(runs_report(table))
    fix = _loss_floor(table)
    held = f"; E held at the loss floor {fix['E']:.4f}" if fix else ""
    _stage(2, f"fitting the joint Bayesian model (NumPyro NUTS, {args.chains} x {args.draws} draws after "
              f"{args.warmup} warm-up{held})", started)
    posterior, problems = fit_and_diagnose(out / "runs.nc", chains=args.chains, draws=args.draws,
                                           warmup=args.warmup, target_accept=args.target_accept, fix=fix)
    posterior.save(out / "posterior.nc")
    print(posterior.summary().to_string())
    print_sampler_record(posterior)
    for message in problems:
        print(f"diagnostics: {message}")
    if not problems:
        print("diagnostics: R-hat <= 1.01, ESS >= 400, no divergences")
    _stage(3, "what this posterior says, at the scale of its runs", started)
    print(posterior_plans(posterior))
    _stage(4, "writing the report", started)
    report = write_report(posterior, out / "report", source=str(out / "posterior.nc"))
    _stage(5, paper_plans(), started)
    print(f"\nwritten: {out / 'runs.nc'} (runs), {out / 'posterior.nc'} (posterior), {report.html} and "
          f"{report.markdown} (report, {len(report.figures)} figures beside it)")
    print(f"done in {time.perf_counter() - started:.0f} s")
    if failed:
        print(f"bayes-distill demo: {failed} runs failed (see above); the fit used the others", file=sys.stderr)
        return 1
    if problems:
        print("bayes-distill demo: the fit's diagnostics failed (see above); rerun with more --draws and --warmup",
              file=sys.stderr)
        return 3
    return 0
