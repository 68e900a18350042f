"""Simulated campaign impact: one wave following the plans vs the brand's own policy, scored by the oracle.

    python benchmarks/impact.py [--json] [--wave-days 28] [--hcps N]

Uses the store, bundles and world truth of the environment (``DATABASE_URL``, ``ARTIFACTS_DIR``,
``AS_OF``): run ``python -m engine bootstrap`` first (the synthetic world writes its truth). Plays the
wave that starts on the as-of day twice over the same HCPs (all of them by default) and reports the
expected engagements of each at the same touch volume (see :mod:`engine.service.impact`).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.config import Settings  # noqa: E402
from engine.progress import QUIET, Progress  # noqa: E402
from engine.service import NBAService  # noqa: E402
from engine.service.impact import WAVE_DAYS  # noqa: E402
from report import print_result  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wave-days", type=int, default=WAVE_DAYS, help=f"wave length (default {WAVE_DAYS})")
    parser.add_argument("--hcps", type=int, default=None, help="a seeded sample of HCPs (default: all)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    progress = QUIET if args.json else Progress()
    svc = NBAService.from_settings(Settings.from_env())
    if svc.version is None:
        print("error: no model bundle: run `python -m engine bootstrap` first", file=sys.stderr)
        return 1
    progress("impact", f"bundle {svc.version}, as of {svc.as_of()}, wave of {args.wave_days} days")
    t = time.perf_counter()
    impact = svc.campaign_impact(sample=args.hcps, wave_days=args.wave_days)
    if impact is None:
        print("error: no world truth in ARTIFACTS_DIR/world: the impact needs a synthetic world", file=sys.stderr)
        return 1
    print_result({"version": svc.version, "as_of": svc.as_of(), **impact,
                  "seconds": round(time.perf_counter() - t, 2)}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
