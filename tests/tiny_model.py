"""A tiny random XLM-R-architecture model and SentencePiece tokenizer, built at test time,
and tiny data folders for it (XTREME targets, intermediate tasks).

No hub and no large files: the tokenizer is trained on a few hundred generated
sentences in several scripts, the encoder is 2 layers of width 32.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

WORDS = {
    "en": [
        "the",
        "cat",
        "dog",
        "sat",
        "on",
        "mat",
        "a",
        "house",
        "is",
        "big",
        "small",
        "red",
        "blue",
        "run",
        "walks",
        "talks",
        "quickly",
        "river",
        "city",
        "query:",
        ",",
        ".",
        "?",
    ],
    "de": [
        "der",
        "die",
        "das",
        "Katze",
        "Hund",
        "sitzt",
        "auf",
        "Matte",
        "ein",
        "Haus",
        "ist",
        "groß",
        "klein",
        "rot",
        "blau",
        "läuft",
        "Stadt",
        "Fluss",
    ],
    "fr": [
        "le",
        "la",
        "les",
        "chat",
        "chien",
        "assis",
        "sur",
        "tapis",
        "une",
        "maison",
        "est",
        "grand",
        "petit",
        "rouge",
        "bleu",
        "court",
        "ville",
    ],
    "ru": [
        "кошка",
        "собака",
        "сидит",
        "на",
        "коврике",
        "дом",
        "большой",
        "маленький",
        "красный",
        "синий",
        "город",
        "река",
    ],
    "zh": list("猫狗坐在垫子上房子很大小红蓝色城市河流"),
}


def corpus(n: int = 400, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        lang = list(WORDS)[i % len(WORDS)]
        joiner = "" if lang == "zh" else " "
        lines.append(joiner.join(rng.choice(WORDS[lang]) for _ in range(rng.randint(3, 12))))
    return lines


def build_tiny_model(folder: Path, hidden: int = 32, layers: int = 2) -> Path:
    """Write a loadable HF checkpoint (tokenizer + XLMRobertaModel) into ``folder``."""
    import sentencepiece as spm
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    text = folder / "corpus.txt"
    text.write_text("\n".join(corpus()), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(text),
        model_prefix=str(folder / "spm"),
        vocab_size=200,
        hard_vocab_limit=False,
        model_type="unigram",
        character_coverage=1.0,
        minloglevel=2,
    )
    pieces = spm.SentencePieceProcessor(model_file=str(folder / "spm.model"))
    # XLM-R's id layout: four specials, the SentencePiece pieces, then <mask>
    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [
        (pieces.id_to_piece(i), pieces.get_score(i)) for i in range(3, pieces.get_piece_size())
    ]
    vocab.append(("<mask>", 0.0))
    tokenizer = XLMRobertaTokenizer(vocab=vocab)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    XLMRobertaModel(config).save_pretrained(folder)
    for leftover in ("corpus.txt", "spm.model", "spm.vocab"):
        (folder / leftover).unlink()
    return folder


def _sentence(rng: random.Random, words: list[str] | None = None) -> str:
    words = words or [*WORDS["en"], *WORDS["de"]]
    return " ".join(rng.choice(words) for _ in range(rng.randint(3, 8)))


def write_xtreme(root: Path) -> Path:
    """A small XTREME download/ folder: PAWS-X en/de dev and test, Tatoeba de/fr, BUCC zh."""
    rng = random.Random(0)
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


def write_intermediate(root: Path) -> Path:
    """CommonsenseQA in its original jsonl layout (the answer is the English choice), and
    MLM text files, all tiny."""
    rng = random.Random(0)
    en, de = WORDS["en"], WORDS["de"]
    (root / "commonsenseqa").mkdir(parents=True)
    for name, n in (("train_rand_split", 60), ("dev_rand_split", 20)):
        rows = []
        for i in range(n):
            answer = rng.randrange(5)
            choices = [
                {"label": "ABCDE"[c], "text": _sentence(rng, en if c == answer else de)}
                for c in range(5)
            ]
            rows.append({"id": f"{name}-{i}", "answerKey": "ABCDE"[answer],
                         "question": {"stem": _sentence(rng, en), "choices": choices}})  # fmt: skip
        (root / "commonsenseqa" / f"{name}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows)
        )
    (root / "mlm").mkdir()
    for lang, words in (("en", en), ("de", de)):
        (root / "mlm" / f"{lang}.txt").write_text(
            "\n".join(_sentence(rng, words) for _ in range(80)) + "\n"
        )
    return root
