"""``NBAService``: the one object the web app talks to.

Per process it holds one :class:`Live` state: the data snapshot of the read-mostly tables (and
what is derived from it), the serving bundle over that snapshot, and the feedback, so requests
answer from memory; writes (feedback, audit) are short store transactions. Every change swaps
that state by one reference assignment, never attribute by attribute:

- an ingest bumps the store's data version; each process's :class:`VersionWatcher` notices
  within ``DATA_CHECK_S`` and rebuilds the snapshot (shared through the cache: one worker builds
  it), then swaps;
- an answer (accept / dismiss) bumps the feedback version: the feedback is re-read and swapped;
- a reload switches the bundle and moves the shared version pointer, which every process follows.

Results are cached (filesystem or Redis) under keys that carry the bundle version, the data and
feedback versions and the as-of day, so no key ever serves a stale answer.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import logging
import math
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.config import CHANNELS, Settings, channel_label
from engine.data.store import Store, StoreError
from engine.progress import QUIET
from engine.service.analytics import Analytics
from engine.service.cache import ServiceCache
from engine.service.feedback import ACTIONS as FEEDBACK_ACTIONS
from engine.service.feedback import FeedbackBook, upsert
from engine.service.foldin import PeerFoldIn
from engine.service.impact import WAVE_DAYS, campaign_impact
from engine.service.live import VersionWatcher, follows_clock, reasoning_day, reasoning_instant
from engine.service.plan import DecoderTiming, PlanBatch, Planner
from engine.service.reasons import ReasonEvidence, ReasonWriter
from engine.service.registry import VersionPointer
from engine.service.rules import RuleBook
from engine.service.search import HcpSearch
from engine.service.snapshot import SNAPSHOT_FORMAT, DataSnapshot
from engine.service.worklist import fill_days
from engine.topics.labels import topic_phrases

log = logging.getLogger("engine.service")

#: HCPs per ``score_batch`` call in batch scoring (bounds memory: chunk x contents x channels floats)
BATCH_CHUNK = 2048
#: a spreadsheet reads a cell as a formula when it starts with = + - @, with tab, CR or LF, or with
#: ; | (a separator of another locale splits ";=cmd|'...'" into a formula cell; | is DDE's pipe) ...
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", ";", "|")
#: ... or when = + - @ follow separators and blanks it splits off or drops
_FORMULA_LEAD = " ,;|\t\r\n"
#: columns of a target-list row (and of its CSV export)
TARGET_COLUMNS = ["hcp_id", "name", "specialty", "state", "city", "segment", "territory", "content_id", "title",
                  "channel", "engagement_probability", "score"]
#: columns of the target-list CSV export (:meth:`NBAService.target_list_csv`)
EXPORT_COLUMNS = ["NPI", "Name", "Specialty", "City", "State", "Territory", "Segment", "Content ID", "Content",
                  "Channel", "Likely to engage (%)", "Why"]
#: columns of :meth:`NBAService.plan_all`
PLAN_COLUMNS = ["hcp_id", "step", "date", "content_id", "channel", "engagement_probability", "value"]
#: lifetime of the large per-version values shared between workers (snapshot, impact): long enough for
#: every worker to pick them up, short enough that superseded data versions leave the cache
SHARED_TTL_S = 24 * 3600
#: HCPs the Overview's simulated campaign impact compares (a seeded sample)
IMPACT_SAMPLE = 2000
#: columns of a territory's week plan export (:meth:`NBAService.week_plan_csv`)
WEEK_PLAN_COLUMNS = ["Date", "Order", "Status", "NPI", "Name", "Specialty", "City", "State", "Content ID", "Content",
                     "Channel", "Likely to engage (%)"]
#: worklist actions listed at most (a day rarely holds more)
WORKLIST_LIMIT = 60
#: recommended contents listed per segment in :meth:`NBAService.segments`
SEGMENT_TOP_CONTENT = 3


class NoBundleError(RuntimeError):
    """No model bundle is loaded (train one with ``python -m engine train``)."""


def csv_safe(value):
    """Neutralise spreadsheet formula injection (:data:`_FORMULA_STARTS`): such text gets a leading quote."""
    if isinstance(value, str) and (value.startswith(_FORMULA_STARTS)
                                   or value.lstrip(_FORMULA_LEAD).startswith(_FORMULA_STARTS[:4])):
        return "'" + value
    return value


def _iso(value) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).isoformat()


def _bundles():
    from engine import bundles  # imported lazily: the service also runs with no model at all

    return bundles


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

        stored = snapshot.hcps["hcp_id"].astype(str).to_numpy()
        added = stored[~np.isin(stored, bundle_hcps)]
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


def _optional(bundle, name: str):
    """A bundle component, or None when the bundle has none of that name."""
    return bundle.components.get(name) if hasattr(bundle, "components") else getattr(bundle, name, None)


def _content_topics(bundle, n_contents: int):
    """(doc_topics [n_contents, K] or None, dominant topic per content (-1 unknown), {topic id: the
    topic as people say it})."""
    topics = _optional(bundle, "topics")
    doc_topics = getattr(topics, "doc_topics_", None) if topics is not None else None
    if doc_topics is None or np.asarray(doc_topics).shape[0] != n_contents:
        return None, np.full(n_contents, -1, dtype=np.int64), {}
    doc_topics = np.asarray(doc_topics, dtype=np.float64)
    return doc_topics, doc_topics.argmax(axis=1), _topic_phrases(bundle)


def _topic_phrases(bundle) -> dict[int, str]:
    """Topic id -> the topic as people say it (from the bundle's explorer data)."""
    explorer = _optional(bundle, "explorer")
    if explorer is None and _optional(bundle, "topics") is not None:
        explorer = bundle.explorer
    return topic_phrases(explorer or {})


@dataclass(frozen=True)
class DataView:
    """One data snapshot and what the service derives from it alone (search, analytics, titles)."""

    snapshot: DataSnapshot
    day: pd.Timestamp              # the as-of day the snapshot reasons at
    search: HcpSearch
    analytics: Analytics
    titles: dict                   # content_id -> title
    memo: dict = field(default_factory=dict)  # per-snapshot results (top content), filled on demand

    @classmethod
    def build(cls, snapshot: DataSnapshot, day: pd.Timestamp) -> "DataView":
        titles = {str(k): (None if pd.isna(v) else str(v))
                  for k, v in zip(snapshot.contents["content_id"], snapshot.contents["title"])}
        return cls(snapshot=snapshot, day=pd.Timestamp(day), search=HcpSearch(snapshot),
                   analytics=Analytics(snapshot), titles=titles)


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


@dataclass(frozen=True)
class TargetIndex:
    """Every HCP's best action for one live state, sorted best first, ready to filter.

    Built once per (bundle version, data version, feedback version): a target list is then a few
    vectorised masks over ``frame`` and the first ``n`` rows, never a re-scoring or a join per request.
    """

    key: str
    frame: pd.DataFrame  # TARGET_COLUMNS, engagement_probability descending then hcp_id
    segment_top: dict     # segment -> [{"content_id", "title", "hcps"}] most recommended first

    @classmethod
    def build(cls, best: pd.DataFrame, serving: Serving, key: str) -> "TargetIndex":
        hcps = serving.snapshot.hcps
        first = hcps["first_name"].astype(object).where(hcps["first_name"].notna(), "").astype(str)
        last = hcps["last_name"].astype(object).where(hcps["last_name"].notna(), "").astype(str)
        people = pd.DataFrame({"hcp_id": hcps["hcp_id"].astype(str).to_numpy(dtype=object),
                               "name": (first + " " + last).str.strip().to_numpy(dtype=object)})
        for column in ("specialty", "state", "city", "segment", "territory"):
            people[column] = hcps[column].astype(object).where(hcps[column].notna(), None).to_numpy(dtype=object)
        best = best.assign(hcp_id=best["hcp_id"].astype(str).to_numpy(dtype=object),
                           content_id=best["content_id"].astype(str).to_numpy(dtype=object),
                           channel=best["channel"].astype(str).to_numpy(dtype=object))
        titles = dict(zip(serving.content_ids, serving.titles))
        frame = people.merge(best[["hcp_id", "content_id", "channel", "engagement_probability", "score"]],
                             on="hcp_id", how="inner")
        frame["title"] = frame["content_id"].map(titles).fillna("").to_numpy(dtype=object)
        frame["engagement_probability"] = frame["engagement_probability"].astype(np.float64)
        frame["score"] = frame["score"].astype(np.float64)
        frame = frame.sort_values(["engagement_probability", "hcp_id"], ascending=[False, True],
                                  kind="stable").reset_index(drop=True)[TARGET_COLUMNS]
        segment_top = {}
        segments = frame["segment"].fillna("Unassigned")
        for name, group in frame.groupby(segments.to_numpy(), sort=True):
            counts = group["content_id"].value_counts()
            counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
            segment_top[str(name)] = [{"content_id": cid, "title": titles.get(cid, ""), "hcps": int(k)}
                                      for cid, k in counts.head(SEGMENT_TOP_CONTENT).items()]
        return cls(key=key, frame=frame, segment_top=segment_top)

    def select(self, segment=None, specialty=None, state=None, channel=None, min_probability=None) -> np.ndarray:
        """Row positions (best first) matching every given filter (str or list for the text ones)."""
        frame = self.frame
        mask = np.ones(len(frame), dtype=bool)
        for column, wanted in (("segment", segment), ("specialty", specialty), ("state", state),
                               ("channel", channel)):
            if wanted:
                values = [wanted] if isinstance(wanted, str) else list(wanted)
                mask &= frame[column].isin(values).to_numpy()
        if min_probability:
            mask &= frame["engagement_probability"].to_numpy() >= float(min_probability)
        return np.flatnonzero(mask)

    def rows(self, positions: np.ndarray) -> list[dict]:
        return [{**r, "engagement_probability": float(r["engagement_probability"]), "score": float(r["score"])}
                for r in self.frame.iloc[positions].to_dict("records")]


class NBAService:
    """Recommendations, plans, forecasts, analytics and admin operations over one store and bundle set.

    Build it with :meth:`from_settings`. Thread-safe: a request reads the :class:`Live` reference
    once; writers build a new one and replace it (one assignment), never mutate it.
    """

    def __init__(self, settings: Settings, store: Store, cache: ServiceCache, pointer: VersionPointer, live: Live,
                 check_every_s: float = 0.5):
        self.settings = settings
        self.store = store
        self.cache = cache
        self.pointer = pointer
        self._live = live
        self._started = time.time()
        self._follow_lock = threading.Lock()
        self._admin_lock = threading.Lock()
        self._swap_lock = threading.RLock()
        self._refused: dict[str, str] = {}
        self._targets: TargetIndex | None = None
        self._targets_lock = threading.Lock()
        self._best_base: tuple[str, pd.DataFrame] | None = None
        data_check = check_every_s if check_every_s <= 0 else settings.data_check_s
        self.watcher = VersionWatcher(store, self._follow_data, check_every_s=data_check,
                                      on_glance=lambda state: self._follow_feedback(state["feedback"]))
        self.watcher.last = {**live_versions(live), "today": pd.Timestamp.now().date().isoformat()}

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: Settings, check_every_s: float = 0.5) -> "NBAService":
        """Open the store, build (or fetch from the cache) the data snapshot, load the serving bundle.

        The serving bundle is the shared pointer's version when set and loadable, else the
        artifacts' ``current``; with no bundle at all the service still answers everything
        that needs only the store (``recommend``/``plan``/``forecast`` raise :class:`NoBundleError`).
        ``check_every_s``: how often the shared pointer is re-read (0: on every request, and the data
        versions too; else the data versions every ``settings.data_check_s``).
        """
        store = Store(settings.database_url)
        if store.dialect == "postgresql":  # history lookups by HCP on a large table
            store.execute('CREATE INDEX IF NOT EXISTS interactions_hcp_idx ON interactions (hcp_id)')
        cache = ServiceCache(settings)
        pointer = VersionPointer(store, settings.redis_url, check_every_s=check_every_s)
        versions = store.versions(mirror=False)
        data = _load_data(store, settings, cache, versions["data"])
        feedback = FeedbackBook.load(store, versions["feedback"], settings.dismiss_days, settings.snooze_days)
        service = cls(settings, store, cache, pointer, Live(data, None, feedback), check_every_s)
        candidates = [pointer.read(), _bundles().current_version(settings.artifacts_dir)]
        for version in dict.fromkeys(v for v in candidates if v):
            try:
                service._serving = service._load(version, data.snapshot)
                break
            except Exception as exc:  # noqa: BLE001 - try the next candidate, say why
                service._refused[version] = str(exc)
                log.error("bundle %s not loadable (%s)", version, exc)
        return service

    def _load(self, version: str, snapshot: DataSnapshot) -> Serving:
        bundle = _bundles().load_bundle(self.settings.artifacts_dir, version, key=self.settings.bundle_signing_key)
        return Serving.build(bundle, snapshot, self.settings)

    # -- the live state ------------------------------------------------------------------
    def _state(self) -> Live:
        """The live state for this request (after the data watcher's check when it runs inline)."""
        self.watcher.poll()
        return self._live

    @property
    def _data(self) -> DataSnapshot:
        return self._state().data.snapshot

    @property
    def _serving(self) -> Serving | None:
        return self._live.serving

    @_serving.setter
    def _serving(self, serving: Serving | None) -> None:
        """Swap the serving bundle (one assignment of the live state); a serving built over an older
        snapshot than the live one is rebuilt over the live one first."""
        with self._swap_lock:
            live = self._live
            if serving is not None and serving.snapshot is not live.data.snapshot:
                serving = Serving.build(serving.bundle, live.data.snapshot, self.settings)
            self._live = dataclasses.replace(live, serving=serving)

    def _follow_data(self, state: dict) -> None:
        """The watcher's callback: rebuild what changed (data, the as-of day, feedback) and swap once."""
        with self._swap_lock:
            live = self._live
            data, serving, feedback = live.data, live.serving, live.feedback
            if state["data"] != data.snapshot.data_version or follows_clock(self.settings.as_of):
                day = reasoning_day(self.settings.as_of, self.store)
                if state["data"] != data.snapshot.data_version or day != data.day:
                    data = _load_data(self.store, self.settings, self.cache, state["data"], day)
                    serving = None if serving is None else Serving.build(serving.bundle, data.snapshot, self.settings)
                    log.info("serving data version %s as of %s", state["data"], day.date())
            if state["feedback"] != feedback.version:
                feedback = FeedbackBook.load(self.store, state["feedback"], self.settings.dismiss_days,
                                                 self.settings.snooze_days)
            if (data, serving, feedback) != (live.data, live.serving, live.feedback):
                self._live = Live(data, serving, feedback)  # the swap: one reference assignment

    def _follow_feedback(self, version: str) -> None:
        """Read the feedback of ``version`` back and swap it in (data and bundle unchanged)."""
        with self._swap_lock:
            live = self._live
            if version != live.feedback.version:
                self._live = dataclasses.replace(
                    live, feedback=FeedbackBook.load(self.store, version, self.settings.dismiss_days,
                                                             self.settings.snooze_days))

    def refresh_data(self) -> dict:
        """Check the store's versions now and switch to new data or feedback at once (the watcher
        does this in the background every ``DATA_CHECK_S``); returns the versions served."""
        before = self._live
        self.watcher.check()
        after = self._live
        return {"changed": after is not before, **live_versions(after)}

    # -- version following ---------------------------------------------------------------
    @property
    def version(self) -> str | None:
        """The bundle version this process serves (None when no bundle is loaded)."""
        serving = self._serving
        return None if serving is None else serving.version

    def current_version(self) -> str | None:
        """The version this process serves after following the shared pointer (cheap: a string
        comparison unless another worker switched versions); None when no bundle is loaded."""
        try:
            return self._current().version
        except NoBundleError:
            return None

    def warm(self) -> None:
        """Precompute what the first requests would otherwise wait for (the target index behind target
        lists and worklists, the Overview's simulated impact: seconds on a full-size world, shared by the
        workers through the cache); safe to run in a background thread right after start-up. Failures
        are logged, never raised."""
        if self._serving is None:
            return
        for what, compute in (("target index", lambda: self._target_index(self._current_live())),
                              ("campaign impact", self.campaign_impact)):
            try:
                compute()
            except Exception:  # noqa: BLE001 - a warm-up is an optimisation
                log.exception("warm-up of the %s failed; the first request that needs it computes it", what)

    def _current(self) -> Serving:
        """The serving state for this request, after following the shared pointer if it moved."""
        return self._current_live().serving

    def _current_live(self) -> Live:
        """The live state for this request with a serving bundle, after following the shared pointer."""
        live = self._state()
        serving = live.serving
        wanted = self.pointer.poll()
        if wanted and (serving is None or wanted != serving.version) and wanted not in self._refused:
            self._follow(wanted)
            live = self._live
        if live.serving is None:
            raise NoBundleError("no model bundle is loaded: train one with `python -m engine train`")
        return live
    def _follow(self, version: str) -> None:
        # one thread loads; the others keep answering from the current version meanwhile
        if not self._follow_lock.acquire(blocking=False):
            return
        try:
            serving = self._serving
            if serving is not None and serving.version == version:
                return
            try:
                self._serving = self._load(version, self._data)
                log.info("following the shared pointer: now serving %s", version)
            except Exception as exc:  # noqa: BLE001 - keep serving what we have
                self._refused[version] = str(exc)
                log.error("shared pointer names %s but it does not load (%s); still serving %s",
                          version, exc, None if serving is None else serving.version)
        finally:
            self._follow_lock.release()


    def _key(self, live: Live, *parts) -> str:
        text = json.dumps(parts, sort_keys=True, default=str)
        return f"{live.key}:{hashlib.sha1(text.encode()).hexdigest()[:20]}"

    # -- HCPs ------------------------------------------------------------------------------
    def search_hcps(self, query: str = "", specialty=None, state=None, sort=None, page: int = 0,
                    page_size: int = 50, filters: dict | None = None, territory=None, segment=None) -> dict:
        """Ranked, filtered, sorted, paged HCP search (see :class:`HcpSearch`)."""
        return self._state().data.search.search(query=query, specialty=specialty, state=state, sort=sort, page=page,
                                                page_size=page_size, filters=filters, territory=territory,
                                                segment=segment)

    def as_of(self) -> str:
        """The day rules and plans reason at (ISO date): shown on every page."""
        return self._state().data.day.date().isoformat()

    def hcp_profile(self, hcp_id: str) -> dict | None:
        live = self._state()
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
            "first_touch": _iso(data.first_touch[row]), "last_touch": _iso(data.last_touch[row]),
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
        view = self._state().data
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

    # -- recommendations and plans -------------------------------------------------------------
    def _serving_index(self, live: Live, hcp_id: str) -> int:
        """The serving index of a stored HCP (ValueError naming an unknown one)."""
        hcp_id = str(hcp_id)
        idx = live.serving.hcp_index.get(hcp_id)
        if live.data.snapshot.hcp_row(hcp_id) is None or idx is None:
            raise ValueError(f"unknown HCP {hcp_id!r}")
        return int(idx)

    def _check_channels(self, channels):
        if channels is None:
            return None
        channels = sorted(set(channels))
        unknown = [c for c in channels if c not in CHANNELS]
        if unknown:
            raise ValueError(f"unknown channel(s) {unknown}; channels are {', '.join(CHANNELS)}")
        return channels

    def recommend(self, hcp_id: str, n: int = 10, channels=None, use_cache: bool = True) -> list[dict]:
        """Top-``n`` content for one HCP after the business rules and feedback, each with channel,
        probabilities and reasons: what to send today (the as-of day).

        Returns
        -------
        list of dict: rank, content_id, title, channel, channel_probabilities {channel: p},
        engagement_probability, score (the value: engagement minus λ·cost), reasons [str],
        rule_notes [str], version. Rank 1 is step 1 of :meth:`plan`.

        Raises
        ------
        ValueError : unknown HCP, bad ``n`` or unknown channel names.
        NoBundleError : no bundle loaded.
        """
        live = self._current_live()
        idx = self._serving_index(live, hcp_id)
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer (got {n!r})")
        channels = self._check_channels(channels)
        key = self._key(live, "recommend", str(hcp_id), int(n), channels)
        if use_cache:
            cached = self.cache.get(key)
            if cached is not None:
                return cached
        rows = self._recommend(live, idx, int(n), channels)
        if use_cache:
            self.cache.set(key, rows)
        return rows

    def _inputs(self, live: Live, idx: np.ndarray):
        """Scores and feedback constraints of serving HCPs ``idx``: (score, engagement, excluded, planned)."""
        serving = live.serving
        score, engagement = serving.scores(idx)
        excluded, planned = live.feedback.constraints(serving.hcp_ids[idx], serving.content_index,
                                                      serving.snapshot.now)
        return score, engagement, excluded, planned

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
            notes = []
            if preferred != channel:
                note = serving.rules.channel_block_note(idx, preferred, int(planned_now[preferred]))
                if note is None and channels is not None and CHANNELS[preferred] not in channels:
                    note = f"{channel_label(CHANNELS[preferred])} not requested; using {channel_label(CHANNELS[channel])}"
                notes.append(note or serving.rules.cost_note(channel, preferred, engagement[item, channel],
                                                             engagement[item, preferred]))
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
                "rule_notes": notes,
                "version": serving.version,
            })
        return rows

    def plan(self, hcp_id: str, horizon_days: int | None = None, use_cache: bool = True) -> dict:
        """One HCP's dated plan from the as-of day over ``horizon_days`` (default ``PLAN_HORIZON_DAYS``).

        Returns
        -------
        dict: hcp_id, as_of, horizon_days, version, ``steps`` [{step, date, day, content_id, title,
        channel, engagement_probability, value, reasons, rule_notes}] (step 1 is today's top
        recommendation, later dates from the LSTM's gaps) and ``accepted`` [{date, content_id, title,
        channel}]: touches already accepted, planned from the as-of day on (they count toward caps).

        Raises
        ------
        ValueError : unknown HCP or a horizon outside 0..365 days.
        NoBundleError : no bundle loaded.
        """
        live = self._current_live()
        idx = self._serving_index(live, hcp_id)
        horizon = self.settings.plan_horizon_days if horizon_days is None else horizon_days
        if not isinstance(horizon, (int, np.integer)) or not 0 <= horizon <= 365:
            raise ValueError(f"horizon_days must be an integer in 0..365 (got {horizon_days!r})")
        key = self._key(live, "plan", str(hcp_id), int(horizon))
        if use_cache:
            cached = self.cache.get(key)
            if cached is not None:
                return cached
        result = self._plan(live, idx, int(horizon))
        if use_cache:
            self.cache.set(key, result)
        return result

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
            notes = []
            if preferred != channel:
                if not (rules.consent_[idx, preferred] and rules.in_use_[preferred]):
                    notes.append(rules.channel_block_note(idx, preferred))
                elif values[item, preferred] > batch.value[0, s]:  # worth more, yet not chosen: its cap was full
                    notes.append(f"{channel_label(CHANNELS[preferred])} capped on this day: at most "
                                 f"{int(rules.cap_limits_[preferred])} touches in {rules.cap_days} days")
                else:
                    notes.append(rules.cost_note(channel, preferred, engagement[item, channel],
                                                 engagement[item, preferred]))
            steps.append({
                "step": s + 1, "date": (day0 + pd.Timedelta(days=day)).date().isoformat(), "day": day,
                "content_id": str(serving.content_ids[item]), "title": str(serving.titles[item]),
                "channel": CHANNELS[channel], "engagement_probability": float(batch.engagement[0, s]),
                "value": float(batch.value[0, s]), "reasons": reasons[s], "rule_notes": notes,
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

    def plan_all(self, hcp_ids=None, horizon_days: int | None = None, chunk: int = BATCH_CHUNK,
                 progress=QUIET) -> pd.DataFrame:
        """Every HCP's plan (or ``hcp_ids``'), vectorised over chunks: one row per step (:data:`PLAN_COLUMNS`)."""
        return self._plan_frame_for(self._current_live(), hcp_ids, horizon_days, chunk, progress)

    def _plan_frame_for(self, live: Live, hcp_ids=None, horizon_days: int | None = None, chunk: int = BATCH_CHUNK,
                        progress=QUIET) -> pd.DataFrame:
        serving = live.serving
        horizon = self.settings.plan_horizon_days if horizon_days is None else int(horizon_days)
        idx = self._batch_index(live, hcp_ids)
        parts = []
        for start in range(0, len(idx), chunk):
            batch = idx[start:start + chunk]
            score, engagement, excluded, planned = self._inputs(live, batch)
            parts.append(_plan_frame(serving.planner.plan(batch, score, engagement, excluded, planned,
                                                          horizon_days=horizon), batch, serving, live.data.day))
            progress.bar("plan", min(start + chunk, len(idx)), len(idx))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=PLAN_COLUMNS)

    def _batch_index(self, live: Live, hcp_ids) -> np.ndarray:
        serving = live.serving
        ids = live.data.snapshot.hcps["hcp_id"].astype(str).to_numpy() if hcp_ids is None else \
            np.asarray(hcp_ids).astype(str)
        return serving.hcp_index.reindex(ids).dropna().to_numpy().astype(np.int64)

    def rule_summary(self, hcp_id: str) -> dict | None:
        """The business rules' state for one HCP (channel consent/caps, excluded items); None if unknown."""
        serving = self._current()
        idx = serving.hcp_index.get(str(hcp_id))
        return None if idx is None else serving.rules.summary(int(idx))

    def score_all(self, n: int = 10, hcp_ids=None, chunk: int = BATCH_CHUNK, progress=QUIET) -> pd.DataFrame:
        """Top-``n`` after the rules and feedback for every HCP (or ``hcp_ids``), vectorised over chunks.

        Returns the ``recommendations`` table: hcp_id, rank, content_id, channel, score,
        engagement_probability, bundle_version.
        """
        live = self._current_live()
        return self._score_all(live, n, self._batch_index(live, hcp_ids), chunk, progress)

    def _score_all(self, live: Live, n: int, idx: np.ndarray, chunk: int = BATCH_CHUNK,
                   progress=QUIET) -> pd.DataFrame:
        serving = live.serving
        ids = serving.hcp_ids
        parts = []
        for start in range(0, len(idx), chunk):
            batch = idx[start:start + chunk]
            score, engagement, excluded, planned = self._inputs(live, batch)
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

    def forecast(self, hcp_id: str, steps: int = 5) -> list[dict]:
        """What the history predicts: the next ``steps`` touchpoints as the LSTM rolls them out from the
        HCP's past alone (no rules, no plan): step, channel, probability, date, date_low, date_high.
        An HCP added after training has no history in the bundle: ``[]``."""
        live = self._current_live()
        idx = self._serving_index(live, hcp_id)
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
                "date": _iso(r["date"]), "date_low": _iso(r["date_low"]), "date_high": _iso(r["date_high"]),
            } for r in frame.to_dict("records")]

        return self.cache.get_or_compute(self._key(live, "forecast", str(hcp_id), int(steps)), compute)

    # -- feedback and audit ----------------------------------------------------------------
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
        live = self._state()
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
            "reason": None if reason is None else str(reason), "user_name": user, "bundle_version": self.version,
            "created_at": pd.Timestamp.now(tz="UTC").tz_localize(None), "as_of": reasoning_instant(day),
            "planned_at": None if planned is None else reasoning_instant(planned),
        })
        self._follow_feedback(self.store.versions()["feedback"])  # this worker answers with it at once
        return next(r for r in self.feedback_items(hcp_id) if r["content_id"] == str(content_id)
                    and r["channel"] == channel)

    def feedback_items(self, hcp_id: str) -> list[dict]:
        """Every answered item of one HCP, newest first: content_id, title, channel, action, state
        (``planned`` / ``done`` for accepts, ``resting`` / ``rest over`` for dismissals, ``snoozed`` /
        ``snooze over`` for snoozes), planned_for,
        rests_until, reason, user_name, answered_at."""
        live = self._state()
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
                "answered_at": _iso(r["created_at"]),
            })
        return rows

    def feedback_report(self, user: str | None = None, role: str | None = None) -> dict:
        """Acceptance by channel and content, and dismissal reasons (brand managers and admins only).

        Raises
        ------
        PermissionError : ``role`` is neither ``admin`` nor ``brand_manager``.
        """
        if role not in ("admin", "brand_manager"):
            raise PermissionError(f"the feedback report needs the admin or brand_manager role "
                                  f"(user {user!r} has role {role!r})")
        live = self._state()
        return live.feedback.report(live.data.titles)

    def _append_with_id(self, table: str, id_column: str, row: dict) -> None:
        # next_id then insert: a concurrent writer in another process may take the same id first
        # (primary key violation, rolled back), so try again with a fresh id
        for attempt in range(10):
            try:
                self.store.append(table, pd.DataFrame([{id_column: self.store.next_id(table, id_column), **row}]))
                return
            except StoreError:
                if attempt == 9:
                    raise
                time.sleep(0.01 * (attempt + 1))

    def _audit(self, user, action: str, from_version, to_version, result: str, detail: str | None = None) -> None:
        self._append_with_id("audit_log", "audit_id", {
            "at": pd.Timestamp.now(tz="UTC").tz_localize(None), "user_name": user, "action": action,
            "from_version": from_version, "to_version": to_version, "result": result[:500], "detail": detail,
        })

    def record_admin_action(self, user: str | None, role: str | None, action: str, to_version: str | None,
                            result: str, detail: str | None = None) -> None:
        """Audit an admin action done outside this service (a retrain from the Admin page); admin only.

        Raises
        ------
        PermissionError : ``role`` is not ``"admin"`` (nothing is written).
        """
        _require_admin(role, user, action)
        self._audit(user, action, self._shared_version(), to_version, result, detail)

    def audit_log(self, limit: int = 100) -> list[dict]:
        frame = self.store.query('SELECT audit_id, "at", user_name, action, from_version, to_version, result, detail '
                                 'FROM audit_log ORDER BY "at" DESC, audit_id DESC LIMIT ?', [int(limit)])
        return [{k: (_iso(v) if k == "at" else (None if v is None or (isinstance(v, float) and math.isnan(v))
                                                   else (int(v) if k == "audit_id" else str(v))))
                 for k, v in r.items()} for r in frame.to_dict("records")]

    # -- admin: reload / rollback ------------------------------------------------------------
    def reload(self, version: str | None = None, user: str | None = None, role: str | None = None) -> dict:
        """Load, validate and switch to ``version`` (None: the artifacts' ``current``); admin only.

        The new bundle is fully loaded and smoke-tested before the switch, which is one reference
        assignment; a failed load leaves the old version serving. Every call is audited.

        Raises
        ------
        PermissionError : ``role`` is not ``"admin"`` (nothing is written).
        """
        _require_admin(role, user, "reload")
        target = version or _bundles().current_version(self.settings.artifacts_dir)
        return self._switch("reload", lambda _shared: (target, "no bundle to load"), user)

    def rollback(self, user: str | None = None, role: str | None = None) -> dict:
        """Switch to the newest version older than the one every worker serves (the shared pointer,
        read now: this worker may not have followed a reload done elsewhere yet); admin only
        (see :meth:`reload`)."""
        _require_admin(role, user, "rollback")

        def older_than_shared(current):
            older = [v for v in sorted(_bundles().list_versions(self.settings.artifacts_dir))
                     if current is None or v < current]
            return older[-1] if older else None, f"no version older than {current}"

        return self._switch("rollback", older_than_shared, user)

    def _shared_version(self) -> str | None:
        """The version every worker is pointed at now (read, not this worker's last poll)."""
        try:
            return self.pointer.read() or self.version
        except Exception as exc:  # noqa: BLE001 - pointer unreadable: this worker's version is the best guess
            log.warning("version pointer unreadable (%s); deciding from this worker's version %s", exc, self.version)
            return self.version

    def _switch(self, action: str, choose, user) -> dict:
        """Switch to the version ``choose(shared version)`` names (``(version or None, why none)``);
        decided, and audited as ``from``, with the shared version."""
        with self._admin_lock:
            old = self._shared_version()
            target, missing = choose(old)
            if not target:
                result = f"refused: {missing}"
                self._audit(user, action, old, None, result)
                return {"ok": False, "action": action, "from": old, "to": None, "version": old, "result": result}
            try:
                new = self._load(target, self._data)
            except Exception as exc:  # noqa: BLE001 - any failure refuses the switch
                result = f"refused: {type(exc).__name__}: {exc}"
                log.error("%s to %s %s", action, target, result)
                self._audit(user, action, old, target, result)
                return {"ok": False, "action": action, "from": old, "to": target, "version": old, "result": result}
            self._serving = new  # the switch: one reference assignment
            self._refused.pop(target, None)
            self._targets = None
            self.pointer.write(new.version)
            self._audit(user, action, old, new.version, "ok")
            log.info("%s by %s: %s -> %s", action, user, old, new.version)
            return {"ok": True, "action": action, "from": old, "to": new.version, "version": new.version,
                    "result": "ok"}

    # -- analytics ---------------------------------------------------------------------------
    def overview_kpis(self) -> dict:
        live = self._state()
        kpis = live.data.analytics.overview_kpis()
        kpis["as_of"] = live.data.day.date().isoformat()
        serving = live.serving
        kpis["version"] = None if serving is None else serving.version
        return kpis

    def period_comparison(self, days: int = 30) -> dict:
        """Touches, engagements, engagement rate and HCPs reached over the last ``days`` days of data
        against the ``days`` before (see :meth:`Analytics.period_comparison`)."""
        return self._state().data.analytics.period_comparison(days)

    def engagement_trend(self) -> list[dict]:
        return self._state().data.analytics.engagement_trend()

    def channel_effectiveness(self, specialty=None, state=None, start=None, end=None) -> list[dict]:
        return self._state().data.analytics.channel_effectiveness(specialty=specialty, state=state, start=start, end=end)

    def filter_options(self) -> dict:
        """Distinct specialties, states, segments and territories (for dropdowns)."""
        return self._state().data.analytics.filter_options()

    def segments(self) -> list[dict]:
        """Per segment: hcps, touches, engaged, engagement_rate, touches_per_hcp, top_specialty, consent
        share per channel, and ``top_content``: the contents recommended most often as next best action
        in the segment ([{content_id, title, hcps}]; empty while no bundle is loaded)."""
        rows = self._state().data.analytics.segments()
        try:
            top = self._target_index(self._current_live()).segment_top
        except NoBundleError:
            top = {}
        return [{**row, "top_content": top.get(row["segment"], [])} for row in rows]

    def top_content(self, n: int = 10, days: int = 91) -> list[dict]:
        """The ``n`` most engaged contents over the last ``days`` days of data, best first.

        Returns
        -------
        list of dict: content_id, title, touches, engaged, rate (ties: higher rate, then content_id).
        """
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer (got {n!r})")
        if not isinstance(days, (int, np.integer)) or days < 1:
            raise ValueError(f"days must be a positive integer (got {days!r})")
        view = self._state().data
        data, memo = view.snapshot, view.memo
        key = ("top-content", int(n), int(days))
        if key not in memo:
            history = data.history
            if history is None or not len(history.timestamp):
                rows = []
            else:
                since = np.datetime64((data.data_end - pd.Timedelta(days=int(days))).to_datetime64(), "us")
                recent = history.timestamp > since
                size = len(history.content_values)
                touches = np.bincount(history.content[recent], minlength=size)
                engaged = np.bincount(history.content[recent & history.engaged], minlength=size)
                rate = np.divide(engaged, touches, out=np.zeros(size), where=touches > 0)
                ids = history.content_values
                order = [i for i in np.lexsort((ids, -rate, -engaged)) if touches[i] > 0][:int(n)]
                rows = [{"content_id": str(ids[i]), "title": view.titles.get(str(ids[i])), "touches": int(touches[i]),
                         "engaged": int(engaged[i]), "rate": float(rate[i])} for i in order]
            memo[key] = rows  # one key set: safe for concurrent readers
        return [dict(r) for r in memo[key]]

    def campaign_impact(self, sample: int | None = IMPACT_SAMPLE, wave_days: int = WAVE_DAYS) -> dict | None:
        """Simulated impact of following the plans for one wave against the brand's own policy, scored
        with the synthetic world's true engagement probabilities (see :mod:`engine.service.impact`).

        ``sample``: HCPs compared (a seeded sample; None: all). None when the store is not a
        synthetic world (no ``<ARTIFACTS_DIR>/world/truth.npz``). Computed once per bundle, data
        version and as-of day, shared through the cache.
        """
        live = self._current_live()
        if not (self.settings.artifacts_dir / "world" / "truth.npz").exists():
            return None
        base = f"{live.serving.version}:{live.data.snapshot.data_version}:{live.data.day.date()}"

        def compute():
            from engine.models.data import load_oracle  # the oracle is only needed here (and is large)

            hcps = live.data.snapshot.hcps
            if sample is not None and sample < len(hcps):
                hcps = hcps.iloc[np.sort(np.random.default_rng(0).choice(len(hcps), sample, replace=False))]
            plans = self._plan_frame_for(live, hcps["hcp_id"].astype(str).to_numpy())
            return campaign_impact(load_oracle(self.settings.artifacts_dir), plans, hcps, live.data.day, wave_days,
                                   costs=channel_costs(self.settings))

        return self.cache.get_or_compute_once(f"{base}:impact:{sample}:{wave_days}", compute, timeout=SHARED_TTL_S)

    def _best_action_frame(self, live: Live) -> pd.DataFrame:
        """Top-1 action per HCP for the live state: the whole population once per (bundle, data)
        version (shared through the cache), then the HCPs with feedback re-scored with it."""
        serving = live.serving
        base_key = f"{serving.version}:{live.data.snapshot.data_version}:{live.data.day.date()}:best-actions"
        memo = self._best_base
        if memo is None or memo[0] != base_key:
            plain = dataclasses.replace(live, feedback=FeedbackBook.empty(self.settings.dismiss_days,
                                                                               self.settings.snooze_days))
            everyone = self._batch_index(live, None)
            frame = self.cache.get_or_compute_once(
                base_key, lambda: self._score_all(plain, 1, everyone).drop(columns=["rank", "bundle_version"]))
            self._best_base = memo = (base_key, frame)
        base = memo[1]
        answered = live.feedback.hcp_ids()
        if not len(answered):
            return base
        patched = self._score_all(live, 1, self._batch_index(live, answered)).drop(columns=["rank", "bundle_version"])
        return pd.concat([base[~base["hcp_id"].astype(str).isin(set(answered))], patched], ignore_index=True)

    def _target_index(self, live: Live) -> TargetIndex:
        targets = self._targets
        if targets is not None and targets.key == live.key:
            return targets
        with self._targets_lock:  # one thread builds it; the others wait for that one
            targets = self._targets
            if targets is None or targets.key != live.key:
                targets = TargetIndex.build(self._best_action_frame(live), live.serving, live.key)
                self._targets = targets
        return targets

    def _targets_for(self, segment, specialty, state, channel, min_probability) -> tuple[TargetIndex, np.ndarray]:
        if channel:
            unknown = [c for c in ([channel] if isinstance(channel, str) else list(channel)) if c not in CHANNELS]
            if unknown:
                raise ValueError(f"unknown channel(s) {unknown}; channels are {', '.join(CHANNELS)}")
        if min_probability is not None and not 0 <= float(min_probability) <= 1:
            raise ValueError(f"min_probability must be in 0..1 (got {min_probability!r})")
        targets = self._target_index(self._current_live())
        return targets, targets.select(segment, specialty, state, channel, min_probability)

    def target_list(self, segment=None, specialty=None, state=None, n: int = 100, channel=None,
                    min_probability: float | None = None) -> list[dict]:
        """HCPs most likely to engage with their next best action, best first.

        Filters (each optional; text ones take a str or a list): ``segment``, ``specialty``, ``state``,
        ``channel`` (the next best action's channel) and ``min_probability`` (engagement probability
        at least this). Rows: hcp_id, name, specialty, state, city, segment, territory, content_id,
        title, channel, engagement_probability, score.
        """
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer (got {n!r})")
        targets, positions = self._targets_for(segment, specialty, state, channel, min_probability)
        return targets.rows(positions[:int(n)])

    def target_count(self, segment=None, specialty=None, state=None, channel=None,
                     min_probability: float | None = None) -> int:
        """How many HCPs :meth:`target_list` would list with these filters and no limit."""
        return int(len(self._targets_for(segment, specialty, state, channel, min_probability)[1]))

    def target_list_csv(self, segment=None, specialty=None, state=None, n: int = 100, channel=None,
                        min_probability: float | None = None) -> str:
        """:meth:`target_list` as a spreadsheet: :data:`EXPORT_COLUMNS` (channel labels, the engagement
        probability as a whole percentage, the reasons of each row's action), safe to open (no formula
        injection). Reasons take one scoring pass per HCP (about a millisecond each)."""
        rows = self.target_list(segment=segment, specialty=specialty, state=state, n=n, channel=channel,
                                min_probability=min_probability)
        reasons = self._action_reasons(self._current(), rows)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        for row, why in zip(rows, reasons):
            writer.writerow([csv_safe(v) for v in (
                row["hcp_id"], row["name"], row["specialty"], row["city"], row["state"], row["territory"],
                row["segment"], row["content_id"], row["title"], channel_label(row["channel"]),
                round(100 * row["engagement_probability"]), "; ".join(why))])
        return out.getvalue()

    # -- worklist ------------------------------------------------------------------------------
    def worklist(self, territory: str, limit: int = WORKLIST_LIMIT) -> dict:
        """Today's suggested actions for one territory: each HCP's next best action (after the rules and
        the feedback), best value first, as many per channel as a day holds (``WORKLIST_CAPACITY``).

        Touches already accepted for today keep their HCP's place (listed in ``accepted``, counted in
        the capacity); an HCP whose action was dismissed or snoozed gets its next best one.

        Returns
        -------
        dict: territory, as_of, capacity {channel: n}, used {channel: n}, ``actions`` [{rank, hcp_id,
        name, specialty, city, state, content_id, title, channel, engagement_probability, value,
        reasons}] (the first ``limit``), total (actions the day holds), ``accepted`` [{hcp_id, name,
        specialty, city, state, content_id, title, channel, date}].

        Raises
        ------
        ValueError : a territory no HCP is in.
        NoBundleError : no bundle loaded.
        """
        live = self._current_live()
        if not isinstance(limit, (int, np.integer)) or limit < 1:
            raise ValueError(f"limit must be a positive integer (got {limit!r})")
        key = self._key(live, "worklist", str(territory), int(limit), sorted(self.settings.worklist_capacity.items()))
        return self.cache.get_or_compute(key, lambda: self._worklist(live, str(territory), int(limit)))

    def _territory_hcps(self, live: Live, territory: str) -> pd.DataFrame:
        hcps = live.data.snapshot.hcps
        mine = hcps[hcps["territory"].astype(str) == territory]
        if mine.empty:
            raise ValueError(f"no HCP is in territory {territory!r}")
        return mine

    def _accepted_for(self, live: Live, hcp_ids, start: pd.Timestamp, days: int) -> pd.DataFrame:
        """Touches accepted for ``days`` days from ``start`` for these HCPs: hcp_id, content_id, channel, date."""
        latest = live.feedback.latest
        planned = latest["planned_at"].dt.normalize()
        mask = (latest["action"] == "accept") & latest["hcp_id"].isin(set(hcp_ids)) & (planned >= start) & \
            (planned < start + pd.Timedelta(days=days))
        out = latest.loc[mask, ["hcp_id", "content_id", "channel"]].copy()
        out["date"] = planned[mask].dt.date.map(lambda d: d.isoformat()).to_numpy(dtype=object)
        return out.sort_values(["date", "hcp_id", "content_id"], kind="stable").reset_index(drop=True)

    def _worklist(self, live: Live, territory: str, limit: int) -> dict:
        mine = self._territory_hcps(live, territory)
        day = live.data.day
        accepted = self._accepted_for(live, mine["hcp_id"].astype(str), day, 1)
        frame = self._target_index(live).frame
        candidates = frame[(frame["territory"] == territory) & ~frame["hcp_id"].isin(set(accepted["hcp_id"]))]
        kept = fill_days(candidates.assign(value=candidates["score"]), self.settings.worklist_capacity, accepted)
        shown = kept.head(limit).to_dict("records")
        reasons = self._action_reasons(live.serving, shown)
        profiles = mine.set_index(mine["hcp_id"].astype(str))
        titles = live.data.titles

        def who(hcp_id: str) -> dict:
            row = profiles.loc[hcp_id]
            return {"name": " ".join(str(v) for v in (row["first_name"], row["last_name"]) if isinstance(v, str)),
                    **{c: (None if pd.isna(row[c]) else str(row[c])) for c in ("specialty", "city", "state")}}

        used = accepted["channel"].value_counts().to_dict()
        for channel, n in kept["channel"].value_counts().items():
            used[channel] = used.get(channel, 0) + int(n)
        return {
            "territory": territory, "as_of": day.date().isoformat(),
            "capacity": {c: int(n) for c, n in self.settings.worklist_capacity.items()},
            "used": {c: int(used.get(c, 0)) for c in CHANNELS}, "total": int(len(kept)),
            "actions": [{"rank": int(r["rank"]), "hcp_id": r["hcp_id"], "name": r["name"], "specialty": r["specialty"],
                         "city": r["city"], "state": r["state"], "content_id": r["content_id"], "title": r["title"],
                         "channel": r["channel"], "engagement_probability": float(r["engagement_probability"]),
                         "value": float(r["value"]), "reasons": why} for r, why in zip(shown, reasons)],
            "accepted": [{**who(a["hcp_id"]), "hcp_id": a["hcp_id"], "content_id": a["content_id"],
                          "title": titles.get(a["content_id"]), "channel": a["channel"], "date": a["date"]}
                         for a in accepted.to_dict("records")],
        }

    def week_plan(self, territory: str, days: int = 7) -> list[dict]:
        """The territory's plans for ``days`` days from the as-of day, as many per channel and day as a day
        holds, best value first each day, with the touches already accepted for those days first.

        Returns
        -------
        list of dict: date, rank, status (``accepted`` / ``suggested``), hcp_id, name, specialty, city,
        state, content_id, title, channel, engagement_probability (None for accepted touches), value.
        """
        if not isinstance(days, (int, np.integer)) or not 1 <= days <= 31:
            raise ValueError(f"days must be an integer in 1..31 (got {days!r})")
        live = self._current_live()
        mine = self._territory_hcps(live, str(territory))
        ids = mine["hcp_id"].astype(str).to_numpy()
        day = live.data.day
        steps = self._plan_frame_for(live, ids, horizon_days=int(days) - 1)
        steps = steps.assign(date=pd.to_datetime(steps["date"]).dt.date.map(lambda d: d.isoformat()))
        accepted = self._accepted_for(live, ids, day, int(days))
        kept = fill_days(steps, self.settings.worklist_capacity, accepted)
        people = mine.set_index(mine["hcp_id"].astype(str))
        titles = live.data.titles
        rows = [{"date": a["date"], "status": "accepted", "hcp_id": a["hcp_id"], "content_id": a["content_id"],
                 "channel": a["channel"], "engagement_probability": None, "value": None}
                for a in accepted.to_dict("records")]
        rows += [{"date": r["date"], "status": "suggested", "hcp_id": str(r["hcp_id"]), "content_id": str(r["content_id"]),
                  "channel": str(r["channel"]), "engagement_probability": float(r["engagement_probability"]),
                  "value": float(r["value"])} for r in kept.to_dict("records")]
        rows.sort(key=lambda r: (r["date"], r["status"] != "accepted", -(r["value"] or 0.0), r["hcp_id"]))
        out, rank = [], {}
        for r in rows:
            person = people.loc[r["hcp_id"]]
            rank[r["date"]] = rank.get(r["date"], 0) + 1
            out.append({**r, "rank": rank[r["date"]], "title": titles.get(r["content_id"]),
                        "name": " ".join(str(v) for v in (person["first_name"], person["last_name"]) if isinstance(v, str)),
                        **{c: (None if pd.isna(person[c]) else str(person[c])) for c in ("specialty", "city", "state")}})
        return out

    def week_plan_csv(self, territory: str, days: int = 7) -> str:
        """:meth:`week_plan` as a spreadsheet (:data:`WEEK_PLAN_COLUMNS`), safe to open (no formula injection)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(WEEK_PLAN_COLUMNS)
        for r in self.week_plan(territory, days):
            likely = "" if r["engagement_probability"] is None else round(100 * r["engagement_probability"])
            writer.writerow([csv_safe(v) for v in (
                r["date"], r["rank"], "Accepted" if r["status"] == "accepted" else "Suggested", r["hcp_id"], r["name"],
                r["specialty"], r["city"], r["state"], r["content_id"], r["title"], channel_label(r["channel"]),
                likely)])
        return out.getvalue()

    @staticmethod
    def _action_reasons(serving: Serving, rows: list[dict]) -> list[list[str]]:
        """The reasons of each row's action (its HCP, content and channel), from the scorer's factors."""
        items = pd.Index(serving.content_ids)
        out = []
        for row in rows:
            idx = serving.hcp_index.get(str(row["hcp_id"]))
            item = items.get_indexer([str(row["content_id"])])[0]
            if idx is None or item < 0:
                out.append([])
                continue
            factors = serving.score_one(int(idx))[2]
            out.append(serving.reasons.reasons(int(idx), np.array([item]), np.array([CHANNELS.index(row["channel"])]),
                                               factors)[0])
        return out

    # -- topics and model --------------------------------------------------------------------
    def topic_explorer(self) -> dict:
        """The bundle's topic explorer data (intertopic map, term relevance, word clouds, trends); each
        topic also has its ``phrase``, the topic as people say it ("heart failure and titration")."""
        serving = self._current()
        bundle = serving.bundle
        if _optional(bundle, "explorer") is None and _optional(bundle, "topics") is None:
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
        data = self._data
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
        serving = self._serving
        if serving is not None:
            item = np.flatnonzero(serving.content_ids == str(content_id))
            if len(item):
                topic = str(serving.reasons.evidence.content_phrases[item[0]] or "")
        approved = bool(data.approved_at(data.now)[int(row)]) if {"approval_start", "approval_end"} <= set(
            data.contents.columns) else True
        return {
            "content_id": str(content_id), "title": text("title"), "abstract": text("abstract"),
            "therapeutic_area": text("therapeutic_area"), "pmid": text("pmid"),
            "publication_date": _iso(record.get("publication_date")), "approval_start": _iso(record.get("approval_start")),
            "approval_end": _iso(record.get("approval_end")), "approved": approved, "topic": topic,
            "touches": int(touches.sum()), "engaged": int(engaged.sum()),
            "rate": float(engaged.sum() / touches.sum()) if touches.sum() else None,
            "channels": [{"channel": c, "touches": int(touches[k]), "engaged": int(engaged[k]),
                          "rate": float(engaged[k] / touches[k]) if touches[k] else None}
                         for k, c in enumerate(CHANNELS)],
        }

    def topic_documents(self, topic_id: int, n: int = 20) -> list[dict]:
        """The ``n`` contents most about ``topic_id``: content_id, title, weight, publication_date, pmid."""
        serving = self._current()
        if serving.doc_topics is None:
            return []
        if not 0 <= int(topic_id) < serving.doc_topics.shape[1]:
            raise ValueError(f"topic_id must be in 0..{serving.doc_topics.shape[1] - 1} (got {topic_id!r})")
        weights = serving.doc_topics[:, int(topic_id)]
        order = np.argsort(-weights, kind="stable")[:int(n)]
        contents = serving.snapshot.contents
        rows = []
        for item in order:
            pos = serving.snapshot.content_pos.get(str(serving.content_ids[item]))
            record = contents.iloc[int(pos)] if pos is not None else None
            rows.append({
                "content_id": str(serving.content_ids[item]), "title": str(serving.titles[item]),
                "weight": float(weights[item]),
                "publication_date": None if record is None else _iso(record["publication_date"]),
                "pmid": None if record is None or pd.isna(record["pmid"]) else str(record["pmid"]),
                "therapeutic_area": None if record is None or pd.isna(record["therapeutic_area"])
                else str(record["therapeutic_area"]),
            })
        return rows

    def model_metrics(self) -> dict:
        """Manifest of the serving bundle: metrics, training curves, topic sweep, parameters."""
        serving = self._current()
        manifest = serving.bundle.manifest or {}
        topics = _optional(serving.bundle, "topics")
        sweep = manifest.get("topic_sweep") or getattr(topics, "sweep_", None) or []
        return {
            "version": serving.version, "created": manifest.get("created"), "protocol": manifest.get("protocol"),
            "metrics": manifest.get("metrics") or {}, "training_curves": manifest.get("training_curves") or {},
            "topic_sweep": sweep, "parameters": manifest.get("parameters") or {},
            "data_fingerprint": manifest.get("data_fingerprint"),
        }

    def versions(self) -> list[dict]:
        """Every bundle, newest first: version, created, metrics summary, current, serving, loadable."""
        bundles = _bundles()
        current = bundles.current_version(self.settings.artifacts_dir)
        serving = self.version
        rows = []
        for version in sorted(bundles.list_versions(self.settings.artifacts_dir), reverse=True):
            manifest_path = self.settings.artifacts_dir / version / "manifest.json"
            try:
                manifest = json.loads(manifest_path.read_text())
            except (OSError, ValueError) as exc:
                manifest = {"error": f"{manifest_path}: {exc}"}
            hybrid = (manifest.get("metrics") or {}).get("models", {}).get("hybrid", {})
            summary = {k: hybrid.get(k) for k in ("ndcg@10", "recall@10", "mrr", "coverage", "channel_accuracy",
                                                  "engagement_auc") if k in hybrid}
            rows.append({"version": version, "created": manifest.get("created"), "protocol": manifest.get("protocol"),
                         "metrics": summary, "current": version == current, "serving": version == serving,
                         "refused": self._refused.get(version), "error": manifest.get("error")})
        return rows

    # -- operations --------------------------------------------------------------------------
    def health(self) -> dict:
        try:
            self.store.query("SELECT 1 AS ok")
            store_ok, store_error = True, None
        except Exception as exc:  # noqa: BLE001 - health reports, never raises
            store_ok, store_error = False, f"{type(exc).__name__}: {exc}"
        cache_ok = self.cache.probe()
        live = self._live
        serving = live.serving
        try:
            pointer = self.pointer.read()
        except Exception:  # noqa: BLE001
            pointer = None
        status = "ok" if store_ok and serving is not None and cache_ok else ("down" if not store_ok else "degraded")
        return {
            "status": status, "store": store_ok, "store_error": store_error, "store_dialect": self.store.dialect,
            "bundle_loaded": serving is not None, "version": None if serving is None else serving.version,
            "pointer_version": pointer, "cache_backend": self.cache.backend_name, "cache_ok": cache_ok,
            "uptime_s": round(time.time() - self._started, 1), "as_of": live.data.day.date().isoformat(),
            "data_end": _iso(live.data.snapshot.data_end), "data_version": live.data.snapshot.data_version,
            "feedback_version": live.feedback.version, "hcps": len(live.data.snapshot.hcps),
            "contents": len(live.data.snapshot.contents),
        }

    def close(self) -> None:
        """Stop this process's background readers (tests, short-lived scripts)."""
        self.pointer.stop()
        self.watcher.stop()

    def cache_status(self) -> dict:
        live = self._state()
        return {**self.cache.status(), "version": self.version, **live_versions(live)}


def _require_admin(role, user, action: str) -> None:
    if role != "admin":
        raise PermissionError(f"{action} needs the admin role (user {user!r} has role {role!r})")


def live_versions(live: Live) -> dict:
    """The store versions a live state serves: ``{"data": ..., "feedback": ...}``."""
    return {"data": live.data.snapshot.data_version, "feedback": live.feedback.version}


def _load_data(store: Store, settings: Settings, cache: ServiceCache, data_version: str,
               day: pd.Timestamp | None = None) -> DataView:
    """The data view of ``data_version`` as of ``day`` (default: resolved from the settings); its snapshot
    comes from the shared cache when another worker built it."""
    day = reasoning_day(settings.as_of, store) if day is None else day
    key = f"snapshot:v{SNAPSHOT_FORMAT}:{data_version}:{day.date()}:{settings.cap_days}"
    snapshot = cache.get_or_compute_once(
        key, lambda: DataSnapshot.load(store, settings, data_version, reasoning_instant(day)), timeout=SHARED_TTL_S)
    return DataView.build(snapshot, day)


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
