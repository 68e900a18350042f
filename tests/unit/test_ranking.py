"""The one top-k: best first, ties by lower index, ``nan`` as ``-inf``; and the places that rank with it."""
import numpy as np

from engine.ranking import top_k
from engine.rules.book import RuledScores


def test_top_k_orders_best_first_and_breaks_ties_by_index():
    scores = np.array([[0.1, 0.9, 0.5, 0.9], [3.0, 2.0, 1.0, 0.0]])
    assert top_k(scores, 3).tolist() == [[1, 3, 2], [0, 1, 2]]


def test_ties_across_the_kth_place_keep_the_lower_indices():
    # five items tie for the last two places: the two lowest indices win, whatever partition does
    scores = np.array([[1.0, 5.0, 1.0, 1.0, 1.0, 1.0, 9.0]])
    assert top_k(scores, 4).tolist() == [[6, 1, 0, 2]]


def test_top_k_matches_a_full_stable_sort_with_many_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(200, 30)).astype(float)  # many ties, also across the k-th place
    scores[rng.random(scores.shape) < 0.2] = -np.inf               # excluded items
    order = np.argsort(-scores, axis=1, kind="stable")
    for k in (1, 5, 10, 30, 40):
        assert (top_k(scores, k) == order[:, :k]).all(), k


def test_top_k_ranks_nan_as_minus_infinity_and_takes_one_row():
    assert top_k(np.array([[np.nan, 1.0, -np.inf, 2.0]]), 3).tolist() == [[3, 1, 0]]
    assert top_k(np.array([0.5, 2.0, 2.0, 1.0]), 2).tolist() == [1, 2]
    assert top_k(np.array([0.5, 2.0]), 0).tolist() == [] and top_k(np.zeros((2, 0)), 3).shape == (2, 0)


def test_recommendations_break_ties_by_lower_content_index_and_drop_forbidden_items():
    score = np.array([[0.3, 0.7, 0.3, -np.inf, 0.7, 0.3]])
    ruled = RuledScores(score=score, channel=np.zeros_like(score, dtype=int), channel_probabilities=None,
                        engagement=score, preferred=np.zeros_like(score, dtype=int))
    assert ruled.top(4).tolist() == [[1, 4, 0, 2]]
    assert ruled.top(7).tolist() == [[1, 4, 0, 2, 5, -1]]


def test_similar_hcps_break_ties_by_lower_index():
    from engine.models.collaborative import CollaborativeFilter

    model = CollaborativeFilter.__new__(CollaborativeFilter)
    model.user_factors_ = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [2.0, 0.0], [1.0, 1.0]])
    similar = model.similar_hcps(0, n=3)
    assert similar["hcp_idx"].tolist() == [1, 3, 4]  # 1 and 3 are the same vector: lower index first
