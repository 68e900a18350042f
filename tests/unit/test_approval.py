"""The one approval calendar: edge days, open ends, publication, and equivalence with the old call sites."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.rules.approval import ApprovalCalendar

D = pd.Timestamp


def contents() -> pd.DataFrame:
    return pd.DataFrame({
        "content_id": ["window", "no_start", "no_end", "no_dates", "published_late", "start_from_publication"],
        "publication_date": pd.to_datetime(["2024-03-01", None, None, None, "2024-03-15", "2024-03-12"]),
        "approval_start": pd.to_datetime(["2024-03-10", None, "2024-03-10", None, "2024-03-10", None]),
        "approval_end": pd.to_datetime(["2024-03-20", "2024-03-20", None, None, "2024-03-30", None]),
    })


@pytest.mark.parametrize("at, expected", [
    (D("2024-03-09 23:59"), [False, True, False, True, False, False]),
    (D("2024-03-10 00:00"), [True, True, True, True, False, False]),   # approval starts on the day
    (D("2024-03-12 08:00"), [True, True, True, True, False, True]),    # no start: from publication
    (D("2024-03-15 00:00"), [True, True, True, True, True, True]),     # not before publication
    (D("2024-03-20 23:59"), [True, True, True, True, True, True]),     # the whole last day
    (D("2024-03-21 00:00"), [False, False, True, True, True, True]),   # expired
])
def test_approved_on_the_day_of_each_instant(at, expected):
    assert ApprovalCalendar.from_contents(contents()).approved(at).tolist() == expected


def test_missing_columns_leave_everything_open_and_unknown_content_is_never_approved():
    bare = ApprovalCalendar.from_contents(pd.DataFrame({"content_id": ["a", "b"]}))
    assert bare.approved(D("1999-01-01")).tolist() == [True, True]
    served = ApprovalCalendar.from_contents(contents()).reindex([0, -1, 3])
    assert served.approved(D("2024-03-15")).tolist() == [True, False, True]
    assert served.share(D("2024-03-15"), 10).tolist() == [pytest.approx(0.6), 0.0, 1.0]
    assert served.approved_some_day(D("2000-01-01"), D("2100-01-01")).tolist() == [True, False, True]


def test_days_relative_to_an_origin_and_arrays_of_instants():
    calendar = ApprovalCalendar.from_contents(contents(), origin=D("2024-03-10 15:00"))  # origin: its midnight
    assert calendar.first[:3].tolist() == [0.0, -np.inf, 0.0] and calendar.last[:3].tolist() == [10.0, 10.0, np.inf]
    days = np.array([-1.0, 0.0, 10.5, 11.0])
    assert calendar.approved(days)[:, 0].tolist() == [False, True, True, False]
    assert calendar.approved_items(days, np.array([[0, 2]] * 4)).tolist() == [[False, False], [True, True],
                                                                              [True, True], [False, True]]
    instants = np.array(["2024-03-09T12:00", "2024-03-20T12:00"], dtype="datetime64[us]")
    assert calendar.approved(instants)[:, 0].tolist() == [False, True]


def test_share_counts_the_last_day_whole_and_the_open_sides():
    calendar = ApprovalCalendar.from_contents(contents())
    share = calendar.share(D("2024-03-15"), 10)  # the window 15..24 March
    # window: 15..20 approved (6 of 10 days); no_end / no_dates: all; published_late: all (to the 30th)
    assert share.tolist() == pytest.approx([0.6, 0.6, 1.0, 1.0, 1.0, 1.0])
    assert calendar.share(D("2024-03-21"), 10)[0] == 0.0 and calendar.share(D("2024-03-01"), 10)[0] == pytest.approx(0.1)


def test_throughout_and_some_day():
    calendar = ApprovalCalendar.from_days([10.0, np.nan, 5.0], [20.0, 3.0, np.nan])
    assert calendar.approved_throughout(10, 20).tolist() == [True, False, True]
    assert calendar.approved_throughout(10, 21).tolist() == [False, False, True]
    assert calendar.approved_some_day(-5, 2).tolist() == [False, True, False]
    assert calendar.approved_some_day(20, 30).tolist() == [True, False, True]


def test_first_dates_are_the_first_approved_midnights():
    dates = ApprovalCalendar.from_contents(contents()).first_dates()
    assert [None if np.isnat(d) else str(d)[:10] for d in dates] == [
        "2024-03-10", None, "2024-03-10", None, "2024-03-15", "2024-03-12"]


def test_a_calendar_of_day_numbers_takes_no_dates():
    with pytest.raises(ValueError, match="counts days, not dates"):
        ApprovalCalendar.from_days([0.0], [5.0]).approved(D("2024-01-01"))


# -- equivalence with the five old implementations, on data as the store holds it ---------------
def random_contents(rng, n=400) -> pd.DataFrame:
    """Whole-day dates; approval start on or after publication, and from publication when not given
    (ingest and the world both give that)."""
    base = D("2024-01-01")
    pub = base + pd.to_timedelta(rng.integers(-100, 100, n), unit="D")
    start = pub + pd.to_timedelta(rng.integers(0, 60, n), unit="D")
    end = start + pd.to_timedelta(rng.integers(0, 200, n), unit="D")
    frame = pd.DataFrame({"publication_date": pub, "approval_start": start, "approval_end": end})
    for column in frame:  # some open sides
        frame.loc[rng.random(n) < 0.15, column] = pd.NaT
    frame["approval_start"] = frame["approval_start"].fillna(frame["publication_date"])
    return frame.astype("datetime64[us]")


def instants(rng, n=60) -> list[pd.Timestamp]:
    return list(D("2024-01-01") + pd.to_timedelta(rng.integers(-150, 300, n) * 86_400 + rng.integers(0, 86_400, n),
                                                  unit="s"))


def test_equivalent_to_the_evaluation_and_the_content_page():
    rng = np.random.default_rng(3)
    frame = random_contents(rng)
    calendar = ApprovalCalendar.from_contents(frame)
    start, end, published = frame["approval_start"], frame["approval_end"], frame["publication_date"]
    for at in instants(rng):
        # TrainingData.approved (evaluation eligibility)
        old = (start.isna() | (start <= at)) & (end.isna() | (end >= at.normalize())) & \
              (published.isna() | (published <= at))
        assert (calendar.approved(at) == old.to_numpy()).all(), at
        # DataSnapshot.approved_at (the content page): it ignored publication, which never follows approval start
        day = at.normalize()
        old = (start.isna() | (start <= day)) & (end.isna() | (end >= day))
        assert (calendar.approved(at) == old.to_numpy()).all(), at


def test_equivalent_to_the_serving_rules_day_numbers():
    rng = np.random.default_rng(4)
    frame = random_contents(rng)
    day0 = D("2024-02-10")
    calendar = ApprovalCalendar.from_contents(frame, origin=day0)
    # RuleBook.fit: normalized dates as days after the as-of day, NaT open
    old_start = ((frame["approval_start"].dt.normalize() - day0) / pd.Timedelta(days=1)).fillna(-np.inf).to_numpy()
    old_end = ((frame["approval_end"].dt.normalize() - day0) / pd.Timedelta(days=1)).fillna(np.inf).to_numpy()
    days = np.arange(-30, 120, dtype=float)
    old = (old_start[None, :] <= days[:, None]) & (days[:, None] <= old_end[None, :])
    assert (calendar.approved(days) == old).all()
    # the planner's reachability over a horizon
    for horizon in (0, 7, 90):
        assert (calendar.approved_some_day(0, horizon) == ((old_end >= 0) & (old_start <= horizon))).all()


def test_equivalent_to_the_world_on_whole_days():
    rng = np.random.default_rng(5)
    pub = np.floor(rng.uniform(-365, 300, 300))
    start = pub + rng.integers(0, 60, 300)
    end = start + rng.integers(180, 900, 300)
    calendar = ApprovalCalendar.from_days(start, end, pub)
    for day in range(-100, 700, 7):
        # Oracle.available and BrandPolicy's "live all week"
        assert (calendar.approved(float(day)) == ((pub <= day) & (start <= day) & (day <= end))).all()
        assert (calendar.approved_throughout(day, day + 7) == ((pub <= day) & (start <= day) & (end >= day + 7))).all()


def test_share_is_the_old_features_share_plus_the_last_day():
    """features.approved_share ended a window at the midnight *starting* its last day, so content
    expiring inside the window lost that day (and content expiring on the cutoff day scored 0 while
    the rules still sent it): the one calendar counts the last day whole."""
    rng = np.random.default_rng(6)
    frame = random_contents(rng)
    calendar = ApprovalCalendar.from_contents(frame)
    days = 30
    for at in [D("2024-02-10"), D("2024-05-01")]:
        at64 = np.datetime64(at, "us")
        begin = frame["approval_start"].fillna(frame["publication_date"]).to_numpy("datetime64[us]")
        close = frame["approval_end"].to_numpy("datetime64[us]")
        lo = np.where(np.isnat(begin), at64, np.maximum(begin, at64))
        hi = np.where(np.isnat(close), at64 + np.timedelta64(days, "D"), np.minimum(close, at64 + np.timedelta64(days, "D")))
        old = np.clip((hi - lo) / np.timedelta64(1, "D") / days, 0.0, 1.0)
        end_inside = (close >= at64) & (close < at64 + np.timedelta64(days, "D"))
        expected = np.where(end_inside, np.minimum(old + 1 / days, 1.0), old)
        assert calendar.share(at, days) == pytest.approx(expected)
        assert end_inside.any()
