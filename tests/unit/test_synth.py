"""The synthetic world: determinism, schemas, business rules of the history, the oracle, content text."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from engine.config import CHANNELS
from engine.data.ingest import npi_is_valid
from engine.data.schemas import OUTCOMES, TABLES
from engine.data.store import Store, conform
from engine.synth import Oracle, World, WorldConfig, generate_world
from engine.synth.content import SUBTOPICS, generate_catalogue
from engine.synth.oracle import interests

SMALL = WorldConfig(n_hcps=120, months=4, seed=11, n_contents=60)


def _indices(oracle: Oracle, frame: pd.DataFrame):
    content_pos = {c: k for k, c in enumerate(oracle.content_ids)}
    return (oracle.hcp_index(frame["hcp_id"]),
            frame["content_id"].map(content_pos).to_numpy(np.int64),
            frame["channel"].map({c: k for k, c in enumerate(CHANNELS)}).to_numpy(np.int64))


def test_same_seed_same_world_and_other_seed_differs():
    a, b = generate_world(SMALL), generate_world(SMALL)
    for name, frame in a.frames().items():
        pd.testing.assert_frame_equal(frame, b.frames()[name], obj=name)
    np.testing.assert_array_equal(a.oracle.interaction_probability, b.oracle.interaction_probability)
    c = generate_world(WorldConfig(n_hcps=120, months=4, seed=12, n_contents=60))
    assert not a.hcps["hcp_id"].equals(c.hcps["hcp_id"])
    assert len(a.interactions) != len(c.interactions) or not a.interactions["engaged"].equals(c.interactions["engaged"])


def test_frames_conform_to_the_store_schemas(tiny_world):
    for name, frame in tiny_world.frames().items():
        assert list(frame.columns) == [c.name for c in TABLES[name]], name
        conformed = conform(name, frame)
        assert len(conformed) == len(frame)
        for col in TABLES[name]:
            if not col.nullable:
                assert conformed[col.name].notna().all(), f"{name}.{col.name} has nulls"
        for col in TABLES[name]:
            if col.primary_key:
                assert frame[col.name].is_unique, f"{name}.{col.name} not unique"


def test_world_loads_into_the_store(world_settings, tiny_world):
    counts = Store(world_settings.database_url).counts()
    assert counts["hcps"] == len(tiny_world.hcps)
    assert counts["interactions"] == len(tiny_world.interactions)
    assert (world_settings.artifacts_dir / "world" / "truth.npz").is_file()


def test_hcps_have_valid_npis_and_plausible_profiles(tiny_world):
    hcps = tiny_world.hcps
    assert npi_is_valid("1234567893") and not npi_is_valid("1234567890")
    assert all(npi_is_valid(n) for n in hcps["hcp_id"])
    assert hcps["specialty"].value_counts().index[0] in ("Family Medicine", "Internal Medicine")
    assert hcps["state"].str.fullmatch(r"[A-Z]{2}").all() and hcps["zip"].str.fullmatch(r"\d{5}").all()
    assert hcps["taxonomy_code"].str.fullmatch(r"[0-9A-Z]{9}X").all()
    opted_out = 1 - hcps[[f"consent_{c}" for c in CHANNELS]].mean()
    assert 0.02 < opted_out["consent_email"] < 0.25 and opted_out["consent_social_event"] > opted_out["consent_email"]


def test_history_respects_consent_and_never_resends_engaged_content(tiny_world):
    inter = tiny_world.interactions.merge(tiny_world.hcps, on="hcp_id")
    for channel in CHANNELS:
        used = inter[inter["channel"] == channel]
        assert used[f"consent_{channel}"].all(), f"{channel} used although opted out"
    first_engaged = (inter[inter["engaged"]].groupby(["hcp_id", "content_id"])["timestamp"].min()
                     .rename("first_engaged").reset_index())
    later = inter.merge(first_engaged, on=["hcp_id", "content_id"])
    assert (later["timestamp"] <= later["first_engaged"]).all(), "content resent after the HCP engaged with it"


def test_touches_stay_inside_period_and_approval_windows(tiny_world):
    inter = tiny_world.interactions.merge(tiny_world.contents, on="content_id")
    assert (inter["timestamp"] >= tiny_world.start).all() and (inter["timestamp"] < tiny_world.end).all()
    assert (inter["timestamp"] >= inter["approval_start"]).all()
    assert (inter["timestamp"] <= inter["approval_end"] + pd.Timedelta(days=1)).all()
    assert (inter["publication_date"] <= inter["timestamp"]).all()
    assert inter["campaign_id"].isin(tiny_world.campaigns["campaign_id"]).all()


def test_outcomes_match_channels(tiny_world):
    inter = tiny_world.interactions
    assert set(inter["outcome"]) <= set(OUTCOMES)
    assert (inter["engaged"] == (inter["outcome"] != "delivered")).all()
    email = inter["channel"] == "email"
    assert set(inter.loc[email & inter["engaged"], "outcome"]) <= {"opened", "clicked"}
    assert set(inter.loc[~email & inter["engaged"], "outcome"]) == {"attended"}
    assert inter.loc[inter["engaged"], "dwell_seconds"].gt(0).all()
    assert inter.loc[~inter["engaged"], "dwell_seconds"].isna().all()
    assert inter["converted"].mean() < 0.05 and not inter.loc[~inter["engaged"], "converted"].any()


def test_summary_is_plausible(tiny_world):
    summary = tiny_world.summary()
    assert summary["interactions"] == len(tiny_world.interactions)
    assert 0.15 < summary["engagement_rate"] < 0.45
    rates = summary["engagement_by_channel"]
    assert rates["rep_visit"] > rates["email"] > rates["social_event"] - 0.05
    assert summary["oracle_auc"] > 0.7
    assert set(summary["touches_per_hcp"]) == {"mean", "p50", "p90"}
    json.dumps(summary)


def test_oracle_reproduces_the_simulated_probabilities(tiny_world, tmp_path):
    oracle = tiny_world.oracle
    sample = tiny_world.interactions.sample(400, random_state=0)
    h, i, c = _indices(oracle, sample)
    recorded = oracle.interaction_probability[sample.index.to_numpy()]
    np.testing.assert_allclose(oracle.probability(h, i, c, sample["timestamp"].to_numpy()), recorded, atol=1e-9)
    loaded = World.load_truth(tiny_world.save_truth(tmp_path / "world"))
    np.testing.assert_allclose(loaded.probability(h, i, c, sample["timestamp"].to_numpy()), recorded, atol=1e-5)
    assert list(loaded.hcp_ids) == list(oracle.hcp_ids) and list(loaded.content_ids) == list(oracle.content_ids)


def test_score_matrix_agrees_with_probability(tiny_world):
    oracle = tiny_world.oracle
    at = tiny_world.start + pd.Timedelta(days=150)
    hcp_idx = np.arange(0, 40, 3)
    scores = oracle.score_matrix(hcp_idx, at)
    assert scores.shape == (len(hcp_idx), len(oracle.content_ids), len(CHANNELS))
    rng = np.random.default_rng(0)
    ci, ch = rng.integers(scores.shape[1], size=len(hcp_idx)), rng.integers(len(CHANNELS), size=len(hcp_idx))
    np.testing.assert_allclose(scores[np.arange(len(hcp_idx)), ci, ch], oracle.probability(hcp_idx, ci, ch, at))


def test_history_changes_the_probability(tiny_world):
    """Sequence carries signal: the same touch right after another one is less likely to engage."""
    oracle = tiny_world.oracle
    inter = tiny_world.interactions
    h, i, c = _indices(oracle, inter.head(200))
    t = inter.head(200)["timestamp"]
    before = oracle.probability(h, i, c, t.to_numpy())
    just_after = oracle.probability(h, i, c, (t + pd.Timedelta(hours=1)).to_numpy())
    assert np.mean(just_after < before) > 0.5


def test_best_actions_follow_the_business_rules(tiny_world):
    oracle = tiny_world.oracle
    at = tiny_world.start + pd.Timedelta(days=200)
    hcp_idx = np.arange(60)
    best = oracle.best_actions(hcp_idx, at, k=5)
    assert list(best.columns) == ["hcp_id", "rank", "content_id", "channel", "probability"]
    assert best.groupby("hcp_id")["rank"].apply(lambda r: list(r) == list(range(1, len(r) + 1))).all()
    assert (best.groupby("hcp_id")["probability"].diff().dropna() <= 1e-12).all()
    contents = tiny_world.contents.set_index("content_id")
    chosen = contents.loc[best["content_id"]]
    assert ((chosen["approval_start"] <= at) & (chosen["approval_end"] >= at.normalize())).all()
    consent = tiny_world.hcps.set_index("hcp_id").loc[best["hcp_id"]]
    assert all(consent[f"consent_{ch}"].iloc[k] for k, ch in enumerate(best["channel"]))
    history = tiny_world.interactions
    engaged = set(zip(history.loc[history["engaged"] & (history["timestamp"] < at), "hcp_id"],
                      history.loc[history["engaged"] & (history["timestamp"] < at), "content_id"]))
    assert not engaged & set(zip(best["hcp_id"], best["content_id"]))
    unrestricted = oracle.best_actions(hcp_idx, at, k=5, exclude_consumed=False)
    assert unrestricted["probability"].sum() >= best["probability"].sum() - 1e-9


def test_interests_drift_over_the_period(tiny_world):
    hidden = tiny_world.oracle.hidden
    hcp_idx = np.arange(len(tiny_world.hcps))
    first = interests(hidden, hcp_idx, 0.0)
    last = interests(hidden, hcp_idx, hidden.period_days)
    np.testing.assert_allclose(first.sum(axis=1), 1.0)
    assert np.abs(first - last).sum(axis=1).mean() > 0.3
    assert (first.argmax(axis=1) != last.argmax(axis=1)).mean() > 0.1


def test_generated_abstracts_read_like_abstracts():
    items = generate_catalogue(np.random.default_rng(5), 300)
    titles = [t for _, t, _ in items]
    assert len(set(t.lower() for t in titles)) == len(titles)
    for _, title, abstract in items:
        for text in (title, abstract):
            words = re.findall(r"[A-Za-z0-9'-]+", text.lower())
            assert not any(words[k] == words[k + 1] == words[k + 2] for k in range(len(words) - 2)), text
            assert "{" not in text and "  " not in text and text[0].isupper()
        sections = [m.start() for m in re.finditer(r"(Background|Methods|Results|Conclusions): ", abstract)]
        assert len(sections) == 4 and sections == sorted(sections)
        for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z])", abstract):
            assert sentence.rstrip()[-1] in ".!?", sentence
    areas = {SUBTOPICS[s].area for s, _, _ in items}
    assert len(areas) == 6


def test_config_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="n_hcps"):
        WorldConfig(n_hcps=0)
    bad = tmp_path / "abstracts.csv"
    bad.write_text("PMID,Headline\n1,x\n")
    with pytest.raises(ValueError, match="(?i)title"):
        generate_world(WorldConfig(n_hcps=20, months=2, abstracts=bad))


def test_real_seed_data_when_available():
    from engine.config import Settings
    seed = Settings().seed_dir
    if not (seed / "hcp_master.csv").is_file():
        pytest.skip("seed data not present")
    world = generate_world(WorldConfig(n_hcps=200, months=3, seed=1, hcp_master=seed / "hcp_master.csv",
                                       abstracts=seed / "pubmed_abstracts_2020_2025.csv",
                                       patients=seed / "patients_with_hcp.csv"))
    master = pd.read_csv(seed / "hcp_master.csv", dtype=str, usecols=["hcp_id"])
    assert world.hcps["hcp_id"].isin(master["hcp_id"]).all()
    assert 450 < len(world.contents) <= 509 and world.contents["pmid"].is_unique
    assert world.contents["content_id"].str.startswith("PMID").all()
    assert world.contents["abstract"].str.len().gt(0).all()
    assert world.patients["hcp_id"].isin(world.hcps["hcp_id"]).all()
    for name, frame in world.frames().items():
        conform(name, frame)


def test_generate_command_json(tmp_path, monkeypatch, capsys):
    from engine.cli import main
    monkeypatch.setenv("DATABASE_URL", f"duckdb:///{tmp_path / 'cli.duckdb'}")
    monkeypatch.setenv("ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    assert main(["generate", "--hcps", "80", "--months", "3", "--seed", "2", "--contents", "40", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("hcps", "contents", "interactions", "oracle_auc", "seconds", "engagement_by_channel"):
        assert key in out
    assert out["hcps"] == 80
    assert Store(f"duckdb:///{tmp_path / 'cli.duckdb'}").count("interactions") == out["interactions"]
    assert isinstance(Oracle.load(tmp_path / "artifacts" / "world"), Oracle)
    assert main(["generate", "--hcps", "10", "--abstracts", str(tmp_path / "missing.csv"), "--json"]) == 1
    assert "file not found" in capsys.readouterr().err
