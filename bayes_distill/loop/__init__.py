"""Layer 7 (beside the command line): the closed loop of training, fitting and asking what to train next."""

from bayes_distill.loop.design import Design, Round

__all__ = ["Design", "Round"]
