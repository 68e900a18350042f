"""Splits, the evaluation protocols and the `evaluate` command's protocol check."""
import argparse
import json

import numpy as np
import pandas as pd
import pytest

from engine.bundles import allow_component_class, write_bundle
from engine.cli import CommandError
from engine.commands import evaluate as evaluate_cmd
from engine.config import CHANNELS
from engine.evaluation import evaluate_models, metric_keys, protocols
from engine.evaluation import metrics as M
from engine.models.base import Recommender
from engine.models.baselines import RandomRecommender, fit_baselines
from engine.models.data import LOO_NEGATIVES, SPLIT_COLUMNS, RecordedFrames, make_split, truth_fingerprint
from engine.progress import QUIET


@pytest.fixture(scope="module")
def frames(tiny_world):
    return tiny_world.frames()


def test_temporal_split_respects_the_cutoffs(frames):
    data = make_split(frames, holdout_days=60, valid_days=30)
    assert data.train["timestamp"].max() < data.valid_cutoff <= data.valid["timestamp"].min()
    assert data.valid["timestamp"].max() < data.cutoff <= data.test["timestamp"].min()
    assert data.valid_cutoff == data.cutoff - pd.Timedelta(days=30)
    assert len(data.train) + len(data.valid) + len(data.test) == len(frames["interactions"])
    row = data.test.iloc[0]
    source = frames["interactions"].set_index("interaction_id").loc[row["interaction_id"]]
    assert data.hcp_ids[row["hcp_idx"]] == source["hcp_id"] and data.content_ids[row["content_idx"]] == source["content_id"]
    assert CHANNELS[row["channel_idx"]] == source["channel"] and row["outcome"] == source["outcome"]
    # the split keeps indices in compact dtypes, not the ids' text
    assert list(data.test.columns) == list(SPLIT_COLUMNS) and data.test["hcp_idx"].dtype == np.int32


def test_recorded_cutoff_rebuilds_the_same_split(frames):
    data = make_split(frames, holdout_days=60)
    again = make_split(frames, **{k: v for k, v in data.split_parameters().items()})
    assert again.cutoff == data.cutoff and len(again.test) == len(data.test)


def test_loo_split_holds_out_the_last_newly_engaged_item(frames):
    data = make_split(frames, protocol="loo-sampled100", seed=1)
    assert data.test["hcp_idx"].is_unique and len(data.test) > 0
    everything = pd.concat([data.train, data.valid, data.test])
    for _, row in data.test.head(25).iterrows():
        mine = everything[everything["hcp_idx"] == row["hcp_idx"]]
        engaged = mine[mine["engaged"]].sort_values(["timestamp", "interaction_id"])
        firsts = engaged.drop_duplicates("content_idx")
        assert firsts.iloc[-1]["interaction_id"] == row["interaction_id"]
        assert mine["timestamp"].max() == row["timestamp"]  # nothing of this HCP after its test item
        valid = data.valid[data.valid["hcp_idx"] == row["hcp_idx"]]
        assert valid.iloc[0]["interaction_id"] == firsts.iloc[-2]["interaction_id"]


def test_sampled_negatives_are_never_touched_items(frames):
    data = make_split(frames, protocol="loo-sampled100", seed=1)
    assert data.test_negatives.shape == (len(data.test), LOO_NEGATIVES)
    everything = pd.concat([data.train, data.valid, data.test])
    touched = everything.groupby("hcp_idx")["content_idx"].agg(set)
    for row, negatives in zip(data.test["hcp_idx"], data.test_negatives):
        assert len(set(negatives)) == LOO_NEGATIVES
        assert not touched[row] & set(negatives.tolist())
    again = make_split(frames, protocol="loo-sampled100", seed=1)
    assert (again.test_negatives == data.test_negatives).all()


def test_eligible_applies_consent_approval_and_consumption(frames):
    data = make_split(frames, holdout_days=60)
    hcps = np.arange(data.n_hcps)
    mask = data.eligible(hcps)
    assert mask.shape == (data.n_hcps, data.n_contents, len(CHANNELS))
    assert not mask[~np.broadcast_to(data.consent[:, None, :], mask.shape)].any()
    assert not mask[:, ~data.approved(data.cutoff), :].any()
    assert not mask[data.engaged_mask(hcps)].any()
    assert mask.any()


class _ByContentIndex(Recommender):
    """Scores content c by +c or -c; always picks channel 0."""

    def __init__(self, sign):
        self.sign = sign

    def fit(self, data, progress=QUIET):
        self.n_ = data.n_contents
        return self

    def score_batch(self, hcp_idx):
        return np.tile(self.sign * np.arange(self.n_, dtype=float), (len(hcp_idx), 1))

    def channel_probabilities(self, hcp_idx):
        probs = np.zeros((len(hcp_idx), self.n_, len(CHANNELS)))
        probs[:, :, 0] = 1.0
        return probs


class _FakeOracle:
    """True p = content / 20 on channel 0, nothing on the other channels."""

    def __init__(self, hcp_ids, content_ids, n_interactions):
        self.hcp_ids, self.content_ids = np.array(hcp_ids), np.array(content_ids)
        self.interaction_probability = np.full(n_interactions, 0.5)

    def score_matrix(self, hcp_idx, at):
        p = np.zeros((len(hcp_idx), len(self.content_ids), len(CHANNELS)))
        p[:, :, 0] = np.arange(len(self.content_ids)) / 20
        return p

    def probability(self, hcp_idx, content_idx, channel_idx, at):
        return np.where(np.asarray(channel_idx) == 0, np.asarray(content_idx) / 20, 0.0)


def _hand_frames():
    hcps = pd.DataFrame({"hcp_id": ["1000000001", "1000000002"], "last_name": ["A", "B"], "specialty": ["X", "X"],
                         **{f"consent_{c}": [True, True] for c in CHANNELS}})
    contents = pd.DataFrame({"content_id": [f"C{j:02d}" for j in range(12)], "title": [f"t{j}" for j in range(12)]})
    days = [0, 10, 20, 100, 130, 150, 170]
    inter = pd.DataFrame({"interaction_id": np.arange(1, 15), "hcp_id": ["1000000001"] * 7 + ["1000000002"] * 7,
                          "content_id": "C00", "channel": "email",
                          "timestamp": [pd.Timestamp("2024-01-01") + pd.Timedelta(days=d) for d in days * 2],
                          "outcome": "delivered", "engaged": False})
    return {"hcps": hcps, "contents": contents, "interactions": inter}


def test_value_ratio_against_a_hand_worked_fake_oracle():
    frames = _hand_frames()
    oracle = _FakeOracle(frames["hcps"]["hcp_id"], frames["contents"]["content_id"], len(frames["interactions"]))
    data = make_split(frames, holdout_days=40, valid_days=20)
    models = {"best": _ByContentIndex(+1).fit(data), "worst": _ByContentIndex(-1).fit(data)}
    report = evaluate_models(data, models, oracle=oracle)
    random_value = np.mean(np.arange(12) / 20) / len(CHANNELS)   # uniform over contents and channels
    oracle_value = np.mean(np.arange(2, 12) / 20)                 # contents 2..11 on channel 0
    worst_value = np.mean(np.arange(0, 10) / 20)                  # contents 0..9 on channel 0
    assert report["models"]["oracle"]["policy_value@10"] == pytest.approx(oracle_value)
    assert report["models"]["oracle"]["value_ratio@10"] == pytest.approx(1.0)
    assert report["models"]["best"]["value_ratio@10"] == pytest.approx(1.0)
    assert report["models"]["worst"]["value_ratio@10"] == pytest.approx(
        (worst_value - random_value) / (oracle_value - random_value))
    assert report["n_hcps_evaluated"] == 2


def test_evaluate_models_report_shape_on_the_tiny_world(frames, tiny_world):
    data = make_split(frames, holdout_days=60)
    report = evaluate_models(data, {"random": RandomRecommender().fit(data)}, oracle=tiny_world.oracle)
    json.dumps(report)
    assert report["protocol"] == "temporal" and report["k"] == 10
    for name in ("random", "oracle"):
        assert set(metric_keys(10)) <= set(report["models"][name])
    oracle, random = report["models"]["oracle"], report["models"]["random"]
    assert oracle["engagement_auc"] > 0.7 and random["engagement_auc"] == pytest.approx(0.5)
    assert oracle["channel_accuracy"] > random["channel_accuracy"]
    assert len(oracle["calibration"]) == 10 and random["gap_mae_days"] is None


class _Coarse(Recommender):
    """Another model's scores rounded to a few levels: rankings full of ties."""

    def __init__(self, model, levels=3):
        self.model, self.levels = model, levels

    def score_batch(self, hcp_idx):
        scores = self.model.score_batch(hcp_idx)
        return np.floor(self.levels * scores / scores.max())


def _reference_temporal_ranking(data, model, k=10) -> dict:
    """The temporal ranking metrics by their definition: a full stable sort of each HCP's scores."""
    test = data.test[data.test["engaged"]]
    hcps = np.unique(test["hcp_idx"])
    excluded = data.engaged_mask(hcps)
    relevant = np.zeros_like(excluded)
    relevant[np.searchsorted(hcps, test["hcp_idx"]), test["content_idx"]] = True
    relevant &= ~excluded
    keep = relevant.any(axis=1)
    hcps, excluded, relevant = hcps[keep], excluded[keep], relevant[keep]
    scores = np.array(model.score_batch(hcps), dtype=float)
    scores[excluded] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")
    ranked = np.take_along_axis(relevant, order, axis=1)
    n_relevant = relevant.sum(axis=1)
    return {"ndcg@10": np.mean(M.ndcg_at_k(ranked[:, :k], n_relevant)),
            "recall@10": np.mean(M.recall_at_k(ranked[:, :k], n_relevant)),
            "hit_rate@10": np.mean(ranked[:, :k].any(axis=1)),
            "mrr": np.mean(1.0 / (ranked.argmax(axis=1) + 1)),
            "coverage": len(np.unique(order[:, :k])) / data.n_contents}


def test_temporal_ranking_matches_its_full_sort_definition_in_small_batches(frames, monkeypatch):
    monkeypatch.setattr(protocols, "BATCH", 64)  # several batches on the tiny world
    data = make_split(frames, holdout_days=60)
    baselines = fit_baselines(data)
    models = {**baselines, "coarse": _Coarse(baselines["popularity"])}
    report = evaluate_models(data, models, max_ranking_hcps=None)
    for name, model in models.items():
        expected = _reference_temporal_ranking(data, model)
        for key, value in expected.items():
            assert report["models"][name][key] == pytest.approx(value, abs=1e-12), (name, key)


@allow_component_class
class StoredPopularity(Recommender):
    """A tiny Recommender that can live in a bundle (for the `evaluate` command tests)."""

    name = "hybrid"

    def fit(self, data, progress=QUIET):
        history = data.history
        self.popularity_ = np.bincount(history["content_idx"], weights=history["engaged"], minlength=data.n_contents)
        return self

    def score_batch(self, hcp_idx):
        return np.tile(self.popularity_, (len(hcp_idx), 1))

    def save(self, path):
        np.save(path / "popularity.npy", self.popularity_)

    @classmethod
    def load(cls, path):
        model = cls()
        model.popularity_ = np.load(path / "popularity.npy", allow_pickle=False)
        return model


def _evaluate_args(**kw):
    return argparse.Namespace(**{"protocol": None, "version": None, "k": 10, "json": True, **kw})


def test_evaluate_command_reports_bundle_models_and_refuses_another_protocol(world_settings, frames, capsys):
    data = make_split(frames, holdout_days=60)
    version = write_bundle(world_settings.artifacts_dir,
                           {"hybrid": StoredPopularity().fit(data), "data": RecordedFrames(frames)},
                           {"protocol": "temporal", "parameters": {"split": data.split_parameters()},
                            "data_fingerprint": data.fingerprint,
                            "truth_fingerprint": truth_fingerprint(world_settings.artifacts_dir)})
    with pytest.raises(CommandError, match="trained with protocol 'temporal'"):
        evaluate_cmd.run(_evaluate_args(protocol="loo-sampled100"), world_settings, QUIET)
    assert evaluate_cmd.run(_evaluate_args(version=version), world_settings, QUIET) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["protocol"] == "temporal" and report["k"] == 10 and report["version"] == version
    assert {"hybrid", "oracle", "random", "popularity", "specialty_popularity"} <= set(report["models"])
    assert report["cutoff"] == data.cutoff.isoformat() and report["source"] == "store"
    hybrid = report["models"]["hybrid"]
    assert hybrid["ndcg@10"] is not None and hybrid["value_ratio@10"] is not None and hybrid["engagement_auc"] is None


def test_evaluate_command_refuses_a_bundle_without_its_data(world_settings, frames):
    data = make_split(frames, holdout_days=60)
    version = write_bundle(world_settings.artifacts_dir, {"hybrid": StoredPopularity().fit(data)},
                           {"protocol": "temporal", "parameters": {"split": data.split_parameters()}},
                           make_current=False)
    with pytest.raises(CommandError, match="does not record the data it was trained on.*retrain"):
        evaluate_cmd.run(_evaluate_args(version=version), world_settings, QUIET)


def test_evaluate_command_refuses_data_that_does_not_match_the_manifest(world_settings, frames):
    data = make_split(frames, holdout_days=60)
    version = write_bundle(world_settings.artifacts_dir,
                           {"hybrid": StoredPopularity().fit(data), "data": RecordedFrames(frames)},
                           {"protocol": "temporal", "parameters": {"split": data.split_parameters()},
                            "data_fingerprint": "0123456789abcdef"}, make_current=False)
    with pytest.raises(CommandError, match="fingerprint .* damaged"):
        evaluate_cmd.run(_evaluate_args(version=version), world_settings, QUIET)
