"""Layer 2: the compute-optimal planner over the laws (Eq. 10) and the distillation-vs-supervised crossover."""

from bayes_distill.planner.allocate import DEFAULT_BOUNDS, OUTPUTS, allocate
from bayes_distill.planner.crossover import DEFAULT_COMPUTE_RANGE, crossover

__all__ = ["DEFAULT_BOUNDS", "DEFAULT_COMPUTE_RANGE", "OUTPUTS", "allocate", "crossover"]
