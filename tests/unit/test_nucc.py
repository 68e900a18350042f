"""NUCC taxonomy -> specialty mapping and the state/segment reference tables."""
import pytest

from engine.data import nucc, reference


@pytest.mark.parametrize("code, specialty", [
    ("207Q00000X", "Family Medicine"),
    ("207R00000X", "Internal Medicine"),
    ("207RC0000X", "Cardiology"),
    ("207RH0003X", "Oncology"),  # hematology & oncology
    ("2085R0001X", "Oncology"),  # radiation oncology
    ("207RE0101X", "Endocrinology"),
    ("2080P0202X", "Cardiology"),  # pediatric cardiology
    ("2084P0800X", "Psychiatry"),
    ("2084N0400X", "Neurology"),
    ("363LF0000X", "Nurse Practitioner"),
    ("363AM0700X", "Physician Assistant"),
    ("1223G0001X", "Dentist"),
    ("1041C0700X", "Behavioral Health"),
    ("174400000X", "Other"),
])
def test_exact_codes(code, specialty):
    assert nucc.specialty_for_taxonomy(code) == specialty


@pytest.mark.parametrize("code, specialty", [
    ("207RZ9999X", "Internal Medicine"),  # unseen internal-medicine sub-specialty
    ("2084P0899X", "Psychiatry"),  # longest prefix wins over "2084" (neurology)
    ("2084Z0000X", "Neurology"),
    ("363LZ0000X", "Nurse Practitioner"),
    ("1223Z0000X", "Dentist"),
    ("2080Z0000X", "Pediatrics"),
])
def test_prefix_fallback(code, specialty):
    assert nucc.specialty_for_taxonomy(code) == specialty
    assert nucc.is_known_taxonomy(code)


@pytest.mark.parametrize("code", ["", None, float("nan"), "999999999X", "junk"])
def test_unknown_or_missing_codes_are_other(code):
    assert nucc.specialty_for_taxonomy(code) == "Other"


def test_lower_case_and_whitespace_are_normalised():
    assert nucc.specialty_for_taxonomy(" 207rc0000x ") == "Cardiology"


def test_representative_codes_cover_every_specialty_and_map_back():
    assert set(nucc.SPECIALTY_TAXONOMY) == set(nucc.SPECIALTIES)
    for specialty, code in nucc.SPECIALTY_TAXONOMY.items():
        assert nucc.specialty_for_taxonomy(code) == specialty


def test_territories_cover_all_states_and_dc():
    states = set(reference.STATE_CODES.values()) - {"PR", "GU", "VI", "AS", "MP"}
    assert len(states) == 51
    assert states <= set(reference.TERRITORY_BY_STATE)
    assert set(reference.TERRITORY_BY_STATE.values()) == set(reference.TERRITORIES)


@pytest.mark.parametrize("state, territory", [
    ("NY", "Northeast"), ("fl", "Southeast"), ("Massachusetts", "Northeast"), ("TX", "Southwest"),
    ("CA", "West"), ("OH", "Midwest"), ("AE", "Unassigned"), (None, "Unassigned"), ("BRITISH COLUMBIA", "Unassigned"),
])
def test_territory_for_state(state, territory):
    assert reference.territory_for_state(state) == territory


def test_segments():
    assert reference.segment_for_specialty("Cardiology") == "Core"
    assert reference.segment_for_specialty("Family Medicine") == "Growth"
    assert reference.segment_for_specialty("Dentist") == "Maintain"
    assert reference.segment_for_specialty("no such specialty") == "Maintain"
