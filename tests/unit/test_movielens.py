"""The MovieLens -> product files conversion of benchmarks/real_data.py, on a handful of ML-format rows."""
import pandas as pd
import pytest

from benchmarks.movielens import user_npi, write_product_files
from engine.data.ingest import ingest_file, npi_is_valid
from engine.data.store import Store

INTER = """user_id:token\titem_id:token\trating:float\ttimestamp:float
1\t10\t5\t881250949
1\t11\t3\t881250999
2\t10\t4\t891717742
3\t12\t1\t878887116
"""
USER = """user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token
1\t24\tM\ttechnician\t85711
2\t53\tF\tnone\tT8H1N
3\t33\tM\twriter\t09645
"""
ITEM = """item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq
10\tToy Story\t1995\tAnimation Children's Comedy
11\tLand Before Time III: The Time of the Great Giving (1995)\tV\tAnimation Children's
12\tunkonwn\tunkonwn\tunknown
"""


@pytest.fixture
def files(tmp_path):
    source = tmp_path / "ml"
    source.mkdir()
    for name, text in (("inter", INTER), ("user", USER), ("item", ITEM)):
        (source / f"ml-100k.{name}").write_text(text)
    return write_product_files(source, tmp_path / "product")


def test_converted_files_are_accepted_by_ingest(files, tmp_path):
    store = Store(f"duckdb:///{tmp_path / 'store.duckdb'}")
    for kind, rows in (("hcps", 3), ("contents", 3), ("interactions", 4)):
        result = ingest_file(store, kind, files[kind])
        assert (result["report"]["errors"], result["report"]["warnings"], result["rows_loaded"]) == (0, 0, rows)
    hcps = store.read("hcps").set_index("hcp_id")
    npis = user_npi(pd.Series(["1", "2", "3"]))
    assert all(npi_is_valid(n) for n in npis) and set(hcps.index) == set(npis)
    tucson, canadian, military = (hcps.loc[n] for n in npis)
    assert (tucson["specialty"], tucson["city"], tucson["state"]) == ("Technician", "Tucson", "AZ")
    assert tucson["zip"] == "85711"
    assert canadian["specialty"] == "No occupation" and pd.isna(canadian["state"]) and pd.isna(canadian["zip"])
    assert military["specialty"] == "Writer" and pd.isna(military["state"])  # an APO code: no US state

    contents = store.read("contents").set_index("content_id")
    toy, land, unknown = contents.loc["ML10"], contents.loc["ML11"], contents.loc["ML12"]
    assert toy["title"] == "Toy Story (1995)" and "Animation, Children's, Comedy" in toy["abstract"]
    assert toy["publication_date"] == pd.Timestamp("1995-01-01") and toy["therapeutic_area"] == "Animation"
    assert land["title"].endswith("Giving (1995)") and land["publication_date"] == pd.Timestamp("1995-01-01")
    assert pd.isna(unknown["publication_date"])
    interactions = store.read("interactions").sort_values("interaction_id")
    # approved from release until a year after the last rating: every touch is inside its window
    assert (contents["approval_end"] > interactions["timestamp"].max()).all()
    assert interactions["engaged"].tolist() == [False, True, False, True]  # time order; rating >= 4
    assert interactions["outcome"].tolist() == ["delivered", "opened", "delivered", "opened"]
    assert set(interactions["channel"]) == {"email"}
