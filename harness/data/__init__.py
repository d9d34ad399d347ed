"""Data readers: every local format and the hub, behind one resolver.

``read_split(task, split, lang, data_dir)`` returns a SplitData whose examples have
the type of the task's kind (see ``examples``); ``fingerprint(files)`` hashes the
local files it read.
"""

from harness.data.examples import (
    Answer,
    Bitext,
    ChoiceExample,
    Example,
    MiningCorpus,
    PairExample,
    QAExample,
    TaggedSentence,
)
from harness.data.resolve import SplitData, data_dir_setting, fingerprint, read_split

__all__ = [
    "Answer",
    "Bitext",
    "ChoiceExample",
    "Example",
    "MiningCorpus",
    "PairExample",
    "QAExample",
    "SplitData",
    "TaggedSentence",
    "data_dir_setting",
    "fingerprint",
    "read_split",
]
