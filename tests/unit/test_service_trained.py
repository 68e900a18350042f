"""The service over a really trained tiny bundle: reasons, forecast, topics, metrics, batch scoring."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from engine import cli
from engine.config import CHANNELS
from engine.data.store import Store
from engine.service import NBAService



@pytest.fixture(scope="module")
def trained(trained_settings, tmp_path_factory):
    settings = trained_settings.with_(cache_dir=tmp_path_factory.mktemp("trained-cache"))
    return settings, NBAService.from_settings(settings)


def test_recommendations_with_reasons_from_the_trained_scorer(trained):
    settings, svc = trained
    hcp_ids = [r["hcp_id"] for r in svc.search_hcps(sort=[{"colId": "touches", "sort": "desc"}])["rows"][:5]]
    for hcp_id in hcp_ids:
        rows = svc.recommend(hcp_id, n=10, use_cache=False)
        assert rows, hcp_id
        profile = svc.hcp_profile(hcp_id)
        consented = {c["channel"] for c in profile["channels"] if c["consent"]}
        for r in rows:
            assert r["channel"] in consented
            assert set(r["channel_probabilities"]) == set(CHANNELS)
            assert 1 <= len(r["reasons"]) <= 3
            assert all(s[:1].isupper() or s[:1].isdigit() for s in r["reasons"])  # sentences, not term lists
            assert not any("·" in s or "_" in s for s in r["reasons"])
            assert r["version"] == svc.version


def test_forecast_topics_and_metrics(trained):
    _, svc = trained
    hcp_id = svc.search_hcps(sort=[{"colId": "touches", "sort": "desc"}])["rows"][0]["hcp_id"]
    steps = svc.forecast(hcp_id, steps=4)
    assert [s["step"] for s in steps] == [1, 2, 3, 4]
    assert all(s["channel"] in CHANNELS and s["date_low"] <= s["date"] <= s["date_high"] for s in steps)
    assert steps[0]["date"] >= svc.health()["as_of"]
    explorer = svc.topic_explorer()
    assert explorer and json.dumps(explorer)
    docs = svc.topic_documents(0, n=5)
    assert len(docs) == 5 and docs[0]["weight"] >= docs[-1]["weight"]
    metrics = svc.model_metrics()
    assert "hybrid" in metrics["metrics"].get("models", {})
    # the served version is listed (e2e tests may have added newer bundles to the shared artifacts)
    assert [v["version"] for v in svc.versions() if v["serving"]] == [svc.version]


def test_score_command_stores_and_exports(trained, tmp_path, monkeypatch):
    settings, svc = trained
    for key, value in {"DATABASE_URL": settings.database_url, "ARTIFACTS_DIR": str(settings.artifacts_dir),
                       "CACHE_DIR": str(tmp_path / "cache")}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("REDIS_URL", raising=False)
    out = tmp_path / "top.csv"
    assert cli.main(["score", "--all", "--n", "3", "--out", str(out), "--quiet"]) == 0
    stored = Store(settings.database_url).read("recommendations")
    exported = pd.read_csv(out, dtype={"hcp_id": str})
    assert len(stored) == len(exported) > 0 and stored["rank"].max() <= 3
    assert (stored["bundle_version"] == svc.version).all()
    one = stored["hcp_id"].iloc[0]
    top = stored[stored["hcp_id"] == one].sort_values("rank")["content_id"].tolist()
    assert top == [r["content_id"] for r in svc.recommend(one, n=3, use_cache=False)]
    assert cli.main(["score", "--all", "--out", str(tmp_path / "x.xlsx"), "--quiet"]) == 1
    targets = svc.target_list(n=5)  # reads the stored top-1 rows
    assert len(targets) == 5 and targets[0]["engagement_probability"] >= targets[-1]["engagement_probability"]
