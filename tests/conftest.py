"""Shared fixtures: the tiny model (built once per session) and the real-data folder."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from tiny_model import WORDS as TINY_WORDS

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def harness_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keep fine-tuned-model and e5-small caches out of the user's cache folder."""
    root = tmp_path_factory.mktemp("harness-cache")
    os.environ["HARNESS_CACHE"] = str(root)
    return root


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA.resolve()


WORDS = [*TINY_WORDS["en"], *TINY_WORDS["de"]]


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8)))


@pytest.fixture
def xtreme_dir(tmp_path: Path) -> Path:
    """A small XTREME download/ folder: PAWS-X en/de dev and test, Tatoeba de/fr, BUCC zh."""
    rng = random.Random(0)
    root = tmp_path / "download"
    (root / "pawsx").mkdir(parents=True)
    for lang in ("en", "de"):
        rows = [(_sentence(rng), _sentence(rng), rng.choice("01")) for _ in range(60)]
        (root / "pawsx" / f"dev-{lang}.tsv").write_text("".join("\t".join(r) + "\n" for r in rows))
        (root / "pawsx" / f"test-{lang}.tsv").write_text(
            "".join(f"{a}\t{b}\n" for a, b, _ in rows[:10])
        )
    (root / "tatoeba").mkdir()
    for code in ("deu", "fra"):
        lines = [_sentence(rng) for _ in range(15)]
        (root / "tatoeba" / f"tatoeba.{code}-eng.{code}").write_text("\n".join(lines) + "\n")
        (root / "tatoeba" / f"tatoeba.{code}-eng.eng").write_text("\n".join(lines) + "\n")
    (root / "bucc2018").mkdir()
    src = [f"zh-{i:09d}\t{_sentence(rng)}" for i in range(30)]
    trg = [f"en-{i:09d}\t{line.split(chr(9))[1]}" for i, line in enumerate(src)]
    (root / "bucc2018" / "zh-en.dev.zh").write_text("\n".join(src) + "\n")
    (root / "bucc2018" / "zh-en.dev.en").write_text("\n".join(trg) + "\n")
    (root / "bucc2018" / "zh-en.dev.gold").write_text(
        "".join(f"zh-{i:09d}\ten-{i:09d}\n" for i in range(30))
    )
    return root
