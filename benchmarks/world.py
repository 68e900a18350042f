"""Benchmark the synthetic world: generation and store-load time, sizes, realism figures.

    python benchmarks/world.py [--json] [--hcps N --months M --seed S] [--database-url URL]

Generates the world (default 40,000 HCPs x 18 months), loads it into a store (a temporary
DuckDB file unless ``--database-url`` is given) and prints generation seconds, load seconds, rows
per table, oracle AUC, engagement by channel and top specialties, touches per HCP.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.data.store import Store  # noqa: E402
from engine.progress import QUIET, Progress  # noqa: E402
from engine.synth import WorldConfig, generate_world  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hcps", type=int, default=40_000)
    parser.add_argument("--months", type=int, default=18)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", help="store to load into (default: a temporary DuckDB file)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    progress = QUIET if args.json else Progress()

    world = generate_world(WorldConfig(n_hcps=args.hcps, months=args.months, seed=args.seed), progress=progress)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(args.database_url or f"duckdb:///{Path(tmp) / 'bench.duckdb'}")
        t0 = time.perf_counter()
        store.replace(world.frames())
        load_seconds = time.perf_counter() - t0
        rows = {name: store.count(name) for name in world.frames()}
        t0 = time.perf_counter()
        truth = world.save_truth(Path(tmp) / "world")
        truth_seconds = time.perf_counter() - t0
        truth_bytes = sum(p.stat().st_size for p in truth.iterdir())
    summary = world.summary()
    result = {
        "hcps": args.hcps, "months": args.months, "seed": args.seed,
        "generation_seconds": round(world.seconds, 2), "store_load_seconds": round(load_seconds, 2),
        "truth_save_seconds": round(truth_seconds, 2), "truth_megabytes": round(truth_bytes / 1e6, 1),
        "rows": rows, **{k: summary[k] for k in ("oracle_auc", "engagement_rate", "engagement_by_channel",
                                                   "channel_share", "engagement_by_specialty", "touches_per_hcp",
                                                   "period")},
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"World {args.hcps:,} HCPs x {args.months} months (seed {args.seed})")
    print(f"  generation      {result['generation_seconds']:8.1f} s")
    print(f"  store load      {result['store_load_seconds']:8.1f} s")
    print(f"  truth save      {result['truth_save_seconds']:8.1f} s  ({result['truth_megabytes']} MB)")
    print("  rows            " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
    print(f"  oracle AUC      {result['oracle_auc']:.3f}   engagement {result['engagement_rate']:.1%}")
    print("  by channel      " + "  ".join(f"{c} {r:.1%} (share {summary['channel_share'][c]:.0%})"
                                          for c, r in summary["engagement_by_channel"].items()))
    print("  top specialties " + "  ".join(f"{s} {r:.1%}" for s, r in summary["engagement_by_specialty"].items()))
    t = summary["touches_per_hcp"]
    print(f"  touches/HCP     mean {t['mean']}  p50 {t['p50']:g}  p90 {t['p90']:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
