"""The fit's compiled programs: traced once per design, compiled on a worker thread, and kept for the next fit.

Compiling is most of a cold fit on a CPU. The programs of a fit (the optimiser, the sampler, the per-draw
quantities) take the model's numbers (``ModelArgs``: the runs' values, the prior's parameters) as arguments, so a
fit of new data of the same design reuses them; each is compiled on one worker thread while the calling thread
goes on tracing and running the ones before it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from bayes_distill.inference.model import ModelArgs

PROGRAMS_KEPT = 16
"""Compiled programs kept in memory, so that fitting new data of one design again skips tracing as well."""

_COMPILER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bayes-distill-xla")
"""One worker: XLA already spreads one compilation over the cores, so two at once only slow the first."""

_PROGRAMS: OrderedDict[tuple, Future] = OrderedDict()


@dataclass(frozen=True)
class Program:
    """A program of the fit: ``fn(settings, model_args, *args)``, compiled once per settings and design.

    fn: a module-level function that closes over nothing; every value it reads besides its arguments is in
        ``settings``. So the cache's key, (fn, settings, chain mapping, the arguments' structure and shapes), is
        everything the compiled program depends on: it cannot drift from the code.
    settings: a hashable value (numbers, strings, a frozen dataclass) of the program's constants.
    chains: None (one program, jitted), or "shard" / "vmap": ``fn`` is one chain's program, mapped over the leading
        axis of every argument after the model's: one chain per device, ``devices`` of them in parallel, or
        vectorised on one. Chains are split with ``shard_map`` under ``jit``, not ``pmap``: JAX's caches keep
        every pmapped executable alive, so a long loop of fits ran out of the kernel's memory mappings
        (vm.max_map_count); a jitted one is freed with the last reference to it.
    devices: the number of devices "shard" runs the chains on, one each (the number of chains).
    """

    fn: Callable[..., Any]
    settings: Hashable = None
    chains: str | None = None
    devices: int = 1

    def __post_init__(self) -> None:
        if getattr(self.fn, "__closure__", None) or "<locals>" in self.fn.__qualname__:
            raise TypeError(f"{self.fn.__qualname__} closes over values the program cache cannot see; pass them "
                            f"in settings")
        if self.chains not in (None, "shard", "vmap"):
            raise ValueError(f"chains must be None, 'shard' or 'vmap'; got {self.chains!r}")

    def transform(self) -> Callable[..., Any]:
        """``fn`` with its settings bound and its chains mapped, ready to lower."""
        def bound(args: ModelArgs, *rest: Any) -> Any:
            return self.fn(self.settings, args, *rest)

        if self.chains is None:
            return jax.jit(bound)
        n_rest = self.fn.__code__.co_argcount - 2
        if self.chains == "vmap":  # the model's arguments are shared by chains
            return jax.jit(jax.vmap(bound, in_axes=(None, *([0] * n_rest))))

        def one_chain(args: ModelArgs, *rest: Any) -> Any:
            """A device's block of one chain, run as one chain: vectorised, a loop's branches become selects, and
            the program compiles for twice as long."""
            out = bound(args, *jax.tree.map(lambda x: x[0], rest))
            return jax.tree.map(lambda x: x[None], out)

        mesh = jax.sharding.Mesh(np.array(jax.local_devices()[:self.devices]), ("chain",))
        split, shared = jax.sharding.PartitionSpec("chain"), jax.sharding.PartitionSpec()
        # No check of which values vary over the chains: NumPyro's control flow does not mark them, and each chain
        # is a program of its own.
        return jax.jit(jax.shard_map(one_chain, mesh=mesh, in_specs=(shared, *([split] * n_rest)), out_specs=split,
                                     check_vma=False))


def compiled(program: Program, args: ModelArgs, *example_args: Any) -> Callable[..., Any]:
    """``program`` compiled for the design of ``args`` and the shapes of ``example_args``; returns ``run(*args)``,
    which waits for the compilation and runs it on this fit's ``args``.

    A program of the same key compiled earlier in this process is reused; otherwise it is traced now and compiled
    on the worker thread (XLA compiles without the GIL, so this thread goes on tracing and running). Tracing stays
    on the calling thread: NumPyro's effect handlers live on one global stack, which two tracing threads would mix.
    """
    leaves, structure = jax.tree.flatten((args, example_args))
    shapes = tuple((np.shape(x), str(getattr(x, "dtype", np.result_type(x)))) for x in leaves)
    key = (program.fn.__module__, program.fn.__qualname__, program.settings, program.chains, program.devices,
           structure, shapes)
    if key in _PROGRAMS:
        _PROGRAMS.move_to_end(key)
    else:
        lowered = program.transform().lower(args, *example_args)
        _PROGRAMS[key] = _COMPILER.submit(lowered.compile)
        if len(_PROGRAMS) > PROGRAMS_KEPT:
            _PROGRAMS.popitem(last=False)
    future = _PROGRAMS[key]
    return lambda *run_args: future.result()(args, *run_args)


def batched(shapes: Any, n: int) -> Any:
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct((n, *s.shape), s.dtype), shapes)


def key_shape() -> jax.ShapeDtypeStruct:
    return jax.eval_shape(lambda: jax.random.PRNGKey(0))
