"""Sweeps: a TOML file -> run specifications -> jobs on an executor -> one results table.

Every run is keyed by a hash of its full specification (model, data, training, seed, budget and, for a
distilled student, its teacher's key). A job's rows are written atomically to ``results/<job>.json`` when it
ends, so a sweep killed at any moment and started again redoes only the jobs without a result file. The table
(``runs.nc`` via h5netcdf and ``runs.csv``) is built from those files in the order of the specification.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import time
import tomllib
import traceback
from collections.abc import Collection
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from bayes_distill.atomic import TEMPORARY_GLOB, atomic_path
from bayes_distill.data.runs import ARCHITECTURE_COLUMNS
from bayes_distill.runner.data import DataConfig
from bayes_distill.runner.executors import Executor, make_executor
from bayes_distill.runner.model import ModelConfig
from bayes_distill.runner.train import DistillConfig, TrainConfig

FAMILIES = {
    "fixed_teacher_student_isoflop": (
        {"teacher_layers", "student_layers", "student_flops"},
        {"teacher_tokens_per_param", "supervised_baseline"},
    ),
    "teacher_isoflop_fixed_student": (
        {"teacher_layers", "teacher_flops", "student_layers"},
        {"student_tokens_per_param", "supervised_baseline"},
    ),
    "fixed_teacher_fixed_student": (
        {"teacher_layers", "student_layers", "student_tokens_per_param"},
        {"teacher_tokens_per_param", "supervised_baseline"},
    ),
    "supervised_isoflop": ({"layers", "flops"}, {"stream"}),
    "supervised_grid": ({"layers"}, {"tokens", "tokens_per_param", "stream"}),
}
KILL_AFTER_ENV = "BAYES_DISTILL_KILL_AFTER"
"""Test hook: set to k, the worker that writes a sweep's k-th result file then SIGKILLs its process group (the sweep
and all its workers), as ``kill -9`` would; tests interrupt a sweep at a known point with it. Unset: no effect."""
MODEL_KEYS = {"aspect_ratio", "head_dim", "group_size", "ffn_ratio", "qk_norm"}
TOP_KEYS = {"name", "description", "seeds", "data", "model", "train", "distill", "family"}


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _check_keys(where: str, given: dict, allowed: set[str]) -> None:
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; allowed {sorted(allowed)}")


def _positive_list(where: str, value: Any, integer: bool = False) -> list:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ValueError(f"{where} must not be empty")
    for v in values:
        ok = isinstance(v, int) if integer else isinstance(v, int | float)
        if isinstance(v, bool) or not ok or not v > 0 or not math.isfinite(v):
            raise ValueError(f"{where} must hold positive {'integers' if integer else 'numbers'}; got {v!r}")
    return values


def load_spec(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a sweep TOML file; ValueError names the offending field and value."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"spec_path: {str(path)!r} is not a file")
    with path.open("rb") as f:
        spec = tomllib.load(f)
    _check_keys("sweep", spec, TOP_KEYS)
    spec.setdefault("name", path.stem)
    spec["seeds"] = _positive_list("seeds", spec.get("seeds", [1]), integer=True)
    dcfg = _data_config(spec.get("data", {}))
    spec["data"] = dcfg.to_dict()
    model = dict(spec.get("model", {}))
    _check_keys("model", model, MODEL_KEYS)
    spec["model"] = model
    ModelConfig(n_layers=1, vocab_size=dcfg.model_vocab, context_length=dcfg.context_length, **model)
    train = dict(spec.get("train", {}))
    _check_keys("train", train, {f.name for f in fields(TrainConfig)} - {"seed"})
    spec["train"] = asdict(TrainConfig(**train))
    distill = dict(spec.get("distill", {}))
    _check_keys("distill", distill, {f.name for f in fields(DistillConfig)})
    spec["distill"] = asdict(DistillConfig(**distill))
    fams = spec.get("family", [])
    if not fams:
        raise ValueError("family: a sweep needs at least one [[family]]")
    for i, fam in enumerate(fams):
        _check_family(i, fam)
    return spec


def _data_config(data: dict[str, Any]) -> DataConfig:
    """The spec's [data] table as a ``DataConfig``; a text corpus's files must exist now, not at the first run."""
    data = dict(data)
    _check_keys("data", data, {f.name for f in fields(DataConfig)})
    if "paths" in data:
        if isinstance(data["paths"], str):
            data["paths"] = [data["paths"]]
        data["paths"] = tuple(data["paths"])
    dcfg = DataConfig(**data)
    if dcfg.source == "text":
        from bayes_distill.runner.data import _read_text_bytes

        _read_text_bytes(dcfg.paths)  # fail early on a missing path
    return dcfg


def _check_family(i: int, fam: dict[str, Any]) -> None:
    """One [[family]] table: a known kind, its required keys and no others, positive sizes and budgets."""
    kind = fam.get("kind")
    if kind not in FAMILIES:
        raise ValueError(f"family[{i}].kind must be one of {sorted(FAMILIES)}; got {kind!r}")
    required, optional = FAMILIES[kind]
    _check_keys(f"family[{i}] ({kind})", fam, required | optional | {"kind"})
    missing = sorted(required - set(fam))
    if missing:
        raise ValueError(f"family[{i}] ({kind}): missing keys {missing}")
    for key in fam:
        if key.endswith("layers"):
            _positive_list(f"family[{i}].{key}", fam[key], integer=True)
        elif key.endswith(("flops", "tokens_per_param", "tokens")):
            _positive_list(f"family[{i}].{key}", fam[key])
    if kind == "supervised_grid" and not ({"tokens", "tokens_per_param"} & set(fam)):
        raise ValueError(f"family[{i}] (supervised_grid): give tokens or tokens_per_param")
    if fam.get("stream", "teacher") not in ("teacher", "student"):
        raise ValueError(f"family[{i}].stream must be 'teacher' or 'student'; got {fam['stream']!r}")


def model_config(spec: dict[str, Any], layers: int) -> ModelConfig:
    d = spec["data"]
    vocab = d["vocab_size"] if d["source"] == "markov" else 256
    return ModelConfig(
        n_layers=int(layers), vocab_size=vocab, context_length=d["context_length"], **spec["model"]
    )


def n_params(cfg: ModelConfig) -> int:
    """Non-embedding parameters N of a model of this shape (built on the meta device: no memory)."""
    import torch

    from bayes_distill.runner.model import Transformer

    with torch.device("meta"):
        return Transformer(cfg).n_params


def _as_list(v: Any) -> list:
    return v if isinstance(v, list) else [v]


@dataclass
class _Rows:
    """The run rows of a sweep being expanded, by key, in specification order; and the sizes of its models."""

    spec: dict[str, Any]
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    sizes: dict[int, int] = field(default_factory=dict)

    @property
    def tokens_per_step(self) -> int:
        return self.spec["train"]["batch_size"] * self.spec["data"]["context_length"]

    def N(self, layers: int) -> int:
        """Non-embedding parameters of the model of ``layers`` layers."""
        if layers not in self.sizes:
            self.sizes[layers] = n_params(model_config(self.spec, layers))
        return self.sizes[layers]

    def f3(self, layers: int) -> float:
        """Training FLOPs per token, 3 F(N) with Eq. 69's F at this sweep's architecture."""
        from bayes_distill.laws.compute import forward_flops

        return 3.0 * float(forward_flops(float(self.N(layers)), model_config(self.spec, layers).architecture()))

    def add(self, role: str, stream: str, layers: int, D: float, seed: int, family: str,
            teacher: dict | None = None) -> dict:
        """The row of this model, stream, seed, teacher and budget (D rounded up to whole steps), added once;
        a run shared by families lists them all, and a teacher's role wins over others."""
        base = {
            "stream": stream, "model": asdict(model_config(self.spec, layers)), "data": self.spec["data"],
            "train": {**self.spec["train"], "seed": seed}, "distill": self.spec["distill"] if teacher else None,
            "teacher": teacher["run"] if teacher else None,
        }
        trained = float(max(1, math.ceil(D / self.tokens_per_step)) * self.tokens_per_step)
        key = _hash({**base, "D": trained})  # the role does not change training: not hashed
        row = self.rows.setdefault(key, {
            "spec": base, "run": key, "role": role, "layers": layers, "N": float(self.N(layers)),
            "D_requested": float(D), "D": trained, "seed": seed, "families": [], "teacher": teacher,
            "kind": "distilled" if teacher else "supervised",
        })
        if role == "teacher":
            row["role"] = "teacher"
        if family not in row["families"]:
            row["families"].append(family)
        return row


def _supervised_family(rows: _Rows, fam: dict[str, Any], seed: int) -> None:
    """``supervised_grid`` (layers x tokens and tokens per parameter) and ``supervised_isoflop`` (layers x FLOPs)."""
    kind, stream = fam["kind"], fam.get("stream", "teacher")
    for budget in _as_list(fam.get("flops", [])) if kind == "supervised_isoflop" else ():
        for L in _as_list(fam["layers"]):
            rows.add("supervised", stream, L, budget / rows.f3(L), seed, kind)
    if kind == "supervised_grid":
        for L in _as_list(fam["layers"]):
            tokens = [float(d) for d in _as_list(fam.get("tokens", []))]
            tokens += [float(m) * rows.N(L) for m in _as_list(fam.get("tokens_per_param", []))]
            for D in tokens:
                rows.add("supervised", stream, L, D, seed, kind)


def _distillation_family(rows: _Rows, fam: dict[str, Any], seed: int) -> None:
    """The three distillation families: teachers (fixed tokens per parameter, or an IsoFLOP profile), each
    student budget distilled from each teacher, and optionally the students' supervised baselines."""
    kind = fam["kind"]
    if kind == "teacher_isoflop_fixed_student":
        teachers = [rows.add("teacher", "teacher", L, c / rows.f3(L), seed, kind)
                    for c in _as_list(fam["teacher_flops"]) for L in _as_list(fam["teacher_layers"])]
    else:
        m_t = float(fam.get("teacher_tokens_per_param", 20))
        teachers = [rows.add("teacher", "teacher", L, m_t * rows.N(L), seed, kind)
                    for L in _as_list(fam["teacher_layers"])]
    budgets: list[tuple[int, float]] = []
    for L in _as_list(fam["student_layers"]):
        if kind == "fixed_teacher_student_isoflop":
            budgets += [(L, c / rows.f3(L)) for c in _as_list(fam["student_flops"])]
        else:
            budgets += [(L, m * rows.N(L)) for m in _as_list(fam.get("student_tokens_per_param", 20))]
    for teacher in teachers:
        for L, D in budgets:
            rows.add("student", "student", L, D, seed, kind, teacher=teacher)
    if fam.get("supervised_baseline", False):
        for L, D in budgets:
            rows.add("supervised", "student", L, D, seed, kind)


def _group_jobs(rows_list: list[dict[str, Any]], wsd: bool) -> list[dict[str, Any]]:
    """One job per row, or (WSD) per group of rows that differ only in D; sets each row's ``group`` (and, for a
    WSD group, its key: its result depends on the whole group's warm-up and branch points)."""
    groups: dict[str, list[dict]] = {}
    for r in rows_list:
        groups.setdefault(_hash(r["spec"]) if wsd else r["run"], []).append(r)
    jobs = []
    for gkey, members in groups.items():
        members.sort(key=lambda r: r["D"])
        if len(members) > 1 or wsd:
            job_id = _hash({"group": gkey, "budgets": [m["D"] for m in members]})
            for m in members:
                m["run"] = _hash({"group": job_id, "D": m["D"]}) if len(members) > 1 else m["run"]
        else:
            job_id = members[0]["run"]
        for m in members:
            m["group"] = job_id
        jobs.append({"id": job_id, "rows": members})
    return jobs


def _job_payload(job: dict[str, Any]) -> dict[str, Any]:
    """What a worker needs to train ``job`` (plain JSON: it crosses process and machine boundaries)."""
    first, teacher = job["rows"][0], job["rows"][0]["teacher"]
    return {
        "id": job["id"], "role": first["role"], "stream": first["spec"]["stream"], "model": first["spec"]["model"],
        "data": first["spec"]["data"], "train": first["spec"]["train"], "distill": first["spec"]["distill"],
        "teacher": {"run": teacher["run"], "N": teacher["N"], "D": teacher["D"]} if teacher else None,
        "budgets": [m["D"] for m in job["rows"]], "row_ids": [m["run"] for m in job["rows"]],
        "save_checkpoint": any(m["role"] == "teacher" for m in job["rows"]),
    }


def expand(spec: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run rows and jobs of a validated spec.

    Returns (rows, jobs): one row per (model, budget) in specification order, with its key ``run``, role
    ("teacher", "supervised", "student"), kind, families, N, requested D and teacher key; and the jobs that
    produce them (one per row for cosine schedules; WSD merges runs differing only in D into one job), each with
    its payload, the job it depends on (its teacher's) and its cost in FLOPs (for scheduling).
    """
    rows = _Rows(spec)
    for seed in spec["seeds"]:
        for fam in spec["family"]:
            if fam["kind"] in ("supervised_grid", "supervised_isoflop"):
                _supervised_family(rows, fam, seed)
            else:
                _distillation_family(rows, fam, seed)
    rows_list = list(rows.rows.values())
    jobs = _group_jobs(rows_list, spec["train"]["schedule"] == "wsd")
    for r in rows_list:  # teacher keys may have changed with WSD grouping: resolve through the row objects
        if r["teacher"] is not None:
            r["teacher_run"] = r["teacher"]["run"]
    for job in jobs:
        last, teacher = job["rows"][-1], job["rows"][0]["teacher"]
        job["payload"] = _job_payload(job)
        job["depends"] = teacher["group"] if teacher else None
        job["cost"] = rows.f3(last["layers"]) * last["D"] + (rows.f3(teacher["layers"]) / 3.0 * last["D"]
                                                              if teacher else 0.0)
    return rows_list, jobs


def execute(payload: dict[str, Any], out_dir: str, threads: int) -> list[dict[str, Any]]:
    """Worker entry point: train one job and write its rows atomically to results/<job>.json.

    A failure (NaN, divergence, exception) is recorded as rows with status "failed" and its reason."""
    from bayes_distill.runner.train import run_job

    out = Path(out_dir)
    try:
        rows = run_job(payload, out, threads)
        for r in rows:
            r.update(status="ok", failure_reason="")
    except Exception as exc:  # noqa: BLE001 - every failure is recorded, the sweep goes on
        reason = f"{type(exc).__name__}: {exc}"
        rows = [
            {
                "run": rid,
                "status": "failed",
                "failure_reason": reason,
                "traceback": traceback.format_exc(limit=5),
            }
            for rid in payload["row_ids"]
        ]
    write_json_atomic(out / "results" / f"{payload['id']}.json", rows)
    _kill_after_hook(out / "results")
    return rows


def _kill_after_hook(results: Path) -> None:
    """SIGKILL this process group once ``results`` holds KILL_AFTER_ENV result files (a test's crash at a known
    point: the count is exact when the sweep runs one job at a time)."""
    k = os.environ.get(KILL_AFTER_ENV)
    if k and len(list(results.glob("*.json"))) >= int(k):
        os.killpg(os.getpgrp(), signal.SIGKILL)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (creating its directory): a result file is whole or absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, default=float))


def _read_result(out: Path, job: dict[str, Any]) -> list[dict] | None:
    path = out / "results" / f"{job['id']}.json"
    if not path.exists():
        return None
    rows = json.loads(path.read_text())
    ok = all(r.get("status") == "ok" for r in rows)
    if ok and job["payload"]["save_checkpoint"]:
        for r in job["rows"]:
            if r["role"] == "teacher" and not (out / "checkpoints" / f"{r['run']}.safetensors").exists():
                return None  # a teacher without its checkpoint is redone
    return rows


def run_sweep(
    spec_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    executor: Executor | None = None,
    only: Collection[str] | None = None,
) -> Any:
    """Run (or finish) the sweep in ``spec_path``, writing into ``out_dir``; returns the results table.

    scheduler: a Dask scheduler address ("tcp://host:port") to run on a cluster; else a local process pool of
    ``workers`` processes (default: one per core). ``executor`` overrides both. Completed jobs (their
    results/<job>.json exists) are not redone. ``only``: run ids (the table's ``run``) to train, with the jobs
    their teachers need; the rest stay "not run". Returns an xarray.Dataset with dimension ``run`` (see
    ``build_table``) and writes it as ``out_dir/runs.nc`` and ``out_dir/runs.csv``.
    """
    spec = load_spec(spec_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows, jobs = expand(spec)
    (out / "spec.json").write_text(json.dumps({"name": spec["name"], "spec": spec}, default=str, indent=1))
    for sub in ("results", "checkpoints", "progress"):  # half-written files of a killed sweep
        for tmp in (out / sub).glob(TEMPORARY_GLOB):
            tmp.unlink(missing_ok=True)
    results: dict[str, list[dict]] = {}
    for job in jobs:
        r = _read_result(out, job)
        if r is not None:
            results[job["id"]] = r
    wanted = {j["id"] for j in jobs} if only is None else _needed(jobs, set(only))
    todo = [j for j in jobs if j["id"] not in results and j["id"] in wanted]
    if todo:
        own = executor is None
        executor = executor or make_executor(scheduler, workers)
        try:
            _orchestrate(todo, jobs, results, out, executor, progress)
        finally:
            if own:
                executor.close()
    return build_table(spec, rows, jobs, results, out)


def _needed(jobs: list[dict], runs: Collection[str]) -> set[str]:
    """The ids of the jobs that train ``runs`` (row ids) and, transitively, their teachers."""
    by_id = {j["id"]: j for j in jobs}
    unknown = set(runs) - {r["run"] for j in jobs for r in j["rows"]}
    if unknown:
        raise ValueError(f"only: runs {sorted(unknown)[:5]} are not in this sweep")
    needed = {j["id"] for j in jobs if any(r["run"] in runs for r in j["rows"])}
    frontier = list(needed)
    while frontier:
        parent = by_id[frontier.pop()]["depends"]
        if parent is not None and parent not in needed:
            needed.add(parent)
            frontier.append(parent)
    return needed


@dataclass
class _Sweep:
    """A sweep in progress: its jobs by id, the results so far, the jobs running and waiting, and its bars."""

    jobs: dict[str, dict]
    results: dict[str, list[dict]]
    out: Path
    executor: Executor
    waiting: list[dict]
    bar: Any
    running: dict[str, Any] = field(default_factory=dict)
    run_bars: dict[str, Any] = field(default_factory=dict)

    def fail(self, job: dict, reason: str) -> None:
        """Record every row of ``job`` as failed with ``reason`` (written like a worker's result)."""
        rows = [{"run": rid, "status": "failed", "failure_reason": reason} for rid in job["payload"]["row_ids"]]
        write_json_atomic(self.out / "results" / f"{job['id']}.json", rows)
        self.results[job["id"]] = rows

    def advance(self, cost: float) -> None:
        """Move the sweep's bar by a finished job's FLOPs, never past its total (the costs' float sum can pass it
        by a rounding error, which tqdm reports as "clamping frac")."""
        self.bar.update(min(cost, self.bar.total - self.bar.n))

    def submit_ready(self) -> None:
        """Submit each waiting job whose teacher is done; fail those whose teacher failed."""
        for job in list(self.waiting):
            dep = job["depends"]
            if dep is not None and dep not in self.results:
                continue
            self.waiting.remove(job)
            if dep is not None and any(r["status"] != "ok" for r in self.results[dep]):
                self.fail(job, f"teacher job {dep} failed: " + self.results[dep][0].get("failure_reason", ""))
                self.advance(job["cost"])
                continue
            self.running[job["id"]] = self.executor.submit(execute, job["payload"], str(self.out),
                                                           self.executor.threads)

    def collect_finished(self) -> None:
        """Take the results of finished jobs; a crashed worker fails its job, not the sweep."""
        for jid, future in list(self.running.items()):
            if not future.done():
                continue
            del self.running[jid]
            try:
                self.results[jid] = future.result()
            except Exception as exc:  # noqa: BLE001
                self.fail(self.jobs[jid], f"worker crashed: {exc!r}")
            if jid in self.run_bars:
                self.run_bars.pop(jid).close()
            self.advance(self.jobs[jid]["cost"])

    def show_progress(self) -> None:
        """A bar per running job from its progress file, and the FLOPs in flight on the sweep's bar."""
        from tqdm.auto import tqdm

        for jid in self.running:
            try:
                p = json.loads((self.out / "progress" / f"{jid}.json").read_text())
            except (OSError, ValueError):
                continue
            if jid not in self.run_bars:
                first = self.jobs[jid]["rows"][0]
                self.run_bars[jid] = tqdm(total=p["total"], desc=f"{first['role']} L={first['layers']} {jid[:6]}",
                                          unit="step", leave=False, position=1 + len(self.run_bars),
                                          dynamic_ncols=True)
            run_bar = self.run_bars[jid]
            run_bar.update(min(p["done"], run_bar.total) - run_bar.n)
        flying = sum(self.jobs[j]["cost"] * b.n / max(1, b.total) for j, b in self.run_bars.items())
        self.bar.set_postfix_str(f"submitted {len(self.running)} waiting {len(self.waiting)} "
                                 f"(+{flying:.3g} FLOP in flight)")


def _orchestrate(todo: list[dict], jobs: list[dict], results: dict[str, list[dict]], out: Path, executor: Executor,
                 progress: bool) -> None:
    """Run ``todo`` on ``executor``, each job once its teacher's job is done, biggest first; fill ``results``."""
    from tqdm.auto import tqdm

    bar = tqdm(total=sum(j["cost"] for j in jobs), initial=sum(j["cost"] for j in jobs if j["id"] in results),
               unit="FLOP", unit_scale=True, desc="sweep", disable=not progress, position=0, dynamic_ncols=True)
    waiting = sorted(todo, key=lambda j: (j["depends"] is not None, -j["cost"]))
    sweep = _Sweep({j["id"]: j for j in jobs}, results, out, executor, waiting, bar)
    shown = 0.0
    while sweep.waiting or sweep.running:
        sweep.submit_ready()
        sweep.collect_finished()
        if progress and time.monotonic() - shown > 0.5:
            shown = time.monotonic()
            sweep.show_progress()
        time.sleep(0.05)
    for run_bar in sweep.run_bars.values():
        run_bar.close()
    bar.set_postfix_str(f"{len(jobs)} jobs done")
    bar.close()


def _column(s: Any) -> np.ndarray:
    if pd_numeric(s):
        return s.to_numpy(dtype=np.float64)
    return np.array(s.tolist(), dtype=object)


def pd_numeric(s: Any) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(s))


TABLE_STR = (
    "kind",
    "role",
    "group",
    "status",
    "failure_reason",
    "families",
    "teacher_run",
    "config",
    "versions",
    "device",
    "precision",
    "source",
    "schedule",
)


def architecture_columns(cfg: ModelConfig) -> dict[str, float]:
    """The laws' Architecture of a run's model as table columns (``ARCHITECTURE_COLUMNS`` of the data layer), so
    that a posterior of the runs plans at their own scale: their FLOPs per token, not the paper's."""
    arch = cfg.architecture()
    return {name: float(getattr(arch, name)) for name in ARCHITECTURE_COLUMNS}


def _table_record(spec: dict[str, Any], row: dict, result: dict) -> dict[str, Any]:
    """One run's entry of the table: what the sweep asked for, its architecture, and what its job measured."""
    t = row["teacher"]
    rec = {
        "run": row["run"], "kind": row["kind"], "role": row["role"], "group": row["group"], "N": row["N"],
        "D": row["D"], "D_requested": row["D_requested"], "n_layers": row["layers"], "loss": math.nan,
        "teacher_loss": math.nan, "teacher_N": t["N"] if t else math.nan, "teacher_D": t["D"] if t else math.nan,
        "teacher_run": t["run"] if t else "", "status": result["status"],
        "failure_reason": result.get("failure_reason", ""), "entropy_rate": math.nan, "loss_floor": math.nan,
        "seed": row["seed"], "families": ",".join(row["families"]), "config": json.dumps(row["spec"], sort_keys=True),
        "source": spec["data"]["source"], "schedule": spec["train"]["schedule"],
        "lam": spec["distill"]["lam"] if t else math.nan, "tau": spec["distill"]["tau"] if t else math.nan,
        "top_k": float(spec["distill"]["top_k"]) if t else math.nan,
    }
    rec.update(architecture_columns(model_config(spec, row["layers"])))
    if result["status"] == "ok":
        rec.update({k: v for k, v in result.items() if k not in ("run", "group", "N", "D", "D_requested", "traceback")})
    return rec


def _table_frame(spec: dict[str, Any], rows: list[dict], jobs: list[dict], results: dict[str, list[dict]]) -> Any:
    """The table as a DataFrame: one record per row, the source's exact floor where its runs did not record it,
    text columns as strings and the rest as float64."""
    import pandas as pd

    by_run = {r["run"]: r for job in jobs for r in results.get(job["id"], [])}
    not_run = {"status": "failed", "failure_reason": "not run"}
    df = pd.DataFrame.from_records([_table_record(spec, row, by_run.get(row["run"], not_run)) for row in rows])
    if spec["data"]["source"] == "markov" and df["entropy_rate"].isna().any():
        from bayes_distill.runner.data import MarkovSource

        dcfg = DataConfig(**{**spec["data"], "paths": tuple(spec["data"]["paths"])})
        src = MarkovSource(dcfg)
        df["entropy_rate"] = src.entropy_rate
        df["loss_floor"] = src.window_floor(dcfg.context_length)
    for col in df.columns:
        if col in TABLE_STR or col == "run" or not pd.api.types.is_numeric_dtype(df[col]):
            df[col] = df[col].fillna("").astype(str)
        else:
            df[col] = df[col].astype(np.float64)
    return df


def build_table(
    spec: dict[str, Any], rows: list[dict], jobs: list[dict], results: dict[str, list[dict]], out: Path
) -> Any:
    """The results table (schema of the data layer's ``load_runs``), written to runs.nc and runs.csv.

    One entry per run along dimension ``run`` (the run's hash): kind, N, D (tokens; D_S for distilled),
    loss (validation CE vs data, nats/token), teacher_loss / teacher_N / teacher_D (NaN for supervised),
    group, status, failure_reason, entropy_rate (exact, nats/token; NaN for text), the architecture columns
    and more.
    """
    import xarray as xr

    df = _table_frame(spec, rows, jobs, results)
    ds = xr.Dataset({c: ("run", _column(df[c])) for c in df.columns if c != "run"}, coords={"run": _column(df["run"])})
    ds.attrs.update({"sweep": spec["name"], "created_by": "bayes_distill.runner",
                     "units": "N: parameters; D: tokens; loss, entropy_rate: nats/token; flops: FLOPs"})
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "runs.nc") as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    with atomic_path(out / "runs.csv") as tmp:
        df.to_csv(tmp, index=False)
    return ds
