"""ZRCM pieces, the zero-shot harness, and zrcm.v1 as a generator under the shared contract."""

import json
import random
from collections import Counter

import pytest
import torch

from generation.matching.common import ZSExample, examples_from_records, mark_entities, token_range
from generation.matching.zrcm import ZRCM, ZrcmConfig, ens_text, margin_loss, rens_text, rns_scores, similarity
from generation.matching.zsre import ZsreConfig, run_zsre
from tests.test_generation.test_runner import check_generator_contract
from verifier.cli import main
from verifier.data.catalog import load_split
from verifier.data.relations import RelationInfo
from verifier.model.encoder import TextEncoder

EX = ZSExample(
    doc_id="d",
    text="Night Train to Oslo is a 2015 thriller directed by Marcus Hale .",
    head="Night Train to Oslo",
    tail="Marcus Hale",
    head_span=(0, 19),
    tail_span=(51, 62),
    relation_id="P57",
)
INFO = RelationInfo(relation_id="P57", name="director", description="director of a film", aliases=["directed by"])


def tiny_zsre(tiny_encoder, out, **kw) -> ZsreConfig:
    """The harness on the sample corpus with the tiny encoder for sentences and descriptions."""
    base = dict(data="sample", m=5, seed=1, encoder=str(tiny_encoder), desc_encoder=str(tiny_encoder), out=str(out))
    return ZsreConfig(**{**base, **kw})


def test_mark_entities_keeps_mention_spans():
    marked, hs, ts = mark_entities(EX.text, EX.head_span, EX.tail_span)
    assert marked.startswith("[E1] Night Train to Oslo [/E1]") and "[E2] Marcus Hale [/E2]" in marked
    assert marked[slice(*hs)] == EX.head and marked[slice(*ts)] == EX.tail
    assert token_range([(0, 0), (0, 5), (6, 11), (12, 14)], (6, 14)) == [2, 3]


def test_rens_masks_relation_words_only_and_ens_masks_entities_only():
    text, n = rens_text(EX, INFO, "[MASK]", random.Random(0), 0.15)
    assert n == 1 and "directed" not in text and EX.head in text and EX.tail in text
    no_rel = RelationInfo(relation_id="P1", name="zzz", description="qqq")
    text2, n2 = rens_text(EX, no_rel, "[MASK]", random.Random(0), 0.15)
    assert n2 >= 1 and EX.head in text2 and EX.tail in text2 and text2 != EX.text  # random fallback spares entities
    ens = ens_text(EX, "[MASK]")
    assert EX.head not in ens and EX.tail not in ens and "directed by" in ens and ens.count("[MASK]") == 2


def test_chinese_rens_uses_jieba_words():
    ex = ZSExample(
        doc_id="d",
        text="电影《归途》由陈立执导。",
        lang="zh",
        head="归途",
        tail="陈立",
        head_span=(3, 5),
        tail_span=(7, 9),
        relation_id="导演",
    )
    text, n = rens_text(
        ex, RelationInfo(relation_id="导演", name="导演", aliases=["执导"]), "[MASK]", random.Random(0), 0.15
    )
    assert n == 1 and "执导" not in text and "归途" in text and "陈立" in text


def test_margin_loss_by_hand_and_similarities():
    loss = margin_loss(torch.tensor([5.0]), torch.tensor([[1.0, 4.0, -10.0]]), gamma=7.5)
    assert loss.item() == pytest.approx((7.5 - 5 + 1) + (7.5 - 5 + 4) + 0)
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    assert similarity(a, b, "inner").tolist() == [[2.0, 0.0]]
    assert similarity(a, b, "cosine").tolist() == [[1.0, 0.0]]
    assert similarity(a, b, "euclidean")[0, 0].item() == pytest.approx(-1.0)


def test_rns_takes_the_hardest_or_farthest_sentence_of_another_relation():
    s = torch.tensor([[9.0, 8.0, 1.0, 3.0], [2.0, 9.0, 5.0, 0.0], [4.0, 7.0, 9.0, 6.0], [5.0, 5.0, 5.0, 9.0]])
    y = torch.tensor([0, 0, 1, 2])  # sentences 0 and 1 share a relation: never each other's negative
    assert rns_scores(s, y, "hardest").tolist() == [3.0, 5.0, 7.0, 5.0]
    assert rns_scores(s, y, "farthest").tolist() == [1.0, 0.0, 4.0, 5.0]
    assert rns_scores(s, torch.tensor([1, 1, 1, 1]), "hardest") is None


def test_descriptions_are_centred_on_the_seen_mean_and_kept_with_the_model(tiny_encoder):
    model = ZRCM(ZrcmConfig(encoder=str(tiny_encoder), desc_dim=4), TextEncoder.from_name(str(tiny_encoder)))
    model.desc_mean.copy_(torch.tensor([1.0, 1.0, 0.0, 0.0]))
    d = model.description_space(torch.tensor([[1.0, 3.0, 0.0, 0.0], [4.0, 1.0, 0.0, 0.0]]))
    assert d.tolist() == [[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
    assert "desc_mean" in model.state_dict()


def test_zrcm_loss_backprop_and_round_trip(tiny_encoder, tmp_path):
    torch.manual_seed(0)
    recs = list(load_split("sample", "en"))[:6]
    exs = examples_from_records(recs)
    rels = sorted({e.relation_id for e in exs})
    infos = {r: RelationInfo(relation_id=r, name=r, description=f"relation {r}") for r in rels}
    model = ZRCM(
        ZrcmConfig(encoder=str(tiny_encoder), desc_dim=16, seen_relations=rels),
        TextEncoder.from_name(str(tiny_encoder)),
    )
    desc = torch.nn.functional.normalize(torch.randn(len(rels), 16), dim=-1)
    loss, logs = model.loss(exs[:4], desc, infos)
    loss.backward()
    assert torch.isfinite(loss) and set(logs) == {"margin", "ce"}
    assert model.fuse.weight.grad.abs().sum() > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for n, p in model.named_parameters() if "encoder" in n)
    model.eval()
    s1 = model.scores(exs, desc)
    model.save_pretrained(tmp_path / "z")
    s2 = ZRCM.from_pretrained(tmp_path / "z").scores(exs, desc)
    assert s1.shape == (len(exs), len(rels)) and torch.allclose(s1, s2)


def test_harness_and_generator_contract(tiny_encoder, tmp_path):
    r = run_zsre(tiny_zsre(tiny_encoder, tmp_path / "z", model="zrcm", max_steps=3))
    assert r.m == 5 and 0 <= r.macro.f1 <= 1 and r.test_examples >= 5
    assert set(r.split.test).isdisjoint(r.split.train)
    from generation.matching.generator import ZrcmGenerator

    gen = ZrcmGenerator(str(tmp_path / "z" / "model"))
    recs = list(load_split("sample", "en"))[:4]
    rows = check_generator_contract(gen, recs)
    assert all(len(c.top_relations) == 3 and c.generator_score == c.top_relations[0].score for c in rows)
    strict = ZrcmGenerator(str(tmp_path / "z" / "model"), no_relation_threshold=1e9)
    import asyncio

    assert asyncio.run(strict.generate(recs[0])) == [] and strict.stats()["no_relation"] == 1


def test_cross_dataset_trains_on_one_inventory_and_tests_on_another(tiny_encoder, tmp_path):
    en = {e.relation_id for e in examples_from_records(load_split("sample", "en"))}
    zh = {e.relation_id for e in examples_from_records(load_split("sample", "zh"))}
    cfg = tiny_zsre(tiny_encoder, tmp_path / "x", model="zrcm", max_steps=2, split="en", test_data="sample")
    r = run_zsre(cfg.model_copy(update={"test_split": "zh", "m": 3}))
    assert set(r.split.train) == en and set(r.split.test) < zh and r.m == 3
    assert set(r.predicted_label_counts) <= set(r.split.test) and r.test_data == "sample"
    r_all = run_zsre(cfg.model_copy(update={"test_split": "zh", "m": 999, "model": "desc", "out": str(tmp_path / "d")}))
    assert set(r_all.split.test) == zh
    v = run_zsre(cfg.model_copy(update={"test_split": "zh", "m": 3, "n_val": 2, "out": str(tmp_path / "v")}))
    assert len(v.split.val) == 2 and set(v.split.val) <= en and not set(v.split.val) & set(v.split.train)
    same = cfg.model_copy(update={"test_split": "en"})
    with pytest.raises(ValueError, match="no seen or no unseen"):
        run_zsre(same)
    argv = ["zsre", "eval", "--model", "desc", "--data", "sample", "--split", "en", "--test-data", "sample"]
    assert main([*argv, "--test-split", "en", "--desc-encoder", str(tiny_encoder), "--out", str(tmp_path / "e")]) == 2


def test_aux_data_adds_seen_relations_only(tiny_encoder, tmp_path):
    """--aux-data zh: the zh inventory's relations join the seen ones; no aux relation is validated or tested,
    and a relation that is a test relation of the split stays out of training."""
    en = {e.relation_id for e in examples_from_records(load_split("sample", "en"))}
    zh = {e.relation_id for e in examples_from_records(load_split("sample", "zh"))}
    cfg = tiny_zsre(tiny_encoder, tmp_path / "a", model="zrcm", max_steps=2, split="en", m=3, n_val=1)
    plain = run_zsre(cfg.model_copy(update={"model": "desc", "out": str(tmp_path / "p")}))
    r = run_zsre(cfg.model_copy(update={"aux_data": ["sample:zh"]}))
    assert r.split.test == plain.split.test and r.split.val == plain.split.val  # the split itself is unchanged
    held_out = set(r.split.test) | set(r.split.val)
    assert set(r.split.train) == (en | zh) - held_out and not held_out & (set(r.split.train))
    assert zh - en and r.train_examples > plain.train_examples
    assert "aux(sample:zh)" in r.split.source
    from generation.matching.zsre import Prediction

    rows = [Prediction.model_validate_json(x) for x in (tmp_path / "a" / "predictions.jsonl").read_text().splitlines()]
    test, val = [p for p in rows if p.part == "test"], [p for p in rows if p.part == "val"]
    assert len(test) == r.test_examples and {p.relation for p in test} <= set(r.split.test)
    assert val and {p.relation for p in val} <= set(r.split.val) and all(p.margin >= 0 for p in rows)
    assert sum(p.relation == p.gold for p in test) == round(r.micro_accuracy * len(test))
    with pytest.raises(ValueError, match="unknown dataset"):
        run_zsre(cfg.model_copy(update={"aux_data": ["nope"]}))


def test_validation_can_rank_among_the_test_relations_descriptions_too(tiny_encoder, tmp_path):
    from generation.matching.zsre import make_split, validation_choice

    rels = sorted({e.relation_id for e in examples_from_records(load_split("sample", "en"))})
    cfg = tiny_zsre(tiny_encoder, tmp_path / "v", model="zrcm", max_steps=2, split="en", m=3, n_val=1)
    split = make_split(cfg, rels)
    assert validation_choice(cfg, split) == list(split.val)
    hard = cfg.model_copy(update={"val_candidates": "val+test"})
    assert validation_choice(hard, split) == list(split.val) + list(split.test)
    r = run_zsre(hard.model_copy(update={"eval_every": 1}))
    assert [v.step for v in r.validation] == [0, 1, 2] and all(0 <= v.val_f1 <= 1 for v in r.validation)


def test_validation_folds_rotate_over_the_relations_not_under_test(tiny_encoder, tmp_path):
    """--val-fold: the test relations stay; the folds' validation blocks are disjoint and cover the relations not
    under test; fold 0 is the split without folds; the same holds for a cross-dataset split's seen relations."""
    from generation.matching.zsre import cross_dataset_split, make_split

    rels = sorted({e.relation_id for e in examples_from_records(load_split("sample", "en"))})
    cfg = tiny_zsre(tiny_encoder, tmp_path / "f", model="zrcm", split="en", m=3, n_val=2)
    folds = [make_split(cfg.model_copy(update={"val_fold": f}), rels) for f in range(3)]
    assert folds[0] == make_split(cfg, rels) and all(f.test == folds[0].test for f in folds)
    vals = [set(f.val) for f in folds]
    assert all(len(v) == 2 for v in vals) and not (vals[0] & vals[1] or vals[1] & vals[2] or vals[0] & vals[2])
    with pytest.raises(ValueError, match="--m / --n-val"):
        make_split(cfg.model_copy(update={"val_fold": len(rels)}), rels)
    seen, test = rels[:6], rels[6:]
    cross = [cross_dataset_split(cfg.model_copy(update={"val_fold": f}), seen, test) for f in range(3)]
    assert cross[0].val == cross_dataset_split(cfg, seen, test).val
    assert set().union(*(c.val for c in cross)) == set(seen) and "val_fold=2" in cross[2].source
    with pytest.raises(ValueError, match="3 folds"):
        cross_dataset_split(cfg.model_copy(update={"val_fold": 3}), seen, test)


def test_fuse_scores_by_hand():
    """--desc-weight: each side divided by the sd of its hubness-corrected entries, then weighted; w = 0 is S."""
    from generation.matching.common import correct_hubness, fuse_scores

    s = torch.tensor([[1.0, 3.0], [2.0, 6.0]])
    d = torch.tensor([[0.5, 0.1], [0.2, 0.4]])
    assert fuse_scores(s, d, 0.0, "center") is s
    sd_s = correct_hubness(s, "center").std(correction=0)  # centred columns: [[-0.5, -1.5], [0.5, 1.5]]
    sd_d = correct_hubness(d, "center").std(correction=0)
    assert sd_s.item() == pytest.approx(((0.25 + 2.25) / 2) ** 0.5)
    got = fuse_scores(s, d, 0.25, "center")
    assert torch.allclose(got, 0.75 * s / sd_s + 0.25 * d / sd_d)
    assert torch.equal(correct_hubness(fuse_scores(s, d, 1.0, "center"), "center").argmax(-1), torch.tensor([0, 1]))


def test_a_saved_matcher_is_rescored_alone_or_fused_with_the_baseline(tiny_encoder, tmp_path, capsys):
    """--trained-model rescores a saved matcher without training: the same answers and validation figure as the
    run that saved it (whose val_f1 is its best checkpoint's); --desc-weight 1 answers as the baseline does; another
    split or matcher is a one-line error."""
    from verifier.config import ConfigError

    def answers(out) -> list[tuple[str, str]]:
        rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
        return [(r["part"], r["relation"]) for r in rows]

    cfg = tiny_zsre(tiny_encoder, tmp_path / "t", model="sdzre", max_steps=3, batch_size=4, lr=1e-3, split="en",
                    m=3, n_val=2, eval_every=1, val_candidates="val+test")  # fmt: skip
    r = run_zsre(cfg)
    assert r.val_f1 == pytest.approx(max(v.val_f1 for v in r.validation))
    again = run_zsre(
        cfg.model_copy(update={"trained_model": str(tmp_path / "t" / "model"), "out": str(tmp_path / "a")})
    )
    assert again.validation == [] and again.macro == r.macro and again.val_f1 == pytest.approx(r.val_f1)
    assert answers(tmp_path / "a") == answers(tmp_path / "t")
    fused = cfg.model_copy(update={"trained_model": str(tmp_path / "t" / "model"), "desc_weight": 1.0})
    run_zsre(fused.model_copy(update={"out": str(tmp_path / "w1")}))
    base = run_zsre(cfg.model_copy(update={"model": "desc", "out": str(tmp_path / "d")}))
    test_answers = [a for a in answers(tmp_path / "w1") if a[0] == "test"]
    assert test_answers == [a for a in answers(tmp_path / "d") if a[0] == "test"] and base.split.test == r.split.test
    half = run_zsre(fused.model_copy(update={"desc_weight": 0.5, "out": str(tmp_path / "w5")}))
    assert half.val_f1 is not None and 0 <= half.macro.f1 <= 1
    with pytest.raises(ConfigError, match=r"--trained-model .*this config's split"):
        run_zsre(fused.model_copy(update={"seed": 2, "out": str(tmp_path / "x")}))
    with pytest.raises(ConfigError, match="a saved sdzre matcher, not zrcm"):
        run_zsre(fused.model_copy(update={"model": "zrcm", "matcher": ZrcmConfig(), "out": str(tmp_path / "z")}))
    flags = ["--model", "sdzre", "--data", "sample", "--split", "en", "--m", "3", "--n-val", "2", "--seed", "2"]
    flags += ["--encoder", str(tiny_encoder), "--desc-encoder", str(tiny_encoder), "--out", str(tmp_path / "c")]
    capsys.readouterr()
    assert main(["zsre", "eval", *flags, "--trained-model", str(tmp_path / "t" / "model")]) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if "Loading weights" not in x and x.strip()]
    assert len(err) == 1 and err[0].startswith("error: --trained-model") and "--val-fold" in err[0]


def test_typed_keywords_drop_placeholders_and_fall_back_to_the_name(tiny_encoder, tmp_path):
    """keywords="typed": "subject", "object", "item", "entity" leave the abbreviations (the name stands in when
    nothing is left); a saved SDZRE records the abbreviations it was trained with, and rescoring it with the other
    value changes its keyword cosines but not its split."""
    import gzip
    import shutil
    from importlib.resources import files

    from generation.matching.common import abbreviations

    part_of = RelationInfo(relation_id="P361", name="part of", description="object of which the subject is a part",
                           head_keywords=["subject", "part"], tail_keywords=["Object"])  # fmt: skip
    assert abbreviations(part_of) == ("subject, part", "Object")
    assert abbreviations(part_of, "typed") == ("part", "part of")
    many = RelationInfo(relation_id="P1", name="x", head_keywords=["item", *"abcdef"], tail_keywords=[])
    assert abbreviations(many, "typed") == ("a, b, c, d, e", "x") and abbreviations(many)[0] == "item, a, b, c, d"

    sample = files("verifier.data") / "sample"  # a FewRel-format folder whose descriptions carry placeholders
    (tmp_path / "data" / "fewrel" / "descriptions").mkdir(parents=True)
    shutil.copy(str(sample / "sample_en.json"), tmp_path / "data" / "fewrel" / "val_wiki.json")
    shutil.copy(str(sample / "sample_pid2name_en.json"), tmp_path / "data" / "fewrel" / "pid2name.json")
    pids = json.loads((tmp_path / "data" / "fewrel" / "pid2name.json").read_text())
    kw = [{"relation": p, "description": [p, "is", "a", "relation"], "h": ["subject", f"{p} type"], "t": ["object"]}
          for p in pids]  # fmt: skip
    path = (
        tmp_path / "data" / "fewrel" / "descriptions" / "rematching_relation_description_addsynonym_processed.json.gz"
    )
    path.write_bytes(gzip.compress(json.dumps(kw).encode()))
    cfg = tiny_zsre(tiny_encoder, tmp_path / "t", model="sdzre", data="fewrel", data_dir=str(tmp_path / "data"),
                    max_steps=2, batch_size=4, m=3, n_val=2, eval_every=1, keywords="typed")  # fmt: skip
    r = run_zsre(cfg)
    saved = json.loads((tmp_path / "t" / "model" / "descriptions.json").read_text())
    assert saved["abbreviations"] == {p: [f"{p} type", saved["names"][p]] for p in pids}
    model = {"trained_model": str(tmp_path / "t" / "model")}
    again = run_zsre(cfg.model_copy(update={**model, "out": str(tmp_path / "a")}))
    assert again.macro == r.macro and r.keywords == "typed"
    written = run_zsre(cfg.model_copy(update={**model, "keywords": "as_written", "out": str(tmp_path / "w")}))
    assert written.split == r.split and 0 <= written.macro.f1 <= 1 and written.keywords == "as_written"

    def scores(out: str) -> list[float]:
        return [json.loads(x)["score"] for x in (tmp_path / out / "predictions.jsonl").read_text().splitlines()]

    assert scores("a") == scores("t") and scores("w") != scores("t")


def test_a_second_saved_matcher_is_averaged_with_the_first(tiny_encoder, tmp_path):
    """--ensemble-with: a matcher averaged with itself answers as it does alone (a positive rescaling); with
    another matcher of the same split (here a ZRCM) the scores change; another split, the baseline's weight or
    the untrained baseline as the first matcher is a one-line error."""
    from verifier.config import ConfigError

    def rows(out: str) -> list[tuple[str, str, float]]:
        lines = (tmp_path / out / "predictions.jsonl").read_text().splitlines()
        return [(r["part"], r["relation"], r["score"]) for r in map(json.loads, lines)]

    cfg = tiny_zsre(tiny_encoder, tmp_path / "s", model="sdzre", max_steps=2, batch_size=4, split="en", m=3,
                    n_val=2, eval_every=1, val_candidates="val+test")  # fmt: skip
    alone = run_zsre(cfg)
    zrcm = run_zsre(cfg.model_copy(update={"model": "zrcm", "matcher": ZrcmConfig(), "out": str(tmp_path / "z")}))
    assert zrcm.split == alone.split
    rescore = {"trained_model": str(tmp_path / "s" / "model")}
    itself = run_zsre(cfg.model_copy(update={**rescore, "ensemble_with": rescore["trained_model"],
                                             "out": str(tmp_path / "ss")}))  # fmt: skip
    assert [r[:2] for r in rows("ss")] == [r[:2] for r in rows("s")] and itself.macro == alone.macro
    assert alone.val_f1 is not None and itself.val_f1 == pytest.approx(alone.val_f1)
    pair = run_zsre(cfg.model_copy(update={**rescore, "ensemble_with": str(tmp_path / "z" / "model"),
                                           "out": str(tmp_path / "sz")}))  # fmt: skip
    assert [r[2] for r in rows("sz")] != [r[2] for r in rows("ss")] and pair.val_f1 is not None
    other = run_zsre(cfg.model_copy(update={"seed": 2, "out": str(tmp_path / "o")}))
    assert other.split != alone.split
    with pytest.raises(ConfigError, match=r"--ensemble-with .*this config's split"):
        run_zsre(cfg.model_copy(update={**rescore, "ensemble_with": str(tmp_path / "o" / "model"),
                                        "out": str(tmp_path / "x")}))  # fmt: skip
    with pytest.raises(ConfigError, match="not with --desc-weight"):
        run_zsre(cfg.model_copy(update={"ensemble_with": rescore["trained_model"], "desc_weight": 0.5}))
    with pytest.raises(ConfigError, match="a trained matcher's option"):
        run_zsre(cfg.model_copy(update={"ensemble_with": rescore["trained_model"], "model": "desc"}))


def test_fused_scores_can_choose_the_checkpoint_and_the_pseudo_labels_too(tiny_encoder, tmp_path):
    """--fuse-in-training: early stopping and the pseudo-labels read the fused scores. At --desc-weight 1 the
    matcher plays no part in them: every validation point is the same figure, and the pseudo-labels' first-round
    answers are the baseline's."""
    cfg = tiny_zsre(tiny_encoder, tmp_path / "f", model="sdzre", max_steps=2, batch_size=4, lr=1e-2, split="en", m=3,
                    n_val=2, eval_every=1, val_candidates="val+test", pseudo_label=1, pseudo_pool=2,
                    desc_weight=1.0, fuse_in_training=True)  # fmt: skip
    r = run_zsre(cfg)
    base = run_zsre(cfg.model_copy(update={"model": "desc", "out": str(tmp_path / "d")}))
    assert len(r.validation) >= 3 and len({round(v.val_f1, 9) for v in r.validation}) == 1
    assert r.pseudo is not None and r.pseudo.first_round_macro == base.macro == r.macro


def test_validation_sentences_have_their_own_cap(tiny_encoder, tmp_path):
    """--max-val-per-relation caps the validation relations' sentences apart from the test ones'; unset, the test
    cap applies to both (the behaviour before the option)."""
    base = dict(model="zrcm", max_steps=1, split="en", m=3, n_val=20, max_test_per_relation=1)  # 7 have 2 sentences

    def parts(out, **kw) -> Counter:
        run_zsre(tiny_zsre(tiny_encoder, tmp_path / out, **base, **kw))
        rows = [json.loads(x) for x in (tmp_path / out / "predictions.jsonl").read_text().splitlines()]
        return Counter(r["part"] for r in rows)

    before, more = parts("a"), parts("b", max_val_per_relation=3)
    assert before["val"] == 20 and more["test"] == before["test"] == 3
    assert more["val"] > 20


def test_synthetic_sentences_of_unseen_relations_join_training(tiny_encoder, tmp_path):
    """--synthetic: the test and validation relations' synthetic sentences train the matcher (cycled up to the
    per-relation cap); other relations' lines are ignored; the split and the test sentences stay the same."""
    from verifier.io import write_jsonl
    from verifier.schema import GoldRecord, Triple

    cfg = tiny_zsre(tiny_encoder, tmp_path / "p", model="zrcm", max_steps=2, split="en", m=3, n_val=1)
    plain = run_zsre(cfg)
    unseen = [*plain.split.test, *plain.split.val]
    text = "Alpha Works built the Beta Tower ."
    recs = [
        GoldRecord(doc_id=f"s{i}", text=text, triples=[Triple(head="Alpha Works", relation=r, relation_id=r,
                   tail="Beta Tower", head_span=(0, 11), tail_span=(22, 32))])
        for i, r in enumerate([*unseen, plain.split.train[0]])
    ]  # fmt: skip
    write_jsonl(tmp_path / "synth.jsonl", recs)
    r = run_zsre(cfg.model_copy(update={"synthetic": str(tmp_path / "synth.jsonl"), "out": str(tmp_path / "s"),
                                        "max_train_per_relation": 4}))  # fmt: skip
    capped = run_zsre(cfg.model_copy(update={"out": str(tmp_path / "c"), "max_train_per_relation": 4}))
    assert r.split.test == plain.split.test and r.test_examples == plain.test_examples
    assert r.train_examples == capped.train_examples + 4 * len(unseen) and "synthetic(16)" in r.split.source
    import json

    seen = json.loads((tmp_path / "s" / "model" / "config.json").read_text())["seen_relations"]
    assert set(unseen) <= set(seen)


def test_grl_reverses_the_gradient_and_keeps_the_value():
    from generation.matching.sdzre import grl

    x = torch.tensor([1.0, -2.0], requires_grad=True)
    y = grl(x, 0.5)
    assert torch.equal(y, x.detach())
    (y * torch.tensor([3.0, 4.0])).sum().backward()
    assert x.grad.tolist() == [-1.5, -2.0]


def test_gaussian_weights_are_positive_and_sum_to_one():
    from generation.matching.sdzre import gaussian_weights

    k = torch.randn(4, 32) * 5
    g = gaussian_weights(k, torch.tensor(0.3))
    assert (g > 0).all() and torch.allclose(g.sum(-1), torch.ones(4))


def test_projection_removes_the_irrelevant_component():
    from generation.matching.sdzre import remove_component

    h, h_minus = torch.randn(5, 16), torch.randn(5, 16)
    out = remove_component(h, h_minus)
    assert torch.allclose((out * h_minus).sum(-1), torch.zeros(5), atol=1e-5)


def test_sdzre_ranking_loss_hard_and_semi_hard():
    from generation.matching.sdzre import SdzreConfig, ranking_loss

    f = torch.tensor([[0.9, 0.8, 0.5, 0.4, 0.3, 0.1]])  # gold 0; hardest 0.8; with k=3 the semi-hard is 0.3
    cfg = SdzreConfig(gam_t=0.2, gam_b=0.7, top_k=3)
    got = ranking_loss(f, torch.tensor([0]), cfg, random.Random(0))
    assert got.item() == pytest.approx(max(0, 0.8 - 0.9 + 0.2) + max(0, 0.3 - 0.9 + 0.7))
    no_semi = ranking_loss(f, torch.tensor([0]), cfg.model_copy(update={"semi_hard": False}), random.Random(0))
    assert no_semi.item() == pytest.approx(0.1)


@pytest.mark.parametrize("ablation", [{}, {"no_contrastive": True, "no_distiller": True}, {"no_multi_negative": True}])
def test_sdzre_trains_and_generates(tiny_encoder, tmp_path, ablation):
    r = run_zsre(tiny_zsre(tiny_encoder, tmp_path / "s", model="sdzre", max_steps=2, batch_size=4, lr=1e-3, **ablation))
    assert r.m == 5 and 0 <= r.macro.f1 <= 1
    from generation.matching.generator import SdzreGenerator

    rows = check_generator_contract(SdzreGenerator(str(tmp_path / "s" / "model")), list(load_split("sample", "en"))[:3])
    assert all(c.provenance.generator == "sdzre.v1" for c in rows)


def test_sdzre_loss_reaches_query_through_grl(tiny_encoder):
    from generation.matching.sdzre import SDZRE, SdzreConfig

    torch.manual_seed(0)
    exs = examples_from_records(list(load_split("sample", "en"))[:4])
    rels = sorted({e.relation_id for e in exs})
    m = SDZRE(
        SdzreConfig(encoder=str(tiny_encoder), desc_dim=32, seen_relations=rels),
        TextEncoder.from_name(str(tiny_encoder)),
    )
    desc = {k: torch.randn(len(rels), 32) for k in "vht"}
    loss, parts = m.loss(exs, desc)
    loss.backward()
    assert set(parts) == {"mr", "rev", "ctr"} and m.fpd.q.grad is not None and m.gas.mu_offset.grad is not None


@pytest.mark.parametrize("where", ["encoder", "distiller"])
def test_sdzre_reversed_gradient_reaches_the_encoder_only_when_literal(tiny_encoder, where):
    from generation.matching.sdzre import SDZRE, SdzreConfig

    torch.manual_seed(0)
    exs = examples_from_records(list(load_split("sample", "en"))[:4])
    rels = sorted({e.relation_id for e in exs})
    cfg = SdzreConfig(encoder=str(tiny_encoder), desc_dim=32, seen_relations=rels, distiller_grad=where)
    m = SDZRE(cfg, TextEncoder.from_name(str(tiny_encoder)))
    y = torch.tensor([rels.index(e.relation_id) for e in exs])
    logits = m.distill(m.encode(exs))[1]
    torch.nn.functional.cross_entropy(logits, y).backward()  # L_Rev alone (Eq. 13)
    enc_grad = sum(p.grad.abs().sum().item() for p in m.encoder.parameters() if p.grad is not None)
    assert m.fpd.q.grad is not None and m.fpd.q.grad.abs().sum() > 0
    assert (enc_grad > 0) == (where == "encoder")


def test_sdzre_identity_start_is_the_marker_states_mean(tiny_encoder, tmp_path):
    from generation.matching.sdzre import SDZRE, SdzreConfig

    exs = examples_from_records(list(load_split("sample", "en"))[:3])
    enc = TextEncoder.from_name(str(tiny_encoder))
    h = enc.hidden_size
    m = SDZRE(SdzreConfig(encoder=str(tiny_encoder), desc_dim=h, fc_init="identity", seen_relations=["a"]), enc)
    with torch.no_grad():
        e = m.encode(exs)
        assert torch.allclose(m.fc(e["ctx"]), (e["ctx"][:, :h] + e["ctx"][:, h:]) / 2, atol=1e-6)
    paper = SDZRE(SdzreConfig(encoder=str(tiny_encoder), desc_dim=h, seen_relations=["a"]), enc)
    assert not torch.allclose(paper.fc.weight, m.fc.weight)
    cfg = tiny_zsre(tiny_encoder, tmp_path / "i", model="sdzre", max_steps=1, batch_size=4, sdzre_init="identity")
    run_zsre(cfg)
    assert SDZRE.from_pretrained(tmp_path / "i" / "model").config.fc_init == "identity"


def test_punct_markers_copy_the_rows_of_at_and_hash_and_survive_a_save(tiny_encoder, tmp_path):
    from generation.matching.sdzre import SDZRE, SDZRE_MARKERS, SdzreConfig

    enc = TextEncoder.from_name(str(tiny_encoder))
    SDZRE(SdzreConfig(encoder=str(tiny_encoder), desc_dim=enc.hidden_size, marker_init="punct"), enc)
    tok, weight = enc.tokenizer, enc.model.get_input_embeddings().weight
    rows = weight[tok.convert_tokens_to_ids(list(SDZRE_MARKERS))]  # (4, H)
    at, hash_ = (weight[tok(w, add_special_tokens=False)["input_ids"]].mean(0) for w in ("@", "#"))
    assert torch.equal(rows[0], at) and torch.equal(rows[1], at) and torch.equal(rows[2], hash_)
    assert not torch.equal(at, hash_)  # the head's markers differ from the tail's
    new = TextEncoder.from_name(str(tiny_encoder))
    SDZRE(SdzreConfig(encoder=str(tiny_encoder), desc_dim=new.hidden_size), new)
    assert not torch.equal(new.model.get_input_embeddings().weight[tok.convert_tokens_to_ids(SDZRE_MARKERS[0])], at)
    kw = dict(model="sdzre", max_steps=1, batch_size=4, freeze_encoder_layers=1)  # frozen embeddings, markers too
    cfg = tiny_zsre(tiny_encoder, tmp_path / "p", marker_init="punct", **kw)
    assert cfg.matcher.marker_init == "punct"
    run_zsre(cfg)
    back = SDZRE.from_pretrained(tmp_path / "p" / "model")
    assert back.config.marker_init == "punct"
    back_rows = back.encoder.model.get_input_embeddings().weight[tok.convert_tokens_to_ids(list(SDZRE_MARKERS))]
    assert torch.equal(back_rows, rows)


def test_sdzre_mean_context_starts_as_the_mean_token_state(tiny_encoder):
    from generation.matching.sdzre import SDZRE, SdzreConfig

    exs = examples_from_records(list(load_split("sample", "en"))[:3])
    enc = TextEncoder.from_name(str(tiny_encoder))
    h = enc.hidden_size
    cfg = SdzreConfig(encoder=str(tiny_encoder), desc_dim=h, fc_init="identity", context="mean", seen_relations=["a"])
    m = SDZRE(cfg, enc)
    with torch.no_grad():
        e = m.encode(exs)
        keep = e["mask"].unsqueeze(-1).float()
        by_hand = (e["x"] * keep).sum(1) / keep.sum(1)  # padded tokens left out
        assert e["ctx"].shape == (3, h) and torch.allclose(m.fc(e["ctx"]), by_hand, atol=1e-5)
        assert m.distill(e)[0].shape == (3, h)


def test_raw_text_mode_takes_pairs_from_llm_candidates(tiny_encoder, tmp_path):
    from generation.run import GenerateConfig, generate, pairs_from_candidates
    from verifier.io import read_jsonl, write_jsonl
    from verifier.schema import Candidate, Provenance, Triple

    text = "Night Train to Oslo is a 2015 thriller directed by Marcus Hale ."
    prov = Provenance(generator="llm.v1")
    rows = [
        Candidate(
            doc_id="d1",
            text=text,
            lang="en",
            provenance=prov,
            triple=Triple(head="Night Train to Oslo", relation="director", tail="Marcus Hale"),
        ),
        Candidate(
            doc_id="d1",
            text=text,
            lang="en",
            provenance=prov,
            triple=Triple(head="Night Train to Oslo", relation="genre", tail="Marcus Hale"),
        ),  # same pair
        Candidate(
            doc_id="d1",
            text=text,
            lang="en",
            provenance=prov,
            triple=Triple(head="Oslo Film", relation="director", tail="Marcus Hale"),
        ),
    ]  # not in the text
    write_jsonl(tmp_path / "llm.jsonl", rows)
    (rec,) = list(pairs_from_candidates(str(tmp_path / "llm.jsonl")))
    assert [(t.head, t.tail, t.head_span) for t in rec.triples] == [("Night Train to Oslo", "Marcus Hale", (0, 19))]
    run_zsre(tiny_zsre(tiny_encoder, tmp_path / "z", model="zrcm", max_steps=1))
    out = tmp_path / "m" / "c.jsonl"
    generate(
        GenerateConfig(
            generator="zrcm.v1",
            matcher=str(tmp_path / "z" / "model"),
            data="sample",
            split="en",
            pairs_from=str(tmp_path / "llm.jsonl"),
            out=str(out),
        )
    )
    (cand,) = list(read_jsonl(out, Candidate))
    assert cand.triple.head == "Night Train to Oslo" and cand.provenance.generator == "zrcm.v1"


def test_hubness_corrections_by_hand():
    from generation.matching.common import correct_hubness

    s = torch.tensor([[0.9, 0.8], [0.7, 0.1], [0.8, 0.2]])  # relation 0 is every sentence's nearest (a hub)
    assert correct_hubness(s, "none") is s
    centred = correct_hubness(s, "center")
    assert torch.allclose(centred, s - torch.tensor([[0.8, 11 / 30]]), atol=1e-6)
    assert centred.argmax(-1).tolist() == [1, 0, 0]  # the hub loses the sentence that fits relation 1 best
    csls = correct_hubness(s, "csls", k=1)  # r_T = column max, r_S = row max
    expect = 2 * s - torch.tensor([[0.9, 0.8]]) - torch.tensor([[0.9], [0.7], [0.8]])
    assert torch.allclose(csls, expect, atol=1e-6)


def test_same_path_negatives_keep_mention_spans_after_masking():
    from generation.matching.zrcm import ens_example, rens_example

    rens = rens_example(EX, INFO, "[MASK]", random.Random(0), 0.15)
    assert "directed" not in rens.text and "[MASK]" in rens.text
    assert rens.text[slice(*rens.head_span)] == "Night Train to Oslo"
    assert rens.text[slice(*rens.tail_span)] == "Marcus Hale"
    ens = ens_example(EX, "[MASK]")
    assert ens.text.startswith("[MASK] is a 2015 thriller directed by [MASK]")
    assert ens.text[slice(*ens.head_span)] == ens.text[slice(*ens.tail_span)] == "[MASK]"
    assert ens.head_span != ens.tail_span


def test_identity_start_is_the_mean_pooled_sentence_and_negatives_take_its_path(tiny_encoder):
    enc = TextEncoder.from_name(str(tiny_encoder))
    cfg = ZrcmConfig(
        encoder=str(tiny_encoder),
        desc_dim=enc.hidden_size,
        init="identity",
        sentence_state="mean",
        similarity="cosine",
        scale=20.0,
        negative_path="same",
        seen_relations=["P57", "P1"],
    )
    model = ZRCM(cfg, enc).eval()
    marked = mark_entities(EX.text, EX.head_span, EX.tail_span)[0]
    batch = model.encoder.tokenize([marked], 128)
    h = model.encoder(batch["input_ids"], batch["attention_mask"])  # (1, L, H)
    with torch.no_grad():
        assert torch.allclose(model.represent([EX]), torch.tanh(h.mean(1)), atol=1e-5)
    desc = torch.nn.functional.normalize(torch.randn(2, enc.hidden_size), dim=-1)
    s = model.scores([EX], desc)
    assert s.abs().max() <= 20.0 + 1e-4  # scale * cosine
    with pytest.raises(ValueError, match="desc_dim"):
        ZRCM(cfg.model_copy(update={"desc_dim": enc.hidden_size + 1}), TextEncoder.from_name(str(tiny_encoder)))
    model.train()
    loss, _ = model.loss([EX, EX.model_copy(update={"relation_id": "P1"})], desc, {"P57": INFO})
    loss.backward()
    assert torch.isfinite(loss) and model.fuse.weight.grad.abs().sum() > 0


def test_appended_input_starts_at_the_baselines_sentence_and_masks_carry_into_the_pair(tiny_encoder):
    """input_form="appended": the encoder reads 'query: sentence (head ; tail)' as the description baseline does,
    the mention spans point at the appended pair, and ENS's masked mentions stay masked there."""
    from generation.matching.zrcm import ens_example

    enc = TextEncoder.from_name(str(tiny_encoder))
    cfg = ZrcmConfig(
        encoder=str(tiny_encoder), desc_dim=enc.hidden_size, init="identity", sentence_state="mean",
        prefix="query: ", input_form="appended", seen_relations=["P57", "P1"],
    )  # fmt: skip
    model = ZRCM(cfg, enc).eval()
    text, hs, ts = model.encoder_input(EX)
    assert text == f"{EX.text} ({EX.head} ; {EX.tail})"
    assert (text[hs[0] : hs[1]], text[ts[0] : ts[1]]) == (EX.head, EX.tail) and hs[0] > len(EX.text)
    batch = model.encoder.tokenize(["query: " + text], 128)
    h = model.encoder(batch["input_ids"], batch["attention_mask"])  # (1, L, H)
    with torch.no_grad():
        assert torch.allclose(model.represent([EX]), torch.tanh(h.mean(1)), atol=1e-5)
    masked = model.encoder_input(ens_example(EX, "[MASK]"))[0]
    assert masked.endswith("([MASK] ; [MASK])") and EX.head not in masked


def test_marker_rows_train_while_the_rest_of_the_embeddings_stay(tiny_encoder):
    from generation.matching.common import MARKERS, train_marker_rows
    from generation.matching.zsre import param_groups

    torch.manual_seed(0)
    model = ZRCM(
        ZrcmConfig(encoder=str(tiny_encoder), desc_dim=16, seen_relations=["P57", "P1"]),
        TextEncoder.from_name(str(tiny_encoder)),
    )
    model.encoder.freeze_bottom(1)  # the embeddings are frozen ...
    weight = train_marker_rows(model.encoder)  # ... but for the marker rows
    before = weight.detach().clone()
    opt = torch.optim.AdamW(param_groups(model, 1e-2, 1e-2, weight))  # decay 0.01 on the other groups
    desc = torch.nn.functional.normalize(torch.randn(2, 16), dim=-1)
    loss, _ = model.loss([EX, EX.model_copy(update={"relation_id": "P1"})], desc, {"P57": INFO})
    loss.backward()
    opt.step()
    moved = (weight.detach() != before).any(-1)
    ids = model.encoder.tokenizer.convert_tokens_to_ids(list(MARKERS))
    assert moved[ids].all() and int(moved.sum()) == len(ids)


def test_validation_relations_choose_the_checkpoint_and_the_budget_stops_training(tiny_encoder, tmp_path):
    cfg = tiny_zsre(
        tiny_encoder,
        tmp_path / "v",
        model="zrcm",
        m=3,
        n_val=2,
        max_steps=6,
        eval_every=2,
        hubness="center",
        sentence_state="mean",
        negative_path="same",
    )
    r = run_zsre(cfg)
    steps = [v.step for v in r.validation]
    assert steps == [0, 2, 4, 6] and r.best_step in steps and r.hubness == "center"
    assert set(r.split.val).isdisjoint(r.split.test) and len(r.split.val) == 2
    best = max(v.val_f1 for v in r.validation)
    assert [v.val_f1 for v in r.validation if v.step == r.best_step] == [best]
    quick = run_zsre(cfg.model_copy(update={"max_steps": 10_000, "max_minutes": 1e-4, "out": str(tmp_path / "q")}))
    assert quick.steps == 1  # the budget is checked after every step


@pytest.mark.parametrize("negatives", [["rns"], ["rens", "ens"], []])
def test_zrcm_negative_ablations_train(tiny_encoder, negatives):
    torch.manual_seed(0)
    cfg = ZrcmConfig(encoder=str(tiny_encoder), desc_dim=16, seen_relations=["P57", "P1"], negatives=negatives)
    model = ZRCM(cfg, TextEncoder.from_name(str(tiny_encoder)))
    desc = torch.nn.functional.normalize(torch.randn(2, 16), dim=-1)
    loss, logs = model.loss([EX, EX.model_copy(update={"relation_id": "P1"})], desc, {"P57": INFO})
    loss.backward()
    assert torch.isfinite(loss) and model.classifier.weight.grad.abs().sum() > 0
    assert (logs["margin"] == 0.0) == (negatives == [])  # no negative sample, no margin term


@pytest.mark.parametrize("model", ["zrcm", "sdzre"])
def test_frozen_lower_layers_are_computed_once_per_sentence(tiny_encoder, tmp_path, model):
    """--freeze-encoder-layers trains on the verifier's lower-layer cache; --train-markers (trainable embeddings)
    and --no-cache-lower-states run the whole encoder every step."""
    kw = dict(model=model, m=3, n_val=2, eval_every=2, max_steps=4, batch_size=4, freeze_encoder_layers=1)
    r = run_zsre(tiny_zsre(tiny_encoder, tmp_path / "c", **kw))
    cache = r.lower_cache
    assert cache is not None and cache.layers == 1 and cache.misses > 0 and cache.hits > 0  # validated 3 times: hits
    assert run_zsre(tiny_zsre(tiny_encoder, tmp_path / "m", train_markers=True, **kw)).lower_cache is None
    assert run_zsre(tiny_zsre(tiny_encoder, tmp_path / "n", cache_lower_states=False, **kw)).lower_cache is None


def test_pseudo_labels_take_the_most_confident_per_predicted_relation():
    """Per predicted relation, the k largest margins (after the hubness correction); indices into the pool."""
    from generation.matching.zsre import pseudo_labelled

    pool = [EX.model_copy(update={"doc_id": f"u{i}", "relation_id": None}) for i in range(5)]
    scores = torch.tensor([[0.9, 0.1], [0.6, 0.5], [0.2, 0.8], [0.3, 0.4], [0.7, 0.0]])  # margins .8 .1 .6 .1 .7
    assert pseudo_labelled(pool, scores, ["A", "B"], "none", 1) == [(0, "A"), (2, "B")]
    assert pseudo_labelled(pool, scores, ["A", "B"], "none", 2) == [(0, "A"), (4, "A"), (2, "B"), (3, "B")]


def test_unlabelled_pool_drops_labels_and_never_holds_a_held_out_sentence():
    from generation.matching.zsre import unlabelled_pool

    ex = [EX.model_copy(update={"doc_id": f"d{i}", "relation_id": r}) for i, r in enumerate("AABBBC")]
    pool, hidden = unlabelled_pool(ex, ["A", "B"], [ex[0], ex[2]], per_rel=5, seed=0)
    assert sorted(e.doc_id for e in pool) == ["d1", "d3", "d4"] and all(e.relation_id is None for e in pool)
    assert sorted(zip((e.doc_id for e in pool), hidden, strict=True)) == [("d1", "A"), ("d3", "B"), ("d4", "B")]
    assert len(unlabelled_pool(ex, ["A", "B"], [], per_rel=1, seed=0)[0]) == 2


def test_fresh_validation_sentences_were_never_read_by_the_run():
    """--choice-val-per-relation draws outside the early-stopping sample and the validation relations' pool."""
    from generation.matching.zsre import fresh_validation, unlabelled_pool

    ex = [EX.model_copy(update={"doc_id": f"d{i}", "relation_id": r}) for i, r in enumerate("AAAAABBBBC")]
    held = [ex[0], ex[5]]
    cfg = ZsreConfig(data="sample", seed=3, pseudo_label=1, pseudo_pool=2, choice_val_per_relation=10)
    pool = {e.doc_id for e in unlabelled_pool(ex, ["A", "B"], held, per_rel=2, seed=4)[0]}
    fresh = fresh_validation(cfg, ex, ["A", "B"], held)
    assert len(pool) == 4 and {e.doc_id for e in fresh} == {f"d{i}" for i in range(9)} - pool - {"d0", "d5"}
    assert all(e.relation_id in ("A", "B") for e in fresh)  # labelled: they are scored against their gold
    no_pool = fresh_validation(cfg.model_copy(update={"pseudo_label": 0}), ex, ["A", "B"], held)
    assert {e.doc_id for e in no_pool} == {f"d{i}" for i in range(9)} - {"d0", "d5"}
    assert len(fresh_validation(cfg.model_copy(update={"choice_val_per_relation": 1}), ex, ["A", "B"], [])) == 2


def test_fresh_validation_figure_is_recorded_and_rescoring_repeats_it(tiny_encoder, tmp_path):
    """The output scored on the validation relations' unread sentences (``choice_val_f1``): recorded by the run,
    the same when a saved model is rescored, unset when no sentence is left."""
    cfg = tiny_zsre(tiny_encoder, tmp_path / "t", model="sdzre", max_steps=2, batch_size=2, split="en", m=3,
                    n_val=20, eval_every=1, max_test_per_relation=1, choice_val_per_relation=5)  # fmt: skip
    r = run_zsre(cfg)
    assert r.choice_val_f1 is not None and 0 <= r.choice_val_f1 <= 1 and r.val_f1 is not None
    saved = str(tmp_path / "t" / "model")
    again = run_zsre(cfg.model_copy(update={"trained_model": saved, "out": str(tmp_path / "a")}))
    assert again.choice_val_f1 == pytest.approx(r.choice_val_f1)
    every = {"trained_model": saved, "max_val_per_relation": 2, "out": str(tmp_path / "e")}
    assert run_zsre(cfg.model_copy(update=every)).choice_val_f1 is None  # every validation sentence chose already
    assert run_zsre(cfg.model_copy(update={**every, "choice_val_per_relation": None})).choice_val_f1 is None


@pytest.mark.parametrize("model", ["zrcm", "sdzre"])
def test_self_training_round_trains_on_pseudo_labelled_pool_sentences(tiny_encoder, tmp_path, model):
    """--pseudo-label: a second round of --pseudo-steps on the pool's most confident sentences, validated like
    the first; the test sentences and the split stay those of the plain run."""
    cfg = tiny_zsre(tiny_encoder, tmp_path / "p", model=model, max_steps=2, split="en", m=20, n_val=3, eval_every=1,
                    max_test_per_relation=1, batch_size=2)  # fmt: skip
    plain = run_zsre(cfg)
    r = run_zsre(cfg.model_copy(update={"out": str(tmp_path / "s"), "pseudo_label": 1, "pseudo_steps": 3}))
    assert r.split == plain.split and r.test_examples == plain.test_examples and plain.pseudo is None
    assert r.pseudo is not None and 1 <= r.pseudo.test <= 20 and r.pseudo.val <= 3
    assert r.train_examples == plain.train_examples + r.pseudo.test + r.pseudo.val
    assert r.steps == 5 and [p.step for p in r.validation] == [0, 1, 2, 3, 4, 5]
    assert 0 <= r.pseudo.precision_test <= 1 and r.pseudo.first_round_step in (0, 1, 2)


def test_later_self_training_rounds_relabel_the_pool_and_replace_the_pseudo_labels(tiny_encoder, tmp_path):
    """--pseudo-rounds 3: every round relabels the pool from the checkpoint kept so far and trains --pseudo-steps
    more; the training set holds the last round's pseudo-labels only, not the sum of all rounds'."""
    cfg = tiny_zsre(tiny_encoder, tmp_path / "p", model="sdzre", max_steps=2, split="en", m=20, n_val=3,
                    eval_every=1, max_test_per_relation=1, batch_size=2)  # fmt: skip
    plain = run_zsre(cfg)
    r = run_zsre(cfg.model_copy(update={"out": str(tmp_path / "r"), "pseudo_label": 1, "pseudo_steps": 3,
                                        "pseudo_rounds": 3}))  # fmt: skip
    assert r.pseudo is not None and len(r.later_rounds) == 2
    assert r.steps == 11 and [p.step for p in r.validation] == list(range(12))
    last = r.later_rounds[-1]
    assert r.train_examples == plain.train_examples + last.test + last.val
    starts = [r.pseudo.first_round_step, *(p.first_round_step for p in r.later_rounds)]
    for n, (start, end) in enumerate(zip(starts, (2, 5, 8), strict=True)):
        best = max(r.validation[: end + 1], key=lambda p: p.val_f1).val_f1
        assert start <= end and r.validation[start].val_f1 == best, n  # the round began at the best so far
