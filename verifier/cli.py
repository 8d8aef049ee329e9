"""The ``verifier`` command line: argparse subcommands that parse flags and call one typed function each.

Heavy modules (torch, transformers, polars) are imported inside the handlers, so ``verifier --help``
starts fast and imports no torch. Bad input ends with one line ``path:line: field: message`` on stderr
and exit code 2; unexpected errors keep their traceback (exit 1).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence

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
    from generation.run import GenerateConfig, generate
    from verifier.config import config_from_args

    cfg = config_from_args(GenerateConfig, args)
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
    from verifier.config import ConfigError, config_from_args
    from verifier.train import TrainConfig, train

    cfg = config_from_args(TrainConfig, args)
    if not cfg.candidates:
        raise ConfigError("--candidates is required (training groups JSONL)")
    s = train(cfg)
    best = s.get("best") or {}
    fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
    print(
        f"trained {s['steps']} steps on {s['train_groups']} groups ({s['device']}, {s['wall_s']} s); "
        f"best text AUC {fmt(best.get('text_auc'))}, anchor AUC {fmt(best.get('anchor_auc'))} "
        f"at step {best.get('step')} -> {cfg.out}/best"
    )
    return 0


# ---------------------------------------------------------------- later stages


def _not_yet(stage: str, issue: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        print(f"verifier {stage}: not available in this version yet ({issue})", file=sys.stderr)
        return EXIT_USAGE

    return handler


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    from verifier import __version__

    p = argparse.ArgumentParser(
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

    from generation.run import GenerateConfig
    from verifier.config import add_config_flags

    g = sub.add_parser("generate", help="generate candidate triples (llm.v1 with DeepSeek/Qwen/local, perturb.v1)")
    g.add_argument("--config", help="TOML file with a [generate] table; flags override it")
    add_config_flags(g, GenerateConfig)
    g.set_defaults(func=cmd_generate)

    from verifier.config import TrainConfig

    t = sub.add_parser("train", help="train the CACRE verifier (or the BCE baseline) on candidate groups")
    t.add_argument("--config", help="TOML file with a [train] table; flags override it")
    add_config_flags(t, TrainConfig)
    t.set_defaults(func=cmd_train)

    for stage, issue, help_ in (
        ("filter", "filter stage", "score candidates and keep those above tau1/tau2"),
        ("calibrate", "filter stage", "choose tau1/tau2 on labelled candidates"),
        ("eval", "evaluation stage", "P/R/F1, ROC/AUC and plots"),
    ):
        sp = sub.add_parser(stage, help=f"{help_} (coming)")
        sp.set_defaults(func=_not_yet(stage, issue), accepts_extra=True)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    _setup_logging(-1 if args.quiet else args.verbose)
    from verifier.config import ConfigError
    from verifier.io import InputError

    try:
        return int(args.func(args) or 0)
    except (InputError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (FileNotFoundError, KeyError) as e:
        msg = e.args[0] if e.args else str(e)
        print(f"error: {msg}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
