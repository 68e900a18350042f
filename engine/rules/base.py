"""What a business rule is: a mask plus a note, fit once per (bundle, data) pair.

A *channel rule* says which channels a touch may use (bool ``[n, n_channels]``), a *content
rule* which contents it may carry (bool ``[n, n_contents]``), for ``n`` HCPs each asked about
one day (:class:`Ask`). The :class:`engine.rules.book.RuleBook` allows what every rule allows;
a channel rule's :meth:`ChannelRule.note` says why it closes a channel (shown next to the item
that went to another channel), and every rule adds its state for one HCP to the rules summary.

Days are relative to the as-of day: 0 is the day the service reasons at (whose end is ``now``),
plans reach forward, past touches have negative, fractional days (:func:`touch_days`). Rules
precompute arrays in the serving index order at :meth:`Rule.fit`, so asking is a few array
operations per batch of HCPs.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

_DAY = np.timedelta64(86_400_000_000, "us")


def touch_days(times: np.ndarray, now: pd.Timestamp) -> np.ndarray:
    """Timestamps -> days relative to the as-of day's end ``now`` (float; a touch at ``now`` is day 0)."""
    return (np.asarray(times, dtype="datetime64[us]") - np.datetime64(pd.Timestamp(now), "us")) / _DAY


def csr_rows(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position in the batch, position in the CSR arrays) of every entry of CSR rows ``rows``."""
    starts, lengths = indptr[rows], indptr[np.asarray(rows) + 1] - indptr[rows]
    batch = np.repeat(np.arange(len(rows)), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return batch, np.repeat(starts, lengths) + offsets


@dataclass(frozen=True)
class RuleContext:
    """What rules are fit on: the data snapshot (:class:`engine.service.snapshot.DataSnapshot`) and
    the serving index order.

    Attributes
    ----------
    snapshot : the store's state as of the as-of day.
    hcp_rows : int [n_hcps] the snapshot row of each serving HCP (-1: unknown to the store).
    content_rows : int [n_contents] the snapshot row of each serving content (-1: unknown).
    cap_days : the contact-cap period (days).
    """

    snapshot: object
    hcp_rows: np.ndarray
    content_rows: np.ndarray
    cap_days: int

    @property
    def n_hcps(self) -> int:
        return len(self.hcp_rows)

    @property
    def n_contents(self) -> int:
        return len(self.content_rows)

    @property
    def day0(self) -> pd.Timestamp:
        """Midnight of the as-of day (day 0)."""
        return self.snapshot.now.normalize()

    @cached_property
    def serving_hcp(self) -> np.ndarray:
        """Int [n_snapshot_hcps]: the serving index of each snapshot HCP row (-1: not served)."""
        return _inverse(self.hcp_rows, len(self.snapshot.hcps))

    @cached_property
    def serving_content(self) -> np.ndarray:
        """Int [n_snapshot_contents]: the serving index of each snapshot content row (-1: not served)."""
        return _inverse(self.content_rows, len(self.snapshot.contents))

    def per_hcp(self, table: np.ndarray, missing=0) -> np.ndarray:
        """A per-snapshot-HCP table ``[n_snapshot_hcps, ...]`` in serving order (``missing`` for unknown HCPs)."""
        known = self.hcp_rows >= 0
        out = np.full((self.n_hcps,) + table.shape[1:], missing, dtype=table.dtype)
        out[known] = table[self.hcp_rows[known]]
        return out


def _inverse(rows: np.ndarray, size: int) -> np.ndarray:
    inverse = np.full(size, -1, dtype=np.int64)
    known = rows >= 0
    inverse[rows[known]] = np.flatnonzero(known)
    return inverse


@dataclass(frozen=True)
class Ask:
    """One question to the rules: may these HCPs get a touch on these days?

    Attributes
    ----------
    hcp : int [n] serving HCP indices.
    day : float [n] the day of each HCP's touch (relative to the as-of day).
    calendar : float [n, n_channels, M] days of the touches caps count: past ones inside the cap
        window, accepted and planned ones (NaN: empty slot; see :meth:`RuleBook.touch_calendar`).
    excluded : optional bool [n, n_contents]: content resting after feedback (dismissed, snoozed).
    """

    hcp: np.ndarray
    day: np.ndarray
    calendar: np.ndarray
    excluded: np.ndarray | None = None

    def rows(self, at) -> "Ask":
        """The same question for rows ``at`` of the batch only."""
        return Ask(self.hcp[at], self.day[at], self.calendar[at], None if self.excluded is None else self.excluded[at])


class Rule:
    """A business rule. Subclass :class:`ChannelRule` or :class:`ContentRule`.

    ``dated``: the answer depends on the day asked about or the touches before it (caps,
    approval windows); an undated rule answers the same for every day of a plan.
    """

    dated = False

    def fit(self, context: RuleContext) -> None:
        """Precompute what :meth:`allows` needs (serving order)."""

    def allows(self, ask: Ask) -> np.ndarray:
        raise NotImplementedError

    def possible(self, ask: Ask, last_day: float) -> np.ndarray:
        """Bool, broadcastable to :meth:`allows`' shape: what the rule may allow on some day from 0 to
        ``last_day`` (plans choose their candidates among it). Undated rules: :meth:`allows`; dated
        ones narrow the default, which is everything."""
        return np.True_ if self.dated else self.allows(ask)

    def summary(self, hcp: int) -> dict:
        """The rule's state for serving HCP ``hcp`` (fields of the rules summary)."""
        return {}


class ChannelRule(Rule):
    """A rule over channels: :meth:`allows` gives bool ``[n, n_channels]``."""

    def note(self, hcp: int, channel: int, planned: int = 0) -> str | None:
        """Why the rule closes ``channel`` to HCP ``hcp`` today (None when it does not).

        ``planned``: accepted touches of the channel inside the cap window, counted with past ones."""
        return None

    def day_note(self, channel: int) -> str | None:
        """Why a dated rule may close ``channel`` on a later day of a plan (None: it never does)."""
        return None

    def channel_summary(self, hcp: int, channel: int) -> dict:
        """The rule's state for one channel of HCP ``hcp`` (fields of the summary's channel row)."""
        return {}


class ContentRule(Rule):
    """A rule over contents: :meth:`allows` gives bool ``[n, n_contents]``."""

    def allows_items(self, ask: Ask, items: np.ndarray) -> np.ndarray:
        """Bool shaped as ``items`` ``[n, ...]``: the rule allows content ``items[j, ...]`` to HCP ``j``
        (plans ask about their few candidates only)."""
        mask = self.allows(ask)
        flat = np.asarray(items).reshape(len(mask), -1)
        return np.take_along_axis(mask, flat, axis=1).reshape(np.shape(items))
