import pytest

from generation.llm.structured import (
    ContentError,
    ValidationPolicy,
    parse_payload,
    strip_reasoning,
    validate_cacre,
    validate_extraction,
)

TEXT = "《雨巷》是诗人戴望舒的代表作。"
POLICY = ValidationPolicy(allowed_relations=["作者", "主角"])


def test_fenced_json_and_think_prefix():
    raw = (
        '<think>先想一想 {"x": 1}</think>\n好的：\n```json\n'
        '{"triples": [{"head": "雨巷", "relation": "作者", "tail": "戴望舒"}]}\n```'
    )
    assert strip_reasoning(raw).startswith("好的")
    ((t, flags),) = validate_extraction(parse_payload(raw), TEXT, POLICY)
    assert (t.head, t.relation, t.tail, flags) == ("雨巷", "作者", "戴望舒", [])


def test_list_triples_and_prose_around_json():
    raw = 'Here you go: {"triples": [["雨巷", "作者", "戴望舒"]]} hope it helps'
    assert validate_extraction(parse_payload(raw), TEXT, POLICY)[0][0].tail == "戴望舒"


def test_a_brace_in_prose_before_the_json_costs_no_reask():
    raw = 'I filled the {head} and {tail} slots: {"triples": [{"head": "雨巷", "relation": "作者", "tail": "戴望舒"}]}'
    assert validate_extraction(parse_payload(raw), TEXT, POLICY)[0][0].tail == "戴望舒"
    truncated = 'the {head} slot: {"triples": [{"head": "雨巷", "relation": "作者", "tail": "戴望舒"}, {"head"'
    with pytest.raises(ContentError, match="incomplete"):  # never the complete inner object it contains
        parse_payload(truncated)


def test_paper_line_format():
    raw = "Anchor: (雨巷, 作者, 戴望舒)\nPositive: (戴望舒, 创作, 雨巷)\nNegative: (雨巷, 主角, 戴望舒)"
    out = validate_cacre(parse_payload(raw), TEXT, POLICY)
    assert [len(out[k]) for k in ("anchors", "positives", "negatives")] == [1, 1, 1]
    assert out["positives"][0][0].relation == "创作"  # positives may use synonyms outside the predicate set


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "empty"),
        ("I cannot help with that.", "no JSON object"),
        ('{"triples": [{"head": "雨巷", "relation": "作者", "tail": "戴望舒"}', "incomplete"),
        ('{"triples": [{"head": "雨巷", "relation": "作者" "tail": "戴望舒"}]}', "malformed"),
        ('{"triples": [{"head": "雨巷", "relation": "导演", "tail": "戴望舒"}]}', "not one of the allowed"),
        ('{"triples": [{"head": "", "relation": "作者", "tail": "戴望舒"}]}', "must not be empty"),
        ('{"triples": [{"head": "雨巷", "relation": "作者", "tail": "徐志摩"}]}', "does not occur in the text"),
    ],
)
def test_content_errors_explain_themselves(raw: str, fragment: str):
    with pytest.raises(ContentError, match=fragment):
        validate_extraction(parse_payload(raw), TEXT, POLICY)


def test_keep_with_flag_policy():
    pol = POLICY.model_copy(update={"entities_in_text": "flag"})
    ((_, flags),) = validate_extraction(parse_payload('{"triples": [["雨巷", "作者", "徐志摩"]]}'), TEXT, pol)
    assert flags == ["tail_not_in_text"]


def test_cacre_counts_must_match_and_negatives_may_be_off_text():
    raw = '{"anchors": [["雨巷","作者","戴望舒"]], "positives": [], "negatives": [["雨巷","作者","徐志摩"]]}'
    with pytest.raises(ContentError, match="equally many, got 1, 0, 1"):
        validate_cacre(parse_payload(raw), TEXT, POLICY)
    raw = (
        '{"anchors": [["雨巷","作者","戴望舒"]], "positives": [["戴望舒","创作","雨巷"]], '
        '"negatives": [["雨巷","作者","徐志摩"]]}'
    )
    assert validate_cacre(parse_payload(raw), TEXT, POLICY)["negatives"][0][1] == []


def test_relation_errors_flag_or_drop_per_triple():
    raw = '{"triples": [["雨巷", "作者", "戴望舒"], ["雨巷", "出版社", "戴望舒"]]}'
    flag = POLICY.model_copy(update={"relation_errors": "flag"})
    assert [f for _, f in validate_extraction(parse_payload(raw), TEXT, flag)] == [[], ["relation_not_allowed"]]
    drop = POLICY.model_copy(update={"relation_errors": "drop"})
    assert [t.relation for t, _ in validate_extraction(parse_payload(raw), TEXT, drop)] == ["作者"]


def test_cacre_drop_keeps_groups_aligned():
    raw = (
        '{"anchors": [["雨巷","作者","戴望舒"], ["雨巷","出版社","戴望舒"]], "positives": [["戴望舒","创作","雨巷"], '
        '["a","b","c"]], "negatives": [["雨巷","主角","戴望舒"], ["雨巷","主角","x"]]}'
    )
    out = validate_cacre(
        parse_payload(raw), TEXT, POLICY.model_copy(update={"relation_errors": "drop", "entities_in_text": "drop"})
    )
    assert [len(v) for v in out.values()] == [1, 1, 1] and out["anchors"][0][0].relation == "作者"
