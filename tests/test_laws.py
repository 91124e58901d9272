"""The supervised (Eq. 1) and distillation (Eq. 8) laws: values, limits, stability, backends, properties."""

import jax
import jax.numpy as jnp
import numpy as np
import pytensor.tensor as pt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bayes_distill.laws import (
    PAPER,
    PAPER_INTERVALS,
    LawParams,
    distilled_loss,
    log_distilled_loss,
    log_supervised_loss,
    supervised_loss,
)


def log_uniform(lo, hi):
    """Floats spread evenly in log10 over [lo, hi]: every decade of a wide range is drawn alike."""
    return st.floats(np.log10(lo), np.log10(hi)).map(lambda e: 10.0**e)


sizes = log_uniform(1e3, 1e20)
teacher_losses = log_uniform(1e-3, 20.0)


def naive_supervised(N, D, p=PAPER):
    return p.E + (p.A / N**p.alpha + p.B / D**p.beta) ** p.gamma


def naive_excess(N_S, D_S, L_T, p=PAPER):
    """L_S - L_T of Eq. 8 written out directly, not in log space: exact where no factor over- or underflows."""
    L_tilde = naive_supervised(N_S, D_S, p)
    transition = (1 + (L_T / (L_tilde * p.d1)) ** (1 / p.f1)) ** (-p.c1 * p.f1)
    reducible = (p.A_prime / N_S**p.alpha_prime + p.B_prime / D_S**p.beta_prime) ** p.gamma_prime
    return L_T ** (-p.c0) * transition * reducible


def naive_distilled(N_S, D_S, L_T, p=PAPER):
    return L_T + naive_excess(N_S, D_S, L_T, p)


def naive_excess_is_accurate(excess):
    """The naive excess neither overflowed nor fell to zero or into the subnormals (where it loses digits)."""
    return np.isfinite(excess) & (excess >= np.finfo(float).tiny)


def test_paper_coefficients_as_printed():
    assert PAPER.E == 1.220 and PAPER.A == 3355 and PAPER.B == 18186
    assert (PAPER.alpha, PAPER.beta, PAPER.gamma) == (0.408, 0.431, 0.452)
    assert (PAPER.c0, PAPER.c1, PAPER.f1, PAPER.d1) == (2.549, 522.6, 0.090, 1.315)
    for name, (lo, hi) in PAPER_INTERVALS.items():
        assert lo <= getattr(PAPER, name) <= hi, name


def test_supervised_value_by_hand():
    # 1e9 parameters on 2e10 tokens: 1.22 + (3355 / 1e9^0.408 + 18186 / 2e10^0.431)^0.452
    reducible = (3355 / 1e9**0.408 + 18186 / 2e10**0.431) ** 0.452
    assert supervised_loss(1e9, 2e10) == pytest.approx(1.22 + reducible, rel=1e-12)


@given(sizes, sizes)
def test_log_space_equals_naive_supervised(N, D):
    naive = naive_supervised(N, D)
    assert np.isfinite(naive)
    assert supervised_loss(N, D) == pytest.approx(naive, rel=1e-10)


@given(sizes, sizes, teacher_losses)
def test_log_space_equals_naive_distilled_where_finite(N_S, D_S, L_T):
    with np.errstate(all="ignore"):
        naive = naive_distilled(N_S, D_S, L_T)
    stable = distilled_loss(N_S, D_S, L_T)
    assert np.isfinite(stable)
    if np.isfinite(naive):
        assert stable == pytest.approx(naive, rel=1e-9)


def test_no_overflow_at_the_extremes():
    grid = np.geomspace(1e3, 1e20, 18)
    N, D, L = np.meshgrid(grid, grid, np.geomspace(1e-6, 20, 25), indexing="ij")
    assert np.all(np.isfinite(supervised_loss(N, D)))
    assert np.all(np.isfinite(distilled_loss(N, D, L)))
    # Also in float32, where the broken power law's exponent of 47 would overflow a naive form.
    log_loss = jax.jit(log_distilled_loss)(*(jnp.asarray(a, jnp.float32) for a in (N, D, L)), PAPER)
    assert bool(jnp.all(jnp.isfinite(log_loss)))


@given(sizes, sizes, log_uniform(1.01, 20.0))
def test_laws_decrease_in_size_and_tokens(N, D, L_T):
    bigger = 1.5
    # Supervised: strictly. Over 1e3..1e20 the smallest step is N 1e20 -> 1.5e20 at D = 1e3, where the A term
    # (3355 / 1e20^0.408 = 2.3e-5) moves by 15% against a sum of 928 (the B term at 1e3 tokens): 0.452 * 928^-0.548
    # * 3.5e-6 = 3.7e-8 nats, seven orders above float64's spacing near L = 23 (3.6e-15).
    assert supervised_loss(N * bigger, D) < supervised_loss(N, D)
    assert supervised_loss(N, D * bigger) < supervised_loss(N, D)
    # Distilled: the excess over L_T falls to below L_T's float64 spacing for a teacher much weaker than L~_S
    # (the broken power law's exponent of -47). Strictly where the independent naive excess drops by more than
    # two spacings of L_S, so that the step is resolvable in float64; elsewhere at least never upwards.
    # (The rounding allowed for: two spacings of L_S, plus 1e-12 of the excess for the naive form's own error.)
    for bigger_N, bigger_D in ((N * bigger, D), (N, D * bigger)):
        before, after = distilled_loss(N, D, L_T), distilled_loss(bigger_N, bigger_D, L_T)
        with np.errstate(all="ignore"):
            excess = naive_excess(N, D, L_T)
            step = excess - naive_excess(bigger_N, bigger_D, L_T)
        rounding = 2 * np.spacing(before) + 1e-12 * excess
        if naive_excess_is_accurate(excess) and step > rounding:
            assert after < before
            assert before - after == pytest.approx(step, rel=1e-6, abs=rounding)
        else:
            assert after <= before


@given(sizes, sizes, teacher_losses)
def test_student_never_beats_its_teacher(N_S, D_S, L_T):
    # The drawn teacher plus a sweep through the broken power law, where the excess over L_T runs from O(1) down
    # through 1e-300 (the exponent of -47 makes that span narrow, so 40 single draws would rarely land in it).
    L_T = np.append(L_T, np.geomspace(1e-3, 20.0, 400))
    L_S = distilled_loss(N_S, D_S, L_T)
    assert np.all(L_S >= L_T)
    with np.errstate(all="ignore"):
        excess = naive_excess(N_S, D_S, L_T)
    accurate = naive_excess_is_accurate(excess)
    # L_S - L_T is exact in float64 (Sterbenz); only the rounding of L_T + excess, half a spacing, is lost.
    # So the code's excess must match the directly written one down to ~1e-300, not just where it moves L_S.
    np.testing.assert_array_less(
        np.abs((L_S - L_T) - excess)[accurate], (np.spacing(L_S) + 1e-9 * excess)[accurate]
    )
    # Where the excess is resolvable, L_T + excess cannot round back to L_T: the student is strictly worse.
    resolvable = accurate & (excess > 2 * np.spacing(L_T))
    assert resolvable.sum() >= 100
    assert np.all(L_S[resolvable] > L_T[resolvable])


def test_limits_of_the_distillation_law():
    L_T = 2.0
    small, huge = distilled_loss(1e8, 1e9, L_T), distilled_loss(1e19, 1e20, L_T)
    assert small - L_T > 1e-2
    assert huge - L_T < 1e-3 * (small - L_T)
    # A very weak teacher: the student can only match it.
    assert distilled_loss(1e9, 1e10, 19.0) == pytest.approx(19.0, rel=1e-6)
    # Supervised limits: E as N, D grow.
    assert 0 < supervised_loss(1e20, 1e20) - PAPER.E < 2e-2
    assert supervised_loss(1e20, 1e20) - PAPER.E < 0.1 * (supervised_loss(1e9, 1e10) - PAPER.E)


def test_capacity_gap_a_stronger_teacher_can_make_a_worse_student():
    teacher = np.linspace(1.3, 3.0, 200)
    student = distilled_loss(1e9, 2e10, teacher)
    best = teacher[np.argmin(student)]
    assert 1.3 < best < 3.0
    assert student[0] > student.min() + 1e-3


def test_parameter_draws_lead_the_input_dimensions():
    draws = PAPER._replace(E=np.full((3, 4), 1.22), c0=np.full((3, 4), 2.549))
    N = np.array([1e8, 1e9])
    out = distilled_loss(N, 1e10, 2.0, draws)
    assert out.shape == (3, 4, 2)
    np.testing.assert_allclose(out[1, 2], distilled_loss(N, 1e10, 2.0), rtol=1e-12)


def test_one_definition_serves_numpy_jax_and_pytensor():
    N, D, L_T = 3e8, 6e9, 2.3
    reference = float(log_distilled_loss(N, D, L_T))
    jitted = jax.jit(log_distilled_loss)(jnp.asarray(N), jnp.asarray(D), jnp.asarray(L_T), PAPER)
    assert float(jitted) == pytest.approx(reference, rel=1e-8)  # XLA's log/exp differ from libm in the last bits
    mapped = jax.vmap(lambda n: log_supervised_loss(n, D))(jnp.asarray([N, 2 * N]))
    np.testing.assert_allclose(mapped, log_supervised_loss(np.array([N, 2 * N]), D), rtol=1e-8)
    x = pt.dscalar("L_T")
    assert float(log_distilled_loss(N, D, x).eval({x: L_T})) == pytest.approx(reference, rel=1e-12)
    # Gradients: d log L / d log N from JAX against a central difference.
    g = jax.grad(lambda log_n: log_supervised_loss(jnp.exp(log_n), D))(jnp.log(N))
    h = 1e-5
    fd = (log_supervised_loss(N * np.exp(h), D) - log_supervised_loss(N * np.exp(-h), D)) / (2 * h)
    assert float(g) == pytest.approx(fd, rel=1e-6)
    assert float(g) < 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: supervised_loss(-1.0, 1e9), "N must be finite and > 0; got -1.0"),
        (lambda: supervised_loss(1e9, np.array([1e9, np.nan])), "D must be finite"),
        (lambda: distilled_loss(1e9, 1e9, 0.0), "L_T must be finite and > 0; got 0.0"),
        (lambda: distilled_loss(1e9, np.inf, 2.0), "D_S must be finite"),
    ],
)
def test_bad_input_names_the_argument(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        call()


def test_params_from_mapping_and_replace():
    p = LawParams.from_mapping({"E": 1.0, "A": 1.0, "B": 1.0, "alpha": 0.3, "beta": 0.3, "gamma": 1.0})
    assert np.isnan(p.c0)
    with pytest.raises(ValueError, match="missing the supervised coefficients"):
        LawParams.from_mapping({"E": 1.0})
    with pytest.raises(ValueError, match="unknown coefficients"):
        PAPER.replace(zeta=1.0)
