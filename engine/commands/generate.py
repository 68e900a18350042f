"""``python -m engine generate``: build a synthetic world, load it into the store, save its truth."""
from __future__ import annotations

import json
import time
from pathlib import Path

from engine.cli import CommandError
from engine.data.store import Store
from engine.synth import WorldConfig, generate_world

HELP = "generate a synthetic HCP world with ground truth and load it into the store"


def add_arguments(parser) -> None:
    parser.add_argument("--hcps", type=int, default=40_000, help="number of HCPs (default 40000)")
    parser.add_argument("--months", type=int, default=18, help="simulated months (default 18)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--contents", type=int, default=500, help="generated content items (default 500)")
    parser.add_argument("--start", default="2024-01-01", help="first day of the period (default 2024-01-01)")
    parser.add_argument("--hcp-master", type=Path, help="real HCP master CSV to sample HCPs from")
    parser.add_argument("--abstracts", type=Path, help="real PubMed CSV (PMID, Title, Abstract, Topic)")
    parser.add_argument("--patients", type=Path,
                        help="seed patients CSV (default with --hcp-master: patients_with_hcp.csv next to it)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _format(summary: dict) -> str:
    lines = [
        f"World {summary['period']['start']} .. {summary['period']['end']}: {summary['hcps']:,} HCPs, "
        f"{summary['contents']:,} contents, {summary['campaigns']:,} campaigns, "
        f"{summary['interactions']:,} interactions, {summary['patients']:,} patients",
        f"Engagement {summary['engagement_rate']:.1%}   oracle AUC {summary['oracle_auc']:.3f}   "
        f"touches/HCP mean {summary['touches_per_hcp']['mean']} (p50 {summary['touches_per_hcp']['p50']:g}, "
        f"p90 {summary['touches_per_hcp']['p90']:g})",
        "By channel:   " + "  ".join(f"{c} {r:.1%}" for c, r in summary["engagement_by_channel"].items()),
        "By specialty: " + "  ".join(f"{s} {r:.1%}" for s, r in summary["engagement_by_specialty"].items()),
        f"Generated in {summary['seconds']:.1f}s, loaded in {summary['load_seconds']:.1f}s; "
        f"truth in {summary['truth_dir']}",
    ]
    return "\n".join(lines)


def run(args, settings, progress) -> int:
    for name in ("hcp_master", "abstracts", "patients"):
        path = getattr(args, name)
        if path is not None and not path.is_file():
            raise CommandError(f"--{name.replace('_', '-')}: file not found: {path}")
    patients = args.patients
    if patients is None and args.hcp_master is not None:
        sibling = args.hcp_master.parent / "patients_with_hcp.csv"
        patients = sibling if sibling.is_file() else None
    try:
        cfg = WorldConfig(n_hcps=args.hcps, months=args.months, seed=args.seed, hcp_master=args.hcp_master,
                          abstracts=args.abstracts, patients=patients, start=args.start, n_contents=args.contents)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    world = generate_world(cfg, progress=progress)
    t0 = time.perf_counter()
    progress("store", f"loading into {settings.database_url.split('://')[0]} (one transaction)")
    world.load_into(Store(settings.database_url))
    load_seconds = time.perf_counter() - t0
    truth_dir = world.save_truth(Path(settings.artifacts_dir) / "world")
    progress("truth", f"written to {truth_dir}")
    summary = world.summary()
    summary.update(load_seconds=round(load_seconds, 2), truth_dir=str(truth_dir), seed=args.seed, months=args.months)
    if args.json:
        print(json.dumps(summary))
    else:
        print(_format(summary))
    return 0
