"""Target lists: every HCP's next best action for one serving state, filtered and exported.

The whole population is scored once per (bundle version, data version, as-of day), shared between
workers through the result cache; answers (feedback) then re-score only the HCPs answered. The
:class:`TargetIndex` built from that is memoised per serving state (:class:`~engine.service.cache.Memo`),
so a target list, a segment's top content or a worklist is a few vectorised masks, never a re-scoring.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.config import Settings, channel_label
from engine.service.cache import Memo, ServiceCache
from engine.service.export import csv_text
from engine.service.feedback import FeedbackBook
from engine.service.follower import LiveState
from engine.service.recommendations import Recommendations, check_channels
from engine.service.state import Live

#: columns of a target-list row (and of its CSV export)
TARGET_COLUMNS = ["hcp_id", "name", "specialty", "state", "city", "segment", "territory", "content_id", "title",
                  "channel", "engagement_probability", "score"]
#: columns of the target-list CSV export (:meth:`Targets.target_list_csv`)
EXPORT_COLUMNS = ["NPI", "Name", "Specialty", "City", "State", "Territory", "Segment", "Content ID", "Content",
                  "Channel", "Likely to engage (%)", "Why"]
#: recommended contents listed per segment in :attr:`TargetIndex.segment_top`
SEGMENT_TOP_CONTENT = 3


@dataclass(frozen=True)
class TargetIndex:
    """Every HCP's best action for one live state, sorted best first, ready to filter.

    Built once per (bundle version, data version, feedback version): a target list is then a few
    vectorised masks over ``frame`` and the first ``n`` rows, never a re-scoring or a join per request.
    """

    key: str
    frame: pd.DataFrame  # TARGET_COLUMNS, engagement_probability descending then hcp_id
    segment_top: dict     # segment -> [{"content_id", "title", "hcps"}] most recommended first
    territory_rows: dict  # territory -> positions in ``frame`` (best first)

    @classmethod
    def build(cls, best: pd.DataFrame, live: Live) -> "TargetIndex":
        """``best``: each HCP's best action (hcp_id, content_id, channel, engagement_probability, score)."""
        search = live.data.search
        rows = live.data.snapshot.hcp_pos.reindex(best["hcp_id"].astype(str)).to_numpy()
        stored = ~np.isnan(rows)
        best, rows = best[stored], rows[stored].astype(np.int64)
        titles = dict(zip(live.serving.content_ids, live.serving.titles))
        content_codes, content_ids = pd.factorize(best["content_id"].astype(str))
        content_ids = [str(c) for c in content_ids]
        # object columns over shared strings (a content id is one string, not one per HCP it is best for)
        columns = {c: search.values(c, rows) for c in ("hcp_id", "name", "specialty", "state", "city", "segment",
                                                      "territory")}
        columns["content_id"] = np.array(content_ids, dtype=object)[content_codes]
        columns["title"] = np.array([titles.get(c, "") for c in content_ids], dtype=object)[content_codes]
        channel_codes, channels = pd.factorize(best["channel"].astype(str))
        columns["channel"] = np.array([str(c) for c in channels], dtype=object)[channel_codes]
        frame = pd.DataFrame({c: pd.Series(np.array(v, dtype=object), dtype=object) for c, v in columns.items()})
        for column in ("engagement_probability", "score"):
            frame[column] = best[column].to_numpy(dtype=np.float64)
        frame = frame.sort_values(["engagement_probability", "hcp_id"], ascending=[False, True],
                                  kind="stable").reset_index(drop=True)[TARGET_COLUMNS]
        segment_top = {}
        segments = frame["segment"].fillna("Unassigned")
        for name, group in frame.groupby(segments.to_numpy(), sort=True):
            counts = group["content_id"].value_counts()
            counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
            segment_top[str(name)] = [{"content_id": cid, "title": titles.get(cid, ""), "hcps": int(k)}
                                      for cid, k in counts.head(SEGMENT_TOP_CONTENT).items()]
        territory_rows = {str(t): rows for t, rows in frame.groupby("territory", sort=False).indices.items()}
        return cls(key=live.key, frame=frame, segment_top=segment_top, territory_rows=territory_rows)

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


@dataclass(eq=False)
class Targets:
    """Target lists over the :class:`TargetIndex` of the serving state."""

    settings: Settings
    state: LiveState
    cache: ServiceCache
    recommendations: Recommendations
    # large values (a row per HCP): the current state's and the one before it
    _best: Memo = field(default_factory=lambda: Memo(maxsize=2), init=False)
    _index: Memo = field(default_factory=lambda: Memo(maxsize=2), init=False)

    def index(self, live: Live) -> TargetIndex:
        """The target index of ``live`` (one thread builds it; the others wait for that one)."""
        return self._index(live.key, lambda: TargetIndex.build(self._best_actions(live), live))

    def _best_actions(self, live: Live) -> pd.DataFrame:
        """Top-1 action per HCP for the live state: the whole population once per (bundle, data)
        version (shared through the cache), then the HCPs with feedback re-scored with it."""
        serving = live.serving
        base_key = f"{serving.version}:{live.data.snapshot.data_version}:{live.data.day.date()}:best-actions"
        score = self.recommendations.score_frame

        def everyone():
            plain = dataclasses.replace(live, feedback=FeedbackBook.empty(self.settings.dismiss_days,
                                                                          self.settings.snooze_days))
            idx = self.recommendations.batch_index(live)
            return self.cache.get_or_compute_once(
                base_key, lambda: score(plain, 1, idx).drop(columns=["rank", "bundle_version"]))

        base = self._best(base_key, everyone)
        answered = live.feedback.hcp_ids()
        if not len(answered):
            return base
        patched = score(live, 1, self.recommendations.batch_index(live, answered)).drop(
            columns=["rank", "bundle_version"])
        return pd.concat([base[~base["hcp_id"].astype(str).isin(set(answered))], patched], ignore_index=True)

    def _select(self, segment, specialty, state, channel, min_probability) -> tuple[TargetIndex, np.ndarray]:
        check_channels(channel or None)
        if min_probability is not None and not 0 <= float(min_probability) <= 1:
            raise ValueError(f"min_probability must be in 0..1 (got {min_probability!r})")
        targets = self.index(self.state.current())
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
        targets, positions = self._select(segment, specialty, state, channel, min_probability)
        return targets.rows(positions[:int(n)])

    def target_count(self, segment=None, specialty=None, state=None, channel=None,
                     min_probability: float | None = None) -> int:
        """How many HCPs :meth:`target_list` would list with these filters and no limit."""
        return int(len(self._select(segment, specialty, state, channel, min_probability)[1]))

    def target_list_csv(self, segment=None, specialty=None, state=None, n: int = 100, channel=None,
                        min_probability: float | None = None) -> str:
        """:meth:`target_list` as a spreadsheet: :data:`EXPORT_COLUMNS` (channel labels, the engagement
        probability as a whole percentage, the reasons of each row's action), safe to open (no formula
        injection). Reasons take one scoring pass per HCP (about a millisecond each)."""
        rows = self.target_list(segment=segment, specialty=specialty, state=state, n=n, channel=channel,
                                min_probability=min_probability)
        reasons = self.recommendations.action_reasons(self.state.current().serving, rows)
        return csv_text(EXPORT_COLUMNS, ((
            row["hcp_id"], row["name"], row["specialty"], row["city"], row["state"], row["territory"],
            row["segment"], row["content_id"], row["title"], channel_label(row["channel"]),
            round(100 * row["engagement_probability"]), "; ".join(why)) for row, why in zip(rows, reasons)))
