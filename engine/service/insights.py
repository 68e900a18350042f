"""Brand analytics over the serving state: KPIs, trends, channels, segments, top content, impact.

The aggregates themselves live in :class:`~engine.service.analytics.Analytics` (one per data
snapshot); this service adds what needs the serving bundle (segments' most recommended content,
the simulated campaign impact) and memoises per data version and as-of day.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.config import Settings
from engine.service.cache import Memo, ServiceCache
from engine.service.follower import LiveState
from engine.service.impact import WAVE_DAYS, campaign_impact
from engine.service.recommendations import Recommendations
from engine.service.state import SHARED_TTL_S, Live, NoBundleError, channel_costs
from engine.service.targets import Targets

#: HCPs the Overview's simulated campaign impact compares (a seeded sample)
IMPACT_SAMPLE = 2000


def _data_key(live: Live) -> tuple[str, str]:
    """What an answer computed from the data alone depends on: the data version and the as-of day."""
    return live.data.snapshot.data_version, live.data.day.date().isoformat()


@dataclass(eq=False)
class Insights:
    """The Overview's, Channels' and Segments' numbers, and the feedback report."""

    settings: Settings
    state: LiveState
    cache: ServiceCache
    recommendations: Recommendations
    targets: Targets
    # small answers (a few rows) per data version and argument
    _memo: Memo = field(default_factory=lambda: Memo(maxsize=64), init=False)

    def overview_kpis(self) -> dict:
        live = self.state.read()
        kpis = live.data.analytics.overview_kpis()
        kpis["as_of"] = live.data.day.date().isoformat()
        kpis["version"] = None if live.serving is None else live.serving.version
        return kpis

    def period_comparison(self, days: int = 30) -> dict:
        """Touches, engagements, engagement rate and HCPs reached over the last ``days`` days of data
        against the ``days`` before (see :meth:`Analytics.period_comparison`)."""
        if not isinstance(days, (int, np.integer)) or days < 1:
            raise ValueError(f"days must be a positive integer (got {days!r})")
        live = self.state.read()
        return self._memo((*_data_key(live), "period-comparison", int(days)),
                          lambda: live.data.analytics.period_comparison(int(days)))

    def engagement_trend(self) -> list[dict]:
        return self.state.read().data.analytics.engagement_trend()

    def channel_effectiveness(self, specialty=None, state=None, start=None, end=None) -> list[dict]:
        return self.state.read().data.analytics.channel_effectiveness(specialty=specialty, state=state, start=start,
                                                                      end=end)

    def filter_options(self) -> dict:
        """Distinct specialties, states, segments and territories (for dropdowns)."""
        search = self.state.read().data.search
        return {c: search.options(c) for c in ("specialty", "state", "segment", "territory")}

    def segments(self) -> list[dict]:
        """Per segment: hcps, touches, engaged, engagement_rate, touches_per_hcp, top_specialty, consent
        share per channel, and ``top_content``: the contents recommended most often as next best action
        in the segment ([{content_id, title, hcps}]; empty while no bundle is loaded)."""
        rows = self.state.read().data.analytics.segments()
        try:
            top = self.targets.index(self.state.current()).segment_top
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
        live = self.state.read()
        rows = self._memo((*_data_key(live), "top-content", int(n), int(days)),
                          lambda: _top_content(live, int(n), int(days)))
        return [dict(r) for r in rows]

    def campaign_impact(self, sample: int | None = IMPACT_SAMPLE, wave_days: int = WAVE_DAYS) -> dict | None:
        """Simulated impact of following the plans for one wave against the brand's own policy, scored
        with the synthetic world's true engagement probabilities (see :mod:`engine.service.impact`).

        ``sample``: HCPs compared (a seeded sample; None: all). None when the store is not a
        synthetic world (no ``<ARTIFACTS_DIR>/world/truth.npz``). Computed once per bundle, data
        version and as-of day, shared through the cache.
        """
        live = self.state.current()
        if not (self.settings.artifacts_dir / "world" / "truth.npz").exists():
            return None
        base = f"{live.serving.version}:{live.data.snapshot.data_version}:{live.data.day.date()}"

        def compute():
            from engine.models.data import load_oracle  # the oracle is only needed here (and is large)

            hcps = live.data.snapshot.hcps
            if sample is not None and sample < len(hcps):
                hcps = hcps.iloc[np.sort(np.random.default_rng(0).choice(len(hcps), sample, replace=False))]
            plans = self.recommendations.plan_frame(live, hcps["hcp_id"].astype(str).to_numpy())
            return campaign_impact(load_oracle(self.settings.artifacts_dir), plans, hcps, live.data.day, wave_days,
                                   costs=channel_costs(self.settings))

        return self.cache.get_or_compute_once(f"{base}:impact:{sample}:{wave_days}", compute, timeout=SHARED_TTL_S)

    def feedback_report(self, user: str | None = None, role: str | None = None) -> dict:
        """Acceptance by channel and content, and dismissal reasons (brand managers and admins only).

        Raises
        ------
        PermissionError : ``role`` is neither ``admin`` nor ``brand_manager``.
        """
        if role not in ("admin", "brand_manager"):
            raise PermissionError(f"the feedback report needs the admin or brand_manager role "
                                  f"(user {user!r} has role {role!r})")
        live = self.state.read()
        return live.feedback.report(live.data.titles)


def _top_content(live: Live, n: int, days: int) -> list[dict]:
    data, titles = live.data.snapshot, live.data.titles
    history = data.history
    if history is None or not len(history.timestamp):
        return []
    since = np.datetime64((data.data_end - pd.Timedelta(days=days)).to_datetime64(), "us")
    recent = history.timestamp > since
    size = len(history.content_values)
    touches = np.bincount(history.content[recent], minlength=size)
    engaged = np.bincount(history.content[recent & history.engaged], minlength=size)
    rate = np.divide(engaged, touches, out=np.zeros(size), where=touches > 0)
    ids = history.content_values
    order = [i for i in np.lexsort((ids, -rate, -engaged)) if touches[i] > 0][:n]
    return [{"content_id": str(ids[i]), "title": titles.get(str(ids[i])), "touches": int(touches[i]),
             "engaged": int(engaged[i]), "rate": float(rate[i])} for i in order]
