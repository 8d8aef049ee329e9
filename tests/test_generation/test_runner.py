"""The shared batch runner: contract, failures, resume after a crash (including SIGKILL of the CLI)."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from generation.base import CandidateGenerator, ledger_path, prepare_resume, run_generation
from generation.llm.generator import LLMGenerator
from generation.perturb import EntityPool, PerturbGenerator
from tests.scripted_server import ScriptedServer, copy_extractor
from tests.test_generation.conftest import make_client
from verifier.data.catalog import load_split
from verifier.io import read_jsonl
from verifier.lexicon import lexicon_for
from verifier.schema import Candidate, Document


def check_generator_contract(gen: CandidateGenerator, docs: list[Document]) -> list[Candidate]:
    """Shared by every generator (LLM, perturb, matching): versioned id, valid rows tied to their document."""
    assert isinstance(gen, CandidateGenerator)
    name, version = gen.generator_id.rsplit(".", 1)
    assert name and version.startswith("v")

    async def all_docs():
        return [await gen.generate(doc) for doc in docs]

    rows = []
    for doc, out in zip(docs, asyncio.run(all_docs()), strict=True):
        for r in out:
            assert Candidate.model_validate(r.model_dump()) == r
            assert r.doc_id == doc.doc_id and r.text == doc.text and r.provenance.generator == gen.generator_id
        rows += out
    assert rows and isinstance(gen.stats(), dict)
    return rows


def test_perturb_and_llm_generators_honour_the_contract(tmp_path):
    recs = list(load_split("sample", "zh"))[:5]
    check_generator_contract(PerturbGenerator(lexicon_for("sample", "zh"), EntityPool().add(recs)), recs)
    with ScriptedServer(responder=copy_extractor("作者")) as srv:
        client = make_client(srv.url, tmp_path)
        check_generator_contract(LLMGenerator(client, lexicon_for("sample", "zh"), kind="cacre"), recs)


def test_generators_are_registered_with_versions():
    from generation.base import REGISTRY, register

    assert REGISTRY["llm.v1"] is LLMGenerator and REGISTRY["perturb.v1"] is PerturbGenerator
    import pytest

    with pytest.raises(ValueError, match="carry a version"):
        register("noversion")


class Flaky:
    generator_id = "flaky.v1"

    def __init__(self, bad: set[str]) -> None:
        self.bad = bad

    async def generate(self, doc):
        if doc.doc_id in self.bad:
            raise RuntimeError(f"boom on {doc.doc_id}")
        return (
            []
            if doc.doc_id.endswith("3")
            else [
                Candidate(
                    doc_id=doc.doc_id,
                    text=doc.text,
                    triple={"head": "a", "relation": "r", "tail": "b"},
                    provenance={"generator": self.generator_id},
                )
            ]
        )

    def stats(self):
        return {}


DOCS = [Document(doc_id=f"d{i}", text=f"text {i}") for i in range(10)]


def test_failures_are_rows_and_are_retried_next_run(tmp_path):
    out = tmp_path / "c.jsonl"
    s = asyncio.run(run_generation(Flaky({"d2", "d5"}), DOCS, out, progress=False))
    assert (s.documents_done, s.documents_failed, s.rows_written) == (8, 2, 7)
    fails = [json.loads(x) for x in (tmp_path / "failures.jsonl").read_text().splitlines()]
    assert sorted(f["doc_id"] for f in fails) == ["d2", "d5"] and "boom" in fails[0]["reason"]
    s = asyncio.run(run_generation(Flaky({"d5"}), DOCS, out, progress=False))
    assert (s.documents_skipped_done, s.documents_done, s.documents_failed) == (8, 1, 1)
    assert [json.loads(x)["doc_id"] for x in (tmp_path / "failures.jsonl").read_text().splitlines()] == ["d5"]
    ids = [r.doc_id for r in read_jsonl(out, Candidate)]
    assert len(ids) == len(set(ids)) == 8  # d3 has no rows; nothing duplicated


def test_resume_truncates_rows_of_an_unfinished_document(tmp_path):
    out = tmp_path / "c.jsonl"
    asyncio.run(run_generation(Flaky(set()), DOCS[:4], out, progress=False))
    row = next(x for x in out.read_text().splitlines() if '"d0"' in x).replace('"d0"', '"d9"')
    with open(out, "a") as fh:  # a crash after d9's rows, before its ledger line, mid-way through a row
        fh.write(row + "\n" + row[:20])
    done, truncated = prepare_resume(out)
    assert "d9" not in done and truncated == 1
    assert sorted(json.loads(x)["doc_id"] for x in out.read_text().splitlines()) == ["d0", "d1", "d2"]
    asyncio.run(run_generation(Flaky(set()), DOCS, out, progress=False))
    ids = [json.loads(x)["doc_id"] for x in out.read_text().splitlines()]
    assert sorted(ids) == sorted(f"d{i}" for i in range(10) if i != 3)
    assert ledger_path(out).read_text().count("d9\n") == 1


def test_sigkill_then_resume_loses_and_duplicates_nothing(tmp_path):
    with ScriptedServer(responder=copy_extractor("作者"), latency_s=0.05) as srv:
        base = [
            sys.executable,
            "-m",
            "verifier.cli",
            "-q",
            "generate",
            "--llm",
            "openai-compatible",
            "--base-url",
            srv.url,
            "--model",
            "m",
            "--data",
            "sample",
            "--split",
            "zh",
            "--concurrency",
            "4",
            "--cache",
            str(tmp_path / "cache.sqlite"),
            "--refresh",
        ]
        ref = tmp_path / "ref" / "c.jsonl"
        subprocess.run([*base, "--out", str(ref)], check=True, capture_output=True, timeout=120)
        out = tmp_path / "killed" / "c.jsonl"
        for delay in (0.6, 1.1):
            p = subprocess.Popen([*base, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(delay)
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
        subprocess.run([*base, "--out", str(out)], check=True, capture_output=True, timeout=120)

    def rows(p):
        return sorted(json.dumps(json.loads(x), sort_keys=True) for x in p.read_text().splitlines())

    assert rows(out) == rows(ref) and len(rows(ref)) == 360


def test_max_tokens_cap_flag_bounds_the_escalation_and_fails_the_document(tmp_path):
    """--max-tokens 64 --max-tokens-cap 128: a model that loops costs two requests per document, not a re-ask
    at the cap; the document is a failure row, the others are written."""
    from tests.scripted_server import Reply
    from verifier.cli import main

    good = copy_extractor("作者")

    def responder(req):
        text = req["messages"][-1]["content"]
        return Reply(content="[" * 50, finish_reason="length") if "text 1" in text else good(req)

    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"doc_id": f"d{i}", "text": f"text {i}"}) + "\n" for i in range(3)))
    out = tmp_path / "c.jsonl"
    with ScriptedServer(responder=responder) as srv:
        rc = main(
            ["-q", "generate", "--llm", "openai-compatible", "--base-url", srv.url, "--model", "m", "--prompt",
             "extract", "--input", str(docs), "--max-tokens", "64", "--max-tokens-cap", "128", "--out", str(out),
             "--cache", str(tmp_path / "cache.sqlite"), "--concurrency", "1"]
        )  # fmt: skip
    looped = [r["max_tokens"] for r in srv.requests if "text 1" in r["messages"][-1]["content"]]
    assert rc == 1 and looped == [64, 128]  # exit 1: some documents failed (their rows are retried next run)
    fails = [json.loads(x) for x in (tmp_path / "failures.jsonl").read_text().splitlines()]
    assert [f["doc_id"] for f in fails] == ["d1"] and "cut off at max_tokens=128" in fails[0]["reason"]


def test_resuming_with_other_settings_is_refused_and_the_same_settings_resume(tmp_path):
    from generation.run import GenerateConfig, generate
    from verifier.config import ConfigError

    out = tmp_path / "g.jsonl"
    cfg = GenerateConfig(generator="perturb.v1", data="sample", limit=3, out=str(out))
    first = generate(cfg)
    assert first.documents_done == 3 and (tmp_path / "g.jsonl.run.json").exists()
    again = generate(cfg.model_copy(update={"limit": 4}))  # more documents, same settings: a resume
    assert again.documents_skipped_done == 3 and again.documents_done == 1
    before = out.read_bytes()
    with pytest.raises(ConfigError, match="--seed 13 -> 14"):
        generate(cfg.model_copy(update={"seed": 14}))
    assert out.read_bytes() == before


def test_each_generator_owns_its_negative_defaults_and_old_fingerprints_still_resume(tmp_path):
    """--n-negatives / --paraphrase-negatives left unset keep the generator's own defaults (errors.v1 6 and 0.5,
    declared once in ErrorGroupsConfig); a run recorded before the flags became optional resumes when the values
    in force are the same, and is refused when they are not."""
    from generation.errors import ErrorGroupsConfig
    from generation.perturb import PerturbConfig
    from generation.run import GenerateConfig, check_fingerprint, negative_settings
    from verifier.config import ConfigError

    errors = negative_settings(GenerateConfig(generator="errors.v1"))
    assert isinstance(errors, ErrorGroupsConfig) and (errors.n_negatives, errors.paraphrase_negatives) == (6, 0.5)
    perturb = negative_settings(GenerateConfig(generator="perturb.v1", n_negatives=3))
    assert isinstance(perturb, PerturbConfig) and (perturb.n_negatives, perturb.paraphrase_negatives) == (3, 0.0)
    out = tmp_path / "c.jsonl"
    old = {"generator": "perturb.v1", "data": "sample", "llm": "local", "prompt": "cacre", "n_negatives": 5,
           "paraphrase_negatives": 0.0, "label_mode": "soft", "seed": 13, "temperature": 0.0}  # fmt: skip
    Path(f"{out}.run.json").write_text(json.dumps(old))
    check_fingerprint(GenerateConfig(generator="perturb.v1", data="sample", out=str(out)))  # same values in force
    Path(f"{out}.run.json").write_text(json.dumps({**old, "generator": "errors.v1"}))
    with pytest.raises(ConfigError, match="n-negatives 5 -> 6"):
        check_fingerprint(GenerateConfig(generator="errors.v1", data="sample", out=str(out)))


def test_every_generator_flag_value_has_a_runner():
    import typing

    from generation.run import RUNNERS, GenerateConfig

    assert set(RUNNERS) == set(typing.get_args(GenerateConfig.model_fields["generator"].annotation))


def test_perturb_groups_around_the_filters_kept_rows(tmp_path):
    """--anchors-from: verified hybrid. Kept, grounded, in-schema rows anchor groups; a rejected row, a row whose
    head is not in its text and a row outside the schema do not; a document with nothing kept is not read."""
    from generation.run import GenerateConfig, generate
    from verifier.io import write_jsonl
    from verifier.schema import Provenance, ScoredCandidate

    docs = [d for d in load_split("sample", "zh") if d.triples][:3]
    prov = Provenance(generator="llm.v1")

    def row(doc, t, keep=True):
        return ScoredCandidate(
            doc_id=doc.doc_id, text=doc.text, lang=doc.lang, triple=t, provenance=prov, s_st=0.5,
            decision="keep" if keep else "reject", reason=None if keep else "below_tau1",
        )  # fmt: skip

    a, b, c = docs
    ghost = a.triples[0].model_copy(update={"head": "不在文中的人", "head_span": None, "tail_span": None})
    off_schema = b.triples[0].model_copy(update={"relation": "不是关系"})
    kept = [row(a, a.triples[0]), row(a, ghost), row(b, b.triples[0]), row(b, off_schema), row(c, c.triples[0], False)]
    write_jsonl(tmp_path / "kept.jsonl", kept)
    out = tmp_path / "groups.jsonl"
    summary = generate(
        GenerateConfig(generator="perturb.v1", data="sample", anchors_from=str(tmp_path / "kept.jsonl"), out=str(out))
    )
    rows = list(read_jsonl(out, Candidate))
    anchors = {(r.doc_id, r.triple.key()) for r in rows if r.role == "anchor"}
    assert anchors == {(a.doc_id, a.triples[0].key()), (b.doc_id, b.triples[0].key())}
    assert summary.documents_done == 2 and not any(r.doc_id == c.doc_id for r in rows)  # c: nothing kept
    assert {r.role for r in rows} == {"anchor", "positive", "negative"}
