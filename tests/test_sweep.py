"""harness sweep: study validation, job expansion, and tiny sweeps on the local and Ray
backends with an injected flaky job and a job that fails for a real reason, and on Ray
with workers that die."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sweep_helpers import FLAKY_JOB, FLAKY_MARK, broken_intermediate, flaky_run_job

from harness.cli import main
from harness.errors import ConfigError
from harness.sweep.backends import LocalBackend, RayBackend
from harness.sweep.jobs import INTERMEDIATE, Job, expand
from harness.sweep.run import SWEEP_JSON, run_sweep, sweep_lock
from harness.sweep.study import Resources, load_study

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "paper-study.yaml"

# a target whose training file is absent from every data folder (its test files are
# PAWS-X's, so it passes the check before training): fails for a real reason
BROKEN_TARGET = """\
targets:
  brokenx:
    kind: pair_classification
    labels: ["0", "1"]
    languages: [en, de]
    metric: accuracy
    data:
      train: {local: {format: pair_tsv, path: "brokenx/train-en.tsv"}}
      dev: {local: {format: pair_tsv, path: "brokenx/dev-{lang}.tsv"}}
      test: {local: {format: pair_tsv, path: "pawsx/test-{lang}.tsv"}}
"""


def write_study(folder: Path, **fields: Any) -> Path:
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(fields), encoding="utf-8")
    return path


@pytest.fixture
def tiny_study(tmp_path: Path, tiny_model: Path, xtreme_dir: Path, intermediate_dir: Path) -> Path:
    """Baseline and CommonsenseQA x PAWS-X, Tatoeba and the broken target: one intermediate
    job and six target jobs, each a few seconds on the tiny model."""
    (tmp_path / "broken.yaml").write_text(BROKEN_TARGET, encoding="utf-8")
    return write_study(
        tmp_path, name="tiny", output="sweep", models=[str(tiny_model)], baseline=True,
        intermediates=["commonsenseqa"], targets=["pawsx", "tatoeba", "brokenx"], seeds=[1],
        registry=["broken.yaml"], retries=1,
        settings={"data_dir": str(xtreme_dir), "intermediate_dir": str(intermediate_dir),
                  "languages": "en,de", "epochs": 1, "batch_size": 8, "max_length": 32,
                  "limit": 10, "train_limit": 16},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"colour": "red"}, "colour", "unknown field"),
        ({"models": ["no-such-model"]}, "models[0]", "unknown model"),
        ({"intermediates": ["mnli", "nope"]}, "intermediates[1]", "nope"),
        ({"intermediates": ["mnli", ["mnli"]]}, "intermediates[1]", "the same tasks as mnli"),
        ({"targets": ["xnli", "nope"]}, "targets", "nope"),
        ({"seeds": [1, "two"]}, "seeds[1]", "expected int"),
        ({"seeds": [-1, 2]}, "seeds", "each seed must be in 0..4294967295"),
        ({"settings": {"lr": "fast"}}, "settings", "lr: 'fast' is not a valid float"),
        ({"settings": {"epoch": 2}}, "settings", "unknown setting epoch"),
        ({"settings": {"limit": 0}}, "settings", "--limit must be at least 1"),
        ({"settings": {"epochs": -2}}, "settings", "--epochs must be positive"),
        (
            {"settings": {"train_split": ["a", "b"]}},
            "settings",
            "train_split: expected one value, got a list",
        ),
        ({"settings": {"epochs": {"a": 1}}}, "settings", "epochs: {'a': 1}: float() argument"),
        ({"settings": {"data_dir": "missing"}}, "settings", "folder not found"),
        ({"resources": {"gpus": -1}}, "resources.gpus", "expected a number >= 0"),
        ({"retries": -1}, "retries", "expected an integer >= 0"),
        ({"baseline": "yes"}, "baseline", "expected bool"),
        ({"registry": ["missing.yaml"]}, "registry", "missing.yaml"),
        ({"intermediates": [], "baseline": False}, "intermediates", "nothing to run"),
    ],
)
def test_a_bad_field_is_named_with_its_file(
    tmp_path: Path, change: dict[str, Any], field: str, message: str
) -> None:
    good = {"models": ["xlm-roberta-base"], "intermediates": ["mnli"], "targets": "xnli"}
    path = write_study(tmp_path, **(good | change))
    with pytest.raises(ConfigError) as caught:
        load_study(path)
    assert str(caught.value).startswith(f"{path}: {field}: "), str(caught.value)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_length": 100000}, "max_length 100000 (--max-length, or a study's settings)"),
        ({"adapter": "lora", "adapter_options": ["r=0"]}, "adapter lora (options: r=0)"),
    ],
)
def test_every_model_is_checked_against_the_settings(
    tmp_path: Path, tiny_model: Path, settings: dict[str, Any], message: str
) -> None:
    """The first model (a hub id, unreadable offline) cannot be checked; the second can."""
    path = write_study(tmp_path, models=["xlm-roberta-base", str(tiny_model)],
                       intermediates=["mnli"], targets="xnli", settings=settings)  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        load_study(path)
    assert str(caught.value).startswith(f"{path}: settings: "), str(caught.value)
    assert message in str(caught.value)


def test_settings_take_yaml_lists_where_the_command_line_takes_several_values(
    tmp_path: Path,
) -> None:
    path = write_study(
        tmp_path, models=["xlm-roberta-base"], intermediates=["mnli"], targets="xnli",
        settings={"languages": ["en", "de"], "adapter": "lora", "adapter_options": "r=8"},
    )  # fmt: skip
    options = load_study(path).options
    assert options["languages"] == "en,de" and options["adapter_options"] == ("r=8",)


def test_expansion_gives_readable_ids_and_puts_training_first(tmp_path: Path) -> None:
    path = write_study(
        tmp_path, models=["xlm-roberta-base", "org/encoder"], baseline=True,
        intermediates=["mnli", ["squad", "hellaswag"]], targets=["xnli", "tatoeba"], seeds=[1, 2],
        output="out",
    )  # fmt: skip
    study = load_study(path)
    jobs = expand(study)
    # 2 models x 2 seeds x (3 configurations x 2 targets + 2 intermediate trainings)
    assert len(jobs) == 2 * 2 * (3 * 2 + 2)
    ids = [job.id for job in jobs]
    assert "xlm-roberta-base/baseline/seed1/xnli" in ids
    assert "org_encoder/squad+hellaswag/seed2/intermediate" in ids
    target = jobs[ids.index("xlm-roberta-base/squad+hellaswag/seed2/tatoeba")]
    assert target.depends_on == "xlm-roberta-base/squad+hellaswag/seed2/intermediate"
    assert ids.index(target.depends_on) < ids.index(target.id)
    assert target.checkpoint == tmp_path / "out" / target.depends_on
    assert target.output == tmp_path / "out" / target.id
    assert jobs[ids.index("xlm-roberta-base/baseline/seed2/xnli")].depends_on is None
    training = jobs[ids.index(target.depends_on)]
    assert training.kind == INTERMEDIATE and training.intermediates == ("squad", "hellaswag")


def test_two_jobs_sharing_a_folder_are_refused(tmp_path: Path, tiny_model: Path) -> None:
    for side in ("a", "b"):
        shutil.copytree(tiny_model, tmp_path / side / "ckpt")
    path = write_study(tmp_path, models=["a/ckpt", "b/ckpt"], baseline=True, targets=["pawsx"])
    with pytest.raises(ConfigError, match="two jobs would share the folder ckpt/baseline/seed1"):
        expand(load_study(path))


def test_the_paper_study_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HARNESS_DATA_DIR", "HARNESS_INTERMEDIATE_DIR", "HARNESS_REGISTRY"):
        monkeypatch.delenv(var, raising=False)
    study = load_study(EXAMPLE)
    jobs = expand(study)
    # one model, three seeds: ten intermediate configurations (the nine tasks and all nine
    # at once), each trained once, and eleven (with the baseline) x nine XTREME targets
    assert study.seeds == (1, 2, 3) and len(study.targets) == 9
    assert study.intermediates[-1] == ("intermediate_all",)
    assert sum(job.kind == INTERMEDIATE for job in jobs) == 3 * 10
    assert len(jobs) == 3 * 10 + 3 * 11 * 9
    result = CliRunner().invoke(main, ["sweep", str(EXAMPLE), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith(f"{len(jobs)} jobs, {len(jobs)} to run")


def test_targets_of_a_failed_intermediate_training_do_not_run(
    tmp_path: Path, tiny_model: Path
) -> None:
    path = write_study(
        tmp_path, models=[str(tiny_model)], intermediates=["commonsenseqa"],
        targets=["pawsx", "tatoeba"], retries=2,
    )  # fmt: skip
    summary = run_sweep(load_study(path), LocalBackend(), "local", broken_intermediate,
                        log=lambda _: None)  # fmt: skip
    jobs = {job["id"]: job for job in summary["jobs"]}
    training = next(job for job in jobs.values() if job["kind"] == INTERMEDIATE)
    assert training["status"] == "failed" and training["attempts"] == 3
    assert "injected intermediate failure" in training["error"]
    for job in jobs.values():
        if job is not training:
            assert job["status"] == "not_run" and training["id"] in job["error"], job


def test_a_second_sweep_into_the_same_folder_is_refused_while_the_first_runs(
    tmp_path: Path, tiny_model: Path
) -> None:
    path = write_study(tmp_path, models=[str(tiny_model)], intermediates=["commonsenseqa"],
                       targets=["pawsx"], retries=0)  # fmt: skip
    study = load_study(path)
    with sweep_lock(study.output), pytest.raises(ConfigError) as caught:
        run_sweep(study, LocalBackend(), "local", broken_intermediate, log=lambda _: None)
    assert f"{study.output}: another sweep is running into this folder (pid {os.getpid()}" in str(
        caught.value
    )
    assert not (study.output / SWEEP_JSON).exists()  # the refused one wrote nothing
    # the lock goes with the sweep that held it
    summary = run_sweep(study, LocalBackend(), "local", broken_intermediate, log=lambda _: None)
    assert summary["counts"] == {"failed": 1, "not_run": 1}


def sweep_and_check(study_file: Path, backend: Any, name: str, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> set[str]:  # fmt: skip
    """Run the tiny sweep with a flaky job, check sweep.json and the run folders, then rerun
    it through the command: finished jobs are skipped, the broken ones fail again."""
    study = load_study(study_file)
    jobs = expand(study)
    flaky = next(j.id for j in jobs if j.intermediates and j.target == "pawsx")
    monkeypatch.setenv(FLAKY_JOB, flaky)
    monkeypatch.setenv(FLAKY_MARK, str(tmp_path / "flaky-attempted"))
    lines: list[str] = []
    summary = run_sweep(study, backend, name, flaky_run_job, log=lines.append)
    assert summary == json.loads((study.output / SWEEP_JSON).read_text())
    assert sum(job.kind != INTERMEDIATE for job in jobs) == 6
    by_id = {job["id"]: job for job in summary["jobs"]}
    assert by_id[flaky]["status"] == "finished" and by_id[flaky]["attempts"] == 2, by_id[flaky]
    broken = {job_id for job_id in by_id if job_id.endswith("/brokenx")}
    for job_id, job in by_id.items():
        if job_id in broken:
            assert job["status"] == "failed" and job["attempts"] == 2, job
            assert "brokenx/train-en.tsv" in job["error"]
            assert any(job_id in line and "brokenx/train-en.tsv" in line for line in lines)
        else:
            assert job["status"] == "finished", job
        assert job_id in Path(job["run_folder"], "log.txt").read_text()
    for job_id in by_id.keys() - broken:
        if by_id[job_id]["kind"] != INTERMEDIATE:
            results = json.loads(Path(by_id[job_id]["run_folder"], "results.json").read_text())
            target = job_id.rsplit("/", 1)[1]
            assert not results["results"][target].get("partial")
            assert (Path(by_id[job_id]["run_folder"]) / "predictions" / target).is_dir()
    assert summary["counts"] == {"finished": 5, "failed": 2}

    result = CliRunner().invoke(main, ["sweep", str(study_file)])
    assert result.exit_code == 1, result.output
    again = json.loads((study.output / SWEEP_JSON).read_text())
    statuses = {job["id"]: job["status"] for job in again["jobs"]}
    assert statuses == {job_id: "failed" if job_id in broken else "skipped" for job_id in by_id}
    for job_id in broken:
        assert job_id in result.output
    assert "brokenx/train-en.tsv" in result.output.replace("\n", "")
    return {job["run_folder"] for job in summary["jobs"]}


def pids(folders: set[str]) -> set[int]:
    """The processes the jobs ran in, from the first line of their logs."""
    lines = [Path(folder, "log.txt").read_text().splitlines()[0] for folder in folders]
    return {int(line.rsplit("(pid ", 1)[1].rstrip(")")) for line in lines}


def test_local_sweep_retries_reports_and_resumes(
    tiny_study: Path, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folders = sweep_and_check(tiny_study, LocalBackend(), "local", tmp_path, monkeypatch)
    assert pids(folders) == {os.getpid()}
    # another limit: the dry run shows the finished jobs the sweep would refuse, and why
    changed = tiny_study.read_text(encoding="utf-8").replace("  limit: 10\n", "  limit: 12\n")
    assert changed != tiny_study.read_text(encoding="utf-8")
    tiny_study.write_text(changed, encoding="utf-8")
    dry = CliRunner().invoke(main, ["sweep", str(tiny_study), "--dry-run"])
    lines = dry.output.splitlines()
    refused = [line.split()[1] for line in lines if line.startswith("refused")]
    arms = [f"{tiny_model.name}/{arm}/seed1" for arm in ("baseline", "commonsenseqa")]
    finished = {f"{arm}/{target}" for arm in arms for target in ("pawsx", "tatoeba")}
    assert set(refused) == finished | {f"{arms[1]}/intermediate"}
    assert "(changed: limit 10 -> 12)" in dry.output
    assert lines[-1].startswith("7 jobs, 2 to run, 5 refused")  # the broken targets run
    # an intermediate-only setting: the training is refused, and the targets of its
    # checkpoint (named by path alone) are pending again, their results being the old one's
    sampled = changed.replace("  limit: 12\n", "  limit: 10\n  sampler: uniform\n")
    tiny_study.write_text(sampled, encoding="utf-8")
    dry = CliRunner().invoke(main, ["sweep", str(tiny_study), "--dry-run"])
    states = {line.split()[1]: line.split()[0] for line in dry.output.splitlines()[:-1]
              if line.split()[0] in ("run", "refused", "done")}  # fmt: skip
    assert states[f"{arms[1]}/intermediate"] == "refused" and "sampler" in dry.output
    assert states[f"{arms[1]}/pawsx"] == states[f"{arms[1]}/tatoeba"] == "run"
    assert states[f"{arms[0]}/pawsx"] == "done"
    tiny_study.write_text(changed.replace("  limit: 12\n", "  limit: 10\n"), encoding="utf-8")

    # a checkpoint deleted after its targets finished (to free the disk) is not trained
    # again; deleted with a target unfinished, it is, and its finished targets are kept
    working = tiny_study.read_text(encoding="utf-8")
    tiny_study.write_text(working.replace("- brokenx\n", ""), encoding="utf-8")
    shutil.rmtree(tmp_path / "sweep" / arms[1] / "intermediate")
    dry = CliRunner().invoke(main, ["sweep", str(tiny_study), "--dry-run"])
    states = {line.split()[1]: line.split()[0] for line in dry.output.splitlines()[:-1]
              if not line.startswith(" ")}  # fmt: skip
    assert states[f"{arms[1]}/intermediate"] == "unneeded", dry.output
    assert states[f"{arms[1]}/pawsx"] == states[f"{arms[1]}/tatoeba"] == "done"
    shutil.rmtree(tmp_path / "sweep" / arms[1] / "tatoeba")
    result = CliRunner().invoke(main, ["sweep", str(tiny_study)])
    assert result.exit_code == 0, result.output
    statuses = {job["id"]: job["status"]
                for job in json.loads((tmp_path / "sweep" / SWEEP_JSON).read_text())["jobs"]}  # fmt: skip
    assert statuses[f"{arms[1]}/intermediate"] == statuses[f"{arms[1]}/tatoeba"] == "finished"
    assert statuses[f"{arms[1]}/pawsx"] == "skipped"  # its result came from the same training
    tiny_study.write_text(working, encoding="utf-8")

    # a configuration's seed folder reads as one run: report and compare take the sweep's runs
    baseline, trained = (str(tmp_path / "sweep" / tiny_model.name / c / "seed1")
                         for c in ("baseline", "commonsenseqa"))  # fmt: skip
    report = CliRunner().invoke(main, ["report", "--format", "json", baseline, trained])
    assert report.exit_code == 0, report.output
    tasks = json.loads(report.output)["tasks"]
    assert set(tasks) == {"pawsx", "tatoeba"}
    assert set(tasks["pawsx"]) == {"baseline/seed1", "commonsenseqa/seed1"}
    compare = CliRunner().invoke(
        main, ["compare", "--format", "json", "--samples", "20", baseline, trained]
    )
    assert compare.exit_code == 0, compare.output
    compared = json.loads(compare.output)["tasks"]
    assert set(compared["pawsx"]["languages"]) == {"en", "de"}, compared["pawsx"]["refused"]
    assert set(compared["tatoeba"]["languages"]) == {"de"}, compared["tatoeba"]["refused"]


@pytest.fixture
def ray_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Ray set up for this test alone: its workers (new processes) find this folder's
    modules through PYTHONPATH, its temp folder is its own (short: it holds Unix sockets),
    and no memory monitor kills workers of a busy machine."""
    ray = pytest.importorskip("ray")
    here = str(Path(__file__).parent)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))
    )
    monkeypatch.setenv("RAY_memory_monitor_refresh_ms", "0")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with tempfile.TemporaryDirectory(prefix="ray-", ignore_cleanup_errors=True) as temp:
        monkeypatch.setenv("RAY_TMPDIR", temp)
        yield ray


@pytest.fixture
def local_ray(ray_env: Any) -> Iterator[Any]:
    """A local Ray of two CPUs started here, not by the backend (which must leave it up)."""
    ray_env.init(num_cpus=2, include_dashboard=False)
    yield ray_env
    ray_env.shutdown()


def test_ray_sweep_retries_reports_and_resumes(
    tiny_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ray_env: Any
) -> None:
    backend = RayBackend(None, Resources(cpus=1))
    folders = sweep_and_check(tiny_study, backend, "ray", tmp_path, monkeypatch)
    assert os.getpid() not in pids(folders)  # Ray's workers ran them
    assert not ray_env.is_initialized()  # the backend stops the Ray it started


class Halt(BaseException):
    """Not an Exception, so the job function's attempt does not catch it: Ray does, and
    reports it in a RayTaskError coloured for a terminal."""


@dataclass(frozen=True)
class Fated:
    """A job function whose intermediate training meets ``fates`` on its first attempts, one
    each ("raise"; "halt": raise Halt; "die": its process exits, as one killed for memory
    does), then finishes; a target job finishes at once. Each attempt is counted in a file
    of ``folder``: Ray workers are processes of their own, and one that dies forgets."""

    folder: Path
    fates: tuple[str, ...]

    def __call__(self, job: Job) -> None:
        with self.tries(job).open("a", encoding="utf-8") as tries:
            tries.write("+")
        attempt = self.tries(job).stat().st_size
        intermediate = job.kind == INTERMEDIATE and attempt <= len(self.fates)
        fate = self.fates[attempt - 1] if intermediate else "finish"
        if fate == "die":
            os._exit(1)
        if fate == "raise":
            raise RuntimeError(f"injected failure of attempt {attempt}")
        if fate == "halt":
            raise Halt(f"injected halt of attempt {attempt}")

    def tries(self, job: Job) -> Path:
        return self.folder / job.id.replace("/", "_")

    def attempts(self, job: Job) -> int:
        return self.tries(job).stat().st_size if self.tries(job).exists() else 0


def sweep_with_fates(
    tmp_path: Path, fates: tuple[str, ...], retries: int
) -> tuple[dict[str, dict[str, Any]], Fated, list[Job]]:
    """One intermediate training meeting ``fates`` and its two targets, swept on Ray."""
    path = write_study(
        tmp_path, models=["org/encoder"], intermediates=["commonsenseqa"],
        targets=["pawsx", "tatoeba"], retries=retries,
    )  # fmt: skip
    study = load_study(path)
    (tmp_path / "tries").mkdir()
    runner = Fated(tmp_path / "tries", fates)
    summary = run_sweep(study, RayBackend(None, Resources(cpus=1)), "ray", runner,
                        log=lambda _: None)  # fmt: skip
    for job in summary["jobs"]:
        assert "\x1b" not in (job["error"] or ""), job  # plain text, no terminal colours
    return {job["id"]: job for job in summary["jobs"]}, runner, expand(study)


def test_ray_retries_a_job_whose_worker_died(tmp_path: Path, local_ray: Any) -> None:
    # each kind of failure, then it finishes on the fifth attempt: the last retries=4 allow
    fates = ("die", "raise", "die", "halt")
    by_id, runner, jobs = sweep_with_fates(tmp_path, fates, retries=4)
    training = next(job for job in jobs if job.kind == INTERMEDIATE)
    assert by_id[training.id]["status"] == "finished", by_id[training.id]
    assert by_id[training.id]["attempts"] == runner.attempts(training) == 5
    for job in jobs:
        if job is not training:
            assert by_id[job.id]["status"] == "finished" and by_id[job.id]["attempts"] == 1
    assert local_ray.is_initialized()  # the backend leaves up the Ray it did not start


@pytest.mark.parametrize(
    ("last", "error"),
    [("die", "WorkerCrashedError: The worker died"), ("halt", "RayTaskError(Halt): ")],
)
def test_ray_targets_of_an_intermediate_whose_worker_died_do_not_run(
    tmp_path: Path, local_ray: Any, last: str, error: str
) -> None:
    # its worker dies, and dies again (or Ray catches what the job raised): no retry left
    by_id, runner, jobs = sweep_with_fates(tmp_path, ("die", last, "die"), retries=1)
    training = next(job for job in jobs if job.kind == INTERMEDIATE)
    assert by_id[training.id]["status"] == "failed", by_id[training.id]
    assert by_id[training.id]["attempts"] == runner.attempts(training) == 2
    assert by_id[training.id]["error"].startswith(error), by_id[training.id]
    for job in jobs:
        if job is not training:
            assert by_id[job.id]["status"] == "not_run", by_id[job.id]
            assert by_id[job.id]["error"] == f"not run: {training.id} did not finish"
            assert runner.attempts(job) == 0
