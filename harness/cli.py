"""The ``harness`` command. Heavy libraries are imported inside commands, so help is instant."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

from harness.errors import ConfigError, HarnessError

REGISTRY_OPTION = click.option(
    "--registry",
    "registries",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Extra registry YAML merged over the built-in one (repeatable; also HARNESS_REGISTRY).",
)


def _console(quiet: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=False, quiet=quiet)


def _training_console() -> Any:
    """A training command may run as several processes (``accelerate launch``): only the
    main one prints."""
    from harness.engine.distributed import is_main

    return _console(quiet=not is_main())


def _dim_log(console: Any) -> Callable[[str], None]:
    """Progress lines, dimmed and printed as they are: they quote paths and data notes,
    which rich would otherwise read as markup (``.[offline]`` shown as ``.``)."""
    return lambda line: console.print(line, style="dim", markup=False, highlight=False)


def _registry(registries: tuple[str, ...]) -> Any:
    from harness.registry import load_registry

    return load_registry(registries)


# the seeds numpy (and so transformers' set_seed) accepts
MAX_SEED = 2**32 - 1


class Harness(click.Group):
    """Turns user errors into one clear line and exit status 2, never a traceback; an
    interrupt into a line saying what survives it, and the shell's status for SIGINT."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HarnessError as err:
            click.secho(f"error: {err}", fg="red", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.secho(
                "interrupted: what finished is saved; the same command again resumes from it",
                fg="yellow",
                err=True,
            )
            sys.exit(130)


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
    from rich.markup import escape
    from rich.table import Table

    registry = _registry(registries)
    console = _console()
    for name in [section] if section else ["models", "targets", "intermediates", "suites"]:
        table = Table(title=name, title_justify="left")
        if name == "suites":
            table.add_column("suite")
            table.add_column("members")
            for suite, members in registry.suites.items():
                table.add_row(escape(suite), escape(", ".join(members)))
        elif name == "models":
            for column in ("model", "source", "path", "description"):
                table.add_column(column)
            for model in registry.models.values():
                cells = (model.name, model.source, model.path, model.description)
                table.add_row(*map(escape, cells))
        else:
            for column in ("task", "kind", "metric", "languages", "description"):
                table.add_column(column)
            for task in getattr(registry, name).values():
                languages = str(len(task.languages))
                cells = (task.name, task.kind, task.metric, languages, task.description)
                table.add_row(*map(escape, cells))
        console.print(table)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
def validate(files: tuple[str, ...]) -> None:
    """Validate registry files (merged in order over the built-in registry, as --registry
    merges them) and list every invalid entry, with its first error."""
    from harness.registry import validate_files

    errors = validate_files(files)
    for error in errors:
        click.secho(f"invalid: {error}", fg="red", err=True)
    if errors:
        sys.exit(1)
    click.echo(f"valid: {', '.join(files)}")


def model_label(model: str) -> str:
    """A model as one folder name: a checkpoint folder's own name, a hub id with ``_``."""
    return Path(model).name if Path(model).expanduser().is_dir() else model.replace("/", "_")


def _default_output(model: str, targets: str, seed: int) -> Path:
    return Path("runs") / f"{model_label(model)}-{targets.replace(',', '+')}-seed{seed}"


def _options(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Apply a group of click options shared by several commands, in reading order."""

    def apply(function: Any) -> Any:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


OVERRIDES = ("epochs", "lr", "batch_size", "max_length")  # options over the tasks' defaults
MODEL_OPTION = click.option(
    "--model", "model_name", required=True, help="Registry name, checkpoint folder or hub id."
)
TRAINING_OPTIONS = _options(
    click.option(
        "--seed",
        default=1,
        show_default=True,
        type=click.IntRange(0, MAX_SEED),
        help="Random seed.",
    ),
    click.option("--epochs", type=float, help="Override each task's default."),
    click.option("--lr", type=float, help="Override each task's default learning rate."),
    click.option(
        "--batch-size",
        type=int,
        help="Override each task's default training batch size (the global batch, split over processes).",
    ),
    click.option(
        "--max-length", type=int, help="Override each task's default maximum input length."
    ),
    click.option("--limit", type=int, help="At most N evaluation (and dev) examples per language."),
    click.option("--train-limit", type=int, help="At most N training examples per task."),
    click.option(
        "--precision",
        type=click.Choice(["no", "bf16", "fp16"]),
        default="no",
        show_default=True,
        help="Reduced precision: mixed precision in training (Accelerate), autocast in inference; bf16 on CPU or GPU, fp16 on GPU.",
    ),
    click.option("--freeze-embeddings", is_flag=True, help="Keep the word embeddings fixed."),
    click.option(
        "--eval-every",
        type=int,
        default=0,
        help="Evaluate on dev every N steps (default: once per epoch).",
    ),
    click.option(
        "--adapter",
        default="full",
        show_default=True,
        help="full fine-tuning, or a peft method on the encoder: lora, ia3, loha, lokr, ...",
    ),
    click.option(
        "--adapter-option",
        "adapter_options",
        multiple=True,
        metavar="KEY=VALUE",
        help="A field of the peft config, e.g. r=8, lora_alpha=16, target_modules=[query,value] (repeatable).",
    ),
)
TARGET_OPTIONS = _options(
    click.option(
        "--targets", default="xtreme", show_default=True, help="Comma-separated targets or suites."
    ),
    click.option(
        "--languages", default="", help="Comma-separated subset of languages (default: all)."
    ),
    click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="HARNESS_DATA_DIR",
        help="Local XTREME download/ folder (also HARNESS_DATA_DIR); missing files fall back to the hub.",
    ),
    click.option(
        "--train-split",
        help="Split to train targets on (default: the registry's, with its fallback).",
    ),
    click.option(
        "--dev-split",
        help="Split for model selection; when it is the training data, examples are held out.",
    ),
    click.option(
        "--eval-split", help="Split to evaluate (default: test, or dev where test has no gold)."
    ),
    click.option(
        "--layer",
        type=int,
        help="Retrieval: hidden-state index to pool (0 = embeddings, -1 = last).",
    ),
    click.option(
        "--pooling",
        type=click.Choice(["mean", "first"]),
        help="Retrieval: pooling (default: the model's).",
    ),
    click.option(
        "--cache/--no-cache",
        default=True,
        show_default=True,
        help="Reuse fine-tuned models keyed by model, data and settings (under HARNESS_CACHE).",
    ),
    click.option(
        "--overwrite",
        is_flag=True,
        help="Replace finished results in --output computed with other settings (with `run`, its intermediate checkpoints too).",
    ),
    click.option(
        "--save-model",
        is_flag=True,
        help="Save each fine-tuned target model under OUTPUT/checkpoints/.",
    ),
)
INTERMEDIATE_OPTIONS = _options(
    click.option(
        "--intermediate",
        "intermediates",
        required=True,
        help="Comma-separated intermediate tasks or suites.",
    ),
    click.option(
        "--intermediate-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="HARNESS_INTERMEDIATE_DIR",
        help="Folder of local intermediate data (also HARNESS_INTERMEDIATE_DIR).",
    ),
    click.option(
        "--sampler",
        type=click.Choice(["proportional", "uniform", "temperature"]),
        default="proportional",
        show_default=True,
        help="Multi-task: how each step's task is drawn.",
    ),
    click.option(
        "--temperature", type=float, default=1.0, show_default=True, help="Sampler temperature T."
    ),
    click.option("--cap", type=int, help="Sampler size cap: sizes above it count as the cap."),
)


def _check_training_options(o: dict[str, Any]) -> None:
    """The numeric options shared by the training commands, each within its range."""
    from harness.specs import hyperparameter_problem

    for name in ("limit", "train_limit"):
        if o[name] is not None and o[name] < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {o[name]}")
    for name in OVERRIDES:
        if o[name] is not None and (problem := hyperparameter_problem(name, o[name])):
            raise ConfigError(f"--{name.replace('_', '-')} {problem}")
    if o["eval_every"] < 0:
        raise ConfigError(f"--eval-every must not be negative, got {o['eval_every']}")


def _adapter(method: str, options: tuple[str, ...], model: Any) -> Any:
    import yaml

    from harness.models.adapters import AdapterSpec, check_adapter
    from harness.models.encoder import model_config

    parsed = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not key:
            raise ConfigError(f"--adapter-option {option!r}: expected KEY=VALUE")
        parsed[key.strip()] = yaml.safe_load(value)
    adapter = AdapterSpec(method=method.lower(), options=parsed)  # LoRA, lora: one method
    check_adapter(adapter, model_config(model))  # now, not when the first target trains
    return adapter


def eval_options(
    registry: Any, model: Any, output: Path, o: dict[str, Any], tasks: list[Any]
) -> Any:
    """EvalOptions from the target and training options of a command."""
    from harness.registry import user_files
    from harness.targets.options import EvalOptions

    if o["data_dir"] is not None and not o["data_dir"].is_dir():
        raise ConfigError(f"--data-dir {o['data_dir']}: folder not found")
    _check_training_options(o)
    wanted = tuple(lang.strip() for lang in o["languages"].split(",") if lang.strip())
    known = {lang for task in tasks for lang in task.languages}
    unknown = [lang for lang in wanted if lang not in known]
    if unknown:
        raise ConfigError(
            f"--languages: {', '.join(unknown)} not in any of {', '.join(t.name for t in tasks)}"
        )
    _check_splits(o, tasks)
    return EvalOptions(
        model=model,
        output=output,
        data_dir=o["data_dir"],
        languages=wanted,
        seed=o["seed"],
        overrides={k: o[k] for k in OVERRIDES},
        limit=o["limit"],
        train_limit=o["train_limit"],
        train_split=o["train_split"],
        dev_split=o["dev_split"],
        eval_split=o["eval_split"],
        precision=o["precision"],
        freeze_embeddings=o["freeze_embeddings"],
        eval_every=o["eval_every"],
        save_model=o["save_model"],
        overwrite=o["overwrite"],
        cache=o["cache"],
        layer=o["layer"],
        pooling=o["pooling"],
        adapter=_adapter(o["adapter"], o["adapter_options"], model),
        registry_files=tuple(str(Path(f).resolve()) for f in user_files(o["registries"])),
    )


def _check_retrieval_options(o: dict[str, Any], tasks: list[Any]) -> None:
    """--layer and --pooling choose retrieval sentence vectors: given for targets that
    have none, they would be recorded and silently do nothing. (A study's settings are
    shared by jobs of every target, so sweeps do not ask this.)"""
    given = [f"--{name}" for name in ("layer", "pooling") if o[name] is not None]
    if given and not any(task.kind == "retrieval" for task in tasks):
        raise ConfigError(
            f"{' and '.join(given)}: retrieval settings, but none of "
            f"{', '.join(t.name for t in tasks)} is a retrieval target"
        )


def _check_splits(o: dict[str, Any], tasks: list[Any]) -> None:
    """A chosen split that a target reads but lacks stops the command before any training."""
    for task in tasks:
        reads = {"train", "dev", "eval"} if task.kind != "retrieval" else {"eval"}
        if task.metric == "bucc_f1":
            reads.add("dev")
        for role in sorted(reads):
            chosen = o[f"{role}_split"]
            if chosen is not None and chosen not in task.data:
                raise ConfigError(
                    f"--{role}-split {chosen}: {task.name} has no such split; "
                    f"its splits: {', '.join(task.data)}"
                )


def intermediate_options(model: Any, output: Path, o: dict[str, Any], tasks: list[Any]) -> Any:
    from harness.intermediates.sampler import SamplerSpec
    from harness.intermediates.stage import IntermediateOptions

    if o["intermediate_dir"] is not None and not o["intermediate_dir"].is_dir():
        raise ConfigError(f"--intermediate-dir {o['intermediate_dir']}: folder not found")
    _check_training_options(o)
    return IntermediateOptions(
        model=model,
        tasks=tasks,
        output=output,
        data_dir=o["intermediate_dir"],
        seed=o["seed"],
        overrides={k: o[k] for k in OVERRIDES},
        train_limit=o["train_limit"],
        limit=o["limit"],
        sampler=SamplerSpec(o["sampler"], o["temperature"], o["cap"]),
        adapter=_adapter(o["adapter"], o["adapter_options"], model),
        precision=o["precision"],
        freeze_embeddings=o["freeze_embeddings"],
        eval_every=o["eval_every"],
        overwrite=o.get("overwrite", False),
    )


def _show(console: Any, data: dict[str, Any]) -> None:
    from harness.report import summary_table, task_table

    for name, block in data["results"].items():
        console.print(task_table(name, block))
    console.print(summary_table(data))


@main.command("eval")
@MODEL_OPTION
@REGISTRY_OPTION
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder (default: runs/MODEL-TARGETS-seedN).",
)
@TARGET_OPTIONS
@TRAINING_OPTIONS
def eval_command(
    model_name: str, registries: tuple[str, ...], output: Path | None, **o: Any
) -> None:
    """Fine-tune on English and evaluate zero-shot in every language of each target."""
    from harness.targets.runner import run_targets

    registry = _registry(registries)
    tasks = registry.expand(o["targets"])
    _check_retrieval_options(o, tasks)
    options = eval_options(
        registry,
        registry.model(model_name),
        output or _default_output(model_name, o["targets"], o["seed"]),
        o | {"registries": registries},
        tasks,
    )
    console = _training_console()
    started = time.time()
    data = run_targets(tasks, options, _dim_log(console))
    _show(console, data)
    console.print(
        f"results: {options.output / 'results.json'}  ({time.time() - started:.0f} s)", markup=False
    )


@main.command("train")
@MODEL_OPTION
@REGISTRY_OPTION
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Checkpoint folder to write.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace a finished checkpoint in --output trained with other settings.",
)
@INTERMEDIATE_OPTIONS
@TRAINING_OPTIONS
def train_command(model_name: str, registries: tuple[str, ...], output: Path, **o: Any) -> None:
    """Train the encoder on English intermediate tasks and save a checkpoint for `eval --model`."""
    from rich.markup import escape
    from rich.table import Table

    from harness.intermediates.stage import train_intermediate

    registry = _registry(registries)
    tasks = registry.expand(o["intermediates"], "intermediates")
    options = intermediate_options(registry.model(model_name), output, o, tasks)
    console = _training_console()
    started = time.time()
    summary = train_intermediate(options, _dim_log(console))
    table = Table(title=f"intermediate dev scores ({escape(str(output))})", title_justify="left")
    for column in ("task", "kind", "metric", "steps", "dev"):
        table.add_column(column, justify="right" if column in ("steps", "dev") else "left")
    for name, block in summary["tasks"].items():
        dev = ", ".join(f"{k} {v:.1f}" for k, v in block["dev"].items())
        cells = (name, block["kind"], block["metric"], str(block["steps"]), dev)
        table.add_row(*map(escape, cells))
    console.print(table)
    params = summary["parameters"]
    console.print(
        f"trainable parameters: {params['trainable']:,} of {params['total']:,}  ({time.time() - started:.0f} s)"
    )


@main.command("run")
@MODEL_OPTION
@REGISTRY_OPTION
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Study folder (default: runs/study-MODEL-INTERMEDIATES).",
)
@INTERMEDIATE_OPTIONS
@TARGET_OPTIONS
@TRAINING_OPTIONS
@click.option(
    "--baseline", is_flag=True, help="Also run the targets with no intermediate step, and compare."
)
@click.option(
    "--seeds",
    default="",
    help="Comma-separated seeds (default: --seed); results show mean and spread.",
)
def run_command(
    model_name: str,
    registries: tuple[str, ...],
    output: Path | None,
    baseline: bool,
    seeds: str,
    **o: Any,
) -> None:
    """Intermediate training, then the targets from its checkpoint (and the baseline)."""
    from harness.intermediates.pipeline import run_study, study_table

    registry = _registry(registries)
    intermediates = registry.expand(o["intermediates"], "intermediates")
    targets = registry.expand(o["targets"])
    _check_retrieval_options(o, targets)
    model = registry.model(model_name)
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()] or [o["seed"]]
    except ValueError:
        raise ConfigError(f"--seeds {seeds!r}: expected comma-separated integers") from None
    if any(not 0 <= s <= MAX_SEED for s in seed_list):
        raise ConfigError(f"--seeds {seeds}: each seed must be in 0..{MAX_SEED}")
    if len(set(seed_list)) < len(seed_list):  # a mean over one run counted twice
        raise ConfigError(f"--seeds {seeds}: a seed given twice")
    name = model_label(model_name)
    root = output or Path("runs") / f"study-{name}-{o['intermediates'].replace(',', '+')}"
    evaluation = eval_options(registry, model, root, o | {"registries": registries}, targets)
    intermediate = intermediate_options(model, root, o, intermediates)
    console = _training_console()
    started = time.time()
    study = run_study(
        root,
        intermediate,
        evaluation,
        targets,
        seed_list,
        baseline,
        _dim_log(console),
    )
    console.print(study_table(study))
    console.print(f"study: {root / 'study.json'}  ({time.time() - started:.0f} s)", markup=False)


# what a study file says in fields of its own rather than in ``settings``
STUDY_FIELDS = ("model_name", "registries", "output", "intermediates", "targets", "seed", "seeds",
                "baseline")  # fmt: skip


def run_options(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Every option of ``harness run`` resolved as its command line resolves it, with
    ``settings`` (a study file's) in place of flags: one set of defaults and conversions."""
    ctx = run_command.make_context("run", ["--model", "-", "--intermediate", "-"])
    params = {p.name: p for p in run_command.params if p.name not in STUDY_FIELDS}
    unknown = sorted(set(settings) - set(params))
    if unknown:
        raise ConfigError(
            f"unknown setting {', '.join(unknown)} (known: {', '.join(sorted(params))})"
        )
    resolved = {name: ctx.params[name] for name in params}
    for name, value in settings.items():
        if isinstance(value, list) and not params[name].multiple:
            if name != "languages":
                raise ConfigError(f"{name}: expected one value, got a list {value!r}")
            value = ",".join(map(str, value))  # a YAML list for the comma-separated one
        if isinstance(value, str) and params[name].multiple:
            value = [value]  # one of a repeatable option's values
        try:
            resolved[name] = params[name].type_cast_value(ctx, value)
        except click.BadParameter as err:
            raise ConfigError(f"{name}: {err.message}") from None
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{name}: {value!r}: {err}") from None
    return resolved


@main.command("sweep")
@click.argument("study_file", metavar="STUDY.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--backend",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Run the jobs one after another here, or as tasks on a Ray cluster.",
)
@click.option(
    "--address", help="Ray cluster to join (HEAD:6379 or auto); default: a local Ray instance."
)
@click.option(
    "--retries", type=click.IntRange(min=0), help="Retries of a failed job (default: the study's)."
)
@click.option("--dry-run", is_flag=True, help="List the jobs and whether each still needs running.")
def sweep_command(
    study_file: Path, backend: str, address: str | None, retries: int | None, dry_run: bool
) -> None:
    """Run a study (models x intermediate configurations x targets x seeds, and the baseline)
    as independent jobs, each into its own run folder; finished jobs are skipped.

    Exits 1 when a job failed after its retries (or could not run because its
    intermediate training failed); sweep.json in the study's output folder says why.
    """
    from harness.sweep.backends import LocalBackend, RayBackend
    from harness.sweep.jobs import INTERMEDIATE, expand, job_done, job_refusal
    from harness.sweep.run import SWEEP_JSON, pending_jobs, problems, run_sweep
    from harness.sweep.study import load_study

    if address is not None and backend != "ray":
        raise click.UsageError("--address goes with --backend ray")
    study = load_study(study_file)
    if dry_run:
        jobs = expand(study)
        todo = {job.id for job in pending_jobs(jobs)}
        refused = {
            job.id: reason for job in jobs if job.id in todo and (reason := job_refusal(job))
        }
        for job in jobs:
            after = f"  (after {job.depends_on})" if job.depends_on else ""
            state = "refused" if job.id in refused else "run" if job.id in todo else "done"
            if state == "done" and job.kind == INTERMEDIATE and not job_done(job):
                state = "unneeded"  # not on disk, but every target of it is finished
            click.echo(f"{state:8}  {job.id}{after}")
            if job.id in refused:
                click.echo(f"         {refused[job.id]}")
        click.echo(
            f"{len(jobs)} jobs, {len(todo) - len(refused)} to run, {len(refused)} refused, "
            f"into {study.output}"
        )
        return
    chosen = RayBackend(address, study.resources) if backend == "ray" else LocalBackend()
    console = _console()
    summary = run_sweep(
        study,
        chosen,
        backend,
        retries=retries,
        log=lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True),
    )
    console.print(
        ", ".join(f"{n} {status}" for status, n in summary["counts"].items())
        + f"  ({summary['seconds']:.0f} s; {study.output / SWEEP_JSON})",
        markup=False,
    )
    failed = problems(summary)
    for line in failed:
        click.secho(line, fg="red", err=True)
    if failed:
        sys.exit(1)


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


@main.command("report")
@click.argument(
    "runs",
    metavar="RUN...",
    nargs=-1,
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "markdown", "csv", "json"]),
    default="table",
    show_default=True,
    help="A rich table, or text for papers and spreadsheets on stdout.",
)
@click.option("--plots", is_flag=True, help="Also write PNG plots (into the first run's plots/).")
@click.option(
    "--plots-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the plots here instead (implies --plots).",
)
def report_command(runs: tuple[Path, ...], fmt: str, plots: bool, plots_dir: Path | None) -> None:
    """Task scores, group means and the XTREME score of each RUN side by side.

    Plots: a language x task heatmap per run and the cross-lingual transfer gap per task
    (English minus the mean of the other languages; only where English was evaluated).
    """
    import json

    from harness.report import (
        load_runs,
        report_csv,
        report_json,
        report_markdown,
        report_table,
        write_plots,
    )

    loaded = load_runs(runs)
    if fmt == "table":
        _console().print(report_table(loaded))
    elif fmt == "json":
        click.echo(json.dumps(report_json(loaded), indent=2, ensure_ascii=False))
    else:
        click.echo(report_markdown(loaded) if fmt == "markdown" else report_csv(loaded), nl=False)
    if plots or plots_dir is not None:
        written, notes = write_plots(loaded, plots_dir or loaded[0].path / "plots")
        for line in [*notes, *(f"wrote {path}" for path in written)]:
            click.echo(line, err=True)


def _run_list(text: str) -> list[Path]:
    paths = [Path(part.strip()) for part in text.split(",") if part.strip()]
    if not paths:
        raise ConfigError(f"{text!r}: expected one run folder or a comma-separated list")
    return paths


@main.command("compare")
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@click.option(
    "--samples",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Bootstrap resamples.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Bootstrap random seed.",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.05,
    show_default=True,
    help="1 - confidence level of the intervals.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def compare_command(
    run_a: str, run_b: str, samples: int, seed: int, alpha: float, fmt: str
) -> None:
    """B minus A per task and language, with paired bootstrap CIs and p-values.

    RUN_A and RUN_B are run folders, or comma-separated lists of run folders (one per
    seed: runs/a-seed1,runs/a-seed2), whose per-example statistics are averaged before
    resampling. Both sides must have predicted the same examples; a language where they
    did not is refused with the reason, and the rest is compared.
    """
    import json

    from harness.compare import compare_runs, comparison_table, legend

    comparison = compare_runs(_run_list(run_a), _run_list(run_b), samples, seed, alpha)
    if fmt == "json":
        click.echo(json.dumps(comparison.to_json(), indent=2, ensure_ascii=False))
    else:
        console = _console()
        if not comparison.empty:
            console.print(comparison_table(comparison))
        for line in legend(comparison):
            console.print(line, highlight=False, markup=False)
    if comparison.empty:  # a script must not read an empty table as a comparison
        raise HarnessError(
            "nothing to compare: every task and language was refused (see why above)"
        )


if __name__ == "__main__":
    main()
