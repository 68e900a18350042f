"""Business rules applied to every recommendation and plan step, vectorised over HCPs, contents and channels.

- consent / opt-out per channel: an opted-out channel is never recommended or planned;
- channels in use: a channel without a single touch in the data is never recommended (the brand
  does not use it, and no model has seen it engage anyone: a log of emails only gets emails);
- contact-frequency caps: a touch on a channel is allowed on a day only when every
  ``cap_days`` window containing that day stays within the channel's cap, counting past touches
  and planned ones (accepted feedback, earlier plan steps);
- approval window: only content approved on the touch's own day;
- no repeats: content the HCP already engaged with (or that feedback excludes) is not proposed;
- channel cost: an item is ranked by its best allowed channel's value
  ``score · P(engage | channel) / P(engage | best consented channel) − λ·cost(channel)``, which is
  ``P(engage) − λ·cost`` for a scorer whose score is the best consented engagement.

Days are integers relative to the as-of day (0 = the day the service reasons at, whose end is
``now``); past touches have negative, fractional days. Everything is precomputed once per
(bundle, data) pair as arrays in the serving index order, so applying the rules to one HCP is a
few array operations.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.config import CHANNELS, channel_label
from engine.service.snapshot import DataSnapshot

_DAY = np.timedelta64(86_400_000_000, "us")


@dataclass
class RuledScores:
    """Scores after the rules, for ``n`` HCPs over the whole catalogue.

    Attributes
    ----------
    score : [n, C] ranking value on the chosen channel; ``-inf`` where the content may not be proposed.
    channel : [n, C] int, the allowed channel of highest value per content (-1 when none).
    channel_probabilities : [n, C, K] engagement shares over allowed channels (rows sum to 1).
    engagement : [n, C] engagement probability on the chosen channel.
    preferred : [n, C] int, the model's most engaging channel before the rules and costs.
    """

    score: np.ndarray
    channel: np.ndarray
    channel_probabilities: np.ndarray
    engagement: np.ndarray
    preferred: np.ndarray

    def top(self, n: int) -> np.ndarray:
        """[rows, <=n] content indices by descending score (only recommendable ones, padded with -1)."""
        k = min(n, self.score.shape[1])
        part = np.argpartition(-self.score, k - 1, axis=1)[:, :k] if k < self.score.shape[1] else \
            np.tile(np.arange(self.score.shape[1]), (self.score.shape[0], 1))
        order = np.take_along_axis(part, np.argsort(-np.take_along_axis(self.score, part, 1), axis=1, kind="stable"), 1)
        finite = np.isfinite(np.take_along_axis(self.score, order, 1))
        return np.where(finite, order, -1)


def touch_days(snapshot_times: np.ndarray, now: pd.Timestamp) -> np.ndarray:
    """Timestamps -> days relative to the as-of day's end ``now`` (float; a touch at ``now`` is day 0)."""
    return (np.asarray(snapshot_times, dtype="datetime64[us]") - np.datetime64(pd.Timestamp(now), "us")) / _DAY


class RuleBook:
    """The rules for one serving index order over one data snapshot.

    Parameters
    ----------
    caps : max touches per channel in ``cap_days`` (channels absent from it are uncapped).
    cap_days : the cap period.
    costs : λ·cost per channel name (value lost per touch); channels absent cost nothing.

    Attributes (after :meth:`fit`)
    ------------------------------
    now_ : the instant the rules reason at (end of the as-of day).
    hcp_rows_ : int [n_hcps], the snapshot row of each serving HCP (-1 when unknown to the store).
    consent_, cap_touches_, capped_ : [n_hcps, n_channels] (caps as of ``now_``, past touches only).
    cap_limits_, cost_ : [n_channels].
    in_use_ : bool [n_channels] the channel has touches in the data (all True when there are none).
    approval_start_, approval_end_ : float [n_contents] first / last approved day (±inf when open).
    approved_ : bool [n_contents] content approved on day 0.
    consumed_indptr_, consumed_indices_ : CSR of contents each HCP already engaged with.
    window_indptr_, window_channel_, window_day_ : CSR of each HCP's touches inside the cap window.
    """

    def __init__(self, caps: dict[str, int], cap_days: int, costs: dict[str, float] | None = None):
        self.caps = dict(caps)
        self.cap_days = int(cap_days)
        self.costs = dict(costs or {})

    def fit(self, snapshot: DataSnapshot, hcp_ids, content_ids) -> "RuleBook":
        hcp_ids = np.asarray(hcp_ids).astype(str)
        content_ids = np.asarray(content_ids).astype(str)
        self.now_ = snapshot.now
        self.hcp_rows_ = snapshot.hcp_pos.reindex(hcp_ids).fillna(-1).to_numpy().astype(np.int64)
        content_rows = snapshot.content_pos.reindex(content_ids).fillna(-1).to_numpy().astype(np.int64)
        known = self.hcp_rows_ >= 0
        n_h, n_k = len(hcp_ids), len(CHANNELS)

        self.consent_ = np.zeros((n_h, n_k), dtype=bool)  # unknown HCPs: no consent on record, no contact
        self.consent_[known] = snapshot.consent()[self.hcp_rows_[known]]
        touched = snapshot.touches.sum(axis=0) > 0
        self.in_use_ = touched if touched.any() else np.ones(n_k, dtype=bool)
        self.cap_touches_ = np.zeros((n_h, n_k), dtype=np.int64)
        self.cap_touches_[known] = snapshot.cap_touches[self.hcp_rows_[known]]
        self.cap_limits_ = np.array([self.caps.get(c, np.iinfo(np.int32).max) for c in CHANNELS], dtype=np.int64)
        self.capped_ = self.cap_touches_ >= self.cap_limits_[None, :]
        self.cost_ = np.array([float(self.costs.get(c, 0.0)) for c in CHANNELS])

        # approval windows as days relative to the as-of day (content missing from the store: never approved)
        day0 = snapshot.now.normalize()
        start = pd.to_datetime(snapshot.contents["approval_start"]).dt.normalize()
        end = pd.to_datetime(snapshot.contents["approval_end"]).dt.normalize()
        start_days = ((start - day0) / pd.Timedelta(days=1)).fillna(-np.inf).to_numpy(dtype=np.float64)
        end_days = ((end - day0) / pd.Timedelta(days=1)).fillna(np.inf).to_numpy(dtype=np.float64)
        stored = content_rows >= 0
        self.approval_start_ = np.full(len(content_ids), np.inf)
        self.approval_end_ = np.full(len(content_ids), -np.inf)
        self.approval_start_[stored] = start_days[content_rows[stored]]
        self.approval_end_[stored] = end_days[content_rows[stored]]
        self.approved_ = self.approved_on(np.zeros(1))[0]

        serving_of_hcp_row = np.full(len(snapshot.hcps), -1, dtype=np.int64)
        serving_of_hcp_row[self.hcp_rows_[known]] = np.flatnonzero(known)
        serving_of_content_row = np.full(len(snapshot.contents), -1, dtype=np.int64)
        serving_of_content_row[content_rows[stored]] = np.flatnonzero(stored)

        # consumed pairs (snapshot rows) -> serving indices, CSR by HCP
        h = serving_of_hcp_row[snapshot.consumed_hcp]
        c = serving_of_content_row[snapshot.consumed_content]
        ok = (h >= 0) & (c >= 0)
        h, c = h[ok], c[ok]
        order = np.lexsort((c, h))
        self.consumed_indices_ = c[order]
        self.consumed_indptr_ = np.concatenate([[0], np.cumsum(np.bincount(h, minlength=n_h))])

        # touches inside the cap window, CSR by HCP, as days before the end of the as-of day
        h = serving_of_hcp_row[snapshot.window_hcp]
        ok = h >= 0
        order = np.lexsort((snapshot.window_time[ok], h[ok]))
        self.window_channel_ = snapshot.window_channel[ok][order]
        self.window_day_ = touch_days(snapshot.window_time[ok][order], snapshot.now)
        self.window_indptr_ = np.concatenate([[0], np.cumsum(np.bincount(h[ok], minlength=n_h))])
        self.n_contents_ = len(content_ids)
        return self

    # -- per-HCP pieces ----------------------------------------------------------------
    def _gather(self, indptr: np.ndarray, hcp_idx: np.ndarray):
        """(row in the batch, position in the CSR arrays) of every entry of the HCPs ``hcp_idx``."""
        starts, ends = indptr[hcp_idx], indptr[hcp_idx + 1]
        lengths = ends - starts
        rows = np.repeat(np.arange(len(hcp_idx)), lengths)
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return rows, np.repeat(starts, lengths) + offsets

    def consumed_mask(self, hcp_idx: np.ndarray) -> np.ndarray:
        """Bool [n, n_contents]: content already engaged by each HCP."""
        hcp_idx = np.asarray(hcp_idx)
        rows, pos = self._gather(self.consumed_indptr_, hcp_idx)
        mask = np.zeros((len(hcp_idx), self.n_contents_), dtype=bool)
        mask[rows, self.consumed_indices_[pos]] = True
        return mask

    def touch_calendar(self, hcp_idx: np.ndarray, extra=None, room: int = 0) -> np.ndarray:
        """Float [n, n_channels, M] days of the touches caps count (NaN = empty slot).

        Past touches inside the cap window, then ``extra`` (per HCP a list of ``(channel, day)``,
        e.g. accepted feedback), then ``room`` empty slots per channel for planned touches.
        """
        hcp_idx = np.asarray(hcp_idx)
        rows, pos = self._gather(self.window_indptr_, hcp_idx)
        channels, days = self.window_channel_[pos], self.window_day_[pos]
        if extra is not None:
            extra_rows = np.repeat(np.arange(len(hcp_idx)), [len(e) for e in extra])
            pairs = [pair for e in extra for pair in e]
            rows = np.concatenate([rows, extra_rows])
            channels = np.concatenate([channels, np.array([k for k, _ in pairs], dtype=np.int64)])
            days = np.concatenate([days, np.array([d for _, d in pairs], dtype=np.float64)])
        slot_of = rows * len(CHANNELS) + channels
        counts = np.bincount(slot_of, minlength=len(hcp_idx) * len(CHANNELS))
        width = int(counts.max(initial=0)) + int(room)
        calendar = np.full((len(hcp_idx) * len(CHANNELS), max(width, 1)), np.nan)
        order = np.argsort(slot_of, kind="stable")
        slot_sorted = slot_of[order]
        first = np.concatenate([[0], np.cumsum(counts)])[slot_sorted]
        calendar[slot_sorted, np.arange(len(order)) - first] = days[order]
        return calendar.reshape(len(hcp_idx), len(CHANNELS), -1)

    def channel_open(self, hcp_idx: np.ndarray, calendar: np.ndarray, day: np.ndarray, channels=None) -> np.ndarray:
        """Bool [n, n_channels]: a touch on ``day`` (per HCP) is consented, on a channel in use, requested
        and within every cap.

        A touch on day ``d`` joins every window ``(u - cap_days, u]`` with ``u`` in ``[d, d + cap_days)``;
        the fullest of them ends at ``d`` or at a later touch, so those are the windows checked.
        """
        day = np.asarray(day, dtype=np.float64)[:, None, None]                     # [n, 1, 1]
        later = np.where((calendar > day) & (calendar < day + self.cap_days), calendar, np.nan)
        ends = np.concatenate([np.broadcast_to(day, calendar.shape[:2] + (1,)), later], axis=2)[..., None]
        # [n, K, E, M]; empty slots and absent ends are NaN, whose comparisons are all False
        inside = (calendar[:, :, None, :] > ends - self.cap_days) & (calendar[:, :, None, :] <= ends)
        fullest = inside.sum(axis=3).max(axis=2)                                                  # [n, K]
        allowed = self.consent_[hcp_idx] & self.in_use_[None, :] & (fullest + 1 <= self.cap_limits_[None, :])
        if channels is not None:
            allowed &= np.isin(np.array(CHANNELS), list(channels))[None, :]
        return allowed

    def approved_on(self, day: np.ndarray) -> np.ndarray:
        """Bool [n, n_contents]: content inside its approval window on each of ``day`` [n]."""
        day = np.asarray(day, dtype=np.float64)[:, None]
        return (self.approval_start_[None, :] <= day) & (day <= self.approval_end_[None, :])

    def values(self, hcp_idx, score: np.ndarray, engagement: np.ndarray) -> np.ndarray:
        """Float [n, C, K] value of each (content, channel) before any rule: the ranking score moved to
        the channel (``score · engagement / best consented engagement``) minus the channel's λ·cost."""
        consented = self.consent_[hcp_idx]
        consented = np.where(consented.any(axis=1, keepdims=True), consented, True)
        best_consented = np.where(consented[:, None, :], engagement, 0).max(axis=2, keepdims=True)
        scale = np.divide(score[:, :, None], best_consented, out=np.zeros_like(best_consented),
                          where=best_consented > 0)
        return engagement * scale - self.cost_.astype(engagement.dtype)[None, None, :]

    def apply(self, hcp_idx, score: np.ndarray, engagement: np.ndarray, channels=None, excluded=None,
              planned=None) -> RuledScores:
        """Apply every rule on day 0 to scorer output for HCPs ``hcp_idx``.

        Parameters
        ----------
        hcp_idx : int array [n] (serving index order).
        score : [n, C] the scorer's ranking score.
        engagement : [n, C, K] engagement probability per content and channel.
        channels : optional iterable of channel names to restrict to.
        excluded : optional bool [n, C]: content not to propose (feedback).
        planned : optional per HCP list of ``(channel, day)`` planned touches caps also count.

        Notes
        -----
        An item's channel is its allowed channel of highest value (:meth:`values`); when caps or a
        channel filter remove the best one the item sinks to what is still allowed, instead of
        keeping its rank. ``preferred`` is the model's most engaging channel over all channels,
        opted-out ones included, for the rule notes.
        """
        hcp_idx = np.atleast_1d(np.asarray(hcp_idx, dtype=np.int64))
        score = np.asarray(score, dtype=np.float64).reshape(len(hcp_idx), -1)
        engagement = np.asarray(engagement, dtype=np.float64).reshape(len(hcp_idx), score.shape[1], len(CHANNELS))
        calendar = self.touch_calendar(hcp_idx, planned)
        allowed = self.channel_open(hcp_idx, calendar, np.zeros(len(hcp_idx)), channels)     # [n, K]
        eligible = self.approved_[None, :] & ~self.consumed_mask(hcp_idx)
        if excluded is not None:
            eligible &= ~np.asarray(excluded, dtype=bool)
        return self.rank(hcp_idx, self.values(hcp_idx, score, engagement), engagement, allowed, eligible)

    def rank(self, hcp_idx, values: np.ndarray, engagement: np.ndarray, allowed: np.ndarray,
             eligible: np.ndarray, shares: bool = True) -> RuledScores:
        """:class:`RuledScores` from values [n, C, K], allowed channels [n, K] and eligible content [n, C]
        (``shares=False`` skips ``channel_probabilities``, left None)."""
        masked = np.where(allowed[:, None, :], values, -np.inf)
        channel = masked.argmax(axis=2)
        best = np.take_along_axis(masked, channel[:, :, None], axis=2)[:, :, 0]
        chosen_engagement = np.take_along_axis(engagement, channel[:, :, None], axis=2)[:, :, 0]
        any_allowed = allowed.any(axis=1)[:, None]
        if shares:
            shares = np.where(allowed[:, None, :], engagement, 0.0)
            totals = shares.sum(axis=2, keepdims=True)
            shares = np.divide(shares, totals, out=np.zeros_like(shares), where=totals > 0)
        else:
            shares = None
        return RuledScores(
            score=np.where(eligible & any_allowed, best, -np.inf),
            channel=np.where(any_allowed, channel, -1),
            channel_probabilities=shares,
            engagement=np.where(any_allowed, chosen_engagement, 0.0),
            preferred=engagement.argmax(axis=2),
        )

    # -- explanations ------------------------------------------------------------------
    def channel_block_note(self, hcp: int, channel: int, planned: int = 0) -> str | None:
        """Why channel ``channel`` is unavailable for HCP ``hcp`` today (None when it is available).

        ``planned``: accepted touches of the channel inside the cap window, counted with past ones.
        """
        name = CHANNELS[channel]
        if not self.consent_[hcp, channel]:
            return f"{channel_label(name)} excluded: HCP opted out"
        if not self.in_use_[channel]:
            return f"{channel_label(name)} excluded: no touch on this channel in the data"
        touches = int(self.cap_touches_[hcp, channel])
        if touches + planned >= self.cap_limits_[channel]:
            planned_text = f" and {planned} planned" if planned else ""
            return f"{channel_label(name)} capped: {touches} touches{planned_text} in the last {self.cap_days} days"
        return None

    def cost_note(self, chosen: int, preferred: int, chosen_p: float, preferred_p: float) -> str:
        """Why a cheaper channel won over the more engaging ``preferred`` one."""
        return (f"{channel_label(CHANNELS[chosen])} instead of {channel_label(CHANNELS[preferred]).lower()}: "
                f"{preferred_p:.0%} vs {chosen_p:.0%} engagement does not pay for the "
                f"{channel_label(CHANNELS[preferred]).lower()}'s cost")

    def summary(self, hcp: int) -> dict:
        """The rules' state for one HCP: channel status and how many items each rule excludes."""
        consumed = self.consumed_indices_[self.consumed_indptr_[hcp]:self.consumed_indptr_[hcp + 1]]
        return {
            "now": self.now_.isoformat(),
            "channels": [
                {"channel": c, "consent": bool(self.consent_[hcp, k]), "in_use": bool(self.in_use_[k]),
                 "touches_in_window": int(self.cap_touches_[hcp, k]),
                 "cap": None if c not in self.caps else int(self.caps[c]),
                 "capped": bool(self.capped_[hcp, k]), "cost": float(self.cost_[k]),
                 "note": self.channel_block_note(hcp, k)}
                for k, c in enumerate(CHANNELS)],
            "cap_days": self.cap_days,
            "excluded_consumed": int(len(consumed)),
            "excluded_not_approved": int((~self.approved_).sum()),
        }
