"""Simulated campaign impact: follow the plans for one wave, score it with the synthetic world's truth.

On a synthetic world the oracle knows every HCP's true engagement probability, so a plan can be
valued before anyone acts on it. One wave (``wave_days`` from the as-of day) is played twice over
the same HCPs:

- *plans*: every plan step dated inside the wave;
- *brand policy*: what the world's own brand policy (:class:`engine.synth.policy.BrandPolicy`, the
  one that generated the history) would send that wave, week by week.

Both are cut to the same touch volume (the plans' touches of highest value when they have more,
a seeded sample of the policy's otherwise) and valued with :meth:`Oracle.wave_probability`:
expected engagements, and the plans' relative uplift.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.config import CHANNELS
from engine.ranking import top_k
from engine.synth.content import SUBTOPIC_AREA
from engine.synth.policy import BrandPolicy

#: length of one campaign wave
WAVE_DAYS = 28


def policy_wave(oracle, hcps: pd.DataFrame, start: pd.Timestamp, wave_days: int = WAVE_DAYS,
                policy: BrandPolicy | None = None, seed: int = 0) -> pd.DataFrame:
    """The brand policy's touches over ``[start, start + wave_days)`` for the stored HCPs ``hcps``
    (hcp_id, segment, specialty and consents): frame hcp, content, channel (oracle indices), at."""
    policy = policy or BrandPolicy()
    rng = np.random.default_rng(seed)
    hcps = hcps[hcps["hcp_id"].astype(str).isin(set(oracle.hcp_ids.astype(str)))]
    h_idx = oracle.hcp_index(hcps["hcp_id"].astype(str))
    segments = hcps["segment"].astype(object).where(hcps["segment"].notna(), "").to_numpy()
    consent = hcps[[f"consent_{c}" for c in CHANNELS]].fillna(False).astype(bool).to_numpy()
    rate = policy.touch_rate(segments)
    channel_w = policy.channel_weights(segments, consent)
    area_w = policy.area_weights(hcps["specialty"].astype(str).to_numpy())
    content_area = SUBTOPIC_AREA[oracle.hidden.phi.argmax(axis=1)]
    consumed = oracle.consumed(h_idx, start).toarray()
    first_day = float(oracle.day_of(start))
    parts = []
    for week in range(int(np.ceil(wave_days / 7))):
        day0 = first_day + 7 * week
        rows, content, channel = policy.week_touches(rng, day0, rate, channel_w.sum(axis=1) > 0, channel_w, area_w,
                                                     content_area, oracle.hidden, consumed)
        # working hours of a weekday in that week, as the simulator does
        offset = rng.integers(0, 5, size=len(rows)) + rng.integers(8, 18, size=len(rows)) / 24.0
        at = start + pd.to_timedelta(7 * week + offset, unit="D")
        keep = np.asarray(at < start + pd.Timedelta(days=wave_days))
        parts.append(pd.DataFrame({"hcp": h_idx[rows[keep]], "content": content[keep], "channel": channel[keep],
                                   "at": at[keep]}))
    return pd.concat(parts, ignore_index=True)


def plan_wave(oracle, plans: pd.DataFrame, start: pd.Timestamp, wave_days: int = WAVE_DAYS) -> pd.DataFrame:
    """The plan steps (:data:`engine.service.recommendations.PLAN_COLUMNS`) dated inside the wave, as oracle
    indices: frame hcp, content, channel, at (midday of the step's date), value."""
    inside = plans[(plans["date"] >= start) & (plans["date"] < start + pd.Timedelta(days=wave_days))]
    inside = inside[inside["hcp_id"].astype(str).isin(set(oracle.hcp_ids.astype(str)))
                    & inside["content_id"].astype(str).isin(set(oracle.content_ids.astype(str)))]
    return pd.DataFrame({
        "hcp": oracle.hcp_index(inside["hcp_id"].astype(str)),
        "content": pd.Index(oracle.content_ids.astype(str)).get_indexer(inside["content_id"].astype(str)),
        "channel": pd.Index(CHANNELS).get_indexer(inside["channel"].astype(str)),
        "at": pd.to_datetime(inside["date"]).dt.normalize() + pd.Timedelta(hours=12),
        "value": inside["value"].to_numpy(dtype=np.float64),
    })


def campaign_impact(oracle, plans: pd.DataFrame, hcps: pd.DataFrame, start: pd.Timestamp,
                    wave_days: int = WAVE_DAYS, seed: int = 0, costs: dict | None = None) -> dict:
    """Expected engagements of the plans and of the brand policy over one wave, at the same touch volume.

    Parameters
    ----------
    oracle : the world's :class:`engine.synth.oracle.Oracle`.
    plans : plan steps of the HCPs compared (``NBAService.plan_all``).
    hcps : the same HCPs' store rows (segment, specialty, consents: what the brand targets by).
    start : the wave's first day (the as-of day).
    costs : λ·cost per channel name, to report what each side's touches cost (``plan_cost``,
        ``policy_cost``, in engagement-probability points).

    Returns
    -------
    dict: plan_engagements, policy_engagements, touches, uplift (plans / policy - 1), hcps,
    wave_start, wave_days, plan_touches_available, policy_touches_available, plan_cost,
    policy_cost, and per channel the touches of each side (``plan_channels``, ``policy_channels``).
    """
    start = pd.Timestamp(start).normalize()
    plan = plan_wave(oracle, plans, start, wave_days)
    policy = policy_wave(oracle, hcps, start, wave_days, seed=seed)
    available = {"plan_touches_available": int(len(plan)), "policy_touches_available": int(len(policy))}
    touches = min(len(plan), len(policy))
    if len(plan) > touches:  # a brand with the policy's capacity sends the plans' most valuable touches
        plan = plan.iloc[top_k(plan["value"].to_numpy(), touches)]
    if len(policy) > touches:
        policy = policy.iloc[np.sort(np.random.default_rng(seed).choice(len(policy), touches, replace=False))]

    def expected(frame: pd.DataFrame) -> float:
        if frame.empty:
            return 0.0
        return float(oracle.wave_probability(frame["hcp"], frame["content"], frame["channel"],
                                             frame["at"].to_numpy()).sum())

    plan_engaged, policy_engaged = expected(plan), expected(policy)
    unit = np.array([float((costs or {}).get(c, 0.0)) for c in CHANNELS])
    return {
        "plan_engagements": round(plan_engaged, 1), "policy_engagements": round(policy_engaged, 1),
        "touches": int(touches), "uplift": round(plan_engaged / policy_engaged - 1.0, 4) if policy_engaged else None,
        "hcps": int(len(hcps)), "wave_start": start.date().isoformat(), "wave_days": int(wave_days), **available,
        "plan_cost": round(float(unit[plan["channel"].to_numpy(dtype=np.int64)].sum()), 1),
        "policy_cost": round(float(unit[policy["channel"].to_numpy(dtype=np.int64)].sum()), 1),
        "plan_channels": {c: int((plan["channel"] == k).sum()) for k, c in enumerate(CHANNELS)},
        "policy_channels": {c: int((policy["channel"] == k).sum()) for k, c in enumerate(CHANNELS)},
    }
