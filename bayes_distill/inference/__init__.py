"""Layer 4: the Bayesian model of the laws and its fitting (NumPyro; PyMC as a second engine)."""

from bayes_distill.inference.diagnostics import FitWarning, diagnose, sampler_record
from bayes_distill.inference.fit import FitResult, prior_predictive, sample
from bayes_distill.inference.priors import Prior, default_prior, paper_prior, sample_prior

__all__ = ["FitWarning", "Prior", "default_prior", "FitResult", "diagnose", "prior_predictive", "sample", "paper_prior",
           "sample_prior", "sampler_record"]
