"""Loading into the store (DuckDB and PostgreSQL): a bad file changes nothing, a good one lands."""
import json
import uuid

import pandas as pd
import pytest

from engine.cli import main
from engine.data.store import Store
from engine.data.ingest import ingest_file
from engine.data.validation import ValidationError
from tests.fixtures.settings import POSTGRES_URL, postgres_url_for_schema
from tests.unit.test_ingest import (BILLION_LAUGHS, EXTERNAL_ENTITY, NPI_A, NPI_B, NPI_C, article, efetch, make_npi,
                                     reduced_hcps)

GOOD = {
    "hcps": ("hcps.csv", reduced_hcps()),
    "contents": ("pubmed.xml", efetch(article(101, "A", "<Abstract><AbstractText>x</AbstractText></Abstract>"),
                                      article(102, "B"))),
    "interactions": ("crm.csv", "hcp_id,content_id,timestamp,channel,outcome\n"
                                f"{NPI_A},PMID101,2024-01-02,email,opened\n{NPI_B},PMID102,2024-01-03,webinar,delivered\n"),
    "patients": ("patients.csv", f"patient_id,hcp_id,birthdate,gender,state\np1,{NPI_A},2000-01-01,F,MA\n"),
}

BAD = {
    "hcps wrong columns": ("hcps", "h.csv", "npi_number,surname\n1,x\n", "missing required column"),
    "hcps invalid NPIs": ("hcps", "h.csv", reduced_hcps([f"{NPI_A},1,A,A,,X,MA,1,207Q00000X,x",
                                                         "1234567890,1,B,B,,X,MA,1,207Q00000X,x"]),
                          "row 3, column 'hcp_id': invalid NPI check digit"),
    "hcps duplicate NPI": ("hcps", "h.csv", reduced_hcps([f"{NPI_C},1,A,A,,X,MA,1,207Q00000X,x"] * 2),
                           "row 3, column 'hcp_id': duplicate hcp_id"),
    "hcps non-UTF-8": ("hcps", "h.csv", reduced_hcps().encode() + b"\xff\xfe\n", "row 5: not UTF-8"),
    "hcps truncated": ("hcps", "h.csv", reduced_hcps() + f'{NPI_C},1,"LE', "row 5: unterminated quoted field"),
    "contents bad dates": ("contents", "p.csv", "PMID,Title,Abstract,publication_date\n1,T,A,2021-31-12\n",
                           "row 2, column 'publication_date': bad date"),
    "contents billion laughs": ("contents", "p.xml", BILLION_LAUGHS, "refused: the XML declares entities"),
    "contents external entity": ("contents", "p.xml", EXTERNAL_ENTITY, "refused: the XML declares entities"),
    "contents truncated xml": ("contents", "p.xml", efetch(article(1, "A"))[:150], "malformed or truncated XML"),
    "interactions unknown channel": ("interactions", "i.csv", "hcp_id,content_id,timestamp,channel,outcome\n"
                                     f"{NPI_A},PMID101,2024-01-02,pigeon,opened\n", "unknown channel"),
    "interactions unknown hcp": ("interactions", "i.csv", "hcp_id,content_id,timestamp,channel,outcome\n"
                                 f"{make_npi('176543210')},PMID101,2024-01-02,email,opened\n", "hcp_id not in the stored hcps"),
    "interactions duplicate ids": ("interactions", "i.csv", "interaction_id,hcp_id,content_id,timestamp,channel,outcome\n"
                                   f"5,{NPI_A},PMID101,2024-01-02,email,opened\n5,{NPI_A},PMID101,2024-01-03,email,opened\n",
                                   "row 3, column 'interaction_id': duplicate interaction_id"),
    "patients bad birthdate": ("patients", "pt.csv", f"patient_id,hcp_id,birthdate\np9,{NPI_A},1990-02-31\n",
                               "row 2, column 'birthdate': bad date"),
}


def load_good(store, tmp_path):
    for kind, (name, text) in GOOD.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        ingest_file(store, kind, path)


def snapshot(store):
    frames = {table: store.read(table) for table in GOOD}
    return {table: frame.sort_values(list(frame.columns[:1])).reset_index(drop=True) for table, frame in frames.items()}


def test_good_files_land(store, tmp_path):
    load_good(store, tmp_path)
    assert {t: store.count(t) for t in GOOD} == {"hcps": 3, "contents": 2, "interactions": 2, "patients": 1}
    assert set(store.read("contents")["content_id"]) == {"PMID101", "PMID102"}


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def loaded_store(request, tmp_path_factory):
    """A store on each backend holding the GOOD files, loaded once for all bad-file cases (a bad
    file must change nothing, so every case compares against the same snapshot)."""
    tmp = tmp_path_factory.mktemp("loaded")
    if request.param == "duckdb":
        store = Store(f"duckdb:///{tmp / 'store.duckdb'}")
    else:
        psycopg = pytest.importorskip("psycopg")
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        request.addfinalizer(lambda: psycopg.connect(POSTGRES_URL, autocommit=True).execute(
            f'DROP SCHEMA "{schema}" CASCADE').connection.close())
        store = Store(postgres_url_for_schema(schema))
    load_good(store, tmp)
    return store, snapshot(store), tmp


@pytest.mark.parametrize("case", list(BAD))
def test_bad_file_is_refused_and_store_unchanged(loaded_store, case):
    store, before, tmp_path = loaded_store
    kind, name, text, expected = BAD[case]
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    with pytest.raises(ValidationError) as info:
        ingest_file(store, kind, path)
    assert str(info.value).startswith(f"{name}: ") and expected in str(info.value)
    after = snapshot(store)
    for table in GOOD:
        pd.testing.assert_frame_equal(before[table], after[table])


def test_append_refuses_stored_keys_and_continues_generated_ids(store, tmp_path):
    load_good(store, tmp_path)
    before = snapshot(store)
    again = tmp_path / "again.csv"
    again.write_text(reduced_hcps(), encoding="utf-8")
    with pytest.raises(ValidationError, match="hcp_id already stored"):
        ingest_file(store, "hcps", again, replace=False)
    pd.testing.assert_frame_equal(before["hcps"], snapshot(store)["hcps"])

    more = tmp_path / "more.csv"
    more.write_text(f"hcp_id,content_id,timestamp,channel,outcome\n{NPI_C},PMID102,2024-02-01,rep visit,clicked\n",
                    encoding="utf-8")
    result = ingest_file(store, "interactions", more, replace=False)
    assert result["rows_loaded"] == 1 and result["table_rows"] == 3
    assert sorted(store.read("interactions")["interaction_id"]) == [1, 2, 3]


def test_cli_ingest_json_and_failure(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", f"duckdb:///{tmp_path / 'cli.duckdb'}")
    good = tmp_path / "hcps.csv"
    good.write_text(reduced_hcps(), encoding="utf-8")
    assert main(["ingest", "hcps", str(good), "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] and result["rows_loaded"] == 3 and result["report"]["errors"] == 0

    bad = tmp_path / "bad.csv"
    bad.write_text(reduced_hcps(["1234567890,1,B,B,,X,MA,1,207Q00000X,x"]), encoding="utf-8")
    assert main(["ingest", "hcps", str(bad), "--append", "--quiet"]) == 1
    captured = capsys.readouterr()
    assert "bad.csv: 1 error(s): invalid NPI check digit x1 (nothing was loaded)" in captured.err
    assert "row 2, column 'hcp_id'" in captured.err
