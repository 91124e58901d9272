"""Runner speed benchmark (prints numbers; not a timed test).

1. Dense fp32 matrix-multiply FLOP/s on this machine (square n x n, torch's default thread count).
2. Training throughput of the largest model of the cpu grid through the real training loop (run_job):
   achieved FLOP/s = 3 F(N) x tokens/s with F from Eq. 69, and its ratio to (1).
3. Distillation step time / supervised step time for a student and the grid's largest teacher, against the
   FLOP-count prediction 1 + F(N_T) / (3 F(N_S)). Peak memory (resident set, or CUDA peak) is reported.

    python benchmarks/bench_runner.py [--spec experiments/cpu.toml] [--seconds 15]
"""

from __future__ import annotations

import argparse
import copy
import resource
import tempfile
import time
from pathlib import Path

import torch

from bayes_distill.runner.model import ModelConfig, Transformer
from bayes_distill.runner.sweep import expand, load_spec
from bayes_distill.runner.train import run_job, save_checkpoint


def matmul_flops(n: int = 1024, seconds: float = 3.0) -> float:
    """Best sustained FLOP/s of an n x n fp32 matmul (2 n^3 FLOPs each)."""
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(3):
        if dev == "cuda":
            torch.cuda.synchronize()
        t, k = time.perf_counter(), 0
        while time.perf_counter() - t < seconds / 3:
            a @ b
            k += 1
        if dev == "cuda":
            torch.cuda.synchronize()
        best = max(best, 2.0 * n**3 * k / (time.perf_counter() - t))
    return best


def peak_memory_mb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def payload_for(spec: dict, layers: int, teacher_layers: int | None = None) -> dict:
    """A job payload of the spec's settings for a model of ``layers`` layers (distilled if teacher_layers)."""
    _, jobs = expand(spec)
    base = next(j["payload"] for j in jobs)
    p = copy.deepcopy(base)
    p["model"] = ModelConfig(**{**p["model"], "n_layers": layers}).to_dict()
    p.update(id=f"bench-{layers}-{teacher_layers}", row_ids=["bench"], save_checkpoint=False, role="bench",
             stream="student", teacher=None, distill=None)
    if teacher_layers:
        p["teacher"] = {"run": f"teacher{teacher_layers}", "N": 0.0, "D": 0.0}
        p["distill"] = dict(spec["distill"])
    return p


def timed_run(payload: dict, out: Path, tokens_per_s_guess: float, seconds: float, threads: int) -> dict:
    payload = copy.deepcopy(payload)
    payload["budgets"] = [max(20_000.0, tokens_per_s_guess * seconds)]
    payload["train"]["eval_batches"] = 1
    return run_job(payload, out, threads=threads)[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", default="experiments/cpu.toml")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    spec = load_spec(a.spec)
    rows, _ = expand(spec)
    largest = max(r["layers"] for r in rows)
    students = sorted({r["layers"] for r in rows if r["kind"] == "distilled"})
    out = Path(tempfile.mkdtemp(prefix="bench_runner_"))

    mm = matmul_flops()
    print(f"threads {a.threads}; device {'cuda' if torch.cuda.is_available() else 'cpu'}")
    print(f"dense matmul (1024^2, fp32): {mm / 1e9:.1f} GFLOP/s")
    for batch_mult in (1, 4):
        p = payload_for(spec, largest)
        p["train"]["batch_size"] *= batch_mult
        probe = timed_run(p, out, 1.0, 0.0, a.threads)
        row = timed_run(p, out, probe["tokens_per_s"], a.seconds, a.threads)
        achieved = 3.0 * row["flops_per_token_formula"] * row["tokens_per_s"]
        print(f"train L={largest} (N={row['N']:.0f}) batch {p['train']['batch_size']}x{p['model']['context_length']}:"
              f" {row['tokens_per_s']:.0f} tokens/s, achieved {achieved / 1e9:.1f} GFLOP/s"
              f" = {achieved / mm:.0%} of matmul; peak memory {peak_memory_mb():.0f} MiB")

    # distillation vs supervised step time for each student size with the largest teacher
    teacher = Transformer(ModelConfig(**payload_for(spec, largest)["model"]), seed=0)
    (out / "checkpoints").mkdir(exist_ok=True)
    save_checkpoint(teacher, out / "checkpoints" / f"teacher{largest}.safetensors", {})
    for s in students:
        sup_p, dis_p = payload_for(spec, s), payload_for(spec, s, largest)
        probe = timed_run(sup_p, out, 1.0, 0.0, a.threads)
        sup = timed_run(sup_p, out, probe["tokens_per_s"], a.seconds, a.threads)
        dis = timed_run(dis_p, out, sup["tokens_per_s"] / 3.0, a.seconds, a.threads)
        ratio = sup["tokens_per_s"] / dis["tokens_per_s"]
        pred = 1.0 + teacher.forward_flops_per_token() / (3.0 * sup["flops_per_token_formula"])
        print(f"student L={s} teacher L={largest}: distill/supervised step time {ratio:.3f}, "
              f"FLOP prediction {pred:.3f}, deviation {ratio / pred - 1:+.1%}; peak memory {peak_memory_mb():.0f} MiB")


if __name__ == "__main__":
    main()
