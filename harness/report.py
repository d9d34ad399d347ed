"""Results as tables and plots: one run's tables for ``harness eval``, and ``harness report``,
the summary across runs (rich table, markdown, csv or json) with optional PNG plots.

A report reads only ``results.json`` of each run folder, so it is instant and needs
neither the data nor the registry. Runs are labelled by folder name (with as many parent
folders as it takes to tell them apart).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from harness.errors import ConfigError
from harness.metrics.xtreme_score import GROUPS, TASK_METRICS

INCOMPLETE = "†"  # marks a task score over fewer languages than the task has
INCOMPLETE_LEGEND = (
    f"{INCOMPLETE} not every language of the task (or of a task in the mean) was scored (a "
    "file missing, or a split without gold): a mean over the languages scored, not "
    "XTREME's, which needs them all"
)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    return "-" if value is None else str(value)


def task_table(name: str, block: dict[str, Any]) -> Table:
    languages: dict[str, dict[str, Any]] = block["languages"]
    metrics = [m for m in next(iter(languages.values()), {}) if m != "examples"]
    title = escape(f"{name} ({block.get('metric', '')})")
    table = Table(title=title, title_justify="left")
    table.add_column("lang")
    for metric in metrics:
        table.add_column(metric, justify="right")
    table.add_column("examples", justify="right", style="dim")
    for lang, values in languages.items():
        cells = (lang, *(_fmt(values.get(m)) for m in metrics), _fmt(values.get("examples")))
        table.add_row(*map(escape, cells))
    if languages:
        means = [sum(v[m] for v in languages.values()) / len(languages) for m in metrics]
        table.add_row("avg", *(_fmt(m) for m in means), "", style="bold")
    return table


def rolled_up_mean(data: Mapping[str, Any], group: str | None) -> tuple[float | None, bool]:
    """A run's group mean (``group``) or XTREME score (None), and whether it is over the
    languages evaluated only: XTREME's own needs every language, so a run short of some
    shows the other, marked."""

    def pick(rollup: Mapping[str, Any]) -> float | None:
        if group is None:
            return rollup.get("xtreme_score")
        return (rollup.get("groups") or {}).get(group)

    benchmark = pick(data)
    if benchmark is not None:
        return benchmark, False
    evaluated = pick(data.get("over_languages_evaluated") or {})
    return evaluated, evaluated is not None


def summary_table(data: dict[str, Any]) -> Table:
    table = Table(title="summary", title_justify="left")
    for column in ("task", "group", "metric", "languages", "score"):
        table.add_column(column, justify="right" if column in ("languages", "score") else "left")
    for name, block in data.get("results", {}).items():
        cells = (name, block.get("group") or "", block.get("metric", ""))
        table.add_row(*map(escape, cells), str(len(block["languages"])), _fmt(block.get("score")))
    missing = sum(len(langs) for langs in (data.get("missing_languages") or {}).values())
    partial_note = f" over the languages evaluated ({missing} missing: not XTREME's)"
    for group in [*GROUPS, None]:
        score, partial = rolled_up_mean(data, group)
        if score is None:
            continue
        note = ("group mean" if group else "score") + (partial_note if partial else "")
        if group:
            table.add_row(f"[italic]{escape(group)}[/]", "", note, "", _fmt(score))
        else:
            table.add_row("[bold]XTREME[/]", "", note, "", f"[bold]{_fmt(score)}[/]")
    return table


def primary_score(kind: str, metric: str, values: Mapping[str, float]) -> float:
    """The one number per language a task score averages (what ``TaskKind.primary`` gives),
    from the recorded metrics alone, so reports need no task kinds (and no torch)."""
    if kind == "extractive_qa":
        return (values["exact_match"] + values["f1"]) / 2
    if kind == "tagging":
        return values["token_accuracy" if metric == "token_accuracy" else "f1"]
    if kind == "retrieval" and metric == "bucc_f1":
        return values["f1"]
    return values["accuracy"]


# --- harness report ------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One run folder as a report sees it, or a folder of run folders (a sweep's targets of
    one model, configuration and seed) read as one run."""

    name: str
    path: Path
    data: dict[str, Any]
    parts: Mapping[str, Run] = field(default_factory=dict)  # task -> the run folder holding it

    def part(self, task: str) -> Run:
        """The run folder that computed ``task``: its predictions and config are there."""
        return self.parts.get(task, self)

    @property
    def results(self) -> dict[str, Any]:
        return self.data.get("results", {})

    def incomplete(self, task: str) -> bool:
        return bool((self.data.get("missing_languages") or {}).get(task))

    def mean(self, group: str | None) -> tuple[float | None, bool]:
        return rolled_up_mean(self.data, group)

    def language_scores(self, task: str) -> dict[str, float]:
        """Each evaluated language's primary score."""
        block = self.results.get(task)
        if block is None:
            return {}
        return {
            lang: primary_score(block["kind"], block.get("metric", ""), values)
            for lang, values in block["languages"].items()
        }


def run_names(paths: Sequence[Path]) -> list[str]:
    """Folder names, each with as many parent folders as it takes to tell it from the other
    runs (``study-a/seed1`` and ``study-b/seed1``, but ``baseline`` alone)."""
    parts = [path.resolve().parts for path in paths]
    names = []
    for i, mine in enumerate(parts):
        others = [theirs for j, theirs in enumerate(parts) if j != i]
        depth = 1
        while depth < len(mine) and any(theirs[-depth:] == mine[-depth:] for theirs in others):
            depth += 1
        names.append("/".join(mine[-depth:]))
    return names


def load_runs(paths: Sequence[Path]) -> list[Run]:
    """The run folders, named; a folder given twice is refused (its column would be
    ambiguous). A ``harness run`` study folder stands for its runs: the targets of each
    seed, with and without the intermediate step, one column each."""
    paths = [run for path in paths for run in _study_runs(path)]
    resolved = [path.resolve() for path in paths]
    twice = sorted({str(p) for p in resolved if resolved.count(p) > 1})
    if twice:
        raise ConfigError(f"run folder given more than once: {', '.join(twice)}")
    return [_load(name, path) for name, path in zip(run_names(paths), paths, strict=True)]


def _study_runs(path: Path) -> list[Path]:
    from harness.results import STUDY_FILE

    if (path / "results.json").exists() or not (path / STUDY_FILE).is_file():
        return [path]
    return sorted(results.parent for results in path.glob("*/results.json"))


def _load(name: str, path: Path) -> Run:
    """A run folder, or a folder whose subfolders are run folders, each task in one of them
    (``harness sweep`` writes one per target): their results, rolled up together. The
    roll-up is always computed here from the task blocks, never read back: a results.json
    written by an older harness may hold means under an older definition."""
    from harness.metrics.xtreme_score import run_rollup
    from harness.results import read_results

    subfolders = sorted(p for p in path.glob("*/results.json")) if path.is_dir() else []
    if (path / "results.json").exists() or not subfolders:
        data = read_results(path)
        return Run(name, path, data | run_rollup(data.get("results", {})))
    parts: dict[str, Run] = {}
    for results in subfolders:
        part = Run(results.parent.name, results.parent, read_results(results.parent))
        for task in part.results:
            if task in parts:
                raise ConfigError(
                    f"{path}: {task} is in both {parts[task].path.name} and {part.name}"
                )
            parts[task] = part
    blocks = {task: part.results[task] for task, part in parts.items()}
    return Run(name, path, {"results": blocks, **run_rollup(blocks)}, parts)


@dataclass(frozen=True)
class Row:
    """One line of the summary: a task, a group mean or the XTREME score, one value per run."""

    label: str
    kind: str  # "task", "group" or "xtreme"
    values: tuple[float | None, ...]
    incomplete: tuple[bool, ...]


def report_tasks(runs: Sequence[Run]) -> list[str]:
    """Every task of any run: XTREME's nine in XTREME's order, then the others as found."""
    found = [task for run in runs for task in run.results]
    xtreme = [task for task in TASK_METRICS if task in found]
    return xtreme + list(dict.fromkeys(t for t in found if t not in TASK_METRICS))


def summary_rows(runs: Sequence[Run]) -> list[Row]:
    rows = [
        Row(
            task,
            "task",
            tuple(run.results.get(task, {}).get("score") for run in runs),
            tuple(task in run.results and run.incomplete(task) for run in runs),
        )
        for task in report_tasks(runs)
    ]

    for group in [*GROUPS, None]:
        values, partial = zip(*(run.mean(group) for run in runs), strict=True)
        if any(v is not None for v in values):
            label = "XTREME" if group is None else f"{group.replace('_', ' ')} (group mean)"
            rows.append(Row(label, "group" if group else "xtreme", values, partial))
    return rows


def _cell(row: Row, i: int) -> str:
    return _fmt(row.values[i]) + (INCOMPLETE if row.incomplete[i] else "")


def report_table(runs: Sequence[Run]) -> Table:
    rows = summary_rows(runs)
    table = Table(title="report", title_justify="left")
    table.add_column("")
    for run in runs:
        table.add_column(escape(run.name), justify="right")
    for row in rows:
        cells = [_cell(row, i) for i in range(len(runs))]
        if row.kind == "task":
            table.add_row(escape(row.label), *cells)
        else:
            style = "italic" if row.kind == "group" else "bold"
            table.add_row(escape(row.label), *cells, style=style)
    legend = _legend(runs, rows)
    if legend:
        table.caption = escape("\n".join(legend))
        table.caption_justify = "left"
    return table


def report_markdown(runs: Sequence[Run]) -> str:
    rows = summary_rows(runs)
    lines = [
        "| | " + " | ".join(_markdown_escape(run.name) for run in runs) + " |",
        "|---|" + "---:|" * len(runs),
    ]
    for row in rows:
        wrap = {"task": "{}", "group": "*{}*", "xtreme": "**{}**"}[row.kind]
        cells = [
            _cell(row, i) if row.values[i] is None else wrap.format(_cell(row, i))
            for i in range(len(runs))
        ]
        lines.append(f"| {wrap.format(row.label)} | " + " | ".join(cells) + " |")
    for line in _legend(runs, rows):
        lines += ["", _markdown_escape(line)]
    return "\n".join(lines) + "\n"


def _legend(runs: Sequence[Run], rows: Sequence[Row]) -> list[str]:
    """What the marks mean, and which tasks a run has not finished (interrupted: their
    languages done so far are kept, and the same command goes on from them)."""
    legend = [INCOMPLETE_LEGEND] if any(any(row.incomplete) for row in rows) else []
    unfinished = [
        f"{run.name}: {task}" for run in runs for task, block in run.results.items()
        if block.get("partial")
    ]  # fmt: skip
    if unfinished:
        legend.append(
            "unfinished, its score left out (interrupted; the same command resumes it): "
            + ", ".join(unfinished)
        )
    return legend


def _markdown_escape(text: str) -> str:
    return text.replace("|", "\\|")


def report_csv(runs: Sequence[Run]) -> str:
    """Full precision, no markers: the missing languages are in the json format."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["row", "kind", *(run.name for run in runs)])
    for row in summary_rows(runs):
        writer.writerow([row.label, row.kind, *("" if v is None else v for v in row.values)])
    return out.getvalue()


def report_json(runs: Sequence[Run]) -> dict[str, Any]:
    """Everything the other formats show, plus per-language primary scores and the
    languages each run did not evaluate."""
    tasks: dict[str, Any] = {}
    for task in report_tasks(runs):
        tasks[task] = {
            run.name: {
                "score": run.results[task].get("score"),
                "metric": run.results[task].get("metric"),
                "languages": run.language_scores(task),
                "missing_languages": (run.data.get("missing_languages") or {}).get(task, []),
            }
            for run in runs
            if task in run.results
        }
    return {
        "runs": [{"name": run.name, "path": str(run.path)} for run in runs],
        "tasks": tasks,
        "groups": {
            group: {run.name: (run.data.get("groups") or {}).get(group) for run in runs}
            for group in GROUPS
        },
        "xtreme_score": {run.name: run.data.get("xtreme_score") for run in runs},
        "over_languages_evaluated": {
            run.name: run.data.get("over_languages_evaluated") for run in runs
        },
    }


# --- plots ---------------------------------------------------------------------------------


def transfer_gap(scores: Mapping[str, float]) -> float | None:
    """English minus the mean of the other languages; None without English or without any
    other language (Tatoeba and BUCC never evaluate English: it is their pivot)."""
    others = [value for lang, value in scores.items() if lang != "en"]
    if "en" not in scores or not others:
        return None
    return scores["en"] - sum(others) / len(others)


def write_plots(runs: Sequence[Run], folder: Path) -> tuple[list[Path], list[str]]:
    """A language x task heatmap per run and one transfer-gap chart; returns the files
    written and notes on what could not be drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    tasks = report_tasks(runs)
    written: list[Path] = []
    for run in runs:
        figure = _heatmap(plt, run, tasks)
        written.append(_save(plt, figure, folder / f"heatmap-{_file_stem(run.name)}.png"))
    gaps = {
        task: [transfer_gap(run.language_scores(task)) for run in runs]
        for task in tasks
        if any(transfer_gap(run.language_scores(task)) is not None for run in runs)
    }
    without = [task for task in tasks if task not in gaps]
    notes = (
        [f"transfer gap: no English score (or no other language) for {', '.join(without)}"]
        if without
        else []
    )
    if gaps:
        written.append(_save(plt, _gap_chart(plt, runs, gaps), folder / "transfer-gap.png"))
    return written, notes


def _file_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _save(plt: Any, figure: Any, path: Path) -> Path:
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path


def _heatmap(plt: Any, run: Run, tasks: Sequence[str]) -> Any:
    """Rows: languages (English first), columns: tasks; blank where a task lacks a language.
    The figure grows with the number of languages, so 40 stay legible."""
    import numpy as np

    scores = {task: run.language_scores(task) for task in tasks}
    langs = sorted({lang for values in scores.values() for lang in values}, key=_en_first)
    grid = np.array(
        [[scores[task].get(lang, math.nan) for task in tasks] for lang in langs], dtype=float
    ).reshape(len(langs), len(tasks))
    figure, axes = plt.subplots(
        figsize=(2.0 + 0.9 * max(len(tasks), 1), 1.2 + 0.28 * max(len(langs), 1))
    )
    cmap = plt.get_cmap("viridis").with_extremes(bad="#eeeeee")
    image = axes.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=100, aspect="auto")
    axes.set_xticks(range(len(tasks)), tasks, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(range(len(langs)), langs, fontsize=8)
    for (i, j), value in np.ndenumerate(grid):
        if not math.isnan(value):
            colour = "black" if value > 60 else "white"
            axes.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=6, color=colour)
    axes.set_title(f"{run.name}: score per language and task", fontsize=9)
    figure.colorbar(image, ax=axes, fraction=0.04, pad=0.02)
    return figure


def _en_first(lang: str) -> tuple[bool, str]:
    return lang != "en", lang


def _gap_chart(plt: Any, runs: Sequence[Run], gaps: Mapping[str, list[float | None]]) -> Any:
    """One bar group per task, one bar per run (none where that run lacks the gap)."""
    tasks = list(gaps)
    width = 0.8 / len(runs)
    figure, axes = plt.subplots(figsize=(2.0 + 1.0 * len(tasks) + 0.3 * len(runs), 4.0))
    for r, run in enumerate(runs):
        offset = (r - (len(runs) - 1) / 2) * width
        xs = [t + offset for t in range(len(tasks))]
        values = [math.nan if gaps[task][r] is None else gaps[task][r] for task in tasks]
        axes.bar(xs, values, width, label=run.name)
    axes.axhline(0, color="black", linewidth=0.8)
    axes.set_xticks(range(len(tasks)), tasks, rotation=30, ha="right")
    axes.set_ylabel("English - mean of other languages")
    axes.set_title("Cross-lingual transfer gap (lower is better)", fontsize=10)
    axes.legend(fontsize=8)
    return figure
