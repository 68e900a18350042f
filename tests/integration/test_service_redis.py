"""The service with a real Redis: one cache and one version pointer across processes; Redis down."""
from __future__ import annotations

import logging
import multiprocessing

import pytest

from engine.service import NBAService
from engine.service.registry import REDIS_KEY
from tests.fixtures.settings import REDIS_URL
from tests.unit.test_service import V1, V2, copy_settings
from tests.unit.test_service_fakes import table_bundle

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_db():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    except redis.ConnectionError as exc:  # pragma: no cover - CI always has it
        pytest.fail(f"Redis not reachable at {REDIS_URL}: {exc}")
    yield client
    client.flushdb()


def serve(settings, commands, replies):
    """A second process: answer ``("recommend", hcp_id)`` with (version, was a cache hit) until ``None``."""
    service = NBAService.from_settings(settings, check_every_s=0)
    for command in iter(commands.get, None):
        hits = service.cache_status()["hits"]
        rows = service.recommend(command[1])
        replies.put((rows[0]["version"], service.cache_status()["hits"] - hits == 1))


def test_two_processes_share_cache_and_version_pointer(world_settings, tmp_path, redis_db):
    settings = copy_settings(world_settings, tmp_path, redis_url=REDIS_URL)
    table_bundle(settings, seed=1, version=V1)
    table_bundle(settings, seed=2, version=V2, make_current=False)
    svc = NBAService.from_settings(settings, check_every_s=0)
    assert svc.cache_status()["backend"] == "redis"
    hcp_id = svc.search_hcps()["rows"][0]["hcp_id"]
    first = svc.recommend(hcp_id)

    ctx = multiprocessing.get_context("spawn")
    commands, replies = ctx.Queue(), ctx.Queue()
    child = ctx.Process(target=serve, args=(settings, commands, replies))
    child.start()
    try:
        commands.put(("recommend", hcp_id))
        version, cached = replies.get(timeout=120)
        assert version == V1 and cached  # the other process's answer came from the shared cache

        assert svc.reload(V2, user="ada", role="admin")["ok"]
        assert redis_db.get(REDIS_KEY).decode() == V2
        commands.put(("recommend", hcp_id))
        version, _ = replies.get(timeout=120)
        assert version == V2  # the running process followed the shared pointer
    finally:
        commands.put(None)
        child.join(timeout=60)
    assert child.exitcode == 0
    assert svc.recommend(hcp_id)[0]["version"] == V2 and first[0]["version"] == V1


def test_unreachable_redis_still_answers_and_warns_once(world_settings, tmp_path, caplog):
    settings = copy_settings(world_settings, tmp_path, redis_url="redis://127.0.0.1:6390/0")
    table_bundle(settings, seed=1, version=V1)
    with caplog.at_level(logging.WARNING, logger="engine.service"):
        svc = NBAService.from_settings(settings, check_every_s=0)
        hcp_id = svc.search_hcps()["rows"][0]["hcp_id"]
        for _ in range(10):
            rows = svc.recommend(hcp_id)
            assert rows and rows[0]["version"] == V1
        assert svc.reload(V1, user="ada", role="admin")["ok"]  # the pointer falls back to the store
    cache_warnings = [r for r in caplog.records if r.name == "engine.service.cache" and "unavailable" in r.getMessage()]
    assert len(cache_warnings) == 1
    status = svc.cache_status()
    # nothing came from the dead backend: repeats were answered from this process's in-memory LRU
    assert status["backend"] == "redis" and not status["available"] and status["hits"] == status["local_hits"] == 9
    assert svc.health()["status"] == "degraded" and not svc.health()["cache_ok"]
