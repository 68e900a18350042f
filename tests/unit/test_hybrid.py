"""The hybrid scorer of the trained bundle: numpy serving math, Keras equality, exact factors."""
import numpy as np
import pytest

from engine.bundles import load_bundle
from engine.config import CHANNELS
from engine.models.hybrid import network_from_scorer
from engine.models.scorer import FACTORS, HCP_TABLES


@pytest.fixture(scope="module")
def scorer(trained_settings):
    return load_bundle(trained_settings.artifacts_dir).scorer


def test_numpy_scores_equal_the_keras_network(scorer):
    n = len(scorer.content_ids)
    inputs = {name: np.repeat(scorer.layers[name][0][3:4], n, axis=0) for name in HCP_TABLES}
    out = network_from_scorer(scorer)({**inputs, "content": np.arange(n, dtype=np.int32),
                                       "channel": np.zeros(n, dtype=np.int32), "freshness": scorer.freshness},
                                      training=False)
    keras_engagement = 1 / (1 + np.exp(-np.asarray(out["logits"], dtype=np.float64)))
    fast = scorer.score(3)
    np.testing.assert_allclose(fast.engagement, keras_engagement, atol=1e-4)
    np.testing.assert_allclose(fast.score, keras_engagement[np.arange(n), fast.channel], atol=1e-4)


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


def test_next_window_ranking_uses_the_saved_blend(scorer):
    from engine.models.scorer import NEXT_WINDOW_FEATURES

    x = scorer.next_window_features([0, 1])
    assert x.shape == (2, len(scorer.content_ids), len(NEXT_WINDOW_FEATURES)) and np.isfinite(x).all()
    expected = np.exp(x @ scorer.blend.astype(np.float32))
    ratio = scorer.next_window_batch([0, 1]) / expected
    np.testing.assert_allclose(ratio / ratio[:, :1], 1.0, rtol=1e-4)  # equal up to a per-HCP constant


def _choices(x, true, seed=0):
    rng = np.random.default_rng(seed)
    z = x @ true
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    chosen = (p.cumsum(axis=1) > rng.random((len(x), 1))).argmax(axis=1)
    engaged = np.zeros(x.shape[:2], bool)
    engaged[np.arange(len(x)), chosen] = True
    excluded = np.zeros_like(engaged)
    excluded[:, -5:] = True  # excluded contents carry no likelihood (and no choices here)
    return engaged & ~excluded, excluded


def test_next_window_blend_recovers_the_weights_that_generated_the_choices():
    from engine.models.hybrid import NextWindowBlend

    x = np.random.default_rng(0).normal(size=(3000, 40, 8))
    true = np.array([1.0, 0.5, 2.0, 0.0, -1.0, 0.7, 0.0, 0.3])
    engaged, excluded = _choices(x, true)
    blend = NextWindowBlend(l2=0.0).fit(x, engaged, excluded)
    assert blend.chosen_ == "blend"
    np.testing.assert_allclose(blend.coef_, true, atol=0.15)


def test_the_fusion_never_trails_its_best_input_on_validation():
    """Few queries and seven pure-noise inputs: the full blend overfits, the gate keeps what ranks."""
    from engine.models.hybrid import NextWindowBlend
    from engine.models.scorer import NEXT_WINDOW_FEATURES

    popularity = NEXT_WINDOW_FEATURES.index("popularity")
    for seed in range(3):
        x = np.random.default_rng(seed).normal(size=(40, 40, 8)) * np.r_[np.full(7, 3.0), 1.0]
        engaged, excluded = _choices(x, 3.0 * np.eye(8)[popularity], seed)
        blend = NextWindowBlend().fit(x, engaged, excluded)
        best_single = max(blend.validation_ndcg_[name] for name in NEXT_WINDOW_FEATURES)
        assert blend.validation_ndcg_[blend.chosen_] >= best_single - 1e-9, blend.validation_ndcg_
        assert blend.coef_[popularity] > 0
        ablated = NextWindowBlend(zero=("popularity",)).fit(x, engaged, excluded)
        assert ablated.coef_[popularity] == 0.0


def test_topic_profile_counts_only_opened_touches_before_the_time():
    import pandas as pd

    from engine.models.features import TouchLog, topic_profile

    frame = pd.DataFrame({"hcp_idx": [0, 0, 1], "content_idx": [0, 1, 1], "channel_idx": [0, 0, 0],
                          "outcome": ["clicked", "attended", "delivered"], "engaged": [True, True, False],
                          "timestamp": pd.to_datetime(["2025-01-01", "2025-03-01", "2025-01-01"])})
    topics = np.array([[1.0, 0.0], [0.0, 1.0]])
    profile = topic_profile(TouchLog.from_frame(frame, 2), pd.Timestamp("2025-02-01"), topics)
    np.testing.assert_allclose(profile, [[1.0, 0.0], [0.0, 0.0]])  # later touch and 'delivered' ignored


def _calendar_touches(rng, contents, mix, explore, recency_days, n_touches, start):
    """Touches drawn from the calendar process the exposure model describes (per group, weekly)."""
    import pandas as pd

    area = pd.factorize(contents["therapeutic_area"], sort=True)[0]
    pub = contents["publication_date"].to_numpy("datetime64[us]")
    groups, chosen, times = [], [], []
    for _ in range(n_touches):
        day = start + np.timedelta64(int(rng.integers(0, 360)), "D")
        live = pub <= day
        g = int(rng.integers(len(mix)))
        if rng.random() < explore:
            a = rng.choice(np.unique(area[live]))
            pool = np.flatnonzero(live & (area == a))
            item = rng.choice(pool)
        else:
            a = rng.choice(len(mix[g]), p=mix[g])
            pool = np.flatnonzero(live & (area == a))
            age = (day - pub[pool]) / np.timedelta64(1, "D")
            w = np.exp(-age / recency_days)
            item = rng.choice(pool, p=w / w.sum())
        groups.append(g), chosen.append(item), times.append(day)
    return np.array(groups), np.array(chosen), np.array(times, dtype="datetime64[us]")


def test_exposure_model_recovers_the_calendar_that_generated_the_touches():
    import pandas as pd

    from engine.models.hybrid import ExposureModel

    rng = np.random.default_rng(1)
    start = np.datetime64("2024-01-01", "us")
    n = 60
    contents = pd.DataFrame({"content_id": [f"C{k}" for k in range(n)],
                             "therapeutic_area": np.where(np.arange(n) % 2 == 0, "Diabetes", "Oncology"),
                             "publication_date": pd.to_datetime(start) + pd.to_timedelta(
                                 rng.integers(-200, 300, n), unit="D")})
    mix = np.array([[0.9, 0.1], [0.2, 0.8]])
    group, content, time = _calendar_touches(rng, contents, mix, 0.2, 60.0, 6000, start)
    model = ExposureModel(window_days=30).fit(group, content, time, 3, contents, pd.Timestamp("2025-01-01"))
    assert model.explore_ == pytest.approx(0.2, abs=0.05)
    assert model.recency_days_ == pytest.approx(60.0, rel=0.25)
    np.testing.assert_allclose(model.area_mix_[:2], mix, atol=0.05)
    overall = np.bincount(content % 2, minlength=2) / len(content)  # areas alternate with the index
    np.testing.assert_allclose(model.area_mix_[2], overall, atol=0.01)  # a group never touched: the overall mix
    p = model.probability(pd.Timestamp("2024-06-01"))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    unpublished = contents["publication_date"] > pd.Timestamp("2024-07-01")
    assert (p[:, unpublished.to_numpy()] == 0).all()  # not approved in the window: never sent


def test_exposure_model_without_a_calendar_is_uniform_per_group_mix():
    import pandas as pd

    from engine.models.hybrid import ExposureModel

    contents = pd.DataFrame({"content_id": ["A", "B", "C"], "title": ["A", "B", "C"]})
    time = np.array(["2024-01-0%d" % d for d in range(1, 7)], dtype="datetime64[us]")
    model = ExposureModel().fit(np.zeros(6, np.int64), np.array([0, 0, 0, 1, 1, 2]), time, 1, contents,
                                pd.Timestamp("2024-02-01"))
    log_p = model.log_probability(pd.Timestamp("2024-02-01"))
    np.testing.assert_allclose(np.exp(log_p), [[1 / 3, 1 / 3, 1 / 3]], rtol=1e-5)
    with pytest.raises(ValueError, match="no touches before"):
        ExposureModel().fit(np.zeros(6, np.int64), np.zeros(6, np.int64), time, 1, contents, pd.Timestamp("2023-01-01"))
