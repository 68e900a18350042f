"""``python -m engine bundles list|validate VERSION|set-current VERSION``: inspect and switch bundles."""
from __future__ import annotations

import json

from engine.bundles import (BundleError, bundle_dir, current_version, list_versions, read_manifest, set_current,
                            validate_bundle)
from engine.cli import CommandError

HELP = "list model bundles, validate one, or point 'current' at one"


def add_arguments(parser) -> None:
    parser.add_argument("action", choices=("list", "validate", "set-current"), help="what to do")
    parser.add_argument("version", nargs="?", help="bundle version (validate, set-current)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _summary(artifacts_dir, version: str, current: str | None) -> dict:
    try:
        manifest = read_manifest(artifacts_dir, version)
    except BundleError as exc:
        return {"version": version, "current": version == current, "error": str(exc)}
    hybrid = (manifest.get("metrics") or {}).get("models", {}).get("hybrid", {})
    return {"version": version, "current": version == current, "created": manifest.get("created"),
            "protocol": manifest.get("protocol"), "data_fingerprint": manifest.get("data_fingerprint"),
            "components": sorted(manifest.get("components", {})), "hybrid_ndcg@10": hybrid.get("ndcg@10")}


def run(args, settings, progress) -> int:
    root = settings.artifacts_dir
    if args.action != "list" and not args.version:
        raise CommandError(f"bundles {args.action}: give a VERSION (see `python -m engine bundles list`)")
    if args.action == "list":
        current = current_version(root)
        rows = [_summary(root, v, current) for v in reversed(list_versions(root))]
        result = {"artifacts_dir": str(root), "current": current, "versions": rows}
        text = "\n".join(
            f"{'*' if r['current'] else ' '} {r['version']}  {r.get('created') or '-':25}  "
            f"{r.get('protocol') or '-':15} ndcg@10 {r['hybrid_ndcg@10'] if r.get('hybrid_ndcg@10') is not None else '-'}"
            + (f"  ERROR {r['error']}" if "error" in r else "")
            for r in rows) or f"no bundles in {root}"
        code = 0
    elif args.action == "validate":
        try:
            path = bundle_dir(root, args.version)
        except BundleError as exc:
            raise CommandError(str(exc)) from exc
        problems = validate_bundle(path, key=settings.bundle_signing_key)
        result = {"version": args.version, "valid": not problems, "problems": problems}
        text = f"bundle {args.version}: " + ("valid" if not problems else "INVALID\n  " + "\n  ".join(problems))
        code = 0 if not problems else 1
    else:
        previous = current_version(root)
        try:
            set_current(root, args.version, key=settings.bundle_signing_key)
        except BundleError as exc:
            raise CommandError(str(exc)) from exc
        result = {"previous": previous, "current": args.version}
        text = f"current: {previous or '-'} -> {args.version}"
        code = 0
    print(json.dumps(result) if args.json else text)
    return code
