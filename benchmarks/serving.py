"""Benchmark serving: top-10 latency (uncached, cached), naive per-item scoring, batch scoring.

    python benchmarks/serving.py [--json] [--requests 500] [--naive-hcps 2] [--store]

Uses the store and bundles of the environment (``DATABASE_URL``, ``ARTIFACTS_DIR``, ``CACHE_DIR``,
``REDIS_URL``): run ``python -m engine bootstrap`` (or generate + train) first. Measures
``NBAService.recommend(hcp, 10)`` with the cache bypassed (model + business rules + reasons)
and from the cache, the same HCPs scored the naive way (one network call per content item,
:func:`naive_engagement`), and batch scoring of every HCP (``--store`` also writes the
``recommendations`` table like ``python -m engine score --all``).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from engine.config import CHANNELS, Settings  # noqa: E402
from engine.models.activations import sigmoid  # noqa: E402
from engine.models.hybrid import network_from_scorer  # noqa: E402
from engine.models.scorer import HCP_TABLES  # noqa: E402
from engine.progress import QUIET, Progress  # noqa: E402
from engine.service import NBAService  # noqa: E402
from report import print_result  # noqa: E402


def naive_engagement(scorer, network, hcp_idx: int) -> np.ndarray:
    """``[n_contents, n_channels]`` engagement of one HCP computed the naive way: one call of the
    Keras ``network`` (:func:`engine.models.hybrid.network_from_scorer`) per content item."""
    hcp = {name: scorer.layers[name][0][hcp_idx:hcp_idx + 1] for name in HCP_TABLES}
    logits = np.empty((len(scorer.content_ids), len(CHANNELS)), dtype=np.float32)
    for i in range(len(scorer.content_ids)):
        out = network({**hcp, "content": np.array([i], dtype=np.int32), "channel": np.zeros(1, dtype=np.int32),
                       "freshness": scorer.freshness[i:i + 1]}, training=False)
        logits[i] = np.asarray(out["logits"])[0]
    return sigmoid(logits)


def percentile_ms(seconds: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(seconds) * 1000, q)), 3)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="timed requests per measurement")
    parser.add_argument("--naive-hcps", type=int, default=2, help="HCPs scored the naive way")
    parser.add_argument("--store", action="store_true", help="write the batch result to the recommendations table")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    progress = QUIET if args.json else Progress()
    settings = Settings.from_env()

    t0 = time.perf_counter()
    svc = NBAService.from_settings(settings)
    startup = time.perf_counter() - t0
    if svc.version is None:
        print("error: no model bundle: run `python -m engine bootstrap` first", file=sys.stderr)
        return 1
    serving = svc.state.current().serving
    scorer = serving.bundle.scorer
    rng = np.random.default_rng(args.seed)
    known = serving.hcp_index.index.intersection(serving.snapshot.hcps["hcp_id"].astype(str)).to_numpy()
    sample = rng.choice(known, size=min(args.requests, len(known)), replace=False)
    progress("serving", f"bundle {svc.version}: {len(known):,} HCPs, {len(serving.content_ids):,} contents; "
                        f"service start {startup:.2f}s")

    for hcp_id in sample[:20]:  # warm-up: first-call allocations, imports
        svc.recommend(hcp_id, n=10, use_cache=False)
    uncached, scorer_only = [], []
    for hcp_id in sample:
        t = time.perf_counter()
        svc.recommend(hcp_id, n=10, use_cache=False)
        uncached.append(time.perf_counter() - t)
        t = time.perf_counter()
        scorer.score(int(serving.hcp_index[hcp_id]))
        scorer_only.append(time.perf_counter() - t)
    for hcp_id in sample:
        svc.recommend(hcp_id, n=10)  # fill the cache
    cached = []
    for hcp_id in sample:
        t = time.perf_counter()
        svc.recommend(hcp_id, n=10)
        cached.append(time.perf_counter() - t)
    progress("serving", f"recommend p95 uncached {percentile_ms(uncached, 95)} ms, "
                        f"cached {percentile_ms(cached, 95)} ms")

    naive, fast, max_diff = [], [], 0.0
    network = network_from_scorer(scorer) if args.naive_hcps else None
    for hcp_id in sample[:args.naive_hcps]:
        idx = int(serving.hcp_index[hcp_id])
        t = time.perf_counter()
        slow = naive_engagement(scorer, network, idx)
        naive.append(time.perf_counter() - t)
        t = time.perf_counter()
        fast_scores = scorer.score(idx)
        fast.append(time.perf_counter() - t)
        max_diff = max(max_diff, float(np.abs(slow - fast_scores.engagement).max()))
        progress("naive", f"HCP {hcp_id}: {naive[-1] * 1000:.0f} ms naive vs {fast[-1] * 1000:.2f} ms")
    naive_ms = float(np.mean(naive) * 1000) if naive else None

    t = time.perf_counter()
    batch = svc.score_all(n=10, progress=progress)
    batch_seconds = time.perf_counter() - t
    if args.store:
        svc.store.replace({"recommendations": batch})

    p50 = percentile_ms(uncached, 50)
    result = {
        "version": svc.version, "hcps": int(len(serving.snapshot.hcps)), "hcps_in_bundle": int(len(known)),
        "contents": int(len(serving.content_ids)), "requests": int(len(sample)),
        "service_start_seconds": round(startup, 2), "cache_backend": svc.cache.backend_name,
        "p50_ms_uncached": p50, "p95_ms_uncached": percentile_ms(uncached, 95),
        "p99_ms_uncached": percentile_ms(uncached, 99),
        "p50_ms_cached": percentile_ms(cached, 50), "p95_ms_cached": percentile_ms(cached, 95),
        "p50_ms_scorer_only": percentile_ms(scorer_only, 50), "p95_ms_scorer_only": percentile_ms(scorer_only, 95),
        "naive_hcps": len(naive), "naive_ms_per_hcp": None if naive_ms is None else round(naive_ms, 1),
        "fast_ms_same_hcps": round(float(np.mean(fast) * 1000), 3) if fast else None,
        "speedup_vs_naive": None if naive_ms is None else round(naive_ms / p50, 1),
        "naive_max_abs_diff": max_diff,
        "batch_all_seconds": round(batch_seconds, 2), "batch_rows": int(len(batch)),
        "batch_hcps": int(batch["hcp_id"].nunique()) if len(batch) else 0, "stored": bool(args.store),
        "bars": {"p95_uncached_le_5ms": percentile_ms(uncached, 95) <= 5.0,
                 "p95_cached_le_1ms": percentile_ms(cached, 95) <= 1.0, "batch_le_20s": batch_seconds <= 20.0},
    }
    print_result(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
