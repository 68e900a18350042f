"""Collaborative filtering: implicit-feedback matrix factorisation (weighted ALS) over HCP × content.

Hu, Koren & Volinsky (2008): preference ``p = 1`` where an HCP engaged with a content, confidence
``1 + alpha * engaged_count``; every other cell has preference 0 and confidence 1. Each
alternating step is a ridge solve per row; the ``YᵀY`` trick makes it cost only the row's
non-zeros, and the per-row ``k × k`` systems are assembled for all rows at once as one sparse
product against the flattened outer products ``y yᵀ`` and solved as one batched ``solve``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from engine.models.base import Recommender
from engine.progress import QUIET
from engine.ranking import top_k


def engagement_matrix(hcp_idx, content_idx, engaged, n_hcps: int, n_contents: int, weights=None) -> sp.csr_matrix:
    """CSR ``[n_hcps, n_contents]`` of engaged-touch counts (or sums of ``weights`` per engaged touch)."""
    engaged = np.asarray(engaged, dtype=bool)
    values = np.ones(int(engaged.sum())) if weights is None else np.asarray(weights, dtype=np.float64)[engaged]
    counts = sp.coo_matrix((values,
                            (np.asarray(hcp_idx)[engaged], np.asarray(content_idx)[engaged])),
                           shape=(n_hcps, n_contents)).tocsr()
    counts.sum_duplicates()
    return counts


def _als_step(conf_minus_one: sp.csr_matrix, fixed: np.ndarray, reg: float) -> np.ndarray:
    """Solve every row's factors given the other side's ``fixed`` factors.

    For row ``u``: ``(YᵀY + Yᵀ(C_u - I)Y + λI) x_u = Yᵀ C_u p_u`` with ``p_u = 1`` on non-zeros.
    """
    k = fixed.shape[1]
    fixed = fixed.astype(np.float32)
    gram = fixed.T @ fixed + reg * np.eye(k, dtype=np.float32)
    # float32 halves the [rows, k²] temporaries; the solves stay well conditioned thanks to λI.
    outer = (fixed[:, :, None] * fixed[:, None, :]).reshape(len(fixed), k * k)
    lhs = (conf_minus_one @ outer).reshape(-1, k, k) + gram[None]
    confidence = conf_minus_one.copy()
    confidence.data = confidence.data + 1.0
    rhs = confidence @ fixed
    return np.linalg.solve(lhs, rhs[:, :, None])[:, :, 0]


class CollaborativeFilter(Recommender):
    """Weighted-ALS matrix factorisation; also the collaborative-only baseline.

    Parameters
    ----------
    factors : embedding size.
    alpha : confidence per engaged touch.
    reg : L2 penalty.
    iterations : ALS sweeps (each solves HCPs then contents).
    half_life_days : an engagement's confidence halves every this many days before the latest
        touch (``None``: all-time counts); recent engagement says more about what is current.
    seed : initialisation seed.

    Attributes
    ----------
    user_factors_ : ``[n_hcps, factors]`` HCP embeddings.
    item_factors_ : ``[n_contents, factors]`` content embeddings.
    loss_curve_ : weighted squared loss after each sweep (the training curve).
    """

    name = "collaborative"

    def __init__(self, factors: int = 32, alpha: float = 10.0, reg: float = 1.0, iterations: int = 8,
                 half_life_days: float | None = None, seed: int = 0):
        self.factors = factors
        self.half_life_days = half_life_days
        self.alpha = alpha
        self.reg = reg
        self.iterations = iterations
        self.seed = seed

    def get_params(self) -> dict:
        """The constructor arguments (to fit the same model on other touches)."""
        return {k: getattr(self, k) for k in ("factors", "alpha", "reg", "iterations", "half_life_days", "seed")}

    def fit(self, data, progress=QUIET, interactions: pd.DataFrame | None = None) -> "CollaborativeFilter":
        """Factorise the engaged touches of ``interactions`` (default: ``data.history``, all before the cutoff)."""
        frame = data.history if interactions is None else interactions
        weights = None
        if self.half_life_days is not None and len(frame):
            time = pd.to_datetime(frame["timestamp"])
            weights = np.exp2(-((time.max() - time).dt.total_seconds().to_numpy() / 86_400.0) / self.half_life_days)
        counts = engagement_matrix(frame["hcp_idx"].to_numpy(), frame["content_idx"].to_numpy(),
                                   frame["engaged"].to_numpy(bool), data.n_hcps, data.n_contents, weights)
        return self.fit_matrix(counts, progress=progress)

    def fit_matrix(self, counts: sp.csr_matrix, progress=QUIET) -> "CollaborativeFilter":
        """Factorise a CSR matrix of engaged-touch counts ``[n_hcps, n_contents]``."""
        n_users, n_items = counts.shape
        rng = np.random.default_rng(self.seed)
        cu = counts.astype(np.float32).tocsr()
        cu.data = self.alpha * cu.data
        ci = cu.T.tocsr()
        users = rng.normal(0.0, 0.01, (n_users, self.factors)).astype(np.float32)
        items = rng.normal(0.0, 0.01, (n_items, self.factors)).astype(np.float32)
        self.loss_curve_ = []
        for sweep in range(self.iterations):
            users = _als_step(cu, items, self.reg)
            items = _als_step(ci, users, self.reg)
            self.loss_curve_.append(self._loss(cu, users, items))
            progress("collaborative", f"ALS sweep {sweep + 1}/{self.iterations}: loss {self.loss_curve_[-1]:.4f}")
        self.user_factors_ = users.astype(np.float32)
        self.item_factors_ = items.astype(np.float32)
        return self

    def _loss(self, cu: sp.csr_matrix, users: np.ndarray, items: np.ndarray) -> float:
        """Mean weighted squared error over all cells (computed without the dense matrix)."""
        rows, cols = cu.nonzero()
        pred_nz = np.einsum("ij,ij->i", users[rows], items[cols])
        # sum over all cells of pred² (confidence 1) = trace(UᵀU VᵀV); correct the non-zero cells.
        total = float(np.sum((users.T @ users) * (items.T @ items)))
        conf = cu.data + 1.0
        total += float(np.sum(conf * (1.0 - pred_nz) ** 2 - pred_nz ** 2))
        return total / (cu.shape[0] * cu.shape[1])

    def score_batch(self, hcp_idx) -> np.ndarray:
        return self.user_factors_[np.asarray(hcp_idx)] @ self.item_factors_.T

    def channel_probabilities(self, hcp_idx):
        raise NotImplementedError("collaborative filtering has no channel model")

    def engagement_probability(self, hcp_idx, content_idx, channel_idx):
        raise NotImplementedError("collaborative filtering predicts preference, not touch engagement")

    def next_channel_probabilities(self, hcp_idx):
        raise NotImplementedError

    def next_gap_days(self, hcp_idx):
        raise NotImplementedError

    def similar_hcps(self, hcp_idx: int, n: int = 10) -> pd.DataFrame:
        """The ``n`` HCPs whose embedding is closest (cosine) to ``hcp_idx``: "peers who engaged with this".

        Returns a frame ``hcp_idx, similarity`` sorted by decreasing similarity, without ``hcp_idx`` itself.
        """
        norms = np.linalg.norm(self.user_factors_, axis=1) + 1e-9
        sims = (self.user_factors_ @ self.user_factors_[hcp_idx]) / (norms * norms[hcp_idx])
        sims[hcp_idx] = -np.inf
        top = top_k(sims, min(n, len(sims) - 1))
        return pd.DataFrame({"hcp_idx": top.astype(np.int64), "similarity": sims[top].astype(np.float64)})

    def save(self, path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        np.savez(path / "factors.npz", user_factors=self.user_factors_, item_factors=self.item_factors_)
        params = {**self.get_params(), "loss_curve": self.loss_curve_}
        (path / "params.json").write_text(json.dumps(params))

    @classmethod
    def load(cls, path) -> "CollaborativeFilter":
        path = Path(path)
        params = json.loads((path / "params.json").read_text())
        curve = params.pop("loss_curve")
        model = cls(**params)  # bundles written before half_life_days load with all-time counts
        with np.load(path / "factors.npz", allow_pickle=False) as arrays:
            model.user_factors_ = arrays["user_factors"]
            model.item_factors_ = arrays["item_factors"]
        model.loss_curve_ = curve
        return model
