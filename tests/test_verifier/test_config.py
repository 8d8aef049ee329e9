from pathlib import Path

import pytest
from pydantic import Field

from verifier.config import ConfigError, StageConfig, cache_dir, resolve_config, save_resolved


class ToyConfig(StageConfig):
    section = "toy"
    lr: float = 1e-4
    """Learning rate."""
    tau2: float = Field(0.5, ge=-1, le=1)
    """Triple-triple threshold."""


def test_defaults_toml_then_flags(tmp_path: Path):
    p = tmp_path / "c.toml"
    p.write_text("[toy]\nlr = 0.01\ntau2 = 0.2\n", encoding="utf-8")
    cfg = resolve_config(ToyConfig, p, {"tau2": 0.3, "lr": None})
    assert (cfg.lr, cfg.tau2) == (0.01, 0.3)
    assert ToyConfig.field_help("lr") == "Learning rate."


def test_flat_toml_and_errors_name_the_flag(tmp_path: Path):
    p = tmp_path / "c.toml"
    p.write_text("lr = 0.5\n", encoding="utf-8")
    assert resolve_config(ToyConfig, p).lr == 0.5
    with pytest.raises(ConfigError, match=r"--tau2: .*less than or equal to 1"):
        resolve_config(ToyConfig, None, {"tau2": 3})
    with pytest.raises(ConfigError, match="unknown config key 'lrr'"):
        resolve_config(ToyConfig, None, {"lrr": 3})


def test_resolved_config_is_saved_beside_artifacts(tmp_path: Path):
    path = save_resolved(ToyConfig(), tmp_path)
    assert '"tau2": 0.5' in path.read_text(encoding="utf-8")


def test_cache_dir_honours_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("VERIFIER_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("VERIFIER_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x" / "verifier"


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--tau", "-0.07", "greater than 0"),
        ("--tau", "nan", "finite"),
        ("--lr", "nan", "finite"),
        ("--lr", "0", "greater than 0"),
        ("--encoder-lr", "inf", "finite"),
        ("--w", "1.5", "less than or equal"),
    ],
)
def test_train_refuses_nonsense_hyperparameters_before_doing_anything(tmp_path, capsys, flag, value, message):
    from verifier.cli import main

    out = tmp_path / "run"
    assert main(["train", "--candidates", str(tmp_path / "none.jsonl"), "--out", str(out), flag, value]) == 2
    err = capsys.readouterr().err
    assert flag in err and message in err and not out.exists()


def test_train_with_no_groups_or_a_missing_cuda_is_a_usage_error_that_writes_nothing(tmp_path, capsys):
    import torch

    from verifier.cli import main

    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    out = tmp_path / "run"
    assert main(["train", "--candidates", str(empty), "--out", str(out)]) == 2
    assert "no complete group" in capsys.readouterr().err and not out.exists()
    if not torch.cuda.is_available():
        from tests.test_verifier.test_filter import row
        from verifier.io import write_jsonl

        groups = tmp_path / "g.jsonl"
        write_jsonl(
            groups,
            [
                row("d", "雨巷", "作者", "戴望舒", "anchor", "g"),
                row("d", "戴望舒", "创作", "雨巷", "positive", "g"),
                row("d", "雨巷", "主演", "戴望舒", "negative", "g"),
            ],
        )
        assert (
            main(["train", "--candidates", str(groups), "--val", str(groups), "--out", str(out), "--device", "cuda"])
            == 2
        )
        assert "no CUDA device" in capsys.readouterr().err and not out.exists()


def test_train_config_nests_the_model_config_from_flat_flags(tmp_path: Path):
    from verifier.config import TrainConfig
    from verifier.model.configs import BceConfig, CacreConfig, FusionConfig

    cpu = resolve_config(TrainConfig, None, {"preset": "cpu", "tau": 0.05, "fusion_layers": None})
    assert isinstance(cpu.model, FusionConfig)
    assert (cpu.model.fusion_layers, cpu.model.tau, cpu.model.text_prefix) == (6, 0.05, "passage: ")
    assert cpu.model.local_mode == "align" and not hasattr(cpu, "fusion_layers")  # declared once: in the model
    assert cpu.model.entity_markers and not FusionConfig().entity_markers  # the recipes mark mentions; the paper not
    assert not resolve_config(TrainConfig, None, {"preset": "cpu", "entity_markers": False}).model.entity_markers
    assert isinstance(TrainConfig(preset="cpu", interaction="paper").model, CacreConfig)  # markers left out there
    paper = TrainConfig(interaction="paper", fusion_layers=4, max_text_length=96)
    assert isinstance(paper.model, CacreConfig)  # --fusion-layers means nothing to the paper's module: left out
    assert (paper.model.local_mode, paper.model.max_text_length) == ("position", 96)
    assert isinstance(TrainConfig(cross_attention=False).model, CacreConfig)  # CACRE-att, whichever reading
    bce = TrainConfig(head="bce", max_text_length=96, max_triple_length=32, tau=0.1)
    assert isinstance(bce.model, BceConfig) and bce.model.max_length == 128
    # the resolved file is nested and loads back; an older flat one still loads
    again = TrainConfig.model_validate_json(save_resolved(cpu, tmp_path).read_text(encoding="utf-8"))
    assert again == cpu
    flat = {**cpu.model.model_dump(exclude={"model_type", "hidden_size"}), "head": "cacre", "local_mode": None}
    assert TrainConfig(**flat).model == cpu.model


def test_train_toml_model_table_and_nested_errors_name_the_flag(tmp_path: Path):
    from verifier.config import TrainConfig

    p = tmp_path / "t.toml"
    p.write_text('[train]\nbatch_size = 8\n[train.model]\nmodel_type = "bce"\nmax_length = 99\n', encoding="utf-8")
    cfg = resolve_config(TrainConfig, p)
    assert (cfg.head, cfg.model.model_type, cfg.model.max_length, cfg.batch_size) == ("bce", "bce", 99, 8)
    p.write_text('[train.model]\nmodel_type = "fusion"\nfusion_layer = 4\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown config key 'fusion_layer' for \[train.model\]"):
        resolve_config(TrainConfig, p)
    with pytest.raises(ConfigError, match=r"--fusion-layers: .*greater than or equal to 1"):
        resolve_config(TrainConfig, None, {"fusion_layers": 0})
    with pytest.raises(ConfigError, match=r"--tau: .*greater than 0"):
        resolve_config(TrainConfig, None, {"tau": 0})


def test_every_flag_of_every_stage_has_help_text():
    import importlib

    stages = ["verifier.config", "generation.run", "verifier.filter", "eval.report", "verifier.demo"]
    stages.append("generation.matching.zsre")
    configs = [
        c
        for m in stages
        for c in vars(importlib.import_module(m)).values()
        if isinstance(c, type) and issubclass(c, StageConfig) and c.__module__ == m and c is not StageConfig
    ]
    assert len(configs) >= 6
    fields = [(c.__name__, k, i) for c in configs for k, i in c.flag_fields().items()]
    bare = [f"{c}.{k}" for c, k, i in fields if not (i.description or "").strip()]
    assert not bare, "flags whose --help says nothing (give the field a docstring): " + ", ".join(bare)
