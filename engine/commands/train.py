"""``python -m engine train``: fit topics, collaborative, sequence and hybrid models, evaluate, write a bundle."""
from __future__ import annotations

import json
from pathlib import Path

from engine.cli import CommandError
from engine.models.data import PROTOCOLS

HELP = "train every model on the store (or a CRM export), evaluate it and write a new model bundle"


def add_arguments(parser) -> None:
    parser.add_argument("--protocol", choices=PROTOCOLS, default="temporal",
                        help="held-out protocol of the evaluation (default temporal)")
    parser.add_argument("--interactions", metavar="FILE.csv",
                        help="train on a plain CRM interaction export instead of the store (no text, no oracle)")
    parser.add_argument("--epochs", type=int, help="epochs of the sequence and hybrid networks (default: per model)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def run(args, settings, progress) -> int:
    from engine.bundles import BundleError, read_manifest
    from engine.data.validation import ValidationError
    from engine.models.pipeline import train_pipeline

    if args.epochs is not None and args.epochs < 1:
        raise CommandError(f"--epochs must be at least 1 (got {args.epochs})")
    if args.interactions and not Path(args.interactions).is_file():
        raise CommandError(f"--interactions: {args.interactions} is not a file")
    try:
        version = train_pipeline(settings, protocol=args.protocol, interactions_file=args.interactions,
                                 epochs=args.epochs, progress=progress)
    except ValidationError as exc:
        raise CommandError(f"invalid interaction export: {exc}") from exc
    except BundleError as exc:
        raise CommandError(str(exc)) from exc
    manifest = read_manifest(settings.artifacts_dir, version)
    models = manifest["metrics"].get("models", {})
    if args.json:
        print(json.dumps({"version": version, "protocol": manifest["protocol"],
                          "stage_seconds": manifest.get("stage_seconds", {}),
                          "metrics": {name: {k: v for k, v in row.items() if k != "calibration"}
                                      for name, row in models.items()}}))
        return 0
    print(f"bundle {version} ({manifest['protocol']})")
    keys = ("ndcg@10", "recall@10", "value_ratio@10", "channel_accuracy", "engagement_auc", "gap_mae_days")
    print(f"{'model':22s}" + "".join(f"{k:>17s}" for k in keys))
    for name, row in models.items():
        cells = "".join(f"{row.get(k):>17.4f}" if isinstance(row.get(k), float) else f"{'-':>17s}" for k in keys)
        print(f"{name:22s}{cells}")
    return 0
