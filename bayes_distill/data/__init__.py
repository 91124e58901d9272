"""Layer 3: the runs table the laws are fitted on."""

from bayes_distill.data.candidates import load_candidates
from bayes_distill.data.runs import ARCHITECTURE_COLUMNS, KINDS, load_runs, runs_architecture, supervised_twin_loss

__all__ = ["ARCHITECTURE_COLUMNS", "KINDS", "load_candidates", "load_runs", "runs_architecture", "supervised_twin_loss"]
