"""Scores for HCPs added after the bundle was trained, from their profile and their peers.

An HCP the bundle never saw has no learned features, but its profile places it among peers the
bundle knows: the HCPs of the same specialty (and segment, when enough of them share it). Its
scores are their mean scores — what the model predicts for an HCP like this one — and its reasons
say so. Peer scores are computed once per profile and kept.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.service.cache import Memo
from engine.service.snapshot import DataSnapshot

#: peers averaged per profile (evenly spread over the matching HCPs)
PEERS = 64
#: fewer HCPs than this share specialty and segment: the specialty alone defines the peers
MIN_PEERS = 10


class PeerFoldIn:
    """Peer-average scores for serving HCPs ``>= n_bundle_hcps``.

    Parameters
    ----------
    scorer : the bundle's scorer (``score_batch``).
    snapshot : the data snapshot (profiles).
    hcp_rows : int [n_serving_hcps], snapshot row of each serving HCP (-1 when not stored).
    n_bundle_hcps : serving indexes below this are the bundle's own HCPs (the possible peers).
    """

    def __init__(self, scorer, snapshot: DataSnapshot, hcp_rows: np.ndarray, n_bundle_hcps: int):
        self.scorer = scorer
        self.n_bundle_hcps = int(n_bundle_hcps)
        self.hcp_rows = np.asarray(hcp_rows, dtype=np.int64)
        hcps = snapshot.hcps
        # profiles as codes: equal codes, equal values (no Python string per HCP)
        self.specialty = pd.factorize(hcps["specialty"].astype(str))[0]
        self.segment = pd.factorize(hcps["segment"].fillna("").astype(str))[0]
        self._peer_scores = Memo(maxsize=4096)  # one entry per profile: a few specialty x segment pairs

    def peers(self, idx: int) -> np.ndarray:
        """Serving indexes of the bundle HCPs sharing HCP ``idx``'s profile (at most :data:`PEERS`)."""
        row = self.hcp_rows[idx]
        known = self.hcp_rows[:self.n_bundle_hcps]
        stored = known >= 0
        same = np.zeros(self.n_bundle_hcps, dtype=bool)
        if row >= 0:
            same[stored] = self.specialty[known[stored]] == self.specialty[row]
            both = same.copy()
            both[stored] &= self.segment[known[stored]] == self.segment[row]
            if both.sum() >= MIN_PEERS:
                same = both
        candidates = np.flatnonzero(same) if same.any() else np.flatnonzero(stored)
        if len(candidates) > PEERS:
            candidates = candidates[np.linspace(0, len(candidates) - 1, PEERS).astype(np.int64)]
        return candidates

    def scores(self, idx: int) -> tuple[np.ndarray, np.ndarray, dict]:
        """``(score [C], engagement [C, K], factors)`` of HCP ``idx``: its peers' mean scores."""
        peers = self.peers(idx)
        score, engagement = self._peer_scores(peers.tobytes(), lambda: self._mean_scores(peers))
        # reasons: the only evidence is the peers (a positive contribution on every item)
        return score, engagement, {"peers": np.ones(len(score))}

    def _mean_scores(self, peers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        score, engagement = self.scorer.score_batch(peers)
        return np.asarray(score).mean(axis=0), np.asarray(engagement).mean(axis=0)
