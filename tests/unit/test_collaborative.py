"""Weighted-ALS collaborative filter on a planted two-community engagement matrix."""
import numpy as np
import scipy.sparse as sp

from engine.models.collaborative import CollaborativeFilter


def _two_communities(seed=0):
    """HCPs 0-39 engage with contents 0-9, HCPs 40-79 with contents 10-19; each skips some."""
    rng = np.random.default_rng(seed)
    counts = np.zeros((80, 20))
    counts[:40, :10] = rng.random((40, 10)) < 0.6
    counts[40:, 10:] = rng.random((40, 10)) < 0.6
    counts[0, :10] = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]  # HCP 0 has not seen contents 5-9 of its community
    return sp.csr_matrix(counts)


def test_unseen_items_of_own_community_rank_first():
    model = CollaborativeFilter(factors=4, iterations=6, reg=0.1).fit_matrix(_two_communities())
    scores = model.score_batch([0])[0]
    assert scores[5:10].min() > scores[10:].max()


def test_similar_hcps_are_peers_of_the_same_community():
    model = CollaborativeFilter(factors=4, iterations=6, reg=0.1).fit_matrix(_two_communities())
    peers = model.similar_hcps(3, n=10)
    assert list(peers.columns) == ["hcp_idx", "similarity"]
    assert 3 not in peers["hcp_idx"].tolist()
    assert (peers["hcp_idx"] < 40).all()
    assert peers["similarity"].is_monotonic_decreasing


def test_loss_decreases_and_round_trip(tmp_path):
    model = CollaborativeFilter(factors=4, iterations=5).fit_matrix(_two_communities())
    assert model.loss_curve_[-1] < model.loss_curve_[0]
    model.save(tmp_path / "cf")
    again = CollaborativeFilter.load(tmp_path / "cf")
    np.testing.assert_array_equal(again.score_batch([1, 2]), model.score_batch([1, 2]))
    assert again.loss_curve_ == model.loss_curve_
