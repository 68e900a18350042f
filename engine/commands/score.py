"""``python -m engine score``: batch-score HCPs (top-N after the business rules) into the store."""
from __future__ import annotations

import json
import sys
import tempfile
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
    parser.add_argument("--plans", type=Path, metavar="FILE", help="with --all: also every HCP's plan, to FILE.csv or FILE.parquet")
    parser.add_argument("--engine", choices=("local", "spark"), default="local",
                        help="local (default): this process; spark: Spark executors, partitioned by HCP (with --all)")
    parser.add_argument("--master", default="local[2]", help="Spark master (default local[2]; spark://host:7077)")
    parser.add_argument("--input", type=Path, metavar="DIR",
                        help="spark: read hcps, contents, interactions, feedback from DIR/<table>.parquet, not the store")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _check(args) -> None:
    if args.n < 1:
        raise CommandError(f"--n must be a positive integer (got {args.n})")
    for name in ("out", "plans"):
        path = getattr(args, name)
        if path is not None and path.suffix.lower() not in (".csv", ".parquet"):
            raise CommandError(f"--{name} must end in .csv or .parquet (got {path})")
    if args.plans is not None and not args.all:
        raise CommandError("--plans needs --all")
    if args.engine == "spark" and not args.all:
        raise CommandError("--engine spark scores every HCP: use it with --all")
    if args.input is not None:
        if args.engine != "spark":
            raise CommandError("--input is read by --engine spark only")
        missing = [t for t in ("hcps", "contents", "interactions", "feedback")
                   if not (args.input / f"{t}.parquet").exists()]
        if missing:
            raise CommandError(f"--input {args.input}: no {', '.join(f'{t}.parquet' for t in missing)}")


def _export(frame, path: Path, progress) -> None:
    from engine.service.export import csv_safe

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        frame.map(csv_safe).to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    progress("score", f"wrote {path}")


def _local(args, settings, progress):
    """(store, version, recommendations, plans or None) computed in this process."""
    from engine.service import NBAService, NoBundleError

    progress("score", "loading the store snapshot and the serving bundle")
    service = NBAService.from_settings(settings)
    if service.version is None:
        raise CommandError("no model bundle is loaded: train one with `python -m engine train`")
    if args.hcp:
        unknown = [h for h in args.hcp if service.hcp_profile(h) is None]
        if unknown:
            raise CommandError(f"unknown HCP(s): {', '.join(unknown)}")
    try:
        frame = service.score_all(n=args.n, hcp_ids=args.hcp, progress=progress)
        plans = service.plan_all(progress=progress) if args.plans is not None else None
    except NoBundleError as exc:
        raise CommandError(str(exc)) from exc
    return service.store, service.version, frame, plans


def _spark(args, settings, progress):
    """(store, version, recommendations, plans or None) computed on Spark executors."""
    from engine.bundles import BundleError
    from engine.data.store import Store
    from engine.service import spark

    store = Store(settings.database_url)
    staging = Path(settings.var_dir) / "spark"
    staging.mkdir(parents=True, exist_ok=True)
    session = spark.session(args.master)
    try:
        with tempfile.TemporaryDirectory(dir=staging) as exported:  # the store's tables, for a local master
            source = args.input or spark.export_store(store, Path(exported), progress)
            recommendations, plans = spark.score_and_plan(session, settings, store, source, n=args.n,
                                                          plans=args.plans is not None, progress=progress)
            frame = spark.to_pandas(recommendations, ["hcp_id", "rank"])
            plans = None if plans is None else spark.to_pandas(plans, ["hcp_id", "step"])
    except BundleError as exc:
        raise CommandError(str(exc)) from exc
    finally:
        session.stop()
    version = frame["bundle_version"].iloc[0] if len(frame) else None
    return store, version, frame, plans


def run(args, settings, progress) -> int:
    _check(args)
    started = time.perf_counter()
    store, version, frame, plans = (_spark if args.engine == "spark" else _local)(args, settings, progress)
    seconds = time.perf_counter() - started
    if args.all:
        store.replace({"recommendations": frame})  # atomic: readers see the old or the new table
        progress("score", f"stored {len(frame):,} recommendations for {frame['hcp_id'].nunique():,} HCPs "
                          f"(bundle {version}, {args.engine}) in {seconds:.1f}s")
    if args.out is not None:
        _export(frame, args.out, progress)
    if plans is not None:
        _export(plans, args.plans, progress)
    summary = {"version": version, "engine": args.engine, "hcps": int(frame["hcp_id"].nunique()),
               "rows": int(len(frame)), "n": args.n, "seconds": round(seconds, 3), "stored": bool(args.all),
               "out": None if args.out is None else str(args.out),
               "plans": None if args.plans is None else str(args.plans),
               "plan_rows": None if plans is None else int(len(plans))}
    if args.json:
        if args.hcp:
            summary["recommendations"] = json.loads(frame.to_json(orient="records"))
        print(json.dumps(summary))
    elif args.hcp:
        frame.to_csv(sys.stdout, index=False)
    else:
        print(f"scored {summary['hcps']} HCPs ({summary['rows']} rows) with bundle {summary['version']} "
              f"on {args.engine} in {summary['seconds']}s")
    return 0
