"""Sweeps end to end: spec validation, expansion, the smoke grid's sanity, failures, resumption, Dask."""

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import distributed
import numpy as np
import pytest
import xarray as xr

import bayes_distill as bd
import bayes_distill.runner.sweep as sweep_module
from bayes_distill.cli import main as cli_main
from bayes_distill.runner import expand, load_spec, main_run, run_sweep
from bayes_distill.runner.executors import InProcess
from bayes_distill.runner.sweep import KILL_AFTER_ENV, execute

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "experiments" / "smoke.toml"
TIMING = {"wall_time_s", "tokens_per_s", "peak_memory_bytes"}

TINY = """
name = "tiny"
[data]
vocab_size = 16
order = 2
support = 3
context_length = 16
[train]
batch_size = 32
eval_batches = 2
lr = 1e-2
[[family]]
kind = "fixed_teacher_fixed_student"
teacher_layers = [1]
teacher_tokens_per_param = 1
student_layers = [1]
student_tokens_per_param = [0.5]
supervised_baseline = true
"""


SERIAL_SWEEP = """
import sys

from bayes_distill.runner import run_sweep
from bayes_distill.runner.executors import InProcess

run_sweep(sys.argv[1], sys.argv[2], executor=InProcess(), progress=False)
"""
"""A sweep of SPEC into OUT (argv) run in-process by a process of its own."""


def _write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.fixture(scope="module")
def smoke(smoke_runs):
    """The session's smoke sweep, finished again: every run is kept, the table is rebuilt."""
    ds = run_sweep(SMOKE, smoke_runs, workers=2, progress=False)
    return ds, smoke_runs


def test_smoke_table_schema_and_files(smoke):
    ds, out = smoke
    assert set(ds.dims) == {"run"} and ds.sizes["run"] == 13
    for v in ("kind", "N", "D", "loss", "teacher_loss", "teacher_N", "teacher_D", "group", "status",
              "failure_reason", "entropy_rate", "seed", "versions", "wall_time_s", "tokens_per_s",
              "flops_formula", "flops_counted", "config", "role"):
        assert v in ds, v
    assert (ds.status == "ok").all()
    assert set(ds.kind.values) == {"supervised", "distilled"}
    sup = ds.where(ds.kind == "supervised", drop=True)
    assert np.isnan(sup.teacher_loss).all() and np.isnan(sup.teacher_N).all()
    dis = ds.where(ds.kind == "distilled", drop=True)
    assert np.isfinite(dis.teacher_loss).all() and (dis.teacher_N > 0).all()
    assert (ds.group == ds.run).all()  # cosine runs: one run per group
    # formula vs counted FLOPs within 1.5% (Eq. 69 counts gains; the counter does not)
    np.testing.assert_allclose(ds.flops_counted, ds.flops_formula, rtol=0.015)
    back = xr.open_dataset(out / "runs.nc", engine="h5netcdf")
    assert list(back.run.values) == list(ds.run.values)
    np.testing.assert_array_equal(back.loss.values, ds.loss.values)
    csv = (out / "runs.csv").read_text().splitlines()
    assert len(csv) == 14 and csv[0].startswith("run,")
    assert json.loads(str(ds.config.values[0]))["data"]["source"] == "markov"


def test_smoke_table_records_each_runs_architecture(smoke):
    ds, out = smoke
    # smoke.toml: context 32, vocabulary 32, d_model = 32 x layers, gated MLP of width round(8/3 d_model)
    for column, value in (("context_length", 32), ("vocab_size", 32), ("aspect_ratio", 32), ("group_size", 1),
                          ("n_ffn", 3)):
        np.testing.assert_array_equal(ds[column].values, value)
    d_model = 32 * ds["n_layers"].values
    np.testing.assert_allclose(ds["ffn_ratio"].values, np.round(8 / 3 * d_model) / d_model)
    arch = bd.data.runs_architecture(bd.load_runs(out / "runs.nc"))
    assert (arch.context_length, arch.vocab_size, arch.aspect_ratio) == (32, 32, 32.0)
    assert arch.ffn_ratio == pytest.approx(np.mean(np.unique(ds["ffn_ratio"].values)))


def test_smoke_budgets_round_up_to_whole_steps(smoke):
    """Every run of smoke.toml trains ceil(D_requested / 1024) steps of 32 x 32 tokens, D_requested as the spec asks:
    tokens per parameter x N (N counted by hand), listed tokens, or 2e10 FLOPs / (3 F) for the IsoFLOP runs."""
    df = smoke[0].to_dataframe()
    n1, n2 = 12416, 98880  # 12256 + 160 and 98432 + 448: matmul weights + gains, counted in test_runner_model
    assert sorted(set(df.N)) == [n1, n2]
    iso = df[df.families == "supervised_isoflop"].set_index("n_layers")
    assert sorted(iso.index) == [1, 2]
    requested = {  # (role, layers): D asked for, from smoke.toml
        ("teacher", 1): [4 * n1],
        ("teacher", 2): [4 * n2],  # 387 steps = 396288 tokens: also the supervised_grid point (2 layers, 396288)
        ("student", 1): [2 * n1, 8 * n1, 2 * n1, 8 * n1],  # two teachers
        ("supervised", 1): [2 * n1, 8 * n1, 102400, 396288, 2e10 / (3 * iso.flops_per_token_formula[1])],
        ("supervised", 2): [102400, 2e10 / (3 * iso.flops_per_token_formula[2])],
    }
    for (role, layers), want in requested.items():
        got = df[(df.role == role) & (df.n_layers == layers)]
        np.testing.assert_allclose(sorted(got.D_requested), sorted(want), rtol=1e-9, err_msg=f"{role} {layers}")
    steps = [math.ceil(d / 1024) for d in df.D_requested]
    assert list(df.steps) == steps and list(df.D) == [1024.0 * s for s in steps]
    want_steps = [49, 387, 25, 97, 25, 97, 25, 97, 100, 387, 100] + [math.ceil(d / 1024) for d in iso.D_requested]
    assert df.steps.sum() == sum(want_steps)


def test_smoke_sanity_scaling_entropy_distillation(smoke):
    ds = smoke[0].to_dataframe()
    h = ds.entropy_rate.iloc[0]
    assert 1.0 < h < 1.5 and (ds.entropy_rate == h).all()
    assert (ds.loss > ds.loss_floor).all() and (ds.loss_floor > h).all()  # nothing beats the source
    sup = ds[(ds.kind == "supervised") & ds.families.str.contains("supervised_grid")]
    big_d = sup.D.max()
    # at fixed N loss falls with D; at the largest D it falls with N
    for n, g in sup.groupby("N"):
        g = g.sort_values("D")
        assert (np.diff(g.loss.values) < 0).all(), n
    at = sup[sup.D.eq(big_d)].sort_values("N")
    assert len(at) == 2 and at.loss.iloc[1] < at.loss.iloc[0] - 0.1
    # a distilled student from the good teacher beats its supervised twin (same N_S, D_S, student stream)
    dis = ds[ds.kind == "distilled"]
    good = dis[dis.teacher_loss == dis.teacher_loss.min()]
    twins = ds[(ds.kind == "supervised") & (ds.role == "supervised") & ds.families.str.contains("fixed_teacher")]
    d_s = good.D.max()
    assert good[good.D.eq(d_s)].loss.iloc[0] < twins[twins.D.eq(d_s)].loss.iloc[0] - 0.2
    assert (dis.loss > dis.teacher_loss).all()


MINI = TINY.replace("student_tokens_per_param = [0.5]", "student_tokens_per_param = [1, 2, 3]")


def test_resume_after_sigkill_matches_uninterrupted(tmp_path):
    """A sweep SIGKILLed (its whole process group) right after its 3rd result resumes without redoing those 3."""
    spec = _write(tmp_path, MINI)
    ref = run_sweep(spec, tmp_path / "ref", executor=InProcess(), progress=False)
    assert ref.sizes["run"] == 7 and (ref.status == "ok").all()
    out = tmp_path / "killed"
    # jobs one at a time, in the sweep's own process (no worker start-up), so the kill comes exactly after the 3rd
    env = {**os.environ, "PYTHONPATH": str(ROOT), KILL_AFTER_ENV: "3"}
    proc = subprocess.run([sys.executable, "-c", SERIAL_SWEEP, str(spec), str(out)], cwd=ROOT, env=env,
                          start_new_session=True, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    results = out / "results"
    done_before = {p.name: p.stat().st_mtime_ns for p in results.glob("*.json")}
    assert len(done_before) == 3
    assert not (out / "runs.nc").exists()
    stale = results / "deadbeef.json.tmp12345"  # what a kill during a write leaves behind
    stale.write_text("{")
    resumed = run_sweep(spec, out, executor=InProcess(), progress=False)
    assert not stale.exists()
    for name, mtime in done_before.items():  # nothing completed was redone
        assert (results / name).stat().st_mtime_ns == mtime
    assert len(list(results.glob("*.json"))) == 7
    assert list(resumed.run.values) == list(ref.run.values)
    for v in ref.data_vars:
        if v in TIMING:
            continue
        a, b = ref[v].values, resumed[v].values
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(a, b, err_msg=v)
        else:
            assert list(a) == list(b), v


def _serial_executor(monkeypatch):
    """Make the sweep run its jobs in this process (no worker start-up); returns the make_executor arguments seen."""
    seen = []

    def make(scheduler=None, workers=None):
        seen.append((scheduler, workers))
        return InProcess()

    monkeypatch.setattr(sweep_module, "make_executor", make)
    return seen


def test_cli_run_writes_table_and_exits_zero(tmp_path, monkeypatch, capsys):
    seen = _serial_executor(monkeypatch)
    out = tmp_path / "out"
    code = cli_main(["run", str(_write(tmp_path, TINY)), "--out", str(out), "--workers", "3", "--no-progress"])
    assert code == 0 and seen == [(None, 3)]
    table = xr.open_dataset(out / "runs.nc", engine="h5netcdf")
    assert table.sizes["run"] == 3 and (table.status == "ok").all()
    assert sorted(table.role.values) == ["student", "supervised", "teacher"]
    assert len((out / "runs.csv").read_text().splitlines()) == 4
    assert "3 of 3 runs ok" in capsys.readouterr().out


@pytest.mark.parametrize("entry", [lambda argv: cli_main(["run", *argv]), main_run], ids=["cli", "module"])
def test_run_entry_points_share_arguments(tmp_path, capsys, entry):
    """bayes-distill run and python -m bayes_distill.runner: --out required, --no-progress known, same errors."""
    spec = str(_write(tmp_path, TINY))
    with pytest.raises(SystemExit) as exit_:
        entry([spec, "--no-progress"])
    assert exit_.value.code == 2 and "the following arguments are required: --out" in capsys.readouterr().err
    assert entry([str(tmp_path / "missing.toml"), "--out", str(tmp_path / "o")]) == 2
    assert "bayes-distill run: error: spec_path" in capsys.readouterr().err


def test_failed_runs_recorded_and_sweep_exits_nonzero(tmp_path, monkeypatch, capsys):
    """Runs that fail are rows with their reason; the sweep goes on, writes its table, then exits 1 naming them."""
    _serial_executor(monkeypatch)
    spec = _write(tmp_path, TINY.replace("lr = 1e-2", "lr = 1e4\ngrad_clip = 0.0\nz_loss = 0.0\ndiverge_factor = 0.5"))
    out = tmp_path / "out"
    code = cli_main(["run", str(spec), "--out", str(out), "--no-progress"])
    assert code == 1
    ds = xr.open_dataset(out / "runs.nc", engine="h5netcdf")
    assert ds.sizes["run"] == 3
    assert (ds.status == "failed").all()
    reasons = [str(r) for r in ds.failure_reason.values]
    assert all(reasons)
    assert any("TrainingError" in r for r in reasons) and any("teacher job" in r for r in reasons)
    assert np.isnan(ds.loss.values).all() and (ds.N > 0).all()
    captured = capsys.readouterr()
    assert "0 of 3 runs ok" in captured.out
    failed_lines = [line for line in captured.err.splitlines() if line.startswith("failed: run ")]
    assert sorted(line.split()[2] for line in failed_lines) == sorted(str(r) for r in ds.run.values)


def test_dask_local_cluster_matches_serial(tmp_path):
    spec = _write(tmp_path, TINY)
    serial = run_sweep(spec, tmp_path / "serial", executor=InProcess(), progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        ds = run_sweep(spec, tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False)
    assert (ds.status == "ok").all() and ds.sizes["run"] == 3
    np.testing.assert_array_equal(ds.loss.values, serial.loss.values)


def test_expansion_families_dedupe_and_stable_keys(tmp_path):
    spec = load_spec(SMOKE)
    rows, jobs = expand(spec)
    rows2, _ = expand(load_spec(SMOKE))
    assert [r["run"] for r in rows] == [r["run"] for r in rows2]
    assert len({r["run"] for r in rows}) == len(rows) == 13
    teachers = [r for r in rows if r["role"] == "teacher"]
    assert sorted(r["layers"] for r in teachers) == [1, 2]
    students = [r for r in rows if r["kind"] == "distilled"]
    assert len(students) == 4 and {s["teacher"]["run"] for s in students} == {t["run"] for t in teachers}
    for j in jobs:
        dep = j["depends"]
        assert dep is None or dep in {t["group"] for t in teachers}
    # the teacher of 2 layers at D = 4 N is also a supervised_grid point: one run, two families
    t2 = next(t for t in teachers if t["layers"] == 2)
    assert "supervised_grid" in t2["families"]
    # a changed setting changes every key
    other = _write(tmp_path, SMOKE.read_text().replace("lr = 1e-2", "lr = 2e-2"))
    assert not {r["run"] for r in rows} & {r["run"] for r in expand(load_spec(other))[0]}


def test_wsd_spec_groups_budgets_into_one_job(tmp_path):
    text = TINY.replace("lr = 1e-2", 'lr = 1e-2\nschedule = "wsd"').replace("[0.5]", "[0.5, 1.0]")
    rows, jobs = expand(load_spec(_write(tmp_path, text)))
    sup = [r for r in rows if r["kind"] == "supervised" and r["role"] != "teacher"]
    assert len(sup) == 2 and sup[0]["group"] == sup[1]["group"] != sup[0]["run"]
    ds = run_sweep(tmp_path / "s.toml", tmp_path / "out", executor=InProcess(), progress=False)
    assert (ds.status == "ok").all() and len(set(ds.group.values)) == 3


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (("[train]", "[train]\nlearning_rate = 1"), "train: unknown keys \\['learning_rate'\\]"),
        (("name = \"tiny\"", "name = \"tiny\"\ncolour = 1"), "sweep: unknown keys \\['colour'\\]"),
        (("teacher_layers = [1]", "teacher_layers = [0]"), "teacher_layers.*0"),
        (("teacher_tokens_per_param = 1", "teacher_tokens_per_param = -2"), "teacher_tokens_per_param.*-2"),
        (("kind = \"fixed_teacher_fixed_student\"", "kind = \"nope\""), "kind.*nope"),
        (("vocab_size = 16", "vocab_size = 16\nsource = \"text\"\npaths = [\"/no/such/file\"]"),
         "data.paths.*/no/such/file"),
        (("batch_size = 32", "batch_size = 0"), "batch_size"),
    ],
)
def test_bad_spec_is_value_error_naming_field(tmp_path, patch, message):
    spec = _write(tmp_path, TINY.replace(*patch))
    with pytest.raises(ValueError, match=message):
        load_spec(spec)


def test_missing_spec_file(tmp_path):
    with pytest.raises(ValueError, match="spec_path"):
        load_spec(tmp_path / "missing.toml")


def test_execute_writes_result_atomically(tmp_path):
    rows, jobs = expand(load_spec(_write(tmp_path, TINY)))
    job = jobs[0]
    out = execute(job["payload"], str(tmp_path / "o"), 1)
    path = tmp_path / "o" / "results" / f"{job['id']}.json"
    assert json.loads(path.read_text())[0]["loss"] == out[0]["loss"]
    assert out[0]["status"] == "ok" and math.isfinite(out[0]["loss"])
    assert not list(path.parent.glob("*.tmp*"))


def test_cpu_grid_design():
    """The main job's grid: every run past the unigram plateau (>= 1000 steps, >= 1M tokens), a supervised law
    identifiable (3 sizes, D over a factor >= 10), teachers weaker and stronger than the students, all four
    paper families, and a cost that leaves the main job within 15 minutes on 2 cores (training + teacher-logit
    FLOPs, as measured)."""
    spec = load_spec(ROOT / "experiments" / "cpu.toml")
    rows, jobs = expand(spec)
    tokens_per_step = spec["train"]["batch_size"] * spec["data"]["context_length"]
    assert min(r["D"] for r in rows) >= 1e6 and min(r["D"] for r in rows) / tokens_per_step >= 1000
    sup = [r for r in rows if r["kind"] == "supervised"]
    assert len({r["layers"] for r in sup}) >= 3
    assert max(r["D"] for r in sup) / min(r["D"] for r in sup) >= 10
    students = {r["layers"] for r in rows if r["kind"] == "distilled"}
    teachers = {r["layers"] for r in rows if r["role"] == "teacher"}
    assert len(students) >= 2 and min(teachers) <= min(students) and max(teachers) > max(students)
    kinds = {f["kind"] for f in spec["family"]}
    assert {"fixed_teacher_student_isoflop", "teacher_isoflop_fixed_student", "fixed_teacher_fixed_student",
            "supervised_isoflop"} <= kinds
    assert len(rows) <= 30
    assert sum(j["cost"] for j in jobs) <= 3.6e13  # 3.5e13 as designed (see cpu.toml's measured time)


def test_only_the_asked_runs_and_their_teachers_jobs_are_trained():
    from bayes_distill.runner.sweep import _needed

    rows, jobs = expand(load_spec(SMOKE))
    student = next(r for r in rows if r["kind"] == "distilled")
    needed = _needed(jobs, {student["run"]})
    assert needed == {student["group"], student["teacher"]["group"]}
    supervised = next(r for r in rows if r["role"] == "supervised")
    assert _needed(jobs, {supervised["run"]}) == {supervised["group"]}
    with pytest.raises(ValueError, match="only: runs \\['nope'\\] are not in this sweep"):
        _needed(jobs, {"nope"})
