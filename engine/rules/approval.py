"""The approval calendar: on which days each content may be sent (the one definition of an approval window).

A content is approved on day ``d`` when ``first <= d <= last``: ``first`` is the later of its
approval start and its publication date (nothing is sent before it is published), ``last`` its
approval end; both days are included, whole days (a timestamp counts as its day: approved all
of its last day). A missing date leaves that side open: no approval start means from
publication, no dates at all means always. Content unknown to the store is never approved.

One calendar serves every use: the business rule (:class:`Approval`), the evaluation's
eligibility and the training features (:class:`engine.models.data.TrainingData`, the exposure
model), the data snapshot's content pages, and the synthetic world, which counts days from its
start (:meth:`ApprovalCalendar.from_days`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.rules.base import Ask, ContentRule, RuleContext

_DAY = np.timedelta64(86_400_000_000, "us")
EPOCH = np.datetime64("1970-01-01", "us")


@dataclass(frozen=True)
class ApprovalCalendar:
    """First and last approved day of each content, as day numbers since ``origin``.

    Attributes
    ----------
    first : float [n] first approved day (``-inf``: open).
    last : float [n] last approved day (``+inf``: open); ``first > last``: never approved.
    origin : datetime64[us], the midnight of day 0 (None: days not tied to dates, e.g. a world's
        days since its start used as numbers only).
    """

    first: np.ndarray
    last: np.ndarray
    origin: np.datetime64 | None = EPOCH

    @classmethod
    def from_contents(cls, contents: pd.DataFrame, origin=EPOCH) -> "ApprovalCalendar":
        """From a contents table's ``approval_start``, ``approval_end`` and ``publication_date`` (each optional)."""
        origin = np.datetime64(pd.Timestamp(origin).normalize(), "us")

        def days(column: str) -> np.ndarray:
            if column not in contents:
                return np.full(len(contents), np.nan)
            when = pd.to_datetime(contents[column]).to_numpy("datetime64[us]")
            return np.floor((when - origin) / _DAY)  # NaT -> nan

        return cls.from_days(days("approval_start"), days("approval_end"), days("publication_date"), origin)

    @classmethod
    def from_days(cls, start, end, published=None, origin=None) -> "ApprovalCalendar":
        """From whole day numbers (``nan``: missing) of the approval start and end and the publication."""
        start = np.asarray(start, dtype=np.float64)
        published = np.full(len(start), np.nan) if published is None else np.asarray(published, dtype=np.float64)
        first = np.fmax(start, published)  # the later of the two known ones
        return cls(np.where(np.isnan(first), -np.inf, first),
                   np.nan_to_num(np.asarray(end, dtype=np.float64), nan=np.inf), origin)

    def __len__(self) -> int:
        return len(self.first)

    # -- time ------------------------------------------------------------------------
    def day(self, at) -> float | np.ndarray:
        """Days since ``origin`` (float, fractional within a day) of a timestamp or an array of them;
        numbers are taken as days already."""
        if isinstance(at, (int, float, np.integer, np.floating)):
            return float(at)
        values = np.asarray(at)
        if values.dtype.kind in "iuf":
            return values.astype(np.float64)
        if self.origin is None:
            raise ValueError("this approval calendar counts days, not dates: pass day numbers")
        if values.dtype.kind != "M":
            values = pd.to_datetime(at)
            values = values.to_datetime64() if isinstance(values, pd.Timestamp) else np.asarray(values)
        days = (values.astype("datetime64[us]") - self.origin) / _DAY
        return float(days) if np.ndim(days) == 0 else days

    # -- questions -------------------------------------------------------------------
    def approved(self, at) -> np.ndarray:
        """Bool ``[..., n]``: approved on the day of each ``at`` (scalar or array ``[...]``)."""
        d = np.floor(np.asarray(self.day(at), dtype=np.float64))[..., None]
        return (self.first <= d) & (d <= self.last)

    def approved_items(self, at, items: np.ndarray) -> np.ndarray:
        """Bool, shaped as ``items`` ``[m, ...]``: content ``items[j, ...]`` approved on the day of ``at[j]`` ``[m]``."""
        items = np.asarray(items)
        d = np.floor(np.asarray(self.day(at), dtype=np.float64)).reshape((-1,) + (1,) * (items.ndim - 1))
        return (self.first[items] <= d) & (d <= self.last[items])

    def approved_throughout(self, first_day, last_day) -> np.ndarray:
        """Bool ``[n]``: approved on every day from ``first_day`` to ``last_day`` (both included)."""
        return (self.first <= np.floor(self.day(first_day))) & (np.floor(self.day(last_day)) <= self.last)

    def approved_some_day(self, first_day, last_day) -> np.ndarray:
        """Bool ``[n]``: approved on at least one day from ``first_day`` to ``last_day`` (both included)."""
        lo, hi = np.floor(self.day(first_day)), np.floor(self.day(last_day))
        return (np.maximum(self.first, lo) <= np.minimum(self.last, hi))

    def share(self, at, days: float) -> np.ndarray:
        """Float ``[n]``: share of the ``days`` from ``at`` on during which each content is approved
        (the calendar is known in advance: what the coming window can send)."""
        start = self.day(at)
        lo = np.maximum(self.first, start)
        hi = np.minimum(self.last + 1.0, start + days)  # approved until the end of its last day
        return np.clip((hi - lo) / days, 0.0, 1.0)

    def first_dates(self) -> np.ndarray:
        """datetime64[us] ``[n]``: the first approved day's midnight (NaT when open or never approved)."""
        known = np.isfinite(self.first)
        out = np.full(len(self), np.datetime64("NaT"), dtype="datetime64[us]")
        out[known] = self.origin + self.first[known].astype(np.int64) * _DAY
        return out

    def reindex(self, rows) -> "ApprovalCalendar":
        """The calendar of contents ``rows`` (``-1``: unknown to the store, never approved)."""
        rows = np.asarray(rows, dtype=np.int64)
        known = rows >= 0
        first = np.full(len(rows), np.inf)
        last = np.full(len(rows), -np.inf)
        first[known], last[known] = self.first[rows[known]], self.last[rows[known]]
        return ApprovalCalendar(first, last, self.origin)


class Approval(ContentRule):
    """Only content approved on the touch's own day is recommended or planned.

    Attributes (after :meth:`fit`)
    ------------------------------
    calendar_ : the :class:`ApprovalCalendar` in serving order, days relative to the as-of day.
    approved_ : bool [n_contents] approved on day 0.
    """

    dated = True

    def fit(self, context: RuleContext) -> None:
        contents = ApprovalCalendar.from_contents(context.snapshot.contents, origin=context.day0)
        self.calendar_ = contents.reindex(context.content_rows)
        self.approved_ = self.calendar_.approved(0.0)

    def allows(self, ask: Ask) -> np.ndarray:
        return self.calendar_.approved(ask.day)

    def allows_items(self, ask: Ask, items: np.ndarray) -> np.ndarray:
        return self.calendar_.approved_items(ask.day, items)

    def possible(self, ask: Ask, last_day: float) -> np.ndarray:
        return np.broadcast_to(self.calendar_.approved_some_day(0.0, last_day), (len(ask.hcp), len(self.calendar_)))

    def summary(self, hcp: int) -> dict:
        return {"excluded_not_approved": int((~self.approved_).sum())}
