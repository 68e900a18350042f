"""The service over a really trained tiny bundle: reasons, forecast, topics, metrics, batch scoring."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from engine import cli
from engine.config import CHANNELS, PROJECT_ROOT
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


#: Run in a fresh interpreter as a web worker would: build the app over the trained bundle, sign in,
#: render pages through the Pages router callback and use every serving component.
_WORKER_SCRIPT = """
import json, sys
from pathlib import Path

from engine.config import Settings
from tests.fixtures.web import route_payload, sign_in, write_users_file
from webapp import create_app
from webapp.extensions import nba

settings = Settings.from_env().with_(users_file=write_users_file(Path(sys.argv[1])))
client = create_app(settings, environ={}).server.test_client()
assert sign_in(client, "admin").status_code == 302
svc = nba.service
hcp_id = svc.search_hcps(sort=[{"colId": "touches", "sort": "desc"}])["rows"][0]["hcp_id"]
for path in ("/", f"/hcp/{hcp_id}", "/topics", "/models"):
    response = client.post("/_dash-update-component", json=route_payload(path))
    assert response.status_code == 200, (path, response.status_code)
assert svc.recommend(hcp_id, n=5, use_cache=False) and svc.forecast(hcp_id, steps=3)
assert svc.plan(hcp_id)["steps"] and svc.topic_explorer()["topics"]
print(json.dumps({"version": svc.version,
                  "loaded": sorted(m for m in ("tensorflow", "keras", "gensim", "scipy.sparse") if m in sys.modules)}))
"""


def test_a_web_worker_serves_without_tensorflow_keras_gensim_or_scipy_sparse(trained_settings, tmp_path):
    from tests.fixtures.web import HOST_ONLY_VARIABLES, settings_env

    settings = trained_settings.with_(cache_dir=tmp_path / "cache", var_dir=tmp_path / "var")
    env = {**{k: v for k, v in os.environ.items() if k not in HOST_ONLY_VARIABLES}, **settings_env(settings),
           "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run([sys.executable, "-c", _WORKER_SCRIPT, str(tmp_path / "users.json")], env=env,
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["version"] is not None  # the bundle was served, not skipped
    assert result["loaded"] == [], f"a web worker imported {result['loaded']}"
