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


def log_uniform(lo, hi):
    return st.floats(np.log10(lo), np.log10(hi)).map(lambda e: 10.0**e)


sizes = log_uniform(1e6, 1e13)
tokens = log_uniform(1e6, 1e15)
deltas = st.floats(0.0, 1.0)
TWO_N = Architecture(flops="2N")


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        # F = 2N. Student 1e9 on D_S = 2e10; teacher 7e9 on D_T = 1.4e11. By hand:
        #   student training  3 F(N_S) D_S = 3 * 2e9 * 2e10       = 1.2e20
        #   teacher logits      F(N_T) D_S =     1.4e10 * 2e10    = 2.8e20
        #   teacher training  3 F(N_T) D_T = 3 * 1.4e10 * 1.4e11  = 5.88e21
        ("best-case", 1.2e20),
        ("teacher-inference", 1.2e20 + 2.8e20),
        ("teacher-pretraining", 1.2e20 + 5.88e21),
        ("teacher-pretraining-inference", 1.2e20 + 2.8e20 + 5.88e21),
        (Scenario.shared(4), 1.2e20 + 2.8e20 + 5.88e21 / 4),  # = 1.87e21
        (Scenario(0.5, 0.1), 1.2e20 + 1.4e20 + 5.88e20),
    ],
)
def test_total_flops_by_hand_with_two_n(scenario, expected):
    assert total_flops(1e9, 2e10, 7e9, 1.4e11, scenario, TWO_N) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        # Eq. 69 with the paper's architecture, for N = 1000^3 and 2000^3 so that the cube roots are exact:
        #   sigma1 n_ctx  = 4096 / (128 * 12^2)^(1/3) = 2^12 / (2^11 * 9)^(1/3) = 256 (2/9)^(1/3)   = 155.060957
        #   sigma2 n_vocab = 32768 (128 / 12)^(1/3)  = 2^15 (32/3)^(1/3)       = 65536 (4/3)^(1/3) = 72131.7014
        #   F(1e9) = 2e9   (1 + 155.060957 / 1000 + 72131.7014 / 1e6) = 2e9   * 1.22719266 = 2.45438532e9
        #   F(8e9) = 1.6e10 (1 + 155.060957 / 2000 + 72131.7014 / 4e6) = 1.6e10 * 1.09556340 = 1.75290145e10
        # Student 1e9 on D_S = 2e10; teacher 8e9 on D_T = 1.6e11 (M = 20):
        #   student training  3 * 2.45438532e9 * 2e10   = 1.47263119e20
        #   teacher logits    1.75290145e10 * 2e10      = 3.50580289e20
        #   teacher training  3 * 1.75290145e10 * 1.6e11 = 8.41392694e21
        ("best-case", 1.47263119e20),
        ("teacher-inference", 1.47263119e20 + 3.50580289e20),
        ("teacher-pretraining", 1.47263119e20 + 8.41392694e21),
        ("teacher-pretraining-inference", 1.47263119e20 + 3.50580289e20 + 8.41392694e21),  # = 8.91177035e21
    ],
)
def test_total_flops_by_hand_with_eq69(scenario, expected):
    assert total_flops(1e9, 2e10, 8e9, 1.6e11, scenario) == pytest.approx(expected, rel=1e-8)


def test_total_flops_of_table_13_models():
    # The 975M student distilled at M = 20 (D_S = 1.951e10) from the 7.75B teacher trained at M = 20
    # (D_T = 1.5494e11), with the exact forward FLOPs of Table 13 (2.400e9 and 17.00e9 per token):
    #   3 * 2.400e9 * 1.951e10 + 17.00e9 * 1.951e10 + 3 * 17.00e9 * 1.5494e11
    #   = 1.40472e20 + 3.3167e20 + 7.90194e21 = 8.374082e21   (the table's 4 digits: rel 1e-3)
    total = total_flops(0.9755e9, 1.951e10, 7.747e9, 1.5494e11, "teacher-pretraining-inference")
    assert total == pytest.approx(8.374082e21, rel=1e-3)
    assert total_flops(0.9755e9, 1.951e10, 7.747e9, 1.5494e11, "best-case") == pytest.approx(1.40472e20, rel=1e-3)


@given(sizes, tokens, sizes, tokens, deltas, deltas)
def test_total_flops_is_affine_in_the_deltas_between_the_corners(N_S, D_S, N_T, D_T, d_lgt, d_pre):
    corner = {k: total_flops(N_S, D_S, N_T, D_T, k) for k in SCENARIOS}
    best = corner["best-case"]
    # The teacher's two costs are positive and separable: the corners are strictly ordered.
    assert best < corner["teacher-inference"] < corner["teacher-pretraining-inference"]
    assert best < corner["teacher-pretraining"] < corner["teacher-pretraining-inference"]
    assert corner["teacher-pretraining-inference"] == pytest.approx(
        corner["teacher-inference"] + corner["teacher-pretraining"] - best, rel=1e-12
    )
    # A fractional scenario pays those fractions of the corners' teacher costs.
    expected = best + d_lgt * (corner["teacher-inference"] - best) + d_pre * (corner["teacher-pretraining"] - best)
    assert total_flops(N_S, D_S, N_T, D_T, Scenario(d_lgt, d_pre)) == pytest.approx(expected, rel=1e-12)


@given(sizes, tokens, sizes, tokens, deltas, deltas, st.floats(1e-3, 1.0))
def test_total_flops_grows_with_each_delta(N_S, D_S, N_T, D_T, d_lgt, d_pre, gap):
    base = total_flops(N_S, D_S, N_T, D_T, Scenario(d_lgt * (1 - gap), d_pre * (1 - gap)))
    more_logits = total_flops(N_S, D_S, N_T, D_T, Scenario(d_lgt, d_pre * (1 - gap)))
    more_pretraining = total_flops(N_S, D_S, N_T, D_T, Scenario(d_lgt * (1 - gap), d_pre))
    assert base <= min(more_logits, more_pretraining)
    # Strictly where the added teacher cost is resolvable next to the total: the teacher's share can be as
    # small as 1e-18 here (a 1e6 teacher on 1e6 tokens beside a 1e13 student on 1e15), below float64 rounding.
    best = total_flops(N_S, D_S, N_T, D_T, "best-case")
    logits = total_flops(N_S, D_S, N_T, D_T, "teacher-inference") - best
    pretraining = total_flops(N_S, D_S, N_T, D_T, "teacher-pretraining") - best
    if d_lgt * gap * logits > 1e-12 * base:
        assert base < more_logits
    if d_pre * gap * pretraining > 1e-12 * base:
        assert base < more_pretraining


@given(sizes, tokens, sizes, tokens, st.floats(1.01, 100.0))
def test_what_each_scenario_pays_for(N_S, D_S, N_T, D_T, k):
    def total(scenario, N_T=N_T, D_S=D_S, D_T=D_T):
        return total_flops(N_S, D_S, N_T, D_T, scenario)

    # Best case: the teacher is free, and the student's cost is linear in its tokens.
    assert total("best-case", N_T=N_T * k, D_T=D_T * k) == total("best-case")
    assert total("best-case", D_S=D_S * k) == pytest.approx(k * total("best-case"), rel=1e-12)
    # Teacher inference: the teacher's pretraining tokens are free; cost is still linear in D_S (logits per token).
    assert total("teacher-inference", D_T=D_T * k) == total("teacher-inference")
    assert total("teacher-inference", D_S=D_S * k) == pytest.approx(k * total("teacher-inference"), rel=1e-12)
    # Teacher pretraining: a bigger teacher or more teacher tokens cost more; more student tokens cost less than
    # proportionally more (the teacher is paid once). Strictly where the teacher's cost is resolvable next to the
    # student's (it can be 1e-15 of it: a 1e6 teacher on 1e6 tokens beside a 1e13 student on 1e15).
    pretraining = total("teacher-pretraining")
    resolvable = (pretraining - total("best-case")) > 1e-12 * pretraining
    for larger in (total("teacher-pretraining", N_T=N_T * k), total("teacher-pretraining", D_T=D_T * k)):
        assert larger > pretraining if resolvable else larger >= pretraining
    more_tokens = total("teacher-pretraining", D_S=D_S * k)
    assert more_tokens < k * pretraining if resolvable else more_tokens <= k * pretraining * (1 + 1e-12)


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
