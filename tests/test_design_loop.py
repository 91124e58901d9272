"""The closed loop (``bayes_distill.loop.Design``): rounds of training, fitting and suggesting, kept on disk and
resumed after a kill -9 without retraining. The runner's jobs are answered by the supervised law (``LawExecutor``)
so that the loop, not the training, is what is tested; the real runner is exercised by the CLI test."""

import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import warnings
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_distill as bd
from bayes_distill.laws import PAPER

SPEC = """
name = "design"
seeds = [1]
[data]
source = "markov"
vocab_size = 32
context_length = 32
[model]
aspect_ratio = 32
head_dim = 32
[train]
batch_size = 32
[[family]]
kind = "supervised_grid"
layers = [1, 2, 3, 4]
tokens_per_param = [2, 8, 32, 128]
"""


class LawExecutor:
    """Answers each job at once with the supervised law's loss (0.5% noise, seeded by the run), as the runner's
    worker would write it; lists the jobs it answered in ``trained.txt``, and kills its process once ``kill_after``
    result files exist."""

    workers = threads = 1

    def __init__(self, out: Path, kill_after: int | None = None) -> None:
        self.out, self.kill_after = Path(out), kill_after

    def submit(self, fn, payload, out_dir, threads):  # noqa: ANN001, ANN201, ARG002 - the runner's call
        from bayes_distill.runner.model import ModelConfig
        from bayes_distill.runner.sweep import n_params, write_json_atomic

        N = float(n_params(ModelConfig(**payload["model"])))
        rows = []
        for run, D in zip(payload["row_ids"], payload["budgets"], strict=True):
            noise = np.random.default_rng(int(run[:8], 16)).normal(0.0, 0.005)
            rows.append({"run": run, "status": "ok", "loss": float(bd.supervised_loss(N * 1e4, D * 1e4, PAPER))
                         * float(np.exp(noise))})
        results = Path(out_dir) / "results"
        write_json_atomic(results / f"{payload['id']}.json", rows)
        with open(self.out / "trained.txt", "a") as log:
            log.write(payload["id"] + "\n")
        if self.kill_after is not None and len(list(results.glob("*.json"))) >= self.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        future: Future = Future()
        future.set_result(rows)
        return future

    def close(self) -> None:
        pass


def design(tmp_path: Path, executor, budget_share: float = 0.3, width=None, round_budget=math.inf):  # noqa: ANN001, ANN201
    from bayes_distill.loop import Design
    from bayes_distill.runner.sweep import expand, load_spec, model_config, n_params

    spec_path = tmp_path / "design.toml"
    spec_path.write_text(SPEC)
    largest = float(n_params(model_config(load_spec(spec_path), 6)))
    target = pd.DataFrame({"kind": ["supervised"], "N": [largest], "D": [20 * largest]})
    total = sum(job["cost"] for job in expand(load_spec(spec_path))[1])
    return Design(spec_path, tmp_path / "loop", target, budget=budget_share * total, width=width, starting_runs=6,
                  fit_options={"chains": 2, "draws": 200, "warmup": 200, "fix": {"E": PAPER.E}},
                  run_options={"executor": executor}, seed=0, round_budget=round_budget)


@pytest.mark.filterwarnings("ignore")  # short chains on few runs
def test_the_loop_trains_the_start_then_the_suggested_runs_within_the_budget(tmp_path):
    loop = design(tmp_path, LawExecutor(tmp_path))
    rounds = loop.run()
    table = loop.table()
    assert len(rounds) >= 2 and rounds[0].number == 0
    assert table.loc[table["run"].isin(rounds[0].trained), "N"].nunique() >= 3  # the start spans three sizes
    assert all(r.spent <= loop.budget for r in rounds)
    left = table.loc[table["status"] == "not run", "cost"]
    assert left.min() > loop.budget - rounds[-1].spent  # nothing left that fits
    assert loop.stop_reason().startswith(f"no run left fits the {loop.budget - rounds[-1].spent:.3g} FLOPs left")
    trained = [run for r in rounds for run in r.trained]
    assert len(trained) == len(set(trained)) == int((table["status"] == "ok").sum())
    assert [r.spent for r in rounds] == sorted(r.spent for r in rounds)
    assert rounds[-1].width < rounds[0].width  # the target is surer after the suggested runs
    history = loop.history()
    assert history["round"].tolist() == [r.number for r in rounds]
    assert loop.posterior().runs.sizes["run"] == len(trained)
    # Each suggested batch's expected cut of the target's variance is kept beside its refit's.
    assert np.isnan(history.loc[0, ["expected_cut", "realised_cut"]].astype(float)).all()
    later = history.iloc[1:]
    # The first suggested batch is expected to cut a clear share; a later one may be expected to cut next to nothing
    # (the reweighted estimate is clipped at 0 when its Monte Carlo error takes it below).
    assert 0 < later["expected_cut"].iloc[0] < 1 and later["expected_cut"].between(0, 1).all()
    assert later["realised_cut"].iloc[0] == pytest.approx(1 - rounds[1].variance / rounds[0].variance, rel=1e-12)
    assert later["realised_cut"].iloc[0] > 0
    # The target's posterior mean is kept too (for a wins target, the probability that distillation wins).
    first = bd.posterior.design.target_quantities(loop.posterior(0), loop.target).mean(("chain", "draw"))
    assert history.loc[0, "mean"] == pytest.approx(float(first[0]), rel=1e-12)
    assert (history["low"] < history["mean"]).all() and (history["mean"] < history["high"]).all()


@pytest.mark.filterwarnings("ignore")  # short chains on few runs
def test_a_rounds_budget_spreads_the_spend_over_rounds_each_picked_from_the_last_refit(tmp_path):
    from dataclasses import replace

    from bayes_distill.loop.design import Plan

    loop = design(tmp_path, LawExecutor(tmp_path))
    table = loop.table()
    start = table.loc[table["run"].isin(loop._starting_runs(table)), "cost"].sum()
    per_round = (loop.budget - start) / 3
    loop = replace(loop, round_budget=per_round)
    rounds = loop.run()
    spent = np.diff([r.spent for r in rounds])
    assert len(rounds) >= 3 and (spent > 0).all()
    # A round spends at most its budget, unless it is one run dearer than that (the head of the batch, always).
    assert all(cost <= per_round or len(r.trained) == 1 for cost, r in zip(spent, rounds[1:], strict=True))
    assert rounds[-1].spent <= loop.budget
    left = loop.table().query("status == 'not run'")["cost"]
    assert left.min() > loop.budget - rounds[-1].spent  # the loop went on until no run fit the budget left
    # Each later round's plan was written before it trained, and is what it trained (no teachers in this grid).
    assert [set(Plan.read(loop._path(r.number, ".plan.json")).runs) == set(r.trained) for r in rounds[1:]] == \
        [True] * (len(rounds) - 1)


@pytest.mark.filterwarnings("ignore")  # short chains on few runs
def test_a_round_trains_the_head_of_the_batch_planned_for_the_budget_left(tmp_path, capsys):
    # A receding horizon: the batch is planned for all the budget left, and a round trains its first picks as far as
    # they fit the round's budget, and always the first, however dear: a round's budget shuts out no run.
    from bayes_distill.cli import main
    from bayes_distill.posterior.design import expected_cut

    for bad in (-1.0, math.nan):
        with pytest.raises(ValueError, match=rf"round_budget must be a number of FLOPs > 0 .* got {bad!r}"):
            design(tmp_path, LawExecutor(tmp_path), round_budget=bad)
    code = main(["design", str(tmp_path / "design.toml"), "--out", str(tmp_path / "cli"), "--budget", "1e20",
                 "--target", "crossover:1e9", "--round-budget", "0"])
    assert code == 2 and "error: round_budget must be a number of FLOPs > 0" in capsys.readouterr().err
    loop = design(tmp_path, LawExecutor(tmp_path), round_budget=1.0)  # below every run's cost
    loop.step()  # round 0
    table = loop.table()
    left = loop._candidates(table)
    budget_left = loop.budget - loop.rounds()[0].spent
    post = loop.posterior(0).with_architecture(loop.architecture())
    whole = post.suggest_runs(left[left["cost"] <= budget_left].drop(columns="cost"), loop.target, budget_left)
    first = str(whole["candidate"].values[whole["pick_order"].values == 0][0])
    assert int(whole["selected"].sum()) > 1  # the batch for the budget left holds more than the round takes
    preview = loop.preview()
    assert preview["run"].tolist() == [first] and preview.attrs["cost"] > 1.0
    head = post.assess_batch(left[left["run"] == first].drop(columns="cost"), loop.target)
    assert preview.attrs["expected_cut"] == pytest.approx(expected_cut(head), rel=1e-12)  # the head's, not the batch's
    assert expected_cut(head) != pytest.approx(expected_cut(whole), rel=1e-6)
    assert loop.step().trained == [first]


@pytest.mark.filterwarnings("ignore")  # short chains on few runs
def test_by_default_a_round_spends_a_tenth_of_the_budget_left_after_round_0(tmp_path):
    from dataclasses import replace

    from bayes_distill.loop.design import ROUNDS
    from bayes_distill.posterior.design import batch_head, picked_in_order

    loop = design(tmp_path, LawExecutor(tmp_path), round_budget=None)
    with pytest.raises(ValueError, match="1/ROUNDS of the budget left after round 0, which has not run yet"):
        loop.round_limit()
    loop.step()  # round 0
    per_round = (loop.budget - loop.rounds()[0].spent) / ROUNDS
    assert ROUNDS == 10 and loop.round_limit() == pytest.approx(per_round, rel=1e-12)
    table = loop.table()
    left = loop._candidates(table)
    budget_left = loop.budget - loop.rounds()[0].spent
    post = loop.posterior(0).with_architecture(loop.architecture())
    batch = picked_in_order(post.suggest_runs(left[left["cost"] <= budget_left].drop(columns="cost"), loop.target,
                                              budget_left))
    head = batch_head(batch, lambda runs: table.set_index("run").loc[runs, "cost"].sum(), per_round)
    assert 1 <= len(head) < len(batch)  # the round trains the batch's first picks, not all of it
    assert sorted(loop.preview()["run"]) == sorted(head)  # the preview's rows are in the table's order
    assert sorted(replace(loop, round_budget=math.inf).preview()["run"]) == sorted(batch)  # the whole batch at once


def test_a_budget_below_round_0s_cost_is_refused_before_anything_is_trained(tmp_path, capsys):
    # The budget counts round 0: when its runs (the cheapest that identify the law: six, and one more to span three
    # sizes; no teachers) cost more, the loop says so and trains nothing, rather than spending past the budget.
    from bayes_distill.cli import main

    loop = design(tmp_path, LawExecutor(tmp_path), budget_share=0.001)
    table = loop.table()
    start = table.loc[table["run"].isin(loop._starting_runs(table)), "cost"].sum()
    stated = (re.escape(f"budget {loop.budget:.3g} FLOPs is less than round 0 costs: its 7 runs (the cheapest")
              + ".* take " + re.escape(f"{start:.3g} FLOPs; give a budget of at least that"))
    with pytest.raises(ValueError, match=stated):
        loop.step()
    assert not (tmp_path / "trained.txt").exists() and not list((tmp_path / "loop" / "rounds").iterdir())
    code = main(["design", str(tmp_path / "design.toml"), "--out", str(tmp_path / "cli"), "--budget",
                 f"{loop.budget:g}", "--target", "crossover:1e9", "--starting-runs", "6"])
    assert code == 2 and "bayes-distill design: error: budget" in capsys.readouterr().err
    assert not (tmp_path / "cli" / "sweep" / "results").exists()


@pytest.mark.filterwarnings("ignore")  # short chains on few runs
def test_the_loop_stops_once_the_target_is_decided(tmp_path):
    loop = design(tmp_path, LawExecutor(tmp_path), width=10.0)  # any interval of log loss is narrower
    assert loop.stop_reason() is None and not loop.finished()  # nothing trained yet
    [start] = loop.run()
    assert start.number == 0 and start.width < 10.0
    assert loop.stop_reason() == f"the target is decided: its widest 90% interval is {start.width:.4g}, under 10"


@pytest.mark.filterwarnings("ignore")
def test_a_loop_killed_midway_resumes_without_retraining(tmp_path):
    script = tmp_path / "loop.py"
    script.write_text(textwrap.dedent(f"""
        import sys, warnings
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from bayes_distill.jax_settings import configure_jax
        from test_design_loop import LawExecutor, design
        from pathlib import Path
        configure_jax()
        warnings.simplefilter("ignore")
        kill_after = int(sys.argv[1]) if len(sys.argv) > 1 else None
        design(Path({str(tmp_path)!r}), LawExecutor(Path({str(tmp_path)!r}), kill_after)).run()
    """))
    killed = subprocess.run([sys.executable, str(script), "8"], capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    before = (tmp_path / "trained.txt").read_text().split()
    assert len(before) == 8
    finished = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-2000:]
    trained = (tmp_path / "trained.txt").read_text().split()
    assert len(trained) == len(set(trained)) > len(before)  # nothing trained twice
    loop = design(tmp_path, LawExecutor(tmp_path))
    rounds = loop.rounds()
    assert sorted(run for r in rounds for run in r.trained) == sorted(
        loop.table().loc[lambda t: t["status"] == "ok", "run"])
    assert loop.finished()
    plans = sorted((tmp_path / "loop" / "rounds").glob("*.plan.json"))
    assert all(set(json.loads(p.read_text())["runs"]) <= set(r.trained) for p, r in zip(plans, rounds, strict=True))


TINY_SPEC = """
name = "tiny-design"
seeds = [1]
[data]
source = "markov"
vocab_size = 16
context_length = 16
[model]
aspect_ratio = 16
head_dim = 16
[train]
batch_size = 16
eval_batches = 2
[[family]]
kind = "supervised_grid"
layers = [1, 2, 3]
tokens_per_param = [1, 4]
"""


def test_the_design_command_trains_fits_and_plots_round_by_round(tmp_path, capsys):
    # The real runner on a tiny sweep: round 0 trains one run of each size, round 1 the batch the posterior suggests
    # for the largest model at 16 tokens per parameter, within a budget that allows a little more than the start.
    from bayes_distill.cli import main
    from bayes_distill.loop import Design

    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY_SPEC)
    out = tmp_path / "loop"
    table = Design(spec, out, None, 1.0).table()  # every run and its cost, none trained
    largest = table["N"].max()
    pd.DataFrame({"kind": ["supervised"], "N": [largest], "D": [16 * largest]}).to_csv(tmp_path / "target.csv")
    start = table.groupby("N")["cost"].min().sum()
    command = ["design", str(spec), "--out", str(out), "--budget", f"{2 * start:.6g}", "--target",
               str(tmp_path / "target.csv"), "--starting-runs", "1", "--chains", "2", "--draws", "200",
               "--workers", "1", "--round-budget", "inf"]  # one batch after round 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(command)
    printed = capsys.readouterr()
    assert "round 0: trained 3 runs" in printed.out and "round 1:" in printed.out
    assert "target 90% interval widest" in printed.out and "(ln L (L: nats/token))" in printed.out  # its units
    assert "the batch was expected to cut the target's variance by" in printed.out.split("round 1:")[1]
    assert "stopped: no run left fits the" in printed.err and "left, the cheapest costs" in printed.err
    # 2 x 200 draws cannot reach ESS 400: the command says so, round by round and of the last, and exits 3.
    assert code == 3 and "warning: round 1's fit: bulk/tail ESS below 400" in printed.err
    assert "the last round's diagnostics failed" in printed.err
    # The last round's warnings were printed as round 1's: said once, not twice; a resumed run prints them anew.
    assert "the last round's fit is round 1's: see its warnings above" in printed.err
    assert "warning: the last round's fit" not in printed.err
    assert main([*command, "--accept-warnings"]) == 0  # resumed: nothing to train or fit, the same verdict
    again = capsys.readouterr()
    assert again.out.count("(done before)") == 2 and "round 2" not in again.out
    assert "warning: the last round's fit: bulk/tail ESS below 400" in again.err
    history = pd.read_csv(out / "design.csv")
    assert history["round"].tolist()[:2] == [0, 1] and history["spent"].is_monotonic_increasing
    assert (out / "design.png").stat().st_size > 10_000
    assert (out / "rounds" / "round-001.nc").exists()
    assert bd.load_posterior(out / "rounds" / "round-000.nc").runs.sizes["run"] == 3


def test_a_target_on_the_command_line(tmp_path):
    from bayes_distill.cli.design import parse_target, target_label

    assert parse_target("crossover:1e9") == ("crossover", 1e9, "teacher-inference")
    assert parse_target("allocation:1e9:1e21:best-case") == ("allocation", 1e9, 1e21, "best-case")
    (tmp_path / "points.csv").write_text("kind,N,D\nsupervised,1e9,2e10\n")
    assert parse_target(str(tmp_path / "points.csv")) == str(tmp_path / "points.csv")
    with pytest.raises(ValueError, match="'missing.csv': no such table of points, nor crossover:N_S"):
        parse_target("missing.csv")
    with pytest.raises(ValueError, match="expected allocation:N_S:COMPUTE"):
        parse_target("allocation:1e9")
    with pytest.raises(ValueError, match="SCENARIO one of"):
        parse_target("crossover:1e9:cheap")
    assert parse_target("wins:1e9:1e21") == ("wins", 1e9, 1e21, "teacher-inference")
    assert parse_target("teacher_size:1e9:1e21") == ("teacher_size", 1e9, 1e21, "teacher-inference")
    with pytest.raises(ValueError, match=r"'wins:1e9:many': expected wins:N_S:COMPUTE\[:SCENARIO\]"):
        parse_target("wins:1e9:many")
    assert target_label(parse_target("wins:1e9:1e21:best-case")) == ("P(distillation wins), N_S = 1e+09, "
                                                                    "C = 1e+21 FLOPs, best-case")
    crossover, allocation = (target_label(parse_target(text)) for text in ("crossover:1e9", "allocation:1e9:1e21"))
    assert crossover == "log10 crossover budget (FLOPs), N_S = 1e+09, teacher-inference"
    assert allocation == "ln L_S at the optimum (L_S: nats/token), N_S = 1e+09, C = 1e+21 FLOPs, teacher-inference"
    assert target_label("runs/points.csv") == "ln L (L: nats/token), widest point of points.csv"


def test_a_round_trains_its_runs_on_a_dask_cluster(tmp_path):
    # The loop hands ``scheduler`` to the runner: round 0's runs are trained by the cluster's workers, and the round
    # fits and records them as with a local pool.
    distributed = pytest.importorskip("distributed")
    from bayes_distill.loop import Design

    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY_SPEC)
    table = Design(spec, tmp_path / "plan", None, 1.0).table()
    largest = table["N"].max()
    target = pd.DataFrame({"kind": ["supervised"], "N": [largest], "D": [16 * largest]})
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loop = Design(spec, tmp_path / "loop", target, 2 * table.groupby("N")["cost"].min().sum(), starting_runs=1,
                      fit_options={"chains": 2, "draws": 200, "warmup": 200},
                      run_options={"scheduler": cluster.scheduler_address})
        first = loop.step()
        prefixes = set(cluster.scheduler.task_prefixes)
    assert "execute" in prefixes  # the runner's jobs went through the cluster's scheduler, not a local pool
    assert first.number == 0 and len(first.trained) == 3
    trained = loop.table().set_index("run").loc[first.trained]
    assert (trained["status"] == "ok").all() and trained["N"].nunique() == 3
    assert bd.load_posterior(tmp_path / "loop" / "rounds" / "round-000.nc").runs.sizes["run"] == 3


def test_a_plan_written_before_expectations_were_kept_still_reads(tmp_path):
    from bayes_distill.loop.design import Plan, Round

    old = {"number": 1, "trained": ["a"], "spent": 2.0, "low": [0.1], "median": [0.2], "high": [0.4]}
    assert Round(**old).mean is None and Round(**old).width == pytest.approx(0.3)

    (tmp_path / "old.plan.json").write_text('["a", "b"]')
    assert Plan.read(tmp_path / "old.plan.json") == Plan(["a", "b"], None)
    (tmp_path / "new.plan.json").write_text('{"runs": ["c"], "expected_cut": 0.4}')
    assert Plan.read(tmp_path / "new.plan.json") == Plan(["c"], 0.4)


def test_the_progress_of_a_wins_target_is_its_probability():
    history = pd.DataFrame({"round": [0, 1, 2], "spent": [1e18, 3e18, 9e18], "low": [0.0, 0.0, 1.0],
                            "median": [0.0, 1.0, 1.0], "high": [1.0, 1.0, 1.0], "mean": [0.4, 0.7, 0.97]})
    fig = bd.plots.design_progress(history, "P(distillation wins), N_S = 1e+09", probability=True)
    [ax] = fig.axes
    [line] = [line for line in ax.get_lines() if line.get_label() == "P(distillation wins)"]
    np.testing.assert_array_equal(line.get_ydata(), [0.4, 0.7, 0.97])
    assert ax.get_ylim() == (0.0, 1.0) and ax.get_ylabel() == "P(distillation wins)"
    assert ax.get_title() == "whether distillation wins, as the loop trains\nN_S = 1e+09"
    decided = sorted(p.get_label() for p in ax.patches)
    assert decided == ["decided: distillation wins (P > 0.95)", "decided: supervised wins (P < 0.05)"]
    # Labels alternate over and under their points, but a round near the top is labelled under its point, not over
    # the axes' edge into the title (round 2 would go over it by turn).
    placed = {t.get_text(): (t.get_va(), t.xyann[1]) for t in ax.texts}
    assert placed == {"round 0": ("baseline", 4), "round 1": ("top", -4), "round 2": ("top", -4)}


def test_a_wins_target_is_decided_once_its_probability_leaves_5_to_95_percent(tmp_path):
    # Its 90% interval is 0 to 1 while P(distillation wins) is within 5-95%, a point outside: --width 1 stops there.
    from dataclasses import asdict

    from bayes_distill.loop import Design
    from bayes_distill.loop.design import Round

    (tmp_path / "spec.toml").write_text(SPEC)
    loop = Design(tmp_path / "spec.toml", tmp_path / "loop", ("wins", 1e9, 1e21, "teacher-inference"), 1e20, width=1)
    record = tmp_path / "loop" / "rounds" / "round-000.json"
    record.write_text(json.dumps(asdict(Round(0, ["a"], 1e18, [1.0], [1.0], [1.0], 0.03, None, [0.97]))))
    assert loop.stop_reason() == "the target is decided: P(distillation wins) is 97.0%, outside 5-95%"
    record.write_text(json.dumps(asdict(Round(0, ["a"], 1e18, [0.0], [1.0], [1.0], 0.2, None, [0.7]))))
    assert loop.stop_reason() is None


def test_a_rounds_line_says_what_a_reader_can_use():
    # A points target: its widest interval in its units. A wins target: its probability, not the 0-1 interval of a
    # 1/0 outcome. A refit whose outcomes surprised the posterior raised the variance: said so, not "cut -400%".
    from bayes_distill.cli.design import _line
    from bayes_distill.loop.design import Round

    wins = ("wins", 1e9, 1e21, "teacher-inference")
    before = Round(0, ["a"], 1e18, [1.0], [1.0], [1.0], 0.03, None, [0.97])
    after = Round(1, ["b", "c"], 3e18, [0.0], [1.0], [1.0], 0.1275, 0.86, [0.85])
    line = _line(after, 4e18, before, wins)
    assert line == ("round 1: trained 2 runs, spent 3e+18 FLOPs (75% of the budget); P(distillation wins) 85%; the "
                    "batch was expected to cut the target's variance by 86%, its refit raised it by 325%")
    points = pd.DataFrame({"kind": ["supervised"], "N": [1e9], "D": [2e10]})
    narrower = Round(1, ["b"], 3e18, [0.50], [0.55], [0.58], 0.015, 0.4, [0.55])
    line = _line(narrower, 4e18, Round(0, ["a"], 1e18, [0.4], [0.5], [0.6], 0.03, None, [0.5]), points)
    assert "target 90% interval widest 0.08 (ln L (L: nats/token)); " in line and "its refit cut 50%" in line


@pytest.mark.filterwarnings("ignore")  # short chains on few runs
def test_a_preview_shows_the_next_rounds_runs_and_trains_and_writes_nothing(tmp_path, capsys):
    # What a round would train and cost, before the compute is spent: the same runs the round then trains, with
    # no plan written (a preview must not bind the round) and no run trained.
    from bayes_distill.cli import main

    loop = design(tmp_path, LawExecutor(tmp_path))
    first = loop.preview()
    assert first.attrs["round"] == 0 and first.attrs["spent"] == 0 and first.attrs["expected_cut"] is None
    assert (first["role"] == "planned").all()  # supervised runs need no teachers
    assert first.attrs["cost"] == pytest.approx(first["cost"].sum(), rel=1e-12) and first.attrs["cost"] < loop.budget
    assert not list((tmp_path / "loop" / "rounds").iterdir()) and not (tmp_path / "trained.txt").exists()
    round0 = loop.step()
    assert sorted(round0.trained) == sorted(first["run"])
    second = loop.preview()
    assert second.attrs["round"] == 1 and second.attrs["spent"] == round0.spent
    assert 0 < second.attrs["expected_cut"] < 1 and second.attrs["cost"] <= loop.budget - round0.spent
    assert not (tmp_path / "loop" / "rounds" / "round-001.plan.json").exists()
    assert sorted(loop.step().trained) == sorted(second["run"])
    # The command line's --dry-run prints it and trains nothing, on the real runner's tiny sweep.
    (tmp_path / "tiny.toml").write_text(TINY_SPEC)
    out = tmp_path / "dry"
    assert main(["design", str(tmp_path / "tiny.toml"), "--out", str(out), "--budget", "1e15", "--target",
                 "crossover:1e9", "--starting-runs", "1", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "round 0 would train 3 runs: " in printed and "(a dry run: nothing trained, no plan written)" in printed
    assert not (out / "sweep").exists() and not list((out / "rounds").iterdir())
