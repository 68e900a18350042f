"""Readers of the real formats: happy paths and every kind of bad input."""
import pandas as pd
import pytest

from engine.data import ingest
from engine.data.ingest import (npi_is_valid, read_hcps, read_interactions_csv, read_patients, read_pubmed_csv,
                                read_pubmed_xml)
from engine.data.validation import ValidationError


def make_npi(prefix9: str) -> str:
    """A valid NPI from 9 leading digits (Luhn check digit over '80840' + digits)."""
    for check in "0123456789":
        if npi_is_valid(prefix9 + check):
            return prefix9 + check
    raise AssertionError(prefix9)


NPI_A, NPI_B, NPI_C = make_npi("123456789"), make_npi("198765432"), make_npi("155555555")


def write(tmp_path, name: str, text: str | bytes):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def reduced_hcps(rows=None) -> str:
    rows = rows or [
        f"{NPI_A},1,SMITH,ANNA,MD,BOSTON,MA,021384000,207RC0000X,Other",
        f"{NPI_B},1,JONES,BOB,NP,AUSTIN,TX,78701,363LF0000X,Other",
        f"{NPI_C},1,LEE,CARA,,DENVER,CO,802,999999999X,Cardiology",
    ]
    return "hcp_id,Entity Type Code,last_name,first_name,credential,city,state,zip,taxonomy_code,speciality\n" + \
        "\n".join(rows) + "\n"


# -- NPI ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("npi, ok", [
    ("1234567893", True), ("1234567890", False), ("123456789", False), ("12345678931", False),
    ("abcdefghij", False), ("3234567893", False), ("", False), (None, False),
])
def test_npi_check_digit(npi, ok):
    assert npi_is_valid(npi) is ok


# -- HCPs ---------------------------------------------------------------------------------------
def test_reduced_hcp_master_form(tmp_path):
    hcps, report = read_hcps(write(tmp_path, "hcp_master.csv", reduced_hcps()))
    assert report.ok, report.summary()
    assert list(hcps["hcp_id"]) == [NPI_A, NPI_B, NPI_C]
    assert list(hcps["specialty"]) == ["Cardiology", "Nurse Practitioner", "Cardiology"]  # last: file fallback
    assert list(hcps["zip"]) == ["02138", "78701", "00802"]
    assert list(hcps["territory"]) == ["Northeast", "Southwest", "West"]
    assert list(hcps["segment"]) == ["Core", "Growth", "Core"]
    assert hcps["consent_webinar"].all()


def test_a_row_without_taxonomy_code_keeps_its_own_specialty_word(tmp_path):
    rows = [f"{NPI_A},1,SMITH,ANNA,,BOSTON,MA,02138,,Librarian",      # no code: the file's word
            f"{NPI_B},1,JONES,BOB,,AUSTIN,TX,78701,999999999X,Librarian",  # unknown code: not a specialty
            f"{NPI_C},1,LEE,CARA,,DENVER,CO,80202,,"]                     # neither
    hcps, report = read_hcps(write(tmp_path, "hcp_master.csv", reduced_hcps(rows)))
    assert report.ok, report.summary()
    assert list(hcps["specialty"]) == ["Librarian", "Other", "Other"]
    assert list(hcps["segment"]) == ["Maintain", "Maintain", "Maintain"]


def test_nppes_original_columns_primary_taxonomy_and_organisations(tmp_path):
    header = ["NPI", "Entity Type Code", "Provider Organization Name (Legal Business Name)",
              "Provider Last Name (Legal Name)", "Provider First Name", "Provider Credential Text",
              "Provider Business Practice Location Address City Name",
              "Provider Business Practice Location Address State Name",
              "Provider Business Practice Location Address Postal Code",
              "Healthcare Provider Taxonomy Code_1", "Healthcare Provider Primary Taxonomy Switch_1",
              "Healthcare Provider Taxonomy Code_2", "Healthcare Provider Primary Taxonomy Switch_2"]
    rows = [
        [NPI_A, "1", "", "SMITH", "ANNA", "M.D.", "BOSTON", "MA", "021384000", "207R00000X", "N", "207RE0101X", "Y"],
        [NPI_B, "2", "ACME CLINIC", "", "", "", "AUSTIN", "TX", "78701", "261QP2300X", "Y", "", ""],
        [NPI_C, "", "", "", "", "", "", "", "", "", "", "", ""],  # deactivated NPI
    ]
    text = "\n".join(",".join(f'"{v}"' for v in row) for row in [header, *rows]) + "\n"
    hcps, report = read_hcps(write(tmp_path, "npidata_pfile.csv", text))
    assert report.ok, report.summary()
    assert len(hcps) == 1
    row = hcps.iloc[0]
    assert (row["hcp_id"], row["last_name"], row["taxonomy_code"], row["specialty"], row["zip"]) == \
        (NPI_A, "SMITH", "207RE0101X", "Endocrinology", "02138")
    assert report.stats["organisations_skipped"] == 1 and report.stats["deactivated_skipped"] == 1


def test_email_opt_out_is_deterministic_and_documented_share():
    ids = pd.Series([make_npi(f"1{i:08d}") for i in range(2000)])
    first, second = ingest.default_consents(ids), ingest.default_consents(ids)
    pd.testing.assert_frame_equal(first, second)
    share = 1 - first["consent_email"].mean()
    assert abs(share - ingest.EMAIL_OPT_OUT_PERCENT / 100) < 0.02
    assert first.drop(columns="consent_email").all().all()


def test_consent_columns_of_the_file_override_the_defaults_and_bad_flags_are_errors(tmp_path):
    text = ("hcp_id,last_name,taxonomy_code,consent_email,Consent Rep Visit\n"
            f"{NPI_A},SMITH,207RC0000X,no,1\n{NPI_B},JONES,207RC0000X,TRUE,n\n{NPI_C},LEE,207RC0000X,,yes\n")
    hcps, report = read_hcps(write(tmp_path, "consents.csv", text))
    assert report.ok, report.summary()
    defaults = ingest.default_consents(hcps["hcp_id"])
    assert hcps["consent_email"].tolist() == [False, True, bool(defaults["consent_email"].iloc[2])]  # blank: default
    assert hcps["consent_rep_visit"].tolist() == [True, False, True] and hcps["consent_webinar"].all()
    bad = "hcp_id,last_name,consent_webinar\n" + f"{NPI_A},SMITH,maybe\n"
    _, report = read_hcps(write(tmp_path, "bad.csv", bad))
    assert [(p.row, p.column, p.value, p.rule) for p in report.errors] == [
        (2, "consent_webinar", "maybe", "bad consent flag (expected true/false, yes/no or 1/0)")]


def test_every_invalid_npi_is_reported_with_its_row(tmp_path):
    rows = [f"{NPI_A},1,A,A,,X,MA,02138,207Q00000X,Other",
            "1234567890,1,B,B,,X,MA,02138,207Q00000X,Other",
            "12345,1,C,C,,X,MA,02138,207Q00000X,Other",
            f"{NPI_B},1,D,D,,X,MA,02138,207Q00000X,Other",
            "1999999999,1,E,E,,X,MA,02138,207Q00000X,Other"]
    hcps, report = read_hcps(write(tmp_path, "h.csv", reduced_hcps(rows)))
    assert [(p.row, p.rule) for p in report.errors] == [
        (3, "invalid NPI check digit"), (4, "invalid NPI (expected 10 digits)"), (6, "invalid NPI check digit")]
    assert hcps.empty
    with pytest.raises(ValidationError, match=r"h\.csv: 3 error\(s\): row 3, column 'hcp_id'.*1234567890"):
        report.raise_if_errors()


def test_duplicate_npi_is_an_error(tmp_path):
    rows = [f"{NPI_A},1,A,A,,X,MA,02138,207Q00000X,Other", f"{NPI_A},1,B,B,,X,MA,02138,207Q00000X,Other"]
    _, report = read_hcps(write(tmp_path, "h.csv", reduced_hcps(rows)))
    assert [(p.row, p.column, p.rule) for p in report.errors] == [(3, "hcp_id", "duplicate hcp_id")]
    assert "first on row 2" in report.errors[0].value


def test_wrong_columns_name_what_is_missing(tmp_path):
    _, report = read_hcps(write(tmp_path, "h.csv", "id,name\n1,x\n"))
    message = str(ValidationError(report))
    assert "missing required column" in message and "hcp_id or NPI" in message and "header: id, name" in message


# -- CSV-level problems -------------------------------------------------------------------------
def test_non_utf8_bytes_name_every_bad_line(tmp_path):
    text = reduced_hcps().encode() + "9999999999,1,M\xdcLLER,X,,K\xd6LN,NY,10001,207Q00000X,Other\n".encode("latin-1")
    with pytest.raises(ValidationError) as info:
        read_hcps(write(tmp_path, "latin.csv", text))
    report = info.value.report
    assert [p.row for p in report.errors] == [5, 5]
    assert "latin.csv" in str(info.value) and "not UTF-8" in str(info.value) and "\\xdc" in str(info.value)


def test_utf8_bom_is_accepted(tmp_path):
    _, report = read_hcps(write(tmp_path, "bom.csv", b"\xef\xbb\xbf" + reduced_hcps().encode()))
    assert report.ok


def test_truncated_file_unterminated_quote(tmp_path):
    text = reduced_hcps() + f'{NPI_A[:-1]}7,1,"SMI'
    _, report = read_hcps(write(tmp_path, "cut.csv", text))
    assert [(p.row, p.rule) for p in report.errors] == [(5, "unterminated quoted field at end of file (file truncated?)")]


def test_ragged_rows_are_errors(tmp_path):
    text = reduced_hcps() + f"{NPI_A},1,SMITH,AN\n"
    _, report = read_hcps(write(tmp_path, "ragged.csv", text))
    assert [(p.row, p.value) for p in report.errors] == [(5, "4 fields")]
    assert report.errors[0].rule.startswith("wrong number of fields (header has 10")


def test_empty_file(tmp_path):
    with pytest.raises(ValidationError, match="empty.csv.*empty file"):
        read_hcps(write(tmp_path, "empty.csv", ""))


# -- PubMed CSV ---------------------------------------------------------------------------------
def test_pubmed_csv_empty_abstract_and_duplicate_pmid(tmp_path):
    text = ('PMID,Title,Abstract,Topic\n'
            '111,"First, a title","Line one\nline two",Oncology Treatment Update\n'
            '222,Second,,Respiratory Care\n'
            '111,First again,other,Diabetes Management\n'
            '333,Third,Text,Thyroid Disorders\n')
    contents, report = read_pubmed_csv(write(tmp_path, "pubmed.csv", text))
    assert report.ok
    assert list(contents["content_id"]) == ["PMID111", "PMID222", "PMID333"]
    assert contents["abstract"].iloc[0] == "Line one\nline two"
    assert contents["abstract"].iloc[1] == ""
    assert contents["therapeutic_area"].iloc[0] == "Oncology Treatment Update"
    assert [(p.row, p.column) for p in report.warnings] == [(5, "pmid"), (4, "abstract")]  # rows count file lines
    assert report.stats == {"rows_read": 4, "duplicates_dropped": 1, "empty_abstracts": 1, "rows_kept": 3}


def test_pubmed_csv_bad_dates_and_pmids(tmp_path):
    text = ("PMID,Title,Abstract,publication_date\n1,A,x,2021-02-30\n2,B,y,2021-03-01\nabc,C,z,soon\n")
    _, report = read_pubmed_csv(write(tmp_path, "p.csv", text))
    assert sorted((p.row, p.column, p.rule.split(" (")[0]) for p in report.errors) == [
        (2, "publication_date", "bad date"), (4, "pmid", "bad PMID"), (4, "publication_date", "bad date")]


def test_pubmed_csv_dates_give_a_two_year_approval_window(tmp_path):
    contents, _ = read_pubmed_csv(write(tmp_path, "p.csv", "PMID,Title,Abstract,publication_date\n1,A,x,2021-03-15\n"))
    row = contents.iloc[0]
    assert row["approval_start"] == pd.Timestamp("2021-03-15")
    assert row["approval_end"] == pd.Timestamp("2023-03-15")


# -- PubMed XML ---------------------------------------------------------------------------------
def article(pmid, title, abstract_xml="", pubdate="<Year>2021</Year><Month>Mar</Month><Day>05</Day>", extra=""):
    return f"""<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{pmid}</PMID>
<Article PubModel="Print"><Journal><JournalIssue CitedMedium="Internet"><PubDate>{pubdate}</PubDate></JournalIssue>
</Journal><ArticleTitle>{title}</ArticleTitle>{abstract_xml}{extra}</Article></MedlineCitation></PubmedArticle>"""


def efetch(*articles):
    return ('<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN"'
            ' "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n<PubmedArticleSet>\n'
            + "\n".join(articles) + "\n</PubmedArticleSet>\n")


def test_pubmed_xml_structured_abstract_missing_abstract_duplicates_and_dates(tmp_path):
    structured = ('<Abstract><AbstractText Label="BACKGROUND" NlmCategory="BACKGROUND">Why <i>it</i> matters.'
                  '</AbstractText><AbstractText Label="RESULTS">It worked.</AbstractText></Abstract>')
    text = efetch(
        article(101, "Insulin <sup>2</sup> trial", structured),
        article(102, "No abstract here", pubdate="<MedlineDate>2019 Dec-2020 Jan</MedlineDate>"),
        article(101, "Duplicate", "<Abstract><AbstractText>dup</AbstractText></Abstract>"),
        article(103, "Epub only", "<Abstract><AbstractText>plain</AbstractText></Abstract>", pubdate="",
                extra='<ArticleDate DateType="Electronic"><Year>2022</Year><Month>07</Month><Day>09</Day></ArticleDate>'),
    )
    contents, report = read_pubmed_xml(write(tmp_path, "efetch.xml", text), therapeutic_area="Diabetes Management")
    assert report.ok, report.summary()
    assert list(contents["content_id"]) == ["PMID101", "PMID102", "PMID103"]
    assert contents["abstract"].iloc[0] == "BACKGROUND: Why it matters.\nRESULTS: It worked."
    assert contents["title"].iloc[0] == "Insulin 2 trial"
    assert contents["abstract"].iloc[1] == ""
    assert list(contents["publication_date"]) == [pd.Timestamp("2021-03-05"), pd.Timestamp("2019-12-01"),
                                                  pd.Timestamp("2022-07-09")]
    assert (contents["therapeutic_area"] == "Diabetes Management").all()
    assert sorted((p.row, p.rule) for p in report.warnings) == [(2, "empty abstract (kept; title only)"),
                                                                (3, "duplicate pmid")]


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE PubmedArticleSet [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article><ArticleTitle>&lol9;</ArticleTitle>
</Article></MedlineCitation></PubmedArticle></PubmedArticleSet>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE PubmedArticleSet [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article><ArticleTitle>&secret;</ArticleTitle>
</Article></MedlineCitation></PubmedArticle></PubmedArticleSet>"""


@pytest.mark.parametrize("text, entity", [(BILLION_LAUGHS, "lol"), (EXTERNAL_ENTITY, "secret")])
def test_xml_entities_are_refused_not_expanded(tmp_path, text, entity):
    with pytest.raises(ValidationError, match=rf"bomb\.xml: 1 error\(s\): refused: the XML declares entities.*{entity}"):
        read_pubmed_xml(write(tmp_path, "bomb.xml", text))


def test_truncated_xml_names_line(tmp_path):
    text = efetch(article(1, "A"), article(2, "B"))
    with pytest.raises(ValidationError, match=r"cut\.xml.*malformed or truncated XML.*line \d+"):
        read_pubmed_xml(write(tmp_path, "cut.xml", text[: len(text) // 2]))


def test_xml_with_another_root_is_refused(tmp_path):
    with pytest.raises(ValidationError, match="expected <PubmedArticleSet>"):
        read_pubmed_xml(write(tmp_path, "other.xml", "<eSearchResult><Count>0</Count></eSearchResult>"))


# -- interactions -------------------------------------------------------------------------------
def test_interactions_normalise_channels_derive_engaged_and_number_ids(tmp_path):
    text = ("hcp_id,content_id,timestamp,channel,campaign_id,outcome,dwell_seconds,converted\n"
            f"{NPI_A},PMID1,2024-01-02 10:00:00,in-person,CMP_1,attended,30,yes\n"
            f"{NPI_A},PMID2,2024-01-03T09:00:00+02:00,Email,,delivered,,\n"
            f"{NPI_B},PMID1,01/04/2024,Social Event,,Opened,5.5,0\n")
    frame, report = read_interactions_csv(write(tmp_path, "crm.csv", text))
    assert report.ok, report.summary()
    assert list(frame["channel"]) == ["in_person", "email", "social_event"]
    assert list(frame["outcome"]) == ["attended", "delivered", "opened"]
    assert list(frame["engaged"]) == [True, False, True]
    assert list(frame["interaction_id"]) == [1, 2, 3] and report.stats["generated_ids"]
    assert frame["timestamp"].iloc[1] == pd.Timestamp("2024-01-03 07:00:00")
    assert frame["timestamp"].iloc[2] == pd.Timestamp("2024-01-04")


def test_interactions_outcome_from_engaged_and_channel_from_campaign(tmp_path):
    text = ("interaction_id,hcp_id,content_id,timestamp,campaign_id,engaged\n"
            f"7,{NPI_A},C1,2024-01-02,CMP_1,true\n8,{NPI_A},C1,2024-01-03,CMP_2,false\n")
    campaigns = pd.DataFrame({"campaign_id": ["CMP_1", "CMP_2"], "channel": ["webinar", "rep visit"]})
    frame, report = read_interactions_csv(write(tmp_path, "crm.csv", text), campaigns=campaigns)
    assert report.ok, report.summary()
    assert list(frame["channel"]) == ["webinar", "rep_visit"]
    assert list(frame["outcome"]) == ["opened", "delivered"]
    assert list(frame["interaction_id"]) == [7, 8]


def test_interactions_every_bad_row_is_reported(tmp_path):
    text = ("interaction_id,hcp_id,content_id,timestamp,channel,outcome,engaged\n"
            f"1,{NPI_A},C1,2024-01-02,fax,opened,true\n"
            f"2,{NPI_A},C1,last tuesday,email,opened,true\n"
            f"2,{NPI_A},C1,2024-01-03,email,read,true\n"
            f"4,{NPI_A},C1,2024-01-03,email,delivered,true\n")
    _, report = read_interactions_csv(write(tmp_path, "crm.csv", text))
    found = sorted((p.row, p.column, p.rule.split(" (")[0]) for p in report.errors)
    assert found == [(2, "channel", "unknown channel"), (3, "timestamp", "bad timestamp"),
                     (4, "interaction_id", "duplicate interaction_id"), (4, "outcome", "unknown outcome"),
                     (5, "engaged", "engaged contradicts outcome")]


def test_interactions_without_outcome_or_engaged_columns(tmp_path):
    _, report = read_interactions_csv(write(tmp_path, "crm.csv", f"hcp_id,content_id,timestamp,channel\n{NPI_A},C,2024-01-01,email\n"))
    assert [(p.column, p.rule) for p in report.errors] == [("outcome or engaged", "missing required column")]


# -- patients -----------------------------------------------------------------------------------
def test_patients_seed_form(tmp_path):
    text = ("patient_id,birthdate,race,ethnicity,gender,city,state,zip,assigned_specialty,hcp_id\n"
            f"p1,6/5/2003,white,hispanic,M,Chicopee,Massachusetts,01020,Endocrinology,{NPI_A}\n"
            f"p2,2012-03-08,white,nonhispanic,F,Waltham,Massachusetts,0,Cardiology,{NPI_B}\n")
    patients, report = read_patients(write(tmp_path, "patients.csv", text))
    assert report.ok, report.summary()
    assert list(patients["birthdate"]) == [pd.Timestamp("2003-06-05"), pd.Timestamp("2012-03-08")]
    assert list(patients["state"]) == ["MA", "MA"]
