"""What to run next (``Posterior.suggest_runs``): the candidates table, their cost, the linear-Gaussian update over
the draws, the joint batch, and the ranking against refits on simulated outcomes."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import spearmanr

import bayes_distill as bd
from bayes_distill.data.candidates import load_candidates
from bayes_distill.laws import PAPER, PAPER_ARCHITECTURE
from bayes_distill.posterior.design import (
    Ensemble,
    NewTeachers,
    candidate_cost,
    expected_cut,
    greedy_batch,
    noise_scales,
    predicted_log_loss,
    reweighted_reduction,
    target_quantities,
)


def test_candidates_name_their_teacher_and_bad_columns():
    table = load_candidates(pd.DataFrame({"kind": ["supervised", "distilled", "distilled"], "N": [1e8, 1e8, 2e8],
                                          "D": [2e9, 2e9, 4e9], "teacher_loss": [np.nan, 2.3, np.nan],
                                          "teacher_N": [np.nan, 1e9, 3e9], "teacher_D": [np.nan, np.nan, 6e10]}))
    assert table["candidate"].values.tolist() == [0, 1, 2]  # row positions without run ids
    assert np.isnan(table["teacher_loss"].values[[0, 2]]).all() and table["teacher_loss"].values[1] == 2.3
    named = load_candidates(pd.DataFrame({"run": ["small", "large"], "kind": "supervised", "N": [1e8, 1e9],
                                          "D": [2e9, 2e10]}))
    assert load_candidates(named).identical(named)  # loading a loaded table keeps its ids
    with pytest.raises(ValueError, match="need a 'teacher_loss' or a teacher to train.*c1"):
        load_candidates(pd.DataFrame({"run": ["c0", "c1"], "kind": "distilled", "N": 1e8, "D": 2e9,
                                      "teacher_loss": [2.3, np.nan], "teacher_N": [1e9, 1e9]}))
    with pytest.raises(ValueError, match="column 'N' must be finite and > 0"):
        load_candidates(pd.DataFrame({"kind": ["supervised"], "N": [-1.0], "D": [1e9]}))
    with pytest.raises(ValueError, match="column 'run' has duplicate ids"):
        load_candidates(pd.DataFrame({"run": ["a", "a"], "kind": "supervised", "N": 1e8, "D": 1e9}))
    with pytest.raises(ValueError, match="column 'kind' must be one of"):
        load_candidates(pd.DataFrame({"kind": ["teacher"], "N": [1e8], "D": [1e9]}))
    # A cost that is no number is an error, not a missing cost the accounting would fill in; a gap is missing.
    with pytest.raises(ValueError, match=r"column 'cost' must hold numbers; unreadable entries \['1e20 FLOPs'\]"):
        load_candidates(pd.DataFrame({"kind": "supervised", "N": [1e8, 1e8], "D": [1e9, 2e9],
                                      "cost": ["1e20 FLOPs", "3e20"]}))
    gap = load_candidates(pd.DataFrame({"kind": "supervised", "N": [1e8, 1e8], "D": [1e9, 2e9],
                                        "cost": ["NA", "3e20"]}))
    assert np.isnan(gap["cost"].values[0]) and gap["cost"].values[1] == 3e20
    with pytest.raises(ValueError, match=r"column 'teacher_N' has values \[1000000000.0\] for supervised candidates b"):
        load_candidates(pd.DataFrame({"run": ["a", "b"], "kind": ["distilled", "supervised"], "N": 1e8, "D": 1e9,
                                      "teacher_loss": [2.3, np.nan], "teacher_N": [np.nan, 1e9]}))


def test_a_candidates_cost_is_its_training_its_teachers_logits_and_a_new_teachers_training():
    table = load_candidates(pd.DataFrame({
        "kind": ["supervised", "distilled", "distilled", "supervised"], "N": 1e8, "D": 2e9,
        "teacher_loss": [np.nan, 2.3, np.nan, np.nan], "teacher_N": [np.nan, 1e9, 1e9, np.nan],
        "teacher_D": [np.nan, np.nan, 2e10, np.nan], "cost": [np.nan, np.nan, np.nan, 5e17]}))
    F = bd.forward_flops(np.array([1e8, 1e9]), PAPER_ARCHITECTURE)
    expected = [3 * F[0] * 2e9, 3 * F[0] * 2e9 + F[1] * 2e9, 3 * F[0] * 2e9 + F[1] * (2e9 + 3 * 2e10), 5e17]
    np.testing.assert_allclose(candidate_cost(table, PAPER_ARCHITECTURE), expected, rtol=1e-12)
    unsized = load_candidates(pd.DataFrame({"run": ["d"], "kind": "distilled", "N": [1e8], "D": [2e9],
                                            "teacher_loss": [2.3]}))
    with pytest.raises(ValueError, match=r"\['d'\] need 'teacher_N'"):
        candidate_cost(unsized, PAPER_ARCHITECTURE)


def test_students_of_one_new_teacher_pay_for_it_once():
    # Two students of one teacher still to train, and a third of another: each alone costs its teacher's training,
    # but a batch that holds both of the first pays it once, so a budget of one teacher and two students fits them.
    table = load_candidates(pd.DataFrame({
        "kind": "distilled", "N": [1e8, 1.2e8, 1e8], "D": 2e9, "teacher_loss": np.nan,
        "teacher_N": [1e9, 1e9, 2e9], "teacher_D": [2e10, 2e10, 2e10]}))
    cost = candidate_cost(table, PAPER_ARCHITECTURE)
    teachers = NewTeachers.of(table, PAPER_ARCHITECTURE)
    training = 3 * bd.forward_flops(np.array([1e9, 2e9]), PAPER_ARCHITECTURE) * 2e10
    np.testing.assert_allclose(teachers.training, [*training, 0.0], rtol=1e-12)
    assert teachers.index.tolist() == [0, 0, 1]
    rng = np.random.default_rng(0)
    theta = rng.standard_normal((4000, 3))
    budget = cost[0] + cost[1] - training[0] * 0.999  # both students of teacher 0, not a second teacher
    ensemble = Ensemble.of(theta.sum(1, keepdims=True), theta, np.full(3, 0.01))
    batch = greedy_batch(ensemble, cost, budget, teachers)
    assert batch.selected.tolist() == [True, True, False]
    assert batch.cost == pytest.approx(cost[0] + cost[1] - training[0], rel=1e-12)  # the teacher paid once
    alone = greedy_batch(Ensemble.of(theta.sum(1, keepdims=True), theta, np.full(3, 0.01)), cost, budget).selected
    assert alone.sum() == 1  # without the sharing, a second student would pay for the teacher again
    given = load_candidates(pd.DataFrame({"kind": "distilled", "N": [1e8], "D": 2e9, "teacher_loss": np.nan,
                                          "teacher_N": 1e9, "teacher_D": 2e10, "cost": 1e18}))
    assert NewTeachers.of(given, PAPER_ARCHITECTURE).training.tolist() == [0.0]  # a given cost is not split


def test_a_teachers_own_run_in_the_pool_is_paid_for_once():
    # The pool holds the supervised run that trains a new teacher (same N and D) and two of its students. A batch
    # pays that training once: with the budget of the teacher and both students' own costs, it takes all three. The
    # pool's second run of the same N and D is a second training (another seed) and keeps its cost.
    table = load_candidates(pd.DataFrame({
        "kind": ["supervised", "distilled", "distilled", "supervised"], "N": [1e9, 1e8, 1.2e8, 1e9],
        "D": [2e10, 2e9, 2e9, 2e10], "teacher_loss": np.nan, "teacher_N": [np.nan, 1e9, 1e9, np.nan],
        "teacher_D": [np.nan, 2e10, 2e10, np.nan]}))
    cost = candidate_cost(table, PAPER_ARCHITECTURE)
    teachers = NewTeachers.of(table, PAPER_ARCHITECTURE)
    assert teachers.index.tolist() == [0, 0, 0, 1]
    assert cost[0] == cost[3] == teachers.training[0]
    theta = np.random.default_rng(0).standard_normal((4000, 4))
    budget = cost[1] + cost[2] - cost[0] * 0.999
    ensemble = Ensemble.of(theta.sum(1, keepdims=True), theta, np.full(4, 0.01))
    selected = greedy_batch(ensemble, cost, budget, teachers).selected
    assert selected.tolist() == [True, True, True, False]


@given(st.floats(-2.0, 2.0), st.floats(0.1, 2.0), st.floats(0.01, 1.0))
def test_the_update_is_the_linear_gaussian_posteriors(a, b, noise):
    # theta ~ N(0, 1), target g = a theta, outcome f = b theta + noise: observing f shrinks Var g by
    # (a b)^2 / (b^2 + noise^2), exactly, for draws whose sample variance is 1.
    theta = np.random.default_rng(0).standard_normal(4001)
    theta = (theta - theta.mean()) / theta.std(ddof=1)
    ensemble = Ensemble.of((a * theta)[:, None], (b * theta)[:, None], np.array([noise ** 2]))
    np.testing.assert_allclose(ensemble.reductions(), [(a * b) ** 2 / (b ** 2 + noise ** 2)], rtol=1e-9, atol=1e-15)
    ensemble.observe(0)
    assert ensemble.target_covariance[0, 0] == pytest.approx(a * b * noise ** 2 / (b ** 2 + noise ** 2), abs=1e-12)


def test_two_near_identical_runs_are_not_worth_twice_one():
    # Candidates 0 and 1 see the same direction of the coefficients, 2 an independent one worth a little less:
    # the batch of two takes one of the twins and 2.
    rng = np.random.default_rng(1)
    theta = rng.standard_normal((4000, 2))
    target = theta @ np.array([[1.0], [0.9]])
    outcomes = np.column_stack([theta[:, 0], theta[:, 0] * 1.001, theta[:, 1]])
    ensemble = Ensemble.of(target, outcomes, np.full(3, 0.01))
    first = ensemble.reductions()
    assert first[1] > first[2]  # alone, the twin is worth more than the other
    selected = greedy_batch(ensemble, np.ones(3), budget=2.0).selected
    assert selected[2] and selected[:2].sum() == 1, selected
    cheap_twins = greedy_batch(Ensemble.of(target, outcomes, np.full(3, 0.01)), np.array([1.0, 1.0, 3.0]), 2.0)
    # the budget rules out the third: the twin still adds a little
    assert cheap_twins.selected.tolist() == [True, True, False] and cheap_twins.cost == 2.0


def test_a_teacher_still_to_train_carries_its_uncertainty(joint_posterior):
    # A student distilled from a 1e9 teacher still to train on 2e10 tokens: in each draw, the distillation law at
    # that draw's prediction of the teacher's loss; against the prediction's median as a known teacher loss, wider.
    post = joint_posterior
    teacher = post.predict([1e9], [2e10]).isel(point=0)
    both = load_candidates(pd.DataFrame({"kind": "distilled", "N": [3e8, 3e8], "D": [6e9, 6e9],
                                         "teacher_loss": [np.nan, float(teacher.median())], "teacher_N": [1e9, 1e9],
                                         "teacher_D": [2e10, np.nan]}))
    log_loss = predicted_log_loss(post, both)
    params = post.params()
    for chain, draw in ((0, 0), (1, 57)):
        law = bd.LawParams.from_mapping({k: float(params[k][chain, draw]) for k in params.data_vars})
        by_hand = np.log(bd.distilled_loss(3e8, 6e9, float(teacher[chain, draw]), law))
        assert float(log_loss[chain, draw, 0]) == pytest.approx(float(by_hand), rel=1e-12)
    assert float(log_loss.isel(candidate=0).std()) > float(log_loss.isel(candidate=1).std())


def test_suggest_runs_answers_planner_targets(joint_posterior):
    # For the plan of a 2e9 student at 1e22 FLOPs, a run like the plan's student (its tokens and teacher loss) tells
    # far more than a small supervised run; only the small one fits a budget of 1e21 FLOPs.
    post = joint_posterior
    target = ("allocation", 2e9, 1e22, "teacher-inference")
    plan = post.allocate(2e9, 1e22, "teacher-inference")
    candidates = pd.DataFrame({"run": ["small-supervised", "like-the-plan"], "kind": ["supervised", "distilled"],
                               "N": [5e7, 2e9], "D": [1e9, float(plan["student_tokens"].median())],
                               "teacher_loss": [np.nan, float(plan["teacher_loss"].median())],
                               "teacher_N": [np.nan, float(plan["teacher_params"].median())]})
    out = post.suggest_runs(candidates, target, budget=1e21)
    assert np.all(np.diff(out["score"].values) <= 0)  # best first
    np.testing.assert_allclose(out["score"], out["expected_reduction"] / out["cost"], rtol=1e-12)
    reduction, cost = out["expected_reduction"].to_series(), out["cost"].to_series()
    assert reduction["like-the-plan"] > 10 * reduction["small-supervised"] > 0
    assert cost["like-the-plan"] > 1e21 > cost["small-supervised"]
    assert out["selected"].to_series().to_dict() == {"small-supervised": True, "like-the-plan": False}
    teacher = ("teacher_size", 2e9, 1e22, "teacher-pretraining-inference")  # log N_T* of that plan, draw by draw
    np.testing.assert_array_equal(target_quantities(post, teacher).isel(quantity=0),
                                  np.log(post.allocate(*teacher[1:])["teacher_params"].squeeze().values))
    crossover = post.suggest_runs(candidates, ("crossover", 1e9, "teacher-inference"), budget=1e30)
    assert crossover["selected"].values.all() and np.all(crossover["expected_reduction"].values >= 0)
    with pytest.raises(ValueError, match="target must be a table of points"):
        post.suggest_runs(candidates, ("isoflop", 1e9), budget=1e21)
    with pytest.raises(ValueError, match="budget must be a finite number of FLOPs > 0"):
        post.suggest_runs(candidates, target, budget=0)


TARGET = pd.DataFrame({"kind": "supervised", "N": [1e10, 3e10], "D": [2e11, 6e11]})


def test_a_verdict_target_ranks_runs_as_the_reweighted_draws_do(joint_posterior):
    # ("wins", N_S, C, scenario) is 1 in the draws where distillation wins and 0 where it loses: its mean is
    # prob_distillation_wins and its variance p (1 - p). At a 1e9 student and 1e22 FLOPs this posterior is unsure
    # (p between 0.2 and 0.8); the linear update's ranking of 24 candidates agrees with the model's own expectation
    # (the draws reweighted by each candidate's simulated outcomes), of which it is a lower bound.
    post = joint_posterior
    question = ("wins", 1e9, 1e22, "teacher-inference")
    p = float(post.prob_distillation_wins(1e9, 1e22).squeeze())
    outcome = target_quantities(post, question)
    assert outcome.dims == ("chain", "draw", "quantity") and set(np.unique(outcome.values)) == {0.0, 1.0}
    assert float(outcome.mean()) == pytest.approx(p, abs=1e-12) and 0.2 < p < 0.8
    rng = np.random.default_rng(0)
    n = 24
    kind = np.where(np.arange(n) < n // 2, "supervised", "distilled")
    N = np.exp(rng.uniform(np.log(5e7), np.log(5e9), n))
    candidates = pd.DataFrame({"run": [f"c{i}" for i in range(n)], "kind": kind, "N": N,
                               "D": N * np.exp(rng.uniform(np.log(5), np.log(300), n)),
                               "teacher_loss": np.where(kind == "distilled", rng.uniform(1.9, 2.8, n), np.nan)})
    out = post.suggest_runs(candidates, question, budget=1.0, cost=np.ones(n))
    assert out.attrs["target_mean"] == pytest.approx(p, abs=1e-12)
    assert out.attrs["target_variance"] == pytest.approx(p * (1 - p), rel=1e-9)
    linear = out["expected_reduction"].sel(candidate=candidates["run"].values).values
    g, f = (draws.stack(sample=("chain", "draw")).transpose("sample", ...).values
            for draws in (outcome, predicted_log_loss(post, load_candidates(candidates), as_run=True)))
    scales = noise_scales(post, kind)
    reweighted = np.array([reweighted_reduction(g, f[:, [c]], scales[:, [c]], post.nu, np.random.default_rng(1))
                           for c in range(n)])
    assert spearmanr(linear, reweighted).statistic >= 0.85, (linear, reweighted)
    assert np.all(linear >= 0) and linear.max() < reweighted.max() < p * (1 - p)
    assert out["candidate"].values[0] == candidates["run"].values[np.argmax(linear)]


def _noisy(N, D, rng, prefix, law_error=None):
    """Runs of the paper's law with 0.5% noise and, where ``law_error`` maps a size to an offset, that offset."""
    offsets = np.array([law_error[n] for n in N]) if law_error else 0.0
    loss = bd.supervised_loss(N, D, PAPER) * np.exp(rng.normal(0.0, 0.005, N.size) + offsets)
    return pd.DataFrame({"run": [f"{prefix}{i}" for i in range(N.size)], "kind": "supervised", "N": N, "D": D,
                         "loss": loss})


def _fit(runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bd.inference.FitWarning)  # short chains
        return bd.fit(runs, chains=2, draws=300, warmup=300, seed=0)


def _target_variance(post):
    return float(np.log(post.predict(TARGET["N"], TARGET["D"])).var(("chain", "draw")).mean())


@pytest.mark.parametrize("seed", [0, 1])
def test_the_expected_reduction_ranks_candidates_as_refits_do(seed):
    # Small runs (3e7-3e8) and a target 30-100x larger: refit with each candidate's simulated outcome. The ranking
    # by expected reduction matches the refits', and the top candidate shrinks the target's variance more than the
    # median candidate of the same cost (all are given one cost, so the score is the reduction). The truth has a 1%
    # law error per size, as the model assumes: without one, every run at a new size would shrink the fitted law
    # error, a cut the model rightly expects nothing of (the posterior mean of law_error^2 is a martingale).
    rng = np.random.default_rng(seed)
    N = np.repeat(np.geomspace(3e7, 3e8, 4), 3)
    cN = np.array([5e7, 2e8, 1e9, 3e9, 3e9])
    sizes = np.unique(np.append(N, cN))
    law_error = dict(zip(sizes, np.random.default_rng(100 + seed).normal(0.0, 0.01, sizes.size), strict=True))
    runs = _noisy(N, N * np.tile([10.0, 40.0, 160.0], 4), rng, "r", law_error)
    post = _fit(runs)
    candidates = _noisy(cN, cN * np.array([20.0, 20.0, 20.0, 20.0, 5.0]), rng, "c", law_error)
    out = post.suggest_runs(candidates.drop(columns="loss"), TARGET, budget=1.0, cost=np.ones(5))
    before = _target_variance(post)
    realised = [before - _target_variance(_fit(pd.concat([runs, candidates.iloc[[i]]]))) for i in range(5)]
    expected = out["expected_reduction"].sel(candidate=candidates["run"].values).values
    assert spearmanr(expected, realised).statistic >= 0.7, (expected, realised)
    top = int(np.argmax(expected))
    assert realised[top] > np.median(realised), (expected, realised)
    assert out["selected"].values.sum() == 1 and out["candidate"].values[0] == candidates["run"].values[top]
    assert out.attrs["target_variance"] == pytest.approx(before, rel=1e-9)
    assert out.attrs["batch_reduction"] == pytest.approx(float(out["expected_reduction"][0]), rel=1e-12)
    assert 0 < out.attrs["batch_reduction_reweighted"] < before
    assert expected_cut(out) == pytest.approx(out.attrs["batch_reduction_reweighted"] / before, rel=1e-9)
    assert expected_cut(out, reweighted=False) == pytest.approx(out.attrs["batch_reduction"] / before, rel=1e-9)
    assert out.attrs["batch_cost"] == 1.0


def test_reweighting_the_draws_gives_the_exact_reduction_where_the_linear_update_is_exact():
    # f ~ N(0, 1), g = f + N(0, 0.5^2), an outcome f + N(0, 0.5^2): jointly Gaussian, so the expected reduction of
    # Var g (1.25) is Cov(g, f)^2 / (Var f + 0.25) = 0.8 exactly.
    rng = np.random.default_rng(0)
    f = rng.normal(size=(8000, 1))
    g = f + 0.5 * rng.normal(size=(8000, 1))
    reduction = reweighted_reduction(g, f, np.full_like(f, 0.5), 1e9, np.random.default_rng(1), outcomes=512)
    assert reduction == pytest.approx(0.8, abs=0.04)


def test_reweighting_the_draws_sees_what_the_linear_update_cannot():
    # g = f^2 with f ~ N(0, 1) is uncorrelated with f, so the linear update expects an outcome of f to tell nothing
    # of g; measured to 0.1 it tells nearly all (Var g = 2, and Var(g | outcome) is about (2 f 0.1)^2, 0.04).
    f = np.random.default_rng(0).normal(size=(8000, 1))
    g = f ** 2
    linear = Ensemble.of(g, f, np.array([0.01])).reductions()[0]
    reweighted = reweighted_reduction(g, f, np.full_like(f, 0.1), 1e9, np.random.default_rng(1))
    assert linear < 0.05 * np.var(g) and reweighted > 0.9 * np.var(g)


def test_one_dear_run_worth_more_than_the_cheap_ones_is_picked():
    # Candidate 0 sees the target's direction (worth about 1) at cost 10; candidates 1-3 see a direction of little
    # weight (worth about 0.01 each) at cost 0.05. Per FLOP the cheap ones rank first and, with a budget of 10, leave
    # too little for the dear one; the batch worth more is the dear one alone.
    rng = np.random.default_rng(2)
    theta = rng.standard_normal((4000, 4))
    target = theta @ np.array([[1.0], [0.1], [0.1], [0.1]])
    ensemble = Ensemble.of(target, theta, np.full(4, 0.01))
    cost = np.array([10.0, 0.05, 0.05, 0.05])
    first = ensemble.reductions() / cost
    assert first[1:].min() > first[0]  # per FLOP the cheap ones rank first
    assert greedy_batch(ensemble, cost, budget=10.0).selected.tolist() == [True, False, False, False]
    # With room for all four the dear one and the cheap ones go together, as per FLOP has them.
    assert greedy_batch(Ensemble.of(target, theta, np.full(4, 0.01)), cost, budget=10.2).selected.tolist() == [True] * 4


def test_a_batch_between_per_flop_and_per_run_is_found():
    # Independent candidates (each sees its own coordinate), so their reductions add: worth 10 at cost 10, 7.5 and
    # 7.5 at cost 5 each, 1 at cost 0.5; budget 10. Per FLOP takes the cheap one, then one of the middle two
    # (8.5); per run the dear one (10); per sqrt(FLOP) both middle ones (15), the best batch.
    worth, cost = np.array([10.0, 7.5, 7.5, 1.0]), np.array([10.0, 5.0, 5.0, 0.5])
    ensemble = Ensemble(np.sqrt(2 * worth)[None, :], np.eye(4), np.ones(4))  # reduction: Cov^2 / (Var + noise)
    np.testing.assert_allclose(ensemble.reductions(), worth)
    per_flop_or_run = greedy_batch(ensemble, cost, budget=10.0, cost_powers=(1.0, 0.0))
    assert per_flop_or_run.selected.tolist() == [True, False, False, False]
    assert greedy_batch(ensemble, cost, budget=10.0).selected.tolist() == [False, True, True, False]


def test_suggest_command_prints_and_writes_the_batch(joint_posterior, tmp_path, capsys):
    # The command line gives the batch Python gives, prints it with what it is expected to do, and writes the
    # ranking best first; too small a budget selects nothing and says why; a bad table exits 2 naming the column.
    from bayes_distill.cli import main

    posterior = joint_posterior.save(tmp_path / "post.nc")
    candidates = pd.DataFrame({"run": ["sup-small", "sup-large", "dist-known", "dist-new"],
                               "kind": ["supervised", "supervised", "distilled", "distilled"],
                               "N": [1e8, 2e9, 5e8, 5e8], "D": [2e9, 4e10, 1e10, 1e10],
                               "teacher_loss": [np.nan, np.nan, 2.4, np.nan], "teacher_N": [np.nan, np.nan, 3e9, 3e9],
                               "teacher_D": [np.nan, np.nan, np.nan, 6e10]})
    candidates.to_csv(tmp_path / "candidates.csv", index=False)
    target = ("allocation", 2e9, 1e22, "teacher-inference")
    expected = joint_posterior.suggest_runs(candidates, target, budget=1e21)
    argv = ["suggest", str(posterior), "--candidates", str(tmp_path / "candidates.csv"), "--target",
            "allocation:2e9:1e22", "--budget", "1e21", "--out", str(tmp_path / "ranking.csv")]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    ranking = pd.read_csv(tmp_path / "ranking.csv")
    assert ranking["run"].tolist() == expected["candidate"].values.tolist()
    assert ranking["selected"].tolist() == expected["selected"].values.tolist()
    assert np.all(np.diff(ranking["score"]) <= 0)
    assert ranking.set_index("run").loc["dist-new", ["teacher_N", "teacher_D"]].tolist() == [3e9, 6e10]
    chosen = expected["candidate"].values[expected["selected"].values]
    assert 0 < chosen.size < 4
    assert f"selected {chosen.size} of 4 candidates" in printed and "expected to shrink" in printed
    assert all(run in printed for run in chosen)
    # What each pick adds given those before it sums to the batch's reduction; the runs left out add nothing.
    added = expected["reduction_in_batch"].values
    assert added.sum() == pytest.approx(expected.attrs["batch_reduction"], rel=1e-12)
    assert np.all(added[expected["selected"].values] > 0) and np.all(added[~expected["selected"].values] == 0)
    assert np.allclose(ranking["reduction_in_batch"], added, rtol=1e-12, atol=0)
    # The order of the picks: 0 to k - 1 over the batch, -1 outside it; the first pick adds what it would alone.
    order = expected["pick_order"].values
    assert sorted(order[expected["selected"].values]) == list(range(chosen.size))
    assert np.all(order[~expected["selected"].values] == -1) and ranking["pick_order"].tolist() == order.tolist()
    first = expected.isel(candidate=int(np.argmax(order == 0)))
    assert float(first["reduction_in_batch"]) == pytest.approx(float(first["expected_reduction"]), rel=1e-12)
    assert "cut in the batch" in printed
    assert main([*argv[:-3], "1e10", "--out", str(tmp_path / "none.csv")]) == 0
    assert "no candidate fits the budget of 1e+10 FLOPs" in capsys.readouterr().out
    assert not pd.read_csv(tmp_path / "none.csv")["selected"].any()
    assert main([*argv[:5], "wins:1e9:1e22", "--budget", "1e21"]) == 0  # the verdict, with its probability now
    now = float(joint_posterior.prob_distillation_wins(1e9, 1e22).squeeze())
    assert 0.2 < now < 0.8
    assert f"target: P(distillation wins), N_S = 1e+09, C = 1e+22 FLOPs, teacher-inference; now {now:.0%}" in (
        capsys.readouterr().out)
    candidates.drop(columns="D").to_csv(tmp_path / "bad.csv", index=False)
    assert main(["suggest", str(posterior), "--candidates", str(tmp_path / "bad.csv"), "--target", "crossover:1e9",
                 "--budget", "1e21"]) == 2
    assert "missing ['D']" in capsys.readouterr().err
    assert main(["suggest", str(posterior), "--candidates", str(tmp_path / "absent.csv"), "--target", "crossover:1e9",
                 "--budget", "1e21"]) == 2
    assert "--candidates" in capsys.readouterr().err



def test_a_candidate_the_posterior_was_fitted_on_is_refused_or_skipped_with_a_word(joint_posterior, tmp_path,
                                                                                     capsys):
    # A table of every run one could have trained, passed whole, holds the runs already fitted: scored as new, the
    # cheapest of them led the batch. Python refuses them, naming them; the command line leaves them out when asked
    # and says how many; a table of nothing else is an error either way.
    from bayes_distill.cli import main

    fitted = joint_posterior.runs.isel(run=[0, 1]).to_dataframe().reset_index()[["run", "kind", "N", "D",
                                                                                  "teacher_loss"]]
    new = pd.DataFrame({"run": ["new-supervised"], "kind": ["supervised"], "N": [2e9], "D": [4e10]})
    candidates = pd.concat([fitted, new], ignore_index=True)
    with pytest.raises(ValueError, match=rf"column 'run': 2 candidate\(s\) are runs the posterior was fitted on "
                                         rf"\({fitted['run'][0]}, {fitted['run'][1]}\)"):
        joint_posterior.suggest_runs(candidates, TARGET, budget=1e22)
    unnamed = candidates.drop(columns="run")  # row positions are no run ids: nothing to match
    assert joint_posterior.suggest_runs(unnamed, TARGET, budget=1e22).sizes["candidate"] == 3
    posterior = joint_posterior.save(tmp_path / "post.nc")
    candidates.to_csv(tmp_path / "candidates.csv", index=False)
    argv = ["suggest", str(posterior), "--candidates", str(tmp_path / "candidates.csv"), "--target",
            "crossover:1e9", "--budget", "1e22", "--out", str(tmp_path / "ranking.csv")]
    assert main(argv) == 2 and "--skip-fitted" in capsys.readouterr().err
    assert main([*argv, "--skip-fitted", "--plot", str(tmp_path / "worth.png")]) == 0
    assert "left out 2 of 3 candidates: the posterior was fitted on them" in capsys.readouterr().err
    assert pd.read_csv(tmp_path / "ranking.csv")["run"].tolist() == ["new-supervised"]
    assert (tmp_path / "worth.png").stat().st_size > 10_000  # --plot: the candidates' worth against their cost
    fitted.to_csv(tmp_path / "fitted.csv", index=False)
    assert main([*argv[:3], str(tmp_path / "fitted.csv"), *argv[4:], "--skip-fitted"]) == 2
    assert "column 'run': all 2 candidates are runs the posterior was fitted on" in capsys.readouterr().err

def test_picks_condition_the_covariance_as_the_dense_kalman_update_does():
    # The factored update (Cov(f, f) before any pick less one rank-one factor per pick) against the textbook one,
    # which conditions the whole matrix at each pick.
    rng = np.random.default_rng(3)
    theta = rng.standard_normal((500, 4))
    f = theta @ rng.standard_normal((4, 6)) + 0.1 * rng.standard_normal((500, 6))
    g = theta @ rng.standard_normal((4, 2))
    noise = np.full(6, 0.05)
    ensemble = Ensemble.of(g, f, noise)
    target, candidate = ensemble.target_covariance, ensemble.candidate_covariance
    for c in (4, 1, 4):  # a candidate picked twice: a second run of it
        gain = candidate[c] / (candidate[c, c] + noise[c])
        target, candidate = target - np.outer(target[:, c], gain), candidate - np.outer(candidate[:, c], gain)
        ensemble.observe(c)
    np.testing.assert_allclose(ensemble.target_covariance, target, atol=1e-12)
    np.testing.assert_allclose(ensemble.variance, np.diag(candidate), atol=1e-12)
    np.testing.assert_allclose(ensemble.reductions(), np.mean(target ** 2, 0) / (np.diag(candidate) + noise))


def test_a_plan_of_ones_own_is_counted_as_the_suggested_batch_is(joint_posterior):
    # assess_batch counts a plan as suggest_runs counts its batch: the suggested batch, assessed as a plan, gets the
    # same reduction and cost; the total does not depend on the plan's order, each run's share does; a run twice
    # (another seed) adds less the second time than alone; a new teacher is paid once; fitted runs are refused.
    post = joint_posterior
    candidates = pd.DataFrame({"run": ["s1", "s2", "s3", "d-known", "d-new-1", "d-new-2"],
                               "kind": ["supervised"] * 3 + ["distilled"] * 3,
                               "N": [1e8, 5e8, 2e9, 5e8, 5e8, 1e9], "D": [2e9, 1e10, 4e10, 1e10, 1e10, 2e10],
                               "teacher_loss": [np.nan] * 3 + [2.4, np.nan, np.nan],
                               "teacher_N": [np.nan] * 3 + [3e9, 3e9, 3e9], "teacher_D": [np.nan] * 4 + [6e10, 6e10]})
    ranked = post.suggest_runs(candidates, TARGET, budget=3e21)
    chosen = ranked["candidate"].values[ranked["selected"].values]
    assert chosen.size >= 2
    plan = candidates.set_index("run").loc[list(chosen)].reset_index()
    assessed = post.assess_batch(plan, TARGET)
    assert assessed.attrs["batch_reduction"] == pytest.approx(ranked.attrs["batch_reduction"], rel=1e-9)
    assert assessed.attrs["batch_cost"] == pytest.approx(ranked.attrs["batch_cost"], rel=1e-12)
    assert assessed["selected"].values.all() and assessed["candidate"].values.tolist() == list(chosen)
    backwards = post.assess_batch(plan.iloc[::-1], TARGET)
    assert backwards.attrs["batch_reduction"] == pytest.approx(assessed.attrs["batch_reduction"], rel=1e-9)
    for plan_in_some_order in (assessed, backwards):  # one set of runs, one reweighted estimate
        assert plan_in_some_order.attrs["batch_reduction_reweighted"] == ranked.attrs["batch_reduction_reweighted"]
    last = chosen[-1]
    assert float(backwards["reduction_in_batch"].sel(candidate=last)) == pytest.approx(
        float(assessed["expected_reduction"].sel(candidate=last)), rel=1e-9)  # first in its order: as alone
    best = plan.iloc[[int(np.argmax(assessed["expected_reduction"].values))]]
    twice = post.assess_batch(pd.concat([best, best.assign(run="again")]), TARGET)
    alone, second = twice["expected_reduction"].values[1], twice["reduction_in_batch"].values[1]
    assert 0 < second < 0.9 * alone
    students = post.assess_batch(candidates[candidates["run"].str.startswith("d-new")], TARGET)
    one_teacher = float(students["cost"].sum()) - students.attrs["batch_cost"]
    teacher_training = 3 * 2 * 3e9 * 6e10  # roughly 6 N_T D_T: paid by one student, not by both
    assert 0.5 * teacher_training < one_teacher < 2 * teacher_training
    fitted = post.runs.isel(run=[0]).to_dataframe().reset_index()[["run", "kind", "N", "D", "teacher_loss"]]
    with pytest.raises(ValueError, match="column 'run': 1 candidate"):
        post.assess_batch(fitted, TARGET)


def test_suggest_compares_a_plan_with_its_batch(joint_posterior, tmp_path, capsys):
    # --compare prints the plan's cost and cut beside the suggested batch's, at the plan's cost when no budget is
    # given, and what each of the plan's runs adds; a plan that does not exist exits 2 naming the argument.
    from bayes_distill.cli import main

    posterior = joint_posterior.save(tmp_path / "post.nc")
    candidates = pd.DataFrame({"run": ["a", "b", "c", "d"], "kind": "supervised", "N": [1e8, 3e8, 1e9, 2e9],
                               "D": [2e9, 6e9, 2e10, 4e10]})
    candidates.to_csv(tmp_path / "candidates.csv", index=False)
    plan = candidates.iloc[[0, 1]]
    plan.to_csv(tmp_path / "plan.csv", index=False)
    assessed = joint_posterior.assess_batch(plan, TARGET)
    cost = assessed.attrs["batch_cost"]
    ranked = joint_posterior.suggest_runs(candidates, TARGET, budget=cost)
    TARGET.to_csv(tmp_path / "target.csv", index=False)
    argv = ["suggest", str(posterior), "--candidates", str(tmp_path / "candidates.csv"), "--target",
            str(tmp_path / "target.csv"), "--compare", str(tmp_path / "plan.csv")]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert (f"your plan (plan.csv): 2 runs, {cost:.3g} FLOPs, expected to shrink the target's mean posterior "
            f"variance by {100 * expected_cut(assessed):.2g}%") in printed
    assert f"the suggested batch: {int(ranked['selected'].sum())} runs, {ranked.attrs['batch_cost']:.3g} FLOPs" in (
        printed)
    assert sorted(ranked["candidate"].values[ranked["selected"].values]) == ["a", "b"]  # at the plan's cost
    assert "the suggested batch is the plan's runs" in printed
    assert printed.count("cut in the batch") == 1 and "cut in the plan" in printed
    assert main([*argv, "--budget", "1e21"]) == 0  # a larger budget buys other runs, worth less per FLOP here
    printed = capsys.readouterr().out
    larger = joint_posterior.suggest_runs(candidates, TARGET, budget=1e21)
    ratio = (expected_cut(assessed) / cost) / (expected_cut(larger) / larger.attrs["batch_cost"])
    assert ratio > 1 and f"per FLOP the plan is worth {ratio:.2g}x the suggested batch" in printed
    assert main([*argv[:-1], str(tmp_path / "absent.csv")]) == 2
    assert "--compare" in capsys.readouterr().err
    assert main(argv[:-2]) == 2
    assert "--budget is required" in capsys.readouterr().err


def test_a_target_far_beyond_the_fitted_sizes_is_said_to_carry_the_laws_bias(joint_posterior):
    # The expected cut is of the posterior's variance; a target student more than twice the largest fitted size
    # gets a caution naming how far beyond it lies, a target among the fitted sizes none.
    from bayes_distill.report.next_runs import batch_summary

    post = joint_posterior
    largest = float(post.runs["N"].max())
    candidates = pd.DataFrame({"kind": "supervised", "N": [1e8, 3e8], "D": [2e9, 6e9]})
    far = pd.DataFrame({"kind": ["supervised"], "N": [10 * largest], "D": [2e11]})
    near = pd.DataFrame({"kind": ["supervised"], "N": [largest], "D": [2e11]})
    far_ranked, near_ranked = (post.suggest_runs(candidates, t, budget=1e30) for t in (far, near))
    assert far_ranked.attrs["size_beyond_fitted"] == pytest.approx(10.0)
    assert near_ranked.attrs["size_beyond_fitted"] == pytest.approx(1.0)
    assert "caution: the target's largest model is 10x the largest fitted one" in batch_summary(far_ranked, far)
    assert "caution" not in batch_summary(near_ranked, near)
    crossover = ("crossover", 4 * largest, "teacher-inference")
    assert post.suggest_runs(candidates, crossover, budget=1e30).attrs["size_beyond_fitted"] == pytest.approx(4.0)


def test_a_planner_target_of_a_two_stage_fit_is_said_to_leave_out_the_supervised_law(joint_posterior):
    # With the six supervised coefficients held, a planner answer's spread has no supervised part for any run to
    # cut: suggest says so; a table of points, or a joint fit, gets no such line.
    from bayes_distill.laws import SUPERVISED_COEFFICIENTS
    from bayes_distill.posterior import SUPERVISED_LAW_FIXED_CAUTION, Posterior
    from bayes_distill.report.next_runs import batch_summary

    medians = {c: float(joint_posterior.posterior[c].median()) for c in SUPERVISED_COEFFICIENTS}
    two_stage = Posterior(joint_posterior.tree, joint_posterior.runs, medians, joint_posterior.nu)
    candidates = pd.DataFrame({"kind": "distilled", "N": [1e8, 3e8], "D": [2e9, 6e9], "teacher_loss": [2.3, 2.3],
                               "teacher_N": [1e9, 1e9]})
    crossover = ("crossover", 1e9, "teacher-inference")
    said = f"caution: {SUPERVISED_LAW_FIXED_CAUTION}"
    for post, target, says in ((two_stage, crossover, True), (two_stage, TARGET, False),
                               (joint_posterior, crossover, False)):
        ranked = post.suggest_runs(candidates, target, budget=1e30)
        assert ranked.attrs["supervised_law_fixed"] == int(says)
        assert (said in batch_summary(ranked, target)) is says


def test_a_crossover_targets_answer_now_is_the_planners(joint_posterior):
    # suggest_runs reads a crossover's shares beyond the range from its clipped log10 C*; the planner says them with
    # its outcome codes. The two must agree draw for draw, and the quantiles are the crossover table's (FLOPs, +-inf
    # beyond the range).
    from bayes_distill.planner.crossover import OUTCOME_DISTILLATION_THROUGHOUT, OUTCOME_SUPERVISED_THROUGHOUT
    from bayes_distill.posterior.summaries import summarize_crossover

    post = joint_posterior
    candidates = pd.DataFrame({"kind": "distilled", "N": [1e8, 3e8], "D": [2e9, 6e9], "teacher_loss": [2.3, 2.3],
                               "teacher_N": [1e9, 1e9]})
    for N_S, scenario in ((1e8, "teacher-inference"), (1e9, "teacher-pretraining-inference"),
                          (1e10, "teacher-pretraining-inference")):  # most draws above; a split; some below
        ranked = post.suggest_runs(candidates, ("crossover", N_S, scenario), budget=1e30)
        answer = post.crossover(N_S, scenario)
        outcome, attrs = answer["outcome"].values, ranked.attrs
        assert attrs["target_share_above_range"] == pytest.approx(np.mean(outcome == OUTCOME_DISTILLATION_THROUGHOUT))
        assert attrs["target_share_below_range"] == pytest.approx(np.mean(outcome == OUTCOME_SUPERVISED_THROUGHOUT))
        table = summarize_crossover(answer, (0.05, 0.5, 0.95))["compute"].values.ravel()  # the crossover table's
        assert np.allclose(attrs["target_quantiles"], table, rtol=1e-9)  # +-inf beyond the range, equal
    assert "target_share_above_range" not in post.suggest_runs(candidates, TARGET, budget=1e30).attrs


def test_a_crossover_nearly_all_beyond_the_range_is_said_to_be_valued_poorly(joint_posterior):
    # The summary gives the crossover's answer now, ends written as "> upper" and "< lower"; when nearly all draws
    # (90%) lie beyond the range searched it adds a caution, and not otherwise.
    from bayes_distill.report.next_runs import batch_summary

    target = ("crossover", 1e9, "teacher-inference")
    candidates = pd.DataFrame({"kind": "supervised", "N": [1e8, 3e8], "D": [2e9, 6e9]})
    ranked = joint_posterior.suggest_runs(candidates, target, budget=1e30)
    lower, upper = ranked.attrs["compute_range"]
    now = {"target_quantiles": np.array([-np.inf, 1e21, np.inf])}
    beyond = ranked.assign_attrs(now, target_share_above_range=0.85, target_share_below_range=0.07)
    said = batch_summary(beyond, target)
    assert f"now C* 1e+21 [< {lower:.3g}, > {upper:.3g}] FLOPs" in said
    assert "throughout the range searched in 85% of the draws and never in 7%" in said
    assert "caution: 92% of the draws put the crossover beyond the range searched" in said
    assert "a batch for the candidates themselves as the target did better: spread the first spend" in said
    inside = ranked.assign_attrs(now, target_share_above_range=0.8, target_share_below_range=0.05)
    assert "now C*" in batch_summary(inside, target) and "caution" not in batch_summary(inside, target)
    assert "now C*" not in batch_summary(joint_posterior.suggest_runs(candidates, TARGET, budget=1e30), TARGET)


def test_a_batchs_head_is_its_first_picks_that_fit_and_at_least_the_first():
    import xarray as xr

    from bayes_distill.posterior.design import batch_head, picked_in_order

    ranked = xr.Dataset({"pick_order": ("candidate", [1, -1, 0, 2]), "cost": ("candidate", [2.0, 5.0, 3.0, 1.0])},
                        coords={"candidate": ["a", "b", "c", "d"]})
    batch = picked_in_order(ranked)
    assert batch == ["c", "a", "d"]

    def cost(runs):  # noqa: ANN001, ANN202
        return float(ranked["cost"].sel(candidate=runs).sum())

    assert batch_head(batch, cost, 4.0) == ["c"]  # c and a together cost 5
    assert batch_head(batch, cost, 5.0) == ["c", "a"]
    assert batch_head(batch, cost, 1.0) == ["c"]  # the first pick, however dear
    assert batch_head(batch, cost, 1e9) == batch and batch_head([], cost, 1.0) == []
