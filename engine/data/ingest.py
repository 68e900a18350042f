"""Readers for the real input formats, and atomic loading into the store.

Each reader returns ``(frame, report)``: the frame conformed to its ``engine.data.schemas``
table (only the rows that can be loaded) and a :class:`ValidationReport` listing every problem
of the file. :func:`ingest_file` loads a file only when its report holds no error, in one
transaction, so nothing already stored is lost or half-written.

Formats
-------
- HCPs: the NPPES CSV with its own column names, or the reduced ``hcp_master.csv`` form.
- Contents: PubMed CSV (PMID, Title, Abstract, Topic) or E-utilities efetch XML.
- Interactions: CRM export CSV. Patients: Synthea-style CSV linked to an HCP.

Files are read whole into memory (NPPES state or specialty extracts, not the 10 GB national
file), must be UTF-8 (a byte-order mark is accepted) and comma-separated.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import time
from pathlib import Path
from xml.etree.ElementTree import ParseError

import numpy as np
import pandas as pd

from engine.config import CHANNELS, Settings
from engine.data import nucc, reference
from engine.data.schemas import OUTCOMES, TABLES, normalize_channel
from engine.data.store import Store, conform
from engine.data.validation import (ValidationError, ValidationReport, check_allowed, check_bools, check_dates,
                                    check_duplicates, check_numbers, check_required, check_text, fatal,
                                    horizon_days)
from engine.progress import QUIET, Progress

#: Share of HCPs (in percent) given ``consent_email = False`` by :func:`default_consents`.
EMAIL_OPT_OUT_PERCENT = 5

#: Default content approval window after publication (see :func:`read_pubmed_csv`).
APPROVAL_YEARS = 2

KINDS = ("hcps", "contents", "interactions", "patients")

_MAX_ENCODING_PROBLEMS = 100


# -- low-level CSV reading -------------------------------------------------------------------------
def _name(path) -> str:
    return Path(path).name


def read_text(path) -> str:
    """The file decoded as UTF-8; every invalid byte sequence is a problem naming its line.

    Raises
    ------
    ValidationError
        When the file is not UTF-8 (lists the lines with bad bytes).
    """
    data = Path(path).read_bytes()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="surrogateescape")  # bad bytes become lone surrogates
    report = ValidationReport(_name(path))
    line, pos, found = 1, 0, 0
    for match in re.finditer("[\udc80-\udcff]+", text):
        found += 1
        if found > _MAX_ENCODING_PROBLEMS:
            continue
        line += text.count("\n", pos, match.start())
        pos = match.start()
        bad = match.group().encode("utf-8", errors="surrogateescape")
        report.error(line, None, repr(bad)[2:-1], "not UTF-8: invalid byte(s) (re-save the file as UTF-8)")
    report.stats["invalid_byte_sequences"] = found
    raise ValidationError(report)


def read_csv_records(path, report: ValidationReport) -> tuple[pd.DataFrame, pd.Series]:
    """All records of a CSV as strings (header names as in the file) and their line numbers.

    Blank lines are skipped. A record with the wrong number of fields, a malformed quote or
    an unterminated quoted field at the end (a truncated file) is an error naming its line;
    such records are left out of the frame.

    Raises
    ------
    ValidationError
        An empty file, a malformed header, or a header naming a column twice (which column
        would be meant?).
    """
    text = read_text(path)
    if not text.strip():
        raise fatal(report.file, "empty file (expected a header line)")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except csv.Error as exc:
        raise fatal(report.file, f"malformed header line ({exc})", row=1) from None
    seen = set()
    for name in header:
        if name in seen:
            report.error(1, name, None, "duplicate column name in header")
        seen.add(name)
    report.raise_if_errors()
    rows, lines = [], []
    previous_end = reader.line_num
    while True:
        start = previous_end + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            truncated = "unexpected end of data" in str(exc)
            rule = ("unterminated quoted field at end of file (file truncated?)" if truncated
                    else f"malformed CSV record ({exc})")
            report.error(start, None, None, rule)
            if truncated:
                break
            previous_end = reader.line_num
            continue
        previous_end = reader.line_num
        if not record or all(not field.strip() for field in record):
            continue
        if len(record) != len(header):
            report.error(start, None, f"{len(record)} fields",
                         f"wrong number of fields (header has {len(header)}; file truncated or unquoted comma?)")
            continue
        rows.append(record)
        lines.append(start)
    frame = pd.DataFrame(rows, columns=header, dtype=object) if rows else pd.DataFrame(columns=header, dtype=object)
    report.stats["rows_read"] = len(rows)
    return frame, pd.Series(lines, dtype="int64")


def _key(name: str) -> str:
    """Header names compare by letters and digits only: 'Provider First Name' ~ 'provider_first_name'."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def map_columns(frame: pd.DataFrame, report: ValidationReport, spec: dict[str, tuple[str, ...]],
                required: tuple[str, ...]) -> pd.DataFrame:
    """Rename accepted header spellings to canonical names; missing required ones are errors.

    ``spec`` maps each canonical name to its accepted spellings (compared by :func:`_key`).
    Columns not in ``spec`` are ignored (NPPES files carry hundreds).
    """
    by_key = {}
    for column in frame.columns:
        by_key.setdefault(_key(column), column)
    renamed = {}
    for canonical, spellings in spec.items():
        for spelling in (canonical, *spellings):
            if _key(spelling) in by_key:
                renamed[canonical] = frame[by_key[_key(spelling)]]
                break
        else:
            if canonical in required:
                report.error(None, " or ".join((canonical, *spellings)), _header(frame.columns),
                             "missing required column")
    out = pd.DataFrame({name: values.str.strip() for name, values in renamed.items()}, index=frame.index, dtype=object)
    return out.where(out.notna() & (out != ""), None)


def _header(columns) -> str:
    return "header: " + ", ".join(map(str, columns))


def _missing_columns(report: ValidationReport) -> bool:
    return any(p.rule.startswith("missing required column") for p in report.errors)


def _empty(table: str) -> pd.DataFrame:
    return conform(table, pd.DataFrame({c.name: [] for c in TABLES[table]}))


def _finish(table: str, frame: pd.DataFrame, report: ValidationReport) -> pd.DataFrame:
    """Every reader's last step: the conformed frame, or an empty one when the file has errors."""
    report.stats["rows_kept"] = len(frame)
    return conform(table, frame) if report.ok else _empty(table)


# -- HCPs ----------------------------------------------------------------------------------------
_HCP_COLUMNS = {
    "hcp_id": ("NPI",),
    "entity_type": ("Entity Type Code",),
    "last_name": ("Provider Last Name (Legal Name)",),
    "first_name": ("Provider First Name",),
    "credential": ("Provider Credential Text",),
    "city": ("Provider Business Practice Location Address City Name",),
    "state": ("Provider Business Practice Location Address State Name",),
    "zip": ("Provider Business Practice Location Address Postal Code", "postal_code"),
    "taxonomy_code": ("Healthcare Provider Taxonomy Code_1",),
    "speciality": ("specialty",),
    **{f"consent_{c}": () for c in CHANNELS},
}
#: accepted spellings of a consent flag (compared lower-case)
_CONSENT_VALUES = {"true": True, "yes": True, "y": True, "1": True, "false": False, "no": False, "n": False, "0": False}
_NPPES_SLOTS = 15
_TAXONOMY_PATTERN = re.compile(r"^[0-9]{3}[0-9A-Z]{6}X$")


def npi_check_digit(base9: np.ndarray) -> np.ndarray:
    """Check digits of 9-digit NPI bases (vectorised over an int array).

    The NPI check digit is the Luhn check digit of the 9 leading digits prefixed with ``80840``
    (the ISO card-issuer prefix for US health identifiers).
    """
    base9 = np.asarray(base9, dtype=np.int64)
    digits = np.stack([(base9 // 10 ** (8 - k)) % 10 for k in range(9)], axis=-1)
    # Luhn doubles every second digit from the right of the full number incl. the check digit:
    # for the 9-digit base those are positions 0, 2, 4, 6, 8; the prefix 80840 contributes 24.
    doubled = digits[..., 0::2] * 2
    total = 24 + (doubled // 10 + doubled % 10).sum(axis=-1) + digits[..., 1::2].sum(axis=-1)
    return (10 - total % 10) % 10


def npi_valid_mask(values: pd.Series) -> pd.Series:
    """True where a value is a 10-digit individual/organisation NPI with the right check digit."""
    text = values.astype(object).where(values.notna(), "").astype(str).str.strip()
    shaped = text.str.fullmatch(r"[12][0-9]{9}").fillna(False).to_numpy(dtype=bool)
    valid = np.zeros(len(text), dtype=bool)
    if shaped.any():
        numbers = text[shaped].astype(np.int64).to_numpy()
        valid[shaped] = numbers % 10 == npi_check_digit(numbers // 10)
    return pd.Series(valid, index=values.index)


def npi_is_valid(npi) -> bool:
    """True for a 10-digit NPI whose check digit is right.

    >>> npi_is_valid("1234567893"), npi_is_valid("1234567890")
    (True, False)
    """
    return bool(npi_valid_mask(pd.Series([npi], dtype=object)).iloc[0])


def _map_unique(values: pd.Series, func) -> pd.Series:
    """``values.map(func)`` evaluated once per distinct value (codes and states repeat a lot)."""
    uniques = values.dropna().unique()
    return values.map(dict(zip(uniques, map(func, uniques))))


def normalize_zip(value) -> str | None:
    """5-digit ZIP as text; restores leading zeros lost by spreadsheets ('2138' -> '02138',
    '21384000' -> '02138' from a ZIP+4)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    digits = re.sub(r"[^0-9]", "", str(value))
    if not digits.strip("0"):
        return None
    return digits.zfill(9)[:5] if len(digits) > 5 else digits.zfill(5)


def default_consents(hcp_ids: pd.Series) -> pd.DataFrame:
    """Consent flags for files that carry none (NPPES has no consent data).

    Every channel is consented, except that a deterministic :data:`EMAIL_OPT_OUT_PERCENT`
    percent of HCPs have opted out of email: those whose ``sha256(NPI)`` (first 8 hex digits,
    modulo 100) is below the percentage. The same NPI always gets the same flags, so
    re-ingesting a file changes nothing.
    """
    buckets = hcp_ids.map(lambda npi: int(hashlib.sha256(str(npi).encode()).hexdigest()[:8], 16) % 100)
    consents = pd.DataFrame({f"consent_{c}": True for c in CHANNELS}, index=hcp_ids.index)
    consents["consent_email"] = (buckets >= EMAIL_OPT_OUT_PERCENT).to_numpy()
    return consents


def _nppes_primary_taxonomy(raw: pd.DataFrame) -> pd.Series | None:
    """The primary taxonomy (switch 'Y') of NPPES rows, else the first code; None for reduced files."""
    keys = {_key(c): c for c in raw.columns}
    codes = [keys.get(f"healthcare_provider_taxonomy_code_{i}") for i in range(1, _NPPES_SLOTS + 1)]
    switches = [keys.get(f"healthcare_provider_primary_taxonomy_switch_{i}") for i in range(1, _NPPES_SLOTS + 1)]
    if not codes[0] or not switches[0]:
        return None
    primary = pd.Series(None, index=raw.index, dtype=object)
    for code_col, switch_col in zip(codes, switches):
        if code_col is None or switch_col is None:
            break
        is_primary = primary.isna() & (raw[switch_col].astype(str).str.strip().str.upper() == "Y")
        primary = primary.where(~is_primary, raw[code_col])
    return primary.where(primary.notna() & (primary.astype(str).str.strip() != ""), raw[codes[0]])


def read_hcps(path, progress: Progress = QUIET) -> tuple[pd.DataFrame, ValidationReport]:
    """Read HCPs from an NPPES CSV (original column names) or the reduced ``hcp_master`` form.

    Rules
    -----
    - Only individuals are kept (``Entity Type Code`` 1); organisations (2) and deactivated
      records (blank type) are skipped and counted in ``report.stats``.
    - The NPI must be 10 digits with a valid check digit (:func:`npi_is_valid`); duplicates are
      errors.
    - ``specialty`` comes from the NUCC taxonomy code (:func:`engine.data.nucc.specialty_for_taxonomy`,
      NPPES: the primary taxonomy); the file's own coarse ``speciality`` (or ``specialty``)
      column is used only when the code is unknown to the mapping: one of
      :data:`engine.data.nucc.SPECIALTIES`, or any value as written when the row has no code at all.
    - ``zip`` is a 5-digit string; ``state`` a two-letter code; ``territory`` from the state;
      ``segment`` from the specialty (:func:`engine.data.reference.segment_for_specialty`).
    - Consents: the file's ``consent_<channel>`` columns when present (true/false, yes/no, 1/0;
      anything else is an error), else :func:`default_consents` (all channels, a documented share
      opted out of email).
    """
    report = ValidationReport(_name(path))
    raw, lines = read_csv_records(path, report)
    frame = map_columns(raw, report, _HCP_COLUMNS, required=("hcp_id", "last_name"))
    if _missing_columns(report):
        return _empty("hcps"), report
    primary = _nppes_primary_taxonomy(raw)
    if primary is not None:
        frame["taxonomy_code"] = primary.map(lambda v: v.strip() if isinstance(v, str) and v.strip() else None)
    progress("ingest", f"{report.file}: {len(frame)} records read")

    keep = pd.Series(True, index=frame.index)
    if "entity_type" in frame:
        entity = frame["entity_type"].fillna("").astype(str).str.strip()
        organisations, deactivated = entity == "2", entity == ""
        unknown = ~entity.isin(["1", "2", ""])
        for line, value in zip(lines[unknown], entity[unknown]):
            report.error(line, "Entity Type Code", value, "bad entity type code (expected 1 or 2)")
        report.stats["organisations_skipped"] = int(organisations.sum())
        report.stats["deactivated_skipped"] = int(deactivated.sum())
        keep &= entity == "1"
    frame, lines = frame[keep], lines[keep]
    check_text("hcps", frame, lines, report)

    npi = frame["hcp_id"]
    present = check_required(npi, lines, report, "hcp_id")
    valid = npi_valid_mask(npi)
    for line, value in zip(lines[present & ~valid], npi[present & ~valid]):
        shape_ok = str(value).isdigit() and len(str(value)) == 10
        report.error(line, "hcp_id", value, "invalid NPI check digit" if shape_ok else "invalid NPI (expected 10 digits)")
    check_duplicates(npi.where(valid, None), lines, report, "hcp_id")
    check_required(frame["last_name"], lines, report, "last_name")

    codes = frame.get("taxonomy_code", pd.Series(None, index=frame.index, dtype=object))
    codes = _map_unique(codes, lambda v: nucc.normalize_taxonomy(v) or None)
    malformed = codes.notna() & ~codes.astype(object).where(codes.notna(), "").str.fullmatch(_TAXONOMY_PATTERN.pattern)
    for line, value in zip(lines[malformed], codes[malformed]):
        report.warning(line, "taxonomy_code", value, "malformed NUCC taxonomy code (specialty 'Other')")
    known = _map_unique(codes, nucc.is_known_taxonomy).fillna(False).astype(bool)
    specialty = _map_unique(codes, nucc.specialty_for_taxonomy).fillna(nucc.OTHER)
    if "speciality" in frame:
        # a row without any code speaks the file's own vocabulary (a CRM list, an occupation): kept as written
        fallback = frame["speciality"].where(frame["speciality"].isin(nucc.SPECIALTIES) | codes.isna())
        use_fallback = ~known & fallback.notna()
        specialty = specialty.where(~use_fallback, fallback)
    report.stats["taxonomy_unmapped"] = int((~known).sum())

    state_raw = frame.get("state", pd.Series(None, index=frame.index, dtype=object))
    state = _map_unique(state_raw, reference.state_code)
    foreign = state_raw.notna() & state.isna()
    for line, value in zip(lines[foreign], state_raw[foreign]):
        report.warning(line, "state", value, "not a US state or territory (territory 'Unassigned')")

    hcps = pd.DataFrame({
        "hcp_id": npi,
        "first_name": frame.get("first_name"),
        "last_name": frame["last_name"],
        "credential": frame.get("credential"),
        "taxonomy_code": codes,
        "specialty": specialty,
        "city": frame.get("city"),
        "state": state.where(state.notna(), state_raw),
        "zip": _map_unique(frame["zip"], normalize_zip) if "zip" in frame else None,
        "territory": _map_unique(state, reference.territory_for_state).fillna(reference.UNASSIGNED),
        "segment": _map_unique(specialty, reference.segment_for_specialty),
    }, index=frame.index)
    consents = default_consents(npi)
    for column in (c for c in consents.columns if c in frame):
        given = frame[column].map(lambda v: None if v is None else _CONSENT_VALUES.get(str(v).strip().lower(), v))
        bad = given.notna() & ~given.isin([True, False])
        for line, value in zip(lines[bad], frame.loc[bad, column]):
            report.error(line, column, value, "bad consent flag (expected true/false, yes/no or 1/0)")
        consents[column] = given.where(given.isin([True, False]), consents[column]).astype(bool)
    hcps = pd.concat([hcps, consents], axis=1)
    return _finish("hcps", hcps, report), report


#: INTERFACES.md names; both formats are handled by :func:`read_hcps`.
read_nppes = read_hcps
read_hcp_master = read_hcps


# -- contents: PubMed CSV and XML ----------------------------------------------------------------
_CONTENT_COLUMNS = {
    "content_id": ("id",),
    "pmid": ("PMID",),
    "title": ("Title", "ArticleTitle"),
    "abstract": ("Abstract", "AbstractText"),
    "therapeutic_area": ("Topic",),
    "publication_date": ("PubDate", "date"),
    "approval_start": (),
    "approval_end": (),
}


def _finish_contents(frame: pd.DataFrame, lines: pd.Series, report: ValidationReport,
                     row_label: str = "row") -> pd.DataFrame:
    """Shared rules of both PubMed readers (frame of strings in, conformed contents out)."""
    check_text("contents", frame, lines, report)
    pmid = frame["pmid"] if "pmid" in frame else pd.Series(None, index=frame.index, dtype=object)
    bad_pmid = pmid.notna() & ~pmid.astype(str).str.fullmatch(r"[0-9]{1,9}")
    for line, value in zip(lines[bad_pmid], pmid[bad_pmid]):
        report.error(line, "pmid", value, "bad PMID (expected digits)")
    given = frame["content_id"] if "content_id" in frame else pd.Series(None, index=frame.index, dtype=object)
    no_id = given.isna() & pmid.isna()
    for line in lines[no_id]:
        report.error(line, "pmid", None, "missing PMID (and no content_id)")
    content_id = given.where(given.notna(), "PMID" + pmid.astype(str))
    check_required(frame["title"], lines, report, "title")

    duplicate_pmid = check_duplicates(pmid.where(~bad_pmid, None), lines, report, "pmid", severity="warning")
    duplicate_id = check_duplicates(content_id.where(~duplicate_pmid & ~no_id, None), lines, report, "content_id")
    report.stats["duplicates_dropped"] = int(duplicate_pmid.sum())

    abstract = frame["abstract"] if "abstract" in frame else pd.Series(None, index=frame.index, dtype=object)
    empty = abstract.isna() & ~duplicate_pmid
    for line in lines[empty]:
        report.warning(line, "abstract", None, "empty abstract (kept; title only)")
    report.stats["empty_abstracts"] = int(empty.sum())

    def dates(column):
        if column not in frame:
            return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us]")
        return check_dates(frame[column], lines, report, column, horizon_days=horizon_days("contents", column))

    published = dates("publication_date")
    start = dates("approval_start")
    start = start.where(start.notna(), published)
    end = dates("approval_end")
    end = end.where(end.notna(), start + pd.DateOffset(years=APPROVAL_YEARS))
    inverted = start.notna() & end.notna() & (end < start)
    for line, value in zip(lines[inverted], end[inverted]):
        report.error(line, "approval_end", str(value.date()), "approval_end before approval_start")

    contents = pd.DataFrame({
        "content_id": content_id, "pmid": pmid, "title": frame["title"], "abstract": abstract.fillna(""),
        "therapeutic_area": frame.get("therapeutic_area"), "publication_date": published,
        "approval_start": start, "approval_end": end,
    }, index=frame.index)[~duplicate_pmid & ~duplicate_id]
    return _finish("contents", contents, report)


def read_pubmed_csv(path, progress: Progress = QUIET) -> tuple[pd.DataFrame, ValidationReport]:
    """Read a PubMed CSV: ``PMID, Title, Abstract`` and optionally ``Topic`` (-> therapeutic_area),
    ``content_id``, ``publication_date``, ``approval_start``, ``approval_end``.

    Rules: ``content_id`` is the given id or ``PMID<pmid>``; an empty abstract is a warning
    (the row is kept with an empty abstract, its title still usable); a repeated PMID is a
    warning and only its first row is kept. The approval window defaults to
    ``[publication_date, publication_date + 2 years]`` (:data:`APPROVAL_YEARS`) and is open
    (null) when the file has no dates.
    """
    report = ValidationReport(_name(path))
    raw, lines = read_csv_records(path, report)
    frame = map_columns(raw, report, _CONTENT_COLUMNS, required=("title",))
    if "pmid" not in frame and "content_id" not in frame and not _missing_columns(report):
        report.error(None, "PMID or content_id", _header(raw.columns), "missing required column")
    if _missing_columns(report):
        return _empty("contents"), report
    progress("ingest", f"{report.file}: {len(frame)} records read")
    return _finish_contents(frame, lines, report), report


_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                       "nov", "dec"), start=1)}
_SEASONS = {"spring": 3, "summer": 6, "fall": 9, "autumn": 9, "winter": 12}


def _month(text) -> int:
    if not text:
        return 1
    text = str(text).strip().lower()
    if re.fullmatch("[0-9]{1,2}", text):
        return min(max(int(text), 1), 12)
    return _MONTHS.get(text[:3], _SEASONS.get(text, 1))


def _xml_date(node) -> str | None:
    """ISO date of a PubDate/ArticleDate/PubMedPubDate node (missing month/day -> 1)."""
    if node is None:
        return None
    year, day = (node.findtext("Year") or "").strip(), (node.findtext("Day") or "1").strip()
    if year:  # kept as text: a bad year or day becomes a "bad date" error that shows it
        return f"{year.zfill(4)}-{_month(node.findtext('Month')):02d}-{day.zfill(2)}"
    medline = node.findtext("MedlineDate")  # e.g. "2020 Jan-Feb", "2019 Dec-2020 Jan", "2021 Spring"
    if medline:
        match = re.search(r"(\d{4})\s*([A-Za-z]+)?", medline)
        if match:
            return f"{match.group(1)}-{_month(match.group(2)):02d}-01"
    return None


def _text(node) -> str | None:
    """All text of an element, inline markup (<i>, <sup>) included; None when empty."""
    if node is None:
        return None
    text = " ".join("".join(node.itertext()).split())
    return text or None


def parse_pubmed_xml(path, report: ValidationReport):
    """Parse efetch XML safely (defusedxml): entity declarations and external references are
    refused, never expanded. Returns the root element."""
    import defusedxml
    import defusedxml.ElementTree as SafeET

    try:
        root = SafeET.parse(str(path)).getroot()
    except defusedxml.EntitiesForbidden as exc:
        raise fatal(report.file, "refused: the XML declares entities (entity-expansion or external-entity "
                                 "attack?); PubMed efetch files never do", value=f"<!ENTITY {exc.name}>") from exc
    except (defusedxml.DTDForbidden, defusedxml.ExternalReferenceForbidden, defusedxml.NotSupportedError) as exc:
        raise fatal(report.file, f"refused: unsafe XML construct ({type(exc).__name__})") from exc
    except ParseError as exc:
        line, column = getattr(exc, "position", (None, None))
        raise fatal(report.file, f"malformed or truncated XML ({exc.msg if hasattr(exc, 'msg') else exc}) "
                                 f"at line {line}, column {column}", row=line) from exc
    if root.tag != "PubmedArticleSet":
        raise fatal(report.file, f"not a PubMed efetch file: root element <{root.tag}>, expected <PubmedArticleSet>")
    return root


def read_pubmed_xml(path, therapeutic_area: str | None = None,
                    progress: Progress = QUIET) -> tuple[pd.DataFrame, ValidationReport]:
    """Read E-utilities efetch XML (``PubmedArticleSet/PubmedArticle/MedlineCitation/...``).

    Structured abstracts join their ``AbstractText`` sections, each prefixed with its
    ``Label`` ("BACKGROUND: ..."), one section per line. ``publication_date`` comes from the
    journal issue's PubDate (Year/Month/Day or MedlineDate), else ArticleDate, else the PubMed
    history date. Problems name the article's position in the file as ``row``. Same rules as
    :func:`read_pubmed_csv` otherwise; ``therapeutic_area`` (e.g. the query that found the
    articles) is given to every article.
    """
    report = ValidationReport(_name(path))
    root = parse_pubmed_xml(path, report)
    records = []
    for position, article in enumerate(root, start=1):
        if article.tag != "PubmedArticle":
            report.warning(position, article.tag, None, "not a PubmedArticle (skipped)")
            continue
        citation = article.find("MedlineCitation")
        art = citation.find("Article") if citation is not None else None
        if art is None:
            report.error(position, "MedlineCitation/Article", None, "article without MedlineCitation/Article")
            continue
        sections = []
        for section in art.findall("Abstract/AbstractText"):
            text, label = _text(section), section.get("Label")
            if text:
                sections.append(f"{label.strip()}: {text}" if label else text)
        published = (_xml_date(art.find("Journal/JournalIssue/PubDate")) or _xml_date(art.find("ArticleDate"))
                     or _xml_date(article.find("PubmedData/History/PubMedPubDate[@PubStatus='pubmed']")))
        if published is None:
            report.warning(position, "PubDate", None, "no publication date (approval window left open)")
        records.append({
            "_line": position,
            "pmid": _text(citation.find("PMID")),
            "title": _text(art.find("ArticleTitle")),
            "abstract": "\n".join(sections) or None,
            "therapeutic_area": therapeutic_area,
            "publication_date": published,
        })
    report.stats["rows_read"] = len(records)
    frame = pd.DataFrame(records, columns=["_line", "pmid", "title", "abstract", "therapeutic_area",
                                           "publication_date"], dtype=object)
    lines = frame.pop("_line").astype("int64")
    progress("ingest", f"{report.file}: {len(frame)} articles read")
    return _finish_contents(frame, lines, report), report


# -- interactions --------------------------------------------------------------------------------
_INTERACTION_COLUMNS = {
    "interaction_id": ("id",),
    "hcp_id": ("NPI",),
    "content_id": (),
    "campaign_id": (),
    "channel": ("campaign_channel",),
    "timestamp": ("datetime", "date", "interaction_date", "time"),
    "outcome": ("response",),
    "engaged": (),
    "dwell_seconds": ("dwell",),
    "converted": (),
}


def read_interactions_csv(path, campaigns: pd.DataFrame | None = None,
                          progress: Progress = QUIET) -> tuple[pd.DataFrame, ValidationReport]:
    """Read a CRM interaction export.

    Columns: ``hcp_id, content_id, timestamp`` and optionally ``interaction_id, channel,
    campaign_id, outcome, engaged, dwell_seconds, converted``.

    Rules: channel spellings are normalised ('in-person' -> 'in_person'); a missing channel is
    taken from the row's campaign when ``campaigns`` (the campaigns table) is given. Unknown
    channels or outcomes are errors. ``engaged`` defaults to "outcome beyond 'delivered'";
    a row with ``engaged`` but no outcome gets outcome 'opened' (engaged) or 'delivered'.
    ``interaction_id`` is numbered 1..n when the file has none (``report.stats['generated_ids']``).
    """
    report = ValidationReport(_name(path))
    raw, lines = read_csv_records(path, report)
    frame = map_columns(raw, report, _INTERACTION_COLUMNS, required=("hcp_id", "content_id", "timestamp"))
    if "outcome" not in frame and "engaged" not in frame and not _missing_columns(report):
        report.error(None, "outcome or engaged", _header(raw.columns), "missing required column")
    if _missing_columns(report):
        return _empty("interactions"), report
    progress("ingest", f"{report.file}: {len(frame)} records read")
    check_text("interactions", frame, lines, report)
    none = pd.Series(None, index=frame.index, dtype=object)

    check_required(frame["hcp_id"], lines, report, "hcp_id")
    check_required(frame["content_id"], lines, report, "content_id")
    check_required(frame["timestamp"], lines, report, "timestamp")
    timestamp = check_dates(frame["timestamp"], lines, report, "timestamp", kind="timestamp")

    channel_text = frame.get("channel", none)
    if campaigns is not None and "campaign_id" in frame and len(campaigns):
        by_campaign = dict(zip(campaigns["campaign_id"].astype(str), campaigns["channel"]))
        channel_text = channel_text.where(channel_text.notna(), frame["campaign_id"].map(by_campaign))
    check_required(channel_text, lines, report, "channel")
    channel = check_allowed(channel_text, lines, report, "channel", CHANNELS, normalize_channel)

    outcome_text = frame.get("outcome", none)
    outcome = check_allowed(outcome_text, lines, report, "outcome", OUTCOMES, lambda v: str(v).strip().lower())
    if "engaged" in frame:
        engaged_given = check_bools(frame["engaged"], lines, report, "engaged").astype(object)
        derived = engaged_given.map(lambda e: None if e is pd.NA else ("opened" if e else "delivered"))
        outcome = outcome.where(outcome_text.notna(), derived)
        both = outcome_text.notna() & outcome.notna() & engaged_given.notna()
        contradicts = both & ((outcome != "delivered") != engaged_given.where(both, False).astype(bool))
        for line, value in zip(lines[contradicts], outcome_text[contradicts]):
            report.error(line, "engaged", value, "engaged contradicts outcome (engaged = outcome beyond 'delivered')")
    for line in lines[outcome_text.isna() & outcome.isna()]:
        report.error(line, "outcome", None, "missing required value (outcome or engaged)")
    engaged = outcome.map(lambda o: None if o is None else o != "delivered")

    if "interaction_id" in frame:
        interaction_id = check_numbers(frame["interaction_id"], lines, report, "interaction_id", integer=True)
        check_required(frame["interaction_id"], lines, report, "interaction_id")
        check_duplicates(interaction_id.astype(object).where(interaction_id.notna(), None), lines, report,
                         "interaction_id")
    else:
        interaction_id = pd.Series(np.arange(1, len(frame) + 1), index=frame.index)
        report.stats["generated_ids"] = True

    interactions = pd.DataFrame({
        "interaction_id": interaction_id,
        "hcp_id": frame["hcp_id"], "content_id": frame["content_id"], "campaign_id": frame.get("campaign_id"),
        "channel": channel, "timestamp": timestamp, "outcome": outcome, "engaged": engaged,
        "dwell_seconds": (check_numbers(frame["dwell_seconds"], lines, report, "dwell_seconds", minimum=0)
                          if "dwell_seconds" in frame else None),
        "converted": check_bools(frame["converted"], lines, report, "converted") if "converted" in frame else None,
    }, index=frame.index)
    return _finish("interactions", interactions, report), report


# -- patients ------------------------------------------------------------------------------------
_PATIENT_COLUMNS = {
    "patient_id": ("id",),
    "hcp_id": ("NPI",),
    "birthdate": ("birth_date",),
    "gender": ("sex",),
    "state": (),
    "assigned_specialty": ("specialty",),
}


def read_patients(path, progress: Progress = QUIET) -> tuple[pd.DataFrame, ValidationReport]:
    """Read patients linked to an HCP (the seed's ``patients_with_hcp.csv``: Synthea columns
    plus ``hcp_id``); keeps the schema's columns, ``state`` as a two-letter code when known."""
    report = ValidationReport(_name(path))
    raw, lines = read_csv_records(path, report)
    frame = map_columns(raw, report, _PATIENT_COLUMNS, required=("patient_id", "hcp_id"))
    if _missing_columns(report):
        return _empty("patients"), report
    progress("ingest", f"{report.file}: {len(frame)} records read")
    check_text("patients", frame, lines, report)
    check_required(frame["patient_id"], lines, report, "patient_id")
    check_duplicates(frame["patient_id"], lines, report, "patient_id")
    check_required(frame["hcp_id"], lines, report, "hcp_id")
    bad_npi = frame["hcp_id"].notna() & ~npi_valid_mask(frame["hcp_id"])
    for line, value in zip(lines[bad_npi], frame["hcp_id"][bad_npi]):
        report.error(line, "hcp_id", value, "invalid NPI")
    state = frame.get("state", pd.Series(None, index=frame.index, dtype=object))
    patients = pd.DataFrame({
        "patient_id": frame["patient_id"], "hcp_id": frame["hcp_id"],
        "birthdate": (check_dates(frame["birthdate"], lines, report, "birthdate")
                      if "birthdate" in frame else None),
        "gender": frame.get("gender"),
        "state": state.map(reference.state_code).where(lambda s: s.notna(), state),
        "assigned_specialty": frame.get("assigned_specialty"),
    }, index=frame.index)
    return _finish("patients", patients, report), report


# -- loading -------------------------------------------------------------------------------------
def _is_xml(path) -> bool:
    if Path(path).suffix.lower() == ".xml":
        return True
    with open(path, "rb") as handle:
        return handle.read(512).lstrip(codecs.BOM_UTF8).lstrip().startswith(b"<")


def read_file(kind: str, path, store: Store | None = None,
              progress: Progress = QUIET) -> tuple[pd.DataFrame, ValidationReport]:
    """Dispatch to the reader of ``kind`` (``hcps | contents | interactions | patients``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (expected one of: {', '.join(KINDS)})")
    if not Path(path).is_file():
        raise fatal(_name(path), f"file not found: {path}")
    if kind == "hcps":
        return read_hcps(path, progress=progress)
    if kind == "contents":
        return (read_pubmed_xml if _is_xml(path) else read_pubmed_csv)(path, progress=progress)
    if kind == "interactions":
        campaigns = store.read("campaigns", ["campaign_id", "channel"]) if store is not None else None
        return read_interactions_csv(path, campaigns=campaigns, progress=progress)
    return read_patients(path, progress=progress)


_KEYS = {"hcps": "hcp_id", "contents": "content_id", "interactions": "interaction_id", "patients": "patient_id"}
_REFERENCES = {"interactions": (("hcp_id", "hcps"), ("content_id", "contents")), "patients": (("hcp_id", "hcps"),)}


def _check_against_store(store: Store, kind: str, frame: pd.DataFrame, report: ValidationReport,
                         append: bool) -> None:
    """Keys already stored (append) and references to HCPs/contents the store lacks are errors.

    References are checked only when the referenced table holds rows (a fresh store may be
    loaded in any order).
    """
    key = _KEYS[kind]
    if append and not report.stats.get("generated_ids"):
        existing = set(store.read(kind, [key])[key].astype(str))
        for value in frame[key][frame[key].astype(str).isin(existing)]:
            report.error(None, key, value, f"{key} already stored (append would duplicate it)")
    for column, table in _REFERENCES.get(kind, ()):
        known = store.read(table, [_KEYS[table]])[_KEYS[table]].astype(str)
        if known.empty:
            continue
        unknown = frame[column][~frame[column].astype(str).isin(set(known))]
        for value, count in unknown.value_counts().items():
            report.error(None, column, value, f"{column} not in the stored {table} ({count} row(s))")


def _check_shrink(store: Store, kind: str, rows: int, report: ValidationReport, max_shrink: float) -> None:
    """A replacing load must not empty a table, nor drop more than ``max_shrink`` of its rows."""
    stored = store.count(kind)
    if stored == 0 or (rows > 0 and rows >= stored * (1 - max_shrink)):
        return
    loss = f"would delete all {stored:,} stored rows" if rows == 0 else (
        f"would drop {1 - rows / stored:.0%} of them, more than the allowed {max_shrink:.0%} (INGEST_MAX_SHRINK)")
    report.error(None, None, None, f"replacing table {kind} ({stored:,} rows) with {rows:,} rows {loss}; "
                                   f"load with --allow-shrink if that is intended")


def ingest_file(store: Store, kind: str, path, replace: bool = True, progress: Progress = QUIET,
                allow_shrink: bool = False, max_shrink: float = Settings.ingest_max_shrink) -> dict:
    """Read, validate and load one file; nothing is written unless the whole file is valid.

    Parameters
    ----------
    store : the target store.
    kind : ``hcps | contents | interactions | patients``.
    path : the file (contents: PubMed CSV or efetch XML, told apart by content).
    replace : True replaces the table's rows in one transaction; False appends (keys already
        stored are errors; generated interaction ids continue after the stored ones).
    allow_shrink : let a replacing load empty the table or drop more than ``max_shrink`` of its
        rows (refused otherwise: an empty or cut-off export must not wipe a table).
    max_shrink : the largest share of the stored rows a replacing load may drop
        (``Settings.ingest_max_shrink``).

    Returns
    -------
    dict with kind, table, file, mode, rows_read, rows_loaded, table_rows, seconds and the
    report (:meth:`ValidationReport.to_dict`).

    Raises
    ------
    ValidationError
        When the file has any error, or a replacing load would shrink the table too much; the
        store is untouched.
    """
    started = time.perf_counter()
    frame, report = read_file(kind, path, store=store, progress=progress)
    report.raise_if_errors()
    if not replace and report.stats.get("generated_ids"):
        frame["interaction_id"] = frame["interaction_id"] + (store.next_id("interactions", "interaction_id") - 1)
    _check_against_store(store, kind, frame, report, append=not replace)
    if replace and not allow_shrink:
        _check_shrink(store, kind, len(frame), report, max_shrink)
    report.raise_if_errors()
    progress("ingest", f"loading {len(frame)} {kind} rows ({'replace' if replace else 'append'})")
    if replace:
        store.replace({kind: frame})
    else:
        store.append(kind, frame)
    result = {
        "kind": kind, "table": kind, "file": str(path), "mode": "replace" if replace else "append",
        "rows_read": int(report.stats.get("rows_read", len(frame))), "rows_loaded": len(frame),
        "table_rows": len(frame) if replace else store.count(kind), "seconds": round(time.perf_counter() - started, 3),
        "report": report.to_dict(),
    }
    progress("ingest", f"{kind}: {len(frame)} rows loaded in {result['seconds']:.1f}s")
    return result


#: INTERFACES.md name.
ingest = ingest_file
