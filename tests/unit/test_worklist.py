"""The worklist's day filling: best value first, at most the day's capacity per channel."""
from __future__ import annotations

import pandas as pd
import pytest

from engine.config import DEFAULT_WORKLIST_CAPACITY, Settings
from engine.service.worklist import fill_days


def candidates(rows):
    return pd.DataFrame(rows, columns=["hcp_id", "content_id", "channel", "engagement_probability", "value", "date"])


def test_a_day_holds_its_capacity_per_channel_best_value_first():
    frame = candidates([("H1", "C1", "rep_visit", 0.5, 0.30, "d1"), ("H2", "C1", "rep_visit", 0.6, 0.40, "d1"),
                        ("H3", "C2", "rep_visit", 0.4, 0.20, "d1"), ("H4", "C2", "email", 0.3, 0.25, "d1"),
                        ("H5", "C3", "rep_visit", 0.7, 0.10, "d2")])
    kept = fill_days(frame, {"rep_visit": 2})
    assert kept[["hcp_id", "date", "rank"]].values.tolist() == [["H2", "d1", 1], ["H1", "d1", 2], ["H4", "d1", 3],
                                                                ["H5", "d2", 1]]


def test_accepted_touches_use_the_capacity_first():
    frame = candidates([("H1", "C1", "rep_visit", 0.5, 0.3, "d1"), ("H2", "C1", "rep_visit", 0.6, 0.4, "d1")])
    taken = pd.DataFrame({"date": ["d1"], "channel": ["rep_visit"]})
    assert fill_days(frame, {"rep_visit": 2}, taken)["hcp_id"].tolist() == ["H2"]
    assert fill_days(frame, {"rep_visit": 0})["hcp_id"].tolist() == []
    assert fill_days(frame, {})["hcp_id"].tolist() == ["H2", "H1"]  # no limit named: no limit


def test_capacity_is_configured_per_channel_over_defaults():
    settings = Settings.from_env({"WORKLIST_CAPACITY": "rep_visit=3, email=0", "SNOOZE_DAYS": "14"})
    assert settings.worklist_capacity == {**DEFAULT_WORKLIST_CAPACITY, "rep_visit": 3, "email": 0}
    assert settings.snooze_days == 14
    with pytest.raises(ValueError, match="WORKLIST_CAPACITY: bad entry 'fax=2'"):
        Settings.from_env({"WORKLIST_CAPACITY": "fax=2"})
