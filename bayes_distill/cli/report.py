"""The ``report`` command: ``bayes-distill report posterior.nc --out DIR [--candidates FILE --target T --budget F]``.

Exit codes: 0 when the whole report was written; 1 when it was written but a figure failed to draw (the report
shows "figure X failed: <error>" in its place and the command names it on stderr); 2 when the posterior cannot
be read or answer (nothing is written).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

from bayes_distill.cli.design import parse_target  # the command line's one reading of a target
from bayes_distill.report.answers import PLANNING_DRAWS
from bayes_distill.report.next_runs import NextRuns
from bayes_distill.report.write import ReportWarning, report_from_file


def _draw_count(text: str) -> int:
    """A count of draws: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0; got {text!r}")
    return value


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """The report command's arguments: the posterior file, ``--out``, and the optional question of what to train
    next."""
    parser.add_argument("posterior", help="a posterior written by 'bayes-distill fit' (netCDF)")
    parser.add_argument("--out", required=True,
                        help="folder for report.html (self-contained), report.md and its PNG figures")
    parser.add_argument("--planning-draws", type=_draw_count, default=PLANNING_DRAWS, metavar="N",
                        help=f"at most N posterior draws answer the planning queries and draw their figures "
                             f"(every k-th draw of each chain; default {PLANNING_DRAWS}; 0: all)")
    parser.add_argument("--candidates", help="add a section on which of these runs to train next (CSV/Parquet/"
                                             "netCDF, as for 'bayes-distill suggest'); with --target and --budget")
    parser.add_argument("--target", help="what the next runs are to make surer of (as for 'bayes-distill suggest')")
    parser.add_argument("--budget", type=float, help="FLOPs to spend on the next runs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the law error's draws at new sizes")
    parser.add_argument("--skip-fitted", action="store_true",
                        help="leave out the candidates whose run ids are runs the posterior was fitted on (by default "
                             "they are an error); the section says how many")
    parser.add_argument("--compare", metavar="PLAN",
                        help="a plan of your own (as for 'bayes-distill suggest'): the section weighs it beside the "
                             "batch, at its cost when --budget is left out")


def next_runs_question(args: argparse.Namespace) -> NextRuns | None:
    """The report's question of what to train next: all of --candidates, --target and --budget (or --compare in its
    place), or none."""
    plan = getattr(args, "compare", None)
    given = {name: getattr(args, name, None) for name in ("candidates", "target", "budget")}
    if all(value is None for value in (*given.values(), plan)):
        return None
    missing = [f"--{name}" for name, value in given.items() if value is None and not (name == "budget" and plan)]
    if missing:
        raise ValueError(f"a section on what to train next needs --candidates, --target and --budget; "
                         f"{' and '.join(missing)} missing (a plan to --compare stands in for --budget)")
    if not Path(args.candidates).is_file():
        raise ValueError(f"--candidates {args.candidates!r}: no such file")
    if plan is not None and not Path(plan).is_file():
        raise ValueError(f"--compare {plan!r}: no such file")
    return NextRuns(args.candidates, parse_target(args.target), args.budget, getattr(args, "seed", 0),
                    getattr(args, "skip_fitted", False), plan)


def report_command(args: argparse.Namespace) -> int:
    """Write the report of ``args.posterior`` into ``args.out``; returns the exit code (0, 1 or 2, see above)."""
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ReportWarning)  # stated below, once
            files = report_from_file(args.posterior, args.out, getattr(args, "planning_draws", PLANNING_DRAWS) or None,
                                     next_runs_question(args))
    except ValueError as error:
        print(f"bayes-distill report: error: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    print(f"report written to {files.html} and {files.markdown} ({len(files.figures)} figures, {elapsed:.1f} s)")
    for note in files.failures:
        print(f"bayes-distill report: {note}", file=sys.stderr)
    if files.failures:
        print(f"bayes-distill report: {len(files.failures)} figure(s) failed; the report shows a note in their "
              "place", file=sys.stderr)
        return 1
    return 0
