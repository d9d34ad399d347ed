"""Atomic writes: whole or nothing, and readable by whoever the umask lets read."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from harness import atomic
from harness.cache import ContentCache
from harness.results import write_json


@pytest.fixture
def group_readable() -> Iterator[None]:
    previous = os.umask(0o022)
    atomic._umask.cache_clear()
    yield
    os.umask(previous)
    atomic._umask.cache_clear()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("group_readable")
def test_results_caches_and_folders_get_the_modes_of_any_new_file(tmp_path: Path) -> None:
    write_json(tmp_path / "run" / "results.json", {"a": 1})
    cache = ContentCache("embeddings", tmp_path / "cache")
    cache.save_array("k", np.zeros(3))
    cache.save_json("j", [1])
    folder = atomic.scratch_folder(tmp_path, prefix=".model-")
    assert mode(tmp_path / "run" / "results.json") == 0o644
    assert mode(tmp_path / "cache" / "embeddings" / "k.npy") == 0o644
    assert mode(tmp_path / "cache" / "embeddings" / "j.json") == 0o644
    assert mode(folder) == 0o755


def test_an_interrupted_write_leaves_the_old_file_and_no_scratch(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    atomic.write_atomic(path, "old")
    with pytest.raises(KeyboardInterrupt), atomic.atomic_file(path) as handle:
        handle.write("half")
        raise KeyboardInterrupt
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
