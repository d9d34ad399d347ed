"""`harness eval`, `list` and `validate` end to end on the tiny model and small XTREME-layout files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from tiny_model import write_xtreme

from harness.cli import main


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_eval_trains_on_english_and_scores_every_language(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = ["eval", "--model", str(tiny_model), "--targets", "pawsx", "--data-dir", str(xtreme_dir),
            "--train-split", "dev", "--eval-split", "dev", "--train-limit", "40", "--limit", "20",
            "--epochs", "1", "--batch-size", "8", "--output", str(out)]  # fmt: skip
    code, output = run(*args)
    assert code == 0, output
    data = json.loads((out / "results.json").read_text())
    block = data["results"]["pawsx"]
    assert set(block["languages"]) == {"en", "de"}
    assert block["languages"]["de"]["examples"] == 20
    # English is never scored on what it trained on: its held-out examples instead
    assert block["data"]["dev"]["held_out_from_train"] is True
    assert block["languages"]["en"]["examples"] == block["data"]["dev"]["examples"]
    assert block["score"] == pytest.approx(
        sum(v["accuracy"] for v in block["languages"].values()) / 2
    )
    assert block["data"]["train"]["split"] == "dev" and block["data"]["train"]["examples"] <= 40
    assert block["data"]["eval"]["de"]["fingerprint"]
    assert any(
        gap.startswith("es:") for gap in block["gaps"]
    )  # missing files are gaps, not crashes
    assert data["config"]["options"]["train_split"] == "dev"
    assert data["environment"]["packages"]["torch"]
    assert data["missing_languages"]["pawsx"] == ["es", "fr", "ja", "ko", "zh"]
    predictions = (out / "predictions" / "pawsx" / "dev-de.jsonl").read_text().splitlines()
    assert len(predictions) == 20 and {json.loads(p) for p in predictions} <= {"0", "1"}
    assert "pawsx" in output and "avg" in output
    assert "training on" in (out / "log.txt").read_text()

    code, output = run(*args)  # a rerun reuses the finished task
    assert code == 0 and "already finished" in output


def test_a_registry_listing_fewer_languages_leaves_the_run_short_of_xtreme(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path
) -> None:
    narrow = tmp_path / "narrow.yaml"
    narrow.write_text("targets:\n  pawsx: {languages: [en, de]}\n")
    out = tmp_path / "run"
    code, output = run("eval", "--model", str(tiny_model), "--targets", "pawsx",
                       "--registry", str(narrow), "--data-dir", str(xtreme_dir),
                       "--train-split", "dev", "--eval-split", "dev", "--train-limit", "16",
                       "--limit", "8", "--epochs", "1", "--batch-size", "8",
                       "--output", str(out))  # fmt: skip
    assert code == 0, output
    data = json.loads((out / "results.json").read_text())
    block = data["results"]["pawsx"]
    assert set(block["languages"]) == {"en", "de"} and not block["gaps"]  # only those ran
    assert block["task_languages"] == ["de", "en", "es", "fr", "ja", "ko", "zh"]
    assert data["missing_languages"]["pawsx"] == ["es", "fr", "ja", "ko", "zh"]


def test_eval_split_without_gold_saves_predictions_only(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    code, output = run("eval", "--model", str(tiny_model), "--targets", "pawsx", "--data-dir", str(xtreme_dir),
                       "--train-split", "dev", "--eval-split", "test", "--languages", "en,de", "--epochs", "1",
                       "--output", str(out))  # fmt: skip
    assert code == 0, output
    block = json.loads((out / "results.json").read_text())["results"]["pawsx"]
    assert "de" not in block["languages"]  # test labels are stripped
    assert any("no gold labels" in gap for gap in block["gaps"])
    assert len((out / "predictions" / "pawsx" / "test-de.jsonl").read_text().splitlines()) == 10


def test_offline_defaults_fall_back_and_say_so(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path
) -> None:
    """No English train file: train on dev (held out); unlabelled test: score dev."""
    out = tmp_path / "run"
    code, output = run("eval", "--model", str(tiny_model), "--targets", "pawsx", "--data-dir", str(xtreme_dir),
                       "--languages", "en,de", "--epochs", "1", "--output", str(out))  # fmt: skip
    assert code == 0, output
    assert "unavailable, using its dev split" in output
    assert "scoring the dev split instead" in output
    block = json.loads((out / "results.json").read_text())["results"]["pawsx"]
    assert "train-en.tsv" in block["data"]["train"]["note"]
    assert block["data"]["dev"]["held_out_from_train"] is True
    assert block["data"]["eval"]["de"]["split"] == "dev"
    assert block["data"]["eval"]["en"]["held_out_from_train"] is True
    assert set(block["languages"]) == {"en", "de"}


def test_retrieval_targets_need_no_training(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    code, output = run("eval", "--model", str(tiny_model), "--targets", "tatoeba,bucc2018",
                       "--languages", "de,fr,zh", "--data-dir", str(xtreme_dir), "--layer", "1",
                       "--pooling", "first", "--output", str(out))  # fmt: skip
    assert code == 0, output
    # Tatoeba's registry default (256) is more than the tiny model's 254 positions
    assert "max_length 256 (a registry default) lowered to 254" in output
    data = json.loads((out / "results.json").read_text())
    tatoeba = data["results"]["tatoeba"]
    assert tatoeba["embedding"]["max_length"] == 254
    assert set(tatoeba["languages"]) == {"de", "fr"}
    assert tatoeba["embedding"]["layer"] == 1 and tatoeba["embedding"]["pooling"] == "first"
    # identical sentences on both sides: every one is found
    assert tatoeba["languages"]["de"]["accuracy"] == 100.0
    bucc = data["results"]["bucc2018"]
    assert bucc["languages"]["zh"]["f1"] == 100.0 and "threshold" in bucc["languages"]["zh"]
    assert any("no test split" in gap for gap in bucc["gaps"])
    # --limit cuts Tatoeba's pairs; BUCC mines all of its corpus, and says so
    code, output = run("eval", "--model", str(tiny_model), "--targets", "tatoeba,bucc2018",
                       "--languages", "de,zh", "--data-dir", str(xtreme_dir), "--limit", "3",
                       "--output", str(tmp_path / "limited"))  # fmt: skip
    assert code == 0, output
    limited = json.loads((tmp_path / "limited" / "results.json").read_text())["results"]
    assert limited["tatoeba"]["languages"]["de"]["examples"] == 3
    examples = bucc["languages"]["zh"]["examples"]
    assert limited["bucc2018"]["languages"]["zh"]["examples"] == examples > 3
    assert "--limit does not cut a mining corpus" in output
    # the limit is no setting of BUCC's result: another one reuses it
    code, output = run("eval", "--model", str(tiny_model), "--targets", "bucc2018", "--languages", "de,zh",
                       "--data-dir", str(xtreme_dir), "--limit", "4", "--output", str(tmp_path / "limited"))  # fmt: skip
    assert code == 0 and "bucc2018: already finished" in output, output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--targets", "xnlj"], "unknown target 'xnlj'; did you mean xnli"),
        (["--model", "no-such-model"], "unknown model 'no-such-model'"),
        (["--data-dir", "/no/such/folder"], "folder not found"),
        (["--languages", "tlh"], "--languages: tlh not in any of tatoeba, pawsx"),
        (["--limit", "0"], "--limit must be at least 1"),
        (["--epochs", "-1"], "--epochs must be positive, got -1.0"),
        (["--lr", "0"], "--lr must be positive, got 0.0"),
        (["--epochs", "inf"], "--epochs must be a finite number, got inf"),
        (["--lr", "nan"], "--lr must be a finite number, got nan"),
        (["--batch-size", "0"], "--batch-size must be positive, got 0"),
        (["--max-length", "0"], "--max-length must be positive, got 0"),
        (["--eval-every", "-5"], "--eval-every must not be negative, got -5"),
        (["--max-length", "300"], "takes at most 254 tokens"),
        (["--seed", "-1"], "-1 is not in the range 0<=x<=4294967295"),
        (["--adapter", "lorax"], "adapter 'lorax': not a peft method"),
        (["--adapter", "lora", "--adapter-option", "r=x"], "option r='x' must be int"),
        (["--adapter-option", "r=8"], "adapter options given, but the adapter is full"),
        (["--eval-split", "tst"], "--eval-split tst: tatoeba has no such split; its splits: test"),
    ],
)
def test_bad_input_gets_one_clear_line(
    tiny_model: Path, xtreme_dir: Path, args: list[str], message: str
) -> None:
    # tatoeba first: a bad option must stop the command before it, not at pawsx
    base = {"--model": str(tiny_model), "--targets": "tatoeba,pawsx", "--data-dir": str(xtreme_dir)}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    code, output = run("eval", *[x for pair in base.items() for x in pair])
    assert code == 2
    assert message in output and "Traceback" not in output


def test_retrieval_settings_without_a_retrieval_target_are_refused(
    tiny_model: Path, xtreme_dir: Path
) -> None:
    code, output = run("eval", "--model", str(tiny_model), "--targets", "pawsx", "--layer", "99",
                       "--data-dir", str(xtreme_dir))  # fmt: skip
    assert code == 2
    assert "--layer: retrieval settings, but none of pawsx is a retrieval target" in output


def test_a_language_with_no_data_stops_the_run_before_training(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path
) -> None:
    registry = tmp_path / "more.yaml"
    registry.write_text("targets:\n  pawsx:\n    languages: [de, en, it]\n")
    code, output = run("eval", "--registry", str(registry), "--model", str(tiny_model), "--targets", "pawsx",
                       "--data-dir", str(xtreme_dir), "--train-split", "dev", "--languages", "it",
                       "--output", str(tmp_path / "r"))  # fmt: skip
    assert code == 2
    assert "no language could be evaluated (checked before training)" in output
    assert "it: " in output and "pawsx/test-it.tsv" in output
    assert "training on" not in output


def test_a_target_with_no_readable_language_stops_the_run_before_any_target_trains(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path
) -> None:
    """BUCC German has no corpus here: pawsx, first in line, is not trained for nothing."""
    code, output = run("eval", "--model", str(tiny_model), "--targets", "pawsx,bucc2018",
                       "--languages", "de", "--data-dir", str(xtreme_dir),
                       "--output", str(tmp_path / "r"))  # fmt: skip
    assert code == 2, output
    assert "bucc2018: no language could be evaluated (checked before training)" in output
    assert "bucc2018/de-en.dev.de" in " ".join(output.split())
    assert "training on" not in output and not (tmp_path / "r" / "results.json").exists()


def test_a_language_left_with_a_gap_is_tried_again_on_resume(tmp_path: Path) -> None:
    """Its file may have been put in place since; a scored language's own gap (BUCC
    without a test split) stays with its score."""
    from harness.results import RunStore

    header = {"kind": "retrieval", "config_hash": "h", "task_languages": ["de", "fr", "ru"]}
    progress = RunStore(tmp_path).progress("bucc2018", "h", header)
    progress.record("de", {"f1": 50.0}, {"dev": {}}, gap="no test split: scored on dev")
    progress.record("fr", gap="bucc2018/fr-en.dev.fr: file not found")
    resumed = RunStore(tmp_path).progress("bucc2018", "h", header)
    assert resumed.done("de") and not resumed.done("fr") and not resumed.done("ru")
    assert resumed.gaps == ["de: no test split: scored on dev"]
    assert RunStore(tmp_path).progress("bucc2018", "other settings", header).gaps == []


def test_an_interrupt_says_what_survives_and_exits_130(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.targets import runner

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "stage_for", interrupted)
    code, output = run("eval", "--model", str(tiny_model), "--targets", "tatoeba", "--data-dir",
                       str(xtreme_dir), "--output", str(tmp_path / "r"))  # fmt: skip
    assert code == 130
    assert "interrupted: what finished is saved; the same command again resumes" in output


def test_malformed_row_names_file_and_line(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path
) -> None:
    with (xtreme_dir / "pawsx" / "dev-en.tsv").open("a") as handle:
        handle.write("only one column\n")
    code, output = run("eval", "--model", str(tiny_model), "--targets", "pawsx", "--data-dir", str(xtreme_dir),
                       "--train-split", "dev", "--output", str(tmp_path / "r"))  # fmt: skip
    assert code == 2
    assert "dev-en.tsv:61" in output


def test_missing_file_without_fallback_names_the_file(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path
) -> None:
    code, output = run("eval", "--model", str(tiny_model), "--targets", "udpos", "--data-dir", str(xtreme_dir),
                       "--output", str(tmp_path / "r"))  # fmt: skip
    assert code == 2  # no UD-POS file at all: the check before training names them
    assert "udpos/test-en.tsv not found" in " ".join(output.split()) and "Traceback" not in output


def test_list_and_validate(tmp_path: Path) -> None:
    code, output = run("list", "targets")
    assert code == 0 and "tatoeba" in output and "udpos" in output
    code, output = run("list")
    assert code == 0 and "e5-small" in output and "xtreme" in output
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("targets:\n  xnli:\n    defaults: {epochs: 1}\n")
    bad.write_text("targets:\n  xnli:\n    kind: regression\n")
    assert run("validate", str(good))[0] == 0
    code, output = run("validate", str(good), str(bad))
    assert code == 1 and "bad.yaml: targets.xnli.kind" in output
    code, output = run("list", "--registry", str(bad))
    assert code == 2 and "targets.xnli.kind" in output


def test_text_from_registries_paths_and_data_is_printed_as_it_is(
    tiny_model: Path, tmp_path: Path
) -> None:
    """Square brackets are rich markup: ``.[offline]`` must not print as ``.``."""
    registry = tmp_path / "mine.yaml"
    registry.write_text(
        "models:\n  mine:\n    source: local\n    path: /models/[v2]\n"
        "    description: needs pip install -e .[offline], then [/] works\n"
    )
    code, output = run("list", "models", "--registry", str(registry))
    flat = output.replace("\n", "")
    assert code == 0 and ".[offline]" in flat and "[/] works" in flat and "[v2]" in flat
    assert ".[offline]" in run("list", "models")[1].replace("\n", "")  # e5-small's own
    data, out = write_xtreme(tmp_path / "download[b]"), tmp_path / "run[dim]"
    code, output = run("eval", "--model", str(tiny_model), "--targets", "tatoeba", "--data-dir", str(data),
                       "--languages", "de,ja", "--output", str(out))  # fmt: skip
    flat = output.replace("\n", "")
    assert code == 0, output
    assert "download[b]/tatoeba" in flat  # the skipped language's missing file
    assert "run[dim]/results.json" in flat


def test_saved_target_model_loads_back_as_model(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    code, output = run("eval", "--model", str(tiny_model), "--targets", "pawsx", "--data-dir", str(xtreme_dir),
                       "--languages", "en,de", "--epochs", "1", "--save-model", "--output", str(out))  # fmt: skip
    assert code == 0, output
    checkpoint = out / "checkpoints" / "pawsx"
    assert (checkpoint / "config.json").is_file() and (checkpoint / "tokenizer.json").is_file()
    code, output = run("eval", "--model", str(checkpoint), "--targets", "tatoeba", "--languages", "de",
                       "--data-dir", str(xtreme_dir), "--output", str(tmp_path / "again"))  # fmt: skip
    assert code == 0, output
    data = json.loads((tmp_path / "again" / "results.json").read_text())
    assert data["config"]["options"]["model"]["source"] == "local"
    assert data["results"]["tatoeba"]["languages"]["de"]["accuracy"] == 100.0


def test_targets_with_the_same_training_share_one_fine_tuning(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path
) -> None:
    args = ["eval", "--model", str(tiny_model), "--targets", "pawsx", "--data-dir", str(xtreme_dir),
            "--languages", "en,de", "--epochs", "1", "--seed", "7"]  # fmt: skip
    code, first = run(*args, "--output", str(tmp_path / "a"))
    assert code == 0 and "training on" in first
    code, second = run(*args, "--output", str(tmp_path / "b"))
    assert code == 0 and "reusing the model fine-tuned" in second and "training on" not in second
    a, b = (
        json.loads((tmp_path / r / "results.json").read_text())["results"]["pawsx"] for r in "ab"
    )
    assert a["languages"] == b["languages"] and a["training"]["history"] == b["training"]["history"]
    code, third = run(
        *args, "--lr", "1e-3", "--output", str(tmp_path / "c")
    )  # another setting: trains again
    assert code == 0 and "training on" in third
    code, fourth = run(*args, "--no-cache", "--output", str(tmp_path / "d"))
    assert code == 0 and "training on" in fourth


@pytest.mark.parametrize(("target", "languages", "stage"), [("pawsx", "en,de", "TrainedTarget"),
                                                            ("tatoeba", "de,fr", "RetrievalTarget")])  # fmt: skip
def test_an_interrupted_run_redoes_only_unfinished_languages(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    target: str, languages: str, stage: str,
) -> None:  # fmt: skip
    import harness.targets.finetune as finetune
    import harness.targets.retrieval as retrieval

    cls = getattr(finetune if stage == "TrainedTarget" else retrieval, stage)
    method = "_evaluation" if stage == "TrainedTarget" else "_tatoeba"
    original = getattr(cls, method)
    seen: list[str] = []

    def interrupted(self, lang, *args):  # type: ignore[no-untyped-def]
        seen.append(lang)
        if len(seen) == 2:
            raise RuntimeError("killed")  # killed while the second language runs
        return original(self, lang, *args)

    args = ["eval", "--model", str(tiny_model), "--targets", target, "--languages", languages,
            "--data-dir", str(xtreme_dir), "--epochs", "1", "--output", str(tmp_path / "run")]  # fmt: skip
    monkeypatch.setattr(cls, method, interrupted)
    result = CliRunner().invoke(main, args)
    assert isinstance(result.exception, RuntimeError)
    partial = json.loads((tmp_path / "run" / "results.json").read_text())["results"][target]
    first, second = seen
    assert partial["partial"] is True and list(partial["evaluated"]) == [first]
    # the unfinished folder reads as such everywhere, with no traceback
    code, output = run("report", str(tmp_path / "run"))
    assert code == 0 and f"run: {target}" in " ".join(output.split())
    assert "unfinished, its score left out" in " ".join(output.split())
    assert run("report", str(tmp_path / "run"), "--plots")[0] == 0
    code, output = run("report", str(tmp_path / "run"), "--format", "json")
    assert code == 0 and list(json.loads(output)["tasks"][target]["run"]["languages"]) == [first]
    code, output = run("export", str(tmp_path / "run"), "--out", str(tmp_path / "sub"),
                       "--tasks", target)  # fmt: skip
    assert code != 0 and "stopped before finishing it (1 languages done)" in output
    code, output = run("compare", str(tmp_path / "run"), str(tmp_path / "run"))
    assert code == 2 and f"A: {target} unfinished (interrupted" in " ".join(output.split())

    seen.clear()
    monkeypatch.setattr(
        cls, method, lambda self, lang, *a: (seen.append(lang), original(self, lang, *a))[1]
    )
    code, output = run(*args)
    assert code == 0, output
    assert "resuming: 1 languages already done" in output
    assert seen == [second]  # only the unfinished language was computed
    block = json.loads((tmp_path / "run" / "results.json").read_text())["results"][target]
    assert "partial" not in block and set(block["languages"]) == set(languages.split(","))


def test_a_finished_result_is_never_silently_overwritten(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path
) -> None:
    args = ["eval", "--model", str(tiny_model), "--targets", "tatoeba", "--languages", "de",
            "--data-dir", str(xtreme_dir), "--output", str(tmp_path / "run")]  # fmt: skip
    assert run(*args)[0] == 0
    before = (tmp_path / "run" / "results.json").read_bytes()
    code, output = run(*args, "--layer", "1")
    assert (
        code == 2
        and "already holds tatoeba computed with other settings (changed: embedding.layer -1 -> 1)"
        in output
    )
    assert (tmp_path / "run" / "results.json").read_bytes() == before  # not even its config
    code, output = run(*args, "--layer", "1", "--overwrite")
    assert code == 0 and "replacing the result" in output
    block = json.loads((tmp_path / "run" / "results.json").read_text())["results"]["tatoeba"]
    assert block["embedding"]["layer"] == 1


@pytest.mark.parametrize("target", ["tatoeba", "pawsx"])
def test_another_data_folder_is_not_taken_for_the_old_one(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path, target: str
) -> None:
    """The same file names in another folder are other data: the finished result read
    from the first folder is not served as the second's; the same folder spelt another
    way is the same setting."""
    other = tmp_path / "other"
    shutil.copytree(xtreme_dir, other)
    args = ["eval", "--model", str(tiny_model), "--targets", target, "--languages", "de",
            "--epochs", "1", "--output", str(tmp_path / "run")]  # fmt: skip
    assert run(*args, "--data-dir", str(xtreme_dir))[0] == 0
    spelt_otherwise = xtreme_dir.parent / ".." / xtreme_dir.parent.name / xtreme_dir.name
    assert "already finished" in run(*args, "--data-dir", str(spelt_otherwise))[1]
    code, output = run(*args, "--data-dir", str(other))
    assert code == 2
    assert f"already holds {target} computed with other settings (changed: data_dir)" in output


@pytest.mark.parametrize("target", ["tatoeba", "pawsx"])
def test_a_checkpoint_changed_in_place_is_not_taken_for_the_old_one(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path, target: str
) -> None:
    """Same folder, new weights (an intermediate step trained again under other
    settings): the finished result is not reused as if nothing had changed."""
    from transformers import AutoModel

    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(tiny_model, checkpoint)
    args = ["eval", "--model", str(checkpoint), "--targets", target, "--languages", "de",
            "--data-dir", str(xtreme_dir), "--epochs", "1", "--output", str(tmp_path / "run")]  # fmt: skip
    assert run(*args)[0] == 0
    assert "already finished" in run(*args)[1]
    model = AutoModel.from_pretrained(checkpoint)
    with torch.no_grad():
        for weight in model.parameters():
            weight.add_(torch.randn_like(weight) * 0.5)
    model.save_pretrained(checkpoint)
    code, output = run(*args)
    assert (
        code == 2
        and f"already holds {target} computed with other settings (changed: model.identity.files)"
        in output
    )
    code, output = run(*args, "--overwrite")
    assert code == 0 and "replacing the result" in output


def test_the_same_seed_gives_the_same_fine_tuning(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path
) -> None:
    """The new head's random initialisation is seeded too, so a result is reproducible."""
    args = ["eval", "--model", str(tiny_model), "--targets", "pawsx", "--data-dir", str(xtreme_dir),
            "--languages", "en,de", "--epochs", "1", "--no-cache"]  # fmt: skip
    assert run(*args, "--output", str(tmp_path / "a"))[0] == 0
    assert run(*args, "--output", str(tmp_path / "b"))[0] == 0
    a, b = (
        json.loads((tmp_path / r / "results.json").read_text())["results"]["pawsx"] for r in "ab"
    )
    assert a["training"]["history"] == b["training"]["history"]
    assert a["languages"] == b["languages"]
    predictions = [
        (tmp_path / r / "predictions" / "pawsx" / "dev-de.jsonl").read_text() for r in "ab"
    ]
    assert predictions[0] == predictions[1]
