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
from dataclasses import asdict, fields
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
    data = dict(spec.get("data", {}))
    _check_keys("data", data, {f.name for f in fields(DataConfig)})
    if "paths" in data:
        if isinstance(data["paths"], str):
            data["paths"] = [data["paths"]]
        data["paths"] = tuple(data["paths"])
    dcfg = DataConfig(**data)
    if dcfg.source == "text":
        from bayes_distill.runner.data import _read_text_bytes

        _read_text_bytes(dcfg.paths)  # fail early on a missing path
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
    return spec


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


def expand(spec: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run rows and jobs of a validated spec.

    Returns (rows, jobs): one row per (model, budget) in specification order, with its key ``run``, role
    ("teacher", "supervised", "student"), kind, families, N, requested D and teacher key; and the jobs that
    produce them (one per row for cosine schedules; WSD merges runs differing only in D into one job).
    """
    from bayes_distill.runner.model import Transformer  # noqa: F401  (import check)

    tps = spec["train"]["batch_size"] * spec["data"]["context_length"]
    rows: dict[str, dict[str, Any]] = {}
    n_cache: dict[int, int] = {}

    def N(layers: int) -> int:
        if layers not in n_cache:
            n_cache[layers] = n_params(model_config(spec, layers))
        return n_cache[layers]

    def f3(layers: int) -> float:
        from bayes_distill.laws.compute import forward_flops

        return 3.0 * float(forward_flops(float(N(layers)), model_config(spec, layers).architecture()))

    def add(
        role: str, stream: str, layers: int, D: float, seed: int, family: str, teacher: dict | None = None
    ) -> dict:
        base = {
            "stream": stream,
            "model": asdict(model_config(spec, layers)),
            "data": spec["data"],
            "train": {**spec["train"], "seed": seed},
            "distill": spec["distill"] if teacher else None,
            "teacher": teacher["run"] if teacher else None,
        }
        steps = max(1, math.ceil(D / tps))
        key = _hash({**base, "D": float(steps * tps)})  # the role does not change training: not hashed
        if key not in rows:
            rows[key] = {
                "spec": base,
                "run": key,
                "role": role,
                "layers": layers,
                "N": float(N(layers)),
                "D_requested": float(D),
                "D": float(steps * tps),
                "seed": seed,
                "families": [],
                "teacher": teacher,
                "kind": "distilled" if teacher else "supervised",
            }
        if role == "teacher" and rows[key]["role"] != "teacher":
            rows[key]["role"] = "teacher"
        if family not in rows[key]["families"]:
            rows[key]["families"].append(family)
        return rows[key]

    for seed in spec["seeds"]:
        for fam in spec["family"]:
            kind = fam["kind"]
            if kind == "supervised_grid":
                for L in _as_list(fam["layers"]):
                    Ds = [float(d) for d in _as_list(fam.get("tokens", []))]
                    Ds += [float(m) * N(L) for m in _as_list(fam.get("tokens_per_param", []))]
                    for D in Ds:
                        add("supervised", fam.get("stream", "teacher"), L, D, seed, kind)
                continue
            if kind == "supervised_isoflop":
                for c in _as_list(fam["flops"]):
                    for L in _as_list(fam["layers"]):
                        add("supervised", fam.get("stream", "teacher"), L, c / f3(L), seed, kind)
                continue
            teachers = []
            if kind == "teacher_isoflop_fixed_student":
                for c in _as_list(fam["teacher_flops"]):
                    teachers += [
                        add("teacher", "teacher", L, c / f3(L), seed, kind)
                        for L in _as_list(fam["teacher_layers"])
                    ]
            else:
                m_t = float(fam.get("teacher_tokens_per_param", 20))
                teachers = [
                    add("teacher", "teacher", L, m_t * N(L), seed, kind)
                    for L in _as_list(fam["teacher_layers"])
                ]
            budgets: list[tuple[int, float]] = []
            for L in _as_list(fam["student_layers"]):
                if kind == "fixed_teacher_student_isoflop":
                    budgets += [(L, c / f3(L)) for c in _as_list(fam["student_flops"])]
                else:
                    budgets += [(L, m * N(L)) for m in _as_list(fam.get("student_tokens_per_param", 20))]
            for t in teachers:
                for L, D in budgets:
                    add("student", "student", L, D, seed, kind, teacher=t)
            if fam.get("supervised_baseline", False):
                for L, D in budgets:
                    add("supervised", "student", L, D, seed, kind)
    rows_list = list(rows.values())
    # one job per row, or (WSD) per group of rows that differ only in D
    groups: dict[str, list[dict]] = {}
    for r in rows_list:
        gkey = _hash(r["spec"]) if spec["train"]["schedule"] == "wsd" else r["run"]
        groups.setdefault(gkey, []).append(r)
    jobs = []
    for gkey, members in groups.items():
        members.sort(key=lambda r: r["D"])
        if len(members) > 1 or spec["train"]["schedule"] == "wsd":
            budgets_ = [m["D"] for m in members]
            job_id = _hash({"group": gkey, "budgets": budgets_})
            for m in members:  # a WSD row's result depends on the whole group (warm-up, branch points)
                m["run"] = _hash({"group": job_id, "D": m["D"]}) if len(members) > 1 else m["run"]
        else:
            job_id = members[0]["run"]
        for m in members:
            m["group"] = job_id
        jobs.append({"id": job_id, "rows": members})
    # teacher keys may have changed with WSD grouping: resolve through the row objects
    for r in rows_list:
        if r["teacher"] is not None:
            r["teacher_run"] = r["teacher"]["run"]
    for job in jobs:
        first = job["rows"][0]
        t = first["teacher"]
        job["payload"] = {
            "id": job["id"],
            "role": first["role"],
            "stream": first["spec"]["stream"],
            "model": first["spec"]["model"],
            "data": first["spec"]["data"],
            "train": first["spec"]["train"],
            "distill": first["spec"]["distill"],
            "teacher": {"run": t["run"], "N": t["N"], "D": t["D"]} if t else None,
            "budgets": [m["D"] for m in job["rows"]],
            "row_ids": [m["run"] for m in job["rows"]],
            "save_checkpoint": any(m["role"] == "teacher" for m in job["rows"]),
        }
        job["depends"] = t["group"] if t else None
        job["cost"] = sum(f3(m["layers"]) * m["D"] for m in job["rows"][-1:]) + (
            f3(t["layers"]) / 3.0 * job["rows"][-1]["D"] if t else 0.0
        )
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
) -> Any:
    """Run (or finish) the sweep in ``spec_path``, writing into ``out_dir``; returns the results table.

    scheduler: a Dask scheduler address ("tcp://host:port") to run on a cluster; else a local process pool of
    ``workers`` processes (default: one per core). ``executor`` overrides both. Completed jobs (their
    results/<job>.json exists) are not redone. Returns an xarray.Dataset with dimension ``run`` (see
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
    todo = [j for j in jobs if j["id"] not in results]
    if todo:
        own = executor is None
        executor = executor or make_executor(scheduler, workers)
        try:
            _orchestrate(todo, jobs, results, out, executor, progress)
        finally:
            if own:
                executor.close()
    return build_table(spec, rows, jobs, results, out)


def _orchestrate(
    todo: list[dict],
    jobs: list[dict],
    results: dict[str, list[dict]],
    out: Path,
    executor: Executor,
    progress: bool,
) -> None:
    from tqdm.auto import tqdm

    by_id = {j["id"]: j for j in jobs}
    total_cost = sum(j["cost"] for j in jobs)
    done_cost = sum(j["cost"] for j in jobs if j["id"] in results)
    bar = tqdm(
        total=total_cost,
        initial=done_cost,
        unit="FLOP",
        unit_scale=True,
        desc="sweep",
        disable=not progress,
        position=0,
        dynamic_ncols=True,
    )
    run_bars: dict[str, Any] = {}
    running: dict[str, Any] = {}
    waiting = sorted(todo, key=lambda j: (j["depends"] is not None, -j["cost"]))
    t_last = 0.0
    while waiting or running:
        for job in list(waiting):
            dep = job["depends"]
            if dep is not None and dep not in results:
                continue
            waiting.remove(job)
            if dep is not None and any(r["status"] != "ok" for r in results[dep]):
                reason = f"teacher job {dep} failed: " + results[dep][0].get("failure_reason", "")
                rows = [
                    {"run": rid, "status": "failed", "failure_reason": reason}
                    for rid in job["payload"]["row_ids"]
                ]
                write_json_atomic(out / "results" / f"{job['id']}.json", rows)
                results[job["id"]] = rows
                bar.update(job["cost"])
                continue
            running[job["id"]] = executor.submit(execute, job["payload"], str(out), executor.threads)
        for jid, fut in list(running.items()):
            if not fut.done():
                continue
            del running[jid]
            try:
                results[jid] = fut.result()
            except Exception as exc:  # noqa: BLE001 - a crashed worker fails its job, not the sweep
                rows = [
                    {"run": rid, "status": "failed", "failure_reason": f"worker crashed: {exc!r}"}
                    for rid in by_id[jid]["payload"]["row_ids"]
                ]
                write_json_atomic(out / "results" / f"{jid}.json", rows)
                results[jid] = rows
            if jid in run_bars:
                run_bars.pop(jid).close()
            bar.update(by_id[jid]["cost"])
        now = time.monotonic()
        if progress and now - t_last > 0.5:
            t_last = now
            for jid in running:
                pfile = out / "progress" / f"{jid}.json"
                try:
                    p = json.loads(pfile.read_text())
                except (OSError, ValueError):
                    continue
                if jid not in run_bars:
                    job = by_id[jid]
                    label = f"{job['rows'][0]['role']} L={job['rows'][0]['layers']} {jid[:6]}"
                    run_bars[jid] = tqdm(
                        total=p["total"],
                        desc=label,
                        unit="step",
                        leave=False,
                        position=1 + len(run_bars),
                        dynamic_ncols=True,
                    )
                b = run_bars[jid]
                b.update(p["done"] - b.n)
            partial = sum(by_id[j]["cost"] * run_bars[j].n / max(1, run_bars[j].total) for j in run_bars)
            bar.set_postfix_str(
                f"submitted {len(running)} waiting {len(waiting)} (+{partial:.3g} FLOP in flight)"
            )
        time.sleep(0.05)
    for b in run_bars.values():
        b.close()
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


def build_table(
    spec: dict[str, Any], rows: list[dict], jobs: list[dict], results: dict[str, list[dict]], out: Path
) -> Any:
    """The results table (schema of the data layer's ``load_runs``), written to runs.nc and runs.csv.

    One entry per run along dimension ``run`` (the run's hash): kind, N, D (tokens; D_S for distilled),
    loss (validation CE vs data, nats/token), teacher_loss / teacher_N / teacher_D (NaN for supervised),
    group, status, failure_reason, entropy_rate (exact, nats/token; NaN for text) and more.
    """
    import pandas as pd
    import xarray as xr

    by_run: dict[str, dict] = {}
    for job in jobs:
        for r in results.get(job["id"], []):
            by_run[r["run"]] = r
    records = []
    for row in rows:
        res = by_run.get(row["run"], {"status": "failed", "failure_reason": "not run"})
        t = row["teacher"]
        rec = {
            "run": row["run"],
            "kind": row["kind"],
            "role": row["role"],
            "group": row["group"],
            "N": row["N"],
            "D": row["D"],
            "D_requested": row["D_requested"],
            "n_layers": row["layers"],
            "loss": math.nan,
            "teacher_loss": math.nan,
            "teacher_N": t["N"] if t else math.nan,
            "teacher_D": t["D"] if t else math.nan,
            "teacher_run": t["run"] if t else "",
            "status": res["status"],
            "failure_reason": res.get("failure_reason", ""),
            "entropy_rate": math.nan,
            "loss_floor": math.nan,
            "seed": row["seed"],
            "families": ",".join(row["families"]),
            "config": json.dumps(row["spec"], sort_keys=True),
            "source": spec["data"]["source"],
            "schedule": spec["train"]["schedule"],
            "lam": spec["distill"]["lam"] if t else math.nan,
            "tau": spec["distill"]["tau"] if t else math.nan,
            "top_k": float(spec["distill"]["top_k"]) if t else math.nan,
        }
        rec.update(architecture_columns(model_config(spec, row["layers"])))
        if res["status"] == "ok":
            for k, v in res.items():
                if k not in ("run", "group", "N", "D", "D_requested", "traceback"):
                    rec[k] = v
        records.append(rec)
    df = pd.DataFrame.from_records(records)
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
    ds = xr.Dataset(
        {c: ("run", _column(df[c])) for c in df.columns if c != "run"}, coords={"run": _column(df["run"])}
    )
    ds.attrs.update(
        {
            "sweep": spec["name"],
            "created_by": "bayes_distill.runner",
            "units": "N: parameters; D: tokens; loss, entropy_rate: nats/token; flops: FLOPs",
        }
    )
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "runs.nc") as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    with atomic_path(out / "runs.csv") as tmp:
        df.to_csv(tmp, index=False)
    return ds
