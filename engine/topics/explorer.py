"""Topic-explorer data computed once at training: intertopic map, term relevance, word clouds,
prevalence over time (the same quantities as pyLDAvis, as plain JSON-able dicts)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.ranking import top_k
from engine.topics.cloud import word_cloud_image

#: λ values with a precomputed ranking (the UI slider steps).
LAMBDAS = tuple(round(x / 10, 1) for x in range(11))
RELEVANT_TERMS = 30
WORD_CLOUD_TERMS = 40


def relevance_ranking(p_term_topic: np.ndarray, p_term: np.ndarray, lam: float, n: int) -> np.ndarray:
    """Indices of the ``n`` most relevant terms of a topic (Sievert & Shirley 2014).

    relevance = λ·log p(w|t) + (1−λ)·log(p(w|t) / p(w)); λ=1 ranks by probability in the
    topic, λ=0 by lift (terms specific to the topic).
    """
    log_phi = np.log(np.maximum(p_term_topic, 1e-300))
    relevance = lam * log_phi + (1 - lam) * (log_phi - np.log(np.maximum(p_term, 1e-300)))
    return top_k(relevance, n)


def intertopic_coordinates(topic_term: np.ndarray) -> np.ndarray:
    """2-D map of topics: Jensen–Shannon distances projected by classical MDS (PCoA)."""
    from scipy.spatial.distance import jensenshannon  # training only: a web worker loads the result

    k = topic_term.shape[0]
    dist = np.array([[jensenshannon(topic_term[i], topic_term[j], base=2) for j in range(k)] for i in range(k)])
    centering = np.eye(k) - np.ones((k, k)) / k
    inner = -0.5 * centering @ (dist ** 2) @ centering
    values, vectors = np.linalg.eigh(inner)
    order = np.argsort(values)[::-1][:2]
    coords = vectors[:, order] * np.sqrt(np.clip(values[order], 0, None))
    if coords.shape[1] < 2:
        coords = np.column_stack([coords, np.zeros(k)])
    # Eigenvector signs are arbitrary; fix them so the map does not flip between runs.
    signs = np.where(coords[np.argmax(np.abs(coords), axis=0), range(2)] < 0, -1.0, 1.0)
    return coords * signs


def _time_period(dates: pd.Series) -> str:
    span_days = (dates.max() - dates.min()).days
    return "year" if span_days > 3 * 365 else "quarter"


def prevalence_over_time(doc_topics: np.ndarray, dates) -> tuple[list[dict], str | None]:
    """Mean topic share per period (documents without a date are left out)."""
    when = pd.to_datetime(pd.Series(list(dates)), errors="coerce")
    known = when.notna().to_numpy()
    if not known.any():
        return [], None
    period_kind = _time_period(when[known])
    periods = when.dt.year.astype("Int64").astype(str) if period_kind == "year" else when.dt.to_period("Q").astype(str)
    frame = pd.DataFrame(doc_topics[known], columns=range(doc_topics.shape[1]))
    frame["period"] = periods[known].to_numpy()
    rows = []
    for period, group in frame.groupby("period", sort=True):
        shares = group.drop(columns="period").mean(axis=0)
        for topic_id, share in shares.items():
            rows.append({"period": str(period), "topic_id": int(topic_id), "share": round(float(share), 6),
                         "n_docs": int(len(group))})
    return rows, period_kind


def build_explorer_data(model, doc_lengths: np.ndarray, dates=None) -> dict:
    """Everything the topic explorer page shows, from a fitted :class:`TopicModel`."""
    phi = model.topic_term_
    vocab = model.vocabulary_
    p_term = model.term_counts_ / model.term_counts_.sum()
    topic_tokens = doc_lengths @ model.doc_topics_
    coords = intertopic_coordinates(phi)
    topics, relevance, rankings, word_cloud = [], {}, {}, {}
    for t in range(model.num_topics_):
        key = str(t)
        topics.append({"id": t, "label": model.labels_[t], "prevalence": round(float(model.prevalence_[t]), 6),
                       "x": round(float(coords[t, 0]), 6), "y": round(float(coords[t, 1]), 6),
                       "top_terms": model.top_terms(t)})
        per_lambda = {f"{lam:.1f}": relevance_ranking(phi[t], p_term, lam, RELEVANT_TERMS) for lam in LAMBDAS}
        rankings[key] = {lam: [vocab[i] for i in idx] for lam, idx in per_lambda.items()}
        candidates = sorted(set(np.concatenate(list(per_lambda.values())).tolist()), key=lambda i: -phi[t, i])
        relevance[key] = [{"term": vocab[i], "freq_in_topic": round(float(phi[t, i] * topic_tokens[t]), 3),
                           "overall_freq": int(model.term_counts_[i]), "p_term_topic": float(phi[t, i]),
                           "p_term": float(p_term[i])} for i in candidates]
        cloud = top_k(phi[t], WORD_CLOUD_TERMS)
        word_cloud[key] = {vocab[i]: round(float(phi[t, i] / phi[t, cloud[0]]), 4) for i in cloud}
    over_time, period_kind = prevalence_over_time(model.doc_topics_, dates) if dates is not None else ([], None)
    return {
        "num_topics": int(model.num_topics_), "coherence_cv": float(model.coherence_cv_),
        "coherence_umass": float(model.coherence_umass_), "sweep": model.sweep_, "topics": topics,
        "relevance": relevance, "relevance_rankings": rankings, "lambdas": list(LAMBDAS),
        "word_cloud": word_cloud,
        "word_cloud_images": {key: word_cloud_image(terms) for key, terms in word_cloud.items()},
        "prevalence_over_time": over_time, "time_period": period_kind,
    }
