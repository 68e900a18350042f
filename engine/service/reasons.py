"""Turn the scorer's additive factors into short sentences a field rep can read.

The hybrid scorer reports, per content item, how much each factor ("topic match", "peers",
"recent sequence", "channel affinity", ...) added to the engagement logit. The reason for a
recommendation is its largest positive contributions, in words, with the evidence behind them.
"""
from __future__ import annotations

import numpy as np

from engine.config import CHANNELS
from engine.config import channel_label

#: at most this many factors per reason list
MAX_REASONS = 3


def times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(int(n), f"{int(n)} times")


class ReasonWriter:
    """Words for factor contributions of one bundle over one data snapshot.

    Parameters
    ----------
    content_topic_labels : [n_contents] label of each content's dominant topic ('' if unknown).
    content_areas : [n_contents] therapeutic area, the fallback for topic wording.
    peer_counts : callable(hcp_idx) -> int [n_contents], similar HCPs that engaged with each item.
    recent_engaged : callable(hcp_idx) -> int [n_channels], the HCP's recent engaged touches.
    """

    def __init__(self, content_topic_labels, content_areas, peer_counts, recent_engaged):
        self.content_topic_labels = np.asarray(content_topic_labels, dtype=object)
        self.content_areas = np.asarray(content_areas, dtype=object)
        self.peer_counts = peer_counts
        self.recent_engaged = recent_engaged

    def reasons(self, hcp_idx: int, items: np.ndarray, channels: np.ndarray, factors: dict) -> list[list[str]]:
        """Reasons for each of ``items`` (content indices) recommended through ``channels`` (channel indices)."""
        if not len(items):
            return []
        names = list(factors)
        if not names:
            return [[] for _ in items]
        contributions = np.stack([np.asarray(factors[name])[items] for name in names], axis=1)  # [m, F]
        order = np.argsort(-contributions, axis=1, kind="stable")[:, :MAX_REASONS]
        values = np.take_along_axis(contributions, order, axis=1).tolist()
        peers = recent = None
        out = []
        for item, channel, ranked, vals in zip(items.tolist(), channels.tolist(), order.tolist(), values):
            chosen = [k for k, v in zip(ranked, vals) if v > 0] or ranked[:1]
            words = []
            for k in chosen:
                name = names[k]
                if name == "peers" and peers is None:
                    peers = self.peer_counts(hcp_idx)
                if name == "recent sequence" and recent is None:
                    recent = self.recent_engaged(hcp_idx)
                words.append(self._sentence(name, item, channel, peers, recent))
            out.append(words)
        return out

    def _sentence(self, name: str, item: int, channel: int, peers, recent) -> str:
        channel_name = channel_label(CHANNELS[channel]).lower()
        if name == "topic match":
            label = self.content_topic_labels[item] or self.content_areas[item]
            return f"Topic match: {label}" if label else "Topic match with this HCP's interests"
        if name == "peers":
            count = int(peers[item])
            if count:
                return f"Peers like this HCP engaged ({count} similar HCP{'s' if count != 1 else ''})"
            return "Peers like this HCP engage with similar content"
        if name == "recent sequence":
            if recent[channel] > 0:
                return f"Recent sequence: engaged {times(recent[channel])} on {channel_name}"
            if recent.sum() > 0:
                best = int(np.argmax(recent))
                return (f"Recent sequence: engaged {times(recent[best])} on "
                        f"{channel_label(CHANNELS[best]).lower()}; {channel_name} is the likely next step")
            return f"Recent sequence: {channel_name} is the likely next touch"
        if name == "channel affinity":
            return f"Channel affinity: prefers {channel_name}"
        if name == "content appeal":
            return f"Content appeal: engages well on {channel_name} overall"
        return f"{name[:1].upper()}{name[1:]}"
