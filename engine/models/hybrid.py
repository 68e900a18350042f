"""Hybrid model: fuses sequence state, topic vectors, collaborative embeddings and the HCP profile.

A two-tower Keras network whose engagement logit for (HCP ``h``, content ``i``, channel ``c``) is
a SUM of interpretable terms, each a dot product of an HCP-tower output and a content-tower
output (see :mod:`engine.models.scorer`), so the reasons shown to users are exact.

Training avoids leakage: features are computed *as of* a feature time and labels are the touches
after it. Temporal protocol: features as of ``valid_cutoff - label_days``, labels the training
touches after that (early stopping on the validation touches). Leave-one-out: per HCP, the last
``label_fraction`` of its training touches are labels and features come from the touches before.
The collaborative factors used as features are refit on the pre-label touches only (the peer term
uses the rotation-free score ``u·v``, so factors refit on all history at serving time fit it).
For serving, the HCP tables are swapped for features as of the cutoff.

Works without text (``data.content_topics is None``: content id embeddings only), for new content
(topic vector only: zero id embedding, see :meth:`HybridScorer.with_new_contents`) and for HCPs
without history (profile and peers only).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from engine.models.base import Recommender
from engine.models.collaborative import CollaborativeFilter
from engine.models.features import (N_CHANNELS, ProfileEncoder, TouchLog, as_times, content_age, content_start,
                                    topic_interests)
from engine.models.scorer import HCP_TABLES, HybridScorer, sigmoid
from engine.progress import QUIET


def progress_callback(progress, stage: str):
    """A Keras callback that reports each epoch's losses through ``progress``."""
    import keras

    class _EpochProgress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            text = ", ".join(f"{k} {v:.4f}" for k, v in logs.items() if k.endswith("loss"))
            progress(stage, f"epoch {epoch + 1}: {text}")

    return _EpochProgress()


def build_network(shapes: dict, config: dict):
    """The hybrid network: ``(train_model, terms_model)`` sharing layers.

    ``shapes`` gives the table shapes (``hcp_profile`` ... ``content_peers``); ``config`` the sizes
    ``dim`` (dot-product width), ``hidden``, ``l2``. ``train_model`` maps ``hcp, content, channel,
    freshness`` to the logit of that channel; ``terms_model`` returns every term and all logits.
    """
    import keras
    from keras import layers, ops

    dim, hidden = config["dim"], config["hidden"]
    reg = keras.regularizers.l2(config["l2"])
    n_contents, n_topics = shapes["content_topics"]

    def table(name):
        rows, cols = shapes[name]
        return layers.Embedding(rows, cols, trainable=False, name=name)

    hcp = keras.Input((), dtype="int32", name="hcp")
    content = keras.Input((), dtype="int32", name="content")
    channel = keras.Input((), dtype="int32", name="channel")
    freshness = keras.Input((), name="freshness")
    profile, interests = table("hcp_profile")(hcp), table("hcp_interests")(hcp)
    state, user = table("hcp_sequence")(hcp), table("hcp_peers")(hcp)
    topics, item = table("content_topics")(content), table("content_peers")(content)

    def id_embedding(name, width):
        return layers.Embedding(n_contents, width, embeddings_initializer="zeros",
                                embeddings_regularizer=reg, name=name)(content)

    def dot(a, b):
        return ops.sum(a * b, axis=-1)

    # topic match: what the HCP is interested in · what the content is about
    topic_hcp = layers.Dense(dim, name="topic_hcp_out")(layers.Dense(hidden, activation="relu", name="topic_hcp_hidden")(
        layers.Concatenate()([profile, interests])))
    topic_content = layers.Add()([layers.Dense(dim, use_bias=False, name="topic_content")(topics),
                                  id_embedding("content_topic_id", dim)])
    topic_term = dot(topic_hcp, topic_content)
    # peers: the collaborative score u·v, scaled
    peer_term = layers.Dense(1, use_bias=False, name="peer_scale")(ops.expand_dims(dot(user, item), -1))[:, 0]
    # recent sequence: the encoder state at the feature time · content, plus a channel part
    sequence_term = dot(layers.Dense(dim, name="sequence_hcp")(state),
                        layers.Add()([id_embedding("content_sequence_id", dim),
                                      layers.Dense(dim, use_bias=False, name="sequence_content")(topics)]))
    sequence_channel = layers.Dense(N_CHANNELS, name="sequence_channel")(state)
    # channel affinity from the profile (its bias is the per-channel intercept)
    channel_affinity = layers.Dense(N_CHANNELS, name="channel_affinity")(
        layers.Dense(hidden, activation="relu", name="channel_hidden")(profile))
    # content appeal: per content × channel, from its id, topics and freshness
    appeal = layers.Add()([id_embedding("content_channel_bias", N_CHANNELS),
                           layers.Dense(N_CHANNELS, use_bias=False, name="content_topic_channel")(topics),
                           layers.Dense(N_CHANNELS, use_bias=False, kernel_initializer="zeros", name="freshness_weight")(ops.expand_dims(freshness, -1))])
    item_terms = ops.expand_dims(topic_term + peer_term + sequence_term, -1)
    logits = item_terms + sequence_channel + channel_affinity + appeal
    chosen = ops.sum(logits * ops.one_hot(channel, N_CHANNELS), axis=-1, keepdims=True)
    inputs = {"hcp": hcp, "content": content, "channel": channel, "freshness": freshness}
    train_model = keras.Model(inputs, chosen, name="hybrid")
    terms_model = keras.Model(inputs, {"topic": topic_term, "peer": peer_term, "sequence": sequence_term,
                                       "sequence_channel": sequence_channel, "channel_affinity": channel_affinity,
                                       "appeal": appeal, "logits": logits}, name="hybrid_terms")
    return train_model, terms_model


class HybridModel(Recommender):
    """The hybrid recommender (trained with Keras, served through :class:`HybridScorer`).

    Parameters
    ----------
    dim : width of the dot products; hidden : width of the HCP-tower hidden layers.
    label_days : temporal protocol: length of the label window before ``valid_cutoff``.
    label_fraction : leave-one-out protocol: share of each HCP's training touches used as labels.
    epochs, batch_size, learning_rate, patience, l2 : optimisation.
    run_eagerly : skip graph tracing (faster on tiny data, slower on large data).
    seed : weights and shuffling.

    Attributes
    ----------
    history_ : per-epoch ``loss`` / ``val_loss`` (binary cross-entropy, the training curve).
    scorer_ : :class:`HybridScorer` with features as of the cutoff.
    sequence_ : the sequence model (for next channel / gap).
    profile_ : the :class:`ProfileEncoder`.
    """

    name = "hybrid"

    def __init__(self, dim: int = 16, hidden: int = 32, label_days: int = 90, label_fraction: float = 0.3,
                 epochs: int = 10, batch_size: int = 1024, learning_rate: float = 3e-3, patience: int = 2,
                 l2: float = 1e-6, run_eagerly: bool = False, seed: int = 0):
        self.dim = dim
        self.hidden = hidden
        self.label_days = label_days
        self.label_fraction = label_fraction
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.l2 = l2
        self.run_eagerly = run_eagerly
        self.seed = seed

    # -- features ------------------------------------------------------------------------------
    def _label_split(self, data, train_log: TouchLog) -> tuple[np.ndarray, np.ndarray]:
        """``(feature time per HCP, label mask per touch of train_log)``."""
        if data.protocol == "temporal":
            at = data.valid_cutoff - pd.Timedelta(days=self.label_days)
            first = train_log.time.min() if len(train_log) else at
            if at <= first:  # short histories: keep at least the first half as feature history
                at = pd.Timestamp(first + (np.datetime64(data.valid_cutoff, "us") - first) / 2)
            at_h = as_times(at, data.n_hcps)
        else:
            counts = np.diff(train_log.indptr)
            n_label = np.where(counts >= 2, np.maximum(1, np.floor(self.label_fraction * counts)), 0).astype(np.int64)
            first_label = train_log.indptr[1:] - n_label
            at_h = np.full(data.n_hcps, np.datetime64(data.cutoff, "us"))
            has = n_label > 0
            at_h[has] = train_log.time[first_label[has]]
        return at_h, train_log.time >= at_h[train_log.hcp]

    def _hcp_tables(self, data, log: TouchLog, at, collaborative: CollaborativeFilter, sequence_state, topics):
        return {"hcp_profile": self.profile_.transform(data.hcps, log, at),
                "hcp_interests": topic_interests(log, topics, at, data.n_hcps),
                "hcp_sequence": sequence_state,
                "hcp_peers": collaborative.user_factors_}

    # -- fit -----------------------------------------------------------------------------------
    def fit(self, data, progress=QUIET, sequence=None, collaborative: CollaborativeFilter | None = None,
            epochs: int | None = None) -> "HybridModel":
        """Train on ``data``; ``sequence`` (fitted :class:`SequenceModel`) is required, ``collaborative``
        (fitted on ``data.history``) is refit when absent."""
        import keras

        if sequence is None:
            raise ValueError("HybridModel.fit needs the fitted sequence model (sequence=...)")
        keras.utils.set_random_seed(self.seed)
        self.sequence_ = sequence
        topics = data.content_topics if data.content_topics is not None else np.zeros((data.n_contents, 1))
        topics = np.asarray(topics, dtype=np.float32)
        train_log = TouchLog.from_frame(data.train, data.n_hcps)
        hist_log = TouchLog.from_frame(data.history, data.n_hcps)
        self.profile_ = ProfileEncoder().fit(data.hcps, train_log)
        at_h, is_label = self._label_split(data, train_log)

        # Features as of the feature time, from the touches before it only.
        before = ~is_label
        cf_params = dict(factors=16, iterations=6, seed=self.seed) if collaborative is None else \
            {k: getattr(collaborative, k) for k in ("factors", "alpha", "reg", "iterations", "seed")}
        history_cf = CollaborativeFilter(**cf_params).fit_matrix(
            _counts(train_log, before, data.n_hcps, data.n_contents))
        state = sequence.states_at(train_log, at_h)["h"]
        train_tables = self._hcp_tables(data, train_log, at_h, history_cf, state, topics)
        mean = train_tables["hcp_profile"].mean(axis=0)
        std = train_tables["hcp_profile"].std(axis=0) + 1e-3
        train_tables["hcp_profile"] = (train_tables["hcp_profile"] - mean) / std
        starts = content_start(data.contents)

        def examples(frame_hcp, frame_content, frame_channel, frame_time_at):
            x = {"hcp": frame_hcp.astype(np.int32), "content": frame_content.astype(np.int32),
                 "channel": frame_channel.astype(np.int32),
                 "freshness": content_age(starts[frame_content], frame_time_at)}
            return x

        lab = np.flatnonzero(is_label)
        x_train = examples(train_log.hcp[lab], train_log.content[lab], train_log.channel[lab], at_h[train_log.hcp[lab]])
        y_train = train_log.engaged[lab].astype(np.float32)
        valid = data.valid
        vh = valid["hcp_idx"].to_numpy(np.int64)
        x_valid = examples(vh, valid["content_idx"].to_numpy(np.int64), valid["channel_idx"].to_numpy(np.int64), at_h[vh])
        y_valid = valid["engaged"].to_numpy(np.float32)
        if len(lab) == 0:
            raise ValueError("hybrid model: no training touches after the feature time; the history is too short")
        progress("hybrid", f"{len(lab):,} labelled touches (engaged {y_train.mean():.1%}), "
                           f"{len(vh):,} validation touches, features as of "
                           f"{pd.Timestamp(np.min(at_h)).date()} .. {pd.Timestamp(np.max(at_h)).date()}")

        self.config_ = {"dim": self.dim, "hidden": self.hidden, "l2": self.l2}
        tables = dict(train_tables, content_topics=topics, content_peers=history_cf.item_factors_)
        shapes = {k: v.shape for k, v in tables.items()}
        self.model_, self.terms_model_ = build_network(shapes, self.config_)
        for name, value in tables.items():
            self.model_.get_layer(name).set_weights([value])
        self.model_.compile(optimizer=keras.optimizers.Adam(self.learning_rate),
                            loss=keras.losses.BinaryCrossentropy(from_logits=True), jit_compile=False,
            run_eagerly=self.run_eagerly)
        callbacks = [progress_callback(progress, "hybrid")]
        validation = (x_valid, y_valid) if len(vh) else None
        if validation is not None:
            callbacks.append(keras.callbacks.EarlyStopping(patience=self.patience, restore_best_weights=True))
        fit = self.model_.fit(x_train, y_train, validation_data=validation, epochs=epochs or self.epochs,
                              batch_size=self.batch_size, shuffle=True, verbose=0, callbacks=callbacks)
        self.history_ = {k: [float(v) for v in vals] for k, vals in fit.history.items()}

        # Evaluate on features as of the cutoff: all history, CF refit on it, states at the cutoff.
        self.profile_mean_, self.profile_std_ = mean, std
        self._starts = starts
        if collaborative is None:
            collaborative = CollaborativeFilter(**cf_params).fit(data)
        self._set_serving(data, hist_log, data.cutoff, collaborative, sequence.state_h_, topics)
        return self

    def _set_serving(self, data, log: TouchLog, at, collaborative, state, topics) -> None:
        serve = self._hcp_tables(data, log, at, collaborative, state, topics)
        serve["hcp_profile"] = (serve["hcp_profile"] - self.profile_mean_) / self.profile_std_
        serve["content_peers"] = collaborative.item_factors_
        for name, value in serve.items():
            self.model_.get_layer(name).set_weights([np.asarray(value, dtype=np.float32)])
        self.freshness_ = content_age(self._starts, np.datetime64(pd.Timestamp(at), "us"))
        self.scorer_ = self.make_scorer(data, at)

    def serving_scorer(self, data, log: TouchLog, at, collaborative: CollaborativeFilter,
                       sequence_state: np.ndarray) -> HybridScorer:
        """A scorer with HCP features as of ``at`` from the touches of ``log`` (numpy only).

        The pipeline calls this after evaluation with every interaction, so the bundle serves on
        the whole history while this model (the evaluated one) keeps its cutoff features.
        """
        topics = self.scorer_.layers["content_topics"][0]
        tables = self._hcp_tables(data, log, at, collaborative, sequence_state, topics)
        tables["hcp_profile"] = (tables["hcp_profile"] - self.profile_mean_) / self.profile_std_
        tables["content_peers"] = collaborative.item_factors_
        layers = dict(self.scorer_.layers, **{k: [np.asarray(v, dtype=np.float32)] for k, v in tables.items()})
        freshness = content_age(self._starts, np.datetime64(pd.Timestamp(at), "us"))
        return HybridScorer(layers, freshness, data.consent, data.content_ids, data.hcp_ids, self.config_, at)

    def make_scorer(self, data, at) -> HybridScorer:
        """The numpy serving scorer with the network's current weights (HCP features as of ``at``)."""
        layers = {layer.name: [np.asarray(w) for w in layer.get_weights()]
                  for layer in self.terms_model_.layers if layer.get_weights()}
        return HybridScorer(layers, self.freshness_, data.consent, data.content_ids, data.hcp_ids,
                            self.config_, at)

    # -- Recommender ---------------------------------------------------------------------------
    def score_batch(self, hcp_idx) -> np.ndarray:
        return self.scorer_.score_batch(hcp_idx)[0]

    def channel_probabilities(self, hcp_idx) -> np.ndarray:
        engagement = sigmoid(self.scorer_.logits_batch(np.asarray(hcp_idx)))
        return engagement / engagement.sum(axis=2, keepdims=True)

    def pair_scores(self, hcp_idx) -> np.ndarray:
        """``[n, n_contents, n_channels]`` engagement probability of every (content, channel)."""
        return sigmoid(self.scorer_.logits_batch(np.asarray(hcp_idx)))

    def engagement_probability(self, hcp_idx, content_idx, channel_idx) -> np.ndarray:
        return sigmoid(self.scorer_.pair_logits(hcp_idx, content_idx, channel_idx))

    def next_channel_probabilities(self, hcp_idx) -> np.ndarray:
        if getattr(self, "sequence_", None) is None:
            raise NotImplementedError("no sequence model attached")
        return self.sequence_.next_channel_probabilities(hcp_idx)

    def next_gap_days(self, hcp_idx) -> np.ndarray:
        if getattr(self, "sequence_", None) is None:
            raise NotImplementedError("no sequence model attached")
        return self.sequence_.next_gap_days(hcp_idx)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path) -> None:
        """The scorer as of the cutoff (what evaluation re-scores), the Keras weights and the curves."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.scorer_.save(path / "scorer")
        self.model_.save_weights(path / "model.weights.h5")
        params = {k: getattr(self, k) for k in ("dim", "hidden", "label_days", "label_fraction", "epochs",
                                                "batch_size", "learning_rate", "patience", "l2", "run_eagerly", "seed")}
        np.savez(path / "profile.npz", mean=self.profile_mean_, std=self.profile_std_)
        (path / "hybrid.json").write_text(json.dumps({"params": params, "config": self.config_,
                                                      "history": self.history_}))

    @classmethod
    def load(cls, path) -> "HybridModel":
        """A Recommender backed by the saved scorer; next channel / gap come from the bundle's
        ``sequence`` component next to it when present."""
        path = Path(path)
        meta = json.loads((path / "hybrid.json").read_text())
        model = cls(**meta["params"])
        model.config_ = meta["config"]
        model.history_ = meta["history"]
        model.scorer_ = HybridScorer.load(path / "scorer")
        model.freshness_ = model.scorer_.freshness
        with np.load(path / "profile.npz") as a:
            model.profile_mean_, model.profile_std_ = a["mean"], a["std"]
        sibling = path.parent / "sequence"
        if (sibling / "params.json").exists():
            from engine.models.sequence import SequenceModel

            model.sequence_ = SequenceModel.load(sibling)
        return model


def _counts(log: TouchLog, keep: np.ndarray, n_hcps: int, n_contents: int):
    from engine.models.collaborative import engagement_matrix

    return engagement_matrix(log.hcp[keep], log.content[keep], log.engaged[keep], n_hcps, n_contents)
