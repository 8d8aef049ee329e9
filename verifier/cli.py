"""The ``verifier`` command line: argparse subcommands that parse flags and call one typed function each.

Heavy modules (torch, transformers, polars) are imported inside the handlers, so ``verifier --help``
starts fast and imports no torch. Bad input ends with one line ``path:line: field: message`` on stderr
and exit code 2; unexpected errors keep their traceback (exit 1).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

log = logging.getLogger("verifier")

EXIT_USAGE = 2
DATASETS = ("duie", "fewrel", "wikizsl", "sample")


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING - 10 * verbosity
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpx2", "httpcore", "openai"):  # one line per request drowns the progress bar
        logging.getLogger(noisy).setLevel(max(logging.WARNING, level))


# ---------------------------------------------------------------- data


def cmd_data_stats(args: argparse.Namespace) -> int:
    from verifier.data.stats import dataset_stats, format_table, split_stats

    rows = []
    for ds in args.data:
        rows += [split_stats(ds, args.split, args.data_dir)] if args.split else dataset_stats(ds, args.data_dir)
    if not rows:
        print(f"no split of {', '.join(args.data)} found; try `verifier data fetch`", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps([r.model_dump() for r in rows], ensure_ascii=False, indent=2))
    else:
        print(format_table(rows))
    return 0


def cmd_data_fetch(args: argparse.Namespace) -> int:
    from verifier.data.fetch import fetch
    from verifier.data.paths import cache_data_dir

    root = args.data_dir or cache_data_dir()
    for p in fetch(args.dataset, root, force=args.force):
        print(f"ok  {p}")
    return 0


def cmd_data_export(args: argparse.Namespace) -> int:
    from itertools import islice

    from verifier.data.catalog import load_split
    from verifier.io import write_jsonl

    records = load_split(args.data, args.split, args.data_dir)
    n = write_jsonl(args.out, islice(records, args.limit) if args.limit else records)
    print(f"wrote {n} gold records to {args.out}")
    return 0


# ---------------------------------------------------------------- models


def cmd_models_pull(args: argparse.Namespace) -> int:
    from verifier.provision.registry import pull

    for name in args.names:
        path = pull(name, force=args.force)
        print(f"{name}: {path}")
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    from verifier.provision.registry import list_models

    rows = list_models()
    if args.json:
        print(json.dumps([r.model_dump() for r in rows], indent=2))
        return 0
    print(f"{'alias':<20} {'kind':<17} {'status':<9} hub / path")
    for r in rows:
        status = "ready" if r.path else "missing"
        print(f"{r.alias:<20} {r.kind:<17} {status:<9} {r.path or r.hub}")
        if not r.path:
            print(f"{'':<48} offline source: {r.source}")
    return 0


def cmd_models_verify(args: argparse.Namespace) -> int:
    from verifier.provision.registry import verify

    bad = 0
    for name in args.names:
        verdict = verify(name)
        print(f"{name}: {verdict}")
        bad += "MISMATCH" in verdict or verdict == "not available"
    return 1 if bad else 0


# ---------------------------------------------------------------- generate


def cmd_generate(args: argparse.Namespace) -> int:
    from generation.run import generate

    cfg = _config(args)
    s = generate(cfg)
    print(
        f"{s.generator}: {s.documents_done} documents done ({s.documents_skipped_done} already done), "
        f"{s.documents_failed} failed, {s.rows_written} rows -> {s.output}"
    )
    if s.by_corruption:
        print("negatives by corruption: " + ", ".join(f"{k}={v}" for k, v in sorted(s.by_corruption.items())))
    return 1 if s.documents_failed else 0


# ---------------------------------------------------------------- train


def cmd_train(args: argparse.Namespace) -> int:
    from verifier.config import ConfigError
    from verifier.train import train

    cfg = _config(args)
    if not cfg.candidates:
        raise ConfigError("--candidates is required (training groups JSONL)")
    s = train(cfg)
    fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
    best = s.best
    print(
        f"trained {s.steps} steps on {s.train_groups} groups ({s.device}, {s.wall_s} s); "
        f"best text AUC {fmt(best and best.text_auc)}, anchor AUC {fmt(best and best.anchor_auc)} "
        f"at step {best and best.step} -> {cfg.out}/best"
    )
    return 0


# ---------------------------------------------------------------- filter / calibrate / eval


def cmd_filter(args: argparse.Namespace) -> int:
    from verifier.filter import run_filter
    from verifier.io import write_json

    cfg = _config(args)
    s = run_filter(cfg)
    write_json(f"{cfg.out}.summary.json", s)
    tau2 = "off" if s.tau2 is None else f"{s.tau2:.4f}"
    per = f", {s.per_relation_tau1} relations with their own tau1" if s.per_relation_tau1 else ""
    print(
        f"kept {s.kept} of {s.rows} ({s.gate}: tau1={s.tau1:.4f}{per}, tau2={tau2}; rejected "
        f"{s.rejected}; {s.turned_around} turned around) at {s.triples_per_s} triples/s -> {cfg.out}"
    )
    return 0


def cmd_judge(args: argparse.Namespace) -> int:
    from generation.judge import run_judge
    from verifier.io import write_json

    cfg = _config(args)
    s = run_judge(cfg)
    write_json(f"{cfg.out}.summary.json", s)
    print(
        f"judged {s.rows} candidates with {s.model} ({s.undecided} without a yes/no token) at "
        f"{s.triples_per_s} triples/s; P(yes) >= 0.5 for {s.kept} -> {cfg.out}"
    )
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from verifier.calibration import run_calibrate

    r = run_calibrate(_config(args))
    if r.decision is not None:
        dec, thr = r.decision, r.decision.thresholds
        coef = ", ".join(f"{f} {c:+.2f}" for f, c in zip(dec.features, dec.coef, strict=True))
        turned = f"; turned around with margin {dec.orient_margin:g}" if dec.orient_margin is not None else ""
        if dec.orient_f1:
            turned += " (calibration F1 by margin: " + ", ".join(f"{k} {v:.3f}" for k, v in dec.orient_f1.items()) + ")"
        print(
            f"p_correct >= {thr.tau1:.4f} ({len(thr.per_relation)} relations with their own tau1, tau2 off){turned}: "
            f"P={thr.precision:.4f} R={thr.recall:.4f} F1={thr.f1:.4f} on {thr.n} candidates, base rate "
            f"{dec.base_rate:.3f}; C {dec.c:g}; coefficients {coef} -> {r.path}"
        )
        return 0
    t = r.thresholds
    assert t is not None
    print(
        f"tau1={t.tau1:.4f} tau2={t.tau2:.4f} ({len(t.per_relation)} relations with their own tau1): "
        f"P={t.precision:.4f} R={t.recall:.4f} F1={t.f1:.4f} on {t.n} candidates -> {r.path}"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from verifier.demo import run_demo

    cfg = _config(args)
    r = run_demo(cfg)
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    row = lambda name, m: f"  {name:<22} P={m.precision:.3f} R={m.recall:.3f} F1={m.f1:.3f}"  # noqa: E731
    paper = r.eval_llm_paper_gate
    before = r.eval_llm.before or {}
    print(f"\nLLM candidates ({r.llm.candidates} from {r.llm.documents_done} test sentences):")
    for mode in ("strict", "soft"):
        b, a = before[mode], r.eval_llm.after[mode]
        print(f" {mode} match")
        print(row("raw", b))
        if paper is not None:
            print(row("paper gate (S_st,S_tt)", paper.after[mode]))
        print(row("calibrated decision" if r.decision else "paper gate (S_st,S_tt)", a))
    b, a = before["strict"], r.eval_llm.after["strict"]
    if r.decision:
        print(
            f"  decision: p_correct >= {r.decision.thresholds.tau1:.3f}, fitted on {r.calibration_llm.candidates} LLM "
            f"candidates of the calibration sentences (base rate {r.decision.base_rate:.2f})"
        )
    if a.f1 > b.f1:
        print(
            f"  the filter raised strict F1 {100 * b.f1:.1f} -> {100 * a.f1:.1f} (precision "
            f"{100 * b.precision:.1f} -> {100 * a.precision:.1f}) on {r.llm.candidates} candidates: "
            "few, so read it as a demonstration; docs/results.md has the 580-candidate figures"
        )
    else:
        print(
            "  the filter did NOT raise strict F1 on these candidates: the model the demo trains in its few CPU "
            "minutes is too weak to help here (docs/results.md has what a full CPU run reaches); do not read this as "
            "a result"
        )
    auc = r.eval_groups.auc or {}
    print(f"synthetic test groups: text AUC {fmt(auc.get('text'))}, anchor AUC {fmt(auc.get('anchor'))}")
    print(
        f"ROC: {cfg.out}/eval_groups/roc.png and {cfg.out}/eval_llm/roc.png; "
        f"metrics: {cfg.out}/eval_llm/metrics.json, {cfg.out}/demo_summary.json"
    )
    return 0


def cmd_zsre(args: argparse.Namespace) -> int:
    from generation.matching.zsre import run_zsre

    cfg = _config(args)
    r = run_zsre(cfg, train=args.action == "train")
    m = r.macro
    print(
        f"{r.model} on {r.data} m={r.m} seed={r.seed}: macro P={m.precision:.4f} R={m.recall:.4f} "
        f"F1={m.f1:.4f}, micro accuracy {r.micro_accuracy:.4f} ({r.test_examples} test sentences, "
        f"{r.inference_sentences_per_s} sentences/s) -> {cfg.out}/metrics.json"
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from eval.report import run_eval

    cfg = _config(args)
    scorer = None
    if cfg.probe and cfg.model:
        from eval.report import ProbeScorer
        from verifier.filter import load_for_inference, score_rows

        model = load_for_inference(cfg.model)
        scorer = ProbeScorer(
            score=lambda rows: score_rows(model, rows, lexicon=cfg.lexicon), mask_token=model.encoder.mask_token
        )
    m = run_eval(cfg, scorer)
    a = m.after["strict"]
    line = f"filtered (strict): P={a.precision:.4f} R={a.recall:.4f} F1={a.f1:.4f}"
    if m.before is not None:
        b = m.before["strict"]
        line = f"raw (strict): P={b.precision:.4f} R={b.recall:.4f} F1={b.f1:.4f}; " + line
    if m.auc is not None:
        fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
        line += f"; AUC text {fmt(m.auc.get('text'))}, anchor {fmt(m.auc.get('anchor'))}"
    print(line)
    written = sorted(p.name for p in Path(cfg.out).iterdir() if p.suffix in (".png", ".json", ".md"))
    print(f"written to {cfg.out}: {', '.join(written)}")  # what this run wrote, not what it could have
    return 0


# ---------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    """argparse with the project's error contract: one line ``error: ...`` and exit code 2 (argparse's own
    prints a usage block first); subcommand parsers inherit it."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see `{self.prog} --help`)\n")


def _config(args: argparse.Namespace):
    """The stage config of this subcommand (its class set by :func:`_stage_parser`) from ``--config`` and flags."""
    from verifier.config import config_from_args

    return config_from_args(args.stage_config, args)


def _stage_parser(
    sub: argparse._SubParsersAction, name: str, help: str, cls: type, func, input_help: str | None = None
) -> argparse.ArgumentParser:
    """A stage's subcommand: one flag per field of its config ``cls``, ``--config`` for a TOML file whose
    ``[cls.section]`` table the flags override, and the positional ``input`` when ``input_help`` is given."""
    from verifier.config import add_config_flags

    p = sub.add_parser(name, help=help)
    if input_help:
        p.add_argument("input", help=input_help)
    article = "an" if cls.section[0] in "aeiou" else "a"
    p.add_argument("--config", help=f"TOML file with {article} [{cls.section}] table; flags override it")
    add_config_flags(p, cls, skip=("input",) if input_help else ())
    p.set_defaults(func=func, stage_config=cls)
    return p


def build_parser() -> argparse.ArgumentParser:
    from verifier import __version__

    p = _Parser(
        prog="verifier",
        description="Generate candidate triples with LLMs, verify them with CACRE, filter and evaluate.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=1, help="more logging (-vv for debug)")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data = sub.add_parser("data", help="datasets: stats, fetch, export").add_subparsers(
        dest="data_command", metavar="ACTION", required=True
    )
    data_dir_help = "data directory (default: $VERIFIER_DATA, then ../shared/data, then the user cache)"
    s = data.add_parser("stats", help="sentences, triples and relations per split")
    s.add_argument("--data", nargs="+", choices=DATASETS, required=True)
    s.add_argument("--split", help="one split only")
    s.add_argument("--data-dir", help=data_dir_help)
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.set_defaults(func=cmd_data_stats)
    f = data.add_parser("fetch", help="download official files (needs internet) and verify checksums")
    f.add_argument("dataset", choices=("duie", "fewrel"))
    f.add_argument("--data-dir", help="target directory (default: the user cache)")
    f.add_argument("--force", action="store_true", help="download again even if present")
    f.set_defaults(func=cmd_data_fetch)
    e = data.add_parser("export", help="write a split as gold JSONL (GoldRecord schema)")
    e.add_argument("--data", choices=DATASETS, required=True)
    e.add_argument("--split", required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--limit", type=int, help="first N records only")
    e.add_argument("--data-dir", help=data_dir_help)
    e.set_defaults(func=cmd_data_export)

    models = sub.add_parser("models", help="offline models: pull, list, verify").add_subparsers(
        dest="models_command", metavar="ACTION", required=True
    )
    m = models.add_parser("pull", help="provision a model offline into the user cache")
    m.add_argument("names", nargs="+", metavar="NAME", help="e5-small, minilm, qwen2.5-coder-0.5b, qwen2.5-coder-1.5b")
    m.add_argument("--force", action="store_true", help="rebuild even if present")
    m.set_defaults(func=cmd_models_pull)
    m = models.add_parser("list", help="what is provisioned and where")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_models_list)
    m = models.add_parser("verify", help="re-check provisioned models (sha256 / parity)")
    m.add_argument("names", nargs="+", metavar="NAME")
    m.set_defaults(func=cmd_models_verify)

    from eval.report import EvalConfig
    from generation.judge import JudgeConfig
    from generation.matching.zsre import ZsreConfig
    from generation.run import GenerateConfig
    from verifier.calibration import CalibrateConfig
    from verifier.config import TrainConfig
    from verifier.demo import DemoConfig
    from verifier.filter import FilterConfig

    stages = (  # (subcommand, help, config, handler, help of the positional input or None)
        ("generate", "generate candidate triples (llm.v1 with DeepSeek/Qwen/local, perturb.v1)", GenerateConfig,
         cmd_generate, None),
        ("train", "train the CACRE verifier (or the BCE baseline) on candidate groups", TrainConfig, cmd_train, None),
        ("filter", "score candidates and keep those the calibrated gate passes", FilterConfig, cmd_filter,
         "candidate JSONL"),
        ("judge", "LLM-as-judge baseline: P(yes) that the text supports each candidate", JudgeConfig, cmd_judge,
         "candidate JSONL"),
        ("calibrate", "choose the gate on labelled candidates (thresholds.json or decision.json)", CalibrateConfig,
         cmd_calibrate, None),
        ("eval", "P/R/F1 (strict, soft), ROC/AUC, PR, histograms, probes", EvalConfig, cmd_eval, None),
        ("zsre", "zero-shot RE harness: train a matcher on seen relations, evaluate on unseen", ZsreConfig, cmd_zsre,
         None),
        ("demo", "the whole pipeline on the shipped sample corpus, offline, on CPU", DemoConfig, cmd_demo, None),
    )  # fmt: skip
    built = {row[0]: _stage_parser(sub, *row) for row in stages}
    built["zsre"].add_argument("action", choices=["train", "eval"], help="train then evaluate, or evaluate only")
    return p


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _traceback_if_verbose(args: argparse.Namespace) -> None:
    """A user error is one line; with ``-v`` its traceback comes first (for a bug report)."""
    if getattr(args, "verbose", 1) > 1 and not getattr(args, "quiet", False):
        import traceback

        traceback.print_exc()


def main(argv: Sequence[str] | None = None) -> int:
    # Before torch creates its first oneDNN primitive: the default cache keeps one primitive (with its packed
    # weights and scratchpad) per distinct input shape, up to 1024, and variable-length batches make every step
    # a new shape; a CPU training run grew by about 0.6 GB a minute until OOM-killed (docs/results.md, section 0).
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "64")
    os.environ.setdefault("LRU_CACHE_CAPACITY", "16")
    # SIGTERM (a scheduler's stop, `kill`) unwinds like Ctrl-C: the atomic writers remove their temp files and
    # nothing half-written is left behind (SIGKILL cannot be caught; resume covers it)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(-1 if args.quiet else args.verbose)
    from verifier.config import ConfigError
    from verifier.io import InputError

    try:
        return int(args.func(args) or 0)
    except (InputError, ConfigError) as e:
        _traceback_if_verbose(args)
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except FileNotFoundError as e:  # a path the user named; any other exception is a bug and keeps its traceback
        _traceback_if_verbose(args)
        where = f"{e.filename}: {e.strerror}" if e.filename else str(e)  # a message-only error has no filename
        print(f"error: {where}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
