"""Page helpers and components: pure functions, no service, no browser."""
from __future__ import annotations

import pytest
from dash import dcc, html

from components.actions import action_card, answer_message, notes_block, shared_notes
from components.hcp import consent_badges, feedback_list
from components.tables import npi_link, simple_table, sort_from_model
from engine.config import CHANNELS, Settings
from tests.fixtures.web import write_users_file


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The page modules (importing them needs a Dash app with pages)."""
    from webapp import create_app

    root = tmp_path_factory.mktemp("pages")
    settings = Settings().with_(database_url=f"duckdb:///{root / 's.duckdb'}", artifacts_dir=root / "a",
                                cache_dir=root / "c", users_file=write_users_file(root / "users.json"))
    create_app(settings, environ={})
    import pages.hcp_360
    import pages.model_performance
    import pages.overview
    import pages.segments
    import pages.topics

    return pages


def walk(component):
    """Every component and string in a Dash layout tree."""
    yield component
    children = getattr(component, "children", None)
    if children is None:
        return
    for child in children if isinstance(children, (list, tuple)) else [children]:
        yield from walk(child)


def texts(component) -> list[str]:
    return [c for c in walk(component) if isinstance(c, str)]


def _rec(title="Statins in <script>alert(1)</script> heart failure"):
    return {"rank": 1, "content_id": "C1", "title": title, "channel": "webinar",
            "channel_probabilities": {c: 0.1 * (i + 1) for i, c in enumerate(CHANNELS)},
            "engagement_probability": 0.42, "score": 1.0, "reasons": ["topic match: statins", "peers engaged"],
            "rule_notes": ["email: contact cap reached"]}


def test_an_action_card_shows_one_percentage_reasons_and_answers_as_text():
    card = action_card(_rec(), 0, "hcp360", number=1)
    strings = texts(card)
    assert "Statins in <script>alert(1)</script> heart failure" in strings  # a text child, never HTML
    assert {"topic match: statins", "peers engaged", "42%", " likely to engage, by webinar"} <= set(strings)
    assert "email: contact cap reached" not in strings  # rule notes are said once per HCP, not per card
    ids = [c.id for c in walk(card) if getattr(c, "id", None) and isinstance(c.id, dict)]
    assert {"type": "hcp360-accept", "index": 0} in ids and {"type": "hcp360-dismiss", "index": 0} in ids
    assert not any(getattr(c, "dangerously_allow_html", False) for c in walk(card))
    links = [c for c in walk(card) if isinstance(c, dcc.Link)]
    assert links[0].href == "/content/C1"
    snoozable = texts(action_card(_rec(), "3", "worklist", snooze=True))
    assert "Snooze" in snoozable
    answered = texts(action_card(_rec(), 0, "hcp360", state="Accepted · planned for today"))
    assert "Accepted · planned for today" in answered and "Accept" not in answered
    cost = "In person would engage 60% vs 42% by webinar: not worth its higher cost"
    assert cost in texts(action_card({**_rec(), "cost_note": cost}, 0, "hcp360"))  # about this item: on its card
    assert cost not in strings and shared_notes([{**_rec(), "cost_note": cost}]) == ["email: contact cap reached"]


def test_rule_notes_are_said_once_per_hcp():
    recs = [_rec(), {**_rec(), "rule_notes": ["email: contact cap reached", "Rep visit excluded: HCP opted out"]}]
    assert shared_notes(recs) == ["email: contact cap reached", "Rep visit excluded: HCP opted out"]
    block = notes_block(shared_notes(recs))
    assert "; ".join(shared_notes(recs)) in texts(block)
    assert notes_block([]) is None


def test_feedback_list_says_each_answer_and_its_state():
    items = [{"content_id": "C1", "title": "<i>T</i>", "channel": "email", "action": "snooze", "state": "snoozed",
              "planned_for": None, "rests_until": "2025-07-04", "reason": None, "user_name": "msl",
              "answered_at": "2025-06-27T10:00:00"}]
    strings = texts(feedback_list(items))
    assert "<i>T</i>" in strings and "Snoozed · back later" in strings and "until 04 Jul 2025" in strings
    assert "No feedback on this HCP yet." in texts(feedback_list([]))


def test_consent_badges_show_consent_and_caps():
    profile = {f"consent_{c}": c != "email" for c in CHANNELS}
    profile["channels"] = [{"channel": "webinar", "capped": True}]
    badges = consent_badges(profile)
    assert "text-decoration-line-through" in badges[0].className  # no email consent
    assert "cap reached" in " ".join(texts(html.Div(badges)))


def test_grid_helpers():
    assert npi_link("1234567893") == "[1234567893](/hcp/1234567893)"
    assert npi_link("[x](javascript:alert(1))") == "[x](javascript:alert(1))"  # not digits: no link built
    assert sort_from_model([{"colId": "npi_link", "sort": "desc"}, {"colId": "touches", "sort": "asc"}]) == [
        {"colId": "hcp_id", "sort": "desc"}, {"colId": "touches", "sort": "asc"}]
    assert sort_from_model(None) == []
    assert "Nothing here" in texts(simple_table([], empty="Nothing here"))


def test_pubmed_links_only_for_numeric_pmids_and_open_safely(pages):
    from components.content import pubmed_url

    assert pubmed_url("12345") == "https://pubmed.ncbi.nlm.nih.gov/12345/"
    assert pubmed_url(None) is None and pubmed_url("javascript:x") is None
    docs = pages.topics.document_list([{"content_id": "C1", "pmid": "12345", "title": "<b>A</b>", "weight": 0.5},
                                       {"content_id": "C 2/x", "pmid": None, "title": "B", "weight": 0.2}])
    links = [c for c in walk(docs) if isinstance(c, html.A)]
    assert len(links) == 1
    assert links[0].href == "https://pubmed.ncbi.nlm.nih.gov/12345/"
    assert links[0].target == "_blank" and links[0].rel == "noopener noreferrer"
    pages_links = [c for c in walk(docs) if isinstance(c, dcc.Link)]
    assert [(c.href, c.children) for c in pages_links] == [("/content/C1", "<b>A</b>"), ("/content/C%202%2Fx", "B")]


def test_segment_rows_and_target_filters(pages):
    segments = pages.segments
    rows = segments.segment_rows([{"segment": "Growth", "hcps": 1200, "touches_per_hcp": 3.25, "engagement_rate": 0.4,
                                   "top_specialty": None, "top_content": [{"content_id": "C1", "title": "<b>T1</b>"},
                                                                          {"content_id": "C2", "title": ""}]},
                                  {"segment": "Other", "hcps": 3, "top_content": []}])
    assert rows[0]["HCPs"] == "1,200" and rows[0]["Top specialty"] == "—"
    assert [li.children for li in rows[0]["Top recommended content"].children] == ["<b>T1</b>", "C2"]
    assert rows[1]["Top recommended content"] == "—"
    assert segments.target_filters("", None, "CA", "email", None) == {
        "segment": None, "specialty": None, "state": "CA", "channel": "email", "min_probability": 0.0}


def test_overview_speaks_business_with_period_over_period_deltas(pages):
    period = {"days": 30, "current": {"touches": 1200, "engaged": 360, "engagement_rate": 0.3, "hcps_engaged": 210},
              "change": {"touches": 0.04, "engaged": -0.1, "engagement_rate": 0.012, "hcps_engaged": None}}
    cards = pages.overview.kpi_cards({"hcps": 40000}, period)
    text = " | ".join(" ".join(texts(c)) for c in cards)
    assert "1,200" in text and "▲ " in text and "+4% vs the 30 days before" in text
    assert "▼ " in text and "-10% vs the 30 days before" in text
    assert "+1.2 pts vs the 30 days before" in text and "no data for the 30 days before" in text
    assert "of 40,000 HCPs" in text and "NDCG" not in text and "oracle" not in text


def test_metrics_table_has_scalar_metrics_only(pages):
    rows, columns = pages.model_performance.metrics_table_rows(
        {"hybrid": {"ndcg@10": 0.4, "coverage": 0.3, "calibration": [{"count": 1}]}, "random": {"ndcg@10": 0.01}})
    assert [c["field"] for c in columns] == ["model", "ndcg@10", "coverage"]
    assert rows[1] == {"model": "Random", "ndcg@10": 0.01, "coverage": None}
    assert [c["headerName"] for c in columns] == ["Model", "Ranking quality (NDCG@10)", "Catalogue coverage"]
    rows, columns = pages.model_performance.metrics_table_rows(
        {"specialty_popularity": {"gap_mae_days": 9.5}})
    assert rows[0]["model"] == "Specialty popularity" and columns[1]["headerName"] == "Timing error (days)"


def test_models_page_compares_the_served_model_with_the_best_other(pages):
    """A real log has no oracle: the summary still says how the hybrid ranks."""
    models = {"hybrid": {"ndcg@10": 0.12}, "hybrid_without_sequence": {"ndcg@10": 0.5},
              "popularity": {"ndcg@10": 0.29}, "specialty_popularity": {"ndcg@10": 0.27}, "oracle": {"ndcg@10": 0.9},
              "random": {"ndcg@10": None}}
    assert pages.model_performance.served_against_best_other(models) == (
        "The served hybrid ranks at Ranking quality (NDCG@10) 0.120; the best other model, Popularity, at 0.290.")
    assert pages.model_performance.served_against_best_other({"hybrid": {}}) == ""


def test_the_answer_message_says_what_happens_until_when_and_quotes_the_title_last():
    rests = {"rests_until": "2024-08-30"}
    assert answer_message({"action": "dismiss", "title": "<script>x</script>", **rests}) == \
        "Dismissed until 30 Aug 2024, the reason was recorded: “<script>x</script>”"
    assert answer_message({"action": "accept", "title": "Trial results.", "planned_for": "2024-08-23",
                           "rests_until": None}) == "Accepted, planned for 23 Aug 2024: “Trial results.”"
    assert answer_message({"action": "snooze", "title": "A", **rests}) == "Snoozed until 30 Aug 2024: “A”"
