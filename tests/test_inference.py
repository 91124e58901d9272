"""The data layer, the NumPyro fit and the posterior queries, on small simulated data (fast settings)."""

import os
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import TRUTH, simulated_runs
from hypothesis import given, settings
from hypothesis import strategies as st

import bayes_distill as bd
from bayes_distill.cli import main
from bayes_distill.inference import programs as program_cache
from bayes_distill.inference.optimise import multistart_map
from bayes_distill.inference.sites import latent_prior_draws, latent_shapes, site_values


def test_load_runs_reads_every_format(tmp_path):
    frame = simulated_runs(10)
    frame.to_csv(tmp_path / "runs.csv", index=False)
    frame.to_parquet(tmp_path / "runs.parquet")
    runs = bd.load_runs(tmp_path / "runs.csv")
    assert runs.sizes["run"] == 10 and set(runs.data_vars) >= {"kind", "N", "D", "loss", "teacher_loss", "group"}
    assert list(runs["run"].values) == list(frame["run"])
    np.testing.assert_allclose(runs["loss"], frame["loss"], rtol=1e-15)
    runs.to_netcdf(tmp_path / "runs.nc", engine="h5netcdf")
    for again in (bd.load_runs(tmp_path / "runs.nc"), bd.load_runs(tmp_path / "runs.parquet")):
        assert list(again["run"].values) == list(frame["run"])
        np.testing.assert_array_equal(again["kind"], runs["kind"])
        for name in ("N", "D", "loss"):
            np.testing.assert_allclose(again[name], runs[name], rtol=1e-15)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="loss"), r"missing the columns \['loss'\]"),
        (lambda f: f.assign(N=f.N.where(f.index != 3, -5.0)), r"column 'N' must be finite and > 0; bad values \[-5.0\] "
                                                               r"in rows r3"),
        (lambda f: f.assign(kind=f.kind.where(f.index != 2, "teacher")), r"unknown values \['teacher'\] in rows r2"),
        (lambda f: f.assign(run=["r0"] * len(f)), "duplicate run ids"),
        (lambda f: f.assign(kind="distilled"), "teacher_loss' must be finite and > 0 for distilled runs"),
        # an entry that is no number is named, not read as missing; a supervised run with a teacher is mislabelled
        (lambda f: f.assign(D=f.D.astype(object).where(f.index != 1, "2e9 tokens")),
         r"column 'D' must hold numbers; unreadable entries \['2e9 tokens'\] in rows r1"),
        (lambda f: f.assign(teacher_loss=f.teacher_loss.where(f.index != 4, 2.2)),
         r"column 'teacher_loss' has values \[2.2\] for supervised rows r4 .*is its kind 'distilled'"),
    ],
)
def test_load_runs_names_column_and_rows(change, message):
    with pytest.raises(ValueError, match=message):
        bd.load_runs(change(simulated_runs(6)))


def test_failed_runs_are_counted_not_silently_dropped():
    frame = simulated_runs(6).assign(status=["ok"] * 5 + ["failed"])
    runs = bd.load_runs(frame)
    assert runs.sizes["run"] == 5 and runs.attrs["excluded_failed_runs"] == 1
    assert bd.load_runs(frame, include_failed=True).sizes["run"] == 6


@pytest.fixture(scope="module")
def supervised_posterior():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bd.inference.FitWarning)  # short chains; the answers are what is tested
        return bd.fit(simulated_runs(60), chains=2, draws=400, warmup=400, seed=1, starts=4)


def test_summary_lists_scales_on_their_log(supervised_posterior):
    # A and B are sampled on their logs: the summary shows log_A, whose mean is the draws' mean log A.
    summary = supervised_posterior.summary()
    assert {"log_A", "log_B", "alpha", "E"} <= set(summary.index) and not {"A", "B"} & set(summary.index)
    log_a = supervised_posterior.posterior["log_A"].values
    assert float(summary.loc["log_A", "mean"]) == pytest.approx(float(log_a.mean()), rel=1e-2)


def test_supervised_fit_covers_the_truth_and_predicts(supervised_posterior, tmp_path):
    post = supervised_posterior
    summary = post.summary()
    for name in ("alpha", "beta", "gamma", "E"):
        draws = post.posterior[name].values.ravel()
        # The summary's 90% columns are the draws' 5% and 95% quantiles.
        lo, hi = float(summary.loc[name, "eti90_lb"]), float(summary.loc[name, "eti90_ub"])
        np.testing.assert_allclose([lo, hi], np.quantile(draws, [0.05, 0.95]), rtol=1e-2)
        # The coefficients trade off; a 99% check on each keeps the test honest without flakiness.
        assert np.quantile(draws, 0.005) <= getattr(TRUTH, name) <= np.quantile(draws, 0.995), (name, lo, hi)
    prediction = post.predict([1e9, 1e10], [2e10, 2e11])
    assert prediction.dims == ("chain", "draw", "point")
    truth = bd.supervised_loss(np.array([1e9, 1e10]), np.array([2e10, 2e11]), TRUTH)
    median = prediction.median(("chain", "draw")).values
    np.testing.assert_allclose(median, truth, rtol=0.01)
    noisy = post.predict([1e9], [2e10], noise=True)
    assert float(noisy.std()) > float(post.predict([1e9], [2e10]).std())
    path = post.save(tmp_path / "post.nc")
    again = bd.load_posterior(path)
    xr.testing.assert_identical(again.predict([1e9, 1e10], [2e10, 2e11]), prediction)
    with pytest.raises(ValueError, match="supervised runs only"):
        post.allocate(1e9, 1e22)


def test_fix_and_compare(supervised_posterior):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bd.inference.FitWarning)  # short chains
        chinchilla = bd.fit(simulated_runs(60), fix={"gamma": 1.0}, chains=2, draws=300, warmup=300, seed=2, starts=4)
    assert "gamma" not in chinchilla.free_coefficients
    assert np.all(chinchilla.params()["gamma"] == 1.0)
    table = supervised_posterior.compare(chinchilla, names=("gamma free", "gamma = 1"))
    assert table.index[0] == "gamma free"  # the data were made with gamma = 0.452
    with pytest.raises(ValueError, match="fix has unknown coefficients"):
        bd.fit(simulated_runs(10), fix={"zeta": 1.0})


def test_joint_fit_answers_planner_queries(joint_posterior):
    # Under the truth a 1B student distilled from a free teacher (teacher-inference) at 1e20 FLOPs beats the
    # supervised one by 0.043 nats; one whose teacher must also be trained (teacher-pretraining-inference) at 1e21
    # loses by 0.081. Both plans need 5-45 tokens per parameter, inside the runs' range: the posterior must be sure.
    post = joint_posterior
    assert post.tree.attrs["multistart_starts"] == 64  # the default with distilled runs (STARTS_DISTILLED)
    for scenario, compute, distillation_wins in (("teacher-inference", 1e20, True),
                                                 ("teacher-pretraining-inference", 1e21, False)):
        true_plan = bd.allocate(1e9, compute, scenario, TRUTH)
        assert bool((true_plan["student_loss"] < true_plan["supervised_loss"]).item()) == distillation_wins
        p = post.prob_distillation_wins([1e9], [compute], scenario)
        assert p.dims == ("student_size", "compute") and p.attrs["scenario"] == scenario
        assert p.item() > 0.95 if distillation_wins else p.item() < 0.05, (scenario, p.item())
    plan = post.allocate(1e9, 1e21)
    assert plan.student_loss.dims == ("chain", "draw", "student_size", "compute")
    # Each draw's plan spends the budget: 3 F(N_S) D_S + F(N_T) D_S = C (teacher-inference).
    spent = bd.total_flops(1e9, plan["student_tokens"], plan["teacher_params"], plan["teacher_tokens"],
                           "teacher-inference")
    np.testing.assert_allclose(spent, 1e21, rtol=1e-6)


def test_posterior_crossover_brackets_the_true_crossover(joint_posterior):
    truth = float(bd.crossover(1e9, "teacher-inference", TRUTH)["compute"].squeeze())
    assert 1.5e21 < truth < 2.5e21
    cross = joint_posterior.crossover([1e9], "teacher-inference")
    assert cross["compute"].dims == ("chain", "draw", "student_size")
    assert set(np.unique(cross["outcome"].values)) <= {-1, 0, 1}
    # C* over all draws: inf where distillation wins throughout, the range's lower end where it never does. Past
    # C* supervised training wins by at most 0.009 nats, at thousands of tokens per parameter where no run was
    # trained, so many draws see no crossover; a 98% interval must still hold the truth (as for the coefficients).
    lo, hi = np.quantile(cross["compute"].values, [0.01, 0.99], method="inverted_cdf")
    assert lo < truth < hi, (lo, truth, hi)
    # Below C* the runs show distillation winning: (almost) no draw says it never wins.
    assert np.mean(cross["outcome"].values == -1) < 0.01


def test_cli_fit_then_plan_and_crossover_with_posterior(tmp_path, capsys):
    simulated_runs(40, 60).to_csv(tmp_path / "runs.csv", index=False)
    argv = ["fit", str(tmp_path / "runs.csv"), "--out", str(tmp_path / "p.nc"), "--method", "svi", "--chains", "1",
            "--draws", "200"]
    code = main(argv)
    posterior = bd.load_posterior(tmp_path / "p.nc")
    trusted = posterior.tree.attrs["svi_pareto_k"] <= 0.7  # SVI is judged by its guide's importance weights
    assert code == (0 if trusted else 3)
    assert ("Pareto k of the SVI guide's importance weights" in capsys.readouterr().err) != trusted
    assert main([*argv, "--accept-warnings"]) == 0
    posterior = bd.load_posterior(tmp_path / "p.nc")
    assert posterior.tree.attrs["method"] == "svi"
    capsys.readouterr()
    assert main(["plan", "--posterior", str(tmp_path / "p.nc"), "--student", "1e9", "--compute", "1e21"]) == 0
    out = capsys.readouterr().out
    assert "median [5%, 95%]" in out and "1e+09" in out
    # The printed median student loss is the median over the posterior's draws of Posterior.allocate's.
    expected = float(np.quantile(posterior.allocate(1e9, 1e21)["student_loss"].values, 0.5, method="inverted_cdf"))
    assert f"{expected:.4f} [" in out
    assert main(["crossover", "--posterior", str(tmp_path / "p.nc"), "--student", "1e9"]) == 0
    out = capsys.readouterr().out
    answer = posterior.crossover([1e9])
    median = float(np.quantile(answer["compute"].values, 0.5, method="inverted_cdf"))
    # A draw whose distillation wins throughout the searched range has C* = +inf, printed as "> upper".
    upper = float(answer.attrs["compute_range_upper"])
    assert (f"> {upper:.3g} [" if np.isposinf(median) else f"{median:.3g} [") in out


def test_cli_plan_and_crossover_refuse_a_supervised_only_posterior(supervised_posterior, tmp_path, capsys):
    # The CLI answers through Posterior, so it refuses as the Python API does instead of printing NaN losses or
    # "supervised wins throughout".
    path = supervised_posterior.save(tmp_path / "supervised.nc")
    for verb, extra in (("plan", ["--compute", "1e22"]), ("crossover", [])):
        code = main([verb, "--posterior", str(path), "--student", "1e9", *extra])
        captured = capsys.readouterr()
        assert code == 2, verb
        assert f"bayes-distill {verb}: error: this posterior was fitted on supervised runs only" in captured.err
        assert "nan" not in captured.out and "wins throughout" not in captured.out
    with pytest.raises(ValueError, match="fitted on supervised runs only"):
        supervised_posterior.predict(N_S=1e9, D_S=2e10, L_T=2.1)


def test_cli_fit_exits_3_when_the_diagnostics_fail_and_keeps_the_posterior(tmp_path, capsys):
    simulated_runs(20, seed=6).to_csv(tmp_path / "runs.csv", index=False)
    argv = ["fit", str(tmp_path / "runs.csv"), "--out", str(tmp_path / "p.nc"), "--chains", "2", "--draws", "30",
            "--warmup", "30", "--target-accept", "0.9"]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert "warning: bulk/tail ESS below 400" in err and "--accept-warnings" in err
    assert bd.load_posterior(tmp_path / "p.nc").posterior.sizes["draw"] == 30  # written before exiting
    assert main([*argv, "--accept-warnings"]) == 0


def test_levenberg_marquardt_reaches_the_rosenbrock_minimum():
    import jax.numpy as jnp

    from bayes_distill.inference.optimise import NEWTON_STEPS, levenberg_marquardt

    def rosenbrock(x):
        return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2

    x, value = levenberg_marquardt(rosenbrock, jnp.array([-1.5, 2.0]), NEWTON_STEPS)
    np.testing.assert_allclose(np.asarray(x), [1.0, 1.0], atol=1e-6)
    assert float(value) < 1e-12


def test_reparameterised_sites_are_the_size_term_and_its_slope_at_the_central_size(supervised_posterior):
    # What the sites mean, through the law itself: with the token term gone (D -> inf), log(L - E) at the runs'
    # central size N_ref (their geometric mean) is log_A_term, and its slope in log N is -alpha_gamma.
    post = supervised_posterior.posterior
    N_ref = np.exp(np.mean(np.log(supervised_posterior.runs["N"].values)))
    draws = bd.LawParams.from_mapping({k: post[k].values.ravel() for k in ("E", "A", "B", "alpha", "beta", "gamma")})
    E = draws.E

    def log_size_term(N):
        return np.log(bd.supervised_loss(N, 1e300, draws) - E)

    np.testing.assert_allclose(log_size_term(N_ref), post["log_A_term"].values.ravel(), rtol=1e-9, atol=1e-9)
    slope = (log_size_term(N_ref * np.e**0.5) - log_size_term(N_ref / np.e**0.5)) / 1.0
    np.testing.assert_allclose(-slope, post["alpha_gamma"].values.ravel(), rtol=1e-7)


def test_demo_trains_fits_answers_from_its_posterior_and_reports(smoke_runs, tmp_path, capsys):
    import shutil
    from pathlib import Path

    smoke = Path(__file__).resolve().parents[1] / "experiments" / "smoke.toml"
    out = tmp_path / "demo"
    shutil.copytree(smoke_runs, out)  # the session's finished runs are kept, as a rerun of the demo keeps its own
    args = ["--spec", str(smoke), "--out", str(out), "--chains", "2", "--draws", "100", "--warmup", "100"]
    code = main(["demo", *args])
    captured = capsys.readouterr()
    printed = captured.out
    assert "L_S distilled" in printed and "eti90_lb" in printed
    # 2 x 100 draws cannot reach ESS 400: the demo prints the diagnostics' verdict and exits 3, having written all.
    posterior = bd.load_posterior(out / "posterior.nc")
    problems = bd.inference.diagnose(posterior.tree)
    assert any("ESS below 400" in p for p in problems)
    assert code == 3 and "the fit's diagnostics failed" in captured.err
    for message in problems:
        assert f"diagnostics: {message}" in printed
    assert "diagnostics: R-hat <= 1.01" not in printed
    with xr.open_dataset(out / "runs.nc") as table:
        floor = float(table["loss_floor"][0])
    assert f"E held at the loss floor {floor:.4f}" in printed and f"its loss floor is {floor:.4f}" in printed
    # The posterior's own answers at the grid's scale, in the four scenarios, before the paper's, labelled.
    ours, paper = printed.split("the paper's own fit")
    assert "At the runs' scale (the runs' recorded architecture" in ours
    for scenario in ("best-case", "teacher-inference", "teacher-pretraining", "teacher-pretraining-inference"):
        assert f"scenario: {scenario}\n" in ours
    student = f"{posterior.scale.student_sizes[0]:.3g}"
    assert "Crossover (teacher-inference), searched over" in ours and "never wins" in ours and student in ours
    assert "P(distillation wins), teacher-inference" in ours
    assert "Crossover (teacher-inference)" in paper and "3e+08" in paper
    for written in ("report/report.html", "report/report.md"):
        assert (out / written).is_file() and str(out / written) in printed
    assert posterior.runs.sizes["run"] == bd.load_runs(out / "runs.nc").sizes["run"]


def test_half_bounded_truncated_normal_prior_maps_to_finite_values():
    # An infinite bound used to reach NumPyro as an interval (0, inf): the sampler's transform then gave NaN.
    from numpyro.distributions.transforms import biject_to

    from bayes_distill.inference.priors import Prior, paper_prior

    for prior in (Prior("truncnormal", 1.0, 0.5, low=0.0), *paper_prior().values()):
        d = prior.numpyro()
        values = biject_to(d.support)(np.array([-3.0, 0.0, 3.0]))
        assert np.all(np.isfinite(values)) and np.all(np.isfinite(d.log_prob(values))), prior


def test_term_coordinates_keep_the_exponent_priors_bounds():
    # alpha_gamma = alpha * gamma once had an unbounded support: the sampler left alpha's prior bounds, where
    # the uniform density stayed flat, and weak-data fits ran to alpha < low (SBC set 25: every draw diverged).
    import jax
    from numpyro.infer.util import constrain_fn

    from bayes_distill.inference.model import RunArrays, law_model
    from bayes_distill.inference.priors import Prior, resolve_prior

    runs = bd.load_runs(simulated_runs(n_supervised=12))
    prior = resolve_prior({"alpha": Prior("uniform", 0.25, 0.6)}, float(runs["loss"].min()))
    kwargs = {"runs": RunArrays.from_runs(runs), "prior": prior, "fix": {}, "nu": 4.0}
    for z in (-40.0, -3.0, 0.0, 3.0, 40.0):  # any point of the sampler's space
        latent = {"E": 0.0, "gamma": 0.0, "alpha_gamma": z, "log_A_term": 0.0, "beta_gamma": z,
                  "log_B_term": 0.0, "sigma_supervised": 0.0}
        sites = constrain_fn(law_model, (), kwargs, jax.tree.map(np.asarray, latent), return_deterministic=True)
        assert 0.25 <= float(sites["alpha"]) <= 0.6, (z, float(sites["alpha"]))
        assert 0.0 <= float(sites["beta"]) <= 2.0, (z, float(sites["beta"]))


def test_coefficient_coordinates_sample_the_same_posterior(monkeypatch):
    # The fallback for a funnel in power-law term coordinates (more than 1% of draws diverge in half the chains)
    # samples the same posterior in the coefficients' own coordinates; forced here, both must agree within Monte
    # Carlo error.
    from bayes_distill.inference import fit as fit_module

    frame = simulated_runs(n_supervised=150, noise=0.005, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short chains may warn on ESS; agreement is what is tested
        terms = bd.fit(frame, chains=2, draws=500, warmup=500, seed=0)
        monkeypatch.setattr(fit_module, "FUNNEL_DIVERGENCES", -1.0)
        plain = bd.fit(frame, chains=2, draws=500, warmup=500, seed=0)
    assert terms.tree.attrs["coordinates"] == "power-law terms"
    assert plain.tree.attrs["coordinates"].startswith("coefficients")
    assert "alpha_gamma" not in plain.posterior.data_vars and "alpha" in plain.posterior.data_vars
    for name in ("E", "alpha", "beta", "gamma"):
        a, b = terms.posterior[name].values.ravel(), plain.posterior[name].values.ravel()
        assert abs(a.mean() - b.mean()) < 0.3 * a.std(), (name, a.mean(), b.mean(), a.std())
        assert 0.7 < b.std() / a.std() < 1.4, (name, a.std(), b.std())


def test_supervised_twin_is_the_student_stream_run_of_equal_size_and_tokens():
    table = xr.Dataset(
        {"kind": ("run", ["supervised", "supervised", "supervised", "distilled", "distilled"]),
         "role": ("run", ["teacher", "supervised", "supervised", "student", "student"]),
         "status": ("run", ["ok", "ok", "ok", "ok", "ok"]),
         "N": ("run", [1e5, 1e5, 1e5, 1e5, 1e5]), "D": ("run", [1e6, 1.01e6, 4e6, 1e6, 2e6]),
         "loss": ("run", [2.9, 3.1, 2.7, 2.5, 2.4])},
        coords={"run": ["t", "s1", "s4", "d1", "d2"]})
    twins = bd.data.supervised_twin_loss(table)
    assert list(twins["run"].values) == ["d1", "d2"]
    assert float(twins.sel(run="d1")) == 3.1  # the student-stream run within 2% of D, not the teacher's 2.9
    assert np.isnan(float(twins.sel(run="d2")))  # no supervised run at 2e6 tokens


def test_a_funnel_diverges_in_half_the_chains_not_in_one():
    from bayes_distill.inference.fit import _is_funnel

    diverging = np.zeros((4, 1000), dtype=bool)
    assert not _is_funnel(diverging)
    diverging[1, :46] = True  # one chain's step size (the paper-design joint fit, seed 0): reported, no fallback
    assert not _is_funnel(diverging)
    diverging[3, :11] = True  # a second chain past 1%: half the chains meet it
    assert _is_funnel(diverging)
    diverging[3, :11] = False
    diverging[3, :10] = True  # exactly 1% is not more than 1%
    assert not _is_funnel(diverging)


def test_a_compiled_fit_serves_new_data_and_priors_of_the_same_design(monkeypatch):
    # The runs' values and the prior's numbers are the compiled programs' arguments, not constants: a second table
    # of the same design (and another prior of the same form) reuses the programs and gets exactly the posterior
    # that programs compiled for it afresh give; a stale constant would return the first table's posterior.
    from bayes_distill.inference import fit as fit_module
    from bayes_distill.inference.priors import Prior

    monkeypatch.setattr(fit_module, "READAPT", False)  # these short chains fail; a readapting pass is one more program

    first, second = simulated_runs(n_supervised=40, seed=1), simulated_runs(n_supervised=40, seed=2)
    kw = {"chains": 2, "draws": 150, "warmup": 150, "seed": 0}
    prior = {"alpha": Prior("uniform", 0.1, 0.9), "E": Prior("uniform", 0.5, 1.8)}  # the default's form
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short chains; equality is what is tested
        bd.fit(first, **kw)
        programs = dict(program_cache._PROGRAMS)
        reused = bd.fit(second, **kw)
        assert programs == program_cache._PROGRAMS  # no new program for the second table
        reused_prior = bd.fit(second, prior=prior, **kw)
        assert programs == program_cache._PROGRAMS
        program_cache._PROGRAMS.clear()
        fresh = bd.fit(second, **kw)
        fresh_prior = bd.fit(second, prior=prior, **kw)
    for a, b in ((reused, fresh), (reused_prior, fresh_prior)):
        for name in ("E", "A", "alpha", "gamma", "sigma_supervised"):
            np.testing.assert_array_equal(a.posterior[name].values, b.posterior[name].values)
        np.testing.assert_array_equal(a.tree["log_likelihood"]["log_loss"].values,
                                      b.tree["log_likelihood"]["log_loss"].values)
    assert not np.allclose(reused.posterior["E"].values, reused_prior.posterior["E"].values)
    assert len(program_cache._PROGRAMS) == 3  # optimiser, sampler, per-draw quantities: shared by both priors


def test_priors_and_run_tables_are_pytrees_of_their_numbers():
    import jax

    from bayes_distill.inference.model import RunArrays
    from bayes_distill.inference.priors import Prior

    prior = Prior("truncnormal", 1.0, 0.5, low=0.0, high=np.inf)
    assert prior.high is None  # an infinite bound is no bound
    leaves, structure = jax.tree.flatten(prior)
    assert leaves == [1.0, 0.5, 0.0]
    assert jax.tree.unflatten(structure, [2.0, 0.1, -1.0]) == Prior("truncnormal", 2.0, 0.1, low=-1.0)
    arrays = RunArrays.from_runs(bd.load_runs(simulated_runs(n_supervised=5, n_distilled=3)))
    leaves, structure = jax.tree.flatten(arrays)
    assert len(leaves) == 7  # N, D, log loss, teacher loss, the two reference sizes, the law error's directions
    again = jax.tree.unflatten(structure, leaves)
    np.testing.assert_array_equal(again.distilled, [5, 6, 7])  # the design travels in the structure
    assert jax.tree.structure(RunArrays.from_runs(bd.load_runs(simulated_runs(n_supervised=8)))) != structure


def test_divergences_at_the_default_target_make_the_fit_sample_again_more_carefully(monkeypatch):
    # With target_accept=None a fit whose transitions diverge samples again towards 0.99 (one more sampler
    # compiled); a target given explicitly is kept. An acceptance target of 0.3 makes
    # steps long enough to diverge on these runs.
    from bayes_distill.inference import fit as fit_module

    monkeypatch.setattr(fit_module, "TARGET_ACCEPT", 0.3)
    monkeypatch.setattr(fit_module, "READAPT", False)  # these short chains fail; a readapting pass is one more program
    frame = simulated_runs(n_supervised=40, seed=4)
    kw = {"chains": 2, "draws": 200, "warmup": 200, "seed": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        given = bd.fit(frame, target_accept=0.3, **kw)
        programs = len(program_cache._PROGRAMS)
        auto = bd.fit(frame, **kw)
    diverged = int(given.tree["sample_stats"]["diverging"].sum())
    assert diverged > 0 and given.tree.attrs["target_accept"] == 0.3 and "target_accept_raised" not in given.tree.attrs
    assert auto.tree.attrs["target_accept"] == 0.99
    assert auto.tree.attrs["target_accept_raised"] == f"from 0.3 after {diverged} divergent transitions"
    assert int(auto.tree["sample_stats"]["diverging"].sum()) < diverged
    assert len(program_cache._PROGRAMS) == programs + 1  # the sampler for 0.99


def test_the_careful_pass_goes_on_from_the_first():
    # The rerun at 0.99 starts at each chain's last draw, with each chain's step size as the first guess and one
    # mass matrix from the first pass's draws (their covariance where the chains agree), and warms up a quarter as
    # long (only its step size adapts).
    from bayes_distill.inference import fit as fit_module

    rng = np.random.default_rng(0)
    scale = np.array([[2.0, 0.0], [1.5, 0.5]])
    unconstrained = {"a": rng.standard_normal((4, 3000)) * 0.1, "b": rng.standard_normal((4, 3000, 2)) @ scale.T}
    kernel = fit_module._Kernel(np.array([0.1, 0.2, 0.3, 0.4]), np.zeros((4, 3, 3)), 0.9)
    previous = fit_module.Draws(unconstrained, {}, None, kernel)
    fs = fit_module.FitSettings(4, 800, 1000, 0, 5, 100, "full-rank", None)
    careful = fit_module._careful_pass(previous, fs, 0.99)
    np.testing.assert_array_equal(careful.starts["b"], unconstrained["b"][:, -1])
    assert careful.settings == fit_module._NutsSettings(250, 800, 0.99, adapt_mass_matrix=False)
    np.testing.assert_array_equal(careful.step_sizes, [0.1, 0.2, 0.3, 0.4])
    truth = np.zeros((3, 3))
    truth[0, 0], truth[1:, 1:] = 0.01, scale @ scale.T
    assert careful.inverse_mass_matrices.shape == (4, 3, 3)
    np.testing.assert_allclose(careful.inverse_mass_matrices[2], truth, atol=0.05)


def test_one_chains_excursion_widens_the_careful_mass_matrix_by_a_root_of_it():
    # Four chains of unit variance in two coordinates, one of which wanders 100x wider (variance) in the second: the
    # log-scale mean widens that direction by 100^(1/4), where a pooled covariance would take 25x.
    from bayes_distill.inference.fit import careful_mass_matrix

    draws = np.random.default_rng(1).standard_normal((4, 4000, 2))
    draws = (draws - draws.mean(axis=1, keepdims=True)) / draws.std(axis=1, ddof=1, keepdims=True)
    draws[3, :, 1] *= 10.0
    matrix = careful_mass_matrix(draws)
    np.testing.assert_allclose(np.diag(matrix), [1.0, 100.0 ** 0.25], rtol=0.02)
    assert np.cov(draws.reshape(-1, 2), rowvar=False)[1, 1] > 25.0
    np.testing.assert_allclose(matrix, matrix.T)
    np.testing.assert_allclose(careful_mass_matrix(draws[:, :1]), 5e-3 / 6 * np.eye(2))  # one draw: the shrinkage


def test_a_continued_chain_goes_on_with_its_kernel_as_it_was():
    # A continuation starts each chain at its last draw with the step size and mass matrix it ended with and adapts
    # nothing, so the joined draws are one longer chain of one kernel.
    import jax

    from bayes_distill.inference import fit as fit_module

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, args = fit_module._model_arguments(simulated_runs(n_supervised=30, seed=4), "default", None, 4.0, "auto")
    fs = fit_module.FitSettings(2, 101, 100, 0, 4, 100, "full-rank", 0.9)
    mode, _ = multistart_map(args, 0, 4)
    first = fit_module._run_pass(args, fit_module._first_pass(mode, fs, 0.9), jax.random.PRNGKey(0), fs.chains)
    where = fit_module._continuation(first, 50)
    assert where.settings == fit_module._NutsSettings(0, 50, 0.9, adapt_mass_matrix=False, adapt_step_size=False)
    np.testing.assert_array_equal(where.starts["E"], first.unconstrained["E"][:, -1])
    longer = fit_module._extended(first, fs, 0, jax.random.PRNGKey(0))
    assert longer.stats["diverging"].shape == (2, 151)
    for name, values in first.unconstrained.items():
        np.testing.assert_array_equal(longer.unconstrained[name][:, :101], values)
        assert not np.array_equal(longer.unconstrained[name][:, 101], values[:, -1])  # it moved on
    assert np.all(first.kernel.step_sizes > 0) and not np.allclose(first.kernel.step_sizes, 1.0)  # adapted
    np.testing.assert_array_equal(longer.kernel.step_sizes, first.kernel.step_sizes)  # and then kept
    np.testing.assert_array_equal(longer.kernel.inverse_mass_matrices, first.kernel.inverse_mass_matrices)
    # The per-draw quantities come in blocks of one compiled size; any block size gives the same numbers.
    whole = fit_module._quantities_in_blocks(args, longer.unconstrained, 151)
    blocks = fit_module._quantities_in_blocks(args, longer.unconstrained, 50)
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(blocks), strict=True):
        assert a.shape == b.shape and a.shape[:2] == (2, 151)
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_a_continuation_that_diverges_sends_the_fit_to_the_next_target(monkeypatch):
    # A divergence in a continuation is its pass's: the rule samples again at the next target (from the continued
    # draws), whose chains go on in their turn; the record says so.
    from bayes_distill.inference import fit as fit_module

    real = fit_module._extended

    def diverging_in_the_first_pass(previous, fs, times, key):
        longer = real(previous, fs, times, key)
        if longer.kernel.target_accept == fit_module.TARGET_ACCEPT:
            flags = np.array(longer.stats["diverging"])
            flags[0, -1] = True
            longer = longer._replace(stats={**longer.stats, "diverging": flags})
        return longer

    monkeypatch.setattr(fit_module, "_extended", diverging_in_the_first_pass)
    monkeypatch.setattr(fit_module, "READAPT", False)  # these short chains disagree; this test is about going on
    monkeypatch.setattr(fit_module, "_short_of_goal", lambda tree, fs: tree["posterior"].sizes["draw"] < 200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = bd.fit(simulated_runs(n_supervised=30, seed=4), chains=2, draws=101, warmup=100, seed=0)
    attrs = post.tree.attrs
    assert attrs["target_accept_raised"] == "from 0.9 after 1 divergent transitions"
    assert attrs["target_accept"] == 0.99 and attrs["draws_extended"] == "from 101 to 201 per chain"
    assert int(post.tree["sample_stats"]["diverging"].sum()) == 0 and post.posterior.sizes["draw"] == 201


def _autocorrelated_tree(phi, shift=0.0, divergent=0, seed=0):
    import arviz_base

    rng = np.random.default_rng(seed)
    x = np.zeros((4, 1000))
    x[:, 0] = rng.standard_normal(4)
    for t in range(1, 1000):  # AR(1) chains with unit stationary variance: ESS about 4000 (1 - phi) / (1 + phi)
        x[:, t] = phi * x[:, t - 1] + np.sqrt(1 - phi**2) * rng.standard_normal(4)
    x[0] += shift
    diverging = np.zeros((4, 1000), bool)
    diverging[0, :divergent] = True
    return arviz_base.from_dict({"posterior": {"E": x}, "sample_stats": {"diverging": diverging}})


def test_chains_go_on_only_where_more_draws_can_reach_the_goal():
    from bayes_distill.inference import fit as fit_module

    fs = fit_module.FitSettings(4, 1000, 1000, 0, 4, 100, "full-rank", None)  # up to 2000 draws per chain
    assert fit_module._short_of_goal(_autocorrelated_tree(0.88), fs)  # ESS about 250: 2000 draws reach 400
    assert not fit_module._short_of_goal(_autocorrelated_tree(0.0), fs)  # clean already
    assert not fit_module._short_of_goal(_autocorrelated_tree(0.98), fs)  # ESS about 40: out of reach
    assert not fit_module._short_of_goal(_autocorrelated_tree(0.88, shift=2.0), fs)  # a chain elsewhere
    assert not fit_module._short_of_goal(_autocorrelated_tree(0.88, divergent=1), fs)  # a sampler problem


def test_a_fit_short_of_its_goal_goes_on_and_says_so(monkeypatch):
    from bayes_distill.inference import fit as fit_module

    frame = simulated_runs(n_supervised=30, seed=4)
    kw = {"chains": 2, "draws": 101, "warmup": 100, "seed": 0, "target_accept": 0.9}
    monkeypatch.setattr(fit_module, "READAPT", False)  # these short chains disagree; this test is about going on
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exact = bd.fit(frame, extend=False, **kw)
        monkeypatch.setattr(fit_module, "_short_of_goal", lambda tree, fs: tree["posterior"].sizes["draw"] < 200)
        longer = bd.fit(frame, **kw)
    assert "draws_extended" not in exact.tree.attrs and exact.posterior.sizes["draw"] == 101
    assert longer.tree.attrs["draws_extended"] == "from 101 to 201 per chain"
    assert longer.posterior.sizes["draw"] == longer.tree["log_likelihood"].sizes["draw"] == 201
    np.testing.assert_array_equal(longer.posterior["E"].values[:, :101], exact.posterior["E"].values)


def test_the_target_rule_raises_the_target_while_transitions_diverge():
    # Divergences at 0.9 and at 0.99, none at 0.995: three passes, each after the first going on from the one before,
    # and the record says why each was raised. A target given explicitly is never raised.
    from bayes_distill.inference import fit as fit_module

    divergent = {0.9: 5, 0.99: 2, 0.995: 0}
    calls = []

    def sample_once(term_coordinates, target, previous=None):
        calls.append((target, previous))
        flags = np.zeros((4, 100), bool)
        flags[0, :divergent[target]] = True
        return f"pass at {target}", flags

    attrs = {}
    result, term_coordinates = fit_module._nuts_by_the_rules(sample_once, None, attrs)
    assert calls == [(0.9, None), (0.99, "pass at 0.9"), (0.995, "pass at 0.99")]
    assert result == "pass at 0.995" and term_coordinates and attrs["target_accept"] == 0.995
    assert attrs["target_accept_raised"] == ("from 0.9 after 5 divergent transitions, then from 0.99 after 2 "
                                             "divergent transitions")
    calls.clear()
    attrs = {}
    assert fit_module._nuts_by_the_rules(sample_once, 0.9, attrs)[0] == "pass at 0.9"
    assert calls == [(0.9, None)] and attrs["target_accept"] == 0.9 and "target_accept_raised" not in attrs


def test_the_pymc_twin_follows_the_same_target_rule(monkeypatch):
    # PyMC's twin: the same rule as NumPyro's (sample again at 0.99 after divergences when no target is given),
    # recorded in the same attributes.
    from bayes_distill.inference import fit as fit_module

    monkeypatch.setattr(fit_module, "TARGET_ACCEPT", 0.05)  # PyMC diverges at 0.05 for seeds 0-2 and jax 0.12.0-0.12.1
    frame = simulated_runs(n_supervised=40, seed=4)
    kw = {"backend": "pymc", "chains": 2, "draws": 200, "warmup": 200, "seed": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        given = bd.fit(frame, target_accept=0.05, **kw)
        auto = bd.fit(frame, **kw)
    diverged = int(given.tree["sample_stats"]["diverging"].sum())
    assert diverged > 0 and given.tree.attrs["target_accept"] == 0.05 and "target_accept_raised" not in given.tree.attrs
    assert auto.tree.attrs["target_accept"] == 0.99 and auto.tree.attrs["backend"] == "pymc"
    assert auto.tree.attrs["target_accept_raised"] == f"from 0.05 after {diverged} divergent transitions"
    assert int(auto.tree["sample_stats"]["diverging"].sum()) < diverged


def test_the_pymc_twin_leaves_a_funnel_for_the_coefficients_coordinates():
    # As NumPyro's fit: divergences in half the chains or more send the twin to the coefficients' own coordinates.
    # Six noisy runs leave gamma to its prior, here reaching down to 0.001: log_A_term's spread scales with gamma,
    # a funnel in which PyMC's NUTS at an acceptance target of 0.6 diverges (5 and 38 of 100 draws, seed 2; 2-38
    # per chain at seeds 0-3); in the coefficients' own coordinates it did not diverge at all.
    import re

    pytest.importorskip("pymc")
    from bayes_distill.inference.priors import Prior

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = bd.fit(simulated_runs(n_supervised=6, noise=0.3, seed=1), backend="pymc",
                      prior={"gamma": Prior("uniform", 0.001, 2.0)}, chains=2, draws=100, warmup=100, seed=2,
                      target_accept=0.6)
    coordinates = post.tree.attrs["coordinates"]
    assert coordinates.startswith("coefficients (in power-law term coordinates"), coordinates
    in_terms = int(re.search(r"coordinates (\d+) transitions diverged", coordinates).group(1))
    assert in_terms > 0.01 * 2 * 100, coordinates
    names = set(post.tree["posterior"].data_vars)
    assert {"log_A", "alpha", "gamma"} <= names and not {"alpha_gamma", "log_A_term"} & names
    assert int(post.tree["sample_stats"]["diverging"].sum()) < in_terms  # the fallback's own sample diverges less


def test_the_pymc_twins_tree_is_labelled_and_checked_as_numpyros():
    # Every query reads one layout: run ids, the law error's levels by name over "size", and the replicated log
    # losses the fit's checks need (the twin's tree had positions for labels, an unnamed dimension for the offsets
    # and no posterior predictive, so the report's check and its figures failed on it).
    pytest.importorskip("pymc")
    N = np.repeat([3e7, 1e8, 3e8, 1e9], 5)
    D = N * np.tile([5, 20, 50, 100, 300], 4)
    loss = bd.supervised_loss(N, D, TRUTH) * np.exp(np.random.default_rng(0).normal(0, 0.005, 20))
    frame = pd.DataFrame({"run": [f"r{i}" for i in range(20)], "kind": "supervised", "N": N, "D": D, "loss": loss})
    trees = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for backend in ("numpyro", "pymc"):
            trees[backend] = bd.fit(frame, backend=backend, law_error=True, chains=2, draws=100, warmup=100).tree
    numpyro, pymc = trees["numpyro"], trees["pymc"]
    for group in ("posterior_predictive", "observed_data", "log_likelihood"):
        assert pymc[group]["log_loss"].dims[-1] == "run"
        assert pymc[group]["log_loss"]["run"].values.tolist() == frame["run"].tolist()
    offsets = pymc["posterior"]["law_error_offset"]
    assert offsets.dims == ("chain", "draw", "size") == numpyro["posterior"]["law_error_offset"].dims
    assert offsets["size"].values.tolist() == numpyro["posterior"]["size"].values.tolist()
    assert pymc["posterior_predictive"]["log_loss"].shape == (2, 100, 20)


def test_chains_vectorised_on_one_device_sample_the_posterior_of_chains_split_over_devices(monkeypatch):
    # On a GPU (one device) the chains run vectorised; here JAX sees four host devices and the chains are split.
    # Both run the same per-chain program (rounding differs, so the draws do): the posteriors must agree.
    import jax

    from bayes_distill.inference import fit as fit_module

    frame = simulated_runs(n_supervised=30, seed=5)
    kw = {"chains": 4, "draws": 400, "warmup": 400, "seed": 0, "target_accept": 0.9}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        split = bd.fit(frame, **kw).tree["posterior"]
        monkeypatch.setattr(jax, "local_device_count", lambda *args, **kwargs: 1)
        vectorised = bd.fit(frame, **kw).tree["posterior"]
    settings = fit_module._NutsSettings(warmup=400, draws=400, target_accept=0.9)
    methods = {chains for _, name, spec, chains, *_ in program_cache._PROGRAMS
               if (name, spec) == ("_nuts_chain", settings)}
    assert methods == {"shard", "vmap"}  # two programs: the chain method is part of a program's key
    for name in ("E", "alpha", "beta", "gamma"):
        a, b = split[name].values, vectorised[name].values
        assert abs(a.mean() - b.mean()) < 0.25 * a.std(), (name, a.mean(), b.mean(), a.std())


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="counts the process's memory mappings (Linux)")
def test_programs_dropped_from_the_cache_free_their_code():
    # Compiled code lives in memory mappings, of which the kernel allows a process 65530: a program the cache lets
    # go must be freed, or a long loop of fits of new designs crashes (as it did while pmap's caches held them).
    import gc


    def mappings() -> int:
        with open("/proc/self/maps") as f:
            return sum(1 for _ in f)

    counts = []
    for n_supervised in (30, 33, 36, 39):  # four designs, each compiled anew
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bd.fit(simulated_runs(n_supervised=n_supervised, seed=1), chains=2, draws=50, warmup=50, seed=0)
        program_cache._PROGRAMS.clear()
        gc.collect()
        counts.append(mappings())
    assert counts[-1] - counts[0] < 150, counts


def test_prior_predictive_draws_losses_around_the_law_at_prior_draws():
    from scipy import stats

    from bayes_distill.laws import LawParams, log_supervised_loss

    frame = simulated_runs(n_supervised=30, seed=5)
    tree = bd.prior_predictive(frame, draws=400, seed=0)
    prior, replicated = tree["prior"], tree["prior_predictive"]["log_loss"]
    assert dict(replicated.sizes) == {"chain": 1, "draw": 400, "run": 30}
    assert list(tree["observed_data"]["run"].values) == list(frame["run"])
    smallest = float(frame["loss"].min())  # the default prior keeps E below the smallest observed loss
    assert float(prior["E"].min()) > 0.0 and float(prior["E"].max()) < smallest
    assert float(prior["gamma"].min()) > 0.05 and float(prior["gamma"].max()) < 2.0
    # Each draw's replicated log losses are the law at that draw's coefficients plus Student-t(4) noise of its scale.
    law = LawParams.from_mapping({k: prior[k].values.ravel() for k in ("E", "A", "B", "alpha", "beta", "gamma")})
    z = (replicated.values[0] - log_supervised_loss(frame["N"].values, frame["D"].values, law)) / prior[
        "sigma_supervised"].values.reshape(-1, 1)
    assert stats.kstest(z.ravel(), stats.t(4.0).cdf).pvalue > 0.01
    fixed = bd.prior_predictive(frame, fix={"gamma": 1.0}, draws=10)
    assert "gamma" not in fixed["prior"].data_vars
    for bad, message in (({"draws": 0}, "draws must be a positive integer; got 0"), ({"nu": -1.0}, "nu must be > 0"),
                         ({"group_effects": "yes"}, "group_effects must be True, False or 'auto'")):
        with pytest.raises(ValueError, match=message):
            bd.prior_predictive(frame, **bad)


def test_sampler_coordinates_keep_every_coefficients_prior():
    # The sampler's coordinates (power-law terms, the transition's onset) carry the coefficients' priors through
    # their maps, Jacobians included: prior draws in them give each coefficient its own prior back.
    from scipy import stats

    tree = bd.prior_predictive(simulated_runs(n_supervised=10, n_distilled=10), draws=4000, seed=0)
    prior = tree["prior"]
    assert {"log_d1_onset", "alpha_gamma", "log_B_prime_term"} <= set(prior.data_vars)
    gamma_prime = prior["gamma_prime"].values.ravel()
    # The distillation law's terms (TERM_PRIORS) carry their priors on beta' gamma' and on the D_S term's log size at
    # the prior's reference tokens D_0 (TERM_REFERENCE), gamma' log(B' / D_0^beta').
    for name, values, law in (
            ("log_d1", prior["log_d1"].values.ravel(), stats.norm(0.0, 0.5)),
            ("log_c1", prior["log_c1"].values.ravel(), stats.norm(4.0, 2.0)),
            ("f1", prior["f1"].values.ravel(), stats.uniform(0.01, 1.99)),
            ("alpha", prior["alpha"].values.ravel(), stats.uniform(0.0, 2.0)),
            ("gamma_prime", gamma_prime, stats.uniform(0.05, 1.95)),
            ("gamma' log(B' / D_0^beta')", gamma_prime * (prior["log_B_prime"].values.ravel()
                                                          - prior["beta_prime"].values.ravel() * np.log(2e10)),
             stats.norm(0.0, 3.0)),
            ("beta' gamma'", gamma_prime * prior["beta_prime"].values.ravel(), stats.uniform(0.0, 2.0))):
        assert stats.kstest(values, law.cdf).pvalue > 0.01, name


@pytest.mark.parametrize("slopes", [True, False], ids=["slope coordinates", "term coordinates"])
def test_the_pymc_twin_has_numpyros_log_density(slopes):
    # Both backends build the model from law_coefficients: at the same values of the sites (the sampler's
    # coordinates, priors and likelihood, and the slope coordinates' factor) their log densities agree.
    import jax
    from numpyro.infer.util import log_density
    from pymc.model.transform.conditioning import remove_value_transforms

    from bayes_distill.inference import fit as fitting
    from bayes_distill.inference.pymc_model import build_pymc_model

    _, args = fitting._model_arguments(simulated_runs(n_supervised=20, n_distilled=20), "default", None, 4.0, False)
    args = args if slopes else args.in_term_coordinates()
    model = remove_value_transforms(build_pymc_model(args.runs, args.prior, args.fix, nu=args.nu,
                                                     slope_coordinates=slopes))
    logp = model.compile_logp()
    latent = latent_prior_draws(args, jax.random.PRNGKey(1), 3)
    for i in range(3):
        sites = site_values(args, {k: v[i] for k, v in latent.items()})
        values = {rv.name: np.asarray(sites[rv.name], dtype=float) for rv in model.free_RVs}
        assert {"slopes_prime" if slopes else "log_B_prime_term", "log_d1_onset", "alpha_gamma"} <= set(values)
        numpyro_value, _ = log_density(args.model(), (), {}, values)
        point = {model.rvs_to_values[rv].name: values[rv.name] for rv in model.free_RVs}
        assert np.isfinite(float(numpyro_value))
        assert float(logp(point)) == pytest.approx(float(numpyro_value), abs=1e-5)


def test_slope_coordinates_are_the_term_coordinates_moved():
    # The distillation law's slope coordinates are a change of coordinates of the same posterior: at any point their
    # log density is the term coordinates' at the mapped point plus log |det| of the map's Jacobian (by autodiff).
    import jax
    import jax.numpy as jnp
    from numpyro import handlers
    from numpyro.infer.util import log_density

    from bayes_distill.inference import fit as fitting

    _, args = fitting._model_arguments(simulated_runs(n_supervised=10, n_distilled=20), "default", None, 4.0, False)
    new = ("log_reducible_prime_term", "slopes_prime", "slope_split_prime", "share_place_prime")
    old = ("log_A_prime_term", "log_B_prime_term", "alpha_prime_gamma", "beta_prime_gamma")
    latent = latent_prior_draws(args, jax.random.PRNGKey(3), 4)

    def mapped(x: jax.Array, values: dict) -> jax.Array:
        substituted = {**values, **{name: x[i] for i, name in enumerate(new)}}
        trace = handlers.trace(handlers.substitute(args.model(), data=substituted)).get_trace()
        return jnp.stack([trace[name]["value"] for name in old])

    for i in range(4):
        sites = site_values(args, {k: v[i] for k, v in latent.items()})
        values = {name: sites[name] for name in latent_shapes(args)}
        x = jnp.stack([values[name] for name in new])
        jacobian = jax.jacfwd(mapped)(x, values)
        moved = {**{k: v for k, v in values.items() if k not in new}, **{name: sites[name] for name in old}}
        slope_density, _ = log_density(args.model(), (), {}, values)
        term_density, _ = log_density(args.in_term_coordinates().model(), (), {}, moved)
        assert np.isfinite(float(term_density))
        assert float(slope_density) == pytest.approx(float(term_density) + np.linalg.slogdet(jacobian)[1], abs=1e-8)
    # Each exponent stays within its prior's bounds, alpha' gamma' and beta' gamma' in (0, 2).
    draws = jax.vmap(lambda z: site_values(args, z))(latent)
    for name in ("alpha_prime_gamma", "beta_prime_gamma"):
        assert np.all((np.asarray(draws[name]) > 0) & (np.asarray(draws[name]) < 2)), name
    # They need bounded exponents and free terms: the paper prior's exponents are unbounded above.
    from bayes_distill.inference.model import slope_coordinates_apply
    from bayes_distill.inference.priors import paper_prior

    assert slope_coordinates_apply(args.prior, {})
    assert not slope_coordinates_apply(paper_prior(), {})
    assert not slope_coordinates_apply(args.prior, {"beta_prime": 0.5})


def test_sample_prior_draws_the_models_prior():
    # Simulation studies draw truths with sample_prior: it must be the prior the model samples, TERM_PRIORS included.
    from scipy import stats

    from bayes_distill.inference.priors import default_prior, sample_prior

    frame = simulated_runs(n_supervised=10, n_distilled=10)
    model = bd.prior_predictive(frame, draws=4000, seed=0)["prior"]
    direct = sample_prior(default_prior(float(frame["loss"].min())), np.random.default_rng(0), 4000)
    for name in ("alpha_prime", "beta_prime", "gamma_prime", "c0", "alpha"):
        assert stats.ks_2samp(model[name].values.ravel(), direct[name]).pvalue > 0.01, name
    for name in ("A_prime", "B_prime"):
        assert stats.ks_2samp(model[f"log_{name}"].values.ravel(), np.log(direct[name])).pvalue > 0.01, name


@settings(max_examples=60, deadline=None)
@given(family=st.sampled_from(["normal", "uniform", "halfnormal", "truncnormal"]),
       shift=st.floats(-20.0, 20.0), scale=st.floats(0.05, 5.0), negate=st.booleans(),
       x=st.floats(0.01, 0.99))
def test_an_affine_prior_is_the_density_of_the_moved_coefficient(family, shift, scale, negate, x):
    # Both backends' sampling coordinates are Prior.affine maps: the moved prior's density at y = shift +- scale x
    # must be the original's at x over the map's |Jacobian| = scale, and y must lie in its support.
    from bayes_distill.inference.priors import Prior

    prior = {"normal": Prior("normal", 0.3, 0.7), "uniform": Prior("uniform", 0.0, 1.0),
             "halfnormal": Prior("halfnormal", 0.5), "truncnormal": Prior("truncnormal", 0.2, 0.4, low=0.0, high=1.0)}
    base = prior[family]
    moved = base.affine(shift, scale, negate=negate)
    y = shift - scale * x if negate else shift + scale * x
    expected = float(base.numpyro().log_prob(x)) - np.log(scale)
    assert float(moved.numpyro().log_prob(y)) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert bool(moved.numpyro().support.check(y))
    outside = shift + (scale * 1.5 if negate else -scale * 1.5)  # the image of x = -1.5, outside every support here
    if family != "normal":
        assert not bool(moved.numpyro().support.check(outside))


def test_group_offsets_recover_the_spread_of_correlated_checkpoints():
    # Three runs per group share one offset on log loss (checkpoints of one training run): the fit adds per-group
    # offsets by itself ("auto") and their scale's 90% interval holds the offsets' spread.
    rng = np.random.default_rng(0)
    n_groups, per = 25, 3
    N = np.repeat(np.exp(rng.uniform(np.log(3e7), np.log(3e9), n_groups)), per)
    D = N * np.exp(rng.uniform(np.log(5), np.log(300), n_groups * per))
    offset = np.repeat(rng.normal(0.0, 0.03, n_groups), per)
    frame = pd.DataFrame({"run": [f"r{i}" for i in range(n_groups * per)], "kind": "supervised", "N": N, "D": D,
                          "loss": bd.supervised_loss(N, D, TRUTH) * np.exp(offset + rng.normal(0, 0.005, N.size)),
                          "group": np.repeat([f"g{i}" for i in range(n_groups)], per)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short chains
        post = bd.fit(frame, chains=4, draws=500, warmup=500, seed=0)
    assert post.posterior["group_offset_raw"].dims == ("chain", "draw", "group")
    assert post.posterior.sizes["group"] == n_groups
    lo, hi = np.quantile(post.posterior["group_scale"].values, [0.05, 0.95])
    assert lo < offset[::per].std() < hi, (lo, offset[::per].std(), hi)
    assert float(post.posterior["sigma_supervised"].median()) < 0.01  # the offsets are not taken for noise


def test_fit_warnings_say_what_failed_and_what_to_do():
    # diagnose() on draws built to fail one way each: chains in two places (R-hat), too few draws (ESS) and
    # divergent transitions; clean draws give no message.
    rng = np.random.default_rng(0)
    good = rng.normal(size=(4, 1000))
    split = np.concatenate([rng.normal(0, 1, (2, 1000)), rng.normal(5, 1, (2, 1000))])

    def tree(posterior, diverging):
        return xr.DataTree.from_dict({
            "posterior": xr.Dataset({k: (("chain", "draw"), v) for k, v in posterior.items()}),
            "sample_stats": xr.Dataset({"diverging": (("chain", "draw"), diverging)})})

    clean = np.zeros((4, 1000), dtype=bool)
    assert bd.inference.diagnose(tree({"E": good}, clean)) == []
    rhat, ess = bd.inference.diagnose(tree({"E": good, "alpha": split}, clean))
    assert rhat.startswith("R-hat above 1.01 for alpha=") and "run longer" in rhat and "E=" not in rhat
    assert ess.startswith("bulk/tail ESS below 400 for alpha=") and "E=" not in ess  # chains apart: few effective
    [ess] = bd.inference.diagnose(tree({"E": good[:, :50]}, clean[:, :50]))
    assert ess.startswith("bulk/tail ESS below 400 for E=") and "draw more" in ess
    diverging = clean.copy()
    diverging[1, [3, 70, 500]] = True
    [divergent] = bd.inference.diagnose(tree({"E": good}, diverging))
    assert divergent.startswith("3 divergent transitions:") and "raise target_accept (e.g. 0.99)" in divergent
    # SVI's independent draws are judged by the Pareto k of the guide's importance weights, not R-hat or ESS.
    svi = tree({"E": good[:, :50]}, clean[:, :50])
    svi.attrs = {"method": "svi", "svi_pareto_k": 0.5}
    assert bd.inference.diagnose(svi) == []
    svi.attrs["svi_pareto_k"] = 0.93
    [guide] = bd.inference.diagnose(svi)
    assert guide.startswith("Pareto k of the SVI guide's importance weights is 0.93 > 0.7") and "method='nuts'" in guide
    # A noise scale collapsed to 0 (the law through every run of a kind) is named, a small real one is not.
    noise = {"sigma_supervised": np.full((4, 1000), 0.004), "sigma_distilled": np.abs(good) * 1e-10}
    [collapsed] = bd.inference.diagnose(tree(noise, clean))
    assert collapsed.startswith("sigma_distilled has collapsed (posterior median 6.")
    assert "fix coefficients" in collapsed
    # An element equal in every draw has nothing to mix and is left out, quietly; chains that never moved, each
    # at its own value, fail R-hat (its 0/0 is not taken for a pass) and ESS.
    offset = np.stack([np.zeros((4, 1000)), good], axis=-1)  # (chain, draw, size): the first size's offset is 0
    frozen = np.repeat(np.arange(4.0)[:, None], 1000, axis=1)
    posterior = xr.Dataset({"law_error_offset": (("chain", "draw", "size"), offset),
                            "E": (("chain", "draw"), good), "alpha": (("chain", "draw"), frozen)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rhat, ess = bd.inference.diagnostics.mixing(xr.DataTree.from_dict({"posterior": posterior}))
    assert rhat["law_error_offset"] == rhat["E"] < 1.01 and rhat["alpha"] == np.inf  # the offset moves as E
    assert ess["law_error_offset"] == ess["E"] > 400 and ess["alpha"] < 10
    all_constant = xr.Dataset({"E": (("chain", "draw"), good), "c0": (("chain", "draw"), np.zeros((4, 1000)))})
    assert set(bd.inference.diagnostics.mixing(xr.DataTree.from_dict({"posterior": all_constant}))[0]) == {"E"}


def test_the_log_normal_prior_is_one_distribution_in_numpyro_pymc_and_numpy():
    # The noise prior is built for both backends and drawn by NumPy (prior draws, SBC): one density, one median.
    import pymc as pm
    from scipy import stats

    from bayes_distill.inference.priors import Prior

    prior = Prior("lognormal", float(np.log(0.02)), 1.0)
    x = np.array([1e-4, 0.02, 0.3])
    expected = stats.lognorm(s=1.0, scale=0.02).logpdf(x)
    np.testing.assert_allclose(np.asarray(prior.numpyro().log_prob(x)), expected, rtol=1e-6)
    np.testing.assert_allclose(pm.logp(prior.pymc_dist(), x).eval(), expected, rtol=1e-6)
    assert np.median(prior.sample(np.random.default_rng(0), 20000)) == pytest.approx(0.02, rel=0.03)
    with pytest.raises(ValueError, match="lognormal prior has no affine map"):
        prior.affine(0.0, 2.0)


def test_a_handful_of_runs_keeps_its_noise():
    # Seven runs at three sizes, 1% noise: the law (six coefficients) nearly passes through them. Under a half-normal
    # noise prior this table's posterior piled up at sigma 6e-13 (every interval too narrow); the log-normal prior
    # keeps the noise where the data put it, the true 1% inside its 90% interval.
    rng = np.random.default_rng(1)
    N = np.repeat([3e7, 1e8, 3e8], [3, 2, 2])
    D = N * np.array([10, 40, 160, 20, 80, 20, 80])
    runs = pd.DataFrame({"run": [f"r{i}" for i in range(N.size)], "kind": "supervised", "N": N, "D": D,
                         "loss": bd.supervised_loss(N, D, TRUTH) * np.exp(rng.normal(0, 0.01, N.size))})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        post = bd.fit(runs, chains=2, draws=300, warmup=300, seed=0)
    low, high = np.quantile(post.posterior["sigma_supervised"].values, [0.05, 0.95])
    assert low < 0.01 < high and low > 1e-3
    assert not [w for w in caught if "collapsed" in str(w.message)]


def test_predict_for_distilled_students_is_the_law_at_each_draw(joint_posterior):
    post = joint_posterior
    N_S, D_S, L_T = np.array([3e8, 2e9]), np.array([1e10, 4e11]), np.array([2.6, 2.0])
    prediction = post.predict(N_S=N_S, D_S=D_S, L_T=L_T)
    assert prediction.dims == ("chain", "draw", "point") and prediction.attrs["law"] == "distilled"
    params = post.params()
    for chain, draw in ((0, 0), (0, 117), (1, 299)):
        at = bd.LawParams.from_mapping({k: float(params[k][chain, draw]) for k in params.data_vars})
        np.testing.assert_allclose(prediction[chain, draw], bd.distilled_loss(N_S, D_S, L_T, at), rtol=1e-12)
    # The data were drawn from TRUTH with 0.5% noise: the median prediction is within 1% of the truth.
    np.testing.assert_allclose(prediction.median(("chain", "draw")), bd.distilled_loss(N_S, D_S, L_T, TRUTH),
                               rtol=0.01)
    noisy = post.predict(N_S=N_S, D_S=D_S, L_T=L_T, noise=True)
    ratio = np.log(noisy / prediction).std(("chain", "draw"))
    sigma = float(post.posterior["sigma_distilled"].median())
    assert np.all((ratio > 0.8 * sigma) & (ratio < 3.0 * sigma)), (ratio.values, sigma)  # Student-t(4) sd: 1.41 sigma


def test_low_rank_svi_guide_fits_the_mode_and_its_pareto_k_flags_the_narrow_spread(supervised_posterior):
    # SVI starts from the multi-start mode: 16 starts (the default) find the mode that 4 may miss on these runs.
    # The Gaussian guide then collapses to a sliver of the banana-shaped posterior NUTS samples; the Pareto k of its
    # importance weights says so, and the fit warns.
    with pytest.warns(bd.inference.FitWarning, match="Pareto k of the SVI guide"):
        post = bd.fit(simulated_runs(60), method="svi", guide="low-rank", chains=1, draws=300, svi_steps=1500,
                      seed=0)
    assert post.tree.attrs["method"] == "svi" and "svi_final_elbo_loss" in post.tree.attrs
    assert post.tree.attrs["svi_pareto_k"] > 0.7
    assert post.posterior["alpha"].dims == ("chain", "draw") and post.posterior.sizes["draw"] == 300
    weights = post.tree["sample_stats"]["log_importance_weight"]
    assert weights.dims == ("chain", "draw") and np.all(np.isfinite(weights))
    nuts_sd, svi_sd = (float(p.posterior["alpha"].std()) for p in (supervised_posterior, post))
    assert svi_sd < 0.5 * nuts_sd, (svi_sd, nuts_sd)
    # Centred near the mode: medians within 2% of the truth.
    truth = bd.supervised_loss(np.array([1e9, 1e10]), np.array([2e10, 2e11]), TRUTH)
    np.testing.assert_allclose(post.predict([1e9, 1e10], [2e10, 2e11]).median(("chain", "draw")), truth, rtol=0.02)
    with pytest.raises(ValueError, match="guide must be one of"):
        bd.fit(simulated_runs(10), method="svi", guide="diagonal")


def test_paper_prior_is_centred_on_table_6():
    tree = bd.prior_predictive(simulated_runs(10, 10), prior="paper", draws=2000, seed=0)
    prior = tree["prior"]
    # Table 6 values; the paper prior widens each 90% interval 3 times into a normal's, with an sd of at least 2% of
    # the value: alpha's 0.405-0.411 gives sd max(3 x 0.006 / 3.29, 0.02 x 0.408) = 0.00816, a 90% width of 0.0268.
    for name, value in (("E", 1.220), ("alpha", 0.408), ("gamma", 0.452), ("alpha_prime", 0.321), ("c0", 2.549)):
        assert float(prior[name].median()) == pytest.approx(value, rel=0.02), name
    assert float(np.exp(prior["log_A"].median())) == pytest.approx(3355, rel=0.02)
    # A' and B' carry theirs on their terms at TERM_REFERENCE: the map there and back keeps the paper's values.
    assert float(np.exp(prior["log_A_prime"].median())) == pytest.approx(2243, rel=0.05)
    assert float(np.exp(prior["log_B_prime"].median())) == pytest.approx(24181, rel=0.05)
    lo, hi = np.quantile(prior["alpha"].values, [0.05, 0.95])
    assert (hi - lo) == pytest.approx(0.0268, rel=0.1)


def test_fit_shows_the_arguments_of_sample():
    import inspect

    from bayes_distill.inference import sample

    signature = inspect.signature(bd.fit)
    assert list(signature.parameters) == list(inspect.signature(sample).parameters)
    assert signature.parameters["chains"].default == 4 and signature.parameters["target_accept"].default is None
    assert "target_accept: NUTS's target acceptance probability" in bd.fit.__doc__
    with pytest.raises(ValueError, match="backend must be one of"):  # positional, as the signature allows
        bd.fit(simulated_runs(5), "stan")


def test_coefficient_coordinates_keep_the_term_priors():
    # The funnel fallback samples alpha', log A' in their own coordinates: TERM_PRIORS must hold there too.
    import jax
    from numpyro.infer import Predictive
    from scipy import stats

    from bayes_distill.inference.model import RunArrays, law_model
    from bayes_distill.inference.priors import default_prior

    frame = simulated_runs(n_supervised=10, n_distilled=10)
    kwargs = {"runs": RunArrays.from_runs(bd.load_runs(frame)), "prior": default_prior(float(frame["loss"].min())),
              "fix": {}, "nu": 4.0, "observe": False, "term_coordinates": False}
    draws = Predictive(law_model, num_samples=4000)(jax.random.PRNGKey(0), **kwargs)
    gamma_prime = np.asarray(draws["gamma_prime"])
    assert "alpha_prime_gamma" not in draws and "log_A_prime" in draws
    assert stats.kstest(gamma_prime * np.asarray(draws["alpha_prime"]), stats.uniform(0.0, 2.0).cdf).pvalue > 0.01
    term = gamma_prime * (np.asarray(draws["log_A_prime"]) - np.asarray(draws["alpha_prime"]) * np.log(1e9))
    assert stats.kstest(term, stats.norm(0.0, 3.0).cdf).pvalue > 0.01


# -- the law's own error -------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.floats(1e6, 1e11), min_size=1, max_size=9, unique=True),
       distilled=st.integers(0, 9))
def test_the_law_error_directions_leave_what_the_law_cannot_say(sizes, distilled):
    # Within each kind the directions leave out the offsets' mean, trend and curvature in log N (what the law's
    # coefficients can do themselves), span the rest, and never mix kinds.
    from bayes_distill.inference.model import law_error_directions

    N = np.array(sizes)
    kind = np.where(np.arange(N.size) < min(distilled, N.size), "distilled", "supervised")
    directions = law_error_directions(kind, N)
    np.testing.assert_allclose(directions.T @ directions, np.eye(directions.shape[1]), atol=1e-9)
    P = directions @ directions.T
    np.testing.assert_allclose(P, P.T, atol=1e-10)
    np.testing.assert_allclose(P @ P, P, atol=1e-9)
    for k in np.unique(kind):
        rows = kind == k
        n = int(rows.sum())
        x = np.log(N[rows]) - np.log(N[rows]).mean()
        removed = [np.ones(n), x, x ** 2][: 1 if n <= 2 else (2 if n == 3 else 3)]
        block = P[np.ix_(rows, rows)]
        for direction in removed:
            np.testing.assert_allclose(block @ direction, 0.0, atol=1e-8 * max(1.0, np.abs(x).max() ** 2))
        assert round(np.trace(block)) == n - len(removed)
        np.testing.assert_array_equal(P[np.ix_(rows, ~rows)], 0.0)


def test_the_pymc_twin_has_numpyros_log_density_with_the_law_error():
    import jax
    from numpyro.infer.util import log_density
    from pymc.model.transform.conditioning import remove_value_transforms

    from bayes_distill.inference import fit as fitting
    from bayes_distill.inference.pymc_model import build_pymc_model

    frame = simulated_runs(n_supervised=20, n_distilled=20)
    frame["N"] = np.round(frame["N"], -8).clip(1e8)  # a few runs share a size, as in a sweep
    _, args = fitting._model_arguments(frame, "default", None, 4.0, False, law_error=True)
    model = remove_value_transforms(build_pymc_model(args.runs, args.prior, args.fix, nu=args.nu, law_error=True))
    logp = model.compile_logp()
    latent = latent_prior_draws(args, jax.random.PRNGKey(2), 2)
    for i in range(2):
        sites = site_values(args, {k: v[i] for k, v in latent.items()})
        values = {rv.name: np.asarray(sites[rv.name], dtype=float) for rv in model.free_RVs}
        assert values["law_error_raw"].shape == (args.runs.size_directions.shape[1],) and "law_error" in values
        numpyro_value, _ = log_density(args.model(), (), {}, values)
        point = {model.rvs_to_values[rv].name: values[rv.name] for rv in model.free_RVs}
        assert float(logp(point)) == pytest.approx(float(numpyro_value), abs=1e-5)


def _with_law_error(post, scale=0.01, seed=0):
    """``post`` as if fitted with ``law_error=True``: a law error of spread ``scale`` and made-up fitted offsets."""
    from bayes_distill.inference.model import size_labels
    from bayes_distill.posterior import Posterior

    labels = np.unique(size_labels(post.runs["kind"].values, post.runs["N"].values))
    shape = (post.posterior.sizes["chain"], post.posterior.sizes["draw"])
    rng = np.random.default_rng(seed)
    tree = post.tree.copy()
    tree["posterior"] = tree["posterior"].to_dataset().assign(
        law_error=(("chain", "draw"), np.full(shape, scale)),
        law_error_offset=(("chain", "draw", "size"), rng.normal(0.0, scale, (*shape, labels.size)))
    ).assign_coords(size=labels)
    return Posterior(tree, post.runs, post.fix, post.nu)


def test_answers_carry_the_law_error_at_the_students_size(joint_posterior):
    post = _with_law_error(joint_posterior)
    assert post.models_law_error and not joint_posterior.models_law_error
    fitted_N = float(post.runs["N"].values[0])  # a supervised run's size
    new = post.law_error("supervised", [fitted_N, 7.7e9, 7.7e9], seed=1)
    label = post.posterior["size"].values[0]
    assert label.startswith("distilled") or label.startswith("supervised")
    np.testing.assert_array_equal(new.isel(point=0), post.posterior["law_error_offset"].sel(
        size=f"supervised N={fitted_N!r}"))
    np.testing.assert_array_equal(new.isel(point=1), new.isel(point=2))  # one size, one error
    np.testing.assert_array_equal(new.isel(point=1), post.law_error("supervised", 7.7e9, seed=1).isel(point=0))
    assert not np.array_equal(new.isel(point=1), post.law_error("supervised", 7.7e9, seed=2).isel(point=0))
    assert not np.array_equal(new.isel(point=1), post.law_error("distilled", 7.7e9, seed=1).isel(point=0))
    assert float(new.isel(point=1).std()) == pytest.approx(0.01, rel=0.1)
    np.testing.assert_array_equal(joint_posterior.law_error("supervised", [7.7e9]), 0.0)
    with pytest.raises(ValueError, match="kind must be 'supervised' or 'distilled'; got 'student'"):
        post.law_error("student", [1e9])

    law_only = post.predict([7.7e9], [2e11], law_error=False)
    xr.testing.assert_identical(law_only, joint_posterior.predict([7.7e9], [2e11]).assign_attrs(law_error=0))
    np.testing.assert_allclose(post.predict([7.7e9], [2e11], seed=1), law_only * np.exp(new.isel(point=[1])))

    plan, plain = post.allocate([1e9, 2e9], [1e21], seed=3), joint_posterior.allocate([1e9, 2e9], [1e21])
    distilled = post.law_error("distilled", [1e9, 2e9], seed=3).rename(point="student_size").drop_vars("N")
    np.testing.assert_allclose(plan["student_loss"], plain["student_loss"] * np.exp(distilled))
    np.testing.assert_array_equal(plan["student_tokens"], plain["student_tokens"])  # the plan is the law's
    # Where the distilled student's law errs upwards more than the supervised one's, supervised training catches up
    # at a budget no larger than the law alone says, and vice versa.
    cross, plain_cross = post.crossover([1e9], seed=3), joint_posterior.crossover([1e9])
    shift = (post.law_error("distilled", [1e9], seed=3) - post.law_error("supervised", [1e9], seed=3)).values
    with np.errstate(invalid="ignore"):  # inf / inf where distillation wins throughout in both
        ratio = cross["compute"].values / plain_cross["compute"].values
    later, earlier = ratio > 1.01, ratio < 1 / 1.01
    assert cross.attrs["law_error"] == 1 and np.any(later) and np.any(earlier)
    assert np.all(shift[later] < 0) and np.all(shift[earlier] > 0)


def test_a_crossover_shifted_by_the_laws_errors_moves_with_them():
    # A log-loss offset that favours supervised training (positive: the distilled student does worse than its law
    # says) brings the crossover to a lower budget; a large one makes supervised training win throughout.
    plain = float(bd.crossover(1e9, "teacher-inference", TRUTH)["compute"].squeeze())
    lower = float(bd.crossover(1e9, "teacher-inference", TRUTH, log_loss_offset=0.005)["compute"].squeeze())
    higher = float(bd.crossover(1e9, "teacher-inference", TRUTH, log_loss_offset=-0.005)["compute"].squeeze())
    assert lower < plain < higher
    never = bd.crossover(1e9, "teacher-inference", TRUTH, log_loss_offset=1.0)
    assert int(never["outcome"].squeeze()) == -1


def test_every_size_of_a_kind_whose_runs_share_two_sizes_has_a_law_error():
    from bayes_distill.inference.model import law_error_levels

    kind = np.array(["supervised", "supervised", "supervised", "supervised", "supervised", "distilled", "distilled"])
    N = np.array([1e8, 1e8, 2e8, 2e8, 3e8, 1e8, 1e8])
    labels, index = law_error_levels(kind, N)
    # Supervised runs share two sizes, so their lone size (3e8) has an error too; distilled runs share only one.
    assert labels.tolist() == ["supervised N=100000000.0", "supervised N=200000000.0", "supervised N=300000000.0"]
    assert index.tolist() == [0, 0, 1, 1, 2, -1, -1]
    # Checkpoints of one training run (one group) do not share a size: their group's offset is theirs.
    group = np.array(["a", "a", "b", "c", "d", "e", "f"])
    assert law_error_levels(kind, N, group)[1].tolist() == [-1] * 7
    with pytest.raises(ValueError, match="law_error=True needs runs that share a student size"):
        bd.fit(simulated_runs(20), law_error=True)  # every run its own size


def test_a_fit_with_the_law_error_learns_its_spread_apart_from_the_noise(tmp_path):
    # 8 sizes x 4 token budgets whose log losses share a 2% offset per size: the fit learns that spread, finds the
    # sizes' offsets (but for the mean, trend and curvature in log N it leaves to the law), keeps the runs' noise
    # apart from it, and adds it to a prediction at a larger size.
    rng = np.random.default_rng(4)
    sizes = np.geomspace(1e8, 3e9, 8)
    N, D = np.repeat(sizes, 4), np.repeat(sizes, 4) * np.tile([10.0, 25.0, 60.0, 150.0], 8)
    offsets = rng.normal(0.0, 0.02, 8)
    loss = bd.supervised_loss(N, D, TRUTH) * np.exp(np.repeat(offsets, 4) + rng.normal(0.0, 0.003, N.size))
    frame = pd.DataFrame({"run": [f"r{i}" for i in range(N.size)], "kind": "supervised", "N": N, "D": D, "loss": loss})
    kw = {"chains": 2, "draws": 300, "warmup": 300, "seed": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bd.inference.FitWarning)  # short chains
        with_error, without = bd.fit(frame, law_error=True, **kw), bd.fit(frame, law_error=False, **kw)
    assert with_error.tree.attrs["law_error"] == 1 and with_error.posterior.sizes["size"] == 8
    lo, hi = np.quantile(with_error.posterior["law_error"].values, [0.05, 0.95])
    assert lo < 0.02 < hi, (lo, hi)
    from bayes_distill.inference.model import law_error_directions

    directions = law_error_directions(np.full(8, "supervised"), sizes)
    projected = directions @ directions.T @ offsets
    fitted = with_error.law_error("supervised", sizes).mean(("chain", "draw")).values  # each size's own
    assert np.corrcoef(fitted, projected)[0, 1] > 0.9
    # The law error is not taken for noise, as it is by a fit that has no other place for it.
    noise = [float(p.posterior["sigma_supervised"].median()) for p in (with_error, without)]
    assert noise[0] < 0.006 < 0.012 < noise[1], noise
    width = [np.diff(np.quantile(with_error.predict([2e10], [4e11], law_error=e).values, [0.05, 0.95]))[0]
             for e in (True, False)]
    assert width[0] > 2 * width[1], width
    again = bd.load_posterior(with_error.save(tmp_path / "law_error.nc"))
    xr.testing.assert_identical(again.predict(N, D), with_error.predict(N, D))  # fitted sizes: their own offsets


def test_a_run_alone_at_its_size_carries_that_sizes_law_error():
    # 4 sizes x 3 budgets and one run alone at a fifth size, 4% above the law: the fit gives the lone size an offset
    # like the others' (the run is not the law's exact value there), which leans towards the 4% (the law takes the
    # rest, as it takes every size's mean, trend and curvature), and predicts at that size with the offset it fitted.
    rng = np.random.default_rng(1)
    N = np.append(np.repeat(np.geomspace(5e7, 4e8, 4), 3), 1.5e9)
    D = N * np.append(np.tile([10.0, 30.0, 90.0], 4), 20.0)
    loss = bd.supervised_loss(N, D, TRUTH) * np.exp(rng.normal(0.0, 0.003, N.size) + np.append(np.zeros(12), 0.04))
    frame = pd.DataFrame({"run": [f"r{i}" for i in range(N.size)], "kind": "supervised", "N": N, "D": D, "loss": loss})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bd.inference.FitWarning)  # short chains
        post = bd.fit(frame, chains=2, draws=300, warmup=300, seed=0)
    lone = f"supervised N={1.5e9!r}"
    assert lone in post.posterior["size"].values and post.posterior.sizes["size"] == 5
    offset = post.posterior["law_error_offset"].sel(size=lone)
    assert float(offset.mean()) > 0, float(offset.mean())
    np.testing.assert_array_equal(post.law_error("supervised", [1.5e9]).isel(point=0), offset)


def test_the_law_error_at_a_new_size_grows_with_its_distance_from_the_fitted_sizes(joint_posterior):
    # The law took over the fitted sizes' offsets' mean, trend and curvature in log N and extrapolates them its own
    # way: at a new size the error is its own offset (spread law_error) less that part carried out, so its spread
    # is above law_error and grows with the distance from the fitted sizes, but as the law's terms fade, far less
    # than a quadratic in log N would.
    from bayes_distill.inference.model import law_error_basis
    from bayes_distill.posterior import Posterior

    sizes = np.geomspace(1e8, 1e9, 5)
    kind = joint_posterior.runs["kind"].values.astype(str)
    N = joint_posterior.runs["N"].values.copy()
    N[kind == "supervised"] = np.resize(sizes, int((kind == "supervised").sum()))
    runs = joint_posterior.runs.assign(N=("run", N))
    post = _with_law_error(Posterior(joint_posterior.tree, runs, joint_posterior.fix, joint_posterior.nu))
    far = np.array([1.5e9, 1e10, 1e11, 1e12])
    spread = post.law_error("supervised", far, seed=0).std(("chain", "draw")).values
    assert np.all(spread > 0.01) and np.all(np.diff(spread) > 0), spread
    basis, fitted = law_error_basis(sizes, far), law_error_basis(sizes, sizes)
    quadratic = 0.01 * np.sqrt(1 + np.einsum("ij,jk,ik->i", basis, np.linalg.inv(fitted.T @ fitted), basis))
    assert spread[-1] < quadratic[-1] / 3, (spread, quadratic)
    # No distilled size is shared by several runs: a distilled student's error is its own offset alone.
    assert float(post.law_error("distilled", [1e11], seed=0).std()) == pytest.approx(0.01, rel=0.12)


def test_the_law_carries_what_it_absorbed_through_its_own_jacobian(joint_posterior):
    # Offsets at the fitted sizes that a move v of the coefficients makes exactly (J_F v), with data far more
    # precise than the posterior: the coefficients absorb them by that move, and at a new size the law makes J v.
    from bayes_distill.posterior.law_error import FittedSizes, absorbing_move, directional_derivative, log_loss_jacobian

    params, names = joint_posterior.params(), ["E", "A", "alpha"]
    sizes = np.geomspace(1e8, 1e9, 5)
    run_N = np.repeat(sizes, 2)
    fitted = FittedSizes("supervised", sizes, np.repeat(np.arange(5), 2), (run_N, run_N * 20))
    move = np.array([0.01, -0.03, 0.002])
    absorbed = log_loss_jacobian("supervised", params, names, (sizes, sizes * 20)) @ move  # (chain, draw, size)
    precision = np.full(absorbed.shape[:2], 1e12)
    new = np.array([3e9, 1e11])
    carried = directional_derivative("supervised", params, names,
                                     absorbing_move(fitted, params, names, precision, absorbed), (new, new * 20))
    expected = log_loss_jacobian("supervised", params, names, (new, new * 20)) @ move
    np.testing.assert_allclose(carried, expected, rtol=1e-3, atol=1e-6)
    assert np.abs(expected).max() > 1e-3  # a move that matters


def test_the_log_loss_jacobian_is_the_laws_derivative(joint_posterior):
    from bayes_distill.posterior.law_error import log_loss_jacobian

    params, N, D = joint_posterior.params(), np.array([1e8, 1e10]), np.array([2e9, 4e11])
    jacobian = log_loss_jacobian("supervised", params, ["E", "gamma"], (N, D))
    law = bd.LawParams.from_mapping({k: params[k].values for k in ["E", "A", "B", "alpha", "beta", "gamma"]})
    loss = bd.supervised_loss(N, D, law)
    E = params["E"].values[..., None]
    np.testing.assert_allclose(jacobian[..., 0], E / loss, rtol=1e-6)  # d log L / d log E = E / L
    reducible = loss - E  # (A / N^alpha + B / D^beta)^gamma, whose log is linear in gamma
    np.testing.assert_allclose(jacobian[..., 1], reducible * np.log(reducible) / loss, rtol=1e-5)  # d / d log gamma


def test_a_singular_system_of_the_law_errors_move_gets_its_least_squares_answer():
    # A degenerate posterior (a noise scale near 0, draws that barely move) makes the absorbing move's system
    # singular: the stack is solved by the pseudo-inverse, which agrees with the exact solve where one exists.
    from bayes_distill.posterior.law_error import _solve

    matrices = np.stack([np.array([[2.0, 0.0], [0.0, 4.0]]), np.array([[1.0, 0.0], [0.0, 0.0]])])
    rhs = np.array([[[2.0], [8.0]], [[3.0], [5.0]]])
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.solve(matrices, rhs)
    np.testing.assert_allclose(_solve(matrices, rhs)[..., 0], [[1.0, 2.0], [3.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(_solve(matrices[:1], rhs[:1])[..., 0], [[1.0, 2.0]], atol=1e-12)


def test_chains_that_disagree_are_adapted_again_with_one_mass_matrix(monkeypatch):
    # Chains that fail the diagnostics where more draws cannot mend them (here an R-hat of 1.2 in the first pass,
    # no divergences) sample once more from their last draws with one pooled mass matrix, the first draws serving
    # as warm-up, and the record says so; extend=False keeps the draws.
    from bayes_distill.inference import fit as fit_module

    real_mixing, seen = fit_module.mixing, []

    def apart_at_first(tree):
        rhat, ess = real_mixing(tree)
        if not seen:
            seen.append(tree)
        return ({k: 1.2 for k in rhat} if tree is seen[0] else rhat), ess

    passes = []
    real_run_pass = fit_module._run_pass

    def recorded(args, where, key, chains):
        passes.append((where, real_run_pass(args, where, key, chains)))
        return passes[-1][1]

    frame = simulated_runs(n_supervised=30, seed=4)
    kw = {"chains": 2, "draws": 101, "warmup": 100, "seed": 0, "target_accept": 0.9}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kept = bd.fit(frame, extend=False, **kw)
        monkeypatch.setattr(fit_module, "mixing", apart_at_first)
        monkeypatch.setattr(fit_module, "_run_pass", recorded)
        monkeypatch.setattr(fit_module, "_short_of_goal", lambda tree, fs: False)
        again = bd.fit(frame, **kw)
    assert again.tree.attrs["readapted"].startswith("after R-hat 1.200 and ESS ")
    assert again.tree.attrs["readapted"].endswith(" in 101 draws per chain")
    assert "readapted" not in kept.tree.attrs
    assert len(passes) == 2
    (_, first), (readapt, _) = passes
    assert readapt.settings.warmup == 100 and not readapt.settings.adapt_mass_matrix
    np.testing.assert_array_equal(readapt.inverse_mass_matrices[0], readapt.inverse_mass_matrices[1])
    for site, values in readapt.starts.items():  # each chain goes on from its own last draw
        np.testing.assert_array_equal(values, np.asarray(first.unconstrained[site])[:, -1])
    assert again.posterior.sizes["draw"] == 101
    assert not np.allclose(again.posterior["B"].values, kept.posterior["B"].values)


def test_the_sampler_record_says_what_the_fit_rules_did():
    import arviz_base

    tree = arviz_base.from_dict({"posterior": {"E": np.zeros((2, 3))}})
    tree.attrs = {"coordinates": "power-law terms", "target_accept": 0.9}
    assert bd.inference.sampler_record(tree) == []  # sampled once, as set
    tree.attrs = {"coordinates": "coefficients (in power-law term coordinates 40 transitions diverged)",
                  "target_accept": 0.99, "target_accept_raised": "from 0.9 after 3 divergent transitions",
                  "readapted": "after R-hat 1.071 and ESS 21 in 2500 draws per chain",
                  "draws_extended": "from 2500 to 3750 per chain"}
    assert bd.inference.sampler_record(tree) == [
        "sampled in the coefficients (in power-law term coordinates 40 transitions diverged)",
        "raised the target acceptance from 0.9 after 3 divergent transitions (to 0.99)",
        "adapted the chains again after R-hat 1.071 and ESS 21 in 2500 draws per chain, from their last draws with "
        "one pooled mass matrix (the earlier draws as warm-up)",
        "continued the chains from 2500 to 3750 per chain"]
