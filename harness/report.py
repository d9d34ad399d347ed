"""Rich tables of a run's results: one per task (languages x metrics) and a summary."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    return "-" if value is None else str(value)


def task_table(name: str, block: dict[str, Any]) -> Table:
    languages: dict[str, dict[str, Any]] = block["languages"]
    metrics = [m for m in next(iter(languages.values()), {}) if m != "examples"]
    table = Table(title=f"{name} ({block.get('metric', '')})", title_justify="left")
    table.add_column("lang")
    for metric in metrics:
        table.add_column(metric, justify="right")
    table.add_column("examples", justify="right", style="dim")
    for lang, values in languages.items():
        table.add_row(lang, *(_fmt(values.get(m)) for m in metrics), _fmt(values.get("examples")))
    if languages:
        means = [sum(v[m] for v in languages.values()) / len(languages) for m in metrics]
        table.add_row("avg", *(_fmt(m) for m in means), "", style="bold")
    return table


def summary_table(data: dict[str, Any]) -> Table:
    table = Table(title="summary", title_justify="left")
    for column in ("task", "group", "metric", "languages", "score"):
        table.add_column(column, justify="right" if column in ("languages", "score") else "left")
    for name, block in data.get("results", {}).items():
        table.add_row(
            name,
            block.get("group") or "",
            block.get("metric", ""),
            str(len(block["languages"])),
            _fmt(block.get("score")),
        )
    for group, score in (data.get("groups") or {}).items():
        table.add_row(f"[italic]{group}[/]", "", "group mean", "", _fmt(score))
    if data.get("xtreme_score") is not None:
        missing = sum(len(langs) for langs in (data.get("missing_languages") or {}).values())
        note = f"score ({missing} languages missing)" if missing else "score"
        table.add_row("[bold]XTREME[/]", "", note, "", f"[bold]{_fmt(data['xtreme_score'])}[/]")
    return table
