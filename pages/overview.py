"""Overview: how the brand's HCP engagement is going, in business terms.

The last 30 days of data against the 30 days before (touches, engagements, engagement rate, HCPs
engaged), the expected engagements of following the plans against the brand's current policy, the
engagement trend and channel mix, and the top content this quarter. Model quality lives on the
Models page.
"""
from __future__ import annotations

from datetime import date, timedelta

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html

from components.charts import channel_mix_figure, trend_figure
from components.common import empty_state, kpi_card, loading, page_header, ready_marker, section_card
from components.content import content_link
from components.formats import count, day, percent, signed_percent_points
from webapp.extensions import nba

dash.register_page(__name__, path="/", name="Overview", title="Overview · HCP NBA", order=0)

GRAPH_CONFIG = {"displaylogo": False, "displayModeBar": False}
TOP_CONTENT_DAYS = 91
#: The period the KPI tiles compare with the one before it.
PERIOD_DAYS = 30


def delta(change, previous_text: str, points: bool = False) -> html.Span:
    """"▲ 4% vs the 30 days before" in green (▼ red; — when there is nothing to compare with)."""
    if change is None:
        return html.Span(f"no data for {previous_text}", className="text-muted")
    text = signed_percent_points(change) if points else f"{change:+.0%}"
    if text in ("+0.0 pts", "-0.0 pts", "+0%", "-0%"):
        return html.Span(f"no change vs {previous_text}", className="kpi-delta text-muted")
    up = change >= 0
    return html.Span([html.Span("▲ " if up else "▼ ", **{"aria-hidden": "true"}), f"{text} vs {previous_text}"],
                     className="kpi-delta " + ("text-success" if up else "text-danger"))


def kpi_cards(kpis: dict, period: dict) -> list:
    """The KPI row: this period's touches, engagements, engagement rate and HCPs engaged, each with its change."""
    current, change = period["current"], period["change"]
    before = f"the {period['days']} days before"
    days = f"last {period['days']} days"
    return [
        kpi_card(f"Touches, {days}", count(current["touches"]), delta(change["touches"], before),
                 id="overview-touches"),
        kpi_card(f"Engagements, {days}", count(current["engaged"]), delta(change["engaged"], before),
                 id="overview-engagements"),
        kpi_card(f"Engagement rate, {days}", percent(current["engagement_rate"], 1),
                 delta(change["engagement_rate"], before, points=True), id="overview-rate"),
        kpi_card(f"HCPs engaged, {days}", count(current["hcps_engaged"]),
                 html.Span([delta(change["hcps_engaged"], before), html.Br(),
                            f"of {count(kpis.get('hcps'))} HCPs"]), id="overview-hcps"),
    ]


def last_day(end_exclusive: str) -> str:
    """The last day of a period given its exclusive end (ISO dates)."""
    return (date.fromisoformat(end_exclusive) - timedelta(days=1)).isoformat()


def top_content_list(rows: list[dict]) -> html.Ol:
    """The most engaged contents, best first: title (a link to its page) and how HCPs responded."""
    return html.Ol([html.Li([
        html.Div(content_link(r["content_id"], r.get("title")), className="clamp-2 fw-semibold"),
        html.Div(f"{count(r.get('touches'))} sends · {percent(r.get('rate'), 1)} engaged", className="small text-muted"),
    ], className="list-group-item") for r in rows], className="list-group list-group-flush list-group-numbered mb-0",
        id="overview-top-list")


def layout(**_kwargs):
    return html.Div([
        page_header("Overview", "How the brand's HCP engagement is going"),
        dcc.Store(id="overview-trigger", data=0),
        loading(html.Div(id="overview-kpis", className="kpi-row mb-3")),
        html.P(id="overview-period", className="text-muted small"),
        section_card("Expected engagements: the plans against the current policy",
                     loading(html.Div(id="overview-impact")),
                     subtitle="the next 4-week wave played twice on the synthetic world and scored with its true "
                              "engagement probabilities: following the plans vs the brand's own policy, same number "
                              "of touches"),
        dbc.Row([
            dbc.Col(section_card("Engagement rate by channel, per month",
                                 loading(dcc.Graph(id="overview-trend", config=GRAPH_CONFIG))), lg=8),
            dbc.Col(section_card("Channel mix (touches)", loading(dcc.Graph(id="overview-mix", config=GRAPH_CONFIG))),
                    lg=4),
        ]),
        section_card("Top content this quarter", loading(html.Div(id="overview-top-content")),
                     subtitle="most engaged content over the last 91 days of data"),
        html.Div(id="overview-ready-slot"),
    ])


@dash.callback(
    Output("overview-kpis", "children"), Output("overview-period", "children"), Output("overview-trend", "figure"),
    Output("overview-mix", "figure"), Output("overview-ready-slot", "children"),
    Input("overview-trigger", "data"),
)
def load_overview(_trigger):
    service = nba.service
    kpis, trend, period = service.overview_kpis(), service.engagement_trend(), service.period_comparison(PERIOD_DAYS)
    cards = dbc.Row([dbc.Col(c, xs=6, lg=3, className="mb-2") for c in kpi_cards(kpis, period)], className="g-3")
    current, previous = period["current"], period["previous"]
    note = (f"Last {period['days']} days: {day(current['start'])} to {day(last_day(current['end']))}, "
            f"compared with {day(previous['start'])} to {day(last_day(previous['end']))}.")
    return cards, note, trend_figure(trend, title=None), channel_mix_figure(trend, title=None), \
        ready_marker("overview")


@dash.callback(Output("overview-top-content", "children"), Input("overview-trigger", "data"))
def load_top_content(_trigger):
    try:
        top = nba.service.top_content(n=10, days=TOP_CONTENT_DAYS)
    except Exception as exc:  # noqa: BLE001 - this card says why; the rest of the page is unaffected
        return empty_state("Top content is not available", str(exc))
    if not top:
        return empty_state("No content was sent in the last quarter")
    return top_content_list(top)


def impact_panel(impact: dict | None):
    """Plans vs brand policy over one wave: expected engagements of each, touches, uplift."""
    if impact is None:
        return empty_state("Only on a synthetic world", "The impact simulation needs the world's true engagement "
                                                         "probabilities (its oracle); real data has none.")
    uplift = impact.get("uplift")
    cards = [
        kpi_card("Following the plans", f"{impact['plan_engagements']:,.0f}", "expected engagements",
                 id="overview-impact-plan", color="success"),
        kpi_card("Brand policy", f"{impact['policy_engagements']:,.0f}", "expected engagements",
                 id="overview-impact-policy"),
        kpi_card("Uplift", "—" if uplift is None else f"{uplift:+.0%}",
                 f"{impact['touches']:,} touches each, {impact['hcps']:,} HCPs, from {impact['wave_start']}",
                 id="overview-impact-uplift", color="success" if uplift and uplift > 0 else "danger"),
    ]
    return dbc.Row([dbc.Col(c, md=4, className="mb-2") for c in cards], className="g-3")


@dash.callback(Output("overview-impact", "children"), Input("overview-trigger", "data"))
def load_impact(_trigger):
    try:
        return impact_panel(nba.service.campaign_impact())
    except Exception as exc:  # noqa: BLE001 - this card says why; the rest of the page is unaffected
        return empty_state("Impact simulation is not available", str(exc))
