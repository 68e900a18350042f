"""Every content page renders from a real (tiny) trained service: layouts and their callbacks.

No fakes: the app is created on ``trained_settings`` and the callbacks are called as Dash would,
inside a request of a signed-in user.
"""
from __future__ import annotations

import dash
import plotly.graph_objects as go
import pytest

from components import charts
from engine.service import NBAService
from tests.fixtures.web import write_users_file
from tests.unit.test_pages_components import texts, walk


@pytest.fixture(scope="module")
def web(trained_settings, tmp_path_factory):
    from webapp import create_app

    users = write_users_file(tmp_path_factory.mktemp("users") / "users.json")
    settings = trained_settings.with_(users_file=users)
    service = NBAService.from_settings(settings)
    app = create_app(settings, environ={}, service=service)
    import pages

    return app, service, pages


@pytest.fixture
def request_as(web):
    """A request context of a signed-in user (what ``require_role`` and the service see)."""
    app = web[0]

    def enter(role="msl", name="msl"):
        from flask import session

        ctx = app.server.test_request_context("/_dash-update-component", method="POST")
        ctx.push()
        session["user"] = {"name": name, "role": role}
        session["sid"] = app.server.extensions["nba_sessions"].open(name)  # a session the server keeps
        return ctx

    contexts = []
    yield lambda *a: contexts.append(enter(*a)) or contexts[-1]
    for ctx in reversed(contexts):
        ctx.pop()


def ready(component, page):
    return any(getattr(c, "id", None) == f"{page}-ready" for c in walk(component))


def no_raw_html(component):
    return not any(getattr(c, "dangerously_allow_html", False) for c in walk(component))


def an_hcp_with_recommendations(service, without_feedback=False):
    """The first HCP with recommendations (and, if asked, no feedback: e2e tests answer on the
    same session-wide trained store)."""
    for row in service.search_hcps(page_size=50)["rows"]:
        if service.recommend(row["hcp_id"], n=5) and not (without_feedback and service.feedback_items(row["hcp_id"])):
            return row["hcp_id"]
    pytest.fail("no HCP in the tiny world has a recommendation")


def test_overview_renders_kpis_trend_and_top_content(web, request_as):
    _, service, pages = web
    request_as()
    from pages import overview

    assert overview.layout() is not None
    cards, note, trend, mix, marker = overview.load_overview(0)
    assert ready(marker, "overview")
    period = service.period_comparison(overview.PERIOD_DAYS)
    assert f"{period['current']['touches']:,}" in texts(cards) and f"of {service.overview_kpis()['hcps']:,} HCPs" in texts(cards)
    assert note.startswith("Last 30 days: ")
    assert isinstance(trend, go.Figure) and trend.data and mix.data


def test_hcp_lookup_pages_rows_from_the_service(web, request_as):
    request_as()
    from pages import hcp_lookup

    hcp_lookup.layout()
    response, count, marker = hcp_lookup.load_rows({"startRow": 0, "endRow": 50, "sortModel": []}, "")
    total = web[1].search_hcps()["total"]
    assert response["rowCount"] == total and len(response["rowData"]) == min(50, total)
    assert ready(marker, "hcps")
    first = response["rowData"][0]
    assert first["npi_link"] == f"[{first['hcp_id']}](/hcp/{first['hcp_id']})"
    second_page, _, _ = hcp_lookup.load_rows({"startRow": 50, "endRow": 100,
                                              "sortModel": [{"colId": "touches", "sort": "desc"}]}, "")
    touches = [r["touches"] for r in second_page["rowData"]]
    assert touches == sorted(touches, reverse=True)
    assert hcp_lookup.open_hcp({"rowId": first["hcp_id"]}) == f"/hcp/{first['hcp_id']}"


def test_hcp_360_profile_plan_recommendations_forecast_and_feedback(web, request_as):
    _, service, pages = web
    request_as("msl", "msl")
    from pages import hcp_360

    hcp_id = an_hcp_with_recommendations(service, without_feedback=True)
    page = hcp_360.layout(hcp_id=hcp_id)
    assert hcp_id in texts(page) and no_raw_html(page)
    history, timeline, steps, recs, items, feedback, forecast, marker = hcp_360.load_hcp(hcp_id)
    assert ready(marker, "hcp360") and no_raw_html(recs) and no_raw_html(steps)
    expected = service.recommend(hcp_id, n=hcp_360.N_RECOMMENDATIONS)
    plan = service.plan(hcp_id)
    assert [i["content_id"] for i in items[:len(expected)]] == [r["content_id"] for r in expected]
    assert [i["date"] for i in items[len(expected):]] == [s["date"] for s in plan["steps"]]
    # the plan's timeline and table agree with today's list: step 1 is the top recommendation
    assert (plan["steps"][0]["content_id"], plan["steps"][0]["channel"]) == \
        (expected[0]["content_id"], expected[0]["channel"])
    assert plan["steps"][0]["title"] in texts(steps)
    drawn = [int(t) for trace in timeline["data"] for t in (trace.get("text") or [])]
    assert sorted(drawn) == [s["step"] for s in plan["steps"]]
    assert expected[0]["reasons"][0] in texts(recs)
    assert "No feedback on this HCP yet." in texts(feedback)
    assert go.Figure(forecast).data  # what the history predicts is still drawn (a valid figure dict)
    assert go.Figure(history).data


def test_feedback_report_page_is_refused_to_an_msl(web, request_as):
    request_as("msl", "msl")
    from pages import feedback

    assert "Brand managers and admins only" in texts(feedback.layout())
    with pytest.raises(Exception) as refused:
        feedback.refresh(1)
    assert getattr(refused.value, "code", None) == 403


def test_feedback_report_page_shows_the_report_to_a_brand_manager(web, request_as):
    request_as("brand_manager", "brand")
    from pages import feedback

    page = feedback.layout()
    assert ready(page, "feedback") and "By channel" in texts(page) and "Why items are dismissed" in texts(page)


def test_unknown_npi_gives_the_not_found_page(web, request_as):
    request_as()
    from pages import hcp_360

    page = hcp_360.layout(hcp_id="0000000000")
    assert page.id == "hcp360-not-found"
    assert "HCP not found" in texts(page) and ready(page, "hcp360")
    assert hcp_360.layout(hcp_id="<script>alert(1)</script>").id == "hcp360-not-found"


def test_channels_update_from_filters(web, request_as):
    _, service, _ = web
    request_as()
    from pages import channels

    assert ready(channels.layout(), "channels") is False  # the marker comes with the charts
    specialty = service.filter_options()["specialty"][0]
    heat_all, *_ = channels.update_charts(None, None, None, None)
    heat_one, trend, volume, marker = channels.update_charts([specialty], None, None, None)
    assert list(heat_one.data[0].x) == [specialty]
    assert len(heat_all.data[0].x) >= len(heat_one.data[0].x)
    assert trend.data and volume.data and ready(marker, "channels")


def test_topic_explorer_selection_updates_everything(web, request_as):
    request_as()
    from pages import topics

    page = topics.layout()
    assert no_raw_html(page)
    explorer = web[1].topic_explorer()
    topic_id = explorer["topics"][-1]["id"]
    click = {"points": [{"customdata": [topic_id, "label", 0.1]}]}
    assert topics.select_from_map(click, None) == topic_id
    topic_map, cloud, trend, docs, marker = topics.show_topic(topic_id)
    assert ready(marker, "topics") and no_raw_html(docs)
    assert list(topic_map.data[0].marker.color).count(charts.HIGHLIGHT) == 1
    assert cloud.src.startswith("data:image/png;base64,")
    titles = {d["title"] for d in web[1].topic_documents(topic_id, n=topics.N_DOCUMENTS)}
    assert titles and titles <= set(texts(docs))
    terms = topics.show_terms(topic_id, 0.3)
    assert terms.data and terms.layout.title.text.startswith(f"Topic {topic_id} ")


def test_segments_preview_and_export(web, request_as):
    request_as("brand_manager", "brand")
    from pages import segments

    page = segments.layout()
    assert no_raw_html(page)
    rows, count, marker = segments.preview(None, None, None, None, 0)
    assert rows and ready(marker, "segments")
    high, _, _ = segments.preview(None, None, None, None, 0.5)
    assert all(r["engagement_probability"] >= 0.5 for r in high)
    download = segments.export_csv(1, None, None, None, None, 0)
    assert download["filename"].endswith(".csv") and download["content"].startswith("NPI,Name,")


def test_model_performance_shows_comparison_table_and_curves(web, request_as):
    request_as()
    from pages import model_performance

    body, marker = model_performance.load_metrics(0)
    assert ready(marker, "models")
    graphs = {c.id: c.figure for c in walk(body) if isinstance(c, dash.dcc.Graph)}
    assert {"models-comparison", "models-calibration", "models-training", "models-coherence"} <= set(graphs)
    names = {t.name for t in graphs["models-comparison"].data}
    assert "Hybrid (served)" in names


def test_content_page_shows_the_record_and_the_response(web, request_as):
    _, service, _ = web
    request_as()
    from pages import content

    top = service.top_content(n=1, days=365)[0]
    page = content.layout(content_id=top["content_id"])
    assert page.id == "content-page" and ready(page, "content") and no_raw_html(page)
    words = " ".join(texts(page))
    assert top["title"] in words and "No PubMed record" in words  # generated content has no PMID
    assert content.layout(content_id="nope").id == "content-not-found"
    assert content.layout(content_id="x" * 500).id == "content-not-found"


def test_the_worklist_is_the_msl_territory_whatever_the_browser_sends(web, request_as):
    _, service, _ = web
    request_as("msl", "msl")
    from pages import worklist

    page = worklist.layout()
    assert "Territory: West" in texts(page) and no_raw_html(page)
    body, items, usage, marker = worklist.load_worklist("Southeast", 0)  # an MSL cannot look elsewhere
    assert ready(marker, "worklist") and no_raw_html(body)
    expected = service.worklist("West")
    assert [i["hcp_id"] for i in items] == [a["hcp_id"] for a in expected["actions"]][:worklist.CARDS_PER_PAGE]
    _, more, _, _ = worklist.load_worklist("West", 0, 2 * worklist.CARDS_PER_PAGE)  # after "Show more"
    assert [i["hcp_id"] for i in more] == [a["hcp_id"] for a in expected["actions"]][:2 * worklist.CARDS_PER_PAGE]
    # accepted touches count in the day's actions (the e2e tests may have accepted one in this store)
    assert usage.startswith(f"{expected['total'] + len(expected['accepted'])} action")
    csv_text = worklist.export_week(1, "Southeast")["content"]
    assert csv_text.startswith("Date,Order,Status,NPI")
    west = {r["hcp_id"] for r in service.search_hcps(territory="West", page_size=1000)["rows"]}
    assert {line.split(",")[3] for line in csv_text.splitlines()[1:]} <= west


def test_brand_managers_pick_the_worklist_territory(web, request_as):
    _, service, _ = web
    request_as("brand_manager", "brand")
    from pages import worklist

    page = worklist.layout(territory="Southeast")
    select = next(c for c in walk(page) if getattr(c, "id", None) == "worklist-territory-select")
    assert select.value == "Southeast" and "West" in select.options
    _, items, _, _ = worklist.load_worklist("Southeast", 0)
    assert [i["hcp_id"] for i in items] == [a["hcp_id"] for a in service.worklist("Southeast")["actions"]][
        :worklist.CARDS_PER_PAGE]
