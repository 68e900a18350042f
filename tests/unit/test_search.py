"""HCP search as people type it: names, cities, states, "Dr.", NPI prefixes, territory and segment."""
from __future__ import annotations

import pytest

from engine.data.store import Store
from engine.service.search import HcpSearch, query_tokens
from engine.service.live import reasoning_day, reasoning_instant
from engine.service.snapshot import DataSnapshot
from tests.fixtures.world import LEVY


@pytest.fixture(scope="module")
def search(world_settings):
    store = Store(world_settings.database_url)
    now = reasoning_instant(reasoning_day(world_settings.as_of, store))
    return HcpSearch(DataSnapshot.load(store, world_settings, store.versions()["data"], now))


def names(result):
    return [(r["name"], r["city"], r["state"]) for r in result["rows"]]


def test_query_words_drop_punctuation_and_honorifics():
    assert query_tokens("Dr. Levy, San Francisco") == ["levy", "san", "francisco"]
    assert query_tokens("  DOCTOR  o'brien-smith ") == ["o'brien-smith"]
    assert query_tokens("Dr.") == [] and query_tokens(None) == []


def test_name_and_city_together_find_the_one_hcp(search):
    result = search.search("Levy San Francisco")
    assert result["total"] >= 1
    assert all(r["last_name"] == LEVY["last_name"] and r["city"] == LEVY["city"] for r in result["rows"]), names(result)
    assert search.search("levy, san francisco")["total"] == result["total"]  # case and commas do not matter


def test_dr_before_a_name_is_ignored(search):
    plain, titled = search.search("Levy", page_size=1000), search.search("Dr. Levy", page_size=1000)
    assert titled["total"] == plain["total"] >= 2
    assert all(r["last_name"] == "Levy" for r in titled["rows"])


def test_an_npi_prefix_lists_only_npis_starting_with_it(search):
    npi = search.frame["hcp_id"].iloc[7]
    result = search.search(npi[:4], page_size=1000)
    assert result["total"] >= 1 and all(r["hcp_id"].startswith(npi[:4]) for r in result["rows"])
    exact = search.search(npi)
    assert exact["rows"][0]["hcp_id"] == npi


def test_a_state_code_with_other_words_means_the_state(search):
    frame = search.frame
    state = frame.loc[frame["last_name"] == "Levy", "state"].iloc[0]
    rows = search.search(f"Levy {state}", page_size=1000)["rows"]
    assert rows and all(r["state"] == state and r["last_name"] == "Levy" for r in rows)
    full = {"CA": "California", "TX": "Texas", "AZ": "Arizona", "KS": "Kansas", "OH": "Ohio"}.get(state)
    if full:
        assert search.search(f"Levy {full}", page_size=1000)["total"] == len(rows)


def test_whole_words_rank_before_word_starts(search):
    frame = search.frame
    city = frame["city"].iloc[0]
    rows = search.search(city, page_size=1000)["rows"]
    in_city = [r["city"] == city for r in rows]
    assert in_city[0] and in_city == sorted(in_city, reverse=True)


def test_a_word_must_match_something(search):
    assert search.search("Levy Zzyzx")["total"] == 0


def test_territory_and_segment_filters(search):
    frame = search.frame
    territory, segment = frame["territory"].iloc[0], frame["segment"].iloc[0]
    west = search.search("", territory=territory, page_size=1000)
    assert west["total"] == int((frame["territory"] == territory).sum())
    both = search.search("", territory=territory, segment=segment, page_size=1000)
    assert both["total"] == int(((frame["territory"] == territory) & (frame["segment"] == segment)).sum())
    assert all(r["territory"] == territory and r["segment"] == segment for r in both["rows"])
