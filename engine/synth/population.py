"""Generated (or sampled real) HCP populations and their patients.

Generated HCPs look like an NPPES prescriber extract of a primary-care-heavy US brand audience:
plausible names, valid NPIs (Luhn check digit over the ``80840`` prefix), NUCC taxonomy codes,
states weighted by population with real cities and ZIP codes, territory, segment and per-channel
consent (some HCPs opted out of some channels).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from engine.config import CHANNELS
from engine.data.ingest import npi_check_digit, read_hcps, read_patients
from engine.data.nucc import SPECIALTY_TAXONOMY, specialty_for_taxonomy
from engine.data.reference import segment_for_specialty, state_code, territory_for_state
from engine.synth.channels import per_channel

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Christopher", "Karen",
    "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Sandra", "Mark", "Ashley", "Steven", "Emily",
    "Andrew", "Michelle", "Joshua", "Amanda", "Kevin", "Melissa", "Brian", "Stephanie", "George", "Rebecca",
    "Edward", "Laura", "Ryan", "Amy", "Jason", "Anna", "Eric", "Rachel", "Jonathan", "Katherine",
    "Samuel", "Priya", "Raj", "Anil", "Wei", "Mei", "Hiroshi", "Yuki", "Carlos", "Maria",
    "Luis", "Ana", "Jose", "Sofia", "Ahmed", "Fatima", "Omar", "Leila", "Olga", "Ivan",
    "Grace", "Nathan", "Olivia", "Benjamin", "Hannah", "Aaron", "Julia", "Kenneth", "Diane", "Victor",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
    "Patel", "Shah", "Kumar", "Singh", "Chen", "Wang", "Li", "Zhang", "Kim", "Park",
    "Tanaka", "Sato", "Cohen", "Levy", "Murphy", "O'Brien", "Kelly", "Sullivan", "Fischer", "Schmidt",
    "Muller", "Novak", "Kowalski", "Ivanov", "Rossi", "Russo", "Ali", "Hassan", "Khan", "Okafor",
    "Mensah", "Diaz", "Morales", "Reyes", "Cruz", "Ortiz", "Gutierrez", "Chavez", "Ward", "Cooper",
    "Peterson", "Bailey", "Reed", "Howard", "Cox", "Richardson", "Wood", "Watson", "Brooks", "Bennett",
)

#: (state, population in millions, ((city, zip), ...)) for the most populous states.
STATES: tuple[tuple[str, float, tuple[tuple[str, str], ...]], ...] = (
    ("CA", 39.0, (("Los Angeles", "90012"), ("San Diego", "92101"), ("San Jose", "95113"), ("San Francisco", "94103"), ("Sacramento", "95814"), ("Fresno", "93721"))),
    ("TX", 30.5, (("Houston", "77002"), ("Dallas", "75201"), ("San Antonio", "78205"), ("Austin", "78701"), ("Fort Worth", "76102"), ("El Paso", "79901"))),
    ("FL", 22.6, (("Miami", "33130"), ("Tampa", "33602"), ("Orlando", "32801"), ("Jacksonville", "32202"), ("Gainesville", "32601"))),
    ("NY", 19.6, (("New York", "10016"), ("Brooklyn", "11201"), ("Buffalo", "14202"), ("Rochester", "14604"), ("Albany", "12207"))),
    ("PA", 13.0, (("Philadelphia", "19104"), ("Pittsburgh", "15213"), ("Allentown", "18101"), ("Hershey", "17033"))),
    ("IL", 12.5, (("Chicago", "60611"), ("Springfield", "62701"), ("Peoria", "61602"), ("Naperville", "60540"))),
    ("OH", 11.8, (("Columbus", "43215"), ("Cleveland", "44106"), ("Cincinnati", "45219"), ("Toledo", "43604"))),
    ("GA", 11.0, (("Atlanta", "30303"), ("Savannah", "31401"), ("Augusta", "30901"), ("Macon", "31201"))),
    ("NC", 10.8, (("Charlotte", "28202"), ("Raleigh", "27601"), ("Durham", "27710"), ("Greensboro", "27401"))),
    ("MI", 10.0, (("Detroit", "48201"), ("Grand Rapids", "49503"), ("Ann Arbor", "48109"), ("Lansing", "48933"))),
    ("NJ", 9.3, (("Newark", "07102"), ("Jersey City", "07302"), ("Trenton", "08608"), ("New Brunswick", "08901"))),
    ("VA", 8.7, (("Richmond", "23219"), ("Virginia Beach", "23451"), ("Norfolk", "23510"), ("Charlottesville", "22903"))),
    ("WA", 7.8, (("Seattle", "98104"), ("Spokane", "99201"), ("Tacoma", "98402"))),
    ("AZ", 7.4, (("Phoenix", "85004"), ("Tucson", "85701"), ("Mesa", "85201"), ("Scottsdale", "85251"))),
    ("TN", 7.1, (("Nashville", "37203"), ("Memphis", "38103"), ("Knoxville", "37902"), ("Chattanooga", "37402"))),
    ("MA", 7.0, (("Boston", "02115"), ("Worcester", "01608"), ("Springfield", "01103"), ("Cambridge", "02139"))),
    ("IN", 6.9, (("Indianapolis", "46202"), ("Fort Wayne", "46802"), ("Evansville", "47708"))),
    ("MO", 6.2, (("St. Louis", "63110"), ("Kansas City", "64108"), ("Springfield", "65806"), ("Columbia", "65201"))),
    ("MD", 6.2, (("Baltimore", "21201"), ("Bethesda", "20814"), ("Annapolis", "21401"))),
    ("WI", 5.9, (("Milwaukee", "53202"), ("Madison", "53703"), ("Green Bay", "54301"))),
    ("CO", 5.9, (("Denver", "80202"), ("Colorado Springs", "80903"), ("Aurora", "80012"))),
    ("MN", 5.7, (("Minneapolis", "55415"), ("Saint Paul", "55102"), ("Rochester", "55902"))),
    ("SC", 5.4, (("Charleston", "29401"), ("Columbia", "29201"), ("Greenville", "29601"))),
    ("AL", 5.1, (("Birmingham", "35203"), ("Montgomery", "36104"), ("Mobile", "36602"), ("Huntsville", "35801"))),
    ("LA", 4.6, (("New Orleans", "70112"), ("Baton Rouge", "70801"), ("Shreveport", "71101"))),
    ("KY", 4.5, (("Louisville", "40202"), ("Lexington", "40507"), ("Bowling Green", "42101"))),
    ("OR", 4.2, (("Portland", "97205"), ("Eugene", "97401"), ("Salem", "97301"))),
    ("OK", 4.1, (("Oklahoma City", "73102"), ("Tulsa", "74103"), ("Norman", "73069"))),
    ("CT", 3.6, (("Hartford", "06103"), ("New Haven", "06510"), ("Stamford", "06901"))),
    ("UT", 3.4, (("Salt Lake City", "84111"), ("Provo", "84601"), ("Ogden", "84401"))),
    ("IA", 3.2, (("Des Moines", "50309"), ("Iowa City", "52242"), ("Cedar Rapids", "52401"))),
    ("NV", 3.2, (("Las Vegas", "89101"), ("Reno", "89501"), ("Henderson", "89002"))),
    ("AR", 3.1, (("Little Rock", "72201"), ("Fayetteville", "72701"), ("Fort Smith", "72901"))),
    ("MS", 2.9, (("Jackson", "39201"), ("Gulfport", "39501"), ("Tupelo", "38801"))),
    ("KS", 2.9, (("Wichita", "67202"), ("Overland Park", "66210"), ("Topeka", "66603"))),
    ("NM", 2.1, (("Albuquerque", "87102"), ("Santa Fe", "87501"), ("Las Cruces", "88001"))),
    ("NE", 2.0, (("Omaha", "68102"), ("Lincoln", "68508"), ("Kearney", "68847"))),
    ("WV", 1.8, (("Charleston", "25301"), ("Morgantown", "26505"), ("Huntington", "25701"))),
    ("ME", 1.4, (("Portland", "04101"), ("Bangor", "04401"))),
    ("NH", 1.4, (("Manchester", "03101"), ("Lebanon", "03766"))),
)

#: Specialty mix of the generated prescriber audience (primary care heavy).
SPECIALTY_MIX: dict[str, float] = {
    "Family Medicine": 0.19, "Internal Medicine": 0.17, "Nurse Practitioner": 0.13, "Physician Assistant": 0.07,
    "General Practice": 0.03, "Cardiology": 0.07, "Endocrinology": 0.04, "Oncology": 0.04, "Pulmonology": 0.04,
    "Infectious Disease": 0.02, "Pediatrics": 0.06, "Obstetrics & Gynecology": 0.04, "Geriatrics": 0.02,
    "Nephrology": 0.02, "Emergency Medicine": 0.03, "Pharmacist": 0.03,
}

_CREDENTIALS = {
    "Nurse Practitioner": (("NP", 0.4), ("FNP-C", 0.4), ("APRN", 0.2)),
    "Physician Assistant": (("PA-C", 0.8), ("PA", 0.2)),
    "Pharmacist": (("PharmD", 0.8), ("RPh", 0.2)),
}
_PHYSICIAN_CREDENTIALS = (("MD", 0.55), ("M.D.", 0.3), ("DO", 0.15))

def generate_npis(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` unique valid individual NPIs (first digit 1, as NPPES assigns to individuals)."""
    bases = np.unique(rng.integers(100_000_000, 200_000_000, size=int(n * 1.1) + 10))
    bases = rng.permutation(bases)[:n]
    if len(bases) < n:
        raise RuntimeError("not enough unique NPI bases drawn")
    npis = bases * 10 + npi_check_digit(bases)
    return np.array([str(v) for v in npis], dtype=object)


def _choose(rng: np.random.Generator, pairs, n: int) -> np.ndarray:
    names = np.array([p[0] for p in pairs], dtype=object)
    weights = np.array([p[1] for p in pairs], float)
    return names[rng.choice(len(names), size=n, p=weights / weights.sum())]


def consents(rng: np.random.Generator, n: int) -> np.ndarray:
    """Boolean ``[n, n_channels]`` consent matrix (True = may be contacted on the channel)."""
    return rng.random((n, len(CHANNELS))) >= per_channel("opt_out")


def generate_hcps(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """A generated HCP table (schema ``hcps``)."""
    specialties = np.array(list(SPECIALTY_MIX), dtype=object)
    weights = np.array(list(SPECIALTY_MIX.values()))
    specialty = specialties[rng.choice(len(specialties), size=n, p=weights / weights.sum())]
    credential = np.empty(n, dtype=object)
    for spec in specialties:
        mask = specialty == spec
        credential[mask] = _choose(rng, _CREDENTIALS.get(spec, _PHYSICIAN_CREDENTIALS), int(mask.sum()))
    pop = np.array([s[1] for s in STATES])
    state_idx = rng.choice(len(STATES), size=n, p=pop / pop.sum())
    city = np.empty(n, dtype=object)
    zips = np.empty(n, dtype=object)
    city_pick = rng.random(n)
    for k, (_, _, cities) in enumerate(STATES):
        mask = state_idx == k
        # the first city of each state is the largest: give it more prescribers
        w = np.array([2.0] + [1.0] * (len(cities) - 1))
        j = np.searchsorted(np.cumsum(w / w.sum()), city_pick[mask], side="right").clip(0, len(cities) - 1)
        city[mask] = [cities[t][0] for t in j]
        zips[mask] = [cities[t][1] for t in j]
    states = np.array([STATES[k][0] for k in state_idx], dtype=object)
    frame = pd.DataFrame({
        "hcp_id": generate_npis(rng, n),
        "first_name": np.array(FIRST_NAMES, dtype=object)[rng.integers(len(FIRST_NAMES), size=n)],
        "last_name": np.array(LAST_NAMES, dtype=object)[rng.integers(len(LAST_NAMES), size=n)],
        "credential": credential,
        "taxonomy_code": [SPECIALTY_TAXONOMY[s] for s in specialty],
        "specialty": specialty,
        "city": city,
        "state": states,
        "zip": zips,
    })
    return _finish(frame, rng)


def _finish(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    frame["territory"] = [territory_for_state(s) for s in frame["state"]]
    frame["segment"] = [segment_for_specialty(s) for s in frame["specialty"]]
    allowed = consents(rng, len(frame))
    for k, channel in enumerate(CHANNELS):
        frame[f"consent_{channel}"] = allowed[:, k]
    return frame.reset_index(drop=True)


def sample_master(master: pd.DataFrame, n: int | None, rng: np.random.Generator) -> pd.DataFrame:
    """Sample ``n`` HCPs (all when ``None``) from a real master and complete the world columns.

    ``master`` has at least ``hcp_id``, ``last_name`` and either ``specialty`` or
    ``taxonomy_code``; territory, segment and consents are generated.
    """
    for col in ("hcp_id", "last_name"):
        if col not in master.columns:
            raise ValueError(f"HCP master: required column {col!r} is missing (columns: {list(master.columns)})")
    master = master.drop_duplicates("hcp_id").reset_index(drop=True)
    if n is not None and n < len(master):
        master = master.iloc[np.sort(rng.choice(len(master), size=n, replace=False))].reset_index(drop=True)
    frame = pd.DataFrame({c: master[c] if c in master.columns else None for c in
                          ("hcp_id", "first_name", "last_name", "credential", "taxonomy_code", "specialty",
                           "city", "state", "zip")})
    if "specialty" not in master.columns or master["specialty"].isna().all():
        frame["specialty"] = [specialty_for_taxonomy(c) for c in frame["taxonomy_code"]]
    frame["hcp_id"] = frame["hcp_id"].astype(str)
    frame["state"] = [state_code(s) or s for s in frame["state"]]
    frame = frame.drop(columns=[c for c in ("territory", "segment") if c in frame.columns])
    return _finish(frame, rng)


def read_master_csv(path: Path) -> pd.DataFrame:
    """HCPs of a real master (NPPES or seed ``hcp_master`` layout) via :func:`engine.data.ingest.read_hcps`;
    raises :class:`engine.data.validation.ValidationError` when the file has errors."""
    frame, report = read_hcps(path)
    report.raise_if_errors()
    return frame


def generate_patients(rng: np.random.Generator, hcps: pd.DataFrame, start: pd.Timestamp,
                      per_hcp: float = 0.25) -> pd.DataFrame:
    """A modest patients table: on average ``per_hcp`` patients per HCP, linked to their HCP."""
    n = int(round(len(hcps) * per_hcp))
    owner = rng.integers(len(hcps), size=n)
    age_days = rng.integers(18 * 365, 90 * 365, size=n)
    ids = rng.integers(0, 2 ** 63 - 1, size=(n, 2), dtype=np.int64)
    return pd.DataFrame({
        "patient_id": [f"{a:016x}-{b:016x}"[:36] for a, b in ids],
        "hcp_id": hcps["hcp_id"].to_numpy()[owner],
        "birthdate": (start - pd.to_timedelta(age_days, unit="D")).normalize(),
        "gender": np.where(rng.random(n) < 0.52, "F", "M"),
        "state": hcps["state"].to_numpy()[owner],
        "assigned_specialty": hcps["specialty"].to_numpy()[owner],
    })


def read_seed_patients(path: Path, hcp_ids) -> pd.DataFrame:
    """Real patients (``patients_with_hcp.csv`` layout, via :func:`engine.data.ingest.read_patients`)
    whose ``hcp_id`` is among ``hcp_ids``."""
    frame, report = read_patients(path)
    report.raise_if_errors()
    return frame[frame["hcp_id"].isin(set(map(str, hcp_ids)))].reset_index(drop=True)
