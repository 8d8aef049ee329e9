"""CACRE modules: shapes, attention weights, ablations, gradients, save/load."""

import pytest
import torch

from verifier.data.groups import Group
from verifier.model.bce import BceConfig, CrossEncoderVerifier
from verifier.model.cacre import CacreConfig, TripleVerifier, attention_evidence
from verifier.model.cross_attention import BidirectionalCrossAttention
from verifier.model.encoder import TextEncoder
from verifier.model.inputs import Pairs, linearize, mask_mentions
from verifier.model.projection import ProjectionNetwork
from verifier.model.registry import load_verifier
from verifier.schema import Triple

T1 = Triple(head="红楼梦", relation="作者", tail="曹雪芹", head_type="图书作品", tail_type="人物")


def group(i: int = 0) -> Group:
    return Group(
        group_id=f"g{i}",
        doc_id=f"d{i}",
        text="《红楼梦》是清代作家曹雪芹创作的长篇小说。",
        lang="zh",
        anchor=T1,
        positive=Triple(head="曹雪芹", relation="作品", tail="红楼梦"),
        negatives=[
            Triple(head="曹雪芹", relation="作者", tail="红楼梦"),
            Triple(head="红楼梦", relation="主角", tail="曹雪芹"),
        ],
        corruptions=["head_tail_swap", "confusable_relation"],
    )


def tiny(tiny_encoder, **kw) -> TripleVerifier:
    torch.manual_seed(0)
    return TripleVerifier(
        CacreConfig(encoder=str(tiny_encoder), projection_dim=24, n_heads=2, **kw),
        TextEncoder.from_name(str(tiny_encoder)),
    )


def test_linearization_and_masking():
    assert linearize(T1) == "红楼梦 / 作者 / 曹雪芹"
    assert linearize(T1, "typed", "zh") == "[图书作品]红楼梦与[人物]曹雪芹的关系是作者"
    en = Triple(head="Cape Bridge", relation="crosses", tail="Ohio River")
    assert linearize(en, "typed", "en") == "the relation of Cape Bridge and Ohio River is crosses"
    assert mask_mentions("曹雪芹写了红楼梦，曹雪芹", ["曹雪芹", "红楼梦"], "[MASK]") == "[MASK]写了[MASK]，[MASK]"


def test_cross_attention_shapes_and_weights():
    ca = BidirectionalCrossAttention(8, 2)
    et, er = torch.randn(3, 7, 8), torch.randn(3, 4, 8)
    mt = torch.ones(3, 7, dtype=torch.bool)
    mr = torch.tensor([[1, 1, 1, 0]] * 3, dtype=torch.bool)
    vt, vr, wt, wr = ca(et, mt, er, mr)
    assert vt.shape == (3, 7, 8) and vr.shape == (3, 4, 8) and wt.shape == (3, 7, 4) and wr.shape == (3, 4, 7)
    assert torch.allclose(wt.sum(-1), torch.ones(3, 7), atol=1e-5) and wt[..., 3].abs().max() < 1e-6  # padding key
    with pytest.raises(ValueError):
        BidirectionalCrossAttention(8, 2, aggregation="same")(et, mt, er, mr)
    same = BidirectionalCrossAttention(8, 2, aggregation="same")(et, mt, torch.randn(3, 7, 8), mt)
    assert same[0].shape == (3, 7, 8)


@pytest.mark.parametrize(("h", "p"), [(8, 8), (8, 12)])
def test_projection_shapes_and_residual(h, p):
    proj = ProjectionNetwork(h, p, dropout=0.0)
    g = torch.randn(2, 5, h)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    out = proj(g, mask)
    assert out.shape == (2, 5, p)
    assert isinstance(proj.residual, torch.nn.Identity) == (h == p)
    g2 = g.clone()
    g2[0, 3:] = 100.0  # padding content must not leak into real positions
    assert torch.allclose(proj(g2, mask)[0, :3], out[0, :3], atol=1e-5)


def test_group_loss_backprop_reaches_encoder_projection_and_lambda(tiny_encoder):
    model = tiny(tiny_encoder).train()
    loss, logs = model.group_loss([group(0), group(1)])
    loss.backward()
    assert set(logs) == {"loss_text", "loss_text_gold", "loss_anchor"} and torch.isfinite(loss)
    enc_grad = next(p.grad for n, p in model.named_parameters() if n.startswith("encoder.") and "layer.0" in n)
    assert enc_grad is not None and enc_grad.abs().sum() > 0
    assert model.proj.conv.weight.grad.abs().sum() > 0 and model.proj.lam.grad is not None
    assert model.cross.text_to_triple.in_proj_weight.grad.abs().sum() > 0


def test_ablations_remove_modules(tiny_encoder):
    no_att = tiny(tiny_encoder, cross_attention=False)
    no_proj = tiny(tiny_encoder, projection=False)
    assert no_att.cross is None and no_att.proj is not None
    assert no_proj.proj is None and no_proj.cross is not None
    for m in (no_att, no_proj):
        loss, _ = m.group_loss([group()])
        assert torch.isfinite(loss)


def test_scores_are_cosines_and_save_load_round_trip(tiny_encoder, tmp_path):
    model = tiny(tiny_encoder).eval()
    g = group()
    pairs = Pairs(
        texts=[g.text] * 3, triples=[g.anchor, *g.negatives], langs=["zh"] * 3, views=[g.positive, None, g.positive]
    )
    s_st, s_tt, pv = model.score_pairs(pairs, with_attention=True)
    assert s_st.shape == (3,) and ((s_st >= -1) & (s_st <= 1)).all()
    assert torch.isnan(torch.tensor(s_tt[1])) and not torch.isnan(torch.tensor(s_tt[0]))
    model.save_pretrained(tmp_path / "m")
    for f in ("config.json", "model.safetensors", "encoder/config.json", "encoder/tokenizer.json"):
        assert (tmp_path / "m" / f).exists()
    again = load_verifier(tmp_path / "m")
    s2, t2, _ = again.score_pairs(pairs)
    assert (s2 == s_st).all() and ((t2 == s_tt) | (torch.isnan(torch.tensor(t2)).numpy())).all()
    enc = model.encoder.tokenizer(g.text, return_offsets_mapping=True)
    span = attention_evidence(pv.w_r[0], pv.m_t[0], pv.m_r[0], [tuple(o) for o in enc["offset_mapping"]])
    assert span is not None and 0 <= span[0] < span[1] <= len(g.text)


def test_group_scores_report_both_views(tiny_encoder):
    model = tiny(tiny_encoder).eval()
    sc = model.group_scores([group(0), group(1)])
    assert len(sc.text_pos) == 2 and len(sc.text_neg) == 4 and len(sc.anchor_neg) == 4
    assert len(sc.text_gold) == len(sc.tt_gold) == 2  # the anchor (schema form) as a candidate
    assert sc.neg_corruptions[:2] == ["head_tail_swap", "confusable_relation"]
    g = group(0)
    s_st, s_tt, _ = model.score_pairs(Pairs(texts=[g.text], triples=[g.anchor], langs=["zh"], views=[g.positive]))
    assert abs(sc.text_gold[0] - s_st[0]) < 1e-5 and abs(sc.tt_gold[0] - s_tt[0]) < 1e-5


def test_text_view_with_the_anchor_as_a_second_positive(tiny_encoder):
    """anchor_and_positive: the text loss averages the positive's InfoNCE term (the paper's, unchanged) and the
    anchor's; positive only: the anchor's text side is never projected and gets no text-view gradient."""
    groups = [group(0), group(1)]
    both = tiny(tiny_encoder).eval()
    paper = tiny(tiny_encoder, text_positives="positive").eval()
    paper.load_state_dict(both.state_dict())
    loss_b, info_b = both.group_loss(groups)
    loss_p, info_p = paper.group_loss(groups)
    assert "loss_text_gold" in info_b and "loss_text_gold" not in info_p
    assert abs(info_b["loss_text"] - info_p["loss_text"]) < 1e-5
    expect = (info_b["loss_text"] + info_b["loss_text_gold"]) / 2 + info_b["loss_anchor"]
    assert (
        abs(loss_b.item() - expect) < 1e-4 and abs(loss_p.item() - info_p["loss_text"] - info_p["loss_anchor"]) < 1e-4
    )


def test_bce_baseline(tiny_encoder, tmp_path):
    torch.manual_seed(0)
    model = CrossEncoderVerifier(BceConfig(encoder=str(tiny_encoder)), TextEncoder.from_name(str(tiny_encoder)))
    loss, _ = model.group_loss([group()])
    loss.backward()
    assert model.classifier.weight.grad.abs().sum() > 0
    model.eval()
    sc = model.group_scores([group()])
    assert len(sc.text_pos) == len(sc.text_gold) == 1 and sc.anchor_pos == []  # no triple-triple view
    model.save_pretrained(tmp_path / "b")
    assert isinstance(load_verifier(tmp_path / "b"), CrossEncoderVerifier)


def test_cross_attention_equals_torch_multihead_attention_with_shared_texts():
    torch.manual_seed(0)
    ca = BidirectionalCrossAttention(8, 2).eval()
    e_t, m_t = torch.randn(2, 6, 8), torch.tensor([[1] * 6, [1, 1, 1, 1, 0, 0]], dtype=torch.bool)
    e_r, m_r = torch.randn(3, 4, 8), torch.tensor([[1, 1, 1, 0], [1] * 4, [1, 1, 0, 0]], dtype=torch.bool)
    t_idx = torch.tensor([0, 1, 1])
    vt, vr, wt, wr = ca(e_t, m_t, e_r, m_r, t_idx)
    et, mt = e_t[t_idx], m_t[t_idx]
    ref_vt, ref_wt = ca.text_to_triple(et, e_r, e_r, key_padding_mask=~m_r, average_attn_weights=False)
    ref_vr, ref_wr = ca.triple_to_text(e_r, et, et, key_padding_mask=~mt, average_attn_weights=False)
    assert torch.allclose(wt, ref_wt.mean(1), atol=1e-6) and torch.allclose(wr, ref_wr.mean(1), atol=1e-6)
    assert torch.allclose(vt, torch.bmm(ref_wt.mean(1), ref_vr), atol=1e-5)  # Eq. 4, cross aggregation
    assert torch.allclose(vr, torch.bmm(ref_wr.mean(1), ref_vt), atol=1e-5)


def test_frozen_state_cache_returns_the_encoder_states_and_encodes_each_sequence_once(tiny_encoder):
    enc = TextEncoder.from_name(str(tiny_encoder))
    with pytest.raises(ValueError, match="fully frozen"):
        enc.enable_state_cache()
    enc.freeze_bottom(2)
    enc.enable_state_cache()
    enc.train()
    assert not enc.model.training  # cached states are dropout-free
    texts = ["北京是中国的首都", "the relation of and", "北京是中国的首都 the relation of and is"]
    b = enc.tokenize(texts, 64)
    with torch.no_grad():
        ref = enc.model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).last_hidden_state
    got = enc(b["input_ids"], b["attention_mask"])  # (3, L, H)
    m = b["attention_mask"].bool()
    assert torch.allclose(got[m], ref[m], atol=1e-5)
    assert got[~m].abs().sum() == 0
    assert (enc.cache_misses, enc.cache_hits) == (3, 0)
    b2 = enc.tokenize(texts[1:2] + texts[:1], 64)  # another batch, other padding width
    got2 = enc(b2["input_ids"], b2["attention_mask"])
    assert (enc.cache_misses, enc.cache_hits) == (3, 2)
    n = int(b2["attention_mask"][1].sum())
    assert torch.allclose(got2[1, :n], ref[0, :n], atol=1e-5)


def test_lower_layer_cache_runs_only_the_upper_layers_and_their_gradients(tiny_encoder):
    enc = TextEncoder.from_name(str(tiny_encoder))
    with pytest.raises(ValueError, match="frozen"):
        enc.enable_lower_cache(1)  # nothing frozen yet
    enc.freeze_bottom(1)
    enc.enable_lower_cache(1)
    enc.eval()
    texts = ["北京是中国的首都", "the relation of and is"]
    b = enc.tokenize(texts, 64, pad_to=24)  # padded past the longest: the states come back at the batch's width
    with torch.no_grad():
        ref = enc.model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).last_hidden_state
    got = enc(b["input_ids"], b["attention_mask"])  # (2, 24, H): lower from the cache, upper computed
    m = b["attention_mask"].bool()
    assert got.shape == ref.shape and torch.allclose(got[m], ref[m], atol=3e-2)  # the cache stores bf16
    assert (enc.cache_misses, enc.cache_hits, enc.cached_sequences) == (2, 0, 2)
    got.sum().backward()
    top, bottom = enc.base.encoder.layer[1], enc.base.encoder.layer[0]
    assert all(p.grad is not None for p in top.parameters() if p.requires_grad)
    assert all(p.grad is None for p in bottom.parameters())
    enc(b["input_ids"][:1], b["attention_mask"][:1])
    assert (enc.cache_misses, enc.cache_hits) == (2, 1)  # each sequence's lower layers ran once


def test_first_token_cache_keeps_one_vector_per_pair_and_matches_the_uncached_bce(tiny_encoder):
    torch.manual_seed(0)
    model = CrossEncoderVerifier(BceConfig(encoder=str(tiny_encoder)), TextEncoder.from_name(str(tiny_encoder)))
    model.eval()
    g = group()
    ref = model.group_scores([g])  # no cache: the plain encoder
    model.encoder.freeze_bottom(99)
    model.encoder.enable_state_cache()
    got = model.group_scores([g])
    assert torch.allclose(torch.tensor(got.text_neg), torch.tensor(ref.text_neg), atol=1e-5)
    assert got.text_gold == pytest.approx(ref.text_gold, abs=1e-5)
    assert model.encoder.cache_misses == 4 and all(v.dim() == 1 for v in model.encoder._cache.values())  # (H,)
    model.group_scores([g])
    assert (model.encoder.cache_misses, model.encoder.cache_hits) == (4, 4)
    b = model.encoder.tokenize([g.text], 64)
    states = model.encoder(b["input_ids"], b["attention_mask"])  # token states of the same ids: their own entry
    assert states.dim() == 3 and model.encoder.cache_misses == 5


def test_prefill_encodes_every_group_sequence_once_and_training_then_only_hits(tiny_encoder):
    model = tiny(tiny_encoder)
    assert model.prefill_states([group()]) == 0  # no cache: nothing to fill
    ref_loss, _ = model.eval().group_loss([group(0), group(1)])
    model.encoder.freeze_bottom(2)
    model.encoder.enable_state_cache()
    # one text (both groups share it) + the distinct linearised triples of the two groups
    n_triples = len({model.linearize(t, "zh") for t in (T1, group().positive, *group().negatives)})
    assert model.prefill_states([group(0), group(1)], batch_size=2) == 1 + n_triples
    assert model.encoder.cache_misses == 1 + n_triples
    loss, _ = model.group_loss([group(0), group(1)])
    assert model.encoder.cache_misses == 1 + n_triples  # every sequence came from the cache
    assert torch.allclose(loss, ref_loss, atol=1e-4)  # same states as without the cache


def test_a_broken_model_folder_is_a_located_error(tiny_encoder, tmp_path):
    import shutil

    import pytest

    from verifier.io import InputError
    from verifier.model.fusion import FusionConfig, LateFusionVerifier
    from verifier.model.registry import load_verifier

    good = tmp_path / "good"
    LateFusionVerifier(
        FusionConfig(encoder=str(tiny_encoder), projection_dim=8, fusion_layers=1),
        TextEncoder.from_name(str(tiny_encoder)),
    ).save_pretrained(good)
    assert load_verifier(good) is not None

    def broken(name, change):
        d = tmp_path / name
        shutil.copytree(good, d)
        change(d)
        return d

    cases = [
        (tmp_path / "nothing", "config.json:0: path: not a verifier folder"),
        (broken("typo", lambda d: (d / "config.json").write_text('{"model_type": "fusion", "typo": 1}')), "typo"),
        (broken("badjson", lambda d: (d / "config.json").write_text("{")), "config.json:1: json"),
        (broken("noenc", lambda d: shutil.rmtree(d / "encoder")), "encoder:0: path: missing"),
        (
            broken(
                "trunc", lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:100])
            ),
            "model.safetensors:0: weights: unreadable",
        ),
        (
            broken(
                "mismatch",
                lambda d: (d / "config.json").write_text(
                    (d / "config.json").read_text().replace('"projection_dim": 8', '"projection_dim": 16')
                ),
            ),
            "weights: do not match config.json",
        ),
    ]
    for d, message in cases:
        with pytest.raises(InputError, match=message):
            load_verifier(d)


def test_every_verifier_satisfies_the_protocol_the_stages_program_against(tiny_encoder, tmp_path):
    from verifier.model.fusion import FusionConfig, LateFusionVerifier
    from verifier.model.registry import CachesLowerStates, Verifier

    enc = TextEncoder.from_name(str(tiny_encoder))
    models = [
        tiny(tiny_encoder),
        CrossEncoderVerifier(BceConfig(encoder=str(tiny_encoder)), enc),
        LateFusionVerifier(FusionConfig(encoder=str(tiny_encoder), projection_dim=16, fusion_layers=1), enc),
    ]
    for i, m in enumerate(models):
        assert isinstance(m, Verifier), type(m)
        m.save_pretrained(tmp_path / str(i))
        assert type(load_verifier(tmp_path / str(i))) is type(m)
    assert [isinstance(m, CachesLowerStates) for m in models] == [True, False, True]


def test_pairs_need_one_entry_per_pair():
    t = Triple(head="a", relation="r", tail="b")
    with pytest.raises(ValueError, match="one entry per pair"):
        Pairs(texts=["x", "y"], triples=[t], langs=["zh", "zh"])
    with pytest.raises(ValueError, match="one entry per pair"):
        Pairs(texts=["x"], triples=[t], langs=["zh"], views=[None, None])
    p = Pairs(texts=["x", "y"], triples=[t, t], langs=["zh", "en"], views=[None, t])
    assert len(p) == 2 and p.view_rows() == [1]
