"""Priors on the laws' coefficients, written once and built for NumPyro or PyMC.

Each coefficient gets a ``Prior``: a distribution family on the coefficient itself or on its log. Scale
coefficients (A, B, A', B', c1, d1) live on the log scale; exponents on (0, 2); E below the smallest
observed loss (the data say it is a floor). Noise scales are on the log-loss residuals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from bayes_distill.laws import COEFFICIENTS, DISTILLATION_COEFFICIENTS, PAPER, PAPER_INTERVALS

FAMILIES = ("normal", "uniform", "halfnormal", "truncnormal", "lognormal")


@dataclass(frozen=True)
class Prior:
    """``family`` with parameters (a, b): normal(loc, scale), uniform(low, high), halfnormal(scale, -),
    truncnormal(loc, scale) truncated to (low, high), where a bound of None (or an infinite one) is no bound,
    lognormal(loc, scale) (the log of the value is normal(loc, scale)).
    ``log=True`` puts it on log(coefficient).

    A JAX pytree whose numbers are its leaves (family, log and which bounds exist are its structure), so that
    compiled fits take priors as arguments: one compiled program serves every prior of the same form.
    """

    family: str
    a: float
    b: float = np.nan
    log: bool = False
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"prior family must be one of {FAMILIES}; got {self.family!r}")
        for name in ("low", "high"):  # an infinite bound is no bound (numbers only: inside JAX they are traced)
            value = getattr(self, name)
            if isinstance(value, int | float) and np.isinf(value):
                object.__setattr__(self, name, None)

    def site(self, name: str) -> str:
        """The sample-site name: the coefficient, or ``log_<coefficient>``."""
        return f"log_{name}" if self.log else name

    def numpyro(self) -> Any:
        import numpyro.distributions as dist

        if self.family == "normal":
            return dist.Normal(self.a, self.b)
        if self.family == "uniform":
            return dist.Uniform(self.a, self.b)
        if self.family == "halfnormal":
            return dist.HalfNormal(self.a)
        if self.family == "lognormal":
            return dist.LogNormal(self.a, self.b)
        # An infinite bound must be no bound: an interval with an infinite end maps the sampler's space to NaN.
        return dist.TruncatedNormal(self.a, self.b, low=self.low, high=self.high)

    def pymc(self, name: str) -> Any:
        """A PyMC random variable of this prior named ``name`` (inside a ``pm.Model`` context)."""
        family, parameters = self._pymc_parameters()
        return family(name, **parameters)

    def pymc_dist(self) -> Any:
        """This prior as an unnamed PyMC distribution (``pm.logp`` of it is its log density)."""
        family, parameters = self._pymc_parameters()
        return family.dist(**parameters)

    def _pymc_parameters(self) -> tuple[Any, dict[str, Any]]:
        import pymc as pm

        if self.family == "normal":
            return pm.Normal, {"mu": self.a, "sigma": self.b}
        if self.family == "uniform":
            return pm.Uniform, {"lower": self.a, "upper": self.b}
        if self.family == "halfnormal":
            return pm.HalfNormal, {"sigma": self.a}
        if self.family == "lognormal":
            return pm.LogNormal, {"mu": self.a, "sigma": self.b}
        return pm.TruncatedNormal, {"mu": self.a, "sigma": self.b, "lower": self.low, "upper": self.high}

    def bounds(self) -> tuple[Any, Any] | None:
        """The (low, high) of a prior with finite bounds on both sides (uniform, or a normal truncated on both),
        else None; decided by its structure alone, so it holds for traced parameters too."""
        if self.family == "uniform":
            return self.a, self.b
        if self.family == "truncnormal" and self.low is not None and self.high is not None:
            return self.low, self.high
        return None

    def affine(self, shift: Any, scale: Any, negate: bool = False) -> Prior:
        """The prior of ``shift + scale * x`` (``shift - scale * x`` if ``negate``) for x drawn from this prior on its
        site (the coefficient, or its log), ``scale`` > 0: the same family, moved and stretched, so the density
        includes the map's Jacobian. The numbers may be JAX or PyTensor values: the models' sampling coordinates are
        such maps of the coefficients' priors, with a shift and scale that depend on other coefficients. A half-normal
        moved by ``shift`` is no half-normal, so it becomes the truncated normal it equals."""
        family, a, b, low, high = self.family, self.a, self.b, self.low, self.high
        if family == "lognormal":  # moved, it is no log-normal; it is a noise scale's prior, never a coefficient's
            raise ValueError("a lognormal prior has no affine map of its family; use it for scales only")
        if family == "halfnormal":
            family, a, b, low, high = "truncnormal", 0.0, self.a, 0.0, None
        sign = -1.0 if negate else 1.0

        def move(x: Any) -> Any:
            return None if x is None else shift + sign * scale * x

        if family == "uniform":
            a, b = (move(b), move(a)) if negate else (move(a), move(b))
            return Prior("uniform", a, b)
        if negate:
            low, high = high, low
        return Prior(family, move(a), scale * b, low=move(low), high=move(high))

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draws of the coefficient (exponentiated when ``log``)."""
        if self.family == "normal":
            x = rng.normal(self.a, self.b, size)
        elif self.family == "uniform":
            x = rng.uniform(self.a, self.b, size)
        elif self.family == "halfnormal":
            x = np.abs(rng.normal(0.0, self.a, size))
        elif self.family == "lognormal":
            x = np.exp(rng.normal(self.a, self.b, size))
        else:
            x = np.empty(0)
            low, high = (-np.inf if self.low is None else self.low), (np.inf if self.high is None else self.high)
            while x.size < size:
                y = rng.normal(self.a, self.b, 4 * size)
                x = np.concatenate([x, y[(y > low) & (y < high)]])
            x = x[:size]
        return np.exp(x) if self.log else x


jax.tree_util.register_dataclass(Prior, data_fields=["a", "b", "low", "high"], meta_fields=["family", "log"])

EXPONENT = Prior("uniform", 0.0, 2.0)
TERM_PRIORS = {"A_prime": "gamma_prime", "alpha_prime": "gamma_prime", "B_prime": "gamma_prime",
               "beta_prime": "gamma_prime"}
"""Coefficients whose prior is on their power-law term as the data see it, the term raised to its law's curvature:
an exponent's prior is on alpha' gamma', a log scale's on the term's log size at ``TERM_REFERENCE``,
gamma' log(A' / N_0^alpha'). The data identify gamma' only through the weak D_S term, and independent priors on
alpha', log A' and gamma' would give small gamma' a prior volume of 1/gamma'^2, a second mode of degenerate laws
(see ``bayes_distill.inference.model``)."""
TERM_REFERENCE = {"A_prime": ("alpha_prime", 1e9), "B_prime": ("beta_prime", 2e10)}
"""Each distillation term's exponent and the student size N_0 (parameters) or distillation tokens D_0 at which the
prior on its log scale is stated. A prior on log B' alone, independent of beta', would say the D_S term is
negligible at the data for most exponents (B' / D^beta' at D = 2e10 is e^-15 for log B' = 9, beta' = 1), and the
posterior would keep an arm of laws without a D_S term along which NUTS mixes slowly; where the data are, the
term's size is what one has a prior belief about."""


def log_term_reference(name: str) -> float:
    """log N_0 (parameters) or log D_0 (tokens) at which the log-scale prior of ``name`` is stated
    (``TERM_REFERENCE``); 0 for a coefficient whose prior is on its own log."""
    return float(np.log(TERM_REFERENCE[name][1])) if name in TERM_REFERENCE else 0.0


NOISE_MEDIAN = 0.02
"""Prior median of the log-loss noise scale: a run's loss is off the law by about 2% (seeds, data order, the law's
own misfit)."""
NOISE_LOG_SPREAD = 1.0
"""Prior standard deviation of the log of the noise scale: 90% of the prior within 0.004-0.10."""


def default_prior(smallest_loss: float) -> dict[str, Prior]:
    """Weakly informative: E in (0, smallest observed loss), exponents in (0, 2), scales free over e^(+-12)
    around 1e3-1e4, the broken power law's switch d1 within a factor e^1.5 of 1 and sharpness 1/f1 in (0.5, 100).
    The distillation law's terms take theirs as the data see them (``TERM_PRIORS``): alpha' gamma' in (0, 2), and
    each term at ``TERM_REFERENCE`` within a factor e^(+-3) of 1 nat: gamma' log(A' / N_0^alpha') about 0 +- 3.
    """
    if not (np.isfinite(smallest_loss) and smallest_loss > 0):
        raise ValueError(f"smallest_loss must be finite and > 0; got {smallest_loss!r}")
    return {
        "E": Prior("uniform", 0.0, float(smallest_loss)),
        "A": Prior("normal", 7.0, 4.0, log=True),
        "B": Prior("normal", 8.0, 4.0, log=True),
        "alpha": EXPONENT, "beta": EXPONENT,
        "gamma": Prior("uniform", 0.05, 2.0),
        "A_prime": Prior("normal", 0.0, 3.0, log=True),
        "B_prime": Prior("normal", 0.0, 3.0, log=True),
        "alpha_prime": EXPONENT, "beta_prime": EXPONENT,
        "gamma_prime": Prior("uniform", 0.05, 2.0),
        "c0": Prior("uniform", 0.0, 5.0),
        "c1": Prior("normal", 4.0, 2.0, log=True),
        "f1": Prior("uniform", 0.01, 2.0),
        "d1": Prior("normal", 0.0, 0.5, log=True),
    }


def paper_prior(widen: float = 3.0) -> dict[str, Prior]:
    """Centred on Table 6; each 90% interval widened ``widen`` times becomes a normal's +-1.645 sd. The
    coefficients of ``TERM_PRIORS`` get it on their terms, at the paper's gamma'.

    c1's printed interval is degenerate, so it gets the default prior's width on log c1.
    """
    prior = {}
    for name in COEFFICIENTS:
        value, (lo, hi) = getattr(PAPER, name), PAPER_INTERVALS[name]
        log = name in ("A", "B", "A_prime", "B_prime", "c1", "d1")
        centre, lo_, hi_ = (np.log(value), np.log(lo), np.log(hi)) if log else (value, lo, hi)
        if name in TERM_PRIORS:  # on the term as the data see it: times the paper's curvature, at TERM_REFERENCE
            curvature = getattr(PAPER, TERM_PRIORS[name])
            shift = -getattr(PAPER, TERM_REFERENCE[name][0]) * log_term_reference(name) if log else 0.0
            centre, lo_, hi_ = ((x + shift) * curvature for x in (centre, lo_, hi_))
        sd = max(widen * (hi_ - lo_) / (2 * 1.645), 0.02 * abs(centre) if not log else 0.05)
        if name == "c1":
            sd = 1.0
        prior[name] = Prior("normal", float(centre), float(sd), log=True) if log else Prior(
            "truncnormal", float(centre), float(sd), low=0.0)
    return prior


def resolve_prior(prior: str | Mapping[str, Prior], runs_smallest_loss: float) -> dict[str, Prior]:
    """'default', 'paper', or a mapping whose entries replace the default's."""
    if isinstance(prior, str):
        if prior == "default":
            return default_prior(runs_smallest_loss)
        if prior == "paper":
            return paper_prior()
        raise ValueError(f"prior must be 'default', 'paper' or a mapping of Prior; got {prior!r}")
    unknown = set(prior) - set(COEFFICIENTS)
    if unknown:
        raise ValueError(f"prior has unknown coefficients {sorted(unknown)}; known: {list(COEFFICIENTS)}")
    bad = [k for k, v in prior.items() if not isinstance(v, Prior)]
    if bad:
        raise ValueError(f"prior entries must be Prior objects; got {bad}")
    return {**default_prior(runs_smallest_loss), **prior}


def sample_prior(prior: Mapping[str, Prior], rng: np.random.Generator, size: int) -> dict[str, np.ndarray]:
    """Draws of every coefficient from the prior (for prior predictive checks and simulation studies); a coefficient
    of ``TERM_PRIORS`` is its prior's draw divided by the curvature's draw (on the log scale for a log prior), a log
    scale moved to its ``TERM_REFERENCE``."""
    draws = {name: p.sample(rng, size) for name, p in prior.items()}
    for name in sorted(TERM_PRIORS, key=lambda name: name in TERM_REFERENCE):  # exponents first: the scales need them
        if name not in draws or TERM_PRIORS[name] not in draws:
            continue
        curvature = draws[TERM_PRIORS[name]]
        if not prior[name].log:
            draws[name] = draws[name] / curvature
            continue
        log_value = np.log(draws[name]) / curvature
        if name in TERM_REFERENCE:
            log_value = log_value + draws[TERM_REFERENCE[name][0]] * log_term_reference(name)
        with np.errstate(over="ignore"):  # a scale beyond float64 is inf, as in the model's trace
            draws[name] = np.exp(log_value)
    return draws


__all__ = ["DISTILLATION_COEFFICIENTS", "Prior", "default_prior", "paper_prior", "resolve_prior", "sample_prior",
           "TERM_PRIORS", "TERM_REFERENCE", "log_term_reference"]
