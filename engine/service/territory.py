"""A territory's day and week: the worklist (today's best actions) and the week plan.

Both keep, day by day and best value first, what a day can hold (:func:`fill_days`), after the
touches already accepted for that day.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.config import CHANNELS, Settings, channel_label
from engine.service.cache import ServiceCache
from engine.service.export import csv_text
from engine.service.follower import LiveState
from engine.service.recommendations import Recommendations
from engine.service.state import Live
from engine.service.targets import Targets
from engine.service.worklist import fill_days

#: worklist actions listed at most (a day rarely holds more)
WORKLIST_LIMIT = 60
#: columns of a territory's week plan export (:meth:`Territories.week_plan_csv`)
WEEK_PLAN_COLUMNS = ["Date", "Order", "Status", "NPI", "Name", "Specialty", "City", "State", "Content ID", "Content",
                     "Channel", "Likely to engage (%)"]


@dataclass(eq=False)
class Territories:
    """Worklists and week plans of territories."""

    settings: Settings
    state: LiveState
    cache: ServiceCache
    recommendations: Recommendations
    targets: Targets

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
        live = self.state.current()
        if not isinstance(limit, (int, np.integer)) or limit < 1:
            raise ValueError(f"limit must be a positive integer (got {limit!r})")
        key = live.result_key("worklist", str(territory), int(limit), sorted(self.settings.worklist_capacity.items()))
        return self.cache.get_or_compute(key, lambda: self._worklist(live, str(territory), int(limit)))

    @staticmethod
    def _territory_hcps(live: Live, territory: str) -> np.ndarray:
        """The ids of the HCPs in ``territory`` (ValueError when there are none)."""
        ids = live.data.territories.get(territory)
        if ids is None:
            raise ValueError(f"no HCP is in territory {territory!r}")
        return ids

    @staticmethod
    def _accepted_for(live: Live, hcp_ids: np.ndarray, start: pd.Timestamp, days: int) -> pd.DataFrame:
        """Touches accepted for ``days`` days from ``start`` for these HCPs: hcp_id, content_id, channel, date."""
        latest = live.feedback.latest
        planned = latest["planned_at"].dt.normalize()
        # the few accepts of the days first, then which of them are these HCPs' (a set lookup each)
        window = (latest["action"] == "accept") & (planned >= start) & (planned < start + pd.Timedelta(days=days))
        if window.any():
            members = set(hcp_ids)
            window &= np.array([h in members for h in latest["hcp_id"].astype(str)], dtype=bool)
        out = latest.loc[window, ["hcp_id", "content_id", "channel"]].copy()
        out["date"] = planned[window].dt.date.map(lambda d: d.isoformat()).to_numpy(dtype=object)
        return out.sort_values(["date", "hcp_id", "content_id"], kind="stable").reset_index(drop=True)

    def _worklist(self, live: Live, territory: str, limit: int) -> dict:
        mine = self._territory_hcps(live, territory)
        day = live.data.day
        accepted = self._accepted_for(live, mine, day, 1)
        targets = self.targets.index(live)
        candidates = targets.frame.iloc[targets.territory_rows.get(territory, np.zeros(0, dtype=np.int64))]
        if len(accepted):
            candidates = candidates[~candidates["hcp_id"].isin(set(accepted["hcp_id"]))]
        kept = fill_days(candidates.assign(value=candidates["score"]), self.settings.worklist_capacity, accepted)
        shown = kept.head(limit).to_dict("records")
        reasons = self.recommendations.action_reasons(live.serving, shown)
        titles, person = live.data.titles, live.data.person
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
            "accepted": [{**person(a["hcp_id"]), "hcp_id": a["hcp_id"], "content_id": a["content_id"],
                          "title": titles.get(a["content_id"]), "channel": a["channel"], "date": a["date"]}
                         for a in accepted.to_dict("records")],
        }

    def warm(self) -> None:
        """Compute every territory's worklist (kept in the result cache for this serving state)."""
        for territory in self.state.current().data.territories:
            self.worklist(territory)

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
        live = self.state.current()
        ids = self._territory_hcps(live, str(territory))
        day = live.data.day
        steps = self.recommendations.plan_frame(live, ids, horizon_days=int(days) - 1)
        steps = steps.assign(date=pd.to_datetime(steps["date"]).dt.date.map(lambda d: d.isoformat()))
        accepted = self._accepted_for(live, ids, day, int(days))
        kept = fill_days(steps, self.settings.worklist_capacity, accepted)
        titles, person = live.data.titles, live.data.person
        rows = [{"date": a["date"], "status": "accepted", "hcp_id": a["hcp_id"], "content_id": a["content_id"],
                 "channel": a["channel"], "engagement_probability": None, "value": None}
                for a in accepted.to_dict("records")]
        rows += [{"date": r["date"], "status": "suggested", "hcp_id": str(r["hcp_id"]), "content_id": str(r["content_id"]),
                  "channel": str(r["channel"]), "engagement_probability": float(r["engagement_probability"]),
                  "value": float(r["value"])} for r in kept.to_dict("records")]
        rows.sort(key=lambda r: (r["date"], r["status"] != "accepted", -(r["value"] or 0.0), r["hcp_id"]))
        out, rank = [], {}
        for r in rows:
            rank[r["date"]] = rank.get(r["date"], 0) + 1
            out.append({**r, "rank": rank[r["date"]], "title": titles.get(r["content_id"]), **person(r["hcp_id"])})
        return out

    def week_plan_csv(self, territory: str, days: int = 7) -> str:
        """:meth:`week_plan` as a spreadsheet (:data:`WEEK_PLAN_COLUMNS`), safe to open (no formula injection)."""
        return csv_text(WEEK_PLAN_COLUMNS, ((
            r["date"], r["rank"], "Accepted" if r["status"] == "accepted" else "Suggested", r["hcp_id"], r["name"],
            r["specialty"], r["city"], r["state"], r["content_id"], r["title"], channel_label(r["channel"]),
            "" if r["engagement_probability"] is None else round(100 * r["engagement_probability"]))
            for r in self.week_plan(territory, days)))
