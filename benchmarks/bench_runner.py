"""Runner speed benchmark (prints numbers; not a timed test).

1. Dense fp32 matrix-multiply FLOP/s on this machine (square n x n, torch's thread count).
2. Training throughput of the largest model of the cpu grid, one optimiser step at a time through the
   training loop's own ``train_step`` (forward, CE + z-loss, backward, clipping, AdamW): achieved FLOP/s
   = 3 F(N) x tokens/s with F from Eq. 69, and its ratio to (1).
3. Distillation step time / supervised step time with the grid's largest teacher (teacher logits online), against
   the FLOP-count prediction 1 + F(N_T) / (3 F(N_S)): for each student size of the grid, and for a student as
   large as the teacher. The latter isolates what distillation itself costs (teacher forward, KD targets); the
   grid's smaller students also show that a tiny model (d_model 32-64) gets fewer FLOP/s than the teacher, which a
   FLOP count cannot know. The "time prediction" 1 + t(teacher forward) / t(supervised step), both measured,
   separates the two.
Threads default to what a sweep gives each job (the local pool runs one job per core with cpu_count // workers
threads each); the dense-matmul reference runs with the same threads. Measurements alternate in short blocks
and report the fastest block, so load from other processes on a shared machine biases all of them alike. Peak
memory is the resident set (or the CUDA peak).

    python benchmarks/bench_runner.py [--spec experiments/cpu.toml] [--seconds 20] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch

from bayes_distill.runner.data import DataConfig, TokenStreams
from bayes_distill.runner.executors import default_workers
from bayes_distill.runner.model import ModelConfig, Transformer
from bayes_distill.runner.sweep import expand, load_spec, model_config
from bayes_distill.runner.train import DistillConfig, TrainConfig, make_optimizer, train_step


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def seconds_per_call(fn: Callable[[], object], seconds: float = 0.5) -> float:
    """Mean wall time of ``fn()`` over one block of about ``seconds`` (device work included)."""
    t, k = time.perf_counter(), 0
    while time.perf_counter() - t < seconds:
        fn()
        k += 1
    _sync()
    return (time.perf_counter() - t) / k


def matmul_block(n: int = 1024, seconds: float = 0.5) -> float:
    """FLOP/s of n x n fp32 matmuls (2 n^3 FLOPs each) over one block of about ``seconds``."""
    a, b = torch.randn(n, n, device=device()), torch.randn(n, n, device=device())
    a @ b
    _sync()
    return 2.0 * n**3 / seconds_per_call(lambda: a @ b, seconds)


class Stepper:
    """A model, its optimiser and one fixed batch; ``block`` times a few training steps."""

    def __init__(
        self,
        cfg: ModelConfig,
        tcfg: TrainConfig,
        x: torch.Tensor,
        y: torch.Tensor,
        teacher: Transformer | None = None,
        dist: DistillConfig | None = None,
        compile: bool = False,
    ) -> None:
        self.model = Transformer(cfg, seed=0).to(device())
        self.opt = make_optimizer(self.model, tcfg)
        self.fwd = torch.compile(self.model) if compile else self.model
        teacher = torch.compile(teacher) if compile and teacher is not None else teacher
        self.tcfg, self.x, self.y, self.teacher, self.dist = tcfg, x, y, teacher, dist
        for _ in range(3):
            self.step()

    def step(self) -> None:
        train_step(self.fwd, self.opt, self.x, self.y, self.tcfg, self.teacher, self.dist)

    def block(self, seconds: float = 0.5) -> float:
        """Seconds per step over one block."""
        return seconds_per_call(self.step, seconds)


def peak_memory_mb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@dataclass(frozen=True)
class Setup:
    """What both measurements share: the sweep spec, its training settings and token streams, its largest model and
    its student sizes (layers), and how many timed rounds each comparison takes the best of."""

    spec: dict
    train: TrainConfig
    streams: TokenStreams
    largest: int
    students: list[int]
    rounds: int

    @classmethod
    def of(cls, spec_path: str, seconds: float) -> Setup:
        spec = load_spec(spec_path)
        rows, _ = expand(spec)
        largest = max(r["layers"] for r in rows)
        students = sorted({r["layers"] for r in rows if r["kind"] == "distilled"} | {largest})
        streams = TokenStreams(DataConfig(**{**spec["data"], "paths": tuple(spec["data"]["paths"])}))
        return cls(spec, TrainConfig(**spec["train"]), streams, largest, students, max(2, int(seconds / 1.0)))


def training_throughput(setup: Setup) -> None:
    """The largest model's training tokens/s and achieved FLOP/s against a dense matmul's, eager at 1x and 4x the
    batch and compiled."""
    for mult, comp in ((1, False), (4, False), (1, True)):
        x, y = (t.to(device()) for t in setup.streams.batch("teacher", 0, setup.train.batch_size * mult))
        st = Stepper(model_config(setup.spec, setup.largest), setup.train, x, y, compile=comp)
        mm, best = 0.0, float("inf")
        for _ in range(setup.rounds):
            mm = max(mm, matmul_block())
            best = min(best, st.block())
        tps = x.numel() / best
        achieved = 3.0 * st.model.forward_flops_per_token() * tps
        print(
            f"train L={setup.largest} N={st.model.n_params} batch {tuple(x.shape)}"
            f"{' torch.compile' if comp else ' eager'}: {tps:,.0f} tokens/s, "
            f"achieved {achieved / 1e9:.1f} GFLOP/s; dense matmul {mm / 1e9:.1f} GFLOP/s; "
            f"ratio {achieved / mm:.0%}; peak memory {peak_memory_mb():.0f} MiB"
        )


def distillation_overhead(setup: Setup) -> None:
    """Each student's distilled step time over its supervised one, against the FLOP count's prediction and against
    the teacher's measured forward pass, eager and compiled."""
    teacher = Transformer(model_config(setup.spec, setup.largest), seed=1).to(device()).eval()
    dist = DistillConfig(**setup.spec["distill"])
    x, y = (t.to(device()) for t in setup.streams.batch("student", 0, setup.train.batch_size))
    for s, comp in [(s, c) for c in (False, True) for s in setup.students]:
        sup = Stepper(model_config(setup.spec, s), setup.train, x, y, compile=comp)
        dis = Stepper(model_config(setup.spec, s), setup.train, x, y, teacher, dist, compile=comp)
        t_sup, t_dis = float("inf"), float("inf")
        for _ in range(setup.rounds):
            t_sup = min(t_sup, sup.block())
            t_dis = min(t_dis, dis.block())
        pred = 1.0 + teacher.forward_flops_per_token() / (3.0 * sup.model.forward_flops_per_token())
        with torch.no_grad():  # the teacher as the distilled step runs it (compiled in the compile rows)
            t_teacher = min(seconds_per_call(partial(dis.teacher, x)) for _ in range(setup.rounds))
        ratio = t_dis / t_sup
        print(
            f"student L={s} teacher L={setup.largest}{' torch.compile' if comp else ' eager'}: "
            f"step {t_sup * 1e3:.1f} ms supervised, {t_dis * 1e3:.1f} ms "
            f"distilled; ratio {ratio:.3f} vs FLOP prediction {pred:.3f} ({ratio / pred - 1:+.1%}), "
            f"time prediction {1 + t_teacher / t_sup:.3f} ({ratio / (1 + t_teacher / t_sup) - 1:+.1%}); "
            f"peak memory {peak_memory_mb():.0f} MiB"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", default="experiments/cpu.toml")
    ap.add_argument("--seconds", type=float, default=20.0, help="measuring time per comparison")
    job_threads = max(1, (os.cpu_count() or 1) // default_workers())  # what the local pool gives each job
    ap.add_argument("--threads", type=int, default=job_threads, help="torch threads (default: a sweep job's)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    setup = Setup.of(a.spec, a.seconds)
    print(f"threads {a.threads}; device {device()}; spec {a.spec}")
    training_throughput(setup)
    distillation_overhead(setup)


if __name__ == "__main__":
    main()
