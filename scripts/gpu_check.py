"""The GPU checks of issues 3 and 4 as one script, for a machine with an NVIDIA GPU (``scripts/gpu_check.sh``).

1. JAX sees the GPU, and a supervised fit (250 simulated runs, 4 chains x 1000 draws) runs on it unchanged:
   wall time cold and again in the same process, diagnostics, and agreement with the same fit on the CPU (run in a
   subprocess with JAX_PLATFORMS=cpu): posterior means within 4 Monte Carlo standard errors of their difference,
   sds within 10%. The two are different floating-point programs, so their draws differ; only their distributions
   must agree, up to the error of 4,000 draws.
2. The joint fit on the paper design (71 + 715 runs, 4 chains x 1500 draws, target 0.99) on the GPU: clean
   diagnostics. Its wall time is reported, not judged: NUTS on a table this size is bound by the GPU's kernel
   latency, not its arithmetic (``scripts/gpu_scaling.py`` says where the GPU starts to pay).
3. The runner on CUDA: the smoke sweep (bf16 autocast, as the table's ``precision`` column must say), every run
   finished with finite losses; then ``benchmarks/bench_runner.py`` on the GPU (throughput against dense matmul,
   distilled / supervised step time against the FLOP prediction, peak memory).

Each check prints PASS or FAIL with its numbers and the script goes on after a failure; it exits non-zero if any
check failed. Runs in about 7 minutes on one H200. Usage: python scripts/gpu_check.py [--out DIR] [--skip-runner]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FAILED: list[str] = []


def check(name: str, fn: Callable[[], tuple[bool, str]]) -> None:
    """Run one check, print PASS/FAIL with its message and wall time; an exception is a FAIL."""
    t = time.time()
    try:
        ok, message = fn()
    except Exception:  # a failed check must not stop the ones after it
        ok, message = False, traceback.format_exc()
    print(f"[{'PASS' if ok else 'FAIL'}] {name} ({time.time() - t:.1f} s): {message}", flush=True)
    if not ok:
        FAILED.append(name)


def fit_twice(n_runs: int) -> tuple[object, list[float]]:
    """Fit ``n_runs`` simulated supervised runs (4 chains x 1000 draws) twice in this process, compiling and
    compiled; return the second posterior and both wall times (s)."""
    from bayes_distill import fit
    from bayes_distill.data.simulate import simulate_supervised

    runs = simulate_supervised(n_runs, noise=0.01, seed=0)
    walls = []
    for _ in range(2):
        t = time.time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            post = fit(runs, chains=4, draws=1000, warmup=1000, seed=0)
        walls.append(time.time() - t)
    return post, walls


def supervised_fit_moments(out: Path, label: str) -> dict[str, dict[str, float]]:
    """Fit the benchmark's supervised table twice in this process; return wall times, diagnostics and moments."""
    import jax

    from bayes_distill.inference.diagnostics import diagnose

    post, walls = fit_twice(250)
    summary = post.summary()
    result = {
        "platform": jax.devices()[0].platform, "devices": [str(d) for d in jax.devices()], "walls_s": walls,
        "diagnostics": diagnose(post.tree),
        "mean": {k: float(summary.loc[k, "mean"]) for k in summary.index},
        "sd": {k: float(summary.loc[k, "sd"]) for k in summary.index},
        "mcse": {k: float(summary.loc[k, "mcse_mean"]) for k in summary.index},
    }
    (out / f"supervised_{label}.json").write_text(json.dumps(result, indent=1))
    return result


def check_jax_gpu(out: Path) -> tuple[bool, str]:
    from bayes_distill import configure_jax

    configure_jax()  # its JAX settings, as every fit below has them
    import jax

    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    return bool(gpus), f"jax {jax.__version__}, devices {jax.devices()}"


def check_supervised(out: Path) -> tuple[bool, str]:
    gpu = supervised_fit_moments(out, "gpu")
    # One host device: jaxlib 0.11.2 (the device image's) crashed compiling the sampler over four when it was
    # pmapped; not tried since the chains are split with shard_map.
    cpu_env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    subprocess.run([sys.executable, __file__, "--out", str(out), "--cpu-fit"], env=cpu_env, check=True, cwd=REPO)
    cpu = json.loads((out / "supervised_cpu.json").read_text())
    mean_gap = {k: abs(gpu["mean"][k] - cpu["mean"][k]) / cpu["sd"][k] for k in cpu["mean"]}
    z = {k: abs(gpu["mean"][k] - cpu["mean"][k]) / (gpu["mcse"][k] ** 2 + cpu["mcse"][k] ** 2) ** 0.5
         for k in cpu["mean"]}
    sd_ratio = {k: gpu["sd"][k] / cpu["sd"][k] for k in cpu["sd"]}
    ok = (gpu["platform"] == "gpu" and not gpu["diagnostics"] and max(z.values()) < 4
          and all(0.9 < r < 1.1 for r in sd_ratio.values()))
    return ok, (f"GPU wall {gpu['walls_s'][0]:.1f} s cold, {gpu['walls_s'][1]:.1f} s again; CPU ({os.cpu_count()} "
                f"cores) {cpu['walls_s'][0]:.1f} s, {cpu['walls_s'][1]:.1f} s; GPU diagnostics "
                f"{gpu['diagnostics'] or 'clean'}; max |mean gap| {max(mean_gap.values()):.3f} sd, "
                f"{max(z.values()):.1f} MCSE; "
                f"sd ratios {min(sd_ratio.values()):.3f}-{max(sd_ratio.values()):.3f}")


def check_joint(out: Path) -> tuple[bool, str]:
    from bayes_distill import fit
    from bayes_distill.data.simulate import PAPER_RECOVERY, simulate_paper_design
    from bayes_distill.inference.diagnostics import diagnose

    runs = simulate_paper_design(PAPER_RECOVERY, noise=0.01, seed=0)
    t = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = fit(runs, chains=4, draws=1500, warmup=1000, seed=0, target_accept=0.99)
    wall = time.time() - t
    summary = post.summary()
    messages = diagnose(post.tree)
    return not messages, (
        f"wall {wall:.1f} s; max R-hat {summary['r_hat'].astype(float).max():.3f}, min bulk ESS "
        f"{summary['ess_bulk'].astype(float).min():.0f}, min tail ESS {summary['ess_tail'].astype(float).min():.0f}; "
        f"diagnostics {messages or 'clean'}")


def check_smoke_sweep(out: Path) -> tuple[bool, str]:
    import numpy as np

    from bayes_distill.runner import run_sweep

    with tempfile.TemporaryDirectory() as tmp:
        t = time.time()
        table = run_sweep(REPO / "experiments" / "smoke.toml", tmp, workers=1, progress=False)
        wall = time.time() - t
    status = table["status"].values.astype(str)
    precision = set(table["precision"].values.astype(str))
    devices = set(table["device"].values.astype(str))
    finite = bool(np.all(np.isfinite(table["loss"].values[status == "ok"])))
    ok = bool((status == "ok").all()) and precision == {"bf16-autocast"} and finite and all(
        d.startswith("cuda") for d in devices)
    return ok, (f"{table.sizes['run']} runs in {wall:.1f} s; status {sorted(set(status))}; precision {precision}; "
                f"devices {devices}; losses finite {finite}")


def check_bench_runner(out: Path) -> tuple[bool, str]:
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_runner.py"), "--seconds", "3"],
                            capture_output=True, text=True, cwd=REPO)
    (out / "bench_runner.txt").write_text(result.stdout + result.stderr)
    return result.returncode == 0 and "device cuda" in result.stdout, "\n" + result.stdout + result.stderr[-2000:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=os.environ.get("OUT", "."), help="folder for the checks' files")
    ap.add_argument("--skip-runner", action="store_true", help="the JAX checks only")
    ap.add_argument("--cpu-fit", action="store_true", help=argparse.SUPPRESS)  # the CPU side of check 1
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.cpu_fit:
        supervised_fit_moments(out, "cpu")
        return
    check("JAX sees the GPU", lambda: check_jax_gpu(out))
    check("supervised fit on the GPU, and against the CPU", lambda: check_supervised(out))
    check("joint fit on the GPU (paper design)", lambda: check_joint(out))
    if not args.skip_runner:
        check("smoke sweep on CUDA", lambda: check_smoke_sweep(out))
        check("bench_runner on CUDA", lambda: check_bench_runner(out))
    print(f"{len(FAILED)} failed: {FAILED}" if FAILED else "all checks passed", flush=True)
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
