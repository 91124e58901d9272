"""Where a fit gains from the GPU: one supervised fit (4 chains x 1000 draws after 1000 warm-up) of ``n`` simulated
runs on the GPU and on the same machine's CPU, each in its own process, cold (compilation included) and again.

Usage: python scripts/gpu_scaling.py [--runs 250 4000] [--timeout 150]. Prints one line per (runs, platform).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings


def one_fit(n_runs: int) -> None:
    """Fit ``n_runs`` simulated supervised runs twice in this process; print the platform and both wall times."""
    import jax

    from bayes_distill import fit
    from bayes_distill.data.simulate import simulate_supervised
    from bayes_distill.inference.diagnostics import diagnose

    runs = simulate_supervised(n_runs, noise=0.01, seed=0)
    walls = []
    for _ in range(2):
        t = time.time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            post = fit(runs, chains=4, draws=1000, warmup=1000, seed=0)
        walls.append(time.time() - t)
    print(f"runs {n_runs} platform {jax.devices()[0].platform}: cold {walls[0]:.1f} s, again {walls[1]:.1f} s; "
          f"diagnostics {diagnose(post.tree) or 'clean'}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, nargs="+", default=[250, 4000])
    ap.add_argument("--timeout", type=float, default=150.0)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        one_fit(args.one)
        return
    for n in args.runs:
        for platform in ("cuda", "cpu"):
            # One host device: the device image's jaxlib crashes compiling the sampler pmapped over four.
            env = {**os.environ, "JAX_PLATFORMS": platform, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
            try:
                subprocess.run([sys.executable, __file__, "--one", str(n)], env=env, timeout=args.timeout, check=True)
            except (subprocess.TimeoutExpired, subprocess.CalledProcessError) as error:
                print(f"runs {n} platform {platform}: {type(error).__name__}", flush=True)


if __name__ == "__main__":
    main()
