"""Layer 7: the ``bayes-distill`` command line."""

from bayes_distill.cli.main import main

__all__ = ["main"]
