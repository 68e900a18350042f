"""The business rules on a hand-built snapshot: exact, tiny, no store."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.config import CHANNELS
from engine.rules import Ask, ChannelRule, ContentRule, RuleBook
from engine.rules.approval import Approval
from engine.rules.contact_caps import ContactCaps
from engine.rules.engaged import AlreadyEngaged
from engine.service.snapshot import DataSnapshot

NOW = pd.Timestamp("2024-06-30 12:00")
EMAIL, WEBINAR, REP = 0, 1, 2


def snapshot(consent_webinar=(True, False, True), cap_touches=None, channels_in_use=CHANNELS) -> DataSnapshot:
    n_h = 3
    hcps = pd.DataFrame({"hcp_id": ["H1", "H2", "H3"], "first_name": ["A", "B", "C"], "last_name": ["X", "Y", "Z"],
                         "specialty": ["Cardiology", "Cardiology", "Oncology"], "segment": "Growth",
                         **{f"consent_{c}": True for c in CHANNELS}})
    hcps["consent_webinar"] = list(consent_webinar)
    contents = pd.DataFrame({
        "content_id": ["C1", "C2", "C3", "C4"], "title": ["t1", "t2", "t3", "t4"], "therapeutic_area": "Cardio",
        "approval_start": pd.to_datetime(["2024-01-01", "2024-07-15", None, "2024-01-01"]),  # C2 not yet approved
        "approval_end": pd.to_datetime(["2024-12-31", "2024-12-31", None, "2024-06-29"]),    # C4 expired yesterday
    })
    cap = np.zeros((n_h, len(CHANNELS)), dtype=np.int64) if cap_touches is None else np.asarray(cap_touches)
    hcp_of, channel_of = np.nonzero(cap)
    hcp_of, channel_of = np.repeat(hcp_of, cap[cap > 0]), np.repeat(channel_of, cap[cap > 0])
    return DataSnapshot(
        data_version="test", now=NOW, cap_days=30, hcps=hcps, contents=contents,
        touches=cap + np.isin(CHANNELS, channels_in_use)[None, :], engaged=np.zeros_like(cap), window_hcp=hcp_of, window_channel=channel_of,
        window_time=np.full(len(hcp_of), np.datetime64(NOW - pd.Timedelta(days=1), "us")),
        first_touch=np.full(n_h, np.datetime64("NaT"), "datetime64[us]"),
        last_touch=np.full(n_h, np.datetime64("NaT"), "datetime64[us]"),
        consumed_hcp=np.array([0, 2]), consumed_content=np.array([2, 0]),  # H1 engaged C3, H3 engaged C1
        monthly=pd.DataFrame(columns=["month", "channel", "specialty", "state", "touches", "engaged"]))


def uniform_scores(best_channel: int, n_h=3, n_c=4, consent=None):
    """(score, engagement): ``best_channel`` best everywhere; score = best consented engagement."""
    engagement = np.full((n_h, n_c, len(CHANNELS)), 0.2)
    engagement[:, :, best_channel] = 0.8
    engagement *= np.linspace(1.0, 0.7, n_c)[None, :, None]  # C1 best, C4 worst
    consent = np.ones((n_h, len(CHANNELS)), dtype=bool) if consent is None else consent
    return np.where(consent[:, None, :], engagement, 0).max(axis=2), engagement


def test_approval_window_and_consumed_content_are_excluded():
    rules = RuleBook({"email": 4}, 30).fit(snapshot(), ["H1", "H2", "H3"], ["C1", "C2", "C3", "C4"])
    assert rules.rule(Approval).approved_.tolist() == [True, False, True, False]
    score, engagement = uniform_scores(EMAIL)
    ruled = rules.apply(np.arange(3), score, engagement)
    assert ruled.top(4).tolist() == [[0, -1, -1, -1], [0, 2, -1, -1], [2, -1, -1, -1]]
    assert rules.rule(AlreadyEngaged).engaged(np.array([2, 0])).tolist() == [[True, False, False, False],
                                                              [False, False, True, False]]


def test_opted_out_channel_gets_zero_probability_and_renormalises():
    rules = RuleBook({}, 30).fit(snapshot(), ["H1", "H2", "H3"], ["C1", "C2", "C3", "C4"])
    score, engagement = uniform_scores(WEBINAR, consent=rules.consent_)
    ruled = rules.apply(np.arange(3), score, engagement)
    assert (ruled.channel[1] != WEBINAR).all() and (ruled.channel[0] == WEBINAR).all()
    shares = ruled.channel_probabilities[1, 0]
    assert shares[WEBINAR] == 0 and shares.sum() == pytest.approx(1.0)
    assert ruled.score[1, 0] == pytest.approx(engagement[1, 0, EMAIL])  # ranked by the best allowed channel
    assert rules.channel_block_note(1, WEBINAR) == "Webinar excluded: HCP opted out"


def test_contact_cap_blocks_a_channel_with_a_note():
    caps = np.zeros((3, len(CHANNELS)), dtype=np.int64)
    caps[0, EMAIL] = 4
    caps[1, EMAIL] = 3
    rules = RuleBook({"email": 4}, 30).fit(snapshot(cap_touches=caps), ["H1", "H2", "H3"], ["C1", "C2", "C3", "C4"])
    assert rules.rule(ContactCaps).capped_[:, EMAIL].tolist() == [True, False, False]
    score, engagement = uniform_scores(EMAIL)
    ruled = rules.apply(np.arange(3), score, engagement)
    assert (ruled.channel[0] != EMAIL).all() and (ruled.channel[1] == EMAIL).all()
    assert ruled.score[0, 0] == pytest.approx(engagement[0, 0, WEBINAR])  # ranked by what is still allowed
    assert ruled.score[1, 0] == pytest.approx(engagement[1, 0, EMAIL])
    assert rules.channel_block_note(0, EMAIL) == "Email capped: 4 touches in the last 30 days"
    assert rules.channel_block_note(1, EMAIL) is None
    summary = rules.summary(0)
    assert summary["channels"][EMAIL]["capped"] and summary["excluded_consumed"] == 1


def test_channel_filter_and_no_allowed_channel():
    everyone_out = snapshot()
    for c in CHANNELS:
        everyone_out.hcps.loc[0, f"consent_{c}"] = False
    rules = RuleBook({}, 30).fit(everyone_out, ["H1", "H2", "H3"], ["C1", "C2", "C3", "C4"])
    score, engagement = uniform_scores(EMAIL)
    ruled = rules.apply(np.arange(3), score, engagement, channels=["rep_visit"])
    assert (ruled.top(4)[0] == -1).all()  # nobody to contact -> nothing recommended
    assert set(ruled.channel[1, ruled.top(4)[1][ruled.top(4)[1] >= 0]]) == {REP}


def test_a_channel_without_any_touch_in_the_data_is_never_recommended():
    rules = RuleBook({}, 30).fit(snapshot(channels_in_use=["email"]), ["H1", "H2", "H3"], ["C1", "C2", "C3", "C4"])
    score, engagement = uniform_scores(WEBINAR)  # the model prefers a channel the brand never used
    ruled = rules.apply(np.arange(3), score, engagement)
    top = ruled.top(4)
    chosen = np.take_along_axis(ruled.channel, np.maximum(top, 0), axis=1)[top >= 0]
    assert (chosen == EMAIL).all() and (top[:, 0] >= 0).all()
    assert ruled.channel_probabilities[0, 0].tolist() == [1.0] + [0.0] * (len(CHANNELS) - 1)
    assert rules.channel_block_note(0, WEBINAR) == "Webinar excluded: no touch on this channel in the data"
    assert rules.summary(0)["channels"][WEBINAR]["in_use"] is False


def test_hcps_and_contents_unknown_to_the_store_are_never_recommended():
    rules = RuleBook({}, 30).fit(snapshot(), ["H1", "NEW"], ["C1", "C9"])
    score, engagement = uniform_scores(EMAIL, n_h=2, n_c=2)
    ruled = rules.apply(np.arange(2), score, engagement)
    assert ruled.top(2).tolist() == [[0, -1], [-1, -1]]


# -- adding a rule: one class, handed to the book ---------------------------------------------
class NoVisitsOnSundays(ChannelRule):
    """A dated channel rule: reps do not visit on Sundays (NOW, the as-of day, is a Sunday)."""

    dated = True

    def fit(self, context):
        self.day0 = context.day0

    def allows(self, ask):
        days = self.day0 + pd.to_timedelta(np.floor(ask.day), unit="D")
        allowed = np.ones((len(ask.hcp), len(CHANNELS)), dtype=bool)
        allowed[:, REP] = np.asarray(days.dayofweek) != 6
        return allowed

    def note(self, hcp, channel, planned=0):
        return "Rep visit excluded: no visits on Sundays" if channel == REP and self.day0.dayofweek == 6 else None

    def day_note(self, channel):
        return "Rep visit: no visits on Sundays" if channel == REP else None


class OwnAreaOnly(ContentRule):
    """An undated content rule: only content of the HCP's own therapeutic area."""

    AREAS = {"Cardiology": "Cardio", "Oncology": "Onco"}

    def fit(self, context):
        areas = context.snapshot.hcps["specialty"].map(self.AREAS).to_numpy(dtype=object)
        hcp_area = context.per_hcp(areas, missing=None)
        content_area = context.snapshot.contents["therapeutic_area"].to_numpy(dtype=object)[context.content_rows]
        self.same_ = hcp_area[:, None] == content_area[None, :]

    def allows(self, ask):
        return self.same_[ask.hcp]

    def summary(self, hcp):
        return {"excluded_other_area": int((~self.same_[hcp]).sum())}


def test_an_added_channel_rule_closes_its_channel_with_its_note():
    rules = RuleBook({}, 30, extra_rules=[NoVisitsOnSundays()]).fit(snapshot(), ["H1", "H2", "H3"],
                                                                    ["C1", "C2", "C3", "C4"])
    score, engagement = uniform_scores(REP)
    ruled = rules.apply(np.arange(3), score, engagement)
    assert (ruled.channel != REP).all() and ruled.top(4).tolist() == [[0, -1, -1, -1], [0, 2, -1, -1],
                                                                      [2, -1, -1, -1]]
    assert rules.channel_block_note(0, REP) == "Rep visit excluded: no visits on Sundays"
    assert rules.summary(0)["channels"][REP]["note"] == "Rep visit excluded: no visits on Sundays"
    assert rules.channel_block_note(0, REP, standing_only=True) is None and rules.day_note(REP) is not None
    monday = Ask(np.arange(3), np.ones(3), rules.touch_calendar(np.arange(3)))
    assert rules.channel_open(monday)[:, REP].all()


def test_an_added_content_rule_removes_its_items_and_reports_them():
    rules = RuleBook({}, 30, extra_rules=[OwnAreaOnly()]).fit(snapshot(), ["H1", "H2", "H3"],
                                                              ["C1", "C2", "C3", "C4"])
    ruled = rules.apply(np.arange(3), *uniform_scores(EMAIL))
    assert ruled.top(4).tolist() == [[0, -1, -1, -1], [0, 2, -1, -1], [-1, -1, -1, -1]]  # H3 is an oncologist
    assert rules.summary(2)["excluded_other_area"] == 4 and rules.summary(0)["excluded_other_area"] == 0
