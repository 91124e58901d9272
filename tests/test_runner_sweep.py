"""Sweeps end to end: spec validation, expansion, the smoke grid's sanity, failures, resumption, Dask."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from bayes_distill.runner import expand, load_spec, run_sweep
from bayes_distill.runner.sweep import execute

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


class SerialExecutor:
    """The smallest Executor: runs each job at submit time, in this process (shows the interface is enough)."""

    workers = 1
    threads = 1

    def submit(self, fn, *args):
        fut = Future()
        fut.set_result(fn(*args))
        return fut

    def close(self):
        pass


def _write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    t0 = time.perf_counter()
    ds = run_sweep(SMOKE, out, workers=2, progress=False)
    return ds, out, time.perf_counter() - t0


def test_smoke_table_schema_and_files(smoke):
    ds, out, seconds = smoke
    assert seconds < 60
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


MINI = TINY.replace("student_tokens_per_param = [0.5]", "student_tokens_per_param = [1, 2, 3, 4, 5]")


def test_resume_after_sigkill_matches_uninterrupted(tmp_path):
    spec = _write(tmp_path, MINI)
    ref = run_sweep(spec, tmp_path / "ref", executor=SerialExecutor(), progress=False)
    assert ref.sizes["run"] == 11 and (ref.status == "ok").all()
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bayes_distill.runner", str(spec), "--out", str(out), "--workers", "2",
         "--no-progress"], cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    results = out / "results"
    while time.time() < deadline and len(list(results.glob("*.json"))) < 3:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its workers, mid-sweep
    proc.wait()
    done_before = {p.name: p.stat().st_mtime_ns for p in results.glob("*.json")}
    assert 3 <= len(done_before) < ref.sizes["run"]
    assert not (out / "runs.nc").exists()
    stale = results / "deadbeef.json.tmp12345"  # what a kill during a write leaves behind
    stale.write_text("{")
    resumed = run_sweep(spec, out, workers=2, progress=False)
    assert not stale.exists()
    for name, mtime in done_before.items():  # nothing completed was redone
        assert (results / name).stat().st_mtime_ns == mtime
    assert len(list(results.glob("*.json"))) == 11
    assert list(resumed.run.values) == list(ref.run.values)
    for v in ref.data_vars:
        if v in TIMING:
            continue
        a, b = ref[v].values, resumed[v].values
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(a, b, err_msg=v)
        else:
            assert list(a) == list(b), v


def test_failed_runs_recorded_and_sweep_goes_on(tmp_path):
    spec = _write(tmp_path, TINY.replace("lr = 1e-2", "lr = 1e4\ngrad_clip = 0.0\nz_loss = 0.0\ndiverge_factor = 0.5"))
    ds = run_sweep(spec, tmp_path / "out", executor=SerialExecutor(), progress=False)
    assert ds.sizes["run"] == 3
    assert (ds.status == "failed").all()
    reasons = [str(r) for r in ds.failure_reason.values]
    assert all(reasons)
    assert any("TrainingError" in r for r in reasons) and any("teacher job" in r for r in reasons)
    assert np.isnan(ds.loss.values).all() and (ds.N > 0).all()


def test_dask_local_cluster_matches_serial(tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = _write(tmp_path, TINY)
    serial = run_sweep(spec, tmp_path / "serial", executor=SerialExecutor(), progress=False)
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
    ds = run_sweep(tmp_path / "s.toml", tmp_path / "out", executor=SerialExecutor(), progress=False)
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
    paper families, and a cost that fits 15 minutes on 2 cores (training + teacher-logit FLOPs, as measured)."""
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
    assert sum(j["cost"] for j in jobs) <= 4.5e13  # 4.0e13 as designed: 583 s on 2 cores
