"""The brand's historical targeting policy (what generated the observed touches).

It is deliberately *not* the oracle's best policy: a brand team targets mostly by specialty
(therapeutic area by specialty, newest approved content first), explores a little, chooses the
channel by segment among the channels the HCP consented to, and touches on a cadence set by
segment. Models therefore have something to learn beyond "do what the brand did".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from engine.config import CHANNELS
from engine.data.reference import SEGMENTS
from engine.synth.channels import simulated
from engine.synth.content import AREAS

#: Therapeutic-area mix per specialty (areas in :data:`AREAS` order: diabetes, cardiovascular,
#: vaccination, thyroid, respiratory, oncology). Used both as the brand's targeting belief and as
#: the prior of the hidden interests.
AREA_BY_SPECIALTY: dict[str, tuple[float, ...]] = {
    "Family Medicine": (0.25, 0.22, 0.18, 0.12, 0.15, 0.08),
    "General Practice": (0.25, 0.22, 0.18, 0.12, 0.15, 0.08),
    "Internal Medicine": (0.25, 0.25, 0.12, 0.13, 0.15, 0.10),
    "Nurse Practitioner": (0.25, 0.20, 0.20, 0.12, 0.15, 0.08),
    "Physician Assistant": (0.22, 0.22, 0.18, 0.10, 0.18, 0.10),
    "Cardiology": (0.15, 0.65, 0.04, 0.04, 0.08, 0.04),
    "Endocrinology": (0.50, 0.12, 0.03, 0.30, 0.02, 0.03),
    "Oncology": (0.05, 0.06, 0.06, 0.06, 0.07, 0.70),
    "Pulmonology": (0.06, 0.10, 0.12, 0.04, 0.62, 0.06),
    "Infectious Disease": (0.04, 0.04, 0.72, 0.03, 0.12, 0.05),
    "Pediatrics": (0.10, 0.04, 0.50, 0.06, 0.26, 0.04),
    "Obstetrics & Gynecology": (0.15, 0.10, 0.35, 0.20, 0.05, 0.15),
    "Geriatrics": (0.20, 0.30, 0.20, 0.10, 0.15, 0.05),
    "Nephrology": (0.40, 0.40, 0.05, 0.05, 0.05, 0.05),
    "Emergency Medicine": (0.15, 0.25, 0.15, 0.05, 0.30, 0.10),
    "Pharmacist": (0.30, 0.25, 0.25, 0.05, 0.10, 0.05),
    "Allergy & Immunology": (0.03, 0.04, 0.20, 0.03, 0.60, 0.10),
}
DEFAULT_AREA_MIX = (0.20, 0.20, 0.15, 0.15, 0.15, 0.15)


def area_mix(specialty: str) -> np.ndarray:
    mix = np.array(AREA_BY_SPECIALTY.get(specialty, DEFAULT_AREA_MIX), float)
    return mix / mix.sum()


@lru_cache(maxsize=None)
def target_specialty_for_area(area: str) -> str:
    """The specialty a campaign in ``area`` is aimed at (the one with the highest share of it)."""
    k = AREAS.index(area)
    return max(AREA_BY_SPECIALTY, key=lambda s: AREA_BY_SPECIALTY[s][k] / sum(AREA_BY_SPECIALTY[s]))


@dataclass(frozen=True)
class BrandPolicy:
    """Who gets touched each week, on which channel, with which content.

    Attributes
    ----------
    weekly_touch_rate : chance that an HCP of the segment is touched in a given week (cadence).
    channel_mix : channel weights per segment (in :data:`CHANNELS` order), before consent (default:
        :mod:`engine.synth.channels`).
    exploration : share of touches whose area and content are picked uniformly at random.
    recency_days : newer approved content is preferred with weight ``exp(-age / recency_days)``.
    candidates : contents drawn per touch to find one the HCP has not engaged with yet.
    """

    weekly_touch_rate: dict = field(default_factory=lambda: {"Core": 0.50, "Growth": 0.36, "Maintain": 0.16})
    channel_mix: dict = field(default_factory=lambda: {
        segment: tuple(simulated(c).mix.get(segment, 0.0) for c in CHANNELS) for segment in SEGMENTS})
    exploration: float = 0.18
    recency_days: float = 120.0
    candidates: int = 4

    def touch_rate(self, segments: np.ndarray) -> np.ndarray:
        default = min(self.weekly_touch_rate.values())
        return np.array([self.weekly_touch_rate.get(s, default) for s in segments], float)

    def channel_weights(self, segments: np.ndarray, consent: np.ndarray) -> np.ndarray:
        """``[n, n_channels]`` channel probabilities, zero on opted-out channels (rows may be all 0)."""
        fallback = self.channel_mix["Maintain"]
        mix = np.array([self.channel_mix.get(s, fallback) for s in segments], float) * consent
        total = mix.sum(axis=1, keepdims=True)
        return np.divide(mix, total, out=np.zeros_like(mix), where=total > 0)

    def week_touches(self, rng: np.random.Generator, day0: float, rate: np.ndarray, reachable: np.ndarray,
                     channel_w: np.ndarray, area_w: np.ndarray, content_area: np.ndarray, hidden,
                     consumed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One week of the brand's touches from day ``day0``: ``(hcp, content, channel)`` index arrays.

        Who: each HCP with probability ``rate`` (:meth:`touch_rate`) if ``reachable``; channel drawn
        from ``channel_w`` (:meth:`channel_weights`); content: an area by specialty (``area_w``, or
        uniform when exploring), then among the area's content live all week (published and approved
        from ``day0`` through ``day0 + 7``), newer content first, never one the HCP engaged with
        (``consumed`` [n_hcps, n_contents]). ``hidden`` gives the content calendar
        (:attr:`engine.synth.oracle.Hidden.approval`, ``publication_day``); ``content_area`` each
        content's area index.
        """
        n = len(rate)
        touched = np.flatnonzero((rng.random(n) < rate) & reachable)
        if len(touched) == 0:
            return touched, touched, touched
        channel = sample_rows(rng, channel_w[touched])
        # content: area by specialty (or exploration), then newest approved content of the area
        explore = rng.random(len(touched)) < self.exploration
        areas = np.where(explore, rng.integers(len(AREAS), size=len(touched)), sample_rows(rng, area_w[touched]))
        live = hidden.approval.approved_throughout(day0, day0 + 7)
        content = np.full(len(touched), -1)
        for a in range(len(AREAS)):
            pool = np.flatnonzero(live & (content_area == a))
            rows = np.flatnonzero(areas == a)
            if len(pool) == 0 or len(rows) == 0:
                continue
            recency = np.exp(-(day0 - hidden.publication_day[pool]) / self.recency_days)
            picks = np.empty((len(rows), self.candidates), dtype=np.int64)
            for e, weights in ((True, np.ones(len(pool))), (False, recency)):
                sel = rows[explore[rows] == e]
                if len(sel):
                    picks[np.searchsorted(rows, sel)] = pool[rng.choice(len(pool), size=(len(sel), self.candidates),
                                                                       p=weights / weights.sum())]
            fresh = ~consumed[touched[rows][:, None], picks]  # never resend content already engaged with
            first = fresh.argmax(axis=1)
            ok = fresh[np.arange(len(rows)), first]
            content[rows[ok]] = picks[ok, first[ok]]
        keep = content >= 0
        return touched[keep], content[keep], channel[keep]

    def area_weights(self, specialties: np.ndarray) -> np.ndarray:
        """``[n, n_areas]`` area probabilities by specialty (exploration is applied by the simulator)."""
        uniq, idx = np.unique(np.asarray(specialties, dtype=object).astype(str), return_inverse=True)
        table = np.stack([area_mix(s) for s in uniq]) if len(uniq) else np.zeros((0, len(AREAS)))
        return table[idx]


def sample_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category per row of a row-stochastic matrix (vectorised inverse-CDF sampling)."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None] * cdf[:, -1:]
    return np.minimum((u >= cdf).sum(axis=1), probs.shape[1] - 1)

