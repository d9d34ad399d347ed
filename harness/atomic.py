"""Files and folders that appear whole or not at all, with the modes of any new file.

Results, caches and checkpoints are written under a scratch name and renamed into
place, so an interrupted run never leaves half a file that a later run would trust.
``tempfile`` makes its scratch files 0600 and folders 0700 (private: they are meant
to be temporary); renamed into place they would keep that, and a run folder or a
cache shared with colleagues would be unreadable to them. Here they get what the
process's umask gives any file it creates.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@functools.cache
def _umask() -> int:
    """The process's umask, read once (reading it means setting it, briefly)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(path: Path, binary: bool = False) -> Iterator[IO[Any]]:
    """A handle to write ``path`` through: it replaces ``path`` when the block ends,
    and is removed if the block raises."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as handle:
            yield handle
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, text: str) -> None:
    with atomic_file(path) as handle:
        handle.write(text)


def scratch_folder(parent: Path, prefix: str, suffix: str = "") -> Path:
    """A new empty folder in ``parent`` to fill and then rename into place."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=parent))
    folder.chmod(0o777 & ~_umask())
    return folder
