"""Task kinds, each implemented once and looked up by the registry's ``kind`` field."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.specs import TaskSpec
from harness.tasks.base import TaskKind
from harness.tasks.extractive_qa import ExtractiveQA
from harness.tasks.mlm import MaskedLM
from harness.tasks.multiple_choice import MultipleChoice
from harness.tasks.pair_classification import PairClassification
from harness.tasks.tagging import Tagging

KINDS: dict[str, type[TaskKind]] = {
    ExtractiveQA.name: ExtractiveQA,
    MultipleChoice.name: MultipleChoice,
    MaskedLM.name: MaskedLM,
    PairClassification.name: PairClassification,
    Tagging.name: Tagging,
}


def task_kind(task: TaskSpec, train_examples: Sequence[Any] = ()) -> TaskKind:
    """The kind implementation for ``task``, its head sized for the label set."""
    cls = KINDS[task.kind]
    return cls(task, cls.label_set(task, train_examples))
