"""The runs table: validated ``xarray.Dataset`` with dimension ``run``.

Variables: ``kind`` ("supervised" | "distilled"; a teacher's own run is supervised), ``N`` (non-embedding
parameters; the student's for distilled runs), ``D`` (tokens; D_S for distilled runs), ``loss`` (validation
cross-entropy, nats/token), ``teacher_loss`` (distilled runs; missing for supervised ones, where a value says
the kind is wrong and is an error), optional ``teacher_N``,
``teacher_D``, ``group`` (checkpoints of one training run share a group) and ``status`` ("ok" | "failed"); and,
optionally, the architecture of the runs' models (``ARCHITECTURE_COLUMNS``: the fields of the laws'
``Architecture``), which the runner records so that plans from a fit are made at the runs' own scale.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayes_distill.laws import Architecture

KINDS = ("supervised", "distilled")
REQUIRED = ("kind", "N", "D", "loss")
POSITIVE = ("N", "D", "loss")
ARCHITECTURE_COLUMNS = ("context_length", "vocab_size", "aspect_ratio", "group_size", "n_ffn", "ffn_ratio")
"""Columns naming each run's model family: the numeric fields of ``bayes_distill.laws.Architecture``."""
_FFN_RATIO_SPREAD = 0.05


def _rows(mask: np.ndarray, ids: np.ndarray, limit: int = 5) -> str:
    bad = ids[mask]
    shown = ", ".join(map(str, bad[:limit]))
    return f"{shown}{', ...' if bad.size > limit else ''} ({bad.size} row{'s' if bad.size != 1 else ''})"


def _read(source: Any) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source.copy()
    if isinstance(source, xr.Dataset):
        return source.to_dataframe().reset_index()
    path = Path(os.fspath(source))
    if not path.exists():
        raise ValueError(f"runs file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix in (".nc", ".netcdf", ".h5"):
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return ds.load().to_dataframe().reset_index()
    raise ValueError(f"runs file {str(path)!r}: unknown format {suffix!r} (use .csv, .parquet or .nc)")


def load_runs(source: Any, *, include_failed: bool = False) -> xr.Dataset:
    """Read runs from CSV, Parquet, netCDF, a pandas DataFrame or an xarray Dataset, and validate them.

    Every problem raises ``ValueError`` naming the column and the offending rows; nothing is dropped
    silently. Runs with ``status`` other than "ok" (failed runs of the runner) are left out unless
    ``include_failed``; how many were left out is stored in ``attrs["excluded_failed_runs"]``.
    """
    frame = _read(source)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"runs table is missing the columns {missing}; it has {list(frame.columns)}")
    ids = _run_ids(frame)

    excluded = 0
    if "status" in frame.columns and not include_failed:
        ok = frame["status"].astype(str).eq("ok").to_numpy()
        excluded = int((~ok).sum())
        frame, ids = frame[ok], ids[ok]

    kind, teacher_loss = _kinds_and_teacher_losses(frame, ids)

    data = {
        "kind": ("run", kind.astype(str)),
        "N": ("run", frame["N"].to_numpy(float), {"units": "parameters (non-embedding)"}),
        "D": ("run", frame["D"].to_numpy(float), {"units": "tokens"}),
        "loss": ("run", frame["loss"].to_numpy(float), {"units": "nats/token"}),
        "teacher_loss": ("run", teacher_loss, {"units": "nats/token"}),
    }
    for optional, units in (("teacher_N", "parameters (non-embedding)"), ("teacher_D", "tokens")):
        if optional in frame.columns:
            data[optional] = ("run", _numeric_column(frame, optional, ids), {"units": units})
    data |= _architecture_data(frame, ids)
    group = frame["group"].astype(str).to_numpy() if "group" in frame.columns else ids
    data["group"] = ("run", np.asarray(group, dtype=str))
    if "status" in frame.columns:
        data["status"] = ("run", frame["status"].astype(str).to_numpy())
    if len(frame) == 0:
        raise ValueError("runs table has no runs to fit" + (f" ({excluded} failed runs excluded)" if excluded else ""))
    return xr.Dataset(data, coords={"run": ("run", ids.astype(str))}, attrs={"excluded_failed_runs": excluded})


def _run_ids(frame: pd.DataFrame) -> np.ndarray:
    """The ``run`` column as strings (``run-<row>`` where there is none), checked to be unique."""
    if "run" not in frame.columns:
        frame["run"] = [f"run-{i}" for i in range(len(frame))]
    ids = frame["run"].astype(str).to_numpy()
    duplicated = frame["run"].duplicated(keep=False).to_numpy()
    if duplicated.any():
        raise ValueError(f"column 'run' has duplicate run ids: {_rows(duplicated, ids)}")
    return ids


def _kinds_and_teacher_losses(frame: pd.DataFrame, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each run's kind (checked, lower case) and teacher loss (nats/token; checked to be > 0 for distilled runs and
    missing for supervised ones), with ``N``, ``D`` and ``loss`` checked to be finite and > 0 on the way."""
    kind = frame["kind"].astype(str).str.strip().str.lower().to_numpy()
    unknown = ~np.isin(kind, KINDS)
    if unknown.any():
        raise ValueError(f"column 'kind' must be one of {KINDS}; unknown values {sorted(set(kind[unknown]))} "
                         f"in rows {_rows(unknown, ids)}")
    for column in POSITIVE:
        _positive_column(frame, column, ids)
    distilled = kind == "distilled"
    teacher_loss = (_numeric_column(frame, "teacher_loss", ids) if "teacher_loss" in frame.columns
                    else np.full(len(frame), np.nan))
    bad = distilled & (~np.isfinite(teacher_loss) | (teacher_loss <= 0))
    if bad.any():
        raise ValueError(f"column 'teacher_loss' must be finite and > 0 for distilled runs; "
                         f"missing or bad in rows {_rows(bad, ids)}")
    _check_no_teacher(~distilled, {"teacher_loss": teacher_loss}, ids, "rows")
    return kind, teacher_loss


def _check_no_teacher(supervised: np.ndarray, columns: dict[str, np.ndarray], ids: np.ndarray, what: str) -> None:
    """A supervised run has no teacher: a value in a teacher column says its kind is wrong, so it is an error
    rather than dropped."""
    for column, values in columns.items():
        given = supervised & ~np.isnan(values)
        if given.any():
            raise ValueError(f"column {column!r} has values {values[given][:5].tolist()} for supervised {what} "
                             f"{_rows(given, ids)}: a supervised run has no teacher (is its kind 'distilled'?)")


def _architecture_data(frame: pd.DataFrame, ids: np.ndarray) -> dict:
    """The architecture columns, all or none: each must be finite and > 0 in every run."""
    present = [c for c in ARCHITECTURE_COLUMNS if c in frame.columns]
    if not present:
        return {}
    missing = [c for c in ARCHITECTURE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"runs table has the architecture columns {present} but not {missing}: give all of "
                         f"{list(ARCHITECTURE_COLUMNS)} or none")
    return {column: ("run", _positive_column(frame, column, ids)) for column in ARCHITECTURE_COLUMNS}


_MISSING_TEXT = frozenset({"", "nan", "-nan", "na", "n/a", "#n/a", "none", "null"})  # pandas' markers of a gap


def _numeric_column(frame: pd.DataFrame, column: str, ids: np.ndarray) -> np.ndarray:
    """``column`` as floats, NaN where an entry is missing (NaN, empty, or a marker such as "NA"); an entry that is
    there but no number (say "1e9 tokens") is a ValueError naming the column, the entries and their rows, not read
    as missing."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(float)
    missing = raw.isna().to_numpy() | raw.astype(str).str.strip().str.lower().isin(_MISSING_TEXT).to_numpy()
    unreadable = np.isnan(values) & ~missing
    if unreadable.any():
        raise ValueError(f"column {column!r} must hold numbers; unreadable entries "
                         f"{raw.to_numpy()[unreadable][:5].tolist()} in rows {_rows(unreadable, ids)}")
    return values


def _positive_column(frame: pd.DataFrame, column: str, ids: np.ndarray) -> np.ndarray:
    """``column`` as floats; ValueError naming the column, the bad values and their rows unless all are finite
    and > 0."""
    values = _numeric_column(frame, column, ids)
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        raise ValueError(f"column {column!r} must be finite and > 0; bad values {values[bad][:5].tolist()} "
                         f"in rows {_rows(bad, ids)}")
    return values


def runs_architecture(runs: xr.Dataset) -> Architecture | None:
    """The one ``Architecture`` of the runs' models, or None when the table records none.

    Context length, vocabulary, aspect ratio, group size and the number of feed-forward matrices must agree over
    the runs (the laws' FLOPs per token assume one model family); the feed-forward ratio may differ by rounding of
    the width (within 5%) and is averaged. Anything else is a ValueError naming the column and its values.
    """
    if not all(c in runs for c in ARCHITECTURE_COLUMNS):
        return None
    fields = {}
    for column in ARCHITECTURE_COLUMNS:
        values = np.unique(runs[column].values.astype(float))
        if column == "ffn_ratio":
            if values.max() > values.min() * (1 + _FFN_RATIO_SPREAD):
                raise ValueError(f"column 'ffn_ratio' spans {values.min():.4g} to {values.max():.4g}: the runs are "
                                 f"not one model family; fit them separately")
            fields[column] = float(values.mean())
        elif values.size > 1:
            raise ValueError(f"column {column!r} has several values {values.tolist()}: the runs are not one model "
                             f"family (one Architecture); fit them separately")
        else:
            fields[column] = float(values[0])
    for integer in ("context_length", "vocab_size", "n_ffn"):
        fields[integer] = int(round(fields[integer]))
    return Architecture(**fields)


def supervised_twin_loss(table: xr.Dataset, rtol: float = 0.02) -> xr.DataArray:
    """For each distilled run, the loss (nats/token) of its supervised twin: a supervised run of the same N and
    D (within ``rtol``) that succeeded; where the table has roles, a supervised student (role "supervised"), not a
    teacher trained on the teacher's stream. NaN where there is no twin; dimension ``run`` of distilled runs."""
    kind = table["kind"].values.astype(str)
    candidate = kind == "supervised"
    if "role" in table:
        candidate &= table["role"].values.astype(str) == "supervised"
    if "status" in table:
        candidate &= table["status"].values.astype(str) == "ok"
    N, D, loss = (table[k].values.astype(float) for k in ("N", "D", "loss"))
    distilled = np.flatnonzero(kind == "distilled")
    twin = np.full(distilled.size, np.nan)
    for j, i in enumerate(distilled):
        same = np.flatnonzero(candidate & np.isclose(N, N[i]) & np.isclose(D, D[i], rtol=rtol))
        if same.size:
            twin[j] = loss[same[0]]
    return xr.DataArray(twin, coords={"run": table["run"].values[distilled]}, dims="run", name="supervised_twin_loss",
                        attrs={"units": "nats/token"})
