"""Layer 1: the laws and the compute accounting, as pure functions over NumPy, JAX or PyTensor arrays."""

from bayes_distill.laws.compute import (
    PAPER_ARCHITECTURE,
    SCENARIOS,
    Architecture,
    Scenario,
    forward_flops,
    scenario_of,
    total_flops,
)
from bayes_distill.laws.equations import (
    distilled_loss,
    log_distilled_loss,
    log_supervised_loss,
    supervised_loss,
)
from bayes_distill.laws.params import (
    COEFFICIENTS,
    DISTILLATION_COEFFICIENTS,
    PAPER,
    PAPER_INTERVALS,
    SUPERVISED_COEFFICIENTS,
    LawParams,
)

__all__ = [
    "COEFFICIENTS", "DISTILLATION_COEFFICIENTS", "PAPER", "PAPER_ARCHITECTURE", "PAPER_INTERVALS", "SCENARIOS",
    "SUPERVISED_COEFFICIENTS", "Architecture", "LawParams", "Scenario", "distilled_loss", "forward_flops",
    "log_distilled_loss", "log_supervised_loss", "scenario_of", "supervised_loss", "total_flops",
]
