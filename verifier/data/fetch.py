"""``verifier data fetch duie|fewrel``: download the official files and verify their checksums.

Checksums are those recorded in ../shared/data/README.md: git blob ids (``sha1("blob <n>\\0" + bytes)``,
verified against the source repositories) for every file, plus the FewRel MD5s recorded by third-party
loaders. The DuIE archive's sha256 is recorded there as unverified, so a mismatch on the archive only
warns; the extracted files must still match their git blob ids. Files are written to a temp name and
renamed only after verification.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from verifier.config import ConfigError

log = logging.getLogger(__name__)


class RemoteFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    dest: str
    """Path under the data directory."""
    git_blob: str | None = None
    md5: str | None = None


class RemoteArchive(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    sha256: str | None = None
    sha256_verified_upstream: bool = False
    members: dict[str, RemoteFile]
    """Archive member basename -> where it goes and its checksum (``url`` unused)."""


FEWREL_BASE = "https://github.com/thunlp/FewRel/raw/master/data/"
FETCH: dict[str, list[RemoteFile | RemoteArchive]] = {
    "fewrel": [
        RemoteFile(
            url=FEWREL_BASE + "train_wiki.json",
            dest="fewrel/train_wiki.json",
            git_blob="4fee283724b455bab1fcbf76bfdef02283bb44f5",
            md5="5e663e9c3f1bfbdb2de72696e9504fd7",
        ),
        RemoteFile(
            url=FEWREL_BASE + "val_wiki.json",
            dest="fewrel/val_wiki.json",
            git_blob="fe103ba5f52de1f0c070d66c7a8ba9de20c9f96c",
            md5="3f25573428c0332cb64b367a275ab0c7",
        ),
        RemoteFile(
            url=FEWREL_BASE + "pid2name.json",
            dest="fewrel/pid2name.json",
            git_blob="00b632be58e00b5337c054ac8a46bda1f4c27b0e",
        ),
    ],
    "duie": [
        RemoteArchive(
            url="https://dataset-bj.cdn.bcebos.com/qianyan/DuIE_2_0.zip",
            sha256="df223b18f3bd0fe19a61d18d7d59a22cd3f145c342c58470e93851bb4d1b40ed",
            members={
                "train.json": RemoteFile(
                    url="", dest="duie/duie_train.json", git_blob="8c52cdc4437063a8393ba1c6ee9b27d0fec58782"
                ),
                "dev.json": RemoteFile(
                    url="", dest="duie/duie_dev.json", git_blob="abcea4dacc1d6b572bd137dd8a58be9a9c6f4f0c"
                ),
                "test.json": RemoteFile(
                    url="", dest="duie/duie_test.json", git_blob="24c2ed482602f2a1971216850a4c8993d668ed71"
                ),
            },
        )
    ],
}


class ChecksumMismatch(RuntimeError):
    pass


def git_blob_id(path: str | os.PathLike[str]) -> str:
    """The git object id of a file's content (``git hash-object``)."""
    size = os.path.getsize(path)
    h = hashlib.sha1(f"blob {size}\0".encode())
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def file_digest(path: str | os.PathLike[str], algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def verify_file(path: Path, spec: RemoteFile) -> None:
    if spec.git_blob and (got := git_blob_id(path)) != spec.git_blob:
        raise ChecksumMismatch(f"{spec.dest}: git blob {got} != expected {spec.git_blob}")
    if spec.md5 and (got := file_digest(path, "md5")) != spec.md5:
        raise ChecksumMismatch(f"{spec.dest}: md5 {got} != expected {spec.md5}")


def download(url: str, dest: Path, timeout: float = 60.0) -> Path:
    """Stream ``url`` to ``dest`` with a progress bar."""
    from tqdm import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    req = urllib.request.Request(url, headers={"User-Agent": "llm-triple-verifier"})
    with urllib.request.urlopen(req, timeout=timeout) as resp, open(dest, "wb") as fh:
        total = int(resp.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
            while chunk := resp.read(1 << 16):
                fh.write(chunk)
                bar.update(len(chunk))
    return dest


def _install(tmp: Path, root: Path, spec: RemoteFile) -> Path:
    verify_file(tmp, spec)
    final = root / spec.dest
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, final)
    return final


def fetch(dataset: str, root: str | os.PathLike[str], force: bool = False) -> list[Path]:
    """Download and verify the official files of ``dataset`` into ``root``; returns the installed paths."""
    if dataset not in FETCH:
        raise ConfigError(f"nothing to fetch for {dataset!r}; fetchable: {', '.join(FETCH)}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    done: list[Path] = []
    with tempfile.TemporaryDirectory(dir=root, prefix=".fetch.") as td:
        for item in FETCH[dataset]:
            if isinstance(item, RemoteFile):
                if (root / item.dest).exists() and not force:
                    verify_file(root / item.dest, item)
                    done.append(root / item.dest)
                    continue
                done.append(_install(download(item.url, Path(td) / Path(item.dest).name), root, item))
                continue
            if all((root / m.dest).exists() for m in item.members.values()) and not force:
                for m in item.members.values():
                    verify_file(root / m.dest, m)
                    done.append(root / m.dest)
                continue
            archive = download(item.url, Path(td) / Path(item.url).name)
            if item.sha256 and (got := file_digest(archive, "sha256")) != item.sha256:
                msg = f"{archive.name}: sha256 {got} != recorded {item.sha256}"
                if item.sha256_verified_upstream:
                    raise ChecksumMismatch(msg)
                log.warning("%s (the recorded value is unverified; member blob ids are checked next)", msg)
            with zipfile.ZipFile(archive) as zf:
                by_base = {Path(n).name: n for n in zf.namelist() if not n.endswith("/")}
                for base, member in item.members.items():
                    if base not in by_base:
                        raise ChecksumMismatch(f"{archive.name}: member {base} not in the archive")
                    out = Path(td) / base
                    with zf.open(by_base[base]) as src, open(out, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    done.append(_install(out, root, member))
    return done
