"""``NBAService``: the one object the web app talks to, a thin facade over focused services.

Every service reads one immutable serving state (:class:`~engine.service.state.Live`: data
snapshot, serving bundle, feedback) from :class:`~engine.service.follower.LiveState`, its only
owner, which follows the store's versions and the shared version pointer and swaps the state by
one reference assignment. The facade keeps the method names pages, commands, benchmarks and tests
call; each forwards to the service that owns it:

============================  =====================================================================
:mod:`.recommendations`       recommend, plan, plan_all, score_all, forecast, rule_summary
:mod:`.territory`             worklist, week_plan, week_plan_csv
:mod:`.targets`               target_list, target_count, target_list_csv
:mod:`.insights`              overview_kpis, period_comparison, engagement_trend, channel_effectiveness,
                              filter_options, segments, top_content, campaign_impact, feedback_report
:mod:`.profiles`              search_hcps, as_of, hcp_profile, hcp_history, record_feedback,
                              feedback_items, content_detail, topic_explorer, topic_documents
:mod:`.admin`                 reload, rollback, record_admin_action, audit_log, versions, model_metrics,
                              health, cache_status
============================  =====================================================================

Results are cached (filesystem or Redis) under keys that carry the bundle version, the data and
feedback versions and the as-of day, so no key ever serves a stale answer.
"""
from __future__ import annotations

import functools
import logging

from engine.config import Settings
from engine.data.store import Store
from engine.service.admin import Admin
from engine.service.cache import ServiceCache
from engine.service.follower import LiveState
from engine.service.insights import Insights
from engine.service.profiles import Profiles
from engine.service.recommendations import Recommendations
from engine.service.registry import VersionPointer
from engine.service.state import NoBundleError
from engine.service.targets import Targets
from engine.service.territory import Territories

log = logging.getLogger("engine.service")


def _forward(part: str, function):
    """A facade method calling ``self.<part>.<function's name>`` (with ``function``'s signature and docstring)."""
    name = function.__name__

    @functools.wraps(function)
    def method(self, *args, **kwargs):
        return getattr(getattr(self, part), name)(*args, **kwargs)

    return method


class NBAService:
    """Recommendations, plans, forecasts, analytics and admin operations over one store and bundle set.

    Build it with :meth:`from_settings`. Thread-safe: a request reads the serving state once;
    :attr:`state` replaces it (one assignment) on every change, never mutates it.
    """

    def __init__(self, settings: Settings, store: Store, cache: ServiceCache, state: LiveState):
        self.settings = settings
        self.store = store
        self.cache = cache
        self.state = state
        self.pointer = state.pointer
        self.recommendations = Recommendations(settings, state, cache)
        self.targets = Targets(settings, state, cache, self.recommendations)
        self.territories = Territories(settings, state, cache, self.recommendations, self.targets)
        self.insights = Insights(settings, state, cache, self.recommendations, self.targets)
        self.profiles = Profiles(settings, state, store)
        self.admin = Admin(settings, state, store, cache)

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
        return cls(settings, store, cache, LiveState.open(settings, store, cache, pointer, check_every_s))

    # -- versions and process life ------------------------------------------------------------
    @property
    def version(self) -> str | None:
        """The bundle version this process serves (None when no bundle is loaded)."""
        return self.state.version

    def current_version(self) -> str | None:
        """The version this process serves after following the shared pointer (cheap: a string
        comparison unless another worker switched versions); None when no bundle is loaded."""
        serving = self.state.read().serving
        return None if serving is None else serving.version

    def refresh_data(self) -> dict:
        """Check the store's versions now and switch to new data or feedback at once (the watcher
        does this in the background every ``DATA_CHECK_S``); returns the versions served."""
        return self.state.refresh()

    def warm(self) -> None:
        """Precompute what the first requests would otherwise wait for (the target index behind target
        lists and worklists, every territory's worklist, the Overview's simulated impact: seconds on a
        full-size world, shared by the workers through the cache); safe to run in a background thread
        right after start-up. Failures are logged, never raised."""
        if self.state.version is None:
            return
        for what, compute in (("target index", lambda: self.targets.index(self.state.current())),
                              ("worklists", self.territories.warm),
                              ("campaign impact", self.insights.campaign_impact)):
            try:
                compute()
            except Exception:  # noqa: BLE001 - a warm-up is an optimisation
                log.exception("warm-up of the %s failed; the first request that needs it computes it", what)

    def close(self) -> None:
        """Stop this process's background readers (tests, short-lived scripts)."""
        self.state.stop()

    # -- recommendations and plans -------------------------------------------------------------
    recommend = _forward("recommendations", Recommendations.recommend)
    plan = _forward("recommendations", Recommendations.plan)
    plan_all = _forward("recommendations", Recommendations.plan_all)
    score_all = _forward("recommendations", Recommendations.score_all)
    forecast = _forward("recommendations", Recommendations.forecast)
    rule_summary = _forward("recommendations", Recommendations.rule_summary)
    worklist = _forward("territories", Territories.worklist)
    week_plan = _forward("territories", Territories.week_plan)
    week_plan_csv = _forward("territories", Territories.week_plan_csv)

    # -- analytics and targets -----------------------------------------------------------------
    overview_kpis = _forward("insights", Insights.overview_kpis)
    period_comparison = _forward("insights", Insights.period_comparison)
    engagement_trend = _forward("insights", Insights.engagement_trend)
    channel_effectiveness = _forward("insights", Insights.channel_effectiveness)
    filter_options = _forward("insights", Insights.filter_options)
    segments = _forward("insights", Insights.segments)
    top_content = _forward("insights", Insights.top_content)
    campaign_impact = _forward("insights", Insights.campaign_impact)
    feedback_report = _forward("insights", Insights.feedback_report)
    target_list = _forward("targets", Targets.target_list)
    target_count = _forward("targets", Targets.target_count)
    target_list_csv = _forward("targets", Targets.target_list_csv)

    # -- HCPs, contents and topics -------------------------------------------------------------
    search_hcps = _forward("profiles", Profiles.search_hcps)
    as_of = _forward("profiles", Profiles.as_of)
    hcp_profile = _forward("profiles", Profiles.hcp_profile)
    hcp_history = _forward("profiles", Profiles.hcp_history)
    record_feedback = _forward("profiles", Profiles.record_feedback)
    feedback_items = _forward("profiles", Profiles.feedback_items)
    content_detail = _forward("profiles", Profiles.content_detail)
    topic_explorer = _forward("profiles", Profiles.topic_explorer)
    topic_documents = _forward("profiles", Profiles.topic_documents)

    # -- admin and operations ------------------------------------------------------------------
    reload = _forward("admin", Admin.reload)
    rollback = _forward("admin", Admin.rollback)
    record_admin_action = _forward("admin", Admin.record_admin_action)
    audit_log = _forward("admin", Admin.audit_log)
    versions = _forward("admin", Admin.versions)
    model_metrics = _forward("admin", Admin.model_metrics)
    health = _forward("admin", Admin.health)
    cache_status = _forward("admin", Admin.cache_status)


__all__ = ["NBAService", "NoBundleError"]
