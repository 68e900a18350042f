"""Per-HCP features shared by the sequence, hybrid and serving models.

Everything here is computed *as of* a time (per HCP): only touches strictly before it count, so
the hybrid can be trained on features as of an earlier time and labels after it, then served on
features as of the cutoff, with no leakage of the label touches into the features.

- :class:`TouchLog` — one HCP-sorted copy of the interactions with the arrays the models need.
- :class:`ProfileEncoder` — specialty / segment one-hot, consent, activity and per-channel
  engagement statistics, recency-weighted topic interests.
- :func:`sequence_windows` — left-padded tensors of the last ``L`` touches before positions.
"""
from __future__ import annotations

from dataclasses import dataclass

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
    hcp, content, channel, outcome : int arrays per touch.
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
        hcp = frame["hcp_idx"].to_numpy(np.int64)
        time = pd.to_datetime(frame["timestamp"]).to_numpy("datetime64[us]")
        order = np.lexsort((time, hcp))
        outcome = pd.Index(OUTCOMES).get_indexer(frame["outcome"].astype(str))
        outcome = np.where(outcome < 0, 0, outcome)  # unknown outcome spellings count as 'delivered'
        indptr = np.zeros(n_hcps + 1, dtype=np.int64)
        np.cumsum(np.bincount(hcp, minlength=n_hcps), out=indptr[1:])
        return cls(hcp=hcp[order], content=frame["content_idx"].to_numpy(np.int64)[order],
                   channel=frame["channel_idx"].to_numpy(np.int64)[order], outcome=outcome[order],
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

    def before_mask(self, at) -> np.ndarray:
        """Bool per touch: strictly before its HCP's ``at``."""
        return self.time < as_times(at, self.n_hcps)[self.hcp]

    def gap_days(self) -> np.ndarray:
        """Days since the HCP's previous touch (0 for its first touch)."""
        gaps = np.zeros(len(self), dtype=np.float64)
        if len(self) > 1:
            delta = (self.time[1:] - self.time[:-1]) / DAY
            same = self.hcp[1:] == self.hcp[:-1]
            gaps[1:] = np.where(same, np.maximum(delta, 0.0), 0.0)
        return gaps


class ProfileEncoder:
    """HCP profile features as of a time, with a fixed column layout learned from the HCP table.

    Parameters
    ----------
    max_specialties : the most frequent specialties get a column; the rest share "other".

    Attributes
    ----------
    specialties_, segments_ : the one-hot vocabularies.
    channel_prior_ : overall engagement rate per channel (shrinkage target of per-HCP rates).
    feature_names_ : column names of :meth:`transform`.
    """

    def __init__(self, max_specialties: int = 40):
        self.max_specialties = max_specialties

    def fit(self, hcps: pd.DataFrame, log: TouchLog) -> "ProfileEncoder":
        spec = hcps["specialty"].fillna("").astype(str)
        self.specialties_ = spec.value_counts().index[: self.max_specialties].tolist()
        seg = hcps["segment"].fillna("").astype(str) if "segment" in hcps else pd.Series([""] * len(hcps))
        self.segments_ = sorted(seg.unique().tolist())[:20]
        touches = np.bincount(log.channel, minlength=N_CHANNELS)
        engaged = np.bincount(log.channel[log.engaged], minlength=N_CHANNELS)
        self.channel_prior_ = (engaged + 1.0) / (touches + 2.0)
        self.feature_names_ = ([f"specialty={s}" for s in self.specialties_] + ["specialty=other"]
                               + [f"segment={s}" for s in self.segments_]
                               + [f"consent_{c}" for c in CHANNELS]
                               + ["log_touches", "log_engaged", "engaged_rate", "log_days_since_touch",
                                  "has_history", "log_touches_30d", "log_engaged_30d"]
                               + [f"share_{c}" for c in CHANNELS] + [f"rate_{c}" for c in CHANNELS])
        return self

    def transform(self, hcps: pd.DataFrame, log: TouchLog, at) -> np.ndarray:
        """``[n_hcps, n_features]`` float32 from the touches strictly before ``at``."""
        n = len(hcps)
        spec = hcps["specialty"].fillna("").astype(str)
        spec_idx = pd.Index(self.specialties_).get_indexer(spec)
        spec_idx = np.where(spec_idx < 0, len(self.specialties_), spec_idx)
        spec_1h = np.eye(len(self.specialties_) + 1, dtype=np.float32)[spec_idx]
        seg = hcps["segment"].fillna("").astype(str) if "segment" in hcps else pd.Series([""] * n)
        seg_idx = pd.Index(self.segments_).get_indexer(seg)
        seg_1h = np.zeros((n, len(self.segments_)), dtype=np.float32)
        seg_1h[np.flatnonzero(seg_idx >= 0), seg_idx[seg_idx >= 0]] = 1.0
        consent = np.column_stack([hcps[f"consent_{c}"].fillna(False).to_numpy(bool) for c in CHANNELS])

        at_h = as_times(at, n)
        keep = log.time < at_h[log.hcp]
        hcp, chan, eng, time = log.hcp[keep], log.channel[keep], log.engaged[keep], log.time[keep]
        touches = np.bincount(hcp, minlength=n).astype(np.float64)
        engaged = np.bincount(hcp[eng], minlength=n).astype(np.float64)
        rate = (engaged + 1.0) / (touches + 2.0)
        last = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
        if len(hcp):
            # Touches are sorted by (hcp, time): the last one of each HCP is its latest.
            is_last = np.r_[hcp[1:] != hcp[:-1], True]
            last[hcp[is_last]] = time[is_last]
        has = touches > 0
        since = np.where(has, (at_h - last) / DAY, NO_HISTORY_DAYS)
        recent = (at_h[hcp] - time) / DAY <= 30.0
        t30 = np.bincount(hcp[recent], minlength=n)
        e30 = np.bincount(hcp[recent & eng], minlength=n)
        cell = hcp * N_CHANNELS + chan
        ch_touch = np.bincount(cell, minlength=n * N_CHANNELS).reshape(n, N_CHANNELS).astype(np.float64)
        ch_eng = np.bincount(cell[eng], minlength=n * N_CHANNELS).reshape(n, N_CHANNELS).astype(np.float64)
        share = ch_touch / np.maximum(touches, 1.0)[:, None]
        # Shrink per-channel rates toward the population rate: 2 pseudo-touches of prior.
        ch_rate = (ch_eng + 2.0 * self.channel_prior_) / (ch_touch + 2.0)
        activity = np.column_stack([np.log1p(touches), np.log1p(engaged), rate, np.log1p(np.maximum(since, 0.0)),
                                    has, np.log1p(t30), np.log1p(e30)])
        return np.hstack([spec_1h, seg_1h, consent, activity, share, ch_rate]).astype(np.float32)


def topic_interests(log: TouchLog, content_topics: np.ndarray, at, n_hcps: int) -> np.ndarray:
    """``[n_hcps, 2K]``: recency-weighted mean topic of engaged touches, then of ignored touches.

    Zero rows for HCPs without such touches. Ignored touches tell what an HCP does *not* want.
    """
    k = content_topics.shape[1]
    at_h = as_times(at, n_hcps)
    keep = log.time < at_h[log.hcp]
    hcp, eng = log.hcp[keep], log.engaged[keep]
    age = (at_h[hcp] - log.time[keep]) / DAY
    weight = np.exp2(-age / TOPIC_HALF_LIFE_DAYS)
    topics = content_topics[log.content[keep]]
    out = np.zeros((n_hcps, 2 * k), dtype=np.float64)
    for block, sel in enumerate((eng, ~eng)):
        sums = np.column_stack([np.bincount(hcp[sel], weights=topics[sel, j] * weight[sel], minlength=n_hcps)
                                for j in range(k)])
        total = np.bincount(hcp[sel], weights=weight[sel], minlength=n_hcps)
        out[:, block * k:(block + 1) * k] = sums / np.maximum(total, 1e-9)[:, None]
    return out.astype(np.float32)


def content_start(contents: pd.DataFrame) -> np.ndarray:
    """``[n_contents]`` datetime64 when each content became available (approval start, else publication)."""
    nat = pd.Series([pd.NaT] * len(contents), dtype="datetime64[us]")
    start = pd.to_datetime(contents["approval_start"]) if "approval_start" in contents else nat
    if "publication_date" in contents:
        start = start.fillna(pd.to_datetime(contents["publication_date"]))
    return start.to_numpy("datetime64[us]")


def content_age(start: np.ndarray, at) -> np.ndarray:
    """log1p of days from ``start`` to ``at`` (both broadcastable), 0 when unknown or in the future."""
    days = (np.asarray(at, dtype="datetime64[us]") - start) / DAY
    return np.log1p(np.clip(np.nan_to_num(days, nan=0.0), 0.0, None)).astype(np.float32)


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
    gaps = np.log1p(log.gap_days()).astype(np.float32)

    def take(values, offset, dtype):
        if len(values) == 0:
            return np.zeros(pos.shape, dtype=dtype)
        return np.where(valid, values[pos] + offset, 0).astype(dtype)

    return {"content": take(log.content, 1, np.int32), "channel": take(log.channel, 1, np.int32),
            "outcome": take(log.outcome, 1, np.int32), "gap": take(gaps, 0, np.float32),
            "engaged": take(log.engaged.astype(np.float32), 0, np.float32)}
