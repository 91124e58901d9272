"""Importing the package changes no process-wide state, and the runner needs no JAX."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def _in_fresh_process(code: str, env: dict[str, str] | None = None) -> dict:
    """Run ``code`` in a new interpreter (this one has JAX loaded and configured) and read the JSON it prints."""
    environment = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_ENABLE_X64")} | (env or {})
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_package_and_the_runner_loads_no_jax_and_sets_nothing():
    seen = _in_fresh_process(
        "import json, os, sys; import bayes_distill, bayes_distill.runner; "
        "print(json.dumps({'jax': 'jax' in sys.modules, 'numpyro': 'numpyro' in sys.modules, "
        "'pymc': 'pymc' in sys.modules, 'xla_flags': os.environ.get('XLA_FLAGS')}))")
    assert seen == {"jax": False, "numpyro": False, "pymc": False, "xla_flags": None}


def test_the_first_plan_makes_the_settings_and_keeps_the_users():
    code = ("import json, os, jax, bayes_distill as bd; before = jax.config.jax_enable_x64; "
            "bd.allocate(1e9, 1e22); import jax.numpy as jnp; "
            "print(json.dumps({'before': before, 'x64': jax.config.jax_enable_x64, "
            "'dtype': str(jnp.asarray(1.0).dtype), 'xla_flags': os.environ.get('XLA_FLAGS')}))")
    seen = _in_fresh_process(code, {"BAYES_DISTILL_JAX_CACHE": ""})
    assert seen == {"before": False, "x64": True, "dtype": "float64",
                    "xla_flags": "--xla_force_host_platform_device_count=4"}
    users = {"BAYES_DISTILL_JAX_CACHE": "", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    mine = _in_fresh_process(code, users)
    assert mine["xla_flags"] == "--xla_force_host_platform_device_count=2"  # the user's setting stands
