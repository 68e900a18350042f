"""The real reference files (skipped when the seed directory is absent)."""
import pytest

from engine.config import Settings
from engine.data.ingest import ingest_file, read_patients, read_pubmed_csv
from engine.data.store import Store

SEED = Settings().seed_dir
needs_seed = pytest.mark.skipif(not (SEED / "hcp_master.csv").is_file(), reason=f"no seed data at {SEED}")


@needs_seed
def test_seed_hcp_master_lands_whole(tmp_path):
    store = Store(f"duckdb:///{tmp_path / 'seed.duckdb'}")
    result = ingest_file(store, "hcps", SEED / "hcp_master.csv")
    stats = result["report"]["stats"]
    # The seed holds individuals only (Entity Type 1), all with valid, unique NPIs.
    assert result["rows_read"] == 37_729 and result["rows_loaded"] == 37_729
    assert stats["organisations_skipped"] == 0 and result["report"]["errors"] == 0
    hcps = store.read("hcps", ["specialty", "territory", "zip"])
    shares = hcps["specialty"].value_counts(normalize=True)
    print("\nseed specialties (top 10):\n" + shares.head(10).round(4).to_string())
    print(f"'Other' share: {shares.get('Other', 0):.4f}; ingest {result['seconds']:.1f}s")
    assert shares.get("Other", 0) < 0.5
    assert (hcps["territory"] != "Unassigned").mean() > 0.99
    assert hcps["zip"].dropna().str.fullmatch(r"\d{5}").all()


@needs_seed
def test_seed_abstracts_all_rows_handled():
    contents, report = read_pubmed_csv(SEED / "pubmed_abstracts_2020_2025.csv")
    stats = report.stats
    print(f"\nabstracts: {stats}")
    assert report.ok
    assert stats["rows_read"] == 509
    assert stats["rows_kept"] + stats["duplicates_dropped"] == 509 == len(contents) + stats["duplicates_dropped"]
    assert stats["duplicates_dropped"] >= 1
    assert stats["empty_abstracts"] == 17 == int((contents["abstract"] == "").sum())
    assert len(report.warnings) == stats["empty_abstracts"] + stats["duplicates_dropped"]
    assert contents["content_id"].is_unique and contents["title"].notna().all()
    assert contents["therapeutic_area"].nunique() == 6


@needs_seed
def test_seed_patients():
    patients, report = read_patients(SEED / "patients_with_hcp.csv")
    assert report.ok, report.summary()
    assert len(patients) == 1_739 and patients["birthdate"].notna().all()
