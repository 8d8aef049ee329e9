"""Late-fusion CACRE: the joint layers equal the encoder's own forward, token identity survives, the loss trains
(a tiny overfit test), scores compare across texts, save/load round-trips."""

import numpy as np
import pytest
import torch

from tests.test_verifier.test_model import group
from verifier.losses import local_similarity
from verifier.model.encoder import TextEncoder
from verifier.model.fusion import FusionConfig, LateFusionVerifier
from verifier.model.inputs import MARK_BOTH, MARK_HEAD, MARK_NONE, MARK_TAIL, Pairs, mention_marks
from verifier.model.registry import load_verifier
from verifier.schema import Triple


def tiny(tiny_encoder, **kw) -> LateFusionVerifier:
    torch.manual_seed(0)
    return LateFusionVerifier(
        FusionConfig(encoder=str(tiny_encoder), projection_dim=24, dropout=0.0, **kw),
        TextEncoder.from_name(str(tiny_encoder)),
    )


def test_lower_plus_upper_layers_equal_the_encoders_forward(tiny_encoder):
    m = tiny(tiny_encoder, fusion_layers=1).eval()
    s = ["红楼梦是曹雪芹写的", "秦始皇的母亲是赵姬。很长的一句话"]
    e, mk = m.lower_states(s, 32)  # (2, L, H) after the frozen bottom layer
    h = m.encoder.upper_states(e, mk)
    ref = m.encoder.model(**m.encoder.tokenize(s, 32)).last_hidden_state
    assert torch.allclose(h[mk], ref[mk], atol=2e-2)  # the cache stores bf16 (3 significant digits)
    assert m.encoder.cached_sequences == 2
    m.lower_states(s[:1], 32)
    assert m.encoder.cached_sequences == 2  # cached per sequence


def test_only_the_fusion_layers_train(tiny_encoder):
    m = tiny(tiny_encoder, fusion_layers=1)
    trainable = {
        n.split("layer.")[1].split(".")[0]
        for n, p in m.encoder.model.named_parameters()
        if p.requires_grad and "layer." in n
    }
    assert trainable == {"1"}  # 2-layer encoder: the top one
    assert not any(p.requires_grad for p in m.encoder.model.embeddings.parameters())
    full = tiny(tiny_encoder)  # fusion_layers None: every layer joint (a full cross-encoder)
    assert full.n_lower == 0


def test_fused_states_keep_token_identity(tiny_encoder):
    """The failure of Eq. 4 read literally: all triple rows collapse to one mixture. Here they stay apart."""
    m = tiny(tiny_encoder).eval()
    fp = m.encode_pairs(["红楼梦是曹雪芹写的"], ["红楼梦 / 作者 / 曹雪芹"])
    x = torch.nn.functional.normalize(fp.h_r[0][fp.m_r[0]], dim=-1)  # (Lr, H)
    cos = x @ x.T
    off = cos[~torch.eye(len(x), dtype=torch.bool)]
    assert off.mean() < 0.9


def test_align_local_mode_matches_each_triple_token_to_its_best_text_token():
    xa = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])  # text (1, 3, 2)
    xb = torch.tensor([[[0.0, 2.0], [3.0, 0.0]]])  # triple (1, 2, 2): each token has an exact match
    ma, mb = torch.ones(1, 3, dtype=torch.bool), torch.ones(1, 2, dtype=torch.bool)
    assert torch.allclose(local_similarity(xa, ma, xb, mb, 1.0, "align"), torch.tensor([1.0]))
    ma[0, 1] = False  # without the text's (0, 1) token the first triple token's best is (1, 1): cos = 0.7071
    assert torch.allclose(local_similarity(xa, ma, xb, mb, 1.0, "align"), torch.tensor([(0.70710678 + 1) / 2]))


@pytest.mark.parametrize("pointwise_on", ["pooled", "similarity"])
def test_tiny_overfit_separates_right_from_wrong_and_scores_compare_across_texts(tiny_encoder, pointwise_on):
    torch.manual_seed(0)
    m = tiny(tiny_encoder, fusion_layers=2, score="pointwise", pointwise_on=pointwise_on)
    g2 = group(1).model_copy(
        update={
            "text": "秦始皇的母亲是赵姬。",
            "anchor": Triple(head="秦始皇", relation="母亲", tail="赵姬"),
            "positive": Triple(head="秦始皇", relation="妈妈", tail="赵姬"),
        }
    )
    groups = [group(0), g2]
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=3e-3)
    first = None
    for _ in range(60):
        loss, info = m.group_loss(groups)
        assert np.isfinite(loss.item()) and {"loss_bce", "loss_text", "loss_anchor"} <= info.keys()
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first / 2
    m.eval()
    sc = m.group_scores(groups)
    pooled_pos = sc.text_gold + sc.text_pos
    assert min(pooled_pos) > max(sc.text_neg)  # one threshold separates both texts' candidates
    assert all(0 <= s <= 1 for s in pooled_pos + sc.text_neg)  # pointwise probabilities
    assert not np.isnan(sc.anchor_neg).any()
    if pointwise_on == "similarity":  # the BCE's probability is a monotone map of the fused cosine
        m.config.score = "similarity"
        cos = m.group_scores(groups)
        assert np.argsort(cos.text_neg).tolist() == np.argsort(sc.text_neg).tolist()
        assert min(cos.text_gold + cos.text_pos) > max(cos.text_neg)


def test_similarity_score_and_save_load_round_trip(tiny_encoder, tmp_path):
    m = tiny(tiny_encoder, fusion_layers=1, score="similarity").eval()
    g = group(0)
    pairs = Pairs(
        texts=[g.text, g.text], triples=[g.anchor, g.negatives[0]], langs=["zh", "zh"], views=[g.positive, None]
    )
    s_st, s_tt, _ = m.score_pairs(pairs)
    assert np.all(np.abs(s_st) <= 1.0 + 1e-5) and not np.isnan(s_tt[0]) and np.isnan(s_tt[1])
    m.save_pretrained(tmp_path / "m")
    back = load_verifier(tmp_path / "m")
    assert isinstance(back, LateFusionVerifier) and back.n_lower == 1
    s2, _, _ = back.score_pairs(pairs)
    np.testing.assert_allclose(s_st, s2, atol=1e-4)


def test_a_longer_scoring_window_reads_past_the_training_window(tiny_encoder):
    long_text = "很长的一句话，" * 12 + "红楼梦是曹雪芹写的"  # the mentions lie beyond 16 tokens
    pairs = Pairs(texts=[long_text], triples=[Triple(head="红楼梦", relation="作者", tail="曹雪芹")], langs=["zh"])
    short = tiny(tiny_encoder, fusion_layers=1, max_text_length=16).eval()
    longer = tiny(tiny_encoder, fusion_layers=1, max_text_length=16, score_text_length=128).eval()
    assert longer.config.text_window(training=True) == 16 and longer.config.text_window(training=False) == 128
    assert short.config.text_window(training=False) == 16
    fp = longer.encode_pairs(pairs.texts, ["红楼梦 / 作者 / 曹雪芹"])
    assert int(fp.m_t.sum()) > 16  # the scoring window holds the whole sentence
    assert short.score_pairs(pairs)[0][0] != pytest.approx(longer.score_pairs(pairs)[0][0], abs=1e-6)


def test_mention_marks_follow_the_tokenizers_offsets(tiny_encoder):
    m = tiny(tiny_encoder, fusion_layers=1, entity_markers=True, text_prefix="passage: ")
    text = "passage: 红楼梦是曹雪芹写的"
    offsets = m.encoder.tokenize([text], 32, offsets=True)["offset_mapping"]  # (1, L, 2)
    ids = m.marker_ids([text, text], [("红楼梦", "曹雪芹"), ("曹雪芹", "红楼梦")], offsets, {text: 0})  # (2, L)
    toks = m.encoder.tokenizer.convert_ids_to_tokens(m.encoder.tokenizer(text)["input_ids"])
    marked = {toks[i]: int(ids[0, i]) for i in range(len(toks)) if ids[0, i] > 0}
    assert marked == {**dict.fromkeys("红楼梦", MARK_HEAD), **dict.fromkeys("曹雪芹", MARK_TAIL)}
    assert torch.equal(ids[1][ids[1] > 0], 3 - ids[0][ids[0] > 0])  # the reversed triple swaps head and tail marks
    assert ids[0, 0] == MARK_NONE and ids[0, len(toks) :].eq(0).all()  # [CLS] and padding carry no marker


def test_mention_marks_fold_case_skip_the_prefix_and_mark_every_occurrence():
    text = "passage: Paris is in France; paris again"
    offsets = [(0, 0), (9, 14), (15, 17), (18, 20), (21, 27), (27, 28), (29, 34), (35, 40), (0, 0)]
    assert mention_marks(text, offsets, "paris", "France", start=9) == [0, 1, 0, 0, 2, 0, 1, 0, 0]
    assert mention_marks(text, offsets, "passage", "", start=9) == [0] * 9  # the prefix is never a mention
    assert mention_marks(text, offsets, "France", "France")[4] == MARK_BOTH


def test_untrained_markers_change_nothing_and_trained_ones_tell_direction(tiny_encoder, tmp_path):
    g = group(0)
    swap = Triple(head=g.anchor.tail, relation=g.anchor.relation, tail=g.anchor.head)
    pairs = Pairs(texts=[g.text, g.text], triples=[g.anchor, swap], langs=["zh", "zh"])
    plain = tiny(tiny_encoder, fusion_layers=1).eval()
    marked = tiny(tiny_encoder, fusion_layers=1, entity_markers=True).eval()
    np.testing.assert_allclose(plain.score_pairs(pairs)[0], marked.score_pairs(pairs)[0], atol=1e-5)
    with torch.no_grad():
        marked.markers.weight.normal_(0, 0.1)  # as training would move them
    moved = marked.score_pairs(pairs)[0]
    assert not np.allclose(moved, plain.score_pairs(pairs)[0], atol=1e-4)
    marked.save_pretrained(tmp_path / "m")
    back = load_verifier(tmp_path / "m")
    assert back.markers is not None and back.config.entity_markers
    np.testing.assert_allclose(moved, back.score_pairs(pairs)[0], atol=1e-4)


def test_markers_train_a_swap_only_task_the_plain_model_must_read_from_order(tiny_encoder):
    """Gold against its own head/tail swap: with markers the loss falls and the gold outranks its swap."""
    torch.manual_seed(0)
    m = tiny(tiny_encoder, fusion_layers=1, entity_markers=True)
    g = group(0)
    swap = Triple(head=g.anchor.tail, relation=g.anchor.relation, tail=g.anchor.head)
    gs = [g.model_copy(update={"negatives": [swap], "corruptions": ["head_tail_swap"]})]
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=3e-3)
    first = m.group_loss(gs)[0].item()
    for _ in range(40):
        loss, _ = m.group_loss(gs)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first / 2 and m.markers.weight.abs().sum() > 0
    sc = m.eval().group_scores(gs)
    assert min(sc.text_gold) > max(sc.text_neg)
