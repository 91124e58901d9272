"""Atomic file writes: a file is written under a temporary name beside its target and moved onto it when complete.

A leaf module (standard library only), so that every layer and the runner can use it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMPORARY_GLOB = "*.tmp*"
"""Matches every temporary name ``atomic_path`` gives, so a resumed job can remove what a killed one left."""

_SERIAL = itertools.count()


def temporary_path(path: Path) -> Path:
    """``<name>.tmp<pid>-<serial>`` beside ``path``: unique per process and per call, so concurrent writers of one
    target (threads, processes of a pool) never share a temporary file, and on the same filesystem, so that
    ``os.replace`` is atomic."""
    return path.with_name(f"{path.name}.tmp{os.getpid()}-{next(_SERIAL)}")


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; on success move it onto ``path``, on failure remove it.

    Readers see the old file or the new one, never a half-written one, and a failed write keeps the old file.
    The parent directory must exist."""
    target = Path(path)
    temporary = temporary_path(target)
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
