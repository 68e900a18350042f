"""The training pipeline end to end on the tiny world, and on a plain CRM export."""
import json

import numpy as np
import pytest

from engine.bundles import current_version, load_bundle, validate_bundle
from engine.models.pipeline import TINY_CONFIG, train_pipeline
from engine.models.scorer import HybridScorer


def test_training_writes_a_valid_bundle(trained_settings):
    version = current_version(trained_settings.artifacts_dir)
    assert version is not None
    assert validate_bundle(trained_settings.artifacts_dir / version) == []
    manifest = json.loads((trained_settings.artifacts_dir / version / "manifest.json").read_text())
    assert set(manifest["components"]) == {"scorer", "forecaster", "topics", "collaborative", "sequence", "hybrid"}
    models = manifest["metrics"]["models"]
    assert {"hybrid", "collaborative", "sequence", "popularity", "oracle"} <= set(models)
    assert 0.0 <= models["hybrid"]["ndcg@10"] <= 1.0
    curves = manifest["training_curves"]
    for name in ("sequence", "hybrid"):
        assert len(curves[name]["loss"]) >= 1 and len(curves[name]["val_loss"]) == len(curves[name]["loss"])
    assert manifest["parameters"]["has_oracle"] is True


def test_bundle_round_trips_with_the_same_scores(trained_settings, tmp_path):
    bundle = load_bundle(trained_settings.artifacts_dir)
    bundle.scorer.save(tmp_path / "scorer")
    again = HybridScorer.load(tmp_path / "scorer")
    for h in (0, 7):
        np.testing.assert_array_equal(again.score(h).score, bundle.scorer.score(h).score)
    np.testing.assert_array_equal(again.content_ids, bundle.content_ids)


def test_loaded_hybrid_is_a_recommender_at_the_cutoff(trained_settings):
    bundle = load_bundle(trained_settings.artifacts_dir)
    hybrid = bundle.components["hybrid"]
    probs = hybrid.channel_probabilities(np.arange(3))
    np.testing.assert_allclose(probs.sum(axis=2), 1.0, rtol=1e-5)
    assert hybrid.next_channel_probabilities(np.arange(3)).shape == (3, 5)


def test_training_on_a_plain_crm_export(settings, tiny_world, tmp_path):
    export = tiny_world.interactions[["hcp_id", "content_id", "channel", "timestamp", "outcome"]]
    path = tmp_path / "crm.csv"
    export.to_csv(path, index=False)
    version = train_pipeline(settings, interactions_file=path, config=TINY_CONFIG)
    bundle = load_bundle(settings.artifacts_dir, version)
    assert "topics" not in bundle.components
    assert bundle.manifest["parameters"]["has_text"] is False
    assert "oracle" not in bundle.metrics["models"]
    scores = bundle.scorer.score(0)
    assert np.isfinite(scores.score).all()


def test_bad_protocol_is_refused(trained_settings):
    with pytest.raises(ValueError, match="protocol"):
        train_pipeline(trained_settings, protocol="random-split", config=TINY_CONFIG)
