"""The bad-input sweep of issue #20, run as a user runs the tool: every command in a real subprocess.

Each case gives a command one broken input and checks the error contract at once: exit code 2, exactly one
line on stderr of the form ``error: path:line: field: message`` (or ``error: flag: message``), no traceback,
no bare errno, and every file that existed before the run byte-for-byte unchanged (nothing already written is
lost). Where each numbered item of the issue is tested in depth is listed in ``tests/test_reliability/README.md``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from verifier.io import write_jsonl
from verifier.schema import Candidate, GoldRecord, Provenance, Triple

TEXT = "《雨巷》是戴望舒的代表作"
GOOD_GOLD = GoldRecord(doc_id="d0", text=TEXT, triples=[Triple(head="雨巷", relation="作者", tail="戴望舒")])
GOOD_CAND = Candidate(
    doc_id="d0",
    text=TEXT,
    triple=Triple(head="雨巷", relation="作者", tail="戴望舒"),
    provenance=Provenance(generator="t"),
)


def _line(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _candidate(**change) -> str:
    row = json.loads(GOOD_CAND.model_dump_json())
    for path, value in change.items():
        *parents, last = path.split("__")
        node = row
        for p in parents:
            node = node[p]
        node[last] = value
    return _line(row)


# (name, bad line, the field the error must name); each bad line is the 2nd line of a file whose 1st line is good
BAD_CANDIDATES = [
    ("malformed-json", '{"doc_id": "d1", "text": ', "json"),
    ("blank-text", _candidate(text="   \t"), "text"),
    ("span-past-text", _candidate(triple__head_span=[0, 99]), "head_span"),
    ("unknown-key", _candidate(colour="red"), "colour"),
    ("wrong-type", _candidate(triple__head=7), "triple.head"),
    ("missing-field", _line({"doc_id": "d1", "text": TEXT}), "triple"),
]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "verifier.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=300,
    )


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_contract(r: subprocess.CompletedProcess, where: str, field: str | None = None) -> None:
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr[-2000:]
    assert "Traceback" not in r.stderr and where in lines[0], lines[0]
    assert not lines[0].rstrip().split(": ")[-1].isdigit(), lines[0]  # never a bare errno
    if field is not None:
        assert f": {field}" in lines[0] or f".{field}" in lines[0], lines[0]


def commands(kind: str, bad: Path, good_gold: Path, model: Path, work: Path) -> list[str]:
    out = str(work / "out.jsonl")
    return {
        "filter": [
            "filter",
            str(bad),
            "--model",
            str(model),
            "--gate",
            "paper",
            "--tau1",
            "0.5",
            "--tau2",
            "0.5",
            "--out",
            out,
            "--rejected",
            str(work / "rej.jsonl"),
        ],
        "calibrate": ["calibrate", "--model", str(model), "--val", str(bad), "--gold", str(good_gold), "--decision"],
        "eval-pred": ["eval", "--pred", str(bad), "--gold", str(good_gold), "--out", str(work / "ev")],
        "eval-candidates": [
            "eval",
            "--pred",
            str(work / "good.jsonl"),
            "--gold",
            str(good_gold),
            "--candidates",
            str(bad),
            "--out",
            str(work / "ev"),
        ],
        "train": ["train", "--candidates", str(bad), "--out", str(work / "run"), "--max-steps", "1"],
    }[kind]


@pytest.mark.parametrize("kind", ["filter", "calibrate", "eval-pred", "eval-candidates", "train"])
@pytest.mark.parametrize(("name", "bad_line", "field"), BAD_CANDIDATES, ids=[c[0] for c in BAD_CANDIDATES])
def test_a_bad_candidate_line_is_located_and_loses_nothing(tmp_path, tiny_model, kind, name, bad_line, field):
    work = tmp_path / "work"
    work.mkdir()
    bad = work / "bad.jsonl"
    bad.write_text(GOOD_CAND.model_dump_json() + "\n" + bad_line + "\n", encoding="utf-8")
    write_jsonl(work / "good.jsonl", [GOOD_CAND])
    gold = work / "gold.jsonl"
    write_jsonl(gold, [GOOD_GOLD])
    for earlier in ("out.jsonl", "rej.jsonl"):  # a previous run's outputs: must survive a failed run
        (work / earlier).write_text("previous run\n", encoding="utf-8")
    before = snapshot(tmp_path)
    r = run(*commands(kind, bad, gold, tiny_model, work), cwd=tmp_path)
    assert_contract(r, "bad.jsonl:2:", field)
    assert snapshot(tmp_path) == before  # nothing written, nothing lost


@pytest.mark.parametrize("kind", ["filter", "calibrate", "eval-pred", "train"])
def test_non_utf8_and_empty_inputs_are_located(tmp_path, tiny_model, kind):
    gold = tmp_path / "gold.jsonl"
    write_jsonl(gold, [GOOD_GOLD])
    write_jsonl(tmp_path / "good.jsonl", [GOOD_CAND])
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(GOOD_CAND.model_dump_json().encode() + b"\n" + "《雨巷》".encode("gb18030") + b"\n")
    r = run(*commands(kind, bad, gold, tiny_model, tmp_path), cwd=tmp_path)
    assert_contract(r, "bad.jsonl:2:", "encoding")
    bad.write_bytes(b"")
    r = run(*commands(kind, bad, gold, tiny_model, tmp_path), cwd=tmp_path)
    if kind == "eval-pred":  # an empty kept file is a real outcome (the filter rejected everything): P = R = 0
        assert r.returncode == 0, r.stderr
    else:
        assert_contract(r, "bad.jsonl")


@pytest.mark.parametrize("kind", ["filter", "calibrate", "eval-pred", "train"])
def test_a_missing_input_names_its_path(tmp_path, tiny_model, kind):
    gold = tmp_path / "gold.jsonl"
    write_jsonl(gold, [GOOD_GOLD])
    r = run(*commands(kind, tmp_path / "absent.jsonl", gold, tiny_model, tmp_path), cwd=tmp_path)
    assert_contract(r, "absent.jsonl")


def test_a_bad_gold_line_for_generate_is_located_before_anything_runs(tmp_path):
    src = tmp_path / "docs.jsonl"
    src.write_text(GOOD_GOLD.model_dump_json() + "\n" + _line({"doc_id": "d1", "text": " "}) + "\n", encoding="utf-8")
    out = tmp_path / "run" / "groups.jsonl"
    r = run(
        "generate", "--generator", "perturb.v1", "--data", "duie", "--input", str(src), "--out", str(out), cwd=tmp_path
    )
    assert_contract(r, "docs.jsonl:2:", "text")
    assert not out.exists()


def test_verbose_shows_the_traceback_of_a_user_error(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"doc_id": 3}\n', encoding="utf-8")
    args = ("eval", "--pred", str(bad), "--gold", str(bad), "--out", str(tmp_path / "ev"))
    quiet, loud = run(*args, cwd=tmp_path), run("-v", *args, cwd=tmp_path)
    assert_contract(quiet, "bad.jsonl:1:")
    assert loud.returncode == 2 and "Traceback" in loud.stderr
    assert loud.stderr.strip().splitlines()[-1] == quiet.stderr.strip()  # the same one line ends it


@pytest.mark.parametrize("kind", ["filter", "calibrate", "eval-pred", "train"])
def test_a_directory_given_as_an_input_file_is_named(tmp_path, tiny_model, kind):
    gold = tmp_path / "gold.jsonl"
    write_jsonl(gold, [GOOD_GOLD])
    folder = tmp_path / "a_folder"
    folder.mkdir()
    r = run(*commands(kind, folder, gold, tiny_model, tmp_path), cwd=tmp_path)
    assert_contract(r, "a_folder", "path")
    assert "directory" in r.stderr


def test_an_output_that_cannot_be_written_is_named_not_its_temp_file(tmp_path, tiny_model):
    good = tmp_path / "good.jsonl"
    write_jsonl(good, [GOOD_CAND])
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder\n", encoding="utf-8")
    for out in (blocker / "out.jsonl", tmp_path):  # a file where a folder should be; a folder as the output
        base = ["filter", str(good), "--model", str(tiny_model), "--gate", "paper", "--tau1", "0.5", "--tau2", "0.5"]
        r = run(*base, "--out", str(out), cwd=tmp_path)
        assert_contract(r, str(out), "path")
        assert ".tmp" not in r.stderr


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["filter", "x.jsonl", "--model", "m", "--tau1", "abc"], "--tau1"),
        (["eval", "--pred", "p", "--gold", "g", "--label-mode", "fuzzy"], "--label-mode"),
        (["no-such-command"], "COMMAND"),
        (["zsre", "eval", "--hubness", "bogus"], "--hubness"),
    ],
)
def test_a_flag_argparse_rejects_is_one_line_too(tmp_path, args, where):
    r = run(*args, cwd=tmp_path)
    assert_contract(r, where)
    assert "usage:" not in r.stderr and "--help" in r.stderr


def test_flags_that_fail_late_are_still_user_errors(tmp_path, tiny_encoder):
    from tests.test_verifier.test_train import separable_groups

    good, gold = tmp_path / "good.jsonl", tmp_path / "gold.jsonl"
    write_jsonl(good, [GOOD_CAND])
    write_jsonl(gold, [GOOD_GOLD])
    r = run("calibrate", "--model", "m", "--val", str(good), "--gold", str(gold), "--objective", "precision@recall=1.5",
            cwd=tmp_path)  # fmt: skip
    assert_contract(r, "--objective")  # checked before any file is read
    r = run(
        "zsre", "eval", "--model", "desc", "--data", "sample", "--m", "500", "--out", str(tmp_path / "z"), cwd=tmp_path
    )
    assert_contract(r, "--m")
    groups = separable_groups(tmp_path / "groups.jsonl", n=8)
    base = ["train", "--candidates", str(groups), "--max-steps", "1", "--no-progress"]
    r = run(*base, "--encoder", str(tmp_path / "no_such_encoder"), "--out", str(tmp_path / "r1"), cwd=tmp_path)
    assert_contract(r, "--encoder")
    r = run(*base, "--encoder", str(tiny_encoder), "--fusion-layers", "9", "--out", str(tmp_path / "r2"), cwd=tmp_path)
    r.stderr = "\n".join(x for x in r.stderr.splitlines() if not x.startswith("Loading weights"))  # its load bar
    assert_contract(r, "--fusion-layers")


def test_a_refused_key_ends_the_run_with_its_own_error_line_and_stores_no_key(tmp_path):
    from tests.scripted_server import Reply, ScriptedServer

    secret = "sk-live-sweep-0123"
    docs = tmp_path / "docs.jsonl"
    write_jsonl(docs, [GOOD_GOLD])
    echo = json.dumps({"error": {"message": f"Incorrect API key provided: {secret}"}})
    with ScriptedServer([Reply(status=401, raw_body=echo)] * 5) as srv:
        r = subprocess.run(
            [sys.executable, "-m", "verifier.cli", "generate", "--llm", "openai-compatible", "--base-url", srv.url,
             "--model", "m", "--api-key-env", "MY_KEY", "--prompt", "extract", "--data", "duie", "--input", str(docs),
             "--out", str(tmp_path / "run" / "c.jsonl"), "--cache", str(tmp_path / "run" / "cache.sqlite")],
            capture_output=True, text=True, timeout=300, env={**os.environ, "MY_KEY": secret},
        )  # fmt: skip
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2 and last.startswith("error: ") and "401" in last  # not glued to the progress bar
    assert secret not in r.stdout + r.stderr and "Traceback" not in r.stderr
    assert all(secret.encode() not in p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file())
