"""Benchmark the plans: every HCP's plan checked against the raw store, plus speed.

    python benchmarks/plan.py [--json] [--requests 300] [--horizon-days N]

Uses the store and bundles of the environment (``DATABASE_URL``, ``ARTIFACTS_DIR``, ``AS_OF``, ...):
run ``python -m engine bootstrap`` first. Plans every HCP with ``NBAService.plan_all`` (timed), then
audits them with pandas straight from the store's tables, independently of the rules' code:

- ``opted_out_steps``: steps on a channel the HCP did not consent to;
- ``cap_violations``: planned touches after which some cap window ``(t - CAP_DAYS, t]`` holds more
  touches of the channel (past interactions, accepted feedback and planned steps) than its cap;
- ``approval_violations``: steps outside their content's approval window on the step's date;
- ``first_step_top_share``: share of HCPs whose step 1 is their top recommendation (``score_all``);
- ``multi_channel_share``: share of planned HCPs whose plan uses at least two channels.

Then times ``NBAService.plan`` for one HCP (cache bypassed): ``p95_ms_one_hcp``.
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
import pandas as pd  # noqa: E402

from engine.config import CHANNELS, Settings  # noqa: E402
from engine.progress import QUIET, Progress  # noqa: E402
from engine.service import NBAService  # noqa: E402
from engine.service.live import reasoning_instant  # noqa: E402
from report import print_result  # noqa: E402


def audit(plans: pd.DataFrame, svc: NBAService, settings: Settings) -> dict:
    """Rule violations of ``plans`` (NBAService.PLAN_COLUMNS) checked against the store's tables."""
    store = svc.store
    as_of = pd.Timestamp(svc.as_of())
    now = reasoning_instant(as_of)
    hcps = store.read("hcps").set_index("hcp_id")
    contents = store.read("contents").set_index("content_id")
    steps = plans.assign(at=pd.to_datetime(plans["date"]).map(reasoning_instant))
    consent = np.array([bool(hcps.at[h, f"consent_{c}"]) for h, c in zip(steps["hcp_id"], steps["channel"])])
    start = pd.to_datetime(contents["approval_start"]).reindex(steps["content_id"]).to_numpy()
    end = pd.to_datetime(contents["approval_end"]).reindex(steps["content_id"]).to_numpy()
    day = pd.to_datetime(steps["date"]).dt.normalize().to_numpy()
    outside = (~pd.isna(start) & (day < start)) | (~pd.isna(end) & (day > end))

    window_start = now - pd.Timedelta(days=settings.cap_days)
    past = store.query('SELECT hcp_id, channel, "timestamp" AS at FROM interactions WHERE "timestamp" > ? '
                       'AND "timestamp" <= ?', [window_start.to_pydatetime(), now.to_pydatetime()])
    accepted = store.query("SELECT hcp_id, channel, planned_at AS at FROM feedback WHERE action = 'accept' "
                           "AND planned_at IS NOT NULL")
    touches = pd.concat([past.assign(planned=False), accepted.assign(planned=False),
                         steps[["hcp_id", "channel", "at"]].assign(planned=True)], ignore_index=True)
    touches["at"] = pd.to_datetime(touches["at"])
    touches = touches.sort_values(["hcp_id", "channel", "at"], kind="stable").reset_index(drop=True)
    violations = 0
    window = pd.Timedelta(days=settings.cap_days).to_timedelta64()
    for (_, channel), group in touches.groupby(["hcp_id", "channel"], sort=False):
        if not group["planned"].any():
            continue
        at = group["at"].to_numpy()
        ends = at[group["planned"].to_numpy()]
        counts = np.searchsorted(at, ends, side="right") - np.searchsorted(at, ends - window, side="right")
        violations += int((counts > settings.contact_caps.get(channel, np.iinfo(np.int32).max)).sum())

    top = svc.score_all(n=1)
    first = plans[plans["step"] == 1].merge(top, on="hcp_id", how="outer", suffixes=("_plan", "_top"))
    same = (first["content_id_plan"] == first["content_id_top"]) & (first["channel_plan"] == first["channel_top"])
    channels = plans.groupby("hcp_id")["channel"].nunique()
    return {
        "opted_out_steps": int((~consent).sum()), "cap_violations": violations,
        "approval_violations": int(outside.sum()),
        "first_step_top_share": round(float(same.mean()), 4) if len(first) else None,
        "multi_channel_share": round(float((channels >= 2).mean()), 4) if len(channels) else None,
        "steps_per_plan": round(float(plans.groupby("hcp_id").size().mean()), 2) if len(plans) else 0.0,
        "channel_share": {c: round(float((plans["channel"] == c).mean()), 4) for c in CHANNELS},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="timed single-HCP plans")
    parser.add_argument("--horizon-days", type=int, default=None, help="plan horizon (default PLAN_HORIZON_DAYS)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    progress = QUIET if args.json else Progress()
    settings = Settings.from_env()
    svc = NBAService.from_settings(settings)
    if svc.version is None:
        print("error: no model bundle: run `python -m engine bootstrap` first", file=sys.stderr)
        return 1
    hcp_ids = svc.search_hcps(page_size=1)["total"]
    progress("plan", f"bundle {svc.version}, {hcp_ids:,} HCPs, as of {svc.as_of()}")

    t = time.perf_counter()
    plans = svc.plan_all(horizon_days=args.horizon_days, progress=progress)
    all_seconds = time.perf_counter() - t
    progress("plan", f"{len(plans):,} steps for {plans['hcp_id'].nunique():,} HCPs in {all_seconds:.1f}s")

    ids = plans["hcp_id"].unique()
    sample = np.random.default_rng(args.seed).choice(ids, size=min(args.requests, len(ids)), replace=False)
    for hcp_id in sample[:20]:  # warm-up: first-call allocations
        svc.plan(hcp_id, horizon_days=args.horizon_days, use_cache=False)
    latencies = []
    for hcp_id in sample:
        t = time.perf_counter()
        svc.plan(hcp_id, horizon_days=args.horizon_days, use_cache=False)
        latencies.append(time.perf_counter() - t)
    p95 = round(float(np.percentile(np.asarray(latencies) * 1000, 95)), 2)

    checks = audit(plans, svc, settings)
    result = {"version": svc.version, "as_of": svc.as_of(), "hcps": int(hcp_ids),
              "planned_hcps": int(plans["hcp_id"].nunique()), "steps": int(len(plans)), **checks,
              "all_hcps_seconds": round(all_seconds, 2), "p95_ms_one_hcp": p95,
              "p50_ms_one_hcp": round(float(np.percentile(np.asarray(latencies) * 1000, 50)), 2),
              "bars": {"all_hcps_le_30s": all_seconds <= 30.0, "p95_one_hcp_le_5ms": p95 <= 5.0,
                       "no_violation": checks["opted_out_steps"] == checks["cap_violations"]
                       == checks["approval_violations"] == 0,
                       "first_step_is_top": checks["first_step_top_share"] == 1.0}}
    print_result(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
