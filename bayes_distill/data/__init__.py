"""Layer 3: the runs table the laws are fitted on."""

from bayes_distill.data.runs import KINDS, load_runs, supervised_twin_loss

__all__ = ["KINDS", "load_runs", "supervised_twin_loss"]
