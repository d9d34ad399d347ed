"""Choosing training and model-selection examples, the same way for every stage.

Unlabelled rows are dropped, the pool is shuffled with the run's seed, and when the
dev split resolves to the training data itself (offline fallbacks, or the user's
choice) examples are held out of training for model selection, never trained on.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.data.examples import has_gold
from harness.data.resolve import SplitData, read_split
from harness.specs import TaskSpec


def describe(data: SplitData, split: str, lang: str, used: int) -> dict[str, Any]:
    """What a result was computed from: split, origin, content fingerprint, size."""
    described = {
        "split": split,
        "lang": lang,
        "origin": data.origin,
        "fingerprint": data.fingerprint(),
        "examples": used,
    }
    if data.note:
        described["note"] = data.note
    return described


@dataclass
class TrainingData:
    train: list[Any]
    dev: list[Any]
    info: dict[str, Any]  # {"train": description, "dev": description}
    train_origin: str


def read_logged(
    task: TaskSpec, split: str, lang: str, data_dir: Path | None, log: Callable[[str], None]
) -> SplitData:
    """``read_split``, saying so when the split's fallback was used."""
    data = read_split(task, split, lang, data_dir)
    if data.note:
        log(data.note)
    return data


def training_data(
    task: TaskSpec,
    train_split: str,
    dev_split: str,
    languages: Sequence[str],
    data_dir: Path | None,
    *,
    seed: int,
    train_limit: int | None,
    dev_limit: int | None,
    holdout: int,
    log: Callable[[str], None],
) -> TrainingData:
    """Training examples in ``languages`` (English, or a translated task's languages) and
    dev examples in the task's training language."""
    parts = [read_logged(task, train_split, lang, data_dir, log) for lang in languages]
    train_data = parts[0] if len(parts) == 1 else SplitData.joined(parts)
    pool = [e for e in train_data.examples if has_gold(e)]
    random.Random(seed).shuffle(pool)
    lang = task.train_language
    dev_data = (
        train_data
        if dev_split == train_split
        else read_logged(task, dev_split, lang, data_dir, log)
    )
    if dev_data.origin == train_data.origin:
        kept = min(holdout, len(pool) // 5)
        dev, pool = pool[:kept], pool[kept:]
        scored = ""
        if dev_limit and dev_limit < kept:  # fewer scored, but the same ones trained on
            dev = dev[:dev_limit]
            scored = f" ({dev_limit} of them scored: the limit)"
        dev_info = describe(dev_data, dev_split, lang, len(dev)) | {"held_out_from_train": True}
        log(
            f"{task.name}: dev is the training data ({train_data.origin}): {kept} examples held out for model selection{scored}"
        )
    else:
        dev = [e for e in dev_data.examples if has_gold(e)]
        if dev_limit and dev_limit < len(dev):
            dev = random.Random(seed).sample(dev, dev_limit)
        dev_info = describe(dev_data, dev_split, lang, len(dev))
    train = pool[:train_limit] if train_limit else pool
    info = {
        "train": describe(train_data, train_split, ",".join(languages), len(train)),
        "dev": dev_info,
    }
    return TrainingData(train, dev, info, train_data.origin)
