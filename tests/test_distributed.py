"""Several processes: `harness eval` under `accelerate launch` (gloo, CPU) trains like one process.

Two processes with the same global batch reach the same weights (within float
rounding) and the same predictions, and write the run folder, checkpoint and cache
entry once. Dropout is off in the model: each process draws its own masks.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from harness.engine.batching import process_share
from harness.engine.train import Stream, TrainSettings, train_streams
from harness.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_shares_cover_the_global_batch_and_weigh_to_its_mean() -> None:
    batch = [7, 3, 9, 1, 4, 8, 2]
    shares = [process_share(batch, rank, 3) for rank in range(3)]
    assert [i for indices, _ in shares for i in indices] == batch  # contiguous, in order
    # DDP's mean over processes of weight * (mean loss of the share) is the batch mean
    loss = {i: float(i) for i in batch}  # any per-example losses
    ddp = sum(w * sum(loss[i] for i in share) / len(share) for share, w in shares) / 3
    assert ddp == pytest.approx(sum(loss.values()) / len(batch))
    assert process_share(batch, 0, 1) == (batch, 1.0)
    # fewer examples than processes: the empty share runs one example that counts for nothing
    assert process_share([5], 0, 2) == ([5], 0.0)
    assert process_share([5], 1, 2) == ([5], 2.0)


def test_launcher_precision_must_match_the_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    with pytest.raises(ConfigError, match="pass --precision bf16"):
        stream = Stream("s", torch.nn.Linear(1, 1), None, [{}], 0)  # type: ignore[arg-type]
        train_streams([stream], TrainSettings())


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def _harness(processes: int, args: list[str], cache: Path) -> str:
    """`harness ARGS` in fresh processes (this checkout first on the path); its output."""
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "HARNESS_CACHE": str(cache),
        "OMP_NUM_THREADS": "1",
    }
    launcher = []
    if processes > 1:
        env["ACCELERATE_USE_CPU"] = "1"
        launcher = ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
                    str(processes), "--main_process_port", _free_port()]  # fmt: skip
    done = subprocess.run(
        [sys.executable, *launcher, "-m", "harness.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.distributed
def test_two_processes_train_like_one(tiny_model: Path, xtreme_dir: Path, tmp_path: Path) -> None:
    model = tmp_path / "tiny-no-dropout"
    shutil.copytree(tiny_model, model)
    config = json.loads((model / "config.json").read_text())
    config |= {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    (model / "config.json").write_text(json.dumps(config))
    # gradient accumulation too; 40 examples in batches of 6 end each epoch on a short batch
    registry = tmp_path / "accumulate.yaml"
    registry.write_text("targets:\n  pawsx:\n    defaults: {grad_accum: 2}\n")
    runs = {n: tmp_path / f"run-{n}" for n in (1, 2)}
    caches = {n: tmp_path / f"cache-{n}" for n in (1, 2)}
    for n, out in runs.items():
        output = _harness(n, ["eval", "--model", str(model), "--registry", str(registry), "--targets", "pawsx",
                              "--data-dir", str(xtreme_dir), "--train-split", "dev", "--eval-split", "dev",
                              "--train-limit", "40", "--limit", "20", "--epochs", "2", "--batch-size", "6",
                              "--save-model", "--output", str(out)], caches[n])  # fmt: skip
        assert output.count("results:") == 1  # only the main process prints

    one, two = runs[1], runs[2]
    assert sorted(p.name for p in two.iterdir()) == [
        "checkpoints",
        "log.txt",
        "predictions",
        "results.json",
    ]
    assert [p.name for p in (two / "checkpoints").iterdir()] == ["pawsx"]
    assert len(list((caches[2] / "finetuned").iterdir())) == 1  # one entry, no leftovers
    assert (two / "log.txt").read_text().count("training on 40 English examples") == 1
    a = load_file(one / "checkpoints" / "pawsx" / "model.safetensors")
    b = load_file(two / "checkpoints" / "pawsx" / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-5), name
    for path in (one / "predictions" / "pawsx").iterdir():
        assert path.read_text() == (two / "predictions" / "pawsx" / path.name).read_text()
    results = [
        json.loads((out / "results.json").read_text())["results"]["pawsx"] for out in (one, two)
    ]
    assert results[0]["languages"] == results[1]["languages"]
    assert results[0]["training"]["history"] == results[1]["training"]["history"]
    assert results[1]["training"]["settings"]["grad_accum"] == 2
    # with dropout (not here) N processes train another model: each result says how many
    assert [r["settings"]["processes"] for r in results] == [1, 2]


@pytest.mark.distributed
def test_bf16_and_a_batch_that_does_not_divide(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path
) -> None:
    args = ["eval", "--model", str(tiny_model), "--targets", "pawsx", "--data-dir", str(xtreme_dir),
            "--train-split", "dev", "--eval-split", "dev", "--languages", "de", "--train-limit", "20",
            "--limit", "10", "--epochs", "1", "--no-cache"]  # fmt: skip
    out = tmp_path / "bf16"
    _harness(2, [*args, "--batch-size", "4", "--precision", "bf16", "--output", str(out)], tmp_path)
    block = json.loads((out / "results.json").read_text())["results"]["pawsx"]
    assert block["settings"]["precision"] == "bf16" and block["languages"]["de"]["examples"] == 10
    with pytest.raises(AssertionError, match="batch size 5 is the global batch"):
        _harness(2, [*args, "--batch-size", "5", "--output", str(tmp_path / "odd")], tmp_path)


@pytest.mark.distributed
def test_two_processes_share_retrieval_encoding(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path
) -> None:
    """Each process encodes every other batch; the gathered vectors give the same results,
    and only the main process writes them to the cache."""
    registry = tmp_path / "small-batches.yaml"  # 30 sentences a language: 8 batches
    registry.write_text("targets:\n  tatoeba:\n    defaults: {eval_batch_size: 4}\n")
    predictions = {}
    for n in (1, 2):
        out, cache = tmp_path / f"run-{n}", tmp_path / f"cache-{n}"
        _harness(n, ["eval", "--model", str(tiny_model), "--targets", "tatoeba", "--data-dir", str(xtreme_dir),
                     "--registry", str(registry), "--output", str(out)], cache)  # fmt: skip
        predictions[n] = {
            p.name: p.read_text() for p in (out / "predictions" / "tatoeba").iterdir()
        }
        assert len(list((cache / "embeddings").iterdir())) == 2  # one entry per language
    assert predictions[1] == predictions[2]
