"""``python -m engine score``: batch-score HCPs (top-N after the business rules) into the store."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from engine.cli import CommandError

HELP = "batch-score every HCP (top-N after the business rules) into the recommendations table"


def add_arguments(parser) -> None:
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--all", action="store_true", help="score every HCP in the store")
    who.add_argument("--hcp", action="append", metavar="NPI", help="score this HCP (repeatable; prints, stores nothing)")
    parser.add_argument("--n", type=int, default=10, help="recommendations per HCP (default 10)")
    parser.add_argument("--out", type=Path, help="also export to FILE.csv or FILE.parquet")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def run(args, settings, progress) -> int:
    from engine.service import NBAService, NoBundleError
    from engine.service.export import csv_safe

    if args.n < 1:
        raise CommandError(f"--n must be a positive integer (got {args.n})")
    if args.out is not None and args.out.suffix.lower() not in (".csv", ".parquet"):
        raise CommandError(f"--out must end in .csv or .parquet (got {args.out})")
    progress("score", "loading the store snapshot and the serving bundle")
    service = NBAService.from_settings(settings)
    if service.version is None:
        raise CommandError("no model bundle is loaded: train one with `python -m engine train`")
    if args.hcp:
        unknown = [h for h in args.hcp if service.hcp_profile(h) is None]
        if unknown:
            raise CommandError(f"unknown HCP(s): {', '.join(unknown)}")
    started = time.perf_counter()
    try:
        frame = service.score_all(n=args.n, hcp_ids=args.hcp, progress=progress)
    except NoBundleError as exc:
        raise CommandError(str(exc)) from exc
    seconds = time.perf_counter() - started
    if args.all:
        service.store.replace({"recommendations": frame})  # atomic: readers see the old or the new table
        progress("score", f"stored {len(frame):,} recommendations for {frame['hcp_id'].nunique():,} HCPs "
                          f"(bundle {service.version}) in {seconds:.1f}s")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if args.out.suffix.lower() == ".csv":
            frame.map(csv_safe).to_csv(args.out, index=False)
        else:
            frame.to_parquet(args.out, index=False)
        progress("score", f"wrote {args.out}")
    summary = {"version": service.version, "hcps": int(frame["hcp_id"].nunique()), "rows": int(len(frame)),
               "n": args.n, "seconds": round(seconds, 3), "stored": bool(args.all),
               "out": None if args.out is None else str(args.out)}
    if args.json:
        if args.hcp:
            summary["recommendations"] = json.loads(frame.to_json(orient="records"))
        print(json.dumps(summary))
    elif args.hcp:
        frame.to_csv(sys.stdout, index=False)
    else:
        print(f"scored {summary['hcps']} HCPs ({summary['rows']} rows) with bundle {summary['version']} "
              f"in {summary['seconds']}s")
    return 0
