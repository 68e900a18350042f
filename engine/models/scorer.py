"""Serving scorer: the hybrid model's math in numpy (component ``scorer``).

The hybrid logit of HCP ``h``, content ``i`` and channel ``c`` is a sum of interpretable terms,
each a dot product between an HCP-tower output and a content-tower output::

    logit = topic_match(h, i) + peers(h, i) + sequence(h, i) + sequence_channel(h, c)
          + channel_affinity(h, c) + content_appeal(i, c)

The content tower does not depend on the HCP, so it is computed once for the catalogue at load
time. Scoring one HCP is one pass of the (tiny) HCP tower plus one matrix product against the
content matrices: no network call per item. Importing this module never loads TensorFlow.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from engine.models.activations import log_softmax, relu, sigmoid
from engine.models.npz import load_npz

#: Factor names, in the order shown to users; they add up to the logit of the chosen channel.
FACTORS = ("topic match", "peers", "recent sequence", "channel affinity", "content appeal")
#: HCP feature tables (rows as of the reference time): inputs of the network's HCP tower.
HCP_TABLES = ("hcp_profile", "hcp_interests", "hcp_sequence", "hcp_peers")
#: Inputs of the next-window ranking, per (HCP, content); ``blend`` weighs them (see
#: :meth:`HybridScorer.next_window_batch`): the engagement network, the brand's calendar
#: (exposure, approval, freshness) and the parts' own scores (topic affinity, the LSTM's next-item
#: log-probability, the collaborative score, recent popularity).
NEXT_WINDOW_FEATURES = ("log_engagement", "log_exposure", "topic_affinity", "log_approved_share", "freshness",
                        "sequence", "collaborative", "popularity")
#: Without a learned blend the ranking is exposure × engagement.
DEFAULT_BLEND = np.array([1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
#: The fused parts: their network terms and their next-window features (what an ablation removes).
PARTS = {"sequence": (("sequence", "sequence_channel"), ("sequence",)),
         "collaborative": (("peer",), ("collaborative",)),
         "topics": (("topic",), ("topic_affinity",))}


@dataclass
class Scores:
    """One HCP's scores over the catalogue.

    Attributes
    ----------
    engagement : ``[n_contents, n_channels]`` engagement probability per (content, channel).
    score : ``[n_contents]`` ranking score: engagement of the best consented channel.
    channel : ``[n_contents]`` index of that channel.
    factors : name -> ``[n_contents]`` additive contributions to the logit of that channel.
    """

    engagement: np.ndarray
    score: np.ndarray
    channel: np.ndarray
    factors: dict


class HybridScorer:
    """Numpy scorer over a fixed catalogue, built from the hybrid network's weights.

    Parameters
    ----------
    layers : Keras layer name -> list of weight arrays (tables included).
    freshness : ``[n_contents]`` content freshness at the reference time.
    consent : ``[n_hcps, n_channels]`` bool; the score takes the best *consented* channel.
    content_ids, hcp_ids : index order.
    config : network sizes (to rebuild the Keras network: :func:`engine.models.hybrid.network_from_scorer`).
    reference_time : when the HCP features were computed (the training cutoff).
    exposure : ``[n_groups, n_contents]`` log P(the brand sends the content | a touch to the group
        in the next window), or ``None``; hcp_group : ``[n_hcps]`` group (specialty) of each HCP.
    topic_profile : ``[n_hcps, K]`` unit-norm engagement topic profile of each HCP, or ``None``.
    approved : ``[n_contents]`` share of the next window each content is approved in, or ``None``.
    blend : ``[len(NEXT_WINDOW_FEATURES)]`` weights of the next-window ranking (default
        :data:`DEFAULT_BLEND`).
    parts : the parts' own scoring tables (each optional): ``sequence_state [n_hcps, units]``,
        ``sequence_w [units, n_contents]``, ``sequence_b [n_contents]`` (the LSTM's next-item head),
        ``cf_user [n_hcps, k]``, ``cf_item [n_contents, k]`` (collaborative factors) and
        ``log_popularity [n_contents]``.
    dropped : network terms set to zero (an ablation, see :meth:`without`).

    ``Scores.score`` and ``score_batch`` are engagement values (P(engaged | sent on the best
    consented channel)): what the service recommends. :meth:`next_window_batch` is the ranking of
    what the HCP will engage with in the next window (exposure × engagement, blended).
    """

    def __init__(self, layers: dict, freshness, consent, content_ids, hcp_ids, config: dict, reference_time,
                 exposure=None, hcp_group=None, topic_profile=None, approved=None, blend=None, parts=None,
                 dropped=()):
        self.layers = {k: [np.asarray(a, dtype=np.float32) for a in v] for k, v in layers.items()}
        self.freshness = np.asarray(freshness, dtype=np.float32)
        self.consent = np.asarray(consent, dtype=bool)
        self.content_ids = np.asarray(content_ids, dtype=str)
        self.hcp_ids = np.asarray(hcp_ids, dtype=str)
        self.config = dict(config)
        self.reference_time = pd.Timestamp(reference_time)
        self.exposure = None if exposure is None else np.asarray(exposure, dtype=np.float32)
        self.hcp_group = None if hcp_group is None else np.asarray(hcp_group, dtype=np.int64)
        self.topic_profile = None if topic_profile is None else np.asarray(topic_profile, dtype=np.float32)
        self.approved = None if approved is None else np.asarray(approved, dtype=np.float32)
        self.blend = DEFAULT_BLEND.copy() if blend is None else np.asarray(blend, dtype=np.float64)
        self.parts = {k: np.asarray(v, dtype=np.float32) for k, v in (parts or {}).items()}
        self.dropped = tuple(dropped)
        self._content_tower()

    # -- towers --------------------------------------------------------------------------------
    def _content_tower(self) -> None:
        L = self.layers
        topics = L["content_topics"][0]
        self.topic_content_ = topics @ L["topic_content"][0] + L["content_topic_id"][0]
        self.peer_content_ = L["content_peers"][0] * L["peer_weight"][0][0, 0]
        self.sequence_content_ = L["content_sequence_id"][0] + topics @ L["sequence_content"][0]
        self.appeal_ = (L["content_channel_bias"][0] + topics @ L["content_topic_channel"][0]
                        + self.freshness[:, None] @ L["freshness_weight"][0])

    def hcp_tower(self, hcp_idx) -> dict[str, np.ndarray]:
        """HCP-side outputs for a batch: ``topic [n,d]``, ``peer [n,k]`` (the recency-weighted mean
        collaborative embedding of its engaged contents), ``sequence [n,d]``,
        ``sequence_channel [n,5]``, ``channel_affinity [n,5]``."""
        L = self.layers
        idx = np.asarray(hcp_idx)
        profile = L["hcp_profile"][0][idx]
        interests = L["hcp_interests"][0][idx]
        state = L["hcp_sequence"][0][idx]
        peers = L["hcp_peers"][0][idx]
        hidden = relu(np.concatenate([profile, interests], axis=1) @ L["topic_hcp_hidden"][0] + L["topic_hcp_hidden"][1])
        return {
            "topic": hidden @ L["topic_hcp_out"][0] + L["topic_hcp_out"][1],
            "peer": peers,
            "sequence": state @ L["sequence_hcp"][0] + L["sequence_hcp"][1],
            "sequence_channel": state @ L["sequence_channel"][0] + L["sequence_channel"][1],
            "channel_affinity": relu(profile @ L["channel_hidden"][0] + L["channel_hidden"][1])
            @ L["channel_affinity"][0] + L["channel_affinity"][1],
        }

    def terms(self, hcp_idx) -> dict[str, np.ndarray]:
        """Every term for a batch: item terms ``[n, C]``, channel terms ``[n, 1, 5]``, appeal ``[1, C, 5]``."""
        t = self.hcp_tower(hcp_idx)
        terms = {"topic": t["topic"] @ self.topic_content_.T,
                 "peer": t["peer"] @ self.peer_content_.T,
                 "sequence": t["sequence"] @ self.sequence_content_.T,
                 "sequence_channel": t["sequence_channel"][:, None, :],
                 "channel_affinity": t["channel_affinity"][:, None, :],
                 "appeal": self.appeal_[None]}
        for name in self.dropped:
            terms[name] = np.zeros_like(terms[name])
        return terms

    @staticmethod
    def _logits(terms) -> np.ndarray:
        item = (terms["topic"] + terms["peer"] + terms["sequence"])[:, :, None]
        return item + terms["sequence_channel"] + terms["channel_affinity"] + terms["appeal"]

    def logits_batch(self, hcp_idx) -> np.ndarray:
        """``[n, n_contents, n_channels]`` engagement logits."""
        return self._logits(self.terms(hcp_idx))

    def _best_channel(self, hcp_idx, logits) -> np.ndarray:
        consent = self.consent[np.asarray(hcp_idx)]
        # An HCP with no consent at all still gets a ranking (the business rules filter it later).
        consent = np.where(consent.any(axis=1, keepdims=True), consent, True)
        return np.where(consent[:, None, :], logits, -np.inf).argmax(axis=2)

    # -- serving -------------------------------------------------------------------------------
    def score(self, hcp_idx: int) -> Scores:
        """Scores of one HCP over the catalogue, with the additive factors of the best channel."""
        terms = self.terms([hcp_idx])
        logits = self._logits(terms)
        best = self._best_channel([hcp_idx], logits)[0]
        items = np.arange(len(self.content_ids))
        engagement = sigmoid(logits[0])
        factors = {
            "topic match": terms["topic"][0],
            "peers": terms["peer"][0],
            "recent sequence": terms["sequence"][0] + terms["sequence_channel"][0, 0, best],
            "channel affinity": terms["channel_affinity"][0, 0, best],
            "content appeal": terms["appeal"][0, items, best],
        }
        return Scores(engagement=engagement, score=engagement[items, best], channel=best, factors=factors)

    def score_batch(self, hcp_idx) -> tuple[np.ndarray, np.ndarray]:
        """``(score [n, n_contents], engagement [n, n_contents, n_channels])``."""
        hcp_idx = np.asarray(hcp_idx)
        logits = self.logits_batch(hcp_idx)
        best = self._best_channel(hcp_idx, logits)
        engagement = sigmoid(logits)
        return np.take_along_axis(engagement, best[:, :, None], axis=2)[:, :, 0], engagement

    def next_window_features(self, hcp_idx) -> np.ndarray:
        """``[n, n_contents, len(NEXT_WINDOW_FEATURES)]`` inputs of the next-window ranking
        (a feature is 0 where its table is missing)."""
        hcp_idx = np.asarray(hcp_idx)
        score, _ = self.score_batch(hcp_idx)
        x = np.zeros(score.shape + (len(NEXT_WINDOW_FEATURES),), dtype=np.float32)
        x[:, :, 0] = np.log(np.maximum(score, 1e-12))
        if self.exposure is not None:
            x[:, :, 1] = self.exposure[self.hcp_group[hcp_idx]]
        if self.topic_profile is not None:
            topics = self.layers["content_topics"][0]
            unit = topics / np.clip(np.linalg.norm(topics, axis=1, keepdims=True), 1e-12, None)
            x[:, :, 2] = self.topic_profile[hcp_idx] @ unit.T
        if self.approved is not None:
            x[:, :, 3] = np.log(self.approved + 1e-3)[None]
        x[:, :, 4] = self.freshness[None]
        parts = self.parts
        if "sequence_state" in parts:
            x[:, :, 5] = log_softmax(parts["sequence_state"][hcp_idx] @ parts["sequence_w"] + parts["sequence_b"])
        if "cf_user" in parts:
            x[:, :, 6] = parts["cf_user"][hcp_idx] @ parts["cf_item"].T
        if "log_popularity" in parts:
            x[:, :, 7] = parts["log_popularity"][None]
        return x

    def without(self, part: str, blend) -> "HybridScorer":
        """This scorer with one fused part (:data:`PARTS`) removed: its network terms set to zero
        and the next-window ``blend`` (refit without the part's features) in place."""
        terms, _ = PARTS[part]
        return HybridScorer(self.layers, self.freshness, self.consent, self.content_ids, self.hcp_ids, self.config,
                            self.reference_time, self.exposure, self.hcp_group, self.topic_profile, self.approved,
                            blend, self.parts, self.dropped + terms)

    def next_window_batch(self, hcp_idx) -> np.ndarray:
        """``[n, n_contents]`` P(engaged with the content in the next window) up to a per-HCP constant:
        ``exp(features · blend)``; the default blend is P(sent | the HCP's group) × P(engaged | sent
        on the best consented channel), a learned one also weighs the HCP's topic affinity and the
        approval calendar (see :class:`engine.models.hybrid.NextWindowBlend`)."""
        z = self.next_window_features(hcp_idx) @ self.blend.astype(np.float32)
        return np.exp(z - z.max(axis=1, keepdims=True))

    def pair_logits(self, hcp_idx, content_idx, channel_idx) -> np.ndarray:
        """``[n]`` logits of given (HCP, content, channel) triples."""
        hcp_idx, content_idx, channel_idx = (np.asarray(a) for a in (hcp_idx, content_idx, channel_idx))
        t = self.hcp_tower(hcp_idx)
        rows = np.arange(len(hcp_idx))
        terms = {"topic": np.einsum("nd,nd->n", t["topic"], self.topic_content_[content_idx]),
                 "peer": np.einsum("nd,nd->n", t["peer"], self.peer_content_[content_idx]),
                 "sequence": np.einsum("nd,nd->n", t["sequence"], self.sequence_content_[content_idx]),
                 "sequence_channel": t["sequence_channel"][rows, channel_idx],
                 "channel_affinity": t["channel_affinity"][rows, channel_idx],
                 "appeal": self.appeal_[content_idx, channel_idx]}
        return sum(value for name, value in terms.items() if name not in self.dropped)

    def with_new_contents(self, content_ids, topic_vectors, available_since=None) -> "HybridScorer":
        """A scorer whose catalogue also holds new contents known only by their topic vector.

        New contents have no id embedding, no peer factors and no learned appeal (all zero);
        ``available_since`` (timestamps) sets their freshness, default: new at the reference time.
        """
        topic_vectors = np.asarray(topic_vectors, dtype=np.float32)
        k = self.layers["content_topics"][0].shape[1]
        if topic_vectors.ndim != 2 or topic_vectors.shape != (len(content_ids), k):
            raise ValueError(f"topic_vectors must be [{len(content_ids)}, {k}] (one row per new content, "
                             f"{k} topics); got {topic_vectors.shape}")
        n = len(content_ids)
        layers = dict(self.layers)
        for name in ("content_topic_id", "content_sequence_id", "content_channel_bias", "content_peers"):
            table = layers[name][0]
            layers[name] = [np.vstack([table, np.zeros((n, table.shape[1]), dtype=np.float32)])]
        layers["content_topics"] = [np.vstack([layers["content_topics"][0], topic_vectors])]
        fresh = np.ones(n, dtype=np.float32)
        if available_since is not None:
            from engine.models.features import content_freshness

            since = pd.to_datetime(pd.Series(available_since)).to_numpy("datetime64[us]")
            fresh = content_freshness(since, np.datetime64(self.reference_time, "us"))
        exposure = None
        if self.exposure is not None:  # new contents: the group's median exposure (no campaign history)
            median = np.median(self.exposure, axis=1, keepdims=True)
            exposure = np.hstack([self.exposure, np.repeat(median, n, axis=1)])
        # new contents are assumed approved for the whole window (they are being added to be sent)
        approved = None if self.approved is None else np.concatenate([self.approved, np.ones(n, np.float32)])
        # the parts know nothing of new contents: no id factors, the least popular / probable
        parts = dict(self.parts)
        if "sequence_w" in parts:
            parts["sequence_w"] = np.hstack([parts["sequence_w"], np.zeros((len(parts["sequence_w"]), n), np.float32)])
            parts["sequence_b"] = np.concatenate([parts["sequence_b"], np.full(n, parts["sequence_b"].min(), np.float32)])
        if "cf_item" in parts:
            parts["cf_item"] = np.vstack([parts["cf_item"], np.zeros((n, parts["cf_item"].shape[1]), np.float32)])
        if "log_popularity" in parts:
            parts["log_popularity"] = np.concatenate([parts["log_popularity"], np.zeros(n, np.float32)])
        return HybridScorer(layers, np.concatenate([self.freshness, fresh]), self.consent,
                            np.concatenate([self.content_ids, np.asarray(content_ids, dtype=str)]),
                            self.hcp_ids, self.config, self.reference_time, exposure, self.hcp_group,
                            self.topic_profile, approved, self.blend, parts, self.dropped)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        arrays = {f"layer/{name}/{j}": w for name, ws in self.layers.items() for j, w in enumerate(ws)}
        extra = {} if self.exposure is None else {"exposure": self.exposure, "hcp_group": self.hcp_group}
        extra.update({name: value for name, value in (("topic_profile", self.topic_profile),
                                                      ("approved", self.approved)) if value is not None})
        extra.update({f"part/{name}": value for name, value in self.parts.items()})
        np.savez(path / "scorer.npz", freshness=self.freshness, consent=self.consent, blend=self.blend,
                 content_ids=self.content_ids, hcp_ids=self.hcp_ids, **arrays, **extra)
        (path / "scorer.json").write_text(json.dumps({"config": self.config, "dropped": list(self.dropped),
                                                      "reference_time": self.reference_time.isoformat()}))

    @classmethod
    def load(cls, path) -> "HybridScorer":
        path = Path(path)
        meta = json.loads((path / "scorer.json").read_text())
        a = load_npz(path / "scorer.npz")  # the per-HCP tables mapped: a worker reads the rows it scores
        layers: dict[str, list] = {}
        for key in sorted(k for k in a if k.startswith("layer/")):
            _, name, j = key.split("/")
            layers.setdefault(name, []).append((int(j), a[key]))
        layers = {name: [w for _, w in sorted(ws, key=lambda t: t[0])] for name, ws in layers.items()}
        return cls(layers, a["freshness"], a["consent"], a["content_ids"], a["hcp_ids"],
                   meta["config"], meta["reference_time"], a.get("exposure"), a.get("hcp_group"),
                   *(a.get(name) for name in ("topic_profile", "approved", "blend")),
                   {k[5:]: a[k] for k in a if k.startswith("part/")}, meta.get("dropped", ()))
