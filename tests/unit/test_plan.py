"""The planner on a hand-built snapshot: exact steps, dates and channels, no store.

Timing comes from a real LSTM decoder whose weights make every gap 14 days
(:func:`tests.unit.test_service_fakes.constant_forecaster`), so every date is known in advance.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.config import CHANNELS
from engine.service.live import reasoning_instant
from engine.service.plan import DecoderTiming, Planner
from engine.rules import RuleBook
from engine.service.snapshot import DataSnapshot
from tests.unit.test_service_fakes import constant_forecaster

DAY0 = pd.Timestamp("2024-06-30")
NOW = reasoning_instant(DAY0)
EMAIL, WEBINAR, REP = 0, 1, 2
N_CONTENTS = 8


def snapshot(consent=None, past=(), consumed=(), approval=None) -> DataSnapshot:
    """One HCP (``H1``) and :data:`N_CONTENTS` contents approved all year unless ``approval`` says
    ``{content: (start_day, end_day)}`` relative to DAY0; ``past``: (channel, days before DAY0's end)."""
    hcps = pd.DataFrame({"hcp_id": ["H1"], "first_name": ["A"], "last_name": ["X"], "specialty": ["Cardiology"],
                         "segment": "Core", **{f"consent_{c}": True for c in CHANNELS}})
    for channel, value in (consent or {}).items():
        hcps[f"consent_{channel}"] = value
    starts = [DAY0 - pd.Timedelta(days=200)] * N_CONTENTS
    ends = [DAY0 + pd.Timedelta(days=200)] * N_CONTENTS
    for item, (start, end) in (approval or {}).items():
        starts[item], ends[item] = DAY0 + pd.Timedelta(days=start), DAY0 + pd.Timedelta(days=end)
    contents = pd.DataFrame({"content_id": [f"C{i}" for i in range(N_CONTENTS)],
                             "title": [f"t{i}" for i in range(N_CONTENTS)], "therapeutic_area": "Cardio",
                             "approval_start": starts, "approval_end": ends})
    zeros = np.zeros((1, len(CHANNELS)), dtype=np.int64)
    return DataSnapshot(
        data_version="test", now=NOW, cap_days=30, hcps=hcps, contents=contents, touches=zeros, engaged=zeros,
        window_hcp=np.zeros(len(past), dtype=np.int64), window_channel=np.array([c for c, _ in past], dtype=np.int64),
        window_time=np.array([np.datetime64(NOW - pd.Timedelta(days=d), "us") for _, d in past],
                             dtype="datetime64[us]"),
        first_touch=np.full(1, np.datetime64("NaT"), "datetime64[us]"),
        last_touch=np.full(1, np.datetime64("NaT"), "datetime64[us]"),
        consumed_hcp=np.zeros(len(consumed), dtype=np.int64), consumed_content=np.array(consumed, dtype=np.int64),
        monthly=pd.DataFrame(columns=["month", "channel", "specialty", "state", "touches", "engaged"]))


def scores(rep=0.6, email=0.5, webinar=0.2):
    """(score, engagement): every content engages ``rep`` by rep visit, ``email`` by email, C0 best."""
    engagement = np.full((1, N_CONTENTS, len(CHANNELS)), 0.1)
    engagement[0, :, REP], engagement[0, :, EMAIL], engagement[0, :, WEBINAR] = rep, email, webinar
    engagement *= np.linspace(1.0, 0.9, N_CONTENTS)[None, :, None]
    return engagement.max(axis=2), engagement


def planner(snap, caps=None, costs=None, horizon=90, steps=7) -> Planner:
    rules = RuleBook(caps or {"email": 4, "rep_visit": 1}, 30, costs or {"rep_visit": 0.08}).fit(
        snap, ["H1"], [f"C{i}" for i in range(N_CONTENTS)])
    timing = DecoderTiming(constant_forecaster([EMAIL], ["H1"], NOW), np.array([0]), NOW)
    return Planner(rules, timing, horizon, steps)


def run(snap, score_engagement=None, **kwargs):
    score, engagement = score_engagement or scores()
    excluded, planned = kwargs.pop("excluded", None), kwargs.pop("planned", None)
    batch = planner(snap, **kwargs).plan(np.array([0]), score, engagement, excluded, planned)
    taken = batch.content[0] >= 0
    return batch.content[0, taken].tolist(), batch.channel[0, taken].tolist(), batch.day[0, taken].tolist()


def test_value_timing_and_caps_over_the_horizon():
    items, channels, days = run(snapshot())
    # rep visit (0.6 - 0.08) beats email (0.5) whenever its cap (1 in 30 days) allows; gaps of 14 days
    assert days == [0, 14, 28, 42, 56, 70, 84]
    assert channels == [REP, EMAIL, EMAIL, REP, EMAIL, EMAIL, REP]
    assert items == [0, 1, 2, 3, 4, 5, 6]  # best value first, never a content twice


def test_step_one_is_the_top_recommendation():
    snap = snapshot(past=[(REP, 5.0)])
    rules = RuleBook({"email": 4, "rep_visit": 1}, 30, {"rep_visit": 0.08}).fit(snap, ["H1"],
                                                                               [f"C{i}" for i in range(N_CONTENTS)])
    score, engagement = scores()
    ruled = rules.apply(np.array([0]), score, engagement)
    items, channels, _ = run(snap)
    assert (items[0], channels[0]) == (int(ruled.top(1)[0, 0]), int(ruled.channel[0, ruled.top(1)[0, 0]]))


def test_channel_cost_makes_an_expensive_visit_earn_its_place():
    _, channels, _ = run(snapshot(), costs={"rep_visit": 0.2})
    assert set(channels) == {EMAIL}  # 0.6 - 0.2 < 0.5: never worth a visit
    _, channels, _ = run(snapshot(), costs={"rep_visit": 0.0})
    assert channels[0] == REP


def test_opted_out_channel_is_never_planned():
    _, channels, _ = run(snapshot(consent={"rep_visit": False}))
    assert REP not in channels and len(channels) == 7


def test_past_and_accepted_touches_count_toward_caps():
    _, channels, days = run(snapshot(past=[(REP, 20.0)]))
    assert channels[:2] == [EMAIL, REP] and days[:2] == [0, 14]  # the visit 20 days ago leaves the window on day 10
    _, channels, _ = run(snapshot(), planned=[[(REP, 3.0)]])  # an accepted visit on day 3
    assert channels[:3] == [EMAIL, EMAIL, EMAIL] and channels[3] == REP  # days 0, 14, 28 share its window


def test_approval_windows_hold_on_each_steps_own_day():
    # C0 (best) approved from day 20 on, C1 only until day 10
    items, _, days = run(snapshot(approval={0: (20, 200), 1: (-100, 10)}))
    assert items[0] == 1 and days[:3] == [0, 14, 28]
    assert items[1] == 2 and items[2] == 0  # C1 expired on day 14, C0 approved by day 28


def test_consumed_and_excluded_content_is_never_planned():
    excluded = np.zeros((1, N_CONTENTS), dtype=bool)
    excluded[0, 1] = True
    items, _, _ = run(snapshot(consumed=[0]), excluded=excluded)
    assert not {0, 1} & set(items)


def test_a_full_cap_slips_the_step_to_the_day_it_frees_up():
    only_rep = {c: c == "rep_visit" for c in CHANNELS}
    _, channels, days = run(snapshot(consent=only_rep))
    assert channels == [REP] * 4 and days == [0, 30, 60, 90]


def test_horizon_and_steps_bound_the_plan():
    _, _, days = run(snapshot(), horizon=30)
    assert days == [0, 14, 28]
    assert len(run(snapshot(), steps=2)[0]) == 2
    with pytest.raises(ValueError, match="max_steps"):
        planner(snapshot(), steps=0)


def test_an_added_dated_rule_holds_on_each_steps_own_day():
    from tests.unit.test_rules import NoVisitsOnSundays

    snap = snapshot()
    rules = RuleBook({"email": 4, "rep_visit": 1}, 30, {"rep_visit": 0.08}, extra_rules=[NoVisitsOnSundays()]).fit(
        snap, ["H1"], [f"C{i}" for i in range(N_CONTENTS)])
    timing = DecoderTiming(constant_forecaster([EMAIL], ["H1"], NOW), np.array([0]), NOW)
    batch = Planner(rules, timing, 90, 7).plan(np.array([0]), *scores())
    # every step falls on a Sunday (day 0 and 14-day gaps): the visits of the plain plan become emails
    assert batch.day[0].tolist() == [0, 14, 28, 42, 56, 70, 84] and set(batch.channel[0].tolist()) == {EMAIL}
