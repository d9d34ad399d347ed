"""Shared fixtures: the tiny model (built once per session), tiny data folders and the
real-data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tiny_model import write_intermediate, write_xtreme

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


@pytest.fixture
def intermediate_dir(tmp_path: Path) -> Path:
    return write_intermediate(tmp_path / "intermediate")


@pytest.fixture
def xtreme_dir(tmp_path: Path) -> Path:
    return write_xtreme(tmp_path / "download")
