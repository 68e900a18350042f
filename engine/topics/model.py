"""LDA topic model over abstracts: coherence sweep for K, labels, fold-in, explorer data.

Each candidate K is trained by gensim ``LdaModel`` started from a deterministic NMF solution
(NNDSVD on the tf-idf matrix) instead of random topics: on a few hundred short abstracts
random starts land in mixed topics whose coherence varies a lot from seed to seed, while the
NMF start gives well-separated topics after a few passes, so the sweep is both cheap and stable.
"""
from __future__ import annotations

import json
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from engine.progress import QUIET, Progress
from engine.ranking import top_k
from engine.topics.explorer import build_explorer_data, relevance_ranking
from engine.topics.labels import make_label
from engine.topics.text import GENERIC_TERMS, PhraseDetector, tokenize

FORMAT_VERSION = 1
_META_FILE = "topic_model.json"
_TOPIC_TERM_FILE = "topic_term.npy"
_DOC_TOPICS_FILE = "doc_topics.npy"


def nmi(labels_a, labels_b) -> float:
    """Normalised mutual information between two labelings (arithmetic mean normalisation)."""
    from sklearn.metrics import normalized_mutual_info_score

    return float(normalized_mutual_info_score(np.asarray(labels_a, dtype=str), np.asarray(labels_b, dtype=str)))


class TopicModel:
    """LDA topics for biomedical abstracts with the number of topics chosen by c_v coherence.

    Parameters
    ----------
    num_topics : fixed K (skips the sweep); ``None`` sweeps ``topic_range``.
    topic_range : inclusive (low, high) range of K tried by the sweep.
    seed : random seed for gensim; the same texts and seed give the same model.
    passes : training passes of the final model.
    sweep_passes : passes for each candidate in the sweep.
    min_doc_count : a term must occur in at least this many documents (``None``: 2 below 100
        documents, else 1% of documents within [3, 20]).
    max_doc_share : terms in more than this share of documents are dropped (``None``: 0.3, or
        0.6 below 200 documents where each theme covers a larger share).
    top_n : terms per topic for coherence and ``top_terms``.
    label_lambda : λ of the relevance ranking used for labels (Sievert & Shirley 2014).
    iterations : variational iterations per document (training and fold-in).

    Attributes
    ----------
    num_topics_, coherence_cv_, coherence_umass_ : the chosen K and its coherences.
    sweep_ : list of ``{k, c_v, u_mass}`` for each K tried (one entry when K was fixed).
    doc_topics_ : ``[n_docs, K]`` topic distribution of each training document.
    labels_ : list of K labels.
    vocabulary_ : list of V terms (column order of ``topic_term_``).
    topic_term_ : ``[K, V]`` topic-term probabilities.
    lambda_, alpha_ : variational topic-term parameters ``[K, V]`` and document-topic prior ``[K]``
        (all that fold-in needs).
    explorer_ : the explorer dict (see :meth:`explorer_data`).
    seconds_ : wall time of :meth:`fit`; timings_ : its split (preprocess, sweep, train, explorer).
    """

    def __init__(self, num_topics: int | None = None, topic_range: tuple[int, int] = (4, 16), seed: int = 0,
                 passes: int = 15, sweep_passes: int = 3, min_doc_count: int | None = None,
                 max_doc_share: float | None = None, top_n: int = 10, label_lambda: float = 0.6,
                 iterations: int = 50):
        self.num_topics = num_topics
        self.topic_range = topic_range
        self.seed = seed
        self.passes = passes
        self.sweep_passes = sweep_passes
        self.min_doc_count = min_doc_count
        self.max_doc_share = max_doc_share
        self.top_n = top_n
        self.label_lambda = label_lambda
        self.iterations = iterations

    # ------------------------------------------------------------------ text -> bag of words
    def _terms(self, texts, progress: Progress = QUIET) -> list[list[str]]:
        docs = self.phrases_.transform(tokenize(texts, progress))
        return [[t for t in d if t not in GENERIC_TERMS] for d in docs]

    def _bows(self, docs: list[list[str]]) -> list[list[tuple[int, int]]]:
        """Bags of words as gensim's ``Dictionary.doc2bow`` gives them ((term id, count) sorted by id),
        from the plain vocabulary: a loaded model folds in texts without gensim."""
        ids = self.token_ids_
        return [sorted(Counter(ids[t] for t in d if t in ids).items()) for d in docs]

    def _filters(self, n_docs: int) -> tuple[int, float]:
        min_count = self.min_doc_count or (2 if n_docs < 100 else int(np.clip(n_docs // 100, 3, 20)))
        max_share = self.max_doc_share or (0.6 if n_docs < 200 else 0.3)
        return min_count, max_share

    # ------------------------------------------------------------------ training
    def fit(self, texts, dates=None, progress: Progress = QUIET) -> "TopicModel":
        """Learn topics from ``texts`` (title + abstract strings; ``None``/empty allowed).

        ``dates`` (optional, aligned with ``texts``) enables prevalence over time.
        """
        from gensim.corpora import Dictionary

        started = time.perf_counter()
        texts = _as_text_list(texts)
        if dates is not None and len(dates) != len(texts):
            raise ValueError(f"dates has {len(dates)} values but texts has {len(texts)}")
        min_count, max_share = self._filters(len(texts))
        progress("topics", f"tokenising {len(texts)} documents")
        self.timings_ = {}
        raw = tokenize(texts, progress)
        self.phrases_ = PhraseDetector(min_count=max(3, min_count)).fit(raw)
        docs = [[t for t in d if t not in GENERIC_TERMS] for d in self.phrases_.transform(raw)]
        self.dictionary_ = Dictionary(docs)
        self.dictionary_.filter_extremes(no_below=min_count, no_above=max_share, keep_n=None)
        if len(self.dictionary_) < 2:
            raise ValueError(
                f"topics: only {len(self.dictionary_)} terms left after vocabulary filtering of {len(texts)} "
                f"documents (rule: a term must be in >= {min_count} documents and <= {max_share:.0%} of them); "
                "give more or longer texts")
        self.token_ids_ = dict(self.dictionary_.token2id)
        bows = self._bows(docs)
        self.timings_["preprocess"] = time.perf_counter() - started
        n_useful = sum(1 for b in bows if b)
        progress("topics", f"vocabulary {len(self.dictionary_)} terms, {n_useful} non-empty documents")
        candidates = self._candidate_ks(n_useful)
        tfidf = _tfidf(bows, len(self.dictionary_))
        coherence_texts = [[t for t in d if t in self.dictionary_.token2id] for d in docs]

        self.sweep_ = []
        if len(candidates) > 1:
            for i, k in enumerate(candidates):
                lda = self._train(bows, tfidf, k, self.sweep_passes)
                cv, umass = self._coherence(lda, coherence_texts, bows)
                self.sweep_.append({"k": k, "c_v": cv, "u_mass": umass})
                progress.bar("topics sweep", i + 1, len(candidates), f"k={k} c_v={cv:.3f}")
            # Ties (within rounding) go to the smaller K: fewer topics are easier to read.
            best_cv = max(s["c_v"] for s in self.sweep_)
            k = min(s["k"] for s in self.sweep_ if s["c_v"] >= best_cv - 1e-3)
        else:
            k = candidates[0]
        self.timings_["sweep"] = time.perf_counter() - started - self.timings_["preprocess"]
        progress("topics", f"training final model with {k} topics ({self.passes} passes)")
        lda = self._train(bows, tfidf, k, self.passes)
        self.coherence_cv_, self.coherence_umass_ = self._coherence(lda, coherence_texts, bows)
        # Keep only plain arrays: the variational topic-term parameters and the learned prior.
        self.lambda_ = np.asarray(lda.state.get_lambda(), dtype=float)
        self.alpha_ = np.asarray(lda.alpha, dtype=float)
        if not self.sweep_:
            self.sweep_ = [{"k": k, "c_v": self.coherence_cv_, "u_mass": self.coherence_umass_}]
        self.num_topics_ = k
        self.vocabulary_ = [self.dictionary_[i] for i in range(len(self.dictionary_))]
        self.topic_term_ = self.lambda_ / self.lambda_.sum(axis=1, keepdims=True)
        self.doc_topics_ = self._infer(bows)
        self.timings_["train"] = time.perf_counter() - started - self.timings_["preprocess"] - self.timings_["sweep"]
        doc_lengths = np.array([sum(c for _, c in b) for b in bows], dtype=float)
        term_counts = np.zeros(len(self.vocabulary_))
        for b in bows:
            for term_id, count in b:
                term_counts[term_id] += count
        self.term_counts_ = term_counts
        self.prevalence_ = self.doc_topics_.mean(axis=0)
        self.labels_ = self._make_labels()
        self.explorer_ = build_explorer_data(self, doc_lengths, dates)
        self.seconds_ = time.perf_counter() - started
        self.timings_["explorer"] = self.seconds_ - sum(self.timings_.values())
        progress("topics", f"{k} topics, c_v={self.coherence_cv_:.3f}, u_mass={self.coherence_umass_:.3f} "
                           f"in {self.seconds_:.1f}s")
        return self

    def _candidate_ks(self, n_useful: int) -> list[int]:
        if n_useful < 2:
            raise ValueError(f"topics: need at least 2 documents with vocabulary terms, got {n_useful}")
        upper = max(2, min(n_useful - 1, len(self.dictionary_) - 1))
        if self.num_topics is not None:
            if not 2 <= self.num_topics <= upper:
                raise ValueError(f"topics: num_topics={self.num_topics} must be in [2, {upper}] for this corpus")
            return [int(self.num_topics)]
        low, high = self.topic_range
        if low < 2 or high < low:
            raise ValueError(f"topics: topic_range={self.topic_range} must be (low, high) with 2 <= low <= high")
        return list(range(min(low, upper), min(high, upper) + 1))

    def _train(self, bows, tfidf, k: int, passes: int):
        from sklearn.decomposition import NMF
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = NMF(n_components=k, init="nndsvd", max_iter=300).fit(tfidf).components_
        # Floor so no term has zero mass in a topic (LDA could never move it there otherwise).
        start = start + 1e-3 * start.max()
        n_tokens = sum(c for b in bows for _, c in b)
        lda = _lda_class()(num_topics=k, id2word=self.dictionary_, random_state=self.seed, alpha="auto",
                       eta="auto", chunksize=len(bows), iterations=self.iterations, eval_every=None)
        lda.state.sstats = (start / start.sum(axis=1, keepdims=True) * n_tokens / k).astype(lda.state.sstats.dtype)
        lda.sync_state()
        lda.update(bows, passes=passes)
        return lda

    def _coherence(self, lda, coherence_texts, bows) -> tuple[float, float]:
        from gensim.models.coherencemodel import CoherenceModel

        topics = [[w for w, _ in lda.show_topic(t, self.top_n)] for t in range(lda.num_topics)]
        cv = CoherenceModel(topics=topics, texts=coherence_texts, dictionary=self.dictionary_,
                            coherence="c_v", topn=self.top_n, processes=1).get_coherence()
        umass = CoherenceModel(topics=topics, corpus=bows, dictionary=self.dictionary_,
                               coherence="u_mass", topn=self.top_n).get_coherence()
        return float(cv), float(umass)

    def _make_labels(self) -> list[str]:
        labels = []
        for t in range(self.num_topics_):
            ranked = relevance_ranking(self.topic_term_[t], self._term_share(), self.label_lambda, 20)
            weights = {self.vocabulary_[i]: float(self.topic_term_[t, i])
                       for i in top_k(self.topic_term_[t], 30)}
            label = make_label([self.vocabulary_[i] for i in ranked], weights)
            # Two topics can share their best terms; the UI needs to tell them apart.
            labels.append(label if label not in labels else f"{label} ({t})")
        return labels

    def _term_share(self) -> np.ndarray:
        return self.term_counts_ / self.term_counts_.sum()

    # ------------------------------------------------------------------ inference
    def _infer(self, bows) -> np.ndarray:
        """Fold-in: the variational E-step of each document from a fixed start (see :func:`estep`)."""
        from scipy.special import digamma

        exp_elog_beta = np.exp(digamma(self.lambda_) - digamma(self.lambda_.sum(axis=1, keepdims=True)))
        gamma, _ = estep(_bows_to_csr(bows, self.lambda_.shape[1]), self.alpha_, exp_elog_beta,
                         max(self.iterations, 100))
        return gamma / gamma.sum(axis=1, keepdims=True)

    def transform(self, texts, progress: Progress = QUIET) -> np.ndarray:
        """Fold-in: topic distribution ``[n, K]`` of new texts without retraining."""
        self._check_fitted()
        return self._infer(self._bows(self._terms(_as_text_list(texts), progress)))

    def dominant_topics(self) -> np.ndarray:
        """Dominant topic id of each training document."""
        self._check_fitted()
        return self.doc_topics_.argmax(axis=1)

    def top_terms(self, topic_id: int, n: int | None = None) -> list[str]:
        order = top_k(self.topic_term_[topic_id], n or self.top_n)
        return [self.vocabulary_[i] for i in order]

    def topics_frame(self) -> pd.DataFrame:
        """One row per topic: ``topic_id, label, top_terms`` (comma-separated), ``prevalence``."""
        self._check_fitted()
        return pd.DataFrame({
            "topic_id": np.arange(self.num_topics_),
            "label": self.labels_,
            "top_terms": [", ".join(self.top_terms(t)) for t in range(self.num_topics_)],
            "prevalence": self.prevalence_,
        })

    def explorer_data(self) -> dict:
        """JSON-able data for the topic explorer (computed once at fit, stored with the model).

        Keys: ``num_topics``, ``coherence_cv``, ``coherence_umass``, ``sweep``, ``topics``
        ([{id, label, prevalence, x, y, top_terms}]), ``relevance`` ({topic_id: [{term,
        freq_in_topic, overall_freq, p_term_topic, p_term}]}), ``relevance_rankings``
        ({topic_id: {"0.0".."1.0": [terms]}}), ``word_cloud`` ({topic_id: {term: weight}}),
        ``prevalence_over_time`` ([{period, topic_id, share, n_docs}], empty without dates),
        ``time_period`` ("year" | "quarter" | None). Topic ids are strings in JSON dict keys.
        """
        self._check_fitted()
        return self.explorer_

    def summary(self) -> dict:
        """Figures for reports and ``--json``."""
        self._check_fitted()
        return {"num_topics": self.num_topics_, "coherence_cv": self.coherence_cv_,
                "coherence_umass": self.coherence_umass_, "vocabulary_size": len(self.vocabulary_),
                "documents": int(self.doc_topics_.shape[0]), "sweep": self.sweep_,
                "seconds": self.seconds_, "timings": getattr(self, "timings_", {})}

    def _check_fitted(self) -> None:
        if not hasattr(self, "lambda_"):
            raise RuntimeError("TopicModel is not fitted: call fit(texts) first or TopicModel.load(dir)")

    # ------------------------------------------------------------------ persistence
    def save(self, directory) -> Path:
        """Write the model as JSON + two ``.npy`` arrays (no pickles) into ``directory``."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "format_version": FORMAT_VERSION,
            "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.get_params().items()},
            "num_topics": self.num_topics_, "coherence_cv": self.coherence_cv_,
            "coherence_umass": self.coherence_umass_, "sweep": self.sweep_, "seconds": self.seconds_,
            "phrases": [sorted(layer) for layer in self.phrases_.phrases_],
            "vocabulary": self.vocabulary_, "term_counts": self.term_counts_.tolist(),
            "alpha": self.alpha_.tolist(),
            "labels": self.labels_, "prevalence": self.prevalence_.tolist(), "explorer": self.explorer_,
        }
        (directory / _META_FILE).write_text(json.dumps(meta), encoding="utf-8")
        np.save(directory / _TOPIC_TERM_FILE, self.lambda_)
        np.save(directory / _DOC_TOPICS_FILE, self.doc_topics_)
        return directory

    @classmethod
    def load(cls, directory) -> "TopicModel":
        """Load a model written by :meth:`save`; ``transform`` gives identical results. Reads JSON and
        numpy only (no gensim): web workers load it for the topic explorer and content topics."""
        directory = Path(directory)
        meta_path = directory / _META_FILE
        if not meta_path.is_file():
            raise FileNotFoundError(f"no topic model in {directory} (missing {_META_FILE})")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{meta_path}: format_version {meta.get('format_version')!r}, expected {FORMAT_VERSION}")
        params = meta["params"]
        params["topic_range"] = tuple(params["topic_range"])
        model = cls(**params)
        model.phrases_ = PhraseDetector()
        model.phrases_.phrases_ = [frozenset(layer) for layer in meta["phrases"]]
        model.vocabulary_ = meta["vocabulary"]
        model.token_ids_ = {t: i for i, t in enumerate(model.vocabulary_)}
        model.lambda_ = np.load(directory / _TOPIC_TERM_FILE, allow_pickle=False)
        model.alpha_ = np.asarray(meta["alpha"], dtype=float)
        model.num_topics_ = meta["num_topics"]
        model.coherence_cv_, model.coherence_umass_ = meta["coherence_cv"], meta["coherence_umass"]
        model.sweep_, model.seconds_ = meta["sweep"], meta["seconds"]
        model.term_counts_ = np.asarray(meta["term_counts"])
        model.topic_term_ = model.lambda_ / model.lambda_.sum(axis=1, keepdims=True)
        model.labels_, model.prevalence_ = meta["labels"], np.asarray(meta["prevalence"])
        model.explorer_ = meta["explorer"]
        model.doc_topics_ = np.load(directory / _DOC_TOPICS_FILE, allow_pickle=False)
        return model

    def get_params(self) -> dict:
        return {"num_topics": self.num_topics, "topic_range": self.topic_range, "seed": self.seed,
                "passes": self.passes, "sweep_passes": self.sweep_passes, "min_doc_count": self.min_doc_count,
                "max_doc_share": self.max_doc_share, "top_n": self.top_n, "label_lambda": self.label_lambda,
                "iterations": self.iterations}


def estep(counts, alpha: np.ndarray, exp_elog_beta: np.ndarray, max_iter: int, tol: float = 1e-3,
          collect_sstats: bool = False, chunk_docs: int = 4096):
    """Variational E-step of LDA for all documents at once (vectorised gensim ``inference``).

    Every document starts from ``gamma = alpha + length / K`` (gensim draws a random start from
    the model's shared random state, so a document's vector would depend on what was inferred
    before it) and iterates until its mean change is below ``tol``. Documents are updated only
    while they have not converged, so each result depends on that document alone.

    Parameters
    ----------
    counts : sparse ``[n_docs, V]`` term counts (CSR).
    alpha : ``[K]`` document-topic prior; exp_elog_beta : ``[K, V]`` exp(E[log beta]).

    Returns
    -------
    gamma : ``[n_docs, K]`` variational Dirichlet parameters (empty documents get ``alpha``).
    sstats : ``[K, V]`` sufficient statistics for the M-step, or ``None``.
    """
    from scipy.sparse import csr_matrix
    from scipy.special import digamma

    n_docs, k = counts.shape[0], len(alpha)
    gamma = np.tile(alpha, (n_docs, 1))
    sstats = np.zeros_like(exp_elog_beta) if collect_sstats else None
    for first in range(0, n_docs, chunk_docs):
        block = counts[first:first + chunk_docs]
        lengths = np.asarray(block.sum(axis=1)).ravel()
        g = alpha + lengths[:, None] / k
        active = np.flatnonzero(lengths > 0)
        for _ in range(max_iter):
            if active.size == 0:
                break
            sub = block[active]
            theta = np.exp(digamma(g[active]) - digamma(g[active].sum(axis=1, keepdims=True)))
            rows = np.repeat(np.arange(active.size), np.diff(sub.indptr))
            phinorm = np.einsum("ik,ki->i", theta[rows], exp_elog_beta[:, sub.indices]) + 1e-100
            ratio = csr_matrix((sub.data / phinorm, sub.indices, sub.indptr), shape=sub.shape)
            new = alpha + theta * (ratio @ exp_elog_beta.T)
            done = np.abs(new - g[active]).mean(axis=1) < tol
            g[active] = new
            active = active[~done]
        gamma[first:first + block.shape[0]] = np.where((lengths > 0)[:, None], g, alpha)
        if collect_sstats:
            # Statistics from the converged gamma (one more half-step, as gensim does).
            theta = np.exp(digamma(g) - digamma(g.sum(axis=1, keepdims=True)))
            coo = block.tocoo()
            phinorm = np.einsum("ik,ki->i", theta[coo.row], exp_elog_beta[:, coo.col]) + 1e-100
            ratio = csr_matrix((coo.data / phinorm, (coo.row, coo.col)), shape=block.shape)
            sstats += np.asarray((ratio.T @ theta).T)
    if collect_sstats:
        sstats *= exp_elog_beta
    return gamma, sstats


def _bows_to_csr(bows, n_terms: int):
    from scipy.sparse import csr_matrix

    indptr = np.cumsum([0] + [len(b) for b in bows])
    indices = np.fromiter((i for b in bows for i, _ in b), dtype=np.int64, count=int(indptr[-1]))
    data = np.fromiter((c for b in bows for _, c in b), dtype=float, count=int(indptr[-1]))
    return csr_matrix((data, indices, indptr), shape=(len(bows), n_terms))


def _lda_class():
    """gensim ``LdaModel`` whose E-step is :func:`estep` (same updates, vectorised).

    gensim's own E-step loops over documents in Python; vectorised, one pass over 50,000
    abstracts takes seconds instead of minutes. The M-step, priors and passes stay gensim's.
    """
    from gensim.models import LdaModel

    class VectorisedLdaModel(LdaModel):
        def inference(self, chunk, collect_sstats=False):
            counts = _bows_to_csr(list(chunk), self.num_terms)
            gamma, sstats = estep(counts, np.asarray(self.alpha, dtype=float), self.expElogbeta.astype(float),
                                  self.iterations, self.gamma_threshold, collect_sstats)
            return gamma.astype(self.dtype), (sstats.astype(self.dtype) if collect_sstats else None)

    return VectorisedLdaModel


def _as_text_list(texts) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not one string")
    return ["" if t is None or (not isinstance(t, str) and pd.isna(t)) else str(t) for t in texts]


def _tfidf(bows, n_terms: int):
    """Sublinear tf-idf document-term matrix (the NMF start of each LDA)."""
    from gensim.matutils import corpus2csc
    from sklearn.feature_extraction.text import TfidfTransformer

    counts = corpus2csc(bows, num_terms=n_terms).T.tocsr()
    return TfidfTransformer(sublinear_tf=True).fit_transform(counts)
