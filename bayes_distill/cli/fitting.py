"""Fitting for the commands: the diagnostics' warnings become messages the command prints before it exits 3."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def fit_and_diagnose(runs: Any, **kwargs: Any) -> tuple[Any, list[str]]:
    """Fit, and return the posterior with the messages of the FitWarnings its diagnostics raised (the commands
    print them and exit 3 rather than let a warning scroll by)."""
    import warnings

    from bayes_distill.inference import FitWarning
    from bayes_distill.posterior import fit

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FitWarning)
        posterior = fit(runs, **kwargs)
    return posterior, [str(w.message) for w in caught if issubclass(w.category, FitWarning)]


def print_sampler_record(posterior: Any) -> None:
    """What the fit's rules did to reach its draws (``sampler_record``), a line each, so the user sees it."""
    from bayes_distill.inference.diagnostics import sampler_record

    for step in sampler_record(posterior.tree):
        print(f"the fit {step}")


def parse_fix(items: Sequence[str]) -> dict[str, float]:
    """``--fix NAME=VALUE ...`` as a mapping of coefficients to values."""
    fix = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            fix[name] = float(value)
        except ValueError:
            raise ValueError(f"--fix expects NAME=VALUE; got {item!r}") from None
    return fix
