"""Where a fit gains from the GPU: one supervised fit (4 chains x 1000 draws after 1000 warm-up) of ``n`` simulated
runs on the GPU and on the same machine's CPU, each in its own process, cold (compilation included) and again.

Usage: python scripts/gpu_scaling.py [--runs 250 4000] [--timeout 150]. Prints one line per (runs, platform).

Measured on one H200 with the device image's jax 0.11.2 (its CPU side: 16 cores, one host device, the chains
vectorised), seconds cold / again: 250 runs, GPU 46.1 / 23.2, CPU 14.0 / 7.7 (``gpu_check.py``); 2,000 runs, GPU
46.0 / 25.6, CPU 74.0 / 71.9. The GPU's time hardly grows with the table: NUTS's steps are many small kernels, each
bound by launch latency. On 2 cores here, with the chains on four host devices, 250 runs take 1.5 s again.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys


def one_fit(n_runs: int) -> None:
    """Fit ``n_runs`` simulated supervised runs twice in this process; print the platform and both wall times."""
    import jax
    from gpu_check import fit_twice  # beside this script

    from bayes_distill.inference.diagnostics import diagnose

    post, walls = fit_twice(n_runs)
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
            # One host device, as gpu_check's CPU side (jaxlib 0.11.2 crashed compiling the sampler over four).
            env = {**os.environ, "JAX_PLATFORMS": platform, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
            try:
                subprocess.run([sys.executable, __file__, "--one", str(n)], env=env, timeout=args.timeout, check=True)
            except (subprocess.TimeoutExpired, subprocess.CalledProcessError) as error:
                print(f"runs {n} platform {platform}: {type(error).__name__}", flush=True)


if __name__ == "__main__":
    main()
