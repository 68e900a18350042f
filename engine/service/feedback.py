"""Feedback on recommendations and plan steps: stored once per item and action, read back by every rule.

One row per (HCP, content, channel, action): answering the same way again updates that row (who,
when, reason), never adds one. An item's state is its latest answer:

- *dismissed*: the content rests for that HCP (on every channel) for ``rest_days`` after the day
  the service reasoned at when it was dismissed;
- *accepted*: the touch is planned for its day (``planned_at``, the plan step's day or the as-of
  day); it counts toward that channel's caps, and its content rests like a dismissed one (it is
  already planned), counted from the planned day;
- *snoozed* ("not now"): the content rests for ``snooze_days`` only, then is suggested again.

:class:`FeedbackBook` holds every row of one feedback version in memory (feedback is small), so
rules never query the store per request.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.config import CHANNELS
from engine.data.store import FEEDBACK_VERSION, Store
from engine.rules import touch_days

ACTIONS = ("accept", "dismiss", "snooze")
_COLUMNS = ["feedback_id", "hcp_id", "content_id", "channel", "action", "reason", "user_name", "bundle_version",
            "created_at", "as_of", "planned_at"]


def reason_category(reason) -> str:
    """The chosen reason of a dismissal ("Timing not right: details" -> "Timing not right")."""
    if reason is None or (isinstance(reason, float) and np.isnan(reason)) or not str(reason).strip():
        return "No reason given"
    return str(reason).split(":", 1)[0].strip()


def upsert(store: Store, row: dict) -> None:
    """Insert or update the one row of ``(hcp_id, content_id, channel, action)``, bumping the feedback
    version in the same transaction (a new row takes the next free ``feedback_id``)."""
    names = [c for c in _COLUMNS if c != "feedback_id"]
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in ("reason", "user_name", "bundle_version", "created_at",
                                                           "as_of", "planned_at"))
    sql = (f'INSERT INTO feedback (feedback_id, {", ".join(names)}) '
           f'VALUES ((SELECT COALESCE(MAX(feedback_id), 0) + 1 FROM feedback), {", ".join("?" for _ in names)}) '
           f'ON CONFLICT (hcp_id, content_id, channel, action) DO UPDATE SET {updates}')
    values = [None if row.get(c) is None else (row[c].to_pydatetime() if isinstance(row[c], pd.Timestamp) else row[c])
              for c in names]
    store.execute(sql, values, bump=(FEEDBACK_VERSION,))


@dataclass(frozen=True)
class FeedbackBook:
    """Every feedback row as of one feedback version (build it with :meth:`load` or :meth:`from_rows`).

    Attributes
    ----------
    version : the store's feedback version the rows were read at.
    rows : the feedback table, newest answer first.
    latest : one row per (HCP, content, channel), its latest answer, with ``rests_until`` (the day
        its content may be suggested to that HCP again).
    items : hcp_id -> the HCP's ``latest`` rows as dicts, newest first (per-request lookups).
    rest_days : how long an accepted or dismissed content rests for that HCP.
    snooze_days : how long a snoozed one rests.
    """

    version: str
    rows: pd.DataFrame
    latest: pd.DataFrame
    items: dict
    rest_days: int
    snooze_days: int

    @classmethod
    def from_rows(cls, rows: pd.DataFrame, version: str, rest_days: int, snooze_days: int) -> "FeedbackBook":
        rows = rows.reindex(columns=_COLUMNS).copy()
        for column in ("created_at", "as_of", "planned_at"):
            rows[column] = pd.to_datetime(rows[column])
        for column in ("hcp_id", "content_id", "channel", "action"):
            rows[column] = rows[column].astype(str)
        rows = rows.sort_values(["created_at", "feedback_id"], ascending=False, kind="stable").reset_index(drop=True)
        latest = rows.drop_duplicates(["hcp_id", "content_id", "channel"], keep="first").copy()
        anchor = latest["planned_at"].where(latest["action"] == "accept", latest["as_of"])
        days = np.where(latest["action"] == "snooze", int(snooze_days), int(rest_days))
        latest["rests_until"] = anchor.dt.normalize() + pd.to_timedelta(days, unit="D")
        latest = latest.reset_index(drop=True)
        items: dict[str, list[dict]] = {}
        for record in latest.to_dict("records"):
            record = {k: (None if not isinstance(v, str) and pd.isna(v) else v) for k, v in record.items()}
            items.setdefault(record["hcp_id"], []).append(record)
        return cls(version=str(version), rows=rows, latest=latest, items=items, rest_days=int(rest_days),
                   snooze_days=int(snooze_days))

    @classmethod
    def load(cls, store: Store, version: str, rest_days: int, snooze_days: int) -> "FeedbackBook":
        return cls.from_rows(store.query(f'SELECT {", ".join(_COLUMNS)} FROM feedback'), version, rest_days,
                             snooze_days)

    @classmethod
    def empty(cls, rest_days: int, snooze_days: int) -> "FeedbackBook":
        return cls.from_rows(pd.DataFrame(columns=_COLUMNS), "0", rest_days, snooze_days)

    # -- item states ------------------------------------------------------------------------
    def for_hcp(self, hcp_id: str) -> list[dict]:
        """The latest answer of each of one HCP's items (dicts of :attr:`latest`'s columns), newest first."""
        return self.items.get(str(hcp_id), [])

    def hcp_ids(self) -> np.ndarray:
        """The HCPs with at least one answer."""
        return np.asarray(list(self.items), dtype=object)

    def constraints(self, hcp_ids, content_index: pd.Index, now: pd.Timestamp):
        """What feedback changes for HCPs ``hcp_ids`` at ``now``.

        Returns
        -------
        excluded : bool [n, len(content_index)], content resting after an answer.
        planned : per HCP a list of ``(channel index, day)`` accepted touches (days as in the rules).
        """
        hcp_ids = np.asarray(hcp_ids).astype(str)
        excluded = np.zeros((len(hcp_ids), len(content_index)), dtype=bool)
        planned = [[] for _ in hcp_ids]
        if not self.items:
            return excluded, planned
        today = pd.Timestamp(now).normalize()
        channel_of = {c: k for k, c in enumerate(CHANNELS)}
        for row, hcp_id in enumerate(hcp_ids):
            for item in self.items.get(hcp_id, ()):
                position = content_index.get_indexer([item["content_id"]])[0]
                if position >= 0 and item["rests_until"] is not None and item["rests_until"] > today:
                    excluded[row, position] = True
                if item["action"] == "accept" and item["planned_at"] is not None and item["channel"] in channel_of:
                    day = float(touch_days(np.array([item["planned_at"]], dtype="datetime64[us]"), now)[0])
                    planned[row].append((channel_of[item["channel"]], day))
        return excluded, planned

    # -- the report --------------------------------------------------------------------------
    def report(self, titles: dict | None = None, top_contents: int = 20) -> dict:
        """Acceptance by channel, by content and dismissal reasons, over every item's latest answer.

        Returns
        -------
        dict: ``totals`` {answers, accepted, dismissed, snoozed, acceptance_rate} (a snooze is "not now",
        no answer on the suggestion itself), ``by_channel`` and
        ``by_content`` rows {.., answers, accepted, dismissed, acceptance_rate} (most answered
        first), ``dismiss_reasons`` rows {reason, count} (most frequent first).
        """
        latest = self.latest
        titles = titles or {}

        def summarise(frame: pd.DataFrame) -> dict:
            accepted = int((frame["action"] == "accept").sum())
            dismissed = int((frame["action"] == "dismiss").sum())
            answers = accepted + dismissed
            return {"answers": answers, "accepted": accepted, "dismissed": dismissed,
                    "snoozed": int((frame["action"] == "snooze").sum()),
                    "acceptance_rate": accepted / answers if answers else None}

        def grouped(column: str) -> list[dict]:
            out = [{column: str(key), **summarise(group)} for key, group in latest.groupby(column, sort=True)]
            return sorted(out, key=lambda r: (-r["answers"], r[column]))

        by_content = grouped("content_id")[:top_contents]
        for row in by_content:
            row["title"] = titles.get(row["content_id"])
        reasons = latest.loc[latest["action"] == "dismiss", "reason"].map(reason_category).value_counts()
        reasons = reasons.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
        return {"totals": summarise(latest), "by_channel": grouped("channel"), "by_content": by_content,
                "dismiss_reasons": [{"reason": str(r), "count": int(n)} for r, n in reasons.items()],
                "version": self.version}
