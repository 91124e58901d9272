"""The data layer, the NumPyro fit and the posterior queries, on small simulated data (fast settings)."""

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import bayes_distill as bd
from bayes_distill.cli import main
from bayes_distill.laws import PAPER

TRUTH = PAPER.replace(B_prime=2e6)


def simulated_runs(n_supervised=60, n_distilled=0, noise=0.005, seed=0):
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(3e7), np.log(3e9), n_supervised))
    D = N * np.exp(rng.uniform(np.log(5), np.log(300), n_supervised))
    rows = {"kind": ["supervised"] * n_supervised, "N": N, "D": D,
            "loss": bd.supervised_loss(N, D, TRUTH) * np.exp(rng.normal(0, noise, n_supervised)),
            "teacher_loss": np.full(n_supervised, np.nan)}
    frame = pd.DataFrame(rows)
    if n_distilled:
        N_S = np.exp(rng.uniform(np.log(1e8), np.log(3e9), n_distilled))
        D_S = N_S * np.exp(rng.uniform(np.log(10), np.log(300), n_distilled))
        L_T = rng.uniform(1.9, 2.8, n_distilled)
        distilled = pd.DataFrame({"kind": "distilled", "N": N_S, "D": D_S, "teacher_loss": L_T,
                                  "loss": bd.distilled_loss(N_S, D_S, L_T, TRUTH)
                                  * np.exp(rng.normal(0, noise, n_distilled))})
        frame = pd.concat([frame, distilled], ignore_index=True)
    frame["run"] = [f"r{i}" for i in range(len(frame))]
    return frame


def test_load_runs_reads_every_format(tmp_path):
    frame = simulated_runs(10)
    frame.to_csv(tmp_path / "runs.csv", index=False)
    frame.to_parquet(tmp_path / "runs.parquet") if _has_parquet() else None
    runs = bd.load_runs(tmp_path / "runs.csv")
    assert runs.sizes["run"] == 10 and set(runs.data_vars) >= {"kind", "N", "D", "loss", "teacher_loss", "group"}
    runs.to_netcdf(tmp_path / "runs.nc", engine="h5netcdf")
    again = bd.load_runs(tmp_path / "runs.nc")
    np.testing.assert_array_equal(again["loss"], runs["loss"])


def _has_parquet():
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="loss"), r"missing the columns \['loss'\]"),
        (lambda f: f.assign(N=f.N.where(f.index != 3, -5.0)), r"column 'N' must be finite and > 0; bad values \[-5.0\] "
                                                               r"in rows r3"),
        (lambda f: f.assign(kind=f.kind.where(f.index != 2, "teacher")), r"unknown values \['teacher'\] in rows r2"),
        (lambda f: f.assign(run=["r0"] * len(f)), "duplicate run ids"),
        (lambda f: f.assign(kind="distilled"), "teacher_loss' must be finite and > 0 for distilled runs"),
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
    return bd.fit(simulated_runs(60), chains=2, draws=400, warmup=400, seed=1, starts=4)


def test_supervised_fit_covers_the_truth_and_predicts(supervised_posterior, tmp_path):
    post = supervised_posterior
    summary = post.summary()
    for name in ("alpha", "beta", "gamma", "E"):
        lo, hi = summary.loc[name, "eti90_lb"], summary.loc[name, "eti90_ub"]
        # The coefficients trade off; a 99% check on each keeps the test honest without flakiness.
        draws = post.posterior[name].values.ravel()
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
    chinchilla = bd.fit(simulated_runs(60), fix={"gamma": 1.0}, chains=2, draws=300, warmup=300, seed=2, starts=4)
    assert "gamma" not in chinchilla.free_coefficients
    assert np.all(chinchilla.params()["gamma"] == 1.0)
    table = supervised_posterior.compare(chinchilla, names=("gamma free", "gamma = 1"))
    assert table.index[0] == "gamma free"  # the data were made with gamma = 0.452
    with pytest.raises(ValueError, match="fix has unknown coefficients"):
        bd.fit(simulated_runs(10), fix={"zeta": 1.0})


def test_joint_svi_fit_answers_planner_queries(tmp_path):
    frame = simulated_runs(40, 80)
    post = bd.fit(frame, method="svi", chains=1, draws=200, svi_steps=1500, seed=3, starts=4)
    p = post.prob_distillation_wins([1e9], [1e20, 1e24])
    assert p.dims == ("student_size", "compute")
    assert float(p.min()) >= 0.0 and float(p.max()) <= 1.0
    plan = post.allocate(1e9, 1e21)
    assert plan.student_loss.dims == ("chain", "draw", "student_size", "compute")
    frame.to_csv(tmp_path / "runs.csv", index=False)


def test_cli_fit_then_plan_with_posterior(tmp_path, capsys):
    simulated_runs(40, 60).to_csv(tmp_path / "runs.csv", index=False)
    code = main(["fit", str(tmp_path / "runs.csv"), "--out", str(tmp_path / "p.nc"), "--method", "svi",
                 "--chains", "1", "--draws", "200", "--accept-warnings"])
    assert code == 0 and (tmp_path / "p.nc").exists()
    assert main(["plan", "--posterior", str(tmp_path / "p.nc"), "--student", "1e9", "--compute", "1e21"]) == 0
    out = capsys.readouterr().out
    assert "median [5%, 95%]" in out and "1e+09" in out


def test_levenberg_marquardt_reaches_the_rosenbrock_minimum():
    import jax.numpy as jnp

    from bayes_distill.inference.fit import NEWTON_STEPS, _levenberg_marquardt

    def rosenbrock(x):
        return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2

    x, value = _levenberg_marquardt(rosenbrock, jnp.array([-1.5, 2.0]), NEWTON_STEPS)
    np.testing.assert_allclose(np.asarray(x), [1.0, 1.0], atol=1e-6)
    assert float(value) < 1e-12


def test_reparameterised_sites_map_back_to_the_coefficients(supervised_posterior):
    # log_A_term = gamma * (log A - alpha * log N_ref) and alpha_gamma = alpha * gamma, draw by draw
    post = supervised_posterior.posterior
    log_reference_size = np.mean(np.log(supervised_posterior.runs["N"].values))
    np.testing.assert_allclose(post["alpha_gamma"], post["alpha"] * post["gamma"], rtol=1e-10)
    np.testing.assert_allclose(post["log_A_term"],
                               post["gamma"] * (np.log(post["A"]) - post["alpha"] * log_reference_size), rtol=1e-8)


def test_demo_trains_fits_and_plans(tmp_path, capsys):
    from pathlib import Path

    smoke = Path(__file__).resolve().parents[1] / "experiments" / "smoke.toml"
    out = tmp_path / "demo"
    args = ["--spec", str(smoke), "--out", str(out), "--chains", "2", "--draws", "100", "--warmup", "100"]
    assert main(["demo", *args]) == 0
    printed = capsys.readouterr().out
    assert "L_S distilled" in printed and "eti90_lb" in printed and "diagnostics:" in printed
    assert "E held at the source's exact loss floor" in printed
    assert "Crossover (teacher-inference)" in printed
    again = bd.load_posterior(out / "posterior.nc")
    assert again.runs.sizes["run"] == bd.load_runs(out / "runs.nc").sizes["run"]


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


def test_a_compiled_fit_serves_new_data_and_priors_of_the_same_design():
    # The runs' values and the prior's numbers are the compiled programs' arguments, not constants: a second table
    # of the same design (and another prior of the same form) reuses the programs and gets exactly the posterior
    # that programs compiled for it afresh give; a stale constant would return the first table's posterior.
    from bayes_distill.inference import fit as fit_module
    from bayes_distill.inference.priors import Prior

    first, second = simulated_runs(n_supervised=40, seed=1), simulated_runs(n_supervised=40, seed=2)
    kw = {"chains": 2, "draws": 150, "warmup": 150, "seed": 0}
    prior = {"alpha": Prior("uniform", 0.1, 0.9), "E": Prior("uniform", 0.5, 1.8)}  # the default's form
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short chains; equality is what is tested
        bd.fit(first, **kw)
        programs = dict(fit_module._PROGRAMS)
        reused = bd.fit(second, **kw)
        assert programs == fit_module._PROGRAMS  # no new program for the second table
        reused_prior = bd.fit(second, prior=prior, **kw)
        assert programs == fit_module._PROGRAMS
        fit_module._PROGRAMS.clear()
        fresh = bd.fit(second, **kw)
        fresh_prior = bd.fit(second, prior=prior, **kw)
    for a, b in ((reused, fresh), (reused_prior, fresh_prior)):
        for name in ("E", "A", "alpha", "gamma", "sigma_supervised"):
            np.testing.assert_array_equal(a.posterior[name].values, b.posterior[name].values)
        np.testing.assert_array_equal(a.tree["log_likelihood"]["log_loss"].values,
                                      b.tree["log_likelihood"]["log_loss"].values)
    assert not np.allclose(reused.posterior["E"].values, reused_prior.posterior["E"].values)
    assert len(fit_module._PROGRAMS) == 3  # optimiser, sampler, per-draw quantities: shared by both priors


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
    assert len(leaves) == 6  # N, D, log loss, teacher loss, and the two reference sizes
    again = jax.tree.unflatten(structure, leaves)
    np.testing.assert_array_equal(again.distilled, [5, 6, 7])  # the design travels in the structure
    assert jax.tree.structure(RunArrays.from_runs(bd.load_runs(simulated_runs(n_supervised=8)))) != structure


def test_divergences_at_the_default_target_make_the_fit_sample_again_more_carefully(monkeypatch):
    # With target_accept=None a fit whose transitions diverge samples again towards 0.99 (one more sampler
    # compiled); a target given explicitly is kept. An acceptance target of 0.3 makes
    # steps long enough to diverge on these runs.
    from bayes_distill.inference import fit as fit_module

    monkeypatch.setattr(fit_module, "TARGET_ACCEPT", 0.3)
    frame = simulated_runs(n_supervised=40, seed=4)
    kw = {"chains": 2, "draws": 200, "warmup": 200, "seed": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        given = bd.fit(frame, target_accept=0.3, **kw)
        programs = len(fit_module._PROGRAMS)
        auto = bd.fit(frame, **kw)
    diverged = int(given.tree["sample_stats"]["diverging"].sum())
    assert diverged > 0 and given.tree.attrs["target_accept"] == 0.3 and "target_accept_raised" not in given.tree.attrs
    assert auto.tree.attrs["target_accept"] == 0.99
    assert auto.tree.attrs["target_accept_raised"] == f"from 0.3 after {diverged} divergent transitions"
    assert int(auto.tree["sample_stats"]["diverging"].sum()) < diverged
    assert len(fit_module._PROGRAMS) == programs + 1  # the sampler for 0.99


def test_the_pymc_twin_follows_the_same_target_rule(monkeypatch):
    # PyMC's twin: the same rule as NumPyro's (sample again at 0.99 after divergences when no target is given),
    # recorded in the same attributes.
    pytest.importorskip("pymc")
    from bayes_distill.inference import fit as fit_module

    monkeypatch.setattr(fit_module, "TARGET_ACCEPT", 0.1)  # PyMC diverges here at 0.1, not at 0.3
    frame = simulated_runs(n_supervised=40, seed=4)
    kw = {"backend": "pymc", "chains": 2, "draws": 200, "warmup": 200, "seed": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        given = bd.fit(frame, target_accept=0.1, **kw)
        auto = bd.fit(frame, **kw)
    diverged = int(given.tree["sample_stats"]["diverging"].sum())
    assert diverged > 0 and given.tree.attrs["target_accept"] == 0.1 and "target_accept_raised" not in given.tree.attrs
    assert auto.tree.attrs["target_accept"] == 0.99 and auto.tree.attrs["backend"] == "pymc"
    assert auto.tree.attrs["target_accept_raised"] == f"from 0.1 after {diverged} divergent transitions"
    assert int(auto.tree["sample_stats"]["diverging"].sum()) < diverged


def test_the_pymc_twin_leaves_a_funnel_for_the_coefficients_coordinates(monkeypatch):
    # As NumPyro's fit: divergences in half the chains or more send the twin to the coefficients' own coordinates.
    pytest.importorskip("pymc")
    from bayes_distill.inference import fit as fit_module

    calls = []
    monkeypatch.setattr(fit_module, "_is_funnel", lambda diverging: not calls.append(np.shape(diverging)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = bd.fit(simulated_runs(n_supervised=40, seed=4), backend="pymc", chains=2, draws=100, warmup=100,
                      seed=0, target_accept=0.9)
    assert calls == [(2, 100)]
    assert post.tree.attrs["coordinates"].startswith("coefficients (in power-law term coordinates")
    names = set(post.tree["posterior"].data_vars)
    assert {"log_A", "alpha", "gamma"} <= names and not {"alpha_gamma", "log_A_term"} & names


def test_chains_vectorised_on_one_device_sample_the_posterior_of_pmapped_chains(monkeypatch):
    # On a GPU (one device) the chains run vectorised; here JAX sees four host devices and the chains run pmapped.
    # Both run the same per-chain program (rounding differs, so the draws do): the posteriors must agree.
    import jax

    from bayes_distill.inference import fit as fit_module

    frame = simulated_runs(n_supervised=30, seed=5)
    kw = {"chains": 4, "draws": 400, "warmup": 400, "seed": 0, "target_accept": 0.9}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pmapped = bd.fit(frame, **kw).tree["posterior"]
        monkeypatch.setattr(jax, "local_device_count", lambda *args, **kwargs: 1)
        vectorised = bd.fit(frame, **kw).tree["posterior"]
    methods = {key[0][-1] for key in fit_module._PROGRAMS if key[0][:5] == ("nuts", 4, 400, 400, 0.9)}
    assert methods == {"pmap", "vmap"}  # two programs: the chain method is part of a program's key
    for name in ("E", "alpha", "beta", "gamma"):
        a, b = pmapped[name].values, vectorised[name].values
        assert abs(a.mean() - b.mean()) < 0.25 * a.std(), (name, a.mean(), b.mean(), a.std())


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
    for name, law in (("log_d1", stats.norm(0.0, 0.5)), ("log_c1", stats.norm(4.0, 2.0)),
                      ("f1", stats.uniform(0.01, 1.99)), ("alpha", stats.uniform(0.0, 2.0)),
                      ("log_B_prime", stats.norm(9.0, 4.0)), ("beta_prime", stats.uniform(0.0, 2.0))):
        assert stats.kstest(prior[name].values.ravel(), law.cdf).pvalue > 0.01, name


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
