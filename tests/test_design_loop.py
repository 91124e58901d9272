"""The closed loop (``bayes_distill.loop.Design``): rounds of training, fitting and suggesting, kept on disk and
resumed after a kill -9 without retraining. The runner's jobs are answered by the supervised law (``LawExecutor``)
so that the loop, not the training, is what is tested; the real runner is exercised by the CLI test."""

import json
import os
import signal
import subprocess
import sys
import textwrap
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


def design(tmp_path: Path, executor, budget_share: float = 0.3, width=None):  # noqa: ANN001, ANN201
    from bayes_distill.loop import Design
    from bayes_distill.runner.sweep import expand, load_spec, model_config, n_params

    spec_path = tmp_path / "design.toml"
    spec_path.write_text(SPEC)
    largest = float(n_params(model_config(load_spec(spec_path), 6)))
    target = pd.DataFrame({"kind": ["supervised"], "N": [largest], "D": [20 * largest]})
    total = sum(job["cost"] for job in expand(load_spec(spec_path))[1])
    return Design(spec_path, tmp_path / "loop", target, budget=budget_share * total, width=width, starting_runs=6,
                  fit_options={"chains": 2, "draws": 200, "warmup": 200, "fix": {"E": PAPER.E}},
                  run_options={"executor": executor}, seed=0)


@pytest.mark.filterwarnings("ignore")  # short chains on few runs
def test_the_loop_trains_the_start_then_the_suggested_runs_within_the_budget(tmp_path):
    loop = design(tmp_path, LawExecutor(tmp_path))
    rounds = loop.run()
    table = loop.table()
    assert len(rounds) >= 2 and rounds[0].number == 0
    assert table.loc[table["run"].isin(rounds[0].trained), "N"].nunique() >= 3  # the start spans three sizes
    assert rounds[-1].spent <= loop.budget or len(rounds) == 1
    left = table.loc[table["status"] == "not run", "cost"]
    assert left.min() > loop.budget - rounds[-1].spent  # nothing left that fits
    trained = [run for r in rounds for run in r.trained]
    assert len(trained) == len(set(trained)) == int((table["status"] == "ok").sum())
    assert [r.spent for r in rounds] == sorted(r.spent for r in rounds)
    assert rounds[-1].width < rounds[0].width  # the target is surer after the suggested runs
    assert loop.history()["round"].tolist() == [r.number for r in rounds]
    assert loop.posterior().runs.sizes["run"] == len(trained)


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
    assert [json.loads(p.read_text()) for p in plans] == [r.trained for r in rounds]
