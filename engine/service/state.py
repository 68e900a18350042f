"""The serving state every request reads: one data snapshot, the serving bundle over it, the feedback.

It is immutable: :class:`Live` bundles a :class:`DataView` (the snapshot and what derives from it
alone), a :class:`Serving` (a bundle ready to serve over that snapshot) and a
:class:`~engine.service.feedback.FeedbackBook`. One owner, :class:`engine.service.follower.LiveState`,
builds a new one on every change and swaps it by one reference assignment; the services under
:class:`engine.service.service.NBAService` only read it.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.config import CHANNELS, Settings
from engine.data.store import Store
from engine.rules import RuleBook
from engine.service.analytics import Analytics
from engine.service.cache import ServiceCache
from engine.service.feedback import FeedbackBook
from engine.service.foldin import PeerFoldIn
from engine.service.live import reasoning_day, reasoning_instant
from engine.service.plan import DecoderTiming, Planner
from engine.service.reasons import ReasonEvidence, ReasonWriter
from engine.service.search import HcpSearch
from engine.service.snapshot import SNAPSHOT_FORMAT, DataSnapshot
from engine.topics.labels import topic_phrases

#: lifetime of the large per-version values shared between workers (snapshot, impact): long enough for
#: every worker to pick them up, short enough that superseded data versions leave the cache
SHARED_TTL_S = 24 * 3600


class NoBundleError(RuntimeError):
    """No model bundle is loaded (train one with ``python -m engine train``)."""


def iso(value) -> str | None:
    """A timestamp as ISO text (None for a missing one)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).isoformat()


def bundles():
    """:mod:`engine.bundles`, imported lazily: the service also runs with no model at all."""
    from engine import bundles as module

    return module


def channel_costs(settings: Settings) -> dict[str, float]:
    """λ·cost per channel: what one touch of the channel costs in engagement-probability points."""
    return {c: float(settings.cost_weight) * float(settings.channel_costs.get(c, 0.0)) for c in CHANNELS}


@dataclass(frozen=True)
class Serving:
    """One bundle version ready to serve over one data snapshot (never mutated once built).

    The serving index lists the bundle's HCPs in bundle order, then the store's HCPs the bundle
    does not know (added after training: scored by :class:`PeerFoldIn`).
    """

    version: str
    bundle: object
    snapshot: DataSnapshot
    rules: RuleBook
    planner: Planner
    foldin: PeerFoldIn
    reasons: ReasonWriter
    hcp_index: pd.Series          # hcp_id -> serving index
    hcp_ids: np.ndarray           # serving index -> hcp_id
    n_bundle_hcps: int            # serving indexes below this are the bundle's own rows
    content_ids: np.ndarray       # bundle order
    content_index: pd.Index       # content_id -> bundle index
    titles: np.ndarray            # bundle order
    doc_topics: np.ndarray | None  # [n_contents, K] in bundle order, when the bundle has topics
    loaded_at: float

    @classmethod
    def build(cls, bundle, snapshot: DataSnapshot, settings: Settings) -> "Serving":
        """Validate ``bundle`` with a smoke prediction, then precompute the rules and the planner for it."""
        content_ids = np.asarray(bundle.content_ids).astype(str)
        bundle_hcps = np.asarray(bundle.hcp_ids).astype(str)
        if not len(content_ids) or not len(bundle_hcps):
            raise ValueError(f"bundle {bundle.version}: empty catalogue or HCP list")
        smoke = bundle.scorer.score(0)
        engagement = np.asarray(smoke.engagement)
        if engagement.shape != (len(content_ids), len(CHANNELS)) or np.asarray(smoke.score).shape != (len(content_ids),):
            raise ValueError(f"bundle {bundle.version}: scorer shapes {engagement.shape} / "
                             f"{np.asarray(smoke.score).shape} do not match {len(content_ids)} contents")
        if not (np.isfinite(engagement).all() and np.isfinite(smoke.score).all()):
            raise ValueError(f"bundle {bundle.version}: scorer returned non-finite values")

        stored = snapshot.hcps["hcp_id"].astype(str)
        # a hash lookup: np.isin over object arrays compares every pair (25 s for 40,000 HCPs)
        added = stored[~stored.isin(bundle_hcps)].to_numpy()
        hcp_ids = np.concatenate([bundle_hcps, added])
        rules = RuleBook(settings.contact_caps, settings.cap_days, channel_costs(settings)).fit(
            snapshot, hcp_ids, content_ids)
        timing = DecoderTiming(bundle.forecaster, np.concatenate([np.arange(len(bundle_hcps)),
                                                                  np.full(len(added), -1)]), snapshot.now)
        planner = Planner(rules, timing, settings.plan_horizon_days, settings.plan_max_steps)
        foldin = PeerFoldIn(bundle.scorer, snapshot, rules.hcp_rows_, len(bundle_hcps))

        content_rows = snapshot.content_pos.reindex(content_ids).to_numpy()
        known = ~np.isnan(content_rows)
        titles = np.full(len(content_ids), "", dtype=object)
        areas = np.full(len(content_ids), "", dtype=object)
        titles[known] = snapshot.contents["title"].astype(str).to_numpy()[content_rows[known].astype(int)]
        areas[known] = snapshot.contents["therapeutic_area"].fillna("").astype(str).to_numpy()[
            content_rows[known].astype(int)]

        doc_topics, topic_of, phrase_of = _content_topics(bundle, len(content_ids))
        phrases = np.array([phrase_of.get(int(k), "") for k in topic_of], dtype=object)
        # a content without a topic phrase is named by its therapeutic area ("cardiovascular risk")
        phrases = np.where(phrases != "", phrases, np.char.lower(areas.astype(str))).astype(object)
        reasons = ReasonWriter(ReasonEvidence.build(snapshot, content_ids, rules.hcp_rows_, phrases, topic_of,
                                                    phrase_of))
        return cls(version=str(bundle.version), bundle=bundle, snapshot=snapshot, rules=rules, planner=planner,
                   foldin=foldin, reasons=reasons, hcp_index=pd.Series(np.arange(len(hcp_ids)), index=hcp_ids),
                   hcp_ids=hcp_ids.astype(object),
                   n_bundle_hcps=len(bundle_hcps), content_ids=content_ids, content_index=pd.Index(content_ids),
                   titles=titles, doc_topics=doc_topics, loaded_at=time.time())

    def scores(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(score [n, C], engagement [n, C, K])`` of serving HCPs ``idx``: the bundle's scorer for
        its own HCPs, the peers' fold-in for HCPs added after training."""
        idx = np.asarray(idx, dtype=np.int64)
        own = idx < self.n_bundle_hcps
        if own.all():
            return self.bundle.scorer.score_batch(idx)
        score = np.zeros((len(idx), len(self.content_ids)))
        engagement = np.zeros((len(idx), len(self.content_ids), len(CHANNELS)))
        if own.any():
            score[own], engagement[own] = self.bundle.scorer.score_batch(idx[own])
        for at in np.flatnonzero(~own):
            score[at], engagement[at], _ = self.foldin.scores(int(idx[at]))
        return score, engagement

    def score_one(self, idx: int) -> tuple[np.ndarray, np.ndarray, dict]:
        """``(score [C], engagement [C, K], factors)`` of one serving HCP, with the factors for reasons."""
        if idx < self.n_bundle_hcps:
            scores = self.bundle.scorer.score(int(idx))
            return np.asarray(scores.score), np.asarray(scores.engagement), getattr(scores, "factors", None) or {}
        return self.foldin.scores(int(idx))


def optional_component(bundle, name: str):
    """A bundle component, or None when the bundle has none of that name."""
    return bundle.components.get(name) if hasattr(bundle, "components") else getattr(bundle, name, None)


def _content_topics(bundle, n_contents: int):
    """(doc_topics [n_contents, K] or None, dominant topic per content (-1 unknown), {topic id: the
    topic as people say it})."""
    topics = optional_component(bundle, "topics")
    doc_topics = getattr(topics, "doc_topics_", None) if topics is not None else None
    if doc_topics is None or np.asarray(doc_topics).shape[0] != n_contents:
        return None, np.full(n_contents, -1, dtype=np.int64), {}
    doc_topics = np.asarray(doc_topics, dtype=np.float64)
    return doc_topics, doc_topics.argmax(axis=1), _topic_phrases(bundle)


def _topic_phrases(bundle) -> dict[int, str]:
    """Topic id -> the topic as people say it (from the bundle's explorer data)."""
    return topic_phrases(bundle.explorer if optional_component(bundle, "topics") is not None else {})


@dataclass(frozen=True)
class DataView:
    """One data snapshot and what the service derives from it alone (search, analytics, titles, who is
    who and where), built once per data version and as-of day so requests read plain Python values."""

    snapshot: DataSnapshot
    day: pd.Timestamp              # the as-of day the snapshot reasons at
    search: HcpSearch
    analytics: Analytics
    titles: dict                   # content_id -> title
    territories: dict              # territory -> hcp_ids (object array, in store order)

    @classmethod
    def build(cls, snapshot: DataSnapshot, day: pd.Timestamp) -> "DataView":
        titles = {str(k): (None if pd.isna(v) else str(v))
                  for k, v in zip(snapshot.contents["content_id"], snapshot.contents["title"])}
        search = HcpSearch(snapshot)
        rows = np.arange(len(snapshot.hcps))
        ids = np.array(search.values("hcp_id", rows), dtype=object)
        territory = np.array(search.values("territory", rows), dtype=object)
        territories = {t: ids[territory == t] for t in dict.fromkeys(t for t in territory if t is not None)}
        return cls(snapshot=snapshot, day=pd.Timestamp(day), search=search, analytics=Analytics(snapshot),
                   titles=titles, territories=territories)

    def person(self, hcp_id: str) -> dict:
        """An HCP as a list row shows it: ``{name, specialty, city, state}`` (KeyError for an unknown one)."""
        return self.search.person(int(self.snapshot.hcp_pos[str(hcp_id)]))


@dataclass(frozen=True)
class Live:
    """Everything a request reads, replaced as one reference: data, serving bundle, feedback."""

    data: DataView
    serving: Serving | None
    feedback: FeedbackBook

    @property
    def key(self) -> str:
        """The cache-key prefix of answers computed from this state."""
        version = "" if self.serving is None else self.serving.version
        return (f"{version}:{self.data.snapshot.data_version}:{self.data.day.date().isoformat()}:"
                f"{self.feedback.version}")

    def result_key(self, *parts) -> str:
        """The shared result cache's key of an answer computed from this state with arguments ``parts``."""
        text = json.dumps(parts, sort_keys=True, default=str)
        return f"{self.key}:{hashlib.sha1(text.encode()).hexdigest()[:20]}"


def live_versions(live: Live) -> dict:
    """The store versions a live state serves: ``{"data": ..., "feedback": ...}``."""
    return {"data": live.data.snapshot.data_version, "feedback": live.feedback.version}


def load_data(store: Store, settings: Settings, cache: ServiceCache, data_version: str,
              day: pd.Timestamp | None = None) -> DataView:
    """The data view of ``data_version`` as of ``day`` (default: resolved from the settings); its snapshot
    comes from the shared cache when another worker built it."""
    day = reasoning_day(settings.as_of, store) if day is None else day
    key = f"snapshot:v{SNAPSHOT_FORMAT}:{data_version}:{day.date()}:{settings.cap_days}"
    snapshot = cache.get_or_compute_once(
        key, lambda: DataSnapshot.load(store, settings, data_version, reasoning_instant(day)), timeout=SHARED_TTL_S)
    return DataView.build(snapshot, day)
