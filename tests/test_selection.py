"""Which examples a task trains on and which it scores for model selection."""

from __future__ import annotations

from pathlib import Path

from harness.data.selection import training_data
from harness.registry import load_registry


def _select(xtreme_dir: Path, dev_limit: int | None, logged: list[str]) -> tuple[list, list]:
    pawsx = load_registry().target("pawsx")
    data = training_data(
        pawsx, "dev", "dev", ["en"], xtreme_dir, seed=1, train_limit=None,
        dev_limit=dev_limit, holdout=500, log=logged.append,
    )  # fmt: skip
    return data.train, data.dev


def test_the_limit_shrinks_the_held_out_dev_set_but_not_the_training_set(
    xtreme_dir: Path,
) -> None:
    unlimited_log: list[str] = []
    train, dev = _select(xtreme_dir, None, unlimited_log)
    assert len(dev) == 12 and len(train) == 48  # a fifth of the 60 examples held out
    limited_log: list[str] = []
    limited_train, limited_dev = _select(xtreme_dir, 5, limited_log)
    assert limited_dev == dev[:5]
    assert limited_train == train
    assert (
        "12 examples held out for model selection (5 of them scored: the limit)" in limited_log[-1]
    )
    assert "scored" not in unlimited_log[-1]
    assert _select(xtreme_dir, 50, [])[1] == dev  # a limit above the hold-out changes nothing
