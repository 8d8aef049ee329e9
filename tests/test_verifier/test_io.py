import gzip
import json
from pathlib import Path

import pytest

from verifier.io import InputError, JsonlAppender, atomic_writer, read_jsonl, repair_tail, write_jsonl
from verifier.schema import GoldRecord, Triple


def gold(i: int) -> GoldRecord:
    return GoldRecord(
        doc_id=f"d{i}", text="秦始皇的母亲是赵姬。", triples=[Triple(head="秦始皇", relation="母亲", tail="赵姬")]
    )


def test_round_trip_plain_and_gz(tmp_path: Path):
    p = tmp_path / "g.jsonl"
    assert write_jsonl(p, [gold(1), gold(2)]) == 2
    assert [r.doc_id for r in read_jsonl(p, GoldRecord)] == ["d1", "d2"]
    gz = tmp_path / "g.jsonl.gz"
    gz.write_bytes(gzip.compress(p.read_bytes()))
    assert len(list(read_jsonl(gz, GoldRecord))) == 2
    assert "秦始皇" in p.read_text(encoding="utf-8")  # not \u-escaped


@pytest.mark.parametrize(
    ("line", "field", "fragment"),
    [
        ('{"doc_id": "d", "text": "x"', "json", "malformed JSON"),
        ('{"doc_id": "d"}', "text", "Field required"),
        (
            '{"doc_id": "d", "text": "x", "triples": [{"head": "a", "relation": "r", "tail": 3}]}',
            "triples.0.tail",
            "valid string",
        ),
        ('{"doc_id": "d", "text": "x", "colour": "red"}', "colour", "Extra inputs"),
        ("[1, 2]", "record", "expected a JSON object"),
    ],
)
def test_bad_line_is_located_by_path_line_and_field(tmp_path: Path, line: str, field: str, fragment: str):
    p = tmp_path / "in.jsonl"
    p.write_text(gold(1).model_dump_json() + "\n\n" + line + "\n", encoding="utf-8")
    with pytest.raises(InputError) as ei:
        list(read_jsonl(p, GoldRecord))
    msg = str(ei.value)
    assert msg.startswith(f"{p}:3: {field}: ")
    assert fragment in msg
    assert "\n" not in msg


def test_missing_file_is_an_input_error(tmp_path: Path):
    with pytest.raises(InputError, match="file not found"):
        list(read_jsonl(tmp_path / "nope.jsonl", GoldRecord))


def test_atomic_writer_keeps_the_old_file_on_failure(tmp_path: Path):
    p = tmp_path / "out.jsonl"
    p.write_text("old\n", encoding="utf-8")

    def boom():
        yield gold(1)
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        write_jsonl(p, boom())
    assert p.read_text(encoding="utf-8") == "old\n"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["out.jsonl"]  # no temp file left


def test_atomic_writer_creates_nothing_when_it_fails_first(tmp_path: Path):
    p = tmp_path / "sub" / "new.json"
    with pytest.raises(ValueError), atomic_writer(p) as fh:
        fh.write("{")
        raise ValueError("bad")
    assert not p.exists()


def test_repair_tail_drops_a_partial_last_line(tmp_path: Path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"a": 1}\n{"a": 2}\n{"a": 3', encoding="utf-8")
    assert repair_tail(p) == len('{"a": 3')
    assert p.read_text(encoding="utf-8") == '{"a": 1}\n{"a": 2}\n'
    assert repair_tail(p) == 0


def test_appender_repairs_then_appends(tmp_path: Path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"a": 1}\n{"a": 2', encoding="utf-8")
    with JsonlAppender(p) as w:
        w.write_many([{"a": 3}])
    assert [json.loads(x)["a"] for x in p.read_text(encoding="utf-8").splitlines()] == [1, 3]


def test_atomic_outputs_follow_the_umask_like_a_plain_open(tmp_path):
    import os

    from verifier.io import write_json

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
        assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        write_json(tmp_path / "b.json", {"x": 1})
        assert (tmp_path / "b.json").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_non_utf8_input_is_a_located_error_and_a_bom_is_fine(tmp_path):
    import gzip

    import pytest

    from verifier.io import InputError, iter_json_lines, read_json

    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(b'{"a": 1}\n{"a": "caf\xe9"}\n')
    with pytest.raises(InputError, match=r"latin1.jsonl:2: encoding: not UTF-8"):
        list(iter_json_lines(bad))
    gz = tmp_path / "x.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"a": 1}\n\xff\n'))
    with pytest.raises(InputError, match=r"x.jsonl.gz:2: encoding"):
        list(iter_json_lines(gz))
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes('\ufeff{"a": "雨巷"}\n'.encode())
    assert list(iter_json_lines(bom)) == [(1, {"a": "雨巷"})]
    js = tmp_path / "c.json"
    js.write_bytes(b'{\n"a":\n"\xe9"}')
    with pytest.raises(InputError, match=r"c.json:3: encoding"):
        read_json(js)
