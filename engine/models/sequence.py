"""Sequence model: a Keras LSTM encoder–decoder over each HCP's touch history.

The encoder reads the last ``length`` touches (left-padded); each step carries the content (a
learned id embedding and its frozen topic vector), the channel, the outcome, whether it engaged
and the log time gap since the previous touch. Its final state feeds

- a decoder LSTM that, step by step, predicts the channel of the next touch (softmax) and the
  log1p gap in days to it (a Gaussian: mean and log scale); fed its own samples it rolls out a
  journey forecast with uncertainty (:class:`JourneyForecaster`, numpy);
- a content head: which content the HCP engages with next (the sequence-only recommender).

Serving and forecasting never call Keras: the decoder and the heads are extracted as numpy
weights (:meth:`SequenceModel.numpy_weights`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from engine.models.base import Recommender
from engine.models.features import (N_CHANNELS, N_OUTCOMES, TouchLog, approved_share, content_freshness,
                                    content_start, sequence_windows)
from engine.models.scorer import sigmoid
from engine.progress import QUIET

#: Decoder inputs per step: channel one-hot with a padding slot, then the log gap.
DECODER_INPUTS = N_CHANNELS + 2
#: A forecast's touches are at least this far apart (the data's resolution; keeps dates increasing).
MIN_GAP_DAYS = 0.5
#: Days after the cutoff whose approval calendar weights the content ranking.
RANKING_WINDOW_DAYS = 90.0
#: The next engaged content is looked for this many touches ahead.
CONTENT_LOOKAHEAD = 5


def _softmax(x, axis=-1):
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def lstm_step(x, h, c, kernel, recurrent, bias):
    """One Keras-compatible LSTM step in numpy (gates i, f, c, o; tanh / sigmoid)."""
    z = x @ kernel + h @ recurrent + bias
    i, f, g, o = np.split(z, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    h = sigmoid(o) * np.tanh(c)
    return h, c


def decoder_input(channel_idx, log_gap) -> np.ndarray:
    """``[n, DECODER_INPUTS]`` from channel indices (-1 = none) and log1p gaps."""
    channel_idx = np.asarray(channel_idx)
    x = np.zeros((len(channel_idx), DECODER_INPUTS), dtype=np.float32)
    x[np.arange(len(channel_idx)), channel_idx + 1] = 1.0
    x[:, -1] = log_gap
    return x


class SequenceModel(Recommender):
    """LSTM encoder–decoder; also the sequence-only baseline recommender.

    Parameters
    ----------
    length : touches the encoder reads.
    units : LSTM width (encoder and decoder).
    content_dim : content id embedding size.
    horizon : decoder steps trained with teacher forcing.
    windows_per_hcp : training windows sampled per HCP (cut points in its history).
    epochs, batch_size, learning_rate, patience : optimisation (early stopping on validation loss).
    run_eagerly : skip graph tracing (faster on tiny data, slower on large data).
    seed : seeds windows and weights.

    Attributes
    ----------
    history_ : ``{"loss": [...], "val_loss": [...], ...}`` per epoch.
    state_h_, state_c_ : ``[n_hcps, units]`` encoder state at the cutoff (from train + validation).
    last_channel_, last_log_gap_, last_time_ : each HCP's last touch before the cutoff (-1 / NaT if none).
    cutoff_ : the reference time of the states.
    """

    name = "sequence"

    def __init__(self, length: int = 32, units: int = 48, content_dim: int = 16, horizon: int = 3,
                 windows_per_hcp: int = 4, epochs: int = 6, batch_size: int = 512, learning_rate: float = 3e-3,
                 patience: int = 2, run_eagerly: bool = False, seed: int = 0):
        self.length = length
        self.units = units
        self.content_dim = content_dim
        self.horizon = horizon
        self.windows_per_hcp = windows_per_hcp
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.run_eagerly = run_eagerly
        self.seed = seed

    # -- network -------------------------------------------------------------------------------
    def _build(self, n_contents: int, topics: np.ndarray):
        import keras
        from keras import layers

        L, H = self.length, self.horizon
        content = keras.Input((L,), dtype="int32", name="content")
        channel = keras.Input((L,), dtype="int32", name="channel")
        outcome = keras.Input((L,), dtype="int32", name="outcome")
        gap = keras.Input((L,), name="gap")
        engaged = keras.Input((L,), name="engaged")
        dec_x = keras.Input((H, DECODER_INPUTS), name="decoder")
        padded_topics = np.vstack([np.zeros((1, topics.shape[1])), topics]).astype(np.float32)
        topic_table = layers.Embedding(n_contents + 1, topics.shape[1], trainable=False, name="topic_table")
        steps = layers.Concatenate(name="steps")([
            layers.Embedding(n_contents + 1, self.content_dim, name="content_embedding")(content),
            topic_table(content),
            layers.Embedding(N_CHANNELS + 1, 4, name="channel_embedding")(channel),
            layers.Embedding(N_OUTCOMES + 1, 3, name="outcome_embedding")(outcome),
            layers.Reshape((L, 1))(gap), layers.Reshape((L, 1))(engaged)])
        _, h, c = layers.LSTM(self.units, return_state=True, name="encoder")(steps)
        dec = layers.LSTM(self.units, return_sequences=True, name="decoder_lstm")(dec_x, initial_state=[h, c])
        outputs = {"channel": layers.Dense(N_CHANNELS, name="channel_head")(dec),
                   "gap": layers.Dense(2, name="gap_head")(dec),
                   "content": layers.Dense(n_contents, name="content_head")(h)}
        model = keras.Model([content, channel, outcome, gap, engaged, dec_x], outputs, name="sequence")
        topic_table.set_weights([padded_topics])
        encoder = keras.Model([content, channel, outcome, gap, engaged], [h, c], name="sequence_encoder")
        return model, encoder

    @staticmethod
    def _gap_loss(y_true, y_pred):
        """Gaussian negative log-likelihood of log1p gaps; targets < 0 are padding."""
        from keras import ops

        mask = ops.cast(y_true >= 0, "float32")
        mu = y_pred[..., 0]
        log_scale = ops.clip(y_pred[..., 1], -3.0, 2.0)
        z = (y_true - mu) * ops.exp(-log_scale)
        nll = 0.5 * z * z + log_scale
        return ops.sum(nll * mask, axis=-1) / ops.maximum(ops.sum(mask, axis=-1), 1.0)

    # -- examples ------------------------------------------------------------------------------
    def _examples(self, log: TouchLog, hcp: np.ndarray, end: np.ndarray):
        """Encoder windows ending before ``end`` and decoder inputs/targets from ``end`` on."""
        starts = log.indptr[hcp]
        stop = log.indptr[hcp + 1]
        x = sequence_windows(log, end, starts, self.length)
        log_gaps = np.log1p(log.gap_days()).astype(np.float32)
        H = self.horizon
        dec = np.zeros((len(hcp), H, DECODER_INPUTS), dtype=np.float32)
        y_channel = np.full((len(hcp), H), -1, dtype=np.int32)
        y_gap = np.full((len(hcp), H), -1.0, dtype=np.float32)
        for j in range(H):
            prev = end - 1 + j
            has_prev = (prev >= starts) & (prev < stop)
            target = end + j
            has_target = target < stop
            p = np.where(has_prev, prev, 0)
            prev_channel = np.where(has_prev, log.channel[p] if len(log) else 0, -1)
            dec[:, j] = decoder_input(prev_channel, np.where(has_prev, log_gaps[p] if len(log) else 0.0, 0.0))
            t = np.where(has_target, target, 0)
            y_channel[:, j] = np.where(has_target, log.channel[t] if len(log) else 0, -1)
            y_gap[:, j] = np.where(has_target, log_gaps[t] if len(log) else 0.0, -1.0)
        y_content = np.full(len(hcp), -1, dtype=np.int32)
        for j in reversed(range(CONTENT_LOOKAHEAD)):  # reversed: the first engaged touch wins
            t = end + j
            ok = t < stop
            tt = np.where(ok, t, 0)
            hit = ok & (log.engaged[tt] if len(log) else False)
            y_content = np.where(hit, log.content[tt] if len(log) else -1, y_content)
        x["decoder"] = dec
        return x, {"channel": y_channel, "gap": y_gap, "content": y_content}

    def _train_windows(self, log: TouchLog, rng) -> tuple[np.ndarray, np.ndarray]:
        counts = np.diff(log.indptr)
        hcps = np.flatnonzero(counts >= 2)
        hcp = np.repeat(hcps, self.windows_per_hcp)
        # Cut after 1 .. n-1 touches (at least one touch of history and one target), recent cuts
        # more often: what HCPs do next now (current content, current habits) matters most.
        cut = counts[hcp] - 1 - np.floor(rng.random(len(hcp)) ** 2 * (counts[hcp] - 1)).astype(np.int64)
        return hcp, log.indptr[hcp] + cut

    # -- fit -----------------------------------------------------------------------------------
    def fit(self, data, progress=QUIET, epochs: int | None = None) -> "SequenceModel":
        import keras

        keras.utils.set_random_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        topics = data.content_topics if data.content_topics is not None else np.zeros((data.n_contents, 1))
        self.n_contents_ = data.n_contents
        train_log = TouchLog.from_frame(data.train, data.n_hcps)
        hist_log = TouchLog.from_frame(data.history, data.n_hcps)
        hcp, end = self._train_windows(train_log, rng)
        if len(hcp) == 0:
            raise ValueError("sequence model: no HCP has two training touches")
        x, y = self._examples(train_log, hcp, end)
        # Validation: read the training history of each HCP, predict its first validation touches.
        n_train = np.diff(train_log.indptr)
        n_hist = np.diff(hist_log.indptr)
        vh = np.flatnonzero((n_train >= 1) & (n_hist > n_train))
        validation = self._examples(hist_log, vh, hist_log.indptr[vh] + n_train[vh]) if len(vh) else None
        progress("sequence", f"{len(hcp):,} training windows, {len(vh):,} validation windows, "
                             f"length {self.length}, {self.units} units")

        self.model_, self.encoder_ = self._build(data.n_contents, topics)
        self.model_.compile(
            optimizer=keras.optimizers.Adam(self.learning_rate),
            loss={"channel": keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1),
                  "gap": self._gap_loss,
                  "content": keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)},
            loss_weights={"channel": 1.0, "gap": 0.5, "content": 0.5}, jit_compile=False,
            run_eagerly=self.run_eagerly)
        from engine.models.hybrid import progress_callback

        callbacks = [progress_callback(progress, "sequence")]
        if validation is not None:
            callbacks.append(keras.callbacks.EarlyStopping(patience=self.patience, restore_best_weights=True))
        fit = self.model_.fit(x, y, validation_data=validation, epochs=epochs or self.epochs,
                              batch_size=self.batch_size, shuffle=True, verbose=0, callbacks=callbacks)
        self.history_ = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
        self._extract()
        self.set_reference(hist_log, data.cutoff)
        # the content head learned what HCPs engaged with next over the whole history; at the
        # cutoff only content approved in the coming window can be sent, new content first
        at = np.datetime64(pd.Timestamp(data.cutoff), "us")
        self.available_ = (approved_share(data.contents, data.cutoff, RANKING_WINDOW_DAYS)
                           * content_freshness(content_start(data.contents), at)).astype(np.float32)
        return self

    def _extract(self) -> None:
        def w(name):
            return [np.asarray(a, dtype=np.float32) for a in self.model_.get_layer(name).get_weights()]

        kernel, recurrent, bias = w("decoder_lstm")
        ch_w, ch_b = w("channel_head")
        gap_w, gap_b = w("gap_head")
        ct_w, ct_b = w("content_head")
        self.weights_ = {"dec_kernel": kernel, "dec_recurrent": recurrent, "dec_bias": bias,
                         "channel_w": ch_w, "channel_b": ch_b, "gap_w": gap_w, "gap_b": gap_b,
                         "content_w": ct_w, "content_b": ct_b}

    def numpy_weights(self) -> dict[str, np.ndarray]:
        """Decoder LSTM and heads as numpy arrays (what the forecaster and the scorer use)."""
        return dict(self.weights_)

    # -- states --------------------------------------------------------------------------------
    def encode(self, log: TouchLog, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Encoder state ``(h, c)`` of every HCP after its touches before ``ends`` (positions in ``log``)."""
        hcp = np.arange(log.n_hcps)
        x = sequence_windows(log, ends, log.indptr[hcp], self.length)
        h, c = self.encoder_.predict(x, batch_size=4096, verbose=0)
        return np.asarray(h, dtype=np.float32), np.asarray(c, dtype=np.float32)

    def states_at(self, log: TouchLog, at) -> dict[str, np.ndarray]:
        """Encoder state and last touch of each HCP as of ``at`` (scalar or per HCP)."""
        ends = log.ends_before(at)
        h, c = self.encode(log, ends)
        has = ends > log.indptr[:-1]
        last = np.where(has, ends - 1, 0)
        gaps = np.log1p(log.gap_days()).astype(np.float32)
        empty = len(log) == 0
        return {"h": h, "c": c,
                "last_channel": np.where(has, 0 if empty else log.channel[last], -1).astype(np.int64),
                "last_log_gap": np.where(has, 0.0 if empty else gaps[last], 0.0).astype(np.float32),
                "last_time": np.where(has, np.datetime64("NaT", "us") if empty else log.time[last],
                                      np.datetime64("NaT", "us")).astype("datetime64[us]")}

    def set_reference(self, log: TouchLog, at) -> None:
        """Compute and keep the states at ``at`` (the cutoff) for scoring and forecasting."""
        s = self.states_at(log, at)
        self.state_h_, self.state_c_ = s["h"], s["c"]
        self.last_channel_, self.last_log_gap_, self.last_time_ = s["last_channel"], s["last_log_gap"], s["last_time"]
        self.cutoff_ = pd.Timestamp(at)

    def _first_step(self, hcp_idx):
        hcp_idx = np.asarray(hcp_idx)
        x = decoder_input(self.last_channel_[hcp_idx], self.last_log_gap_[hcp_idx])
        w = self.weights_
        h, _ = lstm_step(x, self.state_h_[hcp_idx], self.state_c_[hcp_idx],
                         w["dec_kernel"], w["dec_recurrent"], w["dec_bias"])
        return h

    # -- Recommender ---------------------------------------------------------------------------
    def score_batch(self, hcp_idx) -> np.ndarray:
        """P(the next engaged content) weighted by its approval in the coming window and its freshness."""
        w = self.weights_
        return _softmax(self.state_h_[np.asarray(hcp_idx)] @ w["content_w"] + w["content_b"]) * self.available_[None]

    def next_channel_probabilities(self, hcp_idx) -> np.ndarray:
        h = self._first_step(hcp_idx)
        return _softmax(h @ self.weights_["channel_w"] + self.weights_["channel_b"])

    def channel_probabilities(self, hcp_idx) -> np.ndarray:
        """The next-touch channel distribution, the same for every content (no content × channel model)."""
        p = self.next_channel_probabilities(hcp_idx)
        return np.broadcast_to(p[:, None, :], (len(p), self.n_contents_, N_CHANNELS)).copy()

    def next_gap_days(self, hcp_idx) -> np.ndarray:
        """Median of the predicted gap distribution: ``expm1(mu)`` of the log1p gap."""
        h = self._first_step(hcp_idx)
        mu = (h @ self.weights_["gap_w"] + self.weights_["gap_b"])[:, 0]
        return np.maximum(np.expm1(mu), 0.0)

    def engagement_probability(self, hcp_idx, content_idx, channel_idx):
        raise NotImplementedError("the sequence model predicts the next touch, not engagement of a given touch")

    # -- persistence ---------------------------------------------------------------------------
    def _params(self) -> dict:
        return {k: getattr(self, k) for k in ("length", "units", "content_dim", "horizon", "windows_per_hcp",
                                              "epochs", "batch_size", "learning_rate", "patience", "run_eagerly", "seed")}

    def save(self, path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model_.save_weights(path / "model.weights.h5")
        topics = self.model_.get_layer("topic_table").get_weights()[0][1:]
        np.savez(path / "state.npz", topics=topics, state_h=self.state_h_, state_c=self.state_c_,
                 last_channel=self.last_channel_, last_log_gap=self.last_log_gap_,
                 last_time=self.last_time_.astype("int64"), available=self.available_, **self.weights_)
        (path / "params.json").write_text(json.dumps({"params": self._params(), "n_contents": self.n_contents_,
                                                      "cutoff": self.cutoff_.isoformat(), "history": self.history_}))

    @classmethod
    def load(cls, path) -> "SequenceModel":
        path = Path(path)
        meta = json.loads((path / "params.json").read_text())
        model = cls(**meta["params"])
        model.n_contents_ = meta["n_contents"]
        model.cutoff_ = pd.Timestamp(meta["cutoff"])
        model.history_ = meta["history"]
        with np.load(path / "state.npz", allow_pickle=False) as a:
            arrays = {k: a[k] for k in a.files}
        model.model_, model.encoder_ = model._build(model.n_contents_, arrays.pop("topics"))
        model.model_.load_weights(path / "model.weights.h5")
        model.state_h_, model.state_c_ = arrays.pop("state_h"), arrays.pop("state_c")
        model.last_channel_, model.last_log_gap_ = arrays.pop("last_channel"), arrays.pop("last_log_gap")
        model.last_time_ = arrays.pop("last_time").astype("datetime64[us]")
        model.available_ = arrays.pop("available", np.ones(model.n_contents_, dtype=np.float32))
        model.weights_ = arrays
        return model


class JourneyForecaster:
    """Monte-Carlo journey forecast from the sequence decoder, in numpy (component ``forecaster``).

    Each rollout samples the next channel from the decoder's softmax and the gap from its
    log-normal, feeds both back and repeats; all rollouts of an HCP run as one batch.

    Attributes
    ----------
    weights : decoder LSTM and heads (:meth:`SequenceModel.numpy_weights`).
    state_h, state_c, last_channel, last_log_gap, last_time : per HCP at the reference time.
    reference_time : the cutoff; the default forecast start.
    """

    def __init__(self, weights, state_h, state_c, last_channel, last_log_gap, last_time, reference_time, hcp_ids=None):
        self.weights = weights
        self.state_h = state_h
        self.state_c = state_c
        self.last_channel = last_channel
        self.last_log_gap = last_log_gap
        self.last_time = np.asarray(last_time, dtype="datetime64[us]")
        self.reference_time = pd.Timestamp(reference_time)
        self.hcp_ids = None if hcp_ids is None else np.asarray(hcp_ids, dtype=str)

    def forecast(self, hcp_idx: int, steps: int = 5, rollouts: int = 50, start=None, seed: int = 0) -> pd.DataFrame:
        """The next ``steps`` touches of one HCP: ``step, channel, channel_probability, date, date_low, date_high``.

        ``channel`` is the most probable channel of the step (probability averaged over rollouts);
        ``date`` the median over rollouts and ``date_low`` / ``date_high`` the 10th / 90th percentiles.
        Touches are forecast after ``start`` (default: the reference time): the first gap is drawn
        conditional on no touch having happened between the last touch and ``start``.
        """
        from scipy.special import ndtr, ndtri

        from engine.config import CHANNELS

        if steps < 1 or rollouts < 1:
            raise ValueError(f"forecast needs steps >= 1 and rollouts >= 1 (got {steps}, {rollouts})")
        w = self.weights
        rng = np.random.default_rng(seed)
        start = self.reference_time if start is None else pd.Timestamp(start)
        start64 = np.datetime64(start, "us")
        last = self.last_time[hcp_idx]
        h = np.repeat(self.state_h[hcp_idx][None], rollouts, axis=0)
        c = np.repeat(self.state_c[hcp_idx][None], rollouts, axis=0)
        x = decoder_input(np.full(rollouts, self.last_channel[hcp_idx]), np.full(rollouts, self.last_log_gap[hcp_idx]))
        if np.isnat(last):
            last, elapsed = start64, 0.0
        else:
            elapsed = max(float((start64 - last) / np.timedelta64(1, "D")), 0.0)
        days = np.zeros(rollouts)  # days after `last`
        rows = []
        for step in range(1, steps + 1):
            h, c = lstm_step(x, h, c, w["dec_kernel"], w["dec_recurrent"], w["dec_bias"])
            p = _softmax(h @ w["channel_w"] + w["channel_b"])
            channel = (p.cumsum(axis=1) < rng.random((rollouts, 1))).sum(axis=1).clip(0, N_CHANNELS - 1)
            params = h @ w["gap_w"] + w["gap_b"]
            mu, scale = params[:, 0], np.exp(np.clip(params[:, 1], -3.0, 2.0))
            u = rng.random(rollouts)
            if step == 1 and elapsed > 0:
                # Truncate to gaps beyond what already elapsed without a touch.
                floor = ndtr((np.log1p(elapsed) - mu) / scale)
                u = floor + u * (1.0 - floor)
            log_gap = mu + scale * ndtri(np.clip(u, 1e-6, 1 - 1e-6))
            gap = np.maximum(np.expm1(log_gap), MIN_GAP_DAYS)
            if step == 1:
                gap = np.maximum(gap, elapsed + MIN_GAP_DAYS * (elapsed > 0))
            days = days + gap
            x = decoder_input(channel, np.log1p(gap))
            mean_p = p.mean(axis=0)
            best = int(np.argmax(mean_p))
            lo, mid, hi = np.quantile(days, [0.1, 0.5, 0.9])
            to_time = lambda d: pd.Timestamp(last + np.timedelta64(int(d * 86_400_000_000), "us")).floor("min")
            rows.append({"step": step, "channel": CHANNELS[best], "channel_probability": float(mean_p[best]),
                         "date": to_time(mid), "date_low": to_time(lo), "date_high": to_time(hi)})
        return pd.DataFrame(rows)

    def save(self, path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        extra = {} if self.hcp_ids is None else {"hcp_ids": self.hcp_ids}
        np.savez(path / "forecaster.npz", state_h=self.state_h, state_c=self.state_c,
                 last_channel=self.last_channel, last_log_gap=self.last_log_gap,
                 last_time=self.last_time.astype("int64"), **{f"w_{k}": v for k, v in self.weights.items()}, **extra)
        (path / "forecaster.json").write_text(json.dumps({"reference_time": self.reference_time.isoformat()}))

    @classmethod
    def load(cls, path) -> "JourneyForecaster":
        path = Path(path)
        meta = json.loads((path / "forecaster.json").read_text())
        with np.load(path / "forecaster.npz", allow_pickle=False) as a:
            arrays = {k: a[k] for k in a.files}
        weights = {k[2:]: arrays.pop(k) for k in list(arrays) if k.startswith("w_")}
        return cls(weights, arrays["state_h"], arrays["state_c"], arrays["last_channel"], arrays["last_log_gap"],
                   arrays["last_time"].astype("datetime64[us]"), meta["reference_time"], arrays.get("hcp_ids"))
