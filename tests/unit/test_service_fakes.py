"""A table-driven scorer bundle for service tests: exact, known engagement numbers.

The trained bundle (``trained_settings``) checks the service end to end; these bundles make the
business-rule tests exact (we choose which channel an HCP prefers) and the reload tests fast
(a bundle is written in milliseconds). They are real bundles: written by
``engine.bundles.write_bundle``, checksummed, validated and loaded like any other.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from engine.bundles import allow_component_class, load_bundle, validate_bundle, write_bundle
from engine.config import CHANNELS
from engine.data.store import Store
from engine.models.sequence import DECODER_INPUTS, JourneyForecaster


@dataclass
class TableScores:
    engagement: np.ndarray
    score: np.ndarray
    channel: np.ndarray
    factors: dict


@allow_component_class
class TableScorer:
    """Scores looked up in a fixed ``[n_hcps, n_contents, n_channels]`` engagement table.

    Like the hybrid scorer, ``score`` is the engagement of each item's best consented channel.
    """

    def __init__(self, engagement, content_ids, hcp_ids, consent):
        self.engagement = np.asarray(engagement, dtype=np.float64)
        self.content_ids = np.asarray(content_ids, dtype=str)
        self.hcp_ids = np.asarray(hcp_ids, dtype=str)
        self.consent = np.asarray(consent, dtype=bool)

    def _consented(self, hcp_idx):
        consent = self.consent[np.atleast_1d(hcp_idx)]
        consent = np.where(consent.any(axis=1, keepdims=True), consent, True)
        return np.where(consent[:, None, :], self.engagement[np.atleast_1d(hcp_idx)], -1.0)

    def score(self, hcp_idx: int) -> TableScores:
        eng = self.engagement[hcp_idx]
        best = self._consented(hcp_idx)[0].argmax(axis=1)
        items = np.arange(len(self.content_ids))
        logit = np.log(eng[items, best]) - np.log1p(-eng[items, best])
        factors = {"topic match": 0.5 * logit, "peers": 0.3 * logit, "recent sequence": 0.2 * logit,
                   "channel affinity": np.full(len(items), 0.1)}
        return TableScores(engagement=eng, score=eng[items, best], channel=best, factors=factors)

    def score_batch(self, hcp_idx):
        return self._consented(np.asarray(hcp_idx)).max(axis=2), self.engagement[np.asarray(hcp_idx)]

    def save(self, path) -> None:
        np.savez(Path(path) / "table.npz", engagement=self.engagement, content_ids=self.content_ids,
                 hcp_ids=self.hcp_ids, consent=self.consent)

    @classmethod
    def load(cls, path) -> "TableScorer":
        with np.load(Path(path) / "table.npz", allow_pickle=False) as a:
            return cls(a["engagement"], a["content_ids"], a["hcp_ids"], a["consent"])


def constant_forecaster(preferred, hcp_ids, reference_time, gap_days: float = 14.0) -> JourneyForecaster:
    """A real LSTM decoder whose weights make every gap ``gap_days`` and every HCP's next channel its
    ``preferred`` one: zero kernels leave ``c`` halving each step from ``10 · onehot(preferred)``, the
    channel head reads it back, the gap head is its bias alone (median ``gap_days``, tiny spread)."""
    preferred = np.asarray(preferred, dtype=np.int64)
    units = len(CHANNELS)
    weights = {"dec_kernel": np.zeros((DECODER_INPUTS, 4 * units), np.float32),
               "dec_recurrent": np.zeros((units, 4 * units), np.float32), "dec_bias": np.zeros(4 * units, np.float32),
               "channel_w": 10 * np.eye(units, dtype=np.float32), "channel_b": np.zeros(units, np.float32),
               "gap_w": np.zeros((units, 2), np.float32), "gap_b": np.array([np.log1p(gap_days), -3.0], np.float32)}
    n = len(preferred)
    state_c = 10 * np.eye(units, dtype=np.float32)[preferred]
    return JourneyForecaster(weights, np.zeros((n, units), np.float32), state_c, np.full(n, -1),
                             np.zeros(n, np.float32), np.full(n, np.datetime64("NaT"), "datetime64[us]"),
                             reference_time, hcp_ids)


def table_bundle(settings, seed: int = 0, engagement=None, make_current: bool = True, version=None) -> str:
    """Write a table bundle over the store's HCPs and contents; return its version."""
    store = Store(settings.database_url)
    hcps = store.read("hcps").sort_values("hcp_id")
    hcp_ids = hcps["hcp_id"].astype(str).to_numpy()
    consent = hcps[[f"consent_{c}" for c in CHANNELS]].astype(bool).to_numpy()
    content_ids = store.read("contents", ["content_id"])["content_id"].astype(str).sort_values().to_numpy()
    if engagement is None:
        rng = np.random.default_rng(seed)
        engagement = rng.uniform(0.02, 0.9, size=(len(hcp_ids), len(content_ids), len(CHANNELS)))
    last = store.query('SELECT MAX("timestamp") AS t FROM interactions')["t"].iloc[0]
    components = {"scorer": TableScorer(engagement, content_ids, hcp_ids, consent),
                  "forecaster": constant_forecaster(np.asarray(engagement).mean(axis=1).argmax(axis=1), hcp_ids,
                                                    pd.Timestamp(last).normalize() + pd.Timedelta(days=1))}
    return write_bundle(settings.artifacts_dir, components, {"protocol": "temporal", "metrics": {
        "models": {"hybrid": {"ndcg@10": 0.3 + seed / 100}, "oracle": {"ndcg@10": 0.4}}}},
        make_current=make_current, version=version)


def test_table_bundle_is_a_valid_bundle(world_settings, tmp_path):
    settings = world_settings.with_(artifacts_dir=tmp_path / "artifacts")
    version = table_bundle(settings)
    assert validate_bundle(settings.artifacts_dir / version) == []
    bundle = load_bundle(settings.artifacts_dir)
    assert bundle.version == version
    assert bundle.scorer.score(0).engagement.shape == (len(bundle.content_ids), len(CHANNELS))
