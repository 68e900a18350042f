"""Brand-level analytics from the in-memory snapshot: KPIs, trends, channel effectiveness, segments."""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.config import CHANNELS
from engine.service.snapshot import DataSnapshot


def _values(wanted) -> list | None:
    if wanted is None or wanted == "" or wanted == []:
        return None
    return [wanted] if isinstance(wanted, str) else list(wanted)


def _rate(engaged, touches):
    return float(engaged / touches) if touches else 0.0


class Analytics:
    """Aggregates over one :class:`DataSnapshot` (monthly channel x specialty x state counts)."""

    def __init__(self, snapshot: DataSnapshot):
        self.snapshot = snapshot

    def period_comparison(self, days: int = 30) -> dict:
        """The last ``days`` days of data against the ``days`` before them (period over period).

        Returns
        -------
        dict: days, ``current`` and ``previous`` ({start, end, touches, engaged, engagement_rate,
        hcps_reached, hcps_engaged}; start inclusive, end exclusive, ISO dates) and ``change``
        (relative change of touches, engaged, hcps_reached and hcps_engaged, None when the previous
        period had none; engagement_rate as a difference in rate).
        """
        if not isinstance(days, (int, np.integer)) or days < 1:
            raise ValueError(f"days must be a positive integer (got {days!r})")
        data = self.snapshot
        history = data.history
        end = pd.Timestamp(data.data_end).normalize() + pd.Timedelta(days=1)  # the data's last day, included
        bounds = [end - pd.Timedelta(days=days * k) for k in (2, 1, 0)]
        periods = []
        for start, stop in zip(bounds[:-1], bounds[1:]):
            if history is None or not len(history.timestamp):
                mask, rows = np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)
            else:
                stamps = history.timestamp
                mask = (stamps >= np.datetime64(start.to_datetime64(), "us")) & \
                       (stamps < np.datetime64(stop.to_datetime64(), "us"))
                rows = np.repeat(np.arange(len(history.offsets) - 1), np.diff(history.offsets))
            touches, engaged = int(mask.sum()), int((mask & history.engaged).sum()) if len(mask) else 0
            periods.append({
                "start": start.date().isoformat(), "end": stop.date().isoformat(), "touches": touches,
                "engaged": engaged, "engagement_rate": _rate(engaged, touches),
                "hcps_reached": int(len(np.unique(rows[mask]))) if len(mask) else 0,
                "hcps_engaged": int(len(np.unique(rows[mask & history.engaged]))) if len(mask) else 0,
            })
        previous, current = periods

        def relative(key):
            return (current[key] - previous[key]) / previous[key] if previous[key] else None

        change = {k: relative(k) for k in ("touches", "engaged", "hcps_reached", "hcps_engaged")}
        change["engagement_rate"] = current["engagement_rate"] - previous["engagement_rate"] \
            if previous["touches"] and current["touches"] else None
        return {"days": days, "current": current, "previous": previous, "change": change}

    def overview_kpis(self) -> dict:
        data = self.snapshot
        touches, engaged = data.touches.sum(), data.engaged.sum()
        monthly = data.monthly
        last_month = monthly["month"].max() if not monthly.empty else None
        recent = monthly[monthly["month"] == last_month] if last_month is not None else monthly
        consent = data.consent()
        by_channel = data.engaged.sum(axis=0) / np.maximum(data.touches.sum(axis=0), 1)
        return {
            "hcps": int(len(data.hcps)), "contents": int(len(data.contents)),
            "interactions": int(touches), "engaged": int(engaged), "engagement_rate": _rate(engaged, touches),
            "active_hcps_cap_window": int((data.cap_touches.sum(axis=1) > 0).sum()), "cap_days": data.cap_days,
            "reached_hcps": int((data.touches.sum(axis=1) > 0).sum()),
            "last_month": None if last_month is None else pd.Timestamp(last_month).strftime("%Y-%m"),
            "last_month_touches": int(recent["touches"].sum()),
            "last_month_engagement_rate": _rate(recent["engaged"].sum(), recent["touches"].sum()),
            "best_channel": CHANNELS[int(np.argmax(by_channel))] if touches else None,
            "consent_share": {c: float(consent[:, k].mean()) if len(consent) else 0.0 for k, c in enumerate(CHANNELS)},
            "data_start": None if monthly.empty else pd.Timestamp(monthly["month"].min()).date().isoformat(),
            "data_end": data.data_end.isoformat(),
        }

    def engagement_trend(self) -> list[dict]:
        """Per month and channel: month (YYYY-MM-DD), channel, touches, engaged, rate."""
        grouped = self.snapshot.monthly.groupby(["month", "channel"], as_index=False)[["touches", "engaged"]].sum()
        return self._records(grouped, ["month", "channel"])

    def channel_effectiveness(self, specialty=None, state=None, start=None, end=None) -> list[dict]:
        """Engagement by channel x specialty x month, filtered by specialty/state (str or list) and dates."""
        monthly = self.snapshot.monthly
        mask = np.ones(len(monthly), dtype=bool)
        for column, wanted in (("specialty", specialty), ("state", state)):
            values = _values(wanted)
            if values is not None:
                mask &= monthly[column].isin(values).to_numpy()
        try:
            if start:
                mask &= (monthly["month"] >= pd.Timestamp(start).to_period("M").to_timestamp()).to_numpy()
            if end:
                mask &= (monthly["month"] <= pd.Timestamp(end)).to_numpy()
        except ValueError as exc:
            raise ValueError(f"channel_effectiveness: bad date start={start!r} end={end!r}: {exc}") from exc
        grouped = monthly[mask].groupby(["channel", "specialty", "month"], as_index=False)[["touches", "engaged"]].sum()
        return self._records(grouped, ["channel", "specialty", "month"])

    @staticmethod
    def _records(grouped: pd.DataFrame, keys: list[str]) -> list[dict]:
        out = []
        for r in grouped.sort_values(keys).to_dict("records"):
            row = {k: (pd.Timestamp(r[k]).date().isoformat() if k == "month" else str(r[k])) for k in keys}
            row.update(touches=int(r["touches"]), engaged=int(r["engaged"]), rate=_rate(r["engaged"], r["touches"]))
            out.append(row)
        return out

    def segments(self) -> list[dict]:
        """Per segment: hcps, touches, engaged, engagement_rate, top_specialty, consent share per channel."""
        data = self.snapshot
        hcps = data.hcps
        segment = hcps["segment"].astype(object).where(hcps["segment"].notna(), "Unassigned").astype(str).to_numpy()
        touches, engaged = data.touches.sum(axis=1), data.engaged.sum(axis=1)
        consent = data.consent()
        out = []
        for name in sorted(set(segment)):
            mask = segment == name
            specialties = hcps.loc[mask, "specialty"].value_counts()
            t, e = int(touches[mask].sum()), int(engaged[mask].sum())
            out.append({
                "segment": name, "hcps": int(mask.sum()), "touches": t, "engaged": e, "engagement_rate": _rate(e, t),
                "touches_per_hcp": t / int(mask.sum()),
                "top_specialty": None if specialties.empty else str(specialties.index[0]),
                "consent_share": {c: float(consent[mask, k].mean()) for k, c in enumerate(CHANNELS)},
            })
        return out
