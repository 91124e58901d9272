"""Where jobs run. The runner sees only ``Executor``: submit a function, get back a handle with ``done()`` and
``result()``. ``LocalPool`` (a spawn-context process pool; no server), ``DaskExecutor`` (a Dask distributed
cluster) and ``InProcess`` (serial, in this process) implement it; a Ray or SLURM/submitit engine would implement
the same three methods.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol


class Handle(Protocol):
    def done(self) -> bool: ...

    def result(self) -> Any: ...


class Executor(Protocol):
    """An engine that runs ``fn(*args)`` somewhere; ``threads``: torch threads per job."""

    workers: int
    threads: int

    def submit(self, fn: Callable[..., Any], *args: Any) -> Handle: ...

    def close(self) -> None: ...


class InProcess:
    """Runs each job when it is submitted, in this process, one at a time: a sweep to step through in a debugger
    (and the tests' executor), with nothing to start."""

    workers = 1
    threads = 1

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        future.set_result(fn(*args))
        return future

    def close(self) -> None:
        pass


def default_workers() -> int:
    """One job per core on CPU; one job per GPU when CUDA is there."""
    import torch

    if torch.cuda.is_available():
        return max(1, torch.cuda.device_count())
    return max(1, os.cpu_count() or 1)


class LocalPool:
    """A local process pool (spawn context, so each job gets a clean torch); ``workers`` jobs at once, each
    with cpu_count // workers threads. A pool broken by a crashed worker is rebuilt on the next submit."""

    def __init__(self, workers: int | None = None, threads: int | None = None) -> None:
        self.workers = workers or default_workers()
        if self.workers <= 0:
            raise ValueError(f"workers must be positive; got {workers!r}")
        self.threads = threads or max(1, (os.cpu_count() or 1) // self.workers)
        self._pool = self._new()

    def _new(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context("spawn"))

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        try:
            return self._pool.submit(fn, *args)
        except BrokenProcessPool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new()
            return self._pool.submit(fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """Jobs on a Dask distributed cluster at ``scheduler`` (e.g. "tcp://host:8786") or on a given Client.

    Workers need bayes_distill installed and the output directory on a shared filesystem."""

    def __init__(self, scheduler: Any, threads: int | None = None) -> None:
        from distributed import Client

        self._own = not isinstance(scheduler, Client)
        self.client = Client(scheduler) if self._own else scheduler
        info = self.client.scheduler_info()
        workers = info.get("workers", {})
        self.workers = max(1, sum(w.get("nthreads", 1) for w in workers.values()))
        self.threads = threads or 1

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.client.submit(fn, *args, pure=False)

    def close(self) -> None:
        if self._own:
            self.client.close()


def make_executor(scheduler: str | None = None, workers: int | None = None) -> Executor:
    """LocalPool by default; DaskExecutor when a scheduler address is given."""
    if scheduler:
        return DaskExecutor(scheduler)
    return LocalPool(workers)
