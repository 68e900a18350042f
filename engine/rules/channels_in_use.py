"""Channels in use: a channel without a single touch in the data is never recommended.

The brand does not use it, and no model has seen it engage anyone: a log of emails only gets emails.
"""
from __future__ import annotations

import numpy as np

from engine.config import CHANNELS, channel_label
from engine.rules.base import Ask, ChannelRule, RuleContext


class ChannelsInUse(ChannelRule):
    """Attributes (after :meth:`fit`): ``in_use_`` bool [n_channels] (all True when the data has no touch)."""

    def fit(self, context: RuleContext) -> None:
        touched = context.snapshot.touches.sum(axis=0) > 0
        self.in_use_ = touched if touched.any() else np.ones(len(CHANNELS), dtype=bool)

    def allows(self, ask: Ask) -> np.ndarray:
        return np.broadcast_to(self.in_use_, (len(ask.hcp), len(CHANNELS)))

    def note(self, hcp: int, channel: int, planned: int = 0) -> str | None:
        if self.in_use_[channel]:
            return None
        return f"{channel_label(CHANNELS[channel])} excluded: no touch on this channel in the data"

    def channel_summary(self, hcp: int, channel: int) -> dict:
        return {"in_use": bool(self.in_use_[channel])}
