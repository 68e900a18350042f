"""Per-HCP features shared by the sequence, hybrid and serving models.

Everything here is computed *as of* a time (per HCP): only touches strictly before it count, so
the hybrid can be trained on features as of an earlier time and labels after it, then served on
features as of the cutoff, with no leakage of the label touches into the features.

- :class:`TouchLog` — one HCP-sorted copy of the interactions with the arrays the models need.
- :class:`ProfileEncoder` — specialty / segment one-hot and consent.
- :func:`history_features` — per-channel and per-topic engagement rates (shrunk), momentum,
  load and recency, collaborative embedding of the engaged contents, as of any time per HCP.
- :func:`sequence_windows` — left-padded tensors of the last ``L`` touches before positions.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from engine.config import CHANNELS
from engine.data.schemas import OUTCOMES

N_CHANNELS = len(CHANNELS)
N_OUTCOMES = len(OUTCOMES)
DAY = np.timedelta64(1, "D")
#: Interest half-life: recent engagement says more about today's interests than old engagement.
TOPIC_HALF_LIFE_DAYS = 90.0
#: Days since the last touch reported for an HCP with no touch at all.
NO_HISTORY_DAYS = 365.0


def _csr(values: np.ndarray, rows: np.ndarray, columns: np.ndarray, shape: tuple):
    """A sparse matrix of (row, column, value) triplets (scipy: training only, so a web worker importing
    this module for its constants never loads scipy.sparse: 9 MB and 0.1 s)."""
    from scipy.sparse import csr_matrix

    return csr_matrix((values, (rows, columns)), shape=shape)


def as_times(at, n: int) -> np.ndarray:
    """``at`` (a timestamp or an array of them) as ``datetime64[us]`` of length ``n``."""
    if np.ndim(at) == 0:
        return np.full(n, np.datetime64(pd.Timestamp(at), "us"))
    return np.asarray(at, dtype="datetime64[us]")


@dataclass
class TouchLog:
    """Interactions sorted by (HCP, time) as plain arrays, with CSR row pointers per HCP.

    Attributes
    ----------
    hcp, content : int32 arrays per touch; channel, outcome : int8 arrays per touch.
    engaged : bool array per touch.
    time : ``datetime64[us]`` per touch.
    indptr : ``[n_hcps + 1]``; the touches of HCP ``h`` are ``indptr[h]:indptr[h + 1]``.
    """

    hcp: np.ndarray
    content: np.ndarray
    channel: np.ndarray
    outcome: np.ndarray
    engaged: np.ndarray
    time: np.ndarray
    indptr: np.ndarray

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, n_hcps: int) -> "TouchLog":
        """The touches of an indexed interactions frame (``hcp_idx``, ``content_idx``, ``channel_idx``,
        ``outcome``, ``engaged``, ``timestamp``), in compact dtypes: 19 bytes a touch."""
        hcp = frame["hcp_idx"].to_numpy(np.int32)
        time = pd.to_datetime(frame["timestamp"]).to_numpy("datetime64[us]")
        order = np.lexsort((time, hcp))
        outcome = frame["outcome"]
        if isinstance(outcome.dtype, pd.CategoricalDtype):  # the categories once, not every row
            outcome = pd.Index(OUTCOMES).get_indexer(outcome.cat.categories.astype(str))[outcome.cat.codes.to_numpy()]
            outcome[frame["outcome"].isna().to_numpy()] = -1
        else:
            outcome = pd.Index(OUTCOMES).get_indexer(outcome.astype(str))
        outcome = np.where(outcome < 0, 0, outcome).astype(np.int8)  # unknown outcome spellings count as 'delivered'
        indptr = np.zeros(n_hcps + 1, dtype=np.int64)
        np.cumsum(np.bincount(hcp, minlength=n_hcps), out=indptr[1:])
        return cls(hcp=hcp[order], content=frame["content_idx"].to_numpy(np.int32)[order],
                   channel=frame["channel_idx"].to_numpy(np.int8)[order], outcome=outcome[order],
                   engaged=frame["engaged"].to_numpy(bool)[order], time=time[order], indptr=indptr)

    @property
    def n_hcps(self) -> int:
        return len(self.indptr) - 1

    def __len__(self) -> int:
        return len(self.hcp)

    def ends_before(self, at) -> np.ndarray:
        """``[n_hcps]`` position one past each HCP's last touch strictly before ``at`` (per HCP)."""
        at = as_times(at, self.n_hcps)
        before = self.time < at[self.hcp]
        counts = np.bincount(self.hcp[before], minlength=self.n_hcps)
        return self.indptr[:-1] + counts

    @cached_property
    def log_gaps(self) -> np.ndarray:
        """float32 ``log1p`` of :meth:`gap_days` (what the LSTM reads), computed once per log."""
        return np.log1p(self.gap_days()).astype(np.float32)

    def gap_days(self) -> np.ndarray:
        """Days since the HCP's previous touch (0 for its first touch)."""
        gaps = np.zeros(len(self), dtype=np.float64)
        if len(self) > 1:
            delta = (self.time[1:] - self.time[:-1]) / DAY
            same = self.hcp[1:] == self.hcp[:-1]
            gaps[1:] = np.where(same, np.maximum(delta, 0.0), 0.0)
        return gaps


class ProfileEncoder:
    """Static HCP profile: specialty / segment one-hot and channel consent, fixed column layout.

    Parameters
    ----------
    max_specialties : the most frequent specialties get a column; the rest share "other".

    Attributes
    ----------
    specialties_, segments_ : the one-hot vocabularies.
    feature_names_ : column names of :meth:`transform`.
    """

    def __init__(self, max_specialties: int = 40):
        self.max_specialties = max_specialties

    def fit(self, hcps: pd.DataFrame) -> "ProfileEncoder":
        spec = hcps["specialty"].fillna("").astype(str)
        self.specialties_ = spec.value_counts().index[: self.max_specialties].tolist()
        seg = hcps["segment"].fillna("").astype(str) if "segment" in hcps else pd.Series([""] * len(hcps))
        self.segments_ = sorted(seg.unique().tolist())[:20]
        self.feature_names_ = ([f"specialty={s}" for s in self.specialties_] + ["specialty=other"]
                               + [f"segment={s}" for s in self.segments_] + [f"consent_{c}" for c in CHANNELS])
        return self

    def specialty_index(self, hcps: pd.DataFrame) -> np.ndarray:
        """``[n_hcps]`` column of each HCP's specialty (``len(specialties_)`` = other)."""
        idx = pd.Index(self.specialties_).get_indexer(hcps["specialty"].fillna("").astype(str))
        return np.where(idx < 0, len(self.specialties_), idx).astype(np.int64)

    def transform(self, hcps: pd.DataFrame) -> np.ndarray:
        """``[n_hcps, n_features]`` float32."""
        n = len(hcps)
        spec_1h = np.eye(len(self.specialties_) + 1, dtype=np.float32)[self.specialty_index(hcps)]
        seg = hcps["segment"].fillna("").astype(str) if "segment" in hcps else pd.Series([""] * n)
        seg_idx = pd.Index(self.segments_).get_indexer(seg)
        seg_1h = np.zeros((n, len(self.segments_)), dtype=np.float32)
        seg_1h[np.flatnonzero(seg_idx >= 0), seg_idx[seg_idx >= 0]] = 1.0
        consent = np.column_stack([hcps[f"consent_{c}"].fillna(False).to_numpy(bool) for c in CHANNELS])
        return np.hstack([spec_1h, seg_1h, consent]).astype(np.float32)


def sequence_windows(log: TouchLog, ends: np.ndarray, starts: np.ndarray, length: int) -> dict[str, np.ndarray]:
    """Left-padded tensors of the touches ``[max(start, end - length), end)`` for each row.

    Returns ``content`` and ``channel`` and ``outcome`` (index + 1, 0 = padding) as int32
    ``[n, length]``, and ``gap`` (log1p days since the previous touch) and ``engaged`` as float32.
    """
    ends = np.asarray(ends, dtype=np.int64)
    starts = np.asarray(starts, dtype=np.int64)
    pos = ends[:, None] - length + np.arange(length)[None, :]
    valid = pos >= starts[:, None]
    pos = np.where(valid, pos, 0)
    gaps = log.log_gaps

    def take(values, offset, dtype):
        if len(values) == 0:
            return np.zeros(pos.shape, dtype=dtype)
        return np.where(valid, values[pos] + offset, 0).astype(dtype)

    return {"content": take(log.content, 1, np.int32), "channel": take(log.channel, 1, np.int32),
            "outcome": take(log.outcome, 1, np.int32), "gap": take(gaps, 0, np.float32),
            "engaged": take(log.engaged.astype(np.float32), 0, np.float32)}


#: Time constants (days) of the recent-history features: touch load, channel and topic momentum.
LOAD_TAU_DAYS = 21.0
CHANNEL_TAU_DAYS = 45.0
FOLLOW_TAU_DAYS = 60.0
#: Pseudo-touches shrinking an HCP's per-channel / per-topic engagement rate toward the population's.
RATE_PRIOR_TOUCHES = 3.0
#: Queries per chunk of the (query, earlier touch) pair expansion (bounds memory at full size).
QUERY_CHUNK = 100_000


def history_features(log: TouchLog, hcp: np.ndarray, end: np.ndarray, at, content_topics: np.ndarray,
                     item_factors: np.ndarray, channel_prior: np.ndarray, topic_prior: np.ndarray) -> dict:
    """Per-query HCP features from the touches ``log[indptr[hcp] : end]`` (all strictly before ``at``).

    A query is an HCP at a time: a training touch (its own earlier touches) or the cutoff. All
    statistics are computed from that HCP's earlier touches only, so training touches can be
    labelled with features as of their own time without leakage.

    Returns float32 blocks ``[n, ...]``:

    - ``channels``: per channel the shrunk engagement rate, log1p touches, log1p decayed
      engagements (channel momentum); then log1p touches, shrunk overall rate, log1p days since
      the last touch, decayed touch load (fatigue) and whether there is any history.
    - ``interests``: per topic the shrunk engagement rate of touches on it (what the HCP engages
      with *given* what was sent) and the mean topic of engaged touches.
    - ``recent``: decayed engaged topics (follow-up interest), decayed engagement per channel,
      log1p days since the last touch, decayed touch load.
    - ``peers``: recency-weighted mean collaborative embedding of the engaged contents.
    """
    hcp = np.asarray(hcp, dtype=np.int64)
    end = np.asarray(end, dtype=np.int64)
    at = as_times(at, len(hcp)) if np.ndim(at) == 0 else np.asarray(at, dtype="datetime64[us]")
    chunks = [_history_chunk(log, hcp[s:s + QUERY_CHUNK], end[s:s + QUERY_CHUNK], at[s:s + QUERY_CHUNK],
                             content_topics, item_factors, channel_prior, topic_prior)
              for s in range(0, max(len(hcp), 1), QUERY_CHUNK)]
    return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}


def _history_chunk(log, hcp, end, at, topics, factors, channel_prior, topic_prior) -> dict:
    n = len(hcp)
    start = log.indptr[hcp]
    lengths = np.maximum(end - start, 0)
    query = np.repeat(np.arange(n), lengths)
    pos = np.repeat(start - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) + np.arange(lengths.sum())
    age = np.maximum((at[query] - log.time[pos]) / DAY, 0.0)
    eng = log.engaged[pos].astype(np.float64)
    chan = log.channel[pos]
    content = log.content[pos]

    def per_query(weights):
        return np.bincount(query, weights=weights, minlength=n)

    def per_query_channel(weights):
        return np.bincount(query * N_CHANNELS + chan, weights=weights, minlength=n * N_CHANNELS).reshape(n, N_CHANNELS)

    def per_query_topic(weights):
        m = _csr(weights, query, content, shape=(n, len(topics)))
        return np.asarray(m @ topics, dtype=np.float64)

    touches = lengths.astype(np.float64)
    engaged = per_query(eng)
    ch_touch = per_query_channel(np.ones(len(pos)))
    ch_eng = per_query_channel(eng)
    ch_rate = (ch_eng + RATE_PRIOR_TOUCHES * channel_prior) / (ch_touch + RATE_PRIOR_TOUCHES)
    ch_momentum = per_query_channel(eng * np.exp(-age / CHANNEL_TAU_DAYS))
    load = per_query(np.exp(-age / LOAD_TAU_DAYS))
    has = lengths > 0
    last_age = np.full(n, NO_HISTORY_DAYS)
    last_age[has] = age[np.cumsum(lengths)[has] - 1]  # pairs of a query are in time order
    rate = (engaged + RATE_PRIOR_TOUCHES * channel_prior.mean()) / (touches + RATE_PRIOR_TOUCHES)
    channels = np.column_stack([ch_rate, np.log1p(ch_touch), np.log1p(ch_momentum), np.log1p(touches), rate,
                                np.log1p(last_age), load, has])

    t_touch = per_query_topic(np.ones(len(pos)))
    t_eng = per_query_topic(eng)
    t_rate = (t_eng + RATE_PRIOR_TOUCHES * topic_prior) / (t_touch + RATE_PRIOR_TOUCHES)
    t_mean = t_eng / np.maximum(engaged, 1e-9)[:, None]
    interests = np.hstack([t_rate, t_mean])

    follow = per_query_topic(eng * np.exp(-age / FOLLOW_TAU_DAYS))
    recent = np.hstack([np.log1p(follow), np.log1p(ch_momentum), np.log1p(last_age)[:, None], load[:, None]])

    weight = eng * np.exp2(-age / TOPIC_HALF_LIFE_DAYS)
    m = _csr(weight, query, content, shape=(n, len(factors)))
    peers = np.asarray(m @ factors) / np.maximum(per_query(weight), 1e-9)[:, None]
    return {"channels": channels.astype(np.float32), "interests": interests.astype(np.float32),
            "recent": recent.astype(np.float32), "peers": peers.astype(np.float32)}


def content_freshness(start: np.ndarray, at) -> np.ndarray:
    """``exp(-age / 180 days)`` of content available since ``start`` at ``at`` (1 = brand new, 0 when unknown)."""
    days = (np.asarray(at, dtype="datetime64[us]") - start) / DAY
    days = np.nan_to_num(np.asarray(days, dtype=np.float64), nan=np.inf)
    return np.exp(-np.clip(days, 0.0, None) / 180.0).astype(np.float32)


def topic_profile(log: TouchLog, at, content_topics: np.ndarray,
                  half_life_days: float = TOPIC_HALF_LIFE_DAYS) -> np.ndarray:
    """``[n_hcps, K]`` unit-norm topic profile of each HCP from its touches strictly before ``at``.

    The sum of the (unit-norm) topic vectors of the touched contents weighted by outcome strength
    (delivered 0 … attended 3) and recency; zero rows for HCPs without an opened touch.
    """
    topics = np.asarray(content_topics, dtype=np.float64)
    unit = topics / np.clip(np.linalg.norm(topics, axis=1, keepdims=True), 1e-12, None)
    at = as_times(at, log.n_hcps)[log.hcp]
    age = np.maximum((at - log.time) / DAY, 0.0)
    weight = log.outcome * np.exp2(-age / half_life_days) * (log.time < at)
    m = _csr(weight, log.hcp, log.content, shape=(log.n_hcps, len(topics)))
    profile = np.asarray(m @ unit)
    return (profile / np.clip(np.linalg.norm(profile, axis=1, keepdims=True), 1e-12, None)).astype(np.float32)
