"""The CLI end to end, in subprocesses like a user runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "verifier.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=300,
    )


def test_help_does_not_import_torch():
    code = (
        "import sys; from verifier.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False False"
    for sub in ("data stats", "models pull", "data export"):
        assert run(*sub.split(), "--help").returncode == 0


@pytest.mark.parametrize("stage", ["generate", "train", "filter", "calibrate", "eval"])
def test_every_stage_is_built_and_rejects_unknown_flags(stage: str):
    assert run(stage, "--help").returncode == 0
    r = run(stage, "--no-such-flag")
    assert r.returncode == 2 and "error" in r.stderr


def test_data_stats_on_the_sample_corpus():
    r = run("data", "stats", "--data", "sample", "--json")
    assert r.returncode == 0, r.stderr
    rows = {x["split"]: x for x in json.loads(r.stdout)}
    assert (rows["zh"]["sentences"], rows["en"]["sentences"]) == (120, 60)


def _duie_dir(tmp_path: Path, lines: list[str]) -> Path:
    d = tmp_path / "data"
    (d / "duie").mkdir(parents=True)
    (d / "duie" / "duie_train.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return d


GOOD = json.dumps(
    {
        "text": "《雨巷》是戴望舒的代表作",
        "spo_list": [
            {
                "predicate": "作者",
                "subject": "雨巷",
                "subject_type": "图书作品",
                "object": {"@value": "戴望舒"},
                "object_type": {"@value": "人物"},
            }
        ],
    },
    ensure_ascii=False,
)


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        ('{"text": "x", "spo_list": [', ":3: json: malformed JSON"),
        ('{"spo_list": []}', ":3: text: expected a non-empty string"),
        ('{"text": "x", "spo_list": {"a": 1}}', ":3: spo_list: expected a list"),
        (
            '{"text": "x", "spo_list": [{"predicate": 5, "subject": "a", "object": {"@value": "b"}}]}',
            ":3: spo_list[0].predicate: expected a non-empty string",
        ),
    ],
)
def test_bad_input_one_line_exit_2_and_no_partial_output(tmp_path: Path, bad: str, where: str):
    d = _duie_dir(tmp_path, [GOOD, GOOD, bad, GOOD])
    out = tmp_path / "gold.jsonl"
    r = run("data", "export", "--data", "duie", "--split", "train", "--data-dir", str(d), "--out", str(out))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "duie_train.json" + where in lines[0]
    assert not out.exists() and list(tmp_path.iterdir()) == [d]


def test_export_writes_gold_records(tmp_path: Path):
    d = _duie_dir(tmp_path, [GOOD, GOOD])
    out = tmp_path / "gold.jsonl"
    r = run("data", "export", "--data", "duie", "--split", "train", "--data-dir", str(d), "--out", str(out))
    assert r.returncode == 0, r.stderr
    recs = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(recs) == 2 and recs[0]["triples"][0]["tail"] == "戴望舒" and recs[0]["schema_version"] == 1


def test_missing_split_is_a_clear_error(tmp_path: Path):
    r = run("data", "stats", "--data", "duie", "--split", "train", "--data-dir", str(tmp_path))
    assert r.returncode == 2 and "verifier data fetch duie" in r.stderr


def test_models_list_runs_without_models():
    r = run("models", "list")
    assert r.returncode == 0 and "e5-small" in r.stdout and "qwen2.5-coder-0.5b" in r.stdout


def test_unknown_names_are_usage_errors_not_tracebacks(tmp_path: Path):
    for args, needle in (
        (("generate", "--generator", "perturb.v1", "--data", "nope", "--out", str(tmp_path / "x.jsonl")), "nope"),
        (("models", "pull", "no-such-model"), "no-such-model"),
    ):
        r = run(*args)
        assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_llm_generation_reads_every_input_line_before_any_server_starts(tmp_path: Path):
    bad = tmp_path / "docs.jsonl"
    bad.write_text('{"doc_id": "a", "text": "x", "triples": []}\n{"doc_id": 3}\n', encoding="utf-8")
    out = tmp_path / "run" / "c.jsonl"
    r = run("generate", "--llm", "local", "--data", "duie", "--input", str(bad), "--out", str(out))
    assert r.returncode == 2 and r.stderr.strip() == f"error: {bad}:2: doc_id: Input should be a valid string"
    assert not (tmp_path / "run").exists()  # no server log, no output: nothing started, nothing spent


def test_a_missing_file_names_the_path_not_the_errno(tmp_path: Path):
    r = run("calibrate", "--model", str(tmp_path / "none"), "--val", str(tmp_path / "none.jsonl"))
    assert r.returncode == 2 and "none.jsonl" in r.stderr and "error: 2" not in r.stderr


def test_help_shows_real_defaults_never_pydantic_internals():
    for stage in ("filter", "train", "generate", "eval", "judge"):
        r = run(stage, "--help")
        assert r.returncode == 0 and "PydanticUndefined" not in r.stdout, stage


def test_constrain_schema_needs_an_endpoint_that_takes_a_schema(tmp_path: Path):
    out = tmp_path / "run" / "c.jsonl"
    r = run("generate", "--llm", "deepseek-v3", "--constrain", "schema", "--data", "sample", "--out", str(out))
    assert r.returncode == 2 and "--constrain schema" in r.stderr and "deepseek-v3" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "run").exists()


def test_list_answers_are_for_the_extraction_prompts_only(tmp_path: Path):
    out = tmp_path / "run" / "c.jsonl"
    r = run(
        "generate",
        "--llm",
        "local",
        "--prompt",
        "cacre",
        "--answer-format",
        "lists",
        "--data",
        "sample",
        "--out",
        str(out),
    )
    assert r.returncode == 2 and "--answer-format lists" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "run").exists()


def test_a_message_only_missing_file_error_prints_the_message(tmp_path: Path):
    import importlib.util

    from verifier.provision.gguf import GGUF_MODELS

    missing = [a for a, s in GGUF_MODELS.items() if importlib.util.find_spec(f"{s.module_prefix}1") is None]
    if not missing:
        pytest.skip("every GGUF's chunk packages are installed here")
    r = run("models", "pull", missing[0], env={"VERIFIER_CACHE": str(tmp_path)})
    assert r.returncode == 2 and r.stderr.startswith(f"error: {missing[0]}: missing chunk packages"), r.stderr
