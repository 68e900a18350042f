"""Consent: a channel the HCP opted out of is never recommended or planned."""
from __future__ import annotations

import numpy as np

from engine.config import CHANNELS, channel_label
from engine.rules.base import Ask, ChannelRule, RuleContext


class Consent(ChannelRule):
    """Attributes (after :meth:`fit`): ``consent_`` bool [n_hcps, n_channels] (HCPs unknown to the
    store: no consent on record, no contact)."""

    def fit(self, context: RuleContext) -> None:
        self.consent_ = context.per_hcp(context.snapshot.consent(), missing=False)

    def allows(self, ask: Ask) -> np.ndarray:
        return self.consent_[ask.hcp]

    def note(self, hcp: int, channel: int, planned: int = 0) -> str | None:
        return None if self.consent_[hcp, channel] else f"{channel_label(CHANNELS[channel])} excluded: HCP opted out"

    def channel_summary(self, hcp: int, channel: int) -> dict:
        return {"consent": bool(self.consent_[hcp, channel])}
