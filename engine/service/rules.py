"""Business rules applied to every recommendation, vectorised over HCPs, contents and channels.

- consent / opt-out per channel: an opted-out channel is never recommended;
- channels in use: a channel without a single touch in the data is never recommended (the brand
  does not use it, and no model has seen it engage anyone: a log of emails only gets emails);
- contact-frequency caps: a channel with ``>= cap`` touches in the last ``cap_days`` before
  "now" (the data's last timestamp) is skipped;
- approval window: only content approved at "now";
- no repeats: content the HCP already engaged with is excluded.

Everything is precomputed once per (bundle, data) pair as arrays in the bundle's index order, so
applying the rules to one HCP is a few array operations.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.config import CHANNELS, channel_label
from engine.service.snapshot import DataSnapshot

@dataclass
class RuledScores:
    """Scores after the rules, for ``n`` HCPs over the whole catalogue.

    Attributes
    ----------
    score : [n, C] ranking score; ``-inf`` where the content may not be recommended.
    channel : [n, C] int, best allowed channel per content (-1 when none).
    channel_probabilities : [n, C, K] engagement shares over allowed channels (rows sum to 1).
    engagement : [n, C] engagement probability on the chosen channel.
    preferred : [n, C] int, the model's best channel before the rules.
    """

    score: np.ndarray
    channel: np.ndarray
    channel_probabilities: np.ndarray
    engagement: np.ndarray
    preferred: np.ndarray

    def top(self, n: int) -> np.ndarray:
        """[rows, <=n] content indices by descending score (only recommendable ones, padded with -1)."""
        k = min(n, self.score.shape[1])
        part = np.argpartition(-self.score, k - 1, axis=1)[:, :k] if k < self.score.shape[1] else \
            np.tile(np.arange(self.score.shape[1]), (self.score.shape[0], 1))
        order = np.take_along_axis(part, np.argsort(-np.take_along_axis(self.score, part, 1), axis=1, kind="stable"), 1)
        finite = np.isfinite(np.take_along_axis(self.score, order, 1))
        return np.where(finite, order, -1)


class RuleBook:
    """The rules for one bundle's index order over one data snapshot.

    Parameters
    ----------
    caps : max touches per channel in ``cap_days`` (channels absent from it are uncapped).
    cap_days : the cap period.

    Attributes (after :meth:`fit`)
    ------------------------------
    hcp_rows_ : int [n_bundle_hcps], the snapshot row of each bundle HCP (-1 when unknown to the store).
    consent_, cap_touches_, capped_ : [n_bundle_hcps, n_channels].
    in_use_ : bool [n_channels] the channel has touches in the data (all True when there are none).
    approved_ : bool [n_bundle_contents] content inside its approval window at ``now_``.
    consumed_indptr_, consumed_indices_ : CSR of contents (bundle index) each bundle HCP already engaged.
    """

    def __init__(self, caps: dict[str, int], cap_days: int):
        self.caps = dict(caps)
        self.cap_days = int(cap_days)

    def fit(self, snapshot: DataSnapshot, hcp_ids, content_ids) -> "RuleBook":
        hcp_ids = np.asarray(hcp_ids).astype(str)
        content_ids = np.asarray(content_ids).astype(str)
        self.now_ = snapshot.now
        self.hcp_rows_ = snapshot.hcp_pos.reindex(hcp_ids).fillna(-1).to_numpy().astype(np.int64)
        content_rows = snapshot.content_pos.reindex(content_ids).fillna(-1).to_numpy().astype(np.int64)
        known = self.hcp_rows_ >= 0
        n_h, n_k = len(hcp_ids), len(CHANNELS)

        self.consent_ = np.zeros((n_h, n_k), dtype=bool)  # unknown HCPs: no consent on record, no contact
        self.consent_[known] = snapshot.consent()[self.hcp_rows_[known]]
        touched = snapshot.touches.sum(axis=0) > 0
        self.in_use_ = touched if touched.any() else np.ones(n_k, dtype=bool)
        self.cap_touches_ = np.zeros((n_h, n_k), dtype=np.int64)
        self.cap_touches_[known] = snapshot.cap_touches[self.hcp_rows_[known]]
        cap_limits = np.array([self.caps.get(c, np.iinfo(np.int64).max) for c in CHANNELS], dtype=np.int64)
        self.cap_limits_ = cap_limits
        self.capped_ = self.cap_touches_ >= cap_limits[None, :]

        approved_rows = snapshot.approved_at(snapshot.now)
        self.approved_ = np.zeros(len(content_ids), dtype=bool)  # content missing from the store: no approval
        self.approved_[content_rows >= 0] = approved_rows[content_rows[content_rows >= 0]]

        # consumed pairs (snapshot rows) -> bundle indices, stored CSR by bundle HCP
        bundle_of_hcp_row = np.full(len(snapshot.hcps), -1, dtype=np.int64)
        bundle_of_hcp_row[self.hcp_rows_[known]] = np.flatnonzero(known)
        bundle_of_content_row = np.full(len(snapshot.contents), -1, dtype=np.int64)
        bundle_of_content_row[content_rows[content_rows >= 0]] = np.flatnonzero(content_rows >= 0)
        h = bundle_of_hcp_row[snapshot.consumed_hcp]
        c = bundle_of_content_row[snapshot.consumed_content]
        ok = (h >= 0) & (c >= 0)
        h, c = h[ok], c[ok]
        order = np.lexsort((c, h))
        self.consumed_indices_ = c[order]
        self.consumed_indptr_ = np.concatenate([[0], np.cumsum(np.bincount(h, minlength=n_h))])
        self.n_contents_ = len(content_ids)
        return self

    # -- per-HCP pieces ----------------------------------------------------------------
    def allowed_channels(self, hcp_idx: np.ndarray, channels=None) -> np.ndarray:
        """Bool [n, n_channels]: consented, in use, not capped, and among ``channels`` when given."""
        allowed = self.consent_[hcp_idx] & self.in_use_[None, :] & ~self.capped_[hcp_idx]
        if channels is not None:
            allowed = allowed & np.isin(np.array(CHANNELS), list(channels))[None, :]
        return allowed

    def consumed_mask(self, hcp_idx: np.ndarray) -> np.ndarray:
        """Bool [n, n_contents]: content already engaged by each HCP."""
        hcp_idx = np.asarray(hcp_idx)
        starts, ends = self.consumed_indptr_[hcp_idx], self.consumed_indptr_[hcp_idx + 1]
        lengths = ends - starts
        rows = np.repeat(np.arange(len(hcp_idx)), lengths)
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        mask = np.zeros((len(hcp_idx), self.n_contents_), dtype=bool)
        mask[rows, self.consumed_indices_[np.repeat(starts, lengths) + offsets]] = True
        return mask

    def apply(self, hcp_idx, score: np.ndarray, engagement: np.ndarray, channels=None) -> RuledScores:
        """Apply every rule to scorer output for HCPs ``hcp_idx``.

        Parameters
        ----------
        hcp_idx : int array [n] (bundle index order).
        score : [n, C] the scorer's ranking score.
        engagement : [n, C, K] engagement probability per content and channel.
        channels : optional iterable of channel names to restrict to.

        Notes
        -----
        The scorer ranks by the engagement of each item's best *consented* channel (the serving
        contract). When caps or a channel filter remove that channel too, the ranking score is
        scaled by best-allowed / best-consented engagement, so an item that only works by email
        sinks when email is capped instead of keeping its rank (for the hybrid scorer this is
        exactly the engagement on the best allowed channel). ``preferred`` is the model's best
        channel over all channels, opted-out ones included, for the rule notes.
        """
        hcp_idx = np.atleast_1d(np.asarray(hcp_idx, dtype=np.int64))
        score = np.asarray(score, dtype=np.float64).reshape(len(hcp_idx), -1)
        engagement = np.asarray(engagement, dtype=np.float64).reshape(len(hcp_idx), score.shape[1], len(CHANNELS))
        allowed = self.allowed_channels(hcp_idx, channels)                       # [n, K]
        masked = np.where(allowed[:, None, :], engagement, 0.0)                  # [n, C, K]
        channel = masked.argmax(axis=2)
        best_allowed = masked.max(axis=2)
        preferred = engagement.argmax(axis=2)
        consented = self.consent_[hcp_idx]
        consented = np.where(consented.any(axis=1, keepdims=True), consented, True)
        best_consented = np.where(consented[:, None, :], engagement, 0.0).max(axis=2)
        ratio = np.divide(best_allowed, best_consented, out=np.zeros_like(best_consented), where=best_consented > 0)
        shifted = score * ratio
        eligible = self.approved_[None, :] & ~self.consumed_mask(hcp_idx) & allowed.any(axis=1)[:, None]
        totals = masked.sum(axis=2, keepdims=True)
        shares = np.divide(masked, totals, out=np.zeros_like(masked), where=totals > 0)
        return RuledScores(
            score=np.where(eligible, shifted, -np.inf),
            channel=np.where(allowed.any(axis=1)[:, None], channel, -1),
            channel_probabilities=shares,
            engagement=best_allowed,
            preferred=preferred,
        )

    # -- explanations ------------------------------------------------------------------
    def channel_block_note(self, hcp: int, channel: int) -> str | None:
        """Why channel ``channel`` is unavailable for HCP ``hcp`` (None when it is available)."""
        name = CHANNELS[channel]
        if not self.consent_[hcp, channel]:
            return f"{channel_label(name)} excluded: HCP opted out"
        if not self.in_use_[channel]:
            return f"{channel_label(name)} excluded: no touch on this channel in the data"
        if self.capped_[hcp, channel]:
            return (f"{channel_label(name)} capped: {int(self.cap_touches_[hcp, channel])} touches "
                    f"in the last {self.cap_days} days")
        return None

    def summary(self, hcp: int) -> dict:
        """The rules' state for one HCP: channel status and how many items each rule excludes."""
        consumed = self.consumed_indices_[self.consumed_indptr_[hcp]:self.consumed_indptr_[hcp + 1]]
        return {
            "now": self.now_.isoformat(),
            "channels": [
                {"channel": c, "consent": bool(self.consent_[hcp, k]), "in_use": bool(self.in_use_[k]),
                 "touches_in_window": int(self.cap_touches_[hcp, k]),
                 "cap": None if c not in self.caps else int(self.caps[c]),
                 "capped": bool(self.capped_[hcp, k]), "note": self.channel_block_note(hcp, k)}
                for k, c in enumerate(CHANNELS)],
            "cap_days": self.cap_days,
            "excluded_consumed": int(len(consumed)),
            "excluded_not_approved": int((~self.approved_).sum()),
        }
