"""Ten reloads while threads and a second process keep asking: no request fails, no version is torn."""
from __future__ import annotations

import multiprocessing
import threading
import time

import numpy as np

from engine.service import NBAService
from tests.unit.test_service import copy_settings
from tests.unit.test_service_fakes import table_bundle

VERSIONS = [f"2024010{i}-000000-{c * 6}" for i, c in zip(range(1, 5), "abcd")]
BROKEN = "20240109-000000-eeeeee"


def request_loop(settings, hcp_ids, stop, replies):
    """Second process: recommend until ``stop`` is set; reply (versions seen, failures, last version)."""
    service = NBAService.from_settings(settings)
    seen, failures, i = set(), [], 0
    while not stop.is_set():
        try:
            rows = service.recommend(hcp_ids[i % len(hcp_ids)], n=5, use_cache=bool(i % 2))
            seen.add(rows[0]["version"])
        except Exception as exc:  # noqa: BLE001 - counted, the test asserts there are none
            failures.append(repr(exc))
        i += 1
        time.sleep(0.005)  # steady load without starving the shared CI cores
    time.sleep(0.6)  # one pointer check period after the last switch
    final = service.recommend(hcp_ids[0], n=5, use_cache=False)[0]["version"]
    replies.put((sorted(seen), failures, final, i))


def test_reload_ten_times_under_load(world_settings, tmp_path):
    settings = copy_settings(world_settings, tmp_path)
    for seed, version in enumerate(VERSIONS):
        table_bundle(settings, seed=seed, version=version, make_current=False)
    table_bundle(settings, seed=9, version=BROKEN, make_current=False)
    tampered = settings.artifacts_dir / BROKEN / "forecaster" / "forecaster.json"
    tampered.write_text(tampered.read_text() + " ")  # one byte more: the checksum no longer matches

    svc = NBAService.from_settings(settings)
    assert svc.reload(VERSIONS[0], user="ada", role="admin")["ok"]
    # HCPs with something to recommend (an HCP with every channel opted out or capped gets none)
    hcp_ids = [r["hcp_id"] for r in svc.search_hcps(page_size=60)["rows"] if svc.recommend(r["hcp_id"], n=5)][:40]

    ctx = multiprocessing.get_context("spawn")
    stop_process, replies = ctx.Event(), ctx.Queue()
    child = ctx.Process(target=request_loop, args=(settings, hcp_ids, stop_process, replies))
    child.start()

    stop = threading.Event()
    results: list = []
    failures: list = []

    def worker(seed):
        rng = np.random.default_rng(seed)
        while not stop.is_set():
            try:
                rows = svc.recommend(hcp_ids[rng.integers(len(hcp_ids))], n=5, use_cache=bool(rng.integers(2)))
                results.append({r["version"] for r in rows})
            except Exception as exc:  # noqa: BLE001
                failures.append(repr(exc))
            time.sleep(0.002)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for thread in threads:
        thread.start()
    outcomes = []
    try:
        time.sleep(1.0)
        for k in range(10):
            target = BROKEN if k == 5 else VERSIONS[(k + 1) % len(VERSIONS)]
            outcomes.append(svc.reload(target, user="ada", role="admin"))
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        stop_process.set()
        seen, child_failures, child_final, child_requests = replies.get(timeout=120)
        child.join(timeout=60)

    assert failures == [] and child_failures == []
    assert len(results) > 20 and child_requests > 5
    assert all(len(versions) == 1 and versions <= set(VERSIONS) for versions in results)  # never a mix
    assert set(seen) <= set(VERSIONS)
    assert [o["ok"] for o in outcomes] == [k != 5 for k in range(10)]
    assert outcomes[5]["result"].startswith("refused") and outcomes[5]["version"] == outcomes[4]["to"]
    assert svc.version == outcomes[-1]["to"] == child_final
    audit = svc.audit_log(limit=20)
    assert sum(r["result"] == "ok" for r in audit) == 10 and sum(r["result"].startswith("refused") for r in audit) == 1
