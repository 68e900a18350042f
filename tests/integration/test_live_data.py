"""New data reaches every worker within seconds: gunicorn (2 workers), PostgreSQL store, Redis cache.

The files go in through the real CLI (``python -m engine ingest``) against the shared PostgreSQL
store, as an operator would; the answers are read through the HCP 360 callback, as the browser
reads them, over fresh connections (keep-alive is off) so both workers are asked.
"""
from __future__ import annotations

import concurrent.futures
import csv
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest
import requests

from engine.config import CHANNELS, PROJECT_ROOT
from engine.data.store import Store
from tests.fixtures.settings import POSTGRES_URL, REDIS_URL, postgres_url_for_schema
from tests.fixtures.web import GunicornServer, requests_login
from tests.unit.test_ingest import make_npi

pytestmark = pytest.mark.redis

#: how soon every worker must serve an ingest
DEADLINE_S = 5.0
OUTPUTS = ["hcp360-history.figure", "hcp360-plan-timeline.figure", "hcp360-plan-slot.children",
           "hcp360-recs-slot.children", "hcp360-items.data", "hcp360-feedback-slot.children",
           "hcp360-forecast.figure", "hcp360-ready-slot.children"]


@pytest.fixture(scope="module")
def live(tiny_world, trained_settings, users_file, tmp_path_factory):
    """(base URL, settings) of gunicorn serving the tiny trained bundle over a PostgreSQL copy of its world."""
    psycopg = pytest.importorskip("psycopg")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    root = tmp_path_factory.mktemp("live")
    shutil.copytree(trained_settings.artifacts_dir, root / "artifacts")
    settings = trained_settings.with_(database_url=postgres_url_for_schema(schema), redis_url=REDIS_URL,
                                      artifacts_dir=root / "artifacts", cache_dir=root / "cache",
                                      users_file=users_file)
    tiny_world.load_into(Store(settings.database_url))
    log_path = PROJECT_ROOT / "test-output" / "gunicorn-live-data.log"  # kept for post-mortems
    log_path.parent.mkdir(parents=True, exist_ok=True)
    server = GunicornServer(settings, users_file, log_path).start()
    try:
        yield server.url, settings
    finally:
        server.stop()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def items(session, url: str, hcp_id: str) -> list[dict]:
    """What HCP 360 lists for ``hcp_id``: today's actions ``{content_id, channel, title}``, then the
    plan's steps (with their ``date``)."""
    body = {"output": ".." + "...".join(OUTPUTS) + "..",
            "outputs": [dict(zip(("id", "property"), o.split("."))) for o in OUTPUTS],
            "inputs": [{"id": "hcp360-id", "property": "data", "value": hcp_id}],
            "changedPropIds": ["hcp360-id.data"], "state": []}
    response = session.post(url + "/_dash-update-component", json=body, timeout=60)
    assert response.status_code == 200, response.text[:300]
    return response.json()["response"]["hcp360-items"]["data"]


def ask_many(session, url: str, hcp_id: str, n: int = 12) -> list[list[dict]]:
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        return list(pool.map(lambda _: items(session, url, hcp_id), range(n)))


def ingest(settings, path, *flags) -> None:
    env = {**os.environ, "DATABASE_URL": settings.database_url, "ARTIFACTS_DIR": str(settings.artifacts_dir),
           "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("REDIS_URL", None)
    done = subprocess.run([sys.executable, "-m", "engine", "ingest", "hcps", str(path), *flags, "--quiet"],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def write_hcps(path, rows) -> None:
    columns = ["hcp_id", "first_name", "last_name", "credential", "taxonomy_code", "city", "state", "zip",
               "speciality", *[f"consent_{c}" for c in CHANNELS]]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "speciality": row.get("specialty"),
                             **{f"consent_{c}": "true" if row[f"consent_{c}"] else "false" for c in CHANNELS}})


def served_within_deadline(session, url, hcp_id, done) -> float:
    """Seconds until every answer for ``hcp_id`` satisfies ``done`` (fails after the deadline)."""
    start = time.monotonic()
    while True:
        if all(done(answer) for answer in ask_many(session, url, hcp_id)):
            return time.monotonic() - start
        assert time.monotonic() - start < DEADLINE_S, f"a worker still served the old data after {DEADLINE_S}s"
        time.sleep(0.1)


def test_an_opt_out_reaches_every_worker_within_seconds(live):
    url, settings = live
    session = requests_login(url, "msl")
    hcps = Store(settings.database_url).read("hcps")
    # an HCP reachable on several channels, and the channel of its best action today: the one it opts out of
    several = hcps.loc[hcps[[f"consent_{c}" for c in CHANNELS]].sum(axis=1) >= 3, "hcp_id"]
    hcp_id, answer = next((h, a) for h in several if (a := items(session, url, h)))
    channel = answer[0]["channel"]
    assert all(any(i["channel"] == channel for i in again) for again in ask_many(session, url, hcp_id))

    hcps.loc[hcps["hcp_id"] == hcp_id, f"consent_{channel}"] = False
    path = settings.cache_dir.parent / "hcps-opt-out.csv"
    write_hcps(path, hcps.to_dict("records"))
    ingest(settings, path)
    took = served_within_deadline(session, url, hcp_id,
                                  lambda answer: answer and all(i["channel"] != channel for i in answer))
    assert took < DEADLINE_S
    again = ask_many(session, url, hcp_id, n=24)  # and it stays so, on both workers
    assert all(answer and all(i["channel"] != channel for i in answer) for answer in again)
    assert any("date" in i for i in again[0])  # the plan was checked, not only the list


def test_a_new_hcp_gets_recommendations_and_a_plan(live):
    url, settings = live
    session = requests_login(url, "msl")
    template = Store(settings.database_url).read("hcps").iloc[0].to_dict()
    npi = make_npi("177777777")
    path = settings.cache_dir.parent / "hcps-new.csv"
    write_hcps(path, [{**template, "hcp_id": npi, "last_name": "Newcomer",
                       **{f"consent_{c}": True for c in CHANNELS}}])
    ingest(settings, path, "--append")
    served_within_deadline(session, url, npi, lambda answer: answer and any("date" in i for i in answer))
    answer = items(session, url, npi)
    first_action, first_step = answer[0], next(i for i in answer if "date" in i)
    assert "date" not in first_action  # today's list is not empty
    assert (first_step["content_id"], first_step["channel"]) == (first_action["content_id"], first_action["channel"])
    requests.get(url + "/healthz", timeout=10).raise_for_status()
