"""``NBAService``: the one object the web app talks to.

Per process it holds the serving bundle plus a :class:`DataSnapshot` of the read-mostly tables,
so requests answer from memory; writes (feedback, audit) are short store transactions. Results
are cached (filesystem or Redis) under keys that carry the bundle version and the data
fingerprint, so a reload never serves stale answers. The serving bundle is swapped by one
reference assignment after the new one is loaded and validated; every process follows the
shared version pointer (checked at most every ``check_every_s`` seconds).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import threading
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.config import CHANNELS, Settings, channel_label
from engine.data.store import Store, StoreError
from engine.progress import QUIET
from engine.service.analytics import Analytics
from engine.service.cache import ServiceCache
from engine.service.reasons import ReasonEvidence, ReasonWriter
from engine.service.registry import VersionPointer
from engine.service.rules import RuleBook
from engine.service.search import HcpSearch
from engine.service.snapshot import SNAPSHOT_FORMAT, DataSnapshot, data_fingerprint
from engine.topics.labels import topic_phrases

log = logging.getLogger("engine.service")

FEEDBACK_ACTIONS = ("accept", "dismiss")
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


@dataclass(frozen=True)
class Serving:
    """One bundle version ready to serve over one data snapshot (never mutated once built)."""

    version: str
    bundle: object
    snapshot: DataSnapshot
    rules: RuleBook
    reasons: ReasonWriter
    hcp_index: pd.Series          # hcp_id -> bundle index
    content_ids: np.ndarray       # bundle order
    titles: np.ndarray            # bundle order
    doc_topics: np.ndarray | None  # [n_contents, K] in bundle order, when the bundle has topics
    loaded_at: float

    @classmethod
    def build(cls, bundle, snapshot: DataSnapshot, settings: Settings) -> "Serving":
        """Validate ``bundle`` with a smoke prediction, then precompute the rules for it."""
        content_ids = np.asarray(bundle.content_ids).astype(str)
        hcp_ids = np.asarray(bundle.hcp_ids).astype(str)
        if not len(content_ids) or not len(hcp_ids):
            raise ValueError(f"bundle {bundle.version}: empty catalogue or HCP list")
        smoke = bundle.scorer.score(0)
        engagement = np.asarray(smoke.engagement)
        if engagement.shape != (len(content_ids), len(CHANNELS)) or np.asarray(smoke.score).shape != (len(content_ids),):
            raise ValueError(f"bundle {bundle.version}: scorer shapes {engagement.shape} / "
                             f"{np.asarray(smoke.score).shape} do not match {len(content_ids)} contents")
        if not (np.isfinite(engagement).all() and np.isfinite(smoke.score).all()):
            raise ValueError(f"bundle {bundle.version}: scorer returned non-finite values")

        rules = RuleBook(settings.contact_caps, settings.cap_days).fit(snapshot, hcp_ids, content_ids)
        content_rows = snapshot.content_pos.reindex(content_ids).to_numpy()
        known = ~np.isnan(content_rows)
        titles = np.full(len(content_ids), "", dtype=object)
        areas = np.full(len(content_ids), "", dtype=object)
        titles[known] = snapshot.contents["title"].astype(str).to_numpy()[content_rows[known].astype(int)]
        areas[known] = snapshot.contents["therapeutic_area"].fillna("").astype(str).to_numpy()[
            content_rows[known].astype(int)]

        doc_topics, topic_of, phrases = _content_topics(bundle, len(content_ids))
        # a content without a topic phrase is named by its therapeutic area ("cardiovascular risk")
        phrases = np.where(phrases != "", phrases, np.char.lower(areas.astype(str))).astype(object)
        reasons = ReasonWriter(ReasonEvidence.build(snapshot, content_ids, rules.hcp_rows_, phrases, topic_of))
        return cls(version=str(bundle.version), bundle=bundle, snapshot=snapshot, rules=rules, reasons=reasons,
                   hcp_index=pd.Series(np.arange(len(hcp_ids)), index=hcp_ids), content_ids=content_ids,
                   titles=titles, doc_topics=doc_topics, loaded_at=time.time())


def _optional(bundle, name: str):
    """A bundle component, or None when the bundle has none of that name."""
    return bundle.components.get(name) if hasattr(bundle, "components") else getattr(bundle, name, None)


def _content_topics(bundle, n_contents: int):
    """(doc_topics [n_contents, K] or None, dominant topic per content (-1 unknown), that topic's phrase
    as people say it per content ('' unknown))."""
    topics = _optional(bundle, "topics")
    doc_topics = getattr(topics, "doc_topics_", None) if topics is not None else None
    if doc_topics is None or np.asarray(doc_topics).shape[0] != n_contents:
        return None, np.full(n_contents, -1, dtype=np.int64), np.full(n_contents, "", dtype=object)
    doc_topics = np.asarray(doc_topics, dtype=np.float64)
    dominant = doc_topics.argmax(axis=1)
    phrase_of = _topic_phrases(bundle)
    return doc_topics, dominant, np.array([phrase_of.get(int(k), "") for k in dominant], dtype=object)


def _topic_phrases(bundle) -> dict[int, str]:
    """Topic id -> the topic as people say it (from the bundle's explorer data)."""
    explorer = _optional(bundle, "explorer")
    if explorer is None and _optional(bundle, "topics") is not None:
        explorer = bundle.explorer
    return topic_phrases(explorer or {})


@dataclass(frozen=True)
class TargetIndex:
    """Every HCP's best action for one serving version, sorted best first, ready to filter.

    Built once per (bundle version, data version): a target list is then a few vectorised
    masks over ``frame`` and the first ``n`` rows, never a re-scoring or a join per request.
    """

    version: str
    frame: pd.DataFrame  # TARGET_COLUMNS, engagement_probability descending then hcp_id
    segment_top: dict     # segment -> [{"content_id", "title", "hcps"}] most recommended first

    @classmethod
    def build(cls, best: pd.DataFrame, serving: Serving) -> "TargetIndex":
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
        return cls(version=serving.version, frame=frame, segment_top=segment_top)

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
    """Recommendations, forecasts, analytics and admin operations over one store and bundle set.

    Build it with :meth:`from_settings`. Thread-safe: per request, one read of the serving
    reference; writers replace that reference, never mutate it.
    """

    def __init__(self, settings: Settings, store: Store, cache: ServiceCache, pointer: VersionPointer,
                 snapshot: DataSnapshot, serving: Serving | None):
        self.settings = settings
        self.store = store
        self.cache = cache
        self.pointer = pointer
        self._data = snapshot
        self._serving = serving
        self._started = time.time()
        self._follow_lock = threading.Lock()
        self._admin_lock = threading.Lock()
        self._refused: dict[str, str] = {}
        self._search = HcpSearch(snapshot)
        self._analytics = Analytics(snapshot)
        self._best_actions: tuple[str, pd.DataFrame] | None = None
        self._targets: TargetIndex | None = None
        self._targets_lock = threading.Lock()
        self._top_content: dict = {}
        self._titles_memo: tuple | None = None

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: Settings, check_every_s: float = 0.5) -> "NBAService":
        """Open the store, build (or fetch from the cache) the data snapshot, load the serving bundle.

        The serving bundle is the shared pointer's version when set and loadable, else the
        artifacts' ``current``; with no bundle at all the service still answers everything
        that needs only the store (``recommend``/``forecast`` raise :class:`NoBundleError`).
        """
        store = Store(settings.database_url)
        if store.dialect == "postgresql":  # history lookups by HCP on a large table
            store.execute('CREATE INDEX IF NOT EXISTS interactions_hcp_idx ON interactions (hcp_id)')
        cache = ServiceCache(settings)
        pointer = VersionPointer(store, settings.redis_url, check_every_s=check_every_s)
        snapshot = _load_snapshot(store, settings, cache)
        service = cls(settings, store, cache, pointer, snapshot, None)
        candidates = [pointer.read(), _bundles().current_version(settings.artifacts_dir)]
        for version in dict.fromkeys(v for v in candidates if v):
            try:
                service._serving = service._load(version, snapshot)
                break
            except Exception as exc:  # noqa: BLE001 - try the next candidate, say why
                service._refused[version] = str(exc)
                log.error("bundle %s not loadable (%s)", version, exc)
        return service

    def _load(self, version: str, snapshot: DataSnapshot) -> Serving:
        bundle = _bundles().load_bundle(self.settings.artifacts_dir, version, key=self.settings.bundle_signing_key)
        return Serving.build(bundle, snapshot, self.settings)

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
        """Precompute what the first requests would otherwise wait for (the target index); safe to
        run in a background thread right after start-up. Failures are logged, never raised."""
        try:
            if self._serving is not None:
                self._target_index(self._current())
        except Exception:  # noqa: BLE001 - a warm-up is an optimisation
            log.exception("warm-up failed; the first target list request computes it")

    def _current(self) -> Serving:
        """The serving state for this request, after following the shared pointer if it moved."""
        serving = self._serving
        wanted = self.pointer.poll()
        if wanted and (serving is None or wanted != serving.version) and wanted not in self._refused:
            self._follow(wanted)
            serving = self._serving
        if serving is None:
            raise NoBundleError("no model bundle is loaded: train one with `python -m engine train`")
        return serving

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

    def refresh_data(self) -> dict:
        """Rebuild the data snapshot (after an ingest) and re-fit the rules for the serving bundle."""
        fingerprint = data_fingerprint(self.store)
        if fingerprint == self._data.fingerprint:
            return {"changed": False, "fingerprint": fingerprint}
        snapshot = _load_snapshot(self.store, self.settings, self.cache, fingerprint)
        serving = self._serving
        rebuilt = None if serving is None else Serving.build(serving.bundle, snapshot, self.settings)
        self._search, self._analytics, self._best_actions = HcpSearch(snapshot), Analytics(snapshot), None
        self._targets, self._top_content = None, {}
        self._data, self._serving = snapshot, rebuilt
        return {"changed": True, "fingerprint": fingerprint}

    def _key(self, *parts, serving: Serving | None = None) -> str:
        text = json.dumps(parts, sort_keys=True, default=str)
        digest = hashlib.sha1(text.encode()).hexdigest()[:20]
        version = "" if serving is None else serving.version
        return f"{version}:{self._data.fingerprint}:{digest}"

    # -- HCPs ------------------------------------------------------------------------------
    def search_hcps(self, query: str = "", specialty=None, state=None, sort=None, page: int = 0,
                    page_size: int = 50, filters: dict | None = None, territory=None, segment=None) -> dict:
        """Ranked, filtered, sorted, paged HCP search (see :class:`HcpSearch`)."""
        return self._search.search(query=query, specialty=specialty, state=state, sort=sort, page=page,
                                   page_size=page_size, filters=filters, territory=territory, segment=segment)

    def hcp_profile(self, hcp_id: str) -> dict | None:
        data = self._data
        row = data.hcp_row(hcp_id)
        if row is None:
            return None
        hcp = data.hcps.iloc[row]
        touches, engaged = data.touches[row], data.engaged[row]
        serving = self._serving
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
            "in_model": rules is not None,
            "rules": rules,
            "now": data.now.isoformat(),
        }

    def hcp_history(self, hcp_id: str, limit: int | None = 500) -> list[dict]:
        """Touches of one HCP, newest first: timestamp, content_id, title, channel, outcome, engaged, ...

        Answered from the in-memory snapshot (never the store: one DuckDB file is one process at a time).
        """
        data = self._data
        row = data.hcp_row(hcp_id)
        history = data.history
        if row is None or history is None:
            return []
        at = history.positions(row, limit)
        titles = self._titles
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

    @property
    def _titles(self) -> dict:
        """content_id -> title of the current snapshot (built once per snapshot)."""
        memo = self._titles_memo
        if memo is None or memo[0] is not self._data:
            data = self._data
            memo = (data, {str(k): (None if pd.isna(v) else str(v))
                           for k, v in zip(data.contents["content_id"], data.contents["title"])})
            self._titles_memo = memo
        return memo[1]

    # -- recommendations -------------------------------------------------------------------
    def recommend(self, hcp_id: str, n: int = 10, channels=None, use_cache: bool = True) -> list[dict]:
        """Top-``n`` content for one HCP after the business rules, each with channel, probabilities and reasons.

        Returns
        -------
        list of dict: rank, content_id, title, channel, channel_probabilities {channel: p},
        engagement_probability, score, reasons [str], rule_notes [str], version.
        An HCP the serving model does not know (newer than the bundle) gets ``[]``.

        Raises
        ------
        ValueError : unknown HCP, bad ``n`` or unknown channel names.
        NoBundleError : no bundle loaded.
        """
        serving = self._current()
        hcp_id = str(hcp_id)
        if serving.snapshot.hcp_row(hcp_id) is None:
            raise ValueError(f"unknown HCP {hcp_id!r}")
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer (got {n!r})")
        if channels is not None:
            channels = sorted(set(channels))
            unknown = [c for c in channels if c not in CHANNELS]
            if unknown:
                raise ValueError(f"unknown channel(s) {unknown}; channels are {', '.join(CHANNELS)}")
        key = self._key("recommend", hcp_id, int(n), channels, serving=serving)
        if use_cache:
            cached = self.cache.get(key)
            if cached is not None:
                return cached
        rows = self._recommend(serving, hcp_id, int(n), channels)
        if use_cache:
            self.cache.set(key, rows)
        return rows

    def _recommend(self, serving: Serving, hcp_id: str, n: int, channels) -> list[dict]:
        idx = serving.hcp_index.get(hcp_id)
        if idx is None:
            return []
        idx = int(idx)
        scores = serving.bundle.scorer.score(idx)
        ruled = serving.rules.apply(np.array([idx]), np.asarray(scores.score)[None, :],
                                    np.asarray(scores.engagement)[None, :, :], channels)
        items = ruled.top(n)[0]
        items = items[items >= 0]
        chosen = ruled.channel[0, items]
        reasons = serving.reasons.reasons(idx, items, chosen, getattr(scores, "factors", None) or {})
        rows = []
        for rank, (item, channel) in enumerate(zip(items.tolist(), chosen.tolist()), start=1):
            preferred = int(ruled.preferred[0, item])
            notes = []
            if preferred != channel:
                note = serving.rules.channel_block_note(idx, preferred)
                notes.append(note or f"{CHANNELS[preferred]} not requested; using {CHANNELS[channel]}")
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

    def rule_summary(self, hcp_id: str) -> dict | None:
        """The business rules' state for one HCP (channel consent/caps, excluded items); None if unknown."""
        serving = self._current()
        idx = serving.hcp_index.get(str(hcp_id))
        return None if idx is None else serving.rules.summary(int(idx))

    def score_all(self, n: int = 10, hcp_ids=None, chunk: int = BATCH_CHUNK, progress=QUIET) -> pd.DataFrame:
        """Top-``n`` after the rules for every HCP (or ``hcp_ids``), vectorised over chunks.

        Returns the ``recommendations`` table: hcp_id, rank, content_id, channel, score,
        engagement_probability, bundle_version.
        """
        serving = self._current()
        ids = serving.snapshot.hcps["hcp_id"].astype(str).to_numpy() if hcp_ids is None else \
            np.asarray(hcp_ids).astype(str)
        idx = serving.hcp_index.reindex(ids).dropna().to_numpy().astype(np.int64)
        bundle_ids = serving.hcp_index.index.to_numpy()
        parts = []
        for start in range(0, len(idx), chunk):
            batch = idx[start:start + chunk]
            score, engagement = serving.bundle.scorer.score_batch(batch)
            ruled = serving.rules.apply(batch, score, engagement)
            top = ruled.top(n)
            rows, ranks = np.nonzero(top >= 0)
            items = top[rows, ranks]
            parts.append(pd.DataFrame({
                "hcp_id": bundle_ids[batch[rows]], "rank": ranks + 1,
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
        """The next ``steps`` touchpoints: step, channel, probability, date, date_low, date_high."""
        serving = self._current()
        hcp_id = str(hcp_id)
        if serving.snapshot.hcp_row(hcp_id) is None:
            raise ValueError(f"unknown HCP {hcp_id!r}")
        if not isinstance(steps, (int, np.integer)) or not 1 <= steps <= 50:
            raise ValueError(f"steps must be an integer in 1..50 (got {steps!r})")
        idx = serving.hcp_index.get(hcp_id)
        if idx is None:
            return []

        def compute():
            frame = serving.bundle.forecaster.forecast(int(idx), steps=int(steps), rollouts=50,
                                                       start=serving.snapshot.now)
            return [{
                "step": int(r["step"]), "channel": str(r["channel"]),
                "probability": float(r["channel_probability"]),
                "date": _iso(r["date"]), "date_low": _iso(r["date_low"]), "date_high": _iso(r["date_high"]),
            } for r in frame.to_dict("records")]

        return self.cache.get_or_compute(self._key("forecast", hcp_id, int(steps), serving=serving), compute)

    # -- feedback and audit ----------------------------------------------------------------
    def record_feedback(self, hcp_id: str, content_id: str, channel: str | None, action: str,
                        reason: str | None = None, user: str | None = None) -> None:
        """Store an accept/dismiss of a recommendation, with the serving bundle version.

        Raises
        ------
        ValueError : unknown HCP, content, channel or action.
        """
        data = self._data
        if data.hcp_row(hcp_id) is None:
            raise ValueError(f"feedback: unknown HCP {hcp_id!r}")
        if str(content_id) not in data.content_pos.index:
            raise ValueError(f"feedback: unknown content {content_id!r}")
        if channel is not None and channel not in CHANNELS:
            raise ValueError(f"feedback: unknown channel {channel!r}; channels are {', '.join(CHANNELS)}")
        if action not in FEEDBACK_ACTIONS:
            raise ValueError(f"feedback: action must be one of {', '.join(FEEDBACK_ACTIONS)} (got {action!r})")
        if reason is not None and len(str(reason)) > 1000:
            raise ValueError("feedback: reason is longer than 1000 characters")
        self._append_with_id("feedback", "feedback_id", {
            "hcp_id": str(hcp_id), "content_id": str(content_id), "channel": channel, "action": action,
            "reason": None if reason is None else str(reason), "user_name": user, "bundle_version": self.version,
            "created_at": pd.Timestamp.now(tz="UTC").tz_localize(None),
        })

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
            self._best_actions = self._targets = None
            self.pointer.write(new.version)
            self._audit(user, action, old, new.version, "ok")
            log.info("%s by %s: %s -> %s", action, user, old, new.version)
            return {"ok": True, "action": action, "from": old, "to": new.version, "version": new.version,
                    "result": "ok"}

    # -- analytics ---------------------------------------------------------------------------
    def overview_kpis(self) -> dict:
        kpis = self._analytics.overview_kpis()
        serving = self._serving
        kpis["version"] = None if serving is None else serving.version
        return kpis

    def period_comparison(self, days: int = 30) -> dict:
        """Touches, engagements, engagement rate and HCPs reached over the last ``days`` days of data
        against the ``days`` before (see :meth:`Analytics.period_comparison`)."""
        return self._analytics.period_comparison(days)

    def engagement_trend(self) -> list[dict]:
        return self._analytics.engagement_trend()

    def channel_effectiveness(self, specialty=None, state=None, start=None, end=None) -> list[dict]:
        return self._analytics.channel_effectiveness(specialty=specialty, state=state, start=start, end=end)

    def filter_options(self) -> dict:
        """Distinct specialties, states, segments and territories (for dropdowns)."""
        return self._analytics.filter_options()

    def segments(self) -> list[dict]:
        """Per segment: hcps, touches, engaged, engagement_rate, touches_per_hcp, top_specialty, consent
        share per channel, and ``top_content``: the contents recommended most often as next best action
        in the segment ([{content_id, title, hcps}]; empty while no bundle is loaded)."""
        rows = self._analytics.segments()
        try:
            top = self._target_index(self._current()).segment_top
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
        data = self._data
        key = (data.fingerprint, int(n), int(days))
        memo = self._top_content
        if key not in memo:
            history = data.history
            if history is None or not len(history.timestamp):
                rows = []
            else:
                since = np.datetime64((data.now - pd.Timedelta(days=int(days))).to_datetime64(), "us")
                recent = history.timestamp > since
                size = len(history.content_values)
                touches = np.bincount(history.content[recent], minlength=size)
                engaged = np.bincount(history.content[recent & history.engaged], minlength=size)
                rate = np.divide(engaged, touches, out=np.zeros(size), where=touches > 0)
                ids = history.content_values
                order = [i for i in np.lexsort((ids, -rate, -engaged)) if touches[i] > 0][:int(n)]
                titles = self._titles
                rows = [{"content_id": str(ids[i]), "title": titles.get(str(ids[i])), "touches": int(touches[i]),
                         "engaged": int(engaged[i]), "rate": float(rate[i])} for i in order]
            memo = dict(memo)  # copy-on-write: other threads may be reading the old dict
            memo[key] = rows
            self._top_content = memo
        return [dict(r) for r in memo[key]]

    def _best_action_frame(self, serving: Serving) -> pd.DataFrame:
        """Top-1 action per HCP for the serving version: from batch scoring when it ran, else computed."""
        memo = self._best_actions
        if memo is not None and memo[0] == serving.version:
            return memo[1]

        def compute():
            stored = self.store.query(
                'SELECT hcp_id, content_id, channel, score, engagement_probability FROM recommendations '
                'WHERE bundle_version = ? AND "rank" = 1', [serving.version])
            if not stored.empty:
                return stored
            return self.score_all(n=1).drop(columns=["rank", "bundle_version"])

        frame = self.cache.get_or_compute_once(self._key("best-actions", serving=serving), compute)
        self._best_actions = (serving.version, frame)
        return frame

    def _target_index(self, serving: Serving) -> TargetIndex:
        targets = self._targets
        if targets is not None and targets.version == serving.version:
            return targets
        with self._targets_lock:  # one thread builds it; the others wait for that one
            targets = self._targets
            if targets is None or targets.version != serving.version:
                targets = TargetIndex.build(self._best_action_frame(serving), serving)
                self._targets = targets
        return targets

    def _targets_for(self, segment, specialty, state, channel, min_probability) -> tuple[TargetIndex, np.ndarray]:
        if channel:
            unknown = [c for c in ([channel] if isinstance(channel, str) else list(channel)) if c not in CHANNELS]
            if unknown:
                raise ValueError(f"unknown channel(s) {unknown}; channels are {', '.join(CHANNELS)}")
        if min_probability is not None and not 0 <= float(min_probability) <= 1:
            raise ValueError(f"min_probability must be in 0..1 (got {min_probability!r})")
        targets = self._target_index(self._current())
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
            factors = getattr(serving.bundle.scorer.score(int(idx)), "factors", None) or {}
            out.append(serving.reasons.reasons(int(idx), np.array([item]), np.array([CHANNELS.index(row["channel"])]),
                                               factors)[0])
        return out

    # -- topics and model --------------------------------------------------------------------
    def topic_explorer(self) -> dict:
        """The bundle's topic explorer data (intertopic map, term relevance, word clouds, trends)."""
        serving = self._current()
        bundle = serving.bundle
        if _optional(bundle, "explorer") is None and _optional(bundle, "topics") is None:
            return {}
        return bundle.explorer

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
        serving = self._serving
        try:
            pointer = self.pointer.read()
        except Exception:  # noqa: BLE001
            pointer = None
        status = "ok" if store_ok and serving is not None and cache_ok else ("down" if not store_ok else "degraded")
        return {
            "status": status, "store": store_ok, "store_error": store_error, "store_dialect": self.store.dialect,
            "bundle_loaded": serving is not None, "version": None if serving is None else serving.version,
            "pointer_version": pointer, "cache_backend": self.cache.backend_name, "cache_ok": cache_ok,
            "uptime_s": round(time.time() - self._started, 1), "data_now": self._data.now.isoformat(),
            "data_fingerprint": self._data.fingerprint, "hcps": len(self._data.hcps),
            "contents": len(self._data.contents),
        }

    def close(self) -> None:
        """Stop this process's background pointer reader (tests, short-lived scripts)."""
        self.pointer.stop()

    def cache_status(self) -> dict:
        return {**self.cache.status(), "version": self.version, "data_fingerprint": self._data.fingerprint}


def _require_admin(role, user, action: str) -> None:
    if role != "admin":
        raise PermissionError(f"{action} needs the admin role (user {user!r} has role {role!r})")


def _load_snapshot(store: Store, settings: Settings, cache: ServiceCache, fingerprint: str | None = None):
    """The data snapshot for the stored data: from the shared cache when another worker built it."""
    fingerprint = fingerprint or data_fingerprint(store)
    key = f"snapshot:v{SNAPSHOT_FORMAT}:{fingerprint}:{settings.cap_days}"
    return cache.get_or_compute_once(key, lambda: DataSnapshot.load(store, settings, fingerprint), timeout=0)
