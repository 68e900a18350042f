"""Human-readable topic labels: prettified relevance terms, prefixed by a therapeutic area."""
from __future__ import annotations

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
