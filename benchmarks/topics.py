"""Topic engine throughput at scale: preprocessing, training and fold-in, in documents per second.

Synthesises N abstracts by resampling sentences of the seed PubMed abstracts (each synthetic
abstract keeps the sentences of one real query topic, so topics stay meaningful), then times
the text pipeline (spaCy, phrases, vocabulary), a fit with a fixed K (the coherence sweep is measured on the real 509
abstracts by ``python -m engine topics``), and fold-in of new abstracts.

    PYTHONPATH=. nice -n 10 .venv/bin/python benchmarks/topics.py --docs 50000
"""
from __future__ import annotations

import argparse
import re
import sys
import time

import numpy as np
import pandas as pd

from engine.config import Settings
from engine.progress import Progress
from engine.topics import TopicModel, nmi
from engine.topics.text import tokenize
from report import print_result

SEED_FILE = "pubmed_abstracts_2020_2025.csv"


def synthesise(n_docs: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``n_docs`` abstracts of 4-10 sentences drawn from real abstracts of one seed topic."""
    path = Settings.from_env().seed_dir / SEED_FILE
    if not path.is_file():
        sys.exit(f"error: {path} not found (set SEED_DIR to the seed data folder)")
    frame = pd.read_csv(path).dropna(subset=["Abstract"])
    sentences = {topic: [s for text in group["Abstract"] for s in re.split(r"(?<=[.!?])\s+", text) if len(s) > 30]
                 for topic, group in frame.groupby("Topic")}
    topics = sorted(sentences)
    rng = np.random.default_rng(seed)
    labels = rng.choice(topics, size=n_docs)
    pools = {t: np.array(s, dtype=object) for t, s in sentences.items()}  # index once, not per draw
    texts = [" ".join(pools[t][rng.integers(0, len(pools[t]), size=rng.integers(4, 11))]) for t in labels]
    return texts, labels.tolist()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=50_000, help="synthetic abstracts (default 50000)")
    parser.add_argument("--num-topics", type=int, default=8, help="fixed K for the timed fit (default 8)")
    parser.add_argument("--passes", type=int, default=5, help="LDA passes for the timed fit (default 5)")
    parser.add_argument("--fold-in", type=int, default=5000, help="new abstracts to fold in (default 5000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)
    progress = Progress()

    texts, labels = synthesise(args.docs)
    new_texts, _ = synthesise(args.fold_in, seed=1)
    progress("bench", f"{len(texts)} synthetic abstracts, mean {np.mean([len(t) for t in texts]):.0f} chars")

    tokenize(texts[:10])  # load spaCy and the lookup tables outside the timings
    model = TopicModel(num_topics=args.num_topics, passes=args.passes, seed=0)
    started = time.perf_counter()
    model.fit(texts, progress=progress)
    fit_s = time.perf_counter() - started
    preprocess_s = model.timings_["preprocess"]
    training_s = model.timings_["train"] + model.timings_["sweep"]
    started = time.perf_counter()
    model.transform(new_texts)
    fold_in_s = time.perf_counter() - started

    result = {
        "docs": len(texts), "num_topics": model.num_topics_, "passes": args.passes,
        "vocabulary_size": len(model.vocabulary_),
        "preprocess_seconds": round(preprocess_s, 2), "preprocess_docs_per_s": round(len(texts) / preprocess_s, 1),
        "fit_seconds": round(fit_s, 2), "fit_docs_per_s": round(len(texts) / fit_s, 1),
        "training_seconds": round(training_s, 2), "training_docs_per_s": round(len(texts) / training_s, 1),
        "explorer_seconds": round(model.timings_["explorer"], 2),
        "fold_in_docs": len(new_texts), "fold_in_seconds": round(fold_in_s, 2),
        "fold_in_docs_per_s": round(len(new_texts) / fold_in_s, 1),
        "coherence_cv": round(model.coherence_cv_, 4), "coherence_umass": round(model.coherence_umass_, 4),
        "nmi_vs_label": round(nmi(labels, model.dominant_topics()), 4),
    }
    print_result(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
