"""Human-readable topic labels: prettified relevance terms prefixed by a therapeutic area (the topic
explorer's detail), and a phrase people say ("heart failure and titration") for reasons and titles."""
from __future__ import annotations

import math
import re

#: Words that identify a therapeutic area (matched against each word of a term).
AREA_LEXICON: dict[str, frozenset[str]] = {
    "Diabetes": frozenset("""diabetes diabetic insulin glucose glycemic glycaemic hba1c t2dm t1dm sglt2 glp1
        metformin hyperglycemia hypoglycemia prediabetes gestational obesity semaglutide tirzepatide
        dapagliflozin empagliflozin ketoacidosis""".split()),
    "Cardiovascular": frozenset("""cardiovascular heart cardiac hypertension hypertensive cholesterol ldl hdl
        lipid lipoprotein coronary atrial fibrillation stroke myocardial infarction statin
        atherosclerosis atherosclerotic triglyceride blood_pressure arterial artery vascular""".split()),
    "Vaccination": frozenset("""vaccine vaccination vaccinate immunization immunisation hpv hesitancy
        influenza measles booster uptake awareness mrna""".split()),
    "Thyroid": frozenset("""thyroid hypothyroidism hyperthyroidism tsh thyroxine levothyroxine iodine graves
        hashimoto goiter thyroiditis thyroglobulin euthyroid""".split()),
    "Respiratory": frozenset("""respiratory lung pulmonary copd asthma ventilation ventilator pneumonia
        oxygen airway tuberculosis inhaler spirometry bronchiectasis intubation ards""".split()),
    "Oncology": frozenset("""cancer tumor oncology carcinoma chemotherapy immunotherapy metastatic metastasis
        radiotherapy lymphoma leukemia malignancy malignant neoplasm""".split()),
}

#: Display forms for acronyms and lemma artefacts of the lookup lemmatizer.
DISPLAY = {
    "sglt2": "SGLT2", "glp1": "GLP-1", "hpv": "HPV", "covid-19": "COVID-19", "ckd": "CKD",
    "copd": "COPD", "t2dm": "T2DM", "t1dm": "T1DM", "hba1c": "HbA1c", "ldl": "LDL", "hdl": "HDL",
    "rsv": "RSV", "tsh": "TSH", "icu": "ICU", "ards": "ARDS", "bmi": "BMI", "mrna": "mRNA",
    "hiv": "HIV", "ai": "AI", "ml": "ML", "dka": "DKA", "nafld": "NAFLD", "masld": "MASLD",
    "mafld": "MAFLD", "pcos": "PCOS", "ra": "RA", "who": "WHO", "uk": "UK", "usa": "USA", "us": "US",
    "learn": "learning", "unite": "united", "old": "older", "measle": "measles",
}

#: Frequent in topics but say nothing about them on their own, so never shown in a label.
LABEL_SKIP = frozenset("""self adult diagnosis therapeutic induce update profile monitor train technology
    experience advance research public service country""".split())

#: Share of a topic's probability mass that area words must hold to prefix the label.
AREA_MIN_SHARE = 0.03


def pretty_term(term: str) -> str:
    """``sglt2_inhibitor`` -> ``SGLT2 inhibitor``; acronyms upper-cased, lemma artefacts fixed."""
    words = []
    for word in term.split("_"):
        if word in DISPLAY:
            words.append(DISPLAY[word])
        elif re.search(r"\d", word) and len(word) <= 8:
            words.append(word.upper())  # gene/drug-class codes: il-6, sglt2, t2dm
        else:
            words.append(word)
    return " ".join(words)


def _area_words(term: str) -> set[str]:
    return set(term.split("_")) | {term}


def therapeutic_area(term_weights: dict[str, float]) -> str | None:
    """The area whose lexicon holds the most weight among a topic's terms, if clearly dominant."""
    scores = {area: 0.0 for area in AREA_LEXICON}
    for term, weight in term_weights.items():
        for area, lexicon in AREA_LEXICON.items():
            if _area_words(term) & lexicon:
                scores[area] += weight
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best, best_score), (_, runner_up) = ranked[0], ranked[1]
    total = sum(term_weights.values()) or 1.0
    if best_score / total >= AREA_MIN_SHARE and best_score >= 1.5 * runner_up:
        return best
    return None


def make_label(relevant_terms: list[str], term_weights: dict[str, float], n_terms: int = 3) -> str:
    """Label from the most relevant terms, skipping terms that repeat a word already shown.

    Parameters
    ----------
    relevant_terms : terms ranked by relevance (λ≈0.6), best first.
    term_weights : term -> probability in the topic (for the area prefix).
    """
    area = therapeutic_area(term_weights)
    # Stems, so "Diabetes: diabetic" and "thyroid · thyroid disorder" do not say a thing twice.
    shown_stems: set[str] = {area.lower()[:6]} if area else set()
    chosen: list[str] = []
    for term in relevant_terms:
        words = set(term.split("_"))
        stems = {w[:6] for w in words}
        if stems & shown_stems or words <= LABEL_SKIP:
            continue
        chosen.append(pretty_term(term))
        shown_stems |= stems
        if len(chosen) == n_terms:
            break
    text = " · ".join(chosen) or "(no distinctive terms)"
    return f"{area}: {text}" if area else text


#: Words that make a phrase longer without naming anything on their own (never a whole phrase, and
#: trimmed from a phrase's ends): "intensity atorvastatin" -> "atorvastatin".
PHRASE_GLUE = frozenset("""adult adults plus versus among intensity usual attainment reach rapid recently net direct
    modern real care team home black drive advance share frequent avoid cause point occur vary miss event
    patient patients effect outcome outcomes level high low new use risk guideline update daily clinically""".split())

#: Words too vague to name a topic on their own (fine inside a longer phrase: "blood pressure control").
VAGUE_WORDS = frozenset("""oral control cardiovascular survival therapy treatment disease clinical chronic acute severe
    moderate intervention management health study trial analysis rate increase reduction response""".split())

#: Lemma artefacts of the topic model's lemmatizer, as people write them.
PHRASE_WORDS = {"bleed": "bleeding", "worsen": "worsening", "hospitalize": "hospitalization", "leave": "left",
                "unite": "united", "breathe": "breathing", "diabete": "diabetes"}


def _phrase_words(term: str) -> list[str]:
    words = [PHRASE_WORDS.get(w, w) for w in term.split("_") if w]
    while words and words[0] in PHRASE_GLUE:
        words = words[1:]
    while words and words[-1] in PHRASE_GLUE:
        words = words[:-1]
    return words


def phrase_label(relevant_terms: list[str], max_words: int = 3) -> str:
    """A topic named the way people say it ("heart failure", "LDL cholesterol and atorvastatin").

    The topic's relevant terms are mostly glued n-grams ("recently_hospitalize_heart_failure");
    the phrase is the word sequence (one to ``max_words`` words) that carries the most relevance
    across them (a term's weight decays with its rank; longer sequences get a small bonus), with
    glue words trimmed. A second phrase sharing no word with the first is added with "and" when
    it carries at least half as much.

    Parameters
    ----------
    relevant_terms : terms ranked by relevance (λ≈0.6), best first.
    """
    scores: dict[tuple[str, ...], float] = {}
    for rank, term in enumerate(relevant_terms[:20]):
        words = _phrase_words(term)
        weight = 1.0 / (rank + 2)
        seen = set()
        for n in range(1, max_words + 1):
            for start in range(len(words) - n + 1):
                gram = tuple(words[start:start + n])
                if gram[0] in PHRASE_GLUE or gram[-1] in PHRASE_GLUE or gram in seen \
                        or all(w in LABEL_SKIP for w in gram):
                    continue
                seen.add(gram)
                scores[gram] = scores.get(gram, 0.0) + weight * (1 + 0.25 * (n - 1))
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], -len(kv[0]), kv[0]))
    (best, best_score) = ranked[0]
    ranked = [(gram, score) for gram, score in ranked if not (len(gram) == 1 and gram[0] in VAGUE_WORDS)]
    if not ranked:
        return ""
    strength = dict(ranked)

    def fuller(gram: tuple[str, ...]) -> tuple[str, ...]:
        """``gram`` said more fully when a longer phrase holding it is nearly as strong ("progression
        free survival"), or a one-word phrase with the word people put before it ("atrial fibrillation")."""
        for other, score in ranked:
            contains = any(other[i:i + len(gram)] == gram for i in range(len(other) - len(gram) + 1))
            if len(other) > len(gram) and contains and (
                    score >= 0.8 * strength[gram] or (len(gram) == 1 and len(other) == 2 and other[1] == gram[0]
                                                      and score >= 0.4 * strength[gram])):
                return other
        return gram

    best, best_score = ranked[0]
    chosen = [fuller(best)]
    term_words = [set(_phrase_words(t)) for t in relevant_terms[:20]]
    for gram, score in ranked[1:]:
        if score < 0.5 * best_score:
            break
        gram = fuller(gram)
        # a second phrase that a term joins to the first ("systolic blood" + "pressure") is one phrase cut
        if not set(gram) & set(chosen[0]) and not any(words & set(gram) and words & set(chosen[0])
                                                      for words in term_words):
            chosen.append(gram)
            break
    return " and ".join(pretty_term("_".join(gram)) for gram in chosen)


def topic_phrases(explorer: dict, lam: float = 0.6) -> dict[int, str]:
    """``{topic_id: phrase}`` from a topic model's explorer data (its relevance table per topic),
    so bundles trained before phrases existed get them too; '' for a topic without terms."""
    phrases = {}
    for topic in (explorer or {}).get("topics") or []:
        rows = ((explorer.get("relevance") or {}).get(str(topic["id"])) or [])

        def relevance(row) -> float:
            p, overall = max(float(row["p_term_topic"]), 1e-12), max(float(row["p_term"]), 1e-12)
            return lam * math.log(p) + (1 - lam) * math.log(p / overall)

        ranked = sorted(rows, key=relevance, reverse=True)
        phrases[int(topic["id"])] = phrase_label([str(r["term"]) for r in ranked])
    return phrases
