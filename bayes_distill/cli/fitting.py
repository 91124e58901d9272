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


TWO_STAGE_FIT_CAUTION = (
    "the supervised law's six coefficients were held fixed (a two-stage fit): the posterior predicts distilled "
    "losses, but its plans, crossovers and P(distillation wins) leave out the supervised law's uncertainty (they "
    "say so too); a joint fit of the supervised and distilled runs keeps it")
"""Said by ``fit`` when ``Posterior.supervised_law_fixed``: before the user asks it a question it answers too surely."""


def fit_cautions(posterior: Any) -> list[str]:
    """What ``fit`` says of a posterior that is right but answers some questions too surely: a two-stage fit's."""
    return [TWO_STAGE_FIT_CAUTION] if posterior.supervised_law_fixed else []


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
