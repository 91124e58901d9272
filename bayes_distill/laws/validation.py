"""Checks of user input that name the argument and the offending value."""

from __future__ import annotations

from typing import Any

import numpy as np

from bayes_distill.laws._namespace import is_concrete


def check_positive_finite(name: str, value: Any, *, upper: float | None = None) -> None:
    """Raise ``ValueError`` naming ``name`` if any element of ``value`` is not finite and > 0.

    Symbolic values (JAX tracers, PyTensor variables) cannot be checked and pass through.
    """
    if not is_concrete(value):
        return
    arr = np.asarray(value, dtype=float)
    bad = ~np.isfinite(arr) | (arr <= 0)
    if upper is not None:
        bad |= arr > upper
    if np.any(bad):
        first = float(arr[bad].flat[0]) if arr.ndim else float(arr)
        where = "" if arr.ndim == 0 else f" (first bad element at index {tuple(int(i) for i in np.argwhere(bad)[0])})"
        limit = f" and <= {upper:g}" if upper is not None else ""
        raise ValueError(f"{name} must be finite and > 0{limit}; got {first!r}{where}")
