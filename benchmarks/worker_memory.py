"""Web worker footprint: resident memory, TensorFlow mappings and boot time of each gunicorn worker.

    python benchmarks/worker_memory.py [--json] [--requests 200] [--workers 2] [--admin-pages 0]

Starts gunicorn (gunicorn.conf.py, ``--workers`` workers, 127.0.0.1 only) over the store and
bundles of the environment (``DATABASE_URL``, ``ARTIFACTS_DIR``, ``CACHE_DIR``, ``VAR_DIR``: run
``python -m engine bootstrap`` first), reads how long the master took to load and warm the service
before forking (gunicorn.conf.py's ``when_ready``), measures each worker's boot (from its fork to
the log line ``post_worker_init`` writes once the worker serves the current bundle and data),
then signs in a brand manager, an MSL and an admin and sends ``--requests``
mixed requests: pages rendered by the Pages router callback and the dashboards' own callbacks
(HCP search, HCP 360, worklist, topic explorer), as benchmarks/web.py does. Afterwards it reads
each worker's ``VmRSS`` from ``/proc/<pid>/status`` and counts the ``tensorflow`` lines of
``/proc/<pid>/maps``.

``--json`` prints one JSON object: workers [{pid, rss_mb, anon_mb, pss_mb, tensorflow_maps,
gensim_maps, boot_seconds, boot_cpu_seconds}], max_rss_mb, boot_seconds and boot_cpu_seconds (the
slowest worker), master_load_seconds (None when the master did not load the service), load_average
(the wall times follow it on a shared machine), requests, admin_pages, errors, bars.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402
import requests  # noqa: E402

from engine.config import Settings  # noqa: E402
from engine.data.store import Store  # noqa: E402
from report import print_result  # noqa: E402
from tests.fixtures.web import (GunicornServer, callback_payload, requests_login, route_payload,  # noqa: E402
                                write_users_file)

#: The line gunicorn.conf.py's post_worker_init logs once a worker has loaded the bundle.
READY_LINE = re.compile(r"worker (\d+): (serving bundle|service warm-up failed)")
#: The line gunicorn.conf.py's when_ready logs once the master has loaded and warmed the service.
MASTER_LINE = re.compile(r"master: serving bundle \S+ loaded and warmed in ([\d.]+)s")
#: Bars of the issue: resident memory per worker, boot time.
MAX_RSS_MB = 300
MAX_BOOT_S = 3.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def boottime_now() -> float:
    """Seconds since boot, on the clock ``/proc/<pid>/stat`` start times count on."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def _stat(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` from field 3 on (the command name before it may hold spaces)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2:].split()


def started_at(pid: int) -> float:
    """When process ``pid`` was forked, in seconds since boot (field 22)."""
    return int(_stat(pid)[19]) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time process ``pid`` has used (user + system, fields 14 and 15): unlike wall time, it
    does not depend on what else the machine runs."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_workers(server: GunicornServer, count: int, timeout_s: float) -> dict[int, tuple[float, float]]:
    """``{pid: (seconds from fork to ready, CPU seconds used by then)}`` of the first ``count``
    workers, read off the log."""
    ready: dict[int, tuple[float, float]] = {}
    deadline = time.monotonic() + timeout_s
    while len(ready) < count and time.monotonic() < deadline:
        seen_at = boottime_now()
        text = server.log_path.read_text(errors="replace") if server.log_path.exists() else ""
        for match in READY_LINE.finditer(text):
            pid = int(match.group(1))
            if pid in ready:
                continue
            if match.group(2) != "serving bundle":
                raise SystemExit(f"worker {pid} could not load the service:\n{server.log_tail()}")
            ready[pid] = (seen_at - started_at(pid), cpu_seconds(pid))
        time.sleep(0.02)
    if len(ready) < count:
        raise SystemExit(f"{count - len(ready)} worker(s) not ready within {timeout_s:.0f}s:\n{server.log_tail()}")
    return ready


def _kb(text: str, key: str) -> int:
    return int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M).group(1))


def worker_footprint(pid: int) -> dict:
    """Resident memory and library mappings of one worker, as the kernel reports them: ``rss_mb``
    (VmRSS: every resident page, shared library pages included), ``anon_mb`` (RssAnon: the
    worker's own heap) and ``pss_mb`` (shared pages divided among the processes sharing them)."""
    status = Path(f"/proc/{pid}/status").read_text()
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return {"pid": pid, "rss_mb": round(_kb(status, "VmRSS") / 1024, 1),
            "anon_mb": round(_kb(status, "RssAnon") / 1024, 1), "pss_mb": round(_kb(rollup, "Pss") / 1024, 1),
            "tensorflow_maps": sum("tensorflow" in line for line in maps),
            "gensim_maps": sum("gensim" in line for line in maps)}


def mixed_requests(base_url: str, n: int, hcps: list[tuple[str, str]], territories: list[str],
                   content_id: str, seed: int = 0) -> tuple[int, list[str]]:
    """``n`` requests of signed-in users over 4 connections at a time; returns (sent, errors)."""
    sessions = [requests_login(base_url, name) for name in ("brand", "msl", "admin")]
    deps = sessions[0].get(base_url + "/_dash-dependencies", timeout=60).json()
    grid = {"startRow": 0, "endRow": 50, "sortModel": [], "filterModel": {}}
    pages = ["/", "/hcps", "/worklist", "/channels", "/topics", "/segments", "/models", "/feedback",
             f"/content/{content_id}"]

    def request(number: int) -> str | None:
        rng = random.Random(seed * 100_003 + number)
        hcp_id, last_name = rng.choice(hcps)
        draw = rng.random()
        if draw < 0.3:
            body = route_payload(rng.choice(pages + [f"/hcp/{hcp_id}"]))
        elif draw < 0.5:
            body = callback_payload(deps, "hcps-count", {"hcps-grid.getRowsRequest": grid,
                                                         "hcps-search.value": last_name[:rng.randint(2, 4)]},
                                    "hcps-grid.getRowsRequest")
        elif draw < 0.8:
            body = callback_payload(deps, "hcp360-recs-slot", {"hcp360-id.data": hcp_id}, "hcp360-id.data")
        elif draw < 0.9:
            body = callback_payload(deps, "worklist-body", {"worklist-territory.data": rng.choice(territories),
                                                            "worklist-answered.data": 0, "worklist-shown.data": 20},
                                    "worklist-territory.data")
        else:
            body = callback_payload(deps, "topics-cloud", {"topics-select.value": rng.randint(0, 3)},
                                    "topics-select.value")
        try:
            response = sessions[number % len(sessions)].post(base_url + "/_dash-update-component", json=body,
                                                             timeout=120)
        except requests.RequestException as exc:
            return type(exc).__name__
        return None if response.status_code == 200 else f"HTTP {response.status_code}"

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(request, range(n)))
    return n, [problem for problem in outcomes if problem]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="mixed requests after the workers are up")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--admin-pages", type=int, default=0,
                        help="then render the admin page this many times (it reads the store: a worker that has "
                             "opened DuckDB maps its code)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    store = Store(settings.database_url)
    frame = store.query("SELECT hcp_id, last_name FROM hcps ORDER BY hcp_id LIMIT 500")
    if frame.empty:
        raise SystemExit(f"no HCPs in {settings.database_url}: run `python -m engine bootstrap` first")
    hcps = list(zip(frame["hcp_id"].astype(str), frame["last_name"].astype(str)))
    territories = sorted(store.query("SELECT DISTINCT territory FROM hcps WHERE territory IS NOT NULL")["territory"]
                         .astype(str))
    content_id = store.query("SELECT content_id FROM interactions GROUP BY content_id ORDER BY COUNT(*) DESC "
                             "LIMIT 1")["content_id"].iloc[0]
    del store  # DuckDB: one process holds the file; the workers open it themselves
    work = Path(tempfile.mkdtemp(prefix="nba-worker-memory-"))
    server = GunicornServer(settings.with_(users_file=None), write_users_file(work / "users.json"),
                            work / "gunicorn.log", workers=args.workers)
    log(f"starting gunicorn ({args.workers} workers) on {server.url} ...")
    server.start(timeout_s=180)
    try:
        boot = wait_for_workers(server, args.workers, timeout_s=180)
        log("boot (fork to ready): " + ", ".join(f"worker {pid} {wall:.2f}s ({cpu:.2f}s CPU)"
                                                 for pid, (wall, cpu) in boot.items()))
        started = time.perf_counter()
        sent, errors = mixed_requests(server.url, args.requests, hcps, territories, content_id)
        if args.admin_pages:
            admin = requests_login(server.url, "admin")
            errors += [f"/admin HTTP {response.status_code}" for response in (
                admin.post(server.url + "/_dash-update-component", json=route_payload("/admin"), timeout=120)
                for _ in range(args.admin_pages)) if response.status_code != 200]
        log(f"{sent} mixed requests in {time.perf_counter() - started:.1f}s, {len(errors)} errors")
        workers = [worker_footprint(child.pid) for child in psutil.Process(server.proc.pid).children()]
    finally:
        server.stop()
    for worker in workers:
        wall, cpu = boot.get(worker["pid"], (None, None))
        worker["boot_seconds"] = None if wall is None else round(wall, 2)
        worker["boot_cpu_seconds"] = None if cpu is None else round(cpu, 2)
    max_rss = max(w["rss_mb"] for w in workers)
    boot_seconds = round(max(wall for wall, _ in boot.values()), 2)
    master = MASTER_LINE.search(server.log_path.read_text(errors="replace"))
    result = {"workers": workers, "max_rss_mb": max_rss, "boot_seconds": boot_seconds,
              "master_load_seconds": float(master.group(1)) if master else None,
              "boot_cpu_seconds": round(max(cpu for _, cpu in boot.values()), 2),
              "load_average": [round(x, 2) for x in os.getloadavg()],
              "requests": sent, "admin_pages": args.admin_pages,
              "errors": len(errors), "error_examples": sorted(set(errors))[:5],
              "bars": {f"rss_le_{MAX_RSS_MB}mb": max_rss <= MAX_RSS_MB,
                       "no_tensorflow": all(w["tensorflow_maps"] == 0 for w in workers),
                       f"boot_le_{MAX_BOOT_S:g}s": boot_seconds <= MAX_BOOT_S}}
    print_result(result, args.json)
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
