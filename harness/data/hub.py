"""Hugging Face hub datasets, mapped through ``fields`` like jsonl/csv records."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from harness.data.examples import Bitext
from harness.data.fields import RecordMapper
from harness.data.tabular import map_records
from harness.errors import DataError


@dataclass(frozen=True)
class HubTarget:
    """One hub split with the placeholders already filled in."""

    path: str
    name: str | None
    split: str
    revision: str | None = None
    select: tuple[tuple[str, str], ...] = ()  # (column, glob pattern): the rows read

    @property
    def origin(self) -> str:
        """``hub:PATH[/NAME]:SPLIT[@REVISION][COLUMN=PATTERN,...]``."""
        name = f"/{self.name}" if self.name else ""
        revision = f"@{self.revision}" if self.revision else ""
        select = ",".join(f"{column}={pattern}" for column, pattern in self.select)
        return f"hub:{self.path}{name}:{self.split}{revision}" + (f"[{select}]" if select else "")

    def selects(self, row: dict[str, Any]) -> bool:
        return all(fnmatchcase(str(row.get(c, "")), pattern) for c, pattern in self.select)


def read_hub(
    target: HubTarget, mapper: RecordMapper, local_note: str = ""
) -> tuple[list[Any] | Bitext, str]:
    """Load one split with ``datasets.load_dataset`` and map its rows to examples; also
    a sha256 of the rows read, the data's fingerprint (``rows_digest``).

    ``datasets`` is imported here, not at module level, so that importing harness
    stays fast. Any load failure (offline, unknown id) becomes a DataError that also
    carries ``local_note`` (why no local file was used instead).
    """
    try:
        import datasets

        dataset = datasets.load_dataset(
            target.path, target.name, split=target.split, revision=target.revision
        )
    except Exception as exc:
        raise DataError(
            target.origin,
            f"cannot load from the hub ({type(exc).__name__}: {exc})"
            + (f"; {local_note}" if local_note else ""),
        ) from exc
    for attr in ("label", "tags"):
        names = (
            _class_names(dataset.features.get(mapper.column(attr)))
            if attr in mapper.paths
            else None
        )
        if names is not None:
            mapper.class_names[attr] = names
    rows = [(n, row) for n, row in enumerate(dataset.to_list(), 1) if target.selects(row)]
    if not rows:
        raise DataError(target.origin, "no row matches select")
    examples = map_records(rows, mapper, target.origin, unit="row")
    digest = rows_digest(row for _, row in rows)
    if mapper.task.kind == "retrieval":
        return Bitext(tuple(s for s, _ in examples), tuple(t for _, t in examples)), digest
    return examples, digest


def rows_digest(rows: Iterable[dict[str, Any]]) -> str:
    """sha256 over the rows, each as canonical JSON (sorted keys), one per line: every
    column counts, so any change to what was read changes it."""
    digest = hashlib.sha256()
    for row in rows:
        line = json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()


def _class_names(feature: Any) -> Sequence[str] | None:
    """The names of a ClassLabel column, or of the ClassLabel inside a list column."""
    from datasets import ClassLabel

    inner = getattr(feature, "feature", None)
    for candidate in (feature, inner):
        if isinstance(candidate, ClassLabel):
            return candidate.names
    return None
