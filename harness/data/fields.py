"""Record -> example mapping shared by the jsonl, csv and hub readers.

``DataSource.fields`` maps an example attribute to where its value sits in a record:

- a column or key name (``premise``);
- a dotted path into nested objects (``question.stem``, ``answers.text``); a key that
  itself contains dots is matched whole first;
- ``[]`` after a step maps the rest of the path over a list
  (``question.choices[].text`` -> the texts of all choices);
- for ``choices`` only, a comma-separated list of columns, one per choice
  (``answer0,answer1,answer2,answer3``);
- ``label_values``: not a path but ``raw=label`` pairs that rewrite raw labels before
  they are checked (ANLI's ``e=entailment,n=neutral,c=contradiction``).

Attributes left out are looked up under their own name (QA answers under
``answers.text`` and ``answers.answer_start``, the SQuAD hub layout). An attribute
named in ``fields`` must be present in every record, except the gold ones (``label``,
``tags``, ``answer_text``, ``answer_start``), which may be missing or empty: that
record has no gold (test files). Integer labels and tags become their ClassLabel names
when the hub dataset declares them (a negative index, like SNLI's -1, means no gold),
else their decimal string.
Multiple-choice labels are choice indices: ``2``, ``"2"`` or a letter (``"C"`` -> 2,
CommonsenseQA's ``answerKey``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from harness.data.examples import Answer, ChoiceExample, PairExample, QAExample, TaggedSentence
from harness.data.textio import unknown_label
from harness.specs import TaskSpec

KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "pair_classification": ("text_a", "text_b", "label", "id", "label_values"),
    "tagging": ("tokens", "tags", "id"),
    "extractive_qa": ("id", "question", "context", "answer_text", "answer_start"),
    "multiple_choice": ("context", "question", "choices", "label", "id", "label_values"),
    "retrieval": ("source", "target"),
}
_REQUIRED = {
    "pair_classification": ("text_a", "text_b"),
    "tagging": ("tokens",),
    "extractive_qa": ("id", "question", "context"),
    "multiple_choice": ("choices",),
    "retrieval": ("source", "target"),
}
_GOLD = frozenset({"label", "tags", "answer_text", "answer_start"})
_DEFAULT_PATHS = {"answer_text": "answers.text", "answer_start": "answers.answer_start"}
_MISSING: Any = object()


class FieldError(ValueError):
    """A record or a ``fields`` mapping that does not fit; the caller adds where."""


def check_fields(kind: str, fields: Mapping[str, str]) -> None:
    """Reject attribute names the task kind does not have (typos would be ignored)."""
    known = KIND_FIELDS[kind]
    for name in fields:
        if name not in known:
            raise FieldError(
                f"fields.{name}: not an attribute of {kind} examples; "
                f"expected one of: {', '.join(known)}"
            )


class _Path:
    """One compiled field path; ``get`` returns ``_MISSING`` when the record lacks it."""

    def __init__(self, text: str, required: bool):
        self.text = text
        self.required = required
        self.parts = tuple(text.split("."))
        self.column = self.parts[0].removesuffix("[]")

    def get(self, record: Mapping[str, Any]) -> Any:
        if self.text in record:
            return record[self.text]
        return _walk(record, self.parts) if len(self.parts) > 1 or "[]" in self.text else _MISSING


def _walk(value: Any, parts: tuple[str, ...]) -> Any:
    for i, part in enumerate(parts):
        each = part.endswith("[]")
        key = part[:-2] if each else part
        if not isinstance(value, Mapping) or key not in value:
            return _MISSING
        value = value[key]
        if each:
            if not isinstance(value, list):
                return _MISSING
            items = [_walk(item, parts[i + 1 :]) for item in value]
            return _MISSING if any(item is _MISSING for item in items) else items
    return value


class RecordMapper:
    """Turns one record (a dict) into the example type of the task's kind; raises
    FieldError naming the field at fault. Retrieval records become (source, target)."""

    def __init__(self, task: TaskSpec, fields: Mapping[str, str]):
        check_fields(task.kind, fields)
        self.task = task
        self.allowed = frozenset(task.labels)
        self.class_names: dict[str, Sequence[str]] = {}  # the hub reader adds ClassLabel names
        self.label_values = _parse_label_values(fields.get("label_values", ""))
        required = _REQUIRED[task.kind]
        self.paths = {
            attr: _Path(
                fields.get(attr, _DEFAULT_PATHS.get(attr, attr)),
                attr in required or (attr in fields and attr not in _GOLD),
            )
            for attr in KIND_FIELDS[task.kind]
            if attr != "label_values"
        }
        spec = fields.get("choices", "choices")
        self.choice_paths = (
            [_Path(p.strip(), True) for p in spec.split(",")] if "," in spec else None
        )
        builders: dict[str, Callable[[Mapping[str, Any]], Any]] = {
            "pair_classification": self._pair,
            "tagging": self._tagged,
            "extractive_qa": self._qa,
            "multiple_choice": self._choice,
            "retrieval": self._bitext_pair,
        }
        self.build = builders[task.kind]

    def column(self, attr: str) -> str:
        """The top-level column an attribute is read from (for its hub feature type)."""
        return self.paths[attr].column

    def __call__(self, record: Mapping[str, Any]) -> Any:
        return self.build(record)

    def _value(self, record: Mapping[str, Any], attr: str, path: _Path | None = None) -> Any:
        """The raw value, None when an optional attribute is missing or empty."""
        path = path or self.paths[attr]
        value = path.get(record)
        if value is _MISSING or (attr in _GOLD and value in ("", None)):
            if path.required:
                keys = ", ".join(map(str, record)) or "none"
                raise FieldError(
                    f"missing field {path.text!r} (for {attr}); the record has: {keys}"
                )
            return None
        return value

    def _text(self, record: Mapping[str, Any], attr: str, path: _Path | None = None) -> str:
        value = self._value(record, attr, path)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise FieldError(
                f"field {(path or self.paths[attr]).text!r} ({attr}): expected text, "
                f"got {type(value).__name__}"
            )
        return value

    def _strings(self, record: Mapping[str, Any], attr: str) -> list[str] | None:
        value = self._value(record, attr)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise FieldError(
                f"field {self.paths[attr].text!r} ({attr}): expected a list of strings"
            )
        return value

    def _name(self, raw: Any, attr: str) -> str | None:
        """A raw label or tag as a string: ClassLabel index -> name (negative: no gold,
        as SNLI's -1), then ``label_values``."""
        if isinstance(raw, int) and not isinstance(raw, bool):
            names = self.class_names.get(attr)
            if names is not None:
                if raw < 0:
                    return None
                if raw >= len(names):
                    raise FieldError(
                        f"{attr} {raw} is outside the dataset's {len(names)} class names"
                    )
                raw = names[raw]
        text = str(raw)
        return self.label_values.get(text, text)

    def _label(self, record: Mapping[str, Any]) -> str | None:
        raw = self._value(record, "label")
        label = None if raw is None else self._name(raw, "label")
        if label is not None and self.allowed and label not in self.allowed:
            raise FieldError(unknown_label(label, self.task.labels))
        return label

    def _pair(self, record: Mapping[str, Any]) -> PairExample:
        return PairExample(
            self._text(record, "text_a"),
            self._text(record, "text_b"),
            self._label(record),
            self._id(record),
        )

    def _tagged(self, record: Mapping[str, Any]) -> TaggedSentence:
        tokens = self._strings(record, "tokens") or []
        raw_tags = self._value(record, "tags")
        tags = None
        if raw_tags is not None:
            if not isinstance(raw_tags, list) or len(raw_tags) != len(tokens):
                raise FieldError(
                    f"field {self.paths['tags'].text!r}: expected one tag per token ({len(tokens)})"
                )
            tags = tuple(self._name(t, "tags") or "" for t in raw_tags)
            bad = [t for t in tags if not t or (self.allowed and t not in self.allowed)]
            if bad:
                raise FieldError(unknown_label(bad[0], self.task.labels))
        return TaggedSentence(tuple(tokens), tags, self._id(record))

    def _qa(self, record: Mapping[str, Any]) -> QAExample:
        texts = _as_list(self._value(record, "answer_text"))
        starts = _as_list(self._value(record, "answer_start"))
        if len(texts) != len(starts):
            raise FieldError(f"{len(texts)} answer texts but {len(starts)} answer starts")
        try:
            answers = tuple(Answer(str(t), int(s)) for t, s in zip(texts, starts, strict=True))
        except (TypeError, ValueError):
            raise FieldError(f"answer starts must be integers, got {starts!r}") from None
        return QAExample(
            self._id(record), self._text(record, "question"), self._text(record, "context"), answers
        )

    def _choice(self, record: Mapping[str, Any]) -> ChoiceExample:
        if self.choice_paths is None:
            choices = self._strings(record, "choices") or []
        else:
            choices = [self._text(record, "choices", p) for p in self.choice_paths]
        n = self.task.num_choices
        if n and len(choices) != n:
            raise FieldError(f"expected {n} choices, got {len(choices)}")
        label = self._label(record)
        if label is not None:
            index = _choice_index(label)
            if index is None or index >= len(choices):
                raise FieldError(
                    f"label {label!r} is not a choice: expected an index 0-"
                    f"{len(choices) - 1} or a letter A-{chr(64 + len(choices))}"
                )
            label = str(index)
        return ChoiceExample(
            self._text(record, "context"),
            self._text(record, "question"),
            tuple(choices),
            label,
            self._id(record),
        )

    def _bitext_pair(self, record: Mapping[str, Any]) -> tuple[str, str]:
        return self._text(record, "source"), self._text(record, "target")

    def _id(self, record: Mapping[str, Any]) -> str:
        value = self._value(record, "id")
        return "" if value is None else str(value)


def _choice_index(label: str) -> int | None:
    """``"2"`` -> 2, ``"C"`` -> 2; None for anything else."""
    if label.isascii() and label.isdigit():
        return int(label)
    if len(label) == 1 and "A" <= label <= "Z":
        return ord(label) - ord("A")
    return None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _parse_label_values(spec: str) -> dict[str, str]:
    """``"e=entailment,n=neutral"`` -> {"e": "entailment", "n": "neutral"}."""
    values: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        raw, eq, label = item.partition("=")
        if not eq or not raw.strip() or not label.strip():
            raise FieldError(
                f"fields.label_values: expected raw=label pairs separated by commas, got {item!r}"
            )
        values[raw.strip()] = label.strip()
    return values
