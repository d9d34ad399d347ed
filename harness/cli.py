"""The ``harness`` command. Heavy libraries are imported inside commands, so help is instant."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from harness.errors import HarnessError

REGISTRY_OPTION = click.option(
    "--registry",
    "registries",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Extra registry YAML merged over the built-in one (repeatable; also HARNESS_REGISTRY).",
)


def _console() -> Any:
    from rich.console import Console

    return Console(stderr=False)


def _registry(registries: tuple[str, ...]) -> Any:
    from harness.registry import load_registry

    return load_registry(registries)


class Harness(click.Group):
    """Turns user errors into one clear line and exit status 2, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HarnessError as err:
            click.secho(f"error: {err}", fg="red", err=True)
            sys.exit(2)


@click.group(cls=Harness, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Zero-shot cross-lingual transfer: English intermediate tasks, XTREME targets."""


@main.command("list")
@click.argument(
    "section", required=False, type=click.Choice(["targets", "intermediates", "models", "suites"])
)
@REGISTRY_OPTION
def list_entries(section: str | None, registries: tuple[str, ...]) -> None:
    """List registry entries (all sections, or one)."""
    from rich.table import Table

    registry = _registry(registries)
    console = _console()
    for name in [section] if section else ["models", "targets", "intermediates", "suites"]:
        table = Table(title=name, title_justify="left")
        if name == "suites":
            table.add_column("suite")
            table.add_column("members")
            for suite, members in registry.suites.items():
                table.add_row(suite, ", ".join(members))
        elif name == "models":
            for column in ("model", "source", "path", "description"):
                table.add_column(column)
            for model in registry.models.values():
                table.add_row(model.name, model.source, model.path, model.description)
        else:
            for column in ("task", "kind", "metric", "languages", "description"):
                table.add_column(column)
            for task in getattr(registry, name).values():
                table.add_row(
                    task.name, task.kind, task.metric, str(len(task.languages)), task.description
                )
        console.print(table)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
def validate(files: tuple[str, ...]) -> None:
    """Validate registry files (each merged over the built-in registry)."""
    from harness.registry import validate_files

    errors = validate_files(files)
    for error in errors:
        click.secho(f"invalid: {error}", fg="red", err=True)
    if errors:
        sys.exit(1)
    click.echo(f"valid: {', '.join(files)}")


def _default_output(model: str, targets: str, seed: int) -> Path:
    name = Path(model).name if os.sep in model else model.replace("/", "_")
    return Path("runs") / f"{name}-{targets.replace(',', '+')}-seed{seed}"


@main.command("eval")
@click.option(
    "--model", "model_name", required=True, help="Registry name, checkpoint folder or hub id."
)
@click.option(
    "--targets", default="xtreme", show_default=True, help="Comma-separated targets or suites."
)
@click.option("--languages", default="", help="Comma-separated subset of languages (default: all).")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="HARNESS_DATA_DIR",
    help="Local XTREME download/ folder (also HARNESS_DATA_DIR); missing files fall back to the hub.",
)
@REGISTRY_OPTION
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder (default: runs/MODEL-TARGETS-seedN).",
)
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--epochs", type=float, help="Override each target's default.")
@click.option("--lr", type=float, help="Override each target's default learning rate.")
@click.option("--batch-size", type=int, help="Override each target's default training batch size.")
@click.option("--max-length", type=int, help="Override each target's default maximum input length.")
@click.option("--limit", type=int, help="At most N evaluation (and dev) examples per language.")
@click.option("--train-limit", type=int, help="At most N English training examples.")
@click.option(
    "--train-split", help="Split to train on (e.g. dev when no English train file exists offline)."
)
@click.option(
    "--dev-split",
    help="Split for model selection; when equal to the training split, examples are held out.",
)
@click.option("--eval-split", help="Split to evaluate (default: each target's test split).")
@click.option(
    "--precision",
    type=click.Choice(["no", "bf16", "fp16"]),
    default="no",
    show_default=True,
    help="Mixed precision for training (Accelerate).",
)
@click.option(
    "--freeze-embeddings", is_flag=True, help="Keep the word embeddings fixed (much faster on CPU)."
)
@click.option(
    "--eval-every",
    type=int,
    default=0,
    help="Evaluate on dev every N steps (default: once per epoch).",
)
@click.option(
    "--layer",
    type=int,
    help="Retrieval: hidden-state index to pool (0 = embeddings, -1 = last; default: the model's).",
)
@click.option(
    "--pooling",
    type=click.Choice(["mean", "first"]),
    help="Retrieval: pooling (default: the model's).",
)
@click.option(
    "--cache/--no-cache",
    default=True,
    show_default=True,
    help="Reuse fine-tuned models keyed by model, data and settings (under HARNESS_CACHE).",
)
@click.option(
    "--save-model",
    is_flag=True,
    help="Save each fine-tuned target model under OUTPUT/checkpoints/.",
)
def eval_command(
    model_name: str,
    targets: str,
    languages: str,
    data_dir: Path | None,
    registries: tuple[str, ...],
    output: Path | None,
    seed: int,
    epochs: float | None,
    lr: float | None,
    batch_size: int | None,
    max_length: int | None,
    limit: int | None,
    train_limit: int | None,
    train_split: str | None,
    dev_split: str | None,
    eval_split: str | None,
    precision: str,
    freeze_embeddings: bool,
    eval_every: int,
    layer: int | None,
    pooling: str | None,
    cache: bool,
    save_model: bool,
) -> None:
    """Fine-tune on English and evaluate zero-shot in every language of each target."""
    from harness.errors import ConfigError
    from harness.registry import user_files
    from harness.report import summary_table, task_table
    from harness.targets.options import EvalOptions
    from harness.targets.runner import run_targets

    registry = _registry(registries)
    tasks = registry.expand(targets)
    model = registry.model(model_name)
    if data_dir is not None and not data_dir.is_dir():
        raise ConfigError(f"--data-dir {data_dir}: folder not found")
    for name, value in (
        ("--limit", limit),
        ("--train-limit", train_limit),
        ("--batch-size", batch_size),
    ):
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}")
    wanted = tuple(lang.strip() for lang in languages.split(",") if lang.strip())
    known = {lang for task in tasks for lang in task.languages}
    unknown = [lang for lang in wanted if lang not in known]
    if unknown:
        raise ConfigError(
            f"--languages: {', '.join(unknown)} not in any of {', '.join(t.name for t in tasks)}"
        )
    options = EvalOptions(
        model=model,
        output=output or _default_output(model_name, targets, seed),
        data_dir=data_dir,
        languages=wanted,
        seed=seed,
        overrides={"epochs": epochs, "lr": lr, "batch_size": batch_size, "max_length": max_length},
        limit=limit,
        train_limit=train_limit,
        train_split=train_split,
        dev_split=dev_split,
        eval_split=eval_split,
        precision=precision,
        freeze_embeddings=freeze_embeddings,
        eval_every=eval_every,
        save_model=save_model,
        cache=cache,
        registry_files=tuple(str(Path(f).resolve()) for f in user_files(registries)),
        layer=layer,
        pooling=pooling,
    )
    console = _console()
    started = time.time()
    data = run_targets(tasks, options, lambda line: console.print(f"[dim]{line}[/]"))
    for name, block in data["results"].items():
        if name in {t.name for t in tasks}:
            console.print(task_table(name, block))
    console.print(summary_table(data))
    console.print(f"results: {options.output / 'results.json'}  ({time.time() - started:.0f} s)")


@main.command("export")
@click.argument(
    "run_dir", metavar="[RUN]", required=False, type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), help="Submission folder to write."
)
@click.option(
    "--check",
    "check_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Check this submission folder against the test files instead of exporting.",
)
@click.option(
    "--tasks",
    default="",
    help="Comma-separated subset of the nine XTREME tasks to write or check (default: all).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="HARNESS_DATA_DIR",
    help="XTREME download/ folder with the test files (also HARNESS_DATA_DIR); "
    "an export defaults to the run's own.",
)
@REGISTRY_OPTION
def export_command(
    run_dir: Path | None,
    out: Path | None,
    check_dir: Path | None,
    tasks: str,
    data_dir: Path | None,
    registries: tuple[str, ...],
) -> None:
    """Write RUN's test predictions as an XTREME leaderboard submission, or --check one.

    An export refuses a run that did not predict the whole test split of every language
    of each task; --check prints every problem of a submission folder and exits 1.
    """
    from harness.errors import ConfigError
    from harness.export import check_submission, export_submission, submission_tasks

    if run_dir is not None and check_dir is not None:
        raise click.UsageError("give a run folder RUN or --check DIR, not both")
    if run_dir is None and check_dir is None:
        raise click.UsageError("give a run folder RUN (with --out DIR) or --check DIR")
    if check_dir is not None and out is not None:
        raise click.UsageError("--out goes with RUN; --check only reads")
    if check_dir is not None and data_dir is None:
        raise click.UsageError("--check needs --data-dir (or HARNESS_DATA_DIR) for the test files")
    if run_dir is not None and out is None:
        raise click.UsageError("--out DIR is needed to export RUN")
    if run_dir is not None and registries:
        raise click.UsageError(
            "--registry goes with --check; an export uses the run's registry files"
        )
    names = submission_tasks([t.strip() for t in tasks.split(",") if t.strip()])
    if data_dir is not None and not data_dir.is_dir():
        raise ConfigError(f"--data-dir {data_dir}: folder not found")
    if check_dir is not None:
        registry = _registry(registries)
        problems = check_submission(check_dir, data_dir, registry, names)
        for problem in problems:
            click.echo(problem)
        if problems:
            click.secho(f"{len(problems)} problem(s) in {check_dir}", fg="red", err=True)
            sys.exit(1)
        files = sum(len(registry.target(name).languages) for name in names)
        click.echo(f"ok: {check_dir}: {files} files of {', '.join(names)} match the test files")
        return
    assert run_dir is not None and out is not None  # the usage checks above
    written = export_submission(run_dir, out, names, data_dir)
    click.echo(f"wrote {len(written)} files of {', '.join(names)} to {out}")


if __name__ == "__main__":
    main()
