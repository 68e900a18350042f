"""Text pipeline for biomedical abstracts: spaCy tokens -> lemmas -> phrases -> vocabulary.

Uses ``spacy.blank("en")`` with the lookup lemmatizer from ``spacy-lookups-data`` so nothing is
ever downloaded. Numbers, units and statistics are dropped; words that appear in every abstract
("study", "patient", "result", ...) are stopwords; frequent word pairs become one term
(``heart_failure``) through gensim ``Phrases``.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

import pandas as pd

from engine.progress import QUIET, Progress

#: Words that carry no topic in an abstract: structure, method, statistics and reporting verbs.
BIOMEDICAL_STOPWORDS = frozenset("""
study studies patient patients result results conclusion conclusions method methods background
objective objectives aim aims purpose introduction discussion design setting participant participants
subject subjects individual case cases include including included associate associated association
significant significantly increase increased decrease decreased reduce reduced compare compared
comparison group groups analysis analyses analyze data report reported use used using effect effects
high higher low lower year years month months day days week weeks hour hours age aged find finding
findings show showed suggest suggests total evaluate evaluated assess assessed assessment identify
identified level levels factor factors review systematic clinical ci confidence interval or hr rr
odds ratio ratios vs versus respectively among however also may might can could well conduct
conducted perform performed obtain obtained observe observed present presented important need new
provide base based large small different potential potentially related overall determine determined
examine examined investigate investigated investigation relevant primary secondary mean median range
rate rates number numbers value values p n sd iqr score scores measure measured time times period
follow followed follow-up baseline change changes difference differences similar respective likely
approximately common commonly develop developed development current currently available evidence
previous previously literature article paper aim aimed objective purpose need needs importance
first second third one two three four five six seven eight nine ten multiple several various
statistically statistical significance model models variable variables regression adjusted adjust
estimate estimated estimates author authors publish published search searched database databases
include study's patients' cross-sectional retrospective prospective multivariable univariate
multivariate logistic cox kaplan-meier proportion proportions percentage prevalence incidence
eligible enrol enroll enrolled recruit recruited sample samples questionnaire survey respondents
positive negative role impact improve improved improvement improvements approach type types
effective effectiveness efficacy outcome outcomes specific key however although whereas within
without across during following despite due further furthermore moreover thus therefore
well-known understand understanding explore explored describe described provide provided
datum particularly relate non good enhance promise promising benefit meta novel good better best
region system condition information support practice severe population overall various highlight
highlights emphasize reveal revealed demonstrate demonstrated indicate indicated consider considered
year-old old young people person general specific major minor significant main low-income
remain receive received undergo undergoing early late require required emerge emerging affect
affected target targeted mechanism offer art index program systemic critical elevate elevated
response stage european overall aor cor adjust adjusted crude sex gender male female men women
purpose context setting area field focus focused current future direction directions challenge
challenges opportunity opportunities gap gaps insight insights strategy strategies framework
tool tools lead leading contribute contributes contribution process key essential crucial vital
significant substantial considerable notable notably particular specifically additionally
""".split())

#: Broad medical words: useful inside a phrase ("respiratory_care", "cardiovascular_risk") so they
#: are kept for phrase detection, but alone they sit at the top of every topic and blur it.
GENERIC_TERMS = frozenset("""
treatment therapy disease management care risk health control intervention condition disorder
patient clinical medical medicine healthcare hospital factor outcome
""".split())

#: Units of measure and statistic markers that survive tokenisation as words.
UNITS = frozenset("""
mg g kg µg ug mcg ng pg ml l dl mmol mol µmol umol nmol pmol iu u mm cm m km mmhg bpm kcal
min mins sec s h hr hrs wk wks mo yr yrs d x kg/m2 kg/m² mg/dl mmol/l ml/min ml/min/1.73m2 vs
""".split())

#: A few spellings folded together so a concept counts once.
SYNONYMS = {
    "sglt2i": "sglt2", "sglt-2": "sglt2", "sglt2is": "sglt2",
    "glp-1": "glp1", "glp-1ra": "glp1", "glp-1ras": "glp1", "glp1ra": "glp1", "glp1ras": "glp1",
    "covid": "covid-19", "covid19": "covid-19", "sars-cov-2": "covid-19",
    "t2d": "t2dm", "t1d": "t1dm", "hba1c": "hba1c",
    "vaccine": "vaccine", "vaccines": "vaccine", "vaccinate": "vaccination", "vaccinated": "vaccination",
    "measle": "measles", "datum": "data",
    "tumour": "tumor", "tumours": "tumor", "tumors": "tumor",
}

_MISSING = object()
_HAS_LETTER = re.compile(r"[^\W\d_]")
_STATISTIC = re.compile(r"[=<>±≤≥]")
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")


@lru_cache(maxsize=1)
def _nlp():
    """Blank English pipeline with the lookup lemmatizer (tables from spacy-lookups-data)."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()  # loads the lookup tables shipped in spacy-lookups-data; no download
    return nlp


def _stopwords() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS) | BIOMEDICAL_STOPWORDS | UNITS


def clean_token(text: str, lemma: str, like_num: bool, stopwords: frozenset[str]) -> str | None:
    """The term a token contributes, or ``None`` when it carries no topic.

    Lowercased lemma, edge punctuation stripped, synonyms folded; drops numbers, units,
    statistics (``p<0.05``), stopwords and single characters.
    """
    if like_num or _STATISTIC.search(text):
        return None
    term = _EDGE_PUNCT.sub("", lemma.lower())
    if len(term) < 2 or not _HAS_LETTER.search(term):
        return None
    term = SYNONYMS.get(term, term)
    if term in stopwords or term.replace("-", "") in stopwords:
        return None
    return term


def tokenize(texts: Iterable[str | None], progress: Progress = QUIET, batch_size: int = 256) -> list[list[str]]:
    """Lemmatised topic-bearing terms of each text (``None``/empty -> ``[]``)."""
    texts = [t if isinstance(t, str) else ("" if pd.isna(t) else str(t)) for t in texts]
    from spacy.attrs import ORTH

    nlp = _nlp()
    stopwords = _stopwords()
    lemma_table = nlp.get_pipe("lemmatizer").lookups.get_table("lemma_lookup")
    # In lookup mode a token's term depends only on its text: decide once per distinct text and
    # run only the tokenizer per document (the lemmatizer pipe would repeat the same table lookups
    # token by token in Python).
    term_of: dict[int, str | None] = {}  # keyed by the token's ORTH id (its interned text)
    docs: list[list[str]] = []
    # Lowercase before lemmatising: the lookup table is case-sensitive ("Studies" would stay).
    for i, doc in enumerate(nlp.tokenizer.pipe((t.lower() for t in texts), batch_size=batch_size)):
        terms = []
        for orth in doc.to_array(ORTH).tolist():  # ints: no Token objects per word
            term = term_of.get(orth, _MISSING)
            if term is _MISSING:
                lexeme = nlp.vocab[orth]
                text = lexeme.orth_
                term = term_of[orth] = (None if lexeme.is_punct or lexeme.is_space else
                                        clean_token(text, lemma_table.get(text, text), lexeme.like_num, stopwords))
            if term is not None:
                terms.append(term)
        docs.append(terms)
        if (i + 1) % 5000 == 0:
            progress.bar("topics", i + 1, len(texts), "tokenised")
    return docs


def join_phrases(doc: list[str], phrases: frozenset[str], delimiter: str = "_") -> list[str]:
    """Join consecutive pairs found in ``phrases`` left to right (as gensim ``FrozenPhrases``)."""
    out: list[str] = []
    i = 0
    while i < len(doc):
        if i + 1 < len(doc) and f"{doc[i]}{delimiter}{doc[i + 1]}" in phrases:
            out.append(f"{doc[i]}{delimiter}{doc[i + 1]}")
            i += 2
        else:
            out.append(doc[i])
            i += 1
    return out


class PhraseDetector:
    """Join frequent word pairs (and pairs of pairs) into single terms.

    Learns with gensim ``Phrases`` (NPMI scoring); keeps only the accepted phrase set per layer,
    which is plain data (saved as JSON, no pickles).

    Parameters
    ----------
    min_count : a pair must occur at least this often.
    threshold : NPMI threshold in [-1, 1]; higher keeps fewer, tighter phrases.
    layers : 1 = bigrams, 2 = up to four-word terms.
    """

    def __init__(self, min_count: int = 5, threshold: float = 0.4, layers: int = 2):
        self.min_count = min_count
        self.threshold = threshold
        self.layers = layers

    def fit(self, docs: list[list[str]]) -> "PhraseDetector":
        from gensim.models.phrases import Phrases

        self.phrases_: list[frozenset[str]] = []
        current = docs
        for _ in range(self.layers):
            learned = Phrases(current, min_count=self.min_count, threshold=self.threshold, scoring="npmi")
            accepted = frozenset(learned.freeze().phrasegrams)
            self.phrases_.append(accepted)
            current = [join_phrases(d, accepted) for d in current]
        return self

    def transform(self, docs: list[list[str]]) -> list[list[str]]:
        for accepted in self.phrases_:
            docs = [join_phrases(d, accepted) for d in docs]
        return docs
