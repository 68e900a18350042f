"""Reference mappings: US state -> sales territory, specialty -> brand segment.

Territories follow the usual five-region split of a US field force (Census regions with the
South split into Southeast and Southwest). Segments express how close a specialty is to the
brand's therapeutic areas (the seed's six PubMed topics: diabetes, cardiovascular risk,
vaccination, thyroid, respiratory care, oncology):

- ``"Core"``: specialists who treat those areas (Cardiology, Endocrinology, Oncology, ...).
- ``"Growth"``: primary-care prescribers who see those patients first (Family Medicine,
  Internal Medicine, NPs, PAs, pharmacists, ...).
- ``"Maintain"``: everyone else (kept informed, not actively targeted).
"""
from __future__ import annotations

TERRITORIES: tuple[str, ...] = ("Northeast", "Southeast", "Midwest", "Southwest", "West")

_STATES_BY_TERRITORY = {
    "Northeast": ("CT", "DE", "DC", "ME", "MD", "MA", "NH", "NJ", "NY", "PA", "RI", "VT"),
    "Southeast": ("AL", "FL", "GA", "KY", "MS", "NC", "SC", "TN", "VA", "WV", "PR", "VI"),
    "Midwest": ("IL", "IN", "IA", "KS", "MI", "MN", "MO", "NE", "ND", "OH", "SD", "WI"),
    "Southwest": ("AR", "AZ", "LA", "NM", "OK", "TX"),
    "West": ("AK", "CA", "CO", "HI", "ID", "MT", "NV", "OR", "UT", "WA", "WY", "GU", "AS", "MP"),
}

#: Two-letter state code (50 states, DC and the inhabited territories) -> sales territory.
TERRITORY_BY_STATE: dict[str, str] = {s: t for t, states in _STATES_BY_TERRITORY.items() for s in states}

#: Full state names (as in Synthea/patient files) -> two-letter code.
STATE_CODES: dict[str, str] = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC",
    "Florida": "FL", "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL",
    "Indiana": "IN", "Iowa": "IA", "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA",
    "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN",
    "Mississippi": "MS", "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV",
    "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY",
    "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR",
    "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD",
    "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA",
    "Washington": "WA", "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
    "Puerto Rico": "PR", "Guam": "GU", "Virgin Islands": "VI", "American Samoa": "AS",
    "Northern Mariana Islands": "MP",
}

UNASSIGNED = "Unassigned"


def state_code(state) -> str | None:
    """Two-letter code for a code or a full name (case-insensitive); ``None`` when unknown."""
    if state is None or (isinstance(state, float) and state != state):
        return None
    text = str(state).strip()
    if text.upper() in TERRITORY_BY_STATE:
        return text.upper()
    by_name = {name.lower(): code for name, code in STATE_CODES.items()}
    return by_name.get(text.lower())


def territory_for_state(state) -> str:
    """Sales territory of a state code or name; ``"Unassigned"`` for missing/foreign states."""
    code = state_code(state)
    return TERRITORY_BY_STATE.get(code, UNASSIGNED) if code else UNASSIGNED


SEGMENTS: tuple[str, ...] = ("Core", "Growth", "Maintain")

_CORE = ("Cardiology", "Endocrinology", "Oncology", "Pulmonology", "Infectious Disease", "Nephrology",
         "Allergy & Immunology")
_GROWTH = ("Family Medicine", "Internal Medicine", "General Practice", "Geriatrics", "Pediatrics",
           "Obstetrics & Gynecology", "Nurse Practitioner", "Physician Assistant", "Pharmacist")

#: Specialty -> brand segment (specialties not listed are "Maintain").
SEGMENT_BY_SPECIALTY: dict[str, str] = {**{s: "Core" for s in _CORE}, **{s: "Growth" for s in _GROWTH}}


def segment_for_specialty(specialty: str) -> str:
    """Brand segment of a specialty: "Core", "Growth" or "Maintain"."""
    return SEGMENT_BY_SPECIALTY.get(specialty, "Maintain")
