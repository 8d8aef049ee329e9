"""Canonicalisation: synonyms and inverses onto the schema, entities onto the text's own mentions."""

from verifier.lexicon import lexicon_for
from verifier.repair import RelationIndex, canonicalize, text_mention
from verifier.schema import Triple

TEXT = "《邪少兵王》是冰火未央写的网络小说"


def test_relations_map_onto_the_schema_with_inverses_swapped():
    lex = lexicon_for("duie")
    idx = RelationIndex(lex)
    syn = canonicalize(Triple(head="张三", relation="母校", tail="北京大学"), "张三毕业于北京大学", lex, idx)
    assert syn.triple.relation == "毕业院校" and syn.changes == ["relation:synonym"]
    inv = canonicalize(Triple(head="冰火未央", relation="作品", tail="邪少兵王"), TEXT, lex, idx)
    assert (inv.triple.head, inv.triple.relation, inv.triple.tail) == ("邪少兵王", "作者", "冰火未央")
    assert inv.changes == ["relation:inverse"]
    same = canonicalize(Triple(head="邪少兵王", relation="作者", tail="冰火未央"), TEXT, lex, idx)
    assert same.changes == [] and same.triple.relation == "作者"
    unknown = canonicalize(Triple(head="邪少兵王", relation="写手", tail="冰火未央"), TEXT, lex, idx)
    assert unknown.changes == [] and unknown.triple.relation == "写手"  # not in the lexicon: left for the verifier


def test_entities_take_the_texts_spelling():
    assert text_mention("邪少兵王", TEXT) is None  # already verbatim
    assert text_mention("《网络小说》", TEXT) == "网络小说"  # marks trimmed
    assert text_mention("冰火 未央", TEXT) == "冰火未央"  # spacing
    assert text_mention("ＡＢＣ", "公司ABC成立") == "ABC"  # full width
    assert text_mention("不存在", TEXT) is None
    r = canonicalize(Triple(head="《网络小说》", relation="作者", tail="冰火 未央"), TEXT, lexicon_for("duie"))
    assert (r.triple.head, r.triple.tail) == ("网络小说", "冰火未央") and r.changes == ["head:mention", "tail:mention"]
