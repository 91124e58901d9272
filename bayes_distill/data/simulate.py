"""Simulated runs tables: the paper's experimental design with losses drawn from the laws.

``simulate_paper_design`` lays out the design of Busbridge et al. (2025): supervised IsoFLOP profiles plus
fixed-M teachers (about 70 supervised runs) and the three distillation families (about 700 distilled runs).
``simulate_supervised`` draws a scattered supervised design for studies of the supervised law alone.

Noise is multiplicative: loss = law x exp(noise z), z ~ Normal(0, 1), so ``noise`` is the sd of log loss
(0.01 is about 1%). A student's law value uses its teacher's *measured* (noisy) loss, as the fits do.

Truth for recovery studies: the printed B' = 24181 makes L_S almost independent of D_S for strong teachers
(see the reference notes), so D-dependence of distillation cannot be identified from data simulated with it.
Use ``PAPER_RECOVERY = PAPER.replace(B_prime=2e6)`` as the "truth" when checking recovery of B' and beta'.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from bayes_distill.data.runs import load_runs
from bayes_distill.laws import PAPER, LawParams, forward_flops, log_distilled_loss, log_supervised_loss

STUDENT_SIZES = (1.434e8, 1.98e8, 2.66e8, 3.40e8, 5.46e8, 9.755e8, 1.82e9, 2.718e9, 4.82e9, 7.747e9)
"""Student non-embedding parameter counts (Table 13 sizes, 143M to 7.75B)."""
TEACHER_SIZES = STUDENT_SIZES + (1.261e10,)
"""Teacher non-embedding parameter counts (143M to 12.6B)."""
ISOFLOP_BUDGETS = (3e19, 1e20, 3e20, 1e21)
"""IsoFLOP budgets (FLOPs) of the supervised and the student profiles."""
FIXED_M_TEACHERS = (1.98e8, 5.46e8, 9.755e8, 1.82e9, 4.82e9, 7.747e9)
"""Fixed-M (M = 20) teachers of family 1, parameters."""
FIXED_M_STUDENTS = (1.434e8, 3.40e8, 9.755e8, 1.82e9, 2.718e9)
"""Fixed-M students of families 2 and 3, parameters."""
STUDENT_M = (20, 40, 80, 160, 320)
"""Tokens per parameter of the fixed-M students of family 3."""
PAPER_RECOVERY = PAPER.replace(B_prime=2e6)
"""The paper's coefficients with an effective B' = 2e6: the "truth" for recovery studies (see module docstring)."""


def _isoflop_tokens(N: np.ndarray, C: float) -> np.ndarray:
    """Tokens D = C / (3 F(N)) a model of N parameters trains on with C FLOPs."""
    return C / (3.0 * forward_flops(np.asarray(N, dtype=float)))


def _noisy(log_law: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    return np.exp(np.asarray(log_law) + noise * rng.standard_normal(np.shape(log_law)))


def _law_error(sizes: tuple[float, ...], spread: float, rng: np.random.Generator) -> dict[float, float]:
    """Each size's offset of log loss from the law (size -> offset), drawn from Normal(0, ``spread``)."""
    if not np.isfinite(spread) or spread < 0:
        raise ValueError(f"law_error must be a finite sd of log loss >= 0; got {spread!r}")
    return dict(zip(sizes, spread * rng.standard_normal(len(sizes)), strict=True))


def simulate_paper_design(params: LawParams = PAPER, noise: float = 0.01, seed: int = 0, *,
                          law_error: float = 0.0) -> xr.Dataset:
    """The paper's design with losses from ``params`` (nats/token) and log-normal noise of sd ``noise``.

    ``law_error`` (sd of log loss) gives each size of each kind (teacher sizes for supervised runs, student sizes
    for distilled ones) one offset from the law shared by all its runs, the law error the fit models; its draws
    come from a stream of their own, so that the noise of a seed is the same with and without it.

    Supervised (71 runs): IsoFLOP profiles at 3e19, 1e20, 3e20, 1e21 FLOPs over the 10 student sizes
    (40 runs; these also serve as the teachers of family 2) and M = 20 teachers of the 11 teacher sizes
    (143M to 12.6B; 11 runs), plus 20 IsoFLOP teachers at 1e19 and 3e21 FLOPs.
    Distilled (715 runs): (1) 6 fixed-M teachers x student IsoFLOP profiles (4 budgets x 10 sizes; 240 runs);
    (2) the 40 IsoFLOP teachers at 3e19-1e21 FLOPs x 5 students at M_S = 20 (200 runs); (3) 11 fixed-M teachers
    x 5 students x M_S in {20, 40, 80, 160, 320} (275 runs).
    Returned through ``load_runs``; extra variables: ``teacher_N``, ``teacher_D``; ``attrs["family"]`` not kept.
    """
    offsets = np.random.default_rng([seed, 1])
    draw = _Draw(params, noise, np.random.default_rng(seed), _law_error(TEACHER_SIZES, law_error, offsets),
                 _law_error(STUDENT_SIZES, law_error, offsets))
    iso_teachers = [draw.supervised(N, float(D), f"sup-iso-{C:.0e}-{N:.3g}") for C in ISOFLOP_BUDGETS
                    for N, D in zip(STUDENT_SIZES, _isoflop_tokens(STUDENT_SIZES, C), strict=True)]
    for C in (1e19, 3e21):
        for N, D in zip(STUDENT_SIZES, _isoflop_tokens(STUDENT_SIZES, C), strict=True):
            draw.supervised(N, float(D), f"sup-iso-{C:.0e}-{N:.3g}")
    fixed_teachers = {N: draw.supervised(N, 20.0 * N, f"sup-m20-{N:.3g}") for N in TEACHER_SIZES}
    _distillation_families(draw, iso_teachers, fixed_teachers)
    return load_runs(pd.DataFrame(draw.rows))


Teacher = tuple[float, float, float]  # a supervised run as a teacher: N_T (parameters), D_T (tokens), L_T (nats)


@dataclass
class _Draw:
    """The runs drawn so far, and what draws them: the truth, the noise and each size's law error per kind."""

    params: LawParams
    noise: float
    rng: np.random.Generator
    supervised_error: dict[float, float]
    distilled_error: dict[float, float]
    rows: list[dict] = field(default_factory=list)

    def supervised(self, N: float, D: float, name: str) -> Teacher:
        """Draw a supervised run; returned as a teacher."""
        log_law = log_supervised_loss(N, D, self.params) + self.supervised_error[N]
        loss = float(_noisy(log_law, self.noise, self.rng))
        self.rows.append({"run": name, "kind": "supervised", "N": N, "D": D, "loss": loss, "group": name})
        return N, D, loss

    def distilled(self, N_S: float, D_S: float, teacher: Teacher, name: str) -> None:
        """Draw a student of ``teacher``, at the teacher's measured loss, as the fits see it."""
        N_T, D_T, L_T = teacher
        log_law = log_distilled_loss(N_S, D_S, L_T, self.params) + self.distilled_error[N_S]
        loss = float(_noisy(log_law, self.noise, self.rng))
        self.rows.append({"run": name, "kind": "distilled", "N": N_S, "D": D_S, "loss": loss, "teacher_loss": L_T,
                          "teacher_N": N_T, "teacher_D": D_T, "group": name})


def _distillation_families(draw: _Draw, iso_teachers: list[Teacher], fixed_teachers: dict[float, Teacher]) -> None:
    """The paper's three distillation families (see ``simulate_paper_design``), in a fixed order of draws."""
    for N_T in FIXED_M_TEACHERS:  # family 1
        for C in ISOFLOP_BUDGETS:
            for N_S, D_S in zip(STUDENT_SIZES, _isoflop_tokens(STUDENT_SIZES, C), strict=True):
                draw.distilled(N_S, float(D_S), fixed_teachers[N_T], f"dist-f1-T{N_T:.3g}-{C:.0e}-S{N_S:.3g}")
    for k, teacher in enumerate(iso_teachers):  # family 2
        for N_S in FIXED_M_STUDENTS:
            draw.distilled(N_S, 20.0 * N_S, teacher, f"dist-f2-T{k}-S{N_S:.3g}")
    for N_T, teacher in fixed_teachers.items():  # family 3
        for N_S in FIXED_M_STUDENTS:
            for M in STUDENT_M:
                draw.distilled(N_S, float(M) * N_S, teacher, f"dist-f3-T{N_T:.3g}-S{N_S:.3g}-M{M}")


def simulate_supervised(n_runs: int = 250, params: LawParams = PAPER, noise: float = 0.01, seed: int = 0,
                        *, N_range: tuple[float, float] = (1.4e8, 1.3e10),
                        M_range: tuple[float, float] = (5.0, 400.0)) -> xr.Dataset:
    """``n_runs`` supervised runs: N log-uniform over ``N_range`` (parameters), tokens per parameter M log-uniform
    over ``M_range`` (D = M N tokens), loss = L(N, D) x exp(noise z) in nats/token. Returned through ``load_runs``.
    """
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(*np.log(N_range), n_runs))
    D = N * np.exp(rng.uniform(*np.log(M_range), n_runs))
    loss = _noisy(log_supervised_loss(N, D, params), noise, rng)
    names = [f"sup-{i}" for i in range(n_runs)]
    return load_runs(pd.DataFrame({"run": names, "kind": "supervised", "N": N, "D": D, "loss": loss,
                                   "group": names}))


__all__ = ["PAPER_RECOVERY", "simulate_paper_design", "simulate_supervised"]
