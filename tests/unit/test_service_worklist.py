"""A territory's worklist and week plan: today's best actions within a day's capacity, answers read back."""
from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from engine.config import channel_label
from engine.data.store import Store
from engine.service.territory import WEEK_PLAN_COLUMNS
from tests.unit.test_service import V1, copy_settings
from tests.unit.test_service_fakes import table_bundle
# svc: the plan tests' service fixture, over this module's svc_settings
from tests.unit.test_service_plan import engagement_with, svc  # noqa: F401

TERRITORY = "West"


@pytest.fixture
def svc_settings(world_settings, tmp_path):
    settings = copy_settings(world_settings, tmp_path).with_(
        worklist_capacity={"email": 5, "webinar": 5, "rep_visit": 3, "in_person": 2, "social_event": 2})
    table_bundle(settings, engagement=engagement_with(settings, "rep_visit"), version=V1)
    return settings


def territory_ids(settings) -> set[str]:
    hcps = Store(settings.database_url).read("hcps")
    return set(hcps.loc[hcps["territory"] == TERRITORY, "hcp_id"].astype(str))


def test_the_worklist_is_the_territory_best_first_within_the_day_capacity(svc, svc_settings):
    work = svc.worklist(TERRITORY)
    actions = work["actions"]
    assert actions and work["as_of"] == svc.as_of() and work["territory"] == TERRITORY
    assert {a["hcp_id"] for a in actions} <= territory_ids(svc_settings)
    assert len({a["hcp_id"] for a in actions}) == len(actions)  # one action per HCP a day
    for channel, capacity in svc_settings.worklist_capacity.items():
        assert sum(a["channel"] == channel for a in actions) <= capacity
        assert work["used"][channel] <= capacity
    values = [a["value"] for a in actions]
    assert values == sorted(values, reverse=True) and [a["rank"] for a in actions] == list(range(1, len(actions) + 1))
    best = {t["hcp_id"]: t for t in svc.target_list(n=10_000)}
    for a in actions:  # each HCP's own next best action, with its reasons
        assert (a["content_id"], a["channel"]) == (best[a["hcp_id"]]["content_id"], best[a["hcp_id"]]["channel"])
        assert a["reasons"] and a["name"]
    assert work["total"] == len(actions) <= sum(svc_settings.worklist_capacity.values())
    with pytest.raises(ValueError, match="territory"):
        svc.worklist("Atlantis")


def test_answers_change_the_worklist(svc):
    first, second, third = svc.worklist(TERRITORY)["actions"][:3]
    svc.record_feedback(first["hcp_id"], first["content_id"], first["channel"], "accept", user="msl")
    svc.record_feedback(second["hcp_id"], second["content_id"], second["channel"], "snooze", user="msl")
    svc.record_feedback(third["hcp_id"], third["content_id"], third["channel"], "dismiss", "Timing not right",
                        user="msl")
    work = svc.worklist(TERRITORY)
    accepted = work["accepted"]
    assert [(a["hcp_id"], a["content_id"], a["date"]) for a in accepted] == [
        (first["hcp_id"], first["content_id"], svc.as_of())]
    assert accepted[0]["name"] == first["name"] and accepted[0]["title"] == first["title"]
    listed = {(a["hcp_id"], a["content_id"]) for a in work["actions"]}
    assert first["hcp_id"] not in {a["hcp_id"] for a in work["actions"]}  # its action today is the accepted one
    assert (second["hcp_id"], second["content_id"]) not in listed and (third["hcp_id"], third["content_id"]) not in listed
    assert work["used"][first["channel"]] >= 1
    states = {r["content_id"]: r["state"] for r in svc.feedback_items(second["hcp_id"])}
    assert states[second["content_id"]] == "snoozed"
    item = next(r for r in svc.feedback_items(second["hcp_id"]) if r["content_id"] == second["content_id"])
    assert pd.Timestamp(item["rests_until"]) == pd.Timestamp(svc.as_of()) + pd.Timedelta(days=svc.settings.snooze_days)
    totals = svc.feedback_report(user="brand", role="brand_manager")["totals"]
    assert (totals["accepted"], totals["dismissed"], totals["snoozed"]) == (1, 1, 1)


def test_the_week_plan_exports_as_csv(svc):
    first = svc.worklist(TERRITORY)["actions"][0]
    svc.record_feedback(first["hcp_id"], first["content_id"], first["channel"], "accept", user="msl")
    week = svc.week_plan(TERRITORY)
    days = sorted({r["date"] for r in week})
    as_of = pd.Timestamp(svc.as_of())
    assert days[0] == svc.as_of() and pd.Timestamp(days[-1]) < as_of + pd.Timedelta(days=7)
    for day in days:
        rows = [r for r in week if r["date"] == day]
        assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
        for channel, capacity in svc.settings.worklist_capacity.items():
            assert sum(r["channel"] == channel for r in rows) <= capacity
    assert week[0]["status"] == "accepted" and week[0]["hcp_id"] == first["hcp_id"]
    parsed = list(csv.DictReader(io.StringIO(svc.week_plan_csv(TERRITORY))))
    assert list(parsed[0]) == WEEK_PLAN_COLUMNS and len(parsed) == len(week)
    assert parsed[0]["Status"] == "Accepted" and parsed[0]["Likely to engage (%)"] == ""
    assert parsed[1]["Channel"] == channel_label(week[1]["channel"]) and parsed[1]["Likely to engage (%)"].isdigit()
    with pytest.raises(ValueError, match="days"):
        svc.week_plan(TERRITORY, days=0)
