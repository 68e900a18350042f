"""A fuzz pass over ingest: malformed files of every kind end in a clear error and change nothing.

Generated cases put one bad value (too long, a control character, a line break, an implausible
date, a non-finite number, an oversized integer ...) into one cell of a valid file: the error must
name that row and column. Hand-written cases break whole files (headers, encodings, truncation,
XML quirks, an empty or cut-off export in replace mode). Every case runs against a store holding
a valid load and must leave every table exactly as it was; a sample also runs through the CLI
in a subprocess, which must exit 1 with a one-line reason and no traceback.
"""
from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from engine.data.ingest import ingest_file
from engine.data.schemas import TABLES
from engine.data.store import Store
from engine.data.validation import ValidationError
from tests.unit.test_ingest import NPI_A, NPI_B, NPI_C, article, efetch
from tests.unit.test_ingest_store import load_good, snapshot

ROOT = Path(__file__).resolve().parents[2]

#: Valid files (header, rows) of each CSV kind, over the keys the GOOD load stores.
BASE = {
    "hcps": (["hcp_id", "Entity Type Code", "last_name", "first_name", "credential", "city", "state", "zip",
              "taxonomy_code"],
             [[NPI_A, "1", "SMITH", "ANNA", "MD", "BOSTON", "MA", "02138", "207RC0000X"],
              [NPI_B, "1", "JONES", "BOB", "NP", "AUSTIN", "TX", "78701", "363LF0000X"],
              [NPI_C, "1", "LEE", "CARA", "", "DENVER", "CO", "80202", "207Q00000X"]]),
    "contents": (["pmid", "title", "abstract", "therapeutic_area", "publication_date"],
                 [["101", "A", "Alpha study.", "Oncology", "2021-03-01"],
                  ["102", "B", "Beta study.", "Oncology", "2021-04-01"]]),
    "interactions": (["interaction_id", "hcp_id", "content_id", "campaign_id", "channel", "timestamp", "outcome",
                      "dwell_seconds"],
                     [["1", NPI_A, "PMID101", "CMP1", "email", "2024-01-02 10:00:00", "opened", "12.5"],
                      ["2", NPI_B, "PMID102", "CMP1", "webinar", "2024-01-03 11:00:00", "delivered", "0"]]),
    "patients": (["patient_id", "hcp_id", "birthdate", "gender", "state"],
                 [["p1", NPI_A, "1980-05-01", "F", "MA"], ["p2", NPI_B, "1975-02-03", "M", "TX"]]),
}

_TEXT_VALUES = {"control NUL": "a\x00b", "control ESC": "a\x1bb", "control DEL": "a\x7fb", "control C1": "a\x85b"}
_LINE_VALUES = {"line break": "a\nb", "tab": "a\tb"}
_DATE_VALUES = {"year 2099": "2099-06-01", "year 0001": "0001-01-01", "before 1900": "1899-12-31",
                "not a date": "31/31/2021", "5000 digits": "9" * 5000}
_NUMBER_VALUES = {"inf": "inf", "-inf": "-inf", "nan": "nan", "overflow": "1e999", "text": "twelve"}
_INTEGER_VALUES = {"20 digits": "12345678901234567890", "5000 digits": "9" * 5000, "fraction": "1.5",
                   "superscript digit": "\u00b2"}


def _bad_values(kind: str, column: str) -> dict[str, str]:
    """The always-invalid values for one column of a BASE file."""
    if column == "interaction_id":
        return _INTEGER_VALUES
    if column == "dwell_seconds":
        return _NUMBER_VALUES
    if column in ("publication_date", "timestamp", "birthdate"):
        return _DATE_VALUES
    spec = next((c for c in TABLES[kind] if c.name == column), None)
    if spec is None or spec.max_length is None:  # not stored (the entity type): its own rules apply
        return {"unknown code": "7"} if column == "Entity Type Code" else {}
    values = {"too long": "x" * (spec.max_length + 1), **_TEXT_VALUES}
    return values if spec.multiline else {**values, **_LINE_VALUES}


def _csv(header, rows) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows])
    return out.getvalue().encode("utf-8")


def generated_cases() -> dict[str, tuple]:
    """``{case: (kind, file name, bytes, row, column)}``: one bad cell in the second data row (line 3)."""
    cases = {}
    for kind, (header, rows) in BASE.items():
        for j, column in enumerate(header):
            for label, value in _bad_values(kind, column).items():
                bad_rows = [list(r) for r in rows]
                bad_rows[1][j] = value
                cases[f"{kind} {column} {label}"] = (kind, f"{kind}.csv", _csv(header, bad_rows), 3, column)
    return cases


def _xml(title="A", abstract="", pubdate="<Year>2021</Year>") -> str:
    """An efetch file of articles 101 (with the given parts) and 102 (valid): the stored PMIDs."""
    return efetch(article(101, title, abstract, pubdate), article(102, "B"))


def handwritten_cases() -> dict[str, tuple]:
    """``{case: (kind, file name, bytes, row or None, column or None)}``: whole-file breakage."""
    header = {kind: ",".join(h) + "\n" for kind, (h, _) in BASE.items()}
    first = {kind: _csv(*BASE[kind]).decode().splitlines()[1] + "\n" for kind in BASE}
    cases = {}
    for kind in BASE:
        cases[f"{kind} header only (replace)"] = (kind, f"{kind}.csv", header[kind].encode(), None, None)
        cases[f"{kind} repeated header column"] = (kind, f"{kind}.csv", (
            header[kind].rstrip("\n") + "," + BASE[kind][0][1] + "\n" + first[kind].rstrip("\n") + ",x\n").encode(),
            1, BASE[kind][0][1])
        cases[f"{kind} empty file"] = (kind, f"{kind}.csv", b"", None, None)
        cases[f"{kind} binary garbage"] = (kind, f"{kind}.csv", bytes(range(256)) * 4, None, None)
        cases[f"{kind} UTF-16"] = (kind, f"{kind}.csv", (header[kind] + first[kind]).encode("utf-16"), None, None)
        cases[f"{kind} malformed header"] = (kind, f"{kind}.csv", b'"unterminated,' + header[kind].encode(), None, None)
        cases[f"{kind} ragged row"] = (kind, f"{kind}.csv", (header[kind] + first[kind].rstrip("\n") + ",extra\n")
                                       .encode(), 2, None)
        cases[f"{kind} truncated quote"] = (kind, f"{kind}.csv", (header[kind] + first[kind] + '"cut').encode(), 3,
                                            None)
        cases[f"{kind} bare NUL line"] = (kind, f"{kind}.csv", (header[kind] + first[kind]).encode() + b"\x00" * 40,
                                          None, None)
    cases["hcps shrink to one of three"] = ("hcps", "hcps.csv", (header["hcps"] + first["hcps"]).encode(), None, None)
    cases["interactions shrink to none of two"] = ("interactions", "i.csv", b"hcp_id,content_id,timestamp,outcome\n",
                                                   None, None)

    xml = {
        "year 99999": _xml(pubdate="<Year>99999</Year>"),
        "year of 5000 digits": _xml(pubdate=f"<Year>{'9' * 5000}</Year>"),
        "year 2099": _xml(pubdate="<Year>2099</Year>"),
        "year 1066": _xml(pubdate="<Year>1066</Year>"),
        "superscript year": _xml(pubdate="<Year>\u00b2\u00b2</Year>"),
        "day of 5000 digits": _xml(pubdate=f"<Year>2021</Year><Day>{'9' * 5000}</Day>"),
        "day 32": _xml(pubdate="<Year>2021</Year><Month>Jan</Month><Day>32</Day>"),
        "month of 5000 digits": _xml(pubdate=f"<Year>2021</Year><Month>{'1' * 5000}</Month><Day>40</Day>"),
        "medline date 2099": _xml(pubdate="<MedlineDate>2099 Jan-Feb</MedlineDate>"),
        "title too long": _xml(title="T" * 1_001),
        "abstract too long": _xml(abstract=f"<Abstract><AbstractText>{'w ' * 10_001}</AbstractText></Abstract>"),
        "C1 control (CSI) in title": _xml(title="A&#x9b;B"),
        "ESC in abstract (XML 1.1)": _xml(abstract="<Abstract><AbstractText>a&#x1b;b</AbstractText></Abstract>")
        .replace('version="1.0"', 'version="1.1"'),
        "NUL character reference": _xml(title="A&#0;B"),
        "billion laughs": '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
                          "<PubmedArticleSet>&b;</PubmedArticleSet>",
        "external entity": '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                           "<PubmedArticleSet>&e;</PubmedArticleSet>",
        "another root": "<html><body/></html>",
        "truncated": _xml()[:300],
        "empty article set (replace)": efetch(),
        "deeply nested long title": _xml(title="<i>" * 5_000 + "A" * 1_001 + "</i>" * 5_000),
        "article without Article": "<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>5</PMID>"
                                   "</MedlineCitation></PubmedArticle></PubmedArticleSet>",
        "bad PMID": _xml().replace("<PMID Version=\"1\">101</PMID>", "<PMID>1e5</PMID>"),
        "latin-1 bytes": _xml(title="Caf\u00e9"),
    }
    for label, text in xml.items():
        data = text.encode("latin-1") if label == "latin-1 bytes" else text.encode("utf-8")
        cases[f"contents xml {label}"] = ("contents", "pubmed.xml", data, None, None)
    return cases


GENERATED = generated_cases()
HANDWRITTEN = handwritten_cases()
CASES = {**GENERATED, **HANDWRITTEN}


def kind_of(case: str) -> str:
    return "contents xml" if case.startswith("contents xml") else CASES[case][0]


def test_the_fuzz_pass_is_large_and_covers_every_kind():
    by_kind = pd.Series([kind_of(c) for c in CASES]).value_counts().to_dict()
    assert len(CASES) >= 50 and len(GENERATED) >= 50
    assert min(by_kind.values()) >= 10 and set(by_kind) == {"hcps", "contents", "contents xml", "interactions",
                                                              "patients"}


@pytest.fixture(scope="module")
def loaded_file(tmp_path_factory):
    """A DuckDB file holding a valid load (the GOOD files), its snapshot and row counts."""
    tmp = tmp_path_factory.mktemp("fuzz")
    store = Store(f"duckdb:///{tmp / 'store.duckdb'}")
    load_good(store, tmp)
    return tmp / "store.duckdb", snapshot(store), store.counts()


@pytest.fixture
def loaded(loaded_file, tmp_path):
    """A copy of the valid load for one case (a case that wrongly loads cannot spoil the next)."""
    source, before, counts = loaded_file
    shutil.copyfile(source, tmp_path / "store.duckdb")
    return Store(f"duckdb:///{tmp_path / 'store.duckdb'}"), before, counts, tmp_path


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_file_ends_in_a_clear_error_and_changes_nothing(loaded, case):
    store, before, counts, tmp = loaded
    kind, name, data, row, column = CASES[case]
    path = tmp / name
    path.write_bytes(data)
    with pytest.raises(ValidationError) as info:
        ingest_file(store, kind, path)
    message = str(info.value)
    assert message.startswith(f"{name}: ") and "error(s): " in message and "\n" not in message
    errors = info.value.report.errors
    assert errors and all(p.file == name and p.rule for p in errors)
    if row is not None:
        assert any(p.row == row and (column is None or p.column == column) for p in errors), errors
    assert store.counts() == counts
    after = snapshot(store)
    for table, frame in before.items():
        pd.testing.assert_frame_equal(frame, after[table])


CLI_SAMPLE = ["hcps header only (replace)", "hcps repeated header column", "interactions interaction_id 20 digits",
              "patients state control NUL", "contents xml year of 5000 digits"]


def test_cli_sample_exits_1_with_one_line_and_no_traceback(loaded):
    store, _, counts, tmp_path = loaded
    env = {**os.environ, "DATABASE_URL": store.url, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    for case in CLI_SAMPLE:
        kind, name, data, _, _ = CASES[case]
        path = tmp_path / name
        path.write_bytes(data)
        done = subprocess.run([sys.executable, "-m", "engine", "ingest", kind, str(path), "--quiet"],
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
        assert done.returncode == 1, (case, done.stderr)
        assert "Traceback" not in done.stderr, (case, done.stderr)
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith(f"error: {name}: ") and last.endswith("(nothing was loaded)"), (case, last)
        assert store.counts() == counts
