"""How the demo world simulates each channel (the platform's own channel table is
:data:`engine.config.CHANNEL_TABLE`).

A channel of :data:`engine.config.CHANNELS` missing here is not simulated: the brand never sends
it, nobody opts out of it and HCPs practically never engage on it, so the platform's rules leave
it out of every recommendation (no touch in the data) until real data brings its touches.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.config import CHANNELS


@dataclass(frozen=True)
class SimulatedChannel:
    """Attributes
    ----------
    base : baseline engagement logit (calibrated so rates land in realistic ranges).
    opt_out : share of HCPs who opted out of the channel.
    dwell_seconds : median dwell of an engaged touch (clicked e-mails read four times longer).
    code : the channel's part of a campaign id.
    mix : the brand's weight of the channel per segment, before consent.
    affinity : the channel's affinity offset per HCP archetype (0 for those absent).
    """

    base: float
    opt_out: float
    dwell_seconds: float
    code: str
    mix: dict[str, float] = field(default_factory=dict)
    affinity: dict[str, float] = field(default_factory=dict)


SIMULATED_CHANNELS: dict[str, SimulatedChannel] = {
    "email": SimulatedChannel(-1.15, 0.10, 45.0, "EM", {"Core": 0.34, "Growth": 0.50, "Maintain": 0.62},
                              {"digital-first": 0.6, "field-first": -0.4, "event-goer": -0.2}),
    "webinar": SimulatedChannel(-1.45, 0.12, 1800.0, "WB", {"Core": 0.18, "Growth": 0.15, "Maintain": 0.16},
                                {"digital-first": 0.5, "field-first": -0.2, "event-goer": 0.4}),
    "rep_visit": SimulatedChannel(0.15, 0.15, 600.0, "RV", {"Core": 0.30, "Growth": 0.20, "Maintain": 0.06},
                                  {"digital-first": -0.5, "field-first": 0.6, "event-goer": -0.1}),
    "in_person": SimulatedChannel(-0.45, 0.18, 2700.0, "IP", {"Core": 0.10, "Growth": 0.05, "Maintain": 0.03},
                                  {"digital-first": -0.4, "field-first": 0.5, "event-goer": 0.6}),
    "social_event": SimulatedChannel(-1.7, 0.25, 1200.0, "SE", {"Core": 0.08, "Growth": 0.10, "Maintain": 0.13},
                                     {"digital-first": 0.3, "field-first": -0.2, "event-goer": 0.5}),
}

#: A channel the world does not simulate (engagement p below 5e-5, never sent).
NOT_SIMULATED = SimulatedChannel(base=-10.0, opt_out=0.0, dwell_seconds=0.0, code="")


def simulated(channel: str) -> SimulatedChannel:
    return SIMULATED_CHANNELS.get(channel, NOT_SIMULATED)


def per_channel(attribute: str) -> np.ndarray:
    """``[n_channels]`` one attribute of every channel, in :data:`engine.config.CHANNELS` order."""
    return np.array([getattr(simulated(c), attribute) for c in CHANNELS], dtype=float)
