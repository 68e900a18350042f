"""The Recommender protocol every model and baseline implements, so one evaluation fits all.

A recommender is fit on ``data.train`` (``data.valid`` for early stopping) and scores the
whole catalogue for a batch of HCPs at ``data.cutoff``. The optional methods feed the channel,
engagement and timing metrics; a model that does not support one raises
``NotImplementedError`` (or returns ``None``) and its metric is reported as ``null``.
"""
from __future__ import annotations

import numpy as np

from engine.config import CHANNELS
from engine.progress import QUIET

N_CHANNELS = len(CHANNELS)
#: HCPs scored per call by the evaluation and the helpers below (bounds memory at full size).
BATCH = 1024


class Recommender:
    """Base class: subclasses set ``name`` and implement ``fit`` and ``score_batch``.

    Attributes
    ----------
    name : str
        The key the model is reported under (``popularity``, ``hybrid`` ...).
    """

    name: str = "recommender"

    def fit(self, data, progress=QUIET) -> "Recommender":
        """Learn from ``data.train`` (and ``data.valid``); return ``self``."""
        raise NotImplementedError

    def score_batch(self, hcp_idx) -> np.ndarray:
        """``[len(hcp_idx), n_contents]`` ranking scores at ``data.cutoff`` (higher = better)."""
        raise NotImplementedError

    def channel_probabilities(self, hcp_idx) -> np.ndarray | None:
        """``[n, n_contents, n_channels]`` probability of each channel being the best for the pair."""
        raise NotImplementedError

    def engagement_probability(self, hcp_idx, content_idx, channel_idx) -> np.ndarray | None:
        """``[n]`` probability that a touch (hcp, content, channel) at ``data.cutoff`` is engaged."""
        raise NotImplementedError

    def next_channel_probabilities(self, hcp_idx) -> np.ndarray | None:
        """``[n, n_channels]`` probability of the channel of each HCP's next touch."""
        raise NotImplementedError

    def next_gap_days(self, hcp_idx) -> np.ndarray | None:
        """``[n]`` predicted days from each HCP's last touch before the cutoff to its next touch."""
        raise NotImplementedError

    # Touch-level helpers used by the evaluation. The defaults derive them from the protocol
    # methods above; a model that knows better (the oracle scores each touch at its own time)
    # overrides them.
    def pair_scores(self, hcp_idx) -> np.ndarray | None:
        """``[n, n_contents, n_channels]`` value of each (content, channel) pair, or ``None``.

        When available the policy evaluation ranks pairs by it directly; otherwise it ranks
        contents by ``score_batch`` and picks each content's most probable channel.
        """
        return None

    def touch_channel_probabilities(self, touches) -> np.ndarray | None:
        """``[len(touches), n_channels]`` channel probabilities for the touches' (hcp, content) pairs.

        ``touches`` is an interaction frame with ``hcp_idx`` and ``content_idx``. A model with
        engagement probabilities chooses the channel by them: they are normalised over channels,
        touch by touch (linear in the touches). Otherwise each HCP's :meth:`channel_probabilities`
        over the catalogue is gathered at its touches' contents; ``None`` when neither exists.
        """
        hcp = touches["hcp_idx"].to_numpy()
        content = touches["content_idx"].to_numpy()
        per_channel = [optional(self.engagement_probability, hcp, content, np.full(len(hcp), channel))
                       for channel in range(N_CHANNELS)]
        if all(p is not None for p in per_channel):
            out = np.column_stack(per_channel).astype(float)
            return out / np.clip(out.sum(axis=1, keepdims=True), 1e-12, None)
        out = np.empty((len(hcp), N_CHANNELS))
        unique, inverse = np.unique(hcp, return_inverse=True)
        by_hcp = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[by_hcp], np.arange(0, len(unique) + BATCH, BATCH))
        for number, start in enumerate(range(0, len(unique), BATCH)):
            probs = optional(self.channel_probabilities, unique[start:start + BATCH])
            if probs is None:
                return None
            rows = by_hcp[bounds[number]:bounds[number + 1]]
            out[rows] = probs[inverse[rows] - start, content[rows]]
        return out

    def touch_engagement_probability(self, touches) -> np.ndarray | None:
        """``[len(touches)]`` engagement probability of each touch (``hcp_idx``, ``content_idx``, ``channel_idx``)."""
        return optional(self.engagement_probability, touches["hcp_idx"].to_numpy(),
                        touches["content_idx"].to_numpy(), touches["channel_idx"].to_numpy())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def optional(method, *args):
    """Call an optional Recommender method; ``None`` when the model does not support it."""
    try:
        return method(*args)
    except NotImplementedError:
        return None
