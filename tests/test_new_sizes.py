"""What a refit does with a run at a size the fit has not seen, as the design models it (``posterior.new_sizes``):
the law error extrapolated from the fitted sizes in closed form, the share of a new size's error left to its own
level, and what runs at new sizes take off the target's extrapolated law error."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_distill as bd
from bayes_distill.data.candidates import load_candidates
from bayes_distill.laws import PAPER
from bayes_distill.posterior.design import law_error_points, predicted_log_loss
from bayes_distill.posterior.law_error import (
    AbsorbedExtrapolation,
    absorbed_projector,
    log_loss_jacobian,
    noise_precision,
)
from bayes_distill.posterior.new_sizes import ExtrapolationCut, fitted_sizes, level_share

TARGET = pd.DataFrame({"kind": "supervised", "N": [1e10, 3e10], "D": [2e11, 6e11]})
SIZES = np.geomspace(3e7, 3e8, 4)  # parameters


@pytest.fixture(scope="module")
def post():
    # The supervised law at 4 sizes x 3 token budgets, each size 1% off the law: a fit with a law error.
    rng = np.random.default_rng(0)
    N = np.repeat(SIZES, 3)
    D = N * np.tile([10.0, 40.0, 160.0], 4)
    offset = np.repeat(rng.normal(0.0, 0.01, 4), 3)
    runs = pd.DataFrame({"run": [f"r{i}" for i in range(N.size)], "kind": "supervised", "N": N, "D": D,
                         "loss": bd.supervised_loss(N, D, PAPER) * np.exp(offset + rng.normal(0.0, 0.005, N.size))})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bd.inference.FitWarning)  # short chains
        return bd.fit(runs, chains=2, draws=300, warmup=300, seed=0)


def test_the_closed_form_is_the_variance_of_the_extrapolation_the_law_error_draws(post):
    # Each seed draws the fitted sizes' absorbed offsets anew; per draw, their extrapolation to 1e10 has variance
    # AbsorbedExtrapolation.variance (in law_error^2). Over 40 seeds, each draw's mean square is that times a
    # chi-square(40) / 40, whose mean over the 600 draws is 1 +- 0.01.
    fitted = fitted_sizes(post, "supervised")
    assert fitted.N.tolist() == SIZES.tolist()
    scale = post.posterior["law_error"].values
    square = np.mean([((post.law_error("supervised", [1e10], seed).values[..., 0]
                        - post.law_error("supervised", [1e10], seed, extrapolated=False).values[..., 0]) / scale) ** 2
                      for seed in range(40)], axis=0)
    closed = AbsorbedExtrapolation.of(fitted, post.params(), post.free_coefficients,
                                      noise_precision(post.posterior, "supervised", post.nu))
    at = log_loss_jacobian("supervised", post.params(), post.free_coefficients, fitted.typical_inputs(np.array([1e10])))
    variance = closed.variance(at.reshape(-1, 1, at.shape[-1]))[:, 0]
    assert np.mean(square.ravel() / variance) == pytest.approx(1.0, abs=0.05)
    assert np.median(variance) > 1.0  # 30x beyond the fitted sizes the extrapolated part outgrows a size's own


def test_a_run_at_a_new_size_keeps_the_share_of_its_error_the_law_does_not_absorb(post):
    kind = np.array(["supervised"] * 4)
    N = np.array([SIZES[1], 1e8, 1e9, 1e10])  # a fitted size, one among them, one and two decades beyond
    share = level_share(post, kind, N)
    assert share[0] == 1.0 and np.all((share[1:] > 0) & (share[1:] < 1))
    assert share[1] > share[2] > share[3]  # the farther out, the more of its offset the law's curvature takes
    candidates = load_candidates(pd.DataFrame({"kind": kind, "N": N, "D": 20 * N}))
    as_run = predicted_log_loss(post, candidates, seed=2, as_run=True)
    law = np.log(post.predict(N, 20 * N, law_error=False)).values
    own = post.law_error("supervised", N, seed=2, extrapolated=False).values
    np.testing.assert_allclose(as_run.values - law, own * np.sqrt(share), atol=1e-12)
    fitted_level = post.posterior["law_error_offset"].sel(size=f"supervised N={float(SIZES[1])!r}").values
    np.testing.assert_array_equal(own[..., 0], fitted_level)


def test_runs_beyond_the_fitted_sizes_take_most_off_the_targets_extrapolated_law_error(post):
    N = np.array([1e8, 1e9, 3e9, 3e9, SIZES[2]])
    candidates = load_candidates(pd.DataFrame({"kind": "supervised", "N": N, "D": 20 * N}))
    points, quantities = law_error_points(post, TARGET)
    assert quantities == 2 and points["supervised"].tolist() == [1e10, 3e10]
    cut = ExtrapolationCut.of(post, candidates, points, quantities)
    alone = cut.alone
    assert alone[4] == 0.0 and cut.new.tolist() == [True, True, True, True, False]  # a fitted size changes nothing
    assert 0 < alone[0] < alone[1] < alone[2] == alone[3]
    # The extrapolated part is law_error^2 times the closed form's variance, averaged over the target's points: a
    # run at 3e9 takes most of it off, and a second run there little more.
    whole = float(np.mean(np.var(np.log(post.predict(TARGET["N"], TARGET["D"])).values.reshape(-1, 2), axis=0)))
    assert 0.3 * whole < alone[2] < whole
    assert cut.given(3, np.array([2])) < 0.1 * alone[3]
    # A run at a target point's own size: the refit fits that size's error, so all of its extrapolated part goes.
    at_target = load_candidates(pd.DataFrame({"kind": "supervised", "N": [1e10], "D": [1e11]}))
    whole_part = ExtrapolationCut.of(post, at_target, {"supervised": np.array([1e10])}, 1)
    closed = whole_part.fitted["supervised"].variance(whole_part.target["supervised"])[:, 0]
    assert whole_part.alone[0] == pytest.approx(float(np.mean(whole_part.scale2 * closed)), rel=1e-12)
    assert cut.changed_by(2).tolist() == [True, True, True, True, False]


def test_only_answers_that_carry_the_law_error_as_it_is_have_points(post):
    assert law_error_points(post, TARGET.assign(N=[SIZES[0], 1e10]))[0]["supervised"].tolist() == [1e10]
    assert law_error_points(post, ("allocation", 2e9, 1e21, "teacher-inference")) == ({"distilled": [2e9]}, 1)
    assert law_error_points(post, ("wins", 2e9, 1e21, "teacher-inference")) == ({}, 1)
    assert law_error_points(post, ("crossover", 2e9, "teacher-inference")) == ({}, 1)


def test_one_runs_update_is_the_extrapolation_refitted_with_it(post):
    # Sherman-Morrison (with_run, variance_with_run) against M built again with the run among the fitted ones.
    fitted = fitted_sizes(post, "supervised")
    params, names = post.params(), post.free_coefficients
    precision = noise_precision(post.posterior, "supervised", post.nu)
    closed = AbsorbedExtrapolation.of(fitted, params, names, precision)
    flat = lambda a: a.reshape(-1, *a.shape[2:])  # noqa: E731
    at = flat(log_loss_jacobian("supervised", params, names, fitted.typical_inputs(np.array([1e10, 3e10]))))
    for N in (3e9, float(SIZES[1])):  # a new size, and a fitted one
        row = flat(log_loss_jacobian("supervised", params, names, (np.array([N]), np.array([20 * N]))))[:, 0]
        inputs = tuple(np.append(a, b) for a, b in zip(fitted.run_inputs, (N, 20 * N), strict=True))
        sizes, index = np.unique(inputs[0], return_inverse=True)
        refitted = AbsorbedExtrapolation.of(type(fitted)("supervised", sizes, index, inputs), params, names, precision)
        expected = refitted.variance(at)
        np.testing.assert_allclose(closed.with_run(N, row).variance(at), expected, rtol=1e-6)
        np.testing.assert_allclose(closed.variance_with_run(at, N, row), expected, rtol=1e-6)


def test_the_closed_form_is_the_projection_on_the_basis_as_it_grows(post):
    # The kept J^T W E B and B^T B give ||P E^T W J M^-1 j||^2 with P the projector on law_error_basis: from 2
    # fitted sizes (a constant) to 3 (a trend) and 4 (a curvature) as runs join, against P built from the sizes.
    whole = fitted_sizes(post, "supervised")
    params, names = post.params(), post.free_coefficients
    precision = noise_precision(post.posterior, "supervised", post.nu).ravel()
    flat = lambda a: a.reshape(-1, *a.shape[2:])  # noqa: E731
    at = flat(log_loss_jacobian("supervised", params, names, whole.typical_inputs(np.array([1e10, 3e10]))))
    runs = np.isin(whole.run_size, [0, 1])
    inputs = tuple(a[runs] for a in whole.run_inputs)
    closed = AbsorbedExtrapolation.of(type(whole)("supervised", whole.N[:2], whole.run_size[runs], inputs), params,
                                      names, precision)
    for N in (float(SIZES[2]), float(SIZES[3])):
        row = flat(log_loss_jacobian("supervised", params, names, (np.array([N]), np.array([20 * N]))))[:, 0]
        closed = closed.with_run(N, row)
        inputs = tuple(np.append(a, b) for a, b in zip(inputs, (N, 20 * N), strict=True))
        sizes, run_size = np.unique(inputs[0], return_inverse=True)
        jacobian = flat(log_loss_jacobian("supervised", params, names, inputs))
        pull = (jacobian * precision[:, None, None]).swapaxes(-1, -2) @ np.eye(sizes.size)[run_size]
        towards = closed.inverse @ at.swapaxes(-1, -2)
        expected = np.sum((towards.swapaxes(-1, -2) @ pull @ absorbed_projector(sizes)) ** 2, axis=-1)
        np.testing.assert_allclose(closed.variance(at), expected, rtol=1e-8)
    assert closed.sizes.size == 4
