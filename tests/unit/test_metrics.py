"""Metric functions against hand-worked examples."""
import math

import numpy as np
import pytest

from engine.evaluation import metrics as M


def test_ndcg_two_relevant_at_ranks_one_and_three():
    hits = np.array([[1, 0, 1, 0, 0, 0, 0, 0, 0, 0]], dtype=bool)
    expected = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert M.ndcg_at_k(hits, np.array([2]))[0] == pytest.approx(expected)


def test_ndcg_ideal_uses_min_of_relevant_and_k():
    hits = np.array([[1, 1], [0, 1]], dtype=bool)
    ndcg = M.ndcg_at_k(hits, np.array([5, 1]))  # 5 relevant but k = 2: ideal is two hits
    assert ndcg[0] == pytest.approx(1.0)
    assert ndcg[1] == pytest.approx((1 / math.log2(3)) / 1.0)
    assert np.isnan(M.ndcg_at_k(np.zeros((1, 3), bool), np.array([0])))[0]


def test_recall_hit_rate_and_reciprocal_rank():
    hits = np.array([[0, 1, 0], [0, 0, 0]], dtype=bool)
    assert M.recall_at_k(hits, np.array([2, 3])).tolist() == [0.5, 0.0]
    assert M.hit_rate_at_k(hits).tolist() == [1.0, 0.0]
    assert M.reciprocal_rank(np.array([1, 3, 4])) == pytest.approx([1.0, 1 / 3, 0.25])


def test_first_relevant_rank_matches_a_full_stable_sort_with_many_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(200, 30)).astype(float)  # many ties
    scores[rng.random(scores.shape) < 0.2] = -np.inf               # excluded items
    relevant = rng.random(scores.shape) < 0.1
    relevant[np.arange(200), rng.integers(0, 30, 200)] = True
    order = np.argsort(-scores, axis=1, kind="stable")  # the reference: ties by lower index
    expected = np.take_along_axis(relevant, order, axis=1).argmax(axis=1) + 1
    assert (M.first_relevant_rank(scores, relevant) == expected).all()


def test_catalogue_coverage():
    assert M.catalogue_coverage(np.array([[0, 1], [1, 2]]), 10) == pytest.approx(0.3)


def test_roc_auc_by_hand_and_with_ties():
    # Positive scores 0.35, 0.8 against negatives 0.1, 0.4: 3 of 4 pairs ordered right.
    assert M.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert M.roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert math.isnan(M.roc_auc([1, 1], [0.2, 0.3]))


def test_calibration_bins():
    bins = M.calibration_bins([0, 1, 1, 1], [0.05, 0.05, 0.95, 1.0])
    assert len(bins) == 10
    assert bins[0] == {"bin_low": 0.0, "bin_high": 0.1, "count": 2, "mean_predicted": pytest.approx(0.05),
                       "observed_rate": 0.5}
    assert bins[9]["count"] == 2 and bins[9]["mean_predicted"] == pytest.approx(0.975) and bins[9]["observed_rate"] == 1.0
    assert all(b["count"] == 0 and b["observed_rate"] is None for b in bins[1:9])
    # |0.05 - 0.5| * 2 + |0.975 - 1| * 2 over 4 touches
    assert M.expected_calibration_error(bins) == pytest.approx((0.45 * 2 + 0.025 * 2) / 4)


def test_log_losses_and_accuracy():
    assert M.binary_log_loss([1, 0], [0.8, 0.25]) == pytest.approx(-(math.log(0.8) + math.log(0.75)) / 2)
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    assert M.categorical_log_loss(probs, [0, 1]) == pytest.approx(-(math.log(0.7) + math.log(0.3)) / 2)
    assert M.accuracy(probs, [0, 1]) == 0.5


def test_value_ratio():
    assert M.value_ratio(0.3, 0.1, 0.5) == pytest.approx(0.5)
    assert M.value_ratio(0.5, 0.1, 0.5) == pytest.approx(1.0)
    assert math.isnan(M.value_ratio(0.3, 0.5, 0.5))
