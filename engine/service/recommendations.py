"""Recommendations, plans and forecasts: what to send each HCP, when and on which channel.

One HCP's answers (:meth:`Recommendations.recommend`, :meth:`~Recommendations.plan`,
:meth:`~Recommendations.forecast`) go through the shared result cache under keys of the serving
state; batch scoring and planning (:meth:`~Recommendations.score_all`,
:meth:`~Recommendations.plan_all`) are vectorised over chunks of HCPs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.config import CHANNELS, Settings, channel_label
from engine.progress import QUIET
from engine.service.cache import ServiceCache
from engine.service.feedback import FeedbackBook
from engine.service.follower import LiveState
from engine.service.plan import PlanBatch
from engine.service.state import Live, Serving, iso

#: HCPs per ``score_batch`` call in batch scoring (bounds memory: chunk x contents x channels floats)
BATCH_CHUNK = 2048
#: columns of :meth:`Recommendations.plan_all`
PLAN_COLUMNS = ["hcp_id", "step", "date", "content_id", "channel", "engagement_probability", "value"]


def check_channels(channels) -> list[str] | None:
    """``channels`` sorted and deduplicated (None: every channel).

    Raises
    ------
    ValueError : an unknown channel name.
    """
    if channels is None:
        return None
    channels = sorted({channels} if isinstance(channels, str) else set(channels))
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise ValueError(f"unknown channel(s) {unknown}; channels are {', '.join(CHANNELS)}")
    return channels


@dataclass(eq=False)
class Recommendations:
    """Per-HCP recommendations, plans and forecasts, and the batch versions of them."""

    settings: Settings
    state: LiveState
    cache: ServiceCache

    # -- one HCP ---------------------------------------------------------------------------
    @staticmethod
    def serving_index(live: Live, hcp_id: str) -> int:
        """The serving index of a stored HCP (ValueError naming an unknown one)."""
        hcp_id = str(hcp_id)
        idx = live.serving.hcp_index.get(hcp_id)
        if live.data.snapshot.hcp_row(hcp_id) is None or idx is None:
            raise ValueError(f"unknown HCP {hcp_id!r}")
        return int(idx)

    def _cached(self, key: str, compute, use_cache: bool):
        return self.cache.get_or_compute(key, compute) if use_cache else compute()

    def recommend(self, hcp_id: str, n: int = 10, channels=None, use_cache: bool = True) -> list[dict]:
        """Top-``n`` content for one HCP after the business rules and feedback, each with channel,
        probabilities and reasons: what to send today (the as-of day).

        Returns
        -------
        list of dict: rank, content_id, title, channel, channel_probabilities {channel: p},
        engagement_probability, score (the value: engagement minus λ·cost), reasons [str],
        rule_notes [str] (why the most engaging channel is closed: a rule about the HCP, such as an
        opt-out or a cap), cost_note (str or None: the most engaging channel is open but does not pay
        for its cost, so a cheaper one was chosen; about this item), version. Rank 1 is step 1 of
        :meth:`plan`.

        Raises
        ------
        ValueError : unknown HCP, bad ``n`` or unknown channel names.
        NoBundleError : no bundle loaded.
        """
        live = self.state.current()
        idx = self.serving_index(live, hcp_id)
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer (got {n!r})")
        channels = check_channels(channels)
        key = live.result_key("recommend", str(hcp_id), int(n), channels)
        return self._cached(key, lambda: self._recommend(live, idx, int(n), channels), use_cache)

    def _recommend(self, live: Live, idx: int, n: int, channels) -> list[dict]:
        serving = live.serving
        score, engagement, factors = serving.score_one(idx)
        excluded, planned = live.feedback.constraints(serving.hcp_ids[[idx]], serving.content_index,
                                                      serving.snapshot.now)
        ruled = serving.rules.apply(np.array([idx]), score[None, :], engagement[None], channels, excluded, planned)
        items = ruled.top(n)[0]
        items = items[items >= 0]
        chosen = ruled.channel[0, items]
        reasons = serving.reasons.reasons(idx, items, chosen, factors)
        planned_now = np.bincount([k for k, day in planned[0] if -serving.rules.cap_days < day <= 0],
                                  minlength=len(CHANNELS))
        rows = []
        for rank, (item, channel) in enumerate(zip(items.tolist(), chosen.tolist()), start=1):
            preferred = int(ruled.preferred[0, item])
            note = None
            if preferred != channel:
                note = serving.rules.channel_block_note(idx, preferred, int(planned_now[preferred]))
                if note is None and channels is not None and CHANNELS[preferred] not in channels:
                    note = f"{channel_label(CHANNELS[preferred])} not requested; using {channel_label(CHANNELS[channel])}"
            shares = ruled.channel_probabilities[0, item]
            rows.append({
                "rank": rank,
                "content_id": str(serving.content_ids[item]),
                "title": str(serving.titles[item]),
                "channel": CHANNELS[channel],
                "channel_probabilities": dict(zip(CHANNELS, shares.round(6).tolist())),
                "engagement_probability": float(ruled.engagement[0, item]),
                "score": float(ruled.score[0, item]),
                "reasons": reasons[rank - 1],
                **serving.rules.channel_notes(note, channel, preferred, engagement[item]),
                "version": serving.version,
            })
        return rows

    def plan(self, hcp_id: str, horizon_days: int | None = None, use_cache: bool = True) -> dict:
        """One HCP's dated plan from the as-of day over ``horizon_days`` (default ``PLAN_HORIZON_DAYS``).

        Returns
        -------
        dict: hcp_id, as_of, horizon_days, version, ``steps`` [{step, date, day, content_id, title,
        channel, engagement_probability, value, reasons, rule_notes, cost_note}] (notes as in
        :meth:`recommend`; step 1 is today's top recommendation, later dates from the LSTM's gaps)
        and ``accepted`` [{date, content_id, title, channel}]: touches already accepted, planned from
        the as-of day on (they count toward caps).

        Raises
        ------
        ValueError : unknown HCP or a horizon outside 0..365 days.
        NoBundleError : no bundle loaded.
        """
        live = self.state.current()
        idx = self.serving_index(live, hcp_id)
        horizon = self.settings.plan_horizon_days if horizon_days is None else horizon_days
        if not isinstance(horizon, (int, np.integer)) or not 0 <= horizon <= 365:
            raise ValueError(f"horizon_days must be an integer in 0..365 (got {horizon_days!r})")
        key = live.result_key("plan", str(hcp_id), int(horizon))
        return self._cached(key, lambda: self._plan(live, idx, int(horizon)), use_cache)

    def _plan(self, live: Live, idx: int, horizon: int) -> dict:
        serving = live.serving
        rules, day0 = serving.rules, live.data.day
        score, engagement, factors = serving.score_one(idx)
        excluded, planned = live.feedback.constraints(serving.hcp_ids[[idx]], serving.content_index,
                                                      serving.snapshot.now)
        batch = serving.planner.plan(np.array([idx]), score[None, :], engagement[None], excluded, planned,
                                     horizon_days=horizon)
        taken = batch.content[0] >= 0
        items, chosen = batch.content[0, taken], batch.channel[0, taken]
        reasons = serving.reasons.reasons(idx, items, chosen, factors)
        values = rules.values(np.array([idx]), score[None, :], engagement[None])[0]
        steps = []
        for s, (item, channel) in enumerate(zip(items.tolist(), chosen.tolist())):
            day = int(batch.day[0, s])
            preferred = int(batch.preferred[0, s])
            note = None
            if preferred != channel:
                # worth more, yet not chosen: a dated rule (a cap) closed it that day
                closed = rules.day_note(preferred) if values[item, preferred] > batch.value[0, s] else None
                note = rules.channel_block_note(idx, preferred, standing_only=True) or closed
            steps.append({
                "step": s + 1, "date": (day0 + pd.Timedelta(days=day)).date().isoformat(), "day": day,
                "content_id": str(serving.content_ids[item]), "title": str(serving.titles[item]),
                "channel": CHANNELS[channel], "engagement_probability": float(batch.engagement[0, s]),
                "value": float(batch.value[0, s]), "reasons": reasons[s],
                **rules.channel_notes(note, channel, preferred, engagement[item]),
            })
        accepted = sorted((r for r in live.feedback.for_hcp(serving.hcp_ids[idx])
                           if r["action"] == "accept" and r["planned_at"] is not None
                           and pd.Timestamp(r["planned_at"]).normalize() >= day0), key=lambda r: r["planned_at"])
        titles = live.data.titles
        return {
            "hcp_id": str(serving.hcp_ids[idx]), "as_of": day0.date().isoformat(), "horizon_days": horizon,
            "version": serving.version, "steps": steps,
            "accepted": [{"date": pd.Timestamp(r["planned_at"]).date().isoformat(), "content_id": r["content_id"],
                          "title": titles.get(r["content_id"]), "channel": r["channel"]} for r in accepted],
        }

    def forecast(self, hcp_id: str, steps: int = 5) -> list[dict]:
        """What the history predicts: the next ``steps`` touchpoints as the LSTM rolls them out from the
        HCP's past alone (no rules, no plan): step, channel, probability, date, date_low, date_high.
        An HCP added after training has no history in the bundle: ``[]``."""
        live = self.state.current()
        idx = self.serving_index(live, hcp_id)
        if not isinstance(steps, (int, np.integer)) or not 1 <= steps <= 50:
            raise ValueError(f"steps must be an integer in 1..50 (got {steps!r})")
        serving = live.serving
        if idx >= serving.n_bundle_hcps:
            return []

        def compute():
            frame = serving.bundle.forecaster.forecast(idx, steps=int(steps), rollouts=50, start=serving.snapshot.now)
            return [{
                "step": int(r["step"]), "channel": str(r["channel"]),
                "probability": float(r["channel_probability"]),
                "date": iso(r["date"]), "date_low": iso(r["date_low"]), "date_high": iso(r["date_high"]),
            } for r in frame.to_dict("records")]

        return self.cache.get_or_compute(live.result_key("forecast", str(hcp_id), int(steps)), compute)

    def rule_summary(self, hcp_id: str) -> dict | None:
        """The business rules' state for one HCP (channel consent/caps, excluded items); None if unknown."""
        serving = self.state.current().serving
        idx = serving.hcp_index.get(str(hcp_id))
        return None if idx is None else serving.rules.summary(int(idx))

    @staticmethod
    def action_reasons(serving: Serving, rows: list[dict]) -> list[list[str]]:
        """The reasons of each row's action (its HCP, content and channel), from the scorer's factors."""
        out = []
        for row in rows:
            idx = serving.hcp_index.get(str(row["hcp_id"]))
            item = serving.content_index.get_indexer([str(row["content_id"])])[0]
            if idx is None or item < 0:
                out.append([])
                continue
            factors = serving.score_one(int(idx))[2]
            out.append(serving.reasons.reasons(int(idx), np.array([item]), np.array([CHANNELS.index(row["channel"])]),
                                               factors)[0])
        return out

    # -- every HCP -------------------------------------------------------------------------
    @staticmethod
    def batch_index(live: Live, hcp_ids=None) -> np.ndarray:
        """Serving indexes of ``hcp_ids`` (None: every stored HCP); unknown ids are left out."""
        ids = live.data.snapshot.hcps["hcp_id"].astype(str).to_numpy() if hcp_ids is None else \
            np.asarray(hcp_ids).astype(str)
        return live.serving.hcp_index.reindex(ids).dropna().to_numpy().astype(np.int64)

    def plan_all(self, hcp_ids=None, horizon_days: int | None = None, chunk: int = BATCH_CHUNK,
                 progress=QUIET) -> pd.DataFrame:
        """Every HCP's plan (or ``hcp_ids``'), vectorised over chunks: one row per step (:data:`PLAN_COLUMNS`)."""
        return self.plan_frame(self.state.current(), hcp_ids, horizon_days, chunk, progress)

    def plan_frame(self, live: Live, hcp_ids=None, horizon_days: int | None = None, chunk: int = BATCH_CHUNK,
                   progress=QUIET) -> pd.DataFrame:
        """:meth:`plan_all` for the given state."""
        horizon = self.settings.plan_horizon_days if horizon_days is None else int(horizon_days)
        return plan_rows(live.serving, live.feedback, live.data.day, horizon, self.batch_index(live, hcp_ids),
                         chunk, progress)

    def score_all(self, n: int = 10, hcp_ids=None, chunk: int = BATCH_CHUNK, progress=QUIET) -> pd.DataFrame:
        """Top-``n`` after the rules and feedback for every HCP (or ``hcp_ids``), vectorised over chunks.

        Returns the ``recommendations`` table: hcp_id, rank, content_id, channel, score,
        engagement_probability, bundle_version.
        """
        live = self.state.current()
        return self.score_frame(live, n, self.batch_index(live, hcp_ids), chunk, progress)

    def score_frame(self, live: Live, n: int, idx: np.ndarray, chunk: int = BATCH_CHUNK,
                    progress=QUIET) -> pd.DataFrame:
        """:meth:`score_all` of serving HCPs ``idx`` for the given state."""
        return score_rows(live.serving, live.feedback, n, idx, chunk, progress)


# -- batch scoring and planning: also what each Spark executor runs over its HCPs (engine.service.spark) --
def _inputs(serving: Serving, feedback: FeedbackBook, idx: np.ndarray):
    """Scores and feedback constraints of serving HCPs ``idx``: (score, engagement, excluded, planned)."""
    score, engagement = serving.scores(idx)
    excluded, planned = feedback.constraints(serving.hcp_ids[idx], serving.content_index, serving.snapshot.now)
    return score, engagement, excluded, planned


def score_rows(serving: Serving, feedback: FeedbackBook, n: int, idx: np.ndarray, chunk: int = BATCH_CHUNK,
               progress=QUIET) -> pd.DataFrame:
    """The ``recommendations`` rows (top ``n`` after the rules and feedback) of serving HCPs ``idx``."""
    ids = serving.hcp_ids
    parts = []
    for start in range(0, len(idx), chunk):
        batch = idx[start:start + chunk]
        score, engagement, excluded, planned = _inputs(serving, feedback, batch)
        ruled = serving.rules.apply(batch, score, engagement, excluded=excluded, planned=planned)
        top = ruled.top(n)
        rows, ranks = np.nonzero(top >= 0)
        items = top[rows, ranks]
        parts.append(pd.DataFrame({
            "hcp_id": ids[batch[rows]], "rank": ranks + 1,
            "content_id": serving.content_ids[items],
            "channel": np.asarray(CHANNELS, dtype=object)[ruled.channel[rows, items]],
            "score": ruled.score[rows, items], "engagement_probability": ruled.engagement[rows, items],
        }))
        progress.bar("score", min(start + chunk, len(idx)), len(idx))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["hcp_id", "rank", "content_id", "channel", "score", "engagement_probability"])
    frame["bundle_version"] = serving.version
    return frame


def plan_rows(serving: Serving, feedback: FeedbackBook, day0: pd.Timestamp, horizon_days: int, idx: np.ndarray,
              chunk: int = BATCH_CHUNK, progress=QUIET) -> pd.DataFrame:
    """The plans of serving HCPs ``idx`` from the as-of day ``day0``: one row per step (:data:`PLAN_COLUMNS`)."""
    parts = []
    for start in range(0, len(idx), chunk):
        batch = idx[start:start + chunk]
        score, engagement, excluded, planned = _inputs(serving, feedback, batch)
        parts.append(_plan_frame(serving.planner.plan(batch, score, engagement, excluded, planned,
                                                      horizon_days=horizon_days), batch, serving, day0))
        progress.bar("plan", min(start + chunk, len(idx)), len(idx))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=PLAN_COLUMNS)


def _plan_frame(batch: PlanBatch, idx: np.ndarray, serving: Serving, day0: pd.Timestamp) -> pd.DataFrame:
    """A :class:`PlanBatch` as rows of :data:`PLAN_COLUMNS` (one per step)."""
    rows, steps = np.nonzero(batch.content >= 0)
    return pd.DataFrame({
        "hcp_id": serving.hcp_ids[idx[rows]], "step": steps + 1,
        "date": (day0 + pd.to_timedelta(batch.day[rows, steps], unit="D")).to_numpy(),
        "content_id": serving.content_ids[batch.content[rows, steps]],
        "channel": np.asarray(CHANNELS, dtype=object)[batch.channel[rows, steps]],
        "engagement_probability": batch.engagement[rows, steps], "value": batch.value[rows, steps],
    }, columns=PLAN_COLUMNS)
