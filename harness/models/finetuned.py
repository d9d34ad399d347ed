"""A content-keyed cache of fine-tuned target models.

Targets that train on the same data with the same settings (XQuAD and MLQA both on
SQuAD; offline, all three QA targets on TyDiQA-GoldP English) fine-tune once. The key
covers everything training depends on (model identity, data fingerprints, settings,
seed), so a changed input never meets a stale model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from harness.atomic import scratch_folder
from harness.results import config_hash


class FinetuneCache:
    """Folders ``ROOT/finetuned/KEY`` holding a saved model and its training outcome."""

    def __init__(self, root: Path | None):
        self.root = root / "finetuned" if root is not None else None

    def key(self, parts: dict[str, Any]) -> str:
        return config_hash(parts)

    def get(self, key: str) -> tuple[Path, dict[str, Any]] | None:
        if self.root is None:
            return None
        folder = self.root / key
        outcome = _outcome(folder)
        return None if outcome is None else (folder, outcome)

    def put(self, key: str, model: Any, tokenizer: Any, outcome: dict[str, Any]) -> None:
        """Save atomically: a half-written folder is never taken for a finished one."""
        if self.root is None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        scratch = scratch_folder(self.root, prefix=f".{key}-")
        try:
            model.save_pretrained(scratch)
            tokenizer.save_pretrained(scratch)
            (scratch / "outcome.json").write_text(json.dumps(outcome), encoding="utf-8")
            target = self.root / key
            if target.is_dir() and _outcome(target) is None:  # damaged: replace it
                shutil.rmtree(target, ignore_errors=True)
            try:
                scratch.rename(target)
            except OSError:  # another process saved the same model first
                if not target.is_dir():
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _outcome(folder: Path) -> dict[str, Any] | None:
    """An entry's training outcome; None where there is no entry, or one damaged outside
    harness (its writes are atomic), which then counts as a miss and is trained again."""
    try:
        outcome = json.loads((folder / "outcome.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return outcome if isinstance(outcome, dict) else None
