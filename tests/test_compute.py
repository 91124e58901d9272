"""FLOP accounting: Eq. 69 against Table 13, and Eq. 9 per scenario of Table 2."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bayes_distill.laws import SCENARIOS, Architecture, Scenario, forward_flops, scenario_of, total_flops

TABLE_13 = [  # N, exact, 2N + sigma approximation (billions)
    (0.1434, 0.4487, 0.4471),
    (0.9755, 2.400, 2.397),
    (2.718, 6.246, 6.241),
    (7.747, 17.00, 16.99),
    (12.61, 27.24, 27.23),
]


@pytest.mark.parametrize(("N", "exact", "approximation"), TABLE_13)
def test_forward_flops_reproduce_table_13(N, exact, approximation):
    flops = forward_flops(N * 1e9) / 1e9
    assert flops == pytest.approx(approximation, rel=5e-3)
    assert flops == pytest.approx(exact, rel=5e-3)


def test_paper_architecture_coefficients():
    arch = Architecture()
    assert arch.omega == pytest.approx(12.0)
    assert arch.sigma1 * arch.context_length == pytest.approx(155.06, abs=0.01)
    assert arch.sigma2 * arch.vocab_size == pytest.approx(72132, rel=1e-4)


def test_two_n_convention_and_underestimate():
    assert forward_flops(1e8, Architecture(flops="2N")) == 2e8
    # 2N underestimates small models by up to ~40%.
    assert 0.35 < 1 - 2e8 / forward_flops(1e8) < 0.45


sizes = st.floats(1e6, 1e13)
tokens = st.floats(1e6, 1e15)
deltas = st.floats(0.0, 1.0)


@given(sizes, tokens, sizes, tokens, deltas, deltas)
def test_total_flops_add_up(N_S, D_S, N_T, D_T, d_lgt, d_pre):
    s = Scenario(d_lgt, d_pre)
    F_S, F_T = forward_flops(N_S), forward_flops(N_T)
    parts = 3 * F_S * D_S + d_lgt * F_T * D_S + d_pre * 3 * F_T * D_T
    assert total_flops(N_S, D_S, N_T, D_T, s) == pytest.approx(parts, rel=1e-12)
    # The named scenarios are the corners of the fractional ones.
    best = total_flops(N_S, D_S, N_T, D_T, "best-case")
    both = total_flops(N_S, D_S, N_T, D_T, "teacher-pretraining-inference")
    assert best == pytest.approx(3 * F_S * D_S, rel=1e-12)
    assert best <= total_flops(N_S, D_S, N_T, D_T, s) <= both * (1 + 1e-12)
    assert both == pytest.approx(
        total_flops(N_S, D_S, N_T, D_T, "teacher-inference") + total_flops(N_S, D_S, N_T, D_T, "teacher-pretraining")
        - best, rel=1e-12,
    )


def test_scenarios_of_table_2():
    assert {k: (v.delta_logits, v.delta_pretrain) for k, v in SCENARIOS.items()} == {
        "best-case": (0, 0), "teacher-inference": (1, 0),
        "teacher-pretraining": (0, 1), "teacher-pretraining-inference": (1, 1),
    }
    shared = Scenario.shared(4)
    assert (shared.delta_logits, shared.delta_pretrain) == (1.0, 0.25)


def test_bad_scenarios_and_sizes():
    with pytest.raises(ValueError, match="scenario must be one of"):
        scenario_of("free-lunch")
    with pytest.raises(ValueError, match=r"delta_pretrain must lie in \[0, 1\]; got 2"):
        Scenario(1.0, 2.0)
    with pytest.raises(ValueError, match="N must be finite and > 0; got 0.0"):
        forward_flops(np.array([1e9, 0.0]))
    with pytest.raises(ValueError, match="flops must be"):
        Architecture(flops="6N")
