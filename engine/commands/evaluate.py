"""``python -m engine evaluate``: re-evaluate a bundle's models and the baselines on its held-out data.

The data is the bundle's own (recorded when it was trained), not the store's: evaluation works
after ``train --interactions`` and gives the same split whatever the store holds later.
"""
from __future__ import annotations

import json

from engine.bundles import BundleError, load_bundle
from engine.cli import CommandError
from engine.evaluation import evaluate_models, format_report
from engine.models.base import Recommender
from engine.models.baselines import fit_baselines
from engine.models.hybrid import HybridModel
from engine.models.data import PROTOCOLS, RecordedFrames, load_oracle, make_split, truth_fingerprint

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
    """The bundle's components that are Recommenders (collaborative, sequence, hybrid ...), and the
    hybrid without each of its parts (the ablation)."""
    models = {name: comp for name, comp in bundle.components.items() if isinstance(comp, Recommender)}
    if isinstance(models.get("hybrid"), HybridModel):
        models.update(models["hybrid"].ablations())
    return models


def recorded_data(bundle, split: dict, protocol: str, settings, progress):
    """``(data, oracle, notes)``: the bundle's own training split, rebuilt from the frames it
    recorded, the world truth to evaluate against (or ``None``) and the notes on them.

    The store is not read: it may have changed, or never held the data (``train --interactions``).
    The world truth (oracle) is used only when it is the one the bundle was trained with.
    """
    recorded = bundle.components.get("data")
    if not isinstance(recorded, RecordedFrames):
        raise CommandError(f"bundle {bundle.version} does not record the data it was trained on (written by an "
                           "older version): retrain with `python -m engine train`")
    notes = []
    oracle = None
    expected_truth = bundle.manifest.get("truth_fingerprint")
    if expected_truth is not None:
        if truth_fingerprint(settings.artifacts_dir) == expected_truth:
            oracle = load_oracle(settings.artifacts_dir)
        else:
            notes.append(f"the world truth in {settings.artifacts_dir} is not the one bundle {bundle.version} was "
                         "trained with: the oracle and value_ratio are left out")
    data = make_split(recorded.frames(), protocol=protocol, progress=progress, **split)
    expected = bundle.manifest.get("data_fingerprint")
    if expected is not None and expected != data.fingerprint:
        raise CommandError(f"bundle {bundle.version}: its recorded data has fingerprint {data.fingerprint}, its "
                           f"manifest says {expected}; the bundle is damaged: retrain")
    return data, oracle, notes


def run(args, settings, progress) -> int:
    try:
        bundle = load_bundle(settings.artifacts_dir, args.version, key=settings.bundle_signing_key)
    except BundleError as exc:
        raise CommandError(str(exc)) from exc
    split = split_parameters(bundle.manifest)
    protocol = check_protocol(split.pop("protocol"), args.protocol, bundle.version)
    if args.k <= 0:
        raise CommandError(f"--k must be positive (got {args.k})")
    data, oracle, notes = recorded_data(bundle, split, protocol, settings, progress)
    if "topics" in bundle.components:
        topics = bundle.topics
        doc_topics = getattr(topics, "doc_topics_", None)
        data.content_topics = (doc_topics if doc_topics is not None and len(doc_topics) == data.n_contents
                               else topics.transform(data.content_text))
    models = {**fit_baselines(data, progress), **bundle_models(bundle)}
    report = evaluate_models(data, models, k=args.k, progress=progress, oracle=oracle)
    report["version"] = bundle.version
    report["source"] = (bundle.manifest.get("parameters") or {}).get("source", "store")
    report["notes"].extend(notes)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"bundle {bundle.version} (trained from {report['source']})")
        print(format_report(report))
    return 0
