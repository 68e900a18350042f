"""The store: same behaviour on DuckDB and PostgreSQL, atomic loads."""
import pandas as pd
import pytest

from engine.config import CHANNELS
from engine.data.store import StoreError


def _hcps(ids):
    return pd.DataFrame({"hcp_id": ids, "last_name": "Doe", "specialty": "Cardiology",
                         **{f"consent_{c}": True for c in CHANNELS}})


def test_replace_then_read_round_trips(store):
    store.replace({"hcps": _hcps(["1234567893", "1245319599"])})
    frame = store.read("hcps")
    assert sorted(frame["hcp_id"]) == ["1234567893", "1245319599"]
    assert bool(frame["consent_email"].iloc[0]) is True


def test_failed_load_leaves_previous_data(store):
    store.replace({"hcps": _hcps(["1234567893"])})
    with pytest.raises(StoreError, match="rolled back"):
        store.replace({"hcps": _hcps(["1245319599", "1245319599"])})  # duplicate key
    assert list(store.read("hcps")["hcp_id"]) == ["1234567893"]


def test_failed_multi_table_load_changes_no_table(store):
    store.replace({"hcps": _hcps(["1234567893"])})
    bad_interactions = pd.DataFrame({"interaction_id": [1, 1], "hcp_id": "1234567893", "content_id": "C1",
                                     "channel": "email", "timestamp": pd.Timestamp("2025-01-01"),
                                     "outcome": "opened", "engaged": True})
    with pytest.raises(StoreError):
        store.replace({"hcps": _hcps(["1245319599"]), "interactions": bad_interactions})
    assert list(store.read("hcps")["hcp_id"]) == ["1234567893"]
    assert store.count("interactions") == 0


def test_unknown_column_is_refused_with_its_name(store):
    with pytest.raises(StoreError, match="bogus"):
        store.replace({"hcps": _hcps(["1234567893"]).assign(bogus=1)})


def test_meta_pointer_overwrites(store):
    store.set_meta("serving_version", "v1")
    store.set_meta("serving_version", "v2")
    assert store.get_meta("serving_version") == "v2"
    assert store.get_meta("missing", "default") == "default"
