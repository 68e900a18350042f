"""Hybrid model: fuses sequence state, topic vectors, collaborative embeddings and the HCP profile.

A two-tower Keras network whose engagement logit for (HCP ``h``, content ``i``, channel ``c``) is
a SUM of interpretable terms, each a dot product of an HCP-tower output and a content-tower
output (see :mod:`engine.models.scorer`), so the reasons shown to users are exact.

Training avoids leakage: the HCP features of every training touch (per-channel and per-topic
engagement rates shrunk toward the population, recent engaged topics and channels, recency and
load, the collaborative embedding of engaged contents) are computed from that HCP's earlier
touches only, so every training touch is a labelled example. For scoring, the same features are
computed as of the cutoff (evaluation) or the end of the data (serving).

Two outputs are kept apart (``score_kind``): the engagement P(engaged | sent on channel c now),
and the ranking ``score_batch`` = P(engaged with the content in the next window), which also
weighs in the exposure P(the brand sends it) of :class:`ExposureModel`, the HCP's topic affinity
and the approval calendar, with weights learned on the validation window (:class:`NextWindowBlend`).

Works without text (``data.content_topics is None``: content id embeddings only), for new content
(topic vector only: zero id embedding, see :meth:`HybridScorer.with_new_contents`) and for HCPs
without history (profile and peers only).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from engine.models.activations import sigmoid
from engine.models.base import Recommender
from engine.models.collaborative import CollaborativeFilter
from engine.models.features import (DAY, N_CHANNELS, ProfileEncoder, TouchLog, as_times, content_freshness,
                                    history_features, topic_profile)
from engine.models.scorer import DEFAULT_BLEND, HCP_TABLES, NEXT_WINDOW_FEATURES, PARTS, HybridScorer
from engine.progress import QUIET
from engine.rules.approval import ApprovalCalendar


def build_network(shapes: dict, config: dict):
    """The hybrid network: ``(train_model, terms_model)`` sharing layers.

    ``shapes`` gives the widths of the HCP feature blocks (``hcp_profile``, ``hcp_interests``,
    ``hcp_sequence``, ``hcp_peers``: ``(rows, cols)``) and the frozen content tables
    (``content_topics``, ``content_peers``); ``config`` the sizes ``dim`` (dot-product width),
    ``hidden``, ``l2``. Both models take the HCP feature rows, ``content``, ``channel`` and
    ``freshness``; ``train_model`` returns the logit of that channel, ``terms_model`` every term
    and all channels' logits.
    """
    import keras
    from keras import layers, ops

    dim, hidden = config["dim"], config["hidden"]
    reg = keras.regularizers.l2(config["l2"])
    n_contents, _ = shapes["content_topics"]

    def table(name):
        rows, cols = shapes[name]
        return layers.Embedding(rows, cols, trainable=False, name=name)

    profile, interests, recent, peers = (keras.Input((shapes[name][1],), name=name) for name in HCP_TABLES)
    content = keras.Input((), dtype="int32", name="content")
    channel = keras.Input((), dtype="int32", name="channel")
    freshness = keras.Input((), name="freshness")
    topics, item = table("content_topics")(content), table("content_peers")(content)

    def id_embedding(name, width):
        return layers.Embedding(n_contents, width, embeddings_initializer="zeros",
                                embeddings_regularizer=reg, name=name)(content)

    def dot(a, b):
        return ops.sum(a * b, axis=-1)

    # topic match: what the HCP engages with (profile, per-topic rates) · what the content is about
    topic_hidden = layers.Dense(hidden, activation="relu", name="topic_hcp_hidden")(
        layers.Concatenate()([profile, interests]))
    topic_term = dot(layers.Dense(dim, name="topic_hcp_out")(topic_hidden),
                     layers.Add()([id_embedding("content_topic_id", dim),
                                   layers.Dense(dim, use_bias=False, name="topic_content")(topics)]))
    # peers: the (unit) collaborative embedding of what the HCP engaged with · the content's, times
    # one learned weight: invariant to the factors' rotation, so serving may refit them
    peer_term = ops.squeeze(layers.Dense(1, use_bias=False, kernel_initializer="ones", name="peer_weight")(
        ops.expand_dims(dot(peers, item), -1)), -1)
    # recent sequence: the LSTM encoder's state, recently engaged topics and channels, recency, load
    # dropout on the sequence input: the LSTM states of training touches were fit on those very
    # touches, so the network would otherwise trust them more than they deserve on new ones
    recent_in = layers.Dropout(config.get("sequence_dropout", 0.0), name="sequence_dropout")(recent)
    sequence_term = dot(layers.Dense(dim, name="sequence_hcp")(recent_in),
                        layers.Add()([id_embedding("content_sequence_id", dim),
                                      layers.Dense(dim, use_bias=False, name="sequence_content")(topics)]))
    sequence_channel = layers.Dense(N_CHANNELS, name="sequence_channel")(recent_in)
    # channel affinity from the profile and per-channel rates (its bias is the per-channel intercept)
    channel_affinity = layers.Dense(N_CHANNELS, name="channel_affinity")(
        layers.Dense(hidden, activation="relu", name="channel_hidden")(profile))
    # content appeal: per content × channel, from its id, topics and freshness
    appeal = layers.Add()([id_embedding("content_channel_bias", N_CHANNELS),
                           layers.Dense(N_CHANNELS, use_bias=False, name="content_topic_channel")(topics),
                           layers.Dense(N_CHANNELS, use_bias=False, kernel_initializer="zeros",
                                        name="freshness_weight")(ops.expand_dims(freshness, -1))])
    item_terms = ops.expand_dims(topic_term + peer_term + sequence_term, -1)
    logits = item_terms + sequence_channel + channel_affinity + appeal
    chosen = ops.sum(logits * ops.one_hot(channel, N_CHANNELS), axis=-1, keepdims=True)
    inputs = {"hcp_profile": profile, "hcp_interests": interests, "hcp_sequence": recent, "hcp_peers": peers,
              "content": content, "channel": channel, "freshness": freshness}
    train_model = keras.Model(inputs, chosen, name="hybrid")
    terms_model = keras.Model(inputs, {"topic": topic_term, "peer": peer_term, "sequence": sequence_term,
                                       "sequence_channel": sequence_channel, "channel_affinity": channel_affinity,
                                       "appeal": appeal, "logits": logits}, name="hybrid_terms")
    return train_model, terms_model



def network_from_scorer(scorer: HybridScorer):
    """The Keras terms network (see :func:`build_network`) carrying a numpy scorer's weights: the
    same numbers computed by Keras, what the scorer's math is checked against."""
    shapes = {name: scorer.layers[name][0].shape for name in HCP_TABLES + ("content_topics", "content_peers")}
    _, terms_model = build_network(shapes, scorer.config)
    for name, weights in scorer.layers.items():
        if name not in HCP_TABLES:  # HCP tables are inputs, not layers
            terms_model.get_layer(name).set_weights(weights)
    return terms_model

class ExposureModel:
    """How likely the brand is to send each content to an HCP's group in the next window.

    The brand's content calendar as a two-part mixture, fit by EM on the touches before ``at``:

    - targeted touches (share ``1 - explore_``): a therapeutic area by the HCP's group
      (``area_mix_``, smoothed toward the overall mix), then among the contents of that area
      approved that day the newer ones, ``∝ exp(-age / recency_days_)``;
    - broad-reach touches (share ``explore_``): any area, any approved content of it.

    The approval calendar is known in advance, so the window's pools are known: the exposure of
    a content is its mean probability per touch over the window's weeks (zero while it is not
    approved). Contents without an area share one pool; a plain interaction log (no dates) has
    every content always approved.

    Attributes
    ----------
    area_mix_ : ``[n_groups, n_areas]`` P(area | group) of targeted touches.
    explore_ : share of broad-reach touches; recency_days_ : the recency time constant.
    areas_ : area names (``""`` = no area).
    """

    def __init__(self, window_days: int = 90, step_days: int = 7, iterations: int = 15, smoothing: float = 20.0):
        self.window_days = window_days
        self.step_days = step_days
        self.iterations = iterations
        self.smoothing = smoothing

    # -- the calendar ----------------------------------------------------------------------------
    @staticmethod
    def _calendar(contents: pd.DataFrame):
        """Per content: area index, area names, the :class:`ApprovalCalendar` and the age origin
        (publication, else the first approved day; datetime64, NaT = unknown)."""
        n = len(contents)
        area = (contents["therapeutic_area"].fillna("").astype(str) if "therapeutic_area" in contents
                else pd.Series([""] * n))
        codes, names = pd.factorize(area, sort=True)
        approval = ApprovalCalendar.from_contents(contents)
        published = (pd.to_datetime(contents["publication_date"]).to_numpy("datetime64[us]")
                     if "publication_date" in contents else np.full(n, np.datetime64("NaT", "us")))
        origin = np.where(np.isnat(published), approval.first_dates(), published)
        return codes.astype(np.int64), list(names), approval, origin

    def _pools(self, days: np.ndarray):
        """``live [n_days, n_c]`` (approved that day) and ``age [n_days, n_c]`` in days (0 when unknown)."""
        _, _, approval, origin = self.calendar_
        days = np.asarray(days, dtype="datetime64[us]")
        age = np.nan_to_num(((days[:, None] - origin) / DAY).astype(np.float64), nan=0.0)
        return approval.approved(days), np.clip(age, 0.0, None)

    def _content_probability(self, live, age, recency_days) -> tuple[np.ndarray, np.ndarray]:
        """Per day: P(content | targeted touch, its area) and P(content | broad-reach touch)."""
        area = self.calendar_[0]
        targeted = np.zeros(live.shape)
        broad = np.zeros(live.shape)
        areas_live = np.zeros(len(live))
        for k in range(len(self.areas_)):
            mine = area == k
            pool = live[:, mine]
            size = pool.sum(axis=1, keepdims=True)
            logw = np.where(pool, -age[:, mine] / recency_days, -np.inf)
            top = np.where(size > 0, logw.max(axis=1, keepdims=True), 0.0)
            w = np.exp(logw - top)  # shifted per day: no underflow for short time constants
            targeted[:, mine] = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300)
            broad[:, mine] = pool / np.maximum(size, 1)
            areas_live += size[:, 0] > 0
        return targeted, broad / np.maximum(areas_live, 1)[:, None]

    # -- fit / predict ---------------------------------------------------------------------------
    def fit(self, group, content, time, n_groups: int, contents: pd.DataFrame, at) -> "ExposureModel":
        """Fit on the touches (``group`` of the HCP, ``content``, ``time``) before ``at``."""
        from scipy.optimize import minimize_scalar

        self.calendar_ = self._calendar(contents)
        area_of = self.calendar_[0]
        self.areas_ = self.calendar_[1]
        n_areas = len(self.areas_)
        before = time < np.datetime64(pd.Timestamp(at), "us")
        group, content, time = group[before], content[before], time[before]
        if not len(content):
            raise ValueError("exposure model: no touches before the cutoff")
        # touches binned by step: pools change slowly, one pool per step
        first = time.min()
        step = np.timedelta64(self.step_days, "D")
        bins = ((time - first) // step).astype(np.int64)
        live, age = self._pools(first + np.arange(bins.max() + 1) * step + step // 2)
        ok = live[bins, content]  # touches of content outside its window (data errors) do not count
        group, content, bins = group[ok], content[ok], bins[ok]
        a = area_of[content]
        overall = np.bincount(a, minlength=n_areas) + 1.0
        overall /= overall.sum()
        self.explore_, self.recency_days_ = 0.2, 120.0
        resp = np.full(len(content), 0.8)

        def targeted_log(recency_days):
            targeted, _ = self._content_probability(live, age, recency_days)
            return np.log(np.maximum(targeted[bins, content], 1e-300))

        for _ in range(self.iterations):
            counts = np.zeros((n_groups, n_areas))
            np.add.at(counts, (group, a), resp)
            self.area_mix_ = (counts + self.smoothing * overall) / (counts.sum(axis=1, keepdims=True) + self.smoothing)
            result = minimize_scalar(lambda log_tau: -(resp * targeted_log(np.exp(log_tau))).sum(),
                                     bounds=(np.log(3.0), np.log(3650.0)), method="bounded")
            self.recency_days_ = float(np.exp(result.x))
            targeted, broad = self._content_probability(live, age, self.recency_days_)
            p_target = (1 - self.explore_) * self.area_mix_[group, a] * targeted[bins, content]
            p_broad = self.explore_ * broad[bins, content]
            resp = p_target / np.maximum(p_target + p_broad, 1e-300)
            self.explore_ = float(np.clip(1.0 - resp.mean(), 1e-3, 0.999))
        return self

    def probability(self, at, days: float | None = None) -> np.ndarray:
        """``[n_groups, n_contents]`` mean P(content | a touch to the group) over the ``days``
        (default ``window_days``) after ``at``."""
        days = self.window_days if days is None else days
        n_steps = max(1, int(round(days / self.step_days)))
        step = np.timedelta64(int(days * 86_400 / n_steps), "s")
        at64 = np.datetime64(pd.Timestamp(at), "us")
        live, age = self._pools(at64 + np.arange(n_steps) * step + step // 2)
        targeted, broad = self._content_probability(live, age, self.recency_days_)
        area = self.calendar_[0]
        per_group = (1 - self.explore_) * self.area_mix_[:, area][:, None, :] * targeted[None] + self.explore_ * broad[None]
        return per_group.mean(axis=1)

    def describe(self) -> dict:
        """The fitted calendar in plain numbers (for the manifest)."""
        return {"explore": self.explore_, "recency_days": self.recency_days_, "areas": self.areas_,
                "area_mix": np.round(self.area_mix_, 4).tolist()}

    def log_probability(self, at, days: float | None = None) -> np.ndarray:
        """``log`` of :meth:`probability`, floored at 1e-6 of the largest (float32)."""
        p = self.probability(at, days)
        return np.log(np.maximum(p, 1e-6 * p.max(axis=1, keepdims=True) + 1e-300)).astype(np.float32)


class NextWindowBlend:
    """Weights of the next-window ranking inputs (:data:`engine.models.scorer.NEXT_WINDOW_FEATURES`).

    A conditional logit over each query's catalogue: ``P(the HCP engages with i next) ∝ exp(x_i · β)``,
    fit by maximum likelihood on the contents HCPs engaged with on validation (features as of
    the query), contents engaged before excluded as in evaluation. Features are standardised for
    the fit; ``β`` is shrunk toward :data:`engine.models.scorer.DEFAULT_BLEND`.

    A gate then compares, by out-of-fold NDCG@10 over the validation queries (the blend fit on
    the other folds), the blend with every input alone. If an input alone ranks better (few
    queries, or inputs that do not generalise), the fusion starts from that part and adds inputs
    one at a time only while the out-of-fold NDCG rises: it never trails its best part.

    Parameters
    ----------
    l2 : shrinkage toward the default blend (on standardised features).
    zero : features held at weight 0 (an ablation).
    folds : folds of the gate's out-of-fold comparison.
    seed : assigns queries to folds.

    Attributes
    ----------
    coef_ : ``[n_features]`` β; chosen_ : ``"blend"`` or the inputs kept (``"popularity+freshness"``);
    validation_ndcg_ : out-of-fold NDCG@10 of the blend, of each input alone and of the inputs kept.
    """

    def __init__(self, l2: float = 1e-3, zero: tuple[str, ...] = (), folds: int = 3, seed: int = 0):
        self.l2 = l2
        self.zero = zero
        self.folds = folds
        self.seed = seed

    def _fit_beta(self, x, y, allowed, usable, scale) -> np.ndarray:
        from scipy.optimize import minimize

        xs = x[..., usable] / scale[usable]
        prior = (DEFAULT_BLEND * scale)[usable]
        n = y.sum()

        def loss(beta):
            z = np.where(allowed, xs @ beta, -np.inf)
            z = z - z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            shift = beta - prior
            value = -(y * np.where(allowed, np.log(p + 1e-300), 0.0)).sum() / n + self.l2 * shift @ shift
            grad = np.einsum("gi,gik->k", y - y.sum(axis=1, keepdims=True) * p, xs) / n
            return value, -grad + 2 * self.l2 * shift

        coef = np.zeros(len(NEXT_WINDOW_FEATURES))
        coef[usable] = minimize(loss, prior.copy(), jac=True, method="L-BFGS-B").x / scale[usable]
        return coef

    def fit(self, x: np.ndarray, engaged: np.ndarray, excluded: np.ndarray) -> "NextWindowBlend":
        """``x`` ``[n, n_contents, F]``, ``engaged`` / ``excluded`` bool ``[n, n_contents]``."""
        y = (engaged & ~excluded).astype(np.float64)
        keep = y.sum(axis=1) > 0
        x, y, allowed = np.asarray(x[keep], dtype=np.float64), y[keep], ~excluded[keep]
        active = np.array([name not in self.zero for name in NEXT_WINDOW_FEATURES])
        self.chosen_, self.validation_ndcg_ = "default", {}
        if not len(y):
            self.coef_ = np.where(active, DEFAULT_BLEND, 0.0)
            return self
        std = np.where(active, x[allowed].std(axis=0), 0.0)
        usable = std > 1e-9
        scale = np.where(usable, std, 1.0)
        singles = {NEXT_WINDOW_FEATURES[j]: np.eye(len(NEXT_WINDOW_FEATURES))[j] for j in np.flatnonzero(usable)}
        relevant = y > 0
        fold = np.random.default_rng(self.seed).permutation(len(y)) % self.folds

        def out_of_fold(subset: np.ndarray) -> float:
            """NDCG@10 of the blend of ``subset`` on each fold, fit on the others."""
            score = np.zeros(x.shape[:2])
            for k in range(self.folds):
                test, train = fold == k, fold != k
                if train.any() and test.any():
                    score[test] = x[test] @ self._fit_beta(x[train], y[train], allowed[train], subset, scale)
            return _ndcg10(score, relevant, allowed)

        self.validation_ndcg_ = {"blend": out_of_fold(usable)} | {
            name: _ndcg10(x @ coef, relevant, allowed) for name, coef in singles.items()}
        if self.validation_ndcg_["blend"] >= max(self.validation_ndcg_.values()) - 1e-9:
            self.chosen_, self.coef_ = "blend", self._fit_beta(x, y, allowed, usable, scale)
            return self
        # The whole blend does not generalise across queries (few of them, or spurious inputs):
        # grow one from the best single input, adding an input only while out-of-fold NDCG rises.
        first = max(singles, key=self.validation_ndcg_.get)
        subset = np.array([name == first for name in NEXT_WINDOW_FEATURES])
        best = self.validation_ndcg_[first]
        while True:
            trials = {j: out_of_fold(subset | (np.arange(len(subset)) == j))
                      for j in np.flatnonzero(usable & ~subset)}
            if not trials or max(trials.values()) <= best + 1e-6:
                break
            j = max(trials, key=trials.get)
            subset[j], best = True, trials[j]
        names = [name for name, keep in zip(NEXT_WINDOW_FEATURES, subset) if keep]
        self.chosen_ = "+".join(names)
        self.validation_ndcg_[self.chosen_] = best
        self.coef_ = singles[first] if len(names) == 1 else self._fit_beta(x, y, allowed, subset, scale)
        return self


def _ndcg10(score: np.ndarray, relevant: np.ndarray, allowed: np.ndarray) -> float:
    """Mean NDCG@10 of ``score`` rankings over allowed items (the validation gate's yardstick)."""
    from engine.evaluation.metrics import ndcg_at_k
    from engine.ranking import top_k

    top = top_k(np.where(allowed, score, -np.inf), 10)
    return float(np.mean(ndcg_at_k(np.take_along_axis(relevant, top, axis=1), relevant.sum(axis=1))))


#: Above this share of engaged touches a log counts as positive-only (negatives are sampled).
POSITIVE_ONLY_SHARE = 0.95
#: Training touches (a seeded sample) whose features set the standardisation.
STANDARDISE_SAMPLE = 262_144
#: Intercept of a channel with no touch in the training log (P(engaged) ≈ 2e-9 there).
UNSEEN_CHANNEL_LOGIT = -20.0


def _history_rows(train_log: TouchLog, hist_log: TouchLog, positions=None):
    """Rows in ``hist_log`` of the training touches at ``positions`` (each HCP's training touches
    come first in its history); without ``positions`` the mapping itself."""
    def rows(pos):
        hcp = train_log.hcp[pos]
        return hist_log.indptr[hcp] + pos - train_log.indptr[hcp]

    return rows if positions is None else rows(positions)


def _unit(factors: np.ndarray) -> np.ndarray:
    return (factors / np.clip(np.linalg.norm(factors, axis=1, keepdims=True), 1e-12, None)).astype(np.float32)


def log_popularity(log: TouchLog, n_contents: int, at, half_life_days: float = 60.0) -> np.ndarray:
    """``[n_contents]`` log1p of the recency-weighted engaged touches before ``at``."""
    at64 = np.datetime64(pd.Timestamp(at), "us")
    before = log.engaged & (log.time < at64)
    age = (at64 - log.time[before]) / DAY
    counts = np.bincount(log.content[before], weights=np.exp2(-age / half_life_days), minlength=n_contents)
    return np.log1p(counts).astype(np.float32)


class HybridModel(Recommender):
    """The hybrid recommender (trained with Keras, served through :class:`HybridScorer`).

    It fuses the parts: the LSTM (:class:`~engine.models.sequence.SequenceModel`: its encoder
    state is the network's sequence input, its next-item log-probability a ranking input), the
    collaborative factors, the LDA topic vectors and the HCP profile. Two estimates, kept apart:

    - ``engagement`` / :meth:`pair_scores` / :meth:`engagement_probability`: P(engaged | the
      content is sent to the HCP on channel c now), a sum of exact additive terms (topic match,
      peers, recent sequence, channel affinity, content appeal) — the next-best-action value used
      for the policy, the channel choice and the service's recommendations;
    - :meth:`score_batch` (``score_kind`` ``p_engaged_next_window``): what the HCP engages with
      next, ``exp(x · β)`` over the inputs of :data:`NEXT_WINDOW_FEATURES` — the engagement above,
      the brand's calendar (:class:`ExposureModel`, approval, freshness) and each part's own score
      — with ``β`` learned on validation (:class:`NextWindowBlend`, every input as of the
      validation query, the parts fitted without the validation labels). A gate keeps a single
      part when it ranks validation better than the blend, so the fusion never trails its best part.

    No leakage: every HCP feature of a training touch comes from that HCP's earlier touches only
    (:func:`engine.models.features.history_features`, :meth:`SequenceModel.states_before`); the
    collaborative factors behind the training features and the blend are fitted on the training
    window only, refitted on the history for evaluation and on everything for serving.

    Parameters
    ----------
    dim : width of the dot products; hidden : width of the HCP-tower hidden layers.
    label_days : window of the exposure model (touches predicted ahead).
    epochs, batch_size, learning_rate, patience, l2 : optimisation.
    sequence_dropout : dropout on the sequence input (LSTM state and recency features) in training.
    blend_hcps : validation queries (sampled) that fit the next-window blend.
    run_eagerly : skip graph tracing (faster on tiny data, slower on large data).
    seed : weights and shuffling.

    Attributes
    ----------
    history_ : per-epoch ``loss`` / ``val_loss`` (binary cross-entropy, the training curve).
    scorer_ : :class:`HybridScorer` as of the cutoff; sequence_, collaborative_ : the parts.
    profile_ : the :class:`ProfileEncoder`; exposure_ : the :class:`ExposureModel`.
    blend_ : the :class:`NextWindowBlend`; ablation_blends_ : ``{part: β}`` refit without each part.
    """

    name = "hybrid"
    score_kind = "p_engaged_next_window"

    def __init__(self, dim: int = 16, hidden: int = 32, label_days: int = 90, epochs: int = 4,
                 batch_size: int = 4096, learning_rate: float = 3e-3, patience: int = 1,
                 l2: float = 1e-6, sequence_dropout: float = 0.0, blend_hcps: int = 5000,
                 run_eagerly: bool = False, seed: int = 0):
        self.dim = dim
        self.hidden = hidden
        self.label_days = label_days
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.l2 = l2
        self.sequence_dropout = sequence_dropout
        self.blend_hcps = blend_hcps
        self.run_eagerly = run_eagerly
        self.seed = seed

    # -- features ------------------------------------------------------------------------------
    def _features(self, log: TouchLog, hcp, end, at, item_units, lstm_state) -> dict[str, np.ndarray]:
        """Raw HCP feature blocks (the scorer's HCP tables) for queries: HCP ``hcp`` as of ``at``
        from its touches before position ``end``, with the LSTM state ``lstm_state`` there."""
        f = history_features(log, hcp, end, at, self.topics_, item_units, self.channel_prior_, self.topic_prior_)
        return {"hcp_profile": np.hstack([self.static_[hcp], f["channels"]]), "hcp_interests": f["interests"],
                "hcp_sequence": np.hstack([lstm_state, f["recent"]]), "hcp_peers": f["peers"]}

    def _standardise(self, tables: dict) -> dict:
        return {k: ((v - self.mean_[k]) / self.std_[k]).astype(np.float32) for k, v in tables.items()}

    def _lstm_states(self, log: TouchLog, ends) -> np.ndarray:
        if self.sequence_ is None:
            return np.zeros((log.n_hcps, 0), dtype=np.float32)
        return self.sequence_.encode(log, ends)[0]

    # -- fit -----------------------------------------------------------------------------------
    def fit(self, data, progress=QUIET, sequence=None, collaborative: CollaborativeFilter | None = None,
            epochs: int | None = None) -> "HybridModel":
        """Train on ``data``. ``sequence``: the fitted LSTM (``None``: no sequence state);
        ``collaborative``: the collaborative part fitted on ``data.history`` (its settings are
        refitted on the training window for the training features; fitted here when absent)."""
        import keras

        from engine.models.feeding import ChunkedExamples
        from engine.models.keras_utils import fit_with_early_stopping

        keras.utils.set_random_seed(self.seed)
        self.sequence_ = sequence
        topics = data.content_topics if data.content_topics is not None else np.zeros((data.n_contents, 1))
        self.topics_ = np.asarray(topics, dtype=np.float32)
        cf_params = (collaborative.get_params() if collaborative is not None
                     else {"factors": 16, "iterations": 6, "seed": self.seed})
        self.collaborative_ = collaborative or CollaborativeFilter(**cf_params).fit(data, progress)
        # the factors behind training features never saw the validation labels
        cf_train = CollaborativeFilter(**cf_params).fit(data, interactions=data.train)
        units_train = _unit(cf_train.item_factors_)
        train_log = TouchLog.from_frame(data.train, data.n_hcps)
        hist_log = TouchLog.from_frame(data.history, data.n_hcps)
        if len(train_log) == 0:
            raise ValueError("hybrid model: no training touches")
        self.profile_ = ProfileEncoder().fit(data.hcps)
        self.static_ = self.profile_.transform(data.hcps)
        touches = np.bincount(train_log.channel, minlength=N_CHANNELS)
        engaged = np.bincount(train_log.channel[train_log.engaged], minlength=N_CHANNELS)
        self.channel_prior_ = (engaged + 1.0) / (touches + 2.0)
        # topic mass of the engaged and of all training touches, from per-content counts (no [touches, K] array)
        sent = np.bincount(train_log.content, minlength=len(self.topics_)) @ self.topics_
        hits = np.bincount(train_log.content[train_log.engaged], minlength=len(self.topics_)) @ self.topics_
        self.topic_prior_ = (hits + 1.0) / (sent + 2.0)
        self.starts_ = data.calendar.first_dates()

        # Every touch is an example, with features from its HCP's earlier touches only, built a
        # chunk of batches at a time (engine.models.feeding): never for the whole log at once.
        # LSTM states before every touch: one pass over the history (training touches come first),
        # kept in float16 (the network reads them through dropout; half the memory of a large log)
        lstm_hist = (sequence.states_before(hist_log, dtype=np.float16) if sequence is not None
                     else np.zeros((len(hist_log), 0), np.float16))
        sample = np.random.default_rng(self.seed).choice(len(train_log), min(len(train_log), STANDARDISE_SAMPLE),
                                                         replace=False)
        sample = np.sort(sample)
        raw = self._features(train_log, train_log.hcp[sample], sample, train_log.time[sample], units_train,
                             lstm_hist[_history_rows(train_log, hist_log, sample)].astype(np.float32))
        self.mean_ = {k: v.mean(axis=0) for k, v in raw.items()}
        self.std_ = {k: v.std(axis=0) + 1e-3 for k, v in raw.items()}
        # peers stay raw: a per-column rescaling would break the rotation invariance of their term
        self.mean_["hcp_peers"] = np.zeros_like(self.mean_["hcp_peers"])
        self.std_["hcp_peers"] = np.ones_like(self.std_["hcp_peers"])
        share = float(train_log.engaged.mean())
        negatives = None
        if share > POSITIVE_ONLY_SHARE:
            # A positive-only log says nothing about what does not engage: every touch also comes as
            # the same HCP at the same time with a content drawn uniformly, labelled 0.
            negatives = np.random.default_rng(self.seed).integers(0, len(self.topics_), len(hist_log))
            progress("hybrid", f"positive-only log ({share:.0%} engaged): sampled negatives added")
        # validation touches: each HCP's touches after its training ones (both protocols)
        rank = np.arange(len(hist_log)) - hist_log.indptr[hist_log.hcp]
        vpos = np.flatnonzero(rank >= np.diff(train_log.indptr)[hist_log.hcp])
        progress("hybrid", f"{len(train_log):,} training touches (engaged {share:.1%}), "
                           f"{len(vpos):,} validation touches, features from each HCP's earlier touches")

        self.config_ = {"dim": self.dim, "hidden": self.hidden, "l2": self.l2,
                        "sequence_dropout": self.sequence_dropout}
        shapes = {k: v.shape for k, v in raw.items()}
        shapes.update(content_topics=self.topics_.shape, content_peers=units_train.shape)
        del raw
        self.model_, self.terms_model_ = build_network(shapes, self.config_)
        self.model_.get_layer("content_topics").set_weights([self.topics_])
        self.model_.get_layer("content_peers").set_weights([units_train])
        self.model_.compile(optimizer=keras.optimizers.Adam(self.learning_rate),
                            loss=keras.losses.BinaryCrossentropy(from_logits=True), jit_compile=False,
                            run_eagerly=self.run_eagerly)
        copies = 1 if negatives is None else 2
        train = ChunkedExamples(
            copies * len(train_log), self.batch_size, shuffle=True, seed=self.seed,
            build=self._touch_examples(train_log, np.arange(len(train_log)), lstm_hist,
                                       _history_rows(train_log, hist_log), units_train, negatives))
        validation = (ChunkedExamples(copies * len(vpos), self.batch_size,
                                      self._touch_examples(hist_log, vpos, lstm_hist, lambda p: p, units_train,
                                                           negatives))
                      if len(vpos) else None)
        self.history_ = fit_with_early_stopping(self.model_, train, validation, epochs or self.epochs,
                                                self.patience, progress, "hybrid")
        del lstm_hist, train, validation
        # a channel the log never used has no engagement to learn: it is never the better channel
        unseen = touches == 0
        if unseen.any():
            layer = self.model_.get_layer("channel_affinity")
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, np.where(unseen, UNSEEN_CHANNEL_LOGIT, bias)])

        self._group_ = self.profile_.specialty_index(data.hcps)
        self._n_groups_ = len(self.profile_.specialties_) + 1
        self.exposure_ = ExposureModel(window_days=self.label_days).fit(
            self._group_[hist_log.hcp], hist_log.content, hist_log.time, self._n_groups_, data.contents, data.cutoff)
        self._fit_blend(data, train_log, hist_log, cf_train, progress)
        # Evaluate on features as of the cutoff (train + validation history).
        self.scorer_ = self.serving_scorer(data, hist_log, data.cutoff, self.collaborative_,
                                           hcp_at=self._query_times(data, hist_log, data.cutoff))
        return self

    def _query_times(self, data, log: TouchLog, at):
        """Per HCP, when its features are taken: ``at`` (temporal), or just after its last touch in
        ``log`` (leave-one-out: each HCP's held-out item is its own next touch)."""
        if data.protocol == "temporal":
            return as_times(at, log.n_hcps)
        last = np.full(log.n_hcps, np.datetime64(pd.Timestamp(at), "us"))
        has = np.diff(log.indptr) > 0
        last[has] = log.time[log.indptr[1:][has] - 1] + np.timedelta64(1, "s")
        return last

    def _fit_blend(self, data, train_log: TouchLog, hist: TouchLog, cf_train, progress) -> None:
        """Learn the next-window blend (and one per ablated part) on validation, every input as of
        the validation query from the training touches, with the parts fitted on them only."""
        n_train = np.diff(train_log.indptr)
        first_valid = hist.indptr[:-1] + n_train
        has_valid = first_valid < hist.indptr[1:]
        if data.protocol == "temporal":
            label = hist.engaged & (hist.time >= np.datetime64(data.valid_cutoff, "us"))
            at = data.valid_cutoff
        else:  # leave-one-out: the validation item is each HCP's first validation touch
            label = np.zeros(len(hist), bool)
            label[first_valid[has_valid]] = True
            at = data.cutoff
        hcps = np.unique(hist.hcp[label])
        self.blend_ = NextWindowBlend().fit(np.zeros((0, data.n_contents, len(NEXT_WINDOW_FEATURES))),
                                            np.zeros((0, data.n_contents), bool), np.zeros((0, data.n_contents), bool))
        self.ablation_blends_ = {part: np.where(np.isin(NEXT_WINDOW_FEATURES, features), 0.0, self.blend_.coef_)
                                 for part, (_, features) in PARTS.items()}
        if not len(hcps):
            return
        rng = np.random.default_rng(self.seed)
        hcps = np.sort(rng.choice(hcps, size=min(len(hcps), self.blend_hcps), replace=False))
        exposure = ExposureModel(window_days=self.label_days).fit(
            self._group_[train_log.hcp], train_log.content, train_log.time, self._n_groups_, data.contents,
            data.valid_cutoff if data.protocol == "temporal" else data.cutoff)
        window_days = ((data.cutoff - data.valid_cutoff) / pd.Timedelta(days=1) if data.protocol == "temporal"
                       else self.label_days)
        scorer = self.serving_scorer(data, train_log, at, cf_train, exposure=exposure, window_days=window_days,
                                     hcp_at=self._query_times(data, train_log, at))
        x = scorer.next_window_features(hcps)
        row = np.searchsorted(hcps, hist.hcp)
        mine = (row < len(hcps)) & (hcps[np.minimum(row, len(hcps) - 1)] == hist.hcp)
        engaged, excluded = (np.zeros((len(hcps), data.n_contents), bool) for _ in range(2))
        engaged[row[mine & label], hist.content[mine & label]] = True
        before = np.zeros(len(hist), bool)
        before[np.concatenate([np.arange(a, a + n) for a, n in zip(hist.indptr[:-1], n_train)])] = True
        before &= mine & hist.engaged
        excluded[row[before], hist.content[before]] = True
        self.blend_ = NextWindowBlend().fit(x, engaged, excluded)
        self.ablation_blends_ = {part: NextWindowBlend(zero=features).fit(x, engaged, excluded).coef_
                                 for part, (_, features) in PARTS.items()}
        progress("hybrid", f"next-window blend on {len(hcps):,} validation queries ({self.blend_.chosen_}): "
                 + ", ".join(f"{name} {w:+.3g}" for name, w in zip(NEXT_WINDOW_FEATURES, self.blend_.coef_)))

    def _touch_examples(self, log: TouchLog, positions: np.ndarray, lstm: np.ndarray, lstm_rows, units,
                        negatives: np.ndarray | None):
        """``build(indices)`` for :class:`~engine.models.feeding.ChunkedExamples`: the standardised
        features and label of the touches ``log[positions[indices]]``, their LSTM state
        ``lstm[lstm_rows(position)]``. With ``negatives`` (a content per touch of the history) indices
        from ``len(positions)`` on are the same touches with that content instead, labelled 0."""
        n = len(positions)

        def build(indices):
            negative = indices >= n
            pos = positions[np.where(negative, indices - n, indices)]
            x = self._standardise(self._features(log, log.hcp[pos], pos, log.time[pos], units,
                                                 lstm[lstm_rows(pos)].astype(np.float32)))
            x.update(self._item_inputs(log, pos))
            y = log.engaged[pos].astype(np.float32)
            if negative.any():
                content = negatives[lstm_rows(pos[negative])]
                x["content"][negative] = content
                x["freshness"][negative] = content_freshness(self.starts_[content], log.time[pos[negative]])
                y[negative] = 0.0
            return x, y

        return build

    def _item_inputs(self, log: TouchLog, pos: np.ndarray) -> dict[str, np.ndarray]:
        content = log.content[pos]
        return {"content": content.astype(np.int32), "channel": log.channel[pos].astype(np.int32),
                "freshness": content_freshness(self.starts_[content], log.time[pos])}

    def serving_scorer(self, data, log: TouchLog, at, collaborative: CollaborativeFilter,
                       exposure: "ExposureModel | None" = None, window_days: float | None = None,
                       hcp_at=None) -> HybridScorer:
        """A numpy scorer with every HCP feature, LSTM state and part score as of ``at`` from the
        touches of ``log``, with ``collaborative``'s factors (fitted on the same touches).

        ``exposure`` (default the fitted one) and ``window_days`` (default ``label_days``: the
        window whose approval calendar counts) are overridden to score as of the validation cutoff.
        ``hcp_at`` (per HCP, default ``at``) is when each HCP's features are taken.
        """
        layers = {layer.name: [np.asarray(w) for w in layer.get_weights()]
                  for layer in self.terms_model_.layers if layer.get_weights()}
        units = _unit(collaborative.item_factors_)
        layers["content_peers"] = [units]
        hcp_at = as_times(at, log.n_hcps) if hcp_at is None else hcp_at
        ends = log.ends_before(hcp_at)
        lstm = self._lstm_states(log, ends)
        hcp = np.arange(log.n_hcps)
        layers.update({k: [v] for k, v in self._standardise(self._features(log, hcp, ends, hcp_at, units,
                                                                           lstm)).items()})
        at64 = np.datetime64(pd.Timestamp(at), "us")
        window = window_days or self.label_days
        exposure = (exposure if exposure is not None else self.exposure_).log_probability(at, window)
        parts = {"cf_user": collaborative.user_factors_, "cf_item": collaborative.item_factors_,
                 "log_popularity": log_popularity(log, data.n_contents, at)}
        if self.sequence_ is not None:
            w = self.sequence_.numpy_weights()
            parts.update(sequence_state=lstm, sequence_w=w["content_w"], sequence_b=w["content_b"])
        return HybridScorer(layers, content_freshness(self.starts_, at64), data.consent, data.content_ids,
                            data.hcp_ids, self.config_, at, exposure=exposure, hcp_group=self._group_,
                            topic_profile=topic_profile(log, hcp_at, self.topics_),
                            approved=data.calendar.share(at, window),
                            blend=self.blend_.coef_, parts=parts)

    # -- Recommender ---------------------------------------------------------------------------
    def score_batch(self, hcp_idx) -> np.ndarray:
        """P(engaged with the content next), up to a per-HCP constant (see the class doc)."""
        return self.scorer_.next_window_batch(hcp_idx)

    def ablations(self) -> dict[str, "HybridAblation"]:
        """``{"hybrid_without_<part>": recommender}``: this hybrid without each fused part."""
        return {f"hybrid_without_{part}": HybridAblation(self.scorer_.without(part, coef), part)
                for part, coef in self.ablation_blends_.items()}

    def channel_probabilities(self, hcp_idx) -> np.ndarray:
        engagement = sigmoid(self.scorer_.logits_batch(np.asarray(hcp_idx)))
        return engagement / engagement.sum(axis=2, keepdims=True)

    def pair_scores(self, hcp_idx) -> np.ndarray:
        """``[n, n_contents, n_channels]`` P(engaged | sent now on that channel)."""
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
        params = {k: getattr(self, k) for k in ("dim", "hidden", "label_days", "epochs", "batch_size",
                                                "learning_rate", "patience", "l2", "sequence_dropout",
                                                "blend_hcps", "run_eagerly", "seed")}
        np.savez(path / "standardise.npz", **{f"mean/{k}": v for k, v in self.mean_.items()},
                 **{f"std/{k}": v for k, v in self.std_.items()},
                 **{f"ablation/{k}": v for k, v in self.ablation_blends_.items()})
        (path / "hybrid.json").write_text(json.dumps({"params": params, "config": self.config_,
                                                      "score_kind": self.score_kind,
                                                      "exposure": self.exposure_.describe(),
                                                      "next_window_blend": dict(zip(NEXT_WINDOW_FEATURES,
                                                                                    self.scorer_.blend.tolist())),
                                                      "blend_choice": self.blend_.chosen_,
                                                      "blend_validation_ndcg": self.blend_.validation_ndcg_,
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
        with np.load(path / "standardise.npz", allow_pickle=False) as a:
            model.mean_ = {k[5:]: a[k] for k in a.files if k.startswith("mean/")}
            model.std_ = {k[4:]: a[k] for k in a.files if k.startswith("std/")}
            model.ablation_blends_ = {k[9:]: a[k] for k in a.files if k.startswith("ablation/")}
        model.sequence_ = None
        sibling = path.parent / "sequence"
        if (sibling / "params.json").exists():
            from engine.models.sequence import SequenceModel

            model.sequence_ = SequenceModel.load(sibling)
        return model


class HybridAblation(Recommender):
    """The hybrid without one fused part (its network terms zeroed, the blend refit without it)."""

    def __init__(self, scorer: HybridScorer, part: str):
        self.scorer_ = scorer
        self.name = f"hybrid_without_{part}"

    def score_batch(self, hcp_idx) -> np.ndarray:
        return self.scorer_.next_window_batch(hcp_idx)

    def pair_scores(self, hcp_idx) -> np.ndarray:
        return sigmoid(self.scorer_.logits_batch(np.asarray(hcp_idx)))

    def engagement_probability(self, hcp_idx, content_idx, channel_idx) -> np.ndarray:
        return sigmoid(self.scorer_.pair_logits(hcp_idx, content_idx, channel_idx))
