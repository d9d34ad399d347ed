"""A tiny random XLM-R-architecture model and SentencePiece tokenizer, built at test time.

No hub and no large files: the tokenizer is trained on a few hundred generated
sentences in several scripts, the encoder is 2 layers of width 32.
"""

from __future__ import annotations

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
