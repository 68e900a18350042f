"""The hybrid scorer of the trained bundle: numpy serving math, Keras equality, exact factors."""
import numpy as np
import pytest

from engine.bundles import load_bundle
from engine.config import CHANNELS
from engine.models.scorer import FACTORS


@pytest.fixture(scope="module")
def scorer(trained_settings):
    return load_bundle(trained_settings.artifacts_dir).scorer


def test_numpy_scores_equal_the_keras_network(scorer):
    fast, naive = scorer.score(3), scorer.naive_score_one(3)
    np.testing.assert_allclose(fast.engagement, naive.engagement, atol=1e-4)
    np.testing.assert_allclose(fast.score, naive.score, atol=1e-4)


def test_factors_add_up_to_the_logit_of_the_chosen_channel(scorer):
    scores = scorer.score(5)
    assert tuple(scores.factors) == FACTORS
    logits = scorer.logits_batch([5])[0]
    chosen = logits[np.arange(len(scorer.content_ids)), scores.channel]
    np.testing.assert_allclose(sum(scores.factors.values()), chosen, atol=1e-4)
    np.testing.assert_allclose(scores.score, 1 / (1 + np.exp(-chosen)), atol=1e-5)


def test_score_uses_a_consented_channel_and_batch_agrees(scorer):
    hcps = np.arange(8)
    score, engagement = scorer.score_batch(hcps)
    assert score.shape == (8, len(scorer.content_ids))
    assert engagement.shape == (8, len(scorer.content_ids), len(CHANNELS))
    for row, h in enumerate(hcps):
        one = scorer.score(h)
        np.testing.assert_allclose(score[row], one.score, rtol=1e-5)
        if scorer.consent[h].any():
            assert scorer.consent[h][one.channel].all()


def test_pair_logits_match_the_catalogue_logits(scorer):
    logits = scorer.logits_batch([2])[0]
    items = np.array([0, 1, 2])
    channels = np.array([0, 3, 4])
    np.testing.assert_allclose(scorer.pair_logits([2, 2, 2], items, channels), logits[items, channels], atol=1e-5)


def test_new_content_with_topic_vector_only_gets_finite_scores(scorer):
    k = scorer.layers["content_topics"][0].shape[1]
    grown = scorer.with_new_contents(["NEW-1", "NEW-2"], np.full((2, k), 1.0 / k))
    scores = grown.score(0)
    assert scores.score.shape == (len(scorer.content_ids) + 2,)
    assert np.isfinite(scores.score).all() and np.isfinite(scores.engagement).all()
    assert scores.factors["peers"][-2:].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(scores.score[:-2], scorer.score(0).score, rtol=1e-6)
    with pytest.raises(ValueError, match="topic_vectors"):
        scorer.with_new_contents(["NEW-3"], np.ones((1, k + 1)))
