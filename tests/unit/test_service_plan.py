"""NBAService plans, feedback read back and live data on the tiny world with exact table bundles."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.config import CHANNELS
from engine.data.store import Store
from engine.models.data import feedback_examples
from engine.service import NBAService
from tests.unit.test_service import V1, copy_settings, frames
from tests.unit.test_service_fakes import table_bundle


def engagement_with(settings, best: str, value=0.9, seed=0):
    store = Store(settings.database_url)
    rng = np.random.default_rng(seed)
    engagement = rng.uniform(0.05, 0.4, size=(store.count("hcps"), store.count("contents"), len(CHANNELS)))
    engagement[:, :, CHANNELS.index(best)] = value * rng.uniform(0.8, 1.0, size=engagement.shape[:2])
    return engagement


@pytest.fixture
def svc_settings(world_settings, tmp_path):
    settings = copy_settings(world_settings, tmp_path)
    table_bundle(settings, engagement=engagement_with(settings, "email"), version=V1)
    return settings


@pytest.fixture
def svc(svc_settings):
    service = NBAService.from_settings(svc_settings, check_every_s=0)
    yield service
    service.close()


def reachable(svc, channel="email", n=5):
    """HCPs that consented to ``channel`` and get a plan."""
    hcps = svc.state.read().data.snapshot.hcps
    ids = hcps.loc[hcps[f"consent_{channel}"].astype(bool), "hcp_id"].astype(str)
    return [h for h in ids if svc.plan(h)["steps"]][:n]


# -- the plan ------------------------------------------------------------------------------------------
def test_plan_is_dated_from_the_as_of_day_and_starts_with_the_top_recommendation(svc, svc_settings):
    as_of = pd.Timestamp(svc.as_of())
    _, _, interactions = frames(svc_settings)
    assert as_of == interactions["timestamp"].max().normalize()  # the world's last day, recorded by its load
    for hcp_id in reachable(svc):
        plan, recs = svc.plan(hcp_id), svc.recommend(hcp_id)
        first = plan["steps"][0]
        assert (first["content_id"], first["channel"]) == (recs[0]["content_id"], recs[0]["channel"])
        assert first["date"] == as_of.date().isoformat() and plan["as_of"] == first["date"]
        days = [s["day"] for s in plan["steps"]]
        assert days == sorted(days) and days[-1] <= svc_settings.plan_horizon_days
        assert len({s["content_id"] for s in plan["steps"]}) == len(days)  # no content twice
        assert all(s["reasons"] for s in plan["steps"])
    with pytest.raises(ValueError, match="horizon_days"):
        svc.plan(hcp_id, horizon_days=1000)
    with pytest.raises(ValueError, match="unknown HCP"):
        svc.plan("nobody")


def test_plans_of_everyone_match_single_plans(svc):
    ids = reachable(svc, n=3)
    batch = svc.plan_all(hcp_ids=ids)
    for hcp_id in ids:
        steps = batch[batch["hcp_id"] == hcp_id].sort_values("step")
        single = svc.plan(hcp_id)["steps"]
        assert steps["content_id"].tolist() == [s["content_id"] for s in single]
        assert [pd.Timestamp(d).date().isoformat() for d in steps["date"]] == [s["date"] for s in single]


def test_rules_reason_at_the_configured_day_not_the_data_end(world_settings, tmp_path):
    _, _, interactions = frames(world_settings)
    later = interactions["timestamp"].max().normalize() + pd.Timedelta(days=60)
    settings = copy_settings(world_settings, tmp_path, as_of=later)
    table_bundle(settings, version=V1)
    svc = NBAService.from_settings(settings, check_every_s=0)
    assert svc.as_of() == later.date().isoformat()
    _, contents, _ = frames(settings)
    approved = contents[(contents["approval_start"].isna() | (contents["approval_start"] <= later))
                        & (contents["approval_end"].isna() | (contents["approval_end"] >= later))]
    batch = svc.score_all(n=10)
    assert len(batch) and batch["content_id"].isin(set(approved["content_id"])).all()
    # 60 days on, no past touch is inside a 30-day cap window
    assert all(c["touches_in_window"] == 0 for c in svc.rule_summary(batch["hcp_id"].iloc[0])["channels"])


# -- feedback ------------------------------------------------------------------------------------------
def test_dismissed_content_rests_on_every_channel_and_repeats_are_one_row(svc, svc_settings):
    hcp_id = reachable(svc, n=1)[0]
    top = svc.recommend(hcp_id)[0]
    state = svc.record_feedback(hcp_id, top["content_id"], top["channel"], "dismiss", "Timing not right", "maria")
    svc.record_feedback(hcp_id, top["content_id"], top["channel"], "dismiss", "Timing not right", "maria")
    assert Store(svc_settings.database_url).count("feedback") == 1
    assert state["state"] == "resting" and state["action"] == "dismiss"
    resting_until = pd.Timestamp(svc.as_of()) + pd.Timedelta(days=svc_settings.dismiss_days)
    assert state["rests_until"] == resting_until.date().isoformat()
    assert top["content_id"] not in {r["content_id"] for r in svc.recommend(hcp_id, n=50)}
    assert top["content_id"] not in {s["content_id"] for s in svc.plan(hcp_id)["steps"]}
    assert top["content_id"] not in set(svc.score_all(n=50, hcp_ids=[hcp_id])["content_id"])
    assert svc.target_list(n=100_000)  # the worklist is rebuilt with the feedback
    listed = next(r for r in svc.target_list(n=100_000) if r["hcp_id"] == hcp_id)
    assert listed["content_id"] == svc.recommend(hcp_id)[0]["content_id"]


def test_the_rest_period_is_configurable(world_settings, tmp_path):
    settings = copy_settings(world_settings, tmp_path, dismiss_days=0)
    table_bundle(settings, version=V1)
    svc = NBAService.from_settings(settings, check_every_s=0)
    hcp_id = reachable(svc, n=1)[0]
    top = svc.recommend(hcp_id)[0]
    svc.record_feedback(hcp_id, top["content_id"], top["channel"], "dismiss", "Other")
    assert svc.recommend(hcp_id)[0]["content_id"] == top["content_id"]  # no rest: suggested again


def test_an_accepted_touch_is_planned_and_counts_toward_caps(world_settings, tmp_path):
    settings = copy_settings(world_settings, tmp_path, contact_caps={**world_settings.contact_caps, "email": 1})
    table_bundle(settings, engagement=engagement_with(settings, "email"), version=V1)
    svc = NBAService.from_settings(settings, check_every_s=0)
    hcps, _, interactions = frames(settings)
    window = interactions[(interactions["timestamp"] > interactions["timestamp"].max() - pd.Timedelta(days=30))
                          & (interactions["channel"] == "email")]
    free = [h for h in hcps.loc[hcps["consent_email"].astype(bool), "hcp_id"] if h not in set(window["hcp_id"])]
    hcp_id = next(h for h in free if svc.recommend(h) and svc.recommend(h)[0]["channel"] == "email")
    top = svc.recommend(hcp_id)[0]
    state = svc.record_feedback(hcp_id, top["content_id"], "email", "accept", user="maria")
    assert state["state"] == "planned" and state["planned_for"] == svc.as_of()
    after = svc.recommend(hcp_id)
    assert after and all(r["channel"] != "email" for r in after)  # the accepted email fills the cap of 1
    assert any("Email capped: 0 touches and 1 planned" in n for r in after for n in r["rule_notes"])
    plan = svc.plan(hcp_id)
    assert plan["accepted"] == [{"date": svc.as_of(), "content_id": top["content_id"], "title": top["title"],
                                 "channel": "email"}]
    emails = [s["day"] for s in plan["steps"] if s["channel"] == "email"]
    assert all(day >= 30 for day in emails)  # the next email waits for the accepted one to leave the window
    with pytest.raises(ValueError, match="before the as-of day"):
        svc.record_feedback(hcp_id, top["content_id"], "email", "accept", planned_for="2000-01-01")


def test_feedback_report_counts_latest_answers_and_needs_the_role(svc):
    ids = reachable(svc, n=2)
    first, second = (svc.recommend(h)[0] for h in ids)
    svc.record_feedback(ids[0], first["content_id"], first["channel"], "accept")
    svc.record_feedback(ids[1], second["content_id"], second["channel"], "dismiss", "Content outdated: old data")
    with pytest.raises(PermissionError, match="brand_manager"):
        svc.feedback_report(user="rep", role="msl")
    report = svc.feedback_report(user="ada", role="brand_manager")
    assert report["totals"] == {"answers": 2, "accepted": 1, "dismissed": 1, "snoozed": 0, "acceptance_rate": 0.5}
    assert report["dismiss_reasons"] == [{"reason": "Content outdated", "count": 1}]
    by_channel = {r["channel"]: r for r in report["by_channel"]}
    assert sum(r["answers"] for r in by_channel.values()) == 2


def test_another_worker_reads_the_feedback_back(svc, svc_settings):
    other = NBAService.from_settings(svc_settings, check_every_s=0)
    hcp_id = reachable(svc, n=1)[0]
    top = other.recommend(hcp_id)[0]
    svc.record_feedback(hcp_id, top["content_id"], top["channel"], "dismiss", "Other")
    assert other.recommend(hcp_id)[0]["content_id"] != top["content_id"]
    assert other.feedback_items(hcp_id)[0]["state"] == "resting"


def test_dismissals_become_non_engaged_training_touches_before_the_windows():
    feedback = pd.DataFrame({
        "feedback_id": [1, 2, 3], "hcp_id": ["H1", "H1", "H9"], "content_id": ["C1", "C2", "C1"],
        "channel": ["email", "webinar", "email"], "action": ["dismiss", "accept", "dismiss"],
        "created_at": pd.to_datetime(["2025-01-02", "2025-01-02", "2025-01-02"]),
        "as_of": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-01-01"])})
    examples = feedback_examples(feedback, ["H1"], ["C1", "C2"], at=pd.Timestamp("2024-12-01"), first_id=100)
    assert examples[["interaction_id", "hcp_id", "content_id", "channel", "outcome"]].values.tolist() == \
        [[100, "H1", "C1", "email", "delivered"]]
    assert not examples["engaged"].any() and examples["timestamp"].iloc[0] < pd.Timestamp("2024-12-01")


# -- live data: an ingest reaches a running service ------------------------------------------------------
def test_an_ingest_reaches_a_running_service(svc, svc_settings):
    store = Store(svc_settings.database_url)
    hcps = store.read("hcps")
    hcp_id = reachable(svc, n=1)[0]
    assert any(s["channel"] == "email" for s in svc.plan(hcp_id)["steps"])
    hcps.loc[hcps["hcp_id"] == hcp_id, "consent_email"] = False
    newcomer = hcps[hcps["hcp_id"] == hcp_id].assign(hcp_id="1999999999", last_name="Newcomer",
                                                     consent_email=True)
    store.replace({"hcps": pd.concat([hcps, newcomer], ignore_index=True)})  # what `ingest hcps` does
    assert svc.refresh_data()["data"] == store.versions()["data"]
    assert all(s["channel"] != "email" for s in svc.plan(hcp_id)["steps"])
    assert all(r["channel"] != "email" for r in svc.recommend(hcp_id, n=20))
    # an HCP the bundle never saw: recommendations and a plan from its peers
    recs = svc.recommend("1999999999")
    assert recs and any("engaged with" in reason for reason in recs[0]["reasons"])  # the peers' evidence
    assert svc.plan("1999999999")["steps"][0]["content_id"] == recs[0]["content_id"]
    assert svc.hcp_profile("1999999999")["in_model"] is False and svc.forecast("1999999999") == []
