"""bayes_distill: distillation scaling laws (Busbridge et al., 2025) with their uncertainty.

Importing the package loads nothing heavy and changes no process-wide state: each name below is imported from its
layer when first used, so that ``import bayes_distill.runner`` needs neither JAX nor NumPyro. The JAX settings the
fits and the planner need (float64, host devices, a compilation cache) are made at their first call, in one place:
``bayes_distill.jax_settings``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "bayes_distill.laws": ("PAPER", "PAPER_ARCHITECTURE", "PAPER_INTERVALS", "SCENARIOS", "Architecture", "LawParams",
                           "Scenario", "distilled_loss", "forward_flops", "supervised_loss", "total_flops"),
    "bayes_distill.data": ("load_candidates", "load_runs"),
    "bayes_distill.inference": ("prior_predictive",),
    "bayes_distill.planner": ("allocate", "crossover"),
    "bayes_distill.posterior": ("Posterior", "fit", "load_posterior", "summarize_crossover", "summarize_draws"),
    "bayes_distill.loop": ("Design",),
    "bayes_distill.jax_settings": ("configure_jax",),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}
_SUBPACKAGES = ("cli", "data", "inference", "jax_settings", "laws", "loop", "planner", "plots", "posterior", "report",
                "runner")

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    """The public names, and the layers as attributes, imported on first use (PEP 562)."""
    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME, *_SUBPACKAGES})
