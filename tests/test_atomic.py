"""atomic_path: a write is whole or absent, and a failed one keeps the old file and leaves no temporary behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from bayes_distill.atomic import TEMPORARY_GLOB, atomic_path


class _WriteFailedError(Exception):
    pass


def test_failed_write_leaves_no_target_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    with pytest.raises(_WriteFailedError), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise _WriteFailedError
    assert sorted(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_existing_target(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    target.write_text("old")
    with pytest.raises(_WriteFailedError), atomic_path(target) as temporary:
        temporary.write_text("new, half written")
        raise _WriteFailedError
    assert target.read_text() == "old"
    assert sorted(tmp_path.iterdir()) == [target]


def test_successful_write_replaces_the_target(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    target.write_text("old")
    with atomic_path(target) as temporary:
        temporary.write_text("new")
        assert target.read_text() == "old"  # readers see the old file until the write is complete
    assert target.read_text() == "new"
    assert sorted(tmp_path.iterdir()) == [target]


def test_temporary_lies_beside_the_target_and_resume_cleanup_finds_it(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "runs.nc"
    target.parent.mkdir()
    with atomic_path(target) as temporary:
        temporary.write_text("x")
        assert temporary.parent == target.parent
        assert temporary != target
        assert list(target.parent.glob(TEMPORARY_GLOB)) == [temporary]
    assert not list(target.parent.glob(TEMPORARY_GLOB))


def test_temporaries_of_one_target_are_distinct(tmp_path: Path) -> None:
    target = tmp_path / "progress.json"
    with atomic_path(target) as first, atomic_path(target) as second:
        assert first != second
        first.write_text("1")
        second.write_text("2")
    assert target.read_text() == "1"  # the outer write completes last
