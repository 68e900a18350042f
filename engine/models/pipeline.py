"""The training pipeline: data → split → topics → collaborative → sequence → hybrid → evaluation → bundle.

``train_pipeline`` reads the store (or a plain CRM interaction export), fits every model,
evaluates them with the baselines (and the oracle when the synthetic world's truth is present),
then refreshes the serving features to the end of the data and writes a versioned bundle.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from engine.config import CHANNELS
from engine.progress import QUIET


@dataclass(frozen=True)
class TrainingConfig:
    """Model sizes and optimisation settings of one pipeline run (recorded in the manifest)."""

    seed: int = 0
    holdout_days: int = 90
    valid_days: int = 30
    topic_range: tuple[int, int] = (4, 16)
    # few factors, strong regularisation and recency-weighted confidence: fresh content matters most
    collaborative: dict = field(default_factory=lambda: {"factors": 8, "alpha": 10.0, "reg": 5.0, "iterations": 5,
                                                         "half_life_days": 45.0})
    sequence: dict = field(default_factory=lambda: {"length": None, "units": 48, "content_dim": 32, "horizon": 3,
                                                    "epochs": 12, "batch_size": None, "patience": 2,
                                                    "max_positions": 4_500_000})
    hybrid: dict = field(default_factory=lambda: {"dim": 16, "hidden": 32, "label_days": 90, "epochs": 4,
                                                  "batch_size": 4096, "learning_rate": 0.01, "patience": 1,
                                                  "sequence_dropout": 0.5})
    evaluation: dict = field(default_factory=lambda: {"max_ranking_hcps": 20_000, "max_policy_hcps": 2_000,
                                                      "max_touches": 100_000})

    def with_epochs(self, epochs: int | None) -> "TrainingConfig":
        """The same config with every network trained for ``epochs`` (``None``: unchanged)."""
        if epochs is None:
            return self
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1 (got {epochs})")
        return dataclasses.replace(self, sequence={**self.sequence, "epochs": epochs},
                                   hybrid={**self.hybrid, "epochs": epochs})

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


#: Small sizes for tests and fixtures (seconds, not minutes).
TINY_CONFIG = TrainingConfig(
    topic_range=(3, 5),
    collaborative={"factors": 8, "alpha": 10.0, "reg": 1.0, "iterations": 3},
    sequence={"length": 8, "units": 16, "content_dim": 8, "horizon": 2, "epochs": 1, "batch_size": 256,
              "run_eagerly": True},
    hybrid={"dim": 8, "hidden": 16, "label_days": 60, "epochs": 2, "batch_size": 512, "run_eagerly": True},
)


def plain_log_frames(interactions: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Schema frames for a bare interaction log: HCPs and contents known only by their ids.

    HCPs get specialty 'Unknown' and every consent (the export only holds touches the CRM was
    allowed to make); contents get their id as title and no text, dates or approval window.
    """
    from engine.data.store import conform

    hcp_ids = pd.Series(sorted(interactions["hcp_id"].astype(str).unique()))
    hcps = pd.DataFrame({"hcp_id": hcp_ids, "last_name": hcp_ids, "specialty": "Unknown"})
    for channel in CHANNELS:
        hcps[f"consent_{channel}"] = True
    content_ids = pd.Series(sorted(interactions["content_id"].astype(str).unique()))
    contents = pd.DataFrame({"content_id": content_ids, "title": content_ids})
    return {"hcps": conform("hcps", hcps), "contents": conform("contents", contents),
            "interactions": interactions, "campaigns": None}


def _all_interactions(data) -> pd.DataFrame:
    return pd.concat([data.train, data.valid, data.test], ignore_index=True)


def train_pipeline(settings, protocol: str = "temporal", interactions_file=None, epochs: int | None = None,
                   progress=QUIET, config: TrainingConfig | None = None, store=None) -> str:
    """Train every model, evaluate, write a bundle into ``settings.artifacts_dir``; return its version.

    Parameters
    ----------
    settings : :class:`engine.config.Settings` (store URL, artifacts dir).
    protocol : ``temporal`` or ``loo-sampled100`` (see :mod:`engine.models.data`).
    interactions_file : a CRM interaction export (CSV) to train on instead of the store: no
        text (no topics), no world truth (no oracle); HCPs and contents come from its ids.
    epochs : override the epochs of the sequence and hybrid networks.
    config : model sizes (default :class:`TrainingConfig`).
    store : an open :class:`engine.data.store.Store` (default: ``Store(settings.database_url)``).
    """
    import keras

    from engine.bundles import write_bundle
    from engine.evaluation import evaluate_models
    from engine.models.baselines import fit_baselines
    from engine.models.collaborative import CollaborativeFilter
    from engine.models.data import RecordedFrames, load_frames, load_oracle, make_split, truth_fingerprint
    from engine.models.features import TouchLog
    from engine.models.hybrid import HybridModel
    from engine.models.sequence import JourneyForecaster, SequenceModel

    config = (config or TrainingConfig()).with_epochs(epochs)
    keras.utils.set_random_seed(config.seed)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def stage_done(name: str) -> None:
        nonlocal clock
        seconds[name] = round(time.perf_counter() - clock, 2)
        progress(name, f"done in {seconds[name]:.1f}s")
        clock = time.perf_counter()

    # -- data ------------------------------------------------------------------------------------
    if interactions_file is not None:
        from engine.data.ingest import read_interactions_csv

        frame, report = read_interactions_csv(Path(interactions_file), progress=progress)
        report.raise_if_errors()
        frames, oracle, source = plain_log_frames(frame), None, str(interactions_file)
    else:
        from engine.data.store import Store

        store = store or Store(settings.database_url)
        frames, source = load_frames(store, progress), "store"
        oracle = load_oracle(settings.artifacts_dir)
        progress("data", "world truth found: the oracle is evaluated" if oracle is not None
                 else "no world truth: evaluation without the oracle")
    stage_done("data")
    data = make_split(frames, protocol=protocol, holdout_days=config.holdout_days, valid_days=config.valid_days,
                      seed=config.seed, progress=progress)
    stage_done("split")

    # -- topics ------------------------------------------------------------------------------------
    topic_model = None
    has_text = interactions_file is None and any(text.strip() for text in data.content_text)
    if has_text:
        from engine.topics import TopicModel

        dates = pd.to_datetime(data.contents["publication_date"]) if "publication_date" in data.contents else None
        topic_model = TopicModel(topic_range=config.topic_range, seed=config.seed).fit(
            data.content_text, dates=dates, progress=progress)
        data.content_topics = np.asarray(topic_model.doc_topics_, dtype=np.float32)
        progress("topics", f"{topic_model.num_topics_} topics, c_v {topic_model.coherence_cv_:.3f}")
    else:
        progress("topics", "skipped: the data has no content text (id embeddings only)")
    stage_done("topics")

    # -- models ------------------------------------------------------------------------------------
    collaborative = CollaborativeFilter(seed=config.seed, **config.collaborative).fit(data, progress)
    stage_done("collaborative")
    sequence = SequenceModel(seed=config.seed, **config.sequence).fit(data, progress)
    stage_done("sequence")
    hybrid = HybridModel(seed=config.seed, **config.hybrid).fit(data, progress, sequence=sequence,
                                                                collaborative=collaborative)
    stage_done("hybrid")

    # -- evaluation --------------------------------------------------------------------------------
    baselines = fit_baselines(data, progress, seed=config.seed)
    models = {"hybrid": hybrid, "collaborative": collaborative, "sequence": sequence, **baselines,
              **hybrid.ablations()}
    metrics = evaluate_models(data, models, progress=progress, seed=config.seed, oracle=oracle, **config.evaluation)
    stage_done("evaluation")

    # -- serving features as of the end of the data, then the bundle -------------------------------
    everything = _all_interactions(data)
    serve_at = pd.Timestamp(everything["timestamp"].max()).normalize() + pd.Timedelta(days=1)
    log = TouchLog.from_frame(everything, data.n_hcps)
    states = sequence.states_at(log, serve_at)
    # the collaborative factors are refitted on everything (the hybrid's peer term is rotation-invariant)
    served_cf = CollaborativeFilter(**collaborative.get_params()).fit(data, interactions=everything)
    scorer = hybrid.serving_scorer(data, log, serve_at, served_cf)
    forecaster = JourneyForecaster(sequence.numpy_weights(), states["h"], states["c"], states["last_channel"],
                                   states["last_log_gap"], states["last_time"], serve_at, data.hcp_ids)
    # hybrid / sequence / collaborative stay as evaluated (features at the cutoff): `evaluate` re-scores them.
    # "data": the frames trained on, so `evaluate` rebuilds this split without the store
    components = {"scorer": scorer, "forecaster": forecaster, "collaborative": collaborative,
                  "sequence": sequence, "hybrid": hybrid, "data": RecordedFrames(frames)}
    if topic_model is not None:
        components["topics"] = topic_model
    curves = {"collaborative": {"loss": list(collaborative.loss_curve_)},
              "sequence": sequence.history_, "hybrid": hybrid.history_}
    stage_done("serving features")
    manifest = {
        "data_fingerprint": data.fingerprint,
        "truth_fingerprint": truth_fingerprint(settings.artifacts_dir) if oracle is not None else None,
        "protocol": protocol,
        "parameters": {"split": data.split_parameters(), "config": config.as_dict(), "source": source,
                       "serving_time": serve_at.isoformat(), "n_hcps": int(data.n_hcps),
                       "n_contents": int(data.n_contents), "n_interactions": int(len(everything)),
                       "has_text": bool(has_text), "has_oracle": oracle is not None},
        "metrics": metrics,
        "training_curves": curves,
        "topic_sweep": list(topic_model.sweep_) if topic_model is not None else [],
        "stage_seconds": seconds,
        # what the hybrid's numbers mean: the evaluated ranking vs the served engagement
        "score_kind": {"hybrid.score_batch": "P(engaged with the content in the next window) ~ "
                                             "P(sent | specialty targeting) x P(engaged | sent), blended with "
                                             "topic affinity and the approval calendar (weights fit on validation)",
                       "scorer.score / scorer.engagement": "P(engaged | sent now on the (best consented) channel)"},
    }
    # web workers load these (numpy and JSON); the Keras models and the data are for `evaluate`
    serving = [name for name in ("scorer", "forecaster", "topics") if name in components]
    version = write_bundle(settings.artifacts_dir, components, manifest, key=settings.bundle_signing_key,
                           serving=serving)
    stage_done("bundle")
    progress("train", f"bundle {version} written to {settings.artifacts_dir}")
    return version
