"""The XTREME roll-up: per-task scores, group means and the XTREME score, in percent.

Input: ``results`` maps each XTREME task name to ``{lang: {metric: value}}`` (the dicts
the metric functions return), and ``languages`` maps each task to its full language
list (XTREME's: ``xtreme_languages``). Rules (XTREME's):

- a task's score is the mean over its languages, English included; for QA tasks it is
  (mean exact_match + mean f1) / 2, and both means are reported;
- a task is complete when every one of its languages has a result;
- a group mean is reported only when all its tasks are present and complete;
- the XTREME score is the plain mean of the nine task scores, reported only when all
  nine are present and complete.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

GROUPS: dict[str, tuple[str, ...]] = {
    "classification": ("xnli", "pawsx"),
    "structured_prediction": ("udpos", "panx"),
    "question_answering": ("xquad", "mlqa", "tydiqa"),
    "retrieval": ("bucc2018", "tatoeba"),
}

# The per-language metrics each task's score averages.
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "xnli": ("accuracy",),
    "pawsx": ("accuracy",),
    "udpos": ("f1",),
    "panx": ("f1",),
    "xquad": ("exact_match", "f1"),
    "mlqa": ("exact_match", "f1"),
    "tydiqa": ("exact_match", "f1"),
    "bucc2018": ("f1",),
    "tatoeba": ("accuracy",),
}


@functools.cache
def xtreme_languages() -> dict[str, tuple[str, ...]]:
    """XTREME's languages for each of its nine tasks: the built-in registry's. A user
    registry may give a task other languages for its own runs; the XTREME score, the
    group means and a leaderboard submission still need XTREME's."""
    from harness.registry import load_registry

    builtin = load_registry(environment=False)
    return {name: tuple(builtin.target(name).languages) for name in TASK_METRICS}


@dataclass(frozen=True)
class TaskScore:
    score: float
    means: dict[str, float]  # each metric's mean over the languages present
    missing: tuple[str, ...]  # the task's languages with no result

    @property
    def complete(self) -> bool:
        return not self.missing


@dataclass(frozen=True)
class Rollup:
    tasks: dict[str, TaskScore]
    groups: dict[str, float]  # complete groups only
    xtreme: float | None  # None unless all nine tasks are complete


def task_score(
    task: str, per_language: Mapping[str, Mapping[str, float]], languages: Sequence[str]
) -> TaskScore:
    """One task's score over the languages present in ``per_language``."""
    if task not in TASK_METRICS:
        raise ValueError(
            f"{task!r} is not an XTREME task; expected one of {', '.join(TASK_METRICS)}"
        )
    if not per_language:
        raise ValueError(f"{task}: no per-language results")
    for lang, metrics in per_language.items():
        if lang not in languages:
            raise ValueError(f"{task}: {lang!r} is not one of the task's languages")
        for metric in TASK_METRICS[task]:
            if metric not in metrics:
                raise ValueError(f"{task}.{lang}: no {metric!r} among {sorted(metrics)}")
    means = {m: fmean(v[m] for v in per_language.values()) for m in TASK_METRICS[task]}
    return TaskScore(
        score=fmean(means.values()),
        means=means,
        missing=tuple(lang for lang in languages if lang not in per_language),
    )


def rollup(
    results: Mapping[str, Mapping[str, Mapping[str, float]]],
    languages: Mapping[str, Sequence[str]],
) -> Rollup:
    """Task scores for every task given, group means and XTREME score where complete."""
    unlisted = sorted(set(results) - set(languages))
    if unlisted:
        raise ValueError(f"no language list given for {', '.join(unlisted)}")
    tasks = {
        task: task_score(task, per_lang, languages[task]) for task, per_lang in results.items()
    }

    def complete(names: Sequence[str]) -> bool:
        return all(name in tasks and tasks[name].complete for name in names)

    groups = {
        group: fmean(tasks[t].score for t in members)
        for group, members in GROUPS.items()
        if complete(members)
    }
    xtreme = fmean(tasks[t].score for t in TASK_METRICS) if complete(tuple(TASK_METRICS)) else None
    return Rollup(tasks=tasks, groups=groups, xtreme=xtreme)


def run_rollup(results: Mapping[str, Any]) -> dict[str, Any]:
    """A run's roll-up from its results.json task blocks: ``groups`` and
    ``xtreme_score`` as XTREME defines them (complete tasks only, over each block's
    ``task_languages``, which the runner takes from ``xtreme_languages``), and the same
    means over the languages evaluated (``over_languages_evaluated``), which is what a
    run short of languages (offline data, ``--languages``, a registry listing others)
    can show, named as such; ``missing_languages`` says where it falls short."""
    xtreme = {
        name: block["languages"]
        for name, block in results.items()
        if name in TASK_METRICS and block["languages"]
    }
    listed = {
        name: {
            lang: scores
            for lang, scores in per_lang.items()
            if lang in results[name]["task_languages"]
        }
        for name, per_lang in xtreme.items()
    }
    benchmark = rollup(
        {name: per_lang for name, per_lang in listed.items() if per_lang},
        {name: results[name]["task_languages"] for name in listed},
    )
    evaluated = rollup(xtreme, {name: list(scores) for name, scores in xtreme.items()})
    missing = {
        name: [lang for lang in block["task_languages"] if lang not in block["languages"]]
        for name, block in results.items()
    }
    return {
        "groups": benchmark.groups,
        "xtreme_score": benchmark.xtreme,
        "over_languages_evaluated": {"groups": evaluated.groups, "xtreme_score": evaluated.xtreme},
        "missing_languages": {name: langs for name, langs in missing.items() if langs},
    }
