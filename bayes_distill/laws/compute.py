"""FLOP accounting: forward FLOPs per token (Eq. 69) and the total compute of distillation (Eq. 9, Table 2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bayes_distill.laws._namespace import namespace
from bayes_distill.laws.validation import check_positive_finite


@dataclass(frozen=True)
class Architecture:
    """A fixed-aspect-ratio transformer family, as data (App. H of the paper).

    aspect_ratio: rho = d_model / n_layers. omega = 2 + 2 / group_size + n_ffn * ffn_ratio counts the
    non-embedding parameters per layer in units of d_model^2 (attention q, o; k, v shared over groups; MLP).
    ``flops="2N"`` selects the plain 2N convention instead of Eq. 69.
    """

    context_length: int = 4096
    vocab_size: int = 32768
    aspect_ratio: float = 128.0
    group_size: float = 1.0
    n_ffn: int = 3
    ffn_ratio: float = 8.0 / 3.0
    flops: str = "eq69"

    def __post_init__(self) -> None:
        if self.flops not in ("eq69", "2N"):
            raise ValueError(f"flops must be 'eq69' or '2N'; got {self.flops!r}")
        for name in ("context_length", "vocab_size", "aspect_ratio", "group_size", "n_ffn", "ffn_ratio"):
            check_positive_finite(name, getattr(self, name))

    @property
    def omega(self) -> float:
        return 2.0 + 2.0 / self.group_size + self.n_ffn * self.ffn_ratio

    @property
    def sigma1(self) -> float:
        """Coefficient of the attention-context term: (rho omega^2)^(-1/3)."""
        return (self.aspect_ratio * self.omega**2) ** (-1.0 / 3.0)

    @property
    def sigma2(self) -> float:
        """Coefficient of the unembedding term: (rho / omega)^(1/3)."""
        return (self.aspect_ratio / self.omega) ** (1.0 / 3.0)


PAPER_ARCHITECTURE = Architecture()
"""Context 4096, vocabulary 32768, d_model / n_layers = 128, gated MLP: F(N) = 2N(1 + 155.06 N^-1/3 + 72132 N^-2/3)."""


def forward_flops(N: Any, arch: Architecture = PAPER_ARCHITECTURE) -> Any:
    """Forward FLOPs per token of a model with N non-embedding parameters (Eq. 69, or 2N).

    Eq. 69 adds attention over the context and the unembedding to the 2N of the matrix multiplies;
    2N alone underestimates small models by up to 40%.
    """
    check_positive_finite("N", N)
    if arch.flops == "2N":
        return 2.0 * N
    xp = namespace(N)
    log_n = xp.log(N)
    context = arch.sigma1 * arch.context_length * xp.exp(-log_n / 3.0)
    vocab = arch.sigma2 * arch.vocab_size * xp.exp(-2.0 * log_n / 3.0)
    return 2.0 * N * (1.0 + context + vocab)


@dataclass(frozen=True)
class Scenario:
    """How much of the teacher's cost one student pays (Table 2).

    delta_logits: fraction of the teacher's forward passes over the distillation tokens charged to this student.
    delta_pretrain: fraction of the teacher's pretraining charged to it (1/k for a teacher shared by k students).
    """

    delta_logits: float
    delta_pretrain: float
    name: str = "custom"

    def __post_init__(self) -> None:
        for field in ("delta_logits", "delta_pretrain"):
            value = getattr(self, field)
            if not (0.0 <= value <= 1.0):
                raise ValueError(f"{field} must lie in [0, 1]; got {value!r}")

    @classmethod
    def shared(cls, students: int, *, logits: bool = True) -> Scenario:
        """A teacher pretrained once for ``students`` students, each paying its own logits if ``logits``."""
        if students < 1:
            raise ValueError(f"students must be >= 1; got {students!r}")
        return cls(float(logits), 1.0 / students, name=f"shared-by-{students}")


SCENARIOS: dict[str, Scenario] = {
    "best-case": Scenario(0.0, 0.0, "best-case"),
    "teacher-inference": Scenario(1.0, 0.0, "teacher-inference"),
    "teacher-pretraining": Scenario(0.0, 1.0, "teacher-pretraining"),
    "teacher-pretraining-inference": Scenario(1.0, 1.0, "teacher-pretraining-inference"),
}


def scenario_of(scenario: str | Scenario) -> Scenario:
    """Look up a scenario by its Table 2 name, or pass a ``Scenario`` through."""
    if isinstance(scenario, Scenario):
        return scenario
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {list(SCENARIOS)} or a Scenario; got {scenario!r}")
    return SCENARIOS[scenario]


def total_flops(
    N_S: Any,
    D_S: Any,
    N_T: Any,
    D_T: Any,
    scenario: str | Scenario,
    arch: Architecture = PAPER_ARCHITECTURE,
) -> Any:
    """Total FLOPs of Eq. 9: 3 F(N_S) D_S + F(N_T) (delta_logits D_S + delta_pretrain 3 D_T).

    N_S, N_T: non-embedding parameters; D_S: distillation tokens; D_T: teacher pretraining tokens.
    """
    s = scenario_of(scenario)
    check_positive_finite("D_S", D_S)
    check_positive_finite("N_T", N_T)
    check_positive_finite("D_T", D_T)
    student = 3.0 * forward_flops(N_S, arch) * D_S
    teacher = forward_flops(N_T, arch) * (s.delta_logits * D_S + s.delta_pretrain * 3.0 * D_T)
    return student + teacher
