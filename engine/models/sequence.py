"""Sequence model: a Keras LSTM next-item recommender with a journey decoder.

The encoder LSTM reads an HCP's touches in time order; each step carries the content (a learned
id embedding and its frozen topic vector), the channel, the outcome, whether it engaged and the
log time gap since the previous touch. Its state after every touch feeds

- a content head over the whole catalogue (full softmax): which content the HCP touches next.
  It is trained at *every* position of every HCP's history (overlapping windows, each target
  counted once), engaged next touches weighing more than non-engaged ones;
- a decoder LSTM that, from the state after a window's last touch, predicts step by step the
  channel of the next touches (softmax) and the log1p gap in days to each (a Gaussian: mean and
  log scale); fed its own samples it rolls out a journey forecast with uncertainty
  (:class:`JourneyForecaster`, numpy).

The encoder state is also the hybrid's sequence representation
(:meth:`SequenceModel.states_before`: the state before each touch, from earlier touches only).

Serving and forecasting never call Keras: the states, the decoder and the heads are numpy arrays
(:meth:`SequenceModel.numpy_weights`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from engine.models.activations import log_softmax, sigmoid, softmax
from engine.models.base import Recommender
from engine.models.features import N_CHANNELS, N_OUTCOMES, TouchLog, sequence_windows
from engine.models.npz import load_npz
from engine.progress import QUIET

#: Decoder inputs per step: channel one-hot with a padding slot, then the log gap.
DECODER_INPUTS = N_CHANNELS + 2
#: A forecast's touches are at least this far apart (the data's resolution; keeps dates increasing).
MIN_GAP_DAYS = 0.5
#: Bounds of the log scale of the gap distribution: below ~0.37 (log1p days) a log of same-day
#: touches makes the Gaussian collapse and any later gap infinitely surprising.
LOG_SCALE_RANGE = (-1.0, 2.0)
#: Days after the cutoff whose approval calendar weights the content ranking.
RANKING_WINDOW_DAYS = 90.0
#: Windows (HCPs) the encoder reads per call: its per-position states stay bounded at any log size.
ENCODE_CHUNK = 8192


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


def position_windows(starts: np.ndarray, stops: np.ndarray, length: int, stride: int,
                     first_target: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Overlapping windows that train the content head on every position exactly once.

    For each HCP ``r`` with touches ``[starts[r], stops[r])`` the targets are its touches from the
    second on (or from ``first_target[r]``). A window with end ``e`` reads the touches
    ``[e - length, e)`` and predicts, at each of them, the next touch; its new targets are
    ``(e - stride, e]``, so consecutive windows share ``length - stride`` touches of context.

    Returns ``(row, end, first)``: the HCP row of each window, its end and its first new target.
    """
    starts = np.asarray(starts, dtype=np.int64)
    stops = np.asarray(stops, dtype=np.int64)
    lo = starts + 1 if first_target is None else np.maximum(np.asarray(first_target, dtype=np.int64), starts + 1)
    n_targets = np.maximum(stops - lo, 0)
    n_windows = -(-n_targets // stride)
    row = np.repeat(np.arange(len(starts)), n_windows)
    k = np.arange(n_windows.sum()) - np.repeat(np.cumsum(n_windows) - n_windows, n_windows)
    end = stops[row] - 1 - k * stride
    first = np.maximum(end - stride + 1, lo[row])
    return row, end, first


class SequenceModel(Recommender):
    """LSTM next-item recommender with a next-channel / gap decoder; also the sequence-only baseline.

    Parameters
    ----------
    length : touches the encoder reads (``None``: from the data, the median history clipped to
        ``[8, 50]``).
    stride : share of ``length`` between consecutive training windows: each target is predicted
        with at least ``(1 - stride) * length`` earlier touches of context (1: no overlap).
    units : LSTM width (encoder and decoder).
    content_dim : content id embedding size.
    horizon : decoder steps trained with teacher forcing.
    non_engaged_weight : weight of a next touch that did not engage, as a content target (1 for
        engaged ones): what HCPs are sent says something about what they engage with next.
    epochs, batch_size, learning_rate, patience : optimisation (early stopping on the validation
        next-content loss); ``batch_size`` ``None``: about 64 steps an epoch, 64 to 1024 windows.
    max_positions : training budget in window positions (epochs × windows × length): large logs
        get fewer epochs (at least one), so training time stays bounded.
    run_eagerly : skip graph tracing (faster on tiny data, slower on large data).
    seed : seeds the weights.

    Attributes
    ----------
    length_ : the encoder length used.
    history_ : ``{"loss": [...], "val_loss": [...], ...}`` per epoch.
    state_h_, state_c_ : ``[n_hcps, units]`` encoder state at the cutoff (from train + validation).
    last_channel_, last_log_gap_, last_time_ : each HCP's last touch before the cutoff (-1 / NaT if none).
    available_ : ``[n_contents]`` share of the next window each content is approved in.
    cutoff_ : the reference time of the states.
    """

    name = "sequence"

    def __init__(self, length: int | None = None, stride: float = 1.0, units: int = 48, content_dim: int = 32,
                 horizon: int = 3, non_engaged_weight: float = 0.5, epochs: int = 6, batch_size: int | None = None,
                 learning_rate: float = 6e-3, patience: int = 2, max_positions: int | None = None,
                 run_eagerly: bool = False, seed: int = 0):
        self.length = length
        self.stride = stride
        self.units = units
        self.content_dim = content_dim
        self.horizon = horizon
        self.non_engaged_weight = non_engaged_weight
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.max_positions = max_positions
        self.run_eagerly = run_eagerly
        self.seed = seed

    # -- network -------------------------------------------------------------------------------
    def _build(self, n_contents: int, topics: np.ndarray):
        import keras
        from keras import layers, ops

        L, H = self.length_, self.horizon
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
        # left padding is masked: the state stays at zero until the first real touch
        mask = ops.not_equal(content, 0)
        states, h, c = layers.LSTM(self.units, return_sequences=True, return_state=True, name="encoder")(
            steps, mask=mask)
        dec = layers.LSTM(self.units, return_sequences=True, name="decoder_lstm")(dec_x, initial_state=[h, c])
        outputs = {"channel": layers.Dense(N_CHANNELS, name="channel_head")(dec),
                   "gap": layers.Dense(2, name="gap_head")(dec),
                   "content": layers.Dense(n_contents, name="content_head")(states)}
        model = keras.Model([content, channel, outcome, gap, engaged, dec_x], outputs, name="sequence")
        topic_table.set_weights([padded_topics])
        encoder = keras.Model([content, channel, outcome, gap, engaged], [states, h, c], name="sequence_encoder")
        return model, encoder

    @staticmethod
    def _gap_loss(y_true, y_pred):
        """Gaussian negative log-likelihood of log1p gaps; targets < 0 are padding."""
        from keras import ops

        mask = ops.cast(y_true >= 0, "float32")
        mu = y_pred[..., 0]
        log_scale = ops.clip(y_pred[..., 1], *LOG_SCALE_RANGE)
        z = (y_true - mu) * ops.exp(-log_scale)
        nll = 0.5 * z * z + log_scale
        return ops.sum(nll * mask, axis=-1) / ops.maximum(ops.sum(mask, axis=-1), 1.0)

    @staticmethod
    def _content_loss(y_true, y_pred):
        """Full-softmax cross-entropy of the next content at every position, weighted.

        ``y_true [n, L, 2]``: target content index and its weight (0 = no target there). Per
        position (``[n, L]``): Keras averages it over the unpadded positions.
        """
        from keras import ops

        target = ops.cast(y_true[..., 0], "int32")
        weight = y_true[..., 1]
        ce = ops.sparse_categorical_crossentropy(ops.maximum(target, 0), y_pred, from_logits=True)
        return ce * weight

    def _stride(self) -> int:
        return max(1, round(self.length_ * self.stride))

    # -- examples ------------------------------------------------------------------------------
    def _examples(self, log: TouchLog, hcp: np.ndarray, end: np.ndarray, first: np.ndarray):
        """Encoder windows ``[end - L, end)`` with next-content targets from ``first`` on, and
        decoder inputs / targets of the touches from ``end`` on."""
        starts = log.indptr[hcp]
        stop = log.indptr[hcp + 1]
        L, H = self.length_, self.horizon
        x = sequence_windows(log, end, starts, L)
        target = end[:, None] - L + 1 + np.arange(L)[None, :]
        has = (target >= first[:, None]) & (target < stop[:, None])
        t = np.where(has, target, 0)
        weight = np.where(log.engaged[t], 1.0, self.non_engaged_weight) * has
        y_content = np.stack([np.where(has, log.content[t], 0), weight], axis=-1).astype(np.float32)
        log_gaps = log.log_gaps
        dec = np.zeros((len(hcp), H, DECODER_INPUTS), dtype=np.float32)
        y_channel = np.full((len(hcp), H), -1, dtype=np.int32)
        y_gap = np.full((len(hcp), H), -1.0, dtype=np.float32)
        for j in range(H):
            prev = end - 1 + j
            has_prev = (prev >= starts) & (prev < stop)
            nxt = end + j
            has_next = nxt < stop
            p = np.where(has_prev, prev, 0)
            dec[:, j] = decoder_input(np.where(has_prev, log.channel[p], -1), np.where(has_prev, log_gaps[p], 0.0))
            q = np.where(has_next, nxt, 0)
            y_channel[:, j] = np.where(has_next, log.channel[q], -1)
            y_gap[:, j] = np.where(has_next, log_gaps[q], -1.0)
        x["decoder"] = dec
        return x, {"channel": y_channel, "gap": y_gap, "content": y_content}

    # -- fit -----------------------------------------------------------------------------------
    def fit(self, data, progress=QUIET, epochs: int | None = None) -> "SequenceModel":
        import keras

        from engine.models.feeding import ChunkedExamples
        from engine.models.keras_utils import fit_with_early_stopping

        keras.utils.set_random_seed(self.seed)
        topics = data.content_topics if data.content_topics is not None else np.zeros((data.n_contents, 1))
        self.n_contents_ = data.n_contents
        train_log = TouchLog.from_frame(data.train, data.n_hcps)
        hist_log = TouchLog.from_frame(data.history, data.n_hcps)
        counts = np.diff(train_log.indptr)
        if not (counts >= 2).any():
            raise ValueError("sequence model: no HCP has two training touches")
        median = float(np.median(counts[counts > 0]))
        self.length_ = int(self.length or np.clip(8 * round(median / 8), 8, 50))
        stride = self._stride()
        rows, end, first = position_windows(train_log.indptr[:-1], train_log.indptr[1:], self.length_, stride)
        # Validation: the same windows over train + validation, targets only on validation touches.
        vrows, vend, vfirst = position_windows(hist_log.indptr[:-1], hist_log.indptr[1:], self.length_, stride,
                                               first_target=hist_log.indptr[:-1] + counts)
        progress("sequence", f"{int((end - first + 1).sum()):,} next-content targets in {len(rows):,} "
                             f"windows of {self.length_} touches, {len(vrows):,} validation windows, {self.units} units")

        self.model_, self.encoder_ = self._build(data.n_contents, topics)
        self.model_.compile(
            optimizer=keras.optimizers.Adam(self.learning_rate),
            loss={"channel": keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1),
                  "gap": self._gap_loss, "content": self._content_loss},
            loss_weights={"channel": 0.2, "gap": 0.1, "content": 1.0}, jit_compile=False,
            run_eagerly=self.run_eagerly)
        batch_size = self.batch_size or int(np.clip(len(rows) // 64, 64, 1024))
        epochs = epochs or self.epochs
        if self.max_positions:
            epochs = int(np.clip(self.max_positions // (len(rows) * self.length_), 1, epochs))

        def windows(log, w_rows, w_end, w_first):
            return lambda i: self._examples(log, w_rows[i], w_end[i], w_first[i])

        train = ChunkedExamples(len(rows), batch_size, windows(train_log, rows, end, first), shuffle=True,
                                seed=self.seed)
        validation = (ChunkedExamples(len(vrows), batch_size, windows(hist_log, vrows, vend, vfirst))
                      if len(vrows) else None)
        # what the recommender is judged on
        self.history_ = fit_with_early_stopping(self.model_, train, validation, epochs, self.patience, progress,
                                                "sequence", monitor="val_content_loss")
        self._extract()
        self.set_reference(hist_log, data.cutoff)
        # only content approved in the coming window can be sent
        self.available_ = data.calendar.share(data.cutoff, RANKING_WINDOW_DAYS).astype(np.float32)
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
        """Encoder state ``(h, c)`` of every HCP after its last ``length_`` touches before ``ends``
        (a chunk of HCPs at a time: the encoder's per-position states never exist for all of them)."""
        h = np.zeros((log.n_hcps, self.units), dtype=np.float32)
        c = np.zeros((log.n_hcps, self.units), dtype=np.float32)
        for s in range(0, log.n_hcps, ENCODE_CHUNK):
            hcp = np.arange(s, min(s + ENCODE_CHUNK, log.n_hcps))
            x = sequence_windows(log, ends[hcp], log.indptr[hcp], self.length_)
            _, h[hcp], c[hcp] = self.encoder_.predict(x, batch_size=4096, verbose=0)
        return h, c

    def states_before(self, log: TouchLog, dtype=np.float32) -> np.ndarray:
        """``[len(log), units]`` encoder state before each touch, from the HCP's earlier touches only
        (zero before an HCP's first touch): the hybrid's sequence input for training touches.
        ``dtype``: float16 halves what a large log keeps."""
        stride = self._stride()
        rows, end, first = position_windows(log.indptr[:-1], log.indptr[1:], self.length_, stride)
        out = np.zeros((len(log), self.units), dtype=dtype)
        for s in range(0, len(rows), ENCODE_CHUNK):
            r, e, f = rows[s:s + ENCODE_CHUNK], end[s:s + ENCODE_CHUNK], first[s:s + ENCODE_CHUNK]
            states, _, _ = self.encoder_.predict(sequence_windows(log, e, log.indptr[r], self.length_),
                                                 batch_size=2048, verbose=0)
            # the state after input position j is the state before touch e - L + 1 + j
            target = e[:, None] - self.length_ + 1 + np.arange(self.length_)[None, :]
            keep = (target >= f[:, None]) & (target <= e[:, None])
            out[target[keep]] = np.asarray(states)[keep]
        return out

    def states_at(self, log: TouchLog, at) -> dict[str, np.ndarray]:
        """Encoder state and last touch of each HCP as of ``at`` (scalar or per HCP)."""
        ends = log.ends_before(at)
        h, c = self.encode(log, ends)
        has = ends > log.indptr[:-1]
        last = np.where(has, ends - 1, 0)
        gaps = log.log_gaps
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
    def next_content_log_probabilities(self, state_h: np.ndarray) -> np.ndarray:
        """``[n, n_contents]`` log P(next touch is content i) from encoder states."""
        w = self.weights_
        return log_softmax(state_h @ w["content_w"] + w["content_b"])

    def score_batch(self, hcp_idx) -> np.ndarray:
        """P(the next touch is the content), zero for content not approved in the coming window."""
        p = np.exp(self.next_content_log_probabilities(self.state_h_[np.asarray(hcp_idx)]))
        return p * self.available_[None]

    def next_channel_probabilities(self, hcp_idx) -> np.ndarray:
        h = self._first_step(hcp_idx)
        return softmax(h @ self.weights_["channel_w"] + self.weights_["channel_b"])

    def channel_probabilities(self, hcp_idx) -> np.ndarray:
        """The next-touch channel distribution, the same for every content (no content × channel model)."""
        p = self.next_channel_probabilities(hcp_idx)
        return np.broadcast_to(p[:, None, :], (len(p), self.n_contents_, N_CHANNELS)).copy()

    def touch_channel_probabilities(self, touches) -> np.ndarray:
        """The next-touch channel distribution of each touch's HCP (the same for every content)."""
        hcp = touches["hcp_idx"].to_numpy()
        unique, inverse = np.unique(hcp, return_inverse=True)
        return self.next_channel_probabilities(unique)[inverse]

    def next_gap_days(self, hcp_idx) -> np.ndarray:
        """Median of the predicted gap distribution: ``expm1(mu)`` of the log1p gap."""
        h = self._first_step(hcp_idx)
        mu = (h @ self.weights_["gap_w"] + self.weights_["gap_b"])[:, 0]
        return np.maximum(np.expm1(mu), 0.0)

    def engagement_probability(self, hcp_idx, content_idx, channel_idx):
        raise NotImplementedError("the sequence model predicts the next touch, not engagement of a given touch")

    # -- persistence ---------------------------------------------------------------------------
    def _params(self) -> dict:
        return {k: getattr(self, k) for k in ("length", "stride", "units", "content_dim", "horizon", "non_engaged_weight",
                                              "epochs", "batch_size", "learning_rate", "patience", "max_positions", "run_eagerly",
                                              "seed")}

    def save(self, path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model_.save_weights(path / "model.weights.h5")
        topics = self.model_.get_layer("topic_table").get_weights()[0][1:]
        np.savez(path / "state.npz", topics=topics, state_h=self.state_h_, state_c=self.state_c_,
                 last_channel=self.last_channel_, last_log_gap=self.last_log_gap_,
                 last_time=self.last_time_.astype("int64"), available=self.available_, **self.weights_)
        (path / "params.json").write_text(json.dumps({"params": self._params(), "length": self.length_,
                                                      "n_contents": self.n_contents_,
                                                      "cutoff": self.cutoff_.isoformat(), "history": self.history_}))

    @classmethod
    def load(cls, path) -> "SequenceModel":
        path = Path(path)
        meta = json.loads((path / "params.json").read_text())
        model = cls(**meta["params"])
        model.length_ = meta["length"]
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
        model.available_ = arrays.pop("available")
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
            p = softmax(h @ w["channel_w"] + w["channel_b"])
            channel = (p.cumsum(axis=1) < rng.random((rollouts, 1))).sum(axis=1).clip(0, N_CHANNELS - 1)
            params = h @ w["gap_w"] + w["gap_b"]
            mu, scale = params[:, 0], np.exp(np.clip(params[:, 1], *LOG_SCALE_RANGE))
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
        arrays = load_npz(path / "forecaster.npz")  # the per-HCP states mapped: a worker reads the rows it plans
        weights = {k[2:]: arrays.pop(k) for k in list(arrays) if k.startswith("w_")}
        return cls(weights, arrays["state_h"], arrays["state_c"], arrays["last_channel"], arrays["last_log_gap"],
                   arrays["last_time"].astype("datetime64[us]"), meta["reference_time"], arrays.get("hcp_ids"))
