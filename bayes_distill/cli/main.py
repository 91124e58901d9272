"""``bayes-distill``: plan, crossover, demo (and, as the package grows, run and fit)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bayes_distill.cli.tables import allocation_table, crossover_table
from bayes_distill.laws import PAPER, SCENARIOS
from bayes_distill.planner import DEFAULT_BOUNDS, DEFAULT_COMPUTE_RANGE, allocate, crossover


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    return value


def _add_planner_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--student", type=_positive_float, nargs="+", required=True,
                   help="student sizes N_S (non-embedding parameters), e.g. 1e9 3e9")
    p.add_argument("--scenario", default="teacher-inference", choices=list(SCENARIOS),
                   help="how the teacher's cost is charged (Table 2 of the paper)")
    p.add_argument("--bounds", type=_positive_float, nargs=2, default=DEFAULT_BOUNDS, metavar=("LOWER", "UPPER"),
                   help="bounds on N_T, D_S and D_T (default 1e6 1e17)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bayes-distill", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    plan = sub.add_parser("plan", help="compute-optimal distillation for students and budgets")
    _add_planner_arguments(plan)
    plan.add_argument("--compute", type=_positive_float, nargs="+", required=True, help="budgets in FLOPs")

    cross = sub.add_parser("crossover", help="budget above which supervised training matches distillation")
    _add_planner_arguments(cross)
    cross.add_argument("--range", type=_positive_float, nargs=2, default=DEFAULT_COMPUTE_RANGE,
                       metavar=("LOWER", "UPPER"), help="budgets searched, FLOPs (default 1e18 1e25)")

    sub.add_parser("demo", help="the main job: compute-optimal plans of a few students with the paper's law")
    return parser


def _demo() -> str:
    students, budgets = [3e8, 1e9, 3e9], [1e21, 1e23]
    parts = ["Compute-optimal distillation with the paper's coefficients (Busbridge et al. 2025, Table 6)."]
    for scenario in ("best-case", "teacher-inference", "teacher-pretraining"):
        parts += [f"\nscenario: {scenario}", allocation_table(allocate(students, budgets, scenario, PAPER))]
    parts += ["\nCrossover (teacher-inference): budget above which supervised training wins",
              crossover_table(crossover(students, "teacher-inference", PAPER))]
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "plan":
            result = allocate(args.student, args.compute, args.scenario, PAPER, bounds=tuple(args.bounds))
            print(f"scenario: {args.scenario}; coefficients: paper (Table 6)")
            print(allocation_table(result))
        elif args.command == "crossover":
            result = crossover(args.student, args.scenario, PAPER, tuple(args.range), bounds=tuple(args.bounds))
            print(f"scenario: {args.scenario}; coefficients: paper (Table 6)")
            print(crossover_table(result))
        elif args.command == "demo":
            print(_demo())
    except ValueError as error:
        print(f"bayes-distill {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
