"""The models learn planted structure from plain interaction logs (no world, no text, no profile).

A log where each HCP walks a chain of contents (``k, k+1, k+2, ...``) can only be ranked by a
model that reads the order of touches: an LSTM that ranks at 0.000 here fails. Every touch is
engaged and on one channel (a positive-only log whose channel and outcome never vary).
"""
import numpy as np
import pandas as pd
import pytest

from engine.config import CHANNELS
from engine.evaluation import evaluate_models
from engine.models.baselines import PopularityRecommender
from engine.models.collaborative import CollaborativeFilter
from engine.models.data import make_split
from engine.models.features import TouchLog, history_features
from engine.models.hybrid import HybridModel
from engine.models.pipeline import plain_log_frames
from engine.models.sequence import SequenceModel

N_CONTENTS = 150
CHAIN = 14


def chain_log(n_hcps=240, repeat=1, groups=1, seed=0) -> pd.DataFrame:
    """Each HCP touches ``CHAIN`` consecutive contents from a random start (each ``repeat`` times);
    with ``groups`` > 1 each group of HCPs walks its own part of the catalogue (peers matter too)."""
    rng = np.random.default_rng(seed)
    rows = []
    span = N_CONTENTS // groups
    for h in range(n_hcps):
        group = h % groups
        start = rng.integers(0, span)
        t = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 30)))
        for step in range(CHAIN):
            item = group * span + (start + step) % span
            for _ in range(repeat):
                t += pd.Timedelta(days=int(rng.integers(1, 4)))
                rows.append((f"H{h:04d}", f"C{item:04d}", t))
    frame = pd.DataFrame(rows, columns=["hcp_id", "content_id", "timestamp"])
    frame.insert(0, "interaction_id", np.arange(len(frame)))
    frame["channel"], frame["outcome"], frame["engaged"] = "email", "opened", True
    # every content exists in the catalogue, touched or not
    frame.attrs["contents"] = [f"C{i:04d}" for i in range(N_CONTENTS)]
    return frame


def split(frame: pd.DataFrame):
    frames = plain_log_frames(frame)
    ids = pd.Series(frame.attrs["contents"])
    frames["contents"] = frames["contents"].set_index("content_id").reindex(ids).rename_axis("content_id")\
        .reset_index().assign(title=ids)
    return make_split(frames, protocol="loo-sampled100")


def hit_rate(data, models) -> dict[str, float]:
    report = evaluate_models(data, models)
    return {name: row["hit_rate@10"] for name, row in report["models"].items()}


@pytest.mark.parametrize("repeat", [1, 2], ids=["distinct", "each-content-twice"])
def test_lstm_learns_a_planted_next_item_chain(repeat):
    data = split(chain_log(repeat=repeat))
    seq = SequenceModel(units=32, content_dim=16, epochs=25, learning_rate=1e-2, patience=25, seed=0).fit(data)
    pop = PopularityRecommender().fit(data)
    hits = hit_rate(data, {"sequence": seq, "popularity": pop})
    assert hits["sequence"] >= 0.9, hits
    assert hits["popularity"] < 0.5, hits  # the chain is invisible without the order


def test_hybrid_is_at_least_as_good_as_each_of_its_parts():
    data = split(chain_log(n_hcps=240, groups=3, seed=1))
    cf = CollaborativeFilter(factors=8, iterations=6).fit(data)
    seq = SequenceModel(units=32, content_dim=16, epochs=25, learning_rate=1e-2, patience=25, seed=0).fit(data)
    said = []
    hybrid = HybridModel(dim=8, hidden=16, epochs=2, batch_size=512, run_eagerly=True).fit(
        data, progress=lambda stage, message: said.append((stage, message)), sequence=seq, collaborative=cf)
    pop = PopularityRecommender().fit(data)
    hits = hit_rate(data, {"hybrid": hybrid, "sequence": seq, "collaborative": cf, "popularity": pop,
                           **hybrid.ablations()})
    best_part = max(hits["sequence"], hits["collaborative"], hits["popularity"])
    assert hits["hybrid"] >= best_part - 0.02, hits
    assert hits["hybrid"] > hits["popularity"] + 0.3, hits
    assert set(hits) >= {"hybrid_without_sequence", "hybrid_without_collaborative", "hybrid_without_topics"}
    assert any("sampled negatives" in message for _, message in said)  # a positive-only log


def test_no_touch_sees_a_later_one():
    """Features and LSTM states of a touch are unchanged when every later touch is rewritten."""
    data = split(chain_log(n_hcps=40, seed=2))
    seq = SequenceModel(units=8, content_dim=4, epochs=1, seed=0).fit(data)
    log = TouchLog.from_frame(data.train, data.n_hcps)
    cut = log.indptr[:-1] + np.diff(log.indptr) // 2  # the middle touch of each HCP
    later = np.arange(len(log)) >= cut[log.hcp]
    altered = TouchLog(hcp=log.hcp, content=np.where(later, (log.content + 7) % data.n_contents, log.content),
                       channel=np.where(later, 2, log.channel), outcome=np.where(later, 0, log.outcome),
                       engaged=np.where(later, False, log.engaged), time=log.time, indptr=log.indptr)
    early = np.flatnonzero(~later)
    topics = np.eye(data.n_contents, 3, dtype=np.float32)
    factors = np.random.default_rng(0).normal(size=(data.n_contents, 4)).astype(np.float32)
    args = (topics, factors, np.full(len(CHANNELS), 0.3), np.full(3, 0.3))
    for name, block in history_features(log, log.hcp[early], early, log.time[early], *args).items():
        np.testing.assert_array_equal(block, history_features(altered, log.hcp[early], early, log.time[early],
                                                              *args)[name], err_msg=name)
    np.testing.assert_allclose(seq.states_before(log)[early], seq.states_before(altered)[early], atol=1e-6)
    # and the state before a touch is not the state after it
    assert not np.allclose(seq.states_before(log)[cut], seq.states_before(altered)[cut + 1])
