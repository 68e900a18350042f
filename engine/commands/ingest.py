"""``python -m engine ingest KIND FILE``: validate a real-format file and load it into the store."""
from __future__ import annotations

import json
import sys

from engine.cli import CommandError
from engine.data.ingest import KINDS, ingest_file
from engine.data.store import Store, StoreError
from engine.data.validation import ValidationError

HELP = "validate and load a file (NPPES/hcp_master CSV, PubMed CSV/XML, CRM interactions CSV, patients CSV)"


def add_arguments(parser) -> None:
    parser.add_argument("kind", choices=KINDS,
                        help="hcps: NPPES or hcp_master CSV; contents: PubMed CSV or efetch XML; "
                             "interactions: CRM export CSV; patients: patients CSV")
    parser.add_argument("file", help="path of the file to load")
    parser.add_argument("--append", action="store_true",
                        help="append to the table instead of replacing its rows")
    parser.add_argument("--allow-shrink", action="store_true",
                        help="let a replacing load empty the table or drop more than INGEST_MAX_SHRINK of its rows")
    parser.add_argument("--json", action="store_true", help="print one JSON object (counts and report) on stdout")
    parser.add_argument("--show", type=int, default=10, metavar="N", help="problems to list (default 10)")


def run(args, settings, progress) -> int:
    store = Store(settings.database_url)
    try:
        result = ingest_file(store, args.kind, args.file, replace=not args.append, progress=progress,
                             allow_shrink=args.allow_shrink, max_shrink=settings.ingest_max_shrink)
    except ValidationError as exc:
        report = exc.report
        if args.json:
            print(json.dumps({"ok": False, "kind": args.kind, "file": args.file, "reason": report.reason(),
                              "report": report.to_dict()}, default=str))
        print(report.summary(limit=args.show), file=sys.stderr)
        raise CommandError(f"{report.reason()} (nothing was loaded)") from exc
    except StoreError as exc:
        raise CommandError(f"loading {args.file} failed, nothing was changed: {exc}") from exc
    if args.json:
        print(json.dumps({"ok": True, **result}, default=str))
        return 0
    report = result["report"]
    print(f"{result['kind']}: {result['rows_loaded']} of {result['rows_read']} rows loaded from {args.file} "
          f"({result['mode']}; table now {result['table_rows']} rows, {result['seconds']:.1f}s)")
    for key, value in report["stats"].items():
        print(f"  {key}: {value}")
    for rule, count in report["warnings_by_rule"].items():
        print(f"  warning: {rule}: {count}")
    for problem in report["problems"][: args.show]:
        print(f"    row {problem['row']}, column {problem['column']!r}: {problem['rule']} (value {problem['value']!r})")
    return 0
