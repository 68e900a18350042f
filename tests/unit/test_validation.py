"""ValidationReport / ValidationError and the frame checks against the schemas."""
import pandas as pd
import pytest

from engine.data.validation import Problem, ValidationError, ValidationReport, validate_frame


def test_problem_text_names_file_row_column_value_rule():
    text = str(Problem("a.csv", 7, "hcp_id", "123", "invalid NPI"))
    assert text == "a.csv, row 7, column 'hcp_id': invalid NPI (value '123')"


def test_report_keeps_every_problem_and_separates_warnings():
    report = ValidationReport("a.csv")
    for row in (2, 3, 4):
        report.error(row, "hcp_id", f"bad{row}", "invalid NPI")
    report.warning(5, "abstract", None, "empty abstract")
    assert not report.ok
    assert len(report.errors) == 3 and len(report.warnings) == 1
    assert report.counts_by_rule() == {"invalid NPI": 3, "empty abstract": 1}
    summary = report.summary(limit=2)
    assert "3 error(s)" in summary and "row 2" in summary and "row 3" in summary
    assert "and 2 more" in summary and "invalid NPI: 3" in summary
    data = report.to_dict()
    assert data["errors"] == 3 and data["warnings"] == 1 and len(data["problems"]) == 4


def test_warnings_only_is_ok():
    report = ValidationReport("a.csv")
    report.warning(2, "abstract", None, "empty abstract")
    assert report.ok
    report.raise_if_errors()  # does not raise


def test_validation_error_message_names_the_first_problems_and_total():
    report = ValidationReport("a.csv")
    for row in range(2, 10):
        report.error(row, "timestamp", "yesterday", "bad timestamp")
    with pytest.raises(ValidationError) as info:
        report.raise_if_errors()
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert message.startswith("a.csv: 8 error(s): row 2, column 'timestamp': bad timestamp (value 'yesterday')")
    assert "and 3 more" in message
    assert info.value.report is report


def test_validate_frame_checks_types_allowed_values_and_keys():
    frame = pd.DataFrame({
        "interaction_id": ["1", "2", "2", "x"],
        "hcp_id": ["1234567893", "", "1234567893", "1234567893"],
        "content_id": ["C1", "C1", "C2", "C3"],
        "channel": ["Email", "in-person", "fax", "webinar"],
        "timestamp": ["2024-01-02 10:00", "2024-13-45", "2024-01-03", "2024-01-04T08:00:00Z"],
        "outcome": ["opened", "Delivered", "clicked", "read"],
        "engaged": ["true", "no", "maybe", "1"],
    })
    report = ValidationReport("x.csv")
    typed = validate_frame("interactions", frame, report)
    rules = {(p.row, p.column): p.rule for p in report.errors}
    assert rules[(4, "interaction_id")] == "duplicate interaction_id"
    assert rules[(5, "interaction_id")] == "bad integer"
    assert rules[(3, "hcp_id")] == "missing required value"
    assert rules[(4, "channel")].startswith("unknown channel")
    assert rules[(3, "timestamp")].startswith("bad timestamp")
    assert rules[(5, "outcome")].startswith("unknown outcome")
    assert rules[(4, "engaged")].startswith("bad boolean")
    assert list(typed["channel"][:2]) == ["email", "in_person"]
    assert typed["timestamp"].iloc[3] == pd.Timestamp("2024-01-04 08:00:00")  # UTC, naive
    assert len(report.errors) == 7


def test_validate_frame_reports_missing_and_unknown_columns():
    report = ValidationReport("x.csv")
    validate_frame("contents", pd.DataFrame({"content_id": ["C1"], "colour": ["red"]}), report)
    assert {(p.column, p.rule.split(" (")[0]) for p in report.errors} == {
        ("colour", "unknown column for contents"), ("title", "missing required column")}
