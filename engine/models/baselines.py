"""Baseline recommenders the hybrid model must beat, plus the random floor and the oracle ceiling.

All implement :class:`engine.models.base.Recommender` and learn only from what happened before
``data.cutoff`` (``data.history``: train + validation).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from engine.data.schemas import OUTCOMES
from engine.models.base import N_CHANNELS, Recommender
from engine.models.features import content_freshness
from engine.progress import QUIET

#: Strength of each outcome when building engagement-weighted profiles.
OUTCOME_WEIGHT = {name: float(i) for i, name in enumerate(OUTCOMES)}


def _recency_weights(times: pd.Series, cutoff: pd.Timestamp, half_life_days: float | None) -> np.ndarray:
    if half_life_days is None:
        return np.ones(len(times))
    age_days = (cutoff - times).dt.total_seconds().to_numpy() / 86_400.0
    return 0.5 ** (age_days / half_life_days)


def _smoothed_rates(engaged: np.ndarray, touches: np.ndarray, prior: np.ndarray, strength: float) -> np.ndarray:
    """Engagement rate shrunk towards ``prior`` by ``strength`` pseudo-touches."""
    return (engaged + strength * prior) / (touches + strength)


class PopularityRecommender(Recommender):
    """Global popularity: recency-weighted count of engaged touches per content.

    Engagement probability is the smoothed engagement rate of the (content, channel) pair.

    Parameters
    ----------
    half_life_days : weight of an engagement halves every this many days before the cutoff
        (``None``: plain counts).
    smoothing : pseudo-touches shrinking each pair's rate towards its channel's rate.
    """

    name = "popularity"

    def __init__(self, half_life_days: float | None = 60.0, smoothing: float = 20.0):
        self.half_life_days = half_life_days
        self.smoothing = smoothing

    def fit(self, data, progress=QUIET) -> "PopularityRecommender":
        history = data.history
        engaged = history["engaged"].to_numpy()
        weights = _recency_weights(history["timestamp"], data.cutoff, self.half_life_days)
        self.popularity_ = np.bincount(history["content_idx"], weights=weights * engaged, minlength=data.n_contents)
        pair = history["content_idx"].to_numpy() * N_CHANNELS + history["channel_idx"].to_numpy()
        touches = np.bincount(pair, minlength=data.n_contents * N_CHANNELS).reshape(-1, N_CHANNELS)
        hits = np.bincount(pair, weights=engaged, minlength=data.n_contents * N_CHANNELS).reshape(-1, N_CHANNELS)
        channel_rate = (hits.sum(axis=0) + 1.0) / (touches.sum(axis=0) + 2.0)
        self.engagement_rate_ = _smoothed_rates(hits, touches, channel_rate[None, :], self.smoothing)
        progress("baselines", f"{self.name}: fitted on {len(history):,} touches")
        return self

    def score_batch(self, hcp_idx) -> np.ndarray:
        return np.broadcast_to(self.popularity_, (len(hcp_idx), len(self.popularity_))).copy()

    def engagement_probability(self, hcp_idx, content_idx, channel_idx) -> np.ndarray:
        return self.engagement_rate_[np.asarray(content_idx), np.asarray(channel_idx)]


class SpecialtyPopularityRecommender(Recommender):
    """Popularity within the HCP's specialty, shrunk towards global popularity for small specialties.

    Parameters
    ----------
    half_life_days : recency weighting as in :class:`PopularityRecommender`.
    prior_weight : pseudo-engagements of global popularity mixed into each specialty's counts.
    smoothing : pseudo-touches shrinking a specialty's (content, channel) rate towards the global one.
    """

    name = "specialty_popularity"

    def __init__(self, half_life_days: float | None = 60.0, prior_weight: float = 5.0, smoothing: float = 20.0):
        self.half_life_days = half_life_days
        self.prior_weight = prior_weight
        self.smoothing = smoothing

    def fit(self, data, progress=QUIET) -> "SpecialtyPopularityRecommender":
        specialty = data.hcps["specialty"].fillna("").astype(str)
        self.specialties_, self.hcp_specialty_ = np.unique(specialty.to_numpy(), return_inverse=True)
        n_spec, n_c = len(self.specialties_), data.n_contents
        history = data.history
        spec = self.hcp_specialty_[history["hcp_idx"].to_numpy()]
        content = history["content_idx"].to_numpy()
        engaged = history["engaged"].to_numpy()
        weights = _recency_weights(history["timestamp"], data.cutoff, self.half_life_days)
        counts = np.bincount(spec * n_c + content, weights=weights * engaged, minlength=n_spec * n_c).reshape(n_spec, n_c)
        global_share = counts.sum(axis=0) / max(counts.sum(), 1e-12)
        self.popularity_ = counts + self.prior_weight * global_share[None, :]

        pair = (spec * n_c + content) * N_CHANNELS + history["channel_idx"].to_numpy()
        size = n_spec * n_c * N_CHANNELS
        touches = np.bincount(pair, minlength=size).reshape(n_spec, n_c, N_CHANNELS)
        hits = np.bincount(pair, weights=engaged, minlength=size).reshape(n_spec, n_c, N_CHANNELS)
        global_touches, global_hits = touches.sum(axis=0), hits.sum(axis=0)
        channel_rate = (global_hits.sum(axis=0) + 1.0) / (global_touches.sum(axis=0) + 2.0)
        global_rate = _smoothed_rates(global_hits, global_touches, channel_rate[None, :], self.smoothing)
        self.engagement_rate_ = _smoothed_rates(hits, touches, global_rate[None], self.smoothing)
        progress("baselines", f"{self.name}: {n_spec} specialties")
        return self

    def score_batch(self, hcp_idx) -> np.ndarray:
        return self.popularity_[self.hcp_specialty_[np.asarray(hcp_idx)]]

    def engagement_probability(self, hcp_idx, content_idx, channel_idx) -> np.ndarray:
        spec = self.hcp_specialty_[np.asarray(hcp_idx)]
        return self.engagement_rate_[spec, np.asarray(content_idx), np.asarray(channel_idx)]


class TopicsRecommender(Recommender):
    """Content-based: cosine of the HCP's engagement-weighted topic profile with each content's topics.

    The profile is the sum of the topic vectors of the contents the HCP touched, weighted by
    outcome strength (delivered 0 … attended 3) and recency. The cosine is weighted by the share
    of the next ``window_days`` the content is approved in (content that cannot be sent cannot be
    engaged with; the approval calendar is known in advance) and by its freshness at the cutoff
    (:func:`engine.models.features.content_freshness`). HCPs without engagement fall back
    to global popularity, which also breaks ties.

    Parameters
    ----------
    half_life_days : recency weighting of the profile.
    window_days : the window after the cutoff whose approval calendar weights the scores.
    """

    name = "topics"

    def __init__(self, half_life_days: float | None = 90.0, window_days: float = 90.0):
        self.half_life_days = half_life_days
        self.window_days = window_days

    def fit(self, data, progress=QUIET) -> "TopicsRecommender":
        if data.content_topics is None:
            raise ValueError("topics baseline: data.content_topics is not set (fit the topic model first)")
        topics = np.asarray(data.content_topics, dtype=float)
        if topics.shape[0] != data.n_contents:
            raise ValueError(f"topics baseline: content_topics has {topics.shape[0]} rows, expected {data.n_contents}")
        self.content_topics_ = topics / np.clip(np.linalg.norm(topics, axis=1, keepdims=True), 1e-12, None)
        history = data.history
        # the outcome's categories are mapped, not each touch's text
        strength = history["outcome"].map(OUTCOME_WEIGHT).astype(float).fillna(0.0).to_numpy()
        strength = strength * _recency_weights(history["timestamp"], data.cutoff, self.half_life_days)
        hcp, content = history["hcp_idx"].to_numpy(), history["content_idx"].to_numpy()
        # HCP x content strengths times the topics: never a [touches, topics] array
        profile = sp.csr_matrix((strength, (hcp, content)), shape=(data.n_hcps, data.n_contents)) @ self.content_topics_
        self.profiles_ = profile / np.clip(np.linalg.norm(profile, axis=1, keepdims=True), 1e-12, None)
        popularity = np.bincount(content, weights=history["engaged"].to_numpy(), minlength=data.n_contents)
        self.tie_break_ = 1e-3 * popularity / max(popularity.max(), 1.0)
        # new content is what gets sent and engaged with (and what HCPs engage with more)
        at = np.datetime64(pd.Timestamp(data.cutoff), "us")
        self.available_ = (data.calendar.share(data.cutoff, self.window_days)
                           * content_freshness(data.calendar.first_dates(), at))
        progress("baselines", f"{self.name}: {topics.shape[1]} topics")
        return self

    def score_batch(self, hcp_idx) -> np.ndarray:
        cosine = self.profiles_[np.asarray(hcp_idx)] @ self.content_topics_.T + self.tie_break_[None, :]
        return cosine * self.available_[None, :]


class RandomRecommender(Recommender):
    """The floor: seeded uniform scores and channel choices, the global engagement rate for every touch."""

    name = "random"

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, data, progress=QUIET) -> "RandomRecommender":
        self.n_contents_ = data.n_contents
        self.engagement_rate_ = float(data.history["engaged"].mean())
        return self

    def _uniform(self, hcp_idx, width: int, columns=None) -> np.ndarray:
        """``[n, width]`` uniforms in (0, 1) that depend only on (seed, hcp, column): the same HCP gets
        the same numbers whatever the batching (a vectorised splitmix64 hash, no generator per HCP).
        ``columns`` (``[n, m]``): only those columns of each row."""
        hcp = np.asarray(hcp_idx, dtype=np.uint64)[:, None]
        columns = np.arange(width)[None, :] if columns is None else columns
        with np.errstate(over="ignore"):  # wrap-around multiplication is the point of the hash
            x = (hcp * np.uint64(width) + np.asarray(columns, dtype=np.uint64)
                 + np.uint64(self.seed) * np.uint64(0x9E3779B97F4A7C15))
            x = (x + np.uint64(0x9E3779B97F4A7C15))
            x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            x = x ^ (x >> np.uint64(31))
        return ((x >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)

    def score_batch(self, hcp_idx) -> np.ndarray:
        return self._uniform(hcp_idx, self.n_contents_)

    def channel_probabilities(self, hcp_idx) -> np.ndarray:
        # Normalised exponentials = a uniform (flat Dirichlet) draw over channels per content.
        draws = -np.log(self._uniform(hcp_idx, self.n_contents_ * N_CHANNELS))
        draws = draws.reshape(len(draws), self.n_contents_, N_CHANNELS)
        return draws / draws.sum(axis=2, keepdims=True)

    def touch_channel_probabilities(self, touches) -> np.ndarray:
        """The draws of :meth:`channel_probabilities` at the touches' contents only (linear in the touches)."""
        content = touches["content_idx"].to_numpy()
        columns = content[:, None] * N_CHANNELS + np.arange(N_CHANNELS)[None, :]
        draws = -np.log(self._uniform(touches["hcp_idx"].to_numpy(), self.n_contents_ * N_CHANNELS, columns))
        return draws / draws.sum(axis=1, keepdims=True)

    def engagement_probability(self, hcp_idx, content_idx, channel_idx) -> np.ndarray:
        return np.full(len(hcp_idx), self.engagement_rate_)


class OracleRecommender(Recommender):
    """The ceiling: the synthetic world's true engagement probabilities.

    Ranking = max over channels of the true probability at the cutoff; a touch's engagement
    probability = the true probability at the moment of the touch; channel choice = argmax over
    channels of the true probability at the touch time.

    Parameters
    ----------
    oracle : the world truth (:class:`engine.synth.Oracle`). It is given to the evaluation only
        (``evaluate_models(..., oracle=)``), never inside the data the models are fit on.
    """

    name = "oracle"

    def __init__(self, oracle):
        if oracle is None:
            raise ValueError("oracle baseline: no world truth for this store")
        self.oracle_ = oracle

    def fit(self, data, progress=QUIET) -> "OracleRecommender":
        oracle = self.oracle_
        self.cutoff_ = data.cutoff
        self.hcp_map_ = pd.Index(np.asarray(oracle.hcp_ids).astype(str)).get_indexer(data.hcp_ids)
        self.content_map_ = pd.Index(np.asarray(oracle.content_ids).astype(str)).get_indexer(data.content_ids)
        missing = int((self.hcp_map_ < 0).sum() + (self.content_map_ < 0).sum())
        if missing:
            raise ValueError(f"oracle baseline: {missing} HCP/content id(s) of the store are unknown to the "
                             "world truth (the store no longer holds the generated world)")
        self.interaction_p_ = self._interaction_probabilities(oracle, data)
        return self

    @staticmethod
    def _interaction_probabilities(oracle, data) -> pd.Series:
        """True p per interaction_id: the truth is in the world's row order, whose ids count up from
        the smallest id (unless the oracle carries ``interaction_ids``)."""
        p = np.asarray(oracle.interaction_probability, dtype=float)
        ids = getattr(oracle, "interaction_ids", None)
        if ids is None:
            first = min(int(f["interaction_id"].min()) for f in (data.train, data.valid, data.test) if len(f))
            ids = first + np.arange(len(p))
        return pd.Series(p, index=np.asarray(ids, dtype=np.int64))

    def pair_scores(self, hcp_idx) -> np.ndarray:
        matrix = self.oracle_.score_matrix(self.hcp_map_[np.asarray(hcp_idx)], self.cutoff_)
        return np.asarray(matrix)[:, self.content_map_, :]

    def score_batch(self, hcp_idx) -> np.ndarray:
        return self.pair_scores(hcp_idx).max(axis=2)

    def channel_probabilities(self, hcp_idx) -> np.ndarray:
        pairs = self.pair_scores(hcp_idx)
        return pairs / np.clip(pairs.sum(axis=2, keepdims=True), 1e-12, None)

    def touch_engagement_probability(self, touches) -> np.ndarray:
        p = self.interaction_p_.reindex(touches["interaction_id"].to_numpy(dtype=np.int64)).to_numpy()
        if np.isnan(p).any():
            raise ValueError("oracle baseline: some interactions are unknown to the world truth")
        return p

    def touch_channel_probabilities(self, touches) -> np.ndarray:
        """True probability of each channel at the touch's own time, normalised over channels."""
        hcp = self.hcp_map_[touches["hcp_idx"].to_numpy()]
        content = self.content_map_[touches["content_idx"].to_numpy()]
        at = pd.to_datetime(touches["timestamp"]).to_numpy()
        out = np.column_stack([self.oracle_.probability(hcp, content, np.full(len(hcp), channel), at)
                               for channel in range(N_CHANNELS)])
        return out / np.clip(out.sum(axis=1, keepdims=True), 1e-12, None)


BASELINES = {
    "popularity": PopularityRecommender,
    "specialty_popularity": SpecialtyPopularityRecommender,
    "topics": TopicsRecommender,
    "random": RandomRecommender,
}


def fit_baselines(data, progress=QUIET, seed: int = 0) -> dict[str, Recommender]:
    """Fit every baseline that applies to ``data`` (``topics`` needs ``data.content_topics``), keyed
    by name. The oracle is not one of them: the evaluation builds it from the world truth."""
    models: dict[str, Recommender] = {}
    for name, cls in BASELINES.items():
        if name == "topics" and data.content_topics is None:
            progress("baselines", "topics: skipped (no content topics)")
            continue
        model = cls(seed=seed) if name == "random" else cls()
        models[name] = model.fit(data, progress)
    return models

