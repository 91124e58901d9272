"""The experiment runner: trains teachers, supervised and distilled students over declarative sweeps.

``run_sweep(spec_path, out_dir)`` runs a sweep described in TOML (see experiments/README.md) and returns its
results table (xarray.Dataset, dimension ``run``), also written as ``runs.nc`` and ``runs.csv``.
Runner modules import ``bayes_distill.laws`` only.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bayes_distill.runner.executors import DaskExecutor, Executor, LocalPool, make_executor
from bayes_distill.runner.sweep import expand, load_spec, run_sweep

__all__ = [
    "DaskExecutor",
    "Executor",
    "LocalPool",
    "expand",
    "load_spec",
    "main_run",
    "make_executor",
    "run_sweep",
]


def main_run(argv: Sequence[str] | None = None) -> int:
    """``bayes-distill run SPEC --out DIR [--scheduler tcp://host:port] [--workers N] [--no-progress]``."""
    p = argparse.ArgumentParser(
        prog="bayes-distill run", description="Run (or finish) a sweep of training runs."
    )
    p.add_argument("spec", help="sweep TOML file, e.g. experiments/cpu.toml")
    p.add_argument("--out", default="runs", help="output directory (results, checkpoints, runs.nc, runs.csv)")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://host:8786")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: one per core)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    a = p.parse_args(argv)
    ds = run_sweep(a.spec, a.out, scheduler=a.scheduler, workers=a.workers, progress=not a.no_progress)
    ok = int((ds["status"] == "ok").sum())
    print(f"{ok}/{ds.sizes['run']} runs ok; table: {a.out}/runs.nc, {a.out}/runs.csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main_run())
