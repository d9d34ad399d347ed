"""From (task, split, language, data folder) to examples: choose the source, pick the reader.

A split is a pool of members read and concatenated (ANLI+), or one member: its local
file(s) when a data folder is given and they all exist there, else its hub source.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.data.bitext import BUCC_FILES, TATOEBA_FILES, read_bucc, read_tatoeba
from harness.data.conllu import read_conllu
from harness.data.examples import Bitext, Example, MiningCorpus
from harness.data.fields import FieldError, RecordMapper
from harness.data.hub import HubTarget, read_hub
from harness.data.squad import read_squad
from harness.data.tabular import read_records
from harness.data.textio import read_text_lines
from harness.data.tsv import read_pair_tsv, read_tagged_tsv
from harness.errors import ConfigError, DataError
from harness.specs import TASK_KINDS, DataSource, SplitSpec, TaskSpec

_RECORD_KINDS = ("pair_classification", "tagging", "extractive_qa", "multiple_choice")
FORMAT_KINDS: dict[str, tuple[str, ...]] = {
    "pair_tsv": ("pair_classification",),
    "tagged_tsv": ("tagging",),
    "conllu": ("tagging",),
    "squad_json": ("extractive_qa",),
    "tatoeba": ("retrieval",),
    "bucc": ("retrieval",),
    "text": ("mlm",),
    "jsonl": _RECORD_KINDS,
    "csv": _RECORD_KINDS,
    "hub": TASK_KINDS,
}
# The ``fields`` each fixed-layout format accepts (jsonl, csv and hub: see fields.py).
_FIXED_FIELDS: dict[str, tuple[str, ...]] = {
    "pair_tsv": (),
    "tagged_tsv": (),
    "conllu": ("tokens", "tags"),
    "squad_json": (),
    "tatoeba": (),
    "bucc": (),
    "text": (),
}
_NAMED_FILES = {"tatoeba": TATOEBA_FILES, "bucc": BUCC_FILES}
_REQUIRED_FILES = ("source", "target")


@dataclass(frozen=True)
class SplitData:
    """The examples of one split of one task in one language, and where they came from."""

    examples: list[Example] | Bitext | MiningCorpus
    files: tuple[Path, ...]  # every local file read, for fingerprints; empty for the hub
    origin: str  # "local:xnli/dev-de.tsv", "hub:nyu-mll/glue/mnli:train@REV", or "a + b" for pools
    note: str = (
        ""  # set when the split's fallback was read instead: what was missing, what was used
    )
    hub_rows: tuple[str, ...] = ()  # a digest of each hub source's rows read (no files to hash)

    def fingerprint(self) -> str | None:
        """The content read, None where nothing was: local files by their bytes (as
        ``fingerprint`` hashes them), hub sources by their rows. A hub dataset without a
        pinned revision can change under the same name: this tells its versions apart."""
        if not self.hub_rows:
            return fingerprint(self.files) if self.files else None
        digest = hashlib.sha256(fingerprint(self.files).encode() if self.files else b"")
        for rows in self.hub_rows:
            digest.update(rows.encode())
        return digest.hexdigest()

    @classmethod
    def joined(cls, parts: Sequence[SplitData]) -> SplitData:
        """Parts read one after another as one split (a pool, several languages)."""
        examples: list[Example] = []
        for part in parts:
            assert isinstance(part.examples, list)  # only retrieval corpora are not lists
            examples.extend(part.examples)
        return cls(
            examples,
            tuple(f for p in parts for f in p.files),
            " + ".join(p.origin for p in parts),
            "; ".join(p.note for p in parts if p.note),
            tuple(d for p in parts for d in p.hub_rows),
        )


def data_dir_setting(data_dir: Path | None) -> str | None:
    """The data folder as a setting of the results read from it, spelt absolute: the same
    folder given another way is the same setting, another folder (other data under the
    same file names) is another. Files edited inside the folder are not seen here; the
    fingerprints recorded with each result show them."""
    return str(data_dir.resolve()) if data_dir else None


def read_split(task: TaskSpec, split: str, lang: str, data_dir: Path | None) -> SplitData:
    """Read ``split`` of ``task`` for ``lang``; ``data_dir`` None means hub sources only.

    Raises ConfigError for a split or language the task does not have and DataError
    for missing or malformed data (naming the expected files under ``data_dir``).
    """
    if split not in task.data:
        raise ConfigError(
            f"task {task.name} has no split {split!r}; its splits: {', '.join(task.data)}"
        )
    if lang not in task.languages:
        raise ConfigError(
            f"task {task.name} has no language {lang!r}; its languages: {', '.join(task.languages)}"
        )
    spec = task.data[split]
    try:
        return _read_spec(task, spec, split, lang, data_dir)
    except DataError as err:
        if spec.fallback is None:
            raise
        used = read_split(task, spec.fallback, lang, data_dir)
        note = f"{task.name} {split} ({lang}) unavailable, using its {spec.fallback} split ({used.origin}): {err}"
        return replace(used, note=note)


def _read_spec(
    task: TaskSpec, spec: SplitSpec, split: str, lang: str, data_dir: Path | None
) -> SplitData:
    if not spec.pool:
        return _read_member(task, spec, split, lang, data_dir)
    if task.kind == "retrieval":
        raise DataError(f"{task.name}.data.{split}", "a pool cannot combine retrieval corpora")
    return SplitData.joined([_read_member(task, m, split, lang, data_dir) for m in spec.pool])


def fingerprint(files: Iterable[Path]) -> str:
    """A stable content hash: sha256 over the files' own sha256 digests, in order.

    Only bytes count (not paths), so the same data gives the same fingerprint in any
    data folder; each file is streamed, never loaded whole.
    """
    digest = hashlib.sha256()
    for path in files:
        try:
            with open(path, "rb") as fh:
                digest.update(hashlib.file_digest(fh, "sha256").digest())
        except OSError as exc:
            raise DataError(str(path), f"cannot read: {exc.strerror or exc}") from None
    return digest.hexdigest()


def _read_member(
    task: TaskSpec, spec: SplitSpec, split: str, lang: str, data_dir: Path | None
) -> SplitData:
    where = f"{task.name}.data.{split}"
    for source in (spec.local, spec.hub):
        if source is not None:
            _check_source(task, source, where)
    note = ""
    if spec.local is not None:
        rel = _relative_paths(spec.local, split, lang, where)
        if data_dir is None:
            note = f"no data folder was given for the local file(s) {', '.join(rel.values())}"
            if spec.hub is None:
                raise DataError(
                    ", ".join(rel.values()),
                    f"{task.name} {split} ({lang}) is only "
                    "available as a local file: give the data folder that holds it",
                )
        else:
            if not data_dir.is_dir():
                raise DataError(str(data_dir), "data folder does not exist")
            paths = {key: data_dir / r for key, r in rel.items()}
            missing = [str(p) for p in paths.values() if not p.is_file()]
            if not missing:
                return SplitData(
                    _read_local(task, spec.local, paths),
                    tuple(paths.values()),
                    "local:" + ",".join(rel.values()),
                )
            note = f"no local file either ({', '.join(missing)} not found)"
            if spec.hub is None:
                raise DataError(
                    ", ".join(missing),
                    f"file not found ({task.name} has no {split} "
                    f"split for {lang!r} in {data_dir}, and no hub source)",
                )
    assert spec.hub is not None  # SplitSpec.parse: a member has a local or a hub source
    hub = spec.hub
    target = HubTarget(
        path=_fill(hub, str(hub.path), split, lang, where),
        name=_fill(hub, hub.name, split, lang, where) if hub.name else None,
        split=_fill(hub, hub.split or split, split, lang, where),
        revision=hub.revision,
        select=tuple((c, _fill(hub, p, split, lang, where)) for c, p in hub.select.items()),
    )
    examples, rows = read_hub(target, _mapper(task, hub, target.origin), note)
    return SplitData(examples, (), target.origin, hub_rows=(rows,))


def source_problems(task: TaskSpec) -> list[tuple[str, str]]:
    """Mistakes in ``task``'s data sources that show without reading any data, as
    (field path, message): checked when a registry loads, so ``harness validate`` finds
    them and no run trains a model first and then trips over them."""
    problems: list[tuple[str, str]] = []
    per_language = _per_language_splits(task) if len(task.languages) > 1 else set()
    first = task.languages[0]
    for split, spec in task.data.items():
        where = f"{task.role}s.{task.name}.data.{split}"
        if spec.pool and task.kind == "retrieval":
            problems.append((f"{where}.pool", "a pool cannot combine retrieval corpora"))
        members = [(f"{where}.pool[{i}]", m) for i, m in enumerate(spec.pool)] or [(where, spec)]
        for member_where, member in members:
            for origin, source in (("local", member.local), ("hub", member.hub)):
                if source is None:
                    continue
                at = f"{member_where}.{origin}"
                try:
                    _check_source(task, source, at)
                    _check_retrieval_format(task, source, at)
                    filled = _source_files(source, split, first, at)
                    if split in per_language and not _names_language(source, split, at):
                        raise DataError(
                            at,
                            f"the {split} split is read per language, but {_UNNAMED[origin]}: "
                            f"every language would read the same data ({', '.join(filled)})",
                        )
                except DataError as err:
                    problems.append((err.path, err.message))
    if task.metric == "bucc_f1" and task.splits["dev"] not in task.data:
        problems.append(
            (
                f"{task.role}s.{task.name}.splits.dev",
                f"bucc_f1 tunes its threshold on a dev split with gold pairs; "
                f"{task.splits['dev']!r} has no entry under data",
            )
        )
    return problems


def _per_language_splits(task: TaskSpec) -> set[str]:
    """The splits read once per language (the scored one, and the dev split a BUCC
    threshold is tuned on), with the splits they fall back to."""
    if task.kind == "mlm" or task.role == "intermediate":
        return set()
    roles = ("eval", "dev") if task.metric == "bucc_f1" else ("eval",)
    pending = [task.splits[role] for role in roles if task.splits[role] in task.data]
    found: set[str] = set()
    while pending:
        split = pending.pop()
        if split not in found:
            found.add(split)
            fallback = task.data[split].fallback
            if fallback is not None:
                pending.append(fallback)
    return found


_UNNAMED = {
    "local": "its path uses neither {lang} nor {code}",
    "hub": "none of its path, name, split and select uses {lang} or {code}",
}


def _names_language(source: DataSource, split: str, where: str) -> bool:
    """Whether what ``source`` names depends on the language (two that no ``codes``
    entry maps tell: two languages mapped to one code on purpose share a file)."""
    return _source_files(source, split, "\x00a", where) != _source_files(
        source, split, "\x00b", where
    )


def _source_files(source: DataSource, split: str, lang: str, where: str) -> list[str]:
    """What ``source`` names for ``lang``: its local file(s), or the hub dataset."""
    if source.origin == "local":
        return list(_relative_paths(source, split, lang, where).values())
    parts = (str(source.path), source.name or "", source.split or split, *source.select.values())
    return [_fill(source, part, split, lang, where) for part in parts]


_RETRIEVAL_FORMATS = {"tatoeba_accuracy": ("tatoeba", "hub"), "bucc_f1": ("bucc",)}


def _check_retrieval_format(task: TaskSpec, source: DataSource, where: str) -> None:
    """A retrieval metric reads one corpus shape: Tatoeba's aligned pairs (local or hub)
    or BUCC's corpora with gold pairs (local only)."""
    formats = _RETRIEVAL_FORMATS.get(task.metric)
    if formats is not None and source.format not in formats:
        raise DataError(
            where,
            f"metric {task.metric} needs format {' or '.join(formats)}, not {source.format}",
        )


def _check_source(task: TaskSpec, source: DataSource, where: str) -> None:
    """Registry mistakes a reader would otherwise trip over late (or silently ignore)."""
    if task.kind not in FORMAT_KINDS[source.format]:
        raise DataError(where, f"format {source.format} cannot hold {task.kind} examples")
    fixed = _FIXED_FIELDS.get(source.format)
    if fixed is None:
        _mapper(task, source, where)
        return
    for name in source.fields:
        if name not in fixed:
            accepted = f"expected one of: {', '.join(fixed)}" if fixed else "it takes no fields"
            raise DataError(where, f"fields.{name}: not used by format {source.format}; {accepted}")


def _mapper(task: TaskSpec, source: DataSource, where: str) -> RecordMapper:
    try:
        return RecordMapper(task, source.fields)
    except FieldError as exc:
        raise DataError(where, str(exc)) from None


def _relative_paths(source: DataSource, split: str, lang: str, where: str) -> dict[str, str]:
    """The local file(s) relative to the data folder: {"path": ...} or the named files."""
    named = _NAMED_FILES.get(source.format)
    if isinstance(source.path, str):
        if named:
            raise DataError(where, f"format {source.format} needs named files: {', '.join(named)}")
        return {"path": _fill(source, source.path, split, lang, where)}
    if not named:
        raise DataError(where, f"format {source.format} takes one path, not named files")
    for key in source.path:
        if key not in named:
            raise DataError(
                where,
                f"path.{key}: not a file of format {source.format}; expected: {', '.join(named)}",
            )
    for key in _REQUIRED_FILES:
        if key not in source.path:
            raise DataError(where, f"path.{key}: missing (format {source.format} needs it)")
    return {key: _fill(source, p, split, lang, where) for key, p in source.path.items()}


def _fill(source: DataSource, pattern: str, split: str, lang: str, where: str) -> str:
    try:
        return source.fill(pattern, lang, split)
    except (KeyError, IndexError, ValueError) as exc:
        raise DataError(
            where, f"bad placeholder in {pattern!r} ({exc}); use {{lang}}, {{code}} or {{split}}"
        ) from None


def _read_local(task: TaskSpec, source: DataSource, paths: dict[str, Path]) -> Any:
    path = paths.get("path")
    match source.format:
        case "pair_tsv":
            return read_pair_tsv(path, task.labels)
        case "tagged_tsv":
            return read_tagged_tsv(path, task.labels)
        case "conllu":
            return read_conllu(path, task.labels, source.fields)
        case "squad_json":
            return read_squad(path)
        case "tatoeba":
            return read_tatoeba(paths)
        case "bucc":
            return read_bucc(paths)
        case "text":
            return read_text_lines(path)
        case _:
            return read_records(path, source.format, _mapper(task, source, str(path)))
