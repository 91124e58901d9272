"""The process-wide JAX settings bayes_distill needs: made here only, at the first call that computes with JAX
(a fit, a plan), never on import, and never against a setting the user made.

- float64 (``jax_enable_x64``): the laws span sizes and token counts from 1e3 to 1e20 and the planner meets a
  budget to 1e-6 relative. Left alone if the environment sets ``JAX_ENABLE_X64``.
- Four host CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count=4``), so that four MCMC chains run in
  parallel on the cores rather than vectorised on one. Left alone if ``XLA_FLAGS`` already sets a device count;
  takes effect only if JAX has not started its backend yet (otherwise the chains run vectorised).
- A persistent compilation cache (``BAYES_DISTILL_JAX_CACHE``, default ``~/.cache/bayes_distill/jax``; an empty
  string turns it off), so that a fit of data of the same design in a new process skips compilation. Left alone if
  JAX already has a cache directory.

Call ``configure_jax()`` yourself before using the package's JAX functions directly (``law_model``, the
optimisers): the public entry points call it.
"""

from __future__ import annotations

import os
from pathlib import Path

HOST_DEVICES = 4
_configured = False


def configure_jax() -> None:
    """Make the settings above once per process (later calls return at once)."""
    global _configured
    if _configured:
        return
    if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        flag = f"--xla_force_host_platform_device_count={HOST_DEVICES}"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()

    import jax

    if "JAX_ENABLE_X64" not in os.environ:
        jax.config.update("jax_enable_x64", True)
    cache = os.environ.get("BAYES_DISTILL_JAX_CACHE", str(Path.home() / ".cache" / "bayes_distill" / "jax"))
    if cache and jax.config.jax_compilation_cache_dir is None:
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.05)
    _configured = True


__all__ = ["HOST_DEVICES", "configure_jax"]
