"""NUCC Health Care Provider Taxonomy codes -> the product's specialties.

NPPES records carry NUCC taxonomy codes (``207RC0000X`` = Internal Medicine, Cardiovascular
Disease). The product groups them into :data:`SPECIALTIES`, the vocabulary a brand team uses.
:func:`specialty_for_taxonomy` looks a code up exactly in :data:`TAXONOMY_TO_SPECIALTY` and
otherwise falls back on the longest matching prefix in :data:`TAXONOMY_PREFIXES` (the NUCC code
set is hierarchical: ``207R`` is internal medicine, ``2084`` psychiatry & neurology, ``363L``
nurse practitioners...), so new sub-specialty codes still land in a sensible group.

Grouping choices (why): sub-specialties go to the organ specialty a brand targets (a pediatric
cardiologist is "Cardiology", hematology-oncology, radiation and gynecologic oncology are
"Oncology"); critical care and sleep medicine go with Pulmonology; psychologists, counselors and
social workers are "Behavioral Health"; nurse anesthetists go with Anesthesiology, midwives
with Obstetrics & Gynecology, clinical nurse specialists with nurse practitioners (all
advanced-practice nurses); non-prescribing service providers are "Other".
"""
from __future__ import annotations

OTHER = "Other"

#: The specialties the product uses, in display order ("Other" last).
SPECIALTIES: tuple[str, ...] = (
    "Family Medicine",
    "Internal Medicine",
    "General Practice",
    "Cardiology",
    "Endocrinology",
    "Oncology",
    "Pulmonology",
    "Infectious Disease",
    "Nephrology",
    "Gastroenterology",
    "Rheumatology",
    "Allergy & Immunology",
    "Geriatrics",
    "Pediatrics",
    "Obstetrics & Gynecology",
    "Neurology",
    "Psychiatry",
    "Dermatology",
    "Emergency Medicine",
    "Surgery",
    "Orthopedics",
    "Ophthalmology",
    "Otolaryngology",
    "Urology",
    "Radiology",
    "Pathology",
    "Anesthesiology",
    "Physical Medicine & Rehabilitation",
    "Nurse Practitioner",
    "Physician Assistant",
    "Pharmacist",
    "Dentist",
    "Optometrist",
    "Podiatrist",
    "Chiropractor",
    "Behavioral Health",
    "Physical Therapy",
    OTHER,
)

#: Exact NUCC codes (every code frequent in NPPES prescriber extracts, plus the sub-specialty
#: codes whose group differs from their prefix's group).
TAXONOMY_TO_SPECIALTY: dict[str, str] = {
    # --- Allopathic & osteopathic physicians -------------------------------------------
    "207K00000X": "Allergy & Immunology", "207KA0200X": "Allergy & Immunology",
    "207KI0005X": "Allergy & Immunology",
    "207L00000X": "Anesthesiology", "207LP2900X": "Anesthesiology", "207LA0401X": "Anesthesiology",
    "207LC0200X": "Anesthesiology", "207LH0002X": "Anesthesiology", "207LP3000X": "Anesthesiology",
    "208VP0014X": "Anesthesiology", "208VP0000X": "Anesthesiology",
    "208C00000X": "Surgery",  # colon & rectal surgery
    "207N00000X": "Dermatology", "207ND0101X": "Dermatology", "207ND0900X": "Dermatology",
    "207NS0135X": "Dermatology", "207NI0002X": "Dermatology", "207NP0225X": "Dermatology",
    "204R00000X": "Physical Medicine & Rehabilitation",  # electrodiagnostic medicine
    "207P00000X": "Emergency Medicine", "207PE0004X": "Emergency Medicine",
    "207PT0002X": "Emergency Medicine", "207PE0005X": "Emergency Medicine",
    "207PP0204X": "Emergency Medicine", "207PS0010X": "Emergency Medicine",
    "207Q00000X": "Family Medicine", "207QA0505X": "Family Medicine", "207QA0401X": "Family Medicine",
    "207QA0000X": "Family Medicine", "207QS0010X": "Family Medicine", "207QH0002X": "Family Medicine",
    "207QS1201X": "Family Medicine", "207QB0002X": "Family Medicine",
    "207QG0300X": "Geriatrics",
    "208D00000X": "General Practice",
    "208M00000X": "Internal Medicine",  # hospitalist
    "202D00000X": "Family Medicine",  # integrative medicine
    "207R00000X": "Internal Medicine", "207RA0401X": "Internal Medicine",
    "207RA0000X": "Internal Medicine", "207RH0002X": "Internal Medicine",
    "207RS0010X": "Internal Medicine",
    "207RA0002X": "Cardiology", "207RA0001X": "Cardiology", "207RC0000X": "Cardiology",
    "207RC0001X": "Cardiology", "207RI0011X": "Cardiology", "207RH0005X": "Cardiology",
    "207RA0201X": "Allergy & Immunology", "207RI0001X": "Allergy & Immunology",
    "207RC0200X": "Pulmonology", "207RP1001X": "Pulmonology", "207RS0012X": "Pulmonology",
    "207RE0101X": "Endocrinology", "207RB0002X": "Endocrinology",
    "207RG0100X": "Gastroenterology", "207RI0008X": "Gastroenterology",
    "207RT0003X": "Gastroenterology",
    "207RG0300X": "Geriatrics",
    "207RH0000X": "Oncology", "207RH0003X": "Oncology", "207RX0202X": "Oncology",
    "207RI0200X": "Infectious Disease",
    "207RM1200X": "Radiology",
    "207RN0300X": "Nephrology",
    "207RR0500X": "Rheumatology",
    "207T00000X": "Surgery",  # neurological surgery
    "204D00000X": "Physical Medicine & Rehabilitation",  # neuromusculoskeletal medicine & OMM
    "204C00000X": "Physical Medicine & Rehabilitation",
    "207U00000X": "Radiology", "207UN0901X": "Radiology", "207UN0902X": "Radiology",
    "207UN0903X": "Radiology",
    "207V00000X": "Obstetrics & Gynecology", "207VG0400X": "Obstetrics & Gynecology",
    "207VM0101X": "Obstetrics & Gynecology", "207VE0102X": "Obstetrics & Gynecology",
    "207VX0000X": "Obstetrics & Gynecology", "207VF0040X": "Obstetrics & Gynecology",
    "207VC0200X": "Obstetrics & Gynecology", "207VB0002X": "Obstetrics & Gynecology",
    "207VX0201X": "Oncology",  # gynecologic oncology
    "207W00000X": "Ophthalmology",
    "204E00000X": "Surgery",  # oral & maxillofacial surgery (physician)
    "207X00000X": "Orthopedics",
    "207Y00000X": "Otolaryngology",
    "208000000X": "Pediatrics",
    "2080P0202X": "Cardiology", "2080P0205X": "Endocrinology", "2080P0206X": "Gastroenterology",
    "2080P0207X": "Oncology", "2080P0208X": "Infectious Disease", "2080P0210X": "Nephrology",
    "2080P0214X": "Pulmonology", "2080P0216X": "Rheumatology", "2080T0002X": "Gastroenterology",
    "2080I0007X": "Allergy & Immunology",
    "208100000X": "Physical Medicine & Rehabilitation",
    "208200000X": "Surgery",  # plastic surgery
    "2083P0901X": "Other", "2083X0100X": "Other", "2083P0500X": "Other",  # preventive/occupational
    "2084P0800X": "Psychiatry", "2084P0804X": "Psychiatry", "2084P0805X": "Psychiatry",
    "2084P0802X": "Psychiatry", "2084F0202X": "Psychiatry", "2084P0015X": "Psychiatry",
    "2084A0401X": "Psychiatry", "2084B0002X": "Psychiatry",
    "2084N0400X": "Neurology", "2084N0402X": "Neurology", "2084N0600X": "Neurology",
    "2084S0012X": "Neurology", "2084V0102X": "Neurology", "2084B0040X": "Neurology",
    "2084E0001X": "Neurology", "2084N0008X": "Neurology", "2084D0003X": "Neurology",
    "2084P2900X": "Neurology", "2084H0002X": "Neurology", "2084S0010X": "Neurology",
    "2085R0001X": "Oncology", "2085R0203X": "Oncology",  # radiation / therapeutic radiology
    "208600000X": "Surgery",
    "2086X0206X": "Oncology",  # surgical oncology
    "208G00000X": "Surgery",  # thoracic surgery
    "204F00000X": "Surgery",  # transplant surgery
    "208800000X": "Urology",
    "207ZP0102X": "Pathology",
    # --- Dental, vision, foot, chiropractic ------------------------------------------------
    "122300000X": "Dentist", "1223G0001X": "Dentist",
    "152W00000X": "Optometrist",
    "213E00000X": "Podiatrist",
    "111N00000X": "Chiropractor",
    # --- Advanced practice nursing, physician assistants ----------------------------------
    "363L00000X": "Nurse Practitioner", "363LF0000X": "Nurse Practitioner",
    "363A00000X": "Physician Assistant", "363AM0700X": "Physician Assistant",
    "363AS0400X": "Physician Assistant",
    "367500000X": "Anesthesiology",  # certified registered nurse anesthetist
    "367H00000X": "Anesthesiology",  # anesthesiologist assistant
    "367A00000X": "Obstetrics & Gynecology",  # advanced practice midwife
    "176B00000X": "Obstetrics & Gynecology",  # midwife
    # --- Pharmacy ------------------------------------------------------------------------
    "183500000X": "Pharmacist",
    "183700000X": OTHER,  # pharmacy technician
    # --- Behavioral health ---------------------------------------------------------------
    "1041C0700X": "Behavioral Health", "104100000X": "Behavioral Health",
    "103T00000X": "Behavioral Health", "103TC0700X": "Behavioral Health",
    "101Y00000X": "Behavioral Health", "101YM0800X": "Behavioral Health",
    "101YP2500X": "Behavioral Health", "106H00000X": "Behavioral Health",
    "103G00000X": "Behavioral Health", "103K00000X": "Behavioral Health",
    "102L00000X": "Behavioral Health",
    # --- Therapy -------------------------------------------------------------------------
    "225100000X": "Physical Therapy", "225200000X": "Physical Therapy",
    # --- Service providers without a brand-relevant specialty -----------------------------
    "174400000X": OTHER, "163W00000X": OTHER, "231H00000X": OTHER, "235Z00000X": OTHER,
    "225X00000X": OTHER, "133V00000X": OTHER, "173000000X": OTHER,
}

#: Prefix fallbacks, longest match wins (the NUCC hierarchy: type -> classification -> area).
TAXONOMY_PREFIXES: dict[str, str] = {
    "207K": "Allergy & Immunology",
    "207L": "Anesthesiology",
    "208V": "Anesthesiology",
    "207N": "Dermatology",
    "207P": "Emergency Medicine",
    "207Q": "Family Medicine",
    "207R": "Internal Medicine",
    "207S": OTHER,  # medical genetics
    "207T": "Surgery",
    "207U": "Radiology",
    "207V": "Obstetrics & Gynecology",
    "207W": "Ophthalmology",
    "207X": "Orthopedics",
    "207Y": "Otolaryngology",
    "207Z": "Pathology",
    "2080": "Pediatrics",
    "2081": "Physical Medicine & Rehabilitation",
    "2082": "Surgery",
    "2083": OTHER,  # preventive medicine
    "2084P08": "Psychiatry",
    "2084": "Neurology",
    "2085": "Radiology",
    "2086": "Surgery",
    "2088": "Urology",
    "1223": "Dentist",
    "152W": "Optometrist",
    "213E": "Podiatrist",
    "111N": "Chiropractor",
    "363L": "Nurse Practitioner",
    "364S": "Nurse Practitioner",  # clinical nurse specialists: advanced-practice nurses
    "363A": "Physician Assistant",
    "1835": "Pharmacist",
    "101Y": "Behavioral Health",
    "1041": "Behavioral Health",
    "103T": "Behavioral Health",
    "106H": "Behavioral Health",
    "2251": "Physical Therapy",
}

#: A representative (the most common) NUCC code per specialty, for generated HCPs.
SPECIALTY_TAXONOMY: dict[str, str] = {
    "Family Medicine": "207Q00000X",
    "Internal Medicine": "207R00000X",
    "General Practice": "208D00000X",
    "Cardiology": "207RC0000X",
    "Endocrinology": "207RE0101X",
    "Oncology": "207RH0003X",
    "Pulmonology": "207RP1001X",
    "Infectious Disease": "207RI0200X",
    "Nephrology": "207RN0300X",
    "Gastroenterology": "207RG0100X",
    "Rheumatology": "207RR0500X",
    "Allergy & Immunology": "207K00000X",
    "Geriatrics": "207RG0300X",
    "Pediatrics": "208000000X",
    "Obstetrics & Gynecology": "207V00000X",
    "Neurology": "2084N0400X",
    "Psychiatry": "2084P0800X",
    "Dermatology": "207N00000X",
    "Emergency Medicine": "207P00000X",
    "Surgery": "208600000X",
    "Orthopedics": "207X00000X",
    "Ophthalmology": "207W00000X",
    "Otolaryngology": "207Y00000X",
    "Urology": "208800000X",
    "Radiology": "2085R0202X",
    "Pathology": "207ZP0102X",
    "Anesthesiology": "207L00000X",
    "Physical Medicine & Rehabilitation": "208100000X",
    "Nurse Practitioner": "363LF0000X",
    "Physician Assistant": "363A00000X",
    "Pharmacist": "183500000X",
    "Dentist": "1223G0001X",
    "Optometrist": "152W00000X",
    "Podiatrist": "213E00000X",
    "Chiropractor": "111N00000X",
    "Behavioral Health": "1041C0700X",
    "Physical Therapy": "225100000X",
    OTHER: "174400000X",
}

_PREFIXES_LONGEST_FIRST = sorted(TAXONOMY_PREFIXES, key=len, reverse=True)


def normalize_taxonomy(code) -> str:
    """Upper-case, stripped code; '' for missing values."""
    if code is None or (isinstance(code, float) and code != code):
        return ""
    return str(code).strip().upper()


def is_known_taxonomy(code) -> bool:
    """True when ``code`` maps by exact code or by a prefix (not merely to the "Other" default)."""
    code = normalize_taxonomy(code)
    return code in TAXONOMY_TO_SPECIALTY or any(code.startswith(p) for p in _PREFIXES_LONGEST_FIRST)


def specialty_for_taxonomy(code) -> str:
    """The product specialty of a NUCC taxonomy code (``"Other"`` when unknown or missing).

    >>> specialty_for_taxonomy("207RC0000X")
    'Cardiology'
    >>> specialty_for_taxonomy("363LP0808X")
    'Nurse Practitioner'
    """
    code = normalize_taxonomy(code)
    if not code:
        return OTHER
    if code in TAXONOMY_TO_SPECIALTY:
        return TAXONOMY_TO_SPECIALTY[code]
    for prefix in _PREFIXES_LONGEST_FIRST:
        if code.startswith(prefix):
            return TAXONOMY_PREFIXES[prefix]
    return OTHER


assert set(SPECIALTY_TAXONOMY) == set(SPECIALTIES)
assert all(s in SPECIALTIES for s in (*TAXONOMY_TO_SPECIALTY.values(), *TAXONOMY_PREFIXES.values()))
assert all(specialty_for_taxonomy(c) == s for s, c in SPECIALTY_TAXONOMY.items())
