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


# -- versions: every write to a data table moves the data version in its own transaction ---------------
def test_writes_bump_their_version_in_the_same_transaction(store):
    start = store.versions(mirror=False)
    assert start == {"data": "0", "feedback": "0"}
    store.replace({"hcps": _hcps(["1234567893"])})
    after_load = store.versions(mirror=False)
    assert after_load["data"].startswith("1.") and after_load["feedback"] == "0"
    with pytest.raises(StoreError):
        store.replace({"hcps": _hcps(["1245319599", "1245319599"])})  # rolled back: so is the bump
    assert store.versions(mirror=False) == after_load
    store.replace({"recommendations": pd.DataFrame(columns=["hcp_id", "rank", "content_id", "channel", "score",
                                                            "engagement_probability", "bundle_version"])})
    assert store.versions(mirror=False) == after_load  # derived tables are not data
    store.append("feedback", pd.DataFrame([{"feedback_id": 1, "hcp_id": "1234567893", "content_id": "C1",
                                            "channel": "email", "action": "accept",
                                            "created_at": pd.Timestamp("2025-01-01")}]))
    versions = store.versions(mirror=False)
    assert versions["data"] == after_load["data"] and versions["feedback"].startswith("1.")
    assert store.versions() == versions  # the mirror a DuckDB file keeps (PostgreSQL: the table)


def test_the_mirror_is_rebuilt_from_the_store_when_missing(tmp_path):
    from engine.data.store import Store

    store = Store(f"duckdb:///{tmp_path / 'store.duckdb'}")
    store.replace({"hcps": _hcps(["1234567893"])})
    store.versions_mirror.unlink()
    assert store.versions() == store.versions(mirror=False) and store.versions_mirror.exists()


def test_feedback_repeats_are_one_row_and_old_duplicates_are_merged(tmp_path):
    import duckdb

    from engine.data.store import Store

    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as conn:  # a store from before the unique key and the as_of column
        conn.execute("CREATE TABLE feedback (feedback_id BIGINT PRIMARY KEY, hcp_id VARCHAR NOT NULL, "
                     "content_id VARCHAR NOT NULL, channel VARCHAR, action VARCHAR NOT NULL, reason VARCHAR, "
                     "user_name VARCHAR, bundle_version VARCHAR, created_at TIMESTAMP NOT NULL)")
        for fid in (1, 2):
            conn.execute("INSERT INTO feedback VALUES (?, 'H', 'C', 'email', 'accept', NULL, 'u', 'v', "
                         "TIMESTAMP '2025-01-01')", [fid])
    store = Store(f"duckdb:///{path}")
    frame = store.read("feedback")
    assert frame["feedback_id"].tolist() == [2] and "as_of" in frame and "planned_at" in frame


def _touches(n):
    return pd.DataFrame({"interaction_id": range(1, n + 1), "hcp_id": ["1234567893", "1245319599"] * (n // 2),
                         "content_id": [f"C{i % 3}" for i in range(n)], "campaign_id": None,
                         "channel": [CHANNELS[i % 2] for i in range(n)],
                         "timestamp": pd.date_range("2025-01-01", periods=n, freq="h"),
                         "outcome": "opened", "engaged": [i % 3 == 0 for i in range(n)]})


def test_read_compact_gives_the_rows_of_read_with_text_as_categoricals(store):
    store.replace({"hcps": _hcps(["1234567893", "1245319599"]), "interactions": _touches(10)})
    compact = store.read_compact("interactions", batch_rows=3)  # several batches, unified categories
    plain = store.read("interactions")
    assert isinstance(compact["hcp_id"].dtype, pd.CategoricalDtype)
    assert isinstance(compact["channel"].dtype, pd.CategoricalDtype)
    assert compact["hcp_id"].astype(str).tolist() == plain["hcp_id"].astype(str).tolist()
    assert compact["channel"].astype(str).tolist() == plain["channel"].astype(str).tolist()
    assert compact["interaction_id"].tolist() == plain["interaction_id"].tolist()
    assert compact["campaign_id"].isna().all() and compact["engaged"].tolist() == plain["engaged"].tolist()


def test_export_parquet_writes_the_whole_table_batch_by_batch(store, tmp_path):
    store.replace({"hcps": _hcps(["1234567893", "1245319599"]), "interactions": _touches(10)})
    written = pd.read_parquet(store.export_parquet("interactions", tmp_path / "t.parquet", batch_rows=4))
    assert written["interaction_id"].tolist() == store.read("interactions")["interaction_id"].tolist()
    assert len(pd.read_parquet(store.export_parquet("feedback", tmp_path / "f.parquet"))) == 0  # empty: schema only
