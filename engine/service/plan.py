"""The dated next-best-action plan: which content, on which channel, on which day, for each HCP.

A plan is built greedily, one touch at a time, from two models and the business rules:

- *what*: the hybrid's engagement per (content, channel), turned into a value
  ``P(engage) − λ·cost`` by :meth:`RuleBook.values`;
- *when*: the LSTM decoder's gap distribution (:class:`DecoderTiming`), fed the channels the plan
  chose, so a rep visit is followed by the pause the history shows after rep visits;
- *allowed*: on each step's own day, consent, caps over past, accepted and planned touches,
  approval windows, and no content already consumed, planned or resting after feedback.

Step 1 is on the as-of day with the same value and rules as the recommendation list, so it is the
top recommendation. Everything is vectorised over a batch of HCPs: one HCP is a batch of one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.config import CHANNELS
from engine.models.sequence import decoder_input, lstm_step
from engine.ranking import top_k
from engine.rules import Ask, RuleBook, touch_days


class DecoderTiming:
    """Days between planned touches from the sequence model's decoder (numpy, no Keras).

    The decoder is started from each HCP's encoder state at the bundle's reference time and fed
    the planned touches one by one (channel and gap); after each it gives the log-normal gap to the
    next touch, whose median (rounded, at least one day) is the plan's pause.

    Parameters
    ----------
    forecaster : the bundle's :class:`engine.models.sequence.JourneyForecaster` (decoder weights,
        per-HCP states, last touches).
    rows : int [n_serving_hcps], the forecaster row of each serving HCP (-1: no history in the
        bundle, e.g. an HCP added after training: a zero state).
    now : the instant plans start at (the end of the as-of day).
    """

    def __init__(self, forecaster, rows: np.ndarray, now):
        self.weights = forecaster.weights
        self.state_h = np.asarray(forecaster.state_h, dtype=np.float32)
        self.state_c = np.asarray(forecaster.state_c, dtype=np.float32)
        self.last_channel = np.asarray(forecaster.last_channel, dtype=np.int64)
        self.last_log_gap = np.asarray(forecaster.last_log_gap, dtype=np.float32)
        self.elapsed = np.maximum(-touch_days(forecaster.last_time, now), 0.0)   # days since the last touch
        self.rows = np.asarray(rows, dtype=np.int64)

    def start(self, hcp_idx: np.ndarray):
        """Decoder state ``(h, c)`` for serving HCPs ``hcp_idx`` after their last known touch, and the
        days from that touch to day 0."""
        rows = self.rows[np.asarray(hcp_idx)]
        known = rows >= 0
        r = np.where(known, rows, 0)
        units = self.state_h.shape[1]
        h = np.where(known[:, None], self.state_h[r], 0.0).astype(np.float32)
        c = np.where(known[:, None], self.state_c[r], 0.0).astype(np.float32)
        elapsed = np.where(known, np.nan_to_num(self.elapsed[r], nan=0.0), 0.0)
        x = decoder_input(np.where(known, self.last_channel[r], -1), np.where(known, self.last_log_gap[r], 0.0))
        w = self.weights
        h, c = lstm_step(x, h.reshape(-1, units), c.reshape(-1, units), w["dec_kernel"], w["dec_recurrent"],
                         w["dec_bias"])
        return h, c, elapsed

    def next_gap(self, h, c, channel: np.ndarray, gap_days: np.ndarray):
        """Feed one planned touch (channel, days since the previous touch); return ``(h, c, days to the next)``."""
        w = self.weights
        x = decoder_input(np.asarray(channel), np.log1p(np.maximum(np.asarray(gap_days, dtype=np.float64), 0.0)))
        h, c = lstm_step(x, h, c, w["dec_kernel"], w["dec_recurrent"], w["dec_bias"])
        mu = (h @ w["gap_w"] + w["gap_b"])[:, 0]
        return h, c, np.maximum(np.rint(np.expm1(mu)), 1.0)


@dataclass
class PlanBatch:
    """Plans of ``n`` HCPs; arrays ``[n, max_steps]``, ``content == -1`` past a plan's last step.

    Attributes
    ----------
    content, channel : serving content index and channel index of each step.
    day : int days after the as-of day (step 1 is day 0).
    engagement : expected engagement P(engage) of the step on its channel.
    value : the step's value (engagement minus λ·cost, see :meth:`RuleBook.values`).
    preferred : the model's most engaging channel for the step's content (for the notes).
    """

    content: np.ndarray
    channel: np.ndarray
    day: np.ndarray
    engagement: np.ndarray
    value: np.ndarray
    preferred: np.ndarray

    @property
    def steps(self) -> np.ndarray:
        """Int [n]: how many steps each plan has."""
        return (self.content >= 0).sum(axis=1)


class Planner:
    """Greedy dated plans over a horizon (see the module docstring).

    Parameters
    ----------
    rules : the fitted :class:`RuleBook` (serving index order).
    timing : the :class:`DecoderTiming` of the serving bundle.
    horizon_days : last day a step may fall on.
    max_steps : most steps per plan.
    candidates : contents per channel that later steps choose among (the best by value); step 1
        always considers the whole catalogue.
    """

    def __init__(self, rules: RuleBook, timing: DecoderTiming, horizon_days: int, max_steps: int,
                 candidates: int = 32):
        if horizon_days < 0 or max_steps < 1:
            raise ValueError(f"a plan needs horizon_days >= 0 and max_steps >= 1 (got {horizon_days}, {max_steps})")
        self.rules = rules
        self.timing = timing
        self.horizon_days = int(horizon_days)
        self.max_steps = int(max_steps)
        self.candidates = int(candidates)

    def plan(self, hcp_idx, score: np.ndarray, engagement: np.ndarray, excluded=None, planned=None,
             channels=None, horizon_days: int | None = None) -> PlanBatch:
        """Plans for serving HCPs ``hcp_idx`` from scorer output (``score [n, C]``, ``engagement [n, C, K]``).

        ``excluded`` (bool [n, C]) and ``planned`` (per HCP ``[(channel, day)]``, accepted touches) come
        from feedback, ``channels`` restricts the channels, ``horizon_days`` overrides the horizon.
        """
        rules = self.rules
        horizon = self.horizon_days if horizon_days is None else int(horizon_days)
        hcp_idx = np.atleast_1d(np.asarray(hcp_idx, dtype=np.int64))
        n, steps, n_k = len(hcp_idx), self.max_steps, len(CHANNELS)
        score = np.asarray(score, dtype=np.float32).reshape(n, -1)
        engagement = np.asarray(engagement, dtype=np.float32).reshape(n, score.shape[1], n_k)
        values = rules.values(hcp_idx, score, engagement)
        calendar = rules.touch_calendar(hcp_idx, planned, room=steps)
        today = Ask(hcp_idx, np.zeros(n), calendar, excluded)
        free_slot = np.isnan(calendar).argmax(axis=2)          # [n, K] first empty slot per channel
        out = PlanBatch(content=np.full((n, steps), -1), channel=np.full((n, steps), -1),
                        day=np.zeros((n, steps), dtype=np.int64), engagement=np.zeros((n, steps)),
                        value=np.zeros((n, steps)), preferred=np.full((n, steps), -1))

        # step 1, on day 0: exactly the recommendation list's first item (same values, rules and ranking)
        first = rules.rank(hcp_idx, values, engagement, rules.channel_open(today, channels), rules.content_open(today),
                           shares=False)
        item = first.top(1)[:, 0]
        alive = item >= 0
        at = np.flatnonzero(alive)
        k = first.channel[at, item[at]]
        self._record(out, 0, at, item[at], k, np.zeros(len(at)), first.score[at, item[at]], engagement)
        calendar[at, k, free_slot[at, k]] = 0.0
        free_slot[at, k] += 1

        # later steps: each channel's best contents that could be sent some day of the horizon
        reachable = rules.content_possible(today, horizon)[:, :, None] & \
            rules.channel_possible(today, horizon, channels)[:, None, :]
        by_channel = np.where(reachable, values, -np.inf).transpose(0, 2, 1)        # [n, K, C]
        cand = top_k(by_channel.reshape(n * n_k, -1), self.candidates).reshape(n, n_k, -1)
        cand_value = np.take_along_axis(by_channel, cand, axis=2)                   # [n, K, M]
        m = cand.shape[2]
        taken = np.zeros((n, n_k, m), dtype=bool)
        taken[at] = cand[at] == item[at, None, None]

        h, c, gap = self.timing.start(hcp_idx)
        day = np.zeros(n)
        for step in range(1, steps):
            h, c, next_gap = self.timing.next_gap(h, c, np.where(alive, out.channel[:, step - 1], -1), gap)
            gap = next_gap
            day = day + next_gap
            alive &= day <= horizon
            best, k_best, m_best = self._pick(hcp_idx, calendar, day, channels, cand, cand_value, taken, alive)
            stuck = np.flatnonzero(alive & ~np.isfinite(best))
            if len(stuck):  # nothing allowed on the LSTM's day (caps full): slip to the day a cap frees up
                day[stuck] = self._reopen_day(hcp_idx[stuck], calendar[stuck], day[stuck], channels)
                retry = np.zeros(n, dtype=bool)
                retry[stuck] = day[stuck] <= horizon
                b, kb, mb = self._pick(hcp_idx, calendar, day, channels, cand, cand_value, taken, retry)
                best[retry], k_best[retry], m_best[retry] = b[retry], kb[retry], mb[retry]
            alive &= np.isfinite(best) & (day <= horizon)
            if not alive.any():
                break
            at = np.flatnonzero(alive)
            k, items = k_best[at], cand[at, k_best[at], m_best[at]]
            gap[at] = day[at] - out.day[at, step - 1]
            self._record(out, step, at, items, k, day[at], best[at], engagement)
            taken[at] |= cand[at] == items[:, None, None]
            calendar[at, k, free_slot[at, k]] = day[at]
            free_slot[at, k] += 1
        return out

    @staticmethod
    def _record(out: PlanBatch, step: int, at, items, channels, days, values, engagement) -> None:
        out.content[at, step], out.channel[at, step], out.day[at, step] = items, channels, days.astype(np.int64)
        out.engagement[at, step] = engagement[at, items, channels]
        out.value[at, step] = values
        out.preferred[at, step] = engagement[at, items].argmax(axis=1)

    def _pick(self, hcp_idx, calendar, day, channels, cand, cand_value, taken, rows):
        """Best candidate per HCP on ``day`` among ``rows``: (value, channel, candidate slot); -inf: none.

        Ties go to the lower channel, then the better-ranked candidate."""
        n = len(hcp_idx)
        best = np.full(n, -np.inf)
        k_best = np.zeros(n, dtype=np.int64)
        m_best = np.zeros(n, dtype=np.int64)
        at = np.flatnonzero(rows)
        if not len(at):
            return best, k_best, m_best
        ask = Ask(hcp_idx[at], day[at], calendar[at])
        ok = self.rules.channel_open(ask, channels)[:, :, None] & ~taken[at] & \
            self.rules.dated_content_open(ask, cand[at])
        masked = np.where(ok, cand_value[at], -np.inf).reshape(len(at), -1)
        flat = masked.argmax(axis=1)
        best[at] = masked[np.arange(len(at)), flat]
        k_best[at], m_best[at] = np.divmod(flat, cand_value.shape[2])
        return best, k_best, m_best

    def _reopen_day(self, hcp_idx, calendar, day, channels) -> np.ndarray:
        """Per HCP the first day after ``day`` on which some channel takes a touch again (inf: none).

        A window loses a touch on day ``t`` from day ``t + cap_days`` on, so those are the candidates."""
        candidates = np.ceil(calendar + self.rules.cap_days).reshape(len(hcp_idx), -1)
        candidates = np.sort(np.where(candidates > day[:, None], candidates, np.inf), axis=1)
        best = np.full(len(hcp_idx), np.inf)
        pending = np.arange(len(hcp_idx))
        for j in range(candidates.shape[1]):
            pending = pending[np.isfinite(candidates[pending, j])]
            if not len(pending):
                break
            when = candidates[pending, j]
            ok = self.rules.channel_open(Ask(hcp_idx[pending], when, calendar[pending]), channels).any(axis=1)
            best[pending[ok]] = when[ok]
            pending = pending[~ok]
        return best
