"""Sequence tensors, the sequence component and the journey forecaster of the trained bundle."""
import numpy as np
import pandas as pd
import pytest

from engine.bundles import load_bundle
from engine.config import CHANNELS
from engine.models.features import TouchLog, sequence_windows


def test_windows_are_left_padded_and_end_before_the_cut():
    frame = pd.DataFrame({"hcp_idx": [0, 0, 0, 1], "content_idx": [4, 5, 6, 7], "channel_idx": [0, 1, 2, 3],
                          "outcome": ["delivered", "opened", "clicked", "attended"],
                          "engaged": [False, True, True, True],
                          "timestamp": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-10", "2024-01-02"])})
    log = TouchLog.from_frame(frame, n_hcps=2)
    ends = log.ends_before(pd.Timestamp("2024-01-05"))
    np.testing.assert_array_equal(ends, [2, 4])
    x = sequence_windows(log, ends, log.indptr[:-1], length=3)
    np.testing.assert_array_equal(x["content"], [[0, 5, 6], [0, 0, 8]])
    np.testing.assert_array_equal(x["channel"], [[0, 1, 2], [0, 0, 4]])
    np.testing.assert_allclose(x["gap"][0], [0.0, 0.0, np.log1p(2.0)], rtol=1e-6)


@pytest.fixture(scope="module")
def bundle(trained_settings):
    return load_bundle(trained_settings.artifacts_dir)


def test_forecast_dates_increase_and_intervals_contain_the_median(bundle):
    frame = bundle.forecaster.forecast(0, steps=5, rollouts=50)
    assert list(frame.columns) == ["step", "channel", "channel_probability", "date", "date_low", "date_high"]
    assert frame["step"].tolist() == [1, 2, 3, 4, 5]
    assert frame["date"].is_monotonic_increasing and frame["date"].is_unique
    assert (frame["date_low"] <= frame["date"]).all() and (frame["date"] <= frame["date_high"]).all()
    assert frame["channel"].isin(CHANNELS).all()
    assert frame["channel_probability"].between(0, 1).all()
    assert (frame["date_low"] >= bundle.forecaster.reference_time).all()


def test_forecast_after_a_later_start(bundle):
    start = bundle.forecaster.reference_time + pd.Timedelta(days=40)
    frame = bundle.forecaster.forecast(1, steps=3, rollouts=20, start=start)
    assert (frame["date_low"] >= start).all()


def test_sequence_component_predicts_next_channel_and_gap(bundle):
    sequence = bundle.components["sequence"]
    p = sequence.next_channel_probabilities(np.arange(10))
    assert p.shape == (10, len(CHANNELS))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    gaps = sequence.next_gap_days(np.arange(10))
    assert np.isfinite(gaps).all() and (gaps >= 0).all()
    scores = sequence.score_batch(np.arange(4))
    assert scores.shape == (4, len(bundle.content_ids))
