"""Runs that know their architecture, a posterior that plans at its runs' scale, and honest summaries of answers
whose draws can be infinite."""

from __future__ import annotations

import json

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given

import bayes_distill as bd
from bayes_distill.data import ARCHITECTURE_COLUMNS, runs_architecture
from bayes_distill.laws import PAPER_ARCHITECTURE, Architecture, forward_flops
from bayes_distill.planner import DEFAULT_BOUNDS, DEFAULT_COMPUTE_RANGE
from bayes_distill.posterior import format_budget, planning_scale, summarize_crossover, summarize_draws

ARCH = {"context_length": 64, "vocab_size": 64, "aspect_ratio": 32.0, "group_size": 1.0, "n_ffn": 3,
        "ffn_ratio": 2.66}


def _table(**architecture) -> pd.DataFrame:
    frame = pd.DataFrame({"kind": ["supervised", "supervised", "distilled"], "N": [1e4, 1e5, 1e4],
                          "D": [1e6, 2e7, 3e6], "loss": [3.0, 2.5, 2.9], "teacher_loss": [np.nan, np.nan, 2.5]})
    for name, value in architecture.items():
        frame[name] = value
    return frame


def test_load_runs_keeps_the_architecture_and_reads_it_back():
    runs = bd.load_runs(_table(**ARCH))
    assert all(c in runs for c in ARCHITECTURE_COLUMNS)
    assert runs_architecture(runs) == Architecture(64, 64, 32.0, 1.0, 3, 2.66)
    assert runs_architecture(bd.load_runs(_table())) is None


def test_width_rounding_is_averaged_but_two_families_are_refused():
    frame = _table(**ARCH)
    frame["ffn_ratio"] = [2.656, 2.672, 2.656]
    assert runs_architecture(bd.load_runs(frame)).ffn_ratio == pytest.approx((2.656 + 2.672) / 2)
    frame["ffn_ratio"] = [2.0, 4.0, 2.0]
    with pytest.raises(ValueError, match="'ffn_ratio' spans 2 to 4"):
        runs_architecture(bd.load_runs(frame))
    frame = _table(**ARCH)
    frame["context_length"] = [64, 128, 64]
    with pytest.raises(ValueError, match=r"'context_length' has several values \[64.0, 128.0\]"):
        runs_architecture(bd.load_runs(frame))


def test_architecture_columns_are_all_or_none_and_checked():
    partial = _table(context_length=64, vocab_size=64)
    with pytest.raises(ValueError, match="but not \\['aspect_ratio', 'group_size', 'n_ffn', 'ffn_ratio'\\]"):
        bd.load_runs(partial)
    bad = _table(**ARCH)
    bad.loc[1, "vocab_size"] = -1
    with pytest.raises(ValueError, match="column 'vocab_size' must be finite and > 0.*run-1"):
        bd.load_runs(bad)


def test_planning_scale_is_a_decade_beyond_the_runs_or_the_papers_without_an_architecture():
    runs = bd.load_runs(_table(**ARCH))
    scale = planning_scale(runs)
    arch = Architecture(64, 64, 32.0, 1.0, 3, 2.66)
    assert scale.architecture == arch
    assert scale.bounds == pytest.approx((1e4 / 100, 2e7 * 100))
    training = 3 * forward_flops(np.array([1e4, 1e5, 1e4]), arch) * np.array([1e6, 2e7, 3e6])
    assert scale.trained_compute == pytest.approx((training.min(), training.max()))
    assert scale.compute_range == pytest.approx((training.min() / 10, training.max() * 10))
    assert scale.student_sizes == (1e4,)  # the distilled students
    np.testing.assert_allclose(scale.budgets(3), [training.min() / 10, np.sqrt(training.min() * training.max()),
                                                  training.max() * 10])
    unknown = planning_scale(bd.load_runs(_table()))
    assert (unknown.architecture, unknown.bounds, unknown.compute_range) == (
        PAPER_ARCHITECTURE, DEFAULT_BOUNDS, DEFAULT_COMPUTE_RANGE)
    assert "records no architecture" in unknown.source
    given_arch = planning_scale(bd.load_runs(_table()), arch)
    assert given_arch.architecture == arch and given_arch.bounds == scale.bounds
    assert given_arch.source.startswith("the architecture given")


def _crossover(outcome: np.ndarray, compute: np.ndarray, lower: float = 1.0, upper: float = 1e6) -> xr.Dataset:
    """A crossover answer as the planner writes it: inf where distillation wins throughout, the range's lower end
    where it never wins."""
    compute = np.where(outcome == 1, np.inf, np.where(outcome == -1, lower, compute))
    dims = ("chain", "draw", "student_size")
    return xr.Dataset({"compute": (dims, compute), "outcome": (dims, outcome)},
                      coords={"student_size": [1e4]},
                      attrs={"compute_range_lower": lower, "compute_range_upper": upper})


@given(st.lists(st.tuples(st.sampled_from([-1, 0, 1]), st.floats(2.0, 9e5)), min_size=1, max_size=60))
def test_crossover_summary_counts_outcomes_and_places_infinite_draws_beyond_the_range(draws):
    outcome = np.array([d[0] for d in draws], dtype=np.int8).reshape(1, -1, 1)
    compute = np.array([d[1] for d in draws]).reshape(1, -1, 1)
    q = (0.05, 0.25, 0.5, 0.75, 0.95)
    summary = summarize_crossover(_crossover(outcome, compute), q).sel(student_size=1e4)
    wins, never = np.mean(outcome == 1), np.mean(outcome == -1)
    assert float(summary["share_wins_throughout"]) == pytest.approx(wins)
    assert float(summary["share_never_wins"]) == pytest.approx(never)
    assert float(summary["share_crossover_in_range"]) == pytest.approx(1 - wins - never)
    values = summary["compute"].values
    assert not np.isnan(values).any() and np.all(values[:-1] <= values[1:])
    for level, value in zip(q, values, strict=True):
        # The empirical CDF reaches the level at a draw's own value: -inf while never-wins draws cover it, +inf
        # only once in-range and never-wins draws together fall short of it.
        assert np.isneginf(value) == (never >= level)
        assert np.isposinf(value) == (1 - wins < level)
        if np.isfinite(value):
            assert value in compute[outcome == 0]


def test_budgets_beyond_the_range_read_as_such():
    assert format_budget(np.inf, (1e10, 1e13)) == "> 1e+13"
    assert format_budget(-np.inf, (1e10, 1e13)) == "< 1e+10"
    assert format_budget(2.5e11, (1e10, 1e13)) == "2.5e+11"
    assert format_budget(np.inf) == "> range"


def test_summarize_draws_keeps_infinite_draws_finite_quantiles_and_needs_draws():
    values = np.array([[1.0, 2.0, 3.0, np.inf]])
    summary = summarize_draws(xr.DataArray(values, dims=("chain", "draw")), (0.25, 0.5, 1.0))
    assert summary.values.tolist() == [1.0, 2.0, np.inf]
    with pytest.raises(ValueError, match="expected draws over"):
        summarize_draws(xr.DataArray(values, dims=("x", "y")))


def test_a_smoke_grid_posterior_plans_at_its_own_scale_with_no_architecture_given(smoke_posterior, tmp_path):
    post = smoke_posterior
    recorded = runs_architecture(post.runs)
    assert post.architecture == recorded and recorded.context_length == 32 and recorded.vocab_size == 32
    assert post.fits_distillation
    student = post.scale.student_sizes[0]
    crossover = post.crossover(student)  # at paper defaults this raised "compute_range=1e+18 ... cannot be spent"
    assert crossover.attrs["compute_range_lower"] == post.scale.compute_range[0]
    assert json.loads(crossover.attrs["architecture"])["vocab_size"] == 32
    assert "recorded architecture" in crossover.attrs["defaults_source"]
    summary = summarize_crossover(crossover)
    shares = sum(float(summary[k].sel(student_size=student)) for k in (
        "share_wins_throughout", "share_never_wins", "share_crossover_in_range"))
    assert shares == pytest.approx(1.0)
    wins = post.prob_distillation_wins(student, post.scale.budgets(3))
    assert wins.dims == ("student_size", "compute") and np.all((wins >= 0) & (wins <= 1))
    explicit = post.allocate(student, post.scale.budgets(2, trained=True), bounds=(1e2, 1e9), arch=recorded)
    assert (explicit.attrs["lower_bound"], explicit.attrs["upper_bound"]) == (1e2, 1e9)
    assert "defaults_source" not in explicit.attrs
    post.save(tmp_path / "p.nc")
    assert bd.load_posterior(tmp_path / "p.nc").scale == post.scale
    other = Architecture(context_length=64, vocab_size=128, aspect_ratio=64.0)
    moved = post.with_architecture(other)
    assert moved.architecture == other and moved.scale.source.startswith("the architecture given")
    moved.save(tmp_path / "q.nc")
    assert bd.load_posterior(tmp_path / "q.nc").architecture == other
