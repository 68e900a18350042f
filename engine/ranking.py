"""The one top-k of the platform: evaluation, models, rules, plans, the world's oracle and the UI.

Tie order, everywhere: highest score first; equal scores by lower index first (the order a stable
sort by decreasing score gives); ``nan`` ranks as ``-inf``. Callers drop what they may not show
(e.g. ``-inf`` scores) from the result themselves.
"""
from __future__ import annotations

import numpy as np


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first, in the tie order above.

    Parameters
    ----------
    scores : ``[n]`` or ``[n_rows, n]`` scores (a 2-D array is ranked row by row).
    k : how many to keep; more than ``n`` keeps all.

    Returns
    -------
    ``[min(k, n)]`` (1-D input) or ``[n_rows, min(k, n)]`` int64 column indices. Linear in the row
    length (no full sort of a row).
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim == 1:
        return top_k(scores[None, :], k)[0]
    if np.isnan(scores).any():
        scores = np.where(np.isnan(scores), -np.inf, scores)
    n, width = scores.shape
    k = max(0, min(int(k), width))
    if n == 0 or k == 0:
        return np.zeros((n, k), dtype=np.int64)
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1:k]
    chosen = scores >= kth
    # every item above the k-th score, then the tied ones by index until k are chosen
    surplus = np.flatnonzero(chosen.sum(axis=1) > k)
    if len(surplus):
        rows = scores[surplus]
        tied = rows == kth[surplus]
        slots = k - (rows > kth[surplus]).sum(axis=1, keepdims=True)
        chosen[surplus] = (rows > kth[surplus]) | (tied & (np.cumsum(tied, axis=1) <= slots))
    part = (np.flatnonzero(chosen) % width).reshape(n, k)
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1).astype(np.int64)
