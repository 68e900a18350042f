"""Contact-frequency caps: at most ``cap`` touches of a channel in any ``cap_days`` window.

A touch on a channel is allowed on a day only when every ``cap_days`` window containing that day
stays within the channel's cap, counting past touches and planned ones (accepted feedback,
earlier plan steps): the ask's touch calendar.
"""
from __future__ import annotations

import numpy as np

from engine.config import CHANNELS, channel_label
from engine.rules.base import Ask, ChannelRule, RuleContext


class ContactCaps(ChannelRule):
    """Parameters: ``caps`` max touches per channel name in the cap period (channels absent are uncapped).

    Attributes (after :meth:`fit`)
    ------------------------------
    cap_days : the cap period (days).
    cap_limits_ : int [n_channels].
    cap_touches_, capped_ : [n_hcps, n_channels] past touches inside the window as of ``now``, and
        whether they fill the cap.
    """

    dated = True

    def __init__(self, caps: dict[str, int]):
        self.caps = dict(caps)

    def fit(self, context: RuleContext) -> None:
        self.cap_days = int(context.cap_days)
        self.cap_limits_ = np.array([self.caps.get(c, np.iinfo(np.int32).max) for c in CHANNELS], dtype=np.int64)
        self.cap_touches_ = context.per_hcp(context.snapshot.cap_touches.astype(np.int64), missing=0)
        self.capped_ = self.cap_touches_ >= self.cap_limits_[None, :]

    def allows(self, ask: Ask) -> np.ndarray:
        """A touch on day ``d`` joins every window ``(u - cap_days, u]`` with ``u`` in ``[d, d + cap_days)``;
        the fullest of them ends at ``d`` or at a later touch, so those are the windows checked."""
        calendar = ask.calendar
        day = np.asarray(ask.day, dtype=np.float64)[:, None, None]                 # [n, 1, 1]
        later = np.where((calendar > day) & (calendar < day + self.cap_days), calendar, np.nan)
        ends = np.concatenate([np.broadcast_to(day, calendar.shape[:2] + (1,)), later], axis=2)[..., None]
        # [n, K, E, M]; empty slots and absent ends are NaN, whose comparisons are all False
        inside = (calendar[:, :, None, :] > ends - self.cap_days) & (calendar[:, :, None, :] <= ends)
        fullest = inside.sum(axis=3).max(axis=2)                                              # [n, K]
        return fullest + 1 <= self.cap_limits_[None, :]

    def possible(self, ask: Ask, last_day: float) -> np.ndarray:
        return self.cap_limits_[None, :] >= 1  # some day of a long enough plan the window is empty

    def note(self, hcp: int, channel: int, planned: int = 0) -> str | None:
        touches = int(self.cap_touches_[hcp, channel])
        if touches + planned < self.cap_limits_[channel]:
            return None
        planned_text = f" and {planned} planned" if planned else ""
        return f"{channel_label(CHANNELS[channel])} capped: {touches} touches{planned_text} in the last {self.cap_days} days"

    def day_note(self, channel: int) -> str | None:
        if CHANNELS[channel] not in self.caps:
            return None
        return (f"{channel_label(CHANNELS[channel])} capped on this day: at most {int(self.cap_limits_[channel])} "
                f"touches in {self.cap_days} days")

    def channel_summary(self, hcp: int, channel: int) -> dict:
        name = CHANNELS[channel]
        return {"touches_in_window": int(self.cap_touches_[hcp, channel]),
                "cap": None if name not in self.caps else int(self.caps[name]),
                "capped": bool(self.capped_[hcp, channel])}

    def summary(self, hcp: int) -> dict:
        return {"cap_days": self.cap_days}
