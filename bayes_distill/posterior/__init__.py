"""Layer 5: posterior queries (predictions, allocations, crossover, probability that distillation wins)."""

from bayes_distill.posterior.posterior import Posterior, fit, load_posterior

__all__ = ["Posterior", "fit", "load_posterior"]
