"""The package works installed from its wheel, outside a checkout: prompts, lexicons and the sample corpus travel
as package data."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _has_setuptools(major: int, minor: int) -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    parts = setuptools.__version__.split(".")
    return (int(parts[0]), int(parts[1])) >= (major, minor)


def test_the_wheel_carries_its_resources_and_generates_outside_the_checkout(tmp_path):
    wheels = tmp_path / "wheels"
    # the venv's own setuptools when it has a new enough one (offline); else pip's isolated build (PyPI)
    offline = ["--no-build-isolation"] if _has_setuptools(70, 1) else []
    cmd = [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(wheels), *offline]
    subprocess.run(cmd, check=True, cwd=tmp_path)
    (wheel,) = wheels.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"prompts/extract.zh.v1.md", "prompts/lexicon/duie.zh.v1.json", "prompts/cacre.zh.v1.md"} <= names
    assert not any(n.startswith(("tests/", "experiments/", "bench/")) for n in names)
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)], check=True
    )
    env = {k: v for k, v in os.environ.items() if k not in ("VERIFIER_PROMPTS", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)  # ahead of the editable checkout on sys.path
    work = tmp_path / "elsewhere"
    work.mkdir()
    code = (
        "import sys, verifier, prompts; from verifier.lexicon import prompts_dir; from verifier.cli import main\n"
        "print(verifier.__file__); print(prompts_dir())\n"
        "sys.exit(main(['generate', '--generator', 'perturb.v1', '--data', 'sample', '--limit', '3', "
        "'--out', 'groups.jsonl']))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    module_file, prompts = r.stdout.splitlines()[:2]
    assert Path(module_file).is_relative_to(site) and Path(prompts).is_relative_to(site)
    rows = [json.loads(line) for line in (work / "groups.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows and {r["role"] for r in rows} >= {"anchor", "positive", "negative"}
