"""Benchmark the full training pipeline: wall time, peak memory, per-stage seconds, key metrics.

Runs ``python -m engine train`` as a child process on the current store (``DATABASE_URL``,
``ARTIFACTS_DIR`` from the environment) and measures its wall time and its peak resident memory
(``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``). Per-stage seconds and metrics come from the
manifest of the bundle it wrote.

    python benchmarks/train.py [--protocol temporal] [--epochs N] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: Bars of the product brief: full training ≤ 5 minutes, ≤ 6 GB peak memory.
WALL_BAR_S = 300.0
MEMORY_BAR_GB = 6.0
KEY_METRICS = ("ndcg@10", "recall@10", "value_ratio@10", "channel_accuracy", "engagement_auc",
               "engagement_log_loss", "gap_mae_days")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default="temporal")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)

    from engine.bundles import read_manifest
    from engine.config import Settings

    settings = Settings.from_env()
    command = [sys.executable, "-m", "engine", "train", "--json", "--protocol", args.protocol]
    if args.epochs:
        command += ["--epochs", str(args.epochs)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=None, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        print(f"error: `{' '.join(command)}` exited with {result.returncode}", file=sys.stderr)
        return result.returncode
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2  # ru_maxrss is KiB on Linux
    version = json.loads(result.stdout)["version"]
    manifest = read_manifest(settings.artifacts_dir, version)
    models = manifest["metrics"]["models"]
    out = {
        "version": version,
        "protocol": args.protocol,
        "sizes": {k: manifest["parameters"].get(k) for k in ("n_hcps", "n_contents", "n_interactions")},
        "wall_seconds": round(wall, 1),
        "peak_memory_gb": round(peak_gb, 2),
        "bars": {"wall_ok": wall <= WALL_BAR_S, "memory_ok": peak_gb <= MEMORY_BAR_GB},
        "stage_seconds": manifest.get("stage_seconds", {}),
        "metrics": {name: {k: row.get(k) for k in KEY_METRICS} for name, row in models.items()},
    }
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"bundle {version}: {out['sizes']}")
    print(f"wall {wall:.1f}s (bar {WALL_BAR_S:.0f}s), peak memory {peak_gb:.2f} GB (bar {MEMORY_BAR_GB} GB)")
    print("stages: " + ", ".join(f"{k} {v:.1f}s" for k, v in out["stage_seconds"].items()))
    print(f"{'model':22s}" + "".join(f"{k:>20s}" for k in KEY_METRICS))
    for name, row in out["metrics"].items():
        print(f"{name:22s}" + "".join(f"{v:>20.4f}" if isinstance(v, float) else f"{'-':>20s}" for v in row.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
