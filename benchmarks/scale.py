"""Training time and peak memory as the world grows, and Spark batch scoring against the local path.

For each world (``HCPSxMONTHS``) it generates a fresh synthetic world into its own folder, then
trains on it with ``python -m engine train`` under ``/usr/bin/time -v`` (peak resident memory of
the training process alone: generation runs, and is measured, separately). On the first world it
then scores every HCP twice, ``--engine local`` and ``--engine spark --master local[2]``, and checks
that both give the same rows.

    python benchmarks/scale.py [--worlds 40000x18,80000x18,160000x18,300000x24] [--work DIR] [--json]

The default worlds are the default world (40,000 HCPs x 18 months) times 1, 2 and 4, then a large
brand's 300,000 HCPs x 24 months (about 12 million touches, 8 times the HCPs): about an hour on two
cores. Needs GNU time (Debian package ``time``) and, for Spark, Java 17.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_WORLDS = "40000x18,80000x18,160000x18,300000x24"
#: Bar of the issue: a 300,000-HCP, 24-month world trains in at most this peak memory.
MEMORY_BAR_GB = 12.0
GNU_TIME = "/usr/bin/time"


def measured(command: list[str], env: dict) -> tuple[str, float, float, float]:
    """Run ``command`` under GNU time: (stdout, wall seconds, peak resident GB, CPU seconds: user + system).

    On a shared machine the wall time follows the other jobs' load; the CPU seconds much less."""
    result = subprocess.run([GNU_TIME, "-v", *command], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-4000:])
        raise SystemExit(f"error: `{' '.join(command)}` exited with {result.returncode}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", result.stderr).group(1)
    seconds = sum(float(part) * 60 ** i for i, part in enumerate(reversed(wall.split(":"))))
    cpu = sum(float(re.search(rf"{kind} time \(seconds\): ([\d.]+)", result.stderr).group(1)) for kind in ("User", "System"))
    return result.stdout, seconds, peak_kb / 1024 ** 2, cpu


def world_env(folder: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2", DATABASE_URL=f"duckdb:///{folder}/nba.duckdb",
                ARTIFACTS_DIR=str(folder / "artifacts"), VAR_DIR=str(folder / "var"), CACHE_DIR=str(folder / "cache"))


def run_world(hcps: int, months: int, folder: Path, progress) -> dict:
    from engine.config import Settings

    env = world_env(folder)
    generate = [sys.executable, "-m", "engine", "generate", "--hcps", str(hcps), "--months", str(months),
                "--json", "--quiet"]
    abstracts = Settings.from_env().seed_dir / "pubmed_abstracts_2020_2025.csv"
    if abstracts.is_file():  # the default world's content, when the seed data is there
        generate += ["--abstracts", str(abstracts)]
    out, generate_seconds, generate_gb, _ = measured(generate, env)
    touches = int(json.loads(out)["interactions"])
    progress(f"{hcps:,} HCPs x {months} months: {touches:,} touches generated in {generate_seconds:.0f}s")
    out, train_seconds, peak_gb, cpu = measured([sys.executable, "-m", "engine", "train", "--json", "--quiet"], env)
    stages = json.loads(out).get("stage_seconds", {})
    progress(f"  trained in {train_seconds:.0f}s ({cpu:.0f} CPU seconds), peak {peak_gb:.2f} GB")
    return {"hcps": hcps, "months": months, "touches": touches, "train_seconds": round(train_seconds, 1),
            "train_cpu_seconds": round(cpu, 1), "peak_gb": round(peak_gb, 2),
            "gb_per_million_touches": round(peak_gb / (touches / 1e6), 3),
            "generate_seconds": round(generate_seconds, 1), "generate_peak_gb": round(generate_gb, 2),
            "stage_seconds": stages}


def compare_spark(folder: Path, master: str, progress) -> dict:
    """Score every HCP locally and on Spark; (equal rows, seconds of each)."""
    env = world_env(folder)
    seconds, frames = {}, {}
    for engine in ("local", "spark"):
        out_file = folder / f"recommendations-{engine}.parquet"
        command = [sys.executable, "-m", "engine", "score", "--all", "--engine", engine, "--master", master,
                   "--out", str(out_file), "--json", "--quiet"]
        started = time.perf_counter()
        out, _, _, _ = measured(command, env)
        seconds[engine] = round(time.perf_counter() - started, 1)
        frames[engine] = pd.read_parquet(out_file).sort_values(["hcp_id", "rank"]).reset_index(drop=True)
        progress(f"  score --engine {engine}: {json.loads(out)['rows']:,} rows in {seconds[engine]}s")
    try:
        pd.testing.assert_frame_equal(frames["spark"], frames["local"], check_dtype=False)
        equal = True
    except AssertionError as exc:
        progress(f"  spark differs from local: {str(exc)[:300]}")
        equal = False
    return {"spark_equal": equal, "spark_seconds": seconds["spark"], "local_seconds": seconds["local"]}


def parse_worlds(text: str) -> list[tuple[int, int]]:
    worlds = []
    for item in text.split(","):
        match = re.fullmatch(r"\s*(\d+)x(\d+)\s*", item)
        if not match:
            raise SystemExit(f"error: --worlds wants HCPSxMONTHS items separated by commas (got {item!r})")
        worlds.append((int(match.group(1)), int(match.group(2))))
    return worlds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", default=DEFAULT_WORLDS, help=f"HCPSxMONTHS, comma-separated (default {DEFAULT_WORLDS})")
    parser.add_argument("--work", type=Path, help="folder for the worlds (default: a temporary one, removed)")
    parser.add_argument("--master", default="local[2]", help="Spark master of the comparison (default local[2])")
    parser.add_argument("--no-spark", action="store_true", help="skip the Spark comparison")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)
    if not Path(GNU_TIME).is_file():
        raise SystemExit(f"error: {GNU_TIME} not found: install GNU time (Debian package `time`)")
    worlds = parse_worlds(args.worlds)

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    work = args.work or Path(tempfile.mkdtemp(prefix="nba-scale-"))
    out: dict = {"runs": [], "spark_equal": None, "spark_seconds": None, "local_seconds": None}
    try:
        for i, (hcps, months) in enumerate(worlds):
            folder = work / f"{hcps}x{months}"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            out["runs"].append(run_world(hcps, months, folder, progress))
            if i == 0 and not args.no_spark:
                out.update(compare_spark(folder, args.master, progress))
            shutil.rmtree(folder / "artifacts", ignore_errors=True)  # keep the disk for the next world
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    big = [r for r in out["runs"] if r["hcps"] >= 300_000]
    out["memory_ok"] = all(r["peak_gb"] <= MEMORY_BAR_GB for r in big) if big else None
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{'HCPs':>9} {'months':>6} {'touches':>11} {'train s':>8} {'CPU s':>7} {'peak GB':>8} {'GB/M touches':>13} "
          f"{'generate s':>11}")
    for r in out["runs"]:
        print(f"{r['hcps']:>9,} {r['months']:>6} {r['touches']:>11,} {r['train_seconds']:>8.0f} {r['train_cpu_seconds']:>7.0f} "
              f"{r['peak_gb']:>8.2f} {r['gb_per_million_touches']:>13.3f} {r['generate_seconds']:>11.0f}")
    if out["spark_equal"] is not None:
        print(f"spark equals local: {out['spark_equal']} (spark {out['spark_seconds']}s, local {out['local_seconds']}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
