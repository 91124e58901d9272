"""Execute the teaching notebooks with nbclient: the one way ``make notebooks`` and the tests run them.

Usage: python notebooks/execute.py [--quick] [--out notebooks/executed] [NOTEBOOK ...]

Each notebook runs in a fresh kernel of this Python, with the notebooks' folder as its working directory, and the
executed copy (with outputs) is written to ``--out`` (ignored by git). ``--quick`` sets ``BAYES_DISTILL_QUICK=1``:
fewer draws, the smoke grid, small data subsets (what the tests run). Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
NOTEBOOKS = tuple(sorted(HERE.glob("[0-9][0-9]_*.ipynb")))
"""The teaching notebooks, in the order they are meant to be read."""
EXECUTED = HERE / "executed"
CELL_TIMEOUT = 1800
"""Seconds one cell may run (a full-mode fit or training the cpu grid's smoke fallback stays well below)."""


@contextmanager
def environment(changes: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the kernels started inside, and restore them afterwards."""
    saved = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def execute(path: str | os.PathLike, out_dir: str | os.PathLike | None = EXECUTED, *, quick: bool = False,
            env: Mapping[str, str] | None = None, timeout: int = CELL_TIMEOUT) -> nbformat.NotebookNode:
    """Run every cell of the notebook at ``path`` in a fresh kernel; raise on the first error.

    quick: set ``BAYES_DISTILL_QUICK=1`` (else "0"). env: further variables for the kernel (e.g.
    ``BAYES_DISTILL_RUNS_DIR``). The executed notebook is written to ``out_dir`` (unless None) and returned.
    """
    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    with environment({"BAYES_DISTILL_QUICK": "1" if quick else "0", "MPLBACKEND": "module://matplotlib_inline."
                      "backend_inline", **(env or {})}):
        client.execute()
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, Path(out_dir) / path.name)
    return notebook


def main(argv: Sequence[str] | None = None) -> int:
    """Execute the notebooks named (default: all four) and report each one's time."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, default=list(NOTEBOOKS))
    parser.add_argument("--quick", action="store_true", help="BAYES_DISTILL_QUICK=1: the tests' quick mode")
    parser.add_argument("--out", type=Path, default=EXECUTED, help="folder for the executed copies")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        start = time.perf_counter()
        execute(path, args.out, quick=args.quick)
        print(f"{path.name}: {time.perf_counter() - start:.0f} s -> {args.out / path.name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
