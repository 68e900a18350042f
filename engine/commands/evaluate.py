"""``python -m engine evaluate``: re-evaluate a bundle's models and the baselines on its held-out data."""
from __future__ import annotations

import json

import numpy as np

from engine.bundles import BundleError, load_bundle
from engine.cli import CommandError
from engine.data.store import Store
from engine.evaluation import evaluate_models, format_report
from engine.models.base import Recommender
from engine.models.baselines import fit_baselines
from engine.models.data import PROTOCOLS, load_frames, load_oracle, make_split

HELP = "evaluate the current (or a given) bundle against the baselines and the oracle"

#: Split parameters recorded in a bundle, with the defaults used when a manifest lacks them.
SPLIT_DEFAULTS = {"holdout_days": 90, "valid_days": 30, "seed": 0, "cutoff": None}


def add_arguments(parser) -> None:
    parser.add_argument("--protocol", choices=PROTOCOLS,
                        help="evaluation protocol (default: the one the bundle was trained with; "
                             "another one is refused because the bundle trained on its held-out items)")
    parser.add_argument("--version", help="bundle version (default: current)")
    parser.add_argument("--k", type=int, default=10, help="cut-off of the ranking metrics (default 10)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def split_parameters(manifest: dict) -> dict:
    """The split a bundle was trained on: ``parameters["split"]`` (or top-level parameter keys)."""
    params = manifest.get("parameters") or {}
    recorded = params.get("split") if isinstance(params.get("split"), dict) else params
    out = {key: recorded.get(key, default) for key, default in SPLIT_DEFAULTS.items()}
    out["protocol"] = manifest.get("protocol") or recorded.get("protocol") or "temporal"
    return out


def check_protocol(bundle_protocol: str, requested: str | None, version: str) -> str:
    """The protocol to evaluate; refuses one whose held-out items the bundle was trained on."""
    if requested is None or requested == bundle_protocol:
        return bundle_protocol
    raise CommandError(f"bundle {version} was trained with protocol {bundle_protocol!r}: its training data "
                       f"contains the items {requested!r} holds out, so that evaluation would be leaked. "
                       f"Train a bundle with `python -m engine train --protocol {requested}` first")


def bundle_models(bundle) -> dict[str, Recommender]:
    """The bundle's components that are Recommenders (collaborative, sequence, hybrid ...)."""
    return {name: comp for name, comp in bundle.components.items() if isinstance(comp, Recommender)}


def run(args, settings, progress) -> int:
    try:
        bundle = load_bundle(settings.artifacts_dir, args.version)
    except BundleError as exc:
        raise CommandError(str(exc)) from exc
    split = split_parameters(bundle.manifest)
    protocol = check_protocol(split.pop("protocol"), args.protocol, bundle.version)
    if args.k <= 0:
        raise CommandError(f"--k must be positive (got {args.k})")
    frames = load_frames(Store(settings.database_url), progress)
    data = make_split(frames, protocol=protocol, oracle=load_oracle(settings.artifacts_dir), progress=progress,
                      **split)
    fingerprint = bundle.manifest.get("data_fingerprint")
    matches = fingerprint is None or fingerprint == data.fingerprint
    source = (bundle.manifest.get("parameters") or {}).get("source", "store")
    if not matches and source != "store":
        raise CommandError(f"bundle {bundle.version} was trained from {source}, not from the store; ingest that "
                           "file first (its recorded metrics are in `python -m engine bundles list`)")
    if "scorer" in bundle.components:
        for kind, attr in (("HCPs", "hcp_ids"), ("contents", "content_ids")):
            ours, theirs = getattr(data, attr), getattr(bundle.scorer, attr, None)
            if theirs is not None and (len(theirs) != len(ours) or (np.asarray(theirs).astype(str) != ours).any()):
                raise CommandError(f"the store's {kind} ({len(ours):,}) differ from bundle {bundle.version}'s "
                                   f"({len(theirs):,}): retrain with `python -m engine train`")
    if "topics" in bundle.components:
        topics = bundle.topics
        doc_topics = getattr(topics, "doc_topics_", None)
        data.content_topics = (doc_topics if doc_topics is not None and len(doc_topics) == data.n_contents
                               else topics.transform(data.content_text))
    models = {**fit_baselines(data, progress), **bundle_models(bundle)}
    report = evaluate_models(data, models, k=args.k, progress=progress)
    report["version"] = bundle.version
    report["data_matches_training"] = matches
    if not report["data_matches_training"]:
        report["notes"].append("the store changed since this bundle was trained; the split is rebuilt with the "
                               "recorded cutoff, so held-out data stays unseen")
    if args.json:
        print(json.dumps(report))
    else:
        print(f"bundle {bundle.version}")
        print(format_report(report))
    return 0
