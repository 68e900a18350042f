"""The service gives the same answers on PostgreSQL as on DuckDB (same SQL, same snapshot)."""
from __future__ import annotations

import pytest

from engine.data.store import DEMO_AS_OF, Store
from engine.service import NBAService
from tests.unit.test_service import V1, copy_settings
from tests.unit.test_service_fakes import table_bundle

pytestmark = pytest.mark.postgres


def test_postgres_and_duckdb_agree(world_settings, tmp_path, postgres_url):
    duck = copy_settings(world_settings, tmp_path)
    table_bundle(duck, seed=1, version=V1)
    source = Store(duck.database_url)
    target = Store(postgres_url)
    target.replace({t: source.read(t) for t in ("hcps", "contents", "campaigns", "interactions")})
    target.set_meta(DEMO_AS_OF, source.get_meta(DEMO_AS_OF))  # the same world: the same "today"
    pg = duck.with_(database_url=postgres_url, cache_dir=tmp_path / "pg-cache")
    a, b = NBAService.from_settings(duck), NBAService.from_settings(pg)
    assert b.health()["store_dialect"] == "postgresql" and b.version == V1
    assert a.channel_effectiveness() == b.channel_effectiveness()
    assert a.overview_kpis() == b.overview_kpis()
    assert a.search_hcps(query="an", page_size=100) == b.search_hcps(query="an", page_size=100)
    hcp_id = a.search_hcps(sort=[{"colId": "touches", "sort": "desc"}])["rows"][0]["hcp_id"]
    assert a.hcp_profile(hcp_id) == b.hcp_profile(hcp_id)
    assert a.hcp_history(hcp_id) == b.hcp_history(hcp_id)
    assert a.recommend(hcp_id, use_cache=False) == b.recommend(hcp_id, use_cache=False)
    assert a.plan(hcp_id, use_cache=False) == b.plan(hcp_id, use_cache=False)
    b.record_feedback(hcp_id, a.recommend(hcp_id)[0]["content_id"], "email", "accept", user="pg")
    assert Store(postgres_url).count("feedback") == 1 and b.feedback_items(hcp_id)[0]["state"] == "planned"
    assert b.reload(V1, user="ada", role="admin")["ok"] and b.audit_log()[0]["result"] == "ok"
    b.close()  # its schema is dropped after the test
