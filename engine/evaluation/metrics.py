"""Metric functions, vectorised over users (rows). Pure numpy; each documents its exact definition.

Ranking metrics take ``hits``: a boolean ``[n_users, k]`` matrix whose cell ``(u, r)`` says
whether the item at rank ``r + 1`` of user ``u``'s ranking (:func:`engine.ranking.top_k`) is
relevant, and ``n_relevant``: the number of relevant items of each user (binary relevance).
"""
from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def _nan_as_minus_inf(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=float)
    return np.where(np.isnan(scores), -np.inf, scores) if np.isnan(scores).any() else scores


def first_relevant_rank(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """Rank (from 1) of each row's first relevant item in the order of decreasing score, ties by
    lower index first (a stable sort), without sorting: the first relevant item is the relevant
    one with the highest score (lowest index among equals), and its rank counts the items ahead.
    Rows need at least one relevant item; ``nan`` ranks as ``-inf``."""
    scores = _nan_as_minus_inf(scores)
    best = np.where(relevant, scores, -np.inf).max(axis=1, keepdims=True)
    equal = scores == best
    first = (relevant & equal).argmax(axis=1)
    ties_ahead = (equal & (np.arange(scores.shape[1])[None, :] < first[:, None])).sum(axis=1)
    return 1 + (scores > best).sum(axis=1) + ties_ahead


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def ndcg_at_k(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """NDCG@k per user: DCG of the ranking over the ideal DCG of ``min(n_relevant, k)`` hits at the top.

    Users without relevant items get ``nan``.
    """
    hits = np.asarray(hits, dtype=float)
    k = hits.shape[1]
    disc = _discounts(k)
    dcg = hits @ disc
    ideal_cum = np.concatenate([[0.0], np.cumsum(disc)])
    ideal = ideal_cum[np.minimum(np.asarray(n_relevant), k)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ideal > 0, dcg / ideal, np.nan)


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """Share of a user's relevant items found in the top k (``nan`` without relevant items)."""
    n_relevant = np.asarray(n_relevant, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_relevant > 0, np.asarray(hits).sum(axis=1) / n_relevant, np.nan)


def hit_rate_at_k(hits: np.ndarray) -> np.ndarray:
    """1 when at least one relevant item is in the top k, else 0."""
    return np.asarray(hits).any(axis=1).astype(float)


def reciprocal_rank(first_relevant_rank: np.ndarray) -> np.ndarray:
    """``1 / rank`` of the first relevant item (ranks start at 1; ``inf``/0 rank -> 0)."""
    rank = np.asarray(first_relevant_rank, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where((rank >= 1) & np.isfinite(rank), 1.0 / rank, 0.0)


def catalogue_coverage(top_items: np.ndarray, n_items: int) -> float:
    """Share of the catalogue that appears in at least one user's top-k list."""
    if n_items <= 0:
        raise ValueError("catalogue_coverage: n_items must be positive")
    return float(len(np.unique(np.asarray(top_items).ravel())) / n_items)


def roc_auc(y_true, y_score) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count half); ``nan`` when one class is missing."""
    y_true = np.asarray(y_true, dtype=bool)
    y_score = np.asarray(y_score, dtype=float)
    n_pos, n_neg = int(y_true.sum()), int((~y_true).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(y_score)
    return float((ranks[y_true].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def binary_log_loss(y_true, p, eps: float = 1e-7) -> float:
    """Mean negative log-likelihood of binary outcomes under probabilities ``p`` (clipped to [eps, 1-eps])."""
    y = np.asarray(y_true, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def categorical_log_loss(probabilities: np.ndarray, labels, eps: float = 1e-7) -> float:
    """Mean ``-log p[label]`` over rows of a ``[n, classes]`` probability matrix."""
    probabilities = np.asarray(probabilities, dtype=float)
    labels = np.asarray(labels, dtype=np.int64)
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(picked, eps, 1.0))))


def accuracy(probabilities: np.ndarray, labels) -> float:
    """Share of rows whose most probable class is the label."""
    return float(np.mean(np.argmax(probabilities, axis=1) == np.asarray(labels)))


def calibration_bins(y_true, p, n_bins: int = 10) -> list[dict]:
    """Reliability-curve data: ``n_bins`` equal-width bins of predicted probability on [0, 1].

    Each bin: ``bin_low``, ``bin_high``, ``count``, ``mean_predicted``, ``observed_rate``
    (the last two ``None`` for an empty bin). Probability 1.0 falls in the last bin.
    """
    y = np.asarray(y_true, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    which = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    sum_p = np.bincount(which, weights=p, minlength=n_bins)
    sum_y = np.bincount(which, weights=y, minlength=n_bins)
    bins = []
    for b in range(n_bins):
        n = int(count[b])
        bins.append({"bin_low": b / n_bins, "bin_high": (b + 1) / n_bins, "count": n,
                     "mean_predicted": float(sum_p[b] / n) if n else None,
                     "observed_rate": float(sum_y[b] / n) if n else None})
    return bins


def expected_calibration_error(bins: list[dict]) -> float:
    """Count-weighted mean ``|mean_predicted - observed_rate|`` over non-empty bins."""
    total = sum(b["count"] for b in bins)
    if total == 0:
        return float("nan")
    return float(sum(b["count"] * abs(b["mean_predicted"] - b["observed_rate"]) for b in bins if b["count"]) / total)


def value_ratio(model_value: float, random_value: float, oracle_value: float) -> float:
    """``(model - random) / (oracle - random)``: 1 = as good as the oracle, 0 = random.

    ``nan`` when the oracle is no better than random (the ratio is undefined).
    """
    span = oracle_value - random_value
    if not np.isfinite(span) or span <= 1e-12:
        return float("nan")
    return float((model_value - random_value) / span)
