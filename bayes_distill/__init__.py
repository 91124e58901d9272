"""bayes_distill: distillation scaling laws (Busbridge et al., 2025) with their uncertainty.

JAX runs in float64 here: the laws span sizes and token counts from 1e3 to 1e20 and budgets past 1e25 FLOPs,
and the planner must meet a budget to 1e-6 relative.

Two more JAX settings, each left alone when the user has made their own:
- on a CPU, JAX sees four host devices (``XLA_FLAGS``) so that four MCMC chains run in parallel on the cores
  rather than vectorised on one; it takes effect only if JAX has not started its backend yet;
- compiled programs are kept in a persistent cache (``BAYES_DISTILL_JAX_CACHE``, default
  ``~/.cache/bayes_distill/jax``; set it to an empty string to turn the cache off), so that a second fit of data of
  the same design skips compilation: a cold supervised fit spends most of its time compiling.
"""

import os
from pathlib import Path

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
_cache = os.environ.get("BAYES_DISTILL_JAX_CACHE", str(Path.home() / ".cache" / "bayes_distill" / "jax"))
if _cache and jax.config.jax_compilation_cache_dir is None:
    jax.config.update("jax_compilation_cache_dir", _cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.05)

from bayes_distill.data import load_runs  # noqa: E402
from bayes_distill.inference import prior_predictive  # noqa: E402
from bayes_distill.laws import (  # noqa: E402
    PAPER,
    PAPER_ARCHITECTURE,
    PAPER_INTERVALS,
    SCENARIOS,
    Architecture,
    LawParams,
    Scenario,
    distilled_loss,
    forward_flops,
    supervised_loss,
    total_flops,
)
from bayes_distill.planner import allocate, crossover  # noqa: E402
from bayes_distill.posterior import Posterior, fit, load_posterior  # noqa: E402

__all__ = [
    "PAPER", "PAPER_ARCHITECTURE", "PAPER_INTERVALS", "SCENARIOS", "Architecture", "LawParams", "Posterior",
    "Scenario", "allocate", "crossover", "distilled_loss", "fit", "forward_flops", "load_posterior", "load_runs",
    "prior_predictive", "supervised_loss", "total_flops",
]
__version__ = "0.1.0"
