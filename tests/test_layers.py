"""The floors of the house (README "Layout"): every import, module-level or inside a function, points down a floor
or stays inside one stage; the library never imports experiments or tests."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("verifier", "generation", "eval")

ENTRY = {"verifier.cli", "verifier.demo", "verifier.calibration", "verifier.__main__"}
"""Floor 3: parse flags, call stages (``calibration`` joins the verifier stage's scoring and eval's fitting)."""
KERNEL_PREFIXES = (
    "verifier.schema",
    "verifier.config",
    "verifier.io",
    "verifier.data",
    "verifier.lexicon",
    "verifier.provision",
    "verifier.decision",
    "verifier.metrics",
    "verifier.align",
    "verifier.model.encoder",
    "verifier.model.persistence",
    "verifier.model.inputs",
    "verifier.model.configs",
    "verifier.loop",
)
"""Floor 1: contracts and what several stages share (records, config, IO, data, lexicons, the thresholds and the
gate, metrics and matching, the encoder wrapper and model files, input text transforms, the training loop)."""


def floor(module: str) -> tuple[int, str]:
    """(floor, stage) of a project module; the stage names the floor-2 room (generation, eval, verifier)."""
    if module in ENTRY:
        return 3, "entry"
    if module == "verifier" or module.startswith(KERNEL_PREFIXES):
        return 1, "kernel"
    return 2, module.split(".")[0]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


def violations(files: list[tuple[str, Path]]) -> list[str]:
    """Imports of (module name, file) pairs that run up a floor, across floor-2 stages, or into non-library code."""
    wrong = []
    for src, path in files:
        f_src, stage_src = floor(src)
        for target in imports(path):
            top = target.split(".")[0]
            if top in ("experiments", "tests", "bench"):
                wrong.append(f"{src} -> {target} (the library never imports {top})")
                continue
            if top not in PACKAGES:
                continue
            f_dst, stage_dst = floor(target)
            if f_dst > f_src or (f_src == f_dst == 2 and stage_src != stage_dst):
                wrong.append(f"{src} (floor {f_src}, {stage_src}) -> {target} (floor {f_dst}, {stage_dst})")
    return wrong


def test_every_import_points_down_or_stays_in_its_stage():
    files = [(module_name(p), p) for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    assert len(files) > 40
    wrong = violations(files)
    assert not wrong, "imports that run up a floor or across stages:\n" + "\n".join(wrong)


def test_the_floor_map_knows_every_kernel_module():
    """A kernel prefix that names no file would silently stop checking."""
    for prefix in KERNEL_PREFIXES:
        rel = Path(*prefix.split("."))
        assert (ROOT / rel.with_suffix(".py")).exists() or (ROOT / rel).is_dir(), prefix


def test_the_checker_catches_an_upward_a_sideways_and_a_hidden_import(tmp_path):
    f = tmp_path / "m.py"
    f.write_text(
        "import numpy\nfrom verifier.schema import Triple\n"
        "def late():\n    from verifier.filter import run_filter\n    import experiments.common\n",
        encoding="utf-8",
    )
    assert violations([("verifier.schema", f)]) == [
        "verifier.schema (floor 1, kernel) -> verifier.filter (floor 2, verifier)",
        "verifier.schema -> experiments.common (the library never imports experiments)",
    ]
    assert violations([("eval.report", f)]) == [
        "eval.report (floor 2, eval) -> verifier.filter (floor 2, verifier)",
        "eval.report -> experiments.common (the library never imports experiments)",
    ]
    assert violations([("verifier.cli", f)]) == [
        "verifier.cli -> experiments.common (the library never imports experiments)"
    ]
