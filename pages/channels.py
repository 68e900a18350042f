"""Channel effectiveness: engagement by channel × specialty × month, with filters."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html

from components.charts import effectiveness_heatmap, touches_rate_figure, trend_figure
from components.common import filter_choices, loading, page_header, ready_marker, section_card
from webapp.extensions import nba
from webapp.inputs import optional_text, texts

dash.register_page(__name__, path="/channels", name="Channels", title="Channel effectiveness · HCP NBA", order=3)

GRAPH_CONFIG = {"displaylogo": False, "displayModeBar": False}


def filter_bar(options: dict, start: str | None, end: str | None) -> dbc.Card:
    return dbc.Card(dbc.CardBody(dbc.Row([
        dbc.Col([dbc.Label("Specialty", html_for="channels-specialty"),
                 dcc.Dropdown(id="channels-specialty", options=filter_choices(options.get("specialty") or [], "specialty"), multi=True,
                              placeholder="All specialties")], lg=5),
        dbc.Col([dbc.Label("State", html_for="channels-state"),
                 dcc.Dropdown(id="channels-state", options=filter_choices(options.get("state") or [], "state"), placeholder="All states")],
                lg=2),
        dbc.Col([dbc.Label("Period", html_for="channels-dates"), html.Div(dcc.DatePickerRange(
            id="channels-dates", start_date=start, end_date=end, min_date_allowed=start, max_date_allowed=end,
            display_format="D MMM YYYY", clearable=True))], lg=5),
    ], className="g-3")), className="mb-4 shadow-sm filter-bar")


def layout(**_kwargs):
    service = nba.service
    options, kpis = service.filter_options(), service.overview_kpis()
    start, end = kpis.get("data_start"), (kpis.get("data_end") or "")[:10] or None
    return html.Div([
        page_header("Channel effectiveness", "Which channels engage which specialties, and how that moves over time"),
        filter_bar(options, start, end),
        section_card("Engagement rate by channel and specialty",
                     loading(dcc.Graph(id="channels-heatmap", config=GRAPH_CONFIG))),
        dbc.Row([
            dbc.Col(section_card("Monthly trend", loading(dcc.Graph(id="channels-trend", config=GRAPH_CONFIG))), lg=7),
            dbc.Col(section_card("Volume and rate", loading(dcc.Graph(id="channels-volume", config=GRAPH_CONFIG))),
                    lg=5),
        ]),
        html.Div(id="channels-ready-slot"),
    ])


@dash.callback(
    Output("channels-heatmap", "figure"), Output("channels-trend", "figure"), Output("channels-volume", "figure"),
    Output("channels-ready-slot", "children"),
    Input("channels-specialty", "value"), Input("channels-state", "value"),
    Input("channels-dates", "start_date"), Input("channels-dates", "end_date"),
)
def update_charts(specialties, state, start, end):
    rows = nba.service.channel_effectiveness(specialty=texts(specialties, "channels-specialty.value") or None,
                                             state=optional_text(state, "channels-state.value"),
                                             start=start, end=end)
    return (effectiveness_heatmap(rows, title=None), trend_figure(rows, title=None),
            touches_rate_figure(rows, title=None), ready_marker("channels"))
