"""The plots of ``bayes_distill.plots`` on one small posterior: the smoke sweep, fitted with 2 x 200 draws.

Each test checks what a figure says, not only that it draws: its curves are the posterior's medians, its bands
the 50% and 90% intervals, its points the observed runs, its map the probability the posterior answers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import bayes_distill as bd
from bayes_distill import plots
from bayes_distill.laws import forward_flops
from bayes_distill.plots._common import BANDS, log_edges
from bayes_distill.plots.laws import most_run, profile_budgets
from bayes_distill.plots.planning import _draw_crossover, feasible_range
from bayes_distill.posterior import summarize_crossover, summarize_draws


@pytest.fixture(scope="module")
def posterior(smoke_posterior):
    """The session's fit of the smoke grid's runs, with E held at the data's exact loss floor (a quick, small
    posterior, shared with the report's and the notebooks' tests)."""
    return smoke_posterior


def _tagged(ax, gid):
    return [a for a in [*ax.collections, *ax.lines] if a.get_gid() == gid]


def _saved(fig, tmp_path, name):
    """Render the figure to PNG (drawing runs the tick locators and layout, which can fail where building did not)."""
    assert isinstance(fig, Figure)
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=60)
    assert path.stat().st_size > 5000
    _assert_labels_inside(fig)


def _assert_labels_inside(fig):
    """Every axis label, title and legend lies inside the figure: none is cut off at its edge."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    texts = [fig._suptitle, *(t for ax in fig.axes for t in (ax.xaxis.label, ax.yaxis.label, ax.title,
                                                               ax._left_title, ax._right_title, ax.get_legend())),
             *fig.legends]
    for text in (t for t in texts if t is not None and t.get_visible() and getattr(t, "get_text", lambda: "x")()):
        box = text.get_window_extent(renderer)
        assert box.x0 >= -1 and box.y0 >= -1 and box.x1 <= fig.bbox.width + 1 and box.y1 <= fig.bbox.height + 1, (
            text, box, fig.bbox)


def _check_bands(ax, curves):
    """One 50% and one 90% band per curve, each a filled region around its median line."""
    for name in BANDS:
        bands = _tagged(ax, f"band-{name[:-1]}")
        assert len(bands) == curves, (name, len(bands))
        assert all(len(b.get_paths()) == 1 and len(b.get_paths()[0].vertices) > 4 for b in bands)
    assert len(_tagged(ax, "median")) == curves


def _median_of(draws):
    return summarize_draws(draws).sel(quantile=0.5).values


def _runs(posterior, kind):
    runs = posterior.runs
    return runs.isel(run=np.flatnonzero(runs["kind"].values.astype(str) == kind))


def test_loss_vs_tokens_curves_are_posterior_medians_with_the_runs_on_them(posterior, tmp_path):
    fig = plots.loss_vs_tokens(posterior)
    _saved(fig, tmp_path, "loss_vs_tokens")
    distilled_ax, supervised_ax = fig.axes
    runs = _runs(posterior, "distilled")
    pairs = sorted(set(zip(runs["N"].values, runs["teacher_loss"].values, strict=True)))
    _check_bands(distilled_ax, len(pairs))
    lines, points = _tagged(distilled_ax, "median"), _tagged(distilled_ax, "observed")
    for (n, lt), line, dots in zip(pairs, lines, points, strict=True):
        x, y = line.get_data()
        np.testing.assert_allclose(y, _median_of(posterior.predict(N_S=n, D_S=x, L_T=lt)), rtol=1e-12)
        mine = (runs["N"].values == n) & (runs["teacher_loss"].values == lt)
        np.testing.assert_array_equal(dots.get_offsets(), np.c_[runs["D"].values[mine], runs["loss"].values[mine]])
        np.testing.assert_allclose(dots.get_facecolor()[0], line.get_color())  # a run has its curve's colour
        assert x.min() <= runs["D"].values[mine].min() and x.max() >= runs["D"].values[mine].max()
    supervised = _runs(posterior, "supervised")
    sizes = np.unique(supervised["N"].values)
    _check_bands(supervised_ax, sizes.size)
    for n, line, dots in zip(sizes, _tagged(supervised_ax, "median"), _tagged(supervised_ax, "observed"), strict=True):
        np.testing.assert_allclose(line.get_ydata(), _median_of(posterior.predict(n, line.get_xdata())), rtol=1e-12)
        mine = supervised["N"].values == n
        expected = zip(supervised["D"].values[mine], supervised["loss"].values[mine], strict=True)
        assert sorted(map(tuple, dots.get_offsets())) == sorted(expected)
    assert distilled_ax.get_xscale() == "log" and "tokens" in distilled_ax.get_xlabel()
    assert "nats/token" in distilled_ax.get_ylabel()


def test_loss_vs_tokens_of_a_supervised_only_fit_draws_the_supervised_law_alone(posterior):
    from bayes_distill.posterior import Posterior

    supervised = posterior.runs.sel(run=posterior.runs["kind"] == "supervised")
    fig = plots.loss_vs_tokens(Posterior(posterior.tree, supervised, posterior.fix, posterior.nu))
    (ax,) = fig.axes
    sizes = np.unique(supervised["N"].values)
    _check_bands(ax, sizes.size)
    assert len(_tagged(ax, "observed")) == sizes.size and "training tokens" in ax.get_xlabel()


def test_loss_vs_tokens_given_students_and_teachers_draws_their_product(posterior):
    fig = plots.loss_vs_tokens(posterior, student_sizes=[2e4, 5e4], teacher_losses=[2.0])
    ax = fig.axes[0]
    _check_bands(ax, 2)
    assert all(len(dots.get_offsets()) == 0 for dots in _tagged(ax, "observed"))  # no run has these students


def _check_isoflop(posterior, fig, budgets):
    (ax,) = fig.axes
    _check_bands(ax, budgets.size)
    arch = posterior.architecture
    for budget, line in zip(budgets, _tagged(ax, "median"), strict=True):
        N = line.get_xdata()
        tokens = budget / (3 * forward_flops(N, arch))
        np.testing.assert_allclose(line.get_ydata(), _median_of(posterior.predict(N, tokens)), rtol=1e-12)
    supervised = _runs(posterior, "supervised")
    run_compute = 3 * forward_flops(supervised["N"].values, arch) * supervised["D"].values
    for budget, dots in zip(budgets, _tagged(ax, "observed"), strict=True):
        near = np.abs(np.log(run_compute / budget)) <= np.log(1.2)  # each run on the profile of its own compute
        expected = zip(supervised["N"].values[near], supervised["loss"].values[near], strict=True)
        assert sorted(map(tuple, dots.get_offsets())) == sorted(expected)


def test_isoflop_profiles_hold_compute_fixed_and_draw_each_run_near_its_budget(posterior, tmp_path):
    fig = plots.isoflop_profiles(posterior)
    _saved(fig, tmp_path, "isoflop_profiles")
    # The smoke grid's one IsoFLOP profile: two sizes at 2e10 FLOPs of its own architecture.
    supervised = _runs(posterior, "supervised")
    N = supervised["N"].values
    (budget,) = profile_budgets(3 * forward_flops(N, posterior.architecture) * supervised["D"].values, N)
    assert budget == pytest.approx(2e10, rel=0.01)
    _check_isoflop(posterior, fig, np.array([budget]))
    assert len(_tagged(fig.axes[0], "observed")[0].get_offsets()) == 2
    budgets = np.array([4e9, 3e10, 2.5e11])
    _check_isoflop(posterior, plots.isoflop_profiles(posterior, budgets=budgets), budgets)


def test_capacity_gap_draws_student_against_teacher_loss(posterior, tmp_path):
    fig = plots.capacity_gap(posterior)
    _saved(fig, tmp_path, "capacity_gap")
    (ax,) = fig.axes
    runs = _runs(posterior, "distilled")
    pairs = sorted(set(zip(runs["N"].values, runs["D"].values, strict=True)))
    _check_bands(ax, len(pairs))
    for (n, d), line, dots in zip(pairs, _tagged(ax, "median"), _tagged(ax, "observed"), strict=True):
        L_T = line.get_xdata()
        np.testing.assert_allclose(line.get_ydata(), _median_of(posterior.predict(N_S=n, D_S=d, L_T=L_T)), rtol=1e-12)
        mine = (runs["N"].values == n) & (runs["D"].values == d)
        np.testing.assert_array_equal(dots.get_offsets(), np.c_[runs["teacher_loss"].values[mine],
                                                                runs["loss"].values[mine]])
        assert L_T.min() < runs["teacher_loss"].values.min() and L_T.max() > runs["teacher_loss"].values.max()
    assert "teacher loss" in ax.get_xlabel() and "nats/token" in ax.get_xlabel()


def test_allocation_vs_budget_draws_the_planners_medians_and_shares(posterior, tmp_path):
    N_S = posterior.scale.student_sizes[0]
    budgets = np.geomspace(1e9, 1e11, 12)
    fig = plots.allocation_vs_budget(posterior, student_size=N_S, budgets=budgets)
    _saved(fig, tmp_path, "allocation_vs_budget")
    tokens_ax, teacher_ax, shares_ax = fig.axes
    plan = summarize_draws(posterior.allocate(N_S, budgets, "teacher-inference")).sel(quantile=0.5)
    for ax, names in ((tokens_ax, ("student_tokens", "teacher_tokens")), (teacher_ax, ("teacher_params",)),
                      (shares_ax, ("student_share", "teacher_logits_share", "teacher_pretraining_share"))):
        _check_bands(ax, len(names))
        for name, line in zip(names, _tagged(ax, "median"), strict=True):
            np.testing.assert_array_equal(line.get_xdata(), budgets)
            np.testing.assert_allclose(line.get_ydata(), plan[name].values.ravel(), rtol=1e-12)
        assert ax.get_xscale() == "log" and "FLOPs" in ax.get_xlabel()
    assert tokens_ax.get_yscale() == "log" and shares_ax.get_yscale() == "linear"
    total = sum(line.get_ydata() for line in _tagged(shares_ax, "median"))
    np.testing.assert_allclose(total, 1.0, atol=0.02)  # medians of shares that sum to 1 in every draw


def test_crossover_vs_student_size_draws_its_summary_and_outcome_shares(posterior, tmp_path):
    sizes = np.array([1.5e4, 4e4, 9e4])
    fig = plots.crossover_vs_student_size(posterior, student_sizes=sizes)
    _saved(fig, tmp_path, "crossover_vs_student_size")
    crossover_ax, shares_ax = fig.axes
    _check_bands(crossover_ax, 1)
    range_searched = feasible_range(posterior, sizes, ["teacher-inference"])
    edges = sorted(line.get_ydata()[0] for line in crossover_ax.get_lines() if line.get_linestyle() == "--")
    np.testing.assert_allclose(edges, range_searched)
    summary = summarize_crossover(posterior.crossover(sizes, "teacher-inference", range_searched))
    expected = summary["compute"].sel(quantile=0.5).clip(*range_searched).values
    np.testing.assert_allclose(_tagged(crossover_ax, "median")[0].get_ydata(), expected, rtol=1e-12)
    heights = {name: [p.get_height() for p in shares_ax.patches if p.get_gid() == name]
               for name in ("share_wins_throughout", "share_crossover_in_range", "share_never_wins")}
    for name, drawn in heights.items():
        np.testing.assert_allclose(drawn, summary[name].values)
    np.testing.assert_allclose(np.sum(list(heights.values()), axis=0), 1.0)


def test_crossover_beyond_the_range_is_marked_at_its_edges_not_dropped():
    sizes = np.array([1e4, 1e5, 1e6])
    # Per size, quantiles 5/25/50/75/95%: inside; 75% and 95% above the range; median and above below and above.
    values = np.array([[1e10, 2e10, 3e10, 4e10, 5e10], [1e10, 2e10, 3e10, np.inf, np.inf],
                       [-np.inf, -np.inf, np.inf, np.inf, np.inf]]).T
    compute = xr.DataArray(values, dims=("quantile", "student_size"),
                           coords={"quantile": [0.05, 0.25, 0.5, 0.75, 0.95], "student_size": sizes})
    fig = Figure()
    ax = fig.subplots()
    limits = (1e9, 1e12)
    _draw_crossover(ax, sizes, compute, limits)
    above = np.concatenate([c.get_offsets() for c in _tagged(ax, "above-range")])
    below = np.concatenate([c.get_offsets() for c in _tagged(ax, "below-range")])
    assert sorted(map(tuple, above)) == [(1e5, 1e12), (1e6, 1e12)]
    assert sorted(map(tuple, below)) == [(1e6, 1e9)]
    filled = [c for c in _tagged(ax, "above-range") if len(c.get_offsets())
              and not np.allclose(c.get_facecolor()[0][:3], 1.0)]
    np.testing.assert_array_equal(filled[0].get_offsets(), [[1e6, 1e12]])  # only there the median is above
    band = _tagged(ax, "band-90")[0].get_paths()[0].vertices
    assert np.all(np.isfinite(band)) and band[:, 1].max() == 1e12 and band[:, 1].min() == 1e9


def test_win_probability_map_is_the_posteriors_probability_per_cell(posterior, tmp_path):
    sizes, budgets = np.array([1.5e4, 4e4, 9e4]), np.geomspace(1e9, 1e11, 4)
    scenarios = ("best-case", "teacher-inference")
    fig = plots.win_probability_map(posterior, student_sizes=sizes, budgets=budgets, scenarios=scenarios)
    _saved(fig, tmp_path, "win_probability_map")
    panels, colorbar = fig.axes[:-1], fig.axes[-1]
    assert len(panels) == len(scenarios)
    for ax, scenario in zip(panels, scenarios, strict=True):
        (mesh,) = _tagged(ax, "win-probability")
        expected = posterior.prob_distillation_wins(sizes, budgets, scenario).transpose("student_size", "compute")
        values = np.asarray(mesh.get_array()).reshape(budgets.size, sizes.size)
        np.testing.assert_allclose(values, expected.values.T)
        assert np.all((values >= 0) & (values <= 1)) and mesh.get_clim() == (0.0, 1.0)
        np.testing.assert_allclose(mesh.get_coordinates()[0, :, 0], log_edges(sizes))
        assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "P(distillation wins)" in colorbar.get_ylabel()


def test_posterior_predictive_draws_every_runs_observed_log_loss(posterior, tmp_path):
    fig = plots.posterior_predictive(posterior)
    _saved(fig, tmp_path, "posterior_predictive")
    (ax,) = fig.axes
    observed = np.log(posterior.runs["loss"].values)
    drawn = [c.get_offsets() for c in ax.collections if len(c.get_offsets()) == observed.size]
    assert any(np.allclose(points[:, 1], observed) for points in drawn)
    assert [t.get_text() for t in ax.get_xticklabels()] == [k[0].upper() for k in posterior.runs["kind"].values]
    assert "nats/token" in ax.get_ylabel()


def test_residuals_are_each_runs_miss_against_tokens_per_parameter(posterior, tmp_path):
    # One panel per kind; each run at its D/N and at observed / predictive median - 1 (%), computed here from the
    # fit's own groups; its bar spans the predictive's 90% interval about the median, so it holds 0; one key per size.
    fig = plots.residuals(posterior)
    _saved(fig, tmp_path, "residuals")
    runs = posterior.runs
    predictive = posterior.tree["posterior_predictive"]["log_loss"]
    miss = 100 * np.expm1(posterior.tree["observed_data"]["log_loss"].values
                          - predictive.median(("chain", "draw")).values)
    kinds = runs["kind"].values.astype(str)
    assert [ax.get_title() for ax in fig.axes] == ["supervised runs", "distilled runs"]
    for ax, kind in zip(fig.axes, ("supervised", "distilled"), strict=True):
        mine = kinds == kind
        points = np.concatenate([c.get_offsets() for c in _tagged(ax, "observed")])
        expected = np.column_stack([runs["D"].values[mine] / runs["N"].values[mine], miss[mine]])
        np.testing.assert_allclose(points[np.lexsort(points.T)], expected[np.lexsort(expected.T)], rtol=1e-9)
        (bars,) = _tagged(ax, "interval")
        spans = np.array([segment[:, 1] for segment in bars.get_segments()])
        assert spans.shape == (mine.sum(), 2) and np.all((spans[:, 0] < 0) & (spans[:, 1] > 0))
        assert ax.get_xscale() == "log" and "D/N" in ax.get_xlabel()
    assert "(%)" in fig.axes[0].get_ylabel()
    keys = [t.get_text() for t in fig.legends[0].get_texts()]
    assert keys == [f"N = {n:.3g}" for n in np.unique(runs["N"].values)]


@pytest.mark.parametrize("kind", ["rank", "trace"])
def test_diagnostics_draw_every_free_coefficient(posterior, kind, tmp_path):
    fig = plots.diagnostics(posterior, kind=kind)
    _saved(fig, tmp_path, f"diagnostics_{kind}")
    titles = {ax.get_title() for ax in fig.axes}
    assert set(posterior.free_coefficients) <= titles and "E" not in titles  # E is held fixed in this fit
    with pytest.raises(ValueError, match="kind"):
        plots.diagnostics(posterior, kind="pair")


def test_importing_the_plots_changes_no_process_wide_state():
    # rcParams read raw (_get): reading rcParams["backend"] would itself resolve the backend, importing pyplot.
    script = ("import matplotlib, sys; rc = matplotlib.rcParams; raw = lambda: {k: rc._get(k) for k in rc.keys()}; "
              "before = raw(); import bayes_distill.plots; assert raw() == before; "
              "assert 'matplotlib.pyplot' not in sys.modules; assert 'arviz_plots' not in sys.modules")
    subprocess.run([sys.executable, "-c", script], check=True)


def test_default_curves_are_the_pairs_with_the_most_runs():
    keys = [(1.0, 2.0)] * 3 + [(1.0, 3.0)] * 2 + [(2.0, 2.0), (5.0, 1.0)]
    assert most_run(keys, limit=2) == ([(1.0, 2.0), (1.0, 3.0)], 4)
    assert most_run(keys, limit=3) == ([(1.0, 2.0), (1.0, 3.0), (2.0, 2.0)], 4)  # a tie goes to the smaller
    assert most_run(keys, limit=10) == (sorted(set(keys)), 4)


@pytest.mark.parametrize(("spent", "ticks"), [((4.7e10, 6.4e10), 3), ((3e10, 1e12), 4), ((3.08e12, 3.28e12), 4)])
def test_the_loops_progress_labels_a_few_ticks_on_a_narrow_log_axis(spent, ticks, tmp_path):
    # Rounds whose spending differs by a factor under 2 leave no two of 1, 2, 5 x 10^k on the axis: a few evenly
    # spaced ticks are labelled there, not Matplotlib's fallback of ten long labels that run into each other; each
    # label with the decimals it takes to differ from the others (3.18 and 3.24 x 10^12 both read 3.2 at one).
    history = pd.DataFrame({"round": [0, 1], "spent": spent, "trained": [3, 2], "low": [0.82, 0.80],
                            "median": [0.90, 0.87], "high": [0.96, 0.94], "width": [0.14, 0.14]})
    fig = bd.plots.design_progress(history, "log loss")
    _saved(fig, tmp_path, "design")
    ax = fig.axes[0]
    low, high = ax.get_xlim()
    labels = [t.get_text() for t, x in zip(ax.get_xticklabels(), ax.get_xticks(), strict=True) if low <= x <= high]
    assert ticks - 1 <= len(labels) <= ticks + 1 and all(labels), labels
    assert len(set(labels)) == len(labels), labels
    assert ax.get_ylabel() == "log loss"


@pytest.mark.parametrize("target", ["crossover:1e9", "teacher_size:1e9:1e21", "allocation:1e9:1e21",
                                    "wins:1e9:1e21", "target.csv"])
def test_the_loops_progress_keeps_every_label_inside_the_figure(target, tmp_path):
    # The label of a planner target names the quantity, its units and where it is taken, too long for a y axis: the
    # quantity labels the axis and the rest goes in the title, and nothing is cut off at the figure's edge.
    from bayes_distill.cli.design import is_wins, parse_target, target_label

    parsed = parse_target(target) if target != "target.csv" else Path(target)
    history = pd.DataFrame({"round": [0, 1], "spent": [4.6e11, 9e11], "trained": [13, 2], "low": [8.4, 9.9],
                            "median": [11.1, 10.6], "high": [12.4, 11.2], "width": [4.0, 1.3],
                            "mean": [0.6, 0.8]})
    label = target_label(parsed)
    fig = bd.plots.design_progress(history, label, probability=is_wins(parsed))
    _saved(fig, tmp_path, "design")  # and every label inside the figure
    ax = fig.axes[0]
    shown = " ".join([ax.get_ylabel(), ax.get_title()])
    assert all(part in shown for part in label.split(", ")), (label, shown)


def test_the_loops_progress_marks_its_budget(tmp_path):
    # The budget is how far the loop may go: a dashed line there, inside the axis, named in the legend.
    history = pd.DataFrame({"round": [0, 1], "spent": [1.0e12, 1.7e12], "trained": [15, 1], "low": [0.39, 0.41],
                            "median": [0.53, 0.51], "high": [0.67, 0.62], "width": [0.28, 0.21]})
    fig = bd.plots.design_progress(history, "log loss", budget=2e12)
    _saved(fig, tmp_path, "design")
    ax = fig.axes[0]
    budget_lines = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert [tuple(line.get_xdata()) for line in budget_lines] == [(2e12, 2e12)]
    assert ax.get_xlim()[1] > 2e12
    assert "budget (2e+12 FLOPs)" in [t.get_text() for t in ax.get_legend().get_texts()]
    without = bd.plots.design_progress(history, "log loss")
    assert not [line for line in without.axes[0].get_lines() if line.get_linestyle() == "--"]


@pytest.mark.parametrize("probability", [False, True])
def test_the_loops_round_labels_do_not_overlap_when_rounds_are_close(probability, tmp_path):
    # A round's budget makes many rounds, a few percent of the budget apart on a log axis: their labels are their
    # numbers, alternately above and below the points, so that no two print over each other.
    spent = np.array([1e12, 5e13, 5.8e13, 6.5e13, 7.3e13, 8.1e13])
    history = pd.DataFrame({"round": range(6), "spent": spent, "trained": 2, "low": 0.55, "median": 0.6,
                            "high": 0.65, "width": 0.1, "mean": [0.5, 0.55, 0.6, 0.6, 0.62, 0.63]})
    fig = bd.plots.design_progress(history, "log loss", probability=probability, budget=1e14)
    _saved(fig, tmp_path, "design")
    renderer = fig.canvas.get_renderer()
    labels = fig.axes[0].texts
    assert [t.get_text() for t in labels] == ["0", "1", "2", "3", "4", "5"]
    assert fig.axes[0].get_xlabel() == "FLOPs spent (numbers: rounds)"
    boxes = [t.get_window_extent(renderer) for t in labels]
    assert not [(i, j) for i in range(6) for j in range(i + 1, 6) if boxes[i].overlaps(boxes[j])]


def test_tick_labels_take_the_decimals_that_tell_them_apart():
    from bayes_distill.plots._common import PowerOfTen, power_of_ten

    assert power_of_ten(3.15e12, 2) == r"$3.15\times 10^{12}$" and power_of_ten(1e5) == "$10^{5}$"
    assert power_of_ten(0.0) == ""
    formatter = PowerOfTen()
    formatter.set_locs([3.12e12, 3.18e12, 3.24e12, 3.3e12])
    assert [formatter(v) for v in (3.18e12, 3.24e12)] == [r"$3.18\times 10^{12}$", r"$3.24\times 10^{12}$"]
    formatter.set_locs([2e10, 5e10, 1e11])
    assert [formatter(v) for v in (2e10, 5e10, 1e11)] == [r"$2\times 10^{10}$", r"$5\times 10^{10}$", "$10^{11}$"]



def test_the_candidates_worth_against_their_cost(tmp_path):
    # Each candidate at (cost, share of the target's variance its outcome alone cuts, in percent); the batch filled,
    # the rest hollow, coloured by kind (matched by run id, not by position); a share next to nothing sits on the
    # floor (0.01%); the budget dashed.
    ranked = xr.Dataset({"cost": ("candidate", [1e18, 1e19, 1e20, 1e21]),
                         "expected_reduction": ("candidate", [1e-3, 4e-3, 1e-9, 6e-3]),
                         "selected": ("candidate", [True, True, False, False])},
                        coords={"candidate": ["a", "b", "c", "d"]}, attrs={"budget": 5e20, "target_variance": 1e-2})
    kind = xr.DataArray(["supervised", "distilled", "distilled", "supervised"], dims="candidate",
                        coords={"candidate": ["d", "c", "b", "a"]})
    fig = bd.plots.next_runs(ranked, kind)
    _saved(fig, tmp_path, "next_runs")
    ax = fig.axes[0]
    drawn = {c.get_label(): c.get_offsets().tolist() for c in ax.collections}
    expected = {"distilled: in the batch": [[1e19, 40.0]], "distilled: not selected": [[1e20, 0.01]],
                "supervised: in the batch": [[1e18, 10.0]], "supervised: not selected": [[1e21, 60.0]]}
    assert drawn.keys() == expected.keys()
    assert all(np.allclose(drawn[k], expected[k], rtol=1e-12) for k in expected), drawn
    fills = {c.get_label(): len(c.get_facecolors()) for c in ax.collections}
    assert fills["distilled: in the batch"] == 1 and fills["distilled: not selected"] == 0  # hollow: no face
    [budget] = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert tuple(budget.get_xdata()) == (5e20, 5e20)
    assert ax.get_xscale() == ax.get_yscale() == "log"
    decided = bd.plots.next_runs(ranked.assign_attrs(target_variance=0.0))  # a target without spread
    assert all(np.allclose(c.get_offsets()[:, 1], 0.01) for c in decided.axes[0].collections)
