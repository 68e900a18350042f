"""Baselines beat the random floor on the tiny world; the oracle is the ceiling of the policy value."""
import numpy as np
import pandas as pd
import pytest

from engine.config import CHANNELS
from engine.evaluation import evaluate_models
from engine.models.baselines import (OracleRecommender, PopularityRecommender, RandomRecommender,
                                     SpecialtyPopularityRecommender, TopicsRecommender, fit_baselines)
from engine.models.data import make_split


@pytest.fixture(scope="module")
def data(tiny_world):
    data = make_split(tiny_world.frames(), holdout_days=60)
    # Stand-in topic vectors: one-hot therapeutic area (the real ones come from the topic model).
    data.content_topics = pd.get_dummies(data.contents["therapeutic_area"].fillna("?")).to_numpy(float)
    return data


@pytest.fixture(scope="module")
def report(data, tiny_world):
    return evaluate_models(data, fit_baselines(data), oracle=tiny_world.oracle)


def test_fit_baselines_fits_every_applicable_baseline(data):
    models = fit_baselines(data)
    assert set(models) == {"popularity", "specialty_popularity", "topics", "random"}
    for model in models.values():
        scores = model.score_batch(np.array([0, 5, 7]))
        assert scores.shape == (3, data.n_contents) and np.isfinite(scores).all()


@pytest.mark.parametrize("name", ["popularity", "specialty_popularity", "topics"])
def test_baselines_beat_random(report, name):
    models = report["models"]
    assert models[name]["ndcg@10"] > models["random"]["ndcg@10"]
    assert models[name]["value_ratio@10"] > models["random"]["value_ratio@10"]


def test_oracle_is_the_policy_ceiling_and_random_the_floor(report):
    ratios = {name: m["value_ratio@10"] for name, m in report["models"].items()}
    assert ratios["oracle"] == pytest.approx(1.0)
    assert all(r <= 1.0 + 1e-9 for r in ratios.values())
    assert abs(ratios["random"]) < 0.1


def test_engagement_probabilities_are_probabilities(data):
    touches = data.test.head(50)
    for model in (PopularityRecommender().fit(data), SpecialtyPopularityRecommender().fit(data)):
        p = model.touch_engagement_probability(touches)
        assert p.shape == (50,) and ((p > 0) & (p < 1)).all()
        channels = model.touch_channel_probabilities(touches)
        assert channels.shape == (50, len(CHANNELS)) and np.allclose(channels.sum(axis=1), 1)


def test_specialty_popularity_differs_by_specialty(data):
    model = SpecialtyPopularityRecommender().fit(data)
    specialty = data.hcps["specialty"].to_numpy()
    a = int(np.flatnonzero(specialty == specialty[0])[0])
    b = int(np.flatnonzero(specialty != specialty[0])[0])
    assert not np.allclose(model.score_batch([a])[0], model.score_batch([b])[0])


def test_random_is_reproducible_per_hcp(data):
    model = RandomRecommender(seed=4).fit(data)
    assert np.array_equal(model.score_batch([3, 9])[1], model.score_batch([9])[0])


def test_topics_and_oracle_need_their_inputs(data):
    from dataclasses import replace
    bare = replace(data, content_topics=None)
    with pytest.raises(ValueError, match="content_topics"):
        TopicsRecommender().fit(bare)
    with pytest.raises(ValueError, match="world truth"):
        OracleRecommender(None)
    assert set(fit_baselines(bare)) == {"popularity", "specialty_popularity", "random"}


def test_the_oracle_reaches_the_evaluation_only(data, tiny_world):
    assert not hasattr(data, "oracle")
    with pytest.raises(ValueError, match="reserved"):
        evaluate_models(data, {"oracle": RandomRecommender().fit(data)}, oracle=tiny_world.oracle)


def test_random_touch_channels_are_its_channel_draws_at_the_touched_contents(data):
    model = RandomRecommender(seed=4).fit(data)
    touches = data.test.head(300)
    full = model.channel_probabilities(touches["hcp_idx"].to_numpy())
    expected = full[np.arange(len(touches)), touches["content_idx"].to_numpy()]
    np.testing.assert_allclose(model.touch_channel_probabilities(touches), expected, rtol=1e-12)
