import pytest
from pydantic import ValidationError

from verifier.schema import SCHEMA_VERSION, Candidate, GoldRecord, Provenance, ScoredCandidate, Triple

PROV = Provenance(generator="llm.v1", prompt_id="extract_triples.zh", prompt_version=1, model="m")


def cand(**kw) -> Candidate:
    base = dict(
        doc_id="d1",
        text="秦始皇的母亲是赵姬。",
        triple=Triple(head="秦始皇", relation="母亲", tail="赵姬"),
        provenance=PROV,
    )
    return Candidate(**{**base, **kw})


def test_triple_rejects_blank_and_extra_fields():
    with pytest.raises(ValidationError):
        Triple(head=" ", relation="母亲", tail="赵姬")
    with pytest.raises(ValidationError):
        Triple(head="a", relation="r", tail="b", confidence=0.3)


def test_every_record_carries_schema_version_and_round_trips():
    c = cand(role="anchor", group_id="g1")
    data = c.model_dump(mode="json")
    assert data["schema_version"] == SCHEMA_VERSION
    assert Candidate.model_validate(data) == c


def test_newer_schema_version_is_refused():
    with pytest.raises(ValidationError, match="newer"):
        Candidate.model_validate({**cand().model_dump(mode="json"), "schema_version": SCHEMA_VERSION + 1})


def test_grouped_roles_need_group_and_corruption_only_on_negatives():
    with pytest.raises(ValidationError, match="group_id"):
        cand(role="negative")
    with pytest.raises(ValidationError, match="corruption"):
        cand(role="positive", group_id="g", corruption="head_tail_swap")
    assert cand(role="negative", group_id="g", corruption="head_tail_swap").corruption == "head_tail_swap"


def test_scored_candidate_reason_must_match_decision():
    base = cand().model_dump()
    with pytest.raises(ValidationError):
        ScoredCandidate(**base, s_st=0.9, s_tt=0.9, decision="keep", reason="below_tau1")
    with pytest.raises(ValidationError):
        ScoredCandidate(**base, s_st=0.1, s_tt=0.9, decision="reject")
    ok = ScoredCandidate(**base, s_st=0.1, s_tt=0.9, decision="reject", reason="below_tau1")
    assert ok.reason == "below_tau1"


def test_gold_record_spans_must_fit_the_text():
    t = Triple(head="秦始皇", relation="母亲", tail="赵姬", head_span=(0, 3), tail_span=(7, 99))
    with pytest.raises(ValidationError, match="ends past the text"):
        GoldRecord(doc_id="d", text="秦始皇的母亲是赵姬。", triples=[t])
