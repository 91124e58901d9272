"""Importing the package changes no process-wide state, the runner needs no JAX, and imports point down the
layers."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import bayes_distill as bd


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


# The README's layers (its "Layout" table): a module imports from its own layer and those below, never above. The
# runner sits beside them: it may use the laws, the runs table's schema and the atomic writes, and only the command
# line and the loop, which drive it, import it. Lazy imports inside functions count as well.
LAYERS = {"atomic": 0, "jax_settings": 0, "laws": 1, "planner": 2, "data": 3, "inference": 4, "posterior": 5,
          "plots": 6, "report": 6, "cli": 7, "loop": 7}
RUNNER_USES = {"atomic", "laws", "data", "runner"}
RUNNER_USED_BY = {"cli", "loop", "runner"}


def _package_imports(package_root: Path) -> list[tuple[str, str, str]]:
    """(importing module's folder, imported folder, where) for every import of ``bayes_distill`` in the package,
    the package's own ``__init__`` (its public face) left out."""
    found = []
    for path in sorted(package_root.rglob("*.py")):
        relative = path.relative_to(package_root)
        if relative == Path("__init__.py"):
            continue
        source = relative.parts[0] if len(relative.parts) > 1 else relative.stem
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                parts = name.split(".")
                if parts[0] == "bayes_distill":
                    assert len(parts) > 1, f"{relative}:{node.lineno} imports the package's face, not a layer"
                    found.append((source, parts[1], f"{relative}:{node.lineno}"))
            assert not (isinstance(node, ast.ImportFrom) and node.level), f"{relative}:{node.lineno}: relative import"
    return found


def _breaches(imports: list[tuple[str, str, str]]) -> list[str]:
    """The imports that point up the layers, out of the runner beyond what it may use, or into it from elsewhere."""
    upward = [f"{where}: {source} -> {target}" for source, target, where in imports
              if source in LAYERS and target in LAYERS and LAYERS[target] > LAYERS[source]]
    runner_out = [f"{where}: runner -> {target}" for source, target, where in imports
                  if source == "runner" and target not in RUNNER_USES]
    runner_in = [f"{where}: {source} -> runner" for source, target, where in imports
                 if target == "runner" and source not in RUNNER_USED_BY]
    return upward + runner_out + runner_in


def test_imports_point_down_the_layers():
    imports = _package_imports(Path(bd.__file__).parent)
    importing = {source for source, _, _ in imports}
    assert len(imports) > 100 and importing == set(LAYERS) - {"atomic", "jax_settings"} | {"runner"}
    assert {target for _, target, _ in imports} <= set(LAYERS) | {"runner"}  # every folder has its layer
    assert _breaches(imports) == []


def test_the_layer_check_sees_imports_that_break_the_layers(tmp_path):
    for folder, text in {"laws": "def f():\n    from bayes_distill.posterior import Posterior\n",
                         "runner": "import bayes_distill.inference.fit\n",
                         "plots": "from bayes_distill.runner.sweep import expand\n"}.items():
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "bad.py").write_text(text)
    assert _breaches(_package_imports(tmp_path)) == ["laws/bad.py:2: laws -> posterior",
                                                     "runner/bad.py:1: runner -> inference",
                                                     "plots/bad.py:1: plots -> runner"]
