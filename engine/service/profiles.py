"""What the app shows about one HCP or one content: search, profile, history, answers, topics.

Answered from the in-memory snapshot of the serving state (never the store: one DuckDB file is one
process at a time), except that an answer (accept / dismiss / snooze) is written to the store.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.config import CHANNELS, Settings
from engine.data.store import Store
from engine.ranking import top_k
from engine.service.feedback import ACTIONS as FEEDBACK_ACTIONS
from engine.service.feedback import upsert
from engine.service.follower import LiveState
from engine.service.live import reasoning_instant
from engine.service.state import iso, optional_component


@dataclass(eq=False)
class Profiles:
    """HCP search and profiles, answers per HCP, contents and topics."""

    settings: Settings
    state: LiveState
    store: Store

    def search_hcps(self, query: str = "", specialty=None, state=None, sort=None, page: int = 0,
                    page_size: int = 50, filters: dict | None = None, territory=None, segment=None) -> dict:
        """Ranked, filtered, sorted, paged HCP search (see :class:`HcpSearch`)."""
        return self.state.read().data.search.search(query=query, specialty=specialty, state=state, sort=sort,
                                                    page=page, page_size=page_size, filters=filters,
                                                    territory=territory, segment=segment)

    def as_of(self) -> str:
        """The day rules and plans reason at (ISO date): shown on every page."""
        return self.state.read().data.day.date().isoformat()

    def hcp_profile(self, hcp_id: str) -> dict | None:
        """One HCP's record, touches and engagement per channel, and the business rules' state for it
        (with the serving bundle every worker follows); None when unknown."""
        live = self.state.read()
        data = live.data.snapshot
        row = data.hcp_row(hcp_id)
        if row is None:
            return None
        hcp = data.hcps.iloc[row]
        touches, engaged = data.touches[row], data.engaged[row]
        serving = live.serving
        rules = None
        if serving is not None and str(hcp_id) in serving.hcp_index.index:
            rules = serving.rules.summary(int(serving.hcp_index[str(hcp_id)]))
        rates = np.divide(engaged, touches, out=np.zeros(len(CHANNELS)), where=touches > 0)
        channels = []
        for k, channel in enumerate(CHANNELS):
            cap = self.settings.contact_caps.get(channel)
            channels.append({
                "channel": channel, "consent": bool(hcp[f"consent_{channel}"]), "touches": int(touches[k]),
                "engaged": int(engaged[k]), "rate": float(rates[k]),
                "touches_in_cap_window": int(data.cap_touches[row, k]), "cap": cap,
                "capped": cap is not None and int(data.cap_touches[row, k]) >= cap,
            })
        name = " ".join(str(v) for v in (hcp["first_name"], hcp["last_name"]) if v is not None and not pd.isna(v))
        return {
            **{col: (None if pd.isna(hcp[col]) else (bool(hcp[col]) if col.startswith("consent_") else str(hcp[col])))
               for col in data.hcps.columns},
            "name": name,
            "touches": int(touches.sum()), "engaged": int(engaged.sum()),
            "engagement_rate": float(engaged.sum() / touches.sum()) if touches.sum() else 0.0,
            "first_touch": iso(data.first_touch[row]), "last_touch": iso(data.last_touch[row]),
            "preferred_channel": CHANNELS[int(np.argmax(rates))] if touches.sum() else None,
            "channels": channels,
            "in_model": serving is not None and int(serving.hcp_index.get(str(hcp_id), -1)) in
            range(serving.n_bundle_hcps),
            "rules": rules,
            "now": data.now.isoformat(),
            "as_of": live.data.day.date().isoformat(),
        }

    def hcp_history(self, hcp_id: str, limit: int | None = 500) -> list[dict]:
        """Touches of one HCP, newest first: timestamp, content_id, title, channel, outcome, engaged, ...

        Answered from the in-memory snapshot (never the store: one DuckDB file is one process at a time).
        """
        view = self.state.read().data
        data = view.snapshot
        row = data.hcp_row(hcp_id)
        history = data.history
        if row is None or history is None:
            return []
        at = history.positions(row, limit)
        titles = view.titles
        stamps = pd.DatetimeIndex(history.timestamp[at])
        rows = []
        for stamp, content, channel, outcome, engaged, dwell, converted, campaign in zip(
                stamps, history.content[at], history.channel[at], history.outcome[at], history.engaged[at],
                history.dwell_seconds[at], history.converted[at], history.campaign[at]):
            content_id = str(history.content_values[content])
            rows.append({
                "timestamp": stamp.isoformat(), "content_id": content_id, "title": titles.get(content_id),
                "channel": str(history.channel_values[channel]), "outcome": str(history.outcome_values[outcome]),
                "engaged": bool(engaged), "dwell_seconds": None if np.isnan(dwell) else float(dwell),
                "converted": None if converted < 0 else bool(converted),
                "campaign_id": None if campaign < 0 else str(history.campaign_values[campaign]),
            })
        return rows

    def record_feedback(self, hcp_id: str, content_id: str, channel: str, action: str,
                        reason: str | None = None, user: str | None = None, planned_for=None) -> dict:
        """Store an accept/dismiss of a recommended item (content on a channel) for one HCP.

        One row per (HCP, content, channel, action): repeating an answer updates that row. An
        accept is a touch planned for ``planned_for`` (a plan step's date; default the as-of day).
        The feedback version moves in the same transaction, so every worker reads it back within
        ``DATA_CHECK_S``; this process at once.

        Returns
        -------
        dict: the item's state (see :meth:`feedback_items`).

        Raises
        ------
        ValueError : unknown HCP, content, channel or action, or a planned day before the as-of day.
        """
        live = self.state.read()
        data = live.data.snapshot
        if data.hcp_row(hcp_id) is None:
            raise ValueError(f"feedback: unknown HCP {hcp_id!r}")
        if str(content_id) not in data.content_pos.index:
            raise ValueError(f"feedback: unknown content {content_id!r}")
        if channel not in CHANNELS:
            raise ValueError(f"feedback: unknown channel {channel!r}; channels are {', '.join(CHANNELS)}")
        if action not in FEEDBACK_ACTIONS:
            raise ValueError(f"feedback: action must be one of {', '.join(FEEDBACK_ACTIONS)} (got {action!r})")
        if reason is not None and len(str(reason)) > 1000:
            raise ValueError("feedback: reason is longer than 1000 characters")
        day = live.data.day
        planned = None
        if action == "accept":
            try:
                planned = day if planned_for is None else pd.Timestamp(planned_for).normalize()
            except ValueError as exc:
                raise ValueError(f"feedback: planned_for {planned_for!r} is not a date") from exc
            if planned < day:
                raise ValueError(f"feedback: planned_for {planned.date()} is before the as-of day {day.date()}")
        upsert(self.store, {
            "hcp_id": str(hcp_id), "content_id": str(content_id), "channel": channel, "action": action,
            "reason": None if reason is None else str(reason), "user_name": user, "bundle_version": self.state.version,
            "created_at": pd.Timestamp.now(tz="UTC").tz_localize(None), "as_of": reasoning_instant(day),
            "planned_at": None if planned is None else reasoning_instant(planned),
        })
        self.state.follow_feedback(self.store.versions()["feedback"])  # this worker answers with it at once
        return next(r for r in self.feedback_items(hcp_id) if r["content_id"] == str(content_id)
                    and r["channel"] == channel)

    def feedback_items(self, hcp_id: str) -> list[dict]:
        """Every answered item of one HCP, newest first: content_id, title, channel, action, state
        (``planned`` / ``done`` for accepts, ``resting`` / ``rest over`` for dismissals, ``snoozed`` /
        ``snooze over`` for snoozes), planned_for,
        rests_until, reason, user_name, answered_at."""
        live = self.state.read()
        day = live.data.day
        rows = []
        for r in live.feedback.for_hcp(str(hcp_id)):
            accepted = r["action"] == "accept"
            planned = None if r["planned_at"] is None else pd.Timestamp(r["planned_at"]).normalize()
            rests = None if r["rests_until"] is None else pd.Timestamp(r["rests_until"])
            if accepted:
                state = "planned" if planned is not None and planned >= day else "done"
            elif r["action"] == "snooze":
                state = "snoozed" if rests is not None and rests > day else "snooze over"
            else:
                state = "resting" if rests is not None and rests > day else "rest over"
            rows.append({
                "content_id": r["content_id"], "title": live.data.titles.get(r["content_id"]), "channel": r["channel"],
                "action": r["action"], "state": state,
                "planned_for": None if planned is None else planned.date().isoformat(),
                "rests_until": None if rests is None else rests.date().isoformat(),
                "reason": r["reason"], "user_name": r["user_name"],
                "answered_at": iso(r["created_at"]),
            })
        return rows

    def topic_explorer(self) -> dict:
        """The bundle's topic explorer data (intertopic map, term relevance, word clouds, trends); each
        topic also has its ``phrase``, the topic as people say it ("heart failure and titration")."""
        serving = self.state.current().serving
        bundle = serving.bundle
        if optional_component(bundle, "topics") is None:
            return {}
        explorer = bundle.explorer
        phrases = serving.reasons.evidence.topic_phrases
        return {**explorer, "topics": [{**t, "phrase": phrases.get(int(t["id"]), "")} for t in explorer.get("topics") or []]}

    def content_detail(self, content_id: str) -> dict | None:
        """One content: its record, its topic as people say it, and how HCPs responded to it.

        Returns
        -------
        dict: content_id, title, abstract, therapeutic_area, pmid, publication_date, approval_start,
        approval_end, approved (on the data's last day), topic (phrase, '' without a topic model),
        touches, engaged, rate, and ``channels`` [{channel, touches, engaged, rate}]; None when unknown.
        """
        live = self.state.read()
        data = live.data.snapshot
        row = data.content_pos.get(str(content_id))
        if row is None:
            return None
        record = data.contents.iloc[int(row)]

        def text(column):
            value = record.get(column)
            return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)

        touches = np.zeros(len(CHANNELS), dtype=np.int64)
        engaged = np.zeros(len(CHANNELS), dtype=np.int64)
        history = data.history
        if history is not None and len(history.content_values):
            code = np.flatnonzero(np.asarray(history.content_values).astype(str) == str(content_id))
            if len(code):
                mine = history.content == code[0]
                channel_of = {str(c): k for k, c in enumerate(history.channel_values)}
                order = np.array([channel_of.get(c, -1) for c in CHANNELS])
                by_code = np.bincount(history.channel[mine], minlength=len(history.channel_values))
                engaged_by_code = np.bincount(history.channel[mine & history.engaged],
                                              minlength=len(history.channel_values))
                touches = np.where(order >= 0, by_code[np.maximum(order, 0)], 0)
                engaged = np.where(order >= 0, engaged_by_code[np.maximum(order, 0)], 0)
        topic = ""
        serving = live.serving
        if serving is not None:
            item = np.flatnonzero(serving.content_ids == str(content_id))
            if len(item):
                topic = str(serving.reasons.evidence.content_phrases[item[0]] or "")
        approved = bool(data.approved_at(data.now)[int(row)])
        return {
            "content_id": str(content_id), "title": text("title"), "abstract": text("abstract"),
            "therapeutic_area": text("therapeutic_area"), "pmid": text("pmid"),
            "publication_date": iso(record.get("publication_date")), "approval_start": iso(record.get("approval_start")),
            "approval_end": iso(record.get("approval_end")), "approved": approved, "topic": topic,
            "touches": int(touches.sum()), "engaged": int(engaged.sum()),
            "rate": float(engaged.sum() / touches.sum()) if touches.sum() else None,
            "channels": [{"channel": c, "touches": int(touches[k]), "engaged": int(engaged[k]),
                          "rate": float(engaged[k] / touches[k]) if touches[k] else None}
                         for k, c in enumerate(CHANNELS)],
        }

    def topic_documents(self, topic_id: int, n: int = 20) -> list[dict]:
        """The ``n`` contents most about ``topic_id``: content_id, title, weight, publication_date, pmid."""
        serving = self.state.current().serving
        if serving.doc_topics is None:
            return []
        if not 0 <= int(topic_id) < serving.doc_topics.shape[1]:
            raise ValueError(f"topic_id must be in 0..{serving.doc_topics.shape[1] - 1} (got {topic_id!r})")
        weights = serving.doc_topics[:, int(topic_id)]
        order = top_k(weights, int(n))
        contents = serving.snapshot.contents
        rows = []
        for item in order:
            pos = serving.snapshot.content_pos.get(str(serving.content_ids[item]))
            record = contents.iloc[int(pos)] if pos is not None else None
            rows.append({
                "content_id": str(serving.content_ids[item]), "title": str(serving.titles[item]),
                "weight": float(weights[item]),
                "publication_date": None if record is None else iso(record["publication_date"]),
                "pmid": None if record is None or pd.isna(record["pmid"]) else str(record["pmid"]),
                "therapeutic_area": None if record is None or pd.isna(record["therapeutic_area"])
                else str(record["therapeutic_area"]),
            })
        return rows
