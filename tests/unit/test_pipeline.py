"""The training pipeline end to end on the tiny world, and on a plain CRM export."""
import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from engine.bundles import current_version, load_bundle, validate_bundle
from engine.cli import main
from engine.config import CHANNELS, Settings
from engine.models.pipeline import TINY_CONFIG, train_pipeline
from engine.models.scorer import HybridScorer
from engine.synth import generate_world
from tests.fixtures.world import TINY_WORLD


def test_training_writes_a_valid_bundle(trained_settings):
    version = current_version(trained_settings.artifacts_dir)
    assert version is not None
    assert validate_bundle(trained_settings.artifacts_dir / version) == []
    manifest = json.loads((trained_settings.artifacts_dir / version / "manifest.json").read_text())
    assert set(manifest["components"]) == {"scorer", "forecaster", "topics", "collaborative", "sequence", "hybrid",
                                              "data"}
    assert manifest["serving"] == ["scorer", "forecaster", "topics"]  # what a web worker loads: no Keras
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
    assert hybrid.next_channel_probabilities(np.arange(3)).shape == (3, len(CHANNELS))


def test_hybrid_touch_channels_per_touch_equal_its_catalogue_channel_probabilities(trained_settings):
    """The evaluation takes the channel of a touch from the engagement per channel (linear in the
    touches); for the hybrid that is its channel_probabilities at the touched content."""
    hybrid = load_bundle(trained_settings.artifacts_dir).components["hybrid"]
    touches = pd.DataFrame({"hcp_idx": [0, 0, 3, 7, 7], "content_idx": [1, 4, 2, 0, 9]})
    full = hybrid.channel_probabilities(touches["hcp_idx"].to_numpy())
    expected = full[np.arange(len(touches)), touches["content_idx"].to_numpy()]
    np.testing.assert_allclose(hybrid.touch_channel_probabilities(touches), expected, rtol=1e-5)


@pytest.fixture(scope="module")
def plain_log_bundle(tmp_path_factory, tiny_world):
    """A bundle trained with `train --interactions` on a plain CRM export (the store stays empty)."""
    root = tmp_path_factory.mktemp("plain")
    export = tiny_world.interactions[["hcp_id", "content_id", "channel", "timestamp", "outcome"]]
    path = root / "crm.csv"
    export.to_csv(path, index=False)
    settings = Settings().with_(database_url=f"duckdb:///{root / 'store.duckdb'}", artifacts_dir=root / "artifacts",
                                cache_dir=root / "cache", redis_url=None)
    version = train_pipeline(settings, protocol="loo-sampled100", interactions_file=path, config=TINY_CONFIG)
    return settings, version, path


def test_training_on_a_plain_crm_export(plain_log_bundle):
    settings, version, path = plain_log_bundle
    bundle = load_bundle(settings.artifacts_dir, version)
    assert "topics" not in bundle.components
    assert bundle.manifest["parameters"]["has_text"] is False
    assert bundle.manifest["parameters"]["source"] == str(path)
    assert "oracle" not in bundle.metrics["models"]
    scores = bundle.scorer.score(0)
    assert np.isfinite(scores.score).all()


def _evaluate_json(settings, monkeypatch, capsys) -> dict:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ARTIFACTS_DIR", str(settings.artifacts_dir))
    capsys.readouterr()
    code = main(["evaluate", "--json", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_evaluate_runs_after_train_interactions(plain_log_bundle, monkeypatch, capsys):
    settings, version, path = plain_log_bundle
    report = _evaluate_json(settings, monkeypatch, capsys)
    assert report["version"] == version and report["protocol"] == "loo-sampled100"
    assert report["source"] == str(path)
    trained = load_bundle(settings.artifacts_dir, version).metrics["models"]
    for name in ("hybrid", "collaborative", "sequence", "popularity"):
        assert report["models"][name]["hit_rate@10"] == pytest.approx(trained[name]["hit_rate@10"]), name
        assert report["models"][name]["n_hcps_ranked"] == trained[name]["n_hcps_ranked"] > 0


def test_evaluate_ignores_a_changed_store_and_a_foreign_world_truth(trained_settings, tiny_world, tmp_path,
                                                                    monkeypatch, capsys):
    """The bundle's own data is evaluated: an emptied store changes nothing; another world's truth is not used."""
    artifacts = tmp_path / "artifacts"
    shutil.copytree(trained_settings.artifacts_dir, artifacts)
    settings = trained_settings.with_(database_url=f"duckdb:///{tmp_path / 'empty.duckdb'}", artifacts_dir=artifacts)
    report = _evaluate_json(settings, monkeypatch, capsys)
    trained = load_bundle(artifacts).metrics["models"]
    for name in ("hybrid", "popularity", "oracle"):
        assert report["models"][name]["ndcg@10"] == pytest.approx(trained[name]["ndcg@10"]), name
    assert report["models"]["hybrid"]["value_ratio@10"] == pytest.approx(trained["hybrid"]["value_ratio@10"])

    other = generate_world(dataclasses.replace(TINY_WORLD, seed=TINY_WORLD.seed + 1))
    shutil.rmtree(artifacts / "world")
    other.save_truth(artifacts / "world")
    report = _evaluate_json(settings, monkeypatch, capsys)
    assert "oracle" not in report["models"] and report["models"]["hybrid"]["value_ratio@10"] is None
    assert any("world truth" in note and "not the one" in note for note in report["notes"])
    assert report["models"]["popularity"]["ndcg@10"] == pytest.approx(trained["popularity"]["ndcg@10"])


def test_bad_protocol_is_refused(trained_settings):
    with pytest.raises(ValueError, match="protocol"):
        train_pipeline(trained_settings, protocol="random-split", config=TINY_CONFIG)
