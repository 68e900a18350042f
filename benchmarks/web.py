"""Web benchmark: page time-to-usable in headless Chromium and callback latency under load.

Starts gunicorn (2 workers, 127.0.0.1 only) on the current ARTIFACTS_DIR / DATABASE_URL, then

1. **Pages**: signs in as an admin in headless Chromium and, for every page, measures the time
   from navigation start to the page's ready marker (``.page-ready``, see components/common.py)
   in the DOM, recorded in the page itself by a MutationObserver (no polling error). Each page
   is visited once to warm up, then ``--page-runs`` times; the median is reported.
2. **Callbacks**: ``--users`` simulated users spread over ``--client-processes`` processes
   (threads in one process would measure the client's own GIL contention), each with its own
   signed-in ``requests.Session``, POST real callback payloads to ``/_dash-update-component``
   (HCP search grid, HCP 360 plan + recommendations + forecast + history, a territory's worklist)
   with a random think time
   (mean ``THINK_S``) between clicks, ``--requests-per-user`` each, stopped at ``--max-seconds``.

``--json`` prints one JSON object: pages (path -> seconds), users, requests, errors,
callback_p50_ms, callback_p95_ms, callback_p99_ms, per-callback percentiles and the setup.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import requests  # noqa: E402

from engine.config import Settings  # noqa: E402
from engine.data.store import Store  # noqa: E402
from tests.fixtures.web import (GunicornServer, callback_payload, login, make_browser, requests_login,  # noqa: E402
                                write_users_file)

#: mean pause between one user's callbacks (seconds)
THINK_S = 0.5

READY_SCRIPT = """
window.__nbaReady = null;
new MutationObserver(function (_, observer) {
  if (document.querySelector('.page-ready')) { window.__nbaReady = performance.now(); observer.disconnect(); }
}).observe(document, {childList: true, subtree: true});
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure_pages(base_url: str, paths: list[str], runs: int) -> dict[str, float]:
    driver = make_browser()
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": READY_SCRIPT})
        login(driver, base_url, "admin")
        results = {}
        for path in paths:
            samples = []
            for run in range(runs + 1):  # the first visit warms this page's caches
                driver.get(base_url + path)
                deadline = time.monotonic() + 60
                ready = None
                while ready is None and time.monotonic() < deadline:
                    ready = driver.execute_script("return window.__nbaReady")
                    if ready is None:
                        time.sleep(0.02)
                if ready is None:  # reported as null: the page never became usable
                    log(f"page {path}: no ready marker (.page-ready) within 60 s")
                    break
                if run:
                    samples.append(ready / 1000.0)
            results[path] = round(statistics.median(samples), 3) if len(samples) == runs else None
            if results[path] is not None:
                log(f"page {path}: {results[path]:.3f} s to usable (median of {runs})")
        return results
    finally:
        driver.quit()


def _run_users(base_url: str, first: int, count: int, per_user: int, start_at: float, stop_at: float,
               hcps: list[tuple[str, str]], territories: list[str]) -> tuple[dict[str, list[float]], list[str]]:
    """One load process: ``count`` users (threads), each signed in with its own session."""
    sessions = [requests_login(base_url, "brand" if i % 2 else "msl") for i in range(first, first + count)]
    deps = sessions[0].get(base_url + "/_dash-dependencies", timeout=30).json()
    grid_request = {"startRow": 0, "endRow": 50, "sortModel": [], "filterModel": {}}

    def search(query):
        return callback_payload(deps, "hcps-count", {"hcps-grid.getRowsRequest": grid_request, "hcps-search.value": query}, "hcps-grid.getRowsRequest")

    def recommend(hcp_id):
        return callback_payload(deps, "hcp360-recs-slot", {"hcp360-id.data": hcp_id}, "hcp360-id.data")

    def worklist(territory):
        return callback_payload(deps, "worklist-body", {"worklist-territory.data": territory,
                                                        "worklist-answered.data": 0, "worklist-shown.data": 20},
                                "worklist-territory.data")

    latencies: dict[str, list[float]] = {"hcp_search": [], "hcp360_recommendations": [], "worklist": []}
    errors: list[str] = []
    lock = threading.Lock()

    def user(index: int):
        rng = random.Random(first + index)
        session = sessions[index]
        time.sleep(max(0.0, start_at - time.time()))
        for _ in range(per_user):
            if time.time() > stop_at:
                return
            hcp_id, last_name = rng.choice(hcps)
            draw = rng.random()
            if draw < 0.4:
                kind, body = "hcp_search", search(last_name[: rng.randint(2, 4)])
            elif draw < 0.8:
                kind, body = "hcp360_recommendations", recommend(hcp_id)
            else:  # an MSL's worklist is their own territory whatever is sent; a brand manager's the one sent
                kind, body = "worklist", worklist(rng.choice(territories))
            t0 = time.perf_counter()
            try:
                response = session.post(base_url + "/_dash-update-component", json=body, timeout=60)
                ok = response.status_code == 200
                problem = f"HTTP {response.status_code}"
            except requests.RequestException as exc:
                ok, problem = False, type(exc).__name__
            elapsed = (time.perf_counter() - t0) * 1000
            with lock:
                if ok:
                    latencies[kind].append(elapsed)
                else:
                    errors.append(f"{kind}: {problem}")
            time.sleep(rng.uniform(0, 2 * THINK_S))  # a person reads the result before the next click

    threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, stop_at - time.time()) + 120)
    return latencies, errors


def load_test(base_url: str, users: int, per_user: int, max_seconds: float, hcps: list[tuple[str, str]],
              territories: list[str], processes: int) -> dict:
    """``users`` simulated users spread over ``processes`` client processes (one Python process
    driving 50 threads measures its own GIL contention as much as the server)."""
    processes = max(1, min(processes, users))
    shares = [users // processes + (1 if i < users % processes else 0) for i in range(processes)]
    firsts = [sum(shares[:i]) for i in range(processes)]
    start_at = time.time() + 5 + 0.2 * users  # every process signs its users in before the start
    stop_at = start_at + max_seconds
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(_run_users, base_url, first, count, per_user, start_at, stop_at, hcps, territories)
                   for first, count in zip(firsts, shares)]
        results = [f.result() for f in futures]
    wall = time.time() - start_at
    latencies = {k: [x for lat, _ in results for x in lat[k]] for k in results[0][0]}
    errors = [e for _, errs in results for e in errs]
    everything = [x for values in latencies.values() for x in values]

    def pct(values, q):
        return round(float(np.percentile(values, q)), 1) if values else None

    return {
        "users": users, "client_processes": processes, "think_s": THINK_S,
        "requests": len(everything) + len(errors), "errors": len(errors),
        "error_examples": sorted(set(errors))[:5], "wall_s": round(wall, 2),
        "throughput_rps": round((len(everything) + len(errors)) / wall, 1) if wall else None,
        "callback_p50_ms": pct(everything, 50), "callback_p95_ms": pct(everything, 95), "callback_p99_ms": pct(everything, 99),
        "callbacks": {k: {"n": len(v), "p50_ms": pct(v, 50), "p95_ms": pct(v, 95)} for k, v in latencies.items()},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--requests-per-user", type=int, default=20)
    parser.add_argument("--max-seconds", type=float, default=120, help="stop the load test after this long")
    parser.add_argument("--page-runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--client-processes", type=int, default=5,
                        help="processes driving the simulated users (default 5: 10 users each)")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    frame = Store(settings.database_url).query("SELECT hcp_id, last_name FROM hcps ORDER BY hcp_id LIMIT 500")
    if frame.empty:
        raise SystemExit(f"no HCPs in {settings.database_url}: run `python -m engine bootstrap` first")
    hcps = list(zip(frame["hcp_id"].astype(str), frame["last_name"].astype(str)))
    territories = sorted(Store(settings.database_url).query(
        "SELECT DISTINCT territory FROM hcps WHERE territory IS NOT NULL")["territory"].astype(str))
    content_id = Store(settings.database_url).query(
        "SELECT content_id FROM interactions GROUP BY content_id ORDER BY COUNT(*) DESC LIMIT 1")["content_id"].iloc[0]
    world_size = Store(settings.database_url).count("hcps")
    work = Path(tempfile.mkdtemp(prefix="nba-web-bench-"))
    users_file = write_users_file(work / "users.json")
    server = GunicornServer(settings.with_(users_file=None), users_file, work / "gunicorn.log", workers=args.workers)
    log(f"starting gunicorn ({args.workers} workers) on {server.url} ...")
    server.start(timeout_s=180)
    try:
        admin = requests_login(server.url, "admin")
        admin.get(server.url + "/_dash-layout", timeout=180)  # first request loads the model in a worker
        paths = ["/", "/hcps", f"/hcps?q={hcps[0][1]}", f"/hcp/{hcps[0][0]}", "/worklist", "/channels", "/topics",
                 "/segments", "/models", "/feedback", f"/content/{content_id}", "/admin"]
        pages = measure_pages(server.url, paths, args.page_runs)
        log(f"load test: {args.users} users x {args.requests_per_user} callbacks ...")
        load = load_test(server.url, args.users, args.requests_per_user, args.max_seconds, hcps, territories,
                         args.client_processes)
    finally:
        server.stop()
    result = {"pages": pages, **load, "workers": args.workers, "page_runs": args.page_runs,
              "hcps_sampled": len(hcps), "hcps_in_world": world_size, "database": settings.database_url.split(":")[0],
              "load_average": [round(x, 2) for x in os.getloadavg()]}
    if args.json:
        print(json.dumps(result))
    else:
        log(json.dumps(result, indent=2))
    return 0 if load["errors"] == 0 and None not in pages.values() else 1


if __name__ == "__main__":
    sys.exit(main())
