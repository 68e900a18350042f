"""Reasons in plain English: topic phrases, evidence with numbers, the distinct factor first."""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.config import CHANNELS
from engine.service.reasons import ReasonEvidence, ReasonWriter, ago, practitioners, times
from engine.service.snapshot import DataSnapshot, HcpHistory
from engine.topics.labels import phrase_label, topic_phrases

NOW = pd.Timestamp("2024-06-30 12:00")
EMAIL, WEBINAR, REP = 0, 1, 2
TOPIC, PEERS, RECENT, CHANNEL, APPEAL = "topic match", "peers", "recent sequence", "channel affinity", "content appeal"


def snapshot() -> DataSnapshot:
    """Three cardiologists (two in California), one oncologist; contents C1..C3.

    H1 attended a webinar on C1 three weeks ago and opened an email on C2 two months ago; 4 of
    H1's 6 emails were engaged. H2 and H3 (Californian cardiologists) engaged with C3, H4 too.
    """
    hcps = pd.DataFrame({"hcp_id": ["H1", "H2", "H3", "H4"], "first_name": "A", "last_name": "B",
                         "specialty": ["Cardiology", "Cardiology", "Cardiology", "Oncology"],
                         "state": ["CA", "CA", "CA", "TX"], "segment": "Growth",
                         **{f"consent_{c}": True for c in CHANNELS}})
    contents = pd.DataFrame({"content_id": ["C1", "C2", "C3"], "title": ["t1", "t2", "t3"],
                             "therapeutic_area": "Cardiovascular Risk"})
    touches = pd.DataFrame({
        "interaction_id": range(1, 6), "hcp_id": ["H1", "H1", "H2", "H3", "H4"],
        "content_id": ["C1", "C2", "C3", "C3", "C3"], "campaign_id": None,
        "channel": ["webinar", "email", "email", "email", "email"],
        "timestamp": [NOW - pd.Timedelta(days=21), NOW - pd.Timedelta(days=60), NOW - pd.Timedelta(days=5),
                      NOW - pd.Timedelta(days=5), NOW - pd.Timedelta(days=5)],
        "outcome": ["attended", "opened", "opened", "clicked", "opened"], "engaged": True,
        "dwell_seconds": None, "converted": None})
    counts = np.zeros((4, len(CHANNELS)), dtype=np.int64)
    sent, engaged = counts.copy(), counts.copy()
    sent[0, EMAIL], engaged[0, EMAIL] = 6, 4
    hcp_pos = pd.Series(np.arange(4), index=hcps["hcp_id"])
    return DataSnapshot(
        data_version="test", now=NOW, cap_days=30, hcps=hcps, contents=contents, touches=sent, engaged=engaged,
        window_hcp=np.zeros(0, np.int64), window_channel=np.zeros(0, np.int64),
        window_time=np.zeros(0, "datetime64[us]"), first_touch=np.full(4, np.datetime64("NaT"), "datetime64[us]"),
        last_touch=np.full(4, np.datetime64("NaT"), "datetime64[us]"),
        consumed_hcp=np.array([0, 0, 1, 2, 3]), consumed_content=np.array([0, 1, 2, 2, 2]),
        monthly=pd.DataFrame(columns=["month", "channel", "specialty", "state", "touches", "engaged"]),
        history=HcpHistory.build(touches, hcp_pos, 4))


def writer() -> ReasonWriter:
    # C1 and C3 are about heart failure (topic 0), C2 about LDL cholesterol (topic 1)
    evidence = ReasonEvidence.build(snapshot(), ["C1", "C2", "C3"], hcp_rows=np.arange(4),
                                    content_phrases=np.array(["heart failure", "LDL cholesterol", "heart failure"]),
                                    content_topic=np.array([0, 1, 0]))
    return ReasonWriter(evidence)


def factors(**columns) -> dict:
    return {name: np.asarray(values, dtype=float) for name, values in columns.items()}


def test_each_factor_is_said_with_the_data_behind_it(monkeypatch):
    w = writer()
    only = {"topic_match": TOPIC, "peers": PEERS, "recent": RECENT, "channel": CHANNEL, "appeal": APPEAL}
    said = {}
    for key, name in only.items():
        f = {n: np.array([0.0, 0.0, 1.0]) if n == name else np.zeros(3) for n in only.values()}
        said[key] = w.reasons(0, np.array([2]), np.array([EMAIL]), f)[0]
    assert said["topic_match"] == ["About heart failure: they engaged with this topic once, last 3 weeks ago"]
    assert said["peers"] == ["2 cardiologists engaged with it"]  # too few in California to say so
    monkeypatch.setattr("engine.service.reasons.MIN_STATE_PEERS", 2)
    assert w.reasons(0, np.array([2]), np.array([EMAIL]), {PEERS: np.ones(3)}) == [
        ["2 cardiologists in California engaged with it"]]
    assert said["recent"] == ["Attended a webinar on heart failure 3 weeks ago; an email is the likely next step"]
    assert said["channel"] == ["Engaged with 4 of the 6 emails sent to them"]
    assert said["appeal"] == ["Well received by HCPs so far"]  # 3 sends: too few to quote a rate


def test_the_factor_that_sets_a_row_apart_comes_first():
    w = writer()
    # factors per content (C1, C2, C3): the topic adds most everywhere; what differs is the peers of
    # C1 and the channel of C2
    f = factors(**{TOPIC: [2.0, 2.0, 2.0], PEERS: [1.0, 0.1, 0.1], RECENT: [0.0, 0.0, 0.0],
                   CHANNEL: [0.1, 1.0, 0.1], APPEAL: [0.0, 0.0, 0.0]})
    rows = w.reasons(0, np.array([0, 1, 2]), np.array([EMAIL, EMAIL, WEBINAR]), f)
    assert rows[0][0].endswith("engaged with it")                      # peers
    assert rows[1][0] == "Engaged with 4 of the 6 emails sent to them"  # channel
    assert rows[2][0].startswith("About heart failure")                 # nothing stands out: the largest
    assert len({r[0] for r in rows}) == 3
    assert all(len(r) <= 3 for r in rows)


def test_only_positive_factors_are_cited_and_one_reason_at_least():
    w = writer()
    f = factors(**{TOPIC: [-1.0] * 3, PEERS: [-0.5] * 3, RECENT: [-2.0] * 3, CHANNEL: [-0.1] * 3, APPEAL: [-3.0] * 3})
    assert w.reasons(0, np.array([1]), np.array([EMAIL]), f) == [["Engaged with 4 of the 6 emails sent to them"]]
    assert w.reasons(0, np.array([], dtype=int), np.array([], dtype=int), f) == []


def test_general_words_where_the_data_says_little():
    w = writer()
    f = factors(**{TOPIC: [1.0] * 3, PEERS: [0.0] * 3, RECENT: [0.5] * 3, CHANNEL: [0.2] * 3, APPEAL: [0.0] * 3})
    [reasons] = w.reasons(3, np.array([1]), np.array([REP]), f)  # H4: no LDL history, no rep visit yet
    assert reasons == ["About LDL cholesterol, close to the topics they engage with",
                       "Opened an email on heart failure 5 days ago; a rep visit is the likely next step",
                       "Rep visit suits HCPs like them"]


def test_words_for_numbers_and_people():
    assert times(1) == "once" and times(2) == "twice" and times(5) == "5 times"
    assert [ago(d) for d in (0, 1, 5, 21, 120)] == ["today", "yesterday", "5 days ago", "3 weeks ago", "4 months ago"]
    assert practitioners("Cardiology", 1) == "1 cardiologist" and practitioners("Cardiology", 37) == "37 cardiologists"
    assert practitioners("Surgery", 2) == "2 Surgery HCPs"


def test_topic_phrases_are_words_people_say():
    terms = ["rapid_titration", "worsen_heart_failure", "sacubitril_valsartan", "recently_hospitalize_heart_failure",
             "adult_chronic_heart_failure", "heart_failure", "cardiomyopathy"]
    assert phrase_label(terms).startswith("heart failure")
    assert phrase_label(["direct_oral", "fibrillation", "net_adverse", "subclinical_atrial", "atrial_fibrillation",
                         "apixaban", "clinically_bleed", "bleed"]).startswith("atrial fibrillation")
    assert phrase_label(["ldl_cholesterol", "intensity_atorvastatin", "plus_ezetimibe", "attainment_ldl",
                         "hdl_cholesterol"]).startswith("LDL cholesterol")
    for label in (phrase_label(terms), phrase_label(["copd", "exacerbation_copd"])):
        assert "_" not in label and "·" not in label
    explorer = {"topics": [{"id": 0}], "relevance": {"0": [
        {"term": "heart_failure", "p_term_topic": 0.2, "p_term": 0.01},
        {"term": "event", "p_term_topic": 0.3, "p_term": 0.3}]}}
    assert topic_phrases(explorer) == {0: "heart failure"}
