"""Read-mostly data the service keeps in memory per process, computed once per data version and day.

Requests never scan the interactions table for what every page needs: HCPs and contents,
per-HCP × channel aggregates, touches inside the contact-cap window, consumed (engaged)
content, monthly channel × specialty × state aggregates and every HCP's touch history (compact
arrays, so the HCP 360 page never opens the store) are built here with a handful of SQL queries,
then shared through the cache between workers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.config import CHANNELS, Settings
from engine.data.store import Store
from engine.rules.approval import ApprovalCalendar

#: bumped whenever the snapshot's fields change: part of its cache key, so a worker never
#: unpickles a snapshot another code version wrote into the shared cache
SNAPSHOT_FORMAT = 5

_ENGAGED = 'SUM(CASE WHEN engaged THEN 1 ELSE 0 END)'


class _Reader:
    """Run several read queries on one store connection (``?`` placeholders on both dialects)."""

    def __init__(self, store: Store):
        self.store = store

    def __enter__(self):
        self._context = self.store.transaction()
        self.conn = self._context.__enter__()
        return self

    def __exit__(self, *exc):
        return self._context.__exit__(*exc)

    def __call__(self, sql: str, params=()) -> pd.DataFrame:
        if self.store.dialect == "duckdb":
            return self.conn.execute(sql, list(params)).df()
        with self.conn.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), list(params))
            return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def _channel_matrix(frame: pd.DataFrame, hcp_pos: pd.Series, value: str, n_hcps: int) -> np.ndarray:
    """Long (hcp_id, channel, value) rows -> int32 array [n_hcps, n_channels] (unknown ids dropped)."""
    out = np.zeros((n_hcps, len(CHANNELS)), dtype=np.int32)
    if frame.empty:
        return out
    rows = hcp_pos.reindex(frame["hcp_id"].astype(str)).to_numpy()
    cols = pd.Series({c: i for i, c in enumerate(CHANNELS)}).reindex(frame["channel"].astype(str)).to_numpy()
    ok = ~(np.isnan(rows) | np.isnan(cols))
    np.add.at(out, (rows[ok].astype(np.int64), cols[ok].astype(np.int64)), frame[value].to_numpy()[ok].astype(np.int32))
    return out


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Strings -> (codes with -1 for missing: int16 when the distinct values allow, else int32; the
    distinct values)."""
    codes, uniques = pd.factorize(values.astype(object).where(values.notna(), None), use_na_sentinel=True)
    return codes.astype(np.int16 if len(uniques) < 2**15 else np.int32), np.asarray(uniques, dtype=object).astype(str)


@dataclass
class HcpHistory:
    """Every touch, grouped by HCP row (newest first), as compact columns.

    The touches of HCP row ``r`` are positions ``offsets[r]:offsets[r + 1]``. Strings are stored as
    codes into the matching ``*_values`` array (code -1 = missing); ``converted`` is -1/0/1.
    """

    offsets: np.ndarray
    timestamp: np.ndarray
    content: np.ndarray
    content_values: np.ndarray
    channel: np.ndarray
    channel_values: np.ndarray
    outcome: np.ndarray
    outcome_values: np.ndarray
    campaign: np.ndarray
    campaign_values: np.ndarray
    engaged: np.ndarray
    dwell_seconds: np.ndarray
    converted: np.ndarray

    @classmethod
    def build(cls, frame: pd.DataFrame, hcp_pos: pd.Series, n_hcps: int) -> "HcpHistory":
        """``frame``: interactions (hcp_id, content_id, campaign_id, channel, timestamp, outcome, engaged,
        dwell_seconds, converted, interaction_id); touches of unknown HCPs are dropped."""
        rows = hcp_pos.reindex(frame["hcp_id"].astype(str)).to_numpy()
        keep = ~np.isnan(rows)
        frame, rows = frame[keep], rows[keep].astype(np.int64)
        stamps = pd.to_datetime(frame["timestamp"]).to_numpy(dtype="datetime64[us]")
        ids = frame["interaction_id"].to_numpy(dtype=np.int64)
        # by HCP, then newest first (ties: highest interaction id first), as the store query did
        order = np.lexsort((-ids, -stamps.astype(np.int64), rows))
        frame = frame.iloc[order]
        content, content_values = _codes(frame["content_id"])
        channel, channel_values = _codes(frame["channel"])
        outcome, outcome_values = _codes(frame["outcome"])
        campaign, campaign_values = _codes(frame["campaign_id"])
        converted = frame["converted"].astype(object)
        return cls(
            offsets=np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_hcps))]).astype(np.int64),
            timestamp=stamps[order], content=content, content_values=content_values, channel=channel.astype(np.int8),
            channel_values=channel_values, outcome=outcome.astype(np.int8), outcome_values=outcome_values,
            campaign=campaign, campaign_values=campaign_values,
            engaged=frame["engaged"].fillna(False).to_numpy(dtype=bool),
            dwell_seconds=pd.to_numeric(frame["dwell_seconds"]).to_numpy(dtype=np.float64, na_value=np.nan),
            converted=np.where(converted.isna(), -1, converted.fillna(False).astype(bool).astype(np.int8)).astype(np.int8),
        )

    def positions(self, row: int, limit: int | None = None) -> slice:
        """Touch positions of HCP row ``row``, newest first, at most ``limit`` of them."""
        start, end = int(self.offsets[row]), int(self.offsets[row + 1])
        return slice(start, end if limit is None else min(end, start + int(limit)))


@dataclass
class DataSnapshot:
    """Everything the service reads from the store, aligned to ``hcps`` / ``contents`` row order.

    Attributes
    ----------
    data_version : the store's data version (see :meth:`Store.versions`); part of every cache key.
    now : the instant rules and plans reason at: the end of the as-of day (see :func:`reasoning_instant`).
    hcps, contents : the tables, in stable order (by id).
    touches, engaged : int arrays [n_hcps, n_channels], all history.
    window_hcp, window_channel, window_time : the touches in ``(now - cap_days, now]`` (HCP row,
        channel index, timestamp): what contact caps count.
    cap_touches : int array [n_hcps, n_channels], touches in that window (derived).
    Counts and row indexes are int32 (channels int8): the snapshot is held by every web worker.
    first_touch, last_touch : per-HCP timestamps (NaT without history).
    consumed_hcp, consumed_content : int arrays of (hcp row, content row) pairs already engaged.
    monthly : frame month, channel, specialty, state, touches, engaged.
    history : every touch by HCP (see :class:`HcpHistory`), or None in hand-built snapshots.
    data_end : the last interaction's timestamp (analytics over "the last days of data"); ``now`` if None.
    """

    data_version: str
    now: pd.Timestamp
    cap_days: int
    hcps: pd.DataFrame
    contents: pd.DataFrame
    touches: np.ndarray
    engaged: np.ndarray
    window_hcp: np.ndarray
    window_channel: np.ndarray
    window_time: np.ndarray
    first_touch: np.ndarray
    last_touch: np.ndarray
    consumed_hcp: np.ndarray
    consumed_content: np.ndarray
    monthly: pd.DataFrame
    history: HcpHistory | None = None  # None only in hand-built snapshots (tests): no touch list
    data_end: pd.Timestamp | None = None
    cap_touches: np.ndarray = field(repr=False, default=None, init=False)
    hcp_pos: pd.Series = field(repr=False, default=None, init=False)
    content_pos: pd.Series = field(repr=False, default=None, init=False)

    def __post_init__(self):
        self.now = pd.Timestamp(self.now)
        self.data_end = self.now if self.data_end is None or pd.isna(self.data_end) else pd.Timestamp(self.data_end)
        self.window_hcp = np.asarray(self.window_hcp, dtype=np.int32)
        self.window_channel = np.asarray(self.window_channel, dtype=np.int8)
        self.window_time = np.asarray(self.window_time, dtype="datetime64[us]")
        self.consumed_hcp = np.asarray(self.consumed_hcp, dtype=np.int32)
        self.consumed_content = np.asarray(self.consumed_content, dtype=np.int32)
        self.cap_touches = np.zeros((len(self.hcps), len(CHANNELS)), dtype=np.int32)
        np.add.at(self.cap_touches, (self.window_hcp, self.window_channel), 1)
        self.hcp_pos = pd.Series(np.arange(len(self.hcps)), index=self.hcps["hcp_id"].astype(str).to_numpy())
        self.content_pos = pd.Series(np.arange(len(self.contents)),
                                     index=self.contents["content_id"].astype(str).to_numpy())

    def __getstate__(self):  # derived arrays and indexes are rebuilt on unpickling (smaller cache entries)
        state = dict(self.__dict__)
        for name in ("hcp_pos", "content_pos", "cap_touches"):
            state.pop(name, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__post_init__()

    @classmethod
    def load(cls, store: Store, settings: Settings, data_version: str, now: pd.Timestamp) -> "DataSnapshot":
        """Build the snapshot with grouped queries (no full scan of interactions into Python).

        ``data_version``: the store's data version the caller read before (a write after it only
        makes the snapshot newer than its label; the next version check rebuilds it).
        ``now``: the instant rules reason at (:func:`reasoning_instant`).
        """
        now = pd.Timestamp(now)
        with _Reader(store) as read:  # one connection for every query (opening one is the slow part)
            hcps = read('SELECT * FROM hcps ORDER BY hcp_id')
            contents = read('SELECT * FROM contents ORDER BY content_id')
            last = read('SELECT MAX("timestamp") AS t FROM interactions')["t"].iloc[0]
            data_end = pd.Timestamp(last) if last is not None and not pd.isna(last) else None
            cap_start = (now - pd.Timedelta(days=settings.cap_days)).to_pydatetime()
            per_channel = read(
                f'SELECT hcp_id, channel, COUNT(*) AS touches, {_ENGAGED} AS engaged, '
                'MIN("timestamp") AS first_t, MAX("timestamp") AS last_t FROM interactions GROUP BY hcp_id, channel')
            in_window = read(
                'SELECT hcp_id, channel, "timestamp" FROM interactions WHERE "timestamp" > ? AND "timestamp" <= ?',
                [cap_start, now.to_pydatetime()])
            consumed = read('SELECT DISTINCT hcp_id, content_id FROM interactions WHERE engaged')
            monthly = read(
                'SELECT date_trunc(\'month\', i."timestamp") AS month, i.channel, h.specialty, h.state, '
                'COUNT(*) AS touches, SUM(CASE WHEN i.engaged THEN 1 ELSE 0 END) AS engaged '
                'FROM interactions i JOIN hcps h ON h.hcp_id = i.hcp_id GROUP BY 1, 2, 3, 4')
            touches = read('SELECT interaction_id, hcp_id, content_id, campaign_id, channel, "timestamp", outcome, '
                           'engaged, dwell_seconds, converted FROM interactions')
        hcps = hcps.reset_index(drop=True)
        contents = contents.reset_index(drop=True)

        hcp_pos = pd.Series(np.arange(len(hcps)), index=hcps["hcp_id"].astype(str).to_numpy())
        content_pos = pd.Series(np.arange(len(contents)), index=contents["content_id"].astype(str).to_numpy())
        n = len(hcps)
        first_touch = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
        last_touch = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
        if not per_channel.empty:
            spans = per_channel.groupby("hcp_id").agg(first_t=("first_t", "min"), last_t=("last_t", "max"))
            rows = hcp_pos.reindex(spans.index.astype(str)).to_numpy()
            ok = ~np.isnan(rows)
            first_touch[rows[ok].astype(int)] = pd.to_datetime(spans["first_t"]).to_numpy(dtype="datetime64[us]")[ok]
            last_touch[rows[ok].astype(int)] = pd.to_datetime(spans["last_t"]).to_numpy(dtype="datetime64[us]")[ok]
        w_rows = hcp_pos.reindex(in_window["hcp_id"].astype(str)).to_numpy()
        w_channels = pd.Series({c: i for i, c in enumerate(CHANNELS)}).reindex(
            in_window["channel"].astype(str)).to_numpy()
        w_ok = ~(np.isnan(w_rows) | np.isnan(w_channels))
        c_rows = hcp_pos.reindex(consumed["hcp_id"].astype(str)).to_numpy()
        c_cols = content_pos.reindex(consumed["content_id"].astype(str)).to_numpy()
        ok = ~(np.isnan(c_rows) | np.isnan(c_cols))

        if not monthly.empty:
            monthly["month"] = pd.to_datetime(monthly["month"]).dt.tz_localize(None).astype("datetime64[us]")
            for col in ("touches", "engaged"):
                monthly[col] = pd.to_numeric(monthly[col]).astype(np.int64)
            for col in ("channel", "specialty", "state"):
                monthly[col] = monthly[col].astype(object).where(monthly[col].notna(), "Unknown").astype(str)
        else:
            monthly = pd.DataFrame({"month": pd.Series(dtype="datetime64[us]"), "channel": pd.Series(dtype=str),
                                    "specialty": pd.Series(dtype=str), "state": pd.Series(dtype=str),
                                    "touches": pd.Series(dtype=np.int64), "engaged": pd.Series(dtype=np.int64)})
        return cls(
            data_version=str(data_version), now=now, cap_days=settings.cap_days, hcps=hcps, contents=contents,
            touches=_channel_matrix(per_channel, hcp_pos, "touches", n),
            engaged=_channel_matrix(per_channel, hcp_pos, "engaged", n),
            window_hcp=w_rows[w_ok].astype(np.int32), window_channel=w_channels[w_ok].astype(np.int8),
            window_time=pd.to_datetime(in_window["timestamp"]).to_numpy(dtype="datetime64[us]")[w_ok],
            first_touch=first_touch, last_touch=last_touch,
            consumed_hcp=c_rows[ok].astype(np.int32), consumed_content=c_cols[ok].astype(np.int32),
            monthly=monthly.sort_values(["month", "channel", "specialty", "state"]).reset_index(drop=True),
            history=HcpHistory.build(touches, hcp_pos, n), data_end=data_end,
        )

    # -- conveniences ------------------------------------------------------------------
    def hcp_row(self, hcp_id: str) -> int | None:
        pos = self.hcp_pos.get(str(hcp_id))
        return None if pos is None else int(pos)

    def consent(self) -> np.ndarray:
        """Bool [n_hcps, n_channels]: the HCP agreed to contact through the channel."""
        cols = [f"consent_{c}" for c in CHANNELS]
        return self.hcps[cols].fillna(False).astype(bool).to_numpy()

    def approved_at(self, at: pd.Timestamp) -> np.ndarray:
        """Bool [n_contents]: content approved on ``at``'s day (:class:`engine.rules.approval.ApprovalCalendar`)."""
        return ApprovalCalendar.from_contents(self.contents).approved(pd.Timestamp(at))

