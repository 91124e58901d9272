"""Beside the layers: the experiment runner, which trains teachers, supervised and distilled students over sweeps.

``run_sweep(spec_path, out_dir)`` runs a sweep described in TOML (see experiments/README.md) and returns its
results table (xarray.Dataset, dimension ``run``), also written as ``runs.nc`` and ``runs.csv``.
Of the rest of bayes_distill, runner modules import ``bayes_distill.laws`` and ``bayes_distill.atomic`` (atomic
file writes, standard library only) and nothing else: importing the runner loads no JAX. The sweep's names load
on first use, so that the ``run`` command's arguments can be added to a parser without importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from bayes_distill.runner.executors import DaskExecutor, Executor, LocalPool, make_executor

__all__ = [
    "DaskExecutor",
    "Executor",
    "LocalPool",
    "add_run_arguments",
    "expand",
    "load_spec",
    "main_run",
    "make_executor",
    "report_failed_runs",
    "run_command",
    "run_sweep",
]

_SWEEP_NAMES = ("expand", "load_spec", "run_sweep")


def __getattr__(name: str) -> Any:
    """The sweep's names, imported when first asked for: they bring torch, which a parser does not need."""
    if name not in _SWEEP_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.sweep"), name)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``run`` command's arguments: one definition, for ``bayes-distill run`` and ``python -m bayes_distill.runner``
    alike, so the two cannot drift apart."""
    parser.add_argument("spec", help="sweep TOML file, e.g. experiments/cpu.toml")
    parser.add_argument("--out", required=True, help="output directory (results, checkpoints, runs.nc, runs.csv)")
    parser.add_argument("--scheduler", default=None,
                        help="Dask scheduler address, e.g. tcp://host:8786 (default: local process pool)")
    parser.add_argument("--workers", type=int, default=None, help="local worker processes (default: one per core)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_command(args: argparse.Namespace) -> int:
    """Run the sweep ``args`` describe and write its table; exit status 1 if any run failed, else 0.

    Failed runs are listed on stderr after the table is written, so scripts notice them and can still read it.
    ValueError (a bad spec or argument) propagates to the caller, which reports it."""
    from bayes_distill.runner.sweep import run_sweep

    table = run_sweep(args.spec, args.out, scheduler=args.scheduler, workers=args.workers,
                      progress=not args.no_progress)
    status = table["status"].values
    print(f"{int((status == 'ok').sum())} of {status.size} runs ok; table written to {args.out}/runs.nc and runs.csv")
    return 1 if report_failed_runs(table) else 0


def report_failed_runs(table: Any) -> int:
    """List a sweep table's failed runs on stderr, one line each with the reason; returns how many failed."""
    status = table["status"].values
    failed = [i for i in range(status.size) if status[i] != "ok"]
    for i in failed:
        print(f"failed: run {table['run'].values[i]} ({table['role'].values[i]}, {int(table['n_layers'].values[i])} "
              f"layers, D={float(table['D'].values[i]):.4g}): {table['failure_reason'].values[i]}", file=sys.stderr)
    return len(failed)


def main_run(argv: Sequence[str] | None = None) -> int:
    """``python -m bayes_distill.runner``: the same arguments, output and exit status as ``bayes-distill run``."""
    parser = argparse.ArgumentParser(prog="bayes-distill run", description="Run (or finish) a sweep of training runs.")
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_command(args)
    except ValueError as error:
        print(f"bayes-distill run: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main_run())
