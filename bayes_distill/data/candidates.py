"""Candidate runs: the runs table's schema without the loss, for deciding which runs to train next.

Variables over dimension ``candidate``: ``kind``, ``N`` (parameters; the student's), ``D`` (tokens), and for a
distilled candidate either ``teacher_loss`` (an existing teacher, nats/token) or a teacher still to train,
``teacher_N`` (parameters) and ``teacher_D`` (tokens), whose loss the supervised law predicts; a supervised
candidate has none of these (a value there is an error: its kind is wrong, or a column was filled for every row).
Optional: ``run``
(ids, the coordinate; row positions otherwise) and ``cost`` (FLOPs, taken as given where present). A distilled
candidate's cost needs ``teacher_N`` (its teacher's logits) unless ``cost`` is given.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayes_distill.data.runs import KINDS, _check_no_teacher, _numeric_column, _positive_column, _read, _rows


def _optional_column(frame: pd.DataFrame, column: str, ids: np.ndarray) -> np.ndarray:
    """``column`` as floats, NaN where missing or absent (an entry that is no number is an error)."""
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    return _numeric_column(frame, column, ids)


def _check_teachers(distilled: np.ndarray, columns: dict[str, np.ndarray], ids: np.ndarray) -> None:
    """Each distilled candidate names its teacher: a teacher_loss, or a teacher_N and teacher_D to train."""
    given = {name: np.isfinite(values) & (values > 0) for name, values in columns.items()}
    bad = {name: np.isfinite(values) & (values <= 0) for name, values in columns.items()}
    for name, mask in bad.items():
        if mask.any():
            raise ValueError(f"column {name!r} must be > 0; bad values {columns[name][mask][:5].tolist()} in "
                             f"candidates {_rows(mask, ids)}")
    new_teacher = given["teacher_N"] & given["teacher_D"]
    unnamed = distilled & ~given["teacher_loss"] & ~new_teacher
    if unnamed.any():
        raise ValueError("distilled candidates need a 'teacher_loss' or a teacher to train ('teacher_N' and "
                         f"'teacher_D'); neither in candidates {_rows(unnamed, ids)}")


def _ids(frame: pd.DataFrame) -> np.ndarray:
    """The candidates' ids: the ``run`` column, else the ``candidate`` coordinate of a table loaded before (so that
    loading twice keeps them), else row positions."""
    if "run" in frame.columns:
        return frame["run"].astype(str).to_numpy()
    if "candidate" in frame.columns:
        return frame["candidate"].to_numpy()
    return np.arange(len(frame))


def load_candidates(source: Any) -> xr.Dataset:
    """Read candidate runs from CSV, Parquet, netCDF, a DataFrame or a Dataset and validate them; every problem
    raises ``ValueError`` naming the column and the candidates."""
    frame = _read(source).reset_index(drop=True)
    missing = [c for c in ("kind", "N", "D") if c not in frame.columns]
    if missing or len(frame) == 0:
        raise ValueError(f"candidates need the columns ['kind', 'N', 'D'] and at least one row; missing {missing}, "
                         f"{len(frame)} rows")
    ids = _ids(frame)
    duplicated = pd.Series(ids).duplicated(keep=False).to_numpy()
    if duplicated.any():
        raise ValueError(f"column 'run' has duplicate ids: {_rows(duplicated, ids)}")
    kind = frame["kind"].astype(str).str.strip().str.lower().to_numpy()
    unknown = ~np.isin(kind, KINDS)
    if unknown.any():
        raise ValueError(f"column 'kind' must be one of {KINDS}; unknown values {sorted(set(kind[unknown]))} in "
                         f"candidates {_rows(unknown, ids)}")
    teacher = {c: _optional_column(frame, c, ids) for c in ("teacher_loss", "teacher_N", "teacher_D")}
    _check_no_teacher(kind == "supervised", teacher, ids, "candidates")
    _check_teachers(kind == "distilled", teacher, ids)
    data = {"kind": ("candidate", kind.astype(str)),
            "N": ("candidate", _positive_column(frame, "N", ids), {"units": "parameters (non-embedding)"}),
            "D": ("candidate", _positive_column(frame, "D", ids), {"units": "tokens"})}
    data |= {c: ("candidate", v) for c, v in teacher.items()}
    if "cost" in frame.columns:  # where missing, the compute accounting's
        cost = _optional_column(frame, "cost", ids)
        bad = (cost <= 0) | np.isinf(cost)
        if bad.any():
            raise ValueError(f"column 'cost' must be FLOPs > 0 (or missing); bad values {cost[bad][:5].tolist()} in "
                             f"candidates {_rows(bad, ids)}")
        data["cost"] = ("candidate", cost, {"units": "FLOPs"})
    return xr.Dataset(data, coords={"candidate": ("candidate", ids)})
