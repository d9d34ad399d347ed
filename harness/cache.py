"""Content-keyed caches under ``HARNESS_CACHE`` (default ``~/.cache/harness``).

A key hashes everything the cached value depends on (model identity, settings, data
fingerprints), so a changed input never meets a stale entry: it simply misses.
Entries are written to a scratch file and renamed into place, so an interrupted
write never leaves a half-written entry that a later run would trust.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from harness.atomic import atomic_file, write_atomic
from harness.engine.distributed import is_main
from harness.models.encoder import model_location
from harness.registry import trained_summary
from harness.results import LOG_FILE, config_hash
from harness.specs import ModelSpec


def cache_root() -> Path:
    return Path(os.environ.get("HARNESS_CACHE") or Path.home() / ".cache" / "harness")


def model_identity(spec: ModelSpec, location: str) -> dict[str, Any]:
    """What names the starting weights: the hub id and the revision it resolves to; for
    a ``harness train`` checkpoint, the hash of the settings it was trained with (its
    summary is written last, and removed first by a training that replaces it), so one
    deleted and trained again with the same settings is the same model; for any other
    folder, its files' state (all but the log a sweep appends to on every visit, so
    that a visit is no change)."""
    identity: dict[str, Any] = {
        "source": spec.source,
        "location": location,
        "revision": spec.revision,
    }
    folder = Path(location)
    summary = trained_summary(folder) if folder.is_dir() else None
    if summary is not None and "config_hash" in summary:
        identity["trained"] = summary["config_hash"]
    elif folder.is_dir():
        identity["files"] = sorted(
            (p.name, p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.iterdir()
            if p.is_file() and p.name != LOG_FILE
        )
    elif spec.source == "hub":
        identity["snapshot"] = _hub_snapshot(location, spec.revision)
    return identity


def checkpoint_identity(folder: Path, trained: str) -> dict[str, Any]:
    """The identity ``model_identity`` gives the checkpoint a training with settings hash
    ``trained`` writes into ``folder``: known before (or after) it is on disk."""
    return {"source": "local", "location": str(folder), "revision": None, "trained": trained}


def model_state(spec: ModelSpec) -> dict[str, Any]:
    """``model_identity`` wherever ``spec`` points; a local checkpoint still to be
    trained (a sweep deciding what is done) has no files yet, which is no error."""
    location = spec.path if spec.source == "local" else model_location(spec)
    return model_identity(spec, location)


def _hub_snapshot(repo: str, revision: str | None) -> str | None:
    """The commit a hub model's downloaded files belong to: a moving ``main`` that
    changes upstream then changes the identity."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, "config.json", revision=revision)
    return Path(found).parent.name if isinstance(found, str) else None


class ContentCache:
    """Arrays (``.npy``) and JSON values under ``ROOT/NAMESPACE/KEY``; ``root`` None
    turns the cache off (every lookup misses, nothing is written). An entry that cannot
    be read, damaged outside harness (its writes are atomic), is a miss: the value is
    computed again and replaces it."""

    def __init__(self, namespace: str, root: Path | None):
        self.folder = root / namespace if root is not None else None

    def key(self, parts: Any) -> str:
        return config_hash(parts)

    def load_array(self, key: str) -> np.ndarray | None:
        path = self._path(key, ".npy")
        if path is None or not path.is_file():
            return None
        try:
            return np.load(path)
        except (OSError, ValueError, EOFError):  # damaged outside harness: a miss, rewritten
            return None

    def save_array(self, key: str, array: np.ndarray) -> None:
        if not self._writes():
            return
        assert self.folder is not None
        with atomic_file(self.folder / f"{key}.npy", binary=True) as handle:
            np.save(handle, array)

    def load_json(self, key: str) -> Any:
        path = self._path(key, ".json")
        if path is None or not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError:  # damaged outside harness: a miss, rewritten
            return None

    def save_json(self, key: str, value: Any) -> None:
        if self._writes():
            write_atomic(self.folder / f"{key}.json", json.dumps(value, ensure_ascii=False))

    def _writes(self) -> bool:
        """Only one process writes (under ``accelerate launch`` the others compute the
        same values)."""
        return self.folder is not None and is_main()

    def _path(self, key: str, suffix: str) -> Path | None:
        return self.folder / f"{key}{suffix}" if self.folder is not None else None
