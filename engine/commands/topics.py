"""``python -m engine topics --corpus FILE``: fit the topic model on an abstract file and report."""
from __future__ import annotations

import json
import time
from pathlib import Path

from engine.cli import CommandError
from engine.data.ingest import read_pubmed_csv, read_pubmed_xml
from engine.topics import TopicModel, nmi

HELP = "fit LDA topics on a PubMed abstract file (CSV or efetch XML) and report coherence and labels"


def add_arguments(parser) -> None:
    parser.add_argument("--corpus", type=Path, required=True,
                        help="PubMed CSV (PMID, Title, Abstract[, Topic]) or efetch XML")
    parser.add_argument("--num-topics", type=int, help="fixed number of topics (skips the coherence sweep)")
    parser.add_argument("--min-topics", type=int, default=4, help="smallest K of the sweep (default 4)")
    parser.add_argument("--max-topics", type=int, default=16, help="largest K of the sweep (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--save", type=Path, help="write the fitted model to this directory")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _read(path: Path, progress):
    if not path.is_file():
        raise CommandError(f"--corpus {path}: no such file")
    reader = read_pubmed_xml if path.suffix.lower() in (".xml", ".gz") else read_pubmed_csv
    contents, report = reader(path, progress=progress)
    if not report.ok:
        raise CommandError(f"--corpus {path}: invalid file\n{report.summary()}")
    if contents.empty:
        raise CommandError(f"--corpus {path}: no abstracts")
    return contents


def run(args, settings, progress) -> int:
    started = time.perf_counter()
    contents = _read(args.corpus, progress)
    texts = (contents["title"].fillna("") + ". " + contents["abstract"].fillna("")).tolist()
    dates = contents["publication_date"] if contents["publication_date"].notna().any() else None
    model = TopicModel(num_topics=args.num_topics, topic_range=(args.min_topics, args.max_topics), seed=args.seed)
    try:
        model.fit(texts, dates=dates, progress=progress)
    except ValueError as exc:
        raise CommandError(f"--corpus {args.corpus}: {exc}") from exc
    result = {"corpus": str(args.corpus), "documents": len(texts), **model.summary()}
    labelled = contents["therapeutic_area"].notna().to_numpy()
    if labelled.any():
        result["nmi_vs_label"] = nmi(contents["therapeutic_area"][labelled], model.dominant_topics()[labelled])
    result["topics"] = model.topics_frame().to_dict(orient="records")
    if args.save:
        result["saved_to"] = str(model.save(args.save))
    result["seconds"] = time.perf_counter() - started  # whole command, reading included
    if args.json:
        print(json.dumps(result, default=float))
        return 0
    print(f"{result['documents']} documents, vocabulary {result['vocabulary_size']} terms")
    print(f"{result['num_topics']} topics: c_v {result['coherence_cv']:.3f}, u_mass {result['coherence_umass']:.3f}"
          + (f", NMI vs label {result['nmi_vs_label']:.3f}" if "nmi_vs_label" in result else ""))
    print("sweep: " + "  ".join(f"k={s['k']} {s['c_v']:.3f}" for s in model.sweep_))
    for row in result["topics"]:
        print(f"  [{row['topic_id']:2d}] {row['prevalence']:5.1%}  {row['label']}\n        {row['top_terms']}")
    print(f"done in {result['seconds']:.1f}s")
    return 0
