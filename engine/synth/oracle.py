"""The ground truth of a synthetic world: hidden HCP state and the true engagement probability.

The simulator and the :class:`Oracle` share one function, :func:`engagement_logit`::

    logit p(h, i, c, t) = intercept_h + channel_base_c + affinity_hc + quality_i + fit_ic
                        + w_topic  * log(K * theta_h(t) . phi_i + 0.1)      topic match (drifting)
                        + w_fresh  * exp(-age_i(t) / tau_fresh)             freshness
                        - fatigue_h * sum_j exp(-(t - t_j) / tau_fatigue)   all recent touches
                        - w_soon   * max(0, 1 - gap_h(t) / cadence_h)       touched too soon
                        + w_momentum * log1p(sum_j engaged_j[c_j = c] exp(-(t - t_j) / tau_momentum))
                        + w_follow   * log1p(sum_j engaged_j phi_{i_j} . phi_i exp(-(t - t_j) / tau_follow))

``theta_h(t)`` interpolates linearly between the HCP's interests at the start and at the end
of the period (interests drift). History terms use only touches strictly before ``t``.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from engine.config import CHANNELS
from engine.ranking import top_k
from engine.rules.approval import ApprovalCalendar


@dataclass(frozen=True)
class Effects:
    """Weights and time constants (days) of the engagement model, shared by all HCPs."""

    topic: float = 0.9
    fresh: float = 0.45
    tau_fresh: float = 240.0
    tau_fatigue: float = 21.0
    too_soon: float = 1.1
    momentum: float = 0.5
    tau_momentum: float = 45.0
    follow: float = 0.6
    tau_follow: float = 60.0


@dataclass
class Hidden:
    """Hidden parameters: per HCP (``h``), per content (``i``), per channel (``c``), per theme (``k``).

    Times are days since the world's start.
    """

    theta_start: np.ndarray      # [h, k] topic interests at the start of the period (rows sum to 1)
    theta_end: np.ndarray        # [h, k] topic interests at the end of the period
    intercept: np.ndarray        # [h] responsiveness
    affinity: np.ndarray         # [h, c] channel affinity
    cadence: np.ndarray          # [h] preferred days between touches
    fatigue: np.ndarray          # [h] fatigue sensitivity
    consent: np.ndarray          # [h, c] bool, may be contacted on the channel
    phi: np.ndarray              # [i, k] content themes (rows sum to 1)
    quality: np.ndarray          # [i] content appeal
    content_channel: np.ndarray  # [i, c] how well a content suits a channel (format fit)
    publication_day: np.ndarray  # [i]
    approval_start_day: np.ndarray  # [i]
    approval_end_day: np.ndarray    # [i]
    channel_base: np.ndarray     # [c]
    period_days: float
    cluster_start: np.ndarray | None = None  # [h] taste cluster (peer group) at the start, when recorded
    cluster_end: np.ndarray | None = None    # [h] taste cluster at the end (some HCPs move)

    @property
    def approval(self) -> ApprovalCalendar:
        """The contents' approval calendar, in days since the world's start."""
        return ApprovalCalendar.from_days(self.approval_start_day, self.approval_end_day, self.publication_day)


def _compact(values: np.ndarray) -> np.ndarray:
    """Non-negative integers in the smallest unsigned dtype that holds them."""
    return values.astype(np.min_scalar_type(int(values.max()) if len(values) else 0))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def interests(hidden: Hidden, hcp_idx: np.ndarray, day) -> np.ndarray:
    """``theta_h(t)``: ``[n, k]`` topic interests of HCPs at ``day`` (scalar or per HCP)."""
    w = np.clip(np.asarray(day, float) / hidden.period_days, 0.0, 1.0)
    w = w[..., None] if np.ndim(w) else w
    return (1.0 - w) * hidden.theta_start[hcp_idx] + w * hidden.theta_end[hcp_idx]


def static_logit(hidden: Hidden, fx: Effects, hcp_idx, content_idx, channel_idx, day) -> np.ndarray:
    """The history-free part of the logit for aligned arrays (``day`` scalar or aligned)."""
    theta = interests(hidden, hcp_idx, day)
    match = np.einsum("nk,nk->n", theta, hidden.phi[content_idx])
    k = hidden.phi.shape[1]
    age = np.maximum(0.0, np.asarray(day, float) - hidden.publication_day[content_idx])
    return (hidden.intercept[hcp_idx] + hidden.channel_base[channel_idx] + hidden.affinity[hcp_idx, channel_idx]
            + hidden.quality[content_idx] + hidden.content_channel[content_idx, channel_idx]
            + fx.topic * np.log(k * match + 0.1) + fx.fresh * np.exp(-age / fx.tau_fresh))


def history_logit(hidden: Hidden, fx: Effects, hcp_idx, fatigue_load, gap, momentum, follow) -> np.ndarray:
    """The history part of the logit: ``fatigue_load`` (decayed touch count), ``gap`` (days since the
    last touch, ``inf`` if none), ``momentum`` (decayed engagements on the channel) and ``follow``
    (decayed engagements on the content's themes), all aligned arrays."""
    too_soon = np.maximum(0.0, 1.0 - gap / hidden.cadence[hcp_idx])
    return (-hidden.fatigue[hcp_idx] * fatigue_load - fx.too_soon * too_soon
            + fx.momentum * np.log1p(momentum) + fx.follow * np.log1p(follow))


def engagement_logit(hidden, fx, hcp_idx, content_idx, channel_idx, day, fatigue_load, gap, momentum, follow):
    """The full logit; the simulator and the oracle both call this."""
    return (static_logit(hidden, fx, hcp_idx, content_idx, channel_idx, day)
            + history_logit(hidden, fx, hcp_idx, fatigue_load, gap, momentum, follow))


class EventLog:
    """Touches of the simulation sorted by HCP then time, with per-HCP offsets (CSR layout)."""

    def __init__(self, hcp, content, channel, day, engaged, n_hcps: int):
        order = np.lexsort((day, hcp))
        self.hcp = np.asarray(hcp, np.int64)[order]
        self.content = np.asarray(content, np.int64)[order]
        self.channel = np.asarray(channel, np.int64)[order]
        self.day = np.asarray(day, float)[order]
        self.engaged = np.asarray(engaged, bool)[order]
        self.offsets = np.concatenate([[0], np.cumsum(np.bincount(self.hcp, minlength=n_hcps))])

    def before(self, hcp_idx: np.ndarray, at_day: np.ndarray):
        """Pairs ``(query, event)`` for every event of each queried HCP strictly before its time.

        Returns ``(query_of_pair, event_index, count_before)``.
        """
        starts = self.offsets[hcp_idx]
        counts = self.offsets[hcp_idx + 1] - starts
        query = np.repeat(np.arange(len(hcp_idx)), counts)
        first = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
        event = first + np.arange(counts.sum())
        keep = self.day[event] < at_day[query]
        query, event = query[keep], event[keep]
        return query, event, np.bincount(query, minlength=len(hcp_idx))


class Oracle:
    """True engagement probabilities of a synthetic world (the yardstick; models never see it).

    Probabilities are pure: :meth:`probability` and :meth:`score_matrix` do not apply business
    rules. :meth:`best_actions` applies them: it skips content outside its approval window (or not
    yet published) at ``at``, channels the HCP opted out of, and (``exclude_consumed``) content the
    HCP already engaged with before ``at``.

    Attributes
    ----------
    hcp_ids, content_ids : index order of every array.
    theme_names : names of the latent themes (subtopics).
    interaction_probability : true p of each simulated touch, aligned with
        ``world.interactions.interaction_id`` (row order).
    start : pd.Timestamp, day 0 of the world.
    """

    def __init__(self, hidden: Hidden, effects: Effects, events: EventLog, hcp_ids, content_ids, theme_names,
                 interaction_probability: np.ndarray, start: pd.Timestamp):
        self.hidden = hidden
        self.effects = effects
        self.events = events
        self.hcp_ids = np.asarray(hcp_ids, dtype=object)
        self.content_ids = np.asarray(content_ids, dtype=object)
        self.theme_names = list(theme_names)
        self.interaction_probability = np.asarray(interaction_probability, float)
        self.start = pd.Timestamp(start)
        self.channels = CHANNELS
        self._hcp_pos = {h: k for k, h in enumerate(self.hcp_ids)}

    # -- time ------------------------------------------------------------------------
    def day_of(self, at) -> np.ndarray | float:
        """Days since the world's start of a timestamp (or array of timestamps)."""
        if np.ndim(at) == 0:
            return (pd.Timestamp(at) - self.start) / pd.Timedelta(days=1)
        return ((pd.to_datetime(np.asarray(at)) - self.start) / pd.Timedelta(days=1)).to_numpy(float)

    def hcp_index(self, hcp_ids) -> np.ndarray:
        """Row index of HCP ids (KeyError naming the first unknown id)."""
        try:
            return np.array([self._hcp_pos[str(h)] for h in hcp_ids], dtype=np.int64)
        except KeyError as exc:
            raise KeyError(f"unknown hcp_id {exc.args[0]!r} (not in this world)") from None

    # -- history state ---------------------------------------------------------------
    def _state(self, hcp_idx: np.ndarray, at_day: np.ndarray):
        """Fatigue load [n], gap [n], momentum [n, c], theme follow-up vector [n, k] before ``at_day``."""
        fx, ev, n = self.effects, self.events, len(hcp_idx)
        query, event, count = ev.before(hcp_idx, at_day)
        dt = at_day[query] - ev.day[event]
        load = np.bincount(query, np.exp(-dt / fx.tau_fatigue), minlength=n)
        gap = np.full(n, np.inf)
        has = count > 0
        gap[has] = at_day[has] - ev.day[ev.offsets[hcp_idx[has]] + count[has] - 1]
        engaged = ev.engaged[event]
        n_channels = len(CHANNELS)
        momentum = np.bincount(query * n_channels + ev.channel[event],
                               engaged * np.exp(-dt / fx.tau_momentum), minlength=n * n_channels).reshape(n, n_channels)
        weights = engaged * np.exp(-dt / fx.tau_follow)
        follow = sparse.csr_matrix((weights, (query, ev.content[event])),
                                   shape=(n, len(self.content_ids))) @ self.hidden.phi
        return load, gap, momentum, np.asarray(follow)

    def consumed(self, hcp_idx, at) -> sparse.csr_matrix:
        """``[n, n_contents]`` boolean sparse: content each HCP engaged with before ``at``."""
        hcp_idx = np.asarray(hcp_idx, np.int64)
        at_day = np.full(len(hcp_idx), float(self.day_of(at)))
        query, event, _ = self.events.before(hcp_idx, at_day)
        keep = self.events.engaged[event]
        return sparse.csr_matrix((np.ones(keep.sum(), bool), (query[keep], self.events.content[event[keep]])),
                                 shape=(len(hcp_idx), len(self.content_ids)))

    # -- probabilities ---------------------------------------------------------------
    def probability(self, hcp_idx, content_idx, channel_idx, at) -> np.ndarray:
        """True engagement probability of touches ``(hcp, content, channel)`` at ``at``.

        Parameters
        ----------
        hcp_idx, content_idx, channel_idx : equal-length int arrays (indices into ``hcp_ids``,
            ``content_ids``, ``CHANNELS``).
        at : one timestamp, or an array of timestamps aligned with the indices.
        """
        hcp_idx = np.atleast_1d(np.asarray(hcp_idx, np.int64))
        content_idx = np.atleast_1d(np.asarray(content_idx, np.int64))
        channel_idx = np.atleast_1d(np.asarray(channel_idx, np.int64))
        if not (len(hcp_idx) == len(content_idx) == len(channel_idx)):
            raise ValueError("probability: hcp_idx, content_idx and channel_idx must have equal length")
        at_day = np.broadcast_to(np.asarray(self.day_of(at), float), hcp_idx.shape).astype(float)
        out = np.empty(len(hcp_idx))
        for lo in range(0, len(hcp_idx), 20_000):  # bounded memory for the pair expansion
            sl = slice(lo, lo + 20_000)
            h, i, c, d = hcp_idx[sl], content_idx[sl], channel_idx[sl], at_day[sl]
            load, gap, momentum, follow = self._state(h, d)
            z = engagement_logit(self.hidden, self.effects, h, i, c, d, load, gap,
                                 momentum[np.arange(len(h)), c],
                                 np.einsum("nk,nk->n", follow, self.hidden.phi[i]))
            out[sl] = _sigmoid(z)
        return out

    def wave_probability(self, hcp_idx, content_idx, channel_idx, at) -> np.ndarray:
        """True engagement probabilities of a wave of *new* touches (not in the world's history).

        Each touch is valued given the history before it plus the wave's earlier touches of the same
        HCP: their fatigue load and the gap to the last one exactly, their channel momentum and theme
        follow-up counted by each one's engagement probability (its expected outcome). Arguments as
        in :meth:`probability`; ``at`` per touch.
        """
        hd, fx = self.hidden, self.effects
        hcp_idx = np.atleast_1d(np.asarray(hcp_idx, np.int64))
        content_idx = np.atleast_1d(np.asarray(content_idx, np.int64))
        channel_idx = np.atleast_1d(np.asarray(channel_idx, np.int64))
        if not len(hcp_idx):
            return np.zeros(0)
        day = np.broadcast_to(np.asarray(self.day_of(at), float), hcp_idx.shape).astype(float)
        order = np.lexsort((day, hcp_idx))
        h, i, c, d = hcp_idx[order], content_idx[order], channel_idx[order], day[order]
        first = np.r_[0, np.flatnonzero(np.diff(h)) + 1]
        rank = np.arange(len(h)) - np.repeat(first, np.diff(np.r_[first, len(h)]))
        load, gap, momentum, follow = self._state(h, d)
        momentum = momentum[np.arange(len(h)), c]
        p = np.zeros(len(h))
        for r in range(int(rank.max(initial=-1)) + 1):
            now = np.flatnonzero(rank == r)
            ld, gp, mo = load[now].copy(), gap[now].copy(), momentum[now].copy()
            fo = follow[now].copy()
            for lag in range(1, r + 1):  # the wave's earlier touches of the same HCP
                prev = now - lag
                dt = d[now] - d[prev]
                ld += np.exp(-dt / fx.tau_fatigue)
                gp = np.minimum(gp, dt)
                mo += (c[prev] == c[now]) * p[prev] * np.exp(-dt / fx.tau_momentum)
                fo += (p[prev] * np.exp(-dt / fx.tau_follow))[:, None] * hd.phi[i[prev]]
            z = engagement_logit(hd, fx, h[now], i[now], c[now], d[now], ld, gp, mo,
                                 np.einsum("nk,nk->n", fo, hd.phi[i[now]]))
            p[now] = _sigmoid(z)
        out = np.empty(len(h))
        out[order] = p
        return out

    def score_matrix(self, hcp_idx, at) -> np.ndarray:
        """``[len(hcp_idx), n_contents, n_channels]`` true engagement probabilities at ``at``."""
        hd, fx = self.hidden, self.effects
        hcp_idx = np.atleast_1d(np.asarray(hcp_idx, np.int64))
        day = float(self.day_of(at))
        load, gap, momentum, follow = self._state(hcp_idx, np.full(len(hcp_idx), day))
        k = hd.phi.shape[1]
        theta = interests(hd, hcp_idx, day)
        match = fx.topic * np.log(k * (theta @ hd.phi.T) + 0.1)                           # [n, i]
        follow_term = fx.follow * np.log1p(follow @ hd.phi.T)                            # [n, i]
        age = np.maximum(0.0, day - hd.publication_day)
        content_term = hd.quality + fx.fresh * np.exp(-age / fx.tau_fresh)               # [i]
        too_soon = np.maximum(0.0, 1.0 - gap / hd.cadence[hcp_idx])
        hcp_term = hd.intercept[hcp_idx] - hd.fatigue[hcp_idx] * load - fx.too_soon * too_soon  # [n]
        channel_term = hd.channel_base + hd.affinity[hcp_idx] + fx.momentum * np.log1p(momentum)  # [n, c]
        z = ((match + follow_term + content_term + hcp_term[:, None])[:, :, None]
             + hd.content_channel[None, :, :] + channel_term[:, None, :])
        return _sigmoid(z)

    def available(self, at) -> np.ndarray:
        """``[n_contents]`` bool: published and approved on ``at``'s day."""
        return self.hidden.approval.approved(float(self.day_of(at)))

    def best_actions(self, hcp_idx, at, k: int = 10, exclude_consumed: bool = True) -> pd.DataFrame:
        """Top-``k`` (content, channel) per HCP by true probability, under the business rules.

        Returns a tidy frame ``hcp_id, rank, content_id, channel, probability`` (rank from 1).
        Content outside its approval window at ``at``, opted-out channels and (optionally) content
        already engaged with are never proposed.
        """
        hcp_idx = np.atleast_1d(np.asarray(hcp_idx, np.int64))
        rows = []
        for lo in range(0, len(hcp_idx), 2000):
            h = hcp_idx[lo:lo + 2000]
            scores = self.score_matrix(h, at)
            scores[:, ~self.available(at), :] = -1.0
            scores[~self.hidden.consent[h][:, None, :].repeat(scores.shape[1], 1)] = -1.0
            if exclude_consumed:
                used = self.consumed(h, at).tocoo()
                scores[used.row, used.col, :] = -1.0
            flat = scores.reshape(len(h), -1)
            kk = min(k, flat.shape[1])
            top = top_k(flat, kk)
            top_p = np.take_along_axis(flat, top, 1)
            valid = top_p >= 0
            n_ch = len(CHANNELS)
            rows.append(pd.DataFrame({
                "hcp_id": np.repeat(self.hcp_ids[h], kk)[valid.ravel()],
                "rank": np.tile(np.arange(1, kk + 1), len(h))[valid.ravel()],
                "content_id": self.content_ids[(top // n_ch).ravel()][valid.ravel()],
                "channel": np.array(CHANNELS, dtype=object)[(top % n_ch).ravel()][valid.ravel()],
                "probability": top_p.ravel()[valid.ravel()],
            }))
        return pd.concat(rows, ignore_index=True)

    # -- persistence -----------------------------------------------------------------
    def save(self, path) -> Path:
        """Write ``truth.npz`` (arrays) and ``truth.json`` (effects, ids, start) under ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        hd, ev = self.hidden, self.events
        # compact dtypes, no compression (fast to write and read): per-HCP and per-content
        # floats as float32, event times as whole seconds (the simulator's resolution)
        day_arrays = ("publication_day", "approval_start_day", "approval_end_day")
        arrays = {}
        for f in fields(Hidden):
            if f.name == "period_days" or getattr(hd, f.name) is None:
                continue
            value = np.asarray(getattr(hd, f.name))
            compact = value.dtype == np.float64 and f.name not in day_arrays
            arrays[f"hidden_{f.name}"] = value.astype(np.float32) if compact else value
        np.savez(
            path / "truth.npz", **arrays,
            events_hcp=_compact(ev.hcp), events_content=_compact(ev.content), events_channel=_compact(ev.channel),
            events_second=_compact(np.round(ev.day * 86400).astype(np.int64)),
            events_engaged=ev.engaged, interaction_probability=self.interaction_probability.astype(np.float32),
            hcp_ids=self.hcp_ids.astype(str), content_ids=self.content_ids.astype(str))
        meta = {"start": self.start.isoformat(), "period_days": hd.period_days, "effects": asdict(self.effects),
                "theme_names": self.theme_names, "channels": list(CHANNELS)}
        (path / "truth.json").write_text(json.dumps(meta, indent=2))
        return path

    @classmethod
    def load(cls, path) -> "Oracle":
        """Read an oracle written by :meth:`save` (``path`` is the folder or ``truth.npz``)."""
        path = Path(path)
        folder = path.parent if path.suffix == ".npz" else path
        if not (folder / "truth.npz").exists() or not (folder / "truth.json").exists():
            raise FileNotFoundError(f"no world truth in {folder} (expected truth.npz and truth.json)")
        meta = json.loads((folder / "truth.json").read_text())
        with np.load(folder / "truth.npz", allow_pickle=False) as data:
            arr = {k: data[k] for k in data.files}
        stored = {f.name: arr[f"hidden_{f.name}"] for f in fields(Hidden) if f"hidden_{f.name}" in arr}
        hidden = Hidden(**{k: v.astype(float) if v.dtype == np.float32 else v for k, v in stored.items()},
                        period_days=float(meta["period_days"]))
        n_hcps = len(arr["hcp_ids"])
        event_day = arr["events_second"].astype(np.int64) / 86400.0
        events = EventLog(arr["events_hcp"], arr["events_content"], arr["events_channel"], event_day,
                          arr["events_engaged"], n_hcps)
        return cls(hidden, Effects(**meta["effects"]), events, arr["hcp_ids"].astype(object),
                   arr["content_ids"].astype(object), meta["theme_names"], arr["interaction_probability"].astype(float),
                   pd.Timestamp(meta["start"]))
