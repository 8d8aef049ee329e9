"""JSONL and JSON input/output with precise errors and atomic writes.

Every reader reports bad input as :class:`InputError`, whose message is one line
``path:line: field: message``; the CLI prints it and exits with code 2. Every writer goes through
:func:`atomic_writer` (temp file in the same directory + ``os.replace``), so a run that fails half-way
never leaves a half-written output and never clobbers a previous good one.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class InputError(ValueError):
    """Bad input, located: ``path:line: field: message`` (line is 1-based; 0 when not line-based)."""

    def __init__(self, path: str | os.PathLike[str], line: int, field: str, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = " ".join(str(message).split())
        super().__init__(f"{self.path}:{self.line}: {self.field}: {self.message}")


def open_binary(path: str | os.PathLike[str]) -> IO[bytes]:
    """Open a file for reading bytes, transparently gunzipping ``*.gz``; a missing file is a located error."""
    p = Path(path)
    if not p.exists():
        raise InputError(p, 0, "path", "file not found")
    if p.is_dir():
        raise InputError(p, 0, "path", "is a directory, not a file")
    return gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")


def _decode(raw: bytes, path: str | os.PathLike[str], line: int, first: bool) -> str:
    """UTF-8 (a BOM on the first line allowed); anything else is a located error, not a traceback."""
    try:
        return raw.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError as e:
        where = f"byte {e.start + 1} of the line"
        raise InputError(path, line, "encoding", f"not UTF-8 ({where}); re-save the file as UTF-8") from None


def _field_of(err: ValidationError) -> tuple[str, str]:
    first = err.errors()[0]
    loc = ".".join(str(x) for x in first["loc"]) or "record"
    return loc, first["msg"].removeprefix("Value error, ")  # pydantic's prefix for a validator's ValueError


def iter_json_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, parsed_object)`` for each non-blank line of a JSONL file."""
    with open_binary(path) as fh:
        for lineno, raw_bytes in enumerate(fh, start=1):
            raw = _decode(raw_bytes, path, lineno, lineno == 1)
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as e:
                raise InputError(path, lineno, "json", f"malformed JSON ({e.msg} at column {e.colno})") from None
            yield lineno, obj


def parse_record(model: type[M], obj: Any, path: str | os.PathLike[str], line: int) -> M:
    """Validate one parsed object against ``model``; errors become a located :class:`InputError`."""
    if not isinstance(obj, dict):
        raise InputError(path, line, "record", f"expected a JSON object, got {type(obj).__name__}")
    try:
        return model.model_validate(obj)
    except ValidationError as e:
        field, msg = _field_of(e)
        raise InputError(path, line, field, msg) from None


def read_jsonl(path: str | os.PathLike[str], model: type[M]) -> Iterator[M]:
    """Stream validated records from a JSONL file (``.gz`` allowed); memory is one line at a time."""
    for lineno, obj in iter_json_lines(path):
        yield parse_record(model, obj, path, lineno)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a whole JSON document (``.gz`` allowed) with a located error on malformed input."""
    with open_binary(path) as fh:
        data = fh.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise InputError(path, line, "encoding", "not UTF-8; re-save the file as UTF-8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(path, e.lineno, "json", f"malformed JSON ({e.msg} at column {e.colno})") from None


def dumps(record: BaseModel | dict[str, Any]) -> str:
    """One compact JSONL line (no trailing newline); Chinese stays readable (``ensure_ascii=False``)."""
    if isinstance(record, BaseModel):
        return record.model_dump_json(exclude_none=False)
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Write to a temp file beside ``path`` and rename it over ``path`` only on success.

    On any exception the temp file is removed and an existing ``path`` is left untouched.
    """
    target = Path(path)
    if target.is_dir():
        raise InputError(target, 0, "path", "is a directory; name a file to write")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as e:  # read-only place, no permission, a file where a folder should be
        raise InputError(target, 0, "path", f"cannot write here ({e.strerror or e})") from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; an output gets the mode a plain open() would give
        kwargs: dict[str, Any] = {} if "b" in mode else {"encoding": "utf-8", "newline": "\n"}
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_jsonl(path: str | os.PathLike[str], records: Iterable[BaseModel | dict[str, Any]]) -> int:
    """Atomically write records as JSONL; returns the number written."""
    n = 0
    with atomic_writer(path) as fh:
        for r in records:
            fh.write(dumps(r))
            fh.write("\n")
            n += 1
    return n


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Atomically write a pretty JSON document (configs, summaries, metrics)."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    with atomic_writer(path) as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=2, sort_keys=False)
        fh.write("\n")


class JsonlAppender:
    """Append-and-flush writer for resumable runs: each write reaches the OS before returning, so a
    process killed with SIGKILL loses nothing it has written (``fsync=True`` also survives power loss).

    A crash can at worst leave a final partial line; :func:`repair_tail` drops it on resume.
    """

    def __init__(self, path: str | os.PathLike[str], fsync: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_tail(self.path)
        self.fsync = fsync
        self._fh = open(self.path, "a", encoding="utf-8", newline="\n")

    def write_raw(self, text: str) -> None:
        if text:
            self._fh.write(text)
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())

    def write_many(self, records: Iterable[BaseModel | dict[str, Any]]) -> None:
        """Write a batch of rows (one document's output) with one flush."""
        self.write_raw("".join(dumps(r) + "\n" for r in records))

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def repair_tail(path: str | os.PathLike[str]) -> int:
    """Truncate a trailing partial (newline-less) line left by a crash; returns bytes removed."""
    p = Path(path)
    if not p.exists() or p.stat().st_size == 0:
        return 0
    with open(p, "rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        pos = size
        chunk = 4096
        while pos > 0:
            step = min(chunk, pos)
            fh.seek(pos - step)
            data = fh.read(step)
            idx = data.rfind(b"\n")
            if idx != -1:
                keep = pos - step + idx + 1
                if keep == size:
                    return 0
                fh.truncate(keep)
                return size - keep
            pos -= step
        fh.truncate(0)
        return size


def to_polars(records: Iterable[BaseModel]) -> Any:
    """Flatten records into a polars DataFrame (nested models become struct columns)."""
    import polars as pl

    return pl.DataFrame([r.model_dump(mode="json") for r in records])


def read_candidate_rows(path: str | os.PathLike[str]) -> Iterator[Any]:
    """Candidate rows, each read as a ``ScoredCandidate`` when it carries the verifier's scores (``verifier
    filter``'s output) and as a plain ``Candidate`` otherwise; bad input is a located error."""
    from verifier.schema import Candidate, ScoredCandidate

    for lineno, obj in iter_json_lines(path):
        model = ScoredCandidate if isinstance(obj, dict) and "s_st" in obj else Candidate
        yield parse_record(model, obj, path, lineno)


def read_jsonl_frame(path: str | os.PathLike[str], model: type[M]) -> Any:
    """Read a JSONL file into polars after validating every row against ``model``."""
    return to_polars(read_jsonl(path, model))
