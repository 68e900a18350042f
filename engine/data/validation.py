"""Validation reports: every problem of an input file, with where it is and what is wrong.

A :class:`ValidationReport` collects :class:`Problem` records (file, row, column, value, rule)
for one file. Errors make the file unloadable; warnings (an empty abstract, a duplicate PMID
whose first copy is kept) are reported but do not stop a load. Row numbers are 1-based file
line numbers with the header on line 1, so ``row 7`` is what a text editor shows as line 7
(for a record spanning several lines, its first line). For XML, ``row`` is the 1-based position
of the article in the file.

The ``check_*`` helpers parse one column of strings into typed values and record a problem for
every value that does not parse, so a file with three bad rows reports all three. They also hold
the plausibility rules every input obeys: dates between :data:`EARLIEST_DATE` and tomorrow
(plans such as approval windows: :data:`PLAN_HORIZON_DAYS` ahead), finite numbers, integers
that fit exactly, text no longer than its column's ``max_length`` and free of control characters.
"""
from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from engine.config import CHANNELS
from engine.data.schemas import OUTCOMES, TABLES, normalize_channel

ERROR = "error"
WARNING = "warning"

_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}

#: No input date lies before this one.
EARLIEST_DATE = pd.Timestamp("1900-01-01")
#: Events (interactions, births, publications) lie at most this many days after today (clock
#: skew between systems); planned dates (approval windows) at most :data:`PLAN_HORIZON_DAYS`.
EVENT_HORIZON_DAYS = 1
PLAN_HORIZON_DAYS = 3_660
#: The largest integer a float64 holds exactly: bigger ids would change silently when loaded.
MAX_INTEGER = 2 ** 53
#: Never accepted in text: C0 controls other than tab, line feed and carriage return, DEL, C1.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: Not accepted in one-line text (everything but ``multiline`` columns).
_LINE_BREAK = re.compile("[\t\n\r\u2028\u2029]")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file.

    Attributes
    ----------
    file : the file's name as given.
    row : 1-based line number (header = 1), article position for XML, ``None`` for the file.
    column : the column (or XML path) concerned, ``None`` when it is the whole row/file.
    value : the offending value as text (shortened), ``None`` when there is none.
    rule : what is wrong, e.g. ``"invalid NPI check digit"``.
    severity : ``"error"`` (file cannot be loaded) or ``"warning"`` (reported, row handled).
    """

    file: str
    row: int | None
    column: str | None
    value: str | None
    rule: str
    severity: str = ERROR

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        text = ", ".join(where) + f": {self.rule}"
        if self.value is not None:
            text += f" (value {self.value!r})"
        return text


def _short(value, limit: int = 160) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class ValidationReport:
    """Every problem found in one file, plus counts of what was read and kept.

    Attributes
    ----------
    file : the file's name.
    problems : all problems in the order found.
    stats : counters such as ``rows_read``, ``rows_kept``, ``organisations_skipped``.
    """

    file: str
    problems: list[Problem] = field(default_factory=list)
    stats: dict = field(default_factory=dict)

    # -- recording -----------------------------------------------------------------------
    def error(self, row, column, value, rule: str) -> None:
        self.problems.append(Problem(self.file, _row(row), column, _short(value), rule, ERROR))

    def warning(self, row, column, value, rule: str) -> None:
        self.problems.append(Problem(self.file, _row(row), column, _short(value), rule, WARNING))

    # -- reading -------------------------------------------------------------------------
    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == WARNING]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not any(p.severity == ERROR for p in self.problems)

    def counts_by_rule(self, severity: str | None = None) -> dict[str, int]:
        counts = Counter(p.rule for p in self.problems if severity is None or p.severity == severity)
        return dict(counts.most_common())

    def reason(self) -> str:
        """One line: the file and what is wrong with it (or that it is fine)."""
        errors = self.errors
        if not errors:
            return f"{self.file}: ok ({len(self.warnings)} warning(s))"
        rules = "; ".join(f"{rule} x{n}" for rule, n in self.counts_by_rule(ERROR).items())
        return f"{self.file}: {len(errors)} error(s): {rules}"

    def summary(self, limit: int = 10) -> str:
        """Human text: the reason, the first ``limit`` problems, and counts by rule."""
        lines = [self.reason()]
        if self.stats:
            lines.append("  " + ", ".join(f"{k}={v}" for k, v in self.stats.items()))
        shown = self.errors[:limit] + self.warnings[: max(0, limit - len(self.errors))]
        for problem in shown:
            lines.append(f"  {problem.severity}: {problem}")
        hidden = len(self.problems) - len(shown)
        if hidden > 0:
            lines.append(f"  ... and {hidden} more problem(s)")
        for severity in (ERROR, WARNING):
            counts = self.counts_by_rule(severity)
            if counts:
                lines.append(f"  {severity}s by rule: " + ", ".join(f"{r}: {n}" for r, n in counts.items()))
        return "\n".join(lines)

    def to_dict(self, limit: int = 200) -> dict:
        """JSON-able: ok, counts, stats and the first ``limit`` problems."""
        return {
            "file": self.file,
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "errors_by_rule": self.counts_by_rule(ERROR),
            "warnings_by_rule": self.counts_by_rule(WARNING),
            "stats": dict(self.stats),
            "problems": [asdict(p) for p in (self.errors + self.warnings)[:limit]],
        }

    def raise_if_errors(self) -> None:
        """Raise :class:`ValidationError` when the report holds any error."""
        if not self.ok:
            raise ValidationError(self)


def _row(row) -> int | None:
    return None if row is None else int(row)


class ValidationError(ValueError):
    """An input file cannot be loaded; ``.report`` holds every problem found.

    The message names the file, the first problems (row, column, value, rule) and the total.
    """

    def __init__(self, report: ValidationReport, limit: int = 5):
        self.report = report
        errors = report.errors
        first = "; ".join(str(p).removeprefix(f"{report.file}, ").removeprefix(f"{report.file}: ")
                          for p in errors[:limit])
        more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
        super().__init__(f"{report.file}: {len(errors)} error(s): {first}{more}")


def fatal(file: str, rule: str, row=None, column=None, value=None) -> ValidationError:
    """A :class:`ValidationError` for a problem that stops reading the file at once."""
    report = ValidationReport(file)
    report.error(row, column, value, rule)
    return ValidationError(report)


# -- column checks (strings in, typed values out, a problem per bad value) -----------------------
def _blank(values: pd.Series) -> pd.Series:
    return values.isna() | (values.astype(str).str.strip() == "")


def check_required(values: pd.Series, lines: pd.Series, report: ValidationReport, column: str) -> pd.Series:
    """Record an error for each empty value; returns the mask of rows that have a value."""
    blank = _blank(values)
    for line in lines[blank]:
        report.error(line, column, "", "missing required value")
    return ~blank


def horizon_days(table: str, column: str) -> int:
    """How many days past today a date of ``table.column`` may lie (planned dates: further)."""
    planned = any(c.planned for c in TABLES[table] if c.name == column)
    return PLAN_HORIZON_DAYS if planned else EVENT_HORIZON_DAYS


def latest_date(horizon_days: int = EVENT_HORIZON_DAYS) -> pd.Timestamp:
    """The latest plausible date: the end of today (UTC) plus ``horizon_days``."""
    today = pd.Timestamp(dt.datetime.now(dt.timezone.utc).date())
    return today + pd.Timedelta(days=horizon_days + 1) - pd.Timedelta(microseconds=1)


def check_dates(values: pd.Series, lines: pd.Series, report: ValidationReport, column: str,
                kind: str = "date", horizon_days: int = EVENT_HORIZON_DAYS) -> pd.Series:
    """Parse dates/timestamps (ISO 8601 first, then other common layouts); blanks stay NaT.

    Time-zone aware values are converted to UTC and made naive (the store holds UTC). A date
    before :data:`EARLIEST_DATE` or after :func:`latest_date` (``horizon_days`` ahead) is an
    error: one interaction dated 2099 would otherwise become the data's "now".
    """
    text = values.astype(object).where(~_blank(values), None)
    present = text.notna()
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us]")
    # Vectorised passes for the common layouts; the per-value parser only sees the leftovers.
    for layout in ("ISO8601", "%m/%d/%Y"):
        todo = present & parsed.isna()
        if not todo.any():
            break
        fast = _parse_vectorised(text[todo], layout)
        if fast is not None:
            parsed.loc[todo] = fast
    for i in text.index[present & parsed.isna()]:
        parsed.loc[i] = _parse_one_date(text.loc[i])
    bad = present & parsed.isna()
    for line, value in zip(lines[bad], text[bad]):
        report.error(line, column, value, f"bad {kind} (expected e.g. 2024-03-31{' 14:05:00' if kind == 'timestamp' else ''})")
    latest = latest_date(horizon_days)
    implausible = parsed.notna() & ((parsed < EARLIEST_DATE) | (parsed > latest))
    for line, value in zip(lines[implausible], text[implausible]):
        report.error(line, column, value, f"{kind} out of range (expected {EARLIEST_DATE.date()} "
                                          f"to {latest.date()})")
    parsed = parsed.where(~implausible)
    if kind == "date":
        parsed = parsed.dt.normalize()
    return parsed


def _parse_vectorised(text: pd.Series, layout: str) -> pd.Series | None:
    try:
        parsed = pd.to_datetime(text.astype(str).str.strip(), errors="coerce", format=layout)
    except (ValueError, TypeError):  # e.g. a mix of zoned and naive values: per-value parser
        return None
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.astype("datetime64[us]")


def _parse_one_date(text: str):
    if not any(ch.isdigit() for ch in str(text)):  # pandas would read "now"/"today" as dates
        return pd.NaT
    try:
        stamp = pd.Timestamp(str(text).strip())
    except (ValueError, TypeError, OverflowError):
        try:
            stamp = pd.to_datetime(str(text).strip(), format="mixed")
        except (ValueError, TypeError, OverflowError):
            return pd.NaT
    if stamp is pd.NaT:
        return pd.NaT
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp


def check_bools(values: pd.Series, lines: pd.Series, report: ValidationReport, column: str) -> pd.Series:
    """Parse true/false, yes/no, 1/0, y/n, t/f (any case); blanks stay NA."""
    text = values.astype(object).where(~_blank(values), None).map(lambda v: v if v is None else str(v).strip().lower())
    parsed = text.map(lambda v: True if v in _TRUE else (False if v in _FALSE else None))
    bad = text.notna() & parsed.isna()
    for line, value in zip(lines[bad], values[bad]):
        report.error(line, column, value, "bad boolean (expected true/false, yes/no or 1/0)")
    return parsed.astype("boolean")


def check_numbers(values: pd.Series, lines: pd.Series, report: ValidationReport, column: str,
                  integer: bool = False, minimum: float | None = None) -> pd.Series:
    """Parse numbers; blanks stay NaN. ``minimum`` flags smaller values as errors.

    Numbers must be finite ('inf' is an error, as is 'nan': a missing value is a blank);
    integers must lie within +-:data:`MAX_INTEGER`.
    """
    text = values.astype(object).where(~_blank(values), None)
    parsed = pd.to_numeric(text, errors="coerce").astype("float64")  # huge integers arrive as uint64/object
    bad = text.notna() & parsed.isna()
    for line, value in zip(lines[bad], text[bad]):
        report.error(line, column, value, "bad integer" if integer else "bad number")
    infinite = parsed.notna() & ~np.isfinite(parsed)
    for line, value in zip(lines[infinite], text[infinite]):
        report.error(line, column, value, "not a finite number")
    bad |= infinite
    if integer:
        fraction = ~bad & parsed.notna() & (parsed % 1 != 0)
        for line, value in zip(lines[fraction], text[fraction]):
            report.error(line, column, value, "bad integer")
        huge = ~bad & parsed.notna() & (parsed.abs() > MAX_INTEGER)
        for line, value in zip(lines[huge], text[huge]):
            report.error(line, column, value, f"integer out of range (at most {MAX_INTEGER:,} in size)")
        bad |= fraction | huge
    if minimum is not None:
        low = parsed.notna() & (parsed < minimum) & ~bad
        for line, value in zip(lines[low], text[low]):
            report.error(line, column, value, f"must be >= {minimum:g}")
    parsed = parsed.where(~bad)
    return parsed.astype("Int64") if integer else parsed.astype("float64")


def check_text(table: str, frame: pd.DataFrame, lines: pd.Series, report: ValidationReport) -> None:
    """Record an error for every text value of ``frame`` (columns of ``TABLES[table]``) that is
    longer than its column's ``max_length``, holds a control character (NUL ...), or holds a line
    break or tab outside a ``multiline`` column."""
    for col in TABLES[table]:
        if col.type != "str" or col.max_length is None or col.name not in frame:
            continue
        values = frame[col.name]
        text = values[values.notna()].astype(str)
        long = text.str.len() > col.max_length
        for line, value in zip(lines.loc[text.index[long]], text[long]):
            report.error(line, col.name, value, f"longer than {col.max_length:,} characters ({len(value):,})")
        control = ~long & text.str.contains(_CONTROL)
        for line, value in zip(lines.loc[text.index[control]], text[control]):
            report.error(line, col.name, value, "control character (e.g. NUL) in text")
        if not col.multiline:
            broken = ~long & ~control & text.str.contains(_LINE_BREAK)
            for line, value in zip(lines.loc[text.index[broken]], text[broken]):
                report.error(line, col.name, value, "line break or tab in one-line text")


def check_allowed(values: pd.Series, lines: pd.Series, report: ValidationReport, column: str,
                  allowed, normalize=None) -> pd.Series:
    """Normalise values and flag those outside ``allowed`` (blanks stay None)."""
    text = values.astype(object).where(~_blank(values), None)
    normalized = text.map(lambda v: v if v is None else (normalize(v) if normalize else str(v).strip()))
    bad = normalized.notna() & ~normalized.isin(list(allowed))
    for line, value in zip(lines[bad], text[bad]):
        report.error(line, column, value, f"unknown {column} (allowed: {', '.join(allowed)})")
    return normalized.where(~bad, None)


def check_duplicates(keys: pd.Series, lines: pd.Series, report: ValidationReport, column: str,
                     severity: str = ERROR) -> pd.Series:
    """Flag every repeat of a key (the first occurrence is kept); returns the mask of repeats."""
    present = keys.notna()
    repeated = keys.duplicated(keep="first") & present
    first_line = dict(zip(keys[present & ~repeated], lines[present & ~repeated]))
    record = report.error if severity == ERROR else report.warning
    for line, key in zip(lines[repeated], keys[repeated]):
        record(line, column, f"{key} (first on row {first_line.get(key)})", f"duplicate {column}")
    return repeated


def validate_frame(table: str, frame: pd.DataFrame, report: ValidationReport,
                   lines: pd.Series | None = None) -> pd.DataFrame:
    """Check a frame of strings against ``TABLES[table]`` and return it typed.

    Checks required columns and values, types (int, float, bool, date, timestamp) and their
    plausible ranges, allowed channels and outcomes, text lengths and characters
    (:func:`check_text`), and duplicate primary keys; records a problem for each offence.
    Unknown columns are errors (the schema is closed).
    """
    schema = TABLES[table]
    if lines is None:
        lines = pd.Series(np.arange(2, len(frame) + 2), index=frame.index)
    names = [c.name for c in schema]
    for extra in [c for c in frame.columns if c not in names]:
        report.error(None, extra, None, f"unknown column for {table} (expected: {', '.join(names)})")
    out = pd.DataFrame(index=frame.index)
    for col in schema:
        if col.name not in frame.columns:
            if not col.nullable:
                report.error(None, col.name, None, "missing required column")
            continue
        values = frame[col.name]
        if not col.nullable:
            check_required(values, lines, report, col.name)
        if col.name == "channel":
            values = check_allowed(values, lines, report, col.name, CHANNELS, normalize_channel)
        elif col.name == "outcome":
            values = check_allowed(values, lines, report, col.name, OUTCOMES, lambda v: str(v).strip().lower())
        if col.type in ("date", "timestamp"):
            values = check_dates(values, lines, report, col.name, col.type, horizon_days(table, col.name))
        elif col.type == "bool":
            values = check_bools(values, lines, report, col.name)
        elif col.type in ("int", "float"):
            values = check_numbers(values, lines, report, col.name, integer=col.type == "int")
        out[col.name] = values
        if col.primary_key:
            check_duplicates(values.where(~_blank(values.astype(object)), None), lines, report, col.name)
    check_text(table, frame, lines, report)
    return out
