"""The rule book: the business rules composed, applied to scorer output, and the channel value.

An item is ranked by its best allowed channel's value
``score · P(engage | channel) / P(engage | best consented channel) − λ·cost(channel)``, which is
``P(engage) − λ·cost`` for a scorer whose score is the best consented engagement. A channel is
allowed when every channel rule allows it (and the request asked for it), an item when every
content rule allows it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.config import CHANNELS, channel_label
from engine.ranking import top_k
from engine.rules.approval import Approval
from engine.rules.base import Ask, ChannelRule, ContentRule, Rule, RuleContext, csr_rows, touch_days
from engine.rules.channels_in_use import ChannelsInUse
from engine.rules.consent import Consent
from engine.rules.contact_caps import ContactCaps
from engine.rules.engaged import AlreadyEngaged
from engine.rules.feedback import FeedbackRests


def standard_rules(caps: dict[str, int]) -> list[Rule]:
    """The platform's rules, in the order their notes are given (a new rule joins this list)."""
    return [Consent(), ChannelsInUse(), ContactCaps(caps), Approval(), AlreadyEngaged(), FeedbackRests()]


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
        """[rows, <=n] content indices by descending score, ties by lower index (:func:`engine.ranking.top_k`);
        only recommendable ones, padded with -1."""
        order = top_k(self.score, n)
        return np.where(np.isfinite(np.take_along_axis(self.score, order, 1)), order, -1)


class RuleBook:
    """The rules for one serving index order over one data snapshot.

    Parameters
    ----------
    caps : max touches per channel in ``cap_days`` (channels absent from it are uncapped).
    cap_days : the cap period.
    costs : λ·cost per channel name (value lost per touch); channels absent cost nothing.
    extra_rules : rules applied after :func:`standard_rules`.

    Attributes (after :meth:`fit`)
    ------------------------------
    rules : every rule, in order; ``channel_rules`` and ``content_rules`` split them by kind.
    now_ : the instant the rules reason at (end of the as-of day).
    hcp_rows_ : int [n_hcps], the snapshot row of each serving HCP (-1 when unknown to the store).
    consent_ : bool [n_hcps, n_channels] (the value's "best consented channel").
    cost_ : [n_channels].
    window_indptr_, window_channel_, window_day_ : CSR of each HCP's touches inside the cap window.
    """

    def __init__(self, caps: dict[str, int], cap_days: int, costs: dict[str, float] | None = None,
                 extra_rules=()):
        self.cap_days = int(cap_days)
        self.costs = dict(costs or {})
        self.rules = standard_rules(caps) + list(extra_rules)
        self.channel_rules = [r for r in self.rules if isinstance(r, ChannelRule)]
        self.content_rules = [r for r in self.rules if isinstance(r, ContentRule)]

    def rule(self, kind: type) -> Rule:
        """The book's rule of class ``kind``."""
        return next(r for r in self.rules if isinstance(r, kind))

    def fit(self, snapshot, hcp_ids, content_ids) -> "RuleBook":
        """Fit every rule on ``snapshot`` (a :class:`engine.service.snapshot.DataSnapshot`) for the
        serving order ``hcp_ids``, ``content_ids``."""
        hcp_ids = np.asarray(hcp_ids).astype(str)
        content_ids = np.asarray(content_ids).astype(str)
        context = RuleContext(snapshot, snapshot.hcp_pos.reindex(hcp_ids).fillna(-1).to_numpy().astype(np.int64),
                              snapshot.content_pos.reindex(content_ids).fillna(-1).to_numpy().astype(np.int64),
                              self.cap_days)
        for rule in self.rules:
            rule.fit(context)
        self.now_ = snapshot.now
        self.hcp_rows_ = context.hcp_rows
        self.consent_ = self.rule(Consent).consent_
        self.cost_ = np.array([float(self.costs.get(c, 0.0)) for c in CHANNELS])

        # touches inside the cap window, CSR by HCP, as days before the end of the as-of day
        h = context.serving_hcp[snapshot.window_hcp]
        ok = h >= 0
        order = np.lexsort((snapshot.window_time[ok], h[ok]))
        self.window_channel_ = snapshot.window_channel[ok][order]
        self.window_day_ = touch_days(snapshot.window_time[ok][order], snapshot.now)
        self.window_indptr_ = np.concatenate([[0], np.cumsum(np.bincount(h[ok], minlength=context.n_hcps))])
        return self

    # -- asking the rules --------------------------------------------------------------
    def touch_calendar(self, hcp_idx: np.ndarray, extra=None, room: int = 0) -> np.ndarray:
        """Float [n, n_channels, M] days of the touches caps count (NaN = empty slot).

        Past touches inside the cap window, then ``extra`` (per HCP a list of ``(channel, day)``,
        e.g. accepted feedback), then ``room`` empty slots per channel for planned touches.
        """
        hcp_idx = np.asarray(hcp_idx)
        rows, pos = csr_rows(self.window_indptr_, hcp_idx)
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

    def channel_open(self, ask: Ask, channels=None) -> np.ndarray:
        """Bool [n, n_channels]: every channel rule allows a touch on the ask's day, and the channel
        is among the requested ``channels`` (names; None: all)."""
        allowed = _requested(channels, len(ask.hcp))
        for rule in self.channel_rules:
            allowed = allowed & rule.allows(ask)
        return allowed

    def content_open(self, ask: Ask) -> np.ndarray:
        """Bool [n, n_contents]: every content rule allows the content on the ask's day."""
        allowed = np.True_
        for rule in self.content_rules:
            allowed = allowed & rule.allows(ask)
        return allowed

    def dated_content_open(self, ask: Ask, items: np.ndarray) -> np.ndarray:
        """Bool shaped as ``items`` ``[n, ...]``: the dated content rules allow ``items[j, ...]`` to HCP ``j``
        on its day (plans apply the undated ones when they choose their candidates)."""
        allowed = np.ones(np.shape(items), dtype=bool)
        for rule in self.content_rules:
            if rule.dated:
                allowed &= rule.allows_items(ask, items)
        return allowed

    def channel_possible(self, ask: Ask, last_day: float, channels=None) -> np.ndarray:
        """Bool [n, n_channels]: channels some day from 0 to ``last_day`` may open (a superset)."""
        allowed = _requested(channels, len(ask.hcp))
        for rule in self.channel_rules:
            allowed = allowed & rule.possible(ask, last_day)
        return allowed

    def content_possible(self, ask: Ask, last_day: float) -> np.ndarray:
        """Bool [n, n_contents]: contents some day from 0 to ``last_day`` may allow (a superset)."""
        allowed = np.True_
        for rule in self.content_rules:
            allowed = allowed & rule.possible(ask, last_day)
        return allowed

    # -- value and ranking -------------------------------------------------------------
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
        today = Ask(hcp_idx, np.zeros(len(hcp_idx)), self.touch_calendar(hcp_idx, planned), excluded)
        return self.rank(hcp_idx, self.values(hcp_idx, score, engagement), engagement,
                         self.channel_open(today, channels), self.content_open(today))

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
    def channel_block_note(self, hcp: int, channel: int, planned: int = 0, standing_only: bool = False) -> str | None:
        """Why channel ``channel`` is unavailable for HCP ``hcp`` today (None when it is available): the
        first closing rule's note.

        ``planned``: accepted touches of the channel inside the cap window, counted with past ones;
        ``standing_only``: ask the undated rules only (what holds on every day of a plan).
        """
        for rule in self.channel_rules:
            if standing_only and rule.dated:
                continue
            note = rule.note(hcp, channel, planned)
            if note is not None:
                return note
        return None

    def day_note(self, channel: int) -> str | None:
        """Why a plan step could not use ``channel`` on its day (the dated rules' reason)."""
        return next((note for rule in self.channel_rules if rule.dated
                     for note in [rule.day_note(channel)] if note is not None), None)

    def cost_note(self, chosen: int, preferred: int, chosen_p: float, preferred_p: float) -> str:
        """Why a cheaper channel won over the more engaging ``preferred`` one."""
        return (f"{channel_label(CHANNELS[preferred])} would engage {preferred_p:.0%} vs {chosen_p:.0%} by "
                f"{channel_label(CHANNELS[chosen]).lower()}: not worth its higher cost")

    def channel_notes(self, block_note: str | None, chosen: int, preferred: int, engagement: np.ndarray) -> dict:
        """``rule_notes`` and ``cost_note`` of an item sent by ``chosen`` when ``preferred`` engages most
        (``engagement``: the item's per channel): the rule that closed ``preferred`` (``block_note``),
        else why it did not pay for its cost; neither when the two channels are the same."""
        if chosen == preferred or block_note:
            return {"rule_notes": [block_note] if block_note else [], "cost_note": None}
        return {"rule_notes": [],
                "cost_note": self.cost_note(chosen, preferred, engagement[chosen], engagement[preferred])}

    def summary(self, hcp: int) -> dict:
        """The rules' state for one HCP: each channel's status and what each rule excludes."""
        channels = []
        for k, name in enumerate(CHANNELS):
            row = {"channel": name}
            for rule in self.channel_rules:
                row.update(rule.channel_summary(hcp, k))
            row.update(cost=float(self.cost_[k]), note=self.channel_block_note(hcp, k))
            channels.append(row)
        out = {"now": self.now_.isoformat(), "channels": channels}
        for rule in self.rules:
            out.update(rule.summary(hcp))
        return out


def _requested(channels, n: int) -> np.ndarray:
    """Bool [n, n_channels]: the channels a request asks for (None: all)."""
    wanted = np.ones(len(CHANNELS), dtype=bool) if channels is None else np.isin(np.array(CHANNELS), list(channels))
    return np.broadcast_to(wanted, (n, len(CHANNELS)))
