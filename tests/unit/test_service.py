"""NBAService on the tiny synthetic world: search, profile, analytics, rules, feedback, reload, cache."""
from __future__ import annotations

import csv
import io
import logging
import os
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from engine.config import CHANNELS, channel_label
from engine.data.store import Store
from engine.service import NBAService, csv_safe
from engine.service.targets import EXPORT_COLUMNS
from engine.service.cache import ServiceCache
from engine.service.registry import META_KEY
from engine.service.search import _TextIndex
from tests.unit.test_service_fakes import table_bundle

V1, V2, V3 = "20240101-000000-aaaaaa", "20240102-000000-bbbbbb", "20240103-000000-cccccc"


def copy_settings(world_settings, tmp_path, **changes):
    """The tiny world in a private store file (tests write feedback, audit and edits)."""
    source = world_settings.database_url[len("duckdb:///") - 1:]
    target = tmp_path / "store.duckdb"
    shutil.copy(source, target)
    return world_settings.with_(database_url=f"duckdb:///{target}", artifacts_dir=tmp_path / "artifacts",
                                cache_dir=tmp_path / "cache", **changes)


@pytest.fixture
def settings_v1(world_settings, tmp_path):
    settings = copy_settings(world_settings, tmp_path)
    table_bundle(settings, seed=1, version=V1)
    return settings


@pytest.fixture
def svc(settings_v1) -> NBAService:
    return NBAService.from_settings(settings_v1, check_every_s=0)


@pytest.fixture(scope="module")
def shared(world_settings, tmp_path_factory):
    """(settings, service) shared by the tests that only read."""
    settings = copy_settings(world_settings, tmp_path_factory.mktemp("shared"))
    table_bundle(settings, seed=1, version=V1)
    return settings, NBAService.from_settings(settings)


def frames(settings):
    store = Store(settings.database_url)
    return store.read("hcps"), store.read("contents"), store.read("interactions")


# -- search, profile, history ---------------------------------------------------------------------
def test_search_ranks_exact_npi_then_last_name_prefix_then_name_then_city(shared):
    settings_v1, svc = shared
    hcps, _, _ = frames(settings_v1)
    target = hcps.iloc[5]
    result = svc.search_hcps(query=str(target["hcp_id"]))
    assert result["total"] >= 1 and result["rows"][0]["hcp_id"] == target["hcp_id"]

    last = str(target["last_name"])
    prefix = last[:3].lower()
    rows = svc.search_hcps(query=prefix, page_size=1000)["rows"]
    starts = [r["last_name"].lower().startswith(prefix) for r in rows]
    assert starts[0] and starts == sorted(starts, reverse=True)  # every prefix match before any other match
    # a city match only ranks after every name match
    city = str(target["city"])
    rows = svc.search_hcps(query=city, page_size=1000)["rows"]
    in_name = [city.lower() in r["name"].lower() for r in rows]
    assert in_name == sorted(in_name, reverse=True)
    assert all(city.lower() in (r["city"] or "").lower() or city.lower() in r["name"].lower() for r in rows)


def test_search_pages_sorts_and_filters(shared):
    settings_v1, svc = shared
    hcps, _, _ = frames(settings_v1)
    first = svc.search_hcps(page=0, page_size=50)
    second = svc.search_hcps(page=1, page_size=50)
    assert first["total"] == len(hcps)
    assert not {r["hcp_id"] for r in first["rows"]} & {r["hcp_id"] for r in second["rows"]}
    by_touches = svc.search_hcps(sort=[{"colId": "touches", "sort": "desc"}], page_size=1000)["rows"]
    touches = [r["touches"] for r in by_touches]
    assert touches == sorted(touches, reverse=True)
    specialty = hcps["specialty"].iloc[0]
    filtered = svc.search_hcps(filters={"specialty": {"filterType": "text", "type": "equals", "filter": specialty}},
                               page_size=1000)
    assert filtered["total"] == int((hcps["specialty"] == specialty).sum())
    assert svc.search_hcps(specialty=specialty)["total"] == filtered["total"]
    busy = svc.search_hcps(filters={"touches": {"filterType": "number", "type": "greaterThan", "filter": 10}},
                           page_size=1000)["rows"]
    assert all(r["touches"] > 10 for r in busy)
    with pytest.raises(ValueError, match="unknown column"):
        svc.search_hcps(sort=[{"colId": "password", "sort": "asc"}])
    with pytest.raises(ValueError, match="page_size"):
        svc.search_hcps(page_size=0)


def test_profile_and_history(shared):
    settings_v1, svc = shared
    _, _, interactions = frames(settings_v1)
    hcp_id = interactions["hcp_id"].value_counts().index[0]
    profile = svc.hcp_profile(hcp_id)
    assert profile["hcp_id"] == hcp_id and profile["touches"] == int((interactions["hcp_id"] == hcp_id).sum())
    assert [c["channel"] for c in profile["channels"]] == list(CHANNELS)
    assert svc.hcp_profile("0000000000") is None
    history = svc.hcp_history(hcp_id)
    assert len(history) == profile["touches"]
    stamps = [h["timestamp"] for h in history]
    assert stamps == sorted(stamps, reverse=True)
    assert {"timestamp", "content_id", "title", "channel", "outcome"} <= set(history[0])


# -- analytics -----------------------------------------------------------------------------------
def test_channel_effectiveness_and_kpis_add_up(shared):
    settings_v1, svc = shared
    hcps, _, interactions = frames(settings_v1)
    rows = svc.channel_effectiveness()
    assert sum(r["touches"] for r in rows) == len(interactions)
    assert sum(r["engaged"] for r in rows) == int(interactions["engaged"].sum())
    specialty = hcps["specialty"].iloc[0]
    only = svc.channel_effectiveness(specialty=specialty)
    ids = set(hcps.loc[hcps["specialty"] == specialty, "hcp_id"])
    assert sum(r["touches"] for r in only) == int(interactions["hcp_id"].isin(ids).sum())
    assert {r["specialty"] for r in only} == {specialty}
    kpis = svc.overview_kpis()
    assert kpis["interactions"] == len(interactions) and kpis["hcps"] == len(hcps)
    trend = svc.engagement_trend()
    assert sum(r["touches"] for r in trend) == len(interactions)
    segments = svc.segments()
    assert sum(s["hcps"] for s in segments) == len(hcps)


def test_period_over_period_counts_the_last_days_of_data(shared):
    settings_v1, svc = shared
    _, _, interactions = frames(settings_v1)
    period = svc.period_comparison(30)
    stamps = pd.to_datetime(interactions["timestamp"])
    end = stamps.max().normalize() + pd.Timedelta(days=1)
    for name, start, stop in (("current", end - pd.Timedelta(days=30), end),
                              ("previous", end - pd.Timedelta(days=60), end - pd.Timedelta(days=30))):
        inside = interactions[(stamps >= start) & (stamps < stop)]
        got = period[name]
        assert (got["start"], got["end"]) == (start.date().isoformat(), stop.date().isoformat())
        assert got["touches"] == len(inside) and got["engaged"] == int(inside["engaged"].sum())
        assert got["hcps_reached"] == inside["hcp_id"].nunique()
        assert got["hcps_engaged"] == inside.loc[inside["engaged"], "hcp_id"].nunique()
    change = period["change"]
    assert change["touches"] == pytest.approx(period["current"]["touches"] / period["previous"]["touches"] - 1)
    assert change["engagement_rate"] == pytest.approx(period["current"]["engagement_rate"]
                                                      - period["previous"]["engagement_rate"])
    with pytest.raises(ValueError, match="days"):
        svc.period_comparison(0)


def test_content_detail_says_what_it_is_and_how_hcps_responded(world_settings, tmp_path):
    settings = copy_settings(world_settings, tmp_path)
    store = Store(settings.database_url)
    interactions = store.read("interactions")
    content_id = interactions["content_id"].value_counts().index[0]
    store.execute("UPDATE contents SET pmid = ? WHERE content_id = ?", ["40887509", content_id])
    table_bundle(settings, version=V1)
    svc = NBAService.from_settings(settings)
    detail = svc.content_detail(content_id)
    mine = interactions[interactions["content_id"] == content_id]
    assert detail["pmid"] == "40887509" and detail["title"] and detail["abstract"]
    assert detail["touches"] == len(mine) and detail["engaged"] == int(mine["engaged"].sum())
    by_channel = {c["channel"]: c for c in detail["channels"]}
    for channel, group in mine.groupby("channel"):
        assert by_channel[channel]["touches"] == len(group)
    assert [c["channel"] for c in detail["channels"]] == list(CHANNELS)
    assert svc.content_detail("nope") is None


def test_target_list_csv_escapes_formulas(world_settings, tmp_path):
    settings = copy_settings(world_settings, tmp_path)
    store = Store(settings.database_url)
    hcp_id = store.read("hcps")["hcp_id"].iloc[0]
    store.execute("UPDATE hcps SET first_name = ?, city = ? WHERE hcp_id = ?", ['=HYPERLINK("http://x")', "@SUM(A1)", hcp_id])
    table_bundle(settings, version=V1)
    svc = NBAService.from_settings(settings)
    text = svc.target_list_csv(n=1000)
    rows = list(csv.DictReader(io.StringIO(text)))
    row = next(r for r in rows if r["NPI"] == hcp_id)
    assert row["Name"].startswith("'") and row["City"] == "'@SUM(A1)"
    for r in rows:
        for value in r.values():
            assert not value.startswith(("=", "+", "@", "\t", "\r")), value
    assert csv_safe("-1+2") == "'-1+2" and csv_safe(0.5) == 0.5 and csv_safe("Smith") == "Smith"


# -- recommendations and business rules -------------------------------------------------------------
def test_recommend_shape_reasons_and_cache(shared):
    settings_v1, svc = shared
    hcp_id = svc.search_hcps()["rows"][0]["hcp_id"]
    rows = svc.recommend(hcp_id, n=5)
    assert 1 <= len(rows) <= 5
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    for r in rows:
        assert abs(sum(r["channel_probabilities"].values()) - 1) < 1e-5
        assert r["reasons"] and all(isinstance(s, str) for s in r["reasons"])
        assert r["version"] == V1 and 0 <= r["engagement_probability"] <= 1
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    hits = svc.cache_status()["hits"]
    assert svc.recommend(hcp_id, n=5) == rows
    assert svc.cache_status()["hits"] == hits + 1
    with pytest.raises(ValueError, match="unknown HCP"):
        svc.recommend("nobody")
    with pytest.raises(ValueError, match="unknown channel"):
        svc.recommend(hcp_id, channels=["fax"])
    assert {r["channel"] for r in svc.recommend(hcp_id, channels=["email"], use_cache=False)} <= {"email"}


def _engagement_preferring(settings, channel: str, value=0.95):
    """A table where ``channel`` is every item's best channel for every HCP."""
    store = Store(settings.database_url)
    n_h, n_c = store.count("hcps"), store.count("contents")
    engagement = np.random.default_rng(0).uniform(0.05, 0.4, size=(n_h, n_c, len(CHANNELS)))
    engagement[:, :, CHANNELS.index(channel)] = value
    return engagement


def test_opted_out_channel_is_never_recommended(world_settings, tmp_path):
    settings = copy_settings(world_settings, tmp_path)
    table_bundle(settings, engagement=_engagement_preferring(settings, "webinar"), version=V1)
    svc = NBAService.from_settings(settings)
    hcps, _, _ = frames(settings)
    opted_out = hcps.loc[~hcps["consent_webinar"].astype(bool), "hcp_id"].head(10)
    assert len(opted_out)
    for hcp_id in opted_out:
        for r in svc.recommend(hcp_id, n=10):
            assert r["channel"] != "webinar" and r["channel_probabilities"]["webinar"] == 0
            assert "Webinar excluded: HCP opted out" in r["rule_notes"]
    batch = svc.score_all(n=10)
    assert not ((batch["hcp_id"].isin(set(opted_out))) & (batch["channel"] == "webinar")).any()


def test_a_cheaper_channel_chosen_for_its_cost_is_said_on_the_item_not_as_an_hcp_rule(world_settings,
                                                                                     tmp_path):
    uncapped = {c: 1000 for c in CHANNELS}
    settings = copy_settings(world_settings, tmp_path, contact_caps=uncapped)
    engagement = _engagement_preferring(settings, "in_person", value=0.60)  # the most engaging, 0.10 dearer
    engagement[:, :, CHANNELS.index("email")] = 0.55  # than email: email's value 0.55 beats 0.60 - 0.10
    table_bundle(settings, engagement=engagement, version=V1)
    svc = NBAService.from_settings(settings)
    hcps, _, _ = frames(settings)
    both = hcps.loc[hcps["consent_email"].astype(bool) & hcps["consent_in_person"].astype(bool), "hcp_id"].head(5)
    no_visits = hcps.loc[hcps["consent_email"].astype(bool) & ~hcps["consent_in_person"].astype(bool), "hcp_id"]
    assert len(both) and len(no_visits)
    for hcp_id in both:
        rows = svc.recommend(hcp_id, n=5) + svc.plan(hcp_id)["steps"][:1]
        assert {r["channel"] for r in rows} == {"email"} and all(r["rule_notes"] == [] for r in rows)
        assert {r["cost_note"] for r in rows} == {
            "In person would engage 60% vs 55% by email: not worth its higher cost"}
    rows = svc.recommend(no_visits.iloc[0], n=5)
    assert all(r["rule_notes"] == ["In person excluded: HCP opted out"] and r["cost_note"] is None for r in rows)


def test_capped_channel_is_skipped_with_the_reason(world_settings, tmp_path):
    settings = copy_settings(world_settings, tmp_path, contact_caps={**world_settings.contact_caps, "email": 1})
    table_bundle(settings, engagement=_engagement_preferring(settings, "email"), version=V1)
    svc = NBAService.from_settings(settings)
    _, _, interactions = frames(settings)
    now = interactions["timestamp"].max()
    window = interactions[(interactions["timestamp"] > now - pd.Timedelta(days=settings.cap_days))
                          & (interactions["channel"] == "email")]
    counts = window["hcp_id"].value_counts()
    hcps, _, _ = frames(settings)
    consented = set(hcps.loc[hcps["consent_email"].astype(bool), "hcp_id"])
    capped = [h for h in counts.index if h in consented][:5]
    assert capped, "the tiny world should have recent email touches"
    for hcp_id in capped:
        rows = svc.recommend(hcp_id, n=5)
        assert rows and all(r["channel"] != "email" for r in rows)
        note = f"Email capped: {counts[hcp_id]} touches in the last {settings.cap_days} days"
        assert all(note in r["rule_notes"] for r in rows)
    uncapped = sorted(consented - set(counts.index))[0]
    assert all(r["channel"] == "email" and not r["rule_notes"] for r in svc.recommend(uncapped, n=5))
    summary = svc.rule_summary(capped[0])
    assert summary["channels"][0]["capped"] and summary["channels"][0]["touches_in_window"] == counts[capped[0]]


def test_expired_and_consumed_content_never_recommended(world_settings, tmp_path):
    settings = copy_settings(world_settings, tmp_path)
    store = Store(settings.database_url)
    _, contents, interactions = frames(settings)
    now = interactions["timestamp"].max()
    expired = contents["content_id"].iloc[:10].tolist()
    for content_id in expired[:5]:  # window over before "now" / not yet started
        store.execute("UPDATE contents SET approval_end = ? WHERE content_id = ?",
                      [(now - pd.Timedelta(days=2)).to_pydatetime(), content_id])
    for content_id in expired[5:]:
        store.execute("UPDATE contents SET approval_start = ? WHERE content_id = ?",
                      [(now + pd.Timedelta(days=2)).to_pydatetime(), content_id])
    engagement = np.random.default_rng(1).uniform(0.05, 0.5, size=(store.count("hcps"), len(contents), len(CHANNELS)))
    engagement[:, :10, :] = 0.99  # the expired items would top every list
    table_bundle(settings, engagement=engagement, version=V1)
    svc = NBAService.from_settings(settings)
    batch = svc.score_all(n=10)
    assert not batch["content_id"].isin(expired).any()
    consumed = set(zip(interactions.loc[interactions["engaged"], "hcp_id"],
                       interactions.loc[interactions["engaged"], "content_id"]))
    assert consumed and not consumed & set(zip(batch["hcp_id"], batch["content_id"]))
    approval = contents.set_index("content_id")
    ok = (approval["approval_start"].isna() | (approval["approval_start"] <= now.normalize())) & \
         (approval["approval_end"].isna() | (approval["approval_end"] >= now.normalize()))
    ok.loc[expired] = False
    assert batch["content_id"].isin(set(ok[ok].index)).all()
    hcp_id = interactions.loc[interactions["engaged"], "hcp_id"].iloc[0]
    single = svc.recommend(hcp_id, n=10, use_cache=False)
    assert not {r["content_id"] for r in single} & ({c for h, c in consumed if h == hcp_id} | set(expired))
    top = batch[batch["hcp_id"] == hcp_id].sort_values("rank")["content_id"].tolist()
    assert top == [r["content_id"] for r in single]  # batch and single scoring agree


def test_forecast_and_feedback(svc, settings_v1):
    hcp_id, content_id = svc.search_hcps()["rows"][0]["hcp_id"], Store(settings_v1.database_url).read(
        "contents")["content_id"].iloc[0]
    steps = svc.forecast(hcp_id, steps=3)
    assert [s["step"] for s in steps] == [1, 2, 3]
    assert steps[0]["date_low"] <= steps[0]["date"] <= steps[0]["date_high"]
    svc.record_feedback(hcp_id, content_id, "email", "dismiss", reason="already discussed", user="maria")
    svc.record_feedback(hcp_id, content_id, "email", "accept", user="maria")
    svc.record_feedback(hcp_id, content_id, "email", "accept", user="maria")  # a repeat: the same row
    stored = Store(settings_v1.database_url).read("feedback")
    assert len(stored) == 2 and set(stored["action"]) == {"accept", "dismiss"}
    assert (stored["bundle_version"] == V1).all() and stored["feedback_id"].is_unique
    for bad, message in [(("nobody", content_id, "email", "accept"), "unknown HCP"),
                         ((hcp_id, "C-none", "email", "accept"), "unknown content"),
                         ((hcp_id, content_id, "fax", "accept"), "unknown channel"),
                         ((hcp_id, content_id, None, "accept"), "unknown channel"),
                         ((hcp_id, content_id, "email", "like"), "action must be")]:
        with pytest.raises(ValueError, match=message):
            svc.record_feedback(*bad)
    assert len(Store(settings_v1.database_url).read("feedback")) == 2


# -- admin: reload, rollback, versions ----------------------------------------------------------------
def test_non_admin_reload_raises_and_writes_nothing(svc, settings_v1):
    table_bundle(settings_v1, seed=2, version=V2)
    store = Store(settings_v1.database_url)
    with pytest.raises(PermissionError, match="admin"):
        svc.reload(user="rep", role="rep")
    with pytest.raises(PermissionError):
        svc.rollback(user="rep", role=None)
    assert svc.version == V1 and store.count("audit_log") == 0 and store.get_meta(META_KEY) is None


def test_reload_rollback_and_refusal(svc, settings_v1):
    hcp_id = svc.search_hcps()["rows"][0]["hcp_id"]
    table_bundle(settings_v1, seed=2, version=V2)
    result = svc.reload(user="ada", role="admin")
    assert result["ok"] and svc.version == V2 and result["from"] == V1
    assert svc.recommend(hcp_id)[0]["version"] == V2  # cache keys carry the version
    assert Store(settings_v1.database_url).get_meta(META_KEY) == V2

    table_bundle(settings_v1, seed=3, version=V3)
    scorer_file = settings_v1.artifacts_dir / V3 / "scorer" / "table.npz"
    scorer_file.write_bytes(scorer_file.read_bytes()[:-10] + b"tampered!!")
    refused = svc.reload(V3, user="ada", role="admin")
    assert not refused["ok"] and svc.version == V2 and "sha256" in refused["result"]
    assert svc.recommend(hcp_id)[0]["version"] == V2

    back = svc.rollback(user="ada", role="admin")
    assert back["ok"] and svc.version == V1
    log = svc.audit_log()
    assert [(r["action"], r["result"][:7]) for r in log] == [("rollback", "ok"), ("reload", "refused"),
                                                             ("reload", "ok")]
    assert log[1]["to_version"] == V3 and log[0]["user_name"] == "ada"
    versions = svc.versions()
    assert [v["version"] for v in versions] == [V3, V2, V1]
    assert [v["serving"] for v in versions] == [False, False, True]
    assert versions[2]["metrics"] == {"ndcg@10": pytest.approx(0.31)}  # no ratio to an oracle: it means nothing


def test_second_instance_follows_the_shared_pointer(svc, settings_v1):
    other = NBAService.from_settings(settings_v1, check_every_s=0)
    hcp_id = svc.search_hcps()["rows"][0]["hcp_id"]
    assert other.recommend(hcp_id)[0]["version"] == V1
    table_bundle(settings_v1, seed=2, version=V2)
    svc.reload(V2, user="ada", role="admin")
    assert other.recommend(hcp_id)[0]["version"] == V2
    assert NBAService.from_settings(settings_v1).version == V2  # a new worker starts on the pointer


def test_profile_follows_the_shared_pointer(svc, settings_v1):
    other = NBAService.from_settings(settings_v1, check_every_s=0)
    hcp_id = svc.search_hcps()["rows"][0]["hcp_id"]
    assert other.hcp_profile(hcp_id)["in_model"] and other.version == V1
    table_bundle(settings_v1, seed=2, version=V2)
    svc.reload(V2, user="ada", role="admin")
    profile = other.hcp_profile(hcp_id)  # the first read after the reload: no recommend() before it
    assert other.version == V2 and profile["rules"] == other.rule_summary(hcp_id)


def test_health_metrics_and_status(shared):
    _, svc = shared
    health = svc.health()
    assert health["status"] == "ok" and health["bundle_loaded"] and health["version"] == V1
    assert health["cache_backend"] == "filesystem" and health["store"]
    metrics = svc.model_metrics()
    assert metrics["version"] == V1 and "models" in metrics["metrics"]
    status = svc.cache_status()
    assert {"hits", "misses", "backend", "available"} <= set(status)


def test_service_without_bundle_answers_store_questions(world_settings, tmp_path):
    svc = NBAService.from_settings(copy_settings(world_settings, tmp_path))
    assert svc.version is None and svc.search_hcps()["total"] > 0
    assert svc.health()["status"] == "degraded"
    with pytest.raises(RuntimeError, match="no model bundle"):
        svc.recommend(svc.search_hcps()["rows"][0]["hcp_id"])
    refused = svc.reload(user="ada", role="admin")
    assert not refused["ok"] and refused["result"].startswith("refused")


def test_unreachable_redis_warns_once_and_serves(settings_v1, caplog):
    cache = ServiceCache(settings_v1.with_(redis_url="redis://127.0.0.1:6390/0"), retry_after_s=60, local_entries=0)
    with caplog.at_level(logging.WARNING, logger="engine.service.cache"):
        for _ in range(20):
            assert cache.get_or_compute("k", lambda: 42) == 42
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1
    assert cache.status()["available"] is False and cache.status()["misses"] == 20


def test_local_lru_serves_repeats_in_process_bounded_and_expiring(settings_v1, tmp_path):
    settings = settings_v1.with_(cache_dir=tmp_path / "cache")
    cache = ServiceCache(settings, local_entries=2)
    calls = []
    for key in ("a", "a", "b", "c", "a"):
        cache.get_or_compute(key, lambda key=key: calls.append(key) or key.upper())
    # "a" was evicted from the 2-entry LRU by "b" and "c", then came back from the shared backend
    assert calls == ["a", "b", "c"]
    assert cache.status()["local_hits"] == 1 and cache.status()["local_entries"] == 2
    other = ServiceCache(settings)  # another worker: shares the backend, not the LRU
    assert other.get("c") == "C" and other.status()["local_hits"] == 0
    cache.set("short", 1)
    cache._local.expire(time.monotonic() + settings.cache_timeout + 1)  # as if its lifetime had passed
    assert cache._local_get("short") is None and cache.get("short") == 1  # the backend still has it
    cache.get_or_compute_once("big", lambda: "value")
    assert "big" not in cache._local  # large one-off values stay out of the LRU


# -- additions for the dashboard: history from memory, top content, filtered targets, version badge --
def test_history_from_memory_matches_the_store(shared):
    settings_v1, svc = shared
    store = Store(settings_v1.database_url)
    hcp_id = store.read("interactions")["hcp_id"].value_counts().index[0]
    expected = store.query(
        'SELECT i."timestamp", i.content_id, c.title, i.channel, i.outcome, i.engaged, i.dwell_seconds, i.converted, '
        'i.campaign_id FROM interactions i LEFT JOIN contents c ON c.content_id = i.content_id WHERE i.hcp_id = ? '
        'ORDER BY i."timestamp" DESC, i.interaction_id DESC LIMIT 3', [hcp_id])
    got = svc.hcp_history(hcp_id, limit=3)
    assert [h["timestamp"] for h in got] == [pd.Timestamp(t).isoformat() for t in expected["timestamp"]]
    assert [h["content_id"] for h in got] == expected["content_id"].tolist()
    assert [h["title"] for h in got] == expected["title"].tolist()
    assert [h["engaged"] for h in got] == expected["engaged"].astype(bool).tolist()
    assert [h["outcome"] for h in got] == expected["outcome"].tolist()
    assert svc.hcp_history("0000000000") == []


def test_top_content_counts_the_last_days_of_data(shared):
    settings_v1, svc = shared
    _, contents, interactions = frames(settings_v1)
    now = interactions["timestamp"].max()
    recent = interactions[interactions["timestamp"] > now - pd.Timedelta(days=30)]
    top = svc.top_content(n=5, days=30)
    assert 0 < len(top) <= 5
    engaged = recent.groupby("content_id")["engaged"].sum()
    first = top[0]
    assert first["engaged"] == int(engaged.max()) == int(engaged[first["content_id"]])
    assert first["touches"] == int((recent["content_id"] == first["content_id"]).sum())
    assert first["rate"] == pytest.approx(first["engaged"] / first["touches"])
    assert first["title"] == contents.set_index("content_id").loc[first["content_id"], "title"]
    assert [r["engaged"] for r in top] == sorted((r["engaged"] for r in top), reverse=True)
    assert sum(r["touches"] for r in svc.top_content(n=10_000, days=100_000)) == len(interactions)
    with pytest.raises(ValueError, match="days"):
        svc.top_content(days=0)


def test_target_list_filters_by_channel_and_probability(shared):
    _, svc = shared
    everyone = svc.target_list(n=100_000)
    assert svc.target_count() == len(everyone)
    probabilities = [r["engagement_probability"] for r in everyone]
    assert probabilities == sorted(probabilities, reverse=True)
    channel = everyone[0]["channel"]
    threshold = float(np.median(probabilities))
    chosen = svc.target_list(n=100_000, channel=channel, min_probability=threshold)
    expected = [r["hcp_id"] for r in everyone if r["channel"] == channel and r["engagement_probability"] >= threshold]
    assert [r["hcp_id"] for r in chosen] == expected and expected
    assert svc.target_count(channel=channel, min_probability=threshold) == len(expected)
    assert len(svc.target_list(n=3, channel=channel)) == min(3, sum(r["channel"] == channel for r in everyone))
    text = svc.target_list_csv(n=100_000, channel=channel, min_probability=threshold)
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [r["NPI"] for r in parsed] == expected and {r["Channel"] for r in parsed} == {channel_label(channel)}
    assert list(parsed[0]) == EXPORT_COLUMNS  # one column each: no engagement twice as "score"
    assert all(r["Why"] and r["Likely to engage (%)"].isdigit() for r in parsed)
    by_npi = {r["hcp_id"]: r for r in chosen}
    assert all(int(r["Likely to engage (%)"]) == round(100 * by_npi[r["NPI"]]["engagement_probability"])
               for r in parsed)
    with pytest.raises(ValueError, match="unknown channel"):
        svc.target_list(channel="fax")
    with pytest.raises(ValueError, match="min_probability"):
        svc.target_count(min_probability=1.5)


def test_segments_list_their_most_recommended_content(shared):
    _, svc = shared
    everyone = svc.target_list(n=100_000)
    for segment in svc.segments():
        mine = [r["content_id"] for r in everyone if (r["segment"] or "Unassigned") == segment["segment"]]
        top = segment["top_content"]
        assert [t["hcps"] for t in top] == sorted((t["hcps"] for t in top), reverse=True)
        if mine:
            assert top[0]["hcps"] == max(mine.count(c) for c in set(mine)) == mine.count(top[0]["content_id"])


def test_current_version_follows_the_pointer_without_touching_the_store(svc, settings_v1):
    other = NBAService.from_settings(settings_v1, check_every_s=0)
    assert other.current_version() == V1
    table_bundle(settings_v1, seed=2, version=V2)
    svc.reload(V2, user="ada", role="admin")
    assert other.current_version() == V2
    mirror = other.pointer.mirror
    assert mirror is not None and mirror.read_text() == V2  # readers poll this file, not the DuckDB file
    assert NBAService.from_settings(copy_settings_without_bundle(settings_v1)).current_version() is None


def copy_settings_without_bundle(settings):
    return settings.with_(artifacts_dir=settings.artifacts_dir.parent / "no-artifacts")


def test_get_or_compute_once_computes_once_across_callers(settings_v1):
    first, second = ServiceCache(settings_v1), ServiceCache(settings_v1)
    calls = []
    assert first.get_or_compute_once("k", lambda: calls.append(1) or 7) == 7
    assert second.get_or_compute_once("k", lambda: calls.append(2) or 8) == 7
    assert calls == [1]
    alive = (socket.gethostname(), os.getpid())
    second._backend.add("other:computing", alive, timeout=5)  # another process is computing "other"
    first.set("other", 9)
    assert second.get_or_compute_once("other", lambda: 10, wait_s=2) == 9
    # a claim left by a process that died mid-way is taken over at once, not waited out
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    second._backend.set("third:computing", (socket.gethostname(), dead.pid), timeout=60)
    assert not first._claim("other:computing", alive, 60)  # a live owner keeps its claim
    assert second._claim("third:computing", alive, 60) and second._backend.get("third:computing") == alive


def test_text_index_matches_per_row_string_tests():
    values = np.array(["Smith", "smithson", "Asmith", "", "Smith", "O'Neil", "jo smith", "SMITH"], dtype=object)
    codes, distinct = pd.factorize(values)  # "Smith" and "SMITH": two distinct values, one lower-cased
    index = _TextIndex(distinct, codes)
    lowered = [v.lower() for v in values]
    for needle in ("smith", "sm", "th", "o'", "neil", "x", "jo s", "smithsonian"):
        assert index.contains(needle).tolist() == [needle in v for v in lowered], needle
        assert index.startswith(needle).tolist() == [v.startswith(needle) for v in lowered], needle
        assert index.equals(needle).tolist() == [v == needle for v in lowered], needle
