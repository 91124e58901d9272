"""The coefficients of the supervised (Eq. 1) and distillation (Eq. 8) laws, and the paper's values.

A ``LawParams`` holds scalars (one point estimate) or arrays with leading sample dimensions (posterior
draws); it is a NamedTuple, hence a JAX pytree, so it passes through ``jit`` and ``vmap`` as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

SUPERVISED_COEFFICIENTS = ("E", "A", "B", "alpha", "beta", "gamma")
DISTILLATION_COEFFICIENTS = (
    "A_prime", "B_prime", "alpha_prime", "beta_prime", "gamma_prime", "c0", "c1", "f1", "d1",
)
COEFFICIENTS = SUPERVISED_COEFFICIENTS + DISTILLATION_COEFFICIENTS


class LawParams(NamedTuple):
    """Coefficients of both laws. Losses in nats per token, sizes in non-embedding parameters, data in tokens.

    Distillation coefficients may be NaN for a fit of the supervised law alone; the supervised law never reads them.
    """

    E: Any
    A: Any
    B: Any
    alpha: Any
    beta: Any
    gamma: Any
    A_prime: Any = np.nan
    B_prime: Any = np.nan
    alpha_prime: Any = np.nan
    beta_prime: Any = np.nan
    gamma_prime: Any = np.nan
    c0: Any = np.nan
    c1: Any = np.nan
    f1: Any = np.nan
    d1: Any = np.nan

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> LawParams:
        """Build from any mapping with the coefficient names (a dict, an ``xarray.Dataset``, ...).

        Unknown keys are ignored; missing distillation coefficients are NaN; a missing supervised one is an error.
        """
        missing = [k for k in SUPERVISED_COEFFICIENTS if k not in values]
        if missing:
            raise ValueError(f"params is missing the supervised coefficients {missing}")
        return cls(**{k: values[k] for k in COEFFICIENTS if k in values})

    def replace(self, **changes: Any) -> LawParams:
        """A copy with some coefficients changed."""
        unknown = set(changes) - set(COEFFICIENTS)
        if unknown:
            raise ValueError(f"unknown coefficients {sorted(unknown)}; known: {list(COEFFICIENTS)}")
        return self._replace(**changes)


PAPER = LawParams(
    E=1.220, A=3355.0, B=18186.0, alpha=0.408, beta=0.431, gamma=0.452,
    A_prime=2243.0, B_prime=24181.0, alpha_prime=0.321, beta_prime=0.637, gamma_prime=0.764,
    c0=2.549, c1=522.6, f1=0.090, d1=1.315,
)
"""Table 6 of Busbridge et al. (2025) as printed (supervised: 73 runs; distillation: 697 runs)."""

PAPER_INTERVALS: dict[str, tuple[float, float]] = {
    "E": (1.190, 1.247), "A": (3346.0, 3360.0), "B": (18157.0, 18236.0),
    "alpha": (0.405, 0.411), "beta": (0.428, 0.433), "gamma": (0.442, 0.461),
    "A_prime": (2227.0, 2255.0), "B_prime": (24084.0, 24266.0), "alpha_prime": (0.319, 0.324),
    "beta_prime": (0.634, 0.640), "gamma_prime": (0.732, 0.788), "c0": (2.425, 2.615),
    "c1": (522.6, 522.6), "f1": (0.088, 0.093), "d1": (1.302, 1.327),
}
"""The 90% bootstrap intervals of Table 6 (4,096 resamples), kept beside ``PAPER`` for use as priors."""
